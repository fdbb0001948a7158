//! The media engine end to end, with real ffmpeg as encoder and ffmpeg/ffprobe as players:
//! RTMP ingest authorised by a source's stream key, and HLS, HTTP-FLV and RTMP-play outputs
//! addressed by its playback id. Transport behaviour: run on SQLite.

use crate::support;

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{client, creator_with_source, new_ffmpeg, publish, require, Backend, TestApp};

fn ffprobe(url: &str) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-show_streams",
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
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

/// The published parameters arrived: `video_codec` 640×360 and AAC 44.1 kHz.
fn assert_codecs(probe: &Value, url: &str, video_codec: &str) {
    let streams = probe["streams"].as_array().expect("streams");
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap_or_else(|| panic!("no video in {url}: {probe}"));
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .unwrap_or_else(|| panic!("no audio in {url}: {probe}"));
    assert_eq!(video["codec_name"], video_codec, "{url}: {probe}");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(640), Some(360)),
        "{url}"
    );
    assert_eq!(audio["codec_name"], "aac", "{url}");
    assert_eq!(audio["sample_rate"], "44100", "{url}");
}

/// Decodes a few seconds of `url` and returns ffmpeg's error output (empty when clean).
fn decode_errors(url: &str, seconds: u32) -> String {
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-i",
            url,
            "-t",
            &seconds.to_string(),
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    let mut text = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        text.push_str(&format!("\n(exit {})", out.status));
    }
    text
}

/// A player's own media playlist: the one variant of the stream's multivariant playlist
/// (`v<session>/index.m3u8`, which counts the player as a viewer).
pub async fn media_playlist_url(app: &TestApp, pid: &str) -> Option<String> {
    let res = client()
        .get(app.url(&format!("/hls/{pid}/index.m3u8")))
        .send()
        .await
        .expect("playlist");
    if res.status() != 200 {
        return None;
    }
    let text = res.text().await.expect("text");
    assert!(text.contains("#EXT-X-STREAM-INF:BANDWIDTH="), "{text}");
    let variant = text
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("a variant: {text}"));
    assert!(
        variant.starts_with('v') && variant.ends_with("/index.m3u8"),
        "{variant}"
    );
    Some(app.url(&format!("/hls/{pid}/{variant}")))
}

async fn wait_for_playlist(app: &TestApp, pid: &str, min_segments: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut media = None;
    loop {
        if media.is_none() {
            media = media_playlist_url(app, pid).await;
        }
        let url = media
            .clone()
            .unwrap_or_else(|| app.url(&format!("/hls/{pid}/index.m3u8")));
        let res = client().get(url).send().await.expect("playlist");
        let status = res.status();
        let text = res.text().await.expect("text");
        if status == 200 && text.matches("#EXTINF").count() >= min_segments {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no playlist with {min_segments} segments within 30 s; last answer {status}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_and_every_output_plays() {
    require("ffmpeg");
    require("ffprobe");
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let src = creator_with_source(&app, "live@example.com").await;
    let rtmp = app.rtmp_url();
    let encoder = publish(&rtmp, &format!("{}?obs=1", src.key), 14, &[]);

    let playlist = wait_for_playlist(&app, &src.playback_id, 4).await;
    assert!(playlist.contains("#EXT-X-TARGETDURATION:"), "{playlist}");
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{playlist}");
    let durations: Vec<f64> = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| {
            l.trim_end_matches(',')
                .split(',')
                .next()
                .expect("d")
                .parse()
                .expect("f64")
        })
        .collect();
    let target: f64 = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .expect("target")
        .parse()
        .expect("int");
    eprintln!("HLS segment durations: {durations:?} (target {target} s)");
    // Every finished segment is within 10 % of the target (1 s GOP, 1 s target).
    for d in &durations {
        assert!(
            (d - target).abs() <= target * 0.1 + 1e-6,
            "segment {d}s vs target {target}s: {playlist}"
        );
    }

    // Per-stream metrics.
    let metrics = client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("m")
        .text()
        .await
        .expect("t");
    assert!(metrics.contains("ferrocast_live_streams 1"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "ferrocast_stream_bytes_in_total{{playback_id=\"{}\"}}",
            src.playback_id
        )),
        "{metrics}"
    );
    assert!(
        !metrics.contains(&src.key),
        "the stream key never reaches metrics"
    );

    // The source shows live.
    let list: Value = client()
        .get(app.url("/api/sources"))
        .bearer_auth(&src.token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["sources"][0]["is_active"], true, "{list}");

    let hls = app.url(&format!("/hls/{}/index.m3u8", src.playback_id));
    let flv = app.url(&format!("/live/{}.flv", src.playback_id));
    let play = format!("{rtmp}/play/{}", src.playback_id);
    for url in [&hls, &flv, &play] {
        assert_codecs(&ffprobe(url), url, "h264");
    }
    // Players joining mid-stream decode without errors — several RTMP players at once share
    // one chunking of each frame.
    let mut players = Vec::new();
    for _ in 0..4 {
        let url = play.clone();
        players.push(tokio::task::spawn_blocking(move || decode_errors(&url, 3)));
    }
    for url in [&flv, &hls] {
        let errors = decode_errors(url, 3);
        assert!(errors.trim().is_empty(), "{url}: {errors}");
    }
    for p in players {
        let errors = p.await.expect("join");
        assert!(errors.trim().is_empty(), "{play}: {errors}");
    }
    publisher_ends(encoder).await;
    app.finish().await;
}

/// `seconds` of `url` copied (not re-encoded) by the current ffmpeg into an MPEG-TS file that
/// Debian's ffprobe then reads: what a player of Enhanced RTMP receives, codec for codec.
fn copy_and_probe(ffmpeg: &str, url: &str, seconds: u32) -> Value {
    let out = std::env::temp_dir().join(format!(
        "ferrocast-copy-{}.ts",
        uuid::Uuid::new_v4().simple()
    ));
    let run = Command::new(ffmpeg)
        .args([
            "-hide_banner",
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-i",
            url,
        ])
        .args(["-t", &seconds.to_string(), "-c", "copy", "-f", "mpegts"])
        .arg(&out)
        .output()
        .expect("ffmpeg");
    assert!(
        run.status.success(),
        "copy {url}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let probe = ffprobe(out.to_str().expect("path"));
    let _ = std::fs::remove_file(&out);
    probe
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hevc_publish_over_enhanced_rtmp_plays_back_as_hevc() {
    let Some(ffmpeg) = new_ffmpeg() else {
        return;
    };
    require("ffprobe");
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let src = creator_with_source(&app, "hevc@example.com").await;
    let rtmp = app.rtmp_url();
    // ffmpeg 6.1+ writes HEVC in FLV with Enhanced RTMP's extended header (FourCC hvc1).
    let encoder = Command::new(&ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-x265-params",
            "keyint=30:min-keyint=30:scenecut=0:log-level=error",
        ])
        .args(["-c:a", "aac", "-b:a", "128k", "-t", "16", "-f", "flv"])
        .arg(format!("{rtmp}/live/{}", src.key))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg");

    let playlist = wait_for_playlist(&app, &src.playback_id, 2).await;
    assert!(playlist.contains("#EXTINF"), "{playlist}");
    let multivariant = client()
        .get(app.url(&format!("/hls/{}/index.m3u8", src.playback_id)))
        .send()
        .await
        .expect("multivariant")
        .text()
        .await
        .expect("text");
    assert!(
        multivariant.contains("CODECS=\"hvc1.1.6.L"),
        "the variant names HEVC Main: {multivariant}"
    );

    let hls = app.url(&format!("/hls/{}/index.m3u8", src.playback_id));
    let flv = app.url(&format!("/live/{}.flv", src.playback_id));
    let play = format!("{rtmp}/play/{}", src.playback_id);
    let probes = [
        (hls.clone(), ffprobe(&hls)),
        (flv.clone(), copy_and_probe(&ffmpeg, &flv, 2)),
        (play.clone(), copy_and_probe(&ffmpeg, &play, 2)),
    ];
    for (url, probe) in &probes {
        assert_codecs(probe, url, "hevc");
    }
    let errors = decode_errors(&hls, 3);
    assert!(errors.trim().is_empty(), "{hls}: {errors}");
    publisher_ends(encoder).await;
    app.finish().await;
}

/// Waits for a publisher to run to its end, and says so if it failed.
async fn publisher_ends(mut encoder: std::process::Child) {
    let status = tokio::task::spawn_blocking(move || encoder.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "the publisher ran to the end");
}

/// A node listening for SRT too (with `passphrase`, encrypted only), and a creator's source.
async fn srt_node(email: &str, passphrase: Option<&str>) -> Option<(TestApp, support::Source)> {
    let mut extra = vec![("srt_addr", "127.0.0.1:0".to_string())];
    extra.extend(passphrase.map(|p| ("srt_passphrase", p.to_string())));
    let opts = support::Options {
        extra,
        ..Default::default()
    };
    let app = TestApp::start_with(Backend::Sqlite, opts).await?;
    let src = creator_with_source(&app, email).await;
    Some((app, src))
}

/// ffmpeg (Debian's, with libsrt) sending H.264 + AAC in MPEG-TS over SRT in real time.
fn publish_srt(srt: &str, stream_id: &str, seconds: u32) -> std::process::Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"])
        .args(["-t", &seconds.to_string(), "-f", "mpegts"])
        .arg(format!(
            "{srt}{}streamid={stream_id}&pkt_size=1316",
            if srt.contains('?') { '&' } else { '?' }
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_publishes_with_its_key_and_plays_over_hls_and_rtmp() {
    require("ffmpeg");
    require("ffprobe");
    let Some((app, src)) = srt_node("srt@example.com", None).await else {
        return;
    };
    let srt = app.srt_url();
    let list: Value = client()
        .get(app.url("/api/sources"))
        .bearer_auth(&src.token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["sources"][0]["srt_url"], srt.as_str(), "{list}");

    // A wrong key is refused in the handshake: ffmpeg fails at once and nothing goes live.
    let refused = publish_srt(&srt, "sk_not_a_key", 5)
        .wait_with_output()
        .expect("ffmpeg");
    assert!(!refused.status.success(), "a bad key must be refused");
    eprintln!(
        "refused publisher said: {}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        media_playlist_url(&app, &src.playback_id).await.is_none(),
        "nothing is live after a refusal"
    );
    // A caller that encrypts, to a node without a passphrase, is refused too (srt-tokio's
    // listener panics on that key exchange; ours listens again) — and SRT still works after.
    let encrypting = publish_srt(&format!("{srt}?passphrase=some-passphrase"), &src.key, 3)
        .wait_with_output()
        .expect("ffmpeg");
    eprintln!(
        "encrypting caller: {} {}",
        encrypting.status,
        String::from_utf8_lossy(&encrypting.stderr)
    );

    // The key in SRT's access-control form publishes.
    let stream_id = format!("#!::r=live/{},m=publish", src.key);
    let encoder = publish_srt(&srt, &stream_id, 14);
    let playlist = wait_for_playlist(&app, &src.playback_id, 3).await;
    assert!(playlist.contains("#EXTINF"), "{playlist}");
    let hls = app.url(&format!("/hls/{}/index.m3u8", src.playback_id));
    let play = format!("{}/play/{}", app.rtmp_url(), src.playback_id);
    for url in [&hls, &play] {
        assert_codecs(&ffprobe(url), url, "h264");
        let errors = decode_errors(url, 3);
        assert!(errors.trim().is_empty(), "{url}: {errors}");
    }
    let metrics = support::metrics_text(&app).await;
    assert!(
        metrics.contains("ferrocast_srt_publishes_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ferrocast_srt_publishers 1"), "{metrics}");
    // The wrong key and the encrypting caller.
    assert!(
        metrics.contains("ferrocast_srt_refused_total 2"),
        "{metrics}"
    );
    publisher_ends(encoder).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_with_a_passphrase_refuses_unencrypted_publishers() {
    require("ffmpeg");
    require("ffprobe");
    let passphrase = "correct-horse-battery";
    let Some((app, src)) = srt_node("srt-aes@example.com", Some(passphrase)).await else {
        return;
    };
    let srt = app.srt_url();
    let refused = publish_srt(&srt, &src.key, 4)
        .wait_with_output()
        .expect("ffmpeg");
    assert!(
        !refused.status.success(),
        "an unencrypted caller is refused"
    );
    let wrong = publish_srt(&format!("{srt}?passphrase=not-the-passphrase"), &src.key, 4)
        .wait_with_output()
        .expect("ffmpeg");
    assert!(!wrong.status.success(), "a wrong passphrase is refused");
    let encoder = publish_srt(&format!("{srt}?passphrase={passphrase}"), &src.key, 10);
    let playlist = wait_for_playlist(&app, &src.playback_id, 2).await;
    assert!(playlist.contains("#EXTINF"), "{playlist}");
    let hls = app.url(&format!("/hls/{}/index.m3u8", src.playback_id));
    assert_codecs(&ffprobe(&hls), &hls, "h264");
    publisher_ends(encoder).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_and_second_publisher_are_refused() {
    require("ffmpeg");
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let src = creator_with_source(&app, "solo@example.com").await;
    let rtmp = app.rtmp_url();
    let mut unknown = publish(
        &rtmp,
        "sk_0000000000000000000000000000000000000000000000000000000000000000",
        5,
        &[],
    );
    let status = tokio::task::spawn_blocking(move || unknown.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(!status.success(), "an unknown key is refused");

    let mut first = publish(&rtmp, &src.key, 10, &[]);
    wait_for_playlist(&app, &src.playback_id, 1).await;
    let second = publish(&rtmp, &src.key, 5, &[]);
    let out = tokio::task::spawn_blocking(move || second.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    assert!(
        !out.status.success(),
        "a second publisher on a live key is refused"
    );
    let _ = first.kill();
    let _ = first.wait();
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_drop_ends_readers_and_republish_marks_a_discontinuity() {
    require("ffmpeg");
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let src = creator_with_source(&app, "again@example.com").await;
    let rtmp = app.rtmp_url();
    let mut first = publish(&rtmp, &src.key, 5, &[]);
    let before = wait_for_playlist(&app, &src.playback_id, 1).await;
    assert!(!before.contains("#EXT-X-ENDLIST"), "{before}");
    // An HTTP-FLV reader attached now ends cleanly when the publisher leaves.
    let flv = app.url(&format!("/live/{}.flv", src.playback_id));
    let reader = tokio::spawn(async move {
        let mut res = client().get(flv).send().await.expect("flv");
        assert_eq!(res.status(), 200);
        let mut n = 0usize;
        while let Some(chunk) = res.chunk().await.expect("clean end of body") {
            n += chunk.len();
        }
        n
    });
    let status = tokio::task::spawn_blocking(move || first.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success());
    let read = tokio::time::timeout(Duration::from_secs(15), reader)
        .await
        .expect("the reader ends")
        .expect("join");
    assert!(
        read > 10_000,
        "the reader got media before the end: {read} bytes"
    );
    // The playlist ends: the open segment is closed and listed, then EXT-X-ENDLIST, no more
    // preload hint; a blocking reload for what would have come next answers with it at once.
    // (A player that joins now still gets its own media playlist, with the stream's last
    // segments.)
    let hls = media_playlist_url(&app, &src.playback_id)
        .await
        .expect("the ended stream's playlist");
    let deadline = Instant::now() + Duration::from_secs(10);
    let ended = loop {
        let text = client()
            .get(&hls)
            .send()
            .await
            .expect("playlist")
            .text()
            .await
            .expect("text");
        if text.contains("#EXT-X-ENDLIST") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no EXT-X-ENDLIST after the publisher left: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(ended.ends_with("#EXT-X-ENDLIST\n"), "{ended}");
    assert!(!ended.contains("#EXT-X-PRELOAD-HINT"), "{ended}");
    let last: u64 = ended
        .lines()
        .filter_map(|l| l.strip_prefix("seg")?.strip_suffix(".ts")?.parse().ok())
        .max()
        .expect("segments listed");
    let hinted: u64 = before
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg"))
        .and_then(|r| r.split('.').next()?.parse().ok())
        .expect("a preload hint while live");
    assert!(
        last >= hinted,
        "the segment open when we looked (seg{hinted}) is listed: {ended}"
    );
    let res = client()
        .get(format!("{hls}?_HLS_msn={}&_HLS_part=0", last + 1))
        .send()
        .await
        .expect("blocking reload after the end");
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .expect("text")
        .ends_with("#EXT-X-ENDLIST\n"));
    // Offline.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list: Value = client()
            .get(app.url("/api/sources"))
            .bearer_auth(&src.token)
            .send()
            .await
            .expect("l")
            .json()
            .await
            .expect("j");
        if list["sources"][0]["is_active"] == false {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "source still active after the publisher left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = client()
        .get(app.url(&format!("/live/{}.flv", src.playback_id)))
        .send()
        .await
        .expect("flv");
    assert_eq!(res.status(), 404, "nothing to play while offline");

    let mut second = publish(&rtmp, &src.key, 6, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let playlist = loop {
        let text = wait_for_playlist(&app, &src.playback_id, 1).await;
        if text.contains("#EXT-X-DISCONTINUITY")
            && text
                .split("#EXT-X-DISCONTINUITY")
                .nth(1)
                .is_some_and(|after| after.contains("#EXTINF"))
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no discontinuity after republish: {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(playlist.contains("#EXT-X-DISCONTINUITY"));
    assert!(
        !playlist.contains("#EXT-X-ENDLIST"),
        "live again: {playlist}"
    );
    let errors = decode_errors(&hls, 2);
    assert!(
        errors.trim().is_empty(),
        "players continue across the discontinuity: {errors}"
    );
    let _ = tokio::task::spawn_blocking(move || second.wait()).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_only_and_video_only_publishers() {
    require("ffmpeg");
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let rtmp = app.rtmp_url();
    let a = creator_with_source(&app, "radio@example.com").await;
    let v = creator_with_source(&app, "silent@example.com").await;
    let mut audio_only = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-c:a",
            "aac",
            "-t",
            "14",
            "-f",
            "flv",
        ])
        .arg(format!("{rtmp}/live/{}", a.key))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut video_only = publish(&rtmp, &v.key, 14, &["-an"]);
    for (src, kind) in [(&a, "audio"), (&v, "video")] {
        wait_for_playlist(&app, &src.playback_id, 2).await;
        let flv = app.url(&format!("/live/{}.flv", src.playback_id));
        let probe = ffprobe(&flv);
        let kinds: Vec<&str> = probe["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .filter_map(|s| s["codec_type"].as_str())
            .collect();
        assert_eq!(kinds, vec![kind], "{probe}");
    }
    let _ = tokio::task::spawn_blocking(move || (audio_only.wait(), video_only.wait())).await;
    app.finish().await;
}

/// A bare-bones publisher that sends no FMLE commands (no releaseStream/FCPublish, as librtmp
/// clients such as GStreamer's rtmpsink do) and changes its chunk size mid-stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_publisher_without_fmle_and_chunk_size_change() {
    use bytes::BytesMut;
    use ferrocast_rtmp::amf0::{self, Value};
    use ferrocast_rtmp::{ChunkDecoder, ChunkEncoder, MessageType};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    require("ffmpeg");
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let src = creator_with_source(&app, "bare@example.com").await;

    // The media: 6 s made by ffmpeg, read back as FLV tags.
    let dir = std::env::temp_dir().join(format!("ferrocast-bare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("in.flv");
    let st = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
        ])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a",
            "aac", "-t", "6", "-f", "flv",
        ])
        .arg(&file)
        .status()
        .expect("ffmpeg");
    assert!(st.success());
    let mut reader = ferrocast_media::flv::FlvReader::new();
    reader.push(&std::fs::read(&file).expect("read"));
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag().expect("flv") {
        tags.push(tag);
    }
    assert!(tags.len() > 300, "{} tags", tags.len());

    let mut sock = support::rtmp_handshake(app.running.as_ref().expect("running").rtmp_addr).await;
    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    let command = |values: &[Value]| {
        let mut b = BytesMut::new();
        amf0::encode_all(values.iter(), &mut b);
        b.freeze()
    };
    let connect = command(&[
        Value::String("connect".into()),
        Value::Number(1.0),
        Value::Object(vec![
            ("app".into(), Value::String("live".into())),
            (
                "tcUrl".into(),
                Value::String(format!("{}/live", app.rtmp_url())),
            ),
        ]),
    ]);
    enc.write(&mut out, 3, 0, MessageType::COMMAND_AMF0, 0, &connect)
        .expect("connect");
    enc.write(
        &mut out,
        3,
        0,
        MessageType::COMMAND_AMF0,
        0,
        &command(&[
            Value::String("createStream".into()),
            Value::Number(2.0),
            Value::Null,
        ]),
    )
    .expect("cs");
    sock.write_all(&out).await.expect("write");
    out.clear();

    // Read until createStream's _result names the stream id; follow the server's chunk size.
    let mut dec = ChunkDecoder::new();
    let mut buf = vec![0u8; 65536];
    let mut pending = BytesMut::new();
    let mut stream_id = None;
    let mut started = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !started {
        assert!(Instant::now() < deadline, "no publish start");
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
            .await
            .expect("reply in time")
            .expect("read");
        assert!(n > 0, "server closed the connection");
        pending.extend_from_slice(&buf[..n]);
        let mut input: &[u8] = &pending;
        while let Some(msg) = dec.decode(&mut input).expect("server speaks RTMP") {
            if msg.type_id == MessageType::SET_CHUNK_SIZE {
                let size = u32::from_be_bytes(msg.payload[..4].try_into().expect("4 bytes"));
                dec.set_chunk_size(size).expect("chunk size");
            }
            if msg.type_id != MessageType::COMMAND_AMF0 {
                continue;
            }
            let values = amf0::decode_all(&msg.payload).expect("amf");
            let name = match values.first() {
                Some(Value::String(s)) => s.clone(),
                _ => continue,
            };
            if name == "_result" && matches!(values.get(1), Some(Value::Number(t)) if *t == 2.0) {
                if let Some(Value::Number(id)) = values.get(3) {
                    stream_id = Some(*id as u32);
                    let publish = command(&[
                        Value::String("publish".into()),
                        Value::Number(3.0),
                        Value::Null,
                        Value::String(src.key.clone()),
                        Value::String("live".into()),
                    ]);
                    enc.write(
                        &mut out,
                        8,
                        0,
                        MessageType::COMMAND_AMF0,
                        *id as u32,
                        &publish,
                    )
                    .expect("publish");
                }
            }
            if name == "onStatus" && format!("{values:?}").contains("NetStream.Publish.Start") {
                started = true;
            }
        }
        let consumed = pending.len() - input.len();
        let _ = pending.split_to(consumed);
        if !out.is_empty() {
            sock.write_all(&out).await.expect("write");
            out.clear();
        }
    }
    let stream_id = stream_id.expect("stream id");

    // An HLS viewer arrives first (packaging is on demand), then the media — sent as fast as
    // the socket takes it — switching from 128-byte to 4096-byte chunks halfway.
    let playlist_url = app.url(&format!("/hls/{}/index.m3u8", src.playback_id));
    let viewer =
        tokio::spawn(async move { client().get(playlist_url).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let half = tags.len() / 2;
    for (i, tag) in tags.iter().enumerate() {
        if i == half {
            enc.write(
                &mut out,
                2,
                0,
                MessageType::SET_CHUNK_SIZE,
                0,
                &4096u32.to_be_bytes(),
            )
            .expect("scs");
            enc.set_chunk_size(4096).expect("encoder chunk size");
        }
        let (csid, ty) = match tag.tag_type.0 {
            8 => (4, MessageType::AUDIO),
            9 => (6, MessageType::VIDEO),
            _ => (5, MessageType::DATA_AMF0),
        };
        enc.write(&mut out, csid, tag.timestamp_ms, ty, stream_id, &tag.body)
            .expect("media");
        if out.len() > 64 * 1024 {
            sock.write_all(&out).await.expect("write");
            out.clear();
        }
    }
    sock.write_all(&out).await.expect("write");
    assert_eq!(
        viewer.await.expect("join").expect("playlist"),
        200,
        "the first HLS request waits for the first segment"
    );
    let playlist = wait_for_playlist(&app, &src.playback_id, 3).await;
    let first = playlist
        .lines()
        .find(|l| l.ends_with(".ts"))
        .expect("segment")
        .to_string();
    let probe = ffprobe(&app.url(&format!("/hls/{}/{first}", src.playback_id)));
    let video = probe["streams"]
        .as_array()
        .expect("s")
        .iter()
        .find(|s| s["codec_type"] == "video")
        .cloned()
        .expect("video");
    assert_eq!(
        (video["codec_name"].as_str(), video["width"].as_u64()),
        (Some("h264"), Some(640))
    );
    drop(sock);
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

/// Low-Latency HLS: partial segments, a preload hint that is answered when the part is cut,
/// blocking playlist reload, and the 400 for requests far past the live edge. Prints how long
/// after its first frame reached the server each part became available to a blocking player.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_latency_hls_parts_and_blocking_reload() {
    require("ffmpeg");
    require("ffprobe");
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let src = creator_with_source(&app, "ll@example.com").await;
    let mut encoder = publish(&app.rtmp_url(), &src.key, 12, &[]);
    let playlist = wait_for_playlist(&app, &src.playback_id, 2).await;
    for tag in [
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=",
        "#EXT-X-PART-INF:PART-TARGET=",
        "#EXT-X-PART:DURATION=",
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"",
    ] {
        assert!(playlist.contains(tag), "{tag} missing:\n{playlist}");
    }
    let base = app.url(&format!("/hls/{}", src.playback_id));
    let media = media_playlist_url(&app, &src.playback_id)
        .await
        .expect("a media playlist");
    let hint = |text: &str| -> (u64, u32) {
        let uri = text
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
            .expect("hint");
        let name = uri.trim_end_matches('"');
        let (seg, part) = name
            .trim_start_matches("seg")
            .trim_end_matches(".ts")
            .split_once('.')
            .expect("seg<N>.<P>.ts");
        (seg.parse().expect("n"), part.parse().expect("p"))
    };

    // Follow the live edge as an LL-HLS player does, for ~3 s: block on the next part, then
    // fetch it. Latency = answer time − (segment's program date time + offset of the part's end).
    let mut latencies_ms = Vec::new();
    let (mut msn, mut part) = hint(&playlist);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let t0 = Instant::now();
        let res = client()
            .get(format!("{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"))
            .send()
            .await
            .expect("blocking reload");
        assert_eq!(res.status(), 200);
        let text = res.text().await.expect("text");
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "blocking reload answered within 3 target durations"
        );
        let name = format!("seg{msn}.{part}.ts");
        assert!(
            text.contains(&format!("URI=\"{name}\"")),
            "the playlist now lists {name}:\n{text}"
        );
        let bytes = client()
            .get(format!("{base}/{name}"))
            .send()
            .await
            .expect("part")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(bytes.first(), Some(&0x47), "a part is MPEG-TS");
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("t")
            .as_millis() as i64;
        if let Some(end_ms) = part_end_wallclock(&text, msn, part) {
            latencies_ms.push(now_ms - end_ms);
        }
        (msn, part) = hint(&text);
    }
    latencies_ms.sort_unstable();
    eprintln!("LL-HLS part availability after ingest (ms): {latencies_ms:?}");
    assert!(
        latencies_ms.len() >= 5,
        "followed several parts: {latencies_ms:?}"
    );

    // A hinted part requested before it exists is answered when it is cut.
    let (m, p) = {
        let text = client()
            .get(&media)
            .send()
            .await
            .expect("pl")
            .text()
            .await
            .expect("t");
        hint(&text)
    };
    let res = client()
        .get(format!("{base}/seg{m}.{p}.ts"))
        .send()
        .await
        .expect("hinted part");
    assert_eq!(res.status(), 200, "the preload hint resolves");
    // An independent part decodes on its own.
    let independent = {
        let text = client()
            .get(&media)
            .send()
            .await
            .expect("pl")
            .text()
            .await
            .expect("t");
        text.lines()
            .filter(|l| l.contains("INDEPENDENT=YES"))
            .filter_map(|l| l.split("URI=\"").nth(1))
            .map(|u| u.split('"').next().unwrap_or("").to_string())
            .next()
            .expect("an independent part")
    };
    let errors = decode_errors(&format!("{base}/{independent}"), 1);
    assert!(errors.trim().is_empty(), "{independent}: {errors}");

    // Far ahead of the live edge: 400 at once; _HLS_part alone: 400.
    let res = client()
        .get(format!("{base}/index.m3u8?_HLS_msn={}", msn + 100))
        .send()
        .await
        .expect("far");
    assert_eq!(res.status(), 400);
    let res = client()
        .get(format!("{base}/index.m3u8?_HLS_part=1"))
        .send()
        .await
        .expect("part only");
    assert_eq!(res.status(), 400);
    let _ = encoder.kill();
    let _ = encoder.wait();
    app.finish().await;
}

/// Wall-clock end of part `part` of segment `msn`, from the playlist's EXT-X-PROGRAM-DATE-TIME
/// and EXT-X-PART durations.
fn part_end_wallclock(playlist: &str, msn: u64, part: u32) -> Option<i64> {
    let media_sequence: u64 = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))?
        .parse()
        .ok()?;
    let mut seq = media_sequence;
    let mut pdt: Option<i64> = None;
    let mut offset = 0.0f64;
    let mut index = 0u32;
    for line in playlist.lines() {
        if let Some(date) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = parse_rfc3339_ms(date);
            offset = 0.0;
            index = 0;
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-PART:") {
            let d: f64 = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("DURATION="))?
                .parse()
                .ok()?;
            offset += d;
            if seq == msn && index == part {
                return pdt.map(|p| p + (offset * 1000.0) as i64);
            }
            index += 1;
        } else if !line.starts_with('#') && !line.is_empty() {
            seq += 1;
        }
    }
    None
}

fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    // YYYY-MM-DDTHH:MM:SS.mmmZ
    let (date, time) = s.trim().trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, ms) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>());
    let (h, mi, se) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    // days_from_civil (Howard Hinnant).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1000) + ms.parse::<i64>().ok()?)
}

/// The variants of a stream's multivariant playlist: (URL, `RESOLUTION`) in its order.
async fn variants(app: &TestApp, pid: &str) -> Vec<(String, String)> {
    let text = client()
        .get(app.url(&format!("/hls/{pid}/index.m3u8")))
        .send()
        .await
        .expect("multivariant")
        .text()
        .await
        .expect("text");
    let mut out = Vec::new();
    let mut resolution = String::new();
    for line in text.lines() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            resolution = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("RESOLUTION="))
                .unwrap_or("")
                .to_string();
        } else if !line.is_empty() && !line.starts_with('#') {
            out.push((
                app.url(&format!("/hls/{pid}/{line}")),
                std::mem::take(&mut resolution),
            ));
        }
    }
    out
}

async fn source_json(app: &TestApp, token: &str) -> Value {
    let list: Value = client()
        .get(app.url("/api/sources"))
        .bearer_auth(token)
        .send()
        .await
        .expect("sources")
        .json()
        .await
        .expect("json");
    list["sources"][0].clone()
}

fn video_size(probe: &Value) -> (u64, u64) {
    let v = probe["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"))
        .unwrap_or_else(|| panic!("no video: {probe}"));
    (
        v["width"].as_u64().expect("width"),
        v["height"].as_u64().expect("height"),
    )
}

/// Rendition ffmpegs of this test's node (children of this process, by their scale filters),
/// running now.
fn rendition_processes() -> usize {
    let out = Command::new("pgrep")
        .args([
            "-P",
            &std::process::id().to_string(),
            "-f",
            "scale=-2:(240|360)",
        ])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Adaptive bitrate: a plan's ladder (720p, 360p, 240p) on a 480p source gives the source and
/// the two rungs below it (720p is skipped: nothing is scaled up), each in the multivariant
/// playlist with its resolution and read by ffprobe at that size; a rendition's ffmpeg that dies
/// is restarted; a second stream that does not fit the node's CPU budget is refused its ladder
/// with a message and still plays at its source bitrate; every transcoder ends with its stream
/// and the budget comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_bitrate_renditions_play_and_the_cpu_budget_refuses_with_a_message() {
    require("ffmpeg");
    require("ffprobe");
    // Room for one ladder (1.55 cores at admission, 0.65 once 720p is skipped), not two.
    let (app, dir) = support::node_with_ladder(&["720p", "360p", "240p"], "2").await;
    let a = creator_with_source(&app, "abr@example.com").await;
    let rtmp = app.rtmp_url();
    let mut encoder = publish(&rtmp, &a.key, 60, &["-vf", "scale=854:480"]);
    wait_for_playlist(&app, &a.playback_id, 1).await;

    // The source and two renditions, highest first.
    let deadline = Instant::now() + Duration::from_secs(30);
    let list = loop {
        let list = variants(&app, &a.playback_id).await;
        if list.len() >= 3 {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "three variants within 30 s: {list:?}; source: {}",
            source_json(&app, &a.token).await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let sizes: Vec<&str> = list.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(sizes, ["854x480", "640x360", "428x240"], "{list:?}");
    assert!(list[1].0.ends_with("/360p/index.m3u8"), "{list:?}");
    for (url, resolution) in &list {
        let (w, h) = video_size(&ffprobe(url));
        assert_eq!(format!("{w}x{h}"), *resolution, "{url}");
        let errors = decode_errors(url, 2);
        assert!(errors.trim().is_empty(), "{url}: {errors}");
    }
    let abr = source_json(&app, &a.token).await["adaptive_bitrate"].clone();
    assert_eq!(abr["state"], "running", "{abr}");
    assert_eq!(abr["ladder"], serde_json::json!(["720p", "360p", "240p"]));
    assert!(
        abr["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("720p skipped: the source is 854×480")),
        "{abr}"
    );
    assert_eq!(abr["renditions"][0]["name"], "360p", "{abr}");
    assert_eq!(abr["renditions"][1]["height"], 240, "{abr}");

    // A rendition's ffmpeg killed mid-stream is started again; the rendition plays on.
    assert_eq!(rendition_processes(), 2, "one ffmpeg per rung");
    let _ = Command::new("pkill")
        .args([
            "-KILL",
            "-P",
            &std::process::id().to_string(),
            "-f",
            "scale=-2:240",
        ])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let abr = source_json(&app, &a.token).await["adaptive_bitrate"].clone();
        if abr["renditions"][1]["restarts"] == 1 && rendition_processes() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "restarted within 20 s: {abr}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (w, h) = video_size(&ffprobe(&list[2].0));
    assert_eq!((w, h), (428, 240));

    // A second stream does not fit the budget: refused its ladder, in words; played as it is.
    let b = creator_with_source(&app, "abr2@example.com").await;
    let mut second = publish(&rtmp, &b.key, 30, &["-vf", "scale=854:480"]);
    wait_for_playlist(&app, &b.playback_id, 1).await;
    let abr = source_json(&app, &b.token).await["adaptive_bitrate"].clone();
    assert_eq!(abr["state"], "refused", "{abr}");
    let message = abr["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("transcoding budget (2.0 CPU") && message.contains("source quality only"),
        "{abr}"
    );
    let only = variants(&app, &b.playback_id).await;
    assert_eq!(only.len(), 1, "the source only: {only:?}");
    assert_eq!(video_size(&ffprobe(&only[0].0)), (854, 480));
    let metrics = support::metrics_text(&app).await;
    assert!(
        metrics.contains("ferrocast_transcode_refused_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ferrocast_transcode_restarts_total 1"),
        "{metrics}"
    );

    // The transcoders end with their stream and give their share of the budget back.
    support::stop_encoder(&mut encoder);
    support::stop_encoder(&mut second);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = support::metrics_text(&app).await;
        if rendition_processes() == 0 && metrics.contains("ferrocast_transcode_reserved_cores 0\n")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "transcoders gone within 20 s ({} left)",
            rendition_processes()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}
