//! A creator's schedule: the rules for an upcoming stream (title, start, duration, reminder)
//! and its iCalendar feed (RFC 5545): `VCALENDAR` with one `VEVENT` per stream, times in UTC,
//! text escaped, lines of at most 75 octets folded, CRLF line ends.

use crate::stream_info::clean_title;
use crate::time::{civil_from_days, days_from_civil, DAY_MS};

/// Shortest stream a schedule holds (minutes).
pub const MIN_DURATION_MINUTES: i64 = 5;
/// Longest stream a schedule holds (minutes): a day.
pub const MAX_DURATION_MINUTES: i64 = 24 * 60;
/// Latest reminder before the start (minutes): a week.
pub const MAX_REMINDER_MINUTES: i64 = 7 * 24 * 60;
/// How far ahead a stream may be scheduled (ms): a year.
pub const MAX_AHEAD_MS: i64 = 366 * DAY_MS;
/// Upcoming streams a channel holds at most.
pub const MAX_UPCOMING: i64 = 100;

/// A stream's title: 1 to 140 characters on one line.
pub fn title(raw: &str) -> Result<String, String> {
    clean_title(raw)?.ok_or_else(|| "title: say what the stream is (1 to 140 characters)".into())
}

/// A duration in minutes, within bounds.
pub fn duration_minutes(m: i64) -> Result<i64, String> {
    if (MIN_DURATION_MINUTES..=MAX_DURATION_MINUTES).contains(&m) {
        Ok(m)
    } else {
        Err(format!(
            "duration_minutes: must be {MIN_DURATION_MINUTES} to {MAX_DURATION_MINUTES} (a day)"
        ))
    }
}

/// A reminder in minutes before the start (`None`: none).
pub fn reminder_minutes(m: Option<i64>) -> Result<Option<i64>, String> {
    match m {
        Some(m) if !(0..=MAX_REMINDER_MINUTES).contains(&m) => Err(format!(
            "reminder_minutes: must be 0 to {MAX_REMINDER_MINUTES} (a week), or null for none"
        )),
        m => Ok(m),
    }
}

/// A start: an RFC 3339 instant, not in the past (a minute's grace) and at most a year ahead.
pub fn starts_at(raw: &str, now_ms: i64) -> Result<i64, String> {
    let at = parse_instant(raw).ok_or_else(|| {
        "starts_at: must be an RFC 3339 time with its offset, such as 2026-12-24T18:00:00Z"
            .to_string()
    })?;
    if at < now_ms - 60_000 {
        return Err("starts_at: is in the past; choose a time to come".into());
    }
    if at > now_ms + MAX_AHEAD_MS {
        return Err("starts_at: at most a year ahead".into());
    }
    Ok(at)
}

fn digits(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses RFC 3339 (`2026-12-24T18:00:00Z`, `…T18:00:00.5+01:00`, `t` or a space for `T`,
/// seconds optional) to Unix milliseconds.
pub fn parse_instant(raw: &str) -> Option<i64> {
    let s = raw.trim();
    if !s.is_ascii() || s.len() < 16 || s.len() > 40 {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let mut d = date.split('-');
    let (y, m, day) = (digits(d.next()?)?, digits(d.next()?)?, digits(d.next()?)?);
    if d.next().is_some() || date.as_bytes()[4] != b'-' || !(1..=12).contains(&m) {
        return None;
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    // The offset: Z, or ±HH:MM.
    let (time, offset_min) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        let (oh, om) = (digits(oh)?, digits(om)?);
        if oh > 23 || om > 59 {
            return None;
        }
        (t, sign * (oh * 60 + om))
    };
    let (clock, frac) = match time.split_once('.') {
        Some((c, f)) => (c, Some(f)),
        None => (time, None),
    };
    let mut c = clock.split(':');
    let (h, mi) = (digits(c.next()?)?, digits(c.next()?)?);
    let sec = match c.next() {
        Some(s) => digits(s)?,
        None => 0,
    };
    if c.next().is_some() || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let ms = match frac {
        Some(f) => {
            let f: String = f.chars().chain("000".chars()).take(3).collect();
            digits(&f)?
        }
        None => 0,
    };
    let month_days = days_from_civil(
        if m == 12 { y + 1 } else { y },
        if m == 12 { 1 } else { m as u32 + 1 },
        1,
    ) - days_from_civil(y, m as u32, 1);
    if day < 1 || day > month_days {
        return None;
    }
    let days = days_from_civil(y, m as u32, day as u32);
    Some(days * DAY_MS + ((h * 60 + mi) * 60 + sec.min(59)) * 1000 + ms - offset_min * 60_000)
}

/// One stream in a calendar.
#[derive(Debug, Clone)]
pub struct CalendarEvent<'a> {
    /// Stable and unique: `<id>@<host>`.
    pub uid: String,
    /// The title.
    pub summary: &'a str,
    /// More words (the channel's name and where to watch).
    pub description: String,
    /// The channel's page.
    pub url: String,
    /// Start (Unix ms).
    pub start_ms: i64,
    /// End (Unix ms).
    pub end_ms: i64,
    /// Last change (Unix ms).
    pub updated_ms: i64,
    /// Minutes before the start a calendar reminds, if at all.
    pub reminder_minutes: Option<i64>,
    /// The category's name.
    pub category: Option<String>,
}

/// A time as iCalendar writes UTC: `20261224T180000Z`.
pub fn ics_time(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let s = ms.rem_euclid(DAY_MS) / 1000;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// TEXT as RFC 5545 §3.3.11 escapes it: backslash, semicolon, comma, line breaks; other
/// control characters dropped.
pub fn ics_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A content line folded at 75 octets (RFC 5545 §3.1): continuation lines start with a space;
/// a UTF-8 character is never split. Ends with CRLF.
pub fn ics_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3 + 2);
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
    out
}

/// A whole calendar named `name`, stamped `now_ms`.
pub fn calendar(name: &str, events: &[CalendarEvent<'_>], now_ms: i64) -> String {
    let mut out = String::new();
    let mut line = |s: String| out.push_str(&ics_line(&s));
    line("BEGIN:VCALENDAR".into());
    line("VERSION:2.0".into());
    line("PRODID:-//ferrocast//Schedule//EN".into());
    line("CALSCALE:GREGORIAN".into());
    line("METHOD:PUBLISH".into());
    line(format!("X-WR-CALNAME:{}", ics_text(name)));
    line("REFRESH-INTERVAL;VALUE=DURATION:PT1H".into());
    for e in events {
        line("BEGIN:VEVENT".into());
        line(format!("UID:{}", ics_text(&e.uid)));
        line(format!("DTSTAMP:{}", ics_time(now_ms)));
        line(format!("LAST-MODIFIED:{}", ics_time(e.updated_ms)));
        line(format!("DTSTART:{}", ics_time(e.start_ms)));
        line(format!("DTEND:{}", ics_time(e.end_ms)));
        line(format!("SUMMARY:{}", ics_text(e.summary)));
        line(format!("DESCRIPTION:{}", ics_text(&e.description)));
        line(format!("URL:{}", e.url));
        if let Some(c) = &e.category {
            line(format!("CATEGORIES:{}", ics_text(c)));
        }
        if let Some(m) = e.reminder_minutes {
            line("BEGIN:VALARM".into());
            line("ACTION:DISPLAY".into());
            line(format!("DESCRIPTION:{}", ics_text(e.summary)));
            line(format!("TRIGGER:-PT{m}M"));
            line("END:VALARM".into());
        }
        line("END:VEVENT".into());
    }
    line("END:VCALENDAR".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse() {
        assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_instant("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_instant("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_instant("1969-12-31T19:00-05:00"), Some(0));
        assert_eq!(
            parse_instant("2026-12-24T18:00:00Z")
                .map(ics_time)
                .as_deref(),
            Some("20261224T180000Z")
        );
        for bad in [
            "",
            "2026-02-30T10:00:00Z",
            "2026-12-24",
            "2026-12-24T25:00:00Z",
            "2026-12-24T10:00:00",
            "yesterday",
            "2026-12-24T10:00:00+0100",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn lines_fold_at_75_octets_and_text_is_escaped() {
        assert_eq!(ics_text("a,b;c\\d\ne\r\nf\u{7}"), "a\\,b\\;c\\\\d\\ne\\nf");
        let long = format!("SUMMARY:{}", "é".repeat(100));
        let folded = ics_line(&long);
        assert!(folded.ends_with("\r\n"));
        for l in folded.trim_end_matches("\r\n").split("\r\n") {
            assert!(l.len() <= 75, "{l}");
        }
        let unfolded = folded.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, long);
    }
}
