//! Sources, destinations, plans and restreaming end to end: real ffmpeg publishes to ferrocast,
//! real ffmpeg RTMP listeners (one behind a local TLS terminator) receive the forwarded stream,
//! ffprobe checks what they recorded. Plan limits, usage and the SSRF guard run on both backends.

use crate::support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{client, creator_with_source, publish, require, Backend, Options, TestApp};

/// GET `path` with the bearer `token`, answered as JSON.
async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    client()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// Sends requests concurrently and returns their statuses.
async fn futures_join_all<F>(requests: impl Iterator<Item = F>) -> Vec<u16>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let tasks: Vec<_> = requests.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task").expect("request").status().as_u16());
    }
    out
}

/// A free port below the kernel's ephemeral range (32768 and up): a port taken from that range
/// and released can be handed to some other test's outgoing connection before the process meant
/// to listen on it binds it.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % 12_000;
    loop {
        let port = (20_000 + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// An ffmpeg RTMP server on `port` recording what is published to `live/dest` into `out`.
fn listener(port: u16, out: &Path) -> Child {
    Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-listen",
            "1",
            "-i",
        ])
        .arg(format!("rtmp://127.0.0.1:{port}/live/dest"))
        .args(["-c", "copy", "-f", "flv"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg listener")
}

/// Waits until a socket listens on `port`, without connecting (an `ffmpeg -listen 1` server
/// takes exactly one connection, which a probe would use up): reads /proc/net/tcp.
async fn wait_listening(port: u16) {
    let needle = format!(":{port:04X} ");
    // A deadline, not a timing claim: ffmpeg starts slowly on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let listening = table.lines().skip(1).any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() > 3 && format!("{} ", cols[1]).ends_with(&needle) && cols[3] == "0A"
        });
        if listening {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a child with a deadline, killing it if it overruns.
fn wait_child(mut child: Child, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Probe {
    video_codec: String,
    width: i64,
    height: i64,
    video_packets: i64,
    audio_codec: String,
    sample_rate: String,
    max_video_gap: f64,
}

fn probe(file: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_streams",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let streams = v["streams"].as_array().expect("streams");
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("audio stream");
    let pts = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe packets");
    let times: Vec<f64> = String::from_utf8_lossy(&pts.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    let max_video_gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    Probe {
        video_codec: video["codec_name"].as_str().unwrap_or("").into(),
        width: video["width"].as_i64().unwrap_or(0),
        height: video["height"].as_i64().unwrap_or(0),
        video_packets: video["nb_read_packets"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        audio_codec: audio["codec_name"].as_str().unwrap_or("").into(),
        sample_rate: audio["sample_rate"].as_str().unwrap_or("").into(),
        max_video_gap,
    }
}

fn assert_input_parameters(p: &Probe, what: &str, seconds: i64) {
    assert_eq!(p.video_codec, "h264", "{what}");
    assert_eq!((p.width, p.height), (640, 360), "{what}");
    assert_eq!(p.audio_codec, "aac", "{what}");
    assert_eq!(p.sample_rate, "44100", "{what}");
    // 30 fps for `seconds`, within one GOP (30 frames).
    let expected = 30 * seconds;
    assert!(
        (expected - 30..=expected).contains(&p.video_packets),
        "{what}: {} video frames recorded, {expected} published",
        p.video_packets
    );
}

async fn add_destination(
    app: &TestApp,
    token: &str,
    source_id: i64,
    body: Value,
) -> reqwest::Response {
    client()
        .post(app.url(&format!("/api/sources/{source_id}/destinations")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("add destination")
}

async fn source_id(app: &TestApp, token: &str) -> i64 {
    let v: Value = get_json(app, token, "/api/sources").await;
    v["sources"][0]["id"].as_i64().expect("id")
}

async fn destinations(app: &TestApp, token: &str, source_id: i64) -> Vec<Value> {
    let v: Value = get_json(
        app,
        token,
        &format!("/api/sources/{source_id}/destinations"),
    )
    .await;
    v["destinations"]
        .as_array()
        .unwrap_or_else(|| panic!("destinations: {v}"))
        .clone()
}

/// Polls until destination `id` is in `state`.
async fn wait_state(
    app: &TestApp,
    token: &str,
    source_id: i64,
    id: i64,
    state: &str,
    secs: u64,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let all = destinations(app, token, source_id).await;
        let d = all
            .iter()
            .find(|d| d["id"] == id)
            .expect("destination")
            .clone();
        if d["status"]["state"] == state {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "destination {id} never became {state}: {d}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_live(app: &TestApp, pid: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = client()
            .get(app.url(&format!("/hls/{pid}/index.m3u8")))
            .send()
            .await
            .expect("hls");
        if res.status() == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "stream never went live");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrocast-{tag}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A self-signed certificate for `localhost`, made with the openssl command line.
fn test_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-days",
            "1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success(), "openssl could not make a test certificate");
    (cert, key)
}

/// A TLS terminator on 127.0.0.1: decrypts each connection and relays it to `backend_port`.
async fn tls_terminator(cert: &Path, key: &Path, backend_port: u16) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("cert")
        .collect::<Result<_, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_file(key).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let Ok(mut plain) =
                    tokio::net::TcpStream::connect(("127.0.0.1", backend_port)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// Reads Server-Sent Events until one named `want` arrives (or the deadline passes).
pub(crate) async fn next_event(
    res: &mut reqwest::Response,
    buf: &mut String,
    want: &str,
    secs: u64,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = "";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim());
                }
            }
            if name == want {
                return serde_json::from_str(&data).expect("event json");
            }
        }
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {want} event within {secs} s; got so far: {buf}"))
            .expect("event stream");
        match chunk {
            Some(c) => buf.push_str(&String::from_utf8_lossy(&c)),
            None => panic!("event stream ended before {want}"),
        }
    }
}

async fn plans_limits_destinations_and_ssrf(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let c = client();
    // Plans: the seed's three, Free by default, prices exact in minor units.
    let plans: Value = c
        .get(app.url("/api/subscriptions/plans"))
        .send()
        .await
        .expect("plans")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = plans["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Free", "Pro", "Business"]);
    let pro = &plans["plans"][1];
    assert_eq!(
        (
            pro["price_monthly_minor"].as_i64(),
            pro["price_monthly"].as_f64()
        ),
        (Some(999), Some(9.99))
    );
    assert_eq!(
        (
            pro["max_sources"].as_i64(),
            pro["max_destinations"].as_i64(),
            pro["max_streaming_hours_monthly"].as_f64()
        ),
        (Some(3), Some(10), Some(200.0))
    );

    // Parallel creations cannot overshoot the plan: exactly one of ten wins on Free.
    let reg: Value = c
        .post(app.url("/api/auth/register"))
        .json(
            &json!({"email": "racer@example.com", "password": "password123", "display_name": "R"}),
        )
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let racer = reg["access_token"].as_str().expect("token").to_string();
    let attempts = (0..10).map(|i| {
        c.post(app.url("/api/sources"))
            .bearer_auth(&racer)
            .json(&json!({"name": format!("race {i}")}))
            .send()
    });
    let statuses: Vec<u16> = futures_join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        9,
        "{statuses:?}"
    );

    let src = creator_with_source(&app, "limits@example.com").await;
    let token = &src.token;
    let mine: Value = get_json(&app, token, "/api/subscriptions/my-subscription").await;
    assert_eq!(mine["subscription"]["plan"]["name"], "Free", "{mine}");
    assert_eq!(mine["usage"]["sources_used"], 1);

    // A second source is over the Free plan's limit: the seed's 403 body.
    let res = c
        .post(app.url("/api/sources"))
        .bearer_auth(token)
        .json(&json!({"name": "Second"}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "Source limit reached", "{body}");
    assert_eq!(
        (body["current"].as_i64(), body["max"].as_i64()),
        (Some(1), Some(1)),
        "{body}"
    );
    assert_eq!(body["upgrade_url"], "/dashboard/subscription");
    assert_eq!(body["code"], "PLAN_LIMIT_REACHED");
    let check: Value = c
        .post(app.url("/api/subscriptions/check-limits"))
        .bearer_auth(token)
        .json(&json!({"operation": "create_source"}))
        .send()
        .await
        .expect("check")
        .json()
        .await
        .expect("json");
    assert_eq!(check["allowed"], false, "{check}");

    let id = source_id(&app, token).await;
    // SSRF: loopback, IPv6 loopback, link-local metadata, a name resolving to loopback, private
    // ranges, and schemes other than rtmp/rtmps are refused with 422.
    for url in [
        "rtmp://127.0.0.1/live",
        "rtmp://127.0.0.1:1935/live",
        "rtmp://[::1]/live",
        "rtmp://169.254.169.254/live",
        "rtmp://localhost/live",
        "rtmp://10.0.0.5/live",
        "rtmp://[::ffff:127.0.0.1]/live",
        "rtmp://0.0.0.0/live",
        "file:///etc/passwd",
        "http://example.com/live",
        "rtmp://user:pw@1.1.1.1/live",
        "rtmp:///live",
    ] {
        let res = add_destination(
            &app,
            token,
            id,
            json!({"platform": "custom", "rtmp_url": url, "stream_key": "k1"}),
        )
        .await;
        assert_eq!(res.status(), 422, "{url} must be refused");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["code"], "VALIDATION_ERROR", "{url}: {body}");
    }
    // Ports other than 1935, 443 and 80 are refused; a host that does not resolve gets the
    // same answer as a private one.
    let refusal = |url: &'static str| {
        let app = &app;
        async move {
            let res = add_destination(
                app,
                token,
                id,
                json!({"platform": "custom", "rtmp_url": url, "stream_key": "k1"}),
            )
            .await;
            assert_eq!(res.status(), 422, "{url} must be refused");
            let body: Value = res.json().await.expect("json");
            body["details"].as_str().expect("details").to_string()
        }
    };
    let port = refusal("rtmp://1.1.1.1:6379/live").await;
    assert!(port.contains("port 6379 is not allowed"), "{port}");
    let unresolvable = refusal("rtmp://no-such-host.invalid/live").await;
    let private = refusal("rtmp://10.0.0.5/live").await;
    assert_eq!(
        unresolvable.replace("no-such-host.invalid", "HOST"),
        private.replace("10.0.0.5", "HOST"),
        "one answer for both"
    );
    // Bad platform, bad key, facebook over plain RTMP.
    for (body, why) in [
        (
            json!({"platform": "myspace", "stream_key": "k"}),
            "platform",
        ),
        (
            json!({"platform": "custom", "rtmp_url": "rtmp://1.1.1.1/live", "stream_key": "has space"}),
            "stream_key",
        ),
        (
            json!({"platform": "facebook", "rtmp_url": "rtmp://1.1.1.1/rtmp", "stream_key": "k"}),
            "RTMPS",
        ),
        (json!({"platform": "custom", "stream_key": "k"}), "rtmp_url"),
    ] {
        let res = add_destination(&app, token, id, body).await;
        assert_eq!(res.status(), 422);
        let b: Value = res.json().await.expect("json");
        assert!(b["details"].as_str().unwrap_or("").contains(why), "{b}");
    }
    // Three public destinations fit the Free plan (the source never goes live here, so nothing
    // connects to them); the fourth is refused.
    let mut ids = Vec::new();
    for (i, url) in [
        "rtmp://1.1.1.1/live",
        "rtmps://1.0.0.1:443/app",
        "rtmp://1.1.1.1:80/live/extra",
    ]
    .iter()
    .enumerate()
    {
        let res = add_destination(&app, token, id, json!({"platform": "custom", "rtmp_url": url, "stream_key": format!("secret-key-{i}-abcd")})).await;
        assert_eq!(res.status(), 201);
        let d: Value = res.json().await.expect("json");
        assert_eq!(
            d["destination"]["stream_key"], "****abcd",
            "keys are masked: {d}"
        );
        assert_eq!(d["destination"]["is_active"], true);
        ids.push(d["destination"]["id"].as_i64().expect("id"));
    }
    let res = add_destination(
        &app,
        token,
        id,
        json!({"platform": "youtube", "stream_key": "yt-key"}),
    )
    .await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        (
            body["error"].as_str(),
            body["current"].as_i64(),
            body["max"].as_i64()
        ),
        (Some("Destination limit reached"), Some(3), Some(3)),
        "{body}"
    );
    // No response ever carries a destination key in clear.
    let listed = destinations(&app, token, id).await;
    assert_eq!(listed.len(), 3);
    assert!(
        !serde_json::to_string(&listed)
            .expect("json")
            .contains("secret-key"),
        "{listed:?}"
    );
    // Toggle, delete: the limit frees up.
    let res = c
        .patch(app.url(&format!("/api/sources/destinations/{}", ids[0])))
        .bearer_auth(token)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 200);
    let res = c
        .delete(app.url(&format!("/api/sources/destinations/{}", ids[1])))
        .bearer_auth(token)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 200);
    let listed = destinations(&app, token, id).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["is_active"], false);

    // Another user's source and destinations are invisible.
    let other = creator_with_source(&app, "other@example.com").await;
    let res = c
        .get(app.url(&format!("/api/sources/{id}/destinations")))
        .bearer_auth(&other.token)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 404);
    let res = c
        .delete(app.url(&format!("/api/sources/destinations/{}", ids[2])))
        .bearer_auth(&other.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 404);
    for bad in ["abc", "-1", "0", "99999999999999999999", "..%2f"] {
        let res = c
            .get(app.url(&format!("/api/sources/{bad}/destinations")))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 404, "{bad}");
    }

    // Update, rotate the key (the old one stops working), info, forwarding.
    let res = c
        .put(app.url(&format!("/api/sources/{id}")))
        .bearer_auth(token)
        .json(&json!({"name": "Renamed", "description": "desc"}))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 200);
    let rotated: Value = c
        .post(app.url(&format!("/api/sources/{id}/rotate-key")))
        .bearer_auth(token)
        .send()
        .await
        .expect("rotate")
        .json()
        .await
        .expect("json");
    let new_key = rotated["source"]["stream_key"].as_str().expect("key");
    assert!(new_key.starts_with("sk_") && new_key.len() == 67 && new_key != src.key);
    assert_eq!(rotated["source"]["name"], "Renamed");
    assert_eq!(
        rotated["source"]["playback_id"].as_str(),
        Some(src.playback_id.as_str()),
        "the playback id survives rotation"
    );
    let res = c
        .get(app.url(&format!("/api/streams/forwarding/{}", src.key)))
        .bearer_auth(token)
        .send()
        .await
        .expect("fwd");
    assert_eq!(res.status(), 404, "the old key is gone");
    let fwd: Value = get_json(&app, token, &format!("/api/streams/forwarding/{new_key}")).await;
    assert_eq!(
        fwd["destinations"].as_array().map(Vec::len),
        Some(1),
        "active ones only: {fwd}"
    );
    let info: Value = get_json(&app, token, "/api/streams/info").await;
    let s = &info["streams"][0];
    assert_eq!(
        (s["status"].as_str(), s["is_active"].as_bool()),
        (Some("offline"), Some(false)),
        "{info}"
    );
    assert_eq!(s["usage"]["hours_limit"].as_f64(), Some(50.0), "{info}");
    let go: Value = c
        .post(app.url(&format!("/api/streams/active/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("go")
        .json()
        .await
        .expect("json");
    assert_eq!(go["stream_key"].as_str(), Some(new_key));
    assert!(go["preview_url"]
        .as_str()
        .expect("preview")
        .contains(&src.playback_id));
    // Administrators only.
    let res = c
        .get(app.url("/api/streams/active"))
        .bearer_auth(token)
        .send()
        .await
        .expect("active");
    assert_eq!(res.status(), 403);
    // Deleting the source frees the limit again.
    let res = c
        .delete(app.url(&format!("/api/sources/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 200);
    let res = c
        .post(app.url("/api/sources"))
        .bearer_auth(token)
        .json(&json!({"name": "Again"}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), 201);
    app.finish().await;
}

both_backends!(
    plans_limits_destinations_and_ssrf,
    restream_to_two_rtmp_endpoints_and_one_rtmps_endpoint,
    streaming_time_is_enforced_and_admins_stop_streams,
);

/// Options for a node that may restream to loopback and trusts a test CA.
fn restream_options(ca: Option<&Path>) -> Options {
    let mut o = Options::default();
    o.extra
        .push(("restream_allow_private_targets", "true".into()));
    // Test destinations listen on whatever port the kernel gives them.
    o.extra.push(("restream_allowed_ports", "any".into()));
    // The tests poll destination states every 100 ms; the per-user API limit has its own test.
    o.extra.push(("api_rate_limit", "0".into()));
    if let Some(ca) = ca {
        o.extra.push(("restream_ca_file", ca.display().to_string()));
    }
    o
}

async fn restream_to_two_rtmp_endpoints_and_one_rtmps_endpoint(b: Backend) {
    require("ffmpeg");
    require("ffprobe");
    let dir = temp_dir("restream");
    let (cert, key) = test_certificate(&dir);
    let Some(app) = TestApp::start_with(b, restream_options(Some(&cert))).await else {
        return;
    };
    let src = creator_with_source(&app, "restream@example.com").await;
    let id = source_id(&app, &src.token).await;
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let tls_port = tls_terminator(&cert, &key, pc).await;
    let (fa, fb, fc) = (dir.join("a.flv"), dir.join("b.flv"), dir.join("c.flv"));
    let (la, lb, lc) = (listener(pa, &fa), listener(pb, &fb), listener(pc, &fc));
    for p in [pa, pb, pc] {
        wait_listening(p).await;
    }
    for url in [
        format!("rtmp://127.0.0.1:{pa}/live"),
        format!("rtmp://127.0.0.1:{pb}/live"),
        format!("rtmps://localhost:{tls_port}/live"),
    ] {
        let res = add_destination(
            &app,
            &src.token,
            id,
            json!({"platform": "custom", "rtmp_url": url, "stream_key": "dest"}),
        )
        .await;
        assert_eq!(res.status(), 201, "{url}");
    }
    let seconds = 8;
    let encoder = publish(&app.rtmp_url(), &src.key, seconds as u32, &[]);
    wait_live(&app, &src.playback_id).await;
    // While live: every destination's push is live and counting.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: Value = get_json(&app, &src.token, "/api/streams/info").await;
        let d = info["streams"][0]["destinations"]
            .as_array()
            .expect("destinations")
            .clone();
        if d.iter().all(|d| {
            d["status"]["state"] == "live" && d["status"]["frames_out"].as_u64() > Some(30)
        }) {
            assert_eq!(info["streams"][0]["status"], "live");
            assert!(
                d.iter()
                    .all(|d| d["status"]["bytes_out"].as_u64() > Some(10_000)),
                "{d:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pushes never all went live: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = support::metrics_text(&app).await;
    assert!(
        metrics.contains("ferrocast_restream_pushes{state=\"live\"} 3"),
        "{metrics}"
    );
    assert!(!metrics.contains("dest\""), "no keys in metrics");
    assert!(wait_child(encoder, 30), "the encoder failed");
    for (child, name) in [(la, "a"), (lb, "b"), (lc, "c (rtmps)")] {
        assert!(
            wait_child(child, 20),
            "listener {name} did not finish cleanly"
        );
    }
    for (file, name) in [(&fa, "rtmp a"), (&fb, "rtmp b"), (&fc, "rtmps c")] {
        assert_input_parameters(&probe(file), name, seconds);
    }
    // Offline: the pushes are gone.
    let d = destinations(&app, &src.token, id).await;
    assert!(d.iter().all(|d| d["status"].is_null()), "{d:?}");
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_destination_retries_while_the_other_keeps_receiving() {
    require("ffmpeg");
    require("ffprobe");
    let dir = temp_dir("retry");
    let Some(app) = TestApp::start_with(Backend::Sqlite, restream_options(None)).await else {
        return;
    };
    let src = creator_with_source(&app, "retry@example.com").await;
    let id = source_id(&app, &src.token).await;
    let (pa, pb) = (free_port(), free_port());
    let (fa, fa2, fb) = (dir.join("a.flv"), dir.join("a2.flv"), dir.join("b.flv"));
    let (mut la, lb) = (listener(pa, &fa), listener(pb, &fb));
    wait_listening(pa).await;
    wait_listening(pb).await;
    let mut ids = Vec::new();
    for p in [pa, pb] {
        let res = add_destination(&app, &src.token, id, json!({"platform": "custom", "rtmp_url": format!("rtmp://127.0.0.1:{p}/live"), "stream_key": "dest"})).await;
        let d: Value = res.json().await.expect("json");
        ids.push(d["destination"]["id"].as_i64().expect("id"));
    }
    let mut events = client()
        .get(app.url("/api/events"))
        .bearer_auth(&src.token)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);
    let mut buf = String::new();
    let seconds = 14;
    let encoder = publish(&app.rtmp_url(), &src.key, seconds as u32, &[]);
    wait_state(&app, &src.token, id, ids[0], "live", 15).await;
    wait_state(&app, &src.token, id, ids[1], "live", 15).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Kill destination A's server: its push retries, B is untouched.
    la.kill().expect("kill");
    let _ = la.wait();
    let a = wait_state(&app, &src.token, id, ids[0], "retrying", 10).await;
    assert!(
        a["status"]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{a}"
    );
    let b = destinations(&app, &src.token, id)
        .await
        .into_iter()
        .find(|d| d["id"] == ids[1])
        .expect("b");
    assert_eq!(
        (
            b["status"]["state"].as_str(),
            b["status"]["connects"].as_u64()
        ),
        (Some("live"), Some(1)),
        "{b}"
    );
    // The state changes reached the owner as events.
    let ev = loop {
        let e = next_event(&mut events, &mut buf, "destination_status", 10).await;
        if e["destination_id"] == ids[0] && e["state"] == "retrying" {
            break e;
        }
    };
    assert_eq!(ev["source_id"].as_i64(), Some(id));
    // A comes back on the same port: the push reconnects.
    let la2 = listener(pa, &fa2);
    let a = wait_state(&app, &src.token, id, ids[0], "live", 20).await;
    assert!(a["status"]["connects"].as_u64() >= Some(2), "{a}");
    assert!(wait_child(encoder, 30), "the encoder failed");
    assert!(wait_child(lb, 20), "listener b");
    assert!(wait_child(la2, 20), "listener a (second)");
    // B recorded the whole stream without a gap; A's second server got the rest.
    let pb_ = probe(&fb);
    assert_input_parameters(&pb_, "b", seconds);
    assert!(
        pb_.max_video_gap < 0.2,
        "b has a {:.3} s gap",
        pb_.max_video_gap
    );
    let pa2 = probe(&fa2);
    assert!(
        pa2.video_packets > 30,
        "a's second server got {} frames",
        pa2.video_packets
    );
    let ended = next_event(&mut events, &mut buf, "stream_ended", 20).await;
    assert_eq!(ended["source_id"].as_i64(), Some(id));
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

async fn streaming_time_is_enforced_and_admins_stop_streams(b: Backend) {
    require("ffmpeg");
    let dir = temp_dir("plans");
    // A plans file whose default plan allows one minute a month.
    let plans = dir.join("plans.toml");
    std::fs::write(
        &plans,
        "[[plans]]\nname = \"Tiny\"\nmax_sources = 2\nmax_destinations = 1\nmax_streaming_minutes_monthly = 1\ndefault = true\n\n[[plans]]\nname = \"Big\"\nprice_monthly = \"4.99\"\nmax_sources = 5\nmax_destinations = 5\nmax_streaming_hours_monthly = 10\n",
    )
    .expect("write plans");
    let mut opts = Options::default();
    opts.extra.push(("plans_file", plans.display().to_string()));
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let c = client();
    let listed: Value = c
        .get(app.url("/api/subscriptions/plans"))
        .send()
        .await
        .expect("plans")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = listed["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .map(|p| p["name"].as_str().expect("n"))
        .collect();
    assert_eq!(
        names,
        ["Tiny", "Big"],
        "the file replaces the default plans"
    );
    let src = creator_with_source(&app, "tiny@example.com").await;
    // 50 of the 60 seconds were used earlier (recorded straight into storage).
    let db = ferrocast_db::Db::connect(&app.database_url)
        .await
        .expect("db");
    let user_id = db
        .user_by_email("tiny@example.com")
        .await
        .expect("query")
        .expect("user")
        .id;
    let now = ferrocast_db::now_ms();
    let earlier = db
        .open_stream_session(
            "00000000-0000-4000-8000-00000000e001",
            user_id,
            source_id(&app, &src.token).await,
            now - 60_000,
        )
        .await
        .expect("session");
    db.close_stream_session(earlier, now - 10_000, "test", 0, 0)
        .await
        .expect("close");
    let mut events = c
        .get(app.url("/api/events"))
        .bearer_auth(&src.token)
        .send()
        .await
        .expect("events");
    let mut buf = String::new();
    let started = Instant::now();
    let encoder = publish(&app.rtmp_url(), &src.key, 60, &[]);
    let warning = next_event(&mut events, &mut buf, "usage_warning", 20).await;
    assert_eq!(warning["limit_minutes"].as_i64(), Some(1), "{warning}");
    let ended = next_event(&mut events, &mut buf, "stream_ended", 20).await;
    let reason = ended["reason"].as_str().expect("reason");
    assert!(
        reason.contains("the Tiny plan's monthly streaming time (1 streaming minute) is used up"),
        "{reason}"
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(25),
        "the stream should end after about 10 s, took {took:?}"
    );
    // The encoder is disconnected, and publishing again is refused with the reason.
    wait_child(encoder, 10);
    let again = publish(&app.rtmp_url(), &src.key, 5, &[]);
    let out = again.wait_with_output().expect("ffmpeg");
    assert!(
        !out.status.success(),
        "a publish over the limit must be refused"
    );
    let check: Value = c
        .post(app.url("/api/subscriptions/check-limits"))
        .bearer_auth(&src.token)
        .json(&json!({"operation": "stream"}))
        .send()
        .await
        .expect("check")
        .json()
        .await
        .expect("json");
    assert_eq!(check["allowed"], false, "{check}");
    let mine: Value = get_json(&app, &src.token, "/api/subscriptions/my-subscription").await;
    let secs = mine["usage"]["streaming_seconds_used"]
        .as_i64()
        .expect("seconds");
    assert!(
        (60..=62).contains(&secs),
        "usage stops at the limit: {secs} s"
    );

    // An administrator sees every live stream and can stop one.
    let other = creator_with_source(&app, "stopped@example.com").await;
    let admin = creator_with_source(&app, "admin@example.com").await;
    let admin_id = db
        .user_by_email("admin@example.com")
        .await
        .expect("query")
        .expect("admin")
        .id;
    db.set_role(admin_id, "admin", now).await.expect("promote");
    let encoder = publish(&app.rtmp_url(), &other.key, 60, &[]);
    wait_live(&app, &other.playback_id).await;
    let active: Value = get_json(&app, &admin.token, "/api/streams/active").await;
    let streams = active["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 1, "{active}");
    assert_eq!(
        streams[0]["playback_id"].as_str(),
        Some(other.playback_id.as_str())
    );
    let sid = streams[0]["source_id"].as_i64().expect("id");
    let mut other_events = c
        .get(app.url("/api/events"))
        .bearer_auth(&other.token)
        .send()
        .await
        .expect("events");
    let mut other_buf = String::new();
    let res = c
        .delete(app.url(&format!("/api/streams/active/{sid}")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .expect("stop");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["status"], "offline");
    let ended = next_event(&mut other_events, &mut other_buf, "stream_ended", 10).await;
    assert_eq!(ended["reason"], "stopped by an administrator");
    // The encoder is disconnected: it exits (with an error) long before its 60 s are up.
    let mut encoder = encoder;
    let deadline = Instant::now() + Duration::from_secs(10);
    while encoder.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "the encoder is still connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = c
        .get(app.url(&format!("/live/{}.flv", other.playback_id)))
        .send()
        .await
        .expect("flv");
    assert_eq!(res.status(), 404, "offline after the stop");
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_change_while_live_without_touching_the_others() {
    require("ffmpeg");
    let dir = temp_dir("change");
    let Some(app) = TestApp::start_with(Backend::Sqlite, restream_options(None)).await else {
        return;
    };
    let src = creator_with_source(&app, "change@example.com").await;
    let id = source_id(&app, &src.token).await;
    let (pa, pb) = (free_port(), free_port());
    let (la, lb) = (
        listener(pa, &dir.join("a.flv")),
        listener(pb, &dir.join("b.flv")),
    );
    wait_listening(pa).await;
    wait_listening(pb).await;
    let add = |port: u16| json!({"platform": "custom", "rtmp_url": format!("rtmp://127.0.0.1:{port}/live"), "stream_key": "dest"});
    let a: Value = add_destination(&app, &src.token, id, add(pa))
        .await
        .json()
        .await
        .expect("json");
    let a = a["destination"]["id"].as_i64().expect("id");
    let encoder = publish(&app.rtmp_url(), &src.key, 12, &[]);
    wait_state(&app, &src.token, id, a, "live", 15).await;
    // Added while live: B starts at once (at a keyframe); A keeps its one connection.
    let res = add_destination(&app, &src.token, id, add(pb)).await;
    assert_eq!(res.status(), 201);
    let b: Value = res.json().await.expect("json");
    let b = b["destination"]["id"].as_i64().expect("id");
    wait_state(&app, &src.token, id, b, "live", 10).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = destinations(&app, &src.token, id).await;
    let a_now = all.iter().find(|d| d["id"] == a).expect("a");
    assert_eq!(a_now["status"]["connects"].as_u64(), Some(1), "{a_now}");
    // Toggled off while live: A's push ends (its server sees the stream end), B is untouched.
    let res = client()
        .patch(app.url(&format!("/api/sources/destinations/{a}")))
        .bearer_auth(&src.token)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 200);
    assert!(wait_child(la, 10), "A's server saw a clean end of stream");
    let all = destinations(&app, &src.token, id).await;
    let a_now = all.iter().find(|d| d["id"] == a).expect("a");
    let b_now = all.iter().find(|d| d["id"] == b).expect("b");
    assert!(a_now["status"].is_null(), "{a_now}");
    assert_eq!(
        (
            b_now["status"]["state"].as_str(),
            b_now["status"]["connects"].as_u64()
        ),
        (Some("live"), Some(1)),
        "{b_now}"
    );
    // Removed while live: B's push ends too; the ingest carries on.
    let res = client()
        .delete(app.url(&format!("/api/sources/destinations/{b}")))
        .bearer_auth(&src.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 200);
    assert!(wait_child(lb, 10), "B's server saw a clean end of stream");
    let info: Value = get_json(&app, &src.token, "/api/streams/info").await;
    assert_eq!(info["streams"][0]["status"], "live", "{info}");
    assert!(probe(&dir.join("b.flv")).video_packets > 30);
    // Rotating the key while live cuts the encoder off; the old key no longer publishes.
    let res = client()
        .post(app.url(&format!("/api/sources/{id}/rotate-key")))
        .bearer_auth(&src.token)
        .send()
        .await
        .expect("rotate");
    assert_eq!(res.status(), 200);
    let started = Instant::now();
    let mut encoder = encoder;
    while encoder.try_wait().expect("wait").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the encoder is still connected after the rotation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = publish(&app.rtmp_url(), &src.key, 3, &[]);
    let out = again.wait_with_output().expect("ffmpeg");
    assert!(!out.status.success(), "the old key must be refused");
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

/// The average colour of one frame per second of `file` (each frame scaled to one pixel).
fn frame_colours(file: &Path) -> Vec<[u8; 3]> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(file)
        .args([
            "-vf",
            "fps=1,scale=1:1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect()
}

fn is_slate(c: [u8; 3]) -> bool {
    // The slate's colour, 0x1e1b4b, after a round trip through YUV 4:2:0.
    let want = [0x1e, 0x1b, 0x4b];
    c.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 12)
}

/// Publishes with `src`'s key until destination `dest_id` is live and 3 s more, then kills the
/// encoder: SIGKILL, so it vanishes without unpublishing, as a crash or a lost network does.
async fn publish_then_drop(app: &TestApp, src: &support::Source, id: i64, dest_id: i64) {
    let mut first = publish(&app.rtmp_url(), &src.key, 60, &[]);
    wait_state(app, &src.token, id, dest_id, "live", 15).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.kill().expect("kill");
    let _ = first.wait();
}

/// Waits for the encoder `child` to finish, and for it to have succeeded.
async fn ends_well(child: Child) {
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The encoder is killed mid-stream: the destination keeps receiving, now the slate, with no gap
/// over a second, and takes the encoder's picture again when it comes back, on the same
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_encoder_is_covered_by_the_slate_until_it_returns() {
    require("ffmpeg");
    require("ffprobe");
    let dir = temp_dir("slate");
    let Some(app) = TestApp::start_with(Backend::Sqlite, restream_options(None)).await else {
        return;
    };
    let src = creator_with_source(&app, "slate@example.com").await;
    let id = source_id(&app, &src.token).await;
    let port = free_port();
    let file = dir.join("dest.flv");
    let dest = listener(port, &file);
    wait_listening(port).await;
    let res = add_destination(&app, &src.token, id, json!({"platform": "custom", "rtmp_url": format!("rtmp://127.0.0.1:{port}/live"), "stream_key": "dest"})).await;
    let d: Value = res.json().await.expect("json");
    let dest_id = d["destination"]["id"].as_i64().expect("id");
    let sources: Value = get_json(&app, &src.token, "/api/sources").await;
    assert_eq!(
        sources["sources"][0]["slate_secs"], 120,
        "the default: {sources}"
    );

    publish_then_drop(&app, &src, id, dest_id).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let info: Value = get_json(&app, &src.token, "/api/streams/info").await;
    assert_eq!(
        info["streams"][0]["status"], "live",
        "still live on the slate: {info}"
    );
    let connects = format!(
        "ferrocast_restream_connects_total{{playback_id=\"{}\",destination_id=\"{dest_id}\"}} 1\n",
        src.playback_id
    );
    let metrics = support::metrics_text(&app).await;
    assert!(
        metrics.contains(&connects),
        "one connection, on the slate: {metrics}"
    );
    // The encoder comes back and ends the stream cleanly after a few seconds.
    let second = publish(&app.rtmp_url(), &src.key, 6, &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = support::metrics_text(&app).await;
    assert!(
        metrics.contains(&connects),
        "still one connection with the encoder back: {metrics}"
    );
    ends_well(second).await;
    assert!(
        wait_child(dest, 15),
        "the destination saw one stream to its end"
    );

    let p = probe(&file);
    eprintln!(
        "destination: {} video packets, largest gap {:.3} s",
        p.video_packets, p.max_video_gap
    );
    assert!(p.max_video_gap <= 1.0, "a gap of {:.3} s", p.max_video_gap);
    assert_eq!(
        (p.width, p.height),
        (640, 360),
        "the slate matches the picture size"
    );
    let colours = frame_colours(&file);
    let slate_at = colours.iter().position(|c| is_slate(*c));
    let slate_at = slate_at.unwrap_or_else(|| panic!("the slate is in the recording: {colours:?}"));
    assert!(
        colours[slate_at..].iter().any(|c| !is_slate(*c)),
        "the encoder's picture is back after the slate: {colours:?}"
    );
    assert!(
        !is_slate(colours[0]),
        "the recording starts with the encoder's picture: {colours:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

/// Whether a frame's colour is the test picture's orange (0xff8000) after JPEG and YUV 4:2:0.
fn is_orange(c: [u8; 3]) -> bool {
    c[0] >= 0xe0 && (0x60..=0xa0).contains(&c[1]) && c[2] <= 0x40
}

/// DELETE `path` with the bearer `token`: status and JSON answer.
async fn delete_json(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let res = client()
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("delete");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// PUT the picture `body` as the slate of source `id`: status and JSON answer.
async fn put_slate(app: &TestApp, token: &str, id: i64, body: Vec<u8>) -> (u16, Value) {
    let res = client()
        .put(app.url(&format!("/api/sources/{id}/slate")))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("put slate");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The creator's own picture is the slate: a picture that is not one is refused with a
/// message; the one uploaded is what the destination shows while the encoder is away (fitted
/// into the stream's picture); removing it, or the source, deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_creators_picture_is_the_slate() {
    require("ffmpeg");
    require("ffprobe");
    let dir = temp_dir("slate-picture");
    let Some(app) = TestApp::start_with(Backend::Sqlite, restream_options(None)).await else {
        return;
    };
    let src = creator_with_source(&app, "slate-picture@example.com").await;
    let id = source_id(&app, &src.token).await;

    let (s, body) = put_slate(&app, &src.token, id, Vec::new()).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (400, Some("IMAGE_MISSING")),
        "{body}"
    );
    let (s, body) = put_slate(
        &app,
        &src.token,
        id,
        b"GIF89a not a picture we take".to_vec(),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (415, Some("IMAGE_INVALID")),
        "{body}"
    );
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("PNG, JPEG or WebP"),
        "{body}"
    );
    // A 4:3 orange picture.
    let png = dir.join("slate.png");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=0xff8000:s=800x600",
            "-frames:v",
            "1",
        ])
        .arg(&png)
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    let (s, body) = put_slate(&app, &src.token, id, std::fs::read(&png).expect("png")).await;
    assert_eq!(s, 200, "{body}");
    let url = body["source"]["slate_picture_url"]
        .as_str()
        .expect("url")
        .to_string();
    let res = client().get(app.url(&url)).send().await.expect("picture");
    assert_eq!(res.status(), 200);
    let jpeg = res.bytes().await.expect("bytes");
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "a JPEG");

    let port = free_port();
    let file = dir.join("dest.flv");
    let dest = listener(port, &file);
    wait_listening(port).await;
    let res = add_destination(&app, &src.token, id, json!({"platform": "custom", "rtmp_url": format!("rtmp://127.0.0.1:{port}/live"), "stream_key": "dest"})).await;
    let d: Value = res.json().await.expect("json");
    let dest_id = d["destination"]["id"].as_i64().expect("id");
    publish_then_drop(&app, &src, id, dest_id).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    ends_well(publish(&app.rtmp_url(), &src.key, 4, &[])).await;
    assert!(
        wait_child(dest, 15),
        "the destination saw the stream to its end"
    );
    let p = probe(&file);
    assert!(p.max_video_gap <= 1.0, "a gap of {:.3} s", p.max_video_gap);
    assert_eq!(
        (p.width, p.height),
        (640, 360),
        "the slate keeps the picture size"
    );
    let colours = frame_colours(&file);
    assert!(
        colours.iter().filter(|c| is_orange(**c)).count() >= 2,
        "the creator's picture is the slate: {colours:?}"
    );
    assert!(
        !colours.iter().any(|c| is_slate(*c)),
        "not the default slate: {colours:?}"
    );

    // Back to the default: the picture is deleted.
    let (s, body) = delete_json(&app, &src.token, &format!("/api/sources/{id}/slate")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["source"]["slate_picture_url"], Value::Null);
    assert_eq!(
        client()
            .get(app.url(&url))
            .send()
            .await
            .expect("gone")
            .status(),
        404
    );
    // A source deleted takes its picture with it.
    let (s, body) = put_slate(&app, &src.token, id, std::fs::read(&png).expect("png")).await;
    assert_eq!(s, 200, "{body}");
    let url = body["source"]["slate_picture_url"]
        .as_str()
        .expect("url")
        .to_string();
    let (s, body) = delete_json(&app, &src.token, &format!("/api/sources/{id}")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        client()
            .get(app.url(&url))
            .send()
            .await
            .expect("gone")
            .status(),
        404
    );
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}
