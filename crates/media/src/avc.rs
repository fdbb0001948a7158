//! H.264: the AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4.1), the sequence
//! parameter set (ITU-T H.264 §7.3.2.1.1) and AVCC → Annex B conversion (ITU-T H.264 Annex B).

use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::BitReader;
use crate::MediaError;

/// NAL unit types we act on (ITU-T H.264 Table 7-1).
pub mod nal_type {
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
}

/// The Annex B start code we write before every NAL unit.
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// An access unit delimiter NAL with `primary_pic_type` 7 (any slice type), ITU-T H.264 §7.3.2.4.
const AUD_NAL: [u8; 2] = [0x09, 0xF0];

/// `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.2.4.1), the body of an FLV AVC
/// sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    /// `AVCProfileIndication` (profile_idc).
    pub profile_indication: u8,
    /// `profile_compatibility` (the constraint flags byte).
    pub profile_compatibility: u8,
    /// `AVCLevelIndication` (level_idc).
    pub level_indication: u8,
    /// `lengthSizeMinusOne + 1`: the size of each NAL length prefix in access units (1–4).
    pub nal_length_size: u8,
    /// Sequence parameter set NAL units, each with its NAL header byte.
    pub sps: Vec<Bytes>,
    /// Picture parameter set NAL units.
    pub pps: Vec<Bytes>,
}

impl AvcDecoderConfig {
    /// Parses the record. Every count and length is checked against the input; at least one
    /// SPS and one PPS are required (we must be able to prepend them to keyframes). Trailing
    /// high-profile fields (`chroma_format` …) are ignored: the SPS carries the same.
    pub fn parse(data: &[u8]) -> Result<Self, MediaError> {
        const WHAT: &str = "AVCDecoderConfigurationRecord";
        let fixed = data.get(..6).ok_or(MediaError::truncated(WHAT))?;
        if fixed[0] != 1 {
            return Err(MediaError::unsupported(WHAT, "configurationVersion"));
        }
        let nal_length_size = (fixed[4] & 0x03) + 1;
        let num_sps = usize::from(fixed[5] & 0x1F);
        let mut rest = &data[6..];
        let sps = read_parameter_sets(&mut rest, num_sps, WHAT)?;
        let (&num_pps, tail) = rest.split_first().ok_or(MediaError::truncated(WHAT))?;
        rest = tail;
        let pps = read_parameter_sets(&mut rest, usize::from(num_pps), WHAT)?;
        if sps.is_empty() || pps.is_empty() {
            return Err(MediaError::malformed(WHAT, "no SPS or no PPS"));
        }
        Ok(Self {
            profile_indication: fixed[1],
            profile_compatibility: fixed[2],
            level_indication: fixed[3],
            nal_length_size,
            sps,
            pps,
        })
    }

    /// A record of one SPS and one PPS (profile, compatibility and level from the SPS), with
    /// 4-byte NAL lengths: what a WebRTC publisher's in-band parameter sets become.
    pub fn from_parameter_sets(sps: Bytes, pps: Bytes) -> Result<Self, MediaError> {
        const WHAT: &str = "H.264 parameter sets";
        if sps.len() < 4 || sps[0] & 0x1F != nal_type::SPS {
            return Err(MediaError::malformed(WHAT, "not an SPS"));
        }
        if pps.is_empty() || pps[0] & 0x1F != nal_type::PPS {
            return Err(MediaError::malformed(WHAT, "not a PPS"));
        }
        if sps.len() > usize::from(u16::MAX) || pps.len() > usize::from(u16::MAX) {
            return Err(MediaError::malformed(WHAT, "parameter set too long"));
        }
        Ok(Self {
            profile_indication: sps[1],
            profile_compatibility: sps[2],
            level_indication: sps[3],
            nal_length_size: 4,
            sps: vec![sps],
            pps: vec![pps],
        })
    }

    /// Writes the record (what [`AvcDecoderConfig::parse`] reads), without the high-profile
    /// trailer. Parameter sets beyond 31 SPS or 255 PPS, or longer than 65535 bytes, are left out.
    pub fn write(&self, out: &mut BytesMut) {
        let sps: Vec<&Bytes> = self
            .sps
            .iter()
            .filter(|p| p.len() <= 0xFFFF)
            .take(31)
            .collect();
        let pps: Vec<&Bytes> = self
            .pps
            .iter()
            .filter(|p| p.len() <= 0xFFFF)
            .take(255)
            .collect();
        out.put_u8(1);
        out.put_u8(self.profile_indication);
        out.put_u8(self.profile_compatibility);
        out.put_u8(self.level_indication);
        out.put_u8(0xFC | (self.nal_length_size.clamp(1, 4) - 1));
        out.put_u8(0xE0 | sps.len() as u8);
        for p in sps {
            out.put_u16(p.len() as u16);
            out.put_slice(p);
        }
        out.put_u8(pps.len() as u8);
        for p in pps {
            out.put_u16(p.len() as u16);
            out.put_slice(p);
        }
    }

    /// The RFC 6381 codecs parameter, e.g. `avc1.64001f` (High, level 3.1).
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile_indication, self.profile_compatibility, self.level_indication
        )
    }

    /// Parses the first SPS (picture size, profile, level).
    pub fn parse_sps(&self) -> Result<Sps, MediaError> {
        let sps = self.sps.first().ok_or(MediaError::malformed(
            "AVCDecoderConfigurationRecord",
            "no SPS",
        ))?;
        Sps::parse(sps)
    }

    /// Converts one AVCC access unit (NAL units each prefixed by a `nal_length_size`-byte
    /// big-endian length, as in FLV and MP4) to Annex B, appending to `out`: an access unit
    /// delimiter first, then on keyframes this record's SPS and PPS unless the access unit
    /// carries its own, then each NAL unit after a 4-byte start code. AUDs in the input are
    /// dropped (we write our own). On error `out` is left as it was.
    pub fn avcc_to_annexb(
        &self,
        access_unit: &[u8],
        keyframe: bool,
        out: &mut BytesMut,
    ) -> Result<(), MediaError> {
        let start = out.len();
        let result = self.avcc_to_annexb_inner(access_unit, keyframe, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn avcc_to_annexb_inner(
        &self,
        access_unit: &[u8],
        keyframe: bool,
        out: &mut BytesMut,
    ) -> Result<(), MediaError> {
        let has_sps = self
            .nal_units(access_unit)
            .any(|nal| matches!(nal, Ok(n) if n.first().map(|h| h & 0x1F) == Some(nal_type::SPS)));
        out.reserve(access_unit.len() + 64);
        out.put_slice(&START_CODE);
        out.put_slice(&AUD_NAL);
        if keyframe && !has_sps {
            for ps in self.sps.iter().chain(&self.pps) {
                out.put_slice(&START_CODE);
                out.put_slice(ps);
            }
        }
        for nal in self.nal_units(access_unit) {
            let nal = nal?;
            match nal.first() {
                None => continue,
                Some(h) if h & 0x1F == nal_type::AUD => continue,
                Some(_) => {
                    out.put_slice(&START_CODE);
                    out.put_slice(nal);
                }
            }
        }
        Ok(())
    }

    /// Iterates over the NAL units of an AVCC access unit.
    pub fn nal_units<'a>(&self, access_unit: &'a [u8]) -> NalUnits<'a> {
        NalUnits::new(access_unit, self.nal_length_size)
    }
}

fn read_parameter_sets(
    rest: &mut &[u8],
    count: usize,
    what: &'static str,
) -> Result<Vec<Bytes>, MediaError> {
    // `count` is at most 255, and each entry needs at least 2 input bytes: no unbounded growth.
    let mut sets = Vec::new();
    for _ in 0..count {
        let len_bytes = rest.get(..2).ok_or(MediaError::truncated(what))?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let set = rest.get(2..2 + len).ok_or(MediaError::truncated(what))?;
        if set.is_empty() {
            return Err(MediaError::malformed(what, "empty parameter set"));
        }
        sets.push(Bytes::copy_from_slice(set));
        *rest = &rest[2 + len..];
    }
    Ok(sets)
}

/// Iterator over length-prefixed NAL units; yields an error (once) for a length that overruns.
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    rest: &'a [u8],
    length_size: usize,
}

impl<'a> NalUnits<'a> {
    /// The NAL units of `access_unit`, each prefixed by a `length_size`-byte big-endian length
    /// (H.264 and HEVC in FLV and MP4 alike).
    pub(crate) fn new(access_unit: &'a [u8], length_size: u8) -> Self {
        Self {
            rest: access_unit,
            length_size: usize::from(length_size),
        }
    }
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = Result<&'a [u8], MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        const WHAT: &str = "length-prefixed access unit";
        if self.rest.is_empty() {
            return None;
        }
        let Some(prefix) = self.rest.get(..self.length_size) else {
            self.rest = &[];
            return Some(Err(MediaError::truncated(WHAT)));
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        let Some(nal) = self.rest.get(self.length_size..).and_then(|r| r.get(..len)) else {
            self.rest = &[];
            return Some(Err(MediaError::truncated(WHAT)));
        };
        self.rest = &self.rest[self.length_size + len..];
        Some(Ok(nal))
    }
}

/// The fields of a sequence parameter set we use (ITU-T H.264 §7.3.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sps {
    /// `profile_idc`.
    pub profile_idc: u8,
    /// The constraint_set flags byte.
    pub constraint_flags: u8,
    /// `level_idc`.
    pub level_idc: u8,
    /// `chroma_format_idc` (1 = 4:2:0 unless signalled otherwise by a high profile).
    pub chroma_format_idc: u32,
    /// Displayed width in pixels, after cropping.
    pub width: u32,
    /// Displayed height in pixels, after cropping.
    pub height: u32,
}

/// Profiles whose SPS carries `chroma_format_idc` and bit depths (ITU-T H.264 §7.3.2.1.1).
const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];
/// The largest picture dimension we accept, in macroblocks (H.264 level 6.2 allows 8192×4320;
/// this leaves room and keeps the arithmetic small).
const MAX_MBS_PER_DIMENSION: u32 = 1024;

impl Sps {
    /// Parses an SPS NAL unit (starting with its NAL header byte), removing emulation
    /// prevention bytes first (ITU-T H.264 §7.4.1).
    pub fn parse(nal: &[u8]) -> Result<Self, MediaError> {
        const WHAT: &str = "H.264 SPS";
        let (&header, payload) = nal.split_first().ok_or(MediaError::truncated(WHAT))?;
        if header & 0x1F != nal_type::SPS {
            return Err(MediaError::malformed(WHAT, "not an SPS NAL unit"));
        }
        let rbsp = remove_emulation_prevention(payload);
        let mut r = BitReader::new(&rbsp, WHAT);
        let profile_idc = r.bits(8)? as u8;
        let constraint_flags = r.bits(8)? as u8;
        let level_idc = r.bits(8)? as u8;
        let _seq_parameter_set_id = r.ue()?;
        let mut chroma_format_idc = 1;
        let mut separate_colour_plane = false;
        if HIGH_PROFILES.contains(&profile_idc) {
            chroma_format_idc = r.ue()?;
            if chroma_format_idc > 3 {
                return Err(MediaError::malformed(WHAT, "chroma_format_idc > 3"));
            }
            if chroma_format_idc == 3 {
                separate_colour_plane = r.bit()?;
            }
            let _bit_depth_luma_minus8 = r.ue()?;
            let _bit_depth_chroma_minus8 = r.ue()?;
            let _qpprime_y_zero_transform_bypass = r.bit()?;
            if r.bit()? {
                // seq_scaling_matrix_present_flag
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.bit()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let _log2_max_frame_num_minus4 = r.ue()?;
        match r.ue()? {
            0 => {
                let _log2_max_pic_order_cnt_lsb_minus4 = r.ue()?;
            }
            1 => {
                let _delta_pic_order_always_zero = r.bit()?;
                let _offset_for_non_ref_pic = r.se()?;
                let _offset_for_top_to_bottom_field = r.se()?;
                let cycle = r.ue()?;
                if cycle > 255 {
                    return Err(MediaError::malformed(
                        WHAT,
                        "num_ref_frames_in_pic_order_cnt_cycle > 255",
                    ));
                }
                for _ in 0..cycle {
                    let _offset_for_ref_frame = r.se()?;
                }
            }
            2 => {}
            _ => return Err(MediaError::malformed(WHAT, "pic_order_cnt_type > 2")),
        }
        let _max_num_ref_frames = r.ue()?;
        let _gaps_in_frame_num_allowed = r.bit()?;
        let width_mbs = r.ue()?.saturating_add(1);
        let height_map_units = r.ue()?.saturating_add(1);
        let frame_mbs_only = r.bit()?;
        if !frame_mbs_only {
            let _mb_adaptive_frame_field = r.bit()?;
        }
        let _direct_8x8_inference = r.bit()?;
        let (mut crop_left, mut crop_right, mut crop_top, mut crop_bottom) = (0, 0, 0, 0);
        if r.bit()? {
            crop_left = r.ue()?;
            crop_right = r.ue()?;
            crop_top = r.ue()?;
            crop_bottom = r.ue()?;
        }
        // The VUI that follows is not needed.
        let frame_height_factor: u64 = if frame_mbs_only { 1 } else { 2 };
        if width_mbs > MAX_MBS_PER_DIMENSION || height_map_units > MAX_MBS_PER_DIMENSION {
            return Err(MediaError::malformed(WHAT, "picture too large"));
        }
        // ITU-T H.264 §7.4.2.1.1, frame_crop_*_offset semantics and Table 6-1.
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (crop_unit_x, crop_unit_y) = match chroma_array_type {
            0 => (1, frame_height_factor),
            1 => (2, 2 * frame_height_factor),
            2 => (2, frame_height_factor),
            _ => (1, frame_height_factor),
        };
        let full_width = u64::from(width_mbs) * 16;
        let full_height = u64::from(height_map_units) * 16 * frame_height_factor;
        let crop_x = (u64::from(crop_left) + u64::from(crop_right)) * crop_unit_x;
        let crop_y = (u64::from(crop_top) + u64::from(crop_bottom)) * crop_unit_y;
        if crop_x >= full_width || crop_y >= full_height {
            return Err(MediaError::malformed(WHAT, "cropping exceeds the picture"));
        }
        Ok(Self {
            profile_idc,
            constraint_flags,
            level_idc,
            chroma_format_idc,
            // Both fit: at most 1024 * 16 * 2.
            width: (full_width - crop_x) as u32,
            height: (full_height - crop_y) as u32,
        })
    }
}

/// `scaling_list()` (ITU-T H.264 §7.3.2.1.1.1), read only to skip it.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), MediaError> {
    let mut last_scale: i64 = 8;
    let mut next_scale: i64 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = i64::from(r.se()?);
            next_scale = (last_scale + delta).rem_euclid(256);
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

/// Removes `emulation_prevention_three_byte`s: every 0x03 that follows two zero bytes
/// (ITU-T H.264 §7.4.1).
pub fn remove_emulation_prevention(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 0x03 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// The NAL units of an Annex B byte stream (each after a 3- or 4-byte start code; trailing
/// zero bytes before the next start code are dropped), as a WebRTC depacketizer delivers an
/// access unit.
pub fn annexb_nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut start = None;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                let mut end = i;
                while end > s && data[end - 1] == 0 {
                    end -= 1;
                }
                if end > s {
                    out.push(&data[s..end]);
                }
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        if s < data.len() {
            out.push(&data[s..]);
        }
    } else if !data.is_empty() {
        // No start code: one NAL unit.
        out.push(data);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn annexb_splits_on_three_and_four_byte_start_codes() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        assert_eq!(
            annexb_nal_units(&au),
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]
        );
        assert_eq!(annexb_nal_units(&[0x41, 9]), vec![&[0x41, 9][..]]);
        assert!(annexb_nal_units(&[]).is_empty());
        assert!(annexb_nal_units(&[0, 0, 1]).is_empty());
    }

    #[test]
    fn a_record_from_parameter_sets_writes_what_parse_reads() {
        let sps = Bytes::from_static(&[0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01]);
        let pps = Bytes::from_static(&[0x68, 0xCE, 0x3C, 0x80]);
        let c = AvcDecoderConfig::from_parameter_sets(sps.clone(), pps.clone()).unwrap();
        assert_eq!((c.profile_indication, c.level_indication), (0x42, 0x1F));
        let mut out = BytesMut::new();
        c.write(&mut out);
        assert_eq!(AvcDecoderConfig::parse(&out).unwrap(), c);
        assert!(AvcDecoderConfig::from_parameter_sets(pps, sps).is_err());
    }

    proptest::proptest! {
        #[test]
        fn annexb_never_panics_and_units_lie_inside(data in proptest::collection::vec(0u8..4, 0..64)) {
            for nal in annexb_nal_units(&data) {
                proptest::prop_assert!(!nal.is_empty());
            }
        }
    }

    /// The AVC sequence header body (after the 5-byte FLV video tag header) that ffmpeg 5.1's
    /// libx264 writes for `testsrc=size=640x360 -pix_fmt yuv420p -g 30 -bf 2`.
    const X264_420_RECORD: &[u8] = &[
        0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40,
        0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c,
        0x0f, 0x16, 0x2d, 0x96, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8,
        0xf8, 0x00,
    ];
    /// The same for the RGB `testsrc` without `-pix_fmt`: x264 picks High 4:4:4 Predictive.
    const X264_444_RECORD: &[u8] = &[
        0x01, 0xf4, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1b, 0x67, 0xf4, 0x00, 0x1e, 0x91, 0x9b, 0x28,
        0x14, 0x05, 0xff, 0x13, 0x80, 0x88, 0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x01,
        0xe0, 0x78, 0xb1, 0x6c, 0xb0, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xc4, 0x48, 0x44, 0xff,
        0xf8, 0xf8, 0x00,
    ];
    /// Baseline 1280×720 (`-profile:v baseline`), level 3.1.
    const X264_BASELINE_RECORD: &[u8] = &[
        0x01, 0x42, 0xc0, 0x1f, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0x50,
        0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1,
        0x83, 0x24, 0x80, 0x01, 0x00, 0x05, 0x68, 0xcb, 0x83, 0xcb, 0x20,
    ];

    #[test]
    fn x264_high_420_record_and_sps() {
        let config = AvcDecoderConfig::parse(X264_420_RECORD).unwrap();
        assert_eq!(config.profile_indication, 100);
        assert_eq!(config.level_indication, 30);
        assert_eq!(config.nal_length_size, 4);
        assert_eq!(config.sps.len(), 1);
        assert_eq!(config.pps.len(), 1);
        assert_eq!(&config.pps[0][..], &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0]);
        assert_eq!(config.codec_string(), "avc1.64001e");
        let sps = config.parse_sps().unwrap();
        assert_eq!((sps.width, sps.height), (640, 360));
        assert_eq!((sps.profile_idc, sps.level_idc), (100, 30));
        assert_eq!(sps.chroma_format_idc, 1);
    }

    #[test]
    fn x264_high_444_sps_crops_in_luma_units() {
        let config = AvcDecoderConfig::parse(X264_444_RECORD).unwrap();
        assert_eq!(config.codec_string(), "avc1.f4001e");
        let sps = config.parse_sps().unwrap();
        assert_eq!(sps.chroma_format_idc, 3);
        assert_eq!((sps.width, sps.height), (640, 360));
    }

    #[test]
    fn x264_baseline_720p() {
        let config = AvcDecoderConfig::parse(X264_BASELINE_RECORD).unwrap();
        assert_eq!(config.codec_string(), "avc1.42c01f");
        let sps = config.parse_sps().unwrap();
        assert_eq!((sps.width, sps.height), (1280, 720));
    }

    #[test]
    fn record_rejects_truncation_at_every_length() {
        // The last 4 bytes are the optional high-profile extension.
        for len in 0..X264_420_RECORD.len() - 4 {
            assert!(
                AvcDecoderConfig::parse(&X264_420_RECORD[..len]).is_err(),
                "len {len}"
            );
        }
    }

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(
            remove_emulation_prevention(&[0, 0, 3, 1, 0, 0, 3, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 3]
        );
    }

    #[test]
    fn annexb_conversion_with_parameter_sets_on_keyframes() {
        let config = AvcDecoderConfig::parse(X264_BASELINE_RECORD).unwrap();
        // An AUD (dropped), an IDR slice of 3 bytes, an empty NAL (skipped).
        let au = [
            0, 0, 0, 2, 0x09, 0xF0, 0, 0, 0, 3, 0x65, 0xAA, 0xBB, 0, 0, 0, 0,
        ];
        let mut out = BytesMut::new();
        config.avcc_to_annexb(&au, true, &mut out).unwrap();
        let mut expected = vec![0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1];
        expected.extend_from_slice(&config.sps[0]);
        expected.extend_from_slice(&[0, 0, 0, 1]);
        expected.extend_from_slice(&config.pps[0]);
        expected.extend_from_slice(&[0, 0, 0, 1, 0x65, 0xAA, 0xBB]);
        assert_eq!(&out[..], &expected[..]);

        out.clear();
        config.avcc_to_annexb(&au[6..13], false, &mut out).unwrap();
        assert_eq!(
            &out[..],
            &[0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x65, 0xAA, 0xBB]
        );

        out.clear();
        out.put_slice(b"keep");
        assert!(config
            .avcc_to_annexb(&[0, 0, 0, 9, 1], false, &mut out)
            .is_err());
        assert_eq!(&out[..], b"keep");
    }
}
