//! Webhook bodies and signature headers come from anyone who can reach the node: checking and
//! parsing them must never panic, and nothing unsigned may verify.
#![no_main]
use ferrocast_payments::{epayco, razorpay, stripe};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line plays the signature header, the rest the body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let header = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();
    assert!(stripe::verify(Some(&header), body, "whsec_fuzz", 1_700_000_000, 300).is_err());
    assert!(razorpay::verify_webhook(body, Some(&header), "fuzz").is_err());
    if let Ok(e) = stripe::parse_event(body) {
        let _ = stripe::checkout_completed(&e.object);
        let _ = stripe::subscription(&e.object);
        let _ = stripe::invoice(&e.object);
    }
    let _ = stripe::session_reply(body);
    let _ = stripe::error_message(body);
    let _ = razorpay::parse_event(body);
    let _ = razorpay::order_reply(body);
    let fields = header
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let _ = epayco::verify(&fields, "1", "k");
});
