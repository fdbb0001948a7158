//! Telegram sign-in: the Login Widget's data and a Mini App's `initData`, checked exactly as
//! Telegram documents them (<https://core.telegram.org/widgets/login#checking-authorization>,
//! <https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app>).
//!
//! Both sign the same way: the fields other than `hash`, as `key=value` lines sorted by key and
//! joined with `\n` (the data-check-string), HMAC-SHA256'd under a secret derived from the bot's
//! token, in lower-case hex:
//! - the **Login Widget**'s secret is `SHA-256(bot_token)`;
//! - a **Mini App**'s is `HMAC-SHA256(key = "WebAppData", message = bot_token)`, and its
//!   `initData` is a URL-encoded query whose `user` field is JSON.
//!
//! `auth_date` (Unix seconds) must be recent: older than the caller's bound is refused (a
//! replayed login), and so is one from the future beyond a small clock skew. Everything is
//! bounded before it is read: the number of fields, their lengths, and the whole `initData`.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// How old an `auth_date` is accepted by default (seconds): a day, as Telegram's examples use.
pub const DEFAULT_MAX_AGE_SECS: i64 = 86_400;
/// How far ahead of our clock an `auth_date` may be (seconds).
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Fields at most.
pub const MAX_FIELDS: usize = 32;
/// Longest field name.
pub const MAX_KEY: usize = 64;
/// Longest field value.
pub const MAX_VALUE: usize = 2048;
/// Longest `initData`.
pub const MAX_INIT_DATA: usize = 8192;

/// Why Telegram's data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    /// Not shaped as Telegram sends it (the sentence says how).
    #[error("malformed Telegram data: {0}")]
    Malformed(String),
    /// No `hash` field.
    #[error("the Telegram data carries no hash")]
    MissingHash,
    /// The hash does not sign the fields under this bot's token (altered, or another bot's).
    #[error("the Telegram data's hash does not match: it was altered, or signed for another bot")]
    BadHash,
    /// `auth_date` is older than allowed (seconds old).
    #[error("the Telegram sign-in is {0} seconds old; sign in again")]
    Stale(i64),
    /// `auth_date` is ahead of our clock.
    #[error("the Telegram sign-in is dated in the future")]
    Future,
}

/// Who signed in, as Telegram says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramUser {
    /// Telegram's user id (stable).
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: Option<String>,
    /// `@username`, without the `@`.
    pub username: Option<String>,
    /// Their picture.
    pub photo_url: Option<String>,
    /// When Telegram signed it (Unix seconds).
    pub auth_date: i64,
}

/// The data-check-string of `fields` (all but `hash`, sorted by key) and the hash, after the
/// bounds and duplicate keys are checked.
fn check_string(fields: &[(String, String)]) -> Result<(String, String), TelegramError> {
    if fields.len() > MAX_FIELDS {
        return Err(TelegramError::Malformed(format!(
            "at most {MAX_FIELDS} fields"
        )));
    }
    let mut hash = None;
    let mut rest: Vec<(&str, &str)> = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        if k.is_empty() || k.len() > MAX_KEY || v.len() > MAX_VALUE {
            return Err(TelegramError::Malformed(format!(
                "field names are 1 to {MAX_KEY} bytes and values at most {MAX_VALUE}"
            )));
        }
        if k.contains(['=', '\n']) {
            return Err(TelegramError::Malformed(format!(
                "field name {k:?} holds '=' or a line break"
            )));
        }
        if k == "hash" {
            if hash.replace(v.as_str()).is_some() {
                return Err(TelegramError::Malformed("two hash fields".into()));
            }
        } else {
            rest.push((k, v));
        }
    }
    rest.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if rest.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(TelegramError::Malformed("a field appears twice".into()));
    }
    let hash = hash.ok_or(TelegramError::MissingHash)?;
    let text = rest
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n");
    Ok((text, hash.to_string()))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("invariant: HMAC accepts any key length");
    mac.update(message);
    mac
}

/// Checks `hash` (hex) against the HMAC of `text` under `secret`, in constant time.
fn check_hash(secret: &[u8], text: &str, hash: &str) -> Result<(), TelegramError> {
    let given = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hash.as_bytes())
        .map_err(|_| TelegramError::BadHash)?;
    hmac_sha256(secret, text.as_bytes())
        .verify_slice(&given)
        .map_err(|_| TelegramError::BadHash)
}

fn fresh(auth_date: i64, now_secs: i64, max_age_secs: i64) -> Result<(), TelegramError> {
    if auth_date > now_secs.saturating_add(CLOCK_SKEW_SECS) {
        return Err(TelegramError::Future);
    }
    let age = now_secs.saturating_sub(auth_date);
    if age > max_age_secs {
        return Err(TelegramError::Stale(age));
    }
    Ok(())
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn auth_date(fields: &[(String, String)]) -> Result<i64, TelegramError> {
    field(fields, "auth_date")
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| *d > 0)
        .ok_or_else(|| TelegramError::Malformed("auth_date: Unix seconds".into()))
}

/// Checks the Login Widget's fields (as its callback or redirect gives them: `id`,
/// `first_name`, `last_name`, `username`, `photo_url`, `auth_date`, `hash`) for `bot_token` at
/// `now_secs`, refusing an `auth_date` older than `max_age_secs`.
pub fn verify_login_widget(
    fields: &[(String, String)],
    bot_token: &str,
    now_secs: i64,
    max_age_secs: i64,
) -> Result<TelegramUser, TelegramError> {
    let (text, hash) = check_string(fields)?;
    let secret = Sha256::digest(bot_token.as_bytes());
    check_hash(&secret, &text, &hash)?;
    let auth_date = auth_date(fields)?;
    fresh(auth_date, now_secs, max_age_secs)?;
    let id = field(fields, "id")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| TelegramError::Malformed("id: a positive whole number".into()))?;
    let text = |k: &str| {
        field(fields, k)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(TelegramUser {
        id,
        first_name: text("first_name").unwrap_or_default(),
        last_name: text("last_name"),
        username: text("username"),
        photo_url: text("photo_url"),
        auth_date,
    })
}

/// The Login Widget's data as JSON (an object of strings and numbers, as its JavaScript
/// callback hands it over) turned into fields with the values Telegram signed: numbers in
/// their decimal form, strings as they are.
pub fn widget_fields(json: &serde_json::Value) -> Result<Vec<(String, String)>, TelegramError> {
    let obj = json
        .as_object()
        .ok_or_else(|| TelegramError::Malformed("an object of the widget's fields".into()))?;
    if obj.len() > MAX_FIELDS {
        return Err(TelegramError::Malformed(format!(
            "at most {MAX_FIELDS} fields"
        )));
    }
    obj.iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                _ => {
                    return Err(TelegramError::Malformed(format!(
                        "{k}: a string or a whole number"
                    )))
                }
            };
            Ok((k.clone(), v))
        })
        .collect()
}

/// A Mini App's `initData`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAppData {
    /// Who opened the Mini App.
    pub user: TelegramUser,
    /// `query_id`, when Telegram sent one.
    pub query_id: Option<String>,
    /// `start_param`, when the link carried one.
    pub start_param: Option<String>,
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte); `None` if
/// a `%` is not followed by two hex digits or the bytes are not UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Checks a Mini App's `initData` (the query string Telegram hands the page) for `bot_token`
/// at `now_secs`, refusing an `auth_date` older than `max_age_secs`.
pub fn verify_init_data(
    init_data: &str,
    bot_token: &str,
    now_secs: i64,
    max_age_secs: i64,
) -> Result<WebAppData, TelegramError> {
    if init_data.len() > MAX_INIT_DATA {
        return Err(TelegramError::Malformed(format!(
            "initData is at most {MAX_INIT_DATA} bytes"
        )));
    }
    let mut fields = Vec::new();
    for pair in init_data.split('&').filter(|p| !p.is_empty()) {
        if fields.len() >= MAX_FIELDS {
            return Err(TelegramError::Malformed(format!(
                "at most {MAX_FIELDS} fields"
            )));
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (form_decode(k), form_decode(v)) else {
            return Err(TelegramError::Malformed(
                "initData is not URL-encoded text".into(),
            ));
        };
        fields.push((k, v));
    }
    let (text, hash) = check_string(&fields)?;
    let secret = hmac_sha256(b"WebAppData", bot_token.as_bytes())
        .finalize()
        .into_bytes();
    check_hash(&secret, &text, &hash)?;
    let auth_date = auth_date(&fields)?;
    fresh(auth_date, now_secs, max_age_secs)?;
    let user: serde_json::Value = field(&fields, "user")
        .and_then(|u| serde_json::from_str(u).ok())
        .ok_or_else(|| TelegramError::Malformed("user: Telegram's JSON of the user".into()))?;
    let id = user["id"]
        .as_i64()
        .filter(|v| *v > 0)
        .ok_or_else(|| TelegramError::Malformed("user.id: a positive whole number".into()))?;
    let text = |k: &str| {
        user[k]
            .as_str()
            .filter(|v| !v.is_empty() && v.len() <= MAX_VALUE)
            .map(str::to_string)
    };
    let opt = |k: &str| {
        field(&fields, k)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(WebAppData {
        user: TelegramUser {
            id,
            first_name: text("first_name").unwrap_or_default(),
            last_name: text("last_name"),
            username: text("username"),
            photo_url: text("photo_url"),
            auth_date,
        },
        query_id: opt("query_id"),
        start_param: opt("start_param"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456:ABC-test-token";
    const NOW: i64 = 1_800_000_000;

    fn widget(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = [
            ("id", "42"),
            ("first_name", "Ada"),
            ("username", "ada"),
            ("auth_date", "1799999000"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (text, _) = check_string(&{
            let mut g = f.clone();
            g.push(("hash".into(), String::new()));
            g
        })
        .expect("fields");
        let secret = Sha256::digest(TOKEN.as_bytes());
        let mac = hmac_sha256(&secret, text.as_bytes())
            .finalize()
            .into_bytes();
        f.push(("hash".into(), data_encoding::HEXLOWER.encode(&mac)));
        f
    }

    #[test]
    fn a_signed_widget_login_is_read_and_tampering_refused() {
        let f = widget(&[]);
        let u = verify_login_widget(&f, TOKEN, NOW, DEFAULT_MAX_AGE_SECS).expect("valid");
        assert_eq!(
            (u.id, u.first_name.as_str(), u.username.as_deref()),
            (42, "Ada", Some("ada"))
        );
        let mut altered = f.clone();
        altered[0].1 = "43".into();
        assert_eq!(
            verify_login_widget(&altered, TOKEN, NOW, DEFAULT_MAX_AGE_SECS),
            Err(TelegramError::BadHash)
        );
        assert_eq!(
            verify_login_widget(&f, "999:other", NOW, DEFAULT_MAX_AGE_SECS),
            Err(TelegramError::BadHash)
        );
        assert!(matches!(
            verify_login_widget(&f, TOKEN, NOW + 2 * 86_400, DEFAULT_MAX_AGE_SECS),
            Err(TelegramError::Stale(_))
        ));
        assert_eq!(
            verify_login_widget(&f, TOKEN, 1_799_990_000, DEFAULT_MAX_AGE_SECS),
            Err(TelegramError::Future)
        );
        let no_hash: Vec<_> = f.iter().filter(|(k, _)| k != "hash").cloned().collect();
        assert_eq!(
            verify_login_widget(&no_hash, TOKEN, NOW, DEFAULT_MAX_AGE_SECS),
            Err(TelegramError::MissingHash)
        );
        let mut twice = f.clone();
        twice.push(("first_name".into(), "Eve".into()));
        assert!(matches!(
            verify_login_widget(&twice, TOKEN, NOW, DEFAULT_MAX_AGE_SECS),
            Err(TelegramError::Malformed(_))
        ));
    }

    #[test]
    fn widget_json_numbers_sign_as_decimal_text() {
        let f = widget_fields(&serde_json::json!({"id": 42, "auth_date": 1799999000, "first_name": "Ada", "hash": "00"})).expect("fields");
        assert!(f.contains(&("id".to_string(), "42".to_string())));
        assert!(widget_fields(&serde_json::json!({"id": 4.2})).is_err());
        assert!(widget_fields(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn form_decoding_is_strict() {
        assert_eq!(form_decode("a+b%3D%7B%7D").as_deref(), Some("a b={}"));
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%ff"), None);
    }

    #[test]
    fn init_data_bounds_hold() {
        let long = "a=".to_string() + &"b".repeat(MAX_INIT_DATA);
        assert!(matches!(
            verify_init_data(&long, TOKEN, NOW, 60),
            Err(TelegramError::Malformed(_))
        ));
        let many = (0..100)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(matches!(
            verify_init_data(&many, TOKEN, NOW, 60),
            Err(TelegramError::Malformed(_))
        ));
        assert_eq!(
            verify_init_data("auth_date=1&user=%7B%7D", TOKEN, NOW, 60),
            Err(TelegramError::MissingHash)
        );
    }

    proptest::proptest! {
        /// Whatever arrives, verification answers without panicking, and nothing unsigned passes.
        #[test]
        fn arbitrary_init_data_never_panics_or_passes(s in "[ -~]{0,300}") {
            proptest::prop_assert!(verify_init_data(&s, TOKEN, NOW, DEFAULT_MAX_AGE_SECS).is_err());
        }
    }
}
