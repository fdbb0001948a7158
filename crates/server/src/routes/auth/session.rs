//! Sessions: register, log in (with the optional second step), refresh, log out, me.

use super::shapes::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{cookie, ApiJson, AuthUser, ClientIp, CSRF_COOKIE, SESSION_COOKIE};
use crate::service::accounts::{
    IssuedTokens, TotpCheck, ACCESS_TTL_SECS, MAX_CODE_ATTEMPTS, PURPOSE_VERIFY, REFRESH_TTL_MS,
};
use crate::service::audit::{Actor, AuditEvent};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_auth::token;
use ferrocast_db::accounts::{NewUser, Rotation};
use ferrocast_db::DbError;
use ferrocast_domain::account::{self, Guarded, Role};

/// Create an account. Sends a verification code to the email.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse), (status = 409, body = ErrorBody, description = "Email taken"),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<Response> {
    crate::extract::limit_auth(&state, ip).await?;
    let how = handover(req.session.as_deref())?;
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
    let mut res = new_session(&state, &user, ip, &headers, how).await?;
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
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
    crate::extract::limit_auth(&state, ip).await?;
    let how = handover(req.session.as_deref())?;
    if req.password.len() > account::MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid_credentials());
    }
    // Malformed and unknown emails cost the same hashing work as a wrong password.
    let user = match account::normalize_email(&req.email) {
        Ok(email) => state.db.user_by_email(&email).await?,
        Err(_) => None,
    };
    if let Some(u) = &user {
        if let Err(locked) = state.accounts.guard_open(u, Guarded::Password).await {
            state
                .audit
                .note(
                    AuditEvent::new("auth.login_failed", Actor::Anonymous)
                        .subject("user", u.id)
                        .details(serde_json::json!({"reason": "locked"}))
                        .personal(Some(u.id), serde_json::json!({"ip": ip.to_string()})),
                )
                .await;
            return Err(locked.into());
        }
    }
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = state.accounts.verify_password(req.password, stored).await?;
    let email: String = req.email.chars().take(account::MAX_EMAIL_LEN).collect();
    let user = match (ok, user) {
        (true, Some(user)) => user,
        (false, Some(user)) => {
            state
                .audit
                .note(
                    AuditEvent::new("auth.login_failed", Actor::Anonymous)
                        .subject("user", user.id)
                        .details(serde_json::json!({"reason": "password"}))
                        .personal(
                            Some(user.id),
                            serde_json::json!({"ip": ip.to_string(), "email": email}),
                        ),
                )
                .await;
            state
                .accounts
                .guard_failed(&user, Guarded::Password)
                .await?;
            return Err(ApiError::invalid_credentials());
        }
        _ => {
            state
                .audit
                .note(
                    AuditEvent::new("auth.login_failed", Actor::Anonymous)
                        .details(serde_json::json!({"reason": "unknown_account"}))
                        .personal(
                            None,
                            serde_json::json!({"ip": ip.to_string(), "email": email}),
                        ),
                )
                .await;
            return Err(ApiError::invalid_credentials());
        }
    };
    state
        .accounts
        .guard_passed(&user, Guarded::Password)
        .await?;
    let res = first_factor_passed(&state, &user, ip, &headers, how).await?;
    if !user.totp_enabled {
        tracing::info!(user_id = user.id, "login");
        state
            .audit
            .note(
                AuditEvent::new("auth.login", Actor::User(user.id))
                    .subject("user", user.id)
                    .details(serde_json::json!({"method": "password"}))
                    .personal(Some(user.id), serde_json::json!({"ip": ip.to_string()})),
            )
            .await;
    }
    Ok(res)
}

/// After a first factor (password, provider): a two-factor challenge when it is on, else a new
/// session's tokens.
pub(super) async fn first_factor_passed(
    state: &AppState,
    user: &ferrocast_db::accounts::UserRecord,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    how: Handover,
) -> ApiResult<Response> {
    crate::service::accounts::refuse_suspended(user)?;
    if user.totp_enabled {
        return Ok(Json(mfa_challenge(state, user).await?).into_response());
    }
    new_session(state, user, ip, headers, how).await
}

/// How a sign-in hands over its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handover {
    /// An access token and a refresh token in the answer.
    Tokens,
    /// An access token in the answer; the session itself in an `HttpOnly` cookie.
    Cookie,
}

/// The `session` field of a sign-in body.
pub(crate) fn handover(v: Option<&str>) -> ApiResult<Handover> {
    match v {
        None | Some("tokens") => Ok(Handover::Tokens),
        Some("cookie") => Ok(Handover::Cookie),
        Some(_) => Err(ApiError::validation(
            "session: must be \"cookie\" (a browser session) or \"tokens\"",
        )),
    }
}

/// Starts a session for a user who signed in, handed over as `how`. A browser session
/// replaces (revokes) the one whose cookie the browser still holds: a session cookie is new
/// on every sign-in.
pub(crate) async fn new_session(
    state: &AppState,
    user: &ferrocast_db::accounts::UserRecord,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    how: Handover,
) -> ApiResult<Response> {
    let (ip, ua) = (Some(ip.to_string()), user_agent(headers));
    if how == Handover::Tokens {
        let tokens = state.accounts.start_session(user, ip, ua).await?;
        return Ok(Json(auth_response(user, tokens)).into_response());
    }
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        if let Ok((id, _)) = state.accounts.authenticate_cookie(old).await {
            state
                .db
                .revoke_session(id, "replaced", state.clock.now_ms())
                .await?;
        }
    }
    let (tokens, session) = state.accounts.start_cookie_session(user, ip, ua).await?;
    Ok(cookie_session_reply(state, user, tokens, &session))
}

/// A browser session's answer: the access token and CSRF token in the body, the session and
/// CSRF cookies set (for [`REFRESH_TTL_MS`]).
fn cookie_session_reply(
    state: &AppState,
    user: &ferrocast_db::accounts::UserRecord,
    tokens: IssuedTokens,
    session: &str,
) -> Response {
    let csrf = state.accounts.csrf_token(session);
    let mut body = auth_response(user, tokens);
    body.csrf_token = Some(csrf.clone());
    let mut res = Json(body).into_response();
    let max_age = REFRESH_TTL_MS / 1000;
    for c in [
        session_cookie(state, SESSION_COOKIE, session, max_age, true),
        session_cookie(state, CSRF_COOKIE, &csrf, max_age, false),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// A `Set-Cookie` value for the whole site: `SameSite=Lax`, `Secure` when the public URL is
/// https, `HttpOnly` unless a page must read it (the CSRF token).
fn session_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: i64,
    http_only: bool,
) -> String {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let http_only = if http_only { "; HttpOnly" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax{http_only}{secure}")
}

/// Second login step: a TOTP code or a recovery code for the challenge from `/api/auth/login`.
#[utoipa::path(post, path = "/api/auth/login/2fa", tag = "auth", request_body = Login2faRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login_2fa(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<Login2faRequest>,
) -> ApiResult<Response> {
    crate::extract::limit_auth(&state, ip).await?;
    let how = handover(req.session.as_deref())?;
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
            .audit
            .note(
                AuditEvent::new("auth.login_failed", Actor::Anonymous)
                    .subject("user", user.id)
                    .details(serde_json::json!({"reason": "second_factor"}))
                    .personal(Some(user.id), serde_json::json!({"ip": ip.to_string()})),
            )
            .await;
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
    let res = new_session(&state, &user, ip, &headers, how).await?;
    tracing::info!(user_id = user.id, "login with second factor");
    let method = if req.code.is_some() {
        "password+totp"
    } else {
        "password+recovery_code"
    };
    state
        .audit
        .note(
            AuditEvent::new("auth.login", Actor::User(user.id))
                .subject("user", user.id)
                .details(serde_json::json!({"method": method}))
                .personal(Some(user.id), serde_json::json!({"ip": ip.to_string()})),
        )
        .await;
    Ok(res)
}

/// Trade a refresh token for a new access token and a new refresh token. Each refresh token
/// works once; presenting a spent one revokes the whole session (someone copied it). Without
/// a refresh token, renews the browser session of the `ferrocast_session` cookie (which needs
/// its `X-CSRF-Token`): a new access token, and the session's end moved 30 days on.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse, description = "New tokens; for a browser session, a new access token and the session's cookies renewed"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "`CSRF`: a cookie refresh without its X-CSRF-Token")))]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    let Some(refresh_token) = req.refresh_token else {
        // A browser session: the cookie, with its CSRF token.
        let session = cookie(&headers, SESSION_COOKIE).ok_or_else(|| {
            ApiError::validation(
                "refresh_token: send it, or call this from the browser that signed in with \"session\": \"cookie\" (its session cookie is missing)",
            )
        })?;
        crate::extract::check_csrf(&state, &headers, session)?;
        let (user, tokens) = state.accounts.refresh_cookie(session).await?;
        return Ok(cookie_session_reply(&state, &user, tokens, session));
    };
    bounded("refresh_token", &refresh_token)?;
    let next = token::generate("fcr_");
    let now = state.clock.now_ms();
    let outcome = state
        .db
        .rotate_refresh_token(
            &token::hash(&refresh_token),
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
            Ok(Json(auth_response(&user, tokens)).into_response())
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

/// End the current session: its access and refresh tokens stop working at once. A browser
/// session's cookies are cleared, and the session they name ends too.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let sid = auth.require_session()?;
    let now = state.clock.now_ms();
    state
        .db
        .revoke_session_by_uuid(auth.user.id, sid, "logout", now)
        .await?;
    let mut res = message("Logged out.").into_response();
    if let Some(session) = cookie(&headers, SESSION_COOKIE) {
        // This browser's session ends too (the web app's bearer token is that session's).
        if let Ok((id, other)) = state.accounts.authenticate_cookie(session).await {
            if other.user.id == auth.user.id {
                state.db.revoke_session(id, "logout", now).await?;
            }
        }
        for name in [SESSION_COOKIE, CSRF_COOKIE] {
            if let Ok(v) = HeaderValue::from_str(&session_cookie(&state, name, "", 0, true)) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
        }
    }
    Ok(res)
}

/// The current user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn me(auth: AuthUser) -> ApiResult<Json<UserView>> {
    Ok(Json((&auth.user).into()))
}

/// A login challenge for a user with two-factor on: the second step
/// (`/api/auth/login/2fa`) completes the sign-in.
pub(crate) async fn mfa_challenge(
    state: &AppState,
    user: &ferrocast_db::accounts::UserRecord,
) -> ApiResult<MfaRequired> {
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
    Ok(MfaRequired {
        mfa_required: true,
        mfa_token: challenge,
        methods: vec!["totp".into(), "recovery_code".into()],
    })
}
