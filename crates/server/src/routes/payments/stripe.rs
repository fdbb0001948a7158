//! Stripe: Checkout and the Customer Portal, and the webhook. Stripe bills the subscription
//! itself, so its events map to the neutral facts of a gateway-billed subscription: a
//! completed Checkout starts it, `customer.subscription.*` states it, and invoices renew it
//! or make it late ([`GatewayFact`]).

use super::{acknowledged, bad_event, bad_signature, new_order, received, Purchase, Received};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::gateways::{self, stripe_keys};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use ferrocast_db::billing::{GatewayEvent, PaymentEntry, SubscriptionChange};
use ferrocast_domain::billing::{
    event_too_old, payment_mismatch, Cycle, GatewayFact, NotApplied, SubscriptionStatus,
};
use ferrocast_domain::plans::format_money;
use ferrocast_payments::stripe;
use serde::Serialize;
use utoipa::ToSchema;

/// Where to send the user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redirect {
    /// The Checkout Session or portal session id, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The page to open.
    pub url: String,
}

/// Start a Stripe Checkout for a plan: open `url`; the plan is active once Stripe confirms.
#[utoipa::path(post, path = "/api/payments/stripe/checkout", tag = "payments", security(("bearer" = [])), request_body = Purchase,
    responses((status = 200, body = Redirect), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn stripe_checkout(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(p): ApiJson<Purchase>,
) -> ApiResult<Json<Redirect>> {
    stripe_keys(&state)?;
    let (order, plan) = new_order(&state, &auth, &p, "stripe", "USD").await?;
    let cycle = Cycle::parse(&order.billing_cycle).unwrap_or(Cycle::Monthly);
    let customer = state.db.billing_customer(auth.user.id, "stripe").await?;
    let base = &state.config.public_url;
    let product = format!("ferrocast {plan}, {}", order.billing_cycle);
    let form = stripe::checkout_form(&stripe::CheckoutRequest {
        unit_amount: order.amount_minor,
        currency: &order.currency,
        interval: cycle.interval(),
        product_name: &product,
        order: &order.uuid,
        customer: customer.as_deref(),
        customer_email: Some(&auth.user.email),
        success_url: &format!("{base}/dashboard/subscription?checkout=success"),
        cancel_url: &format!("{base}/dashboard/subscription?checkout=canceled"),
    });
    let (session, url) = gateways::stripe_checkout(&state, &form).await?;
    state.billing.set_order_ref(&order, &session).await?;
    Ok(Json(Redirect {
        session_id: Some(session),
        url,
    }))
}

/// Open Stripe's Customer Portal (invoices, payment method, cancel).
#[utoipa::path(post, path = "/api/payments/stripe/portal", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = Redirect), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn stripe_portal(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<Redirect>> {
    stripe_keys(&state)?;
    let customer = state
        .db
        .billing_customer(auth.user.id, "stripe")
        .await?
        .ok_or_else(|| ApiError::not_found("Stripe customer"))?;
    let url = gateways::stripe_portal(
        &state,
        &customer,
        &format!("{}/dashboard/subscription", state.config.public_url),
    )
    .await?;
    Ok(Json(Redirect {
        session_id: None,
        url,
    }))
}

/// The Stripe events billing handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StripeKind {
    /// `checkout.session.completed`, `checkout.session.async_payment_succeeded`.
    Checkout,
    /// `customer.subscription.created`, `…updated`, `…deleted`.
    Subscription,
    /// `invoice.paid`, `invoice.payment_failed`.
    Invoice,
}

impl StripeKind {
    fn of(kind: &str) -> Option<Self> {
        match kind {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
                Some(StripeKind::Checkout)
            }
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted" => Some(StripeKind::Subscription),
            "invoice.paid" | "invoice.payment_failed" => Some(StripeKind::Invoice),
            _ => None,
        }
    }
}

/// What Stripe's subscription status means here; `None` for `incomplete` (the first payment
/// is not through yet: nothing changes).
fn status(stripe: &str) -> Option<SubscriptionStatus> {
    match stripe {
        "trialing" => Some(SubscriptionStatus::Trialing),
        "active" => Some(SubscriptionStatus::Active),
        "past_due" | "unpaid" => Some(SubscriptionStatus::PastDue),
        "canceled" | "incomplete_expired" | "paused" => Some(SubscriptionStatus::Canceled),
        _ => None,
    }
}

/// A change to the Stripe subscription `id` (`order`: ours, from its metadata, if named).
fn change<'a>(
    id: &'a str,
    order: Option<&'a ferrocast_db::billing::OrderRecord>,
    fact: GatewayFact,
) -> SubscriptionChange<'a> {
    SubscriptionChange {
        provider: "stripe",
        order,
        subscription: Some(id),
        customer: None,
        payment: None,
        invoice: None,
        fact,
    }
}

/// Stripe's webhook: `checkout.session.completed|async_payment_succeeded`,
/// `customer.subscription.created|updated|deleted`, `invoice.paid`, `invoice.payment_failed`,
/// and for creators' purchases also `charge.refunded` and `charge.dispute.created`, checked
/// with `Stripe-Signature`. 200 `applied: false` for what changes nothing (recorded
/// with why); 503 only for an event that overtook its object's Checkout, within 7 days.
#[utoipa::path(post, path = "/api/payments/stripe/webhook", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "Stripe's event, as sent"),
    responses((status = 200, body = Received), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Received>> {
    let keys = stripe_keys(&state)?;
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    stripe::verify(
        header,
        &body,
        keys.webhook_secret.expose(),
        state.clock.now_secs(),
        stripe::TOLERANCE_SECS,
    )
    .map_err(bad_signature)?;
    let e = stripe::parse_event(&body).map_err(bad_event)?;
    let event = GatewayEvent {
        provider: "stripe",
        id: &e.id,
        kind: &e.kind,
    };
    // Viewers' purchases from creators first; plans' billing gets the rest.
    if let Some(answer) = super::purchases::stripe(&state, &event, &e).await? {
        return Ok(answer);
    }
    let Some(kind) = StripeKind::of(&e.kind) else {
        // Not about billing: acknowledged, not recorded.
        return Ok(acknowledged());
    };
    let billing = &state.billing;
    if event_too_old(e.created, state.clock.now_secs()) {
        let detail = format!("created {}", e.created);
        let outcome = billing
            .not_applied(&event, NotApplied::TooOld, &detail)
            .await?;
        return Ok(received(&state, outcome));
    }
    let outcome = match kind {
        StripeKind::Checkout => {
            let c = stripe::checkout_completed(&e.object).map_err(bad_event)?;
            let reference = c.client_reference_id.as_deref();
            let Some(order) = billing.order_by_uuid("stripe", reference).await? else {
                let detail = format!(
                    "session {} names order {}",
                    c.session_id,
                    reference.unwrap_or("(none)")
                );
                let outcome = billing
                    .not_applied(&event, NotApplied::UnknownOrder, &detail)
                    .await?;
                return Ok(received(&state, outcome));
            };
            // One Checkout, one payment: once refused, its later events (the payment settling)
            // are not refused again, only recorded as about a refused order.
            let mismatch = payment_mismatch(
                c.amount_total,
                &c.currency,
                order.amount_minor,
                &order.currency,
            )
            .filter(|_| order.refused_reason.is_none());
            if let Some(reason) = mismatch {
                let paid = format_money(c.amount_total);
                let outcome = billing
                    .refuse(&event, &order, reason, &paid, &c.currency)
                    .await?;
                return Ok(received(&state, outcome));
            }
            let fact = GatewayFact::CheckoutCompleted {
                paid: matches!(c.payment_status.as_str(), "paid" | "no_payment_required"),
                bills_subscription: c.subscription.is_some(),
            };
            let change = SubscriptionChange {
                provider: "stripe",
                order: Some(&order),
                subscription: c.subscription.as_deref(),
                customer: c.customer.as_deref(),
                payment: None,
                invoice: None,
                fact,
            };
            billing.apply(Some(&event), &change).await?
        }
        StripeKind::Subscription => {
            let s = stripe::subscription(&e.object).map_err(bad_event)?;
            let order = billing.order_by_uuid("stripe", s.order.as_deref()).await?;
            let fact = GatewayFact::Reported {
                status: if e.kind == "customer.subscription.deleted" {
                    Some(SubscriptionStatus::Canceled)
                } else {
                    status(&s.status)
                },
                period_start: s.current_period_start.map(|t| t * 1000),
                period_end: s.current_period_end.map(|t| t * 1000),
                cancel_at_period_end: s.cancel_at_period_end,
                at: e.created * 1000,
            };
            billing
                .apply(Some(&event), &change(&s.id, order.as_ref(), fact))
                .await?
        }
        StripeKind::Invoice => {
            let i = stripe::invoice(&e.object).map_err(bad_event)?;
            let Some(sub) = i.subscription.as_deref() else {
                // ferrocast sells subscriptions only: a one-off invoice is not ours.
                let detail = format!("invoice {} bills no subscription", i.id);
                let outcome = billing
                    .not_applied(&event, NotApplied::UnknownSubscription, &detail)
                    .await?;
                return Ok(received(&state, outcome));
            };
            let order = billing.order_by_uuid("stripe", i.order.as_deref()).await?;
            let paid = e.kind == "invoice.paid";
            // Each failed attempt is its own refused charge; the paid invoice is one payment.
            let failed_id = format!("{}:failed:{}", i.id, event.id);
            let (fact, payment) = if paid {
                (
                    GatewayFact::RenewalPaid {
                        period_end: i.period_end.map(|t| t * 1000),
                    },
                    PaymentEntry {
                        id: &i.id,
                        order_id: None,
                        amount_minor: i.amount_paid,
                        currency: &i.currency,
                        succeeded: true,
                        description: "subscription invoice",
                    },
                )
            } else {
                (
                    GatewayFact::RenewalFailed { settled: false },
                    PaymentEntry {
                        id: &failed_id,
                        order_id: None,
                        amount_minor: i.amount_due,
                        currency: &i.currency,
                        succeeded: false,
                        description: "subscription invoice, payment failed",
                    },
                )
            };
            let change = SubscriptionChange {
                payment: Some(payment),
                invoice: Some(&i.id),
                ..change(sub, order.as_ref(), fact)
            };
            billing.apply(Some(&event), &change).await?
        }
    };
    Ok(received(&state, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_statuses() {
        assert_eq!(status("unpaid"), Some(SubscriptionStatus::PastDue));
        assert_eq!(status("paused"), Some(SubscriptionStatus::Canceled));
        assert_eq!(status("trialing"), Some(SubscriptionStatus::Trialing));
        assert_eq!(status("incomplete"), None);
        assert_eq!(StripeKind::of("invoice.paid"), Some(StripeKind::Invoice));
        assert_eq!(StripeKind::of("charge.refunded"), None);
    }
}
