//! YouTube: the Live Chat API. `liveChatMessages.streamList` (server streaming: one HTTP
//! response carrying a sequence of list responses, as new messages arrive) where possible,
//! because polling `liveChatMessages.list` spends the daily quota within hours; `list` as the
//! fallback, waiting `pollingIntervalMillis` between requests and resuming from
//! `nextPageToken`. Both carry the same `LiveChatMessageListResponse`.

use crate::{bounded, parse_json, ChatMessage, ParseError};
use serde::Deserialize;

/// Shortest wait between polls honoured, whatever the server says.
pub const MIN_POLL_MS: u64 = 1_000;
/// Longest wait between polls honoured.
pub const MAX_POLL_MS: u64 = 60_000;

/// One page of chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Messages a moderator deleted (their ids).
    pub deleted: Vec<String>,
    /// Where the next request resumes.
    pub next_page_token: Option<String>,
    /// How long to wait before polling again (clamped to 1–60 s).
    pub polling_interval_ms: u64,
    /// The chat has ended (`offlineAt` set, or a `chatEndedEvent`).
    pub ended: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    polling_interval_millis: Option<u64>,
    #[serde(default)]
    offline_at: Option<String>,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    id: String,
    snippet: Snippet,
    #[serde(default)]
    author_details: Option<Author>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Snippet {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    author_channel_id: String,
    #[serde(default)]
    display_message: String,
    #[serde(default)]
    message_deleted_details: Option<Deleted>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deleted {
    deleted_message_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Author {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    is_verified: bool,
    #[serde(default)]
    is_chat_owner: bool,
    #[serde(default)]
    is_chat_sponsor: bool,
    #[serde(default)]
    is_chat_moderator: bool,
}

/// Parses one `LiveChatMessageListResponse` (a `list` reply, or one element of `streamList`).
pub fn parse_page(payload: &[u8]) -> Result<Page, ParseError> {
    let r: ListResponse = parse_json(payload)?;
    let mut page = Page {
        messages: Vec::new(),
        deleted: Vec::new(),
        next_page_token: r.next_page_token.filter(|t| t.len() <= 1024),
        polling_interval_ms: r
            .polling_interval_millis
            .unwrap_or(5_000)
            .clamp(MIN_POLL_MS, MAX_POLL_MS),
        ended: r.offline_at.is_some(),
    };
    for item in r.items {
        let s = item.snippet;
        let kind = match s.kind.as_str() {
            "textMessageEvent" => "message",
            "superChatEvent"
            | "superStickerEvent"
            | "newSponsorEvent"
            | "memberMilestoneChatEvent"
            | "membershipGiftingEvent"
            | "giftMembershipReceivedEvent" => "system",
            "messageDeletedEvent" => {
                if let Some(d) = s.message_deleted_details {
                    page.deleted.push(bounded(&d.deleted_message_id));
                }
                continue;
            }
            "chatEndedEvent" => {
                page.ended = true;
                continue;
            }
            _ => continue,
        };
        let author = item.author_details.unwrap_or(Author {
            channel_id: s.author_channel_id.clone(),
            display_name: String::new(),
            is_verified: false,
            is_chat_owner: false,
            is_chat_sponsor: false,
            is_chat_moderator: false,
        });
        let mut badges = Vec::new();
        for (on, name) in [
            (author.is_chat_owner, "broadcaster"),
            (author.is_chat_moderator, "moderator"),
            (author.is_chat_sponsor, "member"),
            (author.is_verified, "verified"),
        ] {
            if on {
                badges.push(name.to_string());
            }
        }
        let author_id = if author.channel_id.is_empty() {
            s.author_channel_id
        } else {
            author.channel_id
        };
        page.messages.push(ChatMessage {
            platform: "youtube",
            id: bounded(&item.id),
            author_id: bounded(&author_id),
            author_name: bounded(&author.display_name),
            text: bounded(&s.display_message),
            kind,
            badges,
            emotes: Vec::new(),
        });
    }
    Ok(page)
}

/// The live chat of the account's active broadcast, from `liveBroadcasts.list`
/// (`broadcastStatus=active`), if one is live.
pub fn active_live_chat_id(payload: &[u8]) -> Result<Option<String>, ParseError> {
    let v: serde_json::Value = parse_json(payload)?;
    Ok(v["items"].as_array().and_then(|items| {
        items.iter().find_map(|i| {
            i["snippet"]["liveChatId"]
                .as_str()
                .filter(|id| !id.is_empty() && id.len() <= 256)
                .map(str::to_string)
        })
    }))
}

/// The body of `liveChatMessages.insert` (`POST …/liveChat/messages?part=snippet`).
pub fn insert_body(live_chat_id: &str, text: &str) -> serde_json::Value {
    serde_json::json!({
        "snippet": {
            "liveChatId": live_chat_id,
            "type": "textMessageEvent",
            "textMessageDetails": { "messageText": text },
        }
    })
}

/// The id of the message `liveChatMessages.insert` created (so its echo in the stream is
/// recognised).
pub fn inserted_id(payload: &[u8]) -> Result<String, ParseError> {
    let v: serde_json::Value = parse_json(payload)?;
    v["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(bounded)
        .ok_or_else(|| ParseError::Malformed("insert reply: no id".into()))
}

/// A fresh access token from Google's token endpoint (`grant_type=refresh_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token.
    pub access_token: String,
    /// Seconds it lives (Google: about an hour).
    pub expires_in: u64,
}

/// Parses the token endpoint's reply.
pub fn parse_token(payload: &[u8]) -> Result<AccessToken, ParseError> {
    let v: serde_json::Value = parse_json(payload)?;
    let token = v["access_token"]
        .as_str()
        .filter(|t| !t.is_empty() && t.len() <= 4096)
        .ok_or_else(|| ParseError::Malformed("token reply: no access_token".into()))?;
    Ok(AccessToken {
        access_token: token.to_string(),
        expires_in: v["expires_in"].as_u64().unwrap_or(3600).clamp(60, 86_400),
    })
}

/// What a YouTube error means for a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The daily quota is spent; try again tomorrow (Pacific midnight).
    QuotaExceeded,
    /// Too many requests; slow down.
    RateLimited,
    /// The access token expired or was revoked: refresh it, or the creator reconnects.
    Unauthorized,
    /// The chat ended or does not exist (the broadcast is over).
    ChatEnded,
    /// Chat is disabled or the account may not read it.
    Forbidden(String),
    /// Anything else, in YouTube's words.
    Other(u16, String),
}

impl ApiError {
    /// What to tell the creator.
    pub fn describe(&self) -> String {
        match self {
            ApiError::QuotaExceeded => {
                "YouTube's daily API quota is used up; chat resumes when it resets (midnight Pacific time)".into()
            }
            ApiError::RateLimited => "YouTube asks to slow down; retrying".into(),
            ApiError::Unauthorized => {
                "YouTube refused the access token; reconnect YouTube chat".into()
            }
            ApiError::ChatEnded => "the YouTube live chat has ended".into(),
            ApiError::Forbidden(m) => format!("YouTube refused: {m}"),
            ApiError::Other(code, m) => format!("YouTube error {code}: {m}"),
        }
    }
}

/// Reads a YouTube error reply (`{"error":{"code","message","errors":[{"reason"}]}}`).
pub fn parse_error(status: u16, payload: &[u8]) -> ApiError {
    let v: serde_json::Value = parse_json(payload).unwrap_or_default();
    let message = v["error"]["message"]
        .as_str()
        .map(bounded)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let reasons: Vec<&str> = v["error"]["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["reason"].as_str()).collect())
        .unwrap_or_default();
    let has = |r: &str| reasons.contains(&r);
    if has("quotaExceeded") || has("dailyLimitExceeded") {
        ApiError::QuotaExceeded
    } else if has("rateLimitExceeded") || has("userRateLimitExceeded") || status == 429 {
        ApiError::RateLimited
    } else if status == 401 || has("authError") {
        ApiError::Unauthorized
    } else if has("liveChatEnded") || has("liveChatNotFound") || status == 404 {
        ApiError::ChatEnded
    } else if status == 403 {
        ApiError::Forbidden(message)
    } else {
        ApiError::Other(status, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PAGE: &str = r#"{"kind":"youtube#liveChatMessageListResponse","etag":"e","nextPageToken":"GO-token","pollingIntervalMillis":4113,"pageInfo":{"totalResults":3,"resultsPerPage":3},"items":[
      {"kind":"youtube#liveChatMessage","etag":"a","id":"LCC.one","snippet":{"type":"textMessageEvent","liveChatId":"chat1","authorChannelId":"UCviewer","publishedAt":"2024-01-15T14:00:00.123Z","hasDisplayContent":true,"displayMessage":"Great stream!","textMessageDetails":{"messageText":"Great stream!"}},"authorDetails":{"channelId":"UCviewer","channelUrl":"http://www.youtube.com/channel/UCviewer","displayName":"Viewer1","profileImageUrl":"https://x","isVerified":false,"isChatOwner":false,"isChatSponsor":true,"isChatModerator":true}},
      {"kind":"youtube#liveChatMessage","etag":"b","id":"LCC.two","snippet":{"type":"superChatEvent","liveChatId":"chat1","authorChannelId":"UCfan","publishedAt":"2024-01-15T14:00:01Z","hasDisplayContent":true,"displayMessage":"$5.00 from Fan: thanks!","superChatDetails":{"amountMicros":"5000000","currency":"USD","amountDisplayString":"$5.00","userComment":"thanks!","tier":2}},"authorDetails":{"channelId":"UCfan","displayName":"Fan","isVerified":true,"isChatOwner":false,"isChatSponsor":false,"isChatModerator":false}},
      {"kind":"youtube#liveChatMessage","etag":"c","id":"LCC.three","snippet":{"type":"messageDeletedEvent","liveChatId":"chat1","authorChannelId":"UCmod","publishedAt":"2024-01-15T14:00:02Z","hasDisplayContent":false,"messageDeletedDetails":{"deletedMessageId":"LCC.zero"}}}
    ]}"#;

    #[test]
    fn page_is_normalised() {
        let p = parse_page(PAGE.as_bytes()).expect("parses");
        assert_eq!(p.next_page_token.as_deref(), Some("GO-token"));
        assert_eq!(p.polling_interval_ms, 4113);
        assert!(!p.ended);
        assert_eq!(p.deleted, ["LCC.zero"]);
        assert_eq!(p.messages.len(), 2);
        let m = &p.messages[0];
        assert_eq!(
            (m.platform, m.id.as_str(), m.author_id.as_str()),
            ("youtube", "LCC.one", "UCviewer")
        );
        assert_eq!(m.author_name, "Viewer1");
        assert_eq!(m.text, "Great stream!");
        assert_eq!(m.kind, "message");
        assert_eq!(m.badges, ["moderator", "member"]);
        assert_eq!(p.messages[1].kind, "system");
        assert_eq!(p.messages[1].badges, ["verified"]);
    }

    #[test]
    fn polling_interval_is_clamped_and_end_is_seen() {
        let p = parse_page(
            br#"{"pollingIntervalMillis":1,"offlineAt":"2024-01-15T15:00:00Z","items":[]}"#,
        )
        .expect("parses");
        assert_eq!(p.polling_interval_ms, MIN_POLL_MS);
        assert!(p.ended);
        let p = parse_page(br#"{"pollingIntervalMillis":99999999,"items":[{"id":"x","snippet":{"type":"chatEndedEvent"}}]}"#)
            .expect("parses");
        assert_eq!(p.polling_interval_ms, MAX_POLL_MS);
        assert!(p.ended);
    }

    #[test]
    fn errors_are_classified() {
        let quota = br#"{"error":{"code":403,"message":"The request cannot be completed because you have exceeded your quota.","errors":[{"message":"x","domain":"youtube.quota","reason":"quotaExceeded"}]}}"#;
        assert_eq!(parse_error(403, quota), ApiError::QuotaExceeded);
        let ended = br#"{"error":{"code":403,"message":"The live chat is no longer live.","errors":[{"domain":"youtube.liveChat","reason":"liveChatEnded"}]}}"#;
        assert_eq!(parse_error(403, ended), ApiError::ChatEnded);
        let auth = br#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","errors":[{"reason":"authError"}]}}"#;
        assert_eq!(parse_error(401, auth), ApiError::Unauthorized);
        assert_eq!(parse_error(429, b""), ApiError::RateLimited);
        assert_eq!(
            parse_error(403, br#"{"error":{"code":403,"message":"Live chat is disabled.","errors":[{"reason":"liveChatDisabled"}]}}"#),
            ApiError::Forbidden("Live chat is disabled.".into())
        );
        assert_eq!(
            parse_error(500, b"oops"),
            ApiError::Other(500, "HTTP 500".into())
        );
        assert!(ApiError::QuotaExceeded.describe().contains("quota"));
    }

    #[test]
    fn broadcasts_insert_and_token_replies() {
        let b = br#"{"kind":"youtube#liveBroadcastListResponse","items":[{"kind":"youtube#liveBroadcast","id":"b1","snippet":{"title":"Live","liveChatId":"Cg0KC2NoYXQx"}}]}"#;
        assert_eq!(active_live_chat_id(b), Ok(Some("Cg0KC2NoYXQx".into())));
        assert_eq!(active_live_chat_id(br#"{"items":[]}"#), Ok(None));
        let body = insert_body("chat1", "hello");
        assert_eq!(
            body["snippet"]["textMessageDetails"]["messageText"],
            "hello"
        );
        assert_eq!(
            inserted_id(br#"{"id":"LCC.sent","snippet":{}}"#),
            Ok("LCC.sent".into())
        );
        assert!(inserted_id(b"{}").is_err());
        let t = parse_token(
            br#"{"access_token":"ya29.new","expires_in":3599,"scope":"x","token_type":"Bearer"}"#,
        )
        .expect("token");
        assert_eq!((t.access_token.as_str(), t.expires_in), ("ya29.new", 3599));
        assert!(parse_token(br#"{"error":"invalid_grant"}"#).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), status in 100u16..600) {
            let _ = parse_page(&bytes);
            let _ = parse_error(status, &bytes);
            let _ = active_live_chat_id(&bytes);
            let _ = inserted_id(&bytes);
            let _ = parse_token(&bytes);
        }

        #[test]
        fn mutated_pages_never_panic(cut in 0usize..PAGE.len(), byte in any::<u8>()) {
            let mut b = PAGE.as_bytes().to_vec();
            b[cut] = byte;
            let _ = parse_page(&b);
            let _ = parse_page(&PAGE.as_bytes()[..cut]);
        }
    }
}
