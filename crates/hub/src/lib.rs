//! The hub: which streams are live, and the fan-out of their frames to readers.
//!
//! It knows no RTMP, HTTP or SQL. A publisher pushes [`Frame`]s — FLV tag bodies held in
//! reference-counted [`Bytes`], parsed once by the ingest — and every reader (RTMP player,
//! HTTP-FLV client, HLS packager, restream push) receives clones of the same buffers.
//!
//! Invariants:
//! - One publisher per stream; a second is refused with [`HubError::AlreadyLive`].
//! - Fan-out goes through one bounded ring per stream (tokio's broadcast channel): memory is
//!   `capacity` frames per stream however many readers there are, and a slow reader never slows
//!   the publisher or other readers. A reader that falls behind by more than the ring loses its
//!   place, skips to the next keyframe (counted as dropped frames), and after
//!   [`MAX_LAGS`] such skips within [`LAG_WINDOW`] is disconnected.
//! - A new reader first receives the stream's configuration (metadata, AVC and AAC sequence
//!   headers) and the frames since the last video keyframe (the GOP cache), so playback starts
//!   at once with a decodable picture. The cache is bounded by [`MAX_GOP_FRAMES`] and
//!   [`MAX_GOP_BYTES`].
//! - Lifecycle events (starting, live, offline) go to every [`Hub::events`] subscriber.
#![deny(missing_docs)]

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, watch};

/// Frames held in each stream's ring (about 10 s of 30 fps video with audio).
pub const DEFAULT_CAPACITY: usize = 1024;
/// A GOP longer than this many frames is not cached beyond it.
pub const MAX_GOP_FRAMES: usize = 4096;
/// A GOP larger than this is not cached beyond it.
pub const MAX_GOP_BYTES: usize = 32 * 1024 * 1024;
/// Skips allowed within [`LAG_WINDOW`] before a reader is disconnected.
pub const MAX_LAGS: u32 = 3;
/// Window for counting skips.
pub const LAG_WINDOW: Duration = Duration::from_secs(30);
/// Audio frames cached for audio-only streams.
const AUDIO_ONLY_CACHE: usize = 64;
/// GOPs over which [`StreamStats::keyframe_interval_max_ms`] is taken.
pub const RECENT_GOPS: usize = 8;
/// A step forward between two video frames' timestamps longer than this (ms) is a gap in the
/// publisher's video ([`StreamStats::video_gaps`]).
pub const VIDEO_GAP_MS: u32 = 500;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// FLV AUDIODATA.
    Audio,
    /// FLV VIDEODATA.
    Video,
    /// `onMetaData` (AMF0), without the `@setDataFrame` wrapper.
    Data,
}

/// One media message, shared by reference among all readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Audio, video or metadata.
    pub kind: FrameKind,
    /// Decode timestamp in milliseconds, as the publisher sent it (32-bit, may wrap).
    pub timestamp: u32,
    /// A video keyframe (random access point).
    pub keyframe: bool,
    /// An AVC or AAC sequence header (decoder configuration), not a sample.
    pub sequence_header: bool,
    /// The FLV tag body.
    pub data: Bytes,
    /// The frame serialised for one wire format, made once by the first reader that needs it
    /// and then shared by all (RTMP play keeps its chunked form here, so 500 players cost one
    /// chunking, not 500). Readers that need another form build their own.
    ///
    /// The hub gives the cell to every frame a reader receives: at push while the stream has
    /// readers, and to the cached frames when a reader subscribes. A stream no one reads
    /// allocates none (ingest alone costs one allocation per video frame, not three), so the
    /// cell is `None` on a frame no reader has received from the hub yet.
    pub encoded: Option<Arc<std::sync::OnceLock<Bytes>>>,
}

impl Frame {
    /// Classifies an FLV tag body (FLV spec v10.1 Annex E.4.2.1 / E.4.3.1, and Enhanced RTMP's
    /// extended headers): keyframe and sequence-header flags from the first bytes, without
    /// copying.
    pub fn from_tag(kind: FrameKind, timestamp: u32, data: Bytes) -> Frame {
        let b0 = data.first().copied().unwrap_or(0);
        let (keyframe, sequence_header) = match kind {
            // Enhanced RTMP: IsExHeader, FrameType (3 bits), VideoPacketType (4 bits).
            FrameKind::Video if b0 & 0x80 != 0 => {
                let frame_type = (b0 >> 4) & 0x07;
                let packet_type = b0 & 0x0f;
                // SequenceStart (0); CodedFrames (1) or CodedFramesX (3) on a keyframe.
                (
                    frame_type == 1 && matches!(packet_type, 1 | 3),
                    packet_type == 0,
                )
            }
            FrameKind::Video => {
                let codec = b0 & 0x0f;
                let keyframe = b0 >> 4 == 1;
                // AVC (7): AVCPacketType 0 is the AVCDecoderConfigurationRecord.
                let seq = codec == 7 && data.get(1) == Some(&0);
                (keyframe && !seq, seq)
            }
            FrameKind::Audio => {
                // AAC (10): AACPacketType 0 is the AudioSpecificConfig. Enhanced RTMP audio
                // (SoundFormat 9): AudioPacketType 0 is SequenceStart.
                let seq = match b0 >> 4 {
                    10 => data.get(1) == Some(&0),
                    9 => b0 & 0x0f == 0,
                    _ => false,
                };
                (false, seq)
            }
            FrameKind::Data => (false, false),
        };
        Frame {
            kind,
            timestamp,
            keyframe,
            sequence_header,
            data,
            encoded: None,
        }
    }
}

/// Codec facts learned from the stream, for lifecycle events and the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamInfo {
    /// Whether video frames have been seen.
    pub has_video: bool,
    /// Whether audio frames have been seen.
    pub has_audio: bool,
    /// FLV video codec id (7 = AVC); 0 when the video is signalled with Enhanced RTMP's
    /// extended header (see [`StreamInfo::video_fourcc`]).
    pub video_codec: Option<u8>,
    /// The Enhanced RTMP FourCC of the video (`hvc1`, `av01`, `vp09` …), when it has one.
    pub video_fourcc: Option<[u8; 4]>,
    /// FLV audio format (10 = AAC).
    pub audio_codec: Option<u8>,
}

/// A lifecycle event (starting → live → offline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A publisher was accepted; no media yet.
    Starting {
        /// The stream.
        key: StreamKey,
        /// Its publishing session ([`Reader::generation`]); a republish is a new one.
        generation: u64,
        /// Unix ms.
        at_ms: i64,
    },
    /// The first keyframe (or, audio-only, the first audio) arrived: players can start.
    Live {
        /// The stream.
        key: StreamKey,
        /// Its publishing session ([`Reader::generation`]); a republish is a new one.
        generation: u64,
        /// Unix ms.
        at_ms: i64,
        /// Codecs seen so far.
        info: StreamInfo,
    },
    /// The publisher left.
    Offline {
        /// The stream.
        key: StreamKey,
        /// Its publishing session ([`Reader::generation`]); a republish is a new one.
        generation: u64,
        /// Unix ms.
        at_ms: i64,
        /// Bytes received.
        bytes_in: u64,
        /// Frames received.
        frames_in: u64,
        /// Codecs seen.
        info: StreamInfo,
    },
}

/// Identifies a live stream: the source's public playback id and its database id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// Public playback id (what viewers use; never the secret stream key).
    pub playback_id: String,
    /// The source's id in storage; 0 for a stream the server makes itself (a radio station),
    /// which, like a relay, has no session, usage, recording or restream.
    pub source_id: i64,
    /// A relay: this node plays the stream from the node that holds it (origin and edge), rather
    /// than from an encoder. A relay has no session, usage, recording or restream of its own;
    /// those happen once, where the encoder publishes.
    pub relay: bool,
}

impl StreamKey {
    /// Whether this is a source's own stream, published here by its encoder: not a relay, and
    /// not a stream the server makes itself (`source_id` 0). Only those have sessions, usage,
    /// recordings and restreams.
    pub fn is_encoders(&self) -> bool {
        !self.relay && self.source_id != 0
    }
}

/// Hub errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// Someone is already publishing this stream.
    #[error("a publisher is already live on this stream")]
    AlreadyLive,
}

/// Records the codec of a video tag body in `info`: the legacy `CodecID`, or 0 and the FourCC
/// of an Enhanced RTMP header.
fn set_video_codec(info: &mut StreamInfo, data: &[u8]) {
    match data.first() {
        Some(b0) if b0 & 0x80 != 0 => {
            info.video_codec = Some(0);
            info.video_fourcc = data.get(1..5).and_then(|f| f.try_into().ok());
        }
        Some(b0) => info.video_codec = Some(b0 & 0x0f),
        None => {}
    }
}

/// Per-stream counters, readable while live (for `/metrics` and the API).
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Bytes received from the publisher.
    pub bytes_in: AtomicU64,
    /// Frames received.
    pub frames_in: AtomicU64,
    /// Video frames received.
    pub video_frames_in: AtomicU64,
    /// Frames readers skipped because they fell behind.
    pub dropped: AtomicU64,
    /// Readers disconnected for staying behind.
    pub readers_dropped: AtomicU64,
    /// Readers attached now.
    pub readers: AtomicU64,
    /// Length (ms, by the publisher's timestamps) of the last complete GOP: the interval
    /// between the last two video keyframes; 0 until two have arrived.
    pub keyframe_interval_ms: AtomicU64,
    /// The longest of the last [`RECENT_GOPS`] complete GOPs (ms); 0 until two keyframes.
    pub keyframe_interval_max_ms: AtomicU64,
    /// Times the publisher's video timestamps stepped forward by more than [`VIDEO_GAP_MS`]
    /// between two frames: stalls of the encoder or its network before the server (what the
    /// server can see of frames lost on the way; it cannot see frames the encoder skipped).
    pub video_gaps: AtomicU64,
}

#[derive(Default)]
struct Cache {
    metadata: Option<Frame>,
    video_config: Option<Frame>,
    audio_config: Option<Frame>,
    gop: Vec<Frame>,
    gop_bytes: usize,
    /// The ring readers receive from, made by the first reader and dropped when the last has
    /// gone: its slots (`capacity` of them, ~80 KiB at 1024) cost nothing on a stream no one
    /// reads.
    tx: Option<broadcast::Sender<Frame>>,
    info: StreamInfo,
    live_announced: bool,
    /// Timestamp of the last video keyframe.
    last_keyframe: Option<u32>,
    /// Timestamp of the last video frame.
    last_video: Option<u32>,
    /// Lengths of the last [`RECENT_GOPS`] complete GOPs (ms), oldest first.
    recent_gops: std::collections::VecDeque<u32>,
}

struct Stream {
    key: StreamKey,
    /// Set once when the stream is stopped from outside (administrator, plan limit): the reason.
    stop: watch::Sender<Option<String>>,
    cache: Mutex<Cache>,
    stats: Arc<StreamStats>,
    generation: u64,
    started: Instant,
}

/// The registry of live streams.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    events: broadcast::Sender<StreamEvent>,
    capacity: usize,
    generation: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Hub {
    /// A hub whose streams each buffer `capacity` frames.
    pub fn new(capacity: usize) -> Hub {
        let (events, _) = broadcast::channel(1024);
        Hub {
            inner: Arc::new(HubInner {
                streams: Mutex::new(HashMap::new()),
                events,
                capacity: capacity.max(16),
                generation: AtomicU64::new(1),
            }),
        }
    }

    /// Lifecycle events from now on.
    pub fn events(&self) -> broadcast::Receiver<StreamEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, e: StreamEvent) {
        // No subscribers is fine.
        let _ = self.inner.events.send(e);
    }

    /// Starts publishing `key`. Dropping the returned [`Publisher`] ends the stream.
    pub fn publish(&self, key: StreamKey) -> Result<Publisher, HubError> {
        let mut streams = self.inner.streams.lock().unwrap_or_else(|p| p.into_inner());
        if streams.contains_key(&key.playback_id) {
            return Err(HubError::AlreadyLive);
        }
        let stream = Arc::new(Stream {
            key: key.clone(),
            stop: watch::Sender::new(None),
            cache: Mutex::new(Cache::default()),
            stats: Arc::new(StreamStats::default()),
            generation: self.inner.generation.fetch_add(1, Ordering::Relaxed),
            started: Instant::now(),
        });
        streams.insert(key.playback_id.clone(), stream.clone());
        drop(streams);
        self.emit(StreamEvent::Starting {
            key,
            generation: stream.generation,
            at_ms: unix_ms(),
        });
        Ok(Publisher {
            hub: self.clone(),
            stream,
        })
    }

    /// The live stream published as `playback_id` (its registry lock released on return).
    fn live_stream(&self, playback_id: &str) -> Option<Arc<Stream>> {
        self.inner
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(playback_id)
            .cloned()
    }

    /// Attaches a reader to a live stream, or `None` if it is not live.
    pub fn subscribe(&self, playback_id: &str) -> Option<Reader> {
        let stream = self.live_stream(playback_id)?;
        // Snapshot and subscribe under the cache lock, which the publisher holds while sending:
        // the reader sees every frame exactly once, cache first, then the ring.
        let mut cache = stream.cache.lock().unwrap_or_else(|p| p.into_inner());
        let capacity = self.inner.capacity;
        let rx = cache
            .tx
            .get_or_insert_with(|| broadcast::channel(capacity).0)
            .subscribe();
        let mut initial = Vec::with_capacity(3 + cache.gop.len());
        let Cache {
            metadata,
            video_config,
            audio_config,
            gop,
            ..
        } = &mut *cache;
        let cached = metadata
            .iter_mut()
            .chain(video_config.iter_mut())
            .chain(audio_config.iter_mut())
            .chain(gop.iter_mut());
        for frame in cached {
            // Frames pushed while no one read have no shared cell yet: give them one now, so
            // this reader and every later one share each frame's encoded form.
            frame.encoded.get_or_insert_with(Arc::default);
            initial.push(frame.clone());
        }
        drop(cache);
        stream.stats.readers.fetch_add(1, Ordering::Relaxed);
        Some(Reader {
            initial: initial.into_iter(),
            rx,
            stats: stream.stats.clone(),
            key: stream.key.clone(),
            skipping: false,
            lags: Vec::new(),
            generation: stream.generation,
        })
    }

    /// Asks the publisher of a live stream to stop, giving the reason it passes to the encoder.
    /// Returns whether the stream was live. The stream goes offline when the publisher's
    /// connection has closed (see [`Publisher::stop_signal`]).
    pub fn stop(&self, playback_id: &str, reason: &str) -> bool {
        let Some(stream) = self.live_stream(playback_id) else {
            return false;
        };
        stream.stop.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason.to_string());
                true
            } else {
                false
            }
        });
        true
    }

    /// The publishing session of a live stream and its counters, or `None` if it is not live.
    pub fn session(&self, playback_id: &str) -> Option<(u64, Arc<StreamStats>)> {
        self.live_stream(playback_id)
            .map(|s| (s.generation, s.stats.clone()))
    }

    /// Whether a stream is live.
    pub fn is_live(&self, playback_id: &str) -> bool {
        self.inner
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(playback_id)
    }

    /// The codecs seen so far on a live stream, or `None` if it is not live.
    pub fn info(&self, playback_id: &str) -> Option<StreamInfo> {
        let stream = self.live_stream(playback_id)?;
        let info = stream
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .info
            .clone();
        Some(info)
    }

    /// A snapshot of every live stream.
    pub fn streams(&self) -> Vec<LiveStream> {
        let streams = self.inner.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams
            .values()
            .map(|s| LiveStream {
                key: s.key.clone(),
                info: s
                    .cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .info
                    .clone(),
                stats: s.stats.clone(),
                uptime: s.started.elapsed(),
            })
            .collect()
    }

    fn unpublish(&self, stream: &Arc<Stream>) {
        let mut streams = self.inner.streams.lock().unwrap_or_else(|p| p.into_inner());
        if streams
            .get(&stream.key.playback_id)
            .is_some_and(|s| Arc::ptr_eq(s, stream))
        {
            streams.remove(&stream.key.playback_id);
        }
    }
}

/// A live stream as listed by [`Hub::streams`].
#[derive(Debug, Clone)]
pub struct LiveStream {
    /// The stream.
    pub key: StreamKey,
    /// Codecs.
    pub info: StreamInfo,
    /// Counters.
    pub stats: Arc<StreamStats>,
    /// Time since publishing started.
    pub uptime: Duration,
}

/// The publishing side of a stream. Drop it to end the stream: readers see the end, and an
/// `Offline` event is emitted.
pub struct Publisher {
    hub: Hub,
    stream: Arc<Stream>,
}

impl Publisher {
    /// The stream's key.
    pub fn key(&self) -> &StreamKey {
        &self.stream.key
    }

    /// Counters of this stream.
    pub fn stats(&self) -> &Arc<StreamStats> {
        &self.stream.stats
    }

    /// A receiver that holds the reason once [`Hub::stop`] was called for this stream; take it
    /// once per publisher and check it (`has_changed`) as input arrives.
    pub fn stop_signal(&self) -> watch::Receiver<Option<String>> {
        self.stream.stop.subscribe()
    }

    /// Pushes one frame to every reader and updates the caches.
    pub fn push(&self, mut frame: Frame) {
        let s = &self.stream;
        s.stats
            .bytes_in
            .fetch_add(frame.data.len() as u64, Ordering::Relaxed);
        s.stats.frames_in.fetch_add(1, Ordering::Relaxed);
        let mut cache = s.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut announce = None;
        let slot = match (frame.kind, frame.sequence_header) {
            (FrameKind::Data, _) => Slot::Metadata,
            (FrameKind::Video, true) => {
                cache.info.has_video = true;
                set_video_codec(&mut cache.info, &frame.data);
                Slot::VideoConfig
            }
            (FrameKind::Audio, true) => {
                cache.info.has_audio = true;
                cache.info.audio_codec = frame.data.first().map(|b| b >> 4);
                Slot::AudioConfig
            }
            (FrameKind::Video, false) => {
                s.stats.video_frames_in.fetch_add(1, Ordering::Relaxed);
                cache.info.has_video = true;
                if cache.info.video_codec.is_none() {
                    set_video_codec(&mut cache.info, &frame.data);
                }
                video_timing(&mut cache, &s.stats, &frame);
                if frame.keyframe {
                    cache.gop.clear();
                    cache.gop_bytes = 0;
                    if !cache.live_announced {
                        cache.live_announced = true;
                        announce = Some(cache.info.clone());
                    }
                }
                Slot::Gop
            }
            (FrameKind::Audio, false) => {
                cache.info.has_audio = true;
                if cache.info.audio_codec.is_none() {
                    cache.info.audio_codec = frame.data.first().map(|b| b >> 4);
                }
                if !cache.info.has_video {
                    // Audio-only: every frame is a random access point; keep the last few.
                    if cache.gop.len() >= AUDIO_ONLY_CACHE {
                        let old = cache.gop.remove(0);
                        cache.gop_bytes -= old.data.len();
                    }
                    if !cache.live_announced {
                        cache.live_announced = true;
                        announce = Some(cache.info.clone());
                    }
                }
                Slot::Gop
            }
        };
        // Sent under the cache lock so a subscriber's snapshot and ring never overlap. A send
        // fails only when no reader is left: the ring goes then (the next reader makes a new one).
        if let Some(tx) = &cache.tx {
            // What a reader receives carries the cell its encoded form is shared in.
            frame.encoded.get_or_insert_with(Arc::default);
            if tx.send(frame.clone()).is_err() {
                cache.tx = None;
            }
        }
        // The frame itself goes into the cache: with no reader, no clone was made (cloning a
        // `Bytes` made from a `Vec` allocates the header that shares it).
        match slot {
            Slot::Metadata => cache.metadata = Some(frame),
            Slot::VideoConfig => cache.video_config = Some(frame),
            Slot::AudioConfig => cache.audio_config = Some(frame),
            Slot::Gop => cache_frame(&mut cache, frame),
        }
        drop(cache);
        if let Some(info) = announce {
            self.hub.emit(StreamEvent::Live {
                key: s.key.clone(),
                generation: s.generation,
                at_ms: unix_ms(),
                info,
            });
        }
    }
}

/// Forward distance from `from` to `to` in 32-bit wrapping milliseconds; `None` if `to` is
/// behind (a step back, or a wrap the other way).
fn forward_ms(from: u32, to: u32) -> Option<u32> {
    let d = to.wrapping_sub(from);
    (d < u32::MAX / 2).then_some(d)
}

/// Keyframe intervals and gaps, from one video frame (not a sequence header).
fn video_timing(cache: &mut Cache, stats: &StreamStats, frame: &Frame) {
    if let Some(d) = cache
        .last_video
        .and_then(|t| forward_ms(t, frame.timestamp))
    {
        if d > VIDEO_GAP_MS {
            stats.video_gaps.fetch_add(1, Ordering::Relaxed);
        }
    }
    cache.last_video = Some(frame.timestamp);
    if !frame.keyframe {
        return;
    }
    if let Some(gop) = cache
        .last_keyframe
        .and_then(|t| forward_ms(t, frame.timestamp))
    {
        if cache.recent_gops.len() >= RECENT_GOPS {
            cache.recent_gops.pop_front();
        }
        cache.recent_gops.push_back(gop);
        let max = cache.recent_gops.iter().copied().max().unwrap_or(gop);
        stats
            .keyframe_interval_ms
            .store(u64::from(gop), Ordering::Relaxed);
        stats
            .keyframe_interval_max_ms
            .store(u64::from(max), Ordering::Relaxed);
    }
    cache.last_keyframe = Some(frame.timestamp);
}

/// Where [`Publisher::push`] keeps a frame for readers yet to come.
enum Slot {
    Metadata,
    VideoConfig,
    AudioConfig,
    Gop,
}

fn cache_frame(cache: &mut Cache, frame: Frame) {
    // Before the first keyframe of a video stream there is nothing decodable to cache.
    if cache.info.has_video && cache.gop.is_empty() && !frame.keyframe {
        return;
    }
    if cache.gop.len() < MAX_GOP_FRAMES && cache.gop_bytes + frame.data.len() <= MAX_GOP_BYTES {
        cache.gop_bytes += frame.data.len();
        cache.gop.push(frame);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.hub.unpublish(&self.stream);
        let s = &self.stream;
        let info = s
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .info
            .clone();
        self.hub.emit(StreamEvent::Offline {
            key: s.key.clone(),
            generation: s.generation,
            at_ms: unix_ms(),
            bytes_in: s.stats.bytes_in.load(Ordering::Relaxed),
            frames_in: s.stats.frames_in.load(Ordering::Relaxed),
            info,
        });
        // The sender lives in the Arc<Stream> that readers do not hold: once this drops, their
        // receivers report Closed after draining.
    }
}

/// Why a reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// The publisher left.
    Ended,
    /// The reader stayed behind and was disconnected.
    TooSlow,
}

/// A reader of one stream.
pub struct Reader {
    initial: std::vec::IntoIter<Frame>,
    rx: broadcast::Receiver<Frame>,
    stats: Arc<StreamStats>,
    key: StreamKey,
    skipping: bool,
    lags: Vec<Instant>,
    generation: u64,
}

impl Reader {
    /// The stream being read.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Identifies the publishing session this reader belongs to (a republish is a new one).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The next frame, or why there are no more.
    pub async fn recv(&mut self) -> Result<Frame, ReadEnd> {
        if let Some(f) = self.initial.next() {
            return Ok(f);
        }
        loop {
            let r = self.rx.recv().await;
            if let Some(out) = self.accept(r) {
                return out;
            }
        }
    }

    /// The next frame if one is already waiting (`None` otherwise), without blocking: lets a
    /// writer batch what has piled up into one system call.
    pub fn try_recv(&mut self) -> Option<Result<Frame, ReadEnd>> {
        if let Some(f) = self.initial.next() {
            return Some(Ok(f));
        }
        loop {
            let r = match self.rx.try_recv() {
                Ok(f) => Ok(f),
                Err(broadcast::error::TryRecvError::Empty) => return None,
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    Err(broadcast::error::RecvError::Lagged(n))
                }
                Err(broadcast::error::TryRecvError::Closed) => {
                    Err(broadcast::error::RecvError::Closed)
                }
            };
            if let Some(out) = self.accept(r) {
                return Some(out);
            }
        }
    }

    /// Applies the lag policy to one receive; `None` means "skipped, receive again".
    fn accept(
        &mut self,
        r: Result<Frame, broadcast::error::RecvError>,
    ) -> Option<Result<Frame, ReadEnd>> {
        match r {
            Ok(frame) => {
                if self.skipping {
                    // Resume at a keyframe (configuration frames always pass).
                    let resume =
                        frame.keyframe || frame.sequence_header || frame.kind == FrameKind::Data;
                    if !resume {
                        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                    self.skipping = false;
                }
                Some(Ok(frame))
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                self.stats.dropped.fetch_add(n, Ordering::Relaxed);
                let now = Instant::now();
                self.lags.retain(|t| now.duration_since(*t) < LAG_WINDOW);
                self.lags.push(now);
                if self.lags.len() as u32 > MAX_LAGS {
                    self.stats.readers_dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(playback_id = %self.key.playback_id, "reader disconnected: stayed behind");
                    return Some(Err(ReadEnd::TooSlow));
                }
                self.skipping = true;
                None
            }
            Err(broadcast::error::RecvError::Closed) => Some(Err(ReadEnd::Ended)),
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stats.readers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> StreamKey {
        StreamKey {
            playback_id: id.into(),
            source_id: 1,
            relay: false,
        }
    }

    fn video(ts: u32, keyframe: bool) -> Frame {
        let b0 = if keyframe { 0x17 } else { 0x27 };
        Frame::from_tag(
            FrameKind::Video,
            ts,
            Bytes::from(vec![b0, 1, 0, 0, 0, ts as u8]),
        )
    }

    fn audio(ts: u32) -> Frame {
        Frame::from_tag(FrameKind::Audio, ts, Bytes::from(vec![0xaf, 1, ts as u8]))
    }

    #[test]
    fn classifies_tags() {
        let seq = Frame::from_tag(FrameKind::Video, 0, Bytes::from_static(&[0x17, 0, 0, 0, 0]));
        assert!(seq.sequence_header && !seq.keyframe);
        assert!(video(0, true).keyframe && !video(0, true).sequence_header);
        assert!(!video(0, false).keyframe);
        let aseq = Frame::from_tag(
            FrameKind::Audio,
            0,
            Bytes::from_static(&[0xaf, 0, 0x12, 0x10]),
        );
        assert!(aseq.sequence_header);
        let empty = Frame::from_tag(FrameKind::Video, 0, Bytes::new());
        assert!(!empty.keyframe && !empty.sequence_header);
    }

    #[tokio::test]
    async fn readers_that_come_after_all_others_left_get_every_new_frame() {
        let hub = Hub::default();
        let p = hub.publish(key("a")).expect("publish");
        p.push(video(0, true));
        let first = hub.subscribe("a").expect("live");
        drop(first);
        // No reader left: the ring goes with the next frame, and the stream goes on.
        p.push(video(33, false));
        let mut r = hub.subscribe("a").expect("live");
        let cached: Vec<u32> = (0..2)
            .map(|_| r.try_recv().expect("cached").expect("frame").timestamp)
            .collect();
        assert_eq!(cached, [0, 33], "the GOP cache");
        assert!(r.try_recv().is_none());
        p.push(video(66, false));
        p.push(audio(70));
        assert_eq!(r.recv().await.expect("frame").timestamp, 66);
        assert_eq!(r.recv().await.expect("frame").timestamp, 70);
        drop(p);
        assert_eq!(r.recv().await.err(), Some(ReadEnd::Ended));
    }

    #[tokio::test]
    async fn readers_share_each_frames_encoded_form_and_without_readers_none_is_made() {
        let hub = Hub::default();
        let p = hub.publish(key("a")).expect("publish");
        p.push(video(0, true));
        p.push(audio(10));
        let stream = hub.live_stream("a").expect("live");
        let no_cells = |stream: &Stream| {
            let cache = stream.cache.lock().expect("cache");
            cache.gop.iter().all(|f| f.encoded.is_none())
        };
        assert!(no_cells(&stream), "no reader: no cell is allocated");
        let cell = |f: &Frame| {
            f.encoded
                .clone()
                .expect("a frame read from the hub has a cell")
        };
        // Pushed while no one read: the cached frames get their cells from the first reader,
        // and a later reader shares them.
        let mut first = hub.subscribe("a").expect("live");
        let mut second = hub.subscribe("a").expect("live");
        for _ in 0..2 {
            let a = first.try_recv().expect("cached").expect("frame");
            let b = second.try_recv().expect("cached").expect("frame");
            assert!(
                Arc::ptr_eq(&cell(&a), &cell(&b)),
                "one encoded form per cached frame"
            );
        }
        // Pushed while readers read: the frame carries its cell into the ring.
        p.push(video(33, false));
        let a = first.recv().await.expect("frame");
        let b = second.recv().await.expect("frame");
        cell(&a)
            .set(Bytes::from_static(b"chunked"))
            .expect("nothing encoded it yet");
        assert_eq!(cell(&b).get().map(|b| &b[..]), Some(&b"chunked"[..]));
    }

    #[tokio::test]
    async fn second_publisher_refused_and_late_reader_starts_at_keyframe() {
        let hub = Hub::default();
        let mut events = hub.events();
        let p = hub.publish(key("a")).expect("first");
        assert_eq!(hub.publish(key("a")).err(), Some(HubError::AlreadyLive));
        assert!(matches!(
            events.recv().await,
            Ok(StreamEvent::Starting { .. })
        ));
        p.push(Frame::from_tag(
            FrameKind::Data,
            0,
            Bytes::from_static(b"meta"),
        ));
        p.push(Frame::from_tag(
            FrameKind::Video,
            0,
            Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
        ));
        p.push(Frame::from_tag(
            FrameKind::Audio,
            0,
            Bytes::from_static(&[0xaf, 0, 0x12, 0x10]),
        ));
        p.push(video(0, false)); // before any keyframe: not cached
        p.push(video(33, true));
        assert!(matches!(events.recv().await, Ok(StreamEvent::Live { .. })));
        p.push(audio(40));
        p.push(video(66, false));
        let mut r = hub.subscribe("a").expect("live");
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(r.recv().await.expect("frame"));
        }
        assert_eq!(got[0].kind, FrameKind::Data);
        assert!(got[1].sequence_header && got[1].kind == FrameKind::Video);
        assert!(got[2].sequence_header && got[2].kind == FrameKind::Audio);
        assert!(got[3].keyframe && got[3].timestamp == 33);
        assert_eq!((got[4].kind, got[4].timestamp), (FrameKind::Audio, 40));
        assert_eq!(got[5].timestamp, 66);
        // Shared, not copied.
        p.push(video(99, false));
        let f = r.recv().await.expect("live frame");
        assert_eq!(f.timestamp, 99);
        drop(p);
        assert_eq!(r.recv().await, Err(ReadEnd::Ended));
        assert!(!hub.is_live("a"));
        assert!(matches!(
            events.recv().await,
            Ok(StreamEvent::Offline { frames_in: 8, .. })
        ));
        assert!(hub.publish(key("a")).is_ok(), "republish after the end");
    }

    #[tokio::test]
    async fn slow_reader_skips_to_keyframe_then_is_dropped() {
        let hub = Hub::new(16);
        let p = hub.publish(key("b")).expect("publish");
        p.push(video(0, true));
        let mut slow = hub.subscribe("b").expect("live");
        let mut fast = hub.subscribe("b").expect("live");
        assert!(slow.recv().await.expect("cached").keyframe);
        assert!(fast.recv().await.expect("cached").keyframe);
        // Overrun the ring for the slow reader while the fast one keeps up.
        for i in 1..=40u32 {
            p.push(video(i * 33, i % 30 == 0));
            assert_eq!(fast.recv().await.expect("fast").timestamp, i * 33);
        }
        p.push(video(41 * 33, true));
        let next = slow.recv().await.expect("resumes");
        assert!(next.keyframe, "a lagging reader resumes at a keyframe");
        assert!(p.stats().dropped.load(Ordering::Relaxed) > 0);
        // Lag repeatedly: disconnected.
        let mut end = None;
        for round in 0..(MAX_LAGS + 2) {
            for i in 0..40u32 {
                p.push(video(10_000 + round * 10_000 + i, i == 39));
            }
            match slow.recv().await {
                Ok(_) => {}
                Err(e) => {
                    end = Some(e);
                    break;
                }
            }
        }
        assert_eq!(end, Some(ReadEnd::TooSlow));
        assert_eq!(p.stats().readers_dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn keyframe_intervals_and_gaps() {
        let hub = Hub::default();
        let p = hub.publish(key("k")).expect("publish");
        let stats = p.stats().clone();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        // One GOP of `ms` at 25 fps from `ts` (wrapping like RTMP timestamps).
        let gop = |ts: &mut u32, ms: u32| {
            for i in 0..ms / 40 {
                p.push(video(*ts, i == 0));
                *ts = ts.wrapping_add(40);
            }
        };
        let mut ts = 0u32;
        gop(&mut ts, 2000);
        assert_eq!(
            get(&stats.keyframe_interval_ms),
            0,
            "one keyframe: no interval yet"
        );
        gop(&mut ts, 2000);
        assert_eq!(get(&stats.keyframe_interval_ms), 2000);
        gop(&mut ts, 4000);
        gop(&mut ts, 1000);
        assert_eq!(
            get(&stats.keyframe_interval_ms),
            4000,
            "the last complete GOP"
        );
        gop(&mut ts, 1000);
        assert_eq!(get(&stats.keyframe_interval_ms), 1000);
        assert_eq!(get(&stats.keyframe_interval_max_ms), 4000);
        for _ in 0..RECENT_GOPS {
            gop(&mut ts, 1000);
        }
        assert_eq!(
            get(&stats.keyframe_interval_max_ms),
            1000,
            "old GOPs age out"
        );
        assert_eq!(get(&stats.video_gaps), 0);
        // The encoder stalls for 1.5 s: one gap.
        ts += 1500;
        gop(&mut ts, 1000);
        assert_eq!(get(&stats.video_gaps), 1);
        // A step back is no gap; timestamps wrapping around 2^32 neither.
        ts = u32::MAX - 100;
        gop(&mut ts, 1000);
        gop(&mut ts, 1000);
        assert_eq!(get(&stats.video_gaps), 1);
        assert_eq!(get(&stats.keyframe_interval_ms), 1000, "across the wrap");
    }

    #[tokio::test]
    async fn audio_only_stream_goes_live_and_caches_recent_audio() {
        let hub = Hub::default();
        let mut events = hub.events();
        let p = hub.publish(key("c")).expect("publish");
        for i in 0..100 {
            p.push(audio(i * 23));
        }
        assert!(matches!(
            events.recv().await,
            Ok(StreamEvent::Starting { .. })
        ));
        match events.recv().await {
            Ok(StreamEvent::Live { info, .. }) => assert!(info.has_audio && !info.has_video),
            other => panic!("{other:?}"),
        }
        let mut r = hub.subscribe("c").expect("live");
        let first = r.recv().await.expect("cached");
        assert_eq!(first.timestamp, (100 - AUDIO_ONLY_CACHE as u32) * 23);
    }
}
