//! Hostile RTMP peers against a real node: each misbehaviour ends in a closed connection, never
//! a panic or a hang, and memory stays bounded. (The protocol crate has its own byte-level
//! tests and fuzz targets; these exercise the sockets and the engine around it.)

mod support;

use std::time::{Duration, Instant};
use support::{Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio::net::TcpStream;

use support::{c0c1, rtmp_handshake as handshaken};

/// One message as chunks of `chunk_size` (fmt 0 then fmt 3), on a one-byte-basic-header csid.
fn chunks(csid: u8, type_id: u8, stream_id: u32, payload: &[u8], chunk_size: usize) -> Vec<u8> {
    let mut out = vec![csid & 0x3f];
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    for (i, part) in payload.chunks(chunk_size).enumerate() {
        if i > 0 {
            out.push(0xc0 | (csid & 0x3f));
        }
        out.extend_from_slice(part);
    }
    out
}

fn amf_string(s: &str) -> Vec<u8> {
    let mut v = vec![2u8];
    v.extend_from_slice(&(s.len() as u16).to_be_bytes());
    v.extend_from_slice(s.as_bytes());
    v
}

/// Waits for the server to close the connection (EOF or reset), reading and discarding.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0)
}

async fn healthy(app: &TestApp) {
    assert_eq!(
        support::client()
            .get(app.url("/health"))
            .send()
            .await
            .expect("health")
            .status(),
        200
    );
    // The RTMP side still completes handshakes.
    let _ = handshaken(app.running.as_ref().expect("running").rtmp_addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_close_the_connection() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let addr = app.running.as_ref().expect("running").rtmp_addr;

    // Malformed handshake: wrong version, then garbage.
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&[0x06; 1537]).await.expect("write");
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "bad version closes"
    );

    // Set Chunk Size 0 and 2^31-1.
    for size in [0u32, 0x7fff_ffff] {
        let mut s = handshaken(addr).await;
        s.write_all(&chunks(2, 1, 0, &size.to_be_bytes(), 128))
            .await
            .expect("write");
        // A giant chunk size must not be allocated; follow with a message that claims it.
        s.write_all(&chunks(3, 20, 0, &[0u8; 100], 128))
            .await
            .expect("write");
        assert!(
            closed_within(&mut s, Duration::from_secs(5)).await,
            "chunk size {size} closes"
        );
    }

    // AMF nested 10 000 deep in the connect command.
    let mut payload = amf_string("connect");
    payload.push(0);
    payload.extend_from_slice(&1f64.to_be_bytes());
    for _ in 0..10_000 {
        payload.extend_from_slice(&[3, 0, 1, b'a']);
    }
    let mut s = handshaken(addr).await;
    s.write_all(&chunks(3, 20, 0, &payload, 128))
        .await
        .expect("write");
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "deep AMF closes"
    );

    // Many chunk streams left partial at once.
    let mut s = handshaken(addr).await;
    let mut burst = Vec::new();
    for csid in 3u8..63 {
        let mut m = chunks(csid, 9, 1, &[0u8; 1000], 128);
        m.truncate(12 + 128);
        burst.extend(m);
    }
    for csid in 64u16..400 {
        // Two-byte basic header (fmt 0, csid 0 → csid = 64 + next byte).
        burst.extend_from_slice(&[0, (csid - 64) as u8]);
        burst.extend_from_slice(&[0, 0, 0, 0, 0x03, 0xe8, 9, 1, 0, 0, 0]);
        burst.extend_from_slice(&[0u8; 128]);
    }
    let _ = s.write_all(&burst).await;
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "too many partial chunk streams close"
    );

    // Abrupt disconnects at every phase of a publish.
    let stages: [&[u8]; 3] = [&[3], &c0c1()[..700], &c0c1()];
    for stage in stages {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(stage).await.expect("write");
        drop(s);
    }
    let mut s = handshaken(addr).await;
    s.write_all(&chunks(3, 20, 0, &amf_string("connect"), 128)[..10])
        .await
        .expect("write");
    drop(s);

    healthy(&app).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_handshake_is_closed() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let addr = app.running.as_ref().expect("running").rtmp_addr;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&c0c1()[..100]).await.expect("write");
    assert!(
        closed_within(&mut s, Duration::from_secs(20)).await,
        "a stalled handshake is closed (timeout 10 s)"
    );
    healthy(&app).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_huge_declared_messages_keep_memory_bounded() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let addr = app.running.as_ref().expect("running").rtmp_addr;
    let before = rss_kib();
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // 200 connections each declaring a message of 16 MiB - 1 (the 24-bit maximum) and sending
    // one chunk of it.
    let mut big = Vec::new();
    for _ in 0..200 {
        let mut s = handshaken(addr).await;
        let mut m = vec![3u8, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0];
        m.extend_from_slice(&[0u8; 128]);
        s.write_all(&m).await.expect("write");
        big.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = rss_kib();
    let grown_mib = during.saturating_sub(before) / 1024;
    eprintln!("RSS before {} MiB, with 1000 idle + 200 huge-message connections {} MiB (+{grown_mib} MiB)", before / 1024, during / 1024);
    assert!(grown_mib < 256, "memory grew by {grown_mib} MiB");
    healthy(&app).await;
    // Idle connections are closed by the handshake timeout.
    let mut first = idle.swap_remove(0);
    assert!(
        closed_within(&mut first, Duration::from_secs(20)).await,
        "idle connections are closed"
    );
    drop(idle);
    drop(big);
    app.finish().await;
}
