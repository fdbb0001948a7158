//! Chat connectors: each pulls one platform's live chat into a source's feed and carries the
//! creator's messages out to it. One task per connector, started when the creator connects a
//! platform and again when a node starts; stopped when the connector is removed.
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
use ferrocast_db::connectors::ConnectorRecord;
use ferrocast_db::now_ms;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Outgoing messages waiting for a connector; more are dropped (and logged).
const OUTGOING_QUEUE: usize = 32;
/// How many recent ids (sent messages, EventSub deliveries) a connector remembers.
const REMEMBERED: usize = 512;
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
    generation: u64,
    outgoing: mpsc::Sender<String>,
    stop: watch::Sender<bool>,
}

impl Default for Connectors {
    fn default() -> Self {
        Self::new()
    }
}

impl Connectors {
    /// No connectors yet.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("ferrocast/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            http,
            running: Mutex::default(),
            generation: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands the creator's message to every connector of the source running on this node.
    pub fn send(&self, source_id: i64, text: &str) {
        for (id, r) in self.lock().iter().filter(|(_, r)| r.source_id == source_id) {
            if r.outgoing.try_send(text.to_owned()).is_err() {
                tracing::warn!(
                    connector = id,
                    "connector's outgoing queue is full; message not sent to the platform"
                );
            }
        }
    }

    /// Stops a connector if it runs here.
    pub fn stop(&self, id: i64) {
        if let Some(r) = self.lock().remove(&id) {
            let _ = r.stop.send(true);
        }
    }

    /// Stops every connector (node shutdown).
    pub fn stop_all(&self) {
        for (_, r) in self.lock().drain() {
            let _ = r.stop.send(true);
        }
    }

    /// How many run here.
    pub fn count(&self) -> usize {
        self.lock().len()
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

/// Starts every active connector (at node start).
pub async fn resume(state: &AppState) {
    match state.db.active_chat_connectors().await {
        Ok(list) => {
            for rec in list {
                launch(state, rec);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot load chat connectors; none started"),
    }
}

/// Starts (or restarts) a connector on this node.
pub fn launch(state: &AppState, rec: ConnectorRecord) {
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
    let generation = state
        .connectors
        .generation
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Some(old) = state.connectors.lock().insert(
        rec.id,
        Running {
            source_id: rec.source_id,
            generation,
            outgoing: out_tx,
            stop: stop_tx,
        },
    ) {
        let _ = old.stop.send(true);
    }
    let link = Link {
        state: state.clone(),
        http: state.connectors.http.clone(),
        id: rec.id,
        source_id: rec.source_id,
        stop: stop_rx,
        sent: VecDeque::new(),
        outgoing: out_rx,
    };
    let state = state.clone();
    tokio::spawn(async move {
        let id = rec.id;
        let config: serde_json::Value = serde_json::from_str(&rec.config).unwrap_or_default();
        match (rec.platform.as_str(), secrets) {
            (_, None) => {
                link.report(
                    "failed",
                    Some("the stored tokens cannot be read (was the master key changed?); connect the platform again"),
                )
                .await
            }
            ("twitch", Some(s)) => twitch::run(link, s, config).await,
            ("youtube", Some(s)) => youtube::run(link, s, config).await,
            (other, _) => tracing::error!(platform = other, "unknown chat platform"),
        }
        let mut running = state.connectors.lock();
        if running.get(&id).is_some_and(|r| r.generation == generation) {
            running.remove(&id);
        }
    });
}

/// What one connector task holds: its identity, its way to store and emit, and its stop signal.
pub(crate) struct Link {
    pub state: AppState,
    pub http: reqwest::Client,
    pub id: i64,
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
            .set_chat_connector_state(self.id, state, error, now_ms())
            .await
        {
            tracing::error!(error = %e, "cannot record a chat connector's state");
        }
        self.state.fanout.publish(RealtimeEvent::ConnectorStatus {
            source_id: self.source_id,
            connector_id: self.id,
            state: state.to_owned(),
            error: error.map(str::to_owned),
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
                    author_name: &m.author_name,
                    author_platform_id: &m.author_id,
                    message_text: &m.text,
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
