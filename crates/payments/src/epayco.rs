//! ePayco: the confirmation request (`x_…` fields, form-encoded or query) a payment's result
//! comes by, genuine when `x_signature` is the hex SHA-256 of
//! `p_cust_id_cliente^p_key^x_ref_payco^x_transaction_id^x_amount^x_currency_code`, with the
//! merchant's customer id and P_KEY.
//!
//! The signature does not cover the outcome (`x_cod_response`) or the invoice: a confirmation
//! whose signed fields were seen elsewhere could be replayed with another outcome. So the
//! outcome is read back from ePayco (`GET /validation/v1/reference/{x_ref_payco}`,
//! [`parse_validation`]) and only that is believed.
//!
//! ePayco Smart Checkout (docs.epayco.com, "Checkout: implementación") starts a payment: the
//! merchant's backend logs in to Apify (`POST /login` with HTTP Basic `PUBLIC_KEY:PRIVATE_KEY`,
//! [`login_reply`]: a bearer token), creates a session for the order
//! (`POST /payment/session/create`, [`session_body`], [`session_reply`]: its `sessionId`), and
//! the page opens ePayco's checkout script with that session. ePayco then posts the confirmation
//! above and sends the buyer to the response URL with `?ref_payco=…`.

use crate::SignatureError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// A confirmation, as far as billing cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// ePayco's reference of the payment (`x_ref_payco`): what makes a retry recognisable.
    pub ref_payco: String,
    /// The transaction id.
    pub transaction_id: String,
    /// The merchant's invoice id (`x_id_invoice`: ferrocast's order UUID).
    pub invoice: String,
    /// The amount as sent (decimal text, as signed).
    pub amount: String,
    /// ISO code.
    pub currency: String,
    /// `x_cod_response`: 1 accepted, 2 rejected, 3 pending, 4 failed, others (reversed,
    /// held, started, expired, abandoned, cancelled) as ePayco lists them.
    pub response: i64,
}

impl Confirmation {
    /// Whether the payment was accepted.
    pub fn accepted(&self) -> bool {
        self.response == 1
    }
}

/// What ePayco's validation API says of a payment reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// The reference asked about.
    pub ref_payco: String,
    /// The merchant's invoice (ferrocast's order UUID).
    pub invoice: String,
    /// The amount, as ePayco writes it.
    pub amount: String,
    /// ISO code.
    pub currency: String,
    /// The outcome (1 accepted…).
    pub response: i64,
    /// ePayco's word for it (`x_response`: `Aceptada`, `Rechazada`…).
    pub state: String,
}

/// What an outcome code (`x_cod_response`) means for the order it pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 1: accepted; the money is taken.
    Accepted,
    /// Rejected (2), failed (4), reversed (6), expired (9), abandoned (10) or cancelled (11):
    /// final, nothing taken.
    Failed,
    /// Anything else (pending, held, started…): a final confirmation follows.
    Pending,
}

impl Outcome {
    /// The meaning of `code`.
    pub fn of(code: i64) -> Self {
        match code {
            1 => Outcome::Accepted,
            2 | 4 | 6 | 9 | 10 | 11 => Outcome::Failed,
            _ => Outcome::Pending,
        }
    }
}

/// Whether an outcome code says a payment ePayco had accepted was taken back (6,
/// `Reversada`: refunded or charged back). For a payment that was never accepted it means
/// nothing was taken ([`Outcome::Failed`]).
pub fn reversed(code: i64) -> bool {
    code == 6
}

/// ePayco's word for an outcome code (`x_cod_response`), as its documentation lists them.
pub fn response_word(code: i64) -> &'static str {
    match code {
        1 => "Aceptada",
        2 => "Rechazada",
        3 => "Pendiente",
        4 => "Fallida",
        6 => "Reversada",
        7 => "Retenida",
        8 => "Iniciada",
        9 => "Expirada",
        10 => "Abandonada",
        11 => "Cancelada",
        12 => "Antifraude",
        _ => "Desconocida",
    }
}

/// Text of a field that ePayco sends as a string or a number.
fn loose(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() && s.len() <= 128 => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads the reply of `GET /validation/v1/reference/{ref}`.
pub fn parse_validation(payload: &[u8]) -> Result<Validation, crate::ParseError> {
    let v = crate::parse_json(payload)?;
    let bad = |what: &str| crate::ParseError::Malformed(format!("validation reply: {what}"));
    if v["success"] != serde_json::Value::Bool(true) {
        return Err(bad("not successful"));
    }
    let d = &v["data"];
    let response = loose(&d["x_cod_response"])
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| bad("no x_cod_response"))?;
    Ok(Validation {
        ref_payco: loose(&d["x_ref_payco"]).ok_or_else(|| bad("no x_ref_payco"))?,
        invoice: loose(&d["x_id_invoice"]).unwrap_or_default(),
        amount: loose(&d["x_amount"]).ok_or_else(|| bad("no x_amount"))?,
        currency: loose(&d["x_currency_code"])
            .ok_or_else(|| bad("no x_currency_code"))?
            .to_ascii_uppercase(),
        response,
        state: loose(&d["x_response"])
            .or_else(|| loose(&d["x_transaction_state"]))
            .map(|s| s.chars().take(40).collect())
            .unwrap_or_else(|| response_word(response).into()),
    })
}

fn field<'a>(f: &'a HashMap<String, String>, k: &str) -> Result<&'a str, SignatureError> {
    f.get(k)
        .map(String::as_str)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .ok_or(SignatureError::Malformed("a required x_ field is missing"))
}

/// Checks a confirmation's signature and reads it.
pub fn verify(
    fields: &HashMap<String, String>,
    customer_id: &str,
    p_key: &str,
) -> Result<Confirmation, SignatureError> {
    let sig = fields.get("x_signature").ok_or(SignatureError::Missing)?;
    let c = Confirmation {
        ref_payco: field(fields, "x_ref_payco")?.to_owned(),
        transaction_id: field(fields, "x_transaction_id")?.to_owned(),
        invoice: fields.get("x_id_invoice").cloned().unwrap_or_default(),
        amount: field(fields, "x_amount")?.to_owned(),
        currency: field(fields, "x_currency_code")?.to_ascii_uppercase(),
        response: field(fields, "x_cod_response")?
            .parse()
            .map_err(|_| SignatureError::Malformed("x_cod_response is not a number"))?,
    };
    let expected = signature(
        customer_id,
        p_key,
        &c.ref_payco,
        &c.transaction_id,
        &c.amount,
        field(fields, "x_currency_code")?,
    );
    let given = sig.trim().to_ascii_lowercase();
    if given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(c)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The hex signature ePayco computes (local test servers and tools).
pub fn signature(
    customer_id: &str,
    p_key: &str,
    ref_payco: &str,
    transaction_id: &str,
    amount: &str,
    currency: &str,
) -> String {
    let text = [
        customer_id,
        p_key,
        ref_payco,
        transaction_id,
        amount,
        currency,
    ]
    .join("^");
    crate::hex(&Sha256::digest(text.as_bytes()))
}

/// Reads Apify's reply to `POST /login`: the bearer token for the calls that follow.
pub fn login_reply(payload: &[u8]) -> Result<String, crate::ParseError> {
    let v = crate::parse_json(payload)?;
    v["token"]
        .as_str()
        .filter(|t| !t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .ok_or_else(|| crate::ParseError::Malformed(format!("login: {}", error_message(payload))))
}

/// A Smart Checkout session to create for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest<'a> {
    /// What is bought, for the checkout's heading.
    pub name: &'a str,
    /// A line about it.
    pub description: &'a str,
    /// The merchant's invoice: ferrocast's order reference, which the confirmation names back
    /// (`x_id_invoice`).
    pub invoice: &'a str,
    /// The amount in the currency's units, as ePayco takes it (`9.99`).
    pub amount: &'a str,
    /// ISO code (`USD`).
    pub currency: &'a str,
    /// Where ePayco sends the buyer afterwards (`?ref_payco=…` is added).
    pub response_url: &'a str,
    /// Where ePayco posts the signed confirmation.
    pub confirmation_url: &'a str,
    /// The buyer's address, for ePayco's fraud checks.
    pub ip: &'a str,
    /// The buyer's email and name, to fill in ePayco's form.
    pub buyer_email: &'a str,
    /// See `buyer_email`.
    pub buyer_name: &'a str,
    /// ePayco's test mode (sandbox transactions).
    pub test: bool,
}

/// The JSON body of `POST /payment/session/create` (Smart Checkout, `checkout_version` 2).
/// ePayco takes its values as strings, `test` included.
pub fn session_body(r: &SessionRequest<'_>) -> serde_json::Value {
    serde_json::json!({
        "checkout_version": "2",
        "name": r.name,
        "description": r.description,
        "invoice": r.invoice,
        "currency": r.currency,
        "amount": r.amount,
        // ePayco is a Colombian gateway: the country of the merchant's account.
        "country": "CO",
        "lang": "EN",
        "ip": r.ip,
        "test": if r.test { "true" } else { "false" },
        "response": r.response_url,
        "confirmation": r.confirmation_url,
        // Our confirmation route takes a POST (the form ePayco sends).
        "method_confirmation": "POST",
        "billing": { "email": r.buyer_email, "name": r.buyer_name },
    })
}

/// Reads the reply of `POST /payment/session/create`: the session's id.
pub fn session_reply(payload: &[u8]) -> Result<String, crate::ParseError> {
    let v = crate::parse_json(payload)?;
    let id = v["data"]["sessionId"]
        .as_str()
        .filter(|_| v["success"] == serde_json::Value::Bool(true))
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 256
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    id.map(str::to_owned)
        .ok_or_else(|| crate::ParseError::Malformed(format!("session: {}", error_message(payload))))
}

/// ePayco's words for a refused Apify call (login's `error`, a session's `textResponse` and
/// its field errors), bounded.
pub fn error_message(payload: &[u8]) -> String {
    let Ok(v) = crate::parse_json(payload) else {
        return "ePayco refused the request".into();
    };
    let mut words: Vec<String> = ["error", "textResponse", "titleResponse", "message"]
        .iter()
        .filter_map(|k| v[*k].as_str())
        .filter(|s| !s.is_empty())
        .take(1)
        .map(str::to_owned)
        .collect();
    if let Some(errors) = v["data"]["errors"].as_array() {
        words.extend(
            errors
                .iter()
                .filter_map(|e| e["errorMessage"].as_str())
                .take(5)
                .map(str::to_owned),
        );
    }
    if words.is_empty() {
        return "ePayco refused the request".into();
    }
    words.join("; ").chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(sig: &str) -> HashMap<String, String> {
        [
            ("x_ref_payco", "ref1"),
            ("x_transaction_id", "tx1"),
            ("x_amount", "799.00"),
            ("x_currency_code", "USD"),
            ("x_cod_response", "1"),
            ("x_id_invoice", "ord-1"),
            ("x_signature", sig),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn the_documented_signature_verifies() {
        // SHA-256 of "123^abcKEY^ref1^tx1^799.00^USD", computed with Python's hashlib.
        let sig = "9487081fc9e2909435d241a9a78050956753c09eab97223f74ad9315da3d2673";
        let c = verify(&fields(sig), "123", "abcKEY").expect("genuine");
        assert!(c.accepted());
        assert_eq!((c.invoice.as_str(), c.amount.as_str()), ("ord-1", "799.00"));
        assert_eq!(
            verify(&fields(sig), "123", "otherKEY"),
            Err(SignatureError::Mismatch)
        );
        let mut tampered = fields(sig);
        tampered.insert("x_amount".into(), "1.00".into());
        assert_eq!(
            verify(&tampered, "123", "abcKEY"),
            Err(SignatureError::Mismatch)
        );
        let mut unsigned = fields(sig);
        unsigned.remove("x_signature");
        assert_eq!(
            verify(&unsigned, "123", "abcKEY"),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn validation_replies_with_numbers_or_strings() {
        let v = parse_validation(br#"{"success":true,"title_response":"OK","data":{"x_ref_payco":9001,"x_id_invoice":"ord-1","x_amount":299.99,"x_currency_code":"USD","x_cod_response":1,"x_response":"Aceptada"}}"#).expect("reply");
        assert_eq!(
            (v.ref_payco.as_str(), v.amount.as_str(), v.response),
            ("9001", "299.99", 1)
        );
        let s = parse_validation(br#"{"success":true,"data":{"x_ref_payco":"9001","x_amount":"10.00","x_currency_code":"usd","x_cod_response":"2"}}"#).expect("reply");
        assert_eq!((s.currency.as_str(), s.response), ("USD", 2));
        assert_eq!(
            (v.state.as_str(), s.state.as_str()),
            ("Aceptada", "Rechazada")
        );
        assert_eq!(
            [1, 2, 3, 6, 8, 11].map(Outcome::of),
            [
                Outcome::Accepted,
                Outcome::Failed,
                Outcome::Pending,
                Outcome::Failed,
                Outcome::Pending,
                Outcome::Failed
            ]
        );
        assert!(parse_validation(br#"{"success":false,"data":{}}"#).is_err());
        assert!(reversed(6) && !reversed(1) && !reversed(2));
    }

    #[test]
    fn smart_checkout_login_and_session() {
        assert_eq!(
            login_reply(br#"{"token":"eyJhbGciOiJIUzI1NiJ9.e30.sig"}"#),
            Ok("eyJhbGciOiJIUzI1NiJ9.e30.sig".into())
        );
        let refused =
            login_reply(br#"{"error":"Invalid client: client is invalid"}"#).expect_err("no token");
        assert!(
            refused.to_string().contains("client is invalid"),
            "{refused}"
        );
        assert!(login_reply(br#"{"token":"a b"}"#).is_err());

        let body = session_body(&SessionRequest {
            name: "ferrocast",
            description: "ferrocast Pro, monthly",
            invoice: "ord-1",
            amount: "9.99",
            currency: "USD",
            response_url: "https://node/dashboard/subscription",
            confirmation_url: "https://node/api/payments/epayco/confirmation",
            ip: "203.0.113.9",
            buyer_email: "a@example.com",
            buyer_name: "A",
            test: true,
        });
        assert_eq!(body["checkout_version"], "2");
        assert_eq!(
            (
                &body["amount"],
                &body["currency"],
                &body["invoice"],
                &body["test"]
            ),
            (
                &serde_json::json!("9.99"),
                &serde_json::json!("USD"),
                &serde_json::json!("ord-1"),
                &serde_json::json!("true")
            )
        );
        assert_eq!(
            body["confirmation"],
            "https://node/api/payments/epayco/confirmation"
        );

        assert_eq!(
            session_reply(br#"{"success":true,"titleResponse":"Successful","data":{"sessionId":"68fb8-37a9"}}"#),
            Ok("68fb8-37a9".into())
        );
        let e = session_reply(br#"{"success":false,"textResponse":"Error creating session","data":{"totalErrors":1,"errors":[{"codError":500,"errorMessage":"field amount is required"}]}}"#)
            .expect_err("refused");
        assert!(
            e.to_string()
                .contains("Error creating session; field amount is required"),
            "{e}"
        );
        assert!(session_reply(br#"{"success":true,"data":{"sessionId":"<script>"}}"#).is_err());
        assert_eq!(error_message(b"<html>"), "ePayco refused the request");
    }

    proptest! {
        #[test]
        fn arbitrary_fields_never_verify(sig in "[0-9a-f]{64}", amount in ".{0,20}") {
            let mut f = fields(&sig);
            f.insert("x_amount".into(), amount);
            prop_assert!(verify(&f, "123", "abcKEY").is_err());
        }
    }
}
