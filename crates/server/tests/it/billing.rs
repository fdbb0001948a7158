//! What the subscription page (`/dashboard/subscription`) asks of the server: the caller's
//! currency (their choice, else `Accept-Language`) and the gateways this node has, changing the
//! currency, Razorpay Hosted Checkout's signed callback, and the page itself with a
//! Content-Security-Policy that lets it post Razorpay's form. Against `support::checkout`'s
//! local Stripe and Razorpay.

use crate::support;

use serde_json::{json, Value};
use support::checkout::{self, RZP_ID, RZP_SECRET};
use support::{call, client, gateway_signatures, register_user, Backend, TestApp};

/// `GET /api/payments/options` with an `Accept-Language` header.
async fn options(app: &TestApp, token: &str, lang: Option<&str>) -> (u16, Value) {
    let mut r = client()
        .get(app.url("/api/payments/options"))
        .bearer_auth(token);
    if let Some(l) = lang {
        r = r.header("accept-language", l);
    }
    let res = r.send().await.expect("options");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn currency_follows_the_choice_then_the_browser(b: Backend) {
    // A node without gateways says so; the currency works all the same.
    let Some(bare) = TestApp::start(b).await else {
        return;
    };
    let token = register_user(&bare, "bare@example.com", "Bare").await;
    let (status, v) = options(&bare, &token, Some("en-US,en;q=0.9")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["gateways"], json!([]));
    assert_eq!(v["currencies"], json!(["USD", "INR"]));
    bare.finish().await;

    let (_gateways, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    let token = register_user(&app, "asha@example.com", "Asha").await;
    let (status, _) = call(&app, "GET", "/api/payments/options", None, None).await;
    assert_eq!(status, 401);

    // Not chosen: the browser's preferred language decides.
    for (lang, currency) in [
        (Some("en-IN,en;q=0.9"), "INR"),
        (Some("hi"), "INR"),
        (Some("en-US,en;q=0.9,hi;q=0.5"), "USD"),
        (None, "USD"),
    ] {
        let (status, v) = options(&app, &token, lang).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (v["currency"].as_str(), v["currency_chosen"].as_bool()),
            (Some(currency), Some(false)),
            "{lang:?}: {v}"
        );
    }
    let (_, v) = options(&app, &token, None).await;
    assert_eq!(
        v["gateways"],
        json!([
            {"id": "stripe", "name": "Stripe", "checkout": "redirect"},
            {"id": "razorpay", "name": "Razorpay", "checkout": "form"}
        ])
    );

    // Chosen: it outranks the browser, until changed.
    for bad in ["EUR", "", "inr; DROP TABLE"] {
        let (status, v) = call(
            &app,
            "PUT",
            "/api/payments/currency",
            Some(&token),
            Some(json!({"currency": bad})),
        )
        .await;
        assert_eq!(status, 422, "{bad}: {v}");
        assert!(
            v["details"].as_str().is_some_and(|d| d.contains("USD")),
            "{v}"
        );
    }
    let (status, v) = call(
        &app,
        "PUT",
        "/api/payments/currency",
        Some(&token),
        Some(json!({"currency": "inr"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["currency"].as_str(), v["currency_chosen"].as_bool()),
        (Some("INR"), Some(true))
    );
    let (_, v) = options(&app, &token, Some("en-US")).await;
    assert_eq!(
        (v["currency"].as_str(), v["currency_chosen"].as_bool()),
        (Some("INR"), Some(true))
    );
    // Another user is not affected.
    let other = register_user(&app, "bob@example.com", "Bob").await;
    let (_, v) = options(&app, &other, Some("en-US")).await;
    assert_eq!(v["currency"], "USD");

    // The scopes: reading needs profile:read, choosing needs billing:write.
    let (status, key) = call(
        &app,
        "POST",
        "/api/auth/api-keys",
        Some(&token),
        Some(json!({"name": "reader", "scopes": ["profile:read"], "password": "password123"})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().expect("key").to_string();
    let (status, v) = options(&app, &key, None).await;
    assert_eq!((status, v["currency"].as_str()), (200, Some("INR")));
    let (status, _) = call(
        &app,
        "PUT",
        "/api/payments/currency",
        Some(&key),
        Some(json!({"currency": "USD"})),
    )
    .await;
    assert_eq!(status, 403, "a key without billing:write");
    app.finish().await;
}

async fn plan_of(app: &TestApp, token: &str) -> String {
    let (_, v) = call(
        app,
        "GET",
        "/api/subscriptions/my-subscription",
        Some(token),
        None,
    )
    .await;
    v["subscription"]["plan"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Posts Razorpay Checkout's fields to the callback as the buyer's browser does; the status and
/// where it is sent.
async fn callback(app: &TestApp, fields: &[(&str, &str)]) -> (u16, String) {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = no_redirects
        .post(app.url("/api/payments/razorpay/callback"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).expect("form"))
        .send()
        .await
        .expect("callback");
    let to = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (r.status().as_u16(), to)
}

async fn razorpay_hosted_checkout_callback(b: Backend) {
    let (gateways, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    let token = register_user(&app, "ravi@example.com", "Ravi").await;
    let (_, plans) = call(&app, "GET", "/api/subscriptions/plans", None, None).await;
    let pro = plans["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .find(|p| p["name"] == "Pro")
        .and_then(|p| p["id"].as_i64())
        .expect("Pro");
    let (status, order) = call(
        &app,
        "POST",
        "/api/payments/create-order",
        Some(&token),
        Some(json!({"plan_id": pro, "billing_cycle": "monthly", "currency": "INR"})),
    )
    .await;
    assert_eq!(status, 200, "{order}");
    // The form the page posts to Razorpay's Hosted Checkout.
    assert_eq!(
        order["checkout"]["url"],
        format!("http://{addr}/v1/checkout/embedded")
    );
    let fields: std::collections::HashMap<String, String> = order["checkout"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().expect("name").to_string(),
                f["value"].as_str().expect("value").to_string(),
            )
        })
        .collect();
    let order_id = order["order_id"].as_str().expect("order id").to_string();
    assert_eq!(fields["key_id"], RZP_ID);
    assert_eq!(fields["order_id"], order_id);
    assert_eq!(fields["amount"], "79900");
    assert_eq!(fields["currency"], "INR");
    assert_eq!(fields["prefill[email]"], "ravi@example.com");
    assert_eq!(
        fields["callback_url"],
        app.url("/api/payments/razorpay/callback")
    );
    assert_eq!(
        fields["cancel_url"],
        app.url("/dashboard/subscription?checkout=canceled")
    );
    assert!(gateways
        .lock()
        .expect("lock")
        .orders
        .contains_key(&order_id));

    let sign = |order: &str, payment: &str| {
        gateway_signatures(
            &json!({"razorpay_payment": [{"order_id": order, "payment_id": payment, "key_id": RZP_ID, "key_secret": RZP_SECRET}]}),
        )["razorpay_payment"][0]
            .as_str()
            .expect("sig")
            .to_string()
    };
    let good = sign(&order_id, "pay_Cb0001");

    // A failure Razorpay reports, a forged signature, a signature for another payment, and a
    // signed payment of an order that is not ours: back to the page, nothing granted.
    let (status, to) = callback(
        &app,
        &[
            ("error[code]", "BAD_REQUEST_ERROR"),
            (
                "error[description]",
                "Payment failed because the card was declined",
            ),
            ("error[reason]", "payment_failed"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        to,
        "/dashboard/subscription?checkout=failed&gateway=razorpay&message=Payment+failed+because+the+card+was+declined"
    );
    for (payment, signature) in [
        ("pay_Cb0001", "00".repeat(32)),
        ("pay_Cb0002", good.clone()),
    ] {
        let (status, to) = callback(
            &app,
            &[
                ("razorpay_payment_id", payment),
                ("razorpay_order_id", &order_id),
                ("razorpay_signature", &signature),
            ],
        )
        .await;
        assert_eq!(status, 303);
        assert!(to.starts_with("/dashboard/subscription?checkout=failed&gateway=razorpay&message=Razorpay%27s+confirmation+could+not+be+verified"), "{to}");
    }
    let stranger = sign("order_NotOurs", "pay_Cb0003");
    let (_, to) = callback(
        &app,
        &[
            ("razorpay_payment_id", "pay_Cb0003"),
            ("razorpay_order_id", "order_NotOurs"),
            ("razorpay_signature", &stranger),
        ],
    )
    .await;
    assert!(to.contains("checkout=failed"), "{to}");
    assert_eq!(plan_of(&app, &token).await, "Free");

    // The genuine callback activates the plan at once; a replay changes nothing more.
    for _ in 0..2 {
        let (status, to) = callback(
            &app,
            &[
                ("razorpay_payment_id", "pay_Cb0001"),
                ("razorpay_order_id", &order_id),
                ("razorpay_signature", &good),
            ],
        )
        .await;
        assert_eq!(
            (status, to.as_str()),
            (
                303,
                "/dashboard/subscription?checkout=success&gateway=razorpay"
            )
        );
        assert_eq!(plan_of(&app, &token).await, "Pro");
    }
    let (_, v) = options(&app, &token, None).await;
    assert_eq!(
        v["renewed_by"],
        Value::Null,
        "one period per Razorpay order: {v}"
    );
    let (_, history) = call(&app, "GET", "/api/payments/history", Some(&token), None).await;
    let payments = history["payments"].as_array().expect("payments");
    assert_eq!(payments.len(), 1, "{history}");
    assert_eq!(
        (
            payments[0]["provider"].as_str(),
            payments[0]["amount"].as_str(),
            payments[0]["currency"].as_str(),
            payments[0]["reference"].as_str(),
            payments[0]["plan"].as_str()
        ),
        (
            Some("razorpay"),
            Some("799.00"),
            Some("INR"),
            Some("pay_Cb0001"),
            Some("Pro")
        )
    );
    let receipt_id = payments[0]["id"].as_str().expect("id");
    let (status, receipt) = call(
        &app,
        "GET",
        &format!("/api/payments/receipts/{receipt_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["billed_to"], "Ravi <ravi@example.com>");
    // Somebody else's receipt is not found.
    let other = register_user(&app, "eve@example.com", "Eve").await;
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/payments/receipts/{receipt_id}"),
        Some(&other),
        None,
    )
    .await;
    assert_eq!(status, 404);
    app.finish().await;
}

/// The page and its receipts are the web app's; its policy lets it post Razorpay's form (and no
/// other), and a node without Razorpay allows none.
async fn the_subscription_page_and_its_policy(b: Backend) {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist/index.html");
    assert!(
        dist.exists(),
        "the web app must be built: run scripts/test.sh (npm ci and npm run build in web/)"
    );
    let (_gateways, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    // The limit refusal's link is this page.
    let token = register_user(&app, "lim@example.com", "Lim").await;
    for (name, expected) in [("one", 201), ("two", 403)] {
        let (status, v) = call(
            &app,
            "POST",
            "/api/sources",
            Some(&token),
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(status, expected, "{v}");
        if status == 403 {
            assert_eq!(v["upgrade_url"], "/dashboard/subscription", "{v}");
        }
    }
    for path in [
        "/dashboard/subscription",
        "/dashboard/subscription/receipts/0f8e7a3c-1d2b-4c5d-8e9f-a0b1c2d3e4f5",
    ] {
        let r = client().get(app.url(path)).send().await.expect("page");
        let status = r.status();
        let csp = r
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = r.text().await.expect("body");
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            csp.ends_with(&format!("form-action 'self' http://{addr}")),
            "{csp}"
        );
        assert!(body.contains("<div id=\"root\">"), "{body}");
    }
    let r = client()
        .get(app.url("/dashboard/subscription/receipts/a/b"))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 404);
    app.finish().await;

    let Some(bare) = TestApp::start(b).await else {
        return;
    };
    let r = client()
        .get(bare.url("/dashboard/subscription"))
        .send()
        .await
        .expect("page");
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.ends_with("form-action 'self'"), "{csp}");
    bare.finish().await;
}

both_backends!(
    currency_follows_the_choice_then_the_browser,
    razorpay_hosted_checkout_callback,
    the_subscription_page_and_its_policy
);
