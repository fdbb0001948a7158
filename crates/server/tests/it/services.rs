//! The services on their own, over a real SQLite database, with time under the test's control:
//! a [`ManualClock`] for the wall clock the services read, and paused Tokio time for their
//! timers and rate limits. No HTTP, no Socket.IO.

use ferrocast_db::accounts::{NewUser, UserRecord};
use ferrocast_db::moderation::{Action, ChatSettingsRecord};
use ferrocast_db::sources::{NewSource, SourceRecord};
use ferrocast_db::Db;
use ferrocast_domain::account::{self, Guarded, Role};
use ferrocast_server::metrics::Metrics;
use ferrocast_server::service::accounts::{Accounts, AccountsError, Keys};
use ferrocast_server::service::chat::{Chat, Member, Post, PostError, CHAT_BURST};
use ferrocast_server::service::clock::{Clock, ManualClock};
use ferrocast_server::service::events::{Fanout, InProcess, RealtimeEvent};
use ferrocast_server::service::hashing::HashPool;
use ferrocast_server::service::site::Site;
use ferrocast_server::service::vault::Vault;
use std::sync::Arc;

const T0: i64 = 1_800_000_000_000;

/// A migrated SQLite database in a fresh directory.
async fn sqlite() -> (Db, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-services-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let db = Db::connect(&format!("sqlite://{}/t.db", dir.display()))
        .await
        .expect("sqlite");
    db.migrate().await.expect("migrate");
    (db, dir)
}

async fn user(db: &Db, email: &str, role: Role) -> UserRecord {
    let uuid = uuid::Uuid::new_v4().to_string();
    db.create_user(
        &NewUser {
            uuid: &uuid,
            email,
            password_hash: "x",
            display_name: email.split('@').next().expect("a local part"),
            role: role.as_str(),
            email_verified: true,
        },
        T0,
    )
    .await
    .expect("user")
}

async fn source(db: &Db, owner: &UserRecord) -> SourceRecord {
    let uuid = uuid::Uuid::new_v4().to_string();
    db.create_source_limited(
        &NewSource {
            uuid: &uuid,
            user_id: owner.id,
            name: "show",
            description: None,
            stream_key_hash: &uuid,
            stream_key_sealed: "sealed",
            playback_id: &uuid[..16],
        },
        T0,
        10,
    )
    .await
    .expect("source")
    .expect("within the limit")
}

fn member(u: &UserRecord) -> Member<'_> {
    Member {
        id: u.id,
        uuid: &u.uuid,
        name: &u.display_name,
        role: Role::Viewer,
    }
}

/// Slow mode counts from the last message by the service's clock: the same viewer is refused
/// until the clock has moved on by the slow-mode interval, whatever the system time is.
#[tokio::test]
async fn slow_mode_is_measured_on_the_service_clock() {
    let (db, dir) = sqlite().await;
    let owner = user(&db, "owner@example.com", Role::Creator).await;
    let viewer = user(&db, "viewer@example.com", Role::Viewer).await;
    let src = source(&db, &owner).await;
    db.put_chat_settings(
        src.id,
        &ChatSettingsRecord {
            slow_mode_seconds: 30,
            blocked_words: "[]".into(),
            links_allowed: true,
        },
        &Action {
            source_id: Some(src.id),
            actor_id: owner.id,
            action: "settings",
            target_user_id: None,
            target_message_id: None,
            details: "{}",
        },
        T0,
    )
    .await
    .expect("settings");
    let clock = ManualClock::at(T0 + 1_000);
    let fanout: Arc<dyn Fanout> = Arc::new(InProcess::new("node".into()));
    let mut room = fanout.subscribe();
    let chat = Chat::new(db.clone(), fanout.clone(), clock.clone());
    let post = |text: &'static str| Post::Native {
        source: &src,
        member: member(&viewer),
        text,
    };

    let first = chat.post(post("hello")).await.expect("first message");
    assert_eq!(first.message_text, "hello");
    assert_eq!(first.author_name, "viewer");
    match room.recv().await.expect("fan-out").event {
        RealtimeEvent::ChatMessage(m) => assert_eq!(m.id, first.id),
        other => panic!("expected the message in the room, got {other:?}"),
    }

    clock.advance(29_000);
    let refused = chat.post(post("again")).await.expect_err("slow mode");
    assert!(
        matches!(refused, PostError::Refused(_)),
        "refused by the rule, got {refused:?}"
    );
    assert!(refused.to_string().contains("slow mode"), "{refused}");

    clock.advance(1_000);
    let second = chat.post(post("again")).await.expect("after the interval");
    assert!(second.id > first.id);
    // The owner is exempt from the rule.
    let own = Post::Native {
        source: &src,
        member: Member {
            role: Role::Creator,
            ..member(&owner)
        },
        text: "welcome",
    };
    chat.post(own).await.expect("the owner is exempt");
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The per-user chat rate is a burst of [`CHAT_BURST`] refilled over ten seconds of Tokio time:
/// with time paused, the next message waits exactly until time is advanced.
#[tokio::test]
async fn the_chat_rate_refills_with_tokio_time() {
    let (db, dir) = sqlite().await;
    let chat = Chat::new(
        db.clone(),
        Arc::new(InProcess::new("node".into())),
        ManualClock::at(T0),
    );
    tokio::time::pause();
    for _ in 0..CHAT_BURST {
        chat.admit(7).expect("within the burst");
    }
    match chat.admit(7) {
        Err(PostError::TooFast(wait)) => assert_eq!(wait, 1),
        other => panic!("over the burst, got {other:?}"),
    }
    chat.admit(8).expect("another user has their own burst");
    tokio::time::advance(std::time::Duration::from_millis(999)).await;
    assert!(chat.admit(7).is_err(), "not yet refilled");
    tokio::time::advance(std::time::Duration::from_millis(1)).await;
    chat.admit(7).expect("one message refilled after a second");
    assert!(chat.admit(7).is_err(), "and only one");
    tokio::time::resume();
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// An account's lock after repeated wrong passwords lasts exactly its time on the service's
/// clock.
#[tokio::test]
async fn an_account_lock_expires_on_the_service_clock() {
    let (db, dir) = sqlite().await;
    let u = user(&db, "locked@example.com", Role::Viewer).await;
    let clock = ManualClock::at(T0);
    let master = [9u8; 32];
    let accounts = Accounts::new(
        db.clone(),
        Keys::derive(&master),
        Arc::new(Vault::new(ferrocast_auth::secretbox::SecretBox::new(
            &master,
        ))),
        Arc::new(ferrocast_server::mail::LogMailer),
        HashPool::start().expect("hashing threads"),
        clock.clone(),
        Arc::new(Metrics::new()),
        "http://127.0.0.1".into(),
    );
    for _ in 0..account::GUARD_MAX_FAILURES {
        accounts
            .guard_open(&u, Guarded::Password)
            .await
            .expect("open until the last failure");
        accounts
            .guard_failed(&u, Guarded::Password)
            .await
            .expect("failure recorded");
    }
    match accounts.guard_open(&u, Guarded::Password).await {
        Err(AccountsError::Locked { wait_ms, .. }) => assert_eq!(wait_ms, account::GUARD_LOCK_MS),
        other => panic!("locked, got {other:?}"),
    }
    clock.advance(account::GUARD_LOCK_MS - 1);
    match accounts.guard_open(&u, Guarded::Password).await {
        Err(AccountsError::Locked { wait_ms, .. }) => assert_eq!(wait_ms, 1),
        other => panic!("still locked, got {other:?}"),
    }
    clock.advance(1);
    accounts
        .guard_open(&u, Guarded::Password)
        .await
        .expect("the lock has expired");
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Site settings are read through a two-second cache on the service's clock.
#[tokio::test]
async fn site_settings_are_cached_for_two_seconds_of_the_clock() {
    let (db, dir) = sqlite().await;
    let admin = user(&db, "admin@example.com", Role::Admin).await;
    let clock = ManualClock::at(T0);
    let site = Site::new(db.clone(), clock.clone(), true);
    assert!(!site.settings().await.maintenance_mode);
    db.put_site_settings(
        &[("maintenance_mode", "true".to_string())],
        admin.id,
        clock.now_ms(),
    )
    .await
    .expect("settings");
    clock.advance(1_999);
    assert!(
        !site.settings().await.maintenance_mode,
        "still the cached copy"
    );
    clock.advance(1);
    assert!(
        site.settings().await.maintenance_mode,
        "read again after 2 s"
    );
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
