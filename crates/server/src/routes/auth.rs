//! Accounts: register, login (with an optional TOTP second step), refresh, logout, me, email
//! verification, password reset, two-factor setup, API keys, and the nginx `auth_request` probe.
//! Shapes follow `seeds/neustream-architecture.md` ("Authentication Endpoints"), extended with
//! rotating refresh tokens.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, Authenticated, ClientIp, API_KEY_PREFIX};
use crate::state::{now_secs, AppState, IssuedTokens};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_auth::{token, totp};
use ferrocast_db::accounts::{ApiKeyRecord, NewUser, Rotation, UserRecord};
use ferrocast_db::{now_ms, DbError};
use ferrocast_domain::account::{self, Guarded, Role, Scope};
use ferrocast_domain::mail::Mail;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Emailed codes expire after this long.
const EMAIL_CODE_TTL_MS: i64 = 15 * 60 * 1000;
/// Wrong guesses allowed per emailed code or login challenge before it is void.
const MAX_CODE_ATTEMPTS: i64 = 5;
/// A login's second step must complete within this time.
const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
/// Recovery codes issued when two-factor is enabled.
const RECOVERY_CODES: usize = 10;
/// Active API keys per user.
const MAX_API_KEYS: usize = 50;
/// Longest opaque token accepted in a body (refresh tokens, challenges, codes).
const MAX_TOKEN_LEN: usize = 128;
/// Emailed codes per account and purpose per hour.
const MAX_CODES_PER_HOUR: i64 = 5;

const PURPOSE_VERIFY: &str = "verify_email";
const PURPOSE_RESET: &str = "reset_password";

// ---- shapes ------------------------------------------------------------------------------------

/// A user as the API shows it (never the password hash or secrets).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Integer id.
    pub id: i64,
    /// Public UUID.
    pub uuid: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// `viewer`, `creator`, `brand`, `moderator` or `admin`.
    pub role: String,
    /// Whether the email was confirmed.
    pub email_verified: bool,
    /// Whether login asks for a TOTP code.
    pub two_factor_enabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id,
            uuid: u.uuid.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            avatar_url: u.avatar_url.clone(),
            role: u.role.clone(),
            email_verified: u.email_verified,
            two_factor_enabled: u.totp_enabled,
            created_at: rfc3339(u.created_at),
        }
    }
}

/// A session's tokens with the user. `token` equals `access_token` (the seed's name).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    /// The user.
    pub user: UserView,
    /// Access token (seed compatibility).
    pub token: String,
    /// Access token: a 15-minute JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque refresh token, single use: every refresh returns a new one.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

fn auth_response(user: &UserRecord, t: IssuedTokens) -> AuthResponse {
    AuthResponse {
        user: user.into(),
        token: t.access_token.clone(),
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        token_type: "Bearer".into(),
        expires_in: t.expires_in,
    }
}

/// Login's answer when two-factor is on: no tokens yet, a challenge for the second step.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequired {
    /// Always true.
    pub mfa_required: bool,
    /// Send this with a code to `/api/auth/login/2fa` within 5 minutes.
    pub mfa_token: String,
    /// Accepted second factors: `totp`, `recovery_code`.
    pub methods: Vec<String>,
}

/// A plain acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    /// What happened.
    pub message: String,
}

fn message(m: &str) -> Json<Message> {
    Json(Message { message: m.into() })
}

/// Register body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email; used to log in.
    #[schema(example = "user@example.com")]
    pub email: String,
    /// At least 8 characters.
    #[schema(example = "password123")]
    pub password: String,
    /// Name shown to others.
    #[schema(example = "John Doe")]
    pub display_name: String,
    /// `viewer`, `creator` (default) or `brand`.
    pub role: Option<String>,
}

/// Login body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// Second login step.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login2faRequest {
    /// From the login response.
    pub mfa_token: String,
    /// Six-digit code from the authenticator app.
    pub code: Option<String>,
    /// Or one of the recovery codes.
    pub recovery_code: Option<String>,
}

/// Refresh body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The current refresh token; it is spent by this call.
    pub refresh_token: String,
}

/// Verify-email body (the seed's shape).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// Email.
    pub email: String,
    /// Six-digit code from the email.
    #[schema(example = "123456")]
    pub verification_code: String,
}

/// Forgot-password body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    /// Email.
    pub email: String,
}

/// Reset-password body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// Email.
    pub email: String,
    /// Six-digit code from the email.
    pub code: String,
    /// New password.
    pub new_password: String,
}

/// Change-password body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// Current password.
    pub current_password: String,
    /// New password.
    pub new_password: String,
}

/// Two-factor setup answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpSetup {
    /// Base32 secret, for manual entry.
    pub secret: String,
    /// `otpauth://totp/…` URI, for a QR code.
    pub otpauth_uri: String,
}

/// Confirm two-factor setup.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnable {
    /// Six digits from the authenticator.
    pub code: String,
    /// Current password: a stolen access token alone cannot lock the owner out.
    pub password: String,
}

/// Answer to enabling two-factor.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnabled {
    /// Always true.
    pub enabled: bool,
    /// Single-use codes for when the authenticator is lost. Shown once.
    pub recovery_codes: Vec<String>,
}

/// Disable two-factor.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpDisable {
    /// Current password.
    pub password: String,
    /// A current TOTP code or a recovery code.
    pub code: String,
}

/// Create an API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label, e.g. "OBS plugin".
    pub name: String,
    /// Scopes: `profile:read`, `sources:read`, `sources:write`, `streams:read`, `streams:write`,
    /// `chat:write`, `admin` (admins only).
    pub scopes: Vec<String>,
    /// Expire after this many days (1–3650); none by default.
    pub expires_in_days: Option<i64>,
    /// Current password: a stolen access token alone cannot mint a lasting key.
    pub password: String,
}

/// An API key as listed (never the key).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Integer id.
    pub id: i64,
    /// UUID, used to revoke.
    pub uuid: String,
    /// Label.
    pub name: String,
    /// First characters of the key.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_used_at: Option<String>,
    /// RFC 3339.
    pub expires_at: Option<String>,
    /// RFC 3339.
    pub revoked_at: Option<String>,
}

impl From<&ApiKeyRecord> for ApiKeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id,
            uuid: k.uuid.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.split_whitespace().map(String::from).collect(),
            created_at: rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(rfc3339),
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// A new API key: the only time the key is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key's record.
    pub api_key: ApiKeyView,
    /// The secret key; store it now, it cannot be shown again.
    pub key: String,
}

/// API keys of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Newest first.
    pub api_keys: Vec<ApiKeyView>,
}

/// `?role=` for the auth_request probe.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct VerifyQuery {
    /// Require at least this role (admin passes every check).
    pub role: Option<String>,
}

// ---- helpers -----------------------------------------------------------------------------------

/// Formats Unix milliseconds as RFC 3339 UTC with millisecond precision (one formatter for
/// the API and HLS `EXT-X-PROGRAM-DATE-TIME`).
pub fn rfc3339(ms: i64) -> String {
    ferrocast_media::hls::format_rfc3339_ms(ms)
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

fn bounded(field: &'static str, value: &str) -> ApiResult<()> {
    if value.len() > MAX_TOKEN_LEN {
        return Err(ApiError::validation(format!(
            "{field}: is too long to be a valid value"
        )));
    }
    Ok(())
}

/// Outcome of checking a TOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TotpCheck {
    Accepted,
    /// Right code, but its 30-second step was already used.
    AlreadyUsed,
    Wrong,
}

fn code_already_used() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "CODE_ALREADY_USED",
        "This code was already used",
        "Each authenticator code works once; wait for the next one (up to 30 seconds) and try again.",
    )
}

fn invalid_code() -> ApiError {
    ApiError::bad_request(
        "INVALID_CODE",
        "The code is wrong or has expired",
        "Request a new code and try again.",
    )
}

/// 429 while an account's `kind` of credential is locked.
fn account_locked(kind: Guarded, wait_ms: i64) -> ApiError {
    let minutes = (wait_ms + 59_999) / 60_000;
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "ACCOUNT_LOCKED",
        "Too many failed attempts for this account",
        format!(
            "After repeated wrong {} this account is locked for {minutes} more minute(s); \
             its owner was told by email. Try again later, or reset the password by email.",
            kind.describe()
        ),
    );
    e.retry_after = Some((wait_ms / 1000).max(1) as u64);
    e
}

impl AppState {
    /// Refuses while the account's `kind` of credential is locked.
    async fn guard_open(&self, user: &UserRecord, kind: Guarded) -> ApiResult<()> {
        let now = now_ms();
        match self
            .db
            .account_locked_until(user.id, kind.as_str(), now)
            .await?
        {
            Some(until) => Err(account_locked(kind, until - now)),
            None => Ok(()),
        }
    }

    /// Counts a failure of `kind` against the account, whatever address it came from; the
    /// failure that locks it tells the owner by email.
    async fn guard_failed(&self, user: &UserRecord, kind: Guarded) -> ApiResult<()> {
        let now = now_ms();
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
            let mail = Mail {
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
            };
            let mailer = self.mailer.clone();
            tokio::spawn(async move {
                if let Err(e) = mailer.send(mail).await {
                    tracing::warn!(error = %e, "account mail failed");
                }
            });
        }
        Ok(())
    }

    /// Forgets the account's failures of `kind` after a success.
    async fn guard_passed(&self, user: &UserRecord, kind: Guarded) -> ApiResult<()> {
        Ok(self
            .db
            .clear_account_failures(user.id, kind.as_str(), now_ms())
            .await?)
    }

    /// Sends a code by mail in the background, so the response time does not depend on the mail
    /// server (nor reveal, for forgot-password, whether the account exists).
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
        let mail = Mail {
            to: user.email.clone(),
            subject: subject.into(),
            body,
        };
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(mail).await {
                tracing::warn!(error = %e, "account mail failed");
            }
        });
    }

    /// Issues and mails a new code, unless the account already had [`MAX_CODES_PER_HOUR`] for
    /// this purpose in the last hour (returns false then; each code allows five guesses, so
    /// this caps guessing per account whatever the number of attacking addresses).
    async fn issue_code(&self, user: &UserRecord, purpose: &'static str) -> ApiResult<bool> {
        let now = now_ms();
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
    async fn consume_code(
        &self,
        user_id: i64,
        purpose: &'static str,
        code: &str,
    ) -> ApiResult<bool> {
        let now = now_ms();
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

    /// Re-checks the password of a logged-in user before a sensitive change, under the
    /// credential rate limit.
    async fn confirm_password(
        &self,
        ip: std::net::IpAddr,
        auth: &AuthUser,
        password: String,
    ) -> ApiResult<()> {
        self.limit_auth(ip)?;
        if password.len() > account::MAX_PASSWORD_BYTES
            || !self
                .verify_password(password, auth.user.password_hash.clone())
                .await?
        {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_PASSWORD",
                "The password is wrong",
                "Enter your current password to confirm this change.",
            ));
        }
        Ok(())
    }

    fn totp_secret(&self, user: &UserRecord, sealed: &str) -> ApiResult<Vec<u8>> {
        self.keys
            .secrets
            .open(&format!("users.totp:{}", user.id), sealed)
            .map_err(ApiError::internal)
    }

    /// Accepts a TOTP code once: the time step is recorded so the same code never works twice.
    async fn check_totp(&self, user: &UserRecord, code: &str) -> ApiResult<TotpCheck> {
        let Some(sealed) = &user.totp_secret else {
            return Ok(TotpCheck::Wrong);
        };
        let secret = self.totp_secret(user, sealed)?;
        match totp::verify(&secret, code, now_secs()) {
            Some(step) if self.db.use_totp_step(user.id, step as i64).await? => {
                Ok(TotpCheck::Accepted)
            }
            Some(_) => Ok(TotpCheck::AlreadyUsed),
            None => Ok(TotpCheck::Wrong),
        }
    }

    async fn check_recovery_code(&self, user: &UserRecord, code: &str) -> ApiResult<bool> {
        let presented = token::keyed_hash(
            &self.keys.codes,
            "recovery",
            &token::normalize_recovery_code(code),
        );
        let mut matched = None;
        for (id, hash) in self.db.unused_recovery_codes(user.id).await? {
            if token::ct_eq(&presented, &hash) {
                matched = Some(id);
            }
        }
        match matched {
            Some(id) => Ok(self.db.use_recovery_code(id, now_ms()).await?),
            None => Ok(false),
        }
    }
}

// ---- handlers ----------------------------------------------------------------------------------

/// Create an account. Sends a verification code to the email.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse), (status = 409, body = ErrorBody, description = "Email taken"),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    state.limit_auth(ip)?;
    if !state.site().await.registration_open {
        return Err(ApiError::forbidden(
            "Registration is closed on this server; ask an administrator for an account.",
        ));
    }
    let email = account::normalize_email(&req.email)?;
    account::validate_password("password", &req.password)?;
    let display_name = account::normalize_display_name(&req.display_name)?;
    let role = match req.role.as_deref() {
        None => Role::Creator,
        Some(r) => match Role::parse(r) {
            Some(role) if role.self_assignable() => role,
            _ => {
                return Err(ApiError::validation(
                    "role: must be viewer, creator or brand",
                ))
            }
        },
    };
    let hash = state.hash_password(req.password).await?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let new = NewUser {
        uuid: &uuid,
        email: &email,
        password_hash: &hash,
        display_name: &display_name,
        role: role.as_str(),
        email_verified: false,
    };
    let user = match state.db.create_user(&new, now_ms()).await {
        Ok(u) => u,
        Err(DbError::Conflict) => {
            return Err(ApiError::conflict(
                "EMAIL_TAKEN",
                "An account with this email already exists",
                "Log in, or reset the password if you forgot it.",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id = user.id, role = %role, "user registered");
    state.issue_code(&user, PURPOSE_VERIFY).await?;
    let tokens = state
        .start_session(&user, Some(ip.to_string()), user_agent(&headers))
        .await?;
    Ok((StatusCode::CREATED, Json(auth_response(&user, tokens))))
}

/// Log in with email and password. With two-factor on, answers `mfa_required` and a challenge
/// token instead of tokens.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse, description = "Tokens, or `MfaRequired` when two-factor is on"),
              (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    state.limit_auth(ip)?;
    if req.password.len() > account::MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid_credentials());
    }
    // Malformed and unknown emails cost the same hashing work as a wrong password.
    let user = match account::normalize_email(&req.email) {
        Ok(email) => state.db.user_by_email(&email).await?,
        Err(_) => None,
    };
    if let Some(u) = &user {
        state.guard_open(u, Guarded::Password).await?;
    }
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = state.verify_password(req.password, stored).await?;
    let user = match (ok, user) {
        (true, Some(user)) => user,
        (false, Some(user)) => {
            state.guard_failed(&user, Guarded::Password).await?;
            return Err(ApiError::invalid_credentials());
        }
        _ => return Err(ApiError::invalid_credentials()),
    };
    state.guard_passed(&user, Guarded::Password).await?;
    if user.totp_enabled {
        let challenge = token::generate("fcm_");
        let now = now_ms();
        if state.db.count_open_challenges(user.id, now).await? >= account::MAX_OPEN_CHALLENGES {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_CHALLENGES",
                "Too many sign-ins are waiting for a second factor",
                "Finish one of them with your authenticator code, or wait 5 minutes and log in again.",
            );
            e.retry_after = Some((CHALLENGE_TTL_MS / 1000) as u64);
            return Err(e);
        }
        state
            .db
            .create_challenge(
                user.id,
                &token::hash(&challenge),
                now + CHALLENGE_TTL_MS,
                now,
            )
            .await?;
        let body = MfaRequired {
            mfa_required: true,
            mfa_token: challenge,
            methods: vec!["totp".into(), "recovery_code".into()],
        };
        return Ok(Json(body).into_response());
    }
    let tokens = state
        .start_session(&user, Some(ip.to_string()), user_agent(&headers))
        .await?;
    tracing::info!(user_id = user.id, "login");
    Ok(Json(auth_response(&user, tokens)).into_response())
}

/// Second login step: a TOTP code or a recovery code for the challenge from `/api/auth/login`.
#[utoipa::path(post, path = "/api/auth/login/2fa", tag = "auth", request_body = Login2faRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login_2fa(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<Login2faRequest>,
) -> ApiResult<Json<AuthResponse>> {
    state.limit_auth(ip)?;
    bounded("mfa_token", &req.mfa_token)?;
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_MFA",
            "The code or login attempt is not valid",
            "Log in again with your password and enter a fresh code.",
        )
    };
    let now = now_ms();
    let ch = state
        .db
        .challenge_by_hash(&token::hash(&req.mfa_token))
        .await?
        .ok_or_else(refused)?;
    match (&req.code, &req.recovery_code) {
        (Some(code), None) => bounded("code", code)?,
        (None, Some(code)) => bounded("recovery_code", code)?,
        _ => {
            return Err(ApiError::validation(
                "send exactly one of `code` and `recovery_code`",
            ))
        }
    }
    if ch.used_at.is_some() || ch.expires_at <= now {
        return Err(refused());
    }
    // Take an attempt first, atomically, so parallel guesses cannot exceed the limit.
    if !state
        .db
        .take_challenge_attempt(ch.id, MAX_CODE_ATTEMPTS)
        .await?
    {
        return Err(refused());
    }
    let user = state.db.user_by_id(ch.user_id).await?.ok_or_else(refused)?;
    state.guard_open(&user, Guarded::SecondFactor).await?;
    let accepted = match (&req.code, &req.recovery_code) {
        (Some(code), _) => match state.check_totp(&user, code).await? {
            TotpCheck::Accepted => true,
            TotpCheck::AlreadyUsed => return Err(code_already_used()),
            TotpCheck::Wrong => false,
        },
        (None, Some(code)) => state.check_recovery_code(&user, code).await?,
        (None, None) => false,
    };
    if !accepted {
        state.guard_failed(&user, Guarded::SecondFactor).await?;
        return Err(refused());
    }
    state.guard_passed(&user, Guarded::SecondFactor).await?;
    if !state.db.use_challenge(ch.id, now).await? {
        return Err(refused());
    }
    let tokens = state
        .start_session(&user, Some(ip.to_string()), user_agent(&headers))
        .await?;
    tracing::info!(user_id = user.id, "login with second factor");
    Ok(Json(auth_response(&user, tokens)))
}

/// Trade a refresh token for a new access token and a new refresh token. Each refresh token
/// works once; presenting a spent one revokes the whole session (someone copied it).
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Json<AuthResponse>> {
    bounded("refresh_token", &req.refresh_token)?;
    let next = token::generate("fcr_");
    let now = now_ms();
    let outcome = state
        .db
        .rotate_refresh_token(
            &token::hash(&req.refresh_token),
            &token::hash(&next),
            now + crate::state::REFRESH_TTL_MS,
            now,
        )
        .await?;
    match outcome {
        Rotation::Rotated {
            session_uuid,
            user_id,
            ..
        } => {
            let user = state
                .db
                .user_by_id(user_id)
                .await?
                .ok_or_else(|| ApiError::unauthenticated("The account no longer exists."))?;
            let access = state.access_token(&user, &session_uuid);
            let tokens = IssuedTokens {
                access_token: access,
                refresh_token: next,
                expires_in: crate::state::ACCESS_TTL_SECS,
            };
            Ok(Json(auth_response(&user, tokens)))
        }
        Rotation::Reused => {
            tracing::warn!("refresh token reused: session revoked");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "REFRESH_TOKEN_REUSED",
                "This refresh token was already used",
                "For safety the session was ended on every device that shared it; log in again.",
            ))
        }
        Rotation::Invalid => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_REFRESH_TOKEN",
            "The refresh token is not valid",
            "It is unknown, expired or its session ended; log in again.",
        )),
    }
}

/// End the current session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Message>> {
    let sid = auth.require_session()?;
    state
        .db
        .revoke_session_by_uuid(auth.user.id, sid, "logout", now_ms())
        .await?;
    Ok(message("Logged out."))
}

/// The current user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn me(auth: AuthUser) -> ApiResult<Json<UserView>> {
    Ok(Json((&auth.user).into()))
}

/// Confirm an email with the emailed code.
#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses((status = 200, body = Message), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn verify_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<VerifyEmailRequest>,
) -> ApiResult<Json<Message>> {
    state.limit_auth(ip)?;
    bounded("verification_code", &req.verification_code)?;
    let email = account::normalize_email(&req.email)?;
    // Unknown and already verified emails answer as a wrong code does: the answer tells
    // nothing about which emails have accounts.
    let Some(user) = state.db.user_by_email(&email).await? else {
        return Err(invalid_code());
    };
    if user.email_verified {
        return Err(invalid_code());
    }
    if !state
        .consume_code(user.id, PURPOSE_VERIFY, &req.verification_code)
        .await?
    {
        return Err(invalid_code());
    }
    state.db.set_email_verified(user.id, now_ms()).await?;
    Ok(message("Email verified."))
}

/// Send a new verification code to the caller's email.
#[utoipa::path(post, path = "/api/auth/resend-verification", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn resend_verification(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
) -> ApiResult<Json<Message>> {
    state.limit_auth(ip)?;
    if auth.user.email_verified {
        return Ok(message("The email is already verified."));
    }
    if !state.issue_code(&auth.user, PURPOSE_VERIFY).await? {
        return Err(ApiError::rate_limited(3600));
    }
    Ok(message("A new code is on its way."))
}

/// Ask for a password reset code. Answers the same whether or not the email is registered.
#[utoipa::path(post, path = "/api/auth/forgot-password", tag = "auth", request_body = ForgotPasswordRequest,
    responses((status = 200, body = Message), (status = 429, body = ErrorBody)))]
pub async fn forgot_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ForgotPasswordRequest>,
) -> ApiResult<Json<Message>> {
    state.limit_auth(ip)?;
    let email = account::normalize_email(&req.email)?;
    if let Some(user) = state.db.user_by_email(&email).await? {
        state.issue_code(&user, PURPOSE_RESET).await?;
    }
    Ok(message(
        "If an account uses that email, a reset code has been sent to it.",
    ))
}

/// Set a new password with the emailed reset code. Ends every session of the account.
#[utoipa::path(post, path = "/api/auth/reset-password", tag = "auth", request_body = ResetPasswordRequest,
    responses((status = 200, body = Message), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> ApiResult<Json<Message>> {
    state.limit_auth(ip)?;
    bounded("code", &req.code)?;
    let email = account::normalize_email(&req.email)?;
    account::validate_password("new_password", &req.new_password)?;
    let Some(user) = state.db.user_by_email(&email).await? else {
        return Err(invalid_code());
    };
    state.guard_open(&user, Guarded::ResetCode).await?;
    if !state
        .consume_code(user.id, PURPOSE_RESET, &req.code)
        .await?
    {
        state.guard_failed(&user, Guarded::ResetCode).await?;
        return Err(invalid_code());
    }
    let hash = state.hash_password(req.new_password).await?;
    let now = now_ms();
    state.db.set_password_hash(user.id, &hash, now).await?;
    // The owner proved the mailbox: whatever locks others' guessing set are lifted.
    state.db.unlock_account(user.id).await?;
    state.db.set_email_verified(user.id, now).await?;
    state
        .db
        .revoke_all_sessions(user.id, None, "password_reset", now)
        .await?;
    // Account recovery: whatever was minted with the old credentials goes too.
    let keys = state.db.revoke_all_api_keys(user.id, now).await?;
    tracing::info!(user_id = user.id, api_keys_revoked = keys, "password reset");
    Ok(message("Password changed. Every session and API key of the account has ended; log in with the new password."))
}

/// Change the password, knowing the current one. Other sessions end; this one stays.
#[utoipa::path(post, path = "/api/auth/change-password", tag = "auth", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Json<Message>> {
    state.limit_auth(ip)?;
    let sid = auth.require_session()?.to_string();
    account::validate_password("new_password", &req.new_password)?;
    state.guard_open(&auth.user, Guarded::Password).await?;
    if req.current_password.len() > account::MAX_PASSWORD_BYTES
        || !state
            .verify_password(req.current_password, auth.user.password_hash.clone())
            .await?
    {
        state.guard_failed(&auth.user, Guarded::Password).await?;
        return Err(ApiError::invalid_credentials());
    }
    let hash = state.hash_password(req.new_password).await?;
    let now = now_ms();
    state.db.set_password_hash(auth.user.id, &hash, now).await?;
    let sessions = state
        .db
        .revoke_all_sessions(auth.user.id, Some(&sid), "password_changed", now)
        .await?;
    tracing::info!(
        user_id = auth.user.id,
        other_sessions_ended = sessions,
        "password changed"
    );
    Ok(message("Password changed. Your other sessions have ended."))
}

/// Start two-factor setup: returns a new secret and its `otpauth://` URI. Nothing changes until
/// `/api/auth/2fa/enable` confirms a code from it.
#[utoipa::path(post, path = "/api/auth/2fa/setup", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TotpSetup), (status = 409, body = ErrorBody)))]
pub async fn totp_setup(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<TotpSetup>> {
    if auth.user.totp_enabled {
        return Err(ApiError::conflict(
            "2FA_ALREADY_ENABLED",
            "Two-factor login is already on",
            "Disable it first to set up a new authenticator.",
        ));
    }
    let secret = totp::generate_secret();
    let sealed = state
        .keys
        .secrets
        .seal(&format!("users.totp:{}", auth.user.id), &secret);
    state
        .db
        .set_totp_pending(auth.user.id, &sealed, now_ms())
        .await?;
    let issuer = "ferrocast";
    Ok(Json(TotpSetup {
        secret: totp::secret_base32(&secret),
        otpauth_uri: totp::otpauth_uri(issuer, &auth.user.email, &secret),
    }))
}

/// Turn two-factor on with a code from the authenticator. Returns recovery codes, once.
#[utoipa::path(post, path = "/api/auth/2fa/enable", tag = "auth", security(("bearer" = [])), request_body = TotpEnable,
    responses((status = 200, body = TotpEnabled), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn totp_enable(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ApiJson(req): ApiJson<TotpEnable>,
) -> ApiResult<Json<TotpEnabled>> {
    bounded("code", &req.code)?;
    state.confirm_password(ip, &auth, req.password).await?;
    if auth.user.totp_enabled {
        return Err(ApiError::conflict(
            "2FA_ALREADY_ENABLED",
            "Two-factor login is already on",
            "Nothing to do.",
        ));
    }
    let Some(pending) = &auth.user.totp_pending_secret else {
        return Err(ApiError::bad_request(
            "2FA_NOT_SET_UP",
            "No two-factor setup in progress",
            "Call /api/auth/2fa/setup first.",
        ));
    };
    let secret = state.totp_secret(&auth.user, pending)?;
    let Some(step) = totp::verify(&secret, &req.code, now_secs()) else {
        return Err(invalid_code());
    };
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| token::recovery_code())
        .collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| {
            token::keyed_hash(
                &state.keys.codes,
                "recovery",
                &token::normalize_recovery_code(c),
            )
        })
        .collect();
    if !state
        .db
        .enable_totp(auth.user.id, pending, step as i64, &hashes, now_ms())
        .await?
    {
        return Err(ApiError::conflict(
            "2FA_ALREADY_ENABLED",
            "Two-factor login is already on",
            "Nothing to do.",
        ));
    }
    tracing::info!(user_id = auth.user.id, "two-factor enabled");
    Ok(Json(TotpEnabled {
        enabled: true,
        recovery_codes: codes,
    }))
}

/// Turn two-factor off, with the password and a current code (or a recovery code).
#[utoipa::path(post, path = "/api/auth/2fa/disable", tag = "auth", security(("bearer" = [])), request_body = TotpDisable,
    responses((status = 200, body = Message), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn totp_disable(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ApiJson(req): ApiJson<TotpDisable>,
) -> ApiResult<Json<Message>> {
    state.limit_auth(ip)?;
    bounded("code", &req.code)?;
    if !auth.user.totp_enabled {
        return Err(ApiError::bad_request(
            "2FA_NOT_ENABLED",
            "Two-factor login is off",
            "Nothing to do.",
        ));
    }
    if req.password.len() > account::MAX_PASSWORD_BYTES
        || !state
            .verify_password(req.password, auth.user.password_hash.clone())
            .await?
    {
        return Err(ApiError::invalid_credentials());
    }
    let ok = state.check_totp(&auth.user, &req.code).await? == TotpCheck::Accepted
        || state.check_recovery_code(&auth.user, &req.code).await?;
    if !ok {
        return Err(invalid_code());
    }
    state.db.disable_totp(auth.user.id, now_ms()).await?;
    tracing::info!(user_id = auth.user.id, "two-factor disabled");
    Ok(message("Two-factor login is off."))
}

/// Create an API key. The key is in this response only.
#[utoipa::path(post, path = "/api/auth/api-keys", tag = "auth", security(("bearer" = [])), request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name: must be 1 to 100 characters without control characters",
        ));
    }
    if req.scopes.is_empty() {
        return Err(ApiError::validation(
            "scopes: give at least one scope, e.g. [\"profile:read\"]",
        ));
    }
    if req.scopes.len() > 32 {
        return Err(ApiError::validation(
            "scopes: list each scope once; there are only eight",
        ));
    }
    let mut scopes = Vec::new();
    for s in &req.scopes {
        let scope = Scope::parse(s).ok_or_else(|| {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::validation(format!(
                "scopes: unknown scope {:?}; known: {}",
                s.chars().take(40).collect::<String>(),
                known.join(", ")
            ))
        })?;
        if !scope.allowed_for(auth.role) {
            return Err(ApiError::forbidden(format!(
                "Your role cannot grant the `{}` scope.",
                scope.as_str()
            )));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes.sort();
    state.confirm_password(ip, &auth, req.password).await?;
    let now = now_ms();
    let expires_at = match req.expires_in_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => Some(now + d * 86_400_000),
        Some(_) => {
            return Err(ApiError::validation(
                "expires_in_days: must be between 1 and 3650",
            ))
        }
    };
    let active = state
        .db
        .list_api_keys(auth.user.id)
        .await?
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    if active >= MAX_API_KEYS {
        return Err(ApiError::conflict(
            "TOO_MANY_API_KEYS",
            "Too many API keys",
            format!("Revoke one first; the limit is {MAX_API_KEYS}."),
        ));
    }
    let key = token::generate(API_KEY_PREFIX);
    let prefix: String = key.chars().take(12).collect();
    let scope_text = scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let uuid = uuid::Uuid::new_v4().to_string();
    let rec = state
        .db
        .create_api_key(
            &uuid,
            auth.user.id,
            name,
            &prefix,
            &token::hash(&key),
            &scope_text,
            expires_at,
            now,
        )
        .await?;
    tracing::info!(user_id = auth.user.id, key = %rec.uuid, scopes = %scope_text, "api key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key: (&rec).into(),
            key,
        }),
    ))
}

/// List the caller's API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/auth/api-keys", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorBody)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<ApiKeyList>> {
    let keys = state.db.list_api_keys(auth.user.id).await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.iter().map(Into::into).collect(),
    }))
}

/// Revoke one of the caller's API keys.
#[utoipa::path(delete, path = "/api/auth/api-keys/{uuid}", tag = "auth", security(("bearer" = [])),
    params(("uuid" = String, Path, description = "The key's UUID")),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody)))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(uuid): Path<String>,
) -> ApiResult<Json<Message>> {
    if uuid::Uuid::parse_str(&uuid).is_err()
        || !state
            .db
            .revoke_api_key(auth.user.id, &uuid, now_ms())
            .await?
    {
        return Err(ApiError::not_found("API key"));
    }
    Ok(message("API key revoked."))
}

/// For nginx `auth_request`: 200 with `X-User-Id`, `X-User-Uuid`, `X-User-Email` and
/// `X-User-Role` when the bearer credential is valid (and, with `?role=`, the role suffices);
/// 401 or 403 otherwise.
#[utoipa::path(get, path = "/api/auth/verify", tag = "auth", security(("bearer" = [])), params(VerifyQuery),
    responses((status = 200, description = "Authenticated; user headers set"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn verify(
    Authenticated(auth): Authenticated,
    Query(q): Query<VerifyQuery>,
) -> ApiResult<Response> {
    // API keys pass only with `profile:read`: the probe hands the user's identity to the site.
    if let Some(r) = q.role.as_deref() {
        let role = Role::parse(r).ok_or_else(|| {
            ApiError::validation("role: must be viewer, creator, brand, moderator or admin")
        })?;
        auth.require_role(role)?;
    }
    let mut res = StatusCode::OK.into_response();
    let h = res.headers_mut();
    h.insert("x-user-id", HeaderValue::from(auth.user.id));
    if let Ok(v) = HeaderValue::from_str(&auth.user.uuid) {
        h.insert("x-user-uuid", v);
    }
    if let Ok(v) = HeaderValue::from_bytes(auth.user.email.as_bytes()) {
        h.insert("x-user-email", v);
    }
    h.insert("x-user-role", HeaderValue::from_static(auth.role.as_str()));
    Ok(res)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            super::rfc3339(1_795_000_000_000),
            "2026-11-18T11:06:40.000Z"
        );
    }
}
