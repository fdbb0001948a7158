//! Chat connectors against local stand-ins for Twitch and YouTube that speak the platforms'
//! documented protocols: Twitch's token validation, Helix users / EventSub subscriptions / chat
//! messages and the EventSub WebSocket session (welcome, notifications, keepalive,
//! `session_reconnect`); YouTube's `liveBroadcasts.list`, `liveChatMessages.streamList` as a
//! streamed JSON array, `liveChatMessages.list`, `liveChatMessages.insert`, error bodies, and
//! Google's OAuth token endpoint. The merged feed is read with the stock `socket.io-client`.

use crate::support;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{client, creator_with_source, socketio_scenario, Backend, Options, TestApp};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Message;

const TWITCH_TOKEN: &str = "tok_twitch";
const CLIENT_ID: &str = "fakeclient";
const BROADCASTER: &str = "2002";
const SENDER: &str = "1001";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().expect("lock")
}

/// Polls `f` every 20 ms until it holds or `secs` pass.
async fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

// ---------------------------------------------------------------- Twitch

#[derive(Default)]
struct TwitchLog {
    /// Session ids of `POST /eventsub/subscriptions`.
    subscriptions: Vec<String>,
    /// Bodies of `POST /chat/messages`.
    sent: Vec<Value>,
    /// When each EventSub connection opened.
    connections: Vec<Instant>,
    /// When the first connection was cut.
    cut_at: Option<Instant>,
}

pub(crate) struct Twitch {
    /// Whether connections follow the script of [`twitch_eventsub`] (else each is a plain,
    /// kept-alive session).
    scripted: bool,
    log: Mutex<TwitchLog>,
    /// The creator's message arrived: the channel starts talking.
    go: Notify,
    ws_url: Mutex<String>,
}

fn authorised(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TWITCH_TOKEN}"))
        && h.get("client-id").and_then(|v| v.to_str().ok()) == Some(CLIENT_ID)
}

fn helix_unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"})),
    )
        .into_response()
}

async fn twitch_validate(h: HeaderMap) -> Response {
    if h.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("OAuth {TWITCH_TOKEN}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": 401, "message": "invalid access token"})),
        )
            .into_response();
    }
    Json(json!({"client_id": CLIENT_ID, "login": "creator", "scopes": ["user:read:chat", "user:write:chat"], "user_id": SENDER, "expires_in": 5_520_838})).into_response()
}

async fn twitch_users(h: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if !authorised(&h) {
        return helix_unauthorized();
    }
    let data = match q.get("login").map(String::as_str) {
        Some("chan") => {
            json!([{"id": BROADCASTER, "login": "chan", "display_name": "Chan", "type": "", "broadcaster_type": "partner", "description": "", "profile_image_url": "", "offline_image_url": "", "created_at": "2016-12-14T20:32:28Z"}])
        }
        _ => json!([]),
    };
    Json(json!({ "data": data })).into_response()
}

async fn twitch_subscribe(
    State(t): State<Arc<Twitch>>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&h) {
        return helix_unauthorized();
    }
    assert_eq!(body["type"], "channel.chat.message", "{body}");
    assert_eq!(body["version"], "1");
    assert_eq!(body["condition"]["broadcaster_user_id"], BROADCASTER);
    assert_eq!(body["condition"]["user_id"], SENDER);
    assert_eq!(body["transport"]["method"], "websocket");
    let session = body["transport"]["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    lock(&t.log).subscriptions.push(session.clone());
    (
        StatusCode::ACCEPTED,
        Json(json!({"data": [{"id": format!("sub-{session}"), "status": "enabled", "type": "channel.chat.message", "version": "1", "condition": body["condition"], "created_at": "2026-11-29T06:00:00Z", "transport": body["transport"], "cost": 0}], "total": 1, "total_cost": 0, "max_total_cost": 10})),
    )
        .into_response()
}

async fn twitch_send(
    State(t): State<Arc<Twitch>>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&h) {
        return helix_unauthorized();
    }
    let n = {
        let mut log = lock(&t.log);
        log.sent.push(body);
        log.sent.len()
    };
    t.go.notify_one();
    Json(json!({"data": [{"message_id": format!("tw-sent-{n}"), "is_sent": true, "drop_reason": null}]})).into_response()
}

fn eventsub(kind: &str, id: &str, payload: Value, subscription_type: Option<&str>) -> Message {
    let mut metadata = json!({"message_id": id, "message_type": kind, "message_timestamp": "2026-11-29T06:00:00.000Z"});
    if let Some(t) = subscription_type {
        metadata["subscription_type"] = json!(t);
        metadata["subscription_version"] = json!("1");
    }
    Message::text(json!({ "metadata": metadata, "payload": payload }).to_string())
}

fn welcome(session: &str, keepalive: u64) -> Message {
    eventsub(
        "session_welcome",
        &format!("w-{session}"),
        json!({"session": {"id": session, "status": "connected", "connected_at": "2026-11-29T06:00:00Z", "keepalive_timeout_seconds": keepalive, "reconnect_url": null}}),
        None,
    )
}

fn chat(delivery: &str, chat_id: &str, text: &str) -> Message {
    eventsub(
        "notification",
        delivery,
        json!({
            "subscription": {"id": "sub", "status": "enabled", "type": "channel.chat.message", "version": "1", "condition": {"broadcaster_user_id": BROADCASTER, "user_id": SENDER}, "transport": {"method": "websocket", "session_id": "s"}, "created_at": "2026-11-29T06:00:00Z", "cost": 0},
            "event": {"broadcaster_user_id": BROADCASTER, "broadcaster_user_login": "chan", "broadcaster_user_name": "Chan", "chatter_user_id": "3003", "chatter_user_login": "viewer", "chatter_user_name": "Viewer", "message_id": chat_id, "message": {"text": text, "fragments": [{"type": "text", "text": text, "cheermote": null, "emote": null, "mention": null}]}, "color": "#00FF7F", "badges": [{"set_id": "subscriber", "id": "12", "info": "16"}], "message_type": "text", "cheer": null, "reply": null, "channel_points_custom_reward_id": null}
        }),
        Some("channel.chat.message"),
    )
}

async fn subscribed(t: &Twitch, session: &str) -> bool {
    eventually(10, || {
        lock(&t.log).subscriptions.iter().any(|s| s == session)
    })
    .await
}

/// The EventSub WebSocket, scripted per connection:
/// 1. welcome; after the subscription and the creator's message: the echo of that message
///    (as Twitch delivers a sent message), t1–t10; then the TCP connection dies, no close frame.
/// 2. welcome; t9 again (same delivery), t10 again (new delivery, same message), t11–t15; then
///    `session_reconnect` to a new URL, closing once the client has moved.
/// 3. (the moved session: no new subscription expected) t16–t20, then silence past the
///    2 s keepalive timeout.
/// 4. and later: welcome and keepalives (as every connection when not scripted).
async fn twitch_eventsub(listener: TcpListener, t: Arc<Twitch>) {
    let mut n = 0;
    while let Ok((tcp, _)) = listener.accept().await {
        n += 1;
        let t = t.clone();
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            lock(&t.log).connections.push(Instant::now());
            let session = format!("sess-{n}");
            match if t.scripted { n } else { 0 } {
                1 => {
                    let _ = ws.send(welcome(&session, 10)).await;
                    assert!(
                        subscribed(&t, &session).await,
                        "subscribed within 10 s of the welcome"
                    );
                    t.go.notified().await;
                    let _ = ws.send(chat("d-echo", "tw-sent-1", "ready")).await;
                    for i in 1..=10 {
                        let _ = ws
                            .send(chat(&format!("d{i}"), &format!("tc{i}"), &format!("t{i}")))
                            .await;
                    }
                    let _ = ws.flush().await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    lock(&t.log).cut_at = Some(Instant::now());
                    drop(ws);
                }
                2 => {
                    let _ = ws.send(welcome(&session, 10)).await;
                    assert!(subscribed(&t, &session).await);
                    let _ = ws.send(chat("d9", "tc9", "t9")).await;
                    let _ = ws.send(chat("d10-again", "tc10", "t10")).await;
                    for i in 11..=15 {
                        let _ = ws
                            .send(chat(&format!("d{i}"), &format!("tc{i}"), &format!("t{i}")))
                            .await;
                    }
                    let url = format!("{}?moved=1", lock(&t.ws_url));
                    let _ = ws
                        .send(eventsub(
                            "session_reconnect",
                            "r-1",
                            json!({"session": {"id": session, "status": "reconnecting", "keepalive_timeout_seconds": null, "reconnect_url": url, "connected_at": "2026-11-29T06:00:00Z"}}),
                            None,
                        ))
                        .await;
                    eventually(10, || lock(&t.log).connections.len() >= 3).await;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let _ = ws.close(None).await;
                }
                3 => {
                    let _ = ws.send(welcome(&session, 2)).await;
                    for i in 16..=20 {
                        let _ = ws
                            .send(chat(&format!("d{i}"), &format!("tc{i}"), &format!("t{i}")))
                            .await;
                    }
                    // Silence: the client must give up on this connection by itself.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                _ => {
                    let _ = ws.send(welcome(&session, 10)).await;
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        if ws
                            .send(eventsub("session_keepalive", "k", json!({}), None))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
    }
}

async fn start_twitch(scripted: bool) -> (Arc<Twitch>, SocketAddr, String) {
    let t = Arc::new(Twitch {
        scripted,
        log: Mutex::default(),
        go: Notify::new(),
        ws_url: Mutex::default(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ws_url = format!("ws://{}/ws", listener.local_addr().expect("addr"));
    *lock(&t.ws_url) = ws_url.clone();
    tokio::spawn(twitch_eventsub(listener, t.clone()));
    let http = Router::new()
        .route("/oauth2/validate", get(twitch_validate))
        .route("/helix/users", get(twitch_users))
        .route("/helix/eventsub/subscriptions", post(twitch_subscribe))
        .route("/helix/chat/messages", post(twitch_send))
        .with_state(t.clone());
    (t, serve(http).await, ws_url)
}

// ---------------------------------------------------------------- YouTube

#[derive(Default)]
struct YoutubeLog {
    /// `pageToken` and bearer token of each `streamList` request.
    streams: Vec<(Option<String>, String, Instant)>,
    /// `pageToken` of each `list` request, and when.
    lists: Vec<(Option<String>, Instant)>,
    /// Form bodies sent to the token endpoint.
    refreshes: Vec<HashMap<String, String>>,
    /// Bodies of `liveChatMessages.insert`.
    inserts: Vec<Value>,
    /// When the first stream was cut.
    cut_at: Option<Instant>,
    /// Streams answered (the token was good).
    accepted: usize,
}

pub(crate) struct Youtube {
    log: Mutex<YoutubeLog>,
    go: Notify,
    /// The access token accepted now (it "expires" when the first stream is cut).
    token: Mutex<String>,
    /// Whether `streamList` is offered (else 404, and the client must poll).
    streaming: bool,
}

fn yt_error(status: StatusCode, reason: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": status.as_u16(), "message": message, "errors": [{"message": message, "domain": "youtube.api", "reason": reason}]}})),
    )
        .into_response()
}

fn bearer(h: &HeaderMap) -> String {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

fn yt_item(id: &str, text: &str) -> Value {
    json!({"kind": "youtube#liveChatMessage", "etag": "e", "id": id, "snippet": {"type": "textMessageEvent", "liveChatId": "chat-1", "authorChannelId": "UCviewer", "publishedAt": "2026-11-29T06:00:00.000Z", "hasDisplayContent": true, "displayMessage": text, "textMessageDetails": {"messageText": text}}, "authorDetails": {"channelId": "UCviewer", "channelUrl": "http://www.youtube.com/channel/UCviewer", "displayName": "YT Viewer", "profileImageUrl": "https://yt3.ggpht.com/x", "isVerified": false, "isChatOwner": false, "isChatSponsor": true, "isChatModerator": false}})
}

fn yt_page(items: Vec<Value>, next: &str, interval: u64) -> Value {
    json!({"kind": "youtube#liveChatMessageListResponse", "etag": "e", "nextPageToken": next, "pollingIntervalMillis": interval, "pageInfo": {"totalResults": items.len(), "resultsPerPage": items.len()}, "items": items})
}

fn yt_items(range: std::ops::RangeInclusive<u32>) -> Vec<Value> {
    range
        .map(|i| yt_item(&format!("yc{i}"), &format!("y{i}")))
        .collect()
}

async fn yt_broadcasts(
    State(y): State<Arc<Youtube>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if bearer(&h) != *lock(&y.token) {
        return yt_error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    assert_eq!(q.get("broadcastStatus").map(String::as_str), Some("active"));
    Json(json!({"kind": "youtube#liveBroadcastListResponse", "items": [{"kind": "youtube#liveBroadcast", "id": "b1", "snippet": {"title": "Live now", "liveChatId": "chat-1"}}]})).into_response()
}

async fn yt_token(State(y): State<Arc<Youtube>>, h: HeaderMap, body: String) -> Response {
    assert_eq!(
        h.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/x-www-form-urlencoded")
    );
    let f = support::form_decode(&body);
    lock(&y.log).refreshes.push(f.clone());
    let ok = f.get("grant_type").map(String::as_str) == Some("refresh_token")
        && f.get("refresh_token").map(String::as_str) == Some("yt-refresh")
        && f.get("client_id").map(String::as_str) == Some("cid")
        && f.get("client_secret").map(String::as_str) == Some("csecret");
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "Bad Request"})),
        )
            .into_response();
    }
    Json(json!({"access_token": "yt-new", "expires_in": 3599, "scope": "https://www.googleapis.com/auth/youtube", "token_type": "Bearer"})).into_response()
}

async fn yt_insert(
    State(y): State<Arc<Youtube>>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if bearer(&h) != *lock(&y.token) {
        return yt_error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    let n = {
        let mut log = lock(&y.log);
        log.inserts.push(body.clone());
        log.inserts.len()
    };
    y.go.notify_one();
    Json(json!({"kind": "youtube#liveChatMessage", "id": format!("yt-sent-{n}"), "snippet": body["snippet"]})).into_response()
}

/// `liveChatMessages.list` for the polling test: two pages, then the quota runs out.
async fn yt_list(
    State(y): State<Arc<Youtube>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if bearer(&h) != *lock(&y.token) {
        return yt_error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    let token = q.get("pageToken").cloned();
    lock(&y.log).lists.push((token.clone(), Instant::now()));
    match token.as_deref() {
        None => Json(yt_page(yt_items(1..=2), "a", 1000)).into_response(),
        Some("a") => Json(yt_page(yt_items(3..=3), "b", 1000)).into_response(),
        _ => yt_error(
            StatusCode::FORBIDDEN,
            "quotaExceeded",
            "The request cannot be completed because you have exceeded your quota.",
        ),
    }
}

/// `liveChatMessages.streamList`, scripted per accepted connection:
/// 1. an empty page; after the creator's message: its echo, y1–y10 two per page; then the
///    access token expires and the connection is cut mid-stream.
/// 2. (resumed from the last page token, with the refreshed token) y9–y10 again, y11–y20; open.
async fn yt_stream(
    State(yt): State<Arc<Youtube>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !yt.streaming {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let auth = bearer(&h);
    let page_token = q.get("pageToken").cloned();
    lock(&yt.log)
        .streams
        .push((page_token, auth.clone(), Instant::now()));
    if auth != *lock(&yt.token) {
        return yt_error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    let n = {
        let mut log = lock(&yt.log);
        log.accepted += 1;
        log.accepted
    };
    assert_eq!(q.get("liveChatId").map(String::as_str), Some("chat-1"));
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let yt2 = yt.clone();
    tokio::spawn(async move {
        let mut first = true;
        let mut page = |v: Value| {
            let text = if first {
                format!("[{v}")
            } else {
                format!("\r\n,{v}")
            };
            first = false;
            Ok(Bytes::from(text))
        };
        if n == 1 {
            let _ = tx.send(page(yt_page(vec![], "p0", 0))).await;
            yt2.go.notified().await;
            let _ = tx
                .send(page(yt_page(vec![yt_item("yt-sent-1", "ready")], "p0e", 0)))
                .await;
            for i in (1..=10).step_by(2) {
                let _ = tx
                    .send(page(yt_page(
                        yt_items(i..=i + 1),
                        &format!("p{}", i + 1),
                        0,
                    )))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            *lock(&yt2.token) = "yt-new".into();
            lock(&yt2.log).cut_at = Some(Instant::now());
            let _ = tx.send(Err(std::io::Error::other("cut"))).await;
        } else {
            let _ = tx.send(page(yt_page(yt_items(9..=10), "p10", 0))).await;
            for i in (11..=20).step_by(2) {
                let _ = tx
                    .send(page(yt_page(
                        yt_items(i..=i + 1),
                        &format!("p{}", i + 1),
                        0,
                    )))
                    .await;
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Response::builder()
        .header("content-type", "application/json; charset=UTF-8")
        .body(Body::from_stream(body))
        .expect("response")
}

async fn start_youtube(streaming: bool) -> (Arc<Youtube>, SocketAddr) {
    let y = Arc::new(Youtube {
        log: Mutex::default(),
        go: Notify::new(),
        token: Mutex::new("yt-old".into()),
        streaming,
    });
    let http = Router::new()
        .route("/youtube/v3/liveBroadcasts", get(yt_broadcasts))
        .route(
            "/youtube/v3/liveChat/messages",
            get(yt_list).post(yt_insert),
        )
        .route("/youtube/v3/liveChat/messages/stream", get(yt_stream))
        .route("/token", post(yt_token))
        .with_state(y.clone());
    (y.clone(), serve(http).await)
}

fn platform_options(twitch: SocketAddr, ws_url: &str, youtube: SocketAddr) -> Options {
    let mut opts = Options::default();
    opts.extra.extend([
        ("twitch_api_url", format!("http://{twitch}/helix")),
        ("twitch_auth_url", format!("http://{twitch}/oauth2")),
        ("twitch_eventsub_url", ws_url.to_string()),
        ("youtube_api_url", format!("http://{youtube}/youtube/v3")),
        ("google_token_url", format!("http://{youtube}/token")),
        ("youtube_client_id", "cid".into()),
        ("youtube_client_secret", "csecret".into()),
    ]);
    opts
}

async fn connectors(app: &TestApp, token: &str, source_id: i64) -> Vec<Value> {
    let v: Value = client()
        .get(app.url(&format!("/api/chat/connectors/{source_id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    v["connectors"].as_array().cloned().unwrap_or_default()
}

/// Waits until the source's connector for `platform` reaches `state`; returns it.
async fn connector_in(
    app: &TestApp,
    token: &str,
    source_id: i64,
    platform: &str,
    state: &str,
) -> Value {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let list = connectors(app, token, source_id).await;
        if let Some(c) = list
            .iter()
            .find(|c| c["platform"] == platform && c["state"] == state)
        {
            return c.clone();
        }
        assert!(
            Instant::now() < end,
            "{platform} connector never reached {state}: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post_json(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn texts(messages: &[Value], platform: &str) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["platform"] == platform)
        .map(|m| m["message_text"].as_str().expect("text").to_string())
        .collect()
}

fn numbered(prefix: &str, n: u32) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

async fn twitch_and_youtube_merge_into_one_feed_through_drops_and_reconnects(b: Backend) {
    let (twitch, twitch_addr, ws_url) = start_twitch(true).await;
    let (youtube, youtube_addr) = start_youtube(true).await;
    let Some(app) =
        TestApp::start_with(b, platform_options(twitch_addr, &ws_url, youtube_addr)).await
    else {
        return;
    };
    let src = creator_with_source(&app, "host@example.com").await;
    let (status, tw) = post_json(&app, &src.token, "/api/chat/twitch/connect", json!({"source_id": src.id, "channel": "chan", "oauth_token": format!("oauth:{TWITCH_TOKEN}")})).await;
    assert_eq!(status, 201, "{tw}");
    assert_eq!(tw["platform"], "twitch");
    assert!(
        !tw.to_string().contains(TWITCH_TOKEN),
        "tokens are never shown: {tw}"
    );
    let (status, yt) = post_json(&app, &src.token, "/api/chat/youtube/connect", json!({"source_id": src.id, "channel_id": "UCcreator", "oauth_token": "yt-old", "refresh_token": "yt-refresh"})).await;
    assert_eq!(status, 201, "{yt}");
    connector_in(&app, &src.token, src.id, "twitch", "connected").await;
    connector_in(&app, &src.token, src.id, "youtube", "connected").await;

    // Tokens are sealed at rest.
    let db = ferrocast_db::Db::connect(&app.database_url)
        .await
        .expect("db");
    for c in db.chat_connectors_for_source(src.id).await.expect("rows") {
        assert!(
            // Whole tokens: a short prefix such as `yt-` can occur in base64url by chance.
            !c.secrets_sealed.contains("tok_twitch")
                && !c.secrets_sealed.contains("yt-old")
                && !c.secrets_sealed.contains("yt-refresh"),
            "sealed: {}",
            c.secrets_sealed
        );
    }

    let out = socketio_scenario(
        "feed",
        json!({"url": app.url(""), "token": src.token, "sourceId": src.id, "platforms": ["twitch", "youtube"], "perPlatform": 20}),
    )
    .await;
    assert_eq!(out["ready"]["ok"], true, "{out}");
    assert_eq!(out["complete"], true, "both platforms delivered: {out}");
    let messages = out["messages"].as_array().expect("messages").clone();
    // Merged, in order per platform, nothing twice (redeliveries and resumed pages included),
    // and the creator's own message once, not again as each platform's echo.
    assert_eq!(texts(&messages, "twitch"), numbered("t", 20), "{out}");
    assert_eq!(texts(&messages, "youtube"), numbered("y", 20), "{out}");
    assert_eq!(texts(&messages, "native"), ["ready"], "{out}");
    let first = messages
        .iter()
        .find(|m| m["platform"] == "twitch")
        .expect("twitch");
    assert_eq!(first["author_name"], "Viewer");
    assert_eq!(first["metadata"]["badges"], json!(["subscriber"]));
    let first = messages
        .iter()
        .find(|m| m["platform"] == "youtube")
        .expect("youtube");
    assert_eq!(first["author_name"], "YT Viewer");
    assert_eq!(first["metadata"]["badges"], json!(["member"]));

    // Persisted: the history has the same feed.
    let history: Value = client()
        .get(app.url(&format!("/api/chat/messages/{}?limit=200", src.id)))
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    let stored = history["messages"].as_array().expect("messages");
    assert_eq!(stored.len(), 41, "{history}");
    assert_eq!(texts(stored, "twitch"), numbered("t", 20));
    assert_eq!(texts(stored, "youtube"), numbered("y", 20));

    // The creator's message went to both platforms, as each documents.
    {
        let log = lock(&twitch.log);
        assert_eq!(
            log.sent,
            [json!({"broadcaster_id": BROADCASTER, "sender_id": SENDER, "message": "ready"})]
        );
    }
    {
        let log = lock(&youtube.log);
        assert_eq!(log.inserts.len(), 1);
        assert_eq!(log.inserts[0]["snippet"]["liveChatId"], "chat-1");
        assert_eq!(log.inserts[0]["snippet"]["type"], "textMessageEvent");
        assert_eq!(
            log.inserts[0]["snippet"]["textMessageDetails"]["messageText"],
            "ready"
        );
    }

    // Twitch: the cut connection was replaced after a backoff, subscribed again; the moved
    // session (session_reconnect) was not; the silent one was abandoned after its keepalive
    // timeout and replaced by a fresh, subscribed session.
    assert!(eventually(20, || lock(&twitch.log).subscriptions.len() >= 3).await);
    {
        let log = lock(&twitch.log);
        assert_eq!(log.subscriptions, ["sess-1", "sess-2", "sess-4"]);
        let cut = log.cut_at.expect("cut");
        let again = log.connections[1].duration_since(cut);
        assert!(
            again >= Duration::from_millis(350),
            "reconnected after a backoff, not at once: {again:?}"
        );
        let silent = log.connections[3].duration_since(log.connections[2]);
        assert!(
            silent >= Duration::from_secs(2),
            "waited out the keepalive timeout: {silent:?}"
        );
    }
    // YouTube: the refused token was refreshed with the refresh token and the node's OAuth
    // client, and the stream resumed from the last page token it had read, after a backoff.
    {
        let log = lock(&youtube.log);
        assert_eq!(log.refreshes.len(), 1, "{:?}", log.refreshes);
        let accepted: Vec<_> = log
            .streams
            .iter()
            .filter(|(_, a, _)| a == "yt-new")
            .collect();
        assert_eq!(accepted.len(), 1);
        assert_eq!(
            accepted[0].0.as_deref(),
            Some("p10"),
            "resumed where it left off"
        );
        assert_eq!(log.streams[0].0, None);
        let again = log.streams[1].2.duration_since(log.cut_at.expect("cut"));
        assert!(
            again >= Duration::from_millis(350),
            "resumed after a backoff: {again:?}"
        );
    }
    let states: Vec<Value> = connectors(&app, &src.token, src.id).await;
    assert!(
        states
            .iter()
            .all(|c| c["state"] == "connected" && c["last_error"].is_null()),
        "{states:?}"
    );

    // Removing a connector stops it; its messages stay.
    let id = tw["id"].as_i64().expect("id");
    let r = client()
        .delete(app.url(&format!("/api/chat/connectors/{id}")))
        .bearer_auth(&src.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 200);
    assert_eq!(connectors(&app, &src.token, src.id).await.len(), 1);
    let state = app.running.as_ref().expect("running").state.clone();
    assert!(
        eventually(5, || state.connectors.count() == 1).await,
        "the Twitch connector stopped"
    );
    db.close().await;
    app.finish().await;
}

async fn polling_fallback_errors_and_access_rules(b: Backend) {
    let (twitch, twitch_addr, ws_url) = start_twitch(true).await;
    let (youtube, youtube_addr) = start_youtube(false).await;
    let Some(app) =
        TestApp::start_with(b, platform_options(twitch_addr, &ws_url, youtube_addr)).await
    else {
        return;
    };
    let src = creator_with_source(&app, "host@example.com").await;
    let other = creator_with_source(&app, "other@example.com").await;

    // Input is checked, and only the owner connects a source.
    let cases = [
        (
            json!({"source_id": src.id, "channel": "", "oauth_token": "x"}),
            422,
        ),
        (
            json!({"source_id": src.id, "channel": "chan", "oauth_token": "bad token"}),
            422,
        ),
        (
            json!({"source_id": src.id, "channel": "chan", "oauth_token": "x", "extra": 1}),
            422,
        ),
        (
            json!({"source_id": other.id, "channel": "chan", "oauth_token": "x"}),
            404,
        ),
        (
            json!({"source_id": 999_999, "channel": "chan", "oauth_token": "x"}),
            404,
        ),
    ];
    for (body, want) in cases {
        let (status, reply) =
            post_json(&app, &src.token, "/api/chat/twitch/connect", body.clone()).await;
        assert_eq!(status, want, "{body} → {reply}");
    }
    let (status, reply) = post_json(
        &app,
        &src.token,
        "/api/chat/connectors",
        json!({"source_id": src.id, "platform": "kick", "config": {"oauth_token": "x"}}),
    )
    .await;
    assert_eq!(status, 422, "{reply}");
    let r = client()
        .get(app.url(&format!("/api/chat/connectors/{}", src.id)))
        .bearer_auth(&other.token)
        .send()
        .await
        .expect("list");
    assert_eq!(
        r.status(),
        404,
        "another creator's connectors are not found"
    );

    // A token Twitch refuses: the connector fails, says why, and stops.
    let (status, _) = post_json(&app, &src.token, "/api/chat/connectors", json!({"source_id": src.id, "platform": "twitch", "config": {"channel": "chan", "oauth_token": "revoked", "bot_username": "old-field"}})).await;
    assert_eq!(status, 201);
    let failed = connector_in(&app, &src.token, src.id, "twitch", "failed").await;
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid or expired")),
        "{failed}"
    );
    assert_eq!(failed["is_active"], false);
    assert!(
        lock(&twitch.log).connections.is_empty(),
        "no EventSub session without a valid token"
    );

    // YouTube without streamList: polling, at the pace each page asks, from each page's token;
    // then the quota runs out and the creator is told.
    let (status, _) = post_json(
        &app,
        &src.token,
        "/api/chat/youtube/connect",
        json!({"source_id": src.id, "oauth_token": "yt-old", "live_chat_id": "chat-1"}),
    )
    .await;
    assert_eq!(status, 201);
    let waiting = connector_in(&app, &src.token, src.id, "youtube", "retrying").await;
    assert!(
        waiting["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("quota")),
        "{waiting}"
    );
    {
        let log = lock(&youtube.log);
        let tokens: Vec<_> = log.lists.iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(tokens, [None, Some("a".into()), Some("b".into())]);
        for w in log.lists.windows(2) {
            let gap = w[1].1.duration_since(w[0].1);
            assert!(
                gap >= Duration::from_millis(950),
                "pollingIntervalMillis honoured: {gap:?}"
            );
        }
    }
    let history: Value = client()
        .get(app.url(&format!("/api/chat/messages/{}", src.id)))
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    assert_eq!(
        texts(history["messages"].as_array().expect("messages"), "youtube"),
        numbered("y", 3)
    );
    app.finish().await;
}

/// Redis for the nodes' events, or `None` (the test is skipped) when it is unreachable outside
/// CI; under `CI=true` it is required.
pub(crate) fn redis_url() -> Option<String> {
    let url = std::env::var("FERROCAST_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let hostport = url
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    if std::net::TcpStream::connect(&hostport).is_ok() {
        return Some(url);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "Redis at {url} is required under CI=true but unreachable"
    );
    eprintln!("SKIPPED: Redis at {url} is unreachable; set FERROCAST_TEST_REDIS_URL");
    None
}

/// Two nodes sharing a database and Redis: one of them runs the connector (one EventSub
/// session), the creator's message sent through either reaches Twitch once, and when the
/// running node stops the other takes over.
async fn one_node_runs_a_connector_and_the_other_takes_over(b: Backend) {
    let Some(redis) = redis_url() else { return };
    let (twitch, twitch_addr, ws_url) = start_twitch(false).await;
    let (_, youtube_addr) = start_youtube(true).await;
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut opts = platform_options(twitch_addr, &ws_url, youtube_addr);
    opts.extra
        .extend([("redis_url", redis.clone()), ("secret_key", key.clone())]);
    let Some(mut first) = TestApp::start_with(b, opts).await else {
        return;
    };
    // One deployment, one public URL (it is the access tokens' issuer).
    let mut opts = platform_options(twitch_addr, &ws_url, youtube_addr);
    opts.extra.extend([
        ("redis_url", redis),
        ("secret_key", key),
        ("database_url", first.database_url.clone()),
        ("public_url", first.base.clone()),
    ]);
    let mut second = TestApp::start_with(b, opts).await.expect("second node");
    let src = creator_with_source(&first, "host@example.com").await;
    let (status, _) = post_json(
        &first,
        &src.token,
        "/api/chat/twitch/connect",
        json!({"source_id": src.id, "channel": "chan", "oauth_token": TWITCH_TOKEN}),
    )
    .await;
    assert_eq!(status, 201);
    connector_in(&first, &src.token, src.id, "twitch", "connected").await;
    let running_here = |t: &TestApp| t.running.as_ref().map_or(0, |r| r.state.connectors.count());
    // Both nodes' runners looked; give the one without the lease time to have tried.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (a, b_count) = (running_here(&first), running_here(&second));
    assert_eq!(a + b_count, 1, "one node runs it: {a} + {b_count}");
    assert_eq!(
        lock(&twitch.log).subscriptions.len(),
        1,
        "one EventSub session"
    );

    // The creator speaks through the second node: the message reaches Twitch once, from
    // whichever node runs the connector.
    let out = socketio_scenario(
        "feed",
        json!({"url": second.url(""), "token": src.token, "sourceId": src.id, "platforms": [], "perPlatform": 0}),
    )
    .await;
    assert_eq!(out["ready"]["ok"], true, "{out}");
    assert!(eventually(10, || !lock(&twitch.log).sent.is_empty()).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(lock(&twitch.log).sent.len(), 1, "sent once");

    // The running node stops (its lease is released); the other takes over.
    let (runner, other) = if a == 1 {
        (&mut first, &second)
    } else {
        (&mut second, &first)
    };
    runner
        .running
        .take()
        .expect("running")
        .stop()
        .await
        .expect("stop");
    assert!(
        eventually(15, || lock(&twitch.log).subscriptions.len() == 2).await,
        "the other node subscribed"
    );
    let other_state = other.running.as_ref().expect("running").state.clone();
    assert!(eventually(5, || other_state.connectors.count() == 1).await);
    connector_in(other, &src.token, src.id, "twitch", "connected").await;
    second.finish().await;
    first.finish().await;
}

/// The lease in the database: one holder at a time, a newer generation (the creator connected
/// again) shuts out runners of the older one, whose state and token writes change nothing.
async fn leases_holders_and_generations(b: Backend) {
    use ferrocast_db::connectors::{Lease, NewConnector};
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "lease@example.com").await;
    let db = ferrocast_db::Db::connect(&app.database_url)
        .await
        .expect("db");
    let owner = db
        .source_by_id(src.id)
        .await
        .expect("q")
        .expect("source")
        .user_id;
    let new = NewConnector {
        source_id: src.id,
        user_id: owner,
        platform: "twitch",
        config: "{}",
        secrets_sealed: "x",
    };
    let first = db
        .upsert_chat_connector(&new, "u-1", 1)
        .await
        .expect("upsert");
    let (id, g1) = (first.id, first.generation);
    let lease = |holder: &'static str, generation: i64, now: i64| {
        let db = db.clone();
        async move {
            db.lease_chat_connector(id, generation, holder, now, now + 30_000)
                .await
                .expect("lease")
        }
    };
    assert_eq!(lease("a", g1, 1_000).await, Lease::Held);
    assert_eq!(
        lease("b", g1, 2_000).await,
        Lease::Busy,
        "one holder at a time"
    );
    assert_eq!(lease("a", g1, 3_000).await, Lease::Held, "renewed");
    assert_eq!(
        lease("b", g1, 40_000).await,
        Lease::Held,
        "an expired lease is taken over"
    );
    // The creator connects again: a new generation; the old runners are shut out.
    let second = db
        .upsert_chat_connector(&new, "u-2", 2)
        .await
        .expect("upsert");
    assert_eq!((second.id, second.generation), (id, g1 + 1));
    assert_eq!(lease("b", g1, 41_000).await, Lease::Gone);
    db.set_chat_connector_state(id, g1, "failed", Some("stale"), 3)
        .await
        .expect("state");
    db.set_chat_connector_secrets(id, g1, "stale-tokens", 3)
        .await
        .expect("secrets");
    let now = db.chat_connector_by_id(id).await.expect("q").expect("row");
    assert_eq!(
        (
            now.state.as_str(),
            now.is_active,
            now.secrets_sealed.as_str()
        ),
        ("connecting", true, "x"),
        "a stale runner changes nothing"
    );
    assert_eq!(lease("c", g1 + 1, 42_000).await, Lease::Held);
    db.release_chat_connector(id, "b").await.expect("release");
    assert_eq!(
        lease("d", g1 + 1, 43_000).await,
        Lease::Busy,
        "only the holder releases"
    );
    db.release_chat_connector(id, "c").await.expect("release");
    assert_eq!(lease("d", g1 + 1, 44_000).await, Lease::Held);
    db.set_chat_connector_state(id, g1 + 1, "failed", Some("revoked"), 4)
        .await
        .expect("state");
    assert_eq!(
        lease("d", g1 + 1, 45_000).await,
        Lease::Gone,
        "a failed connector stops its runners"
    );
    db.delete_chat_connector(id).await.expect("delete");
    assert_eq!(lease("d", g1 + 1, 46_000).await, Lease::Gone);
    db.close().await;
    app.finish().await;
}

/// The platform chat stand-ins of this module, behind local OpenID stand-ins whose consent
/// issues the tokens those platforms know: Google's issues YouTube's token; Twitch's issues the
/// token Helix knows, for the account (user 1001, login `chan`) whose channel it is. With the
/// node's options pointing at all of them (shared with the browser test).
pub(crate) struct ChatStandins {
    pub twitch: Arc<Twitch>,
    pub youtube: Arc<Youtube>,
    pub google: crate::support::oidc::Standin,
    pub twitch_id: crate::support::oidc::Standin,
    pub options: Options,
}

pub(crate) async fn chat_standins() -> ChatStandins {
    use crate::support::oidc::{self, Account};
    let (twitch, twitch_addr, ws_url) = start_twitch(true).await;
    let (youtube, youtube_addr) = start_youtube(true).await;
    let google = oidc::start(
        "google",
        Account {
            sub: "g-yt".into(),
            email: Some("host@example.com".into()),
            email_verified: true,
            name: "Host".into(),
            login: "host".into(),
        },
    )
    .await;
    *google.provider.access_token.lock().expect("lock") = Some("yt-old".into());
    // The YouTube stand-in moves on to `yt-new` mid-script; the connector refreshes through
    // the Google stand-in to get it.
    *google.provider.refreshed_token.lock().expect("lock") = Some("yt-new".into());
    let tw = oidc::start_with_client(
        "twitch",
        Account {
            sub: SENDER.into(),
            email: Some("chan@twitch.example".into()),
            email_verified: true,
            name: "Chan".into(),
            login: "chan".into(),
        },
        CLIENT_ID,
    )
    .await;
    *tw.provider.access_token.lock().expect("lock") = Some(TWITCH_TOKEN.into());
    let mut opts = platform_options(twitch_addr, &ws_url, youtube_addr);
    opts.extra.retain(|(k, _)| {
        !matches!(
            *k,
            "twitch_auth_url" | "google_token_url" | "youtube_client_id" | "youtube_client_secret"
        )
    });
    opts.extra.extend(google.settings());
    opts.extra.extend(tw.settings());
    ChatStandins {
        twitch,
        youtube,
        google,
        twitch_id: tw,
        options: opts,
    }
}

/// "Connect YouTube / Twitch chat" from the dashboard: the creator goes through each platform's
/// consent page (the local OpenID stand-ins, speaking to the same platform stand-ins as above),
/// the tokens are sealed into the source's connectors, which start; messages from both arrive
/// in the merged feed. Connecting again replaces the tokens; disconnecting removes it; someone
/// else's source, an unknown platform and a refused consent are refused in words.
async fn chat_connects_through_the_platforms_consent(b: Backend) {
    let ChatStandins {
        twitch,
        youtube,
        google,
        twitch_id: tw,
        options: opts,
    } = chat_standins().await;
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let src = creator_with_source(&app, "host@example.com").await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let connect = |platform: &'static str| {
        let (app, token, id) = (&app, src.token.clone(), src.id);
        async move {
            let res = client()
                .post(app.url("/api/chat/connectors/oauth"))
                .bearer_auth(&token)
                .json(&json!({"source_id": id, "platform": platform}))
                .send()
                .await
                .expect("consent");
            assert_eq!(res.status(), 200);
            // The flow's browser-binding cookie, which the callback must bring back.
            let cookie = res.headers()["set-cookie"]
                .to_str()
                .expect("cookie")
                .split(';')
                .next()
                .expect("pair")
                .to_string();
            let body: Value = res.json().await.expect("json");
            (
                body["authorize_url"].as_str().expect("url").to_string(),
                cookie,
            )
        }
    };
    let mut back_to = Vec::new();
    for (platform, standin) in [("twitch", &tw), ("youtube", &google)] {
        let (url, cookie) = connect(platform).await;
        let back = standin.approve(&url).await;
        let res = no_redirects
            .get(&back)
            .header("cookie", cookie)
            .send()
            .await
            .expect("callback");
        assert_eq!(res.status(), 302);
        back_to.push(
            res.headers()["location"]
                .to_str()
                .expect("location")
                .to_string(),
        );
    }
    assert_eq!(
        back_to,
        [
            format!("/dashboard?chat_connected=twitch&source={}", src.id),
            format!("/dashboard?chat_connected=youtube&source={}", src.id)
        ]
    );
    // The chat scopes, and for YouTube offline access (a refresh token) with consent.
    assert_eq!(
        tw.provider.log.lock().expect("log").scopes,
        ["openid user:read:chat user:write:chat"]
    );
    let glog = google.provider.log.lock().expect("log").scopes.clone();
    assert_eq!(
        glog,
        ["openid https://www.googleapis.com/auth/youtube.force-ssl"]
    );
    assert!(google
        .provider
        .log
        .lock()
        .expect("log")
        .extras
        .contains(&("access_type".into(), "offline".into())));

    let t = connector_in(&app, &src.token, src.id, "twitch", "connected").await;
    assert_eq!(t["config"]["channel"], "chan");
    connector_in(&app, &src.token, src.id, "youtube", "connected").await;
    let db = ferrocast_db::Db::connect(&app.database_url)
        .await
        .expect("db");
    // Every token the consents issued (access and refresh) is sealed, never stored as is.
    let mut issued: Vec<String> = google.provider.log.lock().expect("log").secrets.clone();
    issued.extend(tw.provider.log.lock().expect("log").secrets.iter().cloned());
    assert!(issued.iter().any(|t| t.starts_with("rt-")));
    for c in db.chat_connectors_for_source(src.id).await.expect("rows") {
        for t in &issued {
            assert!(
                !c.secrets_sealed.contains(t.as_str()) && !c.config.contains(t.as_str()),
                "sealed: {}",
                c.secrets_sealed
            );
        }
    }
    // Messages from both platforms in the one feed (the stand-ins' first ten each, before their
    // scripted drops).
    let out = socketio_scenario(
        "feed",
        json!({"url": app.url(""), "token": src.token, "sourceId": src.id, "platforms": ["twitch", "youtube"], "perPlatform": 10}),
    )
    .await;
    assert_eq!(out["complete"], true, "both platforms delivered: {out}");
    let messages = out["messages"].as_array().expect("messages").clone();
    assert!(
        texts(&messages, "twitch").starts_with(&numbered("t", 10)),
        "{out}"
    );
    assert!(
        texts(&messages, "youtube").starts_with(&numbered("y", 10)),
        "{out}"
    );
    let _ = (twitch, youtube);

    // Reconnect: a new generation of the same connector; disconnect removes it.
    let before = connectors(&app, &src.token, src.id).await.len();
    let (url, cookie) = connect("twitch").await;
    let back = tw.approve(&url).await;
    assert_eq!(
        no_redirects
            .get(&back)
            .header("cookie", cookie)
            .send()
            .await
            .expect("callback")
            .status(),
        302
    );
    assert_eq!(connectors(&app, &src.token, src.id).await.len(), before);
    let id = t["id"].as_i64().expect("id");
    let res = client()
        .delete(app.url(&format!("/api/chat/connectors/{id}")))
        .bearer_auth(&src.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 200);
    assert!(connectors(&app, &src.token, src.id)
        .await
        .iter()
        .all(|c| c["platform"] != "twitch"));

    // Refusals: another's source, an unknown platform, a declined consent.
    let other = crate::support::register_user(&app, "other@example.com", "Other").await;
    let (status, _) = post_json(
        &app,
        &other,
        "/api/chat/connectors/oauth",
        json!({"source_id": src.id, "platform": "twitch"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post_json(
        &app,
        &src.token,
        "/api/chat/connectors/oauth",
        json!({"source_id": src.id, "platform": "kick"}),
    )
    .await;
    assert_eq!(status, 422);
    let (url, cookie) = connect("twitch").await;
    let deny = format!("{}&deny=1", url.split_once('?').expect("q").1);
    let res = no_redirects
        .post(format!("{}/approve", tw.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(deny)
        .send()
        .await
        .expect("deny");
    let back = res.headers()["location"].to_str().expect("loc").to_string();
    let res = no_redirects
        .get(&back)
        .header("cookie", cookie)
        .send()
        .await
        .expect("callback");
    assert_eq!(
        res.headers()["location"].to_str().expect("loc"),
        "/dashboard?oauth_error=OAUTH_DENIED&provider=twitch"
    );
    app.finish().await;
}

both_backends!(
    chat_connects_through_the_platforms_consent,
    leases_holders_and_generations,
    one_node_runs_a_connector_and_the_other_takes_over,
    twitch_and_youtube_merge_into_one_feed_through_drops_and_reconnects,
    polling_fallback_errors_and_access_rules
);
