//! The chunk stream (Adobe RTMP spec §5.3): messages split into chunks, interleaved by chunk
//! stream id, with compressed headers.
//!
//! [`ChunkDecoder`] reads chunks straight from the caller's slices: header bytes are held in a
//! small fixed buffer, payload bytes are copied into the message being reassembled (and again
//! only while a large message's buffer grows; see `INITIAL_REASSEMBLY_CAPACITY`), which is
//! then frozen into the `Bytes` every later reader shares. Small messages
//! that arrive in one chunk (audio frames, commands) are assembled one after another in a slab and
//! split off it (see [`Partial::Slab`]), so neither they nor the hub's copies of them cost an
//! allocation of their own.
//! [`ChunkEncoder`] and [`encode_message`] write messages as chunks.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};

use crate::message::{Message, MessageType};
use crate::RtmpError;

/// Chunk size every connection starts with (§5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size the spec allows (§5.4.1: the top bit must be zero).
pub const SPEC_MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// Largest chunk size that means anything: §5.4.1 notes that "all sizes larger than 16777215
/// (0xFFFFFF) are equivalent since no chunk is larger than one message, and no message is
/// larger than 16777215 bytes". A larger Set Chunk Size from a peer is clamped to this value,
/// which changes nothing on the wire, and the session continues.
pub const MAX_CHUNK_SIZE: u32 = 0xFF_FFFF;
/// Smallest Set Chunk Size we accept from a peer. §5.4.1 allows 1, but 128 is the size every
/// connection starts at and no encoder we know goes below it; a tiny chunk size only makes us
/// parse one header per few payload bytes (a 1-byte chunk size turns an 8 MiB message into
/// eight million headers), so it is refused and the connection closed.
pub const MIN_CHUNK_SIZE: u32 = DEFAULT_CHUNK_SIZE;
/// Largest message we reassemble. The wire format caps lengths at 2^24-1 (16 MiB); we refuse
/// half of that, still several times the largest keyframe of a 4K stream at 50 Mbit/s.
pub const MAX_MESSAGE_LEN: u32 = 8 * 1024 * 1024;
/// Most bytes all partially assembled messages of one connection may declare together, so a
/// peer cannot make us hold `MAX_PARTIAL_CHUNK_STREAMS` × `MAX_MESSAGE_LEN`.
pub const MAX_PARTIAL_BYTES: u64 = 24 * 1024 * 1024;
/// Most chunk streams with a partially assembled message at once.
pub const MAX_PARTIAL_CHUNK_STREAMS: usize = 64;
/// Most chunk streams whose last header we remember.
pub const MAX_CHUNK_STREAMS: usize = 256;
/// Highest chunk stream id the 3-byte basic header can carry (§5.3.1.1).
pub const MAX_CHUNK_STREAM_ID: u32 = 65599;
/// Initial reservation for a message being reassembled; it grows as chunks really arrive, so
/// a declared length costs nothing until the bytes are sent. A message no longer than twice
/// the largest its chunk stream has completed is reserved whole at once instead (see
/// [`ChunkStream::largest`]).
const INITIAL_REASSEMBLY_CAPACITY: usize = 64 * 1024;
/// The slab's first block. Each new block doubles the last up to [`SLAB_MAX_BLOCK`], so a player
/// that sends a few commands holds 1 KiB, and a publisher's audio soon takes one allocation per
/// ~45 frames instead of one each.
const SLAB_FIRST_BLOCK: usize = 1024;
/// Largest block of the slab ([`Partial::Slab`]).
const SLAB_MAX_BLOCK: usize = 16 * 1024;
/// Largest message assembled in the slab: an AAC or Opus frame, a command. A larger one would
/// leave more of a block unused at its end. (Video frames in slabs of their own were tried: they
/// saved no CPU, and each stream then held its current block too, ~0.1 MiB more per stream.)
const SLAB_MESSAGE_MAX: usize = 2 * 1024;
/// Timestamp field value that announces an extended timestamp (§5.3.1.3).
const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;
/// Basic (3) + message (11) + extended timestamp (4).
const MAX_HEADER_LEN: usize = 18;

/// The decoder's limits; [`Default`] gives the named constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkDecoderLimits {
    /// Smallest accepted Set Chunk Size value; smaller ones are refused.
    pub min_chunk_size: u32,
    /// Largest applied Set Chunk Size value: larger ones up to [`MAX_CHUNK_SIZE`] are refused,
    /// and those above [`MAX_CHUNK_SIZE`] (all equivalent to it, §5.4.1) are clamped to it.
    pub max_chunk_size: u32,
    /// Largest message length.
    pub max_message_len: u32,
    /// Most simultaneously partial chunk streams.
    pub max_partial_chunk_streams: usize,
    /// Most chunk streams tracked at all.
    pub max_chunk_streams: usize,
    /// Highest accepted chunk stream id.
    pub max_chunk_stream_id: u32,
    /// Most bytes all partial messages may declare together.
    pub max_partial_bytes: u64,
}

impl Default for ChunkDecoderLimits {
    fn default() -> Self {
        Self {
            min_chunk_size: MIN_CHUNK_SIZE,
            max_chunk_size: MAX_CHUNK_SIZE,
            max_message_len: MAX_MESSAGE_LEN,
            max_partial_chunk_streams: MAX_PARTIAL_CHUNK_STREAMS,
            max_chunk_streams: MAX_CHUNK_STREAMS,
            max_chunk_stream_id: MAX_CHUNK_STREAM_ID,
            max_partial_bytes: MAX_PARTIAL_BYTES,
        }
    }
}

/// The last header seen on a chunk stream, for header compression (§5.3.1.2).
#[derive(Debug, Clone, Copy)]
struct LastHeader {
    /// Absolute timestamp of the last message.
    timestamp: u32,
    /// Value of the last timestamp field (delta, or absolute after type 0; what ffmpeg and
    /// librtmp add for a type-3 chunk that starts a new message).
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The extended timestamp value if the last type 0/1/2 header used one.
    extended: Option<u32>,
}

#[derive(Debug, Default)]
struct ChunkStream {
    last: Option<LastHeader>,
    partial: Option<Partial>,
    /// The longest message completed on this chunk stream since the last whole reservation. A
    /// message longer than [`INITIAL_REASSEMBLY_CAPACITY`] and up to twice as long gets its
    /// whole buffer when it starts, so a keyframe after the first is copied once, not again at
    /// each doubling. That spends the credit (it is 0 until a message completes again), so
    /// each whole reservation stands on a message the peer sent in full since the last one:
    /// what declared lengths reserve stays within twice what the peer has sent, as with growth.
    largest: u32,
}

/// Where a message being reassembled is held.
#[derive(Debug)]
enum Partial {
    /// A buffer of its own: a message that spans chunks, or a large one.
    Own(BytesMut),
    /// The filled part of the decoder's slab: a small message that fits in one chunk. Chunks are
    /// read one at a time, so no other message's bytes reach the slab before this one completes.
    /// It is split off as its own `Bytes`, sharing the block with its neighbours; the block is
    /// freed when the last of them is, or reused in place if they all are.
    Slab,
}

/// The blocks small messages are assembled in, one after another; empty between messages.
#[derive(Debug, Default)]
struct Slab {
    buf: BytesMut,
    /// Capacity of the current block.
    block: usize,
}

impl Slab {
    /// Makes room for a message of `len` bytes: in the current block, in the current block
    /// reused from its start if no message of it is still held, or in a new one.
    fn make_room(&mut self, len: usize) {
        debug_assert!(self.buf.is_empty(), "a slab holds one message at a time");
        if self.buf.capacity() < len && !self.buf.try_reclaim(len) {
            self.block = (self.block * 2).clamp(SLAB_FIRST_BLOCK, SLAB_MAX_BLOCK);
            self.buf = BytesMut::with_capacity(self.block.max(len));
        }
    }
}

/// Reassembles messages from chunks (§5.3).
#[derive(Debug)]
pub struct ChunkDecoder {
    chunk_size: u32,
    limits: ChunkDecoderLimits,
    streams: HashMap<u32, ChunkStream>,
    partials: usize,
    /// Sum of the declared lengths of the partial messages.
    partial_bytes: u64,
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    /// Chunk stream id and payload bytes still due in the current chunk.
    in_payload: Option<(u32, usize)>,
    /// Where [`Partial::Slab`] messages are assembled.
    slab: Slab,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Parsed chunk header.
struct Header {
    fmt: u8,
    csid: u32,
    /// Bytes of the header proper (basic + message + extended timestamp).
    len: usize,
    ts_field: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    extended: Option<u32>,
}

impl ChunkDecoder {
    /// A decoder with the default limits and chunk size 128.
    pub fn new() -> Self {
        Self::with_limits(ChunkDecoderLimits::default())
    }

    /// A decoder with custom limits.
    pub fn with_limits(limits: ChunkDecoderLimits) -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            limits,
            streams: HashMap::new(),
            partials: 0,
            partial_bytes: 0,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            in_payload: None,
            slab: Slab::default(),
        }
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Applies the peer's Set Chunk Size (§5.4.1) and returns the size now in effect.
    ///
    /// Values below [`ChunkDecoderLimits::min_chunk_size`] (and 0) are refused; values above
    /// [`MAX_CHUNK_SIZE`] are clamped to it, which §5.4.1 makes equivalent; values between the
    /// configured `max_chunk_size` and [`MAX_CHUNK_SIZE`] are refused. Either way a chunk never
    /// holds more than its message, so the chunk size alone never makes us allocate.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<u32, RtmpError> {
        let min = self.limits.min_chunk_size.max(1);
        let max = self.limits.max_chunk_size.min(MAX_CHUNK_SIZE);
        let size = if size > MAX_CHUNK_SIZE && max == MAX_CHUNK_SIZE {
            MAX_CHUNK_SIZE
        } else {
            size
        };
        if size < min || size > max {
            return Err(RtmpError::InvalidChunkSize { size, min, max });
        }
        self.chunk_size = size;
        Ok(size)
    }

    /// Applies an Abort Message (§5.4.2): drops the partial message on `csid`.
    pub fn abort(&mut self, csid: u32) {
        if let Some(s) = self.streams.get_mut(&csid) {
            if let Some(partial) = s.partial.take() {
                match partial {
                    Partial::Own(_) => {}
                    Partial::Slab => self.slab.buf.clear(),
                }
                self.partials -= 1;
                self.partial_bytes -= u64::from(s.last.map_or(0, |l| l.length));
            }
        }
        if matches!(self.in_payload, Some((c, _)) if c == csid) {
            // The abort arrived between chunks, so no chunk of `csid` is in flight; keep the
            // state consistent anyway.
            self.in_payload = None;
        }
    }

    /// Decodes from the front of `input`, advancing it past what was used.
    ///
    /// Returns `Ok(Some(message))` for each complete message and `Ok(None)` once `input` is
    /// exhausted without completing one. Call again until `Ok(None)` before reading more, and
    /// apply Set Chunk Size / Abort messages before decoding further.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Message>, RtmpError> {
        loop {
            if let Some((csid, remaining)) = self.in_payload {
                let n = remaining.min(input.len());
                let stream = self
                    .streams
                    .get_mut(&csid)
                    .expect("invariant: a chunk in flight belongs to a known stream");
                let partial = stream
                    .partial
                    .as_mut()
                    .expect("invariant: a chunk in flight has a partial message");
                let length = stream.last.map_or(0, |l| l.length);
                feed(partial, &mut self.slab, &input[..n], length);
                *input = &input[n..];
                if n < remaining {
                    self.in_payload = Some((csid, remaining - n));
                    return Ok(None);
                }
                self.in_payload = None;
                if let Some(msg) = self.complete(csid) {
                    return Ok(Some(msg));
                }
                continue;
            }
            // Header: take bytes until the header parses or the input runs out.
            let header = loop {
                match self.parse_header()? {
                    Ok(h) => break h,
                    Err(need) => {
                        if input.is_empty() {
                            return Ok(None);
                        }
                        let n = (need - self.header_len).min(input.len());
                        self.header[self.header_len..self.header_len + n]
                            .copy_from_slice(&input[..n]);
                        self.header_len += n;
                        *input = &input[n..];
                    }
                }
            };
            let chunk_len = self.start_chunk(&header)?;
            // Bytes fetched speculatively (a type-3 extended timestamp that was not there)
            // are payload, and any excess is the start of the next header.
            let extra = self.header_len - header.len;
            let mut spill = [0u8; MAX_HEADER_LEN];
            spill[..extra].copy_from_slice(&self.header[header.len..self.header_len]);
            self.header_len = 0;
            self.in_payload = Some((header.csid, chunk_len));
            let mut spill_slice = &spill[..extra];
            if let Some(msg) = self.decode_payload_only(&mut spill_slice) {
                self.header[..spill_slice.len()].copy_from_slice(spill_slice);
                self.header_len = spill_slice.len();
                return Ok(Some(msg));
            }
            self.header[..spill_slice.len()].copy_from_slice(spill_slice);
            self.header_len = spill_slice.len();
        }
    }

    /// Feeds payload bytes of the current chunk only; returns a message if one completes.
    fn decode_payload_only(&mut self, input: &mut &[u8]) -> Option<Message> {
        let (csid, remaining) = self.in_payload?;
        let n = remaining.min(input.len());
        if let Some(s) = self.streams.get_mut(&csid) {
            let length = s.last.map_or(0, |l| l.length);
            if let Some(p) = s.partial.as_mut() {
                feed(p, &mut self.slab, &input[..n], length);
            }
        }
        *input = &input[n..];
        if n < remaining {
            self.in_payload = Some((csid, remaining - n));
            return None;
        }
        self.in_payload = None;
        self.complete(csid)
    }

    /// If the partial message on `csid` is complete, takes and freezes it.
    fn complete(&mut self, csid: u32) -> Option<Message> {
        let stream = self.streams.get_mut(&csid)?;
        let last = stream.last?;
        let done = stream
            .partial
            .as_ref()
            .is_some_and(|p| p.len(&self.slab) == last.length as usize);
        if !done {
            return None;
        }
        let payload = match stream.partial.take()? {
            Partial::Own(buffer) => buffer.freeze(),
            Partial::Slab => self.slab.buf.split().freeze(),
        };
        stream.largest = stream.largest.max(last.length);
        self.partials -= 1;
        self.partial_bytes -= u64::from(last.length);
        Some(Message {
            csid,
            timestamp: last.timestamp,
            type_id: MessageType(last.type_id),
            stream_id: last.stream_id,
            payload,
        })
    }

    /// Parses the buffered header; `Ok(Err(n))` asks for `n` header bytes in total.
    fn parse_header(&self) -> Result<Result<Header, usize>, RtmpError> {
        let h = &self.header[..self.header_len];
        let Some(&b0) = h.first() else {
            return Ok(Err(1));
        };
        let fmt = b0 >> 6;
        let (csid, basic) = match b0 & 0x3f {
            0 => match h.get(1) {
                Some(&b1) => (64 + u32::from(b1), 2),
                None => return Ok(Err(2)),
            },
            1 => match (h.get(1), h.get(2)) {
                (Some(&b1), Some(&b2)) => (64 + u32::from(b1) + 256 * u32::from(b2), 3),
                _ => return Ok(Err(3)),
            },
            c => (u32::from(c), 1),
        };
        if csid > self.limits.max_chunk_stream_id {
            return Err(RtmpError::ChunkStreamIdOutOfRange {
                csid,
                max: self.limits.max_chunk_stream_id,
            });
        }
        let msg_len = [11, 7, 3, 0][usize::from(fmt)];
        let need = basic + msg_len;
        if h.len() < need {
            return Ok(Err(need));
        }
        let m = &h[basic..need];
        let be24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]);
        let last = self.streams.get(&csid).and_then(|s| s.last);
        let (ts_field, length, type_id, stream_id) = match (fmt, last) {
            (0, _) => (
                be24(&m[0..3]),
                be24(&m[3..6]),
                m[6],
                u32::from_le_bytes([m[7], m[8], m[9], m[10]]),
            ),
            (1, Some(l)) => (be24(&m[0..3]), be24(&m[3..6]), m[6], l.stream_id),
            (2, Some(l)) => (be24(&m[0..3]), l.length, l.type_id, l.stream_id),
            (3, Some(l)) => (
                l.extended.map_or(l.delta, |_| EXTENDED_TIMESTAMP),
                l.length,
                l.type_id,
                l.stream_id,
            ),
            _ => {
                return Err(RtmpError::InvalidChunk {
                    csid,
                    reason: "compressed header with no previous header",
                })
            }
        };
        let mut header = Header {
            fmt,
            csid,
            len: need,
            ts_field,
            length,
            type_id,
            stream_id,
            extended: None,
        };
        if ts_field == EXTENDED_TIMESTAMP {
            if h.len() < need + 4 {
                return Ok(Err(need + 4));
            }
            let ext = u32::from_be_bytes([h[need], h[need + 1], h[need + 2], h[need + 3]]);
            if fmt == 3 {
                // ffmpeg and librtmp repeat the extended timestamp on type-3 chunks; the spec
                // text and some encoders do not. Take the 4 bytes only if they repeat it.
                let prev = last.and_then(|l| l.extended);
                if prev == Some(ext) {
                    header.len = need + 4;
                }
                header.extended = prev;
            } else {
                header.len = need + 4;
                header.extended = Some(ext);
            }
        }
        Ok(Ok(header))
    }

    /// Updates chunk stream state for a parsed header; returns the chunk's payload length.
    fn start_chunk(&mut self, h: &Header) -> Result<usize, RtmpError> {
        let chunk_size = self.chunk_size as usize;
        let known = self.streams.len();
        let limits = self.limits;
        if !self.streams.contains_key(&h.csid) && known >= limits.max_chunk_streams {
            return Err(RtmpError::TooManyChunkStreams(limits.max_chunk_streams));
        }
        let stream = self.streams.entry(h.csid).or_default();
        if let Some(partial) = &stream.partial {
            let last = stream
                .last
                .expect("invariant: a partial message has a header");
            if h.fmt != 3 {
                return Err(RtmpError::InvalidChunk {
                    csid: h.csid,
                    reason: "new message header before the previous message completed",
                });
            }
            let received = partial.len(&self.slab);
            return Ok((last.length as usize - received).min(chunk_size));
        }
        if h.length > limits.max_message_len {
            return Err(RtmpError::MessageTooLarge {
                len: h.length,
                max: limits.max_message_len,
            });
        }
        if self.partials >= limits.max_partial_chunk_streams {
            return Err(RtmpError::TooManyChunkStreams(
                limits.max_partial_chunk_streams,
            ));
        }
        if self.partial_bytes + u64::from(h.length) > limits.max_partial_bytes {
            return Err(RtmpError::MessageTooLarge {
                len: h.length,
                max: limits.max_message_len,
            });
        }
        let field = h.extended.unwrap_or(h.ts_field);
        let next = match (h.fmt, stream.last) {
            (0, _) => LastHeader {
                timestamp: field,
                delta: field,
                length: h.length,
                type_id: h.type_id,
                stream_id: h.stream_id,
                extended: h.extended,
            },
            (1 | 2, Some(l)) => LastHeader {
                timestamp: l.timestamp.wrapping_add(field),
                delta: field,
                length: h.length,
                type_id: h.type_id,
                stream_id: h.stream_id,
                extended: h.extended,
            },
            (_, Some(l)) => LastHeader {
                timestamp: l.timestamp.wrapping_add(l.delta),
                ..l
            },
            (_, None) => {
                return Err(RtmpError::InvalidChunk {
                    csid: h.csid,
                    reason: "compressed header with no previous header",
                })
            }
        };
        stream.last = Some(next);
        let len = next.length as usize;
        stream.partial = Some(if len <= chunk_size && len <= SLAB_MESSAGE_MAX {
            self.slab.make_room(len);
            Partial::Slab
        } else {
            let whole = len > INITIAL_REASSEMBLY_CAPACITY && len <= 2 * stream.largest as usize;
            if whole {
                stream.largest = 0;
            }
            Partial::Own(BytesMut::with_capacity(if whole {
                len
            } else {
                len.min(INITIAL_REASSEMBLY_CAPACITY)
            }))
        });
        self.partials += 1;
        self.partial_bytes += u64::from(next.length);
        Ok(len.min(chunk_size))
    }
}

impl Partial {
    /// Bytes of the message received so far.
    fn len(&self, slab: &Slab) -> usize {
        match self {
            Partial::Own(buffer) => buffer.len(),
            Partial::Slab => slab.buf.len(),
        }
    }
}

/// Appends a chunk's payload to the message `partial`, whose declared length is `length`.
fn feed(partial: &mut Partial, slab: &mut Slab, bytes: &[u8], length: u32) {
    match partial {
        Partial::Own(buffer) => extend_partial(buffer, bytes, length),
        // The slab was given room for the whole message when it started.
        Partial::Slab => slab.buf.extend_from_slice(bytes),
    }
}

/// Appends a chunk's payload to a message being reassembled whose declared length is `length`.
/// Growth at most doubles what arrived (a declared length costs nothing until its bytes are
/// sent, unless its chunk stream's credit reserved it whole; see [`ChunkStream::largest`]) and
/// never passes the declared length, so a finished message holds no spare capacity:
/// the hub keeps a GOP of them for new players, and doubling growth left a large keyframe with up
/// to half its allocation unused.
fn extend_partial(partial: &mut BytesMut, bytes: &[u8], length: u32) {
    let need = partial.len() + bytes.len();
    if need > partial.capacity() {
        let target = (partial.capacity() * 2).min(length as usize).max(need);
        // A new buffer of exactly that size: `BytesMut::reserve` grows by doubling.
        let mut bigger = BytesMut::with_capacity(target);
        bigger.extend_from_slice(partial);
        *partial = bigger;
    }
    partial.extend_from_slice(bytes);
}

/// What the encoder remembers per chunk stream to compress headers.
#[derive(Debug, Clone, Copy)]
struct SentHeader {
    timestamp: u32,
    stream_id: u32,
}

/// Writes messages as chunks (§5.3) with a configurable outgoing chunk size.
///
/// The first message on a chunk stream, a new message stream id, a timestamp that goes
/// backwards or jumps by 2^24 or more use a type-0 header; otherwise type 1.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    sent: HashMap<u32, SentHeader>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    /// An encoder at the default chunk size of 128.
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            sent: HashMap::new(),
        }
    }

    /// The outgoing chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes the outgoing chunk size; send Set Chunk Size *before* the next message.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), RtmpError> {
        if size == 0 || size > SPEC_MAX_CHUNK_SIZE {
            return Err(RtmpError::InvalidChunkSize {
                size,
                min: 1,
                max: SPEC_MAX_CHUNK_SIZE,
            });
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Forgets the header state of `csid` (after bytes were sent on it by other means, such
    /// as [`encode_message`]): the next message on it uses a type-0 header.
    pub fn forget(&mut self, csid: u32) {
        self.sent.remove(&csid);
    }

    /// Appends `payload` as one message on `csid`.
    ///
    /// `csid` must be in 2..=65599; payloads longer than 2^24-1 bytes cannot be expressed and
    /// are refused.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &mut self,
        out: &mut BytesMut,
        csid: u32,
        timestamp: u32,
        type_id: MessageType,
        stream_id: u32,
        payload: &[u8],
    ) -> Result<(), RtmpError> {
        check_encodable(csid, payload.len())?;
        let prev = self.sent.get(&csid).copied();
        let delta = prev.and_then(|p| {
            (p.stream_id == stream_id && timestamp >= p.timestamp)
                .then(|| timestamp - p.timestamp)
                .filter(|d| *d < EXTENDED_TIMESTAMP)
        });
        write_chunks(
            out,
            self.chunk_size as usize,
            csid,
            delta.map_or(HeaderForm::Full(timestamp), HeaderForm::Delta),
            type_id,
            stream_id,
            payload,
        );
        self.sent.insert(
            csid,
            SentHeader {
                timestamp,
                stream_id,
            },
        );
        Ok(())
    }
}

fn check_encodable(csid: u32, len: usize) -> Result<(), RtmpError> {
    if !(2..=MAX_CHUNK_STREAM_ID).contains(&csid) {
        return Err(RtmpError::InvalidState("chunk stream id outside 2..=65599"));
    }
    if len > 0xFF_FFFF {
        return Err(RtmpError::InvalidState("message longer than 2^24-1 bytes"));
    }
    Ok(())
}

/// Chunks one message with a type-0 header into a standalone `Bytes`, independent of any
/// encoder state, so one copy can be shared by every player at the same chunk size.
pub fn encode_message(
    chunk_size: u32,
    csid: u32,
    timestamp: u32,
    type_id: MessageType,
    stream_id: u32,
    payload: &[u8],
) -> Result<Bytes, RtmpError> {
    check_encodable(csid, payload.len())?;
    if chunk_size == 0 || chunk_size > SPEC_MAX_CHUNK_SIZE {
        return Err(RtmpError::InvalidChunkSize {
            size: chunk_size,
            min: 1,
            max: SPEC_MAX_CHUNK_SIZE,
        });
    }
    let chunk_size = chunk_size as usize;
    let chunks = payload.len().div_ceil(chunk_size).max(1);
    let mut out = BytesMut::with_capacity(payload.len() + 19 + chunks * 7);
    write_chunks(
        &mut out,
        chunk_size,
        csid,
        HeaderForm::Full(timestamp),
        type_id,
        stream_id,
        payload,
    );
    Ok(out.freeze())
}

enum HeaderForm {
    /// Type 0 with this absolute timestamp.
    Full(u32),
    /// Type 1 with this delta (below 2^24-1).
    Delta(u32),
}

fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    match csid {
        2..=63 => out.put_u8((fmt << 6) | csid as u8),
        64..=319 => {
            out.put_u8(fmt << 6);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            let v = csid - 64;
            out.put_u8((fmt << 6) | 1);
            out.put_u8((v & 0xff) as u8);
            out.put_u8((v >> 8) as u8);
        }
    }
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}

fn write_chunks(
    out: &mut BytesMut,
    chunk_size: usize,
    csid: u32,
    form: HeaderForm,
    type_id: MessageType,
    stream_id: u32,
    payload: &[u8],
) {
    let (fmt, field) = match form {
        HeaderForm::Full(ts) => (0, ts),
        HeaderForm::Delta(d) => (1, d),
    };
    let extended = (field >= EXTENDED_TIMESTAMP).then_some(field);
    put_basic_header(out, fmt, csid);
    put_u24(out, field.min(EXTENDED_TIMESTAMP));
    put_u24(out, payload.len() as u32);
    out.put_u8(type_id.0);
    if fmt == 0 {
        out.put_u32_le(stream_id);
    }
    if let Some(ext) = extended {
        out.put_u32(ext);
    }
    let mut chunks = payload.chunks(chunk_size);
    if let Some(first) = chunks.next() {
        out.put_slice(first);
    }
    for c in chunks {
        put_basic_header(out, 3, csid);
        // Repeated on continuation chunks, as ffmpeg and librtmp expect.
        if let Some(ext) = extended {
            out.put_u32(ext);
        }
        out.put_slice(c);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
