//! Relay sinks: RTMP servers the server under test pushes to (restream / `push`). Each sink
//! accepts any publish, reads the video and measures latency from the publisher's wall-clock
//! stamps exactly as a player does — the figure is the latency added by the relay hop.

use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use ferrocast_rtmp::{MediaKind, ServerEvent, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::video::{PlayerResult, VideoTracker, Window};

/// Runs one sink on `listener` from now until the measurement window (sent on `window` once
/// the players start) ends: pushes are served from the first moment, so the pushing server
/// never waits, and frames count once the window is known. A pushing server that reconnects is
/// accepted again; the result is one "player" fed by the pushes.
pub async fn run(
    listener: TcpListener,
    mut window: watch::Receiver<Option<Window>>,
    fps: usize,
) -> PlayerResult {
    let started = Instant::now();
    let mut state = Sink {
        tracker: None,
        window: window.clone(),
        started,
        fps,
        connected: false,
    };
    let mut last_error = None;
    let serve_all = async {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            if let Err(e) = serve(sock, &mut state).await {
                last_error = Some(format!("{e:#}"));
            }
        }
    };
    let end = async {
        let w = match window.wait_for(Option::is_some).await {
            Ok(w) => *w,
            Err(_) => None,
        };
        match w {
            Some(w) => tokio::time::sleep_until(w.end.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = serve_all => {}
        () = end => {}
    }
    let Some(window) = *state.window.borrow() else {
        return PlayerResult::default();
    };
    let mut tracker = state
        .tracker
        .take()
        .unwrap_or_else(|| state.new_tracker(window));
    tracker.result.connected = state.connected;
    if !state.connected {
        tracker.result.error = Some(last_error.unwrap_or_else(|| "no push arrived".into()));
    }
    tracker.finish()
}

struct Sink {
    tracker: Option<VideoTracker>,
    window: watch::Receiver<Option<Window>>,
    started: Instant,
    fps: usize,
    connected: bool,
}

impl Sink {
    fn new_tracker(&self, window: Window) -> VideoTracker {
        let expected = self.fps * (window.end - window.start).as_secs() as usize + 16;
        VideoTracker::new(self.started, window, expected)
    }

    fn on_video(&mut self, body: &[u8]) {
        if self.tracker.is_none() {
            let Some(w) = *self.window.borrow() else {
                return;
            };
            self.tracker = Some(self.new_tracker(w));
        }
        if let Some(t) = &mut self.tracker {
            t.on_video(body);
        }
    }
}

async fn serve(mut sock: TcpStream, sink: &mut Sink) -> Result<()> {
    sock.set_nodelay(true)?;
    let mut s = ServerSession::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(ev) = s.poll_event() {
            match ev {
                ServerEvent::PublishRequested { request, .. } => {
                    s.accept_publish(request)
                        .map_err(|e| anyhow!("RTMP: {e}"))?;
                    sink.connected = true;
                }
                ServerEvent::PlayRequested { request, .. } => {
                    let _ = s.reject_play(request, "this is a relay sink");
                }
                ServerEvent::Media {
                    kind: MediaKind::Video,
                    payload,
                    ..
                } => sink.on_video(&payload),
                ServerEvent::Unpublished | ServerEvent::Closed => return Ok(()),
                _ => {}
            }
        }
        while let Some(b) = s.poll_transmit() {
            sock.write_all(&b).await?;
        }
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            bail!("the pushing server closed the connection");
        }
        s.handle_input(&buf[..n])
            .map_err(|e| anyhow!("RTMP: {e}"))?;
    }
}
