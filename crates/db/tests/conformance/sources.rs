//! Stream sources: the plan limit at creation, lookups by stream-key hash and playback id, key
//! rotation, the live mark, and deletion.

use ferrocast_db::sources::{NewSource, StreamMetadata};
use ferrocast_db::Db;

use crate::support::{both_backends, source, user, uuid, HOUR, NOW};

both_backends!(
    sources_respect_the_plan_limit,
    sources_are_found_by_key_hash_and_playback_id,
    rotating_a_key_retires_the_old_one,
    sources_are_updated_marked_live_and_deleted,
    stream_metadata_round_trips,
);

fn new_source<'a>(user_id: i64, uuid: &'a str, name: &'a str) -> NewSource<'a> {
    NewSource {
        uuid,
        user_id,
        name,
        description: Some("desc"),
        stream_key_hash: name,
        stream_key_sealed: "sealed",
        playback_id: uuid,
    }
}

async fn sources_respect_the_plan_limit(db: &Db) {
    let u = user(db, "limit@example.com").await;
    let other = user(db, "other@example.com").await;
    let (a, b, c) = (uuid(), uuid(), uuid());
    let first = db
        .create_source_limited(&new_source(u.id, &a, "k1"), NOW, 2)
        .await
        .expect("q")
        .expect("first");
    assert_eq!(
        (
            first.uuid.as_str(),
            first.user_id,
            first.name.as_str(),
            first.description.as_deref()
        ),
        (a.as_str(), u.id, "k1", Some("desc"))
    );
    assert_eq!(
        (
            first.stream_key_hash.as_str(),
            first.stream_key_sealed.as_str(),
            first.playback_id.as_str()
        ),
        ("k1", "sealed", a.as_str())
    );
    assert!(!first.is_active);
    assert_eq!((first.created_at, first.updated_at), (NOW, NOW));
    db.create_source_limited(&new_source(u.id, &b, "k2"), NOW, 2)
        .await
        .expect("q")
        .expect("second");
    // At the limit: refused with the current count, nothing stored.
    assert_eq!(
        db.create_source_limited(&new_source(u.id, &c, "k3"), NOW, 2)
            .await
            .expect("q"),
        Err(2)
    );
    assert_eq!(db.count_sources(u.id).await.expect("count"), 2);
    assert!(db.source_by_key_hash("k3").await.expect("q").is_none());
    // The limit is per owner.
    db.create_source_limited(&new_source(other.id, &c, "k3"), NOW, 2)
        .await
        .expect("q")
        .expect("other owner");
    // A duplicate stream key hash is a conflict.
    let err = db
        .create_source_limited(&new_source(other.id, &uuid(), "k1"), NOW, 10)
        .await
        .expect_err("duplicate key hash");
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(db.count_sources(other.id).await.expect("count"), 1);

    // Oldest first.
    let listed = db.list_sources(u.id).await.expect("list");
    assert_eq!(
        listed.iter().map(|s| s.uuid.as_str()).collect::<Vec<_>>(),
        vec![a.as_str(), b.as_str()]
    );
}

async fn sources_are_found_by_key_hash_and_playback_id(db: &Db) {
    let u = user(db, "find@example.com").await;
    let s = source(db, u.id, "cam").await;
    assert_eq!(
        db.source_by_key_hash("hash-cam").await.expect("q"),
        Some(s.clone())
    );
    assert_eq!(
        db.source_by_playback_id("play-cam").await.expect("q"),
        Some(s.clone())
    );
    assert_eq!(db.source_by_id(s.id).await.expect("q"), Some(s.clone()));
    assert_eq!(db.source_by_key_hash("play-cam").await.expect("q"), None);
    assert_eq!(db.source_by_playback_id("hash-cam").await.expect("q"), None);
    assert_eq!(db.source_by_id(s.id + 100).await.expect("q"), None);
}

async fn rotating_a_key_retires_the_old_one(db: &Db) {
    let u = user(db, "rotate@example.com").await;
    let s = source(db, u.id, "main").await;
    let other = source(db, u.id, "backup").await;
    db.rotate_source_key(s.id, "hash-new", "sealed-new", NOW + HOUR)
        .await
        .expect("rotate");
    assert_eq!(db.source_by_key_hash("hash-main").await.expect("q"), None);
    let got = db
        .source_by_key_hash("hash-new")
        .await
        .expect("q")
        .expect("new key");
    assert_eq!(
        (
            got.id,
            got.stream_key_sealed.as_str(),
            got.playback_id.as_str(),
            got.updated_at
        ),
        (s.id, "sealed-new", "play-main", NOW + HOUR),
        "the playback id stays"
    );
    // Another source's key hash cannot be taken.
    let err = db
        .rotate_source_key(s.id, &other.stream_key_hash, "x", NOW)
        .await
        .expect_err("taken hash");
    assert!(err.is_conflict(), "{err:?}");
}

async fn sources_are_updated_marked_live_and_deleted(db: &Db) {
    let u = user(db, "upd@example.com").await;
    let s = source(db, u.id, "studio").await;
    db.update_source(s.id, "Studio A", Some("the big one"), NOW + 1)
        .await
        .expect("update");
    let got = db.source_by_id(s.id).await.expect("q").expect("source");
    assert_eq!(
        (
            got.name.as_str(),
            got.description.as_deref(),
            got.updated_at
        ),
        ("Studio A", Some("the big one"), NOW + 1)
    );
    db.update_source(s.id, "Studio A", None, NOW + 2)
        .await
        .expect("update");
    assert_eq!(
        db.source_by_id(s.id)
            .await
            .expect("q")
            .expect("s")
            .description,
        None
    );

    db.set_source_active(s.id, true, NOW + 3)
        .await
        .expect("live");
    assert!(
        db.source_by_id(s.id)
            .await
            .expect("q")
            .expect("s")
            .is_active
    );
    db.set_source_active(s.id, false, NOW + 4)
        .await
        .expect("offline");
    assert!(
        !db.source_by_id(s.id)
            .await
            .expect("q")
            .expect("s")
            .is_active
    );

    assert!(db.delete_source(s.id).await.expect("delete"));
    assert!(!db.delete_source(s.id).await.expect("delete"));
    assert_eq!(db.source_by_id(s.id).await.expect("q"), None);
    assert_eq!(db.count_sources(u.id).await.expect("count"), 0);
}

async fn stream_metadata_round_trips(db: &Db) {
    let u = user(db, "meta@example.com").await;
    let s = source(db, u.id, "meta").await;
    // A new source says nothing.
    assert_eq!(s.metadata(), StreamMetadata::default());
    assert_eq!(s.display_title(), "meta");
    let cats = db.list_categories().await.expect("categories");
    assert_eq!(cats.len(), 12);
    assert_eq!(cats[0].slug, "just-chatting");
    assert_eq!(cats[11].name, "Other");
    assert!(db.category_exists("gaming").await.expect("q"));
    assert!(!db.category_exists("knitting").await.expect("q"));
    let m = StreamMetadata {
        title: Some("Speedrun — «classics»".into()),
        description: Some("Three games,\nviewer picks".into()),
        category: Some("gaming".into()),
        tags: vec!["speedrun".into(), "ретро".into()],
        language: Some("en".into()),
        mature: true,
    };
    assert!(db
        .set_source_metadata(s.id, &m, NOW + 1)
        .await
        .expect("set"));
    let back = db.source_by_id(s.id).await.expect("q").expect("there");
    assert_eq!(back.metadata(), m);
    assert_eq!(back.display_title(), "Speedrun — «classics»");
    assert_eq!(back.updated_at, NOW + 1);
    // An unknown category is refused, and nothing changes.
    let err = db
        .set_source_metadata(
            s.id,
            &StreamMetadata {
                category: Some("knitting".into()),
                ..m.clone()
            },
            NOW + 2,
        )
        .await
        .expect_err("unknown category");
    assert!(
        matches!(err, ferrocast_db::DbError::Invalid(ref e) if e.starts_with("category:")),
        "{err:?}"
    );
    assert_eq!(
        db.source_by_id(s.id)
            .await
            .expect("q")
            .expect("there")
            .metadata(),
        m
    );
    // Cleared.
    assert!(db
        .set_source_metadata(s.id, &StreamMetadata::default(), NOW + 3)
        .await
        .expect("set"));
    assert_eq!(
        db.source_by_id(s.id)
            .await
            .expect("q")
            .expect("there")
            .metadata(),
        StreamMetadata::default()
    );
    assert!(!db
        .set_source_metadata(i64::MAX, &m, NOW)
        .await
        .expect("no such source"));
}
