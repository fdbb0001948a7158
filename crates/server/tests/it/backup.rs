//! Backup and restore: a backup taken while ffmpeg publishes and chat is written, restored into
//! a new PostgreSQL database (from SQLite: the migration path; from PostgreSQL), then the
//! restored node serves the same accounts, and the same stream key publishes again. A damaged,
//! truncated or wrongly unlocked backup is refused with nothing written.

use crate::support;

use ferrocast_config::{Config, Sources};
use ferrocast_db::ledger::{NewTransaction, Posting};
use ferrocast_db::Db;
use ferrocast_server::service::backup::{self, Quiet};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{call, client, creator_with_source, publish, require, Backend, Options, TestApp};

const PASSPHRASE: &str = "correct horse battery staple";

fn config(data_dir: &Path, database_url: &str, storage: &Path) -> Config {
    let mut flags = BTreeMap::new();
    flags.insert("data_dir".to_string(), data_dir.display().to_string());
    flags.insert("database_url".to_string(), database_url.to_string());
    flags.insert("storage_url".to_string(), storage.display().to_string());
    Config::load(&Sources {
        config_file: None,
        working_dir: None,
        env: BTreeMap::new(),
        flags,
    })
    .expect("config")
}

/// A new, empty PostgreSQL database on the local server, dropped by [`drop_database`].
async fn new_database() -> (String, String) {
    let base = support::postgres_url();
    let pool = sqlx::PgPool::connect(&base).await.expect("PostgreSQL");
    let name = format!("restore_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create database");
    pool.close().await;
    let (head, _) = base.rsplit_once('/').expect("a database in the URL");
    (format!("{head}/{name}"), name)
}

async fn drop_database(name: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(&support::postgres_url()).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ferrocast-backup-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&d).expect("scratch");
    d
}

async fn count(db: &Db, sql: &str) -> i64 {
    ferrocast_db::on_pool!(db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await.expect(sql))
}

async fn wait_live(app: &TestApp, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list: Value = client()
            .get(app.url("/api/sources"))
            .bearer_auth(token)
            .send()
            .await
            .expect("sources")
            .json()
            .await
            .expect("json");
        if list["sources"][0]["is_active"] == true {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the source never went live: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn backup_while_live_then_restore_into_new_postgres(b: Backend) {
    require("ffmpeg");
    let objects = scratch();
    let Some(app) = TestApp::start_with(
        b,
        Options {
            extra: vec![("storage_url", objects.display().to_string())],
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let src = creator_with_source(&app, "backup@example.com").await;
    let db = Db::connect(&app.database_url).await.expect("db");
    let user_id = count(
        &db,
        "SELECT id FROM users WHERE email = 'backup@example.com'",
    )
    .await;

    // Money: a ledger transaction and a gateway payment; a video with a stored object.
    let now = ferrocast_db::now_ms();
    db.post_transaction(
        &NewTransaction {
            reference: "backup-test:1".into(),
            kind: "payout_request".into(),
            currency: "USD".into(),
            memo: "payout".into(),
            purchase_id: None,
            payout_id: None,
            reverses_id: None,
            postings: vec![
                Posting {
                    account: ferrocast_domain::ledger::account::creator(user_id),
                    user_id: Some(user_id),
                    amount_minor: -1234,
                    available_at: now,
                },
                Posting {
                    account: ferrocast_domain::ledger::account::PAYOUTS_IN_FLIGHT.to_string(),
                    user_id: None,
                    amount_minor: 1234,
                    available_at: now,
                },
            ],
        },
        now,
    )
    .await
    .expect("ledger");
    ferrocast_db::on_pool!(&db, p => sqlx::query(
        "INSERT INTO payments (uuid, user_id, provider, provider_payment_id, amount_minor, currency, status, created_at) \
         VALUES ('pay-backup', $1, 'stripe', 'in_backup', 1500, 'USD', 'succeeded', $2)")
        .bind(user_id).bind(now).execute(p).await.map(|_| ()).expect("payment"));
    let tags = vec!["tag".to_string()];
    let video = db
        .create_video(
            &ferrocast_db::videos::NewVideo {
                uuid: "backupvideo00001",
                user_id,
                source_id: Some(src.id),
                kind: "upload",
                title: "Kept through a restore",
                description: "",
                tags: &tags,
                visibility: "public",
                status: "ready",
                expires_at: None,
            },
            now,
        )
        .await
        .expect("video");
    let storage = ferrocast_storage::Storage::local(&objects).expect("storage");
    storage
        .put(
            "videos/backupvideo00001/original.bin",
            bytes::Bytes::from_static(b"the video's bytes"),
        )
        .await
        .expect("object");

    // ffmpeg publishes and chat is written while the backup runs.
    let mut encoder = publish(&app.rtmp_url(), &src.key, 15, &[]);
    wait_live(&app, &src.token).await;
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let chat = {
        let (db, stop, written, source_id) = (db.clone(), stop.clone(), written.clone(), src.id);
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let id = format!("m{i}");
                let text = format!("message {i} ✓");
                db.insert_chat_message(
                    &ferrocast_db::chat::NewChatMessage {
                        source_id,
                        connector_id: None,
                        platform: "native",
                        platform_message_id: &id,
                        user_id: Some(user_id),
                        author_name: "Streamer",
                        author_platform_id: "",
                        message_text: &text,
                        message_type: "message",
                        metadata: "{}",
                    },
                    ferrocast_db::now_ms(),
                )
                .await
                .expect("chat");
                written.store(i, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    while written.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = scratch();
    let file = dir.join("node.fcbak");
    let source_config = config(&app.data_dir, &app.database_url, &objects);
    let before = written.load(Ordering::SeqCst);
    let keys = ferrocast_server::backup_keys(&source_config).expect("keys");
    let summary = backup::run_backup(&source_config, &keys, &file, PASSPHRASE, &mut Quiet)
        .await
        .expect("backup while serving");
    let after = written.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    chat.await.expect("chat writer");
    assert!(summary.rows > 0 && summary.objects >= 1, "{summary:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the backup is private");
    }
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(
        !text.contains(&hex(&app.master_key())),
        "the master key is sealed, not in the clear"
    );
    let status = tokio::task::spawn_blocking(move || encoder.wait())
        .await
        .expect("join")
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg published throughout the backup");
    db.close().await;
    let master = app.master_key();
    app.finish().await;

    // Damaged, truncated, or the wrong passphrase: refused, nothing written.
    let (target_url, target_name) = new_database().await;
    let target_dir = scratch().join("data");
    let target_config = config(&target_dir, &target_url, &objects);
    let original = std::fs::read(&file).expect("read");
    // One changed letter inside a chat message: every line still parses, only the checksum
    // can tell.
    let mut edited = original.clone();
    let at = find(&edited, b"message 1 ").expect("a chat row in the backup");
    edited[at] = b'M';
    let edited_file = dir.join("edited.fcbak");
    std::fs::write(&edited_file, &edited).expect("write");
    // A flipped bit in the header.
    let mut damaged = original.clone();
    damaged[100] ^= 0x04;
    let damaged_file = dir.join("damaged.fcbak");
    std::fs::write(&damaged_file, &damaged).expect("write");
    // Cut off among the rows, and cut off exactly before the checksum line.
    let truncated_file = dir.join("truncated.fcbak");
    std::fs::write(&truncated_file, &original[..at + 3]).expect("write");
    let last_line = original[..original.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .expect("lines")
        + 1;
    let no_sum_file = dir.join("no-checksum.fcbak");
    std::fs::write(&no_sum_file, &original[..last_line]).expect("write");
    for (f, pass, why) in [
        (&edited_file, PASSPHRASE, "edited"),
        (&damaged_file, PASSPHRASE, "damaged"),
        (&truncated_file, PASSPHRASE, "truncated"),
        (&no_sum_file, PASSPHRASE, "without its checksum"),
        (&file, "not the passphrase at all", "wrong passphrase"),
    ] {
        let e = backup::run_restore(&target_config, f, pass, &mut Quiet)
            .await
            .err()
            .unwrap_or_else(|| panic!("a {why} backup restored"));
        let msg = format!("{e:#}");
        eprintln!("{why}: {msg}");
        assert!(msg.contains("nothing was restored"), "{why}: {msg}");
        match why {
            "wrong passphrase" => assert!(msg.contains("wrong passphrase"), "{msg}"),
            _ => assert!(msg.contains("damaged or incomplete"), "{msg}"),
        }
        let target = Db::connect(&target_url).await.expect("target");
        assert_eq!(
            target.restore_target_in_use().await.expect("look"),
            None,
            "{why}: the target was left alone"
        );
        let tables = count(
            &target,
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'",
        )
        .await;
        assert_eq!(tables, 0, "{why}: no table created");
        target.close().await;
        assert!(
            !target_dir.join("master.key").exists(),
            "{why}: no key written"
        );
    }

    // The restore.
    let outcome = backup::run_restore(&target_config, &file, PASSPHRASE, &mut Quiet)
        .await
        .expect("restore");
    assert!(
        outcome.report.count_mismatches.is_empty(),
        "{:?}",
        outcome.report
    );
    assert!(
        outcome.ledger.2.is_empty(),
        "ledger: {:?}",
        outcome.ledger.2
    );
    assert!(outcome.ledger.0 >= 1, "the ledger transaction came along");
    assert!(outcome.audit.is_ok(), "audit: {:?}", outcome.audit);
    assert_eq!(
        outcome.objects.same, summary.objects,
        "{:?}",
        outcome.objects
    );
    assert!(outcome.objects.missing.is_empty() && outcome.objects.different.is_empty());
    assert_eq!(
        std::fs::read_to_string(target_dir.join("master.key"))
            .expect("master key installed")
            .trim(),
        hex(&master)
    );

    // A second restore into the now used database is refused.
    let again = backup::run_restore(&target_config, &file, PASSPHRASE, &mut Quiet)
        .await
        .expect_err("refused");
    assert!(format!("{again:#}").contains("not empty"), "{again:#}");

    let target = Db::connect(&target_url).await.expect("target");
    let chat_rows = count(&target, "SELECT COUNT(*) FROM chat_messages").await as u64;
    assert!(
        chat_rows >= before && chat_rows <= after,
        "the snapshot holds the chat written before it began and nothing after it ended: {before} <= {chat_rows} <= {after}"
    );
    assert_eq!(
        count(
            &target,
            "SELECT COUNT(*) FROM payments WHERE uuid = 'pay-backup'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &target,
            &format!("SELECT COUNT(*) FROM videos WHERE id = {}", video.id)
        )
        .await,
        1
    );
    // Search keeps working: the trigger-maintained index was rebuilt as rows went in.
    assert!(count(&target, "SELECT COUNT(*) FROM search_handle_grams").await > 0);
    // New rows get new ids (the sequences moved past the restored ones).
    let max_user = count(&target, "SELECT MAX(id) FROM users").await;
    target.close().await;

    // The restored node: the same account logs in, a new one gets a fresh id, and the same
    // stream key publishes.
    let restored = TestApp::start_with(
        Backend::Sqlite,
        Options {
            extra: vec![
                ("data_dir", target_dir.display().to_string()),
                ("database_url", target_url.clone()),
                ("storage_url", objects.display().to_string()),
            ],
            ..Options::default()
        },
    )
    .await
    .expect("restored node");
    let login: Value = client()
        .post(restored.url("/api/auth/login"))
        .json(&json!({"email": "backup@example.com", "password": "password123"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"]
        .as_str()
        .expect("logged in")
        .to_string();
    let fresh = support::register_user(&restored, "after@example.com", "After").await;
    assert!(!fresh.is_empty());
    let target = Db::connect(&target_url).await.expect("target");
    assert!(
        count(
            &target,
            "SELECT id FROM users WHERE email = 'after@example.com'"
        )
        .await
            > max_user
    );
    target.close().await;
    let list: Value = client()
        .get(restored.url("/api/sources"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sources")
        .json()
        .await
        .expect("json");
    assert_eq!(list["sources"][0]["id"], src.id, "{list}");
    let mut encoder = publish(&restored.rtmp_url(), &src.key, 4, &[]);
    wait_live(&restored, &token).await;
    let status = tokio::task::spawn_blocking(move || encoder.wait())
        .await
        .expect("join")
        .expect("ffmpeg");
    assert!(
        status.success(),
        "the same stream key publishes on the restored node"
    );
    restored.finish().await;
    drop_database(&target_name).await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&objects);
    let _ = std::fs::remove_dir_all(target_dir.parent().expect("parent"));
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn hex(k: &[u8; 32]) -> String {
    data_encoding::HEXLOWER.encode(k)
}

/// Automatic backups: the node takes one as it starts; one node at a time holds the lease; a
/// later run is taken once the interval has passed and retention prunes by the schedule; the
/// metric and doctor's backup age follow.
async fn automatic_backups_run_once_across_nodes_and_prune(b: Backend) {
    let objects = scratch();
    let Some(app) = TestApp::start_with(
        b,
        Options {
            extra: vec![
                ("storage_url", objects.display().to_string()),
                ("backup_schedule", "hourly=2,daily=2".to_string()),
                ("backup_passphrase", PASSPHRASE.to_string()),
            ],
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = support::metric_value(&app, "ferrocast_backup_last_success_timestamp_seconds")
            .await
            .unwrap_or(0.0);
        if v > 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no automatic backup within 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        support::metric_value(&app, "ferrocast_backup_failures_total").await,
        Some(0.0)
    );
    let storage = ferrocast_storage::Storage::local(&objects).expect("storage");
    let first: Vec<String> = storage
        .list(backup::PREFIX.trim_end_matches('/'))
        .await
        .expect("list")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(first.len(), 1, "{first:?}");
    let first_time = backup::key_time(&first[0]).expect("a dated key");

    // The stored backup is a whole one.
    let dir = scratch();
    let copy = dir.join("first.fcbak");
    storage
        .download_to_file(&first[0], &copy)
        .await
        .expect("download");
    let verified = backup::verify_file(&copy, PASSPHRASE, &mut Quiet)
        .await
        .expect("the stored backup verifies");
    assert_eq!(verified.keys.master, app.master_key());

    // doctor's backup age, by the schedule's hour.
    let mut cfg = config(&app.data_dir, &app.database_url, &objects);
    cfg.backup.schedule =
        Some(ferrocast_config::BackupSchedule::parse("hourly=2,daily=2").expect("s"));
    let db = Db::connect(&app.database_url).await.expect("db");
    let now = ferrocast_db::now_ms();
    let hour = 3_600_000;
    use ferrocast_server::doctor::{backup_age, Status};
    assert_eq!(backup_age(&cfg, Some(&db), now).await.status, Status::Pass);
    assert_eq!(
        backup_age(&cfg, Some(&db), now + 3 * hour).await.status,
        Status::Warn
    );
    let late = backup_age(&cfg, Some(&db), now + 5 * hour).await;
    assert_eq!(late.status, Status::Fail, "{}", late.detail);

    // Another node: the lease is the first node's, so it takes nothing now.
    let keys = ferrocast_server::backup_keys(&cfg).expect("keys");
    let metrics = Arc::new(ferrocast_server::metrics::Metrics::new());
    let other = backup::Scheduler {
        db: db.clone(),
        storage: storage.clone(),
        schedule: cfg.backup.schedule,
        passphrase: ferrocast_config::Secret::new(PASSPHRASE.to_string()),
        keys,
        scratch: dir.join("scratch"),
        node: "other-node".into(),
        metrics: metrics.clone(),
        running: std::sync::Mutex::new(None),
    };
    assert!(!other.tick(now).await.expect("tick"), "the lease is held");
    // Later (the first node gone quiet past its lease): the other node takes over, one backup
    // per hour, and retention keeps the newest two hours and the newest of the last two days.
    let day = 24 * hour;
    let t0 = (now / day + 2) * day + hour;
    let mut taken = Vec::new();
    for h in 0..4 {
        let at = t0 + h * hour;
        assert!(other.tick(at).await.expect("tick"), "due at hour {h}");
        taken.push(backup::storage_key(at));
        assert!(
            !other.tick(at + 600_000).await.expect("tick"),
            "not due again within the hour"
        );
    }
    let mut left: Vec<String> = storage
        .list(backup::PREFIX.trim_end_matches('/'))
        .await
        .expect("list")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    left.sort();
    let mut want = vec![first[0].clone(), taken[2].clone(), taken[3].clone()];
    want.sort();
    assert_eq!(
        left, want,
        "kept: the first day's newest, and the last two hours"
    );
    let runs = db.backup_runs(10).await.expect("runs");
    assert_eq!(runs.len(), 5);
    assert!(runs.iter().all(|r| r.succeeded()), "{runs:?}");
    let pruned: Vec<&str> = runs
        .iter()
        .filter(|r| r.pruned_at.is_some())
        .map(|r| r.storage_key.as_str())
        .collect();
    assert_eq!(pruned.len(), 2, "{runs:?}");
    assert!(pruned.contains(&taken[0].as_str()) && pruned.contains(&taken[1].as_str()));
    assert!(first_time <= now);
    let text = metrics.render();
    assert!(
        text.contains("ferrocast_backup_last_success_timestamp_seconds ")
            && !text.contains("ferrocast_backup_last_success_timestamp_seconds 0\n"),
        "{text}"
    );
    db.close().await;
    app.finish().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&objects);
}

/// "Back up now" from the API: only for administrators; without a passphrase it says what to
/// set; with one, it answers 202 at once, refuses a second while the first runs, and the run
/// ends stored in the object storage as a whole backup; the administrator's action is audited.
async fn back_up_now_from_the_api(b: Backend) {
    // A node without a passphrase.
    let Some(bare) = TestApp::start(b).await else {
        return;
    };
    let admin = support::register_admin(&bare, "admin@example.com").await;
    let (status, view) = call(&bare, "GET", "/api/admin/backups", Some(&admin), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["passphrase_configured"], json!(false));
    assert_eq!(view["schedule"], Value::Null);
    let (status, refused) = call(&bare, "POST", "/api/admin/backups", Some(&admin), None).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], json!("BACKUP_NO_PASSPHRASE"));
    assert!(
        refused["details"]
            .as_str()
            .is_some_and(|d| d.contains("FERROCAST_BACKUP_PASSPHRASE")),
        "{refused}"
    );
    bare.finish().await;

    // A node with one, and no schedule.
    let objects = scratch();
    let app = TestApp::start_with(
        b,
        Options {
            extra: vec![
                ("storage_url", objects.display().to_string()),
                ("backup_passphrase", PASSPHRASE.to_string()),
            ],
            ..Options::default()
        },
    )
    .await
    .expect("the backend ran above");
    let admin = support::register_admin(&app, "admin@example.com").await;
    let viewer = support::register_user(&app, "viewer@example.com", "Viewer").await;
    let state = app.running.as_ref().expect("running").state.clone();
    assert_eq!(
        call(&app, "POST", "/api/admin/backups", Some(&viewer), None)
            .await
            .0,
        403
    );
    assert_eq!(
        call(&app, "GET", "/api/admin/backups", Some(&viewer), None)
            .await
            .0,
        403
    );
    let (_, view) = call(&app, "GET", "/api/admin/backups", Some(&admin), None).await;
    assert_eq!(view["passphrase_configured"], json!(true), "{view}");
    assert_eq!(view["schedule"], Value::Null, "{view}");
    assert_eq!(view["runs"], json!([]), "{view}");
    assert_eq!(view["last_success_at"], Value::Null, "{view}");

    let (status, started) = call(&app, "POST", "/api/admin/backups", Some(&admin), None).await;
    assert_eq!(status, 202, "{started}");
    let key = started["storage_key"].as_str().expect("a key").to_string();
    assert!(key.starts_with(backup::PREFIX), "{key}");
    // A second while the first runs is refused (the first may already have ended on a small
    // database: then the name of this second is taken, or a new one starts).
    let (status, second) = call(&app, "POST", "/api/admin/backups", Some(&admin), None).await;
    match status {
        409 => assert!(
            ["BACKUP_RUNNING", "BACKUP_TOO_SOON"].contains(&second["code"].as_str().unwrap_or("")),
            "{second}"
        ),
        202 => assert_ne!(second["storage_key"], json!(key), "{second}"),
        other => panic!("unexpected {other}: {second}"),
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let (_, view) = call(&app, "GET", "/api/admin/backups", Some(&admin), None).await;
        let settled = view["running_here"].is_null()
            && view["runs"]
                .as_array()
                .is_some_and(|r| r.iter().all(|r| r["state"] != "running"));
        if settled {
            break view;
        }
        assert!(Instant::now() < deadline, "the backup never ended: {view}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let run = view["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["storage_key"] == json!(key))
        .expect("the run is listed")
        .clone();
    assert_eq!(run["state"], json!("stored"), "{view}");
    assert!(run["size_bytes"].as_i64().is_some_and(|n| n > 0), "{run}");
    assert_eq!(run["node"], json!(state.fanout.node()), "{run}");
    assert!(view["last_success_at"].is_string(), "{view}");
    let storage = ferrocast_storage::Storage::local(&objects).expect("storage");
    let dir = scratch();
    let copy = dir.join("now.fcbak");
    storage.download_to_file(&key, &copy).await.expect("stored");
    let verified = backup::verify_file(&copy, PASSPHRASE, &mut Quiet)
        .await
        .expect("a whole backup");
    assert_eq!(verified.keys.master, app.master_key());
    let audited = count(
        &state.db,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.backup_started'",
    )
    .await;
    assert!(audited >= 1, "the administrator's backup is audited");
    assert!(
        support::metric_value(&app, "ferrocast_backup_last_success_timestamp_seconds")
            .await
            .is_some_and(|v| v > 0.0)
    );
    app.finish().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&objects);
}

both_backends!(
    backup_while_live_then_restore_into_new_postgres,
    automatic_backups_run_once_across_nodes_and_prune,
    back_up_now_from_the_api
);
