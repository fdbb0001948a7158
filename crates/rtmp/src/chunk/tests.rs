use proptest::prelude::*;

use super::*;

fn decode_all(d: &mut ChunkDecoder, mut input: &[u8]) -> Result<Vec<Message>, RtmpError> {
    let mut out = Vec::new();
    while let Some(m) = d.decode(&mut input)? {
        out.push(m);
    }
    assert!(input.is_empty());
    Ok(out)
}

/// A decoder that accepts any chunk size from 1 up, to exercise chunking below the 128-byte
/// floor peers are held to.
fn small_chunk_decoder() -> ChunkDecoder {
    ChunkDecoder::with_limits(ChunkDecoderLimits {
        min_chunk_size: 1,
        ..Default::default()
    })
}

fn one(d: &mut ChunkDecoder, input: &[u8]) -> Message {
    let mut v = decode_all(d, input).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

#[test]
fn basic_header_forms() {
    // fmt 0, csid 3 (1 byte), ts 1, len 2, type 20, stream 1 (little-endian).
    let b = [0x03, 0, 0, 1, 0, 0, 2, 20, 1, 0, 0, 0, 0xAA, 0xBB];
    let m = one(&mut ChunkDecoder::new(), &b);
    assert_eq!(
        (m.csid, m.timestamp, m.type_id, m.stream_id, &m.payload[..]),
        (3, 1, MessageType::COMMAND_AMF0, 1, &[0xAA, 0xBB][..])
    );
    // 2-byte form: csid 64 + 10.
    let b = [0x00, 10, 0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0x17];
    assert_eq!(one(&mut ChunkDecoder::new(), &b).csid, 74);
    // 3-byte form: csid 64 + 0x34 + 0x12*256.
    let b = [0x01, 0x34, 0x12, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0xAF];
    assert_eq!(one(&mut ChunkDecoder::new(), &b).csid, 64 + 0x34 + 0x1200);
    // The highest expressible id.
    let b = [0x01, 0xFF, 0xFF, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0xAF];
    assert_eq!(one(&mut ChunkDecoder::new(), &b).csid, MAX_CHUNK_STREAM_ID);
}

#[test]
fn header_types_accumulate_timestamps() {
    let mut d = ChunkDecoder::new();
    // fmt 0: ts 1000, len 1, type 8, stream 1.
    let m = one(&mut d, &[0x04, 0, 0x03, 0xE8, 0, 0, 1, 8, 1, 0, 0, 0, 1]);
    assert_eq!(m.timestamp, 1000);
    // fmt 1: delta 20, len 2, type 9 (stream id kept).
    let m = one(&mut d, &[0x44, 0, 0, 20, 0, 0, 2, 9, 2, 3]);
    assert_eq!(
        (m.timestamp, m.type_id, m.stream_id),
        (1020, MessageType::VIDEO, 1)
    );
    // fmt 2: delta 30 (length and type kept).
    let m = one(&mut d, &[0x84, 0, 0, 30, 4, 5]);
    assert_eq!((m.timestamp, &m.payload[..]), (1050, &[4, 5][..]));
    // fmt 3 starting a new message: delta 30 again.
    let m = one(&mut d, &[0xC4, 6, 7]);
    assert_eq!((m.timestamp, &m.payload[..]), (1080, &[6, 7][..]));
    // A delta wraps around 2^32.
    let mut d = ChunkDecoder::new();
    one(
        &mut d,
        &[
            0x04, 0xFF, 0xFF, 0xFF, 0, 0, 0, 8, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xF0,
        ],
    );
    let m = one(&mut d, &[0x84, 0, 0, 0x20]);
    assert_eq!(m.timestamp, 0x10);
}

#[test]
fn multi_chunk_message_and_interleaving() {
    let mut d = ChunkDecoder::new();
    let mut b = vec![0x06, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
    b.extend_from_slice(&[1; 128]);
    // Another chunk stream interleaved between the two chunks of the first message.
    b.extend_from_slice(&[0x04, 0, 0, 5, 0, 0, 1, 8, 1, 0, 0, 0, 0xAF]);
    b.push(0xC6);
    b.extend_from_slice(&[2; 72]);
    let msgs = decode_all(&mut d, &b).unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!((msgs[0].csid, msgs[0].timestamp), (4, 5));
    assert_eq!(msgs[1].payload.len(), 200);
    assert_eq!(&msgs[1].payload[126..130], &[1, 1, 2, 2]);
}

#[test]
fn small_messages_share_slab_blocks_and_keep_their_bytes() {
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(4096).unwrap();
    let mut wire = BytesMut::new();
    // Audio-sized frames on one chunk stream, a video frame spanning chunks on another, and a
    // frame just over the slab's limit.
    let frames: Vec<(u32, Vec<u8>)> = (0..200u32)
        .map(|i| match i % 20 {
            7 => (6, vec![i as u8; 9000]),
            13 => (4, vec![i as u8; SLAB_MESSAGE_MAX + 1]),
            _ => (4, vec![i as u8; 300 + (i as usize % 50)]),
        })
        .collect();
    for (i, (csid, payload)) in frames.iter().enumerate() {
        enc.write(&mut wire, *csid, i as u32 * 20, MessageType(8), 1, payload)
            .unwrap();
    }
    let mut d = ChunkDecoder::new();
    d.set_chunk_size(4096).unwrap();
    let msgs = decode_all(&mut d, &wire).unwrap();
    assert_eq!(msgs.len(), frames.len());
    for (m, (csid, payload)) in msgs.iter().zip(&frames) {
        assert_eq!((m.csid, &m.payload[..]), (*csid, &payload[..]));
    }
    // Small messages came from a few blocks, not one allocation each: each starts where the
    // one before it ended, except where a block filled (separate allocations never touch: the
    // allocator keeps its own header between them).
    let small: Vec<&Bytes> = msgs
        .iter()
        .map(|m| &m.payload)
        .filter(|p| p.len() <= SLAB_MESSAGE_MAX)
        .collect();
    let adjacent = small
        .windows(2)
        .filter(|w| w[0].as_ptr() as usize + w[0].len() == w[1].as_ptr() as usize)
        .count();
    assert!(
        adjacent * 10 >= (small.len() - 1) * 9,
        "{adjacent} of {} small messages follow the one before",
        small.len()
    );
}

#[test]
fn a_slab_block_is_reused_once_its_messages_are_dropped() {
    let take = |slab: &mut Slab, fill: u8, len: usize| {
        slab.make_room(len);
        slab.buf.extend_from_slice(&vec![fill; len]);
        slab.buf.split().freeze()
    };
    let mut slab = Slab::default();
    let a = take(&mut slab, 1, 600);
    let b = take(&mut slab, 2, 300);
    assert_eq!(b.as_ptr() as usize, a.as_ptr() as usize + 600, "one block");
    // 124 bytes left: a message of 600 needs a new block while `a` and `b` are held...
    let c = take(&mut slab, 3, 600);
    assert_ne!(c.as_ptr() as usize, a.as_ptr() as usize + 900);
    assert_eq!((&a[..], &b[..]), (&[1; 600][..], &[2; 300][..]));
    // ...and reuses its block from the start once they are all dropped.
    let start = c.as_ptr();
    let d = take(&mut slab, 4, 1000);
    drop((c, d));
    let e = take(&mut slab, 5, 1500);
    assert_eq!(e.as_ptr(), start);
    assert_eq!(&e[..], &[5; 1500][..]);
}

#[test]
fn extended_timestamps_with_and_without_repeat() {
    let ts: u32 = 0x0123_4567;
    for repeat in [true, false] {
        let mut b = vec![0x06, 0xFF, 0xFF, 0xFF, 0, 0, 200, 9, 1, 0, 0, 0];
        b.extend_from_slice(&ts.to_be_bytes());
        b.extend_from_slice(&[1; 128]);
        b.push(0xC6);
        if repeat {
            b.extend_from_slice(&ts.to_be_bytes());
        }
        b.extend_from_slice(&[2; 72]);
        let m = one(&mut ChunkDecoder::new(), &b);
        assert_eq!(m.timestamp, ts);
        assert_eq!(&m.payload[127..129], &[1, 2]);
        assert_eq!(m.payload.len(), 200);
    }
    // A type-3 new message after an extended type 0 adds the extended value again.
    let mut d = ChunkDecoder::new();
    let mut b = vec![0x06, 0xFF, 0xFF, 0xFF, 0, 0, 1, 9, 1, 0, 0, 0];
    b.extend_from_slice(&ts.to_be_bytes());
    b.push(9);
    b.push(0xC6);
    b.extend_from_slice(&ts.to_be_bytes());
    b.push(10);
    let msgs = decode_all(&mut d, &b).unwrap();
    assert_eq!(msgs[1].timestamp, ts.wrapping_mul(2));
    assert_eq!(&msgs[1].payload[..], &[10]);
}

#[test]
fn encoder_writes_extended_timestamps() {
    let mut out = BytesMut::new();
    let mut e = ChunkEncoder::new();
    e.write(&mut out, 6, 0x0100_0000, MessageType::VIDEO, 1, &[7; 130])
        .unwrap();
    let mut want = vec![0x06, 0xFF, 0xFF, 0xFF, 0, 0, 130, 9, 1, 0, 0, 0, 1, 0, 0, 0];
    want.extend_from_slice(&[7; 128]);
    want.extend_from_slice(&[0xC6, 1, 0, 0, 0, 7, 7]);
    assert_eq!(&out[..], &want[..]);
    // Next message on the same chunk stream: type 1 with a delta.
    out.clear();
    e.write(&mut out, 6, 0x0100_0010, MessageType::VIDEO, 1, &[1])
        .unwrap();
    assert_eq!(&out[..], &[0x46, 0, 0, 0x10, 0, 0, 1, 9, 1]);
    // The 2- and 3-byte basic header forms.
    let b = encode_message(128, 100, 0, MessageType::AUDIO, 0, &[]).unwrap();
    assert_eq!(&b[..2], &[0x00, 36]);
    let b = encode_message(128, 400, 0, MessageType::AUDIO, 0, &[]).unwrap();
    assert_eq!(&b[..3], &[0x01, (336 & 0xff) as u8, 1]);
}

#[test]
fn set_chunk_size_mid_stream() {
    let mut d = ChunkDecoder::new();
    let b = [0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
    let m = one(&mut d, &b);
    let Some(crate::ProtocolControl::SetChunkSize(n)) =
        crate::ProtocolControl::decode(m.type_id, &m.payload).unwrap()
    else {
        panic!()
    };
    d.set_chunk_size(n).unwrap();
    let mut b = vec![0x06, 0, 0, 0, 0, 0x01, 0x00, 9, 1, 0, 0, 0];
    b.extend_from_slice(&[3; 256]);
    assert_eq!(one(&mut d, &b).payload.len(), 256);
}

#[test]
fn abort_discards_partial() {
    let mut d = ChunkDecoder::new();
    let mut b = vec![0x06, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
    b.extend_from_slice(&[1; 128]);
    assert!(decode_all(&mut d, &b).unwrap().is_empty());
    d.abort(6);
    // A fresh type-0 message on the same chunk stream is accepted.
    let m = one(&mut d, &[0x06, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 5]);
    assert_eq!(&m.payload[..], &[5]);
}

/// The capacity of the buffer the message on `csid` is being assembled in.
fn partial_capacity(d: &ChunkDecoder, csid: u32) -> usize {
    match &d.streams[&csid].partial {
        Some(Partial::Own(b)) => b.capacity(),
        other => panic!("a large message has a buffer of its own, not {other:?}"),
    }
}

/// What the decoder has reserved for the message on `csid` once its first chunk arrived, and
/// the message once the rest did.
fn reserved_for(d: &mut ChunkDecoder, csid: u32, len: usize) -> (usize, Message) {
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let wire = encode_message(4096, csid, 0, MessageType::VIDEO, 1, &payload).unwrap();
    let (first, rest) = wire.split_at(12 + 4096);
    assert!(decode_all(d, first).unwrap().is_empty());
    let reserved = partial_capacity(d, csid);
    let m = one(d, rest);
    assert_eq!(m.payload, payload);
    (reserved, m)
}

#[test]
fn a_message_no_longer_than_twice_the_largest_before_is_reserved_whole() {
    let grown = INITIAL_REASSEMBLY_CAPACITY;
    let mut d = ChunkDecoder::new();
    d.set_chunk_size(4096).unwrap();
    // The first keyframe: nothing came before, so its buffer grows with its bytes.
    assert_eq!(reserved_for(&mut d, 6, 150_000).0, grown);
    // The next, up to twice as long, is reserved whole: one copy, and no spare capacity.
    let (reserved, m) = reserved_for(&mut d, 6, 300_000);
    assert_eq!((reserved, m.payload.len()), (300_000, 300_000));
    // Each whole reservation stands on a message completed since the last: the one above.
    assert_eq!(reserved_for(&mut d, 6, 600_000).0, 600_000);
    // Longer than twice the largest since: grown again.
    assert_eq!(reserved_for(&mut d, 6, 1_200_001).0, grown);
    // Another chunk stream has completed nothing: its declared length reserves nothing more.
    assert_eq!(reserved_for(&mut d, 7, 100_000).0, grown);
    // A whole reservation that is aborted spends the credit all the same.
    let payload = vec![1u8; 200_000];
    let wire = encode_message(4096, 7, 0, MessageType::VIDEO, 1, &payload).unwrap();
    assert!(decode_all(&mut d, &wire[..12 + 4096]).unwrap().is_empty());
    assert_eq!(partial_capacity(&d, 7), 200_000);
    d.abort(7);
    assert_eq!(reserved_for(&mut d, 7, 200_000).0, grown);
    // An aborted message was never completed, so it gives no credit.
    let wire = encode_message(4096, 8, 0, MessageType::VIDEO, 1, &payload).unwrap();
    assert!(decode_all(&mut d, &wire[..12 + 4096]).unwrap().is_empty());
    d.abort(8);
    assert_eq!(reserved_for(&mut d, 8, 100_000).0, grown);
}

#[test]
fn hostile_chunk_sizes() {
    let mut d = ChunkDecoder::new();
    // Below the 128-byte floor: refused, and the chunk size stays where it was.
    for size in [0, 1, 64, MIN_CHUNK_SIZE - 1] {
        let e = d.set_chunk_size(size).unwrap_err();
        assert_eq!(
            e,
            RtmpError::InvalidChunkSize {
                size,
                min: MIN_CHUNK_SIZE,
                max: MAX_CHUNK_SIZE
            }
        );
        assert!(e.is_limit_exceeded());
        assert_eq!(d.chunk_size(), DEFAULT_CHUNK_SIZE);
    }
    assert_eq!(d.set_chunk_size(MIN_CHUNK_SIZE), Ok(128));
    assert_eq!(d.set_chunk_size(MAX_CHUNK_SIZE), Ok(0xFF_FFFF));
    // Above 2^24-1 every size means the same (§5.4.1): clamped, and decoding goes on.
    for size in [0x100_0000, 0x7FFF_FFFF, u32::MAX] {
        assert_eq!(d.set_chunk_size(size), Ok(MAX_CHUNK_SIZE));
        assert_eq!(d.chunk_size(), MAX_CHUNK_SIZE);
    }
    // A 16 MiB chunk size with a tiny message allocates only the message.
    let m = one(&mut d, &[0x04, 0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0, 1]);
    assert!(m.payload.len() == 1);
    // A configured lower ceiling refuses sizes above it rather than misreading the stream.
    let mut d = ChunkDecoder::with_limits(ChunkDecoderLimits {
        max_chunk_size: 4096,
        ..Default::default()
    });
    assert!(matches!(
        d.set_chunk_size(4097),
        Err(RtmpError::InvalidChunkSize { max: 4096, .. })
    ));
    assert!(d.set_chunk_size(0x7FFF_FFFF).is_err());
    assert_eq!(d.set_chunk_size(4096), Ok(4096));
}

/// The Set Chunk Size message itself, as bytes off the wire: 127 is refused, 2^31-1 is
/// clamped and a following message spanning one 300-byte chunk still decodes.
#[test]
fn set_chunk_size_messages_from_the_wire() {
    let scs = |size: u32| {
        let mut b = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
        b.extend_from_slice(&size.to_be_bytes());
        b
    };
    let apply = |d: &mut ChunkDecoder, bytes: &[u8]| {
        let m = one(d, bytes);
        match crate::ProtocolControl::decode(m.type_id, &m.payload).unwrap() {
            Some(crate::ProtocolControl::SetChunkSize(n)) => d.set_chunk_size(n),
            other => panic!("{other:?}"),
        }
    };
    let mut d = ChunkDecoder::new();
    assert!(matches!(
        apply(&mut d, &scs(127)),
        Err(RtmpError::InvalidChunkSize { size: 127, .. })
    ));
    let mut d = ChunkDecoder::new();
    assert_eq!(apply(&mut d, &scs(0x7FFF_FFFF)), Ok(MAX_CHUNK_SIZE));
    let mut b = vec![0x06, 0, 0, 0, 0, 0x01, 0x2C, 9, 1, 0, 0, 0];
    b.extend_from_slice(&[7; 300]);
    assert_eq!(&one(&mut d, &b).payload[..], &[7; 300][..]);
}

#[test]
fn hostile_lengths_and_ids() {
    // 8 MiB + 1.
    let b = [0x04, 0, 0, 0, 0x80, 0, 0x01, 8, 1, 0, 0, 0];
    assert!(matches!(
        decode_all(&mut ChunkDecoder::new(), &b),
        Err(RtmpError::MessageTooLarge { .. })
    ));
    // The wire maximum (2^24-1) against a 16 MiB limit.
    let b = [0x04, 0, 0, 0, 0xFF, 0xFF, 0xFF, 8, 1, 0, 0, 0];
    let mut d = ChunkDecoder::with_limits(ChunkDecoderLimits {
        max_message_len: 16 * 1024 * 1024,
        ..Default::default()
    });
    assert!(decode_all(&mut d, &b).unwrap().is_empty());
    // Exactly at the default limit is accepted (and not preallocated); four such
    // partial messages exceed the per-connection total.
    let mut b = Vec::new();
    for csid in 4..8 {
        b.extend_from_slice(&[csid, 0, 0, 0, 0x80, 0, 0, 9, 1, 0, 0, 0, 1]);
    }
    let mut d = small_chunk_decoder();
    d.set_chunk_size(1).unwrap();
    assert!(decode_all(&mut d, &b[..39]).unwrap().is_empty());
    assert!(matches!(
        decode_all(&mut d, &b[39..]),
        Err(RtmpError::MessageTooLarge { .. })
    ));
    // Compressed header on an unknown chunk stream.
    assert!(matches!(
        decode_all(&mut ChunkDecoder::new(), &[0xC5, 1]),
        Err(RtmpError::InvalidChunk { csid: 5, .. })
    ));
    // Chunk stream id above a configured limit.
    let mut d = ChunkDecoder::with_limits(ChunkDecoderLimits {
        max_chunk_stream_id: 10,
        ..Default::default()
    });
    let e = decode_all(&mut d, &[0x00, 0, 0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0]).unwrap_err();
    assert!(matches!(
        e,
        RtmpError::ChunkStreamIdOutOfRange { csid: 64, max: 10 }
    ));
    // Too many partial messages at once.
    let mut d = small_chunk_decoder();
    d.set_chunk_size(1).unwrap();
    let mut b = Vec::new();
    for csid in 0..=MAX_PARTIAL_CHUNK_STREAMS as u8 {
        b.extend_from_slice(&[0x00, csid, 0, 0, 0, 0, 0, 2, 8, 1, 0, 0, 0, 1]);
    }
    assert_eq!(
        decode_all(&mut d, &b).unwrap_err(),
        RtmpError::TooManyChunkStreams(MAX_PARTIAL_CHUNK_STREAMS)
    );
    // A new header before the previous message finished.
    let mut b = vec![0x06, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
    b.extend_from_slice(&[1; 128]);
    b.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 1]);
    assert!(matches!(
        decode_all(&mut ChunkDecoder::new(), &b),
        Err(RtmpError::InvalidChunk { .. })
    ));
}

#[derive(Debug, Clone)]
struct Msg {
    csid: u32,
    ts: u32,
    type_id: u8,
    stream_id: u32,
    payload: Vec<u8>,
}

fn arb_msg() -> impl Strategy<Value = Msg> {
    (
        prop_oneof![2u32..10, 60u32..70, 300u32..330, Just(MAX_CHUNK_STREAM_ID)],
        prop_oneof![0u32..1000, 0xFF_FF00u32..0x100_0100, any::<u32>()],
        any::<u8>(),
        0u32..3,
        prop::collection::vec(any::<u8>(), 0..700),
    )
        .prop_map(|(csid, ts, type_id, stream_id, payload)| Msg {
            csid,
            ts,
            type_id,
            stream_id,
            payload,
        })
}

proptest! {
    #[test]
    fn encoder_decoder_round_trip(
        msgs in prop::collection::vec(arb_msg(), 1..20),
        chunk_size in prop_oneof![1u32..10, 100u32..300, Just(4096u32)],
        splits in prop::collection::vec(1usize..64, 1..50),
        monotonic in any::<bool>(),
    ) {
        let mut enc = ChunkEncoder::new();
        enc.set_chunk_size(chunk_size).unwrap();
        let mut wire = BytesMut::new();
        let mut ts = 0u32;
        let mut expected = Vec::new();
        for m in &msgs {
            // Monotonic timestamps exercise type-1 deltas; random ones type 0.
            let t = if monotonic { ts = ts.saturating_add(m.ts % 5000); ts } else { m.ts };
            enc.write(&mut wire, m.csid, t, MessageType(m.type_id), m.stream_id, &m.payload).unwrap();
            expected.push((m.csid, t, m.type_id, m.stream_id, m.payload.clone()));
        }
        let mut dec = small_chunk_decoder();
        dec.set_chunk_size(chunk_size).unwrap();
        let mut got = Vec::new();
        let mut rest = &wire[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = splits[i % splits.len()].min(rest.len());
            i += 1;
            let mut part = &rest[..n];
            rest = &rest[n..];
            while let Some(m) = dec.decode(&mut part).unwrap() {
                // Kept as decoded (not copied) until the end: a message split off the slab must
                // not change as later messages are assembled after it.
                got.push((m.csid, m.timestamp, m.type_id.0, m.stream_id, m.payload));
            }
            prop_assert!(part.is_empty());
        }
        drop(dec);
        let got: Vec<_> = got.into_iter().map(|(c, t, y, s, p)| (c, t, y, s, p.to_vec())).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn free_function_matches_decoder(m in arb_msg(), chunk_size in 1u32..500) {
        let b = encode_message(chunk_size, m.csid, m.ts, MessageType(m.type_id), m.stream_id, &m.payload).unwrap();
        let mut dec = small_chunk_decoder();
        dec.set_chunk_size(chunk_size).unwrap();
        let got = one(&mut dec, &b);
        prop_assert_eq!((got.csid, got.timestamp, &got.payload[..]), (m.csid, m.ts, &m.payload[..]));
    }

    #[test]
    fn decoder_never_panics(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        crate::fuzzing::fuzz_chunk_decoder(&data);
    }

    #[test]
    fn amf_fuzz_body_never_panics(data in prop::collection::vec(any::<u8>(), 0..512)) {
        crate::fuzzing::fuzz_amf0(&data);
    }
}
