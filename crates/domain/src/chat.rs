//! Chat: what a message may be.
//! Transport (Socket.IO, platform connectors) and storage live elsewhere.

/// Longest chat message, in characters (YouTube allows 200, Twitch 500).
pub const MAX_MESSAGE_CHARS: usize = 500;

/// Where a message came from.
pub const PLATFORMS: &[&str] = &["native", "youtube", "twitch"];

/// Why a message was not accepted, in words for its author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatRefusal {
    /// Nothing left after trimming.
    #[error("the message is empty")]
    Empty,
    /// Over [`MAX_MESSAGE_CHARS`].
    #[error("the message is longer than {MAX_MESSAGE_CHARS} characters")]
    TooLong,
}

/// The text a message is stored with: line breaks and tabs become spaces, other control
/// characters are removed, the ends are trimmed; at most [`MAX_MESSAGE_CHARS`] characters.
pub fn clean_text(text: &str) -> Result<String, ChatRefusal> {
    let cleaned: String = text
        .trim()
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control())
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Err(ChatRefusal::Empty);
    }
    if cleaned.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ChatRefusal::TooLong);
    }
    Ok(cleaned.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(clean_text("  hi there \n").as_deref(), Ok("hi there"));
        assert_eq!(clean_text("a\u{0}b\u{7}c"), Ok("abc".into()));
        assert_eq!(clean_text("line\nbreak"), Ok("line break".into()));
        assert_eq!(clean_text(" \n\t "), Err(ChatRefusal::Empty));
        assert_eq!(
            clean_text(&"é".repeat(500)).map(|s| s.chars().count()),
            Ok(500)
        );
        assert_eq!(clean_text(&"é".repeat(501)), Err(ChatRefusal::TooLong));
    }

    proptest! {
        #[test]
        fn cleaned_text_is_never_empty_long_or_controlled(s in "\\PC*|[\\x00-\\x20a]{0,600}") {
            if let Ok(t) = clean_text(&s) {
                prop_assert!(!t.is_empty());
                prop_assert!(t.chars().count() <= MAX_MESSAGE_CHARS);
                prop_assert!(!t.chars().any(char::is_control));
                prop_assert_eq!(t.trim(), t.as_str());
            }
        }
    }
}
