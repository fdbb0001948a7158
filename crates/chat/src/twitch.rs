//! Twitch: EventSub over WebSocket (`wss://eventsub.wss.twitch.tv/ws`) for incoming chat
//! (`channel.chat.message`), and the Helix API for the subscription that feeds it
//! (`POST /helix/eventsub/subscriptions`) and for sending (`POST /helix/chat/messages`).
//!
//! The session: the server sends `session_welcome` (session id, keepalive timeout); the client
//! has 10 s to subscribe with that session id; then `notification`s arrive, with
//! `session_keepalive` whenever nothing else was sent for the keepalive timeout — a client that
//! hears nothing for longer reconnects. `session_reconnect` names a URL to move to (the old
//! connection stays open until the new one's welcome, subscriptions carry over);
//! `revocation` says a subscription ended (e.g. the token was revoked).

use crate::{bounded, parse_json, ChatMessage, Emote, ParseError};
use serde::{Deserialize, Serialize};

/// The subscription type that carries chat messages.
pub const CHAT_MESSAGE: &str = "channel.chat.message";

/// One EventSub WebSocket message, as far as a chat connector cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSubMessage {
    /// The session is open; subscribe within 10 s with this id.
    Welcome {
        /// Session id for the subscription's transport.
        session_id: String,
        /// Seconds of silence after which the connection is presumed dead.
        keepalive_timeout_seconds: u64,
    },
    /// Nothing new; the connection is alive.
    Keepalive,
    /// A chat message (the message id of the metadata is for deduplication of the delivery).
    Chat {
        /// EventSub's id of this delivery (Twitch may deliver a message twice).
        delivery_id: String,
        /// The message.
        message: ChatMessage,
    },
    /// Move to this URL; keep the old connection until the new one's welcome.
    Reconnect {
        /// Where to connect.
        url: String,
    },
    /// A subscription ended, with the reason Twitch gives (`authorization_revoked`, …).
    Revoked {
        /// The subscription type.
        subscription_type: String,
        /// Why.
        status: String,
    },
    /// Another notification or message type, ignored.
    Other(String),
}

#[derive(Deserialize)]
struct Envelope {
    metadata: Metadata,
    #[serde(default)]
    payload: serde_json::Value,
}

#[derive(Deserialize)]
struct Metadata {
    message_id: String,
    message_type: String,
    #[serde(default)]
    subscription_type: Option<String>,
}

#[derive(Deserialize)]
struct Session {
    id: String,
    #[serde(default)]
    keepalive_timeout_seconds: Option<u64>,
    #[serde(default)]
    reconnect_url: Option<String>,
}

#[derive(Deserialize)]
struct ChatEvent {
    chatter_user_id: String,
    #[serde(default)]
    chatter_user_login: String,
    #[serde(default)]
    chatter_user_name: String,
    message_id: String,
    message: ChatText,
    #[serde(default)]
    badges: Vec<Badge>,
    #[serde(default)]
    message_type: String,
}

#[derive(Deserialize)]
struct ChatText {
    text: String,
    #[serde(default)]
    fragments: Vec<Fragment>,
}

#[derive(Deserialize)]
struct Fragment {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    emote: Option<EmoteRef>,
}

#[derive(Deserialize)]
struct EmoteRef {
    id: String,
}

#[derive(Deserialize)]
struct Badge {
    set_id: String,
}

/// Parses one EventSub WebSocket text message.
pub fn parse_eventsub(payload: &[u8]) -> Result<EventSubMessage, ParseError> {
    let env: Envelope = parse_json(payload)?;
    let malformed =
        |what: &str| ParseError::Malformed(format!("{}: {what}", env.metadata.message_type));
    match env.metadata.message_type.as_str() {
        "session_welcome" => {
            let s: Session = serde_json::from_value(env.payload["session"].clone())
                .map_err(|e| malformed(&e.to_string()))?;
            Ok(EventSubMessage::Welcome {
                session_id: s.id,
                keepalive_timeout_seconds: s.keepalive_timeout_seconds.unwrap_or(10).clamp(1, 600),
            })
        }
        "session_keepalive" => Ok(EventSubMessage::Keepalive),
        "session_reconnect" => {
            let s: Session = serde_json::from_value(env.payload["session"].clone())
                .map_err(|e| malformed(&e.to_string()))?;
            match s.reconnect_url {
                Some(url) if url.starts_with("wss://") || url.starts_with("ws://") => {
                    Ok(EventSubMessage::Reconnect { url })
                }
                _ => Err(malformed("no ws(s):// reconnect_url")),
            }
        }
        "revocation" => Ok(EventSubMessage::Revoked {
            subscription_type: env.metadata.subscription_type.unwrap_or_default(),
            status: env.payload["subscription"]["status"]
                .as_str()
                .unwrap_or("revoked")
                .to_string(),
        }),
        "notification" if env.metadata.subscription_type.as_deref() == Some(CHAT_MESSAGE) => {
            let e: ChatEvent = serde_json::from_value(env.payload["event"].clone())
                .map_err(|e| malformed(&e.to_string()))?;
            Ok(EventSubMessage::Chat {
                delivery_id: env.metadata.message_id,
                message: normalise(e),
            })
        }
        other => Ok(EventSubMessage::Other(other.chars().take(64).collect())),
    }
}

fn normalise(e: ChatEvent) -> ChatMessage {
    let emotes = e
        .message
        .fragments
        .iter()
        .filter(|f| f.kind == "emote")
        .filter_map(|f| {
            f.emote.as_ref().map(|m| Emote {
                id: bounded(&m.id),
                text: bounded(&f.text),
            })
        })
        .take(100)
        .collect();
    let name = if e.chatter_user_name.is_empty() {
        e.chatter_user_login
    } else {
        e.chatter_user_name
    };
    ChatMessage {
        platform: "twitch",
        id: bounded(&e.message_id),
        author_id: bounded(&e.chatter_user_id),
        author_name: bounded(&name),
        text: bounded(&e.message.text),
        kind: match e.message_type.as_str() {
            "text" | "" => "message",
            "channel_points_highlighted" | "user_intro" => "message",
            "action" => "action",
            _ => "system",
        },
        badges: e
            .badges
            .into_iter()
            .take(20)
            .map(|b| bounded(&b.set_id))
            .collect(),
        emotes,
    }
}

/// The body of `POST /helix/eventsub/subscriptions` that subscribes a WebSocket session to a
/// channel's chat, read as `user_id` (the account whose token is used).
pub fn chat_subscription(
    broadcaster_user_id: &str,
    user_id: &str,
    session_id: &str,
) -> serde_json::Value {
    serde_json::json!({
        "type": CHAT_MESSAGE,
        "version": "1",
        "condition": { "broadcaster_user_id": broadcaster_user_id, "user_id": user_id },
        "transport": { "method": "websocket", "session_id": session_id },
    })
}

/// The body of `POST /helix/chat/messages`.
#[derive(Debug, Clone, Serialize)]
pub struct SendMessage<'a> {
    /// The channel.
    pub broadcaster_id: &'a str,
    /// The account sending (the token's user).
    pub sender_id: &'a str,
    /// The text (Twitch allows 500 characters).
    pub message: &'a str,
}

/// What Helix says about a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Sent, with Twitch's message id.
    Sent(String),
    /// Not sent, and why (`msg_duplicate`, `msg_rejected`, … with Twitch's words).
    Dropped(String),
}

#[derive(Deserialize)]
struct SendReply {
    data: Vec<SendData>,
}

#[derive(Deserialize)]
struct SendData {
    #[serde(default)]
    message_id: String,
    is_sent: bool,
    #[serde(default)]
    drop_reason: Option<DropReason>,
}

#[derive(Deserialize)]
struct DropReason {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Parses the 200 reply of `POST /helix/chat/messages`.
pub fn parse_send_reply(payload: &[u8]) -> Result<SendOutcome, ParseError> {
    let r: SendReply = parse_json(payload)?;
    let d = r
        .data
        .into_iter()
        .next()
        .ok_or_else(|| ParseError::Malformed("send reply: empty data".into()))?;
    Ok(if d.is_sent {
        SendOutcome::Sent(bounded(&d.message_id))
    } else {
        let why = d
            .drop_reason
            .map(|r| format!("{}: {}", r.code, r.message))
            .unwrap_or_else(|| "dropped".into());
        SendOutcome::Dropped(bounded(&why))
    })
}

/// Who a token belongs to, from `GET https://id.twitch.tv/oauth2/validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// The application the token was issued to (Helix wants it as `Client-Id`).
    pub client_id: String,
    /// The account's login name.
    pub login: String,
    /// The account's user id.
    pub user_id: String,
}

/// Parses the token validation reply.
pub fn parse_validate(payload: &[u8]) -> Result<TokenOwner, ParseError> {
    let v: serde_json::Value = parse_json(payload)?;
    let field = |k: &str| {
        v[k].as_str()
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .map(str::to_string)
            .ok_or_else(|| ParseError::Malformed(format!("validate reply: no {k}")))
    };
    Ok(TokenOwner {
        client_id: field("client_id")?,
        login: field("login").unwrap_or_default(),
        user_id: field("user_id")?,
    })
}

/// The user id of `GET /helix/users?login=…`'s first user, if the login exists.
pub fn parse_user_id(payload: &[u8]) -> Result<Option<String>, ParseError> {
    let v: serde_json::Value = parse_json(payload)?;
    Ok(v["data"]
        .as_array()
        .and_then(|d| d.first())
        .and_then(|u| u["id"].as_str())
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .map(str::to_string))
}

/// The `message` of a Helix error body (`{"error","status","message"}`), for the creator.
pub fn helix_error(payload: &[u8]) -> String {
    parse_json::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v["message"].as_str().map(bounded))
        .unwrap_or_else(|| "Twitch refused the request".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOTIFICATION: &str = r##"{"metadata":{"message_id":"befa7b53-d79d-478f-86b9-120f112b044e","message_type":"notification","message_timestamp":"2023-11-06T18:11:47.492253549Z","subscription_type":"channel.chat.message","subscription_version":"1"},"payload":{"subscription":{"id":"0b7f3361-672b-4d39-b307-dd5b576c9b27","status":"enabled","type":"channel.chat.message","version":"1","condition":{"broadcaster_user_id":"1971641","user_id":"2914196"},"transport":{"method":"websocket","session_id":"AQoQexAWVYKSTIu4ec_2VAxyuhAB"},"created_at":"2023-11-06T18:11:47.492253549Z","cost":0},"event":{"broadcaster_user_id":"1971641","broadcaster_user_login":"streamer","broadcaster_user_name":"streamer","chatter_user_id":"4145994","chatter_user_login":"viewer32","chatter_user_name":"Viewer32","message_id":"cc106a89-1814-919d-454c-f4f2f970aae7","message":{"text":"Hi chat Kappa","fragments":[{"type":"text","text":"Hi chat ","cheermote":null,"emote":null,"mention":null},{"type":"emote","text":"Kappa","cheermote":null,"emote":{"id":"25","emote_set_id":"0","owner_id":"0","format":["static"]},"mention":null}]},"color":"#00FF7F","badges":[{"set_id":"moderator","id":"1","info":""},{"set_id":"subscriber","id":"12","info":"16"}],"message_type":"text","cheer":null,"reply":null,"channel_points_custom_reward_id":null}}}"##;

    #[test]
    fn chat_notification_is_normalised() {
        let m = parse_eventsub(NOTIFICATION.as_bytes()).expect("parses");
        let EventSubMessage::Chat {
            delivery_id,
            message,
        } = m
        else {
            panic!("{m:?}")
        };
        assert_eq!(delivery_id, "befa7b53-d79d-478f-86b9-120f112b044e");
        assert_eq!(message.platform, "twitch");
        assert_eq!(message.id, "cc106a89-1814-919d-454c-f4f2f970aae7");
        assert_eq!(message.author_id, "4145994");
        assert_eq!(message.author_name, "Viewer32");
        assert_eq!(message.text, "Hi chat Kappa");
        assert_eq!(message.kind, "message");
        assert_eq!(message.badges, ["moderator", "subscriber"]);
        assert_eq!(
            message.emotes,
            [Emote {
                id: "25".into(),
                text: "Kappa".into()
            }]
        );
    }

    #[test]
    fn validate_and_users_replies() {
        let v = br#"{"client_id":"wbmytr93xzw8zbg0p1izqyzzc5mbiz","login":"twitchdev","scopes":["user:write:chat"],"user_id":"141981764","expires_in":5520838}"#;
        assert_eq!(
            parse_validate(v),
            Ok(TokenOwner {
                client_id: "wbmytr93xzw8zbg0p1izqyzzc5mbiz".into(),
                login: "twitchdev".into(),
                user_id: "141981764".into()
            })
        );
        assert!(parse_validate(br#"{"status":401,"message":"invalid access token"}"#).is_err());
        assert_eq!(
            parse_user_id(
                br#"{"data":[{"id":"141981764","login":"twitchdev","display_name":"TwitchDev"}]}"#
            ),
            Ok(Some("141981764".into()))
        );
        assert_eq!(parse_user_id(br#"{"data":[]}"#), Ok(None));
    }

    #[test]
    fn session_messages() {
        let welcome = r#"{"metadata":{"message_id":"96a3f3b5","message_type":"session_welcome","message_timestamp":"2023-07-19T14:56:51Z"},"payload":{"session":{"id":"AQoQILE98gtqShGmLD7AM6yJThAB","status":"connected","connected_at":"2023-07-19T14:56:51.616329898Z","keepalive_timeout_seconds":10,"reconnect_url":null}}}"#;
        assert_eq!(
            parse_eventsub(welcome.as_bytes()),
            Ok(EventSubMessage::Welcome {
                session_id: "AQoQILE98gtqShGmLD7AM6yJThAB".into(),
                keepalive_timeout_seconds: 10
            })
        );
        let keepalive = r#"{"metadata":{"message_id":"84c1e79a","message_type":"session_keepalive","message_timestamp":"2023-07-19T10:11:12Z"},"payload":{}}"#;
        assert_eq!(
            parse_eventsub(keepalive.as_bytes()),
            Ok(EventSubMessage::Keepalive)
        );
        let reconnect = r#"{"metadata":{"message_id":"84c1e79a","message_type":"session_reconnect","message_timestamp":"2023-07-19T10:11:12Z"},"payload":{"session":{"id":"AQoQexAWVYKSTIu4ec_2VAxyuhAB","status":"reconnecting","keepalive_timeout_seconds":null,"reconnect_url":"wss://eventsub.wss.twitch.tv?...","connected_at":"2023-07-19T10:11:12Z"}}}"#;
        assert_eq!(
            parse_eventsub(reconnect.as_bytes()),
            Ok(EventSubMessage::Reconnect {
                url: "wss://eventsub.wss.twitch.tv?...".into()
            })
        );
        let revoked = r#"{"metadata":{"message_id":"84c1e79a","message_type":"revocation","message_timestamp":"2023-07-19T10:11:12Z","subscription_type":"channel.chat.message","subscription_version":"1"},"payload":{"subscription":{"id":"f1c2a387","status":"authorization_revoked","type":"channel.chat.message","version":"1","cost":0,"condition":{},"transport":{"method":"websocket","session_id":"x"},"created_at":"2023-07-19T10:11:12Z"}}}"#;
        assert_eq!(
            parse_eventsub(revoked.as_bytes()),
            Ok(EventSubMessage::Revoked {
                subscription_type: CHAT_MESSAGE.into(),
                status: "authorization_revoked".into()
            })
        );
        assert!(parse_eventsub(b"{}").is_err());
        assert!(parse_eventsub(br#"{"metadata":{"message_id":"1","message_type":"session_reconnect"},"payload":{"session":{"id":"x","reconnect_url":"http://evil"}}}"#).is_err());
    }

    #[test]
    fn send_replies() {
        assert_eq!(
            parse_send_reply(br#"{"data":[{"message_id":"abc-123","is_sent":true}]}"#),
            Ok(SendOutcome::Sent("abc-123".into()))
        );
        assert_eq!(
            parse_send_reply(br#"{"data":[{"message_id":"","is_sent":false,"drop_reason":{"code":"msg_duplicate","message":"The message is identical to the previous one"}}]}"#),
            Ok(SendOutcome::Dropped(
                "msg_duplicate: The message is identical to the previous one".into()
            ))
        );
        assert_eq!(
            helix_error(
                br#"{"error":"Unauthorized","status":401,"message":"Invalid OAuth token"}"#
            ),
            "Invalid OAuth token"
        );
        assert_eq!(helix_error(b"<html>"), "Twitch refused the request");
    }

    #[test]
    fn subscription_body_names_the_session() {
        let b = chat_subscription("1971641", "2914196", "AQoQ");
        assert_eq!(b["type"], CHAT_MESSAGE);
        assert_eq!(b["transport"]["session_id"], "AQoQ");
        assert_eq!(b["condition"]["user_id"], "2914196");
    }

    proptest! {
        #[test]
        fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_eventsub(&bytes);
            let _ = parse_send_reply(&bytes);
            let _ = helix_error(&bytes);
        }

        #[test]
        fn mutated_notifications_never_panic(cut in 0usize..NOTIFICATION.len(), byte in any::<u8>()) {
            let mut b = NOTIFICATION.as_bytes().to_vec();
            b[cut] = byte;
            let _ = parse_eventsub(&b);
            let _ = parse_eventsub(&NOTIFICATION.as_bytes()[..cut]);
        }
    }
}
