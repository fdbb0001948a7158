//! Signing in with Telegram: `POST /api/auth/telegram` (the Login Widget's fields, as its
//! callback hands them over) and `POST /api/auth/telegram/webapp` (a Mini App's `initData`).
//! Each answers as `/api/auth/login` does: a session's tokens, or the two-factor challenge.
//! Signed in (a bearer token), the same calls link the Telegram account to the caller's.

use super::session::{first_factor_passed, handover, Handover};
use super::shapes::AuthResponse;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ClientIp, MaybeUser};
use crate::service::audit::{Actor, AuditEvent};
use crate::service::telegram::TelegramSignInError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

impl From<TelegramSignInError> for ApiError {
    fn from(e: TelegramSignInError) -> Self {
        match e {
            TelegramSignInError::Off => ApiError::new(
                StatusCode::NOT_FOUND,
                "TELEGRAM_OFF",
                "Signing in with Telegram is off on this server",
                "Sign in with your email and password; the operator turns Telegram on with FERROCAST_TELEGRAM_BOT_TOKEN.",
            ),
            TelegramSignInError::Refused(e) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "TELEGRAM_REFUSED",
                "Telegram's sign-in did not check out",
                format!("{e}."),
            ),
            TelegramSignInError::IdentityTaken => ApiError::conflict(
                "IDENTITY_TAKEN",
                "This Telegram account is linked to another account",
                "Sign in with Telegram to reach that account, or unlink it there first.",
            ),
            TelegramSignInError::RegistrationClosed => ApiError::new(
                StatusCode::FORBIDDEN,
                "REGISTRATION_CLOSED",
                "Registration is closed",
                "No account is linked to this Telegram account, and new accounts cannot be made now.",
            ),
            TelegramSignInError::Db(e) => ApiError::internal(e),
        }
    }
}

/// A Mini App's launch data.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelegramWebAppLogin {
    /// `Telegram.WebApp.initData`, exactly as the Mini App received it.
    pub init_data: String,
    /// `"cookie"`: a browser session, kept in an `HttpOnly` cookie instead of a refresh token
    /// in the answer (see `/api/auth/refresh`); `"tokens"` (the default): tokens only.
    pub session: Option<String>,
}

/// Linking takes a login session: an API key cannot add a way to sign in.
fn refuse_keys(auth: Option<&crate::extract::AuthUser>) -> ApiResult<()> {
    if let Some(a) = auth {
        a.require_session()?;
    }
    Ok(())
}

async fn signed_in(
    state: &AppState,
    auth: Option<&crate::extract::AuthUser>,
    user: ferrocast_db::accounts::UserRecord,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    method: &str,
    how: Handover,
) -> ApiResult<Response> {
    if let Some(a) = auth {
        state
            .audit
            .note(
                AuditEvent::new("auth.identity_linked", Actor::User(a.user.id))
                    .subject("user", a.user.id)
                    .details(serde_json::json!({"provider": "telegram", "method": method})),
            )
            .await;
        // Linking starts no session: the caller has one.
        return Ok(axum::Json(super::shapes::Message {
            message: "Telegram is linked: you can sign in with it.".into(),
        })
        .into_response());
    } else {
        state
            .audit
            .note(
                AuditEvent::new("auth.login", Actor::User(user.id))
                    .subject("user", user.id)
                    .details(serde_json::json!({"method": method}))
                    .personal(Some(user.id), serde_json::json!({"ip": ip.to_string()})),
            )
            .await;
    }
    first_factor_passed(state, &user, ip, headers, how).await
}

/// Sign in with the Telegram Login Widget: its fields (`id`, `first_name`, `last_name`,
/// `username`, `photo_url`, `auth_date`, `hash`) as its callback hands them over, checked with
/// the bot's token (`auth_date` at most a day old). Signs in the linked account, links the
/// Telegram account to the caller's when signed in, or makes a new account.
#[utoipa::path(post, path = "/api/auth/telegram", tag = "auth",
    request_body(content = Object, description = "The Login Widget's fields"),
    responses((status = 200, body = AuthResponse, description = "Tokens, or `MfaRequired` when two-factor is on; signed in (linking), a `Message`"),
              (status = 401, body = ErrorBody, description = "`TELEGRAM_REFUSED`: altered, another bot's, or stale"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "`TELEGRAM_OFF`"),
              (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn telegram_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybeUser(auth): MaybeUser,
    headers: HeaderMap,
    ApiJson(mut data): ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    crate::extract::limit_auth(&state, ip).await?;
    refuse_keys(auth.as_ref())?;
    // `session` is ours, not the widget's: it is not part of what Telegram signed.
    let how = match data.as_object_mut().and_then(|o| o.remove("session")) {
        None => Handover::Tokens,
        Some(serde_json::Value::String(v)) => handover(Some(&v))?,
        Some(_) => handover(Some(""))?,
    };
    let open = state.site.settings().await.registration_open;
    let user = state
        .telegram
        .widget(&data, auth.as_ref().map(|a| &a.user), open)
        .await?;
    signed_in(&state, auth.as_ref(), user, ip, &headers, "telegram", how).await
}

/// Sign in from a Telegram Mini App with its `initData`, checked with the bot's token
/// (`auth_date` at most a day old); otherwise as `POST /api/auth/telegram`.
#[utoipa::path(post, path = "/api/auth/telegram/webapp", tag = "auth", request_body = TelegramWebAppLogin,
    responses((status = 200, body = AuthResponse, description = "Tokens, or `MfaRequired` when two-factor is on; signed in (linking), a `Message`"),
              (status = 401, body = ErrorBody, description = "`TELEGRAM_REFUSED`"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub async fn telegram_webapp_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybeUser(auth): MaybeUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TelegramWebAppLogin>,
) -> ApiResult<Response> {
    crate::extract::limit_auth(&state, ip).await?;
    refuse_keys(auth.as_ref())?;
    let how = handover(body.session.as_deref())?;
    let open = state.site.settings().await.registration_open;
    let user = state
        .telegram
        .webapp(&body.init_data, auth.as_ref().map(|a| &a.user), open)
        .await?;
    signed_in(
        &state,
        auth.as_ref(),
        user,
        ip,
        &headers,
        "telegram_webapp",
        how,
    )
    .await
}
