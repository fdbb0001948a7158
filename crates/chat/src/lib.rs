//! Platform chat protocols, sans-I/O: what Twitch's EventSub WebSocket and Helix chat API and
//! YouTube's Live Chat API send, parsed and normalised into one [`ChatMessage`] shape. Nothing
//! here opens a socket; the connectors that do live in the server.
//!
//! Every input is hostile until parsed: payloads are bounded ([`MAX_PAYLOAD`]), every field is
//! optional until checked, and an unknown message kind is reported as such rather than failing.
#![deny(missing_docs)]

pub mod stream;
pub mod twitch;
pub mod youtube;

use serde::Serialize;

/// Largest payload parsed (a YouTube page of 2 000 messages fits; an EventSub message is a few
/// KiB).
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;
/// Longest text kept from a platform message, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// A chat message from a platform, in ferrocast's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `youtube` or `twitch`.
    pub platform: &'static str,
    /// The platform's id of the message (what makes a redelivery recognisable).
    pub id: String,
    /// The author's id on the platform.
    pub author_id: String,
    /// The author's display name.
    pub author_name: String,
    /// The text.
    pub text: String,
    /// `message`, `action` (a `/me` message) or `system` (a paid message, a membership…).
    pub kind: &'static str,
    /// The author's badges (`moderator`, `subscriber`, `broadcaster`, `member`, `verified`…).
    pub badges: Vec<String>,
    /// Emotes in the text.
    pub emotes: Vec<Emote>,
}

/// An emote inside a message's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Emote {
    /// The platform's emote id.
    pub id: String,
    /// The text it replaces.
    pub text: String,
}

/// Why a payload could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Over [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Not the JSON the platform documents.
    #[error("malformed payload: {0}")]
    Malformed(String),
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, ParseError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(ParseError::TooLarge(payload.len()));
    }
    serde_json::from_slice(payload).map_err(|e| ParseError::Malformed(e.to_string()))
}

/// `text` cut to [`MAX_TEXT_CHARS`] characters.
pub(crate) fn bounded(text: &str) -> String {
    text.chars().take(MAX_TEXT_CHARS).collect()
}
