//! HTTP-FLV output: a reader's frames as an FLV byte stream (FLV spec v10.1 Annex E).
//!
//! Each tag goes out as three chunks — an 11-byte header, the shared frame body, the 4-byte
//! `PreviousTagSize` — so the body is never copied per viewer.

use bytes::{BufMut, Bytes, BytesMut};
use ferrocast_hub::{FrameKind, ReadEnd, Reader};
use ferrocast_media::flv::{write_file_header, FlvHeader, TagType};

/// The FLV file header and `PreviousTagSize0` (the media crate's writer).
pub fn file_header(has_audio: bool, has_video: bool) -> Bytes {
    let mut b = BytesMut::with_capacity(13);
    write_file_header(
        FlvHeader {
            has_audio,
            has_video,
        },
        &mut b,
    );
    b.freeze()
}

/// A tag's 11-byte header and 4-byte `PreviousTagSize` (FLV spec v10.1 Annex E.4.1), from one
/// allocation; the body goes between them without being copied.
fn tag_frame(tag_type: TagType, timestamp: u32, len: usize) -> (Bytes, Bytes) {
    let mut b = BytesMut::with_capacity(15);
    b.put_u8(tag_type.0);
    b.put_uint(len as u64, 3);
    b.put_uint(u64::from(timestamp & 0x00ff_ffff), 3);
    b.put_u8((timestamp >> 24) as u8);
    b.put_uint(0, 3);
    b.put_u32((11 + len) as u32);
    let trailer = b.split_off(11);
    (b.freeze(), trailer.freeze())
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
                    FrameKind::Audio => TagType::AUDIO,
                    FrameKind::Video => TagType::VIDEO,
                    FrameKind::Data => TagType::SCRIPT_DATA,
                };
                // Configuration and metadata are timeless; media is rebased to the first sample.
                let ts = if frame.sequence_header || frame.kind == FrameKind::Data {
                    0
                } else {
                    let base = *st.base.get_or_insert(frame.timestamp);
                    frame.timestamp.wrapping_sub(base)
                };
                let (header, trailer) = tag_frame(tag_type, ts, frame.data.len());
                // Popped from the end: trailer last.
                st.pending.push(trailer);
                st.pending.push(frame.data);
                Some((Ok(header), st))
            }
            // The publisher left, or this viewer stayed behind: the response ends.
            Err(ReadEnd::Ended | ReadEnd::TooSlow) => None,
        }
    })
}
