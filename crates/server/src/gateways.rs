//! Billing I/O: calls to the payment gateways (Stripe Checkout, Customer Portal and
//! subscription cancellation; Razorpay orders; ePayco Smart Checkout sessions and payment
//! references), and the period job that rolls subscriptions whose period ended.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use ferrocast_config::{EpaycoCheckout, RazorpayKeys, StripeKeys};
use ferrocast_domain::billing::{due, Due, Standing, SubscriptionStatus};
use ferrocast_payments::{epayco, razorpay, stripe};
use std::time::Duration;
use tokio::sync::watch;

/// A gateway call that takes longer fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the period job runs.
const PERIOD_JOB_EVERY: Duration = Duration::from_secs(60);

/// 503 for a gateway this node has no keys for.
pub fn disabled(name: &str, settings: &str) -> ApiError {
    // What to set is the operator's to read (in the log), not the buyer's.
    tracing::warn!(
        gateway = name,
        "a payment was asked of a gateway that is not enabled; it needs {settings}"
    );
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "GATEWAY_DISABLED",
        format!("{name} payments are not enabled on this server"),
        "Pay with another method the plans page offers, or ask the site's administrators to enable it.",
    )
}

/// 502 for a gateway that refused or failed.
fn gateway_error(name: &str, why: String) -> ApiError {
    tracing::warn!(gateway = name, error = %why, "payment gateway call failed");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "GATEWAY_ERROR",
        format!("{name} could not start the payment"),
        format!("{why}. Try again in a moment."),
    )
}

/// Stripe's keys, or the 503 saying Stripe is off.
pub fn stripe_keys(state: &AppState) -> Result<&StripeKeys, ApiError> {
    state.config.payments.stripe.as_ref().ok_or_else(|| {
        disabled(
            "Stripe",
            "FERROCAST_STRIPE_SECRET_KEY and FERROCAST_STRIPE_WEBHOOK_SECRET",
        )
    })
}

/// Razorpay's keys, or the 503 saying Razorpay is off.
pub fn razorpay_keys(state: &AppState) -> Result<&RazorpayKeys, ApiError> {
    state.config.payments.razorpay.as_ref().ok_or_else(|| {
        disabled(
            "Razorpay",
            "FERROCAST_RAZORPAY_KEY_ID, FERROCAST_RAZORPAY_KEY_SECRET and FERROCAST_RAZORPAY_WEBHOOK_SECRET",
        )
    })
}

/// Sends a request and returns the reply body, or the gateway's words for a refusal.
async fn call(
    req: reqwest::RequestBuilder,
    refusal: fn(&[u8]) -> String,
) -> Result<Vec<u8>, String> {
    let resp = req
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("cannot reach the gateway: {e}"))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading the gateway's reply failed: {e}"))?;
    if status.is_success() {
        Ok(body.to_vec())
    } else {
        Err(format!("{status}: {}", refusal(&body)))
    }
}

/// Creates a Stripe Checkout Session; (session id, URL to send the user to).
pub async fn stripe_checkout(
    state: &AppState,
    form: &[(String, String)],
) -> Result<(String, String), ApiError> {
    let keys = stripe_keys(state)?;
    let body = call(
        state
            .http
            .post(format!("{}/v1/checkout/sessions", keys.api_base))
            .bearer_auth(keys.secret_key.expose())
            .form(form),
        stripe::error_message,
    )
    .await
    .map_err(|e| gateway_error("Stripe", e))?;
    stripe::session_reply(&body).map_err(|e| gateway_error("Stripe", e.to_string()))
}

/// Refunds `amount` of Stripe PaymentIntent `payment_intent` (`reference`: what refunds it, in
/// the refund's metadata and as the idempotency key, so a retry refunds once); the refund's id.
pub async fn stripe_refund(
    state: &AppState,
    payment_intent: &str,
    amount: i64,
    reference: &str,
) -> Result<String, ApiError> {
    let keys = stripe_keys(state)?;
    let body = call(
        state
            .http
            .post(format!("{}/v1/refunds", keys.api_base))
            .bearer_auth(keys.secret_key.expose())
            .header("idempotency-key", reference)
            .form(&stripe::refund_form(payment_intent, amount, reference)),
        stripe::error_message,
    )
    .await
    .map_err(|e| gateway_error("Stripe", e))?;
    stripe::refund_reply(&body)
        .map(|(id, _)| id)
        .map_err(|e| gateway_error("Stripe", e.to_string()))
}

/// Creates a Customer Portal session; the URL.
pub async fn stripe_portal(
    state: &AppState,
    customer: &str,
    return_url: &str,
) -> Result<String, ApiError> {
    let keys = stripe_keys(state)?;
    let body = call(
        state
            .http
            .post(format!("{}/v1/billing_portal/sessions", keys.api_base))
            .bearer_auth(keys.secret_key.expose())
            .form(&[("customer", customer), ("return_url", return_url)]),
        stripe::error_message,
    )
    .await
    .map_err(|e| gateway_error("Stripe", e))?;
    stripe::session_reply(&body)
        .map(|(_, url)| url)
        .map_err(|e| gateway_error("Stripe", e.to_string()))
}

/// Cancels at Stripe the subscriptions a new one replaced (they are canceled here already),
/// now in the background; what fails stays marked and the period job tries again each minute.
pub fn cancel_replaced(state: &AppState, replaced: Vec<(String, String)>) {
    if replaced.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move { cancel_at_gateways(&state).await });
}

/// One pass over the subscriptions still to cancel at Stripe.
pub async fn cancel_at_gateways(state: &AppState) {
    let Some(keys) = state.config.payments.stripe.clone() else {
        return;
    };
    let pending = match state.db.pending_gateway_cancellations().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the cancellations owed to Stripe");
            return;
        }
    };
    for (id, sub) in pending {
        let resp = state
            .http
            .delete(format!("{}/v1/subscriptions/{sub}", keys.api_base))
            .bearer_auth(keys.secret_key.expose())
            .timeout(CALL_TIMEOUT)
            .send()
            .await;
        // 404: Stripe has no such subscription (already gone) — nothing is owed either.
        let done = match &resp {
            Ok(r) => r.status().is_success() || r.status() == StatusCode::NOT_FOUND,
            Err(_) => false,
        };
        if done {
            if let Err(e) = state.db.gateway_cancellation_done(id).await {
                tracing::error!(error = %e, "recording a Stripe cancellation failed");
            } else {
                tracing::info!(
                    subscription = sub,
                    "replaced Stripe subscription canceled at Stripe"
                );
            }
        } else {
            tracing::warn!(subscription = sub, status = ?resp.as_ref().map(|r| r.status()).ok(), "canceling a replaced Stripe subscription failed; retrying within a minute");
        }
    }
}

/// Tells Stripe whether a subscription ends with its period.
pub async fn stripe_cancel_at_period_end(
    state: &AppState,
    subscription: &str,
    cancel: bool,
) -> Result<(), ApiError> {
    let keys = stripe_keys(state)?;
    call(
        state
            .http
            .post(format!("{}/v1/subscriptions/{subscription}", keys.api_base))
            .bearer_auth(keys.secret_key.expose())
            .form(&[(
                "cancel_at_period_end",
                if cancel { "true" } else { "false" },
            )]),
        stripe::error_message,
    )
    .await
    .map(|_| ())
    .map_err(|e| gateway_error("Stripe", e))
}

/// What ePayco itself says of a payment reference (the outcome a confirmation claims is not
/// signed, so this is what counts).
pub async fn epayco_validation(
    state: &AppState,
    keys: &ferrocast_config::EpaycoKeys,
    ref_payco: &str,
) -> Result<epayco::Validation, ApiError> {
    // ePayco's references are short (24 hex digits, or a number).
    if ref_payco.is_empty()
        || ref_payco.len() > 64
        || !ref_payco
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::bad_request(
            "BAD_EVENT",
            "The confirmation is not readable",
            "x_ref_payco is not a payment reference.",
        ));
    }
    let body = call(
        state.http.get(format!(
            "{}/validation/v1/reference/{ref_payco}",
            keys.api_base
        )),
        |_| "ePayco did not confirm the reference".into(),
    )
    .await
    .map_err(|e| {
        let mut err = gateway_error("ePayco", e);
        err.status = StatusCode::SERVICE_UNAVAILABLE;
        err
    })?;
    epayco::parse_validation(&body).map_err(|e| {
        let mut err = gateway_error("ePayco", e.to_string());
        err.status = StatusCode::SERVICE_UNAVAILABLE;
        err
    })
}

/// Starts an ePayco Smart Checkout: logs in to Apify with the public and private keys, then
/// creates the session; its id. (A token is asked for each session: they are short-lived and a
/// checkout is rare, so nothing is cached.)
pub async fn epayco_session(
    state: &AppState,
    checkout: &EpaycoCheckout,
    request: &epayco::SessionRequest<'_>,
) -> Result<String, ApiError> {
    let login = call(
        state
            .http
            .post(format!("{}/login", checkout.apify_url))
            .basic_auth(&checkout.public_key, Some(checkout.private_key.expose()))
            .json(&serde_json::json!({})),
        epayco::error_message,
    )
    .await
    .map_err(|e| gateway_error("ePayco", e))?;
    let token = epayco::login_reply(&login).map_err(|e| gateway_error("ePayco", e.to_string()))?;
    let body = call(
        state
            .http
            .post(format!("{}/payment/session/create", checkout.apify_url))
            .bearer_auth(&token)
            .json(&epayco::session_body(request)),
        epayco::error_message,
    )
    .await
    .map_err(|e| gateway_error("ePayco", e))?;
    epayco::session_reply(&body).map_err(|e| gateway_error("ePayco", e.to_string()))
}

/// Creates a Razorpay order.
pub async fn razorpay_order(
    state: &AppState,
    amount: i64,
    currency: &str,
    receipt: &str,
    notes: serde_json::Value,
) -> Result<razorpay::Order, ApiError> {
    let keys = razorpay_keys(state)?;
    let body = call(
        state
            .http
            .post(format!("{}/v1/orders", keys.api_base))
            .basic_auth(&keys.key_id, Some(keys.key_secret.expose()))
            .json(&razorpay::order_body(amount, currency, receipt, notes)),
        razorpay::error_message,
    )
    .await
    .map_err(|e| gateway_error("Razorpay", e))?;
    razorpay::order_reply(&body).map_err(|e| gateway_error("Razorpay", e.to_string()))
}

/// Rolls subscriptions whose period ended, every minute until `shutdown`: past due with grace,
/// or canceled at period end or after the grace.
pub fn spawn_period_job(state: AppState, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            roll_periods(&state).await;
            tokio::select! {
                _ = tokio::time::sleep(PERIOD_JOB_EVERY) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    });
}

/// One pass of the period job; how many subscriptions changed.
pub async fn roll_periods(state: &AppState) -> usize {
    cancel_at_gateways(state).await;
    let now = state.clock.now_ms();
    let grace_ms = state.config.payments.grace_days * 86_400_000;
    let due_now = match state.db.due_subscriptions(now, grace_ms).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "the subscription period job cannot read subscriptions");
            return 0;
        }
    };
    let mut changed = 0;
    for s in due_now {
        let Some(status) = SubscriptionStatus::parse(&s.status) else {
            continue;
        };
        let standing = Standing {
            status,
            current_period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            grace_until: s.grace_until,
        };
        let (to, grace) = match due(&standing, now, state.config.payments.grace_days) {
            Due::Nothing => continue,
            Due::PastDue { grace_until } => (SubscriptionStatus::PastDue, Some(grace_until)),
            Due::Cancel => (SubscriptionStatus::Canceled, None),
        };
        let (status, to) = (status.as_str(), to.as_str());
        match state
            .db
            .roll_subscription(s.id, status, to, grace, now)
            .await
        {
            Ok(true) => {
                changed += 1;
                tracing::info!(
                    subscription = s.id,
                    from = status,
                    to,
                    "subscription period rolled"
                );
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, subscription = s.id, "rolling a subscription failed")
            }
        }
    }
    changed
}
