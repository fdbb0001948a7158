//! Property tests: FLV round trips and "never panics" for every parser over arbitrary bytes.

use bytes::BytesMut;
use ferrocast_media::flv::{
    write_file_header, write_tag, AvcPacketType, FlvHeader, FlvReader, FrameType, TagType,
    VideoCodecId, VideoTagHeader,
};
use ferrocast_media::fuzzing;
use proptest::prelude::*;

/// A real x264 AVCDecoderConfigurationRecord (High, 640×360) to mutate.
const X264_RECORD: &[u8] = &[
    0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0,
    0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16,
    0x2d, 0x96, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00,
];

fn arb_tag() -> impl Strategy<Value = (u8, u32, Vec<u8>)> {
    (
        prop_oneof![Just(8u8), Just(9u8), Just(18u8), 0u8..32],
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn flv_write_read_round_trip(
        tags in proptest::collection::vec(arb_tag(), 0..12),
        chunk in 1usize..80,
    ) {
        let mut file = BytesMut::new();
        write_file_header(FlvHeader { has_audio: true, has_video: false }, &mut file);
        for (t, ts, body) in &tags {
            write_tag(TagType(*t), *ts, body, &mut file).unwrap();
        }
        let mut reader = FlvReader::new();
        let mut read = Vec::new();
        for piece in file.chunks(chunk) {
            reader.push(piece);
            while let Some(tag) = reader.next_tag().unwrap() {
                read.push((tag.tag_type.0, tag.timestamp_ms, tag.body.to_vec()));
            }
        }
        prop_assert_eq!(read, tags);
        prop_assert_eq!(reader.buffered_len(), 0);
        prop_assert_eq!(reader.header(), Some(FlvHeader { has_audio: true, has_video: false }));
    }

    #[test]
    fn avc_video_tag_header_round_trip(
        frame_type in 0u8..16,
        packet_type in any::<u8>(),
        cts in -(1i32 << 23)..(1i32 << 23),
    ) {
        let header = VideoTagHeader {
            frame_type: FrameType(frame_type),
            codec_id: VideoCodecId::AVC,
            avc_packet_type: Some(AvcPacketType(packet_type)),
            composition_time_ms: cts,
        };
        let mut out = BytesMut::new();
        header.write(&mut out);
        prop_assert_eq!(out.len(), header.encoded_len());
        prop_assert_eq!(VideoTagHeader::parse(&out).unwrap(), header);
    }

    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzzing::fuzz_flv(&data);
        fuzzing::fuzz_avc_config(&data);
        fuzzing::fuzz_hevc_video(&data);
        fuzzing::fuzz_ts_demux(&data);
        fuzzing::fuzz_sps(&data);
        fuzzing::fuzz_aac_config(&data);
        let _ = ferrocast_media::flv::AudioTagHeader::parse(&data);
        let _ = VideoTagHeader::parse(&data);
    }

    #[test]
    fn flv_reader_never_panics_on_a_valid_prefix(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        // Past the signature check, so the tag parser itself is exercised.
        let mut file = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        file.extend_from_slice(&data);
        fuzzing::fuzz_flv(&file);
    }

    #[test]
    fn hls_segmenter_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        fuzzing::fuzz_hls(&data);
    }

    #[test]
    fn mutated_real_avc_record_never_panics(
        flips in proptest::collection::vec((0usize..X264_RECORD.len(), any::<u8>()), 1..6),
        cut in 0usize..=X264_RECORD.len(),
    ) {
        let mut record = X264_RECORD.to_vec();
        for (i, x) in flips {
            record[i] ^= x;
        }
        record.truncate(cut.max(1));
        fuzzing::fuzz_avc_config(&record);
        fuzzing::fuzz_sps(&record[8.min(record.len())..]);
    }

    /// What our muxer writes, the demuxer reads back: every access unit's NAL units (without
    /// the AUD and parameter sets), in order, with their decode times; in pieces of any size,
    /// and through bytes mutated after the muxing without a panic.
    #[test]
    fn ts_demuxer_reads_back_what_the_muxer_wrote(
        frames in proptest::collection::vec(
            (proptest::collection::vec(1u8..=255, 1..3000), 1u64..6000, any::<bool>()),
            1..12,
        ),
        piece in 1usize..1500,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    ) {
        use ferrocast_media::ts::{TsMuxer, TsStreams};
        use ferrocast_media::ts_demux::TsDemuxer;
        let sps: &[u8] = &[0x67, 0x64, 0x00, 0x1F, 0xAC, 0xD9];
        let pps: &[u8] = &[0x68, 0xEB, 0xE3];
        let mut mux = TsMuxer::new(TsStreams { video: true, audio: false, hevc: false });
        let mut ts = BytesMut::new();
        mux.write_tables(&mut ts);
        let mut dts = 90_000u64;
        let mut expected = Vec::new();
        for (i, (body, step, _)) in frames.iter().enumerate() {
            // The first is an IDR; the others non-IDR slices. The body bytes are nonzero, so
            // no start code hides in them.
            let keyframe = i == 0;
            let nal: Vec<u8> = [&[if keyframe { 0x65 } else { 0x41 }][..], body].concat();
            let mut annexb = vec![0, 0, 0, 1, 0x09, 0xF0];
            if keyframe {
                for ps in [sps, pps] {
                    annexb.extend_from_slice(&[0, 0, 0, 1]);
                    annexb.extend_from_slice(ps);
                }
            }
            annexb.extend_from_slice(&[0, 0, 0, 1]);
            annexb.extend_from_slice(&nal);
            mux.write_video(&mut ts, dts, dts, keyframe, &annexb);
            expected.push(((dts - 90_000) / 90 + 1000, nal));
            dts += step;
        }
        let mut demuxer = TsDemuxer::new();
        for chunk in ts.chunks(piece) {
            demuxer.push(chunk);
        }
        demuxer.finish();
        let got: Vec<_> = std::iter::from_fn(|| demuxer.next_tag())
            .skip(1) // the sequence header
            .map(|t| (u64::from(t.timestamp_ms), t.body[9..].to_vec()))
            .collect();
        prop_assert_eq!(got, expected);

        let mut damaged = ts.to_vec();
        for (at, x) in flips {
            let at = at % damaged.len();
            damaged[at] ^= x;
        }
        fuzzing::fuzz_ts_demux(&damaged);
    }
}
