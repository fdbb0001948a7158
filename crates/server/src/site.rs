//! Site-wide settings administrators change while the site runs — maintenance mode and
//! whether registration is open — and the gate that holds the API closed to everyone but
//! administrators during maintenance.
//!
//! Settings live in the database (every node sees the same) and are cached for two seconds.

use crate::error::ApiError;
use crate::extract::authenticate_parts;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// How long a node trusts its copy of the settings.
const CACHE_FOR: Duration = Duration::from_secs(2);

/// The settings as the site applies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SiteSettings {
    /// Whether the site is down for maintenance (administrators still get in).
    pub maintenance_mode: bool,
    /// What visitors are told meanwhile.
    pub maintenance_message: String,
    /// Whether anyone may register.
    pub registration_open: bool,
}

/// The cached copy.
pub type SiteCache = std::sync::Mutex<Option<(Instant, SiteSettings)>>;

/// API paths open during maintenance: logging in (so administrators can), the site's state,
/// the API's description, and the payment gateways' callbacks (money must not be lost).
const OPEN_DURING_MAINTENANCE: &[&str] = &[
    "/api/site",
    "/api/auth/login",
    "/api/auth/login/2fa",
    "/api/auth/refresh",
    "/api/auth/logout",
    "/api/auth/me",
    "/api/docs",
    "/api/openapi.json",
    "/api/payments/webhook",
    "/api/payments/stripe/webhook",
    "/api/payments/epayco/confirmation",
];

impl AppState {
    /// The site's settings now.
    pub async fn site(&self) -> SiteSettings {
        if let Some((at, s)) = self
            .site_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if at.elapsed() < CACHE_FOR {
                return s.clone();
            }
        }
        let mut s = SiteSettings {
            maintenance_mode: false,
            maintenance_message: String::new(),
            registration_open: self.config.registration_open,
        };
        match self.db.site_settings().await {
            Ok(rows) => {
                for (k, v) in rows {
                    match k.as_str() {
                        "maintenance_mode" => s.maintenance_mode = v == "true",
                        "maintenance_message" => s.maintenance_message = v,
                        "registration_open" => s.registration_open = v == "true",
                        _ => {}
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the site settings; using the last known");
                if let Some((_, last)) = self
                    .site_cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                {
                    return last.clone();
                }
            }
        }
        *self.site_cache.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), s.clone()));
        s
    }

    /// Drops this node's copy (after a change made here).
    pub fn forget_site(&self) {
        *self.site_cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

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
    let site = state.site().await;
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
