//! Creator analytics of live broadcasts: the engine's viewer sessions
//! ([`ferrocast_engine::viewers`]) stored per broadcast, and each broadcast's concurrent
//! viewers sampled every [`SAMPLE_EVERY`].
//!
//! Samples are taken [`SAMPLE_DELAY`] behind real time: by then every HLS session that ended
//! in the sampled interval is known to have ended at its last request, so the count and the
//! interval's peak are exact rather than inflated by players that left but were not yet
//! timed out. Viewers are identified by a keyed hash of their address and user agent
//! ([`ViewerKeys`]): equal for the same viewer (unique counts), and not reversible without
//! the node's master key (no address is stored).

use ferrocast_db::analytics::{ViewerSampleRow, ViewerSessionRow};
use ferrocast_db::Db;
use ferrocast_engine::viewers::{unix_ms, EndedSession, ViewerTracker, HLS_IDLE};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a live broadcast's concurrent viewers are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How far behind real time samples are taken (longer than an HLS session's idle timeout).
pub const SAMPLE_DELAY: Duration = Duration::from_millis(HLS_IDLE.as_millis() as u64 + 2_000);
/// How long after a broadcast ends its viewers are still sampled at most (HLS players play
/// its last segments; see `ferrocast_engine::hls::KEEP_AFTER_OFFLINE`).
pub const SAMPLE_AFTER_END: Duration = Duration::from_secs(60);
/// How long an ended session whose broadcast is not known yet is kept for another try.
const UNRESOLVED_FOR: Duration = Duration::from_secs(60);
/// Broadcasts remembered after they end, for their late viewer sessions.
const REMEMBER_AFTER_END: i64 = 10 * 60_000;
/// Rows written at once at most.
const BATCH: usize = 500;
/// Samples waiting for the writer at most (a round of 1 000 live broadcasts); beyond that a
/// sample is dropped, and its broadcast's chart has a gap there.
const SAMPLE_QUEUE: usize = 1000;
/// How long the writer gathers a round's samples once the first arrives (every broadcast is
/// sampled at the same instants, so they come within milliseconds of each other).
const SAMPLE_GATHER: Duration = Duration::from_millis(250);

/// Keyed hashes of viewers.
#[derive(Clone)]
pub struct ViewerKeys {
    key: [u8; 32],
}

impl ViewerKeys {
    /// Keys derived from the node's master key.
    pub fn derive(master_key: &[u8; 32]) -> Self {
        Self {
            key: ferrocast_auth::secretbox::derive_key(master_key, "viewer-key-hmac-sha256"),
        }
    }

    /// HMAC-SHA-256 of a viewer's identity, the first 16 bytes in hex.
    pub fn hash(&self, viewer: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("invariant: HMAC takes any key length");
        mac.update(viewer.as_bytes());
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes()[..16])
    }
}

/// The identity a viewer is counted by: the client address and what it says it is.
pub fn viewer_identity(ip: std::net::IpAddr, agent: Option<&str>) -> String {
    let agent: String = agent.unwrap_or("").chars().take(256).collect();
    format!("{ip}|{agent}")
}

#[derive(Clone, Copy)]
struct Known {
    id: i64,
    ended_at: Option<i64>,
}

/// The broadcasts (`stream_sessions` ids) of the publishing sessions of this node, by playback
/// id and the hub's generation, and their samplers' rows on the way to the database.
pub struct Broadcasts {
    map: Mutex<HashMap<(String, u64), Known>>,
    samples: mpsc::Sender<ViewerSampleRow>,
    writer: Mutex<Option<mpsc::Receiver<ViewerSampleRow>>>,
}

impl Default for Broadcasts {
    fn default() -> Self {
        let (samples, writer) = mpsc::channel(SAMPLE_QUEUE);
        Self {
            map: Mutex::default(),
            samples,
            writer: Mutex::new(Some(writer)),
        }
    }
}

impl Broadcasts {
    /// The samplers' rows, for [`store_samples`] (once).
    pub fn take_samples(&self) -> Option<mpsc::Receiver<ViewerSampleRow>> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u64), Known>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A publishing session's broadcast started (or continues in a new row, after it was
    /// closed as stale).
    pub fn started(&self, playback_id: &str, generation: u64, id: i64) {
        let now = unix_ms();
        let mut map = self.lock();
        map.retain(|_, k| k.ended_at.is_none_or(|e| now - e < REMEMBER_AFTER_END));
        map.insert(
            (playback_id.to_string(), generation),
            Known { id, ended_at: None },
        );
    }

    /// A publishing session ended.
    pub fn ended(&self, playback_id: &str, generation: u64, at_ms: i64) {
        if let Some(k) = self.lock().get_mut(&(playback_id.to_string(), generation)) {
            k.ended_at.get_or_insert(at_ms);
        }
    }

    fn get(&self, playback_id: &str, generation: u64) -> Option<Known> {
        self.lock()
            .get(&(playback_id.to_string(), generation))
            .copied()
    }
}

/// Stores the viewer sessions the engine reports, in batches, until the tracker goes away.
pub async fn store_sessions(
    db: Db,
    mut reports: mpsc::Receiver<EndedSession>,
    broadcasts: std::sync::Arc<Broadcasts>,
    keys: ViewerKeys,
) {
    let mut waiting: Vec<(EndedSession, std::time::Instant)> = Vec::new();
    loop {
        let first = if waiting.is_empty() {
            match reports.recv().await {
                Some(r) => Some(r),
                None => return,
            }
        } else {
            match tokio::time::timeout(Duration::from_secs(1), reports.recv()).await {
                Ok(Some(r)) => Some(r),
                Ok(None) => return,
                Err(_) => None,
            }
        };
        let mut batch: Vec<(EndedSession, std::time::Instant)> = std::mem::take(&mut waiting);
        if let Some(r) = first {
            batch.push((r, std::time::Instant::now()));
        }
        while batch.len() < BATCH {
            match reports.try_recv() {
                Ok(r) => batch.push((r, std::time::Instant::now())),
                Err(_) => break,
            }
        }
        let mut rows = Vec::with_capacity(batch.len());
        for (r, since) in batch {
            match broadcasts.get(&r.playback_id, r.generation) {
                Some(k) => rows.push(ViewerSessionRow {
                    stream_session_id: k.id,
                    protocol: r.protocol.as_str().to_string(),
                    origin: r.origin.as_str().to_string(),
                    viewer_key: keys.hash(&r.viewer),
                    started_at: r.started_at_ms,
                    ended_at: r.ended_at_ms,
                }),
                // Its broadcast is being recorded right now (the viewer came at the very start),
                // or belongs to no recorded broadcast.
                None if since.elapsed() < UNRESOLVED_FOR => waiting.push((r, since)),
                None => tracing::debug!("a viewer session of an unknown broadcast was not stored"),
            }
        }
        if rows.is_empty() {
            continue;
        }
        // A failed write is tried again once; analytics never hold up anything else.
        if let Err(e) = db.insert_viewer_sessions(&rows).await {
            tracing::warn!(error = %e, "cannot store viewer sessions; retrying once");
            tokio::time::sleep(Duration::from_secs(2)).await;
            if let Err(e) = db.insert_viewer_sessions(&rows).await {
                tracing::warn!(error = %e, sessions = rows.len(), "viewer sessions lost");
            }
        }
        // Waiting ones are looked at again within a second.
        if !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// What the sampler of one broadcast needs.
pub struct SampleTarget {
    /// The stream.
    pub playback_id: String,
    /// Its publishing session.
    pub generation: u64,
    /// Its source (for the watch page's presence count).
    pub source_id: i64,
    /// When it started (Unix ms).
    pub started_at: i64,
}

/// Stores the samplers' rows, a round at a time (one statement per 100 of them), until the
/// broadcasts go away.
pub async fn store_samples(db: Db, mut rows: mpsc::Receiver<ViewerSampleRow>) {
    while let Some(round) = super::rounds::next_round(&mut rows, SAMPLE_GATHER, BATCH).await {
        // A failed write is tried again once, then row by row, so that one row the database
        // refuses (its broadcast erased with its account meanwhile) costs only itself;
        // analytics never hold up anything else.
        if let Err(e) = db.insert_viewer_samples(&round).await {
            tracing::warn!(error = %e, "cannot store viewer samples; retrying once");
            tokio::time::sleep(Duration::from_secs(1)).await;
            if db.insert_viewer_samples(&round).await.is_err() {
                for row in &round {
                    if let Err(e) = db.insert_viewer_samples(std::slice::from_ref(row)).await {
                        tracing::warn!(error = %e, broadcast = row.stream_session_id, "a viewer sample was lost");
                    }
                }
            }
        }
    }
}

/// Samples one broadcast's viewers every [`SAMPLE_EVERY`], [`SAMPLE_DELAY`] behind, until its
/// viewers have left after it ended (at most [`SAMPLE_AFTER_END`] after). Every broadcast is
/// sampled at the same instants (multiples of [`SAMPLE_EVERY`] since the Unix epoch), so that
/// [`store_samples`] writes a round of them at once.
pub async fn sample_broadcast(
    tracker: ViewerTracker,
    broadcasts: std::sync::Arc<Broadcasts>,
    page_viewers: impl Fn(i64) -> u64 + Send + 'static,
    target: SampleTarget,
) {
    let delay = SAMPLE_DELAY.as_millis() as i64;
    let mut from = target.started_at;
    let period = SAMPLE_EVERY.as_millis() as i64;
    let until_round = (period - unix_ms().rem_euclid(period)) as u64;
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_millis(until_round),
        SAMPLE_EVERY,
    );
    // A late tick does not shift the ones after it: they stay on the shared instants.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let to = unix_ms() - delay;
        if to <= from {
            continue;
        }
        let Some(known) = broadcasts.get(&target.playback_id, target.generation) else {
            return;
        };
        let w = tracker.window(&target.playback_id, target.generation, from, to);
        let c = &w.at_end;
        let live = known.ended_at.is_none_or(|e| to < e);
        let row = ViewerSampleRow {
            stream_session_id: known.id,
            at: to,
            viewers: i64::from(c.total),
            peak: i64::from(w.peak),
            rtmp: i64::from(c.by_protocol[0]),
            http_flv: i64::from(c.by_protocol[1]),
            hls: i64::from(c.by_protocol[2]),
            ll_hls: i64::from(c.by_protocol[3]),
            watch_page: i64::from(c.by_origin[0]),
            embed: i64::from(c.by_origin[1]),
            external: i64::from(c.by_origin[2]),
            page_viewers: if live {
                page_viewers(target.source_id) as i64
            } else {
                0
            },
        };
        if broadcasts.samples.try_send(row).is_err() {
            tracing::warn!("viewer samples are not being stored fast enough; one was dropped");
        }
        from = to;
        if let Some(end) = known.ended_at {
            let over = to > end && c.total == 0 && tracker.open_sessions(&target.playback_id) == 0;
            if over || to > end + SAMPLE_AFTER_END.as_millis() as i64 {
                return;
            }
        }
    }
}
