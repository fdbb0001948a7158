//! Realtime over Socket.IO, driven by the stock `socket.io-client` from npm
//! (`tests/js/realtime.mjs`): rooms, native chat persisted and delivered in order, anonymous
//! readers, reconnects, stream status, viewer counts, reactions, and hostile clients.

use crate::support;

use serde_json::{json, Value};
use support::{
    creator_with_source, publish, register_user, require, socketio_scenario, Backend, Options,
    TestApp,
};

fn texts(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|t| t.as_str().expect("text"))
        .collect()
}

async fn chat_rooms_history_reconnect_and_stream_room(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "host@example.com").await;
    let viewer = register_user(&app, "viewer@example.com", "Viewer").await;
    let other = register_user(&app, "other@example.com", "Other").await;
    let out = socketio_scenario(
        "chat",
        json!({ "url": app.url(""), "sourceId": src.id, "tokens": [src.token, viewer, other] }),
    )
    .await;

    assert!(
        out["badToken"]
            .as_str()
            .is_some_and(|m| m.contains("not valid")),
        "a bad token refuses the connection with the reason: {out}"
    );
    assert_eq!(out["join"]["ok"], true, "{out}");
    assert_eq!(out["anonSend"]["ok"], false, "{out}");
    assert_eq!(out["anonSend"]["error"], "log in to chat", "{out}");
    assert_eq!(out["badEvent"]["ok"], false, "{out}");
    assert_eq!(out["empty"]["error"], "the message is empty", "{out}");
    // Refusals carry the HTTP API's error codes.
    assert_eq!(out["anonSend"]["code"], "UNAUTHENTICATED", "{out}");
    assert_eq!(out["badEvent"]["code"], "VALIDATION_ERROR", "{out}");
    assert_eq!(out["empty"]["code"], "VALIDATION_ERROR", "{out}");

    let sent: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let ids: Vec<i64> = out["acks"]
        .as_array()
        .expect("acks")
        .iter()
        .map(|a| {
            assert_eq!(a["ok"], true, "{a}");
            a["id"].as_i64().expect("id")
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    assert_eq!(texts(&out["bTexts"]), sent, "delivered in order");
    assert_eq!(
        texts(&out["anonTexts"]),
        sent,
        "anonymous readers get it too"
    );
    let first = &out["first"];
    assert_eq!(first["author_name"], "Streamer");
    assert_eq!(first["platform"], "native");
    assert_eq!(first["source_id"], src.id);
    assert_eq!(first["metadata"]["badges"], json!(["broadcaster"]));
    assert!(first["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    assert_eq!(out["whileAway"]["ok"], true, "{out}");
    assert_eq!(out["rejoin"]["ok"], true, "{out}");
    let history = texts(&out["history"]);
    let mut expected: Vec<&str> = sent.iter().map(String::as_str).collect();
    expected.push("while you were away");
    assert_eq!(
        history, expected,
        "the missed message is in the stored history"
    );
    assert_eq!(
        texts(&out["bAfter"]),
        ["welcome back"],
        "live again after rejoining"
    );

    assert_eq!(
        out["statuses"][0],
        json!(["offline", { "sourceId": src.id }])
    );
    assert!(
        out["counts"]
            .as_array()
            .expect("counts")
            .contains(&json!(2)),
        "two viewers in the stream room: {out}"
    );
    assert_eq!(out["reaction"]["ok"], true, "{out}");
    assert_eq!(out["reactions"], json!(["heart"]));
    assert_eq!(out["badReaction"]["ok"], false, "{out}");
    assert_eq!(
        out["afterLogout"]["error"], "your session has ended; log in again and reconnect",
        "a logged-out session stops writing on its open socket: {out}"
    );
    // Every client closed: the connection gauge comes back to zero.
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = support::metrics_text(&app).await;
        if metrics.contains("ferrocast_socketio_connections 0\n") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("ferrocast_socketio_connections 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ferrocast_realtime_remote_dropped_total 0\n"),
        "{metrics}"
    );
    app.finish().await;
}

async fn flooding_oversized_and_malformed_clients_affect_only_themselves(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "host@example.com").await;
    let calm = register_user(&app, "calm@example.com", "Calm").await;
    let observer = register_user(&app, "observer@example.com", "Observer").await;
    let out = socketio_scenario(
        "flood",
        json!({ "url": app.url(""), "sourceId": src.id, "tokens": [src.token, calm, observer] }),
    )
    .await;
    eprintln!("flood: {out}");
    // 1 000 messages in about a second: the burst and the refill get through, no more.
    let flooded = out["flooderDelivered"].as_i64().expect("count");
    assert!((10..=15).contains(&flooded), "{out}");
    assert!(out["flooderErrors"].as_i64().expect("errors") >= 1, "{out}");
    assert!(
        out["flooderError"]
            .as_str()
            .is_some_and(|e| e.contains("too fast") || e.contains("too many")),
        "{out}"
    );
    assert_eq!(
        out["flooderClosed"],
        Value::Null,
        "rate limited, not dropped: {out}"
    );
    let calm_got = out["calm"].as_array().expect("calm");
    assert_eq!(calm_got.len(), 5, "every calm message delivered: {out}");
    assert!(
        out["oversized"].is_string(),
        "oversized packet closes: {out}"
    );
    assert!(
        out["malformed"].is_string(),
        "malformed packet closes: {out}"
    );
    assert_eq!(out["calmStillConnected"], true, "{out}");
    assert_eq!(out["after"]["ok"], true, "{out}");
    assert_eq!(out["afterDelivered"], true, "{out}");
    app.finish().await;
}

async fn moderation_rules_deletes_bans_and_the_record(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "host@example.com").await;
    let viewer = register_user(&app, "viewer@example.com", "Viewer").await;
    let moderator = register_user(&app, "mod@example.com", "Mod").await;
    let out = socketio_scenario(
        "moderation",
        json!({ "url": app.url(""), "sourceId": src.id, "tokens": [src.token, viewer, moderator] }),
    )
    .await;
    eprintln!("moderation: {out}");
    assert_eq!(
        out["viewerMakesMod"], 403,
        "only the owner picks moderators"
    );
    assert_eq!(out["ownerMakesMod"], 200);
    assert_eq!(out["moderators"]["moderators"][0]["display_name"], "Mod");
    assert_eq!(out["viewerSettings"], 403);
    assert_eq!(out["badSettings"]["status"], 422, "{out}");
    assert_eq!(out["modSettings"]["status"], 200);
    assert_eq!(
        out["modSettings"]["body"]["blocked_words"],
        json!(["spoiler"])
    );
    assert_eq!(
        out["blocked"]["error"],
        "the message contains a blocked word"
    );
    assert_eq!(out["link"]["error"], "links are not allowed in this chat");
    assert_eq!(out["modLink"]["ok"], true, "moderators are exempt: {out}");
    assert_eq!(out["hello"]["ok"], true);
    assert_eq!(out["viewerDeletes"], 403);
    assert_eq!(out["modDeletes"], 200);
    assert_eq!(
        out["deleted"],
        json!([out["hello"]["id"]]),
        "clients are told"
    );
    assert!(
        !out["history"].to_string().contains("\"hello\""),
        "a deleted message leaves the history: {out}"
    );
    assert_eq!(out["first"]["ok"], true);
    assert!(
        out["slow"]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("slow mode is on; wait")),
        "{out}"
    );
    assert_eq!(out["modNotSlow"][1]["ok"], true, "{out}");
    assert_eq!(out["viewerBans"], 403);
    assert_eq!(
        out["globalByMod"], 403,
        "bans from every chat are for administrators"
    );
    assert_eq!(out["timeout"]["status"], 201, "{out}");
    assert_eq!(out["timeout"]["body"]["reason"], "cool down");
    assert!(out["timeout"]["body"]["expires_at"].is_string());
    assert_eq!(out["banned"][0]["sourceId"], src.id);
    assert_eq!(
        out["whileTimedOut"]["error"],
        "you are timed out in this chat"
    );
    assert_eq!(out["bans"]["bans"].as_array().map(Vec::len), Some(1));
    assert_eq!(out["lift"], 200);
    assert_eq!(out["afterLift"]["ok"], true, "{out}");
    assert_eq!(
        out["log"],
        json!([
            "unban",
            "timeout",
            "delete_message",
            "settings",
            "settings",
            "settings",
            "add_moderator"
        ]),
        "every action recorded, newest first"
    );
    app.finish().await;
}

async fn stream_status_and_stream_ended_follow_the_encoder(b: Backend) {
    require("ffmpeg");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "host@example.com").await;
    let viewer = socketio_scenario(
        "lifecycle",
        json!({ "url": app.url(""), "playbackId": src.playback_id }),
    );
    let rtmp = app.rtmp_url();
    let key = src.key.clone();
    let encoder = tokio::spawn(async move {
        // The viewer joins first (it takes milliseconds); then 4 s of publishing.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        tokio::task::spawn_blocking(move || {
            let mut ffmpeg = publish(&rtmp, &key, 4, &[]);
            ffmpeg.wait()
        })
        .await
    });
    let out = viewer.await;
    assert!(encoder.await.expect("encoder task").is_ok());
    let statuses: Vec<&str> = out["statuses"]
        .as_array()
        .expect("statuses")
        .iter()
        .map(|s| {
            assert_eq!(s[1], src.id, "{out}");
            s[0].as_str().expect("status")
        })
        .collect();
    assert_eq!(
        statuses.first(),
        Some(&"offline"),
        "told at once on join: {out}"
    );
    let live = statuses
        .iter()
        .position(|s| *s == "live")
        .expect("went live");
    assert_eq!(statuses.last(), Some(&"offline"), "{out}");
    assert!(live < statuses.len() - 1, "{out}");
    assert_eq!(out["ended"]["sourceId"], src.id, "{out}");
    assert!(out["ended"]["duration_minutes"].is_i64(), "{out}");
    assert!(out["ended"]["reason"].is_string(), "{out}");
    app.finish().await;
}

/// A node starting on a shared database marks offline only the sources whose node stopped
/// (no fresh session heartbeat), never those live on another node.
async fn a_starting_node_leaves_other_nodes_live_sources_alone(b: Backend) {
    let Some(first) = TestApp::start(b).await else {
        return;
    };
    let on_other_node = creator_with_source(&first, "live@example.com").await;
    let orphaned = creator_with_source(&first, "crashed@example.com").await;
    let db = ferrocast_db::Db::connect(&first.database_url)
        .await
        .expect("db");
    let now = ferrocast_db::now_ms();
    for (src, heartbeat) in [(&on_other_node, now), (&orphaned, now - 10 * 60_000)] {
        let rec = db.source_by_id(src.id).await.expect("q").expect("source");
        let session = db
            .open_stream_session(
                &uuid::Uuid::new_v4().to_string(),
                rec.user_id,
                rec.id,
                heartbeat,
            )
            .await
            .expect("session");
        assert!(db
            .touch_stream_session(session, heartbeat, 0, 0)
            .await
            .expect("touch"));
        db.set_source_active(rec.id, true, now)
            .await
            .expect("active");
    }
    let mut opts = Options::default();
    // One deployment: the nodes share the database and the master key.
    opts.extra
        .push(("database_url", first.database_url.clone()));
    opts.extra.push((
        "secret_key",
        data_encoding::HEXLOWER.encode(&first.master_key()),
    ));
    let second = TestApp::start_with(b, opts).await.expect("second node");
    let active = |id| {
        let db = db.clone();
        async move { db.source_by_id(id).await.expect("q").expect("s").is_active }
    };
    assert!(
        active(on_other_node.id).await,
        "live on the other node: left alone"
    );
    assert!(
        !active(orphaned.id).await,
        "its node stopped 10 minutes ago: offline"
    );
    second.finish().await;
    first.finish().await;
}

/// A restream destination's state changes are pushed to its owner's sockets (the dashboard
/// shows them without polling), and to nobody else's: the error may quote the platform.
async fn destination_states_are_pushed_to_their_owner_only(b: Backend) {
    require("ffmpeg");
    let mut o = Options::default();
    o.extra
        .push(("restream_allow_private_targets", "true".into()));
    o.extra.push(("restream_allowed_ports", "any".into()));
    let Some(app) = TestApp::start_with(b, o).await else {
        return;
    };
    let owner = creator_with_source(&app, "owner@example.com").await;
    let other = creator_with_source(&app, "other@example.com").await;
    // A destination nobody listens on: the push connects, fails and retries.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let res = support::client()
        .post(app.url(&format!("/api/sources/{}/destinations", owner.id)))
        .bearer_auth(&owner.token)
        .json(&json!({"platform": "custom", "rtmp_url": format!("rtmp://127.0.0.1:{port}/live"), "stream_key": "k1"}))
        .send()
        .await
        .expect("add destination");
    assert_eq!(res.status(), 201);
    let dest: Value = res.json().await.expect("json");
    let dest_id = dest["destination"]["id"].as_i64().expect("destination id");
    let sockets = socketio_scenario(
        "destinations",
        json!({ "url": app.url(""), "owner": owner.token, "other": other.token }),
    );
    let rtmp = app.rtmp_url();
    let key = owner.key.clone();
    let encoder = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        tokio::task::spawn_blocking(move || publish(&rtmp, &key, 4, &[]).wait()).await
    });
    let out = sockets.await;
    assert!(encoder.await.expect("encoder task").is_ok());
    let events = out["owner"].as_array().expect("owner's events");
    assert!(!events.is_empty(), "the owner hears the destination: {out}");
    for e in events {
        assert_eq!(e["sourceId"], owner.id, "{out}");
        assert_eq!(e["destinationId"], dest_id, "{out}");
        let state = e["state"].as_str().expect("state");
        assert!(
            ["connecting", "live", "retrying", "failed"].contains(&state),
            "{out}"
        );
    }
    assert!(
        events.iter().any(|e| e["state"] == "connecting"),
        "the push was seen starting: {out}"
    );
    assert_eq!(out["other"], json!([]), "nobody else hears it: {out}");
    app.finish().await;
}

both_backends!(
    destination_states_are_pushed_to_their_owner_only,
    a_starting_node_leaves_other_nodes_live_sources_alone,
    stream_status_and_stream_ended_follow_the_encoder,
    moderation_rules_deletes_bans_and_the_record,
    chat_rooms_history_reconnect_and_stream_room,
    flooding_oversized_and_malformed_clients_affect_only_themselves
);

/// Resident memory of this process (the node runs in it), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// 3 000 sockets from one address at once: the node admits its per-address cap (16), refuses
/// the rest with a reason (or at accept, past the HTTP per-address cap), counts that address
/// at most three times among a stream's viewers, and after they close keeps nothing of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_sockets_from_one_address_are_capped() {
    let app = TestApp::start(Backend::Sqlite).await.expect("sqlite");
    let src = creator_with_source(&app, "host@example.com").await;
    let state = app.running.as_ref().expect("running").state.clone();
    let baseline = rss_kib();
    let out = socketio_scenario(
        "crowd",
        json!({ "url": app.url(""), "n": 3000, "playbackId": src.playback_id }),
    )
    .await;
    eprintln!(
        "crowd: connected {}, refusals {}, viewers {}",
        out["connected"], out["refusals"], out["viewerCount"]
    );
    assert_eq!(out["connected"], 16, "the per-address cap: {out}");
    assert!(
        out["refusals"]
            .as_object()
            .expect("refusals")
            .keys()
            .any(|m| m.contains("too many connections from your address")),
        "refused with the reason: {out}"
    );
    assert_eq!(
        out["viewerCount"], 3,
        "one address counts three times at most: {out}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while (state.sockets.load(std::sync::atomic::Ordering::Relaxed) > 0
        || state.socket_addresses.addresses() > 0)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state.sockets.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert_eq!(
        state.socket_addresses.addresses(),
        0,
        "closed sockets leave nothing counted"
    );
    let after = rss_kib();
    eprintln!(
        "RSS: baseline {} MiB, after {} MiB",
        baseline / 1024,
        after / 1024
    );
    assert!(
        after <= baseline + 32 * 1024,
        "RSS {} MiB after the crowd left, baseline {} MiB",
        after / 1024,
        baseline / 1024
    );
    app.finish().await;
}
