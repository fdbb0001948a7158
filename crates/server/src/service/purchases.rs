//! Viewers paying creators: tips, memberships and pay-per-view, whichever gateway carries them.
//!
//! The gateway adapters (`routes::payments::*`, `routes::purchases`) check each request as its
//! gateway documents and call [`Purchases::complete`] with the payment they read, or
//! [`Purchases::reverse`] with a refund or chargeback. Both apply in one database transaction
//! (`ferrocast_db::purchases`): the event recorded, the ledger posted (tax, the platform's fee,
//! the creators' shares held for the hold period), a membership extended or ended. What a paid
//! purchase starts elsewhere (a tip's alert in chat and on the overlay, a goal's progress) hangs
//! off [`Purchases::subscribe`]: a [`PaidNotice`] for each payment applied on this node.

use crate::metrics::Metrics;
use crate::service::clock::SharedClock;
use ferrocast_db::billing::GatewayEvent;
use ferrocast_db::purchases::{
    IncomeRules, NewPurchase, PaidPayment, PurchaseApplied, PurchaseKind, PurchaseRecord, Reversal,
};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::billing::NotApplied;
use ferrocast_domain::ledger::tax_included;
use ferrocast_domain::time::DAY_MS;
use std::sync::Arc;
use tokio::sync::broadcast;

/// How long one membership payment lasts when the gateway does not say.
pub const MEMBERSHIP_PERIOD_MS: i64 = 30 * DAY_MS;

/// Why a purchase could not be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum PurchaseError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The purchase is not acceptable (`details`: which field, and why).
    #[error("invalid purchase: {0}")]
    Invalid(String),
    /// No such thing.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The event concerns a payment not known yet (it overtook the one creating it): nothing
    /// was recorded, and the gateway's redelivery applies it.
    #[error("the event concerns a payment not known yet")]
    NotYetKnown,
}

/// A payment applied to a purchase, for whatever follows from it on this node.
#[derive(Debug, Clone)]
pub struct PaidNotice {
    /// The purchase, as it stands after the payment.
    pub purchase: PurchaseRecord,
    /// The ledger transaction that credited it.
    pub transaction_id: i64,
    /// Whether this payment renewed a membership paid before.
    pub renewal: bool,
}

/// What a purchase is for, as its adapter checked it.
#[derive(Debug, Clone, Copy)]
pub struct PurchaseRequest<'a> {
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
    /// The buyer's country (ISO 3166 alpha-2) for tax, if known.
    pub country: Option<&'a str>,
    /// A tip's message (already moderated).
    pub message: Option<&'a str>,
    /// A tip's display name.
    pub display_name: Option<&'a str>,
    /// A membership's tier.
    pub tier_id: Option<i64>,
    /// The video.
    pub video_id: Option<i64>,
    /// The live stream.
    pub source_id: Option<i64>,
}

/// Purchases and what gateways report about them.
pub struct Purchases {
    db: Db,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    rules: IncomeRules,
    paid: broadcast::Sender<PaidNotice>,
    /// Where payments are recorded.
    audit: Option<Arc<super::audit::Audit>>,
}

impl Purchases {
    /// The service: `fee_bps` the platform's fee, `hold_days` how long income is held.
    pub fn new(
        db: Db,
        clock: SharedClock,
        metrics: Arc<Metrics>,
        fee_bps: i64,
        hold_days: i64,
    ) -> Self {
        let (paid, _) = broadcast::channel(1024);
        Self {
            db,
            clock,
            metrics,
            rules: IncomeRules {
                fee_bps,
                hold_ms: hold_days * DAY_MS,
                membership_period_ms: MEMBERSHIP_PERIOD_MS,
            },
            paid,
            audit: None,
        }
    }

    /// Records the payments it applies, reverses or refuses in `audit`.
    pub fn with_audit(mut self, audit: Arc<super::audit::Audit>) -> Self {
        self.audit = Some(audit);
        self
    }

    async fn audit_event(&self, action: &str, subject: (&str, &str), details: serde_json::Value) {
        if let Some(audit) = &self.audit {
            audit
                .note(
                    super::audit::AuditEvent::new(action, super::audit::Actor::System)
                        .subject(subject.0, subject.1)
                        .details(details),
                )
                .await;
        }
    }

    /// The operator's income rules.
    pub fn rules(&self) -> IncomeRules {
        self.rules
    }

    /// Payments applied on this node, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PaidNotice> {
        self.paid.subscribe()
    }

    /// Creates a purchase, its tax worked out from the buyer's country's rate.
    pub async fn create(&self, r: &PurchaseRequest<'_>) -> Result<PurchaseRecord, PurchaseError> {
        if r.amount_minor <= 0 {
            return Err(PurchaseError::Invalid(
                "amount: must be more than zero".into(),
            ));
        }
        if r.buyer_id == r.creator_id {
            return Err(PurchaseError::Invalid(
                "channel: you cannot pay your own channel".into(),
            ));
        }
        let country = r
            .country
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()));
        let rate = match &country {
            Some(c) => self.db.tax_rate(c).await?.map(|(bps, _)| bps).unwrap_or(0),
            None => 0,
        };
        let tax = tax_included(r.amount_minor, rate);
        let uuid = uuid::Uuid::new_v4().to_string();
        Ok(self
            .db
            .create_purchase(
                &NewPurchase {
                    uuid: &uuid,
                    kind: r.kind,
                    buyer_id: r.buyer_id,
                    creator_id: r.creator_id,
                    provider: r.provider,
                    amount_minor: r.amount_minor,
                    currency: r.currency,
                    tax_minor: tax,
                    tax_country: country.as_deref().filter(|_| tax > 0),
                    message: r.message,
                    display_name: r.display_name,
                    tier_id: r.tier_id,
                    video_id: r.video_id,
                    source_id: r.source_id,
                },
                self.clock.now_ms(),
            )
            .await?)
    }

    /// A purchase by its public id, if it went through `provider`.
    pub async fn by_uuid(
        &self,
        provider: &str,
        uuid: Option<&str>,
    ) -> Result<Option<PurchaseRecord>, PurchaseError> {
        Ok(match uuid {
            Some(u) => self
                .db
                .purchase_by_uuid(u)
                .await?
                .filter(|p| p.provider == provider),
            None => None,
        })
    }

    /// Applies a payment of `purchase` (`event`: `None` when the buyer's browser confirmed
    /// it); `true` if it credited something now.
    pub async fn complete(
        &self,
        event: Option<&GatewayEvent<'_>>,
        purchase: &PurchaseRecord,
        pay: &PaidPayment<'_>,
    ) -> Result<bool, PurchaseError> {
        let renewal = purchase.paid_at.is_some();
        let applied = self
            .db
            .complete_purchase(event, purchase, pay, &self.rules, self.clock.now_ms())
            .await?;
        match applied {
            PurchaseApplied::Done { transaction_id } => {
                let purchase = self
                    .db
                    .purchase_by_uuid(&purchase.uuid)
                    .await?
                    .unwrap_or_else(|| purchase.clone());
                self.metrics.purchase_paid(purchase.kind.as_str());
                tracing::info!(
                    purchase = purchase.uuid,
                    kind = purchase.kind,
                    gateway = purchase.provider,
                    amount_minor = purchase.amount_minor,
                    currency = purchase.currency,
                    "purchase paid"
                );
                self.audit_event(
                    "payment.purchase_paid",
                    ("purchase", purchase.uuid.as_str()),
                    serde_json::json!({
                        "kind": purchase.kind,
                        "gateway": purchase.provider,
                        "event": event.map(|e| e.id),
                        "amount_minor": purchase.amount_minor,
                        "tax_minor": purchase.tax_minor,
                        "currency": purchase.currency,
                        "buyer": purchase.buyer_id,
                        "creator": purchase.creator_id,
                        "renewal": renewal,
                        "ledger_transaction": transaction_id,
                    }),
                )
                .await;
                // Nobody listening is fine: the ledger holds the payment.
                let _ = self.paid.send(PaidNotice {
                    purchase,
                    transaction_id,
                    renewal,
                });
                Ok(true)
            }
            PurchaseApplied::Duplicate => Ok(false),
            PurchaseApplied::Ignored(reason) => {
                self.refused(event, purchase, reason);
                self.audit_event(
                    "payment.purchase_refused",
                    ("purchase", purchase.uuid.as_str()),
                    serde_json::json!({
                        "gateway": purchase.provider,
                        "event": event.map(|e| e.id),
                        "reason": reason.as_str(),
                    }),
                )
                .await;
                Ok(false)
            }
            PurchaseApplied::Unknown => Err(PurchaseError::NotYetKnown),
        }
    }

    /// A refund or chargeback of gateway payment `payment_id`; `true` if it reversed
    /// something now. [`PurchaseError::NotYetKnown`] when the payment is not known (yet).
    pub async fn reverse(
        &self,
        event: Option<&GatewayEvent<'_>>,
        provider: &str,
        payment_id: &str,
        reversal: &Reversal<'_>,
    ) -> Result<bool, PurchaseError> {
        let applied = self
            .db
            .reverse_payment(event, provider, payment_id, reversal, self.clock.now_ms())
            .await?;
        match applied {
            PurchaseApplied::Done { .. } => {
                let kind = if reversal.chargeback {
                    "chargeback"
                } else {
                    "refund"
                };
                self.metrics.purchase_reversed(kind);
                tracing::warn!(
                    gateway = provider,
                    payment = payment_id,
                    kind,
                    "purchase payment reversed"
                );
                self.audit_event(
                    "payment.purchase_reversed",
                    ("payment", payment_id),
                    serde_json::json!({
                        "gateway": provider,
                        "event": event.map(|e| e.id),
                        "kind": kind,
                    }),
                )
                .await;
                Ok(true)
            }
            PurchaseApplied::Duplicate | PurchaseApplied::Ignored(_) => Ok(false),
            PurchaseApplied::Unknown => Err(PurchaseError::NotYetKnown),
        }
    }

    fn refused(
        &self,
        event: Option<&GatewayEvent<'_>>,
        purchase: &PurchaseRecord,
        reason: NotApplied,
    ) {
        let gateway = purchase.provider.as_str();
        self.metrics.webhook_ignored(
            match gateway {
                "stripe" => "stripe",
                "razorpay" => "razorpay",
                "epayco" => "epayco",
                _ => "other",
            },
            reason,
        );
        tracing::error!(
            gateway,
            event = event.map(|e| e.id),
            purchase = purchase.uuid,
            reason = reason.as_str(),
            "payment does not match its purchase: nothing credited; settle it at the gateway (refund it)"
        );
    }
}

/// What the reversal's amount means when a gateway gives it: the whole payment when it equals
/// the amount paid.
pub fn reversal_amount(amount: Option<i64>, paid: i64) -> Option<i64> {
    amount.filter(|a| *a > 0 && *a < paid)
}
