//! The server side of an RTMP connection: publishers and players (Adobe RTMP spec §7.2, §7.3).

use std::collections::VecDeque;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    aggregate_parts, command_body, decode_command, first_string_arg, on_status, MediaKind,
    Transport, CSID_COMMAND, CSID_STREAM, DEFAULT_OUT_CHUNK_SIZE, DEFAULT_WINDOW_ACK_SIZE,
};
use crate::amf0::{self, Value};
use crate::handshake::{HandshakeKind, ServerHandshake};
use crate::message::{Command, LimitType, Message, MessageType, ProtocolControl, UserControl};
use crate::RtmpError;

/// The most FourCCs we echo from a client's `fourCcList`.
const MAX_FOURCCS: usize = 32;

/// Most `createStream` calls one connection may make.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 16;
/// Longest `app` a `connect` may name, in bytes. Application names are short words (`live`,
/// `play`); anything longer is not one of ours, and a bound keeps it small in logs and events.
pub const MAX_APP_LEN: usize = 64;
/// The transaction id of `connect` (Adobe RTMP spec §7.2.1.1: "Always set to 1"), used to
/// answer a `connect` whose own id is not a number.
const CONNECT_TRANSACTION_ID: f64 = 1.0;

/// Identifies a publish or play request awaiting the application's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// Server session settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Chunk size we send with after `connect`.
    pub chunk_size: u32,
    /// Window Acknowledgement Size we announce, and Set Peer Bandwidth we ask for.
    pub window_ack_size: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_OUT_CHUNK_SIZE,
            window_ack_size: DEFAULT_WINDOW_ACK_SIZE,
        }
    }
}

/// What a [`ServerSession`] reports to the application.
#[derive(Clone, PartialEq)]
pub enum ServerEvent {
    /// `connect` was received and answered.
    Connected {
        /// The `app` of the connect command object.
        app: String,
        /// The `tcUrl`, if the client sent one.
        tc_url: Option<String>,
        /// The `flashVer` (the client's name and version, as a user agent is over HTTP; at most
        /// 128 characters), if the client sent one.
        flash_ver: Option<String>,
    },
    /// The client asked to publish; answer with `accept_publish` or `reject_publish`.
    PublishRequested {
        /// Pass to the decision method.
        request: RequestId,
        /// The connection's app.
        app: String,
        /// The publish name up to any `?` (the stream key: a secret, never log it).
        stream_key: String,
        /// What followed the `?`, if anything (may hold secrets too).
        query: Option<String>,
    },
    /// The client asked to play; answer with `accept_play` or `reject_play`.
    PlayRequested {
        /// Pass to the decision method.
        request: RequestId,
        /// The connection's app.
        app: String,
        /// The play name up to any `?`.
        name: String,
        /// What followed the `?`, if anything (e.g. a viewer token).
        query: Option<String>,
    },
    /// A media message from an accepted publisher. For `Data` the payload is the
    /// `onMetaData` message body without the `@setDataFrame` wrapper, ready to replay.
    Media {
        /// Audio, video or metadata.
        kind: MediaKind,
        /// Absolute timestamp in milliseconds.
        timestamp: u32,
        /// The payload as reassembled by the chunk decoder.
        payload: Bytes,
    },
    /// The publisher stopped (`FCUnpublish`, `closeStream` or `deleteStream`).
    Unpublished,
    /// The player stopped (`closeStream` or `deleteStream`).
    PlayStopped,
    /// The session is over (after a rejection): flush `poll_transmit`, then close.
    Closed,
}

impl fmt::Debug for ServerEvent {
    // Stream keys and queries are secrets (RELIABILITY rule 5): never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connected { app, tc_url, .. } => f
                .debug_struct("Connected")
                .field("app", app)
                .field("tc_url", tc_url)
                .finish(),
            Self::PublishRequested { request, app, .. } => f
                .debug_struct("PublishRequested")
                .field("request", request)
                .field("app", app)
                .finish_non_exhaustive(),
            Self::PlayRequested {
                request, app, name, ..
            } => f
                .debug_struct("PlayRequested")
                .field("request", request)
                .field("app", app)
                .field("name", name)
                .finish_non_exhaustive(),
            Self::Media {
                kind,
                timestamp,
                payload,
            } => f
                .debug_struct("Media")
                .field("kind", kind)
                .field("timestamp", timestamp)
                .field("len", &payload.len())
                .finish(),
            Self::Unpublished => f.write_str("Unpublished"),
            Self::PlayStopped => f.write_str("PlayStopped"),
            Self::Closed => f.write_str("Closed"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Publish,
    Play,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    id: RequestId,
    role: Role,
    stream_id: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshake,
    /// Waiting for `connect`.
    Connecting,
    Connected,
    Publishing {
        stream_id: u32,
    },
    Playing {
        stream_id: u32,
    },
    Closed,
}

/// Server side of one RTMP connection, sans-I/O.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    handshake: ServerHandshake,
    t: Transport,
    events: VecDeque<ServerEvent>,
    state: State,
    app: String,
    streams_created: u32,
    pending: Option<Pending>,
    next_request: u64,
    messages_received: u64,
}

impl Default for ServerSession {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerSession {
    /// A session with [`ServerConfig::default`].
    pub fn new() -> Self {
        Self::with_config(ServerConfig::default())
    }

    /// A session with custom settings.
    pub fn with_config(config: ServerConfig) -> Self {
        Self {
            config,
            handshake: ServerHandshake::new(),
            t: Transport::new(),
            events: VecDeque::new(),
            state: State::Handshake,
            app: String::new(),
            streams_created: 0,
            pending: None,
            next_request: 0,
            messages_received: 0,
        }
    }

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, mut data: &[u8]) -> Result<(), RtmpError> {
        let r = self.handle_input_inner(&mut data);
        if r.is_err() {
            self.state = State::Closed;
        }
        r
    }

    fn handle_input_inner(&mut self, data: &mut &[u8]) -> Result<(), RtmpError> {
        if self.state == State::Closed {
            return Err(RtmpError::Closed);
        }
        if self.state == State::Handshake {
            let used = self.handshake.handle_input(data)?;
            *data = &data[used..];
            if let Some(b) = self.handshake.poll_transmit() {
                self.t.push_bytes(b);
            }
            if !self.handshake.is_done() {
                return Ok(());
            }
            self.state = State::Connecting;
        }
        let received = data.len();
        while let Some(msg) = self.t.decoder.decode(data)? {
            self.messages_received += 1;
            self.handle_message(msg)?;
            if self.state == State::Closed {
                return Ok(());
            }
        }
        // After the loop, so a Window Ack Size in this very input already counts.
        self.t.count_received(received);
        Ok(())
    }

    /// Next bytes to write to the socket, in order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.t.poll_transmit()
    }

    /// Next event for the application.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// True once the session is over; flush `poll_transmit` and close the connection.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Complete messages received since the handshake (protocol control, commands, media).
    ///
    /// Drivers use it to tell a live peer from one that trickles bytes: a message split into
    /// many small reads counts once, when its last byte arrives.
    pub fn messages_received(&self) -> u64 {
        self.messages_received
    }

    /// Which handshake the client got (digest for Flash/OBS/ffmpeg, simple otherwise).
    pub fn handshake_kind(&self) -> HandshakeKind {
        self.handshake.kind()
    }

    /// The chunk size media is sent with (for [`super::chunk_media`]).
    pub fn out_chunk_size(&self) -> u32 {
        self.t.encoder.chunk_size()
    }

    /// The message stream id of an accepted play, for [`super::chunk_media`].
    pub fn play_stream_id(&self) -> Option<u32> {
        match self.state {
            State::Playing { stream_id } => Some(stream_id),
            _ => None,
        }
    }

    fn handle_message(&mut self, msg: Message) -> Result<(), RtmpError> {
        if self.t.handle_control(&msg)? {
            return Ok(());
        }
        match msg.type_id {
            MessageType::AUDIO | MessageType::VIDEO | MessageType::DATA_AMF0 => {
                self.handle_media(msg);
                Ok(())
            }
            // AMF3 data (§7.1.2): a format byte, then the same AMF0 body as type 18.
            MessageType::DATA_AMF3 => {
                self.handle_media(Message {
                    type_id: MessageType::DATA_AMF0,
                    payload: msg.payload.slice(msg.payload.len().min(1)..),
                    ..msg
                });
                Ok(())
            }
            MessageType::AGGREGATE => {
                for (type_id, timestamp, payload) in aggregate_parts(&msg) {
                    if matches!(
                        type_id,
                        MessageType::AUDIO | MessageType::VIDEO | MessageType::DATA_AMF0
                    ) {
                        self.handle_media(Message {
                            type_id,
                            timestamp,
                            payload,
                            csid: msg.csid,
                            stream_id: msg.stream_id,
                        });
                    }
                }
                Ok(())
            }
            _ if self.state == State::Connecting => self.handle_connect_message(&msg),
            _ => match decode_command(&msg)? {
                Some(c) => self.handle_command(&msg, c),
                // Shared objects: not part of what we serve.
                None => Ok(()),
            },
        }
    }

    /// The first command must be a valid `connect`; anything else closes the session.
    fn handle_connect_message(&mut self, msg: &Message) -> Result<(), RtmpError> {
        let Some(body) = command_body(msg) else {
            // Shared objects, AMF3 data, aggregates: not part of what we serve.
            return Ok(());
        };
        let values = amf0::decode_all(body)?;
        // Checked on the raw values: `Command` reads a missing or non-numeric id as 0.
        let txn = values.get(1).and_then(Value::as_number);
        let c = Command::from_values(values)?;
        if c.name != "connect" {
            return Err(RtmpError::UnexpectedCommand(c.name));
        }
        match validate_connect(txn, &c.command_object) {
            Ok(()) => self.handle_connect(&c),
            Err(description) => {
                let txn = txn
                    .filter(|t| t.is_finite())
                    .unwrap_or(CONNECT_TRANSACTION_ID);
                let info = Value::object([
                    ("level", Value::string("error")),
                    ("code", Value::string("NetConnection.Connect.Rejected")),
                    ("description", Value::string(description)),
                ]);
                self.reply(&Command::new("_error", txn, Value::Null, vec![info]));
                Err(RtmpError::ConnectRejected(description))
            }
        }
    }

    fn handle_media(&mut self, msg: Message) {
        let State::Publishing { stream_id } = self.state else {
            return;
        };
        // Media on message stream 0 is accepted too: node-media-server's push relay (and some
        // other servers' outputs) send it there rather than on the stream they created.
        if msg.stream_id != stream_id && msg.stream_id != 0 {
            return;
        }
        let (kind, payload) = match msg.type_id {
            MessageType::AUDIO => (MediaKind::Audio, msg.payload),
            MessageType::VIDEO => (MediaKind::Video, msg.payload),
            _ => match metadata_body(&msg.payload) {
                Some(p) => (MediaKind::Data, p),
                None => return,
            },
        };
        self.events.push_back(ServerEvent::Media {
            kind,
            timestamp: msg.timestamp,
            payload,
        });
    }

    fn reply(&mut self, c: &Command) {
        self.t.send_command(CSID_COMMAND, 0, c);
    }

    fn status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        self.t
            .send_command(CSID_STREAM, stream_id, &on_status(level, code, description));
    }

    fn handle_command(&mut self, msg: &Message, c: Command) -> Result<(), RtmpError> {
        let txn = c.transaction_id;
        match c.name.as_str() {
            "connect" => Err(RtmpError::UnexpectedCommand(c.name)),
            "releaseStream" => {
                // `null`, not AMF0 `undefined` (what Flash Media Server sent): some clients'
                // AMF0 readers (xiu's push relay) do not know the undefined marker and hang up.
                self.reply(&Command::new(
                    "_result",
                    txn,
                    Value::Null,
                    vec![Value::Null],
                ));
                Ok(())
            }
            "FCPublish" => {
                let name = first_string_arg(&c).unwrap_or_default().to_owned();
                let info = Value::object([
                    ("code", Value::string("NetStream.Publish.Start")),
                    ("description", Value::String(name)),
                ]);
                self.reply(&Command::new("onFCPublish", 0.0, Value::Null, vec![info]));
                Ok(())
            }
            "createStream" => {
                if self.streams_created >= MAX_STREAMS_PER_CONNECTION {
                    return Err(RtmpError::UnexpectedCommand(c.name));
                }
                self.streams_created += 1;
                let id = f64::from(self.streams_created);
                self.reply(&Command::new(
                    "_result",
                    txn,
                    Value::Null,
                    vec![Value::Number(id)],
                ));
                Ok(())
            }
            "getStreamLength" => {
                // Live streams have no length.
                self.reply(&Command::new(
                    "_result",
                    txn,
                    Value::Null,
                    vec![Value::Number(0.0)],
                ));
                Ok(())
            }
            "publish" | "play" => self.handle_publish_or_play(msg, &c),
            "FCUnpublish" | "closeStream" | "deleteStream" => {
                self.stop();
                Ok(())
            }
            // `_checkbw`, `FCSubscribe`, `receiveAudio`, `pause`, …: no reply needed.
            _ => Ok(()),
        }
    }

    fn stop(&mut self) {
        match self.state {
            State::Publishing { .. } => self.events.push_back(ServerEvent::Unpublished),
            State::Playing { .. } => self.events.push_back(ServerEvent::PlayStopped),
            _ => return,
        }
        self.state = State::Connected;
    }

    /// Answers a `connect` that passed [`validate_connect`].
    fn handle_connect(&mut self, c: &Command) -> Result<(), RtmpError> {
        let obj = &c.command_object;
        let app = obj.get("app").and_then(Value::as_str).unwrap_or_default();
        let tc_url = obj.get("tcUrl").and_then(Value::as_str).map(str::to_owned);
        let flash_ver = obj
            .get("flashVer")
            .and_then(Value::as_str)
            .map(|v| v.chars().take(128).collect());
        let encoding = obj
            .get("objectEncoding")
            .and_then(Value::as_number)
            .unwrap_or(0.0);
        self.app = app.to_owned();
        let w = self.config.window_ack_size;
        self.t.send_control(ProtocolControl::WindowAckSize(w));
        self.t.send_control(ProtocolControl::SetPeerBandwidth {
            size: w,
            limit_type: LimitType::DYNAMIC,
        });
        self.t.set_out_chunk_size(self.config.chunk_size)?;
        let mut props = vec![
            ("fmsVer", Value::string("FMS/3,0,1,123")),
            ("capabilities", Value::Number(31.0)),
        ];
        // Enhanced RTMP: a client that lists the FourCCs it can send is told which of them we
        // take. We relay every codec unchanged, so all of them (at most a bounded list).
        if let Some(Value::StrictArray(list)) = obj.get("fourCcList") {
            let accepted = list
                .iter()
                .filter_map(Value::as_str)
                .filter(|f| f.len() <= 8)
                .take(MAX_FOURCCS)
                .map(Value::string)
                .collect();
            props.push(("fourCcList", Value::StrictArray(accepted)));
        }
        let props = Value::object(props);
        let info = Value::object([
            ("level", Value::string("status")),
            ("code", Value::string("NetConnection.Connect.Success")),
            ("description", Value::string("Connection succeeded.")),
            ("objectEncoding", Value::Number(encoding)),
        ]);
        self.reply(&Command::new(
            "_result",
            c.transaction_id,
            props,
            vec![info],
        ));
        self.state = State::Connected;
        self.events.push_back(ServerEvent::Connected {
            app: self.app.clone(),
            tc_url,
            flash_ver,
        });
        Ok(())
    }

    fn handle_publish_or_play(&mut self, msg: &Message, c: &Command) -> Result<(), RtmpError> {
        if self.state != State::Connected || self.pending.is_some() {
            return Err(RtmpError::UnexpectedCommand(c.name.clone()));
        }
        let Some(full) = first_string_arg(c) else {
            return Err(RtmpError::MalformedMessage {
                kind: "publish/play",
                reason: "missing stream name",
            });
        };
        let (name, query) = match full.split_once('?') {
            Some((n, q)) => (n.to_owned(), Some(q.to_owned())),
            None => (full.to_owned(), None),
        };
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let role = if c.name == "publish" {
            Role::Publish
        } else {
            Role::Play
        };
        self.pending = Some(Pending {
            id,
            role,
            stream_id: msg.stream_id,
        });
        let app = self.app.clone();
        self.events.push_back(match role {
            Role::Publish => ServerEvent::PublishRequested {
                request: id,
                app,
                stream_key: name,
                query,
            },
            Role::Play => ServerEvent::PlayRequested {
                request: id,
                app,
                name,
                query,
            },
        });
        Ok(())
    }

    fn take_pending(&mut self, request: RequestId, role: Role) -> Result<u32, RtmpError> {
        if self.state == State::Closed {
            return Err(RtmpError::Closed);
        }
        match self.pending {
            Some(p) if p.id == request && p.role == role => {
                self.pending = None;
                Ok(p.stream_id)
            }
            _ => Err(RtmpError::UnknownRequest),
        }
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.events.push_back(ServerEvent::Closed);
    }

    /// Accepts a publish: sends `onStatus NetStream.Publish.Start`; media events follow.
    pub fn accept_publish(&mut self, request: RequestId) -> Result<(), RtmpError> {
        let stream_id = self.take_pending(request, Role::Publish)?;
        self.t
            .send_control(ProtocolControl::UserControl(UserControl::StreamBegin(
                stream_id,
            )));
        self.status(
            stream_id,
            "status",
            "NetStream.Publish.Start",
            "Publishing.",
        );
        self.state = State::Publishing { stream_id };
        Ok(())
    }

    /// Rejects a publish with `onStatus NetStream.Publish.BadName` and closes the session.
    pub fn reject_publish(
        &mut self,
        request: RequestId,
        description: &str,
    ) -> Result<(), RtmpError> {
        let stream_id = self.take_pending(request, Role::Publish)?;
        self.status(stream_id, "error", "NetStream.Publish.BadName", description);
        self.close();
        Ok(())
    }

    /// Ends an accepted publish from the server's side (an administrator stopped the stream, or
    /// the plan's streaming time ran out): `onStatus NetStream.Unpublish.Success` carrying the
    /// reason, then the session closes.
    pub fn end_publish(&mut self, description: &str) -> Result<(), RtmpError> {
        let State::Publishing { stream_id } = self.state else {
            return Err(match self.state {
                State::Closed => RtmpError::Closed,
                _ => RtmpError::InvalidState("not publishing"),
            });
        };
        self.status(
            stream_id,
            "status",
            "NetStream.Unpublish.Success",
            description,
        );
        self.close();
        Ok(())
    }

    /// Accepts a play: Stream Begin, `NetStream.Play.Reset`, `NetStream.Play.Start`,
    /// `|RtmpSampleAccess`. Send media with [`ServerSession::send_media`] afterwards.
    pub fn accept_play(&mut self, request: RequestId) -> Result<(), RtmpError> {
        let stream_id = self.take_pending(request, Role::Play)?;
        self.t
            .send_control(ProtocolControl::UserControl(UserControl::StreamBegin(
                stream_id,
            )));
        self.status(
            stream_id,
            "status",
            "NetStream.Play.Reset",
            "Playing and resetting.",
        );
        self.status(
            stream_id,
            "status",
            "NetStream.Play.Start",
            "Started playing.",
        );
        let mut access = BytesMut::new();
        amf0::encode_all(
            &[
                Value::string("|RtmpSampleAccess"),
                Value::Boolean(true),
                Value::Boolean(true),
            ],
            &mut access,
        );
        self.t
            .send(CSID_STREAM, 0, MessageType::DATA_AMF0, stream_id, &access)?;
        let mut data_start = BytesMut::new();
        amf0::encode_all(
            &[
                Value::string("onStatus"),
                Value::object([("code", Value::string("NetStream.Data.Start"))]),
            ],
            &mut data_start,
        );
        self.t.send(
            CSID_STREAM,
            0,
            MessageType::DATA_AMF0,
            stream_id,
            &data_start,
        )?;
        self.state = State::Playing { stream_id };
        Ok(())
    }

    /// Rejects a play with `onStatus NetStream.Play.StreamNotFound` and closes the session.
    pub fn reject_play(&mut self, request: RequestId, description: &str) -> Result<(), RtmpError> {
        let stream_id = self.take_pending(request, Role::Play)?;
        self.status(
            stream_id,
            "error",
            "NetStream.Play.StreamNotFound",
            description,
        );
        self.close();
        Ok(())
    }

    /// Queues a media message for an accepted player, chunked at our chunk size. For `Data`
    /// pass an `onMetaData` body (as [`ServerEvent::Media`] delivers it).
    pub fn send_media(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: &Bytes,
    ) -> Result<(), RtmpError> {
        let stream_id = self.playing_stream()?;
        self.t.send(
            kind.csid(),
            timestamp,
            kind.message_type(),
            stream_id,
            payload,
        )
    }

    /// Queues bytes made by [`super::chunk_media`] with this session's
    /// [`out_chunk_size`](Self::out_chunk_size) and [`play_stream_id`](Self::play_stream_id),
    /// shared among players without copying.
    pub fn send_chunked(&mut self, kind: MediaKind, chunks: Bytes) -> Result<(), RtmpError> {
        self.playing_stream()?;
        // Those bytes start with a type-0 header, so our next header on that chunk stream
        // must not be compressed against state the peer no longer has.
        self.t.encoder.forget(kind.csid());
        self.t.push_bytes(chunks);
        Ok(())
    }

    /// Tells an accepted player the stream ended (Stream EOF and
    /// `NetStream.Play.UnpublishNotify`); the session stays open.
    pub fn send_stream_eof(&mut self) -> Result<(), RtmpError> {
        let stream_id = self.playing_stream()?;
        self.t
            .send_control(ProtocolControl::UserControl(UserControl::StreamEof(
                stream_id,
            )));
        self.status(
            stream_id,
            "status",
            "NetStream.Play.UnpublishNotify",
            "Stream ended.",
        );
        Ok(())
    }

    fn playing_stream(&self) -> Result<u32, RtmpError> {
        match self.state {
            State::Playing { stream_id } => Ok(stream_id),
            State::Closed => Err(RtmpError::Closed),
            _ => Err(RtmpError::InvalidState("not playing")),
        }
    }
}

/// Checks a `connect` (Adobe RTMP spec §7.2.1.1: command name, transaction id, command object
/// with `app` and, optionally, `tcUrl`); `Err` is the description sent back with
/// `NetConnection.Connect.Rejected`.
///
/// The command object may be an ECMA array as well as an object: nginx-rtmp reads either
/// wherever it expects an object, so clients tested against it may send one, and the two hold
/// the same key/value pairs.
fn validate_connect(txn: Option<f64>, object: &Value) -> Result<(), &'static str> {
    if !txn.is_some_and(f64::is_finite) {
        return Err("the transaction id of connect must be a number");
    }
    if !matches!(object, Value::Object(_) | Value::EcmaArray(_)) {
        return Err("the command object of connect must be an AMF0 object");
    }
    let app_ok = object.get("app").and_then(Value::as_str).is_some_and(|a| {
        !a.is_empty() && a.len() <= MAX_APP_LEN && !a.chars().any(char::is_control)
    });
    if !app_ok {
        return Err("app must be a string of 1 to 64 bytes without control characters");
    }
    if object.get("tcUrl").is_some_and(|u| u.as_str().is_none()) {
        return Err("tcUrl must be a string");
    }
    Ok(())
}

/// The `onMetaData` body of a data message: as is, or after `@setDataFrame` (sliced, not
/// copied). Other data messages (cue points, text) are not forwarded.
fn metadata_body(payload: &Bytes) -> Option<Bytes> {
    let (first, used) = amf0::decode(payload).ok()?;
    let (body, name) = match first.as_str()? {
        "@setDataFrame" => {
            let rest = payload.slice(used..);
            let (name, _) = amf0::decode(&rest).ok()?;
            (rest, name)
        }
        _ => (payload.clone(), first),
    };
    (name.as_str()? == "onMetaData").then_some(body)
}

/// Prefixes an `onMetaData` body with `@setDataFrame`, as publishers send it.
pub(super) fn set_data_frame(body: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(body.len() + 16);
    amf0::encode(&Value::string("@setDataFrame"), &mut b);
    b.put_slice(body);
    b.freeze()
}
