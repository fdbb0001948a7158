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

use crate::realtime::bus::RealtimeEvent;
use crate::realtime::message_out;
use crate::state::AppState;
use ferrocast_chat::ChatMessage;
use ferrocast_db::chat::NewChatMessage;
use ferrocast_db::connectors::{ConnectorRecord, Lease};
use ferrocast_db::now_ms;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// Outgoing messages waiting for a connector; more are dropped (and logged).
const OUTGOING_QUEUE: usize = 32;
/// How many recent ids (sent messages, EventSub deliveries) a connector remembers.
const REMEMBERED: usize = 512;
/// How long a lease lasts unless renewed.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often the running node renews its lease.
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How often a node without the lease looks whether it is free.
const LEASE_RETRY: Duration = Duration::from_secs(5);
/// How often a node compares its runners with the database.
const RESYNC_EVERY: Duration = Duration::from_secs(60);
/// A platform HTTP call that takes longer than this fails (the streamed chat has its own idle
/// limit).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// The connectors running on this node.
pub struct Connectors {
    http: reqwest::Client,
    running: Mutex<HashMap<i64, Running>>,
    generation: std::sync::atomic::AtomicU64,
}

struct Running {
    source_id: i64,
    /// This runner (distinguishes a runner from its replacement).
    generation: u64,
    /// The connector's generation it runs.
    version: i64,
    outgoing: mpsc::Sender<String>,
    stop: watch::Sender<bool>,
    /// Whether this node holds the lease (only then does it send).
    leased: Arc<AtomicBool>,
    /// The runner, to wait for at shutdown.
    task: Option<tokio::task::JoinHandle<()>>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands the creator's message to the source's connectors this node runs (the realtime
    /// event `ConnectorSend` brings it to every node).
    fn send(&self, source_id: i64, text: &str) {
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
    fn stop(&self, id: i64) -> Option<tokio::task::JoinHandle<()>> {
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

/// Tokens of a connector, sealed at rest.
#[derive(Clone, Serialize, Deserialize)]
pub struct Secrets {
    /// OAuth access token.
    pub access_token: String,
    /// OAuth refresh token (YouTube), if the creator gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The authenticated-data label binding sealed tokens to their connector's row.
pub fn secrets_label(source_id: i64, platform: &str) -> String {
    format!("chat_connectors.secrets:{source_id}:{platform}")
}

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
        .keys
        .secrets
        .open(
            &secrets_label(rec.source_id, &rec.platform),
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

/// What one connector task holds: its identity, its way to store and emit, and its stop signal.
pub(crate) struct Link {
    pub state: AppState,
    pub http: reqwest::Client,
    pub id: i64,
    /// The connector's generation this runner runs.
    pub version: i64,
    pub source_id: i64,
    pub stop: watch::Receiver<bool>,
    /// Platform ids of messages the creator sent through this connector (their echoes are
    /// not shown again).
    sent: VecDeque<String>,
    /// The creator's messages to send.
    pub outgoing: mpsc::Receiver<String>,
}

/// Resolves when the connector is told to stop (or its handle is gone).
pub(crate) async fn halted(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// How a connection attempt ended.
pub(crate) enum Ended {
    /// The connector was stopped.
    Stopped,
    /// Try again after a backoff, telling the creator why.
    Retry(String),
    /// Try again after this long (a quota reset, a broadcast not yet live), telling the creator.
    RetryAfter(&'static str, String, Duration),
    /// Give up until the creator reconnects.
    Fatal(String),
}

impl Link {
    pub fn stopped(&self) -> bool {
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }

    /// Waits `d` unless stopped first; `false` if stopped.
    pub async fn sleep(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = halted(&mut self.stop) => {}
        }
        !self.stopped()
    }

    /// Records and announces the connector's state.
    pub async fn report(&self, state: &str, error: Option<&str>) {
        if let Some(e) = error {
            tracing::warn!(connector = self.id, state, error = e, "chat connector");
        } else {
            tracing::info!(connector = self.id, state, "chat connector");
        }
        if let Err(e) = self
            .state
            .db
            .set_chat_connector_state(self.id, self.version, state, error, now_ms())
            .await
        {
            tracing::error!(error = %e, "cannot record a chat connector's state");
        }
        // The chat room is public: it hears the state; the reason is for the owner
        // (`GET /api/chat/connectors/{source_id}`).
        self.state.fanout.publish(RealtimeEvent::ConnectorStatus {
            source_id: self.source_id,
            connector_id: self.id,
            state: state.to_owned(),
        });
    }

    /// Remembers the platform id of a message sent through this connector.
    pub fn remember_sent(&mut self, platform_id: String) {
        if self.sent.len() >= REMEMBERED {
            self.sent.pop_front();
        }
        self.sent.push_back(platform_id);
    }

    /// Stores a platform message and emits it, unless it is stored already or is the echo of
    /// the creator's own message.
    pub async fn deliver(&self, m: &ChatMessage) {
        if self.sent.iter().any(|id| *id == m.id) {
            return;
        }
        let metadata = serde_json::json!({ "badges": m.badges, "emotes": m.emotes }).to_string();
        // Platform names and text are shown here as native ones are: without bidi overrides or
        // invisible characters.
        let author_name = ferrocast_domain::text::displayable(&m.author_name);
        let text = ferrocast_domain::text::displayable(&m.text);
        let stored = self
            .state
            .db
            .insert_chat_message(
                &NewChatMessage {
                    source_id: self.source_id,
                    connector_id: Some(self.id),
                    platform: m.platform,
                    platform_message_id: &m.id,
                    user_id: None,
                    author_name: &author_name,
                    author_platform_id: &m.author_id,
                    message_text: &text,
                    message_type: m.kind,
                    metadata: &metadata,
                },
                now_ms(),
            )
            .await;
        match stored {
            Ok(Some(record)) => self
                .state
                .fanout
                .publish(RealtimeEvent::ChatMessage(message_out(&record))),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, connector = self.id, "storing a platform chat message failed")
            }
        }
    }

    /// A message the platform's moderators deleted is hidden here too.
    pub async fn deleted(&self, platform: &str, platform_id: &str) {
        match self
            .state
            .db
            .hide_platform_chat_message(self.source_id, platform, platform_id, now_ms())
            .await
        {
            Ok(Some(id)) => self.state.fanout.publish(RealtimeEvent::MessageDeleted {
                source_id: self.source_id,
                id,
            }),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "hiding a deleted platform message failed"),
        }
    }
}

/// Exponential backoff with jitter: 0.5 s doubling to 30 s, back to the start after a
/// connection that worked.
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(500);
    pub const MAX: Duration = Duration::from_secs(30);

    pub fn new() -> Self {
        Self { next: Self::FIRST }
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// The next wait (±20 %).
    pub fn next_delay(&mut self) -> Duration {
        use rand::Rng;
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        base.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
    }
}

/// Reports how an attempt ended and waits as it asks; `false`: the connector is done (stopped,
/// or failed until the creator reconnects).
pub(crate) async fn after(link: &mut Link, ended: Ended, backoff: &mut Backoff) -> bool {
    let wait = match ended {
        Ended::Stopped => return false,
        Ended::Fatal(why) => {
            link.report("failed", Some(&why)).await;
            return false;
        }
        Ended::Retry(why) => {
            link.report("retrying", Some(&why)).await;
            backoff.next_delay()
        }
        Ended::RetryAfter(state, why, after) => {
            link.report(state, Some(&why)).await;
            after
        }
    };
    link.sleep(wait).await
}
