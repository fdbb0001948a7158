//! Where live streams are recorded: the server's side of the engine's [`RecordingStore`] port.
//!
//! [`Recordings::begin`] decides whether a publishing session is recorded — the source's
//! `record` switch (unset: the plan's `record_by_default`), an active account, room in the
//! plan's storage quota — and into which video: a republish within the finish delay continues
//! the source's open recording as its next part, anything else starts a new `recording` video.
//! Objects go to `videos/<uuid>/rec/p<N>/` in the node's [`Storage`]; stored segments count
//! towards the video's size (and so the quota) as they land. When a part ends, a
//! `finish_recording` job is queued for after the finish delay: if nobody republished by then,
//! the job packages the recording ([`super::processing`]).

use crate::service::clock::SharedClock;
use crate::service::jobs::{JobQueue, FINISH_RECORDING};
use crate::service::processing::part_prefix;
use bytes::Bytes;
use ferrocast_db::videos::NewVideo;
use ferrocast_db::Db;
use ferrocast_domain::media::{
    PortFuture, RecordingSession, RecordingStore, RecordingSummary, RecordingTarget,
};
use ferrocast_storage::Storage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters of the recording decisions, for `/metrics`.
#[derive(Debug, Default)]
pub struct RecordingDecisions {
    /// Sessions recorded as a new recording.
    pub started: AtomicU64,
    /// Sessions that continued a recording as a new part.
    pub continued: AtomicU64,
    /// Sessions not recorded because the owner's storage quota is used up.
    pub over_quota: AtomicU64,
    /// Sessions whose decision could not be made (database unreachable).
    pub errors: AtomicU64,
}

/// The [`RecordingStore`] of a node: decisions in the database, objects in [`Storage`].
pub struct Recordings {
    db: Db,
    storage: Storage,
    jobs: JobQueue,
    clock: SharedClock,
    finish_delay_ms: i64,
    decisions: Arc<RecordingDecisions>,
}

/// A new public video id: 16 characters of lower-case base32 (80 random bits).
pub fn new_video_uuid() -> String {
    let mut bytes = [0u8; 10];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase()
}

/// `2026-12-03 08:15 UTC`: the date in a recording's title.
fn title_date(unix_ms: i64) -> String {
    let rfc = ferrocast_media::hls::format_rfc3339_ms(unix_ms);
    // `YYYY-MM-DDTHH:MM:SS.sssZ`
    format!("{} {} UTC", &rfc[..10], &rfc[11..16])
}

impl Recordings {
    /// A store writing to `storage`; a part's recording is packaged `finish_delay_ms` after it
    /// ends unless a republish continues it.
    pub fn new(
        db: Db,
        storage: Storage,
        jobs: JobQueue,
        clock: SharedClock,
        finish_delay_ms: u64,
    ) -> Self {
        Self {
            db,
            storage,
            jobs,
            clock,
            finish_delay_ms: finish_delay_ms.min(i64::MAX as u64) as i64,
            decisions: Arc::default(),
        }
    }

    /// The decision counters.
    pub fn decisions(&self) -> Arc<RecordingDecisions> {
        self.decisions.clone()
    }

    async fn decide(
        &self,
        session: &RecordingSession,
    ) -> Result<Option<RecordingTarget>, ferrocast_db::DbError> {
        let Some(source) = self.db.source_by_id(session.source_id).await? else {
            return Ok(None);
        };
        let Some(owner) = self.db.user_by_id(source.user_id).await? else {
            return Ok(None);
        };
        if owner.suspended_at.is_some() {
            return Ok(None);
        }
        let (plan, _) = self.db.user_plan(owner.id).await?;
        if !source.record.unwrap_or(plan.spec.record_by_default) {
            return Ok(None);
        }
        let now = self.clock.now_ms();
        let generation = session.generation.min(i64::MAX as u64) as i64;
        // A republish within the finish delay continues the open recording.
        if let Some(open) = self
            .db
            .open_recording_for_source(source.id, now - self.finish_delay_ms)
            .await?
            .filter(|v| v.status == "recording")
        {
            if let Some(part) = self
                .db
                .bump_recording_part(open.id, generation, now)
                .await?
            {
                self.decisions.continued.fetch_add(1, Ordering::Relaxed);
                tracing::info!(video = %open.uuid, part, source = source.id, "recording continues as a new part");
                return Ok(Some(RecordingTarget {
                    recording_id: open.id,
                    prefix: part_prefix(&open.uuid, part),
                    part: part.clamp(1, u32::MAX as i64) as u32,
                }));
            }
        }
        let used = self.db.storage_used_by_user(owner.id).await?;
        let quota = plan.spec.max_storage_bytes();
        if used >= quota {
            self.decisions.over_quota.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                user = owner.id,
                source = source.id,
                used_bytes = used,
                quota_bytes = quota,
                "live session not recorded: the plan's storage quota is used up"
            );
            return Ok(None);
        }
        let uuid = new_video_uuid();
        // The stream's own title, description and tags, as the creator set them for it.
        let title = match &source.title {
            Some(t) => t.clone(),
            None => format!("{} — {}", source.name, title_date(session.started_at_ms)),
        };
        let description = source.description.clone().unwrap_or_default();
        let video = self
            .db
            .create_video(
                &NewVideo {
                    uuid: &uuid,
                    user_id: owner.id,
                    source_id: Some(source.id),
                    kind: "recording",
                    title: &title,
                    description: &description,
                    tags: &source.tags,
                    visibility: "public",
                    status: "recording",
                    expires_at: None,
                },
                now,
            )
            .await?;
        let part = self
            .db
            .bump_recording_part(video.id, generation, now)
            .await?
            .unwrap_or(1);
        self.decisions.started.fetch_add(1, Ordering::Relaxed);
        tracing::info!(video = %uuid, source = source.id, "recording a live session");
        Ok(Some(RecordingTarget {
            recording_id: video.id,
            prefix: part_prefix(&uuid, part),
            part: part.clamp(1, u32::MAX as i64) as u32,
        }))
    }
}

impl RecordingStore for Recordings {
    fn begin<'a>(
        &'a self,
        session: &'a RecordingSession,
    ) -> PortFuture<'a, Result<Option<RecordingTarget>, String>> {
        Box::pin(async move {
            self.decide(session).await.map_err(|e| {
                self.decisions.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(source = session.source_id, error = %e, "cannot decide whether to record a live session");
                format!("the database could not decide whether to record: {e}")
            })
        })
    }

    fn write<'a>(&'a self, key: String, bytes: Bytes) -> PortFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.storage
                .put(&key, bytes)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn segment_stored<'a>(
        &'a self,
        target: &'a RecordingTarget,
        bytes: u64,
        _duration_ms: u64,
    ) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let delta = bytes.min(i64::MAX as u64) as i64;
            if let Err(e) = self
                .db
                .add_video_size(target.recording_id, delta, self.clock.now_ms())
                .await
            {
                tracing::warn!(video = target.recording_id, error = %e, "cannot count a recorded segment's size");
            }
        })
    }

    fn end<'a>(
        &'a self,
        target: &'a RecordingTarget,
        summary: RecordingSummary,
    ) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            let Ok(Some(video)) = self.db.video_by_id(target.recording_id).await else {
                return;
            };
            let generation = video.recording_generation.unwrap_or(-1);
            // Only the session that still owns the recording ends it (a newer part took over
            // otherwise, and its own end queues the finish).
            let prefix_matches = target.prefix == part_prefix(&video.uuid, video.recording_parts);
            if !prefix_matches {
                return;
            }
            match self.db.end_recording_part(video.id, generation, now).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    // The start-up and periodic sweep finishes recordings left open.
                    tracing::warn!(video = %video.uuid, error = %e, "cannot mark a recording's part ended");
                    return;
                }
            }
            tracing::info!(
                video = %video.uuid,
                part = target.part,
                segments = summary.segments,
                duration_ms = summary.duration_ms,
                gaps = summary.gaps,
                clean = summary.clean,
                "recording part ended"
            );
            if let Err(e) = self
                .jobs
                .enqueue(
                    FINISH_RECORDING,
                    video.id,
                    now.saturating_add(self.finish_delay_ms),
                )
                .await
            {
                tracing::warn!(video = %video.uuid, error = %e, "cannot queue the recording's packaging; the sweep will");
            }
        })
    }
}
