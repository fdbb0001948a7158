//! Billing rules (SPEC §2.5), without I/O: billing cycles and their periods, a plan's price in
//! a currency, what a gateway's subscription status means here, and what the period job does
//! to a subscription whose period ended.
//!
//! Statuses: `trialing` and `active` (entitled), `past_due` (a renewal failed or is late;
//! still entitled until the grace period ends), `canceled` (not entitled; the user is on the
//! default plan). `cancel_at_period_end` keeps a subscription entitled until its period ends.

use crate::plans::{add_months, PlanSpec};

const DAY_MS: i64 = 86_400_000;

/// How often a subscription renews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cycle {
    /// Every calendar month.
    Monthly,
    /// Every year.
    Yearly,
}

impl Cycle {
    /// From the API's word.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "monthly" => Some(Cycle::Monthly),
            "yearly" => Some(Cycle::Yearly),
            _ => None,
        }
    }
    /// The stored and wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            Cycle::Monthly => "monthly",
            Cycle::Yearly => "yearly",
        }
    }
    /// Stripe's `recurring.interval`.
    pub fn interval(self) -> &'static str {
        match self {
            Cycle::Monthly => "month",
            Cycle::Yearly => "year",
        }
    }
    /// The end of a period starting at `start_ms`.
    pub fn period_end(self, start_ms: i64) -> i64 {
        add_months(
            start_ms,
            match self {
                Cycle::Monthly => 1,
                Cycle::Yearly => 12,
            },
        )
    }
}

/// The plan's price per cycle in a currency (`USD` in cents, `INR` in paise); `None` for a
/// currency ferrocast does not charge in.
pub fn price(plan: &PlanSpec, cycle: Cycle, currency: &str) -> Option<i64> {
    Some(match (currency, cycle) {
        ("USD", Cycle::Monthly) => plan.price_monthly_cents,
        ("USD", Cycle::Yearly) => plan.price_yearly_cents,
        ("INR", Cycle::Monthly) => plan.price_monthly_inr_paise,
        ("INR", Cycle::Yearly) => plan.price_yearly_inr_paise,
        _ => return None,
    })
}

/// What Stripe's subscription status means here; `None` for `incomplete` (the first payment
/// is not through yet: nothing changes).
pub fn stripe_status(status: &str) -> Option<&'static str> {
    match status {
        "trialing" => Some("trialing"),
        "active" => Some("active"),
        "past_due" | "unpaid" => Some("past_due"),
        "canceled" | "incomplete_expired" | "paused" => Some("canceled"),
        _ => None,
    }
}

/// What the period job does to a subscription now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing yet.
    Nothing,
    /// Its period ended without a renewal: past due, entitled until `grace_until`.
    PastDue {
        /// End of the grace period (ms).
        grace_until: i64,
    },
    /// It ends now (canceled at period end, or the grace period is over).
    Cancel,
}

/// A subscription as the period job sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Its status.
    pub status: &'static str,
    /// End of its current period (ms).
    pub current_period_end: i64,
    /// Whether it ends with the period.
    pub cancel_at_period_end: bool,
    /// When a past-due subscription's grace ends (ms).
    pub grace_until: Option<i64>,
}

/// Decides what happens to a subscription at `now`, with `grace_days` of grace after a missed
/// renewal.
pub fn due(s: &Standing, now: i64, grace_days: i64) -> Due {
    match s.status {
        "trialing" | "active" if now >= s.current_period_end => {
            if s.cancel_at_period_end {
                Due::Cancel
            } else {
                let grace_until = s.current_period_end + grace_days * DAY_MS;
                if now >= grace_until {
                    Due::Cancel
                } else {
                    Due::PastDue { grace_until }
                }
            }
        }
        "past_due" => {
            let grace_until = s
                .grace_until
                .unwrap_or(s.current_period_end + grace_days * DAY_MS);
            if now >= grace_until {
                Due::Cancel
            } else {
                Due::Nothing
            }
        }
        _ => Due::Nothing,
    }
}

/// The period a payment for one more cycle buys: from the current period's end if it has not
/// passed (a renewal paid early keeps the days left), else from now.
pub fn next_period(cycle: Cycle, current_end: Option<i64>, now: i64) -> (i64, i64) {
    let start = current_end.filter(|e| *e > now).unwrap_or(now);
    (start, cycle.period_end(start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::month_bounds;
    use proptest::prelude::*;

    const JAN_31_2025: i64 = 1_738_281_600_000; // 2025-01-31T00:00:00Z

    #[test]
    fn periods_follow_the_calendar() {
        let feb = Cycle::Monthly.period_end(JAN_31_2025 + 3_600_000);
        assert_eq!(month_bounds(feb).2, "2025-02");
        assert_eq!(
            feb,
            1_740_700_800_000 + 3_600_000,
            "28 February 2025, 01:00"
        );
        let year = Cycle::Yearly.period_end(JAN_31_2025);
        assert_eq!(month_bounds(year).2, "2026-01");
        assert_eq!(Cycle::parse("yearly"), Some(Cycle::Yearly));
        assert_eq!(Cycle::parse("weekly"), None);
    }

    #[test]
    fn the_period_job() {
        let base = Standing {
            status: "active",
            current_period_end: 1_000 * DAY_MS,
            cancel_at_period_end: false,
            grace_until: None,
        };
        assert_eq!(due(&base, 999 * DAY_MS, 7), Due::Nothing);
        assert_eq!(
            due(&base, 1_000 * DAY_MS, 7),
            Due::PastDue {
                grace_until: 1_007 * DAY_MS
            }
        );
        assert_eq!(
            due(&base, 1_008 * DAY_MS, 7),
            Due::Cancel,
            "a node down for the whole grace"
        );
        let ending = Standing {
            cancel_at_period_end: true,
            ..base
        };
        assert_eq!(due(&ending, 1_000 * DAY_MS, 7), Due::Cancel);
        let late = Standing {
            status: "past_due",
            grace_until: Some(1_007 * DAY_MS),
            ..base
        };
        assert_eq!(due(&late, 1_006 * DAY_MS, 7), Due::Nothing);
        assert_eq!(due(&late, 1_007 * DAY_MS, 7), Due::Cancel);
        let gone = Standing {
            status: "canceled",
            ..base
        };
        assert_eq!(due(&gone, 2_000 * DAY_MS, 7), Due::Nothing);
    }

    #[test]
    fn statuses_and_prices() {
        assert_eq!(stripe_status("unpaid"), Some("past_due"));
        assert_eq!(stripe_status("incomplete"), None);
        let plan = PlanSpec {
            name: "Pro".into(),
            description: String::new(),
            price_monthly_cents: 999,
            price_yearly_cents: 9999,
            price_monthly_inr_paise: 79_900,
            price_yearly_inr_paise: 799_900,
            max_sources: 3,
            max_destinations: 10,
            max_streaming_minutes_monthly: 12_000,
            features: vec![],
            is_default: false,
        };
        assert_eq!(price(&plan, Cycle::Yearly, "INR"), Some(799_900));
        assert_eq!(price(&plan, Cycle::Monthly, "EUR"), None);
        assert_eq!(
            next_period(Cycle::Monthly, Some(5 * DAY_MS), DAY_MS).0,
            5 * DAY_MS,
            "paid early: from the end"
        );
        assert_eq!(
            next_period(Cycle::Monthly, Some(DAY_MS), 5 * DAY_MS).0,
            5 * DAY_MS,
            "lapsed: from now"
        );
    }

    proptest! {
        #[test]
        fn a_month_later_is_28_to_31_days_later(at in 0i64..4_000_000_000_000) {
            let later = add_months(at, 1);
            let days = (later - at) as f64 / DAY_MS as f64;
            prop_assert!((28.0..=31.0).contains(&days), "{days}");
            prop_assert_eq!(later.rem_euclid(DAY_MS), at.rem_euclid(DAY_MS));
        }
    }
}
