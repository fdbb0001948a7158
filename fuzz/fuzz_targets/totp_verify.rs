//! Submitted TOTP codes and recovery codes are attacker text.
#![no_main]
use ferrocast_auth::{token, totp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = totp::verify(b"12345678901234567890", s, 1_800_000_000);
        let _ = token::normalize_recovery_code(s);
    }
});
