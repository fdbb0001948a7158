//! Extractors every handler uses: JSON bodies with our error policy, the client address, and the
//! authenticated caller.

use crate::error::ApiError;
pub use crate::service::accounts::{AuthUser, Credential, API_KEY_PREFIX};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

/// A JSON body. Rejections become our error body: 415 without `Content-Type: application/json`,
/// 400 for malformed JSON, 413 over the body limit, 422 for JSON of the wrong shape.
pub struct ApiJson<T>(pub T);

/// Longest serde message echoed in `details` (it may quote input).
const MAX_DETAIL: usize = 200;

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_DETAIL {
        return s.to_string();
    }
    let mut end = MAX_DETAIL;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Expected a JSON body",
            "Send the body as JSON with the header Content-Type: application/json.",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "INVALID_JSON",
            "The body is not valid JSON",
            truncate(&e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => {
            // serde's message names the field; strip axum's prefix.
            let text = e.body_text();
            let text = text
                .split_once(": ")
                .map(|(_, rest)| rest.to_string())
                .unwrap_or(text);
            ApiError::validation(truncate(&text))
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            too_large()
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        other => ApiError::bad_request(
            "BAD_REQUEST",
            "The request body could not be read",
            truncate(&other.body_text()),
        ),
    }
}

/// 413 with our body.
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "The request body is too large",
        "Send a smaller body; the limit is set by FERROCAST_MAX_BODY_BYTES.",
    )
}

/// The client's address: the TCP peer, or — only when the peer is one of
/// `FERROCAST_TRUSTED_PROXIES` — the nearest untrusted address in `X-Forwarded-For`. A client
/// cannot choose its own address to escape rate limits.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// Forwarded hops considered at most.
const MAX_FORWARDED_HOPS: usize = 16;

/// Resolves the client address from the peer and `X-Forwarded-For` values.
pub fn client_ip(
    peer: IpAddr,
    forwarded_for: &[&str],
    trusted: &[ferrocast_config::IpNet],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded_for
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .take(MAX_FORWARDED_HOPS)
        .map_while(|h| h.parse::<IpAddr>().ok())
        .collect();
    // Right to left: the first address not belonging to our own proxies is the client.
    hops.iter()
        .copied()
        .find(|ip| !is_trusted(*ip))
        .or_else(|| hops.last().copied())
        .unwrap_or(peer)
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| ApiError::internal("connect info missing from the request"))?;
        if state.config.trusted_proxies.is_empty() {
            return Ok(ClientIp(peer));
        }
        let values: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(ClientIp(client_ip(
            peer,
            &values,
            &state.config.trusted_proxies,
        )))
    }
}

/// Charges one credential request to `ip`; 429 when over the limit.
pub async fn limit_auth(state: &AppState, ip: IpAddr) -> Result<(), ApiError> {
    state
        .auth_limiter
        .check_shared(&crate::ratelimit::client_key(ip))
        .await
        .map_err(|wait| {
            state.metrics.rate_limited("auth");
            ApiError::rate_limited(wait)
        })
}

/// Charges one authenticated request to a user; 429 when over the limit.
pub async fn limit_api(state: &AppState, user_id: i64) -> Result<(), ApiError> {
    state
        .api_limiter
        .check_shared(&user_id.to_string())
        .await
        .map_err(|wait| {
            state.metrics.rate_limited("api");
            ApiError::rate_limited(wait)
        })
}

/// The authenticated caller on a route declared [`crate::access::Access::Probe`] (the nginx
/// `auth_request` probe, which runs once per proxied request and is not rate-limited per user).
pub struct Authenticated(pub AuthUser);

/// The browser session's cookie (`HttpOnly`): a session started with `"session": "cookie"`.
pub const SESSION_COOKIE: &str = "ferrocast_session";
/// The cookie carrying the CSRF token of [`SESSION_COOKIE`] (readable by the site's pages).
pub const CSRF_COOKIE: &str = "ferrocast_csrf";
/// The header a cookie-authenticated state-changing request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Cookie pairs read from a request at most.
const MAX_COOKIES: usize = 64;

/// The value of cookie `name` in the request's `Cookie` headers, if any.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .take(MAX_COOKIES)
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Reads the request's credential — a bearer token, or else the browser session's cookie —
/// and resolves it to the caller. A cookie-authenticated request that changes state (any
/// method but GET, HEAD and OPTIONS) must carry the session's CSRF token in `X-CSRF-Token`.
pub(crate) async fn authenticate_parts(
    parts: &Parts,
    state: &AppState,
) -> Result<AuthUser, ApiError> {
    let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
        let Some(session) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(ApiError::unauthenticated(
                "Send Authorization: Bearer <access token or API key>, or sign in in this browser.",
            ));
        };
        let (_, auth) = state.accounts.authenticate_cookie(session).await?;
        if !parts.method.is_safe() {
            check_csrf(state, &parts.headers, session)?;
        }
        return Ok(auth);
    };
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthenticated("The Authorization header is not valid text."))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthenticated("Use the Bearer scheme: Authorization: Bearer <token>.")
        })?;
    Ok(state.accounts.authenticate(token).await?)
}

/// Refuses a cookie-authenticated request without the session's CSRF token (403 `CSRF`).
pub(crate) fn check_csrf(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    session: &str,
) -> Result<(), ApiError> {
    let presented = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if state.accounts.csrf_matches(session, presented) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "CSRF",
        "This request came with the session cookie but without its CSRF token",
        "Send the value of the ferrocast_csrf cookie in an X-CSRF-Token header (the web app does this itself; reload the page).",
    ))
}

/// The caller the route's declared access admitted ([`crate::access`]); a route that declared
/// none has no caller to give, which is a bug answered 500 rather than an unchecked caller.
fn admitted(parts: &Parts) -> Result<AuthUser, ApiError> {
    parts.extensions.get::<AuthUser>().cloned().ok_or_else(|| {
        ApiError::internal("invariant: a route that reads the caller declares a credential")
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        admitted(parts).map(Authenticated)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        admitted(parts)
    }
}

/// The caller of a public route, if it sent a credential (a bad one is refused 401).
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(MaybeUser(None));
        }
        authenticate_parts(parts, state)
            .await
            .map(|a| MaybeUser(Some(a)))
    }
}
