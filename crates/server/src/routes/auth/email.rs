//! Email verification, and passwords: forgotten, reset, changed.

use super::shapes::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, ClientIp};
use crate::service::accounts::{PURPOSE_RESET, PURPOSE_VERIFY};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use ferrocast_domain::account::{self, Guarded};

/// Confirm an email with the emailed code.
#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses((status = 200, body = Message), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn verify_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<VerifyEmailRequest>,
) -> ApiResult<Json<Message>> {
    crate::extract::limit_auth(&state, ip).await?;
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
    crate::extract::limit_auth(&state, ip).await?;
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
    crate::extract::limit_auth(&state, ip).await?;
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
    crate::extract::limit_auth(&state, ip).await?;
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
    // Account recovery: whatever was minted with the old credentials goes too, and so do the
    // linked Google / Twitch accounts (one linked by whoever held the account would keep them
    // a way in).
    let keys = state.db.revoke_all_api_keys(user.id, now).await?;
    let identities = state.db.unlink_all_identities(user.id).await?;
    tracing::info!(
        user_id = user.id,
        api_keys_revoked = keys,
        identities_unlinked = identities,
        "password reset"
    );
    Ok(message(if identities > 0 {
        "Password changed. Every session and API key of the account has ended, and linked Google or Twitch sign-ins were removed (link them again in Settings); log in with the new password."
    } else {
        "Password changed. Every session and API key of the account has ended; log in with the new password."
    }))
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
    crate::extract::limit_auth(&state, ip).await?;
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
