//! Origin and edge nodes: the node registry in the database (every node's heartbeat, advertised
//! URLs and the live streams it holds, so that the deployment needs nothing beyond its database
//! to find a stream), the engine's [`OriginLocator`] port over it, and the node credential that
//! lets one node pull a live stream from another.
//!
//! - Every [`HEARTBEAT`] (and at once when a stream starts or ends here) a node writes its row
//!   and the list of streams its hub holds; a node whose heartbeat is older than
//!   [`STALE_AFTER`] is ignored and expired by the others; a node stopping removes its rows.
//! - A node asked for a stream it does not hold finds the node publishing it
//!   ([`ferrocast_db::Db::stream_origin`]: never a relay, so relays never chain) and the engine
//!   pulls it over RTMP with a credential: `node=<id>&node_exp=<ms>&node_sig=<hex>`, an
//!   HMAC-SHA256 under the node secret of the stream, the pulling node and the expiry
//!   ([`CREDENTIAL_TTL_MS`]). The origin checks it in [`NodeAuthorizer::node_pull`].
//! - An edge node ([`NodeRole::Edge`]) refuses publishes ([`NodeAuthorizer::authorize`]).

use super::clock::SharedClock;
use ferrocast_config::NodeRole;
use ferrocast_db::nodes::{NodeRecord, NodeStream};
use ferrocast_db::Db;
use ferrocast_domain::media::{
    OriginLocation, OriginLocator, PortFuture, PublishAuthorizer, PublishDenied, PublishGrant,
};
use ferrocast_hub::{Hub, StreamEvent};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How often a node renews its registration and stream list.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A node whose heartbeat is older than this is gone: its streams are not pulled from, and its
/// rows are removed by the next node to beat.
pub const STALE_AFTER: Duration = Duration::from_secs(20);
/// How long a pull credential is valid after it is made (a pull presents it once, at its
/// start).
pub const CREDENTIAL_TTL_MS: i64 = 60_000;
/// What an edge node answers an encoder.
pub const EDGE_REFUSAL: &str =
    "this is an edge node: it takes no publishes; publish to an origin node of this deployment";

/// The key pull credentials are signed with: from `FERROCAST_NODE_SECRET` when set, else from
/// the master key (which every node of a deployment shares).
pub fn pull_key(configured: Option<&str>, master_key: &[u8; 32]) -> [u8; 32] {
    let root: [u8; 32] = match configured {
        Some(s) => Sha256::digest(s.as_bytes()).into(),
        None => *master_key,
    };
    ferrocast_auth::secretbox::derive_key(&root, "node-pull-hmac-sha256")
}

fn mac(key: &[u8; 32], playback_id: &str, node: &str, exp: i64) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("invariant: HMAC accepts any key length");
    for part in [playback_id, node, &exp.to_string()] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac
}

/// The credential (a query string) node `node` presents to pull `playback_id`, made at `now_ms`.
pub fn credential(key: &[u8; 32], playback_id: &str, node: &str, now_ms: i64) -> String {
    let exp = now_ms + CREDENTIAL_TTL_MS;
    let sig =
        data_encoding::HEXLOWER.encode(&mac(key, playback_id, node, exp).finalize().into_bytes());
    format!("node={node}&node_exp={exp}&node_sig={sig}")
}

/// Whether `query` holds a valid, unexpired credential to pull `playback_id` at `now_ms`
/// (constant-time comparison).
pub fn verify_credential(key: &[u8; 32], playback_id: &str, query: &str, now_ms: i64) -> bool {
    let (mut node, mut exp, mut sig) = (None, None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("node", v)) => node = Some(v),
            Some(("node_exp", v)) => exp = v.parse::<i64>().ok(),
            Some(("node_sig", v)) => sig = Some(v),
            _ => {}
        }
    }
    let (Some(node), Some(exp), Some(sig)) = (node, exp, sig) else {
        return false;
    };
    if exp < now_ms || exp > now_ms + 2 * CREDENTIAL_TTL_MS || node.len() > 64 {
        return false;
    }
    let Ok(raw) = data_encoding::HEXLOWER_PERMISSIVE.decode(sig.as_bytes()) else {
        return false;
    };
    mac(key, playback_id, node, exp).verify_slice(&raw).is_ok()
}

/// The publish authoriser of a node: the sources' own ([`super::streams::SourceAuthorizer`]),
/// refusing every publish on an edge node, and recognising other nodes' pulls.
pub struct NodeAuthorizer {
    inner: Arc<dyn PublishAuthorizer>,
    key: [u8; 32],
    role: NodeRole,
    clock: SharedClock,
}

impl NodeAuthorizer {
    /// `inner` on a node of `role`, checking pull credentials with `key` ([`pull_key`]).
    pub fn new(
        inner: Arc<dyn PublishAuthorizer>,
        key: [u8; 32],
        role: NodeRole,
        clock: SharedClock,
    ) -> Self {
        Self {
            inner,
            key,
            role,
            clock,
        }
    }
}

impl PublishAuthorizer for NodeAuthorizer {
    fn authorize<'a>(
        &'a self,
        app: &'a str,
        stream_key: &'a str,
    ) -> PortFuture<'a, Result<PublishGrant, PublishDenied>> {
        match self.role {
            NodeRole::Edge => {
                Box::pin(async { Err(PublishDenied::NotAllowed(EDGE_REFUSAL.to_string())) })
            }
            NodeRole::Origin => self.inner.authorize(app, stream_key),
        }
    }

    fn authorize_play<'a>(
        &'a self,
        playback_id: &'a str,
        query: Option<&'a str>,
        peer: std::net::IpAddr,
    ) -> PortFuture<'a, Result<(), String>> {
        self.inner.authorize_play(playback_id, query, peer)
    }

    fn admit_publisher(&self, peer: std::net::IpAddr) -> Result<(), PublishDenied> {
        self.inner.admit_publisher(peer)
    }

    fn node_pull(&self, playback_id: &str, query: Option<&str>) -> bool {
        query.is_some_and(|q| verify_credential(&self.key, playback_id, q, self.clock.now_ms()))
    }
}

/// This node as the others see it.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// Its id (fresh per process; the realtime fan-out's node id).
    pub id: String,
    /// Origin or edge.
    pub role: NodeRole,
    /// `rtmp://host:port` other nodes pull from.
    pub rtmp_url: String,
    /// `http(s)://host:port` other nodes reach it at.
    pub http_url: String,
    /// When it started (ms).
    pub started_at: i64,
}

/// The node registry, from this node's side.
pub struct Nodes {
    db: Db,
    identity: NodeIdentity,
    key: [u8; 32],
    clock: SharedClock,
    /// The streams (playback id, source, relay) the last successful heartbeat wrote; `None`
    /// until one did, and after a failed one.
    written: std::sync::Mutex<Option<Vec<(String, i64, bool)>>>,
}

impl Nodes {
    /// The registry over `db` for `identity`, signing pulls with `key` ([`pull_key`]).
    pub fn new(db: Db, identity: NodeIdentity, key: [u8; 32], clock: SharedClock) -> Self {
        Self {
            db,
            identity,
            key,
            clock,
            written: std::sync::Mutex::new(None),
        }
    }

    /// This node.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// Writes this node's row and the streams `hub` holds; expires nodes gone silent. While the
    /// streams are those the last heartbeat wrote, only the heartbeat time is renewed (one
    /// `UPDATE` instead of rewriting every stream's row every few seconds).
    pub async fn beat(&self, hub: &Hub) -> Result<(), ferrocast_db::DbError> {
        let result = self.write(hub).await;
        if result.is_err() {
            *self.written.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        result
    }

    async fn write(&self, hub: &Hub) -> Result<(), ferrocast_db::DbError> {
        let now = self.clock.now_ms();
        let streams: Vec<NodeStream> = hub
            .streams()
            .into_iter()
            .take(ferrocast_db::nodes::MAX_STREAMS_PER_NODE)
            .map(|s| NodeStream {
                since: now - s.uptime.as_millis() as i64,
                playback_id: s.key.playback_id,
                source_id: s.key.source_id,
                relay: s.key.relay,
            })
            .collect();
        let node = NodeRecord {
            id: self.identity.id.clone(),
            role: self.identity.role.as_str().to_string(),
            rtmp_url: self.identity.rtmp_url.clone(),
            http_url: self.identity.http_url.clone(),
            started_at: self.identity.started_at,
            heartbeat_at: now,
        };
        let names: Vec<(String, i64, bool)> = streams
            .iter()
            .map(|s| (s.playback_id.clone(), s.source_id, s.relay))
            .collect();
        let unchanged = self
            .written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|w| *w == names);
        if !(unchanged && self.db.node_touch(&node.id, now).await?) {
            self.db.node_heartbeat(&node, &streams).await?;
            *self.written.lock().unwrap_or_else(|p| p.into_inner()) = Some(names);
        }
        let expired = self
            .db
            .expire_nodes(now - STALE_AFTER.as_millis() as i64)
            .await?;
        if expired > 0 {
            tracing::info!(
                nodes = expired,
                "nodes whose heartbeat stopped removed from the registry"
            );
        }
        Ok(())
    }

    /// Removes this node from the registry (it is stopping).
    pub async fn leave(&self) {
        match self.db.remove_node(&self.identity.id).await {
            Ok(_) => tracing::info!(node = %self.identity.id, "left the node registry"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot remove this node from the registry; it expires")
            }
        }
    }
}

impl OriginLocator for Nodes {
    fn locate<'a>(
        &'a self,
        playback_id: &'a str,
    ) -> PortFuture<'a, Result<Option<OriginLocation>, String>> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            let found = self
                .db
                .stream_origin(
                    playback_id,
                    &self.identity.id,
                    now - STALE_AFTER.as_millis() as i64,
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(found.map(|o| OriginLocation {
                credential: credential(&self.key, playback_id, &self.identity.id, now),
                node_id: o.node.id,
                rtmp_url: o.node.rtmp_url,
                source_id: o.source_id,
            }))
        })
    }
}

/// Keeps this node's registration up to date until `shutdown` turns true: every [`HEARTBEAT`]
/// and whenever a stream starts or ends here.
pub fn spawn(nodes: Arc<Nodes>, hub: Hub, mut shutdown: watch::Receiver<bool>) {
    let mut events = hub.events();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                ev = events.recv() => match ev {
                    Ok(StreamEvent::Starting { .. } | StreamEvent::Offline { .. }) => {}
                    Ok(StreamEvent::Live { .. }) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = shutdown.wait_for(|s| *s) => return,
            }
            match nodes.beat(&hub).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("node registry heartbeat works again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot write this node's heartbeat; other nodes cannot find its streams until it works");
                }
                Err(_) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_checked() {
        let key = pull_key(None, &[7; 32]);
        let q = credential(&key, "abc", "node1", 1_000_000);
        assert!(verify_credential(&key, "abc", &q, 1_000_000));
        assert!(verify_credential(
            &key,
            "abc",
            &q,
            1_000_000 + CREDENTIAL_TTL_MS
        ));
        // Expired, another stream, another key, tampered.
        assert!(!verify_credential(
            &key,
            "abc",
            &q,
            1_000_001 + CREDENTIAL_TTL_MS
        ));
        assert!(!verify_credential(&key, "abd", &q, 1_000_000));
        let other = pull_key(Some("a different node secret of 32+ chars"), &[7; 32]);
        assert!(!verify_credential(&other, "abc", &q, 1_000_000));
        assert!(!verify_credential(
            &key,
            "abc",
            &q.replace("node1", "node2"),
            1_000_000
        ));
        assert!(!verify_credential(&key, "abc", "node=x&node_exp=1", 0));
        assert!(!verify_credential(&key, "abc", "", 0));
    }
}
