//! HLS output: a packager per watched stream turns the hub's frames into MPEG-TS segments (and
//! LL-HLS parts) held in memory — a bounded window; older segments are evicted — served by the
//! HTTP layer.
//!
//! Packaging is on demand: it starts with the first HLS request for a live stream (which waits
//! for the first segment — the GOP cache makes that at most one keyframe interval) and stops
//! after [`IDLE_AFTER`] without requests, so a stream nobody watches over HLS costs no muxing
//! and no segment memory. When the publisher leaves, the open segment is closed and the playlist
//! ends with `EXT-X-ENDLIST`, so players show the stream's last seconds and then stop. A packager
//! outlives its publisher for [`KEEP_AFTER_OFFLINE`], and a republish while viewers are watching
//! continues the same playlist with `EXT-X-DISCONTINUITY` (and without the end tag).
//!
//! Low-Latency HLS (RFC 8216bis §6.2.5): every change to a stream's playlist bumps a version on
//! a watch channel; a blocking playlist reload (`_HLS_msn`/`_HLS_part`) or a request for a part
//! that is hinted but not yet cut waits on it, up to three target durations.

use bytes::Bytes;
use ferrocast_hub::{FrameKind, Hub, ReadEnd, StreamEvent};
use ferrocast_media::flv::TagType;
use ferrocast_media::hls::{HlsConfig, HlsSegmenter};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a stream's segments stay available after its publisher leaves or packaging stops.
pub const KEEP_AFTER_OFFLINE: Duration = Duration::from_secs(60);
/// Packaging stops after this long without an HLS request for the stream.
pub const IDLE_AFTER: Duration = Duration::from_secs(60);

struct Entry {
    segmenter: HlsSegmenter,
    /// The segmenter's version, published after every change.
    version: tokio::sync::watch::Sender<u64>,
    /// Which packaging session feeds it (a republish or restart begins a new one).
    session: u64,
    live: bool,
    offline_since: Option<Instant>,
    last_request: Instant,
}

/// The packagers of every watched stream, by playback id.
#[derive(Clone)]
pub struct HlsRegistry {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
    config: HlsConfig,
    hub: Hub,
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Extends 32-bit RTMP timestamps to 64 bits across wraparound.
#[derive(Default)]
pub(crate) struct Unwrap {
    last: Option<u32>,
    high: u64,
}

impl Unwrap {
    pub(crate) fn extend(&mut self, ts: u32) -> u64 {
        if let Some(last) = self.last {
            // A jump back of more than half the range is a wrap, not a reorder.
            if ts < last && last - ts > u32::MAX / 2 {
                self.high += 1 << 32;
            }
        }
        self.last = Some(ts);
        self.high + u64::from(ts)
    }
}

impl HlsRegistry {
    /// A registry over `hub` with the given segmenter settings.
    pub fn new(config: HlsConfig, hub: Hub) -> Self {
        Self {
            inner: Arc::default(),
            config,
            hub,
        }
    }

    /// Notes an HLS request for a stream and starts packaging it if it is live and not yet
    /// packaged. Returns whether there is anything to serve.
    fn touch(&self, playback_id: &str) -> bool {
        let start = {
            let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match map.get_mut(playback_id) {
                Some(e) => {
                    e.last_request = Instant::now();
                    !e.live
                }
                None => true,
            }
        };
        if start {
            match self.hub.subscribe(playback_id) {
                Some(reader) => self.package(playback_id.to_string(), reader),
                None => {
                    return self
                        .inner
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .contains_key(playback_id)
                }
            }
        }
        true
    }

    /// Whether a stream is being packaged now (its packager holds a reader of the stream).
    pub fn is_packaging(&self, playback_id: &str) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(playback_id)
            .is_some_and(|e| e.live)
    }

    /// The RFC 6381 `CODECS` of a packaged stream (`avc1.64001f,mp4a.40.2`,
    /// `hvc1.1.6.L93.B0,mp4a.40.2`), once its sequence headers have been seen.
    pub fn codecs(&self, playback_id: &str) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(playback_id)?
            .segmenter
            .codecs()
    }

    /// The media playlist of a stream, starting its packaging if needed and waiting (up to three
    /// target durations) for the first segment.
    pub async fn playlist(&self, playback_id: &str) -> Option<String> {
        if !self.touch(playback_id) {
            return None;
        }
        let deadline = tokio::time::Instant::now() + self.max_block();
        loop {
            let mut rx = {
                let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let e = map.get(playback_id)?;
                if e.segmenter.latest_sequence().is_some() {
                    return Some(e.segmenter.playlist());
                }
                if e.segmenter.is_finished() {
                    // It ended before its first segment: nothing to play.
                    return None;
                }
                e.version.subscribe()
            };
            if !matches!(
                tokio::time::timeout_at(deadline, rx.changed()).await,
                Ok(Ok(()))
            ) {
                return None;
            }
        }
    }

    /// One partial segment's bytes (LL-HLS), waiting for it if the playlist hints at it but it is
    /// not cut yet (RFC 8216bis §6.2.5.3: preload hints are answered when ready).
    pub async fn part(&self, playback_id: &str, sequence: u64, index: u32) -> Option<Bytes> {
        self.touch(playback_id);
        self.wait_for(playback_id, sequence, Some(index))
            .await
            .ok()?;
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(playback_id)?.segmenter.part(sequence, index)
    }

    /// The playlist once it holds media sequence `msn` (and part `part` of it): the blocking
    /// playlist reload of RFC 8216bis §6.2.5.2.
    pub async fn blocking_playlist(
        &self,
        playback_id: &str,
        msn: u64,
        part: Option<u32>,
    ) -> Result<String, BlockingError> {
        if !self.touch(playback_id) {
            return Err(BlockingError::NotFound);
        }
        self.wait_for(playback_id, msn, part).await?;
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(playback_id)
            .map(|e| e.segmenter.playlist())
            .ok_or(BlockingError::NotFound)
    }

    async fn wait_for(
        &self,
        playback_id: &str,
        msn: u64,
        part: Option<u32>,
    ) -> Result<(), BlockingError> {
        let deadline = tokio::time::Instant::now() + self.max_block();
        loop {
            let mut rx = {
                let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let entry = map.get(playback_id).ok_or(BlockingError::NotFound)?;
                // An ended stream's playlist (with EXT-X-ENDLIST) answers at once: what was
                // asked for will never come.
                if entry.segmenter.has_part(msn, part) || entry.segmenter.is_finished() {
                    return Ok(());
                }
                if entry.segmenter.latest_sequence().is_some()
                    && entry.segmenter.is_too_far_ahead(msn, part)
                {
                    return Err(BlockingError::TooFarAhead);
                }
                // Subscribed under the lock that pushes happen under: no change is missed.
                entry.version.subscribe()
            };
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(BlockingError::NotFound),
                Err(_) => return Err(BlockingError::TimedOut),
            }
        }
    }

    /// Three target durations (§6.2.5.2), at least 3 s.
    fn max_block(&self) -> Duration {
        Duration::from_millis(3 * self.config.target_duration_ms.max(1000))
    }

    /// One segment's bytes (a cheap reference-counted clone).
    pub fn segment(&self, playback_id: &str, sequence: u64) -> Option<Bytes> {
        self.touch(playback_id);
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(playback_id)?.segmenter.segment(sequence)
    }

    /// Follows the hub: a stream republished while it had HLS viewers is packaged again at
    /// once, continuing its playlist. Also evicts old entries. Returns when the hub closes.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        let mut events = self.hub.events();
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(Duration::from_secs(10));
            loop {
                tokio::select! {
                    ev = events.recv() => match ev {
                        Ok(StreamEvent::Starting { key, .. }) => {
                            let watched = registry
                                .inner
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get(&key.playback_id)
                                .is_some_and(|e| e.last_request.elapsed() < IDLE_AFTER);
                            if watched {
                                if let Some(reader) = registry.hub.subscribe(&key.playback_id) {
                                    registry.package(key.playback_id.clone(), reader);
                                }
                            }
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "HLS follower fell behind lifecycle events");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                    _ = sweep.tick() => registry.evict_offline(),
                }
            }
        })
    }

    fn evict_offline(&self) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, e| {
            e.live
                || e.offline_since
                    .is_none_or(|t| t.elapsed() < KEEP_AFTER_OFFLINE)
        });
    }

    fn package(&self, playback_id: String, mut reader: ferrocast_hub::Reader) {
        let session = {
            let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let config = self.config;
            let mut fresh = false;
            let entry = map.entry(playback_id.clone()).or_insert_with(|| {
                fresh = true;
                Entry {
                    segmenter: HlsSegmenter::new(config),
                    version: tokio::sync::watch::channel(0).0,
                    session: 0,
                    live: false,
                    offline_since: None,
                    last_request: Instant::now(),
                }
            });
            if entry.live {
                // Another request started it meanwhile.
                return;
            }
            if !fresh {
                // A republish or restart: same playlist, new timeline.
                entry.segmenter.mark_discontinuity();
            }
            entry.session += 1;
            entry.live = true;
            entry.offline_since = None;
            entry.session
        };
        tracing::debug!(%playback_id, "HLS packaging started");
        let registry = self.clone();
        tokio::spawn(async move {
            let mut unwrap = Unwrap::default();
            // Whether the publisher left (rather than packaging stopping on its own).
            let ended = loop {
                let frame = match reader.recv().await {
                    Ok(f) => f,
                    Err(ReadEnd::Ended) => break true,
                    Err(ReadEnd::TooSlow) => break false,
                };
                let tag = match frame.kind {
                    FrameKind::Audio => TagType::AUDIO,
                    FrameKind::Video => TagType::VIDEO,
                    FrameKind::Data => continue,
                };
                let ts = unwrap.extend(frame.timestamp);
                let mut map = registry.inner.lock().unwrap_or_else(|p| p.into_inner());
                let Some(entry) = map.get_mut(&playback_id).filter(|e| e.session == session) else {
                    break false;
                };
                if entry.last_request.elapsed() > IDLE_AFTER {
                    tracing::debug!(%playback_id, "HLS packaging stopped: no viewers");
                    break false;
                }
                if let Err(e) = entry.segmenter.push(tag, ts, &frame.data, unix_ms()) {
                    tracing::debug!(error = %e, %playback_id, "HLS: frame dropped");
                }
                let v = entry.segmenter.version();
                entry
                    .version
                    .send_if_modified(|old| std::mem::replace(old, v) != v);
            };
            let mut map = registry.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = map.get_mut(&playback_id).filter(|e| e.session == session) {
                if ended {
                    // The stream's last frames form its final segment, and the playlist says
                    // no more will come (EXT-X-ENDLIST): players play to the end and stop
                    // instead of waiting for a live edge that no longer moves.
                    entry.segmenter.finish();
                    let v = entry.segmenter.version();
                    entry
                        .version
                        .send_if_modified(|old| std::mem::replace(old, v) != v);
                }
                entry.live = false;
                entry.offline_since = Some(Instant::now());
            }
        });
    }
}

/// Why a blocking request could not be answered with media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockingError {
    /// No such stream.
    #[error("no such stream")]
    NotFound,
    /// The request asks for media too far ahead of the live edge (answer 400).
    #[error("requested media is too far ahead of the live edge")]
    TooFarAhead,
    /// The media did not appear within three target durations (answer 503).
    #[error("the requested media did not appear in time")]
    TimedOut,
}

#[cfg(test)]
mod tests {
    #[test]
    fn unwraps_32_bit_timestamps() {
        let mut u = super::Unwrap::default();
        assert_eq!(u.extend(10), 10);
        assert_eq!(u.extend(u32::MAX - 5), u64::from(u32::MAX - 5));
        assert_eq!(u.extend(3), (1u64 << 32) + 3);
        assert_eq!(
            u.extend(2),
            (1u64 << 32) + 2,
            "a small step back is not a wrap"
        );
    }
}
