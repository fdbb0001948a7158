//! Viewer sessions at the protocol level, for the creator's analytics: who played which live
//! stream, over which protocol, from where (coarse), and from when to when.
//!
//! - RTMP play and HTTP-FLV are connections: a session is the connection's life
//!   ([`ViewerTracker::connection`] returns a guard; dropping it ends the session).
//! - HLS and LL-HLS are request streams. The stream's playlist URL
//!   (`/hls/<playback_id>/index.m3u8`) answers with a multivariant playlist whose one variant
//!   carries a fresh session id in its path (`v<sid>/index.m3u8`, the design Wowza calls
//!   `chunklist_w<id>`). Players resolve the media playlist's relative segment and part URIs
//!   against that path, so every reload, segment and part a player fetches names its session —
//!   ffmpeg, hls.js and AVPlayer alike, with no cookie and no rewriting of the playlist. A
//!   session starts at its first request and ends when its requests stop for [`HLS_IDLE`]; it
//!   is then dated back to its last request plus half the player's own mean interval between
//!   requests (a player at the live edge leaves, on average, halfway through its request
//!   cycle; [`HLS_TAIL`] when it made too few requests to tell). A session that made a
//!   blocking reload or fetched a part is LL-HLS.
//!
//! Concurrency is read for a window in the past ([`ViewerTracker::window`]): once a window is
//! older than [`HLS_IDLE`], every HLS session in it has its true end, so the count and the peak
//! are exact. Ended sessions are reported on a bounded channel ([`ViewerTracker::take_reports`]);
//! the engine stores nothing itself.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// An HLS session with no request for this long has ended.
pub const HLS_IDLE: Duration = Duration::from_secs(6);
/// What an ended HLS session is credited after its last request when it made too few
/// requests to measure its cycle (half a 1 s target duration).
pub const HLS_TAIL: Duration = Duration::from_millis(500);
/// Requests closer together than this are one burst of the player's cycle (a playlist reload
/// and the segment it names).
const BURST: i64 = 100;
/// Ended sessions kept in memory for [`ViewerTracker::window`].
pub const RECENT: Duration = Duration::from_secs(120);
/// Sessions tracked at most on a node (open and recently ended); more are served, not counted.
pub const MAX_SESSIONS: usize = 200_000;
/// Open HLS sessions counted at most per viewer (address and user agent) and stream: a client
/// that mints sessions in a loop does not inflate the count.
pub const MAX_HLS_PER_VIEWER: usize = 16;
/// Ended sessions waiting to be stored at most; more are dropped (and counted).
pub const REPORT_QUEUE: usize = 65_536;
/// Longest HLS session id accepted.
pub const MAX_SID_LEN: usize = 32;

/// How a viewer plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `rtmp://HOST/play/<playback_id>`.
    Rtmp,
    /// `/live/<playback_id>.flv`.
    HttpFlv,
    /// HLS without partial segments.
    Hls,
    /// Low-Latency HLS: blocking reloads or partial segments.
    LlHls,
}

impl Protocol {
    /// Every protocol, in the order of [`Counts::by_protocol`].
    pub const ALL: [Protocol; 4] = [
        Protocol::Rtmp,
        Protocol::HttpFlv,
        Protocol::Hls,
        Protocol::LlHls,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::HttpFlv => "http_flv",
            Protocol::Hls => "hls",
            Protocol::LlHls => "ll_hls",
        }
    }

    fn index(self) -> usize {
        match self {
            Protocol::Rtmp => 0,
            Protocol::HttpFlv => 1,
            Protocol::Hls => 2,
            Protocol::LlHls => 3,
        }
    }
}

/// Where a viewer watches from, coarsely (no country, no site names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// This site's pages: the watch page and the channel page.
    WatchPage,
    /// This site's embeddable player (`/embed/…`), on whatever site embeds it.
    Embed,
    /// Anything else: VLC, ffmpeg, OBS, a player on another site.
    External,
}

impl Origin {
    /// Every origin, in the order of [`Counts::by_origin`].
    pub const ALL: [Origin; 3] = [Origin::WatchPage, Origin::Embed, Origin::External];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::WatchPage => "watch_page",
            Origin::Embed => "embed",
            Origin::External => "external",
        }
    }

    fn index(self) -> usize {
        match self {
            Origin::WatchPage => 0,
            Origin::Embed => 1,
            Origin::External => 2,
        }
    }

    /// Classifies a request by its `Referer` against the site's own host (the request's
    /// `Host`): this site's `/embed/` is the embed, its other pages the watch page, anything
    /// else (no referrer, another site) external. `None` for the creator's own studio pages
    /// (`/dashboard`), whose preview is not an audience.
    pub fn from_referer(referer: Option<&str>, host: Option<&str>) -> Option<Origin> {
        let (Some(referer), Some(host)) = (referer, host) else {
            return Some(Origin::External);
        };
        let rest = referer
            .strip_prefix("https://")
            .or_else(|| referer.strip_prefix("http://"));
        let Some(rest) = rest else {
            return Some(Origin::External);
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if !authority.eq_ignore_ascii_case(host) {
            return Some(Origin::External);
        }
        if path.starts_with("/embed/") {
            Some(Origin::Embed)
        } else if path == "/dashboard"
            || path.starts_with("/dashboard/")
            || path.starts_with("/dashboard?")
        {
            None
        } else {
            Some(Origin::WatchPage)
        }
    }
}

/// One viewer session that ended, to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    /// The stream.
    pub playback_id: String,
    /// Its publishing session (the hub's generation) when this viewer arrived.
    pub generation: u64,
    /// How it played (for HLS: LL-HLS once it made a low-latency request).
    pub protocol: Protocol,
    /// Where from.
    pub origin: Origin,
    /// Who, as the caller identified them (the server hashes it before storing).
    pub viewer: String,
    /// Unix ms.
    pub started_at_ms: i64,
    /// Unix ms.
    pub ended_at_ms: i64,
}

/// Concurrent viewers by protocol and origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// All of them.
    pub total: u32,
    /// In the order of [`Protocol::ALL`].
    pub by_protocol: [u32; 4],
    /// In the order of [`Origin::ALL`].
    pub by_origin: [u32; 3],
}

/// What a window of time saw of one stream's viewers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// Watching at the window's end.
    pub at_end: Counts,
    /// The most watching at once within the window.
    pub peak: u32,
}

#[derive(Debug, Clone)]
struct Session {
    playback_id: String,
    generation: u64,
    protocol: Protocol,
    origin: Origin,
    viewer: String,
    started_ms: i64,
    /// HLS: the last request; `None` for connections (open until the guard drops).
    last_ms: Option<i64>,
    /// HLS: the sum and number of the intervals between request bursts.
    cycle: (i64, i64),
    /// HLS: when the current burst of requests began.
    burst_ms: i64,
    /// Ended at (set once ended).
    ended_ms: Option<i64>,
}

impl Session {
    /// What this HLS session is credited after its last request: half its mean request
    /// interval.
    fn tail(&self) -> i64 {
        let (sum, n) = self.cycle;
        if n < 3 {
            return HLS_TAIL.as_millis() as i64;
        }
        (sum / n / 2).clamp(BURST / 2, HLS_IDLE.as_millis() as i64 / 2)
    }

    fn covers(&self, t: i64) -> bool {
        self.started_ms <= t && self.ended_ms.is_none_or(|e| t < e)
    }
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Session>,
    /// HLS session ids by (playback id, sid).
    hls: HashMap<(String, String), u64>,
    /// Ended sessions within [`RECENT`], in order of ending.
    recent: VecDeque<Session>,
    /// The last generation seen live per playback id (for viewers of a stream's last segments
    /// after its publisher left).
    generations: HashMap<String, u64>,
    /// Reports dropped because the queue was full.
    dropped_reports: u64,
}

/// The node's viewer sessions. Cheap to clone.
#[derive(Clone)]
pub struct ViewerTracker {
    inner: Arc<Mutex<Inner>>,
    reports: mpsc::Sender<EndedSession>,
    receiver: Arc<Mutex<Option<mpsc::Receiver<EndedSession>>>>,
}

impl Default for ViewerTracker {
    fn default() -> Self {
        Self::new()
    }
}

/// Unix ms now.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Ends its connection's session when dropped.
pub struct ViewerGuard {
    tracker: ViewerTracker,
    id: Option<u64>,
}

impl ViewerGuard {
    /// A guard that tracks nothing (a viewer not counted).
    pub fn none(tracker: &ViewerTracker) -> Self {
        Self {
            tracker: tracker.clone(),
            id: None,
        }
    }
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.tracker.end(id, unix_ms());
        }
    }
}

impl ViewerTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel(REPORT_QUEUE);
        Self {
            inner: Arc::default(),
            reports: tx,
            receiver: Arc::new(Mutex::new(Some(rx))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ended sessions, once: whoever stores them takes the receiver at start.
    pub fn take_reports(&self) -> Option<mpsc::Receiver<EndedSession>> {
        self.receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Reports dropped because nobody took them fast enough.
    pub fn dropped_reports(&self) -> u64 {
        self.lock().dropped_reports
    }

    /// Notes the generation a stream is live with (for viewers arriving after it ended).
    pub fn note_generation(&self, playback_id: &str, generation: u64) {
        let mut inner = self.lock();
        if inner.generations.get(playback_id) != Some(&generation) {
            if inner.generations.len() >= MAX_SESSIONS {
                inner.generations.clear();
            }
            inner
                .generations
                .insert(playback_id.to_string(), generation);
        }
    }

    /// Starts a connection's session (RTMP play, HTTP-FLV); it ends when the guard drops.
    pub fn connection(
        &self,
        playback_id: &str,
        generation: u64,
        protocol: Protocol,
        origin: Origin,
        viewer: String,
    ) -> ViewerGuard {
        let now = unix_ms();
        let mut inner = self.lock();
        inner
            .generations
            .insert(playback_id.to_string(), generation);
        if inner.open.len() + inner.recent.len() >= MAX_SESSIONS {
            return ViewerGuard::none(self);
        }
        inner.next_id += 1;
        let id = inner.next_id;
        inner.open.insert(
            id,
            Session {
                playback_id: playback_id.to_string(),
                generation,
                protocol,
                origin,
                viewer,
                started_ms: now,
                last_ms: None,
                cycle: (0, 0),
                burst_ms: now,
                ended_ms: None,
            },
        );
        ViewerGuard {
            tracker: self.clone(),
            id: Some(id),
        }
    }

    /// Notes one HLS request of session `sid` (a media playlist, segment or part); starts the
    /// session at its first. `generation` is the stream's live generation, if it is live.
    /// Returns whether the request is counted (false past the caps).
    #[allow(clippy::too_many_arguments)]
    pub fn hls_request(
        &self,
        playback_id: &str,
        sid: &str,
        generation: Option<u64>,
        low_latency: bool,
        origin: Origin,
        viewer: &str,
        at_ms: i64,
    ) -> bool {
        if sid.is_empty() || sid.len() > MAX_SID_LEN {
            return false;
        }
        let now = at_ms;
        let mut inner = self.lock();
        let key = (playback_id.to_string(), sid.to_string());
        if let Some(id) = inner.hls.get(&key).copied() {
            if let Some(s) = inner.open.get_mut(&id) {
                // A request after a pause starts a new burst: one cycle since the last burst.
                if s.last_ms.is_some_and(|l| now - l >= BURST) {
                    s.cycle.0 += now - s.burst_ms;
                    s.cycle.1 += 1;
                    s.burst_ms = now;
                }
                s.last_ms = Some(now.max(s.last_ms.unwrap_or(now)));
                if low_latency {
                    s.protocol = Protocol::LlHls;
                }
                return true;
            }
            inner.hls.remove(&key);
        }
        if inner.open.len() + inner.recent.len() >= MAX_SESSIONS {
            return false;
        }
        let same_viewer = inner
            .open
            .values()
            .filter(|s| s.last_ms.is_some() && s.playback_id == playback_id && s.viewer == viewer)
            .count();
        if same_viewer >= MAX_HLS_PER_VIEWER {
            return false;
        }
        let Some(generation) = generation.or_else(|| inner.generations.get(playback_id).copied())
        else {
            return false;
        };
        inner.next_id += 1;
        let id = inner.next_id;
        inner.open.insert(
            id,
            Session {
                playback_id: playback_id.to_string(),
                generation,
                protocol: if low_latency {
                    Protocol::LlHls
                } else {
                    Protocol::Hls
                },
                origin,
                viewer: viewer.to_string(),
                started_ms: now,
                last_ms: Some(now),
                cycle: (0, 0),
                burst_ms: now,
                ended_ms: None,
            },
        );
        inner.hls.insert(key, id);
        true
    }

    fn end(&self, id: u64, at_ms: i64) {
        let mut inner = self.lock();
        if let Some(s) = inner.open.remove(&id) {
            Self::close(&mut inner, &self.reports, s, at_ms);
        }
    }

    fn close(inner: &mut Inner, reports: &mpsc::Sender<EndedSession>, mut s: Session, at_ms: i64) {
        let end = at_ms.max(s.started_ms);
        s.ended_ms = Some(end);
        let report = EndedSession {
            playback_id: s.playback_id.clone(),
            generation: s.generation,
            protocol: s.protocol,
            origin: s.origin,
            viewer: s.viewer.clone(),
            started_at_ms: s.started_ms,
            ended_at_ms: end,
        };
        if reports.try_send(report).is_err() {
            inner.dropped_reports += 1;
        }
        inner.recent.push_back(s);
    }

    /// Ends the HLS sessions idle for [`HLS_IDLE`] at `now_ms` (dated back to their last
    /// request plus [`HLS_TAIL`]) and forgets ended sessions older than [`RECENT`].
    pub fn expire(&self, now_ms: i64) {
        let idle = HLS_IDLE.as_millis() as i64;
        let mut inner = self.lock();
        let gone: Vec<u64> = inner
            .open
            .iter()
            .filter(|(_, s)| s.last_ms.is_some_and(|l| now_ms - l > idle))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(s) = inner.open.remove(&id) {
                let end = s.last_ms.unwrap_or(s.started_ms) + s.tail();
                inner.hls.retain(|_, v| *v != id);
                Self::close(&mut inner, &self.reports, s, end);
            }
        }
        let horizon = now_ms - RECENT.as_millis() as i64;
        while inner
            .recent
            .front()
            .is_some_and(|s| s.ended_ms.is_some_and(|e| e < horizon))
        {
            inner.recent.pop_front();
        }
    }

    /// Ends every open session now (the node is stopping), so they are reported.
    pub fn close_all(&self) {
        let now = unix_ms();
        let mut inner = self.lock();
        let ids: Vec<u64> = inner.open.keys().copied().collect();
        for id in ids {
            if let Some(s) = inner.open.remove(&id) {
                let end = s.last_ms.map_or(now, |l| (l + s.tail()).min(now));
                Self::close(&mut inner, &self.reports, s, end);
            }
        }
        inner.hls.clear();
    }

    /// Sessions of a stream not yet ended.
    pub fn open_sessions(&self, playback_id: &str) -> usize {
        self.lock()
            .open
            .values()
            .filter(|s| s.playback_id == playback_id)
            .count()
    }

    /// The viewers of `playback_id`'s publishing session `generation` within `[from_ms, to_ms]`:
    /// at `to_ms` and at most at once. Exact for windows older than [`HLS_IDLE`] (and newer than
    /// [`RECENT`]); an open HLS session counts up to now.
    pub fn window(&self, playback_id: &str, generation: u64, from_ms: i64, to_ms: i64) -> Window {
        let inner = self.lock();
        let mut w = Window::default();
        // Start and end events of the sessions overlapping the window, for the sweep.
        let mut events: Vec<(i64, i32)> = Vec::new();
        let mine = inner
            .open
            .values()
            .chain(inner.recent.iter())
            .filter(|s| s.playback_id == playback_id && s.generation == generation);
        for s in mine {
            let end = s.ended_ms.unwrap_or(i64::MAX);
            if s.started_ms > to_ms || end <= from_ms {
                continue;
            }
            if s.covers(to_ms) {
                w.at_end.total += 1;
                w.at_end.by_protocol[s.protocol.index()] += 1;
                w.at_end.by_origin[s.origin.index()] += 1;
            }
            events.push((s.started_ms.max(from_ms), 1));
            if end <= to_ms {
                events.push((end, -1));
            }
        }
        // Ends before starts at the same instant: a hand-over is not two at once.
        events.sort_unstable();
        let mut now = 0i32;
        for (_, d) in events {
            now += d;
            w.peak = w.peak.max(now.max(0) as u32);
        }
        w
    }

    /// Runs [`expire`](Self::expire) every second until the runtime stops.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let tracker = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                tracker.expire(unix_ms());
            }
        })
    }

    /// An HLS session id from 80 random bits (the caller's): 16 characters of base 32.
    pub fn sid_from(bytes: [u8; 10]) -> String {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut bits: u128 = 0;
        for b in bytes {
            bits = (bits << 8) | u128::from(b);
        }
        (0..16)
            .map(|i| ALPHABET[((bits >> (75 - 5 * i)) & 31) as usize] as char)
            .collect()
    }
}

/// Whether `sid` looks like one of [`ViewerTracker::sid_from`]'s.
pub fn is_sid(sid: &str) -> bool {
    sid.len() == 16
        && sid
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referer_classifies_the_origin() {
        let host = Some("example.com:8080");
        let o = |r: Option<&str>| Origin::from_referer(r, host);
        assert_eq!(o(None), Some(Origin::External));
        assert_eq!(
            o(Some("http://example.com:8080/watch/abc")),
            Some(Origin::WatchPage)
        );
        assert_eq!(
            o(Some("https://example.com:8080/c/someone")),
            Some(Origin::WatchPage)
        );
        assert_eq!(
            o(Some("http://example.com:8080/embed/abc")),
            Some(Origin::Embed)
        );
        assert_eq!(o(Some("http://example.com:8080/dashboard")), None);
        assert_eq!(
            o(Some("http://other.site/watch/abc")),
            Some(Origin::External)
        );
        assert_eq!(o(Some("garbage")), Some(Origin::External));
    }

    #[test]
    fn sids_are_distinct_and_well_formed() {
        let a = ViewerTracker::sid_from([0; 10]);
        let b = ViewerTracker::sid_from([0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(is_sid(&a) && is_sid(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!is_sid("ABC") && !is_sid("abcdefghijklmno1"));
    }

    #[tokio::test]
    async fn hls_sessions_end_after_their_last_request() {
        let t = ViewerTracker::new();
        let mut reports = t.take_reports().expect("reports");
        assert!(t.hls_request("p", "s1", Some(1), false, Origin::External, "a", unix_ms()));
        assert!(t.hls_request("p", "s1", Some(1), true, Origin::External, "a", unix_ms()));
        assert!(t.hls_request("p", "s2", Some(1), false, Origin::WatchPage, "b", unix_ms()));
        assert_eq!(t.open_sessions("p"), 2);
        let now = unix_ms();
        t.expire(now + 1000);
        assert_eq!(t.open_sessions("p"), 2, "not idle yet");
        t.expire(now + HLS_IDLE.as_millis() as i64 + 1000);
        assert_eq!(t.open_sessions("p"), 0);
        let mut ended = [
            reports.recv().await.expect("one ended"),
            reports.recv().await.expect("two ended"),
        ];
        ended.sort_by(|a, b| a.viewer.cmp(&b.viewer));
        assert_eq!(ended[0].protocol, Protocol::LlHls);
        assert_eq!(ended[1].protocol, Protocol::Hls);
        assert_eq!(ended[1].origin, Origin::WatchPage);
        let d = ended[0].ended_at_ms - ended[0].started_at_ms;
        assert!((450..1000).contains(&d), "credited the tail: {d}");
    }

    #[tokio::test]
    async fn windows_count_exactly() {
        let t = ViewerTracker::new();
        let mut g1 = t.connection("p", 7, Protocol::Rtmp, Origin::External, "a".into());
        let t0 = unix_ms();
        {
            let _g2 = t.connection("p", 7, Protocol::HttpFlv, Origin::Embed, "b".into());
            let _other = t.connection("q", 1, Protocol::HttpFlv, Origin::Embed, "c".into());
            let _old = t.connection("p", 6, Protocol::HttpFlv, Origin::Embed, "d".into());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let w = t.window("p", 7, t0 - 1000, unix_ms());
        assert_eq!(w.peak, 2);
        assert_eq!(w.at_end.total, 1);
        assert_eq!(w.at_end.by_protocol, [1, 0, 0, 0]);
        drop(std::mem::replace(&mut g1, ViewerGuard::none(&t)));
        let w = t.window("p", 7, unix_ms(), unix_ms() + 1);
        assert_eq!((w.peak, w.at_end.total), (0, 0));
        let mut r = t.take_reports().expect("reports");
        let mut n = 0;
        while r.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, 4);
        assert!(t.take_reports().is_none(), "taken once");
    }

    #[tokio::test]
    async fn an_hls_session_is_credited_half_its_request_cycle() {
        let t = ViewerTracker::new();
        let mut reports = t.take_reports().expect("reports");
        let t0 = unix_ms();
        for i in 0..4 {
            // A playlist reload and its segment, every 2 s.
            for extra in [0, 30] {
                let at = t0 + i * 2000 + extra;
                assert!(t.hls_request("p", "s", Some(1), false, Origin::External, "a", at));
            }
        }
        t.expire(t0 + 6030 + HLS_IDLE.as_millis() as i64 + 1);
        let s = reports.recv().await.expect("ended");
        assert_eq!(s.started_at_ms, t0);
        assert_eq!(
            s.ended_at_ms,
            t0 + 6030 + 1000,
            "last request + half of 2 s"
        );
    }

    #[test]
    fn a_client_minting_sessions_is_capped() {
        let t = ViewerTracker::new();
        for i in 0..MAX_HLS_PER_VIEWER {
            assert!(t.hls_request(
                "p",
                &format!("s{i}"),
                Some(1),
                false,
                Origin::External,
                "x",
                unix_ms()
            ));
        }
        assert!(!t.hls_request(
            "p",
            "more",
            Some(1),
            false,
            Origin::External,
            "x",
            unix_ms()
        ));
        assert!(t.hls_request(
            "p",
            "more",
            Some(1),
            false,
            Origin::External,
            "y",
            unix_ms()
        ));
        assert!(
            !t.hls_request("q", "z", None, false, Origin::External, "y", unix_ms()),
            "never live here"
        );
    }
}
