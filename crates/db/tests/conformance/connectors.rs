//! Chat connectors: one per source and platform, replaced with a new generation; one lease holder
//! at a time with expiry; state and tokens written only by the current generation.

use ferrocast_db::connectors::{ConnectorRecord, Lease, NewConnector};
use ferrocast_db::Db;

use crate::chat::youtube;
use crate::support::{both_backends, source, user, uuid, MINUTE, NOW};

both_backends!(
    connectors_are_replaced_with_a_new_generation,
    one_lease_holder_at_a_time,
    old_generations_change_nothing,
    deleting_a_connector_keeps_its_messages,
);

fn new_connector<'a>(
    source_id: i64,
    user_id: i64,
    platform: &'a str,
    secrets: &'a str,
) -> NewConnector<'a> {
    NewConnector {
        source_id,
        user_id,
        platform,
        config: r#"{"channel":"ferro"}"#,
        secrets_sealed: secrets,
    }
}

async fn connector(db: &Db, source_id: i64, user_id: i64, platform: &str) -> ConnectorRecord {
    db.upsert_chat_connector(
        &new_connector(source_id, user_id, platform, "tokens"),
        &uuid(),
        NOW,
    )
    .await
    .expect("connector")
}

async fn connectors_are_replaced_with_a_new_generation(db: &Db) {
    let u = user(db, "conn@example.com").await;
    let s = source(db, u.id, "cam").await;
    let id = uuid();
    let c = db
        .upsert_chat_connector(&new_connector(s.id, u.id, "youtube", "t1"), &id, NOW)
        .await
        .expect("create");
    assert_eq!(
        (
            c.uuid.as_str(),
            c.source_id,
            c.user_id,
            c.platform.as_str(),
            c.config.as_str(),
            c.secrets_sealed.as_str()
        ),
        (
            id.as_str(),
            s.id,
            u.id,
            "youtube",
            r#"{"channel":"ferro"}"#,
            "t1"
        )
    );
    assert_eq!(
        (
            c.is_active,
            c.state.as_str(),
            c.last_error.as_deref(),
            c.generation
        ),
        (true, "connecting", None, 0)
    );
    assert_eq!((c.created_at, c.updated_at), (NOW, NOW));

    // It fails; the creator connects again: the same connector, a new generation, active again.
    db.set_chat_connector_state(c.id, 0, "failed", Some("token revoked"), NOW + 1)
        .await
        .expect("state");
    let failed = db.chat_connector_by_id(c.id).await.expect("q").expect("c");
    assert_eq!(
        (
            failed.is_active,
            failed.state.as_str(),
            failed.last_error.as_deref()
        ),
        (false, "failed", Some("token revoked"))
    );
    assert!(db.active_chat_connectors().await.expect("q").is_empty());
    let again = db
        .upsert_chat_connector(
            &new_connector(s.id, u.id, "youtube", "t2"),
            &uuid(),
            NOW + 2,
        )
        .await
        .expect("replace");
    assert_eq!(
        (
            again.id,
            again.uuid.as_str(),
            again.generation,
            again.created_at,
            again.updated_at
        ),
        (c.id, id.as_str(), 1, NOW, NOW + 2)
    );
    assert_eq!(
        (
            again.is_active,
            again.state.as_str(),
            again.last_error.as_deref(),
            again.secrets_sealed.as_str()
        ),
        (true, "connecting", None, "t2")
    );

    // One per platform and source.
    let tw = connector(db, s.id, u.id, "twitch").await;
    assert_eq!(
        db.chat_connectors_for_source(s.id)
            .await
            .expect("q")
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![c.id, tw.id]
    );
    assert_eq!(db.active_chat_connectors().await.expect("q").len(), 2);
    db.set_chat_connector_state(tw.id, 0, "connected", None, NOW + 3)
        .await
        .expect("state");
    let got = db.chat_connector_by_id(tw.id).await.expect("q").expect("c");
    assert_eq!(
        (got.state.as_str(), got.is_active, got.updated_at),
        ("connected", true, NOW + 3)
    );
    assert!(db
        .chat_connector_by_id(tw.id + 100)
        .await
        .expect("q")
        .is_none());
}

async fn one_lease_holder_at_a_time(db: &Db) {
    let u = user(db, "lease@example.com").await;
    let s = source(db, u.id, "cam").await;
    let c = connector(db, s.id, u.id, "youtube").await;
    let until = NOW + MINUTE;
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "node-a", NOW, until)
            .await
            .expect("lease"),
        Lease::Held
    );
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "node-b", NOW + 1, NOW + 2 * MINUTE)
            .await
            .expect("lease"),
        Lease::Busy
    );
    // The holder renews.
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "node-a", NOW + 30_000, NOW + 2 * MINUTE)
            .await
            .expect("lease"),
        Lease::Held
    );
    // Still held up to and at its end; taken over once it has passed.
    let end = NOW + 2 * MINUTE;
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "node-b", end, end + MINUTE)
            .await
            .expect("lease"),
        Lease::Busy
    );
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "node-b", end + 1, end + MINUTE)
            .await
            .expect("lease"),
        Lease::Held
    );
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "node-a", end + 2, end + MINUTE)
            .await
            .expect("lease"),
        Lease::Busy
    );
    // Released only by its holder; then anyone may take it at once.
    db.release_chat_connector(c.id, "node-a")
        .await
        .expect("release");
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "node-c", end + 3, end + MINUTE)
            .await
            .expect("lease"),
        Lease::Busy
    );
    db.release_chat_connector(c.id, "node-b")
        .await
        .expect("release");
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "node-c", end + 4, end + MINUTE)
            .await
            .expect("lease"),
        Lease::Held
    );

    // A connector that should not run, or no longer exists, is gone for every runner.
    db.set_chat_connector_state(c.id, 0, "failed", Some("x"), end + 5)
        .await
        .expect("state");
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "node-c", end + 6, end + MINUTE)
            .await
            .expect("lease"),
        Lease::Gone
    );
    assert_eq!(
        db.lease_chat_connector(c.id + 100, 0, "node-c", NOW, until)
            .await
            .expect("lease"),
        Lease::Gone
    );
}

async fn old_generations_change_nothing(db: &Db) {
    let u = user(db, "gen@example.com").await;
    let s = source(db, u.id, "cam").await;
    let c = connector(db, s.id, u.id, "twitch").await;
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "old-runner", NOW, NOW + MINUTE)
            .await
            .expect("lease"),
        Lease::Held
    );
    // The creator connects again: the old lease is dropped with the old generation.
    let c1 = db
        .upsert_chat_connector(
            &new_connector(s.id, u.id, "twitch", "fresh"),
            &uuid(),
            NOW + 1,
        )
        .await
        .expect("replace");
    assert_eq!(c1.generation, 1);
    assert_eq!(
        db.lease_chat_connector(c.id, 0, "old-runner", NOW + 2, NOW + MINUTE)
            .await
            .expect("lease"),
        Lease::Gone
    );
    assert_eq!(
        db.lease_chat_connector(c.id, 1, "new-runner", NOW + 2, NOW + MINUTE)
            .await
            .expect("lease"),
        Lease::Held,
        "the replaced connector's lease was released"
    );

    // The old runner's reports and renewed tokens are not written.
    db.set_chat_connector_state(c.id, 0, "failed", Some("stale"), NOW + 3)
        .await
        .expect("state");
    db.set_chat_connector_secrets(c.id, 0, "stale-tokens", NOW + 3)
        .await
        .expect("secrets");
    let got = db.chat_connector_by_id(c.id).await.expect("q").expect("c");
    assert_eq!(
        (
            got.state.as_str(),
            got.is_active,
            got.last_error.as_deref(),
            got.secrets_sealed.as_str(),
            got.updated_at
        ),
        ("connecting", true, None, "fresh", NOW + 1)
    );
    // The current runner's are.
    db.set_chat_connector_secrets(c.id, 1, "renewed", NOW + 4)
        .await
        .expect("secrets");
    db.set_chat_connector_state(c.id, 1, "retrying", Some("timeout"), NOW + 5)
        .await
        .expect("state");
    let got = db.chat_connector_by_id(c.id).await.expect("q").expect("c");
    assert_eq!(
        (
            got.state.as_str(),
            got.is_active,
            got.last_error.as_deref(),
            got.secrets_sealed.as_str(),
            got.updated_at
        ),
        ("retrying", true, Some("timeout"), "renewed", NOW + 5)
    );
}

async fn deleting_a_connector_keeps_its_messages(db: &Db) {
    let u = user(db, "keepmsg@example.com").await;
    let s = source(db, u.id, "cam").await;
    let c = connector(db, s.id, u.id, "youtube").await;
    let m = db
        .insert_chat_message(
            &ferrocast_db::chat::NewChatMessage {
                connector_id: Some(c.id),
                ..youtube(s.id, "yt-9", "pulled")
            },
            NOW,
        )
        .await
        .expect("insert")
        .expect("new");
    assert_eq!(m.connector_id, Some(c.id));
    assert!(db.delete_chat_connector(c.id).await.expect("delete"));
    assert!(!db.delete_chat_connector(c.id).await.expect("delete"));
    assert!(db.chat_connector_by_id(c.id).await.expect("q").is_none());
    let kept = db
        .chat_message_by_id(m.id)
        .await
        .expect("q")
        .expect("message stays");
    assert_eq!(
        (kept.connector_id, kept.message_text.as_str()),
        (None, "pulled")
    );
}
