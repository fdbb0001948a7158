//! One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), as authenticator apps implement them.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};

/// Seconds per time step (RFC 6238 §4.1, X = 30, what every authenticator app uses).
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps accepted on either side of now, for clock drift (RFC 6238 §5.2 recommends at most one).
pub const WINDOW: i64 = 1;
/// Length of generated secrets in bytes (RFC 4226 §4 recommends 160 bits).
pub const SECRET_BYTES: usize = 20;

/// The HMAC used by the one-time password (RFC 6238 §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA-1, the default and the only one most apps support.
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

fn mac(alg: Algorithm, key: &[u8], msg: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m =
            <M as Mac>::new_from_slice(key).expect("invariant: HMAC accepts any key length");
        m.update(msg);
        m.finalize().into_bytes().to_vec()
    }
    match alg {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, msg),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, msg),
    }
}

/// HOTP value for a counter (RFC 4226 §5.3, dynamic truncation).
pub fn hotp(alg: Algorithm, key: &[u8], counter: u64, digits: u32) -> u32 {
    let h = mac(alg, key, &counter.to_be_bytes());
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// Time step of an instant (RFC 6238 §4.2, T0 = 0). Negative times map to step 0.
pub fn step_at(unix_secs: i64) -> u64 {
    (unix_secs.max(0) / STEP_SECS) as u64
}

/// TOTP code for an instant, zero-padded to `digits`.
pub fn code_at(alg: Algorithm, key: &[u8], unix_secs: i64, digits: u32) -> String {
    format!(
        "{:0width$}",
        hotp(alg, key, step_at(unix_secs), digits),
        width = digits as usize
    )
}

/// Finds the time step a submitted 6-digit SHA-1 code belongs to, within ±[`WINDOW`] steps of
/// now. The caller must refuse steps at or before the last one it accepted, so no code is
/// accepted twice.
pub fn verify(key: &[u8], code: &str, unix_secs: i64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs) as i64;
    let mut found = None;
    // Check every candidate step so the time taken does not depend on which one matched.
    for delta in -WINDOW..=WINDOW {
        let step = now + delta;
        if step < 0 {
            continue;
        }
        let expected = format!("{:06}", hotp(Algorithm::Sha1, key, step as u64, DIGITS));
        if subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes()).into() {
            found = Some(step as u64);
        }
    }
    found
}

/// A new random secret.
pub fn generate_secret() -> [u8; SECRET_BYTES] {
    let mut s = [0u8; SECRET_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut s);
    s
}

/// Base32 (RFC 4648, no padding) as authenticator apps expect.
pub fn secret_base32(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// The `otpauth://totp/…` provisioning URI (Google Authenticator key URI format) to show as a QR
/// code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(issuer),
        percent_encode(account),
        secret_base32(secret),
        percent_encode(issuer)
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4226_appendix_d() {
        let key = b"12345678901234567890";
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(
                hotp(Algorithm::Sha1, key, counter as u64, 6),
                *want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b() {
        let sha1 = b"12345678901234567890".as_slice();
        let sha256 = b"12345678901234567890123456789012".as_slice();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let table: [(i64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, s1, s256, s512) in table {
            assert_eq!(code_at(Algorithm::Sha1, sha1, t, 8), s1, "SHA1 at {t}");
            assert_eq!(
                code_at(Algorithm::Sha256, sha256, t, 8),
                s256,
                "SHA256 at {t}"
            );
            assert_eq!(
                code_at(Algorithm::Sha512, sha512, t, 8),
                s512,
                "SHA512 at {t}"
            );
        }
    }

    #[test]
    fn verify_window_and_format() {
        let key = b"12345678901234567890";
        let now = 1_700_000_000;
        let code = code_at(Algorithm::Sha1, key, now, 6);
        assert_eq!(verify(key, &code, now), Some(step_at(now)));
        assert_eq!(verify(key, &code, now + 30), Some(step_at(now)));
        assert_eq!(verify(key, &code, now + 90), None);
        assert_eq!(verify(key, "12345", now), None);
        assert_eq!(verify(key, "12345a", now), None);
    }

    #[test]
    fn uri_shape() {
        let uri = otpauth_uri("ferrocast", "a b@example.com", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/ferrocast:a%20b@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ferrocast&algorithm=SHA1&digits=6&period=30"
        );
    }

    proptest::proptest! {
        #[test]
        fn verify_never_panics_and_accepts_only_current_codes(code in "\\PC{0,20}|[0-9]{6}", t in 0i64..4_000_000_000) {
            let key = b"12345678901234567890";
            if let Some(step) = verify(key, &code, t) {
                proptest::prop_assert!((step as i64 - step_at(t) as i64).abs() <= WINDOW);
                proptest::prop_assert_eq!(code.trim(), format!("{:06}", hotp(Algorithm::Sha1, key, step, 6)));
            }
        }
    }
}
