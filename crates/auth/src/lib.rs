//! Credentials, as pure functions: no sockets, no database, no clock of its own (time is an
//! argument, so tests can run at any instant, RFC 6238's vectors included).
//!
//! - [`password`]: argon2id hashes (OWASP's minimum m=19456 KiB, t=2, p=1) and a dummy verify so
//!   an unknown email costs the same as a wrong password.
//! - [`jwt`]: HS256 access tokens. The algorithm is fixed per key; the header is checked, never
//!   trusted, so `alg: none` and algorithm confusion cannot happen. `exp`, `nbf`, `iat`, `iss`,
//!   `aud` and `typ` are required and must be numbers/strings of the right type.
//! - [`totp`]: RFC 4226 HOTP and RFC 6238 TOTP with `otpauth://` URIs.
//! - [`token`]: opaque random tokens (refresh tokens, API keys, email codes) and their hashes.
//! - [`secretbox`]: AES-256-GCM for secrets at rest, and subkeys derived from the master key.
//! - [`oidc`]: OpenID Connect sign-in: PKCE, the authorization request, token responses, JWKS
//!   and RS256 ID token verification.
//! - [`telegram`]: the Telegram Login Widget's data and Mini Apps' `initData`, checked as
//!   Telegram documents.
#![deny(missing_docs)]

pub mod jwt;
pub mod oidc;
pub mod password;
pub mod secretbox;
pub mod telegram;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod token;
pub mod totp;
