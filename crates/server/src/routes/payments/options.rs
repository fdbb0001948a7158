//! What the subscription page needs before a purchase: the currency the caller sees prices in
//! (their choice, else their browser's hints: SPEC §2.5) and the gateways this node can take a
//! payment through from the browser; and changing the currency.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use ferrocast_domain::currency::Currency;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A gateway the caller can pay through.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayOption {
    /// `stripe`, `razorpay` or `epayco`.
    #[schema(example = "stripe")]
    pub id: String,
    /// Its name, for a button.
    #[schema(example = "Stripe")]
    pub name: String,
    /// How the purchase starts: `redirect` (open the `url` that
    /// `POST /api/payments/stripe/checkout` answers), `form` (post the `checkout` fields that
    /// `POST /api/payments/create-order` answers to its `url`: Razorpay's hosted Checkout) or
    /// `script` (load the `script_url` that `POST /api/payments/epayco/checkout` answers and
    /// open its session: ePayco Smart Checkout).
    #[schema(example = "redirect")]
    pub checkout: String,
    /// The currencies it takes.
    #[schema(example = json!(["USD", "INR"]))]
    pub currencies: Vec<String>,
}

/// Currency and gateways for the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingOptions {
    /// The currency prices are shown and charged in: `USD` or `INR`.
    #[schema(example = "INR")]
    pub currency: String,
    /// Whether the caller chose it (`false`: guessed from the browser's `Accept-Language`:
    /// INR for `en-IN`, `hi` and other Indian languages, USD otherwise).
    pub currency_chosen: bool,
    /// Every currency on offer.
    pub currencies: Vec<String>,
    /// The gateways this node takes payments through; empty when none is configured.
    pub gateways: Vec<GatewayOption>,
    /// The gateway that renews your current subscription by itself (`stripe`), or `null`. Such
    /// a plan is managed with cancel and resume; paying again for it through Checkout would
    /// start a second subscription, so the page does not offer it.
    pub renewed_by: Option<String>,
}

async fn options(
    state: &AppState,
    user_id: i64,
    currency: Currency,
    chosen: bool,
) -> ApiResult<BillingOptions> {
    let p = &state.config.payments;
    let option = |id: &str, name: &str, checkout: &str, currencies: &[&str]| GatewayOption {
        id: id.into(),
        name: name.into(),
        checkout: checkout.into(),
        currencies: currencies.iter().map(|c| c.to_string()).collect(),
    };
    let all: Vec<&str> = Currency::ALL.iter().map(|c| c.code()).collect();
    let mut gateways = Vec::new();
    if p.stripe.is_some() {
        gateways.push(option("stripe", "Stripe", "redirect", &all));
    }
    if p.razorpay.is_some() {
        gateways.push(option("razorpay", "Razorpay", "form", &all));
    }
    // Confirmations alone (the API's orders) are not enough: the page needs Smart Checkout.
    if p.epayco.as_ref().is_some_and(|k| k.checkout.is_some()) {
        gateways.push(option(
            "epayco",
            "ePayco",
            "script",
            super::epayco::CURRENCIES,
        ));
    }
    Ok(BillingOptions {
        currency: currency.code().into(),
        currency_chosen: chosen,
        currencies: Currency::ALL.iter().map(|c| c.code().into()).collect(),
        gateways,
        renewed_by: state.billing.renewing_gateway(user_id).await?,
    })
}

/// Your currency and the ways to pay on this server.
#[utoipa::path(get, path = "/api/payments/options", tag = "payments", security(("bearer" = [])),
    params(("Accept-Language" = Option<String>, Header, description = "Decides the currency while you have not chosen one")),
    responses((status = 200, body = BillingOptions), (status = 401, body = ErrorBody)))]
pub async fn billing_options(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Json<BillingOptions>> {
    let hint = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let (currency, chosen) = state.billing.currency_for(auth.user.id, hint).await?;
    Ok(Json(options(&state, auth.user.id, currency, chosen).await?))
}

/// The currency to show prices in and pay in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCurrency {
    /// `USD` or `INR`.
    #[schema(example = "INR")]
    pub currency: String,
}

/// Choose the currency you see prices in and pay in (it outranks your browser's language).
#[utoipa::path(put, path = "/api/payments/currency", tag = "payments", security(("bearer" = [])), request_body = SetCurrency,
    responses((status = 200, body = BillingOptions), (status = 422, body = ErrorBody)))]
pub async fn set_currency(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<SetCurrency>,
) -> ApiResult<Json<BillingOptions>> {
    let currency = state
        .billing
        .set_currency(auth.user.id, &req.currency)
        .await?;
    Ok(Json(options(&state, auth.user.id, currency, true).await?))
}
