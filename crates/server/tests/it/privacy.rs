//! Your data: the export holds every row that refers to the user (the tables and columns read
//! from the schema itself) and their media, and nothing of anyone else; erasing the account
//! leaves no personal field of theirs in any column of any table, while money rows stay with
//! their amounts. On both databases.

use crate::support;
use crate::support::{call, client, register_user, Backend, TestApp};
use bytes::Bytes;
use ferrocast_db::privacy::{Erase, Export, USER_REFERENCES};
use ferrocast_db::Db;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;

fn state(app: &TestApp) -> &ferrocast_server::state::AppState {
    &app.running.as_ref().expect("running").state
}

/// One bound value.
enum A {
    I(i64),
    S(String),
}

fn s(v: &str) -> A {
    A::S(v.to_string())
}

/// Runs `sql` with `args`; the `id` it returns when it has `RETURNING id`, else 0.
async fn exec(db: &Db, sql: &str, args: Vec<A>) -> i64 {
    let returning = sql.contains("RETURNING");
    ferrocast_db::on_pool!(db, p => {
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        for a in &args {
            q = match a {
                A::I(i) => q.bind(*i),
                A::S(t) => q.bind(t.clone()),
            };
        }
        if returning {
            q.fetch_one(p).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
        } else {
            let mut q = sqlx::query(sql);
            for a in &args {
                q = match a {
                    A::I(i) => q.bind(*i),
                    A::S(t) => q.bind(t.clone()),
                };
            }
            q.execute(p).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            0
        }
    })
}

async fn count(db: &Db, sql: &str, args: Vec<A>) -> i64 {
    ferrocast_db::on_pool!(db, p => {
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        for a in &args {
            q = match a {
                A::I(i) => q.bind(*i),
                A::S(t) => q.bind(t.clone()),
            };
        }
        q.fetch_one(p).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

/// What a user's rows are made of: every text is marked with `tag` so it can be searched for.
struct Person {
    id: i64,
    tag: &'static str,
    source: i64,
    video: i64,
    video_uuid: String,
}

/// Rows in as many tables as refer to users, for `u` (with `o`, the other user, where a row
/// names two). Phase one: rows of `u` alone.
async fn fill_own(db: &Db, id: i64, tag: &'static str) -> Person {
    let now = ferrocast_db::now_ms();
    let t = |what: &str| format!("{tag}-{what}");
    exec(db, "INSERT INTO auth_sessions (uuid, user_id, created_at, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6)",
        vec![s(&uuid()), A::I(id), A::I(now), A::I(now + 3_600_000), s(&t("203.0.113.7")), s(&t("agent"))]).await;
    exec(db, "INSERT INTO api_keys (uuid, user_id, name, prefix, key_hash, scopes, created_at) VALUES ($1, $2, $3, 'fck_x', $4, 'profile:read', $5)",
        vec![s(&uuid()), A::I(id), s(&t("key name")), s(&uuid()), A::I(now)]).await;
    let source = exec(db, "INSERT INTO stream_sources (uuid, user_id, name, stream_key_hash, stream_key_sealed, playback_id, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, 'sealed', $5, $6, $6) RETURNING id",
        vec![s(&uuid()), A::I(id), s(&t("source name")), s(&uuid()), s(&uuid()), A::I(now)]).await;
    exec(db, "INSERT INTO source_destinations (uuid, source_id, user_id, platform, rtmp_url, stream_key_sealed, created_at, updated_at) \
        VALUES ($1, $2, $3, 'custom', $4, 'sealed', $5, $5)",
        vec![s(&uuid()), A::I(source), A::I(id), s(&format!("rtmp://example.com/{tag}-dest")), A::I(now)]).await;
    let session = exec(db, "INSERT INTO stream_sessions (uuid, user_id, source_id, started_at, last_seen_at, end_reason) VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
        vec![s(&uuid()), A::I(id), A::I(source), A::I(now), s(&t("ended"))]).await;
    exec(db, "INSERT INTO viewer_sessions (stream_session_id, protocol, origin, viewer_key, started_at, ended_at) VALUES ($1, 'hls', 'watch_page', 'k', $2, $2)",
        vec![A::I(session), A::I(now)]).await;
    exec(db, "INSERT INTO chat_connectors (uuid, source_id, user_id, platform, config, created_at, updated_at) VALUES ($1, $2, $3, 'youtube', $4, $5, $5)",
        vec![s(&uuid()), A::I(source), A::I(id), s(&json!({"channel": t("yt channel")}).to_string()), A::I(now)]).await;
    exec(db, "INSERT INTO chat_messages (source_id, platform, platform_message_id, user_id, author_name, message_text, created_at) VALUES ($1, 'native', $2, $3, $4, $5, $6)",
        vec![A::I(source), s(&uuid()), A::I(id), s(&t("author")), s(&t("chat words")), A::I(now)]).await;
    let plan: i64 = count(db, "SELECT MIN(id) FROM subscription_plans", vec![]).await;
    exec(db, "INSERT INTO user_subscriptions (uuid, user_id, plan_id, status, billing_cycle, current_period_start, current_period_end, created_at, updated_at) \
        VALUES ($1, $2, $3, 'active', 'monthly', $4, $4, $4, $4)",
        vec![s(&uuid()), A::I(id), A::I(plan), A::I(now)]).await;
    let order = exec(db, "INSERT INTO payment_orders (uuid, user_id, plan_id, billing_cycle, provider, provider_ref, amount_minor, currency, status, created_at, updated_at) \
        VALUES ($1, $2, $3, 'monthly', 'stripe', $4, 999, 'USD', 'paid', $5, $5) RETURNING id",
        vec![s(&uuid()), A::I(id), A::I(plan), s(&uuid()), A::I(now)]).await;
    exec(db, "INSERT INTO payments (uuid, user_id, order_id, provider, provider_payment_id, amount_minor, currency, status, created_at) \
        VALUES ($1, $2, $3, 'stripe', $4, 999, 'USD', 'succeeded', $5)",
        vec![s(&uuid()), A::I(id), A::I(order), s(&uuid()), A::I(now)]).await;
    exec(db, "INSERT INTO billing_customers (user_id, provider, customer_id, created_at) VALUES ($1, 'stripe', $2, $3)",
        vec![A::I(id), s(&t("cus")), A::I(now)]).await;
    exec(db, "INSERT INTO user_identities (user_id, provider, subject, email, created_at) VALUES ($1, 'google', $2, $3, $4)",
        vec![A::I(id), s(&t("subject")), s(&format!("{tag}-google@example.com")), A::I(now)]).await;
    exec(db, "INSERT INTO one_time_codes (user_id, purpose, code_hash, created_at, expires_at) VALUES ($1, 'verify_email', $2, $3, $3)",
        vec![A::I(id), s(&uuid()), A::I(now)]).await;
    exec(
        db,
        "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        vec![A::I(id), s(&uuid()), A::I(now)],
    )
    .await;
    exec(db, "INSERT INTO mfa_challenges (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $3)",
        vec![A::I(id), s(&uuid()), A::I(now)]).await;
    exec(db, "INSERT INTO oauth_handoffs (code_hash, binding_hash, user_id, created_at, expires_at) VALUES ($1, 'b', $2, $3, $3)",
        vec![s(&uuid()), A::I(id), A::I(now)]).await;
    exec(db, "INSERT INTO oauth_logins (state_hash, provider, purpose, user_id, verifier_sealed, nonce_hash, binding_hash, return_to, created_at, expires_at) \
        VALUES ($1, 'google', 'link', $2, 'v', 'n', 'b', '/', $3, $3)",
        vec![s(&uuid()), A::I(id), A::I(now)]).await;
    let video_uuid = ferrocast_server::service::videos::new_video_id();
    let video = exec(db, "INSERT INTO videos (uuid, user_id, source_id, kind, title, description, status, created_at, updated_at) \
        VALUES ($1, $2, $3, 'recording', $4, $5, 'ready', $6, $6) RETURNING id",
        vec![s(&video_uuid), A::I(id), A::I(source), s(&t("video title")), s(&t("video description")), A::I(now)]).await;
    exec(db, "INSERT INTO uploads (uuid, user_id, video_id, length, metadata, node, created_at, updated_at, expires_at) VALUES ($1, $2, $3, 10, $4, 'n', $5, $5, $5)",
        vec![s(&uuid()), A::I(id), A::I(video), s(&json!({"filename": t("file.mp4")}).to_string()), A::I(now)]).await;
    exec(db, "INSERT INTO account_guards (user_id, kind, window_start, failures) VALUES ($1, 'password', $2, 1)",
        vec![A::I(id), A::I(now)]).await;
    exec(
        db,
        "INSERT INTO billing_preferences (user_id, currency, updated_at) VALUES ($1, 'USD', $2)",
        vec![A::I(id), A::I(now)],
    )
    .await;
    exec(db, "INSERT INTO scheduled_streams (uuid, user_id, title, starts_at, duration_ms, created_at, updated_at) VALUES ($1, $2, $3, $4, 3600000, $4, $4)",
        vec![s(&uuid()), A::I(id), s(&t("schedule title")), A::I(now)]).await;
    exec(
        db,
        "INSERT INTO video_likes (video_id, user_id, created_at) VALUES ($1, $2, $3)",
        vec![A::I(video), A::I(id), A::I(now)],
    )
    .await;
    exec(
        db,
        "INSERT INTO video_comments (video_id, user_id, body, created_at) VALUES ($1, $2, $3, $4)",
        vec![A::I(video), A::I(id), s(&t("comment body")), A::I(now)],
    )
    .await;
    exec(db, "INSERT INTO video_views (video_id, viewer_key, user_id, at, credited_until, updated_at) VALUES ($1, $2, $3, $4, $4, $4)",
        vec![A::I(video), s(&format!("u:{id}")), A::I(id), A::I(now)]).await;
    exec(db, "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) VALUES ($1, $2, 'p', 'a', $3)",
        vec![A::I(id), s(&format!("https://push.example.com/{tag}-endpoint")), A::I(now)]).await;
    let tier = exec(db, "INSERT INTO membership_tiers (creator_id, name, price_minor, currency, perks, rank, created_at) VALUES ($1, $2, 500, 'USD', $3, 1, $4) RETURNING id",
        vec![A::I(id), s(&t("tier name")), s(&json!([t("perk")]).to_string()), A::I(now)]).await;
    let _ = tier;
    exec(db, "INSERT INTO overlay_tokens (user_id, token_hash, token_sealed, created_at) VALUES ($1, $2, 's', $3)",
        vec![A::I(id), s(&uuid()), A::I(now)]).await;
    exec(db, "INSERT INTO goals (uuid, creator_id, title, target_minor, currency, starts_at, created_at, updated_at) VALUES ($1, $2, $3, 1000, 'USD', $4, $4, $4)",
        vec![s(&uuid()), A::I(id), s(&t("goal title")), A::I(now)]).await;
    exec(db, "INSERT INTO payout_accounts (user_id, stripe_account_id, bank_holder, bank_details_sealed, updated_at) VALUES ($1, $2, $3, 'sealed', $4)",
        vec![A::I(id), s(&t("acct")), s(&t("bank holder")), A::I(now)]).await;
    exec(db, "INSERT INTO payouts (uuid, user_id, amount_minor, currency, status, method, stripe_account_id, reason, requested_at) VALUES ($1, $2, 2500, 'USD', 'paid', 'stripe', $3, $4, $5)",
        vec![s(&uuid()), A::I(id), s(&t("acct")), s(&t("payout reason")), A::I(now)]).await;
    exec(
        db,
        "INSERT INTO site_settings (key, value, updated_by, updated_at) VALUES ($1, 'x', $2, $3)",
        vec![s(&format!("privacy_test_{id}")), A::I(id), A::I(now)],
    )
    .await;
    Person {
        id,
        tag,
        source,
        video,
        video_uuid,
    }
}

/// Phase two: rows that name both `u` and `o`.
async fn fill_shared(db: &Db, u: &Person, o: &Person) {
    let now = ferrocast_db::now_ms();
    let t = |what: &str| format!("{}-{what}", u.tag);
    exec(
        db,
        "INSERT INTO chat_moderators (source_id, user_id, created_at) VALUES ($1, $2, $3)",
        vec![A::I(o.source), A::I(u.id), A::I(now)],
    )
    .await;
    exec(db, "INSERT INTO chat_bans (source_id, user_id, reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
        vec![A::I(u.source), A::I(o.id), s(&t("ban reason")), A::I(u.id), A::I(now)]).await;
    exec(db, "INSERT INTO moderation_actions (source_id, actor_id, action, target_user_id, details, created_at) VALUES ($1, $2, 'ban', $3, '{}', $4)",
        vec![A::I(u.source), A::I(u.id), A::I(o.id), A::I(now)]).await;
    exec(db, "INSERT INTO admin_actions (admin_id, action, target_user_id, details, created_at) VALUES ($1, 'role_changed', $2, '{}', $3)",
        vec![A::I(u.id), A::I(o.id), A::I(now)]).await;
    exec(
        db,
        "INSERT INTO follows (follower_id, channel_id, created_at) VALUES ($1, $2, $3)",
        vec![A::I(u.id), A::I(o.id), A::I(now)],
    )
    .await;
    exec(db, "INSERT INTO reports (reporter_id, kind, subject_id, reason, created_at) VALUES ($1, 'comment', $2, $3, $4)",
        vec![A::I(u.id), A::I(o.video), s(&t("report reason")), A::I(now)]).await;
    let notification = exec(db, "INSERT INTO notifications (user_id, kind, title, url, actor_id, dedup_key, created_at) VALUES ($1, 'follower', $2, '/', $3, $4, $5) RETURNING id",
        vec![A::I(u.id), s(&format!("{}-followed you", o.tag)), A::I(o.id), s(&uuid()), A::I(now)]).await;
    exec(db, "INSERT INTO notification_deliveries (notification_id, user_id, channel, run_after, created_at, updated_at) VALUES ($1, $2, 'email', $3, $3, $3)",
        vec![A::I(notification), A::I(u.id), A::I(now)]).await;
    exec(db, "INSERT INTO notification_preferences (user_id, kind, channel_id, in_app, email, push, updated_at) VALUES ($1, 'live', $2, TRUE, 'off', TRUE, $3)",
        vec![A::I(u.id), A::I(o.id), A::I(now)]).await;
    let purchase = exec(db, "INSERT INTO purchases (uuid, kind, buyer_id, creator_id, provider, amount_minor, currency, status, message, display_name, created_at, paid_at) \
        VALUES ($1, 'tip', $2, $3, 'stripe', 700, 'USD', 'paid', $4, $5, $6, $6) RETURNING id",
        vec![s(&uuid()), A::I(u.id), A::I(o.id), s(&t("tip message")), s(&t("tipper name")), A::I(now)]).await;
    let otier: i64 = count(
        db,
        "SELECT id FROM membership_tiers WHERE creator_id = $1",
        vec![A::I(o.id)],
    )
    .await;
    exec(db, "INSERT INTO memberships (user_id, creator_id, tier_id, status, provider, purchase_id, period_end, created_at, updated_at) VALUES ($1, $2, $3, 'active', 'stripe', $4, $5, $5, $5)",
        vec![A::I(u.id), A::I(o.id), A::I(otier), A::I(purchase), A::I(now)]).await;
    let tx = exec(db, "INSERT INTO ledger_transactions (reference, kind, currency, purchase_id, digest, created_at) VALUES ($1, 'tip', 'USD', $2, 'd', $3) RETURNING id",
        vec![s(&uuid()), A::I(purchase), A::I(now)]).await;
    exec(db, "INSERT INTO ledger_entries (transaction_id, account, user_id, amount_minor, currency, available_at, created_at) VALUES ($1, $2, $3, 700, 'USD', $4, $4)",
        vec![A::I(tx), s(&format!("creator:{}", o.id)), A::I(o.id), A::I(now)]).await;
    exec(db, "INSERT INTO ledger_entries (transaction_id, account, user_id, amount_minor, currency, available_at, created_at) VALUES ($1, $2, $3, -700, 'USD', $4, $4)",
        vec![A::I(tx), s(&format!("payer:{}", u.id)), A::I(u.id), A::I(now)]).await;
    exec(db, "INSERT INTO revenue_splits (scope, target_id, creator_id, user_id, bps, created_at) VALUES ('channel', $1, $1, $2, 10000, $3)",
        vec![A::I(u.id), A::I(o.id), A::I(now)]).await;
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    state(app)
        .db
        .user_by_email(email)
        .await
        .expect("db")
        .expect("user")
        .id
}

/// Every column that refers to a user, found in the schema, is declared (exported or not,
/// with its erasure), and nothing declared is missing from the schema.
async fn every_user_column_is_declared(db: &Db) {
    let cols = db.user_columns().await.expect("user columns");
    assert!(
        cols.len() > 40,
        "the schema's user columns were found: {cols:?}"
    );
    let undeclared: Vec<_> = cols
        .iter()
        .filter(|(t, c)| {
            !USER_REFERENCES
                .iter()
                .any(|r| r.table == t && r.column == c)
        })
        .collect();
    assert!(
        undeclared.is_empty(),
        "columns that refer to users but are not declared in ferrocast_db::privacy::USER_REFERENCES \
         (say whether they are exported, and what erasure does to them): {undeclared:?}"
    );
    let stale: Vec<_> = USER_REFERENCES
        .iter()
        .filter(|r| !cols.iter().any(|(t, c)| t == r.table && c == r.column))
        .map(|r| (r.table, r.column))
        .collect();
    assert!(
        stale.is_empty(),
        "declared but not in the schema: {stale:?}"
    );
}

async fn storage_objects(app: &TestApp, a: &Person, b: &Person, a_uuid: &str, b_uuid: &str) {
    let st = &state(app).storage;
    for (p, u) in [(a, a_uuid), (b, b_uuid)] {
        st.put(
            &format!("videos/{}/hls/index.m3u8", p.video_uuid),
            Bytes::from(format!("#EXTM3U {}", p.tag)),
        )
        .await
        .expect("put");
        st.put(
            &format!("videos/{}/video.mp4", p.video_uuid),
            Bytes::from(vec![p.tag.as_bytes()[0]; 300_000]),
        )
        .await
        .expect("put");
        let key = format!("profiles/{u}/avatar-abcdefghij.jpg");
        st.put(&key, Bytes::from(format!("jpeg of {}", p.tag)))
            .await
            .expect("put");
        exec(
            &state(app).db,
            "UPDATE users SET avatar_key = $1 WHERE id = $2",
            vec![s(&key), A::I(p.id)],
        )
        .await;
    }
}

async fn wait_ready(app: &TestApp, token: &str) -> Value {
    let mut seen_progress = false;
    for _ in 0..600 {
        let (st, body) = call(app, "GET", "/api/me/export", Some(token), None).await;
        assert_eq!(st, 200, "{body}");
        let e = &body["export"];
        match e["state"].as_str() {
            Some("ready") => {
                assert_eq!(e["progress"], 100.0);
                let _ = seen_progress;
                return e.clone();
            }
            Some("queued") | Some("running") => {
                seen_progress |= e["progress"].as_f64().unwrap_or(0.0) > 0.0;
            }
            other => panic!("export ended {other:?}: {body}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the export was not ready within a minute");
}

async fn export_has_every_row_and_nothing_else(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let a_email = "alice.export@example.com";
    let b_email = "bob.export@example.com";
    let a_token = register_user(&app, a_email, "Alice Exporter").await;
    let _b_token = register_user(&app, b_email, "Bob Bystander").await;
    let db = state(&app).db.clone();
    let (a_id, b_id) = (user_id(&app, a_email).await, user_id(&app, b_email).await);
    let a = fill_own(&db, a_id, "alicetag").await;
    let b = fill_own(&db, b_id, "bobtag").await;
    fill_shared(&db, &a, &b).await;
    fill_shared(&db, &b, &a).await;
    every_user_column_is_declared(&db).await;
    let a_uuid = db
        .user_by_id(a_id)
        .await
        .expect("as the test arranged")
        .expect("as the test arranged")
        .uuid;
    let b_uuid = db
        .user_by_id(b_id)
        .await
        .expect("as the test arranged")
        .expect("as the test arranged")
        .uuid;
    storage_objects(&app, &a, &b, &a_uuid, &b_uuid).await;

    // An API key cannot ask for it; a session can.
    let (st, _) = call(&app, "POST", "/api/me/export", None, None).await;
    assert_eq!(st, 401);
    let (st, body) = call(&app, "POST", "/api/me/export", Some(&a_token), None).await;
    assert_eq!(st, 202, "{body}");
    assert!(["queued", "running"].contains(
        &body["export"]["state"]
            .as_str()
            .expect("as the test arranged")
    ));
    let ready = wait_ready(&app, &a_token).await;
    // Counted as the export finished (downloading it is recorded in the audit log), and
    // independently of the export's own plan: for every table, the rows that refer to the user
    // by any exported user column.
    let cols = db.user_columns().await.expect("as the test arranged");
    let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, c) in &cols {
        let r = USER_REFERENCES
            .iter()
            .find(|r| r.table == t && r.column == c)
            .expect("declared");
        if r.export == Export::Yes {
            by_table.entry(t.clone()).or_default().push(c.clone());
        }
    }
    by_table.insert("users".into(), vec!["id".into()]);
    // Rows made once it was ready (the notice that it is, its delivery) are not in it.
    let finished = db
        .latest_data_export(a_id)
        .await
        .expect("db")
        .and_then(|e| e.finished_at)
        .expect("finished");
    let tables = db.schema_tables().await.expect("schema");
    let mut expected_rows: BTreeMap<String, i64> = BTreeMap::new();
    for (table, by) in &by_table {
        let mut filter = by
            .iter()
            .map(|c| format!("{c} = $1"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let timed = tables
            .iter()
            .any(|t| t.name == *table && t.columns.iter().any(|c| c.name == "created_at"));
        if timed && table != "data_exports" {
            filter = format!("({filter}) AND created_at < {finished}");
        }
        let n = count(
            &db,
            &format!("SELECT COUNT(*) FROM {table} WHERE {filter}"),
            vec![A::I(a_id)],
        )
        .await;
        expected_rows.insert(table.clone(), n);
    }
    // The signed link works without a bearer; a forged one does not.
    let url = ready["download_url"].as_str().expect("download url");
    let res = client().get(app.url(url)).send().await.expect("download");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let zip_bytes = res.bytes().await.expect("zip");
    let forged = url.replace("sig=", "sig=00");
    assert_eq!(
        client()
            .get(app.url(&forged))
            .send()
            .await
            .expect("as the test arranged")
            .status(),
        404
    );
    let res = client()
        .get(app.url("/api/me/export/download"))
        .bearer_auth(&a_token)
        .send()
        .await
        .expect("as the test arranged");
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("as the test arranged"), zip_bytes);
    let mut told = false;
    for _ in 0..100 {
        told = app
            .inbox
            .all()
            .iter()
            .any(|m| m.contains(&format!("To: {a_email}")) && m.contains("ready to download"));
        if told {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(told, "the user is told by email: {:?}", app.inbox.all());
    let (st, list) = call(&app, "GET", "/api/notifications", Some(&a_token), None).await;
    assert_eq!(st, 200, "{list}");
    assert!(
        list.to_string().contains("Your data is ready to download"),
        "and in the app: {list}"
    );

    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip_bytes.to_vec())).expect("a ZIP");
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).expect("entry");
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).expect("read entry");
        files.insert(f.name().to_string(), buf);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest");
    assert_eq!(manifest["account"], a_uuid);

    let mut filled = Vec::new();
    for (table, by) in &by_table {
        let expected = expected_rows[table];
        let file = format!("tables/{table}.json");
        let rows: Vec<Value> = serde_json::from_slice(
            files
                .get(&file)
                .unwrap_or_else(|| panic!("{file} is in the export")),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            rows.len() as i64,
            expected,
            "{file}: every row that refers to the user"
        );
        for row in &rows {
            assert!(
                by.iter().any(|c| row[c] == json!(a_id)),
                "{file}: a row that does not refer to the user: {row}"
            );
        }
        if expected > 0 {
            filled.push(table.clone());
        }
    }
    // The test put rows in (nearly) every table that refers to users.
    for table in [
        "auth_sessions",
        "api_keys",
        "stream_sources",
        "source_destinations",
        "stream_sessions",
        "chat_connectors",
        "chat_messages",
        "chat_moderators",
        "chat_bans",
        "moderation_actions",
        "user_subscriptions",
        "payment_orders",
        "payments",
        "billing_customers",
        "user_identities",
        "admin_actions",
        "videos",
        "uploads",
        "account_guards",
        "billing_preferences",
        "follows",
        "scheduled_streams",
        "video_likes",
        "video_comments",
        "reports",
        "video_views",
        "notifications",
        "notification_preferences",
        "push_subscriptions",
        "notification_deliveries",
        "purchases",
        "membership_tiers",
        "memberships",
        "revenue_splits",
        "goals",
        "payout_accounts",
        "payouts",
        "ledger_entries",
        "data_exports",
        "users",
    ] {
        assert!(
            filled.contains(&table.to_string()),
            "{table} has rows of the user in the export"
        );
    }
    // Secrets are left out.
    let users: Vec<Value> =
        serde_json::from_slice(&files["tables/users.json"]).expect("as the test arranged");
    assert_eq!(users[0]["email"], a_email);
    assert!(users[0].get("password_hash").is_none());
    let text = files
        .iter()
        .filter(|(n, _)| n.ends_with(".json"))
        .map(|(_, b)| String::from_utf8_lossy(b).to_string())
        .collect::<String>();
    assert!(text.contains("alicetag-chat words") && text.contains("alicetag-tip message"));
    // Nothing of the other user: not their email, nor anything they wrote, nor their media.
    for needle in [
        b_email,
        "bobtag-chat words",
        "bobtag-comment body",
        "bobtag-203.0.113.7",
        "bobtag-video title",
        "bobtag-goal title",
        "bobtag-bank holder",
        "Bob Bystander",
    ] {
        assert!(
            !text.contains(needle),
            "the export holds {needle:?} of the other user"
        );
    }
    // Media: the user's avatar and every object of their videos, byte for byte; none of the
    // other user's.
    let st = &state(&app).storage;
    for key in [
        format!("profiles/{a_uuid}/avatar-abcdefghij.jpg"),
        format!("videos/{}/hls/index.m3u8", a.video_uuid),
        format!("videos/{}/video.mp4", a.video_uuid),
    ] {
        let stored = st.get(&key, 10_000_000).await.expect("object");
        assert_eq!(
            files.get(&format!("media/{key}")).map(|v| v.as_slice()),
            Some(&stored[..]),
            "media/{key}"
        );
    }
    assert!(!files
        .keys()
        .any(|k| k.contains(&b_uuid) || k.contains(&b.video_uuid)));

    // Asking again while one is ready starts a new one.
    let (st2, body) = call(&app, "POST", "/api/me/export", Some(&a_token), None).await;
    assert_eq!(st2, 202);
    assert_ne!(body["export"]["id"], ready["id"]);
    wait_ready(&app, &a_token).await;
    app.finish().await;
}

/// Every text of every column of every table, searched for `needle`: the `(table, column)` pairs
/// that hold it.
async fn find_anywhere(db: &Db, needle: &str) -> Vec<(String, String)> {
    let mut hits = Vec::new();
    for t in db.schema_tables().await.expect("schema") {
        for c in &t.columns {
            let sql = format!(
                "SELECT COUNT(*) FROM \"{}\" WHERE LOWER(CAST(\"{}\" AS TEXT)) LIKE $1",
                t.name, c.name
            );
            let pattern = format!("%{}%", needle.to_lowercase());
            let n: i64 = ferrocast_db::on_pool!(db, p => sqlx::query_scalar::<_, i64>(&sql).bind(&pattern).fetch_one(p).await)
                .unwrap_or(0);
            if n > 0 {
                hits.push((t.name.clone(), c.name.clone()));
            }
        }
    }
    hits
}

async fn deletion_leaves_nothing_personal(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let a_email = "carol.erase@example.com";
    let b_email = "dave.keep@example.com";
    let a_token = register_user(&app, a_email, "Carol Eraseme").await;
    let b_token = register_user(&app, b_email, "Dave Keeper").await;
    let db = state(&app).db.clone();
    let (a_id, b_id) = (user_id(&app, a_email).await, user_id(&app, b_email).await);
    let (st, body) = call(
        &app,
        "PATCH",
        "/api/me/profile",
        Some(&a_token),
        Some(json!({"handle": "carolhandle", "bio": "carolbio words"})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let a = fill_own(&db, a_id, "caroltag").await;
    let b = fill_own(&db, b_id, "davetag").await;
    fill_shared(&db, &a, &b).await;
    fill_shared(&db, &b, &a).await;
    every_user_column_is_declared(&db).await;
    let a_uuid = db
        .user_by_id(a_id)
        .await
        .expect("as the test arranged")
        .expect("as the test arranged")
        .uuid;
    let b_uuid = db
        .user_by_id(b_id)
        .await
        .expect("as the test arranged")
        .expect("as the test arranged")
        .uuid;
    storage_objects(&app, &a, &b, &a_uuid, &b_uuid).await;
    // An export of hers, in storage, goes too.
    let (st, _) = call(&app, "POST", "/api/me/export", Some(&a_token), None).await;
    assert_eq!(st, 202);
    wait_ready(&app, &a_token).await;
    let export_key = db
        .latest_data_export(a_id)
        .await
        .expect("as the test arranged")
        .expect("as the test arranged")
        .object_key
        .expect("as the test arranged");
    // Objects outside her own prefixes (a legal hold, another user's) are not hers to delete.
    let storage = &state(&app).storage;
    storage
        .put(
            &format!("holds/case-1/videos/{}/video.mp4", a.video_uuid),
            Bytes::from_static(b"evidence"),
        )
        .await
        .expect("as the test arranged");
    let payments_before = count(
        &db,
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM payments WHERE user_id = $1",
        vec![A::I(a_id)],
    )
    .await;
    assert_eq!(payments_before, 999);

    // Confirmation: none, or a wrong password, deletes nothing.
    let (st, body) = call(&app, "DELETE", "/api/me", Some(&a_token), Some(json!({}))).await;
    assert_eq!(st, 401, "{body}");
    let (st, body) = call(
        &app,
        "DELETE",
        "/api/me",
        Some(&a_token),
        Some(json!({"password": "wrong-password"})),
    )
    .await;
    assert_eq!(st, 401, "{body}");
    assert_eq!(body["code"], "INVALID_PASSWORD");
    assert!(
        db.user_by_id(a_id)
            .await
            .expect("as the test arranged")
            .expect("as the test arranged")
            .email
            == a_email
    );

    let (st, body) = call(
        &app,
        "DELETE",
        "/api/me",
        Some(&a_token),
        Some(json!({"password": "password123"})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(
        body["rows_deleted"].as_u64().expect("as the test arranged") > 20,
        "{body}"
    );
    assert_eq!(body["videos_deleted"], 1);

    // Signed out everywhere; the email and password no longer sign in.
    let (st, _) = call(&app, "GET", "/api/auth/me", Some(&a_token), None).await;
    assert_eq!(st, 401);

    // No personal field of hers anywhere: every text column of every table searched.
    for needle in [
        a_email,
        "Carol Eraseme",
        "carolhandle",
        "carolbio words",
        "caroltag-",
        "carol.erase",
        &a_uuid,
    ] {
        let hits = find_anywhere(&db, needle).await;
        assert!(hits.is_empty(), "{needle:?} is still stored in {hits:?}");
    }
    // (After the search: a failed sign-in records the address typed, as for any unknown account.)
    let (st, _) = call(
        &app,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": a_email, "password": "password123"})),
    )
    .await;
    assert_eq!(st, 401);
    // Her objects are gone; the hold and the other user's are not.
    for key in [
        format!("profiles/{a_uuid}/avatar-abcdefghij.jpg"),
        format!("videos/{}/video.mp4", a.video_uuid),
        export_key,
    ] {
        assert!(
            storage
                .head(&key)
                .await
                .expect("as the test arranged")
                .is_none(),
            "{key} deleted"
        );
    }
    for key in [
        format!("holds/case-1/videos/{}/video.mp4", a.video_uuid),
        format!("profiles/{b_uuid}/avatar-abcdefghij.jpg"),
        format!("videos/{}/video.mp4", b.video_uuid),
    ] {
        assert!(
            storage
                .head(&key)
                .await
                .expect("as the test arranged")
                .is_some(),
            "{key} kept"
        );
    }
    // Money stays, with its amounts: her payments, her tip to Dave (without its message and
    // name), her payout, the ledger.
    assert_eq!(count(&db, "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM payments WHERE user_id = $1", vec![A::I(a_id)]).await, 999);
    assert_eq!(count(&db, "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM purchases WHERE buyer_id = $1 AND message IS NULL AND display_name IS NULL", vec![A::I(a_id)]).await, 700);
    assert_eq!(
        count(
            &db,
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM payouts WHERE user_id = $1",
            vec![A::I(a_id)]
        )
        .await,
        2500
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM ledger_entries WHERE user_id = $1",
            vec![A::I(a_id)]
        )
        .await,
        2,
        "her entries as payer of her tip and as creator of his"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM payment_orders WHERE user_id = $1",
            vec![A::I(a_id)]
        )
        .await,
        1
    );
    // Each declared deletion happened.
    for r in USER_REFERENCES.iter().filter(|r| r.erase == Erase::Delete) {
        let n = count(
            &db,
            &format!("SELECT COUNT(*) FROM {} WHERE {} = $1", r.table, r.column),
            vec![A::I(a_id)],
        )
        .await;
        assert_eq!(n, 0, "{}.{} rows deleted", r.table, r.column);
    }
    // The erasure is in the audit log; the log's personal data about her is gone.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'privacy.account_erased' AND subject_kind = 'user' AND subject_id = $1",
            vec![s(&a_id.to_string())]
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_personal WHERE user_id = $1",
            vec![A::I(a_id)]
        )
        .await,
        0
    );
    // Dave keeps his account and his own things.
    let (st, me) = call(&app, "GET", "/api/auth/me", Some(&b_token), None).await;
    assert_eq!(st, 200);
    assert_eq!(me["email"], b_email);
    assert!(!find_anywhere(&db, "davetag-chat words").await.is_empty());
    assert!(!find_anywhere(&db, "davetag-tip message").await.is_empty());
    app.finish().await;
}

both_backends!(
    export_has_every_row_and_nothing_else,
    deletion_leaves_nothing_personal
);
