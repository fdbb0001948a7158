//! Social posts over HTTP, on both databases: a picture made by ffmpeg is uploaded and stored
//! as WebP fitted within 1280×1280 (ffprobe reads it); refusals say why (not a picture, another
//! user's picture, too many, nothing at all); the post shows on the channel and in a
//! follower's home feed, not in a stranger's; likes count once per user and come back; comments
//! follow the channel's blocked words and bans; a stranger cannot delete a comment, the
//! channel's owner can (audited); a picture uploaded and never posted is swept after a day, a
//! posted one stays; deleting the post takes its pictures.

use crate::processing::{make, scratch};
use crate::support::{self, call, client, creator_with_source, register_user, Backend, TestApp};
use serde_json::{json, Value};

both_backends!(posts_feed_likes_and_comments);

async fn upload(app: &TestApp, token: &str, bytes: Vec<u8>, kind: &str) -> (u16, Value) {
    let res = client()
        .post(app.url("/api/posts/images"))
        .bearer_auth(token)
        .header("content-type", kind)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn posts_feed_likes_and_comments(b: Backend) {
    support::require("ffprobe");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "poster@example.com").await;
    let fan = register_user(&app, "fan@example.com", "Fan").await;
    let stranger = register_user(&app, "stranger@example.com", "Stranger").await;
    let (_, me) = call(&app, "GET", "/api/auth/me", Some(&creator.token), None).await;
    let handle = me["handle"].as_str().expect("handle").to_string();

    // A 1920×1080 PNG becomes a 1280×720 WebP.
    let dir = scratch();
    let png = dir.join("wide.png");
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080",
            "-frames:v",
            "1",
        ],
        &png,
    );
    let (status, image) = upload(
        &app,
        &creator.token,
        std::fs::read(&png).expect("png"),
        "image/png",
    )
    .await;
    assert_eq!(status, 201, "{image}");
    let key = image["key"].as_str().expect("key").to_string();
    let url = image["url"].as_str().expect("url").to_string();
    let res = client().get(app.url(&url)).send().await.expect("picture");
    assert_eq!(res.headers()["content-type"], "image/webp");
    let webp = res.bytes().await.expect("bytes");
    assert!(&webp[..4] == b"RIFF" && &webp[8..12] == b"WEBP");
    // The RIFF size is the file's (browsers refuse a WebP whose header says otherwise).
    assert_eq!(
        u32::from_le_bytes([webp[4], webp[5], webp[6], webp[7]]) as usize,
        webp.len() - 8
    );
    let file = dir.join("stored.webp");
    std::fs::write(&file, &webp).expect("write");
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .expect("ffprobe");
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "webp,1280,720"
    );
    let (status, body) = upload(
        &app,
        &creator.token,
        b"GIF89a not really".to_vec(),
        "image/gif",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("IMAGE_INVALID")),
        "{body}"
    );

    // Refusals say why.
    let (_, other) = upload(&app, &fan, std::fs::read(&png).expect("png"), "image/png").await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/posts",
        Some(&creator.token),
        Some(json!({"body": "hi", "images": [other["key"]]})),
    )
    .await;
    assert_eq!(status, 422, "another user's picture: {body}");
    let five: Vec<String> = (0..5).map(|_| key.clone()).collect();
    let (status, body) = call(
        &app,
        "POST",
        "/api/posts",
        Some(&creator.token),
        Some(json!({"body": "hi", "images": five})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 4"),
        "{body}"
    );
    let (status, body) = call(
        &app,
        "POST",
        "/api/posts",
        Some(&creator.token),
        Some(json!({"body": "   "})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("add a picture"),
        "{body}"
    );

    let (status, post) = call(
        &app,
        "POST",
        "/api/posts",
        Some(&creator.token),
        Some(json!({"body": "New set tonight!\n\n\n\nBring friends", "images": [key]})),
    )
    .await;
    assert_eq!(status, 201, "{post}");
    assert_eq!(post["body"], "New set tonight!\n\nBring friends");
    assert_eq!(post["images"][0], url);
    assert_eq!(post["author"]["handle"], handle.as_str());
    let uuid = post["uuid"].as_str().expect("uuid").to_string();

    // The channel shows it to anyone; the follower's feed has it, a stranger's does not.
    let (status, page) = call(
        &app,
        "GET",
        &format!("/api/channels/{handle}/posts"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["posts"][0]["uuid"], uuid.as_str());
    assert_eq!(page["posts"][0]["can_delete"], false);
    let (status, _) = call(
        &app,
        "POST",
        &format!("/api/channels/{handle}/follow"),
        Some(&fan),
        None,
    )
    .await;
    assert!(status == 200 || status == 201);
    let (_, feed) = call(&app, "GET", "/api/feed", Some(&fan), None).await;
    assert_eq!(feed["posts"].as_array().map(Vec::len), Some(1), "{feed}");
    let (_, feed) = call(&app, "GET", "/api/feed", Some(&stranger), None).await;
    assert_eq!(feed["posts"].as_array().map(Vec::len), Some(0), "{feed}");
    let (_, feed) = call(&app, "GET", "/api/feed", Some(&creator.token), None).await;
    assert_eq!(feed["posts"][0]["can_delete"], true, "{feed}");

    // Likes: once per user, and taken back.
    for _ in 0..2 {
        let (status, likes) = call(
            &app,
            "PUT",
            &format!("/api/posts/{uuid}/like"),
            Some(&fan),
            None,
        )
        .await;
        assert_eq!((status, likes["likes"].as_i64()), (200, Some(1)), "{likes}");
    }
    let (_, seen) = call(&app, "GET", &format!("/api/posts/{uuid}"), Some(&fan), None).await;
    assert_eq!(
        (seen["liked"].as_bool(), seen["likes"].as_i64()),
        (Some(true), Some(1)),
        "{seen}"
    );
    let (_, likes) = call(
        &app,
        "DELETE",
        &format!("/api/posts/{uuid}/like"),
        Some(&fan),
        None,
    )
    .await;
    assert_eq!(likes["likes"], 0);

    // Comments follow the channel's rules and bans.
    let (status, c) = call(
        &app,
        "POST",
        &format!("/api/posts/{uuid}/comments"),
        Some(&fan),
        Some(json!({"body": "See you there"})),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    let comment_id = c["id"].as_i64().expect("id");
    let (status, _) = call(
        &app,
        "PUT",
        &format!("/api/chat/settings/{}", creator.id),
        Some(&creator.token),
        Some(
            json!({ "slow_mode_seconds": 0, "blocked_words": ["spoiler"], "links_allowed": true }),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/posts/{uuid}/comments"),
        Some(&fan),
        Some(json!({"body": "SPOILER: it rains"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("COMMENT_REFUSED")),
        "{body}"
    );
    let (_, stranger_me) = call(&app, "GET", "/api/auth/me", Some(&stranger), None).await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/chat/bans",
        Some(&creator.token),
        Some(json!({ "source_id": creator.id, "user_id": stranger_me["uuid"], "reason": "rude" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/posts/{uuid}/comments"),
        Some(&stranger),
        Some(json!({"body": "let me in"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("BANNED")),
        "{body}"
    );
    let (_, list) = call(
        &app,
        "GET",
        &format!("/api/posts/{uuid}/comments"),
        None,
        None,
    )
    .await;
    assert_eq!(list["comments"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["comments"][0]["author"]["display_name"], "Fan");

    // Deleting: not a stranger's to do; the channel's owner may (and it is audited).
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/posts/comments/{comment_id}"),
        Some(&stranger),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/posts/comments/{comment_id}"),
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let db = &app.running.as_ref().expect("running").state.db;
    let audited = db
        .audit_range(0, i64::MAX)
        .await
        .expect("audit")
        .iter()
        .any(|e| e.action == "moderation.post_comment_deleted");
    assert!(audited, "the moderator's deletion is in the audit log");
    // Reports: a post and a post's comment go to the moderation queue; removing takes them down.
    let moderator = support::register_admin(&app, "mod@example.com").await;
    let (status, second) = call(
        &app,
        "POST",
        "/api/posts",
        Some(&creator.token),
        Some(json!({"body": "Cheap followers, DM me"})),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let second_uuid = second["uuid"].as_str().expect("uuid").to_string();
    let (status, reply) = call(
        &app,
        "POST",
        &format!("/api/posts/{second_uuid}/comments"),
        Some(&fan),
        Some(json!({"body": "me too, cheap"})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let report = |kind: &str, target: String| json!({"kind": kind, "target": target, "category": "spam", "details": "A scam."});
    let (status, on_post) = call(
        &app,
        "POST",
        "/api/reports",
        Some(&stranger),
        Some(report("post", second_uuid.clone())),
    )
    .await;
    assert_eq!(status, 201, "{on_post}");
    let (status, on_comment) = call(
        &app,
        "POST",
        "/api/reports",
        Some(&stranger),
        Some(report("post_comment", reply["id"].to_string())),
    )
    .await;
    assert_eq!(status, 201, "{on_comment}");
    let (status, body) = call(
        &app,
        "POST",
        "/api/reports",
        Some(&stranger),
        Some(report("post", "no-such-post".into())),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    for r in [&on_comment, &on_post] {
        let (status, d) = call(
            &app,
            "POST",
            &format!("/api/moderation/reports/{}/decision", r["id"]),
            Some(&moderator),
            Some(json!({"outcome": "remove", "note": ""})),
        )
        .await;
        assert_eq!(status, 200, "{d}");
    }
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/posts/{second_uuid}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404, "the reported post was taken down");

    // A picture uploaded and never posted is swept after a day; a posted one stays.
    let (status, unposted) = upload(
        &app,
        &creator.token,
        std::fs::read(&png).expect("png"),
        "image/png",
    )
    .await;
    assert_eq!(status, 201, "{unposted}");
    let unposted_url = unposted["url"].as_str().expect("url").to_string();
    let state = app.running.as_ref().expect("running").state.clone();
    let now = support::now_secs() * 1000;
    assert_eq!(
        state.posts.sweep_unposted_at(now).await.expect("sweep"),
        0,
        "not a day old"
    );
    let swept = state
        .posts
        .sweep_unposted_at(now + 25 * 3600 * 1000)
        .await
        .expect("sweep");
    assert!(swept >= 1, "the unposted picture is swept");
    let res = client()
        .get(app.url(&unposted_url))
        .send()
        .await
        .expect("picture");
    assert_eq!(res.status(), 404, "the unposted picture was swept");
    let res = client().get(app.url(&url)).send().await.expect("picture");
    assert_eq!(res.status(), 200, "the posted picture stays");
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/posts/{uuid}"),
        Some(&stranger),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/posts/{uuid}"),
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let res = client().get(app.url(&url)).send().await.expect("picture");
    assert_eq!(res.status(), 404, "the picture went with its post");
    let (_, feed) = call(&app, "GET", "/api/feed", Some(&fan), None).await;
    assert_eq!(feed["posts"].as_array().map(Vec::len), Some(0), "{feed}");
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}
