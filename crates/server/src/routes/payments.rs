//! Payments (Neustream's "Payments Endpoints"): one adapter per gateway — Razorpay orders,
//! Checkout verification and webhooks ([`razorpay`]); Stripe Checkout, Customer Portal and
//! webhooks ([`stripe`]); ePayco orders and confirmations ([`epayco`]) — and, here, what they
//! share, ending and resuming a subscription, payment history and receipts.
//!
//! Every gateway request is checked as the gateway documents, on the raw body, in constant
//! time, before anything is read from it. Each adapter then maps the gateway's payload to a
//! neutral change ([`ferrocast_domain::billing::GatewayFact`]), which
//! [`crate::service::billing`] applies once, in one transaction.
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

pub mod epayco;
pub mod options;
pub mod purchases;
pub mod razorpay;
pub mod stripe;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::gateways;
use crate::service::billing::{self, Outcome};
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use ferrocast_db::billing::{OrderRecord, PaymentRecord};
use ferrocast_domain::plans::format_money;
use ferrocast_payments::SignatureError;
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

/// Checks a purchase (at most 10 a minute per user) and creates its order.
async fn new_order(
    state: &AppState,
    auth: &AuthUser,
    p: &Purchase,
    provider: &str,
    default_currency: &str,
) -> ApiResult<(OrderRecord, String)> {
    if let Err(wait) = state
        .payments_limiter
        .check_shared(&auth.user.id.to_string())
        .await
    {
        state.metrics.rate_limited("payments");
        return Err(ApiError::rate_limited(wait));
    }
    let purchase = billing::Purchase {
        plan_id: p.plan_id,
        billing_cycle: &p.billing_cycle,
        currency: p.currency.as_deref(),
    };
    Ok(state
        .billing
        .new_order(auth.user.id, &purchase, provider, default_currency)
        .await?)
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

/// A genuine request whose payload cannot be read: 400.
fn bad_event(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("BAD_EVENT", "The event is not readable", e.to_string())
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

/// The answer to an event that is not about billing: acknowledged, not recorded.
fn acknowledged() -> Json<Received> {
    Json(Received {
        received: true,
        applied: false,
    })
}

/// The answer to a gateway for what its event did; subscriptions it replaced are canceled at
/// their gateway in the background.
fn received(state: &AppState, outcome: Outcome) -> Json<Received> {
    gateways::cancel_replaced(state, outcome.replaced);
    Json(Received {
        received: true,
        applied: outcome.applied,
    })
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
            gateways::stripe_cancel_at_period_end(state, &id, cancel).await?;
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
