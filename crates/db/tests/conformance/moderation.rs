//! Chat moderation: rules with their defaults, moderators, bans and timeouts with expiry, message
//! deletion, and the record each action leaves.

use ferrocast_db::moderation::{Action, ChatSettingsRecord};
use ferrocast_db::Db;

use crate::chat::youtube;
use crate::support::{both_backends, source, user, HOUR, MINUTE, NOW};

both_backends!(
    chat_settings_default_then_replace,
    moderators_are_added_once_and_removed,
    bans_and_timeouts_expire_by_now,
    global_bans_apply_to_every_source,
    messages_are_deleted_once_and_recorded,
);

fn act(source_id: Option<i64>, actor_id: i64, action: &str) -> Action<'_> {
    Action {
        source_id,
        actor_id,
        action,
        target_user_id: None,
        target_message_id: None,
        details: "{}",
    }
}

async fn chat_settings_default_then_replace(db: &Db) {
    let u = user(db, "rules@example.com").await;
    let s = source(db, u.id, "cam").await;
    let defaults = db.chat_settings(s.id).await.expect("q");
    assert_eq!(
        defaults,
        ChatSettingsRecord {
            slow_mode_seconds: 0,
            blocked_words: "[]".into(),
            links_allowed: true
        }
    );
    assert_eq!(defaults, ChatSettingsRecord::default());

    let strict = ChatSettingsRecord {
        slow_mode_seconds: 30,
        blocked_words: r#"["spoiler"]"#.into(),
        links_allowed: false,
    };
    let a = Action {
        details: r#"{"slow_mode_seconds":30}"#,
        ..act(Some(s.id), u.id, "settings")
    };
    db.put_chat_settings(s.id, &strict, &a, NOW)
        .await
        .expect("put");
    assert_eq!(db.chat_settings(s.id).await.expect("q"), strict);
    let relaxed = ChatSettingsRecord {
        slow_mode_seconds: 5,
        ..ChatSettingsRecord::default()
    };
    db.put_chat_settings(s.id, &relaxed, &a, NOW + 1)
        .await
        .expect("put again");
    assert_eq!(db.chat_settings(s.id).await.expect("q"), relaxed);

    // Each change is recorded, newest first.
    let log = db.moderation_log(s.id, 10).await.expect("log");
    assert_eq!(log.len(), 2);
    assert_eq!(
        (
            log[0].action.as_str(),
            log[0].actor_id,
            log[0].source_id,
            log[0].details.as_str(),
            log[0].created_at
        ),
        (
            "settings",
            Some(u.id),
            Some(s.id),
            r#"{"slow_mode_seconds":30}"#,
            NOW + 1
        )
    );
    assert_eq!(log[1].created_at, NOW);
    assert_eq!(db.moderation_log(s.id, 1).await.expect("log").len(), 1);
}

async fn moderators_are_added_once_and_removed(db: &Db) {
    let owner = user(db, "owner@example.com").await;
    let m1 = user(db, "mod1@example.com").await;
    let m2 = user(db, "mod2@example.com").await;
    let s = source(db, owner.id, "cam").await;
    let other = source(db, owner.id, "other").await;
    let add = act(Some(s.id), owner.id, "add_moderator");
    assert!(!db.is_chat_moderator(s.id, m1.id).await.expect("q"));
    db.add_chat_moderator(s.id, m1.id, &add, NOW)
        .await
        .expect("add");
    db.add_chat_moderator(s.id, m1.id, &add, NOW + 5)
        .await
        .expect("add again is a no-op");
    db.add_chat_moderator(s.id, m2.id, &add, NOW + 1)
        .await
        .expect("add");
    assert!(db.is_chat_moderator(s.id, m1.id).await.expect("q"));
    assert!(!db.is_chat_moderator(other.id, m1.id).await.expect("q"));
    assert_eq!(
        db.list_chat_moderators(s.id).await.expect("list"),
        vec![
            (m1.id, m1.uuid.clone(), m1.display_name.clone(), NOW),
            (m2.id, m2.uuid.clone(), m2.display_name.clone(), NOW + 1),
        ],
        "in the order they became moderators, the first time kept"
    );

    let remove = act(Some(s.id), owner.id, "remove_moderator");
    assert!(db
        .remove_chat_moderator(s.id, m1.id, &remove, NOW + 2)
        .await
        .expect("remove"));
    assert!(!db
        .remove_chat_moderator(s.id, m1.id, &remove, NOW + 3)
        .await
        .expect("remove"));
    assert!(!db.is_chat_moderator(s.id, m1.id).await.expect("q"));
    assert_eq!(db.list_chat_moderators(s.id).await.expect("list").len(), 1);
    let log = db.moderation_log(s.id, 10).await.expect("log");
    assert_eq!(
        log.iter().map(|a| a.action.as_str()).next(),
        Some("remove_moderator")
    );
}

async fn bans_and_timeouts_expire_by_now(db: &Db) {
    let owner = user(db, "bans@example.com").await;
    let troll = user(db, "troll@example.com").await;
    let s = source(db, owner.id, "cam").await;
    let timeout = Action {
        target_user_id: Some(troll.id),
        ..act(Some(s.id), owner.id, "timeout")
    };
    let short = db
        .insert_chat_ban(
            Some(s.id),
            troll.id,
            Some(NOW + 10 * MINUTE),
            "caps",
            &timeout,
            NOW,
        )
        .await
        .expect("timeout");
    let ban = db.chat_ban(short).await.expect("q").expect("ban");
    assert_eq!(
        (
            ban.source_id,
            ban.user_id,
            ban.expires_at,
            ban.reason.as_str(),
            ban.created_by,
            ban.created_at
        ),
        (
            Some(s.id),
            troll.id,
            Some(NOW + 10 * MINUTE),
            "caps",
            Some(owner.id),
            NOW
        )
    );
    let long = db
        .insert_chat_ban(
            Some(s.id),
            troll.id,
            Some(NOW + HOUR),
            "again",
            &timeout,
            NOW,
        )
        .await
        .expect("timeout");
    // The one lasting longest first.
    assert_eq!(
        db.active_chat_ban(s.id, troll.id, NOW)
            .await
            .expect("q")
            .map(|b| b.id),
        Some(long)
    );
    assert_eq!(
        db.list_chat_bans(s.id, NOW)
            .await
            .expect("list")
            .iter()
            .map(|b| b.id)
            .collect::<Vec<_>>(),
        vec![long, short],
        "newest first"
    );
    // Over at its expiry instant.
    assert_eq!(
        db.active_chat_ban(s.id, troll.id, NOW + HOUR)
            .await
            .expect("q"),
        None
    );
    assert_eq!(
        db.list_chat_bans(s.id, NOW + 10 * MINUTE)
            .await
            .expect("list")
            .iter()
            .map(|b| b.id)
            .collect::<Vec<_>>(),
        vec![long]
    );

    // A permanent ban outlasts any timeout.
    let forever = db
        .insert_chat_ban(
            Some(s.id),
            troll.id,
            None,
            "done",
            &act(Some(s.id), owner.id, "ban"),
            NOW,
        )
        .await
        .expect("ban");
    assert_eq!(
        db.active_chat_ban(s.id, troll.id, NOW)
            .await
            .expect("q")
            .map(|b| b.id),
        Some(forever)
    );
    assert!(db
        .active_chat_ban(s.id, troll.id, NOW + 365 * 24 * HOUR)
        .await
        .expect("q")
        .is_some());
    assert_eq!(
        db.active_chat_ban(s.id, owner.id, NOW).await.expect("q"),
        None
    );

    // Lifted once; recorded.
    let unban = act(Some(s.id), owner.id, "unban");
    assert!(db
        .lift_chat_ban(forever, &unban, NOW + 1)
        .await
        .expect("lift"));
    assert!(!db
        .lift_chat_ban(forever, &unban, NOW + 2)
        .await
        .expect("lift"));
    assert_eq!(db.chat_ban(forever).await.expect("q"), None);
    assert_eq!(
        db.active_chat_ban(s.id, troll.id, NOW)
            .await
            .expect("q")
            .map(|b| b.id),
        Some(long)
    );
    let actions: Vec<String> = db
        .moderation_log(s.id, 10)
        .await
        .expect("log")
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(actions.starts_with(&["unban".to_string()]), "{actions:?}");
    assert!(actions.iter().filter(|a| *a == "timeout").count() == 2);
}

async fn global_bans_apply_to_every_source(db: &Db) {
    let admin = user(db, "admin@example.com").await;
    let troll = user(db, "troll@example.com").await;
    let s1 = source(db, admin.id, "one").await;
    let s2 = source(db, admin.id, "two").await;
    let local = db
        .insert_chat_ban(
            Some(s1.id),
            troll.id,
            None,
            "here",
            &act(Some(s1.id), admin.id, "ban"),
            NOW,
        )
        .await
        .expect("ban");
    assert!(db
        .active_chat_ban(s2.id, troll.id, NOW)
        .await
        .expect("q")
        .is_none());
    let global = db
        .insert_chat_ban(
            None,
            troll.id,
            Some(NOW + HOUR),
            "everywhere",
            &act(None, admin.id, "ban"),
            NOW,
        )
        .await
        .expect("ban");
    assert_eq!(
        db.active_chat_ban(s2.id, troll.id, NOW)
            .await
            .expect("q")
            .map(|b| (b.id, b.source_id)),
        Some((global, None))
    );
    assert_eq!(
        db.list_chat_bans(s2.id, NOW)
            .await
            .expect("list")
            .iter()
            .map(|b| b.id)
            .collect::<Vec<_>>(),
        vec![global]
    );
    assert_eq!(
        db.list_chat_bans(s1.id, NOW)
            .await
            .expect("list")
            .iter()
            .map(|b| b.id)
            .collect::<Vec<_>>(),
        vec![global, local]
    );
    // A global action has no source's record to appear in.
    assert_eq!(db.moderation_log(s2.id, 10).await.expect("log"), vec![]);
}

async fn messages_are_deleted_once_and_recorded(db: &Db) {
    let owner = user(db, "del@example.com").await;
    let s = source(db, owner.id, "cam").await;
    let m = db
        .insert_chat_message(&youtube(s.id, "p1", "rude"), NOW)
        .await
        .expect("insert")
        .expect("new");
    let native = ferrocast_db::chat::NewChatMessage {
        platform: "native",
        user_id: Some(owner.id),
        ..youtube(s.id, "n1", "mine")
    };
    db.insert_chat_message(&native, NOW + 7)
        .await
        .expect("insert")
        .expect("new");
    assert_eq!(
        db.last_chat_message_at(s.id, owner.id).await.expect("q"),
        Some(NOW + 7)
    );
    let troll = user(db, "quiet@example.com").await;
    assert_eq!(
        db.last_chat_message_at(s.id, troll.id).await.expect("q"),
        None
    );

    let del = Action {
        target_message_id: Some(m.id),
        ..act(Some(s.id), owner.id, "delete_message")
    };
    assert!(db
        .delete_chat_message(m.id, &del, NOW + 10)
        .await
        .expect("delete"));
    assert!(!db
        .delete_chat_message(m.id, &del, NOW + 11)
        .await
        .expect("delete"));
    assert_eq!(
        db.chat_message_by_id(m.id)
            .await
            .expect("q")
            .expect("kept")
            .deleted_at,
        Some(NOW + 10)
    );
    assert_eq!(
        db.recent_chat_messages(s.id, 10)
            .await
            .expect("q")
            .iter()
            .map(|m| m.message_text.as_str())
            .collect::<Vec<_>>(),
        vec!["mine"]
    );
    let log = db.moderation_log(s.id, 10).await.expect("log");
    let last = log.last().expect("recorded");
    assert_eq!(
        (
            last.action.as_str(),
            last.target_message_id,
            last.created_at
        ),
        ("delete_message", Some(m.id), NOW + 10)
    );
}
