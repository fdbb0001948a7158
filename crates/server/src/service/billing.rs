//! Billing: orders, and what a payment gateway's event does, whichever gateway sent it.
//!
//! The adapters (`routes::payments::{stripe, razorpay, epayco}`) check each request as its
//! gateway documents and map its payload to a neutral [`SubscriptionChange`] (a
//! [`GatewayFact`] and what of ours it names); this service applies it in one transaction
//! (`ferrocast_db::billing`, where [`ferrocast_domain::billing::transition`] decides), records
//! what changes nothing with its reason, and counts it in
//! `ferrocast_webhook_events_ignored_total{gateway,reason}`. A payment that does not match its
//! order is refused: the order marked, an error logged, `ferrocast_payment_mismatches_total`
//! counted and the administrators mailed. Money moves through the one ledger (`payments`).

use crate::metrics::Metrics;
use crate::service::clock::SharedClock;
use ferrocast_db::billing::{
    Applied, GatewayEvent, NewOrder, OrderRecord, PaymentEntry, SubscriptionChange,
};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::billing::{price, Cycle, GatewayFact, NotApplied};
use ferrocast_domain::currency::{self, Currency};
use ferrocast_domain::mail::{Mail, Mailer};
use ferrocast_domain::plans::format_money;
use std::sync::Arc;

/// Why billing refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The purchase is not acceptable (`details`: which field, and why).
    #[error("invalid purchase: {0}")]
    Invalid(String),
    /// No such thing, or not the caller's.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The event concerns a payment of ours not known yet (it overtook the event creating it):
    /// nothing was recorded, and the gateway's redelivery applies it.
    #[error("the event concerns a payment not known yet")]
    NotYetKnown,
}

/// What a gateway event (or a confirmed payment) did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Whether it changed anything (`false`: seen before, or recorded without being applied).
    pub applied: bool,
    /// Subscriptions a purchase replaced that a gateway bills, as (gateway, gateway id), to
    /// cancel there too (they are canceled here already).
    pub replaced: Vec<(String, String)>,
}

/// A plan to buy, as the buyer asked for it.
#[derive(Debug, Clone, Copy)]
pub struct Purchase<'a> {
    /// The plan.
    pub plan_id: i64,
    /// `monthly` or `yearly`.
    pub billing_cycle: &'a str,
    /// `USD` or `INR`, any case; `None`: the gateway's default.
    pub currency: Option<&'a str>,
}

/// Orders and gateway events.
pub struct Billing {
    db: Db,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    mailer: Arc<dyn Mailer>,
    grace_ms: i64,
    /// Where payment events are recorded.
    audit: Option<Arc<super::audit::Audit>>,
}

/// The metric label of a gateway (a closed set).
fn gateway_label(provider: &str) -> &'static str {
    match provider {
        "stripe" => "stripe",
        "razorpay" => "razorpay",
        "epayco" => "epayco",
        _ => "other",
    }
}

impl Billing {
    /// The service; `grace_days`: how long a subscription whose renewal failed stays entitled.
    pub fn new(
        db: Db,
        clock: SharedClock,
        metrics: Arc<Metrics>,
        mailer: Arc<dyn Mailer>,
        grace_days: i64,
    ) -> Self {
        Self {
            db,
            clock,
            metrics,
            mailer,
            grace_ms: grace_days * ferrocast_domain::time::DAY_MS,
            audit: None,
        }
    }

    /// Records the payment events it applies or refuses in `audit`.
    pub fn with_audit(mut self, audit: Arc<super::audit::Audit>) -> Self {
        self.audit = Some(audit);
        self
    }

    async fn audit_event(
        &self,
        action: &str,
        subject: Option<(&str, &str)>,
        details: serde_json::Value,
    ) {
        if let Some(audit) = &self.audit {
            let mut e =
                super::audit::AuditEvent::new(action, super::audit::Actor::System).details(details);
            if let Some((kind, id)) = subject {
                e = e.subject(kind, id);
            }
            audit.note(e).await;
        }
    }

    /// Checks a purchase and creates its order through `provider`; the order and the plan's
    /// name.
    pub async fn new_order(
        &self,
        user_id: i64,
        p: &Purchase<'_>,
        provider: &str,
        default_currency: &str,
    ) -> Result<(OrderRecord, String), BillingError> {
        let cycle = Cycle::parse(p.billing_cycle).ok_or_else(|| {
            BillingError::Invalid("billing_cycle: must be `monthly` or `yearly`".into())
        })?;
        let currency = p.currency.unwrap_or(default_currency).to_ascii_uppercase();
        let plan = self
            .db
            .plan_by_id(p.plan_id)
            .await?
            .filter(|pl| pl.is_active)
            .ok_or(BillingError::NotFound("plan"))?;
        let amount = price(&plan.spec, cycle, &currency)
            .ok_or_else(|| BillingError::Invalid("currency: must be `USD` or `INR`".into()))?;
        if amount <= 0 {
            return Err(BillingError::Invalid(format!(
                "plan_id: {} is free; nothing to pay",
                plan.spec.name
            )));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let order = self
            .db
            .create_order(
                &NewOrder {
                    uuid: &uuid,
                    user_id,
                    plan_id: plan.id,
                    cycle,
                    provider,
                    amount_minor: amount,
                    currency: &currency,
                },
                self.clock.now_ms(),
            )
            .await?;
        Ok((order, plan.spec.name))
    }

    /// Stores the gateway's id of an order.
    pub async fn set_order_ref(
        &self,
        order: &OrderRecord,
        gateway_ref: &str,
    ) -> Result<(), BillingError> {
        Ok(self
            .db
            .set_order_ref(order.id, gateway_ref, self.clock.now_ms())
            .await?)
    }

    /// An order of ours through `provider`, by the gateway's id of it.
    pub async fn order_by_ref(
        &self,
        provider: &str,
        gateway_ref: &str,
    ) -> Result<Option<OrderRecord>, BillingError> {
        Ok(self.db.order_by_ref(provider, gateway_ref).await?)
    }

    /// An order of ours through `provider`, by the public id ferrocast gave the gateway (a
    /// checkout's reference, a subscription's metadata, an invoice number), if it names one.
    pub async fn order_by_uuid(
        &self,
        provider: &str,
        uuid: Option<&str>,
    ) -> Result<Option<OrderRecord>, BillingError> {
        Ok(match uuid {
            Some(u) => self
                .db
                .order_by_uuid(u)
                .await?
                .filter(|o| o.provider == provider),
            None => None,
        })
    }

    /// Applies a gateway event's change (`event`: `None` for a payment the buyer's browser
    /// confirmed).
    pub async fn apply(
        &self,
        event: Option<&GatewayEvent<'_>>,
        change: &SubscriptionChange<'_>,
    ) -> Result<Outcome, BillingError> {
        let applied = self
            .db
            .apply_subscription_change(event, change, self.grace_ms, self.clock.now_ms())
            .await?;
        if let Applied::Done { .. } = &applied {
            let payment = change.payment.as_ref().map(|p| {
                serde_json::json!({"id": p.id, "amount_minor": p.amount_minor, "currency": p.currency, "succeeded": p.succeeded})
            });
            self.audit_event(
                "payment.subscription_event",
                change.order.map(|o| ("order", o.uuid.as_str())),
                serde_json::json!({
                    "gateway": change.provider,
                    "event": event.map(|e| e.id),
                    "event_kind": event.map(|e| e.kind),
                    "fact": format!("{:?}", change.fact),
                    "subscription": change.subscription,
                    "payment": payment,
                }),
            )
            .await;
        }
        self.outcome(change.provider, event, applied)
    }

    /// A one-time payment `payment_id` of `order` (Razorpay, ePayco): stored once, and one more
    /// cycle of the order's plan.
    pub async fn pay_order(
        &self,
        event: Option<&GatewayEvent<'_>>,
        order: &OrderRecord,
        payment_id: &str,
    ) -> Result<Outcome, BillingError> {
        let cycle = Cycle::parse(&order.billing_cycle).unwrap_or(Cycle::Monthly);
        let description = format!("plan, {} ({})", order.billing_cycle, order.provider);
        let change = SubscriptionChange {
            payment: Some(PaymentEntry {
                id: payment_id,
                order_id: Some(order.id),
                amount_minor: order.amount_minor,
                currency: &order.currency,
                succeeded: true,
                description: &description,
            }),
            ..one_time(order, GatewayFact::CyclePaid { cycle })
        };
        self.apply(event, &change).await
    }

    /// A payment `payment_id` of `order` the gateway refused: recorded once, the order failed
    /// unless already paid.
    pub async fn fail_order(
        &self,
        event: &GatewayEvent<'_>,
        order: &OrderRecord,
        payment_id: &str,
    ) -> Result<Outcome, BillingError> {
        let id = format!("{payment_id}:failed");
        let change = SubscriptionChange {
            payment: Some(PaymentEntry {
                id: &id,
                order_id: Some(order.id),
                amount_minor: order.amount_minor,
                currency: &order.currency,
                succeeded: false,
                description: "payment refused",
            }),
            ..one_time(order, GatewayFact::PaymentFailed)
        };
        self.apply(Some(event), &change).await
    }

    /// Records a genuine event that changes nothing (`detail`: a line for the operator).
    pub async fn not_applied(
        &self,
        event: &GatewayEvent<'_>,
        reason: NotApplied,
        detail: &str,
    ) -> Result<Outcome, BillingError> {
        let applied = self
            .db
            .record_not_applied(event, reason, detail, self.clock.now_ms())
            .await?;
        self.outcome(event.provider, Some(event), applied)
    }

    /// A payment that does not match its order (`paid`, `currency`: what the gateway says was
    /// paid): nothing granted, the event recorded and the order refused, the operator alerted
    /// (error log, metric, mail to the administrators). The gateway's redeliveries would not
    /// change it.
    pub async fn refuse(
        &self,
        event: &GatewayEvent<'_>,
        order: &OrderRecord,
        reason: NotApplied,
        paid: &str,
        currency: &str,
    ) -> Result<Outcome, BillingError> {
        let currency: String = currency.chars().take(8).collect();
        let paid: String = paid.chars().take(24).collect();
        let due = format_money(order.amount_minor);
        let detail = format!(
            "order {}: paid {paid} {currency}, due {due} {}",
            order.uuid, order.currency
        );
        let applied = self
            .db
            .refuse_order(event, order, reason, &detail, self.clock.now_ms())
            .await?;
        if applied == Applied::Ignored(reason) {
            self.audit_event(
                "payment.refused",
                Some(("order", order.uuid.as_str())),
                serde_json::json!({
                    "gateway": event.provider,
                    "event": event.id,
                    "reason": reason.as_str(),
                    "paid": paid,
                    "currency": currency,
                    "due_minor": order.amount_minor,
                    "due_currency": order.currency,
                }),
            )
            .await;
            tracing::error!(
                gateway = event.provider,
                event = event.id,
                order = order.uuid,
                paid,
                currency,
                due,
                due_currency = order.currency,
                reason = reason.as_str(),
                "payment does not match its order: nothing granted; settle it at the gateway (refund it, or grant the plan by hand)"
            );
            self.alert_admins(
                format!(
                    "ferrocast: a {} payment does not match its order",
                    event.provider
                ),
                format!(
                    "{} reported a payment (event {}) that does not match the order it names, so \
                     nothing was granted.\n\n{detail}\nreason: {}\n\nSettle it at {}: refund the \
                     payment, or grant the plan by hand.",
                    event.provider,
                    event.id,
                    reason.as_str(),
                    event.provider
                ),
            );
        }
        self.outcome(event.provider, Some(event), applied)
    }

    /// What an event did, counted: what is not applied by reason, what waits as deferred.
    fn outcome(
        &self,
        provider: &str,
        event: Option<&GatewayEvent<'_>>,
        applied: Applied,
    ) -> Result<Outcome, BillingError> {
        let gateway = gateway_label(provider);
        match applied {
            Applied::Done { replaced } => Ok(Outcome {
                applied: true,
                replaced,
            }),
            Applied::Duplicate => Ok(Outcome::default()),
            Applied::Ignored(reason) => {
                self.metrics.webhook_ignored(gateway, reason);
                // Mismatches are logged at error level where they are refused.
                if !reason.is_mismatch() {
                    tracing::info!(
                        gateway,
                        event = event.map(|e| e.id),
                        kind = event.map(|e| e.kind),
                        reason = reason.as_str(),
                        "gateway event recorded and not applied"
                    );
                }
                Ok(Outcome::default())
            }
            Applied::Unknown => {
                self.metrics.webhook_deferred(gateway);
                Err(BillingError::NotYetKnown)
            }
        }
    }

    /// The currency `user_id` sees prices in and pays in: their choice, else what their
    /// browser's `Accept-Language` suggests (SPEC §2.5); and whether they chose it.
    pub async fn currency_for(
        &self,
        user_id: i64,
        accept_language: Option<&str>,
    ) -> Result<(Currency, bool), BillingError> {
        let chosen = self
            .db
            .billing_currency(user_id)
            .await?
            .and_then(|c| Currency::parse(&c));
        Ok(match chosen {
            Some(c) => (c, true),
            None => (currency::from_accept_language(accept_language), false),
        })
    }

    /// The gateway that renews `user_id`'s current subscription by itself (Stripe bills a
    /// subscription; Razorpay and ePayco sell one period per order), if any.
    pub async fn renewing_gateway(&self, user_id: i64) -> Result<Option<String>, BillingError> {
        let Some(sub) = self.db.current_subscription(user_id).await? else {
            return Ok(None);
        };
        Ok(self
            .db
            .subscription_gateway(sub.id)
            .await?
            .map(|(provider, _)| provider)
            // Razorpay and ePayco subscriptions carry their last order's reference, not a
            // subscription the gateway bills.
            .filter(|provider| provider == "stripe"))
    }

    /// Records the currency `user_id` chose (`code`: `USD` or `INR`, any case).
    pub async fn set_currency(&self, user_id: i64, code: &str) -> Result<Currency, BillingError> {
        let c = Currency::parse(code)
            .ok_or_else(|| BillingError::Invalid("currency: must be `USD` or `INR`".into()))?;
        self.db
            .set_billing_currency(user_id, c.code(), self.clock.now_ms())
            .await?;
        Ok(c)
    }

    /// Mails the administrators (in the background) about something a person has to settle.
    /// The error-level log line and the metric that go with it stand on their own: a node
    /// without mail, or without administrators, still alerts.
    fn alert_admins(&self, subject: String, body: String) {
        let db = self.db.clone();
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            let admins = match db.admin_emails(20).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the administrators to alert");
                    return;
                }
            };
            for to in admins {
                let mail = Mail {
                    to,
                    subject: subject.clone(),
                    body: body.clone(),
                    headers: Vec::new(),
                };
                if let Err(e) = mailer.send(mail).await {
                    tracing::warn!(error = %e, "alerting an administrator by mail failed");
                }
            }
        });
    }
}

/// A change to the subscription an order pays for, order by order, through its gateway.
fn one_time(order: &OrderRecord, fact: GatewayFact) -> SubscriptionChange<'_> {
    SubscriptionChange {
        provider: &order.provider,
        order: Some(order),
        subscription: None,
        customer: None,
        payment: None,
        invoice: None,
        fact,
    }
}

mod manual;
