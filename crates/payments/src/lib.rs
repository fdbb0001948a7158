//! Payment gateways' protocols, sans-I/O: how Stripe, Razorpay and ePayco sign what they send
//! (checked here exactly as each documents, on the raw bytes, in constant time), what their
//! webhook events and replies mean, and the bodies of the requests ferrocast makes. Nothing
//! here opens a socket or reads a clock: the caller passes the time.
//!
//! Money is integer minor units (cents, paise) with an ISO 4217 currency, never floats.
#![deny(missing_docs)]

pub mod epayco;
pub mod razorpay;
pub mod stripe;
pub mod stripe_connect;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Largest webhook body accepted (Stripe's events are well under this).
pub const MAX_BODY: usize = 512 * 1024;

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature came with it.
    #[error("the signature is missing")]
    Missing,
    /// The signature header is not in the provider's format.
    #[error("the signature is malformed: {0}")]
    Malformed(&'static str),
    /// Signed too long ago (or too far ahead): a replay, or a clock far off.
    #[error("the signature's timestamp is {0} s away from now, over the tolerance")]
    Stale(i64),
    /// The signature does not match the body and secret.
    #[error("the signature does not match")]
    Mismatch,
}

/// Why a payload cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Over [`MAX_BODY`].
    #[error("payload of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Not what the provider documents.
    #[error("malformed payload: {0}")]
    Malformed(String),
}

pub(crate) fn parse_json(payload: &[u8]) -> Result<serde_json::Value, ParseError> {
    if payload.len() > MAX_BODY {
        return Err(ParseError::TooLarge(payload.len()));
    }
    serde_json::from_slice(payload).map_err(|e| ParseError::Malformed(e.to_string()))
}

/// HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], message: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in message {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `hex` (either case) encodes exactly `expected`, compared in constant time.
pub(crate) fn hex_matches(expected: &[u8; 32], hex: &str) -> bool {
    let lower = hex.trim().to_ascii_lowercase();
    match data_encoding::HEXLOWER.decode(lower.as_bytes()) {
        Ok(bytes) if bytes.len() == 32 => bool::from(bytes.ct_eq(expected)),
        _ => false,
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// A currency ferrocast charges in (USD and INR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Currency {
    /// US dollars, in cents.
    Usd,
    /// Indian rupees, in paise.
    Inr,
}

impl Currency {
    /// ISO 4217 code in capitals (`USD`).
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Inr => "INR",
        }
    }
    /// From a code in either case.
    pub fn parse(code: &str) -> Option<Self> {
        match code.to_ascii_uppercase().as_str() {
            "USD" => Some(Currency::Usd),
            "INR" => Some(Currency::Inr),
            _ => None,
        }
    }
}
