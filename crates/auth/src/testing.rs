//! Test support (feature `testing`, and this crate's own tests): an RSA key pair generated at
//! run time, its JWK, and RS256 signatures — what a local OpenID provider stand-in needs to
//! issue ID tokens. Not for production: the prime search and the private-key operation are
//! neither constant-time nor hardened; they only have to produce keys and signatures that
//! `ring` verifies.

use data_encoding::BASE64URL_NOPAD;
use num_bigint::BigUint;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// An RSA-2048 key pair with a key id.
#[derive(Clone)]
pub struct RsaTestKey {
    /// Key id.
    pub kid: String,
    n: BigUint,
    e: BigUint,
    d: BigUint,
}

impl std::fmt::Debug for RsaTestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaTestKey({})", self.kid)
    }
}

/// DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

const SMALL_PRIMES: [u32; 53] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193,
    197, 199, 211, 223, 227, 229, 233, 239, 241, 251,
];

fn random_biguint(bytes: usize) -> BigUint {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    BigUint::from_bytes_be(&buf)
}

/// Miller–Rabin with 24 random bases (error below 2^-48 for random candidates).
fn probably_prime(n: &BigUint) -> bool {
    let one = BigUint::from(1u32);
    let two = BigUint::from(2u32);
    let n_minus_1 = n - &one;
    let s = n_minus_1.trailing_zeros().unwrap_or(0);
    let d = &n_minus_1 >> s;
    'bases: for _ in 0..24 {
        let a = random_biguint(n.bits().div_ceil(8) as usize) % (n - 3u32) + &two;
        let mut x = a.modpow(&d, n);
        if x == one || x == n_minus_1 {
            continue;
        }
        for _ in 1..s {
            x = x.modpow(&two, n);
            if x == n_minus_1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// A random prime of exactly `bits` bits with its two top bits set (so two of them multiply to
/// a modulus of exactly twice the bits).
fn prime(bits: u64) -> BigUint {
    loop {
        let mut c = random_biguint((bits / 8) as usize);
        c |= BigUint::from(3u32) << (bits - 2);
        c |= BigUint::from(1u32);
        if SMALL_PRIMES
            .iter()
            .any(|p| (&c % *p) == BigUint::from(0u32))
        {
            continue;
        }
        if probably_prime(&c) {
            return c;
        }
    }
}

impl RsaTestKey {
    /// A new 2048-bit key with public exponent 65537.
    pub fn generate(kid: &str) -> RsaTestKey {
        let e = BigUint::from(65_537u32);
        let one = BigUint::from(1u32);
        loop {
            let p = prime(1024);
            let q = prime(1024);
            if p == q {
                continue;
            }
            let phi = (&p - &one) * (&q - &one);
            let Some(d) = e.modinv(&phi) else {
                continue;
            };
            return RsaTestKey {
                kid: kid.to_owned(),
                n: p * q,
                e,
                d,
            };
        }
    }

    /// The same key under another key id.
    pub fn with_kid(key: &RsaTestKey, kid: &str) -> RsaTestKey {
        RsaTestKey {
            kid: kid.to_owned(),
            ..key.clone()
        }
    }

    /// The public key as a JWK (RFC 7517 §4, RFC 7518 §6.3.1).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": BASE64URL_NOPAD.encode(&self.n.to_bytes_be()),
            "e": BASE64URL_NOPAD.encode(&self.e.to_bytes_be()),
        })
    }

    /// An RSASSA-PKCS1-v1_5 SHA-256 signature of `message` (RFC 8017 §8.2.1).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let k = self.n.bits().div_ceil(8) as usize;
        let mut em = vec![0xffu8; k];
        em[0] = 0;
        em[1] = 1;
        let t_len = SHA256_DIGEST_INFO.len() + 32;
        em[k - t_len - 1] = 0;
        em[k - t_len..k - 32].copy_from_slice(&SHA256_DIGEST_INFO);
        em[k - 32..].copy_from_slice(&Sha256::digest(message));
        let s = BigUint::from_bytes_be(&em).modpow(&self.d, &self.n);
        let bytes = s.to_bytes_be();
        let mut out = vec![0u8; k - bytes.len()];
        out.extend_from_slice(&bytes);
        out
    }

    /// A compact RS256 JWT of `claims`, with this key's `kid` in the header.
    pub fn sign_jwt(&self, claims: &serde_json::Value) -> String {
        let header = serde_json::json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"});
        let mut out = format!(
            "{}.{}",
            BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
            BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
        );
        let sig = self.sign(out.as_bytes());
        out.push('.');
        out.push_str(&BASE64URL_NOPAD.encode(&sig));
        out
    }
}
