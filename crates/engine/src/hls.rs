//! HLS output: one packager task per live stream turns the hub's frames into MPEG-TS segments
//! held in memory (a bounded window; older segments are evicted), served by the HTTP layer.
//!
//! A packager outlives its publisher for [`KEEP_AFTER_OFFLINE`], so a republish continues the
//! same playlist with `EXT-X-DISCONTINUITY` and players carry on.

use bytes::Bytes;
use ferrocast_hub::{FrameKind, Hub, ReadEnd, StreamEvent};
use ferrocast_media::flv::TagType;
use ferrocast_media::hls::{HlsConfig, HlsSegmenter};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a stream's segments stay available after its publisher leaves.
pub const KEEP_AFTER_OFFLINE: Duration = Duration::from_secs(60);

struct Entry {
    segmenter: HlsSegmenter,
    /// Which publishing session feeds it (a republish starts a new one).
    session: u64,
    live: bool,
    offline_since: Option<Instant>,
}

/// The packagers of every stream, by playback id.
#[derive(Clone, Default)]
pub struct HlsRegistry {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
    config: Arc<Option<HlsConfig>>,
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Extends 32-bit RTMP timestamps to 64 bits across wraparound.
#[derive(Default)]
struct Unwrap {
    last: Option<u32>,
    high: u64,
}

impl Unwrap {
    fn extend(&mut self, ts: u32) -> u64 {
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
    /// A registry with the given segmenter settings.
    pub fn new(config: HlsConfig) -> Self {
        Self {
            inner: Arc::default(),
            config: Arc::new(Some(config)),
        }
    }

    /// The media playlist of a stream.
    pub fn playlist(&self, playback_id: &str) -> Option<String> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.get(playback_id)?;
        e.segmenter.latest_sequence()?;
        Some(e.segmenter.playlist())
    }

    /// One segment's bytes (a cheap reference-counted clone).
    pub fn segment(&self, playback_id: &str, sequence: u64) -> Option<Bytes> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(playback_id)?.segmenter.segment(sequence)
    }

    /// Follows the hub: starts packaging each stream that goes live. Returns when the hub's
    /// event channel closes.
    pub fn spawn(&self, hub: Hub) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        let mut events = hub.events();
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(Duration::from_secs(10));
            loop {
                tokio::select! {
                    ev = events.recv() => match ev {
                        Ok(StreamEvent::Starting { key, .. }) => {
                            if let Some(reader) = hub.subscribe(&key.playback_id) {
                                registry.package(key.playback_id.clone(), reader);
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
            let config = (*self.config).unwrap_or_default();
            let mut fresh = false;
            let entry = map.entry(playback_id.clone()).or_insert_with(|| {
                fresh = true;
                Entry {
                    segmenter: HlsSegmenter::new(config),
                    session: 0,
                    live: false,
                    offline_since: None,
                }
            });
            if !fresh {
                // A republish: same playlist, new timeline.
                entry.segmenter.mark_discontinuity();
            }
            entry.session += 1;
            entry.live = true;
            entry.offline_since = None;
            entry.session
        };
        let registry = self.clone();
        tokio::spawn(async move {
            let mut unwrap = Unwrap::default();
            loop {
                let frame = match reader.recv().await {
                    Ok(f) => f,
                    Err(ReadEnd::Ended | ReadEnd::TooSlow) => break,
                };
                let tag = match frame.kind {
                    FrameKind::Audio => TagType::AUDIO,
                    FrameKind::Video => TagType::VIDEO,
                    FrameKind::Data => continue,
                };
                let ts = unwrap.extend(frame.timestamp);
                let mut map = registry.inner.lock().unwrap_or_else(|p| p.into_inner());
                let Some(entry) = map.get_mut(&playback_id).filter(|e| e.session == session) else {
                    break;
                };
                if let Err(e) = entry.segmenter.push(tag, ts, &frame.data, unix_ms()) {
                    tracing::debug!(error = %e, %playback_id, "HLS: frame dropped");
                }
            }
            let mut map = registry.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = map.get_mut(&playback_id).filter(|e| e.session == session) {
                entry.live = false;
                entry.offline_since = Some(Instant::now());
            }
        });
    }
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
