//! The RTMP listener's counters, apart from the listener so that [`crate::Engine`] can hold
//! them without naming the listener (which itself runs on an `Engine`).

use std::sync::atomic::AtomicU64;

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
}
