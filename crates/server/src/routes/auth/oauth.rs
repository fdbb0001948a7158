//! Sign in with Google or Twitch: the start and callback routes the browser follows, the
//! hand-off code the web app trades for a session, and linked identities in Settings.
//!
//! The callback never puts a token in a URL: a sign-in ends on `/auth/complete#code=…` (a
//! fragment, which browsers do not send to servers), and the page POSTs the code to
//! `/api/auth/oauth/exchange`. Failures end on the login page (or Settings, for a link) with
//! `?oauth_error=CODE`, which the page says in words.

use super::shapes::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{cookie, ApiJson, AuthUser, ClientIp};
use crate::service::audit::{Actor, AuditEvent};
use crate::service::clock::rfc3339;
use crate::service::identity::{
    binding_cookie, CallbackParams, Completed, Provider, Purpose, SiteState, HANDOFF_COOKIE,
};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// A sign-in provider the node offers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    /// `google`, `twitch` or `telegram`.
    pub id: String,
    /// `Google`, `Twitch` or `Telegram`.
    pub name: String,
    /// Where the browser goes to sign in with it.
    pub login_url: String,
}

/// The providers configured on this node.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    /// Empty when none is configured.
    pub providers: Vec<ProviderView>,
}

/// `?return_to=` of a sign-in start.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StartQuery {
    /// A local path to open after signing in (default `/dashboard`).
    pub return_to: Option<String>,
}

/// Trade a hand-off code for a session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    /// The code from `/auth/complete#code=…`.
    pub code: String,
    /// `"cookie"`: a browser session, kept in an `HttpOnly` cookie instead of a refresh token
    /// in the answer (see `/api/auth/refresh`); `"tokens"` (the default): tokens only.
    pub session: Option<String>,
}

/// A provider account linked to the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    /// Id (to unlink).
    pub id: i64,
    /// `google` or `twitch`.
    pub provider: String,
    /// The email the provider gave.
    pub email: Option<String>,
    /// Whether the provider verified it.
    pub email_verified: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_login_at: Option<String>,
}

/// The caller's ways to sign in.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityList {
    /// Linked provider accounts, oldest first.
    pub identities: Vec<IdentityView>,
    /// Whether the account has a password.
    pub has_password: bool,
    /// Providers that could be linked on this node.
    pub available: Vec<String>,
}

/// Where to send the browser to link a provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeUrl {
    /// The provider's consent page.
    pub authorize_url: String,
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

fn provider_or_404(state: &AppState, p: Provider) -> ApiResult<Provider> {
    if state.identity.configured().contains(&p) {
        Ok(p)
    } else {
        Err(crate::service::identity::IdentityError::NotConfigured(p.label()).into())
    }
}

/// The sign-in providers configured on this node (the login page shows a button for each).
#[utoipa::path(get, path = "/api/auth/providers", tag = "auth",
    responses((status = 200, body = ProviderList)))]
pub async fn providers(State(state): State<AppState>) -> Json<ProviderList> {
    let mut providers: Vec<ProviderView> = state
        .identity
        .configured()
        .into_iter()
        .map(|p| ProviderView {
            id: p.as_str().into(),
            name: p.label().into(),
            login_url: format!("/api/auth/{}", p.as_str()),
        })
        .collect();
    // Telegram's own sign-in page, which comes back to /auth/telegram.
    if let Some(url) = state.telegram.login_url(&state.config.public_url) {
        providers.push(ProviderView {
            id: "telegram".into(),
            name: "Telegram".into(),
            login_url: url,
        });
    }
    Json(ProviderList { providers })
}

async fn start(state: AppState, ip: std::net::IpAddr, p: Provider, q: StartQuery) -> Response {
    let go = async {
        crate::extract::limit_auth(&state, ip).await?;
        provider_or_404(&state, p)?;
        let return_to = q.return_to.unwrap_or_else(|| "/dashboard".into());
        Ok::<_, ApiError>(
            state
                .identity
                .start(p, Purpose::Login { return_to })
                .await?,
        )
    };
    match go.await {
        Ok(started) => {
            let mut res = redirect(&started.authorize_url);
            if let Ok(v) = state
                .identity
                .binding_set_cookie(p, &started.binding)
                .parse()
            {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => e.into_response(),
        Err(e) => redirect(&format!("/login?oauth_error={}", e.body.code)),
    }
}

async fn callback(
    state: AppState,
    p: Provider,
    headers: HeaderMap,
    mut q: HashMap<String, String>,
) -> Response {
    let params = CallbackParams {
        code: q.remove("code"),
        state: q.remove("state"),
        error: q.remove("error"),
    };
    // During maintenance accounts may sign in with a provider; nobody signs up, and only
    // administrators link accounts or connect chat.
    let site = state.site.settings().await;
    let site = SiteState {
        registration_open: site.registration_open,
        maintenance: site.maintenance_mode,
    };
    let binding = cookie(&headers, &binding_cookie(p));
    let mut res = match state.identity.callback(p, params, binding, site).await {
        Ok(Completed::SignedIn { handoff, return_to }) => {
            let mut res = redirect(&format!(
                "/auth/complete?return_to={}#code={handoff}",
                ferrocast_auth::oidc::percent_encode(&return_to)
            ));
            // The code is tradable only with this browser's binding, carried on to the exchange.
            if let Some(Ok(v)) = binding.map(|b| state.identity.handoff_set_cookie(b).parse()) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        Ok(Completed::Linked { provider }) => {
            redirect(&format!("/settings?linked={}", provider.as_str()))
        }
        Ok(Completed::Connected {
            user_id,
            source_id,
            tokens,
            login,
        }) => {
            crate::routes::connectors::connected(&state, p, user_id, source_id, tokens, login).await
        }
        Err((e, back)) => {
            if let crate::service::identity::IdentityError::Db(_)
            | crate::service::identity::IdentityError::Internal(_) = &e
            {
                tracing::error!(error = %e, provider = p.as_str(), "provider sign-in failed");
            } else {
                tracing::info!(
                    code = e.code(),
                    provider = p.as_str(),
                    "provider sign-in refused"
                );
            }
            redirect(&format!(
                "{back}?oauth_error={}&provider={}",
                e.code(),
                p.as_str()
            ))
        }
    };
    // The flow is over either way: the binding cookie goes.
    if let Ok(v) = format!(
        "{}=; Path=/api/auth; HttpOnly; SameSite=Lax; Max-Age=0",
        binding_cookie(p)
    )
    .parse()
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// Start signing in with Google: redirects to Google's consent page.
#[utoipa::path(get, path = "/api/auth/google", tag = "auth", params(StartQuery),
    responses((status = 302, description = "To Google; on a problem, to /login?oauth_error=CODE"), (status = 429, body = ErrorBody)))]
pub async fn google_start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(q): Query<StartQuery>,
) -> Response {
    start(state, ip, Provider::Google, q).await
}

/// Start signing in with Twitch: redirects to Twitch's consent page.
#[utoipa::path(get, path = "/api/auth/twitch", tag = "auth", params(StartQuery),
    responses((status = 302, description = "To Twitch; on a problem, to /login?oauth_error=CODE"), (status = 429, body = ErrorBody)))]
pub async fn twitch_start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(q): Query<StartQuery>,
) -> Response {
    start(state, ip, Provider::Twitch, q).await
}

/// Google's redirect back (register `PUBLIC_URL/api/auth/google/callback` at Google).
#[utoipa::path(get, path = "/api/auth/google/callback", tag = "auth",
    responses((status = 302, description = "To /auth/complete#code=… (sign-in), /settings (link), /dashboard (chat), or back with ?oauth_error=CODE")))]
pub async fn google_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    callback(state, Provider::Google, headers, q).await
}

/// Twitch's redirect back (register `PUBLIC_URL/api/auth/twitch/callback` at Twitch).
#[utoipa::path(get, path = "/api/auth/twitch/callback", tag = "auth",
    responses((status = 302, description = "To /auth/complete#code=… (sign-in), /settings (link), /dashboard (chat), or back with ?oauth_error=CODE")))]
pub async fn twitch_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    callback(state, Provider::Twitch, headers, q).await
}

/// Trade the hand-off code of a provider sign-in for a session (once, within a minute). With
/// two-factor on, answers `mfa_required` and a challenge for `/api/auth/login/2fa`, as login
/// does.
#[utoipa::path(post, path = "/api/auth/oauth/exchange", tag = "auth", request_body = ExchangeRequest,
    responses((status = 200, body = AuthResponse, description = "Tokens, or `MfaRequired` when two-factor is on"),
              (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn oauth_exchange(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ExchangeRequest>,
) -> ApiResult<Response> {
    crate::extract::limit_auth(&state, ip).await?;
    bounded("code", &req.code)?;
    let how = super::session::handover(req.session.as_deref())?;
    let user = state
        .identity
        .take_handoff(&req.code, cookie(&headers, HANDOFF_COOKIE))
        .await?;
    let res = super::session::first_factor_passed(&state, &user, ip, &headers, how).await?;
    if !user.totp_enabled {
        state
            .audit
            .note(
                AuditEvent::new("auth.login", Actor::User(user.id))
                    .subject("user", user.id)
                    .details(serde_json::json!({"method": "provider"}))
                    .personal(Some(user.id), serde_json::json!({"ip": ip.to_string()})),
            )
            .await;
    }
    Ok(res)
}

/// The caller's linked provider accounts and whether the account has a password.
#[utoipa::path(get, path = "/api/auth/identities", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = IdentityList), (status = 401, body = ErrorBody)))]
pub async fn list_identities(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<IdentityList>> {
    let identities = state
        .identity
        .identities(auth.user.id)
        .await?
        .into_iter()
        .map(|i| IdentityView {
            id: i.id,
            provider: i.provider,
            email: i.email,
            email_verified: i.email_verified,
            created_at: rfc3339(i.created_at),
            last_login_at: i.last_login_at.map(rfc3339),
        })
        .collect();
    Ok(Json(IdentityList {
        identities,
        has_password: auth.user.password_hash.is_some(),
        available: state
            .identity
            .configured()
            .into_iter()
            .map(|p| p.as_str().to_string())
            .collect(),
    }))
}

/// Start linking a provider account to the caller: answers the consent URL to open. The
/// provider sends the browser back to Settings.
#[utoipa::path(post, path = "/api/auth/link/{provider}", tag = "auth", security(("bearer" = [])),
    params(("provider" = String, Path, description = "`google` or `twitch`")),
    responses((status = 200, body = AuthorizeUrl), (status = 404, body = ErrorBody)))]
pub async fn link_identity(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    Path(provider): Path<String>,
) -> ApiResult<Response> {
    // Each start stores a pending login: counted as a credential request.
    crate::extract::limit_auth(&state, ip).await?;
    let p = Provider::parse(&provider).ok_or_else(|| ApiError::not_found("Provider"))?;
    provider_or_404(&state, p)?;
    let started = state
        .identity
        .start(
            p,
            Purpose::Link {
                user_id: auth.user.id,
            },
        )
        .await?;
    // The flow is bound to this browser by a cookie its callback must bring back.
    let cookie = state.identity.binding_set_cookie(p, &started.binding);
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(AuthorizeUrl {
            authorize_url: started.authorize_url,
        }),
    )
        .into_response())
}

/// Unlink a provider account. Refused (409 `LAST_SIGN_IN_METHOD`) when it is the account's
/// only way in: no password and no other linked account.
#[utoipa::path(delete, path = "/api/auth/identities/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The identity's id")),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn unlink_identity(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    let id = crate::service::sources::parse_id(&id, "identity")?;
    state.identity.unlink(auth.user.id, id).await?;
    tracing::info!(user_id = auth.user.id, identity = id, "identity unlinked");
    Ok(message("The account was unlinked."))
}
