//! Chat connectors: each pulls one platform's live chat into a source's feed and carries the
//! creator's messages out to it. One task per connector, started when the creator connects a
//! platform and again when a node starts; stopped when the connector is removed.
//!
//! Across nodes a connector runs on one runner at a time: every node starts a runner, and the
//! runner that holds the connector's lease in the database (each runner has its own holder id)
//! runs it, renewing the lease every 10 s; the others look again every 5 s, so a node that
//! stops hands over within seconds and one that dies within the lease's 30 s. Connecting again
//! raises the connector's generation: runners of an older one can neither lease it nor write
//! its state or tokens, and stop. Changes reach every node as realtime events
//! (`ConnectorChanged`: start again from the database; `ConnectorSend`: the creator's message,
//! sent by whichever runner holds the lease), and every node also compares its runners with
//! the database each minute, so a missed event costs a minute, not a connector.
//!
//! A connector reports its state (`connecting`, `connected`, `waiting`, `retrying`, `failed`)
//! and the last error in words to the database (`GET /api/chat/connectors/{source_id}`) and to
//! the chat room (`connector-status`). Platform messages are stored under their platform id,
//! which is unique per source, so a reconnect that sees a message again stores and emits
//! nothing; a message the creator sent through ferrocast is recognised by its id when the
//! platform echoes it, and not shown twice.

mod twitch;
mod youtube;

pub mod link;
pub mod registry;

use crate::service::events::RealtimeEvent;
use crate::service::vault::Sealed;
use crate::state::AppState;
use ferrocast_db::connectors::{ConnectorRecord, Lease};
use ferrocast_db::now_ms;
pub use link::Secrets;
use link::{halted, Link};
pub use registry::Connectors;
use registry::Running;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// Outgoing messages waiting for a connector; more are dropped (and logged).
const OUTGOING_QUEUE: usize = 32;
/// How long a lease lasts unless renewed.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often the running node renews its lease.
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How often a node without the lease looks whether it is free.
const LEASE_RETRY: Duration = Duration::from_secs(5);
/// How often a node compares its runners with the database.
const RESYNC_EVERY: Duration = Duration::from_secs(60);

/// Starts a runner for every active connector (at node start), and follows the connector
/// events of every node until `shutdown`.
pub async fn start(state: &AppState, mut shutdown: watch::Receiver<bool>) {
    let mut events = state.fanout.subscribe();
    match state.db.active_chat_connectors().await {
        Ok(list) => {
            for rec in list {
                launch(state, rec);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot load chat connectors; none started"),
    }
    {
        let state = state.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(RESYNC_EVERY) => resync(&state).await,
                    _ = halted(&mut shutdown) => return,
                }
            }
        });
    }
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            let env = tokio::select! {
                r = events.recv() => match r {
                    Ok(env) => env,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "connector events fell behind");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = halted(&mut shutdown) => return,
            };
            match env.event {
                RealtimeEvent::ConnectorChanged { connector_id } => {
                    let state = state.clone();
                    tokio::spawn(async move { relaunch(&state, connector_id).await });
                }
                RealtimeEvent::ConnectorSend { source_id, text } => {
                    state.connectors.send(source_id, &text)
                }
                _ => {}
            }
        }
    });
}

/// Starts runners for active connectors this node runs no runner of (at their current
/// generation), so a missed `ConnectorChanged` costs at most a minute.
async fn resync(state: &AppState) {
    let Ok(list) = state.db.active_chat_connectors().await else {
        return;
    };
    for rec in list {
        let current = state
            .connectors
            .lock()
            .get(&rec.id)
            .is_some_and(|r| r.version == rec.generation);
        if !current {
            relaunch(state, rec.id).await;
        }
    }
}

/// A connector was created, replaced or removed somewhere: this node's runner stops, and
/// starts again if the connector is still active.
async fn relaunch(state: &AppState, id: i64) {
    // The old runner gives its lease back before the new one asks for it.
    if let Some(old) = state.connectors.stop(id) {
        if tokio::time::timeout(Duration::from_secs(5), old)
            .await
            .is_err()
        {
            tracing::warn!(connector = id, "a chat connector took over 5 s to stop");
        }
    }
    match state.db.chat_connector_by_id(id).await {
        Ok(Some(rec)) if rec.is_active => launch(state, rec),
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, connector = id, "cannot load a changed chat connector")
        }
    }
}

/// Starts (or restarts) this node's runner of a connector: it runs the connector while it
/// holds the lease.
fn launch(state: &AppState, rec: ConnectorRecord) {
    let secrets = state
        .vault
        .open(
            Sealed::ConnectorTokens(rec.source_id, &rec.platform),
            &rec.secrets_sealed,
        )
        .ok()
        .and_then(|b| serde_json::from_slice::<Secrets>(&b).ok());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (out_tx, out_rx) = mpsc::channel(OUTGOING_QUEUE);
    let leased = Arc::new(AtomicBool::new(false));
    let generation = state.connectors.generation.fetch_add(1, Ordering::Relaxed);
    if let Some(old) = state.connectors.lock().insert(
        rec.id,
        Running {
            source_id: rec.source_id,
            generation,
            version: rec.generation,
            outgoing: out_tx,
            stop: stop_tx,
            leased: leased.clone(),
            task: None,
        },
    ) {
        let _ = old.stop.send(true);
    }
    let link = Link {
        state: state.clone(),
        http: state.connectors.http.clone(),
        id: rec.id,
        version: rec.generation,
        source_id: rec.source_id,
        stop: stop_rx.clone(),
        sent: VecDeque::new(),
        outgoing: out_rx,
    };
    let id = rec.id;
    let task = {
        let state = state.clone();
        tokio::spawn(async move {
            runner(link, rec, secrets, stop_rx, leased).await;
            let mut running = state.connectors.lock();
            if running.get(&id).is_some_and(|r| r.generation == generation) {
                running.remove(&id);
            }
        })
    };
    if let Some(r) = state
        .connectors
        .lock()
        .get_mut(&id)
        .filter(|r| r.generation == generation)
    {
        r.task = Some(task);
    }
}

/// Takes the lease when it is free and runs the connector while holding it.
async fn runner(
    mut link: Link,
    rec: ConnectorRecord,
    secrets: Option<Secrets>,
    mut stop: watch::Receiver<bool>,
    leased: Arc<AtomicBool>,
) {
    let Some(secrets) = secrets else {
        link.report(
            "failed",
            Some("the stored tokens cannot be read (was the master key changed?); connect the platform again"),
        )
        .await;
        return;
    };
    let config: serde_json::Value = serde_json::from_str(&rec.config).unwrap_or_default();
    let db = link.state.db.clone();
    // This runner's own holder id: two runners never share a lease, even on one node.
    let node = format!(
        "{}/{}",
        link.state.fanout.node(),
        uuid::Uuid::new_v4().simple()
    );
    let (id, version) = (rec.id, rec.generation);
    let lease = |db: ferrocast_db::Db, node: String| async move {
        let now = now_ms();
        db.lease_chat_connector(id, version, &node, now, now + LEASE_TTL.as_millis() as i64)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, connector = id, "cannot take a chat connector's lease");
                Lease::Busy
            })
    };
    loop {
        if *stop.borrow() {
            break;
        }
        match lease(db.clone(), node.clone()).await {
            Lease::Held => {}
            Lease::Gone => break,
            Lease::Busy => {
                // Another runner has it; messages meant for the runner are not ours to send.
                while link.outgoing.try_recv().is_ok() {}
                tokio::select! {
                    _ = tokio::time::sleep(LEASE_RETRY) => continue,
                    _ = halted(&mut stop) => break,
                }
            }
        }
        leased.store(true, Ordering::Relaxed);
        // This run's own stop: the runner's, or the lease lost.
        let (halt_tx, halt_rx) = watch::channel(false);
        link.stop = halt_rx;
        let run = async {
            match rec.platform.as_str() {
                "twitch" => twitch::run(&mut link, &secrets, &config).await,
                "youtube" => youtube::run(&mut link, &secrets, &config).await,
                other => tracing::error!(platform = other, "unknown chat platform"),
            }
        };
        tokio::pin!(run);
        let lost = loop {
            tokio::select! {
                _ = &mut run => break false,
                _ = halted(&mut stop) => {
                    let _ = halt_tx.send(true);
                    run.as_mut().await;
                    break false;
                }
                _ = tokio::time::sleep(LEASE_RENEW) => {
                    let held = lease(db.clone(), node.clone()).await;
                    if held != Lease::Held {
                        tracing::warn!(connector = rec.id, ?held, "this runner no longer holds the chat connector's lease; stopping it");
                        let _ = halt_tx.send(true);
                        run.as_mut().await;
                        break held == Lease::Busy;
                    }
                }
            }
        };
        leased.store(false, Ordering::Relaxed);
        if !lost {
            break;
        }
    }
    if let Err(e) = db.release_chat_connector(rec.id, &node).await {
        tracing::debug!(error = %e, connector = rec.id, "releasing a chat connector's lease failed");
    }
}
