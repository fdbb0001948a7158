//! What every player does with a received video tag body: time to first frame, delivery
//! latency from the embedded stamp, gaps. Looks at the 5-byte tag header and NAL lengths only.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrocast_media::avc::AvcDecoderConfig;
use ferrocast_media::flv::{AvcPacketType, VideoCodecId, VideoTagHeader};

use crate::sei;

/// Unix time in microseconds.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The measurement window shared by a scenario's tasks.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Samples before this are warm-up.
    pub start: Instant,
    /// Tasks stop here.
    pub end: Instant,
}

impl Window {
    /// True while measuring.
    pub fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
}

/// A player's results.
#[derive(Debug, Default, Clone)]
pub struct PlayerResult {
    /// The server accepted the play (RTMP `NetStream.Play.Start`, HTTP 200).
    pub connected: bool,
    /// Connect start → first decodable video frame.
    pub ttff: Option<Duration>,
    /// Delivery latencies in the window, microseconds.
    pub latencies_us: Vec<u32>,
    /// Video frames received in the window.
    pub frames_in_window: u64,
    /// The longest time without a video frame inside the window.
    pub max_gap: Duration,
    /// The connection ended or failed before the end.
    pub disconnected: bool,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Set by [`VideoTracker::finish`] from [`PlayerResult::fell_behind`].
    pub behind: bool,
}

impl PlayerResult {
    /// Latency grew more than 2 s within the window, video stalled more than 2 s, or no video
    /// arrived in the window at all.
    pub fn fell_behind(&self) -> bool {
        let spread = match (
            self.latencies_us.iter().min(),
            self.latencies_us.iter().max(),
        ) {
            (Some(lo), Some(hi)) => hi - lo,
            _ => 0,
        };
        self.frames_in_window == 0 || spread > 2_000_000 || self.max_gap > Duration::from_secs(2)
    }
}

/// Tracks one player's video.
#[derive(Debug)]
pub struct VideoTracker {
    started: Instant,
    window: Window,
    length_size: usize,
    last_frame: Option<Instant>,
    /// What the player has measured so far.
    pub result: PlayerResult,
}

impl VideoTracker {
    /// A tracker for a player that started connecting at `started`.
    pub fn new(started: Instant, window: Window, expected_frames: usize) -> Self {
        Self {
            started,
            window,
            length_size: 4,
            last_frame: None,
            result: PlayerResult {
                latencies_us: Vec::with_capacity(expected_frames),
                ..PlayerResult::default()
            },
        }
    }

    /// Handles one FLV video tag body.
    pub fn on_video(&mut self, body: &[u8]) {
        let Ok(h) = VideoTagHeader::parse(body) else {
            return;
        };
        if h.codec_id != VideoCodecId::AVC {
            return;
        }
        let data = body.get(h.encoded_len()..).unwrap_or_default();
        match h.avc_packet_type {
            Some(AvcPacketType::SEQUENCE_HEADER) => {
                if let Ok(c) = AvcDecoderConfig::parse(data) {
                    self.length_size = usize::from(c.nal_length_size);
                }
            }
            Some(AvcPacketType::NALU) => self.on_frame(sei::find_in_avcc(data, self.length_size)),
            _ => {}
        }
    }

    /// Handles a decodable frame carrying `stamp` (Unix µs), if found.
    pub fn on_frame(&mut self, stamp: Option<u64>) {
        let now = Instant::now();
        if self.result.ttff.is_none() {
            self.result.ttff = Some(now - self.started);
        }
        if self.window.contains(now) {
            if let Some(last) = self.last_frame.filter(|l| *l >= self.window.start) {
                self.result.max_gap = self.result.max_gap.max(now - last);
            }
            self.result.frames_in_window += 1;
            if let Some(t) = stamp {
                let lat = unix_micros().saturating_sub(t);
                self.result
                    .latencies_us
                    .push(u32::try_from(lat).unwrap_or(u32::MAX));
            }
        }
        self.last_frame = Some(now);
    }

    /// Closes the books at the end of the run: a silence reaching the end counts as a gap.
    pub fn finish(mut self) -> PlayerResult {
        let end = self.window.end.min(Instant::now());
        let since = self
            .last_frame
            .unwrap_or(self.window.start)
            .max(self.window.start);
        if end > since {
            self.result.max_gap = self.result.max_gap.max(end - since);
        }
        self.result.behind = self.result.fell_behind();
        self.result
    }
}
