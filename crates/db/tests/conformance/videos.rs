//! Videos and uploads: creation and lookups, the owner's edits, status and media facts, the
//! paged library, storage arithmetic, retention, a source's record switch, recording parts
//! across a republish, cascades when a user or source is deleted, and the upload offset that
//! only one writer moves.

use ferrocast_db::uploads::{NewUpload, MAX_METADATA_BYTES};
use ferrocast_db::videos::{NewVideo, VideoMedia, VideoRecord};
use ferrocast_db::{Db, DbError};
use std::collections::BTreeMap;

use crate::support::{both_backends, source, user, DAY, MINUTE, NOW};

both_backends!(
    videos_are_created_found_edited_and_deleted,
    the_library_is_paged_newest_first,
    storage_adds_up_per_user,
    retention_finds_expired_videos,
    a_republish_continues_the_recording,
    deleting_a_user_or_source_cascades,
    uploads_advance_from_the_offset_read,
    concurrent_appends_at_one_offset_record_one,
);

fn new_video<'a>(user_id: i64, uuid: &'a str, kind: &'a str, tags: &'a [String]) -> NewVideo<'a> {
    NewVideo {
        uuid,
        user_id,
        source_id: None,
        kind,
        title: "First light",
        description: "",
        tags,
        visibility: "public",
        status: "uploading",
        expires_at: None,
    }
}

/// A 16-character public id unique within a test, derived from `n`.
fn vid(n: i64) -> String {
    format!("v{n:015}")
}

async fn delete_user(db: &Db, id: i64) {
    ferrocast_db::on_pool!(db, p => sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id).execute(p).await.map(|_| ()))
    .expect("delete user");
}

async fn videos_are_created_found_edited_and_deleted(db: &Db) {
    let u = user(db, "maker@example.com").await;
    let tags = vec!["music".to_string(), "live".to_string()];
    let v = db
        .create_video(&new_video(u.id, &vid(1), "upload", &tags), NOW)
        .await
        .expect("create");
    assert_eq!(
        (
            v.uuid.as_str(),
            v.user_id,
            v.source_id,
            v.kind.as_str(),
            v.title.as_str(),
            v.tags.clone(),
            v.visibility.as_str(),
            v.status.as_str(),
        ),
        (
            vid(1).as_str(),
            u.id,
            None,
            "upload",
            "First light",
            tags.clone(),
            "public",
            "uploading",
        )
    );
    assert_eq!(
        (
            v.size_bytes,
            v.recording_parts,
            v.created_at,
            v.updated_at,
            v.expires_at
        ),
        (0, 0, NOW, NOW, None)
    );
    assert!(!v.has_hls && !v.has_mp4 && !v.has_thumbnail && v.duration_ms.is_none());
    assert_eq!(db.video_by_id(v.id).await.expect("q"), Some(v.clone()));
    assert_eq!(db.video_by_uuid(&vid(1)).await.expect("q"), Some(v.clone()));
    assert_eq!(db.video_by_uuid("nope").await.expect("q"), None);
    let dup = db
        .create_video(&new_video(u.id, &vid(1), "upload", &tags), NOW)
        .await
        .expect_err("same public id");
    assert!(matches!(dup, DbError::Conflict), "{dup:?}");
    // The schema refuses what is not a kind, visibility or status.
    let second = vid(2);
    let mut bad = new_video(u.id, &second, "podcast", &tags);
    assert!(db.create_video(&bad, NOW).await.is_err(), "unknown kind");
    bad.kind = "short";
    bad.visibility = "secret";
    assert!(
        db.create_video(&bad, NOW).await.is_err(),
        "unknown visibility"
    );

    // The owner's edits.
    let new_tags = vec!["edited".to_string()];
    assert!(db
        .update_video_metadata(v.id, "Renamed", "About it", &new_tags, "private", NOW + 1)
        .await
        .expect("update"));
    assert!(!db
        .update_video_metadata(v.id + 1000, "x", "", &[], "public", NOW)
        .await
        .expect("update missing"));
    // Status and the failure sentence.
    assert!(db
        .set_video_status(v.id, "failed", Some("The file is not a video."), NOW + 2)
        .await
        .expect("status"));
    let failed = db.video_by_id(v.id).await.expect("q").expect("video");
    assert_eq!(
        (
            failed.title.as_str(),
            failed.description.as_str(),
            failed.tags.clone(),
            failed.visibility.as_str(),
            failed.status.as_str(),
            failed.failure.as_deref(),
            failed.updated_at
        ),
        (
            "Renamed",
            "About it",
            new_tags,
            "private",
            "failed",
            Some("The file is not a video."),
            NOW + 2
        )
    );
    assert!(db
        .set_video_status(v.id, "ready", None, NOW + 3)
        .await
        .expect("status"));
    // Media facts.
    let media = VideoMedia {
        duration_ms: Some(20_040),
        width: Some(1280),
        height: Some(720),
        video_codec: Some("h264".into()),
        audio_codec: Some("aac".into()),
        has_hls: true,
        has_mp4: true,
        has_thumbnail: true,
        strip_frames: 40,
    };
    assert!(db
        .set_video_media(v.id, &media, NOW + 4)
        .await
        .expect("media"));
    assert!(db
        .set_video_expiry(v.id, Some(NOW + DAY), NOW + 4)
        .await
        .expect("expiry"));
    let ready = db.video_by_id(v.id).await.expect("q").expect("video");
    assert_eq!(
        VideoMedia {
            duration_ms: ready.duration_ms,
            width: ready.width,
            height: ready.height,
            video_codec: ready.video_codec.clone(),
            audio_codec: ready.audio_codec.clone(),
            has_hls: ready.has_hls,
            has_mp4: ready.has_mp4,
            has_thumbnail: ready.has_thumbnail,
            strip_frames: ready.strip_frames,
        },
        media
    );
    assert_eq!(
        (
            ready.status.as_str(),
            ready.failure.as_deref(),
            ready.expires_at
        ),
        ("ready", None, Some(NOW + DAY))
    );

    // Deleting returns what it was, once.
    let gone = db.delete_video(v.id).await.expect("delete");
    assert_eq!(gone, Some(ready));
    assert_eq!(db.delete_video(v.id).await.expect("delete again"), None);
    assert_eq!(db.video_by_id(v.id).await.expect("q"), None);
}

async fn the_library_is_paged_newest_first(db: &Db) {
    let u = user(db, "library@example.com").await;
    let other = user(db, "other@example.com").await;
    for i in 0..7 {
        db.create_video(&new_video(u.id, &vid(i), "upload", &[]), NOW + i * MINUTE)
            .await
            .expect("create");
    }
    db.create_video(
        &new_video(other.id, &vid(99), "short", &[]),
        NOW + HOUR_LATER,
    )
    .await
    .expect("other's");
    let uuids = |page: &[VideoRecord]| page.iter().map(|v| v.uuid.clone()).collect::<Vec<_>>();
    let (first, total) = db.list_videos(u.id, 3, 0).await.expect("page 1");
    assert_eq!(total, 7);
    assert_eq!(uuids(&first), vec![vid(6), vid(5), vid(4)]);
    let (second, _) = db.list_videos(u.id, 3, 3).await.expect("page 2");
    assert_eq!(uuids(&second), vec![vid(3), vid(2), vid(1)]);
    let (last, total) = db.list_videos(u.id, 3, 6).await.expect("page 3");
    assert_eq!((uuids(&last), total), (vec![vid(0)], 7));
    let (past, _) = db.list_videos(u.id, 3, 60).await.expect("past the end");
    assert!(past.is_empty());
    // Out-of-range paging is clamped, not an error.
    let (clamped, _) = db.list_videos(u.id, 0, -5).await.expect("clamped");
    assert_eq!(uuids(&clamped), vec![vid(6)]);
    let (none, total) = db
        .list_videos(other.id + 1000, 10, 0)
        .await
        .expect("nobody");
    assert_eq!((none.len(), total), (0, 0));
}

const HOUR_LATER: i64 = 60 * MINUTE;

async fn storage_adds_up_per_user(db: &Db) {
    let u = user(db, "storage@example.com").await;
    let other = user(db, "other@example.com").await;
    assert_eq!(db.storage_used_by_user(u.id).await.expect("sum"), 0);
    let a = db
        .create_video(&new_video(u.id, &vid(1), "upload", &[]), NOW)
        .await
        .expect("a");
    let b = db
        .create_video(&new_video(u.id, &vid(2), "recording", &[]), NOW)
        .await
        .expect("b");
    let c = db
        .create_video(&new_video(other.id, &vid(3), "upload", &[]), NOW)
        .await
        .expect("c");
    // Beyond 32 bits: sizes are BIGINT on both backends.
    let big = 5_000_000_000_i64;
    assert_eq!(
        db.add_video_size(a.id, big, NOW).await.expect("add"),
        Some(big)
    );
    assert_eq!(
        db.add_video_size(a.id, 1_000, NOW).await.expect("add"),
        Some(big + 1_000)
    );
    assert_eq!(
        db.add_video_size(b.id, 700, NOW).await.expect("add"),
        Some(700)
    );
    assert_eq!(
        db.add_video_size(c.id, 99, NOW).await.expect("add"),
        Some(99)
    );
    assert_eq!(
        db.storage_used_by_user(u.id).await.expect("sum"),
        big + 1_700
    );
    // Removing objects subtracts, never below zero.
    assert_eq!(
        db.add_video_size(b.id, -200, NOW).await.expect("sub"),
        Some(500)
    );
    assert_eq!(
        db.add_video_size(b.id, -9_999, NOW).await.expect("sub"),
        Some(0)
    );
    assert_eq!(
        db.add_video_size(c.id + 1000, 5, NOW)
            .await
            .expect("missing"),
        None
    );
    // Concurrent additions all count.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let db = db.clone();
        let id = b.id;
        tasks.push(tokio::spawn(async move {
            db.add_video_size(id, 10, NOW).await.expect("add")
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(
        db.storage_used_by_user(u.id).await.expect("sum"),
        big + 1_000 + 100
    );
    db.delete_video(a.id).await.expect("delete");
    assert_eq!(db.storage_used_by_user(u.id).await.expect("sum"), 100);
    assert_eq!(db.storage_used_by_user(other.id).await.expect("sum"), 99);
}

async fn retention_finds_expired_videos(db: &Db) {
    let u = user(db, "retention@example.com").await;
    let mut ids = Vec::new();
    for (i, expires) in [
        (1, Some(NOW + 2 * DAY)),
        (2, None),
        (3, Some(NOW + DAY)),
        (4, Some(NOW + 3 * DAY)),
    ] {
        let uuid = vid(i);
        let mut nv = new_video(u.id, &uuid, "recording", &[]);
        nv.expires_at = expires;
        ids.push(db.create_video(&nv, NOW).await.expect("create").id);
    }
    assert!(db
        .expired_videos(NOW + DAY - 1, 10)
        .await
        .expect("q")
        .is_empty());
    let due = |v: Vec<VideoRecord>| v.into_iter().map(|v| v.uuid).collect::<Vec<_>>();
    assert_eq!(
        due(db.expired_videos(NOW + DAY, 10).await.expect("q")),
        vec![vid(3)]
    );
    assert_eq!(
        due(db.expired_videos(NOW + 10 * DAY, 10).await.expect("q")),
        vec![vid(3), vid(1), vid(4)],
        "oldest expiry first; the kept one never"
    );
    assert_eq!(
        due(db.expired_videos(NOW + 10 * DAY, 2).await.expect("q")),
        vec![vid(3), vid(1)]
    );
    // Keeping a video (no expiry) takes it off the list.
    assert!(db.set_video_expiry(ids[2], None, NOW).await.expect("keep"));
    assert_eq!(
        due(db.expired_videos(NOW + 10 * DAY, 10).await.expect("q")),
        vec![vid(1), vid(4)]
    );
}

async fn a_republish_continues_the_recording(db: &Db) {
    let u = user(db, "live@example.com").await;
    let s = source(db, u.id, "cam").await;
    let other = source(db, u.id, "other").await;
    assert_eq!(
        db.open_recording_for_source(s.id, NOW).await.expect("q"),
        None
    );
    // A source follows its plan until it says otherwise, and can go back to following it.
    assert_eq!(s.record, None);
    assert!(db
        .set_source_record(s.id, Some(false), NOW + 1)
        .await
        .expect("off"));
    let off = db.source_by_id(s.id).await.expect("q").expect("source");
    assert_eq!((off.record, off.updated_at), (Some(false), NOW + 1));
    assert!(db
        .set_source_record(s.id, None, NOW + 2)
        .await
        .expect("plan"));
    assert_eq!(
        db.source_by_id(s.id)
            .await
            .expect("q")
            .expect("source")
            .record,
        None
    );
    assert!(!db
        .set_source_record(s.id + 1000, Some(true), NOW)
        .await
        .expect("missing"));
    let first = vid(1);
    let mut nv = new_video(u.id, &first, "recording", &[]);
    nv.source_id = Some(s.id);
    nv.status = "recording";
    let rec = db.create_video(&nv, NOW).await.expect("recording");
    // An upload tied to nothing and another source's recording are never continued.
    db.create_video(&new_video(u.id, &vid(2), "upload", &[]), NOW + 1)
        .await
        .expect("upload");
    let third = vid(3);
    let mut o = new_video(u.id, &third, "recording", &[]);
    o.source_id = Some(other.id);
    db.create_video(&o, NOW + 2).await.expect("other recording");

    // The first publishing session (generation 7) writes part 1.
    assert_eq!(
        db.bump_recording_part(rec.id, 7, NOW).await.expect("bump"),
        Some(1)
    );
    let live = db
        .open_recording_for_source(s.id, NOW + HOUR_LATER)
        .await
        .expect("q")
        .expect("live: no end yet");
    assert_eq!(
        (
            live.id,
            live.recording_parts,
            live.recording_generation,
            live.live_ended_at
        ),
        (rec.id, 1, Some(7), None)
    );
    // The session ends at NOW + 10 min.
    let ended = NOW + 10 * MINUTE;
    assert!(!db
        .end_recording_part(rec.id, 6, ended)
        .await
        .expect("not its session"));
    assert!(db.end_recording_part(rec.id, 7, ended).await.expect("end"));
    assert!(!db
        .end_recording_part(rec.id, 7, ended + 1)
        .await
        .expect("already ended"));
    // A republish one minute later with a two-minute window continues it as part 2.
    let found = db
        .open_recording_for_source(s.id, ended + MINUTE - 2 * MINUTE)
        .await
        .expect("q")
        .expect("within the window");
    assert_eq!(found.id, rec.id);
    assert_eq!(found.live_ended_at, Some(ended));
    assert_eq!(
        db.bump_recording_part(rec.id, 8, ended + MINUTE)
            .await
            .expect("bump"),
        Some(2)
    );
    let again = db.video_by_id(rec.id).await.expect("q").expect("video");
    assert_eq!(
        (
            again.recording_parts,
            again.recording_generation,
            again.live_ended_at,
            again.status.as_str()
        ),
        (2, Some(8), None, "recording")
    );
    // The old session ending late does not end the new one.
    assert!(!db
        .end_recording_part(rec.id, 7, ended + 2 * MINUTE)
        .await
        .expect("stale"));
    assert!(db
        .end_recording_part(rec.id, 8, ended + 5 * MINUTE)
        .await
        .expect("end"));
    // Past the window: nothing to continue.
    assert_eq!(
        db.open_recording_for_source(s.id, ended + 5 * MINUTE + 1)
            .await
            .expect("q"),
        None
    );
    // Only recordings have parts.
    let upload = db.video_by_uuid(&vid(2)).await.expect("q").expect("upload");
    assert_eq!(
        db.bump_recording_part(upload.id, 9, NOW)
            .await
            .expect("bump"),
        None
    );
}

async fn deleting_a_user_or_source_cascades(db: &Db) {
    let u = user(db, "gone@example.com").await;
    let keep = user(db, "stays@example.com").await;
    let s = source(db, u.id, "cam").await;
    let first = vid(1);
    let mut nv = new_video(u.id, &first, "recording", &[]);
    nv.source_id = Some(s.id);
    let rec = db.create_video(&nv, NOW).await.expect("recording");
    let kept = db
        .create_video(&new_video(keep.id, &vid(2), "upload", &[]), NOW)
        .await
        .expect("kept");
    let job = db
        .enqueue_job("probe", Some(rec.id), &serde_json::json!({}), NOW, 3, NOW)
        .await
        .expect("job");
    let meta = BTreeMap::new();
    db.create_upload(
        &NewUpload {
            uuid: "up-gone",
            user_id: u.id,
            video_id: Some(rec.id),
            length: 10,
            metadata: &meta,
            node: "n1",
            expires_at: NOW + DAY,
        },
        NOW,
    )
    .await
    .expect("upload");

    // A deleted source keeps its recordings, unlinked.
    assert!(db.delete_source(s.id).await.expect("delete source"));
    let orphan = db.video_by_id(rec.id).await.expect("q").expect("kept");
    assert_eq!(orphan.source_id, None);

    // A deleted user takes their videos, and with them their jobs and uploads.
    delete_user(db, u.id).await;
    assert_eq!(db.video_by_id(rec.id).await.expect("q"), None);
    assert_eq!(db.job_by_id(job.id).await.expect("q"), None);
    assert_eq!(db.upload_by_uuid("up-gone").await.expect("q"), None);
    assert_eq!(db.video_by_id(kept.id).await.expect("q"), Some(kept));
}

fn upload<'a>(uuid: &'a str, user_id: i64, meta: &'a BTreeMap<String, String>) -> NewUpload<'a> {
    NewUpload {
        uuid,
        user_id,
        video_id: None,
        length: 300,
        metadata: meta,
        node: "node-a",
        expires_at: NOW + DAY,
    }
}

async fn uploads_advance_from_the_offset_read(db: &Db) {
    let u = user(db, "uploader@example.com").await;
    let stranger = user(db, "stranger@example.com").await;
    let meta = BTreeMap::from([
        ("filename".to_string(), "clip.mp4".to_string()),
        ("filetype".to_string(), "video/mp4".to_string()),
    ]);
    let up = db
        .create_upload(&upload("u1", u.id, &meta), NOW)
        .await
        .expect("create");
    assert_eq!(
        (
            up.uuid.as_str(),
            up.user_id,
            up.length,
            up.received,
            up.metadata.clone(),
            up.node.as_str(),
            up.expires_at,
            up.completed_at
        ),
        ("u1", u.id, 300, 0, meta.clone(), "node-a", NOW + DAY, None)
    );
    assert!(!up.is_complete());
    assert_eq!(db.upload_by_uuid("u1").await.expect("q"), Some(up.clone()));
    assert_eq!(
        db.upload_of_user("u1", u.id).await.expect("q"),
        Some(up.clone())
    );
    assert_eq!(
        db.upload_of_user("u1", stranger.id).await.expect("q"),
        None,
        "someone else's"
    );
    let dup = db
        .create_upload(&upload("u1", u.id, &meta), NOW)
        .await
        .expect_err("dup");
    assert!(matches!(dup, DbError::Conflict), "{dup:?}");
    // Bounded metadata and a sane length.
    let huge = BTreeMap::from([("filename".to_string(), "x".repeat(MAX_METADATA_BYTES))]);
    let e = db
        .create_upload(&upload("u2", u.id, &huge), NOW)
        .await
        .expect_err("too big");
    assert!(matches!(e, DbError::Invalid(_)), "{e:?}");
    let mut negative = upload("u3", u.id, &meta);
    negative.length = -1;
    assert!(matches!(
        db.create_upload(&negative, NOW).await,
        Err(DbError::Invalid(_))
    ));
    assert_eq!(db.pending_upload_bytes(u.id).await.expect("sum"), 300);

    // Offsets only move from where they are, forward, within the length.
    assert!(db
        .advance_upload("u1", 0, 100, NOW + DAY + 1, NOW + 1)
        .await
        .expect("0→100"));
    assert!(!db
        .advance_upload("u1", 0, 150, NOW + DAY, NOW + 2)
        .await
        .expect("stale offset"));
    assert!(!db
        .advance_upload("u1", 100, 301, NOW + DAY, NOW + 2)
        .await
        .expect("past length"));
    assert!(!db
        .advance_upload("u1", 100, 50, NOW + DAY, NOW + 2)
        .await
        .expect("backwards"));
    assert!(!db
        .complete_upload("u1", None, NOW + 2)
        .await
        .expect("short"));
    assert!(db
        .advance_upload("u1", 100, 300, NOW + DAY + 3, NOW + 3)
        .await
        .expect("100→300"));
    let full = db.upload_by_uuid("u1").await.expect("q").expect("upload");
    assert_eq!(
        (full.received, full.expires_at, full.updated_at),
        (300, NOW + DAY + 3, NOW + 3)
    );
    assert!(full.is_complete());

    // Completion links the video and ends the offset's movement and the expiry.
    let v = db
        .create_video(&new_video(u.id, &vid(1), "upload", &[]), NOW)
        .await
        .expect("video");
    assert!(db
        .complete_upload("u1", Some(v.id), NOW + 4)
        .await
        .expect("complete"));
    assert!(!db
        .complete_upload("u1", Some(v.id), NOW + 5)
        .await
        .expect("twice"));
    let done = db.upload_by_uuid("u1").await.expect("q").expect("upload");
    assert_eq!(
        (done.video_id, done.completed_at),
        (Some(v.id), Some(NOW + 4))
    );
    assert!(!db
        .advance_upload("u1", 300, 300, NOW + DAY, NOW + 5)
        .await
        .expect("complete"));
    assert_eq!(db.pending_upload_bytes(u.id).await.expect("sum"), 0);

    // Abandoned uploads expire; complete ones never do.
    let mut a = upload("u4", u.id, &meta);
    a.expires_at = NOW + 2 * DAY;
    db.create_upload(&a, NOW).await.expect("u4");
    let mut b = upload("u5", u.id, &meta);
    b.expires_at = NOW + DAY + 10;
    db.create_upload(&b, NOW).await.expect("u5");
    let expired = |v: Vec<ferrocast_db::uploads::UploadRecord>| {
        v.into_iter().map(|u| u.uuid).collect::<Vec<_>>()
    };
    assert_eq!(
        expired(db.expired_uploads(NOW + DAY + 9, 10).await.expect("q")),
        Vec::<String>::new()
    );
    assert_eq!(
        expired(db.expired_uploads(NOW + 3 * DAY, 10).await.expect("q")),
        vec!["u5", "u4"]
    );
    assert_eq!(
        expired(db.expired_uploads(NOW + 3 * DAY, 1).await.expect("q")),
        vec!["u5"]
    );
    // Termination deletes it and says what it was, once.
    let gone = db
        .delete_upload("u5")
        .await
        .expect("delete")
        .expect("was there");
    assert_eq!(gone.uuid, "u5");
    assert_eq!(db.delete_upload("u5").await.expect("again"), None);
}

async fn concurrent_appends_at_one_offset_record_one(db: &Db) {
    let u = user(db, "race@example.com").await;
    let meta = BTreeMap::new();
    db.create_upload(&upload("race", u.id, &meta), NOW)
        .await
        .expect("create");
    for round in 0..5_i64 {
        let from = round * 50;
        let mut tasks = Vec::new();
        for writer in 0..4_i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.advance_upload("race", from, from + 10 + writer, NOW + DAY, NOW)
                    .await
                    .expect("advance")
            }));
        }
        let mut won = Vec::new();
        for (writer, t) in tasks.into_iter().enumerate() {
            if t.await.expect("task") {
                won.push(writer as i64);
            }
        }
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one append at {from} wins: {won:?}"
        );
        let now_at = db
            .upload_by_uuid("race")
            .await
            .expect("q")
            .expect("upload")
            .received;
        assert_eq!(now_at, from + 10 + won[0]);
        // Move to the next round's offset.
        assert!(db
            .advance_upload("race", now_at, (round + 1) * 50, NOW + DAY, NOW)
            .await
            .expect("advance"));
    }
}
