//! argon2id password hashing (RFC 9106), parameters at OWASP's recommended minimum.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::password_hash::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Memory cost in KiB (19 MiB).
pub const M_COST_KIB: u32 = 19_456;
/// Iterations.
pub const T_COST: u32 = 2;
/// Parallelism.
pub const P_COST: u32 = 1;
/// Longest password accepted, in bytes; longer input is refused before hashing (argon2 itself
/// accepts more, but hashing megabytes on request is a denial-of-service vector).
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .expect("invariant: constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). CPU-heavy: call it
/// from a blocking thread.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("invariant: hashing with valid params and salt cannot fail")
        .to_string()
}

/// Work memory for one argon2 computation at today's parameters (19 MiB), kept and reused by
/// its owner. `hash` and `verify` allocate it afresh on every call, and glibc keeps such
/// blocks in per-thread arenas: a server hashing on many threads grows by 19 MiB per thread
/// and never gives it back. A server hashes on a few threads, each with one `Memory`.
pub struct Memory(Vec<Block>);

impl Memory {
    /// Allocates the memory for today's parameters.
    pub fn new() -> Self {
        Memory(vec![Block::default(); hasher().params().block_count()])
    }
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

/// [`hash`] in the caller's work memory.
pub fn hash_in(memory: &mut Memory, password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    let h = hasher();
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_buf)
        .expect("invariant: a generated salt decodes");
    let mut out = [0u8; 32];
    h.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, &mut memory.0)
        .expect("invariant: hashing with valid params, salt and memory cannot fail");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(h.params())
            .expect("invariant: constant argon2 parameters encode"),
        salt: Some(Salt::from(&salt)),
        hash: Some(Output::new(&out).expect("invariant: 32 bytes is a valid output length")),
    }
    .to_string()
}

/// [`verify`] in the caller's work memory (a stored hash with more memory than today's
/// parameters gets its own allocation, once).
pub fn verify_in(memory: &mut Memory, password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let h = Argon2::new(algorithm, version, params);
    let done = if h.params().block_count() <= memory.0.len() {
        h.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, &mut memory.0)
    } else {
        h.hash_password_into(password.as_bytes(), salt_bytes, &mut out)
    };
    done.is_ok() && subtle::ConstantTimeEq::ct_eq(out.as_slice(), expected.as_bytes()).into()
}

/// Verifies a password against a stored PHC string. A malformed stored hash verifies as false.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A fixed hash to verify against when the account does not exist, so that the response time
/// does not reveal whether an email is registered.
pub fn verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("ferrocast-dummy-password-for-timing"));
    let _ = verify(password, phc);
}

/// Whether a stored hash was made with weaker parameters than today's and should be replaced at
/// the next successful login.
pub fn needs_rehash(phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(p) => {
            let get = |name: &str| p.params.get_decimal(name);
            p.algorithm.as_str() != "argon2id"
                || get("m").is_none_or(|m| m < M_COST_KIB)
                || get("t").is_none_or(|t| t < T_COST)
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_parameters() {
        let h = hash("correct horse battery staple");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("correct horse battery stapl", &h));
        assert!(!verify("x", "not a phc string"));
        assert!(!needs_rehash(&h));
        assert!(needs_rehash(
            "$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
        ));
    }

    #[test]
    fn reused_memory_agrees_with_the_library() {
        let mut m = Memory::new();
        // Ours verified by the library, the library's verified by ours, memory reused between.
        let ours = hash_in(&mut m, "correct horse");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        assert!(verify("correct horse", &ours));
        assert!(!verify("correct hors", &ours));
        let theirs = hash("battery staple");
        assert!(verify_in(&mut m, "battery staple", &theirs));
        assert!(!verify_in(&mut m, "battery stapl", &theirs));
        assert!(verify_in(&mut m, "correct horse", &ours));
        // Other parameters and versions: RFC 9106's argon2id with less memory, argon2i.
        let small = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(64, 1, 1, None).expect("params"),
        );
        let salt = SaltString::generate(&mut OsRng);
        let other = small.hash_password(b"pw", &salt).expect("hash").to_string();
        assert!(verify_in(&mut m, "pw", &other));
        assert!(!verify_in(&mut m, "pW", &other));
        assert!(!verify_in(&mut m, "x", "not a phc string"));
        assert!(!verify_in(
            &mut m,
            "x",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ"
        ));
    }
}
