//! Bearer tokens come straight off the network: decoding any input must not panic, and only a
//! token we signed may pass.
#![no_main]
use ferrocast_auth::jwt::{decode, Expect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let expect = Expect { issuer: "http://127.0.0.1:8080", audience: "ferrocast-api", typ: "access", now: 1_800_000_000 };
        // A random input can never carry a valid HMAC under this key.
        assert!(decode(&[42u8; 32], s, &expect).is_err());
    }
});
