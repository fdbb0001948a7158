//! Razorpay: orders (`POST /v1/orders`, HTTP Basic with the key id and secret), the Checkout
//! payment signature, and webhooks.
//!
//! After Checkout, the payment is genuine when `razorpay_signature` is the hex HMAC-SHA256,
//! keyed with the key secret, of `"{order_id}|{razorpay_payment_id}"`. A webhook is genuine
//! when `X-Razorpay-Signature` is the hex HMAC-SHA256, keyed with the webhook secret, of the
//! raw body; its id is the `X-Razorpay-Event-Id` header.

use crate::{hex, hex_matches, hmac_sha256, parse_json, ParseError, SignatureError};
use serde_json::Value;

fn check(expected: [u8; 32], signature: Option<&str>) -> Result<(), SignatureError> {
    let sig = signature.ok_or(SignatureError::Missing)?;
    if sig.len() != 64 {
        return Err(SignatureError::Malformed("not 64 hex characters"));
    }
    if hex_matches(&expected, sig) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Checks Checkout's payment signature.
pub fn verify_payment(
    order_id: &str,
    payment_id: &str,
    signature: Option<&str>,
    key_secret: &str,
) -> Result<(), SignatureError> {
    let expected = hmac_sha256(
        key_secret.as_bytes(),
        &[order_id.as_bytes(), b"|", payment_id.as_bytes()],
    );
    check(expected, signature)
}

/// Checks a webhook's `X-Razorpay-Signature` against the raw body.
pub fn verify_webhook(
    body: &[u8],
    signature: Option<&str>,
    webhook_secret: &str,
) -> Result<(), SignatureError> {
    check(hmac_sha256(webhook_secret.as_bytes(), &[body]), signature)
}

/// The hex signature of `message` under `secret` (local test servers and tools).
pub fn sign(message: &[u8], secret: &str) -> String {
    hex(&hmac_sha256(secret.as_bytes(), &[message]))
}

/// The body of `POST /v1/orders`.
pub fn order_body(amount: i64, currency: &str, receipt: &str, notes: Value) -> Value {
    serde_json::json!({ "amount": amount, "currency": currency, "receipt": receipt, "notes": notes })
}

/// A created order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// `order_…`.
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO code.
    pub currency: String,
}

/// Reads the reply of `POST /v1/orders`.
pub fn order_reply(payload: &[u8]) -> Result<Order, ParseError> {
    let v = parse_json(payload)?;
    let id = v["id"]
        .as_str()
        .filter(|s| s.starts_with("order_") && s.len() <= 64)
        .ok_or_else(|| ParseError::Malformed("order reply without an order id".into()))?;
    Ok(Order {
        id: id.to_owned(),
        amount: v["amount"].as_i64().unwrap_or(0),
        currency: v["currency"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase(),
    })
}

/// A payment as a webhook reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// `pay_…`.
    pub id: String,
    /// The order it pays.
    pub order_id: Option<String>,
    /// Minor units.
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// `captured`, `failed`, `authorized`, …
    pub status: String,
}

/// A refund as a `refund.*` webhook reports it (`payload.refund.entity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// `rfnd_…`: one refund; a payment can have several (partial) refunds.
    pub id: String,
    /// The payment refunded.
    pub payment_id: String,
    /// Minor units this refund returns.
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// `pending`, `processed` or `failed`.
    pub status: String,
}

/// A dispute (chargeback) as a `payment.dispute.*` webhook reports it
/// (`payload.dispute.entity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    /// `disp_…`.
    pub id: String,
    /// The payment disputed.
    pub payment_id: String,
    /// Minor units disputed.
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// `retrieval`, `chargeback`, `pre_arbitration`, `arbitration`, `fraud`.
    pub phase: String,
    /// `open`, `under_review`, `won`, `lost`, `closed`.
    pub status: String,
}

/// A webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `payment.captured`, `payment.failed`, `order.paid`, `refund.processed`,
    /// `payment.dispute.created`, …
    pub kind: String,
    /// When Razorpay created it (Unix seconds).
    pub created_at: i64,
    /// The payment it concerns, if any.
    pub payment: Option<Payment>,
    /// The refund it concerns (`refund.*`).
    pub refund: Option<Refund>,
    /// The dispute it concerns (`payment.dispute.*`).
    pub dispute: Option<Dispute>,
}

/// Bounded text of a field.
fn short(v: &Value, max: usize) -> Option<String> {
    v.as_str()
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(max).collect())
}

/// A non-negative amount in minor units; `None` when absent or negative.
fn amount(v: &Value) -> Option<i64> {
    v.as_i64().filter(|a| *a >= 0)
}

/// Parses a webhook body (after its signature was checked).
pub fn parse_event(payload: &[u8]) -> Result<Event, ParseError> {
    let v = parse_json(payload)?;
    let kind = v["event"]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .ok_or_else(|| ParseError::Malformed("webhook without event".into()))?;
    let p = &v["payload"]["payment"]["entity"];
    let payment = p["id"].as_str().map(|id| Payment {
        id: id.chars().take(64).collect(),
        order_id: p["order_id"].as_str().map(|o| o.chars().take(64).collect()),
        amount: p["amount"].as_i64().unwrap_or(0),
        currency: p["currency"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase(),
        status: p["status"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(32)
            .collect(),
    });
    let r = &v["payload"]["refund"]["entity"];
    let refund = match (short(&r["id"], 64), short(&r["payment_id"], 64)) {
        (Some(id), Some(payment_id)) => Some(Refund {
            id,
            payment_id,
            amount: amount(&r["amount"])
                .ok_or_else(|| ParseError::Malformed("refund without an amount".into()))?,
            currency: short(&r["currency"], 8)
                .unwrap_or_default()
                .to_ascii_uppercase(),
            status: short(&r["status"], 32).unwrap_or_default(),
        }),
        _ => None,
    };
    let d = &v["payload"]["dispute"]["entity"];
    let dispute = match (short(&d["id"], 64), short(&d["payment_id"], 64)) {
        (Some(id), Some(payment_id)) => Some(Dispute {
            id,
            payment_id,
            amount: amount(&d["amount"])
                .ok_or_else(|| ParseError::Malformed("dispute without an amount".into()))?,
            currency: short(&d["currency"], 8)
                .unwrap_or_default()
                .to_ascii_uppercase(),
            phase: short(&d["phase"], 32).unwrap_or_default(),
            status: short(&d["status"], 32).unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(Event {
        kind: kind.to_owned(),
        created_at: v["created_at"].as_i64().unwrap_or(0),
        payment,
        refund,
        dispute,
    })
}

/// Razorpay's error description (`{"error":{"description"}}`).
pub fn error_message(payload: &[u8]) -> String {
    parse_json(payload)
        .ok()
        .and_then(|v| {
            v["error"]["description"]
                .as_str()
                .map(|m| m.chars().take(300).collect())
        })
        .unwrap_or_else(|| "Razorpay refused the request".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn signatures_match_independently_computed_values() {
        // Computed with Python's hmac module as Razorpay documents.
        let payment = "5563f19ec4d93d6c7d557cd0c9b3d5ad957214e81bfae70bfd8964b91313abbc";
        assert_eq!(
            verify_payment(
                "order_9A33XWu170gUtm",
                "pay_29QQoUBi66xm2f",
                Some(payment),
                "rzp_secret"
            ),
            Ok(())
        );
        assert_eq!(
            verify_payment(
                "order_9A33XWu170gUtm",
                "pay_other",
                Some(payment),
                "rzp_secret"
            ),
            Err(SignatureError::Mismatch)
        );
        let body = br#"{"event":"payment.captured"}"#;
        let hook = "26e63f1e805762c2819060db6d44c3402862f87417a15042fbd79f47e83811a4";
        assert_eq!(sign(body, "rzp_webhook"), hook);
        assert_eq!(verify_webhook(body, Some(hook), "rzp_webhook"), Ok(()));
        assert_eq!(
            verify_webhook(body, Some(&hook.to_uppercase()), "rzp_webhook"),
            Ok(())
        );
        assert_eq!(
            verify_webhook(b"{}", Some(hook), "rzp_webhook"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_webhook(body, None, "rzp_webhook"),
            Err(SignatureError::Missing)
        );
        assert!(verify_webhook(body, Some("zz"), "rzp_webhook").is_err());
    }

    #[test]
    fn webhook_and_order_replies_are_read() {
        let e = parse_event(br#"{"entity":"event","account_id":"acc_1","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_1","entity":"payment","amount":79900,"currency":"INR","status":"captured","order_id":"order_1"}}},"created_at":1700000000}"#).expect("event");
        assert_eq!(e.kind, "payment.captured");
        let p = e.payment.expect("payment");
        assert_eq!(
            (
                p.id.as_str(),
                p.order_id.as_deref(),
                p.amount,
                p.currency.as_str()
            ),
            ("pay_1", Some("order_1"), 79900, "INR")
        );
        let o = order_reply(br#"{"id":"order_1","entity":"order","amount":79900,"currency":"INR","receipt":"r","status":"created"}"#).expect("order");
        assert_eq!(o.id, "order_1");
        assert!(order_reply(br#"{"error":{"description":"bad"}}"#).is_err());
        assert_eq!(
            error_message(
                br#"{"error":{"code":"BAD_REQUEST_ERROR","description":"amount too small"}}"#
            ),
            "amount too small"
        );
    }

    #[test]
    fn refunds_and_disputes_are_read_as_razorpay_documents_them() {
        // Shapes from Razorpay's "Refunds Webhook Events" and "Disputes" sample payloads.
        let r = parse_event(br#"{"entity":"event","account_id":"acc_E7OQJcEANmBHTC","event":"refund.processed","contains":["refund","payment"],"payload":{"refund":{"entity":{"id":"rfnd_FS8TWyPrCsa0OB","entity":"refund","amount":50000,"currency":"INR","payment_id":"pay_FPoJKWQQ8lK13n","notes":{},"receipt":null,"created_at":1597734071,"status":"processed","speed_processed":"normal"}},"payment":{"entity":{"id":"pay_FPoJKWQQ8lK13n","entity":"payment","amount":500000,"currency":"INR","status":"refunded","order_id":"order_FPoIeimWki9j8A","amount_refunded":50000,"refund_status":"partial","captured":true}}},"created_at":1597734074}"#).expect("event");
        let refund = r.refund.expect("refund");
        assert_eq!(
            (
                refund.id.as_str(),
                refund.payment_id.as_str(),
                refund.amount,
                refund.currency.as_str(),
                refund.status.as_str()
            ),
            (
                "rfnd_FS8TWyPrCsa0OB",
                "pay_FPoJKWQQ8lK13n",
                50000,
                "INR",
                "processed"
            )
        );
        assert_eq!(
            r.payment.expect("payment").order_id.as_deref(),
            Some("order_FPoIeimWki9j8A")
        );
        let d = parse_event(br#"{"entity":"event","event":"payment.dispute.created","contains":["payment","dispute"],"payload":{"payment":{"entity":{"id":"pay_EsyWjHrfzb59eR","entity":"payment","amount":10000,"currency":"INR","status":"captured","order_id":"order_1"}},"dispute":{"entity":{"id":"disp_AHfqOvkldwsbqt","entity":"dispute","payment_id":"pay_EsyWjHrfzb59eR","amount":10000,"currency":"INR","amount_deducted":0,"reason_code":"chargeback","respond_by":1590604200,"status":"open","phase":"chargeback","created_at":1590059211}}},"created_at":1590059211}"#).expect("event");
        let dispute = d.dispute.expect("dispute");
        assert_eq!(
            (
                dispute.id.as_str(),
                dispute.payment_id.as_str(),
                dispute.amount,
                dispute.phase.as_str(),
                dispute.status.as_str()
            ),
            (
                "disp_AHfqOvkldwsbqt",
                "pay_EsyWjHrfzb59eR",
                10000,
                "chargeback",
                "open"
            )
        );
        assert!(d.refund.is_none());
        assert!(parse_event(br#"{"event":"refund.processed","payload":{"refund":{"entity":{"id":"rfnd_1","payment_id":"pay_1","amount":-5}}}}"#).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_verifies_or_panics(body in proptest::collection::vec(any::<u8>(), 0..256), sig in ".{0,80}") {
            prop_assert!(verify_webhook(&body, Some(&sig), "secret").is_err());
            let _ = parse_event(&body);
            let _ = order_reply(&body);
        }
    }
}
