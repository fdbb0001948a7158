//! What a connector's task holds and shares with every platform: its [`Link`] to storage and
//! the chat service, its stop signal, how an attempt ended, and the backoff between attempts.

use crate::service::chat::{Post, PostError};
use crate::service::events::RealtimeEvent;
use crate::state::AppState;
use ferrocast_chat::ChatMessage;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How many recent ids (sent messages, EventSub deliveries) a connector remembers.
pub(crate) const REMEMBERED: usize = 512;
/// A platform HTTP call that takes longer than this fails (the streamed chat has its own idle
/// limit).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Tokens of a connector, sealed at rest.
#[derive(Clone, Serialize, Deserialize)]
pub struct Secrets {
    /// OAuth access token.
    pub access_token: String,
    /// OAuth refresh token (YouTube), if the creator gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
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
    pub(crate) sent: VecDeque<String>,
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
            .set_chat_connector_state(
                self.id,
                self.version,
                state,
                error,
                self.state.clock.now_ms(),
            )
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
        let post = Post::Platform {
            source_id: self.source_id,
            connector_id: self.id,
            message: m,
        };
        match self.state.chat.post(post).await {
            Ok(_) | Err(PostError::Duplicate) => {}
            Err(e) => {
                tracing::error!(error = %e, connector = self.id, "a platform chat message was not posted")
            }
        }
    }

    /// A message the platform's moderators deleted is hidden here too.
    pub async fn deleted(&self, platform: &str, platform_id: &str) {
        if let Err(e) = self
            .state
            .chat
            .hide_platform_message(self.source_id, platform, platform_id)
            .await
        {
            tracing::error!(error = %e, "hiding a deleted platform message failed");
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
