//! The audit log's formats, exactly as an outside verifier reproduces them: the canonical JSON
//! of a leaf, the commitment to an entry's personal data, and the checkpoint's text.
//!
//! **Canonical JSON** (what every hash covers): UTF-8, no whitespace, object keys sorted by
//! their Unicode code points, strings escaped as `json.dumps(..., ensure_ascii=False)` escapes
//! them (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control characters as `\u00xx`;
//! everything else as itself), integers in decimal. The log stores no fractional numbers (the
//! service turns them into strings first), so Python's
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()` gives
//! the same bytes.
//!
//! **A leaf** is the canonical JSON of
//! `{"action", "actor", "details", "index", "personal", "prev", "subject", "time", "v": 1}`:
//! the dotted action, the actor (`"user:42"`, `"system"` or `"anonymous"`), the details object,
//! the leaf's index from 0, the personal-data commitment (lowercase hex) or `null`, the
//! previous leaf's hash (lowercase hex; 64 zeros for the first) which chains the entries, the
//! subject `{"id": "...", "kind": "..."}` or `null`, and the time in Unix milliseconds. Its
//! Merkle leaf hash is `SHA-256(0x00 || leaf)` ([`crate::merkle::leaf_hash`]).
//!
//! **The personal commitment** is `SHA-256(salt || canonical JSON of the personal data)` with a
//! random 16-byte salt kept beside the data: erasing both leaves the leaf (and so the tree)
//! intact, and the salt keeps a guessed email from being confirmed against the commitment.

use crate::merkle::Hash;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The leaf format's version.
pub const LEAF_VERSION: i64 = 1;

/// The "previous hash" of the first leaf.
pub const ZERO_HASH_HEX: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Writes `v` as canonical JSON (see the module's documentation).
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, &o[k]);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `v` with every number that is not an integer replaced by its decimal text, so that the
/// canonical form never depends on how a language prints fractions.
pub fn normalize(v: Value) -> Value {
    match v {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Value::String(n.to_string()),
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses 64 hex digits into a hash.
pub fn parse_hash(s: &str) -> Option<Hash> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The commitment to an entry's personal data: lowercase hex of
/// `SHA-256(salt || canonical_json(personal))`.
pub fn personal_commitment(salt: &[u8], personal: &Value) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(canonical_json(personal).as_bytes());
    hex(&h.finalize())
}

/// The fields of one leaf, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf<'a> {
    /// Index from 0.
    pub index: u64,
    /// Unix milliseconds.
    pub time_ms: i64,
    /// Dotted action (`auth.login`).
    pub action: &'a str,
    /// `user:42`, `system` or `anonymous`.
    pub actor: &'a str,
    /// What the action was about: (kind, id).
    pub subject: Option<(&'a str, &'a str)>,
    /// Non-personal facts.
    pub details: &'a Value,
    /// The personal-data commitment (hex), if the entry has personal data.
    pub personal: Option<&'a str>,
    /// The previous leaf's hash (hex), [`ZERO_HASH_HEX`] for the first.
    pub prev: &'a str,
}

impl Leaf<'_> {
    /// The leaf's bytes: canonical JSON.
    pub fn encode(&self) -> Vec<u8> {
        let subject = match self.subject {
            Some((kind, id)) => serde_json::json!({ "kind": kind, "id": id }),
            None => Value::Null,
        };
        let v = serde_json::json!({
            "v": LEAF_VERSION,
            "index": self.index,
            "time": self.time_ms,
            "action": self.action,
            "actor": self.actor,
            "subject": subject,
            "details": self.details,
            "personal": self.personal,
            "prev": self.prev,
        });
        canonical_json(&v).into_bytes()
    }

    /// `SHA-256(0x00 || leaf)`.
    pub fn hash(&self) -> Hash {
        crate::merkle::leaf_hash(&self.encode())
    }
}

/// Whether `action` is a dotted action name: 3 to 64 characters of `a-z`, `0-9`, `_` and `.`,
/// starting with a letter.
pub fn valid_action(action: &str) -> bool {
    (3..=64).contains(&action.len())
        && action.starts_with(|c: char| c.is_ascii_lowercase())
        && action
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

/// A checkpoint's body, in the C2SP `tlog-checkpoint` layout: the origin line, the tree size in
/// decimal, the root hash in standard base64, then one extension line `timestamp <Unix ms>`;
/// each line ends with a newline. The signature covers exactly these bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Who keeps the log (`host/audit`).
    pub origin: String,
    /// Leaves covered.
    pub tree_size: u64,
    /// The tree's hash.
    pub root: Hash,
    /// When it was written (Unix ms).
    pub timestamp_ms: i64,
}

impl Checkpoint {
    /// The body that is signed.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\ntimestamp {}\n",
            self.origin,
            self.tree_size,
            base64_encode(&self.root),
            self.timestamp_ms
        )
    }

    /// Parses a body written by [`Checkpoint::body`].
    pub fn parse(body: &str) -> Option<Checkpoint> {
        let rest = body.strip_suffix('\n')?;
        let mut lines = rest.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty())?.to_string();
        let size = lines.next()?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return None;
        }
        let tree_size = size.parse().ok()?;
        let root_bytes = base64_decode(lines.next()?)?;
        let root: Hash = root_bytes.try_into().ok()?;
        let ts = lines.next()?.strip_prefix("timestamp ")?;
        if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let timestamp_ms = ts.parse().ok()?;
        if lines.next().is_some() {
            return None;
        }
        let c = Checkpoint {
            origin,
            tree_size,
            root,
            timestamp_ms,
        };
        (c.body() == body).then_some(c)
    }
}

/// The C2SP signed-note key id of an Ed25519 key named `name`: the first four bytes of
/// `SHA-256(name || "\n" || 0x01 || public key)`.
pub fn note_key_id(name: &str, public_key: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([1u8]);
    h.update(public_key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The signed note: the body, an empty line, and the signature line
/// `— <name> <base64(key id || signature)>`.
pub fn signed_note(body: &str, name: &str, public_key: &[u8], signature: &[u8]) -> String {
    let mut sig = note_key_id(name, public_key).to_vec();
    sig.extend_from_slice(signature);
    format!("{body}\n\u{2014} {name} {}\n", base64_encode(&sig))
}

/// The SubjectPublicKeyInfo (RFC 8410) of an Ed25519 public key, as PEM.
pub fn ed25519_public_pem(public_key: &[u8]) -> String {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(public_key);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64_encode(&der)
    )
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 with padding; `None` if it is not exactly that.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 != 0 {
        return None;
    }
    let val = |c: u8| B64.iter().position(|&x| x == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let bytes = s.as_bytes();
    for (ci, chunk) in bytes.chunks(4).enumerate() {
        let last = ci == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let got = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&got[..3 - pad]);
    }
    (base64_encode(&out) == s).then_some(out)
}

/// One end of an export's range: an entry's index, or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A leaf index.
    Index(i64),
    /// Unix ms.
    Time(i64),
}

/// Parses `123` (an index), `2026-05-01` (midnight UTC) or `2026-05-01T12:30:00Z`.
pub fn parse_bound(s: &str) -> Option<Bound> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok().map(Bound::Index);
    }
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (s, None),
    };
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() || y.len() != 4 || m.len() != 2 || day.len() != 2 {
        return None;
    }
    let (y, m, day): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, day.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut ms = crate::time::days_from_civil(y, m, day) * 86_400_000;
    if let Some(t) = time {
        let mut parts = t.split(':');
        let (h, mi, se) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || h.len() != 2 || mi.len() != 2 || se.len() != 2 {
            return None;
        }
        let (h, mi, se): (i64, i64, i64) = (h.parse().ok()?, mi.parse().ok()?, se.parse().ok()?);
        if h > 23 || mi > 59 || se > 59 {
            return None;
        }
        ms += ((h * 60 + mi) * 60 + se) * 1000;
    }
    Some(Bound::Time(ms))
}

#[cfg(test)]
mod bound_tests {
    use super::*;

    #[test]
    fn bounds_parse() {
        assert_eq!(parse_bound("42"), Some(Bound::Index(42)));
        assert_eq!(parse_bound("1970-01-02"), Some(Bound::Time(86_400_000)));
        assert_eq!(
            parse_bound("1970-01-01T00:01:02Z"),
            Some(Bound::Time(62_000))
        );
        assert_eq!(parse_bound("1970-13-01"), None);
        assert_eq!(parse_bound("yesterday"), None);
        assert_eq!(parse_bound("-1"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_and_escapes_like_python() {
        let v = json!({"b": [1, "x\"y\\z\n\u{1}é"], "a": {"d": null, "c": true}, "ä": -5});
        assert_eq!(
            canonical_json(&v),
            "{\"a\":{\"c\":true,\"d\":null},\"b\":[1,\"x\\\"y\\\\z\\n\\u0001é\"],\"ä\":-5}"
        );
        assert_eq!(normalize(json!({"x": [1.5, 2]})), json!({"x": ["1.5", 2]}));
    }

    #[test]
    fn a_leaf_encodes_every_field() {
        let details = json!({"ok": true});
        let leaf = Leaf {
            index: 3,
            time_ms: 1000,
            action: "auth.login",
            actor: "user:7",
            subject: Some(("user", "7")),
            details: &details,
            personal: None,
            prev: ZERO_HASH_HEX,
        };
        assert_eq!(
            String::from_utf8(leaf.encode()).unwrap(),
            format!("{{\"action\":\"auth.login\",\"actor\":\"user:7\",\"details\":{{\"ok\":true}},\"index\":3,\"personal\":null,\"prev\":\"{ZERO_HASH_HEX}\",\"subject\":{{\"id\":\"7\",\"kind\":\"user\"}},\"time\":1000,\"v\":1}}")
        );
        assert!(valid_action("auth.login"));
        assert!(!valid_action("Auth.login"));
        assert!(!valid_action("a"));
    }

    #[test]
    fn checkpoints_round_trip_and_refuse_variants() {
        let c = Checkpoint {
            origin: "example.com/audit".into(),
            tree_size: 12,
            root: [7u8; 32],
            timestamp_ms: 1_700_000_000_000,
        };
        let body = c.body();
        assert_eq!(Checkpoint::parse(&body), Some(c.clone()));
        assert!(Checkpoint::parse(&body.replace("12\n", "012\n")).is_none());
        assert!(Checkpoint::parse(&format!("{body}extra\n")).is_none());
        assert!(Checkpoint::parse(body.trim_end()).is_none());
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw.as_bytes()), enc);
            assert_eq!(base64_decode(enc).as_deref(), Some(raw.as_bytes()));
        }
        assert!(base64_decode("Zm9=").is_none());
        assert!(base64_decode("Zm=v").is_none());
        assert_eq!(parse_hash(&hex(&[0xab; 32])), Some([0xab; 32]));
    }
}
