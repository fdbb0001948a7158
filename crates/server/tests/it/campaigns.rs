//! Brands and campaigns over the API, on SQLite and PostgreSQL: a brand account creates a brand
//! and invites a manager by email (the link from the mail); the tier's seats and active
//! campaigns bound what it may have; a campaign moves along its lifecycle and only along it; a
//! creator finds it by search and filters, applies, and is shortlisted and accepted within the
//! budget (the campaign becomes ACTIVE); an invited creator answers; refusals say why.

use crate::support::{self, call, Backend, Options, TestApp};
use serde_json::{json, Value};

/// Registers a user with `role` and returns the access token.
pub async fn register_as(app: &TestApp, email: &str, name: &str, role: &str) -> String {
    let (status, body) = call(
        app,
        "POST",
        "/api/auth/register",
        None,
        Some(
            json!({"email": email, "password": "password123", "display_name": name, "role": role}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["access_token"].as_str().expect("token").to_string()
}

fn in_days(days: i64) -> String {
    ferrocast_server::service::clock::rfc3339(ferrocast_db::now_ms() + days * 86_400_000)
}

fn campaign_body(title: &str, budget: i64) -> Value {
    json!({
        "title": title,
        "type": "PRODUCT_REVIEW",
        "brief": "Film a 60-second review of our trail shoes on a real trail.",
        "deliverable": "VIDEO",
        "budget_minor": budget,
        "currency": "USD",
        "apply_by": in_days(7),
        "due_at": in_days(30),
    })
}

async fn brand_and_campaigns(b: Backend) {
    let Some(app) = TestApp::start_with(b, Options::default()).await else {
        return;
    };
    let owner = register_as(&app, "owner@acme.example", "Olive Owner", "brand").await;
    let creator = register_as(&app, "cara@example.com", "Cara Creator", "creator").await;
    let viewer = register_as(&app, "vic@example.com", "Vic Viewer", "viewer").await;

    // Only brand accounts create brands.
    let (status, body) = call(
        &app,
        "POST",
        "/api/brands",
        Some(&creator),
        Some(json!({"name": "Nope"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("brand accounts"),
        "{body}"
    );
    let (status, body) = call(
        &app,
        "POST",
        "/api/brands",
        Some(&owner),
        Some(json!({"name": "Acme Outdoors", "website": "https://acme.example", "about": "Trail gear."})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let brand = body["brand"]["id"].as_str().expect("id").to_string();
    assert_eq!(body["brand"]["role"], "owner");
    assert_eq!(body["brand"]["tier"]["name"], "Free");
    assert_eq!(body["brand"]["tier"]["seats"], 1);

    // The Free tier has one seat, the owner's: an invitation is refused with the limit.
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/brands/{brand}/invites"),
        Some(&owner),
        Some(json!({"email": "max@acme.example", "role": "manager"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "PLAN_LIMIT_REACHED", "{body}");
    assert_eq!(
        (body["current"].as_i64(), body["max"].as_i64()),
        (Some(1), Some(1)),
        "{body}"
    );

    // On a tier with seats (an operator's decision; here straight in the database), the
    // invitation is mailed; the link's token joins the invited address only.
    let db = &app.running.as_ref().expect("running").state.db;
    let row = db.brand_by_uuid(&brand).await.expect("q").expect("brand");
    db.set_brand_tier(row.id, "Starter", 0).await.expect("tier");
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/brands/{brand}/invites"),
        Some(&owner),
        Some(json!({"email": "Max@Acme.example", "role": "manager"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["invite"]["email"], "max@acme.example");
    let mail = wait_for_mail(&app, "max@acme.example", "Join Acme Outdoors").await;
    let token = mail
        .split("token=")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .expect("a token in the mail")
        .to_string();
    let (status, _) = call(
        &app,
        "POST",
        "/api/brands/join",
        Some(&viewer),
        Some(json!({"token": token})),
    )
    .await;
    assert_eq!(status, 404, "another address cannot take it up");
    let manager = register_as(&app, "max@acme.example", "Max Manager", "brand").await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/brands/join",
        Some(&manager),
        Some(json!({"token": token})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["brand"]["role"], "manager");
    let (status, team) = call(
        &app,
        "GET",
        &format!("/api/brands/{brand}"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(status, 200, "{team}");
    assert_eq!(team["members"].as_array().map(Vec::len), Some(2), "{team}");
    assert_eq!(team["seats_used"], 2);
    // The only owner cannot step down.
    let owner_id = team["members"][0]["user_id"].as_i64().expect("id");
    let (status, body) = call(
        &app,
        "PATCH",
        &format!("/api/brands/{brand}/members/{owner_id}"),
        Some(&owner),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "LAST_OWNER");
    // Strangers do not see the brand.
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/brands/{brand}"),
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The manager writes a campaign: a DRAFT nobody else sees.
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/brands/{brand}/campaigns"),
        Some(&manager),
        Some(campaign_body("Trail shoe review", 50_000)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let campaign = body["campaign"]["id"].as_str().expect("id").to_string();
    assert_eq!(body["campaign"]["status"], "DRAFT");
    assert_eq!(
        body["campaign"]["next_statuses"],
        json!(["PUBLISHED", "CANCELLED"])
    );
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/campaigns/{campaign}"),
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(status, 404, "a draft is the brand's");
    // Bad fields are named.
    let mut bad = campaign_body("x", 50_000);
    bad["type"] = json!("GIVEAWAY");
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/brands/{brand}/campaigns"),
        Some(&manager),
        Some(bad),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .starts_with("type: unknown"),
        "{body}"
    );

    // Moves outside the lifecycle are refused with what is allowed.
    let status_to = |to: &str| json!({"status": to});
    let path = format!("/api/campaigns/{campaign}/status");
    let (status, body) = call(
        &app,
        "POST",
        &path,
        Some(&manager),
        Some(status_to("COMPLETED")),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "CAMPAIGN_TRANSITION");
    assert_eq!(
        body["details"],
        "A DRAFT campaign cannot become COMPLETED; from DRAFT it can become PUBLISHED or CANCELLED."
    );
    let (status, body) = call(
        &app,
        "POST",
        &path,
        Some(&manager),
        Some(status_to("PUBLISHED")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["campaign"]["published_at"].is_string());

    // Creators find it by words and filters; other filters leave it out.
    for (query, found) in [
        ("/api/campaigns", true),
        ("/api/campaigns?q=TRAIL", true),
        (
            "/api/campaigns?q=acme&type=product_review&deliverable=VIDEO",
            true,
        ),
        ("/api/campaigns?q=skateboard", false),
        ("/api/campaigns?type=EVENT", false),
        ("/api/campaigns?q=50%25", false),
    ] {
        let (status, body) = call(&app, "GET", query, None, None).await;
        assert_eq!(status, 200, "{query}: {body}");
        let ids: Vec<&str> = body["campaigns"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        assert_eq!(ids.contains(&campaign.as_str()), found, "{query}: {body}");
    }
    let (status, body) = call(&app, "GET", "/api/campaigns?type=GIVEAWAY", None, None).await;
    assert_eq!(status, 422, "{body}");

    // A creator applies with a pitch and a rate; a second application is refused; viewers
    // (not creators) cannot apply; a rate over the budget is refused.
    let apply = |pitch: &str, rate: i64| json!({"pitch": pitch, "rate_minor": rate});
    let apps = format!("/api/campaigns/{campaign}/applications");
    let (status, body) = call(
        &app,
        "POST",
        &apps,
        Some(&viewer),
        Some(apply("I love trail running.", 40_000)),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(
        &app,
        "POST",
        &apps,
        Some(&creator),
        Some(apply("I love trail running.", 60_000)),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("at most the campaign's budget"),
        "{body}"
    );
    let (status, body) = call(
        &app,
        "POST",
        &apps,
        Some(&creator),
        Some(apply("I run trails weekly and film in 4K.", 40_000)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let application = body["application"]["id"].as_str().expect("id").to_string();
    assert_eq!(body["application"]["status"], "applied");
    let (status, body) = call(
        &app,
        "POST",
        &apps,
        Some(&creator),
        Some(apply("Again, please.", 40_000)),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "ALREADY_APPLIED");

    // The brand sees it; the creator cannot decide on their own application.
    let (status, list) = call(&app, "GET", &apps, Some(&owner), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["applications"][0]["creator_name"], "Cara Creator");
    let decision = format!("/api/applications/{application}/decision");
    let (status, _) = call(
        &app,
        "POST",
        &decision,
        Some(&creator),
        Some(json!({"status": "accepted"})),
    )
    .await;
    assert_eq!(status, 404);

    // Another creator is invited by handle and answers with their own pitch and rate.
    let dana = register_as(&app, "dana@example.com", "Dana", "creator").await;
    let (_, me) = call(&app, "GET", "/api/auth/me", Some(&dana), None).await;
    let handle = me["user"]["handle"]
        .as_str()
        .or(me["handle"].as_str())
        .expect("handle")
        .to_string();
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/campaigns/{campaign}/invitations"),
        Some(&manager),
        Some(json!({"handle": format!("@{handle}")})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let invitation = body["application"]["id"].as_str().expect("id").to_string();
    assert_eq!(body["application"]["status"], "invited");
    // The brand cannot accept an invitation the creator has not answered.
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/applications/{invitation}/decision"),
        Some(&manager),
        Some(json!({"status": "accepted"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("not answered"),
        "{body}"
    );
    let (status, mine) = call(&app, "GET", "/api/me/applications", Some(&dana), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        mine["applications"][0]["campaign"]["title"], "Trail shoe review",
        "{mine}"
    );
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/applications/{invitation}/answer"),
        Some(&dana),
        Some(json!({"status": "applied", "pitch": "Ultra runner, 40k followers.", "rate_minor": 20_000})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["application"]["status"], "applied");

    // Shortlisted, then accepted: the campaign becomes ACTIVE and cannot go back to DRAFT.
    let (status, body) = call(
        &app,
        "POST",
        &decision,
        Some(&manager),
        Some(json!({"status": "shortlisted"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &app,
        "POST",
        &decision,
        Some(&manager),
        Some(json!({"status": "accepted"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["application"]["status"], "accepted");
    let (_, c) = call(
        &app,
        "GET",
        &format!("/api/campaigns/{campaign}"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(c["campaign"]["status"], "ACTIVE", "{c}");
    // 40 000 of 50 000 committed: 20 000 more does not fit the budget.
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/applications/{invitation}/decision"),
        Some(&manager),
        Some(json!({"status": "accepted"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "OVER_BUDGET");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("10000 of USD are left"),
        "{body}"
    );
    // A final decision stays final.
    let (status, _) = call(
        &app,
        "POST",
        &decision,
        Some(&manager),
        Some(json!({"status": "declined"})),
    )
    .await;
    assert_eq!(status, 409);

    // The Starter tier allows ten active campaigns; at the limit, publishing is refused.
    let mut published = 1;
    loop {
        let (status, body) = call(
            &app,
            "POST",
            &format!("/api/brands/{brand}/campaigns"),
            Some(&manager),
            Some(campaign_body(&format!("Campaign {published}"), 10_000)),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let id = body["campaign"]["id"].as_str().expect("id").to_string();
        let (status, body) = call(
            &app,
            "POST",
            &format!("/api/campaigns/{id}/status"),
            Some(&manager),
            Some(status_to("PUBLISHED")),
        )
        .await;
        if published == 10 {
            assert_eq!(status, 403, "{body}");
            assert_eq!(body["error"], "Active campaign limit reached", "{body}");
            break;
        }
        assert_eq!(status, 200, "{body}");
        published += 1;
    }

    // Milestones: added by the brand, due in the future, ticked off.
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/campaigns/{campaign}/milestones"),
        Some(&manager),
        Some(json!({"title": "First cut", "due_at": in_days(10)})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let m = body["milestones"][0]["id"].as_i64().expect("id");
    let (status, body) = call(
        &app,
        "PATCH",
        &format!("/api/campaigns/{campaign}/milestones/{m}"),
        Some(&manager),
        Some(json!({"done": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["milestones"][0]["done_at"].is_string(), "{body}");
    // Reminders: a milestone not done, due within the window, of a campaign under way, is
    // taken once (two nodes never both remind).
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/campaigns/{campaign}/milestones"),
        Some(&manager),
        Some(json!({"title": "Final cut", "due_at": in_days(3)})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let now = ferrocast_db::now_ms();
    assert!(
        db.take_due_milestones(now, 86_400_000, 10)
            .await
            .expect("q")
            .is_empty(),
        "not due within a day"
    );
    let due = db
        .take_due_milestones(now, 4 * 86_400_000, 10)
        .await
        .expect("q");
    assert_eq!(
        due.iter().map(|m| m.title.as_str()).collect::<Vec<_>>(),
        ["Final cut"],
        "the done one is not reminded"
    );
    assert!(
        db.take_due_milestones(now, 4 * 86_400_000, 10)
            .await
            .expect("q")
            .is_empty(),
        "taken once"
    );
    // A viewer of the brand reads but does not write.
    let (_, team) = call(
        &app,
        "GET",
        &format!("/api/brands/{brand}"),
        Some(&owner),
        None,
    )
    .await;
    let manager_id = team["members"][1]["user_id"].as_i64().expect("id");
    let (status, _) = call(
        &app,
        "PATCH",
        &format!("/api/brands/{brand}/members/{manager_id}"),
        Some(&owner),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = call(
        &app,
        "POST",
        &path,
        Some(&manager),
        Some(status_to("IN_PROGRESS")),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("you are a viewer"),
        "{body}"
    );
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/brands/{brand}/campaigns"),
        Some(&manager),
        None,
    )
    .await;
    assert_eq!(status, 200);
    app.finish().await;
}

/// The mail to `to` whose text contains `needle`.
async fn wait_for_mail(app: &TestApp, to: &str, needle: &str) -> String {
    for _ in 0..200 {
        if let Some(m) = app
            .inbox
            .all()
            .into_iter()
            .find(|m| m.contains(&format!("To: {to}")) && m.contains(needle))
        {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no mail to {to} with {needle:?}: {:?}", app.inbox.all());
}

both_backends!(brand_and_campaigns);
