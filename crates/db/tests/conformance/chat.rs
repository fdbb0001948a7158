//! Chat messages: stored once per platform message, the recent feed, and platform deletions.

use ferrocast_db::chat::{ChatMessageRecord, NewChatMessage};
use ferrocast_db::Db;

use crate::support::{both_backends, source, user, NOW};

both_backends!(
    platform_messages_are_stored_once,
    recent_messages_are_the_newest_oldest_first,
    platform_deletions_hide_messages_once,
);

/// A YouTube message `pid` in the feed of `source_id`.
pub fn youtube<'a>(source_id: i64, pid: &'a str, text: &'a str) -> NewChatMessage<'a> {
    NewChatMessage {
        source_id,
        connector_id: None,
        platform: "youtube",
        platform_message_id: pid,
        user_id: None,
        author_name: "Viewer",
        author_platform_id: "UC123",
        message_text: text,
        message_type: "message",
        metadata: r#"{"badges":[]}"#,
    }
}

fn texts(v: &[ChatMessageRecord]) -> Vec<&str> {
    v.iter().map(|m| m.message_text.as_str()).collect()
}

async fn platform_messages_are_stored_once(db: &Db) {
    let u = user(db, "chat@example.com").await;
    let s = source(db, u.id, "cam").await;
    let s2 = source(db, u.id, "cam2").await;
    let m = db
        .insert_chat_message(&youtube(s.id, "yt-1", "hello"), NOW)
        .await
        .expect("insert")
        .expect("new");
    assert_eq!(
        (
            m.source_id,
            m.connector_id,
            m.platform.as_str(),
            m.platform_message_id.as_str(),
            m.user_id
        ),
        (s.id, None, "youtube", "yt-1", None)
    );
    assert_eq!(
        (
            m.author_name.as_str(),
            m.author_platform_id.as_str(),
            m.message_text.as_str(),
            m.message_type.as_str(),
            m.metadata.as_str()
        ),
        ("Viewer", "UC123", "hello", "message", r#"{"badges":[]}"#)
    );
    assert_eq!((m.deleted_at, m.created_at), (None, NOW));

    // Seen again (a reconnecting connector): nothing stored, nothing to emit.
    assert_eq!(
        db.insert_chat_message(&youtube(s.id, "yt-1", "hello again"), NOW + 1)
            .await
            .expect("insert"),
        None
    );
    assert_eq!(
        texts(&db.recent_chat_messages(s.id, 10).await.expect("q")),
        vec!["hello"]
    );

    // The same id on another platform or in another feed is another message.
    let twitch = NewChatMessage {
        platform: "twitch",
        ..youtube(s.id, "yt-1", "from twitch")
    };
    assert!(db
        .insert_chat_message(&twitch, NOW)
        .await
        .expect("insert")
        .is_some());
    assert!(db
        .insert_chat_message(&youtube(s2.id, "yt-1", "other feed"), NOW)
        .await
        .expect("insert")
        .is_some());

    // A native message by a ferrocast user.
    let native = NewChatMessage {
        platform: "native",
        user_id: Some(u.id),
        author_platform_id: &u.uuid,
        ..youtube(s.id, "native-uuid-1", "mine")
    };
    let n = db
        .insert_chat_message(&native, NOW + 2)
        .await
        .expect("insert")
        .expect("new");
    assert_eq!(n.user_id, Some(u.id));
    assert!(n.id > m.id, "ids grow in storing order");
    assert_eq!(db.chat_message_by_id(n.id).await.expect("q"), Some(n));
}

async fn recent_messages_are_the_newest_oldest_first(db: &Db) {
    let u = user(db, "feed@example.com").await;
    let s = source(db, u.id, "cam").await;
    let other = source(db, u.id, "other").await;
    let ids: Vec<String> = (1..=5).map(|i| format!("m{i}")).collect();
    for (i, pid) in ids.iter().enumerate() {
        db.insert_chat_message(&youtube(s.id, pid, pid), NOW + i as i64)
            .await
            .expect("insert")
            .expect("new");
    }
    db.insert_chat_message(&youtube(other.id, "x", "elsewhere"), NOW)
        .await
        .expect("insert");
    assert_eq!(
        texts(&db.recent_chat_messages(s.id, 3).await.expect("q")),
        vec!["m3", "m4", "m5"]
    );
    assert_eq!(
        texts(&db.recent_chat_messages(s.id, 100).await.expect("q")),
        vec!["m1", "m2", "m3", "m4", "m5"]
    );
    assert!(db
        .recent_chat_messages(s.id, 0)
        .await
        .expect("q")
        .is_empty());
}

async fn platform_deletions_hide_messages_once(db: &Db) {
    let u = user(db, "hide@example.com").await;
    let s = source(db, u.id, "cam").await;
    let keep = db
        .insert_chat_message(&youtube(s.id, "a", "keep"), NOW)
        .await
        .expect("insert")
        .expect("new");
    let gone = db
        .insert_chat_message(&youtube(s.id, "b", "spam"), NOW)
        .await
        .expect("insert")
        .expect("new");
    assert_eq!(
        db.hide_platform_chat_message(s.id, "youtube", "b", NOW + 5)
            .await
            .expect("hide"),
        Some(gone.id)
    );
    assert_eq!(
        db.hide_platform_chat_message(s.id, "youtube", "b", NOW + 6)
            .await
            .expect("hide"),
        None,
        "already hidden"
    );
    // Only that platform's message in that feed.
    assert_eq!(
        db.hide_platform_chat_message(s.id, "twitch", "a", NOW)
            .await
            .expect("hide"),
        None
    );
    assert_eq!(
        db.chat_message_by_id(gone.id)
            .await
            .expect("q")
            .expect("kept as a record")
            .deleted_at,
        Some(NOW + 5)
    );
    assert_eq!(
        db.recent_chat_messages(s.id, 10).await.expect("q"),
        vec![keep]
    );
}
