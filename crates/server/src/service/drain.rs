//! Whether a node drains before it exits, and the switches its parts watch: the RTMP listener
//! ([`Drain::ingest_stopped`]) and the workers of durable queues ([`Drain::claims_stopped`]).
//! The order of a drain is [`crate::Running::drain`]'s.

use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

/// Whether this node drains, and the switches its parts watch.
pub struct Drain {
    draining: AtomicBool,
    ingest: watch::Sender<bool>,
    claims: watch::Sender<bool>,
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    /// A node that is not draining.
    pub fn new() -> Self {
        Self {
            draining: AtomicBool::new(false),
            ingest: watch::channel(false).0,
            claims: watch::channel(false).0,
        }
    }

    /// Whether the node drains (or stops).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Turns true when the node takes no more publishes or players: the RTMP listener stops
    /// and closes its connections.
    pub fn ingest_stopped(&self) -> watch::Receiver<bool> {
        self.ingest.subscribe()
    }

    /// Turns true when workers of durable queues (video jobs, notifications, exports) must
    /// claim nothing more.
    pub fn claims_stopped(&self) -> watch::Receiver<bool> {
        self.claims.subscribe()
    }

    /// Starts draining: readiness fails, ingest closes, claiming stops. Idempotent.
    pub fn begin(&self) {
        if !self.draining.swap(true, Ordering::Relaxed) {
            tracing::info!("draining: not ready, closing ingest, claiming no more jobs");
        }
        self.ingest.send_replace(true);
        self.claims.send_replace(true);
    }
}
