//! HEVC: the HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1), its RFC 6381 codecs
//! string (ISO/IEC 14496-15 Annex E.3) and length-prefixed → Annex B conversion
//! (ITU-T H.265 Annex B), for Enhanced RTMP's `hvc1` in HLS.

use bytes::{BufMut, Bytes, BytesMut};

use crate::avc::NalUnits;
use crate::MediaError;

/// NAL unit types we act on (ITU-T H.265 Table 7-1).
pub mod nal_type {
    /// The first intra random access point type (BLA_W_LP); IRAP pictures are 16–23.
    pub const IRAP_FIRST: u8 = 16;
    /// The last IRAP type (RSV_IRAP_VCL23).
    pub const IRAP_LAST: u8 = 23;
    /// Video parameter set.
    pub const VPS: u8 = 32;
    /// Sequence parameter set.
    pub const SPS: u8 = 33;
    /// Picture parameter set.
    pub const PPS: u8 = 34;
    /// Access unit delimiter.
    pub const AUD: u8 = 35;
}

/// The Annex B start code we write before every NAL unit.
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// An access unit delimiter (type 35, layer 0, temporal id 1) with `pic_type` 2 (any slice
/// type), ITU-T H.265 §7.3.2.5.
const AUD_NAL: [u8; 3] = [0x46, 0x01, 0x50];
/// Parameter sets a record may carry in all (VPS, SPS, PPS, SEI arrays together): far more than
/// any encoder writes, and a bound on what a hostile record can make us hold.
const MAX_PARAMETER_SETS: usize = 64;

/// The NAL unit type of an HEVC NAL unit (the 6 bits after the forbidden zero bit).
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|h| (h >> 1) & 0x3F)
}

/// `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §8.3.3.1), the body of an Enhanced RTMP
/// `hvc1` sequence start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcDecoderConfig {
    /// `general_profile_space` (0–3).
    pub profile_space: u8,
    /// `general_tier_flag` (false = Main tier, true = High tier).
    pub high_tier: bool,
    /// `general_profile_idc` (1 = Main, 2 = Main 10 …).
    pub profile_idc: u8,
    /// `general_profile_compatibility_flags`.
    pub profile_compatibility: u32,
    /// `general_constraint_indicator_flags`, 6 bytes.
    pub constraint_flags: [u8; 6],
    /// `general_level_idc` (30 × the level: 93 = 3.1).
    pub level_idc: u8,
    /// `lengthSizeMinusOne + 1`: the size of each NAL length prefix in frames (1, 2 or 4).
    pub nal_length_size: u8,
    /// The VPS, SPS and PPS NAL units (with their headers), in the record's order.
    pub parameter_sets: Vec<Bytes>,
}

impl HevcDecoderConfig {
    /// Parses the record. Every count and length is checked against the input; a VPS, an SPS
    /// and a PPS are required (keyframes get them prepended in Annex B).
    pub fn parse(data: &[u8]) -> Result<Self, MediaError> {
        const WHAT: &str = "HEVCDecoderConfigurationRecord";
        let fixed = data.get(..23).ok_or(MediaError::truncated(WHAT))?;
        if fixed[0] != 1 {
            return Err(MediaError::unsupported(WHAT, "configurationVersion"));
        }
        let nal_length_size = (fixed[21] & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(MediaError::malformed(WHAT, "lengthSizeMinusOne of 2"));
        }
        let mut rest = &data[23..];
        let mut parameter_sets = Vec::new();
        let mut seen = [false; 3];
        for _ in 0..fixed[22] {
            let head = rest.get(..3).ok_or(MediaError::truncated(WHAT))?;
            let array_type = head[0] & 0x3F;
            let count = u16::from_be_bytes([head[1], head[2]]);
            rest = &rest[3..];
            for _ in 0..count {
                let len = rest.get(..2).ok_or(MediaError::truncated(WHAT))?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                let nal = rest.get(2..2 + len).ok_or(MediaError::truncated(WHAT))?;
                rest = &rest[2 + len..];
                let Some(t) = nal_unit_type(nal) else {
                    return Err(MediaError::malformed(WHAT, "empty NAL unit"));
                };
                if t != array_type {
                    return Err(MediaError::malformed(
                        WHAT,
                        "NAL unit type differs from its array's",
                    ));
                }
                if let Some(slot) = t
                    .checked_sub(nal_type::VPS)
                    .and_then(|i| seen.get_mut(usize::from(i)))
                {
                    *slot = true;
                    if parameter_sets.len() >= MAX_PARAMETER_SETS {
                        return Err(MediaError::TooLarge {
                            what: WHAT,
                            size: parameter_sets.len() + 1,
                            limit: MAX_PARAMETER_SETS,
                        });
                    }
                    parameter_sets.push(Bytes::copy_from_slice(nal));
                }
            }
        }
        if seen != [true; 3] {
            return Err(MediaError::malformed(WHAT, "no VPS, SPS or PPS"));
        }
        Ok(Self {
            profile_space: fixed[1] >> 6,
            high_tier: fixed[1] & 0x20 != 0,
            profile_idc: fixed[1] & 0x1F,
            profile_compatibility: u32::from_be_bytes([fixed[2], fixed[3], fixed[4], fixed[5]]),
            constraint_flags: [fixed[6], fixed[7], fixed[8], fixed[9], fixed[10], fixed[11]],
            level_idc: fixed[12],
            nal_length_size,
            parameter_sets,
        })
    }

    /// The RFC 6381 codecs parameter (ISO/IEC 14496-15 Annex E.3), e.g. `hvc1.1.6.L93.B0`:
    /// profile space and profile, the compatibility flags bit-reversed in hex, tier and level,
    /// then the constraint bytes without trailing zero bytes.
    pub fn codec_string(&self) -> String {
        let space = ["", "A", "B", "C"][usize::from(self.profile_space & 3)];
        let tier = if self.high_tier { 'H' } else { 'L' };
        let mut s = format!(
            "hvc1.{space}{}.{:X}.{tier}{}",
            self.profile_idc,
            self.profile_compatibility.reverse_bits(),
            self.level_idc
        );
        let used = self
            .constraint_flags
            .iter()
            .rposition(|b| *b != 0)
            .map_or(0, |i| i + 1);
        for b in &self.constraint_flags[..used] {
            s.push_str(&format!(".{b:X}"));
        }
        s
    }

    /// Converts one length-prefixed HEVC frame to Annex B, appending to `out`: an access unit
    /// delimiter first, then on keyframes this record's VPS, SPS and PPS unless the frame
    /// carries its own, then each NAL unit after a start code. AUDs in the input are dropped
    /// (we write our own). On error `out` is left as it was.
    pub fn to_annexb(
        &self,
        frame: &[u8],
        keyframe: bool,
        out: &mut BytesMut,
    ) -> Result<(), MediaError> {
        let start = out.len();
        let result = self.to_annexb_inner(frame, keyframe, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn to_annexb_inner(
        &self,
        frame: &[u8],
        keyframe: bool,
        out: &mut BytesMut,
    ) -> Result<(), MediaError> {
        let units = NalUnits::new(frame, self.nal_length_size);
        let has_vps = units
            .clone()
            .any(|nal| matches!(nal, Ok(n) if nal_unit_type(n) == Some(nal_type::VPS)));
        out.reserve(frame.len() + 128);
        out.put_slice(&START_CODE);
        out.put_slice(&AUD_NAL);
        if keyframe && !has_vps {
            for ps in &self.parameter_sets {
                out.put_slice(&START_CODE);
                out.put_slice(ps);
            }
        }
        for nal in units {
            let nal = nal?;
            match nal_unit_type(nal) {
                None | Some(nal_type::AUD) => continue,
                Some(_) => {
                    out.put_slice(&START_CODE);
                    out.put_slice(nal);
                }
            }
        }
        Ok(())
    }

    /// True if the frame holds an IRAP picture (a random access point), whatever its tag says.
    pub fn is_irap(&self, frame: &[u8]) -> bool {
        NalUnits::new(frame, self.nal_length_size).any(|nal| {
            matches!(nal, Ok(n) if matches!(nal_unit_type(n), Some(t) if (nal_type::IRAP_FIRST..=nal_type::IRAP_LAST).contains(&t)))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A record as x265 writes it for Main profile, level 3.1 (VPS, SPS, PPS abbreviated).
    fn record() -> Vec<u8> {
        let mut r = vec![
            1, 0x01, 0x60, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 93, 0xF0, 0, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0,
            0x0F, 3,
        ];
        for (t, nal) in [
            (32u8, &[0x40u8, 0x01, 0x0C][..]),
            (33, &[0x42, 0x01, 0x01]),
            (34, &[0x44, 0x01, 0xC1]),
        ] {
            r.extend_from_slice(&[0x80 | t, 0, 1, 0, nal.len() as u8]);
            r.extend_from_slice(nal);
        }
        r
    }

    #[test]
    fn parses_a_main_profile_record_and_names_its_codec() {
        let c = HevcDecoderConfig::parse(&record()).unwrap();
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.parameter_sets.len(), 3);
        assert_eq!(c.codec_string(), "hvc1.1.6.L93.B0");
    }

    #[test]
    fn keyframes_get_parameter_sets_and_every_frame_an_aud() {
        let c = HevcDecoderConfig::parse(&record()).unwrap();
        // An IDR_W_RADL slice (type 19) then a trailing picture (type 1).
        let idr = [0, 0, 0, 3, 0x26, 0x01, 0xAF];
        assert!(c.is_irap(&idr));
        let mut out = BytesMut::new();
        c.to_annexb(&idr, true, &mut out).unwrap();
        assert_eq!(
            &out[..],
            &[
                0, 0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 0, 1, 0x40, 0x01, 0x0C, 0, 0, 0, 1, 0x42, 0x01,
                0x01, 0, 0, 0, 1, 0x44, 0x01, 0xC1, 0, 0, 0, 1, 0x26, 0x01, 0xAF
            ][..]
        );
        let trail = [0, 0, 0, 3, 0x02, 0x01, 0xD0];
        assert!(!c.is_irap(&trail));
        out.clear();
        c.to_annexb(&trail, false, &mut out).unwrap();
        assert_eq!(
            &out[..],
            &[0, 0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 0, 1, 0x02, 0x01, 0xD0][..]
        );
    }

    #[test]
    fn refuses_truncated_and_incomplete_records() {
        let r = record();
        for len in 0..r.len() {
            assert!(
                HevcDecoderConfig::parse(&r[..len]).is_err(),
                "prefix of {len}"
            );
        }
        let mut no_pps = r.clone();
        no_pps[22] = 2;
        assert!(HevcDecoderConfig::parse(&no_pps).is_err());
        let c = HevcDecoderConfig::parse(&r).unwrap();
        let mut out = BytesMut::from(&b"kept"[..]);
        assert!(c.to_annexb(&[0, 0, 0, 9, 1], false, &mut out).is_err());
        assert_eq!(&out[..], b"kept");
    }
}
