//! The Telegram bot's side of the Bot API (<https://core.telegram.org/bots/api>): calls and
//! their answers (a 429's `retry_after` kept apart from refusals and failures), the webhook's
//! secret, and the parsing of the updates Telegram sends — bounded, refusing what is not an
//! update. What the bot says and when it says it is in [`crate::telegram_bot`].

use ferrocast_config::TelegramBot;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// How long one Bot API call may take, besides a long poll's own wait.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest `retry_after` believed (a larger one is read as this).
pub const MAX_RETRY_AFTER_SECS: u64 = 3600;
/// The longest command argument read.
pub const MAX_ARGUMENT_CHARS: usize = 64;
/// The longest message text read from an update.
pub const MAX_TEXT_BYTES: usize = 4096;

/// What a Bot API call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `ok: true`, with its `result`.
    Ok(Value),
    /// 429: wait this many seconds before any further call (Telegram's `retry_after`).
    RetryAfter(u64),
    /// Refused for good (400, 403: a chat that does not exist, a user who blocked the bot).
    Refused(String),
    /// Worth trying again later (a network failure, a 5xx, an answer that is not the API's).
    Failed(String),
}

/// The bot: its Bot API client, the webhook's secret, and whether this node runs it now.
pub struct Bot {
    http: reqwest::Client,
    /// `<api>/bot<token>`.
    base: String,
    /// The bot's username, without `@`.
    pub username: Option<String>,
    secret: String,
    /// This node's runner id (the lease's holder).
    pub holder: String,
    held: AtomicBool,
    /// Woken when this node queues a message.
    pub wake: Notify,
}

impl Bot {
    /// The bot of `config`; `derived_secret` is the webhook secret when none is configured.
    pub fn new(config: &TelegramBot, derived_secret: String, holder: String) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ferrocast/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: format!(
                "{}/bot{}",
                config.api_url.trim_end_matches('/'),
                config.token.expose()
            ),
            username: config.username.clone(),
            secret: config
                .webhook_secret
                .as_ref()
                .map(|s| s.expose().clone())
                .unwrap_or(derived_secret),
            holder,
            held: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// Whether `presented` is the webhook's secret (compared in constant time).
    pub fn secret_matches(&self, presented: &str) -> bool {
        let a = self.secret.as_bytes();
        let b = presented.as_bytes();
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The secret given to `setWebhook`.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Whether this node holds the runner's lease now.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// Notes whether this node holds the lease.
    pub fn set_held(&self, held: bool) {
        self.held.store(held, Ordering::Relaxed);
    }

    /// Calls `method` with `body`, waiting at most `wait` beyond [`CALL_TIMEOUT`].
    pub async fn call(&self, method: &str, body: &Value, wait: Duration) -> Reply {
        let res = self
            .http
            .post(format!("{}/{method}", self.base))
            .timeout(CALL_TIMEOUT + wait)
            .json(body)
            .send()
            .await;
        let res = match res {
            Ok(r) => r,
            // The URL holds the token: say what failed without it.
            Err(e) => return Reply::Failed(format!("{method}: {}", e.without_url())),
        };
        let status = res.status().as_u16();
        let bytes = match res.bytes().await {
            Ok(b) if b.len() <= 8 * 1024 * 1024 => b,
            Ok(_) => return Reply::Failed(format!("{method}: the answer is too large")),
            Err(e) => return Reply::Failed(format!("{method}: {}", e.without_url())),
        };
        classify(method, status, &bytes)
    }

    /// Sends a message (HTML) with an inline keyboard of link buttons.
    pub async fn send_message(&self, chat_id: i64, text: &str, buttons: &Value) -> Reply {
        let mut body = json!({
            "chat_id": chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
        });
        if buttons.as_array().is_some_and(|rows| !rows.is_empty()) {
            body["reply_markup"] = json!({ "inline_keyboard": buttons });
        }
        self.call("sendMessage", &body, Duration::ZERO).await
    }
}

/// Reads a Bot API answer.
pub fn classify(method: &str, status: u16, body: &[u8]) -> Reply {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return Reply::Failed(format!(
                "{method}: HTTP {status} with an answer that is not the Bot API's"
            ))
        }
    };
    if v["ok"] == json!(true) {
        return Reply::Ok(v["result"].clone());
    }
    let description: String = v["description"]
        .as_str()
        .unwrap_or("no description")
        .chars()
        .take(300)
        .collect();
    let code = v["error_code"].as_u64().unwrap_or(u64::from(status));
    if code == 429 {
        let wait = v["parameters"]["retry_after"].as_u64().unwrap_or(1);
        return Reply::RetryAfter(wait.clamp(1, MAX_RETRY_AFTER_SECS));
    }
    if (400..500).contains(&code) {
        Reply::Refused(format!("{method}: {code} {description}"))
    } else {
        Reply::Failed(format!("{method}: {code} {description}"))
    }
}

/// The kind of chat a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    /// A private chat with a user.
    Private,
    /// A group or supergroup.
    Group,
    /// A channel.
    Channel,
}

/// A command someone sent the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The update's id (a redelivered update has the same).
    pub update_id: i64,
    /// The chat to answer in.
    pub chat_id: i64,
    /// What kind of chat.
    pub chat: ChatKind,
    /// The chat's title (groups and channels) or the sender's first name.
    pub chat_title: String,
    /// The sender's Telegram user id (none for a channel's post).
    pub from: Option<i64>,
    /// The command, lowercase, without `/` and without `@botname`.
    pub name: String,
    /// What follows the command, if anything: its words joined by single spaces (at most
    /// [`MAX_ARGUMENT_CHARS`] characters).
    pub argument: Option<String>,
}

/// An update: its id, and the command in it if it is one this bot should answer.
pub fn parse_update(update: &Value, username: Option<&str>) -> Option<(i64, Option<Command>)> {
    let update_id = update.get("update_id")?.as_i64()?;
    let message = update
        .get("message")
        .or_else(|| update.get("channel_post"))
        .filter(|m| m.is_object());
    let Some(message) = message else {
        return Some((update_id, None));
    };
    Some((update_id, command_of(update_id, message, username)))
}

fn command_of(update_id: i64, message: &Value, username: Option<&str>) -> Option<Command> {
    let text = message.get("text")?.as_str()?;
    if text.len() > MAX_TEXT_BYTES {
        return None;
    }
    let chat = message.get("chat")?;
    let chat_id = chat.get("id")?.as_i64()?;
    let kind = match chat.get("type")?.as_str()? {
        "private" => ChatKind::Private,
        "group" | "supergroup" => ChatKind::Group,
        "channel" => ChatKind::Channel,
        _ => return None,
    };
    let from = message
        .get("from")
        .and_then(|f| f.get("id"))
        .and_then(Value::as_i64);
    let title = chat
        .get("title")
        .or_else(|| chat.get("first_name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(128)
        .collect();
    let (name, argument) = parse_command(text, username)?;
    Some(Command {
        update_id,
        chat_id,
        chat: kind,
        chat_title: title,
        from,
        name,
        argument,
    })
}

/// `/name@bot argument …` as `(name, argument)`: the name lowercase; `None` when the text is
/// not a command, or is one for another bot.
pub fn parse_command(text: &str, username: Option<&str>) -> Option<(String, Option<String>)> {
    let rest = text.trim_start().strip_prefix('/')?;
    let mut words = rest.split_whitespace();
    let head = words.next()?;
    let (name, to) = match head.split_once('@') {
        Some((n, bot)) => (n, Some(bot)),
        None => (head, None),
    };
    if let (Some(to), Some(me)) = (to, username) {
        if !to.eq_ignore_ascii_case(me) {
            return None;
        }
    }
    if name.is_empty()
        || name.len() > 32
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return None;
    }
    let rest = words.collect::<Vec<_>>().join(" ");
    let argument =
        (!rest.is_empty()).then(|| rest.chars().take(MAX_ARGUMENT_CHARS).collect::<String>());
    Some((name.to_ascii_lowercase(), argument))
}

/// Text for Telegram's HTML parse mode: `&`, `<` and `>` escaped.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands_are_read_as_telegram_sends_them() {
        assert_eq!(parse_command("/help", None), Some(("help".into(), None)));
        assert_eq!(
            parse_command("/Videorama@Ferro_Bot  ada  more", Some("ferro_bot")),
            Some(("videorama".into(), Some("ada more".into())))
        );
        assert_eq!(parse_command("/live@other_bot", Some("ferro_bot")), None);
        assert_eq!(parse_command("hello /live", None), None);
        assert_eq!(parse_command("/", None), None);
        assert_eq!(parse_command("/li-ve", None), None);
    }

    #[test]
    fn answers_are_told_apart() {
        let limited = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        assert_eq!(classify("sendMessage", 429, limited), Reply::RetryAfter(7));
        let huge = br#"{"ok":false,"error_code":429,"parameters":{"retry_after":99999999}}"#;
        assert_eq!(
            classify("sendMessage", 429, huge),
            Reply::RetryAfter(MAX_RETRY_AFTER_SECS)
        );
        let blocked = br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#;
        assert!(
            matches!(classify("sendMessage", 403, blocked), Reply::Refused(d) if d.contains("blocked"))
        );
        assert!(matches!(
            classify("sendMessage", 502, b"<html>bad gateway</html>"),
            Reply::Failed(_)
        ));
        assert_eq!(
            classify("getMe", 200, br#"{"ok":true,"result":{"id":1}}"#),
            Reply::Ok(json!({"id": 1}))
        );
    }

    #[test]
    fn updates_give_their_command_and_chat() {
        let u = json!({"update_id": 10, "message": {"message_id": 1, "from": {"id": 42, "first_name": "Ada"},
            "chat": {"id": -100, "type": "supergroup", "title": "Fans <3"}, "text": "/connect"}});
        let (id, cmd) = parse_update(&u, None).expect("an update");
        assert_eq!(id, 10);
        let cmd = cmd.expect("a command");
        assert_eq!(
            (cmd.chat_id, cmd.chat, cmd.from),
            (-100, ChatKind::Group, Some(42))
        );
        assert_eq!(cmd.chat_title, "Fans <3");
        assert_eq!(html(&cmd.chat_title), "Fans &lt;3");
        // Not a command, not a message, not an update.
        let plain = json!({"update_id": 11, "message": {"chat": {"id": 1, "type": "private"}, "text": "hi"}});
        assert_eq!(parse_update(&plain, None), Some((11, None)));
        assert_eq!(
            parse_update(&json!({"update_id": 12, "edited_message": {}}), None),
            Some((12, None))
        );
        assert_eq!(parse_update(&json!({"message": {}}), None), None);
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in ".{0,200}", bot in "[a-z_]{0,12}") {
            if let Some((name, arg)) = parse_command(&text, Some(&bot)) {
                prop_assert!(!name.is_empty() && name.len() <= 32);
                prop_assert!(arg.is_none_or(|a| a.chars().count() <= MAX_ARGUMENT_CHARS));
            }
        }

        #[test]
        fn any_update_shape_is_safe(v in any::<i64>(), text in ".{0,50}", kind in "[a-z]{0,10}") {
            let u = json!({"update_id": v, "message": {"chat": {"id": v, "type": kind}, "text": text, "from": {"id": v}}});
            let _ = parse_update(&u, None);
        }
    }
}
