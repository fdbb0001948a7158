//! Accounts: register, login (with an optional TOTP second step), refresh, logout, me, email
//! verification, password reset, two-factor setup, API keys, and the nginx `auth_request` probe.
//! Shapes follow the Neustream API ("Authentication Endpoints"), extended with
//! rotating refresh tokens.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{limit_auth, ApiJson, AuthUser, Authenticated, ClientIp, API_KEY_PREFIX};
use crate::service::accounts::{
    IssuedTokens, TotpCheck, ACCESS_TTL_SECS, MAX_CODE_ATTEMPTS, PURPOSE_RESET, PURPOSE_VERIFY,
};
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_auth::{token, totp};
use ferrocast_db::accounts::{ApiKeyRecord, NewUser, Rotation, UserRecord};
use ferrocast_db::DbError;
use ferrocast_domain::account::{self, Guarded, Role, Scope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A login's second step must complete within this time.
const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
/// Recovery codes issued when two-factor is enabled.
const RECOVERY_CODES: usize = 10;
/// Active API keys per user.
const MAX_API_KEYS: usize = 50;
/// Longest opaque token accepted in a body (refresh tokens, challenges, codes).
const MAX_TOKEN_LEN: usize = 128;

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

/// A session's tokens with the user. `token` equals `access_token` (Neustream's name).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    /// The user.
    pub user: UserView,
    /// Access token (Neustream compatibility).
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

/// Verify-email body (Neustream's shape).
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

/// Re-checks the password of a logged-in user before a sensitive change, under the
/// credential rate limit.
async fn confirm_password(
    state: &AppState,
    ip: std::net::IpAddr,
    auth: &AuthUser,
    password: String,
) -> ApiResult<()> {
    limit_auth(state, ip)?;
    Ok(state.accounts.confirm_password(auth, password).await?)
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
    crate::extract::limit_auth(&state, ip)?;
    if !state.site.settings().await.registration_open {
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
    let hash = state.accounts.hash_password(req.password).await?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let new = NewUser {
        uuid: &uuid,
        email: &email,
        password_hash: &hash,
        display_name: &display_name,
        role: role.as_str(),
        email_verified: false,
    };
    let user = match state.db.create_user(&new, state.clock.now_ms()).await {
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
    state.accounts.issue_code(&user, PURPOSE_VERIFY).await?;
    let tokens = state
        .accounts
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
    crate::extract::limit_auth(&state, ip)?;
    if req.password.len() > account::MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid_credentials());
    }
    // Malformed and unknown emails cost the same hashing work as a wrong password.
    let user = match account::normalize_email(&req.email) {
        Ok(email) => state.db.user_by_email(&email).await?,
        Err(_) => None,
    };
    if let Some(u) = &user {
        state.accounts.guard_open(u, Guarded::Password).await?;
    }
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = state.accounts.verify_password(req.password, stored).await?;
    let user = match (ok, user) {
        (true, Some(user)) => user,
        (false, Some(user)) => {
            state
                .accounts
                .guard_failed(&user, Guarded::Password)
                .await?;
            return Err(ApiError::invalid_credentials());
        }
        _ => return Err(ApiError::invalid_credentials()),
    };
    state
        .accounts
        .guard_passed(&user, Guarded::Password)
        .await?;
    if user.totp_enabled {
        let challenge = token::generate("fcm_");
        let now = state.clock.now_ms();
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
        .accounts
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
    crate::extract::limit_auth(&state, ip)?;
    bounded("mfa_token", &req.mfa_token)?;
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_MFA",
            "The code or login attempt is not valid",
            "Log in again with your password and enter a fresh code.",
        )
    };
    let now = state.clock.now_ms();
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
    state
        .accounts
        .guard_open(&user, Guarded::SecondFactor)
        .await?;
    let accepted = match (&req.code, &req.recovery_code) {
        (Some(code), _) => match state.accounts.check_totp(&user, code).await? {
            TotpCheck::Accepted => true,
            TotpCheck::AlreadyUsed => return Err(code_already_used()),
            TotpCheck::Wrong => false,
        },
        (None, Some(code)) => state.accounts.check_recovery_code(&user, code).await?,
        (None, None) => false,
    };
    if !accepted {
        state
            .accounts
            .guard_failed(&user, Guarded::SecondFactor)
            .await?;
        return Err(refused());
    }
    state
        .accounts
        .guard_passed(&user, Guarded::SecondFactor)
        .await?;
    if !state.db.use_challenge(ch.id, now).await? {
        return Err(refused());
    }
    let tokens = state
        .accounts
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
    let now = state.clock.now_ms();
    let outcome = state
        .db
        .rotate_refresh_token(
            &token::hash(&req.refresh_token),
            &token::hash(&next),
            now + crate::service::accounts::REFRESH_TTL_MS,
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
            let access = state.accounts.access_token(&user, &session_uuid);
            let tokens = IssuedTokens {
                access_token: access,
                refresh_token: next,
                expires_in: ACCESS_TTL_SECS,
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
        .revoke_session_by_uuid(auth.user.id, sid, "logout", state.clock.now_ms())
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
    crate::extract::limit_auth(&state, ip)?;
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
        .accounts
        .consume_code(user.id, PURPOSE_VERIFY, &req.verification_code)
        .await?
    {
        return Err(invalid_code());
    }
    state
        .db
        .set_email_verified(user.id, state.clock.now_ms())
        .await?;
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
    crate::extract::limit_auth(&state, ip)?;
    if auth.user.email_verified {
        return Ok(message("The email is already verified."));
    }
    if !state
        .accounts
        .issue_code(&auth.user, PURPOSE_VERIFY)
        .await?
    {
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
    crate::extract::limit_auth(&state, ip)?;
    let email = account::normalize_email(&req.email)?;
    if let Some(user) = state.db.user_by_email(&email).await? {
        state.accounts.issue_code(&user, PURPOSE_RESET).await?;
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
    crate::extract::limit_auth(&state, ip)?;
    bounded("code", &req.code)?;
    let email = account::normalize_email(&req.email)?;
    account::validate_password("new_password", &req.new_password)?;
    let Some(user) = state.db.user_by_email(&email).await? else {
        return Err(invalid_code());
    };
    state.accounts.guard_open(&user, Guarded::ResetCode).await?;
    if !state
        .accounts
        .consume_code(user.id, PURPOSE_RESET, &req.code)
        .await?
    {
        state
            .accounts
            .guard_failed(&user, Guarded::ResetCode)
            .await?;
        return Err(invalid_code());
    }
    let hash = state.accounts.hash_password(req.new_password).await?;
    let now = state.clock.now_ms();
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
    crate::extract::limit_auth(&state, ip)?;
    let sid = auth.require_session()?.to_string();
    account::validate_password("new_password", &req.new_password)?;
    state
        .accounts
        .guard_open(&auth.user, Guarded::Password)
        .await?;
    if req.current_password.len() > account::MAX_PASSWORD_BYTES
        || !state
            .accounts
            .verify_password(req.current_password, auth.user.password_hash.clone())
            .await?
    {
        state
            .accounts
            .guard_failed(&auth.user, Guarded::Password)
            .await?;
        return Err(ApiError::invalid_credentials());
    }
    let hash = state.accounts.hash_password(req.new_password).await?;
    let now = state.clock.now_ms();
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
    let sealed = state.accounts.seal_totp(auth.user.id, &secret);
    state
        .db
        .set_totp_pending(auth.user.id, &sealed, state.clock.now_ms())
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
    confirm_password(&state, ip, &auth, req.password).await?;
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
    let Some(step) = state
        .accounts
        .pending_totp_step(&auth.user, pending, &req.code)?
    else {
        return Err(invalid_code());
    };
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| token::recovery_code())
        .collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| state.accounts.recovery_hash(c))
        .collect();
    if !state
        .db
        .enable_totp(
            auth.user.id,
            pending,
            step as i64,
            &hashes,
            state.clock.now_ms(),
        )
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
    crate::extract::limit_auth(&state, ip)?;
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
            .accounts
            .verify_password(req.password, auth.user.password_hash.clone())
            .await?
    {
        return Err(ApiError::invalid_credentials());
    }
    let ok = state.accounts.check_totp(&auth.user, &req.code).await? == TotpCheck::Accepted
        || state
            .accounts
            .check_recovery_code(&auth.user, &req.code)
            .await?;
    if !ok {
        return Err(invalid_code());
    }
    state
        .db
        .disable_totp(auth.user.id, state.clock.now_ms())
        .await?;
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
    confirm_password(&state, ip, &auth, req.password).await?;
    let now = state.clock.now_ms();
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
            .revoke_api_key(auth.user.id, &uuid, state.clock.now_ms())
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
