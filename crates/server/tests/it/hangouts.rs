//! Hangouts over HTTP, on both databases: the host makes a room; joining gives the host's,
//! the speaker link's or the audience's role; refusals say why (a guest without a name, a wrong
//! peer token, the audience publishing, an offer that is not SDP, a full stage, someone else
//! broadcasting or ending the room, joining an ended one, a viewer (not a creator) opening
//! one, broadcasting to a source live from another encoder); the host broadcasts to their
//! source and stops; a peer that stops checking in is dropped by the sweeper; a peer checking
//! in after the end is told so; a suspended host's rooms are gone. The media itself (two
//! browsers seeing and hearing each other, the broadcast over HLS) is tested in Chromium
//! (`web::hangout_in_a_real_browser`).

use crate::support::{self, call, client, creator_with_source, register_user, Backend, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

both_backends!(hangout_rooms_roles_and_refusals);

async fn peer_get(app: &TestApp, room: &str, peer: &str, token: &str) -> (u16, Value) {
    let res = client()
        .get(app.url(&format!("/api/hangouts/{room}?peer={peer}")))
        .header("x-peer-token", token)
        .send()
        .await
        .expect("get");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn hangout_rooms_roles_and_refusals(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let host = creator_with_source(&app, "host@example.com").await;
    let stranger = register_user(&app, "stranger@example.com", "Stranger").await;
    let state = app.running.as_ref().expect("running").state.clone();

    // Hangouts are opened by creators.
    let member = crate::support::register_viewer(&app, "member@example.com").await;
    let (status, e) = call(
        &app,
        "POST",
        "/api/hangouts",
        Some(&member),
        Some(json!({"title": "Mine"})),
    )
    .await;
    assert_eq!(status, 403, "{e}");

    let (status, e) = call(
        &app,
        "POST",
        "/api/hangouts",
        Some(&host.token),
        Some(json!({"title": " "})),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    let (status, h) = call(
        &app,
        "POST",
        "/api/hangouts",
        Some(&host.token),
        Some(json!({"title": "Late show"})),
    )
    .await;
    assert_eq!(status, 201, "{h}");
    let id = h["id"].as_str().expect("id").to_string();
    assert_eq!(h["link"], format!("/hangout/{id}"));
    let speaker_link = h["speaker_link"].as_str().expect("link").to_string();
    let code = speaker_link
        .split("code=")
        .nth(1)
        .expect("code")
        .to_string();
    let (_, list) = call(&app, "GET", "/api/hangouts", Some(&host.token), None).await;
    assert_eq!(list["hangouts"][0]["id"], id.as_str());
    let (_, list) = call(&app, "GET", "/api/hangouts", Some(&stranger), None).await;
    assert_eq!(list["hangouts"].as_array().expect("list").len(), 0);

    // Roles.
    let join = |token: Option<String>, body: Value| {
        let app = &app;
        let id = id.clone();
        async move {
            call(
                app,
                "POST",
                &format!("/api/hangouts/{id}/join"),
                token.as_deref(),
                Some(body),
            )
            .await
        }
    };
    let (status, e) = join(None, json!({})).await;
    assert_eq!(status, 422, "a guest needs a name: {e}");
    let (status, me_host) = join(Some(host.token.clone()), json!({})).await;
    assert_eq!(status, 201, "{me_host}");
    assert_eq!(me_host["role"], "host");
    assert_eq!(me_host["room"]["speaker_link"], speaker_link.as_str());
    let (_, speaker) = join(None, json!({"name": "Sam", "code": code})).await;
    assert_eq!(speaker["role"], "speaker");
    assert!(
        speaker["room"]["speaker_link"].is_null(),
        "only the host sees the speaker link"
    );
    let (_, wrong) = join(None, json!({"name": "Wes", "code": "not-the-code"})).await;
    assert_eq!(wrong["role"], "audience");
    let (_, viewer) = join(Some(stranger.clone()), json!({})).await;
    assert_eq!(viewer["role"], "audience");

    // Checking in needs the peer's token.
    let sp = speaker["peer_id"].as_str().expect("peer");
    let st = speaker["token"].as_str().expect("token");
    let (status, _) = peer_get(&app, &id, sp, "hp_wrong").await;
    assert_eq!(status, 401);
    let (status, room) = peer_get(&app, &id, sp, st).await;
    assert_eq!(status, 200, "{room}");
    assert_eq!(room["your_role"], "speaker");
    assert_eq!(room["peers"].as_array().expect("peers").len(), 4);
    let on_stage: Vec<&Value> = room["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .filter(|p| p["playback_id"].is_string())
        .collect();
    assert_eq!(
        on_stage.len(),
        2,
        "the host and the speaker publish: {room}"
    );

    // Publishing: not for the audience; an offer must be SDP.
    let publish = |peer: &str, token: &str, body: &str| {
        let url = app.url(&format!("/api/hangouts/{id}/peers/{peer}/publish"));
        let (token, body) = (token.to_string(), body.to_string());
        async move {
            client()
                .post(url)
                .header("x-peer-token", token)
                .header("content-type", "application/sdp")
                .body(body)
                .send()
                .await
                .expect("publish")
                .status()
                .as_u16()
        }
    };
    let vp = viewer["peer_id"].as_str().expect("peer");
    let vt = viewer["token"].as_str().expect("token");
    assert_eq!(publish(vp, vt, "v=0\r\n").await, 403);
    assert_eq!(publish(sp, st, "not sdp").await, 400);
    assert_eq!(publish(sp, "hp_wrong", "v=0\r\n").await, 401);

    // A full stage: the host and the speaker, and six more; a ninth is refused.
    for i in 0..6 {
        let (status, p) = join(None, json!({"name": format!("Guest {i}"), "code": code})).await;
        assert_eq!((status, p["role"].as_str()), (201, Some("speaker")), "{p}");
    }
    let (status, e) = join(None, json!({"name": "One too many", "code": code})).await;
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["code"], "HANGOUT_FULL");

    // Broadcasting: the host only; to their source.
    let broadcast = format!("/api/hangouts/{id}/broadcast");
    let (status, _) = call(
        &app,
        "POST",
        &broadcast,
        Some(&stranger),
        Some(json!({"on": true})),
    )
    .await;
    assert_eq!(status, 403);
    // A source live from another encoder is not taken over.
    let encoder = state
        .engine
        .hub
        .publish(ferrocast_hub::StreamKey {
            playback_id: host.playback_id.clone(),
            source_id: host.id,
            relay: false,
        })
        .expect("publish");
    let (status, e) = call(
        &app,
        "POST",
        &broadcast,
        Some(&host.token),
        Some(json!({"on": true})),
    )
    .await;
    assert_eq!((status, e["code"].as_str()), (409, Some("BUSY")), "{e}");
    drop(encoder);
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.engine.hub.is_live(&host.playback_id) {
        assert!(
            Instant::now() < deadline,
            "the encoder's stream did not end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, room) = call(
        &app,
        "POST",
        &broadcast,
        Some(&host.token),
        Some(json!({"on": true})),
    )
    .await;
    assert_eq!(status, 200, "{room}");
    assert_eq!(
        room["broadcast_url"],
        format!("/watch/{}", host.playback_id)
    );
    assert_eq!(state.hangouts.broadcasts_here(), 1);
    let (_, list) = call(&app, "GET", "/api/hangouts", Some(&host.token), None).await;
    assert_eq!(list["hangouts"][0]["broadcasting"], true);
    let (status, room) = call(
        &app,
        "POST",
        &broadcast,
        Some(&host.token),
        Some(json!({"on": false})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(room["broadcast_url"].is_null());
    assert_eq!(state.hangouts.broadcasts_here(), 0);

    // A peer that stops checking in is dropped.
    state.db.peer_seen(sp, 0).await.expect("backdate");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Read without checking in (which would keep the peer).
        let (_, room) = call(&app, "GET", &format!("/api/hangouts/{id}"), None, None).await;
        if !room["peers"]
            .as_array()
            .expect("peers")
            .iter()
            .any(|p| p["id"] == sp)
        {
            break;
        }
        assert!(Instant::now() < deadline, "the silent peer was not dropped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = peer_get(&app, &id, sp, st).await;
    assert_eq!(status, 404, "a dropped peer joins again");

    // Leaving, ending.
    let res = client()
        .delete(app.url(&format!("/api/hangouts/{id}/peers/{vp}")))
        .header("x-peer-token", vt)
        .send()
        .await
        .expect("leave");
    assert_eq!(res.status(), 204);
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/hangouts/{id}"),
        Some(&stranger),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/hangouts/{id}"),
        Some(&host.token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, e) = join(None, json!({"name": "Late"})).await;
    assert_eq!(status, 410, "{e}");
    // A peer checking in is told the room ended.
    let hp = me_host["peer_id"].as_str().expect("peer");
    let ht = me_host["token"].as_str().expect("token");
    let (status, room) = peer_get(&app, &id, hp, ht).await;
    assert_eq!(
        (status, room["ended"].as_bool()),
        (200, Some(true)),
        "{room}"
    );
    let (_, room) = call(&app, "GET", &format!("/api/hangouts/{id}"), None, None).await;
    assert_eq!(room["ended"], true);
    // A suspended host's rooms are gone.
    let (_, h2) = call(
        &app,
        "POST",
        "/api/hangouts",
        Some(&host.token),
        Some(json!({"title": "Another"})),
    )
    .await;
    let host_id = state
        .db
        .user_by_email("host@example.com")
        .await
        .expect("q")
        .expect("user")
        .id;
    state
        .db
        .set_suspended(host_id, Some(1), 1)
        .await
        .expect("suspend");
    let path = format!("/api/hangouts/{}", h2["id"].as_str().expect("id"));
    let (status, _) = call(&app, "GET", &path, None, None).await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, "GET", "/api/hangouts/nope", None, None).await;
    assert_eq!(status, 404);
    app.finish().await;
}
