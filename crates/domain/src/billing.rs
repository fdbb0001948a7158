//! Billing rules, without I/O: billing cycles and their periods, a plan's price in
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

/// Gateway events created longer ago than this (Stripe's `created`, Razorpay's `created_at`)
/// are recorded and not applied, and never retried: Stripe retries a delivery for up to 3 days
/// and Razorpay for 24 hours, so an older one is a manual resend of stale state. The same bound
/// ends the wait for an event that overtook the one creating its object.
pub const EVENT_MAX_AGE_SECS: i64 = 7 * 86_400;

/// Whether an event created at `created_secs` (Unix seconds; 0 or less: it did not say) is past
/// [`EVENT_MAX_AGE_SECS`] at `now_secs`. An event that does not say when it was created is
/// treated as too old, so it can never be waited for forever.
pub fn event_too_old(created_secs: i64, now_secs: i64) -> bool {
    created_secs <= 0 || now_secs.saturating_sub(created_secs) > EVENT_MAX_AGE_SECS
}

/// Why a genuine gateway event is acknowledged (`200`, `applied: false`) without changing
/// anything, and recorded so that its redeliveries are duplicates. Also the `reason` label of
/// the metrics that count them, so the set is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotApplied {
    /// It names no order of this deployment (another application on the same gateway
    /// account, or a checkout started elsewhere).
    UnknownOrder,
    /// It concerns a subscription this deployment did not create and will not learn of.
    UnknownSubscription,
    /// It concerns an order whose payment was refused as not matching the order.
    RefusedOrder,
    /// Older than [`EVENT_MAX_AGE_SECS`].
    TooOld,
    /// The amount paid differs from the order's price.
    AmountMismatch,
    /// The currency paid differs from the order's.
    CurrencyMismatch,
}

impl NotApplied {
    /// The stored word and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            NotApplied::UnknownOrder => "unknown_order",
            NotApplied::UnknownSubscription => "unknown_subscription",
            NotApplied::RefusedOrder => "refused_order",
            NotApplied::TooOld => "too_old",
            NotApplied::AmountMismatch => "amount_mismatch",
            NotApplied::CurrencyMismatch => "currency_mismatch",
        }
    }

    /// Whether money was taken for an order and nothing granted: the operator has to look.
    pub fn is_mismatch(self) -> bool {
        matches!(
            self,
            NotApplied::AmountMismatch | NotApplied::CurrencyMismatch
        )
    }
}

/// Checks what a gateway says was paid against the order's price: `None` when it matches. A
/// different currency is reported as such (amounts in two currencies do not compare).
pub fn payment_mismatch(
    paid_minor: i64,
    paid_currency: &str,
    due_minor: i64,
    due_currency: &str,
) -> Option<NotApplied> {
    if !paid_currency.eq_ignore_ascii_case(due_currency) {
        Some(NotApplied::CurrencyMismatch)
    } else if paid_minor != due_minor {
        Some(NotApplied::AmountMismatch)
    } else {
        None
    }
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

    #[test]
    fn age_bound_and_payment_checks() {
        let now = 1_800_000_000;
        assert!(
            !event_too_old(now - EVENT_MAX_AGE_SECS, now),
            "at the bound"
        );
        assert!(event_too_old(now - EVENT_MAX_AGE_SECS - 1, now));
        assert!(!event_too_old(now + 60, now), "a gateway clock ahead");
        assert!(event_too_old(0, now), "no creation time");
        assert_eq!(payment_mismatch(999, "usd", 999, "USD"), None);
        assert_eq!(
            payment_mismatch(1, "USD", 999, "USD"),
            Some(NotApplied::AmountMismatch)
        );
        assert_eq!(
            payment_mismatch(999, "EUR", 999, "USD"),
            Some(NotApplied::CurrencyMismatch)
        );
        assert_eq!(
            payment_mismatch(5, "EUR", 999, "USD"),
            Some(NotApplied::CurrencyMismatch),
            "the currency first"
        );
        assert!(NotApplied::AmountMismatch.is_mismatch());
        assert!(!NotApplied::TooOld.is_mismatch());
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
