//! Draining a node before it exits (SIGTERM, `FERROCAST_DRAIN_SECS`): the HTTP gate that
//! refuses new viewers meanwhile. The switches the parts of a node watch are
//! [`crate::service::drain::Drain`]'s.
//!
//! The order is [`crate::Running::drain`]'s: `/ready` answers 503 at once (load balancers take
//! the node out), the RTMP listener closes with its connections (encoders reconnect, through
//! the balancer, to another node), new HTTP viewers and WHIP publishes are refused, job workers
//! claim nothing more while the running job finishes, then everything stops and the node's
//! leases are given back.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Paths of new viewers over HTTP (HTTP-FLV, HLS): refused while the
/// node drains, so players reconnect to a node that stays. Requests already being answered
/// (an HTTP-FLV stream in progress) go on until the node stops.
const VIEWER_PREFIXES: &[&str] = &["/live/", "/hls/"];

/// While draining, new viewers get 503 with `Retry-After: 1` (a player or a balancer tries
/// another node); everything else is served until the node stops.
pub async fn viewer_gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.drain.is_draining() {
        let path = req.uri().path();
        if VIEWER_PREFIXES.iter().any(|p| path.starts_with(p)) {
            let mut res = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "DRAINING",
                "This node is shutting down",
                "This node is draining before it stops; connect again to reach another node.",
            )
            .into_response();
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            return res;
        }
    }
    next.run(req).await
}
