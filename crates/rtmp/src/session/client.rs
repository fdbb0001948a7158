//! The client side: publishing to another RTMP server (restreaming): handshake, `connect`,
//! `releaseStream`/`FCPublish`, `createStream`, `publish` (Adobe RTMP spec §7.2); or playing
//! from one (benchmarks, probes): `connect`, `createStream`, `play`, then media messages
//! (Adobe RTMP spec §7.2.2.1).

use std::collections::VecDeque;

use bytes::Bytes;

use super::server::set_data_frame;
use super::{
    aggregate_parts, decode_command, MediaKind, Transport, CSID_COMMAND, CSID_STREAM,
    DEFAULT_OUT_CHUNK_SIZE,
};
use crate::amf0::Value;
use crate::handshake::ClientHandshake;
use crate::message::{Command, Message, MessageType, ProtocolControl, UserControl};
use crate::RtmpError;

const TXN_CONNECT: f64 = 1.0;
const TXN_RELEASE_STREAM: f64 = 2.0;
const TXN_FC_PUBLISH: f64 = 3.0;
const TXN_CREATE_STREAM: f64 = 4.0;
const TXN_PUBLISH: f64 = 5.0;
/// The buffer length a player announces (Set Buffer Length, §7.1.7); servers that pace by it
/// (nginx-rtmp) start sending at once with any value.
const PLAY_BUFFER_MS: u32 = 1000;
/// What a [`ClientSession`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server answered `NetStream.Publish.Start`: `send_media` may be called.
    Publishing,
    /// The server refused or failed (its description); the session is finished.
    Error(String),
}

/// What a [`ClientSession`] created with [`ClientSession::play`] reports besides
/// [`ClientEvent::Error`] (kept apart so that `ClientEvent` stays as publishers match it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayEvent {
    /// The server answered `NetStream.Play.Start`.
    Playing,
    /// One media message (an FLV tag body), aggregate messages (type 22)
    /// already split into their parts.
    Media {
        /// Audio, video or data (`onMetaData` only, unwrapped from `@setDataFrame` if present;
        /// other data messages such as `|RtmpSampleAccess` are dropped).
        kind: MediaKind,
        /// The message timestamp in milliseconds.
        timestamp: u32,
        /// The body, shared with the reassembled message.
        payload: Bytes,
    },
    /// The server reported the stream's end (`NetStream.Play.Stop`,
    /// `NetStream.Play.UnpublishNotify` or Stream EOF); the session stays open.
    StreamEnded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshake,
    Connecting,
    CreatingStream,
    PublishSent { stream_id: u32 },
    Publishing { stream_id: u32 },
    PlaySent { stream_id: u32 },
    Playing { stream_id: u32 },
    Failed,
}

/// What the session was created to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Publish,
    Play,
}

/// A publishing or playing RTMP client, sans-I/O.
#[derive(Debug)]
pub struct ClientSession {
    handshake: ClientHandshake,
    t: Transport,
    events: VecDeque<ClientEvent>,
    play_events: VecDeque<PlayEvent>,
    state: State,
    mode: Mode,
    app: String,
    tc_url: String,
    stream_key: String,
}

impl ClientSession {
    /// Starts a session that will publish `stream_key` to `app` at `tc_url`
    /// (`rtmp://host[:port]/app`). C0+C1 are ready in `poll_transmit` at once.
    pub fn new(app: &str, tc_url: &str, stream_key: &str) -> Self {
        Self {
            handshake: ClientHandshake::new(tc_url.as_bytes()),
            t: Transport::new(),
            events: VecDeque::new(),
            play_events: VecDeque::new(),
            state: State::Handshake,
            mode: Mode::Publish,
            app: app.to_owned(),
            tc_url: tc_url.to_owned(),
            stream_key: stream_key.to_owned(),
        }
    }

    /// Starts a session that will play `stream_name` from `app` at `tc_url`
    /// (`rtmp://host[:port]/app`). C0+C1 are ready in `poll_transmit` at once; after
    /// [`PlayEvent::Playing`] media arrives as [`PlayEvent::Media`] from `poll_play_event`.
    pub fn play(app: &str, tc_url: &str, stream_name: &str) -> Self {
        let mut s = Self::new(app, tc_url, stream_name);
        s.mode = Mode::Play;
        s
    }

    /// True after [`PlayEvent::Playing`] until the session fails.
    pub fn is_playing(&self) -> bool {
        matches!(self.state, State::Playing { .. })
    }

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, mut data: &[u8]) -> Result<(), RtmpError> {
        let r = self.handle_input_inner(&mut data);
        if let Err(e) = &r {
            if self.state != State::Failed {
                self.state = State::Failed;
                self.events.push_back(ClientEvent::Error(e.to_string()));
            }
        }
        r
    }

    fn handle_input_inner(&mut self, data: &mut &[u8]) -> Result<(), RtmpError> {
        if self.state == State::Failed {
            return Err(RtmpError::Closed);
        }
        if self.state == State::Handshake {
            let used = self.handshake.handle_input(data)?;
            *data = &data[used..];
            if !self.handshake.is_done() {
                return Ok(());
            }
            if let Some(c2) = self.handshake.poll_transmit() {
                self.t.push_bytes(c2);
            }
            self.send_connect()?;
            self.state = State::Connecting;
        }
        let received = data.len();
        while let Some(msg) = self.t.decoder.decode(data)? {
            self.handle_message(msg)?;
        }
        self.t.count_received(received);
        Ok(())
    }

    /// Next bytes to write to the socket, in order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if let Some(b) = self.handshake.poll_transmit() {
            return Some(b);
        }
        self.t.poll_transmit()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Next play event (play sessions only; failures still come from `poll_event`).
    pub fn poll_play_event(&mut self) -> Option<PlayEvent> {
        self.play_events.pop_front()
    }

    /// True after [`ClientEvent::Publishing`] until the session fails.
    pub fn is_publishing(&self) -> bool {
        matches!(self.state, State::Publishing { .. })
    }

    /// Queues a media message. `Data` takes an `onMetaData` body and sends it wrapped in
    /// `@setDataFrame`, as encoders do.
    pub fn send_media(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: &Bytes,
    ) -> Result<(), RtmpError> {
        let State::Publishing { stream_id } = self.state else {
            return Err(match self.state {
                State::Failed => RtmpError::Closed,
                _ => RtmpError::InvalidState("not publishing"),
            });
        };
        let body;
        let bytes: &[u8] = match kind {
            MediaKind::Data => {
                body = set_data_frame(payload);
                &body
            }
            MediaKind::Audio | MediaKind::Video => payload,
        };
        self.t.send(
            kind.csid(),
            timestamp,
            kind.message_type(),
            stream_id,
            bytes,
        )
    }

    /// The message stream id the server gave this publish, once publishing.
    pub fn publish_stream_id(&self) -> Option<u32> {
        match self.state {
            State::Publishing { stream_id } => Some(stream_id),
            _ => None,
        }
    }

    /// Queues an audio or video message already chunked (by [`crate::session::chunk_media`] at
    /// [`DEFAULT_OUT_CHUNK_SIZE`] for [`ClientSession::publish_stream_id`]), so that one
    /// chunking can serve many sessions.
    pub fn send_chunked(&mut self, kind: MediaKind, chunks: Bytes) -> Result<(), RtmpError> {
        if !self.is_publishing() {
            return Err(RtmpError::InvalidState("not publishing"));
        }
        // Those bytes start with a type-0 header: our next header on that chunk stream must not
        // be compressed against state the peer does not have.
        self.t.encoder.forget(kind.csid());
        self.t.push_bytes(chunks);
        Ok(())
    }

    /// Queues `FCUnpublish` and `deleteStream`; the caller closes the connection after
    /// flushing.
    pub fn unpublish(&mut self) {
        if let State::Publishing { stream_id } | State::PublishSent { stream_id } = self.state {
            let key = Value::string(self.stream_key.clone());
            self.t.send_command(
                CSID_COMMAND,
                0,
                &Command::new("FCUnpublish", 0.0, Value::Null, vec![key]),
            );
            self.t.send_command(
                CSID_COMMAND,
                0,
                &Command::new(
                    "deleteStream",
                    0.0,
                    Value::Null,
                    vec![Value::Number(f64::from(stream_id))],
                ),
            );
            self.state = State::Failed;
        }
    }

    fn send_connect(&mut self) -> Result<(), RtmpError> {
        self.t.set_out_chunk_size(DEFAULT_OUT_CHUNK_SIZE)?;
        let obj = Value::object([
            ("app", Value::string(self.app.clone())),
            ("type", Value::string("nonprivate")),
            (
                "flashVer",
                Value::string("FMLE/3.0 (compatible; ferrocast)"),
            ),
            ("swfUrl", Value::string(self.tc_url.clone())),
            ("tcUrl", Value::string(self.tc_url.clone())),
        ]);
        self.t.send_command(
            CSID_COMMAND,
            0,
            &Command::new("connect", TXN_CONNECT, obj, vec![]),
        );
        Ok(())
    }

    fn fail(&mut self, description: String) {
        self.state = State::Failed;
        self.events.push_back(ClientEvent::Error(description));
    }

    fn handle_message(&mut self, msg: Message) -> Result<(), RtmpError> {
        if self.t.handle_control(&msg)? {
            if let (Mode::Play, Some(ProtocolControl::UserControl(UserControl::StreamEof(_)))) = (
                self.mode,
                ProtocolControl::decode(msg.type_id, &msg.payload)?,
            ) {
                self.play_events.push_back(PlayEvent::StreamEnded);
            }
            return Ok(());
        }
        if self.mode == Mode::Play && self.handle_media(&msg) {
            return Ok(());
        }
        let Some(c) = decode_command(&msg)? else {
            return Ok(());
        };
        let key = || Value::string(self.stream_key.clone());
        match (c.name.as_str(), self.state) {
            ("_result", State::Connecting)
                if c.transaction_id == TXN_CONNECT && self.mode == Mode::Play =>
            {
                let cmd = Command::new("createStream", TXN_CREATE_STREAM, Value::Null, vec![]);
                self.t.send_command(CSID_COMMAND, 0, &cmd);
                self.state = State::CreatingStream;
            }
            ("_result", State::Connecting) if c.transaction_id == TXN_CONNECT => {
                for (name, txn) in [
                    ("releaseStream", TXN_RELEASE_STREAM),
                    ("FCPublish", TXN_FC_PUBLISH),
                ] {
                    let cmd = Command::new(name, txn, Value::Null, vec![key()]);
                    self.t.send_command(CSID_COMMAND, 0, &cmd);
                }
                let cmd = Command::new("createStream", TXN_CREATE_STREAM, Value::Null, vec![]);
                self.t.send_command(CSID_COMMAND, 0, &cmd);
                self.state = State::CreatingStream;
            }
            ("_result", State::CreatingStream) if c.transaction_id == TXN_CREATE_STREAM => {
                let Some(id) = c.args.first().and_then(Value::as_number) else {
                    self.fail("createStream returned no stream id".to_owned());
                    return Ok(());
                };
                let stream_id = id as u32;
                if self.mode == Mode::Play {
                    self.send_play(stream_id);
                    return Ok(());
                }
                let cmd = Command::new(
                    "publish",
                    TXN_PUBLISH,
                    Value::Null,
                    vec![key(), Value::string("live")],
                );
                self.t.send_command(CSID_STREAM, stream_id, &cmd);
                self.state = State::PublishSent { stream_id };
            }
            ("_error", State::Connecting | State::CreatingStream) => {
                let d = describe(&c);
                self.fail(d);
            }
            ("onStatus", _) => {
                let info = c.args.first().unwrap_or(&Value::Null);
                let code = info.get("code").and_then(Value::as_str).unwrap_or_default();
                let level = info
                    .get("level")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match self.state {
                    State::PublishSent { stream_id } if code == "NetStream.Publish.Start" => {
                        self.state = State::Publishing { stream_id };
                        self.events.push_back(ClientEvent::Publishing);
                    }
                    State::PlaySent { stream_id } if code == "NetStream.Play.Start" => {
                        self.state = State::Playing { stream_id };
                        self.play_events.push_back(PlayEvent::Playing);
                    }
                    State::Playing { .. }
                        if code == "NetStream.Play.Stop"
                            || code == "NetStream.Play.UnpublishNotify" =>
                    {
                        self.play_events.push_back(PlayEvent::StreamEnded);
                    }
                    State::Failed => {}
                    _ if level == "error" => {
                        let d = describe(&c);
                        self.fail(d);
                    }
                    _ => {}
                }
            }
            _ if msg.type_id == MessageType::COMMAND_AMF0 => {}
            _ => {}
        }
        Ok(())
    }
}

impl ClientSession {
    /// Sends Set Buffer Length and `play` on the created stream (§7.2.2.1: start -2, live or
    /// recorded, whichever exists).
    fn send_play(&mut self, stream_id: u32) {
        self.t
            .send_control(ProtocolControl::UserControl(UserControl::SetBufferLength {
                stream_id,
                buffer_ms: PLAY_BUFFER_MS,
            }));
        let cmd = Command::new(
            "play",
            TXN_PUBLISH,
            Value::Null,
            vec![Value::string(self.stream_key.clone()), Value::Number(-2.0)],
        );
        self.t.send_command(CSID_STREAM, stream_id, &cmd);
        self.state = State::PlaySent { stream_id };
    }

    /// Turns a media message into events; false if `msg` is not media.
    fn handle_media(&mut self, msg: &Message) -> bool {
        let kind = match msg.type_id {
            MessageType::AUDIO => MediaKind::Audio,
            MessageType::VIDEO => MediaKind::Video,
            MessageType::DATA_AMF0 => MediaKind::Data,
            MessageType::AGGREGATE => {
                self.split_aggregate(msg);
                return true;
            }
            _ => return false,
        };
        let payload = if kind == MediaKind::Data {
            let body = unwrap_set_data_frame(&msg.payload);
            if !is_on_metadata(&body) {
                // |RtmpSampleAccess, NetStream.Data.Start and other notifications.
                return true;
            }
            body
        } else {
            msg.payload.clone()
        };
        self.play_events.push_back(PlayEvent::Media {
            kind,
            timestamp: msg.timestamp,
            payload,
        });
        true
    }

    /// Turns an aggregate message's sub-messages (§7.1.6) into events.
    fn split_aggregate(&mut self, msg: &Message) {
        for (type_id, timestamp, body) in aggregate_parts(msg) {
            let kind = match type_id {
                MessageType::AUDIO => MediaKind::Audio,
                MessageType::VIDEO => MediaKind::Video,
                MessageType::DATA_AMF0 => MediaKind::Data,
                _ => continue,
            };
            let payload = if kind == MediaKind::Data {
                unwrap_set_data_frame(&body)
            } else {
                body
            };
            if kind != MediaKind::Data || is_on_metadata(&payload) {
                self.play_events.push_back(PlayEvent::Media {
                    kind,
                    timestamp,
                    payload,
                });
            }
        }
    }
}

/// A data message body without its `@setDataFrame` wrapper, if it has one (the AMF0 string
/// marker 0x02, length 13, "@setDataFrame").
fn unwrap_set_data_frame(body: &Bytes) -> Bytes {
    const WRAPPER: &[u8] = b"\x02\x00\x0d@setDataFrame";
    if body.starts_with(WRAPPER) {
        body.slice(WRAPPER.len()..)
    } else {
        body.clone()
    }
}

/// True if a data message body starts with the AMF0 string `onMetaData`.
fn is_on_metadata(body: &[u8]) -> bool {
    body.starts_with(b"\x02\x00\x0aonMetaData")
}

/// The description (or code) of an `_error`/`onStatus` info object.
fn describe(c: &Command) -> String {
    let info = c.args.first().unwrap_or(&Value::Null);
    info.get("description")
        .or_else(|| info.get("code"))
        .and_then(Value::as_str)
        .unwrap_or(&c.name)
        .to_owned()
}
