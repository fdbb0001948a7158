//! The maintenance gate: holds the API closed to everyone but administrators while the site's
//! settings ([`crate::service::site`]) say it is down for maintenance.

use crate::error::ApiError;
use crate::extract::authenticate_parts;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// API paths open during maintenance: logging in (so administrators can), the site's state,
/// the API's description, and the payment gateways' callbacks (money must not be lost).
const OPEN_DURING_MAINTENANCE: &[&str] = &[
    "/api/site",
    "/api/auth/login",
    "/api/auth/login/2fa",
    "/api/auth/refresh",
    "/api/auth/logout",
    "/api/auth/me",
    "/api/auth/providers",
    "/api/auth/google",
    "/api/auth/twitch",
    "/api/auth/oauth/exchange",
    "/api/docs",
    "/api/openapi.json",
    "/api/payments/webhook",
    "/api/payments/stripe/webhook",
    // A buyer coming back from Razorpay's hosted Checkout: the payment is taken already.
    "/api/payments/razorpay/callback",
    "/api/payments/epayco/confirmation",
];

/// During maintenance, API requests other than [`OPEN_DURING_MAINTENANCE`] get 503 unless an
/// administrator makes them. Pages, players and streams are not held: the web app shows the
/// maintenance page itself (from `GET /api/site`).
pub async fn maintenance_gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let open = OPEN_DURING_MAINTENANCE.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    if !path.starts_with("/api/") || open {
        return next.run(req).await;
    }
    let site = state.site.settings().await;
    if !site.maintenance_mode {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // Only an administrator's session, or a key granted the `admin` scope, passes.
    let admin = authenticate_parts(&parts, &state)
        .await
        .is_ok_and(|a| a.is_admin());
    if admin {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "MAINTENANCE",
        "ferrocast is down for maintenance",
        if site.maintenance_message.is_empty() {
            "We will be back shortly.".to_string()
        } else {
            site.maintenance_message
        },
    );
    e.retry_after = Some(60);
    e.into_response()
}
