//! Fan-out of realtime events between the nodes of a deployment.
//!
//! Everything the Socket.IO layer sends to rooms — chat messages, stream status, reactions,
//! viewer counts — is published here first and emitted by every node to its own clients when
//! it comes back. [`Fanout`] is the interface; [`InProcess`] (one node, the default) and
//! [`RedisFanout`] (every node that shares a Redis) implement it. A node delivers its own events
//! to its own clients at once, whatever Redis is doing, and ignores their echo from Redis.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use utoipa::ToSchema;

/// A stream's lifecycle as its owner and viewers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamStatus {
    /// The encoder is connected; no media yet.
    Starting,
    /// Media is flowing.
    Live,
    /// Nothing is published.
    Offline,
}

impl StreamStatus {
    /// The status as it is written: `starting`, `live` or `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Starting => "starting",
            StreamStatus::Live => "live",
            StreamStatus::Offline => "offline",
        }
    }
}

/// The Socket.IO room an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// A source's chat: `chat:<source id>`.
    Chat(i64),
    /// A source's stream (status, viewers, reactions): `stream:<source id>`.
    Stream(i64),
    /// One user's own sockets (every logged-in socket joins it): `user:<user id>`.
    User(i64),
    /// A creator's radio station's listeners: `radio:<user id>`.
    Radio(i64),
    /// Every socket.
    Everyone,
}

impl Room {
    /// The room's name; `None` for [`Room::Everyone`].
    pub fn name(self) -> Option<String> {
        match self {
            Room::Chat(id) => Some(format!("chat:{id}")),
            Room::Stream(id) => Some(format!("stream:{id}")),
            Room::User(id) => Some(format!("user:{id}")),
            Room::Radio(id) => Some(format!("radio:{id}")),
            Room::Everyone => None,
        }
    }
}

/// What the owner of a stream is told, as `GET /api/events` writes it: the owner's view of the
/// [`RealtimeEvent`]s that concern their streams ([`RealtimeEvent::owner_event`]).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The stream's lifecycle: `starting`, `live` or `offline`.
    StreamStatus {
        /// The source.
        source_id: i64,
        /// `starting`, `live` or `offline`.
        status: StreamStatus,
    },
    /// The stream ended, and why.
    StreamEnded {
        /// The source.
        source_id: i64,
        /// Why, in words.
        reason: String,
        /// Whole minutes the session lasted.
        duration_minutes: i64,
    },
    /// 90 % of the month's streaming time is used.
    UsageWarning {
        /// The live source.
        source_id: i64,
        /// Minutes used this month.
        used_minutes: i64,
        /// The plan's minutes.
        limit_minutes: i64,
    },
    /// A restream destination changed state.
    DestinationStatus {
        /// The source.
        source_id: i64,
        /// The destination.
        destination_id: i64,
        /// `connecting`, `live`, `retrying` or `failed`.
        state: String,
        /// The last error, if any.
        error: Option<String>,
    },
}

/// The Redis channel the nodes of one deployment publish to and subscribe to:
/// `ferrocast:realtime:` and a tag derived from the master key they share, so deployments (or
/// test runs) sharing a Redis never see each other's events — Redis pub/sub channels are global,
/// whatever the database number in the URL.
pub fn channel(master_key: &[u8; 32]) -> String {
    let tag = ferrocast_auth::secretbox::derive_key(master_key, "realtime-channel");
    format!(
        "ferrocast:realtime:{}",
        data_encoding::HEXLOWER.encode(&tag[..8])
    )
}
/// Events waiting for Redis at most; beyond that, remote delivery is dropped (and counted).
pub const REDIS_QUEUE: usize = 8192;
/// Largest event accepted from Redis (anything bigger was not written by ferrocast).
pub const MAX_REMOTE_EVENT: usize = 64 * 1024;
/// Events buffered per local subscriber; a subscriber further behind loses the oldest.
pub const LOCAL_BUFFER: usize = 8192;

/// One chat message as clients receive it (`chat-message`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatMessageOut {
    /// Message id; ids grow in the order messages were stored.
    pub id: i64,
    /// The source whose chat it belongs to.
    pub source_id: i64,
    /// Display name of the author.
    pub author_name: String,
    /// The author's id on the platform (native chat: the user's UUID, what a ban names).
    pub author_id: String,
    /// The text.
    pub message_text: String,
    /// `native`, `youtube` or `twitch`.
    pub platform: String,
    /// `message`, `system` or `action`.
    pub message_type: String,
    /// Badges and emotes as the platform gave them.
    pub metadata: serde_json::Value,
    /// When it was stored (RFC 3339).
    pub created_at: String,
}

/// Where a video's processing stands, as the owner's sockets receive it (`video-progress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoProgress {
    /// The video's public id.
    pub video_id: String,
    /// The video's status (`recording`, `processing`, `ready`, `failed`).
    pub status: String,
    /// What processing is doing (`probing`, `packaging`, `mp4`, `thumbnails`); `None` once done.
    pub stage: Option<String>,
    /// How far along, 0 to 100.
    pub percent: u8,
}

/// A notice as the app shows it (`GET /api/notifications`, the `notification` Socket.IO event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    /// Its id; ids grow with time.
    pub id: i64,
    /// `live`, `video`, `follower` or `reply`.
    pub kind: String,
    /// One line.
    pub title: String,
    /// A sentence, or empty.
    pub body: String,
    /// Where it leads (root-relative).
    pub url: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Whether it was read.
    pub read: bool,
}

/// A stream's metadata as its viewers see it (`stream-info`, and `GET /api/watch/{playback_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamInfoOut {
    /// The public playback id.
    pub playback_id: String,
    /// Its title (the source's name when it has none).
    pub title: String,
    /// What it is about (empty: nothing said); line breaks kept.
    pub description: String,
    /// Its category's slug.
    pub category: Option<String>,
    /// Its category's name.
    pub category_name: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its language (ISO 639-1).
    pub language: Option<String>,
    /// For adults only.
    pub mature: bool,
}

/// What a station plays, as listeners are told (`GET /api/radio/{handle}`, `now-playing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NowPlaying {
    /// A track's title ("Artist – Title"), or "Live" with the DJ's stream title; `None`: off
    /// the air.
    pub title: Option<String>,
    /// The track playing (`None` while a DJ is on).
    pub track_id: Option<i64>,
    /// A DJ is on the air.
    pub dj: bool,
    /// Since when (Unix ms).
    pub since: Option<i64>,
}

impl NowPlaying {
    /// What a station's row says is playing.
    pub fn of(s: &ferrocast_db::radio::StationRecord) -> Self {
        Self {
            title: s.now_title.clone(),
            track_id: s.now_track_id,
            dj: s.now_dj,
            since: s.now_since,
        }
    }
}

/// An event for the clients of one source's rooms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RealtimeEvent {
    /// A chat message was stored.
    ChatMessage(ChatMessageOut),
    /// A stream's lifecycle changed: `starting`, `live` or `offline`.
    StreamStatus {
        /// The source's owner.
        user_id: i64,
        /// The source.
        source_id: i64,
        /// The new status.
        status: StreamStatus,
    },
    /// A stream ended.
    StreamEnded {
        /// The source's owner.
        user_id: i64,
        /// The source.
        source_id: i64,
        /// Whole minutes it lasted.
        duration_minutes: i64,
        /// Why, in words.
        reason: String,
    },
    /// A moderator deleted a message.
    MessageDeleted {
        /// The source.
        source_id: i64,
        /// The message.
        id: i64,
    },
    /// A user was banned or timed out.
    UserBanned {
        /// The source; `None`: every chat.
        source_id: Option<i64>,
        /// The user's UUID.
        user_id: String,
        /// When a timeout ends (RFC 3339); `None`: until lifted.
        until: Option<String>,
    },
    /// A viewer reacted.
    Reaction {
        /// The source.
        source_id: i64,
        /// One of [`crate::realtime::REACTIONS`].
        reaction: String,
    },
    /// A chat connector's state changed (`connecting`, `connected`, `waiting`, `retrying`,
    /// `failed`); the reason is for its owner only, in the database.
    ConnectorStatus {
        /// The source.
        source_id: i64,
        /// The connector.
        connector_id: i64,
        /// Its state.
        state: String,
    },
    /// A chat connector was created, replaced or removed: every node's runner starts again
    /// from the database (not sent to clients).
    ConnectorChanged {
        /// The connector.
        connector_id: i64,
    },
    /// The creator said something in the source's chat: the node running each of its
    /// connectors sends it to that platform (not sent to clients).
    ConnectorSend {
        /// The source.
        source_id: i64,
        /// The text.
        text: String,
    },
    /// 90 % of the month's streaming time is used: for the owner's sockets only.
    UsageWarning {
        /// The source's owner.
        user_id: i64,
        /// The live source.
        source_id: i64,
        /// Minutes used this month.
        used_minutes: i64,
        /// The plan's minutes.
        limit_minutes: i64,
    },
    /// A restream destination of a source changed state: for its owner's sockets only (the
    /// error may name the platform's answer).
    DestinationStatus {
        /// The source's owner.
        user_id: i64,
        /// The source.
        source_id: i64,
        /// The destination.
        destination_id: i64,
        /// `connecting`, `live`, `retrying` or `failed`.
        state: String,
        /// The last error, if any.
        error: Option<String>,
    },
    /// One second of a live stream's health, sampled where it is ingested: for its owner's
    /// sockets only (every node keeps the recent ones for `GET /api/sources/{id}/stats`).
    StreamStats {
        /// The source's owner.
        user_id: i64,
        /// The sample.
        sample: super::stats::StreamSample,
    },
    /// A video's processing moved on (or it became ready or failed): for its owner's sockets
    /// only, as `video-progress`.
    VideoProgress {
        /// The video's owner.
        user_id: i64,
        /// What the owner is told.
        progress: VideoProgress,
    },
    /// A restream destination is to try again now: the node where its stream is live does it
    /// (not sent to clients).
    DestinationRetry {
        /// The source.
        source_id: i64,
        /// The destination.
        destination_id: i64,
    },
    /// A stream's metadata changed (its title, category, tags, language, mature flag): for
    /// the viewers in its stream room, as `stream-info`.
    StreamInfo {
        /// The source.
        source_id: i64,
        /// What viewers see now.
        info: StreamInfoOut,
    },
    /// A notice for one user: to their sockets, as `notification`.
    Notification {
        /// Whom it is for.
        user_id: i64,
        /// What they are shown.
        notification: NotificationView,
    },
    /// A tip was paid (or the creator sent a test alert): for the creator's overlays
    /// (`GET /api/overlay/{token}/events`) and their sockets, as `tip-alert`.
    TipAlert {
        /// The creator tipped.
        creator_id: i64,
        /// What the alert shows.
        alert: super::overlay::TipAlert,
    },
    /// A goal's progress changed: for the creator's overlays and their sockets, as
    /// `goal-progress`.
    GoalProgress {
        /// The goal's creator.
        creator_id: i64,
        /// The goal as it stands.
        goal: super::overlay::GoalView,
    },
    /// A creator's overlay token was rotated: every node closes the overlays open with the
    /// old one (not sent to clients).
    OverlayRotated {
        /// The creator.
        creator_id: i64,
    },
    /// An administrator changed the site's settings (maintenance mode, registration): every
    /// node drops its cached copy and reads them again (not sent to clients).
    SiteChanged,
    /// What a creator's radio station plays changed: for its listeners, as `now-playing`.
    NowPlaying {
        /// The station's creator.
        user_id: i64,
        /// What it plays now.
        now: NowPlaying,
    },
    /// How many viewers one node has on a source's stream room.
    Viewers {
        /// The source.
        source_id: i64,
        /// The reporting node.
        node: String,
        /// Its viewers.
        count: u64,
    },
}

impl RealtimeEvent {
    /// The event for the owner of the stream it concerns, as `(user id, what they are told)`.
    pub fn for_owner(user_id: i64, event: Event) -> RealtimeEvent {
        match event {
            Event::StreamStatus { source_id, status } => RealtimeEvent::StreamStatus {
                user_id,
                source_id,
                status,
            },
            Event::StreamEnded {
                source_id,
                reason,
                duration_minutes,
            } => RealtimeEvent::StreamEnded {
                user_id,
                source_id,
                duration_minutes,
                reason,
            },
            Event::UsageWarning {
                source_id,
                used_minutes,
                limit_minutes,
            } => RealtimeEvent::UsageWarning {
                user_id,
                source_id,
                used_minutes,
                limit_minutes,
            },
            Event::DestinationStatus {
                source_id,
                destination_id,
                state,
                error,
            } => RealtimeEvent::DestinationStatus {
                user_id,
                source_id,
                destination_id,
                state,
                error,
            },
        }
    }

    /// Whom this event concerns as the owner of a stream, and what they are told; `None` for
    /// the events of rooms and between nodes (without copying them: every event on the bus
    /// passes here once per open event stream).
    pub fn owner_event(&self) -> Option<(i64, Event)> {
        Some(match self {
            RealtimeEvent::StreamStatus {
                user_id,
                source_id,
                status,
            } => (
                *user_id,
                Event::StreamStatus {
                    source_id: *source_id,
                    status: *status,
                },
            ),
            RealtimeEvent::StreamEnded {
                user_id,
                source_id,
                duration_minutes,
                reason,
            } => (
                *user_id,
                Event::StreamEnded {
                    source_id: *source_id,
                    reason: reason.clone(),
                    duration_minutes: *duration_minutes,
                },
            ),
            RealtimeEvent::UsageWarning {
                user_id,
                source_id,
                used_minutes,
                limit_minutes,
            } => (
                *user_id,
                Event::UsageWarning {
                    source_id: *source_id,
                    used_minutes: *used_minutes,
                    limit_minutes: *limit_minutes,
                },
            ),
            RealtimeEvent::DestinationStatus {
                user_id,
                source_id,
                destination_id,
                state,
                error,
            } => (
                *user_id,
                Event::DestinationStatus {
                    source_id: *source_id,
                    destination_id: *destination_id,
                    state: state.clone(),
                    error: error.clone(),
                },
            ),
            _ => return None,
        })
    }

    /// The Socket.IO event it is emitted as, and the room it goes to; `None` for the events
    /// between nodes only.
    pub fn socket(&self) -> Option<(&'static str, Room)> {
        Some(match self {
            RealtimeEvent::ChatMessage(m) => ("chat-message", Room::Chat(m.source_id)),
            RealtimeEvent::StreamStatus { source_id, .. } => {
                ("stream-status", Room::Stream(*source_id))
            }
            RealtimeEvent::StreamEnded { source_id, .. } => {
                ("stream-ended", Room::Stream(*source_id))
            }
            RealtimeEvent::MessageDeleted { source_id, .. } => {
                ("message-deleted", Room::Chat(*source_id))
            }
            RealtimeEvent::UserBanned { source_id, .. } => {
                ("user-banned", source_id.map_or(Room::Everyone, Room::Chat))
            }
            RealtimeEvent::Reaction { source_id, .. } => ("reaction", Room::Stream(*source_id)),
            RealtimeEvent::ConnectorStatus { source_id, .. } => {
                ("connector-status", Room::Chat(*source_id))
            }
            RealtimeEvent::DestinationStatus { user_id, .. } => {
                ("destination-status", Room::User(*user_id))
            }
            RealtimeEvent::UsageWarning { user_id, .. } => ("usage-warning", Room::User(*user_id)),
            RealtimeEvent::Viewers { source_id, .. } => ("viewer-count", Room::Stream(*source_id)),
            RealtimeEvent::StreamInfo { source_id, .. } => {
                ("stream-info", Room::Stream(*source_id))
            }
            RealtimeEvent::StreamStats { user_id, .. } => ("stream-stats", Room::User(*user_id)),
            RealtimeEvent::VideoProgress { user_id, .. } => {
                ("video-progress", Room::User(*user_id))
            }
            RealtimeEvent::Notification { user_id, .. } => ("notification", Room::User(*user_id)),
            RealtimeEvent::NowPlaying { user_id, .. } => ("now-playing", Room::Radio(*user_id)),
            RealtimeEvent::TipAlert { creator_id, .. } => ("tip-alert", Room::User(*creator_id)),
            RealtimeEvent::GoalProgress { creator_id, .. } => {
                ("goal-progress", Room::User(*creator_id))
            }
            RealtimeEvent::OverlayRotated { .. }
            | RealtimeEvent::ConnectorChanged { .. }
            | RealtimeEvent::ConnectorSend { .. }
            | RealtimeEvent::DestinationRetry { .. }
            | RealtimeEvent::SiteChanged => return None,
        })
    }
}

/// An event and the node it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The publishing node's id.
    pub node: String,
    /// The event.
    pub event: RealtimeEvent,
}

/// Publishes realtime events to every node and hands each node's subscribers every event.
pub trait Fanout: Send + Sync {
    /// This node's id.
    fn node(&self) -> &str;
    /// Delivers `event` to this node's subscribers now and to the other nodes' soon.
    fn publish(&self, event: RealtimeEvent);
    /// Every event published from now on, by any node.
    fn subscribe(&self) -> broadcast::Receiver<Envelope>;
    /// Events that could not be handed to the other nodes (Redis down or too slow).
    fn dropped(&self) -> u64 {
        0
    }
}

/// One node: events go to this process's subscribers only.
pub struct InProcess {
    node: String,
    local: broadcast::Sender<Envelope>,
}

impl InProcess {
    /// A fan-out for a single node.
    pub fn new(node: String) -> Self {
        Self {
            node,
            local: broadcast::channel(LOCAL_BUFFER).0,
        }
    }
}

impl Fanout for InProcess {
    fn node(&self) -> &str {
        &self.node
    }
    fn publish(&self, event: RealtimeEvent) {
        let _ = self.local.send(Envelope {
            node: self.node.clone(),
            event,
        });
    }
    fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.local.subscribe()
    }
}

/// Every node sharing a Redis: events are published on the deployment's [`channel`] as JSON. Connections are
/// re-established with backoff; while Redis is away, local delivery goes on and remote delivery
/// is dropped (counted in [`Fanout::dropped`]) rather than buffered without bound.
pub struct RedisFanout {
    inner: InProcess,
    outgoing: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

impl RedisFanout {
    /// Connects to Redis at `url` (checked now, so a wrong URL fails at start) and starts the
    /// publishing and subscribing tasks, which end when `shutdown` turns true.
    pub async fn connect(
        url: &str,
        channel: String,
        node: String,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        let mut probe = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| "Redis did not answer within 5 s".to_string())?
        .map_err(|e| format!("cannot connect to Redis: {e}"))?;
        redis::cmd("PING")
            .query_async::<String>(&mut probe)
            .await
            .map_err(|e| format!("Redis refused PING: {e}"))?;
        let inner = InProcess::new(node);
        let (outgoing, rx) = mpsc::channel(REDIS_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(publisher(
            client.clone(),
            channel.clone(),
            probe,
            rx,
            dropped.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(subscriber(
            client,
            channel,
            inner.node.clone(),
            inner.local.clone(),
            shutdown,
        ));
        Ok(Self {
            inner,
            outgoing,
            dropped,
        })
    }
}

impl Fanout for RedisFanout {
    fn node(&self) -> &str {
        self.inner.node()
    }
    fn publish(&self, event: RealtimeEvent) {
        let envelope = Envelope {
            node: self.inner.node.clone(),
            event,
        };
        match serde_json::to_string(&envelope) {
            Ok(json) => {
                if self.outgoing.try_send(json).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode a realtime event"),
        }
        let _ = self.inner.local.send(envelope);
    }
    fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.inner.subscribe()
    }
    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Backoff between reconnection attempts: doubles from 250 ms to 10 s.
fn next_backoff(current: Duration) -> Duration {
    (current * 2).clamp(Duration::from_millis(250), Duration::from_secs(10))
}

async fn publisher(
    client: redis::Client,
    channel: String,
    first: redis::aio::MultiplexedConnection,
    mut rx: mpsc::Receiver<String>,
    dropped: Arc<AtomicU64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conn = Some(first);
    let mut backoff = Duration::ZERO;
    loop {
        let json = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => return },
            _ = shutdown.wait_for(|s| *s) => return,
        };
        if conn.is_none() {
            match client.get_multiplexed_async_connection().await {
                Ok(c) => {
                    tracing::info!("Redis connection for realtime events restored");
                    conn = Some(c);
                    backoff = Duration::ZERO;
                }
                Err(e) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    backoff = next_backoff(backoff);
                    tracing::warn!(error = %e, retry_in = ?backoff, "Redis unreachable; realtime events reach this node only");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
        }
        if let Some(c) = conn.as_mut() {
            let sent = redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(&json)
                .query_async::<i64>(c)
                .await;
            if let Err(e) = sent {
                dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "publishing to Redis failed; reconnecting");
                conn = None;
            }
        }
    }
}

async fn subscriber(
    client: redis::Client,
    channel: String,
    node: String,
    local: broadcast::Sender<Envelope>,
    mut shutdown: watch::Receiver<bool>,
) {
    use futures_util::StreamExt;
    let mut backoff = Duration::ZERO;
    loop {
        let session = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let subscribed = tokio::select! {
            r = session => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let mut pubsub = match subscribed {
            Ok(p) => p,
            Err(e) => {
                backoff = next_backoff(backoff);
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot subscribe to Redis; other nodes' realtime events are not received");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => continue,
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        };
        backoff = Duration::ZERO;
        let mut messages = pubsub.on_message();
        loop {
            let msg = tokio::select! {
                m = messages.next() => m,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let Some(msg) = msg else {
                tracing::warn!("Redis subscription ended; resubscribing");
                break;
            };
            let payload: &[u8] = msg.get_payload_bytes();
            if payload.len() > MAX_REMOTE_EVENT {
                tracing::warn!(
                    bytes = payload.len(),
                    "oversized realtime event from Redis ignored"
                );
                continue;
            }
            match serde_json::from_slice::<Envelope>(payload) {
                Ok(env) if env.node == node => {}
                Ok(env) => {
                    let _ = local.send(env);
                }
                Err(e) => tracing::warn!(error = %e, "malformed realtime event from Redis ignored"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_event_goes_round_the_bus_unchanged() {
        let owner = Event::UsageWarning {
            source_id: 3,
            used_minutes: 54,
            limit_minutes: 60,
        };
        let bus = RealtimeEvent::for_owner(7, owner.clone());
        assert_eq!(bus.socket(), Some(("usage-warning", Room::User(7))));
        assert_eq!(bus.owner_event(), Some((7, owner)));
        let room_only = RealtimeEvent::Reaction {
            source_id: 3,
            reaction: "fire".into(),
        };
        assert_eq!(room_only.owner_event(), None);
    }

    #[test]
    fn each_event_knows_its_socket_io_name_and_room() {
        let owner = RealtimeEvent::DestinationStatus {
            user_id: 7,
            source_id: 3,
            destination_id: 9,
            state: "retrying".into(),
            error: Some("refused".into()),
        };
        assert_eq!(owner.socket(), Some(("destination-status", Room::User(7))));
        assert_eq!(Room::User(7).name().as_deref(), Some("user:7"));
        let ban = RealtimeEvent::UserBanned {
            source_id: None,
            user_id: "u".into(),
            until: None,
        };
        assert_eq!(ban.socket(), Some(("user-banned", Room::Everyone)));
        assert_eq!(Room::Everyone.name(), None);
        let send = RealtimeEvent::ConnectorSend {
            source_id: 3,
            text: "hi".into(),
        };
        assert_eq!(send.socket(), None, "between nodes only");
        let retry = RealtimeEvent::DestinationRetry {
            source_id: 3,
            destination_id: 9,
        };
        assert_eq!(retry.socket(), None, "between nodes only");
        let stats = RealtimeEvent::StreamStats {
            user_id: 7,
            sample: crate::service::stats::StreamSample {
                source_id: 3,
                at_ms: 1,
                duration_seconds: 1,
                viewers: 2,
                bitrate_kbps: 2500,
                fps: 30.0,
                keyframe_interval_ms: Some(1000),
                keyframe_interval_max_ms: Some(2000),
                skipped_frames: 0,
                video_gaps: 0,
            },
        };
        assert_eq!(stats.socket(), Some(("stream-stats", Room::User(7))));
        assert_eq!(stats.owner_event(), None);
        assert_eq!(
            RealtimeEvent::Reaction {
                source_id: 3,
                reaction: "fire".into()
            }
            .socket(),
            Some(("reaction", Room::Stream(3)))
        );
    }

    #[test]
    fn events_round_trip_as_json() {
        let e = Envelope {
            node: "n1".into(),
            event: RealtimeEvent::StreamStatus {
                user_id: 1,
                source_id: 3,
                status: StreamStatus::Live,
            },
        };
        let json = serde_json::to_string(&e).expect("encodes");
        assert!(json.contains("\"kind\":\"stream_status\""), "{json}");
        assert!(json.contains("\"status\":\"live\""), "{json}");
        assert_eq!(serde_json::from_str::<Envelope>(&json).expect("decodes"), e);
    }

    #[test]
    fn backoff_doubles_up_to_ten_seconds() {
        let mut b = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..8 {
            b = next_backoff(b);
            seen.push(b.as_millis());
        }
        assert_eq!(seen, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
    }

    #[tokio::test]
    async fn in_process_delivers_to_every_subscriber() {
        let f = InProcess::new("n".into());
        let mut a = f.subscribe();
        let mut b = f.subscribe();
        f.publish(RealtimeEvent::Reaction {
            source_id: 1,
            reaction: "heart".into(),
        });
        assert_eq!(a.recv().await.expect("a").node, "n");
        assert_eq!(b.recv().await.expect("b").node, "n");
    }
}
