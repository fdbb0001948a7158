//! A local Telegram Bot API standing in for api.telegram.org, speaking the documented methods
//! the bot uses (`POST /bot<token>/<method>` with JSON, answering `{"ok": …}`): `getUpdates`
//! (a long poll over updates the test pushes, confirmed by `offset`; a second poll while one
//! runs is refused with Telegram's 409 Conflict and counted, as is one while a webhook is set),
//! `setWebhook`, `deleteWebhook`, `setMyCommands`, `getChat` (one known channel) and
//! `sendMessage` (recorded; knobs answer the next one with 429 and `retry_after`, and a chat
//! that blocked the bot with 403). A wrong token is 401, as Telegram answers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The channel `getChat` knows.
pub const CHANNEL: (&str, i64, &str) = ("@acme_news", -1001234567890, "Acme News");
/// A chat that blocked the bot: `sendMessage` to it is 403.
pub const BLOCKED_CHAT: i64 = 777;

#[derive(Default)]
pub struct Inner {
    updates: VecDeque<Value>,
    next_update: i64,
    /// Messages sent: when, and the body.
    pub sent: Vec<(Instant, Value)>,
    /// 429s answered: when.
    pub limited: Vec<Instant>,
    /// Every call: the method and its body.
    pub calls: Vec<(String, Value)>,
    /// Answer the next `sendMessage` with 429 and this `retry_after`.
    pub limit_next: Option<u64>,
    polling: usize,
    /// Polls refused because another was running, or a webhook was set.
    pub conflicts: usize,
    /// The webhook set, if any.
    pub webhook: Option<Value>,
    /// Who administers which chat: `(chat id, user id)` (`getChatMember` answers
    /// `administrator` for them, `member` for anyone else).
    pub admins: Vec<(i64, i64)>,
}

#[derive(Clone)]
pub struct Standin {
    pub inner: Arc<Mutex<Inner>>,
    token: String,
    pushed: Arc<Notify>,
    pub addr: SocketAddr,
}

fn reply(status: StatusCode, v: Value) -> Response {
    (status, Json(v)).into_response()
}

fn refused(code: u16, description: &str) -> Response {
    reply(
        StatusCode::from_u16(code).expect("status"),
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

/// Decrements the count of running polls however the poll ends (a client that goes away).
struct Polling(Arc<Mutex<Inner>>);
impl Drop for Polling {
    fn drop(&mut self) {
        self.0.lock().expect("lock").polling -= 1;
    }
}

async fn method(
    State(s): State<Standin>,
    Path((bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    if bot != format!("bot{}", s.token) {
        return refused(401, "Unauthorized");
    }
    s.inner
        .lock()
        .expect("lock")
        .calls
        .push((method.clone(), body.clone()));
    match method.as_str() {
        "getUpdates" => {
            {
                let mut i = s.inner.lock().expect("lock");
                if i.webhook.is_some() {
                    i.conflicts += 1;
                    return refused(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
                }
                if i.polling > 0 {
                    i.conflicts += 1;
                    return refused(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running");
                }
                i.polling += 1;
            }
            let _guard = Polling(s.inner.clone());
            let offset = body["offset"].as_i64().unwrap_or(0);
            let wait = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0).min(30));
            let until = Instant::now() + wait;
            loop {
                let ready = s.pushed.notified();
                {
                    let mut i = s.inner.lock().expect("lock");
                    // Updates below the offset are confirmed: Telegram forgets them.
                    while i
                        .updates
                        .front()
                        .is_some_and(|u| u["update_id"].as_i64() < Some(offset))
                    {
                        i.updates.pop_front();
                    }
                    if !i.updates.is_empty() || Instant::now() >= until {
                        let out: Vec<Value> = i.updates.iter().cloned().collect();
                        return reply(StatusCode::OK, json!({"ok": true, "result": out}));
                    }
                }
                let _ =
                    tokio::time::timeout(until.saturating_duration_since(Instant::now()), ready)
                        .await;
            }
        }
        "setWebhook" => {
            s.inner.lock().expect("lock").webhook = Some(body);
            reply(
                StatusCode::OK,
                json!({"ok": true, "result": true, "description": "Webhook was set"}),
            )
        }
        "deleteWebhook" => {
            s.inner.lock().expect("lock").webhook = None;
            reply(StatusCode::OK, json!({"ok": true, "result": true}))
        }
        "setMyCommands" => reply(StatusCode::OK, json!({"ok": true, "result": true})),
        "getChat" => {
            let chat = &body["chat_id"];
            if chat == &json!(CHANNEL.0) || chat == &json!(CHANNEL.1) {
                reply(
                    StatusCode::OK,
                    json!({"ok": true, "result": {"id": CHANNEL.1, "type": "channel", "title": CHANNEL.2}}),
                )
            } else {
                refused(400, "Bad Request: chat not found")
            }
        }
        "getChatMember" => {
            let chat = match &body["chat_id"] {
                v if v == &json!(CHANNEL.0) => Some(CHANNEL.1),
                v => v.as_i64(),
            };
            let (Some(chat), Some(user)) = (chat, body["user_id"].as_i64()) else {
                return refused(400, "Bad Request: chat not found");
            };
            let admin = s.inner.lock().expect("lock").admins.contains(&(chat, user));
            let status = if admin { "administrator" } else { "member" };
            reply(
                StatusCode::OK,
                json!({"ok": true, "result": {"status": status, "user": {"id": user, "is_bot": false, "first_name": "Someone"}}}),
            )
        }
        "sendMessage" => {
            let mut i = s.inner.lock().expect("lock");
            if let Some(wait) = i.limit_next.take() {
                i.limited.push(Instant::now());
                return reply(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {wait}"), "parameters": {"retry_after": wait}}),
                );
            }
            if body["chat_id"].as_i64() == Some(BLOCKED_CHAT) {
                return refused(403, "Forbidden: bot was blocked by the user");
            }
            if body["text"].as_str().is_none_or(str::is_empty) {
                return refused(400, "Bad Request: message text is empty");
            }
            i.sent.push((Instant::now(), body.clone()));
            let id = i.sent.len();
            reply(
                StatusCode::OK,
                json!({"ok": true, "result": {"message_id": id, "chat": {"id": body["chat_id"]}, "date": 0, "text": body["text"]}}),
            )
        }
        _ => refused(404, "Not Found"),
    }
}

impl Standin {
    pub async fn start(token: &str) -> Standin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let s = Standin {
            inner: Arc::new(Mutex::new(Inner {
                next_update: 1000,
                ..Inner::default()
            })),
            token: token.to_string(),
            pushed: Arc::new(Notify::new()),
            addr,
        };
        let app = Router::new()
            .route("/{bot}/{method}", post(method))
            .with_state(s.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        s
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues an update for `getUpdates`; its id.
    pub fn push(&self, mut update: Value) -> i64 {
        let id = {
            let mut i = self.inner.lock().expect("lock");
            i.next_update += 1;
            let id = i.next_update;
            update["update_id"] = json!(id);
            i.updates.push_back(update);
            id
        };
        self.pushed.notify_waiters();
        id
    }

    /// A text message from `from` in chat `chat` (`private` when `chat == from`).
    pub fn message(from: i64, chat: i64, chat_type: &str, text: &str) -> Value {
        json!({"message": {"message_id": 1, "date": 0,
            "from": {"id": from, "is_bot": false, "first_name": "Someone"},
            "chat": {"id": chat, "type": chat_type, "title": "Fan Club", "first_name": "Someone"},
            "text": text}})
    }

    /// Messages sent to `chat`, in order.
    pub fn sent_to(&self, chat: i64) -> Vec<Value> {
        self.inner
            .lock()
            .expect("lock")
            .sent
            .iter()
            .filter(|(_, b)| b["chat_id"].as_i64() == Some(chat))
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Waits until `chat` has received `n` messages; they all.
    pub async fn wait_for(&self, chat: i64, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let got = self.sent_to(chat);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "chat {chat} did not receive {n} messages: {:?}",
            self.sent_to(chat)
        );
    }

    /// Waits until `chat` has received a message containing `needle`; that message.
    pub async fn wait_text(&self, chat: i64, needle: &str) -> Value {
        for _ in 0..300 {
            if let Some(m) = self
                .sent_to(chat)
                .into_iter()
                .find(|m| m["text"].as_str().unwrap_or_default().contains(needle))
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "chat {chat} received nothing with {needle:?}: {:?}",
            self.sent_to(chat)
        );
    }

    /// How many times `method` was called.
    pub fn calls(&self, method: &str) -> usize {
        self.inner
            .lock()
            .expect("lock")
            .calls
            .iter()
            .filter(|(m, _)| m == method)
            .count()
    }
}

/// Telegram's sign-in page standing in for oauth.telegram.org: `GET /auth?bot_id=…&origin=…
/// &return_to=…` for the expected bot sends the browser back to `return_to` with
/// `#tgAuthResult=<base64 JSON>` (the fields `result` holds), as Telegram does once the person
/// confirms; another bot or a `return_to` off the origin gets 400.
pub async fn login_standin(bot_id: &str, result: Value) -> SocketAddr {
    use axum::extract::Query;
    use axum::routing::get;
    use data_encoding::BASE64;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let bot_id = bot_id.to_string();
    let encoded = BASE64.encode(result.to_string().as_bytes());
    let app = Router::new().route(
        "/auth",
        get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| {
                let bot_id = bot_id.clone();
                let encoded = encoded.clone();
                async move {
                    let (Some(bot), Some(origin), Some(back)) =
                        (q.get("bot_id"), q.get("origin"), q.get("return_to"))
                    else {
                        return (
                            StatusCode::BAD_REQUEST,
                            "bot_id, origin and return_to are required",
                        )
                            .into_response();
                    };
                    if *bot != bot_id || !back.starts_with(origin.as_str()) {
                        return (StatusCode::BAD_REQUEST, "Bot domain invalid").into_response();
                    }
                    (
                        StatusCode::FOUND,
                        [(
                            axum::http::header::LOCATION,
                            format!("{back}#tgAuthResult={encoded}"),
                        )],
                    )
                        .into_response()
                }
            },
        ),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}
