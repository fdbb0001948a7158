//! This node's running connectors: their queues of outgoing messages, stop signals and leases.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The connectors running on this node.
pub struct Connectors {
    pub(crate) http: reqwest::Client,
    running: Mutex<HashMap<i64, Running>>,
    pub(crate) generation: std::sync::atomic::AtomicU64,
}

pub(crate) struct Running {
    pub(crate) source_id: i64,
    /// This runner (distinguishes a runner from its replacement).
    pub(crate) generation: u64,
    /// The connector's generation it runs.
    pub(crate) version: i64,
    pub(crate) outgoing: mpsc::Sender<String>,
    pub(crate) stop: watch::Sender<bool>,
    /// Whether this node holds the lease (only then does it send).
    pub(crate) leased: Arc<AtomicBool>,
    /// The runner, to wait for at shutdown.
    pub(crate) task: Option<tokio::task::JoinHandle<()>>,
}

impl Connectors {
    /// No connectors yet; they call out through `http`.
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            running: Mutex::default(),
            generation: Default::default(),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands the creator's message to the source's connectors this node runs (the realtime
    /// event `ConnectorSend` brings it to every node).
    pub(crate) fn send(&self, source_id: i64, text: &str) {
        let running = self.lock();
        let here = running
            .iter()
            .filter(|(_, r)| r.source_id == source_id && r.leased.load(Ordering::Relaxed));
        for (id, r) in here {
            if r.outgoing.try_send(text.to_owned()).is_err() {
                tracing::warn!(
                    connector = id,
                    "connector's outgoing queue is full; message not sent to the platform"
                );
            }
        }
    }

    /// Stops this node's runner of a connector, if any; the runner, to wait for.
    pub(crate) fn stop(&self, id: i64) -> Option<tokio::task::JoinHandle<()>> {
        let r = self.lock().remove(&id)?;
        let _ = r.stop.send(true);
        r.task
    }

    /// Stops every connector and waits (up to 5 s) for their runners to hand their leases
    /// back, so another node takes over at once (node shutdown).
    pub async fn stop_all(&self) {
        let tasks: Vec<_> = self
            .lock()
            .drain()
            .filter_map(|(_, r)| {
                let _ = r.stop.send(true);
                r.task
            })
            .collect();
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .is_err()
        {
            tracing::warn!(
                "chat connectors took over 5 s to stop; their leases expire by themselves"
            );
        }
    }

    /// How many this node runs (holds the lease of).
    pub fn count(&self) -> usize {
        self.lock()
            .values()
            .filter(|r| r.leased.load(Ordering::Relaxed))
            .count()
    }
}
