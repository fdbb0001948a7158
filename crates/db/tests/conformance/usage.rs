//! Publishing sessions and streaming usage: heartbeats, closing, streamed time over a window, and
//! the sweeps after a node stops (stale sessions closed at their last heartbeat, sources left
//! marked live reset unless a fresh heartbeat keeps them).

use ferrocast_db::plans::{SessionSpan, SessionTouch};
use ferrocast_db::Db;

use crate::support::{both_backends, live_session, source, user, uuid, HOUR, MINUTE, NOW};

both_backends!(
    sessions_open_touch_and_close,
    streamed_ms_counts_only_the_window,
    stale_sessions_are_closed_at_their_last_heartbeat,
    orphaned_sources_are_reset_by_heartbeat_age,
    usage_outlives_its_source,
    a_round_of_heartbeats_is_written_together,
);

async fn sessions_open_touch_and_close(db: &Db) {
    let u = user(db, "live@example.com").await;
    let s = source(db, u.id, "cam").await;
    let id = db
        .open_stream_session(&uuid(), u.id, s.id, NOW)
        .await
        .expect("open");
    // Open: its span ends at the last heartbeat.
    assert_eq!(
        db.stream_spans(u.id, NOW - HOUR, NOW + HOUR)
            .await
            .expect("spans"),
        vec![SessionSpan {
            started_at: NOW,
            until: NOW
        }]
    );
    assert!(db
        .touch_stream_session(id, NOW + MINUTE, 1000, 30)
        .await
        .expect("touch"));
    assert_eq!(
        db.stream_spans(u.id, NOW - HOUR, NOW + HOUR)
            .await
            .expect("spans"),
        vec![SessionSpan {
            started_at: NOW,
            until: NOW + MINUTE
        }]
    );
    db.close_stream_session(id, NOW + 2 * MINUTE, "publisher left", 2000, 60)
        .await
        .expect("close");
    assert_eq!(
        db.stream_spans(u.id, NOW - HOUR, NOW + HOUR)
            .await
            .expect("spans"),
        vec![SessionSpan {
            started_at: NOW,
            until: NOW + 2 * MINUTE
        }]
    );
    // Closed: heartbeats and a second close change nothing.
    assert!(!db
        .touch_stream_session(id, NOW + 3 * MINUTE, 3000, 90)
        .await
        .expect("touch"));
    db.close_stream_session(id, NOW + 4 * MINUTE, "again", 0, 0)
        .await
        .expect("close");
    assert_eq!(
        db.streamed_ms(u.id, NOW - HOUR, NOW + HOUR)
            .await
            .expect("ms"),
        2 * MINUTE
    );
}

async fn streamed_ms_counts_only_the_window(db: &Db) {
    let u = user(db, "window@example.com").await;
    let other = user(db, "notme@example.com").await;
    let s = source(db, u.id, "cam").await;
    let o = source(db, other.id, "ocam").await;
    // [NOW, NOW+1h) closed; [NOW+2h, …) open with its last heartbeat at NOW+2h30m.
    let a = db
        .open_stream_session(&uuid(), u.id, s.id, NOW)
        .await
        .expect("open");
    db.close_stream_session(a, NOW + HOUR, "done", 0, 0)
        .await
        .expect("close");
    let b = db
        .open_stream_session(&uuid(), u.id, s.id, NOW + 2 * HOUR)
        .await
        .expect("open");
    db.touch_stream_session(b, NOW + 2 * HOUR + 30 * MINUTE, 0, 0)
        .await
        .expect("touch");
    // Another user's streaming is not ours.
    let c = db
        .open_stream_session(&uuid(), other.id, o.id, NOW)
        .await
        .expect("open");
    db.close_stream_session(c, NOW + 5 * HOUR, "done", 0, 0)
        .await
        .expect("close");

    let ms = |from: i64, to: i64| db.streamed_ms(u.id, from, to);
    assert_eq!(ms(NOW, NOW + 3 * HOUR).await.expect("ms"), 90 * MINUTE);
    assert_eq!(
        ms(NOW - HOUR, NOW + 10 * HOUR).await.expect("ms"),
        90 * MINUTE
    );
    // Clipped at both ends of the window.
    assert_eq!(
        ms(NOW + 30 * MINUTE, NOW + 2 * HOUR + 10 * MINUTE)
            .await
            .expect("ms"),
        40 * MINUTE
    );
    // Half-open: a window ending where a session starts, or starting where one ends, has none
    // of it.
    assert_eq!(ms(NOW - HOUR, NOW).await.expect("ms"), 0);
    assert_eq!(ms(NOW + HOUR, NOW + 2 * HOUR).await.expect("ms"), 0);
    assert_eq!(
        db.stream_spans(u.id, NOW + HOUR, NOW + 2 * HOUR)
            .await
            .expect("spans"),
        vec![]
    );
    assert_eq!(
        db.streamed_ms(other.id, NOW, NOW + 3 * HOUR)
            .await
            .expect("ms"),
        3 * HOUR
    );
}

async fn stale_sessions_are_closed_at_their_last_heartbeat(db: &Db) {
    let u = user(db, "stale@example.com").await;
    let s = source(db, u.id, "cam").await;
    let stale = db
        .open_stream_session(&uuid(), u.id, s.id, NOW)
        .await
        .expect("open");
    db.touch_stream_session(stale, NOW + MINUTE, 0, 0)
        .await
        .expect("touch");
    let fresh = db
        .open_stream_session(&uuid(), u.id, s.id, NOW)
        .await
        .expect("open");
    db.touch_stream_session(fresh, NOW + 5 * MINUTE, 0, 0)
        .await
        .expect("touch");
    let closed = db
        .open_stream_session(&uuid(), u.id, s.id, NOW - HOUR)
        .await
        .expect("open");
    db.close_stream_session(closed, NOW - HOUR + MINUTE, "done", 0, 0)
        .await
        .expect("close");

    // Heartbeat strictly before the bound: stale. A heartbeat at the bound is not.
    assert_eq!(
        db.close_stale_stream_sessions(NOW + MINUTE)
            .await
            .expect("sweep"),
        0
    );
    assert_eq!(
        db.close_stale_stream_sessions(NOW + 2 * MINUTE)
            .await
            .expect("sweep"),
        1
    );
    // Closed at its last heartbeat, not at the sweep: no usage invented.
    let untils = span_ends(db, u.id).await;
    assert_eq!(untils, vec![NOW + MINUTE, NOW + 5 * MINUTE]);
    assert_eq!(
        db.streamed_ms(u.id, NOW, NOW + HOUR).await.expect("ms"),
        MINUTE + 5 * MINUTE
    );
    // Its node, resuming, learns that the session was closed.
    assert!(!db
        .touch_stream_session(stale, NOW + 10 * MINUTE, 0, 0)
        .await
        .expect("touch"));
    assert!(db
        .touch_stream_session(fresh, NOW + 10 * MINUTE, 0, 0)
        .await
        .expect("touch"));
    assert_eq!(
        db.close_stale_stream_sessions(NOW + 2 * MINUTE)
            .await
            .expect("sweep"),
        0,
        "closed sessions are not closed again"
    );
}

async fn orphaned_sources_are_reset_by_heartbeat_age(db: &Db) {
    let u = user(db, "orphan@example.com").await;
    let crashed = source(db, u.id, "crashed").await;
    let alive = source(db, u.id, "alive").await;
    let ended = source(db, u.id, "ended").await;
    let idle = source(db, u.id, "idle").await;
    for s in [&crashed, &alive, &ended] {
        db.set_source_active(s.id, true, NOW).await.expect("live");
    }
    let c = db
        .open_stream_session(&uuid(), u.id, crashed.id, NOW)
        .await
        .expect("open");
    db.touch_stream_session(c, NOW + MINUTE, 0, 0)
        .await
        .expect("touch");
    let a = db
        .open_stream_session(&uuid(), u.id, alive.id, NOW)
        .await
        .expect("open");
    db.touch_stream_session(a, NOW + 5 * MINUTE, 0, 0)
        .await
        .expect("touch");
    // A closed session keeps nothing live, however recent.
    let e = db
        .open_stream_session(&uuid(), u.id, ended.id, NOW)
        .await
        .expect("open");
    db.close_stream_session(e, NOW + 5 * MINUTE, "done", 0, 0)
        .await
        .expect("close");

    // A heartbeat at `fresh_after` counts as fresh.
    assert_eq!(
        db.reset_orphaned_sources(NOW + 5 * MINUTE)
            .await
            .expect("reset"),
        2
    );
    let live = |id: i64| async move {
        db.source_by_id(id)
            .await
            .expect("q")
            .expect("source")
            .is_active
    };
    assert!(!live(crashed.id).await);
    assert!(live(alive.id).await);
    assert!(!live(ended.id).await);
    assert!(!live(idle.id).await);
    assert_eq!(
        db.reset_orphaned_sources(NOW + 5 * MINUTE)
            .await
            .expect("reset"),
        0
    );
}

async fn usage_outlives_its_source(db: &Db) {
    let u = user(db, "keep@example.com").await;
    let s = source(db, u.id, "gone").await;
    let id = db
        .open_stream_session(&uuid(), u.id, s.id, NOW)
        .await
        .expect("open");
    db.close_stream_session(id, NOW + HOUR, "done", 0, 0)
        .await
        .expect("close");
    assert!(db.delete_source(s.id).await.expect("delete"));
    assert_eq!(
        db.streamed_ms(u.id, NOW, NOW + HOUR).await.expect("ms"),
        HOUR
    );
}

async fn a_round_of_heartbeats_is_written_together(db: &Db) {
    let u = user(db, "round@example.com").await;
    let s = source(db, u.id, "cam").await;
    let a = live_session(db, u.id, &s).await;
    let b = live_session(db, u.id, &s).await;
    let closed = live_session(db, u.id, &s).await;
    db.close_stream_session(closed, NOW + MINUTE, "done", 0, 0)
        .await
        .expect("close");
    let touch = |id, bytes_in| SessionTouch {
        id,
        now: NOW + 2 * MINUTE,
        bytes_in,
        frames_in: bytes_in / 100,
    };
    // Each answer says whether its session was still open, in order.
    assert_eq!(
        db.touch_stream_sessions(&[touch(a, 1000), touch(closed, 2000), touch(b, 3000)])
            .await
            .expect("touch"),
        vec![true, false, true]
    );
    assert_eq!(
        db.touch_stream_sessions(&[]).await.expect("nothing"),
        Vec::<bool>::new()
    );
    // Both open ones advanced; the closed one kept its end.
    let untils = span_ends(db, u.id).await;
    assert_eq!(
        untils,
        vec![NOW + MINUTE, NOW + 2 * MINUTE, NOW + 2 * MINUTE]
    );
}

/// Where `user_id`'s sessions since [`NOW`] end (their last heartbeat while open), in order.
async fn span_ends(db: &Db, user_id: i64) -> Vec<i64> {
    let mut ends: Vec<i64> = db
        .stream_spans(user_id, NOW - 1, NOW + HOUR)
        .await
        .expect("spans")
        .into_iter()
        .map(|s| s.until)
        .collect();
    ends.sort();
    ends
}
