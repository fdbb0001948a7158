//! Payments (Neustream's "Payments Endpoints"): Razorpay orders, Checkout
//! verification and webhooks; Stripe Checkout, Customer Portal and webhooks; ePayco orders and
//! confirmations; payment history and receipts.
//!
//! Every gateway request is checked as the gateway documents, on the raw body, in constant
//! time, before anything is read from it. Each event is applied once, in one transaction
//! (`ferrocast_db::billing`).
//!
//! Webhooks never wedge: a genuine event answers 503 (the gateway delivers it again) only while
//! a retry can still succeed: it is about an object of ours whose creating event has not
//! arrived yet (a subscription or invoice whose order, named in the metadata ferrocast puts on
//! it at Checkout, still awaits its Checkout), and it is at most
//! [`ferrocast_domain::billing::EVENT_MAX_AGE_SECS`] (7 days) old. Any other genuine event that
//! changes nothing (about an order or subscription this deployment did not create, older than
//! the bound, or a payment that does not match its order) answers 200
//! `{"received":true,"applied":false}`, is recorded with its reason, so a redelivery is a
//! duplicate, and is counted in `ferrocast_webhook_events_ignored_total{gateway,reason}`. A
//! mismatched payment also marks its order refused, logs an error, counts in
//! `ferrocast_payment_mismatches_total` and mails the administrators.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::gateways::{self as billing, razorpay_keys, stripe_keys};
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use ferrocast_db::billing::{
    Applied, GatewayEvent, NewOrder, OrderRecord, PaymentRecord, StripeInvoice,
    StripeSubscriptionState,
};
use ferrocast_domain::billing::{
    event_too_old, payment_mismatch, price, stripe_status, Cycle, NotApplied,
};
use ferrocast_domain::plans::format_money;
use ferrocast_payments::{epayco, razorpay, stripe, SignatureError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A plan to buy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Purchase {
    /// The plan (`GET /api/subscriptions/plans`).
    pub plan_id: i64,
    /// `monthly` or `yearly`.
    pub billing_cycle: String,
    /// `USD` or `INR`; default: the gateway's (Razorpay INR, Stripe and ePayco USD).
    #[serde(default)]
    pub currency: Option<String>,
}

/// Checks a purchase and creates its order.
async fn new_order(
    state: &AppState,
    auth: &AuthUser,
    p: &Purchase,
    provider: &str,
    default_currency: &str,
) -> ApiResult<(OrderRecord, String)> {
    if let Err(wait) = state.payments_limiter.check(&auth.user.id.to_string()) {
        state.metrics.rate_limited("payments");
        return Err(ApiError::rate_limited(wait));
    }
    let cycle = Cycle::parse(&p.billing_cycle)
        .ok_or_else(|| ApiError::validation("billing_cycle: must be `monthly` or `yearly`"))?;
    let currency = p
        .currency
        .as_deref()
        .unwrap_or(default_currency)
        .to_ascii_uppercase();
    let plan = state
        .db
        .plan_by_id(p.plan_id)
        .await?
        .filter(|pl| pl.is_active)
        .ok_or_else(|| ApiError::not_found("plan"))?;
    let amount = price(&plan.spec, cycle, &currency)
        .ok_or_else(|| ApiError::validation("currency: must be `USD` or `INR`"))?;
    if amount <= 0 {
        return Err(ApiError::validation(format!(
            "plan_id: {} is free; nothing to pay",
            plan.spec.name
        )));
    }
    let uuid = uuid::Uuid::new_v4().to_string();
    let order = state
        .db
        .create_order(
            &NewOrder {
                uuid: &uuid,
                user_id: auth.user.id,
                plan_id: plan.id,
                cycle,
                provider,
                amount_minor: amount,
                currency: &currency,
            },
            state.clock.now_ms(),
        )
        .await?;
    Ok((order, plan.spec.name))
}

/// A refused signature: 400, nothing changed.
fn bad_signature(e: SignatureError) -> ApiError {
    tracing::warn!(error = %e, "refused a payment request with a bad signature");
    ApiError::bad_request(
        "BAD_SIGNATURE",
        "The request's signature is not valid",
        e.to_string(),
    )
}

/// 503 for an event that overtook the one it depends on: the gateway retries it.
fn not_yet() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "NOT_YET_KNOWN",
        "This event concerns a payment not known yet",
        "Deliver it again later; it is applied once the earlier event has arrived.",
    );
    e.retry_after = Some(5);
    e
}

/// What a webhook answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    /// Always true.
    pub received: bool,
    /// Whether this delivery changed anything (`false`: seen before, not about billing, or
    /// recorded without being applied: about something this deployment did not create, too
    /// old, or a payment that does not match its order).
    pub applied: bool,
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

/// The answer to a gateway for what its event did; what is not applied is counted.
fn received(
    state: &AppState,
    event: &GatewayEvent<'_>,
    applied: Applied,
) -> ApiResult<Json<Received>> {
    let gateway = gateway_label(event.provider);
    let changed = match applied {
        Applied::Done { replaced } => {
            billing::cancel_replaced(state, replaced);
            true
        }
        Applied::Duplicate => false,
        Applied::Ignored(reason) => {
            state.metrics.webhook_ignored(gateway, reason);
            // Mismatches are logged at error level where they are refused.
            if !reason.is_mismatch() {
                tracing::info!(
                    gateway,
                    event = event.id,
                    kind = event.kind,
                    reason = reason.as_str(),
                    "gateway event recorded and not applied"
                );
            }
            false
        }
        Applied::Unknown => {
            state.metrics.webhook_deferred(gateway);
            return Err(not_yet());
        }
    };
    Ok(Json(Received {
        received: true,
        applied: changed,
    }))
}

/// Records a genuine event that changes nothing (`detail`: a line for the operator), and
/// answers 200.
async fn not_applied(
    state: &AppState,
    event: &GatewayEvent<'_>,
    reason: NotApplied,
    detail: &str,
) -> ApiResult<Json<Received>> {
    let applied = state
        .db
        .record_not_applied(event, reason, detail, state.clock.now_ms())
        .await?;
    received(state, event, applied)
}

/// A payment that does not match its order (`paid`, `currency`: what the gateway says was
/// paid): nothing granted, the event recorded and the order refused, the operator alerted
/// (error log, metric, mail to the administrators), and 200 — the gateway's redeliveries would
/// not change it.
async fn refuse(
    state: &AppState,
    event: &GatewayEvent<'_>,
    order: &OrderRecord,
    reason: NotApplied,
    paid: &str,
    currency: &str,
) -> ApiResult<Json<Received>> {
    let currency: String = currency.chars().take(8).collect();
    let paid: String = paid.chars().take(24).collect();
    let due = format_money(order.amount_minor);
    let detail = format!(
        "order {}: paid {paid} {currency}, due {due} {}",
        order.uuid, order.currency
    );
    let applied = state
        .db
        .refuse_order(event, order, reason, &detail, state.clock.now_ms())
        .await?;
    if applied == Applied::Ignored(reason) {
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
        billing::alert_admins(
            state,
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
    received(state, event, applied)
}

// ------------------------------------------------------------------ Razorpay

/// A Razorpay order to pay with Razorpay Checkout.
#[derive(Debug, Serialize, ToSchema)]
pub struct RazorpayOrder {
    /// `order_…`, for Checkout.
    pub order_id: String,
    /// Minor units (paise for INR).
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// The public key id Checkout needs.
    pub key_id: String,
    /// ferrocast's order id.
    pub receipt: String,
}

/// Create a Razorpay order for a plan (Neustream's `create-order`).
#[utoipa::path(post, path = "/api/payments/create-order", tag = "payments", security(("bearer" = [])), request_body = Purchase,
    responses((status = 200, body = RazorpayOrder), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn razorpay_create_order(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(p): ApiJson<Purchase>,
) -> ApiResult<Json<RazorpayOrder>> {
    let keys = razorpay_keys(&state)?.clone();
    let (order, plan) = new_order(&state, &auth, &p, "razorpay", "INR").await?;
    let notes = serde_json::json!({ "order": order.uuid, "plan": plan, "billing_cycle": order.billing_cycle });
    let rzp = billing::razorpay_order(
        &state,
        order.amount_minor,
        &order.currency,
        &order.uuid,
        notes,
    )
    .await?;
    state
        .db
        .set_order_ref(order.id, &rzp.id, state.clock.now_ms())
        .await?;
    Ok(Json(RazorpayOrder {
        order_id: rzp.id,
        amount: order.amount_minor,
        currency: order.currency,
        key_id: keys.key_id,
        receipt: order.uuid,
    }))
}

/// What Razorpay Checkout hands back.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RazorpayVerify {
    /// `order_…`.
    pub order_id: String,
    /// `pay_…`.
    pub payment_id: String,
    /// `razorpay_signature`.
    pub signature: String,
}

/// The plan a payment bought.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paid {
    /// In words.
    pub message: String,
    /// Whether this call changed anything (`false`: the webhook had already applied it).
    pub applied: bool,
}

/// Verify a Razorpay Checkout payment (Neustream's `verify`): the plan is active at once.
#[utoipa::path(post, path = "/api/payments/verify", tag = "payments", security(("bearer" = [])), request_body = RazorpayVerify,
    responses((status = 200, body = Paid), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn razorpay_verify(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(v): ApiJson<RazorpayVerify>,
) -> ApiResult<Json<Paid>> {
    let keys = razorpay_keys(&state)?;
    razorpay::verify_payment(
        &v.order_id,
        &v.payment_id,
        Some(&v.signature),
        keys.key_secret.expose(),
    )
    .map_err(bad_signature)?;
    let order = state
        .db
        .order_by_ref("razorpay", &v.order_id)
        .await?
        .filter(|o| o.user_id == auth.user.id)
        .ok_or_else(|| ApiError::not_found("order"))?;
    let applied = state
        .db
        .pay_order(None, &order, &v.payment_id, state.clock.now_ms())
        .await?;
    let changed = matches!(applied, Applied::Done { .. });
    if let Applied::Done { replaced } = applied {
        billing::cancel_replaced(&state, replaced);
    }
    Ok(Json(Paid {
        message: "Payment verified; your plan is active.".into(),
        applied: changed,
    }))
}

/// Razorpay's webhook (`payment.captured`, `payment.failed`, `order.paid`), signed with
/// `X-Razorpay-Signature` and identified by `X-Razorpay-Event-Id`.
#[utoipa::path(post, path = "/api/payments/webhook", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "Razorpay's event, as sent"),
    responses((status = 200, body = Received), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn razorpay_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Received>> {
    let keys = razorpay_keys(&state)?;
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    razorpay::verify_webhook(
        &body,
        header("x-razorpay-signature"),
        keys.webhook_secret.expose(),
    )
    .map_err(bad_signature)?;
    let e = razorpay::parse_event(&body).map_err(|e| {
        ApiError::bad_request("BAD_EVENT", "The event is not readable", e.to_string())
    })?;
    let Some(payment) = e.payment.filter(|_| {
        matches!(
            e.kind.as_str(),
            "payment.captured" | "order.paid" | "payment.failed"
        )
    }) else {
        return Ok(Json(Received {
            received: true,
            applied: false,
        }));
    };
    // Razorpay sends the event id as a header; without one, the payment and event type make
    // the delivery recognisable.
    let fallback = format!("{}:{}", e.kind, payment.id);
    let event_id = header("x-razorpay-event-id")
        .filter(|h| !h.is_empty() && h.len() <= 128)
        .unwrap_or(&fallback);
    let event = GatewayEvent {
        provider: "razorpay",
        id: event_id,
        kind: &e.kind,
    };
    if event_too_old(e.created_at, state.clock.now_secs()) {
        let detail = format!("created_at {}", e.created_at);
        return not_applied(&state, &event, NotApplied::TooOld, &detail).await;
    }
    let Some(order_ref) = payment.order_id.as_deref() else {
        let detail = format!("payment {} names no order", payment.id);
        return not_applied(&state, &event, NotApplied::UnknownOrder, &detail).await;
    };
    let Some(order) = state.db.order_by_ref("razorpay", order_ref).await? else {
        // Not an order of ours (another application on the same account).
        let detail = format!("payment {} names order {order_ref}", payment.id);
        return not_applied(&state, &event, NotApplied::UnknownOrder, &detail).await;
    };
    let applied = if e.kind == "payment.failed" {
        state
            .db
            .fail_order(&event, &order, &payment.id, state.clock.now_ms())
            .await?
    } else {
        if let Some(reason) = payment_mismatch(
            payment.amount,
            &payment.currency,
            order.amount_minor,
            &order.currency,
        ) {
            let paid = format_money(payment.amount);
            return refuse(&state, &event, &order, reason, &paid, &payment.currency).await;
        }
        state
            .db
            .pay_order(Some(&event), &order, &payment.id, state.clock.now_ms())
            .await?
    };
    received(&state, &event, applied)
}

// ------------------------------------------------------------------ Stripe

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
    let (session, url) = billing::stripe_checkout(&state, &form).await?;
    state
        .db
        .set_order_ref(order.id, &session, state.clock.now_ms())
        .await?;
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
    let url = billing::stripe_portal(
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

/// The Stripe order ferrocast put on a Stripe object at Checkout (`client_reference_id`, or
/// `metadata.order` on the subscription and its invoices), if it is one of ours.
async fn stripe_order(state: &AppState, uuid: Option<&str>) -> ApiResult<Option<OrderRecord>> {
    Ok(match uuid {
        Some(u) => state
            .db
            .order_by_uuid(u)
            .await?
            .filter(|o| o.provider == "stripe"),
        None => None,
    })
}

/// Stripe's webhook: `checkout.session.completed|async_payment_succeeded`,
/// `customer.subscription.created|updated|deleted`, `invoice.paid`, `invoice.payment_failed`,
/// checked with `Stripe-Signature`. 200 `applied: false` for what changes nothing (recorded
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
    let e = stripe::parse_event(&body).map_err(|e| {
        ApiError::bad_request("BAD_EVENT", "The event is not readable", e.to_string())
    })?;
    let event = GatewayEvent {
        provider: "stripe",
        id: &e.id,
        kind: &e.kind,
    };
    let Some(kind) = StripeKind::of(&e.kind) else {
        // Not about billing: acknowledged, not recorded.
        return Ok(Json(Received {
            received: true,
            applied: false,
        }));
    };
    if event_too_old(e.created, state.clock.now_secs()) {
        let detail = format!("created {}", e.created);
        return not_applied(&state, &event, NotApplied::TooOld, &detail).await;
    }
    let now = state.clock.now_ms();
    let bad = |e: ferrocast_payments::ParseError| {
        ApiError::bad_request("BAD_EVENT", "The event is not readable", e.to_string())
    };
    let applied = match kind {
        StripeKind::Checkout => {
            let c = stripe::checkout_completed(&e.object).map_err(bad)?;
            let Some(order) = stripe_order(&state, c.client_reference_id.as_deref()).await? else {
                let detail = format!(
                    "session {} names order {}",
                    c.session_id,
                    c.client_reference_id.as_deref().unwrap_or("(none)")
                );
                return not_applied(&state, &event, NotApplied::UnknownOrder, &detail).await;
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
                return refuse(&state, &event, &order, reason, &paid, &c.currency).await;
            }
            state
                .db
                .stripe_checkout_completed(
                    &event,
                    &order,
                    c.customer.as_deref(),
                    c.subscription.as_deref(),
                    matches!(c.payment_status.as_str(), "paid" | "no_payment_required"),
                    now,
                )
                .await?
        }
        StripeKind::Subscription => {
            let s = stripe::subscription(&e.object).map_err(bad)?;
            let order = stripe_order(&state, s.order.as_deref()).await?;
            let status = if e.kind == "customer.subscription.deleted" {
                Some("canceled")
            } else {
                stripe_status(&s.status)
            };
            let state_now = StripeSubscriptionState {
                id: &s.id,
                status,
                period_start: s.current_period_start.map(|t| t * 1000),
                period_end: s.current_period_end.map(|t| t * 1000),
                cancel_at_period_end: s.cancel_at_period_end,
            };
            state
                .db
                .stripe_subscription_event(
                    &event,
                    &state_now,
                    order.as_ref(),
                    e.created * 1000,
                    state.config.payments.grace_days * 86_400_000,
                    now,
                )
                .await?
        }
        StripeKind::Invoice => {
            let i = stripe::invoice(&e.object).map_err(bad)?;
            let Some(sub) = i.subscription.as_deref() else {
                // ferrocast sells subscriptions only: a one-off invoice is not ours.
                let detail = format!("invoice {} bills no subscription", i.id);
                return not_applied(&state, &event, NotApplied::UnknownSubscription, &detail).await;
            };
            let order = stripe_order(&state, i.order.as_deref()).await?;
            let paid = e.kind == "invoice.paid";
            let inv = StripeInvoice {
                id: &i.id,
                subscription: sub,
                amount_minor: if paid { i.amount_paid } else { i.amount_due },
                currency: &i.currency,
                period_end: i.period_end.map(|t| t * 1000),
            };
            let grace = state.config.payments.grace_days * 86_400_000;
            state
                .db
                .stripe_invoice(&event, &inv, order.as_ref(), paid, grace, now)
                .await?
        }
    };
    received(&state, &event, applied)
}

// ------------------------------------------------------------------ ePayco

/// What ePayco's Checkout needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpaycoOrder {
    /// ferrocast's order id: pass it as the invoice (`x_id_invoice`).
    pub invoice: String,
    /// The amount in the currency's units, as ePayco takes it (`9.99`).
    pub amount: String,
    /// ISO code.
    pub currency: String,
    /// Where ePayco posts the confirmation.
    pub confirmation_url: String,
}

/// Create an order to pay with ePayco Checkout.
#[utoipa::path(post, path = "/api/payments/epayco/create-order", tag = "payments", security(("bearer" = [])), request_body = Purchase,
    responses((status = 200, body = EpaycoOrder), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn epayco_create_order(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(p): ApiJson<Purchase>,
) -> ApiResult<Json<EpaycoOrder>> {
    epayco_keys(&state)?;
    let (order, _) = new_order(&state, &auth, &p, "epayco", "USD").await?;
    Ok(Json(EpaycoOrder {
        invoice: order.uuid,
        amount: format_money(order.amount_minor),
        currency: order.currency,
        confirmation_url: format!(
            "{}/api/payments/epayco/confirmation",
            state.config.public_url
        ),
    }))
}

fn epayco_keys(state: &AppState) -> ApiResult<&ferrocast_config::EpaycoKeys> {
    state.config.payments.epayco.as_ref().ok_or_else(|| {
        billing::disabled(
            "ePayco",
            "FERROCAST_EPAYCO_CUSTOMER_ID and FERROCAST_EPAYCO_P_KEY",
        )
    })
}

/// `a=1&b=2` into fields (ePayco posts form-encoded, or sends a query string); an unreadable
/// body gives no fields (and so no signature: 400).
fn form_fields(raw: &[u8]) -> std::collections::HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(raw)
        .unwrap_or_default()
        .into_iter()
        .take(100)
        .collect()
}

/// ePayco's confirmation of a payment (form fields `x_…`, signed with `x_signature`).
#[utoipa::path(post, path = "/api/payments/epayco/confirmation", tag = "payments",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "ePayco's `x_…` fields"),
    responses((status = 200, body = Received), (status = 400, body = ErrorBody)))]
pub async fn epayco_confirmation(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    body: Bytes,
) -> ApiResult<Json<Received>> {
    let keys = epayco_keys(&state)?;
    let mut fields = form_fields(uri.query().unwrap_or_default().as_bytes());
    fields.extend(form_fields(&body));
    let c =
        epayco::verify(&fields, &keys.customer_id, keys.p_key.expose()).map_err(bad_signature)?;
    // The outcome and invoice are not signed: ePayco's own record of the reference decides.
    let v = billing::epayco_validation(&state, keys, &c.ref_payco).await?;
    if v.ref_payco != c.ref_payco {
        return Err(ApiError::bad_request(
            "BAD_EVENT",
            "The confirmation does not match ePayco's record",
            "ePayco answered for another reference.",
        ));
    }
    let event_id = format!("{}:{}", v.ref_payco, v.response);
    let kind = if v.response == 1 {
        "accepted"
    } else {
        "not_accepted"
    };
    let event = GatewayEvent {
        provider: "epayco",
        id: &event_id,
        kind,
    };
    let Some(order) = state
        .db
        .order_by_uuid(&v.invoice)
        .await?
        .filter(|o| o.provider == "epayco")
    else {
        let detail = format!("reference {} names invoice {}", v.ref_payco, v.invoice);
        return not_applied(&state, &event, NotApplied::UnknownOrder, &detail).await;
    };
    let applied = match v.response {
        1 => {
            let paid = ferrocast_domain::plans::parse_money(&v.amount);
            let mismatch = match paid {
                Some(p) => payment_mismatch(p, &v.currency, order.amount_minor, &order.currency),
                None => Some(NotApplied::AmountMismatch),
            };
            if let Some(reason) = mismatch {
                return refuse(&state, &event, &order, reason, &v.amount, &v.currency).await;
            }
            state
                .db
                .pay_order(Some(&event), &order, &v.ref_payco, state.clock.now_ms())
                .await?
        }
        2 | 4 | 6 | 9 | 10 | 11 => {
            state
                .db
                .fail_order(&event, &order, &v.ref_payco, state.clock.now_ms())
                .await?
        }
        // Pending and the like: the final confirmation follows.
        _ => Applied::Duplicate,
    };
    received(&state, &event, applied)
}

// ------------------------------------------------------------------ ending and resuming

/// What changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Renewal {
    /// In words.
    pub message: String,
    /// Whether the subscription now ends with its period.
    pub cancel_at_period_end: bool,
    /// When the period ends (RFC 3339).
    pub current_period_end: String,
}

async fn set_renewal(state: &AppState, auth: &AuthUser, cancel: bool) -> ApiResult<Json<Renewal>> {
    let sub = state
        .db
        .current_subscription(auth.user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription"))?;
    if let Some((provider, id)) = state.db.subscription_gateway(sub.id).await? {
        if provider == "stripe" {
            // Stripe bills it: Stripe is told first (its webhook then confirms).
            billing::stripe_cancel_at_period_end(state, &id, cancel).await?;
        }
    }
    state
        .db
        .set_cancel_at_period_end(sub.id, cancel, state.clock.now_ms())
        .await?;
    let end = rfc3339(sub.current_period_end);
    Ok(Json(Renewal {
        message: if cancel {
            format!("Your plan stays until {end} and then ends; nothing is deleted.")
        } else {
            "Your plan renews as before.".into()
        },
        cancel_at_period_end: cancel,
        current_period_end: end,
    }))
}

/// End your subscription when its period ends (it stays until then).
#[utoipa::path(post, path = "/api/subscriptions/cancel", tag = "subscriptions", security(("bearer" = [])),
    responses((status = 200, body = Renewal), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn cancel(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Renewal>> {
    set_renewal(&state, &auth, true).await
}

/// Keep renewing a subscription set to end.
#[utoipa::path(post, path = "/api/subscriptions/resume", tag = "subscriptions", security(("bearer" = [])),
    responses((status = 200, body = Renewal), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn resume(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Renewal>> {
    set_renewal(&state, &auth, false).await
}

// ------------------------------------------------------------------ history

/// A payment as its payer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// The receipt's id.
    pub id: String,
    /// `stripe`, `razorpay` or `epayco`.
    pub provider: String,
    /// Minor units.
    pub amount_minor: i64,
    /// The amount in words of money (`9.99`).
    pub amount: String,
    /// ISO code.
    pub currency: String,
    /// `succeeded` or `failed`.
    pub status: String,
    /// What it was for.
    pub description: String,
    /// The plan bought, by name.
    pub plan: Option<String>,
    /// The gateway's reference.
    pub reference: String,
    /// When.
    pub created_at: String,
}

async fn view(state: &AppState, p: PaymentRecord) -> ApiResult<PaymentView> {
    let plan = match p.plan_id {
        Some(id) => state.db.plan_by_id(id).await?.map(|pl| pl.spec.name),
        None => None,
    };
    let description = match (&plan, p.status.as_str()) {
        (Some(name), "succeeded") => format!("ferrocast {name}"),
        (Some(name), _) => format!("ferrocast {name} (payment failed)"),
        _ => p.description,
    };
    Ok(PaymentView {
        id: p.uuid,
        provider: p.provider,
        amount: format_money(p.amount_minor),
        amount_minor: p.amount_minor,
        currency: p.currency,
        status: p.status,
        description,
        plan,
        reference: p.provider_payment_id,
        created_at: rfc3339(p.created_at),
    })
}

/// A user's payments.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentList {
    /// Newest first (at most 100).
    pub payments: Vec<PaymentView>,
}

/// Your payments, newest first.
#[utoipa::path(get, path = "/api/payments/history", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = PaymentList)))]
pub async fn history(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<PaymentList>> {
    let mut payments = Vec::new();
    for p in state.db.payments_for_user(auth.user.id, 100).await? {
        payments.push(view(&state, p).await?);
    }
    Ok(Json(PaymentList { payments }))
}

/// A receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct Receipt {
    /// The payment.
    #[serde(flatten)]
    pub payment: PaymentView,
    /// Who paid.
    pub billed_to: String,
    /// Who was paid.
    pub seller: String,
}

/// One of your payments as a receipt.
#[utoipa::path(get, path = "/api/payments/receipts/{id}", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment (receipt) id")),
    responses((status = 200, body = Receipt), (status = 404, body = ErrorBody)))]
pub async fn receipt(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Receipt>> {
    let p = state
        .db
        .payment_by_uuid(&id)
        .await?
        .filter(|p| p.user_id == auth.user.id && p.status == "succeeded")
        .ok_or_else(|| ApiError::not_found("receipt"))?;
    Ok(Json(Receipt {
        payment: view(&state, p).await?,
        billed_to: format!("{} <{}>", auth.user.display_name, auth.user.email),
        seller: state.config.public_url.clone(),
    }))
}
