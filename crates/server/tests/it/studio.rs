//! The creator's studio on the server side: each second the ingesting node samples a live
//! stream's health and sends it to the owner's sockets only (`stream-stats`), keeps the last
//! minutes for `GET /api/sources/{id}/stats`; the owner's own sockets in the stream room are
//! not viewers; a destination is retried at once on request.

use crate::support::{
    self, client, creator_with_source, publish, register_user, require, socketio_scenario, Backend,
    Options, TestApp,
};
use serde_json::{json, Value};
use std::time::Duration;

async fn get_json(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let res = client()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A custom destination of `owner`'s source (added through `app`) at a local port that takes
/// each connection and closes it, so that every attempt fails: its id, each attempt's time, and
/// the listener's task.
async fn closing_destination(
    app: &TestApp,
    owner: &support::Source,
) -> (
    i64,
    tokio::sync::mpsc::UnboundedReceiver<std::time::Instant>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (accepts_tx, accepts) = tokio::sync::mpsc::unbounded_channel();
    let closer = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            drop(sock);
            let _ = accepts_tx.send(std::time::Instant::now());
        }
    });
    let res = client()
        .post(app.url(&format!("/api/sources/{}/destinations", owner.id)))
        .bearer_auth(&owner.token)
        .json(&json!({"platform": "custom", "rtmp_url": format!("rtmp://127.0.0.1:{port}/live"), "stream_key": "k1"}))
        .send()
        .await
        .expect("add destination");
    assert_eq!(res.status(), 201);
    let dest: Value = res.json().await.expect("json");
    let dest_id = dest["destination"]["id"].as_i64().expect("destination id");
    (dest_id, accepts, closer)
}

async fn stream_health_reaches_its_owner_and_the_owner_is_no_viewer(b: Backend) {
    require("ffmpeg");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let owner = creator_with_source(&app, "owner@example.com").await;
    let other = register_user(&app, "other@example.com", "Other").await;
    let stats_path = format!("/api/sources/{}/stats", owner.id);
    let (status, before) = get_json(&app, &stats_path, &owner.token).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["samples"], json!([]), "offline: nothing yet");
    assert_eq!(
        get_json(&app, &stats_path, &other).await.0,
        404,
        "someone else's source"
    );
    // Two other viewers (a logged-in one and an anonymous one, from the same address as the
    // owner's two tabs: the per-address cap of 3 would hide an owner counted once).
    let sockets = socketio_scenario(
        "studio",
        json!({ "url": app.url(""), "owner": owner.token, "others": [other, null],
                "sourceId": owner.id, "samples": 5 }),
    );
    let rtmp = app.rtmp_url();
    let key = owner.key.clone();
    let encoder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tokio::task::spawn_blocking(move || publish(&rtmp, &key, 12, &[]).wait()).await
    });
    let out = sockets.await;
    let samples = out["ownerStats"].as_array().expect("samples");
    assert!(samples.len() >= 5, "{out}");
    assert_eq!(out["othersStats"], json!([]), "the owner's only: {out}");
    assert_eq!(
        out["counts"].as_array().and_then(|c| c.last()),
        Some(&json!(2)),
        "{out}"
    );
    assert_eq!(out["viewersInLastSample"], 2, "{out}");
    let last = samples.last().expect("a sample");
    assert_eq!(last["source_id"], owner.id);
    // ffmpeg sends 640x360 at 30 fps with a keyframe every 30 frames (on a loaded machine it
    // may fall behind real time for a while).
    let fps: Vec<f64> = samples.iter().filter_map(|s| s["fps"].as_f64()).collect();
    let mean = fps.iter().sum::<f64>() / fps.len() as f64;
    assert!((15.0..=35.0).contains(&mean), "{out}");
    assert!(
        last["bitrate_kbps"].as_u64().expect("bitrate") > 100,
        "{last}"
    );
    assert_eq!(last["keyframe_interval_ms"], 1000, "{last}");
    assert_eq!(last["video_gaps"], 0, "{last}");
    assert!(
        last["duration_seconds"].as_i64().expect("duration") >= 3,
        "{last}"
    );

    // The history holds what was sent, oldest first.
    let (status, history) = get_json(&app, &stats_path, &owner.token).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["is_active"], true, "{history}");
    let kept = history["samples"].as_array().expect("samples");
    assert!(kept.len() >= samples.len(), "{history}");
    assert!(
        kept.iter()
            .any(|s| s["at_ms"] == last["at_ms"] && s["bitrate_kbps"] == last["bitrate_kbps"]),
        "the last sample sent is kept: {history}"
    );
    let times: Vec<i64> = kept.iter().filter_map(|s| s["at_ms"].as_i64()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");

    assert!(encoder.await.expect("encoder task").is_ok());
    // Offline again: nothing to chart.
    let mut after = Value::Null;
    for _ in 0..100 {
        after = get_json(&app, &stats_path, &owner.token).await.1;
        if after["is_active"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(after["samples"], json!([]), "{after}");
    app.finish().await;
}

/// A destination that cannot be reached retries with growing pauses; "retry now" makes it try
/// again at once. Refused while offline, for a destination that is off, and for someone else's.
async fn a_destination_is_retried_on_request(b: Backend) {
    require("ffmpeg");
    let mut o = Options::default();
    o.extra
        .push(("restream_allow_private_targets", "true".into()));
    o.extra.push(("restream_allowed_ports", "any".into()));
    let Some(app) = TestApp::start_with(b, o).await else {
        return;
    };
    let owner = creator_with_source(&app, "owner@example.com").await;
    let other = register_user(&app, "other@example.com", "Other").await;
    let (dest_id, mut accepts, closer) = closing_destination(&app, &owner).await;
    let retry = |token: String| {
        let url = app.url(&format!("/api/sources/destinations/{dest_id}/retry"));
        async move {
            let res = client()
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("retry");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = retry(owner.token.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("CONFLICT")),
        "offline: {body}"
    );
    assert!(
        body["details"].as_str().is_some_and(|d| d.contains("live")),
        "{body}"
    );
    assert_eq!(retry(other.clone()).await.0, 404, "someone else's");

    let rtmp = app.rtmp_url();
    let key = owner.key.clone();
    let mut ffmpeg = publish(&rtmp, &key, 30, &[]);
    // The first attempts fail; wait until the push waits to retry.
    let list = format!("/api/sources/{}/destinations", owner.id);
    let mut state = Value::Null;
    for _ in 0..200 {
        state = get_json(&app, &list, &owner.token).await.1["destinations"][0]["status"].clone();
        if state["state"] == "retrying" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["state"], "retrying", "{state}");
    assert!(
        state["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{state}"
    );
    // Drain the attempts so far; the next one comes from the retry (the pause before the next
    // automatic attempt grows to seconds).
    while accepts.try_recv().is_ok() {}
    let asked = std::time::Instant::now();
    let (status, body) = retry(owner.token.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "now", "{body}");
    assert_eq!(body["was"], "retrying", "{body}");
    assert_eq!(body["destination"]["id"], dest_id, "{body}");
    let attempt = tokio::time::timeout(Duration::from_secs(5), accepts.recv())
        .await
        .expect("an attempt after the retry")
        .expect("listener runs");
    assert!(attempt >= asked, "the attempt followed the request");
    assert_eq!(body["destination"]["status"]["retries_asked"], 1, "{body}");
    // Turned off, it is not retried.
    let res = client()
        .patch(app.url(&format!("/api/sources/destinations/{dest_id}")))
        .bearer_auth(&owner.token)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .expect("toggle");
    assert_eq!(res.status(), 200);
    let (status, body) = retry(owner.token.clone()).await;
    assert_eq!(status, 409, "{body}");
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
    closer.abort();
    app.finish().await;
}

/// Two nodes sharing a database and Redis; the stream is ingested by the first. The owner's
/// studio on the second gets the samples and their history, viewers on both nodes are counted
/// (the owner's socket is not), and a retry asked of the second is done by the first.
async fn health_viewers_and_retries_work_across_nodes(b: Backend) {
    require("ffmpeg");
    let Some(redis) = crate::connectors::redis_url() else {
        return;
    };
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let restream = [
        ("restream_allow_private_targets", "true".to_string()),
        ("restream_allowed_ports", "any".to_string()),
    ];
    let mut o = Options::default();
    o.extra.extend(restream.clone());
    o.extra
        .extend([("redis_url", redis.clone()), ("secret_key", secret.clone())]);
    let Some(first) = TestApp::start_with(b, o).await else {
        return;
    };
    let mut o = Options::default();
    o.extra.extend(restream);
    o.extra.extend([
        ("redis_url", redis),
        ("secret_key", secret),
        ("database_url", first.database_url.clone()),
        ("public_url", first.base.clone()),
    ]);
    let second = TestApp::start_with(b, o).await.expect("second node");
    let owner = creator_with_source(&first, "owner@example.com").await;
    let other = register_user(&second, "other@example.com", "Other").await;
    let (dest_id, mut accepts, closer) = closing_destination(&second, &owner).await;

    let sockets = socketio_scenario(
        "studio",
        json!({ "url": second.url(""), "owner": owner.token, "others": [other, null],
                "otherUrls": [first.url(""), second.url("")], "sourceId": owner.id, "samples": 4 }),
    );
    let rtmp = first.rtmp_url();
    let key = owner.key.clone();
    let encoder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        publish(&rtmp, &key, 25, &[])
    });
    let out = sockets.await;
    let mut ffmpeg = encoder.await.expect("encoder started");
    assert!(
        out["ownerStats"].as_array().is_some_and(|s| s.len() >= 4),
        "{out}"
    );
    assert_eq!(out["othersStats"], json!([]), "{out}");
    assert_eq!(
        out["counts"].as_array().and_then(|c| c.last()),
        Some(&json!(2)),
        "{out}"
    );
    assert_eq!(out["viewersInLastSample"], 2, "{out}");
    let (status, history) = get_json(
        &second,
        &format!("/api/sources/{}/stats", owner.id),
        &owner.token,
    )
    .await;
    assert_eq!(status, 200, "{history}");
    assert!(
        history["samples"].as_array().is_some_and(|s| s.len() >= 4),
        "the second node kept the first's samples: {history}"
    );

    // The push runs on the first node; the retry is asked of the second.
    let list = format!("/api/sources/{}/destinations", owner.id);
    let mut state = Value::Null;
    for _ in 0..200 {
        state = get_json(&first, &list, &owner.token).await.1["destinations"][0]["status"].clone();
        if state["state"] == "retrying" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["state"], "retrying", "{state}");
    while accepts.try_recv().is_ok() {}
    let asked = std::time::Instant::now();
    let res = client()
        .post(second.url(&format!("/api/sources/destinations/{dest_id}/retry")))
        .bearer_auth(&owner.token)
        .send()
        .await
        .expect("retry");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["outcome"], "asked", "{body}");
    let attempt = tokio::time::timeout(Duration::from_secs(5), accepts.recv())
        .await
        .expect("the first node tried again")
        .expect("listener runs");
    assert!(attempt >= asked);
    let status = get_json(&first, &list, &owner.token).await.1["destinations"][0]["status"].clone();
    assert_eq!(
        status["retries_asked"], 1,
        "the first node did it: {status}"
    );
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
    closer.abort();
    second.finish().await;
    first.finish().await;
}

both_backends!(
    stream_health_reaches_its_owner_and_the_owner_is_no_viewer,
    a_destination_is_retried_on_request,
    health_viewers_and_retries_work_across_nodes
);
