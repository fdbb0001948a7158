//! Sharing and the first visit: a stream's public page (`GET /api/watch/{id}`), the preview
//! tags chat apps read on watch pages (escaped), the app's own not-found page for unknown
//! paths (the API keeps its JSON); administrators changing roles, suspending and reactivating
//! accounts (recorded; never their own), and what a suspension refuses.

use crate::support;

use serde_json::{json, Value};
use support::{call, client, register_user, Backend, TestApp};

async fn page(app: &TestApp, path: &str) -> (u16, String, String) {
    let res = client().get(app.url(path)).send().await.expect("get");
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ct, res.text().await.expect("text"))
}

async fn watch_api_preview_tags_and_not_found_pages(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let source = support::creator_with_source(&app, "creator@example.com").await;
    // A name and display name that would break out of an attribute or inject markup.
    let (status, _) = call(
        &app,
        "PUT",
        &format!("/api/sources/{}", source.id),
        Some(&source.token),
        Some(json!({"name": "Late <show> \"live\" & more"})),
    )
    .await;
    assert_eq!(status, 200);

    let (status, w) = call(
        &app,
        "GET",
        &format!("/api/watch/{}", source.playback_id),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["title"], "Late <show> \"live\" & more");
    assert_eq!(w["creator"], "Streamer");
    assert_eq!(w["live"], false);
    assert_eq!(w["started_at"], Value::Null);
    assert_eq!(w["url"], app.url(&format!("/watch/{}", source.playback_id)));
    assert!(
        w["thumbnail_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http") && u.ends_with("/icon-512.png")),
        "{w}"
    );
    for id in ["nosuchstream", "bad%20id", &"x".repeat(65)] {
        let (status, e) = call(&app, "GET", &format!("/api/watch/{id}"), None, None).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (404, Some("STREAM_NOT_FOUND")),
            "{id}: {e}"
        );
    }

    // The watch page carries the stream's preview tags, escaped.
    let (status, ct, html) = page(&app, &format!("/watch/{}", source.playback_id)).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    let title = "Late &lt;show&gt; &quot;live&quot; &amp; more · Streamer";
    for tag in [
        format!("<title>{title}</title>"),
        format!("<meta property=\"og:title\" content=\"{title}\" />"),
        format!("<meta name=\"twitter:title\" content=\"{title}\" />"),
        "<meta property=\"og:type\" content=\"video.other\" />".to_string(),
        "<meta name=\"twitter:card\" content=\"summary_large_image\" />".to_string(),
        format!(
            "<meta property=\"og:url\" content=\"{}\" />",
            app.url(&format!("/watch/{}", source.playback_id))
        ),
        format!(
            "<meta property=\"og:image\" content=\"{}\" />",
            app.url("/icon-512.png")
        ),
        format!(
            "<meta name=\"twitter:image\" content=\"{}\" />",
            app.url("/icon-512.png")
        ),
        "<meta property=\"og:description\" content=\"A stream by Streamer; offline now".to_string(),
    ] {
        assert!(html.contains(&tag), "{tag} in {html}");
    }
    assert!(!html.contains("<show>"), "{html}");
    assert!(html.contains("<div id=\"root\">"), "the app itself");
    // The page's own script loads (the app's files are not taken for unknown pages).
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's script")
        .to_string();
    let (status, ct, _) = page(&app, &script).await;
    assert_eq!(status, 200, "{script}");
    assert!(ct.starts_with("text/javascript"), "{script}: {ct}");

    // Live: the API and the preview say so.
    let mut encoder = support::publish(&app.rtmp_url(), &source.key, 30, &[]);
    let mut live = Value::Null;
    for _ in 0..100 {
        live = call(
            &app,
            "GET",
            &format!("/api/watch/{}", source.playback_id),
            None,
            None,
        )
        .await
        .1;
        if live["live"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(live["live"], true, "{live}");
    assert!(live["started_at"].as_str().is_some(), "{live}");
    let (_, _, html) = page(&app, &format!("/watch/{}", source.playback_id)).await;
    assert!(
        html.contains("content=\"Streamer is live now on ferrocast.\""),
        "{html}"
    );
    // While live, the preview's picture is a frame of the stream (ffmpeg makes a JPEG).
    let picture = app.url(&format!("/api/watch/{}/thumbnail.jpg", source.playback_id));
    assert_eq!(live["thumbnail_url"], picture.as_str(), "{live}");
    assert!(
        html.contains(&format!(
            "<meta property=\"og:image\" content=\"{picture}\" />"
        )),
        "{html}"
    );
    // Made on demand within 5 s; on a busy machine the first ask may get the icon instead.
    let mut res = client().get(&picture).send().await.expect("picture");
    for _ in 0..20 {
        if res.status() == 200 && res.headers()["content-type"] == "image/jpeg" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        res = client().get(&picture).send().await.expect("picture");
    }
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    let jpeg = res.bytes().await.expect("bytes");
    assert!(
        jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.len() > 1000,
        "a JPEG: {} bytes",
        jpeg.len()
    );
    support::stop_encoder(&mut encoder);
    let hub = &app.running.as_ref().expect("running").state.engine.hub;
    for _ in 0..100 {
        if !hub.is_live(&source.playback_id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Unknown watch ids and unknown paths: the app's page, answered 404; the API keeps JSON.
    // Without a live stream, the picture is the app's icon.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for id in [source.playback_id.as_str(), "nosuchstream"] {
        let res = no_redirects
            .get(app.url(&format!("/api/watch/{id}/thumbnail.jpg")))
            .send()
            .await
            .expect("picture");
        assert_eq!(res.status(), 307, "{id}");
        assert_eq!(res.headers()["location"], "/icon-512.png");
    }
    let (status, ct, html) = page(&app, "/watch/nosuchstream").await;
    assert_eq!(status, 404);
    assert!(
        ct.starts_with("text/html") && html.contains("<div id=\"root\">"),
        "{ct} {html}"
    );
    assert!(!html.contains("og:title"));
    let (status, ct, html) = page(&app, "/no/such/page").await;
    assert_eq!(status, 404);
    assert!(
        ct.starts_with("text/html") && html.contains("<div id=\"root\">"),
        "{ct} {html}"
    );
    for path in ["/api/unknown", "/hls/x", "/metrics/x", "/assets/nope.js"] {
        let (status, body) = call(&app, "GET", path, None, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{path}: {body}"
        );
    }
    let (status, body) = call(&app, "POST", "/no/such/page", None, Some(json!({}))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("NOT_FOUND")),
        "{body}"
    );
    app.finish().await;
}

async fn login(app: &TestApp, email: &str) -> (u16, Value) {
    call(
        app,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": email, "password": "password123"})),
    )
    .await
}

async fn roles_suspension_and_reactivation(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let admin = register_user(&app, "admin@example.com", "Admin").await;
    let db = &app.running.as_ref().expect("running").state.db;
    let me = db
        .user_by_email("admin@example.com")
        .await
        .expect("q")
        .expect("user");
    db.set_role(me.id, "admin", 0).await.expect("role");
    let source = support::creator_with_source(&app, "member@example.com").await;
    let member = db
        .user_by_email("member@example.com")
        .await
        .expect("q")
        .expect("user");
    let key = call(
        &app,
        "POST",
        "/api/auth/api-keys",
        Some(&source.token),
        Some(json!({"name": "deck", "scopes": ["profile:read"], "password": "password123"})),
    )
    .await;
    assert_eq!(key.0, 201, "{}", key.1);
    let api_key = key.1["key"].as_str().expect("key").to_string();

    // Roles: a non-administrator may not; an unknown role is refused; the change applies at once.
    let path = |what: &str| format!("/api/admin/users/{}/{what}", member.uuid);
    assert_eq!(
        call(
            &app,
            "PUT",
            &path("role"),
            Some(&source.token),
            Some(json!({"role": "admin"}))
        )
        .await
        .0,
        403
    );
    let (status, e) = call(
        &app,
        "PUT",
        &path("role"),
        Some(&admin),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (422, Some("VALIDATION_ERROR")),
        "{e}"
    );
    let (status, u) = call(
        &app,
        "PUT",
        &path("role"),
        Some(&admin),
        Some(json!({"role": "moderator"})),
    )
    .await;
    assert_eq!(
        (status, u["role"].as_str(), u["suspended"].as_bool()),
        (200, Some("moderator"), Some(false)),
        "{u}"
    );
    let (_, me_now) = call(&app, "GET", "/api/auth/me", Some(&source.token), None).await;
    assert_eq!(
        me_now["user"]["role"].as_str().or(me_now["role"].as_str()),
        Some("moderator"),
        "{me_now}"
    );

    // Never on one's own account.
    let own = format!("/api/admin/users/{}/", me.uuid);
    for (method, what, body) in [
        ("PUT", "role", Some(json!({"role": "creator"}))),
        ("POST", "suspend", None),
    ] {
        let (status, e) = call(&app, method, &format!("{own}{what}"), Some(&admin), body).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (409, Some("OWN_ACCOUNT")),
            "{what}: {e}"
        );
        assert!(
            e["details"]
                .as_str()
                .is_some_and(|d| d.contains("another administrator")),
            "{e}"
        );
    }
    let (_, still) = login(&app, "admin@example.com").await;
    assert_eq!(still["user"]["role"], "admin");

    // Suspension: the live stream stops, the session and the API key are refused, logging in
    // says why, and the stream key cannot publish.
    let mut encoder = support::publish(&app.rtmp_url(), &source.key, 60, &[]);
    let hub = &app.running.as_ref().expect("running").state.engine.hub;
    for _ in 0..100 {
        if hub.is_live(&source.playback_id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(hub.is_live(&source.playback_id));
    let (status, u) = call(&app, "POST", &path("suspend"), Some(&admin), None).await;
    assert_eq!((status, u["suspended"].as_bool()), (200, Some(true)), "{u}");
    assert!(u["suspended_at"].as_str().is_some());
    for _ in 0..100 {
        if !hub.is_live(&source.playback_id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!hub.is_live(&source.playback_id), "the live stream stopped");
    let _ = encoder.kill();
    let _ = encoder.wait();
    assert_eq!(
        call(&app, "GET", "/api/sources", Some(&source.token), None)
            .await
            .0,
        401,
        "the session ended"
    );
    let (status, e) = call(&app, "GET", "/api/auth/me", Some(&api_key), None).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (403, Some("ACCOUNT_SUSPENDED")),
        "{e}"
    );
    let (status, e) = login(&app, "member@example.com").await;
    assert_eq!(
        (status, e["code"].as_str()),
        (403, Some("ACCOUNT_SUSPENDED")),
        "{e}"
    );
    assert!(
        e["details"]
            .as_str()
            .is_some_and(|d| d.contains("administrators")),
        "{e}"
    );
    let (status, e) = call(
        &app,
        "GET",
        &format!("/api/watch/{}", source.playback_id),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (404, Some("STREAM_NOT_FOUND")),
        "{e}"
    );
    let mut again = support::publish(&app.rtmp_url(), &source.key, 5, &[]);
    let out = tokio::task::spawn_blocking(move || again.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(
        !out.success(),
        "a suspended account's stream key cannot publish"
    );
    assert!(!hub.is_live(&source.playback_id));

    // Reactivation: logging in and the API key work again.
    let (status, u) = call(&app, "POST", &path("reactivate"), Some(&admin), None).await;
    assert_eq!(
        (status, u["suspended"].as_bool(), u["suspended_at"].clone()),
        (200, Some(false), Value::Null),
        "{u}"
    );
    assert_eq!(login(&app, "member@example.com").await.0, 200);
    assert_eq!(
        call(&app, "GET", "/api/auth/me", Some(&api_key), None)
            .await
            .0,
        200
    );

    // Each action is on the record.
    let (_, log) = call(&app, "GET", "/api/admin/actions", Some(&admin), None).await;
    let actions: Vec<(String, String)> = log["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap_or("").to_string(),
                a["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let member_email = "member@example.com".to_string();
    assert_eq!(
        actions,
        [
            ("user_reactivated".to_string(), member_email.clone()),
            ("user_suspended".to_string(), member_email.clone()),
            ("role_changed".to_string(), member_email),
        ],
        "{log}"
    );
    assert_eq!(
        log["actions"][2]["details"],
        json!({"from": "creator", "to": "moderator"})
    );
    assert_eq!(log["actions"][1]["details"]["streams_stopped"], 1, "{log}");
    let (_, users) = call(&app, "GET", "/api/admin/users?q=member", Some(&admin), None).await;
    assert_eq!(users["users"][0]["suspended"], false, "{users}");
    app.finish().await;
}

both_backends!(
    watch_api_preview_tags_and_not_found_pages,
    roles_suspension_and_reactivation
);
