//! Radio over HTTP, on both databases: tracks made by ffmpeg (an MP3 with title and artist
//! tags, a WAV named by its file) are uploaded and encoded; a picture and an empty body are
//! refused with reasons; the playlist is reordered; another creator's source cannot be the DJ's.
//! On the air, ffprobe reads the Icecast-compatible stream and the HLS audio (AAC, 48 kHz,
//! stereo). One listener stays on the Icecast stream with in-band titles while a DJ publishes
//! over RTMP to the creator's source and stops: the titles go from a track to "Live" and back
//! to a track, the listener's connection never drops and audio keeps arriving throughout, and a
//! Socket.IO client in the station's room is told each change (`now-playing`). Turning the
//! station off ends the stream. A viewer (not a creator) cannot run a station; a suspended
//! creator's station is gone.

use crate::processing::{make, scratch};
use crate::support::{
    self, call, client, creator_with_source, publish, socketio_scenario, Backend, TestApp,
};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

both_backends!(radio_plays_hands_over_to_a_dj_and_back);

async fn upload(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let res = client()
        .post(app.url(&format!("/api/radio/tracks?name={name}")))
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn ffprobe_audio(url: &str) -> Value {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "15000000",
            "-show_entries",
            "stream=codec_type,codec_name,sample_rate,channels",
            "-of",
            "json",
            url,
        ])
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v["streams"][0].clone()
}

async fn station(app: &TestApp, handle: &str) -> Value {
    let (status, s) = call(app, "GET", &format!("/api/radio/{handle}"), None, None).await;
    assert_eq!(status, 200, "{s}");
    s
}

async fn wait_for(app: &TestApp, handle: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = station(app, handle).await;
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What one Icecast listener received: bytes of audio and the titles in-band, in order.
#[derive(Default)]
struct Heard {
    audio: usize,
    titles: Vec<String>,
    ended: bool,
}

/// Listens to `url` with `Icy-MetaData: 1`, splitting audio from the metadata blocks.
async fn listen(url: String, heard: Arc<Mutex<Heard>>) {
    let mut res = client()
        .get(url)
        .header("icy-metadata", "1")
        .send()
        .await
        .expect("listen");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "audio/aac");
    let metaint: usize = res.headers()["icy-metaint"]
        .to_str()
        .expect("metaint")
        .parse()
        .expect("a number");
    let mut until_meta = metaint;
    let mut meta: Option<(usize, Vec<u8>)> = None;
    while let Ok(Some(chunk)) = res.chunk().await {
        let mut h = heard.lock().expect("lock");
        for &b in chunk.iter() {
            match &mut meta {
                None if until_meta > 0 => {
                    h.audio += 1;
                    until_meta -= 1;
                }
                None => {
                    meta = Some((usize::from(b) * 16, Vec::new()));
                    if b == 0 {
                        meta = None;
                        until_meta = metaint;
                    }
                }
                Some((len, text)) => {
                    text.push(b);
                    if text.len() == *len {
                        let t = String::from_utf8_lossy(text);
                        let title = t
                            .trim_end_matches('\0')
                            .strip_prefix("StreamTitle='")
                            .and_then(|t| t.strip_suffix("';"))
                            .unwrap_or("")
                            .to_string();
                        if h.titles.last() != Some(&title) {
                            h.titles.push(title);
                        }
                        meta = None;
                        until_meta = metaint;
                    }
                }
            }
        }
    }
    heard.lock().expect("lock").ended = true;
}

async fn radio_plays_hands_over_to_a_dj_and_back(b: Backend) {
    support::require("ffprobe");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "dj@example.com").await;
    let other = creator_with_source(&app, "other@example.com").await;
    let (_, me) = call(&app, "GET", "/api/auth/me", Some(&creator.token), None).await;
    let handle = me["handle"].as_str().expect("handle").to_string();

    // Two tracks: an MP3 with tags, a WAV named by its file.
    let dir = scratch();
    let mp3 = dir.join("a.mp3");
    make(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=4",
            "-metadata",
            "title=First Light",
            "-metadata",
            "artist=The Testers",
            "-c:a",
            "libmp3lame",
        ],
        &mp3,
    );
    let wav = dir.join("b.wav");
    make(
        &["-f", "lavfi", "-i", "sine=frequency=660:duration=4"],
        &wav,
    );
    let (status, first) = upload(
        &app,
        &creator.token,
        "a.mp3",
        std::fs::read(&mp3).expect("mp3"),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["title"], "First Light");
    assert_eq!(first["artist"], "The Testers");
    assert!(
        (3900..=4200).contains(&first["duration_ms"].as_i64().expect("ms")),
        "{first}"
    );
    let (status, second) = upload(
        &app,
        &creator.token,
        "second_song.wav",
        std::fs::read(&wav).expect("wav"),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["title"], "second song");
    // Refusals say why.
    let png = dir.join("p.png");
    make(
        &["-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1"],
        &png,
    );
    let (status, e) = upload(
        &app,
        &creator.token,
        "p.png",
        std::fs::read(&png).expect("png"),
    )
    .await;
    assert_eq!(status, 415, "{e}");
    assert_eq!(e["code"], "AUDIO_INVALID");
    let (status, e) = upload(&app, &creator.token, "x.mp3", Vec::new()).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["code"], "AUDIO_MISSING");
    let (status, _) = upload(&app, &other.token, "a.mp3", Vec::new()).await;
    assert_eq!(status, 400);

    // The playlist's order: reversed, refused with a missing id, then back.
    let (a, bb) = (
        first["id"].as_i64().expect("id"),
        second["id"].as_i64().expect("id"),
    );
    let (status, mine) = call(
        &app,
        "PUT",
        "/api/radio/tracks/order",
        Some(&creator.token),
        Some(json!({"ids": [bb, a]})),
    )
    .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["tracks"][0]["id"], bb);
    let (status, _) = call(
        &app,
        "PUT",
        "/api/radio/tracks/order",
        Some(&creator.token),
        Some(json!({"ids": [a]})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call(
        &app,
        "PUT",
        "/api/radio/tracks/order",
        Some(&creator.token),
        Some(json!({"ids": [a, bb]})),
    )
    .await;
    assert_eq!(status, 200);

    // Another creator's source cannot be the DJ's.
    let (status, e) = call(
        &app,
        "PUT",
        "/api/radio",
        Some(&creator.token),
        Some(json!({"title": "Night Radio", "enabled": true, "dj_source_id": other.id})),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(station(&app, &handle).await["on_air"], false);
    let (status, mine) = call(
        &app,
        "PUT",
        "/api/radio",
        Some(&creator.token),
        Some(json!({"title": "Night Radio", "enabled": true, "dj_source_id": creator.id})),
    )
    .await;
    assert_eq!(status, 200, "{mine}");

    // On the air: the first track plays.
    let s = wait_for(&app, &handle, "the first track", |s| {
        s["now"]["title"] == "The Testers – First Light"
    })
    .await;
    assert_eq!(s["on_air"], true);
    assert_eq!(s["title"], "Night Radio");
    let icecast = app.url(s["icecast_url"].as_str().expect("icecast"));
    let hls = app.url(s["hls_url"].as_str().expect("hls"));
    let (ice, hls_probe) = tokio::join!(
        tokio::task::spawn_blocking({
            let u = icecast.clone();
            move || ffprobe_audio(&u)
        }),
        tokio::task::spawn_blocking(move || ffprobe_audio(&hls)),
    );
    for probe in [ice.expect("join"), hls_probe.expect("join")] {
        assert_eq!(probe["codec_type"], "audio", "{probe}");
        assert_eq!(probe["codec_name"], "aac", "{probe}");
        assert_eq!(probe["sample_rate"], "48000", "{probe}");
        assert_eq!(probe["channels"], 2, "{probe}");
    }

    // A listener stays on; a Socket.IO client waits in the station's room.
    let heard = Arc::new(Mutex::new(Heard::default()));
    let listener = tokio::spawn(listen(icecast, heard.clone()));
    let room = tokio::spawn(socketio_scenario(
        "radio",
        json!({"url": app.url(""), "handle": handle, "untilHandBack": true, "ms": 50000}),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_dj = heard.lock().expect("lock").audio;
    assert!(before_dj > 0, "the listener heard nothing before the DJ");

    // The DJ goes live on the creator's source for 8 s, and stops.
    let mut dj = publish(&app.rtmp_url(), &creator.key, 8, &[]);
    wait_for(&app, &handle, "the DJ on the air", |s| {
        s["now"]["dj"] == true
    })
    .await;
    let on_dj = heard.lock().expect("lock").audio;
    let back = wait_for(&app, &handle, "the hand-back to the playlist", |s| {
        s["now"]["dj"] == false && s["now"]["track_id"].is_i64()
    })
    .await;
    let _ = dj.wait();
    assert!(back["now"]["title"].is_string());
    tokio::time::sleep(Duration::from_secs(3)).await;
    {
        let h = heard.lock().expect("lock");
        assert!(!h.ended, "the listener's connection dropped");
        assert!(
            on_dj > before_dj && h.audio > on_dj,
            "audio stopped arriving: {before_dj} → {on_dj} → {}",
            h.audio
        );
        // 160 kbit/s is 20 kB a second: the ~15 s listened are far more than a few seconds'.
        assert!(h.audio > 100_000, "only {} bytes heard", h.audio);
        let dj_at = h
            .titles
            .iter()
            .position(|t| t.starts_with("Live"))
            .unwrap_or_else(|| panic!("no DJ title in {:?}", h.titles));
        assert!(
            h.titles[..dj_at]
                .iter()
                .any(|t| t.contains("–") || t == "second song"),
            "{:?}",
            h.titles
        );
        assert!(
            h.titles[dj_at + 1..]
                .iter()
                .any(|t| !t.starts_with("Live") && !t.is_empty()),
            "{:?}",
            h.titles
        );
    }
    let room = room.await.expect("scenario");
    assert_eq!(room["joined"]["handle"], handle.as_str());
    let seen = room["seen"].as_array().expect("seen");
    let dj_at = seen
        .iter()
        .position(|n| n["dj"] == true)
        .unwrap_or_else(|| panic!("no DJ event: {room}"));
    assert!(
        seen[dj_at + 1..]
            .iter()
            .any(|n| n["dj"] == false && n["title"].is_string()),
        "{room}"
    );

    // Off the air: the stream ends.
    let (status, _) = call(
        &app,
        "PUT",
        "/api/radio",
        Some(&creator.token),
        Some(json!({"title": "Night Radio", "enabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::timeout(Duration::from_secs(15), listener)
        .await
        .expect("the stream ends when the station is off")
        .expect("listener");
    wait_for(&app, &handle, "off the air", |s| s["on_air"] == false).await;
    let res = client()
        .get(app.url(&format!("/radio/{handle}/live.aac")))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 404);

    // Deleting a track.
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/radio/tracks/{a}"),
        Some(&other.token),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/radio/tracks/{a}"),
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, mine) = call(&app, "GET", "/api/radio", Some(&creator.token), None).await;
    assert_eq!(mine["tracks"].as_array().expect("tracks").len(), 1);

    // Only creators run stations; a suspended creator's station is gone.
    let state = app.running.as_ref().expect("running").state.clone();
    let member = crate::support::register_viewer(&app, "member@example.com").await;
    let (status, e) = call(
        &app,
        "PUT",
        "/api/radio",
        Some(&member),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 403, "{e}");
    let creator_id = state
        .db
        .user_by_email("dj@example.com")
        .await
        .expect("q")
        .expect("user")
        .id;
    state
        .db
        .set_suspended(creator_id, Some(1), 1)
        .await
        .expect("suspend");
    let (status, _) = call(&app, "GET", &format!("/api/radio/{handle}"), None, None).await;
    assert_eq!(status, 404);
    app.finish().await;
}
