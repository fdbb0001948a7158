//! One destination's push: the task that connects (see [`super::dial`]), forwards the stream's
//! frames in batches, and retries with backoff; and the state it reports ([`PushState`],
//! [`DestinationStatus`], [`RestreamEvent`]).
//!
//! Frames leave as the ingest's own FLV tag bodies and timestamps, shared as `Bytes`; audio and
//! video use the chunked form every RTMP player shares when the destination's message stream
//! id allows it.

use super::config::RestreamConfig;
use super::dial::{connect_and_publish, flush, READ_BUF};
use super::error::PushError;
use super::url::ParsedUrl;
use crate::io::{media_kind, shared_chunks, SHARED_STREAM_ID};
use ferrocast_hub::{Frame, FrameKind, Hub, ReadEnd, Reader, StreamEvent};
use ferrocast_rtmp::session::{ClientEvent, ClientSession};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, watch};

/// A live session at least this long resets the backoff.
const STABLE_LIVE: Duration = Duration::from_secs(30);
/// Time a stopped push gets to send `FCUnpublish`/`deleteStream` and close.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Frames queued per write at most.
const MAX_BATCH: usize = 64;
/// Bytes of a stream key short enough that scrubbing it from messages would mangle them (and
/// that protects nothing).
const MIN_REDACTED_KEY: usize = 4;

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
    /// Times it was asked to retry at once ([`Restreamer::retry_now`](super::Restreamer::retry_now)).
    pub retries_asked: u64,
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

/// What a push task and [`Restreamer::status`](super::Restreamer::status) share.
pub(super) struct Shared {
    pub(super) id: i64,
    pub(super) source_id: i64,
    pub(super) playback_id: String,
    /// For logs: the URL's host, or `"-"` if the URL is invalid.
    pub(super) host: String,
    pub(super) status: Mutex<DestinationStatus>,
}

impl Shared {
    /// A destination that is about to connect.
    pub(super) fn new(id: i64, source_id: i64, playback_id: &str, host: String) -> Self {
        Self {
            id,
            source_id,
            playback_id: playback_id.to_owned(),
            host,
            status: Mutex::new(DestinationStatus {
                id,
                state: PushState::Connecting,
                last_error: None,
                bytes_out: 0,
                frames_out: 0,
                connects: 0,
                retries_asked: 0,
                since_ms: unix_ms(),
            }),
        }
    }
}

/// The mutex's data, also after a panic elsewhere (every update leaves it consistent).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How one attempt ended.
enum Outcome {
    /// The publisher left: the destination got an unpublish.
    Ended,
    /// The push was removed (or the stream republished).
    Stopped,
    /// The connection failed or was lost; `live` if it got as far as publishing.
    Lost { live: bool, error: PushError },
}

fn lost(live: bool, error: PushError) -> Outcome {
    Outcome::Lost { live, error }
}

/// One destination's push, for one publishing session of its stream.
pub(super) struct PushTask {
    pub(super) hub: Hub,
    pub(super) config: RestreamConfig,
    pub(super) events: broadcast::Sender<RestreamEvent>,
    pub(super) shared: Arc<Shared>,
    /// The publishing session pushed; a republish gets its own pushes.
    pub(super) generation: u64,
    pub(super) stream_key: String,
}

impl PushTask {
    /// Pushes until the stream ends or `stop` changes (or is dropped); with an invalid
    /// destination, shows it failed until then.
    pub(super) async fn run(
        self,
        url: Result<ParsedUrl, PushError>,
        mut stop: watch::Receiver<()>,
    ) {
        match url {
            Ok(url) => self.push(&url, &mut stop).await,
            Err(e) => {
                self.set_state(PushState::Failed, Some(&e));
                self.wait_for_end(&mut stop).await;
            }
        }
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
                let error = PushError::GaveUp {
                    error: Box::new(error),
                    attempts: failures,
                };
                self.set_state(PushState::Failed, Some(&error));
                self.wait_for_end(stop).await;
                return;
            }
            self.set_state(PushState::Retrying, Some(&error));
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
                let error = PushError::ConnectTimeout {
                    host: url.host.clone(),
                    port: url.port,
                    timeout,
                };
                return lost(false, error);
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

    /// Records and announces a state change. `error` replaces the last error when given; going
    /// live clears it.
    fn set_state(&self, state: PushState, error: Option<&PushError>) {
        let error = error.map(|e| redact(e.to_string(), &self.stream_key));
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
) -> Result<Batch, PushError> {
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
                    && session.publish_stream_id() == Some(SHARED_STREAM_ID))
                .then(|| shared_chunks(&frame))
                .flatten();
                match shared {
                    Some(chunks) => session.send_chunked(kind, chunks),
                    None => session.send_media(kind, frame.timestamp, &frame.data),
                }
                .map_err(PushError::Send)?;
                frames += 1;
            }
            Err(ReadEnd::Ended) => return Ok(Batch::Ended),
            Err(ReadEnd::TooSlow) => return Err(PushError::TooSlow),
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
) -> Result<(), PushError> {
    let n = match read {
        Ok(0) => return Err(PushError::Closed),
        Ok(n) => n,
        Err(e) => return Err(PushError::Read(e)),
    };
    session.handle_input(&buf[..n]).map_err(|e| {
        tracing::debug!(error = %e, "destination broke the RTMP protocol");
        PushError::Protocol
    })?;
    while let Some(ev) = session.poll_event() {
        if let ClientEvent::Error(d) = ev {
            tracing::debug!(description = %d.escape_debug(), "destination stopped the stream");
            return Err(PushError::Stopped);
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
}
