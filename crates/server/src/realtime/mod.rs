//! Realtime: the Socket.IO server at `/socket.io/` (so the stock `socket.io-client` works), with
//! the events of Neustream's "WebSocket Event Reference" — `join-chat`, `leave-chat`,
//! `send-message`, `join-stream`, `leave-stream` in; `chat-message`, `stream-status`,
//! `stream-ended`, `error` out — plus `send-reaction` / `reaction`, `viewer-count`, and the
//! moderators' `message-deleted` and `user-banned`, `stream-info` (a stream's title, category
//! and tags changed); and, to a stream's owner only,
//! `stream-stats` (its health each second), `destination-status` and `usage-warning`.
//!
//! Viewers are the sockets in a stream's room other than its owner's own (the dashboard joins
//! its streams' rooms and plays the preview: the creator is not their own viewer).
//!
//! The handshake may carry an access token or API key (`auth: { token }`); without one the
//! client is an anonymous viewer who may join any source's rooms and read, not write. Each
//! socket's events are handled in order by one task, from a bounded queue: a client that
//! floods is refused (and told so at most once a second) without slowing anyone else, and an
//! oversized or malformed packet closes that connection only (Engine.IO's payload limit and
//! parser). Everything sent to rooms goes through [`bus::Fanout`] so every node's clients get it.

use crate::error::codes;
use crate::service::accounts::Credential;
use crate::service::chat::{self, Post, PostError};
use crate::service::events::{Envelope, RealtimeEvent, Room};
use crate::service::stats::StatsBook;
use crate::state::AppState;
use ferrocast_db::sources::SourceRecord;
use ferrocast_domain::account::{Role, Scope};
use ferrocast_domain::chat::clean_text;
use ferrocast_engine::addresses::{AddrKey, AddrSlot};
use serde::{Deserialize, Serialize};
use serde_json::json;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts, MessageHandler, Value};
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::Socket;
use socketioxide::SocketIo;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};

/// Reactions a viewer may send.
pub const REACTIONS: &[&str] = &["heart", "fire", "clap", "laugh", "wow", "sad"];
/// Largest Engine.IO payload (a long-polling request body, a WebSocket message or frame)
/// accepted; a bigger one closes the connection (a chat message is at most 500 characters).
pub const MAX_PAYLOAD: u64 = 16 * 1024;
/// Events one socket may have waiting to be handled; more are refused.
pub const SOCKET_QUEUE: usize = 64;
/// Rooms one socket may be in at once.
pub const MAX_ROOMS: usize = 16;
/// Reactions per socket per second at most.
pub const REACTIONS_PER_SECOND: u32 = 5;
/// How often a node repeats its viewer counts (so a node that died stops counting).
pub const VIEWERS_EVERY: Duration = Duration::from_secs(20);
/// A node's viewer count older than this is forgotten.
pub const VIEWERS_TTL: Duration = crate::service::stats::VIEWERS_TTL;
/// Sockets of one address (IPv4, or IPv6 /64) counted in a stream's viewers at most: a
/// household's devices count, one host opening thousands of sockets does not inflate the count.
pub const VIEWERS_PER_ADDRESS: u64 = 3;
/// Messages `GET /api/chat/messages` returns at most.
pub const MAX_HISTORY: i64 = 200;

/// The Socket.IO room of a source's chat.
pub fn chat_room(source_id: i64) -> String {
    Room::Chat(source_id).name().unwrap_or_default()
}

/// The Socket.IO room of a source's stream (status, viewers, reactions).
pub fn stream_room(source_id: i64) -> String {
    Room::Stream(source_id).name().unwrap_or_default()
}

/// Who is on a socket.
#[derive(Debug, Clone)]
struct Viewer(Option<Arc<Member>>);

/// A logged-in user on a socket.
#[derive(Debug)]
struct Member {
    id: i64,
    uuid: String,
    name: String,
    role: Role,
    /// The credential allows chat (an API key needs the `chat:write` scope).
    can_write: bool,
    /// What to check again before each message, so a socket cannot outlive a logout or a
    /// revoked key.
    credential: Recheck,
}

/// A socket's credential as it is checked again (never the token itself).
#[derive(Debug)]
enum Recheck {
    /// The login session's UUID.
    Session(String),
    /// The API key's hash.
    ApiKey(String),
}

/// The queue of a socket's events (removed at disconnect, which ends its task).
#[derive(Clone)]
struct Inbox(mpsc::Sender<Incoming>);

/// The client events ferrocast handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inbound {
    JoinChat,
    LeaveChat,
    SendMessage,
    JoinStream,
    LeaveStream,
    SendReaction,
    JoinRadio,
    LeaveRadio,
}

const INBOUND: &[(&str, Inbound)] = &[
    ("join-chat", Inbound::JoinChat),
    ("leave-chat", Inbound::LeaveChat),
    ("send-message", Inbound::SendMessage),
    ("join-stream", Inbound::JoinStream),
    ("leave-stream", Inbound::LeaveStream),
    ("send-reaction", Inbound::SendReaction),
    ("join-radio", Inbound::JoinRadio),
    ("leave-radio", Inbound::LeaveRadio),
];

struct Incoming {
    event: Inbound,
    socket: Arc<Socket<LocalAdapter>>,
    value: Value,
    ack_id: Option<i64>,
}

/// Puts each event on its socket's queue, in arrival order (Socket.IO would run async handlers
/// as separate tasks, in no particular order).
#[derive(Clone, Copy)]
struct Enqueue(Inbound);

impl MessageHandler<LocalAdapter, ()> for Enqueue {
    fn call(&self, s: Arc<Socket<LocalAdapter>>, v: Value, ack_id: Option<i64>) {
        let Some(Inbox(tx)) = s.extensions.get::<Inbox>() else {
            return;
        };
        let item = Incoming {
            event: self.0,
            socket: s.clone(),
            value: v,
            ack_id,
        };
        if let Err(refused) = tx.try_send(item) {
            const BUSY: &str = "too many events; slow down";
            let mut item = refused.into_inner();
            match (ack_id, ack_sender(&item.socket, &mut item.value, ack_id)) {
                (Some(_), Some(ack)) => {
                    drop(ack.send(&Reply::refused(Refusal::new(codes::RATE_LIMITED, BUSY))))
                }
                _ => {
                    if let Some(w) = s.extensions.get::<Warned>() {
                        w.warn(&s, BUSY);
                    }
                }
            }
        }
    }
}

/// At most one `error` a second per socket for refusals, so a flood is not answered in kind.
#[derive(Clone)]
struct Warned(Arc<Mutex<Option<Instant>>>);

impl Warned {
    fn warn(&self, s: &Socket<LocalAdapter>, message: &str) {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *last = Some(Instant::now());
        let _ = s.emit("error", &json!({ "message": message }));
    }
}

/// Names a source: Neustream's `sourceId`, or a playback id (what a watch page knows).
#[derive(Debug, Deserialize)]
struct Target {
    #[serde(alias = "source_id", alias = "sourceId", default)]
    source_id: Option<i64>,
    #[serde(alias = "playback_id", alias = "playbackId", default)]
    playback_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SendMessage {
    #[serde(flatten)]
    target: Target,
    message: String,
}

#[derive(Debug, Deserialize)]
struct SendReaction {
    #[serde(flatten)]
    target: Target,
    reaction: String,
}

/// What an acknowledgement carries: `{ ok: true, ... }`, or `{ ok: false, error, code }` with
/// the same machine-readable codes as the HTTP API's errors.
#[derive(Debug, Serialize)]
struct Reply {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(flatten)]
    data: serde_json::Value,
}

impl Reply {
    fn ok(data: serde_json::Value) -> Self {
        Self {
            ok: true,
            error: None,
            code: None,
            data,
        }
    }
    fn refused(r: Refusal) -> Self {
        Self {
            ok: false,
            error: Some(r.message),
            code: Some(r.code),
            data: json!({}),
        }
    }
}

/// Why an event was refused: the text for people and the API's error code.
#[derive(Debug)]
struct Refusal {
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A malformed or otherwise invalid event.
impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Self::new(codes::VALIDATION_ERROR, message)
    }
}

impl From<PostError> for Refusal {
    fn from(e: PostError) -> Self {
        Self::new(codes::of_post(&e), e.to_string())
    }
}

/// Viewer counts: this node's sockets per source and address (every node's reports are in
/// the [`StatsBook`]).
#[derive(Default)]
struct Viewers {
    local: HashMap<i64, HashMap<AddrKey, u64>>,
}

/// The realtime part of a node: the Socket.IO handle and viewer counts.
#[derive(Clone)]
struct Realtime {
    io: SocketIo,
    viewers: Arc<Mutex<Viewers>>,
    /// Every node's viewer counts and the streams' recent health samples.
    book: Arc<StatsBook>,
}

/// Builds the Socket.IO layer for the HTTP app and starts the tasks that carry events from the
/// fan-out to this node's clients; they end when `shutdown` turns true.
pub fn start(state: AppState, shutdown: watch::Receiver<bool>) -> SocketIoLayer {
    let (layer, io) = SocketIo::builder()
        .req_path("/socket.io")
        .max_payload(MAX_PAYLOAD)
        .ws_max_message_size(MAX_PAYLOAD as usize)
        .ws_max_frame_size(MAX_PAYLOAD as usize)
        .max_buffer_size(256)
        .connect_timeout(Duration::from_secs(10))
        .build_layer();
    let realtime = Realtime {
        io: io.clone(),
        viewers: Arc::default(),
        book: state.streams.stats.clone(),
    };
    let on_connect = async || {};
    // The socket is made ready in the middleware, before socketioxide sends the client its
    // CONNECT packet: the connect handler runs as a task spawned after that packet, so a client
    // that emits as soon as it is connected could otherwise reach a socket with no handlers,
    // and its event would be dropped without an acknowledgement.
    let authenticate = {
        let state = state.clone();
        let rt = realtime.clone();
        move |s: SocketRef, TryData(auth): TryData<serde_json::Value>| {
            let state = state.clone();
            let rt = rt.clone();
            async move {
                authenticate(&state, &s, auth.ok()).await?;
                prepare(&s, state, rt);
                Ok::<(), String>(())
            }
        }
    };
    io.ns("/", on_connect.with(authenticate));
    tokio::spawn(deliver(
        state.fanout.subscribe(),
        realtime.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(repeat_viewer_counts(state, realtime, shutdown));
    layer
}

/// The handshake's token (`auth: { token }`, or `Authorization: Bearer`), if any, decides who
/// the socket is; a token that does not verify refuses the connection with the reason.
async fn authenticate(
    state: &AppState,
    s: &SocketRef,
    auth: Option<serde_json::Value>,
) -> Result<(), String> {
    let from_auth = auth
        .as_ref()
        .and_then(|a| a.get("token"))
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    let from_header = s
        .req_parts()
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_owned);
    let viewer = match from_auth.or(from_header).filter(|t| !t.is_empty()) {
        None => Viewer(None),
        Some(token) if token.len() > 4096 => return Err("the token is not valid".into()),
        Some(token) => {
            let user = state
                .accounts
                .authenticate(&token)
                .await
                .map_err(|e| crate::error::ApiError::from(e).body.details)?;
            let credential = match &user.credential {
                Credential::Session { session_uuid } => Recheck::Session(session_uuid.clone()),
                Credential::ApiKey { .. } => Recheck::ApiKey(ferrocast_auth::token::hash(&token)),
            };
            Viewer(Some(Arc::new(Member {
                id: user.user.id,
                uuid: user.user.uuid.clone(),
                name: user.user.display_name.clone(),
                role: user.role,
                can_write: user.require(Scope::ChatWrite).is_ok(),
                credential,
            })))
        }
    };
    s.extensions.insert(viewer);
    let ip = client_address(state, s).ok_or("the connection has no client address")?;
    let slot = state.socket_addresses.admit(ip).map_err(|_| {
        state.metrics.rate_limited("socketio_per_address");
        format!(
            "too many connections from your address (at most {}); close some tabs and try again",
            state.config.socketio_max_per_ip
        )
    })?;
    s.extensions.insert(Peer {
        key: slot.key(),
        _slot: Arc::new(slot),
    });
    Ok(())
}

/// Where a socket comes from, and its place in the per-address count (freed when dropped).
#[derive(Clone)]
struct Peer {
    key: AddrKey,
    _slot: Arc<AddrSlot>,
}

/// The client address of a socket's handshake: the TCP peer, or the forwarded client behind a
/// trusted proxy.
fn client_address(state: &AppState, s: &SocketRef) -> Option<std::net::IpAddr> {
    let parts = s.req_parts();
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?
        .0
        .ip();
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(crate::extract::client_ip(
        peer,
        &forwarded,
        &state.config.trusted_proxies,
    ))
}

/// The address key a connected socket counts under.
fn peer_key(socket: &Arc<Socket<LocalAdapter>>) -> AddrKey {
    socket
        .extensions
        .get::<Peer>()
        .map_or(AddrKey::V4(std::net::Ipv4Addr::UNSPECIFIED), |p| p.key)
}

/// Counts an open socket in `AppState::sockets` for as long as it is held: removed at
/// disconnect, or dropped with the socket if it never got connected.
struct Counted(AppState);

impl Counted {
    fn new(state: AppState) -> Self {
        state.sockets.fetch_add(1, Ordering::Relaxed);
        Self(state)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.sockets.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Gives an admitted socket its queue, its rooms and its event handlers.
fn prepare(s: &SocketRef, state: AppState, rt: Realtime) {
    s.extensions.insert(Arc::new(Counted::new(state.clone())));
    let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
    s.extensions.insert(Inbox(tx));
    s.extensions.insert(Warned(Arc::default()));
    s.extensions.insert(Joined::default());
    // A logged-in socket hears its owner's private events (restream destination states).
    if let Some(Viewer(Some(member))) = s.extensions.get::<Viewer>() {
        if let Some(room) = Room::User(member.id).name() {
            s.join(room);
        }
    }
    for (name, event) in INBOUND {
        s.on(*name, Enqueue(*event));
    }
    let rt_gone = rt.clone();
    let state_gone = state.clone();
    s.on_disconnect(move |s: SocketRef| {
        let rt = rt_gone.clone();
        let state = state_gone.clone();
        async move {
            s.extensions.remove::<Arc<Counted>>();
            s.extensions.remove::<Inbox>();
            // Dropping the peer frees its place in the per-address count.
            let from = s.extensions.remove::<Peer>().map(|p| p.key);
            if let (Some(joined), Some(from)) = (s.extensions.remove::<Joined>(), from) {
                // Closed under the lock, so a join still being handled cannot add a viewer
                // after this count is taken.
                let streams: Vec<i64> = {
                    let mut j = joined.lock();
                    j.closed = true;
                    j.streams
                        .drain()
                        .filter_map(|(id, counted)| counted.then_some(id))
                        .collect()
                };
                for source_id in streams {
                    rt.viewer_left(&state, source_id, from);
                }
            }
        }
    });
    tokio::spawn(worker(rx, state, rt));
}

/// The rooms a socket is in (bounded by [`MAX_ROOMS`]) and its reaction budget.
#[derive(Clone, Default)]
struct Joined(Arc<Mutex<JoinedInner>>);

#[derive(Default)]
struct JoinedInner {
    chats: HashSet<i64>,
    /// Stream rooms joined, and whether the socket counts as a viewer there (not its owner).
    streams: HashMap<i64, bool>,
    reactions: (u32, Option<Instant>),
    /// The socket disconnected: nothing more is joined.
    closed: bool,
}

impl Joined {
    fn lock(&self) -> std::sync::MutexGuard<'_, JoinedInner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Handles one socket's events in order until it disconnects.
async fn worker(mut rx: mpsc::Receiver<Incoming>, state: AppState, rt: Realtime) {
    while let Some(Incoming {
        event,
        socket,
        mut value,
        ack_id,
    }) = rx.recv().await
    {
        let ack = ack_sender(&socket, &mut value, ack_id);
        let reply = handle(event, &socket, value, &state, &rt).await;
        if !reply.ok {
            if let (Some(w), Some(e)) = (socket.extensions.get::<Warned>(), &reply.error) {
                if ack_id.is_none() {
                    w.warn(&socket, e);
                }
            }
        }
        if let Some(ack) = ack {
            let _ = ack.send(&reply);
        }
    }
}

/// The acknowledgement callback of an event, if the client asked for one.
fn ack_sender(
    socket: &Arc<Socket<LocalAdapter>>,
    value: &mut Value,
    ack_id: Option<i64>,
) -> Option<AckSender> {
    ack_id?;
    <AckSender as FromMessageParts<LocalAdapter>>::from_message_parts(socket, value, &ack_id).ok()
}

fn parse<T: serde::de::DeserializeOwned>(
    socket: &Arc<Socket<LocalAdapter>>,
    mut value: Value,
) -> Result<T, String> {
    match TryData::<T>::from_message_parts(socket, &mut value, &None) {
        Ok(TryData(Ok(v))) => Ok(v),
        _ => Err("malformed event: see the event reference in the README".into()),
    }
}

async fn handle(
    event: Inbound,
    socket: &Arc<Socket<LocalAdapter>>,
    value: Value,
    state: &AppState,
    rt: &Realtime,
) -> Reply {
    let Some(joined) = socket.extensions.get::<Joined>() else {
        return Reply::refused(Refusal::new(codes::UNAUTHENTICATED, "disconnected"));
    };
    let result = match event {
        Inbound::JoinChat | Inbound::LeaveChat | Inbound::JoinStream | Inbound::LeaveStream => {
            match parse::<Target>(socket, value) {
                Err(e) => Err(e.into()),
                Ok(t) => rooms(event, socket, &joined, t, state, rt).await,
            }
        }
        Inbound::SendMessage => match parse::<SendMessage>(socket, value) {
            Err(e) => Err(e.into()),
            Ok(m) => send_message(socket, m, state).await,
        },
        Inbound::SendReaction => match parse::<SendReaction>(socket, value) {
            Err(e) => Err(e.into()),
            Ok(r) => send_reaction(&joined, r, state).await,
        },
        Inbound::JoinRadio | Inbound::LeaveRadio => match parse::<RadioTarget>(socket, value) {
            Err(e) => Err(e.into()),
            Ok(t) => radio_room(event == Inbound::JoinRadio, socket, t, state).await,
        },
    };
    match result {
        Ok(data) => Reply::ok(data),
        Err(e) => Reply::refused(e),
    }
}

/// A radio station, named by its creator's handle.
#[derive(Debug, Deserialize)]
struct RadioTarget {
    handle: String,
}

/// Joins or leaves a station's room; joining answers what it plays now (later changes come as
/// `now-playing`).
async fn radio_room(
    join: bool,
    socket: &Arc<Socket<LocalAdapter>>,
    t: RadioTarget,
    state: &AppState,
) -> Result<serde_json::Value, Refusal> {
    let handle = t.handle.trim().trim_start_matches('@');
    if handle.is_empty() || handle.len() > 64 {
        return Err(Refusal::new(
            codes::VALIDATION_ERROR,
            "name the station: { handle }",
        ));
    }
    let station = match state.db.user_by_handle(handle).await {
        Ok(Some(u)) => state.db.station_of(u.id).await,
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    let station = match station {
        Ok(Some(s)) => s,
        Ok(None) => return Err(Refusal::new(codes::NOT_FOUND, "no such station")),
        Err(e) => {
            tracing::error!(error = %e, "station lookup failed");
            return Err(Refusal::new(
                codes::INTERNAL_ERROR,
                "temporarily unavailable; try again",
            ));
        }
    };
    let room = Room::Radio(station.user_id).name().unwrap_or_default();
    if join {
        socket.join(room);
    } else {
        socket.leave(room);
    }
    Ok(json!({ "handle": station.handle, "now": crate::service::radio::NowPlaying::of(&station) }))
}

async fn find_source(state: &AppState, t: &Target) -> Result<SourceRecord, Refusal> {
    let found = match (&t.source_id, &t.playback_id) {
        (Some(id), _) => state.db.source_by_id(*id).await,
        (None, Some(p)) if p.len() <= 64 => state.db.source_by_playback_id(p).await,
        _ => {
            return Err(Refusal::new(
                codes::VALIDATION_ERROR,
                "name the source: { sourceId } or { playbackId }",
            ))
        }
    };
    match found {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(Refusal::new(codes::NOT_FOUND, "no such source")),
        Err(e) => {
            tracing::error!(error = %e, "source lookup failed");
            Err(Refusal::new(
                codes::INTERNAL_ERROR,
                "temporarily unavailable; try again",
            ))
        }
    }
}

async fn rooms(
    event: Inbound,
    socket: &Arc<Socket<LocalAdapter>>,
    joined: &Joined,
    t: Target,
    state: &AppState,
    rt: &Realtime,
) -> Result<serde_json::Value, Refusal> {
    let source = find_source(state, &t).await?;
    let id = source.id;
    match event {
        Inbound::JoinChat | Inbound::JoinStream => {
            let stream = event == Inbound::JoinStream;
            {
                let mut j = joined.lock();
                if j.closed {
                    return Err(Refusal::new(codes::UNAUTHENTICATED, "disconnected"));
                }
                let already = if stream {
                    j.streams.contains_key(&id)
                } else {
                    j.chats.contains(&id)
                };
                if !already && j.chats.len() + j.streams.len() >= MAX_ROOMS {
                    return Err(Refusal::new(
                        codes::RATE_LIMITED,
                        format!("at most {MAX_ROOMS} rooms per connection"),
                    ));
                }
                if already {
                    return Ok(json!({ "sourceId": id }));
                }
                if stream {
                    j.streams.insert(id, counts_as_viewer(socket, &source));
                } else {
                    j.chats.insert(id);
                }
            }
            if stream {
                socket.join(stream_room(id));
                let status = if source.is_active { "live" } else { "offline" };
                let _ = socket.emit("stream-status", &(status, json!({ "sourceId": id })));
                if counts_as_viewer(socket, &source) {
                    rt.viewer_joined(state, id, peer_key(socket));
                }
            } else {
                socket.join(chat_room(id));
            }
        }
        _ => {
            let stream = event == Inbound::LeaveStream;
            // `Some(counted)` for a stream room the socket was in.
            let was_in = {
                let mut j = joined.lock();
                if stream {
                    j.streams.remove(&id)
                } else {
                    j.chats.remove(&id).then_some(false)
                }
            };
            if let (Some(counted), true) = (was_in, stream) {
                socket.leave(stream_room(id));
                if counted {
                    rt.viewer_left(state, id, peer_key(socket));
                }
            } else if was_in.is_some() {
                socket.leave(chat_room(id));
            }
        }
    }
    Ok(json!({ "sourceId": id }))
}

async fn send_message(
    socket: &Arc<Socket<LocalAdapter>>,
    m: SendMessage,
    state: &AppState,
) -> Result<serde_json::Value, Refusal> {
    let Some(Viewer(Some(member))) = socket.extensions.get::<Viewer>() else {
        return Err(Refusal::new(codes::UNAUTHENTICATED, "log in to chat"));
    };
    if !member.can_write {
        return Err(Refusal::new(
            codes::INSUFFICIENT_SCOPE,
            "this API key lacks the chat:write scope",
        ));
    }
    still_valid(state, &member).await?;
    // A refused text costs nothing; a message that would be stored counts against the rate.
    let text = clean_text(&m.message).map_err(PostError::from)?;
    state.chat.admit(member.id)?;
    let source = find_source(state, &m.target).await?;
    let out = state
        .chat
        .post(Post::Native {
            source: &source,
            member: chat::Member {
                id: member.id,
                uuid: &member.uuid,
                name: &member.name,
                role: member.role,
            },
            text: &text,
        })
        .await?;
    Ok(json!({ "id": out.id }))
}

/// Whether the socket's login session or API key still stands (a logout, a revoked or
/// expired session or key, or a suspension ends the right to write at once, not at
/// reconnection).
async fn still_valid(state: &AppState, member: &Member) -> Result<(), Refusal> {
    let now = state.clock.now_ms();
    let valid = match &member.credential {
        Recheck::Session(sid) => state
            .db
            .user_for_session(member.id, sid, now)
            .await
            .map(|u| u.is_some()),
        Recheck::ApiKey(hash) => state
            .db
            .api_key_with_user(hash, now)
            .await
            // A suspended account's keys are refused too (its sessions were ended).
            .map(|k| k.is_some_and(|(_, u)| u.id == member.id && u.suspended_at.is_none())),
    };
    match valid {
        Ok(true) => Ok(()),
        Ok(false) => Err(Refusal::new(
            codes::UNAUTHENTICATED,
            "your session has ended; log in again and reconnect",
        )),
        Err(e) => {
            tracing::error!(error = %e, "checking a socket's session failed");
            Err(Refusal::new(
                codes::INTERNAL_ERROR,
                "temporarily unavailable; try again",
            ))
        }
    }
}

async fn send_reaction(
    joined: &Joined,
    r: SendReaction,
    state: &AppState,
) -> Result<serde_json::Value, Refusal> {
    if !REACTIONS.contains(&r.reaction.as_str()) {
        return Err(format!("reaction must be one of {}", REACTIONS.join(", ")).into());
    }
    {
        let mut j = joined.lock();
        let (count, since) = &mut j.reactions;
        if since.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            *since = Some(Instant::now());
            *count = 0;
        }
        if *count >= REACTIONS_PER_SECOND {
            return Err(Refusal::new(
                codes::RATE_LIMITED,
                "too many reactions; slow down",
            ));
        }
        *count += 1;
    }
    let source = find_source(state, &r.target).await?;
    state.fanout.publish(RealtimeEvent::Reaction {
        source_id: source.id,
        reaction: r.reaction,
    });
    Ok(json!({ "sourceId": source.id }))
}

impl Realtime {
    fn viewer_joined(&self, state: &AppState, source_id: i64, from: AddrKey) {
        self.viewers_changed(state, source_id, from, 1);
    }

    fn viewer_left(&self, state: &AppState, source_id: i64, from: AddrKey) {
        self.viewers_changed(state, source_id, from, -1);
    }

    fn viewers_changed(&self, state: &AppState, source_id: i64, from: AddrKey, delta: i64) {
        let count = {
            let mut v = self.viewers.lock().unwrap_or_else(|p| p.into_inner());
            let by_address = v.local.entry(source_id).or_default();
            let n = by_address.entry(from).or_default();
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                by_address.remove(&from);
            }
            let count = counted_viewers(by_address);
            if by_address.is_empty() {
                v.local.remove(&source_id);
            }
            count
        };
        state.fanout.publish(RealtimeEvent::Viewers {
            source_id,
            node: state.fanout.node().to_string(),
            count,
        });
    }

    /// Records a node's count and returns the total over live nodes.
    fn viewers_total(&self, source_id: i64, node: &str, count: u64) -> u64 {
        self.book.viewers_report(source_id, node, count)
    }
}

/// Whether a socket in a source's stream room counts as one of its viewers: everyone but the
/// source's owner (whose dashboard joins the room and plays the preview).
fn counts_as_viewer(socket: &Arc<Socket<LocalAdapter>>, source: &SourceRecord) -> bool {
    !matches!(
        socket.extensions.get::<Viewer>(),
        Some(Viewer(Some(member))) if member.id == source.user_id
    )
}

/// A stream's viewers on this node: each address counts at most [`VIEWERS_PER_ADDRESS`] times.
fn counted_viewers(by_address: &HashMap<AddrKey, u64>) -> u64 {
    by_address
        .values()
        .map(|n| (*n).min(VIEWERS_PER_ADDRESS))
        .sum()
}

/// Emits what the fan-out carries to this node's clients, in order.
async fn deliver(
    mut rx: broadcast::Receiver<Envelope>,
    rt: Realtime,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let env = tokio::select! {
            r = rx.recv() => match r {
                Ok(env) => env,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "realtime delivery fell behind; events were skipped");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Some((name, room)) = env.event.socket() else {
            continue;
        };
        let io = &rt.io;
        let sent = match env.event {
            RealtimeEvent::ChatMessage(m) => emit(io, room, name, &m).await,
            // Two arguments: the status, then which source.
            RealtimeEvent::StreamStatus {
                source_id, status, ..
            } => emit(io, room, name, &(status, json!({ "sourceId": source_id }))).await,
            RealtimeEvent::StreamEnded {
                source_id,
                duration_minutes,
                reason,
                ..
            } => {
                let data = json!({ "sourceId": source_id, "duration_minutes": duration_minutes, "reason": reason });
                emit(io, room, name, &data).await
            }
            RealtimeEvent::MessageDeleted { source_id, id } => {
                emit(io, room, name, &json!({ "sourceId": source_id, "id": id })).await
            }
            RealtimeEvent::UserBanned {
                source_id,
                user_id,
                until,
            } => {
                let data = json!({ "sourceId": source_id, "userId": user_id, "until": until });
                emit(io, room, name, &data).await
            }
            RealtimeEvent::Reaction {
                source_id,
                reaction,
            } => {
                let data = json!({ "sourceId": source_id, "reaction": reaction });
                emit(io, room, name, &data).await
            }
            RealtimeEvent::ConnectorStatus {
                source_id,
                connector_id,
                state,
            } => {
                let data =
                    json!({ "sourceId": source_id, "connectorId": connector_id, "state": state });
                emit(io, room, name, &data).await
            }
            RealtimeEvent::DestinationStatus {
                source_id,
                destination_id,
                state,
                error,
                ..
            } => {
                let data = json!({ "sourceId": source_id, "destinationId": destination_id, "state": state, "error": error });
                emit(io, room, name, &data).await
            }
            RealtimeEvent::UsageWarning {
                source_id,
                used_minutes,
                limit_minutes,
                ..
            } => {
                let data = json!({ "sourceId": source_id, "used_minutes": used_minutes, "limit_minutes": limit_minutes });
                emit(io, room, name, &data).await
            }
            RealtimeEvent::Viewers {
                source_id,
                node: from,
                count,
            } => {
                let total = rt.viewers_total(source_id, &from, count);
                emit(
                    io,
                    room,
                    name,
                    &json!({ "sourceId": source_id, "count": total }),
                )
                .await
            }
            RealtimeEvent::StreamStats { sample, .. } => {
                rt.book.record(sample.clone());
                emit(io, room, name, &sample).await
            }
            RealtimeEvent::VideoProgress { progress, .. } => emit(io, room, name, &progress).await,
            RealtimeEvent::Notification { notification, .. } => {
                emit(io, room, name, &notification).await
            }
            // The metadata with the source it belongs to, as the other stream-room events.
            RealtimeEvent::StreamInfo { source_id, info } => {
                let mut data = serde_json::to_value(&info).unwrap_or_default();
                if let Some(o) = data.as_object_mut() {
                    o.insert("sourceId".into(), json!(source_id));
                }
                emit(io, room, name, &data).await
            }
            RealtimeEvent::TipAlert { alert, .. } => emit(io, room, name, &alert).await,
            RealtimeEvent::NowPlaying { now, .. } => emit(io, room, name, &now).await,
            RealtimeEvent::GoalProgress { goal, .. } => emit(io, room, name, &goal).await,
            // Between nodes only: `socket()` answered `None` above.
            RealtimeEvent::OverlayRotated { .. }
            | RealtimeEvent::ConnectorChanged { .. }
            | RealtimeEvent::ConnectorSend { .. }
            | RealtimeEvent::DestinationRetry { .. }
            | RealtimeEvent::SiteChanged => continue,
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "realtime emit failed");
        }
    }
}

/// Emits `name` with `data` to `room` on this node's sockets.
async fn emit<T: Serialize + ?Sized>(
    io: &SocketIo,
    room: Room,
    name: &'static str,
    data: &T,
) -> Result<(), socketioxide::BroadcastError> {
    match room.name() {
        Some(room) => io.to(room).emit(name, data).await,
        None => io.emit(name, data).await,
    }
}

/// Repeats this node's viewer counts, so totals survive lost messages and forget dead nodes.
async fn repeat_viewer_counts(state: AppState, rt: Realtime, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(VIEWERS_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let counts: Vec<(i64, u64)> = {
            let v = rt.viewers.lock().unwrap_or_else(|p| p.into_inner());
            v.local
                .iter()
                .map(|(k, n)| (*k, counted_viewers(n)))
                .collect()
        };
        for (source_id, count) in counts {
            state.fanout.publish(RealtimeEvent::Viewers {
                source_id,
                node: state.fanout.node().to_string(),
                count,
            });
        }
    }
}
