//! Public profiles: the rules for handles (the `/c/<handle>` of a channel), bios and links.
//!
//! A handle is 3 to 30 characters of `a-z`, `0-9` and `_`, stored lowercase and unique. Every
//! account has one: it is derived from the display name (or the email's local part) when the
//! account is made, and the owner may change it. Words the site's own pages use are reserved.

use crate::account::FieldError;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Shortest handle.
pub const MIN_HANDLE_CHARS: usize = 3;
/// Longest handle.
pub const MAX_HANDLE_CHARS: usize = 30;
/// Longest derived handle before a number is added to make it unique.
const MAX_BASE_CHARS: usize = 24;
/// Longest bio.
pub const MAX_BIO_CHARS: usize = 1000;
/// Links a profile shows at most.
pub const MAX_LINKS: usize = 5;
/// Longest link label.
pub const MAX_LINK_LABEL_CHARS: usize = 40;
/// Longest link URL.
pub const MAX_LINK_URL_BYTES: usize = 500;

/// Handles nobody may take: the site's own paths and words that would pass for the site.
pub const RESERVED_HANDLES: &[&str] = &[
    "about",
    "account",
    "accounts",
    "admin",
    "administrator",
    "analytics",
    "api",
    "app",
    "assets",
    "auth",
    "billing",
    "browse",
    "c",
    "channel",
    "channels",
    "chat",
    "dashboard",
    "docs",
    "edit",
    "email",
    "embed",
    "explore",
    "ferrocast",
    "help",
    "home",
    "library",
    "live",
    "login",
    "logout",
    "mail",
    "me",
    "media",
    "mod",
    "moderator",
    "new",
    "notifications",
    "null",
    "oauth",
    "official",
    "pricing",
    "privacy",
    "recover",
    "register",
    "root",
    "search",
    "security",
    "settings",
    "shorts",
    "signin",
    "signup",
    "static",
    "staff",
    "status",
    "studio",
    "subscription",
    "support",
    "system",
    "terms",
    "trending",
    "undefined",
    "upload",
    "uploads",
    "user",
    "users",
    "v",
    "videos",
    "vod",
    "watch",
    "www",
];

/// Whether `handle` (lowercase) is reserved.
pub fn is_reserved(handle: &str) -> bool {
    RESERVED_HANDLES.contains(&handle)
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Normalises a handle the owner chose: trimmed, an initial `@` dropped, lowercased; refused
/// unless 3 to 30 characters of `a-z`, `0-9` and `_`, and not reserved.
pub fn normalize_handle(raw: &str) -> Result<String, FieldError> {
    let h = raw.trim();
    let h = h.strip_prefix('@').unwrap_or(h).to_ascii_lowercase();
    if h.is_empty() {
        return Err(err("handle", "is required"));
    }
    if !h
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(err(
            "handle",
            "may contain only letters a-z, digits 0-9 and underscores (_)",
        ));
    }
    let n = h.len();
    if !(MIN_HANDLE_CHARS..=MAX_HANDLE_CHARS).contains(&n) {
        return Err(err(
            "handle",
            format!("must be {MIN_HANDLE_CHARS} to {MAX_HANDLE_CHARS} characters long"),
        ));
    }
    if is_reserved(&h) {
        return Err(err(
            "handle",
            format!("\"{h}\" is reserved by the site; choose another"),
        ));
    }
    Ok(h)
}

/// Whether `s` is shaped like a handle (what [`normalize_handle`] returns, reserved or not);
/// for looking one up without echoing odd input.
pub fn is_handle_shaped(s: &str) -> bool {
    (MIN_HANDLE_CHARS..=MAX_HANDLE_CHARS).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The letters and digits of `s` as a handle: accents removed, other characters turned into
/// single underscores, trimmed of underscores, at most 24 characters.
fn slug(s: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in s.nfkd() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else if unicode_normalization::char::is_combining_mark(c) {
            // An accent of the letter before it.
        } else {
            gap = true;
        }
        if out.len() >= MAX_BASE_CHARS {
            break;
        }
    }
    out.truncate(MAX_BASE_CHARS);
    out.trim_end_matches('_').to_string()
}

/// A new account's handle before it is made unique: from the display name, else the email's
/// local part, else `creator`. Always handle-shaped; it may be reserved or taken, which
/// [`handle_candidate`] numbers away.
pub fn handle_base(display_name: &str, email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    for s in [slug(display_name), slug(local)] {
        if s.len() >= MIN_HANDLE_CHARS {
            return s;
        }
    }
    "creator".to_string()
}

/// The `n`th choice for a base (from 1): the base itself, then the base followed by `n`.
pub fn handle_candidate(base: &str, n: u32) -> String {
    if n <= 1 {
        return base.to_string();
    }
    let suffix = n.to_string();
    let mut b = base.to_string();
    b.truncate(MAX_HANDLE_CHARS - suffix.len());
    format!("{b}{suffix}")
}

/// Normalises a bio: NFKC without bidi or invisible format characters, line breaks kept (at
/// most two in a row), trimmed, at most 1000 characters, no other control characters.
pub fn normalize_bio(raw: &str) -> Result<String, FieldError> {
    let text = raw
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\t', " ");
    let cleaned = crate::text::displayable(&text);
    let mut out = String::with_capacity(cleaned.len());
    let mut newlines = 0;
    for line in cleaned.split('\n') {
        let line = line.trim_end();
        if line.chars().any(char::is_control) {
            return Err(err(
                "bio",
                "must not contain control characters other than line breaks",
            ));
        }
        if line.is_empty() {
            newlines += 1;
        } else {
            if !out.is_empty() {
                out.push_str(if newlines > 1 { "\n\n" } else { "\n" });
            }
            newlines = 1;
            out.push_str(line);
        }
    }
    let out = out.trim().to_string();
    if out.chars().count() > MAX_BIO_CHARS {
        return Err(err(
            "bio",
            format!("must be at most {MAX_BIO_CHARS} characters"),
        ));
    }
    Ok(out)
}

/// A link on a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileLink {
    /// What it is, for people ("Website", "Shop").
    pub label: String,
    /// Where it goes: an `http` or `https` URL.
    pub url: String,
}

/// Normalises a profile's links: at most 5, each a label of 1 to 40 characters and an absolute
/// `http(s)` URL with a host, of at most 500 bytes, without spaces or control characters.
pub fn normalize_links(links: &[ProfileLink]) -> Result<Vec<ProfileLink>, FieldError> {
    if links.len() > MAX_LINKS {
        return Err(err("links", format!("at most {MAX_LINKS} links")));
    }
    let mut out = Vec::with_capacity(links.len());
    for (i, l) in links.iter().enumerate() {
        let n = i + 1;
        let label = crate::text::displayable(&l.label).trim().to_string();
        if label.is_empty() || label.chars().count() > MAX_LINK_LABEL_CHARS {
            return Err(err(
                "links",
                format!("link {n}: the label must be 1 to {MAX_LINK_LABEL_CHARS} characters"),
            ));
        }
        if label.chars().any(char::is_control) {
            return Err(err(
                "links",
                format!("link {n}: the label must not contain control characters"),
            ));
        }
        let url = l.url.trim().to_string();
        let lower = url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        let host = rest
            .map(|r| r.split(['/', '?', '#']).next().unwrap_or_default())
            .unwrap_or_default();
        let host_ok = !host.is_empty()
            && !host.contains('@')
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        if rest.is_none()
            || !host_ok
            || url.len() > MAX_LINK_URL_BYTES
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(err(
                "links",
                format!(
                    "link {n}: the URL must start with https:// or http://, name a host, and be at most {MAX_LINK_URL_BYTES} characters without spaces"
                ),
            ));
        }
        out.push(ProfileLink { label, url });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        assert_eq!(
            normalize_handle(" @Ada_Lovelace "),
            Ok("ada_lovelace".into())
        );
        for bad in ["", "ab", "a-b-c", "ada lovelace", "ädä", &"a".repeat(31)] {
            assert!(normalize_handle(bad).is_err(), "{bad}");
        }
        for r in ["admin", "API", "settings", "watch"] {
            let e = normalize_handle(r).expect_err(r);
            assert!(e.message.contains("reserved"), "{e}");
        }
        assert!(is_handle_shaped("ada_99") && !is_handle_shaped("a/b"));
    }

    #[test]
    fn derived_handles() {
        assert_eq!(handle_base("Ada Lovelace", "x@example.com"), "ada_lovelace");
        assert_eq!(
            handle_base("  Ünïcödé -- Stream!! ", "x@example.com"),
            "unicode_stream"
        );
        assert_eq!(handle_base("李", "jo.smith+tv@example.com"), "jo_smith_tv");
        assert_eq!(handle_base("李", "李@example.com"), "creator");
        let long = handle_base(&"x".repeat(200), "a@b");
        assert_eq!(long.len(), 24);
        assert_eq!(handle_candidate("ada", 1), "ada");
        assert_eq!(handle_candidate("ada", 12), "ada12");
        let c = handle_candidate(&"y".repeat(30), 123);
        assert_eq!(c.len(), 30);
        assert!(c.ends_with("123"));
        for b in [handle_base("Ada", "a@b"), handle_base("__", "--@b"), long] {
            assert!(is_handle_shaped(&b), "{b}");
        }
    }

    #[test]
    fn bios_and_links() {
        assert_eq!(
            normalize_bio("  Hi\r\n\r\n\r\n\u{202E}there  "),
            Ok("Hi\n\nthere".into())
        );
        assert!(normalize_bio(&"x".repeat(1001)).is_err());
        assert!(normalize_bio("a\u{0007}b").is_err());
        let ok = normalize_links(&[ProfileLink {
            label: " Site ".into(),
            url: "https://example.com/a?b".into(),
        }])
        .expect("valid");
        assert_eq!(ok[0].label, "Site");
        for url in [
            "javascript:alert(1)",
            "ftp://example.com",
            "https://",
            "https://exa mple.com",
            "https://user@evil.example",
            "//example.com",
        ] {
            let e = normalize_links(&[ProfileLink {
                label: "x".into(),
                url: url.into(),
            }]);
            assert!(e.is_err(), "{url}");
        }
        let six = vec![
            ProfileLink {
                label: "a".into(),
                url: "https://a.example".into()
            };
            6
        ];
        assert!(normalize_links(&six).is_err());
    }
}
