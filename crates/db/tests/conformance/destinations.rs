//! Restream destinations: the per-user limit over all sources, lists, forwarding on and off,
//! deletion, and that deleting a source deletes its destinations.

use ferrocast_db::destinations::NewDestination;
use ferrocast_db::Db;

use crate::support::{both_backends, source, user, uuid, NOW};

both_backends!(
    destinations_respect_the_limit_over_all_sources,
    destinations_are_listed_toggled_and_deleted,
);

fn new_destination<'a>(
    uuid: &'a str,
    source_id: i64,
    user_id: i64,
    platform: &'a str,
) -> NewDestination<'a> {
    NewDestination {
        uuid,
        source_id,
        user_id,
        platform,
        rtmp_url: "rtmp://a.rtmp.youtube.com/live2",
        stream_key_sealed: "sealed-dest",
    }
}

async fn destinations_respect_the_limit_over_all_sources(db: &Db) {
    let u = user(db, "dest@example.com").await;
    let s1 = source(db, u.id, "one").await;
    let s2 = source(db, u.id, "two").await;
    let id = uuid();
    let d = db
        .create_destination_limited(&new_destination(&id, s1.id, u.id, "youtube"), NOW, 2)
        .await
        .expect("q")
        .expect("first");
    assert_eq!(
        (
            d.uuid.as_str(),
            d.source_id,
            d.user_id,
            d.platform.as_str(),
            d.rtmp_url.as_str(),
            d.stream_key_sealed.as_str()
        ),
        (
            id.as_str(),
            s1.id,
            u.id,
            "youtube",
            "rtmp://a.rtmp.youtube.com/live2",
            "sealed-dest"
        )
    );
    assert!(d.is_active, "forwarding is on when created");
    assert_eq!((d.created_at, d.updated_at), (NOW, NOW));
    db.create_destination_limited(&new_destination(&uuid(), s2.id, u.id, "twitch"), NOW, 2)
        .await
        .expect("q")
        .expect("second, on another source");
    assert_eq!(
        db.create_destination_limited(&new_destination(&uuid(), s2.id, u.id, "kick"), NOW, 2)
            .await
            .expect("q"),
        Err(2)
    );
    assert_eq!(db.count_destinations(u.id).await.expect("count"), 2);
}

async fn destinations_are_listed_toggled_and_deleted(db: &Db) {
    let u = user(db, "list@example.com").await;
    let s1 = source(db, u.id, "one").await;
    let s2 = source(db, u.id, "two").await;
    let mut made = Vec::new();
    for (s, platform) in [(s1.id, "youtube"), (s2.id, "twitch"), (s1.id, "custom")] {
        made.push(
            db.create_destination_limited(&new_destination(&uuid(), s, u.id, platform), NOW, 10)
                .await
                .expect("q")
                .expect("created"),
        );
    }
    let platforms = |v: Vec<ferrocast_db::destinations::DestinationRecord>| {
        v.into_iter().map(|d| d.platform).collect::<Vec<_>>()
    };
    assert_eq!(
        platforms(db.list_destinations(s1.id).await.expect("list")),
        vec!["youtube", "custom"]
    );
    assert_eq!(
        platforms(db.list_user_destinations(u.id).await.expect("list")),
        vec!["youtube", "twitch", "custom"]
    );

    db.set_destination_active(made[0].id, false, NOW + 1)
        .await
        .expect("off");
    let got = db
        .destination_by_id(made[0].id)
        .await
        .expect("q")
        .expect("destination");
    assert_eq!((got.is_active, got.updated_at), (false, NOW + 1));

    assert!(db.delete_destination(made[0].id).await.expect("delete"));
    assert!(!db.delete_destination(made[0].id).await.expect("delete"));
    assert_eq!(db.destination_by_id(made[0].id).await.expect("q"), None);

    // Deleting a source deletes its destinations (and frees the user's allowance).
    assert!(db.delete_source(s1.id).await.expect("delete source"));
    assert!(db.list_destinations(s1.id).await.expect("list").is_empty());
    assert_eq!(db.destination_by_id(made[2].id).await.expect("q"), None);
    assert_eq!(
        platforms(db.list_user_destinations(u.id).await.expect("list")),
        vec!["twitch"]
    );
    assert_eq!(db.count_destinations(u.id).await.expect("count"), 1);
}
