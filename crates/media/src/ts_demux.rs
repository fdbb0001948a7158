//! An MPEG-2 transport stream demuxer that turns H.264, HEVC and AAC into FLV tag bodies
//! (ISO/IEC 13818-1 §2.4): what an SRT publisher sends, in the form the hub carries.
//!
//! Sans-I/O: [`TsDemuxer::push`] takes any run of bytes (SRT delivers 7 packets per message,
//! but nothing here relies on it) and [`TsDemuxer::next_tag`] hands out [`DemuxedTag`]s:
//! - H.264 (stream type 0x1B): a legacy AVC sequence header built from the stream's SPS and
//!   PPS whenever they change, then each access unit as AVCC with its composition time;
//! - HEVC (0x24): an Enhanced RTMP `hvc1` sequence start (an HEVCDecoderConfigurationRecord
//!   built from the VPS, SPS and PPS), then each access unit as `CodedFrames`;
//! - AAC in ADTS (0x0F): an AudioSpecificConfig sequence header whenever it changes, then each
//!   raw frame, timed from the PES timestamp plus 1024 samples per frame.
//!
//! Timestamps are the PES DTS (PTS for audio) in milliseconds, unwrapped past the 33-bit
//! range and rebased so the first is 1000 (tracks that start a little earlier keep their
//! distance). Only the first program, its first video and first
//! audio stream are read; other PIDs are skipped.
//!
//! Bounds: one PES is at most [`MAX_PES_LEN`] (a larger one is dropped and counted), at most
//! [`MAX_QUEUED_TAGS`] tags wait to be taken (older ones are dropped first and counted), the
//! partial packet kept between pushes is under 188 bytes.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use crate::avc::nal_type as avc_nal;
use crate::flv::TagType;
use crate::hevc::{nal_type as hevc_nal, nal_unit_type as hevc_nal_type};
use crate::ts::{StreamType, SYNC_BYTE, TS_PACKET_LEN};

/// The largest PES packet we assemble (a 4K keyframe fits; a hostile stream cannot make us
/// hold more).
pub const MAX_PES_LEN: usize = 8 * 1024 * 1024;
/// The most demuxed tags held until taken.
pub const MAX_QUEUED_TAGS: usize = 4096;
/// Parameter sets of one kind we keep (a stream has one or two; the bound is for hostile ones).
const MAX_PARAMETER_SETS: usize = 8;
/// The largest parameter set we keep.
const MAX_PARAMETER_SET_LEN: usize = 4096;
/// Where the output timeline starts (ms): room for tracks that start before the first
/// timestamp seen.
const CLOCK_ORIGIN_MS: i64 = 1_000;
/// The 33-bit PTS/DTS range.
const TIMESTAMP_RANGE: u64 = 1 << 33;
/// ADTS sampling frequencies by index (ISO/IEC 14496-3 Table 1.18).
const AAC_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// One demuxed frame as an FLV tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemuxedTag {
    /// Audio or video.
    pub tag_type: TagType,
    /// Decode time in ms: the stream's first timestamp is 1000.
    pub timestamp_ms: u32,
    /// The FLV tag body (legacy AVC/AAC or Enhanced RTMP HEVC).
    pub body: Bytes,
}

/// Counters of what the demuxer met.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemuxStats {
    /// Transport packets read.
    pub packets: u64,
    /// Bytes skipped looking for a sync byte.
    pub resync_bytes: u64,
    /// Continuity counter gaps on the streams we read (lost packets).
    pub continuity_errors: u64,
    /// PES packets dropped (too large, malformed, or lacking a timestamp).
    pub dropped_pes: u64,
    /// Tags dropped because nobody took them.
    pub dropped_tags: u64,
    /// Video access units dropped before the first parameter sets.
    pub frames_before_config: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    H264,
    Hevc,
    Aac,
}

#[derive(Debug, Default)]
struct Pes {
    data: BytesMut,
    /// Dropping the rest of this PES (it overran).
    skipping: bool,
    /// Continuity counter of the last packet.
    cc: Option<u8>,
}

/// The demuxer.
#[derive(Debug, Default)]
pub struct TsDemuxer {
    pending: BytesMut,
    pmt_pid: Option<u16>,
    video: Option<(u16, Codec)>,
    audio: Option<(u16, Codec)>,
    video_pes: Pes,
    audio_pes: Pes,
    clock: Clock,
    /// Parameter sets seen (H.264: SPS, PPS; HEVC: VPS, SPS, PPS), by kind.
    vps: Vec<Bytes>,
    sps: Vec<Bytes>,
    pps: Vec<Bytes>,
    /// The configuration record last sent (to send it again only when it changes).
    sent_video_config: Option<Bytes>,
    sent_audio_config: Option<[u8; 2]>,
    out: VecDeque<DemuxedTag>,
    stats: DemuxStats,
}

/// Unwraps 33-bit 90 kHz timestamps and rebases them to the first one.
#[derive(Debug, Default)]
struct Clock {
    first: Option<u64>,
    last_raw: u64,
    unwrapped: u64,
}

impl Clock {
    fn ms(&mut self, raw: u64) -> u32 {
        let raw = raw & (TIMESTAMP_RANGE - 1);
        match self.first {
            None => {
                self.first = Some(raw);
                self.unwrapped = raw;
            }
            Some(_) => {
                // The signed step from the last timestamp, modulo 2^33: a wrap is a small
                // forward step, a B-frame's earlier timestamp a small backward one.
                let step = raw.wrapping_sub(self.last_raw) & (TIMESTAMP_RANGE - 1);
                let signed = if step >= TIMESTAMP_RANGE / 2 {
                    step as i64 - TIMESTAMP_RANGE as i64
                } else {
                    step as i64
                };
                self.unwrapped = self.unwrapped.saturating_add_signed(signed);
            }
        }
        self.last_raw = raw;
        // Tracks start a little apart (an AAC encoder's priming puts audio ~23 ms before the
        // first video frame): the timeline starts at CLOCK_ORIGIN_MS so an earlier track is not
        // clamped onto a later one's start.
        let since = self.unwrapped as i64 - self.first.unwrap_or_default() as i64;
        (since / 90 + CLOCK_ORIGIN_MS).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// The ms of a raw timestamp relative to the last one seen, without moving the clock.
    fn offset_ms(&self, raw: u64) -> i64 {
        let step = raw.wrapping_sub(self.last_raw) & (TIMESTAMP_RANGE - 1);
        let signed = if step >= TIMESTAMP_RANGE / 2 {
            step as i64 - TIMESTAMP_RANGE as i64
        } else {
            step as i64
        };
        signed / 90
    }
}

impl TsDemuxer {
    /// A demuxer waiting for a PAT.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes of the transport stream.
    pub fn push(&mut self, data: &[u8]) {
        let mut input = data;
        if !self.pending.is_empty() {
            let need = TS_PACKET_LEN - self.pending.len();
            let take = need.min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() < TS_PACKET_LEN {
                return;
            }
            let packet = self.pending.split().freeze();
            self.packet(&packet);
        }
        while !input.is_empty() {
            if input[0] != SYNC_BYTE {
                let skip = input
                    .iter()
                    .position(|b| *b == SYNC_BYTE)
                    .unwrap_or(input.len());
                self.stats.resync_bytes += skip as u64;
                input = &input[skip..];
                continue;
            }
            if input.len() < TS_PACKET_LEN {
                self.pending.extend_from_slice(input);
                return;
            }
            let (packet, rest) = input.split_at(TS_PACKET_LEN);
            self.packet(packet);
            input = rest;
        }
    }

    /// Ends the stream: the PES packets still being assembled are demuxed.
    pub fn finish(&mut self) {
        self.flush(true);
        self.flush(false);
    }

    /// The next demuxed tag, if any.
    pub fn next_tag(&mut self) -> Option<DemuxedTag> {
        self.out.pop_front()
    }

    /// Counters.
    pub fn stats(&self) -> DemuxStats {
        self.stats
    }

    fn packet(&mut self, p: &[u8]) {
        self.stats.packets += 1;
        let pusi = p[1] & 0x40 != 0;
        let pid = u16::from_be_bytes([p[1] & 0x1F, p[2]]);
        let afc = (p[3] >> 4) & 0x03;
        let cc = p[3] & 0x0F;
        let mut start = 4;
        if afc & 0x02 != 0 {
            start += 1 + usize::from(p[4]);
        }
        if afc & 0x01 == 0 || start >= TS_PACKET_LEN {
            return;
        }
        let payload = &p[start..];
        if pid == 0 {
            self.pat(pusi, payload);
        } else if Some(pid) == self.pmt_pid {
            self.pmt(pusi, payload);
        } else if self.video.is_some_and(|(v, _)| v == pid) {
            self.pes_payload(true, pusi, cc, payload);
        } else if self.audio.is_some_and(|(a, _)| a == pid) {
            self.pes_payload(false, pusi, cc, payload);
        }
    }

    /// A PSI section from a packet's payload (sections that span packets are not needed for a
    /// PAT or a PMT of a few streams, and are ignored).
    fn section(pusi: bool, payload: &[u8]) -> Option<&[u8]> {
        if !pusi {
            return None;
        }
        let pointer = usize::from(*payload.first()?);
        let section = payload.get(1 + pointer..)?;
        let len = usize::from(u16::from_be_bytes([*section.get(1)?, *section.get(2)?]) & 0x0FFF);
        // table header (3) + section_length, without the CRC (4).
        section.get(..3 + len)?.get(..(3 + len).checked_sub(4)?)
    }

    fn pat(&mut self, pusi: bool, payload: &[u8]) {
        let Some(s) = Self::section(pusi, payload) else {
            return;
        };
        if s.first() != Some(&0x00) {
            return;
        }
        for entry in s.get(8..).unwrap_or_default().chunks_exact(4) {
            let program = u16::from_be_bytes([entry[0], entry[1]]);
            if program != 0 {
                self.pmt_pid = Some(u16::from_be_bytes([entry[2] & 0x1F, entry[3]]));
                return;
            }
        }
    }

    fn pmt(&mut self, pusi: bool, payload: &[u8]) {
        let Some(s) = Self::section(pusi, payload) else {
            return;
        };
        if s.first() != Some(&0x02) || s.len() < 12 {
            return;
        }
        let info_len = usize::from(u16::from_be_bytes([s[10], s[11]]) & 0x0FFF);
        let mut rest = s.get(12 + info_len..).unwrap_or_default();
        let (mut video, mut audio) = (None, None);
        while rest.len() >= 5 {
            let stream_type = StreamType(rest[0]);
            let pid = u16::from_be_bytes([rest[1] & 0x1F, rest[2]]);
            let es_len = usize::from(u16::from_be_bytes([rest[3], rest[4]]) & 0x0FFF);
            match stream_type {
                StreamType::H264 if video.is_none() => video = Some((pid, Codec::H264)),
                StreamType::HEVC if video.is_none() => video = Some((pid, Codec::Hevc)),
                StreamType::AAC_ADTS if audio.is_none() => audio = Some((pid, Codec::Aac)),
                _ => {}
            }
            rest = rest.get(5 + es_len..).unwrap_or_default();
        }
        if video != self.video {
            self.video_pes = Pes::default();
            self.video = video;
        }
        if audio != self.audio {
            self.audio_pes = Pes::default();
            self.audio = audio;
        }
    }

    fn pes_payload(&mut self, video: bool, pusi: bool, cc: u8, payload: &[u8]) {
        if pusi {
            self.flush(video);
        }
        let pes = if video {
            &mut self.video_pes
        } else {
            &mut self.audio_pes
        };
        if let Some(last) = pes.cc {
            if cc != (last + 1) & 0x0F && cc != last {
                self.stats.continuity_errors += 1;
            }
        }
        pes.cc = Some(cc);
        if pes.skipping || (!pusi && pes.data.is_empty()) {
            // The middle of a PES we did not see start: wait for the next one.
            return;
        }
        if pes.data.len() + payload.len() > MAX_PES_LEN {
            pes.data.clear();
            pes.skipping = true;
            self.stats.dropped_pes += 1;
            return;
        }
        pes.data.extend_from_slice(payload);
        // A PES that declares its length is complete once that much has come: demux it now
        // rather than at the next one (a frame sooner).
        let declared = match pes.data.get(4..6) {
            Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])),
            None => 0,
        };
        if declared > 0 && pes.data.len() >= 6 + declared {
            self.flush(video);
        }
    }

    /// Demuxes the PES assembled for the video or audio stream.
    fn flush(&mut self, video: bool) {
        let pes = if video {
            &mut self.video_pes
        } else {
            &mut self.audio_pes
        };
        pes.skipping = false;
        if pes.data.is_empty() {
            return;
        }
        let data = pes.data.split().freeze();
        let Some((pts, dts, body)) = parse_pes(&data) else {
            self.stats.dropped_pes += 1;
            return;
        };
        let codec = if video {
            self.video.map(|(_, c)| c)
        } else {
            self.audio.map(|(_, c)| c)
        };
        match codec {
            Some(Codec::H264) => self.video_access_unit(false, pts, dts, &body),
            Some(Codec::Hevc) => self.video_access_unit(true, pts, dts, &body),
            Some(Codec::Aac) => self.aac(pts, &body),
            None => {}
        }
    }

    fn emit(&mut self, tag_type: TagType, timestamp_ms: u32, body: Bytes) {
        if self.out.len() >= MAX_QUEUED_TAGS {
            self.out.pop_front();
            self.stats.dropped_tags += 1;
        }
        self.out.push_back(DemuxedTag {
            tag_type,
            timestamp_ms,
            body,
        });
    }

    fn video_access_unit(&mut self, hevc: bool, pts: u64, dts: u64, annexb: &[u8]) {
        let mut avcc = BytesMut::with_capacity(annexb.len() + 64);
        let mut keyframe = false;
        let mut sets_changed = false;
        for nal in annexb_nal_units(annexb) {
            let kind = if hevc {
                hevc_nal_type(nal).unwrap_or(0)
            } else {
                nal[0] & 0x1F
            };
            let set = match (hevc, kind) {
                (false, avc_nal::SPS) | (true, hevc_nal::SPS) => Some(&mut self.sps),
                (false, avc_nal::PPS) | (true, hevc_nal::PPS) => Some(&mut self.pps),
                (true, hevc_nal::VPS) => Some(&mut self.vps),
                _ => None,
            };
            if let Some(set) = set {
                sets_changed |= remember(set, nal);
                continue;
            }
            match (hevc, kind) {
                (false, avc_nal::AUD) | (true, hevc_nal::AUD) => continue,
                (false, avc_nal::IDR) => keyframe = true,
                (true, hevc_nal::IRAP_FIRST..=hevc_nal::IRAP_LAST) => keyframe = true,
                _ => {}
            }
            avcc.put_u32(nal.len() as u32);
            avcc.put_slice(nal);
        }
        let dts_ms = self.clock.ms(dts);
        let cts = self.clock.offset_ms(pts).clamp(-(1 << 23), (1 << 23) - 1) as i32;
        if sets_changed || self.sent_video_config.is_none() {
            let record = if hevc {
                hevc_record(&self.vps, &self.sps, &self.pps)
            } else {
                avc_record(&self.sps, &self.pps)
            };
            if let Some(record) = record {
                if self.sent_video_config.as_ref() != Some(&record) {
                    let mut body = BytesMut::with_capacity(record.len() + 5);
                    if hevc {
                        body.put_u8(0x80 | (1 << 4)); // IsExHeader, keyframe, SequenceStart
                        body.put_slice(b"hvc1");
                    } else {
                        body.put_slice(&[0x17, 0, 0, 0, 0]);
                    }
                    body.put_slice(&record);
                    self.emit(TagType::VIDEO, dts_ms, body.freeze());
                    self.sent_video_config = Some(record);
                }
            }
        }
        if avcc.is_empty() {
            return;
        }
        if self.sent_video_config.is_none() {
            self.stats.frames_before_config += 1;
            return;
        }
        let frame_type: u8 = if keyframe { 1 } else { 2 };
        let cts_bytes = &cts.to_be_bytes()[1..];
        let mut body = BytesMut::with_capacity(avcc.len() + 8);
        if hevc {
            body.put_u8(0x80 | (frame_type << 4) | 1); // CodedFrames
            body.put_slice(b"hvc1");
        } else {
            body.put_u8((frame_type << 4) | 7);
            body.put_u8(1);
        }
        body.put_slice(cts_bytes);
        body.put_slice(&avcc);
        self.emit(TagType::VIDEO, dts_ms, body.freeze());
    }

    fn aac(&mut self, pts: u64, mut data: &[u8]) {
        let mut first_ms = None;
        let mut frame_index = 0u64;
        while data.len() >= 7 {
            if data[0] != 0xFF || data[1] & 0xF0 != 0xF0 {
                self.stats.dropped_pes += 1;
                return;
            }
            let protection_absent = data[1] & 0x01 != 0;
            let profile = (data[2] >> 6) & 0x03;
            let rate_index = (data[2] >> 2) & 0x0F;
            let channels = ((data[2] & 0x01) << 2) | (data[3] >> 6);
            let frame_len = (usize::from(data[3] & 0x03) << 11)
                | (usize::from(data[4]) << 3)
                | usize::from(data[5] >> 5);
            let header_len = if protection_absent { 7 } else { 9 };
            let Some(rate) = AAC_RATES.get(usize::from(rate_index)).copied() else {
                self.stats.dropped_pes += 1;
                return;
            };
            if frame_len < header_len || frame_len > data.len() {
                self.stats.dropped_pes += 1;
                return;
            }
            let asc = [
                ((profile + 1) << 3) | (rate_index >> 1),
                ((rate_index & 1) << 7) | (channels << 3),
            ];
            let base = *first_ms.get_or_insert_with(|| self.clock.ms(pts));
            let ts = base + (frame_index * 1024 * 1000 / u64::from(rate)) as u32;
            if self.sent_audio_config != Some(asc) {
                self.emit(
                    TagType::AUDIO,
                    ts,
                    Bytes::copy_from_slice(&[0xAF, 0, asc[0], asc[1]]),
                );
                self.sent_audio_config = Some(asc);
            }
            let mut body = BytesMut::with_capacity(frame_len - header_len + 2);
            body.put_slice(&[0xAF, 1]);
            body.put_slice(&data[header_len..frame_len]);
            self.emit(TagType::AUDIO, ts, body.freeze());
            data = &data[frame_len..];
            frame_index += 1;
        }
    }
}

/// Adds a parameter set to `set` unless it holds it already; true if it was new. A new one
/// with the id of an old one replaces it (bounded by [`MAX_PARAMETER_SETS`]).
fn remember(set: &mut Vec<Bytes>, nal: &[u8]) -> bool {
    if nal.len() > MAX_PARAMETER_SET_LEN || set.iter().any(|s| s[..] == *nal) {
        return false;
    }
    // Streams repeat their parameter sets before every keyframe; a changed one replaces all
    // (an encoder restarting with new settings), which keeps the record to what is current.
    set.clear();
    set.push(Bytes::copy_from_slice(nal));
    set.truncate(MAX_PARAMETER_SETS);
    true
}

/// (PTS, DTS, payload) of a PES packet (ISO/IEC 13818-1 §2.4.3.6); DTS = PTS when absent.
fn parse_pes(data: &Bytes) -> Option<(u64, u64, Bytes)> {
    if data.get(..3)? != [0, 0, 1] {
        return None;
    }
    let flags = *data.get(7)?;
    let header_len = usize::from(*data.get(8)?);
    let body_start = 9 + header_len;
    let pes_len = usize::from(u16::from_be_bytes([*data.get(4)?, *data.get(5)?]));
    let end = if pes_len == 0 {
        data.len()
    } else {
        (6 + pes_len).min(data.len())
    };
    if body_start > end || flags & 0x80 == 0 {
        return None;
    }
    let pts = read_timestamp(data.get(9..14)?);
    let dts = if flags & 0x40 != 0 {
        read_timestamp(data.get(14..19)?)
    } else {
        pts
    };
    Some((pts, dts, data.slice(body_start..end)))
}

fn read_timestamp(b: &[u8]) -> u64 {
    (u64::from(b[0] >> 1) & 0x07) << 30
        | u64::from(b[1]) << 22
        | u64::from(b[2] >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4] >> 1)
}

/// The NAL units of an Annex B byte stream (start codes of 3 or 4 bytes), without trailing
/// zero bytes; empty units are skipped.
fn annexb_nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = find_start_code(data, 0).map(|(_, after)| after);
    std::iter::from_fn(move || loop {
        let start = pos?;
        let (end, next) = match find_start_code(data, start) {
            Some((at, after)) => (at, Some(after)),
            None => (data.len(), None),
        };
        pos = next;
        let mut nal = &data[start..end];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        if !nal.is_empty() {
            return Some(nal);
        }
        pos?;
    })
}

/// The next `00 00 01` at or after `from`: (its index, the index after it).
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let rest = data.get(from..)?;
    rest.windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|i| (from + i, from + i + 3))
}

/// An AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4.1) from SPS and PPS.
fn avc_record(sps: &[Bytes], pps: &[Bytes]) -> Option<Bytes> {
    let first = sps.first()?;
    if pps.is_empty() || first.len() < 4 {
        return None;
    }
    let mut r = BytesMut::new();
    r.put_slice(&[
        1,
        first[1],
        first[2],
        first[3],
        0xFF,
        0xE0 | sps.len() as u8,
    ]);
    for s in sps {
        r.put_u16(s.len() as u16);
        r.put_slice(s);
    }
    r.put_u8(pps.len() as u8);
    for p in pps {
        r.put_u16(p.len() as u16);
        r.put_slice(p);
    }
    Some(r.freeze())
}

/// An HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) from VPS, SPS and PPS; the
/// profile, tier and level come from the SPS's profile_tier_level (ITU-T H.265 §7.3.3).
fn hevc_record(vps: &[Bytes], sps: &[Bytes], pps: &[Bytes]) -> Option<Bytes> {
    let first = sps.first()?;
    if vps.is_empty() || pps.is_empty() {
        return None;
    }
    // NAL header (2 bytes), then vps id / max sub layers / nesting (1 byte), then the general
    // profile_tier_level: 12 bytes. Emulation prevention may hide in them: remove it first.
    let rbsp = crate::avc::remove_emulation_prevention(first.get(..first.len().min(32))?);
    let ptl = rbsp.get(3..15)?;
    let mut r = BytesMut::new();
    r.put_u8(1);
    r.put_slice(ptl); // profile space/tier/idc, compatibility (4), constraints (6), level
    r.put_slice(&[0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0]);
    // constantFrameRate 0, numTemporalLayers 1, temporalIdNested 1, lengthSizeMinusOne 3.
    r.put_u8(0x0F);
    r.put_u8(3);
    for (kind, sets) in [
        (hevc_nal::VPS, vps),
        (hevc_nal::SPS, sps),
        (hevc_nal::PPS, pps),
    ] {
        r.put_u8(0x80 | kind);
        r.put_u16(sets.len() as u16);
        for s in sets {
            r.put_u16(s.len() as u16);
            r.put_slice(s);
        }
    }
    Some(r.freeze())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::flv::{VideoCodec, VideoPacket, VideoTag};
    use crate::hevc::HevcDecoderConfig;
    use crate::ts::{TsMuxer, TsStreams};

    const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1F, 0xAC, 0xD9];
    const PPS: &[u8] = &[0x68, 0xEB, 0xE3];

    fn annexb(nals: &[&[u8]]) -> Vec<u8> {
        nals.iter()
            .flat_map(|n| [&[0u8, 0, 0, 1][..], n].concat())
            .collect()
    }

    #[test]
    fn h264_and_aac_come_back_as_flv_tags() {
        let mut m = TsMuxer::new(TsStreams {
            video: true,
            audio: true,
            hevc: false,
        });
        let mut ts = BytesMut::new();
        m.write_tables(&mut ts);
        let idr = annexb(&[&[0x09, 0xF0], SPS, PPS, &[0x65, 0x88, 0x84]]);
        m.write_video(&mut ts, 900_000, 903_000, true, &idr);
        // Two ADTS frames (44.1 kHz stereo AAC-LC) in one PES.
        let adts = |payload: &[u8]| {
            let len = 7 + payload.len();
            let mut f = vec![
                0xFF,
                0xF1,
                0x50,
                0x80 | (len >> 11) as u8,
                (len >> 3) as u8,
                ((len & 7) << 5) as u8 | 0x1F,
                0xFC,
            ];
            f.extend_from_slice(payload);
            f
        };
        let audio = [adts(&[1, 2, 3]), adts(&[4, 5])].concat();
        m.write_audio(&mut ts, 900_000, &audio);
        let p = annexb(&[&[0x09, 0xF0], &[0x41, 0x9A]]);
        m.write_video(&mut ts, 903_000, 903_000, false, &p);
        // Fed in odd-sized pieces, with garbage in front.
        let mut d = TsDemuxer::new();
        d.push(&[1, 2, 3]);
        for chunk in ts.chunks(100) {
            d.push(chunk);
        }
        d.finish();
        let tags: Vec<_> = std::iter::from_fn(|| d.next_tag()).collect();
        assert_eq!(d.stats().resync_bytes, 3);
        let video: Vec<_> = tags
            .iter()
            .filter(|t| t.tag_type == TagType::VIDEO)
            .collect();
        let audio: Vec<_> = tags
            .iter()
            .filter(|t| t.tag_type == TagType::AUDIO)
            .collect();
        assert_eq!(video.len(), 3, "{tags:?}");
        assert_eq!(&video[0].body[..5], &[0x17, 0, 0, 0, 0]);
        let config = crate::avc::AvcDecoderConfig::parse(&video[0].body[5..]).unwrap();
        assert_eq!((config.sps[0].as_ref(), config.pps[0].as_ref()), (SPS, PPS));
        // The keyframe: composition time 33 ms, the IDR slice alone (AUD, SPS, PPS removed).
        assert_eq!(
            &video[1].body[..],
            &[0x17, 1, 0, 0, 33, 0, 0, 0, 3, 0x65, 0x88, 0x84]
        );
        assert_eq!(video[1].timestamp_ms, 1000);
        assert_eq!(
            &video[2].body[..],
            &[0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9A]
        );
        assert_eq!(video[2].timestamp_ms, 1033);
        assert_eq!(&audio[0].body[..], &[0xAF, 0, 0x12, 0x10]);
        assert_eq!(&audio[1].body[..], &[0xAF, 1, 1, 2, 3]);
        assert_eq!(&audio[2].body[..], &[0xAF, 1, 4, 5]);
        assert_eq!((audio[1].timestamp_ms, audio[2].timestamp_ms), (1000, 1023));
    }

    #[test]
    fn hevc_comes_back_as_enhanced_rtmp() {
        let vps: &[u8] = &[0x40, 0x01, 0x0C, 0x01];
        // SPS: header, vps id etc., then profile_tier_level: Main, compat 0x60000000,
        // constraints B0 00.., level 93.
        let sps: &[u8] = &[
            0x42, 0x01, 0x01, 0x01, 0x60, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 93, 0xA0,
        ];
        let pps: &[u8] = &[0x44, 0x01, 0xC1];
        let mut m = TsMuxer::new(TsStreams {
            video: true,
            audio: false,
            hevc: true,
        });
        let mut ts = BytesMut::new();
        m.write_tables(&mut ts);
        let idr = annexb(&[&[0x46, 0x01, 0x50], vps, sps, pps, &[0x26, 0x01, 0xAF]]);
        m.write_video(&mut ts, 90_000, 90_000, true, &idr);
        let mut d = TsDemuxer::new();
        d.push(&ts);
        d.finish();
        let tags: Vec<_> = std::iter::from_fn(|| d.next_tag()).collect();
        assert_eq!(tags.len(), 2, "{tags:?}");
        let head = VideoTag::parse(&tags[0].body).unwrap();
        assert_eq!(
            (head.codec, head.packet),
            (VideoCodec::Hevc, VideoPacket::SequenceHeader)
        );
        let config = HevcDecoderConfig::parse(head.payload(&tags[0].body)).unwrap();
        assert_eq!(config.codec_string(), "hvc1.1.6.L93.B0");
        let frame = VideoTag::parse(&tags[1].body).unwrap();
        assert!(frame.is_keyframe());
        assert_eq!(
            frame.payload(&tags[1].body),
            &[0, 0, 0, 3, 0x26, 0x01, 0xAF]
        );
    }

    #[test]
    fn timestamps_unwrap_past_33_bits() {
        let mut c = Clock::default();
        assert_eq!(c.ms(TIMESTAMP_RANGE - 90_000), 1_000);
        assert_eq!(c.ms(90_000), 3_000);
        assert_eq!(c.offset_ms(87_000), -33);
        // A track a little behind keeps its distance.
        assert_eq!(c.ms(90_000 - 2_070), 2_977);
    }
}
