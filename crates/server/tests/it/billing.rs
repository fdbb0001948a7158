//! What the subscription page (`/dashboard/subscription`) asks of the server: the caller's
//! currency (their choice, else `Accept-Language`) and the gateways this node has, changing the
//! currency, Razorpay Hosted Checkout's signed callback, ePayco Smart Checkout (Apify's login and
//! session, the confirmation, and the buyer's return), and the page itself with a
//! Content-Security-Policy that lets it post Razorpay's form and load ePayco's script. Against
//! `support::checkout`'s local Stripe, Razorpay and ePayco.

use crate::support;

use serde_json::{json, Value};
use support::checkout::{self, epayco_record, seen, EPAYCO_PRIVATE, RZP_ID, RZP_SECRET};
use support::{
    call, client, gateway_signatures, my_plan, plan_id, register_user, Backend, TestApp,
};

/// A response header's value ("" when absent).
fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// `PUT /api/payments/currency` as `token`.
async fn set_currency(app: &TestApp, token: &str, currency: &str) -> (u16, Value) {
    let body = json!({ "currency": currency });
    call(
        app,
        "PUT",
        "/api/payments/currency",
        Some(token),
        Some(body),
    )
    .await
}

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
            {"id": "stripe", "name": "Stripe", "checkout": "redirect", "currencies": ["USD", "INR"]},
            {"id": "razorpay", "name": "Razorpay", "checkout": "form", "currencies": ["USD", "INR"]},
            {"id": "epayco", "name": "ePayco", "checkout": "script", "currencies": ["USD"]}
        ])
    );

    // Chosen: it outranks the browser, until changed.
    for bad in ["EUR", "", "inr; DROP TABLE"] {
        let (status, v) = set_currency(&app, &token, bad).await;
        assert_eq!(status, 422, "{bad}: {v}");
        assert!(
            v["details"].as_str().is_some_and(|d| d.contains("USD")),
            "{v}"
        );
    }
    let (status, v) = set_currency(&app, &token, "inr").await;
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
    let (status, _) = set_currency(&app, &key, "USD").await;
    assert_eq!(status, 403, "a key without billing:write");
    app.finish().await;
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
    let to = header(&r, "location");
    (r.status().as_u16(), to)
}

async fn razorpay_hosted_checkout_callback(b: Backend) {
    let (gateways, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    let token = register_user(&app, "ravi@example.com", "Ravi").await;
    let pro = plan_id(&app, "Pro").await;
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
    assert!(seen(&gateways).order(&order_id).is_some());

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
    assert_eq!(my_plan(&app, &token).await.0, "Free");

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
        assert_eq!(my_plan(&app, &token).await.0, "Pro");
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
        let csp = header(&r, "content-security-policy");
        let body = r.text().await.expect("body");
        assert_eq!(status, 200, "{path}: {body}");
        // Razorpay's form and ePayco's script (and its checkout) share the stand-ins' origin.
        assert!(
            csp.ends_with(&format!("form-action 'self' http://{addr}")),
            "{csp}"
        );
        assert!(
            csp.contains(&format!("; script-src 'self' http://{addr};")),
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
    let csp = header(&r, "content-security-policy");
    assert!(csp.ends_with("form-action 'self'"), "{csp}");
    assert!(csp.contains("; script-src 'self';"), "{csp}");
    bare.finish().await;
}

/// Without the browser: what a page does for ePayco Smart Checkout, as ePayco's stand-in sees it.
async fn epayco_checkout(app: &TestApp, token: &str, plan: i64, currency: &str) -> (u16, Value) {
    call(
        app,
        "POST",
        "/api/payments/epayco/checkout",
        Some(token),
        Some(json!({"plan_id": plan, "billing_cycle": "monthly", "currency": currency})),
    )
    .await
}

async fn outcome(app: &TestApp, token: &str, reference: &str) -> (u16, Value) {
    call(
        app,
        "GET",
        &format!("/api/payments/epayco/reference/{reference}"),
        Some(token),
        None,
    )
    .await
}

/// A node on the stand-ins with some of their settings `changed` (`None`: unset), and a user.
async fn node_with(
    b: Backend,
    addr: std::net::SocketAddr,
    changed: &[(&'static str, Option<String>)],
) -> Option<(TestApp, String)> {
    let mut opts = checkout::options(addr);
    for (key, value) in changed {
        opts.extra.retain(|(k, _)| k != key);
        opts.extra.extend(value.clone().map(|v| (*key, v)));
    }
    let app = TestApp::start_with(b, opts).await?;
    let token = register_user(&app, "lucia@example.com", "Lucía").await;
    Some((app, token))
}

/// What an error body says to do.
fn details(v: &Value) -> &str {
    v["details"].as_str().unwrap_or_default()
}

async fn epayco_smart_checkout(b: Backend) {
    let (gateways, addr) = checkout::start().await;
    let Some((app, token)) = node_with(b, addr, &[("epayco_test", Some("true".into()))]).await
    else {
        return;
    };
    let pro = plan_id(&app, "Pro").await;

    // ePayco charges dollars: rupees are refused before anything is created.
    let (status, v) = epayco_checkout(&app, &token, pro, "INR").await;
    assert_eq!(status, 422, "{v}");
    assert!(details(&v).contains("choose USD"), "{v}");
    assert!(seen(&gateways).apify_tokens.is_empty());

    let (status, c) = epayco_checkout(&app, &token, pro, "USD").await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["session_id"], "sess_test_1");
    assert_eq!(c["script_url"], format!("http://{addr}/checkout-v2.js"));
    assert_eq!(
        (
            c["amount"].as_str(),
            c["currency"].as_str(),
            c["test"].as_bool()
        ),
        (Some("9.99"), Some("USD"), Some(true))
    );
    let invoice = c["invoice"].as_str().expect("invoice").to_string();
    {
        // One login with the keys (the stand-in refuses others), one session with its token
        // and the documented fields.
        let seen = seen(&gateways);
        assert_eq!(seen.apify_tokens.len(), 1);
        let body = &seen.epayco_sessions[0];
        assert_eq!(body["checkout_version"], "2");
        assert_eq!(body["invoice"], invoice.as_str());
        assert_eq!(
            (&body["amount"], &body["currency"]),
            (&json!("9.99"), &json!("USD"))
        );
        assert_eq!(body["test"], "true");
        assert_eq!(body["description"], "ferrocast Pro, monthly");
        assert_eq!(body["response"], app.url("/dashboard/subscription"));
        assert_eq!(
            body["confirmation"],
            app.url("/api/payments/epayco/confirmation")
        );
        assert_eq!(body["ip"], "127.0.0.1");
        assert_eq!(body["billing"]["email"], "lucia@example.com");
    }
    assert_eq!(
        my_plan(&app, &token).await.0,
        "Free",
        "a session grants nothing"
    );

    // The buyer pays on ePayco's page: the signed confirmation reaches the node, the browser
    // goes back to the page with the reference.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = no_redirects
        .post(format!("http://{addr}/checkout/sess_test_1/pay"))
        .send()
        .await
        .expect("pay");
    assert_eq!(r.status().as_u16(), 303, "{:?}", r.text().await);
    let back = header(&r, "location");
    let reference = back
        .strip_prefix(&app.url("/dashboard/subscription?ref_payco="))
        .expect("back to the page with ref_payco")
        .to_string();
    assert_eq!(my_plan(&app, &token).await.0, "Pro");
    let (status, o) = outcome(&app, &token, &reference).await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(
        (
            o["status"].as_str(),
            o["plan"].as_str(),
            o["gateway_status"].as_str()
        ),
        (Some("paid"), Some("Pro"), Some("Aceptada"))
    );
    assert!(
        o["message"]
            .as_str()
            .is_some_and(|m| m.contains("Pro is active")),
        "{o}"
    );
    let (_, history) = call(&app, "GET", "/api/payments/history", Some(&token), None).await;
    assert_eq!(history["payments"][0]["provider"], "epayco", "{history}");
    assert_eq!(history["payments"][0]["reference"], reference.as_str());

    // The return only reads: somebody else's reference is not found, a bad one is refused, one
    // ePayco does not know yet is said so.
    let other = register_user(&app, "otro@example.com", "Otro").await;
    assert_eq!(outcome(&app, &other, &reference).await.0, 404);
    assert_eq!(outcome(&app, &token, "ref%20x").await.0, 400);
    assert_eq!(outcome(&app, &token, &"a".repeat(65)).await.0, 400);
    let (status, v) = outcome(&app, &token, "ref_unknown").await;
    assert_eq!(status, 503, "{v}");
    assert!(details(&v).contains("Reload"), "{v}");

    // ePayco's own record decides what the page says while no confirmation has come.
    let business = plan_id(&app, "Business").await;
    let (status, c2) = call(
        &app,
        "POST",
        "/api/payments/epayco/checkout",
        Some(&token),
        Some(json!({"plan_id": business, "billing_cycle": "monthly"})),
    )
    .await;
    assert_eq!(status, 200, "{c2}");
    let invoice2 = c2["invoice"].as_str().expect("invoice");
    for (code, status) in [(1, "accepted"), (3, "pending"), (2, "failed")] {
        let record = epayco_record("ref_waiting", "tx_w", invoice2, "29.99", "USD", code);
        seen(&gateways).epayco.insert("ref_waiting".into(), record);
        let (s, o) = outcome(&app, &token, "ref_waiting").await;
        assert_eq!((s, o["status"].as_str()), (200, Some(status)), "{o}");
        assert_eq!(o["plan"], "Business");
    }
    assert_eq!(
        my_plan(&app, &token).await.0,
        "Pro",
        "the return grants nothing"
    );

    // Apify refusing the session: a clear 502.
    seen(&gateways).refuse_sessions = true;
    let (status, v) = epayco_checkout(&app, &token, pro, "USD").await;
    assert_eq!(status, 502, "{v}");
    assert!(details(&v).contains("cannot take payments"), "{v}");
    app.finish().await;

    // Wrong keys: Apify's refusal, said.
    let old_key = Some(format!("{EPAYCO_PRIVATE}_old"));
    let Some((app, token)) = node_with(b, addr, &[("epayco_private_key", old_key)]).await else {
        return;
    };
    let (status, v) = epayco_checkout(&app, &token, pro, "USD").await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(v["code"], "GATEWAY_ERROR");
    assert!(details(&v).contains("Invalid client"), "{v}");
    app.finish().await;

    // Confirmation keys only (the API's orders): the page is not offered ePayco, and a
    // checkout says it is not enabled (what to set is in the operator's log).
    let unset = [("epayco_public_key", None), ("epayco_private_key", None)];
    let Some((app, token)) = node_with(b, addr, &unset).await else {
        return;
    };
    let (_, v) = options(&app, &token, None).await;
    let ids: Vec<&str> = v["gateways"]
        .as_array()
        .expect("gateways")
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert_eq!(ids, ["stripe", "razorpay"]);
    let (status, v) = epayco_checkout(&app, &token, pro, "USD").await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["code"], "GATEWAY_DISABLED", "{v}");
    assert!(
        !details(&v).contains("FERROCAST_"),
        "buyers are not told to set environment variables: {v}"
    );
    app.finish().await;
}

both_backends!(
    currency_follows_the_choice_then_the_browser,
    razorpay_hosted_checkout_callback,
    epayco_smart_checkout,
    the_subscription_page_and_its_policy
);
