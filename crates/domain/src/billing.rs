//! Billing rules, without I/O: billing cycles and their periods, a plan's price in
//! a currency, subscription statuses and the one transition every gateway event makes
//! ([`transition`], from a [`GatewayFact`] that names no gateway), and what the period job does
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

/// A subscription's status, as stored (`user_subscriptions.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    /// In a trial: entitled.
    Trialing,
    /// Paid up: entitled.
    Active,
    /// A renewal failed or is late: entitled until the grace period ends.
    PastDue,
    /// Ended: not entitled (the user is on the default plan).
    Canceled,
}

impl SubscriptionStatus {
    /// Every status.
    pub const ALL: [SubscriptionStatus; 4] = [
        SubscriptionStatus::Trialing,
        SubscriptionStatus::Active,
        SubscriptionStatus::PastDue,
        SubscriptionStatus::Canceled,
    ];

    /// From the stored word.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Canceled => "canceled",
        }
    }

    /// Whether it entitles its user to the plan.
    pub fn is_entitled(self) -> bool {
        !matches!(self, SubscriptionStatus::Canceled)
    }

    /// Whether it is paid up (neither late nor ended).
    pub fn is_paid_up(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Trialing | SubscriptionStatus::Active
        )
    }
}

/// A subscription as a gateway event finds it and leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionState {
    /// Its status.
    pub status: SubscriptionStatus,
    /// How often it renews.
    pub cycle: Cycle,
    /// Start of the current period (ms).
    pub period_start: i64,
    /// End of the current period (ms).
    pub period_end: i64,
    /// Whether it ends with the period.
    pub cancel_at_period_end: bool,
    /// When a past-due subscription's grace ends (ms).
    pub grace_until: Option<i64>,
    /// The gateway's time of the last statement of its state applied (ms; 0: none yet).
    pub last_event_at: i64,
}

/// The order of ours an event names, as it stands when the event is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderStanding {
    /// The cycle bought.
    pub cycle: Cycle,
    /// Its Checkout (or payment) has not been applied yet (`created`).
    pub awaiting_payment: bool,
    /// A payment reported for it was refused as not matching it.
    pub refused: bool,
}

/// What a gateway reports, in terms that name no gateway. Each adapter maps its payloads to
/// these; [`transition`] decides what they do to a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayFact {
    /// An order was paid once, for one more cycle of its plan (Razorpay, ePayco): the user's
    /// subscription to the plan through that gateway is extended, or started.
    CyclePaid {
        /// The cycle bought.
        cycle: Cycle,
    },
    /// A payment of an order was refused by the gateway: no subscription changes.
    PaymentFailed,
    /// A checkout of a subscription the gateway bills completed (Stripe Checkout).
    CheckoutCompleted {
        /// The money is in (`false`: a payment method that settles later).
        paid: bool,
        /// The checkout names the gateway's subscription.
        bills_subscription: bool,
    },
    /// The gateway's own statement of a subscription it bills, as of `at` (ms).
    Reported {
        /// The status here (`None`: not paid for yet, e.g. Stripe's `incomplete`; unchanged).
        status: Option<SubscriptionStatus>,
        /// Start of the period, if it says.
        period_start: Option<i64>,
        /// End of the period, if it says.
        period_end: Option<i64>,
        /// Whether it ends with the period.
        cancel_at_period_end: bool,
        /// When the gateway created the statement (ms).
        at: i64,
    },
    /// A renewal of a subscription the gateway bills was paid, through `period_end` (ms).
    RenewalPaid {
        /// End of the period it pays for, if it says.
        period_end: Option<i64>,
    },
    /// A renewal attempt failed; `settled`: the same renewal was paid meanwhile.
    RenewalFailed {
        /// A later attempt for the same renewal succeeded.
        settled: bool,
    },
    /// An administrator put the user on a plan by hand, no money moving: a new subscription
    /// for one cycle from now, which replaces the user's others.
    Granted {
        /// The cycle granted.
        cycle: Cycle,
    },
    /// An administrator ended the subscription now, no money moving (no refund).
    Ended,
}

/// What a gateway fact does to a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The subscription is now `to` (started when there was none).
    Apply {
        /// Its new state.
        to: SubscriptionState,
        /// It was bought now and ends the user's other entitled subscriptions.
        ends_others: bool,
    },
    /// Applied, and the subscription stays as it is (a stale statement, a payment not through
    /// yet, a failure that does not concern a subscription).
    Unchanged,
    /// Never applies: recorded with this reason.
    NotApplied(NotApplied),
    /// About a subscription whose creating event has not arrived yet: nothing is recorded,
    /// so the gateway's retry applies it later.
    NotYet,
}

/// The one transition of a subscription under a gateway fact: `current` is the subscription the
/// fact concerns, if it is known here, `order` the order of ours the event names, if any,
/// `now` the time (ms) and `grace_ms` the grace after a failed renewal.
///
/// A subscription a gateway bills is only ever started by its checkout, which checks what was
/// paid (or, when ended, recorded as ended so that a late checkout grants nothing); an event
/// about one not known here waits while the order behind it awaits its checkout, and is not
/// applied otherwise.
pub fn transition(
    current: Option<&SubscriptionState>,
    order: Option<&OrderStanding>,
    fact: &GatewayFact,
    now: i64,
    grace_ms: i64,
) -> Transition {
    match *fact {
        GatewayFact::PaymentFailed => Transition::Unchanged,
        GatewayFact::CyclePaid { cycle } => {
            let to = match current {
                // Renewed (with either cycle): the days left are kept, the new cycle added.
                Some(c) => SubscriptionState {
                    status: SubscriptionStatus::Active,
                    cycle,
                    period_end: next_period(cycle, Some(c.period_end), now).1,
                    cancel_at_period_end: false,
                    grace_until: None,
                    ..*c
                },
                None => started(SubscriptionStatus::Active, cycle, now),
            };
            Transition::Apply {
                to,
                ends_others: current.is_none(),
            }
        }
        GatewayFact::CheckoutCompleted {
            paid,
            bills_subscription,
        } => {
            let Some(o) = order else {
                return Transition::NotApplied(NotApplied::UnknownOrder);
            };
            if o.refused {
                return Transition::NotApplied(NotApplied::RefusedOrder);
            }
            if !paid || !bills_subscription {
                return Transition::Unchanged;
            }
            // Provisionally one cycle from now, until the gateway's statements give its
            // period; one already known (ended before its checkout came) stays as it is.
            let to = current
                .copied()
                .unwrap_or_else(|| started(SubscriptionStatus::Active, o.cycle, now));
            Transition::Apply {
                to,
                ends_others: to.status.is_entitled(),
            }
        }
        GatewayFact::Reported {
            status,
            period_start,
            period_end,
            cancel_at_period_end,
            at,
        } => match current {
            Some(c) if c.last_event_at > at => Transition::Unchanged,
            Some(c) => Transition::Apply {
                to: SubscriptionState {
                    status: status.unwrap_or(c.status),
                    period_start: period_start.unwrap_or(c.period_start),
                    period_end: period_end.unwrap_or(c.period_end),
                    cancel_at_period_end,
                    grace_until: match status {
                        Some(s) if s.is_paid_up() => None,
                        Some(SubscriptionStatus::PastDue) => c.grace_until.or(Some(now + grace_ms)),
                        _ => c.grace_until,
                    },
                    last_event_at: at,
                    ..*c
                },
                ends_others: false,
            },
            None => match (order, status) {
                (None, _) => Transition::NotApplied(NotApplied::UnknownSubscription),
                (Some(o), _) if o.refused => Transition::NotApplied(NotApplied::RefusedOrder),
                // Not paid yet: nothing to grant; its checkout creates it.
                (Some(_), None) => Transition::Unchanged,
                // Ended before its checkout came: recorded as ended.
                (Some(o), Some(SubscriptionStatus::Canceled)) => {
                    let s = started(SubscriptionStatus::Canceled, o.cycle, now);
                    Transition::Apply {
                        to: SubscriptionState {
                            period_start: period_start.unwrap_or(s.period_start),
                            period_end: period_end.unwrap_or(s.period_end),
                            cancel_at_period_end,
                            last_event_at: at,
                            ..s
                        },
                        ends_others: false,
                    }
                }
                // Entitled: its checkout has not been applied yet and will create it.
                (Some(o), Some(_)) if o.awaiting_payment => Transition::NotYet,
                // Its checkout was applied and created another subscription, or none.
                (Some(_), Some(_)) => Transition::NotApplied(NotApplied::UnknownSubscription),
            },
        },
        GatewayFact::RenewalPaid { period_end } => match current {
            Some(c) => {
                let late = c.status == SubscriptionStatus::PastDue;
                Transition::Apply {
                    to: SubscriptionState {
                        period_end: period_end.map_or(c.period_end, |e| e.max(c.period_end)),
                        status: if late {
                            SubscriptionStatus::Active
                        } else {
                            c.status
                        },
                        grace_until: if late { None } else { c.grace_until },
                        ..*c
                    },
                    ends_others: false,
                }
            }
            None => match order {
                Some(o) if o.refused => Transition::NotApplied(NotApplied::RefusedOrder),
                // Its checkout has not been applied yet and will create the subscription.
                Some(o) if o.awaiting_payment => Transition::NotYet,
                _ => Transition::NotApplied(NotApplied::UnknownSubscription),
            },
        },
        GatewayFact::Granted { cycle } => Transition::Apply {
            to: started(SubscriptionStatus::Active, cycle, now),
            ends_others: true,
        },
        GatewayFact::Ended => match current {
            Some(c) if c.status != SubscriptionStatus::Canceled => Transition::Apply {
                to: SubscriptionState {
                    status: SubscriptionStatus::Canceled,
                    cancel_at_period_end: false,
                    grace_until: None,
                    ..*c
                },
                ends_others: false,
            },
            Some(_) => Transition::Unchanged,
            None => Transition::NotApplied(NotApplied::UnknownSubscription),
        },
        GatewayFact::RenewalFailed { settled } => match current {
            // A failed attempt reported after the renewal was paid changes nothing.
            Some(c) if c.status.is_paid_up() && !settled => Transition::Apply {
                to: SubscriptionState {
                    status: SubscriptionStatus::PastDue,
                    grace_until: Some(now + grace_ms),
                    ..*c
                },
                ends_others: false,
            },
            Some(_) => Transition::Unchanged,
            // There is nothing here to make past due.
            None => Transition::NotApplied(NotApplied::UnknownSubscription),
        },
    }
}

/// A subscription starting now for one cycle.
fn started(status: SubscriptionStatus, cycle: Cycle, now: i64) -> SubscriptionState {
    let (period_start, period_end) = next_period(cycle, None, now);
    SubscriptionState {
        status,
        cycle,
        period_start,
        period_end,
        cancel_at_period_end: false,
        grace_until: None,
        last_event_at: 0,
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
    pub status: SubscriptionStatus,
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
        SubscriptionStatus::Trialing | SubscriptionStatus::Active
            if now >= s.current_period_end =>
        {
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
        SubscriptionStatus::PastDue => {
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
    fn an_administrators_grant_and_end() {
        let now = JAN_31_2025;
        let Transition::Apply { to, ends_others } = transition(
            None,
            None,
            &GatewayFact::Granted {
                cycle: Cycle::Yearly,
            },
            now,
            0,
        ) else {
            panic!("a grant applies");
        };
        assert!(
            ends_others,
            "a grant replaces the user's other subscriptions"
        );
        assert_eq!(
            (to.status, to.cycle, to.period_start, to.period_end),
            (
                SubscriptionStatus::Active,
                Cycle::Yearly,
                now,
                Cycle::Yearly.period_end(now)
            )
        );
        let past_due = SubscriptionState {
            status: SubscriptionStatus::PastDue,
            grace_until: Some(now + DAY_MS),
            cancel_at_period_end: true,
            ..to
        };
        let Transition::Apply {
            to: ended,
            ends_others,
        } = transition(Some(&past_due), None, &GatewayFact::Ended, now, 0)
        else {
            panic!("an end applies");
        };
        assert!(!ends_others);
        assert_eq!(
            (
                ended.status,
                ended.cancel_at_period_end,
                ended.grace_until,
                ended.period_end
            ),
            (SubscriptionStatus::Canceled, false, None, to.period_end)
        );
        assert_eq!(
            transition(Some(&ended), None, &GatewayFact::Ended, now, 0),
            Transition::Unchanged,
            "ending an ended subscription changes nothing"
        );
        assert_eq!(
            transition(None, None, &GatewayFact::Ended, now, 0),
            Transition::NotApplied(NotApplied::UnknownSubscription)
        );
    }

    #[test]
    fn the_period_job() {
        let base = Standing {
            status: SubscriptionStatus::Active,
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
            status: SubscriptionStatus::PastDue,
            grace_until: Some(1_007 * DAY_MS),
            ..base
        };
        assert_eq!(due(&late, 1_006 * DAY_MS, 7), Due::Nothing);
        assert_eq!(due(&late, 1_007 * DAY_MS, 7), Due::Cancel);
        let gone = Standing {
            status: SubscriptionStatus::Canceled,
            ..base
        };
        assert_eq!(due(&gone, 2_000 * DAY_MS, 7), Due::Nothing);
    }

    #[test]
    fn statuses_and_prices() {
        for st in SubscriptionStatus::ALL {
            assert_eq!(SubscriptionStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(SubscriptionStatus::parse("incomplete"), None);
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
            max_storage_mb: 51_200,
            max_upload_mb: 10_240,
            recording_retention_days: 90,
            record_by_default: true,
            transcode_ladder: vec![],
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

    const NOW: i64 = 1_000 * DAY_MS;
    const GRACE: i64 = 7 * DAY_MS;

    fn sub(status: SubscriptionStatus) -> SubscriptionState {
        SubscriptionState {
            status,
            cycle: Cycle::Monthly,
            period_start: NOW - 10 * DAY_MS,
            period_end: NOW + 20 * DAY_MS,
            cancel_at_period_end: false,
            grace_until: None,
            last_event_at: NOW - DAY_MS,
        }
    }

    fn order(awaiting_payment: bool, refused: bool) -> OrderStanding {
        OrderStanding {
            cycle: Cycle::Yearly,
            awaiting_payment,
            refused,
        }
    }

    fn report(status: Option<SubscriptionStatus>, at: i64) -> GatewayFact {
        GatewayFact::Reported {
            status,
            period_start: Some(NOW),
            period_end: Some(NOW + 30 * DAY_MS),
            cancel_at_period_end: true,
            at,
        }
    }

    fn to(t: Transition) -> SubscriptionState {
        match t {
            Transition::Apply { to, .. } => to,
            other => panic!("not applied: {other:?}"),
        }
    }

    #[test]
    fn a_paid_cycle_extends_or_starts() {
        use SubscriptionStatus::*;
        let paid = GatewayFact::CyclePaid {
            cycle: Cycle::Yearly,
        };
        let late = SubscriptionState {
            grace_until: Some(NOW + DAY_MS),
            cancel_at_period_end: true,
            ..sub(PastDue)
        };
        let t = transition(Some(&late), None, &paid, NOW, GRACE);
        assert!(matches!(
            t,
            Transition::Apply {
                ends_others: false,
                ..
            }
        ));
        let renewed = to(t);
        assert_eq!(
            (renewed.status, renewed.cycle, renewed.grace_until),
            (Active, Cycle::Yearly, None)
        );
        assert!(!renewed.cancel_at_period_end);
        assert_eq!(renewed.period_start, late.period_start);
        assert_eq!(
            renewed.period_end,
            Cycle::Yearly.period_end(late.period_end),
            "days left kept"
        );
        let t = transition(None, None, &paid, NOW, GRACE);
        assert!(matches!(
            t,
            Transition::Apply {
                ends_others: true,
                ..
            }
        ));
        let new = to(t);
        assert_eq!(
            (new.status, new.period_start, new.last_event_at),
            (Active, NOW, 0)
        );
        assert_eq!(
            transition(Some(&late), None, &GatewayFact::PaymentFailed, NOW, GRACE),
            Transition::Unchanged
        );
    }

    #[test]
    fn a_checkout_starts_what_the_gateway_bills() {
        use SubscriptionStatus::*;
        let paid = GatewayFact::CheckoutCompleted {
            paid: true,
            bills_subscription: true,
        };
        let fresh = order(true, false);
        assert_eq!(
            transition(None, None, &paid, NOW, GRACE),
            Transition::NotApplied(NotApplied::UnknownOrder)
        );
        assert_eq!(
            transition(None, Some(&order(true, true)), &paid, NOW, GRACE),
            Transition::NotApplied(NotApplied::RefusedOrder)
        );
        let unpaid = GatewayFact::CheckoutCompleted {
            paid: false,
            bills_subscription: true,
        };
        assert_eq!(
            transition(None, Some(&fresh), &unpaid, NOW, GRACE),
            Transition::Unchanged
        );
        let t = transition(None, Some(&fresh), &paid, NOW, GRACE);
        assert!(matches!(
            t,
            Transition::Apply {
                ends_others: true,
                ..
            }
        ));
        assert_eq!(to(t).period_end, Cycle::Yearly.period_end(NOW));
        // Ended before its checkout came: stays ended, ends nothing.
        let ended = sub(Canceled);
        assert_eq!(
            transition(Some(&ended), Some(&fresh), &paid, NOW, GRACE),
            Transition::Apply {
                to: ended,
                ends_others: false
            }
        );
    }

    #[test]
    fn a_statement_applies_in_order() {
        use SubscriptionStatus::*;
        let late = SubscriptionState {
            grace_until: Some(NOW + DAY_MS),
            ..sub(PastDue)
        };
        let s = to(transition(
            Some(&late),
            None,
            &report(Some(Active), NOW),
            NOW,
            GRACE,
        ));
        assert_eq!(
            (s.status, s.grace_until, s.last_event_at),
            (Active, None, NOW)
        );
        assert_eq!((s.period_start, s.period_end), (NOW, NOW + 30 * DAY_MS));
        assert!(s.cancel_at_period_end);
        let s = to(transition(
            Some(&late),
            None,
            &report(Some(PastDue), NOW),
            NOW,
            GRACE,
        ));
        assert_eq!(
            s.grace_until,
            Some(NOW + DAY_MS),
            "the grace already running"
        );
        let s = to(transition(
            Some(&sub(Active)),
            None,
            &report(Some(PastDue), NOW),
            NOW,
            GRACE,
        ));
        assert_eq!(s.grace_until, Some(NOW + GRACE));
        let s = to(transition(
            Some(&late),
            None,
            &report(None, NOW),
            NOW,
            GRACE,
        ));
        assert_eq!(
            (s.status, s.grace_until),
            (PastDue, Some(NOW + DAY_MS)),
            "incomplete: unchanged"
        );
        assert_eq!(
            transition(
                Some(&late),
                None,
                &report(Some(Active), NOW - 2 * DAY_MS),
                NOW,
                GRACE
            ),
            Transition::Unchanged,
            "older than the last one applied"
        );
    }

    #[test]
    fn a_statement_about_an_unknown_subscription() {
        use SubscriptionStatus::*;
        let active = report(Some(Active), NOW);
        assert_eq!(
            transition(None, None, &active, NOW, GRACE),
            Transition::NotApplied(NotApplied::UnknownSubscription)
        );
        assert_eq!(
            transition(
                None,
                Some(&order(true, true)),
                &report(None, NOW),
                NOW,
                GRACE
            ),
            Transition::NotApplied(NotApplied::RefusedOrder)
        );
        assert_eq!(
            transition(
                None,
                Some(&order(true, false)),
                &report(None, NOW),
                NOW,
                GRACE
            ),
            Transition::Unchanged
        );
        assert_eq!(
            transition(None, Some(&order(true, false)), &active, NOW, GRACE),
            Transition::NotYet
        );
        assert_eq!(
            transition(None, Some(&order(false, false)), &active, NOW, GRACE),
            Transition::NotApplied(NotApplied::UnknownSubscription)
        );
        let t = transition(
            None,
            Some(&order(true, false)),
            &report(Some(Canceled), NOW),
            NOW,
            GRACE,
        );
        assert!(matches!(
            t,
            Transition::Apply {
                ends_others: false,
                ..
            }
        ));
        let s = to(t);
        assert_eq!(
            (s.status, s.cycle, s.last_event_at),
            (Canceled, Cycle::Yearly, NOW)
        );
        assert_eq!(s.period_end, NOW + 30 * DAY_MS);
    }

    #[test]
    fn renewals() {
        use SubscriptionStatus::*;
        let late = SubscriptionState {
            grace_until: Some(NOW + DAY_MS),
            ..sub(PastDue)
        };
        let paid = GatewayFact::RenewalPaid {
            period_end: Some(NOW + 50 * DAY_MS),
        };
        let s = to(transition(Some(&late), None, &paid, NOW, GRACE));
        assert_eq!(
            (s.status, s.grace_until, s.period_end),
            (Active, None, NOW + 50 * DAY_MS)
        );
        let earlier = GatewayFact::RenewalPaid {
            period_end: Some(NOW),
        };
        assert_eq!(
            to(transition(Some(&sub(Active)), None, &earlier, NOW, GRACE)),
            sub(Active)
        );
        assert_eq!(
            to(transition(Some(&sub(Canceled)), None, &paid, NOW, GRACE)).status,
            Canceled
        );
        assert_eq!(
            transition(None, Some(&order(true, false)), &paid, NOW, GRACE),
            Transition::NotYet
        );
        assert_eq!(
            transition(None, Some(&order(true, true)), &paid, NOW, GRACE),
            Transition::NotApplied(NotApplied::RefusedOrder)
        );
        assert_eq!(
            transition(None, None, &paid, NOW, GRACE),
            Transition::NotApplied(NotApplied::UnknownSubscription)
        );
        let failed = GatewayFact::RenewalFailed { settled: false };
        let s = to(transition(Some(&sub(Trialing)), None, &failed, NOW, GRACE));
        assert_eq!((s.status, s.grace_until), (PastDue, Some(NOW + GRACE)));
        assert_eq!(
            transition(
                Some(&sub(Active)),
                None,
                &GatewayFact::RenewalFailed { settled: true },
                NOW,
                GRACE
            ),
            Transition::Unchanged
        );
        assert_eq!(
            transition(Some(&late), None, &failed, NOW, GRACE),
            Transition::Unchanged
        );
        assert_eq!(
            transition(None, Some(&order(true, false)), &failed, NOW, GRACE),
            Transition::NotApplied(NotApplied::UnknownSubscription)
        );
    }

    fn any_status() -> impl Strategy<Value = SubscriptionStatus> {
        prop::sample::select(SubscriptionStatus::ALL.to_vec())
    }

    fn any_state() -> impl Strategy<Value = SubscriptionState> {
        (
            any_status(),
            any::<bool>(),
            0i64..2_000,
            0i64..2_000,
            any::<bool>(),
            prop::option::of(0i64..2_000),
            0i64..2_000,
        )
            .prop_map(
                |(status, yearly, start, len, cae, grace, last)| SubscriptionState {
                    status,
                    cycle: if yearly {
                        Cycle::Yearly
                    } else {
                        Cycle::Monthly
                    },
                    period_start: start * DAY_MS,
                    period_end: (start + len) * DAY_MS,
                    cancel_at_period_end: cae,
                    grace_until: grace.map(|g| g * DAY_MS),
                    last_event_at: last * DAY_MS,
                },
            )
    }

    fn any_fact() -> impl Strategy<Value = GatewayFact> {
        let day = || prop::option::of((0i64..2_000).prop_map(|d| d * DAY_MS));
        prop_oneof![
            any::<bool>().prop_map(|y| GatewayFact::CyclePaid {
                cycle: if y { Cycle::Yearly } else { Cycle::Monthly }
            }),
            Just(GatewayFact::PaymentFailed),
            (any::<bool>(), any::<bool>()).prop_map(|(paid, bills_subscription)| {
                GatewayFact::CheckoutCompleted {
                    paid,
                    bills_subscription,
                }
            }),
            (
                prop::option::of(any_status()),
                day(),
                day(),
                any::<bool>(),
                0i64..2_000
            )
                .prop_map(
                    |(status, period_start, period_end, cancel_at_period_end, at)| {
                        GatewayFact::Reported {
                            status,
                            period_start,
                            period_end,
                            cancel_at_period_end,
                            at: at * DAY_MS,
                        }
                    }
                ),
            day().prop_map(|period_end| GatewayFact::RenewalPaid { period_end }),
            any::<bool>().prop_map(|settled| GatewayFact::RenewalFailed { settled }),
        ]
    }

    proptest! {
        /// Whatever a gateway says: a known subscription's period never shrinks unless the
        /// gateway states the period itself, its statements never go back in time, a
        /// canceled one is only revived by a statement or a fresh purchase, and a grace
        /// period exists only while past due or as it was.
        #[test]
        fn transitions_keep_their_invariants(
            current in prop::option::of(any_state()),
            order in prop::option::of((any::<bool>(), any::<bool>()).prop_map(|(a, r)| order(a, r))),
            fact in any_fact(),
            now in (0i64..2_000).prop_map(|d| d * DAY_MS),
        ) {
            let t = transition(current.as_ref(), order.as_ref(), &fact, now, GRACE);
            // Applying the same fact to the result again changes nothing more, except a
            // purchase (one more cycle each time).
            if let (Transition::Apply { to, .. }, Some(c)) = (t, current) {
                prop_assert!(to.last_event_at >= c.last_event_at);
                let states_period = matches!(fact, GatewayFact::Reported { period_end: Some(_), .. });
                if !states_period {
                    prop_assert!(to.period_end >= c.period_end);
                }
                if c.status == SubscriptionStatus::Canceled && to.status != SubscriptionStatus::Canceled {
                    let revives = matches!(fact, GatewayFact::CyclePaid { .. } | GatewayFact::Reported { .. });
                    prop_assert!(revives, "{:?} revived {:?}", fact, c);
                }
                if to.grace_until != c.grace_until {
                    prop_assert!(to.grace_until.is_none() || to.status == SubscriptionStatus::PastDue);
                }
                let purchase = matches!(fact, GatewayFact::CyclePaid { .. });
                if !purchase {
                    let again = transition(Some(&to), order.as_ref(), &fact, now, GRACE);
                    let settled = match again {
                        Transition::Apply { to: twice, .. } => twice == to,
                        Transition::Unchanged => true,
                        _ => false,
                    };
                    prop_assert!(settled, "{:?} is not idempotent on {:?}: {:?}", fact, to, again);
                }
            }
            // Nothing is waited for unless an order of ours still awaits its payment, and
            // nothing is started from a refused order.
            if t == Transition::NotYet {
                prop_assert!(current.is_none() && order.is_some_and(|o| o.awaiting_payment && !o.refused));
            }
            if let (Transition::Apply { to, .. }, None, Some(o)) = (t, current, order) {
                let purchase = matches!(fact, GatewayFact::CyclePaid { .. });
                prop_assert!(!o.refused || purchase);
                prop_assert!(to.status == SubscriptionStatus::Active || to.status == SubscriptionStatus::Canceled);
            }
        }
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
