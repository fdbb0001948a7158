//! Several nodes as one deployment: rate limits shared through Redis, site settings dropped on
//! every node when one changes them, the ingest and admin address lists, and a node draining.

use crate::connectors::redis_url;
use crate::support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{call, client, client_from, creator_with_source, publish, Backend, Options, TestApp};

/// A master key both nodes share (their Redis keys and channel are derived from it).
fn shared_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A second node of `first`'s deployment: its database, Redis, key and public URL.
async fn second_node(
    b: Backend,
    first: &TestApp,
    redis: &str,
    key: &str,
    auth_rate_limit: u32,
) -> TestApp {
    TestApp::start_with(
        b,
        Options {
            auth_rate_limit,
            extra: vec![
                ("redis_url", redis.to_string()),
                ("secret_key", key.to_string()),
                ("database_url", first.database_url.clone()),
                ("public_url", first.base.clone()),
            ],
        },
    )
    .await
    .expect("second node")
}

async fn login(app: &TestApp, email: &str) -> reqwest::Response {
    client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": "password123"}))
        .send()
        .await
        .expect("login")
}

/// Two nodes on one Redis, 5 credential requests a minute per address: the budget is one.
/// Logins alternate between the nodes; the sixth, on either, is refused with Retry-After,
/// while another address still gets in.
async fn two_nodes_share_one_login_budget(b: Backend) {
    let Some(redis) = redis_url() else { return };
    let key = shared_key();
    let Some(first) = TestApp::start_with(
        b,
        Options {
            auth_rate_limit: 5,
            extra: vec![("redis_url", redis.clone()), ("secret_key", key.clone())],
        },
    )
    .await
    else {
        return;
    };
    let second = second_node(b, &first, &redis, &key, 5).await;
    // Registered from another address, so its request is not charged to 127.0.0.1's budget.
    let res = client_from([127, 0, 0, 9])
        .post(first.url("/api/auth/register"))
        .json(&json!({"email": "budget@example.com", "password": "password123", "display_name": "Budget"}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 201);

    for (i, node) in [&first, &second, &first, &second, &first]
        .into_iter()
        .enumerate()
    {
        let res = login(node, "budget@example.com").await;
        assert_eq!(res.status(), 200, "login {} is within the budget", i + 1);
    }
    let refused = login(&second, "budget@example.com").await;
    assert_eq!(
        refused.status(),
        429,
        "the sixth login across both nodes is refused"
    );
    let wait: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(
        (1..=12).contains(&wait),
        "one slot back within 12 s: {wait}"
    );
    assert_eq!(login(&first, "budget@example.com").await.status(), 429);
    // Another address has its own budget, on either node.
    let other = client_from([127, 0, 0, 3])
        .post(second.url("/api/auth/login"))
        .json(&json!({"email": "budget@example.com", "password": "password123"}))
        .send()
        .await
        .expect("login");
    assert_eq!(other.status(), 200);
    for node in [&first, &second] {
        assert_eq!(
            support::metric_value(node, "ferrocast_rate_limit_backend_errors_total").await,
            Some(0.0),
            "every check went through Redis"
        );
    }
    second.finish().await;
    first.finish().await;
}

/// Maintenance switched on through one node holds the other closed at once: the other node's
/// cached copy (trusted for 30 s with Redis) is dropped by the announcement, not by age.
async fn site_settings_reach_the_other_node_at_once(b: Backend) {
    let Some(redis) = redis_url() else { return };
    let key = shared_key();
    let Some(first) = TestApp::start_with(
        b,
        Options {
            extra: vec![("redis_url", redis.clone()), ("secret_key", key.clone())],
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let second = second_node(b, &first, &redis, &key, 10_000).await;
    let admin = support::register_admin(&first, "admin@example.com").await;
    let user = support::register_user(&first, "viewer@example.com", "Viewer").await;

    // The second node reads (and caches) the settings: open.
    let (status, site) = call(&second, "GET", "/api/site", None, None).await;
    assert_eq!(
        (status, site["maintenance_mode"].clone()),
        (200, json!(false))
    );
    assert_eq!(
        call(&second, "GET", "/api/sources", Some(&user), None)
            .await
            .0,
        200
    );

    let changed_at = Instant::now();
    let (status, s) = call(
        &first,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(json!({"maintenance_mode": true, "maintenance_message": "Upgrading."})),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    // Far sooner than the 30 s the second node would otherwise trust its copy.
    let mut closed = None;
    while changed_at.elapsed() < Duration::from_secs(10) {
        let (status, e) = call(&second, "GET", "/api/sources", Some(&user), None).await;
        if status == 503 {
            closed = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = closed.expect("the second node closed for maintenance");
    assert_eq!(
        (e["code"].as_str(), e["details"].as_str()),
        (Some("MAINTENANCE"), Some("Upgrading."))
    );
    let (_, site) = call(&second, "GET", "/api/site", None, None).await;
    assert_eq!(site["maintenance_mode"], json!(true));

    // And back: switched off through the second node, the first opens.
    let (status, _) = call(
        &second,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(json!({"maintenance_mode": false})),
    )
    .await;
    assert_eq!(status, 200);
    let opened_at = Instant::now();
    let mut open = false;
    while opened_at.elapsed() < Duration::from_secs(10) {
        if call(&first, "GET", "/api/sources", Some(&user), None)
            .await
            .0
            == 200
        {
            open = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(open, "the first node reopened");
    second.finish().await;
    first.finish().await;
}

/// Waits up to `secs` for ffmpeg to end; its exit status, or `None` if it still runs.
fn wait_exit(child: &mut std::process::Child, secs: u64) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

async fn live_streams(app: &TestApp) -> usize {
    app.running
        .as_ref()
        .expect("running")
        .state
        .engine
        .hub
        .streams()
        .len()
}

async fn wait_live(app: &TestApp, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if live_streams(app).await > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// FERROCAST_INGEST_ALLOW / _DENY: ffmpeg from 127.0.0.1 is refused by an allow list that does
/// not hold it and by a deny list that does, and publishes when the lists let it.
async fn ingest_lists_decide_who_publishes(b: Backend) {
    support::require("ffmpeg");
    for (allow, deny, publishes) in [
        ("10.0.0.0/8, 2001:db8::/32", "", false),
        ("", "127.0.0.0/8", false),
        ("127.0.0.0/8, ::1", "127.0.0.2, 2001:db8::/32", true),
    ] {
        let Some(app) = TestApp::start_with(
            b,
            Options {
                extra: vec![
                    ("ingest_allow", allow.to_string()),
                    ("ingest_deny", deny.to_string()),
                ],
                ..Options::default()
            },
        )
        .await
        else {
            return;
        };
        let src = creator_with_source(&app, "streamer@example.com").await;
        let mut ff = publish(&app.rtmp_url(), &src.key, 20, &[]);
        if publishes {
            assert!(
                wait_live(&app, 15).await,
                "allow {allow:?} deny {deny:?}: 127.0.0.1 publishes"
            );
            let _ = ff.kill();
            let _ = ff.wait();
        } else {
            let status = wait_exit(&mut ff, 15);
            if status.is_none() {
                let _ = ff.kill();
            }
            let _ = ff.wait();
            assert!(
                status.is_some_and(|s| !s.success()),
                "allow {allow:?} deny {deny:?}: ffmpeg is refused and exits with an error"
            );
            assert_eq!(live_streams(&app).await, 0, "nothing went live");
        }
        app.finish().await;
    }
}

/// FERROCAST_ADMIN_ALLOW / _DENY: `/api/admin/*` answers only the addresses the lists permit
/// — behind a trusted proxy, the forwarded client (IPv4 or IPv6) — and nothing else is gated.
async fn admin_lists_gate_the_admin_api(b: Backend) {
    let Some(app) = TestApp::start_with(
        b,
        Options {
            extra: vec![
                ("admin_allow", "10.0.0.0/8, 2001:db8::/32".to_string()),
                ("admin_deny", "10.66.0.0/16".to_string()),
                ("trusted_proxies", "127.0.0.1".to_string()),
            ],
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let admin = support::register_user(&app, "admin@example.com", "Admin").await;
    let db = &app.running.as_ref().expect("running").state.db;
    let me = db
        .user_by_email("admin@example.com")
        .await
        .expect("q")
        .expect("user");
    db.set_role(me.id, "admin", 0).await.expect("role");
    let get = |forwarded: Option<&'static str>| {
        let mut r = client()
            .get(app.url("/api/admin/settings"))
            .bearer_auth(&admin);
        if let Some(f) = forwarded {
            r = r.header("x-forwarded-for", f);
        }
        async move {
            let res = r.send().await.expect("request");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // The proxy itself (127.0.0.1) is outside the allow list.
    let (status, e) = get(None).await;
    assert_eq!(status, 403, "{e}");
    assert!(
        e["details"]
            .as_str()
            .is_some_and(|d| d.contains("FERROCAST_ADMIN_ALLOW")),
        "the refusal says what to change: {e}"
    );
    assert_eq!(get(Some("10.1.2.3")).await.0, 200, "allowed block");
    assert_eq!(
        get(Some("2001:db8:7::1")).await.0,
        200,
        "allowed IPv6 block"
    );
    assert_eq!(get(Some("10.66.1.1")).await.0, 403, "deny wins");
    assert_eq!(
        get(Some("192.0.2.1")).await.0,
        403,
        "outside the allow list"
    );
    assert_eq!(
        get(Some("2001:db9::1")).await.0,
        403,
        "outside the IPv6 block"
    );
    // The address list is checked before credentials: no token, still 403 (not 401).
    let res = client()
        .get(app.url("/api/admin/users"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 403);
    // The rest of the API is not gated.
    assert_eq!(call(&app, "GET", "/api/site", None, None).await.0, 200);
    assert_eq!(
        call(&app, "GET", "/api/sources", Some(&admin), None)
            .await
            .0,
        200
    );
    app.finish().await;
}

/// Draining: readiness fails with "draining" at once, the encoder is disconnected and cannot
/// come back, HLS viewers are refused, then the drain gives back a job lease the node held and
/// the node stops within the bound.
async fn a_draining_node_refuses_newcomers_and_gives_back_its_leases(b: Backend) {
    support::require("ffmpeg");
    let Some(mut app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "streamer@example.com").await;
    let mut ff = publish(&app.rtmp_url(), &src.key, 60, &[]);
    assert!(wait_live(&app, 15).await, "the stream went live");
    let running = app.running.take().expect("running");
    let state = running.state.clone();
    // A job this node holds the lease of (a kind no worker runs, so it stays claimed).
    let node = state.fanout.node().to_string();
    let now = ferrocast_db::now_ms();
    let job = state
        .db
        .enqueue_job("drain_test", None, &json!({}), now, 3, now)
        .await
        .expect("enqueue");
    let claimed = state
        .db
        .claim_job(&node, &["drain_test"], 600_000, now)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(claimed.id, job.id);
    // At least that one: the live stream may have set this node's own workers going too.
    assert!(state.db.node_leases(&node).await.expect("leases") >= 1);

    state.drain.begin();
    let res = client().get(app.url("/ready")).send().await.expect("ready");
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "DRAINING", "{body}");
    assert!(
        body["details"]
            .as_str()
            .is_some_and(|d| d.starts_with("draining")),
        "{body}"
    );
    assert_eq!(
        support::metric_value(&app, "ferrocast_draining").await,
        Some(1.0)
    );
    let res = client()
        .get(app.url(&format!("/hls/{}/index.m3u8", src.playback_id)))
        .send()
        .await
        .expect("hls");
    assert_eq!(res.status(), 503, "new HLS viewers are refused");
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // The encoder is disconnected (so it reconnects elsewhere) and RTMP takes nobody new.
    let status = wait_exit(&mut ff, 10);
    if status.is_none() {
        let _ = ff.kill();
    }
    let _ = ff.wait();
    assert!(status.is_some(), "the publisher was disconnected");
    let rtmp = running.rtmp_addr;
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(rtmp).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the RTMP listener is closed");

    let started = Instant::now();
    running
        .drain(Duration::from_secs(10))
        .await
        .expect("drained");
    assert!(
        started.elapsed() < Duration::from_secs(13),
        "drained within the bound: {:?}",
        started.elapsed()
    );
    let db = ferrocast_db::Db::connect(&app.database_url)
        .await
        .expect("db");
    assert_eq!(
        db.node_leases(&node).await.expect("leases"),
        0,
        "every lease given back"
    );
    let again = db
        .claim_job(
            "another-node",
            &["drain_test"],
            60_000,
            ferrocast_db::now_ms(),
        )
        .await
        .expect("claim")
        .expect("the job is free at once");
    assert_eq!(
        (again.id, again.attempts),
        (job.id, 1),
        "the interrupted attempt is not counted"
    );
    db.close().await;
    app.finish().await;
}

crate::both_backends!(
    two_nodes_share_one_login_budget,
    site_settings_reach_the_other_node_at_once,
    ingest_lists_decide_who_publishes,
    admin_lists_gate_the_admin_api,
    a_draining_node_refuses_newcomers_and_gives_back_its_leases,
);
