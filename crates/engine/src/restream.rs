//! Restream: pushes a live stream, unchanged, to other RTMP or RTMPS servers (YouTube, Twitch,
//! another ferrocast…).
//!
//! The server hands a [`Restreamer`] the destinations of a live stream with
//! [`Restreamer::set_targets`]; each destination gets one task that reads the stream from the hub
//! and drives a sans-I/O [`ClientSession`] over TCP (and TLS for `rtmps://`). The frames are the
//! ingest's own FLV tag bodies and timestamps, shared as `Bytes`, never re-encoded.
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

use bytes::Bytes;
use ferrocast_hub::{Frame, FrameKind, Hub, ReadEnd, Reader, StreamEvent};
use ferrocast_rtmp::session::{ClientEvent, ClientSession, MediaKind};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ClientConfig;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};

/// The environment variable naming the ports destinations may use.
pub const ALLOWED_PORTS_ENV: &str = "FERROCAST_RESTREAM_ALLOWED_PORTS";

/// The environment variable (config `restream.allow_private_targets`) that lets pushes reach
/// private, loopback and other non-public addresses; named in the guard's error.
pub const ALLOW_PRIVATE_ENV: &str = "FERROCAST_RESTREAM_ALLOW_PRIVATE_TARGETS";
/// Longest destination URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Events kept for slow [`Restreamer::events`] receivers before they lag.
pub const EVENT_CAPACITY: usize = 256;
/// A live session at least this long resets the backoff.
const STABLE_LIVE: Duration = Duration::from_secs(30);
/// Time a stopped push gets to send `FCUnpublish`/`deleteStream` and close.
const STOP_GRACE: Duration = Duration::from_secs(2);
const READ_BUF: usize = 16 * 1024;
/// Frames queued per write at most.
const MAX_BATCH: usize = 64;
/// Bytes of a stream key short enough that scrubbing it from messages would mangle them (and
/// that protects nothing).
const MIN_REDACTED_KEY: usize = 4;

/// How pushes connect and retry.
#[derive(Debug, Clone)]
pub struct RestreamConfig {
    /// Allow destinations that resolve to loopback, private, link-local, CGNAT, unique-local
    /// and other non-public addresses (see [`is_public_ip`]). Off by default: a user could
    /// otherwise make the server connect into its own network.
    pub allow_private_targets: bool,
    /// Ports destinations may use (empty: any). Default 1935, 443 and 80: a destination URL
    /// must not turn pushes into a port scanner.
    pub allowed_ports: Vec<u16>,
    /// TLS settings for `rtmps://` (see [`tls_config`]).
    pub tls: Arc<ClientConfig>,
    /// Time allowed for DNS, TCP, TLS and the RTMP handshake up to `NetStream.Publish.Start`.
    pub connect_timeout: Duration,
    /// Time allowed for one write.
    pub write_timeout: Duration,
    /// Backoff before the first retry; doubled after each failed attempt (or live session
    /// shorter than 30 s), with full jitter.
    pub initial_backoff: Duration,
    /// The backoff's ceiling.
    pub max_backoff: Duration,
    /// Attempts in a row that never reach live before the destination is
    /// [`PushState::Failed`] and no longer retried (while this stream lasts).
    pub max_failures: u32,
}

impl RestreamConfig {
    /// The defaults (private targets refused, 10 s timeouts, backoff 1 s doubling to 30 s,
    /// 10 failures) with `tls`.
    pub fn new(tls: Arc<ClientConfig>) -> Self {
        Self {
            allow_private_targets: false,
            allowed_ports: vec![1935, 443, 80],
            tls,
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_failures: 10,
        }
    }
}

/// TLS client settings trusting the Mozilla root store (webpki-roots) plus, if given, the
/// certificates in `extra_ca_pem` (a private CA, or a self-signed destination).
pub fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("cannot read the extra CA certificates: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("cannot trust an extra CA certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(
                "the extra CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
                    .to_owned(),
            );
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

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

/// Where a push stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushState {
    /// Resolving, connecting, handshaking or waiting for `NetStream.Publish.Start`.
    Connecting,
    /// Publishing: frames flow.
    Live,
    /// The last attempt failed; waiting before the next.
    Retrying,
    /// Too many attempts in a row failed (or the destination is invalid); no more retries
    /// while this stream lasts.
    Failed,
}

impl PushState {
    /// `"connecting"`, `"live"`, `"retrying"` or `"failed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for PushState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A destination's status while its stream is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStatus {
    /// The destination's id.
    pub id: i64,
    /// Where the push stands.
    pub state: PushState,
    /// Why the last attempt failed (kept while connecting again; cleared on going live).
    pub last_error: Option<String>,
    /// Bytes written to the destination while live, RTMP framing included, over all attempts.
    pub bytes_out: u64,
    /// Frames written to the destination, over all attempts.
    pub frames_out: u64,
    /// Times publishing started (`NetStream.Publish.Start`).
    pub connects: u64,
    /// Unix ms of the last state change.
    pub since_ms: i64,
}

/// A push changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestreamEvent {
    /// The source being restreamed.
    pub source_id: i64,
    /// Its playback id.
    pub playback_id: String,
    /// The destination.
    pub destination_id: i64,
    /// The new state.
    pub state: PushState,
    /// Why, for [`PushState::Retrying`] and [`PushState::Failed`].
    pub error: Option<String>,
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

/// What a push task and [`Restreamer::status`] share.
struct Shared {
    id: i64,
    source_id: i64,
    playback_id: String,
    /// For logs: the URL's host, or `"-"` if the URL is invalid.
    host: String,
    status: Mutex<DestinationStatus>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
        let url = parse_target_url(&target.url).and_then(|u| {
            if target.stream_key.is_empty() {
                Err("the stream key is empty; copy it from the destination's settings".to_owned())
            } else if target.stream_key.chars().any(char::is_control) {
                Err("the stream key contains control characters; copy it again".to_owned())
            } else {
                Ok(u)
            }
        });
        let host = url
            .as_ref()
            .map_or_else(|_| "-".to_owned(), |u| u.host.clone());
        let shared = Arc::new(Shared {
            id: target.id,
            source_id,
            playback_id: playback_id.to_owned(),
            host,
            status: Mutex::new(DestinationStatus {
                id: target.id,
                state: PushState::Connecting,
                last_error: None,
                bytes_out: 0,
                frames_out: 0,
                connects: 0,
                since_ms: unix_ms(),
            }),
        });
        let (stop_tx, stop_rx) = watch::channel(());
        let task = PushTask {
            inner: Arc::downgrade(&self.inner),
            hub: self.inner.hub.clone(),
            config: self.inner.config.clone(),
            events: self.inner.events.clone(),
            shared: shared.clone(),
            generation,
            stream_key: target.stream_key.clone(),
        };
        runtime.spawn(task.run(url, stop_rx));
        Push {
            url: target.url,
            stream_key: target.stream_key,
            shared,
            _stop: stop_tx,
        }
    }
}

/// How one attempt ended.
enum Outcome {
    /// The publisher left: the destination got an unpublish.
    Ended,
    /// The push was removed (or the stream republished).
    Stopped,
    /// The connection failed or was lost; `live` if it got as far as publishing.
    Lost { live: bool, error: String },
}

fn lost(live: bool, error: impl Into<String>) -> Outcome {
    Outcome::Lost {
        live,
        error: error.into(),
    }
}

struct PushTask {
    /// To remove this push's entry when done; weak so that dropping the restreamer stops us.
    inner: Weak<Inner>,
    hub: Hub,
    config: RestreamConfig,
    events: broadcast::Sender<RestreamEvent>,
    shared: Arc<Shared>,
    generation: u64,
    stream_key: String,
}

impl PushTask {
    async fn run(self, url: Result<ParsedUrl, String>, mut stop: watch::Receiver<()>) {
        match url {
            Ok(url) => self.push(&url, &mut stop).await,
            Err(e) => {
                self.set_state(PushState::Failed, Some(e));
                self.wait_for_end(&mut stop).await;
            }
        }
        self.remove();
    }

    /// Attempts, retries and backoff until the stream ends, the push is stopped, or it fails.
    async fn push(&self, url: &ParsedUrl, stop: &mut watch::Receiver<()>) {
        let mut failures = 0u32;
        let mut backoff = self.config.initial_backoff;
        loop {
            let reader = match self.hub.subscribe(&self.shared.playback_id) {
                Some(r) if r.generation() == self.generation => r,
                // Ended (or republished: the new session has its own pushes).
                _ => return,
            };
            self.set_state(PushState::Connecting, None);
            let started = tokio::time::Instant::now();
            let (live, error) = match self.attempt(url, reader, stop).await {
                Outcome::Ended | Outcome::Stopped => return,
                Outcome::Lost { live, error } => (live, error),
            };
            if live {
                failures = 0;
                // A destination that takes the publish and drops it at once still backs off.
                if started.elapsed() >= STABLE_LIVE {
                    backoff = self.config.initial_backoff;
                }
            } else {
                failures += 1;
            }
            if failures >= self.config.max_failures.max(1) {
                let error = format!(
                    "{error} (gave up after {failures} failed attempts; fix the destination, then \
                     toggle it or restart the stream)"
                );
                self.set_state(PushState::Failed, Some(error));
                self.wait_for_end(stop).await;
                return;
            }
            self.set_state(PushState::Retrying, Some(error));
            let pause = full_jitter(backoff);
            backoff = (backoff * 2).min(self.config.max_backoff);
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One connection: connect and publish, then forward frames until something ends it.
    async fn attempt(
        &self,
        url: &ParsedUrl,
        mut reader: Reader,
        stop: &mut watch::Receiver<()>,
    ) -> Outcome {
        let timeout = self.config.connect_timeout;
        let open = connect_and_publish(url, &self.config, &self.stream_key);
        let opened = tokio::select! {
            biased;
            _ = stop.changed() => return Outcome::Stopped,
            r = tokio::time::timeout(timeout, open) => r,
        };
        let (mut conn, mut session) = match opened {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return lost(false, e),
            Err(_) => {
                return lost(
                    false,
                    format!(
                        "no answer from {}:{} within {} s (connect, TLS and RTMP handshake); check \
                         the host, the port and rtmp:// versus rtmps://",
                        url.host,
                        url.port,
                        timeout.as_secs_f32()
                    ),
                )
            }
        };
        lock(&self.shared.status).connects += 1;
        self.set_state(PushState::Live, None);
        let write_timeout = self.config.write_timeout;
        let mut buf = vec![0u8; READ_BUF];
        let mut pending = Vec::new();
        loop {
            let mut frames = 0;
            tokio::select! {
                biased;
                _ = stop.changed() => {
                    // Removed: say goodbye if the socket takes it at once.
                    session.unpublish();
                    let _ = tokio::time::timeout(STOP_GRACE, async {
                        let _ = flush(&mut conn, &mut session, &mut pending, write_timeout).await;
                        let _ = conn.shutdown().await;
                    })
                    .await;
                    return Outcome::Stopped;
                }
                r = conn.read(&mut buf) => {
                    if let Err(e) = handle_destination_input(&mut session, r, &buf) {
                        return lost(true, e);
                    }
                }
                f = reader.recv() => match queue_frames(&mut session, &mut reader, f) {
                    Ok(Batch::Frames(n)) => frames = n,
                    Ok(Batch::Ended) => {
                        // The publisher left: unpublish (after what was queued) and close.
                        session.unpublish();
                        let _ = flush(&mut conn, &mut session, &mut pending, write_timeout).await;
                        let _ = tokio::time::timeout(write_timeout, conn.shutdown()).await;
                        return Outcome::Ended;
                    }
                    Err(e) => return lost(true, e),
                },
            }
            let written = tokio::select! {
                biased;
                // Mid-write the socket cannot take an unpublish: just drop it.
                _ = stop.changed() => return Outcome::Stopped,
                r = flush(&mut conn, &mut session, &mut pending, write_timeout) => r,
            };
            match written {
                Ok(bytes) => {
                    let mut s = lock(&self.shared.status);
                    s.bytes_out += bytes;
                    s.frames_out += frames;
                }
                Err(e) => return lost(true, e),
            }
        }
    }

    /// After failing: waits until this publishing session of the stream ends (or the push is
    /// stopped), so that the failed entry stays visible meanwhile.
    async fn wait_for_end(&self, stop: &mut watch::Receiver<()>) {
        let mut events = self.hub.events();
        let mut check = true;
        loop {
            // Subscribed to events first, then checked: an end in between is not missed.
            if check {
                match self.hub.subscribe(&self.shared.playback_id) {
                    Some(r) if r.generation() == self.generation => check = false,
                    _ => return,
                }
            }
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                ev = events.recv() => match ev {
                    Ok(StreamEvent::Offline { key, .. }) => {
                        if key.playback_id == self.shared.playback_id {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => check = true,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// Removes this push's entry, unless it was already removed or replaced.
    fn remove(&self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mut streams = lock(&inner.streams);
        let Some(pushes) = streams.get_mut(&self.shared.playback_id) else {
            return;
        };
        if pushes.generation != self.generation {
            return;
        }
        if pushes
            .by_id
            .get(&self.shared.id)
            .is_some_and(|p| Arc::ptr_eq(&p.shared, &self.shared))
        {
            pushes.by_id.remove(&self.shared.id);
            tracing::debug!(
                playback_id = %self.shared.playback_id,
                destination_id = self.shared.id,
                host = %self.shared.host,
                "restream ended"
            );
        }
        if pushes.by_id.is_empty() {
            streams.remove(&self.shared.playback_id);
        }
    }

    /// Records and announces a state change. `error` replaces the last error when given; going
    /// live clears it.
    fn set_state(&self, state: PushState, error: Option<String>) {
        let error = error.map(|e| redact(e, &self.stream_key));
        {
            let mut s = lock(&self.shared.status);
            s.state = state;
            s.since_ms = unix_ms();
            if state == PushState::Live {
                s.last_error = None;
            } else if error.is_some() {
                s.last_error.clone_from(&error);
            }
        }
        let sh = &self.shared;
        match (state, &error) {
            (PushState::Connecting, _) => tracing::debug!(
                source_id = sh.source_id, playback_id = %sh.playback_id,
                destination_id = sh.id, host = %sh.host, "restream connecting"
            ),
            (PushState::Live, _) => tracing::info!(
                source_id = sh.source_id, playback_id = %sh.playback_id,
                destination_id = sh.id, host = %sh.host, "restream live"
            ),
            (PushState::Retrying, e) => tracing::warn!(
                source_id = sh.source_id, playback_id = %sh.playback_id,
                destination_id = sh.id, host = %sh.host, error = e.as_deref().unwrap_or(""),
                "restream interrupted; retrying"
            ),
            (PushState::Failed, e) => tracing::warn!(
                source_id = sh.source_id, playback_id = %sh.playback_id,
                destination_id = sh.id, host = %sh.host, error = e.as_deref().unwrap_or(""),
                "restream failed; not retrying"
            ),
        }
        // No receivers is fine.
        let _ = self.events.send(RestreamEvent {
            source_id: sh.source_id,
            playback_id: sh.playback_id.clone(),
            destination_id: sh.id,
            state,
            error,
        });
    }
}

/// What [`queue_frames`] queued.
enum Batch {
    /// This many frames.
    Frames(u64),
    /// Frames, then the end of the stream.
    Ended,
}

/// Queues `first` and whatever else the reader already holds (up to [`MAX_BATCH`] frames), so
/// that one write carries them all.
fn queue_frames(
    session: &mut ClientSession,
    reader: &mut Reader,
    first: Result<Frame, ReadEnd>,
) -> Result<Batch, String> {
    let mut next = Some(first);
    let mut frames = 0;
    while let Some(f) = next.take() {
        match f {
            Ok(frame) => {
                let kind = media_kind(frame.kind);
                // Audio and video go out in the chunked form RTMP players already share, when
                // the destination gave us the usual message stream id; metadata is wrapped in
                // `@setDataFrame` for a publish, so it is chunked here.
                let shared = (frame.kind != FrameKind::Data
                    && session.publish_stream_id() == Some(crate::rtmp_server::SHARED_STREAM_ID))
                .then(|| crate::rtmp_server::shared_chunks(&frame))
                .flatten();
                match shared {
                    Some(chunks) => session.send_chunked(kind, chunks),
                    None => session.send_media(kind, frame.timestamp, &frame.data),
                }
                .map_err(|e| format!("cannot send a frame: {e}"))?;
                frames += 1;
            }
            Err(ReadEnd::Ended) => return Ok(Batch::Ended),
            Err(ReadEnd::TooSlow) => {
                return Err(
                    "the destination is too slow: the push fell behind the live stream; \
                            check the upload bandwidth and the destination's ingest"
                        .to_owned(),
                )
            }
        }
        if frames < MAX_BATCH as u64 {
            next = reader.try_recv();
        }
    }
    Ok(Batch::Frames(frames))
}

/// Feeds what the destination sent while live (acknowledgements, window sizes, pings, status
/// messages) to the session; an error ends the attempt.
fn handle_destination_input(
    session: &mut ClientSession,
    read: io::Result<usize>,
    buf: &[u8],
) -> Result<(), String> {
    let n = match read {
        Ok(0) => return Err("the destination closed the connection".to_owned()),
        Ok(n) => n,
        Err(e) => return Err(format!("reading from the destination failed: {e}")),
    };
    session.handle_input(&buf[..n]).map_err(|e| {
        tracing::debug!(error = %e, "destination broke the RTMP protocol");
        "the destination broke the RTMP protocol".to_owned()
    })?;
    while let Some(ev) = session.poll_event() {
        if let ClientEvent::Error(d) = ev {
            tracing::debug!(description = %d.escape_debug(), "destination stopped the stream");
            return Err("the destination stopped the stream".to_owned());
        }
    }
    Ok(())
}

/// `message` with every occurrence of the stream key replaced: a destination may echo it.
fn redact(message: String, stream_key: &str) -> String {
    if stream_key.len() >= MIN_REDACTED_KEY && message.contains(stream_key) {
        message.replace(stream_key, "[stream key]")
    } else {
        message
    }
}

/// A random duration in `0..=max` ("full jitter"), from the standard library's per-process
/// random hash keys (no cryptographic quality needed).
fn full_jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(r % nanos.saturating_add(1))
}

fn media_kind(k: FrameKind) -> MediaKind {
    match k {
        FrameKind::Audio => MediaKind::Audio,
        FrameKind::Video => MediaKind::Video,
        FrameKind::Data => MediaKind::Data,
    }
}

/// Resolves, checks, connects (TLS for `rtmps://`) and runs the RTMP client session up to
/// `NetStream.Publish.Start`. The caller bounds it with the connect timeout.
async fn connect_and_publish(
    url: &ParsedUrl,
    config: &RestreamConfig,
    stream_key: &str,
) -> Result<(Conn, ClientSession), String> {
    let mut conn = connect(url, config).await?;
    let mut session = ClientSession::new(&url.app, &url.tc_url, stream_key);
    let mut buf = vec![0u8; READ_BUF];
    let mut pending = Vec::new();
    loop {
        flush(&mut conn, &mut session, &mut pending, config.write_timeout).await?;
        // Either event ends the handshake.
        if let Some(ev) = session.poll_event() {
            match ev {
                ClientEvent::Publishing => return Ok((conn, session)),
                // The remote's own words are not repeated: they are its bytes, shown to users.
                ClientEvent::Error(d) => {
                    tracing::debug!(description = %d.escape_debug(), "destination refused the stream");
                    return Err(
                        "the destination refused the stream; check the stream key and the \
                         URL's application path"
                            .to_owned(),
                    );
                }
            }
        }
        let n = conn
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading from the destination failed: {e}"))?;
        if n == 0 {
            return Err(
                "the destination closed the connection before publishing started; check \
                        rtmp:// versus rtmps://, the port, the application path and the stream key"
                    .to_owned(),
            );
        }
        if let Err(e) = session.handle_input(&buf[..n]) {
            tracing::debug!(error = %e, "destination answered outside RTMP");
            return Err(
                "the destination does not speak RTMP as expected; check rtmp:// versus \
                 rtmps:// and the port"
                    .to_owned(),
            );
        }
    }
}

async fn connect(url: &ParsedUrl, config: &RestreamConfig) -> Result<Conn, String> {
    let host = &url.host;
    if !config.allowed_ports.is_empty() && !config.allowed_ports.contains(&url.port) {
        return Err(format!(
            "port {} is not allowed for destinations; set {ALLOWED_PORTS_ENV} to allow it",
            url.port
        ));
    }
    // One answer for "does not resolve" and "resolves to a refused address": the difference
    // would tell a user which private names exist.
    let refused = || {
        format!(
            "{host} is not a public address ferrocast may restream to; check the host name \
             ({ALLOW_PRIVATE_ENV}=true allows private and local addresses)"
        )
    };
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), url.port)).await {
        Ok(found) => found.collect(),
        Err(e) => {
            tracing::debug!(%host, error = %e, "restream destination does not resolve");
            return Err(refused());
        }
    };
    if addrs.is_empty() {
        return Err(refused());
    }
    // Checked after resolution, on the addresses we then connect to: DNS rebinding cannot
    // slip a private address past the check.
    if !config.allow_private_targets && addrs.iter().any(|a| !is_public_ip(a.ip())) {
        return Err(refused());
    }
    let mut tcp = None;
    let mut errors = Vec::new();
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    let Some(tcp) = tcp else {
        return Err(format!(
            "cannot connect to {host} port {} ({}); check the host, the port and the firewall",
            url.port,
            errors.join("; ")
        ));
    };
    let _ = tcp.set_nodelay(true);
    if !url.tls {
        return Ok(Conn::Tcp(tcp));
    }
    let name = ServerName::try_from(host.clone())
        .map_err(|_| format!("{host} is not a valid TLS server name"))?;
    let tls = tokio_rustls::TlsConnector::from(config.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| {
            format!(
                "TLS handshake with {host} failed: {e}; check that port {} serves RTMPS (or use \
                 rtmp://)",
                url.port
            )
        })?;
    Ok(Conn::Tls(Box::new(tls)))
}

/// Writes everything the session queued as vectored writes (no copying), within `timeout`;
/// returns the bytes written.
async fn flush(
    conn: &mut Conn,
    session: &mut ClientSession,
    pending: &mut Vec<Bytes>,
    timeout: Duration,
) -> Result<u64, String> {
    pending.clear();
    while let Some(out) = session.poll_transmit() {
        pending.push(out);
    }
    if pending.is_empty() {
        return Ok(0);
    }
    let total = pending.iter().map(|b| b.len() as u64).sum();
    let write = async {
        write_all_vectored(conn, pending).await?;
        // TLS keeps records until flushed.
        conn.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => Ok(total),
        Ok(Err(e)) => Err(format!("writing to the destination failed: {e}")),
        Err(_) => Err(format!(
            "a write to the destination took over {} s: the destination or the upload is too slow",
            timeout.as_secs_f32()
        )),
    }
}

/// Writes every buffer, `IOV_BATCH` at a time, advancing through partial writes.
pub(crate) async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut [Bytes],
) -> io::Result<()> {
    while bufs.iter().any(|b| !b.is_empty()) {
        write_some_vectored(w, bufs).await?;
    }
    Ok(())
}

/// One vectored write of up to `IOV_BATCH` of the non-empty buffers; advances them past what
/// was written and returns how many bytes that was (never 0: that is `WriteZero`).
pub(crate) async fn write_some_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut [Bytes],
) -> io::Result<usize> {
    use bytes::Buf;
    const IOV_BATCH: usize = 64;
    let Some(first) = bufs.iter().position(|b| !b.is_empty()) else {
        return Ok(0);
    };
    let end = (first + IOV_BATCH).min(bufs.len());
    let mut slices = [io::IoSlice::new(&[]); IOV_BATCH];
    for (slot, b) in slices.iter_mut().zip(&bufs[first..end]) {
        *slot = io::IoSlice::new(b);
    }
    let written = w.write_vectored(&slices[..end - first]).await?;
    if written == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    let mut n = written;
    for b in &mut bufs[first..] {
        if n == 0 {
            break;
        }
        let step = n.min(b.len());
        b.advance(step);
        n -= step;
    }
    Ok(written)
}

/// A connection to a destination: plain TCP or TLS over TCP.
enum Conn {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Tcp(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A destination URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    /// `rtmps://`.
    pub tls: bool,
    /// A lower-case DNS name, or an IP address (IPv6 without brackets); also the TLS server
    /// name.
    pub host: String,
    /// The port (1935 for `rtmp://`, 443 for `rtmps://` unless given).
    pub port: u16,
    /// The RTMP application: the path after the host without leading or trailing slashes
    /// (may contain `/`, e.g. `app/instance`).
    pub app: String,
    /// The `tcUrl` sent in `connect`: `scheme://host[:port]/app` (the port only if the URL
    /// had one).
    pub tc_url: String,
}

/// Takes a destination URL apart: `rtmp://host[:port]/app[/more]` or `rtmps://…`, the host a
/// DNS name, an IPv4 address or a bracketed IPv6 address. Refuses other schemes, user info,
/// queries, fragments, whitespace and control characters, a missing application path, and URLs
/// over [`MAX_URL_LEN`] bytes. Errors say what to fix.
pub fn parse_target_url(url: &str) -> Result<ParsedUrl, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("the URL is longer than {MAX_URL_LEN} characters"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the URL contains spaces or control characters".to_owned());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("the URL must start with rtmp:// or rtmps://".to_owned());
    };
    let (tls, scheme) = if scheme.eq_ignore_ascii_case("rtmp") {
        (false, "rtmp")
    } else if scheme.eq_ignore_ascii_case("rtmps") {
        (true, "rtmps")
    } else {
        return Err("only rtmp:// and rtmps:// destinations are supported".to_owned());
    };
    if rest.contains(['?', '#']) {
        return Err(
            "the URL must not have a query (?…) or a fragment (#…); put the stream key \
                    in the stream key field"
                .to_owned(),
        );
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("the URL must not contain a user name or password".to_owned());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((ip, tail)) = bracketed.split_once(']') else {
            return Err("the URL's IPv6 address lacks its closing ]".to_owned());
        };
        let ip: Ipv6Addr = ip
            .parse()
            .map_err(|_| "the URL's IPv6 address is not valid".to_owned())?;
        let port =
            match tail {
                "" => None,
                t => Some(t.strip_prefix(':').ok_or_else(|| {
                    "unexpected characters after the URL's IPv6 address".to_owned()
                })?),
            };
        (ip.to_string(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err("the URL has no host".to_owned());
        }
        if host.len() > 253 {
            return Err("the URL's host name is longer than 253 characters".to_owned());
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(
                "the host may contain only letters, digits, '-', '.' and '_' (use \
                        punycode for international names, [brackets] for IPv6)"
                    .to_owned(),
            );
        }
        (host.to_ascii_lowercase(), port)
    };
    let port_number = match port {
        None if tls => 443,
        None => 1935,
        Some(p) => {
            let n = p
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| p.parse::<u16>().ok())
                .flatten()
                .filter(|n| *n != 0);
            n.ok_or_else(|| "the URL's port must be a number from 1 to 65535".to_owned())?
        }
    };
    let app = path.trim_matches('/');
    if app.is_empty() {
        return Err(
            "the URL needs an application path after the host, e.g. rtmp://host/live".to_owned(),
        );
    }
    let host_in_url = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let tc_url = match port {
        Some(_) => format!("{scheme}://{host_in_url}:{port_number}/{app}"),
        None => format!("{scheme}://{host_in_url}/{app}"),
    };
    Ok(ParsedUrl {
        tls,
        host,
        port: port_number,
        app: app.to_owned(),
        tc_url,
    })
}

/// True if `ip` is a public unicast address a push may connect to. Refused: unspecified,
/// loopback, private (10/8, 172.16/12, 192.168/16), CGNAT (100.64/10), link-local
/// (169.254/16, fe80::/10), "this network" (0/8), IETF protocol assignments (192.0.0/24),
/// benchmarking (198.18/15), documentation (192.0.2/24, 198.51.100/24, 203.0.113/24,
/// 2001:db8::/32, 3fff::/20), 6to4 relay anycast (192.88.99/24), multicast, reserved and
/// broadcast (240/4), unique-local (fc00::/7), site-local (fec0::/10), discard (100::/64), and
/// everything outside 2000::/3. IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4
/// (2002::/16) addresses are judged by the IPv4 address they carry; Teredo and the rest of
/// 2001::/23 are refused.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // ::ffff:0:0/96, IPv4-mapped.
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    // 64:ff9b::/96, NAT64 well-known prefix (RFC 6052).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    // 2002::/16, 6to4 (RFC 3056): the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2]));
    }
    // Global unicast is 2000::/3: this refuses ::, ::1, ::/96, 64:ff9b:1::/48, 100::/64,
    // fc00::/7, fe80::/10, fec0::/10 and ff00::/8 at once.
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    // 2001::/23 IETF protocol assignments (Teredo, ORCHID, …), 2001:db8::/32 and 3fff::/20
    // documentation.
    match s[0] {
        0x2001 => s[1] >= 0x0200 && s[1] != 0x0db8,
        0x3fff => s[1] >= 0x1000,
        _ => true,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn public(s: &str) -> bool {
        is_public_ip(s.parse().unwrap())
    }

    #[test]
    fn classifies_addresses() {
        for ok in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2a00:1450:4001:80b::200e",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(public(ok), "{ok} is public");
        }
        for bad in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!public(bad), "{bad} is not public");
        }
    }

    #[test]
    fn parses_urls() {
        let u = parse_target_url("rtmp://a.rtmp.youtube.com/live2").unwrap();
        assert_eq!(
            u,
            ParsedUrl {
                tls: false,
                host: "a.rtmp.youtube.com".into(),
                port: 1935,
                app: "live2".into(),
                tc_url: "rtmp://a.rtmp.youtube.com/live2".into(),
            }
        );
        let u = parse_target_url("RTMPS://Live-API-S.Facebook.com:443/rtmp/").unwrap();
        assert!(u.tls);
        assert_eq!(u.host, "live-api-s.facebook.com");
        assert_eq!((u.port, u.app.as_str()), (443, "rtmp"));
        assert_eq!(u.tc_url, "rtmps://live-api-s.facebook.com:443/rtmp");
        let u = parse_target_url("rtmps://[2001:DB8::1]/app/instance").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("2001:db8::1", 443));
        assert_eq!(u.app, "app/instance");
        assert_eq!(u.tc_url, "rtmps://[2001:db8::1]/app/instance");
        let u = parse_target_url("rtmp://10.0.0.2:19350//live//").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.app.as_str()),
            ("10.0.0.2", 19350, "live")
        );
    }

    #[test]
    fn refuses_bad_urls() {
        for (url, says) in [
            ("http://example.com/live", "rtmp:// and rtmps://"),
            ("example.com/live", "must start with"),
            ("rtmp://example.com", "application path"),
            ("rtmp://example.com/", "application path"),
            ("rtmp://example.com///", "application path"),
            ("rtmp://user:pw@example.com/live", "user name"),
            ("rtmp://example.com/live?key=x", "query"),
            ("rtmp://example.com/live#x", "fragment"),
            ("rtmp://exa mple.com/live", "spaces"),
            ("rtmp://example.com/li\nve", "control"),
            ("rtmp://example.com:0/live", "port"),
            ("rtmp://example.com:65536/live", "port"),
            ("rtmp://example.com:/live", "port"),
            ("rtmp://example.com:+80/live", "port"),
            ("rtmp://example.com:1:2/live", "port"),
            ("rtmp://:1935/live", "no host"),
            ("rtmp://[::1/live", "closing ]"),
            ("rtmp://[::1]x/live", "after the URL's IPv6"),
            ("rtmp://[not-ip]/live", "IPv6 address is not valid"),
            ("rtmp://[fe80::1%eth0]/live", "IPv6 address is not valid"),
            ("rtmp://exämple.com/live", "punycode"),
        ] {
            let e = parse_target_url(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
        let long = format!("rtmp://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(parse_target_url(&long).unwrap_err().contains("longer"));
    }

    #[test]
    fn tls_config_reads_extra_roots() {
        assert!(tls_config(None).is_ok());
        assert!(tls_config(Some(b"not pem")).unwrap_err().contains("no PEM"));
    }

    #[test]
    fn redacts_and_jitters() {
        assert_eq!(
            redact("bad name live_abc123".into(), "live_abc123"),
            "bad name [stream key]"
        );
        assert_eq!(redact("live stream".into(), "liv"), "live stream");
        for _ in 0..100 {
            assert!(full_jitter(Duration::from_millis(5)) <= Duration::from_millis(5));
        }
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }

    fn host() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            "[a-z0-9]([a-z0-9_-]{0,10}[a-z0-9])?(\\.[a-z0-9-]{1,10}){0,3}"
                .prop_map(|h| (h.clone(), h)),
            any::<Ipv4Addr>().prop_map(|ip| (ip.to_string(), ip.to_string())),
            any::<Ipv6Addr>().prop_map(|ip| (format!("[{ip}]"), ip.to_string())),
        ]
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,80}", t in "(rtmps?://)?[\\[\\]:/@?#a-z0-9.%]{0,40}") {
            let _ = parse_target_url(&s);
            let _ = parse_target_url(&t);
        }

        #[test]
        fn parser_round_trips(
            tls in any::<bool>(),
            upper in any::<bool>(),
            (host_in_url, host) in host(),
            port in proptest::option::of(1u16..),
            app in "[A-Za-z0-9_.~-]{1,12}(/[A-Za-z0-9_.~-]{1,12}){0,2}",
            trailing in any::<bool>(),
        ) {
            let scheme = if tls { "rtmps" } else { "rtmp" };
            let written = if upper { scheme.to_ascii_uppercase() } else { scheme.to_owned() };
            let port_part = port.map(|p| format!(":{p}")).unwrap_or_default();
            let slash = if trailing { "/" } else { "" };
            let url = format!("{written}://{host_in_url}{port_part}/{app}{slash}");
            let u = parse_target_url(&url).unwrap();
            prop_assert_eq!(u.tls, tls);
            prop_assert_eq!(&u.host, &host);
            prop_assert_eq!(u.port, port.unwrap_or(if tls { 443 } else { 1935 }));
            prop_assert_eq!(&u.app, &app);
            prop_assert_eq!(u.tc_url, format!("{scheme}://{host_in_url}{port_part}/{app}"));
        }
    }
}
