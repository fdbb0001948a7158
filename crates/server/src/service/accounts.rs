//! Accounts: password hashing, sessions and their tokens, the caller behind a bearer
//! credential, per-account guards against guessing, emailed codes, TOTP and recovery codes.

use super::clock::SharedClock;
use super::hashing::{HashError, HashPool};
use super::vault::{Sealed, Vault};
use crate::metrics::Metrics;
use ferrocast_auth::secretbox::derive_key;
use ferrocast_auth::{jwt, token, totp};
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::{Db, DbError};
use ferrocast_domain::account::{self, Guarded, Role, Scope};
use ferrocast_domain::mail::{Mail, Mailer};
use std::sync::Arc;

/// Access tokens live this long (15 minutes).
pub const ACCESS_TTL_SECS: i64 = 15 * 60;
/// Refresh tokens (and idle sessions) live this long.
pub const REFRESH_TTL_MS: i64 = 30 * 24 * 3600 * 1000;
/// A browser session's cookie token starts with this.
pub const COOKIE_TOKEN_PREFIX: &str = "fcs_";
/// Audience of access tokens.
pub const AUDIENCE: &str = "ferrocast-api";
/// API keys start with this, which tells them apart from JWTs (which start with `eyJ`).
pub const API_KEY_PREFIX: &str = "fck_";
/// Emailed codes expire after this long.
pub const EMAIL_CODE_TTL_MS: i64 = 15 * 60 * 1000;
/// Wrong guesses allowed per emailed code or login challenge before it is void.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// Emailed codes per account and purpose per hour.
pub const MAX_CODES_PER_HOUR: i64 = 5;
/// The purpose of a code that confirms an email address.
pub const PURPOSE_VERIFY: &str = "verify_email";
/// The purpose of a code that resets a password.
pub const PURPOSE_RESET: &str = "reset_password";

/// Why an account operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The credential is missing, unknown or no longer valid; the text says what to do.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The account's `kind` of credential is locked for `wait_ms` more.
    #[error("the account is locked for {wait_ms} ms")]
    Locked {
        /// What was guessed.
        kind: Guarded,
        /// How long the lock still holds.
        wait_ms: i64,
    },
    /// The confirming password is wrong.
    #[error("the password is wrong")]
    WrongPassword,
    /// An administrator suspended the account.
    #[error("the account is suspended")]
    Suspended,
    /// The role does not allow it; the text says what it needs.
    #[error("{0}")]
    Forbidden(String),
    /// The credential lacks a scope; the text says which.
    #[error("{0}")]
    InsufficientScope(String),
    /// The hashing pool is busy or stopped.
    #[error(transparent)]
    Hashing(#[from] HashError),
    /// A stored value is not what it must be (a bug or tampering).
    #[error("{0}")]
    Internal(String),
}

/// Keys derived from the master key, one per purpose.
pub struct Keys {
    /// Signs access tokens.
    pub jwt: [u8; 32],
    /// Keys the hashes of emailed and recovery codes.
    pub codes: [u8; 32],
    /// Keys the CSRF token bound to a browser session's cookie.
    pub csrf: [u8; 32],
}

impl Keys {
    /// Derives the account keys from the master key.
    pub fn derive(master: &[u8; 32]) -> Self {
        Self {
            jwt: derive_key(master, "jwt-hs256"),
            codes: derive_key(master, "code-hmac"),
            csrf: derive_key(master, "csrf-hmac"),
        }
    }
}

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An access token from login; carries every scope the role allows.
    Session {
        /// The session (refresh-token family) UUID.
        session_uuid: String,
    },
    /// An API key with its own scopes.
    ApiKey {
        /// Key row id.
        key_id: i64,
        /// Granted scopes.
        scopes: Vec<Scope>,
    },
}

/// The authenticated caller, loaded fresh from the database on each request (a revoked session,
/// a changed role or a deleted user takes effect at once).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user.
    pub user: UserRecord,
    /// Parsed role.
    pub role: Role,
    /// How they authenticated.
    pub credential: Credential,
}

impl AuthUser {
    /// Whether the credential carries `scope` (sessions carry every scope their role allows).
    pub fn has_scope(&self, scope: Scope) -> bool {
        scope.allowed_for(self.role)
            && match &self.credential {
                Credential::Session { .. } => true,
                Credential::ApiKey { scopes, .. } => scopes.contains(&scope),
            }
    }

    /// Refuses unless the credential carries `scope` and the role allows it.
    pub fn require(&self, scope: Scope) -> Result<(), AccountsError> {
        if !scope.allowed_for(self.role) {
            return Err(AccountsError::Forbidden(format!(
                "This needs the {} role.",
                Role::Admin
            )));
        }
        if self.has_scope(scope) {
            return Ok(());
        }
        Err(AccountsError::InsufficientScope(format!(
            "This API key lacks the `{}` scope; create a key with it in Settings, or log in.",
            scope.as_str()
        )))
    }

    /// Refuses API keys: some actions (managing keys, two-factor, logout) need a login session.
    pub fn require_session(&self) -> Result<&str, AccountsError> {
        match &self.credential {
            Credential::Session { session_uuid } => Ok(session_uuid),
            Credential::ApiKey { .. } => Err(AccountsError::InsufficientScope(
                "Log in with your password for this; API keys cannot do it.".into(),
            )),
        }
    }

    /// Whether the caller may read secret stream keys: a login session, or a key granted
    /// `sources:write` (which could rotate the key and read the new one anyway).
    pub fn may_see_stream_keys(&self) -> bool {
        matches!(self.credential, Credential::Session { .. }) || self.has_scope(Scope::SourcesWrite)
    }

    /// Whether the caller acts as an administrator: the admin role, through a session or an API
    /// key granted the `admin` scope. An administrator's key without that scope acts as any
    /// other user (its own objects only).
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin && self.has_scope(Scope::Admin)
    }

    /// Refuses unless the user's role satisfies `role` (see [`Role::satisfies`]); passing as an
    /// administrator when the role itself is not asked for takes the `admin` scope.
    pub fn require_role(&self, role: Role) -> Result<(), AccountsError> {
        if !self.role.satisfies(role) {
            return Err(AccountsError::Forbidden(format!(
                "This needs the {role} role."
            )));
        }
        if self.role == Role::Admin && role != Role::Viewer {
            return self.require(Scope::Admin);
        }
        Ok(())
    }
}

/// Tokens handed to a client after login.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// JWT access token.
    pub access_token: String,
    /// Opaque refresh token.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// Outcome of checking a TOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// The code is right and its time step was not used before.
    Accepted,
    /// Right code, but its 30-second step was already used.
    AlreadyUsed,
    /// Wrong code (or no two-factor set up).
    Wrong,
}

/// The accounts service.
pub struct Accounts {
    db: Db,
    keys: Keys,
    vault: Arc<Vault>,
    mailer: Arc<dyn Mailer>,
    hashing: HashPool,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    /// The issuer of access tokens (the node's public URL).
    issuer: String,
}

impl Accounts {
    /// The service over its dependencies.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        keys: Keys,
        vault: Arc<Vault>,
        mailer: Arc<dyn Mailer>,
        hashing: HashPool,
        clock: SharedClock,
        metrics: Arc<Metrics>,
        issuer: String,
    ) -> Self {
        Self {
            db,
            keys,
            vault,
            mailer,
            hashing,
            clock,
            metrics,
            issuer,
        }
    }

    /// Hashes a password on the hashing pool.
    pub async fn hash_password(&self, pw: String) -> Result<String, AccountsError> {
        Ok(self.hashing.hash(pw).await?)
    }

    /// Verifies a password; with no stored hash, spends the same time on a dummy and fails.
    pub async fn verify_password(
        &self,
        pw: String,
        stored: Option<String>,
    ) -> Result<bool, AccountsError> {
        Ok(self.hashing.verify(pw, stored).await?)
    }

    /// Signs an access token for a session.
    pub fn access_token(&self, user: &UserRecord, session_uuid: &str) -> String {
        let now = self.clock.now_secs();
        jwt::encode(
            &self.keys.jwt,
            &jwt::Claims {
                iss: self.issuer.clone(),
                aud: AUDIENCE.into(),
                sub: user.id.to_string(),
                typ: "access".into(),
                sid: session_uuid.into(),
                role: user.role.clone(),
                iat: now,
                nbf: now,
                exp: now + ACCESS_TTL_SECS,
                jti: uuid::Uuid::new_v4().to_string(),
            },
        )
    }

    /// Starts a session and returns its first token pair; refused for a suspended account.
    pub async fn start_session(
        &self,
        user: &UserRecord,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<IssuedTokens, AccountsError> {
        Ok(self.open_session(user, ip, user_agent).await?.0)
    }

    /// Starts a session; its tokens and UUID.
    async fn open_session(
        &self,
        user: &UserRecord,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(IssuedTokens, String), AccountsError> {
        refuse_suspended(user)?;
        let now = self.clock.now_ms();
        let session_uuid = uuid::Uuid::new_v4().to_string();
        let refresh = token::generate("fcr_");
        let ua = user_agent.map(|u| u.chars().take(256).collect::<String>());
        self.db
            .create_session(
                &session_uuid,
                user.id,
                &token::hash(&refresh),
                now + REFRESH_TTL_MS,
                ip.as_deref(),
                ua.as_deref(),
                now,
            )
            .await?;
        let tokens = IssuedTokens {
            access_token: self.access_token(user, &session_uuid),
            refresh_token: refresh,
            expires_in: ACCESS_TTL_SECS,
        };
        Ok((tokens, session_uuid))
    }

    /// Starts a browser session: the tokens (the refresh token is not handed out; the cookie
    /// takes its place) and the cookie's token, whose hash the session keeps.
    pub async fn start_cookie_session(
        &self,
        user: &UserRecord,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(IssuedTokens, String), AccountsError> {
        let (mut tokens, sid) = self.open_session(user, ip, user_agent).await?;
        // The refresh token is never handed out; the cookie takes its place.
        tokens.refresh_token = String::new();
        let cookie = token::generate(COOKIE_TOKEN_PREFIX);
        self.db
            .set_session_cookie(&sid, &token::hash(&cookie))
            .await?;
        Ok((tokens, cookie))
    }

    /// The CSRF token bound to a cookie token: HMAC-SHA256 under the CSRF key, base64url. A
    /// page reads it from the `ferrocast_csrf` cookie (or a login's answer) and sends it as
    /// `X-CSRF-Token`; another site can neither read nor forge it.
    pub fn csrf_token(&self, cookie: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.keys.csrf)
            .expect("invariant: HMAC accepts any key length");
        mac.update(cookie.as_bytes());
        data_encoding::BASE64URL_NOPAD.encode(&mac.finalize().into_bytes())
    }

    /// Whether `presented` is the CSRF token of `cookie` (compared in constant time).
    pub fn csrf_matches(&self, cookie: &str, presented: &str) -> bool {
        let expected = self.csrf_token(cookie);
        expected.len() == presented.len()
            && expected
                .bytes()
                .zip(presented.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// The live session a browser cookie names, with its user: `(session id, caller)`.
    pub async fn authenticate_cookie(
        &self,
        cookie: &str,
    ) -> Result<(i64, AuthUser), AccountsError> {
        let refused = AccountsError::Unauthenticated(
            "The session cookie is not valid or its session ended; log in again.",
        );
        if cookie.len() > 128 || !cookie.starts_with(COOKIE_TOKEN_PREFIX) {
            return Err(refused);
        }
        let now = self.clock.now_ms();
        let (id, session_uuid, user_id) = self
            .db
            .session_by_cookie(&token::hash(cookie), now)
            .await?
            .ok_or(refused)?;
        let user = self
            .db
            .user_for_session(user_id, &session_uuid, now)
            .await?
            .ok_or(AccountsError::Unauthenticated(
                "The session has ended; log in again.",
            ))?;
        refuse_suspended(&user)?;
        let role = parse_role(&user.role)?;
        Ok((
            id,
            AuthUser {
                user,
                role,
                credential: Credential::Session { session_uuid },
            },
        ))
    }

    /// A new access token for a browser session, whose end moves to [`REFRESH_TTL_MS`] from
    /// now (the cookie itself is not rotated: every tab shares it).
    pub async fn refresh_cookie(
        &self,
        cookie: &str,
    ) -> Result<(UserRecord, IssuedTokens), AccountsError> {
        let (id, auth) = self.authenticate_cookie(cookie).await?;
        self.db
            .extend_session(id, self.clock.now_ms() + REFRESH_TTL_MS)
            .await?;
        let Credential::Session { session_uuid } = &auth.credential else {
            return Err(AccountsError::Internal(
                "invariant: a cookie is a session".into(),
            ));
        };
        let tokens = IssuedTokens {
            access_token: self.access_token(&auth.user, session_uuid),
            refresh_token: String::new(),
            expires_in: ACCESS_TTL_SECS,
        };
        Ok((auth.user, tokens))
    }

    /// Whether the caller's credential still holds: its session not ended, its key not revoked
    /// or expired (long-lived responses check this as they go).
    pub async fn credential_valid(&self, auth: &AuthUser) -> Result<bool, AccountsError> {
        let now = self.clock.now_ms();
        Ok(match &auth.credential {
            Credential::Session { session_uuid } => self
                .db
                .user_for_session(auth.user.id, session_uuid, now)
                .await?
                .is_some(),
            Credential::ApiKey { key_id, .. } => {
                self.db.api_key_active(*key_id, auth.user.id, now).await?
                    && self
                        .db
                        .user_by_id(auth.user.id)
                        .await?
                        .is_some_and(|u| u.suspended_at.is_none())
            }
        })
    }

    /// Resolves a bearer token (access JWT or API key) to the caller.
    pub async fn authenticate(&self, bearer: &str) -> Result<AuthUser, AccountsError> {
        let now = self.clock.now_ms();
        if bearer.starts_with(API_KEY_PREFIX) {
            if bearer.len() > 128 {
                return Err(AccountsError::Unauthenticated("The API key is not valid."));
            }
            let (key, user) = self
                .db
                .api_key_with_user(&token::hash(bearer), now)
                .await?
                .ok_or(AccountsError::Unauthenticated(
                    "The API key is unknown, revoked or expired.",
                ))?;
            refuse_suspended(&user)?;
            self.db.touch_api_key(key.id, now).await?;
            let role = parse_role(&user.role)?;
            let scopes = key
                .scopes
                .split_whitespace()
                .filter_map(Scope::parse)
                .collect();
            return Ok(AuthUser {
                user,
                role,
                credential: Credential::ApiKey {
                    key_id: key.id,
                    scopes,
                },
            });
        }
        let expect = jwt::Expect {
            issuer: &self.issuer,
            audience: AUDIENCE,
            typ: "access",
            now: now.div_euclid(1000),
        };
        let claims = jwt::decode(&self.keys.jwt, bearer, &expect).map_err(|e| {
            tracing::debug!(reason = %e, "access token refused");
            match e {
                jwt::TokenError::Expired => AccountsError::Unauthenticated(
                    "The access token has expired; get a new one from /api/auth/refresh.",
                ),
                _ => AccountsError::Unauthenticated("The access token is not valid."),
            }
        })?;
        let user_id: i64 = claims
            .sub
            .parse()
            .map_err(|_| AccountsError::Unauthenticated("The access token is not valid."))?;
        let user = self
            .db
            .user_for_session(user_id, &claims.sid, now)
            .await?
            .ok_or(AccountsError::Unauthenticated(
                "The session has ended; log in again.",
            ))?;
        refuse_suspended(&user)?;
        let role = parse_role(&user.role)?;
        Ok(AuthUser {
            user,
            role,
            credential: Credential::Session {
                session_uuid: claims.sid,
            },
        })
    }

    /// Refuses while the account's `kind` of credential is locked.
    pub async fn guard_open(&self, user: &UserRecord, kind: Guarded) -> Result<(), AccountsError> {
        let now = self.clock.now_ms();
        match self
            .db
            .account_locked_until(user.id, kind.as_str(), now)
            .await?
        {
            Some(until) => Err(AccountsError::Locked {
                kind,
                wait_ms: until - now,
            }),
            None => Ok(()),
        }
    }

    /// Counts a failure of `kind` against the account, whatever address it came from; the
    /// failure that locks it tells the owner by email.
    pub async fn guard_failed(
        &self,
        user: &UserRecord,
        kind: Guarded,
    ) -> Result<(), AccountsError> {
        let now = self.clock.now_ms();
        let locked = self
            .db
            .record_account_failure(
                user.id,
                kind.as_str(),
                now,
                account::GUARD_WINDOW_MS,
                account::GUARD_MAX_FAILURES,
                account::GUARD_LOCK_MS,
            )
            .await?;
        if locked.is_some() {
            tracing::warn!(
                user_id = user.id,
                kind = kind.as_str(),
                "account locked after repeated failures"
            );
            self.metrics.rate_limited("account_lock");
            self.mail(Mail {
                to: user.email.clone(),
                subject: "Sign-in attempts on your ferrocast account were paused".into(),
                body: format!(
                    "Someone entered {} wrong {} for your ferrocast account within {} minutes, so \
                     we paused them for {} minutes. If it was you, wait and try again, or reset \
                     your password. If it was not, your account is safe as long as your password \
                     is strong and unique; consider changing it and turning on two-factor \
                     authentication.",
                    account::GUARD_MAX_FAILURES,
                    kind.describe(),
                    account::GUARD_WINDOW_MS / 60_000,
                    account::GUARD_LOCK_MS / 60_000,
                ),
                headers: Vec::new(),
            });
        }
        Ok(())
    }

    /// Forgets the account's failures of `kind` after a success.
    pub async fn guard_passed(
        &self,
        user: &UserRecord,
        kind: Guarded,
    ) -> Result<(), AccountsError> {
        Ok(self
            .db
            .clear_account_failures(user.id, kind.as_str(), self.clock.now_ms())
            .await?)
    }

    /// Sends mail in the background, so the response time does not depend on the mail server
    /// (nor reveal, for forgot-password, whether the account exists).
    fn mail(&self, mail: Mail) {
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(mail).await {
                tracing::warn!(error = %e, "account mail failed");
            }
        });
    }

    fn send_code(&self, user: &UserRecord, purpose: &'static str, code: String) {
        let (subject, body) = match purpose {
            PURPOSE_VERIFY => (
                "Confirm your email",
                format!("Your ferrocast verification code is {code}. It expires in 15 minutes."),
            ),
            _ => (
                "Reset your password",
                format!("Your ferrocast password reset code is {code}. It expires in 15 minutes. If you did not ask for it, ignore this email."),
            ),
        };
        self.mail(Mail {
            to: user.email.clone(),
            subject: subject.into(),
            body,
            headers: Vec::new(),
        });
    }

    /// Issues and mails a new code, unless the account already had [`MAX_CODES_PER_HOUR`] for
    /// this purpose in the last hour (returns false then; each code allows five guesses, so
    /// this caps guessing per account whatever the number of attacking addresses).
    pub async fn issue_code(
        &self,
        user: &UserRecord,
        purpose: &'static str,
    ) -> Result<bool, AccountsError> {
        let now = self.clock.now_ms();
        if self
            .db
            .count_codes_since(user.id, purpose, now - 3_600_000)
            .await?
            >= MAX_CODES_PER_HOUR
        {
            tracing::warn!(
                user_id = user.id,
                purpose,
                "code not issued: hourly cap reached"
            );
            return Ok(false);
        }
        let code = token::numeric_code(6);
        self.db
            .create_code(
                user.id,
                purpose,
                &token::keyed_hash(&self.keys.codes, purpose, &code),
                now + EMAIL_CODE_TTL_MS,
                now,
            )
            .await?;
        self.send_code(user, purpose, code);
        Ok(true)
    }

    /// Checks an emailed code, counting wrong guesses; spends it on success.
    pub async fn consume_code(
        &self,
        user_id: i64,
        purpose: &'static str,
        code: &str,
    ) -> Result<bool, AccountsError> {
        let now = self.clock.now_ms();
        let Some(rec) = self.db.active_code(user_id, purpose, now).await? else {
            return Ok(false);
        };
        // Take a guess first, atomically, so parallel guesses cannot exceed the limit.
        if !self.db.take_code_attempt(rec.id, MAX_CODE_ATTEMPTS).await? {
            return Ok(false);
        }
        let presented = token::keyed_hash(&self.keys.codes, purpose, code.trim());
        if !token::ct_eq(&presented, &rec.code_hash) {
            return Ok(false);
        }
        Ok(self.db.use_code(rec.id, now).await?)
    }

    /// Re-checks the password of a logged-in user before a sensitive change.
    pub async fn confirm_password(
        &self,
        auth: &AuthUser,
        password: String,
    ) -> Result<(), AccountsError> {
        if password.len() > account::MAX_PASSWORD_BYTES
            || !self
                .verify_password(password, auth.user.password_hash.clone())
                .await?
        {
            return Err(AccountsError::WrongPassword);
        }
        Ok(())
    }

    /// Seals a new TOTP secret for `user_id`.
    pub fn seal_totp(&self, user_id: i64, secret: &[u8]) -> String {
        self.vault.seal(Sealed::Totp(user_id), secret)
    }

    fn totp_secret(&self, user: &UserRecord, sealed: &str) -> Result<Vec<u8>, AccountsError> {
        self.vault
            .open(Sealed::Totp(user.id), sealed)
            .map_err(|e| AccountsError::Internal(e.to_string()))
    }

    /// The time step a code of the pending (not yet enabled) TOTP secret `sealed` matches.
    pub fn pending_totp_step(
        &self,
        user: &UserRecord,
        sealed: &str,
        code: &str,
    ) -> Result<Option<u64>, AccountsError> {
        let secret = self.totp_secret(user, sealed)?;
        Ok(totp::verify(&secret, code, self.clock.now_secs()))
    }

    /// Accepts a TOTP code of the user's enabled secret once.
    pub async fn check_totp(
        &self,
        user: &UserRecord,
        code: &str,
    ) -> Result<TotpCheck, AccountsError> {
        let Some(sealed) = &user.totp_secret else {
            return Ok(TotpCheck::Wrong);
        };
        let secret = self.totp_secret(user, sealed)?;
        match totp::verify(&secret, code, self.clock.now_secs()) {
            Some(step) if self.db.use_totp_step(user.id, step as i64).await? => {
                Ok(TotpCheck::Accepted)
            }
            Some(_) => Ok(TotpCheck::AlreadyUsed),
            None => Ok(TotpCheck::Wrong),
        }
    }

    /// Keyed hash of a recovery code as stored.
    pub fn recovery_hash(&self, code: &str) -> String {
        token::keyed_hash(
            &self.keys.codes,
            "recovery",
            &token::normalize_recovery_code(code),
        )
    }

    /// Spends a recovery code of the user's; whether it was one.
    pub async fn check_recovery_code(
        &self,
        user: &UserRecord,
        code: &str,
    ) -> Result<bool, AccountsError> {
        let presented = self.recovery_hash(code);
        let mut matched = None;
        for (id, hash) in self.db.unused_recovery_codes(user.id).await? {
            if token::ct_eq(&presented, &hash) {
                matched = Some(id);
            }
        }
        match matched {
            Some(id) => Ok(self.db.use_recovery_code(id, self.clock.now_ms()).await?),
            None => Ok(false),
        }
    }
}

/// Refuses a suspended account: it cannot log in, and its sessions and keys are refused.
pub fn refuse_suspended(user: &UserRecord) -> Result<(), AccountsError> {
    match user.suspended_at {
        Some(_) => Err(AccountsError::Suspended),
        None => Ok(()),
    }
}

fn parse_role(s: &str) -> Result<Role, AccountsError> {
    Role::parse(s).ok_or_else(|| AccountsError::Internal(format!("unknown role {s:?} in database")))
}
