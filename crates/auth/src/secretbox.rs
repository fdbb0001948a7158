//! Secrets at rest: AES-256-GCM under keys derived from the master key.
//!
//! Sealed form: `v1.` + base64url(nonce ‖ ciphertext ‖ tag), with a random 96-bit nonce. The
//! caller's context string is bound as associated data, so a ciphertext moved to another column
//! or row does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Derives a purpose-specific 32-byte key from the master key (HMAC-SHA256 as a PRF, as in
/// HKDF-Expand with a single block; labels never collide because each is a fixed constant).
pub fn derive_key(master: &[u8; 32], label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master)
        .expect("invariant: HMAC accepts any key length");
    mac.update(b"ferrocast/v1/");
    mac.update(label.as_bytes());
    mac.update(&[1]);
    mac.finalize().into_bytes().into()
}

/// Sealing failed or the sealed value is not authentic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "secret cannot be decrypted: wrong master key, corrupted value, or moved from another record"
)]
pub struct OpenError;

/// Encrypts and decrypts secrets under one key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox")
    }
}

impl SecretBox {
    /// A box under `key`.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// Encrypts `plaintext`, bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("invariant: AES-GCM encryption of in-memory data cannot fail");
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        format!("v1.{}", BASE64URL_NOPAD.encode(&out))
    }

    /// Decrypts a value made by [`SecretBox::seal`] with the same context.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let body = sealed.strip_prefix("v1.").ok_or(OpenError)?;
        let raw = BASE64URL_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| OpenError)?;
        if raw.len() < 12 + 16 {
            return Err(OpenError);
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let b = SecretBox::new(&derive_key(&[9; 32], "test"));
        let s = b.seal("users.totp:1", b"hello");
        assert_eq!(b.open("users.totp:1", &s), Ok(b"hello".to_vec()));
        assert_eq!(b.open("users.totp:2", &s), Err(OpenError));
        let other = SecretBox::new(&derive_key(&[9; 32], "other"));
        assert_eq!(other.open("users.totp:1", &s), Err(OpenError));
        let mut bytes = s.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            b.open("users.totp:1", &String::from_utf8(bytes).expect("utf8")),
            Err(OpenError)
        );
        assert_eq!(b.open("x", "v1.AAAA"), Err(OpenError));
        assert_eq!(b.open("x", "garbage"), Err(OpenError));
    }

    proptest::proptest! {
        #[test]
        fn round_trips_and_rejects_garbage(msg in proptest::collection::vec(proptest::num::u8::ANY, 0..512), junk in "\\PC{0,200}") {
            let b = SecretBox::new(&[3; 32]);
            let sealed = b.seal("ctx", &msg);
            proptest::prop_assert_eq!(b.open("ctx", &sealed), Ok(msg));
            proptest::prop_assert!(b.open("ctx", &junk).is_err());
            let prefixed = format!("v1.{}", junk);
            proptest::prop_assert!(b.open("ctx", &prefixed).is_err());
        }
    }
}
