//! The nginx `auth_request` probe: who the bearer is, as response headers.

use super::shapes::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Authenticated;
use axum::extract::Query;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrocast_domain::account::Role;

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
