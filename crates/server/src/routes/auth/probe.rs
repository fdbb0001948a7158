//! The nginx `auth_request` probe: who the caller is (a bearer credential, or the browser
//! session's cookie), as response headers.

use super::shapes::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Authenticated;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrocast_domain::account::Role;

/// For nginx `auth_request`: 200 with `X-User-Id`, `X-User-Uuid`, `X-User-Email`,
/// `X-User-Role` and `X-User-Plan` when the credential is valid — a bearer token, or the
/// `ferrocast_session` cookie of a browser that signed in with `"session": "cookie"` — and,
/// with `?role=`, the role suffices and, with `?plan=`, the plan does; 401 or 403 otherwise.
#[utoipa::path(get, path = "/api/auth/verify", tag = "auth", security(("bearer" = [])), params(VerifyQuery),
    responses((status = 200, description = "Authenticated; user headers set"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
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
    let (plan, _) = state.db.user_plan(auth.user.id).await?;
    if let Some(name) = q.plan.as_deref() {
        let plans = state.db.list_plans().await?;
        let wanted = plans
            .iter()
            .find(|p| p.spec.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = plans.iter().map(|p| p.spec.name.as_str()).collect();
                ApiError::validation(format!(
                    "plan: no plan is named {:?}; the plans are {}",
                    name.chars().take(64).collect::<String>(),
                    names.join(", ")
                ))
            })?;
        let enough = plan.id == wanted.id
            || plan.spec.price_monthly_cents >= wanted.spec.price_monthly_cents;
        if !enough && !auth.is_admin() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "PLAN_REQUIRED",
                format!("This needs the {} plan", wanted.spec.name),
                format!(
                    "Your plan is {}; upgrade under Billing (/dashboard/subscription) to reach this.",
                    plan.spec.name
                ),
            ));
        }
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
    if let Ok(v) = HeaderValue::from_str(&plan.spec.name) {
        h.insert("x-user-plan", v);
    }
    Ok(res)
}
