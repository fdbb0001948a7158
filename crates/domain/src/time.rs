//! Dates and times, one place for the whole application: Unix milliseconds to and from the
//! proleptic Gregorian calendar (Howard Hinnant's algorithms), UTC days and months as billing
//! and usage count them, and RFC 3339 as the API writes instants. Services read "now" from their
//! clock port; everything here is a pure function of the instant given. (The HLS packager in
//! `crates/media` writes `EXT-X-PROGRAM-DATE-TIME` with its own formatter, because protocol
//! crates depend on nothing of ours; a test here checks that the two agree.)

/// Milliseconds in a day (UTC days have no leap seconds in Unix time).
pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01 (Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC calendar month holding `at_ms`: its start and end (exclusive) in Unix ms, and its
/// `YYYY-MM` label.
pub fn month_bounds(at_ms: i64) -> (i64, i64, String) {
    let (y, m, _) = civil_from_days(at_ms.div_euclid(DAY_MS));
    let start = days_from_civil(y, m, 1) * DAY_MS;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let end = days_from_civil(ny, nm, 1) * DAY_MS;
    (start, end, format!("{y:04}-{m:02}"))
}

/// `at_ms` moved by `months` calendar months (UTC), the time of day kept and the day clamped to
/// the month's length (31 January + 1 month = 28 or 29 February).
pub fn add_months(at_ms: i64, months: i64) -> i64 {
    let days = at_ms.div_euclid(DAY_MS);
    let time = at_ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let index = y * 12 + (m as i64 - 1) + months;
    let (ny, nm) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
    let (fy, fm) = if nm == 12 { (ny + 1, 1) } else { (ny, nm + 1) };
    let month_len = (days_from_civil(fy, fm, 1) - days_from_civil(ny, nm, 1)) as u32;
    days_from_civil(ny, nm, d.min(month_len)) * DAY_MS + time
}

/// The UTC day holding `at_ms`: start and end (exclusive) in Unix ms.
pub fn day_bounds(at_ms: i64) -> (i64, i64) {
    let start = at_ms.div_euclid(DAY_MS) * DAY_MS;
    (start, start + DAY_MS)
}

/// Milliseconds of the interval `[start, end)` that fall inside `[from, to)`.
pub fn overlap_ms(start: i64, end: i64, from: i64, to: i64) -> i64 {
    (end.min(to) - start.max(from)).max(0)
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds: `2026-11-22T04:52:00.123Z`.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let (y, m, d) = civil_from_days(unix_ms.div_euclid(DAY_MS));
    let ms_of_day = unix_ms.rem_euclid(DAY_MS);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1_000 % 60,
        ms_of_day % 1_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_ms(1_795_000_000_000), "2026-11-18T11:06:40.000Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    proptest! {
        #[test]
        fn the_calendar_round_trips(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn the_hls_formatter_writes_the_same_instants(ms in -10_000_000_000_000i64..10_000_000_000_000) {
            prop_assert_eq!(rfc3339_ms(ms), ferrocast_media::hls::format_rfc3339_ms(ms));
        }

        #[test]
        fn a_month_holds_its_instant(ms in -10_000_000_000_000i64..10_000_000_000_000) {
            let (start, end, label) = month_bounds(ms);
            prop_assert!(start <= ms && ms < end);
            prop_assert!(rfc3339_ms(start).starts_with(&label));
            prop_assert!(rfc3339_ms(start).ends_with("-01T00:00:00.000Z"));
        }
    }
}
