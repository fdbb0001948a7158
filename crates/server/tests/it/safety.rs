//! Trust and safety over a real node: reports of every kind of item and their bounds, the
//! moderation queue with context and history, decisions (remove, warn, strike, suspend, ban)
//! with the reporter and the author notified; three strikes restricting an account (ffmpeg's
//! publish refused with the reason, the live stream ended, uploads refused) until an appeal
//! overturns one; strikes expiring after 90 days on a manual clock.

use crate::restream::next_event;
use crate::support::{self, call, client, creator_with_source, register_user, Backend, TestApp};
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::videos::NewVideo;
use ferrocast_db::Db;
use ferrocast_domain::account::Role;
use ferrocast_domain::media::{PublishAuthorizer, PublishDenied};
use ferrocast_domain::safety::{strike_expires_at, STRIKE_LIFETIME_MS};
use ferrocast_server::service::chat::{Member, Post};
use ferrocast_server::service::clock::{Clock, ManualClock};
use ferrocast_server::service::streams::{Grants, SourceAuthorizer};
use serde_json::{json, Value};
use std::time::Duration;

both_backends!(
    reports_the_queue_and_decisions,
    three_strikes_restrict_until_an_appeal_overturns_one,
    a_strike_stops_counting_after_ninety_days
);

const DAY: i64 = 24 * 3600 * 1000;

fn state(app: &TestApp) -> &ferrocast_server::state::AppState {
    &app.running.as_ref().expect("running").state
}

async fn user(app: &TestApp, email: &str) -> UserRecord {
    state(app)
        .db
        .user_by_email(email)
        .await
        .expect("query")
        .expect("user")
}

/// A signed-in user with `role`.
async fn with_role(app: &TestApp, email: &str, name: &str, role: Role) -> (String, UserRecord) {
    let token = register_user(app, email, name).await;
    let u = user(app, email).await;
    state(app)
        .db
        .set_role(u.id, role.as_str(), 0)
        .await
        .expect("role");
    (token, u)
}

/// `author` writes `text` in the chat of the source with this playback id; the message's id.
async fn say(app: &TestApp, playback_id: &str, author: &UserRecord, text: &str) -> i64 {
    let st = state(app);
    let source = st
        .db
        .source_by_playback_id(playback_id)
        .await
        .expect("query")
        .expect("source");
    st.chat
        .post(Post::Native {
            source: &source,
            member: Member {
                id: author.id,
                uuid: &author.uuid,
                name: &author.display_name,
                role: Role::Viewer,
            },
            text,
        })
        .await
        .expect("posted")
        .id
}

async fn report(
    app: &TestApp,
    token: &str,
    kind: &str,
    target: &str,
    category: &str,
) -> (u16, Value) {
    call(
        app,
        "POST",
        "/api/reports",
        Some(token),
        Some(json!({"kind": kind, "target": target, "category": category, "details": "Please look at this."})),
    )
    .await
}

async fn decide(
    app: &TestApp,
    token: &str,
    report: i64,
    outcome: &str,
    note: &str,
) -> (u16, Value) {
    call(
        app,
        "POST",
        &format!("/api/moderation/reports/{report}/decision"),
        Some(token),
        Some(json!({"outcome": outcome, "note": note})),
    )
    .await
}

async fn notices(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = call(app, "GET", "/api/notifications", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n["kind"] == "moderation")
        .collect()
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or_default()
}

async fn reports_the_queue_and_decisions(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "creator@example.com").await;
    let (viewer, _) = with_role(&app, "viewer@example.com", "Vera", Role::Viewer).await;
    let (second, _) = with_role(&app, "second@example.com", "Sam", Role::Viewer).await;
    let (troll_token, troll) = with_role(&app, "troll@example.com", "Troll", Role::Viewer).await;
    let (moderator, _) = with_role(&app, "mod@example.com", "Mona", Role::Moderator).await;
    let (admin, _) = with_role(&app, "admin@example.com", "Ada", Role::Admin).await;
    let owner = user(&app, "creator@example.com").await;
    let vera = user(&app, "viewer@example.com").await;

    say(&app, &creator.playback_id, &owner, "Welcome to the show").await;
    say(&app, &creator.playback_id, &vera, "hi everyone").await;
    let bad = say(&app, &creator.playback_id, &troll, "you are all idiots").await;
    say(&app, &creator.playback_id, &vera, "that was rude").await;

    // Bounds: signed in only, a known kind and category, text for "other", an existing item,
    // not one's own, one open report per reporter and item.
    let body = json!({"kind": "chat_message", "target": bad.to_string(), "category": "harassment"});
    let (status, _) = call(&app, "POST", "/api/reports", None, Some(body)).await;
    assert_eq!(status, 401);
    let (status, e) = report(&app, &viewer, "user", &bad.to_string(), "spam").await;
    assert_eq!((status, code(&e)), (422, "VALIDATION_ERROR"), "{e}");
    let (status, e) = report(&app, &viewer, "chat_message", &bad.to_string(), "rude").await;
    assert_eq!((status, code(&e)), (422, "VALIDATION_ERROR"), "{e}");
    let (status, e) = call(
        &app,
        "POST",
        "/api/reports",
        Some(&viewer),
        Some(json!({"kind": "chat_message", "target": bad.to_string(), "category": "other", "details": "  "})),
    )
    .await;
    assert_eq!((status, code(&e)), (422, "VALIDATION_ERROR"), "{e}");
    let (status, e) = call(
        &app,
        "POST",
        "/api/reports",
        Some(&viewer),
        Some(json!({"kind": "chat_message", "target": bad.to_string(), "category": "spam", "details": "x".repeat(1001)})),
    )
    .await;
    assert_eq!((status, code(&e)), (422, "VALIDATION_ERROR"), "{e}");
    assert!(
        e["details"].as_str().unwrap_or("").contains("at most 1000"),
        "{e}"
    );
    let (status, e) = report(&app, &viewer, "chat_message", "999999", "spam").await;
    assert_eq!(status, 404, "{e}");
    let (status, e) = report(&app, &troll_token, "chat_message", &bad.to_string(), "spam").await;
    assert_eq!(status, 422, "one's own message: {e}");
    let (status, first) = report(
        &app,
        &viewer,
        "chat_message",
        &bad.to_string(),
        "harassment",
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "open");
    assert_eq!(first["snapshot"]["text"], "you are all idiots");
    let (status, e) = report(
        &app,
        &viewer,
        "chat_message",
        &bad.to_string(),
        "harassment",
    )
    .await;
    assert_eq!((status, code(&e)), (409, "ALREADY_DONE"), "{e}");
    let (status, _) = report(&app, &second, "chat_message", &bad.to_string(), "hate").await;
    assert_eq!(status, 201);

    // The queue: moderators and administrators only; the item with the chat around it.
    let (status, _) = call(&app, "GET", "/api/moderation/reports", Some(&viewer), None).await;
    assert_eq!(status, 403);
    let (status, q) = call(
        &app,
        "GET",
        "/api/moderation/reports",
        Some(&moderator),
        None,
    )
    .await;
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["open"], 2, "{q}");
    let entry = &q["reports"][0];
    assert_eq!(entry["report"]["id"], first["id"]);
    assert_eq!(entry["reporter"], "Vera");
    assert_eq!(entry["open_reports"], 2);
    assert_eq!(entry["item"]["present"], true);
    assert_eq!(entry["item"]["owner"]["name"], "Troll");
    let lines: Vec<(&str, bool)> = entry["item"]["context"]
        .as_array()
        .expect("context")
        .iter()
        .map(|l| (l["text"].as_str().unwrap_or(""), l["reported"] == true))
        .collect();
    assert_eq!(
        lines,
        [
            ("Welcome to the show", false),
            ("hi everyone", false),
            ("you are all idiots", true),
            ("that was rude", false)
        ]
    );

    // Deciding: suspend and ban are the administrators'; removing decides both reports.
    let id = first["id"].as_i64().expect("id");
    let (status, e) = decide(&app, &moderator, id, "suspend", "").await;
    assert_eq!(status, 403, "{e}");
    let (status, e) = decide(&app, &moderator, id, "delete", "").await;
    assert_eq!(status, 422, "{e}");
    let (status, d) = decide(
        &app,
        &moderator,
        id,
        "remove",
        "Insults are not allowed here.",
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["decided"].as_array().map(Vec::len), Some(2), "{d}");
    let (status, e) = decide(&app, &moderator, id, "dismiss", "").await;
    assert_eq!((status, code(&e)), (409, "ALREADY_DONE"), "{e}");
    let gone = state(&app)
        .db
        .chat_message_by_id(bad)
        .await
        .expect("query")
        .expect("message");
    assert!(gone.deleted_at.is_some(), "the message was removed");
    let (_, q) = call(
        &app,
        "GET",
        "/api/moderation/reports",
        Some(&moderator),
        None,
    )
    .await;
    assert_eq!(q["open"], 0, "{q}");

    // The reporters and the author are told; each sees it on their standing.
    let told = notices(&app, &viewer).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(
        told[0]["title"],
        "Your report of a chat message was reviewed"
    );
    assert_eq!(told[0]["body"], "A moderator removed it.");
    assert_eq!(notices(&app, &second).await.len(), 1);
    let told = notices(&app, &troll_token).await;
    assert_eq!(
        told[0]["title"], "Your chat message was removed",
        "{told:?}"
    );
    assert!(told[0]["body"]
        .as_str()
        .unwrap_or("")
        .contains("Insults are not allowed here."));
    let (_, mine) = call(&app, "GET", "/api/me/standing", Some(&viewer), None).await;
    assert_eq!(mine["reports"][0]["status"], "resolved", "{mine}");
    assert_eq!(mine["reports"][0]["outcome"], "remove");
    assert_eq!(
        mine["reports"][0]["outcome_text"],
        "A moderator removed it."
    );
    let (_, theirs) = call(&app, "GET", "/api/me/standing", Some(&troll_token), None).await;
    assert_eq!(theirs["decisions"][0]["kind"], "chat_message", "{theirs}");
    assert_eq!(
        theirs["decisions"][0]["snapshot"]["text"],
        "you are all idiots"
    );
    assert_eq!(theirs["active_strikes"], 0);

    // A comment and a video: context is the thread and the video's title; a video removed is
    // made private; a dismissed report leaves the comment in place.
    let db = &state(&app).db;
    let uuid = ferrocast_server::service::videos::new_video_id();
    let video = db
        .create_video(
            &NewVideo {
                uuid: &uuid,
                user_id: troll.id,
                source_id: None,
                kind: "upload",
                title: "Prank compilation",
                description: "Watch me",
                tags: &[],
                visibility: "public",
                status: "ready",
                expires_at: None,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("video");
    let (status, c) = call(
        &app,
        "POST",
        &format!("/api/videos/{uuid}/comments"),
        Some(&viewer),
        Some(json!({"body": "Is this real?"})),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    let root = c["id"]
        .as_i64()
        .or(c["comment"]["id"].as_i64())
        .expect("comment id");
    let (status, c) = call(
        &app,
        "POST",
        &format!("/api/videos/{uuid}/comments"),
        Some(&troll_token),
        Some(json!({"body": "Of course, fool", "parent_id": root})),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    let reply = c["id"]
        .as_i64()
        .or(c["comment"]["id"].as_i64())
        .expect("reply id");
    let (status, rc) = report(&app, &second, "comment", &reply.to_string(), "harassment").await;
    assert_eq!(status, 201, "{rc}");
    let (status, entry) = call(
        &app,
        "GET",
        &format!("/api/moderation/reports/{}", rc["id"]),
        Some(&moderator),
        None,
    )
    .await;
    assert_eq!(status, 200, "{entry}");
    let thread: Vec<&str> = entry["item"]["context"]
        .as_array()
        .expect("thread")
        .iter()
        .map(|l| l["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(thread, ["Is this real?", "Of course, fool"]);
    assert_eq!(
        entry["history"][0]["kind"], "chat_message",
        "the earlier decision on the same author: {entry}"
    );
    let (status, _) = decide(
        &app,
        &moderator,
        rc["id"].as_i64().expect("id"),
        "dismiss",
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        db.comment_by_id(reply).await.expect("q").is_some(),
        "dismissed: kept"
    );
    assert_eq!(
        notices(&app, &second).await[0]["body"],
        "A moderator reviewed it and found no rule broken."
    );
    let (status, rv) = report(&app, &viewer, "video", &uuid, "spam").await;
    assert_eq!(status, 201, "{rv}");
    let (_, entry) = call(
        &app,
        "GET",
        &format!("/api/moderation/reports/{}", rv["id"]),
        Some(&moderator),
        None,
    )
    .await;
    assert_eq!(entry["item"]["title"], "Prank compilation", "{entry}");
    assert_eq!(entry["item"]["url"], format!("/v/{uuid}"));
    let (status, _) = decide(
        &app,
        &moderator,
        rv["id"].as_i64().expect("id"),
        "warn",
        "Misleading.",
    )
    .await;
    assert_eq!(status, 200);
    let v = db.video_by_id(video.id).await.expect("q").expect("video");
    assert_eq!(v.visibility, "private", "a removed video is unpublished");
    assert_eq!(
        notices(&app, &troll_token).await[0]["title"],
        "Warning: your video was removed"
    );

    // A channel report decided by an administrator: banned, the login refused.
    let (status, rch) = report(
        &app,
        &viewer,
        "channel",
        &format!("@{}", troll.handle),
        "harassment",
    )
    .await;
    assert_eq!(status, 201, "{rch}");
    let (status, d) = decide(
        &app,
        &admin,
        rch["id"].as_i64().expect("id"),
        "ban",
        "Repeated harassment.",
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        db.ban_of(troll.id).await.expect("q").map(|b| b.1),
        Some("Repeated harassment.".to_string())
    );
    let (status, e) = call(
        &app,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": "troll@example.com", "password": "password123"})),
    )
    .await;
    assert_eq!((status, code(&e)), (403, "ACCOUNT_SUSPENDED"), "{e}");
    let _ = creator;
    app.finish().await;
}

async fn wait_live(app: &TestApp, playback_id: &str, live: bool) -> bool {
    let hub = &state(app).engine.hub;
    for _ in 0..150 {
        if hub.is_live(playback_id) == live {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn three_strikes_restrict_until_an_appeal_overturns_one(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    support::require("ffmpeg");
    let creator = creator_with_source(&app, "creator@example.com").await;
    let owner = user(&app, "creator@example.com").await;
    let (reporter, _) = with_role(&app, "reporter@example.com", "Rita", Role::Viewer).await;
    let (moderator, _) = with_role(&app, "mod@example.com", "Mona", Role::Moderator).await;

    let c = client();
    let mut events = c
        .get(app.url("/api/events"))
        .bearer_auth(&creator.token)
        .send()
        .await
        .expect("events");
    let mut buf = String::new();
    let mut encoder = support::publish(&app.rtmp_url(), &creator.key, 120, &[]);
    assert!(wait_live(&app, &creator.playback_id, true).await, "live");

    // Three reports, each decided with a strike; the stream goes on through two.
    let m1 = say(&app, &creator.playback_id, &owner, "first bad line").await;
    let m2 = say(&app, &creator.playback_id, &owner, "second bad line").await;
    let m3 = say(&app, &creator.playback_id, &owner, "third bad line").await;
    let items = [
        ("chat_message", m1.to_string()),
        ("chat_message", m2.to_string()),
        ("chat_message", m3.to_string()),
    ];
    let mut strikes = Vec::new();
    for (i, (kind, target)) in items.iter().enumerate() {
        let (status, r) = report(&app, &reporter, kind, target, "hate").await;
        assert_eq!(status, 201, "{r}");
        if i == 2 {
            // The queue shows the author's two strikes so far.
            let (_, entry) = call(
                &app,
                "GET",
                &format!("/api/moderation/reports/{}", r["id"]),
                Some(&moderator),
                None,
            )
            .await;
            assert_eq!(entry["item"]["owner"]["active_strikes"], 2, "{entry}");
            assert_eq!(
                entry["strikes"].as_array().map(Vec::len),
                Some(2),
                "{entry}"
            );
        }
        let (status, d) = decide(
            &app,
            &moderator,
            r["id"].as_i64().expect("id"),
            "strike",
            "Hate speech.",
        )
        .await;
        assert_eq!(status, 200, "{d}");
        let (_, s) = call(&app, "GET", "/api/me/standing", Some(&creator.token), None).await;
        assert_eq!(s["active_strikes"], i + 1, "{s}");
        strikes.push(s["strikes"][0]["id"].as_i64().expect("strike id"));
        if i < 2 {
            assert_eq!(s["restricted"], false, "{s}");
            assert!(
                state(&app).engine.hub.is_live(&creator.playback_id),
                "two strikes do not end it"
            );
        }
    }

    // The third: restricted, the stream ended with the reason.
    let ended = next_event(&mut events, &mut buf, "stream_ended", 20).await;
    let reason = ended["reason"].as_str().expect("reason").to_string();
    assert!(
        reason.contains("restricted") && reason.contains("3 active strikes"),
        "{reason}"
    );
    assert!(
        wait_live(&app, &creator.playback_id, false).await,
        "the live stream ended"
    );
    let _ = encoder.kill();
    let _ = encoder.wait();
    let (status, s) = call(&app, "GET", "/api/me/standing", Some(&creator.token), None).await;
    assert_eq!(status, 200, "a restricted account still signs in: {s}");
    assert_eq!(
        (s["restricted"].as_bool(), s["active_strikes"].as_i64()),
        (Some(true), Some(3)),
        "{s}"
    );
    assert!(
        s["restriction"]
            .as_str()
            .unwrap_or("")
            .contains("restricted until"),
        "{s}"
    );
    let titles: Vec<String> = notices(&app, &creator.token)
        .await
        .iter()
        .map(|n| n["title"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        titles.contains(&"Your account is restricted".to_string()),
        "{titles:?}"
    );
    assert_eq!(
        titles
            .iter()
            .filter(|t| *t == "You received a strike")
            .count(),
        3,
        "{titles:?}"
    );

    // Publishing again: ffmpeg is refused with the reason. Uploads are refused too.
    let again = support::publish(&app.rtmp_url(), &creator.key, 5, &[]);
    let out = tokio::task::spawn_blocking(move || again.wait_with_output())
        .await
        .expect("join")
        .expect("ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a restricted account cannot publish");
    assert!(
        stderr.contains("restricted") && stderr.contains("3 active strikes"),
        "ffmpeg said: {stderr}"
    );
    assert!(!state(&app).engine.hub.is_live(&creator.playback_id));
    let res = c
        .post(app.url("/api/uploads"))
        .bearer_auth(&creator.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "1000")
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 403);
    let e: Value = res.json().await.expect("json");
    assert_eq!(code(&e), "ACCOUNT_RESTRICTED", "{e}");
    assert!(
        e["details"]
            .as_str()
            .unwrap_or("")
            .contains("3 active strikes"),
        "{e}"
    );

    // Appeals: one per strike; the moderator overturns one, which stops counting.
    let appeal = |strike: i64, text: &str| json!({"strike_id": strike, "statement": text});
    let (status, e) = call(
        &app,
        "POST",
        "/api/appeals",
        Some(&reporter),
        Some(appeal(strikes[0], "not mine")),
    )
    .await;
    assert_eq!(status, 404, "someone else's strike: {e}");
    let (status, a) = call(
        &app,
        "POST",
        "/api/appeals",
        Some(&creator.token),
        Some(appeal(
            strikes[0],
            "That line was a quote from the film we discussed.",
        )),
    )
    .await;
    assert_eq!(status, 201, "{a}");
    let (status, e) = call(
        &app,
        "POST",
        "/api/appeals",
        Some(&creator.token),
        Some(appeal(strikes[0], "again")),
    )
    .await;
    assert_eq!((status, code(&e)), (409, "ALREADY_DONE"), "{e}");
    let (status, a2) = call(
        &app,
        "POST",
        "/api/appeals",
        Some(&creator.token),
        Some(appeal(strikes[1], "Also a quote.")),
    )
    .await;
    assert_eq!(status, 201, "{a2}");
    let (status, list) = call(
        &app,
        "GET",
        "/api/moderation/appeals",
        Some(&moderator),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["appeals"].as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(list["appeals"][0]["user"]["restricted"], true);
    assert_eq!(
        list["appeals"][0]["strike"]["reason"]
            .as_str()
            .map(|r| r.starts_with("Hate speech")),
        Some(true),
        "{list}"
    );
    let (status, _) = call(
        &app,
        "GET",
        "/api/moderation/appeals",
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let path = format!("/api/moderation/appeals/{}/decision", a["id"]);
    let (status, e) = call(
        &app,
        "POST",
        &path,
        Some(&moderator),
        Some(json!({"decision": "overturn", "note": ""})),
    )
    .await;
    assert_eq!(status, 422, "a decision needs a note: {e}");
    let (status, d) = call(
        &app,
        "POST",
        &path,
        Some(&moderator),
        Some(json!({"decision": "overturn", "note": "A quote in context; strike withdrawn."})),
    )
    .await;
    assert_eq!(
        (status, d["status"].as_str()),
        (200, Some("overturned")),
        "{d}"
    );
    let (status, e) = call(
        &app,
        "POST",
        &path,
        Some(&moderator),
        Some(json!({"decision": "uphold", "note": "changed my mind"})),
    )
    .await;
    assert_eq!(
        (status, code(&e)),
        (409, "ALREADY_DONE"),
        "decided once: {e}"
    );
    let path2 = format!("/api/moderation/appeals/{}/decision", a2["id"]);
    let (status, d2) = call(
        &app,
        "POST",
        &path2,
        Some(&moderator),
        Some(json!({"decision": "uphold", "note": "This one was not a quote."})),
    )
    .await;
    assert_eq!(
        (status, d2["status"].as_str()),
        (200, Some("upheld")),
        "{d2}"
    );
    let (_, s) = call(&app, "GET", "/api/me/standing", Some(&creator.token), None).await;
    assert_eq!(
        (s["restricted"].as_bool(), s["active_strikes"].as_i64()),
        (Some(false), Some(2)),
        "{s}"
    );
    let overturned: Vec<&Value> = s["strikes"]
        .as_array()
        .expect("strikes")
        .iter()
        .filter(|x| x["overturned"] == true)
        .collect();
    assert_eq!(overturned.len(), 1, "{s}");
    assert_eq!(overturned[0]["appeal"], "overturned");
    assert_eq!(
        s["appeals"].as_array().map(Vec::len),
        Some(2),
        "the record is kept: {s}"
    );
    let titles: Vec<String> = notices(&app, &creator.token)
        .await
        .iter()
        .map(|n| n["title"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        titles.contains(&"Your appeal was granted".to_string())
            && titles.contains(&"Your appeal was turned down".to_string()),
        "{titles:?}"
    );

    // Every step is in the audit log: reports, decisions, strikes, the restriction, appeals.
    let db = &state(&app).db;
    let mut actions: Vec<String> = db
        .audit_list(&ferrocast_db::audit::AuditFilter::default(), 500)
        .await
        .expect("audit")
        .into_iter()
        .map(|r| r.action)
        .filter(|a| !a.starts_with("auth."))
        .collect();
    actions.sort();
    actions.dedup_by(|a, b| a == b);
    assert_eq!(
        actions,
        [
            "account.restricted",
            "appeal.decided",
            "appeal.filed",
            "report.filed",
            "report.resolved",
            "strike.issued"
        ],
        "the actions recorded"
    );
    let strikes_by_mod = db
        .audit_list(
            &ferrocast_db::audit::AuditFilter {
                action: Some("strike.issued".into()),
                actor_user_id: Some(user(&app, "mod@example.com").await.id),
                ..Default::default()
            },
            10,
        )
        .await
        .expect("audit");
    assert_eq!(strikes_by_mod.len(), 3);
    assert_eq!(
        strikes_by_mod[0].subject_id.as_deref(),
        Some(owner.id.to_string().as_str())
    );

    // Publishing works again.
    let mut encoder = support::publish(&app.rtmp_url(), &creator.key, 30, &[]);
    assert!(
        wait_live(&app, &creator.playback_id, true).await,
        "publishing again after the appeal"
    );
    let _ = encoder.kill();
    let _ = encoder.wait();
    app.finish().await;
}

async fn a_strike_stops_counting_after_ninety_days(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "creator@example.com").await;
    let owner = user(&app, "creator@example.com").await;
    let db: Db = state(&app).db.clone();
    const T0: i64 = 1_800_000_000_000;
    // Two strikes at T0, a third 60 days later.
    for at in [T0, T0 + 1_000, T0 + 60 * DAY] {
        db.insert_strike(
            owner.id,
            "Spam",
            Some("report:1"),
            None,
            at,
            strike_expires_at(at),
        )
        .await
        .expect("strike");
    }
    let clock = ManualClock::at(T0 + 60 * DAY);
    let authorizer = SourceAuthorizer::new(db.clone(), Grants::default(), clock.clone());
    match authorizer.authorize("live", &creator.key).await {
        Err(PublishDenied::NotAllowed(reason)) => {
            assert!(reason.contains("3 active strikes"), "{reason}");
            assert!(
                reason.contains(&ferrocast_domain::time::rfc3339_ms(T0 + STRIKE_LIFETIME_MS)),
                "the restriction lasts until the first strike expires: {reason}"
            );
        }
        other => panic!("three strikes in force refuse publishing, got {other:?}"),
    }
    // One millisecond before the first strike is 90 days old: still refused.
    clock.set(T0 + 90 * DAY - 1);
    assert!(matches!(
        authorizer.authorize("live", &creator.key).await,
        Err(PublishDenied::NotAllowed(_))
    ));
    // At 90 days it no longer counts: two remain, publishing is allowed.
    clock.set(T0 + 90 * DAY);
    let grant = authorizer
        .authorize("live", &creator.key)
        .await
        .expect("an expired strike does not count");
    assert_eq!(grant.user_id, owner.id);
    let now = clock.now_ms();
    assert_eq!(
        ferrocast_server::service::safety::restriction(&db, owner.id, now)
            .await
            .expect("q"),
        None
    );
    assert_eq!(
        db.active_strikes_of(owner.id, now).await.expect("q").len(),
        2
    );
    app.finish().await;
}
