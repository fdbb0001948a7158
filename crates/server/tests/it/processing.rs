//! Processing uploads with real ffprobe and ffmpeg: a hostile corpus (random bytes, a truncated
//! MP4, text, a picture, a picture size no player should decode — a few hundred KB that decode
//! to 192 MB a frame — a file claiming two days, a file of 25 streams) is refused with a clear
//! reason and not retried while the node keeps serving; valid files become ready by the copy
//! path (H.264/AAC) and the transcode path (VP9/Opus, MPEG-4 Part 2); and a job whose node
//! stops mid-way is taken over by another node once its lease runs out and finishes once.
//!
//! Uploads are arranged as the tus API leaves them: the file at `videos/<uuid>/source`, a video
//! row in `processing`, a `process_upload` job.

use crate::recording::{codecs, db, download_video, duration_secs, plays, probe, storage};
use crate::support::{
    self, client, metric_value, register_user, require, Backend, Options, TestApp,
};
use ferrocast_db::videos::{NewVideo, VideoRecord};
use ferrocast_db::Db;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn scratch() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ferrocast-proc-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

/// Runs ffmpeg to make a test file.
pub fn make(args: &[&str], out: &Path) {
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "making {}", out.display());
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    register_user(app, email, "Uploader").await;
    db(app)
        .await
        .user_by_email(email)
        .await
        .expect("user")
        .expect("exists")
        .id
}

/// Stores `file` as an upload's source and queues its processing; the video.
pub async fn upload(app: &TestApp, db: &Db, user: i64, file: &Path) -> VideoRecord {
    let uuid = ferrocast_server::service::recordings::new_video_uuid();
    let title = file.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let video = db
        .create_video(
            &NewVideo {
                uuid: &uuid,
                user_id: user,
                source_id: None,
                kind: "upload",
                title,
                description: "",
                tags: &[],
                visibility: "public",
                status: "processing",
                expires_at: None,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("video");
    storage(app)
        .put_file(&format!("videos/{uuid}/source"), file)
        .await
        .expect("source stored");
    app.running
        .as_ref()
        .expect("running")
        .state
        .pipeline
        .jobs
        .enqueue("process_upload", video.id, ferrocast_db::now_ms())
        .await
        .expect("job");
    video
}

pub async fn settled(db: &Db, id: i64, within: Duration) -> VideoRecord {
    let deadline = Instant::now() + within;
    loop {
        let v = db.video_by_id(id).await.expect("video").expect("exists");
        if v.status == "ready" || v.status == "failed" {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "not settled in {within:?}: {v:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn hostile_files_are_refused_and_valid_ones_processed(b: Backend) {
    require("ffmpeg");
    require("ffprobe");
    let opts = Options {
        extra: vec![("job_workers", "2".into())],
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let db = db(&app).await;
    let user = user_id(&app, "up@example.com").await;
    let dir = scratch();

    // The hostile corpus.
    let random = dir.join("random.mp4");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let noise: Vec<u8> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&random, noise).expect("write");
    let whole = dir.join("whole.mp4");
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
        ],
        &whole,
    );
    let bytes = std::fs::read(&whole).expect("read");
    let truncated = dir.join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let text = dir.join("notes.mp4");
    std::fs::write(&text, "These are my notes, not a video.\n".repeat(200)).expect("write");
    let png = dir.join("picture.mp4");
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=red:size=64x64",
            "-frames:v",
            "1",
            "-f",
            "image2",
            "-c:v",
            "png",
        ],
        &png,
    );
    let huge = dir.join("huge.mkv");
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=blue:size=8000x8000:rate=1",
            "-frames:v",
            "1",
            "-c:v",
            "mjpeg",
        ],
        &huge,
    );
    // Two frames a day apart: a few KB that claim two days of video.
    let long = dir.join("long.mkv");
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=red:size=64x64:rate=1/86400",
            "-frames:v",
            "3",
            "-c:v",
            "mjpeg",
        ],
        &long,
    );
    // One tone in 25 audio streams: more streams than any upload needs.
    let streams = dir.join("streams.mkv");
    let mut args = vec!["-f", "lavfi", "-i", "sine=frequency=440", "-t", "1"];
    for _ in 0..25 {
        args.extend(["-map", "0:a"]);
    }
    args.extend(["-c:a", "pcm_s16le"]);
    make(&args, &streams);
    let mut hostile = Vec::new();
    for (file, says) in [
        (&random, "not a video or audio file"),
        (&truncated, "not a video or audio file"),
        (&text, ""),
        (&png, "picture"),
        (&huge, "8000×8000"),
        (&long, "at most 12 hours"),
        (&streams, "25 streams"),
    ] {
        hostile.push((upload(&app, &db, user, file).await, says));
    }

    // Valid files: H.264/AAC (copied), VP9/Opus vertical (transcoded, a short), MPEG-4 Part 2.
    let h264 = dir.join("h264.mp4");
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-t",
            "6",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
        &h264,
    );
    let vp9 = dir.join("vertical.webm");
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=360x640:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330",
            "-t",
            "5",
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "300k",
            "-c:a",
            "libopus",
        ],
        &vp9,
    );
    let mpeg4 = dir.join("old.avi");
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=480x270:rate=25",
            "-t",
            "5",
            "-c:v",
            "mpeg4",
        ],
        &mpeg4,
    );
    let copy = upload(&app, &db, user, &h264).await;
    let short = upload(&app, &db, user, &vp9).await;
    let old = upload(&app, &db, user, &mpeg4).await;

    for (v, says) in &hostile {
        let v = settled(&db, v.id, Duration::from_secs(120)).await;
        assert_eq!(v.status, "failed", "{v:#?}");
        let failure = v.failure.clone().unwrap_or_default();
        assert!(
            failure.len() > 20 && failure.contains(says),
            "{}: {failure}",
            v.title
        );
        let jobs = db.jobs_for_video(v.id).await.expect("jobs");
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].state.as_str(), jobs[0].attempts),
            ("failed", 1),
            "not retried: {:?}",
            jobs[0]
        );
        let left = storage(&app)
            .list(&format!("videos/{}", v.uuid))
            .await
            .expect("list");
        assert!(left.is_empty(), "a refused file is not kept: {left:?}");
    }
    // The node still serves.
    let res = client()
        .get(app.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(res.status(), 200);

    for (v, kind, transcoded) in [
        (&copy, "upload", false),
        (&short, "short", true),
        (&old, "upload", true),
    ] {
        let v = settled(&db, v.id, Duration::from_secs(180)).await;
        assert_eq!(v.status, "ready", "{v:#?}");
        assert_eq!(v.kind, kind, "{}", v.title);
        assert!(
            v.has_hls && v.has_mp4 && v.has_thumbnail && v.strip_frames >= 4,
            "{v:#?}"
        );
        assert_eq!(v.video_codec.as_deref(), Some("h264"), "{}", v.title);
        let out = scratch();
        let keys = download_video(&storage(&app), &v.uuid, &out).await;
        assert!(
            !keys.contains(&"source".to_string()),
            "the original is deleted: {keys:?}"
        );
        for k in [
            "hls/index.m3u8",
            "hls/s000000.ts",
            "video.mp4",
            "thumb.jpg",
            "strip.jpg",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
        }
        let hls = out.join("hls/index.m3u8");
        let playlist = std::fs::read_to_string(&hls).expect("playlist");
        assert!(playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{playlist}");
        plays(&hls);
        let p = probe(&hls);
        let c = codecs(&p);
        assert!(c.contains(&"h264".to_string()), "{c:?}");
        if v.title != "old.avi" {
            assert!(c.contains(&"aac".to_string()), "{c:?}");
        }
        let mp4 = probe(&out.join("video.mp4"));
        let d = duration_secs(&mp4);
        assert!((4.5..=6.6).contains(&d), "{}: {d} s", v.title);
        let w = p["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .find_map(|s| s["width"].as_i64());
        assert_eq!(w, v.width, "{}", v.title);
        if !transcoded {
            assert_eq!((v.width, v.height), (Some(640), Some(360)));
        }
        assert_eq!(
            v.size_bytes,
            storage(&app)
                .usage(&format!("videos/{}", v.uuid))
                .await
                .expect("usage") as i64
        );
        let _ = std::fs::remove_dir_all(&out);
    }
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

/// Node A starts a long transcode and stops; node B (same database and storage) takes the job
/// over once A's lease ran out and finishes it: the job is done once, in two attempts.
async fn a_job_whose_node_stops_is_taken_over(b: Backend) {
    require("ffmpeg");
    let shared = scratch();
    let objects = shared.join("objects");
    let settings = |extra: Vec<(&'static str, String)>| {
        let mut v = vec![
            ("job_lease_ms", "2000".to_string()),
            ("storage_url", objects.display().to_string()),
        ];
        v.extend(extra);
        Options {
            extra: v,
            ..Options::default()
        }
    };
    let Some(mut a) = TestApp::start_with(b, settings(vec![])).await else {
        return;
    };
    let db = db(&a).await;
    let user = user_id(&a, "takeover@example.com").await;
    let file = shared.join("long.webm");
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=1280x720:rate=30",
            "-t",
            "40",
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "500k",
        ],
        &file,
    );
    let v = upload(&a, &db, user, &file).await;
    // Wait until A is transcoding.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = db.jobs_for_video(v.id).await.expect("jobs");
        if jobs[0].state == "running" && jobs[0].stage.as_deref() == Some("packaging") {
            break;
        }
        assert!(Instant::now() < deadline, "A never started: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a_node = db.jobs_for_video(v.id).await.expect("jobs")[0]
        .locked_by
        .clone();
    a.running
        .take()
        .expect("running")
        .stop()
        .await
        .expect("A stops");
    // One deployment: the nodes share the database and the master key.
    let mut extra = vec![
        ("database_url", a.database_url.clone()),
        (
            "secret_key",
            data_encoding::HEXLOWER.encode(&a.master_key()),
        ),
    ];
    extra.push(("job_workers", "1".into()));
    let bnode = TestApp::start_with(b, settings(extra))
        .await
        .expect("B starts");
    let v = settled(&db, v.id, Duration::from_secs(300)).await;
    assert_eq!(v.status, "ready", "{v:#?}");
    // The video is marked ready a moment before its job is marked done (two writes).
    let deadline = Instant::now() + Duration::from_secs(30);
    let jobs = loop {
        let jobs = db.jobs_for_video(v.id).await.expect("jobs");
        if jobs.iter().all(|j| j.state != "running") || Instant::now() > deadline {
            break jobs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, "done");
    assert_eq!(jobs[0].attempts, 2, "A's attempt and B's: {:?}", jobs[0]);
    assert_ne!(jobs[0].locked_by, a_node, "B finished it");
    assert_eq!(
        metric_value(&bnode, "ferrocast_jobs_completed_total").await,
        Some(1.0)
    );
    let d = duration_secs(&probe(&{
        let out = scratch();
        download_video(&storage(&bnode), &v.uuid, &out).await;
        out.join("video.mp4")
    }));
    assert!((39.0..=41.0).contains(&d), "{d}");
    bnode.finish().await;
    a.finish().await;
    let _ = std::fs::remove_dir_all(&shared);
}

both_backends!(
    hostile_files_are_refused_and_valid_ones_processed,
    a_job_whose_node_stops_is_taken_over
);

/// `reap_orphans` kills an ffmpeg working on files under the work dir (what a node killed with
/// SIGKILL leaves running) and leaves others alone.
#[test]
fn orphaned_media_processes_are_reaped() {
    require("ffmpeg");
    let dir = scratch();
    let work = std::path::absolute(dir.join("work")).expect("absolute");
    std::fs::create_dir_all(work.join("7")).expect("work dir");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("dir");
    let long_run = |out: &Path| {
        Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i"])
            .args(["testsrc=size=64x64:rate=5", "-t", "120", "-f", "mpegts"])
            .arg(out)
            .spawn()
            .expect("ffmpeg")
    };
    let mut orphan = long_run(&work.join("7/out.ts"));
    let mut other = long_run(&elsewhere.join("out.ts"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        ferrocast_server::service::processing::reap_orphans(&work),
        1
    );
    let status = orphan.wait().expect("wait");
    assert!(!status.success(), "killed: {status:?}");
    assert!(
        other.try_wait().expect("try_wait").is_none(),
        "the other one runs on"
    );
    let _ = other.kill();
    let _ = other.wait();
}
