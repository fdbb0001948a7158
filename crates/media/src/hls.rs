//! HLS packaging: FLV tag bodies in, MPEG-TS segments and a media playlist out (RFC 8216).
//!
//! [`HlsSegmenter`] is a sans-I/O state machine. The engine pushes every FLV audio/video tag
//! body of a stream with its (unwrapped) timestamp and the wall clock; the segmenter parses the
//! AVC/AAC sequence headers itself, cuts a segment at the first video keyframe once the open
//! segment has reached the target duration (on time for audio-only streams), keeps a bounded
//! window of finished segments and writes the playlist on request.
//!
//! Invariants:
//! - output timestamps (PTS/DTS, 90 kHz) are continuous and non-decreasing per track across
//!   republishes and timestamp jumps: the input timeline is rebased, and the segment that
//!   follows carries `EXT-X-DISCONTINUITY`, so decoders reset for a new encoder while players
//!   that ignore the tag still see a clean timeline;
//! - memory is bounded: at most `window + retain_extra` finished segments plus one open one,
//!   each cut at `max_segment_duration_ms` or `max_segment_bytes` even without a keyframe;
//! - segments start with PAT/PMT and (with video) an IDR access unit preceded by SPS/PPS, so a
//!   player joining at any segment decodes it alone.
//!
//! Low-Latency HLS (draft-pantos-hls-rfc8216bis-16, "RFC 8216bis" below), when
//! [`HlsConfig::low_latency`] is set: each segment is also cut into Partial Segments of about
//! [`LowLatencyConfig::part_target_ms`]. A part is a byte run of its parent segment that starts
//! with PAT/PMT (written into the segment at every part boundary), so a part is fetchable alone
//! and the parts of a segment concatenated are exactly the segment. The playlist gains
//! `EXT-X-SERVER-CONTROL`, `EXT-X-PART-INF`, `EXT-X-PART` and `EXT-X-PRELOAD-HINT`; the blocking
//! reload decision (§6.2.5.2) is [`HlsSegmenter::has_part`] plus [`HlsSegmenter::version`] to
//! wait on. Without `low_latency` the output is byte for byte what it was before LL-HLS.

use std::collections::VecDeque;
use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use crate::aac::{adts_header, AudioSpecificConfig, ADTS_HEADER_LEN};
use crate::avc::AvcDecoderConfig;
use crate::flv::{
    AacPacketType, AudioTagHeader, SoundFormat, TagType, VideoCodec, VideoPacket, VideoTag,
};
use crate::hevc::HevcDecoderConfig;
use crate::ts::{TsMuxer, TsStreams};
use crate::MediaError;

/// 90 kHz ticks per millisecond (ISO/IEC 13818-1 §2.4.3.7 timestamps).
const TICKS_PER_MS: u64 = 90;
/// Where output timestamps start: far enough above zero that negative composition offsets,
/// audio slightly ahead of video and the PCR lead never go below zero.
const TIMELINE_ORIGIN_90K: u64 = 10 * 90_000;
/// A track's timestamp going back more than this starts a new timeline (a discontinuity);
/// smaller steps back are clamped.
const MAX_BACKWARD_JUMP_MS: u64 = 1_000;
/// A track's timestamp leaping forward more than this starts a new timeline as well.
const MAX_FORWARD_JUMP_MS: u64 = 10_000;
/// Assumed video frame duration until two frames have been seen (30 fps).
const DEFAULT_FRAME_DURATION_90K: u64 = 3_000;
/// The shortest part target we accept: shorter parts cost more in PAT/PMT, requests and
/// playlist size than they save in latency.
const MIN_PART_TARGET_MS: u64 = 50;

/// The decoder configuration of the video track: what the segmenter packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoConfig {
    /// H.264 (legacy FLV or Enhanced RTMP `avc1`).
    Avc(AvcDecoderConfig),
    /// HEVC (Enhanced RTMP `hvc1`).
    Hevc(HevcDecoderConfig),
}

impl VideoConfig {
    /// The codec.
    pub fn codec(&self) -> VideoCodec {
        match self {
            Self::Avc(_) => VideoCodec::Avc,
            Self::Hevc(_) => VideoCodec::Hevc,
        }
    }

    /// The RFC 6381 codecs parameter (`avc1.64001f`, `hvc1.1.6.L93.B0`).
    pub fn codec_string(&self) -> String {
        match self {
            Self::Avc(c) => c.codec_string(),
            Self::Hevc(c) => c.codec_string(),
        }
    }

    fn to_annexb(
        &self,
        frame: &[u8],
        keyframe: bool,
        out: &mut BytesMut,
    ) -> Result<(), MediaError> {
        match self {
            Self::Avc(c) => c.avcc_to_annexb(frame, keyframe, out),
            Self::Hevc(c) => c.to_annexb(frame, keyframe, out),
        }
    }
}

/// Segmenter settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsConfig {
    /// Cut at the first keyframe once a segment is this long (1–2 s segments).
    pub target_duration_ms: u64,
    /// Segments listed in the playlist.
    pub window: usize,
    /// Segments kept retrievable after they leave the playlist, for players that fetched the
    /// playlist just before (RFC 8216 §6.2.2).
    pub retain_extra: usize,
    /// A segment is cut at this length even without a keyframe (bounds memory when an encoder
    /// sends keyframes rarely or never).
    pub max_segment_duration_ms: u64,
    /// A segment is cut at this size even without a keyframe.
    pub max_segment_bytes: usize,
    /// Low-Latency HLS partial segments and tags; `None` (the default) writes the classic
    /// playlist only. Off by default until the HTTP layer serves part names and blocking reload:
    /// a playlist that advertises `CAN-BLOCK-RELOAD=YES` and part URIs the server cannot answer
    /// would break LL-capable players (hls.js, AVPlayer), although classic players would still
    /// play it (they ignore the LL tags, RFC 8216bis §6.3.1: unknown tags are ignored).
    pub low_latency: Option<LowLatencyConfig>,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            target_duration_ms: 1_000,
            window: 6,
            retain_extra: 2,
            max_segment_duration_ms: 10_000,
            max_segment_bytes: 32 * 1024 * 1024,
            low_latency: None,
        }
    }
}

/// Low-Latency HLS settings (RFC 8216bis §4.4.3.7, §4.4.4.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowLatencyConfig {
    /// The wanted part duration. Parts are cut at the video frame (at the audio frame for
    /// audio-only streams) nearest this duration, and a segment cut ends the open part early.
    /// `EXT-X-PART-INF:PART-TARGET` is the larger of this and the longest part so far, so no
    /// part exceeds it (§4.4.4.9). Clamped to 50 ms ..= the segment target.
    pub part_target_ms: u64,
    /// The most recent finished segments whose parts the playlist lists (§6.2.2 wants parts
    /// removed once they are more than three target durations old); their parts stay
    /// retrievable for one segment longer, for players that fetched the playlist just before.
    pub part_segments: usize,
}

impl Default for LowLatencyConfig {
    fn default() -> Self {
        Self {
            part_target_ms: 200,
            part_segments: 3,
        }
    }
}

/// A Partial Segment (RFC 8216bis §4.4.4.9): a byte run of its parent segment that starts with
/// PAT/PMT, named `seg<N>.<P>.ts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The parent segment's media sequence number.
    pub sequence: u64,
    /// Index within the parent segment, from 0.
    pub index: u32,
    /// Duration in 90 kHz ticks: from its first timestamp to the next part's (the parts of a
    /// segment add up to the segment's duration).
    pub duration_90k: u64,
    /// Starts with a video keyframe, or is audio-only (`INDEPENDENT=YES`).
    pub independent: bool,
    /// The transport stream bytes (a slice of the parent segment once that is finished).
    pub data: Bytes,
    /// Where the part lies in its parent segment's bytes.
    range: std::ops::Range<usize>,
}

impl Part {
    /// The duration in milliseconds, rounded.
    pub fn duration_ms(&self) -> u64 {
        (self.duration_90k + TICKS_PER_MS / 2) / TICKS_PER_MS
    }

    /// The file name the playlist uses: `seg<N>.<P>.ts`.
    pub fn name(&self) -> String {
        part_name(self.sequence, self.index)
    }
}

/// A finished MPEG-TS segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Media sequence number (RFC 8216 §4.3.2.2), also in the name `seg<N>.ts`.
    pub sequence: u64,
    /// Duration in 90 kHz ticks: from its first DTS to the next segment's first DTS.
    pub duration_90k: u64,
    /// Wall clock (Unix milliseconds) when its first frame was pushed.
    pub program_date_time_ms: i64,
    /// Preceded by `EXT-X-DISCONTINUITY` (RFC 8216 §4.3.2.3).
    pub discontinuity: bool,
    /// Starts with a video keyframe, or is audio-only (decodable alone).
    pub independent: bool,
    /// The transport stream bytes.
    pub data: Bytes,
}

impl Segment {
    /// The duration in milliseconds, rounded.
    pub fn duration_ms(&self) -> u64 {
        (self.duration_90k + TICKS_PER_MS / 2) / TICKS_PER_MS
    }

    /// The file name the playlist uses: `seg<N>.ts`.
    pub fn name(&self) -> String {
        segment_name(self.sequence)
    }
}

/// The name of segment `sequence` in the playlist: `seg<N>.ts`.
pub fn segment_name(sequence: u64) -> String {
    format!("seg{sequence}.ts")
}

/// The sequence number in a segment name `seg<N>.ts`; `None` for anything else (the HTTP layer
/// uses this to map a request path to [`HlsSegmenter::segment`]).
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg")?.strip_suffix(".ts")?;
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The name of part `index` of segment `sequence`: `seg<N>.<P>.ts`.
pub fn part_name(sequence: u64, index: u32) -> String {
    format!("seg{sequence}.{index}.ts")
}

/// The segment sequence number and part index in a part name `seg<N>.<P>.ts`; `None` for
/// anything else, segment names included (the HTTP layer maps a path to
/// [`HlsSegmenter::part`] with it).
pub fn parse_part_name(name: &str) -> Option<(u64, u32)> {
    let rest = name.strip_prefix("seg")?.strip_suffix(".ts")?;
    let (sequence, index) = rest.split_once('.')?;
    let digits = |d: &str, max: usize| {
        !d.is_empty() && d.len() <= max && d.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(sequence, 20) || !digits(index, 10) {
        return None;
    }
    Some((sequence.parse().ok()?, index.parse().ok()?))
}

/// Counters for metrics and the stream status API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HlsStats {
    /// Segments finished.
    pub segments: u64,
    /// Bytes of finished segments.
    pub segment_bytes: u64,
    /// Video access units muxed.
    pub video_frames: u64,
    /// AAC frames muxed.
    pub audio_frames: u64,
    /// Frames dropped: before their codec configuration, or before the first keyframe.
    pub dropped_frames: u64,
    /// Tags ignored: script data, unsupported codecs, end-of-sequence markers.
    pub ignored_tags: u64,
    /// Discontinuities started (republishes and timestamp jumps).
    pub discontinuities: u64,
    /// Segments cut without a keyframe because they hit a size or duration limit.
    pub forced_cuts: u64,
}

#[derive(Debug)]
struct OpenSegment {
    sequence: u64,
    start_90k: u64,
    end_90k: u64,
    program_date_time_ms: i64,
    discontinuity: bool,
    independent: bool,
    data: BytesMut,
    /// Finished parts (Low-Latency HLS only); their bytes are copies until the segment closes.
    parts: Vec<Part>,
    /// The open part: its first timestamp, first byte, frames written, and whether its first
    /// video frame was a keyframe (`None` before any video frame).
    part_start_90k: u64,
    part_start_byte: usize,
    part_frames: u32,
    part_keyframe: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
struct Timeline {
    in_base_ms: u64,
    out_base_90k: u64,
}

const VIDEO: usize = 0;
const AUDIO: usize = 1;

/// Packages one stream's FLV tags into MPEG-TS segments and an HLS media playlist.
#[derive(Debug)]
pub struct HlsSegmenter {
    config: HlsConfig,
    video: Option<VideoConfig>,
    aac: Option<AudioSpecificConfig>,
    muxer: TsMuxer,
    /// Reused for every frame's Annex B / ADTS form.
    scratch: BytesMut,
    current: Option<OpenSegment>,
    segments: VecDeque<Segment>,
    next_sequence: u64,
    evicted_discontinuities: u64,
    any_discontinuity: bool,
    pending_discontinuity: bool,
    rebase_pending: bool,
    timeline: Option<Timeline>,
    last_in_ms: [Option<u64>; 2],
    last_out_90k: [Option<u64>; 2],
    prev_out_90k: [Option<u64>; 2],
    /// The latest end (DTS + duration) of any frame written, on the output timeline.
    end_90k: u64,
    video_frame_duration_90k: u64,
    max_duration_ms: u64,
    capacity_hint: usize,
    ended: bool,
    stats: HlsStats,
    /// Parts of the most recent finished segments (at most `part_segments + 1`), oldest first.
    finished_parts: VecDeque<Vec<Part>>,
    /// The longest part so far, in ms (never below the configured part target).
    max_part_ms: u64,
    /// Bumped whenever a part or segment is added or the stream ends.
    version: u64,
}

impl HlsSegmenter {
    /// A segmenter with `config` (a `window` of 0 is treated as 1).
    pub fn new(mut config: HlsConfig) -> Self {
        config.window = config.window.max(1);
        config.target_duration_ms = config.target_duration_ms.max(1);
        if let Some(ll) = &mut config.low_latency {
            ll.part_target_ms = ll.part_target_ms.clamp(
                MIN_PART_TARGET_MS,
                config.target_duration_ms.max(MIN_PART_TARGET_MS),
            );
        }
        let max_part_ms = config.low_latency.map_or(0, |ll| ll.part_target_ms);
        Self {
            config,
            video: None,
            aac: None,
            muxer: TsMuxer::new(TsStreams::default()),
            scratch: BytesMut::new(),
            current: None,
            segments: VecDeque::new(),
            next_sequence: 0,
            evicted_discontinuities: 0,
            any_discontinuity: false,
            pending_discontinuity: false,
            rebase_pending: false,
            timeline: None,
            last_in_ms: [None; 2],
            last_out_90k: [None; 2],
            prev_out_90k: [None; 2],
            end_90k: TIMELINE_ORIGIN_90K,
            video_frame_duration_90k: DEFAULT_FRAME_DURATION_90K,
            max_duration_ms: 0,
            capacity_hint: 64 * 1024,
            ended: false,
            stats: HlsStats::default(),
            finished_parts: VecDeque::new(),
            max_part_ms,
            version: 0,
        }
    }

    /// Feeds one FLV tag body (the RTMP audio/video message payload). `timestamp_ms` is the
    /// tag's DTS, already unwrapped past 32 bits by the caller; `wallclock_unix_ms` is now.
    ///
    /// Errors describe a malformed tag, which is dropped; the segmenter stays usable.
    /// Unsupported codecs and script data are ignored (counted in [`HlsStats::ignored_tags`]).
    pub fn push(
        &mut self,
        tag_type: TagType,
        timestamp_ms: u64,
        body: &Bytes,
        wallclock_unix_ms: i64,
    ) -> Result<(), MediaError> {
        if self.ended {
            self.ended = false;
            self.mark_discontinuity();
        }
        match tag_type {
            TagType::VIDEO => self.push_video(timestamp_ms, body, wallclock_unix_ms),
            TagType::AUDIO => self.push_audio(timestamp_ms, body, wallclock_unix_ms),
            _ => {
                self.stats.ignored_tags += 1;
                Ok(())
            }
        }
    }

    /// Marks a discontinuity (call on republish): the timeline is rebased at the next frame and
    /// the next segment, cut at the next keyframe, carries `EXT-X-DISCONTINUITY`.
    pub fn mark_discontinuity(&mut self) {
        if !self.pending_discontinuity {
            self.stats.discontinuities += 1;
        }
        self.pending_discontinuity = true;
        self.rebase_pending = true;
    }

    /// Ends the stream: closes the open segment and adds `EXT-X-ENDLIST` to the playlist. A
    /// later [`HlsSegmenter::push`] resumes with a discontinuity.
    pub fn finish(&mut self) {
        if let Some(end) = self.current.as_ref().map(|s| s.end_90k) {
            self.close_segment(end);
        }
        if !self.ended {
            self.version += 1;
        }
        self.ended = true;
    }

    fn push_video(&mut self, ts_ms: u64, body: &Bytes, wallclock: i64) -> Result<(), MediaError> {
        let tag = VideoTag::parse(body)?;
        let payload = tag.payload(body);
        match (tag.codec, tag.packet) {
            (VideoCodec::Avc, VideoPacket::SequenceHeader) => {
                self.video = Some(VideoConfig::Avc(AvcDecoderConfig::parse(payload)?));
                self.update_streams();
                return Ok(());
            }
            (VideoCodec::Hevc, VideoPacket::SequenceHeader) => {
                self.video = Some(VideoConfig::Hevc(HevcDecoderConfig::parse(payload)?));
                self.update_streams();
                return Ok(());
            }
            (VideoCodec::Avc | VideoCodec::Hevc, VideoPacket::CodedFrame) => {}
            _ => {
                self.stats.ignored_tags += 1;
                return Ok(());
            }
        }
        let keyframe = tag.is_keyframe();
        let Some(video) = &self.video else {
            self.stats.dropped_frames += 1;
            return Ok(());
        };
        if video.codec() != tag.codec {
            // Frames of a codec whose configuration has not come (a codec change mid-stream
            // sends its sequence header first).
            self.stats.dropped_frames += 1;
            return Ok(());
        }
        if self.current.is_none() && !keyframe {
            self.stats.dropped_frames += 1;
            return Ok(());
        }
        self.scratch.clear();
        video.to_annexb(payload, keyframe, &mut self.scratch)?;

        let dts = self.map_timestamp(VIDEO, ts_ms);
        let cts_90k = u64::try_from(tag.composition_time_ms).unwrap_or(0) * TICKS_PER_MS;
        if let Some(prev) = self.last_out_90k_before(VIDEO) {
            let step = dts.saturating_sub(prev);
            if step > 0 && step < 90_000 {
                self.video_frame_duration_90k = step;
            }
        }
        if let Some(seg) = &self.current {
            let elapsed = dts.saturating_sub(seg.start_90k);
            if keyframe && (elapsed >= self.target_90k() || self.pending_discontinuity) {
                self.close_segment(dts);
            } else if self.over_limits(seg, elapsed) {
                self.stats.forced_cuts += 1;
                self.close_segment(dts);
            }
        }
        let frame_end = dts + self.video_frame_duration_90k;
        self.maybe_cut_part(dts, true);
        self.ensure_segment(dts, wallclock, keyframe);
        if let Some(seg) = &mut self.current {
            self.muxer
                .write_video(&mut seg.data, dts, dts + cts_90k, keyframe, &self.scratch);
            seg.end_90k = seg.end_90k.max(frame_end);
            seg.part_frames += 1;
            if seg.part_keyframe.is_none() {
                seg.part_keyframe = Some(keyframe);
            }
        }
        self.end_90k = self.end_90k.max(frame_end);
        self.stats.video_frames += 1;
        Ok(())
    }

    fn push_audio(&mut self, ts_ms: u64, body: &Bytes, wallclock: i64) -> Result<(), MediaError> {
        let header = AudioTagHeader::parse(body)?;
        if header.sound_format != SoundFormat::AAC {
            self.stats.ignored_tags += 1;
            return Ok(());
        }
        let payload = body.get(header.encoded_len()..).unwrap_or_default();
        match header.aac_packet_type {
            Some(AacPacketType::SEQUENCE_HEADER) => {
                let asc = AudioSpecificConfig::parse(payload)?;
                asc.check_adts()?;
                self.aac = Some(asc);
                self.update_streams();
                return Ok(());
            }
            Some(AacPacketType::RAW) => {}
            _ => {
                self.stats.ignored_tags += 1;
                return Ok(());
            }
        }
        let Some(asc) = self.aac else {
            self.stats.dropped_frames += 1;
            return Ok(());
        };
        let has_video = self.video.is_some();
        if payload.is_empty() || (self.current.is_none() && has_video) {
            // With video, segments start at a keyframe.
            self.stats.dropped_frames += 1;
            return Ok(());
        }
        let adts = adts_header(&asc, payload.len())?;
        let pts = self.map_timestamp(AUDIO, ts_ms);
        if let Some(seg) = &self.current {
            let elapsed = pts.saturating_sub(seg.start_90k);
            if !has_video && (elapsed >= self.target_90k() || self.pending_discontinuity) {
                self.close_segment(pts);
            } else if self.over_limits(seg, elapsed) {
                self.stats.forced_cuts += 1;
                self.close_segment(pts);
            }
        }
        self.scratch.clear();
        self.scratch.reserve(ADTS_HEADER_LEN + payload.len());
        self.scratch.put_slice(&adts);
        self.scratch.put_slice(payload);
        let frame_end = pts
            + u64::from(asc.samples_per_frame()) * 90_000
                / u64::from(asc.sampling_frequency.max(1));
        self.maybe_cut_part(pts, false);
        self.ensure_segment(pts, wallclock, !has_video);
        if let Some(seg) = &mut self.current {
            self.muxer.write_audio(&mut seg.data, pts, &self.scratch);
            seg.end_90k = seg.end_90k.max(frame_end);
            seg.part_frames += 1;
        }
        self.end_90k = self.end_90k.max(frame_end);
        self.stats.audio_frames += 1;
        Ok(())
    }

    fn target_90k(&self) -> u64 {
        self.config.target_duration_ms.saturating_mul(TICKS_PER_MS)
    }

    fn over_limits(&self, seg: &OpenSegment, elapsed_90k: u64) -> bool {
        elapsed_90k
            >= self
                .config
                .max_segment_duration_ms
                .saturating_mul(TICKS_PER_MS)
            || seg.data.len() >= self.config.max_segment_bytes
    }

    /// The previous output DTS of `track`, read before [`Self::map_timestamp`] replaced it.
    fn last_out_90k_before(&self, track: usize) -> Option<u64> {
        self.prev_out_90k[track]
    }

    /// Maps an input timestamp (ms) to the continuous output timeline (90 kHz).
    fn map_timestamp(&mut self, track: usize, ts_ms: u64) -> u64 {
        if let Some(last) = self.last_in_ms[track] {
            let jumped_back = ts_ms.saturating_add(MAX_BACKWARD_JUMP_MS) < last;
            let jumped_forward = ts_ms > last.saturating_add(MAX_FORWARD_JUMP_MS);
            if jumped_back || jumped_forward {
                self.mark_discontinuity();
            }
        }
        let timeline = match self.timeline {
            Some(t) if !self.rebase_pending => t,
            previous => {
                let t = Timeline {
                    in_base_ms: ts_ms,
                    out_base_90k: if previous.is_some() {
                        self.end_90k
                    } else {
                        TIMELINE_ORIGIN_90K
                    },
                };
                self.timeline = Some(t);
                self.rebase_pending = false;
                self.last_in_ms = [None; 2];
                t
            }
        };
        let delta_ms = i128::from(ts_ms) - i128::from(timeline.in_base_ms);
        let out = i128::from(timeline.out_base_90k) + delta_ms * i128::from(TICKS_PER_MS);
        // 2^62 ticks is 1.6 million years: the clamp only guards the conversion.
        let mut out = out.clamp(0, 1 << 62) as u64;
        if let Some(last) = self.last_out_90k[track] {
            out = out.max(last);
        }
        self.prev_out_90k[track] = self.last_out_90k[track];
        self.last_in_ms[track] = Some(ts_ms);
        self.last_out_90k[track] = Some(out);
        out
    }

    fn update_streams(&mut self) {
        let streams = TsStreams {
            video: self.video.is_some(),
            hevc: matches!(self.video, Some(VideoConfig::Hevc(_))),
            audio: self.aac.is_some(),
        };
        if self.muxer.set_streams(streams) {
            if let Some(seg) = &mut self.current {
                self.muxer.write_tables(&mut seg.data);
            }
        }
    }

    /// Starts a segment at `start_90k` unless one is open.
    fn ensure_segment(&mut self, start_90k: u64, wallclock: i64, independent: bool) {
        if self.current.is_none() {
            let mut data = BytesMut::with_capacity(self.capacity_hint);
            self.muxer.write_tables(&mut data);
            let discontinuity = self.pending_discontinuity && self.next_sequence > 0;
            self.any_discontinuity |= discontinuity;
            self.pending_discontinuity = false;
            self.current = Some(OpenSegment {
                sequence: self.next_sequence,
                start_90k,
                end_90k: start_90k,
                program_date_time_ms: wallclock,
                discontinuity,
                independent,
                data,
                parts: Vec::new(),
                part_start_90k: start_90k,
                part_start_byte: 0,
                part_frames: 0,
                part_keyframe: None,
            });
            self.next_sequence += 1;
        }
    }

    /// Low-Latency HLS: ends the open part before a frame at `t_90k` once it is about a part
    /// target long, and starts the next with PAT/PMT. With video, parts are cut on video
    /// frames at the frame boundary nearest the target (audio cuts only if video stalls a whole
    /// target); audio-only streams cut on audio frames the same way.
    fn maybe_cut_part(&mut self, t_90k: u64, video_frame: bool) {
        let Some(ll) = self.config.low_latency else {
            return;
        };
        let Some(seg) = &self.current else {
            return;
        };
        if seg.part_frames == 0 {
            return;
        }
        let target = ll.part_target_ms.saturating_mul(TICKS_PER_MS);
        let elapsed = t_90k.saturating_sub(seg.part_start_90k);
        let has_video = self.video.is_some();
        let frame = if has_video {
            self.video_frame_duration_90k
        } else {
            self.aac
                .map(|a| {
                    u64::from(a.samples_per_frame()) * 90_000
                        / u64::from(a.sampling_frequency.max(1))
                })
                .unwrap_or(0)
        };
        // Half a frame early is the nearest boundary; never less than half a target, so that
        // very slow frame rates cannot make parts (and the part count) explode.
        let threshold = if video_frame || !has_video {
            target - (frame / 2).min(target / 2)
        } else {
            target
        };
        if elapsed >= threshold {
            self.close_part(t_90k);
            if let Some(seg) = &mut self.current {
                seg.part_start_90k = t_90k;
                seg.part_start_byte = seg.data.len();
                seg.part_frames = 0;
                seg.part_keyframe = None;
                self.muxer.write_tables(&mut seg.data);
            }
        }
    }

    /// Ends the open part of the open segment at `end_90k` (its bytes are copied until the
    /// segment is frozen).
    fn close_part(&mut self, end_90k: u64) {
        let has_video = self.video.is_some();
        let Some(seg) = &mut self.current else {
            return;
        };
        if seg.part_frames == 0 {
            return;
        }
        let range = seg.part_start_byte..seg.data.len();
        let part = Part {
            sequence: seg.sequence,
            index: u32::try_from(seg.parts.len()).unwrap_or(u32::MAX),
            duration_90k: end_90k.saturating_sub(seg.part_start_90k),
            independent: seg.part_keyframe.unwrap_or(!has_video),
            data: Bytes::copy_from_slice(&seg.data[range.clone()]),
            range,
        };
        self.max_part_ms = self.max_part_ms.max(part.duration_ms());
        seg.parts.push(part);
        self.version += 1;
    }

    fn close_segment(&mut self, end_90k: u64) {
        if self.config.low_latency.is_some() {
            self.close_part(end_90k);
        }
        let Some(seg) = self.current.take() else {
            return;
        };
        let segment = Segment {
            sequence: seg.sequence,
            duration_90k: end_90k.saturating_sub(seg.start_90k),
            program_date_time_ms: seg.program_date_time_ms,
            discontinuity: seg.discontinuity,
            independent: seg.independent,
            data: seg.data.freeze(),
        };
        self.max_duration_ms = self.max_duration_ms.max(segment.duration_ms());
        self.capacity_hint = (segment.data.len() + segment.data.len() / 8)
            .clamp(16 * 1024, self.config.max_segment_bytes.max(16 * 1024));
        self.stats.segments += 1;
        self.stats.segment_bytes += segment.data.len() as u64;
        if let Some(ll) = self.config.low_latency {
            // The parts become slices of the frozen segment: their copies are freed.
            let mut parts = seg.parts;
            for part in &mut parts {
                part.data = segment.data.slice(part.range.clone());
            }
            self.finished_parts.push_back(parts);
            while self.finished_parts.len() > ll.part_segments + 1 {
                self.finished_parts.pop_front();
            }
        }
        self.version += 1;
        self.segments.push_back(segment);
        while self.segments.len() > self.config.window + self.config.retain_extra {
            if let Some(evicted) = self.segments.pop_front() {
                self.evicted_discontinuities += u64::from(evicted.discontinuity);
            }
        }
    }

    /// The segments the playlist lists, oldest first.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> + '_ {
        self.segments.iter().skip(self.unlisted())
    }

    fn unlisted(&self) -> usize {
        self.segments.len().saturating_sub(self.config.window)
    }

    /// A finished segment still retained (listed or recently evicted from the list); a cheap
    /// clone of its bytes.
    pub fn segment(&self, sequence: u64) -> Option<Bytes> {
        self.segments
            .iter()
            .find(|s| s.sequence == sequence)
            .map(|s| s.data.clone())
    }

    /// The media playlist (RFC 8216 §4.3): `EXT-X-TARGETDURATION` is the ceiling of the longest
    /// segment so far (never below the configured target, never decreasing), each segment has
    /// `EXT-X-PROGRAM-DATE-TIME` and an `EXTINF` with millisecond precision.
    pub fn playlist(&self) -> String {
        let mut out = String::with_capacity(256 + 96 * self.config.window);
        let target_ms = self.max_duration_ms.max(self.config.target_duration_ms);
        let target_secs = target_ms.div_ceil(1000).max(1);
        let ll = self.config.low_latency;
        let open_parts = match (&self.current, ll) {
            (Some(seg), Some(_)) if !seg.parts.is_empty() => Some(seg),
            _ => None,
        };
        let media_sequence = self
            .segments()
            .next()
            .map(|s| s.sequence)
            .or(open_parts.map(|s| s.sequence))
            .unwrap_or(self.next_sequence);
        let discontinuity_sequence = self.evicted_discontinuities
            + self
                .segments
                .iter()
                .take(self.unlisted())
                .filter(|s| s.discontinuity)
                .count() as u64;
        // Writing to a String cannot fail.
        // LL-HLS adds no EXT-X-VERSION requirement (RFC 8216bis §7 asks for 9 only with
        // EXT-X-SKIP, which we do not write), so the version stays 3 for classic players.
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target_secs}\n"
        );
        if ll.is_some() {
            // §4.4.3.8: PART-HOLD-BACK at least twice, and as recommended three times, the
            // part target; §4.4.3.7: PART-TARGET bounds every part's duration.
            let _ = write!(
                out,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}\n#EXT-X-PART-INF:PART-TARGET={}\n",
                Seconds(3 * self.max_part_ms),
                Seconds(self.max_part_ms)
            );
        }
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{media_sequence}");
        if self.any_discontinuity {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}"
            );
        }
        for seg in self.segments() {
            if seg.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let ms = seg.duration_ms();
            let _ = writeln!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                format_rfc3339_ms(seg.program_date_time_ms)
            );
            // §4.4.4.9: a segment's parts precede its URI line.
            for part in self.listed_parts(seg.sequence) {
                write_part(&mut out, part);
            }
            let _ = write!(
                out,
                "#EXTINF:{}.{:03},\n{}\n",
                ms / 1000,
                ms % 1000,
                seg.name()
            );
        }
        if let Some(seg) = open_parts {
            // The open segment's tags come before its parts, as they will when it is finished.
            if seg.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                format_rfc3339_ms(seg.program_date_time_ms)
            );
            for part in &seg.parts {
                write_part(&mut out, part);
            }
        }
        if ll.is_some() && !self.ended {
            // §4.4.5.3: the part being written now. If the next keyframe ends the segment
            // first, this part never exists (the server answers 404 once it knows, and the
            // client reloads); the first part of the next segment takes its place.
            let (sequence, index) = match &self.current {
                Some(seg) => (seg.sequence, seg.parts.len()),
                None => (self.next_sequence, 0),
            };
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let _ = writeln!(
                out,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                part_name(sequence, index)
            );
        }
        // No EXT-X-RENDITION-REPORT (§4.4.5.4): it reports the other renditions of a
        // multivariant playlist, and a stream has one rendition.
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }

    /// The parts the playlist lists for finished segment `sequence`: those of the last
    /// `part_segments` finished segments.
    fn listed_parts(&self, sequence: u64) -> &[Part] {
        let Some(ll) = self.config.low_latency else {
            return &[];
        };
        self.finished_parts
            .iter()
            .rev()
            .take(ll.part_segments)
            .find(|parts| parts.first().is_some_and(|p| p.sequence == sequence))
            .map_or(&[], Vec::as_slice)
    }

    /// A retained part's bytes (a cheap clone): a part of the open segment or of one of the
    /// last `part_segments + 1` finished segments. `None` for anything else, including a part
    /// index past the end of a finished segment (the name then was a preload hint that the
    /// segment cut overtook).
    pub fn part(&self, sequence: u64, part_index: u32) -> Option<Bytes> {
        let open = self.current.iter().map(|s| s.parts.as_slice());
        let finished = self.finished_parts.iter().map(Vec::as_slice);
        open.chain(finished)
            .find(|parts| parts.first().is_some_and(|p| p.sequence == sequence))?
            .get(usize::try_from(part_index).ok()?)
            .map(|p| p.data.clone())
    }

    /// The retained parts, oldest first: those of recent finished segments, then those of the
    /// open segment.
    pub fn parts(&self) -> impl Iterator<Item = &Part> + '_ {
        self.finished_parts
            .iter()
            .flatten()
            .chain(self.current.iter().flat_map(|s| s.parts.iter()))
    }

    /// The newest part as (media sequence number, part index); `None` before the first part
    /// (and always without [`HlsConfig::low_latency`]).
    pub fn latest(&self) -> Option<(u64, u32)> {
        let last = match &self.current {
            Some(seg) if !seg.parts.is_empty() => seg.parts.last(),
            _ => self.finished_parts.back().and_then(|parts| parts.last()),
        }?;
        Some((last.sequence, last.index))
    }

    /// Whether the playlist already satisfies a blocking reload for `_HLS_msn=msn` and
    /// optionally `_HLS_part=part` (RFC 8216bis §6.2.5.2): with a part, once it contains that
    /// part of segment `msn` or any later part; a part index past the last part of a finished
    /// segment stands for the first part of the next segment. Without a part, once segment
    /// `msn` (or a later one) is finished.
    pub fn has_part(&self, msn: u64, part: Option<u32>) -> bool {
        match part {
            None => self.latest_sequence().is_some_and(|last| msn <= last),
            Some(part) => self.latest().is_some_and(|(last_msn, last_part)| {
                msn < last_msn || (msn == last_msn && part <= last_part)
            }),
        }
    }

    /// Whether a blocking reload asks too far ahead to be held (RFC 8216bis §6.2.5.2: answer
    /// 400 at once): `_HLS_msn` more than two segments past the newest, or `_HLS_part` more
    /// than the Advance Part Limit past the newest part (three divided by the part target when
    /// that is under a second, else three).
    pub fn is_too_far_ahead(&self, msn: u64, part: Option<u32>) -> bool {
        let (last_msn, last_part) = match self.latest() {
            Some(latest) => (latest.0, Some(latest.1)),
            None => match self.latest_sequence() {
                Some(last) => (last, None),
                // Nothing yet: the first segment is a wait away, not a request error.
                None => return msn > self.next_sequence.saturating_add(2),
            },
        };
        if msn > last_msn.saturating_add(2) {
            return true;
        }
        let limit = 3_000u64.div_ceil(self.max_part_ms.max(1)).max(3);
        match (part, last_part) {
            (Some(part), Some(last_part)) if msn == last_msn => {
                u64::from(part) > u64::from(last_part) + limit
            }
            _ => false,
        }
    }

    /// Changes whenever a part or segment is added or the stream ends: what a blocking reload
    /// waits on before asking [`HlsSegmenter::has_part`] again.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The RFC 6381 `CODECS` attribute for a master playlist, e.g. `avc1.64001f,mp4a.40.2`;
    /// `None` until a sequence header has been seen.
    pub fn codecs(&self) -> Option<String> {
        let parts: Vec<String> = self
            .video
            .iter()
            .map(VideoConfig::codec_string)
            .chain(self.aac.iter().map(AudioSpecificConfig::codec_string))
            .collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// The current video configuration, if any.
    pub fn video_config(&self) -> Option<&VideoConfig> {
        self.video.as_ref()
    }

    /// The current AAC configuration, if any.
    pub fn audio_config(&self) -> Option<&AudioSpecificConfig> {
        self.aac.as_ref()
    }

    /// The sequence number of the newest finished segment.
    pub fn latest_sequence(&self) -> Option<u64> {
        self.segments.back().map(|s| s.sequence)
    }

    /// True after [`HlsSegmenter::finish`] until the next push.
    pub fn is_finished(&self) -> bool {
        self.ended
    }

    /// Counters.
    pub fn stats(&self) -> HlsStats {
        self.stats
    }
}

/// `#EXT-X-PART` (RFC 8216bis §4.4.4.9).
fn write_part(out: &mut String, part: &Part) {
    let _ = write!(
        out,
        "#EXT-X-PART:DURATION={},URI=\"{}\"",
        Seconds(part.duration_ms()),
        part.name()
    );
    if part.independent {
        out.push_str(",INDEPENDENT=YES");
    }
    out.push('\n');
}

/// Milliseconds written as a decimal-floating-point number of seconds (RFC 8216bis §4.2).
struct Seconds(u64);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// Formats Unix milliseconds as RFC 3339 / ISO 8601 UTC with milliseconds, as
/// `EXT-X-PROGRAM-DATE-TIME` wants (RFC 8216 §4.3.2.6): `2026-11-22T04:52:00.123Z`.
pub fn format_rfc3339_ms(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1_000 % 60,
        ms_of_day % 1_000
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339_ms(951_782_400_123),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            format_rfc3339_ms(1_795_329_120_456),
            "2026-11-22T06:32:00.456Z"
        );
        assert_eq!(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        let _ = format_rfc3339_ms(i64::MIN);
        let _ = format_rfc3339_ms(i64::MAX);
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_name(42), "seg42.ts");
        assert_eq!(parse_segment_name("seg42.ts"), Some(42));
        for bad in [
            "seg.ts",
            "seg-1.ts",
            "seg1.ts/",
            "../seg1.ts",
            "seg1x.ts",
            "seg99999999999999999999999.ts",
            "seg+1.ts",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_playlist() {
        let s = HlsSegmenter::new(HlsConfig::default());
        assert_eq!(
            s.playlist(),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
        );
        assert_eq!(s.codecs(), None);
    }

    /// A real x264 AVCDecoderConfigurationRecord (High, 640×360).
    const X264_RECORD: &[u8] = &[
        0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40,
        0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c,
        0x0f, 0x16, 0x2d, 0x96, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8,
        0xf8, 0x00,
    ];
    const WALL: i64 = 1_795_329_120_000;

    fn ll_config(window: usize) -> HlsConfig {
        HlsConfig {
            window,
            low_latency: Some(LowLatencyConfig::default()),
            ..HlsConfig::default()
        }
    }

    /// Synthetic A/V: 30 fps video with a keyframe every `gop` frames, AAC-LC 44.1 kHz, from
    /// `from_ms` (inclusive) to `to_ms` (exclusive), interleaved by timestamp.
    fn push_av(hls: &mut HlsSegmenter, from_ms: u64, to_ms: u64, gop: u64) {
        if from_ms == 0 {
            let mut avc = vec![0x17, 0x00, 0, 0, 0];
            avc.extend_from_slice(X264_RECORD);
            hls.push(TagType::VIDEO, 0, &Bytes::from(avc), WALL)
                .unwrap();
            let aac = Bytes::from_static(&[0xAF, 0x00, 0x12, 0x10]);
            hls.push(TagType::AUDIO, 0, &aac, WALL).unwrap();
        }
        let mut frame = (from_ms * 30).div_ceil(1000);
        let mut aac = (from_ms * 44_100).div_ceil(1024 * 1000);
        loop {
            let v_ms = (frame * 1000 + 15) / 30;
            let a_ms = (aac * 1024 * 1000 + 22_050) / 44_100;
            if v_ms >= to_ms && a_ms >= to_ms {
                break;
            }
            if v_ms <= a_ms {
                let key = frame % gop == 0;
                let nal: &[u8] = if key {
                    &[0x65, 0x88, 0x84]
                } else {
                    &[0x41, 0x9a, 0x02]
                };
                let mut body = vec![if key { 0x17 } else { 0x27 }, 0x01, 0, 0, 0, 0, 0, 0, 0];
                body.extend_from_slice(nal);
                body.extend(std::iter::repeat_n(0xAB, 400));
                let len = (body.len() - 9) as u32;
                body[5..9].copy_from_slice(&len.to_be_bytes());
                hls.push(TagType::VIDEO, v_ms, &Bytes::from(body), WALL + v_ms as i64)
                    .unwrap();
                frame += 1;
            } else {
                let mut body = vec![0xAF, 0x01];
                body.extend(std::iter::repeat_n(0x21, 100));
                hls.push(TagType::AUDIO, a_ms, &Bytes::from(body), WALL + a_ms as i64)
                    .unwrap();
                aac += 1;
            }
        }
    }

    fn pids(data: &[u8]) -> Vec<u16> {
        data.chunks(crate::ts::TS_PACKET_LEN)
            .map(|p| u16::from_be_bytes([p[1], p[2]]) & 0x1FFF)
            .collect()
    }

    /// The transport stream without its PAT/PMT packets.
    fn without_tables(data: &[u8]) -> Vec<u8> {
        data.chunks(crate::ts::TS_PACKET_LEN)
            .filter(|p| {
                let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1FFF;
                pid != crate::ts::PAT_PID && pid != crate::ts::PMT_PID
            })
            .flatten()
            .copied()
            .collect()
    }

    #[test]
    fn part_names() {
        assert_eq!(part_name(42, 3), "seg42.3.ts");
        assert_eq!(parse_part_name("seg42.3.ts"), Some((42, 3)));
        assert_eq!(parse_part_name("seg0.0.ts"), Some((0, 0)));
        assert_eq!(parse_segment_name("seg42.3.ts"), None);
        for bad in [
            "seg42.ts",
            "seg42..ts",
            "seg.3.ts",
            "seg42.3.4.ts",
            "seg42.-3.ts",
            "seg42.+3.ts",
            "seg42.99999999999.ts",
            "seg42.4294967296.ts",
            "../seg1.2.ts",
            "seg1.2.ts/",
        ] {
            assert_eq!(parse_part_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn parts_are_byte_runs_of_their_segment_starting_with_pat_pmt() {
        let mut hls = HlsSegmenter::new(ll_config(20));
        push_av(&mut hls, 0, 4_100, 30);
        let finished: Vec<Segment> = hls.segments().cloned().collect();
        assert!(finished.len() >= 3);
        for seg in finished.iter().rev().take(4) {
            let parts: Vec<&Part> = hls.parts().filter(|p| p.sequence == seg.sequence).collect();
            assert!(parts.len() >= 4, "{}: {} parts", seg.sequence, parts.len());
            let mut joined = Vec::new();
            let mut duration = 0;
            for (i, part) in parts.iter().enumerate() {
                assert_eq!(part.index as usize, i);
                assert_eq!(part.data[0], crate::ts::SYNC_BYTE);
                assert_eq!(part.data.len() % crate::ts::TS_PACKET_LEN, 0);
                assert_eq!(
                    &pids(&part.data)[..2],
                    &[crate::ts::PAT_PID, crate::ts::PMT_PID]
                );
                assert_eq!(hls.part(seg.sequence, part.index), Some(part.data.clone()));
                // GOP = segment: only the first part starts with a keyframe.
                assert_eq!(part.independent, i == 0, "part {i}");
                let ms = part.duration_ms();
                let last = i + 1 == parts.len();
                assert!(ms <= 200, "part {i}: {ms} ms");
                assert!(last || ms >= 170, "part {i}: {ms} ms");
                joined.extend_from_slice(&part.data);
                duration += part.duration_90k;
            }
            assert_eq!(joined, seg.data, "segment {}", seg.sequence);
            assert_eq!(duration, seg.duration_90k);
            assert_eq!(hls.part(seg.sequence, parts.len() as u32), None);
        }
    }

    #[test]
    fn low_latency_changes_no_media_bytes() {
        let mut classic = HlsSegmenter::new(HlsConfig::default());
        let mut ll = HlsSegmenter::new(ll_config(6));
        push_av(&mut classic, 0, 3_000, 30);
        push_av(&mut ll, 0, 3_000, 30);
        let a: Vec<Segment> = classic.segments().cloned().collect();
        let b: Vec<Segment> = ll.segments().cloned().collect();
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(a.duration_90k, b.duration_90k);
            assert!(b.data.len() > a.data.len(), "PAT/PMT at every part");
            assert_eq!(without_tables(&a.data), without_tables(&b.data));
        }
        assert!(classic.parts().next().is_none());
        assert_eq!(classic.latest(), None);
        assert!(!classic.playlist().contains("#EXT-X-PART"));
    }

    #[test]
    fn low_latency_playlist_tags_and_order() {
        let mut hls = HlsSegmenter::new(HlsConfig {
            low_latency: Some(LowLatencyConfig {
                part_target_ms: 200,
                part_segments: 1,
            }),
            ..HlsConfig::default()
        });
        // Keyframes every 30 frames: segments of 1 s, parts of 200 ms.
        push_av(&mut hls, 0, 2_450, 30);
        let playlist = hls.playlist();
        let expected = "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600
#EXT-X-PART-INF:PART-TARGET=0.200
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PROGRAM-DATE-TIME:2026-11-22T06:32:00.000Z
#EXTINF:1.000,
seg0.ts
#EXT-X-PROGRAM-DATE-TIME:2026-11-22T06:32:01.000Z
#EXT-X-PART:DURATION=0.200,URI=\"seg1.0.ts\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.200,URI=\"seg1.1.ts\"
#EXT-X-PART:DURATION=0.200,URI=\"seg1.2.ts\"
#EXT-X-PART:DURATION=0.200,URI=\"seg1.3.ts\"
#EXT-X-PART:DURATION=0.200,URI=\"seg1.4.ts\"
#EXTINF:1.000,
seg1.ts
#EXT-X-PROGRAM-DATE-TIME:2026-11-22T06:32:02.000Z
#EXT-X-PART:DURATION=0.200,URI=\"seg2.0.ts\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.200,URI=\"seg2.1.ts\"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg2.2.ts\"
";
        assert_eq!(playlist, expected);
        assert_eq!(hls.latest(), Some((2, 1)));
        // seg0's parts are still retrievable (one segment past the listed ones), not listed.
        assert!(hls.part(0, 0).is_some());

        hls.finish();
        let playlist = hls.playlist();
        assert!(
            playlist.ends_with("seg2.ts\n#EXT-X-ENDLIST\n"),
            "{playlist}"
        );
        assert!(!playlist.contains("PRELOAD-HINT"));
        assert!(
            !playlist.contains("seg1.0.ts"),
            "only the last segment's parts are listed"
        );
        assert!(
            playlist.contains(",URI=\"seg2.2.ts\"\n#EXTINF:0.4"),
            "{playlist}"
        );
        assert!(hls.part(0, 0).is_none());
    }

    #[test]
    fn open_segment_discontinuity_precedes_its_parts() {
        let mut hls = HlsSegmenter::new(ll_config(6));
        push_av(&mut hls, 0, 1_100, 30);
        hls.mark_discontinuity();
        // The discontinuity waits for the keyframe at 2 s.
        push_av(&mut hls, 1_100, 2_300, 30);
        let playlist = hls.playlist();
        let tail = playlist.split("seg1.ts\n").nth(1).unwrap_or_default();
        assert!(
            tail.starts_with("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:"),
            "{playlist}"
        );
        assert!(
            tail.contains("URI=\"seg2.0.ts\",INDEPENDENT=YES"),
            "{playlist}"
        );
    }

    #[test]
    fn has_part_follows_blocking_reload_rules() {
        let mut hls = HlsSegmenter::new(ll_config(6));
        assert!(!hls.has_part(0, None));
        assert!(!hls.has_part(0, Some(0)));
        assert_eq!(hls.latest(), None);
        // Up to 1.3 s: seg0 finished with 5 parts, seg1 has one finished part.
        push_av(&mut hls, 0, 1_300, 30);
        assert_eq!(hls.latest_sequence(), Some(0));
        assert_eq!(hls.latest(), Some((1, 0)));
        assert_eq!(hls.parts().filter(|p| p.sequence == 0).count(), 5);
        assert!(hls.has_part(0, None));
        assert!(!hls.has_part(1, None), "seg1 is not finished");
        assert!(hls.has_part(0, Some(4)));
        // Past the last part of seg0: the first part of seg1, which exists.
        assert!(hls.has_part(0, Some(5)));
        assert!(hls.has_part(0, Some(1_000)));
        assert!(hls.has_part(1, Some(0)));
        assert!(!hls.has_part(1, Some(1)));
        assert!(!hls.has_part(2, Some(0)));

        // Finish seg1 exactly at its keyframe: latest is its last part; asking one past it
        // means seg2's first part, which does not exist yet.
        push_av(&mut hls, 1_300, 2_001, 30);
        assert_eq!(hls.latest_sequence(), Some(1));
        assert_eq!(hls.latest(), Some((1, 4)));
        assert!(hls.has_part(1, Some(4)));
        assert!(!hls.has_part(1, Some(5)));
        let before = hls.version();
        push_av(&mut hls, 2_001, 2_300, 30);
        assert!(hls.version() > before);
        assert!(hls.has_part(1, Some(5)));
        assert!(
            hls.part(1, 5).is_none(),
            "the hint the segment cut overtook"
        );

        assert!(!hls.is_too_far_ahead(2, Some(2)));
        assert!(!hls.is_too_far_ahead(4, None));
        assert!(hls.is_too_far_ahead(5, None));
        assert!(!hls.is_too_far_ahead(2, Some(15)));
        assert!(hls.is_too_far_ahead(2, Some(16)));
    }

    #[test]
    fn version_changes_with_every_part_and_segment() {
        let mut hls = HlsSegmenter::new(ll_config(6));
        let mut seen = vec![hls.version()];
        let mut parts = 0;
        for step in 0..30 {
            push_av(&mut hls, step * 100, (step + 1) * 100, 30);
            let count = hls.parts().count() + hls.segments().count();
            let v = hls.version();
            if count != parts {
                assert!(v > *seen.last().unwrap_or(&0), "step {step}");
            }
            parts = count;
            seen.push(v);
        }
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        let v = hls.version();
        hls.finish();
        assert!(hls.version() > v);
    }

    #[test]
    fn parts_memory_is_bounded() {
        let mut hls = HlsSegmenter::new(HlsConfig {
            window: 3,
            retain_extra: 1,
            low_latency: Some(LowLatencyConfig {
                part_target_ms: 200,
                part_segments: 2,
            }),
            ..HlsConfig::default()
        });
        push_av(&mut hls, 0, 30_000, 30);
        let latest = hls.latest_sequence().unwrap();
        assert!(latest >= 28);
        let mut sequences: Vec<u64> = hls.parts().map(|p| p.sequence).collect();
        sequences.dedup();
        // part_segments + 1 finished segments, plus the open one.
        assert_eq!(sequences, vec![latest - 2, latest - 1, latest, latest + 1]);
        assert!(hls.parts().count() <= 4 * 5);
        assert!(hls.part(latest - 3, 0).is_none());
        assert!(hls.part(latest - 2, 0).is_some());
        // Listed: the parts of the last two finished segments and of the open one.
        let playlist = hls.playlist();
        assert!(
            !playlist.contains(&format!("seg{}.0.ts", latest - 2)),
            "{playlist}"
        );
        assert!(
            playlist.contains(&format!("seg{}.0.ts", latest - 1)),
            "{playlist}"
        );
        // Finished segments' parts share the segment's bytes.
        let seg = hls.segments().last().unwrap().data.clone();
        let part = hls.part(latest, 1).unwrap();
        let offset = part.as_ptr() as usize - seg.as_ptr() as usize;
        assert!(offset < seg.len());
    }

    #[test]
    fn audio_only_parts_are_all_independent() {
        let mut hls = HlsSegmenter::new(ll_config(6));
        hls.push(
            TagType::AUDIO,
            0,
            &Bytes::from_static(&[0xAF, 0x00, 0x12, 0x10]),
            WALL,
        )
        .unwrap();
        for i in 0..200u64 {
            let ms = (i * 1024 * 1000 + 22_050) / 44_100;
            let mut body = vec![0xAF, 0x01];
            body.extend(std::iter::repeat_n(0x21, 50));
            hls.push(TagType::AUDIO, ms, &Bytes::from(body), WALL)
                .unwrap();
        }
        let parts: Vec<&Part> = hls.parts().collect();
        assert!(parts.len() > 10);
        for p in &parts {
            assert!(p.independent);
            assert!(
                (180..=210).contains(&p.duration_ms()) || p.index > 0,
                "{}",
                p.duration_ms()
            );
        }
        // 9 AAC frames (209 ms) are nearest 200 ms, and PART-TARGET grows to cover them.
        assert!(hls
            .playlist()
            .contains("#EXT-X-PART-INF:PART-TARGET=0.209\n"));
    }
}
