//! ID tokens, key sets and token responses come from the network (a provider, or whoever
//! answers in its place): parsing and verifying any input must not panic, and no input can pass
//! verification against a key set that holds no key.
#![no_main]
use ferrocast_auth::oidc::{key_id, verify_id_token, IdTokenExpect, Jwks, TokenResponse, UserInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Jwks::parse(data);
    let _ = TokenResponse::parse(true, data);
    let _ = UserInfo::parse(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = key_id(s);
        let expect = IdTokenExpect { issuers: &["https://accounts.google.com"], client_id: "c", nonce: "n", now: 1_800_000_000 };
        assert!(verify_id_token(s, &Jwks::default(), &expect).is_err());
        // A key set parsed from the same bytes: a token signed by nobody never verifies.
        if let Ok(set) = Jwks::parse(data) {
            let _ = verify_id_token(s, &set, &expect);
        }
    }
});
