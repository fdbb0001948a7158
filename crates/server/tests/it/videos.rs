//! Videos: the library API (paging, storage usage, visibility, edits, deletion) and the
//! serving of a video's objects at /vod with HTTP ranges and signed URLs, on both databases,
//! with the objects on local disk and on S3 (moto).

use crate::support;
use crate::support::s3::{make_mp4, Moto};
use crate::support::{client, creator_with_source, register_user, Backend, Options, TestApp};
use bytes::Bytes;
use ferrocast_db::videos::{NewVideo, VideoMedia, VideoRecord};
use ferrocast_server::service::videos::{new_video_id, UrlSigner};
use serde_json::{json, Value};

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

/// A video stored directly (as the pipeline would leave it): `status`, `visibility`, with the
/// given objects put into storage and counted in its size.
async fn stored_video(
    app: &TestApp,
    owner: i64,
    source_id: Option<i64>,
    status: &str,
    visibility: &str,
    objects: &[(&str, Bytes)],
) -> VideoRecord {
    let st = state(app);
    let uuid = new_video_id();
    let kind = if source_id.is_some() {
        "recording"
    } else {
        "upload"
    };
    let v = st
        .db
        .create_video(
            &NewVideo {
                uuid: &uuid,
                user_id: owner,
                source_id,
                kind,
                title: "A video",
                description: "",
                tags: &[],
                visibility,
                status,
                expires_at: None,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("create video");
    let names: Vec<&str> = objects.iter().map(|(n, _)| *n).collect();
    let media = VideoMedia {
        duration_ms: Some(4_000),
        width: Some(640),
        height: Some(360),
        video_codec: Some("h264".into()),
        audio_codec: Some("aac".into()),
        has_hls: names.contains(&"hls/index.m3u8"),
        has_mp4: names.contains(&"video.mp4"),
        has_thumbnail: names.contains(&"thumb.jpg"),
        strip_frames: 0,
    };
    st.db
        .set_video_media(v.id, &media, ferrocast_db::now_ms())
        .await
        .expect("media");
    let mut size = 0;
    for (name, bytes) in objects {
        size += bytes.len() as i64;
        st.storage
            .put(&format!("videos/{uuid}/{name}"), bytes.clone())
            .await
            .expect("put object");
    }
    st.db
        .add_video_size(v.id, size, ferrocast_db::now_ms())
        .await
        .expect("size");
    st.db.video_by_id(v.id).await.expect("db").expect("video")
}

async fn get_json(url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn mp4_bytes(dir: &std::path::Path) -> Bytes {
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("clip.mp4");
    make_mp4(&path, 2, "400k");
    Bytes::from(std::fs::read(&path).expect("read mp4"))
}

/// Ranges of an MP4 in storage (206, suffix, open-ended, 416, If-Range, several ranges), then
/// deletion: every object goes and the quota is freed.
async fn ranges_and_delete(b: Backend, s3: bool) {
    let moto = if s3 {
        let Some(m) = Moto::start() else { return };
        m.create_bucket("ferrocast-vod").await;
        Some(m)
    } else {
        None
    };
    let opts = Options {
        extra: moto
            .as_ref()
            .map(|m| m.node_settings("ferrocast-vod", "node-a"))
            .unwrap_or_default(),
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    if s3 {
        assert!(state(&app).storage.is_remote(), "the node stores on S3");
    }
    let token = register_user(&app, "owner@example.com", "Owner").await;
    let owner = user_id(&app, "owner@example.com").await;
    let mp4 = mp4_bytes(&app.data_dir.join("gen"));
    let n = mp4.len();
    assert!(n > 1000, "a real MP4: {n} bytes");
    let thumb = Bytes::from_static(b"\xff\xd8\xff\xe0 not really a jpeg");
    let v = stored_video(
        &app,
        owner,
        None,
        "ready",
        "public",
        &[("video.mp4", mp4.clone()), ("thumb.jpg", thumb.clone())],
    )
    .await;
    let url = app.url(&format!("/vod/{}/video.mp4", v.uuid));
    let c = client();

    let full = c.get(&url).send().await.expect("get");
    assert_eq!(full.status(), 200);
    let h = full.headers().clone();
    assert_eq!(h["content-type"], "video/mp4");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["content-length"], n.to_string().as_str());
    assert!(
        h["cache-control"]
            .to_str()
            .expect("text")
            .starts_with("public"),
        "{h:?}"
    );
    let etag = h["etag"].to_str().expect("etag").to_string();
    let last_modified = h["last-modified"].to_str().expect("date").to_string();
    assert_eq!(full.bytes().await.expect("body"), mp4);

    let head = c.head(&url).send().await.expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], n.to_string().as_str());
    assert_eq!(head.headers()["etag"], etag.as_str());

    let part = |range: &'static str| {
        let c = c.clone();
        let url = url.clone();
        async move {
            let res = c
                .get(&url)
                .header("range", range)
                .send()
                .await
                .expect("range");
            let status = res.status().as_u16();
            let cr = res
                .headers()
                .get("content-range")
                .map(|v| v.to_str().expect("text").to_string());
            (status, cr, res.bytes().await.expect("body"))
        }
    };
    let (s, cr, body) = part("bytes=0-99").await;
    assert_eq!(s, 206);
    assert_eq!(cr.as_deref(), Some(format!("bytes 0-99/{n}").as_str()));
    assert_eq!(body, mp4.slice(0..100));
    let (s, cr, body) = part("bytes=-100").await;
    assert_eq!(s, 206);
    assert_eq!(
        cr.as_deref(),
        Some(format!("bytes {}-{}/{n}", n - 100, n - 1).as_str())
    );
    assert_eq!(body, mp4.slice(n - 100..));
    let (s, cr, body) = part("bytes=100-").await;
    assert_eq!(s, 206);
    assert_eq!(
        cr.as_deref(),
        Some(format!("bytes 100-{}/{n}", n - 1).as_str())
    );
    assert_eq!(body, mp4.slice(100..));
    // Several ranges: the whole object.
    let (s, cr, body) = part("bytes=0-9,20-29").await;
    assert_eq!((s, cr), (200, None));
    assert_eq!(body.len(), n);

    let past = c
        .get(&url)
        .header("range", format!("bytes={}-", n + 10))
        .send()
        .await
        .expect("past");
    assert_eq!(past.status(), 416);
    assert_eq!(
        past.headers()["content-range"],
        format!("bytes */{n}").as_str()
    );

    // If-Range: a stale tag is answered with the whole object; the current tag or date with
    // the range.
    let stale = c
        .get(&url)
        .header("range", "bytes=0-99")
        .header("if-range", "\"stale-tag\"")
        .send()
        .await
        .expect("stale");
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.bytes().await.expect("body").len(), n);
    for validator in [etag.as_str(), last_modified.as_str()] {
        let fresh = c
            .get(&url)
            .header("range", "bytes=0-99")
            .header("if-range", validator)
            .send()
            .await
            .expect("fresh");
        assert_eq!(fresh.status(), 206, "If-Range {validator}");
        assert_eq!(fresh.bytes().await.expect("body").len(), 100);
    }
    let old_date = c
        .get(&url)
        .header("range", "bytes=0-99")
        .header("if-range", "Mon, 01 Jan 2001 00:00:00 GMT")
        .send()
        .await
        .expect("old date");
    assert_eq!(old_date.status(), 200);

    // Only the video's own objects are served.
    for path in ["source", "hls/../source", "secret.txt"] {
        let res = c
            .get(app.url(&format!("/vod/{}/{path}", v.uuid)))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 404, "{path}");
    }
    let thumb_res = c
        .get(app.url(&format!("/vod/{}/thumb.jpg", v.uuid)))
        .send()
        .await
        .expect("thumb");
    assert_eq!(thumb_res.status(), 200);
    assert_eq!(thumb_res.headers()["content-type"], "image/jpeg");

    // Usage counts the video; deleting it removes its objects and frees the quota.
    let (s, list) = get_json(app.url("/api/videos"), Some(&token)).await;
    assert_eq!(s, 200, "{list}");
    let stored = (n + thumb.len()) as i64;
    assert_eq!(list["storage"]["used_bytes"], stored, "{list}");
    assert!(list["storage"]["quota_bytes"].as_i64().expect("quota") > stored);
    let other = register_user(&app, "other@example.com", "Other").await;
    let res = c
        .delete(app.url(&format!("/api/videos/{}", v.uuid)))
        .bearer_auth(&other)
        .send()
        .await
        .expect("delete");
    assert_eq!(
        res.status(),
        404,
        "someone else's video is not theirs to delete"
    );
    let res = c
        .delete(app.url(&format!("/api/videos/{}", v.uuid)))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 204);
    let left = state(&app)
        .storage
        .list(&format!("videos/{}", v.uuid))
        .await
        .expect("list");
    assert!(left.is_empty(), "objects left: {left:?}");
    assert_eq!(c.get(&url).send().await.expect("get").status(), 404);
    let (_, list) = get_json(app.url("/api/videos"), Some(&token)).await;
    assert_eq!(list["storage"]["used_bytes"], 0, "{list}");
    assert_eq!(list["pagination"]["total"], 0, "{list}");
    app.finish().await;
}

async fn ranges_and_delete_on_disk(b: Backend) {
    ranges_and_delete(b, false).await
}

async fn ranges_and_delete_on_s3(b: Backend) {
    ranges_and_delete(b, true).await
}

/// Paging, visibility (private, unlisted, not ready), signed URLs, edits and past broadcasts.
async fn library_visibility_and_edits(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "host@example.com").await;
    let token = src.token.clone();
    let owner = user_id(&app, "host@example.com").await;
    let other = register_user(&app, "other@example.com", "Other").await;
    let seg = Bytes::from_static(&[0x47; 188 * 4]);
    let playlist = Bytes::from_static(
        b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2.0,\nseg0.ts\n#EXT-X-ENDLIST\n",
    );
    let public = stored_video(&app, owner, None, "ready", "public", &[]).await;
    let private = stored_video(
        &app,
        owner,
        None,
        "ready",
        "private",
        &[
            ("hls/index.m3u8", playlist.clone()),
            ("hls/seg0.ts", seg.clone()),
            ("video.mp4", Bytes::from_static(b"mp4 bytes")),
        ],
    )
    .await;
    let unlisted = stored_video(&app, owner, None, "ready", "unlisted", &[]).await;
    let processing = stored_video(&app, owner, None, "processing", "public", &[]).await;
    state(&app)
        .db
        .enqueue_job(
            "process_upload",
            Some(processing.id),
            // Not due for an hour: the worker leaves it queued while the test looks at it (it
            // would find no uploaded file and fail it).
            &json!({}),
            ferrocast_db::now_ms() + 3_600_000,
            3,
            ferrocast_db::now_ms(),
        )
        .await
        .expect("job");
    let past = stored_video(&app, owner, Some(src.id), "ready", "public", &[]).await;
    let past_private = stored_video(&app, owner, Some(src.id), "ready", "private", &[]).await;

    // Paging: 6 videos, 4 a page.
    let (s, p1) = get_json(app.url("/api/videos?page=1&limit=4"), Some(&token)).await;
    assert_eq!(s, 200, "{p1}");
    assert_eq!(p1["videos"].as_array().expect("videos").len(), 4);
    assert_eq!(
        p1["pagination"],
        json!({"page": 1, "limit": 4, "total": 6, "pages": 2})
    );
    let (_, p2) = get_json(app.url("/api/videos?page=2&limit=4"), Some(&token)).await;
    assert_eq!(p2["videos"].as_array().expect("videos").len(), 2);
    let ids: Vec<&str> = p1["videos"]
        .as_array()
        .into_iter()
        .chain(p2["videos"].as_array())
        .flatten()
        .map(|v| v["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 6);
    assert_eq!(ids[0], past_private.uuid, "newest first");
    let (_, others) = get_json(app.url("/api/videos"), Some(&other)).await;
    assert_eq!(others["videos"], json!([]), "only one's own videos");
    let (s, _) = get_json(app.url("/api/videos"), None).await;
    assert_eq!(s, 401);

    // Visibility.
    let one = |id: &str, who: Option<&str>| {
        let url = app.url(&format!("/api/videos/{id}"));
        let who = who.map(str::to_string);
        async move { get_json(url, who.as_deref()).await }
    };
    let (s, v) = one(&public.uuid, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["watch_url"], format!("/v/{}", public.uuid));
    assert_eq!(v["source_id"], Value::Null);
    assert_eq!(v["status"], "ready");
    assert_eq!(one(&unlisted.uuid, None).await.0, 200);
    assert_eq!(one(&unlisted.uuid, Some(&other)).await.0, 200);
    for who in [None, Some(other.as_str())] {
        let (s, body) = one(&private.uuid, who).await;
        assert_eq!(s, 404, "{body}");
        assert_eq!(body["code"], "VIDEO_NOT_FOUND");
        assert_eq!(one(&processing.uuid, who).await.0, 404, "not ready yet");
    }
    let (s, proc_view) = one(&processing.uuid, Some(&token)).await;
    assert_eq!(s, 200);
    assert_eq!(proc_view["progress"]["stage"], "queued", "{proc_view}");
    assert_eq!(proc_view["progress"]["percent"], 0);
    assert_eq!(proc_view["playback"], Value::Null);
    let (s, pv) = one(&past.uuid, Some(&token)).await;
    assert_eq!(s, 200);
    assert_eq!(pv["source_id"], src.id, "the owner sees the source");
    assert_eq!(one("nosuchvideo00000", None).await.0, 404);
    let (s, bad) = get_json(
        app.url(&format!("/api/videos/{}", public.uuid)),
        Some("junk"),
    )
    .await;
    assert_eq!(s, 401, "a bad credential is refused, not ignored: {bad}");

    // A private video's URLs are signed; the owner's player gets them.
    let (s, pv) = one(&private.uuid, Some(&token)).await;
    assert_eq!(s, 200, "{pv}");
    let hls = pv["playback"]["hls"].as_str().expect("hls").to_string();
    let mp4 = pv["playback"]["mp4"].as_str().expect("mp4").to_string();
    assert!(
        hls.starts_with(&format!("/vod/{}/hls/index.m3u8?exp=", private.uuid)),
        "{hls}"
    );
    assert!(mp4.contains("&sig="), "{mp4}");
    assert_eq!(pv["playback"]["thumbnail"], Value::Null);
    let c = client();
    let res = c.get(app.url(&mp4)).send().await.expect("mp4");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_eq!(res.bytes().await.expect("body"), "mp4 bytes");
    let bare = mp4.split('?').next().expect("path");
    assert_eq!(
        c.get(app.url(bare)).send().await.expect("get").status(),
        404
    );
    let tampered = format!("{}0", mp4.trim_end_matches(|c: char| c.is_ascii_hexdigit()));
    assert_eq!(
        c.get(app.url(&tampered))
            .send()
            .await
            .expect("get")
            .status(),
        403,
        "{tampered}"
    );
    let signer = UrlSigner::derive(&app.master_key());
    let expired_at = crate::support::now_secs() - 10;
    let expired = format!(
        "{bare}?exp={expired_at}&sig={}",
        signer.sign(&private.uuid, expired_at)
    );
    let res = c.get(app.url(&expired)).send().await.expect("get");
    assert_eq!(res.status(), 403, "an expired link");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "SIGNATURE_INVALID");
    let other_video = format!(
        "/vod/{}/video.mp4?{}",
        public.uuid,
        mp4.split_once('?').expect("query").1
    );
    assert_eq!(
        c.get(app.url(&other_video))
            .send()
            .await
            .expect("get")
            .status(),
        404,
        "a public video has no MP4 stored"
    );
    // The signed playlist signs its segments.
    let res = c.get(app.url(&hls)).send().await.expect("playlist");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    let text = res.text().await.expect("text");
    let query = hls.split_once('?').expect("query").1;
    assert!(text.contains(&format!("\nseg0.ts?{query}\n")), "{text}");
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    let seg_url = format!("/vod/{}/hls/seg0.ts?{query}", private.uuid);
    let res = c.get(app.url(&seg_url)).send().await.expect("segment");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "video/mp2t");
    assert_eq!(res.bytes().await.expect("body"), seg);

    // Edits, validated.
    let patch = |id: String, who: String, body: Value| {
        let c = c.clone();
        let url = app.url(&format!("/api/videos/{id}"));
        async move {
            let res = c
                .patch(url)
                .bearer_auth(who)
                .json(&body)
                .send()
                .await
                .expect("patch");
            let s = res.status().as_u16();
            (s, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let id = public.uuid.clone();
    for bad in [
        json!({"title": ""}),
        json!({"title": "x".repeat(201)}),
        json!({"description": "d".repeat(5001)}),
        json!({"tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
        json!({"tags": ["t".repeat(41)]}),
        json!({"visibility": "secret"}),
    ] {
        let (s, body) = patch(id.clone(), token.clone(), bad.clone()).await;
        assert_eq!(s, 422, "{bad} → {body}");
        assert_eq!(body["code"], "VALIDATION_ERROR");
    }
    let (s, _) = patch(id.clone(), token.clone(), json!({"colour": "red"})).await;
    assert!((400..500).contains(&s), "unknown fields are refused: {s}");
    let (s, _) = patch(id.clone(), other.clone(), json!({"title": "Mine now"})).await;
    assert_eq!(s, 404);
    let (s, edited) = patch(
        id.clone(),
        token.clone(),
        json!({"title": "  Holiday  ", "description": "By the sea", "tags": ["sea", "sun", "sea"], "visibility": "private"}),
    )
    .await;
    assert_eq!(s, 200, "{edited}");
    assert_eq!(edited["title"], "Holiday");
    assert_eq!(edited["description"], "By the sea");
    assert_eq!(edited["tags"], json!(["sea", "sun"]));
    assert_eq!(edited["visibility"], "private");
    assert_eq!(one(&id, None).await.0, 404, "now private");
    let (s, edited) = patch(id.clone(), token.clone(), json!({"visibility": "public"})).await;
    assert_eq!(s, 200);
    assert_eq!(edited["title"], "Holiday", "fields left out stay");

    // Past broadcasts: the source's public ready recordings.
    let (s, pb) = get_json(
        app.url(&format!("/api/watch/{}/videos", src.playback_id)),
        None,
    )
    .await;
    assert_eq!(s, 200, "{pb}");
    let listed: Vec<&str> = pb["videos"]
        .as_array()
        .expect("videos")
        .iter()
        .map(|v| v["id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, vec![past.uuid.as_str()]);
    assert_eq!(pb["videos"][0]["source_id"], Value::Null);
    let (s, _) = get_json(app.url("/api/watch/nosuchstream/videos"), None).await;
    assert_eq!(s, 404);

    // The web app's pages for videos.
    for page in ["/library".to_string(), format!("/v/{}", public.uuid)] {
        let res = c.get(app.url(&page)).send().await.expect("page");
        let status = res.status();
        let text = res.text().await.expect("text");
        // The app's index.html (or, in a build without web/dist, the note that it is not built).
        assert!(
            status == 200 || text.contains("web app is not built"),
            "{page} is a page of the app: {status} {text}"
        );
    }
    let res = c
        .get(app.url("/vod/nosuchvideo00000/video.mp4"))
        .send()
        .await
        .expect("vod");
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.expect("a JSON 404, not the app");
    assert_eq!(body["code"], "VIDEO_NOT_FOUND");
    app.finish().await;
}

both_backends!(
    ranges_and_delete_on_disk,
    ranges_and_delete_on_s3,
    library_visibility_and_edits
);
