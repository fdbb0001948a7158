//! The crate's one error type.

use thiserror::Error;

/// Everything that can go wrong in RTMP decoding, encoding and session handling.
///
/// Every variant except [`RtmpError::InvalidState`], [`RtmpError::UnknownRequest`] and
/// [`RtmpError::Closed`] is caused by the peer; a driver closes that one connection on any
/// error returned from `handle_input`.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum RtmpError {
    /// C0/S0 carried a version other than 3 (Adobe RTMP spec §5.2.2).
    #[error("unsupported RTMP version {0}")]
    UnsupportedVersion(u8),
    /// Set Chunk Size outside our limits (Adobe RTMP spec §5.4.1 allows 1..=2^31-1; we accept
    /// [`crate::chunk::MIN_CHUNK_SIZE`] and up from a peer).
    #[error("chunk size {size} outside {min}..={max}")]
    InvalidChunkSize {
        /// Requested size.
        size: u32,
        /// Our lower limit.
        min: u32,
        /// Our upper limit.
        max: u32,
    },
    /// A message header declared a length above our limit.
    #[error("message length {len} exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// Declared length.
        len: u32,
        /// Our limit.
        max: u32,
    },
    /// The peer used a chunk stream id above our limit (Adobe RTMP spec §5.3.1.1).
    #[error("chunk stream id {csid} above the limit {max}")]
    ChunkStreamIdOutOfRange {
        /// The chunk stream id.
        csid: u32,
        /// Our limit.
        max: u32,
    },
    /// Too many chunk streams known or partially assembled at once.
    #[error("too many chunk streams (limit {0})")]
    TooManyChunkStreams(usize),
    /// A chunk header was not valid in the chunk stream's current state.
    #[error("invalid chunk on chunk stream {csid}: {reason}")]
    InvalidChunk {
        /// The chunk stream id.
        csid: u32,
        /// What was wrong.
        reason: &'static str,
    },
    /// A message payload did not match its type's layout.
    #[error("malformed {kind} message: {reason}")]
    MalformedMessage {
        /// The message kind.
        kind: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// AMF0 input ended inside a value (AMF0 spec §2).
    #[error("truncated AMF0 value")]
    Amf0Truncated,
    /// AMF0 nesting deeper than our limit.
    #[error("AMF0 nesting deeper than {0}")]
    Amf0TooDeep(usize),
    /// AMF0 type marker we do not decode (AMF0 spec §2.1).
    #[error("unsupported AMF0 type marker 0x{0:02x}")]
    Amf0UnsupportedMarker(u8),
    /// AMF0 string was not UTF-8.
    #[error("AMF0 string is not valid UTF-8")]
    Amf0InvalidUtf8,
    /// We refused the peer's `connect` (Adobe RTMP spec §7.2.1.1): an `_error` result with
    /// `NetConnection.Connect.Rejected` and this description waits in `poll_transmit`; write
    /// it if the socket takes it at once, then close.
    #[error("connect refused: {0}")]
    ConnectRejected(&'static str),
    /// The peer sent a command that is not valid now.
    #[error("unexpected command {0:?}")]
    UnexpectedCommand(String),
    /// The peer refused our request (client side), with its description.
    #[error("rejected by peer: {0}")]
    Rejected(String),
    /// A decision method named a request that is not pending.
    #[error("no such pending request")]
    UnknownRequest,
    /// The method is not valid in the session's current state.
    #[error("invalid in this session state: {0}")]
    InvalidState(&'static str),
    /// The session is closed; the driver should close the connection.
    #[error("session closed")]
    Closed,
}

impl RtmpError {
    /// True when the peer broke the protocol or sent bytes we refuse.
    pub fn is_protocol_violation(&self) -> bool {
        !matches!(
            self,
            Self::Rejected(_) | Self::UnknownRequest | Self::InvalidState(_) | Self::Closed
        )
    }

    /// True when the peer hit one of our named size/count/depth limits.
    pub fn is_limit_exceeded(&self) -> bool {
        matches!(
            self,
            Self::InvalidChunkSize { .. }
                | Self::MessageTooLarge { .. }
                | Self::ChunkStreamIdOutOfRange { .. }
                | Self::TooManyChunkStreams(_)
                | Self::Amf0TooDeep(_)
        )
    }

    /// True when the error is a misuse of the API by our own code, not the peer's fault.
    pub fn is_caller_error(&self) -> bool {
        matches!(self, Self::UnknownRequest | Self::InvalidState(_))
    }

    /// True when the session was closed (by a rejection or an earlier error).
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }
}
