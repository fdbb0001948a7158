//! ePayco: orders for ePayco Checkout and its confirmations. Like Razorpay, one cycle per
//! order: an accepted payment is
//! [`GatewayFact::CyclePaid`](ferrocast_domain::billing::GatewayFact), a refused one
//! `PaymentFailed`.

use super::{bad_signature, new_order, received, Purchase, Received};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::gateways;
use crate::service::billing::Outcome;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
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
    let billing = &state.billing;
    let Some(order) = billing.order_by_uuid("epayco", Some(&v.invoice)).await? else {
        let detail = format!("reference {} names invoice {}", v.ref_payco, v.invoice);
        let outcome = billing
            .not_applied(&event, NotApplied::UnknownOrder, &detail)
            .await?;
        return Ok(received(&state, outcome));
    };
    let outcome = match v.response {
        1 => {
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
        2 | 4 | 6 | 9 | 10 | 11 => billing.fail_order(&event, &order, &v.ref_payco).await?,
        // Pending and the like: the final confirmation follows.
        _ => Outcome::default(),
    };
    Ok(received(&state, outcome))
}
