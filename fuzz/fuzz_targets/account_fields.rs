//! Email, display name and password validation on arbitrary text: no panic, and accepted values
//! are stable under a second normalisation.
#![no_main]
use ferrocast_domain::account::{normalize_display_name, normalize_email, validate_password, MAX_EMAIL_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(e) = normalize_email(s) {
            assert!(e.len() <= MAX_EMAIL_LEN * 4);
            assert!(!e.chars().any(char::is_control));
            assert_eq!(normalize_email(&e).as_deref(), Ok(e.as_str()));
        }
        if let Ok(n) = normalize_display_name(s) {
            assert!(!n.chars().any(char::is_control));
            assert_eq!(normalize_display_name(&n).as_deref(), Ok(n.as_str()));
        }
        let _ = validate_password("password", s);
    }
});
