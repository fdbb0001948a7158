//! AAC: the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) and ADTS headers
//! (ISO/IEC 14496-3 §1.A.2.2, ISO/IEC 13818-7 §6.2).

use crate::bits::BitReader;
use crate::MediaError;

/// `audioObjectType` (ISO/IEC 14496-3 §1.5.1.1, Table 1.17): an open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioObjectType(pub u8);

impl AudioObjectType {
    /// AAC Main (1).
    pub const AAC_MAIN: Self = Self(1);
    /// AAC LC (2).
    pub const AAC_LC: Self = Self(2);
    /// AAC SSR (3).
    pub const AAC_SSR: Self = Self(3);
    /// AAC LTP (4).
    pub const AAC_LTP: Self = Self(4);
    /// SBR, i.e. HE-AAC (5).
    pub const SBR: Self = Self(5);
    /// PS, i.e. HE-AAC v2 (29).
    pub const PS: Self = Self(29);
}

/// `samplingFrequencyIndex` values (ISO/IEC 14496-3 §1.6.3.4, Table 1.18).
const SAMPLING_FREQUENCIES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// The size of an ADTS header without CRC.
pub const ADTS_HEADER_LEN: usize = 7;
/// The largest ADTS frame (13-bit `frame_length`).
pub const MAX_ADTS_FRAME_LEN: usize = 0x1FFF;

/// `AudioSpecificConfig` (ISO/IEC 14496-3 §1.6.2.1), the body of an FLV AAC sequence header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// The signalled `audioObjectType` (5 for explicitly signalled HE-AAC).
    pub object_type: AudioObjectType,
    /// The core codec's object type: equal to `object_type` unless SBR/PS is signalled
    /// explicitly, in which case it is the underlying one (usually AAC LC).
    pub core_object_type: AudioObjectType,
    /// `samplingFrequencyIndex` of the core codec, `None` when given explicitly.
    pub sampling_frequency_index: Option<u8>,
    /// The core codec's sampling frequency in Hz.
    pub sampling_frequency: u32,
    /// `channelConfiguration` (0 = defined in-band, 1–7 = standard layouts).
    pub channel_configuration: u8,
}

impl AudioSpecificConfig {
    /// Parses the fields up to `channelConfiguration` (and, for explicit SBR/PS, the extension
    /// frequency and core object type). `GASpecificConfig` and later fields are ignored.
    pub fn parse(data: &[u8]) -> Result<Self, MediaError> {
        const WHAT: &str = "AudioSpecificConfig";
        let mut r = BitReader::new(data, WHAT);
        let object_type = read_object_type(&mut r)?;
        let (sampling_frequency_index, sampling_frequency) = read_frequency(&mut r, WHAT)?;
        let channel_configuration = r.bits(4)? as u8;
        let mut core_object_type = object_type;
        if object_type == AudioObjectType::SBR || object_type == AudioObjectType::PS {
            // §1.6.2.1: extensionSamplingFrequencyIndex, then the core audioObjectType.
            let _extension_frequency = read_frequency(&mut r, WHAT)?;
            core_object_type = read_object_type(&mut r)?;
        }
        if object_type.0 == 0 || core_object_type.0 == 0 {
            return Err(MediaError::malformed(WHAT, "audioObjectType 0"));
        }
        Ok(Self {
            object_type,
            core_object_type,
            sampling_frequency_index,
            sampling_frequency,
            channel_configuration,
        })
    }

    /// The RFC 6381 codecs parameter, e.g. `mp4a.40.2` for AAC LC.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type.0)
    }

    /// Samples per AAC frame: 1024 for the object types ADTS can carry (960-sample framing is
    /// not used by RTMP encoders). Doubled output rate with SBR is not counted: timestamps
    /// follow the core rate.
    pub fn samples_per_frame(&self) -> u32 {
        1024
    }

    /// Checks that ADTS can describe this configuration: a core object type 1–4 (the 2-bit
    /// `profile`), a tabled sampling frequency and a channel configuration of 1–7.
    pub fn check_adts(&self) -> Result<(), MediaError> {
        const WHAT: &str = "ADTS";
        if !(1..=4).contains(&self.core_object_type.0) {
            return Err(MediaError::unsupported(WHAT, "audio object type"));
        }
        if self.sampling_frequency_index.is_none() {
            return Err(MediaError::unsupported(WHAT, "explicit sampling frequency"));
        }
        if !(1..=7).contains(&self.channel_configuration) {
            return Err(MediaError::unsupported(WHAT, "channel configuration"));
        }
        Ok(())
    }
}

fn read_object_type(r: &mut BitReader<'_>) -> Result<AudioObjectType, MediaError> {
    let t = r.bits(5)?;
    let t = if t == 31 { 32 + r.bits(6)? } else { t };
    // At most 32 + 63 = 95.
    Ok(AudioObjectType(t as u8))
}

fn read_frequency(
    r: &mut BitReader<'_>,
    what: &'static str,
) -> Result<(Option<u8>, u32), MediaError> {
    let index = r.bits(4)? as u8;
    if index == 0x0F {
        let freq = r.bits(24)?;
        if freq == 0 {
            return Err(MediaError::malformed(what, "sampling frequency 0"));
        }
        return Ok((None, freq));
    }
    let freq = SAMPLING_FREQUENCIES
        .get(usize::from(index))
        .ok_or(MediaError::malformed(
            what,
            "reserved samplingFrequencyIndex",
        ))?;
    Ok((Some(index), *freq))
}

/// The 7-byte ADTS header (no CRC) for one raw AAC frame of `payload_len` bytes
/// (ISO/IEC 14496-3 §1.A.2.2.1: `adts_fixed_header` + `adts_variable_header`, MPEG-4 ID,
/// buffer fullness 0x7FF = VBR, one raw data block).
///
/// Fails when ADTS cannot describe `config` (see [`AudioSpecificConfig::check_adts`]) or the
/// frame exceeds the 13-bit `frame_length`.
pub fn adts_header(
    config: &AudioSpecificConfig,
    payload_len: usize,
) -> Result<[u8; ADTS_HEADER_LEN], MediaError> {
    config.check_adts()?;
    let frame_len = payload_len + ADTS_HEADER_LEN;
    if frame_len > MAX_ADTS_FRAME_LEN {
        return Err(MediaError::TooLarge {
            what: "ADTS frame",
            size: frame_len,
            limit: MAX_ADTS_FRAME_LEN,
        });
    }
    let profile = config.core_object_type.0 - 1;
    let freq = config.sampling_frequency_index.unwrap_or(0);
    let ch = config.channel_configuration;
    let len = frame_len as u16;
    Ok([
        0xFF,
        0xF1, // syncword, ID = 0 (MPEG-4), layer 00, protection_absent = 1
        (profile << 6) | (freq << 2) | (ch >> 2),
        ((ch & 0x03) << 6) | ((len >> 11) as u8 & 0x03),
        (len >> 3) as u8,
        ((len as u8 & 0x07) << 5) | 0x1F,
        0xFC,
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn aac_lc_44100_stereo() {
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(asc.object_type, AudioObjectType::AAC_LC);
        assert_eq!(asc.sampling_frequency, 44_100);
        assert_eq!(asc.sampling_frequency_index, Some(4));
        assert_eq!(asc.channel_configuration, 2);
        assert_eq!(asc.codec_string(), "mp4a.40.2");
        // 100 payload bytes: frame_length 107 = 0b000_0110_1011.
        assert_eq!(
            adts_header(&asc, 100).unwrap(),
            [0xFF, 0xF1, 0x50, 0x80, 0x0D, 0x7F, 0xFC]
        );
    }

    #[test]
    fn ffmpeg_mono_48k_and_max_frame() {
        // ffmpeg's `sine` source encoded by its native AAC encoder: 44.1 kHz mono (0x12 0x08).
        let asc = AudioSpecificConfig::parse(&[0x12, 0x08]).unwrap();
        assert_eq!(asc.channel_configuration, 1);
        let asc = AudioSpecificConfig::parse(&[0x11, 0x90]).unwrap();
        assert_eq!(asc.sampling_frequency, 48_000);
        assert_eq!(asc.channel_configuration, 2);
        assert_eq!(
            adts_header(&asc, MAX_ADTS_FRAME_LEN - 7).unwrap(),
            [0xFF, 0xF1, 0x4C, 0x83, 0xFF, 0xFF, 0xFC]
        );
        assert!(adts_header(&asc, MAX_ADTS_FRAME_LEN - 6).is_err());
    }

    #[test]
    fn escape_object_type_explicit_frequency_and_sbr() {
        // audioObjectType 31 + 6 bits (=1 → 33), index 15 + 24-bit 44100, channels 2.
        // bits: 11111 000001 1111 000000001010110001000100 0010
        let asc = AudioSpecificConfig::parse(&[0xF8, 0x3E, 0x01, 0x58, 0x88, 0x40]).unwrap();
        assert_eq!(asc.object_type, AudioObjectType(33));
        assert_eq!(asc.sampling_frequency, 44_100);
        assert_eq!(asc.sampling_frequency_index, None);
        assert!(adts_header(&asc, 10).is_err());

        // HE-AAC explicit: aot 5, 22050 Hz (7), stereo, ext 44100 (4), core aot 2.
        // bits: 00101 0111 0010 0100 00010 → 0x2B 0x92 0x08
        let asc = AudioSpecificConfig::parse(&[0x2B, 0x92, 0x08, 0x00]).unwrap();
        assert_eq!(asc.object_type, AudioObjectType::SBR);
        assert_eq!(asc.core_object_type, AudioObjectType::AAC_LC);
        assert_eq!(asc.sampling_frequency, 22_050);
        assert_eq!(asc.codec_string(), "mp4a.40.5");
        assert_eq!(adts_header(&asc, 0).unwrap()[2], 0x40 | (7 << 2));
    }

    #[test]
    fn rejects_truncated_and_reserved() {
        assert!(AudioSpecificConfig::parse(&[]).is_err());
        assert!(AudioSpecificConfig::parse(&[0x12]).is_err());
        // index 13 is reserved.
        assert!(AudioSpecificConfig::parse(&[0x16, 0x90]).is_err());
    }
}
