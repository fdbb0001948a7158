//! Sans-I/O RTMP for ferrocast: handshake, chunk stream, AMF0 commands, and the server and
//! client session state machines (Adobe RTMP specification 1.0, December 2012; AMF0
//! specification, December 2007).
//!
//! The crate owns bytes in → bytes, events out; it never touches sockets, clocks, tokio or the
//! application. Invariants: every length, count and depth read off the wire is bounded by a
//! named limit before anything is allocated for it; "need more bytes" is never an error; a
//! media payload is copied once, into the reassembled message, and shared as `Bytes` from
//! then on; nothing here panics on peer input.
#![deny(missing_docs)]

pub mod amf0;
pub mod chunk;
mod error;
pub mod handshake;
pub mod message;
pub mod session;

#[doc(hidden)]
pub mod fuzzing;

pub use chunk::{encode_message, ChunkDecoder, ChunkDecoderLimits, ChunkEncoder};
pub use error::RtmpError;
pub use message::{Command, Message, MessageType, ProtocolControl, UserControl};
pub use session::{
    chunk_media, ClientEvent, ClientSession, MediaKind, PlayEvent, RequestId, ServerConfig,
    ServerEvent, ServerSession,
};
