//! Plans as data: names, prices in integer minor units, limits and feature flags.
//! Neustream's Free/Pro/Business are the default set (seeded by a migration); another tier set
//! loads from a TOML file ([`parse_plans_file`]). Also the arithmetic of monthly usage, which
//! must stay right across month boundaries and crashes.

use serde::Deserialize;

/// Where the plan-limit refusal sends the user (Neustream's `upgrade_url`).
pub const UPGRADE_URL: &str = "/dashboard/subscription";

/// A plan as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSpec {
    /// Unique name shown to users ("Free").
    pub name: String,
    /// One line.
    pub description: String,
    /// US cents per month.
    pub price_monthly_cents: i64,
    /// US cents per year.
    pub price_yearly_cents: i64,
    /// Paise per month.
    pub price_monthly_inr_paise: i64,
    /// Paise per year.
    pub price_yearly_inr_paise: i64,
    /// Sources a user may have.
    pub max_sources: i64,
    /// Destinations a user may have, over all sources.
    pub max_destinations: i64,
    /// Streaming minutes per calendar month (UTC).
    pub max_streaming_minutes_monthly: i64,
    /// Feature flags.
    pub features: Vec<String>,
    /// The plan of users without a subscription (exactly one plan is the default).
    pub is_default: bool,
    /// Megabytes of stored video (recordings and uploads, all their objects) a user may keep.
    pub max_storage_mb: i64,
    /// Megabytes one upload may declare.
    pub max_upload_mb: i64,
    /// Days a recording is kept before it expires; 0 keeps recordings until deleted.
    pub recording_retention_days: i64,
    /// Whether live sessions are recorded when the source does not say (a source may switch it).
    pub record_by_default: bool,
    /// The adaptive-bitrate renditions transcoded beside the source of this plan's streams
    /// (`transcode_ladder` in the plans file); empty: the source only.
    pub transcode_ladder: Vec<crate::media::Rung>,
}

/// Storage a plan from a plans file allows when it does not say (Neustream's Free: 2 GiB).
pub const DEFAULT_MAX_STORAGE_MB: i64 = 2048;
/// Upload size a plan from a plans file allows when it does not say (2 GiB).
pub const DEFAULT_MAX_UPLOAD_MB: i64 = 2048;
/// Recording retention of a plan from a plans file that does not say (a week).
pub const DEFAULT_RECORDING_RETENTION_DAYS: i64 = 7;
/// The largest storage or upload allowance a plans file may give, in megabytes (1 EB, far
/// beyond any disk, small enough that byte arithmetic on it cannot overflow).
pub const MAX_MEGABYTES: i64 = 1_000_000_000_000;
/// The longest retention a plans file may give (a century).
pub const MAX_RETENTION_DAYS: i64 = 36_500;

impl PlanSpec {
    /// [`max_storage_mb`](Self::max_storage_mb) in bytes.
    pub fn max_storage_bytes(&self) -> i64 {
        self.max_storage_mb.saturating_mul(1024 * 1024)
    }
    /// [`max_upload_mb`](Self::max_upload_mb) in bytes.
    pub fn max_upload_bytes(&self) -> i64 {
        self.max_upload_mb.saturating_mul(1024 * 1024)
    }
    /// When a recording that ended at `ended_at` (ms) expires under this plan; `None` to keep it.
    pub fn recording_expires_at(&self, ended_at: i64) -> Option<i64> {
        (self.recording_retention_days > 0).then(|| {
            ended_at.saturating_add(self.recording_retention_days.saturating_mul(86_400_000))
        })
    }
}

/// A plans file is unusable; the message names the plan and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plans file: {0}")]
pub struct PlansFileError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRoot {
    plans: Vec<FilePlan>,
    /// Brand tiers, read by `crate::brand::parse_brand_plans`.
    #[serde(default)]
    #[allow(dead_code)]
    brand_plans: Vec<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePlan {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    price_monthly: Option<Price>,
    #[serde(default)]
    price_yearly: Option<Price>,
    #[serde(default)]
    price_monthly_inr: Option<Price>,
    #[serde(default)]
    price_yearly_inr: Option<Price>,
    max_sources: i64,
    max_destinations: i64,
    #[serde(default)]
    max_streaming_hours_monthly: Option<i64>,
    #[serde(default)]
    max_streaming_minutes_monthly: Option<i64>,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    max_storage_gb: Option<i64>,
    #[serde(default)]
    max_storage_mb: Option<i64>,
    #[serde(default)]
    max_upload_mb: Option<i64>,
    #[serde(default)]
    recording_retention_days: Option<i64>,
    #[serde(default)]
    record_by_default: Option<bool>,
    #[serde(default)]
    transcode_ladder: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Price {
    Int(i64),
    Float(f64),
    Text(String),
}

/// Parses a decimal amount with at most two fractional digits ("9.99", "799", "0.5") into minor
/// units, exactly (no floating point).
pub fn parse_money(s: &str) -> Option<i64> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || whole.len() > 12 || frac.len() > 2 || s.ends_with('.') {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(frac)
}

/// Formats minor units as a decimal ("9.99").
pub fn format_money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}

fn price(plan: &str, field: &str, p: Option<Price>) -> Result<i64, PlansFileError> {
    let text = match p {
        None => return Ok(0),
        Some(Price::Int(i)) => i.to_string(),
        Some(Price::Float(f)) => f.to_string(),
        Some(Price::Text(t)) => t,
    };
    parse_money(&text).ok_or_else(|| {
        PlansFileError(format!(
            "plan {plan:?}: {field} = {text:?} is not an amount like 9.99 (at most two decimals, not negative)"
        ))
    })
}

/// Parses a plans file:
///
/// ```toml
/// [[plans]]
/// name = "Free"
/// max_sources = 1
/// max_destinations = 3
/// max_streaming_hours_monthly = 50
/// default = true
///
/// [[plans]]
/// name = "Pro"
/// price_monthly = "9.99"
/// price_monthly_inr = 799
/// max_sources = 3
/// max_destinations = 10
/// max_streaming_hours_monthly = 200
/// features = ["analytics"]
/// max_storage_gb = 50              # or max_storage_mb; default 2048 MB
/// max_upload_mb = 10240            # default 2048
/// recording_retention_days = 90    # 0 keeps recordings; default 7
/// record_by_default = true         # default true
/// transcode_ladder = ["720p", "480p", "360p"]  # adaptive bitrate; default none
/// ```
pub fn parse_plans_file(text: &str) -> Result<Vec<PlanSpec>, PlansFileError> {
    let root: FileRoot = toml::from_str(text).map_err(|e| PlansFileError(e.to_string()))?;
    if root.plans.is_empty() {
        return Err(PlansFileError("no [[plans]] entries".into()));
    }
    let mut out: Vec<PlanSpec> = Vec::with_capacity(root.plans.len());
    for p in root.plans {
        let name = p.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 50 || name.chars().any(char::is_control) {
            return Err(PlansFileError(format!(
                "plan name {:?} must be 1 to 50 characters",
                p.name
            )));
        }
        if out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
            return Err(PlansFileError(format!("plan {name:?} appears twice")));
        }
        let minutes = match (p.max_streaming_hours_monthly, p.max_streaming_minutes_monthly) {
            (Some(h), None) => h.checked_mul(60),
            (None, Some(m)) => Some(m),
            _ => {
                return Err(PlansFileError(format!(
                    "plan {name:?}: give exactly one of max_streaming_hours_monthly and max_streaming_minutes_monthly"
                )))
            }
        };
        let limits = [
            ("max_sources", Some(p.max_sources)),
            ("max_destinations", Some(p.max_destinations)),
            ("streaming time", minutes),
        ];
        for (field, v) in limits {
            if !matches!(v, Some(0..=1_000_000_000)) {
                return Err(PlansFileError(format!(
                    "plan {name:?}: {field} must be a whole number from 0 to 1000000000"
                )));
            }
        }
        let storage_mb = match (p.max_storage_gb, p.max_storage_mb) {
            (Some(g), None) => g.checked_mul(1024),
            (None, Some(m)) => Some(m),
            (None, None) => Some(DEFAULT_MAX_STORAGE_MB),
            (Some(_), Some(_)) => {
                return Err(PlansFileError(format!(
                    "plan {name:?}: give at most one of max_storage_gb and max_storage_mb"
                )))
            }
        };
        let sizes = [
            ("storage", storage_mb),
            (
                "max_upload_mb",
                Some(p.max_upload_mb.unwrap_or(DEFAULT_MAX_UPLOAD_MB)),
            ),
        ];
        for (field, v) in sizes {
            if !matches!(v, Some(0..=MAX_MEGABYTES)) {
                return Err(PlansFileError(format!(
                    "plan {name:?}: {field} must be a whole number of megabytes from 0 to {MAX_MEGABYTES}"
                )));
            }
        }
        let retention = p
            .recording_retention_days
            .unwrap_or(DEFAULT_RECORDING_RETENTION_DAYS);
        if !(0..=MAX_RETENTION_DAYS).contains(&retention) {
            return Err(PlansFileError(format!(
                "plan {name:?}: recording_retention_days must be from 0 (keep forever) to {MAX_RETENTION_DAYS}"
            )));
        }
        if p.features.len() > 64 || p.features.iter().any(|f| f.is_empty() || f.len() > 64) {
            return Err(PlansFileError(format!(
                "plan {name:?}: features must be at most 64 names of 1 to 64 characters"
            )));
        }
        let transcode_ladder = crate::media::parse_ladder(&p.transcode_ladder)
            .map_err(|e| PlansFileError(format!("plan {name:?}: transcode_ladder: {e}")))?;
        out.push(PlanSpec {
            transcode_ladder,
            price_monthly_cents: price(&name, "price_monthly", p.price_monthly)?,
            price_yearly_cents: price(&name, "price_yearly", p.price_yearly)?,
            price_monthly_inr_paise: price(&name, "price_monthly_inr", p.price_monthly_inr)?,
            price_yearly_inr_paise: price(&name, "price_yearly_inr", p.price_yearly_inr)?,
            max_sources: p.max_sources,
            max_destinations: p.max_destinations,
            max_streaming_minutes_monthly: minutes.unwrap_or(0),
            features: p.features,
            is_default: p.default,
            max_storage_mb: storage_mb.unwrap_or(DEFAULT_MAX_STORAGE_MB),
            max_upload_mb: p.max_upload_mb.unwrap_or(DEFAULT_MAX_UPLOAD_MB),
            recording_retention_days: retention,
            record_by_default: p.record_by_default.unwrap_or(true),
            description: p.description,
            name,
        });
    }
    match out.iter().filter(|p| p.is_default).count() {
        1 => Ok(out),
        n => Err(PlansFileError(format!(
            "exactly one plan must have default = true (the plan of new users); {n} do"
        ))),
    }
}

/// What a plan-limit refusal reports (Neustream's 403 body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// What ran out ("Source limit reached").
    pub error: String,
    /// How many are in use.
    pub current: i64,
    /// The plan's maximum.
    pub max: i64,
}

impl LimitExceeded {
    /// The refusal for `what` ("Source") at `current` of `max`.
    pub fn reached(what: &str, current: i64, max: i64) -> Self {
        Self {
            error: format!("{what} limit reached"),
            current,
            max,
        }
    }
}

/// Checks whether one more of something fits: `Ok(remaining after adding)` or the refusal.
pub fn check_one_more(what: &str, current: i64, max: i64) -> Result<i64, LimitExceeded> {
    if current >= max {
        Err(LimitExceeded::reached(what, current, max))
    } else {
        Ok(max - current - 1)
    }
}

pub use crate::time::{add_months, day_bounds, month_bounds, overlap_ms};

/// Streaming usage against a monthly allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Milliseconds used this month.
    pub used_ms: i64,
    /// Milliseconds allowed this month.
    pub limit_ms: i64,
}

/// Share of the allowance at which the creator is warned.
pub const WARN_PERCENT: i64 = 90;

impl Allowance {
    /// From used milliseconds and the plan's minutes.
    pub fn new(used_ms: i64, limit_minutes: i64) -> Self {
        Self {
            used_ms: used_ms.max(0),
            limit_ms: limit_minutes.saturating_mul(60_000),
        }
    }
    /// Whether nothing is left.
    pub fn exhausted(&self) -> bool {
        self.used_ms >= self.limit_ms
    }
    /// Milliseconds left (0 when exhausted).
    pub fn remaining_ms(&self) -> i64 {
        (self.limit_ms - self.used_ms).max(0)
    }
    /// Milliseconds left before the warning threshold (0 once past it).
    pub fn until_warning_ms(&self) -> i64 {
        (self.limit_ms.saturating_mul(WARN_PERCENT) / 100 - self.used_ms).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::DAY_MS;
    use proptest::prelude::*;

    #[test]
    fn money_is_exact() {
        assert_eq!(parse_money("9.99"), Some(999));
        assert_eq!(parse_money("799"), Some(79_900));
        assert_eq!(parse_money("0.5"), Some(50));
        assert_eq!(parse_money("29.99"), Some(2999));
        for bad in [
            "",
            "-1",
            "1.999",
            "1e3",
            ".5",
            "1.",
            "abc",
            "1,00",
            "99999999999999",
        ] {
            assert_eq!(parse_money(bad), None, "{bad}");
        }
        assert_eq!(format_money(999), "9.99");
        assert_eq!(format_money(79_900), "799.00");
    }

    #[test]
    fn months() {
        // 2024-02-29T12:00:00Z, a leap day.
        let (s, e, label) = month_bounds(1_709_208_000_000);
        assert_eq!(label, "2024-02");
        assert_eq!(s, 1_706_745_600_000); // 2024-02-01
        assert_eq!(e, 1_709_251_200_000); // 2024-03-01
        let (_, e, label) = month_bounds(1_735_603_200_000); // 2024-12-31
        assert_eq!(label, "2024-12");
        assert_eq!(e, 1_735_689_600_000); // 2025-01-01
        assert_eq!(month_bounds(0).2, "1970-01");
    }

    #[test]
    fn overlap() {
        assert_eq!(overlap_ms(0, 10, 5, 20), 5);
        assert_eq!(overlap_ms(0, 10, 10, 20), 0);
        assert_eq!(overlap_ms(12, 15, 10, 20), 3);
    }

    #[test]
    fn allowance() {
        let a = Allowance::new(45 * 60_000, 50);
        assert!(!a.exhausted());
        assert_eq!(a.remaining_ms(), 5 * 60_000);
        assert_eq!(a.until_warning_ms(), 0);
        assert!(Allowance::new(50 * 60_000, 50).exhausted());
        assert_eq!(Allowance::new(0, 10).until_warning_ms(), 9 * 60_000);
    }

    #[test]
    fn limits() {
        assert_eq!(check_one_more("Source", 0, 1), Ok(0));
        let e = check_one_more("Source", 1, 1).expect_err("over");
        assert_eq!(
            (e.error.as_str(), e.current, e.max),
            ("Source limit reached", 1, 1)
        );
    }

    #[test]
    fn plans_file() {
        let plans = parse_plans_file(
            r#"
            [[plans]]
            name = "FREE"
            max_sources = 1
            max_destinations = 2
            max_streaming_minutes_monthly = 30
            default = true
            [[plans]]
            name = "FAN"
            price_monthly = 4.99
            price_yearly = "49.90"
            price_monthly_inr = 399
            max_sources = 2
            max_destinations = 5
            max_streaming_hours_monthly = 20
            features = ["chat_badges"]
            max_storage_gb = 50
            max_upload_mb = 4096
            recording_retention_days = 0
            record_by_default = false
            transcode_ladder = ["360p", "720p"]
            "#,
        )
        .expect("valid file");
        assert_eq!(plans.len(), 2);
        // The ladder, highest first; none where the file is silent.
        assert!(plans[0].transcode_ladder.is_empty());
        assert_eq!(
            plans[1].transcode_ladder,
            vec![crate::media::Rung::P720, crate::media::Rung::P360]
        );
        let bad = parse_plans_file(
            "[[plans]]\nname = \"X\"\nmax_sources = 1\nmax_destinations = 1\nmax_streaming_hours_monthly = 1\ndefault = true\ntranscode_ladder = [\"4k\"]\n",
        )
        .expect_err("an unknown rung");
        assert!(
            bad.0
                .contains("plan \"X\": transcode_ladder: unknown rung \"4k\""),
            "{bad}"
        );
        assert_eq!(plans[0].max_streaming_minutes_monthly, 30);
        assert_eq!(plans[1].price_monthly_cents, 499);
        assert_eq!(plans[1].price_yearly_cents, 4990);
        assert_eq!(plans[1].price_monthly_inr_paise, 39_900);
        assert_eq!(plans[1].max_streaming_minutes_monthly, 1200);
        // Storage and recording: the defaults where the file is silent, the file's word where not.
        assert_eq!(
            (
                plans[0].max_storage_mb,
                plans[0].max_upload_mb,
                plans[0].recording_retention_days,
                plans[0].record_by_default
            ),
            (2048, 2048, 7, true)
        );
        assert_eq!(
            (
                plans[1].max_storage_mb,
                plans[1].max_upload_mb,
                plans[1].recording_retention_days,
                plans[1].record_by_default
            ),
            (51_200, 4096, 0, false)
        );
        assert_eq!(plans[1].max_storage_bytes(), 51_200 * 1024 * 1024);
        assert_eq!(plans[1].recording_expires_at(1_000), None);
        assert_eq!(
            plans[0].recording_expires_at(1_000),
            Some(1_000 + 7 * DAY_MS)
        );
        for (bad, what) in [
            ("[[plans]]\nname='A'\nmax_sources=1\nmax_destinations=1\nmax_streaming_hours_monthly=1\n", "exactly one plan"),
            ("[[plans]]\nname='A'\nmax_sources=-1\nmax_destinations=1\nmax_streaming_hours_monthly=1\ndefault=true\n", "max_sources"),
            ("[[plans]]\nname='A'\nprice_monthly='1.999'\nmax_sources=1\nmax_destinations=1\nmax_streaming_hours_monthly=1\ndefault=true\n", "price_monthly"),
            ("[[plans]]\nname='A'\nmax_sources=1\nmax_destinations=1\ndefault=true\n", "exactly one of"),
            ("[[plans]]\nname='A'\nmax_sources=1\nmax_destinations=1\nmax_streaming_hours_monthly=1\ndefault=true\nsurprise=1\n", "unknown field"),
            ("plans = []", "no [[plans]]"),
            ("[[plans]]\nname='A'\nmax_sources=1\nmax_destinations=1\nmax_streaming_hours_monthly=1\ndefault=true\nmax_storage_gb=1\nmax_storage_mb=1\n", "at most one of max_storage_gb"),
            ("[[plans]]\nname='A'\nmax_sources=1\nmax_destinations=1\nmax_streaming_hours_monthly=1\ndefault=true\nmax_storage_gb=9223372036854775807\n", "storage must be"),
            ("[[plans]]\nname='A'\nmax_sources=1\nmax_destinations=1\nmax_streaming_hours_monthly=1\ndefault=true\nmax_upload_mb=-1\n", "max_upload_mb must be"),
            ("[[plans]]\nname='A'\nmax_sources=1\nmax_destinations=1\nmax_streaming_hours_monthly=1\ndefault=true\nrecording_retention_days=36501\n", "recording_retention_days must be"),
        ] {
            let e = parse_plans_file(bad).expect_err(what).to_string();
            assert!(e.contains(what), "{e}");
        }
    }

    proptest! {
        #[test]
        fn month_bounds_contain_the_instant(at in -10_000_000_000_000i64..10_000_000_000_000) {
            let (s, e, _) = month_bounds(at);
            prop_assert!(s <= at && at < e);
            prop_assert!((28 * DAY_MS..=31 * DAY_MS).contains(&(e - s)));
            prop_assert_eq!(month_bounds(e).0, e);
        }

        #[test]
        fn money_round_trips(minor in 0i64..100_000_000_000) {
            prop_assert_eq!(parse_money(&format_money(minor)), Some(minor));
        }

        #[test]
        fn plans_file_never_panics(text in "\\PC{0,300}") {
            let _ = parse_plans_file(&text);
        }
    }
}
