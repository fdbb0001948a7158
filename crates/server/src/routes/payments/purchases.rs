//! The gateways' events about viewers' purchases from creators (tips, memberships,
//! pay-per-view), routed to [`crate::service::purchases::Purchases`]: a completed Checkout, a
//! captured Razorpay payment or an accepted ePayco confirmation completes its purchase; a paid
//! Stripe invoice renews a membership; a deleted Stripe subscription cancels one (it lasts to
//! the end of its period); refunds and chargebacks (Stripe `charge.refunded`,
//! `charge.dispute.created`; Razorpay `refund.processed`, `payment.dispute.created`; ePayco's
//! `Reversada`) reverse the payment's income.
//!
//! Each adapter asks here first, after checking the signature; what is not about a purchase
//! (`None`) goes on to plans' billing as before. Every application is idempotent in the
//! database (the event id, and the payment, refund or dispute id), so redeliveries, reordering
//! and a node killed mid-delivery credit each payment once. An event about a purchase of ours
//! whose payment is not known yet (it overtook the payment's event) answers 503 while it is at
//! most [`ferrocast_domain::billing::EVENT_MAX_AGE_SECS`] old, so the gateway delivers it again;
//! anything else that changes nothing answers 200 `applied: false`.

use super::Received;
use crate::error::ApiResult;
use crate::state::AppState;
use axum::Json;
use ferrocast_db::billing::GatewayEvent;
use ferrocast_db::purchases::{PaidPayment, PurchaseRecord, Reversal};
use ferrocast_domain::billing::{event_too_old, NotApplied};
use ferrocast_domain::plans::parse_money;
use ferrocast_payments::{epayco, razorpay, stripe};

fn answer(applied: bool) -> Option<Json<Received>> {
    Some(Json(Received {
        received: true,
        applied,
    }))
}

/// Records an event about a purchase that changes nothing, with why.
async fn not_applied(
    state: &AppState,
    event: &GatewayEvent<'_>,
    reason: NotApplied,
    detail: &str,
) -> ApiResult<Option<Json<Received>>> {
    let outcome = state.billing.not_applied(event, reason, detail).await?;
    Ok(answer(outcome.applied))
}

/// A purchase through `provider` by its id, if it is one.
async fn purchase(
    state: &AppState,
    provider: &str,
    uuid: Option<&str>,
) -> ApiResult<Option<PurchaseRecord>> {
    Ok(state.purchases.by_uuid(provider, uuid).await?)
}

/// The first of `payments` that is a purchase's income here.
async fn known_payment<'a>(
    state: &AppState,
    provider: &str,
    payments: &[Option<&'a str>],
) -> ApiResult<Option<(&'a str, PurchaseRecord)>> {
    for id in payments.iter().flatten() {
        if let Some(p) = state.db.purchase_by_payment(provider, id).await? {
            return Ok(Some((id, p)));
        }
    }
    Ok(None)
}

/// A reversal of a payment of ours that is not known yet: the gateway delivers it again while
/// that can still help.
fn not_yet_known(created: i64, now: i64) -> ApiResult<Option<Json<Received>>> {
    if event_too_old(created, now) {
        Ok(answer(false))
    } else {
        Err(crate::service::purchases::PurchaseError::NotYetKnown.into())
    }
}

// ------------------------------------------------------------------ Stripe

/// A Stripe event about a purchase, applied; `None` when it is not about one.
pub async fn stripe(
    state: &AppState,
    event: &GatewayEvent<'_>,
    e: &stripe::Event,
) -> ApiResult<Option<Json<Received>>> {
    let now = state.clock.now_secs();
    match e.kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let Ok(c) = stripe::checkout_completed(&e.object) else {
                return Ok(None);
            };
            if let Some(escrow) = c.escrow.as_deref() {
                // A brand's payment into a campaign's escrow.
                let applied =
                    crate::routes::campaign_work::stripe_escrow_paid(state, event, &c, escrow)
                        .await?;
                return Ok(answer(applied));
            }
            let named = c.purchase.as_deref();
            let Some(p) =
                purchase(state, "stripe", named.or(c.client_reference_id.as_deref())).await?
            else {
                return match named {
                    Some(uuid) => {
                        let detail = format!("session {} names purchase {uuid}", c.session_id);
                        not_applied(state, event, NotApplied::UnknownOrder, &detail).await
                    }
                    // A plan's Checkout (or someone else's): billing's.
                    None => Ok(None),
                };
            };
            if event_too_old(e.created, now) {
                let detail = format!("created {}", e.created);
                return not_applied(state, event, NotApplied::TooOld, &detail).await;
            }
            if let Some(sub) = c.subscription.as_deref() {
                // A membership: its invoices pay it (the first one too, `invoice.paid`); the
                // subscription is what renewals and cancellations name.
                if p.provider_subscription_id.is_none() {
                    state.db.set_purchase_subscription(p.id, sub).await?;
                    return Ok(answer(true));
                }
                return Ok(answer(false));
            }
            if c.payment_status != "paid" {
                // An asynchronous payment method: `async_payment_succeeded` follows.
                return Ok(answer(false));
            }
            let payment = c.payment_intent.as_deref().unwrap_or(&c.session_id);
            let applied = state
                .purchases
                .complete(
                    Some(event),
                    &p,
                    &PaidPayment {
                        provider_payment_id: payment,
                        amount_minor: c.amount_total,
                        currency: &c.currency,
                        subscription: None,
                        period_end: None,
                    },
                )
                .await?;
            Ok(answer(applied))
        }
        "invoice.paid" => {
            let Ok(i) = stripe::invoice(&e.object) else {
                return Ok(None);
            };
            let p = match (i.purchase.as_deref(), i.subscription.as_deref()) {
                (Some(uuid), _) => purchase(state, "stripe", Some(uuid)).await?,
                (None, Some(sub)) => state.db.purchase_by_subscription("stripe", sub).await?,
                (None, None) => None,
            };
            let Some(p) = p else {
                return match i.purchase.as_deref() {
                    Some(uuid) => {
                        let detail = format!("invoice {} names purchase {uuid}", i.id);
                        not_applied(state, event, NotApplied::UnknownOrder, &detail).await
                    }
                    None => Ok(None),
                };
            };
            if event_too_old(e.created, now) {
                let detail = format!("created {}", e.created);
                return not_applied(state, event, NotApplied::TooOld, &detail).await;
            }
            // Each paid invoice is one payment of the membership (the first, then each month),
            // known by the PaymentIntent that paid it (what refunds and disputes name), or by
            // the invoice where the API version leaves the PaymentIntent out.
            let payment = i.payment_intent.as_deref().unwrap_or(&i.id);
            let applied = state
                .purchases
                .complete(
                    Some(event),
                    &p,
                    &PaidPayment {
                        provider_payment_id: payment,
                        amount_minor: i.amount_paid,
                        currency: &i.currency,
                        subscription: i.subscription.as_deref(),
                        period_end: i.period_end.map(|t| t.saturating_mul(1000)),
                    },
                )
                .await?;
            Ok(answer(applied))
        }
        "invoice.payment_failed" => {
            let Ok(i) = stripe::invoice(&e.object) else {
                return Ok(None);
            };
            let ours = match (i.purchase.as_deref(), i.subscription.as_deref()) {
                (Some(_), _) => true,
                (None, Some(sub)) => state
                    .db
                    .purchase_by_subscription("stripe", sub)
                    .await?
                    .is_some(),
                _ => false,
            };
            // A membership whose renewal failed lapses at the end of its period (and grace):
            // nothing to change now; Stripe retries the charge.
            Ok(ours.then(|| {
                Json(Received {
                    received: true,
                    applied: false,
                })
            }))
        }
        "customer.subscription.deleted" | "customer.subscription.updated" => {
            let Ok(s) = stripe::subscription(&e.object) else {
                return Ok(None);
            };
            let p = match s.purchase.as_deref() {
                Some(uuid) => purchase(state, "stripe", Some(uuid)).await?,
                None => state.db.purchase_by_subscription("stripe", &s.id).await?,
            };
            let Some(p) = p else {
                return Ok(s.purchase.is_some().then(|| {
                    Json(Received {
                        received: true,
                        applied: false,
                    })
                }));
            };
            let ended = e.kind == "customer.subscription.deleted"
                || matches!(
                    s.status.as_str(),
                    "canceled" | "unpaid" | "incomplete_expired"
                );
            if !ended {
                return Ok(answer(false));
            }
            // No more renewals: the membership lasts to the end of what was paid.
            let changed = state
                .db
                .cancel_membership_of(p.id, state.clock.now_ms())
                .await?;
            Ok(answer(changed))
        }
        "charge.refunded" => {
            let Ok(ch) = stripe::charge(&e.object) else {
                return Ok(None);
            };
            if ch.amount_refunded <= 0 {
                return Ok(None);
            }
            let ids = [ch.payment_intent.as_deref(), ch.invoice.as_deref()];
            let Some((payment, _)) = known_payment(state, "stripe", &ids).await? else {
                return match purchase(state, "stripe", ch.purchase.as_deref()).await? {
                    Some(_) => not_yet_known(e.created, now),
                    None => Ok(None),
                };
            };
            // Stripe sends the running total refunded: one reversal per total reached.
            let id = format!("{}:{}", ch.id, ch.amount_refunded);
            let applied = state
                .purchases
                .reverse(
                    Some(event),
                    "stripe",
                    payment,
                    &Reversal {
                        chargeback: false,
                        id: &id,
                        amount_minor: Some(ch.amount_refunded),
                        running_total: true,
                    },
                )
                .await?;
            Ok(answer(applied))
        }
        "charge.dispute.created" => {
            let Ok(d) = stripe::dispute(&e.object) else {
                return Ok(None);
            };
            let ids = [d.payment_intent.as_deref()];
            let Some((payment, p)) = known_payment(state, "stripe", &ids).await? else {
                return Ok(None);
            };
            let applied = state
                .purchases
                .reverse(
                    Some(event),
                    "stripe",
                    payment,
                    &Reversal {
                        chargeback: true,
                        id: &d.id,
                        amount_minor: crate::service::purchases::reversal_amount(
                            Some(d.amount),
                            p.amount_minor,
                        ),
                        running_total: false,
                    },
                )
                .await?;
            Ok(answer(applied))
        }
        _ => Ok(None),
    }
}

// ------------------------------------------------------------------ Razorpay

/// A Razorpay event about a purchase, applied; `None` when it is not about one.
pub async fn razorpay(
    state: &AppState,
    event: &GatewayEvent<'_>,
    e: &razorpay::Event,
) -> ApiResult<Option<Json<Received>>> {
    let now = state.clock.now_secs();
    let order_purchase = match e.payment.as_ref().and_then(|p| p.order_id.as_deref()) {
        Some(order) => state.db.purchase_by_ref("razorpay", order).await?,
        None => None,
    };
    match e.kind.as_str() {
        "payment.captured" | "order.paid" => {
            let (Some(pay), Some(p)) = (e.payment.as_ref(), order_purchase) else {
                return Ok(None);
            };
            if event_too_old(e.created_at, now) {
                let detail = format!("created_at {}", e.created_at);
                return not_applied(state, event, NotApplied::TooOld, &detail).await;
            }
            let applied = state
                .purchases
                .complete(
                    Some(event),
                    &p,
                    &PaidPayment {
                        provider_payment_id: &pay.id,
                        amount_minor: pay.amount,
                        currency: &pay.currency,
                        subscription: None,
                        period_end: None,
                    },
                )
                .await?;
            Ok(answer(applied))
        }
        // Nothing was taken: the purchase stays unpaid (the buyer may try again).
        "payment.failed" => Ok(order_purchase.map(|_| {
            Json(Received {
                received: true,
                applied: false,
            })
        })),
        "refund.processed" | "payment.dispute.created" => {
            let (payment_id, reversal_id, amount, chargeback) =
                match (&e.refund, &e.dispute, e.kind.as_str()) {
                    (Some(r), _, "refund.processed") => (&r.payment_id, &r.id, r.amount, false),
                    (_, Some(d), "payment.dispute.created") => {
                        (&d.payment_id, &d.id, d.amount, true)
                    }
                    _ => return Ok(None),
                };
            let Some((payment, p)) =
                known_payment(state, "razorpay", &[Some(payment_id.as_str())]).await?
            else {
                return match order_purchase {
                    Some(_) => not_yet_known(e.created_at, now),
                    None => Ok(None),
                };
            };
            let applied = state
                .purchases
                .reverse(
                    Some(event),
                    "razorpay",
                    payment,
                    &Reversal {
                        chargeback,
                        id: reversal_id,
                        amount_minor: crate::service::purchases::reversal_amount(
                            Some(amount),
                            p.amount_minor,
                        ),
                        running_total: false,
                    },
                )
                .await?;
            Ok(answer(applied))
        }
        _ => Ok(None),
    }
}

/// Razorpay Checkout's callback for a purchase's order: the signature was checked; the payment
/// is the order's (its amount is the purchase's, set when the order was made). `None` when the
/// order is not a purchase's.
pub async fn razorpay_paid(
    state: &AppState,
    order_id: &str,
    payment_id: &str,
) -> ApiResult<Option<PurchaseRecord>> {
    let Some(p) = state.db.purchase_by_ref("razorpay", order_id).await? else {
        return Ok(None);
    };
    state
        .purchases
        .complete(
            None,
            &p,
            &PaidPayment {
                provider_payment_id: payment_id,
                amount_minor: p.amount_minor,
                currency: &p.currency,
                subscription: None,
                period_end: None,
            },
        )
        .await?;
    Ok(Some(p))
}

// ------------------------------------------------------------------ ePayco

/// An ePayco confirmation (its outcome read back from ePayco) about a purchase, applied;
/// `None` when its invoice is not a purchase.
pub async fn epayco(
    state: &AppState,
    event: &GatewayEvent<'_>,
    v: &epayco::Validation,
) -> ApiResult<Option<Json<Received>>> {
    let Some(p) = purchase(state, "epayco", Some(&v.invoice)).await? else {
        return Ok(None);
    };
    if epayco::reversed(v.response) {
        // A payment ePayco had accepted, taken back; one never accepted simply failed.
        if state
            .db
            .purchase_by_payment("epayco", &v.ref_payco)
            .await?
            .is_none()
        {
            return Ok(answer(false));
        }
        let applied = state
            .purchases
            .reverse(
                Some(event),
                "epayco",
                &v.ref_payco,
                &Reversal {
                    chargeback: false,
                    id: &v.ref_payco,
                    amount_minor: None,
                    running_total: false,
                },
            )
            .await?;
        return Ok(answer(applied));
    }
    if epayco::Outcome::of(v.response) != epayco::Outcome::Accepted {
        return Ok(answer(false));
    }
    let Some(paid) = parse_money(&v.amount) else {
        let detail = format!("purchase {}: paid {} {}", p.uuid, v.amount, v.currency);
        return not_applied(state, event, NotApplied::AmountMismatch, &detail).await;
    };
    let applied = state
        .purchases
        .complete(
            Some(event),
            &p,
            &PaidPayment {
                provider_payment_id: &v.ref_payco,
                amount_minor: paid,
                currency: &v.currency,
                subscription: None,
                period_end: None,
            },
        )
        .await?;
    Ok(answer(applied))
}
