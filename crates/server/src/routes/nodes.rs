//! The nodes of the deployment (administrators): each node's role, the URLs the others reach it
//! at, its last heartbeat, and the live streams it holds (published there, or relayed); and the
//! pulls the answering node is running.

use crate::error::{ApiResult, ErrorBody};
use crate::service::clock::rfc3339;
use crate::service::nodes::STALE_AFTER;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// A live stream a node holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeStreamView {
    /// The stream's playback id.
    pub playback_id: String,
    /// Relayed from the node that publishes it (false: published on this node).
    pub relay: bool,
    /// Since when the node holds it (RFC 3339).
    pub since: String,
}

/// A node of the deployment.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    /// Its id (fresh per process).
    pub id: String,
    /// `origin` or `edge`.
    pub role: String,
    /// How other nodes reach it over RTMP.
    pub rtmp_url: String,
    /// How other nodes reach it over HTTP.
    pub http_url: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Its last heartbeat (RFC 3339).
    pub heartbeat_at: String,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_secs: i64,
    /// Whether its heartbeat is recent enough for others to pull from it.
    pub up: bool,
    /// Whether it is the node that answered this request.
    pub this_node: bool,
    /// The live streams it holds.
    pub streams: Vec<NodeStreamView>,
}

/// The node registry.
#[derive(Debug, Serialize, ToSchema)]
pub struct Nodes {
    /// Every registered node, oldest first.
    pub nodes: Vec<NodeView>,
    /// The playback ids the answering node is pulling from other nodes now.
    pub pulls: Vec<String>,
}

/// The nodes of the deployment and the streams each holds (administrators).
#[utoipa::path(get, path = "/api/admin/nodes", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Nodes), (status = 403, body = ErrorBody)))]
pub async fn admin_nodes(State(state): State<AppState>) -> ApiResult<Json<Nodes>> {
    let now = state.clock.now_ms();
    let me = state.fanout.node().to_string();
    let nodes = state
        .db
        .list_nodes()
        .await?
        .into_iter()
        .map(|(n, streams)| {
            let age_ms = (now - n.heartbeat_at).max(0);
            NodeView {
                this_node: n.id == me,
                up: age_ms <= STALE_AFTER.as_millis() as i64,
                heartbeat_age_secs: age_ms / 1000,
                started_at: rfc3339(n.started_at),
                heartbeat_at: rfc3339(n.heartbeat_at),
                id: n.id,
                role: n.role,
                rtmp_url: n.rtmp_url,
                http_url: n.http_url,
                streams: streams
                    .into_iter()
                    .map(|s| NodeStreamView {
                        playback_id: s.playback_id,
                        relay: s.relay,
                        since: rfc3339(s.since),
                    })
                    .collect(),
            }
        })
        .collect();
    let pulls = state
        .engine
        .relays
        .as_ref()
        .map(|r| r.pulls())
        .unwrap_or_default();
    Ok(Json(Nodes { nodes, pulls }))
}
