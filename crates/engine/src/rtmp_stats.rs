//! The RTMP listener's counters, apart from the listener so that [`crate::Engine`] can hold
//! them without naming the listener (which itself runs on an `Engine`).
//!
//! [`PublishDenied::reason`]: ferrocast_domain::media::PublishDenied::reason

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

/// Counters of the RTMP listener, for the metrics endpoint (no labels beyond fixed reasons).
#[derive(Debug, Default)]
pub struct RtmpStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Closed at accept: the node had [`MAX_CONNECTIONS`](crate::rtmp_server::MAX_CONNECTIONS)
    /// open.
    pub refused_node_full: AtomicU64,
    /// Closed at accept: the client address had `max_connections_per_ip` open.
    pub refused_per_address: AtomicU64,
    /// Closed at accept: the client address had `max_pending_per_ip` not yet past `connect`.
    pub refused_per_address_pending: AtomicU64,
    /// Closed: handshake and `connect` not done within
    /// [`HANDSHAKE_TIMEOUT`](crate::rtmp_server::HANDSHAKE_TIMEOUT).
    pub handshake_timeouts: AtomicU64,
    /// Closed: no complete message within the idle timeout.
    pub idle_timeouts: AtomicU64,
    /// Closed: no byte of a write accepted within the write timeout.
    pub write_timeouts: AtomicU64,
    /// Publishes accepted: a live session started.
    pub publishes: AtomicU64,
    /// Publishes refused, by reason: [`PublishDenied::reason`] of the authorizer's answer,
    /// `unavailable` when it did not answer in time, `busy` when the stream is already live from
    /// another encoder or the connection already publishes or plays.
    publishes_refused: Mutex<BTreeMap<&'static str, u64>>,
}

/// The refusal reasons always exposed (at 0 until one happens), so that alert rules and
/// dashboards find their series.
pub const PUBLISH_REFUSAL_REASONS: [&str; 4] =
    ["unknown_key", "not_allowed", "unavailable", "busy"];

impl RtmpStats {
    /// Counts a refused publish.
    pub fn publish_refused(&self, reason: &'static str) {
        let mut m = self
            .publishes_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *m.entry(reason).or_default() += 1;
    }

    /// Refused publishes by reason, every reason of [`PUBLISH_REFUSAL_REASONS`] included.
    pub fn publishes_refused(&self) -> BTreeMap<&'static str, u64> {
        let mut out = self
            .publishes_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for r in PUBLISH_REFUSAL_REASONS {
            out.entry(r).or_default();
        }
        out
    }
}
