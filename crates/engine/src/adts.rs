//! ADTS from a stream's AAC frames: what an Icecast-compatible stream carries (the radio) and
//! what ffmpeg reads to transcode a stream's audio (WebRTC's Opus feed).

use ferrocast_hub::{Frame, FrameKind};
use ferrocast_media::aac::{adts_header, AudioSpecificConfig};

/// Turns a stream's AAC audio frames into ADTS, the bytes of an Icecast-compatible AAC
/// stream: each raw frame gets the header its stream's latest configuration gives it; frames
/// of another codec, or before any configuration, are left out.
#[derive(Debug, Default)]
pub struct AdtsWriter {
    config: Option<AudioSpecificConfig>,
}

impl AdtsWriter {
    /// A writer before any configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ADTS frame for `frame`, if it is an AAC frame that can be written.
    pub fn frame(&mut self, frame: &Frame) -> Option<bytes::Bytes> {
        if frame.kind != FrameKind::Audio || frame.data.first().map(|b| b >> 4) != Some(10) {
            return None;
        }
        let payload = frame.data.get(2..)?;
        if frame.sequence_header {
            self.config = AudioSpecificConfig::parse(payload).ok();
            return None;
        }
        let header = adts_header(self.config.as_ref()?, payload.len()).ok()?;
        let mut out = bytes::BytesMut::with_capacity(header.len() + payload.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(payload);
        Some(out.freeze())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn audio(seq: bool, data: &'static [u8]) -> Frame {
        let mut f = Frame::from_tag(FrameKind::Audio, 0, Bytes::from_static(data));
        f.sequence_header = seq;
        f
    }

    #[test]
    fn adts_frames_follow_the_latest_configuration() {
        let mut w = AdtsWriter::new();
        // Before a configuration: nothing.
        assert!(w.frame(&audio(false, &[0xAF, 1, 9, 9])).is_none());
        // AAC-LC, 44.1 kHz, stereo.
        assert!(w.frame(&audio(true, &[0xAF, 0, 0x12, 0x10])).is_none());
        let out = w.frame(&audio(false, &[0xAF, 1, 9, 9])).unwrap();
        assert_eq!(out.len(), 7 + 2);
        assert_eq!(&out[..2], &[0xFF, 0xF1]);
        // Profile LC (1) → 01, sampling index 4 (44.1 kHz), channels 2.
        assert_eq!(out[2] >> 6, 1);
        assert_eq!((out[2] >> 2) & 0xF, 4);
        let frame_len =
            (usize::from(out[3] & 3) << 11) | (usize::from(out[4]) << 3) | usize::from(out[5] >> 5);
        assert_eq!(frame_len, 9);
        assert_eq!(&out[7..], &[9, 9]);
        // 48 kHz from a new configuration (a DJ's encoder).
        assert!(w.frame(&audio(true, &[0xAF, 0, 0x11, 0x90])).is_none());
        let out = w.frame(&audio(false, &[0xAF, 1, 7])).unwrap();
        assert_eq!((out[2] >> 2) & 0xF, 3);
        // Not AAC (MP3's sound format 2): left out.
        assert!(w.frame(&audio(false, &[0x2F, 1, 7])).is_none());
    }
}
