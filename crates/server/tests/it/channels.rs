//! Profiles and channels on both databases: every account's handle (derived, numbered until
//! unique, never reserved, given to older accounts at start), the profile edit's rules, avatar
//! and banner pictures made by real ffmpeg from a real PNG (and hostile bodies refused), and the
//! public channel with its live stream and its ready public videos.

use crate::support::{self, client, creator_with_source, register_user, Backend, TestApp};
use ferrocast_db::videos::NewVideo;
use ferrocast_server::service::videos::new_video_id;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn state(app: &TestApp) -> &ferrocast_server::state::AppState {
    &app.running.as_ref().expect("running").state
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client().request(method, app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn me(app: &TestApp, token: &str) -> Value {
    let (status, body) = send(app, reqwest::Method::GET, "/api/auth/me", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn patch(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    send(
        app,
        reqwest::Method::PATCH,
        "/api/me/profile",
        Some(token),
        Some(body),
    )
    .await
}

async fn handles_are_derived_unique_and_never_reserved(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let t1 = register_user(&app, "ada1@example.com", "Ada Lovelace").await;
    let t2 = register_user(&app, "ada2@example.com", "  ADA lovelace! ").await;
    let t3 = register_user(&app, "boss@example.com", "Admin").await;
    let t4 = register_user(&app, "jo.smith@example.com", "李").await;
    let first = me(&app, &t1).await;
    assert_eq!(first["handle"], "ada_lovelace");
    assert_eq!(first["bio"], "");
    assert_eq!(first["links"], json!([]));
    assert_eq!(first["avatar_url"], Value::Null);
    assert_eq!(first["banner_url"], Value::Null);
    assert_eq!(me(&app, &t2).await["handle"], "ada_lovelace2");
    assert_eq!(me(&app, &t3).await["handle"], "admin2", "admin is reserved");
    assert_eq!(
        me(&app, &t4).await["handle"],
        "jo_smith",
        "the email's local part"
    );

    // An account made before profiles existed has no handle until the node starts: the
    // backfill derives one, numbered past the handles already given.
    let db = ferrocast_db::Db::connect(&app.database_url)
        .await
        .expect("db");
    let id = state(&app)
        .db
        .user_by_email("ada2@example.com")
        .await
        .expect("db")
        .expect("user")
        .id;
    sqlx_null_handle(&db, id).await;
    assert_eq!(db.backfill_handles().await.expect("backfill"), 1);
    assert_eq!(db.backfill_handles().await.expect("again"), 0);
    assert_eq!(me(&app, &t2).await["handle"], "ada_lovelace2");
    // Taken in between: the backfill numbers on.
    sqlx_null_handle(&db, id).await;
    let (s, body) = patch(&app, &t3, json!({"handle": "ada_lovelace2"})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(db.backfill_handles().await.expect("backfill"), 1);
    assert_eq!(me(&app, &t2).await["handle"], "ada_lovelace3");
    db.close().await;
    app.finish().await;
}

/// Clears a user's handle, as the accounts made before migration 0016 were.
async fn sqlx_null_handle(db: &ferrocast_db::Db, id: i64) {
    ferrocast_db::on_pool!(db, p => sqlx::query("UPDATE users SET handle = NULL WHERE id = $1")
        .bind(id).execute(p).await.map(|_| ()).expect("clear handle"));
}

async fn profile_edits_are_checked(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let t = register_user(&app, "maker@example.com", "Maker").await;
    let other = register_user(&app, "other@example.com", "Other One").await;
    let (s, _) = send(
        &app,
        reqwest::Method::PATCH,
        "/api/me/profile",
        None,
        Some(json!({"bio": "x"})),
    )
    .await;
    assert_eq!(s, 401);

    let (s, body) = patch(
        &app,
        &t,
        json!({"display_name": "The Maker", "handle": "@The_Maker", "bio": "Makes things.\r\n\r\n\r\nDaily.",
               "links": [{"label": " Site ", "url": "https://maker.example/shop"}]}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["handle"], "the_maker");
    assert_eq!(body["display_name"], "The Maker");
    assert_eq!(body["bio"], "Makes things.\n\nDaily.");
    assert_eq!(
        body["links"],
        json!([{"label": "Site", "url": "https://maker.example/shop"}])
    );
    // Fields left out stay.
    let (s, body) = patch(&app, &t, json!({"bio": "Still here."})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["handle"], "the_maker");
    assert_eq!(body["links"][0]["label"], "Site");
    // Its own handle again is fine; another's is taken, whatever its case.
    let (s, _) = patch(&app, &t, json!({"handle": "the_maker"})).await;
    assert_eq!(s, 200);
    let (s, body) = patch(&app, &other, json!({"handle": "THE_MAKER"})).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["code"], "HANDLE_TAKEN");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or("")
            .contains("choose another"),
        "{body}"
    );

    for (bad, hint) in [
        (json!({"handle": "settings"}), "reserved"),
        (json!({"handle": "ab"}), "3 to 30"),
        (json!({"handle": "no-dashes"}), "a-z"),
        (json!({"handle": "x".repeat(31)}), "3 to 30"),
        (json!({"display_name": "   "}), "display_name"),
        (json!({"bio": "b".repeat(1001)}), "1000"),
        (
            json!({"links": [{"label": "x", "url": "javascript:alert(1)"}]}),
            "https://",
        ),
        (
            json!({"links": [{"label": "", "url": "https://a.example"}]}),
            "label",
        ),
        (
            json!({"links": vec![json!({"label": "a", "url": "https://a.example"}); 6]}),
            "at most 5",
        ),
    ] {
        let (s, body) = patch(&app, &other, bad.clone()).await;
        assert_eq!(s, 422, "{bad} → {body}");
        assert_eq!(body["code"], "VALIDATION_ERROR");
        assert!(
            body["details"].as_str().unwrap_or("").contains(hint),
            "{bad} → {body}"
        );
    }
    let (s, body) = patch(&app, &other, json!({"nickname": "x"})).await;
    assert!((400..500).contains(&s), "{body}");
    // Nothing of the refused edits was stored.
    let o = me(&app, &other).await;
    assert_eq!(o["handle"], "other_one");
    assert_eq!(o["bio"], "");

    // The channel, by any case of its handle; an unknown handle is 404.
    let (s, ch) = send(
        &app,
        reqwest::Method::GET,
        "/api/channels/The_Maker",
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{ch}");
    assert_eq!(ch["handle"], "the_maker");
    assert_eq!(ch["display_name"], "The Maker");
    assert_eq!(ch["bio"], "Still here.");
    assert_eq!(ch["url"], "/c/the_maker");
    assert_eq!(ch["live"], json!([]));
    assert_eq!(ch["videos"], json!([]));
    for unknown in [
        "/api/channels/nobody_here",
        "/api/channels/a%2Fb",
        "/api/channels/x",
    ] {
        let (s, body) = send(&app, reqwest::Method::GET, unknown, None, None).await;
        assert_eq!(s, 404, "{unknown}: {body}");
        assert_eq!(body["code"], "CHANNEL_NOT_FOUND");
    }
    app.finish().await;
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrocast-channels-{}", new_video_id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

/// A picture made by ffmpeg from a lavfi source.
fn picture(dir: &Path, name: &str, source: &str) -> Vec<u8> {
    support::require("ffmpeg");
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(source)
        .args(["-frames:v", "1"])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    std::fs::read(&out).expect("picture")
}

/// Width and height of a picture, by ffprobe.
fn dimensions(dir: &Path, bytes: &[u8]) -> (i64, i64) {
    let path = dir.join(format!("probe-{}.jpg", new_video_id()));
    std::fs::write(&path, bytes).expect("write");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = &v["streams"][0];
    assert_eq!(s["codec_name"], "mjpeg", "{v}");
    (
        s["width"].as_i64().expect("width"),
        s["height"].as_i64().expect("height"),
    )
}

async fn post_picture(app: &TestApp, token: &str, which: &str, body: Vec<u8>) -> (u16, Value) {
    let res = client()
        .post(app.url(&format!("/api/me/{which}")))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get_bytes(app: &TestApp, path: &str) -> (u16, String, String, Vec<u8>) {
    let res = client().get(app.url(path)).send().await.expect("get");
    let status = res.status().as_u16();
    let h = |n: &str| {
        res.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (ct, cache) = (h("content-type"), h("cache-control"));
    (status, ct, cache, res.bytes().await.expect("body").to_vec())
}

async fn avatar_and_banner(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let dir = scratch();
    let t = register_user(&app, "pics@example.com", "Pictures").await;
    let png = picture(&dir, "a.png", "testsrc=size=640x480:rate=1");
    assert!(png.starts_with(b"\x89PNG"));

    let (s, u) = post_picture(&app, &t, "avatar", png.clone()).await;
    assert_eq!(s, 200, "{u}");
    let first = u["avatar_url"].as_str().expect("avatar url").to_string();
    assert!(first.starts_with("/media/profiles/"), "{first}");
    let (s, ct, cache, jpeg) = get_bytes(&app, &first).await;
    assert_eq!((s, ct.as_str()), (200, "image/jpeg"));
    assert!(cache.contains("immutable"), "{cache}");
    assert_eq!(dimensions(&dir, &jpeg), (256, 256));

    // A second avatar (a JPEG this time) replaces the first, whose object is deleted.
    let jpg = picture(&dir, "b.jpg", "testsrc=size=300x900:rate=1");
    let (s, u) = post_picture(&app, &t, "avatar", jpg).await;
    assert_eq!(s, 200, "{u}");
    let second = u["avatar_url"].as_str().expect("avatar url").to_string();
    assert_ne!(second, first);
    assert_eq!(get_bytes(&app, &first).await.0, 404);
    assert_eq!(get_bytes(&app, &second).await.0, 200);

    let webp = picture(&dir, "c.webp", "testsrc=size=800x600:rate=1");
    let (s, u) = post_picture(&app, &t, "banner", webp).await;
    assert_eq!(s, 200, "{u}");
    let banner = u["banner_url"].as_str().expect("banner url").to_string();
    let (s, _, _, jpeg) = get_bytes(&app, &banner).await;
    assert_eq!(s, 200);
    assert_eq!(dimensions(&dir, &jpeg), (1920, 480));
    let (_, ch) = send(
        &app,
        reqwest::Method::GET,
        "/api/channels/pictures",
        None,
        None,
    )
    .await;
    assert_eq!(ch["avatar_url"], second.as_str());
    assert_eq!(ch["banner_url"], banner.as_str());

    // Hostile bodies: not a picture, a playlist that would make ffmpeg read other files, a
    // damaged PNG, a PNG that decodes to 100 megapixels, an empty body and one over 8 MiB.
    let mut damaged = png[..png.len() / 3].to_vec();
    damaged.extend(std::iter::repeat_n(0xAB, 4000));
    let bomb = picture(&dir, "bomb.png", "color=c=white:size=10000x10000");
    assert!(bomb.len() < 8 * 1024 * 1024, "{}", bomb.len());
    for (name, body, status, code) in [
        (
            "text",
            b"hello, not a picture".to_vec(),
            415,
            "IMAGE_INVALID",
        ),
        (
            "playlist",
            b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n".to_vec(),
            415,
            "IMAGE_INVALID",
        ),
        ("damaged", damaged, 415, "IMAGE_INVALID"),
        ("bomb", bomb, 415, "IMAGE_INVALID"),
        ("empty", Vec::new(), 400, "IMAGE_MISSING"),
        (
            "huge",
            vec![0x89; 9 * 1024 * 1024],
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ] {
        let started = std::time::Instant::now();
        let (s, body) = post_picture(&app, &t, "avatar", body).await;
        assert_eq!(s, status, "{name}: {body}");
        assert_eq!(body["code"], code, "{name}: {body}");
        assert!(started.elapsed() < Duration::from_secs(20), "{name}");
    }
    // Nothing refused replaced the avatar.
    assert_eq!(me(&app, &t).await["avatar_url"], second.as_str());
    // Without a session: 401.
    let res = client()
        .post(app.url("/api/me/avatar"))
        .body(png)
        .send()
        .await
        .expect("anonymous");
    assert_eq!(res.status(), 401);

    // Removing each deletes its object.
    let (s, u) = send(
        &app,
        reqwest::Method::DELETE,
        "/api/me/avatar",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["avatar_url"], Value::Null);
    assert_eq!(get_bytes(&app, &second).await.0, 404);
    let (s, u) = send(
        &app,
        reqwest::Method::DELETE,
        "/api/me/banner",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["banner_url"], Value::Null);
    assert_eq!(get_bytes(&app, &banner).await.0, 404);
    // Only profile pictures are served there.
    for path in [
        "/media/profiles/x/avatar-abcdefghij.jpg",
        "/media/profiles/..%2F..%2Fmaster.key/avatar-abcdefghij.jpg",
    ] {
        assert_eq!(get_bytes(&app, path).await.0, 404, "{path}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

async fn ready_video(
    app: &TestApp,
    owner: i64,
    source: Option<i64>,
    kind: &str,
    visibility: &str,
    status: &str,
) -> String {
    let uuid = new_video_id();
    state(app)
        .db
        .create_video(
            &NewVideo {
                uuid: &uuid,
                user_id: owner,
                source_id: source,
                kind,
                title: &format!("A {kind} ({visibility}, {status})"),
                description: "",
                tags: &[],
                visibility,
                status,
                expires_at: None,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("video");
    uuid
}

async fn channel_lists_live_and_ready_public_videos(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "live@example.com").await;
    let owner = state(&app)
        .db
        .user_by_email("live@example.com")
        .await
        .expect("db")
        .expect("user");
    assert_eq!(owner.handle, "streamer");
    let upload = ready_video(&app, owner.id, None, "upload", "public", "ready").await;
    let rec = ready_video(&app, owner.id, Some(src.id), "recording", "public", "ready").await;
    let short = ready_video(&app, owner.id, None, "short", "public", "ready").await;
    for (vis, status) in [
        ("unlisted", "ready"),
        ("private", "ready"),
        ("public", "processing"),
    ] {
        ready_video(&app, owner.id, None, "upload", vis, status).await;
    }
    let (s, ch) = send(
        &app,
        reqwest::Method::GET,
        "/api/channels/streamer",
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{ch}");
    let ids = |k: &str| -> Vec<String> {
        ch[k]
            .as_array()
            .expect("list")
            .iter()
            .map(|v| v["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(ids("videos"), vec![upload.clone()]);
    assert_eq!(ids("past_broadcasts"), vec![rec]);
    assert_eq!(ids("shorts"), vec![short]);
    assert_eq!(ch["videos"][0]["watch_url"], format!("/v/{upload}"));
    assert_eq!(ch["videos"][0]["source_id"], Value::Null);
    assert_eq!(ch["live"], json!([]));

    // The video's page and the watch page name the creator's channel.
    let (s, v) = send(
        &app,
        reqwest::Method::GET,
        &format!("/api/videos/{upload}"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["creator"]["handle"], "streamer");
    assert_eq!(v["creator"]["channel_url"], "/c/streamer");
    let (s, w) = send(
        &app,
        reqwest::Method::GET,
        &format!("/api/watch/{}", src.playback_id),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["creator_handle"], "streamer");

    // Live: the stream shows on the channel while it lasts.
    let mut ff = support::publish(&app.rtmp_url(), &src.key, 20, &[]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let live = loop {
        let (_, ch) = send(
            &app,
            reqwest::Method::GET,
            "/api/channels/streamer",
            None,
            None,
        )
        .await;
        if ch["live"].as_array().is_some_and(|l| !l.is_empty()) {
            break ch["live"][0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "never live: {ch}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let _ = ff.kill();
    let _ = ff.wait();
    assert_eq!(live["playback_id"], src.playback_id.as_str());
    assert_eq!(live["watch_url"], format!("/watch/{}", src.playback_id));
    assert_eq!(live["title"], "Main");
    assert!(live["started_at"].is_string(), "{live}");

    // A suspended creator's channel is gone.
    state(&app)
        .db
        .set_suspended(
            owner.id,
            Some(ferrocast_db::now_ms()),
            ferrocast_db::now_ms(),
        )
        .await
        .expect("suspend");
    let (s, _) = send(
        &app,
        reqwest::Method::GET,
        "/api/channels/streamer",
        None,
        None,
    )
    .await;
    assert_eq!(s, 404);
    app.finish().await;
}

async fn following_a_channel(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = register_user(&app, "maker@example.com", "Maker").await;
    let fan = register_user(&app, "fan@example.com", "Fan").await;
    let other = register_user(&app, "other@example.com", "Other").await;
    let post = reqwest::Method::POST;
    let delete = reqwest::Method::DELETE;
    let get = reqwest::Method::GET;

    // Anonymous: the channel shows its count and no follow; following needs a session.
    let (s, ch) = send(&app, get.clone(), "/api/channels/maker", None, None).await;
    assert_eq!(s, 200, "{ch}");
    assert_eq!(ch["followers"], 0);
    assert_eq!(ch["following"], false);
    let (s, _) = send(&app, post.clone(), "/api/channels/maker/follow", None, None).await;
    assert_eq!(s, 401);

    // Following (any case, with an @) counts once however often it is repeated.
    for path in ["/api/channels/maker/follow", "/api/channels/@MAKER/follow"] {
        let (s, body) = send(&app, post.clone(), path, Some(&fan), None).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body, json!({"following": true, "followers": 1}));
    }
    let (_, body) = send(
        &app,
        post.clone(),
        "/api/channels/maker/follow",
        Some(&other),
        None,
    )
    .await;
    assert_eq!(body["followers"], 2, "{body}");
    let (_, ch) = send(&app, get.clone(), "/api/channels/maker", Some(&fan), None).await;
    assert_eq!(ch["followers"], 2, "{ch}");
    assert_eq!(ch["following"], true);
    let (_, ch) = send(&app, get.clone(), "/api/channels/maker", None, None).await;
    assert_eq!(ch["following"], false);

    // The follower's list; the channel's own owner cannot follow it; unknown channels are 404.
    let (s, list) = send(&app, get.clone(), "/api/me/following", Some(&fan), None).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["handle"], "maker");
    assert_eq!(list[0]["url"], "/c/maker");
    assert_eq!(list[0]["live"], false);
    let (s, body) = send(
        &app,
        post.clone(),
        "/api/channels/maker/follow",
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (422, Some("OWN_CHANNEL")),
        "{body}"
    );
    for path in [
        "/api/channels/nobody_here/follow",
        "/api/channels/bad%20handle!/follow",
    ] {
        let (s, body) = send(&app, post.clone(), path, Some(&fan), None).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (404, Some("CHANNEL_NOT_FOUND")),
            "{path}: {body}"
        );
    }

    // Unfollowing, twice, leaves one follower; the database agrees on who and since when.
    for _ in 0..2 {
        let (s, body) = send(
            &app,
            delete.clone(),
            "/api/channels/maker/follow",
            Some(&fan),
            None,
        )
        .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body, json!({"following": false, "followers": 1}));
    }
    let db = &state(&app).db;
    let maker = db
        .user_by_handle("maker")
        .await
        .expect("db")
        .expect("maker");
    let other_id = db
        .user_by_handle("other")
        .await
        .expect("db")
        .expect("other")
        .id;
    assert_eq!(
        db.followers_after(maker.id, 0, 10).await.expect("db"),
        vec![other_id]
    );
    assert!(db
        .followers_after(maker.id, other_id, 10)
        .await
        .expect("db")
        .is_empty());
    let now = ferrocast_db::now_ms();
    assert_eq!(
        db.new_followers_between(maker.id, now - 60_000, now + 1)
            .await
            .expect("db"),
        1
    );
    assert_eq!(
        db.new_followers_between(maker.id, now + 1, now + 60_000)
            .await
            .expect("db"),
        0
    );

    // A suspended channel cannot be followed.
    db.set_suspended(maker.id, Some(now), now)
        .await
        .expect("suspend");
    let (s, _) = send(
        &app,
        post.clone(),
        "/api/channels/maker/follow",
        Some(&fan),
        None,
    )
    .await;
    assert_eq!(s, 404);
    app.finish().await;
}

both_backends!(
    handles_are_derived_unique_and_never_reserved,
    profile_edits_are_checked,
    avatar_and_banner,
    channel_lists_live_and_ready_public_videos,
    following_a_channel,
);
