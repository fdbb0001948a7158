//! Chat: what a message may be, and a source's moderation rules.
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
    /// It contains a word the source's moderators blocked.
    #[error("the message contains a blocked word")]
    Blocked,
    /// It contains a link, and links are off in this chat.
    #[error("links are not allowed in this chat")]
    Links,
    /// Slow mode: the author wrote less than the interval ago.
    #[error("slow mode is on; wait {0} s")]
    SlowMode(i64),
    /// The author is timed out (until the given time, ms) or banned (`None`).
    #[error("{}", match .0 { Some(_) => "you are timed out in this chat", None => "you are banned from this chat" })]
    Banned(Option<i64>),
}

/// The text a message is stored with: NFKC without bidi or invisible format characters
/// ([`crate::text`]); line breaks and tabs become spaces, other control
/// characters are removed, the ends are trimmed; at most [`MAX_MESSAGE_CHARS`] characters.
pub fn clean_text(text: &str) -> Result<String, ChatRefusal> {
    let text = crate::text::displayable(text);
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

/// Longest slow-mode interval, in seconds.
pub const MAX_SLOW_MODE_SECONDS: i64 = 3600;
/// Most blocked words per source.
pub const MAX_BLOCKED_WORDS: usize = 200;
/// Longest blocked word or phrase, in characters.
pub const MAX_BLOCKED_WORD_CHARS: usize = 50;
/// Longest timeout, in seconds (two weeks; longer is a ban).
pub const MAX_TIMEOUT_SECONDS: i64 = 14 * 24 * 3600;

/// A source's chat rules. The source's owner, its moderators and administrators are exempt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatRules {
    /// Seconds a viewer waits between messages; 0: off.
    pub slow_mode_seconds: i64,
    /// Words or phrases a message may not contain, lower case.
    pub blocked_words: Vec<String>,
    /// Whether viewers may post links.
    pub links_allowed: bool,
}

impl ChatRules {
    /// Rules as given by a moderator, checked and normalised (blocked words trimmed, lower
    /// case, without duplicates).
    pub fn new(
        slow_mode_seconds: i64,
        blocked_words: &[String],
        links_allowed: bool,
    ) -> Result<Self, String> {
        if !(0..=MAX_SLOW_MODE_SECONDS).contains(&slow_mode_seconds) {
            return Err(format!(
                "slow_mode_seconds: must be 0 (off) to {MAX_SLOW_MODE_SECONDS}"
            ));
        }
        if blocked_words.len() > MAX_BLOCKED_WORDS {
            return Err(format!("blocked_words: at most {MAX_BLOCKED_WORDS} words"));
        }
        let mut words: Vec<String> = Vec::with_capacity(blocked_words.len());
        for w in blocked_words {
            let w = w.trim().to_lowercase();
            if w.is_empty() || w.chars().count() > MAX_BLOCKED_WORD_CHARS {
                return Err(format!(
                    "blocked_words: each must be 1 to {MAX_BLOCKED_WORD_CHARS} characters"
                ));
            }
            if !words.contains(&w) {
                words.push(w);
            }
        }
        Ok(Self {
            slow_mode_seconds,
            blocked_words: words,
            links_allowed,
        })
    }

    /// Checks a viewer's cleaned message at `now_ms`, given when they last wrote here.
    pub fn check(
        &self,
        text: &str,
        last_sent_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<(), ChatRefusal> {
        if self.slow_mode_seconds > 0 {
            if let Some(last) = last_sent_ms {
                let next = last.saturating_add(self.slow_mode_seconds * 1000);
                if now_ms < next {
                    return Err(ChatRefusal::SlowMode((next - now_ms + 999) / 1000));
                }
            }
        }
        if contains_blocked(text, &self.blocked_words) {
            return Err(ChatRefusal::Blocked);
        }
        if !self.links_allowed && contains_link(text) {
            return Err(ChatRefusal::Links);
        }
        Ok(())
    }
}

/// Whether `text` contains one of `words` (lower case) as a whole word or phrase, ignoring case.
pub fn contains_blocked(text: &str, words: &[String]) -> bool {
    if words.is_empty() {
        return false;
    }
    let lower = text.to_lowercase();
    words.iter().any(|w| {
        lower.match_indices(w.as_str()).any(|(at, m)| {
            let before = lower[..at].chars().next_back();
            let after = lower[at + m.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

/// Whether `text` holds something a chat would show as a link: a URL with a scheme, `www.`,
/// or a host name such as `example.com` (letters before and a 2–24-letter ending after a dot).
pub fn contains_link(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>' | '"' | '\''))
        .map(|t| t.to_lowercase())
        .any(|t| {
            if t.contains("://") || t.starts_with("www.") {
                return true;
            }
            let host = t.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.trim_end_matches(['.', ',', '!', ':', ';']);
            let Some((name, tld)) = host.rsplit_once('.') else {
                return false;
            };
            let label = name.rsplit('.').next().unwrap_or("");
            (2..=24).contains(&tld.len())
                && tld.chars().all(|c| c.is_ascii_alphabetic())
                && !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && label.chars().any(|c| c.is_ascii_alphabetic())
        })
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

    #[test]
    fn rules_are_validated_and_normalised() {
        let r = ChatRules::new(
            30,
            &["  Spoiler ".into(), "spoiler".into(), "bad phrase".into()],
            false,
        )
        .expect("valid");
        assert_eq!(r.blocked_words, ["spoiler", "bad phrase"]);
        assert!(ChatRules::new(-1, &[], true).is_err());
        assert!(ChatRules::new(3601, &[], true).is_err());
        assert!(ChatRules::new(0, &[" ".into()], true).is_err());
        assert!(ChatRules::new(0, &["x".repeat(51)], true).is_err());
        assert!(ChatRules::new(0, &vec!["w".to_string(); 201], true).is_err());
    }

    #[test]
    fn blocked_words_match_whole_words_in_any_case() {
        let words = vec!["spoiler".to_string(), "bad phrase".to_string()];
        assert!(contains_blocked("No SPOILER please", &words));
        assert!(contains_blocked("spoiler!", &words));
        assert!(contains_blocked("a Bad Phrase here", &words));
        assert!(
            !contains_blocked("spoilers are fine", &words),
            "whole words only"
        );
        assert!(!contains_blocked("nothing to see", &words));
        assert!(!contains_blocked("anything", &[]));
    }

    #[test]
    fn links_are_recognised() {
        for t in [
            "see https://example.com",
            "www.example.org",
            "go to example.com/x",
            "shop.example.co.uk!",
            "(evil.io)",
        ] {
            assert!(contains_link(t), "{t}");
        }
        for t in [
            "e.g. this",
            "pi is 3.14",
            "hello world",
            "end of sentence.",
            "v1.2",
        ] {
            assert!(!contains_link(t), "{t}");
        }
    }

    #[test]
    fn check_applies_slow_mode_words_and_links() {
        let r = ChatRules::new(10, &["spoiler".into()], false).expect("valid");
        assert_eq!(r.check("hi", None, 0), Ok(()));
        assert_eq!(
            r.check("hi", Some(1_000), 5_000),
            Err(ChatRefusal::SlowMode(6))
        );
        assert_eq!(r.check("hi", Some(1_000), 11_000), Ok(()));
        assert_eq!(r.check("a spoiler", None, 0), Err(ChatRefusal::Blocked));
        assert_eq!(r.check("example.com", None, 0), Err(ChatRefusal::Links));
        let open = ChatRules::new(0, &[], true).expect("valid");
        assert_eq!(open.check("example.com", Some(0), 0), Ok(()));
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

        #[test]
        fn rule_checks_never_panic(text in "\\PC{0,80}", words in proptest::collection::vec("\\PC{1,8}", 0..5)) {
            let words: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
            let _ = contains_blocked(&text, &words);
            let _ = contains_link(&text);
        }
    }
}
