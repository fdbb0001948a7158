//! Restream: pushes a live stream, unchanged, to other RTMP or RTMPS servers (YouTube, Twitch,
//! another ferrocast…).
//!
//! The server hands a [`Restreamer`] the destinations of a live stream with
//! [`Restreamer::set_targets`]; each destination gets one task (`push`) that reads the stream
//! from the hub and drives a sans-I/O [`ClientSession`](ferrocast_rtmp::session::ClientSession)
//! over TCP, and TLS for `rtmps://` (`dial`). The frames are the ingest's own FLV tag bodies
//! and timestamps, shared as `Bytes`, never re-encoded. Destination URLs are checked by
//! [`parse_target_url`] (`url`); how pushes connect and retry is a [`RestreamConfig`]
//! (`config`).
//!
//! Invariants:
//! - One task per (stream, destination); removing a destination stops its task at once, without
//!   blocking the caller; a destination left unchanged is never reconnected.
//! - Every attempt subscribes to the hub anew, so a reconnect starts from the GOP cache
//!   (configuration, then a keyframe) and the destination can decode at once.
//! - Bounded: the hub's reader is the only queue; connecting (DNS, TCP, TLS, RTMP up to
//!   `NetStream.Publish.Start`) has [`RestreamConfig::connect_timeout`], every write
//!   [`RestreamConfig::write_timeout`]; retries back off exponentially with full jitter, and
//!   after [`RestreamConfig::max_failures`] attempts in a row that never went live a destination
//!   is [`PushState::Failed`] and left alone until the stream ends.
//! - Unless [`RestreamConfig::allow_private_targets`], addresses are checked after DNS resolution
//!   and the check covers the very addresses connected to, so a name that resolves to a private
//!   or local address (DNS rebinding included) cannot make the server reach its own network.
//! - Stream keys are secrets: they appear in no log line, status, event or error (errors from
//!   the destination are scrubbed of the key too).
//!
//! Layering: this registry uses `push`; `push` uses `dial`; both use `url`, `config` and
//! `error`, and none of them names this module, so the state types a push reports live in
//! `push` and are re-exported here.

mod config;
mod dial;
mod error;
mod push;
mod url;

pub use self::url::{is_public_ip, parse_target_url, ParsedUrl, MAX_URL_LEN};
pub use config::{tls_config, RestreamConfig, ALLOWED_PORTS_ENV, ALLOW_PRIVATE_ENV};
pub use push::{DestinationStatus, PushState, RestreamEvent};

use error::PushError;
use ferrocast_hub::Hub;
use push::{lock, PushTask, Shared};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{broadcast, watch};

/// Events kept for slow [`Restreamer::events`] receivers before they lag.
pub const EVENT_CAPACITY: usize = 256;

/// One destination of a stream.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// The destination's id in storage.
    pub id: i64,
    /// `rtmp://host[:port]/app[/more]` or `rtmps://…` (default ports 1935 and 443).
    pub url: String,
    /// The publish name the destination expects (a secret).
    pub stream_key: String,
}

impl fmt::Debug for Target {
    // The stream key is a secret: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Runs the pushes of every live stream. Cheap to clone; dropping the last clone stops every
/// push.
#[derive(Clone)]
pub struct Restreamer {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    config: RestreamConfig,
    streams: Mutex<HashMap<String, Pushes>>,
    events: broadcast::Sender<RestreamEvent>,
}

/// The pushes of one publishing session of a stream.
struct Pushes {
    generation: u64,
    by_id: BTreeMap<i64, Push>,
}

struct Push {
    url: String,
    stream_key: String,
    shared: Arc<Shared>,
    /// Dropping it (removing the push) stops the task.
    _stop: watch::Sender<()>,
}

impl Restreamer {
    /// A restreamer reading streams from `hub`.
    pub fn new(hub: Hub, config: RestreamConfig) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                hub,
                config,
                streams: Mutex::new(HashMap::new()),
                events,
            }),
        }
    }

    /// Makes the pushes of a live stream equal `targets`: starts the new ones, stops the
    /// removed ones, restarts one whose URL or key changed and leaves the others untouched (no
    /// reconnect, no gap). Call it when a stream starts and whenever its destinations change
    /// while live; a republished stream's pushes replace the previous session's. Returns false,
    /// stopping whatever was left, if the stream is not live. Never blocks; must be called
    /// within a Tokio runtime (it spawns the pushes). A target whose URL is invalid shows up as
    /// [`PushState::Failed`] with the reason.
    pub fn set_targets(&self, playback_id: &str, targets: Vec<Target>) -> bool {
        let inner = &self.inner;
        // Subscribing is the hub's way to name the publishing session (its generation).
        let Some(reader) = inner.hub.subscribe(playback_id) else {
            lock(&inner.streams).remove(playback_id);
            return false;
        };
        let generation = reader.generation();
        let source_id = reader.key().source_id;
        drop(reader);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(playback_id, "restream not started: no Tokio runtime");
            return false;
        };
        let wanted: BTreeMap<i64, Target> = targets.into_iter().map(|t| (t.id, t)).collect();
        let mut streams = lock(&inner.streams);
        let pushes = streams
            .entry(playback_id.to_owned())
            .or_insert_with(|| Pushes {
                generation,
                by_id: BTreeMap::new(),
            });
        if pushes.generation != generation {
            // A republish: the old session's pushes stop as they drop.
            *pushes = Pushes {
                generation,
                by_id: BTreeMap::new(),
            };
        }
        pushes.by_id.retain(|id, p| {
            wanted
                .get(id)
                .is_some_and(|t| t.url == p.url && t.stream_key == p.stream_key)
        });
        for (id, target) in wanted {
            if pushes.by_id.contains_key(&id) {
                continue;
            }
            let push = self.start(&runtime, playback_id, source_id, generation, target);
            pushes.by_id.insert(id, push);
        }
        if pushes.by_id.is_empty() {
            streams.remove(playback_id);
        }
        true
    }

    /// The pushes of a live stream, sorted by destination id; empty when it is not live.
    pub fn status(&self, playback_id: &str) -> Vec<DestinationStatus> {
        let mut streams = lock(&self.inner.streams);
        let Some(pushes) = streams.get(playback_id) else {
            return Vec::new();
        };
        if !self.inner.hub.is_live(playback_id) {
            streams.remove(playback_id);
            return Vec::new();
        }
        pushes
            .by_id
            .values()
            .map(|p| lock(&p.shared.status).clone())
            .collect()
    }

    /// Makes a destination of a live stream that is waiting to retry, or that gave up
    /// ([`PushState::Failed`]), try again now, with its count of failed attempts reset (its
    /// byte and frame counters carry on). A push that is connecting or live is left alone.
    /// Returns the state the push was in, or `None` if the stream is not live here or has no
    /// such destination. Must be called within a Tokio runtime.
    pub fn retry_now(&self, playback_id: &str, destination_id: i64) -> Option<PushState> {
        if !self.inner.hub.is_live(playback_id) {
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let mut streams = lock(&self.inner.streams);
        let pushes = streams.get_mut(playback_id)?;
        let push = pushes.by_id.get(&destination_id)?;
        let before = lock(&push.shared.status).clone();
        if !matches!(before.state, PushState::Retrying | PushState::Failed) {
            return Some(before.state);
        }
        let target = Target {
            id: destination_id,
            url: push.url.clone(),
            stream_key: push.stream_key.clone(),
        };
        let source_id = push.shared.source_id;
        let generation = pushes.generation;
        let fresh = self.start(&runtime, playback_id, source_id, generation, target);
        {
            let mut s = lock(&fresh.shared.status);
            s.bytes_out = before.bytes_out;
            s.frames_out = before.frames_out;
            s.connects = before.connects;
            s.retries_asked = before.retries_asked + 1;
            s.last_error = before.last_error;
        }
        // The old push's task stops as its entry drops.
        pushes.by_id.insert(destination_id, fresh);
        tracing::info!(playback_id, destination_id, "restream retried on request");
        Some(before.state)
    }

    /// State changes from now on (bounded: a receiver that falls behind by
    /// [`EVENT_CAPACITY`] events lags).
    pub fn events(&self) -> broadcast::Receiver<RestreamEvent> {
        self.inner.events.subscribe()
    }

    fn start(
        &self,
        runtime: &tokio::runtime::Handle,
        playback_id: &str,
        source_id: i64,
        generation: u64,
        target: Target,
    ) -> Push {
        let url = parse_target_url(&target.url)
            .map_err(PushError::Url)
            .and_then(|u| {
                if target.stream_key.is_empty() {
                    Err(PushError::EmptyStreamKey)
                } else if target.stream_key.chars().any(char::is_control) {
                    Err(PushError::StreamKeyControl)
                } else {
                    Ok(u)
                }
            });
        let host = url
            .as_ref()
            .map_or_else(|_| "-".to_owned(), |u| u.host.clone());
        let shared = Arc::new(Shared::new(target.id, source_id, playback_id, host));
        let (stop_tx, stop_rx) = watch::channel(());
        let task = PushTask {
            hub: self.inner.hub.clone(),
            config: self.inner.config.clone(),
            events: self.inner.events.clone(),
            shared: shared.clone(),
            generation,
            stream_key: target.stream_key.clone(),
        };
        let inner = Arc::downgrade(&self.inner);
        let done = shared.clone();
        runtime.spawn(async move {
            task.run(url, stop_rx).await;
            remove(&inner, &done, generation);
        });
        Push {
            url: target.url,
            stream_key: target.stream_key,
            shared,
            _stop: stop_tx,
        }
    }
}

/// Removes a finished push's entry, unless it was already removed or replaced (or the
/// restreamer is gone: `inner` is weak so that dropping the last [`Restreamer`] stops every
/// push).
fn remove(inner: &Weak<Inner>, shared: &Arc<Shared>, generation: u64) {
    let Some(inner) = inner.upgrade() else {
        return;
    };
    let mut streams = lock(&inner.streams);
    let Some(pushes) = streams.get_mut(&shared.playback_id) else {
        return;
    };
    if pushes.generation != generation {
        return;
    }
    if pushes
        .by_id
        .get(&shared.id)
        .is_some_and(|p| Arc::ptr_eq(&p.shared, shared))
    {
        pushes.by_id.remove(&shared.id);
        tracing::debug!(
            playback_id = %shared.playback_id,
            destination_id = shared.id,
            host = %shared.host,
            "restream ended"
        );
    }
    if pushes.by_id.is_empty() {
        streams.remove(&shared.playback_id);
    }
}
