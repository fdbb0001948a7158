//! Two-factor login (TOTP): set up, enable with recovery codes, disable.

use super::shapes::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, ClientIp};
use crate::service::accounts::TotpCheck;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use ferrocast_auth::{token, totp};
use ferrocast_domain::account::{self};

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
    crate::extract::limit_auth(&state, ip).await?;
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
