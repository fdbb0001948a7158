//! Live stream health for the stream's owner: each second the node where a stream is ingested
//! samples its counters ([`Sampler`]) — incoming bitrate and frame rate, keyframe interval,
//! frames skipped and gaps, viewers, duration — and publishes the sample on the fan-out, so it
//! reaches the owner's sockets on every node (`stream-stats`). Every node keeps the last
//! [`HISTORY`] of samples of each live stream in its [`StatsBook`], which the dashboard reads
//! on load to draw its charts at once, and the viewer counts every node reports.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// How often a live stream is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How much history is kept per live stream.
pub const HISTORY: Duration = Duration::from_secs(300);
/// A node's viewer count older than this is forgotten (a node repeats its counts every 20 s).
pub const VIEWERS_TTL: Duration = Duration::from_secs(60);

/// One second of a live stream's health, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StreamSample {
    /// The source.
    pub source_id: i64,
    /// When it was taken (Unix ms).
    pub at_ms: i64,
    /// Seconds since the stream started.
    pub duration_seconds: i64,
    /// Viewers with the stream's page open, the owner's own pages not counted (at most 3 per
    /// address).
    pub viewers: u64,
    /// Incoming bitrate over the last interval, kbit/s: the audio, video and metadata the
    /// encoder sent (FLV payloads, without RTMP framing).
    pub bitrate_kbps: u64,
    /// Incoming video frames per second over the last interval.
    pub fps: f64,
    /// Interval between the last two video keyframes, ms, by the encoder's timestamps (`null`
    /// until two have arrived).
    pub keyframe_interval_ms: Option<u64>,
    /// The longest of the last 8 keyframe intervals, ms.
    pub keyframe_interval_max_ms: Option<u64>,
    /// Frames skipped since the start by readers that fell behind (players on slow
    /// connections, the HLS packager, restream pushes): they resume at the next keyframe.
    pub skipped_frames: u64,
    /// Gaps since the start in the encoder's video: its timestamps jumped forward by more than
    /// 0.5 s between two frames (the encoder or its network stalled). Frames the encoder itself
    /// dropped before sending are invisible to the server.
    pub video_gaps: u64,
}

/// What a node knows of live streams' health: recent samples and viewer counts.
#[derive(Default)]
pub struct StatsBook {
    inner: Mutex<BookInner>,
}

#[derive(Default)]
struct BookInner {
    samples: HashMap<i64, VecDeque<StreamSample>>,
    /// Per source, each node's last reported viewers and when.
    viewers: HashMap<i64, HashMap<String, (u64, Instant)>>,
}

impl StatsBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, BookInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a sample. A sample of a new session (its duration went back) replaces the old
    /// session's; samples older than [`HISTORY`] (and streams with none newer) are forgotten.
    pub fn record(&self, sample: StreamSample) {
        let mut b = self.lock();
        let oldest = sample.at_ms - HISTORY.as_millis() as i64;
        let list = b.samples.entry(sample.source_id).or_default();
        if list
            .back()
            .is_some_and(|last| last.duration_seconds > sample.duration_seconds)
        {
            list.clear();
        }
        list.push_back(sample);
        while list.front().is_some_and(|s| s.at_ms < oldest) {
            list.pop_front();
        }
        b.samples
            .retain(|_, l| l.back().is_some_and(|s| s.at_ms >= oldest));
    }

    /// The samples of a source no older than [`HISTORY`] before `now_ms`, oldest first.
    pub fn history(&self, source_id: i64, now_ms: i64) -> Vec<StreamSample> {
        let oldest = now_ms - HISTORY.as_millis() as i64;
        self.lock()
            .samples
            .get(&source_id)
            .map(|l| l.iter().filter(|s| s.at_ms >= oldest).cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets a source's samples (its stream ended).
    pub fn forget(&self, source_id: i64) {
        self.lock().samples.remove(&source_id);
    }

    /// Records a node's viewer count of a source and returns the total over the nodes that
    /// reported within [`VIEWERS_TTL`].
    pub fn viewers_report(&self, source_id: i64, node: &str, count: u64) -> u64 {
        let mut b = self.lock();
        let nodes = b.viewers.entry(source_id).or_default();
        nodes.insert(node.to_string(), (count, Instant::now()));
        nodes.retain(|_, (n, at)| *n > 0 && at.elapsed() < VIEWERS_TTL);
        let total = nodes.values().map(|(n, _)| n).sum();
        if nodes.is_empty() {
            b.viewers.remove(&source_id);
        }
        total
    }

    /// A source's viewers over every node that reported within [`VIEWERS_TTL`].
    pub fn viewers(&self, source_id: i64) -> u64 {
        self.lock().viewers.get(&source_id).map_or(0, |nodes| {
            nodes
                .values()
                .filter(|(_, at)| at.elapsed() < VIEWERS_TTL)
                .map(|(n, _)| n)
                .sum()
        })
    }
}

/// The counters of one live stream at one instant.
#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    bytes: u64,
    video_frames: u64,
}

/// Turns a live stream's counters into samples, one per [`SAMPLE_EVERY`]: rates are the
/// differences between two readings.
#[derive(Default)]
pub struct Sampler {
    last: HashMap<(String, u64), Reading>,
}

/// What the sampler needs to know of one live stream besides its counters.
pub struct Live<'a> {
    /// Its playback id.
    pub playback_id: &'a str,
    /// Its publishing session.
    pub generation: u64,
    /// The source.
    pub source_id: i64,
    /// When it started (Unix ms).
    pub started_at: i64,
}

impl Sampler {
    /// The sample of one live stream now, or `None` at its first reading (no rate yet).
    pub fn sample(
        &mut self,
        live: &Live<'_>,
        stats: &ferrocast_hub::StreamStats,
        viewers: u64,
        now: Instant,
        now_ms: i64,
    ) -> Option<StreamSample> {
        let reading = Reading {
            at: now,
            bytes: stats.bytes_in.load(Relaxed),
            video_frames: stats.video_frames_in.load(Relaxed),
        };
        let before = self
            .last
            .insert((live.playback_id.to_string(), live.generation), reading)?;
        let secs = reading.at.duration_since(before.at).as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        let bits = reading.bytes.saturating_sub(before.bytes) as f64 * 8.0;
        let frames = reading.video_frames.saturating_sub(before.video_frames) as f64;
        let ms = |v: u64| (v > 0).then_some(v);
        Some(StreamSample {
            source_id: live.source_id,
            at_ms: now_ms,
            duration_seconds: ((now_ms - live.started_at) / 1000).max(0),
            viewers,
            bitrate_kbps: (bits / secs / 1000.0).round() as u64,
            fps: (frames / secs * 10.0).round() / 10.0,
            keyframe_interval_ms: ms(stats.keyframe_interval_ms.load(Relaxed)),
            keyframe_interval_max_ms: ms(stats.keyframe_interval_max_ms.load(Relaxed)),
            skipped_frames: stats.dropped.load(Relaxed),
            video_gaps: stats.video_gaps.load(Relaxed),
        })
    }

    /// Forgets the readings of streams not in `live` (playback id, generation).
    pub fn retain(&mut self, live: &[(String, u64)]) {
        self.last.retain(|k, _| live.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocast_hub::StreamStats;

    fn sample(source_id: i64, at_ms: i64, duration_seconds: i64) -> StreamSample {
        StreamSample {
            source_id,
            at_ms,
            duration_seconds,
            viewers: 0,
            bitrate_kbps: 0,
            fps: 0.0,
            keyframe_interval_ms: None,
            keyframe_interval_max_ms: None,
            skipped_frames: 0,
            video_gaps: 0,
        }
    }

    #[test]
    fn rates_are_differences_between_readings() {
        let stats = StreamStats::default();
        let mut sampler = Sampler::default();
        let live = Live {
            playback_id: "p",
            generation: 1,
            source_id: 9,
            started_at: 1_000,
        };
        let t0 = Instant::now();
        stats.bytes_in.store(1_000_000, Relaxed);
        stats.video_frames_in.store(100, Relaxed);
        assert!(sampler.sample(&live, &stats, 2, t0, 5_000).is_none());
        // Two seconds later: 500 kB and 60 frames more.
        stats.bytes_in.store(1_500_000, Relaxed);
        stats.video_frames_in.store(160, Relaxed);
        stats.keyframe_interval_ms.store(1000, Relaxed);
        stats.keyframe_interval_max_ms.store(2000, Relaxed);
        stats.dropped.store(7, Relaxed);
        let s = sampler
            .sample(&live, &stats, 2, t0 + Duration::from_secs(2), 7_000)
            .expect("a rate");
        assert_eq!(s.bitrate_kbps, 2_000);
        assert!((s.fps - 30.0).abs() < 1e-9);
        assert_eq!(s.duration_seconds, 6);
        assert_eq!(
            (s.keyframe_interval_ms, s.keyframe_interval_max_ms),
            (Some(1000), Some(2000))
        );
        assert_eq!((s.skipped_frames, s.viewers), (7, 2));
        // A republish is a new session: no rate from the old one's counters.
        let again = Live {
            generation: 2,
            ..live
        };
        assert!(sampler
            .sample(&again, &stats, 0, t0 + Duration::from_secs(3), 8_000)
            .is_none());
        sampler.retain(&[("p".into(), 2)]);
        assert_eq!(sampler.last.len(), 1);
    }

    #[test]
    fn history_keeps_five_minutes_of_the_current_session() {
        let book = StatsBook::default();
        for i in 0..400 {
            book.record(sample(1, i * 1000, i));
        }
        let h = book.history(1, 399_000);
        assert_eq!(h.len(), 301, "five minutes and the present");
        assert_eq!(h[0].at_ms, 99_000);
        // Read later, old samples are left out.
        assert_eq!(book.history(1, 600_000).len(), 100);
        // A new session replaces the old one's samples.
        book.record(sample(1, 400_000, 0));
        assert_eq!(book.history(1, 400_000).len(), 1);
        // A stream with nothing recent is forgotten when another records.
        book.record(sample(2, 800_000, 5));
        assert!(book.history(1, 400_000).is_empty());
        book.forget(2);
        assert!(book.history(2, 800_000).is_empty());
    }

    #[test]
    fn viewers_sum_over_nodes() {
        let book = StatsBook::default();
        assert_eq!(book.viewers_report(1, "a", 2), 2);
        assert_eq!(book.viewers_report(1, "b", 3), 5);
        assert_eq!(book.viewers_report(1, "a", 0), 3);
        assert_eq!(book.viewers(1), 3);
        assert_eq!(book.viewers(2), 0);
    }
}
