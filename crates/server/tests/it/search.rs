//! Search on both databases: channels by a word of their bio, name or handle and by a handle
//! prefix with typos; streams live now (a real ffmpeg publisher) by title, tag and category;
//! public ready videos by title, tags and description; the indexes follow edits, visibility
//! changes and deletes; pages go on with a cursor; and hostile queries (very long, quotes, `*`,
//! `NEAR(`, `:`, operators, control characters) are answered, never an error.

use crate::support::{
    self as support, call, creator_with_source, publish, register_user, require, Backend, Options,
    TestApp,
};
use ferrocast_db::videos::NewVideo;
use ferrocast_server::service::videos::new_video_id;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn state(app: &TestApp) -> &ferrocast_server::state::AppState {
    &app.running.as_ref().expect("running").state
}

async fn search(app: &TestApp, query: &str) -> Value {
    let (status, body) = call(app, "GET", &format!("/api/search?{query}"), None, None).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn q(words: &str) -> String {
    format!("q={}", urlencode(words))
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn handles(body: &Value) -> Vec<String> {
    body["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| c["handle"].as_str().expect("handle").to_string())
        .collect()
}

fn video_titles(body: &Value) -> Vec<String> {
    body["videos"]
        .as_array()
        .expect("videos")
        .iter()
        .map(|v| v["video"]["title"].as_str().expect("title").to_string())
        .collect()
}

async fn profile(app: &TestApp, token: &str, change: Value) {
    let (status, body) = call(app, "PATCH", "/api/me/profile", Some(token), Some(change)).await;
    assert_eq!(status, 200, "{body}");
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

async fn channels_by_bio_words_and_handles_with_typos(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let streamer = register_user(&app, "s42@example.com", "Night Owl").await;
    profile(
        &app,
        &streamer,
        json!({"handle": "streamer42", "bio": "Speedruns of forgotten platformers, every Tuesday."}),
    )
    .await;
    let other = register_user(&app, "gardener@example.com", "Green Thumb").await;
    profile(
        &app,
        &other,
        json!({"handle": "gardenstream", "bio": "Tomatoes and compost."}),
    )
    .await;
    let third = register_user(&app, "str@example.com", "Stream Team").await;
    profile(&app, &third, json!({"handle": "streamteam"})).await;

    // A word of the bio, in any case; a prefix of it too.
    let body = search(&app, &q("PLATFORMERS")).await;
    assert_eq!(handles(&body), ["streamer42"], "{body:#}");
    let c = &body["channels"][0];
    assert_eq!(c["display_name"], "Night Owl");
    assert_eq!(c["url"], "/c/streamer42");
    assert_eq!(c["matched"], "text");
    assert_eq!(c["live"], false);
    assert!(c["bio"]
        .as_str()
        .is_some_and(|b| b.starts_with("Speedruns")));
    assert_eq!(handles(&search(&app, &q("platform")).await), ["streamer42"]);
    // Every word must match: two words of the bio, and one word of the name.
    assert_eq!(
        handles(&search(&app, &q("forgotten tuesday")).await),
        ["streamer42"]
    );
    assert_eq!(
        handles(&search(&app, &q("forgotten compost")).await),
        Vec::<String>::new()
    );
    assert_eq!(handles(&search(&app, &q("owl")).await), ["streamer42"]);

    // The handle's prefix, exactly and with typos.
    let body = search(&app, &q("@stream")).await;
    let mut first_two = handles(&body)[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, ["streamer42", "streamteam"], "{body:#}");
    assert!(body["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .take(2)
        .all(|c| c["matched"] == "handle"));
    for typo in ["stremer", "strmer", "streamre42", "sreamer"] {
        let body = search(&app, &q(typo)).await;
        let found = handles(&body);
        assert!(
            found.contains(&"streamer42".to_string()),
            "{typo}: {body:#}"
        );
        let hit = &body["channels"][found.iter().position(|h| h == "streamer42").expect("hit")];
        assert_eq!(hit["matched"], "similar_handle", "{typo}: {body:#}");
        assert!(
            !found.contains(&"gardenstream".to_string()),
            "{typo}: {body:#}"
        );
    }
    // Too far off is not a match.
    assert!(!handles(&search(&app, &q("stxxxxr")).await).contains(&"streamer42".to_string()));

    // The index follows edits: the old bio's words and handle are gone, the new ones found.
    profile(
        &app,
        &streamer,
        json!({"handle": "owlcaster", "bio": "Knitting marathons."}),
    )
    .await;
    assert_eq!(
        handles(&search(&app, &q("platformers")).await),
        Vec::<String>::new()
    );
    assert_eq!(handles(&search(&app, &q("knitting")).await), ["owlcaster"]);
    assert!(!handles(&search(&app, &q("streamer42")).await).contains(&"streamer42".to_string()));
    assert_eq!(handles(&search(&app, &q("owlcastr")).await), ["owlcaster"]);

    // A suspended channel is not found; nor is it once the account is gone.
    let id = user_id(&app, "gardener@example.com").await;
    ferrocast_db::on_pool!(&state(&app).db, p => sqlx::query("UPDATE users SET suspended_at = 1 WHERE id = $1")
        .bind(id).execute(p).await.map(|_| ()).expect("suspend"));
    assert_eq!(
        handles(&search(&app, &q("tomatoes")).await),
        Vec::<String>::new()
    );
    assert!(!handles(&search(&app, &q("gardenstrea")).await).contains(&"gardenstream".to_string()));
    ferrocast_db::on_pool!(&state(&app).db, p => sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id).execute(p).await.map(|_| ()).expect("delete"));
    ferrocast_db::on_pool!(&state(&app).db, p => {
        let grams: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM search_handle_grams WHERE user_id = $1")
            .bind(id).fetch_one(p).await.expect("grams");
        assert_eq!(grams, 0, "a deleted account's handle leaves the index");
    });

    // Pages of channels go on with the cursor, without repeats.
    for i in 0..5 {
        let t = register_user(
            &app,
            &format!("pager{i}@example.com"),
            &format!("Pager {i}"),
        )
        .await;
        profile(&app, &t, json!({"bio": "Member of the zephyr club."})).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = format!("{}&type=channels&limit=2", q("zephyr"));
        if let Some(c) = &cursor {
            query.push_str(&format!("&cursor={c}"));
        }
        let body = search(&app, &query).await;
        assert!(body["live"].as_array().expect("live").is_empty());
        seen.extend(handles(&body));
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "{seen:?}");
    app.finish().await;
}

async fn new_video(
    app: &TestApp,
    owner: i64,
    title: &str,
    description: &str,
    tags: &[&str],
) -> String {
    let uuid = new_video_id();
    let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    state(app)
        .db
        .create_video(
            &NewVideo {
                uuid: &uuid,
                user_id: owner,
                source_id: None,
                kind: "upload",
                title,
                description,
                tags: &tags,
                visibility: "public",
                status: "processing",
                expires_at: None,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("video");
    uuid
}

async fn videos_by_title_tags_and_description(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let token = register_user(&app, "vids@example.com", "Video Maker").await;
    let owner = user_id(&app, "vids@example.com").await;
    let a = new_video(
        &app,
        owner,
        "Sourdough basics",
        "Flour, water and patience.",
        &["baking"],
    )
    .await;
    let b2 = new_video(
        &app,
        owner,
        "Croissant lamination",
        "Butter layers.",
        &["baking", "pastry"],
    )
    .await;
    // Not ready yet: not found.
    assert_eq!(
        video_titles(&search(&app, &q("sourdough")).await),
        Vec::<String>::new()
    );
    for uuid in [&a, &b2] {
        let v = state(&app)
            .db
            .video_by_uuid(uuid)
            .await
            .expect("db")
            .expect("video");
        state(&app)
            .db
            .set_video_status(v.id, "ready", None, ferrocast_db::now_ms())
            .await
            .expect("ready");
    }
    let body = search(&app, &q("sourdough")).await;
    assert_eq!(video_titles(&body), ["Sourdough basics"], "{body:#}");
    assert_eq!(body["videos"][0]["channel"]["handle"], "video_maker");
    assert_eq!(body["videos"][0]["video"]["id"], a.as_str());
    assert_eq!(
        video_titles(&search(&app, &q("patience")).await),
        ["Sourdough basics"]
    );
    let mut both = video_titles(&search(&app, &q("baking")).await);
    both.sort();
    assert_eq!(both, ["Croissant lamination", "Sourdough basics"]);
    assert_eq!(
        video_titles(&search(&app, &q("pastry")).await),
        ["Croissant lamination"]
    );

    // Edits through the API: a new title is found, the old one is not; private leaves the
    // index, public again returns; a deleted video is gone.
    let path = format!("/api/videos/{a}");
    let (status, body) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"title": "Rye bread"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        video_titles(&search(&app, &q("sourdough")).await),
        Vec::<String>::new()
    );
    assert_eq!(video_titles(&search(&app, &q("rye")).await), ["Rye bread"]);
    let (status, _) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"visibility": "private"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        video_titles(&search(&app, &q("rye")).await),
        Vec::<String>::new()
    );
    let (status, _) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"visibility": "public"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(video_titles(&search(&app, &q("rye")).await), ["Rye bread"]);
    let (status, body) = call(&app, "DELETE", &path, Some(&token), None).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert_eq!(
        video_titles(&search(&app, &q("rye")).await),
        Vec::<String>::new()
    );
    // Only videos when asked for videos.
    let body = search(&app, &format!("{}&type=videos", q("baking"))).await;
    assert_eq!(video_titles(&body), ["Croissant lamination"]);
    assert!(body["channels"].as_array().expect("channels").is_empty());
    app.finish().await;
}

async fn hostile_queries_are_answered(b: Backend) {
    let opts = Options {
        extra: vec![("search_rate_limit", "0".into())],
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let t = register_user(&app, "h@example.com", "Quote Person").await;
    profile(&app, &t, json!({"bio": "Plain words only."})).await;
    let long = "x".repeat(20_000);
    let words = (0..300)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let hostile = [
        "\"",
        "\"\"",
        "\"plain",
        "plain\"",
        "*",
        "plain*",
        "**",
        "NEAR(plain words)",
        "NEAR(",
        "plain:",
        ":",
        "bio:plain",
        "handle:quote",
        "plain OR words",
        "NOT plain",
        "plain AND",
        "-plain",
        "+plain",
        "^plain",
        "(plain",
        "plain)",
        "{plain}",
        "[plain]",
        "plain & words",
        "plain | words",
        "!plain",
        "plain <-> words",
        "'plain'",
        "plain\\",
        "%",
        "_",
        "%_%",
        "plain; DROP TABLE users;--",
        "\u{0}plain",
        "plain\u{7}\u{1b}",
        "🙂 plain",
        "ПЛАИН",
        "a",
        "",
        " ",
        "@",
        "@@@",
        "\t\n",
        &long,
        &words,
    ];
    for h in hostile {
        for kind in ["all", "channels", "live", "videos"] {
            let query = format!("{}&type={kind}", q(h));
            let (status, body) =
                call(&app, "GET", &format!("/api/search?{query}"), None, None).await;
            assert_eq!(status, 200, "{h:?} ({kind}): {body}");
        }
    }
    // Operators are words like any other: "plain" is found through them.
    for h in [
        "\"plain",
        "plain*",
        "(plain)",
        "plain:",
        "-plain",
        "^plain",
        "'plain'",
        "{plain}",
        "plain\u{0}",
    ] {
        let body = search(&app, &q(h)).await;
        assert!(
            handles(&body).contains(&"quote_person".to_string()),
            "{h:?}: {body:#}"
        );
    }
    let body = search(&app, &q(&long)).await;
    assert!(body["words"].as_array().expect("words").len() == 1);
    let body = search(&app, &q(&words)).await;
    assert_eq!(body["words"].as_array().expect("words").len(), 8);
    // Parameters that are not a query are refused in words.
    let (status, body) = call(&app, "GET", "/api/search?q=x&type=people", None, None).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["details"]
            .as_str()
            .is_some_and(|d| d.starts_with("type:")),
        "{body}"
    );
    for cursor in ["abc", "-1", "100000"] {
        let (status, body) = call(
            &app,
            "GET",
            &format!("/api/search?q=x&type=channels&cursor={cursor}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, 422, "{cursor}: {body}");
        assert!(
            body["details"]
                .as_str()
                .is_some_and(|d| d.starts_with("cursor:")),
            "{body}"
        );
    }
    let (status, _) = call(&app, "GET", "/api/search?q=x&cursor=5", None, None).await;
    assert_eq!(status, 422, "a cursor pages one kind");
    app.finish().await;
}

async fn live_streams_by_title_tags_and_category(b: Backend) {
    require("ffmpeg");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "livesearch@example.com").await;
    let (status, body) = call(
        &app,
        "PATCH",
        &format!("/api/sources/{}/metadata", src.id),
        Some(&src.token),
        Some(json!({"title": "Midnight synthwave session", "category": "music", "tags": ["vaporwave"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Not live: not found.
    let body = search(&app, &q("synthwave")).await;
    assert!(
        body["live"].as_array().expect("live").is_empty(),
        "{body:#}"
    );
    let mut encoder = publish(&app.rtmp_url(), &src.key, 60, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let body = search(&app, &format!("{}&type=live", q("synthwave"))).await;
        if !body["live"].as_array().expect("live").is_empty() {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the live stream was never found: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let card = &body["live"][0];
    assert_eq!(card["playback_id"], src.playback_id.as_str());
    assert_eq!(card["title"], "Midnight synthwave session");
    assert_eq!(card["category_name"], "Music");
    assert_eq!(card["channel"]["handle"], "streamer");
    for words in ["vaporwave", "music", "midnight session"] {
        let body = search(&app, &q(words)).await;
        assert_eq!(
            body["live"][0]["playback_id"],
            src.playback_id.as_str(),
            "{words}: {body:#}"
        );
    }
    // The channel shows as live in channel results.
    let body = search(&app, &q("streamer")).await;
    assert_eq!(body["channels"][0]["live"], true, "{body:#}");
    // Retitled while live: the index follows.
    let (status, _) = call(
        &app,
        "PATCH",
        &format!("/api/sources/{}/metadata", src.id),
        Some(&src.token),
        Some(json!({"title": "Morning jazz"})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(search(&app, &q("synthwave")).await["live"]
        .as_array()
        .expect("live")
        .is_empty());
    assert_eq!(
        search(&app, &q("jazz")).await["live"][0]["playback_id"],
        src.playback_id.as_str()
    );
    // For adults: left out unless asked for.
    let (status, _) = call(
        &app,
        "PATCH",
        &format!("/api/sources/{}/metadata", src.id),
        Some(&src.token),
        Some(json!({"mature": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(search(&app, &q("jazz")).await["live"]
        .as_array()
        .expect("live")
        .is_empty());
    assert_eq!(
        search(&app, &format!("{}&mature=true", q("jazz"))).await["live"][0]["title"],
        "Morning jazz"
    );
    let _ = encoder.kill();
    let _ = encoder.wait();
    app.finish().await;
}

async fn the_shorts_feed_holds_public_vertical_minute_videos(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    register_user(&app, "shorts@example.com", "Short Maker").await;
    let owner = user_id(&app, "shorts@example.com").await;
    let db = &state(&app).db;
    // (title, width, height, seconds, visibility, status)
    let made = [
        ("tall one", 1080, 1920, 30, "public", "ready"),
        ("wide one", 1920, 1080, 30, "public", "ready"),
        ("tall long", 1080, 1920, 61, "public", "ready"),
        ("tall private", 1080, 1920, 20, "private", "ready"),
        ("tall processing", 1080, 1920, 20, "public", "processing"),
        ("tall two", 720, 1280, 60, "public", "ready"),
        ("tall three", 720, 1280, 5, "public", "ready"),
    ];
    for (i, (title, w, h, secs, vis, status)) in made.into_iter().enumerate() {
        let uuid = new_video(&app, owner, title, "", &[]).await;
        let v = db.video_by_uuid(&uuid).await.expect("db").expect("video");
        let media = ferrocast_db::videos::VideoMedia {
            duration_ms: Some(secs * 1000),
            width: Some(w),
            height: Some(h),
            has_mp4: true,
            ..Default::default()
        };
        db.set_video_media(v.id, &media, 1).await.expect("media");
        db.update_video_metadata(v.id, title, "", &[], vis, 1)
            .await
            .expect("vis");
        db.set_video_status(v.id, status, None, 1)
            .await
            .expect("status");
        // Distinct creation times: the feed is newest first.
        ferrocast_db::on_pool!(db, p => sqlx::query("UPDATE videos SET created_at = $2 WHERE id = $1")
            .bind(v.id).bind(1_000_000 + i as i64).execute(p).await.map(|_| ()).expect("time"));
    }
    let titles = |body: &Value| -> Vec<String> {
        body["shorts"]
            .as_array()
            .expect("shorts")
            .iter()
            .map(|s| s["video"]["title"].as_str().expect("title").to_string())
            .collect()
    };
    let (status, body) = call(&app, "GET", "/api/browse/shorts", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        titles(&body),
        ["tall three", "tall two", "tall one"],
        "{body:#}"
    );
    assert_eq!(body["shorts"][0]["channel"]["handle"], "short_maker");
    assert!(
        body["shorts"][0]["video"]["playback"]["mp4"]
            .as_str()
            .is_some(),
        "{body:#}"
    );
    // Pages with the cursor.
    let (_, first) = call(&app, "GET", "/api/browse/shorts?limit=2", None, None).await;
    assert_eq!(titles(&first), ["tall three", "tall two"]);
    let cursor = first["next_cursor"].as_str().expect("cursor").to_string();
    let (_, second) = call(
        &app,
        "GET",
        &format!("/api/browse/shorts?limit=2&cursor={cursor}"),
        None,
        None,
    )
    .await;
    assert_eq!(titles(&second), ["tall one"]);
    assert_eq!(second["next_cursor"], Value::Null);
    let (status, body) = call(
        &app,
        "GET",
        "/api/browse/shorts?cursor=nonsense",
        None,
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    app.finish().await;
}

async fn searches_are_rate_limited_per_address(b: Backend) {
    let opts = Options {
        extra: vec![("search_rate_limit", "5".into())],
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    for i in 0..5 {
        let (status, body) = call(&app, "GET", &format!("/api/search?q=w{i}"), None, None).await;
        assert_eq!(status, 200, "{i}: {body}");
    }
    let res = crate::support::client()
        .get(app.url("/api/search?q=more"))
        .send()
        .await
        .expect("search");
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let (status, _) = call(&app, "GET", "/api/browse/shorts", None, None).await;
    assert_eq!(status, 200, "other routes are not charged");
    app.finish().await;
}

both_backends!(
    searches_are_rate_limited_per_address,
    the_shorts_feed_holds_public_vertical_minute_videos,
    channels_by_bio_words_and_handles_with_typos,
    videos_by_title_tags_and_description,
    hostile_queries_are_answered,
    live_streams_by_title_tags_and_category,
);
