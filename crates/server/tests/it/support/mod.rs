//! Test harness: a real ferrocast node on 127.0.0.1:0 over a real database (a fresh SQLite file,
//! or a fresh schema in the local PostgreSQL), with a local SMTP server that speaks enough of RFC
//! 5321 for the node's SMTP mailer to deliver account codes to the test.
#![allow(dead_code)]

pub mod checkout;
pub mod oidc;
pub mod s3;
pub mod telegram_api;

use ferrocast_config::{Config, Sources};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named test function once per backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::support::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::support::Backend::Postgres).await } )*
        }
    };
}

pub fn postgres_url() -> String {
    std::env::var("FERROCAST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL schema, or `None` when PostgreSQL is unreachable outside CI. Under
/// `CI=true` an unreachable PostgreSQL fails the test.
pub async fn postgres_schema() -> Option<(String, String)> {
    let base = postgres_url();
    let pool = match sqlx::PgPool::connect(&base).await {
        Ok(p) => p,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL at {base} is required under CI=true but unreachable: {e}");
            }
            eprintln!("SKIPPED: PostgreSQL at {base} is unreachable ({e}); set FERROCAST_TEST_POSTGRES_URL or start PostgreSQL");
            return None;
        }
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .expect("create schema");
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some((
        format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        schema,
    ))
}

/// Mail captured by the fake SMTP server.
#[derive(Clone, Default)]
pub struct Inbox(Arc<Mutex<Vec<String>>>);

impl Inbox {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("inbox").clone()
    }

    /// Waits for a message to `to` whose text contains `needle`, and returns its 6-digit code.
    pub async fn code_for(&self, to: &str, needle: &str) -> String {
        for _ in 0..200 {
            let found = self
                .all()
                .into_iter()
                .rev()
                .find(|m| m.contains(&format!("To: {to}")) && m.contains(needle));
            if let Some(m) = found {
                let digits: String = m
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .expect("a 6-digit code in the mail")
                    .to_string();
                return digits;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no mail to {to} containing {needle:?}; inbox: {:?}",
            self.all()
        );
    }
}

/// Starts a minimal SMTP server (RFC 5321 §4.1, no extensions) and returns its port.
pub async fn smtp_server(inbox: Inbox) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let inbox = inbox.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 test-smtp ready\r\n").await;
                let mut in_data = false;
                let mut data = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            inbox
                                .0
                                .lock()
                                .expect("inbox")
                                .push(std::mem::take(&mut data));
                            let _ = w.write_all(b"250 queued\r\n").await;
                        } else {
                            data.push_str(&line);
                            data.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 test-smtp\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 end with .\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = w.write_all(reply).await;
                }
            });
        }
    });
    port
}

pub struct TestApp {
    pub running: Option<ferrocast_server::Running>,
    pub base: String,
    pub data_dir: PathBuf,
    pub inbox: Inbox,
    pub backend: Backend,
    schema: Option<String>,
    /// The node's database, for tests that arrange state directly in storage.
    pub database_url: String,
}

pub struct Options {
    pub auth_rate_limit: u32,
    pub extra: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        // Tests make many credential requests from one address; the limit has its own test.
        Self {
            auth_rate_limit: 10_000,
            extra: Vec::new(),
        }
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> Option<TestApp> {
        Self::start_with(backend, Options::default()).await
    }

    pub async fn start_with(backend: Backend, opts: Options) -> Option<TestApp> {
        let data_dir =
            std::env::temp_dir().join(format!("ferrocast-test-{}", uuid::Uuid::new_v4().simple()));
        let (database_url, schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}/ferrocast.db", data_dir.display()),
                None,
            ),
            Backend::Postgres => {
                let (url, schema) = postgres_schema().await?;
                (url, Some(schema))
            }
        };
        let inbox = Inbox::default();
        let smtp = smtp_server(inbox.clone()).await;
        let mut flags: BTreeMap<String, String> = BTreeMap::new();
        flags.insert("data_dir".into(), data_dir.display().to_string());
        flags.insert("http_addr".into(), "127.0.0.1:0".into());
        flags.insert("rtmp_addr".into(), "127.0.0.1:0".into());
        flags.insert("database_url".into(), database_url.clone());
        flags.insert("smtp_url".into(), format!("smtp+plain://127.0.0.1:{smtp}"));
        flags.insert("auth_rate_limit".into(), opts.auth_rate_limit.to_string());
        flags.insert("log_level".into(), "warn".into());
        for (k, v) in opts.extra {
            flags.insert(k.into(), v);
        }
        let config = Config::load(&Sources {
            config_file: None,
            working_dir: None,
            env: BTreeMap::new(),
            flags,
        })
        .expect("test config");
        // The node's start future is large; on the heap it keeps tests that start
        // several nodes within a debug test thread's stack.
        let running = Box::pin(ferrocast_server::start(config))
            .await
            .expect("server starts");
        let base = format!("http://{}", running.http_addr);
        Some(TestApp {
            running: Some(running),
            base,
            data_dir,
            inbox,
            backend,
            schema,
            database_url,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `rtmp://127.0.0.1:PORT` of the node's RTMP listener.
    pub fn rtmp_url(&self) -> String {
        format!(
            "rtmp://{}",
            self.running.as_ref().expect("running").rtmp_addr
        )
    }

    /// `srt://127.0.0.1:PORT` of the node's SRT listener (started with `srt_addr`).
    pub fn srt_url(&self) -> String {
        let addr = self.running.as_ref().expect("running").srt_addr;
        format!("srt://{}", addr.expect("the node listens for SRT"))
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.as_ref().expect("running").http_addr
    }

    /// Reads the generated master key, to sign tokens as the server would (for expiry tests).
    pub fn master_key(&self) -> [u8; 32] {
        let text =
            std::fs::read_to_string(self.data_dir.join("master.key")).expect("master key file");
        ferrocast_config::validate_secret_key(text.trim()).expect("valid key")
    }

    pub async fn finish(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("clean stop");
        }
        if let Some(schema) = &self.schema {
            if let Ok(pool) = sqlx::PgPool::connect(&postgres_url()).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&pool)
                    .await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address works on Linux), so
/// tests can act as different clients.
pub fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub fn client() -> reqwest::Client {
    client_from([127, 0, 0, 1])
}

const C1_LEN: usize = 1536;

/// C0 + C1 of a simple RTMP handshake (Adobe RTMP spec §5.2).
pub fn c0c1() -> Vec<u8> {
    let mut v = vec![3u8];
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    v.extend((0..C1_LEN - 8).map(|i| (i * 7 % 251) as u8));
    v
}

/// Connects to an RTMP server and completes a simple handshake.
pub async fn rtmp_handshake(addr: SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncReadExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(&c0c1()).await.expect("c0c1");
    let mut s0s1s2 = vec![0u8; 1 + 2 * C1_LEN];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut s0s1s2))
        .await
        .expect("S0S1S2 in time")
        .expect("read");
    assert_eq!(s0s1s2[0], 3);
    s.write_all(&s0s1s2[1..1 + C1_LEN]).await.expect("c2");
    s
}

pub fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{tool} is required: run scripts/test.sh, which installs it"
    );
}

/// A current ffmpeg (Enhanced RTMP, HEVC, SRT), which Debian 12's 5.1 is not:
/// `FERROCAST_TEST_NEW_FFMPEG`, set by scripts/test.sh from the imageio-ffmpeg package. Without
/// it the caller's test is skipped with a notice, except under CI=true, where it fails.
pub fn new_ffmpeg() -> Option<String> {
    match std::env::var("FERROCAST_TEST_NEW_FFMPEG") {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "FERROCAST_TEST_NEW_FFMPEG is unset, and CI=true requires it: run scripts/test.sh"
            )
        }
        _ => {
            eprintln!("SKIPPED: FERROCAST_TEST_NEW_FFMPEG is unset (scripts/test.sh sets it)");
            None
        }
    }
}

pub struct Source {
    pub id: i64,
    pub key: String,
    pub playback_id: String,
    pub token: String,
}

pub async fn creator_with_source(app: &TestApp, email: &str) -> Source {
    let c = client();
    let reg: Value = c
        .post(app.url("/api/auth/register"))
        .json(&json!({"email": email, "password": "password123", "display_name": "Streamer"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = reg["access_token"].as_str().expect("token").to_string();
    let res = c
        .post(app.url("/api/sources"))
        .bearer_auth(&token)
        .json(&json!({"name": "Main"}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.expect("json");
    let s = &body["source"];
    let key = s["stream_key"].as_str().expect("key").to_string();
    assert!(key.starts_with("sk_") && key.len() == 67, "{key}");
    let playback_id = s["playback_id"].as_str().expect("pid").to_string();
    assert!(
        !s["playback"]["hls"].as_str().expect("hls").contains(&key),
        "playback URLs never hold the key"
    );
    Source {
        id: s["id"].as_i64().expect("id"),
        key,
        playback_id,
        token,
    }
}

/// ffmpeg publishing a generated H.264 + AAC stream in real time (1 s GOP).
pub fn publish(rtmp: &str, name: &str, seconds: u32, extra: &[&str]) -> Child {
    let mut args: Vec<String> = vec![
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=640x360:rate=30",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    if !extra.contains(&"-an") {
        args.extend(
            ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"].map(String::from),
        );
    }
    args.extend(extra.iter().map(|s| s.to_string()));
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
            "-c:a",
            "aac",
            "-b:a",
            "128k",
        ]
        .map(String::from),
    );
    args.extend([
        "-t".to_string(),
        seconds.to_string(),
        "-f".into(),
        "flv".into(),
        format!("{rtmp}/live/{name}"),
    ]);
    Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg")
}

/// Stops an encoder as a person does: ffmpeg on SIGTERM finishes and unpublishes, so the stream
/// ends at once. (Killing it, SIGKILL, is an encoder that dropped: the fallback slate covers it
/// for the source's grace period.)
pub fn stop_encoder(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Registers a user and makes them a viewer (not a creator); returns the access token.
pub async fn register_viewer(app: &TestApp, email: &str) -> String {
    let token = register_user(app, email, "Viewer").await;
    let db = &app.running.as_ref().expect("running").state.db;
    let user = db.user_by_email(email).await.expect("q").expect("user");
    db.set_role(user.id, "viewer", 0).await.expect("role");
    token
}

/// Registers a user; returns the access token.
pub async fn register_user(app: &TestApp, email: &str, display_name: &str) -> String {
    let res = client()
        .post(app.url("/api/auth/register"))
        .json(&json!({"email": email, "password": "password123", "display_name": display_name}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_string()
}

/// Registers a user and makes them an administrator (their role applies to their next request);
/// returns the access token.
pub async fn register_admin(app: &TestApp, email: &str) -> String {
    let token = register_user(app, email, "Admin").await;
    let db = &app.running.as_ref().expect("running").state.db;
    let me = db.user_by_email(email).await.expect("q").expect("user");
    db.set_role(me.id, "admin", 0).await.expect("role");
    token
}

/// Runs a scenario of `tests/js/realtime.mjs` with the stock `socket.io-client` and returns
/// what its clients observed.
pub async fn socketio_scenario(name: &str, params: Value) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        dir.join("node_modules/socket.io-client/package.json")
            .exists(),
        "socket.io-client is required: run scripts/test.sh (it runs npm ci in {})",
        dir.display()
    );
    let out = tokio::process::Command::new("node")
        .arg(dir.join("realtime.mjs"))
        .arg(name)
        .arg(params.to_string())
        .output()
        .await
        .expect("node is required: run scripts/test.sh");
    assert!(
        out.status.success(),
        "scenario {name} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scenario {name} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Signs payment-gateway requests with the gateways' own Python libraries
/// (`tests/py/sign.py`; see there for the request and reply shapes).
pub fn gateway_signatures(request: &Value) -> Value {
    let python = std::env::var("FERROCAST_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-python/bin/python")
        });
    assert!(
        python.exists(),
        "the payment tests need Python with the stripe and razorpay packages: run scripts/test.sh (it creates {})",
        python.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/sign.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(request.to_string().as_bytes())
            .expect("write request");
    }
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "sign.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("sign.py prints JSON")
}

/// An `application/x-www-form-urlencoded` body into its fields (what the local gateway and
/// OAuth stand-ins receive).
/// Seconds since the Unix epoch, as the gateways stamp their events.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// The id of the plan named `name`.
pub async fn plan_id(app: &TestApp, name: &str) -> i64 {
    let (_, plans) = call(app, "GET", "/api/subscriptions/plans", None, None).await;
    plans["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["id"].as_i64())
        .unwrap_or_else(|| panic!("no plan named {name}: {plans}"))
}

/// The caller's subscription and usage (`GET /api/subscriptions/my-subscription`).
pub async fn my_subscription(app: &TestApp, token: &str) -> Value {
    let (status, v) = call(
        app,
        "GET",
        "/api/subscriptions/my-subscription",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The caller's plan and its status.
pub async fn my_plan(app: &TestApp, token: &str) -> (String, String) {
    let v = my_subscription(app, token).await;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        text(&v["subscription"]["plan"]["name"]),
        text(&v["subscription"]["status"]),
    )
}

pub fn form_decode(body: &str) -> std::collections::HashMap<String, String> {
    serde_urlencoded::from_str(body).expect("a form-encoded body")
}

/// A JSON request to the node: its status and body (`Null` when not JSON).
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let c = client();
    let mut r = match method {
        "GET" => c.get(app.url(path)),
        "PUT" => c.put(app.url(path)),
        "PATCH" => c.patch(app.url(path)),
        "DELETE" => c.delete(app.url(path)),
        _ => c.post(app.url(path)),
    };
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The node's `/metrics` text, read from loopback.
pub async fn metrics_text(app: &TestApp) -> String {
    client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// The value of one series (`name{labels}`) of the node's `/metrics`, if it is there.
pub async fn metric_value(app: &TestApp, series: &str) -> Option<f64> {
    metrics_text(app)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}

/// A node on SQLite whose one plan (the default, two sources) transcodes `ladder`
/// (`["360p", "240p"]`) within a budget of `cpus` cores; and the directory of its plans file,
/// for the test to remove.
pub async fn node_with_ladder(ladder: &[&str], cpus: &str) -> (TestApp, std::path::PathBuf) {
    node_with_ladder_and(ladder, cpus, Vec::new()).await
}

/// [`node_with_ladder`] with more settings.
pub async fn node_with_ladder_and(
    ladder: &[&str],
    cpus: &str,
    extra: Vec<(&'static str, String)>,
) -> (TestApp, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-ladder-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let plans = dir.join("plans.toml");
    let rungs: Vec<String> = ladder.iter().map(|r| format!("\"{r}\"")).collect();
    std::fs::write(
        &plans,
        format!(
            "[[plans]]\nname = \"Ladder\"\nmax_sources = 2\nmax_destinations = 2\nmax_streaming_hours_monthly = 10\ntranscode_ladder = [{}]\ndefault = true\n",
            rungs.join(", ")
        ),
    )
    .expect("plans");
    let mut opts = Options::default();
    opts.extra.push(("plans_file", plans.display().to_string()));
    opts.extra.push(("transcode_cpus", cpus.to_string()));
    opts.extra.extend(extra);
    let app = TestApp::start_with(Backend::Sqlite, opts)
        .await
        .expect("sqlite always runs");
    (app, dir)
}
