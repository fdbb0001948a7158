//! The admin API's address lists (`FERROCAST_ADMIN_ALLOW` / `_DENY`): `/api/admin/*` answers
//! only clients the lists permit — the connecting address, or behind `FERROCAST_TRUSTED_PROXIES`
//! the client they forwarded. The ingest lists are applied where publishes are authorised
//! ([`crate::service::streams::SourceAuthorizer`]).

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Whether `path` is the admin API's.
fn is_admin(path: &str) -> bool {
    path == "/api/admin" || path.starts_with("/api/admin/")
}

/// Refuses `/api/admin/*` (403) to clients the admin lists do not permit, before any
/// credential is looked at.
pub async fn admin_gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let lists = &state.config.ops.admin;
    if lists.is_open() || !is_admin(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return ApiError::internal("connect info missing from the request").into_response();
    };
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let client = crate::extract::client_ip(peer, &forwarded, &state.config.trusted_proxies);
    if lists.permits(client) {
        return next.run(req).await;
    }
    // Debug, not warn: anyone on the internet can send these, and logs are not to be flooded.
    tracing::debug!(%client, path = %req.uri().path(), "admin API refused to an address the admin lists do not permit");
    ApiError::forbidden(
        "The admin API does not answer this address; an operator can add it to FERROCAST_ADMIN_ALLOW (or remove it from FERROCAST_ADMIN_DENY).",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_admin_tree_is_gated() {
        assert!(super::is_admin("/api/admin"));
        assert!(super::is_admin("/api/admin/settings"));
        assert!(!super::is_admin("/api/administrators"));
        assert!(!super::is_admin("/api/site"));
    }
}
