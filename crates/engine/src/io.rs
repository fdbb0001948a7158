//! What the RTMP listener and restream pushes share on their way out: vectored writes of
//! queued `Bytes`, and the chunked form of a frame that both send when the peer's message
//! stream id allows it.
//!
//! A leaf module: it names no other module of the crate, so both senders can use it without
//! naming each other.

use bytes::{Buf, Bytes};
use ferrocast_hub::{Frame, FrameKind};
use ferrocast_rtmp::session::{chunk_media, MediaKind, DEFAULT_OUT_CHUNK_SIZE};
use std::io;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The message stream id players get from their first `createStream` (and destinations usually
/// give a publish), which the shared chunked form of a frame carries; a session on another id
/// gets its own chunking.
/// The RTMP application for playback: `rtmp://HOST/play/<playback_id>` (players, and nodes
/// pulling a stream to relay it).
pub const PLAY_APP: &str = "play";

pub(crate) const SHARED_STREAM_ID: u32 = 1;

/// Buffers passed to one vectored write at most.
const IOV_BATCH: usize = 64;

/// The RTMP media kind of a hub frame kind.
pub(crate) fn media_kind(k: FrameKind) -> MediaKind {
    match k {
        FrameKind::Audio => MediaKind::Audio,
        FrameKind::Video => MediaKind::Video,
        FrameKind::Data => MediaKind::Data,
    }
}

/// The frame chunked at [`DEFAULT_OUT_CHUNK_SIZE`] for message stream [`SHARED_STREAM_ID`],
/// made once by whichever reader needs it first and shared by every RTMP player and restream
/// push; `None` if it cannot be chunked or has no shared cell (it did not come from the hub),
/// and then the caller chunks it for itself.
pub(crate) fn shared_chunks(frame: &Frame) -> Option<Bytes> {
    let chunks = frame.encoded.as_ref()?.get_or_init(|| {
        chunk_media(
            DEFAULT_OUT_CHUNK_SIZE,
            SHARED_STREAM_ID,
            media_kind(frame.kind),
            frame.timestamp,
            &frame.data,
        )
        .unwrap_or_default()
    });
    (!chunks.is_empty()).then(|| chunks.clone())
}

/// Writes every buffer, [`IOV_BATCH`] at a time, advancing through partial writes.
pub(crate) async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut [Bytes],
) -> io::Result<()> {
    while bufs.iter().any(|b| !b.is_empty()) {
        write_some_vectored(w, bufs).await?;
    }
    Ok(())
}

/// One vectored write of up to [`IOV_BATCH`] of the non-empty buffers; advances them past what
/// was written and returns how many bytes that was (never 0: that is `WriteZero`).
pub(crate) async fn write_some_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut [Bytes],
) -> io::Result<usize> {
    let Some(first) = bufs.iter().position(|b| !b.is_empty()) else {
        return Ok(0);
    };
    let end = (first + IOV_BATCH).min(bufs.len());
    let mut slices = [io::IoSlice::new(&[]); IOV_BATCH];
    for (slot, b) in slices.iter_mut().zip(&bufs[first..end]) {
        *slot = io::IoSlice::new(b);
    }
    let written = w.write_vectored(&slices[..end - first]).await?;
    if written == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    let mut n = written;
    for b in &mut bufs[first..] {
        if n == 0 {
            break;
        }
        let step = n.min(b.len());
        b.advance(step);
        n -= step;
    }
    Ok(written)
}
