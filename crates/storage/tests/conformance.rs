//! One conformance suite, run against the local filesystem and against a real S3-compatible
//! server (moto's server mode, from PyPI, on a loopback port). Whatever the server and the
//! recorder do with storage must behave the same on both.
//!
//! The S3 half needs Python with `moto[server]` (`scripts/test.sh` installs it into
//! `target/test-python`; `FERROCAST_TEST_PYTHON` names the interpreter). Without it the S3 half
//! says SKIPPED, except under `CI=true`, where it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_storage::{ByteRange, S3Settings, Storage, StorageError, MULTIPART_THRESHOLD};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// The suite.

async fn conformance(s: &Storage) {
    small_objects_and_ranges(s).await;
    missing_objects(s).await;
    refused_keys(s).await;
    listing_usage_and_prefix_deletes(s).await;
    large_files_in_parts(s).await;
    moved_files(s).await;
    copies_and_holds(s).await;
    s.check().await.expect("check");
    assert!(
        s.head(".ferrocast-check").await.expect("head").is_none(),
        "check() leaves no probe behind"
    );
}

async fn small_objects_and_ranges(s: &Storage) {
    s.put("t/a.txt", Bytes::from_static(b"hello world"))
        .await
        .expect("put");
    assert_eq!(s.get("t/a.txt", 1024).await.expect("get"), "hello world");
    let meta = s.head("t/a.txt").await.expect("head").expect("exists");
    assert_eq!(meta.size, 11);
    let age = std::time::SystemTime::now()
        .duration_since(meta.last_modified)
        .unwrap_or_default();
    assert!(age < Duration::from_secs(300), "last_modified is now-ish");

    // Replacing an object.
    s.put("t/a.txt", Bytes::from_static(b"hello, world"))
        .await
        .expect("put again");
    assert_eq!(s.get("t/a.txt", 1024).await.expect("get"), "hello, world");
    let meta2 = s.head("t/a.txt").await.expect("head").expect("exists");
    assert_eq!(meta2.size, 12);
    if meta.e_tag.is_some() {
        assert_ne!(
            meta.e_tag, meta2.e_tag,
            "the entity tag changes with the object"
        );
    }

    // Bounded reads.
    let err = s.get("t/a.txt", 5).await.expect_err("over the max");
    assert!(
        matches!(
            err,
            StorageError::TooLarge {
                size: 12,
                max: 5,
                ..
            }
        ),
        "{err}"
    );

    // Ranges, including at and past the end.
    assert_eq!(s.get_range("t/a.txt", 0..5).await.expect("range"), "hello");
    assert_eq!(s.get_range("t/a.txt", 7..12).await.expect("range"), "world");
    assert_eq!(
        s.get_range("t/a.txt", 11..12).await.expect("last byte"),
        "d"
    );
    assert_eq!(
        s.get_range("t/a.txt", 7..1000).await.expect("end cut"),
        "world"
    );
    assert_eq!(s.get_range("t/a.txt", 3..3).await.expect("empty"), "");
    let cases = [
        (ByteRange::Last(5), 7..12, "world"),
        (ByteRange::Last(100), 0..12, "hello, world"),
        (ByteRange::From(7), 7..12, "world"),
        (ByteRange::Bounded(0..1), 0..1, "h"),
    ];
    for (range, want_range, want) in cases {
        let r = s
            .open("t/a.txt", Some(range.clone()))
            .await
            .unwrap_or_else(|e| panic!("{range:?}: {e}"));
        assert_eq!(r.meta.size, 12, "{range:?}");
        assert_eq!(r.range, want_range, "{range:?}");
        assert_eq!(read_all(r.body).await, want.as_bytes(), "{range:?}");
    }
    for range in [
        ByteRange::From(12),
        ByteRange::Bounded(12..20),
        ByteRange::From(1000),
    ] {
        let err = s
            .open("t/a.txt", Some(range.clone()))
            .await
            .expect_err("past the end");
        assert!(
            matches!(err, StorageError::RangeNotSatisfiable { size: 12, .. }),
            "{range:?}: {err}"
        );
    }
    let whole = s.open("t/a.txt", None).await.expect("open");
    assert_eq!(whole.range, 0..12);
    assert_eq!(read_all(whole.body).await, b"hello, world");

    s.delete("t/a.txt").await.expect("delete");
    assert!(s.head("t/a.txt").await.expect("head").is_none());
}

async fn missing_objects(s: &Storage) {
    for result in [
        s.get("t/missing", 10).await.map(|_| ()),
        s.get_range("t/missing", 0..4).await.map(|_| ()),
        s.open("t/missing", None).await.map(|_| ()),
        s.open("t/missing", Some(ByteRange::From(5)))
            .await
            .map(|_| ()),
    ] {
        let err = result.expect_err("missing");
        assert!(err.is_not_found(), "{err}");
        let text = err.to_string();
        eprintln!("ERRTEXT {text}");
        assert!(
            text.contains("t/missing") && text.contains("not found"),
            "{text}"
        );
    }
    let target = scratch_dir("missing").join("out");
    let err = s
        .download_to_file("t/missing", &target)
        .await
        .expect_err("missing");
    assert!(err.is_not_found(), "{err}");
    assert!(!target.exists());
    assert!(s.head("t/missing").await.expect("head").is_none());
    s.delete("t/missing")
        .await
        .expect("deleting a missing object is fine");
    assert_eq!(s.list("t/nothing-here").await.expect("list"), vec![]);
    assert_eq!(
        s.delete_prefix("t/nothing-here").await.expect("delete"),
        (0, 0)
    );
}

async fn refused_keys(s: &Storage) {
    let long = "a/".repeat(300) + "b";
    for key in [
        "../x",
        "a/../../x",
        "/abs",
        "a//b",
        "",
        "a/",
        "a b",
        "a\\b",
        long.as_str(),
    ] {
        let refused = |r: Result<(), StorageError>, op: &str| {
            let err = r.expect_err(op);
            assert!(
                matches!(err, StorageError::InvalidKey { .. }),
                "{op} {key:?}: {err}"
            );
        };
        refused(s.put(key, Bytes::from_static(b"x")).await, "put");
        refused(s.get(key, 10).await.map(|_| ()), "get");
        refused(s.get_range(key, 0..1).await.map(|_| ()), "get_range");
        refused(s.open(key, None).await.map(|_| ()), "open");
        refused(s.head(key).await.map(|_| ()), "head");
        refused(s.delete(key).await, "delete");
        refused(
            s.put_file(key, Path::new("/dev/null")).await.map(|_| ()),
            "put_file",
        );
        refused(
            s.download_to_file(key, &scratch_dir("refused").join("x"))
                .await
                .map(|_| ()),
            "download",
        );
        if !key.is_empty() {
            refused(s.list(key).await.map(|_| ()), "list");
            refused(s.delete_prefix(key).await.map(|_| ()), "delete_prefix");
        }
    }
}

async fn listing_usage_and_prefix_deletes(s: &Storage) {
    for (key, body) in [
        ("v/1/master.m3u8", &b"abc"[..]),
        ("v/1/seg-0.ts", b"defg"),
        ("v/1/thumbs/0.jpg", b"hijkl"),
        ("v/10/seg-0.ts", b"m"),
        ("v/1x", b"no"),
    ] {
        s.put(key, Bytes::copy_from_slice(body)).await.expect("put");
    }
    assert_eq!(
        s.list("v/1").await.expect("list"),
        vec![
            ("v/1/master.m3u8".to_string(), 3),
            ("v/1/seg-0.ts".to_string(), 4),
            ("v/1/thumbs/0.jpg".to_string(), 5),
        ],
        "a prefix is whole segments: v/1 is not v/10 or v/1x"
    );
    assert_eq!(s.usage("v/1").await.expect("usage"), 12);
    assert_eq!(s.usage("v").await.expect("usage"), 15);
    assert_eq!(
        s.delete_prefix("v/1").await.expect("delete_prefix"),
        (3, 12)
    );
    assert_eq!(s.list("v/1").await.expect("list"), vec![]);
    assert_eq!(s.usage("v/1").await.expect("usage"), 0);
    assert_eq!(
        s.list("v").await.expect("list"),
        vec![("v/10/seg-0.ts".to_string(), 1), ("v/1x".to_string(), 2)]
    );
    assert_eq!(s.delete_prefix("v").await.expect("delete_prefix"), (2, 3));
    assert_eq!(s.usage("v").await.expect("usage"), 0);
}

/// A copy is byte for byte; deleting anything under `holds/` (or a prefix above it) is refused
/// before the store is asked.
async fn copies_and_holds(s: &Storage) {
    let body = Bytes::from_static(b"evidence bytes");
    s.put("vid/a/seg.ts", body.clone()).await.expect("put");
    s.copy("vid/a/seg.ts", "vid/b/seg.ts").await.expect("copy");
    assert_eq!(s.get("vid/b/seg.ts", 1024).await.expect("get"), body);
    assert!(s
        .copy("vid/a/none.ts", "vid/b/none.ts")
        .await
        .expect_err("no source")
        .is_not_found());
    for refused in ["holds/case/1/seg.ts", "holds/case", "holds", ""] {
        assert!(
            matches!(
                s.delete_prefix(refused).await,
                Err(StorageError::InvalidKey { .. })
            ),
            "delete_prefix({refused:?}) is refused"
        );
    }
    assert!(matches!(
        s.delete("holds/case/1/seg.ts").await,
        Err(StorageError::InvalidKey { .. })
    ));
    assert_eq!(s.delete_prefix("vid").await.expect("delete"), (2, 28));
}

/// A held copy outlives its source, and no delete reaches it.
#[tokio::test]
async fn holds_outlive_their_sources() {
    let dir = scratch_dir("holds");
    let s = Storage::local(&dir).expect("local storage");
    let body = Bytes::from_static(b"evidence bytes");
    s.put("videos/a/seg.ts", body.clone()).await.expect("put");
    s.copy("videos/a/seg.ts", "holds/dmca/1/objects/seg.ts")
        .await
        .expect("copy");
    s.delete_prefix("videos/a")
        .await
        .expect("delete the source");
    for refused in ["holds/dmca/1", "holds", ""] {
        assert!(s.delete_prefix(refused).await.is_err(), "{refused:?}");
    }
    assert!(s.delete("holds/dmca/1/objects/seg.ts").await.is_err());
    assert_eq!(
        s.list("holds").await.expect("list"),
        vec![("holds/dmca/1/objects/seg.ts".to_string(), body.len() as u64)]
    );
    assert_eq!(
        s.get("holds/dmca/1/objects/seg.ts", 1024)
            .await
            .expect("get"),
        body
    );
    std::fs::remove_dir_all(&dir).ok();
}

async fn large_files_in_parts(s: &Storage) {
    let dir = scratch_dir("large");
    // Larger than the multipart threshold and not a multiple of the part size.
    let size = MULTIPART_THRESHOLD + 5 * 1024 * 1024 + 12_345;
    let source = dir.join("source.bin");
    write_noise(&source, size);
    let sent = s
        .put_file("big/video.mp4", &source)
        .await
        .expect("put_file");
    assert_eq!(sent, size);
    assert_eq!(
        s.head("big/video.mp4")
            .await
            .expect("head")
            .expect("exists")
            .size,
        size
    );

    let back = dir.join("back.bin");
    let got = s
        .download_to_file("big/video.mp4", &back)
        .await
        .expect("download");
    assert_eq!(got, size);
    assert_eq!(sha256_file(&back), sha256_file(&source), "byte-exact");
    let mut partial = back.as_os_str().to_owned();
    partial.push(".partial");
    assert!(!PathBuf::from(partial).exists(), "no partial file left");

    // Streaming a range across a part boundary, as an MP4 seek does.
    let start = 8 * 1024 * 1024 - 1000;
    let end = start + 3 * 1024 * 1024;
    let r = s
        .open("big/video.mp4", Some(ByteRange::Bounded(start..end)))
        .await
        .expect("open range");
    assert_eq!(r.range, start..end);
    assert_eq!(r.meta.size, size);
    let streamed = read_all(r.body).await;
    let whole = std::fs::read(&source).expect("read source");
    assert_eq!(streamed, &whole[start as usize..end as usize]);
    let tail = s
        .get_range("big/video.mp4", size - 100..size)
        .await
        .expect("tail");
    assert_eq!(&tail[..], &whole[(size - 100) as usize..]);
    let err = s
        .get("big/video.mp4", 1024 * 1024)
        .await
        .expect_err("too large for get");
    assert!(matches!(err, StorageError::TooLarge { .. }), "{err}");

    // A small file goes in one request.
    let small = dir.join("small.bin");
    write_noise(&small, 1000);
    assert_eq!(
        s.put_file("big/small.bin", &small).await.expect("small"),
        1000
    );
    assert_eq!(
        s.get("big/small.bin", 1000).await.expect("get"),
        std::fs::read(&small).expect("read")
    );
    let err = s
        .put_file("big/none", &dir.join("does-not-exist"))
        .await
        .expect_err("no such file");
    assert!(matches!(err, StorageError::File { .. }), "{err}");

    assert_eq!(
        s.delete_prefix("big").await.expect("delete"),
        (2, size + 1000)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `move_file`: the object holds the file's bytes, listed and sized like any other, and the
/// file is gone (renamed on a local store, stored and removed on S3); a missing file is an
/// error that leaves no object.
async fn moved_files(s: &Storage) {
    let dir = scratch_dir("move");
    let file = dir.join("upload.bin");
    write_noise(&file, 300_000);
    let want = std::fs::read(&file).expect("read");
    assert_eq!(
        s.move_file("moved/a/source", &file).await.expect("move"),
        300_000
    );
    assert!(!file.exists(), "the file is gone once moved");
    assert_eq!(s.get("moved/a/source", 300_000).await.expect("get"), want);
    assert_eq!(s.usage("moved").await.expect("usage"), 300_000);
    let err = s
        .move_file("moved/b/source", &file)
        .await
        .expect_err("no such file");
    assert!(matches!(err, StorageError::File { .. }), "{err}");
    assert!(s.head("moved/b/source").await.expect("head").is_none());
    assert_eq!(
        s.delete_prefix("moved").await.expect("delete"),
        (1, 300_000)
    );
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------------------------------
// Local filesystem.

#[tokio::test]
async fn local_filesystem_passes_the_suite() {
    let data = scratch_dir("local-data");
    let s = Storage::from_url(None, &data, &S3Settings::default()).expect("local storage");
    assert!(!s.is_remote());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("objects"))
            .expect("objects dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "the objects directory is private");
    }
    conformance(&s).await;
    // Nothing is written outside DATA_DIR/objects, and deletes leave no empty directories.
    let left: Vec<_> = std::fs::read_dir(data.join("objects"))
        .expect("read objects")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let names: Vec<_> = std::fs::read_dir(&data)
        .expect("read data")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec!["objects"]);
    std::fs::remove_dir_all(&data).ok();

    // A path (or file:path) names the directory itself.
    let elsewhere = scratch_dir("local-path");
    let url = format!("file:{}", elsewhere.join("store").display());
    let s = Storage::from_url(
        Some(&url),
        Path::new("/nonexistent"),
        &S3Settings::default(),
    )
    .expect("file: storage");
    s.put("k", Bytes::from_static(b"v")).await.expect("put");
    assert_eq!(
        std::fs::read(elsewhere.join("store/k")).expect("file"),
        b"v"
    );
    std::fs::remove_dir_all(&elsewhere).ok();
}

// ---------------------------------------------------------------------------------------------
// S3: moto's server on loopback.

#[tokio::test]
async fn s3_compatible_server_passes_the_suite() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ferrocast-test").await;
    let s = Storage::from_url(
        Some("s3://ferrocast-test/node-a/objects"),
        Path::new("/nonexistent"),
        &moto.settings(),
    )
    .expect("s3 storage");
    assert!(s.is_remote());
    assert!(s.describe().contains(&moto.endpoint()), "{}", s.describe());
    conformance(&s).await;

    // Keys live under the URL's prefix and nowhere else in the bucket.
    s.put("p/q", Bytes::from_static(b"prefixed"))
        .await
        .expect("put");
    let whole_bucket = Storage::from_url(
        Some("s3://ferrocast-test"),
        Path::new("/nonexistent"),
        &moto.settings(),
    )
    .expect("bucket storage");
    assert_eq!(
        whole_bucket.list("").await.expect("list"),
        vec![("node-a/objects/p/q".to_string(), 8)]
    );
    assert_eq!(
        whole_bucket
            .get("node-a/objects/p/q", 100)
            .await
            .expect("get"),
        "prefixed"
    );

    // A large file went up as a multipart upload: S3 gives such objects the entity tag
    // "<md5 of the parts' md5s>-<parts>"; 21 MiB in 8 MiB parts is 3 parts.
    let dir = scratch_dir("s3-parts");
    let size = MULTIPART_THRESHOLD + 5 * 1024 * 1024;
    write_noise(&dir.join("f"), size);
    s.put_file("parts/f", &dir.join("f"))
        .await
        .expect("put_file");
    let meta = s.head("parts/f").await.expect("head").expect("exists");
    assert_eq!(meta.size, size);
    let e_tag = meta.e_tag.expect("S3 gives entity tags");
    assert!(e_tag.trim_matches('"').ends_with("-3"), "{e_tag}");
    s.delete("parts/f").await.expect("delete");
    std::fs::remove_dir_all(&dir).ok();

    // A missing bucket: check() fails and says so.
    let missing = Storage::from_url(
        Some("s3://no-such-bucket/x"),
        Path::new("/nonexistent"),
        &moto.settings(),
    )
    .expect("storage");
    let err = missing.check().await.expect_err("no bucket");
    assert!(
        !err.is_not_found(),
        "a missing bucket is not a missing object: {err}"
    );
    let text = err.to_string();
    eprintln!("ERRTEXT {text}");
    assert!(
        text.contains("s3://no-such-bucket/x") && text.contains("bucket does not exist"),
        "{text}"
    );
    let err = missing.get("k", 10).await.expect_err("no bucket");
    assert!(err.to_string().contains("bucket does not exist"), "{err}");
}

#[tokio::test]
async fn unreachable_endpoint_fails_in_time_and_names_it() {
    // A loopback port nobody listens on: bound, then released.
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let s = Storage::from_url(
        Some("s3://ferrocast-test/x"),
        Path::new("/nonexistent"),
        &S3Settings {
            endpoint: Some(endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
        },
    )
    .expect("storage")
    .with_timeout(Duration::from_secs(8));
    let started = Instant::now();
    let err = s.check().await.expect_err("nothing listens there");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let text = err.to_string();
    eprintln!("ERRTEXT {text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("FERROCAST_S3_ENDPOINT"), "{text}");
    assert!(
        text.to_lowercase().contains("connect"),
        "the cause is given: {text}"
    );
    let err = s.head("k").await.expect_err("head too");
    assert!(err.to_string().contains(&endpoint), "{err}");
}

#[tokio::test]
async fn a_silent_endpoint_times_out_and_names_it() {
    // Accepts connections (the kernel's backlog) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().expect("addr"));
    let s = Storage::from_url(
        Some("s3://ferrocast-test/x"),
        Path::new("/nonexistent"),
        &S3Settings {
            endpoint: Some(endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
        },
    )
    .expect("storage")
    .with_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let err = s.get("k", 10).await.expect_err("nothing answers there");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "took {took:?}"
    );
    assert!(matches!(err, StorageError::Timeout { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&endpoint) && text.contains("timed out after 2 s"),
        "{text}"
    );
    drop(silent);
}

/// moto's S3 server, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers; `None` (SKIPPED) if
    /// Python with moto is missing, except under `CI=true`.
    fn start() -> Option<Moto> {
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
        let port = free_port();
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

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// moto accepts any credentials; they are still sent and signed like real ones.
    fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: Some(self.endpoint()),
            region: "us-east-1".into(),
            access_key_id: Some("ferrocast-test-key".into()),
            secret_access_key: Some("ferrocast-test-secret".into()),
        }
    }

    /// S3 CreateBucket (object_store cannot create buckets): a path-style PUT.
    async fn create_bucket(&self, bucket: &str) {
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
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-storage-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Deterministic incompressible bytes (xorshift), written in 1 MiB blocks.
fn write_noise(path: &Path, size: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ size;
    let mut left = size;
    let mut block = vec![0u8; 1024 * 1024];
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).expect("write");
        left -= n as u64;
    }
    f.flush().expect("flush");
}

fn sha256_file(path: &Path) -> Vec<u8> {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path).expect("open");
    std::io::copy(&mut f, &mut h).expect("hash");
    h.finalize().to_vec()
}

async fn read_all(
    mut body: futures_util::stream::BoxStream<'static, Result<Bytes, StorageError>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}
