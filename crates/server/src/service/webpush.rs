//! Web Push on the wire: message encryption (RFC 8291, over the `aes128gcm` content coding of
//! RFC 8188) and VAPID, the application server's identification to the push service
//! (RFC 8292: an ES256 JWT in `Authorization: vapid t=…, k=…`). Sans-I/O: bytes and keys in,
//! bytes and header values out; [`super::notify`] sends them.
//!
//! All of it with `ring`: ECDH on P-256 for the shared secret, HMAC-SHA-256 as HKDF, AES-128-GCM,
//! and ECDSA P-256 SHA-256 in the fixed (r‖s) form JWS wants.

use data_encoding::BASE64URL_NOPAD;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
use ring::hmac;
use ring::rand::SecureRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

/// The record size written in the header (RFC 8188 §2.1); one record carries the whole message.
pub const RECORD_SIZE: u32 = 4096;
/// The largest plaintext sent: one record less its delimiter and tag, with room to spare
/// (RFC 8291 §4 asks push services to accept at least 4096 octets of payload).
pub const MAX_PLAINTEXT: usize = 3800;
/// How long a VAPID token is valid (RFC 8292 §2: at most 24 hours).
pub const VAPID_TTL_SECS: i64 = 12 * 3600;

/// Why a message cannot be encrypted or signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushCryptoError {
    /// The subscription's `p256dh` is not an uncompressed P-256 point in base64url.
    #[error("the subscription's p256dh key is not a P-256 public key (65 bytes, base64url)")]
    BadPublicKey,
    /// The subscription's `auth` is not 16 bytes of base64url.
    #[error("the subscription's auth secret is not 16 bytes of base64url")]
    BadAuthSecret,
    /// The message is larger than one record.
    #[error("the message is larger than {MAX_PLAINTEXT} bytes")]
    TooLarge,
    /// The VAPID key does not load.
    #[error("the VAPID key is not a P-256 PKCS#8 key")]
    BadVapidKey,
    /// The random source or a primitive failed.
    #[error("a cryptographic operation failed")]
    Crypto,
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// Decodes base64url with or without padding (browsers' `toJSON()` gives it without).
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    BASE64URL_NOPAD
        .decode(text.trim_end_matches('=').as_bytes())
        .ok()
}

/// Checks a subscription's keys: the P-256 public key (65 bytes, uncompressed) and the
/// 16-byte authentication secret, both base64url.
pub fn check_keys(p256dh: &str, auth: &str) -> Result<(Vec<u8>, Vec<u8>), PushCryptoError> {
    let ua_public = b64url_decode(p256dh)
        .filter(|k| k.len() == 65 && k[0] == 4)
        .ok_or(PushCryptoError::BadPublicKey)?;
    let secret = b64url_decode(auth)
        .filter(|a| a.len() == 16)
        .ok_or(PushCryptoError::BadAuthSecret)?;
    Ok((ua_public, secret))
}

/// Encrypts `plaintext` for a subscription (RFC 8291 §3.4), with a fresh ephemeral key and salt.
pub fn encrypt(
    rng: &dyn SecureRandom,
    plaintext: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
) -> Result<Vec<u8>, PushCryptoError> {
    let ephemeral =
        EphemeralPrivateKey::generate(&ECDH_P256, rng).map_err(|_| PushCryptoError::Crypto)?;
    let mut salt = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| PushCryptoError::Crypto)?;
    encrypt_with(ephemeral, salt, plaintext, ua_public, auth_secret)
}

/// [`encrypt`] with the application server's ephemeral key and the salt given (the RFC's
/// test vector fixes both).
pub fn encrypt_with(
    as_private: EphemeralPrivateKey,
    salt: [u8; 16],
    plaintext: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
) -> Result<Vec<u8>, PushCryptoError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(PushCryptoError::TooLarge);
    }
    if ua_public.len() != 65 || ua_public[0] != 4 {
        return Err(PushCryptoError::BadPublicKey);
    }
    if auth_secret.len() != 16 {
        return Err(PushCryptoError::BadAuthSecret);
    }
    let as_public = as_private
        .compute_public_key()
        .map_err(|_| PushCryptoError::Crypto)?;
    let as_public = as_public.as_ref().to_vec();
    let peer = UnparsedPublicKey::new(&ECDH_P256, ua_public);
    let ecdh_secret = agreement::agree_ephemeral(as_private, &peer, |s| s.to_vec())
        .map_err(|_| PushCryptoError::BadPublicKey)?;
    // RFC 8291 §3.3: PRK_key = HMAC(auth_secret, ecdh_secret);
    // IKM = HMAC(PRK_key, "WebPush: info" || 0x00 || ua_public || as_public || 0x01).
    let prk_key = hmac_sha256(auth_secret, &[&ecdh_secret]);
    let ikm = hmac_sha256(&prk_key, &[b"WebPush: info\0", ua_public, &as_public, &[1]]);
    // RFC 8188 §2.2, §2.3: PRK = HMAC(salt, IKM); CEK and NONCE expanded from it.
    let prk = hmac_sha256(&salt, &[&ikm]);
    let cek = hmac_sha256(&prk, &[b"Content-Encoding: aes128gcm\0", &[1]]);
    let nonce = hmac_sha256(&prk, &[b"Content-Encoding: nonce\0", &[1]]);
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_128_GCM, &cek[..16]).map_err(|_| PushCryptoError::Crypto)?,
    );
    let mut nonce_bytes = [0u8; 12];
    nonce_bytes.copy_from_slice(&nonce[..12]);
    // The only (so the last) record: the plaintext and the delimiter 0x02, no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 17);
    record.extend_from_slice(plaintext);
    record.push(2);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::empty(),
        &mut record,
    )
    .map_err(|_| PushCryptoError::Crypto)?;
    // RFC 8188 §2.1 header: salt (16) || rs (u32 BE) || idlen (1) || keyid (as_public).
    let mut out = Vec::with_capacity(16 + 4 + 1 + 65 + record.len());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    out.push(as_public.len() as u8);
    out.extend_from_slice(&as_public);
    out.extend_from_slice(&record);
    Ok(out)
}

/// The deployment's VAPID key pair (RFC 8292 §3.2): ECDSA on P-256.
pub struct VapidKey {
    pair: EcdsaKeyPair,
    public: String,
}

impl VapidKey {
    /// A new key as PKCS#8 (what is sealed and stored).
    pub fn generate(rng: &dyn SecureRandom) -> Result<Vec<u8>, PushCryptoError> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| PushCryptoError::Crypto)
    }

    /// Loads a key from its PKCS#8.
    pub fn from_pkcs8(pkcs8: &[u8], rng: &dyn SecureRandom) -> Result<Self, PushCryptoError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, rng)
            .map_err(|_| PushCryptoError::BadVapidKey)?;
        let public = BASE64URL_NOPAD.encode(pair.public_key().as_ref());
        Ok(Self { pair, public })
    }

    /// The public key as browsers take it (`applicationServerKey`) and as `k=` carries it:
    /// the uncompressed point, base64url without padding.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header value for a push to `endpoint` (RFC 8292 §3): a JWT whose
    /// `aud` is the endpoint's origin, `exp` `exp_secs` (Unix seconds), `sub` the contact.
    pub fn authorization(
        &self,
        rng: &dyn SecureRandom,
        endpoint: &str,
        subject: &str,
        exp_secs: i64,
    ) -> Result<String, PushCryptoError> {
        let aud = audience(endpoint).ok_or(PushCryptoError::Crypto)?;
        let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": aud, "exp": exp_secs, "sub": subject });
        let claims = BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
        let input = format!("{header}.{claims}");
        let sig = self
            .pair
            .sign(rng, input.as_bytes())
            .map_err(|_| PushCryptoError::Crypto)?;
        let token = format!("{input}.{}", BASE64URL_NOPAD.encode(sig.as_ref()));
        Ok(format!("vapid t={token}, k={}", self.public))
    }
}

/// The origin of a push endpoint (`https://push.example.net`), the JWT's `aud`.
pub fn audience(endpoint: &str) -> Option<String> {
    let url = reqwest::Url::parse(endpoint).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, deprecated)]
mod tests {
    use super::*;

    fn b(s: &str) -> Vec<u8> {
        b64url_decode(s).unwrap()
    }

    // RFC 8291 Appendix A.
    const PLAINTEXT: &str = "When I grow up, I want to be a watermelon";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AS_PUBLIC: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn rfc_key() -> EphemeralPrivateKey {
        let private = b(AS_PRIVATE);
        let fixed = ring::test::rand::FixedSliceRandom { bytes: &private };
        EphemeralPrivateKey::generate(&ECDH_P256, &fixed).unwrap()
    }

    #[test]
    fn encryption_matches_rfc_8291_appendix_a() {
        let key = rfc_key();
        assert_eq!(
            key.compute_public_key().unwrap().as_ref(),
            b(AS_PUBLIC).as_slice(),
            "the fixed private key is the RFC's"
        );
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&b(SALT));
        let body = encrypt_with(key, salt, PLAINTEXT.as_bytes(), &b(UA_PUBLIC), &b(AUTH)).unwrap();
        assert_eq!(BASE64URL_NOPAD.encode(&body), BODY);
    }

    #[test]
    fn a_fresh_encryption_differs_and_has_the_header() {
        let rng = ring::rand::SystemRandom::new();
        let a = encrypt(&rng, b"hi", &b(UA_PUBLIC), &b(AUTH)).unwrap();
        let c = encrypt(&rng, b"hi", &b(UA_PUBLIC), &b(AUTH)).unwrap();
        assert_ne!(a, c, "salt and key are fresh each time");
        assert_eq!(&a[16..20], &RECORD_SIZE.to_be_bytes());
        assert_eq!(a[20], 65);
        assert_eq!(a.len(), 16 + 4 + 1 + 65 + 2 + 1 + 16);
    }

    #[test]
    fn bad_keys_and_sizes_are_refused() {
        assert_eq!(check_keys("abc", AUTH), Err(PushCryptoError::BadPublicKey));
        assert_eq!(
            check_keys(UA_PUBLIC, "abc"),
            Err(PushCryptoError::BadAuthSecret)
        );
        assert!(check_keys(UA_PUBLIC, AUTH).is_ok());
        let rng = ring::rand::SystemRandom::new();
        let big = vec![0u8; MAX_PLAINTEXT + 1];
        assert_eq!(
            encrypt(&rng, &big, &b(UA_PUBLIC), &b(AUTH)),
            Err(PushCryptoError::TooLarge)
        );
        // A point not on the curve.
        let mut off = b(UA_PUBLIC);
        off[40] ^= 1;
        assert_eq!(
            encrypt(&rng, b"x", &off, &b(AUTH)),
            Err(PushCryptoError::BadPublicKey)
        );
    }

    #[test]
    fn vapid_token_is_a_verifiable_es256_jwt() {
        let rng = ring::rand::SystemRandom::new();
        let key = VapidKey::from_pkcs8(&VapidKey::generate(&rng).unwrap(), &rng).unwrap();
        let h = key
            .authorization(
                &rng,
                "https://push.example.net:8443/wpush/abc?x=1",
                "mailto:ops@example.com",
                1_900_000_000,
            )
            .unwrap();
        let rest = h.strip_prefix("vapid t=").unwrap();
        let (token, k) = rest.split_once(", k=").unwrap();
        assert_eq!(k, key.public_key());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            b(k),
        );
        public.verify(input.as_bytes(), &b(sig)).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&b(input.split_once('.').unwrap().1)).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1_900_000_000);
        assert_eq!(claims["sub"], "mailto:ops@example.com");
    }
}
