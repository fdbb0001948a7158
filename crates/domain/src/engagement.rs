//! Engagement with videos: what a comment may be, how a view is counted once per viewer, how
//! much watch time a player's heartbeat may claim, and how trending weighs engagement over time.
//! Storage and transport live elsewhere.

use crate::chat::ChatRefusal;

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;
/// Most line breaks kept in a comment (more are joined with spaces).
pub const MAX_COMMENT_LINES: usize = 20;
/// Longest report reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// A viewer's views of one video count once per this window (30 minutes): a reload, another tab
/// or a player that starts again within it is the same view.
pub const VIEW_WINDOW_MS: i64 = 30 * 60 * 1000;

/// What a heartbeat may claim beyond the wall time that passed: the player measures on its own
/// clock, and its first beat may race the view's answer.
pub const HEARTBEAT_SLACK_MS: i64 = 2_000;
/// The most one heartbeat may claim (players beat every 15 s; a tab whose beats could not be
/// sent for a while sends one late beat).
pub const MAX_HEARTBEAT_SECONDS: f64 = 600.0;
/// The most wall time a view banks while no heartbeat comes: a view left open (or an old view
/// id replayed) cannot claim the hours since it began, only this much more than the time
/// since.
pub const MAX_BANKED_MS: i64 = 600_000;

/// Half-life of engagement in trending: what happened a day ago counts half as much.
pub const TRENDING_HALF_LIFE_MS: i64 = 24 * 3600 * 1000;
/// How far back trending looks (7 half-lives: older engagement weighs under 1 %).
pub const TRENDING_WINDOW_MS: i64 = 7 * TRENDING_HALF_LIFE_MS;
/// Weight of a view in trending.
pub const WEIGHT_VIEW: f64 = 1.0;
/// Weight of a like.
pub const WEIGHT_LIKE: f64 = 3.0;
/// Weight of a comment.
pub const WEIGHT_COMMENT: f64 = 5.0;
/// Weight of a minute watched.
pub const WEIGHT_WATCH_MINUTE: f64 = 0.5;

/// The text a comment is stored with: as chat cleans a message ([`crate::text::displayable`],
/// control characters removed) but keeping up to [`MAX_COMMENT_LINES`] line breaks (runs of
/// blank lines become one); trimmed; 1 to [`MAX_COMMENT_CHARS`] characters.
pub fn clean_comment(text: &str) -> Result<String, ChatRefusal> {
    let text = crate::text::displayable(text);
    let mut lines: Vec<String> = Vec::new();
    let mut blank = false;
    for raw in text.lines() {
        let line: String = raw
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .filter(|c| !c.is_control())
            .collect();
        let line = line.trim_end().to_string();
        if line.trim().is_empty() {
            blank = !lines.is_empty();
            continue;
        }
        if blank {
            lines.push(String::new());
            blank = false;
        }
        lines.push(line);
    }
    let joined = if lines.len() > MAX_COMMENT_LINES {
        let (head, tail) = lines.split_at(MAX_COMMENT_LINES - 1);
        let mut v = head.to_vec();
        v.push(tail.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "));
        v.join("\n")
    } else {
        lines.join("\n")
    };
    let cleaned = joined.trim();
    if cleaned.is_empty() {
        return Err(ChatRefusal::Empty);
    }
    if cleaned.chars().count() > MAX_COMMENT_CHARS {
        return Err(ChatRefusal::TooLong);
    }
    Ok(cleaned.to_string())
}

/// A report's reason, cleaned: one line, 1 to [`MAX_REASON_CHARS`] characters.
pub fn clean_reason(text: &str) -> Result<String, String> {
    let cleaned: String = crate::text::displayable(text)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.is_empty() || cleaned.chars().count() > MAX_REASON_CHARS {
        return Err(format!(
            "reason: say in 1 to {MAX_REASON_CHARS} characters what is wrong with it"
        ));
    }
    Ok(cleaned)
}

/// How many milliseconds of a heartbeat's claim to credit, and the view's new `credited_until`.
///
/// A view's heartbeats use up wall time: `credited_until` starts at the view's start and moves
/// on by what each beat is credited. A beat is credited what the player says it played, but
/// never more than the wall time from `credited_until` to now (plus [`HEARTBEAT_SLACK_MS`]),
/// and wall time older than [`MAX_BANKED_MS`] is forfeited. So beats sent faster, twice, from
/// two tabs or with inflated numbers add up to no more than the time that passed since the view
/// began (plus the slack), and a view left idle cannot be replayed for hours of watch time.
pub fn heartbeat_credit(claimed_ms: i64, credited_until: i64, now_ms: i64) -> (i64, i64) {
    let from = credited_until.max(now_ms - MAX_BANKED_MS);
    let allowance = (now_ms - from + HEARTBEAT_SLACK_MS).max(0);
    let credit = claimed_ms.clamp(0, allowance);
    (credit, from + credit)
}

/// The weight at `now_ms` of engagement that happened at `at_ms`: 1 now, ½ one half-life ago.
pub fn decay(at_ms: i64, now_ms: i64) -> f64 {
    let age = (now_ms - at_ms).max(0) as f64;
    0.5f64.powf(age / TRENDING_HALF_LIFE_MS as f64)
}

/// Engagement of a video within one period, the unit trending adds up.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Engagement {
    /// Views counted.
    pub views: i64,
    /// Likes given.
    pub likes: i64,
    /// Comments written.
    pub comments: i64,
    /// Watch time credited (ms).
    pub watch_ms: i64,
}

impl Engagement {
    /// The undecayed score.
    pub fn score(&self) -> f64 {
        self.views as f64 * WEIGHT_VIEW
            + self.likes as f64 * WEIGHT_LIKE
            + self.comments as f64 * WEIGHT_COMMENT
            + self.watch_ms as f64 / 60_000.0 * WEIGHT_WATCH_MINUTE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn comments_keep_lines_and_lose_controls() {
        assert_eq!(
            clean_comment("  hi \n  indented  ").as_deref(),
            Ok("hi\n  indented"),
            "indentation is kept"
        );
        assert_eq!(clean_comment("a\n\n\n\nb").as_deref(), Ok("a\n\nb"));
        assert_eq!(clean_comment("x\u{7}y\u{202E}z").as_deref(), Ok("xyz"));
        assert_eq!(clean_comment(" \n\t "), Err(ChatRefusal::Empty));
        assert_eq!(clean_comment(&"é".repeat(2001)), Err(ChatRefusal::TooLong));
        let many = (0..30)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            clean_comment(&many).expect("ok").lines().count(),
            MAX_COMMENT_LINES
        );
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        assert_eq!(clean_reason(" spam\n\nhere ").as_deref(), Ok("spam here"));
        assert!(clean_reason("  ").is_err());
        assert!(clean_reason(&"x".repeat(501)).is_err());
    }

    #[test]
    fn heartbeats_never_credit_more_than_the_time_that_passed() {
        // 15 s after the view, a claim of 15 s is credited.
        assert_eq!(heartbeat_credit(15_000, 0, 15_000), (15_000, 15_000));
        // A claim of an hour 15 s in: only the wall time (and the slack).
        assert_eq!(heartbeat_credit(3_600_000, 0, 15_000), (17_000, 17_000));
        // A second beat at once: nothing left to credit but what the slack leaves.
        assert_eq!(heartbeat_credit(15_000, 17_000, 15_100), (100, 17_100));
        // Negative claims credit nothing.
        assert_eq!(heartbeat_credit(-5, 0, 10_000), (0, 0));
        // A clock that went back credits nothing.
        assert_eq!(heartbeat_credit(1000, 50_000, 10_000), (0, 50_000));
        // A view idle for hours banks ten minutes, not the hours.
        let hours = 5 * 3_600_000;
        assert_eq!(
            heartbeat_credit(3_600_000, 0, hours),
            (
                MAX_BANKED_MS + HEARTBEAT_SLACK_MS,
                hours + HEARTBEAT_SLACK_MS
            )
        );
    }

    #[test]
    fn decay_halves_per_half_life() {
        assert!((decay(0, 0) - 1.0).abs() < 1e-12);
        assert!((decay(0, TRENDING_HALF_LIFE_MS) - 0.5).abs() < 1e-12);
        assert!((decay(0, 2 * TRENDING_HALF_LIFE_MS) - 0.25).abs() < 1e-12);
        assert!((decay(10, 0) - 1.0).abs() < 1e-12, "the future is now");
    }

    proptest! {
        #[test]
        fn beats_add_up_to_at_most_the_elapsed_time(beats in proptest::collection::vec((0i64..900_000, 0i64..700_000), 1..40)) {
            let (mut now, mut until, mut credited) = (0, 0, 0);
            for (gap, claim) in beats {
                now += gap;
                let (credit, next) = heartbeat_credit(claim, until, now);
                prop_assert!(credit >= 0 && credit <= claim);
                prop_assert!(next >= until);
                until = next;
                credited += credit;
                prop_assert!(credited <= now + HEARTBEAT_SLACK_MS);
                prop_assert!(until <= now + HEARTBEAT_SLACK_MS);
            }
        }

        #[test]
        fn cleaned_comments_are_bounded(s in "\\PC*|[\\x00-\\x20a\\n]{0,3000}") {
            if let Ok(t) = clean_comment(&s) {
                prop_assert!(!t.is_empty());
                prop_assert!(t.chars().count() <= MAX_COMMENT_CHARS);
                prop_assert!(t.lines().count() <= MAX_COMMENT_LINES);
                prop_assert!(!t.chars().any(|c| c.is_control() && c != '\n'));
            }
        }
    }
}
