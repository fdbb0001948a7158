//! HS256 JSON Web Tokens (RFC 7519, RFC 7515 §3.1 compact form) for short-lived access tokens.
//!
//! Only what ferrocast issues is accepted: header `{"alg":"HS256","typ":"JWT"}`, an HMAC-SHA256
//! signature checked in constant time before the payload is parsed, and claims that must all be
//! present with the right JSON types (RFC 8725 §3). There is no way to select another algorithm.

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Clock skew tolerated on `nbf` and `exp`, in seconds.
pub const LEEWAY_SECS: i64 = 5;

/// The claims of a ferrocast access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Issuer: the node's public URL.
    pub iss: String,
    /// Audience: `ferrocast-api`.
    pub aud: String,
    /// Subject: the user's integer id, as a string (RFC 7519 §4.1.2).
    pub sub: String,
    /// Token type: `access`.
    pub typ: String,
    /// Session (refresh-token family) this token belongs to.
    pub sid: String,
    /// Role at issue time (informational; the server reloads the user).
    pub role: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Not before, seconds since the Unix epoch.
    pub nbf: i64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
}

/// What the verifier requires besides a valid signature.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// Required `iss`.
    pub issuer: &'a str,
    /// Required `aud`.
    pub audience: &'a str,
    /// Required `typ`.
    pub typ: &'a str,
    /// Current time, seconds since the Unix epoch.
    pub now: i64,
}

/// Why a token was refused. Callers answer every variant with the same 401; the variant is for
/// logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, too long, or not JSON.
    #[error("malformed token")]
    Malformed,
    /// Header is not exactly HS256/JWT.
    #[error("unsupported token header")]
    BadHeader,
    /// Signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// Claims missing, of the wrong type, or unknown.
    #[error("bad claims")]
    BadClaims,
    /// `exp` is in the past.
    #[error("expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("not yet valid")]
    NotYetValid,
    /// `iss`, `aud` or `typ` differ.
    #[error("wrong issuer, audience or type")]
    WrongContext,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    typ: Option<String>,
}

const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; // {"alg":"HS256","typ":"JWT"}

/// Signs claims into a compact JWT.
pub fn encode(key: &[u8; 32], claims: &Claims) -> String {
    let payload = serde_json::to_vec(claims).expect("invariant: claims serialise");
    let mut out = String::with_capacity(256);
    out.push_str(HEADER_B64);
    out.push('.');
    out.push_str(&BASE64URL_NOPAD.encode(&payload));
    let sig = sign(key, out.as_bytes());
    out.push('.');
    out.push_str(&BASE64URL_NOPAD.encode(&sig));
    out
}

fn sign(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("invariant: HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A compact JWS (`header.payload.signature`) split into its parts, nothing verified yet.
pub(crate) struct Compact<'a> {
    /// The header's JSON.
    pub header: Vec<u8>,
    /// What the signature covers: `header.payload`, as sent.
    pub signing_input: &'a [u8],
    /// The payload, still base64url.
    pub payload_b64: &'a str,
    /// The signature's bytes.
    pub signature: Vec<u8>,
}

impl<'a> Compact<'a> {
    /// Splits `token` into exactly three base64url parts; `None` when it is not one.
    pub(crate) fn split(token: &'a str) -> Option<Self> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        Some(Compact {
            header: BASE64URL_NOPAD.decode(h.as_bytes()).ok()?,
            signing_input: &token.as_bytes()[..h.len() + 1 + p.len()],
            payload_b64: p,
            signature: BASE64URL_NOPAD.decode(s.as_bytes()).ok()?,
        })
    }

    /// The payload's bytes (once the signature is verified).
    pub(crate) fn payload(&self) -> Option<Vec<u8>> {
        BASE64URL_NOPAD.decode(self.payload_b64.as_bytes()).ok()
    }
}

/// Verifies a compact JWT and returns its claims.
pub fn decode(key: &[u8; 32], token: &str, expect: &Expect<'_>) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let jws = Compact::split(token).ok_or(TokenError::Malformed)?;
    let header: Header = serde_json::from_slice(&jws.header).map_err(|_| TokenError::BadHeader)?;
    if header.alg != "HS256" || header.typ.as_deref().is_some_and(|t| t != "JWT") {
        return Err(TokenError::BadHeader);
    }
    let mut mac = HmacSha256::new_from_slice(key).expect("invariant: HMAC accepts any key length");
    mac.update(jws.signing_input);
    mac.verify_slice(&jws.signature)
        .map_err(|_| TokenError::BadSignature)?;
    let payload = jws.payload().ok_or(TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::BadClaims)?;
    if claims.iss != expect.issuer || claims.aud != expect.audience || claims.typ != expect.typ {
        return Err(TokenError::WrongContext);
    }
    if claims.exp + LEEWAY_SECS <= expect.now {
        return Err(TokenError::Expired);
    }
    if claims.nbf > expect.now + LEEWAY_SECS {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "http://127.0.0.1:8080".into(),
            aud: "ferrocast-api".into(),
            sub: "1".into(),
            typ: "access".into(),
            sid: "s".into(),
            role: "creator".into(),
            iat: now,
            nbf: now,
            exp: now + 900,
            jti: "j".into(),
        }
    }

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            issuer: "http://127.0.0.1:8080",
            audience: "ferrocast-api",
            typ: "access",
            now,
        }
    }

    fn forge(header: &str, payload: &str, key: &[u8; 32]) -> String {
        let mut t = format!(
            "{}.{}",
            BASE64URL_NOPAD.encode(header.as_bytes()),
            BASE64URL_NOPAD.encode(payload.as_bytes())
        );
        let sig = sign(key, t.as_bytes());
        t.push('.');
        t.push_str(&BASE64URL_NOPAD.encode(&sig));
        t
    }

    #[test]
    fn round_trip() {
        let t = encode(&KEY, &claims(1000));
        assert_eq!(decode(&KEY, &t, &expect(1000)), Ok(claims(1000)));
    }

    #[test]
    fn attack_corpus_is_refused() {
        let now = 1000;
        let good = encode(&KEY, &claims(now));
        let payload = serde_json::to_string(&claims(now)).expect("json");
        // alg none, with and without a signature.
        let none_h = BASE64URL_NOPAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let p = BASE64URL_NOPAD.encode(payload.as_bytes());
        assert_eq!(
            decode(&KEY, &format!("{none_h}.{p}."), &expect(now)),
            Err(TokenError::BadHeader)
        );
        assert_eq!(
            decode(
                &KEY,
                &forge(r#"{"alg":"none"}"#, &payload, &KEY),
                &expect(now)
            ),
            Err(TokenError::BadHeader)
        );
        // Algorithm confusion.
        for alg in ["HS512", "RS256", "ES256", "hs256", "HS256 "] {
            let h = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
            assert_eq!(
                decode(&KEY, &forge(&h, &payload, &KEY), &expect(now)),
                Err(TokenError::BadHeader),
                "{alg}"
            );
        }
        // Wrong key.
        assert_eq!(
            decode(&[8; 32], &good, &expect(now)),
            Err(TokenError::BadSignature)
        );
        // Tampered payload.
        let mut tampered = claims(now);
        tampered.role = "admin".into();
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            BASE64URL_NOPAD.encode(&serde_json::to_vec(&tampered).expect("json")),
            parts[2]
        );
        assert_eq!(
            decode(&KEY, &forged, &expect(now)),
            Err(TokenError::BadSignature)
        );
        // Expired, future nbf.
        assert_eq!(
            decode(&KEY, &good, &expect(now + 900 + LEEWAY_SECS)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            decode(&KEY, &good, &expect(now - 60)),
            Err(TokenError::NotYetValid)
        );
        // String exp (CVE-2026-25537's shape), missing exp, extra claims.
        let hs = r#"{"alg":"HS256","typ":"JWT"}"#;
        let string_exp = payload.replace(
            &format!("\"exp\":{}", now + 900),
            &format!("\"exp\":\"{}\"", now + 900),
        );
        assert_eq!(
            decode(&KEY, &forge(hs, &string_exp, &KEY), &expect(now)),
            Err(TokenError::BadClaims)
        );
        let no_exp = payload.replace(&format!(",\"exp\":{}", now + 900), "");
        assert_eq!(
            decode(&KEY, &forge(hs, &no_exp, &KEY), &expect(now)),
            Err(TokenError::BadClaims)
        );
        // Wrong audience, issuer, type.
        for (field, value) in [("aud", "other"), ("iss", "http://evil"), ("typ", "refresh")] {
            let mut c = claims(now);
            match field {
                "aud" => c.aud = value.into(),
                "iss" => c.iss = value.into(),
                _ => c.typ = value.into(),
            }
            assert_eq!(
                decode(&KEY, &encode(&KEY, &c), &expect(now)),
                Err(TokenError::WrongContext),
                "{field}"
            );
        }
        // Garbage.
        for junk in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            &"A".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(decode(&KEY, junk, &expect(now)).is_err(), "{junk}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = decode(&KEY, &s, &expect(0));
        }
    }
}
