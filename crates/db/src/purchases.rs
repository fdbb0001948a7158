//! Viewers' purchases from creators (tips, memberships, pay-per-view) and what paying for one,
//! or having it refunded or disputed, does — each in one database transaction.
//!
//! [`Db::complete_purchase`] records the gateway event (a redelivery is a duplicate), checks the
//! payment against the purchase, marks it paid, posts the income to the ledger (tax, the
//! platform's fee, the creator's share or the collaborators' split, each creator's share held
//! until the hold period ends) and, for a membership, extends it. The ledger transaction's
//! reference is the gateway's payment id, so the browser's confirmation and the webhook for the
//! same payment credit it once. [`Db::reverse_payment`] posts the reversal of a payment's income
//! (in full or in proportion) once per refund or dispute id.

use crate::billing::GatewayEvent;
use crate::ledger::{NewTransaction, Posting};
use crate::{on_pool, Db, DbError};
use ferrocast_domain::billing::NotApplied;
use ferrocast_domain::ledger::{account, divide_income, Split};
use sqlx::Row;

/// What a purchase buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseKind {
    /// A tip to a creator.
    Tip,
    /// A membership of a creator's channel, at a tier, renewed each month.
    Membership,
    /// One video or live event.
    Ppv,
}

impl PurchaseKind {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            PurchaseKind::Tip => "tip",
            PurchaseKind::Membership => "membership",
            PurchaseKind::Ppv => "ppv",
        }
    }
    /// From the stored word.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tip" => Some(PurchaseKind::Tip),
            "membership" => Some(PurchaseKind::Membership),
            "ppv" => Some(PurchaseKind::Ppv),
            _ => None,
        }
    }
}

/// A purchase to create.
#[derive(Debug, Clone)]
pub struct NewPurchase<'a> {
    /// Public id (sent to the gateway).
    pub uuid: &'a str,
    /// What it buys.
    pub kind: PurchaseKind,
    /// Who pays.
    pub buyer_id: i64,
    /// Who is paid.
    pub creator_id: i64,
    /// The gateway.
    pub provider: &'a str,
    /// Minor units, tax included.
    pub amount_minor: i64,
    /// ISO code, upper case.
    pub currency: &'a str,
    /// Tax included in the amount.
    pub tax_minor: i64,
    /// The country whose rate gave the tax.
    pub tax_country: Option<&'a str>,
    /// A tip's message.
    pub message: Option<&'a str>,
    /// The name a tip is shown under.
    pub display_name: Option<&'a str>,
    /// A membership's tier.
    pub tier_id: Option<i64>,
    /// The video bought (or tipped on).
    pub video_id: Option<i64>,
    /// The live stream (source) bought (or tipped on).
    pub source_id: Option<i64>,
}

/// A stored purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseRecord {
    /// Id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// `tip`, `membership` or `ppv`.
    pub kind: String,
    /// Who pays.
    pub buyer_id: i64,
    /// Who is paid.
    pub creator_id: i64,
    /// The gateway.
    pub provider: String,
    /// The gateway's checkout or order id.
    pub provider_ref: Option<String>,
    /// The gateway's id of the first payment.
    pub provider_payment_id: Option<String>,
    /// The subscription a gateway bills.
    pub provider_subscription_id: Option<String>,
    /// Minor units.
    pub amount_minor: i64,
    /// ISO code.
    pub currency: String,
    /// Tax included.
    pub tax_minor: i64,
    /// The country of the tax.
    pub tax_country: Option<String>,
    /// `created`, `paid`, `refunded`, `disputed` or `failed`.
    pub status: String,
    /// A tip's message.
    pub message: Option<String>,
    /// A tip's name.
    pub display_name: Option<String>,
    /// A membership's tier.
    pub tier_id: Option<i64>,
    /// The video.
    pub video_id: Option<i64>,
    /// The live stream.
    pub source_id: Option<i64>,
    /// Why a payment for it was refused.
    pub refused_reason: Option<String>,
    /// When (ms).
    pub created_at: i64,
    /// When first paid (ms).
    pub paid_at: Option<i64>,
}

const PURCHASE_COLUMNS: &str = "id, uuid, kind, buyer_id, creator_id, provider, provider_ref, provider_payment_id, \
    provider_subscription_id, amount_minor, currency, tax_minor, tax_country, status, message, display_name, tier_id, \
    video_id, source_id, refused_reason, created_at, paid_at";

macro_rules! purchase_from_row {
    ($r:expr) => {
        PurchaseRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            kind: $r.try_get("kind")?,
            buyer_id: $r.try_get("buyer_id")?,
            creator_id: $r.try_get("creator_id")?,
            provider: $r.try_get("provider")?,
            provider_ref: $r.try_get("provider_ref")?,
            provider_payment_id: $r.try_get("provider_payment_id")?,
            provider_subscription_id: $r.try_get("provider_subscription_id")?,
            amount_minor: $r.try_get("amount_minor")?,
            currency: $r.try_get("currency")?,
            tax_minor: $r.try_get("tax_minor")?,
            tax_country: $r.try_get("tax_country")?,
            status: $r.try_get("status")?,
            message: $r.try_get("message")?,
            display_name: $r.try_get("display_name")?,
            tier_id: $r.try_get("tier_id")?,
            video_id: $r.try_get("video_id")?,
            source_id: $r.try_get("source_id")?,
            refused_reason: $r.try_get("refused_reason")?,
            created_at: $r.try_get("created_at")?,
            paid_at: $r.try_get("paid_at")?,
        }
    };
}

/// A payment a gateway reports for a purchase.
#[derive(Debug, Clone, Copy)]
pub struct PaidPayment<'a> {
    /// The gateway's id of the payment (Stripe payment intent or invoice, `pay_…`, `x_ref_payco`).
    pub provider_payment_id: &'a str,
    /// Minor units paid.
    pub amount_minor: i64,
    /// ISO code paid (any case).
    pub currency: &'a str,
    /// The subscription the gateway bills (a membership through Stripe).
    pub subscription: Option<&'a str>,
    /// The end of the period it pays for (ms), when the gateway says; else a month from the
    /// membership's current end (or from now).
    pub period_end: Option<i64>,
}

/// The operator's rules for income.
#[derive(Debug, Clone, Copy)]
pub struct IncomeRules {
    /// The platform's fee, in basis points of what is left after tax.
    pub fee_bps: i64,
    /// How long a creator's income is held before it can be paid out (ms).
    pub hold_ms: i64,
    /// How long one membership payment lasts when the gateway does not say (ms).
    pub membership_period_ms: i64,
}

/// What completing or reversing a purchase's payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseApplied {
    /// Applied: the ledger transaction posted.
    Done {
        /// The ledger transaction's id.
        transaction_id: i64,
    },
    /// This event, or this payment, refund or dispute, was applied before.
    Duplicate,
    /// Recorded and not applied, with why (the payment does not match the purchase, or the
    /// purchase was refused before); nothing credited.
    Ignored(NotApplied),
    /// The payment it names is not known yet (nothing recorded: the gateway's retry applies it).
    Unknown,
}

/// A refund or a chargeback.
#[derive(Debug, Clone, Copy)]
pub struct Reversal<'a> {
    /// `true`: a chargeback (dispute); `false`: a refund.
    pub chargeback: bool,
    /// The gateway's id of the refund or dispute.
    pub id: &'a str,
    /// Minor units taken back; `None`: all that is left of the payment.
    pub amount_minor: Option<i64>,
    /// `amount_minor` is the gateway's running total taken back from the payment so far (Stripe's
    /// `amount_refunded`), not this reversal's own amount: it takes what the total adds to the
    /// reversals before it (nothing when it adds nothing), whatever order they arrive in.
    pub running_total: bool,
}

/// The ledger reference of a gateway payment's income.
pub fn payment_reference(provider: &str, payment_id: &str) -> String {
    format!("pay:{provider}:{payment_id}")
}

/// Reads the split for a purchase's income inside `$conn` (video, else live stream, else channel).
macro_rules! split_in {
    ($conn:expr, $creator:expr, $video:expr, $source:expr) => {
        async {
            let creator: i64 = $creator;
            let candidates = [("video", $video), ("source", $source), ("channel", Some(creator))];
            for (scope, target) in candidates {
                let Some(target) = target else { continue };
                let rows = sqlx::query(
                    "SELECT user_id, bps FROM revenue_splits WHERE scope = $1 AND target_id = $2 AND creator_id = $3 ORDER BY created_at, user_id",
                )
                .bind(scope).bind(target).bind(creator)
                .fetch_all(&mut *$conn).await?;
                if rows.is_empty() {
                    continue;
                }
                let mut splits = Vec::with_capacity(rows.len());
                for r in &rows {
                    splits.push(Split { user_id: r.try_get("user_id")?, bps: r.try_get("bps")? });
                }
                // The creator's own share first, so it takes the rounding remainder.
                splits.sort_by_key(|s| s.user_id != creator);
                if ferrocast_domain::ledger::validate_splits(&splits).is_ok() {
                    return Ok::<_, DbError>(splits);
                }
            }
            Ok(Vec::new())
        }
        .await
    };
}

impl Db {
    /// Creates a purchase (status `created`).
    pub async fn create_purchase(
        &self,
        p: &NewPurchase<'_>,
        now: i64,
    ) -> Result<PurchaseRecord, DbError> {
        if p.amount_minor <= 0 || p.tax_minor < 0 || p.tax_minor > p.amount_minor {
            return Err(DbError::Invalid(
                "purchase: the amount must be positive and include its tax".into(),
            ));
        }
        let sql = format!(
            "INSERT INTO purchases (uuid, kind, buyer_id, creator_id, provider, amount_minor, currency, tax_minor, tax_country, \
             message, display_name, tier_id, video_id, source_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {PURCHASE_COLUMNS}"
        );
        on_pool!(self, pool => {
            let r = sqlx::query(&sql)
                .bind(p.uuid).bind(p.kind.as_str()).bind(p.buyer_id).bind(p.creator_id).bind(p.provider)
                .bind(p.amount_minor).bind(p.currency).bind(p.tax_minor).bind(p.tax_country)
                .bind(p.message).bind(p.display_name).bind(p.tier_id).bind(p.video_id).bind(p.source_id).bind(now)
                .fetch_one(pool).await.map_err(crate::map_unique)?;
            Ok(purchase_from_row!(r))
        })
    }

    /// A purchase by its public id.
    pub async fn purchase_by_uuid(&self, uuid: &str) -> Result<Option<PurchaseRecord>, DbError> {
        self.purchase_where("uuid = $1", uuid, None).await
    }

    /// A purchase through `provider` by the gateway's checkout or order id.
    pub async fn purchase_by_ref(
        &self,
        provider: &str,
        gateway_ref: &str,
    ) -> Result<Option<PurchaseRecord>, DbError> {
        self.purchase_where(
            "provider_ref = $1 AND provider = $2",
            gateway_ref,
            Some(provider),
        )
        .await
    }

    /// A membership purchase through `provider` by the subscription the gateway bills.
    pub async fn purchase_by_subscription(
        &self,
        provider: &str,
        subscription: &str,
    ) -> Result<Option<PurchaseRecord>, DbError> {
        self.purchase_where(
            "provider_subscription_id = $1 AND provider = $2",
            subscription,
            Some(provider),
        )
        .await
    }

    /// The purchase a gateway payment paid (found through its ledger transaction).
    pub async fn purchase_by_payment(
        &self,
        provider: &str,
        payment_id: &str,
    ) -> Result<Option<PurchaseRecord>, DbError> {
        let reference = payment_reference(provider, payment_id);
        self.purchase_where(
            "id = (SELECT purchase_id FROM ledger_transactions WHERE reference = $1)",
            &reference,
            None,
        )
        .await
    }

    async fn purchase_where(
        &self,
        cond: &str,
        a: &str,
        b: Option<&str>,
    ) -> Result<Option<PurchaseRecord>, DbError> {
        let sql = format!(
            "SELECT {PURCHASE_COLUMNS} FROM purchases WHERE {cond} ORDER BY id DESC LIMIT 1"
        );
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql).bind(a);
            if let Some(b) = b {
                q = q.bind(b);
            }
            match q.fetch_optional(p).await? {
                Some(r) => Ok(Some(purchase_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// Stores the gateway's checkout or order id of a purchase.
    pub async fn set_purchase_ref(&self, id: i64, gateway_ref: &str) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query("UPDATE purchases SET provider_ref = $1 WHERE id = $2")
                .bind(gateway_ref).bind(id)
                .execute(p).await?;
            Ok(())
        })
    }

    /// Stores the subscription a gateway bills for a membership purchase.
    pub async fn set_purchase_subscription(
        &self,
        id: i64,
        subscription: &str,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query("UPDATE purchases SET provider_subscription_id = $1 WHERE id = $2")
                .bind(subscription).bind(id)
                .execute(p).await?;
            Ok(())
        })
    }

    /// `user_id`'s purchases (newest first, at most `limit`).
    pub async fn purchases_by_buyer(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<PurchaseRecord>, DbError> {
        self.purchases_list("buyer_id = $1", user_id, limit).await
    }

    async fn purchases_list(
        &self,
        cond: &str,
        id: i64,
        limit: i64,
    ) -> Result<Vec<PurchaseRecord>, DbError> {
        let sql = format!(
            "SELECT {PURCHASE_COLUMNS} FROM purchases WHERE {cond} ORDER BY id DESC LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(id).bind(limit.clamp(1, 1000)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(purchase_from_row!(r));
            }
            Ok(out)
        })
    }

    /// The tax rate of `country` (basis points, label), if the operator set one.
    pub async fn tax_rate(&self, country: &str) -> Result<Option<(i64, String)>, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query("SELECT rate_bps, label FROM tax_rates WHERE country = $1")
                .bind(country.to_ascii_uppercase())
                .fetch_optional(p).await?;
            match r {
                Some(r) => Ok(Some((r.try_get("rate_bps")?, r.try_get("label")?))),
                None => Ok(None),
            }
        })
    }

    /// Applies a payment of `purchase` (see the module's documentation). `event`: the gateway
    /// event that reported it (`None`: the buyer's browser confirmed it).
    pub async fn complete_purchase(
        &self,
        event: Option<&GatewayEvent<'_>>,
        purchase: &PurchaseRecord,
        pay: &PaidPayment<'_>,
        rules: &IncomeRules,
        now: i64,
    ) -> Result<PurchaseApplied, DbError> {
        let reference = payment_reference(&purchase.provider, pay.provider_payment_id);
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            if let Some(e) = event {
                let taken = take_event!(tx, e, now);
                if !taken {
                    tx.commit().await?;
                    return Ok(PurchaseApplied::Duplicate);
                }
            }
            // The purchase's row first: concurrent payments of one purchase queue here.
            let row = sqlx::query("UPDATE purchases SET status = status WHERE id = $1 RETURNING status, refused_reason")
                .bind(purchase.id)
                .fetch_one(&mut *tx).await?;
            let refused: Option<String> = row.try_get("refused_reason")?;
            let done: Option<i64> = sqlx::query_scalar("SELECT id FROM ledger_transactions WHERE reference = $1")
                .bind(&reference)
                .fetch_optional(&mut *tx).await?;
            if done.is_some() {
                tx.commit().await?;
                return Ok(PurchaseApplied::Duplicate);
            }
            let currency = pay.currency.to_ascii_uppercase();
            let mismatch = if refused.is_some() {
                Some(NotApplied::RefusedOrder)
            } else if currency != purchase.currency {
                Some(NotApplied::CurrencyMismatch)
            } else if pay.amount_minor != purchase.amount_minor {
                Some(NotApplied::AmountMismatch)
            } else {
                None
            };
            if let Some(reason) = mismatch {
                let detail = format!(
                    "purchase {}: paid {} {currency}, due {} {}",
                    purchase.uuid, pay.amount_minor, purchase.amount_minor, purchase.currency
                );
                if let Some(e) = event {
                    sqlx::query(
                        "UPDATE webhook_events SET outcome = 'ignored', reason = $3, detail = $4 WHERE provider = $1 AND event_id = $2",
                    )
                    .bind(e.provider).bind(e.id).bind(reason.as_str()).bind(&detail)
                    .execute(&mut *tx).await?;
                }
                if refused.is_none() {
                    sqlx::query("UPDATE purchases SET refused_reason = $1 WHERE id = $2")
                        .bind(reason.as_str()).bind(purchase.id)
                        .execute(&mut *tx).await?;
                }
                tx.commit().await?;
                return Ok(PurchaseApplied::Ignored(reason));
            }
            let splits = split_in!(tx, purchase.creator_id, purchase.video_id, purchase.source_id)?;
            let division = divide_income(purchase.amount_minor, purchase.tax_minor, rules.fee_bps, purchase.creator_id, &splits);
            let held = now.saturating_add(rules.hold_ms.max(0));
            let mut postings = vec![Posting {
                account: account::gateway(&purchase.provider),
                user_id: None,
                amount_minor: -purchase.amount_minor,
                available_at: now,
            }];
            if division.tax > 0 {
                postings.push(Posting {
                    account: account::tax(purchase.tax_country.as_deref().unwrap_or("XX")),
                    user_id: None,
                    amount_minor: division.tax,
                    available_at: now,
                });
            }
            postings.push(Posting {
                account: account::PLATFORM_FEES.to_owned(),
                user_id: None,
                amount_minor: division.fee,
                available_at: now,
            });
            for (user, amount) in &division.shares {
                postings.push(Posting {
                    account: account::creator(*user),
                    user_id: Some(*user),
                    amount_minor: *amount,
                    available_at: held,
                });
            }
            let renewal = purchase.paid_at.is_some() || purchase.status != "created";
            let memo = match (purchase.kind.as_str(), renewal) {
                ("tip", _) => "tip".to_owned(),
                ("membership", false) => "membership".to_owned(),
                ("membership", true) => "membership renewal".to_owned(),
                ("ppv", _) => "pay-per-view".to_owned(),
                (k, _) => k.to_owned(),
            };
            let t = NewTransaction {
                reference: reference.clone(),
                kind: "income".into(),
                currency: purchase.currency.clone(),
                memo,
                purchase_id: Some(purchase.id),
                payout_id: None,
                reverses_id: None,
                postings,
            };
            let posted = post_in!(tx, &t, now)?;
            sqlx::query(
                "UPDATE purchases SET status = CASE WHEN status IN ('created', 'failed') THEN 'paid' ELSE status END, \
                 paid_at = COALESCE(paid_at, $1), provider_payment_id = COALESCE(provider_payment_id, $2), \
                 provider_subscription_id = COALESCE(provider_subscription_id, $3) WHERE id = $4",
            )
            .bind(now).bind(pay.provider_payment_id).bind(pay.subscription).bind(purchase.id)
            .execute(&mut *tx).await?;
            if purchase.kind == "membership" {
                if let Some(tier) = purchase.tier_id {
                    let current: Option<i64> = sqlx::query_scalar(
                        "SELECT period_end FROM memberships WHERE user_id = $1 AND creator_id = $2",
                    )
                    .bind(purchase.buyer_id).bind(purchase.creator_id)
                    .fetch_optional(&mut *tx).await?;
                    let from = current.unwrap_or(now).max(now);
                    let end = pay.period_end.unwrap_or(from.saturating_add(rules.membership_period_ms)).max(current.unwrap_or(0));
                    sqlx::query(
                        "INSERT INTO memberships (user_id, creator_id, tier_id, status, provider, provider_subscription_id, purchase_id, period_end, created_at, updated_at) \
                         VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $8) \
                         ON CONFLICT (user_id, creator_id) DO UPDATE SET tier_id = excluded.tier_id, status = 'active', \
                         provider = excluded.provider, provider_subscription_id = COALESCE(excluded.provider_subscription_id, memberships.provider_subscription_id), \
                         purchase_id = excluded.purchase_id, period_end = excluded.period_end, updated_at = excluded.updated_at",
                    )
                    .bind(purchase.buyer_id).bind(purchase.creator_id).bind(tier).bind(&purchase.provider)
                    .bind(pay.subscription).bind(purchase.id).bind(end).bind(now)
                    .execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(PurchaseApplied::Done { transaction_id: posted.id() })
        })
    }

    /// A refund or chargeback of gateway payment `payment_id` (see the module's
    /// documentation): its income reversed (all that is left, or `amount_minor` of it), the
    /// purchase marked refunded or disputed once nothing is left, a membership it paid for
    /// ended. [`PurchaseApplied::Unknown`] (nothing recorded) when the payment is not a
    /// purchase's income.
    pub async fn reverse_payment(
        &self,
        event: Option<&GatewayEvent<'_>>,
        provider: &str,
        payment_id: &str,
        r: &Reversal<'_>,
        now: i64,
    ) -> Result<PurchaseApplied, DbError> {
        let income_ref = payment_reference(provider, payment_id);
        let (kind, word) = if r.chargeback {
            ("chargeback", "disputed")
        } else {
            ("refund", "refunded")
        };
        let reference = format!("{kind}:{provider}:{}", r.id);
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // A write first: SQLite takes its write lock here (a transaction that read first
            // cannot take it once another connection has written: "database is locked" at
            // once, whatever the busy timeout), and PostgreSQL queues reversals of one purchase.
            sqlx::query(
                "UPDATE purchases SET status = status WHERE id = (SELECT purchase_id FROM ledger_transactions WHERE reference = $1)",
            )
            .bind(&income_ref)
            .execute(&mut *tx).await?;
            let income = sqlx::query("SELECT id, purchase_id FROM ledger_transactions WHERE reference = $1")
                .bind(&income_ref)
                .fetch_optional(&mut *tx).await?;
            let Some(income) = income else {
                tx.rollback().await?;
                return Ok(PurchaseApplied::Unknown);
            };
            let income_id: i64 = income.try_get("id")?;
            let purchase_id: Option<i64> = income.try_get("purchase_id")?;
            if let Some(e) = event {
                let taken = take_event!(tx, e, now);
                if !taken {
                    tx.commit().await?;
                    return Ok(PurchaseApplied::Duplicate);
                }
            }
            if let Some(pid) = purchase_id {
                // Serialises reversals of one purchase.
                sqlx::query("UPDATE purchases SET status = status WHERE id = $1").bind(pid).execute(&mut *tx).await?;
            }
            let done: Option<i64> = sqlx::query_scalar("SELECT id FROM ledger_transactions WHERE reference = $1")
                .bind(&reference)
                .fetch_optional(&mut *tx).await?;
            if done.is_some() {
                tx.commit().await?;
                return Ok(PurchaseApplied::Duplicate);
            }
            let memo = if r.chargeback { "chargeback" } else { "refund" };
            let part = if r.running_total {
                let taken: i64 = sqlx::query_scalar::<_, i64>(
                    "SELECT CAST(COALESCE(SUM(e.amount_minor), 0) AS BIGINT) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
                     WHERE t.reverses_id = $1 AND e.amount_minor < 0",
                )
                .bind(income_id)
                .fetch_one(&mut *tx).await?
                .abs();
                match r.amount_minor {
                    Some(total) if total > taken => Some(total - taken),
                    _ => {
                        // An earlier (or larger) total was applied already.
                        tx.commit().await?;
                        return Ok(PurchaseApplied::Duplicate);
                    }
                }
            } else {
                r.amount_minor
            };
            let Some(t) = reversal_of!(tx, income_id, part, reference.clone(), kind.to_owned(), memo.to_owned())? else {
                // Nothing left of it to take back (refunded already, then disputed).
                tx.commit().await?;
                return Ok(PurchaseApplied::Duplicate);
            };
            let posted = post_in!(tx, &t, now)?;
            if let Some(pid) = purchase_id {
                // What is left of this payment after every reversal.
                let left: i64 = sqlx::query_scalar::<_, i64>(
                    "SELECT CAST(COALESCE(SUM(e.amount_minor), 0) AS BIGINT) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
                     WHERE (t.id = $1 OR t.reverses_id = $1) AND e.amount_minor < 0 AND e.account LIKE 'gateway:%'",
                )
                .bind(income_id)
                .fetch_one(&mut *tx).await?;
                let left = -left - sqlx::query_scalar::<_, i64>(
                    "SELECT CAST(COALESCE(SUM(e.amount_minor), 0) AS BIGINT) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
                     WHERE t.reverses_id = $1 AND e.amount_minor > 0 AND e.account LIKE 'gateway:%'",
                )
                .bind(income_id)
                .fetch_one(&mut *tx).await?;
                if left <= 0 || r.chargeback {
                    sqlx::query("UPDATE purchases SET status = $1 WHERE id = $2")
                        .bind(word).bind(pid)
                        .execute(&mut *tx).await?;
                }
                // A membership paid by a payment taken back ends now.
                sqlx::query(
                    "UPDATE memberships SET status = 'ended', period_end = CASE WHEN period_end < $1 THEN period_end ELSE $1 END, updated_at = $1 \
                     WHERE purchase_id = $2",
                )
                .bind(now).bind(pid)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(PurchaseApplied::Done { transaction_id: posted.id() })
        })
    }
}
