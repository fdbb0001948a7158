//! The RTMP listener: one task per connection driving a sans-I/O [`ServerSession`].
//!
//! Bounded everywhere:
//! - connections are capped per node ([`MAX_CONNECTIONS`]) and per client address (an IPv4
//!   address or an IPv6 /64): [`RtmpConfig::max_connections_per_ip`] in all, of which
//!   [`RtmpConfig::max_pending_per_ip`] not yet past `connect`; a connection over a cap is closed
//!   at accept, counted in [`RtmpStats`] and logged at most once a minute;
//! - the handshake and `connect` must complete within [`HANDSHAKE_TIMEOUT`];
//! - a publisher or an undecided connection that completes no message for
//!   [`RtmpConfig::idle_timeout`] is closed, however many bytes it trickles (players may stay
//!   silent: they rarely send);
//! - a peer that accepts no bytes of a write for [`RtmpConfig::write_timeout`] is closed; the hub's
//!   bounded readers mean a stalled player never slows the publisher;
//! - a protocol violation closes that connection only, with a log line.

use crate::addresses::{AddrLimiter, AddrSlot, Refusal, RefusalLog};
use crate::io::{media_kind, shared_chunks, write_some_vectored, SHARED_STREAM_ID};
pub use crate::rtmp_stats::RtmpStats;
use crate::Engine;
use ferrocast_domain::media::{is_safe_id, PublishDenied};
use ferrocast_hub::{Frame, FrameKind, Publisher, ReadEnd, Reader, StreamKey};
use ferrocast_rtmp::session::{MediaKind, ServerEvent, ServerSession, DEFAULT_OUT_CHUNK_SIZE};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

/// Simultaneous RTMP connections at most.
pub const MAX_CONNECTIONS: usize = 4096;
/// Default of [`RtmpConfig::max_connections_per_ip`]: room for a household's players and an
/// encoder or two behind one address, far below what fills a node.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 32;
/// Default of [`RtmpConfig::max_pending_per_ip`]: players and encoders finish the handshake
/// and `connect` in a round trip or two, so few are ever pending at once.
pub const DEFAULT_MAX_PENDING_PER_IP: usize = 8;
/// Time allowed from accept to a connected session.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`RtmpConfig::idle_timeout`]: a live encoder completes dozens of messages a second.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`RtmpConfig::write_timeout`].
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the publish decision.
pub const AUTHORIZE_TIMEOUT: Duration = Duration::from_secs(10);
pub use crate::io::PLAY_APP;
/// The read buffer each RTMP worker thread shares among its connections.
const READ_BUF: usize = 16 * 1024;
/// Audio frames a player's write may wait for the next video frame (merged writes).
const MAX_HELD_AUDIO: u8 = 4;
/// Frames sent per write at most.
const MAX_BATCH: usize = 64;
/// Settings of the RTMP listener; [`Default`] gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtmpConfig {
    /// Threads that own the connections (see [`default_workers`]).
    pub workers: usize,
    /// Connections at most from one client address (IPv4 address or IPv6 /64); 0: no limit.
    pub max_connections_per_ip: usize,
    /// Connections not yet past `connect` (handshaking) at most from one client address; 0: no
    /// limit.
    pub max_pending_per_ip: usize,
    /// A publisher or undecided connection that completes no message for this long is closed.
    pub idle_timeout: Duration,
    /// A connection that accepts no byte of a pending write for this long is closed.
    pub write_timeout: Duration,
    /// How long an idle worker gathers input before it sleeps in the kernel (see
    /// [`DEFAULT_COALESCE`]); zero: it sleeps at once.
    pub coalesce: Duration,
}

/// Default of [`RtmpConfig::coalesce`]. A worker with nothing left to run waits this long
/// before it blocks in `epoll_wait`, so that the chunks publishers send meanwhile are read in
/// the same wake-up, in fewer and larger reads that the kernel acknowledges less often. It
/// waits only after a turn with two reads or more (in practice, several publishers), so a lone
/// connection (a handshake, one publisher feeding its players) is not held back. 50 publishers
/// send ~3 900 messages a second, and a worker that blocked after each turn woke
/// ~1 100 times a second, finding one to five sockets ready each time; with 5 ms it wakes ~190
/// times (BENCHMARKS.md, "Ingest and fan-out cost"). It adds at most this much to a frame's way
/// through the server (well inside the 30 ms relay target), and nothing to the first input
/// after a quiet spell (the worker is already waiting in the kernel then).
pub const DEFAULT_COALESCE: Duration = Duration::from_millis(5);

impl Default for RtmpConfig {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_pending_per_ip: DEFAULT_MAX_PENDING_PER_IP,
            idle_timeout: IDLE_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            coalesce: DEFAULT_COALESCE,
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Counts a connection in [`RtmpStats::open`] while it lives (also when its task is dropped at
/// shutdown).
struct OpenConnection(Arc<RtmpStats>);

impl OpenConnection {
    fn new(stats: Arc<RtmpStats>) -> Self {
        stats.open.fetch_add(1, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's timeouts (from [`RtmpConfig`]).
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    idle: Duration,
    write: Duration,
}

/// The RTMP worker threads used unless configured: one fewer than the CPU cores, at least one.
/// The spare core serves the HTTP API, HLS, the database and restream decisions; and fewer,
/// busier workers gather more ready connections per wake-up (BENCHMARKS.md: on 2 cores one
/// worker costs ~18 % less CPU than two at ingest-50, and less at 500 players too).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// `n` single-threaded runtimes that own the RTMP connections (as nginx runs its workers): a
/// connection's reads, parsing, fan-out wake-ups and writes stay on one thread with no
/// work-stealing hand-offs, which costs less CPU per publisher than Tokio's shared runtime did.
/// The threads end when `shutdown` turns true.
fn start_workers(
    n: usize,
    coalesce: Duration,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::runtime::Handle> {
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut stop = shutdown.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("rtmp-{i}"))
            .spawn(move || {
                let mut builder = tokio::runtime::Builder::new_current_thread();
                builder.enable_all();
                if !coalesce.is_zero() {
                    // Runs when the worker has nothing left to do, just before it blocks in the
                    // kernel: what arrives during the pause is collected by one epoll_wait. Only
                    // after a turn with two reads or more (many publishers): a lone handshake or
                    // publisher is not held back.
                    builder.on_thread_park(move || {
                        if READS_THIS_TURN.with(|r| r.replace(0)) >= 2 {
                            std::thread::sleep(coalesce);
                        }
                    });
                }
                let rt = match builder.build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start an RTMP worker runtime");
                        return;
                    }
                };
                let _ = tx.send(rt.handle().clone());
                rt.block_on(stopped(&mut stop));
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start an RTMP worker thread");
            continue;
        }
        if let Ok(h) = rx.recv() {
            handles.push(h);
        }
    }
    handles
}

thread_local! {
    /// Reads that returned data on this worker since it last went idle (see
    /// [`RtmpConfig::coalesce`]).
    static READS_THIS_TURN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// The read buffer of every connection on this thread. A connection's bytes are parsed
    /// (copied into their messages) before it yields, so one buffer serves them all: 16 KiB
    /// per thread instead of per publisher and per player.
    static READ_BUFFER: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; READ_BUF].into_boxed_slice());
}

/// What one [`read_shared`] found.
enum Read<R> {
    /// The socket held nothing after all (its readiness was stale).
    Nothing,
    /// The peer closed its side.
    End,
    /// Bytes, and what `parse` made of them.
    Parsed(R),
}

/// Reads what `sock` holds into this thread's shared buffer and hands it to `parse`, which
/// must take everything it needs from the bytes (they are gone once it returns).
///
/// A read that does not fill the buffer has drained the socket, so the socket's readiness is
/// cleared then too, as Tokio's own `read` does: otherwise the next turn would spend a system
/// call to learn that there is nothing more.
fn read_shared<R>(sock: &TcpStream, parse: impl FnOnce(&[u8]) -> R) -> std::io::Result<Read<R>> {
    READ_BUFFER.with(|cell| {
        // Never held across an await: no other connection can be in here meanwhile.
        let mut buf = cell.borrow_mut();
        let mut got = 0;
        let read = sock.try_io(tokio::io::Interest::READABLE, || {
            got = sock.try_read(&mut buf)?;
            if got > 0 && got < buf.len() {
                Err(std::io::ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        match read {
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => Err(e),
            _ if got > 0 => Ok(Read::Parsed(parse(&buf[..got]))),
            Ok(()) => Ok(Read::End),
            Err(_) => Ok(Read::Nothing),
        }
    })
}

/// Accepts RTMP connections until `shutdown` turns true, spreading them over
/// `config.workers` threads.
pub async fn serve(
    engine: Engine,
    listener: TcpListener,
    config: RtmpConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let limiter = AddrLimiter::new(config.max_connections_per_ip, config.max_pending_per_ip);
    let mut refusals = RefusalLog::new("RTMP");
    let stats = engine.rtmp_stats.clone();
    let timeouts = Timeouts {
        idle: config.idle_timeout,
        write: config.write_timeout,
    };
    let workers = start_workers(config.workers.max(1), config.coalesce, &shutdown);
    // Publish decisions (database work) run on the caller's runtime, which owns the pools.
    let main = tokio::runtime::Handle::current();
    let mut next = 0usize;
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "RTMP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => return,
        };
        // Over a cap: the socket is dropped (closed) here, before a byte is read.
        let slot = match limiter.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                bump(match refusal {
                    Refusal::PerAddressPending => &stats.refused_per_address_pending,
                    _ => &stats.refused_per_address,
                });
                refusals.refused(peer, refusal);
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            bump(&stats.refused_node_full);
            refusals.refused(peer, Refusal::NodeFull);
            continue;
        };
        let _ = sock.set_nodelay(true);
        let engine = engine.clone();
        // The socket moves to a worker runtime (re-registered with its reactor).
        let Ok(std_sock) = sock.into_std() else {
            continue;
        };
        let worker = workers.get(next % workers.len().max(1)).cloned();
        next = next.wrapping_add(1);
        let conn_main = main.clone();
        let work = async move {
            let Ok(sock) = TcpStream::from_std(std_sock) else {
                return;
            };
            let _open = OpenConnection::new(engine.rtmp_stats.clone());
            if let Err(reason) = Connection::new(engine, peer, conn_main, slot, timeouts)
                .run(sock)
                .await
            {
                tracing::info!(%peer, %reason, "RTMP connection closed");
            }
            drop(permit);
        };
        match worker {
            // A worker's connections end with its runtime when `shutdown` turns true, so they
            // carry no shutdown future of their own (it would be polled on every wake-up).
            Some(h) => drop(h.spawn(work)),
            None => {
                let mut stop = shutdown.clone();
                drop(main.spawn(async move {
                    tokio::select! {
                        _ = work => {}
                        _ = stopped(&mut stop) => {}
                    }
                }));
            }
        }
    }
}

struct Connection {
    engine: Engine,
    /// The runtime that owns the database pools (publish decisions run there).
    main: tokio::runtime::Handle,
    peer: SocketAddr,
    session: ServerSession,
    publisher: Option<Publisher>,
    player: Option<Reader>,
    /// The player's viewer session (ends when dropped).
    viewer: Option<crate::viewers::ViewerGuard>,
    /// The client's `flashVer` from `connect` (identifies a player as a user agent does).
    flash_ver: String,
    /// This player has received video (so audio can wait for the next video frame).
    seen_video: bool,
    /// Audio frames queued but not yet written.
    held_audio: u8,
    /// A video (or data) frame is queued but not yet written: never held.
    pending_video: bool,
    /// The publisher's stop signal (taken once when publishing starts).
    stop: Option<watch::Receiver<Option<String>>>,
    /// The published stream's timeline across encoder, slate and encoder again.
    tracker: crate::slate::Tracker,
    /// How long the stream stays on the slate if this encoder drops.
    slate: crate::slate::SlateSetting,
    connected: bool,
    /// Buffers queued for the next write (kept to reuse its allocation).
    pending: Vec<bytes::Bytes>,
    /// This connection's place in its client address's counts.
    slot: AddrSlot,
    timeouts: Timeouts,
}

fn kind_of(k: MediaKind) -> FrameKind {
    match k {
        MediaKind::Audio => FrameKind::Audio,
        MediaKind::Video => FrameKind::Video,
        MediaKind::Data => FrameKind::Data,
    }
}

impl Connection {
    fn new(
        engine: Engine,
        peer: SocketAddr,
        main: tokio::runtime::Handle,
        slot: AddrSlot,
        timeouts: Timeouts,
    ) -> Self {
        Self {
            tracker: crate::slate::Tracker::new(),
            slate: crate::slate::SlateSetting::default(),
            engine,
            main,
            peer,
            session: ServerSession::new(),
            publisher: None,
            player: None,
            viewer: None,
            flash_ver: String::new(),
            seen_video: false,
            held_audio: 0,
            pending_video: false,
            stop: None,
            connected: false,
            pending: Vec::new(),
            slot,
            timeouts,
        }
    }

    async fn run(mut self, mut sock: TcpStream) -> Result<(), String> {
        let idle = self.timeouts.idle;
        // One timer for the connection's life, re-armed lazily: input only notes its time, and
        // when the timer fires it moves to the last progress + idle timeout if that is later (a
        // reset per read would touch the timer wheel for every chunk a publisher sends).
        let deadline = tokio::time::sleep(HANDSHAKE_TIMEOUT);
        tokio::pin!(deadline);
        // Progress is a complete message, not a byte: a peer trickling a byte a second makes
        // none. Its time is taken after the events are handled, so time we spend (a publish
        // decision) is not charged to the peer.
        let mut last_progress = tokio::time::Instant::now();
        let mut progressed = false;
        let mut messages = 0u64;
        loop {
            // Merged writes (as SRS does): on a stream with video, audio frames wait for the
            // next video frame (at most MAX_HELD_AUDIO of them, ~85 ms of AAC) and go out in the
            // same system call, which more than halves a player's writes.
            let hold =
                !self.pending_video && self.held_audio > 0 && self.held_audio < MAX_HELD_AUDIO;
            if !hold {
                self.flush(&mut sock).await?;
            }
            let was_connected = self.connected;
            self.handle_events().await?;
            if !hold {
                self.flush(&mut sock).await?;
            }
            if self.session.is_closed() {
                return Ok(());
            }
            if progressed {
                progressed = false;
                last_progress = tokio::time::Instant::now();
            }
            if self.connected && !was_connected {
                last_progress = tokio::time::Instant::now();
                deadline.as_mut().reset(last_progress + idle);
            }
            // Players may stay silent for as long as they watch; everyone else must keep talking.
            let playing = self.player.is_some();
            tokio::select! {
                // `poll_read_ready`, not `readable()`: it spends the task's cooperative budget
                // as a read does, so a publisher whose socket never drains (a backlog, an
                // encoder sending faster than real time) still yields to the thread's other
                // connections.
                r = std::future::poll_fn(|cx| sock.poll_read_ready(cx)) => match r.and_then(|()| read_shared(&sock, |bytes| self.session.handle_input(bytes))) {
                    Ok(Read::Nothing) => continue,
                    Ok(Read::End) => return Ok(()),
                    Ok(Read::Parsed(parsed)) => {
                        READS_THIS_TURN.with(|r| r.set(r.get().saturating_add(1)));
                        if let Err(e) = parsed {
                            // What the session queued on its way out (the `_error` of a refused
                            // connect) goes only if the socket takes it at once: a peer that
                            // does not read cannot hold the connection open.
                            self.try_flush(&sock);
                            return Err(format!("protocol error: {e}"));
                        }
                        let now_messages = self.session.messages_received();
                        if now_messages != messages {
                            messages = now_messages;
                            progressed = true;
                        }
                        // A stop (administrator, plan limit, key rotation) is checked after each
                        // read — a live encoder sends many a second — rather than polled in this
                        // select, which would cost a watch registration per read.
                        if let Some(reason) = self.stop_reason() {
                            let _ = self.session.end_publish(&reason);
                            self.flush(&mut sock).await?;
                            if let Some(p) = self.publisher.take() {
                                tracing::info!(peer = %self.peer, playback_id = %p.key().playback_id, %reason, "publish stopped by the server");
                            }
                            return Ok(());
                        }
                    }
                    Err(e) => return Err(format!("read failed: {e}")),
                },
                _ = &mut deadline, if !playing => {
                    let due = last_progress + idle;
                    if self.connected && due > tokio::time::Instant::now() {
                        deadline.as_mut().reset(due);
                        continue;
                    }
                    let stats = &self.engine.rtmp_stats;
                    return Err(if self.connected {
                        bump(&stats.idle_timeouts);
                        format!("idle timeout: no complete message in {} s", idle.as_secs_f32())
                    } else {
                        bump(&stats.handshake_timeouts);
                        "handshake timeout".into()
                    });
                }
                f = next_frame(&mut self.player), if playing => {
                    // Send this frame and whatever else is already waiting, then write once.
                    let mut next = Some(f);
                    let mut batch = 0;
                    while let Some(f) = next.take() {
                        match f {
                            Ok(frame) => {
                                self.send_frame(&frame)?;
                                match frame.kind {
                                    FrameKind::Video => {
                                        self.seen_video = true;
                                        self.pending_video = true;
                                    }
                                    FrameKind::Audio if self.seen_video => {
                                        self.held_audio = self.held_audio.saturating_add(1)
                                    }
                                    _ => self.pending_video = true,
                                }
                            }
                            Err(end) => {
                                self.player = None;
                                self.viewer = None;
                                let _ = self.session.send_stream_eof();
                                self.flush(&mut sock).await?;
                                return if end == ReadEnd::TooSlow { Err("player too slow".into()) } else { Ok(()) };
                            }
                        }
                        batch += 1;
                        if batch < MAX_BATCH {
                            next = self.player.as_mut().and_then(Reader::try_recv);
                        }
                    }
                }
            }
        }
    }

    /// The reason this publisher was asked to stop, if it was.
    fn stop_reason(&mut self) -> Option<String> {
        let rx = self.stop.as_mut()?;
        if !rx.has_changed().unwrap_or(false) {
            return None;
        }
        rx.borrow_and_update().clone()
    }

    /// Queues one frame for this player: the chunked form shared by every player (made once per
    /// frame by whichever player gets there first) when this session can use it, else its own.
    fn send_frame(&mut self, frame: &Frame) -> Result<(), String> {
        let kind = media_kind(frame.kind);
        let shareable = self.session.play_stream_id() == Some(SHARED_STREAM_ID)
            && self.session.out_chunk_size() == DEFAULT_OUT_CHUNK_SIZE;
        if shareable {
            if let Some(chunks) = shared_chunks(frame) {
                return self
                    .session
                    .send_chunked(kind, chunks)
                    .map_err(|e| e.to_string());
            }
        }
        self.session
            .send_media(kind, frame.timestamp, &frame.data)
            .map_err(|e| e.to_string())
    }

    /// Writes everything the session queued, gathering the buffers into vectored writes (one
    /// system call for many frames, no copying; the list is reused, not reallocated).
    ///
    /// A peer that accepts no byte for the write timeout is dropped; one that accepts slowly
    /// but steadily is not (it falls behind in the hub instead, which skips it ahead to a
    /// keyframe or, if it keeps falling behind, disconnects it).
    async fn flush(&mut self, sock: &mut TcpStream) -> Result<(), String> {
        self.held_audio = 0;
        self.pending_video = false;
        self.pending.clear();
        while let Some(out) = self.session.poll_transmit() {
            self.pending.push(out);
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let stall = self.timeouts.write;
        match write_all_with_progress(sock, &mut self.pending, stall).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                bump(&self.engine.rtmp_stats.write_timeouts);
                Err(format!(
                    "write stalled: the peer accepted no data for {} s",
                    stall.as_secs_f32()
                ))
            }
            Err(e) => Err(format!("write failed: {e}")),
        }
    }

    /// Writes what the session queued as far as the socket takes it without waiting; the rest
    /// is dropped (the connection is about to close).
    fn try_flush(&mut self, sock: &TcpStream) {
        while let Some(out) = self.session.poll_transmit() {
            match sock.try_write(&out) {
                Ok(n) if n == out.len() => {}
                _ => return,
            }
        }
    }

    async fn handle_events(&mut self) -> Result<(), String> {
        while let Some(ev) = self.session.poll_event() {
            match ev {
                ServerEvent::Connected { flash_ver, .. } => {
                    self.flash_ver = flash_ver.unwrap_or_default();
                    self.connected = true;
                    self.slot.connected();
                }
                ServerEvent::PublishRequested {
                    request,
                    app,
                    stream_key,
                    ..
                } => {
                    if self.publisher.is_some() || self.player.is_some() {
                        self.engine.rtmp_stats.publish_refused("busy");
                        let _ = self
                            .session
                            .reject_publish(request, "this connection is already in use");
                        continue;
                    }
                    if let Err(denied) = self.engine.authorizer.admit_publisher(self.peer.ip()) {
                        tracing::warn!(peer = %self.peer, %app, reason = %denied, "publish refused");
                        let _ = self.session.reject_publish(request, &denied.to_string());
                        continue;
                    }
                    let authorizer = self.engine.authorizer.clone();
                    let (a, k) = (app.clone(), stream_key.clone());
                    let decision = tokio::time::timeout(
                        AUTHORIZE_TIMEOUT,
                        self.main
                            .spawn(async move { authorizer.authorize(&a, &k).await }),
                    )
                    .await
                    .map(|joined| joined.unwrap_or(Err(PublishDenied::Unavailable)));
                    let grant = match decision {
                        Ok(Ok(grant)) => grant,
                        Ok(Err(denied)) => {
                            self.engine.rtmp_stats.publish_refused(denied.reason());
                            tracing::warn!(peer = %self.peer, %app, reason = %denied, "publish refused");
                            let _ = self.session.reject_publish(request, &denied.to_string());
                            continue;
                        }
                        Err(_) => {
                            self.engine.rtmp_stats.publish_refused("unavailable");
                            tracing::warn!(peer = %self.peer, %app, "publish refused: authorisation timed out");
                            let _ = self
                                .session
                                .reject_publish(request, &PublishDenied::Unavailable.to_string());
                            continue;
                        }
                    };
                    let key = StreamKey {
                        playback_id: grant.playback_id.clone(),
                        source_id: grant.source_id,
                        relay: false,
                    };
                    // The stream may be on the slate after this encoder (or another) dropped:
                    // then it is taken back, readers and destinations untouched.
                    let held = {
                        let (slates, id) = (self.engine.slates.clone(), key.playback_id.clone());
                        self.main
                            .spawn(async move { slates.take(&id).await })
                            .await
                            .ok()
                            .flatten()
                    };
                    let published = match held {
                        Some((p, mut tracker)) => {
                            tracker.begin_input();
                            self.tracker = tracker;
                            Ok(p)
                        }
                        None => {
                            self.tracker = crate::slate::Tracker::new();
                            let published = self.engine.hub.publish(key.clone());
                            if published.is_ok() {
                                let (t, ladder) = (
                                    self.engine.transcode.clone(),
                                    grant.transcode_ladder.clone(),
                                );
                                self.main.spawn(async move { t.start(&key, &ladder) });
                            }
                            published
                        }
                    };
                    self.slate = crate::slate::SlateSetting::of(&grant);
                    match published {
                        Ok(p) => {
                            self.session
                                .accept_publish(request)
                                .map_err(|e| e.to_string())?;
                            bump(&self.engine.rtmp_stats.publishes);
                            tracing::info!(peer = %self.peer, playback_id = %grant.playback_id, source_id = grant.source_id, "publish started");
                            self.stop = Some(p.stop_signal());
                            self.publisher = Some(p);
                        }
                        Err(e) => {
                            self.engine.rtmp_stats.publish_refused("busy");
                            tracing::warn!(peer = %self.peer, playback_id = %grant.playback_id, "publish refused: {e}");
                            let _ = self.session.reject_publish(
                                request,
                                "this stream is already live from another encoder",
                            );
                        }
                    }
                }
                ServerEvent::PlayRequested {
                    request,
                    app,
                    name,
                    query,
                } => {
                    if app != PLAY_APP || !is_safe_id(&name) {
                        let _ = self
                            .session
                            .reject_play(request, "play rtmp://HOST/play/<playback id>");
                        continue;
                    }
                    // Another node pulling this stream to relay it: it gated its own viewers,
                    // and it is not a viewer here.
                    let node_pull = self.engine.authorizer.node_pull(&name, query.as_deref());
                    // A gated stream plays only to an entitled viewer's token.
                    let authorizer = self.engine.authorizer.clone();
                    let (n, q, ip) = (name.clone(), query.clone(), self.peer.ip());
                    let decision = match node_pull {
                        true => Ok(Ok(Ok(()))),
                        false => {
                            tokio::time::timeout(
                                AUTHORIZE_TIMEOUT,
                                self.main.spawn(async move {
                                    authorizer.authorize_play(&n, q.as_deref(), ip).await
                                }),
                            )
                            .await
                        }
                    };
                    match decision {
                        Ok(Ok(Ok(()))) => {}
                        Ok(Ok(Err(reason))) => {
                            tracing::info!(peer = %self.peer, playback_id = %name, %reason, "play refused");
                            let _ = self.session.reject_play(request, &reason);
                            continue;
                        }
                        _ => {
                            let _ = self
                                .session
                                .reject_play(request, "temporarily unavailable, try again");
                            continue;
                        }
                    }
                    // A stream another node holds is pulled here first (never for a node's
                    // pull: a relay is not relayed on).
                    if !node_pull && !self.engine.hub.is_live(&name) {
                        if let Some(relays) = self.engine.relays.clone() {
                            let n = name.clone();
                            let _ = self
                                .main
                                .spawn(async move { relays.ensure(&n).await })
                                .await;
                        }
                    }
                    match self.engine.hub.subscribe(&name) {
                        Some(reader) if self.publisher.is_none() => {
                            self.session
                                .accept_play(request)
                                .map_err(|e| e.to_string())?;
                            tracing::info!(peer = %self.peer, playback_id = %name, node_pull, "play started");
                            self.viewer = (!node_pull).then(|| {
                                self.engine.viewers.connection(
                                    &name,
                                    reader.generation(),
                                    crate::viewers::Protocol::Rtmp,
                                    crate::viewers::Origin::External,
                                    format!("{}|{}", self.peer.ip(), self.flash_ver),
                                )
                            });
                            self.player = Some(reader);
                        }
                        _ => {
                            let _ = self
                                .session
                                .reject_play(request, "no live stream with that playback id");
                        }
                    }
                }
                ServerEvent::Media {
                    kind,
                    timestamp,
                    payload,
                } => {
                    if let Some(p) = &self.publisher {
                        let frame = Frame::from_tag(kind_of(kind), timestamp, payload);
                        if let Some(frame) = self.tracker.admit(frame) {
                            p.push(frame);
                        }
                    }
                }
                ServerEvent::Unpublished => {
                    self.stop = None;
                    if let Some(p) = self.publisher.take() {
                        tracing::info!(peer = %self.peer, playback_id = %p.key().playback_id, "publish ended");
                    }
                }
                ServerEvent::PlayStopped => {
                    self.player = None;
                    self.viewer = None;
                }
                ServerEvent::Closed => {}
            }
        }
        Ok(())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(p) = self.publisher.take() {
            tracing::info!(peer = %self.peer, playback_id = %p.key().playback_id, "publisher disconnected without unpublishing");
            // Unless the server stopped it or the source turned the slate off, the stream goes
            // on the slate until the encoder comes back or the grace period ends.
            let tracker = std::mem::take(&mut self.tracker);
            self.engine.slates.hold(&self.main, p, tracker, &self.slate);
        }
    }
}

/// Writes every buffer, failing with [`std::io::ErrorKind::TimedOut`] once the peer has
/// accepted no byte for `stall` (the time counts from the last write that made progress, not
/// from the start: a large batch to a slow but live peer is fine).
async fn write_all_with_progress<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut [bytes::Bytes],
    stall: Duration,
) -> std::io::Result<()> {
    while bufs.iter().any(|b| !b.is_empty()) {
        match tokio::time::timeout(stall, write_some_vectored(w, bufs)).await {
            Ok(r) => drop(r?),
            Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
        }
    }
    Ok(())
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn next_frame(player: &mut Option<Reader>) -> Result<Frame, ReadEnd> {
    match player {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_peer_that_accepts_nothing_times_out() {
        let (mut w, _r) = tokio::io::duplex(1024);
        let mut bufs = vec![bytes::Bytes::from(vec![1u8; 4096])];
        let e = write_all_with_progress(&mut w, &mut bufs, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_slow_but_steady_peer_does_not() {
        // The reader takes 1 KiB every 20 ms: 64 KiB take over a second, more than the stall
        // timeout, but no single wait comes near it.
        let (mut w, mut r) = tokio::io::duplex(1024);
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = [0u8; 1024];
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match r.read(&mut buf).await.unwrap() {
                    0 => return got,
                    n => got += n,
                }
            }
        });
        let mut bufs: Vec<_> = (0..16)
            .map(|i| bytes::Bytes::from(vec![i as u8; 4096]))
            .collect();
        write_all_with_progress(&mut w, &mut bufs, Duration::from_secs(1))
            .await
            .unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap(), 64 * 1024);
        assert!(bufs.iter().all(|b| b.is_empty()));
    }
}
