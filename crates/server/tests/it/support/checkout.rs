//! Local stand-ins for the payment gateways, one set for every test that pays (the route tests
//! of `payments.rs` and `billing.rs`, and the browser's in `web.rs`): the gateways' APIs that
//! ferrocast calls, in their documented request and reply shapes, and the pages a buyer sees.
//!
//! - Stripe: `POST /v1/checkout/sessions` answers a Checkout Session whose `url` is the page
//!   `GET /c/pay/{id}` here; paying there sends the node the webhooks Stripe sends for a
//!   subscription Checkout (`checkout.session.completed`, `customer.subscription.created`,
//!   `invoice.paid`), signed by Stripe's own Python library, then sends the browser to the
//!   session's `success_url`. `POST`/`DELETE /v1/subscriptions/{id}` as Stripe answers them;
//!   `POST /v1/billing_portal/sessions` answers a Customer Portal page that links back. Stripe
//!   can be made to fail cancellations ([`Seen::fail_cancels`]: an outage).
//! - Razorpay: `POST /v1/orders`; Hosted Checkout, `POST /v1/checkout/embedded` (the form the
//!   merchant's page posts), shows the order; paying posts `razorpay_payment_id`,
//!   `razorpay_order_id` and `razorpay_signature` (made as Razorpay documents and checked with
//!   Razorpay's Python library) to the form's `callback_url`, as Razorpay does.
//! - ePayco Smart Checkout: Apify's `POST /login` (HTTP Basic with the public and private keys;
//!   wrong ones are refused as Apify refuses them) answers a token, and
//!   `POST /payment/session/create` (that bearer token; the documented fields checked) a
//!   `sessionId`. `GET /checkout-v2.js` is a stand-in for ePayco's script:
//!   `ePayco.checkout.configure({sessionId, type: "standard", test}).open()` sends the browser to
//!   the hosted page `GET /checkout/{sessionId}`; paying there records the payment in ePayco's
//!   validation API (`GET /validation/v1/reference/{ref}`), posts the confirmation signed as
//!   ePayco documents (SHA-256 of `cust_id^p_key^ref^transaction^amount^currency`, computed by
//!   `tests/py/sign.py`) to the session's confirmation URL, and sends the browser to its
//!   response URL with `?ref_payco=`.

use super::{form_decode, gateway_signatures, now_secs, Options};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

pub const STRIPE_KEY: &str = "sk_test_fake_key";
pub const STRIPE_WHSEC: &str = "whsec_fake_signing_secret";
pub const RZP_ID: &str = "rzp_test_fakekey";
pub const RZP_SECRET: &str = "fake_key_secret";
pub const RZP_WHSEC: &str = "fake_webhook_secret";
pub const EPAYCO_CUSTOMER: &str = "1234567";
pub const EPAYCO_KEY: &str = "fake_p_key";
pub const EPAYCO_PUBLIC: &str = "fake_epayco_public_key";
pub const EPAYCO_PRIVATE: &str = "fake_epayco_private_key";

/// What the stand-ins saw.
#[derive(Default)]
pub struct Seen {
    /// The node's base URL (where Stripe's webhooks go); set once the node runs.
    pub node: String,
    /// Stripe Checkout Sessions, in order: their form fields; the id `cs_test_{index + 1}`.
    pub sessions: Vec<HashMap<String, String>>,
    /// Razorpay orders, in order: the bodies ferrocast sent; the id `order_Test{index + 1}`
    /// (six digits).
    pub orders: Vec<Value>,
    /// Stripe subscriptions updated (`cancel_at_period_end`), as (id, value).
    pub updated: Vec<(String, String)>,
    /// Stripe subscriptions canceled.
    pub canceled: Vec<String>,
    /// Customer Portal sessions, as (customer, return URL).
    pub portals: Vec<(String, String)>,
    /// Payments made on the hosted pages, as (gateway, id).
    pub paid: Vec<(String, String)>,
    /// Apify tokens handed out by `POST /login`.
    pub apify_tokens: Vec<String>,
    /// ePayco Smart Checkout sessions: their bodies, the id `sess_test_{index + 1}`.
    pub epayco_sessions: Vec<Value>,
    /// ePayco sessions opened on the hosted page, as (session id, `test`).
    pub epayco_opened: Vec<(String, String)>,
    /// Whether `POST /payment/session/create` refuses (ePayco having a bad day).
    pub refuse_sessions: bool,
    /// ePayco's record of each payment reference (`data` of its validation reply).
    pub epayco: HashMap<String, Value>,
    /// How many Stripe subscription cancellations to fail (a Stripe outage).
    pub fail_cancels: u32,
    /// Stripe charges made (Checkout payments, first invoices and renewals), in order.
    pub charges: Vec<StripeCharge>,
    /// Where ePayco posts the confirmations of each payment reference.
    pub epayco_confirmation_urls: HashMap<String, String>,
    /// Stripe Connect: accounts, onboarding links and transfers.
    pub connect: Connect,
    /// Refunds made through `POST /v1/refunds`, in order: (id `re_test_{index + 1}`,
    /// PaymentIntent, amount, idempotency key).
    pub refunds: Vec<(String, String, i64, String)>,
    /// How many refunds to fail (a Stripe outage).
    pub fail_refunds: u32,
}

/// A charge the Stripe stand-in made, as its refunds and disputes need it.
#[derive(Debug, Clone, Default)]
pub struct StripeCharge {
    /// `ch_test_…`.
    pub id: String,
    /// `pi_test_…`.
    pub payment_intent: String,
    /// `in_test_…` where an invoice was paid.
    pub invoice: Option<String>,
    /// `sub_test_…` where a subscription was billed.
    pub subscription: Option<String>,
    /// Minor units.
    pub amount: i64,
    /// Lower-case ISO code, as Stripe writes it.
    pub currency: String,
    /// Refunded so far.
    pub refunded: i64,
    /// The metadata Checkout put on the PaymentIntent or subscription.
    pub metadata: Value,
    /// The end of the period it paid, for a subscription.
    pub period_end: i64,
}

/// The `n`th (from 1) of `items`, by the number in an id.
fn nth<'a, T>(items: &'a [T], n: Option<&str>) -> Option<&'a T> {
    items.get(n?.parse::<usize>().ok()?.checked_sub(1)?)
}

impl Seen {
    /// A Checkout Session's form fields, by its id.
    pub fn session(&self, id: &str) -> Option<&HashMap<String, String>> {
        nth(&self.sessions, id.strip_prefix("cs_test_"))
    }
    /// A Razorpay order's body, by its id.
    pub fn order(&self, id: &str) -> Option<&Value> {
        nth(&self.orders, id.strip_prefix("order_Test"))
    }
    /// An ePayco session's body, by its id.
    pub fn epayco_session(&self, id: &str) -> Option<&Value> {
        nth(&self.epayco_sessions, id.strip_prefix("sess_test_"))
    }
}

pub type Gateways = Arc<Mutex<Seen>>;

/// What the stand-ins saw so far (and their knobs).
pub fn seen(g: &Gateways) -> std::sync::MutexGuard<'_, Seen> {
    g.lock().expect("lock")
}

/// Minimal HTML escaping for the pages.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content='width=device-width'><title>{t}</title>\
         <style>body{{font-family:sans-serif;max-width:420px;margin:40px auto;padding:0 16px}}button{{font-size:1.1rem;padding:10px 18px}}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    ))
}

fn money(minor: &str, currency: &str) -> String {
    let m: i64 = minor.parse().unwrap_or(0);
    format!(
        "{}.{:02} {}",
        m / 100,
        m % 100,
        currency.to_ascii_uppercase()
    )
}

// ---------------------------------------------------------------- Stripe

/// Stripe's refusals, in Stripe's error shape.
enum StripeRefusal {
    /// Another API key.
    Key,
    /// A body that is not a form.
    NotAForm,
    /// An outage ([`Seen::fail_cancels`]).
    Outage,
}

impl IntoResponse for StripeRefusal {
    fn into_response(self) -> Response {
        let (status, kind, message) = match self {
            StripeRefusal::Key => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "Invalid API Key provided",
            ),
            StripeRefusal::NotAForm => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "Request bodies are form-encoded",
            ),
            StripeRefusal::Outage => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "An unknown error occurred",
            ),
        };
        (
            status,
            Json(json!({"error": {"type": kind, "message": message}})),
        )
            .into_response()
    }
}

/// Stripe's key checked, as Stripe refuses another.
fn stripe_authorised(h: &HeaderMap) -> Result<(), StripeRefusal> {
    let key = h.get("authorization").and_then(|v| v.to_str().ok());
    if key == Some(&format!("Bearer {STRIPE_KEY}")) {
        Ok(())
    } else {
        Err(StripeRefusal::Key)
    }
}

/// A Stripe API call's form (Stripe takes form-encoded bodies), or Stripe's refusal.
fn stripe_form(h: &HeaderMap, body: &str) -> Result<HashMap<String, String>, StripeRefusal> {
    stripe_authorised(h)?;
    let kind = h.get("content-type").and_then(|v| v.to_str().ok());
    if kind != Some("application/x-www-form-urlencoded") {
        return Err(StripeRefusal::NotAForm);
    }
    Ok(form_decode(body))
}

async fn stripe_create_session(
    State((g, addr)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    body: String,
) -> Result<Response, StripeRefusal> {
    let form = stripe_form(&h, &body)?;
    let id = {
        let mut s = seen(&g);
        s.sessions.push(form);
        format!("cs_test_{}", s.sessions.len())
    };
    let mode = seen(&g)
        .session(&id)
        .and_then(|f| f.get("mode").cloned())
        .unwrap_or_default();
    Ok(Json(json!({"id": id, "object": "checkout.session", "mode": mode, "status": "open", "url": format!("http://{addr}/c/pay/{id}")})).into_response())
}

async fn stripe_page(
    State((g, _)): State<(Gateways, SocketAddr)>,
    Path(id): Path<String>,
) -> Response {
    let Some(f) = seen(&g).session(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such Checkout Session").into_response();
    };
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let amount = money(
        &get("line_items[0][price_data][unit_amount]"),
        &get("line_items[0][price_data][currency]"),
    );
    let (terms, button) = if get("mode") == "payment" {
        (format!("Pay <strong>{amount}</strong> once"), "Pay")
    } else {
        (
            format!(
                "Pay <strong>{amount}</strong> every {}",
                esc(&get("line_items[0][price_data][recurring][interval]"))
            ),
            "Subscribe",
        )
    };
    page(
        "Stripe Checkout (test)",
        &format!(
            "<p>{product}</p><p>{terms}</p><p>{email}</p>\
             <form method=post action='/c/pay/{id}'><button>{button}</button></form>\
             <p><a href='{cancel}'>Back</a></p>",
            product = esc(&get("line_items[0][price_data][product_data][name]")),
            email = esc(&get("customer_email")),
            cancel = esc(&get("cancel_url")),
        ),
    )
    .into_response()
}

/// Signs Stripe events with Stripe's library and delivers them to the node, in order.
async fn deliver_to_node(node: &str, payloads: Vec<String>) -> Result<(), String> {
    let t = now_secs();
    let req: Vec<Value> = payloads
        .iter()
        .map(|p| json!({"payload": p, "secret": STRIPE_WHSEC, "timestamp": t}))
        .collect();
    let headers =
        tokio::task::spawn_blocking(move || gateway_signatures(&json!({ "stripe": req })))
            .await
            .map_err(|e| e.to_string())?;
    let client = reqwest::Client::new();
    for (i, p) in payloads.into_iter().enumerate() {
        let header = headers["stripe"][i]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let r = client
            .post(format!("{node}/api/payments/stripe/webhook"))
            .header("content-type", "application/json")
            .header("stripe-signature", header)
            .body(p)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("the node answered {}", r.status()));
        }
    }
    Ok(())
}

/// The metadata Checkout puts on an object, from the session's form fields `{prefix}[key]`.
fn form_metadata(f: &HashMap<String, String>, prefix: &str) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in f {
        if let Some(key) = k
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('['))
            .and_then(|r| r.strip_suffix(']'))
        {
            m.insert(key.to_string(), Value::String(v.clone()));
        }
    }
    Value::Object(m)
}

/// A Stripe event's JSON (API version 2024-06-20, before invoices lost `payment_intent`).
pub fn stripe_event(id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": created, "type": kind, "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "data": {"object": object}}).to_string()
}

/// A paid subscription invoice, as `invoice.paid` carries it.
fn stripe_invoice(c: &StripeCharge, customer: &str, reason: &str, start: i64) -> Value {
    let invoice = c.invoice.clone().unwrap_or_default();
    json!({"id": invoice, "object": "invoice", "customer": customer, "status": "paid", "billing_reason": reason, "amount_paid": c.amount, "amount_due": c.amount, "currency": c.currency, "payment_intent": c.payment_intent, "charge": c.id, "parent": {"type": "subscription_details", "subscription_details": {"subscription": c.subscription, "metadata": c.metadata}}, "lines": {"object": "list", "data": [{"id": format!("il_{invoice}"), "period": {"start": start, "end": c.period_end}}]}})
}

/// Pays a Checkout Session: the webhooks Stripe sends for it, in order — for `mode=payment`
/// `checkout.session.completed` (its `payment_intent`), for `mode=subscription` also
/// `customer.subscription.created` and the first `invoice.paid` — then the browser to
/// `success_url`.
async fn stripe_pay(
    State((g, _)): State<(Gateways, SocketAddr)>,
    Path(id): Path<String>,
) -> Response {
    let (f, node, n) = {
        let s = seen(&g);
        let Some(f) = s.session(&id).cloned() else {
            return (StatusCode::NOT_FOUND, "no such Checkout Session").into_response();
        };
        (f, s.node.clone(), s.paid.len() + 1)
    };
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let order = get("client_reference_id");
    let amount: i64 = get("line_items[0][price_data][unit_amount]")
        .parse()
        .unwrap_or(0);
    let currency = get("line_items[0][price_data][currency]");
    let interval = get("line_items[0][price_data][recurring][interval]");
    let one_time = get("mode") == "payment";
    let (sub, customer, invoice) = (
        format!("sub_test_{n}"),
        format!("cus_test_{n}"),
        format!("in_test_{n}"),
    );
    let start = now_secs();
    let end = start + if interval == "year" { 365 } else { 30 } * 86_400;
    let charge = StripeCharge {
        id: format!("ch_test_{n}"),
        payment_intent: format!("pi_test_{n}"),
        invoice: (!one_time).then(|| invoice.clone()),
        subscription: (!one_time).then(|| sub.clone()),
        amount,
        currency: currency.clone(),
        refunded: 0,
        metadata: if one_time {
            form_metadata(&f, "payment_intent_data[metadata]")
        } else {
            form_metadata(&f, "subscription_data[metadata]")
        },
        period_end: end,
    };
    let event =
        |kind: &str, object: Value| stripe_event(&format!("evt_{kind}_{n}"), kind, start, object);
    let session_metadata = form_metadata(&f, "metadata");
    let events = if one_time {
        vec![event(
            "checkout.session.completed",
            json!({"id": id, "object": "checkout.session", "mode": "payment", "client_reference_id": order, "customer": null, "customer_email": get("customer_email"), "subscription": null, "invoice": null, "payment_intent": charge.payment_intent, "amount_total": amount, "currency": currency, "payment_status": "paid", "status": "complete", "metadata": session_metadata}),
        )]
    } else {
        vec![
            event(
                "checkout.session.completed",
                json!({"id": id, "object": "checkout.session", "mode": "subscription", "client_reference_id": order, "customer": customer, "subscription": sub, "invoice": invoice, "payment_intent": null, "amount_total": amount, "currency": currency, "payment_status": "paid", "status": "complete", "metadata": session_metadata}),
            ),
            event(
                "customer.subscription.created",
                json!({"id": sub, "object": "subscription", "customer": customer, "status": "active", "cancel_at_period_end": false, "metadata": charge.metadata, "items": {"object": "list", "data": [{"id": format!("si_{n}"), "object": "subscription_item", "current_period_start": start, "current_period_end": end, "price": {"id": "price_x", "unit_amount": amount, "currency": currency, "recurring": {"interval": interval}}}]}}),
            ),
            event(
                "invoice.paid",
                stripe_invoice(&charge, &customer, "subscription_create", start),
            ),
        ]
    };
    if let Err(e) = deliver_to_node(&node, events).await {
        return (
            StatusCode::BAD_GATEWAY,
            format!("webhook delivery failed: {e}"),
        )
            .into_response();
    }
    {
        let mut s = seen(&g);
        s.paid.push((
            "stripe".into(),
            if one_time {
                charge.payment_intent.clone()
            } else {
                invoice
            },
        ));
        s.charges.push(charge);
    }
    Redirect::to(&get("success_url")).into_response()
}

async fn stripe_update(
    State((g, _)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: String,
) -> Result<Response, StripeRefusal> {
    let form = stripe_form(&h, &body)?;
    let cancel = form
        .get("cancel_at_period_end")
        .cloned()
        .unwrap_or_default();
    seen(&g).updated.push((id.clone(), cancel.clone()));
    Ok(Json(json!({"id": id, "object": "subscription", "status": "active", "cancel_at_period_end": cancel == "true"})).into_response())
}

async fn stripe_cancel(
    State((g, _)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, StripeRefusal> {
    stripe_authorised(&h)?;
    let mut s = seen(&g);
    if s.fail_cancels > 0 {
        s.fail_cancels -= 1;
        return Err(StripeRefusal::Outage);
    }
    s.canceled.push(id.clone());
    drop(s);
    Ok(Json(json!({"id": id, "object": "subscription", "status": "canceled"})).into_response())
}

/// The Customer Portal: a session for a customer, whose page links back to `return_url`.
async fn stripe_portal(
    State((g, addr)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    body: String,
) -> Result<Response, StripeRefusal> {
    let f = stripe_form(&h, &body)?;
    let n = {
        let mut s = seen(&g);
        s.portals.push((
            f.get("customer").cloned().unwrap_or_default(),
            f.get("return_url").cloned().unwrap_or_default(),
        ));
        s.portals.len()
    };
    Ok(Json(json!({"id": format!("bps_{n}"), "object": "billing_portal.session", "customer": f.get("customer"), "return_url": f.get("return_url"), "url": format!("http://{addr}/p/session/{n}")})).into_response())
}

async fn stripe_portal_page(
    State((g, _)): State<(Gateways, SocketAddr)>,
    Path(n): Path<usize>,
) -> Response {
    let Some((customer, back)) = n
        .checked_sub(1)
        .and_then(|i| seen(&g).portals.get(i).cloned())
    else {
        return (StatusCode::NOT_FOUND, "no such portal session").into_response();
    };
    page(
        "Stripe customer portal (test)",
        &format!(
            "<p>Customer {}</p><p><a href='{}'>Return to ferrocast</a></p>",
            esc(&customer),
            esc(&back)
        ),
    )
    .into_response()
}

// ---------------------------------------------------------------- Razorpay

async fn razorpay_order(
    State((g, _)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let basic = format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{RZP_ID}:{RZP_SECRET}").as_bytes())
    );
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(&basic) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": "BAD_REQUEST_ERROR", "description": "Authentication failed"}})),
        )
            .into_response();
    }
    let id = {
        let mut s = seen(&g);
        s.orders.push(body.clone());
        format!("order_Test{:06}", s.orders.len())
    };
    Json(json!({"id": id, "entity": "order", "amount": body["amount"], "amount_paid": 0, "amount_due": body["amount"], "currency": body["currency"], "receipt": body["receipt"], "status": "created", "attempts": 0, "notes": body["notes"], "created_at": now_secs()})).into_response()
}

/// Hosted Checkout: the merchant's page posts the order here; the page shows it with a button
/// that pays it and posts the signed outcome to `callback_url`.
async fn razorpay_hosted(State((g, _)): State<(Gateways, SocketAddr)>, body: String) -> Response {
    let f = form_decode(&body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let order_id = get("order_id");
    let order = seen(&g).order(&order_id).cloned();
    let Some(order) = order.filter(|_| get("key_id") == RZP_ID) else {
        return (
            StatusCode::BAD_REQUEST,
            page(
                "Razorpay",
                "<p>Invalid key_id or order_id. This payment cannot be made.</p>",
            ),
        )
            .into_response();
    };
    let payment_id = format!("pay_Test{:06}", seen(&g).paid.len() + 1);
    let (o, p) = (order_id.clone(), payment_id.clone());
    let sigs = tokio::task::spawn_blocking(move || {
        gateway_signatures(
            &json!({"razorpay_payment": [{"order_id": o, "payment_id": p, "key_id": RZP_ID, "key_secret": RZP_SECRET}]}),
        )
    })
    .await
    .expect("signing");
    let signature = sigs["razorpay_payment"][0].as_str().unwrap_or_default();
    seen(&g).paid.push(("razorpay".into(), payment_id.clone()));
    let amount = money(
        &order["amount"].as_i64().unwrap_or(0).to_string(),
        order["currency"].as_str().unwrap_or_default(),
    );
    page(
        "Razorpay Checkout (test)",
        &format!(
            "<p>{desc}</p><p>{name} · {email}</p>\
             <form method=post action='{callback}'>\
             <input type=hidden name=razorpay_payment_id value='{payment_id}'>\
             <input type=hidden name=razorpay_order_id value='{order_id}'>\
             <input type=hidden name=razorpay_signature value='{signature}'>\
             <button>Pay {amount}</button></form>\
             <p><a href='{cancel}'>Cancel</a></p>",
            desc = esc(&get("description")),
            name = esc(&get("prefill[name]")),
            email = esc(&get("prefill[email]")),
            callback = esc(&get("callback_url")),
            cancel = esc(&get("cancel_url")),
        ),
    )
    .into_response()
}

// ---------------------------------------------------------------- ePayco

/// Apify's login: HTTP Basic `PUBLIC_KEY:PRIVATE_KEY`, a token.
async fn apify_login(State((g, _)): State<(Gateways, SocketAddr)>, h: HeaderMap) -> Response {
    let basic = format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{EPAYCO_PUBLIC}:{EPAYCO_PRIVATE}").as_bytes())
    );
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(&basic) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Invalid client: client is invalid"})),
        )
            .into_response();
    }
    let token = {
        let mut s = seen(&g);
        let token = format!(
            "eyJhbGciOiJIUzI1NiJ9.apify{}.standin",
            s.apify_tokens.len() + 1
        );
        s.apify_tokens.push(token.clone());
        token
    };
    Json(json!({ "token": token })).into_response()
}

fn session_refusal(errors: &[String]) -> Response {
    let errors: Vec<Value> = errors
        .iter()
        .map(|e| json!({"codError": 500, "errorMessage": e}))
        .collect();
    Json(json!({"success": false, "titleResponse": "Error", "textResponse": "Error creating session", "lastAction": "create session", "data": {"totalErrors": errors.len(), "errors": errors}})).into_response()
}

/// `POST /payment/session/create`: the bearer token from the login and the fields Smart
/// Checkout needs (as strings), else ePayco's refusal.
async fn epayco_session(
    State((g, _)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let bearer = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if !bearer.is_some_and(|t| seen(&g).apify_tokens.contains(&t)) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"success": false, "titleResponse": "Unauthorized", "textResponse": "Token invalid or expired"})),
        )
            .into_response();
    }
    if seen(&g).refuse_sessions {
        return session_refusal(&["the merchant's account cannot take payments".into()]);
    }
    let mut errors = Vec::new();
    for field in [
        "name",
        "description",
        "invoice",
        "currency",
        "amount",
        "country",
        "lang",
        "response",
        "confirmation",
        "ip",
    ] {
        if body[field].as_str().is_none_or(str::is_empty) {
            errors.push(format!("field {field} is required"));
        }
    }
    if body["checkout_version"] != "2" {
        errors.push("checkout_version must be 2".into());
    }
    if !matches!(body["test"].as_str(), Some("true" | "false")) {
        errors.push("test must be \"true\" or \"false\"".into());
    }
    if !matches!(body["currency"].as_str(), Some("USD" | "COP")) {
        errors.push("currency must be COP or USD".into());
    }
    let amount = body["amount"].as_str().unwrap_or_default();
    let decimal = amount.split_once('.').map_or(
        !amount.is_empty() && amount.bytes().all(|b| b.is_ascii_digit()),
        |(w, f)| {
            !w.is_empty()
                && w.bytes().all(|b| b.is_ascii_digit())
                && f.len() <= 2
                && f.bytes().all(|b| b.is_ascii_digit())
        },
    );
    if !decimal {
        errors.push("amount must be a decimal number".into());
    }
    if !errors.is_empty() {
        return session_refusal(&errors);
    }
    let id = {
        let mut s = seen(&g);
        s.epayco_sessions.push(body);
        format!("sess_test_{}", s.epayco_sessions.len())
    };
    Json(json!({"success": true, "titleResponse": "Successful", "textResponse": "Session created", "lastAction": "create session", "data": {"sessionId": id}})).into_response()
}

/// A stand-in for ePayco's checkout script: `configure` takes the session, `open` in the
/// redirecting mode sends the browser to this stand-in's hosted page.
async fn epayco_script() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        r#"(function () {
  var origin = new URL(document.currentScript.src).origin;
  window.ePayco = { checkout: { configure: function (o) {
    if (!o || typeof o.sessionId !== "string" || !o.sessionId) throw new Error("ePayco: sessionId is required");
    return {
      open: function () {
        if (o.type !== "standard") throw new Error("ePayco stand-in: only the standard (redirecting) checkout is here");
        location.assign(origin + "/checkout/" + encodeURIComponent(o.sessionId) + "?test=" + (o.test === true));
      },
      onErrors: function () {},
      setHooks: function () {}
    };
  } } };
})();
"#,
    )
        .into_response()
}

/// The hosted checkout of a session.
async fn epayco_page(
    State((g, _)): State<(Gateways, SocketAddr)>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let Some(b) = seen(&g).epayco_session(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such ePayco session").into_response();
    };
    seen(&g)
        .epayco_opened
        .push((id.clone(), q.get("test").cloned().unwrap_or_default()));
    let get = |k: &str| b[k].as_str().unwrap_or_default().to_string();
    page(
        "ePayco Checkout (test)",
        &format!(
            "<p>{desc}</p><p>{email}</p>\
             <form method=post action='/checkout/{id}/pay'><button>Pay {amount} {currency}</button></form>\
             <p><a href='{back}'>Back to the store</a></p>",
            desc = esc(&get("description")),
            email = esc(b["billing"]["email"].as_str().unwrap_or_default()),
            amount = esc(&get("amount")),
            currency = esc(&get("currency")),
            back = esc(&get("response")),
        ),
    )
    .into_response()
}

/// Signs an ePayco confirmation as ePayco does (`tests/py/sign.py`).
pub fn epayco_signature(
    reference: &str,
    transaction: &str,
    amount: &str,
    currency: &str,
) -> String {
    let fields = [
        EPAYCO_CUSTOMER,
        EPAYCO_KEY,
        reference,
        transaction,
        amount,
        currency,
    ];
    gateway_signatures(&json!({"epayco": [{"fields": fields}]}))["epayco"][0]
        .as_str()
        .expect("an ePayco signature")
        .to_string()
}

/// ePayco's record of a payment (what its validation API answers in `data`), with the outcome
/// `code` (`x_cod_response`: 1 accepted, 2 rejected, 3 pending…).
pub fn epayco_record(
    reference: &str,
    transaction: &str,
    invoice: &str,
    amount: &str,
    currency: &str,
    code: i64,
) -> Value {
    let word = ferrocast_payments::epayco::response_word(code);
    json!({"x_cust_id_cliente": EPAYCO_CUSTOMER, "x_ref_payco": reference, "x_transaction_id": transaction, "x_id_invoice": invoice, "x_amount": amount, "x_currency_code": currency, "x_cod_response": code, "x_response": word})
}

/// The form of ePayco's confirmation of an accepted payment, signed with `signature`.
pub fn epayco_confirmation(
    reference: &str,
    transaction: &str,
    invoice: &str,
    amount: &str,
    currency: &str,
    signature: &str,
) -> Vec<(&'static str, String)> {
    [
        ("x_cust_id_cliente", EPAYCO_CUSTOMER),
        ("x_ref_payco", reference),
        ("x_transaction_id", transaction),
        ("x_id_invoice", invoice),
        ("x_amount", amount),
        ("x_currency_code", currency),
        ("x_cod_response", "1"),
        ("x_response", "Aceptada"),
        ("x_signature", signature),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// Pays a session: ePayco's record of the payment, its signed confirmation to the merchant,
/// and the buyer back to the response URL.
async fn epayco_pay(
    State((g, _)): State<(Gateways, SocketAddr)>,
    Path(id): Path<String>,
) -> Response {
    let Some(b) = seen(&g).epayco_session(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such ePayco session").into_response();
    };
    let get = |k: &str| b[k].as_str().unwrap_or_default().to_string();
    let n = seen(&g).paid.len() + 1;
    let (reference, tx) = (format!("68fb8372{n:016x}"), format!("tx_epayco_{n}"));
    let (amount, currency, invoice) = (get("amount"), get("currency"), get("invoice"));
    let record = epayco_record(&reference, &tx, &invoice, &amount, &currency, 1);
    {
        let mut s = seen(&g);
        s.epayco.insert(reference.clone(), record);
        s.epayco_confirmation_urls
            .insert(reference.clone(), get("confirmation"));
    }
    let (r, t, a, c) = (
        reference.clone(),
        tx.clone(),
        amount.clone(),
        currency.clone(),
    );
    let signature = tokio::task::spawn_blocking(move || epayco_signature(&r, &t, &a, &c))
        .await
        .expect("signing");
    let form = epayco_confirmation(&reference, &tx, &invoice, &amount, &currency, &signature);
    let delivered = reqwest::Client::new()
        .post(get("confirmation"))
        .form(&form)
        .send()
        .await;
    match delivered {
        Ok(r) if r.status().is_success() => {}
        other => {
            return (
                StatusCode::BAD_GATEWAY,
                format!(
                    "the confirmation was not accepted: {:?}",
                    other.map(|r| r.status())
                ),
            )
                .into_response()
        }
    }
    seen(&g).paid.push(("epayco".into(), reference.clone()));
    let back = get("response");
    let sep = if back.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{back}{sep}ref_payco={reference}")).into_response()
}

/// ePayco's validation API: its record of a reference.
async fn epayco_validation(
    State((g, _)): State<(Gateways, SocketAddr)>,
    Path(reference): Path<String>,
) -> Response {
    match seen(&g).epayco.get(&reference) {
        Some(data) => Json(json!({"success": true, "title_response": "Transaction found", "text_response": "", "last_action": "validation", "data": data})).into_response(),
        None => Json(json!({"success": false, "title_response": "Error", "text_response": "Reference not found", "data": {}})).into_response(),
    }
}

/// Starts the stand-ins; call [`set_node`] once the node runs.
pub async fn start() -> (Gateways, SocketAddr) {
    let g: Gateways = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new()
        .route("/v1/checkout/sessions", post(stripe_create_session))
        .route("/c/pay/{id}", get(stripe_page).post(stripe_pay))
        .route("/v1/billing_portal/sessions", post(stripe_portal))
        .route("/p/session/{n}", get(stripe_portal_page))
        .route(
            "/v1/subscriptions/{id}",
            post(stripe_update).delete(stripe_cancel),
        )
        .route("/v1/refunds", post(stripe_create_refund))
        .route("/v1/orders", post(razorpay_order))
        .route("/v1/checkout/embedded", post(razorpay_hosted))
        .route("/login", post(apify_login))
        .route("/payment/session/create", post(epayco_session))
        .route("/checkout-v2.js", get(epayco_script))
        .route("/checkout/{id}", get(epayco_page))
        .route("/checkout/{id}/pay", post(epayco_pay))
        .route(
            "/validation/v1/reference/{reference}",
            get(epayco_validation),
        )
        .with_state((g.clone(), addr))
        .merge(connect_routes(g.clone(), addr));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (g, addr)
}

/// Where Stripe's webhooks go.
pub fn set_node(g: &Gateways, base: &str) {
    seen(g).node = base.to_string();
}

/// A node's settings for Stripe, Razorpay and ePayco (confirmations and Smart Checkout) through
/// the stand-ins at `addr`.
pub fn options(addr: SocketAddr) -> Options {
    let mut opts = Options::default();
    opts.extra.extend([
        ("stripe_secret_key", STRIPE_KEY.to_string()),
        ("stripe_webhook_secret", STRIPE_WHSEC.to_string()),
        ("stripe_api_base", format!("http://{addr}")),
        ("razorpay_key_id", RZP_ID.to_string()),
        ("razorpay_key_secret", RZP_SECRET.to_string()),
        ("razorpay_webhook_secret", RZP_WHSEC.to_string()),
        ("razorpay_api_base", format!("http://{addr}")),
        ("epayco_customer_id", EPAYCO_CUSTOMER.to_string()),
        ("epayco_p_key", EPAYCO_KEY.to_string()),
        ("epayco_api_base", format!("http://{addr}")),
        ("epayco_public_key", EPAYCO_PUBLIC.to_string()),
        ("epayco_private_key", EPAYCO_PRIVATE.to_string()),
        ("epayco_apify_url", format!("http://{addr}")),
        (
            "epayco_checkout_js",
            format!("http://{addr}/checkout-v2.js"),
        ),
    ]);
    opts
}

// ---------------------------------------------------------------- what the gateways do later
//
// Refunds, disputes (chargebacks), renewals and cancellations happen at the gateway, long after
// Checkout (in its dashboard, or by the buyer's bank); the gateway then tells the node with the
// webhooks below, in its documented shapes, signed with its own library.

/// `Stripe-Signature` headers for `payloads` (Stripe's Python library).
pub fn stripe_signatures(payloads: &[String]) -> Vec<String> {
    let t = now_secs();
    let req: Vec<Value> = payloads
        .iter()
        .map(|p| json!({"payload": p, "secret": STRIPE_WHSEC, "timestamp": t}))
        .collect();
    let out = gateway_signatures(&json!({ "stripe": req }));
    out["stripe"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|h| h.as_str().expect("header").to_string())
        .collect()
}

/// Delivers signed Stripe events to the node, one after another; each answer's status and body.
pub async fn stripe_send(node: &str, payloads: &[String]) -> Vec<(u16, Value)> {
    let p = payloads.to_vec();
    let headers = tokio::task::spawn_blocking(move || stripe_signatures(&p))
        .await
        .expect("signing");
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for (p, h) in payloads.iter().zip(headers) {
        let r = client
            .post(format!("{node}/api/payments/stripe/webhook"))
            .header("content-type", "application/json")
            .header("stripe-signature", h)
            .body(p.clone())
            .send()
            .await
            .expect("the node answers");
        let status = r.status().as_u16();
        answers.push((status, r.json().await.unwrap_or(Value::Null)));
    }
    answers
}

/// A Stripe charge the stand-in made, by its PaymentIntent.
pub fn stripe_charge(g: &Gateways, payment_intent: &str) -> StripeCharge {
    seen(g)
        .charges
        .iter()
        .find(|c| c.payment_intent == payment_intent)
        .cloned()
        .unwrap_or_else(|| panic!("no Stripe charge {payment_intent}"))
}

/// The `charge.refunded` event of refunding `amount` more of a charge (Stripe sends the charge
/// with the running total refunded; one event per refund).
pub fn stripe_refund_event(g: &Gateways, payment_intent: &str, amount: i64) -> String {
    let mut s = seen(g);
    let c = s
        .charges
        .iter_mut()
        .find(|c| c.payment_intent == payment_intent)
        .unwrap_or_else(|| panic!("no Stripe charge {payment_intent}"));
    assert!(
        amount > 0 && c.refunded + amount <= c.amount,
        "Stripe refunds at most what was charged"
    );
    c.refunded += amount;
    let n = c.refunded;
    stripe_event(
        &format!("evt_refund_{}_{n}", c.id),
        "charge.refunded",
        now_secs(),
        json!({"id": c.id, "object": "charge", "amount": c.amount, "amount_captured": c.amount, "amount_refunded": c.refunded, "currency": c.currency, "paid": true, "captured": true, "refunded": c.refunded == c.amount, "status": "succeeded", "payment_intent": c.payment_intent, "invoice": c.invoice,
            // Stripe copies a PaymentIntent's metadata onto its charge; an invoice's
            // PaymentIntent has none of the subscription's.
            "metadata": if c.subscription.is_some() { json!({}) } else { c.metadata.clone() }}),
    )
}

/// The `charge.dispute.created` event of the buyer's bank disputing a charge in full.
pub fn stripe_dispute_event(g: &Gateways, payment_intent: &str) -> String {
    let c = stripe_charge(g, payment_intent);
    stripe_event(
        &format!("evt_dispute_{}", c.id),
        "charge.dispute.created",
        now_secs(),
        json!({"id": format!("du_{}", c.id), "object": "dispute", "amount": c.amount, "currency": c.currency, "charge": c.id, "payment_intent": c.payment_intent, "reason": "fraudulent", "status": "needs_response", "is_charge_refundable": false}),
    )
}

/// The `invoice.paid` event of a subscription's next period: a new invoice, paid by a new
/// PaymentIntent (recorded as a charge of the stand-in).
pub fn stripe_renewal_event(g: &Gateways, subscription: &str) -> String {
    let mut s = seen(g);
    let last = s
        .charges
        .iter()
        .rev()
        .find(|c| c.subscription.as_deref() == Some(subscription))
        .cloned()
        .unwrap_or_else(|| panic!("no Stripe subscription {subscription}"));
    let n = s.charges.len() + 1;
    let start = last.period_end;
    let next = StripeCharge {
        id: format!("ch_test_r{n}"),
        payment_intent: format!("pi_test_r{n}"),
        invoice: Some(format!("in_test_r{n}")),
        refunded: 0,
        period_end: start + 30 * 86_400,
        ..last
    };
    s.charges.push(next.clone());
    drop(s);
    let customer = format!("cus_for_{subscription}");
    stripe_event(
        &format!("evt_renewal_{n}"),
        "invoice.paid",
        now_secs(),
        stripe_invoice(&next, &customer, "subscription_cycle", start),
    )
}

/// The `customer.subscription.deleted` event of a subscription ending now.
pub fn stripe_subscription_deleted_event(g: &Gateways, subscription: &str) -> String {
    let last = seen(g)
        .charges
        .iter()
        .rev()
        .find(|c| c.subscription.as_deref() == Some(subscription))
        .cloned()
        .unwrap_or_else(|| panic!("no Stripe subscription {subscription}"));
    let now = now_secs();
    stripe_event(
        &format!("evt_deleted_{subscription}"),
        "customer.subscription.deleted",
        now,
        json!({"id": subscription, "object": "subscription", "status": "canceled", "canceled_at": now, "ended_at": now, "cancel_at_period_end": false, "metadata": last.metadata, "items": {"object": "list", "data": [{"current_period_start": now - 86_400, "current_period_end": last.period_end}]}}),
    )
}

/// A Razorpay webhook body (`{"entity":"event",…}`) for `kind` with the given payload parts.
pub fn razorpay_event(kind: &str, payload: Value) -> String {
    let contains: Vec<String> = payload
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    json!({"entity": "event", "account_id": "acc_standin", "event": kind, "contains": contains, "payload": payload, "created_at": now_secs()}).to_string()
}

/// Delivers Razorpay webhooks (`(X-Razorpay-Event-Id, body)`), signed as Razorpay documents and
/// checked with its library; each answer's status and body.
pub async fn razorpay_send(node: &str, events: &[(String, String)]) -> Vec<(u16, Value)> {
    let req: Vec<Value> = events
        .iter()
        .map(|(_, b)| json!({"body": b, "secret": RZP_WHSEC}))
        .collect();
    let sigs = tokio::task::spawn_blocking(move || {
        gateway_signatures(&json!({ "razorpay_webhook": req }))
    })
    .await
    .expect("signing");
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for (i, (id, body)) in events.iter().enumerate() {
        let r = client
            .post(format!("{node}/api/payments/webhook"))
            .header("content-type", "application/json")
            .header(
                "x-razorpay-signature",
                sigs["razorpay_webhook"][i].as_str().expect("signature"),
            )
            .header("x-razorpay-event-id", id)
            .body(body.clone())
            .send()
            .await
            .expect("the node answers");
        let status = r.status().as_u16();
        answers.push((status, r.json().await.unwrap_or(Value::Null)));
    }
    answers
}

/// Razorpay's payment entity.
pub fn razorpay_payment(
    payment_id: &str,
    order_id: &str,
    amount: i64,
    currency: &str,
    status: &str,
) -> Value {
    json!({"entity": {"id": payment_id, "entity": "payment", "amount": amount, "currency": currency, "status": status, "order_id": order_id, "captured": status != "failed", "method": "card"}})
}

/// The `payment.captured` webhook of paying an order of the stand-in (`payment_id` as its
/// Checkout made it).
pub fn razorpay_captured_event(g: &Gateways, order_id: &str, payment_id: &str) -> (String, String) {
    let order = seen(g).order(order_id).cloned().expect("a Razorpay order");
    let amount = order["amount"].as_i64().expect("amount");
    let currency = order["currency"].as_str().expect("currency");
    (
        format!("evt_captured_{payment_id}"),
        razorpay_event(
            "payment.captured",
            json!({"payment": razorpay_payment(payment_id, order_id, amount, currency, "captured")}),
        ),
    )
}

/// The `refund.processed` webhook of refunding `amount` of a payment (`refund` names this
/// refund, `rfnd_…`).
pub fn razorpay_refund_event(
    g: &Gateways,
    order_id: &str,
    payment_id: &str,
    refund: &str,
    amount: i64,
) -> (String, String) {
    let order = seen(g).order(order_id).cloned().expect("a Razorpay order");
    let paid = order["amount"].as_i64().expect("amount");
    let currency = order["currency"].as_str().expect("currency");
    (
        format!("evt_{refund}"),
        razorpay_event(
            "refund.processed",
            json!({"refund": {"entity": {"id": refund, "entity": "refund", "amount": amount, "currency": currency, "payment_id": payment_id, "notes": {}, "receipt": null, "status": "processed", "speed_processed": "normal", "created_at": now_secs()}}, "payment": razorpay_payment(payment_id, order_id, paid, currency, "refunded")}),
        ),
    )
}

/// The `payment.dispute.created` webhook of a chargeback on a whole payment.
pub fn razorpay_dispute_event(g: &Gateways, order_id: &str, payment_id: &str) -> (String, String) {
    let order = seen(g).order(order_id).cloned().expect("a Razorpay order");
    let paid = order["amount"].as_i64().expect("amount");
    let currency = order["currency"].as_str().expect("currency");
    (
        format!("evt_dispute_{payment_id}"),
        razorpay_event(
            "payment.dispute.created",
            json!({"payment": razorpay_payment(payment_id, order_id, paid, currency, "captured"), "dispute": {"entity": {"id": format!("disp_{payment_id}"), "entity": "dispute", "payment_id": payment_id, "amount": paid, "currency": currency, "amount_deducted": 0, "reason_code": "chargeback", "status": "open", "phase": "chargeback", "created_at": now_secs()}}}),
        ),
    )
}

/// ePayco reverses a payment it had accepted (`x_cod_response` 6, `Reversada`): its record
/// says so, and the confirmation, signed as ePayco signs it, goes to the merchant again. The
/// node's answer.
pub async fn epayco_reverse(g: &Gateways, reference: &str) -> u16 {
    let (record, url) = {
        let mut s = seen(g);
        let url = s
            .epayco_confirmation_urls
            .get(reference)
            .cloned()
            .expect("a confirmation URL for the reference");
        let record = s.epayco.get_mut(reference).expect("an ePayco payment");
        record["x_cod_response"] = json!(6);
        record["x_response"] = json!(ferrocast_payments::epayco::response_word(6));
        (record.clone(), url)
    };
    let field = |k: &str| match &record[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (r, t, a, c) = (
        field("x_ref_payco"),
        field("x_transaction_id"),
        field("x_amount"),
        field("x_currency_code"),
    );
    let (r2, t2, a2, c2) = (r.clone(), t.clone(), a.clone(), c.clone());
    let signature = tokio::task::spawn_blocking(move || epayco_signature(&r2, &t2, &a2, &c2))
        .await
        .expect("signing");
    let mut form = epayco_confirmation(&r, &t, &field("x_id_invoice"), &a, &c, &signature);
    for (k, v) in form.iter_mut() {
        match *k {
            "x_cod_response" => *v = "6".into(),
            "x_response" => *v = "Reversada".into(),
            _ => {}
        }
    }
    reqwest::Client::new()
        .post(url)
        .form(&form)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- Stripe Connect (payouts)
//
// Express connected accounts and transfers, as Stripe's API reference documents them:
// `POST /v1/accounts` (`type=express`) answers `acct_test{n}` with onboarding not done;
// `POST /v1/account_links` (`type=account_onboarding`) answers a single-use `url`, the hosted
// onboarding page `GET /connect/onboard/{n}` here (used or expired: to `refresh_url`, as Stripe
// does); submitting it completes the account, sends the node's Connect endpoint the
// `account.updated` event Stripe sends (signed with Stripe's library under
// [`STRIPE_CONNECT_WHSEC`]) and the browser to `return_url`. `GET /v1/accounts/{id}`;
// `POST /v1/transfers` to an onboarded account, honouring `Idempotency-Key` as Stripe does (the
// same key answers the first transfer again; with other parameters, Stripe's refusal).

/// Signing secret of the node's Connect webhook endpoint.
pub const STRIPE_CONNECT_WHSEC: &str = "whsec_fake_connect_secret";

/// What the Connect stand-in saw and holds.
#[derive(Default)]
pub struct Connect {
    /// Accounts created, in order (the id `acct_test{index + 1}`): their form fields.
    pub accounts: Vec<HashMap<String, String>>,
    /// Whether each account finished onboarding (same order).
    pub onboarded: Vec<bool>,
    /// Account links, in order: (account, refresh_url, return_url, used).
    pub links: Vec<(String, String, String, bool)>,
    /// Transfers made, in order (the id `tr_test{index + 1}`): their form fields and the
    /// `Idempotency-Key` they came with.
    pub transfers: Vec<(HashMap<String, String>, Option<String>)>,
    /// Transfer requests answered (including idempotent replays).
    pub transfer_requests: usize,
    /// How many transfers to fail (a Stripe outage).
    pub fail_transfers: u32,
}

impl Connect {
    fn account_index(id: &str) -> Option<usize> {
        id.strip_prefix("acct_test")?
            .parse::<usize>()
            .ok()?
            .checked_sub(1)
    }
    /// The account object Stripe answers for the `i`th account.
    fn account_json(&self, i: usize) -> Value {
        let done = self.onboarded.get(i).copied().unwrap_or(false);
        let f = &self.accounts[i];
        json!({"id": format!("acct_test{}", i + 1), "object": "account", "type": "express",
            "email": f.get("email"), "country": f.get("country").cloned().unwrap_or_else(|| "US".into()),
            "details_submitted": done, "charges_enabled": done, "payouts_enabled": done,
            "capabilities": {"transfers": if done { "active" } else { "inactive" }},
            "metadata": {"ferrocast_user": f.get("metadata[ferrocast_user]")},
            "requirements": {"currently_due": if done { json!([]) } else { json!(["external_account", "tos_acceptance.date"]) }}})
    }
}

fn stripe_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"type": "invalid_request_error", "code": code, "message": message}})),
    )
        .into_response()
}

async fn connect_create_account(
    State((g, _)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    body: String,
) -> Result<Response, StripeRefusal> {
    let form = stripe_form(&h, &body)?;
    if form.get("type").map(String::as_str) != Some("express") {
        return Ok(stripe_error(
            StatusCode::BAD_REQUEST,
            "parameter_invalid",
            "This stand-in creates Express accounts: type=express",
        ));
    }
    let mut s = seen(&g);
    s.connect.accounts.push(form);
    s.connect.onboarded.push(false);
    let i = s.connect.accounts.len() - 1;
    Ok(Json(s.connect.account_json(i)).into_response())
}

async fn connect_get_account(
    State((g, _)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, StripeRefusal> {
    stripe_authorised(&h)?;
    let s = seen(&g);
    Ok(
        match Connect::account_index(&id).filter(|i| *i < s.connect.accounts.len()) {
            Some(i) => Json(s.connect.account_json(i)).into_response(),
            None => stripe_error(
                StatusCode::NOT_FOUND,
                "resource_missing",
                &format!("No such account: '{id}'"),
            ),
        },
    )
}

async fn connect_account_link(
    State((g, addr)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    body: String,
) -> Result<Response, StripeRefusal> {
    let form = stripe_form(&h, &body)?;
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mut s = seen(&g);
    let known =
        Connect::account_index(&get("account")).is_some_and(|i| i < s.connect.accounts.len());
    if !known {
        return Ok(stripe_error(
            StatusCode::BAD_REQUEST,
            "resource_missing",
            "No such account",
        ));
    }
    if get("type") != "account_onboarding"
        || get("refresh_url").is_empty()
        || get("return_url").is_empty()
    {
        return Ok(stripe_error(
            StatusCode::BAD_REQUEST,
            "parameter_missing",
            "account, type=account_onboarding, refresh_url and return_url are required",
        ));
    }
    s.connect
        .links
        .push((get("account"), get("refresh_url"), get("return_url"), false));
    let n = s.connect.links.len();
    let created = now_secs();
    Ok(Json(json!({"object": "account_link", "created": created, "expires_at": created + 300, "url": format!("http://{addr}/connect/onboard/{n}")})).into_response())
}

/// The `n`th (from 1) account link, if unused.
fn open_link(g: &Gateways, n: usize) -> Result<(String, String, String), Response> {
    let s = seen(g);
    match n.checked_sub(1).and_then(|i| s.connect.links.get(i)) {
        None => Err((StatusCode::NOT_FOUND, "no such account link").into_response()),
        Some((_, refresh, _, true)) => Err(Redirect::to(refresh).into_response()),
        Some((account, refresh, back, false)) => {
            Ok((account.clone(), refresh.clone(), back.clone()))
        }
    }
}

async fn connect_onboard_page(
    State((g, _)): State<(Gateways, SocketAddr)>,
    Path(n): Path<usize>,
) -> Response {
    let (account, _, _) = match open_link(&g, n) {
        Ok(l) => l,
        Err(r) => return r,
    };
    page(
        "Stripe Express onboarding (test)",
        &format!(
            "<p>Account <code>{}</code></p><p>Business type: individual · Bank account: 000123456789 (test)</p>\
             <form method=post action='/connect/onboard/{n}'><button>Agree and submit</button></form>",
            esc(&account)
        ),
    )
    .into_response()
}

async fn connect_onboard_submit(
    State((g, _)): State<(Gateways, SocketAddr)>,
    Path(n): Path<usize>,
) -> Response {
    let (account, _, back) = match open_link(&g, n) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let (object, node) = {
        let mut s = seen(&g);
        s.connect.links[n - 1].3 = true;
        let Some(i) = Connect::account_index(&account) else {
            return (StatusCode::NOT_FOUND, "no such account").into_response();
        };
        s.connect.onboarded[i] = true;
        (s.connect.account_json(i), s.node.clone())
    };
    let payload = json!({"id": format!("evt_account_updated_{n}"), "object": "event", "api_version": "2024-06-20",
        "created": now_secs(), "type": "account.updated", "account": account, "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "data": {"object": object}})
    .to_string();
    if let Err(e) = deliver_connect_event(&node, payload).await {
        return (
            StatusCode::BAD_GATEWAY,
            format!("webhook delivery failed: {e}"),
        )
            .into_response();
    }
    Redirect::to(&back).into_response()
}

/// Signs a Connect event with Stripe's library and delivers it to the node's Connect endpoint.
pub async fn deliver_connect_event(node: &str, payload: String) -> Result<(), String> {
    let req = json!({"stripe": [{"payload": payload, "secret": STRIPE_CONNECT_WHSEC, "timestamp": now_secs()}]});
    let headers = tokio::task::spawn_blocking(move || gateway_signatures(&req))
        .await
        .map_err(|e| e.to_string())?;
    let r = reqwest::Client::new()
        .post(format!("{node}/api/payments/stripe/connect/webhook"))
        .header("content-type", "application/json")
        .header(
            "stripe-signature",
            headers["stripe"][0].as_str().unwrap_or_default(),
        )
        .body(payload)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("the node answered {}", r.status()))
    }
}

async fn connect_transfer(
    State((g, _)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    body: String,
) -> Result<Response, StripeRefusal> {
    let form = stripe_form(&h, &body)?;
    let key = h
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut s = seen(&g);
    s.connect.transfer_requests += 1;
    let transfer_json = |i: usize, f: &HashMap<String, String>| {
        json!({"id": format!("tr_test{}", i + 1), "object": "transfer",
            "amount": f.get("amount").and_then(|a| a.parse::<i64>().ok()), "amount_reversed": 0,
            "currency": f.get("currency"), "destination": f.get("destination"),
            "transfer_group": f.get("transfer_group"), "description": f.get("description"),
            "metadata": {"payout": f.get("metadata[payout]")}, "reversed": false, "livemode": false})
    };
    // Stripe answers a repeated Idempotency-Key with the first result; other parameters under
    // the same key are refused.
    if let Some(k) = &key {
        if let Some((i, (f, _))) = s
            .connect
            .transfers
            .iter()
            .enumerate()
            .find(|(_, (_, fk))| fk.as_ref() == Some(k))
        {
            if *f != form {
                return Ok(stripe_error(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                ));
            }
            return Ok(Json(transfer_json(i, f)).into_response());
        }
    }
    if s.connect.fail_transfers > 0 {
        s.connect.fail_transfers -= 1;
        return Err(StripeRefusal::Outage);
    }
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let amount_ok = get("amount").parse::<i64>().is_ok_and(|a| a > 0);
    let currency_ok =
        get("currency").len() == 3 && get("currency") == get("currency").to_ascii_lowercase();
    if !amount_ok || !currency_ok {
        return Ok(stripe_error(
            StatusCode::BAD_REQUEST,
            "parameter_invalid",
            "amount must be a positive integer and currency a lower-case ISO code",
        ));
    }
    let ready = Connect::account_index(&get("destination"))
        .and_then(|i| s.connect.onboarded.get(i).copied());
    match ready {
        None => {
            return Ok(stripe_error(
                StatusCode::BAD_REQUEST,
                "resource_missing",
                "No such destination",
            ))
        }
        Some(false) => {
            return Ok(stripe_error(
                StatusCode::BAD_REQUEST,
                "insufficient_capabilities_for_transfer",
                "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
            ))
        }
        Some(true) => {}
    }
    s.connect.transfers.push((form.clone(), key));
    let i = s.connect.transfers.len() - 1;
    Ok(Json(transfer_json(i, &form)).into_response())
}

/// `POST /v1/refunds`: refunds `amount` of PaymentIntent `payment_intent` as Stripe does (at most
/// what is left of the charge; a repeated `Idempotency-Key` answers the first refund), then
/// sends the node the `charge.refunded` event Stripe sends.
async fn stripe_create_refund(
    State((g, _)): State<(Gateways, SocketAddr)>,
    h: HeaderMap,
    body: String,
) -> Result<Response, StripeRefusal> {
    let form = stripe_form(&h, &body)?;
    let key = h
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let pi = form.get("payment_intent").cloned().unwrap_or_default();
    let amount: i64 = form.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
    let refund_json = |id: &str, amount: i64, pi: &str| json!({"id": id, "object": "refund", "amount": amount, "payment_intent": pi, "status": "succeeded", "currency": "usd"});
    let (id, node) = {
        let mut s = seen(&g);
        if s.fail_refunds > 0 {
            s.fail_refunds -= 1;
            return Err(StripeRefusal::Outage);
        }
        if let Some((id, p, a, _)) = s.refunds.iter().find(|r| !key.is_empty() && r.3 == key) {
            return Ok(Json(refund_json(id, *a, p)).into_response());
        }
        let Some(c) = s.charges.iter().find(|c| c.payment_intent == pi) else {
            return Ok((StatusCode::BAD_REQUEST, Json(json!({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": format!("No such payment_intent: '{pi}'")}}))).into_response());
        };
        if amount <= 0 || c.refunded + amount > c.amount {
            return Ok((StatusCode::BAD_REQUEST, Json(json!({"error": {"type": "invalid_request_error", "code": "amount_too_large", "message": format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({})", c.amount - c.refunded)}}))).into_response());
        }
        let id = format!("re_test_{}", s.refunds.len() + 1);
        s.refunds.push((id.clone(), pi.clone(), amount, key));
        (id, s.node.clone())
    };
    let event = stripe_refund_event(&g, &pi, amount);
    tokio::spawn(async move {
        let _ = deliver_to_node(&node, vec![event]).await;
    });
    Ok(Json(refund_json(&id, amount, &pi)).into_response())
}

/// The Connect stand-in's routes (merged into [`start`]'s router).
fn connect_routes(g: Gateways, addr: SocketAddr) -> Router {
    Router::new()
        .route("/v1/accounts", post(connect_create_account))
        .route("/v1/accounts/{id}", get(connect_get_account))
        .route("/v1/account_links", post(connect_account_link))
        .route(
            "/connect/onboard/{n}",
            get(connect_onboard_page).post(connect_onboard_submit),
        )
        .route("/v1/transfers", post(connect_transfer))
        .with_state((g, addr))
}

/// [`options`] with the Connect webhook's signing secret.
pub fn connect_options(addr: SocketAddr) -> Options {
    let mut opts = options(addr);
    opts.extra.push((
        "stripe_connect_webhook_secret",
        STRIPE_CONNECT_WHSEC.to_string(),
    ));
    opts
}
