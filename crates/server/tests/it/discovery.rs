//! Stream metadata and "live now": a creator's title, category, tags, language and mature flag
//! are checked, stored, shown on the watch page, pushed to the stream's viewers over Socket.IO
//! and carried into the live session's recording; `GET /api/browse/live` lists real ffmpeg
//! publishers by their viewers (sockets in their stream rooms), by category and language,
//! without streams for adults unless asked, with a picture of each.

use crate::recording::{db, fast_pipeline, settled_video, user_of};
use crate::support::{
    self as support, call, client, creator_with_source, publish, require, socketio_scenario,
    Backend, Options, TestApp,
};
use serde_json::{json, Value};
use std::process::Child;
use std::time::{Duration, Instant};

fn details(body: &Value) -> &str {
    body["details"].as_str().unwrap_or_default()
}

async fn metadata_is_checked_stored_and_pushed(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "meta@example.com").await;
    let path = format!("/api/sources/{}/metadata", src.id);

    // The categories, in their order.
    let (status, cats) = call(&app, "GET", "/api/categories", None, None).await;
    assert_eq!(status, 200, "{cats}");
    let slugs: Vec<&str> = cats["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .map(|c| c["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(slugs.len(), 12, "{cats}");
    assert_eq!(slugs[0], "just-chatting");
    assert_eq!(slugs.last(), Some(&"other"));
    assert_eq!(cats["categories"][5]["name"], "Science & Technology");

    // A new source says nothing yet.
    let (_, list) = call(&app, "GET", "/api/sources", Some(&src.token), None).await;
    let s = &list["sources"][0];
    assert_eq!(
        (
            &s["title"],
            &s["category"],
            &s["tags"],
            &s["language"],
            &s["mature"]
        ),
        (
            &Value::Null,
            &Value::Null,
            &json!([]),
            &Value::Null,
            &json!(false)
        )
    );

    // Everything at once.
    let (status, body) = call(
        &app,
        "PATCH",
        &path,
        Some(&src.token),
        Some(json!({
            "title": "  Speedrunning the classics ",
            "description": " Three games,\nviewer picks ",
            "category": "gaming",
            "tags": ["speedrun", "retro", "Speedrun"],
            "language": "EN",
            "mature": false
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let s = &body["source"];
    assert_eq!(s["title"], "Speedrunning the classics");
    assert_eq!(
        s["description"], "Three games,\nviewer picks",
        "line breaks kept"
    );
    assert_eq!(s["category"], "gaming");
    assert_eq!(s["tags"], json!(["speedrun", "retro"]), "deduplicated");
    assert_eq!(s["language"], "en");

    // Refusals say which field and what is accepted; nothing changes.
    let refusals = [
        (json!({ "title": "x".repeat(141) }), "title:"),
        (json!({ "title": "two\nlines" }), "title:"),
        (json!({ "description": "x".repeat(1001) }), "description:"),
        (json!({ "description": "bell\u{7}" }), "description:"),
        (
            json!({ "tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>() }),
            "tags: at most 10",
        ),
        (json!({ "tags": ["x".repeat(26)] }), "tags:"),
        (json!({ "tags": [""] }), "tags:"),
        (json!({ "language": "eng" }), "language:"),
        (json!({ "language": "xx" }), "language:"),
        (json!({ "category": "Not a slug" }), "category:"),
        (json!({ "category": "knitting" }), "category: no category"),
    ];
    for (change, field) in refusals {
        let (status, body) =
            call(&app, "PATCH", &path, Some(&src.token), Some(change.clone())).await;
        assert_eq!(status, 422, "{change}: {body}");
        assert!(details(&body).starts_with(field), "{change}: {body}");
    }
    let (status, body) = call(
        &app,
        "PATCH",
        &path,
        Some(&src.token),
        Some(json!({ "colour": "red" })),
    )
    .await;
    assert!(
        status == 400 || status == 422,
        "unknown fields are refused: {status} {body}"
    );
    // Someone else's source, and nobody's.
    let other = creator_with_source(&app, "other@example.com").await;
    let (status, _) = call(
        &app,
        "PATCH",
        &path,
        Some(&other.token),
        Some(json!({ "mature": true })),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, "PATCH", &path, None, Some(json!({ "mature": true }))).await;
    assert_eq!(status, 401);

    // One field at a time: the others stay; null clears.
    let (status, body) = call(
        &app,
        "PATCH",
        &path,
        Some(&src.token),
        Some(json!({ "mature": true })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"]["title"], "Speedrunning the classics");
    assert_eq!(body["source"]["mature"], true);
    let (_, body) = call(
        &app,
        "PATCH",
        &path,
        Some(&src.token),
        Some(json!({ "language": null, "mature": false })),
    )
    .await;
    assert_eq!(body["source"]["language"], Value::Null);
    assert_eq!(body["source"]["category"], "gaming");
    // Stored: the list says the same.
    let (_, list) = call(&app, "GET", "/api/sources", Some(&src.token), None).await;
    let s = &list["sources"][0];
    assert_eq!(s["title"], "Speedrunning the classics");
    assert_eq!(s["tags"], json!(["speedrun", "retro"]));

    // The watch page shows it.
    let (status, w) = call(
        &app,
        "GET",
        &format!("/api/watch/{}", src.playback_id),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["title"], "Speedrunning the classics");
    assert_eq!(w["description"], "Three games,\nviewer picks");
    assert_eq!(w["category"], "gaming");
    assert_eq!(w["category_name"], "Gaming");
    assert_eq!(w["tags"], json!(["speedrun", "retro"]));
    let page = client()
        .get(app.url(&format!("/watch/{}", src.playback_id)))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Speedrunning the classics"),
        "the preview tags say the title"
    );

    // A viewer on the watch page is told of a change at once.
    let out = socketio_scenario(
        "streamInfo",
        json!({
            "url": app.url(""),
            "playbackId": src.playback_id,
            "sourceId": src.id,
            "token": src.token,
            "change": { "title": "Any% in one sitting", "category": "music", "tags": ["live"] },
        }),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    let seen = &out["seen"][0];
    assert_eq!(seen["sourceId"], src.id, "{out}");
    assert_eq!(seen["playback_id"], src.playback_id.as_str(), "{out}");
    assert_eq!(seen["title"], "Any% in one sitting", "{out}");
    assert_eq!(seen["category"], "music", "{out}");
    assert_eq!(seen["category_name"], "Music", "{out}");
    assert_eq!(seen["tags"], json!(["live"]), "{out}");

    // An empty title gives the stream its source's name back.
    let (_, body) = call(
        &app,
        "PATCH",
        &path,
        Some(&src.token),
        Some(json!({ "title": "" })),
    )
    .await;
    assert_eq!(body["source"]["title"], Value::Null);
    let (_, w) = call(
        &app,
        "GET",
        &format!("/api/watch/{}", src.playback_id),
        None,
        None,
    )
    .await;
    assert_eq!(w["title"], "Main");
    // Listing filters are checked too.
    let (status, body) = call(
        &app,
        "GET",
        "/api/browse/live?category=knitting",
        None,
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = call(&app, "GET", "/api/browse/live?language=klingon", None, None).await;
    assert_eq!(status, 422, "{body}");
    app.finish().await;
}

async fn the_recording_takes_the_stream_metadata(b: Backend) {
    require("ffmpeg");
    let opts = Options {
        extra: fast_pipeline(),
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let src = creator_with_source(&app, "carried@example.com").await;
    let (status, _) = call(
        &app,
        "PUT",
        &format!("/api/sources/{}", src.id),
        Some(&src.token),
        Some(json!({ "description": "Every level, no warps." })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &app,
        "PATCH",
        &format!("/api/sources/{}/metadata", src.id),
        Some(&src.token),
        Some(json!({ "title": "Full run", "category": "gaming", "tags": ["speedrun", "retro"] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rtmp = app.rtmp_url();
    let key = src.key.clone();
    let mut encoder = publish(&rtmp, &key, 8, &[]);
    // Renamed while live: the recording under way follows.
    let db = db(&app).await;
    let user = user_of(&db, src.id).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (videos, _) = db.list_videos(user, 10, 0).await.expect("videos");
        if videos.iter().any(|v| v.status == "recording") {
            break;
        }
        assert!(Instant::now() < deadline, "no recording began: {videos:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = call(
        &app,
        "PATCH",
        &format!("/api/sources/{}/metadata", src.id),
        Some(&src.token),
        Some(json!({ "title": "Full run, part one", "tags": ["speedrun", "retro", "nes"] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let status = tokio::task::spawn_blocking(move || encoder.wait())
        .await
        .expect("join")
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg published");
    let video = settled_video(&db, user, Duration::from_secs(90)).await;
    assert_eq!(video.status, "ready", "{video:#?}");
    assert_eq!(video.title, "Full run, part one");
    assert_eq!(video.description, "Every level, no warps.");
    assert_eq!(video.tags, ["speedrun", "retro", "nes"]);
    app.finish().await;
}

/// The streams "live now" lists until `done` holds (20 s at most).
async fn live_until(app: &TestApp, query: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) =
            call(app, "GET", &format!("/api/browse/live{query}"), None, None).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{query}: {body:#}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn titles(body: &Value) -> Vec<String> {
    body["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| s["title"].as_str().expect("title").to_string())
        .collect()
}

struct Encoders(Vec<Child>);

impl Drop for Encoders {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn live_now_by_viewers_category_and_language(b: Backend) {
    require("ffmpeg");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let alpha = creator_with_source(&app, "alpha@example.com").await;
    let bravo = creator_with_source(&app, "bravo@example.com").await;
    for (s, change) in [
        (
            &alpha,
            json!({ "title": "Alpha plays", "category": "gaming", "language": "en", "tags": ["retro"] }),
        ),
        (
            &bravo,
            json!({ "title": "Bravo sings", "category": "music", "language": "es" }),
        ),
    ] {
        let (status, body) = call(
            &app,
            "PATCH",
            &format!("/api/sources/{}/metadata", s.id),
            Some(&s.token),
            Some(change),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    // Nothing live yet.
    let (_, body) = call(&app, "GET", "/api/browse/live", None, None).await;
    assert_eq!(body["streams"], json!([]), "{body}");
    assert_eq!(body["total"], 0);

    let rtmp = app.rtmp_url();
    let mut encoders = Encoders(vec![publish(&rtmp, &alpha.key, 60, &[])]);
    live_until(&app, "", |b| titles(b) == ["Alpha plays"]).await;
    // Bravo starts later: with no viewers anywhere, the most recent first.
    encoders.0.push(publish(&rtmp, &bravo.key, 60, &[]));
    let body = live_until(&app, "", |b| titles(b).len() == 2).await;
    assert_eq!(titles(&body), ["Bravo sings", "Alpha plays"], "{body:#}");
    let card = &body["streams"][1];
    assert_eq!(card["playback_id"], alpha.playback_id.as_str());
    assert_eq!(
        card["watch_url"],
        app.url(&format!("/watch/{}", alpha.playback_id)).as_str()
    );
    assert_eq!(card["category"], "gaming");
    assert_eq!(card["category_name"], "Gaming");
    assert_eq!(card["tags"], json!(["retro"]));
    assert_eq!(card["language"], "en");
    assert_eq!(card["mature"], false);
    assert_eq!(card["viewers"], 0);
    assert_eq!(card["channel"]["display_name"], "Streamer");
    assert!(
        card["started_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{card}"
    );

    // Two viewers on Alpha's watch page: Alpha leads.
    let seen = socketio_scenario(
        "audience",
        json!({ "url": app.url(""), "playbackId": alpha.playback_id, "n": 2 }),
    )
    .await;
    assert_eq!(titles(&seen), ["Alpha plays", "Bravo sings"], "{seen:#}");
    assert_eq!(seen["streams"][0]["viewers"], 2, "{seen:#}");
    assert_eq!(seen["streams"][1]["viewers"], 0, "{seen:#}");

    // Filters.
    let (_, body) = call(&app, "GET", "/api/browse/live?category=music", None, None).await;
    assert_eq!(titles(&body), ["Bravo sings"], "{body:#}");
    let (_, body) = call(&app, "GET", "/api/browse/live?language=en", None, None).await;
    assert_eq!(titles(&body), ["Alpha plays"], "{body:#}");
    let (_, body) = call(&app, "GET", "/api/browse/live?category=art", None, None).await;
    assert_eq!(body["streams"], json!([]), "{body:#}");
    // Pages.
    let (_, body) = call(&app, "GET", "/api/browse/live?limit=1&page=2", None, None).await;
    assert_eq!(
        body["streams"].as_array().map(Vec::len),
        Some(1),
        "{body:#}"
    );
    assert_eq!(
        (
            body["page"].clone(),
            body["limit"].clone(),
            body["total"].clone()
        ),
        (json!(2), json!(1), json!(2))
    );

    // For adults: left out unless asked for.
    let (status, _) = call(
        &app,
        "PATCH",
        &format!("/api/sources/{}/metadata", bravo.id),
        Some(&bravo.token),
        Some(json!({ "mature": true })),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = call(&app, "GET", "/api/browse/live", None, None).await;
    assert_eq!(titles(&body), ["Alpha plays"], "{body:#}");
    let (_, body) = call(&app, "GET", "/api/browse/live?mature=true", None, None).await;
    assert_eq!(titles(&body).len(), 2, "{body:#}");
    assert!(body["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .any(|s| s["mature"] == true));

    // The card's picture is a frame of the stream.
    let (_, body) = call(&app, "GET", "/api/browse/live", None, None).await;
    let thumb = body["streams"][0]["thumbnail_url"]
        .as_str()
        .expect("thumbnail")
        .to_string();
    assert_eq!(
        thumb,
        app.url(&format!("/api/watch/{}/thumbnail.jpg", alpha.playback_id))
    );
    // Made on demand (two at a time, within 5 s): a busy moment answers with the app's icon
    // (307), so a few tries.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut jpeg = None;
    for _ in 0..6 {
        let res = no_redirects.get(&thumb).send().await.expect("thumbnail");
        if res.status() == 200 {
            assert_eq!(res.headers()[reqwest::header::CONTENT_TYPE], "image/jpeg");
            jpeg = Some(res.bytes().await.expect("bytes"));
            break;
        }
        assert_eq!(res.status(), 307);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let jpeg = jpeg.expect("a picture of the stream");
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "a JPEG");

    // A stream that ends leaves the list.
    let mut first = encoders.0.remove(0);
    support::stop_encoder(&mut first);
    live_until(&app, "?mature=true", |b| titles(b) == ["Bravo sings"]).await;
    drop(encoders);
    app.finish().await;
}

both_backends!(
    metadata_is_checked_stored_and_pushed,
    the_recording_takes_the_stream_metadata,
    live_now_by_viewers_category_and_language,
);

/// A live stream's picture is made when first asked for and then renewed in the background on
/// the interval (`FERROCAST_LIVE_THUMBNAIL_SECS`, 5 s here), from the stream as it is then; a
/// stream no one asks for gets no picture (no decoding); the picture of a stream that ended is
/// forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_pictures_are_renewed_in_the_background() {
    require("ffmpeg");
    let opts = Options {
        extra: vec![("live_thumbnail_secs", "5".into())],
        ..Default::default()
    };
    let Some(app) = TestApp::start_with(Backend::Sqlite, opts).await else {
        return;
    };
    let source = creator_with_source(&app, "pictures@example.com").await;
    let unseen = creator_with_source(&app, "unseen@example.com").await;
    let mut encoders = Encoders(vec![
        publish(&app.rtmp_url(), &source.key, 60, &[]),
        publish(&app.rtmp_url(), &unseen.key, 60, &[]),
    ]);
    let state = &app.running.as_ref().expect("running").state;
    let thumbnails = &state.thumbnails;
    let id = source.playback_id.as_str();
    let waited = Instant::now();
    let first = loop {
        let res = client()
            .get(app.url(&format!("/api/watch/{id}/thumbnail.jpg")))
            .send()
            .await
            .expect("thumbnail");
        // Until the stream has a picture the address redirects to the app's icon (followed).
        let jpeg = res
            .headers()
            .get("content-type")
            .is_some_and(|t| t == "image/jpeg");
        if res.status() == 200 && jpeg {
            let _ = res.bytes().await;
            break thumbnails.last(id).expect("kept once made").1;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "no picture made when asked for"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(first.starts_with(&[0xFF, 0xD8]), "a JPEG");
    // Renewed after the interval: testsrc's counter makes each second's frame different.
    let waited = Instant::now();
    loop {
        let (age, jpeg) = thumbnails.last(id).expect("kept while live");
        if jpeg != first {
            assert!(age < Duration::from_secs(5), "{age:?}");
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(15),
            "the picture was not renewed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The stream no one asked for has no picture: two rounds of renewal passed without one.
    assert!(
        state.engine.hub.is_live(&unseen.playback_id),
        "the other stream is live"
    );
    assert!(
        thumbnails.last(&unseen.playback_id).is_none(),
        "a picture was made of a stream no one asked for"
    );
    // What a viewer is served is the kept picture (the one before or after a renewal meanwhile).
    let (_, before) = thumbnails.last(id).expect("kept");
    let res = client()
        .get(app.url(&format!("/api/watch/{id}/thumbnail.jpg")))
        .send()
        .await
        .expect("thumbnail");
    assert_eq!(res.status(), 200);
    let served = res.bytes().await.expect("bytes");
    let (_, after) = thumbnails.last(id).expect("kept");
    assert!(served.as_ref() == before.as_ref() || served.as_ref() == after.as_ref());
    // Ended: forgotten within a round.
    for c in &mut encoders.0 {
        support::stop_encoder(c);
    }
    let waited = Instant::now();
    while thumbnails.last(id).is_some() {
        assert!(
            waited.elapsed() < Duration::from_secs(15),
            "an ended stream's picture is kept"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.finish().await;
}
