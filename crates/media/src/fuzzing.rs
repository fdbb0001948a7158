//! Fuzz bodies for cargo-fuzz targets (wired in `fuzz/` by the lead) and the proptests. Each
//! must never panic, whatever the input.

use bytes::Bytes;

use crate::aac::{adts_header, AudioSpecificConfig};
use crate::avc::{AvcDecoderConfig, Sps};
use crate::flv::{AudioTagHeader, FlvReader, TagType, VideoTag, VideoTagHeader};
use crate::hevc::HevcDecoderConfig;
use crate::hls::{HlsConfig, HlsSegmenter, LowLatencyConfig};
use crate::ts_demux::TsDemuxer;

/// The FLV reader over `data` split at an input-chosen point, parsing every tag's header.
pub fn fuzz_flv(data: &[u8]) {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut reader = FlvReader::with_max_tag_body_len(64 * 1024);
    for chunk in [&data[..split], &data[split..]] {
        reader.push(chunk);
        loop {
            match reader.next_tag() {
                Ok(Some(tag)) => {
                    let _ = VideoTagHeader::parse(&tag.body);
                    let _ = VideoTag::parse(&tag.body);
                    let _ = AudioTagHeader::parse(&tag.body);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// `AvcDecoderConfig::parse`, then its SPS, codec string and an Annex B conversion of `data`.
pub fn fuzz_avc_config(data: &[u8]) {
    if let Ok(config) = AvcDecoderConfig::parse(data) {
        let _ = config.codec_string();
        let _ = config.parse_sps();
        let mut out = bytes::BytesMut::new();
        let _ = config.avcc_to_annexb(data, true, &mut out);
    }
}

/// `Sps::parse` on raw bytes and on bytes with an SPS NAL header prepended.
pub fn fuzz_sps(data: &[u8]) {
    let _ = Sps::parse(data);
    let mut nal = Vec::with_capacity(data.len() + 1);
    nal.push(0x67);
    nal.extend_from_slice(data);
    let _ = Sps::parse(&nal);
}

/// `AudioSpecificConfig::parse` and an ADTS header for it.
pub fn fuzz_aac_config(data: &[u8]) {
    if let Ok(config) = AudioSpecificConfig::parse(data) {
        let _ = config.codec_string();
        let _ = adts_header(&config, data.len());
    }
}

/// The HLS segmenter fed records `[type, ts_delta, len, body…]` taken from `data`, with the
/// playlist rendered after each; inputs of odd length run with Low-Latency HLS parts.
pub fn fuzz_hls(data: &[u8]) {
    let mut hls = HlsSegmenter::new(HlsConfig {
        target_duration_ms: 10,
        window: 2,
        retain_extra: 1,
        max_segment_duration_ms: 100,
        max_segment_bytes: 4096,
        low_latency: (data.len() % 2 == 1).then_some(LowLatencyConfig {
            part_target_ms: 1,
            part_segments: 1,
        }),
    });
    let mut ts: u64 = 0;
    let mut rest = data;
    while rest.len() >= 3 {
        let kind = rest[0];
        let delta = u64::from(rest[1]);
        let len = usize::from(rest[2]).min(rest.len() - 3);
        let body = Bytes::copy_from_slice(&rest[3..3 + len]);
        rest = &rest[3 + len..];
        // Mostly forward, sometimes far back, to exercise discontinuities.
        ts = if kind & 0x80 != 0 {
            ts.saturating_sub(delta * 100)
        } else {
            ts + delta
        };
        let tag_type = match kind & 0x03 {
            0 => TagType::AUDIO,
            1 | 2 => TagType::VIDEO,
            _ => TagType(kind & 0x1F),
        };
        if kind & 0x7C == 0x7C {
            hls.mark_discontinuity();
        }
        if kind & 0x7C == 0x78 {
            hls.finish();
        }
        let _ = hls.push(tag_type, ts, &body, 1_700_000_000_000 + ts as i64);
        let _ = hls.playlist();
        let _ = hls.codecs();
        let msn = u64::from(kind >> 2);
        let part = u32::from(rest.first().copied().unwrap_or(0) & 0x0F);
        let _ = hls.has_part(msn, Some(part));
        let _ = hls.is_too_far_ahead(msn, Some(part));
        let _ = hls.part(msn, part);
    }
}

/// An Enhanced RTMP video tag body: its header, then (as a sequence start) an
/// HEVCDecoderConfigurationRecord with its codec string, IRAP check and an Annex B conversion of
/// the same bytes as a frame.
pub fn fuzz_hevc_video(data: &[u8]) {
    if let Ok(tag) = VideoTag::parse(data) {
        let _ = tag.is_keyframe();
        let _ = tag.codec.name();
        let payload = tag.payload(data);
        if let Ok(config) = HevcDecoderConfig::parse(payload) {
            let _ = config.codec_string();
            let _ = config.is_irap(data);
            let mut out = bytes::BytesMut::new();
            let _ = config.to_annexb(data, true, &mut out);
        }
    }
    if let Ok(config) = HevcDecoderConfig::parse(data) {
        let mut out = bytes::BytesMut::new();
        let _ = config.to_annexb(data, false, &mut out);
    }
}

/// The transport stream demuxer over `data` split at an input-chosen point, every tag taken
/// and parsed back as FLV.
pub fn fuzz_ts_demux(data: &[u8]) {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut demuxer = TsDemuxer::new();
    for chunk in [&data[..split], &data[split..]] {
        demuxer.push(chunk);
        while let Some(tag) = demuxer.next_tag() {
            let _ = VideoTag::parse(&tag.body);
        }
    }
    demuxer.finish();
    while let Some(tag) = demuxer.next_tag() {
        let _ = VideoTag::parse(&tag.body);
    }
}
