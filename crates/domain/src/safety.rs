//! Trust and safety rules: what may be reported and why, what a moderator may decide, how long a
//! strike counts, and when strikes restrict an account. Storage and transport live elsewhere.
//!
//! Policy: a strike counts for [`STRIKE_LIFETIME_MS`] (90 days) from when it was issued, unless
//! it is overturned on appeal. While [`RESTRICT_AT`] (three) or more count, the account is
//! restricted: it may sign in, read its standing and appeal, but it may not stream or upload,
//! and its live streams end. The restriction lifts by itself when enough strikes expire.

/// How long a strike counts: 90 days.
pub const STRIKE_LIFETIME_MS: i64 = 90 * 24 * 3600 * 1000;
/// Strikes in force that restrict an account.
pub const RESTRICT_AT: u32 = 3;
/// Longest free text of a report, an appeal or a moderator's note, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;
/// Longest strike reason, in characters.
pub const MAX_STRIKE_REASON_CHARS: usize = 300;

/// What can be reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A channel (its owner's account).
    Channel,
    /// A live stream (its source).
    LiveStream,
    /// A video (recording, upload or short).
    Video,
    /// A comment on a video.
    Comment,
    /// A message in a live chat.
    ChatMessage,
    /// A social post on a channel.
    Post,
    /// A comment on a post.
    PostComment,
}

impl TargetKind {
    /// Every kind.
    pub const ALL: [TargetKind; 7] = [
        TargetKind::Channel,
        TargetKind::LiveStream,
        TargetKind::Video,
        TargetKind::Comment,
        TargetKind::ChatMessage,
        TargetKind::Post,
        TargetKind::PostComment,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Channel => "channel",
            TargetKind::LiveStream => "live_stream",
            TargetKind::Video => "video",
            TargetKind::Comment => "comment",
            TargetKind::ChatMessage => "chat_message",
            TargetKind::Post => "post",
            TargetKind::PostComment => "post_comment",
        }
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// In words, for people.
    pub fn label(self) -> &'static str {
        match self {
            TargetKind::Channel => "channel",
            TargetKind::LiveStream => "live stream",
            TargetKind::Video => "video",
            TargetKind::Comment => "comment",
            TargetKind::ChatMessage => "chat message",
            TargetKind::Post => "post",
            TargetKind::PostComment => "comment on a post",
        }
    }

    /// Whether "remove content" applies (a channel is dealt with by suspending or banning it).
    pub fn removable(self) -> bool {
        !matches!(self, TargetKind::Channel)
    }
}

/// Why something is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Spam, scams, misleading links.
    Spam,
    /// Harassment or bullying.
    Harassment,
    /// Hate speech.
    Hate,
    /// Violence or threats.
    Violence,
    /// Sexual content.
    Sexual,
    /// Self-harm.
    SelfHarm,
    /// Someone else's work (a formal copyright notice goes through the DMCA form).
    Copyright,
    /// Anything else (the text says what).
    Other,
}

impl Category {
    /// Every category, in the order forms show them.
    pub const ALL: [Category; 8] = [
        Category::Spam,
        Category::Harassment,
        Category::Hate,
        Category::Violence,
        Category::Sexual,
        Category::SelfHarm,
        Category::Copyright,
        Category::Other,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Spam => "spam",
            Category::Harassment => "harassment",
            Category::Hate => "hate",
            Category::Violence => "violence",
            Category::Sexual => "sexual",
            Category::SelfHarm => "self_harm",
            Category::Copyright => "copyright",
            Category::Other => "other",
        }
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// In words.
    pub fn label(self) -> &'static str {
        match self {
            Category::Spam => "Spam or scam",
            Category::Harassment => "Harassment or bullying",
            Category::Hate => "Hate speech",
            Category::Violence => "Violence or threats",
            Category::Sexual => "Sexual content",
            Category::SelfHarm => "Self-harm",
            Category::Copyright => "Copyright",
            Category::Other => "Something else",
        }
    }
}

/// What a moderator decides on a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Nothing wrong.
    Dismiss,
    /// The content goes (chat message or comment deleted, video made private, live stream ended).
    Remove,
    /// The content goes and its author is warned.
    Warn,
    /// The content goes and its author gets a strike.
    Strike,
    /// The author's account is suspended (administrators).
    Suspend,
    /// The author's account is banned (administrators).
    Ban,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 6] = [
        Outcome::Dismiss,
        Outcome::Remove,
        Outcome::Warn,
        Outcome::Strike,
        Outcome::Suspend,
        Outcome::Ban,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Dismiss => "dismiss",
            Outcome::Remove => "remove",
            Outcome::Warn => "warn",
            Outcome::Strike => "strike",
            Outcome::Suspend => "suspend",
            Outcome::Ban => "ban",
        }
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether only an administrator may decide it (moderators may decide the others).
    pub fn admin_only(self) -> bool {
        matches!(self, Outcome::Suspend | Outcome::Ban)
    }

    /// Whether the reported content is taken down with it.
    pub fn removes_content(self) -> bool {
        !matches!(self, Outcome::Dismiss)
    }

    /// The report's status after it: `dismissed` or `resolved`.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Dismiss => "dismissed",
            _ => "resolved",
        }
    }

    /// What the reporter is told happened.
    pub fn told_reporter(self) -> &'static str {
        match self {
            Outcome::Dismiss => "A moderator reviewed it and found no rule broken.",
            Outcome::Remove => "A moderator removed it.",
            Outcome::Warn => "A moderator removed it and warned its author.",
            Outcome::Strike => "A moderator removed it and gave its author a strike.",
            Outcome::Suspend => "A moderator removed it and suspended its author's account.",
            Outcome::Ban => "A moderator removed it and banned its author's account.",
        }
    }
}

/// A strike as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrikeTerm {
    /// When it stops counting (ms).
    pub expires_at: i64,
    /// Whether it was overturned on appeal.
    pub overturned: bool,
}

/// When a strike issued at `issued_at` stops counting.
pub fn strike_expires_at(issued_at: i64) -> i64 {
    issued_at.saturating_add(STRIKE_LIFETIME_MS)
}

impl StrikeTerm {
    /// Whether it counts at `now`.
    pub fn active(&self, now: i64) -> bool {
        !self.overturned && now < self.expires_at
    }
}

/// An account's standing at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Strikes that count now.
    pub active: u32,
    /// Whether streaming and uploads are refused.
    pub restricted: bool,
    /// When the restriction lifts by itself if nothing changes (ms); `None` when not restricted.
    pub restricted_until: Option<i64>,
}

/// The standing that `strikes` give at `now`: restricted while [`RESTRICT_AT`] or more count,
/// until enough of them expire to leave fewer.
pub fn standing(strikes: &[StrikeTerm], now: i64) -> Standing {
    let mut ends: Vec<i64> = strikes
        .iter()
        .filter(|s| s.active(now))
        .map(|s| s.expires_at)
        .collect();
    ends.sort_unstable();
    let active = ends.len() as u32;
    let restricted = active >= RESTRICT_AT;
    // With n counting, the restriction lifts when n - (RESTRICT_AT - 1) have expired: at the
    // expiry of the (n - RESTRICT_AT + 1)-th soonest.
    let restricted_until = restricted.then(|| ends[(active - RESTRICT_AT) as usize]);
    Standing {
        active,
        restricted,
        restricted_until,
    }
}

/// What a restricted account is told when it tries to stream or upload.
pub fn restriction_reason(s: &Standing) -> String {
    let until = s
        .restricted_until
        .map(|t| format!(" until {}", crate::time::rfc3339_ms(t)))
        .unwrap_or_default();
    format!(
        "the account is restricted{until}: it has {} active strikes ({} restrict streaming and uploads); see My standing to appeal",
        s.active, RESTRICT_AT
    )
}

/// Free text from users (report details, appeal statements, moderators' notes): control
/// characters become spaces, whitespace runs are kept as single spaces except line breaks (at
/// most 20), and the length is bounded. `required`: whether empty is refused.
pub fn clean_text(field: &str, text: &str, max: usize, required: bool) -> Result<String, String> {
    let mut lines = Vec::new();
    for line in crate::text::displayable(text).lines() {
        let line: String = line
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if !line.is_empty() {
            lines.push(line);
        }
    }
    let joined = if lines.len() > 20 {
        lines.join(" ")
    } else {
        lines.join("\n")
    };
    let n = joined.chars().count();
    if n > max {
        return Err(format!("{field}: at most {max} characters (this is {n})"));
    }
    if required && joined.is_empty() {
        return Err(format!(
            "{field}: say in 1 to {max} characters what happened"
        ));
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600 * 1000;

    fn strike(issued_at: i64) -> StrikeTerm {
        StrikeTerm {
            expires_at: strike_expires_at(issued_at),
            overturned: false,
        }
    }

    #[test]
    fn a_strike_counts_for_ninety_days_exactly() {
        let s = strike(1_000);
        assert!(s.active(1_000));
        assert!(s.active(1_000 + 90 * DAY - 1));
        assert!(!s.active(1_000 + 90 * DAY));
        let overturned = StrikeTerm {
            overturned: true,
            ..s
        };
        assert!(!overturned.active(1_000));
    }

    #[test]
    fn three_active_strikes_restrict_until_the_first_expires() {
        let now = 200 * DAY;
        let strikes = [strike(now - 80 * DAY), strike(now - 10 * DAY), strike(now)];
        let s = standing(&strikes, now);
        assert_eq!(s.active, 3);
        assert!(s.restricted);
        assert_eq!(s.restricted_until, Some(now + 10 * DAY));
        // Ten days later the oldest has expired: two count, no restriction.
        let later = standing(&strikes, now + 10 * DAY);
        assert_eq!(later.active, 2);
        assert!(!later.restricted);
        assert_eq!(later.restricted_until, None);
    }

    #[test]
    fn two_strikes_do_not_restrict_and_old_or_overturned_ones_do_not_count() {
        let now = 500 * DAY;
        let mut strikes = vec![strike(now - 91 * DAY), strike(now - DAY), strike(now)];
        let s = standing(&strikes, now);
        assert_eq!((s.active, s.restricted), (2, false));
        strikes.push(StrikeTerm {
            expires_at: strike_expires_at(now),
            overturned: true,
        });
        assert_eq!(standing(&strikes, now).active, 2);
        assert_eq!(standing(&[], now).active, 0);
    }

    #[test]
    fn with_four_strikes_the_restriction_lasts_until_two_have_expired() {
        let now = 300 * DAY;
        let strikes = [
            strike(now - 60 * DAY),
            strike(now - 50 * DAY),
            strike(now - 5 * DAY),
            strike(now),
        ];
        let s = standing(&strikes, now);
        assert_eq!(s.active, 4);
        assert_eq!(s.restricted_until, Some(now + 40 * DAY));
        assert!(standing(&strikes, now + 40 * DAY - 1).restricted);
        assert!(!standing(&strikes, now + 40 * DAY).restricted);
    }

    #[test]
    fn the_restriction_reason_says_why_until_when_and_where_to_appeal() {
        let s = Standing {
            active: 3,
            restricted: true,
            restricted_until: Some(0),
        };
        let r = restriction_reason(&s);
        assert!(r.contains("3 active strikes"), "{r}");
        assert!(r.contains("until 1970-01-01T00:00:00"), "{r}");
        assert!(r.contains("appeal"), "{r}");
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for k in TargetKind::ALL {
            assert_eq!(TargetKind::parse(k.as_str()), Some(k));
        }
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
        }
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(TargetKind::parse("user"), None);
        assert_eq!(Category::parse(""), None);
        assert_eq!(Outcome::parse("Ban"), None);
        assert!(Outcome::Ban.admin_only() && Outcome::Suspend.admin_only());
        assert!(!Outcome::Strike.admin_only());
        assert!(!TargetKind::Channel.removable());
    }

    #[test]
    fn text_is_cleaned_and_bounded() {
        assert_eq!(
            clean_text("details", "  spam \u{7}  here\n\n  again ", 100, true).expect("clean"),
            "spam here\nagain"
        );
        assert!(clean_text("details", "   ", 100, true).is_err());
        assert_eq!(
            clean_text("details", "", 100, false).expect("empty allowed"),
            ""
        );
        let long = "x".repeat(101);
        let e = clean_text("details", &long, 100, true).expect_err("too long");
        assert!(e.contains("at most 100"), "{e}");
    }
}
