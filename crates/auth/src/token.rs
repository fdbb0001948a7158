//! Opaque tokens: refresh tokens, API keys, login challenges and emailed codes.
//!
//! High-entropy tokens are stored as their SHA-256 (a database leak yields nothing usable, and a
//! lookup by hash needs no per-row salt). Low-entropy codes (six digits) are stored as an HMAC
//! under a server key, so a leaked table cannot be brute-forced offline without that key.

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD, HEXLOWER};
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// A random token: `prefix` followed by 32 random bytes in base64url.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", BASE64URL_NOPAD.encode(&bytes))
}

/// Hex SHA-256 of a high-entropy token, as stored.
pub fn hash(token: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

/// Hex HMAC-SHA256 of a low-entropy code under a server key, as stored.
pub fn keyed_hash(key: &[u8; 32], purpose: &str, code: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).expect("invariant: HMAC accepts any key length");
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(code.as_bytes());
    HEXLOWER.encode(&mac.finalize().into_bytes())
}

/// A uniformly random numeric code of `digits` digits, zero-padded.
pub fn numeric_code(digits: u32) -> String {
    let n: u32 = rand::rngs::OsRng.gen_range(0..10u32.pow(digits));
    format!("{n:0width$}", width = digits as usize)
}

/// A recovery code such as `k7qd-3mzp-x2ab` (60 bits, easy to type, no ambiguous padding).
pub fn recovery_code() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let s = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
    format!("{}-{}-{}", &s[0..4], &s[4..8], &s[8..12])
}

/// Canonical form of a typed recovery code: lower case, dashes and spaces removed.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Constant-time equality of two strings.
pub fn ct_eq(a: &str, b: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let t = generate("fcr_");
        assert!(t.starts_with("fcr_") && t.len() == 4 + 43, "{t}");
        assert_ne!(generate("x"), generate("x"));
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let c = numeric_code(6);
        assert!(c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()));
        let r = recovery_code();
        assert_eq!(r.len(), 14);
        assert_eq!(
            normalize_recovery_code(&r.to_uppercase().replace('-', " ")),
            r.replace('-', "")
        );
        assert_ne!(
            keyed_hash(&[1; 32], "a", "123456"),
            keyed_hash(&[1; 32], "b", "123456")
        );
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("abc", "ab"));
    }
}
