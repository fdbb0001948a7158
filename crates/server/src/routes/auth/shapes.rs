//! What the accounts routes read and answer, and the helpers they share.

use crate::error::{ApiError, ApiResult};
use crate::extract::{limit_auth, AuthUser};
use crate::service::accounts::IssuedTokens;
use crate::service::clock::rfc3339;
use crate::service::profiles::media_url;
use crate::state::AppState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use ferrocast_db::accounts::{ApiKeyRecord, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A login's second step must complete within this time.
pub(crate) const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
/// Recovery codes issued when two-factor is enabled.
pub(crate) const RECOVERY_CODES: usize = 10;
/// Active API keys per user.
pub(crate) const MAX_API_KEYS: usize = 50;
/// Longest opaque token accepted in a body (refresh tokens, challenges, codes).
pub(crate) const MAX_TOKEN_LEN: usize = 128;

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
    /// The avatar (a 256×256 JPEG, root-relative), if one was uploaded.
    pub avatar_url: Option<String>,
    /// The channel's handle: its page is `/c/<handle>`.
    pub handle: String,
    /// Bio.
    pub bio: String,
    /// Links shown on the channel.
    pub links: Vec<LinkView>,
    /// The banner (a 1920×480 JPEG, root-relative), if one was uploaded.
    pub banner_url: Option<String>,
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
            avatar_url: avatar_url(u),
            handle: u.handle.clone(),
            bio: u.bio.clone(),
            links: link_views(&u.links),
            banner_url: u.banner_key.as_deref().map(media_url),
            role: u.role.clone(),
            email_verified: u.email_verified,
            two_factor_enabled: u.totp_enabled,
            created_at: rfc3339(u.created_at),
        }
    }
}

/// A link on a profile.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkView {
    /// What it is ("Website", "Shop"), 1 to 40 characters.
    pub label: String,
    /// An `http` or `https` URL.
    pub url: String,
}

/// The links stored as JSON, as the API shows them.
pub fn link_views(json: &str) -> Vec<LinkView> {
    crate::service::profiles::links_of(json)
        .into_iter()
        .map(|l| LinkView {
            label: l.label,
            url: l.url,
        })
        .collect()
}

/// A user's avatar URL: their uploaded picture, else the one stored with the account.
pub fn avatar_url(u: &UserRecord) -> Option<String> {
    u.avatar_key
        .as_deref()
        .map(media_url)
        .or_else(|| u.avatar_url.clone())
}

/// Who made a video, with a link to their channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorView {
    /// The channel's handle.
    pub handle: String,
    /// Display name.
    pub display_name: String,
    /// Avatar (root-relative), if any.
    pub avatar_url: Option<String>,
    /// The channel's page: `/c/<handle>`.
    pub channel_url: String,
}

/// The creator card of a user.
pub async fn creator_of(state: &AppState, user_id: i64) -> ApiResult<Option<CreatorView>> {
    Ok(state
        .db
        .user_card(user_id)
        .await?
        .map(|(handle, display_name, avatar_key)| CreatorView {
            channel_url: format!("/c/{handle}"),
            handle,
            display_name,
            avatar_url: avatar_key.as_deref().map(media_url),
        }))
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
    /// Opaque refresh token, single use: every refresh returns a new one. Absent for a browser
    /// session (`"session": "cookie"`), whose `HttpOnly` cookie takes its place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// A browser session's CSRF token (also in the `ferrocast_csrf` cookie): send it as
    /// `X-CSRF-Token` with requests that change state and rely on the cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

pub(crate) fn auth_response(user: &UserRecord, t: IssuedTokens) -> AuthResponse {
    AuthResponse {
        user: user.into(),
        token: t.access_token.clone(),
        access_token: t.access_token,
        refresh_token: (!t.refresh_token.is_empty()).then_some(t.refresh_token),
        csrf_token: None,
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

pub(crate) fn message(m: &str) -> Json<Message> {
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
    /// `"cookie"`: a browser session, kept in an `HttpOnly` cookie instead of a refresh token
    /// in the answer (see `/api/auth/refresh`); `"tokens"` (the default): tokens only.
    pub session: Option<String>,
}

/// Login body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// `"cookie"`: a browser session, kept in an `HttpOnly` cookie instead of a refresh token
    /// in the answer (see `/api/auth/refresh`); `"tokens"` (the default): tokens only.
    pub session: Option<String>,
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
    /// `"cookie"`: a browser session, kept in an `HttpOnly` cookie instead of a refresh token
    /// in the answer (see `/api/auth/refresh`); `"tokens"` (the default): tokens only.
    pub session: Option<String>,
}

/// Refresh body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The current refresh token; it is spent by this call. Leave it out to refresh the
    /// browser session of the `ferrocast_session` cookie (with its `X-CSRF-Token`).
    pub refresh_token: Option<String>,
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
    /// Require this plan or one that costs at least as much a month (by name, as in the plans
    /// file; admin passes).
    pub plan: Option<String>,
}

// ---- helpers -----------------------------------------------------------------------------------

pub(crate) fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

pub(crate) fn bounded(field: &'static str, value: &str) -> ApiResult<()> {
    if value.len() > MAX_TOKEN_LEN {
        return Err(ApiError::validation(format!(
            "{field}: is too long to be a valid value"
        )));
    }
    Ok(())
}

pub(crate) fn code_already_used() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "CODE_ALREADY_USED",
        "This code was already used",
        "Each authenticator code works once; wait for the next one (up to 30 seconds) and try again.",
    )
}

pub(crate) fn invalid_code() -> ApiError {
    ApiError::bad_request(
        "INVALID_CODE",
        "The code is wrong or has expired",
        "Request a new code and try again.",
    )
}

/// Re-checks the password of a logged-in user before a sensitive change, under the
/// credential rate limit.
pub(crate) async fn confirm_password(
    state: &AppState,
    ip: std::net::IpAddr,
    auth: &AuthUser,
    password: String,
) -> ApiResult<()> {
    limit_auth(state, ip).await?;
    Ok(state.accounts.confirm_password(auth, password).await?)
}
