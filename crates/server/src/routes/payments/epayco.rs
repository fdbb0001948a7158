//! ePayco: orders and ePayco Smart Checkout sessions, ePayco's confirmations, and what became
//! of a payment the buyer comes back from. Like Razorpay, one cycle per order: an accepted
//! payment is [`GatewayFact::CyclePaid`](ferrocast_domain::billing::GatewayFact), a refused one
//! `PaymentFailed`. Only the signed confirmation (checked against ePayco's own record of the
//! reference) grants a plan; the buyer's return with `?ref_payco=` only reads.

use super::{bad_signature, new_order, received, Purchase, Received};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, ClientIp};
use crate::gateways;
use crate::service::billing::Outcome;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ferrocast_db::billing::GatewayEvent;
use ferrocast_domain::billing::{payment_mismatch, NotApplied};
use ferrocast_domain::plans::{format_money, parse_money};
use ferrocast_payments::epayco;
use serde::Serialize;
use utoipa::ToSchema;

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

/// An ePayco Smart Checkout session for an order: what the page opens ePayco's checkout with.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpaycoCheckout {
    /// ePayco's session id (`sessionId` for `ePayco.checkout.configure`).
    pub session_id: String,
    /// ePayco's checkout script, to load before opening the session.
    pub script_url: String,
    /// Whether the session is an ePayco test transaction (pass it as `test`).
    pub test: bool,
    /// ferrocast's order reference, ePayco's invoice.
    pub invoice: String,
    /// The amount in the currency's units (`9.99`).
    pub amount: String,
    /// ISO code (`USD`).
    pub currency: String,
}

/// The currencies ePayco charges ferrocast's plans in.
pub const CURRENCIES: &[&str] = &["USD"];

/// Start paying for a plan with ePayco Smart Checkout: an order, and an ePayco session for it
/// (ePayco's Apify: login with the public and private keys, then `payment/session/create` with
/// the order as the invoice and this node's response and confirmation URLs). The page then opens
/// the session with ePayco's script; ePayco posts the confirmation to
/// `/api/payments/epayco/confirmation` and sends the buyer back to `/dashboard/subscription?ref_payco=…`.
#[utoipa::path(post, path = "/api/payments/epayco/checkout", tag = "payments", security(("bearer" = [])), request_body = Purchase,
    responses((status = 200, body = EpaycoCheckout), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn epayco_checkout(
    State(state): State<AppState>,
    auth: AuthUser,
    ClientIp(ip): ClientIp,
    ApiJson(p): ApiJson<Purchase>,
) -> ApiResult<Json<EpaycoCheckout>> {
    let checkout = epayco_keys(&state)?
        .checkout
        .clone()
        .ok_or_else(smart_checkout_disabled)?;
    let currency = p.currency.as_deref().unwrap_or("USD");
    if !CURRENCIES.iter().any(|c| c.eq_ignore_ascii_case(currency)) {
        return Err(ApiError::validation(format!(
            "currency: ePayco takes {}; choose USD to pay with ePayco",
            CURRENCIES.join(", ")
        )));
    }
    let (order, plan) = new_order(&state, &auth, &p, "epayco", "USD").await?;
    let base = &state.config.public_url;
    let amount = format_money(order.amount_minor);
    let description = format!("ferrocast {plan}, {}", order.billing_cycle);
    let ip = ip.to_string();
    let request = epayco::SessionRequest {
        name: "ferrocast",
        description: &description,
        invoice: &order.uuid,
        amount: &amount,
        currency: &order.currency,
        response_url: &format!("{base}/dashboard/subscription"),
        confirmation_url: &format!("{base}/api/payments/epayco/confirmation"),
        ip: &ip,
        buyer_email: &auth.user.email,
        buyer_name: &auth.user.display_name,
        test: checkout.test,
    };
    let session_id = gateways::epayco_session(&state, &checkout, &request).await?;
    state.billing.set_order_ref(&order, &session_id).await?;
    Ok(Json(EpaycoCheckout {
        session_id,
        script_url: checkout.script_url,
        test: checkout.test,
        invoice: order.uuid,
        amount,
        currency: order.currency,
    }))
}

fn smart_checkout_disabled() -> ApiError {
    gateways::disabled(
        "ePayco Smart Checkout",
        "FERROCAST_EPAYCO_PUBLIC_KEY and FERROCAST_EPAYCO_PRIVATE_KEY (with the confirmation keys)",
    )
}

/// What became of a payment the buyer made through ePayco.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpaycoOutcome {
    /// `paid` (the plan is active), `accepted` (ePayco accepted it; the plan starts when its
    /// confirmation arrives), `pending` (ePayco is still deciding), `failed` (refused,
    /// abandoned or reversed: nothing was charged), or `refused` (paid, but not what the order
    /// asked for: nothing was granted and the operator was alerted).
    #[schema(example = "paid")]
    pub status: String,
    /// In words, for the buyer.
    pub message: String,
    /// ePayco's word for the transaction's state (`Aceptada`, `Rechazada`…).
    pub gateway_status: String,
    /// The plan the order buys.
    pub plan: Option<String>,
}

/// What became of your ePayco payment `ref_payco` (the reference ePayco adds when it sends you
/// back): ePayco's record of it and whether your plan is active. It changes nothing: ePayco's
/// signed confirmation does.
#[utoipa::path(get, path = "/api/payments/epayco/reference/{ref_payco}", tag = "payments", security(("bearer" = [])),
    params(("ref_payco" = String, Path, description = "ePayco's payment reference")),
    responses((status = 200, body = EpaycoOutcome), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn epayco_outcome(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(ref_payco): Path<String>,
) -> ApiResult<Json<EpaycoOutcome>> {
    let keys = epayco_keys(&state)?;
    let v = match gateways::epayco_validation(&state, keys, &ref_payco).await {
        Ok(v) => v,
        Err(e) if e.status == StatusCode::BAD_REQUEST => return Err(e),
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "GATEWAY_ERROR",
                "ePayco did not say how the payment went",
                "Reload this page in a moment; your plan starts as soon as ePayco confirms the payment.",
            ))
        }
    };
    let order = state
        .billing
        .order_by_uuid("epayco", Some(&v.invoice))
        .await?
        .filter(|o| o.user_id == auth.user.id && v.ref_payco == ref_payco)
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let plan = state
        .db
        .plan_by_id(order.plan_id)
        .await?
        .map(|p| p.spec.name);
    let name = plan.clone().unwrap_or_else(|| "your plan".into());
    let (status, message) = if order.refused_reason.is_some() {
        ("refused", "ePayco reported a payment that does not match this order, so no plan was granted. The operator has been told and will settle it with you.".to_string())
    } else if order.status == "paid" {
        (
            "paid",
            format!("Payment received — thank you. {name} is active."),
        )
    } else {
        match epayco::Outcome::of(v.response) {
            epayco::Outcome::Accepted => ("accepted", format!("ePayco accepted the payment; {name} starts as soon as ePayco's confirmation reaches us, usually within a minute.")),
            epayco::Outcome::Failed => ("failed", format!("The payment did not go through (ePayco: {}). Nothing was charged; try again or use another way to pay.", v.state)),
            epayco::Outcome::Pending => ("pending", format!("ePayco has the payment as {}; {name} starts when ePayco approves it.", v.state.to_lowercase())),
        }
    };
    Ok(Json(EpaycoOutcome {
        status: status.into(),
        message,
        gateway_status: v.state,
        plan,
    }))
}

fn epayco_keys(state: &AppState) -> ApiResult<&ferrocast_config::EpaycoKeys> {
    state.config.payments.epayco.as_ref().ok_or_else(|| {
        gateways::disabled(
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
    let v = gateways::epayco_validation(&state, keys, &c.ref_payco).await?;
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
    // Viewers' purchases from creators first; plans' billing gets the rest.
    if let Some(answer) = super::purchases::epayco(&state, &event, &v).await? {
        return Ok(answer);
    }
    let billing = &state.billing;
    let Some(order) = billing.order_by_uuid("epayco", Some(&v.invoice)).await? else {
        let detail = format!("reference {} names invoice {}", v.ref_payco, v.invoice);
        let outcome = billing
            .not_applied(&event, NotApplied::UnknownOrder, &detail)
            .await?;
        return Ok(received(&state, outcome));
    };
    let outcome = match epayco::Outcome::of(v.response) {
        epayco::Outcome::Accepted => {
            let mismatch = match parse_money(&v.amount) {
                Some(p) => payment_mismatch(p, &v.currency, order.amount_minor, &order.currency),
                None => Some(NotApplied::AmountMismatch),
            };
            match mismatch {
                Some(reason) => {
                    billing
                        .refuse(&event, &order, reason, &v.amount, &v.currency)
                        .await?
                }
                None => {
                    billing
                        .pay_order(Some(&event), &order, &v.ref_payco)
                        .await?
                }
            }
        }
        epayco::Outcome::Failed => billing.fail_order(&event, &order, &v.ref_payco).await?,
        // Pending and the like: the final confirmation follows.
        epayco::Outcome::Pending => Outcome::default(),
    };
    Ok(received(&state, outcome))
}
