//! Resumable uploads (tus 1.0) against a real node: the stock `tus-js-client` aborting and
//! resuming, curl in three PATCH requests, and the refusals (offset, version, size, quota,
//! ownership, checksum), termination and the expiry sweep; on both databases.

use crate::support;
use crate::support::s3::make_mp4;
use crate::support::{client, register_user, Backend, Options, TestApp};
use ferrocast_server::service::uploads::EXPIRES_AFTER_MS;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn state(app: &TestApp) -> &ferrocast_server::state::AppState {
    &app.running.as_ref().expect("running").state
}

fn b64(s: &str) -> String {
    data_encoding::BASE64.encode(s.as_bytes())
}

/// A generated MP4 of about 6 MB.
fn six_mb_mp4(dir: &Path) -> (PathBuf, Vec<u8>) {
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("upload.mp4");
    make_mp4(&path, 12, "4M");
    let bytes = std::fs::read(&path).expect("read");
    assert!(
        (4_000_000..9_000_000).contains(&bytes.len()),
        "about 6 MB: {} bytes",
        bytes.len()
    );
    (path, bytes)
}

/// After a complete upload: the source is in storage byte for byte, the video is processing
/// with a process_upload job, its size counted, the staging file gone.
async fn assert_finished(app: &TestApp, token: &str, video_id: &str, bytes: &[u8]) {
    let st = state(app);
    let source = st
        .storage
        .get(&format!("videos/{video_id}/source"), 64 << 20)
        .await
        .expect("the source object");
    assert_eq!(
        Sha256::digest(&source),
        Sha256::digest(bytes),
        "the stored source is the file"
    );
    let v = st
        .db
        .video_by_uuid(video_id)
        .await
        .expect("db")
        .expect("video");
    assert_eq!(v.status, "processing");
    assert_eq!(v.size_bytes, bytes.len() as i64);
    let jobs = st.db.jobs_for_video(v.id).await.expect("jobs");
    assert!(
        jobs.iter().any(|j| j.kind == "process_upload"),
        "processing is queued: {jobs:?}"
    );
    assert!(
        !app.data_dir.join("uploads").join(video_id).exists(),
        "the staging file is removed"
    );
    let res = client()
        .get(app.url(&format!("/api/videos/{video_id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("video");
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.expect("json");
    assert_eq!(view["status"], "processing");
    assert_eq!(view["title"], "My clip");
}

async fn tus_js_client_aborts_and_resumes(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    tus_js_client_upload(&app).await;
    app.finish().await;
}

/// The stock tus-js-client uploads a 6 MB MP4, aborts half-way and resumes from where the
/// server says it is; the upload is complete and queued for processing. Returns the token and
/// the video's id.
async fn tus_js_client_upload(app: &TestApp) -> (String, String) {
    let token = register_user(app, "up@example.com", "Uploader").await;
    let work = app.data_dir.join("gen");
    let (path, bytes) = six_mb_mp4(&work);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        dir.join("node_modules/tus-js-client/package.json").exists(),
        "tus-js-client is required: run scripts/test.sh (it runs npm ci in {})",
        dir.display()
    );
    let params = json!({
        "endpoint": app.url("/api/uploads"),
        "token": token,
        "file": path,
        "chunkSize": 1024 * 1024,
        "title": "My clip",
        "urlStorage": work.join("tus-urls.json"),
    });
    let out = tokio::process::Command::new("node")
        .arg(dir.join("tus.mjs"))
        .arg(params.to_string())
        .output()
        .await
        .expect("node is required: run scripts/test.sh");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "tus.mjs printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "tus-js-client failed: {report}");
    assert_eq!(
        report["previous"], 1,
        "the aborted upload was found: {report}"
    );
    assert_eq!(report["firstUrl"], report["secondUrl"], "{report}");
    let video_id = report["videoId"].as_str().expect("X-Video-Id").to_string();
    assert!(
        report["firstUrl"]
            .as_str()
            .expect("url")
            .ends_with(&format!("/api/uploads/{video_id}")),
        "{report}"
    );
    // The resumed upload asked where it was (HEAD) and went on from there, not from 0.
    let events = report["events"].as_array().expect("events");
    let resume = report["eventsBeforeResume"].as_u64().expect("index") as usize;
    let head = &events[resume];
    assert_eq!(head["method"], "HEAD", "{report}");
    let resumed_at: u64 = head["offset"]
        .as_str()
        .expect("offset")
        .parse()
        .expect("number");
    let aborted_at = report["abortedAt"].as_u64().expect("aborted");
    assert!(
        resumed_at > 0 && resumed_at <= aborted_at && resumed_at < bytes.len() as u64,
        "resumed at {resumed_at}, aborted at {aborted_at}: {report}"
    );
    assert_eq!(
        events.last().expect("last")["offset"],
        bytes.len().to_string(),
        "{report}"
    );
    assert_finished(app, &token, &video_id, &bytes).await;
    (token, video_id)
}

/// The same upload to a node whose storage is an S3-compatible bucket (moto's server): the
/// source lands in the bucket, processing takes it from there to a ready video whose HLS
/// playlist and MP4 (read back from the bucket) play cleanly in ffmpeg, served over HTTP with
/// ranges; nothing of it stays on the node's disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_on_s3_ends_as_a_playable_video() {
    support::require("ffmpeg");
    let Some(moto) = support::s3::Moto::start() else {
        return;
    };
    moto.create_bucket("ferrocast-up").await;
    let Some(app) = TestApp::start_with(
        Backend::Sqlite,
        Options {
            extra: moto.node_settings("ferrocast-up", "objects"),
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    assert!(state(&app).storage.is_remote());
    let (token, video_id) = tus_js_client_upload(&app).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let video = loop {
        let v = state(&app)
            .db
            .video_by_uuid(&video_id)
            .await
            .expect("db")
            .expect("video");
        if v.status == "ready" || v.status == "failed" {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not processed: {v:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(video.status, "ready", "{video:#?}");
    assert!(
        video.has_hls && video.has_mp4 && video.has_thumbnail,
        "{video:#?}"
    );
    let dir = app.data_dir.join("from-s3");
    let keys = crate::recording::download_video(&state(&app).storage, &video_id, &dir).await;
    assert!(keys.iter().any(|k| k == "hls/index.m3u8"), "{keys:?}");
    crate::recording::plays(&dir.join("hls/index.m3u8"));
    crate::recording::plays(&dir.join("video.mp4"));
    // Served from the bucket with ranges.
    let view: Value = client()
        .get(app.url(&format!("/api/videos/{video_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("video")
        .json()
        .await
        .expect("json");
    let mp4 = view["playback"]["mp4"]
        .as_str()
        .expect("mp4 url")
        .to_string();
    let res = client()
        .get(app.url(&mp4))
        .header("Range", "bytes=0-99")
        .send()
        .await
        .expect("range");
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.expect("body").len(), 100);
    assert!(!app.data_dir.join("objects/videos").exists());
    assert!(std::fs::read_dir(app.data_dir.join("uploads"))
        .map(|d| d.count() == 0)
        .unwrap_or(true));
    app.finish().await;
}

/// Runs curl; (status, headers).
async fn curl(args: &[String]) -> (u16, String) {
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-", "--max-time", "60"])
        .args(args)
        .output()
        .await
        .expect("curl is required");
    let all = String::from_utf8_lossy(&out.stdout).to_string();
    // The final response (after any `100 Continue`).
    let text = all[all.rfind("HTTP/").unwrap_or(0)..].to_string();
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text.to_ascii_lowercase())
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim()))
}

async fn curl_in_three_patches(b: Backend) {
    let opts = Options {
        extra: vec![("cors_origins", "https://app.example".into())],
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let token = register_user(&app, "curl@example.com", "Curl").await;
    let c = client();
    // A browser on another allowed origin may speak tus: its headers pass the preflight and
    // the answers' headers are readable.
    let res = c
        .request(reqwest::Method::OPTIONS, app.url("/api/uploads/abc"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "PATCH")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type,tus-resumable,upload-offset,upload-checksum",
        )
        .send()
        .await
        .expect("preflight");
    assert!(res.status().is_success(), "{}", res.status());
    let allowed = res.headers()["access-control-allow-headers"]
        .to_str()
        .expect("text")
        .to_ascii_lowercase();
    for h in [
        "tus-resumable",
        "upload-offset",
        "upload-checksum",
        "upload-length",
        "upload-metadata",
    ] {
        assert!(allowed.contains(h), "{h} allowed: {allowed}");
    }
    let res = c
        .post(app.url("/api/uploads"))
        .header("Origin", "https://app.example")
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "1")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 201);
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .expect("text")
        .to_ascii_lowercase();
    for h in [
        "location",
        "upload-offset",
        "tus-resumable",
        "x-video-id",
        "tus-max-size",
    ] {
        assert!(exposed.contains(h), "{h} exposed: {exposed}");
    }
    let cors_location = res.headers()["location"].to_str().expect("l").to_string();
    assert_eq!(
        c.delete(app.url(&cors_location))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .expect("delete")
            .status(),
        204
    );

    let work = app.data_dir.join("gen");
    let (_, bytes) = six_mb_mp4(&work);
    let auth = format!("Authorization: Bearer {token}");
    let (s, h) = curl(&[
        "-X".into(),
        "POST".into(),
        "-H".into(),
        auth.clone(),
        "-H".into(),
        "Tus-Resumable: 1.0.0".into(),
        "-H".into(),
        format!("Upload-Length: {}", bytes.len()),
        "-H".into(),
        format!(
            "Upload-Metadata: filename {},title {}",
            b64("clip.mp4"),
            b64("My clip")
        ),
        app.url("/api/uploads"),
    ])
    .await;
    assert_eq!(s, 201, "{h}");
    let location = header(&h, "location").expect("Location").to_string();
    let video_id = header(&h, "x-video-id").expect("X-Video-Id").to_string();
    assert_eq!(location, format!("/api/uploads/{video_id}"));
    assert_eq!(header(&h, "tus-resumable"), Some("1.0.0"));
    let third = bytes.len() / 3 + 1;
    let mut offset = 0;
    for (i, chunk) in bytes.chunks(third).enumerate() {
        let part = work.join(format!("part{i}"));
        std::fs::write(&part, chunk).expect("part");
        let (s, h) = curl(&[
            "-X".into(),
            "PATCH".into(),
            "-H".into(),
            auth.clone(),
            "-H".into(),
            "Tus-Resumable: 1.0.0".into(),
            "-H".into(),
            "Content-Type: application/offset+octet-stream".into(),
            "-H".into(),
            format!("Upload-Offset: {offset}"),
            "--data-binary".into(),
            format!("@{}", part.display()),
            app.url(&location),
        ])
        .await;
        assert_eq!(s, 204, "part {i}: {h}");
        offset += chunk.len();
        assert_eq!(
            header(&h, "upload-offset"),
            Some(offset.to_string().as_str())
        );
    }
    assert_eq!(offset, bytes.len());
    let (s, h) = curl(&[
        "-I".into(),
        "-H".into(),
        auth,
        "-H".into(),
        "Tus-Resumable: 1.0.0".into(),
        app.url(&location),
    ])
    .await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(
        header(&h, "upload-offset"),
        Some(offset.to_string().as_str())
    );
    assert_eq!(
        header(&h, "upload-length"),
        Some(offset.to_string().as_str())
    );
    assert_eq!(header(&h, "cache-control"), Some("no-store"));
    assert_finished(&app, &token, &video_id, &bytes).await;
    app.finish().await;
}

async fn create(app: &TestApp, token: &str, length: u64) -> reqwest::Response {
    client()
        .post(app.url("/api/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string())
        .header(
            "Upload-Metadata",
            format!("filename {},kind {}", b64("short.mp4"), b64("short")),
        )
        .send()
        .await
        .expect("create")
}

async fn patch(
    app: &TestApp,
    token: &str,
    location: &str,
    offset: u64,
    body: &'static [u8],
    checksum: Option<&str>,
) -> reqwest::Response {
    let mut req = client()
        .patch(app.url(location))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .body(body);
    if let Some(c) = checksum {
        req = req.header("Upload-Checksum", c);
    }
    req.send().await.expect("patch")
}

async fn offset_of(app: &TestApp, token: &str, location: &str) -> (u16, Option<String>) {
    let res = client()
        .head(app.url(location))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("head");
    (
        res.status().as_u16(),
        res.headers()
            .get("upload-offset")
            .map(|v| v.to_str().expect("text").to_string()),
    )
}

async fn refusals_termination_and_expiry(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let token = register_user(&app, "tus@example.com", "Tus").await;
    let other = register_user(&app, "someone@example.com", "Someone").await;
    let c = client();

    // Discovery.
    let res = c
        .request(reqwest::Method::OPTIONS, app.url("/api/uploads"))
        .send()
        .await
        .expect("options");
    assert_eq!(res.status(), 204);
    let h = res.headers();
    assert_eq!(h["tus-version"], "1.0.0");
    assert_eq!(h["tus-extension"], "creation,termination,checksum");
    assert_eq!(h["tus-checksum-algorithm"], "sha1");
    let max: i64 = h["tus-max-size"]
        .to_str()
        .expect("text")
        .parse()
        .expect("number");
    let (plan, _) = state(&app)
        .db
        .user_plan(
            state(&app)
                .db
                .user_by_email("tus@example.com")
                .await
                .expect("db")
                .expect("user")
                .id,
        )
        .await
        .expect("plan");
    let mine = c
        .request(reqwest::Method::OPTIONS, app.url("/api/uploads"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("options");
    assert_eq!(
        mine.headers()["tus-max-size"],
        plan.spec.max_upload_bytes().to_string().as_str()
    );
    assert!(max >= plan.spec.max_upload_bytes());

    // Creation refusals.
    let res = c
        .post(app.url("/api/uploads"))
        .bearer_auth(&token)
        .header("Upload-Length", "10")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 412, "no Tus-Resumable");
    assert_eq!(res.headers()["tus-version"], "1.0.0");
    let res = c
        .post(app.url("/api/uploads"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400, "no Upload-Length");
    let too_big = plan.spec.max_upload_bytes() as u64 + 1;
    let res = create(&app, &token, too_big).await;
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.expect("json");
    assert!(
        body["details"].as_str().expect("details").contains("MB"),
        "{body}"
    );
    assert_eq!(
        c.post(app.url("/api/uploads"))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", "10")
            .send()
            .await
            .expect("post")
            .status(),
        401
    );

    // The storage quota counts unfinished uploads.
    let quota = plan.spec.max_storage_bytes() as u64;
    let big = quota.min(plan.spec.max_upload_bytes() as u64) - 1000;
    let res = create(&app, &token, big).await;
    assert_eq!(res.status(), 201);
    let big_location = res.headers()["location"].to_str().expect("l").to_string();
    // (The default plan's quota and upload size are equal, so the second upload is over.)
    if big + 2000 > quota {
        let res = create(&app, &token, 2000).await;
        assert_eq!(res.status(), 413, "over the quota with the pending upload");
        let body: Value = res.json().await.expect("json");
        assert!(
            body["details"].as_str().expect("d").contains("storage"),
            "{body}"
        );
    }
    // Termination frees it.
    let res = c
        .delete(app.url(&big_location))
        .bearer_auth(&other)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 404, "someone else's upload");
    let res = c
        .delete(app.url(&big_location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 204);
    assert_eq!(offset_of(&app, &token, &big_location).await.0, 404);
    let big_id = big_location.rsplit('/').next().expect("id");
    assert!(state(&app)
        .db
        .video_by_uuid(big_id)
        .await
        .expect("db")
        .is_none());
    assert!(!app.data_dir.join("uploads").join(big_id).exists());

    // Offsets, ownership, content type, checksum.
    let res = create(&app, &token, 10).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().expect("l").to_string();
    let id = location.rsplit('/').next().expect("id").to_string();
    let v = state(&app)
        .db
        .video_by_uuid(&id)
        .await
        .expect("db")
        .expect("video");
    assert_eq!((v.kind.as_str(), v.status.as_str()), ("short", "uploading"));
    assert_eq!(v.title, "short");
    let res = patch(&app, &token, &location, 5, b"hello", None).await;
    assert_eq!(res.status(), 409, "wrong offset");
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    assert_eq!(
        patch(&app, &other, &location, 0, b"hello", None)
            .await
            .status(),
        404
    );
    assert_eq!(offset_of(&app, &other, &location).await.0, 404);
    let res = c
        .patch(app.url(&location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/json")
        .header("Upload-Offset", "0")
        .body("{}")
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 415);
    let res = c
        .patch(app.url(&location))
        .bearer_auth(&token)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body("hello")
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 412);
    // sha1("world"), not sha1("hello").
    let world = data_encoding::BASE64.encode(&sha1_of(b"world"));
    let res = patch(
        &app,
        &token,
        &location,
        0,
        b"hello",
        Some(&format!("sha1 {world}")),
    )
    .await;
    assert_eq!(res.status().as_u16(), 460);
    assert_eq!(
        offset_of(&app, &token, &location).await,
        (200, Some("0".into()))
    );
    let hello = data_encoding::BASE64.encode(&sha1_of(b"hello"));
    let res = patch(
        &app,
        &token,
        &location,
        0,
        b"hello",
        Some(&format!("sha1 {hello}")),
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["upload-offset"], "5");
    let res = patch(&app, &token, &location, 5, b"too long for the rest", None).await;
    assert_eq!(res.status(), 413, "more than the declared length");
    assert_eq!(
        offset_of(&app, &token, &location).await,
        (200, Some("5".into()))
    );

    // Expiry: an upload left alone for a day is swept with its video and bytes.
    let uploads = &state(&app).uploads;
    let now = ferrocast_db::now_ms();
    assert_eq!(uploads.sweep_at(now + 3_600_000).await.expect("sweep"), 0);
    assert!(app.data_dir.join("uploads").join(&id).exists());
    assert_eq!(
        uploads
            .sweep_at(now + EXPIRES_AFTER_MS + 60_000)
            .await
            .expect("sweep"),
        1
    );
    assert_eq!(offset_of(&app, &token, &location).await.0, 404);
    assert!(state(&app)
        .db
        .video_by_uuid(&id)
        .await
        .expect("db")
        .is_none());
    assert!(!app.data_dir.join("uploads").join(&id).exists());
    app.finish().await;
}

fn sha1_of(data: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    sha1::Sha1::digest(data).to_vec()
}

both_backends!(
    tus_js_client_aborts_and_resumes,
    curl_in_three_patches,
    refusals_termination_and_expiry
);
