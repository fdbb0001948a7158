//! Viewers paying creators through the gateway stand-ins (`support::checkout`), on both
//! databases: tips and memberships through Stripe Checkout (payment and subscription mode),
//! Razorpay's hosted Checkout and ePayco Smart Checkout; membership renewals and
//! cancellations; refunds and chargebacks reversing the right income; and the exactly-once
//! acceptance — 2 000 replayed, reordered, duplicated (and some tampered) webhook deliveries
//! credit each payment once and leave a ledger that verifies.

use crate::support::checkout::{self, seen, Gateways, RZP_WHSEC};
use crate::support::{self, call, client, gateway_signatures, now_secs, Backend, TestApp};
use serde_json::{json, Value};

both_backends!(
    tips_and_memberships_through_each_gateway_with_refunds_and_chargebacks,
    two_thousand_replayed_reordered_and_duplicated_deliveries_credit_each_payment_once,
);

// ---------------------------------------------------------------- helpers

/// A registered user: token, id, channel handle.
struct User {
    token: String,
    id: i64,
    handle: String,
}

async fn user(app: &TestApp, email: &str, name: &str) -> User {
    let token = support::register_user(app, email, name).await;
    let (status, me) = call(app, "GET", "/api/auth/me", Some(&token), None).await;
    assert_eq!(status, 200, "{me}");
    User {
        token,
        id: me["id"].as_i64().expect("id"),
        handle: me["handle"].as_str().expect("handle").to_string(),
    }
}

fn db(app: &TestApp) -> &ferrocast_db::Db {
    &app.running.as_ref().expect("running").state.db
}

async fn scalar(app: &TestApp, sql: &str, arg: i64) -> i64 {
    match db(app) {
        ferrocast_db::Db::Sqlite(p) => sqlx::query_scalar(sql).bind(arg).fetch_one(p).await,
        ferrocast_db::Db::Postgres(p) => sqlx::query_scalar(sql).bind(arg).fetch_one(p).await,
    }
    .expect("query")
}

/// A membership tier of `creator`, arranged in storage (tiers' own API is the members'
/// module's).
async fn tier(app: &TestApp, creator: i64, name: &str, price: i64) -> i64 {
    let sql = "INSERT INTO membership_tiers (creator_id, name, price_minor, currency, perks, rank, active, created_at) \
               VALUES ($1, $2, $3, 'USD', '[]', 1, TRUE, $4) RETURNING id";
    match db(app) {
        ferrocast_db::Db::Sqlite(p) => {
            sqlx::query_scalar(sql)
                .bind(creator)
                .bind(name)
                .bind(price)
                .bind(now_secs() * 1000)
                .fetch_one(p)
                .await
        }
        ferrocast_db::Db::Postgres(p) => {
            sqlx::query_scalar(sql)
                .bind(creator)
                .bind(name)
                .bind(price)
                .bind(now_secs() * 1000)
                .fetch_one(p)
                .await
        }
    }
    .expect("tier")
}

/// What an account holds in the ledger (0 when it has no entries).
async fn balance(app: &TestApp, account: &str) -> i64 {
    let totals = db(app).ledger_account_totals().await.expect("totals");
    totals
        .iter()
        .filter(|(a, _, _)| a == account)
        .map(|(_, _, b)| *b)
        .sum()
}

async fn verify_clean(app: &TestApp) {
    let report = db(app).ledger_verify().await.expect("verify");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert!(report.transactions > 0);
}

async fn start(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, v) = call(app, "POST", "/api/purchases", Some(token), Some(body)).await;
    assert_eq!(status, 200, "{v}");
    v
}

async fn status_of(app: &TestApp, token: &str, id: &str) -> String {
    let (status, v) = call(
        app,
        "GET",
        &format!("/api/purchases/{id}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["status"].as_str().expect("status").to_string()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Pays a Stripe Checkout on the stand-in's page (its webhooks reach the node); where it sends
/// the buyer.
async fn pay_stripe(url: &str) -> String {
    let r = no_redirects().post(url).send().await.expect("pay");
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string()
}

/// The PaymentIntent of the stand-in's latest charge.
fn last_charge(g: &Gateways) -> checkout::StripeCharge {
    seen(g).charges.last().cloned().expect("a charge")
}

async fn stripe(app: &TestApp, payloads: &[String]) -> Vec<(u16, Value)> {
    checkout::stripe_send(&app.base, payloads).await
}

// ---------------------------------------------------------------- flows

async fn tips_and_memberships_through_each_gateway_with_refunds_and_chargebacks(b: Backend) {
    let (g, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    checkout::set_node(&g, &app.base);
    let ada = user(&app, "ada@example.com", "Ada Lovelace").await;
    let bob = user(&app, "bob@example.com", "Bob Viewer").await;
    let creator = format!("creator:{}", ada.id);

    // Refusals say what to fix.
    for (body, needle) in [
        (
            json!({"kind": "tip", "channel": ada.handle, "gateway": "stripe", "amount_minor": 5}),
            "amount_minor",
        ),
        (
            json!({"kind": "tip", "channel": ada.handle, "gateway": "paypal", "amount_minor": 500}),
            "gateway",
        ),
        (
            json!({"kind": "gift", "channel": ada.handle, "gateway": "stripe"}),
            "kind",
        ),
        (
            json!({"kind": "tip", "channel": ada.handle, "gateway": "epayco", "amount_minor": 500, "currency": "INR"}),
            "INR",
        ),
        (
            json!({"kind": "membership", "channel": ada.handle, "gateway": "stripe"}),
            "tier_id",
        ),
        (
            json!({"kind": "tip", "channel": ada.handle, "gateway": "stripe", "amount_minor": 500, "message": "x".repeat(301)}),
            "message",
        ),
    ] {
        let (status, v) = call(&app, "POST", "/api/purchases", Some(&bob.token), Some(body)).await;
        assert_eq!(status, 422, "{v}");
        assert!(
            v["details"].as_str().unwrap_or_default().contains(needle),
            "{needle}: {v}"
        );
    }
    let (status, v) = call(
        &app,
        "POST",
        "/api/purchases",
        Some(&ada.token),
        Some(
            json!({"kind": "tip", "channel": ada.handle, "gateway": "stripe", "amount_minor": 500}),
        ),
    )
    .await;
    assert_eq!(status, 422, "no tipping yourself: {v}");
    let (status, _) = call(&app, "POST", "/api/purchases", Some(&bob.token), Some(json!({"kind": "tip", "channel": "nobody_here", "gateway": "stripe", "amount_minor": 500}))).await;
    assert_eq!(status, 404);

    // A $5.00 tip through Stripe Checkout in payment mode.
    let tip = start(&app, &bob.token, json!({"kind": "tip", "channel": format!("@{}", ada.handle), "gateway": "stripe", "amount_minor": 500, "message": "Great stream!"})).await;
    let tip_id = tip["purchase_id"].as_str().expect("id").to_string();
    let form = seen(&g)
        .sessions
        .last()
        .cloned()
        .expect("a Checkout Session");
    assert_eq!(form["mode"], "payment");
    assert_eq!(form["metadata[purchase]"], tip_id);
    assert_eq!(form["payment_intent_data[metadata][purchase]"], tip_id);
    assert_eq!(form["line_items[0][price_data][unit_amount]"], "500");
    assert_eq!(status_of(&app, &bob.token, &tip_id).await, "created");
    let back = pay_stripe(tip["url"].as_str().expect("url")).await;
    assert!(
        back.contains(&format!("/pay/{tip_id}?checkout=success")),
        "{back}"
    );
    assert_eq!(status_of(&app, &bob.token, &tip_id).await, "paid");
    assert_eq!(balance(&app, &creator).await, 450, "10 % platform fee");
    assert_eq!(balance(&app, "platform:fees").await, 50);
    assert_eq!(balance(&app, "gateway:stripe").await, -500);
    // The buyer cannot read someone else's purchase.
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/purchases/{tip_id}"),
        Some(&ada.token),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Stripe refunds $2.00 then the remaining $3.00: each charge.refunded carries the running
    // total; a redelivery changes nothing.
    let pi = last_charge(&g).payment_intent;
    let first = checkout::stripe_refund_event(&g, &pi, 200);
    let answers = stripe(&app, &[first.clone(), first.clone()]).await;
    assert_eq!(
        answers[0],
        (200, json!({"received": true, "applied": true}))
    );
    assert_eq!(answers[1].1["applied"], false, "a redelivery");
    assert_eq!(balance(&app, &creator).await, 450 - 180);
    assert_eq!(
        status_of(&app, &bob.token, &tip_id).await,
        "paid",
        "partly refunded"
    );
    let rest = checkout::stripe_refund_event(&g, &pi, 300);
    assert_eq!(
        stripe(&app, &[rest.clone(), first]).await[0].1["applied"],
        true
    );
    assert_eq!(balance(&app, &creator).await, 0);
    assert_eq!(balance(&app, "gateway:stripe").await, 0);
    assert_eq!(status_of(&app, &bob.token, &tip_id).await, "refunded");

    // A Gold membership ($15.00 a month) through Stripe Checkout in subscription mode.
    let gold = tier(&app, ada.id, "Gold", 1500).await;
    let m = start(
        &app,
        &bob.token,
        json!({"kind": "membership", "channel": ada.handle, "gateway": "stripe", "tier_id": gold}),
    )
    .await;
    let m_id = m["purchase_id"].as_str().expect("id").to_string();
    assert_eq!(m["amount_minor"], 1500);
    let form = seen(&g).sessions.last().cloned().expect("session");
    assert_eq!(form["mode"], "subscription");
    assert_eq!(
        form["line_items[0][price_data][recurring][interval]"],
        "month"
    );
    assert_eq!(form["subscription_data[metadata][purchase]"], m_id);
    pay_stripe(m["url"].as_str().expect("url")).await;
    assert_eq!(status_of(&app, &bob.token, &m_id).await, "paid");
    let first_charge = last_charge(&g);
    let sub = first_charge.subscription.clone().expect("subscription");
    let membership = "SELECT period_end FROM memberships WHERE user_id = $1 AND status = 'active'";
    assert_eq!(
        scalar(&app, membership, bob.id).await,
        first_charge.period_end * 1000
    );
    assert_eq!(balance(&app, &creator).await, 1350);
    // Renewed: a second income, and the membership runs to the new period's end.
    let renewal = checkout::stripe_renewal_event(&g, &sub);
    let answers = stripe(&app, &[renewal.clone(), renewal]).await;
    assert_eq!(
        (
            answers[0].1["applied"].clone(),
            answers[1].1["applied"].clone()
        ),
        (json!(true), json!(false))
    );
    let renewed = last_charge(&g);
    assert_eq!(
        scalar(&app, membership, bob.id).await,
        renewed.period_end * 1000
    );
    assert_eq!(balance(&app, &creator).await, 2700);
    // The renewal's charge is disputed: its income is taken back, the membership ends; a
    // refund of it afterwards finds nothing left to take.
    let dispute = checkout::stripe_dispute_event(&g, &renewed.payment_intent);
    assert_eq!(
        stripe(&app, &[dispute]).await[0],
        (200, json!({"received": true, "applied": true}))
    );
    assert_eq!(balance(&app, &creator).await, 1350);
    let refund = checkout::stripe_refund_event(&g, &renewed.payment_intent, 1500);
    assert_eq!(stripe(&app, &[refund]).await[0].1["applied"], false);
    assert_eq!(balance(&app, &creator).await, 1350);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM memberships WHERE user_id = $1 AND status = 'active'",
            bob.id
        )
        .await,
        0,
        "a membership whose payment was taken back ends"
    );
    assert_eq!(status_of(&app, &bob.token, &m_id).await, "disputed");

    // A second membership (Carol's), canceled at Stripe: it lasts to its period's end.
    let carol = user(&app, "carol@example.com", "Carol Viewer").await;
    let m2 = start(
        &app,
        &carol.token,
        json!({"kind": "membership", "channel": ada.handle, "gateway": "stripe", "tier_id": gold}),
    )
    .await;
    pay_stripe(m2["url"].as_str().expect("url")).await;
    let sub2 = last_charge(&g).subscription.expect("subscription");
    let deleted = checkout::stripe_subscription_deleted_event(&g, &sub2);
    assert_eq!(
        stripe(&app, &[deleted.clone(), deleted]).await[0].1["applied"],
        true
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM memberships WHERE user_id = $1 AND status = 'canceled' AND period_end > 0", carol.id).await,
        1
    );

    // A third (Dan's), canceled by the member in ferrocast: Stripe is told to stop billing it
    // at the period's end, and it stays until then.
    let dan = user(&app, "dan@example.com", "Dan Viewer").await;
    let m3 = start(
        &app,
        &dan.token,
        json!({"kind": "membership", "channel": ada.handle, "gateway": "stripe", "tier_id": gold}),
    )
    .await;
    pay_stripe(m3["url"].as_str().expect("url")).await;
    let sub3 = last_charge(&g).subscription.expect("subscription");
    let (status, v) = call(
        &app,
        "POST",
        &format!("/api/me/memberships/{}/cancel", ada.handle),
        Some(&dan.token),
        None,
    )
    .await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("canceled")),
        "{v}"
    );
    assert!(
        seen(&g)
            .updated
            .contains(&(sub3.clone(), "true".to_string())),
        "cancel_at_period_end sent to Stripe for {sub3}"
    );

    // A ₹500.00 tip through Razorpay's hosted Checkout: the signed callback pays it, the
    // webhook for the same payment does not pay it again; a refund and a chargeback.
    let r = start(&app, &bob.token, json!({"kind": "tip", "channel": ada.handle, "gateway": "razorpay", "amount_minor": 50_000})).await;
    let r_id = r["purchase_id"].as_str().expect("id").to_string();
    assert_eq!(r["currency"], "INR");
    let fields: Vec<(String, String)> = r["razorpay"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let order_id = fields
        .iter()
        .find(|(k, _)| k == "order_id")
        .expect("order")
        .1
        .clone();
    let page = client()
        .post(r["razorpay"]["url"].as_str().expect("url"))
        .form(&fields)
        .send()
        .await
        .expect("hosted page")
        .text()
        .await
        .expect("html");
    let hidden = |name: &str| {
        let at = page.find(&format!("name={name} value='")).expect(name) + name.len() + 13;
        page[at..].split('\'').next().expect("value").to_string()
    };
    let payment_id = hidden("razorpay_payment_id");
    let callback = no_redirects()
        .post(app.url("/api/payments/razorpay/callback"))
        .form(&[
            ("razorpay_payment_id", payment_id.clone()),
            ("razorpay_order_id", hidden("razorpay_order_id")),
            ("razorpay_signature", hidden("razorpay_signature")),
        ])
        .send()
        .await
        .expect("callback");
    assert_eq!(callback.status(), 303);
    assert_eq!(
        callback.headers()["location"],
        format!("/pay/{r_id}?checkout=success").as_str()
    );
    assert_eq!(status_of(&app, &bob.token, &r_id).await, "paid");
    let inr = |app: &TestApp| {
        let app_db = db(app).clone();
        let who = creator.clone();
        async move {
            app_db
                .ledger_account_totals()
                .await
                .expect("totals")
                .into_iter()
                .filter(|(a, c, _)| *a == who && c == "INR")
                .map(|(_, _, b)| b)
                .sum::<i64>()
        }
    };
    assert_eq!(inr(&app).await, 45_000);
    let captured = checkout::razorpay_captured_event(&g, &order_id, &payment_id);
    let answers = checkout::razorpay_send(&app.base, &[captured]).await;
    assert_eq!(
        answers[0],
        (200, json!({"received": true, "applied": false})),
        "already paid by the callback"
    );
    let refund = checkout::razorpay_refund_event(&g, &order_id, &payment_id, "rfnd_Test1", 10_000);
    let answers = checkout::razorpay_send(&app.base, &[refund.clone(), refund]).await;
    assert_eq!(
        (
            answers[0].1["applied"].clone(),
            answers[1].1["applied"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(inr(&app).await, 36_000);
    let dispute = checkout::razorpay_dispute_event(&g, &order_id, &payment_id);
    assert_eq!(
        checkout::razorpay_send(&app.base, &[dispute]).await[0].1["applied"],
        true
    );
    assert_eq!(
        inr(&app).await,
        0,
        "the chargeback takes what the refund left"
    );
    assert_eq!(status_of(&app, &bob.token, &r_id).await, "disputed");

    // A $7.00 tip through ePayco Smart Checkout, then reversed by ePayco.
    let e = start(
        &app,
        &bob.token,
        json!({"kind": "tip", "channel": ada.handle, "gateway": "epayco", "amount_minor": 700}),
    )
    .await;
    let e_id = e["purchase_id"].as_str().expect("id").to_string();
    let session = e["epayco"]["session_id"]
        .as_str()
        .expect("session")
        .to_string();
    let paid = no_redirects()
        .post(format!("http://{addr}/checkout/{session}/pay"))
        .send()
        .await
        .expect("pay");
    assert_eq!(paid.status(), 303, "{:?}", paid.text().await);
    assert_eq!(status_of(&app, &bob.token, &e_id).await, "paid");
    let before = balance(&app, &creator).await;
    let reference = seen(&g).paid.last().expect("paid").1.clone();
    assert_eq!(checkout::epayco_reverse(&g, &reference).await, 200);
    assert_eq!(balance(&app, &creator).await, before - 630);
    assert_eq!(status_of(&app, &bob.token, &e_id).await, "refunded");

    verify_clean(&app).await;
    app.finish().await;
}

// ---------------------------------------------------------------- exactly once

/// One delivery: which gateway, the body, its signature, Razorpay's event id.
#[derive(Clone)]
struct Delivery {
    stripe: bool,
    body: String,
    signature: String,
    event_id: String,
}

async fn deliver(base: &str, d: &Delivery) -> u16 {
    let c = client();
    let r = if d.stripe {
        c.post(format!("{base}/api/payments/stripe/webhook"))
            .header("stripe-signature", &d.signature)
    } else {
        c.post(format!("{base}/api/payments/webhook"))
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

/// What the storm must leave: per purchase, the payments credited; the money that stays.
struct Expected {
    purchase: String,
    incomes: i64,
}

async fn two_thousand_replayed_reordered_and_duplicated_deliveries_credit_each_payment_once(
    b: Backend,
) {
    use futures_util::StreamExt;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    let (g, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    let ada = user(&app, "ada@example.com", "Ada Lovelace").await;
    let gold = tier(&app, ada.id, "Gold", 1500).await;
    let t0 = now_secs();
    let mut expected = Vec::new();
    let mut stripe_payloads: Vec<String> = Vec::new();
    let (mut usd_in, mut usd_back, mut inr_in, mut inr_back) = (0i64, 0i64, 0i64, 0i64);
    let event =
        |id: String, kind: &str, object: Value| checkout::stripe_event(&id, kind, t0, object);

    // 12 tips through Stripe (payment mode); the first 4 refunded in two steps.
    for u in 0..12 {
        let buyer = user(
            &app,
            &format!("tipper{u}@example.com"),
            &format!("Tipper {u}"),
        )
        .await;
        let amount = 300 + 100 * u;
        let tip = start(&app, &buyer.token, json!({"kind": "tip", "channel": ada.handle, "gateway": "stripe", "amount_minor": amount})).await;
        let id = tip["purchase_id"].as_str().expect("id").to_string();
        let (pi, ch) = (format!("pi_storm{u}"), format!("ch_storm{u}"));
        stripe_payloads.push(event(format!("evt_tip{u}"), "checkout.session.completed", json!({"id": format!("cs_storm{u}"), "object": "checkout.session", "mode": "payment", "client_reference_id": id, "payment_intent": pi, "amount_total": amount, "currency": "usd", "payment_status": "paid", "status": "complete", "metadata": {"purchase": id}})));
        usd_in += amount;
        if u < 4 {
            for (step, total) in [(1, 100), (2, 250)] {
                stripe_payloads.push(event(format!("evt_tip{u}_refund{step}"), "charge.refunded", json!({"id": ch, "object": "charge", "amount": amount, "amount_refunded": total, "currency": "usd", "refunded": false, "payment_intent": pi, "metadata": {"purchase": id}})));
            }
            usd_back += 250;
        }
        expected.push(Expected {
            purchase: id,
            incomes: 1,
        });
    }
    // 8 memberships through Stripe (subscription mode): the Checkout, the subscription, the
    // first invoice and two renewals.
    let mut members = Vec::new();
    for u in 0..8 {
        let buyer = user(
            &app,
            &format!("member{u}@example.com"),
            &format!("Member {u}"),
        )
        .await;
        members.push(buyer.id);
        let m = start(&app, &buyer.token, json!({"kind": "membership", "channel": ada.handle, "gateway": "stripe", "tier_id": gold})).await;
        let id = m["purchase_id"].as_str().expect("id").to_string();
        let (sub, cus) = (format!("sub_storm{u}"), format!("cus_storm{u}"));
        let meta = json!({"purchase": id});
        stripe_payloads.push(event(format!("evt_m{u}_checkout"), "checkout.session.completed", json!({"id": format!("cs_m{u}"), "object": "checkout.session", "mode": "subscription", "client_reference_id": id, "customer": cus, "subscription": sub, "invoice": format!("in_m{u}_0"), "payment_intent": null, "amount_total": 1500, "currency": "usd", "payment_status": "paid", "metadata": meta})));
        stripe_payloads.push(event(format!("evt_m{u}_sub"), "customer.subscription.created", json!({"id": sub, "object": "subscription", "customer": cus, "status": "active", "cancel_at_period_end": false, "metadata": meta, "items": {"data": [{"current_period_start": t0, "current_period_end": t0 + 30 * 86_400}]}})));
        for k in 0..3 {
            let (start_at, end_at) = (t0 + k * 30 * 86_400, t0 + (k + 1) * 30 * 86_400);
            stripe_payloads.push(event(format!("evt_m{u}_inv{k}"), "invoice.paid", json!({"id": format!("in_m{u}_{k}"), "object": "invoice", "customer": cus, "status": "paid", "billing_reason": if k == 0 { "subscription_create" } else { "subscription_cycle" }, "amount_paid": 1500, "amount_due": 1500, "currency": "usd", "payment_intent": format!("pi_m{u}_{k}"), "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub, "metadata": meta}}, "lines": {"data": [{"period": {"start": start_at, "end": end_at}}]}})));
            usd_in += 1500;
        }
        expected.push(Expected {
            purchase: id,
            incomes: 3,
        });
    }
    let headers = checkout::stripe_signatures(&stripe_payloads);
    let mut events: Vec<Delivery> = stripe_payloads
        .into_iter()
        .zip(headers)
        .map(|(body, signature)| Delivery {
            stripe: true,
            body,
            signature,
            event_id: String::new(),
        })
        .collect();

    // 8 tips through Razorpay: `payment.captured` and `order.paid` for the same payment; the
    // first 3 partly refunded.
    let mut rzp: Vec<(String, String)> = Vec::new();
    for u in 0..8 {
        let buyer = user(
            &app,
            &format!("rupee{u}@example.com"),
            &format!("Rupee {u}"),
        )
        .await;
        let amount = 20_000 + 1_000 * u;
        let r = start(&app, &buyer.token, json!({"kind": "tip", "channel": ada.handle, "gateway": "razorpay", "amount_minor": amount})).await;
        let id = r["purchase_id"].as_str().expect("id").to_string();
        let order = seen(&g).orders.len();
        let order_id = format!("order_Test{order:06}");
        let pay = format!("pay_Storm{u:04}");
        for kind in ["payment.captured", "order.paid"] {
            rzp.push((format!("evt_rzp{u}_{kind}"), checkout::razorpay_event(kind, json!({"payment": checkout::razorpay_payment(&pay, &order_id, amount, "INR", "captured")}))));
        }
        inr_in += amount;
        if u < 3 {
            let (rid, body) = checkout::razorpay_refund_event(
                &g,
                &order_id,
                &pay,
                &format!("rfnd_Storm{u}"),
                5_000,
            );
            rzp.push((rid, body));
            inr_back += 5_000;
        }
        expected.push(Expected {
            purchase: id,
            incomes: 1,
        });
    }
    let req: Vec<Value> = rzp
        .iter()
        .map(|(_, b)| json!({"body": b, "secret": RZP_WHSEC}))
        .collect();
    let sigs = gateway_signatures(&json!({ "razorpay_webhook": req }));
    for ((id, body), sig) in rzp
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

    let seed: u64 = rand::thread_rng().gen();
    eprintln!("storm seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut storm: Vec<(Delivery, bool)> = events.iter().map(|e| (e.clone(), true)).collect();
    while storm.len() < 2_000 {
        let mut e = events.choose(&mut rng).expect("event").clone();
        // One copy in fifty is changed after signing (still JSON, other bytes).
        let genuine = rng.gen_ratio(49, 50);
        if !genuine {
            e.body = e.body.replacen("\"id\":", "\"id\" :", 1);
        }
        storm.push((e, genuine));
    }
    storm.shuffle(&mut rng);
    let mut pending = storm;
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds <= 40, "{} deliveries never accepted", pending.len());
        let base = app.base.clone();
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
                (true, 200) | (false, 400) => {}
                // About a payment not known yet (it overtook it): the gateway delivers again.
                (true, 503) => pending.push((d, true)),
                (g, s) => panic!("genuine={g} answered {s}: {}", d.body),
            }
        }
    }
    eprintln!("storm delivered in {rounds} rounds");

    for e in &expected {
        let p = db(&app)
            .purchase_by_uuid(&e.purchase)
            .await
            .expect("db")
            .expect("purchase");
        assert_eq!(p.status, "paid", "{}", e.purchase);
        let incomes = scalar(
            &app,
            "SELECT COUNT(*) FROM ledger_transactions WHERE kind = 'income' AND purchase_id = $1",
            p.id,
        )
        .await;
        assert_eq!(
            incomes, e.incomes,
            "purchase {} credited once per payment",
            e.purchase
        );
    }
    let totals = db(&app).ledger_account_totals().await.expect("totals");
    let held = |account: &str, currency: &str| -> i64 {
        totals
            .iter()
            .filter(|(a, c, _)| a == account && c == currency)
            .map(|(_, _, b)| *b)
            .sum()
    };
    assert_eq!(
        held("gateway:stripe", "USD"),
        -(usd_in - usd_back),
        "Stripe: paid less refunded"
    );
    assert_eq!(
        held("gateway:razorpay", "INR"),
        -(inr_in - inr_back),
        "Razorpay: paid less refunded"
    );
    let creator = format!("creator:{}", ada.id);
    let usd_shares = held(&creator, "USD") + held("platform:fees", "USD");
    assert_eq!(
        usd_shares,
        usd_in - usd_back,
        "all of it is the creator's or the fee"
    );
    for (u, id) in members.iter().copied().enumerate() {
        let end = scalar(
            &app,
            "SELECT period_end FROM memberships WHERE user_id = $1 AND status = 'active'",
            id,
        )
        .await;
        assert_eq!(
            end,
            (t0 + 3 * 30 * 86_400) * 1000,
            "member {u}: the latest renewal's end"
        );
    }
    verify_clean(&app).await;
    let _ = g;
    app.finish().await;
}
