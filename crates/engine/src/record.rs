//! Recording: every live stream the server chooses is written, as it streams, to the
//! [`RecordingStore`] port as an HLS recording — MPEG-TS segments cut at keyframes and an
//! `EXT-X-PLAYLIST-TYPE:EVENT` playlist — without re-encoding.
//!
//! The [`Recorder`] follows the hub: when a stream goes live it subscribes a reader and asks the
//! store's [`begin`](RecordingStore::begin) whether to record this publishing session (the
//! reader buffers meanwhile, so the recording starts at the stream's first keyframe). A
//! recorded session gets two tasks: the muxer reads the hub into its own
//! [`HlsSegmenter`] (plain HLS, no partial segments) and hands each closed segment to the
//! writer, which stores `<prefix>s000000.ts`, `<prefix>s000001.ts`, … and then rewrites
//! `<prefix>index.m3u8` listing every stored segment. When the publisher leaves, the open
//! segment is closed and stored, the playlist gets `EXT-X-ENDLIST` and the store hears
//! [`end`](RecordingStore::end). A republish is a new session and a new `begin` (the server
//! decides whether it continues the same recording as a new part).
//!
//! Invariants:
//! - A crash loses at most the open segment (about [`RecordConfig::target_duration_ms`]) and
//!   what the writer had not stored yet: a segment is listed in the playlist only once it is
//!   stored, and the playlist is always a playable EVENT playlist.
//! - A slow store never slows the hub: the muxer only does CPU work, and the queue between
//!   muxer and writer is bounded by [`RecordConfig::max_pending_bytes`] and
//!   [`MAX_QUEUED_SEGMENTS`]. A segment that does not fit is dropped, and so is one whose
//!   writes fail [`RecordConfig::write_attempts`] times (with exponential backoff): either way
//!   the next stored segment carries `EXT-X-DISCONTINUITY`, a warning is logged and
//!   [`RecordStats::gaps`] counts it. The recording goes on.
//! - Every call to the port has a timeout, so a hung store or database costs segments, never a
//!   stuck task.
//! - If the muxer falls so far behind that the hub disconnects it, it subscribes again to the
//!   same session ([`RecordStats::resyncs`]) and skips what it had already recorded.
//!
//! Renditions: given the transcoder's hub ([`Recorder::spawn_renditions`]), the recorder also
//! records each adaptive-bitrate rendition of a recorded session, the same way, under
//! `<prefix><rung>/` (`…/p3/480p/s000000.ts`, `…/p3/480p/index.m3u8`). A rendition's segments
//! count towards the recording's size ([`segment_stored`](RecordingStore::segment_stored)) but
//! its end is not the part's: only the source's [`end`](RecordingStore::end) is reported. The
//! renditions' keyframes are the source's and their timestamps are kept, so their segments
//! line up with the source's.

use crate::hls::Unwrap;
use bytes::Bytes;
use ferrocast_domain::media::Rung;
use ferrocast_domain::media::{
    RecordingSession, RecordingStore, RecordingSummary, RecordingTarget,
};
use ferrocast_hub::{FrameKind, Hub, ReadEnd, Reader, StreamEvent};
use ferrocast_media::flv::TagType;
use ferrocast_media::hls::{format_rfc3339_ms, HlsConfig, HlsSegmenter, Segment};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// The playlist's name under a part's prefix.
pub const PLAYLIST_NAME: &str = "index.m3u8";
/// Segments waiting for the writer at most, per recording (besides the byte bound).
pub const MAX_QUEUED_SEGMENTS: usize = 1024;

/// How recordings are cut and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordConfig {
    /// A segment is cut at the first keyframe once it is this long (on time for audio-only
    /// streams).
    pub target_duration_ms: u64,
    /// A segment is cut at this length even without a keyframe (an encoder that sends
    /// keyframes rarely or never must not grow a segment without bound).
    pub max_segment_duration_ms: u64,
    /// Bytes of closed segments waiting for the store, at most, per recording; a segment that
    /// would exceed it is dropped (a gap), unless the queue is empty.
    pub max_pending_bytes: usize,
    /// Tries per object before a segment is given up (at least 1).
    pub write_attempts: u32,
    /// Wait before the first retry; doubled before each further one.
    pub retry_backoff: Duration,
    /// One write may take this long before it counts as failed.
    pub write_timeout: Duration,
    /// [`begin`](RecordingStore::begin), [`segment_stored`](RecordingStore::segment_stored)
    /// and [`end`](RecordingStore::end) may each take this long.
    pub port_timeout: Duration,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            target_duration_ms: 4_000,
            max_segment_duration_ms: 12_000,
            max_pending_bytes: 64 * 1024 * 1024,
            write_attempts: 4,
            retry_backoff: Duration::from_millis(500),
            write_timeout: Duration::from_secs(30),
            port_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of the recorder, for the metrics endpoint.
#[derive(Debug, Default)]
pub struct RecordStats {
    /// Sessions being recorded now.
    pub active: AtomicU64,
    /// Segments stored.
    pub segments: AtomicU64,
    /// Bytes of segments stored.
    pub bytes: AtomicU64,
    /// Failed write attempts (of segments and playlists; each retry that fails counts).
    pub write_failures: AtomicU64,
    /// Segments lost: dropped because the queue was full, or given up after every retry.
    pub gaps: AtomicU64,
    /// Times the muxer fell behind the hub and subscribed again.
    pub resyncs: AtomicU64,
}

/// Records live streams into a [`RecordingStore`]. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    store: Arc<dyn RecordingStore>,
    config: RecordConfig,
    stats: Arc<RecordStats>,
    /// Where each live stream's recording stands (by playback id), for its renditions.
    sessions: Mutex<HashMap<String, Standing>>,
}

/// Whether a publishing session (`generation`) is being recorded, as its renditions see it.
#[derive(Clone)]
enum Standing {
    /// The store has not answered yet.
    Deciding(u64),
    /// Recorded into the target.
    Recording(u64, RecordingTarget),
}

impl Standing {
    fn generation(&self) -> u64 {
        match self {
            Standing::Deciding(g) | Standing::Recording(g, _) => *g,
        }
    }
}

impl Inner {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Standing>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records where the session stands now.
    fn stand(&self, playback_id: &str, standing: Standing) {
        self.sessions().insert(playback_id.to_string(), standing);
    }

    /// Forgets the session, unless a newer one took its place.
    fn forget(&self, playback_id: &str, generation: u64) {
        let mut sessions = self.sessions();
        if sessions
            .get(playback_id)
            .is_some_and(|s| s.generation() == generation)
        {
            sessions.remove(playback_id);
        }
    }
}

/// How long a rendition waits for its source's recording to be decided, beyond the port's
/// timeout, and for its source to be seen at all.
const RENDITION_WAIT: Duration = Duration::from_secs(1);

/// What a muxer reads: one publishing session of a stream in a hub.
struct Feed {
    hub: Hub,
    playback_id: String,
    generation: u64,
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Recorder {
    /// A recorder of `hub`'s streams into `store`; nothing happens until [`Recorder::spawn`].
    pub fn new(hub: Hub, store: Arc<dyn RecordingStore>, config: RecordConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                hub,
                store,
                config,
                stats: Arc::default(),
                sessions: Mutex::default(),
            }),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<RecordStats> {
        &self.inner.stats
    }

    /// Follows the hub's lifecycle events, recording each stream that goes live from now on if
    /// the store says so. Call once. Returns when the hub closes.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let inner = self.inner.clone();
        let mut events = inner.hub.events();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(StreamEvent::Live {
                        key,
                        generation,
                        at_ms,
                        ..
                    }) => {
                        // A relay is recorded where it is published, not again here; a radio
                        // station is not recorded.
                        if !key.is_encoders() {
                            continue;
                        }
                        // Subscribed at once, before asking the store: the reader holds the
                        // stream from its first keyframe while the decision is made.
                        let Some(reader) = inner
                            .hub
                            .subscribe(&key.playback_id)
                            .filter(|r| r.generation() == generation)
                        else {
                            continue;
                        };
                        inner.stand(&key.playback_id, Standing::Deciding(generation));
                        let session = RecordingSession {
                            source_id: key.source_id,
                            playback_id: key.playback_id,
                            generation,
                            started_at_ms: at_ms,
                        };
                        tokio::spawn(record(inner.clone(), session, reader));
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            missed = n,
                            "recorder fell behind lifecycle events: streams may go unrecorded"
                        );
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }

    /// Follows the transcoder's hub (`renditions`, whose streams are named
    /// [`rendition_id`](crate::transcode::rendition_id)), recording each rendition of a session
    /// this recorder records. Call once. Returns when that hub closes.
    pub fn spawn_renditions(&self, renditions: Hub) -> tokio::task::JoinHandle<()> {
        let inner = self.inner.clone();
        let mut events = renditions.events();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(StreamEvent::Live {
                        key, generation, ..
                    }) => {
                        let Some((source, rung)) = crate::transcode::rendition_of(&key.playback_id)
                        else {
                            continue;
                        };
                        let source = source.to_string();
                        let Some(reader) = renditions
                            .subscribe(&key.playback_id)
                            .filter(|r| r.generation() == generation)
                        else {
                            continue;
                        };
                        let feed = Feed {
                            hub: renditions.clone(),
                            playback_id: key.playback_id,
                            generation,
                        };
                        tokio::spawn(record_rendition(inner.clone(), source, rung, feed, reader));
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            missed = n,
                            "recorder fell behind the renditions' events: renditions may go unrecorded"
                        );
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }
}

/// Records one rendition of `source` into `<prefix><rung>/`, if the source's session is
/// recorded (waiting for that decision).
async fn record_rendition(
    inner: Arc<Inner>,
    source: String,
    rung: Rung,
    feed: Feed,
    reader: Reader,
) {
    let started = Instant::now();
    let target = loop {
        let generation = inner.hub.session(&source).map(|(g, _)| g);
        let standing = inner.sessions().get(&source).cloned();
        let waited = started.elapsed();
        match standing {
            Some(Standing::Recording(g, target)) if Some(g) == generation => break target,
            Some(Standing::Deciding(g))
                if Some(g) == generation && waited < inner.config.port_timeout + RENDITION_WAIT => {
            }
            None if waited < RENDITION_WAIT => {}
            _ => return,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let target = RecordingTarget {
        prefix: format!("{}{}/", target.prefix, rung.name()),
        ..target
    };
    tracing::info!(
        playback_id = %source,
        rung = rung.name(),
        recording_id = target.recording_id,
        part = target.part,
        "recording a rendition"
    );
    record_into(&inner, target, feed, reader, false).await;
}

/// Counts a recording as active while it lives (also when its task is dropped by a shutdown).
struct Active(Arc<RecordStats>);

impl Active {
    fn new(stats: &Arc<RecordStats>) -> Self {
        stats.active.fetch_add(1, Ordering::Relaxed);
        Self(stats.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the muxer hands the writer.
enum Job {
    Segment {
        sequence: u64,
        data: Bytes,
        duration_ms: u64,
        program_date_time_ms: i64,
        discontinuity: bool,
    },
    /// The session ended: write the final playlist and tell the store.
    Finish {
        /// The publisher ended it (rather than the recorder losing the stream).
        clean: bool,
        /// Segments the muxer dropped because the queue was full.
        dropped: u64,
    },
}

/// The closed segments waiting for the writer, bounded in bytes and count.
struct Queue {
    tx: mpsc::UnboundedSender<Job>,
    pending: Arc<Pending>,
    max_bytes: usize,
    /// A segment was dropped: the next one queued carries a discontinuity.
    gap: bool,
    dropped: u64,
}

#[derive(Default)]
struct Pending {
    bytes: AtomicUsize,
    jobs: AtomicUsize,
}

impl Queue {
    /// Queues a closed segment, or drops it (a gap) if the writer is too far behind.
    fn push(&mut self, seg: &Segment, stats: &RecordStats, playback_id: &str) {
        let len = seg.data.len();
        let bytes = self.pending.bytes.load(Ordering::Acquire);
        let jobs = self.pending.jobs.load(Ordering::Acquire);
        if jobs > 0 && (bytes + len > self.max_bytes || jobs >= MAX_QUEUED_SEGMENTS) {
            self.gap = true;
            self.dropped += 1;
            stats.gaps.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                %playback_id,
                pending_bytes = bytes,
                pending_segments = jobs,
                "recording: the store is too slow, a segment is dropped (gap in the recording)"
            );
            return;
        }
        self.pending.bytes.fetch_add(len, Ordering::AcqRel);
        self.pending.jobs.fetch_add(1, Ordering::AcqRel);
        let _ = self.tx.send(Job::Segment {
            sequence: seg.sequence,
            data: seg.data.clone(),
            duration_ms: seg.duration_ms(),
            program_date_time_ms: seg.program_date_time_ms,
            discontinuity: seg.discontinuity || std::mem::take(&mut self.gap),
        });
    }
}

/// Records one publishing session.
async fn record(inner: Arc<Inner>, session: RecordingSession, reader: Reader) {
    let playback_id = session.playback_id.clone();
    let decided = tokio::time::timeout(inner.config.port_timeout, inner.store.begin(&session));
    let target = match decided.await {
        Ok(Ok(Some(target))) => target,
        Ok(Ok(None)) => {
            inner.forget(&playback_id, session.generation);
            return;
        }
        Ok(Err(e)) => {
            inner.forget(&playback_id, session.generation);
            tracing::warn!(%playback_id, error = %e, "recording not started: the store could not decide");
            return;
        }
        Err(_) => {
            inner.forget(&playback_id, session.generation);
            tracing::warn!(%playback_id, "recording not started: the store did not answer in time");
            return;
        }
    };
    inner.stand(
        &playback_id,
        Standing::Recording(session.generation, target.clone()),
    );
    let _active = Active::new(&inner.stats);
    tracing::info!(
        %playback_id,
        recording_id = target.recording_id,
        part = target.part,
        "recording started"
    );
    let feed = Feed {
        hub: inner.hub.clone(),
        playback_id: playback_id.clone(),
        generation: session.generation,
    };
    record_into(&inner, target, feed, reader, true).await;
    inner.forget(&playback_id, session.generation);
}

/// Records `feed` into `target` until it ends; `ends_part`: the store hears of the end (the
/// source's recording, not a rendition's).
async fn record_into(
    inner: &Arc<Inner>,
    target: RecordingTarget,
    feed: Feed,
    reader: Reader,
    ends_part: bool,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pending = Arc::new(Pending::default());
    let writer = tokio::spawn(write(inner.clone(), target, rx, pending.clone(), ends_part));
    let mut queue = Queue {
        tx,
        pending,
        max_bytes: inner.config.max_pending_bytes,
        gap: false,
        dropped: 0,
    };
    let clean = mux(inner, &feed, reader, &mut queue).await;
    let _ = queue.tx.send(Job::Finish {
        clean,
        dropped: queue.dropped,
    });
    drop(queue);
    let _ = writer.await;
}

/// Reads the session from the hub into segments until it ends; returns whether the publisher
/// ended it.
async fn mux(inner: &Inner, feed: &Feed, mut reader: Reader, queue: &mut Queue) -> bool {
    let playback_id = feed.playback_id.as_str();
    let mut segmenter = HlsSegmenter::new(HlsConfig {
        target_duration_ms: inner.config.target_duration_ms,
        window: 2,
        retain_extra: 0,
        max_segment_duration_ms: inner.config.max_segment_duration_ms,
        low_latency: None,
        ..HlsConfig::default()
    });
    let mut next_sequence = 0u64;
    let mut unwrap = Unwrap::default();
    let mut last_ts: Option<u64> = None;
    // After a resubscription: frames up to `last_ts` were recorded already.
    let mut resync = false;
    let clean = loop {
        let frame = match reader.recv().await {
            Ok(f) => f,
            Err(ReadEnd::Ended) => break true,
            Err(ReadEnd::TooSlow) => {
                match feed
                    .hub
                    .subscribe(playback_id)
                    .filter(|r| r.generation() == feed.generation)
                {
                    Some(r) => {
                        inner.stats.resyncs.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%playback_id, "recording fell behind the stream: frames lost, reading on");
                        reader = r;
                        resync = true;
                        continue;
                    }
                    None => break false,
                }
            }
        };
        let tag = match frame.kind {
            FrameKind::Audio => TagType::AUDIO,
            FrameKind::Video => TagType::VIDEO,
            FrameKind::Data => continue,
        };
        let ts = unwrap.extend(frame.timestamp);
        if resync && !frame.sequence_header {
            if last_ts.is_some_and(|last| ts <= last) {
                continue;
            }
            resync = false;
        }
        if !frame.sequence_header {
            last_ts = Some(last_ts.map_or(ts, |l| l.max(ts)));
        }
        if let Err(e) = segmenter.push(tag, ts, &frame.data, unix_ms()) {
            tracing::debug!(error = %e, %playback_id, "recording: frame dropped");
        }
        hand_over(&segmenter, &mut next_sequence, queue, inner, playback_id);
    };
    // The last frames form the final segment.
    segmenter.finish();
    hand_over(&segmenter, &mut next_sequence, queue, inner, playback_id);
    clean
}

/// Queues the segments closed since the last call.
fn hand_over(
    segmenter: &HlsSegmenter,
    next_sequence: &mut u64,
    queue: &mut Queue,
    inner: &Inner,
    playback_id: &str,
) {
    if segmenter
        .latest_sequence()
        .is_none_or(|s| s < *next_sequence)
    {
        return;
    }
    let from = *next_sequence;
    for seg in segmenter.segments().filter(|s| s.sequence >= from) {
        queue.push(seg, &inner.stats, playback_id);
        *next_sequence = seg.sequence + 1;
    }
}

/// One stored segment as the playlist lists it.
struct Entry {
    name: String,
    duration_ms: u64,
    program_date_time_ms: i64,
    discontinuity: bool,
}

/// The recording's EVENT playlist (RFC 8216 §4.3.3.5): segments are only ever appended.
struct Playlist {
    entries: Vec<Entry>,
    target_ms: u64,
    ended: bool,
}

impl Playlist {
    fn render(&self) -> String {
        let longest = self
            .entries
            .iter()
            .map(|e| e.duration_ms)
            .max()
            .unwrap_or(0);
        // §4.3.3.1: every EXTINF rounded to the nearest second is at most the target. Rounded,
        // not ceiled, so that segments a few ms over the configured target (the usual case)
        // leave it unchanged as the playlist grows; only an encoder whose keyframes come
        // further apart than the target raises it.
        let target_secs = self
            .target_ms
            .div_ceil(1000)
            .max(longest.saturating_add(500) / 1000)
            .max(1);
        let mut out = String::with_capacity(128 + 40 * self.entries.len());
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-TARGETDURATION:{target_secs}\n#EXT-X-MEDIA-SEQUENCE:0\n"
        );
        for (i, e) in self.entries.iter().enumerate() {
            if e.discontinuity && i > 0 {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            // The wall clock at the start and after each break; players count on from there.
            if i == 0 || e.discontinuity {
                let _ = writeln!(
                    out,
                    "#EXT-X-PROGRAM-DATE-TIME:{}",
                    format_rfc3339_ms(e.program_date_time_ms)
                );
            }
            let _ = write!(
                out,
                "#EXTINF:{}.{:03},\n{}\n",
                e.duration_ms / 1000,
                e.duration_ms % 1000,
                e.name
            );
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
}

/// The name of a recording's segment `sequence` under its prefix.
pub fn segment_name(sequence: u64) -> String {
    format!("s{sequence:06}.ts")
}

/// Stores the queued segments and the playlist, in order, until the session finishes.
async fn write(
    inner: Arc<Inner>,
    target: RecordingTarget,
    mut rx: mpsc::UnboundedReceiver<Job>,
    pending: Arc<Pending>,
    ends_part: bool,
) {
    let stats = &inner.stats;
    let playlist_key = format!("{}{PLAYLIST_NAME}", target.prefix);
    let mut playlist = Playlist {
        entries: Vec::new(),
        target_ms: inner.config.target_duration_ms,
        ended: false,
    };
    let mut summary = RecordingSummary::default();
    // A segment was lost: the next one stored carries a discontinuity.
    let mut gap = false;
    // The stored playlist lags the stored segments (rewritten once the queue is drained).
    let mut playlist_stale = false;
    while let Some(job) = rx.recv().await {
        match job {
            Job::Segment {
                sequence,
                data,
                duration_ms,
                program_date_time_ms,
                discontinuity,
            } => {
                let len = data.len();
                let name = segment_name(sequence);
                let stored = store(&inner, format!("{}{name}", target.prefix), data).await;
                pending.bytes.fetch_sub(len, Ordering::AcqRel);
                pending.jobs.fetch_sub(1, Ordering::AcqRel);
                if !stored {
                    gap = true;
                    summary.gaps += 1;
                    stats.gaps.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        recording_id = target.recording_id,
                        segment = %name,
                        "recording: a segment could not be stored (gap in the recording)"
                    );
                    continue;
                }
                stats.segments.fetch_add(1, Ordering::Relaxed);
                stats.bytes.fetch_add(len as u64, Ordering::Relaxed);
                summary.segments += 1;
                summary.bytes += len as u64;
                summary.duration_ms += duration_ms;
                playlist.entries.push(Entry {
                    name,
                    duration_ms,
                    program_date_time_ms,
                    discontinuity: discontinuity || std::mem::take(&mut gap),
                });
                playlist_stale = true;
                // With more segments waiting, the playlist is written once after them: a
                // store that fell behind catches up with one write per segment, not two.
                if rx.is_empty() {
                    let text = Bytes::from(playlist.render());
                    playlist_stale = !store(&inner, playlist_key.clone(), text).await;
                }
                let accounted = inner.store.segment_stored(&target, len as u64, duration_ms);
                if tokio::time::timeout(inner.config.port_timeout, accounted)
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        recording_id = target.recording_id,
                        "recording: storage accounting did not answer in time"
                    );
                }
            }
            Job::Finish { clean, dropped } => {
                playlist.ended = true;
                let text = Bytes::from(playlist.render());
                let stored = store(&inner, playlist_key.clone(), text).await;
                summary.gaps += dropped;
                summary.clean = clean && stored;
                tracing::info!(
                    recording_id = target.recording_id,
                    part = target.part,
                    prefix = %target.prefix,
                    segments = summary.segments,
                    duration_ms = summary.duration_ms,
                    gaps = summary.gaps,
                    clean = summary.clean,
                    "recording ended"
                );
                if !ends_part {
                    return;
                }
                let ended = inner.store.end(&target, summary);
                if tokio::time::timeout(inner.config.port_timeout, ended)
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        recording_id = target.recording_id,
                        "recording: the store did not acknowledge the end in time"
                    );
                }
                return;
            }
        }
    }
    if playlist_stale {
        tracing::warn!(
            recording_id = target.recording_id,
            "recording stopped before its playlist listed every stored segment"
        );
    }
}

/// Writes one object, retrying with exponential backoff; returns whether it was stored.
async fn store(inner: &Inner, key: String, bytes: Bytes) -> bool {
    let config = &inner.config;
    let attempts = config.write_attempts.max(1);
    let mut delay = config.retry_backoff;
    for attempt in 1..=attempts {
        let write = inner.store.write(key.clone(), bytes.clone());
        let error = match tokio::time::timeout(config.write_timeout, write).await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {:?}", config.write_timeout),
        };
        inner.stats.write_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%key, attempt, attempts, %error, "recording: write failed");
        if attempt < attempts {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{Entry, Playlist};

    fn entry(n: u64, ms: u64, discontinuity: bool) -> Entry {
        Entry {
            name: super::segment_name(n),
            duration_ms: ms,
            program_date_time_ms: 1_700_000_000_000 + n as i64 * 4000,
            discontinuity,
        }
    }

    #[test]
    fn event_playlist_lists_every_segment_and_marks_gaps() {
        let mut p = Playlist {
            entries: vec![
                entry(0, 4000, false),
                entry(1, 4533, false),
                entry(3, 4000, true),
            ],
            target_ms: 4000,
            ended: false,
        };
        let text = p.render();
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:EVENT\n"));
        assert!(text.contains("#EXT-X-TARGETDURATION:5\n"), "{text}");
        p.entries.truncate(1);
        p.entries.push(entry(1, 4499, false));
        assert!(
            p.render().contains("#EXT-X-TARGETDURATION:4\n"),
            "4.499 s rounds to 4"
        );
        p.entries.push(entry(3, 4000, true));
        assert!(text.contains("#EXTINF:4.533,\ns000001.ts\n"), "{text}");
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 2);
        assert!(text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:"));
        assert!(!text.contains("ENDLIST"));
        p.ended = true;
        assert!(p.render().ends_with("s000003.ts\n#EXT-X-ENDLIST\n"));
    }
}
