//! moto's S3 server (from PyPI, on a loopback port) for the tests that run a node on S3
//! storage, as `crates/storage/tests/conformance.rs` starts it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// moto's S3 server, killed when dropped.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers; `None` (SKIPPED) if
    /// Python with moto is missing, except under `CI=true`.
    pub fn start() -> Option<Moto> {
        let python = std::env::var("FERROCAST_TEST_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../target/test-python/bin/python")
            });
        let has_moto = Command::new(&python)
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_moto {
            let why = format!(
                "{} cannot import moto.server; run scripts/test.sh (it installs moto[server] into target/test-python) or set FERROCAST_TEST_PYTHON",
                python.display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("the S3 storage tests are required under CI=true: {why}");
            }
            eprintln!("SKIPPED: S3 storage tests: {why}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts");
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not listen within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// S3 CreateBucket (a path-style PUT).
    pub async fn create_bucket(&self, bucket: &str) {
        let client = reqwest::Client::new();
        let url = format!("{}/{bucket}", self.endpoint());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.put(&url).send().await {
                Ok(r) if r.status().is_success() => return,
                Ok(r) if Instant::now() > deadline => {
                    panic!("CreateBucket {bucket}: HTTP {}", r.status())
                }
                Err(e) if Instant::now() > deadline => panic!("CreateBucket {bucket}: {e}"),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Node settings that put its storage in `bucket/prefix` on this server (moto accepts
    /// any credentials; they are still sent and signed like real ones).
    pub fn node_settings(&self, bucket: &str, prefix: &str) -> Vec<(&'static str, String)> {
        vec![
            ("storage_url", format!("s3://{bucket}/{prefix}")),
            ("s3_endpoint", self.endpoint()),
            ("s3_region", "us-east-1".into()),
            ("s3_access_key_id", "ferrocast-test-key".into()),
            ("s3_secret_access_key", "ferrocast-test-secret".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A generated MP4 (ffmpeg `testsrc` + a sine tone, H.264/AAC, faststart) of about
/// `seconds` seconds at `bitrate` (e.g. `"2M"`), written to `path`.
pub fn make_mp4(path: &std::path::Path, seconds: u32, bitrate: &str) {
    super::require("ffmpeg");
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            // Noise, so that the encoder spends the bitrate asked for (a file of a known size).
            "testsrc=size=640x360:rate=25,noise=alls=40:allf=t+u",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            &seconds.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            bitrate,
            "-minrate",
            bitrate,
            "-maxrate",
            bitrate,
            "-bufsize",
            "1M",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make {}", path.display());
}
