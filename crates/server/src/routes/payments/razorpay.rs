//! Razorpay: orders for Razorpay Checkout, the Checkout's verification, and the webhook
//! (`payment.captured`, `order.paid`, `payment.failed`). Razorpay sells one cycle per order;
//! a captured payment is [`GatewayFact::CyclePaid`](ferrocast_domain::billing::GatewayFact),
//! a failed one `PaymentFailed`.

use super::{acknowledged, bad_event, bad_signature, new_order, received, Purchase, Received};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::gateways::{self, razorpay_keys};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Redirect;
use axum::Json;
use ferrocast_db::billing::GatewayEvent;
use ferrocast_domain::billing::{event_too_old, payment_mismatch, NotApplied};
use ferrocast_domain::plans::format_money;
use ferrocast_payments::razorpay;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// Razorpay's hosted Checkout for this order: post these fields from the buyer's browser.
    pub checkout: HostedCheckout,
}

/// A form the buyer's browser posts to the gateway's hosted checkout page.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostedCheckout {
    /// Where to post (`{razorpay_api_base}/v1/checkout/embedded`).
    pub url: String,
    /// The form's fields, in order.
    pub fields: Vec<FormField>,
}

/// One field of a form.
#[derive(Debug, Serialize, ToSchema)]
pub struct FormField {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

fn field(name: &str, value: impl Into<String>) -> FormField {
    FormField {
        name: name.into(),
        value: value.into(),
    }
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
    let rzp = gateways::razorpay_order(
        &state,
        order.amount_minor,
        &order.currency,
        &order.uuid,
        notes,
    )
    .await?;
    state.billing.set_order_ref(&order, &rzp.id).await?;
    // Razorpay Hosted Checkout: Razorpay posts the outcome, signed, to `callback_url`.
    let base = &state.config.public_url;
    let checkout = HostedCheckout {
        url: format!("{}/v1/checkout/embedded", keys.api_base),
        fields: vec![
            field("key_id", keys.key_id.clone()),
            field("order_id", rzp.id.clone()),
            field("amount", order.amount_minor.to_string()),
            field("currency", order.currency.clone()),
            field("name", "ferrocast"),
            field(
                "description",
                format!("ferrocast {plan}, {}", order.billing_cycle),
            ),
            field("prefill[name]", auth.user.display_name.clone()),
            field("prefill[email]", auth.user.email.clone()),
            field(
                "callback_url",
                format!("{base}/api/payments/razorpay/callback"),
            ),
            field(
                "cancel_url",
                format!("{base}/dashboard/subscription?checkout=canceled"),
            ),
        ],
    };
    Ok(Json(RazorpayOrder {
        order_id: rzp.id,
        amount: order.amount_minor,
        currency: order.currency,
        key_id: keys.key_id,
        receipt: order.uuid,
        checkout,
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
        .billing
        .order_by_ref("razorpay", &v.order_id)
        .await?
        .filter(|o| o.user_id == auth.user.id)
        .ok_or_else(|| ApiError::not_found("order"))?;
    let outcome = state.billing.pay_order(None, &order, &v.payment_id).await?;
    let applied = outcome.applied;
    gateways::cancel_replaced(&state, outcome.replaced);
    Ok(Json(Paid {
        message: "Payment verified; your plan is active.".into(),
        applied,
    }))
}

/// Where the buyer's browser goes back to after a hosted Checkout.
fn back_to_page(outcome: &str, gateway_message: Option<&str>) -> Redirect {
    let mut query = vec![
        ("checkout", outcome.to_string()),
        ("gateway", "razorpay".into()),
    ];
    if let Some(m) = gateway_message {
        // Razorpay's own words for a failure, shown as text; bounded.
        query.push(("message", m.chars().take(200).collect()));
    }
    let query = serde_urlencoded::to_string(&query).unwrap_or_default();
    Redirect::to(&format!("/dashboard/subscription?{query}"))
}

/// Razorpay Hosted Checkout's callback: the buyer's browser posts the outcome here
/// (`razorpay_payment_id`, `razorpay_order_id`, `razorpay_signature`, or `error[…]` fields for a
/// failure). A payment whose signature verifies activates the plan at once, as
/// `POST /api/payments/verify` does; the browser is sent back to the subscription page, which
/// says what happened (`?checkout=success|failed`).
#[utoipa::path(post, path = "/api/payments/razorpay/callback", tag = "payments",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Razorpay Checkout's fields"),
    responses((status = 303, description = "To /dashboard/subscription?checkout=success|failed"), (status = 503, body = ErrorBody)))]
pub async fn razorpay_callback(State(state): State<AppState>, body: Bytes) -> ApiResult<Redirect> {
    let keys = razorpay_keys(&state)?;
    let fields: std::collections::HashMap<String, String> =
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .unwrap_or_default()
            .into_iter()
            .take(50)
            .collect();
    let get = |k: &str| fields.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let (Some(order_id), Some(payment_id)) = (get("razorpay_order_id"), get("razorpay_payment_id"))
    else {
        let why = get("error[description]").unwrap_or("The payment did not go through");
        return Ok(back_to_page("failed", Some(why)));
    };
    if let Err(e) = razorpay::verify_payment(
        order_id,
        payment_id,
        get("razorpay_signature"),
        keys.key_secret.expose(),
    ) {
        tracing::warn!(error = %e, "refused a Razorpay Checkout callback with a bad signature");
        return Ok(back_to_page(
            "failed",
            Some("Razorpay's confirmation could not be verified; you were not charged by ferrocast. Try again."),
        ));
    }
    if let Some(p) = super::purchases::razorpay_paid(&state, order_id, payment_id).await? {
        return Ok(Redirect::to(&format!("/pay/{}?checkout=success", p.uuid)));
    }
    let Some(order) = state.billing.order_by_ref("razorpay", order_id).await? else {
        return Ok(back_to_page("failed", Some("The order is not known here.")));
    };
    let outcome = state.billing.pay_order(None, &order, payment_id).await?;
    gateways::cancel_replaced(&state, outcome.replaced);
    Ok(back_to_page("success", None))
}

/// Razorpay's webhook (`payment.captured`, `payment.failed`, `order.paid`; for creators'
/// purchases also `refund.processed` and `payment.dispute.created`), signed with
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
    let e = razorpay::parse_event(&body).map_err(bad_event)?;
    // Razorpay sends the event id as a header; without one, what it is about (the refund,
    // dispute or payment) and the event type make the delivery recognisable.
    let subject = e
        .refund
        .as_ref()
        .map(|r| r.id.clone())
        .or_else(|| e.dispute.as_ref().map(|d| d.id.clone()))
        .or_else(|| e.payment.as_ref().map(|p| p.id.clone()))
        .unwrap_or_default();
    let fallback = format!("{}:{subject}", e.kind);
    let event_id = header("x-razorpay-event-id")
        .filter(|h| !h.is_empty() && h.len() <= 128)
        .unwrap_or(&fallback);
    let event = GatewayEvent {
        provider: "razorpay",
        id: event_id,
        kind: &e.kind,
    };
    // Viewers' purchases from creators first; plans' billing gets the rest.
    if let Some(answer) = super::purchases::razorpay(&state, &event, &e).await? {
        return Ok(answer);
    }
    let Some(payment) = e.payment.filter(|_| {
        matches!(
            e.kind.as_str(),
            "payment.captured" | "order.paid" | "payment.failed"
        )
    }) else {
        return Ok(acknowledged());
    };
    let billing = &state.billing;
    if event_too_old(e.created_at, state.clock.now_secs()) {
        let detail = format!("created_at {}", e.created_at);
        let outcome = billing
            .not_applied(&event, NotApplied::TooOld, &detail)
            .await?;
        return Ok(received(&state, outcome));
    }
    let Some(order_ref) = payment.order_id.as_deref() else {
        let detail = format!("payment {} names no order", payment.id);
        let outcome = billing
            .not_applied(&event, NotApplied::UnknownOrder, &detail)
            .await?;
        return Ok(received(&state, outcome));
    };
    let Some(order) = billing.order_by_ref("razorpay", order_ref).await? else {
        // Not an order of ours (another application on the same account).
        let detail = format!("payment {} names order {order_ref}", payment.id);
        let outcome = billing
            .not_applied(&event, NotApplied::UnknownOrder, &detail)
            .await?;
        return Ok(received(&state, outcome));
    };
    let outcome = if e.kind == "payment.failed" {
        billing.fail_order(&event, &order, &payment.id).await?
    } else if let Some(reason) = payment_mismatch(
        payment.amount,
        &payment.currency,
        order.amount_minor,
        &order.currency,
    ) {
        let paid = format_money(payment.amount);
        billing
            .refuse(&event, &order, reason, &paid, &payment.currency)
            .await?
    } else {
        billing.pay_order(Some(&event), &order, &payment.id).await?
    };
    Ok(received(&state, outcome))
}
