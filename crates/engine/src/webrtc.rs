//! WebRTC (RFC 9725): playback (WHEP) of any live H.264 stream, to a browser, in well under a
//! second, and ingest (WHIP) from a browser into the hub (see `ingest` below: H.264 kept,
//! Opus transcoded to AAC, a keyframe asked for every [`WHIP_KEYFRAME_EVERY`]).
//!
//! A player posts its SDP offer to `POST /whep/<playback_id>`; [`WebRtc::play`] answers it with a
//! session of the sans-I/O [`str0m`] stack in ICE-lite mode, whose host candidate is this
//! node's WebRTC UDP socket (`FERROCAST_WEBRTC_ADDR`), with ICE-TCP beside it (below). Every session shares that socket: a
//! router reads each datagram and hands it to its session — by the ICE username of a STUN
//! request (`<our ufrag>:<theirs>`), then by the address it came from. Each session is a task
//! that owns its `Rtc`, reads the stream from the hub, and writes:
//!
//! - **video** as it came (H.264, passed through): each access unit converted from AVCC to
//!   Annex B, with the SPS and PPS before every keyframe; a session starts at the GOP cache's
//!   keyframe, so the picture appears at once;
//! - **audio** as Opus, transcoded from the stream's AAC by one ffmpeg per stream, shared by all
//!   its WebRTC viewers ([`OpusFeed`]), started with the first and stopped after the last.
//!
//! **ICE over TCP** (RFC 6544, framed per RFC 4571) for players and publishers whose network
//! blocks UDP: the node also listens on the same port number over TCP and offers it as a
//! second, passive host candidate (browsers prefer UDP and use TCP only when UDP fails). Each
//! TCP connection is routed like the UDP socket's datagrams, by the ICE username of its first
//! STUN request; one that sends anything else first, a frame larger than [`MAX_TCP_FRAME`], or
//! nothing for [`TCP_IDLE`] is closed.
//!
//! A session ends when the stream ends, the player leaves (`DELETE`, ICE disconnection, 30 s
//! without a connection), or falls so far behind that the hub drops it. Encoders must not send
//! B-frames for WebRTC (browsers' WebRTC decoders do not reorder frames); ferrocast's
//! recommended OBS settings have none.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrocast_hub::{FrameKind, Hub, ReadEnd};
use ferrocast_media::avc::AvcDecoderConfig;
use ferrocast_media::flv::{VideoCodec, VideoPacket, VideoTag};
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, mpsc, oneshot};

/// A session that has not connected within this long is dropped.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Sessions at most per node.
pub const MAX_SESSIONS: usize = 2000;
/// The largest SDP offer taken.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;
/// Datagrams queued for one session at most (more are dropped, as the network would).
const INBOX: usize = 256;
/// The largest packet taken over ICE-TCP (a STUN, DTLS or SRTP packet fits in an MTU).
pub const MAX_TCP_FRAME: usize = 2048;
/// An ICE-TCP connection that sends nothing for this long is closed (browsers send a STUN
/// consent check every few seconds and RTCP besides).
pub const TCP_IDLE: Duration = Duration::from_secs(30);

/// Why a player cannot have a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhepError {
    /// The stream is not live.
    #[error("no live stream has this playback id")]
    NotLive,
    /// The stream is not H.264 (WebRTC passes video through).
    #[error("WebRTC playback needs H.264 video; this stream is {0}: play it over HLS")]
    Codec(String),
    /// The offer is not SDP str0m can answer.
    #[error("the SDP offer cannot be answered: {0}")]
    BadOffer(String),
    /// The offer has no video the node can send (a recvonly H.264 section).
    #[error("the SDP offer asks for no H.264 video: offer a recvonly video section with H.264")]
    NoVideo,
    /// Too many sessions on this node.
    #[error("this server has too many WebRTC viewers; play over HLS")]
    Full,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WebRtcStats {
    /// Sessions open now.
    pub sessions: AtomicU64,
    /// Playback (WHEP) sessions answered.
    pub answered: AtomicU64,
    /// Sessions whose ICE and DTLS came up.
    pub connected: AtomicU64,
    /// Browser publishes (WHIP) accepted.
    pub ingests: AtomicU64,
}

/// A packet for a session: how it came (UDP, or an ICE-TCP connection), from where, and what.
type Packet = (Protocol, SocketAddr, Bytes);
type Inbox = mpsc::Sender<Packet>;

#[derive(Default)]
struct Routes {
    /// Our ICE ufrag → (session, its inbox).
    by_ufrag: HashMap<String, (u64, Inbox)>,
    /// A peer's protocol and address → (session, its inbox), learnt from its STUN requests.
    by_addr: HashMap<(Protocol, SocketAddr), (u64, Inbox)>,
    /// Sessions' stop signals.
    stops: HashMap<u64, (String, oneshot::Sender<()>)>,
}

/// The node's WebRTC socket and its sessions. Cheap to clone.
#[derive(Clone)]
pub struct WebRtc {
    socket: Arc<UdpSocket>,
    /// The address in our ICE candidate.
    candidate: SocketAddr,
    /// The address in our ICE-TCP candidate, when the TCP port could be listened on.
    tcp_candidate: Option<SocketAddr>,
    /// Each ICE-TCP connection's outbox, by the peer's address.
    tcp_peers: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>>,
    hub: Hub,
    routes: Arc<Mutex<Routes>>,
    feeds: Arc<Mutex<HashMap<String, broadcast::Sender<OpusPacket>>>>,
    next_id: Arc<AtomicU64>,
    /// Counters.
    pub stats: Arc<WebRtcStats>,
}

impl WebRtc {
    /// Binds the WebRTC UDP socket on `addr` and starts its router. `candidate` is the address
    /// players are told to reach (the bound one when `None`; an unspecified IP becomes
    /// 127.0.0.1). Also listens for ICE-TCP on the same IP and port number; if that port is
    /// taken, WebRTC works over UDP only and a warning says so.
    pub async fn bind(
        addr: SocketAddr,
        candidate: Option<SocketAddr>,
        hub: Hub,
    ) -> std::io::Result<WebRtc> {
        let socket = Arc::new(UdpSocket::bind(addr).await?);
        let local = socket.local_addr()?;
        let mut candidate = candidate.unwrap_or(local);
        if candidate.ip().is_unspecified() {
            candidate.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let tcp = match TcpListener::bind(local).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(addr = %local, error = %e, "ICE over TCP is off (WebRTC works over UDP only): cannot listen on the WebRTC port over TCP");
                None
            }
        };
        let w = WebRtc {
            socket,
            candidate,
            tcp_candidate: tcp.as_ref().map(|_| candidate),
            tcp_peers: Arc::default(),
            hub,
            routes: Arc::default(),
            feeds: Arc::default(),
            next_id: Arc::new(AtomicU64::new(1)),
            stats: Arc::default(),
        };
        tokio::spawn(w.clone().route());
        if let Some(listener) = tcp {
            tokio::spawn(w.clone().accept_tcp(listener));
        }
        Ok(w)
    }

    /// Whether ICE over TCP is offered.
    pub fn tcp_enabled(&self) -> bool {
        self.tcp_candidate.is_some()
    }

    /// Our host candidates: UDP, and passive TCP when listening.
    fn candidates(&self) -> Result<Vec<Candidate>, String> {
        let mut out = vec![Candidate::host(self.candidate, "udp").map_err(|e| e.to_string())?];
        if let Some(addr) = self.tcp_candidate {
            let tcp = Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(TcpType::Passive)
                .build()
                .map_err(|e| e.to_string())?;
            out.push(tcp);
        }
        Ok(out)
    }

    /// The session a packet is for: by the ICE username of a STUN request (then remembering
    /// the peer's address), else by the address.
    fn inbox_for(&self, proto: Protocol, from: SocketAddr, data: &[u8]) -> Option<Inbox> {
        let mut routes = self.routes();
        let by_ufrag = stun_username(data)
            .and_then(|u| u.split(':').next().map(str::to_owned))
            .and_then(|ufrag| routes.by_ufrag.get(&ufrag).cloned());
        match by_ufrag {
            Some(entry) => {
                routes.by_addr.insert((proto, from), entry.clone());
                Some(entry.1)
            }
            None => routes.by_addr.get(&(proto, from)).map(|e| e.1.clone()),
        }
    }

    /// Accepts ICE-TCP connections, each in a task of its own.
    async fn accept_tcp(self, listener: TcpListener) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "ICE-TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let full = self.tcp_peers().len() >= MAX_SESSIONS;
            if full {
                continue;
            }
            tokio::spawn(self.clone().tcp_connection(stream, peer));
        }
    }

    fn tcp_peers(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, mpsc::Sender<Bytes>>> {
        self.tcp_peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One ICE-TCP connection: RFC 4571 frames (a 16-bit length, then the packet) both ways.
    async fn tcp_connection(self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Bytes>(INBOX);
        self.tcp_peers().insert(peer, tx);
        let writer = tokio::spawn(async move {
            let mut frame = BytesMut::new();
            while let Some(packet) = rx.recv().await {
                frame.clear();
                frame.extend_from_slice(&(packet.len() as u16).to_be_bytes());
                frame.extend_from_slice(&packet);
                if wr.write_all(&frame).await.is_err() {
                    return;
                }
            }
        });
        let mut routed = false;
        let mut len = [0u8; 2];
        let mut buf = vec![0u8; MAX_TCP_FRAME];
        loop {
            let read = async {
                rd.read_exact(&mut len).await?;
                let n = usize::from(u16::from_be_bytes(len));
                if n == 0 || n > MAX_TCP_FRAME {
                    return Err(std::io::Error::other(format!("a frame of {n} bytes")));
                }
                rd.read_exact(&mut buf[..n]).await?;
                Ok(n)
            };
            let n = match tokio::time::timeout(TCP_IDLE, read).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "ICE-TCP connection ended");
                    break;
                }
                Err(_) => break,
            };
            let data = &buf[..n];
            match self.inbox_for(Protocol::Tcp, peer, data) {
                Some(inbox) => {
                    routed = true;
                    let _ = inbox.try_send((Protocol::Tcp, peer, Bytes::copy_from_slice(data)));
                }
                // The first packet must be a STUN request for one of our sessions.
                None if !routed => break,
                None => {}
            }
        }
        writer.abort();
        self.tcp_peers().remove(&peer);
        self.routes().by_addr.remove(&(Protocol::Tcp, peer));
    }

    /// Sends one of a session's packets to its peer: over UDP, or framed on its ICE-TCP
    /// connection (dropped, as the network would, when that connection is gone or backed up).
    async fn transmit(&self, proto: Protocol, to: SocketAddr, contents: &[u8]) {
        if proto == Protocol::Tcp {
            let outbox = self.tcp_peers().get(&to).cloned();
            if let Some(outbox) = outbox {
                let _ = outbox.try_send(Bytes::copy_from_slice(contents));
            }
        } else {
            let _ = self.socket.send_to(contents, to).await;
        }
    }

    /// The local address of the UDP socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap_or(self.candidate)
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands each datagram to its session.
    async fn route(self) {
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, from) = match self.socket.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors (a player gone) surface here on some systems.
                    tracing::debug!(error = %e, "WebRTC socket");
                    continue;
                }
            };
            let data = &buf[..n];
            if let Some(inbox) = self.inbox_for(Protocol::Udp, from, data) {
                let _ = inbox.try_send((Protocol::Udp, from, Bytes::copy_from_slice(data)));
            }
        }
    }

    /// Ends session `id` (a player's `DELETE`); whether it was `playback_id`'s.
    pub fn stop(&self, playback_id: &str, id: u64) -> bool {
        let mut routes = self.routes();
        match routes.stops.get(&id) {
            Some((pid, _)) if pid == playback_id => {
                if let Some((_, tx)) = routes.stops.remove(&id) {
                    let _ = tx.send(());
                }
                true
            }
            _ => false,
        }
    }

    /// Answers a player's SDP offer for the live stream `playback_id`: the session's id and the
    /// SDP answer. The session runs until the stream or the player ends.
    pub fn play(&self, playback_id: &str, offer: &str) -> Result<(u64, String), WhepError> {
        let info = self.hub.info(playback_id).ok_or(WhepError::NotLive)?;
        if info.has_video && info.video_codec != Some(7) {
            let codec = match info.video_fourcc {
                Some(f) => String::from_utf8_lossy(&f).into_owned(),
                None => format!("FLV codec {}", info.video_codec.unwrap_or(0)),
            };
            return Err(WhepError::Codec(codec));
        }
        if self.routes().stops.len() >= MAX_SESSIONS {
            return Err(WhepError::Full);
        }
        let reader = self.hub.subscribe(playback_id).ok_or(WhepError::NotLive)?;
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| WhepError::BadOffer(e.to_string()))?;
        let now = Instant::now();
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .build(now);
        for candidate in self.candidates().map_err(WhepError::BadOffer)? {
            rtc.add_local_candidate(candidate);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WhepError::BadOffer(e.to_string()))?
            .to_sdp_string();
        // What the offer asked for: the first video (and audio) section, by its mid in the
        // answer (str0m's MediaAdded events come only once the session is up).
        let mut video = None;
        let mut audio = None;
        let mut kind = "";
        for line in answer.lines() {
            if let Some(m) = line.strip_prefix("m=") {
                kind = m.split(' ').next().unwrap_or("");
            } else if let Some(mid) = line.strip_prefix("a=mid:") {
                let mid = Mid::from(mid.trim());
                match kind {
                    "video" if video.is_none() => video = Some(mid),
                    "audio" if audio.is_none() => audio = Some(mid),
                    _ => {}
                }
            }
        }
        let video = video.ok_or(WhepError::NoVideo)?;
        let h264 = rtc.writer(video).and_then(|w| {
            let params: Vec<_> = w
                .payload_params()
                .filter(|p| p.spec().codec == Codec::H264)
                .map(|p| {
                    let f = p.spec().format;
                    (p.pt(), f.packetization_mode, f.profile_level_id)
                })
                .collect();
            // Non-interleaved packetization (mode 1) first, then the highest profile.
            params
                .iter()
                .filter(|(_, mode, _)| *mode == Some(1))
                .max_by_key(|(_, _, plid)| plid.map_or(0, |p| p >> 16))
                .or(params.first())
                .map(|(pt, _, _)| *pt)
        });
        let Some(h264) = h264 else {
            return Err(WhepError::NoVideo);
        };
        let opus = audio.and_then(|mid| {
            rtc.writer(mid).and_then(|w| {
                w.payload_params()
                    .find(|p| p.spec().codec == Codec::Opus)
                    .map(|p| (mid, p.pt()))
            })
        });
        let ufrag = answer
            .lines()
            .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
            .map(|u| u.trim().to_string())
            .ok_or_else(|| WhepError::BadOffer("the answer has no ICE ufrag".into()))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(INBOX);
        let (stop_tx, stop_rx) = oneshot::channel();
        {
            let mut routes = self.routes();
            routes.by_ufrag.insert(ufrag, (id, tx));
            routes.stops.insert(id, (playback_id.to_string(), stop_tx));
        }
        self.stats.answered.fetch_add(1, Ordering::Relaxed);
        self.stats.sessions.fetch_add(1, Ordering::Relaxed);
        let session = Session {
            rtc,
            video: (video, h264),
            audio: opus,
            playback_id: playback_id.to_string(),
            id,
            web: self.clone(),
            connected: false,
        };
        tokio::spawn(session.run(reader, rx, stop_rx));
        tracing::info!(%playback_id, session = id, "WebRTC playback session answered");
        Ok((id, answer))
    }

    /// Removes a session's routes.
    fn forget(&self, id: u64) {
        let mut routes = self.routes();
        routes.by_ufrag.retain(|_, (s, _)| *s != id);
        routes.by_addr.retain(|_, (s, _)| *s != id);
        routes.stops.remove(&id);
        self.stats.sessions.fetch_sub(1, Ordering::Relaxed);
    }

    /// A subscription to the stream's audio as Opus, starting its transcoder if needed.
    fn opus(&self, playback_id: &str) -> broadcast::Receiver<OpusPacket> {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = feeds.get(playback_id) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(64);
        feeds.insert(playback_id.to_string(), tx.clone());
        let feed = OpusFeed {
            hub: self.hub.clone(),
            playback_id: playback_id.to_string(),
            tx,
            feeds: self.feeds.clone(),
        };
        tokio::spawn(feed.run());
        rx
    }
}

/// The ICE username of a STUN message (RFC 8489 §14.3), if `data` is one with that attribute.
fn stun_username(data: &[u8]) -> Option<&str> {
    if data.len() < 20 || data[0] & 0xC0 != 0 || data[4..8] != [0x21, 0x12, 0xA4, 0x42] {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let body = data.get(20..20 + len)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let alen = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + alen)?;
        if kind == 0x0006 {
            return std::str::from_utf8(value).ok();
        }
        at += 4 + alen.div_ceil(4) * 4;
    }
    None
}

/// One Opus packet of a stream's audio and its RTP time (48 kHz).
#[derive(Debug, Clone)]
struct OpusPacket {
    time: u64,
    data: Bytes,
}

/// A stream's audio as Opus for its WebRTC viewers: ffmpeg decoding the AAC (fed as ADTS) and
/// encoding 20 ms Opus packets (read back from Ogg pages). Ends with the stream or when its
/// last viewer leaves.
struct OpusFeed {
    hub: Hub,
    playback_id: String,
    tx: broadcast::Sender<OpusPacket>,
    feeds: Arc<Mutex<HashMap<String, broadcast::Sender<OpusPacket>>>>,
}

impl OpusFeed {
    async fn run(self) {
        let outcome = self.transcode().await;
        if let Err(e) = outcome {
            tracing::warn!(playback_id = %self.playback_id, "WebRTC audio: {e}");
        }
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        if feeds
            .get(&self.playback_id)
            .is_some_and(|tx| tx.same_channel(&self.tx))
        {
            feeds.remove(&self.playback_id);
        }
    }

    async fn transcode(&self) -> Result<(), String> {
        let mut reader = self
            .hub
            .subscribe(&self.playback_id)
            .ok_or("the stream ended")?;
        let mut child = tokio::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args([
                "-probesize",
                "32",
                "-analyzeduration",
                "0",
                "-fflags",
                "nobuffer",
            ])
            .args(["-f", "aac", "-i", "pipe:0", "-vn"])
            .args(["-c:a", "libopus", "-b:a", "96k", "-ar", "48000", "-ac", "2"])
            .args(["-frame_duration", "20", "-application", "lowdelay"])
            .args(["-page_duration", "20000", "-flush_packets", "1"])
            .args(["-f", "ogg", "pipe:1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start ffmpeg: {e}"))?;
        let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("ffmpeg's pipes are missing".into());
        };
        // The first AAC frame's time places the Opus timeline on the stream's.
        let (first_tx, first_rx) = oneshot::channel::<u32>();
        let tx = self.tx.clone();
        let feeder = tokio::spawn(async move {
            let mut adts = crate::adts::AdtsWriter::new();
            let mut first = Some(first_tx);
            loop {
                let frame = match reader.recv().await {
                    Ok(f) => f,
                    Err(ReadEnd::Ended | ReadEnd::TooSlow) => return,
                };
                let Some(bytes) = adts.frame(&frame) else {
                    continue;
                };
                if let Some(f) = first.take() {
                    let _ = f.send(frame.timestamp);
                }
                if stdin.write_all(&bytes).await.is_err() {
                    return;
                }
                // Nobody listens any more: stop.
                if tx.receiver_count() == 0 {
                    return;
                }
            }
        });
        let base = first_rx.await.map_err(|_| "the stream has no AAC audio")?;
        let mut ogg = OggPackets::default();
        let mut buf = vec![0u8; 16 * 1024];
        let mut time = u64::from(base) * 48;
        let mut header_packets = 2;
        loop {
            let n = match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            ogg.push(&buf[..n]);
            while let Some(packet) = ogg.next_packet() {
                // OpusHead and OpusTags.
                if header_packets > 0 {
                    header_packets -= 1;
                    continue;
                }
                let samples = opus_samples(&packet).unwrap_or(960);
                let _ = self.tx.send(OpusPacket { time, data: packet });
                time += u64::from(samples);
            }
            if self.tx.receiver_count() == 0 {
                break;
            }
        }
        feeder.abort();
        let _ = child.kill().await;
        Ok(())
    }
}

/// Samples (at 48 kHz) in one Opus packet, from its TOC byte (RFC 6716 §3.1).
fn opus_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let per_frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3F),
    };
    Some(per_frame * frames)
}

/// Packets from an Ogg stream (RFC 3533): pages' segments joined until one shorter than 255.
#[derive(Default)]
struct OggPackets {
    buf: BytesMut,
    partial: BytesMut,
    ready: std::collections::VecDeque<Bytes>,
}

impl OggPackets {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        // Whole pages only.
        loop {
            if self.buf.len() < 27 {
                return;
            }
            if &self.buf[..4] != b"OggS" {
                // Lost sync: find the next page.
                match self.buf.windows(4).skip(1).position(|w| w == b"OggS") {
                    Some(p) => {
                        let _ = self.buf.split_to(p + 1);
                        self.partial.clear();
                        continue;
                    }
                    None => {
                        let keep = self.buf.len().saturating_sub(3);
                        let _ = self.buf.split_to(keep);
                        return;
                    }
                }
            }
            let segments = usize::from(self.buf[26]);
            if self.buf.len() < 27 + segments {
                return;
            }
            let lacing: Vec<usize> = self.buf[27..27 + segments]
                .iter()
                .map(|b| usize::from(*b))
                .collect();
            let body_len: usize = lacing.iter().sum();
            if self.buf.len() < 27 + segments + body_len {
                return;
            }
            let page = self.buf.split_to(27 + segments + body_len);
            let mut at = 27 + segments;
            for l in lacing {
                self.partial.extend_from_slice(&page[at..at + l]);
                at += l;
                if l < 255 {
                    let packet = self.partial.split().freeze();
                    self.ready.push_back(packet);
                }
            }
        }
    }

    fn next_packet(&mut self) -> Option<Bytes> {
        self.ready.pop_front()
    }
}

/// A packet the router handed a session, into its `Rtc` (one that is not STUN, DTLS or
/// (S)RTP is dropped); `Err` once the router has dropped the session. It arrived at our
/// candidate of its protocol (`local`: the address players were told, which str0m matches
/// against its candidates).
fn take_datagram(
    rtc: &mut Rtc,
    local: SocketAddr,
    packet: Option<Packet>,
) -> Result<Option<Result<(), str0m::RtcError>>, End> {
    let (proto, from, data) = packet.ok_or(End::Left)?;
    Ok(Receive::new(proto, from, local, &data)
        .ok()
        .map(|r| rtc.handle_input(Input::Receive(Instant::now(), r))))
}

/// Sends what `rtc` has to send and notes the session's connection; media it received goes to
/// `media`. The time it next wants to be woken.
async fn pump(
    rtc: &mut Rtc,
    web: &WebRtc,
    connected: &mut bool,
    mut media: Option<&mut Vec<str0m::media::MediaData>>,
) -> Result<Instant, End> {
    loop {
        match rtc.poll_output() {
            Ok(Output::Timeout(t)) => return Ok(t),
            Ok(Output::Transmit(t)) => {
                web.transmit(t.proto, t.destination, &t.contents).await;
            }
            Ok(Output::Event(e)) => match e {
                Event::Connected => {
                    web.stats.connected.fetch_add(1, Ordering::Relaxed);
                    *connected = true;
                }
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                    return Err(End::Disconnected)
                }
                Event::MediaData(d) => {
                    if let Some(m) = media.as_deref_mut() {
                        m.push(d);
                    }
                }
                _ => {}
            },
            Err(e) => return Err(End::Failed(e.to_string())),
        }
    }
}

/// One player's session.
struct Session {
    rtc: Rtc,
    video: (Mid, Pt),
    audio: Option<(Mid, Pt)>,
    playback_id: String,
    id: u64,
    web: WebRtc,
    connected: bool,
}

/// Why a session ended, for the log.
#[derive(Debug)]
enum End {
    StreamEnded,
    TooSlow,
    Left,
    Disconnected,
    NeverConnected,
    Failed(String),
}

impl Session {
    async fn run(
        mut self,
        mut reader: ferrocast_hub::Reader,
        mut inbox: mpsc::Receiver<Packet>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let end = self.drive(&mut reader, &mut inbox, &mut stop).await;
        self.rtc.disconnect();
        self.web.forget(self.id);
        let why = match &end {
            End::Failed(e) => format!("failed: {e}"),
            other => format!("{other:?}"),
        };
        tracing::info!(playback_id = %self.playback_id, session = self.id, %why, "WebRTC playback session ended");
    }

    async fn drive(
        &mut self,
        reader: &mut ferrocast_hub::Reader,
        inbox: &mut mpsc::Receiver<Packet>,
        stop: &mut oneshot::Receiver<()>,
    ) -> End {
        let local = self.web.candidate;
        let started = tokio::time::Instant::now();
        let mut audio = self.audio.map(|_| self.web.opus(&self.playback_id));
        let mut avc: Option<AvcDecoderConfig> = None;
        let mut keyframe_seen = false;
        let mut annexb = BytesMut::new();
        loop {
            let wake = match pump(&mut self.rtc, &self.web, &mut self.connected, None).await {
                Ok(t) => t,
                Err(e) => return e,
            };
            let wake = tokio::time::Instant::from_std(wake);
            let input = tokio::select! {
                _ = &mut *stop => return End::Left,
                d = inbox.recv() => match take_datagram(&mut self.rtc, local, d) {
                    Ok(r) => r,
                    Err(e) => return e,
                },
                _ = tokio::time::sleep_until(wake) => {
                    Some(self.rtc.handle_input(Input::Timeout(Instant::now())))
                }
                _ = tokio::time::sleep_until(started + CONNECT_TIMEOUT), if !self.connected => {
                    return End::NeverConnected
                }
                f = reader.recv(), if self.connected => {
                    let frame = match f {
                        Ok(f) => f,
                        Err(ReadEnd::Ended) => return End::StreamEnded,
                        Err(ReadEnd::TooSlow) => return End::TooSlow,
                    };
                    if frame.kind != FrameKind::Video {
                        None
                    } else {
                        let Ok(tag) = VideoTag::parse(&frame.data) else { continue };
                        if tag.codec != VideoCodec::Avc {
                            continue;
                        }
                        let payload = tag.payload(&frame.data);
                        match tag.packet {
                            VideoPacket::SequenceHeader => {
                                avc = AvcDecoderConfig::parse(payload).ok();
                                None
                            }
                            VideoPacket::CodedFrame => {
                                keyframe_seen |= frame.keyframe;
                                let Some(config) = avc.as_ref().filter(|_| keyframe_seen) else { continue };
                                annexb.clear();
                                if config.avcc_to_annexb(payload, frame.keyframe, &mut annexb).is_err() {
                                    continue;
                                }
                                let pts = i64::from(frame.timestamp) + i64::from(tag.composition_time_ms);
                                let time = MediaTime::new(pts.max(0) as u64 * 90, Frequency::NINETY_KHZ);
                                let (mid, pt) = self.video;
                                self.rtc
                                    .writer(mid)
                                    .map(|w| w.write(pt, Instant::now(), time, annexb.to_vec()))
                            }
                            _ => None,
                        }
                    }
                }
                p = async { match audio.as_mut() { Some(a) => Ok(a.recv().await), None => Err(()) } }, if self.connected && audio.is_some() => {
                    match (p, self.audio) {
                        (Ok(Ok(p)), Some((mid, pt))) if keyframe_seen => {
                            let time = MediaTime::new(p.time, Frequency::FORTY_EIGHT_KHZ);
                            self.rtc
                                .writer(mid)
                                .map(|w| w.write(pt, Instant::now(), time, p.data.to_vec()))
                        }
                        (Ok(Err(broadcast::error::RecvError::Closed)), _) => {
                            // The stream has no (more) AAC audio: video only.
                            audio = None;
                            None
                        }
                        _ => None,
                    }
                }
            };
            if let Some(Err(e)) = input {
                return End::Failed(e.to_string());
            }
        }
    }
}

// ------------------------------------------------------------------------------------ WHIP

/// Why a browser cannot publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhipError {
    /// The offer is not SDP str0m can answer.
    #[error("the SDP offer cannot be answered: {0}")]
    BadOffer(String),
    /// The offer sends no H.264 video.
    #[error("the SDP offer sends no H.264 video: publish H.264 (the browser page prefers it; VP8 and VP9 cannot be restreamed or packaged for HLS)")]
    NoH264,
    /// The stream is live from another encoder.
    #[error("this stream is already live from another encoder")]
    AlreadyLive,
    /// Too many sessions on this node.
    #[error("this server has too many WebRTC sessions")]
    Full,
}

/// How often a WebRTC publisher is asked for a keyframe (browsers send one only when asked):
/// the stream's keyframe interval, which players start at and HLS cuts segments on.
pub const WHIP_KEYFRAME_EVERY: Duration = Duration::from_secs(1);

impl WebRtc {
    /// Answers a browser's SDP offer to publish `grant`'s stream: H.264 video (kept as it is)
    /// and Opus audio (transcoded to AAC), into the hub like an RTMP publisher's, with the
    /// plan's adaptive-bitrate ladder. The session's id and the SDP answer.
    pub fn ingest(
        &self,
        grant: &ferrocast_domain::media::PublishGrant,
        offer: &str,
        transcode: &crate::transcode::Transcoder,
    ) -> Result<(u64, String), WhipError> {
        if self.routes().stops.len() >= MAX_SESSIONS {
            return Err(WhipError::Full);
        }
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| WhipError::BadOffer(e.to_string()))?;
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .build(Instant::now());
        for candidate in self.candidates().map_err(WhipError::BadOffer)? {
            rtc.add_local_candidate(candidate);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WhipError::BadOffer(e.to_string()))?
            .to_sdp_string();
        // The answer keeps only what both sides can do: an H.264 rtpmap in a video section.
        if !answer.lines().any(|l| l.contains(" H264/90000")) {
            return Err(WhipError::NoH264);
        }
        let ufrag = answer
            .lines()
            .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
            .map(|u| u.trim().to_string())
            .ok_or_else(|| WhipError::BadOffer("the answer has no ICE ufrag".into()))?;
        let key = ferrocast_hub::StreamKey {
            playback_id: grant.playback_id.clone(),
            source_id: grant.source_id,
            relay: false,
        };
        let publisher = self
            .hub
            .publish(key.clone())
            .map_err(|_| WhipError::AlreadyLive)?;
        transcode.start(&key, &grant.transcode_ladder);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(INBOX);
        let (stop_tx, stop_rx) = oneshot::channel();
        {
            let mut routes = self.routes();
            routes.by_ufrag.insert(ufrag, (id, tx));
            routes
                .stops
                .insert(id, (grant.playback_id.clone(), stop_tx));
        }
        self.stats.sessions.fetch_add(1, Ordering::Relaxed);
        self.stats.ingests.fetch_add(1, Ordering::Relaxed);
        let session = Ingest {
            rtc,
            publisher,
            id,
            web: self.clone(),
            connected: false,
        };
        tokio::spawn(session.run(rx, stop_rx));
        tracing::info!(playback_id = %grant.playback_id, source_id = grant.source_id, session = id, "WebRTC (WHIP) publish started");
        Ok((id, answer))
    }
}

/// One browser publishing.
struct Ingest {
    rtc: Rtc,
    publisher: ferrocast_hub::Publisher,
    id: u64,
    web: WebRtc,
    connected: bool,
}

/// A track's RTP clock placed on the stream's timeline (ms since the session started): its first
/// packet at its arrival time, later ones by their RTP time.
struct TrackClock {
    base: Option<(u64, u64)>,
    hz: u64,
}

impl TrackClock {
    fn new(hz: u64) -> Self {
        Self { base: None, hz }
    }

    fn ms(&mut self, rtp: u64, arrived_ms: u64) -> u32 {
        let (rtp0, ms0) = *self.base.get_or_insert((rtp, arrived_ms));
        let delta = (rtp.wrapping_sub(rtp0) as i64).max(0) as u64;
        (ms0 + delta * 1000 / self.hz.max(1)) as u32
    }
}

impl Ingest {
    async fn run(mut self, mut inbox: mpsc::Receiver<Packet>, mut stop: oneshot::Receiver<()>) {
        let playback_id = self.publisher.key().playback_id.clone();
        let end = self.drive(&mut inbox, &mut stop).await;
        self.rtc.disconnect();
        self.web.forget(self.id);
        let why = match &end {
            End::Failed(e) => format!("failed: {e}"),
            other => format!("{other:?}"),
        };
        tracing::info!(%playback_id, session = self.id, %why, "WebRTC (WHIP) publish ended");
    }

    async fn drive(
        &mut self,
        inbox: &mut mpsc::Receiver<Packet>,
        stop: &mut oneshot::Receiver<()>,
    ) -> End {
        let local = self.web.candidate;
        let started = Instant::now();
        let connect_by = tokio::time::Instant::now() + CONNECT_TIMEOUT;
        let mut stopped = self.publisher.stop_signal();
        let mut video = TrackClock::new(90_000);
        let mut opus_clock = TrackClock::new(48_000);
        let mut config: Option<(Bytes, Bytes)> = None;
        let mut keyframe_seen = false;
        let mut next_pli = tokio::time::Instant::now();
        let mut aac: Option<AacFromOpus> = None;
        let mut video_mid: Option<Mid> = None;
        let (aac_tx, mut aac_rx) = mpsc::channel::<ferrocast_hub::Frame>(256);
        loop {
            let mut media = Vec::new();
            let wake = match pump(
                &mut self.rtc,
                &self.web,
                &mut self.connected,
                Some(&mut media),
            )
            .await
            {
                Ok(t) => t,
                Err(e) => return e,
            };
            for d in media {
                let arrived = d
                    .network_time
                    .saturating_duration_since(started)
                    .as_millis() as u64;
                match d.params.spec().codec {
                    Codec::H264 => {
                        video_mid = Some(d.mid);
                        if !d.contiguous {
                            next_pli = tokio::time::Instant::now();
                        }
                        let ts = video.ms(d.time.rebase(Frequency::NINETY_KHZ).numer(), arrived);
                        for frame in h264_frames(&d.data, ts, &mut config, &mut keyframe_seen) {
                            self.publisher.push(frame);
                        }
                    }
                    Codec::Opus => {
                        if aac.is_none() {
                            tracing::debug!(session = self.id, "WHIP: first Opus packet");
                        }
                        let ts = opus_clock
                            .ms(d.time.rebase(Frequency::FORTY_EIGHT_KHZ).numer(), arrived);
                        let feed =
                            aac.get_or_insert_with(|| AacFromOpus::start(ts, aac_tx.clone()));
                        feed.push(&d.data);
                    }
                    _ => {}
                }
            }
            let wake = tokio::time::Instant::from_std(wake);
            let input = tokio::select! {
                _ = &mut *stop => return End::Left,
                r = stopped.wait_for(Option::is_some) => {
                    let _ = r;
                    return End::Left;
                }
                d = inbox.recv() => match take_datagram(&mut self.rtc, local, d) {
                    Ok(r) => r,
                    Err(e) => return e,
                },
                _ = tokio::time::sleep_until(wake) => {
                    Some(self.rtc.handle_input(Input::Timeout(Instant::now())))
                }
                _ = tokio::time::sleep_until(connect_by), if !self.connected => {
                    return End::NeverConnected
                }
                _ = tokio::time::sleep_until(next_pli), if self.connected => {
                    // A keyframe every interval: players start on one and HLS cuts on them.
                    if let Some(mut w) = video_mid.and_then(|mid| self.rtc.writer(mid)) {
                        {
                            if w.is_request_keyframe_possible(str0m::media::KeyframeRequestKind::Pli) {
                                let _ = w.request_keyframe(None, str0m::media::KeyframeRequestKind::Pli);
                            }
                        }
                    }
                    next_pli = tokio::time::Instant::now() + WHIP_KEYFRAME_EVERY;
                    None
                }
                f = aac_rx.recv() => {
                    if let Some(f) = f {
                        self.publisher.push(f);
                    }
                    None
                }
            };
            if let Some(Err(e)) = input {
                return End::Failed(e.to_string());
            }
        }
    }
}

/// FLV frames (AVC sequence header when the parameter sets change, then AVCC access units from
/// the first keyframe) of one H.264 access unit in Annex B.
fn h264_frames(
    data: &[u8],
    ts: u32,
    config: &mut Option<(Bytes, Bytes)>,
    keyframe_seen: &mut bool,
) -> Vec<ferrocast_hub::Frame> {
    use ferrocast_media::avc::{annexb_nal_units, nal_type};
    let mut out = Vec::new();
    let nals = annexb_nal_units(data);
    let find = |t: u8| nals.iter().find(|n| n.first().map(|h| h & 0x1F) == Some(t));
    if let (Some(sps), Some(pps)) = (find(nal_type::SPS), find(nal_type::PPS)) {
        let fresh = (Bytes::copy_from_slice(sps), Bytes::copy_from_slice(pps));
        if config.as_ref() != Some(&fresh) {
            if let Ok(record) =
                AvcDecoderConfig::from_parameter_sets(fresh.0.clone(), fresh.1.clone())
            {
                let mut body = BytesMut::from(&[0x17u8, 0, 0, 0, 0][..]);
                record.write(&mut body);
                out.push(ferrocast_hub::Frame::from_tag(
                    FrameKind::Video,
                    ts,
                    body.freeze(),
                ));
                *config = Some(fresh);
            }
        }
    }
    let keyframe = find(nal_type::IDR).is_some();
    *keyframe_seen |= keyframe && config.is_some();
    if !*keyframe_seen {
        return out;
    }
    let mut body = BytesMut::with_capacity(data.len() + 16);
    body.extend_from_slice(&[if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 0]);
    for nal in &nals {
        let t = nal.first().map_or(0, |h| h & 0x1F);
        if t == nal_type::AUD || t == nal_type::SPS || t == nal_type::PPS {
            continue;
        }
        body.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        body.extend_from_slice(nal);
    }
    if body.len() > 5 {
        out.push(ferrocast_hub::Frame::from_tag(
            FrameKind::Video,
            ts,
            body.freeze(),
        ));
    }
    out
}

/// A WebRTC publisher's Opus, transcoded to AAC by ffmpeg (Opus in Ogg on its stdin, ADTS on its
/// stdout) into FLV audio frames on the stream's timeline, from `base_ms`.
struct AacFromOpus {
    stdin: Option<mpsc::Sender<Bytes>>,
    ogg: OggWriter,
}

impl AacFromOpus {
    fn start(base_ms: u32, out: mpsc::Sender<ferrocast_hub::Frame>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(256);
        tokio::spawn(async move {
            let child = tokio::process::Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
                .args([
                    "-probesize",
                    "4096",
                    "-analyzeduration",
                    "0",
                    "-fflags",
                    "nobuffer",
                ])
                .args(["-f", "ogg", "-i", "pipe:0", "-vn"])
                .args(["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"])
                .args(["-f", "adts", "-flush_packets", "1", "pipe:1"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn();
            let Ok(mut child) = child else {
                tracing::warn!("WHIP audio: cannot start ffmpeg; the stream has no sound");
                return;
            };
            let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                return;
            };
            tokio::spawn(async move {
                let mut text = Vec::new();
                let _ = (&mut stderr).take(16 * 1024).read_to_end(&mut text).await;
                if !text.is_empty() {
                    tracing::warn!(
                        "WHIP audio: ffmpeg said: {}",
                        String::from_utf8_lossy(&text).trim()
                    );
                }
            });
            let writer = tokio::spawn(async move {
                while let Some(b) = rx.recv().await {
                    if stdin.write_all(&b).await.is_err() {
                        return;
                    }
                }
            });
            let mut buf = BytesMut::new();
            let mut chunk = vec![0u8; 8192];
            let mut frames = 0u64;
            let mut sent_config = false;
            loop {
                let n = match stdout.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some((asc, rate, frame)) = next_adts(&mut buf) {
                    if !sent_config {
                        let mut body = BytesMut::from(&[0xAFu8, 0][..]);
                        body.extend_from_slice(&asc);
                        let f = ferrocast_hub::Frame::from_tag(
                            FrameKind::Audio,
                            base_ms,
                            body.freeze(),
                        );
                        if out.send(f).await.is_err() {
                            break;
                        }
                        sent_config = true;
                    }
                    let ts = base_ms
                        .wrapping_add((frames * 1024 * 1000 / u64::from(rate.max(1))) as u32);
                    frames += 1;
                    let mut body = BytesMut::from(&[0xAFu8, 1][..]);
                    body.extend_from_slice(&frame);
                    if out
                        .send(ferrocast_hub::Frame::from_tag(
                            FrameKind::Audio,
                            ts,
                            body.freeze(),
                        ))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
            writer.abort();
            let _ = child.kill().await;
        });
        Self {
            stdin: Some(tx),
            ogg: OggWriter::default(),
        }
    }

    fn push(&mut self, opus: &[u8]) {
        // An empty payload (a browser's padding or a lost packet's placeholder) is not an Opus
        // packet, and ffmpeg's Ogg reader stops at one.
        if opus.is_empty() {
            return;
        }
        let Some(tx) = &self.stdin else { return };
        let pages = self.ogg.packet(opus);
        if tx.try_send(pages).is_err() {
            // ffmpeg is gone or far behind: the rest of the stream has no sound.
            self.stdin = None;
        }
    }
}

/// The next ADTS frame in `buf`: the AudioSpecificConfig it implies, the sample rate and the raw
/// AAC frame.
fn next_adts(buf: &mut BytesMut) -> Option<([u8; 2], u32, Bytes)> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    loop {
        if buf.len() < 7 {
            return None;
        }
        if buf[0] != 0xFF || buf[1] & 0xF0 != 0xF0 {
            let _ = buf.split_to(1);
            continue;
        }
        let header_len = if buf[1] & 0x01 == 1 { 7 } else { 9 };
        let len = (usize::from(buf[3] & 0x03) << 11)
            | (usize::from(buf[4]) << 3)
            | usize::from(buf[5] >> 5);
        if len < header_len {
            let _ = buf.split_to(1);
            continue;
        }
        if buf.len() < len {
            return None;
        }
        let frame = buf.split_to(len).freeze();
        let profile = (frame[2] >> 6) + 1;
        let freq = (frame[2] >> 2) & 0x0F;
        let channels = ((frame[2] & 0x01) << 2) | (frame[3] >> 6);
        let asc = [
            (profile << 3) | (freq >> 1),
            ((freq & 1) << 7) | (channels << 3),
        ];
        let rate = RATES.get(usize::from(freq)).copied().unwrap_or(48000);
        return Some((asc, rate, frame.slice(header_len..)));
    }
}

/// Opus packets as an Ogg stream (RFC 7845): the identification and comment headers, then a
/// page per packet.
#[derive(Default)]
struct OggWriter {
    sequence: u32,
    granule: u64,
    started: bool,
}

impl OggWriter {
    fn page(&mut self, header_type: u8, granule: u64, packet: &[u8], out: &mut BytesMut) {
        let start = out.len();
        out.extend_from_slice(b"OggS");
        out.extend_from_slice(&[0, header_type]);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&0x6665_7272u32.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        let mut lacing = vec![255u8; packet.len() / 255];
        lacing.push((packet.len() % 255) as u8);
        out.extend_from_slice(&[lacing.len() as u8]);
        out.extend_from_slice(&lacing);
        out.extend_from_slice(packet);
        let crc = ogg_crc(&out[start..]);
        out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
        self.sequence += 1;
    }

    /// The pages carrying one Opus packet (preceded by the headers the first time).
    fn packet(&mut self, opus: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        if !self.started {
            self.started = true;
            let mut head = Vec::from(&b"OpusHead"[..]);
            head.extend_from_slice(&[1, 2]);
            head.extend_from_slice(&312u16.to_le_bytes());
            head.extend_from_slice(&48_000u32.to_le_bytes());
            head.extend_from_slice(&[0, 0, 0]);
            self.page(2, 0, &head, &mut out);
            let mut tags = Vec::from(&b"OpusTags"[..]);
            tags.extend_from_slice(&9u32.to_le_bytes());
            tags.extend_from_slice(b"ferrocast");
            tags.extend_from_slice(&0u32.to_le_bytes());
            self.page(0, 0, &tags, &mut out);
        }
        // A packet longer than a page can hold is not Opus (at most 1275 bytes a frame).
        let opus = &opus[..opus.len().min(255 * 254)];
        self.granule += u64::from(opus_samples(opus).unwrap_or(960));
        let g = self.granule;
        self.page(0, g, opus, &mut out);
        out.freeze()
    }
}

/// Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, initial 0).
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ogg_pages_we_write_are_read_back_as_the_same_packets() {
        let mut w = OggWriter::default();
        let mut r = OggPackets::default();
        let packets: Vec<Vec<u8>> = vec![vec![0xFC, 1, 2, 3], vec![0x78; 600], vec![0xFC; 255]];
        for p in &packets {
            r.push(&w.packet(p));
        }
        assert_eq!(&r.next_packet().unwrap()[..8], b"OpusHead");
        assert_eq!(&r.next_packet().unwrap()[..8], b"OpusTags");
        for p in &packets {
            assert_eq!(r.next_packet().unwrap().as_ref(), p.as_slice());
        }
        assert!(r.next_packet().is_none());
        // The CRC of a known page (RFC 3533's polynomial): a change flips it.
        let page = w.packet(&[1, 2, 3]);
        let mut bad = page.to_vec();
        bad[30] ^= 1;
        assert_ne!(ogg_crc(&bad), ogg_crc(&page));
    }

    /// ICE-TCP connections that do not start with a STUN request for one of the node's
    /// sessions, or send a frame larger than [`MAX_TCP_FRAME`], are closed at once; the node
    /// offers its TCP candidate beside the UDP one.
    #[tokio::test]
    async fn ice_tcp_refuses_strangers_and_oversized_frames() {
        let web = WebRtc::bind("127.0.0.1:0".parse().unwrap(), None, Hub::default())
            .await
            .unwrap();
        assert!(web.tcp_enabled());
        let candidates: Vec<String> = web
            .candidates()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert!(candidates[1].contains(" tcp ") && candidates[1].contains("tcptype passive"));
        let addr = web.local_addr();
        let stranger = {
            let mut frame = vec![0, 20, 0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
            frame.extend_from_slice(&[7; 12]);
            frame
        };
        for first in [
            stranger,
            vec![0xff, 0xff, 1, 2, 3],
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ] {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(&first).await.unwrap();
            let mut buf = [0u8; 64];
            let read = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await;
            assert!(
                matches!(read, Ok(Ok(0)) | Ok(Err(_))),
                "closed after {first:?}: {read:?}"
            );
        }
        // Nothing is left behind.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(web.tcp_peers().is_empty());
    }

    /// Opus packets (from ffmpeg, as a browser would send them) come out as AAC frames on the
    /// stream's timeline: a sequence header, then a frame every 1024 samples.
    #[tokio::test]
    async fn opus_from_a_browser_becomes_aac() {
        let out = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
            .args([
                "sine=frequency=440:sample_rate=48000",
                "-t",
                "2",
                "-c:a",
                "libopus",
            ])
            .args(["-frame_duration", "20", "-f", "ogg", "pipe:1"])
            .output()
            .expect("ffmpeg");
        let mut r = OggPackets::default();
        r.push(&out.stdout);
        let packets: Vec<Bytes> = std::iter::from_fn(|| r.next_packet()).skip(2).collect();
        assert!(packets.len() >= 95, "{} packets", packets.len());
        let (tx, mut rx) = mpsc::channel(1024);
        let mut feed = AacFromOpus::start(5000, tx);
        // In real time, as a browser sends them: AAC comes out while the stream goes on.
        let mut first = None;
        let began = Instant::now();
        for p in &packets {
            feed.push(p);
            tokio::time::sleep(Duration::from_millis(20)).await;
            if first.is_none() && !rx.is_empty() {
                first = Some(began.elapsed());
            }
        }
        eprintln!("first AAC after {first:?}");
        assert!(
            first.is_some_and(|t| t < Duration::from_secs(1)),
            "{first:?}"
        );
        drop(feed);
        let mut frames = Vec::new();
        while let Ok(Some(f)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            frames.push(f);
        }
        assert!(frames.len() > 80, "{} AAC frames", frames.len());
        assert!(frames[0].sequence_header);
        assert_eq!(frames[0].data[0], 0xAF);
        assert_eq!((frames[1].timestamp, frames[2].timestamp), (5000, 5021));
    }

    #[test]
    fn adts_frames_give_their_config_and_payload() {
        // AAC-LC, 48 kHz (index 3), stereo, 4-byte payload.
        let mut buf = BytesMut::from(&[0xFF, 0xF1, 0x4C, 0x80, 0x01, 0x7F, 0xFC, 1, 2, 3, 4][..]);
        let (asc, rate, frame) = next_adts(&mut buf).unwrap();
        assert_eq!(asc, [0x11, 0x90]);
        assert_eq!(rate, 48000);
        assert_eq!(frame.as_ref(), &[1, 2, 3, 4]);
        assert!(buf.is_empty());
    }

    #[test]
    fn stun_usernames_are_found() {
        let mut m = vec![0, 1, 0, 12, 0x21, 0x12, 0xA4, 0x42];
        m.extend_from_slice(&[0; 12]);
        m.extend_from_slice(&[0, 6, 0, 7]);
        m.extend_from_slice(b"abc:xyz\0");
        assert_eq!(stun_username(&m), Some("abc:xyz"));
        assert_eq!(stun_username(&m[..20]), None);
        assert_eq!(stun_username(b"not stun at all, no"), None);
    }

    #[test]
    fn an_h264_access_unit_becomes_a_sequence_header_and_a_keyframe() {
        let au = [
            0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1F, 0xDA, 0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80, 0, 0, 0,
            1, 0x65, 0x88, 0x84,
        ];
        let mut config = None;
        let mut seen = false;
        let frames = h264_frames(&[0, 0, 0, 1, 0x41, 1], 0, &mut config, &mut seen);
        assert!(frames.is_empty(), "nothing before the first keyframe");
        let frames = h264_frames(&au, 40, &mut config, &mut seen);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].sequence_header);
        assert!(frames[1].keyframe);
        assert_eq!(&frames[1].data[5..], &[0, 0, 0, 3, 0x65, 0x88, 0x84]);
        // The same parameter sets again: no second sequence header.
        assert_eq!(h264_frames(&au, 80, &mut config, &mut seen).len(), 1);
    }
}
