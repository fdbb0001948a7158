//! Sealed values are read back from storage that an attacker with database access may have
//! edited: opening any string must fail cleanly.
#![no_main]
use ferrocast_auth::secretbox::SecretBox;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let b = SecretBox::new(&[7u8; 32]);
        assert!(b.open("fuzz", s).is_err());
    }
});
