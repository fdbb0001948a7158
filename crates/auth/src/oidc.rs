//! OpenID Connect for "Sign in with Google / Twitch", without I/O: PKCE, the authorization
//! request, the token response, JSON Web Key Sets and ID token verification.
//!
//! - PKCE (RFC 7636): a 43-character verifier and its S256 challenge (§4.1, §4.2).
//! - ID tokens (OpenID Connect Core 1.0 §3.1.3.7): RS256 only (RFC 7518 §3.3) — the header's
//!   `alg` is checked, never trusted, so `none`, HS256-with-the-public-key and other
//!   confusions cannot happen; the key is chosen by `kid` from the provider's JWKS
//!   (RFC 7517), and the signature is checked with `ring` before any claim is believed. Then
//!   `iss` (one of the provider's issuers), `aud` (our client id; with several audiences `azp`
//!   must be ours too), `exp`/`iat` against the caller's clock, and `nonce` (constant time).
//! - Time is an argument (`now`, Unix seconds), so every check is testable at any instant.
//!
//! Everything read here comes off the network: sizes are bounded before parsing and every
//! failure is a [`IdTokenError`] variant, never a panic.

use data_encoding::BASE64URL_NOPAD;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// ID tokens longer than this are refused before decoding (Google's are about 1.2 KB).
pub const MAX_ID_TOKEN_LEN: usize = 16 * 1024;
/// JWKS documents larger than this are refused (Google's is about 1.5 KB).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Keys kept from one JWKS document at most.
pub const MAX_JWKS_KEYS: usize = 32;
/// Token endpoint responses larger than this are refused.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;
/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 60;
/// Longest `sub` accepted (OpenID Connect Core §2: at most 255 ASCII characters).
pub const MAX_SUBJECT_LEN: usize = 255;

// ---- PKCE --------------------------------------------------------------------------------------

/// A new PKCE code verifier: 32 random bytes in base64url, 43 characters of the unreserved set
/// (RFC 7636 §4.1).
pub fn pkce_verifier() -> String {
    random_token()
}

/// The S256 code challenge of a verifier: `BASE64URL(SHA256(ASCII(verifier)))` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()))
}

/// A random value for `state` or `nonce`: 32 bytes in base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    BASE64URL_NOPAD.encode(&bytes)
}

// ---- the authorization request -------------------------------------------------------------------

/// The parameters of an authorization request (OpenID Connect Core §3.1.2.1, RFC 7636 §4.3).
#[derive(Debug, Clone)]
pub struct AuthorizationRequest<'a> {
    /// The provider's authorization endpoint.
    pub endpoint: &'a str,
    /// Our client id.
    pub client_id: &'a str,
    /// Where the provider sends the browser back.
    pub redirect_uri: &'a str,
    /// Space-separated scopes (`openid` first for a sign-in).
    pub scope: &'a str,
    /// Opaque value tying the callback to this request.
    pub state: &'a str,
    /// Value the ID token must carry back.
    pub nonce: &'a str,
    /// The S256 PKCE challenge.
    pub code_challenge: &'a str,
    /// Further parameters (`access_type=offline`, `prompt=consent`, `claims=…`).
    pub extra: &'a [(&'a str, &'a str)],
}

impl AuthorizationRequest<'_> {
    /// The URL to send the browser to.
    pub fn url(&self) -> String {
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", self.client_id),
            ("redirect_uri", self.redirect_uri),
            ("scope", self.scope),
            ("state", self.state),
            ("nonce", self.nonce),
            ("code_challenge", self.code_challenge),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(self.extra);
        let query = params
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let sep = if self.endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{query}", self.endpoint)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (§2.3).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---- the token response ------------------------------------------------------------------------

/// A successful token endpoint response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// The ID token, when `openid` was asked for.
    pub id_token: Option<String>,
    /// A refresh token, when the provider gives one.
    pub refresh_token: Option<String>,
    /// Seconds the access token lives.
    pub expires_in: Option<i64>,
    /// Granted scopes (Google sends a string, Twitch an array).
    pub scopes: Vec<String>,
}

/// Why a token endpoint answer was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenResponseError {
    /// Too large, not JSON, or without an access token.
    #[error("the token response is malformed")]
    Malformed,
    /// The provider answered with an OAuth error (RFC 6749 §5.2): its `error` code.
    #[error("the provider refused the code: {0}")]
    Refused(String),
}

impl TokenResponse {
    /// Parses a token endpoint body. `success` is whether the HTTP status was 2xx.
    pub fn parse(success: bool, body: &[u8]) -> Result<TokenResponse, TokenResponseError> {
        #[derive(Deserialize)]
        struct Raw {
            access_token: Option<String>,
            id_token: Option<String>,
            refresh_token: Option<String>,
            expires_in: Option<i64>,
            scope: Option<serde_json::Value>,
            error: Option<String>,
        }
        if body.len() > MAX_TOKEN_RESPONSE_BYTES {
            return Err(TokenResponseError::Malformed);
        }
        let raw: Raw = serde_json::from_slice(body).map_err(|_| TokenResponseError::Malformed)?;
        if let Some(e) = raw.error {
            // An OAuth error code is a short token of printable ASCII (RFC 6749 §5.2).
            let code: String = e
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect();
            return Err(TokenResponseError::Refused(code));
        }
        if !success {
            return Err(TokenResponseError::Refused("http_error".into()));
        }
        let access_token = raw
            .access_token
            .filter(|t| !t.is_empty() && t.len() <= 4096)
            .ok_or(TokenResponseError::Malformed)?;
        let scopes = match raw.scope {
            Some(serde_json::Value::String(s)) => s.split_whitespace().map(String::from).collect(),
            Some(serde_json::Value::Array(a)) => a
                .into_iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        Ok(TokenResponse {
            access_token,
            id_token: raw.id_token,
            refresh_token: raw
                .refresh_token
                .filter(|t| !t.is_empty() && t.len() <= 4096),
            expires_in: raw.expires_in,
            scopes,
        })
    }
}

// ---- JWKS --------------------------------------------------------------------------------------

/// One RSA signing key of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    /// Key id (`kid`); `None` when the provider gave none.
    pub kid: Option<String>,
    /// Modulus, big-endian.
    pub n: Vec<u8>,
    /// Public exponent, big-endian.
    pub e: Vec<u8>,
}

/// The RS256 keys of a JSON Web Key Set (RFC 7517 §5). Keys of other types or uses are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    /// The usable keys.
    pub keys: Vec<RsaKey>,
}

/// Why a JWKS document was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Too large or not a JWKS.
    #[error("the key set is malformed")]
    Malformed,
}

impl Jwks {
    /// Parses a JWKS document, keeping RSA keys meant for signatures with RS256.
    pub fn parse(body: &[u8]) -> Result<Jwks, JwksError> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::Malformed);
        }
        let doc: Doc = serde_json::from_slice(body).map_err(|_| JwksError::Malformed)?;
        let mut keys = Vec::new();
        for k in doc.keys.iter().take(MAX_JWKS_KEYS) {
            let field = |name: &str| k.get(name).and_then(|v| v.as_str());
            if field("kty") != Some("RSA")
                || field("use").is_some_and(|u| u != "sig")
                || field("alg").is_some_and(|a| a != "RS256")
            {
                continue;
            }
            let (Some(n), Some(e)) = (field("n"), field("e")) else {
                continue;
            };
            let (Ok(n), Ok(e)) = (
                BASE64URL_NOPAD.decode(n.trim_end_matches('=').as_bytes()),
                BASE64URL_NOPAD.decode(e.trim_end_matches('=').as_bytes()),
            ) else {
                continue;
            };
            if n.is_empty() || e.is_empty() || n.len() > 1024 || e.len() > 8 {
                continue;
            }
            keys.push(RsaKey {
                kid: field("kid").map(String::from),
                n,
                e,
            });
        }
        Ok(Jwks { keys })
    }

    fn find(&self, kid: Option<&str>) -> Option<&RsaKey> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            // Without a `kid`, only an unambiguous set names the key.
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }
}

// ---- ID tokens ---------------------------------------------------------------------------------

/// What an ID token must say besides a good signature.
#[derive(Debug, Clone)]
pub struct IdTokenExpect<'a> {
    /// Accepted `iss` values (Google uses `https://accounts.google.com` and
    /// `accounts.google.com`).
    pub issuers: &'a [&'a str],
    /// Our client id: must be in `aud`.
    pub client_id: &'a str,
    /// The nonce sent with the authorization request.
    pub nonce: &'a str,
    /// Now, Unix seconds.
    pub now: i64,
}

/// The claims of a verified ID token that sign-in uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    /// The provider's stable id of the account.
    pub sub: String,
    /// Email, when shared.
    pub email: Option<String>,
    /// Whether the provider verified that email.
    pub email_verified: bool,
    /// Full name, when shared.
    pub name: Option<String>,
    /// Login name (Twitch), when shared.
    pub preferred_username: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

/// Why an ID token was refused. Each has its own words for the person signing in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a compact JWS, too long, or not JSON.
    #[error("the ID token is malformed")]
    Malformed,
    /// The header names an algorithm other than RS256.
    #[error("the ID token is not signed with RS256")]
    UnsupportedAlgorithm,
    /// No key of the provider's set has the token's `kid`.
    #[error("the ID token is signed with an unknown key")]
    UnknownKey,
    /// The signature does not verify with the provider's key.
    #[error("the ID token's signature is not valid")]
    BadSignature,
    /// A required claim is missing or of the wrong type.
    #[error("the ID token's claims are malformed")]
    BadClaims,
    /// `iss` is not the provider.
    #[error("the ID token was issued by someone else")]
    WrongIssuer,
    /// `aud` (or `azp`) is not our client.
    #[error("the ID token was issued for another application")]
    WrongAudience,
    /// `exp` has passed.
    #[error("the ID token has expired")]
    Expired,
    /// `iat` is in the future.
    #[error("the ID token is not valid yet")]
    NotYetValid,
    /// `nonce` differs from the one sent.
    #[error("the ID token belongs to another sign-in")]
    WrongNonce,
}

impl IdTokenError {
    /// A stable short name, for logs, metrics and the web app's messages.
    pub fn reason(&self) -> &'static str {
        match self {
            IdTokenError::Malformed => "malformed",
            IdTokenError::UnsupportedAlgorithm => "algorithm",
            IdTokenError::UnknownKey => "unknown_key",
            IdTokenError::BadSignature => "signature",
            IdTokenError::BadClaims => "claims",
            IdTokenError::WrongIssuer => "issuer",
            IdTokenError::WrongAudience => "audience",
            IdTokenError::Expired => "expired",
            IdTokenError::NotYetValid => "not_yet_valid",
            IdTokenError::WrongNonce => "nonce",
        }
    }
}

/// The header fields we read; others (`typ`, `x5t`) are ignored.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// The `kid` an ID token names, read without verifying anything (to decide whether the key
/// set must be fetched again).
pub fn key_id(token: &str) -> Option<String> {
    if token.len() > MAX_ID_TOKEN_LEN {
        return None;
    }
    let h = token.split('.').next()?;
    let bytes = BASE64URL_NOPAD.decode(h.as_bytes()).ok()?;
    serde_json::from_slice::<Header>(&bytes).ok()?.kid
}

/// Verifies an ID token against the provider's keys and what we expect.
pub fn verify_id_token(
    token: &str,
    jwks: &Jwks,
    expect: &IdTokenExpect<'_>,
) -> Result<IdClaims, IdTokenError> {
    if token.len() > MAX_ID_TOKEN_LEN {
        return Err(IdTokenError::Malformed);
    }
    let jws = crate::jwt::Compact::split(token).ok_or(IdTokenError::Malformed)?;
    let header: Header =
        serde_json::from_slice(&jws.header).map_err(|_| IdTokenError::Malformed)?;
    if header.alg != "RS256" {
        return Err(IdTokenError::UnsupportedAlgorithm);
    }
    let key = jwks
        .find(header.kid.as_deref())
        .ok_or(IdTokenError::UnknownKey)?;
    ring::signature::RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    }
    .verify(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        jws.signing_input,
        &jws.signature,
    )
    .map_err(|_| IdTokenError::BadSignature)?;
    let payload = jws.payload().ok_or(IdTokenError::Malformed)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| IdTokenError::BadClaims)?;
    check_claims(&claims, expect)
}

/// The claim checks of OpenID Connect Core §3.1.3.7, steps 2–4, 9, 10 and 11, on a payload
/// whose signature has been verified.
pub fn check_claims(
    claims: &serde_json::Value,
    expect: &IdTokenExpect<'_>,
) -> Result<IdClaims, IdTokenError> {
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
    let iss = text("iss").ok_or(IdTokenError::BadClaims)?;
    if !expect.issuers.contains(&iss) {
        return Err(IdTokenError::WrongIssuer);
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => vec![a.as_str()],
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
        _ => return Err(IdTokenError::BadClaims),
    };
    if !audiences.contains(&expect.client_id) {
        return Err(IdTokenError::WrongAudience);
    }
    if audiences.len() > 1 && text("azp") != Some(expect.client_id) {
        return Err(IdTokenError::WrongAudience);
    }
    if let Some(azp) = text("azp") {
        if azp != expect.client_id {
            return Err(IdTokenError::WrongAudience);
        }
    }
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_i64())
        .ok_or(IdTokenError::BadClaims)?;
    let iat = claims
        .get("iat")
        .and_then(|v| v.as_i64())
        .ok_or(IdTokenError::BadClaims)?;
    if exp + LEEWAY_SECS <= expect.now {
        return Err(IdTokenError::Expired);
    }
    if iat > expect.now + LEEWAY_SECS {
        return Err(IdTokenError::NotYetValid);
    }
    let nonce = text("nonce").ok_or(IdTokenError::WrongNonce)?;
    if !crate::token::ct_eq(nonce, expect.nonce) {
        return Err(IdTokenError::WrongNonce);
    }
    let sub = text("sub")
        .filter(|s| !s.is_empty() && s.len() <= MAX_SUBJECT_LEN && s.is_ascii())
        .ok_or(IdTokenError::BadClaims)?;
    // Google sends a boolean; some providers send "true".
    let email_verified = match claims.get("email_verified") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true",
        _ => false,
    };
    let short = |name: &str| text(name).filter(|s| s.len() <= 320).map(String::from);
    Ok(IdClaims {
        sub: sub.to_owned(),
        email: short("email"),
        email_verified,
        name: short("name"),
        preferred_username: short("preferred_username"),
        exp,
    })
}

/// The fields of a UserInfo response (OpenID Connect Core §5.3.2) sign-in uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Must equal the ID token's `sub`.
    pub sub: String,
    /// Email, when shared.
    pub email: Option<String>,
    /// Whether the provider verified it.
    pub email_verified: bool,
    /// Login name.
    pub preferred_username: Option<String>,
}

impl UserInfo {
    /// Parses a UserInfo body (bounded like a token response).
    pub fn parse(body: &[u8]) -> Option<UserInfo> {
        if body.len() > MAX_TOKEN_RESPONSE_BYTES {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let text = |name: &str| {
            v.get(name)
                .and_then(|v| v.as_str())
                .filter(|s| s.len() <= 320)
                .map(String::from)
        };
        Some(UserInfo {
            sub: text("sub").filter(|s| !s.is_empty())?,
            email: text("email"),
            email_verified: match v.get("email_verified") {
                Some(serde_json::Value::Bool(b)) => *b,
                Some(serde_json::Value::String(s)) => s == "true",
                _ => false,
            },
            preferred_username: text("preferred_username"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::RsaTestKey;
    use serde_json::json;
    use std::sync::OnceLock;

    fn key() -> &'static RsaTestKey {
        static K: OnceLock<RsaTestKey> = OnceLock::new();
        K.get_or_init(|| RsaTestKey::generate("k1"))
    }

    fn other_key() -> &'static RsaTestKey {
        static K: OnceLock<RsaTestKey> = OnceLock::new();
        K.get_or_init(|| RsaTestKey::generate("k1"))
    }

    const NOW: i64 = 1_800_000_000;

    fn claims() -> serde_json::Value {
        json!({"iss": "https://accounts.google.com", "aud": "client-1", "azp": "client-1",
               "sub": "1234567890", "email": "a@example.com", "email_verified": true,
               "name": "A", "iat": NOW - 10, "exp": NOW + 3600, "nonce": "n-1"})
    }

    fn expect() -> IdTokenExpect<'static> {
        IdTokenExpect {
            issuers: &["https://accounts.google.com", "accounts.google.com"],
            client_id: "client-1",
            nonce: "n-1",
            now: NOW,
        }
    }

    fn jwks() -> Jwks {
        Jwks::parse(json!({"keys": [key().jwk()]}).to_string().as_bytes()).expect("jwks")
    }

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = pkce_verifier();
        assert_eq!(v.len(), 43);
        assert!(v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(pkce_verifier(), v);
    }

    #[test]
    fn authorization_url_carries_every_parameter_encoded() {
        let url = AuthorizationRequest {
            endpoint: "https://accounts.google.com/o/oauth2/v2/auth",
            client_id: "id.apps",
            redirect_uri: "https://x.example/api/auth/google/callback",
            scope: "openid email profile",
            state: "s",
            nonce: "n",
            code_challenge: "c",
            extra: &[("prompt", "select_account")],
        }
        .url();
        assert_eq!(
            url,
            "https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=id.apps&redirect_uri=https%3A%2F%2Fx.example%2Fapi%2Fauth%2Fgoogle%2Fcallback&scope=openid%20email%20profile&state=s&nonce=n&code_challenge=c&code_challenge_method=S256&prompt=select_account"
        );
    }

    #[test]
    fn token_responses_of_both_providers() {
        let google = br#"{"access_token":"ya29.a","expires_in":3599,"scope":"openid https://www.googleapis.com/auth/userinfo.email","token_type":"Bearer","id_token":"x.y.z"}"#;
        let t = TokenResponse::parse(true, google).expect("google");
        assert_eq!(t.id_token.as_deref(), Some("x.y.z"));
        assert_eq!(t.scopes.len(), 2);
        let twitch = br#"{"access_token":"a","expires_in":14124,"id_token":"x.y.z","refresh_token":"r","scope":["openid","user:read:chat"],"token_type":"bearer"}"#;
        let t = TokenResponse::parse(true, twitch).expect("twitch");
        assert_eq!(t.scopes, ["openid", "user:read:chat"]);
        assert_eq!(t.refresh_token.as_deref(), Some("r"));
        assert_eq!(
            TokenResponse::parse(
                false,
                br#"{"error":"invalid_grant","error_description":"Bad Request"}"#
            ),
            Err(TokenResponseError::Refused("invalid_grant".into()))
        );
        assert_eq!(
            TokenResponse::parse(true, b"{}"),
            Err(TokenResponseError::Malformed)
        );
        assert_eq!(
            TokenResponse::parse(false, b"<html>"),
            Err(TokenResponseError::Malformed)
        );
    }

    #[test]
    fn jwks_keeps_rs256_signing_keys_only() {
        let mut ec = json!({"kty": "EC", "crv": "P-256", "kid": "e", "x": "AA", "y": "AA"});
        ec["use"] = json!("sig");
        let mut enc = key().jwk();
        enc["use"] = json!("enc");
        enc["kid"] = json!("enc");
        let doc = json!({"keys": [ec, enc, key().jwk()]}).to_string();
        let set = Jwks::parse(doc.as_bytes()).expect("parses");
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.keys[0].kid.as_deref(), Some("k1"));
        assert!(Jwks::parse(b"[]").is_err());
        assert!(Jwks::parse(&vec![b' '; MAX_JWKS_BYTES + 1]).is_err());
    }

    #[test]
    fn a_good_token_verifies() {
        let t = key().sign_jwt(&claims());
        let c = verify_id_token(&t, &jwks(), &expect()).expect("valid");
        assert_eq!(c.sub, "1234567890");
        assert_eq!(c.email.as_deref(), Some("a@example.com"));
        assert!(c.email_verified);
        assert_eq!(key_id(&t).as_deref(), Some("k1"));
        // The scheme-less Google issuer is accepted too, a string email_verified read.
        let mut c2 = claims();
        c2["iss"] = json!("accounts.google.com");
        c2["email_verified"] = json!("true");
        c2.as_object_mut().expect("object").remove("azp");
        let c = verify_id_token(&key().sign_jwt(&c2), &jwks(), &expect()).expect("valid");
        assert!(c.email_verified);
    }

    #[test]
    fn every_bad_token_is_refused_for_its_reason() {
        let set = jwks();
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut c = claims();
            f(&mut c);
            verify_id_token(&key().sign_jwt(&c), &set, &expect())
        };
        assert_eq!(
            with(&|c| c["aud"] = json!("someone-else")),
            Err(IdTokenError::WrongAudience)
        );
        assert_eq!(
            with(&|c| c["aud"] = json!(["client-1", "other"])),
            Ok(verify_id_token(
                &key().sign_jwt(&{
                    let mut c = claims();
                    c["aud"] = json!(["client-1", "other"]);
                    c
                }),
                &set,
                &expect()
            )
            .expect("azp is ours"))
        );
        assert_eq!(
            with(&|c| {
                c["aud"] = json!(["client-1", "other"]);
                c["azp"] = json!("other");
            }),
            Err(IdTokenError::WrongAudience)
        );
        assert_eq!(
            with(&|c| c["iss"] = json!("https://evil.example")),
            Err(IdTokenError::WrongIssuer)
        );
        assert_eq!(
            with(&|c| c["exp"] = json!(NOW - LEEWAY_SECS)),
            Err(IdTokenError::Expired)
        );
        assert_eq!(
            with(&|c| c["iat"] = json!(NOW + 3600)),
            Err(IdTokenError::NotYetValid)
        );
        assert_eq!(
            with(&|c| c["nonce"] = json!("n-2")),
            Err(IdTokenError::WrongNonce)
        );
        assert_eq!(
            with(&|c| {
                c.as_object_mut().expect("object").remove("nonce");
            }),
            Err(IdTokenError::WrongNonce)
        );
        assert_eq!(
            with(&|c| c["exp"] = json!("1900000000")),
            Err(IdTokenError::BadClaims)
        );
        assert_eq!(
            with(&|c| c["sub"] = json!("")),
            Err(IdTokenError::BadClaims)
        );
        // Signed by another key under the same kid: the signature fails.
        let forged = other_key().sign_jwt(&claims());
        assert_eq!(
            verify_id_token(&forged, &set, &expect()),
            Err(IdTokenError::BadSignature)
        );
        // A tampered payload.
        let good = key().sign_jwt(&claims());
        let parts: Vec<&str> = good.split('.').collect();
        let mut c = claims();
        c["sub"] = json!("admin");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            BASE64URL_NOPAD.encode(c.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(
            verify_id_token(&tampered, &set, &expect()),
            Err(IdTokenError::BadSignature)
        );
        // An unknown kid, and a set with no keys.
        let t = RsaTestKey::with_kid(key(), "k2").sign_jwt(&claims());
        assert_eq!(
            verify_id_token(&t, &set, &expect()),
            Err(IdTokenError::UnknownKey)
        );
        assert_eq!(
            verify_id_token(&good, &Jwks::default(), &expect()),
            Err(IdTokenError::UnknownKey)
        );
        // alg none / HS256 with the public key / anything else.
        for alg in ["none", "HS256", "RS512", "ES256", "rs256"] {
            let h = BASE64URL_NOPAD.encode(json!({"alg": alg, "kid": "k1"}).to_string().as_bytes());
            let t = format!("{h}.{}.{}", parts[1], parts[2]);
            assert_eq!(
                verify_id_token(&t, &set, &expect()),
                Err(IdTokenError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        for junk in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            &"A".repeat(MAX_ID_TOKEN_LEN + 1),
        ] {
            assert!(verify_id_token(junk, &set, &expect()).is_err(), "{junk}");
        }
    }

    #[test]
    fn userinfo_parses() {
        let u = UserInfo::parse(br#"{"aud":"x","exp":1,"iat":1,"iss":"https://id.twitch.tv/oauth2","sub":"713936733","email":"s@example.com","email_verified":true,"preferred_username":"streamer"}"#).expect("parses");
        assert_eq!(u.sub, "713936733");
        assert!(u.email_verified);
        assert!(UserInfo::parse(b"{}").is_none());
    }

    proptest::proptest! {
        #[test]
        fn verification_never_panics(s in "\\PC{0,400}") {
            let _ = verify_id_token(&s, &jwks(), &expect());
            let _ = key_id(&s);
        }

        #[test]
        fn jwks_and_token_parsing_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = Jwks::parse(&b);
            let _ = TokenResponse::parse(true, &b);
            let _ = UserInfo::parse(&b);
        }

        #[test]
        fn claims_checks_never_accept_another_nonce_or_audience(nonce in "[a-zA-Z0-9]{1,20}", aud in "[a-z0-9-]{1,20}") {
            let mut c = claims();
            c["nonce"] = json!(nonce.clone());
            c["aud"] = json!(aud.clone());
            c.as_object_mut().expect("object").remove("azp");
            let r = check_claims(&c, &expect());
            proptest::prop_assert_eq!(r.is_ok(), nonce == "n-1" && aud == "client-1");
        }

        #[test]
        fn pkce_challenge_is_43_base64url_characters(v in "[A-Za-z0-9._~-]{43,128}") {
            let c = pkce_challenge(&v);
            proptest::prop_assert_eq!(c.len(), 43);
            proptest::prop_assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
    }
}
