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

use std::collections::VecDeque;
use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use crate::aac::{adts_header, AudioSpecificConfig, ADTS_HEADER_LEN};
use crate::avc::AvcDecoderConfig;
use crate::flv::{
    AacPacketType, AudioTagHeader, AvcPacketType, FrameType, SoundFormat, TagType, VideoCodecId,
    VideoTagHeader,
};
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

/// Segmenter settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsConfig {
    /// Cut at the first keyframe once a segment is this long (SPEC §2.1: 1–2 s segments).
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
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            target_duration_ms: 1_000,
            window: 6,
            retain_extra: 2,
            max_segment_duration_ms: 10_000,
            max_segment_bytes: 32 * 1024 * 1024,
        }
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
    avc: Option<AvcDecoderConfig>,
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
}

impl HlsSegmenter {
    /// A segmenter with `config` (a `window` of 0 is treated as 1).
    pub fn new(mut config: HlsConfig) -> Self {
        config.window = config.window.max(1);
        config.target_duration_ms = config.target_duration_ms.max(1);
        Self {
            config,
            avc: None,
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
        self.ended = true;
    }

    fn push_video(&mut self, ts_ms: u64, body: &Bytes, wallclock: i64) -> Result<(), MediaError> {
        let header = VideoTagHeader::parse(body)?;
        if header.codec_id != VideoCodecId::AVC {
            self.stats.ignored_tags += 1;
            return Ok(());
        }
        let payload = body.get(header.encoded_len()..).unwrap_or_default();
        match header.avc_packet_type {
            Some(AvcPacketType::SEQUENCE_HEADER) => {
                self.avc = Some(AvcDecoderConfig::parse(payload)?);
                self.update_streams();
                return Ok(());
            }
            Some(AvcPacketType::NALU) if header.frame_type != FrameType::COMMAND_FRAME => {}
            _ => {
                self.stats.ignored_tags += 1;
                return Ok(());
            }
        }
        let keyframe = header.is_keyframe();
        let Some(avc) = &self.avc else {
            self.stats.dropped_frames += 1;
            return Ok(());
        };
        if self.current.is_none() && !keyframe {
            self.stats.dropped_frames += 1;
            return Ok(());
        }
        self.scratch.clear();
        avc.avcc_to_annexb(payload, keyframe, &mut self.scratch)?;

        let dts = self.map_timestamp(VIDEO, ts_ms);
        let cts_90k = u64::try_from(header.composition_time_ms).unwrap_or(0) * TICKS_PER_MS;
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
        self.ensure_segment(dts, wallclock, keyframe);
        if let Some(seg) = &mut self.current {
            self.muxer
                .write_video(&mut seg.data, dts, dts + cts_90k, keyframe, &self.scratch);
            seg.end_90k = seg.end_90k.max(frame_end);
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
        let has_video = self.avc.is_some();
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
        self.ensure_segment(pts, wallclock, !has_video);
        if let Some(seg) = &mut self.current {
            self.muxer.write_audio(&mut seg.data, pts, &self.scratch);
            seg.end_90k = seg.end_90k.max(frame_end);
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
            video: self.avc.is_some(),
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
            });
            self.next_sequence += 1;
        }
    }

    fn close_segment(&mut self, end_90k: u64) {
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
        let media_sequence = self
            .segments()
            .next()
            .map(|s| s.sequence)
            .unwrap_or(self.next_sequence);
        let discontinuity_sequence = self.evicted_discontinuities
            + self
                .segments
                .iter()
                .take(self.unlisted())
                .filter(|s| s.discontinuity)
                .count() as u64;
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target_secs}\n#EXT-X-MEDIA-SEQUENCE:{media_sequence}\n"
        );
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
            let _ = write!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:{}.{:03},\n{}\n",
                format_rfc3339_ms(seg.program_date_time_ms),
                ms / 1000,
                ms % 1000,
                seg.name()
            );
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }

    /// The RFC 6381 `CODECS` attribute for a master playlist, e.g. `avc1.64001f,mp4a.40.2`;
    /// `None` until a sequence header has been seen.
    pub fn codecs(&self) -> Option<String> {
        let parts: Vec<String> = self
            .avc
            .iter()
            .map(AvcDecoderConfig::codec_string)
            .chain(self.aac.iter().map(AudioSpecificConfig::codec_string))
            .collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// The current AVC configuration, if any (e.g. for the picture size via
    /// [`AvcDecoderConfig::parse_sps`]).
    pub fn video_config(&self) -> Option<&AvcDecoderConfig> {
        self.avc.as_ref()
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
}
