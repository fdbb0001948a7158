//! RTMP messages (Adobe RTMP spec §5.4, §6, §7): type ids, protocol control messages, user
//! control events, and AMF0 commands.

use bytes::{BufMut, Bytes, BytesMut};

use crate::amf0::{self, Value};
use crate::RtmpError;

/// A reassembled message as it came off a chunk stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Chunk stream it arrived on.
    pub csid: u32,
    /// Absolute timestamp in milliseconds (deltas accumulated with wrapping).
    pub timestamp: u32,
    /// Message type id.
    pub type_id: MessageType,
    /// Message stream id.
    pub stream_id: u32,
    /// The payload, assembled once and shared from here on.
    pub payload: Bytes,
}

/// Message type id (§5.4, §7.1). Open: unknown ids round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(pub u8);

impl MessageType {
    /// §5.4.1 Set Chunk Size.
    pub const SET_CHUNK_SIZE: Self = Self(1);
    /// §5.4.2 Abort Message.
    pub const ABORT: Self = Self(2);
    /// §5.4.3 Acknowledgement.
    pub const ACKNOWLEDGEMENT: Self = Self(3);
    /// §6.2 User Control Message.
    pub const USER_CONTROL: Self = Self(4);
    /// §5.4.4 Window Acknowledgement Size.
    pub const WINDOW_ACK_SIZE: Self = Self(5);
    /// §5.4.5 Set Peer Bandwidth.
    pub const SET_PEER_BANDWIDTH: Self = Self(6);
    /// §7.1.4 Audio.
    pub const AUDIO: Self = Self(8);
    /// §7.1.5 Video.
    pub const VIDEO: Self = Self(9);
    /// §7.1.2 Data message, AMF3.
    pub const DATA_AMF3: Self = Self(15);
    /// §7.1.3 Shared object, AMF3.
    pub const SHARED_OBJECT_AMF3: Self = Self(16);
    /// §7.1.1 Command message, AMF3.
    pub const COMMAND_AMF3: Self = Self(17);
    /// §7.1.2 Data message, AMF0.
    pub const DATA_AMF0: Self = Self(18);
    /// §7.1.3 Shared object, AMF0.
    pub const SHARED_OBJECT_AMF0: Self = Self(19);
    /// §7.1.1 Command message, AMF0.
    pub const COMMAND_AMF0: Self = Self(20);
    /// §7.1.6 Aggregate.
    pub const AGGREGATE: Self = Self(22);
}

/// User Control event type (§7.1.7). Open: unknown events round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserControlEventType(pub u16);

impl UserControlEventType {
    /// Stream Begin.
    pub const STREAM_BEGIN: Self = Self(0);
    /// Stream EOF.
    pub const STREAM_EOF: Self = Self(1);
    /// Stream Dry.
    pub const STREAM_DRY: Self = Self(2);
    /// Set Buffer Length.
    pub const SET_BUFFER_LENGTH: Self = Self(3);
    /// Stream Is Recorded.
    pub const STREAM_IS_RECORDED: Self = Self(4);
    /// Ping Request.
    pub const PING_REQUEST: Self = Self(6);
    /// Ping Response.
    pub const PING_RESPONSE: Self = Self(7);
}

/// Set Peer Bandwidth limit type (§5.4.5). Open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitType(pub u8);

impl LimitType {
    /// Hard.
    pub const HARD: Self = Self(0);
    /// Soft.
    pub const SOFT: Self = Self(1);
    /// Dynamic.
    pub const DYNAMIC: Self = Self(2);
}

/// User Control events (§7.1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserControl {
    /// Stream Begin with the stream id.
    StreamBegin(u32),
    /// Stream EOF with the stream id.
    StreamEof(u32),
    /// Stream Dry with the stream id.
    StreamDry(u32),
    /// Set Buffer Length.
    SetBufferLength {
        /// Stream id.
        stream_id: u32,
        /// Buffer length in milliseconds.
        buffer_ms: u32,
    },
    /// Stream Is Recorded with the stream id.
    StreamIsRecorded(u32),
    /// Ping Request with the sender's timestamp.
    PingRequest(u32),
    /// Ping Response echoing the request's timestamp.
    PingResponse(u32),
    /// Any other event, kept verbatim.
    Other {
        /// Event type.
        event_type: UserControlEventType,
        /// Event data.
        data: Bytes,
    },
}

/// Protocol control messages (§5.4) and User Control messages (§6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolControl {
    /// §5.4.1 Set Chunk Size.
    SetChunkSize(u32),
    /// §5.4.2 Abort Message with the chunk stream id.
    Abort(u32),
    /// §5.4.3 Acknowledgement with the sequence number (bytes received so far).
    Acknowledgement(u32),
    /// §6.2 User Control Message.
    UserControl(UserControl),
    /// §5.4.4 Window Acknowledgement Size.
    WindowAckSize(u32),
    /// §5.4.5 Set Peer Bandwidth.
    SetPeerBandwidth {
        /// Window size in bytes.
        size: u32,
        /// Limit type.
        limit_type: LimitType,
    },
}

fn be32(p: &[u8], at: usize, kind: &'static str) -> Result<u32, RtmpError> {
    p.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(RtmpError::MalformedMessage {
            kind,
            reason: "payload too short",
        })
}

impl ProtocolControl {
    /// Decodes a protocol control message; `Ok(None)` if `type_id` is not one.
    pub fn decode(type_id: MessageType, payload: &Bytes) -> Result<Option<Self>, RtmpError> {
        Ok(Some(match type_id {
            MessageType::SET_CHUNK_SIZE => {
                // §5.4.1: bit 31 must be zero; the value is then 1..=0x7FFFFFFF.
                Self::SetChunkSize(be32(payload, 0, "Set Chunk Size")? & 0x7FFF_FFFF)
            }
            MessageType::ABORT => Self::Abort(be32(payload, 0, "Abort")?),
            MessageType::ACKNOWLEDGEMENT => Self::Acknowledgement(be32(payload, 0, "Ack")?),
            MessageType::WINDOW_ACK_SIZE => Self::WindowAckSize(be32(payload, 0, "Window Ack")?),
            MessageType::SET_PEER_BANDWIDTH => Self::SetPeerBandwidth {
                size: be32(payload, 0, "Set Peer Bandwidth")?,
                limit_type: LimitType(payload.get(4).copied().unwrap_or(2)),
            },
            MessageType::USER_CONTROL => {
                const K: &str = "User Control";
                let t = payload.get(..2).ok_or(RtmpError::MalformedMessage {
                    kind: K,
                    reason: "payload too short",
                })?;
                let event_type = UserControlEventType(u16::from_be_bytes([t[0], t[1]]));
                Self::UserControl(match event_type {
                    UserControlEventType::STREAM_BEGIN => {
                        UserControl::StreamBegin(be32(payload, 2, K)?)
                    }
                    UserControlEventType::STREAM_EOF => {
                        UserControl::StreamEof(be32(payload, 2, K)?)
                    }
                    UserControlEventType::STREAM_DRY => {
                        UserControl::StreamDry(be32(payload, 2, K)?)
                    }
                    UserControlEventType::SET_BUFFER_LENGTH => UserControl::SetBufferLength {
                        stream_id: be32(payload, 2, K)?,
                        buffer_ms: be32(payload, 6, K)?,
                    },
                    UserControlEventType::STREAM_IS_RECORDED => {
                        UserControl::StreamIsRecorded(be32(payload, 2, K)?)
                    }
                    UserControlEventType::PING_REQUEST => {
                        UserControl::PingRequest(be32(payload, 2, K)?)
                    }
                    UserControlEventType::PING_RESPONSE => {
                        UserControl::PingResponse(be32(payload, 2, K)?)
                    }
                    _ => UserControl::Other {
                        event_type,
                        data: payload.slice(2..),
                    },
                })
            }
            _ => return Ok(None),
        }))
    }

    /// Encodes the message: its type id and payload.
    pub fn encode(&self) -> (MessageType, Bytes) {
        let mut b = BytesMut::with_capacity(10);
        let t = match self {
            Self::SetChunkSize(v) => {
                b.put_u32(*v & 0x7FFF_FFFF);
                MessageType::SET_CHUNK_SIZE
            }
            Self::Abort(v) => {
                b.put_u32(*v);
                MessageType::ABORT
            }
            Self::Acknowledgement(v) => {
                b.put_u32(*v);
                MessageType::ACKNOWLEDGEMENT
            }
            Self::WindowAckSize(v) => {
                b.put_u32(*v);
                MessageType::WINDOW_ACK_SIZE
            }
            Self::SetPeerBandwidth { size, limit_type } => {
                b.put_u32(*size);
                b.put_u8(limit_type.0);
                MessageType::SET_PEER_BANDWIDTH
            }
            Self::UserControl(u) => {
                let (t, a, c) = match u {
                    UserControl::StreamBegin(s) => (UserControlEventType::STREAM_BEGIN, *s, None),
                    UserControl::StreamEof(s) => (UserControlEventType::STREAM_EOF, *s, None),
                    UserControl::StreamDry(s) => (UserControlEventType::STREAM_DRY, *s, None),
                    UserControl::SetBufferLength {
                        stream_id,
                        buffer_ms,
                    } => (
                        UserControlEventType::SET_BUFFER_LENGTH,
                        *stream_id,
                        Some(*buffer_ms),
                    ),
                    UserControl::StreamIsRecorded(s) => {
                        (UserControlEventType::STREAM_IS_RECORDED, *s, None)
                    }
                    UserControl::PingRequest(s) => (UserControlEventType::PING_REQUEST, *s, None),
                    UserControl::PingResponse(s) => (UserControlEventType::PING_RESPONSE, *s, None),
                    UserControl::Other { event_type, data } => {
                        b.put_u16(event_type.0);
                        b.put_slice(data);
                        return (MessageType::USER_CONTROL, b.freeze());
                    }
                };
                b.put_u16(t.0);
                b.put_u32(a);
                if let Some(c) = c {
                    b.put_u32(c);
                }
                MessageType::USER_CONTROL
            }
        };
        (t, b.freeze())
    }
}

/// A command message (§7.1.1, §7.2): name, transaction id, command object, arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Command name, e.g. `connect`, `publish`, `_result`, `onStatus`.
    pub name: String,
    /// Transaction id (0 when no reply is expected).
    pub transaction_id: f64,
    /// Command object (`Null` when absent).
    pub command_object: Value,
    /// Further arguments.
    pub args: Vec<Value>,
}

impl Command {
    /// A command with the given parts.
    pub fn new(name: &str, transaction_id: f64, command_object: Value, args: Vec<Value>) -> Self {
        Self {
            name: name.to_owned(),
            transaction_id,
            command_object,
            args,
        }
    }

    /// Decodes a command payload. For type 17 (AMF3 command) pass the payload after the
    /// leading format byte: every client we know puts AMF0 there.
    pub fn decode(payload: &[u8]) -> Result<Self, RtmpError> {
        Self::from_values(amf0::decode_all(payload)?)
    }

    /// A command from its decoded AMF0 values. Lenient, as most commands need to be: a
    /// missing or non-numeric transaction id reads as 0 and a missing command object as null
    /// (the server checks `connect` more strictly on the raw values first).
    pub fn from_values(values: Vec<Value>) -> Result<Self, RtmpError> {
        let mut values = values.into_iter();
        let name = match values.next() {
            Some(Value::String(s) | Value::LongString(s)) => s,
            _ => {
                return Err(RtmpError::MalformedMessage {
                    kind: "command",
                    reason: "first value is not the command name",
                })
            }
        };
        let transaction_id = values.next().and_then(|v| v.as_number()).unwrap_or(0.0);
        let command_object = values.next().unwrap_or(Value::Null);
        Ok(Self {
            name,
            transaction_id,
            command_object,
            args: values.collect(),
        })
    }

    /// Encodes the command as an AMF0 payload.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(128);
        amf0::encode(&Value::String(self.name.clone()), &mut b);
        amf0::encode(&Value::Number(self.transaction_id), &mut b);
        amf0::encode(&self.command_object, &mut b);
        amf0::encode_all(&self.args, &mut b);
        b.freeze()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn control_round_trip_and_bytes() {
        let all = [
            ProtocolControl::SetChunkSize(4096),
            ProtocolControl::Abort(5),
            ProtocolControl::Acknowledgement(123),
            ProtocolControl::WindowAckSize(2_500_000),
            ProtocolControl::SetPeerBandwidth {
                size: 2_500_000,
                limit_type: LimitType::DYNAMIC,
            },
            ProtocolControl::UserControl(UserControl::StreamBegin(1)),
            ProtocolControl::UserControl(UserControl::StreamEof(1)),
            ProtocolControl::UserControl(UserControl::PingRequest(7)),
            ProtocolControl::UserControl(UserControl::PingResponse(7)),
            ProtocolControl::UserControl(UserControl::SetBufferLength {
                stream_id: 1,
                buffer_ms: 3000,
            }),
            ProtocolControl::UserControl(UserControl::Other {
                event_type: UserControlEventType(31),
                data: Bytes::from_static(&[1, 2]),
            }),
        ];
        for c in all {
            let (t, p) = c.encode();
            assert_eq!(ProtocolControl::decode(t, &p).unwrap(), Some(c));
        }
        let (t, p) = ProtocolControl::SetChunkSize(4096).encode();
        assert_eq!(
            (t, &p[..]),
            (MessageType::SET_CHUNK_SIZE, &[0, 0, 0x10, 0][..])
        );
        let (_, p) = ProtocolControl::UserControl(UserControl::PingRequest(1)).encode();
        assert_eq!(&p[..], &[0, 6, 0, 0, 0, 1]);
        assert!(ProtocolControl::decode(MessageType::ACKNOWLEDGEMENT, &Bytes::new()).is_err());
        assert_eq!(
            ProtocolControl::decode(MessageType::VIDEO, &Bytes::new()),
            Ok(None)
        );
    }

    #[test]
    fn command_round_trip() {
        let c = Command::new(
            "connect",
            1.0,
            Value::object([("app", Value::string("live"))]),
            vec![Value::Null],
        );
        assert_eq!(Command::decode(&c.encode()).unwrap(), c);
        assert!(Command::decode(&[5]).is_err());
    }
}
