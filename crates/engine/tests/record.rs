//! Recording end to end: the real engine with its RTMP listener on 127.0.0.1, ffmpeg publishing
//! over RTMP, and a `RecordingStore` written here over the real filesystem (a directory under
//! the system's temp dir). What was recorded is checked with ffprobe and played with ffmpeg.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use ferrocast_domain::media::{
    PortFuture, PublishAuthorizer, PublishDenied, PublishGrant, RecordingSession, RecordingStore,
    RecordingSummary, RecordingTarget,
};
use ferrocast_engine::record::{RecordConfig, RecordStats};
use ferrocast_engine::restream::{tls_config, RestreamConfig};
use ferrocast_engine::rtmp_server::{serve, RtmpConfig};
use ferrocast_engine::Engine;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---- the ports, implemented over the filesystem ----

/// Grants every stream key published to `live`: playback id `pb-<key>`, source id from the key.
struct OpenDoor;

impl PublishAuthorizer for OpenDoor {
    fn authorize<'a>(
        &'a self,
        app: &'a str,
        stream_key: &'a str,
    ) -> PortFuture<'a, Result<PublishGrant, PublishDenied>> {
        Box::pin(async move {
            if app != "live" {
                return Err(PublishDenied::UnknownApp(app.to_string()));
            }
            Ok(PublishGrant {
                source_id: stream_key.bytes().map(i64::from).sum(),
                user_id: 1,
                playback_id: format!("pb-{stream_key}"),
                slate_secs: 0,
                slate_picture: None,
                transcode_ladder: vec![],
            })
        })
    }
}

/// A recording store on a directory: one recording per source, a part per publishing session,
/// objects as files written atomically (a temporary file renamed over the old one).
struct DirStore {
    root: PathBuf,
    sessions: Mutex<Vec<RecordingSession>>,
    parts: Mutex<HashMap<i64, u32>>,
    stored: Mutex<Vec<(i64, u64, u64)>>,
    ends: Mutex<Vec<(RecordingTarget, RecordingSummary)>>,
    /// Writes fail while set.
    failing: AtomicBool,
    /// Writes take this long (ms) while set.
    slow_ms: AtomicU64,
    /// Attempts that were refused (failing) — the recorder's retries.
    refused: AtomicU64,
}

impl DirStore {
    fn new(name: &str) -> Arc<DirStore> {
        let root = std::env::temp_dir().join(format!(
            "ferrocast-record-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&root).unwrap();
        Arc::new(DirStore {
            root,
            sessions: Mutex::default(),
            parts: Mutex::default(),
            stored: Mutex::default(),
            ends: Mutex::default(),
            failing: AtomicBool::new(false),
            slow_ms: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    fn ends(&self) -> Vec<(RecordingTarget, RecordingSummary)> {
        self.ends.lock().unwrap().clone()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

impl Drop for DirStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl RecordingStore for DirStore {
    fn begin<'a>(
        &'a self,
        session: &'a RecordingSession,
    ) -> PortFuture<'a, Result<Option<RecordingTarget>, String>> {
        Box::pin(async move {
            self.sessions.lock().unwrap().push(session.clone());
            // The server's "not recorded" answer (plan or source setting).
            if session.playback_id.starts_with("pb-off") {
                return Ok(None);
            }
            let mut parts = self.parts.lock().unwrap();
            let part = parts.entry(session.source_id).or_default();
            *part += 1;
            Ok(Some(RecordingTarget {
                recording_id: session.source_id,
                prefix: format!("videos/{}/rec/p{}/", session.source_id, part),
                part: *part,
            }))
        })
    }

    fn write<'a>(&'a self, key: String, bytes: Bytes) -> PortFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let slow = self.slow_ms.load(Ordering::SeqCst);
            if slow > 0 {
                tokio::time::sleep(Duration::from_millis(slow)).await;
            }
            if self.failing.load(Ordering::SeqCst) {
                self.refused.fetch_add(1, Ordering::SeqCst);
                return Err("the test store is down".into());
            }
            if key
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
            {
                return Err(format!("bad key {key:?}"));
            }
            let path = self.path(&key);
            std::fs::create_dir_all(path.parent().unwrap()).map_err(|e| e.to_string())?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, &bytes).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
        })
    }

    fn segment_stored<'a>(
        &'a self,
        target: &'a RecordingTarget,
        bytes: u64,
        duration_ms: u64,
    ) -> PortFuture<'a, ()> {
        Box::pin(async move {
            self.stored
                .lock()
                .unwrap()
                .push((target.recording_id, bytes, duration_ms));
        })
    }

    fn end<'a>(
        &'a self,
        target: &'a RecordingTarget,
        summary: RecordingSummary,
    ) -> PortFuture<'a, ()> {
        Box::pin(async move {
            self.ends.lock().unwrap().push((target.clone(), summary));
        })
    }
}

// ---- the engine and the encoder ----

struct Node {
    engine: Engine,
    rtmp: String,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Node {
    fn stats(&self) -> Arc<RecordStats> {
        self.engine.recorder.as_ref().unwrap().stats().clone()
    }
}

/// An engine recording into `store`, with its RTMP listener on a free loopback port.
async fn start(store: Arc<DirStore>, config: RecordConfig) -> Node {
    let restream = RestreamConfig::new(tls_config(None).unwrap());
    let engine = Engine::start(Arc::new(OpenDoor), restream).with_recording(store, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rtmp = format!("rtmp://{}", listener.local_addr().unwrap());
    let (stop, rx) = tokio::sync::watch::channel(false);
    let rtmp_config = RtmpConfig {
        workers: 1,
        ..RtmpConfig::default()
    };
    tokio::spawn(serve(engine.clone(), listener, rtmp_config, rx));
    Node {
        engine,
        rtmp,
        _stop: stop,
    }
}

/// ffmpeg publishing `seconds` of generated H.264 (1 s GOP) and AAC in real time to
/// `<rtmp>/live/<key>`; audio only with `video: false`.
fn publish(rtmp: &str, key: &str, seconds: u32, video: bool) -> std::process::Child {
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-re"]
        .map(String::from)
        .to_vec();
    if video {
        args.extend(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"].map(String::from));
    }
    args.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"].map(String::from));
    if video {
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-g",
                "30",
                "-pix_fmt",
                "yuv420p",
            ]
            .map(String::from),
        );
    }
    args.extend(["-c:a", "aac", "-b:a", "64k"].map(String::from));
    args.extend([
        "-t".into(),
        seconds.to_string(),
        "-f".into(),
        "flv".into(),
        format!("{rtmp}/live/{key}"),
    ]);
    Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg must be installed (apt-get install -y ffmpeg)")
}

async fn wait_exit(mut child: std::process::Child, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "ffmpeg publishing failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ffmpeg did not finish publishing in {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- checking what was recorded ----

/// Runs a command with a time limit; returns (success, stdout, stderr).
fn run(cmd: &mut Command, within: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish in {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The playlist's duration (s) and its streams' codec names, by ffprobe.
fn probe(playlist: &Path) -> (f64, Vec<String>) {
    let (ok, out, err) = run(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration:stream=codec_name",
                "-of",
                "default=noprint_wrappers=1",
            ])
            .arg(playlist),
        Duration::from_secs(30),
    );
    assert!(ok, "ffprobe {}: {err}", playlist.display());
    let mut duration = None;
    let mut codecs = Vec::new();
    for line in out.lines() {
        if let Some(d) = line.strip_prefix("duration=") {
            duration = d.parse::<f64>().ok();
        } else if let Some(c) = line.strip_prefix("codec_name=") {
            codecs.push(c.to_string());
        }
    }
    // The HLS demuxer's program lists the streams a second time.
    codecs.sort();
    codecs.dedup();
    (duration.expect("ffprobe reports a duration"), codecs)
}

/// Decodes the whole playlist: ffmpeg must exit 0 without a single error line.
fn plays_clean(playlist: &Path) {
    let (ok, _, err) = run(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-i"])
            .arg(playlist)
            .args(["-f", "null", "-"]),
        Duration::from_secs(60),
    );
    assert!(
        ok && err.trim().is_empty(),
        "decoding {}: {err}",
        playlist.display()
    );
}

/// The segment names a playlist lists.
fn listed(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(String::from)
        .collect()
}

/// Checks a finished part: EVENT playlist with ENDLIST, every listed segment stored, and
/// returns its text.
fn finished_part(store: &DirStore, target: &RecordingTarget, summary: &RecordingSummary) -> String {
    let dir = store.path(&target.prefix);
    let text = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"), "{text}");
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    let names = listed(&text);
    assert_eq!(names.len() as u64, summary.segments, "{text}");
    for (i, name) in names.iter().enumerate() {
        assert!(name.starts_with('s') && name.ends_with(".ts"), "{name}");
        assert!(dir.join(name).is_file(), "{name} listed but not stored");
        if i > 0 {
            assert!(name > &names[i - 1], "segments in order");
        }
    }
    text
}

fn fast_retries() -> RecordConfig {
    RecordConfig {
        write_attempts: 3,
        retry_backoff: Duration::from_millis(100),
        ..RecordConfig::default()
    }
}

// ---- the tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_recorded_whole_and_a_republish_is_a_new_part() {
    let store = DirStore::new("whole");
    let node = start(store.clone(), RecordConfig::default()).await;
    let stats = node.stats();

    wait_exit(
        publish(&node.rtmp, "alpha", 8, true),
        Duration::from_secs(30),
    )
    .await;
    wait_until("the recording's end", Duration::from_secs(20), || {
        store.ends().len() == 1
    })
    .await;
    let (target, summary) = store.ends()[0].clone();
    assert!(summary.clean, "{summary:?}");
    assert_eq!(summary.gaps, 0);
    assert_eq!(target.part, 1);
    finished_part(&store, &target, &summary);
    let playlist = store.path(&target.prefix).join("index.m3u8");
    let (duration, codecs) = probe(&playlist);
    assert!((duration - 8.0).abs() <= 1.5, "recorded {duration} s of 8");
    assert_eq!(codecs, ["aac", "h264"]);
    plays_clean(&playlist);
    assert!(
        summary.duration_ms.abs_diff(8000) <= 1500,
        "summary says {} ms",
        summary.duration_ms
    );
    // 4 s target, 1 s GOP: two or three segments, each accounted once.
    assert!((2..=3).contains(&summary.segments), "{summary:?}");
    let stored = store.stored.lock().unwrap().clone();
    assert_eq!(stored.len() as u64, summary.segments);
    assert_eq!(stored.iter().map(|s| s.1).sum::<u64>(), summary.bytes);
    assert_eq!(stats.segments.load(Ordering::SeqCst), summary.segments);
    assert_eq!(stats.bytes.load(Ordering::SeqCst), summary.bytes);
    assert_eq!(stats.write_failures.load(Ordering::SeqCst), 0);
    assert_eq!(stats.gaps.load(Ordering::SeqCst), 0);
    wait_until("no active recording", Duration::from_secs(5), || {
        stats.active.load(Ordering::SeqCst) == 0
    })
    .await;

    // The encoder comes back: a new publishing session, a new begin, a new part.
    wait_exit(
        publish(&node.rtmp, "alpha", 3, true),
        Duration::from_secs(30),
    )
    .await;
    wait_until("the second part's end", Duration::from_secs(20), || {
        store.ends().len() == 2
    })
    .await;
    let sessions = store.sessions.lock().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].playback_id, "pb-alpha");
    assert_eq!(sessions[1].source_id, sessions[0].source_id);
    assert_eq!(sessions[1].generation, sessions[0].generation + 1);
    let (target2, summary2) = store.ends()[1].clone();
    assert_eq!(target2.part, 2);
    assert_ne!(target2.prefix, target.prefix);
    assert!(summary2.clean);
    finished_part(&store, &target2, &summary2);
    let playlist2 = store.path(&target2.prefix).join("index.m3u8");
    let (duration2, _) = probe(&playlist2);
    assert!(
        (duration2 - 3.0).abs() <= 1.5,
        "recorded {duration2} s of 3"
    );
    plays_clean(&playlist2);
    // The first part is untouched.
    assert!((probe(&playlist).0 - duration).abs() < 0.01);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_store_declines_is_not_recorded() {
    let store = DirStore::new("declined");
    let node = start(store.clone(), RecordConfig::default()).await;
    let stats = node.stats();
    wait_exit(publish(&node.rtmp, "off", 3, true), Duration::from_secs(30)).await;
    wait_until("the store asked", Duration::from_secs(5), || {
        store.sessions.lock().unwrap().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(store.ends().is_empty());
    assert_eq!(stats.segments.load(Ordering::SeqCst), 0);
    assert_eq!(stats.active.load(Ordering::SeqCst), 0);
    assert_eq!(
        std::fs::read_dir(&store.root).unwrap().count(),
        0,
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_only_stream_is_recorded() {
    let store = DirStore::new("audio");
    let node = start(store.clone(), RecordConfig::default()).await;
    wait_exit(
        publish(&node.rtmp, "radio", 6, false),
        Duration::from_secs(30),
    )
    .await;
    wait_until("the recording's end", Duration::from_secs(20), || {
        store.ends().len() == 1
    })
    .await;
    let (target, summary) = store.ends()[0].clone();
    assert!(summary.clean && summary.segments >= 1, "{summary:?}");
    finished_part(&store, &target, &summary);
    let playlist = store.path(&target.prefix).join("index.m3u8");
    let (duration, codecs) = probe(&playlist);
    assert!((duration - 6.0).abs() <= 1.5, "recorded {duration} s of 6");
    assert_eq!(codecs, ["aac"]);
    plays_clean(&playlist);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_is_retried_and_the_recording_goes_on_after_a_gap() {
    let store = DirStore::new("failing");
    let config = RecordConfig {
        target_duration_ms: 2_000,
        ..fast_retries()
    };
    let node = start(store.clone(), config).await;
    let stats = node.stats();
    let encoder = publish(&node.rtmp, "bumpy", 12, true);
    wait_until("a first stored segment", Duration::from_secs(20), || {
        stats.segments.load(Ordering::SeqCst) >= 1
    })
    .await;
    // Down for longer than a segment and its three attempts.
    store.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    store.failing.store(false, Ordering::SeqCst);
    wait_exit(encoder, Duration::from_secs(30)).await;
    wait_until("the recording's end", Duration::from_secs(20), || {
        store.ends().len() == 1
    })
    .await;

    let (target, summary) = store.ends()[0].clone();
    let refused = store.refused.load(Ordering::SeqCst);
    assert!(refused >= 3, "every write is tried three times: {refused}");
    assert_eq!(stats.write_failures.load(Ordering::SeqCst), refused);
    assert!(summary.gaps >= 1, "{summary:?}");
    assert_eq!(stats.gaps.load(Ordering::SeqCst), summary.gaps);
    // The recorder lived on: segments after the outage, and a clean end.
    assert!(summary.clean, "{summary:?}");
    let text = finished_part(&store, &target, &summary);
    let discontinuity = text.find("#EXT-X-DISCONTINUITY\n").expect(&text);
    assert!(listed(&text[discontinuity..]).len() >= 2, "{text}");
    let playlist = store.path(&target.prefix).join("index.m3u8");
    let (duration, codecs) = probe(&playlist);
    assert_eq!(codecs, ["aac", "h264"]);
    assert!(duration >= 5.0, "recorded {duration} s");
    plays_clean(&playlist);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_store_costs_segments_not_memory() {
    let store = DirStore::new("slow");
    let config = RecordConfig {
        target_duration_ms: 1_000,
        // Nothing may wait beside the segment being written.
        max_pending_bytes: 1,
        ..fast_retries()
    };
    let node = start(store.clone(), config).await;
    let stats = node.stats();
    store.slow_ms.store(2_500, Ordering::SeqCst);
    let encoder = publish(&node.rtmp, "crawl", 10, true);
    wait_until("a dropped segment", Duration::from_secs(20), || {
        stats.gaps.load(Ordering::SeqCst) >= 1
    })
    .await;
    store.slow_ms.store(0, Ordering::SeqCst);
    wait_exit(encoder, Duration::from_secs(30)).await;
    wait_until("the recording's end", Duration::from_secs(30), || {
        store.ends().len() == 1
    })
    .await;
    let (target, summary) = store.ends()[0].clone();
    assert!(summary.clean && summary.gaps >= 1, "{summary:?}");
    assert_eq!(stats.write_failures.load(Ordering::SeqCst), 0);
    let text = finished_part(&store, &target, &summary);
    assert!(text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
    plays_clean(&store.path(&target.prefix).join("index.m3u8"));
}

/// A crash: the engine's runtime is torn down mid-stream, with no goodbye to the store.
#[test]
fn a_crash_leaves_a_playable_event_playlist_of_the_stored_segments() {
    let store = DirStore::new("crash");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = RecordConfig {
        target_duration_ms: 2_000,
        ..RecordConfig::default()
    };
    let node = rt.block_on(start(store.clone(), config));
    let stats = node.stats();
    let mut encoder = publish(&node.rtmp, "doomed", 30, true);
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.segments.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "no segments stored");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    rt.shutdown_background();
    let _ = encoder.kill();
    let _ = encoder.wait();
    drop(node);

    assert!(store.ends().is_empty(), "a crash says no goodbye");
    let sessions = store.sessions.lock().unwrap().clone();
    let prefix = format!("videos/{}/rec/p1/", sessions[0].source_id);
    let dir = store.path(&prefix);
    let text = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"), "{text}");
    assert!(!text.contains("#EXT-X-ENDLIST"), "{text}");
    let names = listed(&text);
    assert!(names.len() >= 3, "{text}");
    for name in &names {
        assert!(dir.join(name).is_file(), "{name} listed but not stored");
    }
    // Still live to a player: it opens and finds both tracks.
    let (ok, out, err) = run(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name",
                "-of",
                "csv=p=0",
            ])
            .arg(dir.join("index.m3u8")),
        Duration::from_secs(30),
    );
    assert!(ok, "{err}");
    let mut codecs: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    codecs.sort();
    codecs.dedup();
    assert_eq!(codecs, ["aac", "h264"]);
    // Closed as the server does on restart (EXT-X-ENDLIST added), it plays from start to end.
    let closed = dir.join("closed.m3u8");
    std::fs::write(&closed, format!("{text}#EXT-X-ENDLIST\n")).unwrap();
    let (duration, _) = probe(&closed);
    assert!(duration >= 5.0, "kept {duration} s");
    plays_clean(&closed);
}
