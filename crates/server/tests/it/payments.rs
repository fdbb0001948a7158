//! Plans and payments against the local stand-ins for Stripe's, Razorpay's and ePayco's APIs
//! (`support::checkout`: their documented request and reply shapes), with webhooks signed by the
//! gateways' own Python libraries (`tests/py/sign.py`): a full upgrade per gateway, replays,
//! tampering, staleness, out-of-order delivery, upgrades and downgrades, failed renewals and the
//! period job.

use crate::support;

use serde_json::{json, Value};
use support::checkout::{
    self, epayco_confirmation, epayco_record, epayco_signature, seen, Gateways, RZP_ID, RZP_SECRET,
    RZP_WHSEC, STRIPE_WHSEC,
};
use support::{
    call, client, gateway_signatures, my_plan, my_subscription, now_secs, plan_id, Backend, TestApp,
};

// ---------------------------------------------------------------- helpers

async fn register(app: &TestApp, email: &str) -> String {
    support::register_user(app, email, "Creator").await
}

async fn create_source(app: &TestApp, token: &str, name: &str) -> u16 {
    call(
        app,
        "POST",
        "/api/sources",
        Some(token),
        Some(json!({"name": name})),
    )
    .await
    .0
}

fn stripe_event(id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": created, "type": kind, "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "data": {"object": object}}).to_string()
}

fn checkout_session(n: u32, order: &str, customer: &str, sub: &str, amount: i64) -> Value {
    json!({"id": format!("cs_test_{n}"), "object": "checkout.session", "mode": "subscription", "client_reference_id": order, "customer": customer, "subscription": sub, "amount_total": amount, "currency": "usd", "payment_status": "paid", "status": "complete", "metadata": {"order": order}})
}

fn subscription(
    id: &str,
    order: &str,
    customer: &str,
    status: &str,
    start: i64,
    end: i64,
    cancel_at_end: bool,
) -> Value {
    json!({"id": id, "object": "subscription", "customer": customer, "status": status, "cancel_at_period_end": cancel_at_end, "metadata": {"order": order}, "items": {"object": "list", "data": [{"id": format!("si_{id}"), "object": "subscription_item", "current_period_start": start, "current_period_end": end, "price": {"id": "price_x", "unit_amount": 999, "currency": "usd", "recurring": {"interval": "month"}}}]}})
}

/// An invoice of subscription `sub`, carrying the subscription's metadata (`order`) as Stripe
/// copies it onto invoices (`parent.subscription_details.metadata`).
fn invoice(
    id: &str,
    sub: &str,
    order: &str,
    customer: &str,
    amount: i64,
    start: i64,
    end: i64,
) -> Value {
    json!({"id": id, "object": "invoice", "customer": customer, "status": "paid", "amount_paid": amount, "amount_due": amount, "currency": "usd", "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub, "metadata": {"order": order}}}, "lines": {"object": "list", "data": [{"id": format!("il_{id}"), "period": {"start": start, "end": end}}]}})
}

/// `Stripe-Signature` headers for `payloads` at `t`, from Stripe's library.
fn stripe_headers(payloads: &[String], t: i64) -> Vec<String> {
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

async fn deliver_stripe(app: &TestApp, payload: &str, header: &str) -> (u16, Value) {
    let r = client()
        .post(app.url("/api/payments/stripe/webhook"))
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(payload.to_string())
        .send()
        .await
        .expect("webhook");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Signs and delivers events in order; each must be accepted.
async fn send_stripe(app: &TestApp, payloads: &[String]) {
    let headers = stripe_headers(payloads, now_secs());
    for (p, h) in payloads.iter().zip(&headers) {
        let (status, body) = deliver_stripe(app, p, h).await;
        assert_eq!(status, 200, "{p} → {body}");
    }
}

async fn checkout(app: &TestApp, token: &str, plan: i64) -> String {
    let (status, v) = call(
        app,
        "POST",
        "/api/payments/stripe/checkout",
        Some(token),
        Some(json!({"plan_id": plan, "billing_cycle": "monthly"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let session = v["session_id"].as_str().expect("session").to_string();
    assert!(
        v["url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/c/pay/{session}"))),
        "Stripe's Checkout page for the session: {v}"
    );
    session
}

async fn payments_of(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, v) = call(app, "GET", "/api/payments/history", Some(token), None).await;
    assert_eq!(status, 200, "{v}");
    v["payments"].as_array().cloned().unwrap_or_default()
}

// ---------------------------------------------------------------- tests

async fn stripe_upgrade_downgrade_renewal_and_the_period_job(b: Backend) {
    let (gateway, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    let token = register(&app, "payer@example.com").await;
    let (pro, business) = (plan_id(&app, "Pro").await, plan_id(&app, "Business").await);
    assert_eq!(my_plan(&app, &token).await.0, "Free");
    assert_eq!(create_source(&app, &token, "one").await, 201);
    assert_eq!(
        create_source(&app, &token, "two").await,
        403,
        "Free allows one source"
    );

    // Checkout: the session carries the order and the plan's price.
    checkout(&app, &token, pro).await;
    let form = seen(&gateway).sessions[0].clone();
    let order = form["client_reference_id"].clone();
    assert_eq!(form["mode"], "subscription");
    assert_eq!(form["line_items[0][price_data][unit_amount]"], "999");
    assert_eq!(form["line_items[0][price_data][currency]"], "usd");
    assert_eq!(
        form["line_items[0][price_data][recurring][interval]"],
        "month"
    );
    assert_eq!(form["customer_email"], "payer@example.com");
    assert_eq!(form["subscription_data[metadata][order]"], order);

    // A tampered body and a stale signature change nothing.
    let t0 = now_secs();
    let completed = stripe_event(
        "evt_c1",
        "checkout.session.completed",
        t0,
        checkout_session(1, &order, "cus_1", "sub_1", 999),
    );
    let header = &stripe_headers(std::slice::from_ref(&completed), now_secs())[0];
    let tampered = completed.replace("\"amount_total\":999", "\"amount_total\":1");
    assert_ne!(tampered, completed);
    assert_eq!(deliver_stripe(&app, &tampered, header).await.0, 400);
    let stale = &stripe_headers(std::slice::from_ref(&completed), now_secs() - 301)[0];
    let (status, body) = deliver_stripe(&app, &completed, stale).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(deliver_stripe(&app, &completed, "t=1,v1=00").await.0, 400);
    assert_eq!(my_plan(&app, &token).await.0, "Free", "nothing changed");

    // The real thing: checkout completed, subscription created, invoice paid → Pro at once.
    let period_end = t0 + 30 * 86_400;
    send_stripe(
        &app,
        &[
            completed.clone(),
            stripe_event(
                "evt_s1",
                "customer.subscription.created",
                t0,
                subscription("sub_1", &order, "cus_1", "active", t0, period_end, false),
            ),
            stripe_event(
                "evt_i1",
                "invoice.paid",
                t0,
                invoice("in_1", "sub_1", &order, "cus_1", 999, t0, period_end),
            ),
        ],
    )
    .await;
    assert_eq!(
        my_plan(&app, &token).await,
        ("Pro".to_string(), "active".to_string())
    );
    assert_eq!(
        create_source(&app, &token, "two").await,
        201,
        "limits raised at once"
    );
    assert_eq!(create_source(&app, &token, "three").await, 201);
    assert_eq!(
        create_source(&app, &token, "four").await,
        403,
        "Pro allows three"
    );
    // A replay of any of them changes nothing.
    let (status, body) = deliver_stripe(
        &app,
        &completed,
        &stripe_headers(std::slice::from_ref(&completed), now_secs())[0],
    )
    .await;
    assert_eq!((status, body["applied"].clone()), (200, json!(false)));
    let payments = payments_of(&app, &token).await;
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(
        (
            payments[0]["amount"].as_str(),
            payments[0]["currency"].as_str()
        ),
        (Some("9.99"), Some("USD"))
    );
    let receipt = payments[0]["id"].as_str().expect("id");
    let (status, r) = call(
        &app,
        "GET",
        &format!("/api/payments/receipts/{receipt}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["description"], "ferrocast Pro");
    assert!(r["billed_to"]
        .as_str()
        .is_some_and(|b| b.contains("payer@example.com")));

    // The customer portal opens for the recorded customer.
    let (status, p) = call(
        &app,
        "POST",
        "/api/payments/stripe/portal",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        seen(&gateway).portals,
        [("cus_1".to_string(), app.url("/dashboard/subscription"))]
    );

    // An older update delivered late changes nothing: it says cancel at period end, but the
    // newer one (already applied) does not.
    send_stripe(
        &app,
        &[
            stripe_event(
                "evt_s3",
                "customer.subscription.updated",
                t0 + 20,
                subscription("sub_1", &order, "cus_1", "active", t0, period_end, false),
            ),
            stripe_event(
                "evt_s2",
                "customer.subscription.updated",
                t0 + 10,
                subscription("sub_1", &order, "cus_1", "active", t0, period_end, true),
            ),
        ],
    )
    .await;
    let mine = my_subscription(&app, &token).await;
    assert_eq!(
        mine["subscription"]["cancel_at_period_end"], false,
        "{mine}"
    );

    // Ending at the period's end, and changing one's mind: Stripe is told each time.
    let (status, v) = call(
        &app,
        "POST",
        "/api/subscriptions/cancel",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (status, v["cancel_at_period_end"].clone()),
        (200, json!(true)),
        "{v}"
    );
    let mine = my_subscription(&app, &token).await;
    assert_eq!(mine["subscription"]["cancel_at_period_end"], true);
    assert_eq!(
        my_plan(&app, &token).await.0,
        "Pro",
        "still Pro until the period ends"
    );
    let (status, _) = call(
        &app,
        "POST",
        "/api/subscriptions/resume",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        seen(&gateway).updated,
        [
            ("sub_1".to_string(), "true".to_string()),
            ("sub_1".to_string(), "false".to_string())
        ]
    );

    // Upgrade to Business through a new Checkout: the Pro subscription ends here and at Stripe
    // (Stripe fails the first attempt; the period job tries again).
    seen(&gateway).fail_cancels = 1;
    checkout(&app, &token, business).await;
    let order2 = seen(&gateway).sessions[1]["client_reference_id"].clone();
    send_stripe(
        &app,
        &[
            stripe_event(
                "evt_c2",
                "checkout.session.completed",
                t0 + 30,
                checkout_session(2, &order2, "cus_1", "sub_2", 2999),
            ),
            stripe_event(
                "evt_i2",
                "invoice.paid",
                t0 + 30,
                invoice(
                    "in_2",
                    "sub_2",
                    &order2,
                    "cus_1",
                    2999,
                    t0 + 30,
                    period_end + 30,
                ),
            ),
        ],
    )
    .await;
    assert_eq!(my_plan(&app, &token).await.0, "Business");
    assert!(
        support_eventually(|| seen(&gateway).fail_cancels == 0).await,
        "the first cancellation was tried"
    );
    assert!(seen(&gateway).canceled.is_empty());
    let state = app.running.as_ref().expect("running").state.clone();
    ferrocast_server::gateways::roll_periods(&state).await;
    assert_eq!(
        seen(&gateway).canceled,
        ["sub_1"],
        "sub_1 canceled at Stripe on the retry"
    );
    assert_eq!(create_source(&app, &token, "four").await, 201);

    // Downgrade to Pro: nothing is deleted, new sources over the limit are refused.
    checkout(&app, &token, pro).await;
    let order3 = seen(&gateway).sessions[2]["client_reference_id"].clone();
    send_stripe(
        &app,
        &[stripe_event(
            "evt_c3",
            "checkout.session.completed",
            t0 + 40,
            checkout_session(3, &order3, "cus_1", "sub_3", 999),
        )],
    )
    .await;
    assert_eq!(my_plan(&app, &token).await.0, "Pro");
    let mine = my_subscription(&app, &token).await;
    assert_eq!(
        mine["usage"]["sources_used"], 4,
        "no source deleted: {mine}"
    );
    assert_eq!(create_source(&app, &token, "five").await, 403);

    // A failed renewal: past due, still Pro. A failure of an invoice that was paid after all
    // (reported late) changes nothing; Stripe's own end of the subscription (its dunning)
    // puts the user back on Free.
    send_stripe(
        &app,
        &[
            stripe_event(
                "evt_i3",
                "invoice.paid",
                t0 + 45,
                invoice("in_3", "sub_3", &order3, "cus_1", 999, t0, period_end),
            ),
            stripe_event(
                "evt_f3",
                "invoice.payment_failed",
                t0 + 44,
                invoice("in_3", "sub_3", &order3, "cus_1", 999, t0, period_end),
            ),
        ],
    )
    .await;
    assert_eq!(
        my_plan(&app, &token).await,
        ("Pro".to_string(), "active".to_string()),
        "paid after all"
    );
    send_stripe(
        &app,
        &[stripe_event(
            "evt_f4",
            "invoice.payment_failed",
            t0 + 50,
            invoice("in_4", "sub_3", &order3, "cus_1", 999, t0, period_end),
        )],
    )
    .await;
    assert_eq!(
        my_plan(&app, &token).await,
        ("Pro".to_string(), "past_due".to_string())
    );
    let running = app.running.as_ref().expect("running");
    let db = &running.state.db;
    assert_eq!(
        ferrocast_server::gateways::roll_periods(&running.state).await,
        0,
        "Stripe's subscriptions follow Stripe's events, not the local period job"
    );
    send_stripe(
        &app,
        &[stripe_event(
            "evt_d3",
            "customer.subscription.deleted",
            t0 + 60,
            subscription("sub_3", &order3, "cus_1", "canceled", t0, period_end, false),
        )],
    )
    .await;
    assert_eq!(my_plan(&app, &token).await.0, "Free");
    let statuses: Vec<String> = payments_of(&app, &token)
        .await
        .iter()
        .map(|p| p["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["failed", "failed", "succeeded", "succeeded", "succeeded"]
    );

    // A Checkout paid by a method that settles later grants nothing until it settles.
    checkout(&app, &token, pro).await;
    let order4 = seen(&gateway).sessions[3]["client_reference_id"].clone();
    let mut unpaid = checkout_session(4, &order4, "cus_1", "sub_4", 999);
    unpaid["payment_status"] = json!("unpaid");
    send_stripe(
        &app,
        &[
            stripe_event(
                "evt_c4",
                "checkout.session.completed",
                t0 + 70,
                unpaid.clone(),
            ),
            stripe_event(
                "evt_s4",
                "customer.subscription.created",
                t0 + 70,
                subscription(
                    "sub_4",
                    &order4,
                    "cus_1",
                    "incomplete",
                    t0,
                    period_end,
                    false,
                ),
            ),
        ],
    )
    .await;
    assert_eq!(my_plan(&app, &token).await.0, "Free", "not paid yet");
    let mut settled = unpaid;
    settled["payment_status"] = json!("paid");
    send_stripe(
        &app,
        &[stripe_event(
            "evt_a4",
            "checkout.session.async_payment_succeeded",
            t0 + 80,
            settled,
        )],
    )
    .await;
    assert_eq!(
        my_plan(&app, &token).await,
        ("Pro".to_string(), "active".to_string())
    );

    // Administrators see the subscriptions and the revenue.
    let admin = register(&app, "admin@example.com").await;
    let admin_user = db
        .user_by_email("admin@example.com")
        .await
        .expect("q")
        .expect("user");
    db.set_role(admin_user.id, "admin", 0).await.expect("role");
    let (status, stats) = call(&app, "GET", "/api/admin/stats", Some(&admin), None).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        stats["revenue"]["all_time"],
        json!([{"currency": "USD", "amount_minor": 4997, "amount": "49.97", "payments": 3}])
    );
    let (status, subs) = call(
        &app,
        "GET",
        "/api/admin/subscriptions?per_page=2",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{subs}");
    assert_eq!(subs["total"], 4);
    assert_eq!(subs["subscriptions"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        call(&app, "GET", "/api/admin/stats", Some(&token), None)
            .await
            .0,
        403
    );
    app.finish().await;
}

async fn support_eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if f() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    f()
}

/// Moves a subscription's period end and grace (what time would do).
async fn age(app: &TestApp, id: i64, period_end: i64, grace_until: Option<i64>) {
    let sql =
        "UPDATE user_subscriptions SET current_period_end = $1, grace_until = $2 WHERE id = $3";
    if app.database_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&app.database_url).await.expect("pg");
        sqlx::query(sql)
            .bind(period_end)
            .bind(grace_until)
            .bind(id)
            .execute(&pool)
            .await
            .expect("update");
    } else {
        let pool = sqlx::SqlitePool::connect(&app.database_url)
            .await
            .expect("sqlite");
        sqlx::query(sql)
            .bind(period_end)
            .bind(grace_until)
            .bind(id)
            .execute(&pool)
            .await
            .expect("update");
    }
}

async fn razorpay_and_epayco_upgrades(b: Backend) {
    let (gateway, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    let token = register(&app, "rupee@example.com").await;
    let pro = plan_id(&app, "Pro").await;
    assert_eq!(create_source(&app, &token, "one").await, 201);
    assert_eq!(
        create_source(&app, &token, "two").await,
        403,
        "Free allows one source"
    );

    // Razorpay: the seed's create-order, in paise by default.
    let (status, order) = call(
        &app,
        "POST",
        "/api/payments/create-order",
        Some(&token),
        Some(json!({"plan_id": pro, "billing_cycle": "monthly"})),
    )
    .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(
        (
            order["amount"].as_i64(),
            order["currency"].as_str(),
            order["key_id"].as_str()
        ),
        (Some(79_900), Some("INR"), Some(RZP_ID))
    );
    let order_id = order["order_id"].as_str().expect("order id").to_string();
    assert_eq!(seen(&gateway).orders[0]["amount"], 79_900);
    assert_eq!(seen(&gateway).orders[0]["receipt"], order["receipt"]);

    // Checkout's signature, as Razorpay's library accepts it; a wrong one is refused.
    let sigs = gateway_signatures(
        &json!({"razorpay_payment": [{"order_id": order_id, "payment_id": "pay_Test0001", "key_id": RZP_ID, "key_secret": RZP_SECRET}]}),
    );
    let signature = sigs["razorpay_payment"][0]
        .as_str()
        .expect("sig")
        .to_string();
    let (status, _) = call(
        &app,
        "POST",
        "/api/payments/verify",
        Some(&token),
        Some(json!({"order_id": order_id, "payment_id": "pay_Test0002", "signature": signature})),
    )
    .await;
    assert_eq!(status, 400, "a signature for another payment");
    assert_eq!(my_plan(&app, &token).await.0, "Free");
    let (status, v) = call(
        &app,
        "POST",
        "/api/payments/verify",
        Some(&token),
        Some(json!({"order_id": order_id, "payment_id": "pay_Test0001", "signature": signature})),
    )
    .await;
    assert_eq!((status, v["applied"].clone()), (200, json!(true)), "{v}");
    assert_eq!(
        my_plan(&app, &token).await,
        ("Pro".to_string(), "active".to_string())
    );
    assert_eq!(
        create_source(&app, &token, "two").await,
        201,
        "limits raised at once"
    );

    // The webhook for the same payment credits nothing more; a tampered one is refused.
    let body = json!({"entity": "event", "account_id": "acc_Test", "event": "payment.captured", "contains": ["payment"], "payload": {"payment": {"entity": {"id": "pay_Test0001", "entity": "payment", "amount": 79_900, "currency": "INR", "status": "captured", "order_id": order_id, "method": "upi", "captured": true}}}, "created_at": now_secs()}).to_string();
    let sig =
        gateway_signatures(&json!({"razorpay_webhook": [{"body": body, "secret": RZP_WHSEC}]}))
            ["razorpay_webhook"][0]
            .as_str()
            .expect("sig")
            .to_string();
    let hook = |body: String, sig: String, id: &'static str| {
        let app_url = app.url("/api/payments/webhook");
        async move {
            let r = client()
                .post(app_url)
                .header("content-type", "application/json")
                .header("x-razorpay-signature", sig)
                .header("x-razorpay-event-id", id)
                .body(body)
                .send()
                .await
                .expect("webhook");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(
        hook(body.replace("79900", "100"), sig.clone(), "evt_R1")
            .await
            .0,
        400
    );
    let (status, v) = hook(body.clone(), sig.clone(), "evt_R1").await;
    assert_eq!(
        (status, v["applied"].clone()),
        (200, json!(false)),
        "already credited by verify: {v}"
    );
    assert_eq!(hook(body, sig, "evt_R1").await.0, 200);
    let payments = payments_of(&app, &token).await;
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(
        (
            payments[0]["amount"].as_str(),
            payments[0]["currency"].as_str()
        ),
        (Some("799.00"), Some("INR"))
    );

    // Paying again for the same plan renews it: one more cycle after the current one.
    let before = my_subscription(&app, &token).await;
    let (status, order2) = call(
        &app,
        "POST",
        "/api/payments/create-order",
        Some(&token),
        Some(json!({"plan_id": pro, "billing_cycle": "monthly"})),
    )
    .await;
    assert_eq!(status, 200);
    let order2_id = order2["order_id"].as_str().expect("id").to_string();
    let body2 = json!({"entity": "event", "event": "payment.captured", "payload": {"payment": {"entity": {"id": "pay_Test0003", "amount": 79_900, "currency": "INR", "status": "captured", "order_id": order2_id}}}, "created_at": now_secs()}).to_string();
    let sig2 =
        gateway_signatures(&json!({"razorpay_webhook": [{"body": body2, "secret": RZP_WHSEC}]}))
            ["razorpay_webhook"][0]
            .as_str()
            .expect("sig")
            .to_string();
    let (status, v) = hook(body2, sig2, "evt_R2").await;
    assert_eq!((status, v["applied"].clone()), (200, json!(true)), "{v}");
    let after = my_subscription(&app, &token).await;
    assert_eq!(
        after["subscription"]["id"], before["subscription"]["id"],
        "the same subscription, renewed"
    );
    assert!(
        after["subscription"]["current_period_end"].as_str()
            > before["subscription"]["current_period_end"].as_str()
    );

    // Renewing with the other cycle keeps the days left and switches the cycle.
    let (status, order3) = call(
        &app,
        "POST",
        "/api/payments/create-order",
        Some(&token),
        Some(json!({"plan_id": pro, "billing_cycle": "yearly"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(order3["amount"], 799_900);
    let body3 = json!({"entity": "event", "event": "payment.captured", "payload": {"payment": {"entity": {"id": "pay_Test0004", "amount": 799_900, "currency": "INR", "status": "captured", "order_id": order3["order_id"]}}}, "created_at": now_secs()}).to_string();
    let sig3 =
        gateway_signatures(&json!({"razorpay_webhook": [{"body": body3, "secret": RZP_WHSEC}]}))
            ["razorpay_webhook"][0]
            .as_str()
            .expect("sig")
            .to_string();
    assert_eq!(hook(body3, sig3, "evt_R3").await.0, 200);
    let yearly = my_subscription(&app, &token).await;
    assert_eq!(yearly["subscription"]["id"], before["subscription"]["id"]);
    assert_eq!(yearly["subscription"]["billing_cycle"], "yearly");
    assert!(
        yearly["subscription"]["current_period_end"].as_str()
            > after["subscription"]["current_period_end"].as_str()
    );

    // The period job: a period that ends unpaid makes it past due — still Pro — for the grace,
    // then it ends and the user is on Free; their sources stay.
    let state = app.running.as_ref().expect("running").state.clone();
    let sub_id = yearly["subscription"]["id"].as_i64().expect("id");
    assert_eq!(ferrocast_server::gateways::roll_periods(&state).await, 0);
    let an_hour_ago = (now_secs() - 3600) * 1000;
    age(&app, sub_id, an_hour_ago, None).await;
    assert_eq!(ferrocast_server::gateways::roll_periods(&state).await, 1);
    assert_eq!(
        my_plan(&app, &token).await,
        ("Pro".to_string(), "past_due".to_string())
    );
    assert_eq!(
        ferrocast_server::gateways::roll_periods(&state).await,
        0,
        "within the grace"
    );
    age(&app, sub_id, an_hour_ago, Some(an_hour_ago + 1)).await;
    assert_eq!(ferrocast_server::gateways::roll_periods(&state).await, 1);
    assert_eq!(my_plan(&app, &token).await.0, "Free");
    let mine = my_subscription(&app, &token).await;
    assert_eq!(mine["usage"]["sources_used"], 2, "nothing deleted");

    // ePayco: an order, then a signed confirmation upgrades another user to Business.
    let token2 = register(&app, "peso@example.com").await;
    let business = plan_id(&app, "Business").await;
    assert_eq!(create_source(&app, &token2, "one").await, 201);
    assert_eq!(create_source(&app, &token2, "two").await, 403);
    let (status, e) = call(
        &app,
        "POST",
        "/api/payments/epayco/create-order",
        Some(&token2),
        Some(json!({"plan_id": business, "billing_cycle": "yearly"})),
    )
    .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(
        (e["amount"].as_str(), e["currency"].as_str()),
        (Some("299.99"), Some("USD"))
    );
    let invoice_id = e["invoice"].as_str().expect("invoice").to_string();
    let sig = epayco_signature("ref_9001", "tx_9001", "299.99", "USD");
    let confirm = |sig: String, amount: &str| {
        let url = app.url("/api/payments/epayco/confirmation");
        let form = epayco_confirmation("ref_9001", "tx_9001", &invoice_id, amount, "USD", &sig);
        async move {
            client()
                .post(url)
                .form(&form)
                .send()
                .await
                .expect("confirmation")
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        confirm(sig.clone(), "1.00").await,
        400,
        "amount changed after signing"
    );
    // ePayco still has the payment pending: a confirmation claiming acceptance (the outcome is
    // not signed) changes nothing.
    let record = |cod: i64| epayco_record("ref_9001", "tx_9001", &invoice_id, "299.99", "USD", cod);
    seen(&gateway).epayco.insert("ref_9001".into(), record(3));
    assert_eq!(confirm(sig.clone(), "299.99").await, 200);
    assert_eq!(
        my_plan(&app, &token2).await.0,
        "Free",
        "ePayco's record, not the claim, decides"
    );
    seen(&gateway).epayco.insert("ref_9001".into(), record(1));
    assert_eq!(confirm(sig.clone(), "299.99").await, 200);
    assert_eq!(confirm(sig, "299.99").await, 200, "a repeated confirmation");
    assert_eq!(
        my_plan(&app, &token2).await,
        ("Business".to_string(), "active".to_string())
    );
    for name in ["two", "three", "four"] {
        assert_eq!(
            create_source(&app, &token2, name).await,
            201,
            "Business allows ten"
        );
    }
    assert_eq!(payments_of(&app, &token2).await.len(), 1);
    app.finish().await;
}

/// A gateway without keys is off and says so.
async fn a_gateway_without_keys_is_disabled(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let token = register(&app, "nokeys@example.com").await;
    let pro = plan_id(&app, "Pro").await;
    let (status, v) = call(
        &app,
        "POST",
        "/api/payments/stripe/checkout",
        Some(&token),
        Some(json!({"plan_id": pro, "billing_cycle": "monthly"})),
    )
    .await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["code"], "GATEWAY_DISABLED");
    // The buyer is told what to do; which settings are missing is the operator's to read (in
    // the log), not the buyer's.
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("Stripe"))
            && v["details"]
                .as_str()
                .is_some_and(|d| d.contains("another method") && !d.contains("FERROCAST_")),
        "{v}"
    );
    let (status, v) = call(&app, "POST", "/api/payments/webhook", None, Some(json!({}))).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (503, Some("GATEWAY_DISABLED"))
    );
    // ePayco's checkout and the buyer's return, without ePayco's keys.
    let (status, v) = call(
        &app,
        "POST",
        "/api/payments/epayco/checkout",
        Some(&token),
        Some(json!({"plan_id": pro, "billing_cycle": "monthly"})),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (503, Some("GATEWAY_DISABLED")),
        "{v}"
    );
    // The buyer is told what to do; which settings are missing is the operator's to read (in
    // the log), not the buyer's.
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("ePayco"))
            && v["details"]
                .as_str()
                .is_some_and(|d| d.contains("another method") && !d.contains("FERROCAST_")),
        "{v}"
    );
    let path = "/api/payments/epayco/reference/ref_1";
    let (status, v) = call(&app, "GET", path, Some(&token), None).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (503, Some("GATEWAY_DISABLED")),
        "{v}"
    );
    app.finish().await;
}

/// One delivery of the storm: which gateway, the body, its signature.
#[derive(Clone)]
struct Delivery {
    stripe: bool,
    body: String,
    signature: String,
    event_id: String,
}

async fn deliver(app_url: &str, d: &Delivery) -> u16 {
    let c = client();
    let r = if d.stripe {
        c.post(format!("{app_url}/api/payments/stripe/webhook"))
            .header("stripe-signature", &d.signature)
    } else {
        c.post(format!("{app_url}/api/payments/webhook"))
            .header("x-razorpay-signature", &d.signature)
            .header("x-razorpay-event-id", &d.event_id)
    };
    r.header("content-type", "application/json")
        .body(d.body.clone())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// 10 000 deliveries of 170 genuine events (Stripe and Razorpay, 35 buyers) picked at random —
/// every event at least once, most many times — in random order, 16 at a time, with tampered
/// copies among them; what the gateways would do with a refusal (deliver again later) is done
/// until every genuine event was accepted. Each payment is credited exactly once and each
/// subscription ends in the state of its newest event.
async fn ten_thousand_replayed_duplicated_and_reordered_webhooks(b: Backend) {
    use futures_util::StreamExt;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    let (gateway, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    let pro = plan_id(&app, "Pro").await;
    let t0 = now_secs();
    let mut events: Vec<Delivery> = Vec::new();
    let mut stripe_payloads = Vec::new();
    let mut buyers = Vec::new();
    for u in 0..25 {
        let token = register(&app, &format!("stripe{u}@example.com")).await;
        checkout(&app, &token, pro).await;
        let order = seen(&gateway).sessions[u]["client_reference_id"].clone();
        let (sub, cus) = (format!("sub_storm{u}"), format!("cus_storm{u}"));
        let (end1, end2) = (t0 + 30 * 86_400, t0 + 60 * 86_400);
        for (i, (kind, at, object)) in [
            (
                "checkout.session.completed",
                t0,
                checkout_session(100 + u as u32, &order, &cus, &sub, 999),
            ),
            (
                "customer.subscription.created",
                t0 + 1,
                subscription(&sub, &order, &cus, "active", t0, end1, false),
            ),
            (
                "customer.subscription.updated",
                t0 + 2,
                subscription(&sub, &order, &cus, "active", t0, end1, true),
            ),
            (
                "customer.subscription.updated",
                t0 + 3,
                subscription(&sub, &order, &cus, "active", end1, end2, false),
            ),
            (
                "invoice.paid",
                t0 + 1,
                invoice(&format!("in_a{u}"), &sub, &order, &cus, 999, t0, end1),
            ),
            (
                "invoice.paid",
                t0 + 3,
                invoice(&format!("in_b{u}"), &sub, &order, &cus, 999, end1, end2),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            stripe_payloads.push(stripe_event(&format!("evt_storm{u}_{i}"), kind, at, object));
        }
        buyers.push((token, true));
    }
    let headers = stripe_headers(&stripe_payloads, now_secs());
    for (body, signature) in stripe_payloads.into_iter().zip(headers) {
        events.push(Delivery {
            stripe: true,
            body,
            signature,
            event_id: String::new(),
        });
    }
    let mut rzp_bodies = Vec::new();
    for u in 0..10 {
        let token = register(&app, &format!("rupee{u}@example.com")).await;
        let (status, order) = call(
            &app,
            "POST",
            "/api/payments/create-order",
            Some(&token),
            Some(json!({"plan_id": pro, "billing_cycle": "monthly"})),
        )
        .await;
        assert_eq!(status, 200, "{order}");
        let order_id = order["order_id"].as_str().expect("order").to_string();
        for kind in ["payment.captured", "order.paid"] {
            rzp_bodies.push((
                format!("evt_rzp{u}_{kind}"),
                json!({"entity": "event", "event": kind, "payload": {"payment": {"entity": {"id": format!("pay_Storm{u:04}"), "amount": 79_900, "currency": "INR", "status": "captured", "order_id": order_id}}}, "created_at": t0}).to_string(),
            ));
        }
        buyers.push((token, false));
    }
    let req: Vec<Value> = rzp_bodies
        .iter()
        .map(|(_, b)| json!({"body": b, "secret": RZP_WHSEC}))
        .collect();
    let sigs = gateway_signatures(&json!({ "razorpay_webhook": req }));
    for ((id, body), sig) in rzp_bodies
        .into_iter()
        .zip(sigs["razorpay_webhook"].as_array().expect("sigs"))
    {
        events.push(Delivery {
            stripe: false,
            body,
            signature: sig.as_str().expect("sig").to_string(),
            event_id: id,
        });
    }
    assert_eq!(events.len(), 170);

    let seed: u64 = rand::thread_rng().gen();
    eprintln!("storm seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut storm: Vec<(Delivery, bool)> = events.iter().map(|e| (e.clone(), true)).collect();
    while storm.len() < 10_000 {
        let mut e = events.choose(&mut rng).expect("event").clone();
        // One in fifty copies is tampered with: its amounts changed after signing.
        let genuine = rng.gen_ratio(49, 50);
        if !genuine {
            e.body = e.body.replace("999", "1").replace("79900", "1");
        }
        storm.push((e, genuine));
    }
    storm.shuffle(&mut rng);
    let base = app.url("");
    let mut pending = storm;
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds <= 30, "{} deliveries never accepted", pending.len());
        let results: Vec<((Delivery, bool), u16)> = futures_util::stream::iter(pending)
            .map(|(d, genuine)| {
                let base = base.clone();
                async move {
                    let status = deliver(&base, &d).await;
                    ((d, genuine), status)
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        pending = Vec::new();
        for ((d, genuine), status) in results {
            match (genuine, status) {
                (true, 200) => {}
                (false, 400) => {}
                // Not yet known (an event that overtook its creator): delivered again later.
                (true, 503) => pending.push((d, true)),
                (g, s) => panic!("genuine={g} answered {s}: {}", d.body),
            }
        }
    }
    eprintln!("storm delivered in {rounds} rounds");

    for (i, (token, stripe)) in buyers.iter().enumerate() {
        let payments = payments_of(&app, token).await;
        let mine = my_subscription(&app, token).await;
        assert_eq!(
            mine["subscription"]["plan"]["name"], "Pro",
            "buyer {i}: {mine}"
        );
        assert_eq!(mine["subscription"]["status"], "active", "buyer {i}");
        if *stripe {
            let refs: std::collections::BTreeSet<_> = payments
                .iter()
                .map(|p| p["reference"].as_str().unwrap_or_default().to_string())
                .collect();
            assert_eq!(
                payments.len(),
                2,
                "buyer {i}: each invoice once: {payments:?}"
            );
            assert_eq!(refs.len(), 2);
            assert_eq!(
                mine["subscription"]["cancel_at_period_end"], false,
                "the newest update wins: {mine}"
            );
        } else {
            assert_eq!(payments.len(), 1, "buyer {i}: {payments:?}");
        }
    }
    app.finish().await;
}

// ---------------------------------------------------------------- webhooks never wedge

/// One series of the node's `/metrics`, read from loopback (0 when it is not there yet).
async fn metric(app: &TestApp, series: &str) -> f64 {
    support::metric_value(app, series).await.unwrap_or(0.0)
}

/// Rows of the node's database that `sql` counts.
async fn count_rows(app: &TestApp, sql: &str) -> i64 {
    match &app.running.as_ref().expect("running").state.db {
        ferrocast_db::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        ferrocast_db::Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await,
    }
    .expect("count")
}

/// Everything a payment could change: each user's subscription, usage, source limit and
/// payments, and the billing tables' sizes.
async fn billing_state(app: &TestApp, tokens: &[&str]) -> Value {
    let mut users = Vec::new();
    for token in tokens {
        let mine = my_subscription(app, token).await;
        let (_, limit) = call(
            app,
            "POST",
            "/api/subscriptions/check-limits",
            Some(token),
            Some(json!({"operation": "create_source"})),
        )
        .await;
        users
            .push(json!({"mine": mine, "limit": limit, "payments": payments_of(app, token).await}));
    }
    let mut tables = Vec::new();
    for table in [
        "user_subscriptions",
        "payments",
        "billing_customers",
        "payment_orders WHERE status <> 'created'",
    ] {
        tables.push(count_rows(app, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    json!({"users": users, "tables": tables})
}

/// Signs `payloads` now and delivers them in order: each answer.
async fn stripe_answers(app: &TestApp, payloads: &[String]) -> Vec<(u16, Value)> {
    let headers = stripe_headers(payloads, now_secs());
    let mut out = Vec::new();
    for (p, h) in payloads.iter().zip(&headers) {
        out.push(deliver_stripe(app, p, h).await);
    }
    out
}

/// A Razorpay webhook, signed with the webhook secret, under event id `id`.
async fn razorpay_answer(app: &TestApp, body: &Value, id: &str) -> (u16, Value) {
    let body = body.to_string();
    let sig =
        gateway_signatures(&json!({"razorpay_webhook": [{"body": body, "secret": RZP_WHSEC}]}))
            ["razorpay_webhook"][0]
            .as_str()
            .expect("sig")
            .to_string();
    let r = client()
        .post(app.url("/api/payments/webhook"))
        .header("content-type", "application/json")
        .header("x-razorpay-signature", sig)
        .header("x-razorpay-event-id", id)
        .body(body)
        .send()
        .await
        .expect("webhook");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// A signed ePayco confirmation of `reference` for `invoice`, which ePayco's own record says
/// was accepted for `amount` `currency`.
async fn epayco_answer(
    app: &TestApp,
    gateway: &Gateways,
    reference: &str,
    invoice: &str,
    amount: &str,
    currency: &str,
) -> (u16, Value) {
    let tx = format!("tx_{reference}");
    let record = epayco_record(reference, &tx, invoice, amount, currency, 1);
    seen(gateway).epayco.insert(reference.into(), record);
    let sig = epayco_signature(reference, &tx, amount, currency);
    let r = client()
        .post(app.url("/api/payments/epayco/confirmation"))
        .form(&epayco_confirmation(
            reference, &tx, invoice, amount, currency, &sig,
        ))
        .send()
        .await
        .expect("confirmation");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// How the node recorded a gateway event: (outcome, reason), if it recorded it.
async fn recorded(app: &TestApp, provider: &str, id: &str) -> Option<(String, Option<String>)> {
    let db = &app.running.as_ref().expect("running").state.db;
    db.gateway_event(provider, id)
        .await
        .expect("query")
        .map(|e| (e.outcome, e.reason))
}

fn ignored(reason: &str) -> Option<(String, Option<String>)> {
    Some(("ignored".to_string(), Some(reason.to_string())))
}

const NOT_APPLIED: (u16, bool) = (200, false);

fn outcome(answer: &(u16, Value)) -> (u16, bool) {
    (answer.0, answer.1["applied"].as_bool().unwrap_or(true))
}

/// Signed events about objects this deployment did not create, or will not learn of, or older
/// than the 7-day bound: each answers 200 `{"received":true,"applied":false}`, changes nothing,
/// is recorded with its reason (a replay is a duplicate, still 200) and counted once in
/// `ferrocast_webhook_events_ignored_total`. Only an event about an object of ours whose
/// creating event is still to come answers 503, and is applied once that event came.
async fn events_about_objects_we_did_not_create_are_acknowledged_recorded_and_counted(b: Backend) {
    let (gateway, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    let pro = plan_id(&app, "Pro").await;
    let t0 = now_secs();
    let week_ago = t0 - 7 * 86_400 - 60;
    // A subscriber, with a Pro subscription (sub_1) the usual way.
    let token = register(&app, "subscriber@example.com").await;
    checkout(&app, &token, pro).await;
    let order = seen(&gateway).sessions[0]["client_reference_id"].clone();
    let end = t0 + 30 * 86_400;
    send_stripe(
        &app,
        &[
            stripe_event(
                "evt_c1",
                "checkout.session.completed",
                t0,
                checkout_session(1, &order, "cus_1", "sub_1", 999),
            ),
            stripe_event(
                "evt_i1",
                "invoice.paid",
                t0,
                invoice("in_1", "sub_1", &order, "cus_1", 999, t0, end),
            ),
        ],
    )
    .await;
    assert_eq!(my_plan(&app, &token).await.0, "Pro");
    // Someone on Free whose Checkout is open (its order is recorded; Stripe has not said more).
    let waiting = register(&app, "waiting@example.com").await;
    checkout(&app, &waiting, pro).await;
    let open_order = seen(&gateway).sessions[1]["client_reference_id"].clone();
    // A Razorpay and an ePayco buyer with orders of their own.
    let rupee = register(&app, "rupee@example.com").await;
    let (status, _) = call(
        &app,
        "POST",
        "/api/payments/create-order",
        Some(&rupee),
        Some(json!({"plan_id": pro, "billing_cycle": "monthly"})),
    )
    .await;
    assert_eq!(status, 200);
    let tokens = [token.as_str(), waiting.as_str(), rupee.as_str()];
    let before = billing_state(&app, &tokens).await;

    let not_ours = "7f0c9d2e-0000-4000-8000-00000000beef";
    let stripe_events = vec![
        // A deletion of a subscription this deployment never had.
        stripe_event(
            "evt_x1",
            "customer.subscription.deleted",
            t0,
            json!({"id": "sub_ghost", "object": "subscription", "customer": "cus_ghost", "status": "canceled", "cancel_at_period_end": false, "metadata": {}}),
        ),
        // An update of another deployment's subscription (its order is not ours).
        stripe_event(
            "evt_x2",
            "customer.subscription.updated",
            t0,
            subscription("sub_other", not_ours, "cus_other", "active", t0, end, false),
        ),
        // Invoices for an unknown customer and subscription, with and without our metadata.
        stripe_event(
            "evt_x3",
            "invoice.paid",
            t0,
            json!({"id": "in_ghost", "object": "invoice", "customer": "cus_ghost", "amount_paid": 999, "amount_due": 999, "currency": "usd", "subscription": "sub_ghost"}),
        ),
        stripe_event(
            "evt_x4",
            "invoice.paid",
            t0,
            invoice("in_other", "sub_other", not_ours, "cus_other", 999, t0, end),
        ),
        stripe_event(
            "evt_x5",
            "invoice.payment_failed",
            t0,
            invoice(
                "in_ghost2",
                "sub_ghost",
                not_ours,
                "cus_ghost",
                999,
                t0,
                end,
            ),
        ),
        // Checkouts for an order that is not ours, and for none.
        stripe_event(
            "evt_x6",
            "checkout.session.completed",
            t0,
            checkout_session(90, not_ours, "cus_other", "sub_other", 999),
        ),
        stripe_event(
            "evt_x7",
            "checkout.session.completed",
            t0,
            json!({"id": "cs_test_91", "object": "checkout.session", "mode": "subscription", "customer": "cus_other", "subscription": "sub_other", "amount_total": 999, "currency": "usd", "payment_status": "paid", "status": "complete"}),
        ),
        // Older than the bound: a genuine invoice of sub_1 (it would extend the period and
        // add a payment), and an update of the open order's subscription.
        stripe_event(
            "evt_x8",
            "invoice.paid",
            week_ago,
            invoice(
                "in_old",
                "sub_1",
                &order,
                "cus_1",
                999,
                end,
                end + 30 * 86_400,
            ),
        ),
        stripe_event(
            "evt_x9",
            "customer.subscription.updated",
            week_ago,
            subscription("sub_w", &open_order, "cus_w", "active", t0, end, false),
        ),
    ];
    let reasons = [
        "unknown_subscription",
        "unknown_subscription",
        "unknown_subscription",
        "unknown_subscription",
        "unknown_subscription",
        "unknown_order",
        "unknown_order",
        "too_old",
        "too_old",
    ];
    for (i, answer) in stripe_answers(&app, &stripe_events)
        .await
        .iter()
        .enumerate()
    {
        assert_eq!(
            outcome(answer),
            NOT_APPLIED,
            "{}: {answer:?}",
            stripe_events[i]
        );
        assert_eq!(answer.1, json!({"received": true, "applied": false}));
        let id = format!("evt_x{}", i + 1);
        assert_eq!(
            recorded(&app, "stripe", &id).await,
            ignored(reasons[i]),
            "{id}"
        );
    }
    let rzp = |created_at: i64, order: &str| json!({"entity": "event", "event": "payment.captured", "payload": {"payment": {"entity": {"id": "pay_Ghost0001", "amount": 79_900, "currency": "INR", "status": "captured", "order_id": order}}}, "created_at": created_at});
    let rzp_unknown = rzp(t0, "order_NotOurs0001");
    let rzp_old = rzp(week_ago, "order_NotOurs0002");
    assert_eq!(
        outcome(&razorpay_answer(&app, &rzp_unknown, "evt_rx1").await),
        NOT_APPLIED
    );
    assert_eq!(
        outcome(&razorpay_answer(&app, &rzp_old, "evt_rx2").await),
        NOT_APPLIED
    );
    assert_eq!(
        recorded(&app, "razorpay", "evt_rx1").await,
        ignored("unknown_order")
    );
    assert_eq!(
        recorded(&app, "razorpay", "evt_rx2").await,
        ignored("too_old")
    );
    assert_eq!(
        outcome(&epayco_answer(&app, &gateway, "ref_ghost", not_ours, "9.99", "USD").await),
        NOT_APPLIED
    );
    assert_eq!(
        recorded(&app, "epayco", "ref_ghost:1").await,
        ignored("unknown_order")
    );

    // Replayed, every one of them is still 200 and changes nothing; counted once each.
    for answer in stripe_answers(&app, &stripe_events).await {
        assert_eq!(outcome(&answer), NOT_APPLIED, "{answer:?}");
    }
    assert_eq!(
        outcome(&razorpay_answer(&app, &rzp_unknown, "evt_rx1").await),
        NOT_APPLIED
    );
    assert_eq!(
        outcome(&epayco_answer(&app, &gateway, "ref_ghost", not_ours, "9.99", "USD").await),
        NOT_APPLIED
    );
    assert_eq!(
        billing_state(&app, &tokens).await,
        before,
        "subscriptions, payments and limits unchanged"
    );
    let ignored_total = |gateway: &str, reason: &str| {
        format!(
            "ferrocast_webhook_events_ignored_total{{gateway=\"{gateway}\",reason=\"{reason}\"}}"
        )
    };
    for (gateway, reason, n) in [
        ("stripe", "unknown_subscription", 5.0),
        ("stripe", "unknown_order", 2.0),
        ("stripe", "too_old", 2.0),
        ("razorpay", "unknown_order", 1.0),
        ("razorpay", "too_old", 1.0),
        ("epayco", "unknown_order", 1.0),
    ] {
        assert_eq!(
            metric(&app, &ignored_total(gateway, reason)).await,
            n,
            "{gateway} {reason}"
        );
    }

    // The open order's subscription, reported now, before its Checkout: 503 — a retry can
    // succeed, and does once the Checkout arrived. Nothing was recorded meanwhile.
    let early = vec![
        stripe_event(
            "evt_w1",
            "customer.subscription.created",
            t0,
            subscription("sub_w", &open_order, "cus_w", "active", t0, end, false),
        ),
        stripe_event(
            "evt_w2",
            "invoice.paid",
            t0,
            invoice("in_w", "sub_w", &open_order, "cus_w", 999, t0, end),
        ),
    ];
    for answer in stripe_answers(&app, &early).await {
        assert_eq!(answer.0, 503, "{answer:?}");
        assert_eq!(answer.1["code"], "NOT_YET_KNOWN");
    }
    assert_eq!(recorded(&app, "stripe", "evt_w1").await, None);
    assert_eq!(
        metric(
            &app,
            "ferrocast_webhook_events_deferred_total{gateway=\"stripe\"}"
        )
        .await,
        2.0
    );
    assert_eq!(billing_state(&app, &tokens).await, before);
    send_stripe(
        &app,
        &[stripe_event(
            "evt_wc",
            "checkout.session.completed",
            t0,
            checkout_session(2, &open_order, "cus_w", "sub_w", 999),
        )],
    )
    .await;
    for answer in stripe_answers(&app, &early).await {
        assert_eq!(outcome(&answer), (200, true), "{answer:?}");
    }
    assert_eq!(
        my_plan(&app, &waiting).await,
        ("Pro".to_string(), "active".to_string())
    );
    assert_eq!(payments_of(&app, &waiting).await.len(), 1);
    app.finish().await;
}

/// A Checkout whose amount or currency differs from its order grants nothing — nor do the
/// subscription and invoice events that follow it — is recorded, alerts the operator (error
/// log, `ferrocast_payment_mismatches_total`, mail to the administrators) and answers 200
/// `applied: false`; Razorpay and ePayco payments that differ from their orders likewise.
async fn payments_that_do_not_match_their_order_grant_nothing(b: Backend) {
    let (gateway, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    let db = app.running.as_ref().expect("running").state.db.clone();
    register(&app, "boss@example.com").await;
    let admin = db
        .user_by_email("boss@example.com")
        .await
        .expect("q")
        .expect("admin");
    db.set_role(admin.id, "admin", 0).await.expect("role");
    let (pro, business) = (plan_id(&app, "Pro").await, plan_id(&app, "Business").await);
    let t0 = now_secs();
    let end = t0 + 30 * 86_400;

    let cheap = register(&app, "cheap@example.com").await;
    checkout(&app, &cheap, pro).await;
    let cheap_order = seen(&gateway).sessions[0]["client_reference_id"].clone();
    let euro = register(&app, "euro@example.com").await;
    checkout(&app, &euro, pro).await;
    let euro_order = seen(&gateway).sessions[1]["client_reference_id"].clone();
    let rupee = register(&app, "rupee@example.com").await;
    let (status, rzp_order) = call(
        &app,
        "POST",
        "/api/payments/create-order",
        Some(&rupee),
        Some(json!({"plan_id": pro, "billing_cycle": "monthly"})),
    )
    .await;
    assert_eq!(status, 200);
    let peso = register(&app, "peso@example.com").await;
    let (status, ep) = call(
        &app,
        "POST",
        "/api/payments/epayco/create-order",
        Some(&peso),
        Some(json!({"plan_id": business, "billing_cycle": "yearly"})),
    )
    .await;
    assert_eq!(status, 200);
    let ep_invoice = ep["invoice"].as_str().expect("invoice").to_string();
    let tokens = [cheap.as_str(), euro.as_str(), rupee.as_str(), peso.as_str()];
    let before = billing_state(&app, &tokens).await;

    // Stripe: 0.01 USD for a 9.99 USD order, then 9.99 EUR for a 9.99 USD one; each followed by
    // the subscription and invoice Stripe sends next.
    let mut euro_session = checkout_session(2, &euro_order, "cus_e", "sub_e", 999);
    euro_session["currency"] = json!("eur");
    let stripe_events = vec![
        stripe_event(
            "evt_m1",
            "checkout.session.completed",
            t0,
            checkout_session(1, &cheap_order, "cus_c", "sub_c", 1),
        ),
        stripe_event(
            "evt_m2",
            "customer.subscription.created",
            t0 + 1,
            subscription("sub_c", &cheap_order, "cus_c", "active", t0, end, false),
        ),
        stripe_event(
            "evt_m3",
            "invoice.paid",
            t0 + 1,
            invoice("in_c", "sub_c", &cheap_order, "cus_c", 1, t0, end),
        ),
        stripe_event("evt_m4", "checkout.session.completed", t0, euro_session),
        stripe_event(
            "evt_m5",
            "invoice.paid",
            t0 + 1,
            invoice("in_e", "sub_e", &euro_order, "cus_e", 999, t0, end),
        ),
    ];
    for answer in stripe_answers(&app, &stripe_events).await {
        assert_eq!(outcome(&answer), NOT_APPLIED, "{answer:?}");
    }
    for (id, reason) in [
        ("evt_m1", "amount_mismatch"),
        ("evt_m2", "refused_order"),
        ("evt_m3", "refused_order"),
        ("evt_m4", "currency_mismatch"),
        ("evt_m5", "refused_order"),
    ] {
        assert_eq!(recorded(&app, "stripe", id).await, ignored(reason), "{id}");
    }
    let detail = db
        .gateway_event("stripe", "evt_m1")
        .await
        .expect("q")
        .and_then(|e| e.detail)
        .unwrap_or_default();
    assert_eq!(
        detail,
        format!("order {cheap_order}: paid 0.01 USD, due 9.99 USD")
    );
    let order = db
        .order_by_uuid(&euro_order)
        .await
        .expect("q")
        .expect("order");
    assert_eq!(order.refused_reason.as_deref(), Some("currency_mismatch"));
    // The same Checkout delivered again, even in a later event, grants nothing.
    let replays = vec![
        stripe_events[0].clone(),
        stripe_event(
            "evt_m6",
            "checkout.session.async_payment_succeeded",
            t0 + 2,
            checkout_session(1, &cheap_order, "cus_c", "sub_c", 1),
        ),
    ];
    for answer in stripe_answers(&app, &replays).await {
        assert_eq!(outcome(&answer), NOT_APPLIED, "{answer:?}");
    }

    // Razorpay: a genuine, signed capture of 1.00 INR for a 799.00 INR order (was a 400).
    let rzp_body = json!({"entity": "event", "event": "payment.captured", "payload": {"payment": {"entity": {"id": "pay_Cheap0001", "amount": 100, "currency": "INR", "status": "captured", "order_id": rzp_order["order_id"]}}}, "created_at": t0});
    for _ in 0..2 {
        assert_eq!(
            outcome(&razorpay_answer(&app, &rzp_body, "evt_rm1").await),
            NOT_APPLIED
        );
    }
    assert_eq!(
        recorded(&app, "razorpay", "evt_rm1").await,
        ignored("amount_mismatch")
    );
    // ePayco: its own record says 1.00 USD was accepted for a 299.99 USD order.
    for _ in 0..2 {
        assert_eq!(
            outcome(&epayco_answer(&app, &gateway, "ref_cheap", &ep_invoice, "1.00", "USD").await),
            NOT_APPLIED
        );
    }
    assert_eq!(
        recorded(&app, "epayco", "ref_cheap:1").await,
        ignored("amount_mismatch")
    );

    assert_eq!(
        billing_state(&app, &tokens).await,
        before,
        "nothing granted, no payment recorded, limits unchanged"
    );
    for token in tokens {
        assert_eq!(my_plan(&app, token).await.0, "Free");
        assert_eq!(create_source(&app, token, "one").await, 201);
        assert_eq!(create_source(&app, token, "two").await, 403);
    }
    let mismatches = |gateway: &str, reason: &str| {
        format!("ferrocast_payment_mismatches_total{{gateway=\"{gateway}\",reason=\"{reason}\"}}")
    };
    for (gateway, reason, n) in [
        ("stripe", "amount_mismatch", 1.0),
        ("stripe", "currency_mismatch", 1.0),
        ("razorpay", "amount_mismatch", 1.0),
        ("epayco", "amount_mismatch", 1.0),
    ] {
        assert_eq!(
            metric(&app, &mismatches(gateway, reason)).await,
            n,
            "{gateway} {reason}"
        );
    }
    assert_eq!(
        metric(
            &app,
            "ferrocast_webhook_events_ignored_total{gateway=\"stripe\",reason=\"refused_order\"}"
        )
        .await,
        4.0,
        "evt_m2, evt_m3, evt_m5, evt_m6"
    );
    // The administrator is told of each mismatch once, by mail.
    let subject =
        |gateway: &str| format!("Subject: ferrocast: a {gateway} payment does not match its order");
    assert!(
        support_eventually(|| {
            let mail = app.inbox.all();
            let to_admin = |gateway: &str| {
                mail.iter()
                    .filter(|m| m.contains("To: boss@example.com") && m.contains(&subject(gateway)))
                    .count()
            };
            (to_admin("stripe"), to_admin("razorpay"), to_admin("epayco")) == (2, 1, 1)
        })
        .await,
        "{:?}",
        app.inbox.all()
    );
    app.finish().await;
}

both_backends!(
    ten_thousand_replayed_duplicated_and_reordered_webhooks,
    stripe_upgrade_downgrade_renewal_and_the_period_job,
    razorpay_and_epayco_upgrades,
    a_gateway_without_keys_is_disabled,
    events_about_objects_we_did_not_create_are_acknowledged_recorded_and_counted,
    payments_that_do_not_match_their_order_grant_nothing
);
