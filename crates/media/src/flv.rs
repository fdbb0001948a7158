//! FLV: tag headers, the file header and a streaming tag reader (FLV spec v10.1 Annex E).
//!
//! RTMP carries FLV tag *bodies* (audio, video and script data messages), so the header types
//! here serve both the RTMP ingest and FLV files. [`VideoTag`] also reads Enhanced RTMP's
//! extended video header (veovera Enhanced RTMP v1/v2: `IsExHeader`, a `PacketType` and a
//! FourCC), which carries HEVC, AV1 and VP9 in FLV.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::MediaError;

/// The size of an FLV tag header (FLV spec v10.1 Annex E.4.1).
pub const TAG_HEADER_LEN: usize = 11;
/// The size of the FLV file header without `PreviousTagSize0` (FLV spec v10.1 Annex E.2).
pub const FILE_HEADER_LEN: usize = 9;
/// The largest body the 24-bit `DataSize` field can declare.
pub const MAX_TAG_BODY_LEN: usize = 0x00FF_FFFF;
/// Our default cap on one tag body in [`FlvReader`]: generous for 4K keyframes.
pub const DEFAULT_MAX_TAG_BODY_LEN: usize = 8 * 1024 * 1024;
/// The largest `DataOffset` the reader skips to (the header is 9 bytes; anything more is padding).
pub const MAX_FILE_HEADER_LEN: usize = 1024;

/// `TagType` (FLV spec v10.1 Annex E.4.1): an open newtype so unknown values round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagType(pub u8);

impl TagType {
    /// Audio (8).
    pub const AUDIO: Self = Self(8);
    /// Video (9).
    pub const VIDEO: Self = Self(9);
    /// Script data, e.g. `onMetaData` (18).
    pub const SCRIPT_DATA: Self = Self(18);
}

/// Video `FrameType` (FLV spec v10.1 Annex E.4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameType(pub u8);

impl FrameType {
    /// A seekable frame: for AVC, an IDR picture (1).
    pub const KEYFRAME: Self = Self(1);
    /// A non-seekable frame (2).
    pub const INTER_FRAME: Self = Self(2);
    /// H.263 only (3).
    pub const DISPOSABLE_INTER_FRAME: Self = Self(3);
    /// Reserved for server use (4).
    pub const GENERATED_KEYFRAME: Self = Self(4);
    /// Video info / command frame (5).
    pub const COMMAND_FRAME: Self = Self(5);
}

/// Video `CodecID` (FLV spec v10.1 Annex E.4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoCodecId(pub u8);

impl VideoCodecId {
    /// AVC / H.264 (7).
    pub const AVC: Self = Self(7);
}

/// `AVCPacketType` (FLV spec v10.1 Annex E.4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvcPacketType(pub u8);

impl AvcPacketType {
    /// The body is an AVCDecoderConfigurationRecord (0).
    pub const SEQUENCE_HEADER: Self = Self(0);
    /// The body is one access unit of length-prefixed NAL units (1).
    pub const NALU: Self = Self(1);
    /// End of sequence; the body is empty (2).
    pub const END_OF_SEQUENCE: Self = Self(2);
}

/// `VideoTagHeader` (FLV spec v10.1 Annex E.4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTagHeader {
    /// `FrameType`, the upper 4 bits of the first byte.
    pub frame_type: FrameType,
    /// `CodecID`, the lower 4 bits.
    pub codec_id: VideoCodecId,
    /// `AVCPacketType`, present when the codec is AVC.
    pub avc_packet_type: Option<AvcPacketType>,
    /// `CompositionTime`, a signed 24-bit offset in milliseconds (PTS − DTS); 0 unless AVC.
    pub composition_time_ms: i32,
}

impl VideoTagHeader {
    /// Parses the header at the start of a video tag body.
    pub fn parse(body: &[u8]) -> Result<Self, MediaError> {
        const WHAT: &str = "FLV VideoTagHeader";
        let first = *body.first().ok_or(MediaError::truncated(WHAT))?;
        let frame_type = FrameType(first >> 4);
        let codec_id = VideoCodecId(first & 0x0F);
        if codec_id != VideoCodecId::AVC {
            return Ok(Self {
                frame_type,
                codec_id,
                avc_packet_type: None,
                composition_time_ms: 0,
            });
        }
        let rest = body.get(1..5).ok_or(MediaError::truncated(WHAT))?;
        let raw = u32::from_be_bytes([0, rest[1], rest[2], rest[3]]);
        // Sign-extend SI24.
        let composition_time_ms = ((raw << 8) as i32) >> 8;
        Ok(Self {
            frame_type,
            codec_id,
            avc_packet_type: Some(AvcPacketType(rest[0])),
            composition_time_ms,
        })
    }

    /// The number of body bytes the header occupies (5 for AVC, 1 otherwise).
    pub fn encoded_len(&self) -> usize {
        if self.avc_packet_type.is_some() {
            5
        } else {
            1
        }
    }

    /// Appends the header to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        out.put_u8((self.frame_type.0 << 4) | (self.codec_id.0 & 0x0F));
        if let Some(packet_type) = self.avc_packet_type {
            out.put_u8(packet_type.0);
            let cts = (self.composition_time_ms as u32).to_be_bytes();
            out.put_slice(&cts[1..]);
        }
    }

    /// True for a keyframe (`FrameType` 1).
    pub fn is_keyframe(&self) -> bool {
        self.frame_type == FrameType::KEYFRAME
    }
}

/// An Enhanced RTMP video FourCC (Enhanced RTMP v1 §"Defining Additional Video Codecs").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// H.264 signalled the enhanced way (Enhanced RTMP v2).
    pub const AVC: Self = Self(*b"avc1");
    /// HEVC / H.265.
    pub const HEVC: Self = Self(*b"hvc1");
    /// AV1.
    pub const AV1: Self = Self(*b"av01");
    /// VP9.
    pub const VP9: Self = Self(*b"vp09");
}

impl std::fmt::Display for FourCc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            let c = if b.is_ascii_graphic() { b as char } else { '?' };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// The video codec of a tag, whichever way it was signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264 (legacy `CodecID` 7, or FourCC `avc1`).
    Avc,
    /// HEVC (FourCC `hvc1`).
    Hevc,
    /// AV1 (FourCC `av01`).
    Av1,
    /// VP9 (FourCC `vp09`).
    Vp9,
    /// Another legacy `CodecID` (Sorenson, VP6, screen video …).
    Legacy(VideoCodecId),
    /// Another FourCC.
    Other(FourCc),
    /// Not named in the header (an Enhanced RTMP command frame, multitrack or `ModEx` wrapper).
    Unknown,
}

impl VideoCodec {
    /// A short lower-case name for logs and the API: `h264`, `hevc`, `av1`, `vp9`, `flv-<id>`
    /// or the FourCC.
    pub fn name(&self) -> String {
        match self {
            Self::Avc => "h264".into(),
            Self::Hevc => "hevc".into(),
            Self::Av1 => "av1".into(),
            Self::Vp9 => "vp9".into(),
            Self::Legacy(id) => format!("flv-{}", id.0),
            Self::Other(fourcc) => fourcc.to_string(),
            Self::Unknown => "unknown".into(),
        }
    }
}

/// What a video tag's payload is, in either signalling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoPacket {
    /// Decoder configuration (AVC `SEQUENCE_HEADER`, enhanced `SequenceStart`): an
    /// AVCDecoderConfigurationRecord, HEVCDecoderConfigurationRecord, AV1CodecConfigurationRecord
    /// or VPCodecConfigurationRecord.
    SequenceHeader,
    /// One coded frame (AVC `NALU`, enhanced `CodedFrames`/`CodedFramesX`).
    CodedFrame,
    /// End of sequence.
    EndOfSequence,
    /// Anything else (command frames, enhanced metadata, multitrack, `ModEx`, legacy codecs'
    /// frames): carried through unchanged, not decoded.
    Other,
}

/// Enhanced RTMP `VideoPacketType` values.
mod ex_packet {
    pub const SEQUENCE_START: u8 = 0;
    pub const CODED_FRAMES: u8 = 1;
    pub const SEQUENCE_END: u8 = 2;
    pub const CODED_FRAMES_X: u8 = 3;
    pub const MPEG2TS_SEQUENCE_START: u8 = 5;
}

/// The header of a video tag body in legacy FLV or Enhanced RTMP signalling: what the ingest,
/// the hub and the HLS packager need to know (codec, keyframe, configuration or frame,
/// composition time) and where the codec payload starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTag {
    /// `FrameType` (1 = keyframe, 5 = command frame …).
    pub frame_type: FrameType,
    /// The codec.
    pub codec: VideoCodec,
    /// What the payload is.
    pub packet: VideoPacket,
    /// `CompositionTime` (PTS − DTS) in ms; 0 where the signalling has none.
    pub composition_time_ms: i32,
    /// Where the codec payload starts in the body.
    pub payload_offset: usize,
    /// Signalled with Enhanced RTMP's extended header.
    pub enhanced: bool,
}

impl VideoTag {
    /// Parses the header of a video tag body. A body too short for the header its first byte
    /// announces is an error; unknown codecs and packet types are not.
    pub fn parse(body: &[u8]) -> Result<Self, MediaError> {
        const WHAT: &str = "FLV video tag";
        let first = *body.first().ok_or(MediaError::truncated(WHAT))?;
        if first & 0x80 == 0 {
            let legacy = VideoTagHeader::parse(body)?;
            let (codec, packet) = if legacy.codec_id == VideoCodecId::AVC {
                let packet = match legacy.avc_packet_type {
                    Some(AvcPacketType::SEQUENCE_HEADER) => VideoPacket::SequenceHeader,
                    Some(AvcPacketType::NALU) if legacy.frame_type != FrameType::COMMAND_FRAME => {
                        VideoPacket::CodedFrame
                    }
                    Some(AvcPacketType::END_OF_SEQUENCE) => VideoPacket::EndOfSequence,
                    _ => VideoPacket::Other,
                };
                (VideoCodec::Avc, packet)
            } else {
                (VideoCodec::Legacy(legacy.codec_id), VideoPacket::Other)
            };
            return Ok(Self {
                frame_type: legacy.frame_type,
                codec,
                packet,
                composition_time_ms: legacy.composition_time_ms,
                payload_offset: legacy.encoded_len(),
                enhanced: false,
            });
        }
        let frame_type = FrameType((first >> 4) & 0x07);
        let packet_type = first & 0x0F;
        let unknown = |codec| Self {
            frame_type,
            codec,
            packet: VideoPacket::Other,
            composition_time_ms: 0,
            payload_offset: body.len(),
            enhanced: true,
        };
        // Enhanced RTMP v2: a command frame (not metadata) carries a one-byte command and no
        // FourCC; multitrack (6) and ModEx (7) wrap further headers we pass through unread.
        if (frame_type == FrameType::COMMAND_FRAME && packet_type != 4) || packet_type >= 6 {
            return Ok(unknown(VideoCodec::Unknown));
        }
        let fourcc = body.get(1..5).ok_or(MediaError::truncated(WHAT))?;
        let fourcc = FourCc([fourcc[0], fourcc[1], fourcc[2], fourcc[3]]);
        let codec = match fourcc {
            FourCc::AVC => VideoCodec::Avc,
            FourCc::HEVC => VideoCodec::Hevc,
            FourCc::AV1 => VideoCodec::Av1,
            FourCc::VP9 => VideoCodec::Vp9,
            other => VideoCodec::Other(other),
        };
        let (packet, composition_time_ms, payload_offset) = match packet_type {
            ex_packet::SEQUENCE_START => (VideoPacket::SequenceHeader, 0, 5),
            ex_packet::CODED_FRAMES if matches!(codec, VideoCodec::Avc | VideoCodec::Hevc) => {
                let cts = body.get(5..8).ok_or(MediaError::truncated(WHAT))?;
                let raw = u32::from_be_bytes([0, cts[0], cts[1], cts[2]]);
                (VideoPacket::CodedFrame, ((raw << 8) as i32) >> 8, 8)
            }
            ex_packet::CODED_FRAMES | ex_packet::CODED_FRAMES_X => (VideoPacket::CodedFrame, 0, 5),
            ex_packet::SEQUENCE_END => (VideoPacket::EndOfSequence, 0, 5),
            // AV1's MPEG2TSSequenceStart carries a TS descriptor, not a configuration record.
            ex_packet::MPEG2TS_SEQUENCE_START => (VideoPacket::Other, 0, 5),
            _ => (VideoPacket::Other, 0, 5),
        };
        Ok(Self {
            frame_type,
            codec,
            packet,
            composition_time_ms,
            payload_offset,
            enhanced: true,
        })
    }

    /// The codec payload (configuration record or coded frame) after the header.
    pub fn payload<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        body.get(self.payload_offset..).unwrap_or_default()
    }

    /// A keyframe that is a coded frame (not a configuration or a command).
    pub fn is_keyframe(&self) -> bool {
        self.frame_type == FrameType::KEYFRAME && self.packet == VideoPacket::CodedFrame
    }
}

/// Audio `SoundFormat` (FLV spec v10.1 Annex E.4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SoundFormat(pub u8);

impl SoundFormat {
    /// MP3 (2).
    pub const MP3: Self = Self(2);
    /// AAC (10).
    pub const AAC: Self = Self(10);
}

/// `AACPacketType` (FLV spec v10.1 Annex E.4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AacPacketType(pub u8);

impl AacPacketType {
    /// The body is an AudioSpecificConfig (0).
    pub const SEQUENCE_HEADER: Self = Self(0);
    /// The body is one raw AAC frame (1).
    pub const RAW: Self = Self(1);
}

/// `AudioTagHeader` (FLV spec v10.1 Annex E.4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTagHeader {
    /// `SoundFormat`, the upper 4 bits of the first byte.
    pub sound_format: SoundFormat,
    /// `SoundRate`: 0 = 5.5 kHz, 1 = 11 kHz, 2 = 22 kHz, 3 = 44 kHz (always 3 for AAC; the
    /// AudioSpecificConfig is authoritative).
    pub sound_rate: u8,
    /// `SoundSize`: false = 8-bit, true = 16-bit samples.
    pub sound_size_16bit: bool,
    /// `SoundType`: false = mono, true = stereo.
    pub stereo: bool,
    /// `AACPacketType`, present when the format is AAC.
    pub aac_packet_type: Option<AacPacketType>,
}

impl AudioTagHeader {
    /// Parses the header at the start of an audio tag body.
    pub fn parse(body: &[u8]) -> Result<Self, MediaError> {
        const WHAT: &str = "FLV AudioTagHeader";
        let first = *body.first().ok_or(MediaError::truncated(WHAT))?;
        let sound_format = SoundFormat(first >> 4);
        let aac_packet_type = if sound_format == SoundFormat::AAC {
            Some(AacPacketType(
                *body.get(1).ok_or(MediaError::truncated(WHAT))?,
            ))
        } else {
            None
        };
        Ok(Self {
            sound_format,
            sound_rate: (first >> 2) & 0x03,
            sound_size_16bit: first & 0x02 != 0,
            stereo: first & 0x01 != 0,
            aac_packet_type,
        })
    }

    /// The number of body bytes the header occupies (2 for AAC, 1 otherwise).
    pub fn encoded_len(&self) -> usize {
        if self.aac_packet_type.is_some() {
            2
        } else {
            1
        }
    }

    /// Appends the header to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        out.put_u8(
            (self.sound_format.0 << 4)
                | ((self.sound_rate & 0x03) << 2)
                | (u8::from(self.sound_size_16bit) << 1)
                | u8::from(self.stereo),
        );
        if let Some(packet_type) = self.aac_packet_type {
            out.put_u8(packet_type.0);
        }
    }
}

/// The FLV file header flags (FLV spec v10.1 Annex E.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlvHeader {
    /// `TypeFlagsAudio`.
    pub has_audio: bool,
    /// `TypeFlagsVideo`.
    pub has_video: bool,
}

/// Appends the 9-byte FLV file header (version 1) and `PreviousTagSize0` (FLV spec v10.1
/// Annex E.2, E.3).
pub fn write_file_header(header: FlvHeader, out: &mut BytesMut) {
    out.put_slice(b"FLV");
    out.put_u8(1);
    out.put_u8((u8::from(header.has_audio) << 2) | u8::from(header.has_video));
    out.put_u32(FILE_HEADER_LEN as u32);
    out.put_u32(0);
}

/// Appends one FLV tag: the 11-byte header (FLV spec v10.1 Annex E.4.1, with
/// `TimestampExtended` carrying bits 24–31), the body and its `PreviousTagSize`.
///
/// Fails if `body` is longer than the 24-bit `DataSize` can declare; `out` is then unchanged.
pub fn write_tag(
    tag_type: TagType,
    timestamp_ms: u32,
    body: &[u8],
    out: &mut BytesMut,
) -> Result<(), MediaError> {
    if body.len() > MAX_TAG_BODY_LEN {
        return Err(MediaError::TooLarge {
            what: "FLV tag",
            size: body.len(),
            limit: MAX_TAG_BODY_LEN,
        });
    }
    out.reserve(TAG_HEADER_LEN + body.len() + 4);
    out.put_u8(tag_type.0 & 0x1F);
    let size = (body.len() as u32).to_be_bytes();
    out.put_slice(&size[1..]);
    let ts = timestamp_ms.to_be_bytes();
    out.put_slice(&[ts[1], ts[2], ts[3], ts[0]]);
    out.put_slice(&[0, 0, 0]);
    out.put_slice(body);
    out.put_u32((TAG_HEADER_LEN + body.len()) as u32);
    Ok(())
}

/// One FLV tag as read from a file or stream (FLV spec v10.1 Annex E.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// `TagType` (the lower 5 bits).
    pub tag_type: TagType,
    /// `Filter`: the body is encrypted or pre-processed. We never decrypt.
    pub filter: bool,
    /// `Timestamp` with `TimestampExtended` as the upper 8 bits, in milliseconds (the DTS).
    pub timestamp_ms: u32,
    /// `StreamID` (always 0 in valid files).
    pub stream_id: u32,
    /// The tag body, sliced from the reader's buffer without a copy.
    pub body: Bytes,
}

/// A streaming FLV reader: feed it bytes as they arrive with [`FlvReader::push`], then drain
/// tags with [`FlvReader::next_tag`], which returns `Ok(None)` while it needs more bytes.
///
/// The reader holds at most one partial tag plus whatever the caller pushed since the last
/// drain; a tag declaring a body over the limit is an error before anything is allocated for it.
/// `PreviousTagSize` fields are skipped, not checked: some muxers write them wrong.
#[derive(Debug)]
pub struct FlvReader {
    buf: BytesMut,
    header: Option<FlvHeader>,
    max_tag_body_len: usize,
}

impl Default for FlvReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvReader {
    /// A reader expecting the FLV file header first, with [`DEFAULT_MAX_TAG_BODY_LEN`].
    pub fn new() -> Self {
        Self::with_max_tag_body_len(DEFAULT_MAX_TAG_BODY_LEN)
    }

    /// A reader with a custom cap on tag bodies (at most [`MAX_TAG_BODY_LEN`] matters).
    pub fn with_max_tag_body_len(max_tag_body_len: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            header: None,
            max_tag_body_len,
        }
    }

    /// Appends received bytes. Drain with [`FlvReader::next_tag`] after each push.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The file header, once read.
    pub fn header(&self) -> Option<FlvHeader> {
        self.header
    }

    /// Bytes received but not yet returned as tags.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// The next complete tag, `Ok(None)` if more bytes are needed, or an error for input that
    /// is not FLV. After an error the reader should be dropped.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, MediaError> {
        if self.header.is_none() && !self.read_file_header()? {
            return Ok(None);
        }
        // PreviousTagSize (4) precedes each tag; it was consumed with the header for the first.
        if self.buf.len() < TAG_HEADER_LEN {
            return Ok(None);
        }
        let h = &self.buf[..TAG_HEADER_LEN];
        let body_len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
        if body_len > self.max_tag_body_len {
            return Err(MediaError::TooLarge {
                what: "FLV tag",
                size: body_len,
                limit: self.max_tag_body_len,
            });
        }
        if h[0] & 0xC0 != 0 {
            return Err(MediaError::malformed("FLV tag", "reserved bits set"));
        }
        if self.buf.len() < TAG_HEADER_LEN + body_len + 4 {
            return Ok(None);
        }
        let tag_type = TagType(h[0] & 0x1F);
        let filter = h[0] & 0x20 != 0;
        let timestamp_ms = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let stream_id = u32::from_be_bytes([0, h[8], h[9], h[10]]);
        self.buf.advance(TAG_HEADER_LEN);
        let body = self.buf.split_to(body_len).freeze();
        self.buf.advance(4);
        Ok(Some(FlvTag {
            tag_type,
            filter,
            timestamp_ms,
            stream_id,
            body,
        }))
    }

    /// Reads the file header and `PreviousTagSize0`; false if more bytes are needed.
    fn read_file_header(&mut self) -> Result<bool, MediaError> {
        const WHAT: &str = "FLV header";
        if self.buf.len() < FILE_HEADER_LEN {
            return Ok(false);
        }
        if &self.buf[..3] != b"FLV" {
            return Err(MediaError::malformed(WHAT, "missing FLV signature"));
        }
        if self.buf[3] != 1 {
            return Err(MediaError::unsupported(WHAT, "version"));
        }
        let flags = self.buf[4];
        let offset = u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]]);
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        if !(FILE_HEADER_LEN..=MAX_FILE_HEADER_LEN).contains(&offset) {
            return Err(MediaError::malformed(WHAT, "DataOffset out of range"));
        }
        if self.buf.len() < offset + 4 {
            return Ok(false);
        }
        self.buf.advance(offset + 4);
        self.header = Some(FlvHeader {
            has_audio: flags & 0x04 != 0,
            has_video: flags & 0x01 != 0,
        });
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn video_tag_header_avc_keyframe_with_negative_cts() {
        let h = VideoTagHeader::parse(&[0x17, 0x01, 0xFF, 0xFF, 0xDF]).unwrap();
        assert_eq!(h.frame_type, FrameType::KEYFRAME);
        assert_eq!(h.codec_id, VideoCodecId::AVC);
        assert_eq!(h.avc_packet_type, Some(AvcPacketType::NALU));
        assert_eq!(h.composition_time_ms, -33);
        assert_eq!(h.encoded_len(), 5);
        let mut out = BytesMut::new();
        h.write(&mut out);
        assert_eq!(&out[..], &[0x17, 0x01, 0xFF, 0xFF, 0xDF]);

        let h = VideoTagHeader::parse(&[0x27, 0x01, 0x00, 0x00, 0x43]).unwrap();
        assert_eq!(h.frame_type, FrameType::INTER_FRAME);
        assert_eq!(h.composition_time_ms, 67);
        assert!(VideoTagHeader::parse(&[0x17, 0x01, 0x00]).is_err());
        assert!(VideoTagHeader::parse(&[]).is_err());
        let vp6 = VideoTagHeader::parse(&[0x24]).unwrap();
        assert_eq!(vp6.codec_id, VideoCodecId(4));
        assert_eq!(vp6.encoded_len(), 1);
    }

    #[test]
    fn audio_tag_header_aac() {
        let h = AudioTagHeader::parse(&[0xAF, 0x01]).unwrap();
        assert_eq!(h.sound_format, SoundFormat::AAC);
        assert_eq!(h.sound_rate, 3);
        assert!(h.sound_size_16bit);
        assert!(h.stereo);
        assert_eq!(h.aac_packet_type, Some(AacPacketType::RAW));
        let mut out = BytesMut::new();
        h.write(&mut out);
        assert_eq!(&out[..], &[0xAF, 0x01]);
        assert!(AudioTagHeader::parse(&[0xAF]).is_err());
        let mp3 = AudioTagHeader::parse(&[0x2E]).unwrap();
        assert_eq!(mp3.sound_format, SoundFormat::MP3);
        assert!(!mp3.stereo);
        assert_eq!(mp3.aac_packet_type, None);
    }

    #[test]
    fn file_header_and_tag_bytes() {
        let mut out = BytesMut::new();
        write_file_header(
            FlvHeader {
                has_audio: true,
                has_video: true,
            },
            &mut out,
        );
        assert_eq!(
            &out[..],
            &[b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0][..]
        );
        out.clear();
        write_tag(TagType::AUDIO, 0x0102_0304, &[0xAF, 0x01, 0x21], &mut out).unwrap();
        assert_eq!(
            &out[..],
            &[
                8, 0, 0, 3, // type, DataSize
                0x02, 0x03, 0x04, 0x01, // Timestamp, TimestampExtended
                0, 0, 0, // StreamID
                0xAF, 0x01, 0x21, // body
                0, 0, 0, 14, // PreviousTagSize
            ][..]
        );
    }

    #[test]
    fn reader_handles_byte_by_byte_input_and_limits() {
        let mut file = BytesMut::new();
        write_file_header(FlvHeader::default(), &mut file);
        write_tag(TagType::VIDEO, 0xFF00_0001, &[1, 2, 3], &mut file).unwrap();
        write_tag(TagType::SCRIPT_DATA, 7, &[], &mut file).unwrap();
        let mut reader = FlvReader::new();
        let mut tags = Vec::new();
        for b in file.iter() {
            reader.push(&[*b]);
            while let Some(tag) = reader.next_tag().unwrap() {
                tags.push(tag);
            }
        }
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].timestamp_ms, 0xFF00_0001);
        assert_eq!(&tags[0].body[..], &[1, 2, 3]);
        assert_eq!(tags[1].tag_type, TagType::SCRIPT_DATA);
        assert_eq!(reader.buffered_len(), 0);

        let mut small = FlvReader::with_max_tag_body_len(2);
        small.push(&file);
        assert!(matches!(
            small.next_tag(),
            Err(MediaError::TooLarge { size: 3, .. })
        ));
        let mut bad = FlvReader::new();
        bad.push(b"GIF89a\0\0\0\0");
        assert!(bad.next_tag().is_err());
    }
}
