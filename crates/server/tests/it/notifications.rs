//! Notifications on both databases: a channel going live (real ffmpeg) reaches its followers in
//! the app (the list, the Socket.IO `notification` event), by email at the tests' SMTP server and
//! by Web Push at a push-service stand-in written independently in Node (tests/js/push-service.mjs:
//! it verifies the VAPID JWT against k= and decrypts the aes128gcm body with the subscriber's
//! private key). A subscription the push service calls gone is removed; a failing one is retried
//! and given up; a hanging one delays nothing. Two go-lives within the window notify once.
//! Email: one-click unsubscribe (RFC 8058) works, a tampered link is refused; daily digests
//! gather notices into one mail.

use crate::support::{self, client, creator_with_source, register_user, Backend, Options, TestApp};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

fn state(app: &TestApp) -> &ferrocast_server::state::AppState {
    &app.running.as_ref().expect("running").state
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client().request(method, app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn start(b: Backend) -> Option<TestApp> {
    TestApp::start_with(
        b,
        Options {
            extra: vec![
                ("push_allow_private_endpoints", "true".into()),
                ("push_timeout_ms", "1500".into()),
                ("notify_retry_ms", "200".into()),
                ("notify_max_attempts", "3".into()),
                ("notify_workers", "4".into()),
                ("vapid_subject", "mailto:ops@example.com".into()),
            ],
            ..Options::default()
        },
    )
    .await
}

/// The push-service stand-in: a Node process serving on a port it prints first.
pub(crate) struct PushService {
    child: tokio::process::Child,
    base: String,
}

impl PushService {
    pub(crate) async fn start() -> PushService {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join("push-service.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node is required: run scripts/test.sh");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the push service starts")
            .expect("read")
            .expect("a first line");
        let port = serde_json::from_str::<Value>(&first).expect("json")["port"]
            .as_u64()
            .expect("port");
        PushService {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new browser subscription (the stand-in keeps its private key) whose pushes are
    /// answered as `mode` says: ok, gone, fail or hang.
    pub(crate) async fn subscription(&self, mode: &str) -> Value {
        client()
            .get(format!("{}/new-subscription?mode={mode}", self.base))
            .send()
            .await
            .expect("stand-in")
            .json()
            .await
            .expect("json")
    }

    async fn received(&self) -> Vec<Value> {
        let v: Value = client()
            .get(format!("{}/received", self.base))
            .send()
            .await
            .expect("stand-in")
            .json()
            .await
            .expect("json");
        v.as_array().cloned().unwrap_or_default()
    }

    pub(crate) async fn received_for(&self, endpoint: &str) -> Vec<Value> {
        let sub = endpoint.rsplit('/').next().expect("id");
        self.received()
            .await
            .into_iter()
            .filter(|r| r["sub"] == sub)
            .collect()
    }
}

impl Drop for PushService {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Waits up to `secs` for `check` to give a value.
async fn until<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn notifications(app: &TestApp, token: &str) -> Value {
    let (s, body) = send(
        app,
        reqwest::Method::GET,
        "/api/notifications",
        Some(token),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body
}

async fn live_notices(app: &TestApp, token: &str) -> Vec<Value> {
    notifications(app, token).await["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|n| n["kind"] == "live")
        .cloned()
        .collect()
}

/// A mail as received, its folded header lines joined (RFC 5322 §2.2.3).
fn unfold(mail: &str) -> String {
    mail.replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ")
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

async fn wait_live(app: &TestApp, pid: &str) -> Duration {
    let started = Instant::now();
    until(20, "the stream to be live", || async {
        let (_, w) = send(
            app,
            reqwest::Method::GET,
            &format!("/api/watch/{pid}"),
            None,
            None,
        )
        .await;
        (w["live"] == true).then_some(())
    })
    .await;
    started.elapsed()
}

async fn notifications_reach_followers(b: Backend) {
    support::require("ffmpeg");
    let Some(app) = start(b).await else {
        return;
    };
    let push = PushService::start().await;
    let creator = creator_with_source(&app, "creator@example.com").await;
    let viewer = register_user(&app, "viewer@example.com", "Viewer").await;

    // The creator is told of the new follower, once even if the viewer follows again.
    for method in [
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::POST,
    ] {
        let (s, body) = send(
            &app,
            method,
            "/api/channels/streamer/follow",
            Some(&viewer),
            None,
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }
    let n = notifications(&app, &creator.token).await;
    let followers: Vec<&Value> = n["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|n| n["kind"] == "follower")
        .collect();
    assert_eq!(followers.len(), 1, "{n}");
    assert_eq!(followers[0]["title"], "Viewer followed your channel");
    assert_eq!(n["unread"], 1);

    // The viewer allows push in four browsers: a working one, one the push service has
    // forgotten, one whose push service fails, one whose push service hangs.
    let (s, key) = send(
        &app,
        reqwest::Method::GET,
        "/api/push/vapid-public-key",
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let vapid = key["public_key"].as_str().expect("key").to_string();
    assert_eq!(
        ferrocast_server::service::webpush::b64url_decode(&vapid).map(|k| k.len()),
        Some(65)
    );
    let mut subs = std::collections::BTreeMap::new();
    for mode in ["ok", "gone", "fail", "hang"] {
        let sub = push.subscription(mode).await;
        let (s, body) = send(
            &app,
            reqwest::Method::POST,
            "/api/push/subscriptions",
            Some(&viewer),
            Some(sub.clone()),
        )
        .await;
        assert_eq!(s, 201, "{body}");
        subs.insert(
            mode,
            sub["endpoint"].as_str().expect("endpoint").to_string(),
        );
    }
    // Keys that are not a P-256 point and a 16-byte secret are refused in words.
    let mut bad = push.subscription("ok").await;
    bad["keys"]["p256dh"] = json!("AAAA");
    let (s, body) = send(
        &app,
        reqwest::Method::POST,
        "/api/push/subscriptions",
        Some(&viewer),
        Some(bad),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["details"]
            .as_str()
            .expect("details")
            .contains("p256dh"),
        "{body}"
    );

    // The viewer's page is open (Socket.IO) when the creator goes live.
    let url = app.base.clone();
    let token = viewer.clone();
    let socket = tokio::spawn(async move {
        support::socketio_scenario(
            "notifications",
            json!({"url": url, "token": token, "ms": 25000}),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut ff = support::publish(&app.rtmp_url(), &creator.key, 6, &[]);
    let went_live = Instant::now();
    // Going live is not slowed by the hanging push service.
    let to_live = wait_live(&app, &creator.playback_id).await;
    assert!(to_live < Duration::from_secs(10), "live after {to_live:?}");
    let live = until(10, "the live notice", || async {
        let l = live_notices(&app, &viewer).await;
        (!l.is_empty()).then_some(l)
    })
    .await;
    let in_app_after = went_live.elapsed();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["title"], "Streamer is live");
    assert_eq!(live[0]["url"], format!("/watch/{}", creator.playback_id));
    assert_eq!(live[0]["read"], false);

    let seen = socket.await.expect("socket scenario");
    let pushed = &seen["notifications"][0];
    assert_eq!(pushed["kind"], "live", "{seen}");
    assert_eq!(pushed["id"], live[0]["id"]);

    // Email at the tests' SMTP server, with RFC 8058 one-click unsubscribe headers.
    let mail = until(10, "the go-live email", || async {
        app.inbox
            .all()
            .into_iter()
            .map(|m| unfold(&m))
            .find(|m| m.contains("To: viewer@example.com") && m.contains("Streamer is live"))
    })
    .await;
    let unsubscribe = header(&mail, "List-Unsubscribe").expect("List-Unsubscribe");
    assert!(
        unsubscribe.starts_with('<')
            && unsubscribe.contains("/api/notifications/unsubscribe?token="),
        "{mail}"
    );
    assert_eq!(
        header(&mail, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );

    // The working browser got the push, signed for its push service and decryptable.
    let ok = until(10, "the push", || async {
        let r = push.received_for(&subs["ok"]).await;
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0]["ok"], true, "{ok:?}");
    assert_eq!(ok[0]["k"], vapid.as_str());
    assert_eq!(ok[0]["claims"]["sub"], "mailto:ops@example.com");
    assert_eq!(ok[0]["payload"]["title"], "Streamer is live");
    assert_eq!(ok[0]["payload"]["kind"], "live");
    assert_eq!(ok[0]["payload"]["id"], live[0]["id"]);
    assert!(ok[0]["payload"]["url"]
        .as_str()
        .expect("url")
        .ends_with(&format!("/watch/{}", creator.playback_id)));
    assert_eq!(ok[0]["urgency"], "high");

    // The push service said the "gone" subscription is gone: it is removed and not retried.
    let db = &state(&app).db;
    let viewer_id = db
        .user_by_email("viewer@example.com")
        .await
        .expect("db")
        .expect("viewer")
        .id;
    until(10, "the gone subscription's removal", || async {
        let subs_now = db.push_subscriptions_of(viewer_id).await.expect("db");
        (!subs_now.iter().any(|s| s.endpoint == subs["gone"])).then_some(())
    })
    .await;
    // The failing one is tried three times (notify_max_attempts) with backoff, then given up;
    // so is the hanging one, each attempt cut at push_timeout_ms.
    let deliveries = until(20, "the failing pushes to be given up", || async {
        let d = db.deliveries_of_user(viewer_id).await.expect("db");
        let push: Vec<_> = d.into_iter().filter(|d| d.channel == "push").collect();
        let settled = push.len() == 4
            && push
                .iter()
                .all(|d| d.state != "queued" && d.state != "running");
        settled.then_some(push)
    })
    .await;
    let by_state = |s: &str| deliveries.iter().filter(|d| d.state == s).count();
    assert_eq!(by_state("sent"), 1, "{deliveries:?}");
    assert_eq!(by_state("dropped"), 1, "{deliveries:?}");
    assert_eq!(by_state("failed"), 2, "{deliveries:?}");
    assert!(
        deliveries
            .iter()
            .filter(|d| d.state == "failed")
            .all(|d| d.attempts == 3),
        "{deliveries:?}"
    );
    assert_eq!(push.received_for(&subs["fail"]).await.len(), 3);
    assert_eq!(push.received_for(&subs["gone"]).await.len(), 1);
    // Every push that arrived verified and decrypted, the retries included.
    assert!(
        push.received().await.iter().all(|r| r["ok"] == true),
        "{:?}",
        push.received().await
    );
    assert!(
        in_app_after < Duration::from_secs(10),
        "in-app after {in_app_after:?}"
    );

    // Going live again within the window (an encoder reconnecting) notifies nobody twice.
    let _ = ff.wait();
    until(20, "the stream to end", || async {
        let (_, w) = send(
            &app,
            reqwest::Method::GET,
            &format!("/api/watch/{}", creator.playback_id),
            None,
            None,
        )
        .await;
        (w["live"] == false).then_some(())
    })
    .await;
    let mut ff = support::publish(&app.rtmp_url(), &creator.key, 4, &[]);
    wait_live(&app, &creator.playback_id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(live_notices(&app, &viewer).await.len(), 1);
    assert_eq!(push.received_for(&subs["ok"]).await.len(), 1);
    let _ = ff.wait();

    // Read state: by id, then all; an empty request says what to send.
    let id = live[0]["id"].as_i64().expect("id");
    let (s, body) = send(
        &app,
        reqwest::Method::POST,
        "/api/notifications/read",
        Some(&viewer),
        Some(json!({"ids": [id]})),
    )
    .await;
    assert_eq!((s, &body["unread"]), (200, &json!(0)), "{body}");
    assert_eq!(live_notices(&app, &viewer).await[0]["read"], true);
    let (s, _) = send(
        &app,
        reqwest::Method::POST,
        "/api/notifications/read",
        Some(&viewer),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 422);
    // Another user's notice is not theirs to mark.
    let creator_notice = followers[0]["id"].as_i64().expect("id");
    let (s, body) = send(
        &app,
        reqwest::Method::POST,
        "/api/notifications/read",
        Some(&viewer),
        Some(json!({"ids": [creator_notice]})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(notifications(&app, &creator.token).await["unread"], 1);
    let (s, body) = send(
        &app,
        reqwest::Method::POST,
        "/api/notifications/read",
        Some(&creator.token),
        Some(json!({"all": true})),
    )
    .await;
    assert_eq!((s, &body["unread"]), (200, &json!(0)));
    let (s, _) = send(&app, reqwest::Method::GET, "/api/notifications", None, None).await;
    assert_eq!(s, 401);

    // Removing a subscription: the browser's own, once.
    let del = json!({"endpoint": subs["ok"]});
    let (s, _) = send(
        &app,
        reqwest::Method::DELETE,
        "/api/push/subscriptions",
        Some(&viewer),
        Some(del.clone()),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = send(
        &app,
        reqwest::Method::DELETE,
        "/api/push/subscriptions",
        Some(&viewer),
        Some(del),
    )
    .await;
    assert_eq!(s, 404);
    drop(push);
    app.finish().await;
}

async fn email_preferences_unsubscribe_and_digest(b: Backend) {
    let Some(app) = start(b).await else {
        return;
    };
    let creator = register_user(&app, "maker@example.com", "Maker").await;
    let fans: Vec<String> = register_fans(&app).await;

    // Preferences: the defaults per kind, then the creator's choices.
    let (s, prefs) = send(
        &app,
        reqwest::Method::GET,
        "/api/me/notification-preferences",
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(s, 200, "{prefs}");
    let kinds = prefs["kinds"].as_array().expect("kinds");
    assert_eq!(kinds.len(), 7);
    assert_eq!(kinds[6]["kind"], "campaign");
    assert_eq!(kinds[6]["email"], "instant");
    assert_eq!(kinds[4]["kind"], "moderation");
    assert_eq!(kinds[4]["email"], "instant");
    assert_eq!(kinds[5]["kind"], "data");
    assert_eq!(kinds[5]["email"], "instant");
    assert_eq!(kinds[0]["kind"], "live");
    assert_eq!(kinds[0]["email"], "instant");
    assert_eq!(kinds[2]["kind"], "follower");
    assert_eq!(kinds[2]["email"], "daily");
    let put = |follower_email: &str| {
        json!({"kinds": [
            {"kind": "live", "in_app": true, "email": "instant", "push": true},
            {"kind": "follower", "in_app": true, "email": follower_email, "push": false},
        ]})
    };
    let (s, body) = send(
        &app,
        reqwest::Method::PUT,
        "/api/me/notification-preferences",
        Some(&creator),
        Some(put("instant")),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["kinds"][2]["email"], "instant");
    assert_eq!(body["kinds"][2]["push"], false);
    // Kinds left out are back to their defaults.
    assert_eq!(body["kinds"][1]["email"], "daily");
    // A kind twice, and a channel nobody has, are refused in words.
    let twice = json!({"kinds": [
        {"kind": "live", "in_app": true, "email": "off", "push": true},
        {"kind": "live", "in_app": true, "email": "off", "push": true}]});
    let (s, body) = send(
        &app,
        reqwest::Method::PUT,
        "/api/me/notification-preferences",
        Some(&creator),
        Some(twice),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    let nobody = json!({"kinds": [], "channels": [{"handle": "nobody_here", "kind": "live", "in_app": false, "email": "off", "push": false}]});
    let (s, body) = send(
        &app,
        reqwest::Method::PUT,
        "/api/me/notification-preferences",
        Some(&creator),
        Some(nobody),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(body["details"]
        .as_str()
        .expect("details")
        .contains("nobody_here"));
    // A per-channel choice is kept and shown with the channel's name.
    let (s, _) = send(
        &app,
        reqwest::Method::POST,
        "/api/channels/maker/follow",
        Some(&fans[0]),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let per_channel = json!({"kinds": [], "channels": [{"handle": "maker", "kind": "live", "in_app": true, "email": "off", "push": false}]});
    let (s, body) = send(
        &app,
        reqwest::Method::PUT,
        "/api/me/notification-preferences",
        Some(&fans[0]),
        Some(per_channel),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["channels"][0]["display_name"], "Maker");
    assert_eq!(body["channels"][0]["email"], "off");

    // The creator wants follower mail at once: the first fan's follow (above) mailed it.
    let (s, _) = send(
        &app,
        reqwest::Method::PUT,
        "/api/me/notification-preferences",
        Some(&creator),
        Some(put("instant")),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = send(
        &app,
        reqwest::Method::POST,
        "/api/channels/maker/follow",
        Some(&fans[1]),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let mail = until(10, "the follower email", || async {
        app.inbox.all().into_iter().map(|m| unfold(&m)).find(|m| {
            m.contains("To: maker@example.com") && m.contains("Fan 1 followed your channel")
        })
    })
    .await;
    let link = header(&mail, "List-Unsubscribe")
        .expect("List-Unsubscribe")
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    let token = link.split("token=").nth(1).expect("token").to_string();

    // A tampered link is refused and changes nothing.
    let mut tampered: Vec<char> = token.chars().collect();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for t in [
        tampered.as_str(),
        "1.follower.AAAAAAAAAAAAAAAAAAAAAA",
        "garbage",
    ] {
        let res = client()
            .post(app.url(&format!("/api/notifications/unsubscribe?token={t}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 400, "{t}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["code"], "INVALID_TOKEN");
    }
    let (_, prefs) = send(
        &app,
        reqwest::Method::GET,
        "/api/me/notification-preferences",
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(prefs["kinds"][2]["email"], "instant");

    // Opening the link in a browser leads to the confirmation page and changes nothing.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let res = no_redirect.get(&link).send().await.expect("get");
    assert_eq!(res.status(), 303);
    assert!(res.headers()["location"]
        .to_str()
        .expect("ascii")
        .starts_with("/unsubscribe?token="));

    // The mail client's one-click POST (RFC 8058 §3.2) turns follower email off.
    let res = client()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["kind"], "follower");
    let (_, prefs) = send(
        &app,
        reqwest::Method::GET,
        "/api/me/notification-preferences",
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(prefs["kinds"][2]["email"], "off");
    assert_eq!(
        prefs["kinds"][2]["in_app"], true,
        "only email is turned off"
    );
    let before = app.inbox.all().len();
    let (s, _) = send(
        &app,
        reqwest::Method::POST,
        "/api/channels/maker/follow",
        Some(&fans[2]),
        None,
    )
    .await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.inbox.all().len(), before, "no mail after unsubscribing");

    // Daily digest: two more follows are gathered into one mail when the digest hour comes.
    let (s, _) = send(
        &app,
        reqwest::Method::PUT,
        "/api/me/notification-preferences",
        Some(&creator),
        Some(put("daily")),
    )
    .await;
    assert_eq!(s, 200);
    for fan in &fans[3..5] {
        let (s, _) = send(
            &app,
            reqwest::Method::POST,
            "/api/channels/maker/follow",
            Some(fan),
            None,
        )
        .await;
        assert_eq!(s, 200);
    }
    let db = &state(&app).db;
    let maker_id = db
        .user_by_email("maker@example.com")
        .await
        .expect("db")
        .expect("maker")
        .id;
    let digest: Vec<_> = db
        .deliveries_of_user(maker_id)
        .await
        .expect("db")
        .into_iter()
        .filter(|d| d.channel == "digest")
        .collect();
    assert_eq!(digest.len(), 2);
    let now = ferrocast_db::now_ms();
    assert!(digest
        .iter()
        .all(|d| d.state == "queued" && d.run_after > now && d.run_after <= now + 86_400_000));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        app.inbox.all().len(),
        before,
        "the digest waits for its hour"
    );
    // The hour comes (the rows' time moved, as the clock would).
    sqlx_exec(
        &app,
        "UPDATE notification_deliveries SET run_after = 0 WHERE channel = 'digest'",
    )
    .await;
    let mail = until(10, "the digest", || async {
        app.inbox
            .all()
            .into_iter()
            .map(|m| unfold(&m))
            .find(|m| m.contains("To: maker@example.com") && m.contains("daily digest"))
    })
    .await;
    assert!(
        mail.contains("Fan 3 followed your channel")
            && mail.contains("Fan 4 followed your channel"),
        "{mail}"
    );
    assert!(header(&mail, "List-Unsubscribe").is_some());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let digests = app
        .inbox
        .all()
        .into_iter()
        .filter(|m| m.contains("daily digest"))
        .count();
    assert_eq!(digests, 1, "one mail for both");
    app.finish().await;
}

async fn register_fans(app: &TestApp) -> Vec<String> {
    let mut fans = Vec::new();
    for i in 0..5 {
        fans.push(register_user(app, &format!("fan{i}@example.com"), &format!("Fan {i}")).await);
    }
    fans
}

async fn sqlx_exec(app: &TestApp, sql: &str) {
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url)
                .await
                .expect("sqlite");
            sqlx::query(sql).execute(&pool).await.expect("exec");
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url)
                .await
                .expect("postgres");
            sqlx::query(sql).execute(&pool).await.expect("exec");
            pool.close().await;
        }
    }
}

/// A reply tells the author of the comment answered (not the replier answering themselves); a
/// public video ready tells the channel's followers (the fan-out the processing's `ready` event
/// queues), a private one nobody.
async fn replies_and_new_videos(b: Backend) {
    let Some(app) = start(b).await else {
        return;
    };
    register_user(&app, "maker@example.com", "Maker").await;
    let ann = register_user(&app, "ann@example.com", "Ann").await;
    let bob = register_user(&app, "bob@example.com", "Bob").await;
    let db = &state(&app).db;
    let id_of = |email: &'static str| async move {
        db.user_by_email(email).await.expect("db").expect("user").id
    };
    let maker_id = id_of("maker@example.com").await;
    let now = ferrocast_db::now_ms();
    let mut videos = Vec::new();
    for visibility in ["public", "private"] {
        let uuid = ferrocast_server::service::videos::new_video_id();
        db.create_video(
            &ferrocast_db::videos::NewVideo {
                uuid: &uuid,
                user_id: maker_id,
                source_id: None,
                kind: "upload",
                title: "Modular patching basics",
                description: "",
                tags: &[],
                visibility,
                status: "ready",
                expires_at: None,
            },
            now,
        )
        .await
        .expect("video");
        videos.push(uuid);
    }
    let path = format!("/api/videos/{}/comments", videos[0]);
    let (s, top) = send(
        &app,
        reqwest::Method::POST,
        &path,
        Some(&ann),
        Some(json!({"body": "Which oscillator is that?"})),
    )
    .await;
    assert_eq!(s, 201, "{top}");
    let (s, own) = send(
        &app,
        reqwest::Method::POST,
        &path,
        Some(&ann),
        Some(json!({"body": "Never mind", "parent_id": top["id"]})),
    )
    .await;
    assert_eq!(s, 201, "{own}");
    let (s, reply) = send(
        &app,
        reqwest::Method::POST,
        &path,
        Some(&bob),
        Some(json!({"body": "A Plaits, I think", "parent_id": top["id"]})),
    )
    .await;
    assert_eq!(s, 201, "{reply}");
    let n = notifications(&app, &ann).await;
    let replies: Vec<&Value> = n["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|n| n["kind"] == "reply")
        .collect();
    assert_eq!(replies.len(), 1, "not for answering oneself: {n}");
    assert_eq!(replies[0]["title"], "Bob replied to your comment");
    assert_eq!(replies[0]["body"], "A Plaits, I think");
    assert_eq!(replies[0]["url"], format!("/v/{}", videos[0]));

    // Bob follows the channel; the public video reaches him, the private one does not.
    let (s, _) = send(
        &app,
        reqwest::Method::POST,
        "/api/channels/maker/follow",
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let notify = &state(&app).notify;
    for uuid in &videos {
        notify.video_published(uuid).await.expect("queued");
    }
    let got = until(10, "the new-video notice", || async {
        let n = notifications(&app, &bob).await;
        let v: Vec<Value> = n["notifications"]
            .as_array()
            .expect("list")
            .iter()
            .filter(|n| n["kind"] == "video")
            .cloned()
            .collect();
        (!v.is_empty()).then_some(v)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let n = notifications(&app, &bob).await;
    let all: Vec<&Value> = n["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|n| n["kind"] == "video")
        .collect();
    assert_eq!(all.len(), 1, "{n}");
    assert_eq!(got[0]["title"], "Maker published a video");
    assert_eq!(got[0]["body"], "Modular patching basics");
    assert_eq!(got[0]["url"], format!("/v/{}", videos[0]));
    // The same video ready again (reprocessed) notifies nobody twice.
    notify.video_published(&videos[0]).await.expect("queued");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        notifications(&app, &bob).await["notifications"]
            .as_array()
            .expect("list")
            .iter()
            .filter(|n| n["kind"] == "video")
            .count(),
        1
    );
    app.finish().await;
}

/// A push service that hangs holds this node's only delivery worker; meanwhile the creator goes
/// live: the stream is live and the follower's in-app notice arrives at once all the same
/// (neither waits for push).
async fn a_hanging_push_service_delays_nothing(b: Backend) {
    support::require("ffmpeg");
    let Some(app) = TestApp::start_with(
        b,
        Options {
            extra: vec![
                ("push_allow_private_endpoints", "true".into()),
                ("push_timeout_ms", "30000".into()),
                ("notify_workers", "1".into()),
            ],
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let push = PushService::start().await;
    let creator = creator_with_source(&app, "creator@example.com").await;
    let viewer = register_user(&app, "viewer@example.com", "Viewer").await;
    let fan = register_user(&app, "fan@example.com", "Fan").await;
    let hang = push.subscription("hang").await;
    let (s, _) = send(
        &app,
        reqwest::Method::POST,
        "/api/push/subscriptions",
        Some(&viewer),
        Some(hang.clone()),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = send(
        &app,
        reqwest::Method::POST,
        "/api/channels/streamer/follow",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(s, 200);
    // Someone follows the viewer: its push goes to the hanging service and holds the worker.
    let (s, _) = send(
        &app,
        reqwest::Method::POST,
        "/api/channels/viewer/follow",
        Some(&fan),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let endpoint = hang["endpoint"].as_str().expect("endpoint").to_string();
    until(10, "the push to hang", || async {
        (!push.received_for(&endpoint).await.is_empty()).then_some(())
    })
    .await;
    let mut ff = support::publish(&app.rtmp_url(), &creator.key, 5, &[]);
    let to_live = wait_live(&app, &creator.playback_id).await;
    let live_at = Instant::now();
    assert!(to_live < Duration::from_secs(8), "live after {to_live:?}");
    until(5, "the in-app notice while push hangs", || async {
        (!live_notices(&app, &viewer).await.is_empty()).then_some(())
    })
    .await;
    assert!(live_at.elapsed() < Duration::from_secs(5));
    // The worker is still held by the first push: the go-live push has not been tried yet.
    assert_eq!(push.received_for(&endpoint).await.len(), 1);
    let _ = ff.wait();
    drop(push);
    app.finish().await;
}

both_backends!(
    notifications_reach_followers,
    a_hanging_push_service_delays_nothing,
    replies_and_new_videos,
    email_preferences_unsubscribe_and_digest,
);
