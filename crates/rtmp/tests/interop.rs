//! Interop with real ffmpeg/ffprobe: ffmpeg publishing to and playing from our
//! `ServerSession`, and our `ClientSession` publishing to `ffmpeg -listen 1`.
//!
//! These run in CI and are never skipped: without ffmpeg they fail and say so.
#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_rtmp::handshake::HandshakeKind;
use ferrocast_rtmp::{ClientEvent, ClientSession, MediaKind, ServerEvent, ServerSession};

type Media = Vec<(MediaKind, u32, Bytes)>;

fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{tool} is required by the RTMP interop tests: run scripts/test.sh (it installs ffmpeg)"
    );
}

fn ffmpeg(args: &[&str]) -> Child {
    require("ffmpeg");
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn ffmpeg")
}

/// Waits for `child` up to `limit`, killing it past that.
fn wait(mut child: Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ffmpeg did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn flush(s: &mut ServerSession, sock: &mut TcpStream) -> bool {
    while let Some(b) = s.poll_transmit() {
        if sock.write_all(&b).is_err() {
            return false;
        }
    }
    true
}

/// Drives one accepted connection with blocking I/O until the peer closes.
fn drive_server(
    listener: TcpListener,
    mut on_event: impl FnMut(&mut ServerSession, ServerEvent),
) -> Result<(), String> {
    let (mut sock, _) = listener.accept().map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut s = ServerSession::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = match sock.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        s.handle_input(&buf[..n]).map_err(|e| e.to_string())?;
        if total < 1537 && total + n >= 1537 {
            // ffmpeg signs C1; answering with digests is what its player verifies.
            assert!(matches!(s.handshake_kind(), HandshakeKind::Digest { .. }));
        }
        total += n;
        loop {
            if !flush(&mut s, &mut sock) {
                return Ok(());
            }
            let Some(ev) = s.poll_event() else { break };
            on_event(&mut s, ev);
        }
        if s.is_closed() {
            return Ok(());
        }
    }
}

struct Published {
    app: String,
    key: String,
    query: Option<String>,
    media: Media,
}

/// Runs ffmpeg publishing a test pattern to a `ServerSession` and captures what arrives.
fn capture_publish(realtime: bool, seconds: &str) -> Published {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let mut got = Published {
            app: String::new(),
            key: String::new(),
            query: None,
            media: Vec::new(),
        };
        drive_server(listener, |s, ev| match ev {
            ServerEvent::PublishRequested {
                request,
                app,
                stream_key,
                query,
            } => {
                (got.app, got.key, got.query) = (app, stream_key, query);
                s.accept_publish(request).unwrap();
            }
            ServerEvent::Media {
                kind,
                timestamp,
                payload,
            } => got.media.push((kind, timestamp, payload)),
            _ => {}
        })
        .unwrap();
        got
    });
    let url = format!("rtmp://127.0.0.1:{port}/live/somekey?x=1");
    let mut args = Vec::new();
    if realtime {
        args.push("-re");
    }
    args.extend([
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "30",
        "-c:a",
        "aac",
        "-t",
        seconds,
        "-f",
        "flv",
        &url,
    ]);
    let status = wait(ffmpeg(&args), Duration::from_secs(30));
    assert!(status.success(), "ffmpeg publish failed: {status}");
    server.join().unwrap()
}

#[test]
fn ffmpeg_publishes_then_ffmpeg_plays() {
    let p = capture_publish(true, "3");
    assert_eq!(p.app, "live");
    assert_eq!(p.key, "somekey");
    assert_eq!(p.query.as_deref(), Some("x=1"));
    let first_video = p
        .media
        .iter()
        .find(|m| m.0 == MediaKind::Video)
        .expect("video arrived");
    assert_eq!(
        &first_video.2[..2],
        &[0x17, 0x00],
        "AVC sequence header first"
    );
    assert!(p.media.iter().filter(|m| m.0 == MediaKind::Video).count() > 60);
    assert!(p.media.iter().filter(|m| m.0 == MediaKind::Audio).count() > 60);
    let meta = p
        .media
        .iter()
        .find(|m| m.0 == MediaKind::Data)
        .expect("metadata");
    assert!(meta.2.starts_with(&[2, 0, 10, b'o', b'n', b'M']));

    // Play what was captured back to ffmpeg.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let media = p.media;
    let server = thread::spawn(move || {
        let mut name = String::new();
        let r = drive_server(listener, |s, ev| {
            if let ServerEvent::PlayRequested {
                request, name: n, ..
            } = ev
            {
                name = n;
                s.accept_play(request).unwrap();
                for (k, t, pl) in &media {
                    s.send_media(*k, *t, pl).unwrap();
                }
                s.send_stream_eof().unwrap();
            }
        });
        (r, name)
    });
    let url = format!("rtmp://127.0.0.1:{port}/live/x");
    let status = wait(
        ffmpeg(&["-i", &url, "-t", "2", "-f", "null", "-"]),
        Duration::from_secs(30),
    );
    assert!(status.success(), "ffmpeg play failed: {status}");
    let (r, name) = server.join().unwrap();
    // ffmpeg may close with unread data in flight; only the request matters here.
    let _ = r;
    assert_eq!(name, "x");
}

#[test]
fn client_session_publishes_to_ffmpeg_listen() {
    require("ffprobe");
    let media = capture_publish(false, "2").media;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out =
        std::env::temp_dir().join(format!("ferrocast-rtmp-{}-{port}.flv", std::process::id()));
    let out_s = out.to_str().unwrap().to_owned();
    let url = format!("rtmp://127.0.0.1:{port}/live/k");
    let child = ffmpeg(&[
        "-y", "-listen", "1", "-i", &url, "-c", "copy", "-f", "flv", &out_s,
    ]);
    // ffmpeg needs a moment to listen.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sock = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("ffmpeg -listen never accepted: {e}"),
        }
    };
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let tc_url = format!("rtmp://127.0.0.1:{port}/live");
    let mut c = ClientSession::new("live", &tc_url, "k");
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = false;
    while !sent {
        while let Some(b) = c.poll_transmit() {
            sock.write_all(&b).unwrap();
        }
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "ffmpeg closed before Publish.Start");
        c.handle_input(&buf[..n]).unwrap();
        while let Some(ev) = c.poll_event() {
            match ev {
                ClientEvent::Publishing => {
                    for (k, t, p) in &media {
                        c.send_media(*k, *t, p).unwrap();
                    }
                    c.unpublish();
                    sent = true;
                }
                ClientEvent::Error(e) => panic!("ffmpeg refused: {e}"),
            }
        }
    }
    while let Some(b) = c.poll_transmit() {
        sock.write_all(&b).unwrap();
    }
    sock.shutdown(Shutdown::Write).unwrap();
    // Drain until ffmpeg closes its side.
    while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
    drop(sock);
    wait(child, Duration::from_secs(20));
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-of", "json", &out_s])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&out);
    let json = String::from_utf8_lossy(&probe.stdout);
    assert!(probe.status.success(), "ffprobe failed: {json}");
    assert!(json.contains("\"codec_name\": \"h264\""), "{json}");
    assert!(json.contains("\"codec_name\": \"aac\""), "{json}");
}
