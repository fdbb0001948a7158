//! Engagement with videos, on SQLite and PostgreSQL: likes; comments with one level of replies
//! moderated with the chat's tools (blocked words, the channel's bans, moderators' deletions
//! in the moderation log), reports and the comment rate limits; views that a reloading client
//! cannot inflate; and — on the service with a manual clock — the 30-minute view window,
//! heartbeats that never credit more than the time that passed, and trending that follows the
//! decay of engagement.

use crate::support::{
    self as support, call, client, client_from, creator_with_source, register_user, Backend,
    TestApp,
};
use ferrocast_db::accounts::NewUser;
use ferrocast_db::videos::{NewVideo, VideoRecord};
use ferrocast_db::Db;
use ferrocast_server::service::clock::ManualClock;
use ferrocast_server::service::engagement::{Engagement, EngagementError, Viewer};
use serde_json::{json, Value};

const T0: i64 = 1_800_000_000_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

async fn db(app: &TestApp) -> Db {
    Db::connect(&app.database_url).await.expect("db")
}

/// A ready video of `user_id`, arranged in storage (its media play no part here).
async fn ready_video(
    db: &Db,
    user_id: i64,
    source_id: Option<i64>,
    visibility: &str,
    now: i64,
) -> VideoRecord {
    let uuid = ferrocast_server::service::videos::new_video_id();
    db.create_video(
        &NewVideo {
            uuid: &uuid,
            user_id,
            source_id,
            kind: "upload",
            title: "A video to talk about",
            description: "",
            tags: &[],
            visibility,
            status: "ready",
            expires_at: None,
        },
        now,
    )
    .await
    .expect("video")
}

async fn me(app: &TestApp, token: &str) -> (i64, String) {
    let (status, body) = call(app, "GET", "/api/auth/me", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    let u = if body["user"].is_object() {
        &body["user"]
    } else {
        &body
    };
    (
        u["id"].as_i64().expect("id"),
        u["uuid"].as_str().expect("uuid").to_string(),
    )
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

async fn comment(app: &TestApp, video: &str, token: &str, body: Value) -> (u16, Value) {
    call(
        app,
        "POST",
        &format!("/api/videos/{video}/comments"),
        Some(token),
        Some(body),
    )
    .await
}

async fn likes_comments_replies_and_moderation(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "creator@example.com").await;
    let store = db(&app).await;
    let owner = crate::recording::user_of(&store, creator.id).await;
    let v = ready_video(
        &store,
        owner,
        Some(creator.id),
        "public",
        ferrocast_db::now_ms(),
    )
    .await;
    let vid = v.uuid.as_str();
    let alice = register_user(&app, "alice@example.com", "Alice").await;
    let bob = register_user(&app, "bob@example.com", "Bob").await;

    // Likes: idempotent, counted, taken back; the video says so.
    for _ in 0..2 {
        let (status, body) = call(
            &app,
            "POST",
            &format!("/api/videos/{vid}/like"),
            Some(&alice),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({ "liked": true, "likes": 1 }));
    }
    let (_, body) = call(
        &app,
        "POST",
        &format!("/api/videos/{vid}/like"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(body["likes"], 2);
    let (_, body) = call(
        &app,
        "DELETE",
        &format!("/api/videos/{vid}/like"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(body, json!({ "liked": false, "likes": 1 }));
    let (_, page) = call(
        &app,
        "GET",
        &format!("/api/videos/{vid}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(
        (
            &page["likes"],
            &page["liked"],
            &page["views"],
            &page["comments"]
        ),
        (&json!(1), &json!(true), &json!(0), &json!(0)),
        "{page}"
    );
    let (_, page) = call(&app, "GET", &format!("/api/videos/{vid}"), None, None).await;
    assert_eq!(
        (&page["likes"], &page["liked"]),
        (&json!(1), &json!(false)),
        "{page}"
    );
    let (status, _) = call(&app, "POST", &format!("/api/videos/{vid}/like"), None, None).await;
    assert_eq!(status, 401, "liking needs an account");

    // A comment, a reply, and a reply to the reply: it attaches to the top comment.
    let (status, top) = comment(
        &app,
        vid,
        &alice,
        json!({ "body": "  First!\n\n\n\nGreat video " }),
    )
    .await;
    assert_eq!(status, 201, "{top}");
    assert_eq!(top["body"], "First!\n\nGreat video");
    assert_eq!(top["parent_id"], Value::Null);
    let top_id = top["id"].as_i64().expect("id");
    let (status, reply) = comment(
        &app,
        vid,
        &bob,
        json!({ "body": "Agreed", "parent_id": top_id }),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["parent_id"], top_id);
    let (status, deeper) = comment(
        &app,
        vid,
        &alice,
        json!({ "body": "Thanks Bob", "parent_id": reply["id"] }),
    )
    .await;
    assert_eq!(status, 201, "{deeper}");
    assert_eq!(
        deeper["parent_id"], top_id,
        "a reply to a reply answers the top comment"
    );
    let (status, body) = comment(
        &app,
        vid,
        &alice,
        json!({ "body": "where?", "parent_id": 999_999 }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = comment(&app, vid, &alice, json!({ "body": " \n " })).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = comment(&app, vid, &alice, json!({ "body": "x".repeat(2001) })).await;
    assert_eq!(status, 422, "{body}");

    let (status, list) = call(
        &app,
        "GET",
        &format!("/api/videos/{vid}/comments"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 3, "{list}");
    let threads = list["comments"].as_array().expect("comments");
    assert_eq!(threads.len(), 1, "{list}");
    assert_eq!(threads[0]["reply_count"], 2);
    let replies: Vec<&str> = threads[0]["replies"]
        .as_array()
        .expect("replies")
        .iter()
        .map(|r| r["body"].as_str().expect("body"))
        .collect();
    assert_eq!(replies, ["Agreed", "Thanks Bob"], "oldest first");
    assert_eq!(threads[0]["author"]["display_name"], "Alice");
    assert_eq!(threads[0]["can_delete"], false, "anonymous");
    let (_, list) = call(
        &app,
        "GET",
        &format!("/api/videos/{vid}/comments"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(list["comments"][0]["mine"], true);
    assert_eq!(
        list["comments"][0]["replies"][0]["can_delete"], false,
        "Bob's reply is not Alice's to delete"
    );
    let (_, page) = call(&app, "GET", &format!("/api/videos/{vid}"), None, None).await;
    assert_eq!(page["comments"], 3, "{page}");

    // The channel's blocked words refuse a viewer's comment, not the creator's.
    let (status, body) = call(
        &app,
        "PUT",
        &format!("/api/chat/settings/{}", creator.id),
        Some(&creator.token),
        Some(
            json!({ "slow_mode_seconds": 0, "blocked_words": ["spoiler"], "links_allowed": true }),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = comment(
        &app,
        vid,
        &bob,
        json!({ "body": "The SPOILER is that he wins" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(code(&body), "COMMENT_REFUSED");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("blocked word"),
        "{body}"
    );
    let (status, body) = comment(
        &app,
        vid,
        &creator.token,
        json!({ "body": "No spoiler here, promise" }),
    )
    .await;
    assert_eq!(status, 201, "the creator is exempt: {body}");

    // A user banned from the channel's chat cannot comment on its videos.
    let (_, bob_uuid) = me(&app, &bob).await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/chat/bans",
        Some(&creator.token),
        Some(json!({ "source_id": creator.id, "user_id": bob_uuid, "reason": "rude" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = comment(&app, vid, &bob, json!({ "body": "let me back in" })).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "BANNED");
    let (status, _) = call(
        &app,
        "POST",
        &format!("/api/videos/{vid}/like"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 200, "a ban is about words, not likes");

    // Reports: stored once per reporter, open.
    let carol = register_user(&app, "carol@example.com", "Carol").await;
    for _ in 0..2 {
        let (status, body) = call(
            &app,
            "POST",
            &format!("/api/comments/{}/report", reply["id"]),
            Some(&carol),
            Some(json!({ "reason": "  Off-topic\nand rude " })),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let reports = store
        .open_reports("comment", reply["id"].as_i64().expect("id"))
        .await
        .expect("reports");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].1, "Off-topic and rude");
    let (status, _) = call(
        &app,
        "POST",
        "/api/comments/999999/report",
        Some(&carol),
        Some(json!({ "reason": "x" })),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        "POST",
        &format!("/api/comments/{top_id}/report"),
        Some(&carol),
        Some(json!({ "reason": "" })),
    )
    .await;
    assert_eq!(status, 422);

    // Deleting: not someone else's; the author their own; a chat moderator and the creator
    // anyone's, recorded in the moderation log with the replies going too.
    let (status, body) = call(
        &app,
        "DELETE",
        &format!("/api/comments/{top_id}"),
        Some(&carol),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/comments/{}", deeper["id"]),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (carol_id, carol_uuid) = me(&app, &carol).await;
    let (status, body) = call(
        &app,
        "PUT",
        &format!("/api/chat/moderators/{}/{carol_uuid}", creator.id),
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = call(
        &app,
        "GET",
        &format!("/api/videos/{vid}/comments"),
        Some(&carol),
        None,
    )
    .await;
    assert!(
        list["comments"]
            .as_array()
            .expect("comments")
            .iter()
            .all(|c| c["can_delete"] == true),
        "a moderator may delete any: {list}"
    );
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/comments/{}", reply["id"]),
        Some(&carol),
        None,
    )
    .await;
    assert_eq!(status, 204, "a channel moderator deletes");
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/comments/{top_id}"),
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(status, 204, "the creator deletes");
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/comments/{top_id}"),
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(status, 404, "gone");
    let (_, log) = call(
        &app,
        "GET",
        &format!("/api/chat/moderation/{}", creator.id),
        Some(&creator.token),
        None,
    )
    .await;
    let deletions: Vec<&Value> = log["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["action"] == "delete_comment")
        .collect();
    assert_eq!(deletions.len(), 2, "{log}");
    assert_eq!(deletions[1]["actor_id"], carol_id, "{log}");
    assert_eq!(deletions[1]["details"]["text"], "Agreed", "{log}");
    assert_eq!(deletions[0]["actor_id"], owner, "{log}");
    let (_, list) = call(
        &app,
        "GET",
        &format!("/api/videos/{vid}/comments"),
        None,
        None,
    )
    .await;
    assert_eq!(
        list["total"], 1,
        "only the creator's comment is left: {list}"
    );

    // A private video's comments are its owner's only.
    let private = ready_video(&store, owner, None, "private", ferrocast_db::now_ms()).await;
    let (status, _) = comment(&app, &private.uuid, &alice, json!({ "body": "hello?" })).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/videos/{}/comments", private.uuid),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    app.finish().await;
}

async fn a_comment_flood_is_refused_with_429(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "flood@example.com").await;
    let store = db(&app).await;
    let owner = crate::recording::user_of(&store, creator.id).await;
    let v = ready_video(
        &store,
        owner,
        Some(creator.id),
        "public",
        ferrocast_db::now_ms(),
    )
    .await;
    let spammer = register_user(&app, "spam@example.com", "Spammer").await;
    for i in 0..5 {
        let (status, body) = comment(
            &app,
            &v.uuid,
            &spammer,
            json!({ "body": format!("buy now {i}") }),
        )
        .await;
        assert_eq!(status, 201, "{i}: {body}");
    }
    let res = client()
        .post(app.url(&format!("/api/videos/{}/comments", v.uuid)))
        .bearer_auth(&spammer)
        .json(&json!({ "body": "buy now 6" }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&wait), "{wait}");
    let body: Value = res.json().await.expect("json");
    assert_eq!(code(&body), "RATE_LIMITED");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("commenting too fast"),
        "{body}"
    );

    // The video as a whole takes at most 30 comments a minute, from however many accounts.
    let mut refused = 0;
    let mut posted = 5;
    for n in 0..6 {
        let t = register_user(&app, &format!("bot{n}@example.com"), &format!("Bot {n}")).await;
        for i in 0..5 {
            let (status, body) = comment(
                &app,
                &v.uuid,
                &t,
                json!({ "body": format!("bot {n} says {i}") }),
            )
            .await;
            match status {
                201 => posted += 1,
                429 => {
                    refused += 1;
                    assert!(
                        body["details"]
                            .as_str()
                            .unwrap_or_default()
                            .contains("too many comments"),
                        "{body}"
                    );
                }
                _ => panic!("{status}: {body}"),
            }
        }
    }
    // 30 at once; the cap refills one every 2 s, so a slow run may fit one or two more.
    assert!((30..=32).contains(&posted), "the video's cap: {posted}");
    assert_eq!(refused, 35 - posted);
    app.finish().await;
}

async fn view(
    c: &reqwest::Client,
    app: &TestApp,
    video: &str,
    ua: &str,
    token: Option<&str>,
) -> Value {
    let mut r = c
        .post(app.url(&format!("/api/videos/{video}/view")))
        .header("user-agent", ua);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let res = r.send().await.expect("view");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

async fn reloading_does_not_inflate_views(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "views@example.com").await;
    let store = db(&app).await;
    let owner = crate::recording::user_of(&store, creator.id).await;
    let v = ready_video(
        &store,
        owner,
        Some(creator.id),
        "public",
        ferrocast_db::now_ms(),
    )
    .await;
    let vid = v.uuid.as_str();
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    // One anonymous browser reloading the page 25 times: one view. Cookies play no part.
    let browser = client();
    let first = view(&browser, &app, vid, FIREFOX, None).await;
    assert_eq!(
        (&first["counted"], &first["views"]),
        (&json!(true), &json!(1)),
        "{first}"
    );
    for _ in 0..24 {
        let again = view(&browser, &app, vid, FIREFOX, None).await;
        assert_eq!(
            (&again["counted"], &again["views"]),
            (&json!(false), &json!(1)),
            "{again}"
        );
        assert_eq!(again["view_id"], first["view_id"], "the same view");
    }
    // A fresh connection (a new tab, cleared cookies) from the same browser: still one.
    let again = view(&client(), &app, vid, FIREFOX, None).await;
    assert_eq!(again["views"], 1, "{again}");
    // Twenty reloads at once count once.
    let burst: Vec<Value> = futures_util::future::join_all((0..20).map(|_| {
        let c = client();
        let app = &app;
        async move { view(&c, app, vid, "Burst/1.0", None).await }
    }))
    .await;
    assert_eq!(
        burst.iter().filter(|r| r["counted"] == true).count(),
        1,
        "{burst:?}"
    );
    // A signed-in viewer reloading: one more; the same viewer from elsewhere: still one.
    let viewer = register_user(&app, "watcher@example.com", "Watcher").await;
    for _ in 0..5 {
        view(&browser, &app, vid, FIREFOX, Some(&viewer)).await;
    }
    let other_place = view(
        &client_from([127, 0, 0, 2]),
        &app,
        vid,
        "Other/2",
        Some(&viewer),
    )
    .await;
    assert_eq!(other_place["views"], 3, "{other_place}");
    // Another address is another viewer.
    let elsewhere = view(&client_from([127, 0, 0, 3]), &app, vid, FIREFOX, None).await;
    assert_eq!(
        (&elsewhere["counted"], &elsewhere["views"]),
        (&json!(true), &json!(4))
    );

    // Heartbeats: an hour claimed a moment after the view is credited at most the time that
    // passed (and a little slack); the owner's analytics add up what was credited.
    let res = browser
        .post(app.url(&format!("/api/videos/{vid}/heartbeat")))
        .header("user-agent", FIREFOX)
        .json(&json!({ "view_id": first["view_id"], "position_s": 3600, "watched_s": 600 }))
        .send()
        .await
        .expect("beat");
    assert_eq!(res.status(), 200);
    let beat: Value = res.json().await.expect("json");
    let credited = beat["credited_seconds"].as_f64().expect("credited");
    assert!(
        credited <= 2.0 + 5.0,
        "at most the elapsed time and the slack: {beat}"
    );
    // Someone else's view id is not theirs to credit.
    let res = client_from([127, 0, 0, 4])
        .post(app.url(&format!("/api/videos/{vid}/heartbeat")))
        .json(&json!({ "view_id": first["view_id"], "watched_s": 15 }))
        .send()
        .await
        .expect("beat");
    assert_eq!(res.status(), 409);
    let res = browser
        .post(app.url(&format!("/api/videos/{vid}/heartbeat")))
        .header("user-agent", FIREFOX)
        .json(&json!({ "watched_s": -1 }))
        .send()
        .await
        .expect("beat");
    assert_eq!(res.status(), 422);

    let (status, a) = call(
        &app,
        "GET",
        &format!("/api/videos/{vid}/analytics"),
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["views"], 4, "{a}");
    assert!(
        (a["watch_seconds"].as_f64().expect("watch") - credited).abs() < 0.002,
        "{a} vs {credited}"
    );
    assert!(
        (a["average_view_seconds"].as_f64().expect("avg") - credited / 4.0).abs() < 0.002,
        "{a}"
    );
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/videos/{vid}/analytics"),
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(status, 404, "the owner's only");
    app.finish().await;
}

/// A migrated database of either backend, and an engagement service over it on a manual clock.
async fn service(b: Backend) -> Option<(TestApp, Db, std::sync::Arc<ManualClock>, Engagement)> {
    let app = TestApp::start(b).await?;
    let store = db(&app).await;
    let clock = ManualClock::at(T0);
    let e = Engagement::new(store.clone(), clock.clone(), &[7u8; 32]);
    Some((app, store, clock, e))
}

async fn user(db: &Db, email: &str) -> i64 {
    let uuid = uuid::Uuid::new_v4().to_string();
    db.create_user(
        &NewUser {
            uuid: &uuid,
            email,
            password_hash: "x",
            display_name: email.split('@').next().expect("local part"),
            role: "creator",
            email_verified: true,
        },
        T0,
    )
    .await
    .expect("user")
    .id
}

fn anon(ua: &str) -> Viewer<'_> {
    Viewer::Anonymous {
        addr: "10.9.8.7",
        user_agent: ua,
    }
}

async fn views_count_once_per_window_and_heartbeats_are_bounded(b: Backend) {
    let Some((app, store, clock, e)) = service(b).await else {
        return;
    };
    let owner = user(&store, "owner@example.com").await;
    let v = ready_video(&store, owner, None, "public", T0).await;

    // The 30-minute window: reloads within it are the same view; the next one counts.
    let (first, views) = e.view(&v.uuid, anon("ua"), "10.9.8.7").await.expect("view");
    assert!(first.counted);
    assert_eq!(views, 1);
    clock.advance(29 * MIN);
    let (again, views) = e.view(&v.uuid, anon("ua"), "10.9.8.7").await.expect("view");
    assert!(!again.counted);
    assert_eq!((again.view_id, views), (first.view_id, 1));
    clock.advance(MIN);
    let (next, views) = e.view(&v.uuid, anon("ua"), "10.9.8.7").await.expect("view");
    assert!(next.counted, "30 minutes after the first view");
    assert_eq!(views, 2);
    assert_ne!(next.view_id, first.view_id);

    // Heartbeats: 15 s played after 15 s is credited; the same beat again at once only gets
    // the slack; an hour claimed after another 15 s gets those 15 s; in all never more than
    // the wall time since the view began plus the slack.
    let beat = |s: f64| e.heartbeat(&v.uuid, anon("ua"), "10.9.8.7", Some(next.view_id), s);
    clock.advance(15_000);
    assert_eq!(beat(15.0).await.expect("beat"), (15_000, 15_000));
    assert_eq!(
        beat(15.0).await.expect("beat"),
        (2_000, 17_000),
        "only the slack is left"
    );
    assert_eq!(
        beat(15.0).await.expect("beat"),
        (0, 17_000),
        "nothing is left"
    );
    clock.advance(15_000);
    assert_eq!(beat(600.0).await.expect("beat"), (15_000, 32_000));
    let elapsed = 30_000;
    assert!(32_000 <= elapsed + ferrocast_domain::engagement::HEARTBEAT_SLACK_MS);
    assert!(matches!(
        beat(601.0).await,
        Err(EngagementError::Invalid(_))
    ));
    assert!(matches!(
        beat(f64::NAN).await,
        Err(EngagementError::Invalid(_))
    ));
    // Another viewer cannot credit this view; without a view there is nothing to credit.
    let other = e
        .heartbeat(&v.uuid, anon("other"), "10.9.8.7", Some(next.view_id), 15.0)
        .await;
    assert!(matches!(other, Err(EngagementError::NoView)), "{other:?}");
    let none = e
        .heartbeat(&v.uuid, anon("never viewed"), "10.9.8.7", None, 15.0)
        .await;
    assert!(matches!(none, Err(EngagementError::NoView)), "{none:?}");
    // Without a view id the viewer's current view is credited.
    clock.advance(15_000);
    assert_eq!(
        e.heartbeat(&v.uuid, anon("ua"), "10.9.8.7", None, 15.0)
            .await
            .expect("beat"),
        (15_000, 47_000)
    );

    let a = store.video_analytics(v.id).await.expect("analytics");
    assert_eq!((a.views, a.watch_ms, a.avg_view_ms), (2, 47_000, 23_500));
    let per_owner = store
        .owner_video_analytics(owner, T0, T0 + HOUR)
        .await
        .expect("owner");
    assert_eq!(per_owner.len(), 1);
    assert_eq!(per_owner[0].analytics, a);
    let later = store
        .owner_video_analytics(owner, T0 + 10 * MIN, T0 + HOUR)
        .await
        .expect("owner");
    assert_eq!(later[0].analytics.views, 1, "the view in the range only");

    // A view left idle for hours (or its id replayed later) cannot claim the hours: ten minutes
    // of wall time are banked at most, then it is credited as time passes.
    let banked = ferrocast_domain::engagement::MAX_BANKED_MS;
    let slack = ferrocast_domain::engagement::HEARTBEAT_SLACK_MS;
    clock.advance(5 * HOUR);
    assert_eq!(beat(600.0).await.expect("beat").0, banked);
    assert_eq!(
        beat(600.0).await.expect("beat").0,
        slack,
        "then only the slack"
    );
    assert_eq!(beat(600.0).await.expect("beat").0, 0);
    clock.advance(5 * HOUR);
    let (newer, _) = e.view(&v.uuid, anon("ua"), "10.9.8.7").await.expect("view");
    assert!(newer.counted, "a new view hours later");
    let total = 47_000 + banked + slack + banked;
    assert_eq!(
        beat(600.0).await.expect("beat"),
        (banked, total),
        "the old view's id replayed banks no more than ten minutes either"
    );
    let a = store.video_analytics(v.id).await.expect("analytics");
    assert_eq!((a.views, a.watch_ms), (3, total));
    app.finish().await;
}

async fn trending_follows_the_decay_of_engagement(b: Backend) {
    let Some((app, store, clock, e)) = service(b).await else {
        return;
    };
    let owner = user(&store, "trend@example.com").await;
    let old = ready_video(&store, owner, None, "public", T0).await;
    let new = ready_video(&store, owner, None, "public", T0).await;
    let hidden = ready_video(&store, owner, None, "public", T0).await;
    let views = |v: &VideoRecord, n: usize, tag: &'static str| {
        let e = &e;
        let uuid = v.uuid.clone();
        async move {
            for i in 0..n {
                let ua = format!("{tag}-{i}");
                let (o, _) = e.view(&uuid, anon(&ua), "10.9.8.7").await.expect("view");
                assert!(o.counted);
            }
        }
    };
    let order = |t: Vec<ferrocast_server::service::engagement::Trend>| {
        t.into_iter().map(|t| t.video.id).collect::<Vec<_>>()
    };

    // Ten views two days ago weigh 10 × ¼ = 2.5; four views now weigh 4.
    views(&old, 10, "a").await;
    views(&hidden, 50, "h").await;
    // Made private after its views: it no longer trends.
    assert!(store
        .update_video_metadata(hidden.id, &hidden.title, "", &[], "private", T0)
        .await
        .expect("private"));
    clock.advance(48 * HOUR);
    views(&new, 4, "b").await;
    let t = e.trending(10).await.expect("trending");
    assert_eq!(
        order(t.clone()),
        [new.id, old.id],
        "private videos never trend"
    );
    assert!((t[0].score - 4.0).abs() < 0.1, "{}", t[0].score);
    assert!((t[1].score - 2.5).abs() < 0.1, "{}", t[1].score);

    // A day later the new video's four views weigh 2; the old one's ten weigh 1.25, and three
    // fresh views put it ahead again (4.25).
    clock.advance(24 * HOUR);
    views(&old, 3, "c").await;
    assert_eq!(
        order(e.trending(10).await.expect("trending")),
        [old.id, new.id]
    );

    // A like weighs three views, a comment five.
    let fan = user(&store, "fan@example.com").await;
    e.set_like(&new.uuid, fan, true).await.expect("like");
    e.comment(
        &new.uuid,
        ferrocast_server::service::engagement::Actor {
            id: fan,
            role: ferrocast_domain::account::Role::Viewer,
        },
        "love it",
        None,
    )
    .await
    .expect("comment");
    let t = e.trending(10).await.expect("trending");
    assert_eq!(order(t.clone()), [new.id, old.id]);
    assert!(
        (t[0].score - (2.0 + 3.0 + 5.0)).abs() < 0.1,
        "{}",
        t[0].score
    );

    // Past the window (a week), nothing trends.
    clock.advance(8 * 24 * HOUR);
    assert!(e.trending(10).await.expect("trending").is_empty());
    app.finish().await;
}

both_backends!(
    likes_comments_replies_and_moderation,
    a_comment_flood_is_refused_with_429,
    reloading_does_not_inflate_views,
    views_count_once_per_window_and_heartbeats_are_bounded,
    trending_follows_the_decay_of_engagement,
);
