//! Recording live streams into videos: ffmpeg publishes, the engine records through the
//! server's recording store into the node's storage (local disk, and S3 through moto), and once
//! the finish delay passed the `finish_recording` job packages it — a VOD playlist over the
//! parts' segments, an MP4, a thumbnail and a preview strip. A republish within the delay
//! continues the same video as its next part.

use crate::support::{self, creator_with_source, publish, require, Backend, Options, TestApp};
use ferrocast_db::videos::VideoRecord;
use ferrocast_db::Db;
use ferrocast_storage::Storage;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Settings that make tests quick: the finish delay of 4 s instead of 30.
pub fn fast_pipeline() -> Vec<(&'static str, String)> {
    vec![("recording_finish_delay_ms", "4000".into())]
}

pub fn storage(app: &TestApp) -> Storage {
    app.running.as_ref().expect("running").state.storage.clone()
}

pub async fn db(app: &TestApp) -> Db {
    Db::connect(&app.database_url).await.expect("db")
}

/// Waits until the user's only video of `kind` is `ready` or `failed`.
pub async fn settled_video(db: &Db, user_id: i64, within: Duration) -> VideoRecord {
    let deadline = Instant::now() + within;
    loop {
        let (videos, _) = db.list_videos(user_id, 10, 0).await.expect("videos");
        if let Some(v) = videos
            .iter()
            .find(|v| v.status == "ready" || v.status == "failed")
        {
            assert_eq!(videos.len(), 1, "one video: {videos:#?}");
            return v.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no video settled within {within:?}: {videos:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Copies every object of a video into `dir`, keeping the keys' layout (so relative URIs in
/// playlists resolve as they do over HTTP).
pub async fn download_video(storage: &Storage, uuid: &str, dir: &Path) -> Vec<String> {
    let prefix = format!("videos/{uuid}/");
    let mut keys = Vec::new();
    for (key, _) in storage.list(&format!("videos/{uuid}")).await.expect("list") {
        let rel = key
            .strip_prefix(&prefix)
            .expect("under the prefix")
            .to_string();
        let path = dir.join(&rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        storage
            .download_to_file(&key, &path)
            .await
            .expect("download");
        keys.push(rel);
    }
    keys.sort();
    keys
}

/// ffprobe's JSON of a file.
pub fn probe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

pub fn codecs(probe: &serde_json::Value) -> Vec<String> {
    probe["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["codec_name"].as_str().map(String::from))
        .collect()
}

pub fn duration_secs(probe: &serde_json::Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration")
}

/// Decodes a file (a playlist: every segment) start to end; panics on any error.
pub fn plays(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{} does not play cleanly: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrocast-rec-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

pub async fn user_of(db: &Db, source_id: i64) -> i64 {
    db.source_by_id(source_id)
        .await
        .expect("source")
        .expect("exists")
        .user_id
}

/// Every `expected` key is among the video's stored `keys`, and the row's size is what its
/// objects take.
async fn assert_stored(st: &Storage, video: &VideoRecord, keys: &[String], expected: &[&str]) {
    for k in expected {
        assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
    }
    assert_eq!(
        video.size_bytes,
        st.usage(&format!("videos/{}", video.uuid))
            .await
            .expect("usage") as i64,
        "the row's size is what the objects take"
    );
}

/// 20 s published → a ready `recording` whose playlist plays to the end in ffmpeg, H.264/AAC,
/// 20 s within a GOP; its MP4 probes the same; thumbnail and strip stored.
async fn single_session(app: &TestApp, email: &str) {
    let src = creator_with_source(app, email).await;
    let db = db(app).await;
    let user = user_of(&db, src.id).await;
    let rtmp = app.rtmp_url();
    let key = src.key.clone();
    let status = tokio::task::spawn_blocking(move || publish(&rtmp, &key, 20, &[]).wait())
        .await
        .expect("join")
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg published");
    let video = settled_video(&db, user, Duration::from_secs(90)).await;
    assert_eq!(video.status, "ready", "{video:#?}");
    assert_eq!(video.kind, "recording");
    assert_eq!(video.recording_parts, 1);
    assert!(video.title.starts_with("Main — "), "{}", video.title);
    assert!(
        video.has_hls && video.has_mp4 && video.has_thumbnail,
        "{video:#?}"
    );
    assert!(
        video.strip_frames >= 19 && video.strip_frames <= 20,
        "{}",
        video.strip_frames
    );
    assert_eq!(video.video_codec.as_deref(), Some("h264"));
    assert_eq!(video.audio_codec.as_deref(), Some("aac"));
    let st = storage(app);
    let dir = scratch();
    let keys = download_video(&st, &video.uuid, &dir).await;
    let expected = [
        "hls/index.m3u8",
        "video.mp4",
        "thumb.jpg",
        "strip.jpg",
        "rec/p1/index.m3u8",
        "rec/p1/s000000.ts",
    ];
    assert_stored(&st, &video, &keys, &expected).await;
    let playlist = std::fs::read_to_string(dir.join("hls/index.m3u8")).expect("playlist");
    assert!(
        playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD") && playlist.ends_with("#EXT-X-ENDLIST\n"),
        "{playlist}"
    );
    assert!(playlist.contains("\n../rec/p1/s000000.ts\n"), "{playlist}");
    let hls = dir.join("hls/index.m3u8");
    plays(&hls);
    let p = probe(&hls);
    let mut c = codecs(&p);
    c.sort();
    assert_eq!(c, ["aac", "h264"]);
    let d = duration_secs(&p);
    assert!((d - 20.0).abs() <= 1.05, "playlist lasts {d} s");
    let mp4 = probe(&dir.join("video.mp4"));
    let d = duration_secs(&mp4);
    assert!((d - 20.0).abs() <= 1.05, "mp4 lasts {d} s");
    assert!((video.duration_ms.expect("duration") as f64 / 1000.0 - 20.0).abs() <= 1.05);
    let thumb = probe(&dir.join("thumb.jpg"));
    assert_eq!(thumb["streams"][0]["width"], 640);
    let strip = probe(&dir.join("strip.jpg"));
    assert_eq!(strip["streams"][0]["width"], 1600, "10 columns of 160 px");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two publishes a second apart: one video of two parts, discontinuity between them.
async fn republish_continues(app: &TestApp, email: &str) {
    let src = creator_with_source(app, email).await;
    let db = db(app).await;
    let user = user_of(&db, src.id).await;
    for _ in 0..2 {
        let rtmp = app.rtmp_url();
        let key = src.key.clone();
        let status = tokio::task::spawn_blocking(move || publish(&rtmp, &key, 6, &[]).wait())
            .await
            .expect("join")
            .expect("ffmpeg");
        assert!(status.success());
    }
    let video = settled_video(&db, user, Duration::from_secs(90)).await;
    assert_eq!(video.status, "ready", "{video:#?}");
    assert_eq!(video.recording_parts, 2, "{video:#?}");
    let dir = scratch();
    download_video(&storage(app), &video.uuid, &dir).await;
    let playlist = std::fs::read_to_string(dir.join("hls/index.m3u8")).expect("playlist");
    assert!(
        playlist.contains("../rec/p1/") && playlist.contains("../rec/p2/"),
        "{playlist}"
    );
    assert!(
        playlist.contains("#EXT-X-DISCONTINUITY\n#EXTINF:"),
        "{playlist}"
    );
    let d = duration_secs(&probe(&dir.join("video.mp4")));
    assert!((d - 12.0).abs() <= 2.1, "both parts in the mp4: {d} s");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn live_session_becomes_a_ready_video(b: Backend) {
    require("ffmpeg");
    let opts = Options {
        extra: fast_pipeline(),
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    single_session(&app, "rec@example.com").await;
    let segments = support::metric_value(&app, "ferrocast_recording_segments_total")
        .await
        .expect("recorder counters in /metrics");
    assert!(segments >= 5.0, "{segments} segments");
    assert_eq!(
        support::metric_value(&app, "ferrocast_recordings_started_total").await,
        Some(1.0)
    );
    assert_eq!(
        support::metric_value(&app, "ferrocast_jobs_completed_total").await,
        Some(1.0)
    );
    app.finish().await;
}

async fn republish_within_the_delay_continues_the_video(b: Backend) {
    require("ffmpeg");
    let opts = Options {
        extra: fast_pipeline(),
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    republish_continues(&app, "again@example.com").await;
    app.finish().await;
}

both_backends!(
    live_session_becomes_a_ready_video,
    republish_within_the_delay_continues_the_video
);

/// A stream with an adaptive-bitrate ladder is recorded with its renditions: the VOD's
/// `hls/index.m3u8` is a multivariant playlist of the source and each rendition (served over
/// `/vod/…`, where ffprobe reads each variant at its picture size), every variant plays to the
/// end, its segments are counted in the video's size, and the MP4 is the source's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renditions_are_recorded_and_play_as_a_multivariant_vod() {
    require("ffmpeg");
    require("ffprobe");
    let (app, plans) = support::node_with_ladder_and(&["360p", "240p"], "2", fast_pipeline()).await;
    let src = creator_with_source(&app, "abr-rec@example.com").await;
    let db = db(&app).await;
    let user = user_of(&db, src.id).await;
    let rtmp = app.rtmp_url();
    let key = src.key.clone();
    let status = tokio::task::spawn_blocking(move || {
        publish(&rtmp, &key, 16, &["-vf", "scale=854:480"]).wait()
    })
    .await
    .expect("join")
    .expect("ffmpeg");
    assert!(status.success(), "ffmpeg published");
    let video = settled_video(&db, user, Duration::from_secs(120)).await;
    assert_eq!(video.status, "ready", "{video:#?}");
    assert_eq!((video.width, video.height), (Some(854), Some(480)));

    let st = storage(&app);
    let dir = scratch();
    let keys = download_video(&st, &video.uuid, &dir).await;
    let expected = [
        "hls/index.m3u8",
        "hls/source.m3u8",
        "hls/360p.m3u8",
        "hls/240p.m3u8",
        "rec/p1/360p/index.m3u8",
        "rec/p1/360p/s000000.ts",
        "rec/p1/240p/s000000.ts",
    ];
    // The renditions count in the video's size too.
    assert_stored(&st, &video, &keys, &expected).await;
    let index = std::fs::read_to_string(dir.join("hls/index.m3u8")).expect("index");
    let lines: Vec<&str> = index.lines().collect();
    assert_eq!(lines[0], "#EXTM3U", "{index}");
    let listed: Vec<(String, String)> = lines
        .windows(2)
        .filter_map(|w| {
            let attrs = w[0].strip_prefix("#EXT-X-STREAM-INF:")?;
            let resolution = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("RESOLUTION="))?;
            Some((w[1].to_string(), resolution.to_string()))
        })
        .collect();
    let expected = [
        ("source.m3u8", "854x480"),
        ("360p.m3u8", "640x360"),
        ("240p.m3u8", "428x240"),
    ];
    assert_eq!(
        listed,
        expected.map(|(u, r)| (u.to_string(), r.to_string())),
        "{index}"
    );
    let rendition = std::fs::read_to_string(dir.join("hls/360p.m3u8")).expect("360p");
    assert!(
        rendition.contains("\n../rec/p1/360p/s000000.ts\n")
            && rendition.ends_with("#EXT-X-ENDLIST\n"),
        "{rendition}"
    );
    for (uri, resolution) in expected {
        // Over HTTP, as a player gets it.
        let url = app.url(&format!("/vod/{}/hls/{uri}", video.uuid));
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .args(["stream=width,height:format=duration", "-of", "csv=p=0:s=x"])
            .arg(&url)
            .output()
            .expect("ffprobe");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.lines().next() == Some(resolution),
            "{url}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = dir.join("hls").join(uri);
        plays(&path);
        let d = duration_secs(&probe(&path));
        assert!((d - 16.0).abs() <= 2.1, "{uri} lasts {d} s");
    }
    let mp4 = probe(&dir.join("video.mp4"));
    assert_eq!(mp4["streams"][0]["height"], 480, "the MP4 is the source's");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&plans);
    app.finish().await;
}

/// The whole flow with the objects in an S3-compatible bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_flow_on_s3() {
    require("ffmpeg");
    let Some(moto) = support::s3::Moto::start() else {
        return;
    };
    moto.create_bucket("ferrocast-rec").await;
    let mut extra = fast_pipeline();
    extra.extend(moto.node_settings("ferrocast-rec", "objects"));
    let Some(app) = TestApp::start_with(
        Backend::Sqlite,
        Options {
            extra,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    assert!(storage(&app).is_remote());
    single_session(&app, "s3rec@example.com").await;
    republish_continues(&app, "s3again@example.com").await;
    // Nothing went to the local disk.
    assert!(!app.data_dir.join("objects/videos").exists());
    app.finish().await;
}
