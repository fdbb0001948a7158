//! Accounts: roles, API-key scopes and the validation rules for account fields.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a user is. Ordered by privilege for [`Role::at_least`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Watches, chats, tips.
    Viewer,
    /// Streams: sources, destinations, chat connectors.
    Creator,
    /// Runs UGC campaigns.
    Brand,
    /// Moderates chat and content.
    Moderator,
    /// Everything, including users and settings.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Creator,
        Role::Brand,
        Role::Moderator,
        Role::Admin,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Creator => "creator",
            Role::Brand => "brand",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Roles a person may choose when registering; moderator and admin are granted, never
    /// self-assigned.
    pub fn self_assignable(self) -> bool {
        matches!(self, Role::Viewer | Role::Creator | Role::Brand)
    }

    /// Whether a user with this role passes a check that asks for `required`: the same role,
    /// admin for anything, moderator for viewer and moderator, and everyone for viewer. Creator
    /// and brand are different jobs, not ranks: neither passes for the other.
    pub fn satisfies(self, required: Role) -> bool {
        self == required
            || self == Role::Admin
            || required == Role::Viewer
            || (self == Role::Moderator && required == Role::Moderator)
    }

    /// Whether this role has at least the privileges of staff (`moderator` or `admin`).
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Moderator | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an API key may do. Session tokens (from login) carry every scope their role allows;
/// API keys carry only the scopes chosen at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read the own profile.
    ProfileRead,
    /// Read sources and destinations.
    SourcesRead,
    /// Create, change and delete sources and destinations.
    SourcesWrite,
    /// Read stream state and usage.
    StreamsRead,
    /// Start and stop streams.
    StreamsWrite,
    /// Send chat messages and moderate.
    ChatWrite,
    /// Buy, cancel and resume plans; open the billing portal.
    BillingWrite,
    /// Administration (admin role only): the admin routes, and acting on other users' objects.
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 8] = [
        Scope::ProfileRead,
        Scope::SourcesRead,
        Scope::SourcesWrite,
        Scope::StreamsRead,
        Scope::StreamsWrite,
        Scope::ChatWrite,
        Scope::BillingWrite,
        Scope::Admin,
    ];

    /// Wire name, e.g. `sources:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ProfileRead => "profile:read",
            Scope::SourcesRead => "sources:read",
            Scope::SourcesWrite => "sources:write",
            Scope::StreamsRead => "streams:read",
            Scope::StreamsWrite => "streams:write",
            Scope::ChatWrite => "chat:write",
            Scope::BillingWrite => "billing:write",
            Scope::Admin => "admin",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a user of `role` may hold this scope.
    pub fn allowed_for(self, role: Role) -> bool {
        match self {
            Scope::Admin => role == Role::Admin,
            _ => true,
        }
    }
}

/// Credentials whose failures are counted per account, across every client address (the
/// per-address rate limit alone lets an attacker with many addresses guess on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// The password (login, password change).
    Password,
    /// A TOTP or recovery code at the second login step.
    SecondFactor,
    /// An emailed password-reset code.
    ResetCode,
}

impl Guarded {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Guarded::Password => "password",
            Guarded::SecondFactor => "second_factor",
            Guarded::ResetCode => "reset_code",
        }
    }

    /// What failed, in words for the user.
    pub fn describe(self) -> &'static str {
        match self {
            Guarded::Password => "password attempts",
            Guarded::SecondFactor => "two-factor codes",
            Guarded::ResetCode => "reset codes",
        }
    }
}

/// Failures of one [`Guarded`] kind within [`GUARD_WINDOW_MS`] that lock it.
pub const GUARD_MAX_FAILURES: i64 = 10;
/// The window failures are counted in.
pub const GUARD_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long a lock lasts. Each kind locks alone: a locked password still lets the owner reset
/// it by email, which lifts the lock.
pub const GUARD_LOCK_MS: i64 = 15 * 60 * 1000;
/// Login challenges (password accepted, second factor pending) open at once per account.
pub const MAX_OPEN_CHALLENGES: i64 = 5;

/// A field that failed validation, reported to the client in `details`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The JSON field name.
    pub field: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Longest email address (RFC 5321 §4.5.3.1.3 path limit minus the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// Shortest password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password in bytes (hashing cost is bounded before any work).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest display name in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// Normalises and validates an email address: trimmed, lower-cased, one `@`, a dotted domain,
/// no spaces or control characters, within RFC 5321's lengths. Unicode is allowed (RFC 6531).
pub fn normalize_email(raw: &str) -> Result<String, FieldError> {
    let email = raw.trim();
    if email.is_empty() {
        return Err(FieldError::new("email", "is required"));
    }
    // The limits hold for the stored, lower-cased form: a letter's lower case can take more
    // bytes than its upper case (U+023E `Ⱦ`, 2 bytes, becomes U+2C66 `ⱦ`, 3), so checking
    // before lower-casing would let a stored address fail its own validation (found by
    // fuzzing). A raw length bound comes first so no work is done on a huge input.
    let too_long = || {
        FieldError::new(
            "email",
            format!("must be at most {MAX_EMAIL_LEN} characters"),
        )
    };
    if email.len() > MAX_EMAIL_LEN * 4 {
        return Err(too_long());
    }
    let email = email.to_lowercase();
    if email.len() > MAX_EMAIL_LEN {
        return Err(too_long());
    }
    let bad = |c: char| {
        c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"' | '\\')
    };
    if email.chars().any(bad) {
        return Err(FieldError::new(
            "email",
            "must not contain spaces, quotes, brackets or control characters",
        ));
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(FieldError::new("email", "must look like name@example.com"));
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@')
        && domain.len() <= 253;
    if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
        return Err(FieldError::new("email", "must look like name@example.com"));
    }
    Ok(email)
}

/// Checks a new password: 8 characters or more, at most 1024 bytes, not only whitespace.
pub fn validate_password(field: &'static str, password: &str) -> Result<(), FieldError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.trim().is_empty() {
        return Err(FieldError::new(field, "must not be only spaces"));
    }
    Ok(())
}

/// Normalises a display name: NFKC without bidi or invisible format characters ([`crate::text`]),
/// trimmed, 1 to 100 characters, no control characters.
pub fn normalize_display_name(raw: &str) -> Result<String, FieldError> {
    let cleaned = crate::text::displayable(raw);
    let name = cleaned.trim();
    if name.is_empty() {
        return Err(FieldError::new("display_name", "is required"));
    }
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(FieldError::new(
            "display_name",
            format!("must be at most {MAX_DISPLAY_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            "display_name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Ana@Example.COM "),
            Ok("ana@example.com".into())
        );
        assert_eq!(
            normalize_email("o'brien+tag@example.co.uk"),
            Ok("o'brien+tag@example.co.uk".into())
        );
        assert_eq!(
            normalize_email("δοκιμή@παράδειγμα.δοκιμή"),
            Ok("δοκιμή@παράδειγμα.δοκιμή".into())
        );
        // Found by fuzzing: `Ⱦ` (2 bytes) lower-cases to `ⱦ` (3 bytes). The length limit holds
        // for the lower-cased address, so what is accepted validates again.
        let growing = format!("Ⱦ@{}.com", "a".repeat(247));
        assert_eq!(growing.len(), MAX_EMAIL_LEN);
        assert!(
            normalize_email(&growing).is_err(),
            "255 bytes once lower-cased"
        );
        let fits = format!("Ⱦ@{}.com", "a".repeat(246));
        let stored = normalize_email(&fits).expect("254 bytes once lower-cased");
        assert_eq!(normalize_email(&stored), Ok(stored.clone()));
        for bad in [
            "",
            "a",
            "a@b",
            "@b.com",
            "a@.com",
            "a@b..com",
            "a b@c.com",
            "a@b\n.com",
            "a@b@c.com",
            &format!("{}@x.com", "a".repeat(10_000)),
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_and_names() {
        assert!(validate_password("password", "short").is_err());
        assert!(validate_password("password", "        ").is_err());
        assert!(validate_password("password", &"x".repeat(1025)).is_err());
        assert!(validate_password("password", "correct horse").is_ok());
        assert_eq!(
            normalize_display_name("  Robert'); DROP TABLE users;-- "),
            Ok("Robert'); DROP TABLE users;--".into())
        );
        assert!(normalize_display_name("a\u{0}b").is_err());
        assert!(normalize_display_name(&"é".repeat(101)).is_err());
    }

    #[test]
    fn roles_and_scopes_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert!(!Scope::Admin.allowed_for(Role::Moderator));
        assert!(!Role::Admin.self_assignable());
    }

    proptest::proptest! {
        #[test]
        fn email_normalisation_is_total_and_idempotent(s in "\\PC{0,300}|[a-zA-Z0-9._%+'-]{1,70}@[a-z0-9-]{1,20}\\.[a-z]{2,6}") {
            if let Ok(e) = normalize_email(&s) {
                proptest::prop_assert!(e.len() <= MAX_EMAIL_LEN * 4);
                proptest::prop_assert_eq!(normalize_email(&e), Ok(e.clone()));
            }
        }

        #[test]
        fn display_names_never_keep_control_characters(s in "\\PC{0,200}|[\\x00-\\x1f a-z]{0,40}") {
            if let Ok(n) = normalize_display_name(&s) {
                proptest::prop_assert!(!n.chars().any(char::is_control));
                proptest::prop_assert!(n.chars().count() <= MAX_DISPLAY_NAME_CHARS);
            }
        }
    }
}
