//! Copyright notices (DMCA), on both databases with the objects in real storage: a notice
//! disables a video at once (its HLS playlist and segments and its MP4 answer 451), the
//! evidence held under `holds/` survives the uploader deleting the video and their account with
//! matching SHA-256 hashes, a counter-notice restores the video once the waiting period has
//! passed (a manual clock), court action blocks the restore, and the operator may withdraw or
//! restore at once.

use crate::support;
use crate::support::s3::make_mp4;
use crate::support::{client, register_user, Backend, TestApp};
use bytes::Bytes;
use ferrocast_db::videos::{NewVideo, VideoMedia, VideoRecord};
use ferrocast_domain::time::DAY_MS;
use ferrocast_server::service::clock::ManualClock;
use ferrocast_server::service::dmca::Dmca;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::process::Command;

const MIN: i64 = 60_000;

fn state(app: &TestApp) -> &ferrocast_server::state::AppState {
    &app.running.as_ref().expect("running").state
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    state(app)
        .db
        .user_by_email(email)
        .await
        .expect("db")
        .expect("user")
        .id
}

async fn make_admin(app: &TestApp, email: &str) -> String {
    let token = register_user(app, email, "Admin").await;
    let id = user_id(app, email).await;
    state(app).db.set_role(id, "admin", 0).await.expect("role");
    token
}

fn sha_hex(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(b))
}

/// A real clip: an MP4 and its HLS rendition (a playlist and its segments), made by ffmpeg.
pub(crate) fn media(dir: &std::path::Path) -> Vec<(String, Bytes)> {
    std::fs::create_dir_all(dir.join("hls")).expect("dir");
    let mp4 = dir.join("video.mp4");
    make_mp4(&mp4, 3, "300k");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&mp4)
        .args([
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
        ])
        .arg(dir.join("hls/seg_%03d.ts"))
        .arg(dir.join("hls/index.m3u8"))
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg made the HLS rendition");
    let mut out = vec![(
        "video.mp4".to_string(),
        Bytes::from(std::fs::read(&mp4).expect("mp4")),
    )];
    let mut names: Vec<String> = std::fs::read_dir(dir.join("hls"))
        .expect("hls dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let b = std::fs::read(dir.join("hls").join(&n)).expect("read");
        out.push((format!("hls/{n}"), Bytes::from(b)));
    }
    out
}

/// A ready public video of `owner` with `objects` in storage.
pub(crate) async fn video(app: &TestApp, owner: i64, objects: &[(String, Bytes)]) -> VideoRecord {
    let st = state(app);
    let uuid = ferrocast_server::service::videos::new_video_id();
    let v = st
        .db
        .create_video(
            &NewVideo {
                uuid: &uuid,
                user_id: owner,
                source_id: None,
                kind: "upload",
                title: "Somebody's song",
                description: "",
                tags: &[],
                visibility: "public",
                status: "ready",
                expires_at: None,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("video");
    let names: Vec<&str> = objects.iter().map(|(n, _)| n.as_str()).collect();
    st.db
        .set_video_media(
            v.id,
            &VideoMedia {
                duration_ms: Some(3_000),
                width: Some(640),
                height: Some(360),
                video_codec: Some("h264".into()),
                audio_codec: Some("aac".into()),
                has_hls: names.contains(&"hls/index.m3u8"),
                has_mp4: names.contains(&"video.mp4"),
                has_thumbnail: false,
                strip_frames: 0,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("media");
    let mut size = 0;
    for (name, bytes) in objects {
        size += bytes.len() as i64;
        st.storage
            .put(&format!("videos/{uuid}/{name}"), bytes.clone())
            .await
            .expect("put");
    }
    st.db
        .add_video_size(v.id, size, ferrocast_db::now_ms())
        .await
        .expect("size");
    st.db.video_by_id(v.id).await.expect("db").expect("video")
}

fn notice(app: &TestApp, video: &str) -> Value {
    json!({
        "name": "Rita Rights",
        "address": "1 Copyright Way\nNashville, TN 37201",
        "phone": "+1 (615) 555-0100",
        "email": "rita@labels.example",
        "work": "The sound recording \"Song of the Test\" (2026), owned by Example Records.",
        "urls": [app.url(&format!("/v/{video}"))],
        "good_faith": true,
        "accurate": true,
        "authorized": true,
        "signature": "Rita Rights",
    })
}

fn counter() -> Value {
    json!({
        "name": "Uma Uploader",
        "address": "2 Original St\nPortland, OR 97201",
        "phone": "503-555-0199",
        "email": "uma@example.com",
        "material": "My video, previously at /v/…, which is my own recording.",
        "mistake": true,
        "consent": true,
        "signature": "Uma Uploader",
    })
}

async fn status_of(url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut req = client().post(app.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn file(app: &TestApp, video: &str) -> (i64, String) {
    let (s, body) = post(app, "/api/dmca/notices", &notice(app, video), None).await;
    assert_eq!(s, 201, "{body}");
    (
        body["case_id"].as_i64().expect("case id"),
        body["token"].as_str().expect("token").to_string(),
    )
}

/// The media of a video answer `want` (HLS playlist, a segment, the MP4, and a range of it).
async fn media_answers(app: &TestApp, uuid: &str, segment: &str, want: u16) {
    let c = client();
    for path in ["hls/index.m3u8", segment, "video.mp4"] {
        let res = c
            .get(app.url(&format!("/vod/{uuid}/{path}")))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status().as_u16(), want, "{path}");
        if want == 451 {
            let body: Value = res.json().await.expect("json");
            assert_eq!(body["code"], "UNAVAILABLE_FOR_LEGAL_REASONS", "{path}");
        }
    }
    let res = c
        .get(app.url(&format!("/vod/{uuid}/video.mp4")))
        .header("range", "bytes=0-99")
        .send()
        .await
        .expect("range");
    assert_eq!(
        res.status().as_u16(),
        if want == 200 { 206 } else { want },
        "a range of the MP4"
    );
}

/// A notice disables the video at once; its evidence, hashed, survives the uploader deleting
/// the video and their account; storage refuses to delete the hold.
async fn notice_disables_and_evidence_survives(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let st = state(&app);
    let owner_token = register_user(&app, "uma@example.com", "Uma").await;
    let owner = user_id(&app, "uma@example.com").await;
    let admin = make_admin(&app, "admin@example.com").await;
    let objects = media(&app.data_dir.join("gen"));
    let segment = objects
        .iter()
        .map(|(n, _)| n.clone())
        .find(|n| n.ends_with(".ts"))
        .expect("a segment");
    let v = video(&app, owner, &objects).await;
    media_answers(&app, &v.uuid, &segment, 200).await;
    let (s, _) = status_of(app.url(&format!("/api/videos/{}", v.uuid)), None).await;
    assert_eq!(s, 200);

    // Hostile or incomplete notices are refused, naming the field.
    let mut bad = notice(&app, &v.uuid);
    bad["good_faith"] = json!(false);
    let (s, body) = post(&app, "/api/dmca/notices", &bad, None).await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["details"]
            .as_str()
            .expect("details")
            .starts_with("good_faith:"),
        "{body}"
    );
    let mut bad = notice(&app, &v.uuid);
    bad["urls"] = json!(["https://elsewhere.example/watch?v=1"]);
    let (s, body) = post(&app, "/api/dmca/notices", &bad, None).await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["details"]
            .as_str()
            .expect("details")
            .starts_with("urls:"),
        "{body}"
    );
    let mut bad = notice(&app, &v.uuid);
    bad["name"] = json!("x".repeat(201));
    let (s, _) = post(&app, "/api/dmca/notices", &bad, None).await;
    assert_eq!(s, 422);
    let mut bad = notice(&app, &v.uuid);
    bad["email"] = json!("not an email");
    let (s, _) = post(&app, "/api/dmca/notices", &bad, None).await;
    assert_eq!(s, 422);
    let (s, body) = post(
        &app,
        "/api/dmca/notices",
        &notice(&app, "zzzzzzzzzzzzzzzz"),
        None,
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["code"], "VIDEO_NOT_FOUND");
    media_answers(&app, &v.uuid, &segment, 200).await;

    // The notice: disabled at once.
    let (case, token) = file(&app, &v.uuid).await;
    media_answers(&app, &v.uuid, &segment, 451).await;
    let (s, body) = status_of(app.url(&format!("/api/videos/{}", v.uuid)), None).await;
    assert_eq!(s, 451, "{body}");
    assert_eq!(body["code"], "UNAVAILABLE_FOR_LEGAL_REASONS");
    let (s, body) = status_of(
        app.url(&format!("/api/videos/{}", v.uuid)),
        Some(&owner_token),
    )
    .await;
    assert_eq!(s, 200, "the owner still sees it");
    assert_eq!(body["disabled"]["case_id"], case);
    assert!(body["playback"].is_null(), "{body}");
    let (s, body) = status_of(app.url("/api/search?q=song"), None).await;
    if s == 200 {
        assert!(!body.to_string().contains(&v.uuid), "not found by search");
    }

    // The complainant follows the case with the token, and only with it.
    let (s, _) = status_of(
        app.url(&format!("/api/dmca/notices/{case}?token=wrong")),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, body) = status_of(
        app.url(&format!("/api/dmca/notices/{case}?token={token}")),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "content_disabled");
    assert!(body.get("evidence").is_none(), "evidence is the operator's");

    // The uploader is told.
    let mut told = false;
    for _ in 0..100 {
        if app.inbox.all().iter().any(|m| {
            m.contains("To: uma@example.com") && m.contains("disabled after a copyright notice")
        }) {
            told = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        told,
        "the uploader was mailed; inbox: {:?}",
        app.inbox.all()
    );

    // The operator sees the evidence: every object and the metadata snapshot, hashed.
    let (s, body) = status_of(app.url(&format!("/api/admin/dmca/{case}")), Some(&admin)).await;
    assert_eq!(s, 200, "{body}");
    let evidence = body["evidence"].as_array().expect("evidence").clone();
    assert_eq!(evidence.len(), objects.len() + 1, "{evidence:?}");
    for (name, bytes) in &objects {
        let e = evidence
            .iter()
            .find(|e| e["source_key"] == format!("videos/{}/{name}", v.uuid))
            .unwrap_or_else(|| panic!("{name} preserved"));
        assert_eq!(e["sha256"], sha_hex(bytes), "{name}");
        assert_eq!(e["size_bytes"], bytes.len() as i64);
        assert!(e["hold_key"]
            .as_str()
            .expect("key")
            .starts_with(&format!("holds/dmca/{case}/")));
    }
    let (s, _) = status_of(
        app.url(&format!("/api/admin/dmca/{case}")),
        Some(&owner_token),
    )
    .await;
    assert_eq!(s, 403, "the operator's only");

    // The uploader deletes the video, then their account (Settings → Your data: everything
    // the account owns removed, its personal fields erased).
    let res = client()
        .delete(app.url(&format!("/api/videos/{}", v.uuid)))
        .bearer_auth(&owner_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 204);
    assert!(st
        .storage
        .list(&format!("videos/{}", v.uuid))
        .await
        .expect("list")
        .is_empty());
    let res = client()
        .delete(app.url("/api/me"))
        .bearer_auth(&owner_token)
        .json(&json!({"password": "password123"}))
        .send()
        .await
        .expect("delete account");
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert!(st
        .db
        .user_by_email("uma@example.com")
        .await
        .expect("q")
        .is_none());

    // No deletion reaches the hold.
    assert!(st
        .storage
        .delete_prefix(&format!("holds/dmca/{case}"))
        .await
        .is_err());
    assert!(st.storage.delete_prefix("holds").await.is_err());
    assert!(st.storage.delete_prefix("").await.is_err());
    assert!(st
        .storage
        .delete(&format!("holds/dmca/{case}/metadata.json"))
        .await
        .is_err());

    // The evidence is whole: each held object hashes as recorded, and as the original did.
    let (s, body) = status_of(app.url(&format!("/api/admin/dmca/{case}")), Some(&admin)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["uploader_id"], owner,
        "the case keeps the uploader's id"
    );
    let evidence = body["evidence"].as_array().expect("evidence").clone();
    assert_eq!(evidence.len(), objects.len() + 1);
    for e in &evidence {
        let key = e["hold_key"].as_str().expect("key");
        let held = st.storage.get(key, 64 << 20).await.expect("held object");
        assert_eq!(sha_hex(&held), e["sha256"].as_str().expect("sha"), "{key}");
        assert_eq!(held.len() as i64, e["size_bytes"].as_i64().expect("size"));
        if e["kind"] == "metadata" {
            let snap: Value = serde_json::from_slice(&held).expect("metadata JSON");
            assert_eq!(snap["video"]["id"], v.uuid);
            assert_eq!(snap["uploader"]["email"], "uma@example.com");
            assert_eq!(
                snap["objects"].as_array().expect("objects").len(),
                objects.len()
            );
        }
    }
    for (name, bytes) in &objects {
        let held = st
            .storage
            .get(&format!("holds/dmca/{case}/objects/{name}"), 64 << 20)
            .await
            .expect("held copy");
        assert_eq!(&held, bytes, "{name} held byte for byte");
    }
    app.finish().await;
}

/// A counter-notice restores the video once the waiting period has passed, not before; court
/// action blocks the restore; the operator withdraws and restores at once.
async fn counter_notice_restores_and_court_action_blocks(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let st = state(&app);
    let owner_token = register_user(&app, "uma@example.com", "Uma").await;
    let owner = user_id(&app, "uma@example.com").await;
    let other = register_user(&app, "otto@example.com", "Otto").await;
    let admin = make_admin(&app, "admin@example.com").await;
    let objects = media(&app.data_dir.join("gen"));
    let segment = objects
        .iter()
        .map(|(n, _)| n.clone())
        .find(|n| n.ends_with(".ts"))
        .expect("a segment");
    let a = video(&app, owner, &objects).await;
    let bv = video(&app, owner, &objects).await;
    let c = video(&app, owner, &objects).await;
    let d = video(&app, owner, &objects).await;
    let (case_a, token_a) = file(&app, &a.uuid).await;
    let (case_b, _) = file(&app, &bv.uuid).await;
    let (case_c, _) = file(&app, &c.uuid).await;
    let (case_d, _) = file(&app, &d.uuid).await;

    // The uploader's cases, and the counter-notice (theirs only, complete, once).
    let (s, body) = status_of(app.url("/api/dmca/mine"), Some(&owner_token)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["cases"].as_array().expect("cases").len(), 4);
    assert_eq!(body["restore_days"], 14);
    let (s, body) = status_of(
        app.url(&format!("/api/dmca/cases/{case_a}")),
        Some(&owner_token),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["can_counter"], true);
    assert!(body["complainant"]["phone"].is_null(), "{body}");
    let path = format!("/api/dmca/cases/{case_a}/counter");
    let (s, _) = post(&app, &path, &counter(), Some(&other)).await;
    assert_eq!(s, 404, "not theirs");
    let mut bad = counter();
    bad["consent"] = json!(false);
    let (s, body) = post(&app, &path, &bad, Some(&owner_token)).await;
    assert_eq!(s, 422, "{body}");
    assert!(body["details"].as_str().expect("d").starts_with("consent:"));
    let (s, body) = post(&app, &path, &counter(), Some(&owner_token)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "counter_noticed");
    let (s, body) = post(&app, &path, &counter(), Some(&owner_token)).await;
    assert_eq!(s, 409, "{body}");
    // The complainant gets the counter-notice.
    let (s, body) = status_of(
        app.url(&format!("/api/dmca/notices/{case_a}?token={token_a}")),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["counter"]["name"], "Uma Uploader");
    assert_eq!(body["counter"]["consent"], true);
    let (s, _) = post(
        &app,
        &format!("/api/dmca/cases/{case_b}/counter"),
        &counter(),
        Some(&owner_token),
    )
    .await;
    assert_eq!(s, 200);

    // Court action on b blocks its restore.
    let (s, body) = post(
        &app,
        &format!("/api/admin/dmca/{case_b}/decision"),
        &json!({"action": "court_action", "note": "Complaint filed, case 3:26-cv-1"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "court_action");
    let strike_b = body["strike_id"]
        .as_i64()
        .expect("court action gives a strike");
    let (s, _) = post(
        &app,
        &format!("/api/admin/dmca/{case_b}/decision"),
        &json!({"action": "withdraw"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 409, "court action cannot be withdrawn");
    let (s, _) = post(
        &app,
        &format!("/api/admin/dmca/{case_b}/decision"),
        &json!({"action": "bogus"}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 422);

    // The operator withdraws c: back at once, and no strike.
    let (s, body) = post(
        &app,
        &format!("/api/admin/dmca/{case_c}/decision"),
        &json!({"action": "withdraw", "note": "The complainant withdrew the notice."}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    media_answers(&app, &c.uuid, &segment, 200).await;
    // The sweep on a clock past the counter-notice: not before the waiting period ends.
    let now = ferrocast_db::now_ms();
    let clock = ManualClock::at(now + 13 * DAY_MS);
    let dmca = Dmca::new(
        st.db.clone(),
        st.storage.clone(),
        clock.clone(),
        st.mailer.clone(),
        st.config.public_url.clone(),
        14,
        st.audit.clone(),
        st.safety.clone(),
    );
    let swept = dmca.sweep().await.expect("sweep");
    assert_eq!(swept.restored, 0);
    media_answers(&app, &a.uuid, &segment, 451).await;
    clock.set(now + 14 * DAY_MS + MIN);
    let swept = dmca.sweep().await.expect("sweep");
    assert_eq!(swept.restored, 1, "a restored; b is in court");
    assert_eq!(swept.strikes, 1, "d was not countered in time");
    let again = dmca.sweep().await.expect("sweep");
    assert_eq!((again.restored, again.strikes), (0, 0), "once");
    media_answers(&app, &a.uuid, &segment, 200).await;
    let (s, _) = status_of(app.url(&format!("/api/videos/{}", a.uuid)), None).await;
    assert_eq!(s, 200);
    media_answers(&app, &bv.uuid, &segment, 451).await;
    let (s, body) = status_of(app.url(&format!("/api/admin/dmca/{case_b}")), Some(&admin)).await;
    assert_eq!(s, 200);
    assert_eq!(body["status"], "court_action");
    let (s, body) = status_of(
        app.url(&format!("/api/dmca/notices/{case_a}?token={token_a}")),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["status"], "restored");

    // b is restored when the court action ends.
    let (s, _) = post(
        &app,
        &format!("/api/admin/dmca/{case_b}/decision"),
        &json!({"action": "restore", "note": "The action was dismissed."}),
        Some(&admin),
    )
    .await;
    assert_eq!(s, 200);
    media_answers(&app, &bv.uuid, &segment, 200).await;

    // The repeat-infringer policy: strikes for b (court action) and d (not countered), none
    // for a (countered and restored) or c (withdrawn), each naming its case.
    let mut struck = Vec::new();
    for case in [case_a, case_b, case_c, case_d] {
        let (_, body) = status_of(app.url(&format!("/api/admin/dmca/{case}")), Some(&admin)).await;
        if let Some(id) = body["strike_id"].as_i64() {
            let evidence: Option<String> = ferrocast_db::on_pool!(&st.db, p => sqlx::query_scalar(
                "SELECT evidence FROM strikes WHERE id = $1 AND user_id = $2",
            )
            .bind(id).bind(owner).fetch_one(p).await.expect("strike"));
            assert_eq!(evidence, Some(format!("dmca:{case}")));
            struck.push(case);
        }
    }
    assert_eq!(struck, vec![case_b, case_d]);
    assert!(strike_b > 0);
    // Every step is in the audit log.
    let actions: Vec<String> = ferrocast_db::on_pool!(&st.db, p => sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'dmca.%' ORDER BY idx",
    )
    .fetch_all(p).await.expect("audit"));
    for want in [
        "dmca.notice_received",
        "dmca.content_disabled",
        "dmca.evidence_preserved",
        "dmca.counter_notice",
        "dmca.court_action",
        "dmca.strike",
        "dmca.restored",
        "dmca.withdrawn",
    ] {
        assert!(actions.iter().any(|a| a == want), "{want} in {actions:?}");
    }

    // The operator's list.
    let (s, body) = status_of(app.url("/api/admin/dmca"), Some(&admin)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["total"], 4);
    let (s, body) = status_of(app.url("/api/admin/dmca?status=withdrawn"), Some(&admin)).await;
    assert_eq!(s, 200);
    assert_eq!(body["total"], 1);
    let (s, _) = status_of(app.url("/api/admin/dmca?status=nonsense"), Some(&admin)).await;
    assert_eq!(s, 422);
    app.finish().await;
}

both_backends!(
    notice_disables_and_evidence_survives,
    counter_notice_restores_and_court_action_blocks,
);
