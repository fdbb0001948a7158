//! Stripe: webhook signatures (`Stripe-Signature: t=…,v1=…[,v1=…]`), events, and the form bodies
//! of Checkout Sessions and Customer Portal sessions.
//!
//! A webhook is genuine when one of the header's `v1` values is the HMAC-SHA256, keyed with the
//! endpoint's signing secret (`whsec_…`, the whole string), of `"{t}.{raw body}"`, and `t` is
//! within the tolerance of now (Stripe's libraries default to 300 s). Other schemes (`v0`) are
//! ignored, as Stripe documents.

use crate::{hex, hex_matches, hmac_sha256, parse_json, ParseError, SignatureError};
use serde_json::Value;

/// Stripe's default tolerance for a signature's age, in seconds.
pub const TOLERANCE_SECS: i64 = 300;
/// Longest header looked at.
const MAX_HEADER: usize = 4096;

/// Checks a `Stripe-Signature` header against the raw body; the signed timestamp if genuine.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secret: &str,
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    if header.len() > MAX_HEADER {
        return Err(SignatureError::Malformed("header too long"));
    }
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for item in header.split(',') {
        let Some((k, v)) = item.trim().split_once('=') else {
            return Err(SignatureError::Malformed("items are key=value"));
        };
        match k {
            "t" => {
                timestamp = Some(
                    v.parse::<i64>()
                        .map_err(|_| SignatureError::Malformed("t is not a number"))?,
                )
            }
            "v1" => candidates.push(v),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed("no timestamp"))?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed("no v1 signature"));
    }
    let expected = hmac_sha256(
        secret.as_bytes(),
        &[t.to_string().as_bytes(), b".", payload],
    );
    // Every candidate is compared (no early exit on a match position).
    let matched = candidates
        .iter()
        .fold(false, |any, c| any | hex_matches(&expected, c));
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let age = now_secs.saturating_sub(t);
    if age.abs() > tolerance_secs {
        return Err(SignatureError::Stale(age));
    }
    Ok(t)
}

/// A `Stripe-Signature` header for `payload` at `t` (for local test servers and tools; the
/// server only verifies).
pub fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    let mac = hmac_sha256(
        secret.as_bytes(),
        &[t.to_string().as_bytes(), b".", payload],
    );
    format!("t={t},v1={}", hex(&mac))
}

/// A Stripe event, as far as billing cares.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `evt_…`: what makes a redelivery recognisable.
    pub id: String,
    /// `checkout.session.completed`, `invoice.paid`, …
    pub kind: String,
    /// When Stripe created it (Unix seconds): orders events about the same object.
    pub created: i64,
    /// `data.object`.
    pub object: Value,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v[key]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .map(str::to_owned)
}

/// Parses an event (after its signature was checked).
pub fn parse_event(payload: &[u8]) -> Result<Event, ParseError> {
    let v = parse_json(payload)?;
    let id = text(&v, "id").ok_or_else(|| ParseError::Malformed("event without id".into()))?;
    let kind =
        text(&v, "type").ok_or_else(|| ParseError::Malformed("event without type".into()))?;
    if v["object"] != "event" {
        return Err(ParseError::Malformed("not an event object".into()));
    }
    Ok(Event {
        id,
        kind,
        created: v["created"].as_i64().unwrap_or(0),
        object: v["data"]["object"].clone(),
    })
}

/// What a Checkout Session that completed says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutCompleted {
    /// `cs_…`.
    pub session_id: String,
    /// `cus_…`.
    pub customer: Option<String>,
    /// `sub_…` (subscription mode).
    pub subscription: Option<String>,
    /// What ferrocast put there: its order's UUID.
    pub client_reference_id: Option<String>,
    /// Minor units charged, and the currency (lower case from Stripe, upper case here).
    pub amount_total: i64,
    /// ISO code, upper case.
    pub currency: String,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    /// `payment` (a one-time purchase) or `subscription`.
    pub mode: String,
    /// `pi_…`: the payment of a session in payment mode (refunds and disputes name it).
    pub payment_intent: Option<String>,
    /// `in_…`: the first invoice of a session in subscription mode.
    pub invoice: Option<String>,
    /// `metadata.purchase`: the ferrocast purchase (tip, membership, pay-per-view) it pays.
    pub purchase: Option<String>,
    /// `metadata.escrow`: the payment into a campaign's escrow it makes.
    pub escrow: Option<String>,
}

/// Reads `checkout.session.completed`'s object.
pub fn checkout_completed(o: &Value) -> Result<CheckoutCompleted, ParseError> {
    Ok(CheckoutCompleted {
        session_id: text(o, "id")
            .ok_or_else(|| ParseError::Malformed("session without id".into()))?,
        customer: text(o, "customer"),
        subscription: text(o, "subscription"),
        client_reference_id: text(o, "client_reference_id"),
        amount_total: o["amount_total"].as_i64().unwrap_or(0),
        currency: text(o, "currency").unwrap_or_default().to_ascii_uppercase(),
        payment_status: text(o, "payment_status").unwrap_or_default(),
        mode: text(o, "mode").unwrap_or_default(),
        payment_intent: id_of(&o["payment_intent"]),
        invoice: id_of(&o["invoice"]),
        purchase: text(&o["metadata"], "purchase"),
        escrow: text(&o["metadata"], "escrow"),
    })
}

/// The id of a field that Stripe sends as an id or, when expanded, as the object.
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(_) => v.as_str(),
        Value::Object(_) => v["id"].as_str(),
        _ => None,
    }
    .filter(|s| !s.is_empty() && s.len() <= 255)
    .map(str::to_owned)
}

/// What a subscription event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `sub_…`.
    pub id: String,
    /// `cus_…`.
    pub customer: Option<String>,
    /// Stripe's status: `trialing`, `active`, `past_due`, `canceled`, `unpaid`, `incomplete`,
    /// `incomplete_expired`, `paused`.
    pub status: String,
    /// Current period (Unix seconds); from the first item on API versions that moved it there.
    pub current_period_start: Option<i64>,
    /// End of the current period.
    pub current_period_end: Option<i64>,
    /// Whether it ends at the period's end.
    pub cancel_at_period_end: bool,
    /// `metadata.order`, the ferrocast order that created it.
    pub order: Option<String>,
    /// `metadata.purchase`, the ferrocast membership purchase that created it.
    pub purchase: Option<String>,
}

/// Reads a `customer.subscription.*` event's object.
pub fn subscription(o: &Value) -> Result<Subscription, ParseError> {
    let item = &o["items"]["data"][0];
    let period = |k: &str| o[k].as_i64().or_else(|| item[k].as_i64());
    Ok(Subscription {
        id: text(o, "id").ok_or_else(|| ParseError::Malformed("subscription without id".into()))?,
        customer: text(o, "customer"),
        status: text(o, "status").unwrap_or_default(),
        current_period_start: period("current_period_start"),
        current_period_end: period("current_period_end"),
        cancel_at_period_end: o["cancel_at_period_end"].as_bool().unwrap_or(false),
        order: text(&o["metadata"], "order"),
        purchase: text(&o["metadata"], "purchase"),
    })
}

/// What an invoice event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// `in_…`.
    pub id: String,
    /// `cus_…`.
    pub customer: Option<String>,
    /// The subscription it bills, where there is one.
    pub subscription: Option<String>,
    /// Minor units paid.
    pub amount_paid: i64,
    /// Minor units due.
    pub amount_due: i64,
    /// ISO code, upper case.
    pub currency: String,
    /// The period the invoice's subscription line covers (Unix seconds), if given.
    pub period_end: Option<i64>,
    /// `metadata.order` of the subscription it bills, as Stripe copies it onto the invoice
    /// (`parent.subscription_details.metadata`; `subscription_details.metadata` before API
    /// version 2025-03-31; invoices created from June 2023 on): the ferrocast order behind it.
    pub order: Option<String>,
    /// `metadata.purchase` of the subscription it bills, where the order's is: the ferrocast
    /// membership purchase behind it.
    pub purchase: Option<String>,
    /// `pi_…` that paid it: the invoice's `payment_intent` before API version 2025-03-31, else
    /// the first of its `payments` where they are included.
    pub payment_intent: Option<String>,
    /// `subscription_create` (the first), `subscription_cycle` (a renewal), …
    pub billing_reason: Option<String>,
}

/// Reads an `invoice.*` event's object (the subscription id where either API version puts it).
pub fn invoice(o: &Value) -> Result<Invoice, ParseError> {
    let subscription = text(o, "subscription")
        .or_else(|| text(&o["parent"]["subscription_details"], "subscription"));
    let line_end = o["lines"]["data"][0]["period"]["end"].as_i64();
    let metadata = |key: &str| {
        text(&o["parent"]["subscription_details"]["metadata"], key)
            .or_else(|| text(&o["subscription_details"]["metadata"], key))
    };
    let payment_intent = id_of(&o["payment_intent"])
        .or_else(|| id_of(&o["payments"]["data"][0]["payment"]["payment_intent"]));
    Ok(Invoice {
        id: text(o, "id").ok_or_else(|| ParseError::Malformed("invoice without id".into()))?,
        customer: text(o, "customer"),
        subscription,
        amount_paid: o["amount_paid"].as_i64().unwrap_or(0),
        amount_due: o["amount_due"].as_i64().unwrap_or(0),
        currency: text(o, "currency").unwrap_or_default().to_ascii_uppercase(),
        period_end: line_end.or_else(|| o["period_end"].as_i64()),
        order: metadata("order"),
        purchase: metadata("purchase"),
        payment_intent,
        billing_reason: text(o, "billing_reason"),
    })
}

/// A price to charge through Checkout.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    /// Minor units per period.
    pub unit_amount: i64,
    /// ISO code.
    pub currency: &'a str,
    /// `month` or `year`.
    pub interval: &'a str,
    /// What the customer sees ("ferrocast Pro, monthly").
    pub product_name: &'a str,
    /// ferrocast's order UUID (comes back as `client_reference_id` and in metadata).
    pub order: &'a str,
    /// An existing customer, or…
    pub customer: Option<&'a str>,
    /// …the email to create one with.
    pub customer_email: Option<&'a str>,
    /// Where Stripe sends the user after paying.
    pub success_url: &'a str,
    /// Where Stripe sends the user who gives up.
    pub cancel_url: &'a str,
}

/// The form body of `POST /v1/checkout/sessions` in subscription mode.
pub fn checkout_form(r: &CheckoutRequest<'_>) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = [
        ("mode", "subscription".to_owned()),
        ("line_items[0][quantity]", "1".to_owned()),
        (
            "line_items[0][price_data][currency]",
            r.currency.to_ascii_lowercase(),
        ),
        (
            "line_items[0][price_data][unit_amount]",
            r.unit_amount.to_string(),
        ),
        (
            "line_items[0][price_data][recurring][interval]",
            r.interval.to_owned(),
        ),
        (
            "line_items[0][price_data][product_data][name]",
            r.product_name.to_owned(),
        ),
        ("client_reference_id", r.order.to_owned()),
        ("metadata[order]", r.order.to_owned()),
        ("subscription_data[metadata][order]", r.order.to_owned()),
        ("success_url", r.success_url.to_owned()),
        ("cancel_url", r.cancel_url.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(c) = r.customer {
        f.push(("customer".into(), c.to_owned()));
    } else if let Some(e) = r.customer_email {
        f.push(("customer_email".into(), e.to_owned()));
    }
    f
}

/// What a creator's Checkout sells: one payment (a tip, a pay-per-view), or a subscription (a
/// membership, billed every `interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseMode<'a> {
    /// `mode=payment`: charged once.
    Payment,
    /// `mode=subscription`: charged every `interval` (`month`) until canceled.
    Subscription {
        /// `month` or `year`.
        interval: &'a str,
    },
}

/// A viewer's purchase from a creator, to pay through Checkout.
#[derive(Debug, Clone)]
pub struct PurchaseCheckout<'a> {
    /// One payment or a subscription.
    pub mode: PurchaseMode<'a>,
    /// Minor units (per period for a subscription).
    pub unit_amount: i64,
    /// ISO code.
    pub currency: &'a str,
    /// What the buyer sees ("Tip for Ada", "Gold membership of Ada").
    pub product_name: &'a str,
    /// ferrocast's purchase UUID: comes back as `client_reference_id` and as `metadata.purchase`
    /// on the session, and on the PaymentIntent or subscription it creates (so that refunds,
    /// disputes and renewals name it too).
    pub purchase: &'a str,
    /// The buyer's email, to prefill Checkout.
    pub customer_email: Option<&'a str>,
    /// Where Stripe sends the buyer after paying.
    pub success_url: &'a str,
    /// Where Stripe sends the buyer who gives up.
    pub cancel_url: &'a str,
}

/// The form body of `POST /v1/checkout/sessions` for a purchase: `mode=payment` with
/// `payment_intent_data[metadata][purchase]`, or `mode=subscription` with a recurring price and
/// `subscription_data[metadata][purchase]`.
pub fn purchase_checkout_form(r: &PurchaseCheckout<'_>) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![
        ("line_items[0][quantity]".into(), "1".into()),
        (
            "line_items[0][price_data][currency]".into(),
            r.currency.to_ascii_lowercase(),
        ),
        (
            "line_items[0][price_data][unit_amount]".into(),
            r.unit_amount.to_string(),
        ),
        (
            "line_items[0][price_data][product_data][name]".into(),
            r.product_name.to_owned(),
        ),
        ("client_reference_id".into(), r.purchase.to_owned()),
        ("metadata[purchase]".into(), r.purchase.to_owned()),
        ("success_url".into(), r.success_url.to_owned()),
        ("cancel_url".into(), r.cancel_url.to_owned()),
    ];
    match r.mode {
        PurchaseMode::Payment => {
            f.insert(0, ("mode".into(), "payment".into()));
            f.push((
                "payment_intent_data[metadata][purchase]".into(),
                r.purchase.to_owned(),
            ));
        }
        PurchaseMode::Subscription { interval } => {
            f.insert(0, ("mode".into(), "subscription".into()));
            f.push((
                "line_items[0][price_data][recurring][interval]".into(),
                interval.to_owned(),
            ));
            f.push((
                "subscription_data[metadata][purchase]".into(),
                r.purchase.to_owned(),
            ));
        }
    }
    if let Some(e) = r.customer_email {
        f.push(("customer_email".into(), e.to_owned()));
    }
    f
}

/// The form body of `POST /v1/checkout/sessions` for a brand's payment into a campaign's
/// escrow: as [`purchase_checkout_form`] in `mode=payment`, the payment's id travelling as
/// `metadata.escrow` (on the session and its PaymentIntent) instead of `metadata.purchase`.
pub fn escrow_checkout_form(r: &PurchaseCheckout<'_>) -> Vec<(String, String)> {
    purchase_checkout_form(&PurchaseCheckout {
        mode: PurchaseMode::Payment,
        ..r.clone()
    })
    .into_iter()
    .map(|(k, v)| match k.strip_suffix("[metadata][purchase]") {
        Some(head) => (format!("{head}[metadata][escrow]"), v),
        None if k == "metadata[purchase]" => ("metadata[escrow]".into(), v),
        None => (k, v),
    })
    .collect()
}

/// The form body of `POST /v1/refunds`: `amount` (minor units) of PaymentIntent
/// `payment_intent`, with `metadata[reference]` naming what refunds it.
pub fn refund_form(payment_intent: &str, amount: i64, reference: &str) -> Vec<(String, String)> {
    vec![
        ("payment_intent".into(), payment_intent.to_owned()),
        ("amount".into(), amount.to_string()),
        ("metadata[reference]".into(), reference.to_owned()),
    ]
}

/// The refund's id (`re_…`) and status in Stripe's reply to `POST /v1/refunds`.
pub fn refund_reply(payload: &[u8]) -> Result<(String, String), ParseError> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|e| ParseError::Malformed(e.to_string()))?;
    let id = text(&v, "id").ok_or_else(|| ParseError::Malformed("refund without id".into()))?;
    Ok((id, text(&v, "status").unwrap_or_default()))
}

/// What a `charge.refunded` event says: the charge, with how much of it has been refunded so far
/// (Stripe sends one such event per refund, each with the running total).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// `ch_…`.
    pub id: String,
    /// `pi_…` it belongs to.
    pub payment_intent: Option<String>,
    /// `in_…` it paid (before API version 2025-03-31; later versions leave it out).
    pub invoice: Option<String>,
    /// Minor units charged.
    pub amount: i64,
    /// Minor units refunded so far, all refunds together.
    pub amount_refunded: i64,
    /// ISO code, upper case.
    pub currency: String,
    /// Whether it is refunded in full.
    pub refunded: bool,
    /// `metadata.purchase`, where the charge carries it.
    pub purchase: Option<String>,
}

/// Reads a `charge.*` event's object.
pub fn charge(o: &Value) -> Result<Charge, ParseError> {
    let amount = o["amount"].as_i64().unwrap_or(0);
    let refunded_so_far = o["amount_refunded"].as_i64().unwrap_or(0);
    if amount < 0 || refunded_so_far < 0 || refunded_so_far > amount {
        return Err(ParseError::Malformed(
            "charge with a refunded amount outside 0..=amount".into(),
        ));
    }
    Ok(Charge {
        id: text(o, "id").ok_or_else(|| ParseError::Malformed("charge without id".into()))?,
        payment_intent: id_of(&o["payment_intent"]),
        invoice: id_of(&o["invoice"]),
        amount,
        amount_refunded: refunded_so_far,
        currency: text(o, "currency").unwrap_or_default().to_ascii_uppercase(),
        refunded: o["refunded"].as_bool().unwrap_or(false),
        purchase: text(&o["metadata"], "purchase"),
    })
}

/// What a `charge.dispute.*` event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    /// `du_…`/`dp_…`.
    pub id: String,
    /// `ch_…` disputed.
    pub charge: Option<String>,
    /// `pi_…` disputed.
    pub payment_intent: Option<String>,
    /// Minor units disputed (taken back from the merchant while it is open).
    pub amount: i64,
    /// ISO code, upper case.
    pub currency: String,
    /// `warning_needs_response`, `needs_response`, `under_review`, `won`, `lost`, …
    pub status: String,
    /// The buyer's bank's reason (`fraudulent`, `product_not_received`, …).
    pub reason: String,
}

/// Reads a `charge.dispute.*` event's object.
pub fn dispute(o: &Value) -> Result<Dispute, ParseError> {
    let amount = o["amount"].as_i64().unwrap_or(0);
    if amount < 0 {
        return Err(ParseError::Malformed(
            "dispute with a negative amount".into(),
        ));
    }
    Ok(Dispute {
        id: text(o, "id").ok_or_else(|| ParseError::Malformed("dispute without id".into()))?,
        charge: id_of(&o["charge"]),
        payment_intent: id_of(&o["payment_intent"]),
        amount,
        currency: text(o, "currency").unwrap_or_default().to_ascii_uppercase(),
        status: text(o, "status").unwrap_or_default(),
        reason: text(o, "reason").unwrap_or_default(),
    })
}

/// The `id` and `url` of a created Checkout or portal session.
pub fn session_reply(payload: &[u8]) -> Result<(String, String), ParseError> {
    let v = parse_json(payload)?;
    match (text(&v, "id"), v["url"].as_str()) {
        (Some(id), Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {
            Ok((id, url.to_owned()))
        }
        _ => Err(ParseError::Malformed(
            "session reply without id and url".into(),
        )),
    }
}

/// Stripe's error message (`{"error":{"message"}}`), for logs and the user.
pub fn error_message(payload: &[u8]) -> String {
    parse_json(payload)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .map(|m| m.chars().take(300).collect())
        })
        .unwrap_or_else(|| "Stripe refused the request".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn a_signature_from_stripes_documented_scheme_verifies() {
        // HMAC-SHA256("whsec_test_secret", "1700000000.{\"id\":\"evt_1\"}"), computed
        // independently with Python's hmac module, as Stripe's docs describe.
        let body = br#"{"id":"evt_1"}"#;
        let header =
            "t=1700000000,v1=248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a";
        assert_eq!(sign(body, SECRET, 1_700_000_000), header);
        assert_eq!(
            verify(Some(header), body, SECRET, 1_700_000_100, TOLERANCE_SECS),
            Ok(1_700_000_000)
        );
        // Several v1 values (a secret being rolled) and a v0 are fine.
        let mixed = format!(
            "t=1700000000,v1={},{},v0=abc",
            "00".repeat(32),
            &header[13..]
        );
        assert!(verify(Some(&mixed), body, SECRET, 1_700_000_000, 300).is_ok());
    }

    #[test]
    fn tampering_staleness_and_malformed_headers_are_refused() {
        let body = br#"{"id":"evt_1","amount":100}"#;
        let header = sign(body, SECRET, 1_000);
        let tampered = br#"{"id":"evt_1","amount":999}"#;
        assert_eq!(
            verify(Some(&header), tampered, SECRET, 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), body, "whsec_other", 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), body, SECRET, 1_301, 300),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            verify(None, body, SECRET, 1_000, 300),
            Err(SignatureError::Missing)
        );
        for bad in ["", "t=1", "v1=ab", "t=x,v1=ab", "garbage"] {
            assert!(
                verify(Some(bad), body, SECRET, 1_000, 300).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn events_are_read_in_either_api_version() {
        let e = parse_event(br#"{"id":"evt_9","object":"event","type":"invoice.paid","created":1700000000,"data":{"object":{"id":"in_1","object":"invoice","customer":"cus_1","amount_paid":999,"amount_due":999,"currency":"usd","parent":{"subscription_details":{"subscription":"sub_1"}},"lines":{"data":[{"period":{"start":1700000000,"end":1702592000}}]}}}}"#).expect("event");
        assert_eq!(
            (e.id.as_str(), e.kind.as_str(), e.created),
            ("evt_9", "invoice.paid", 1_700_000_000)
        );
        let i = invoice(&e.object).expect("invoice");
        assert_eq!(i.subscription.as_deref(), Some("sub_1"));
        assert_eq!(
            (i.amount_paid, i.currency.as_str(), i.period_end),
            (999, "USD", Some(1_702_592_000))
        );
        assert_eq!(i.order, None, "no subscription metadata");
        let basil = invoice(&serde_json::json!({"id":"in_2","parent":{"subscription_details":{"subscription":"sub_1","metadata":{"order":"o-1"}}}})).expect("invoice");
        let older = invoice(&serde_json::json!({"id":"in_3","subscription":"sub_1","subscription_details":{"metadata":{"order":"o-1"}}})).expect("invoice");
        assert_eq!(
            (basil.order.as_deref(), older.order.as_deref()),
            (Some("o-1"), Some("o-1"))
        );
        let s = subscription(&serde_json::json!({"id":"sub_1","customer":"cus_1","status":"active","cancel_at_period_end":true,"metadata":{"order":"o-1"},"items":{"data":[{"current_period_start":10,"current_period_end":20}]}})).expect("sub");
        assert_eq!(
            (
                s.current_period_start,
                s.current_period_end,
                s.cancel_at_period_end
            ),
            (Some(10), Some(20), true)
        );
        assert_eq!(s.order.as_deref(), Some("o-1"));
        assert!(
            parse_event(br#"{"id":"x","type":"y"}"#).is_err(),
            "not an event object"
        );
    }

    #[test]
    fn checkout_form_carries_the_order() {
        let f = checkout_form(&CheckoutRequest {
            unit_amount: 999,
            currency: "USD",
            interval: "month",
            product_name: "Pro",
            order: "ord-1",
            customer: None,
            customer_email: Some("a@example.com"),
            success_url: "https://x/ok",
            cancel_url: "https://x/no",
        });
        let get = |k: &str| f.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("mode"), Some("subscription"));
        assert_eq!(get("line_items[0][price_data][currency]"), Some("usd"));
        assert_eq!(get("client_reference_id"), Some("ord-1"));
        assert_eq!(get("subscription_data[metadata][order]"), Some("ord-1"));
        assert_eq!(get("customer_email"), Some("a@example.com"));
    }

    #[test]
    fn purchase_checkouts_in_payment_and_subscription_mode() {
        let base = PurchaseCheckout {
            mode: PurchaseMode::Payment,
            unit_amount: 500,
            currency: "USD",
            product_name: "Tip for Ada",
            purchase: "p-1",
            customer_email: Some("v@example.com"),
            success_url: "https://x/ok",
            cancel_url: "https://x/no",
        };
        let get = |f: &[(String, String)], k: &str| {
            f.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        };
        let once = purchase_checkout_form(&base);
        assert_eq!(get(&once, "mode").as_deref(), Some("payment"));
        assert_eq!(get(&once, "client_reference_id").as_deref(), Some("p-1"));
        assert_eq!(get(&once, "metadata[purchase]").as_deref(), Some("p-1"));
        assert_eq!(
            get(&once, "payment_intent_data[metadata][purchase]").as_deref(),
            Some("p-1")
        );
        assert_eq!(
            get(&once, "line_items[0][price_data][recurring][interval]"),
            None
        );
        assert_eq!(get(&once, "subscription_data[metadata][purchase]"), None);
        let monthly = purchase_checkout_form(&PurchaseCheckout {
            mode: PurchaseMode::Subscription { interval: "month" },
            ..base
        });
        assert_eq!(get(&monthly, "mode").as_deref(), Some("subscription"));
        assert_eq!(
            get(&monthly, "line_items[0][price_data][recurring][interval]").as_deref(),
            Some("month")
        );
        assert_eq!(
            get(&monthly, "subscription_data[metadata][purchase]").as_deref(),
            Some("p-1")
        );
        assert_eq!(
            get(&monthly, "payment_intent_data[metadata][purchase]"),
            None
        );
    }

    #[test]
    fn sessions_refunds_and_disputes_name_the_payment() {
        let paid = checkout_completed(&serde_json::json!({"id":"cs_1","object":"checkout.session","mode":"payment","client_reference_id":"p-1","payment_intent":"pi_1","amount_total":500,"currency":"usd","payment_status":"paid","metadata":{"purchase":"p-1"}})).expect("session");
        assert_eq!(
            (
                paid.mode.as_str(),
                paid.payment_intent.as_deref(),
                paid.purchase.as_deref(),
                paid.invoice
            ),
            ("payment", Some("pi_1"), Some("p-1"), None)
        );
        let sub = checkout_completed(&serde_json::json!({"id":"cs_2","mode":"subscription","subscription":"sub_1","invoice":{"id":"in_1","object":"invoice"},"payment_intent":null})).expect("session");
        assert_eq!(
            (sub.invoice.as_deref(), sub.payment_intent),
            (Some("in_1"), None)
        );

        let c = charge(&serde_json::json!({"id":"ch_1","object":"charge","payment_intent":"pi_1","amount":500,"amount_refunded":200,"currency":"usd","refunded":false})).expect("charge");
        assert_eq!(
            (
                c.payment_intent.as_deref(),
                c.amount,
                c.amount_refunded,
                c.refunded,
                c.currency.as_str()
            ),
            (Some("pi_1"), 500, 200, false, "USD")
        );
        assert!(
            charge(&serde_json::json!({"id":"ch_2","amount":500,"amount_refunded":501})).is_err()
        );
        assert!(charge(&serde_json::json!({"amount":5})).is_err());

        let d = dispute(&serde_json::json!({"id":"du_1","object":"dispute","charge":"ch_1","payment_intent":"pi_1","amount":500,"currency":"usd","status":"needs_response","reason":"fraudulent"})).expect("dispute");
        assert_eq!(
            (
                d.charge.as_deref(),
                d.payment_intent.as_deref(),
                d.amount,
                d.status.as_str()
            ),
            (Some("ch_1"), Some("pi_1"), 500, "needs_response")
        );

        let renewal = invoice(&serde_json::json!({"id":"in_2","billing_reason":"subscription_cycle","payment_intent":"pi_9","parent":{"subscription_details":{"subscription":"sub_1","metadata":{"purchase":"p-2"}}}})).expect("invoice");
        assert_eq!(
            (
                renewal.purchase.as_deref(),
                renewal.payment_intent.as_deref(),
                renewal.billing_reason.as_deref(),
                renewal.order
            ),
            (Some("p-2"), Some("pi_9"), Some("subscription_cycle"), None)
        );
        let basil = invoice(&serde_json::json!({"id":"in_3","payments":{"data":[{"payment":{"type":"payment_intent","payment_intent":"pi_10"}}]}})).expect("invoice");
        assert_eq!(basil.payment_intent.as_deref(), Some("pi_10"));
        let s = subscription(
            &serde_json::json!({"id":"sub_1","status":"canceled","metadata":{"purchase":"p-2"}}),
        )
        .expect("sub");
        assert_eq!((s.purchase.as_deref(), s.order), (Some("p-2"), None));
    }

    proptest! {
        #[test]
        fn arbitrary_headers_and_bodies_never_verify_or_panic(header in ".{0,200}", body in proptest::collection::vec(any::<u8>(), 0..256)) {
            prop_assert!(verify(Some(&header), &body, SECRET, 0, 300).is_err());
            if let Ok(e) = parse_event(&body) {
                let _ = (checkout_completed(&e.object), invoice(&e.object), charge(&e.object), dispute(&e.object));
            }
        }

        #[test]
        fn any_changed_byte_breaks_the_signature(body in proptest::collection::vec(any::<u8>(), 1..256), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let header = sign(&body, SECRET, 5_000);
            prop_assert!(verify(Some(&header), &body, SECRET, 5_000, 300).is_ok());
            let mut changed = body.clone();
            let i = at.index(changed.len());
            changed[i] ^= flip;
            prop_assert_eq!(verify(Some(&header), &changed, SECRET, 5_000, 300), Err(SignatureError::Mismatch));
        }
    }
}
