//! moto's S3 server on a loopback port (from PyPI; `scripts/test.sh` installs it into
//! `target/test-python`, `FERROCAST_TEST_PYTHON` names the interpreter), killed when dropped:
//! for the tests that run a whole flow against S3-compatible storage. Without it they say
//! SKIPPED, except under `CI=true`, where they fail.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
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
                "{} cannot import moto.server; run scripts/test.sh or set FERROCAST_TEST_PYTHON",
                python.display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("the S3 tests are required under CI=true: {why}");
            }
            eprintln!("SKIPPED: S3 tests: {why}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
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

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// S3 CreateBucket: a path-style PUT (retried while moto warms up).
    pub async fn create_bucket(&self, bucket: &str) {
        let client = reqwest::Client::new();
        let url = format!("{}/{bucket}", self.endpoint());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.put(&url).send().await {
                Ok(r) if r.status().is_success() => return,
                _ if Instant::now() > deadline => panic!("CreateBucket {bucket} failed"),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// The node settings that store objects in `bucket` on this server.
    pub fn settings(&self, bucket: &str) -> Vec<(&'static str, String)> {
        vec![
            ("storage_url", format!("s3://{bucket}/objects")),
            ("s3_endpoint", self.endpoint()),
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
