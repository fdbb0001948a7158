//! The server's side of live streams: for every stream the engine reports, a usage session in
//! storage (heartbeat every [`HEARTBEAT`], so a crash loses at most one heartbeat of usage), the
//! plan's monthly streaming time enforced (a warning at 90 %, the stream ended at 100 % with the
//! reason), restream pushes started from the source's destinations, and events for the owner.
//! The engine never waits on any of this: it only emits lifecycle events. Publishing itself is
//! authorised here too ([`SourceAuthorizer`]): against the stored source and the owner's plan.

use super::analytics::{Broadcasts, SampleTarget, ViewerKeys};
use super::clock::SharedClock;
use super::events::{Event, Fanout, RealtimeEvent, StreamStatus};
use super::stats::{Live, Sampler, StatsBook, SAMPLE_EVERY};
use super::vault::{Sealed, Vault};
use crate::service::access::play_refusal;
use ferrocast_auth::token;
use ferrocast_db::destinations::DestinationRecord;
use ferrocast_db::plans::{PlanRecord, SessionTouch};
use ferrocast_db::sources::SourceRecord;
use ferrocast_db::{Db, DbError};
use ferrocast_domain::media::{PublishAuthorizer, PublishDenied, PublishGrant};
use ferrocast_domain::plans::{month_bounds, Allowance};
use ferrocast_engine::restream::{PushState, Target};
use ferrocast_engine::Engine;
use ferrocast_hub::StreamEvent;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// The RTMP application publishers use: `rtmp://HOST:1935/live/<stream key>`.
pub const PUBLISH_APP: &str = "live";
/// Longest stream key looked up (ours are 67 characters).
const MAX_KEY_LEN: usize = 256;

/// Authorises publishers by their source's stream key. The key is looked up by its SHA-256, so
/// no secret is compared byte by byte and timing reveals nothing about it.
pub struct SourceAuthorizer {
    db: Db,
    grants: Grants,
    clock: SharedClock,
    access: Option<Arc<crate::service::access::Access>>,
    /// Who may publish (`FERROCAST_INGEST_ALLOW` / `_DENY`).
    ingest: ferrocast_config::IpList,
    /// Where sources' slate pictures are kept.
    storage: Option<ferrocast_storage::Storage>,
}

impl SourceAuthorizer {
    /// An authoriser over `db`, recording its grants in `grants`.
    pub fn new(db: Db, grants: Grants, clock: SharedClock) -> Self {
        Self {
            db,
            grants,
            clock,
            access: None,
            ingest: ferrocast_config::IpList::default(),
            storage: None,
        }
    }

    /// The same, giving streams their source's slate picture from `storage`.
    pub fn with_storage(mut self, storage: ferrocast_storage::Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// A source's slate picture, if it has one and it can be read within 2 s; otherwise the
    /// stream gets the default slate (and the log says why).
    async fn slate_picture(&self, key: Option<&str>) -> Option<bytes::Bytes> {
        let (key, storage) = (key?, self.storage.as_ref()?);
        match tokio::time::timeout(
            Duration::from_secs(2),
            storage.get(key, super::profiles::MAX_OUTPUT_BYTES),
        )
        .await
        {
            Ok(Ok(b)) => Some(b),
            Ok(Err(e)) => {
                tracing::warn!(%key, error = %e, "the slate picture cannot be read: the default slate stands in");
                None
            }
            Err(_) => {
                tracing::warn!(%key, "the slate picture did not arrive within 2 s: the default slate stands in");
                None
            }
        }
    }

    /// The same, refusing publishers whose address `ingest` does not permit.
    pub fn with_ingest_list(mut self, ingest: ferrocast_config::IpList) -> Self {
        self.ingest = ingest;
        self
    }

    /// The same, refusing RTMP players of gated streams without an entitled viewer's token.
    pub fn with_access(mut self, access: Arc<crate::service::access::Access>) -> Self {
        self.access = Some(access);
        self
    }
}

impl PublishAuthorizer for SourceAuthorizer {
    fn admit_publisher(&self, peer: std::net::IpAddr) -> Result<(), PublishDenied> {
        if self.ingest.permits(peer) {
            Ok(())
        } else {
            Err(PublishDenied::NotAllowed(
                "this address may not publish to this server (FERROCAST_INGEST_ALLOW / FERROCAST_INGEST_DENY)".into(),
            ))
        }
    }

    fn authorize_play<'a>(
        &'a self,
        playback_id: &'a str,
        query: Option<&'a str>,
        peer: std::net::IpAddr,
    ) -> ferrocast_domain::media::PortFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let Some(access) = &self.access else {
                return Ok(());
            };
            access
                .admit_stream_query(playback_id, query, peer)
                .await
                .map_err(|e| play_refusal(&e))
        })
    }

    fn authorize<'a>(
        &'a self,
        app: &'a str,
        stream_key: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<PublishGrant, PublishDenied>> + Send + 'a>> {
        Box::pin(async move {
            if app != PUBLISH_APP {
                return Err(PublishDenied::UnknownApp(app.chars().take(64).collect()));
            }
            if stream_key.is_empty() || stream_key.len() > MAX_KEY_LEN {
                return Err(PublishDenied::UnknownKey);
            }
            let lookup = tokio::time::timeout(
                Duration::from_secs(5),
                self.db.source_by_key_hash(&token::hash(stream_key)),
            )
            .await;
            match lookup {
                Ok(Ok(Some(source))) => {
                    match self.db.user_by_id(source.user_id).await {
                        Ok(Some(owner)) if owner.suspended_at.is_none() => {}
                        Ok(_) => {
                            return Err(PublishDenied::NotAllowed(
                                "the account is suspended; contact the site's administrators"
                                    .into(),
                            ))
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "publish authorisation: database error");
                            return Err(PublishDenied::Unavailable);
                        }
                    }
                    // Three strikes in force: streaming is refused, with the reason.
                    match self
                        .db
                        .restriction_of(source.user_id, self.clock.now_ms())
                        .await
                    {
                        Ok(None) => {}
                        Ok(Some(reason)) => return Err(PublishDenied::NotAllowed(reason)),
                        Err(e) => {
                            tracing::error!(error = %e, "publish authorisation: database error");
                            return Err(PublishDenied::Unavailable);
                        }
                    }
                    match allowance(&self.db, source.user_id, self.clock.now_ms()).await {
                        Ok((plan, a)) if a.exhausted() => {
                            Err(PublishDenied::NotAllowed(exhausted_reason(&plan)))
                        }
                        Ok((plan, _)) => {
                            // Read only for a stream that can go on the slate.
                            let slate_picture = self
                                .slate_picture(
                                    source
                                        .slate_key
                                        .as_deref()
                                        .filter(|_| source.slate_secs > 0),
                                )
                                .await;
                            self.grants
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(source.id, source.stream_key_hash.clone());
                            Ok(PublishGrant {
                                source_id: source.id,
                                user_id: source.user_id,
                                playback_id: source.playback_id,
                                slate_secs: u32::try_from(source.slate_secs).unwrap_or(0),
                                slate_picture,
                                transcode_ladder: plan.spec.transcode_ladder,
                            })
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "publish authorisation: database error");
                            Err(PublishDenied::Unavailable)
                        }
                    }
                }
                Ok(Ok(None)) => Err(PublishDenied::UnknownKey),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "publish authorisation: database error");
                    Err(PublishDenied::Unavailable)
                }
                Err(_) => {
                    tracing::error!("publish authorisation: database did not answer within 5 s");
                    Err(PublishDenied::Unavailable)
                }
            }
        })
    }
}

/// Why a suspended account's live streams end.
pub const SUSPENDED_REASON: &str = "the account was suspended by an administrator";

/// How often a live session's usage is written down and checked against the plan. Every live
/// session beats at the same instants (multiples of it since the Unix epoch on the service's
/// clock), so that one transaction writes them all ([`store_heartbeats`]).
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// How long the heartbeat writer gathers beats once the first arrives.
const HEARTBEAT_GATHER: Duration = Duration::from_millis(250);
/// Heartbeats waiting for the writer at most; beyond that a session writes its own.
const HEARTBEAT_QUEUE: usize = 1000;
/// Heartbeats written in one transaction at most.
const HEARTBEAT_BATCH: usize = 500;
/// A monitor woken this close before a heartbeat instant (ms; the clocks being apart) beats at
/// the next instant instead, rather than twice in a moment.
const HEARTBEAT_EARLY_WAKE_MS: i64 = 100;

/// A heartbeat on its way to the writer, and where its outcome goes: whether the session is
/// still open, or the database's error.
type Beat = (SessionTouch, oneshot::Sender<Result<bool, String>>);

/// Writes the live sessions' heartbeats, a round of them in one transaction, until every
/// sender is gone.
async fn store_heartbeats(db: Db, mut beats: mpsc::Receiver<Beat>) {
    while let Some(round) =
        super::rounds::next_round(&mut beats, HEARTBEAT_GATHER, HEARTBEAT_BATCH).await
    {
        let touches: Vec<SessionTouch> = round.iter().map(|(t, _)| *t).collect();
        match db.touch_stream_sessions(&touches).await {
            Ok(live) => {
                for ((_, reply), live) in round.into_iter().zip(live) {
                    let _ = reply.send(Ok(live));
                }
            }
            Err(e) => {
                let e = e.to_string();
                for (_, reply) in round {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
/// How often a live session's plan allowance is checked at the least.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);
/// A session without a heartbeat for this long belongs to a node that died; it is closed at its
/// last heartbeat. (A live session that was closed by mistake reopens at its next heartbeat.)
pub const STALE_AFTER: Duration = Duration::from_secs(120);

struct Entry {
    /// The publishing session ([`ferrocast_hub::Reader::generation`]) this entry belongs to.
    generation: u64,
    user_id: i64,
    source_id: i64,
    started_at: i64,
    stop_reason: Option<String>,
    /// Tells the stream's monitor that it ended: why, and when (ms).
    cancel: watch::Sender<Option<(String, i64)>>,
}

/// The key hash each source was last granted a publish with, so that the live-session follower
/// can end a stream whose key was rotated between its authorisation and its start.
pub type Grants = Arc<Mutex<HashMap<i64, String>>>;

/// Why a stream operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The streams service: live streams as the server tracks them, their usage sessions and
/// restream pushes, and the event bus of their owners.
pub struct Streams {
    db: Db,
    engine: Engine,
    vault: Arc<Vault>,
    clock: SharedClock,
    streams: Mutex<HashMap<String, Entry>>,
    /// Where the owners' events go (every node's sockets and event streams).
    fanout: Arc<dyn Fanout>,
    grants: Grants,
    /// Serialises "read a source's destinations, hand them to the restreamer", so that two
    /// overlapping changes cannot apply an older list after a newer one.
    restream_order: tokio::sync::Mutex<()>,
    /// Recent health samples and viewer counts of live streams (every node's).
    pub stats: Arc<StatsBook>,
    /// The broadcasts live here, for their viewer sessions and samples (analytics).
    pub broadcasts: Arc<Broadcasts>,
    viewer_keys: ViewerKeys,
    /// The live sessions' heartbeats, to [`store_heartbeats`] (started by [`spawn`]).
    beats: mpsc::Sender<Beat>,
    beat_writer: Mutex<Option<mpsc::Receiver<Beat>>>,
    /// Live sessions whose end is not written yet (their monitors run).
    unfinished: AtomicUsize,
}

/// Counts a live session in [`Streams::unfinished_sessions`] from its start until its monitor
/// has written its end (or is dropped, the task never having run).
struct Unfinished(Arc<Streams>);

impl Unfinished {
    fn new(state: &Arc<Streams>) -> Self {
        state.unfinished.fetch_add(1, Ordering::AcqRel);
        Self(state.clone())
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        self.0.unfinished.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What asking a destination to retry now did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// It was waiting to retry, or had given up (the state given): it connects again now.
    Now(PushState),
    /// It is connecting or live already: left alone.
    Underway(PushState),
    /// The stream is live on another node: that node was asked.
    Asked,
    /// The stream is live here but the destination is not forwarded (off, or over the plan's
    /// number of destinations).
    NotForwarded,
    /// The stream is not live.
    NotLive,
}

impl Streams {
    /// Tracks the engine's live streams; `grants` is what the publish authoriser records.
    pub fn new(
        db: Db,
        engine: Engine,
        vault: Arc<Vault>,
        grants: Grants,
        fanout: Arc<dyn Fanout>,
        clock: SharedClock,
        viewer_keys: ViewerKeys,
    ) -> Arc<Self> {
        let (beats, beat_writer) = mpsc::channel(HEARTBEAT_QUEUE);
        Arc::new(Self {
            beats,
            beat_writer: Mutex::new(Some(beat_writer)),
            unfinished: AtomicUsize::new(0),
            db,
            engine,
            vault,
            clock,
            streams: Mutex::new(HashMap::new()),
            fanout,
            grants,
            restream_order: tokio::sync::Mutex::new(()),
            stats: Arc::default(),
            broadcasts: Arc::default(),
            viewer_keys,
        })
    }

    /// Live sessions of this node whose end is not written yet: a draining node waits for them
    /// (a stream that ended has its session closed a moment later, by its monitor).
    pub fn unfinished_sessions(&self) -> usize {
        self.unfinished.load(Ordering::Acquire)
    }

    /// Writes a live session's heartbeat with the others of its round; whether the session is
    /// still open. Without the writer (not started by [`spawn`], or its queue full) it writes
    /// its own.
    async fn heartbeat(&self, touch: SessionTouch) -> Result<bool, String> {
        let started = self
            .beat_writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none();
        let (reply, outcome) = oneshot::channel();
        if started && self.beats.try_send((touch, reply)).is_ok() {
            if let Ok(r) = outcome.await {
                return r;
            }
        }
        self.db
            .touch_stream_session(touch.id, touch.now, touch.bytes_in, touch.frames_in)
            .await
            .map_err(|e| e.to_string())
    }

    /// Makes a destination of a live source that is waiting to retry, or that gave up, try
    /// again now. Where the stream is live on another node, that node is asked (over the
    /// fan-out) and does it.
    pub fn retry_destination(&self, source: &SourceRecord, destination_id: i64) -> Retry {
        match self
            .engine
            .restream
            .retry_now(&source.playback_id, destination_id)
        {
            Some(s @ (PushState::Retrying | PushState::Failed)) => Retry::Now(s),
            Some(s) => Retry::Underway(s),
            None if self.engine.hub.is_live(&source.playback_id) => Retry::NotForwarded,
            None if source.is_active => {
                self.fanout.publish(RealtimeEvent::DestinationRetry {
                    source_id: source.id,
                    destination_id,
                });
                Retry::Asked
            }
            None => Retry::NotLive,
        }
    }

    /// Samples the health of every stream live on this node and sends each owner theirs.
    fn sample(&self, sampler: &mut Sampler) {
        let entries: Vec<(String, u64, i64, i64, i64)> = self
            .lock()
            .iter()
            .map(|(pid, e)| {
                (
                    pid.clone(),
                    e.generation,
                    e.user_id,
                    e.source_id,
                    e.started_at,
                )
            })
            .collect();
        let now = std::time::Instant::now();
        let now_ms = self.clock.now_ms();
        let mut seen = Vec::with_capacity(entries.len());
        for (playback_id, generation, user_id, source_id, started_at) in entries {
            let Some((g, counters)) = self.engine.hub.session(&playback_id) else {
                continue;
            };
            if g != generation {
                continue;
            }
            let live = Live {
                playback_id: &playback_id,
                generation,
                source_id,
                started_at,
            };
            let viewers = self.stats.viewers(source_id);
            if let Some(sample) = sampler.sample(&live, &counters, viewers, now, now_ms) {
                self.fanout
                    .publish(RealtimeEvent::StreamStats { user_id, sample });
            }
            seen.push((playback_id, generation));
        }
        sampler.retain(&seen);
    }

    /// Tells the owner `user_id` (their sockets and event streams on every node) and, for the
    /// stream's lifecycle, its viewers.
    pub fn emit(&self, user_id: i64, event: Event) {
        self.fanout
            .publish(RealtimeEvent::for_owner(user_id, event));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records why a stream is about to be stopped (used when it goes offline).
    pub fn set_stop_reason(&self, playback_id: &str, reason: &str) {
        if let Some(e) = self.lock().get_mut(playback_id) {
            e.stop_reason.get_or_insert_with(|| reason.to_string());
        }
    }

    /// When the live session of a stream started (ms), if it is live.
    pub fn started_at(&self, playback_id: &str) -> Option<i64> {
        self.lock().get(playback_id).map(|e| e.started_at)
    }

    fn sessions_of(&self, user_id: i64) -> usize {
        self.lock()
            .values()
            .filter(|e| e.user_id == user_id)
            .count()
    }

    /// The owner and source of a stream live on this node.
    pub fn owner(&self, playback_id: &str) -> Option<(i64, i64)> {
        self.lock()
            .get(playback_id)
            .map(|e| (e.user_id, e.source_id))
    }

    /// A stream's status on this node.
    pub fn stream_status(&self, playback_id: &str) -> StreamStatus {
        match self.engine.hub.info(playback_id) {
            None => StreamStatus::Offline,
            Some(info) if info.has_video || info.has_audio => StreamStatus::Live,
            Some(_) => StreamStatus::Starting,
        }
    }

    /// Opens a destination's sealed platform key.
    pub fn open_destination_key(&self, d: &DestinationRecord) -> Result<String, String> {
        self.vault
            .open_text(Sealed::DestinationKey(&d.uuid), &d.stream_key_sealed)
            .map_err(|e| e.to_string())
    }
}

/// The plan governing a user and their streaming time this month, counted up to `now`.
pub async fn allowance(
    db: &Db,
    user_id: i64,
    now: i64,
) -> Result<(PlanRecord, Allowance), DbError> {
    let (plan, _) = db.user_plan(user_id).await?;
    let (from, to, _) = month_bounds(now);
    let used = db.streamed_ms(user_id, from, to.min(now + 1)).await?;
    let limit = plan.spec.max_streaming_minutes_monthly;
    Ok((plan, Allowance::new(used, limit)))
}

/// The reason given when the month's streaming time is used up.
pub fn exhausted_reason(plan: &PlanRecord) -> String {
    let minutes = plan.spec.max_streaming_minutes_monthly;
    let allowance = match (minutes / 60, minutes % 60) {
        (1, 0) => "1 streaming hour".to_string(),
        (h, 0) => format!("{h} streaming hours"),
        _ if minutes == 1 => "1 streaming minute".to_string(),
        _ => format!("{minutes} streaming minutes"),
    };
    format!(
        "the {} plan's monthly streaming time ({allowance}) is used up; upgrade at {} or wait for next month",
        plan.spec.name,
        ferrocast_domain::plans::UPGRADE_URL
    )
}

impl Streams {
    /// The restream targets of a source: its active destinations with their keys opened, at
    /// most as many as the owner's plan allows (oldest first: after a downgrade the newest
    /// extra ones are not forwarded).
    pub async fn restream_targets(
        &self,
        source_id: i64,
        user_id: i64,
    ) -> Result<Vec<Target>, StreamsError> {
        let (plan, _) = self.db.user_plan(user_id).await?;
        let max = usize::try_from(plan.spec.max_destinations).unwrap_or(0);
        let mut out = Vec::new();
        for d in self.db.list_destinations(source_id).await? {
            if !d.is_active {
                continue;
            }
            if out.len() >= max {
                tracing::warn!(source_id, destination = d.id, plan = %plan.spec.name, "destination over the plan's limit is not forwarded");
                continue;
            }
            match self.open_destination_key(&d) {
                Ok(stream_key) => out.push(Target {
                    id: d.id,
                    url: d.rtmp_url.clone(),
                    stream_key,
                }),
                Err(e) => {
                    tracing::error!(destination = d.id, error = %e, "cannot open a destination key")
                }
            }
        }
        Ok(out)
    }

    /// Re-reads a live source's destinations and hands them to the restreamer (after a
    /// destination was added, removed or toggled). Untouched destinations keep their connection.
    pub async fn refresh_restream(&self, source_id: i64) -> Result<(), StreamsError> {
        let _order = self.restream_order.lock().await;
        let Some(source) = self.db.source_by_id(source_id).await? else {
            return Ok(());
        };
        if self.engine.hub.is_live(&source.playback_id) {
            let targets = self.restream_targets(source_id, source.user_id).await?;
            self.engine
                .restream
                .set_targets(&source.playback_id, targets);
        }
        Ok(())
    }

    /// Stops a live stream with a reason; returns whether it was live.
    pub fn stop_stream(&self, playback_id: &str, reason: &str) -> bool {
        self.set_stop_reason(playback_id, reason);
        self.engine.hub.stop(playback_id, reason)
    }

    /// Whether the stream with this playback id is live on this node.
    pub fn is_live(&self, playback_id: &str) -> bool {
        self.engine.hub.is_live(playback_id)
    }

    /// Stops every live stream of `user_id`'s sources on this node with a reason; how many
    /// were live.
    pub async fn stop_streams_of(&self, user_id: i64, reason: &str) -> Result<usize, StreamsError> {
        let sources = self.db.list_sources(user_id).await?;
        Ok(sources
            .iter()
            .filter(|s| self.stop_stream(&s.playback_id, reason))
            .count())
    }
}

/// Follows the engine's lifecycle and restream events until the hub goes away.
pub fn spawn(state: Arc<Streams>) {
    // Viewer sessions that ended, stored per broadcast.
    if let Some(reports) = state.engine.viewers.take_reports() {
        tokio::spawn(super::analytics::store_sessions(
            state.db.clone(),
            reports,
            state.broadcasts.clone(),
            state.viewer_keys.clone(),
        ));
    }
    // Heartbeats, a round of live sessions at a time.
    let beats = state
        .beat_writer
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(beats) = beats {
        tokio::spawn(store_heartbeats(state.db.clone(), beats));
    }
    // Viewer samples, a round of broadcasts at a time.
    if let Some(samples) = state.broadcasts.take_samples() {
        tokio::spawn(super::analytics::store_samples(state.db.clone(), samples));
    }
    let mut events = state.engine.hub.events();
    let s = state.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => on_stream_event(&s, e).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "lifecycle follower fell behind; reconciling with the hub"
                    );
                    reconcile(&s).await;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    // Sessions whose node died are closed at their last heartbeat.
    let db = state.db.clone();
    let clock = state.clock.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(STALE_AFTER);
        loop {
            tick.tick().await;
            let stale_before = clock.now_ms() - STALE_AFTER.as_millis() as i64;
            match db.close_stale_stream_sessions(stale_before).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(sessions = n, "closed stream sessions left open by a crash")
                }
                Err(e) => tracing::warn!(error = %e, "cannot close stale stream sessions"),
            }
            match db.reset_orphaned_sources(stale_before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sources = n, "sources whose node stopped marked offline"),
                Err(e) => tracing::warn!(error = %e, "cannot mark orphaned sources offline"),
            }
        }
    });
    // Health samples of the streams live here, each second, for as long as the service lasts.
    let weak = Arc::downgrade(&state);
    tokio::spawn(async move {
        let mut sampler = Sampler::default();
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else {
                return;
            };
            state.sample(&mut sampler);
        }
    });
    // Retries asked on another node, for the streams live here.
    let mut bus = state.fanout.subscribe();
    let weak = Arc::downgrade(&state);
    tokio::spawn(async move {
        loop {
            let (source_id, destination_id) = match bus.recv().await {
                Ok(env) => match env.event {
                    RealtimeEvent::DestinationRetry {
                        source_id,
                        destination_id,
                    } => (source_id, destination_id),
                    _ => continue,
                },
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let Some(state) = weak.upgrade() else {
                return;
            };
            let live: Vec<String> = state
                .lock()
                .iter()
                .filter(|(_, e)| e.source_id == source_id)
                .map(|(pid, _)| pid.clone())
                .collect();
            for pid in live {
                state.engine.restream.retry_now(&pid, destination_id);
            }
        }
    });
    let mut pushes = state.engine.restream.events();
    tokio::spawn(async move {
        loop {
            match pushes.recv().await {
                Ok(e) => {
                    if let Some((user_id, source_id)) = state.owner(&e.playback_id) {
                        state.emit(
                            user_id,
                            Event::DestinationStatus {
                                source_id,
                                destination_id: e.destination_id,
                                state: e.state.as_str().to_string(),
                                error: e.error.clone(),
                            },
                        );
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// Brings the tracked streams in line with the hub after lifecycle events were missed:
/// streams the hub has but we do not are started, entries whose session is gone are ended.
async fn reconcile(state: &Arc<Streams>) {
    let live = state.engine.hub.streams();
    let gone: Vec<(String, u64)> = state
        .lock()
        .iter()
        .filter(|(pid, e)| state.engine.hub.session(pid).map(|(g, _)| g) != Some(e.generation))
        .map(|(pid, e)| (pid.clone(), e.generation))
        .collect();
    for (pid, generation) in gone {
        end_session(state, &pid, generation, state.clock.now_ms());
    }
    for s in live.into_iter().filter(|s| s.key.is_encoders()) {
        let tracked = state.lock().contains_key(&s.key.playback_id);
        if let (false, Some((generation, _))) =
            (tracked, state.engine.hub.session(&s.key.playback_id))
        {
            start_session(state, &s.key, generation, state.clock.now_ms()).await;
        }
    }
}

async fn on_stream_event(state: &Arc<Streams>, event: StreamEvent) {
    // A relay's session, usage, restream and events belong to the node its encoder publishes to;
    // a radio station's stream has none.
    let (StreamEvent::Starting { key, .. }
    | StreamEvent::Live { key, .. }
    | StreamEvent::Offline { key, .. }) = &event;
    if !key.is_encoders() {
        return;
    }
    match event {
        StreamEvent::Starting {
            key,
            generation,
            at_ms,
        } => start_session(state, &key, generation, at_ms).await,
        StreamEvent::Live { key, .. } => {
            if let Some((user_id, source_id)) = state.owner(&key.playback_id) {
                state.emit(
                    user_id,
                    Event::StreamStatus {
                        source_id,
                        status: StreamStatus::Live,
                    },
                );
            }
        }
        StreamEvent::Offline {
            key,
            generation,
            at_ms,
            ..
        } => end_session(state, &key.playback_id, generation, at_ms),
    }
}

async fn start_session(
    state: &Arc<Streams>,
    key: &ferrocast_hub::StreamKey,
    generation: u64,
    at_ms: i64,
) {
    let pid = &key.playback_id;
    let source = match state.db.source_by_id(key.source_id).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            state.engine.hub.stop(pid, "the source was deleted");
            return;
        }
        Err(e) => {
            // Nothing can be counted or enforced without the source: end the stream rather
            // than let it run unmetered; the encoder retries.
            tracing::error!(error = %e, source_id = key.source_id, "cannot load a live source; ending the stream");
            state
                .engine
                .hub
                .stop(pid, "temporarily unavailable, try again");
            return;
        }
    };
    // A key rotated between this publisher's authorisation and now: the holder of the old key
    // must not stay live.
    let granted = state
        .grants
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&source.id)
        .cloned();
    if granted.as_deref() != Some(source.stream_key_hash.as_str()) {
        tracing::warn!(
            source_id = source.id,
            "publish with a stream key that was rotated; ending it"
        );
        state.engine.hub.stop(pid, "the stream key was rotated");
        return;
    }
    let session = state
        .db
        .open_stream_session(
            &uuid::Uuid::new_v4().to_string(),
            source.user_id,
            source.id,
            at_ms,
        )
        .await;
    let session_id = match session {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, source_id = source.id, "cannot record a stream session; ending the stream");
            state
                .engine
                .hub
                .stop(pid, "temporarily unavailable, try again");
            return;
        }
    };
    state.broadcasts.started(pid, generation, session_id);
    state.engine.viewers.note_generation(pid, generation);
    let stats = state.stats.clone();
    tokio::spawn(super::analytics::sample_broadcast(
        state.engine.viewers.clone(),
        state.broadcasts.clone(),
        move |source_id| stats.viewers(source_id),
        SampleTarget {
            playback_id: pid.clone(),
            generation,
            source_id: source.id,
            started_at: at_ms,
        },
    ));
    let (cancel, cancelled) = watch::channel(None);
    state.lock().insert(
        pid.clone(),
        Entry {
            generation,
            user_id: source.user_id,
            source_id: source.id,
            started_at: at_ms,
            stop_reason: None,
            cancel,
        },
    );
    tokio::spawn(monitor(
        Unfinished::new(state),
        Session {
            playback_id: pid.clone(),
            generation,
            user_id: source.user_id,
            source_id: source.id,
            id: session_id,
        },
        cancelled,
    ));
    if let Err(e) = state
        .db
        .set_source_active(source.id, true, state.clock.now_ms())
        .await
    {
        tracing::warn!(error = %e, source_id = source.id, "cannot record stream state");
    }
    {
        let _order = state.restream_order.lock().await;
        match state.restream_targets(source.id, source.user_id).await {
            Ok(targets) if !targets.is_empty() => {
                state.engine.restream.set_targets(pid, targets);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, source_id = source.id, "cannot load destinations")
            }
        }
    }
    state.emit(
        source.user_id,
        Event::StreamStatus {
            source_id: source.id,
            status: StreamStatus::Starting,
        },
    );
}

/// Ends the tracked session of `playback_id` if it is still `generation` (an Offline of an
/// earlier session must not end a republished one).
fn end_session(state: &Streams, playback_id: &str, generation: u64, at_ms: i64) {
    let entry = {
        let mut streams = state.lock();
        match streams.get(playback_id) {
            Some(e) if e.generation == generation => streams.remove(playback_id),
            _ => None,
        }
    };
    let Some(entry) = entry else {
        return;
    };
    state.broadcasts.ended(playback_id, generation, at_ms);
    let reason = entry
        .stop_reason
        .clone()
        .unwrap_or_else(|| "the encoder disconnected".into());
    // The monitor writes the session's end (it owns the session row) and the source's state.
    let _ = entry.cancel.send(Some((reason.clone(), at_ms)));
    state.stats.forget(entry.source_id);
    state.emit(
        entry.user_id,
        Event::StreamStatus {
            source_id: entry.source_id,
            status: StreamStatus::Offline,
        },
    );
    state.emit(
        entry.user_id,
        Event::StreamEnded {
            source_id: entry.source_id,
            reason: reason.clone(),
            duration_minutes: (at_ms - entry.started_at).max(0) / 60_000,
        },
    );
    tracing::info!(source_id = entry.source_id, %reason, "stream ended");
}

struct Session {
    playback_id: String,
    generation: u64,
    user_id: i64,
    source_id: i64,
    id: i64,
}

/// Keeps one live session's usage written down and enforces the plan until the stream ends.
async fn monitor(
    unfinished: Unfinished,
    mut session: Session,
    mut cancelled: watch::Receiver<Option<(String, i64)>>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let state = &unfinished.0;
    let mut warned_month = None;
    let mut next_check = 0i64;
    let mut counters = (0, 0);
    let (end_reason, end_at) = loop {
        let now = state.clock.now_ms();
        match state.engine.hub.session(&session.playback_id) {
            Some((g, stats)) if g == session.generation => {
                counters = (
                    stats.bytes_in.load(Relaxed) as i64,
                    stats.frames_in.load(Relaxed) as i64,
                );
            }
            // This session is over and its Offline event never reached us.
            _ => {
                end_session(state, &session.playback_id, session.generation, now);
                break ("the encoder disconnected".to_string(), now);
            }
        }
        let touch = SessionTouch {
            id: session.id,
            now,
            bytes_in: counters.0,
            frames_in: counters.1,
        };
        match state.heartbeat(touch).await {
            Ok(true) => {}
            Ok(false) => {
                // Closed as stale (this node stalled past STALE_AFTER): carry on in a new row.
                match state
                    .db
                    .open_stream_session(
                        &uuid::Uuid::new_v4().to_string(),
                        session.user_id,
                        session.source_id,
                        now,
                    )
                    .await
                {
                    Ok(id) => {
                        tracing::warn!(
                            old = session.id,
                            new = id,
                            "stream session was closed as stale; continuing in a new one"
                        );
                        session.id = id;
                        state
                            .broadcasts
                            .started(&session.playback_id, session.generation, id);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot reopen a stream session"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, session_id = session.id, "cannot record usage; retrying at the next heartbeat")
            }
        }
        // The plan is checked when its next threshold (90 %, 100 %) can have been reached, at
        // least every CHECK_EVERY (other sessions of the same user consume too), not at every
        // heartbeat: 50 live streams cost one write every 10 s each, not four queries.
        if now >= next_check {
            next_check = now + CHECK_EVERY.as_millis() as i64;
            // An account suspended through another node: its streams here end too.
            if let Ok(Some(owner)) = state.db.user_by_id(session.user_id).await {
                if owner.suspended_at.is_some() {
                    state.stop_stream(&session.playback_id, SUSPENDED_REASON);
                }
            }
            // An account restricted by strikes (issued on another node): its streams end too.
            if let Ok(Some(reason)) = state.db.restriction_of(session.user_id, now).await {
                state.stop_stream(&session.playback_id, &reason);
            }
            match allowance(&state.db, session.user_id, now).await {
                Ok((plan, a)) => {
                    let month = month_bounds(now).2;
                    let warned = warned_month.as_deref() == Some(month.as_str());
                    if a.exhausted() {
                        let reason = exhausted_reason(&plan);
                        tracing::info!(
                            user_id = session.user_id,
                            source_id = session.source_id,
                            "streaming time used up; ending the stream"
                        );
                        state.stop_stream(&session.playback_id, &reason);
                    } else {
                        if !warned && a.until_warning_ms() == 0 {
                            warned_month = Some(month);
                            state.emit(
                                session.user_id,
                                Event::UsageWarning {
                                    source_id: session.source_id,
                                    used_minutes: a.used_ms / 60_000,
                                    limit_minutes: plan.spec.max_streaming_minutes_monthly,
                                },
                            );
                        }
                        let threshold = if warned_month.is_some() {
                            a.remaining_ms()
                        } else {
                            a.until_warning_ms()
                        };
                        // Alone, this session reaches the threshold exactly then; with others of
                        // the same user live it may come sooner, so look again halfway.
                        let live_sessions = state.sessions_of(session.user_id).max(1);
                        let step = if live_sessions == 1 {
                            threshold
                        } else {
                            threshold / 2
                        };
                        next_check = next_check.min(now + step.max(50));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, user_id = session.user_id, "cannot check streaming time")
                }
            }
        }
        let beat = HEARTBEAT.as_millis() as i64;
        let until_beat = match beat - now.rem_euclid(beat) {
            w if w < HEARTBEAT_EARLY_WAKE_MS => w + beat,
            w => w,
        };
        let wait = Duration::from_millis((next_check - now).clamp(0, until_beat) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = cancelled.wait_for(Option::is_some) => {
                break match r.ok().and_then(|r| r.clone()) {
                    Some(end) => end,
                    None => ("the server stopped".to_string(), state.clock.now_ms()),
                };
            }
        }
    };
    if let Err(e) = state
        .db
        .close_stream_session(session.id, end_at, &end_reason, counters.0, counters.1)
        .await
    {
        tracing::warn!(error = %e, session_id = session.id, "cannot close a stream session; it will be closed at its last heartbeat");
    }
    // Inactive unless a new session of the same source is live by now.
    if !state.engine.hub.is_live(&session.playback_id) {
        if let Err(e) = state
            .db
            .set_source_active(session.source_id, false, state.clock.now_ms())
            .await
        {
            tracing::warn!(error = %e, source_id = session.source_id, "cannot record stream state");
        }
    }
}
