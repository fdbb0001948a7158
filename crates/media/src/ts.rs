//! An MPEG-2 transport stream muxer for H.264 and AAC (ISO/IEC 13818-1 §2.4).
//!
//! One program: PAT on PID 0, PMT on [`PMT_PID`], H.264 (stream type 0x1B) or HEVC (0x24) on
//! [`VIDEO_PID`] and
//! AAC in ADTS (0x0F) on [`AUDIO_PID`]. The PCR rides on the video PID, or on the audio PID for
//! audio-only streams. Packets are appended to a caller-owned `BytesMut`; the muxer allocates
//! nothing per packet or per frame.

use bytes::{BufMut, BytesMut};

/// Every transport stream packet is 188 bytes (ISO/IEC 13818-1 §2.4.3.2).
pub const TS_PACKET_LEN: usize = 188;
/// `sync_byte` (ISO/IEC 13818-1 §2.4.3.3).
pub const SYNC_BYTE: u8 = 0x47;
/// The PAT's PID (ISO/IEC 13818-1 Table 2-3).
pub const PAT_PID: u16 = 0x0000;
/// The PMT's PID (our choice, as ffmpeg's).
pub const PMT_PID: u16 = 0x1000;
/// The H.264 elementary stream's PID.
pub const VIDEO_PID: u16 = 0x0100;
/// The AAC elementary stream's PID.
pub const AUDIO_PID: u16 = 0x0101;
/// The 33-bit PTS/DTS/PCR base wraps here (ISO/IEC 13818-1 §2.4.3.7).
pub const TIMESTAMP_MASK: u64 = (1 << 33) - 1;

const PAYLOAD_LEN: usize = TS_PACKET_LEN - 4;
const PROGRAM_NUMBER: u16 = 1;
const TRANSPORT_STREAM_ID: u16 = 1;

/// `stream_type` (ISO/IEC 13818-1 Table 2-34): an open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamType(pub u8);

impl StreamType {
    /// AVC video, ITU-T H.264 (0x1B).
    pub const H264: Self = Self(0x1B);
    /// HEVC video, ITU-T H.265 (0x24).
    pub const HEVC: Self = Self(0x24);
    /// ISO/IEC 13818-7 audio with ADTS transport syntax (0x0F).
    pub const AAC_ADTS: Self = Self(0x0F);
}

/// `stream_id` values for PES packets (ISO/IEC 13818-1 Table 2-22).
const STREAM_ID_VIDEO: u8 = 0xE0;
const STREAM_ID_AUDIO: u8 = 0xC0;

/// Which elementary streams the PMT announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TsStreams {
    /// Video on [`VIDEO_PID`]: H.264, or HEVC with [`TsStreams::hevc`].
    pub video: bool,
    /// The video is HEVC (stream type 0x24) rather than H.264.
    pub hevc: bool,
    /// AAC on [`AUDIO_PID`].
    pub audio: bool,
}

/// The transport stream muxer: the announced streams, PMT version and continuity counters.
#[derive(Debug, Clone)]
pub struct TsMuxer {
    streams: TsStreams,
    pmt_version: u8,
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    cc_audio: u8,
}

impl TsMuxer {
    /// A muxer announcing `streams`.
    pub fn new(streams: TsStreams) -> Self {
        Self {
            streams,
            pmt_version: 0,
            cc_pat: 0,
            cc_pmt: 0,
            cc_video: 0,
            cc_audio: 0,
        }
    }

    /// The streams the PMT announces.
    pub fn streams(&self) -> TsStreams {
        self.streams
    }

    /// Changes the announced streams; bumps the PMT `version_number` when they differ. Write the
    /// tables again afterwards. Returns whether anything changed.
    pub fn set_streams(&mut self, streams: TsStreams) -> bool {
        if streams == self.streams {
            return false;
        }
        self.streams = streams;
        self.pmt_version = (self.pmt_version + 1) & 0x1F;
        true
    }

    /// The PID carrying the PCR.
    pub fn pcr_pid(&self) -> u16 {
        if self.streams.video || !self.streams.audio {
            VIDEO_PID
        } else {
            AUDIO_PID
        }
    }

    /// Appends one PAT and one PMT packet (ISO/IEC 13818-1 §2.4.4.3, §2.4.4.8). Call at the
    /// start of every segment so each can be decoded alone.
    pub fn write_tables(&mut self, out: &mut BytesMut) {
        let mut section = [0u8; 32];
        // PAT: table_id 0, one program pointing to the PMT.
        let pat = [
            0x00,
            0xB0,
            13, // section_syntax_indicator, '0', reserved, section_length
            (TRANSPORT_STREAM_ID >> 8) as u8,
            TRANSPORT_STREAM_ID as u8,
            0xC1, // reserved, version 0, current_next_indicator
            0x00,
            0x00, // section_number, last_section_number
            (PROGRAM_NUMBER >> 8) as u8,
            PROGRAM_NUMBER as u8,
            0xE0 | (PMT_PID >> 8) as u8,
            PMT_PID as u8,
        ];
        section[..pat.len()].copy_from_slice(&pat);
        let len = finish_section(&mut section, pat.len());
        write_psi_packet(out, PAT_PID, &mut self.cc_pat, &section[..len]);

        // PMT: table_id 2.
        let pcr_pid = self.pcr_pid();
        let mut n = 0;
        let mut put = |b: u8| {
            section[n] = b;
            n += 1;
        };
        let stream_count = usize::from(self.streams.video) + usize::from(self.streams.audio);
        let section_length = (9 + 5 * stream_count + 4) as u8;
        for b in [
            0x02,
            0xB0,
            section_length,
            (PROGRAM_NUMBER >> 8) as u8,
            PROGRAM_NUMBER as u8,
            0xC1 | (self.pmt_version << 1),
            0x00,
            0x00,
            0xE0 | (pcr_pid >> 8) as u8,
            pcr_pid as u8,
            0xF0,
            0x00, // program_info_length 0
        ] {
            put(b);
        }
        let mut entries = [
            (
                false,
                if self.streams.hevc {
                    StreamType::HEVC
                } else {
                    StreamType::H264
                },
                VIDEO_PID,
            ),
            (false, StreamType::AAC_ADTS, AUDIO_PID),
        ];
        entries[0].0 = self.streams.video;
        entries[1].0 = self.streams.audio;
        for (present, stream_type, pid) in entries {
            if present {
                for b in [
                    stream_type.0,
                    0xE0 | (pid >> 8) as u8,
                    pid as u8,
                    0xF0,
                    0x00,
                ] {
                    put(b);
                }
            }
        }
        let len = finish_section(&mut section, n);
        write_psi_packet(out, PMT_PID, &mut self.cc_pmt, &section[..len]);
    }

    /// Appends one H.264 or HEVC access unit in Annex B form as a PES packet (ISO/IEC 13818-1
    /// §2.4.3.6) with PTS and DTS in 90 kHz units (DTS omitted when equal). The first packet
    /// carries the PCR (when video carries it) and, on keyframes, `random_access_indicator`.
    pub fn write_video(
        &mut self,
        out: &mut BytesMut,
        dts_90k: u64,
        pts_90k: u64,
        keyframe: bool,
        annexb: &[u8],
    ) {
        let mut header = [0u8; 19];
        let header_len = pes_header(&mut header, STREAM_ID_VIDEO, pts_90k, dts_90k, annexb.len());
        let pcr = (self.pcr_pid() == VIDEO_PID).then_some(dts_90k);
        write_pes(
            out,
            VIDEO_PID,
            &mut self.cc_video,
            &header[..header_len],
            annexb,
            pcr,
            keyframe,
        );
    }

    /// Appends ADTS-framed AAC (one or more frames) as a PES packet with PTS = DTS. Audio
    /// carries the PCR only in audio-only streams; every audio PES is a random access point.
    pub fn write_audio(&mut self, out: &mut BytesMut, pts_90k: u64, adts: &[u8]) {
        let mut header = [0u8; 19];
        let header_len = pes_header(&mut header, STREAM_ID_AUDIO, pts_90k, pts_90k, adts.len());
        let pcr = (self.pcr_pid() == AUDIO_PID).then_some(pts_90k);
        write_pes(
            out,
            AUDIO_PID,
            &mut self.cc_audio,
            &header[..header_len],
            adts,
            pcr,
            !self.streams.video,
        );
    }
}

/// Writes the PES header (ISO/IEC 13818-1 Table 2-21) into `buf`; returns its length.
fn pes_header(buf: &mut [u8; 19], stream_id: u8, pts: u64, dts: u64, payload_len: usize) -> usize {
    let with_dts = dts != pts;
    let header_data_len: usize = if with_dts { 10 } else { 5 };
    let pes_len = 3 + header_data_len + payload_len;
    // 0 ("unbounded") is allowed for video only; audio frames are far below the limit.
    let pes_len = if pes_len > 0xFFFF { 0 } else { pes_len as u16 };
    buf[..9].copy_from_slice(&[
        0x00,
        0x00,
        0x01,
        stream_id,
        (pes_len >> 8) as u8,
        pes_len as u8,
        0x80, // '10', not scrambled, no priority/alignment/copyright/original
        if with_dts { 0xC0 } else { 0x80 }, // PTS_DTS_flags
        header_data_len as u8,
    ]);
    if with_dts {
        encode_timestamp(&mut buf[9..14], 0x3, pts);
        encode_timestamp(&mut buf[14..19], 0x1, dts);
        19
    } else {
        encode_timestamp(&mut buf[9..14], 0x2, pts);
        14
    }
}

/// A 33-bit PTS or DTS with its 4-bit prefix and marker bits (ISO/IEC 13818-1 §2.4.3.7).
fn encode_timestamp(buf: &mut [u8], prefix: u8, ts: u64) {
    let ts = ts & TIMESTAMP_MASK;
    buf[0] = (prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1;
    buf[1] = (ts >> 22) as u8;
    buf[2] = (((ts >> 15) as u8 & 0x7F) << 1) | 1;
    buf[3] = (ts >> 7) as u8;
    buf[4] = ((ts as u8 & 0x7F) << 1) | 1;
}

/// `program_clock_reference` with base = `pcr_90k` and extension 0 (ISO/IEC 13818-1 §2.4.3.5).
fn encode_pcr(buf: &mut [u8], pcr_90k: u64) {
    let base = pcr_90k & TIMESTAMP_MASK;
    buf[0] = (base >> 25) as u8;
    buf[1] = (base >> 17) as u8;
    buf[2] = (base >> 9) as u8;
    buf[3] = (base >> 1) as u8;
    buf[4] = ((base as u8 & 1) << 7) | 0x7E;
    buf[5] = 0;
}

/// Splits a PES (`header` then `data`) into transport packets. The first packet sets
/// `payload_unit_start_indicator` and may carry an adaptation field with the PCR and
/// `random_access_indicator`; the last is padded with adaptation-field stuffing
/// (ISO/IEC 13818-1 §2.4.3.4–2.4.3.5).
fn write_pes(
    out: &mut BytesMut,
    pid: u16,
    cc: &mut u8,
    header: &[u8],
    data: &[u8],
    pcr: Option<u64>,
    random_access: bool,
) {
    let total = header.len() + data.len();
    out.reserve(total.div_ceil(PAYLOAD_LEN - 8) * TS_PACKET_LEN + TS_PACKET_LEN);
    let mut written = 0;
    let mut first = true;
    while written < total {
        let mut af = [0u8; 7];
        let mut af_n = 0;
        if first && (pcr.is_some() || random_access) {
            af[0] = if random_access { 0x40 } else { 0 };
            af_n = 1;
            if let Some(pcr) = pcr {
                af[0] |= 0x10;
                encode_pcr(&mut af[1..7], pcr.saturating_sub(PCR_LEAD_90K));
                af_n = 7;
            }
        }
        let af_total = if af_n > 0 { 1 + af_n } else { 0 };
        let capacity = PAYLOAD_LEN - af_total;
        let n = (total - written).min(capacity);
        let stuffing = capacity - n;
        let has_af = af_total > 0 || stuffing > 0;

        out.put_u8(SYNC_BYTE);
        out.put_u16((u16::from(first) << 14) | (pid & 0x1FFF));
        out.put_u8(if has_af { 0x30 } else { 0x10 } | *cc);
        *cc = (*cc + 1) & 0x0F;
        if af_n > 0 {
            out.put_u8((af_n + stuffing) as u8);
            out.put_slice(&af[..af_n]);
            out.put_bytes(0xFF, stuffing);
        } else if stuffing > 0 {
            out.put_u8((stuffing - 1) as u8);
            if stuffing >= 2 {
                out.put_u8(0x00);
                out.put_bytes(0xFF, stuffing - 2);
            }
        }
        let from_header = header.len().saturating_sub(written).min(n);
        if from_header > 0 {
            out.put_slice(&header[written..written + from_header]);
        }
        let data_start = (written + from_header).saturating_sub(header.len());
        out.put_slice(&data[data_start..data_start + (n - from_header)]);
        written += n;
        first = false;
    }
}

/// How far the PCR runs ahead of (below) the DTS it accompanies, so the decoder model has
/// time to decode: 0.1 s. The HLS packager starts timestamps well above this.
pub const PCR_LEAD_90K: u64 = 9_000;

/// Appends CRC_32 to a PSI section of `len` bytes in `section`; returns the new length.
fn finish_section(section: &mut [u8; 32], len: usize) -> usize {
    let crc = crc32_mpeg2(&section[..len]).to_be_bytes();
    section[len..len + 4].copy_from_slice(&crc);
    len + 4
}

/// One PSI packet: header, `pointer_field` 0, the section, 0xFF padding.
fn write_psi_packet(out: &mut BytesMut, pid: u16, cc: &mut u8, section: &[u8]) {
    out.reserve(TS_PACKET_LEN);
    out.put_u8(SYNC_BYTE);
    out.put_u16(0x4000 | pid);
    out.put_u8(0x10 | *cc);
    *cc = (*cc + 1) & 0x0F;
    out.put_u8(0);
    out.put_slice(section);
    out.put_bytes(0xFF, PAYLOAD_LEN - 1 - section.len());
}

/// CRC-32/MPEG-2 (ISO/IEC 13818-1 Annex A): polynomial 0x04C11DB7, initial 0xFFFFFFFF, no
/// reflection, no final XOR.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = (crc << 8) ^ CRC_TABLE[usize::from((crc >> 24) as u8 ^ b)];
    }
    crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn packets(buf: &[u8]) -> Vec<&[u8]> {
        assert_eq!(buf.len() % TS_PACKET_LEN, 0, "whole packets only");
        buf.chunks(TS_PACKET_LEN).collect()
    }

    fn pid(p: &[u8]) -> u16 {
        u16::from_be_bytes([p[1], p[2]]) & 0x1FFF
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    }

    #[test]
    fn pat_and_pmt_bytes() {
        let mut m = TsMuxer::new(TsStreams {
            video: true,
            audio: true,
            hevc: false,
        });
        let mut out = BytesMut::new();
        m.write_tables(&mut out);
        let p = packets(&out);
        assert_eq!(p.len(), 2);
        // ffmpeg writes byte-identical PAT sections for program 1 / PMT PID 0x1000.
        assert_eq!(
            &p[0][..21],
            &[
                0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00,
                0x01, 0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2
            ]
        );
        assert!(p[0][21..].iter().all(|b| *b == 0xFF));
        assert_eq!(pid(p[1]), PMT_PID);
        // PCR PID 0x100, H.264 on 0x100, AAC on 0x101.
        assert_eq!(
            &p[1][5..27],
            &[
                0x02, 0xB0, 0x17, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x00, 0xF0, 0x00, 0x1B, 0xE1,
                0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00
            ]
        );
        let section = &p[1][5..31];
        assert_eq!(
            crc32_mpeg2(section),
            0,
            "CRC over a section including its CRC is 0"
        );

        // Audio-only: PCR on the audio PID, version bumped.
        assert!(m.set_streams(TsStreams {
            video: false,
            audio: true,
            hevc: false,
        }));
        out.clear();
        m.write_tables(&mut out);
        let p = packets(&out);
        assert_eq!(&p[1][10..15], &[0xC3, 0x00, 0x00, 0xE1, 0x01]);
        assert_eq!(p[1][3] & 0x0F, 1, "PMT continuity counter advanced");
    }

    #[test]
    fn pes_packetization_sizes_counters_and_stuffing() {
        let mut m = TsMuxer::new(TsStreams {
            video: true,
            audio: true,
            hevc: false,
        });
        let mut out = BytesMut::new();
        let mut cc = 0u8;
        for len in [
            0usize, 1, 2, 150, 157, 158, 159, 160, 165, 166, 167, 168, 183, 184, 185, 1000, 5000,
        ] {
            out.clear();
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            m.write_video(&mut out, 200_000, 206_000, true, &data);
            let ps = packets(&out);
            let mut payload = Vec::new();
            for (i, p) in ps.iter().enumerate() {
                assert_eq!(p[0], SYNC_BYTE);
                assert_eq!(pid(p), VIDEO_PID);
                assert_eq!(p[1] & 0x40 != 0, i == 0, "PUSI on the first packet only");
                assert_eq!(p[3] & 0x0F, cc, "continuity counter");
                cc = (cc + 1) & 0x0F;
                let afc = (p[3] >> 4) & 0x03;
                let start = if afc == 0x03 {
                    5 + usize::from(p[4])
                } else {
                    4
                };
                if i == 0 {
                    assert_eq!(afc, 3);
                    assert_eq!(p[5] & 0x50, 0x50, "PCR flag and random access");
                }
                payload.extend_from_slice(&p[start..]);
            }
            // PES header: start code, video stream id, PTS+DTS.
            assert_eq!(&payload[..4], &[0, 0, 1, 0xE0]);
            assert_eq!(payload[7], 0xC0);
            assert_eq!(&payload[19..], &data[..], "len {len}");
        }
    }

    #[test]
    fn audio_pes_length_and_pts_only() {
        let mut m = TsMuxer::new(TsStreams {
            video: false,
            audio: true,
            hevc: false,
        });
        let mut out = BytesMut::new();
        m.write_audio(&mut out, 0x1_2345_6789, &[0xAB; 300]);
        let p = packets(&out);
        assert_eq!(p.len(), 2);
        assert_eq!(pid(p[0]), AUDIO_PID);
        // adaptation field: length 7, flags random access + PCR.
        assert_eq!(&p[0][4..6], &[7, 0x50]);
        let pes = &p[0][12..];
        assert_eq!(&pes[..9], &[0, 0, 1, 0xC0, 0x01, 0x34, 0x80, 0x80, 5]);
        // PTS 0x1_2345_6789: '0010' 1 00 1 ...
        let ts = 0x1_2345_6789u64;
        let mut expected = [0u8; 5];
        encode_timestamp(&mut expected, 2, ts);
        assert_eq!(&pes[9..14], &expected);
        let decoded = (u64::from(pes[9] >> 1) & 7) << 30
            | u64::from(pes[10]) << 22
            | u64::from(pes[11] >> 1) << 15
            | u64::from(pes[12]) << 7
            | u64::from(pes[13] >> 1);
        assert_eq!(decoded, ts);
    }
}
