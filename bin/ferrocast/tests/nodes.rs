//! Origin and edge nodes, as an operator runs them: three `ferrocast serve` processes on one
//! PostgreSQL and one Redis. ffmpeg publishes to node A; players on B (an edge) and C (another
//! origin, which relays what it does not hold) decode the stream cleanly over RTMP, HTTP-FLV and
//! HLS (ffprobe); A pulls nothing; B pulls once however many players join it, and stops pulling
//! when its last player leaves; killing B disturbs neither A nor C's players; an edge refuses
//! publishes.
//!
//! The process helpers are this file's own (each file under `tests/` is its own crate).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrocast"))
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("t")
        .as_nanos()
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ferrocast-nodes-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A free port below the kernel's ephemeral range (see cli.rs), spread from cli.rs's choices.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(89) % 12_000;
    loop {
        let port =
            (20_000 + (start + 6_000 + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Node {
    child: Child,
    url: String,
    rtmp: u16,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Node {
    /// Starts `ferrocast serve` in `dir` with `envs` and waits for its "listening" line.
    fn start(dir: &Path, envs: &[(&str, String)]) -> Node {
        let (http, rtmp) = (free_port(), free_port());
        let mut cmd = Command::new(bin());
        cmd.current_dir(dir);
        for (k, _) in std::env::vars() {
            if k.starts_with("FERROCAST_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("FERROCAST_HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("FERROCAST_RTMP_ADDR", format!("127.0.0.1:{rtmp}"))
            .env(
                "FERROCAST_LOG_LEVEL",
                "warn,ferrocast_engine=info,ferrocast_server=info,ferrocast=info",
            );
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .arg("serve")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn ferrocast");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().expect("log").push(line.clone());
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) if line.contains("ferrocast listening") => {
                    return Node {
                        child,
                        url: format!("http://127.0.0.1:{http}"),
                        rtmp,
                        log,
                    };
                }
                Ok(_) => {}
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "ferrocast exited with {status}: {:#?}",
                            log.lock().expect("log")
                        );
                    }
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "ferrocast did not start within 60 s: {:#?}",
            log.lock().expect("log")
        );
    }

    fn log_has(&self, needle: &str) -> bool {
        self.log
            .lock()
            .expect("log")
            .iter()
            .any(|l| l.contains(needle))
    }

    /// SIGTERM, and a clean exit.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "clean exit on SIGTERM, got {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("ferrocast did not stop within 20 s of SIGTERM");
    }

    /// One value of this node's `/metrics` (loopback clients may read it).
    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh PostgreSQL schema URL, or `None` outside CI when PostgreSQL is unreachable.
async fn postgres_schema_url() -> Option<String> {
    let base = std::env::var("FERROCAST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://127.0.0.1:5432/test".into());
    let pool = match sqlx::PgPool::connect(&base).await {
        Ok(p) => p,
        Err(e) => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "PostgreSQL at {base} is required under CI=true: {e}"
            );
            eprintln!("SKIPPED: PostgreSQL at {base} is unreachable ({e})");
            return None;
        }
    };
    let schema = format!("nodes_{}", rand_suffix());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .expect("create schema");
    pool.close().await;
    Some(format!("{base}?options=-c%20search_path%3D{schema}"))
}

fn redis_url() -> Option<String> {
    let redis = std::env::var("FERROCAST_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let hostport = redis
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    if std::net::TcpStream::connect(&hostport).is_err() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "Redis at {redis} is required under CI=true but unreachable"
        );
        eprintln!("SKIPPED: Redis at {redis} is unreachable; set FERROCAST_TEST_REDIS_URL");
        return None;
    }
    Some(redis)
}

/// What ffprobe decoded of a live URL in a few seconds: the video codec, size and frames, with
/// nothing on stderr at `-v error` (no decoding error, no missing reference, no corrupt packet).
async fn probe(url: String) -> Result<(String, u64, u64, u64), String> {
    let run = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "15000000",
            "-select_streams",
            "v:0",
            "-count_frames",
        ])
        .args(["-read_intervals", "%+3", "-show_entries"])
        .args([
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "json",
        ])
        .arg(&url)
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .map_err(|_| format!("{url}: ffprobe did not finish in 40 s"))?
        .map_err(|e| format!("ffprobe is required (scripts/test.sh): {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() || !stderr.trim().is_empty() {
        return Err(format!("{url}: ffprobe {}: {stderr}", out.status));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{url}: {e}"))?;
    let s = &v["streams"][0];
    let frames = s["nb_read_frames"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Ok((
        s["codec_name"].as_str().unwrap_or_default().to_string(),
        s["width"].as_u64().unwrap_or(0),
        s["height"].as_u64().unwrap_or(0),
        frames,
    ))
}

/// Asserts a probe decoded the test picture: H.264, 320×180, over a second of frames.
fn decoded(what: &str, r: Result<(String, u64, u64, u64), String>) {
    let (codec, w, h, frames) = r.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!((codec.as_str(), w, h), ("h264", 320, 180), "{what}");
    assert!(frames >= 30, "{what}: only {frames} frames decoded");
}

/// A player that decodes `url` for `secs` seconds with ffmpeg (`-v error`: any decoding error
/// is printed and fails the check).
fn player(url: &str, secs: u32) -> tokio::process::Child {
    tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-rw_timeout",
            "15000000",
            "-i",
        ])
        .arg(url)
        .args(["-t", &secs.to_string(), "-f", "null", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg is required: run scripts/test.sh")
}

async fn played_cleanly(what: &str, child: tokio::process::Child) {
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what}: the player did not finish"))
        .expect("player");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{what}: {} {stderr}",
        out.status
    );
}

/// Polls `$check` (an expression awaited each time) until it holds, failing after `$secs`.
macro_rules! wait_for {
    ($what:expr, $secs:expr, $check:expr) => {{
        let deadline = Instant::now() + Duration::from_secs($secs);
        while !$check {
            assert!(Instant::now() < deadline, "{} within {} s", $what, $secs);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }};
}

#[tokio::test]
async fn an_origin_and_two_relaying_nodes_serve_one_stream() {
    let Some(database) = postgres_schema_url().await else {
        return;
    };
    let Some(redis) = redis_url() else {
        return;
    };
    // Every node of a deployment shares the master key (the node secret is derived from it).
    let key: String = (0..32)
        .map(|i| format!("{:02x}", (i * 37 + 11) % 256))
        .collect();
    let shared = |role: &str| {
        vec![
            ("FERROCAST_DATABASE_URL", database.clone()),
            ("FERROCAST_REDIS_URL", redis.clone()),
            ("FERROCAST_SECRET_KEY", key.clone()),
            ("FERROCAST_NODE_ROLE", role.to_string()),
            ("FERROCAST_NODE_PULL_LINGER_SECS", "2".to_string()),
        ]
    };
    let dirs = [temp_dir("a"), temp_dir("b"), temp_dir("c")];
    let a = Node::start(&dirs[0], &shared("origin"));
    let b = Node::start(&dirs[1], &shared("edge"));
    let c_node = Node::start(&dirs[2], &shared("origin"));
    let http = reqwest::Client::new();
    let reg: serde_json::Value = http
        .post(format!("{}/api/auth/register", a.url))
        .json(&serde_json::json!({"email": "edge@example.com", "password": "password123", "display_name": "E"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = reg["access_token"].as_str().expect("token").to_string();
    let src: serde_json::Value = http
        .post(format!("{}/api/sources", a.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Main"}))
        .send()
        .await
        .expect("source")
        .json()
        .await
        .expect("json");
    let stream_key = src["source"]["stream_key"]
        .as_str()
        .expect("key")
        .to_string();
    let pid = src["source"]["playback_id"]
        .as_str()
        .expect("pid")
        .to_string();
    let encoder = |port: u16, secs: &str| {
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi"])
            .args(["-i", "testsrc=size=320x180:rate=30"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "30",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-t", secs, "-f", "flv"])
            .arg(format!("rtmp://127.0.0.1:{port}/live/{stream_key}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ffmpeg is required: run scripts/test.sh")
    };

    // The edge takes no publishes, and says why.
    let refused = encoder(b.rtmp, "5").wait_with_output().expect("ffmpeg");
    assert!(!refused.status.success(), "the edge accepted a publish");
    assert!(b.log_has("edge node"), "the edge's log names the refusal");

    let mut publisher = encoder(a.rtmp, "180");
    let live = || async {
        let info: serde_json::Value = http
            .get(format!("{}/api/streams/info", a.url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("info")
            .json()
            .await
            .expect("json");
        info["streams"][0]["status"] == "live"
    };
    wait_for!("the stream goes live on A", 30, live().await);

    // B: a player that stays, then five more at once over every protocol. One pull.
    let rtmp_b = format!("rtmp://127.0.0.1:{}/play/{pid}", b.rtmp);
    let flv_b = format!("{}/live/{pid}.flv", b.url);
    let hls_b = format!("{}/hls/{pid}/index.m3u8", b.url);
    let stays = player(&rtmp_b, 12);
    wait_for!(
        "B relays the stream",
        20,
        b.metric("ferrocast_edge_pulls").await == 1.0
    );
    let (r1, r2, r3, r4, r5) = tokio::join!(
        probe(rtmp_b.clone()),
        probe(flv_b.clone()),
        probe(hls_b.clone()),
        probe(rtmp_b.clone()),
        probe(flv_b.clone()),
    );
    for (what, r) in [
        ("B rtmp", r1),
        ("B http-flv", r2),
        ("B hls", r3),
        ("B rtmp 2", r4),
        ("B http-flv 2", r5),
    ] {
        decoded(what, r);
    }
    assert_eq!(
        b.metric("ferrocast_edge_pulls_started_total").await,
        1.0,
        "B pulls once"
    );
    assert_eq!(b.metric("ferrocast_edge_pulls").await, 1.0);
    played_cleanly("B's staying player", stays).await;

    // C (an origin that does not hold this stream) relays it too.
    let rtmp_c = format!("rtmp://127.0.0.1:{}/play/{pid}", c_node.rtmp);
    let (c1, c2, c3) = tokio::join!(
        probe(rtmp_c.clone()),
        probe(format!("{}/live/{pid}.flv", c_node.url)),
        probe(format!("{}/hls/{pid}/index.m3u8", c_node.url)),
    );
    for (what, r) in [("C rtmp", c1), ("C http-flv", c2), ("C hls", c3)] {
        decoded(what, r);
    }
    // A holds the stream: it pulls nothing.
    assert_eq!(a.metric("ferrocast_edge_pulls_started_total").await, 0.0);
    assert_eq!(a.metric("ferrocast_edge_pulls").await, 0.0);

    // B's last player has left: its pull stops (linger 2 s; HLS sessions end 6 s after their
    // last request).
    wait_for!(
        "B stops pulling",
        30,
        b.metric("ferrocast_edge_pulls").await == 0.0
    );
    assert_eq!(b.metric("ferrocast_edge_pull_failures_total").await, 0.0);
    assert!(b.log_has("relay stopped: no local viewers"));

    // Kill B (kill -9) while C has a player and B pulls again: A and C carry on.
    let b_player = player(&rtmp_b, 30);
    wait_for!(
        "B relays again",
        20,
        b.metric("ferrocast_edge_pulls").await == 1.0
    );
    let c_player = player(&rtmp_c, 10);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut b = b;
    b.child.kill().expect("kill -9 B");
    let _ = b.child.wait();
    drop(b_player);
    played_cleanly("C's player across B's death", c_player).await;
    decoded(
        "A rtmp after B died",
        probe(format!("rtmp://127.0.0.1:{}/play/{pid}", a.rtmp)).await,
    );
    decoded("C rtmp after B died", probe(rtmp_c.clone()).await);
    assert!(
        publisher.try_wait().expect("encoder").is_none(),
        "the encoder is still publishing to A"
    );

    // Nodes leave the registry when they stop.
    let pool = sqlx::PgPool::connect(&database).await.expect("pg");
    let origins = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM nodes WHERE role = 'origin'")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    assert_eq!(origins().await, 2);
    let _ = publisher.kill();
    let _ = publisher.wait();
    a.stop();
    c_node.stop();
    assert_eq!(origins().await, 0, "stopped nodes removed their rows");
    pool.close().await;
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}
