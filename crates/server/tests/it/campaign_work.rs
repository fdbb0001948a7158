//! The work of a campaign over the API, on SQLite and PostgreSQL, with the Stripe stand-in
//! (`support::checkout`): the brand pays the budget into escrow through Stripe Checkout; accepted
//! creators hand in deliverables, the brand asks for a revision, versions are kept and rolled
//! back, approval needs the disclosure and pays the creator's rate less the fee out of escrow;
//! usage rights hold once the creator consents and stop the embed (403, saying why) outside
//! their territory or past their term; signed conversions are credited to the touchpoints
//! before them under the four models exactly as computed here independently; cancelling
//! refunds what escrow holds through Stripe; the ledger verifies throughout.

use crate::support::checkout::{self, seen};
use crate::support::{self, call, Backend, TestApp};
use ferrocast_db::videos::NewVideo;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

both_backends!(escrow_deliverables_rights_and_attribution);

const DAY: i64 = 86_400_000;

async fn register_as(app: &TestApp, email: &str, name: &str, role: &str) -> (String, i64) {
    let token = crate::campaigns::register_as(app, email, name, role).await;
    let (_, me) = call(app, "GET", "/api/auth/me", Some(&token), None).await;
    (token, me["id"].as_i64().expect("id"))
}

fn db(app: &TestApp) -> &ferrocast_db::Db {
    &app.running.as_ref().expect("running").state.db
}

/// A ready video of `user`'s, arranged in storage (the workflow needs its record only).
async fn ready_video(app: &TestApp, user: i64, title: &str) -> String {
    let uuid = ferrocast_server::service::recordings::new_video_uuid();
    db(app)
        .create_video(
            &NewVideo {
                uuid: &uuid,
                user_id: user,
                source_id: None,
                kind: "upload",
                title,
                description: "",
                tags: &[],
                visibility: "private",
                status: "ready",
                expires_at: None,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("video");
    uuid
}

async fn set_touch_time(app: &TestApp, id: i64, at: i64) {
    ferrocast_db::on_pool!(db(app), p => {
        sqlx::query("UPDATE campaign_touchpoints SET at = $1 WHERE id = $2").bind(at).bind(id).execute(p).await.expect("touch time");
    })
}

async fn handle_of(app: &TestApp, id: i64) -> String {
    db(app)
        .user_by_id(id)
        .await
        .expect("user")
        .expect("exists")
        .handle
}

async fn count(app: &TestApp, sql: &str, arg: &str) -> i64 {
    ferrocast_db::on_pool!(db(app), p => {
        sqlx::query_scalar::<_, i64>(sql).bind(arg).fetch_one(p).await.expect(sql)
    })
}

fn details(body: &Value) -> String {
    body["details"].as_str().unwrap_or_default().to_string()
}

async fn ledger_holds(app: &TestApp) {
    let report = db(app).ledger_verify().await.expect("verify");
    assert!(report.problems.is_empty(), "{report:#?}");
}

/// Pays a Stripe Checkout page of the stand-in as the buyer does (its form's button).
async fn pay(url: &str) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client.post(url).send().await.expect("the stand-in answers");
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
}

fn sign(secret: &str, payload: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(payload);
    format!(
        "sha256={}",
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    )
}

/// Credits of `value` to touchpoints at `touches` (ms, in order) for a sale at `at`, computed
/// here from the models' definitions with floating point, independently of the domain's
/// integer arithmetic: each touchpoint's exact share floored, the units left over one each to
/// the largest remainders (ties to the later touchpoint).
fn expected_credits(model: &str, touches: &[i64], at: i64, value: i64) -> Vec<i64> {
    let eligible: Vec<usize> = (0..touches.len())
        .filter(|&i| touches[i] <= at && at - touches[i] < 30 * DAY)
        .collect();
    let mut out = vec![0; touches.len()];
    if eligible.is_empty() {
        return out;
    }
    let weights: Vec<f64> = match model {
        "first_touch" => {
            let first = *eligible
                .iter()
                .min_by_key(|&&i| (touches[i], i))
                .expect("one");
            eligible
                .iter()
                .map(|&i| f64::from(u8::from(i == first)))
                .collect()
        }
        "last_touch" => {
            let last = *eligible
                .iter()
                .max_by_key(|&&i| (touches[i], i))
                .expect("one");
            eligible
                .iter()
                .map(|&i| f64::from(u8::from(i == last)))
                .collect()
        }
        "linear" => eligible.iter().map(|_| 1.0).collect(),
        _ => eligible
            .iter()
            .map(|&i| 0.5f64.powf((at - touches[i]) as f64 / (7.0 * DAY as f64)))
            .collect(),
    };
    let total: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| value as f64 * w / total).collect();
    let mut floors: Vec<i64> = exact.iter().map(|e| e.floor() as i64).collect();
    let mut left = value - floors.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..eligible.len()).collect();
    // Largest remainder first; ties to the later touchpoint.
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.partial_cmp(&ra)
            .expect("numbers")
            .then((touches[eligible[b]], eligible[b]).cmp(&(touches[eligible[a]], eligible[a])))
    });
    for &k in &order {
        if left == 0 {
            break;
        }
        floors[k] += 1;
        left -= 1;
    }
    for (k, &i) in eligible.iter().enumerate() {
        out[i] = floors[k];
    }
    out
}

async fn escrow_deliverables_rights_and_attribution(b: Backend) {
    // The whole workflow is one large future: on the heap, not the test thread's stack.
    Box::pin(workflow(b)).await;
}

async fn workflow(b: Backend) {
    let (g, addr) = checkout::start().await;
    let Some(app) = TestApp::start_with(b, checkout::options(addr)).await else {
        return;
    };
    checkout::set_node(&g, &app.base);
    let (owner, _) = register_as(&app, "owner@acme.example", "Olive Owner", "brand").await;
    let (cara, cara_id) = register_as(&app, "cara@example.com", "Cara Creator", "creator").await;
    let (dan, dan_id) = register_as(&app, "dan@example.com", "Dan Creator", "creator").await;

    // A brand and a published campaign.
    let (status, body) = call(
        &app,
        "POST",
        "/api/brands",
        Some(&owner),
        Some(json!({"name": "Acme Outdoors"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let brand = body["brand"]["id"].as_str().expect("id").to_string();
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/brands/{brand}/campaigns"),
        Some(&owner),
        Some(json!({"title": "Trail shoes", "type": "PRODUCT_REVIEW", "brief": "A 60-second review of our trail shoes.", "deliverable": "VIDEO", "budget_minor": 50_000, "currency": "USD"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let campaign = body["campaign"]["id"].as_str().expect("id").to_string();
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/campaigns/{campaign}/status"),
        Some(&owner),
        Some(json!({"status": "PUBLISHED"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // ----------------------------------------------------------- escrow through Stripe
    let escrow = format!("/api/campaigns/{campaign}/escrow");
    let (status, body) = call(
        &app,
        "POST",
        &escrow,
        Some(&owner),
        Some(json!({"gateway": "razorpay"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = call(
        &app,
        "POST",
        &escrow,
        Some(&cara),
        Some(json!({"gateway": "stripe"})),
    )
    .await;
    assert_eq!(status, 404, "a creator is no member: {body}");
    let (status, started) = call(
        &app,
        "POST",
        &escrow,
        Some(&owner),
        Some(json!({"gateway": "stripe"})),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["amount_minor"], 50_000);
    let session = seen(&g)
        .sessions
        .last()
        .cloned()
        .expect("a Checkout Session");
    assert_eq!(session["mode"], "payment");
    assert_eq!(session["line_items[0][price_data][unit_amount]"], "50000");
    assert_eq!(
        session["metadata[escrow]"],
        started["payment_id"].as_str().expect("id")
    );
    assert!(!session.contains_key("metadata[purchase]"), "{session:?}");
    pay(started["url"].as_str().expect("url")).await;
    let (status, e) = call(&app, "GET", &escrow, Some(&owner), None).await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(
        (
            e["funded_minor"].as_i64(),
            e["held_minor"].as_i64(),
            e["due_minor"].as_i64()
        ),
        (Some(50_000), Some(50_000), Some(0)),
        "{e}"
    );
    assert_eq!(e["payments"][0]["status"], "paid", "{e}");
    let (status, body) = call(
        &app,
        "POST",
        &escrow,
        Some(&owner),
        Some(json!({"gateway": "stripe"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("ESCROW_FUNDED")),
        "{body}"
    );
    // Stripe delivering the completion again changes nothing.
    let again = checkout::stripe_event(
        "evt_again",
        "checkout.session.completed",
        support::now_secs(),
        json!({"id": "cs_test_1", "object": "checkout.session", "mode": "payment", "client_reference_id": started["payment_id"], "payment_intent": "pi_test_1", "amount_total": 50_000, "currency": "usd", "payment_status": "paid", "status": "complete", "metadata": {"escrow": started["payment_id"]}}),
    );
    let answers = checkout::stripe_send(&app.base, &[again]).await;
    assert_eq!(answers[0].0, 200);
    assert_eq!(answers[0].1["applied"], false, "{answers:?}");
    ledger_holds(&app).await;

    // ----------------------------------------------------------- applications, accepted
    let mut applications = Vec::new();
    for (token, rate) in [(&cara, 30_000), (&dan, 15_000)] {
        let (status, body) = call(
            &app,
            "POST",
            &format!("/api/campaigns/{campaign}/applications"),
            Some(token),
            Some(json!({"pitch": "I run trails every week and film them.", "rate_minor": rate})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let id = body["application"]["id"].as_str().expect("id").to_string();
        let (status, body) = call(
            &app,
            "POST",
            &format!("/api/applications/{id}/decision"),
            Some(&owner),
            Some(json!({"status": "accepted"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        applications.push(id);
    }

    // ----------------------------------------------------------- deliverables and review
    let cara_v1 = ready_video(&app, cara_id, "Trail review, first cut").await;
    let cara_v2 = ready_video(&app, cara_id, "Trail review, second cut").await;
    let dan_video = ready_video(&app, dan_id, "Dan on the ridge").await;
    let hand_in = format!("/api/applications/{}/deliverables", applications[0]);
    let (status, body) = call(
        &app,
        "POST",
        &hand_in,
        Some(&cara),
        Some(json!({"type": "VIDEO", "title": "Trail review", "video": dan_video})),
    )
    .await;
    assert_eq!(status, 422, "another's video: {body}");
    let (status, body) = call(
        &app,
        "POST",
        &hand_in,
        Some(&cara),
        Some(json!({"type": "VIDEO", "title": "Trail review", "body": "no video"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(details(&body).contains("video"), "{body}");
    let (status, body) = call(
        &app,
        "POST",
        &hand_in,
        Some(&dan),
        Some(json!({"type": "VIDEO", "title": "x", "video": dan_video})),
    )
    .await;
    assert_eq!(status, 404, "not Dan's application: {body}");
    let (status, body) = call(&app, "POST", &hand_in, Some(&cara), Some(json!({"type": "VIDEO", "title": "Trail review", "video": cara_v1, "note": "First cut"}))).await;
    assert_eq!(status, 201, "{body}");
    let cd = body["deliverable"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        (
            body["deliverable"]["status"].as_str(),
            body["deliverable"]["version"].as_i64()
        ),
        (Some("submitted"), Some(1))
    );
    let (_, c) = call(
        &app,
        "GET",
        &format!("/api/campaigns/{campaign}"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(c["campaign"]["status"], "IN_PROGRESS", "{c}");
    let review = format!("/api/deliverables/{cd}/review");
    let (status, body) = call(
        &app,
        "POST",
        &review,
        Some(&cara),
        Some(json!({"version": 1, "decision": "approve"})),
    )
    .await;
    assert_eq!(status, 403, "the creator does not review: {body}");
    let (status, body) = call(
        &app,
        "POST",
        &review,
        Some(&owner),
        Some(json!({"version": 1, "decision": "revise"})),
    )
    .await;
    assert_eq!(status, 422, "a revision says what to change: {body}");
    let (status, body) = call(&app, "POST", &review, Some(&owner), Some(json!({"version": 1, "decision": "revise", "comment": "Show the sole's grip on wet rock."}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deliverable"]["status"], "revision_requested");
    let versions = format!("/api/deliverables/{cd}/versions");
    let (status, body) = call(
        &app,
        "POST",
        &versions,
        Some(&cara),
        Some(json!({"version": 1, "video": cara_v2, "note": "Added the wet rock"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (
            body["deliverable"]["status"].as_str(),
            body["deliverable"]["version"].as_i64()
        ),
        (Some("submitted"), Some(2))
    );
    assert_eq!(
        body["versions"].as_array().map(Vec::len),
        Some(2),
        "both versions kept"
    );
    assert_eq!(body["versions"][1]["video"]["id"], cara_v2.as_str());
    let rollback = format!("/api/deliverables/{cd}/rollback");
    let (status, body) = call(
        &app,
        "POST",
        &rollback,
        Some(&cara),
        Some(json!({"version": 2, "to": 1})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deliverable"]["version"], 1);
    let (status, body) = call(
        &app,
        "POST",
        &rollback,
        Some(&cara),
        Some(json!({"version": 2, "to": 1})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("DELIVERABLE_CHANGED")),
        "a stale rollback: {body}"
    );
    let (status, body) = call(
        &app,
        "POST",
        &rollback,
        Some(&cara),
        Some(json!({"version": 1, "to": 2})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Approval needs the disclosure of the paid partnership.
    let (status, body) = call(
        &app,
        "POST",
        &review,
        Some(&owner),
        Some(json!({"version": 2, "decision": "approve"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(details(&body).contains("disclosure"), "{body}");
    let (status, body) = call(&app, "POST", &versions, Some(&cara), Some(json!({"version": 2, "video": cara_v2, "note": "Disclosure added", "disclosure": "#ad Paid partnership with Acme Outdoors"}))).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        &app,
        "POST",
        &review,
        Some(&owner),
        Some(json!({"version": 2, "decision": "approve"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("DELIVERABLE_CHANGED")),
        "version 3 is under review now: {body}"
    );
    let (status, body) = call(
        &app,
        "POST",
        &review,
        Some(&owner),
        Some(json!({"version": 3, "decision": "approve", "comment": "Great."})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deliverable"]["status"], "approved");
    let actions: Vec<&str> = body["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "submitted",
            "revision_requested",
            "resubmitted",
            "rolled_back",
            "rolled_back",
            "resubmitted",
            "approved"
        ]
    );
    let (status, body) = call(
        &app,
        "POST",
        &review,
        Some(&owner),
        Some(json!({"version": 3, "decision": "approve"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("DELIVERABLE_DECIDED")),
        "{body}"
    );
    // Cara's rate less the 10 % fee is hers (held like other income); escrow holds the rest.
    let balances = db(&app)
        .creator_balances(cara_id, ferrocast_db::now_ms())
        .await
        .expect("balances");
    assert_eq!(balances.len(), 1, "{balances:?}");
    assert_eq!(
        balances[0].pending + balances[0].available,
        27_000,
        "{balances:?}"
    );
    let (_, e) = call(&app, "GET", &escrow, Some(&owner), None).await;
    assert_eq!(
        (e["held_minor"].as_i64(), e["released_minor"].as_i64()),
        (Some(20_000), Some(30_000)),
        "{e}"
    );
    ledger_holds(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = $1",
            "campaign.deliverable_approved"
        )
        .await,
        1
    );

    // Dan's deliverable, approved straight away: a review needs no image disclosure.
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/applications/{}/deliverables", applications[1]),
        Some(&dan),
        Some(
            json!({"type": "VIDEO", "title": "Ridge run", "video": dan_video, "disclosure": "#ad"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let dd = body["deliverable"]["id"].as_str().expect("id").to_string();
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/deliverables/{dd}/review"),
        Some(&owner),
        Some(json!({"version": 1, "decision": "approve"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // ----------------------------------------------------------- usage rights and the embed
    let embed = |d: &str, q: &str| format!("/api/embed/deliverables/{d}{q}");
    let (status, body) = call(&app, "GET", &embed(&cd, ""), None, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(details(&body).contains("not granted"), "{body}");
    let rights = format!("/api/deliverables/{cd}/rights");
    let (status, body) = call(
        &app,
        "PUT",
        &rights,
        Some(&owner),
        Some(json!({"kind": "limited", "territories": ["us"]})),
    )
    .await;
    assert_eq!(status, 422, "a limited licence has a term: {body}");
    let until_ms = ferrocast_db::now_ms() + 4_000;
    let until = ferrocast_server::service::clock::rfc3339(until_ms);
    let (status, body) = call(
        &app,
        "PUT",
        &rights,
        Some(&owner),
        Some(json!({"kind": "limited", "until": until, "territories": ["us", "CA"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["deliverable"]["rights"]["territories"],
        json!(["CA", "US"])
    );
    assert_eq!(
        body["deliverable"]["rights"]["in_force"], false,
        "not consented yet"
    );
    let (status, _) = call(
        &app,
        "POST",
        &format!("{rights}/consent"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(status, 403, "the brand does not consent for the creator");
    let (status, body) = call(
        &app,
        "POST",
        &format!("{rights}/consent"),
        Some(&cara),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deliverable"]["rights"]["in_force"], true, "{body}");
    let (status, body) = call(&app, "GET", &embed(&cd, "?country=US"), None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["disclosure"],
        "#ad Paid partnership with Acme Outdoors"
    );
    assert_eq!(
        body["video"]["id"],
        cara_v2.as_str(),
        "the approved version plays"
    );
    let (status, body) = call(&app, "GET", &embed(&cd, "?country=FR"), None, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        details(&body).contains("does not cover FR; it covers CA, US"),
        "{body}"
    );
    let (status, body) = call(&app, "GET", &embed(&cd, ""), None, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(details(&body).contains("territory is not known"), "{body}");
    // Past its term, the licence stops the embed, and says so, on the API and the page.
    tokio::time::sleep(std::time::Duration::from_millis(
        (until_ms - ferrocast_db::now_ms() + 200).max(0) as u64,
    ))
    .await;
    let (status, body) = call(&app, "GET", &embed(&cd, "?country=US"), None, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        details(&body).contains("licence to this content ended at")
            && details(&body).contains("the creator can grant a new one"),
        "{body}"
    );
    let page = reqwest::get(app.url(&format!("/embed/deliverables/{cd}?country=US")))
        .await
        .expect("page");
    assert_eq!(page.status(), 403);
    let (_, body) = call(
        &app,
        "GET",
        &format!("/api/deliverables/{cd}"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(body["deliverable"]["rights"]["in_force"], false, "{body}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = $1",
            "campaign.rights_proposed"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = $1",
            "campaign.rights_consented"
        )
        .await,
        1
    );
    // A perpetual licence for Dan's, whose embed carries a hotspot.
    let (status, body) = call(
        &app,
        "PUT",
        &format!("/api/deliverables/{dd}/rights"),
        Some(&owner),
        Some(json!({"kind": "perpetual"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/deliverables/{dd}/rights/consent"),
        Some(&dan),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&app, "POST", &format!("/api/deliverables/{dd}/hotspots"), Some(&owner), Some(json!({"start_seconds": 1.0, "end_seconds": 4.5, "x": 40.0, "y": 60.0, "product": "Ridge 2 trail shoe", "link": "https://acme.example/ridge-2"}))).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(&app, "POST", &format!("/api/deliverables/{dd}/hotspots"), Some(&owner), Some(json!({"start_seconds": 5.0, "end_seconds": 4.0, "x": 40.0, "y": 60.0, "product": "x", "link": "https://acme.example/x"}))).await;
    assert_eq!(status, 422, "{body}");

    // The shoppable gallery shows what the brand may embed now: Dan's, not Cara's expired one.
    let (status, gallery) = call(
        &app,
        "GET",
        &format!("/api/embed/campaigns/{campaign}/gallery?country=US"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{gallery}");
    let shown: Vec<&str> = gallery["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(shown, [dd.as_str()], "{gallery}");
    assert_eq!(
        gallery["items"][0]["hotspots"][0]["product"], "Ridge 2 trail shoe",
        "{gallery}"
    );

    Box::pin(attribution(
        &app,
        &campaign,
        &owner,
        &cara,
        (&cd, cara_id),
        (&dd, dan_id),
    ))
    .await;

    Box::pin(notices_and_tier(
        &app, &owner, &cara, &dan, &campaign, &brand,
    ))
    .await;

    Box::pin(cancel_and_refund(&app, &g, &owner, &campaign)).await;
    app.finish().await;
}

/// The notices the workflow sent, a milestone's reminder, and an administrator's move of the
/// brand to another tier (a phase of its own: one async function this long overflows the test
/// thread's stack in a debug build).
async fn notices_and_tier(
    app: &TestApp,
    owner: &str,
    cara: &str,
    dan: &str,
    campaign: &str,
    brand: &str,
) {
    let (owner, cara, dan) = (owner.to_string(), cara.to_string(), dan.to_string());
    // ----------------------------------------------------------- notices
    // The brand heard of each version handed in, the creator of each decision.
    let titles = |body: Value| -> Vec<String> {
        body["notifications"]
            .as_array()
            .expect("list")
            .iter()
            .filter(|n| n["kind"] == "campaign")
            .map(|n| n["title"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let (_, mine) = call(
        app,
        "GET",
        "/api/notifications?limit=50",
        Some(&owner),
        None,
    )
    .await;
    let owner_saw = titles(mine);
    assert_eq!(
        owner_saw
            .iter()
            .filter(|t| t.as_str() == "Cara Creator handed in “Trail review”")
            .count(),
        3,
        "versions 1, 2 and 3 (rolling back to a version announced before announces nothing new): {owner_saw:?}"
    );
    let (_, mine) = call(app, "GET", "/api/notifications?limit=50", Some(&cara), None).await;
    let cara_saw = titles(mine);
    for t in [
        "Acme Outdoors asked for changes to “Trail review”",
        "Acme Outdoors approved “Trail review”",
        "Acme Outdoors proposes usage rights for “Trail review”",
    ] {
        assert!(cara_saw.iter().any(|s| s == t), "{t}: {cara_saw:?}");
    }
    // A milestone due within the day is reminded once, to the brand and the hired creators.
    let (status, body) = call(app, "POST", &format!("/api/campaigns/{campaign}/milestones"), Some(&owner), Some(json!({"title": "Final cut", "due_at": ferrocast_server::service::clock::rfc3339(ferrocast_db::now_ms() + 3_600_000)}))).await;
    assert_eq!(status, 201, "{body}");
    let state = &app.running.as_ref().expect("running").state;
    let mut reminded = 0;
    for _ in 0..2 {
        reminded += ferrocast_server::campaign_notices::remind_milestones(state).await;
    }
    assert_eq!(
        reminded, 1,
        "once, however often the job runs (the node's own run may have taken it first)"
    );
    for token in [&owner, &cara, &dan] {
        let mut seen = Vec::new();
        for _ in 0..50 {
            let (_, mine) =
                call(app, "GET", "/api/notifications?limit=50", Some(token), None).await;
            seen = titles(mine);
            if seen.iter().any(|t| t == "Due soon: Final cut") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            seen.iter()
                .filter(|t| t.as_str() == "Due soon: Final cut")
                .count(),
            1,
            "{seen:?}"
        );
    }

    // ----------------------------------------------------------- an administrator's tier change
    let admin = support::register_admin(app, "admin@example.com").await;
    let tier = format!("/api/admin/brands/{brand}/tier");
    let (status, _) = call(
        app,
        "PUT",
        &tier,
        Some(&owner),
        Some(json!({"tier": "Growth"})),
    )
    .await;
    assert_eq!(status, 403, "brands do not move themselves");
    let (status, body) = call(
        app,
        "PUT",
        &tier,
        Some(&admin),
        Some(json!({"tier": "Platinum"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        details(&body).contains("Free, Starter, Growth, Pro, Enterprise"),
        "{body}"
    );
    let (status, body) = call(
        app,
        "PUT",
        &tier,
        Some(&admin),
        Some(json!({"tier": "growth"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["brand"]["tier"]["name"], "Growth");
    assert_eq!(body["brand"]["tier"]["seats"], 10);
    let (_, list) = call(app, "GET", "/api/admin/brands", Some(&admin), None).await;
    assert_eq!(
        list["brands"][0]["brand"]["tier"]["name"], "Growth",
        "{list}"
    );
    assert_eq!(list["brands"][0]["members"], 1, "{list}");
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM audit_log WHERE action = $1",
            "admin.brand_tier_changed"
        )
        .await,
        1
    );
}

/// Cancelling refunds what escrow holds through Stripe, also after an outage (a phase of its
/// own, for the stack's sake).
async fn cancel_and_refund(app: &TestApp, g: &checkout::Gateways, owner: &str, campaign: &str) {
    let owner = owner.to_string();
    let escrow = format!("/api/campaigns/{campaign}/escrow");
    // ----------------------------------------------------------- cancelling refunds escrow
    // Stripe has an outage at the cancellation: the refund waits in escrow, and is tried again.
    let refund_again = format!("/api/campaigns/{campaign}/escrow/refund");
    let (status, body) = call(app, "POST", &refund_again, Some(&owner), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("NOT_CANCELLED")),
        "{body}"
    );
    seen(g).fail_refunds = 1;
    let (status, body) = call(
        app,
        "POST",
        &format!("/api/campaigns/{campaign}/status"),
        Some(&owner),
        Some(json!({"status": "CANCELLED"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, e) = call(app, "GET", &escrow, Some(&owner), None).await;
    assert_eq!(
        e["held_minor"], 5_000,
        "the refused refund stays in escrow: {e}"
    );
    let (status, e) = call(app, "POST", &refund_again, Some(&owner), None).await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["held_minor"], 0, "{e}");
    let refunds = seen(g).refunds.clone();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(
        (refunds[0].1.as_str(), refunds[0].2),
        ("pi_test_1", 5_000),
        "{refunds:?}"
    );
    let (_, e) = call(app, "GET", &escrow, Some(&owner), None).await;
    assert_eq!(
        (
            e["held_minor"].as_i64(),
            e["refunded_minor"].as_i64(),
            e["released_minor"].as_i64()
        ),
        (Some(0), Some(5_000), Some(45_000)),
        "{e}"
    );
    ledger_holds(app).await;
}

/// Touchpoints and signed conversions credited under the four models, as computed here
/// independently (a phase of its own, for the stack's sake).
async fn attribution(
    app: &TestApp,
    campaign: &str,
    owner: &str,
    cara: &str,
    (cd, cara_id): (&str, i64),
    (dd, dan_id): (&str, i64),
) {
    let (owner, cara) = (owner.to_string(), cara.to_string());
    let (cd, dd) = (cd.to_string(), dd.to_string());
    let embed = |d: &str, q: &str| format!("/api/embed/deliverables/{d}{q}");
    // ----------------------------------------------------------- attribution
    // Touchpoints through the embed (views) and the hotspot's tracker (a click)…
    let (_, body) = call(app, "GET", &embed(&dd, "?visitor=v1"), None, None).await;
    let click = body["hotspots"][0]["link"]
        .as_str()
        .expect("tracked link")
        .to_string();
    assert!(click.contains("visitor=v1"), "{click}");
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = no_follow.get(app.url(&click)).send().await.expect("click");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "https://acme.example/ridge-2");
    for (d, visitor) in [(&dd, "v2"), (&dd, "v2")] {
        let (status, _) = call(
            app,
            "GET",
            &embed(d, &format!("?visitor={visitor}")),
            None,
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    // … Cara's expired licence takes no more, so hers are arranged in storage, and every
    // touchpoint gets its scripted time.
    let cara_internal = db(app)
        .deliverable_by_uuid(&cd)
        .await
        .expect("d")
        .expect("exists")
        .id;
    for visitor in ["v1", "v1", "v2"] {
        let campaign_id = db(app)
            .campaign_by_uuid(campaign)
            .await
            .expect("c")
            .expect("exists")
            .id;
        db(app)
            .add_touchpoint(campaign_id, cara_internal, None, visitor, "view", 0)
            .await
            .expect("touch");
    }
    let now = ferrocast_db::now_ms();
    // Whole seconds: conversions' times travel as RFC 3339.
    let t = (now - 3_600_000) / 1000 * 1000;
    // Each visitor's touchpoints, in id order: (deliverable's creator, time).
    let script: [(&str, &[(&str, i64)]); 2] = [
        (
            "v1",
            &[
                ("dan", t - 3 * DAY),
                ("dan", t - 3 * DAY + 60_000),
                ("cara", t - 10 * DAY),
                ("cara", t - DAY - 7_200_000),
            ],
        ),
        (
            "v2",
            &[
                ("dan", t - 40 * DAY),
                ("dan", t - 2 * DAY),
                ("cara", t - 5 * DAY - 123_457),
            ],
        ),
    ];
    for (visitor, touches) in &script {
        let ids: Vec<i64> = ferrocast_db::on_pool!(db(app), p => {
            sqlx::query_scalar("SELECT t.id FROM campaign_touchpoints t WHERE t.visitor = $1 ORDER BY (SELECT creator_id FROM campaign_deliverables WHERE id = t.deliverable_id) = $2, t.id")
                .bind(*visitor).bind(cara_id).fetch_all(p).await.expect("ids")
        });
        // Dan's first (in id order), then Cara's: the script lists them so.
        assert_eq!(ids.len(), touches.len(), "{visitor}: {ids:?}");
        for (id, (_, at)) in ids.iter().zip(touches.iter()) {
            set_touch_time(app, *id, *at).await;
        }
    }
    // Conversions, signed with the campaign's secret.
    let (status, setup) = call(
        app,
        "GET",
        &format!("/api/campaigns/{campaign}/conversion-secret"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(status, 200, "{setup}");
    let secret = setup["secret"].as_str().expect("secret").to_string();
    let (status, _) = call(
        app,
        "GET",
        &format!("/api/campaigns/{campaign}/conversion-secret"),
        Some(&cara),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let conversions = [
        ("order-1", "v1", 10_000i64),
        ("order-2", "v2", 7_777),
        ("order-3", "v3", 500),
    ];
    let client = reqwest::Client::new();
    let post = |body: String, sig: String| {
        client
            .post(app.url(&format!("/api/campaigns/{campaign}/conversions")))
            .header("content-type", "application/json")
            .header("x-ferrocast-signature", sig)
            .body(body)
            .send()
    };
    for (order, visitor, value) in conversions {
        let body = json!({"order_id": order, "visitor": visitor, "value_minor": value, "currency": "USD", "at": ferrocast_server::service::clock::rfc3339(t)}).to_string();
        if order == "order-1" {
            let r = post(body.clone(), sign("fccs_wrong", body.as_bytes()))
                .await
                .expect("post");
            assert_eq!(r.status(), 403, "a wrong signature is refused");
        }
        let r = post(body.clone(), sign(&secret, body.as_bytes()))
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.expect("json")["recorded"], true);
        if order == "order-1" {
            let r = post(body.clone(), sign(&secret, body.as_bytes()))
                .await
                .expect("post");
            assert_eq!(
                r.json::<Value>().await.expect("json")["recorded"],
                false,
                "an order counts once"
            );
        }
    }
    // The pixel reports too (a refund of order 3 here, credited to no one).
    let query = format!(
        "order_id=order-4&visitor=v3&value_minor=-500&currency=USD&at={}",
        ferrocast_server::service::clock::rfc3339(t)
            .replace('+', "%2B")
            .replace(':', "%3A")
    );
    let pixel = client
        .get(app.url(&format!(
            "/api/campaigns/{campaign}/conversions/pixel?{query}&sig={}",
            &sign(&secret, query.as_bytes())[7..]
        )))
        .send()
        .await
        .expect("pixel");
    assert_eq!(pixel.status(), 200);
    assert_eq!(pixel.headers()["content-type"], "image/gif");
    // Each model's credits, against the independent computation.
    let (cara_handle, dan_handle) = (handle_of(app, cara_id).await, handle_of(app, dan_id).await);
    for model in ["first_touch", "last_touch", "linear", "time_decay"] {
        let mut want: std::collections::BTreeMap<&str, i64> = Default::default();
        for (order, visitor, value) in conversions {
            let _ = order;
            let touches: &[(&str, i64)] = script
                .iter()
                .find(|(v, _)| *v == visitor)
                .map(|(_, t)| *t)
                .unwrap_or(&[]);
            let times: Vec<i64> = touches.iter().map(|(_, at)| *at).collect();
            // The report credits touchpoints in time order, as the domain lists them.
            let mut sorted: Vec<(i64, &str)> = touches.iter().map(|(c, at)| (*at, *c)).collect();
            sorted.sort();
            let sorted_times: Vec<i64> = sorted.iter().map(|(at, _)| *at).collect();
            let credits = expected_credits(model, &sorted_times, t, value);
            assert_eq!(times.len(), credits.len());
            for ((_, creator), credit) in sorted.iter().zip(credits) {
                *want.entry(creator).or_default() += credit;
            }
        }
        let (status, r) = call(
            app,
            "GET",
            &format!("/api/campaigns/{campaign}/report?model={model}"),
            Some(&owner),
            None,
        )
        .await;
        assert_eq!(status, 200, "{r}");
        let got: std::collections::BTreeMap<String, i64> = r["creators"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| {
                (
                    l["creator"].as_str().expect("creator").to_string(),
                    l["credited_minor"].as_i64().expect("credit"),
                )
            })
            .collect();
        for (who, credit) in &want {
            let handle = if *who == "cara" {
                &cara_handle
            } else {
                &dan_handle
            };
            assert_eq!(
                got.get(handle).copied().unwrap_or(0),
                *credit,
                "{model}: {who} in {r:#}"
            );
        }
        assert_eq!(r["conversions"], 4, "{r}");
        assert_eq!(r["unattributed_minor"], 0, "v3's sale and its refund: {r}");
        assert_eq!(
            got.values().sum::<i64>(),
            17_777,
            "{model}: all of v1's and v2's value is credited"
        );
    }
    let csv = reqwest::Client::new()
        .get(app.url(&format!(
            "/api/campaigns/{campaign}/report?model=linear&format=csv"
        )))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/csv"));
    let csv = csv.text().await.expect("text");
    assert!(
        csv.starts_with(
            "level,key,creator,model,conversions,touchpoints,credited_minor,currency\n"
        ),
        "{csv}"
    );
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("creator,")).count(),
        2,
        "{csv}"
    );
}
