//! Sans-I/O RTMP sessions: [`ServerSession`] (publishers and players connecting to us) and
//! [`ClientSession`] (us publishing to another server).
//!
//! The contract follows str0m: feed received bytes to `handle_input`, then drain
//! `poll_transmit` (bytes to write, in order) and `poll_event` until both return `None`.
//! Decisions (accept or reject a publish or play) are method calls. An error from
//! `handle_input` means the peer broke the protocol: write what `poll_transmit` still has if
//! convenient, then close the connection.

mod client;
mod server;

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

pub use client::{ClientEvent, ClientSession, PlayEvent};
pub use server::{
    RequestId, ServerConfig, ServerEvent, ServerSession, MAX_APP_LEN, MAX_STREAMS_PER_CONNECTION,
};

use crate::amf0::Value;
use crate::chunk::{ChunkDecoder, ChunkEncoder};
use crate::message::{Command, Message, MessageType, ProtocolControl, UserControl};
use crate::RtmpError;

/// Chunk stream for protocol control messages (§5.4: chunk stream id 2).
pub const CSID_PROTOCOL_CONTROL: u32 = 2;
/// Chunk stream for NetConnection commands.
pub const CSID_COMMAND: u32 = 3;
/// Chunk stream for audio.
pub const CSID_AUDIO: u32 = 4;
/// Chunk stream for NetStream commands and data messages.
pub const CSID_STREAM: u32 = 5;
/// Chunk stream for video.
pub const CSID_VIDEO: u32 = 6;
/// Chunk size we switch to after connecting.
pub const DEFAULT_OUT_CHUNK_SIZE: u32 = 4096;
/// Window acknowledgement size we announce.
pub const DEFAULT_WINDOW_ACK_SIZE: u32 = 2_500_000;

/// What a media message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Audio message (type 8): an FLV AUDIODATA body.
    Audio,
    /// Video message (type 9): an FLV VIDEODATA body.
    Video,
    /// Data message (type 18) starting with `onMetaData`.
    Data,
}

impl MediaKind {
    /// The message type this kind travels as.
    pub fn message_type(self) -> MessageType {
        match self {
            MediaKind::Audio => MessageType::AUDIO,
            MediaKind::Video => MessageType::VIDEO,
            MediaKind::Data => MessageType::DATA_AMF0,
        }
    }

    /// The chunk stream our sessions use for this kind.
    pub fn csid(self) -> u32 {
        match self {
            MediaKind::Audio => CSID_AUDIO,
            MediaKind::Video => CSID_VIDEO,
            MediaKind::Data => CSID_STREAM,
        }
    }
}

/// Chunks a media message into standalone bytes (type-0 header) for
/// [`ServerSession::send_chunked`]: chunk once, share with every player at that chunk size.
pub fn chunk_media(
    chunk_size: u32,
    stream_id: u32,
    kind: MediaKind,
    timestamp: u32,
    payload: &[u8],
) -> Result<Bytes, RtmpError> {
    crate::chunk::encode_message(
        chunk_size,
        kind.csid(),
        timestamp,
        kind.message_type(),
        stream_id,
        payload,
    )
}

/// Chunking, output queue and acknowledgement accounting shared by both sessions.
#[derive(Debug)]
struct Transport {
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out_buf: BytesMut,
    queue: VecDeque<Bytes>,
    received: u64,
    last_ack: u64,
    peer_window: Option<u32>,
}

impl Transport {
    fn new() -> Self {
        Self {
            decoder: ChunkDecoder::new(),
            encoder: ChunkEncoder::new(),
            out_buf: BytesMut::new(),
            queue: VecDeque::new(),
            received: 0,
            last_ack: 0,
            peer_window: None,
        }
    }

    fn push_bytes(&mut self, b: Bytes) {
        if !self.out_buf.is_empty() {
            self.queue.push_back(self.out_buf.split().freeze());
        }
        if !b.is_empty() {
            self.queue.push_back(b);
        }
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
        if let Some(b) = self.queue.pop_front() {
            return Some(b);
        }
        (!self.out_buf.is_empty()).then(|| self.out_buf.split().freeze())
    }

    fn send(
        &mut self,
        csid: u32,
        timestamp: u32,
        type_id: MessageType,
        stream_id: u32,
        payload: &[u8],
    ) -> Result<(), RtmpError> {
        self.encoder.write(
            &mut self.out_buf,
            csid,
            timestamp,
            type_id,
            stream_id,
            payload,
        )
    }

    fn send_control(&mut self, c: ProtocolControl) {
        let (t, p) = c.encode();
        // Short payload on chunk stream 2: cannot fail.
        let _ = self.send(CSID_PROTOCOL_CONTROL, 0, t, 0, &p);
    }

    fn send_command(&mut self, csid: u32, stream_id: u32, c: &Command) {
        // Commands we build are far below the 2^24 message limit.
        let _ = self.send(csid, 0, MessageType::COMMAND_AMF0, stream_id, &c.encode());
    }

    fn set_out_chunk_size(&mut self, size: u32) -> Result<(), RtmpError> {
        self.encoder.set_chunk_size(size)?;
        // Must precede any message chunked at the new size.
        self.send_control(ProtocolControl::SetChunkSize(size));
        Ok(())
    }

    /// Counts received bytes and acknowledges per the peer's window (§5.4.3).
    fn count_received(&mut self, n: usize) {
        self.received += n as u64;
        if let Some(w) = self.peer_window {
            if w > 0 && self.received - self.last_ack >= u64::from(w) {
                self.last_ack = self.received;
                self.send_control(ProtocolControl::Acknowledgement(self.received as u32));
            }
        }
    }

    /// Handles protocol control messages; returns true if `msg` was one.
    fn handle_control(&mut self, msg: &Message) -> Result<bool, RtmpError> {
        let Some(c) = ProtocolControl::decode(msg.type_id, &msg.payload)? else {
            return Ok(false);
        };
        match c {
            ProtocolControl::SetChunkSize(size) => {
                // Below MIN_CHUNK_SIZE the error closes the connection; above 2^24-1 the size is
                // clamped, which §5.4.1 makes equivalent, and the session goes on.
                self.decoder.set_chunk_size(size)?;
            }
            ProtocolControl::Abort(csid) => self.decoder.abort(csid),
            ProtocolControl::WindowAckSize(w) => self.peer_window = Some(w),
            ProtocolControl::UserControl(UserControl::PingRequest(t)) => {
                self.send_control(ProtocolControl::UserControl(UserControl::PingResponse(t)));
            }
            ProtocolControl::Acknowledgement(_)
            | ProtocolControl::SetPeerBandwidth { .. }
            | ProtocolControl::UserControl(_) => {}
        }
        Ok(true)
    }
}

/// The AMF0 body of a command message: all of a type 20 message, or a type 17 one after its
/// leading format byte (what Flash sends when objectEncoding is 3); `None` for other types.
fn command_body(msg: &Message) -> Option<&[u8]> {
    match msg.type_id {
        MessageType::COMMAND_AMF0 => Some(&msg.payload[..]),
        MessageType::COMMAND_AMF3 => Some(msg.payload.get(1..).unwrap_or_default()),
        _ => None,
    }
}

/// The command inside a command message (see [`command_body`]).
fn decode_command(msg: &Message) -> Result<Option<Command>, RtmpError> {
    command_body(msg).map(Command::decode).transpose()
}

/// An `onStatus` info object (§7.2.2).
fn status_info(level: &str, code: &str, description: &str) -> Value {
    Value::object([
        ("level", Value::string(level)),
        ("code", Value::string(code)),
        ("description", Value::string(description)),
    ])
}

/// The `onStatus` command carrying an info object.
fn on_status(level: &str, code: &str, description: &str) -> Command {
    Command::new(
        "onStatus",
        0.0,
        Value::Null,
        vec![status_info(level, code, description)],
    )
}

/// The first string argument of a command (stream names of publish/play/FCPublish).
fn first_string_arg(c: &Command) -> Option<&str> {
    c.args.first().and_then(Value::as_str)
}

/// Sub-messages an aggregate may hold: bounds the work one message can cause.
const MAX_AGGREGATE_PARTS: usize = 4096;

/// The sub-messages of an aggregate message (§7.1.6): FLV-style tags (11-byte header, body,
/// 4-byte back pointer) whose timestamps are rebased onto the aggregate's own. Yields each as
/// (type, timestamp, body sliced from the payload); stops at a truncated tail and after
/// [`MAX_AGGREGATE_PARTS`].
fn aggregate_parts(msg: &Message) -> impl Iterator<Item = (MessageType, u32, Bytes)> + '_ {
    let data = &msg.payload;
    let mut pos = 0;
    let mut base: Option<u32> = None;
    std::iter::from_fn(move || {
        let h = data.get(pos..pos + 11)?;
        let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let start = pos + 11;
        if data.len() < start + len {
            return None;
        }
        let first = *base.get_or_insert(ts);
        let timestamp = msg.timestamp.wrapping_add(ts.wrapping_sub(first));
        pos = start + len + 4;
        Some((
            MessageType(h[0] & 0x1F),
            timestamp,
            data.slice(start..start + len),
        ))
    })
    .take(MAX_AGGREGATE_PARTS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
