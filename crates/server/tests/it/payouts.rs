//! Creator payouts (issue 20): income posted through the ledger (`Db::complete_purchase`, as the
//! gateways' webhooks do), balances, a payout request above the minimum, Stripe Connect
//! onboarding against the Stripe stand-in (account, onboarding link, `account.updated` signed by
//! Stripe's library), approval paying through a transfer with the right amount, destination and
//! idempotency key (also across a Stripe outage), rejection reversing the request, and the bank
//! path: CSV export, marked paid. Splits, tax rates and receipts, statements. After each, the
//! ledger verifies clean.

use crate::support::{self, checkout};
use ferrocast_db::purchases::{IncomeRules, NewPurchase, PaidPayment, PurchaseKind};
use ferrocast_db::Db;
use serde_json::{json, Value};
use support::{call, register_user, Backend, TestApp};

/// A user's id.
async fn uid(db: &Db, email: &str) -> i64 {
    db.user_by_email(email).await.expect("q").expect("user").id
}

/// A paid purchase of `amount` from `buyer` to `creator` (posted as a gateway's payment is),
/// with `tax` of it for `country`, available after `hold_ms`; its public id.
#[allow(clippy::too_many_arguments)]
async fn income(
    db: &Db,
    buyer: i64,
    creator: i64,
    amount: i64,
    tax: i64,
    country: Option<&str>,
    hold_ms: i64,
    payment: &str,
) -> String {
    let uuid = uuid::Uuid::new_v4().to_string();
    let p = db
        .create_purchase(
            &NewPurchase {
                uuid: &uuid,
                kind: PurchaseKind::Tip,
                buyer_id: buyer,
                creator_id: creator,
                provider: "stripe",
                amount_minor: amount,
                currency: "USD",
                tax_minor: tax,
                tax_country: country,
                message: Some("great stream"),
                display_name: Some("Fan One"),
                tier_id: None,
                video_id: None,
                source_id: None,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("purchase");
    db.complete_purchase(
        None,
        &p,
        &PaidPayment {
            provider_payment_id: payment,
            amount_minor: amount,
            currency: "USD",
            subscription: None,
            period_end: None,
        },
        &IncomeRules {
            fee_bps: 1000,
            hold_ms,
            membership_period_ms: 30 * 86_400_000,
        },
        ferrocast_db::now_ms(),
    )
    .await
    .expect("income posted");
    uuid
}

fn balance<'a>(earnings: &'a Value, currency: &str) -> &'a Value {
    earnings["balances"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["currency"] == currency))
        .unwrap_or_else(|| panic!("no {currency} balance: {earnings}"))
}

async fn figures(app: &TestApp, token: &str) -> (i64, i64, i64, i64) {
    let (s, e) = call(app, "GET", "/api/me/earnings", Some(token), None).await;
    assert_eq!(s, 200, "{e}");
    let b = balance(&e, "USD");
    let n = |k: &str| b[k].as_i64().expect(k);
    (
        n("pending_minor"),
        n("available_minor"),
        n("in_flight_minor"),
        n("paid_minor"),
    )
}

async fn verify_clean(db: &Db) {
    let report = db.ledger_verify().await.expect("verify");
    assert!(
        report.problems.is_empty(),
        "ledger verify: {:?}",
        report.problems
    );
    assert!(report.transactions > 0);
}

async fn admin(app: &TestApp, db: &Db) -> String {
    let token = register_user(app, "admin@example.com", "Admin").await;
    db.set_role(uid(db, "admin@example.com").await, "admin", 0)
        .await
        .expect("role");
    token
}

async fn payout_through_stripe_connect(b: Backend) {
    let (gw, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::connect_options(addr)).await else {
        return;
    };
    checkout::set_node(&gw, &app.base);
    let db = app.running.as_ref().expect("running").state.db.clone();
    let admin = admin(&app, &db).await;
    let creator = register_user(&app, "creator@example.com", "Creator").await;
    register_user(&app, "fan@example.com", "Fan").await;
    let (creator_id, fan) = (
        uid(&db, "creator@example.com").await,
        uid(&db, "fan@example.com").await,
    );

    // Two tips of 100.00: one past its hold, one still held. 10 % fee: 90.00 each.
    income(&db, fan, creator_id, 10_000, 0, None, 0, "pi_available").await;
    income(
        &db,
        fan,
        creator_id,
        10_000,
        0,
        None,
        7 * 86_400_000,
        "pi_held",
    )
    .await;
    assert_eq!(figures(&app, &creator).await, (9_000, 9_000, 0, 0));

    // No way to be paid yet.
    let (s, v) = call(
        &app,
        "POST",
        "/api/me/payouts",
        Some(&creator),
        Some(json!({"amount_minor": 5_000, "currency": "USD"})),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("NO_PAYOUT_METHOD")),
        "{v}"
    );

    // Onboarding: an Express account, its link, Stripe's page, back with account.updated.
    let (s, link) = call(
        &app,
        "POST",
        "/api/me/payouts/connect",
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(s, 200, "{link}");
    {
        let seen = checkout::seen(&gw);
        assert_eq!(seen.connect.accounts.len(), 1);
        assert_eq!(
            seen.connect.accounts[0].get("type").map(String::as_str),
            Some("express")
        );
        assert_eq!(
            seen.connect.accounts[0].get("email").map(String::as_str),
            Some("creator@example.com")
        );
        let (account, refresh, back, _) = &seen.connect.links[0];
        assert_eq!(account, "acct_test1");
        assert!(
            refresh.starts_with(&app.base) || refresh.contains("/dashboard/earnings"),
            "{refresh}"
        );
        assert!(
            back.contains("/dashboard/earnings?connect=return"),
            "{back}"
        );
    }
    let (_, e) = call(&app, "GET", "/api/me/earnings", Some(&creator), None).await;
    assert_eq!(
        (
            e["method"]["stripe_account"].as_str(),
            e["method"]["stripe_ready"].as_bool()
        ),
        (Some("acct_test1"), Some(false))
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = link["url"].as_str().expect("url");
    assert_eq!(
        no_redirects.get(url).send().await.expect("page").status(),
        200
    );
    let submitted = no_redirects.post(url).send().await.expect("submit");
    assert_eq!(
        submitted.status(),
        303,
        "onboarding submitted, back to the return URL"
    );
    assert!(submitted.headers()["location"]
        .to_str()
        .expect("loc")
        .contains("connect=return"));
    // The link is single-use: a second visit goes to the refresh URL, as Stripe's does.
    let again = no_redirects.get(url).send().await.expect("again");
    assert!(again
        .headers()
        .get("location")
        .is_some_and(|l| l.to_str().unwrap_or("").contains("connect=refresh")));
    let (_, e) = call(&app, "GET", "/api/me/earnings", Some(&creator), None).await;
    assert_eq!(
        e["method"]["stripe_ready"],
        json!(true),
        "account.updated applied: {e}"
    );
    let (s, m) = call(
        &app,
        "POST",
        "/api/me/payouts/connect/refresh",
        Some(&creator),
        None,
    )
    .await;
    assert_eq!((s, m["stripe_ready"].as_bool()), (200, Some(true)), "{m}");

    // Requests: under the minimum, over what is available, then 50.00.
    let (s, v) = call(
        &app,
        "POST",
        "/api/me/payouts",
        Some(&creator),
        Some(json!({"amount_minor": 999, "currency": "USD"})),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = call(
        &app,
        "POST",
        "/api/me/payouts",
        Some(&creator),
        Some(json!({"amount_minor": 9_001, "currency": "USD"})),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("INSUFFICIENT_BALANCE")),
        "the held 90.00 is not available: {v}"
    );
    let (s, p) = call(
        &app,
        "POST",
        "/api/me/payouts",
        Some(&creator),
        Some(json!({"amount_minor": 5_000, "currency": "USD"})),
    )
    .await;
    assert_eq!((s, p["status"].as_str()), (201, Some("requested")), "{p}");
    let payout = p["id"].as_str().expect("id").to_string();
    assert_eq!(figures(&app, &creator).await, (9_000, 4_000, 5_000, 0));

    // Only administrators decide.
    let (s, _) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{payout}/approve"),
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, q) = call(
        &app,
        "GET",
        "/api/admin/payouts?status=open",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(q["payouts"][0]["pays_by"], "stripe", "{q}");

    // Approval: one transfer of 50.00 to the creator's account, with the payout's key.
    let (s, paid) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{payout}/approve"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        (s, paid["status"].as_str(), paid["reference"].as_str()),
        (200, Some("paid"), Some("tr_test1")),
        "{paid}"
    );
    {
        let seen = checkout::seen(&gw);
        assert_eq!(seen.connect.transfers.len(), 1);
        let (form, key) = &seen.connect.transfers[0];
        let get = |k: &str| form.get(k).map(String::as_str);
        assert_eq!(
            (get("amount"), get("currency"), get("destination")),
            (Some("5000"), Some("usd"), Some("acct_test1"))
        );
        assert_eq!(
            get("transfer_group"),
            Some(format!("payout_{payout}").as_str())
        );
        assert_eq!(
            key.as_deref(),
            Some(format!("ferrocast-payout-{payout}").as_str())
        );
    }
    assert_eq!(figures(&app, &creator).await, (9_000, 4_000, 0, 5_000));
    let (s, v) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{payout}/approve"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("PAYOUT_STATE")),
        "paid once: {v}"
    );
    assert_eq!(checkout::seen(&gw).connect.transfers.len(), 1);

    // Stripe down at the first approval: nothing moves; the retry sends the same key and pays once.
    let (_, p2) = call(
        &app,
        "POST",
        "/api/me/payouts",
        Some(&creator),
        Some(json!({"amount_minor": 2_500, "currency": "USD"})),
    )
    .await;
    let p2 = p2["id"].as_str().expect("id").to_string();
    checkout::seen(&gw).connect.fail_transfers = 1;
    let (s, v) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{p2}/approve"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 502, "{v}");
    assert_eq!(figures(&app, &creator).await, (9_000, 1_500, 2_500, 5_000));
    let (_, q) = call(
        &app,
        "GET",
        "/api/admin/payouts?status=open",
        Some(&admin),
        None,
    )
    .await;
    assert!(
        q["payouts"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{q}"
    );
    let (s, v) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{p2}/approve"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("paid")), "{v}");
    assert_eq!(checkout::seen(&gw).connect.transfers.len(), 2);
    assert_eq!(figures(&app, &creator).await, (9_000, 1_500, 0, 7_500));

    // Rejection: the request reversed, the money available again.
    let (_, p3) = call(
        &app,
        "POST",
        "/api/me/payouts",
        Some(&creator),
        Some(json!({"amount_minor": 1_500, "currency": "USD"})),
    )
    .await;
    let p3 = p3["id"].as_str().expect("id").to_string();
    assert_eq!(figures(&app, &creator).await, (9_000, 0, 1_500, 7_500));
    let (s, _) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{p3}/reject"),
        Some(&admin),
        Some(json!({"reason": ""})),
    )
    .await;
    assert_eq!(s, 422, "a reason is required");
    let (s, v) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{p3}/reject"),
        Some(&admin),
        Some(json!({"reason": "Please verify your identity first"})),
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str(), v["reason"].as_str()),
        (
            200,
            Some("rejected"),
            Some("Please verify your identity first")
        ),
        "{v}"
    );
    assert_eq!(figures(&app, &creator).await, (9_000, 1_500, 0, 7_500));
    let (s, _) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{p3}/approve"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 409);

    // The creator's list, the admin's record, and the ledger.
    let (_, mine) = call(&app, "GET", "/api/me/payouts", Some(&creator), None).await;
    let statuses: Vec<&str> = mine["payouts"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["rejected", "paid", "paid"]);
    let (_, actions) = call(&app, "GET", "/api/admin/actions", Some(&admin), None).await;
    let kinds: Vec<&str> = actions["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "payout_approved").count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"payout_rejected"), "{kinds:?}");
    let (s, r) = call(&app, "GET", "/api/admin/revenue", Some(&admin), None).await;
    assert_eq!(s, 200, "{r}");
    let usd = &r["ledger"]
        .as_array()
        .expect("ledger")
        .iter()
        .find(|l| l["currency"] == "USD")
        .expect("usd")
        .clone();
    assert_eq!(
        (
            usd["platform_fees"].as_str(),
            usd["payouts_paid"].as_str(),
            usd["creators"].as_str()
        ),
        (Some("20.00"), Some("75.00"), Some("105.00")),
        "{r}"
    );
    verify_clean(&db).await;

    // A Connect event with a bad signature is refused; another event type is acknowledged.
    let res = support::client()
        .post(app.url("/api/payments/stripe/connect/webhook"))
        .header("stripe-signature", "t=1,v1=00")
        .body(r#"{"id":"evt_x","object":"event","type":"account.updated","data":{"object":{"id":"acct_test1","object":"account"}}}"#)
        .send()
        .await
        .expect("webhook");
    assert_eq!(res.status(), 400);
    app.finish().await;
}

async fn payout_by_bank_transfer(b: Backend) {
    // No Stripe: payouts are made by bank transfer.
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let db = app.running.as_ref().expect("running").state.db.clone();
    let admin = admin(&app, &db).await;
    let creator = register_user(&app, "creator@example.com", "Creator").await;
    let collaborator = register_user(&app, "editor@example.com", "Editor").await;
    let fan_token = register_user(&app, "fan@example.com", "Fan").await;
    let (creator_id, fan, editor) = (
        uid(&db, "creator@example.com").await,
        uid(&db, "fan@example.com").await,
        uid(&db, "editor@example.com").await,
    );
    let handle = |id: i64| {
        let db = db.clone();
        async move { db.user_by_id(id).await.expect("q").expect("user").handle }
    };
    let (creator_handle, editor_handle) = (handle(creator_id).await, handle(editor).await);

    // A split of the channel's income: 60 % the creator, 40 % the editor. Sums are checked.
    let (s, v) = call(&app, "PUT", "/api/me/splits", Some(&creator), Some(json!({"scope": "channel", "shares": [{"handle": creator_handle, "percent": "60"}, {"handle": editor_handle, "percent": "30"}]}))).await;
    assert_eq!(s, 422, "shares summing to 90 %: {v}");
    assert!(v["details"].as_str().unwrap_or("").contains("100"), "{v}");
    let (s, v) = call(
        &app,
        "PUT",
        "/api/me/splits",
        Some(&creator),
        Some(json!({"scope": "channel", "shares": [{"handle": "nobody-here", "percent": "100"}]})),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = call(&app, "PUT", "/api/me/splits", Some(&creator), Some(json!({"scope": "video", "target": "not-a-video", "shares": [{"handle": creator_handle, "percent": "100"}]}))).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = call(&app, "PUT", "/api/me/splits", Some(&creator), Some(json!({"scope": "channel", "shares": [{"handle": creator_handle, "percent": "60"}, {"handle": format!("@{editor_handle}"), "percent": "40.00"}]}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["splits"][0]["shares"][1]["percent"], "40.00", "{v}");

    // A tax rate, then a 119.00 tip from Germany with 19.00 tax in it: the receipt shows it.
    let (s, _) = call(
        &app,
        "PUT",
        "/api/admin/tax-rates/de",
        Some(&creator),
        Some(json!({"percent": "19", "label": "VAT"})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = call(
        &app,
        "PUT",
        "/api/admin/tax-rates/DE",
        Some(&admin),
        Some(json!({"percent": "120"})),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = call(
        &app,
        "PUT",
        "/api/admin/tax-rates/de",
        Some(&admin),
        Some(json!({"percent": "19", "label": "VAT"})),
    )
    .await;
    assert_eq!(
        (
            s,
            v["rates"][0]["country"].as_str(),
            v["rates"][0]["rate_bps"].as_i64()
        ),
        (200, Some("DE"), Some(1900)),
        "{v}"
    );
    let tip = income(&db, fan, creator_id, 11_900, 1_900, Some("DE"), 0, "pi_de").await;
    let (s, r) = call(
        &app,
        "GET",
        &format!("/api/me/purchases/{tip}/receipt"),
        Some(&fan_token),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (
            r["tax"]["amount"].as_str(),
            r["tax_label"].as_str(),
            r["net"]["amount"].as_str(),
            r["amount"]["amount"].as_str()
        ),
        (Some("19.00"), Some("VAT"), Some("100.00"), Some("119.00")),
        "{r}"
    );
    let (s, _) = call(
        &app,
        "GET",
        &format!("/api/me/purchases/{tip}/receipt"),
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(s, 404, "only the buyer reads a receipt");

    // 100.00 after tax, 10.00 fee, 90.00 split 60/40: 54.00 and 36.00.
    assert_eq!(figures(&app, &creator).await, (0, 5_400, 0, 0));
    assert_eq!(figures(&app, &collaborator).await, (0, 3_600, 0, 0));

    // Bank details (sealed), then a payout of 40.00.
    let (s, m) = call(&app, "PUT", "/api/me/payouts/bank", Some(&creator), Some(json!({"holder": "Casey Creator", "details": "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX"}))).await;
    assert_eq!(
        (
            s,
            m["bank_holder"].as_str(),
            m["bank_masked"].as_str(),
            m["stripe_available"].as_bool()
        ),
        (200, Some("Casey Creator"), Some("•••• FXXX"), Some(false)),
        "{m}"
    );
    let (s, p) = call(
        &app,
        "POST",
        "/api/me/payouts",
        Some(&creator),
        Some(json!({"amount_minor": 4_000, "currency": "usd"})),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let payout = p["id"].as_str().expect("id").to_string();
    let (s, v) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{payout}/paid"),
        Some(&admin),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 409, "not approved yet: {v}");
    let (s, a) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{payout}/approve"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        (s, a["status"].as_str(), a["method"].as_str()),
        (200, Some("approved"), Some("bank")),
        "{a}"
    );
    assert_eq!(figures(&app, &creator).await, (0, 1_400, 4_000, 0));

    // The export lists it with the bank details; marking it paid moves it to paid.
    let res = support::client()
        .get(app.url("/api/admin/payouts/export.csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("export");
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/csv"));
    let csv = res.text().await.expect("csv");
    let row = csv
        .lines()
        .find(|l| l.starts_with(&payout))
        .unwrap_or_else(|| panic!("the payout is exported: {csv}"));
    assert!(
        row.contains("Casey Creator")
            && row.contains("\"IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX\"")
            && row.contains(",40.00,USD,"),
        "{row}"
    );
    // Marked paid twice at once (two administrators): paid once.
    let paid_path = format!("/api/admin/payouts/{payout}/paid");
    let ((s, v), (s2, v2)) = tokio::join!(
        call(
            &app,
            "POST",
            &paid_path,
            Some(&admin),
            Some(json!({"reference": "SEPA-2026-0042"}))
        ),
        call(
            &app,
            "POST",
            &paid_path,
            Some(&admin),
            Some(json!({"reference": "SEPA-2026-0042"}))
        ),
    );
    assert_eq!(
        (s, v["status"].as_str(), v["reference"].as_str()),
        (200, Some("paid"), Some("SEPA-2026-0042")),
        "{v}"
    );
    assert_eq!((s2, v2["status"].as_str()), (200, Some("paid")), "{v2}");
    assert_eq!(figures(&app, &creator).await, (0, 1_400, 0, 4_000));
    let csv = support::client()
        .get(app.url("/api/admin/payouts/export.csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("csv");
    assert!(
        !csv.contains(&payout),
        "paid payouts leave the export: {csv}"
    );
    let (_, actions) = call(&app, "GET", "/api/admin/actions", Some(&admin), None).await;
    let kinds: Vec<&str> = actions["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["action"].as_str().unwrap_or(""))
        .collect();
    for k in [
        "payout_approved",
        "payouts_exported",
        "payout_marked_paid",
        "tax_rate_set",
    ] {
        assert!(kinds.contains(&k), "{k} recorded: {kinds:?}");
    }

    // Two requests at once for 10.00 each out of 14.00 available: the creator's requests are
    // serialised, so exactly one is taken.
    let body = json!({"amount_minor": 1_000, "currency": "USD"});
    let (a, b) = tokio::join!(
        call(
            &app,
            "POST",
            "/api/me/payouts",
            Some(&creator),
            Some(body.clone())
        ),
        call(&app, "POST", "/api/me/payouts", Some(&creator), Some(body)),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    assert_eq!(figures(&app, &creator).await, (0, 400, 1_000, 4_000));
    let open = if a.0 == 201 { &a.1 } else { &b.1 };
    let open = open["id"].as_str().expect("id").to_string();
    let (s, _) = call(
        &app,
        "POST",
        &format!("/api/admin/payouts/{open}/reject"),
        Some(&admin),
        Some(json!({"reason": "Requested twice"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(figures(&app, &creator).await, (0, 1_400, 0, 4_000));

    // This month's statement: JSON and CSV.
    let (_, e) = call(&app, "GET", "/api/me/earnings", Some(&creator), None).await;
    let month = e["statement_months"][0]
        .as_str()
        .expect("a month")
        .to_string();
    let (s, st) = call(
        &app,
        "GET",
        &format!("/api/me/statements/{month}"),
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(
        (
            st["totals"][0]["income"].as_str(),
            st["totals"][0]["payouts"].as_str(),
            st["totals"][0]["closing"].as_str()
        ),
        (Some("54.00"), Some("40.00"), Some("14.00")),
        "{st}"
    );
    let csv = support::client()
        .get(app.url(&format!("/api/me/statements/{month}.csv")))
        .bearer_auth(&creator)
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("text");
    assert!(
        csv.starts_with("date,kind,from,description,amount,currency,balance\n"),
        "{csv}"
    );
    assert!(
        csv.contains(",tip,Fan One,")
            && csv.contains(",54.00,USD,54.00")
            && csv.contains("closing balance,,,,USD,14.00"),
        "{csv}"
    );
    let (s, _) = call(
        &app,
        "GET",
        "/api/me/statements/2026-13",
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(s, 422);

    verify_clean(&db).await;
    app.finish().await;
}

both_backends!(payout_through_stripe_connect, payout_by_bank_transfer);
