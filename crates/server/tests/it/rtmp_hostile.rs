//! Hostile RTMP peers against a real node: each misbehaviour ends in a closed connection, never
//! a panic or a hang, and memory stays bounded. (The protocol crate has its own byte-level
//! tests and fuzz targets; these exercise the sockets and the engine around it.)
//!
//! The edge's policies each have a test here, written as raw bytes on a TCP socket: `connect`
//! validation, Set Chunk Size bounds, the idle timeout (no complete message), the write
//! timeout for stalled players, and the per-address connection caps.
//!
//! The raw publisher also sets up one timing no encoder controls: an HTTP-FLV player that joins
//! between `publish` and the first frame.

use crate::support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Backend, Options, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio::net::{TcpSocket, TcpStream};

use ferrocast_rtmp::{ChunkDecoder, Command, Message, MessageType};
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

/// Like [`chunks`], with a timestamp.
fn chunks_at(
    csid: u8,
    type_id: u8,
    stream_id: u32,
    timestamp: u32,
    payload: &[u8],
    chunk_size: usize,
) -> Vec<u8> {
    let mut out = chunks(csid, type_id, stream_id, payload, chunk_size);
    out[1..4].copy_from_slice(&timestamp.to_be_bytes()[1..]);
    out
}

fn amf_string(s: &str) -> Vec<u8> {
    amf_bytes(s.as_bytes())
}

/// AMF0 string marker, u16 length, then the bytes as given (they need not be UTF-8 text).
fn amf_bytes(s: &[u8]) -> Vec<u8> {
    let mut v = vec![2u8];
    v.extend_from_slice(&(s.len() as u16).to_be_bytes());
    v.extend_from_slice(s);
    v
}

fn amf_number(n: f64) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(&n.to_be_bytes());
    v
}

const AMF_NULL: u8 = 5;

/// AMF0 object of raw property values.
fn amf_object(props: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut v = vec![3u8];
    for (k, val) in props {
        v.extend_from_slice(&(k.len() as u16).to_be_bytes());
        v.extend_from_slice(k.as_bytes());
        v.extend_from_slice(val);
    }
    v.extend_from_slice(&[0, 0, 9]);
    v
}

/// A command message on chunk stream 3 from raw AMF0 values.
fn command_bytes(stream_id: u32, values: &[Vec<u8>]) -> Vec<u8> {
    chunks(3, 20, stream_id, &values.concat(), 128)
}

/// A well-formed `connect` to `app`.
fn connect_to(app: &str) -> Vec<u8> {
    command_bytes(
        0,
        &[
            amf_string("connect"),
            amf_number(1.0),
            amf_object(&[
                ("app", amf_string(app)),
                ("tcUrl", amf_string(&format!("rtmp://127.0.0.1/{app}"))),
            ]),
        ],
    )
}

/// A TCP connection to `addr` from the loopback address `from` (any 127.0.0.0/8 address works
/// on Linux), optionally with a small receive buffer.
async fn connect_from(from: Ipv4Addr, addr: SocketAddr, recv_buffer: Option<u32>) -> TcpStream {
    let sock = TcpSocket::new_v4().expect("socket");
    if let Some(n) = recv_buffer {
        sock.set_recv_buffer_size(n).expect("SO_RCVBUF");
    }
    sock.bind(SocketAddr::new(IpAddr::V4(from), 0))
        .expect("bind a loopback address");
    sock.connect(addr).await.expect("connect")
}

/// Completes a simple handshake on an open connection; `false` if the server closed it.
async fn handshake_on(s: &mut TcpStream) -> bool {
    if s.write_all(&c0c1()).await.is_err() {
        return false;
    }
    let mut s0s1s2 = vec![0u8; 1 + 2 * 1536];
    match tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut s0s1s2)).await {
        Ok(Ok(_)) => {}
        _ => return false,
    }
    s.write_all(&s0s1s2[1..1 + 1536]).await.is_ok()
}

/// Reads messages off a connection past its handshake, following the server's chunk size.
struct Peer {
    sock: TcpStream,
    dec: ChunkDecoder,
    input: Vec<u8>,
}

impl Peer {
    fn new(sock: TcpStream) -> Self {
        Self {
            sock,
            dec: ChunkDecoder::new(),
            input: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).await.expect("write");
    }

    /// Reads until `f` picks a message, failing after `limit` or if the server closes.
    async fn until<T>(&mut self, limit: Duration, mut f: impl FnMut(&Message) -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let mut rest = &self.input[..];
            let mut found = None;
            while let Some(m) = self.dec.decode(&mut rest).expect("server speaks RTMP") {
                if m.type_id == MessageType::SET_CHUNK_SIZE {
                    let size = u32::from_be_bytes(m.payload[..4].try_into().expect("4 bytes"));
                    self.dec.set_chunk_size(size).expect("server chunk size");
                }
                if let Some(t) = f(&m) {
                    found = Some(t);
                    break;
                }
            }
            let used = self.input.len() - rest.len();
            self.input.drain(..used);
            if let Some(t) = found {
                return t;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let n = tokio::time::timeout(left, self.sock.read(&mut buf))
                .await
                .expect("the awaited message in time")
                .expect("read");
            assert!(n > 0, "the server closed the connection");
            self.input.extend_from_slice(&buf[..n]);
        }
    }

    /// Reads until a command named `name` (and, if given, with this transaction id) arrives.
    async fn command(&mut self, name: &str, txn: Option<f64>) -> Command {
        self.until(Duration::from_secs(10), |m| {
            let c = command_of(m)?;
            (c.name == name && txn.is_none_or(|t| t == c.transaction_id)).then_some(c)
        })
        .await
    }

    /// Reads until an `onStatus` with this code arrives.
    async fn status(&mut self, code: &str) {
        self.until(Duration::from_secs(10), |m| {
            let c = command_of(m)?;
            (c.name == "onStatus" && c.args.first()?.get("code")?.as_str() == Some(code))
                .then_some(())
        })
        .await
    }

    /// `connect`, `createStream`: the message stream id the server gave.
    async fn connect_and_create_stream(&mut self, app: &str) -> u32 {
        self.send(&connect_to(app)).await;
        self.command("_result", Some(1.0)).await;
        self.send(&command_bytes(
            0,
            &[amf_string("createStream"), amf_number(2.0), vec![AMF_NULL]],
        ))
        .await;
        let c = self.command("_result", Some(2.0)).await;
        c.args[0].as_number().expect("stream id") as u32
    }
}

fn command_of(m: &Message) -> Option<Command> {
    (m.type_id == MessageType::COMMAND_AMF0)
        .then(|| Command::decode(&m.payload).ok())
        .flatten()
}

/// A publisher through `publish`, switched to 4096-byte chunks; returns it and its stream id.
async fn publisher(addr: SocketAddr, key: &str) -> (Peer, u32) {
    let mut p = Peer::new(handshaken(addr).await);
    let sid = p.connect_and_create_stream("live").await;
    p.send(&chunks(
        8,
        20,
        sid,
        &[
            amf_string("publish"),
            amf_number(3.0),
            vec![AMF_NULL],
            amf_string(key),
            amf_string("live"),
        ]
        .concat(),
        128,
    ))
    .await;
    p.status("NetStream.Publish.Start").await;
    p.send(&chunks(2, 1, 0, &4096u32.to_be_bytes(), 128)).await;
    (p, sid)
}

/// A keyframe-flagged AVC video message body of `len` bytes (contents are not decoded here).
fn video_frame(len: usize) -> Vec<u8> {
    let mut v = vec![0x17, 0x01, 0, 0, 0];
    v.resize(len, 0x42);
    v
}

/// A player through `play` of `playback_id`, from `from`.
async fn player(addr: SocketAddr, from: Ipv4Addr, playback_id: &str, rcvbuf: Option<u32>) -> Peer {
    let mut s = connect_from(from, addr, rcvbuf).await;
    assert!(handshake_on(&mut s).await, "handshake");
    let mut p = Peer::new(s);
    let sid = p.connect_and_create_stream("play").await;
    p.send(&chunks(
        8,
        20,
        sid,
        &[
            amf_string("play"),
            amf_number(3.0),
            vec![AMF_NULL],
            amf_string(playback_id),
        ]
        .concat(),
        128,
    ))
    .await;
    p.status("NetStream.Play.Start").await;
    p
}

/// The value of one metric line (`name{labels}`) from /metrics.
async fn metric(app: &TestApp, series: &str) -> u64 {
    support::metric_value(app, series)
        .await
        .unwrap_or_else(|| panic!("no {series} in /metrics")) as u64
}

/// Waits until the gauge `series` is at most `want`, or fails after 10 s.
async fn metric_falls_to(app: &TestApp, series: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = metric(app, series).await;
        if got <= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is {got}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `series` reaches at least `want`, or fails after `limit`.
async fn metric_reaches(app: &TestApp, series: &str, want: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let got = metric(app, series).await;
        if got >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is {got}, expected {want} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

    // Set Chunk Size below 128 (0, 1, 127); 2^31-1 is clamped, see its own test.
    for size in [0u32, 1, 127] {
        let mut s = handshaken(addr).await;
        s.write_all(&chunks(2, 1, 0, &size.to_be_bytes(), 128))
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
    // Eight connections per address (the default cap on connections still handshaking), from
    // 150 loopback addresses.
    let from = |i: usize| Ipv4Addr::new(127, 2, (i / 8 / 200) as u8, (i / 8 % 200 + 1) as u8);
    let mut idle = Vec::new();
    for i in 0..1000 {
        idle.push(connect_from(from(i), addr, None).await);
    }
    // 200 connections each declaring a message of 16 MiB - 1 (the 24-bit maximum) and sending
    // one chunk of it.
    let mut big = Vec::new();
    for i in 1000..1200 {
        let mut s = connect_from(from(i), addr, None).await;
        assert!(handshake_on(&mut s).await, "handshake {i}");
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
    assert_eq!(
        metric(
            &app,
            "ferrocast_rtmp_connections_refused_total{reason=\"per_address_pending\"}"
        )
        .await,
        0,
        "eight per address are within the cap"
    );
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

/// Reads everything until the server closes; the messages decoded from it.
async fn messages_until_closed(s: &mut TcpStream, limit: Duration) -> Vec<Message> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server did not close the connection within {limit:?}"),
        }
    }
    let mut dec = ChunkDecoder::new();
    let mut input = &all[..];
    let mut out = Vec::new();
    while let Ok(Some(m)) = dec.decode(&mut input) {
        out.push(m);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_connect_is_refused_with_connect_rejected_and_closed() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let addr = app.running.as_ref().expect("running").rtmp_addr;
    let connect =
        |txn: Vec<u8>, object: Vec<u8>| command_bytes(0, &[amf_string("connect"), txn, object]);
    let app_is = |v: Vec<u8>| amf_object(&[("app", v)]);
    let live_with = |k: &str, v: Vec<u8>| amf_object(&[("app", amf_string("live")), (k, v)]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("no app", connect(amf_number(1.0), amf_object(&[])), "app"),
        (
            "empty app",
            connect(amf_number(1.0), app_is(amf_string(""))),
            "app",
        ),
        (
            "65-byte app",
            connect(amf_number(1.0), app_is(amf_bytes(&[b'a'; 65]))),
            "app",
        ),
        (
            "NUL in app",
            connect(amf_number(1.0), app_is(amf_bytes(b"live\0"))),
            "app",
        ),
        (
            "escape sequence in app",
            connect(amf_number(1.0), app_is(amf_bytes(b"live\x1b[2J"))),
            "app",
        ),
        (
            "numeric app",
            connect(amf_number(1.0), app_is(amf_number(1.0))),
            "app",
        ),
        (
            "numeric tcUrl",
            connect(amf_number(1.0), live_with("tcUrl", amf_number(5.0))),
            "tcUrl",
        ),
        (
            "boolean tcUrl",
            connect(amf_number(1.0), live_with("tcUrl", vec![1, 1])),
            "tcUrl",
        ),
        (
            "string transaction id",
            connect(amf_string("one"), app_is(amf_string("live"))),
            "transaction id",
        ),
        (
            "null command object",
            connect(amf_number(1.0), vec![AMF_NULL]),
            "command object",
        ),
        (
            "string command object",
            connect(amf_number(1.0), amf_string("live")),
            "command object",
        ),
    ];
    for (what, bytes, needle) in cases {
        let mut s = handshaken(addr).await;
        s.write_all(&bytes).await.expect("write");
        let msgs = messages_until_closed(&mut s, Duration::from_secs(5)).await;
        let err = msgs
            .iter()
            .filter_map(command_of)
            .find(|c| c.name == "_error")
            .unwrap_or_else(|| panic!("{what}: no _error in {msgs:?}"));
        let info = &err.args[0];
        assert_eq!(
            info.get("code").and_then(|v| v.as_str()),
            Some("NetConnection.Connect.Rejected"),
            "{what}"
        );
        let description = info
            .get("description")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        assert!(description.contains(needle), "{what}: {description:?}");
        assert!(
            !msgs
                .iter()
                .filter_map(command_of)
                .any(|c| c.name == "_result"),
            "{what}: refused, not connected"
        );
    }
    // The edges that pass: a 64-byte app, no tcUrl, and an ECMA array as the command object.
    let mut ecma = vec![8u8, 0, 0, 0, 1];
    ecma.extend_from_slice(&amf_object(&[("app", amf_string("live"))])[1..]);
    for (what, object) in [
        ("64-byte app", app_is(amf_bytes(&[b'a'; 64]))),
        ("no tcUrl", app_is(amf_string("live"))),
        ("ECMA array", ecma),
    ] {
        let mut p = Peer::new(handshaken(addr).await);
        p.send(&connect(amf_number(1.0), object)).await;
        let c = p.command("_result", Some(1.0)).await;
        assert_eq!(
            c.args[0].get("code").and_then(|v| v.as_str()),
            Some("NetConnection.Connect.Success"),
            "{what}"
        );
    }
    healthy(&app).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_chunk_size_above_2_pow_24_is_clamped_and_the_session_continues() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let addr = app.running.as_ref().expect("running").rtmp_addr;
    for size in [0x0100_0000u32, 0x7fff_ffff, 0xffff_ffff] {
        let mut p = Peer::new(handshaken(addr).await);
        p.send(&chunks(2, 1, 0, &size.to_be_bytes(), 128)).await;
        // A connect of 400 bytes in one chunk, readable only at the new chunk size.
        let payload = [
            amf_string("connect"),
            amf_number(1.0),
            amf_object(&[
                ("app", amf_string("live")),
                ("flashVer", amf_string(&"x".repeat(360))),
            ]),
        ]
        .concat();
        assert!(payload.len() > 128);
        p.send(&chunks(3, 20, 0, &payload, payload.len())).await;
        let c = p.command("_result", Some(1.0)).await;
        assert_eq!(
            c.args[0].get("code").and_then(|v| v.as_str()),
            Some("NetConnection.Connect.Success"),
            "chunk size {size:#x}"
        );
    }
    healthy(&app).await;
    app.finish().await;
}

/// The idle timeout at its default (10 s): a connection that trickles a byte a second after
/// `connect` completes no message and is closed, though it is never silent for a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_connection_is_closed_at_the_default_idle_timeout() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let addr = app.running.as_ref().expect("running").rtmp_addr;
    let mut p = Peer::new(handshaken(addr).await);
    p.send(&connect_to("live")).await;
    p.command("_result", Some(1.0)).await;
    // A 1000-byte video message, one byte a second.
    let mut s = p.sock;
    let message = chunks(4, 9, 0, &video_frame(1000), 128);
    let started = Instant::now();
    let mut closed = false;
    for b in message {
        if s.write_all(&[b]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still open after 30 s of trickling"
        );
    }
    assert!(closed, "the trickling connection was closed");
    assert_eq!(
        metric(&app, "ferrocast_rtmp_timeouts_total{kind=\"idle\"}").await,
        1
    );
    healthy(&app).await;
    app.finish().await;
}

/// With a short idle timeout: an undecided connection that sends nothing after `connect` and a
/// publisher that stops completing messages are closed; the stream goes offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_undecided_connection_and_trickling_publisher_are_closed() {
    let Some(app) = TestApp::start_with(
        Backend::Sqlite,
        Options {
            extra: vec![("rtmp_idle_timeout_secs", "2".into())],
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let addr = app.running.as_ref().expect("running").rtmp_addr;
    let src = support::creator_with_source(&app, "idle@example.com").await;

    let mut undecided = Peer::new(handshaken(addr).await);
    undecided.send(&connect_to("live")).await;
    undecided.command("_result", Some(1.0)).await;
    assert!(
        closed_within(&mut undecided.sock, Duration::from_secs(15)).await,
        "a connection that neither publishes nor plays is closed"
    );

    let (mut p, sid) = publisher(addr, &src.key).await;
    p.send(&chunks_at(6, 9, sid, 0, &video_frame(2000), 4096))
        .await;
    let message = chunks_at(6, 9, sid, 40, &video_frame(2000), 4096);
    let mut closed = false;
    let started = Instant::now();
    for b in message {
        if p.sock.write_all(&[b]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(300), p.sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "publisher still open after 20 s of trickling"
        );
    }
    assert!(closed, "the trickling publisher was closed");
    metric_reaches(
        &app,
        "ferrocast_rtmp_timeouts_total{kind=\"idle\"}",
        2,
        Duration::from_secs(5),
    )
    .await;
    // The stream is offline: a player is refused.
    let mut s = connect_from(Ipv4Addr::LOCALHOST, addr, None).await;
    assert!(handshake_on(&mut s).await);
    let mut pl = Peer::new(s);
    let psid = pl.connect_and_create_stream("play").await;
    pl.send(&chunks(
        8,
        20,
        psid,
        &[
            amf_string("play"),
            amf_number(3.0),
            vec![AMF_NULL],
            amf_string(&src.playback_id),
        ]
        .concat(),
        128,
    ))
    .await;
    pl.status("NetStream.Play.StreamNotFound").await;
    healthy(&app).await;
    app.finish().await;
}

/// A player that reads but never sends stays as long as it likes; a player whose socket stops
/// accepting data is dropped after the write timeout; the publisher is not slowed: every frame
/// it sends is ingested and reaches the reading player.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_player_is_dropped_without_slowing_the_publisher() {
    let idle = Duration::from_secs(2);
    let Some(app) = TestApp::start_with(
        Backend::Sqlite,
        Options {
            extra: vec![
                ("rtmp_idle_timeout_secs", "2".into()),
                ("rtmp_write_timeout_secs", "2".into()),
            ],
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let addr = app.running.as_ref().expect("running").rtmp_addr;
    let src = support::creator_with_source(&app, "stall@example.com").await;
    let (p, sid) = publisher(addr, &src.key).await;
    let mut pub_sock = p.sock;
    // The publisher: a 32 KiB keyframe every 20 ms (about 1.6 MB/s) until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let feeder = {
        let (stop, sent) = (stop.clone(), sent.clone());
        tokio::spawn(async move {
            let frame = video_frame(32 * 1024);
            let mut ts = 0u32;
            while !stop.load(Ordering::Relaxed) {
                ts += 20;
                pub_sock
                    .write_all(&chunks_at(6, 9, sid, ts, &frame, 4096))
                    .await
                    .expect("the publisher's writes go through");
                sent.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (pub_sock, ts)
        })
    };

    // The silent player reads everything and sends nothing after `play`.
    let silent = player(addr, Ipv4Addr::new(127, 0, 0, 2), &src.playback_id, None).await;
    let silent_started = Instant::now();
    let last_ts = Arc::new(AtomicU32::new(0));
    let silent_closed = Arc::new(AtomicBool::new(false));
    let reader = {
        let (last_ts, closed) = (last_ts.clone(), silent_closed.clone());
        let mut silent = silent;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let mut rest = &silent.input[..];
                while let Some(m) = silent.dec.decode(&mut rest).expect("RTMP") {
                    if m.type_id == MessageType::SET_CHUNK_SIZE {
                        let size = u32::from_be_bytes(m.payload[..4].try_into().expect("4"));
                        silent.dec.set_chunk_size(size).expect("chunk size");
                    }
                    if m.type_id == MessageType::VIDEO {
                        last_ts.fetch_max(m.timestamp, Ordering::Relaxed);
                    }
                }
                let used = silent.input.len() - rest.len();
                silent.input.drain(..used);
                match silent.sock.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        closed.store(true, Ordering::Relaxed);
                        return;
                    }
                    Ok(n) => silent.input.extend_from_slice(&buf[..n]),
                }
            }
        })
    };

    // The stalled player: a small receive window, and it stops reading after Play.Start.
    let mut stalled = player(
        addr,
        Ipv4Addr::new(127, 0, 0, 3),
        &src.playback_id,
        Some(4096),
    )
    .await;
    metric_reaches(
        &app,
        "ferrocast_rtmp_timeouts_total{kind=\"write\"}",
        1,
        Duration::from_secs(60),
    )
    .await;
    assert!(
        closed_within(&mut stalled.sock, Duration::from_secs(30)).await,
        "the stalled player's connection is closed"
    );

    // The silent player has been quiet for three idle timeouts and still receives new frames.
    let quiet_for = 3 * idle;
    if let Some(wait) = quiet_for.checked_sub(silent_started.elapsed()) {
        tokio::time::sleep(wait).await;
    }
    let seen = last_ts.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while last_ts.load(Ordering::Relaxed) <= seen {
        assert!(
            Instant::now() < deadline,
            "the silent player stopped receiving"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !silent_closed.load(Ordering::Relaxed),
        "the silent player was kept"
    );

    // The publisher was never held up: every frame it sent was ingested, and the last one
    // reached the reading player.
    stop.store(true, Ordering::Relaxed);
    let (pub_sock, final_ts) = tokio::time::timeout(Duration::from_secs(10), feeder)
        .await
        .expect("the publisher's writes were never blocked")
        .expect("feeder");
    let n = sent.load(Ordering::Relaxed);
    metric_reaches(
        &app,
        &format!(
            "ferrocast_stream_video_frames_in_total{{playback_id=\"{}\"}}",
            src.playback_id
        ),
        n,
        Duration::from_secs(10),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while last_ts.load(Ordering::Relaxed) < final_ts {
        assert!(
            Instant::now() < deadline,
            "the reading player did not get the last frame ({} < {final_ts})",
            last_ts.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        metric(&app, "ferrocast_rtmp_timeouts_total{kind=\"idle\"}").await,
        0,
        "neither the publisher nor the silent player hit the idle timeout"
    );
    assert_eq!(
        metric(&app, "ferrocast_rtmp_timeouts_total{kind=\"write\"}").await,
        1,
        "only the stalled player was dropped"
    );
    drop(pub_sock);
    reader.abort();
    app.finish().await;
}

/// Connections still handshaking are capped at 8 per address and all connections at 32 (the
/// defaults): one over is closed at once, before a byte is read, and counted; other addresses
/// are unaffected; a place freed is usable again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_caps_close_excess_connections_at_once() {
    // A long idle timeout, so connected-but-idle connections stay while the test counts them.
    let Some(app) = TestApp::start_with(
        Backend::Sqlite,
        Options {
            extra: vec![("rtmp_idle_timeout_secs", "120".into())],
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let addr = app.running.as_ref().expect("running").rtmp_addr;
    let pending_series = "ferrocast_rtmp_connections_refused_total{reason=\"per_address_pending\"}";
    let total_series = "ferrocast_rtmp_connections_refused_total{reason=\"per_address\"}";

    // Eight silent connections from one address are accepted (they would wait for the 10 s
    // handshake timeout); the ninth is closed at once.
    let a = Ipv4Addr::new(127, 0, 0, 11);
    let mut pending = Vec::new();
    for _ in 0..8 {
        pending.push(connect_from(a, addr, None).await);
    }
    // Make sure the server has accepted all eight before the ninth arrives.
    metric_reaches(
        &app,
        "ferrocast_rtmp_connections",
        8,
        Duration::from_secs(10),
    )
    .await;
    let mut ninth = connect_from(a, addr, None).await;
    assert!(
        closed_within(&mut ninth, Duration::from_secs(5)).await,
        "the ninth handshaking connection from one address is closed at once"
    );
    assert_eq!(metric(&app, pending_series).await, 1);
    // The eight are still open: one completes its handshake now.
    assert!(
        handshake_on(&mut pending[0]).await,
        "an accepted one still works"
    );
    // Another address is not affected.
    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 12), addr, None).await;
    assert!(handshake_on(&mut other).await, "another address connects");
    // Closed connections give their places back.
    drop(pending);
    drop(other);
    metric_falls_to(&app, "ferrocast_rtmp_connections", 0).await;
    let mut again = connect_from(a, addr, None).await;
    assert!(
        handshake_on(&mut again).await,
        "the address has its places back"
    );
    drop(again);
    metric_falls_to(&app, "ferrocast_rtmp_connections", 0).await;

    // 32 connections past `connect` from one address; the 33rd is closed at once.
    let b = Ipv4Addr::new(127, 0, 0, 13);
    let mut connected = Vec::new();
    for i in 0..32 {
        let mut s = connect_from(b, addr, None).await;
        assert!(handshake_on(&mut s).await, "connection {i}");
        let mut p = Peer::new(s);
        p.send(&connect_to("live")).await;
        p.command("_result", Some(1.0)).await;
        connected.push(p);
    }
    let mut extra = connect_from(b, addr, None).await;
    assert!(
        closed_within(&mut extra, Duration::from_secs(5)).await,
        "the 33rd connection from one address is closed at once"
    );
    assert_eq!(metric(&app, total_series).await, 1);
    assert_eq!(metric(&app, pending_series).await, 1);
    drop(connected.pop());
    metric_falls_to(&app, "ferrocast_rtmp_connections", 31).await;
    let mut s = connect_from(b, addr, None).await;
    assert!(handshake_on(&mut s).await, "the freed place is usable");
    assert_eq!(metric(&app, total_series).await, 1);
    drop(s);
    drop(connected);
    healthy(&app).await;
    app.finish().await;
}

#[test]
fn rtmp_settings_default_to_the_engine_defaults() {
    use ferrocast_engine::rtmp_server::RtmpConfig;
    let config = ferrocast_config::Config::load(&ferrocast_config::Sources {
        config_file: None,
        working_dir: None,
        env: Default::default(),
        flags: Default::default(),
    })
    .expect("defaults load");
    assert_eq!(
        ferrocast_server::rtmp_config(&config),
        RtmpConfig::default()
    );
}

/// A player of HTTP-FLV that connects after the encoder's `publish` but before its first
/// frame (a relay that has just started, a page retrying until the stream is up) gets a file
/// header announcing only the tracks the stream has: an audio flag on a video-only stream has
/// ffmpeg analyse 90 s of it before playing, and flv.js wait for audio that never comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_flv_before_the_first_frame_announces_only_the_tracks_sent() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let addr = app.running.as_ref().expect("running").rtmp_addr;
    let src = support::creator_with_source(&app, "early@example.com").await;
    let (mut p, sid) = publisher(addr, &src.key).await;
    let url = app.url(&format!("/live/{}.flv", src.playback_id));
    let readers = format!(
        "ferrocast_stream_readers{{playback_id=\"{}\"}}",
        src.playback_id
    );
    let before = metric(&app, &readers).await;
    let player = tokio::spawn(async move {
        let mut res = support::client().get(url).send().await.expect("flv");
        assert_eq!(res.status(), 200);
        let mut head = Vec::new();
        while head.len() < 13 {
            let chunk = tokio::time::timeout(Duration::from_secs(10), res.chunk())
                .await
                .expect("the header comes once the first frames do")
                .expect("body")
                .expect("more bytes");
            head.extend_from_slice(&chunk);
        }
        head
    });
    // The player is subscribed before any frame: the stream is live, with nothing in it yet.
    metric_reaches(&app, &readers, before + 1, Duration::from_secs(10)).await;
    let avc_config = [0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe0, 0, 0];
    p.send(&chunks(6, 9, sid, &avc_config, 4096)).await;
    p.send(&chunks(6, 9, sid, &video_frame(2000), 4096)).await;
    let head = player.await.expect("player");
    assert_eq!(&head[..3], b"FLV");
    assert_eq!(
        head[4],
        0x01,
        "video only: the flags byte of {:02x?}",
        &head[..13]
    );
}
