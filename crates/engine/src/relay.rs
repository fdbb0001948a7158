//! Relays: a node that does not hold a live stream a viewer asks for pulls it once from the node
//! that does (its origin, found through the [`OriginLocator`] port), publishes it into the local
//! hub as a relay ([`StreamKey::relay`]) and fans it out to its own players — RTMP, HTTP-FLV,
//! HLS and LL-HLS alike — until its last local reader has been gone for
//! [`RelayConfig::linger`].
//!
//! - One pull per stream per node: concurrent requests for the same stream wait on the pull
//!   already starting ([`Relays::ensure`]).
//! - The pull is an RTMP play of `rtmp://ORIGIN/play/<playback_id>?<credential>`; the credential
//!   comes from the locator (the server signs it with the node secret) and makes the origin
//!   skip its viewer gating and viewer count (the relay gated and counts its own viewers).
//! - Bounded: [`MAX_PULLS`] pulls at once, timeouts on every step (locate, connect, start, each
//!   read and write); a failed pull is counted ([`RelayStats::failures`]) and logged, and the
//!   next request tries again.

use crate::hls::HlsRegistry;
use crate::io::{write_all_vectored, PLAY_APP};
use crate::viewers::ViewerTracker;
use ferrocast_domain::media::{is_safe_id, OriginLocator};
use ferrocast_hub::{Frame, FrameKind, Hub, Publisher, StreamKey};
use ferrocast_rtmp::session::{ClientEvent, ClientSession, MediaKind, PlayEvent};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Pulls running or starting at once, at most; requests for more streams are not relayed.
pub const MAX_PULLS: usize = 1024;
/// Time allowed to ask the registry where a stream is.
pub const LOCATE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to connect to the origin.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed from the request to the first keyframe relayed.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// A pull that receives nothing from its origin for this long has lost it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A write to the origin (acknowledgements) that makes no progress for this long fails.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`RelayConfig::linger`].
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);
/// How often a pull checks for local readers.
const CHECK_EVERY: Duration = Duration::from_millis(500);
const READ_BUF: usize = 64 * 1024;

/// Settings of the relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// A pull stops once the stream has had no local reader for this long.
    pub linger: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            linger: DEFAULT_LINGER,
        }
    }
}

/// Counters of the relays, for `/metrics`.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Pulls relaying now.
    pub running: AtomicU64,
    /// Pulls that reached their origin and started relaying, since the node started.
    pub started: AtomicU64,
    /// Pulls that failed (registry unreadable, origin unreachable or refusing, stream lost).
    pub failures: AtomicU64,
}

/// A pull's progress, as those waiting on it see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Live,
    Done,
}

/// The relays of one node. Cheap to clone.
#[derive(Clone)]
pub struct Relays {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    hls: HlsRegistry,
    viewers: ViewerTracker,
    locator: Arc<dyn OriginLocator>,
    config: RelayConfig,
    pulls: Mutex<HashMap<String, watch::Receiver<Phase>>>,
    stats: Arc<RelayStats>,
}

/// Why a pull ended without failing.
enum Ended {
    NotFound,
    NoViewers,
    StreamOver,
    Stopped,
    LocalPublisher,
}

impl Relays {
    /// Relays over `hub`, finding origins with `locator`; `hls` and `viewers` tell whether a
    /// relayed stream still has local viewers.
    pub fn new(
        hub: Hub,
        hls: HlsRegistry,
        viewers: ViewerTracker,
        locator: Arc<dyn OriginLocator>,
        config: RelayConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                hub,
                hls,
                viewers,
                locator,
                config,
                pulls: Mutex::new(HashMap::new()),
                stats: Arc::default(),
            }),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<RelayStats> {
        &self.inner.stats
    }

    /// The playback ids being pulled (starting or relaying), sorted.
    pub fn pulls(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Receiver<Phase>>> {
        self.inner.pulls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `playback_id` live in the local hub if another node holds it: starts its pull (or
    /// joins the one starting) and waits until its first keyframe is relayed, up to
    /// [`START_TIMEOUT`]. Returns whether the stream is live here now. A stream already live
    /// here (published or relayed) returns at once.
    pub async fn ensure(&self, playback_id: &str) -> bool {
        if self.inner.hub.is_live(playback_id) {
            return true;
        }
        if !is_safe_id(playback_id) {
            return false;
        }
        let mut rx = {
            let mut pulls = self.lock();
            match pulls.get(playback_id) {
                Some(rx) => rx.clone(),
                None => {
                    if pulls.len() >= MAX_PULLS {
                        tracing::warn!(
                            playback_id,
                            max = MAX_PULLS,
                            "relay refused: too many pulls running"
                        );
                        return false;
                    }
                    let (tx, rx) = watch::channel(Phase::Starting);
                    pulls.insert(playback_id.to_string(), rx.clone());
                    tokio::spawn(pull(self.clone(), playback_id.to_string(), tx));
                    rx
                }
            }
        };
        let _ = tokio::time::timeout(START_TIMEOUT, rx.wait_for(|p| *p != Phase::Starting)).await;
        self.inner.hub.is_live(playback_id)
    }
}

/// Counts a pull in [`RelayStats::running`] while it relays.
struct Running(Arc<RelayStats>);

impl Running {
    fn new(stats: Arc<RelayStats>) -> Self {
        stats.running.fetch_add(1, Ordering::Relaxed);
        stats.started.fetch_add(1, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn pull(relays: Relays, playback_id: String, tx: watch::Sender<Phase>) {
    let result = run(&relays, &playback_id, &tx).await;
    relays.lock().remove(&playback_id);
    tx.send_replace(Phase::Done);
    match result {
        Ok(Ended::NotFound) => {
            tracing::debug!(%playback_id, "relay: no node holds this stream")
        }
        Ok(Ended::NoViewers) => {
            tracing::info!(%playback_id, "relay stopped: no local viewers")
        }
        Ok(Ended::StreamOver) => tracing::info!(%playback_id, "relay ended: the stream ended"),
        Ok(Ended::Stopped) => tracing::info!(%playback_id, "relay stopped"),
        Ok(Ended::LocalPublisher) => {
            tracing::info!(%playback_id, "relay not started: the stream is published here")
        }
        Err(reason) => {
            relays.inner.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%playback_id, %reason, "relay failed");
        }
    }
}

/// `host:port` of an `rtmp://host:port[/…]` URL (port 1935 if none).
fn authority(rtmp_url: &str) -> Option<String> {
    let rest = rtmp_url.strip_prefix("rtmp://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    let has_port = match host.rfind(']') {
        Some(i) => host[i..].contains(':'),
        None => host.contains(':'),
    };
    Some(if has_port {
        host.to_string()
    } else {
        format!("{host}:1935")
    })
}

fn kind_of(k: MediaKind) -> FrameKind {
    match k {
        MediaKind::Audio => FrameKind::Audio,
        MediaKind::Video => FrameKind::Video,
        MediaKind::Data => FrameKind::Data,
    }
}

async fn flush(sock: &mut TcpStream, session: &mut ClientSession) -> Result<(), String> {
    let mut out = Vec::new();
    while let Some(b) = session.poll_transmit() {
        out.push(b);
    }
    if out.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(WRITE_TIMEOUT, write_all_vectored(sock, &mut out)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write to the origin failed: {e}")),
        Err(_) => Err("write to the origin stalled".into()),
    }
}

async fn run(
    relays: &Relays,
    playback_id: &str,
    tx: &watch::Sender<Phase>,
) -> Result<Ended, String> {
    let inner = &relays.inner;
    let location =
        match tokio::time::timeout(LOCATE_TIMEOUT, inner.locator.locate(playback_id)).await {
            Ok(Ok(Some(l))) => l,
            Ok(Ok(None)) => return Ok(Ended::NotFound),
            Ok(Err(e)) => return Err(format!("cannot read the node registry: {e}")),
            Err(_) => return Err("the node registry did not answer in time".into()),
        };
    let addr = authority(&location.rtmp_url)
        .ok_or_else(|| format!("origin {} has no rtmp:// URL", location.node_id))?;
    let mut sock = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(format!(
                "cannot connect to origin {} at {addr}: {e}",
                location.node_id
            ))
        }
        Err(_) => {
            return Err(format!(
                "origin {} at {addr} did not answer in time",
                location.node_id
            ))
        }
    };
    let _ = sock.set_nodelay(true);
    let tc_url = format!("{}/{PLAY_APP}", location.rtmp_url.trim_end_matches('/'));
    let name = format!("{playback_id}?{}", location.credential);
    let mut session = ClientSession::play(PLAY_APP, &tc_url, &name);
    let mut buf = vec![0u8; READ_BUF];
    let start_deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let mut publisher: Option<Publisher> = None;
    let mut stop: Option<watch::Receiver<Option<String>>> = None;
    let mut _running: Option<Running> = None;
    let mut seen_video_config = false;
    let mut announced = false;
    let mut idle_since: Option<tokio::time::Instant> = None;
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        flush(&mut sock, &mut session).await?;
        let read_deadline = match &publisher {
            None => start_deadline,
            Some(_) => tokio::time::Instant::now() + READ_TIMEOUT,
        };
        tokio::select! {
            r = tokio::time::timeout_at(read_deadline, sock.read(&mut buf)) => {
                let n = match r {
                    Ok(Ok(0)) => return match publisher {
                        Some(_) => Ok(Ended::StreamOver),
                        None => Err("the origin closed the connection".into()),
                    },
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) => return Err(format!("read from the origin failed: {e}")),
                    Err(_) => return Err(if publisher.is_some() {
                        "the origin sent nothing for too long".into()
                    } else {
                        "the origin did not start the stream in time".into()
                    }),
                };
                session
                    .handle_input(&buf[..n])
                    .map_err(|e| format!("RTMP from the origin: {e}"))?;
                if let Some(ClientEvent::Error(d)) = session.poll_event() {
                    return Err(format!("origin {} refused the pull: {d}", location.node_id));
                }
                while let Some(ev) = session.poll_play_event() {
                    match ev {
                        PlayEvent::Playing => {
                            if publisher.is_some() {
                                continue;
                            }
                            let key = StreamKey {
                                playback_id: playback_id.to_string(),
                                source_id: location.source_id,
                                relay: true,
                            };
                            match inner.hub.publish(key) {
                                Ok(p) => {
                                    tracing::info!(%playback_id, origin = %location.node_id, "relay started");
                                    stop = Some(p.stop_signal());
                                    publisher = Some(p);
                                    _running = Some(Running::new(inner.stats.clone()));
                                }
                                Err(_) => return Ok(Ended::LocalPublisher),
                            }
                        }
                        PlayEvent::Media { kind, timestamp, payload } => {
                            let Some(p) = &publisher else { continue };
                            let frame = Frame::from_tag(kind_of(kind), timestamp, payload);
                            if frame.kind == FrameKind::Video && frame.sequence_header {
                                seen_video_config = true;
                            }
                            let playable = frame.keyframe
                                || (frame.kind == FrameKind::Audio
                                    && !frame.sequence_header
                                    && !seen_video_config);
                            p.push(frame);
                            if playable && !announced {
                                announced = true;
                                tx.send_replace(Phase::Live);
                            }
                        }
                        PlayEvent::StreamEnded => {
                            if publisher.is_some() {
                                return Ok(Ended::StreamOver);
                            }
                        }
                    }
                }
            }
            _ = check.tick(), if publisher.is_some() => {
                // Local viewers: players attached to the hub (RTMP, HTTP-FLV), and HLS viewer
                // sessions (open until their requests stop for a few seconds). The HLS
                // packager's own reader is no viewer: it stays a minute after its last request.
                let readers = publisher
                    .as_ref()
                    .map_or(0, |p| p.stats().readers.load(Ordering::Relaxed));
                let packager = u64::from(inner.hls.is_packaging(playback_id));
                let watched = readers > packager || inner.viewers.open_sessions(playback_id) > 0;
                if watched {
                    idle_since = None;
                } else {
                    let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= inner.config.linger {
                        return Ok(Ended::NoViewers);
                    }
                }
                if let Some(rx) = stop.as_mut() {
                    if rx.has_changed().unwrap_or(false) && rx.borrow_and_update().is_some() {
                        return Ok(Ended::Stopped);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::authority;

    #[test]
    fn authorities() {
        assert_eq!(
            authority("rtmp://10.0.0.5:1936").as_deref(),
            Some("10.0.0.5:1936")
        );
        assert_eq!(
            authority("rtmp://origin.example/").as_deref(),
            Some("origin.example:1935")
        );
        assert_eq!(
            authority("rtmp://[::1]:1935").as_deref(),
            Some("[::1]:1935")
        );
        assert_eq!(authority("rtmp://[::1]").as_deref(), Some("[::1]:1935"));
        assert_eq!(authority("http://x"), None);
        assert_eq!(authority("rtmp://"), None);
    }
}
