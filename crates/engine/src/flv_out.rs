//! HTTP-FLV output: a reader's frames as an FLV byte stream (FLV spec v10.1 Annex E).
//!
//! Each tag goes out as three chunks — an 11-byte header, the shared frame body, the 4-byte
//! `PreviousTagSize` — so the body is never copied per viewer.

use bytes::{BufMut, Bytes, BytesMut};
use ferrocast_hub::{FrameKind, ReadEnd, Reader};

/// FLV tag types (FLV spec v10.1 Annex E.4.1).
const TAG_AUDIO: u8 = 8;
const TAG_VIDEO: u8 = 9;
const TAG_SCRIPT: u8 = 18;

/// The FLV file header and `PreviousTagSize0`.
pub fn file_header(has_audio: bool, has_video: bool) -> Bytes {
    let mut b = BytesMut::with_capacity(13);
    b.put_slice(b"FLV");
    b.put_u8(1);
    b.put_u8((u8::from(has_audio) << 2) | u8::from(has_video));
    b.put_u32(9);
    b.put_u32(0);
    b.freeze()
}

fn tag_header(tag_type: u8, timestamp: u32, len: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(11);
    b.put_u8(tag_type);
    b.put_uint(len as u64, 3);
    b.put_uint(u64::from(timestamp & 0x00ff_ffff), 3);
    b.put_u8((timestamp >> 24) as u8);
    b.put_uint(0, 3);
    b.freeze()
}

/// Turns a reader into the chunks of an FLV stream. Timestamps are rebased so the stream starts
/// at 0, as players expect. The stream ends when the publisher leaves or the reader is dropped
/// for staying behind.
pub fn stream(
    reader: Reader,
    has_audio: bool,
    has_video: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    struct State {
        reader: Reader,
        pending: Vec<Bytes>,
        base: Option<u32>,
        header_sent: bool,
        has_audio: bool,
        has_video: bool,
    }
    let state = State {
        reader,
        pending: Vec::new(),
        base: None,
        header_sent: false,
        has_audio,
        has_video,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if !st.header_sent {
            st.header_sent = true;
            let h = file_header(st.has_audio, st.has_video);
            return Some((Ok(h), st));
        }
        if let Some(chunk) = st.pending.pop() {
            return Some((Ok(chunk), st));
        }
        match st.reader.recv().await {
            Ok(frame) => {
                let tag_type = match frame.kind {
                    FrameKind::Audio => TAG_AUDIO,
                    FrameKind::Video => TAG_VIDEO,
                    FrameKind::Data => TAG_SCRIPT,
                };
                // Configuration and metadata are timeless; media is rebased to the first sample.
                let ts = if frame.sequence_header || frame.kind == FrameKind::Data {
                    0
                } else {
                    let base = *st.base.get_or_insert(frame.timestamp);
                    frame.timestamp.wrapping_sub(base)
                };
                let len = frame.data.len();
                let mut trailer = BytesMut::with_capacity(4);
                trailer.put_u32((11 + len) as u32);
                // Popped from the end: trailer last.
                st.pending.push(trailer.freeze());
                st.pending.push(frame.data);
                Some((Ok(tag_header(tag_type, ts, len)), st))
            }
            // The publisher left, or this viewer stayed behind: the response ends.
            Err(ReadEnd::Ended | ReadEnd::TooSlow) => None,
        }
    })
}
