//! The Neustream seed's remaining routes answer in the seed's shapes: its example bodies are the
//! fixtures below, verbatim, and every key of each exists in our answer with the same JSON type
//! (ours may have more). Also: the admin's daily series, response compression (and none on the
//! live paths), and a creator ending their own stream.

use crate::support;

use ferrocast_db::{on_pool, Db};
use serde_json::{json, Value};
use std::io::Read;
use std::time::{Duration, Instant};
use support::{
    call, client, creator_with_source, publish, register_user, require, Backend, TestApp,
};

const DAY: i64 = 86_400_000;

/// `GET /api/admin/stats` in the seed.
const SEED_STATS: &str = r#"{
  "stats": {
    "total_users": 1250,
    "active_users_today": 45,
    "total_streams": 2100,
    "active_streams": 12,
    "total_subscriptions": 340,
    "active_subscriptions": 315,
    "monthly_revenue": 25000,
    "streaming_hours_today": 125.5
  }
}"#;

/// `GET /api/admin/users?page=1&limit=50` in the seed.
const SEED_USERS: &str = r#"{
  "users": [
    {
      "id": 1,
      "email": "user@example.com",
      "display_name": "John Doe",
      "created_at": "2024-01-01T00:00:00Z",
      "subscription": {
        "plan_name": "Pro",
        "status": "active"
      }
    }
  ],
  "pagination": {
    "page": 1,
    "limit": 50,
    "total": 1250,
    "total_pages": 25
  }
}"#;

/// `GET /api/sources` in the seed (the seed gives no body for `GET /api/admin/sources`; its
/// sources are these without the owner's stream key).
const SEED_SOURCES: &str = r#"{
  "sources": [
    {
      "id": 1,
      "uuid": "source-uuid",
      "name": "Main Stream",
      "description": "My primary stream",
      "stream_key": "sk_abc123",
      "is_active": false,
      "destinations_count": 2,
      "chat_connectors_count": 1,
      "created_at": "2024-01-15T10:00:00Z"
    }
  ]
}"#;

/// `POST /api/subscriptions/check-limits` in the seed.
const SEED_CHECK_LIMITS: &str = r#"{
  "allowed": true,
  "limits": {
    "max_sources": 3,
    "current_sources": 2,
    "sources_remaining": 1
  }
}"#;

/// `PUT /api/admin/settings`'s request in the seed.
const SEED_SETTINGS: &str = r#"{
  "maintenance_mode": false,
  "new_registrations_enabled": true
}"#;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `seed` is in `ours` with the same JSON type, recursively; an array's first
/// example is compared with each of our elements (and ours must not be empty).
fn assert_shape(seed: &Value, ours: &Value, at: &str) {
    assert_eq!(
        kind(seed),
        kind(ours),
        "{at}: the seed has a {}, we answer {ours}",
        kind(seed)
    );
    match (seed, ours) {
        (Value::Object(s), Value::Object(o)) => {
            for (k, v) in s {
                let Some(mine) = o.get(k) else {
                    panic!("{at}.{k}: the seed's key is missing from {ours}");
                };
                assert_shape(v, mine, &format!("{at}.{k}"));
            }
        }
        (Value::Array(s), Value::Array(o)) => {
            if let Some(first) = s.first() {
                assert!(!o.is_empty(), "{at}: empty, the seed shows an element");
                for (i, mine) in o.iter().enumerate() {
                    assert_shape(first, mine, &format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("the seed's example is JSON")
}

async fn make_admin(app: &TestApp, db: &Db, email: &str) -> String {
    let token = register_user(app, email, "Admin").await;
    let me = db.user_by_email(email).await.expect("q").expect("user");
    db.set_role(me.id, "admin", 0).await.expect("role");
    token
}

fn hours(ms: i64) -> f64 {
    (ms as f64 / 36_000.0).round() / 100.0
}

async fn seed_shapes(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let db = app.running.as_ref().expect("running").state.db.clone();
    let admin = make_admin(&app, &db, "admin@example.com").await;
    let creator = creator_with_source(&app, "creator@example.com").await;
    let creator_id = db
        .user_by_email("creator@example.com")
        .await
        .expect("q")
        .expect("creator")
        .id;
    let now = app.running.as_ref().expect("running").state.clock.now_ms();
    let today = now - now.rem_euclid(DAY);
    db.upsert_chat_connector(
        &ferrocast_db::connectors::NewConnector {
            source_id: creator.id,
            user_id: creator_id,
            platform: "twitch",
            config: "{}",
            secrets_sealed: "",
        },
        &uuid::Uuid::new_v4().to_string(),
        now,
    )
    .await
    .expect("connector");

    let (status, _) = call(
        &app,
        "PUT",
        &format!("/api/sources/{}", creator.id),
        Some(&creator.token),
        Some(json!({"description": "My primary stream"})),
    )
    .await;
    assert_eq!(status, 200);

    // Sources: the seed's keys, `chat_connectors_count` among them.
    let (status, mine) = call(&app, "GET", "/api/sources", Some(&creator.token), None).await;
    assert_eq!(status, 200, "{mine}");
    assert_shape(&fixture(SEED_SOURCES), &mine, "GET /api/sources");
    assert_eq!(mine["sources"][0]["chat_connectors_count"], 1, "{mine}");

    // Every source, for administrators: the seed's source without its stream key.
    let mut admin_seed = fixture(SEED_SOURCES);
    if let Some(o) = admin_seed["sources"][0].as_object_mut() {
        o.remove("stream_key");
    }
    let (status, all) = call(&app, "GET", "/api/admin/sources", Some(&admin), None).await;
    assert_eq!(status, 200, "{all}");
    assert_shape(&admin_seed, &all, "GET /api/admin/sources");
    let s = &all["sources"][0];
    assert_eq!(
        (
            s["id"].as_i64(),
            s["owner"]["email"].as_str(),
            s["chat_connectors_count"].as_i64(),
            s["destinations_count"].as_i64()
        ),
        (
            Some(creator.id),
            Some("creator@example.com"),
            Some(1),
            Some(0)
        ),
        "{all}"
    );
    assert!(
        s.get("stream_key").is_none(),
        "keys stay their owners': {s}"
    );
    assert_eq!(all["pagination"]["total"], 1);
    assert_eq!(
        call(
            &app,
            "GET",
            "/api/admin/sources",
            Some(&creator.token),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &app,
            "GET",
            "/api/admin/sources?limit=0",
            Some(&admin),
            None
        )
        .await
        .0,
        422
    );

    // Usage to count: a session across the midnight two days ago, one earlier today, one live.
    let pro = db
        .list_plans()
        .await
        .expect("plans")
        .into_iter()
        .find(|p| p.spec.name == "Pro")
        .expect("the Pro plan");
    let across = today - DAY;
    let s1 = db
        .open_stream_session("s1", creator_id, creator.id, across - 3_600_000)
        .await
        .expect("open");
    db.close_stream_session(s1, across + 3_600_000, "done", 0, 0)
        .await
        .expect("close");
    let (t0, t1) = (today + (now - today) / 4, today + (now - today) / 2);
    let s2 = db
        .open_stream_session("s2", creator_id, creator.id, t0)
        .await
        .expect("open");
    db.close_stream_session(s2, t1, "done", 0, 0)
        .await
        .expect("close");
    db.open_stream_session("s3", creator_id, creator.id, now - 1000)
        .await
        .expect("open");
    // Money: 9.99 USD today, 499 INR yesterday; the creator on Pro.
    on_pool!(&db, p => {
        for (i, (at, minor, currency)) in [(now - 1000, 999_i64, "USD"), (today - DAY + 1000, 49_900, "INR")].into_iter().enumerate() {
            sqlx::query(
                "INSERT INTO payments (uuid, user_id, provider, provider_payment_id, amount_minor, currency, status, created_at) \
                 VALUES ($1, $2, 'razorpay', $3, $4, $5, 'succeeded', $6)",
            )
            .bind(uuid::Uuid::new_v4().to_string()).bind(creator_id).bind(format!("pay_{i}"))
            .bind(minor).bind(currency).bind(at)
            .execute(p).await.expect("payment");
        }
        sqlx::query(
            "INSERT INTO user_subscriptions (uuid, user_id, plan_id, status, billing_cycle, current_period_start, \
             current_period_end, cancel_at_period_end, provider, provider_subscription_id, created_at, updated_at) \
             VALUES ($1, $2, $3, 'active', 'monthly', $4, $5, FALSE, 'razorpay', 'sub_1', $4, $4)",
        )
        .bind(uuid::Uuid::new_v4().to_string()).bind(creator_id).bind(pro.id).bind(now).bind(now + 30 * DAY)
        .execute(p).await.expect("subscription");
    });

    // Stats: the seed's figures, and ferrocast's beside them.
    let (status, stats) = call(&app, "GET", "/api/admin/stats", Some(&admin), None).await;
    assert_eq!(status, 200, "{stats}");
    assert_shape(&fixture(SEED_STATS), &stats, "GET /api/admin/stats");
    let f = &stats["stats"];
    assert_eq!(
        (
            f["total_users"].as_i64(),
            f["total_streams"].as_i64(),
            f["active_streams"].as_i64(),
            f["total_subscriptions"].as_i64(),
            f["active_subscriptions"].as_i64(),
            f["monthly_revenue"].as_f64(),
        ),
        (Some(2), Some(3), Some(1), Some(1), Some(1), Some(9.99)),
        "{stats}"
    );
    assert_eq!(
        f["streaming_hours_today"].as_f64(),
        Some(hours(t1 - t0)),
        "{stats}"
    );
    assert_eq!(
        f["active_users_today"].as_i64(),
        Some(2),
        "both signed in today: {stats}"
    );
    assert_eq!(stats["users"], 2, "ferrocast's figures stay: {stats}");
    assert!(stats["revenue"]["all_time"].is_array(), "{stats}");

    // Daily series for the charts, oldest first, the last day today.
    let (status, d) = call(
        &app,
        "GET",
        "/api/admin/stats/daily?days=7",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let days: Vec<&str> = d["days"]
        .as_array()
        .expect("days")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(days.len(), 7, "{d}");
    assert_eq!(
        days[6],
        &ferrocast_domain::time::rfc3339_ms(today)[..10],
        "{d}"
    );
    assert_eq!(d["users"], json!([0, 0, 0, 0, 0, 0, 2]), "{d}");
    assert_eq!(d["new_users"], json!([0, 0, 0, 0, 0, 0, 2]), "{d}");
    assert_eq!(d["streams"], json!([0, 0, 0, 0, 1, 0, 2]), "{d}");
    let h: Vec<f64> = d["streaming_hours"]
        .as_array()
        .expect("hours")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(
        h,
        vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, hours(t1 - t0)],
        "a session across midnight counts on both days: {d}"
    );
    let revenue = d["revenue"].as_array().expect("revenue");
    let of = |c: &str| {
        revenue
            .iter()
            .find(|r| r["currency"] == c)
            .map(|r| r["amount_minor"].clone())
    };
    assert_eq!(of("USD"), Some(json!([0, 0, 0, 0, 0, 0, 999])), "{d}");
    assert_eq!(of("INR"), Some(json!([0, 0, 0, 0, 0, 49_900, 0])), "{d}");
    for bad in ["days=3", "days=400", "days=x"] {
        let (status, _) = call(
            &app,
            "GET",
            &format!("/api/admin/stats/daily?{bad}"),
            Some(&admin),
            None,
        )
        .await;
        assert!(status == 422 || status == 400, "{bad}: {status}");
    }
    assert_eq!(
        call(
            &app,
            "GET",
            "/api/admin/stats/daily",
            Some(&creator.token),
            None
        )
        .await
        .0,
        403
    );

    // Users: the seed's pagination and each user's plan.
    let (status, page) = call(
        &app,
        "GET",
        "/api/admin/users?page=1&limit=1",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_shape(&fixture(SEED_USERS), &page, "GET /api/admin/users");
    assert_eq!(
        page["pagination"],
        json!({"page": 1, "limit": 1, "total": 2, "total_pages": 2})
    );
    assert_eq!(page["users"][0]["email"], "creator@example.com");
    assert_eq!(
        (
            page["users"][0]["subscription"]["plan_name"].as_str(),
            page["users"][0]["subscription"]["status"].as_str()
        ),
        (Some("Pro"), Some("active")),
        "{page}"
    );
    let (_, second) = call(
        &app,
        "GET",
        "/api/admin/users?page=2&limit=1",
        Some(&admin),
        None,
    )
    .await;
    let free = db.default_plan().await.expect("default plan");
    assert_eq!(
        second["users"][0]["subscription"]["plan_name"].as_str(),
        Some(free.spec.name.as_str()),
        "no subscription: the default plan: {second}"
    );
    assert_eq!(second["users"][0]["subscription"]["id"], Value::Null);

    // Check limits: the seed's names for the operation's limit.
    let (status, lim) = call(
        &app,
        "POST",
        "/api/subscriptions/check-limits",
        Some(&creator.token),
        Some(json!({"operation": "create_source"})),
    )
    .await;
    assert_eq!(status, 200, "{lim}");
    assert_shape(&fixture(SEED_CHECK_LIMITS), &lim, "check-limits");
    assert_eq!(
        (
            lim["limits"]["max_sources"].as_i64(),
            lim["limits"]["current_sources"].as_i64(),
            lim["limits"]["sources_remaining"].as_i64()
        ),
        (
            Some(pro.spec.max_sources),
            Some(1),
            Some(pro.spec.max_sources - 1)
        ),
        "{lim}"
    );
    let (_, lim) = call(
        &app,
        "POST",
        "/api/subscriptions/check-limits",
        Some(&creator.token),
        Some(json!({"operation": "add_destination"})),
    )
    .await;
    assert_eq!(lim["limits"]["current_destinations"], 0, "{lim}");
    assert!(lim["limits"].get("max_sources").is_none(), "{lim}");

    // Settings: the seed's request, and `new_registrations_enabled` closes registration.
    let (status, s) = call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(fixture(SEED_SETTINGS)),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_shape(&fixture(SEED_SETTINGS), &s, "PUT /api/admin/settings");
    let (status, s) = call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(json!({"new_registrations_enabled": false})),
    )
    .await;
    assert_eq!(
        (
            status,
            s["new_registrations_enabled"].as_bool(),
            s["registration_open"].as_bool()
        ),
        (200, Some(false), Some(false)),
        "{s}"
    );
    let (status, _) = call(
        &app,
        "POST",
        "/api/auth/register",
        None,
        Some(
            json!({"email": "late@example.com", "password": "password123", "display_name": "Late"}),
        ),
    )
    .await;
    assert_eq!(status, 403, "registration is closed");
    let (status, e) = call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(json!({"new_registrations_enabled": true, "registration_open": false})),
    )
    .await;
    assert_eq!(status, 422, "{e}");

    // Each change of settings is recorded as the administrator's action.
    let (_, log) = call(&app, "GET", "/api/admin/actions", Some(&admin), None).await;
    assert_eq!(log["actions"][0]["action"], "settings_changed", "{log}");
    assert_eq!(
        log["actions"][0]["details"]["registration_open"], "false",
        "{log}"
    );
    assert_eq!(log["actions"][0]["admin"], "admin@example.com", "{log}");

    // POST /api/auth/stream: the caller's key, its source and whether it may publish now.
    let (status, k) = call(
        &app,
        "POST",
        "/api/auth/stream",
        Some(&creator.token),
        Some(json!({"stream_key": creator.key})),
    )
    .await;
    assert_eq!(status, 200, "{k}");
    assert_eq!(
        (
            k["valid"].as_bool(),
            k["allowed"].as_bool(),
            k["source"]["playback_id"].as_str(),
            k["source"]["id"].as_i64()
        ),
        (
            Some(true),
            Some(true),
            Some(creator.playback_id.as_str()),
            Some(creator.id)
        ),
        "{k}"
    );
    assert!(
        k["ingest_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("rtmp://") && u.ends_with("/live")),
        "{k}"
    );
    let (status, _) = call(
        &app,
        "POST",
        "/api/auth/stream",
        Some(&admin),
        Some(json!({"stream_key": creator.key})),
    )
    .await;
    assert_eq!(status, 404, "someone else's key is not found");
    let (status, _) = call(
        &app,
        "POST",
        "/api/auth/stream",
        Some(&creator.token),
        Some(json!({"stream_key": ""})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call(
        &app,
        "POST",
        "/api/auth/stream",
        None,
        Some(json!({"stream_key": creator.key})),
    )
    .await;
    assert_eq!(status, 401);
    app.finish().await;
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unbrotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli_decompressor::Decompressor::new(b, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

/// GET with `Accept-Encoding`: (content-encoding, body bytes).
async fn fetch(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    accept: &str,
) -> (Option<String>, Vec<u8>) {
    let mut r = client()
        .get(app.url(path))
        .header("accept-encoding", accept);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let res = r.send().await.expect("get");
    assert_eq!(res.status(), 200, "{path}");
    let enc = res
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (enc, res.bytes().await.expect("body").to_vec())
}

/// JSON and the web app's assets are compressed as asked; the live paths (SSE, HTTP-FLV, HLS)
/// are not, and their bytes still come at once. Then the creator ends their own stream: the
/// encoder is cut and the owner's events say why; nobody else may.
async fn compression_and_ending_my_stream(b: Backend) {
    require("ffmpeg");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "live@example.com").await;
    let other = creator_with_source(&app, "other@example.com").await;

    let (enc, plain) = fetch(&app, "/api/subscriptions/plans", None, "identity").await;
    assert_eq!(enc, None);
    let plain: Value = serde_json::from_slice(&plain).expect("json");
    let (enc, br) = fetch(&app, "/api/subscriptions/plans", None, "br").await;
    assert_eq!(enc.as_deref(), Some("br"));
    assert_eq!(
        serde_json::from_slice::<Value>(&unbrotli(&br)).expect("json"),
        plain
    );
    let (enc, gz) = fetch(&app, "/api/subscriptions/plans", None, "gzip").await;
    assert_eq!(enc.as_deref(), Some("gzip"));
    assert_eq!(
        serde_json::from_slice::<Value>(&gunzip(&gz)).expect("json"),
        plain
    );

    // The web app's script, named in its page.
    let (_, page) = fetch(&app, "/", None, "identity").await;
    let page = String::from_utf8_lossy(&page).to_string();
    let script = page
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .unwrap_or_else(|| panic!("the page names its script (build web/ first): {page}"))
        .to_string();
    let (enc, raw) = fetch(&app, &script, None, "identity").await;
    assert_eq!(enc, None);
    let (enc, br) = fetch(&app, &script, None, "gzip, br").await;
    assert_eq!(
        enc.as_deref(),
        Some("br"),
        "brotli is preferred when both are offered"
    );
    assert_eq!(unbrotli(&br), raw);
    assert!(br.len() < raw.len() / 2, "{} of {}", br.len(), raw.len());
    let (enc, gz) = fetch(&app, &script, None, "gzip").await;
    assert_eq!(enc.as_deref(), Some("gzip"));
    assert_eq!(gunzip(&gz), raw);

    // The owner's event stream, asked for compressed: it is not, and events come at once.
    let mut events = client()
        .get(app.url("/api/events"))
        .header("accept-encoding", "gzip, br")
        .bearer_auth(&creator.token)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers().get("content-encoding"), None);
    let mut buf = String::new();
    let encoder = publish(&app.rtmp_url(), &creator.key, 60, &[]);
    // `starting`, then `live`.
    let mut status = crate::restream::next_event(&mut events, &mut buf, "stream_status", 20).await;
    if status["status"] == "starting" {
        status = crate::restream::next_event(&mut events, &mut buf, "stream_status", 20).await;
    }
    assert_eq!(status["status"], "live", "{status}");

    // HTTP-FLV: not compressed, and the FLV header comes at once.
    let started = Instant::now();
    let mut flv = client()
        .get(app.url(&format!("/live/{}.flv", creator.playback_id)))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .expect("flv");
    assert_eq!(flv.status(), 200);
    assert_eq!(flv.headers().get("content-encoding"), None);
    let first = tokio::time::timeout(Duration::from_secs(5), flv.chunk())
        .await
        .expect("FLV bytes within 5 s")
        .expect("flv body")
        .expect("a chunk");
    assert!(
        first.starts_with(b"FLV"),
        "{:?}",
        &first[..first.len().min(8)]
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(flv);
    // HLS playlists are left alone too.
    let res = client()
        .get(app.url(&format!("/hls/{}/index.m3u8", creator.playback_id)))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .expect("hls");
    assert_eq!(res.headers().get("content-encoding"), None);

    // Someone else cannot end it; its owner can.
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/streams/active/{}", creator.id),
        Some(&other.token),
        None,
    )
    .await;
    assert_eq!(status, 404, "not theirs");
    let (status, ended) = call(
        &app,
        "DELETE",
        &format!("/api/streams/active/{}", creator.id),
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(
        (status, ended["status"].as_str()),
        (200, Some("offline")),
        "{ended}"
    );
    // The answer comes once the encoder is gone; the event, through the SSE stream asked for
    // compressed, is already there or follows (a compressed, buffered stream would hold it
    // back; 5 s leaves room for a loaded machine).
    let answered = Instant::now();
    let e = crate::restream::next_event(&mut events, &mut buf, "stream_ended", 10).await;
    assert!(
        answered.elapsed() < Duration::from_secs(5),
        "the event took {:?}",
        answered.elapsed()
    );
    assert_eq!(e["reason"], "ended from the dashboard", "{e}");
    let mut encoder = encoder;
    let deadline = Instant::now() + Duration::from_secs(10);
    while encoder.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "the encoder is still connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.finish().await;
}

/// An administrator changes a user's plan and cancels it, by hand; each is recorded.
async fn admin_changes_and_cancels_a_plan(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let db = app.running.as_ref().expect("running").state.db.clone();
    let admin = make_admin(&app, &db, "admin@example.com").await;
    let user = register_user(&app, "member@example.com", "Member").await;
    let uuid = db
        .user_by_email("member@example.com")
        .await
        .expect("q")
        .expect("user")
        .uuid;
    let plans = db.list_plans().await.expect("plans");
    let by_name = |n: &str| plans.iter().find(|p| p.spec.name == n).expect("plan").id;
    let path = format!("/api/admin/users/{uuid}/subscription");

    for (who, body, want) in [
        (Some(user.as_str()), json!({"plan_id": by_name("Pro")}), 403),
        (Some(admin.as_str()), json!({"plan_id": 999_999}), 404),
        (
            Some(admin.as_str()),
            json!({"plan_id": by_name("Pro"), "billing_cycle": "weekly"}),
            422,
        ),
        (
            Some(admin.as_str()),
            json!({"plan_id": by_name("Free")}),
            422,
        ),
    ] {
        let (status, e) = call(&app, "PUT", &path, who, Some(body)).await;
        assert_eq!(status, want, "{e}");
    }
    let (status, _) = call(
        &app,
        "PUT",
        "/api/admin/users/nobody/subscription",
        Some(&admin),
        Some(json!({"plan_id": by_name("Pro")})),
    )
    .await;
    assert_eq!(status, 404);

    let (status, c) = call(
        &app,
        "PUT",
        &path,
        Some(&admin),
        Some(json!({"plan_id": by_name("Pro")})),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        (
            c["subscription"]["plan_name"].as_str(),
            c["subscription"]["status"].as_str()
        ),
        (Some("Pro"), Some("active")),
        "{c}"
    );
    let first = c["subscription"]["id"]
        .as_str()
        .expect("a subscription")
        .to_string();
    let (_, mine) = call(
        &app,
        "GET",
        "/api/subscriptions/my-subscription",
        Some(&user),
        None,
    )
    .await;
    assert_eq!(
        mine["subscription"]["plan"]["name"], "Pro",
        "the user is on it: {mine}"
    );

    // Another plan replaces the first.
    let (status, c) = call(
        &app,
        "PUT",
        &path,
        Some(&admin),
        Some(json!({"plan_id": by_name("Business"), "billing_cycle": "yearly"})),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["subscription"]["plan_name"], "Business", "{c}");
    let (_, subs) = call(&app, "GET", "/api/admin/subscriptions", Some(&admin), None).await;
    let status_of = |id: &str| {
        subs["subscriptions"]
            .as_array()
            .expect("subs")
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| (s["status"].clone(), s["billing_cycle"].clone()))
    };
    assert_eq!(
        status_of(&first),
        Some((json!("canceled"), json!("monthly"))),
        "{subs}"
    );

    // Cancel: back on the default plan; nothing left to cancel after.
    let (status, c) = call(&app, "DELETE", &path, Some(&admin), None).await;
    assert_eq!(status, 200, "{c}");
    let free = db.default_plan().await.expect("default");
    assert_eq!(
        (
            c["subscription"]["plan_name"].as_str(),
            c["subscription"]["id"].clone()
        ),
        (Some(free.spec.name.as_str()), Value::Null),
        "{c}"
    );
    let (status, e) = call(&app, "DELETE", &path, Some(&admin), None).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("NO_SUBSCRIPTION")),
        "{e}"
    );
    assert_eq!(call(&app, "DELETE", &path, Some(&user), None).await.0, 403);

    // The record, newest first.
    let (status, log) = call(&app, "GET", "/api/admin/actions", Some(&admin), None).await;
    assert_eq!(status, 200, "{log}");
    let actions: Vec<(String, String, String)> = log["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap_or_default().to_string(),
                a["admin"].as_str().unwrap_or_default().to_string(),
                a["target"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let row = |a: &str| {
        (
            a.to_string(),
            "admin@example.com".to_string(),
            "member@example.com".to_string(),
        )
    };
    assert_eq!(
        actions,
        vec![
            row("subscription_canceled"),
            row("subscription_plan_changed"),
            row("subscription_plan_changed")
        ],
        "{log}"
    );
    assert_eq!(log["actions"][1]["details"]["plan"], "Business", "{log}");
    assert_eq!(
        call(&app, "GET", "/api/admin/actions", Some(&user), None)
            .await
            .0,
        403
    );
    app.finish().await;
}

both_backends!(
    seed_shapes,
    compression_and_ending_my_stream,
    admin_changes_and_cancels_a_plan
);
