//! Restream end to end: a real hub with a publisher, the real push engine, and RTMP(S)
//! destinations served in the test by the `rtmp` crate's `ServerSession` on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use ferrocast_engine::restream::{
    tls_config, PushState, RestreamConfig, RestreamEvent, Restreamer, Target,
};
use ferrocast_hub::{Frame, FrameKind, Hub, Publisher, StreamKey};
use ferrocast_rtmp::session::{MediaKind, ServerEvent, ServerSession};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::broadcast;
use tokio::task::{JoinHandle, JoinSet};

const DEADLINE: Duration = Duration::from_secs(15);

// ---- the destination: a small RTMP server ----

#[derive(Default)]
struct DestState {
    accepts: AtomicUsize,
    closed: AtomicUsize,
    unpublished: AtomicUsize,
    keys: Mutex<Vec<String>>,
    apps: Mutex<Vec<String>>,
    media: Mutex<Vec<(MediaKind, u32, Bytes)>>,
}

impl DestState {
    fn media_len(&self) -> usize {
        self.media.lock().unwrap().len()
    }
}

struct Dest {
    addr: SocketAddr,
    state: Arc<DestState>,
    task: JoinHandle<()>,
}

impl Dest {
    async fn start(tls: Option<tokio_rustls::TlsAcceptor>) -> Dest {
        Self::on(bind("127.0.0.1:0".parse().unwrap()), tls)
    }

    fn on(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) -> Dest {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(DestState::default());
        let st = state.clone();
        let task = tokio::spawn(async move {
            // Dropped with this task when it is aborted: every connection goes with it.
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    r = listener.accept() => {
                        let (sock, _) = r.unwrap();
                        st.accepts.fetch_add(1, Ordering::SeqCst);
                        let st = st.clone();
                        match &tls {
                            None => { conns.spawn(serve(sock, st)); }
                            Some(acceptor) => {
                                let acceptor = acceptor.clone();
                                conns.spawn(async move {
                                    match acceptor.accept(sock).await {
                                        Ok(s) => serve(s, st).await,
                                        Err(_) => { st.closed.fetch_add(1, Ordering::SeqCst); }
                                    }
                                });
                            }
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Dest { addr, state, task }
    }

    fn url(&self, app: &str) -> String {
        format!("rtmp://{}/{app}", self.addr)
    }

    /// Kills the server and its connections; returns the address for a restart.
    async fn kill(self) -> SocketAddr {
        self.task.abort();
        let _ = self.task.await;
        self.addr
    }
}

fn bind(addr: SocketAddr) -> TcpListener {
    let s = TcpSocket::new_v4().unwrap();
    s.set_reuseaddr(true).unwrap();
    s.bind(addr).unwrap();
    s.listen(64).unwrap()
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut sock: S, st: Arc<DestState>) {
    let mut session = ServerSession::new();
    let mut buf = vec![0u8; 16 * 1024];
    'conn: loop {
        while let Some(ev) = session.poll_event() {
            match ev {
                ServerEvent::PublishRequested {
                    request,
                    app,
                    stream_key,
                    ..
                } => {
                    st.keys.lock().unwrap().push(stream_key);
                    st.apps.lock().unwrap().push(app);
                    session.accept_publish(request).unwrap();
                }
                ServerEvent::Media {
                    kind,
                    timestamp,
                    payload,
                } => st.media.lock().unwrap().push((kind, timestamp, payload)),
                ServerEvent::Unpublished => {
                    st.unpublished.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
        while let Some(out) = session.poll_transmit() {
            if sock.write_all(&out).await.is_err() {
                break 'conn;
            }
        }
        if sock.flush().await.is_err() {
            break;
        }
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if session.handle_input(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    st.closed.fetch_add(1, Ordering::SeqCst);
}

// ---- the source ----

fn metadata() -> Frame {
    // AMF0: "onMetaData", ECMA array { width: 1280 }.
    let mut b = vec![0x02, 0x00, 0x0a];
    b.extend_from_slice(b"onMetaData");
    b.extend_from_slice(&[0x08, 0, 0, 0, 1, 0x00, 0x05]);
    b.extend_from_slice(b"width");
    b.push(0x00);
    b.extend_from_slice(&1280f64.to_be_bytes());
    b.extend_from_slice(&[0x00, 0x00, 0x09]);
    Frame::from_tag(FrameKind::Data, 0, Bytes::from(b))
}

fn avc_config() -> Frame {
    let b = vec![
        0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 1, 2, 3, 4,
    ];
    Frame::from_tag(FrameKind::Video, 0, Bytes::from(b))
}

fn aac_config() -> Frame {
    Frame::from_tag(
        FrameKind::Audio,
        0,
        Bytes::from_static(&[0xaf, 0x00, 0x12, 0x10]),
    )
}

/// A video frame whose body is unique to `n`; keyframes are large (several RTMP chunks).
fn video(n: u32, keyframe: bool) -> Frame {
    let len = if keyframe {
        10_000
    } else {
        40 + (n as usize * 37) % 300
    };
    let mut b = vec![if keyframe { 0x17 } else { 0x27 }, 0x01, 0, 0, 0];
    b.extend((0..len).map(|i| (i as u32 ^ n.wrapping_mul(31)) as u8));
    Frame::from_tag(FrameKind::Video, n * 33, Bytes::from(b))
}

fn audio(n: u32) -> Frame {
    let mut b = vec![0xaf, 0x01];
    b.extend((0..20 + n % 50).map(|i| (i ^ n) as u8));
    Frame::from_tag(FrameKind::Audio, n * 33 + 5, Bytes::from(b))
}

fn publish(hub: &Hub, playback_id: &str) -> Publisher {
    hub.publish(StreamKey {
        playback_id: playback_id.into(),
        source_id: 7,
        relay: false,
    })
    .unwrap()
}

/// A publisher pushing a frame pair every 10 ms (keyframe every 15) until aborted.
fn live_source(hub: &Hub, playback_id: &str) -> JoinHandle<()> {
    let p = publish(hub, playback_id);
    tokio::spawn(async move {
        for f in [metadata(), avc_config(), aac_config()] {
            p.push(f);
        }
        let mut n = 0;
        loop {
            p.push(video(n, n % 15 == 0));
            p.push(audio(n));
            n += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
}

// ---- helpers ----

fn config() -> RestreamConfig {
    RestreamConfig {
        allow_private_targets: true,
        // Test destinations listen on whatever port the kernel gives them.
        allowed_ports: Vec::new(),
        connect_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(5),
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        max_failures: 1000,
        ..RestreamConfig::new(tls_config(None).unwrap())
    }
}

fn target(id: i64, url: String, key: &str) -> Target {
    Target {
        id,
        url,
        stream_key: key.into(),
    }
}

/// Polls `f` until it holds, failing after [`DEADLINE`].
async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_event(
    rx: &mut broadcast::Receiver<RestreamEvent>,
    f: impl Fn(&RestreamEvent) -> bool,
) -> RestreamEvent {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match rx.recv().await {
                Ok(e) if f(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
            }
        }
    })
    .await
    .expect("the awaited restream event")
}

fn state_of(r: &Restreamer, playback_id: &str, id: i64) -> Option<PushState> {
    r.status(playback_id)
        .into_iter()
        .find(|s| s.id == id)
        .map(|s| s.state)
}

fn as_tuple(f: &Frame) -> (MediaKind, u32, Bytes) {
    let kind = match f.kind {
        FrameKind::Audio => MediaKind::Audio,
        FrameKind::Video => MediaKind::Video,
        FrameKind::Data => MediaKind::Data,
    };
    (kind, f.timestamp, f.data.clone())
}

// ---- tests ----

#[tokio::test]
async fn frames_arrive_unchanged_and_the_end_unpublishes() {
    let hub = Hub::default();
    let r = Restreamer::new(hub.clone(), config());
    let mut events = r.events();
    let dest = Dest::start(None).await;
    assert!(
        !r.set_targets("s1", vec![target(1, dest.url("live"), "k")]),
        "not live: nothing to do"
    );

    let p = publish(&hub, "s1");
    let mut sent = vec![metadata(), avc_config(), aac_config(), video(0, true)];
    for n in 1..6 {
        sent.push(audio(n));
        sent.push(video(n, false));
    }
    for f in &sent {
        p.push(f.clone());
    }
    let url = format!("rtmp://{}/live/instance/", dest.addr);
    assert!(r.set_targets("s1", vec![target(1, url, "secret-key-1")]));
    let first = r.status("s1");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].state, PushState::Connecting);
    wait_event(&mut events, |e| e.state == PushState::Live).await;

    // Live frames after the cached ones, with a second GOP.
    for n in 6..40 {
        let f = video(n, n == 20);
        p.push(f.clone());
        sent.push(f);
        let a = audio(n);
        p.push(a.clone());
        sent.push(a);
    }
    wait_until("every frame at the destination", || {
        dest.state.media_len() >= sent.len()
    })
    .await;
    let got = dest.state.media.lock().unwrap().clone();
    let want: Vec<_> = sent.iter().map(as_tuple).collect();
    assert_eq!(got, want, "same kinds, timestamps and bytes, in order");
    assert_eq!(*dest.state.keys.lock().unwrap(), ["secret-key-1"]);
    assert_eq!(*dest.state.apps.lock().unwrap(), ["live/instance"]);

    let st = r.status("s1");
    assert_eq!(st.len(), 1);
    assert_eq!((st[0].id, st[0].state), (1, PushState::Live));
    assert_eq!((st[0].connects, st[0].last_error.as_deref()), (1, None));
    wait_until("frames counted", || {
        r.status("s1")[0].frames_out == sent.len() as u64
    })
    .await;
    let payload: usize = sent.iter().map(|f| f.data.len()).sum();
    assert!(r.status("s1")[0].bytes_out > payload as u64);

    // The publisher leaves: the destination gets an unpublish and the connection closes.
    drop(p);
    wait_until("unpublish at the destination", || {
        dest.state.unpublished.load(Ordering::SeqCst) >= 1
    })
    .await;
    wait_until("connection closed", || {
        dest.state.closed.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(r.status("s1").is_empty());
    assert!(!r.set_targets("s1", vec![target(1, dest.url("live"), "k")]));

    // A republish is a new session: set_targets starts the push again.
    let p = publish(&hub, "s1");
    p.push(video(100, true));
    assert!(r.set_targets("s1", vec![target(1, dest.url("live"), "k2")]));
    wait_until("second session live", || {
        state_of(&r, "s1", 1) == Some(PushState::Live)
    })
    .await;
    assert_eq!(dest.state.accepts.load(Ordering::SeqCst), 2);
    assert_eq!(r.status("s1")[0].connects, 1, "a fresh entry per session");
}

#[tokio::test]
async fn a_dead_destination_retries_while_another_keeps_going() {
    let hub = Hub::default();
    let r = Restreamer::new(hub.clone(), config());
    let mut events = r.events();
    let source = live_source(&hub, "s2");
    let a = Dest::start(None).await;
    let b = Dest::start(None).await;
    assert!(r.set_targets(
        "s2",
        vec![
            target(1, a.url("live"), "key-a"),
            target(2, b.url("live"), "key-b")
        ]
    ));
    wait_until("both live", || {
        state_of(&r, "s2", 1) == Some(PushState::Live)
            && state_of(&r, "s2", 2) == Some(PushState::Live)
    })
    .await;

    let b_before = b.state.media_len();
    let addr = a.kill().await;
    let e = wait_event(&mut events, |e| {
        e.destination_id == 1 && e.state == PushState::Retrying
    })
    .await;
    assert!(e.error.is_some());
    assert_eq!((e.source_id, e.playback_id.as_str()), (7, "s2"));
    // Retrying again and again (connection refused) while B keeps receiving.
    wait_event(&mut events, |e| {
        e.destination_id == 1 && e.state == PushState::Retrying
    })
    .await;
    wait_until("B keeps receiving", || b.state.media_len() > b_before + 40).await;
    let st = r.status("s2");
    assert!(st[0].last_error.is_some());
    assert_eq!(st[1].state, PushState::Live);

    // The destination comes back on the same port: live again, from a keyframe.
    let a2 = Dest::on(bind(addr), None);
    wait_until("A live again", || {
        r.status("s2")
            .first()
            .is_some_and(|s| s.state == PushState::Live && s.connects == 2)
    })
    .await;
    assert_eq!(r.status("s2")[0].last_error, None);
    wait_until("A receives", || a2.state.media_len() >= 4).await;
    let got = a2.state.media.lock().unwrap().clone();
    assert_eq!(got[0].0, MediaKind::Data);
    assert_eq!(&got[1].2[..2], &[0x17, 0x00], "AVC sequence header");
    assert_eq!(&got[2].2[..2], &[0xaf, 0x00], "AAC sequence header");
    assert_eq!(&got[3].2[..2], &[0x17, 0x01], "then a keyframe");
    assert_eq!(
        b.state.accepts.load(Ordering::SeqCst),
        1,
        "B never reconnected"
    );
    assert_eq!(r.status("s2")[1].connects, 1);
    source.abort();
}

#[tokio::test]
async fn removing_a_target_stops_only_it_and_a_changed_key_restarts_it() {
    let hub = Hub::default();
    let r = Restreamer::new(hub.clone(), config());
    let source = live_source(&hub, "s3");
    let a = Dest::start(None).await;
    let b = Dest::start(None).await;
    let ta = target(1, a.url("live"), "key-a");
    let tb = target(2, b.url("live"), "key-b");
    assert!(r.set_targets("s3", vec![ta.clone(), tb.clone()]));
    wait_until("both live", || {
        r.status("s3").iter().all(|s| s.state == PushState::Live) && r.status("s3").len() == 2
    })
    .await;

    assert!(r.set_targets("s3", vec![tb.clone()]));
    let st = r.status("s3");
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].id, 2);
    wait_until("A's connection closed", || {
        a.state.closed.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(
        a.state.unpublished.load(Ordering::SeqCst),
        1,
        "a removed push says goodbye"
    );
    let b_before = b.state.media_len();
    wait_until("B keeps receiving", || b.state.media_len() > b_before + 40).await;
    assert_eq!(
        a.state.accepts.load(Ordering::SeqCst),
        1,
        "A not reconnected"
    );
    assert_eq!(b.state.accepts.load(Ordering::SeqCst), 1, "B untouched");
    assert_eq!(r.status("s3")[0].connects, 1);

    // Same targets again: nothing happens.
    assert!(r.set_targets("s3", vec![tb.clone()]));
    // A changed key: B restarts with it.
    let tb2 = target(2, b.url("live"), "key-b2");
    assert!(r.set_targets("s3", vec![tb2]));
    wait_until("B republished with the new key", || {
        b.state.keys.lock().unwrap().len() == 2 && state_of(&r, "s3", 2) == Some(PushState::Live)
    })
    .await;
    assert_eq!(*b.state.keys.lock().unwrap(), ["key-b", "key-b2"]);
    assert_eq!(b.state.accepts.load(Ordering::SeqCst), 2);

    // No targets: nothing left.
    assert!(r.set_targets("s3", Vec::new()));
    assert!(r.status("s3").is_empty());
    wait_until("B's connection closed", || {
        b.state.closed.load(Ordering::SeqCst) == 2
    })
    .await;
    source.abort();
}

/// A self-signed certificate for "localhost" made by the openssl CLI: (cert PEM, key PEM).
fn self_signed() -> (Vec<u8>, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-restream-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        // A leaf, not a CA: webpki refuses a CA certificate as the server's own.
        .args([
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-days",
            "1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl CLI (needed to make a test certificate)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pems = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    pems
}

fn acceptor(cert_pem: &[u8], key_pem: &[u8]) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn rtmps_through_tls() {
    let (cert, key) = self_signed();
    let hub = Hub::default();
    let trusted = RestreamConfig {
        tls: tls_config(Some(&cert)).unwrap(),
        ..config()
    };
    let r = Restreamer::new(hub.clone(), trusted);
    let dest = Dest::start(Some(acceptor(&cert, &key))).await;
    let p = publish(&hub, "s4");
    let mut sent = vec![metadata(), avc_config(), aac_config(), video(0, true)];
    for f in &sent {
        p.push(f.clone());
    }
    let url = format!("rtmps://localhost:{}/live", dest.addr.port());
    assert!(r.set_targets("s4", vec![target(1, url.clone(), "tls-key")]));
    wait_until("live over TLS", || {
        state_of(&r, "s4", 1) == Some(PushState::Live)
    })
    .await;
    for n in 1..30 {
        let f = video(n, false);
        p.push(f.clone());
        sent.push(f);
    }
    wait_until("frames over TLS", || dest.state.media_len() >= sent.len()).await;
    let got = dest.state.media.lock().unwrap().clone();
    assert_eq!(got, sent.iter().map(as_tuple).collect::<Vec<_>>());
    assert_eq!(*dest.state.keys.lock().unwrap(), ["tls-key"]);

    // Without the extra root the certificate is not trusted.
    let untrusting = Restreamer::new(hub.clone(), config());
    let mut events = untrusting.events();
    assert!(untrusting.set_targets("s4", vec![target(2, url, "tls-key")]));
    let e = wait_event(&mut events, |e| e.state == PushState::Retrying).await;
    let error = e.error.unwrap();
    assert!(
        error.contains("TLS handshake with localhost failed"),
        "{error}"
    );
    assert!(!error.contains("tls-key"));
    drop(p);
    wait_until("unpublished over TLS", || {
        dest.state.unpublished.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let hub = Hub::default();
    let guarded = RestreamConfig {
        allow_private_targets: false,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        max_failures: 3,
        ..config()
    };
    let r = Restreamer::new(hub.clone(), guarded);
    let mut events = r.events();
    let dest = Dest::start(None).await;
    let _p = publish(&hub, "s5");
    let port = dest.addr.port();
    assert!(r.set_targets(
        "s5",
        vec![
            target(1, format!("rtmp://127.0.0.1:{port}/live"), "private-key"),
            // Through DNS: the check applies to what the name resolves to.
            target(2, format!("rtmp://localhost:{port}/live"), "private-key"),
            target(3, "http://example.com/live".into(), "private-key"),
            target(4, format!("rtmp://127.0.0.1:{port}/live"), ""),
        ]
    ));
    let e = wait_event(&mut events, |e| {
        e.destination_id == 1 && e.state == PushState::Retrying
    })
    .await;
    assert!(e.error.unwrap().contains("127.0.0.1"));
    wait_until("refused targets failed", || {
        r.status("s5").iter().all(|s| s.state == PushState::Failed)
    })
    .await;
    let st = r.status("s5");
    assert_eq!(st.iter().map(|s| s.id).collect::<Vec<_>>(), [1, 2, 3, 4]);
    for s in &st[..2] {
        let error = s.last_error.as_deref().unwrap();
        assert!(
            error.contains("FERROCAST_RESTREAM_ALLOW_PRIVATE_TARGETS=true"),
            "{error}"
        );
        assert!(error.contains("not a public address"), "{error}");
        assert!(!error.contains("private-key"));
        assert_eq!(s.connects, 0);
    }
    assert!(st[2].last_error.as_deref().unwrap().contains("rtmp://"));
    assert!(st[3]
        .last_error
        .as_deref()
        .unwrap()
        .contains("stream key is empty"));
    assert_eq!(
        dest.state.accepts.load(Ordering::SeqCst),
        0,
        "never connected"
    );

    // The same destination is fine when private targets are allowed.
    let open = Restreamer::new(hub.clone(), config());
    assert!(open.set_targets(
        "s5",
        vec![target(1, format!("rtmp://localhost:{port}/live"), "k")]
    ));
    wait_until("allowed and live", || {
        state_of(&open, "s5", 1) == Some(PushState::Live)
    })
    .await;
}

/// Destinations on ports other than the allowed ones are refused before any connection; a
/// host that does not resolve is refused in the same words as a private one (the difference
/// would map the operator's network).
#[tokio::test]
async fn ports_and_unresolvable_hosts_are_refused_without_telling_why_apart() {
    let hub = Hub::default();
    let guarded = RestreamConfig {
        allow_private_targets: false,
        allowed_ports: vec![1935, 443, 80],
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        max_failures: 2,
        ..config()
    };
    let r = Restreamer::new(hub.clone(), guarded);
    let _p = publish(&hub, "s9");
    assert!(r.set_targets(
        "s9",
        vec![
            target(1, "rtmp://203.0.113.9:2222/live".into(), "key-one"),
            target(2, "rtmp://does-not-exist.invalid/live".into(), "key-two"),
            target(3, "rtmp://127.0.0.1/live".into(), "key-three"),
        ]
    ));
    wait_until("refused targets failed", || {
        r.status("s9").iter().all(|s| s.state == PushState::Failed)
    })
    .await;
    let st = r.status("s9");
    let error = |i: usize| st[i].last_error.clone().unwrap_or_default();
    assert!(
        error(0).contains("port 2222 is not allowed"),
        "{}",
        error(0)
    );
    let unresolvable = error(1).replace("does-not-exist.invalid", "HOST");
    let private = error(2).replace("127.0.0.1", "HOST");
    assert_eq!(unresolvable, private, "the same answer for both");
    assert!(st.iter().all(|s| s.connects == 0));
}

/// A destination that gave up is tried again at once on request (and one still connecting or
/// live is left alone); its failures count from zero again.
#[tokio::test]
async fn retry_now_wakes_a_failed_destination() {
    let hub = Hub::default();
    let quick = RestreamConfig {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        max_failures: 2,
        ..config()
    };
    let r = Restreamer::new(hub.clone(), quick);
    let mut events = r.events();
    let source = live_source(&hub, "s10");
    // A port nothing listens on: connections are refused.
    let addr = Dest::start(None).await.kill().await;
    assert!(r.set_targets(
        "s10",
        vec![target(1, format!("rtmp://{addr}/live"), "key-r")]
    ));
    wait_until("failed", || {
        state_of(&r, "s10", 1) == Some(PushState::Failed)
    })
    .await;
    let failed = r.status("s10")[0].last_error.clone().unwrap_or_default();
    assert!(
        failed.contains("gave up after 2 failed attempts"),
        "{failed}"
    );
    assert_eq!(r.retry_now("s10", 2), None, "no such destination");
    assert_eq!(r.retry_now("nope", 1), None, "no such stream");
    // The destination is back: a retry reaches it without waiting for the stream to end.
    let dest = Dest::on(bind(addr), None);
    assert_eq!(r.retry_now("s10", 1), Some(PushState::Failed));
    wait_event(&mut events, |e| {
        e.destination_id == 1 && e.state == PushState::Connecting
    })
    .await;
    wait_until("live after the retry", || {
        state_of(&r, "s10", 1) == Some(PushState::Live)
    })
    .await;
    assert_eq!(r.retry_now("s10", 1), Some(PushState::Live), "left alone");
    assert_eq!(dest.state.accepts.load(Ordering::SeqCst), 1);
    assert_eq!(r.status("s10")[0].connects, 1);
    assert_eq!(r.status("s10")[0].retries_asked, 1, "the one that was done");
    source.abort();
}
