//! Billing: orders, payments, gateway events and the subscriptions they change.
//!
//! Each gateway event is applied in one transaction that first records the event's id
//! (`webhook_events`): a replay finds it and changes nothing, and a crash before the commit
//! leaves nothing, so the gateway's retry applies it whole. A payment is stored once per gateway
//! payment id, so the Checkout callback and the webhook for the same payment credit it once.
//! Events that change a subscription carry the gateway's time; an older one arriving after a
//! newer one changes nothing. A genuine event that changes nothing and never will (about
//! something this deployment did not create, too old, or a payment that does not match its
//! order) is recorded too, as `ignored` with its reason ([`NotApplied`]), so that its
//! redeliveries are duplicates; only an event that overtook the one creating its object is
//! left unrecorded ([`Applied::Unknown`]), for the gateway to deliver again. Work for one user
//! is serialised by touching the user's row first (a row lock in PostgreSQL, the write lock in
//! SQLite).

use crate::{on_pool, Db, DbError};
use ferrocast_domain::billing::{
    transition, Cycle, GatewayFact, NotApplied, OrderStanding, SubscriptionState,
    SubscriptionStatus, Transition,
};
use sqlx::Row;

/// Statuses that entitle a user to their plan.
const ENTITLED: &str = "('trialing', 'active', 'past_due')";

/// A purchase in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// Id.
    pub id: i64,
    /// Public id (Stripe's `client_reference_id`, Razorpay's receipt, ePayco's invoice).
    pub uuid: String,
    /// The buyer.
    pub user_id: i64,
    /// The plan bought.
    pub plan_id: i64,
    /// `monthly` or `yearly`.
    pub billing_cycle: String,
    /// `stripe`, `razorpay` or `epayco`.
    pub provider: String,
    /// The gateway's order or session id.
    pub provider_ref: Option<String>,
    /// Minor units.
    pub amount_minor: i64,
    /// ISO code.
    pub currency: String,
    /// `created`, `paid` or `failed`.
    pub status: String,
    /// When (ms).
    pub created_at: i64,
    /// Why a payment reported for it was refused ([`NotApplied::as_str`]); nothing is granted
    /// from such an order.
    pub refused_reason: Option<String>,
}

const ORDER_COLUMNS: &str = "id, uuid, user_id, plan_id, billing_cycle, provider, provider_ref, amount_minor, currency, status, created_at, refused_reason";

macro_rules! order_from_row {
    ($r:expr) => {
        OrderRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            user_id: $r.try_get("user_id")?,
            plan_id: $r.try_get("plan_id")?,
            billing_cycle: $r.try_get("billing_cycle")?,
            provider: $r.try_get("provider")?,
            provider_ref: $r.try_get("provider_ref")?,
            amount_minor: $r.try_get("amount_minor")?,
            currency: $r.try_get("currency")?,
            status: $r.try_get("status")?,
            created_at: $r.try_get("created_at")?,
            refused_reason: $r.try_get("refused_reason")?,
        }
    };
}

/// A recorded payment (or refused charge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// Id.
    pub id: i64,
    /// Public id (the receipt's).
    pub uuid: String,
    /// Who paid.
    pub user_id: i64,
    /// The order it paid, if any.
    pub order_id: Option<i64>,
    /// The subscription it paid for.
    pub subscription_id: Option<i64>,
    /// The plan.
    pub plan_id: Option<i64>,
    /// The gateway.
    pub provider: String,
    /// The gateway's id of the payment.
    pub provider_payment_id: String,
    /// Minor units.
    pub amount_minor: i64,
    /// ISO code.
    pub currency: String,
    /// `succeeded` or `failed`.
    pub status: String,
    /// What it was for.
    pub description: String,
    /// When (ms).
    pub created_at: i64,
}

const PAYMENT_COLUMNS: &str = "id, uuid, user_id, order_id, subscription_id, plan_id, provider, provider_payment_id, amount_minor, currency, status, description, created_at";

macro_rules! payment_from_row {
    ($r:expr) => {
        PaymentRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            user_id: $r.try_get("user_id")?,
            order_id: $r.try_get("order_id")?,
            subscription_id: $r.try_get("subscription_id")?,
            plan_id: $r.try_get("plan_id")?,
            provider: $r.try_get("provider")?,
            provider_payment_id: $r.try_get("provider_payment_id")?,
            amount_minor: $r.try_get("amount_minor")?,
            currency: $r.try_get("currency")?,
            status: $r.try_get("status")?,
            description: $r.try_get("description")?,
            created_at: $r.try_get("created_at")?,
        }
    };
}

/// An order to create.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    /// Public id.
    pub uuid: &'a str,
    /// The buyer.
    pub user_id: i64,
    /// The plan.
    pub plan_id: i64,
    /// The cycle.
    pub cycle: Cycle,
    /// The gateway.
    pub provider: &'a str,
    /// Minor units.
    pub amount_minor: i64,
    /// ISO code.
    pub currency: &'a str,
}

/// A gateway event, recorded with the change it causes.
#[derive(Debug, Clone, Copy)]
pub struct GatewayEvent<'a> {
    /// The gateway.
    pub provider: &'a str,
    /// Its id of the event.
    pub id: &'a str,
    /// Its type.
    pub kind: &'a str,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Applied. Subscriptions it replaced (an upgrade or downgrade ends the others), as
    /// (gateway, gateway subscription id), to cancel at the gateway too.
    Done {
        /// Replaced subscriptions that a gateway bills.
        replaced: Vec<(String, String)>,
    },
    /// This event (or this payment) was applied before; nothing changed.
    Duplicate,
    /// Taken and recorded with this reason, and nothing changed: it is about something this
    /// deployment did not create or will not learn of, or its payment does not match its
    /// order. A redelivery is a [`Applied::Duplicate`].
    Ignored(NotApplied),
    /// It concerns something of ours not known yet (an event that overtook the one creating
    /// it); nothing was recorded, so the gateway's retry applies it later.
    Unknown,
}

/// A gateway event as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEventRecord {
    /// Its type.
    pub kind: String,
    /// `applied` or `ignored`.
    pub outcome: String,
    /// Why it was ignored ([`NotApplied::as_str`]).
    pub reason: Option<String>,
    /// A line for the operator (what it named, what was paid and due).
    pub detail: Option<String>,
    /// When it was taken (ms).
    pub received_at: i64,
}

/// A gateway event's change, in terms that name no gateway: what its adapter read from the
/// gateway's payload ([`GatewayFact`]) and what of ours it concerns.
#[derive(Debug, Clone)]
pub struct SubscriptionChange<'a> {
    /// The gateway (`user_subscriptions.provider`, `payments.provider`).
    pub provider: &'a str,
    /// The order of ours the event names, if any (a checkout's, or the one ferrocast put in
    /// the metadata of the gateway's subscription and invoices).
    pub order: Option<&'a OrderRecord>,
    /// The gateway's id of a subscription it bills; `None`: a subscription paid order by
    /// order (Razorpay, ePayco), found by the order's user, plan and gateway.
    pub subscription: Option<&'a str>,
    /// The customer's id at the gateway, remembered for the user's next checkout.
    pub customer: Option<&'a str>,
    /// The money the event reports, recorded once per gateway payment id.
    pub payment: Option<PaymentEntry<'a>>,
    /// The renewal's invoice at the gateway: a failed attempt is settled (and changes
    /// nothing) once a payment of that id succeeded.
    pub invoice: Option<&'a str>,
    /// What happened.
    pub fact: GatewayFact,
}

/// A payment as a gateway event reports it, for the ledger (`payments`).
#[derive(Debug, Clone)]
pub struct PaymentEntry<'a> {
    /// The gateway's id of the payment (unique per gateway).
    pub id: &'a str,
    /// The order it pays, if it pays one (not a renewal's invoice).
    pub order_id: Option<i64>,
    /// Minor units.
    pub amount_minor: i64,
    /// ISO code.
    pub currency: &'a str,
    /// Whether the money was taken (`succeeded`) or refused (`failed`).
    pub succeeded: bool,
    /// What it was for.
    pub description: &'a str,
}

/// A subscription the period job looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSubscription {
    /// Id.
    pub id: i64,
    /// Status.
    pub status: String,
    /// End of the current period (ms).
    pub current_period_end: i64,
    /// Whether it ends with the period.
    pub cancel_at_period_end: bool,
    /// End of a past-due grace (ms).
    pub grace_until: Option<i64>,
}

/// A subscription as administrators list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    /// Id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// The subscriber's email.
    pub email: String,
    /// The plan's name.
    pub plan: String,
    /// Status.
    pub status: String,
    /// `monthly` or `yearly`.
    pub billing_cycle: String,
    /// The gateway, if paid through one.
    pub provider: Option<String>,
    /// Period end (ms).
    pub current_period_end: i64,
    /// Whether it ends with the period.
    pub cancel_at_period_end: bool,
}

/// Records the event (`false`: seen before) — always the transaction's first write.
macro_rules! take_event {
    ($tx:expr, $event:expr, $now:expr) => {{
        let e: &GatewayEvent<'_> = $event;
        sqlx::query(
            "INSERT INTO webhook_events (provider, event_id, kind, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (provider, event_id) DO NOTHING",
        )
        .bind(e.provider).bind(e.id).bind(e.kind).bind($now)
        .execute(&mut *$tx).await?
        .rows_affected() == 1
    }};
}

/// Marks the event taken in this transaction as ignored, with why.
macro_rules! mark_ignored {
    ($tx:expr, $event:expr, $reason:expr, $detail:expr) => {{
        let e: &GatewayEvent<'_> = $event;
        let reason: NotApplied = $reason;
        sqlx::query(
            "UPDATE webhook_events SET outcome = 'ignored', reason = $3, detail = $4 \
             WHERE provider = $1 AND event_id = $2",
        )
        .bind(e.provider)
        .bind(e.id)
        .bind(reason.as_str())
        .bind($detail)
        .execute(&mut *$tx)
        .await?;
        reason
    }};
}

/// An order's status and refusal, read inside the transaction.
macro_rules! order_state {
    ($tx:expr, $order:expr) => {{
        let r = sqlx::query("SELECT status, refused_reason FROM payment_orders WHERE id = $1")
            .bind($order)
            .fetch_one(&mut *$tx)
            .await?;
        let status: String = r.try_get("status")?;
        let refused: Option<String> = r.try_get("refused_reason")?;
        (status, refused.is_some())
    }};
}

/// Serialises billing work for one user.
macro_rules! lock_user {
    ($tx:expr, $user:expr) => {
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind($user)
            .execute(&mut *$tx)
            .await?;
    };
}

/// Ends the user's other entitled subscriptions; the gateway-billed ones among them.
macro_rules! replace_others {
    ($tx:expr, $user:expr, $keep:expr, $now:expr) => {{
        let rows = sqlx::query(&format!(
            "SELECT provider, provider_subscription_id FROM user_subscriptions \
             WHERE user_id = $1 AND id <> $2 AND status IN {ENTITLED}"
        ))
        .bind($user)
        .bind($keep)
        .fetch_all(&mut *$tx)
        .await?;
        sqlx::query(&format!(
            "UPDATE user_subscriptions SET status = 'canceled', updated_at = $3, \
             cancel_at_gateway = CASE WHEN provider = 'stripe' THEN TRUE ELSE FALSE END \
             WHERE user_id = $1 AND id <> $2 AND status IN {ENTITLED}"
        ))
        .bind($user)
        .bind($keep)
        .bind($now)
        .execute(&mut *$tx)
        .await?;
        let mut replaced = Vec::new();
        for r in rows {
            let provider: Option<String> = r.try_get("provider")?;
            let id: Option<String> = r.try_get("provider_subscription_id")?;
            if let (Some(p), Some(i)) = (provider, id) {
                if p == "stripe" {
                    replaced.push((p, i));
                }
            }
        }
        replaced
    }};
}

/// A subscription's state, read inside the transaction.
macro_rules! subscription_state {
    ($tx:expr, $id:expr) => {{
        let r = sqlx::query(
            "SELECT status, billing_cycle, current_period_start, current_period_end, cancel_at_period_end, \
             grace_until, last_event_at FROM user_subscriptions WHERE id = $1",
        )
        .bind($id)
        .fetch_one(&mut *$tx)
        .await?;
        let status: String = r.try_get("status")?;
        let cycle: String = r.try_get("billing_cycle")?;
        SubscriptionState {
            status: SubscriptionStatus::parse(&status).ok_or_else(|| {
                DbError::Query(sqlx::Error::Decode(
                    format!("unknown subscription status {status:?}").into(),
                ))
            })?,
            cycle: Cycle::parse(&cycle).unwrap_or(Cycle::Monthly),
            period_start: r.try_get("current_period_start")?,
            period_end: r.try_get("current_period_end")?,
            cancel_at_period_end: r.try_get("cancel_at_period_end")?,
            grace_until: r.try_get("grace_until")?,
            last_event_at: r.try_get("last_event_at")?,
        }
    }};
}

impl Db {
    /// Creates an order.
    pub async fn create_order(&self, o: &NewOrder<'_>, now: i64) -> Result<OrderRecord, DbError> {
        let sql = format!(
            "INSERT INTO payment_orders (uuid, user_id, plan_id, billing_cycle, provider, amount_minor, currency, \
             status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'created', $8, $8) RETURNING {ORDER_COLUMNS}"
        );
        on_pool!(self, p => {
            let r = sqlx::query(&sql)
                .bind(o.uuid).bind(o.user_id).bind(o.plan_id).bind(o.cycle.as_str()).bind(o.provider)
                .bind(o.amount_minor).bind(o.currency).bind(now)
                .fetch_one(p).await?;
            Ok(order_from_row!(r))
        })
    }

    /// Stores the gateway's id of an order.
    pub async fn set_order_ref(
        &self,
        id: i64,
        provider_ref: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query("UPDATE payment_orders SET provider_ref = $1, updated_at = $2 WHERE id = $3")
                .bind(provider_ref).bind(now).bind(id)
                .execute(p).await?;
            Ok(())
        })
    }

    async fn order_where(
        &self,
        condition: &str,
        a: &str,
        b: Option<&str>,
    ) -> Result<Option<OrderRecord>, DbError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM payment_orders WHERE {condition}");
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql).bind(a);
            if let Some(b) = b {
                q = q.bind(b);
            }
            match q.fetch_optional(p).await? {
                Some(r) => Ok(Some(order_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// An order by its public id.
    pub async fn order_by_uuid(&self, uuid: &str) -> Result<Option<OrderRecord>, DbError> {
        self.order_where("uuid = $1", uuid, None).await
    }

    /// An order by the gateway's id of it.
    pub async fn order_by_ref(
        &self,
        provider: &str,
        provider_ref: &str,
    ) -> Result<Option<OrderRecord>, DbError> {
        self.order_where(
            "provider = $1 AND provider_ref = $2",
            provider,
            Some(provider_ref),
        )
        .await
    }

    /// The user's customer id at a gateway.
    pub async fn billing_customer(
        &self,
        user_id: i64,
        provider: &str,
    ) -> Result<Option<String>, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query("SELECT customer_id FROM billing_customers WHERE user_id = $1 AND provider = $2")
                .bind(user_id).bind(provider)
                .fetch_optional(p).await?;
            match r {
                Some(r) => Ok(Some(r.try_get("customer_id")?)),
                None => Ok(None),
            }
        })
    }

    /// A user's payments, newest first.
    pub async fn payments_for_user(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<PaymentRecord>, DbError> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(payment_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A payment by its public id.
    pub async fn payment_by_uuid(&self, uuid: &str) -> Result<Option<PaymentRecord>, DbError> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(payment_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Records a genuine event that changes nothing, with why (`detail`: a line for the
    /// operator). `Ignored` the first time, `Duplicate` for a redelivery.
    pub async fn record_not_applied(
        &self,
        event: &GatewayEvent<'_>,
        reason: NotApplied,
        detail: &str,
        now: i64,
    ) -> Result<Applied, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "INSERT INTO webhook_events (provider, event_id, kind, received_at, outcome, reason, detail) \
                 VALUES ($1, $2, $3, $4, 'ignored', $5, $6) ON CONFLICT (provider, event_id) DO NOTHING",
            )
            .bind(event.provider).bind(event.id).bind(event.kind).bind(now).bind(reason.as_str()).bind(detail)
            .execute(p).await?;
            Ok(if r.rows_affected() == 1 { Applied::Ignored(reason) } else { Applied::Duplicate })
        })
    }

    /// A payment reported for `order` that does not match it (`reason`: the amount or the
    /// currency): the event recorded as ignored and the order marked refused, in one
    /// transaction, so that nothing is granted from the order afterwards.
    pub async fn refuse_order(
        &self,
        event: &GatewayEvent<'_>,
        order: &OrderRecord,
        reason: NotApplied,
        detail: &str,
        now: i64,
    ) -> Result<Applied, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            if !take_event!(tx, event, now) {
                tx.commit().await?;
                return Ok(Applied::Duplicate);
            }
            mark_ignored!(tx, event, reason, detail);
            sqlx::query(
                "UPDATE payment_orders SET refused_reason = COALESCE(refused_reason, $1), updated_at = $2 WHERE id = $3",
            )
            .bind(reason.as_str()).bind(now).bind(order.id)
            .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Applied::Ignored(reason))
        })
    }

    /// A gateway event as recorded, if it was taken.
    pub async fn gateway_event(
        &self,
        provider: &str,
        event_id: &str,
    ) -> Result<Option<GatewayEventRecord>, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "SELECT kind, outcome, reason, detail, received_at FROM webhook_events WHERE provider = $1 AND event_id = $2",
            )
            .bind(provider).bind(event_id)
            .fetch_optional(p).await?;
            match r {
                Some(r) => Ok(Some(GatewayEventRecord {
                    kind: r.try_get("kind")?,
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                    detail: r.try_get("detail")?,
                    received_at: r.try_get("received_at")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// Applies a gateway event's change, whichever gateway sent it, in one transaction: the
    /// event recorded first (`event`: the webhook that reported it; `None` for a payment the
    /// buyer's browser confirmed, which only the payment id makes unique), the order of ours it
    /// names read, the subscription it concerns found, and [`transition`] decides; then the
    /// customer remembered, the payment stored once, the order marked paid or failed, the
    /// subscription written (started when there was none) and, for a purchase, the user's
    /// other entitled subscriptions ended.
    ///
    /// A one-time payment already stored ([`GatewayFact::CyclePaid`]: the Checkout callback and
    /// the webhook for the same payment) is a [`Applied::Duplicate`]. What [`transition`]
    /// answers `NotApplied` is recorded as ignored with its reason; `NotYet` records nothing
    /// ([`Applied::Unknown`]), for the gateway to deliver again. `grace_ms`: the grace a failed
    /// renewal leaves.
    pub async fn apply_subscription_change(
        &self,
        event: Option<&GatewayEvent<'_>>,
        change: &SubscriptionChange<'_>,
        grace_ms: i64,
        now: i64,
    ) -> Result<Applied, DbError> {
        let c = change;
        let entitled_sql = format!(
            "SELECT id, user_id, plan_id FROM user_subscriptions WHERE user_id = $1 AND plan_id = $2 \
             AND provider = $3 AND status IN {ENTITLED} ORDER BY id DESC LIMIT 1"
        );
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            if let Some(e) = event {
                if !take_event!(tx, e, now) {
                    tx.commit().await?;
                    return Ok(Applied::Duplicate);
                }
            }
            // The order before the subscription: a checkout marks its order paid and inserts the
            // subscription in one transaction, so an order read as paid means the subscription is
            // visible by the next read (PostgreSQL reads each statement afresh).
            let order = match c.order {
                Some(o) => {
                    let (status, refused) = order_state!(tx, o.id);
                    Some(OrderStanding {
                        cycle: Cycle::parse(&o.billing_cycle).unwrap_or(Cycle::Monthly),
                        awaiting_payment: status == "created",
                        refused,
                    })
                }
                None => None,
            };
            // The user's billing work is serialised before anything of theirs is looked up, so
            // two payments at once cannot both find no subscription and both start one.
            let buyer = c.order.map(|o| o.user_id);
            if let Some(u) = buyer {
                lock_user!(tx, u);
            }
            let found = match (&c.fact, c.subscription, c.order) {
                (GatewayFact::PaymentFailed, _, _) => None,
                (_, Some(sub), _) => {
                    sqlx::query(
                        "SELECT id, user_id, plan_id FROM user_subscriptions \
                         WHERE provider = $1 AND provider_subscription_id = $2",
                    )
                    .bind(c.provider).bind(sub)
                    .fetch_optional(&mut *tx).await?
                }
                (GatewayFact::CyclePaid { .. }, None, Some(o)) => {
                    sqlx::query(&entitled_sql)
                        .bind(o.user_id).bind(o.plan_id).bind(c.provider)
                        .fetch_optional(&mut *tx).await?
                }
                _ => None,
            };
            let found: Option<(i64, i64, i64)> = match found {
                Some(r) => Some((r.try_get("id")?, r.try_get("user_id")?, r.try_get("plan_id")?)),
                None => None,
            };
            let user = found.map(|(_, u, _)| u).or(buyer);
            if let Some(u) = user.filter(|u| Some(*u) != buyer) {
                lock_user!(tx, u);
            }
            // Read after the lock: what another event for this user wrote is visible.
            let current = match found {
                Some((id, _, _)) => Some(subscription_state!(tx, id)),
                None => None,
            };
            let fact = match (c.fact, c.invoice) {
                (GatewayFact::RenewalFailed { settled }, Some(invoice)) => {
                    let paid = sqlx::query(
                        "SELECT 1 AS one FROM payments WHERE provider = $1 AND provider_payment_id = $2 \
                         AND status = 'succeeded'",
                    )
                    .bind(c.provider).bind(invoice)
                    .fetch_optional(&mut *tx).await?
                    .is_some();
                    GatewayFact::RenewalFailed { settled: settled || paid }
                }
                (fact, _) => fact,
            };
            let (to, ends_others) = match transition(current.as_ref(), order.as_ref(), &fact, now, grace_ms) {
                Transition::NotYet => {
                    tx.rollback().await?;
                    return Ok(Applied::Unknown);
                }
                Transition::NotApplied(reason) => {
                    // A line for the operator: the refused order, or the subscription named.
                    let detail = match (reason, &fact, c.order) {
                        (
                            NotApplied::RefusedOrder,
                            GatewayFact::CheckoutCompleted { .. } | GatewayFact::Reported { .. },
                            Some(o),
                        ) => o.uuid.as_str(),
                        _ => c.subscription.unwrap_or_default(),
                    };
                    if let Some(e) = event {
                        mark_ignored!(tx, e, reason, detail);
                    }
                    tx.commit().await?;
                    return Ok(Applied::Ignored(reason));
                }
                Transition::Unchanged => (None, false),
                Transition::Apply { to, ends_others } => (Some(to), ends_others),
            };
            if let (Some(customer), Some(u)) = (c.customer, user) {
                sqlx::query(
                    "INSERT INTO billing_customers (user_id, provider, customer_id, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, provider) DO UPDATE SET customer_id = excluded.customer_id",
                )
                .bind(u).bind(c.provider).bind(customer).bind(now)
                .execute(&mut *tx).await?;
            }
            let mut payment = None;
            if let (Some(pay), Some(u)) = (&c.payment, user) {
                let plan = found.map(|(_, _, pl)| pl).or(c.order.map(|o| o.plan_id));
                payment = sqlx::query(
                    "INSERT INTO payments (uuid, user_id, order_id, subscription_id, plan_id, provider, provider_payment_id, \
                     amount_minor, currency, status, description, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (provider, provider_payment_id) DO NOTHING RETURNING id",
                )
                .bind(uuid::Uuid::new_v4().to_string()).bind(u).bind(pay.order_id).bind(found.map(|(id, _, _)| id))
                .bind(plan).bind(c.provider).bind(pay.id).bind(pay.amount_minor).bind(pay.currency)
                .bind(if pay.succeeded { "succeeded" } else { "failed" }).bind(pay.description).bind(now)
                .fetch_optional(&mut *tx).await?
                .map(|r| r.try_get::<i64, _>("id")).transpose()?;
                if payment.is_none() && matches!(fact, GatewayFact::CyclePaid { .. }) {
                    // This payment bought its cycle before.
                    tx.commit().await?;
                    return Ok(Applied::Duplicate);
                }
                if payment.is_some() && pay.succeeded && pay.amount_minor > 0 {
                    // The operator's plan revenue, in the ledger like every money movement.
                    let t = crate::ledger::NewTransaction {
                        reference: format!("plan:{}:{}", c.provider, pay.id),
                        kind: "plan".into(),
                        currency: pay.currency.to_ascii_uppercase(),
                        memo: pay.description.to_owned(),
                        purchase_id: None,
                        payout_id: None,
                        reverses_id: None,
                        postings: vec![
                            crate::ledger::Posting {
                                account: ferrocast_domain::ledger::account::gateway(c.provider),
                                user_id: None,
                                amount_minor: -pay.amount_minor,
                                available_at: now,
                            },
                            crate::ledger::Posting {
                                account: ferrocast_domain::ledger::account::PLATFORM_PLANS.to_owned(),
                                user_id: None,
                                amount_minor: pay.amount_minor,
                                available_at: now,
                            },
                        ],
                    };
                    post_in!(tx, &t, now)?;
                }
            }
            if let Some(o) = c.order {
                match fact {
                    GatewayFact::CyclePaid { .. } | GatewayFact::CheckoutCompleted { paid: true, .. } => {
                        sqlx::query("UPDATE payment_orders SET status = 'paid', updated_at = $1 WHERE id = $2")
                            .bind(now).bind(o.id)
                            .execute(&mut *tx).await?;
                    }
                    GatewayFact::PaymentFailed => {
                        sqlx::query("UPDATE payment_orders SET status = 'failed', updated_at = $1 WHERE id = $2 AND status = 'created'")
                            .bind(now).bind(o.id)
                            .execute(&mut *tx).await?;
                    }
                    _ => {}
                }
            }
            let mut replaced = Vec::new();
            let subscription = match (to, found, c.order) {
                (Some(to), Some((id, _, _)), _) => {
                    if current != Some(to) {
                        sqlx::query(
                            "UPDATE user_subscriptions SET status = $1, billing_cycle = $2, current_period_start = $3, \
                             current_period_end = $4, cancel_at_period_end = $5, grace_until = $6, last_event_at = $7, \
                             updated_at = $8 WHERE id = $9",
                        )
                        .bind(to.status.as_str()).bind(to.cycle.as_str()).bind(to.period_start).bind(to.period_end)
                        .bind(to.cancel_at_period_end).bind(to.grace_until).bind(to.last_event_at).bind(now).bind(id)
                        .execute(&mut *tx).await?;
                    }
                    Some(id)
                }
                (Some(to), None, Some(o)) => {
                    // A one-time purchase is known by its order; a gateway's by its id.
                    let gateway_id = c.subscription.unwrap_or(o.uuid.as_str());
                    sqlx::query(
                        "INSERT INTO user_subscriptions (uuid, user_id, plan_id, status, billing_cycle, current_period_start, \
                         current_period_end, cancel_at_period_end, grace_until, provider, provider_subscription_id, last_event_at, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
                         ON CONFLICT (provider, provider_subscription_id) DO NOTHING",
                    )
                    .bind(uuid::Uuid::new_v4().to_string()).bind(o.user_id).bind(o.plan_id).bind(to.status.as_str())
                    .bind(to.cycle.as_str()).bind(to.period_start).bind(to.period_end).bind(to.cancel_at_period_end)
                    .bind(to.grace_until).bind(c.provider).bind(gateway_id).bind(to.last_event_at).bind(now)
                    .execute(&mut *tx).await?;
                    let id: i64 = sqlx::query(
                        "SELECT id FROM user_subscriptions WHERE provider = $1 AND provider_subscription_id = $2",
                    )
                    .bind(c.provider).bind(gateway_id)
                    .fetch_one(&mut *tx).await?
                    .try_get("id")?;
                    Some(id)
                }
                _ => None,
            };
            if let (Some(id), Some(u), true) = (subscription, user, ends_others) {
                replaced = replace_others!(tx, u, id, now);
            }
            if let (Some(payment), Some(id), None) = (payment, subscription, found) {
                sqlx::query("UPDATE payments SET subscription_id = $1 WHERE id = $2")
                    .bind(id).bind(payment)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(Applied::Done { replaced })
        })
    }

    /// Subscriptions the period job changes now: entitled ones whose period ended, and past-due
    /// ones whose grace is over. Stripe's are left to Stripe, whose dunning and events drive them.
    pub async fn due_subscriptions(
        &self,
        now: i64,
        grace_ms: i64,
    ) -> Result<Vec<DueSubscription>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, status, current_period_end, cancel_at_period_end, grace_until FROM user_subscriptions \
                 WHERE (provider IS NULL OR provider <> 'stripe') AND ( \
                 (status IN ('trialing', 'active') AND current_period_end <= $1) \
                 OR (status = 'past_due' AND COALESCE(grace_until, current_period_end + $2) <= $1)) \
                 ORDER BY id LIMIT 500",
            )
            .bind(now).bind(grace_ms)
            .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(DueSubscription {
                    id: r.try_get("id")?,
                    status: r.try_get("status")?,
                    current_period_end: r.try_get("current_period_end")?,
                    cancel_at_period_end: r.try_get("cancel_at_period_end")?,
                    grace_until: r.try_get("grace_until")?,
                });
            }
            Ok(out)
        })
    }

    /// Replaced subscriptions still to be canceled at their gateway: (id, gateway id).
    pub async fn pending_gateway_cancellations(&self) -> Result<Vec<(i64, String)>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, provider_subscription_id FROM user_subscriptions \
                 WHERE cancel_at_gateway = TRUE AND provider = 'stripe' ORDER BY id LIMIT 100",
            )
            .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let sub: Option<String> = r.try_get("provider_subscription_id")?;
                out.push((r.try_get("id")?, sub.unwrap_or_default()));
            }
            Ok(out)
        })
    }

    /// The gateway has canceled it.
    pub async fn gateway_cancellation_done(&self, id: i64) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query("UPDATE user_subscriptions SET cancel_at_gateway = FALSE WHERE id = $1")
                .bind(id).execute(p).await?;
            Ok(())
        })
    }

    /// Moves a subscription from `from` to `to` (unless something else changed it first).
    pub async fn roll_subscription(
        &self,
        id: i64,
        from: &str,
        to: &str,
        grace_until: Option<i64>,
        now: i64,
    ) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "UPDATE user_subscriptions SET status = $1, grace_until = $2, updated_at = $3 WHERE id = $4 AND status = $5",
            )
            .bind(to).bind(grace_until).bind(now).bind(id).bind(from)
            .execute(p).await?;
            Ok(r.rows_affected() == 1)
        })
    }

    /// Sets whether a subscription ends with its period (its owner's choice). Serialised with
    /// the user's gateway events ([`Db::apply_subscription_change`] writes the state it read
    /// under the same lock), so neither overwrites the other.
    pub async fn set_cancel_at_period_end(
        &self,
        id: i64,
        cancel: bool,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE users SET updated_at = updated_at WHERE id = (SELECT user_id FROM user_subscriptions WHERE id = $1)",
            )
            .bind(id)
            .execute(&mut *tx).await?;
            sqlx::query("UPDATE user_subscriptions SET cancel_at_period_end = $1, updated_at = $2 WHERE id = $3")
                .bind(cancel).bind(now).bind(id)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The gateway and gateway id of a subscription.
    pub async fn subscription_gateway(&self, id: i64) -> Result<Option<(String, String)>, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query("SELECT provider, provider_subscription_id FROM user_subscriptions WHERE id = $1")
                .bind(id).fetch_optional(p).await?;
            match r {
                Some(r) => {
                    let provider: Option<String> = r.try_get("provider")?;
                    let sub: Option<String> = r.try_get("provider_subscription_id")?;
                    Ok(provider.zip(sub))
                }
                None => Ok(None),
            }
        })
    }

    /// Subscriptions for administrators, newest first.
    pub async fn list_subscriptions(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SubscriptionRow>, i64), DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT s.id, s.uuid, u.email, pl.name, s.status, s.billing_cycle, s.provider, s.current_period_end, \
                 s.cancel_at_period_end FROM user_subscriptions s JOIN users u ON u.id = s.user_id \
                 JOIN subscription_plans pl ON pl.id = s.plan_id ORDER BY s.id DESC LIMIT $1 OFFSET $2",
            )
            .bind(limit).bind(offset)
            .fetch_all(p).await?;
            let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM user_subscriptions")
                .fetch_one(p).await?.try_get("n")?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(SubscriptionRow {
                    id: r.try_get("id")?,
                    uuid: r.try_get("uuid")?,
                    email: r.try_get("email")?,
                    plan: r.try_get("name")?,
                    status: r.try_get("status")?,
                    billing_cycle: r.try_get("billing_cycle")?,
                    provider: r.try_get("provider")?,
                    current_period_end: r.try_get("current_period_end")?,
                    cancel_at_period_end: r.try_get("cancel_at_period_end")?,
                });
            }
            Ok((out, total))
        })
    }

    /// Subscriptions that entitle their users now.
    pub async fn count_entitled_subscriptions(&self) -> Result<i64, DbError> {
        on_pool!(self, p => {
            Ok(sqlx::query(&format!("SELECT COUNT(*) AS n FROM user_subscriptions WHERE status IN {ENTITLED}"))
                .fetch_one(p).await?.try_get("n")?)
        })
    }

    /// Money received, per currency, since `since` (ms): (currency, minor units, payments).
    pub async fn revenue(&self, since: i64) -> Result<Vec<(String, i64, i64)>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT currency, CAST(SUM(amount_minor) AS BIGINT) AS total, COUNT(*) AS n FROM payments \
                 WHERE status = 'succeeded' AND created_at >= $1 GROUP BY currency ORDER BY currency",
            )
            .bind(since)
            .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((r.try_get("currency")?, r.try_get("total")?, r.try_get("n")?));
            }
            Ok(out)
        })
    }
}

mod manual;
pub use manual::{AdminActionRow, ManualAction, ManualOutcome};
