//! The job runner: each node runs `FERROCAST_JOB_WORKERS` workers over the database's durable
//! job queue ([`ferrocast_db::jobs`]).
//!
//! A worker claims a due job with a lease, renews the lease by a heartbeat every third of it
//! while the handler ([`super::processing`]) works, and records the outcome. If a heartbeat
//! finds the lease lost (the node stalled and another took the job over), the handler is
//! dropped at once — its ffmpeg children are killed with it — and nothing more is written. Jobs
//! whose every attempt took their node down are failed by a periodic sweep (and their videos
//! marked failed). Two more sweeps run here: recordings left open by a node that died are
//! queued for packaging, and videos whose retention ran out are deleted with their objects.
//! Everything stops with the node's shutdown signal.

use crate::service::clock::SharedClock;
use crate::service::processing::{JobError, Media};
use ferrocast_db::jobs::{JobFailure, JobRecord};
use ferrocast_db::Db;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

pub use crate::service::processing::{FINISH_RECORDING, PROCESS_UPLOAD};
/// The kinds this runner works.
pub const KINDS: &[&str] = &[FINISH_RECORDING, PROCESS_UPLOAD];
/// Claims allowed per job (a crash of the node counts as one).
pub const MAX_ATTEMPTS: i64 = 3;
/// An idle worker looks for due jobs this often (and at once when this node queues one), then
/// less often while it finds none (see [`IdlePoll`]).
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// An idle queue worker's wait grows to this many times its first one.
pub const IDLE_POLL_GROWTH: u32 = 4;

/// How long an idle queue worker waits before it looks again: its first wait after work, then
/// twice as long after each look that found nothing, up to [`IDLE_POLL_GROWTH`] times the first.
/// Work queued by this node to run now wakes a worker at once, so the wait only bounds how late
/// it sees work another node queued, work or a retry coming due, or a crashed worker's lease
/// running out; an idle node no longer runs a claim query per worker every second.
#[derive(Debug, Clone, Copy)]
pub struct IdlePoll {
    first: Duration,
    next: Duration,
}

impl IdlePoll {
    /// Starts at `first`.
    pub fn new(first: Duration) -> Self {
        Self { first, next: first }
    }

    /// Work was found or announced: the next wait is the first again.
    pub fn busy(&mut self) {
        self.next = self.first;
    }

    /// The wait after a look that found nothing; the one after it is longer.
    pub fn idle(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.first * IDLE_POLL_GROWTH);
        wait
    }
}

/// Abandoned jobs are failed, and expired videos deleted, this often.
pub const SWEEP_EVERY: Duration = Duration::from_secs(180);
/// A publishing session whose heartbeat is older than this is no longer live (three missed
/// heartbeats of [`super::streams::HEARTBEAT`]).
pub const LIVE_WITHIN_MS: i64 = 30_000;

/// Counters of the runner, for `/metrics`.
#[derive(Debug, Default)]
pub struct JobStats {
    /// Jobs this node completed.
    pub completed: AtomicU64,
    /// Attempts that failed and were queued again.
    pub retried: AtomicU64,
    /// Jobs that failed for good on this node (or were found abandoned by its sweep).
    pub failed: AtomicU64,
    /// Jobs whose lease this node lost while working them.
    pub lost: AtomicU64,
    /// Jobs running on this node now.
    pub running: AtomicU64,
}

/// Queues jobs and wakes this node's idle workers. Cheap to clone.
#[derive(Clone)]
pub struct JobQueue {
    db: Db,
    clock: SharedClock,
    wake: Arc<Notify>,
}

impl JobQueue {
    /// A queue over `db`.
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Queues a job of `kind` on `video_id`, due at `run_after` (ms), and wakes a worker.
    pub async fn enqueue(
        &self,
        kind: &str,
        video_id: i64,
        run_after: i64,
    ) -> Result<JobRecord, ferrocast_db::DbError> {
        let job = self
            .db
            .enqueue_job(
                kind,
                Some(video_id),
                &serde_json::json!({}),
                run_after,
                MAX_ATTEMPTS,
                self.clock.now_ms(),
            )
            .await?;
        self.wake.notify_waiters();
        Ok(job)
    }
}

/// How the runner works.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// This node's id in `jobs.locked_by`.
    pub node: String,
    /// Workers (0: this node runs no jobs, only the sweeps).
    pub workers: usize,
    /// A claim's lease (ms); heartbeats renew it every third of it.
    pub lease_ms: i64,
    /// How long after a live session ended its recording is packaged (ms); a recording silent
    /// for twice this (and at least a minute by default) is taken for abandoned.
    pub finish_delay_ms: i64,
    /// Turns true when the node drains: workers claim nothing more, and the job a worker is
    /// running goes on until it ends (or `shutdown` interrupts it and its lease is given back).
    pub claims: watch::Receiver<bool>,
}

/// Starts the workers and sweeps; they stop when `shutdown` turns true.
pub fn spawn(
    media: Arc<Media>,
    queue: JobQueue,
    config: RunnerConfig,
    stats: Arc<JobStats>,
    shutdown: watch::Receiver<bool>,
) {
    for _ in 0..config.workers {
        tokio::spawn(worker(
            media.clone(),
            queue.clone(),
            config.clone(),
            stats.clone(),
            shutdown.clone(),
        ));
    }
    tokio::spawn(recover_recordings(
        queue.clone(),
        config.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(sweep(media, queue, stats, shutdown));
}

/// Resolves once the node is shutting down.
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

async fn worker(
    media: Arc<Media>,
    queue: JobQueue,
    config: RunnerConfig,
    stats: Arc<JobStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut claims = config.claims.clone();
    let mut poll = IdlePoll::new(POLL_EVERY);
    loop {
        if *shutdown.borrow() || *claims.borrow() {
            return;
        }
        let now = queue.clock.now_ms();
        match queue
            .db
            .claim_job(&config.node, KINDS, config.lease_ms, now)
            .await
        {
            Ok(Some(job)) => {
                stats.running.fetch_add(1, Ordering::Relaxed);
                work(&media, &queue, &config, &stats, job, &mut shutdown).await;
                stats.running.fetch_sub(1, Ordering::Relaxed);
                poll.busy();
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot claim a job"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll.idle()) => {}
            _ = queue.wake.notified() => poll.busy(),
            _ = stopping(&mut shutdown) => return,
            _ = stopping(&mut claims) => return,
        }
    }
}

/// Runs one claimed job under its lease.
async fn work(
    media: &Media,
    queue: &JobQueue,
    config: &RunnerConfig,
    stats: &JobStats,
    job: JobRecord,
    shutdown: &mut watch::Receiver<bool>,
) {
    let id = job.id;
    tracing::info!(job = id, kind = %job.kind, attempt = job.attempts, "job started");
    let beat = Duration::from_millis((config.lease_ms / 3).max(100) as u64);
    let handler = media.run(&job, &config.node);
    tokio::pin!(handler);
    let outcome = loop {
        tokio::select! {
            r = &mut handler => break Some(r),
            _ = tokio::time::sleep(beat) => {
                let now = queue.clock.now_ms();
                match queue.db.heartbeat_job(id, &config.node, now + config.lease_ms, now).await {
                    Ok(true) => {}
                    Ok(false) => break None,
                    // A database hiccup: the lease still runs; the next beat tries again.
                    Err(e) => tracing::warn!(job = id, error = %e, "cannot renew a job's lease"),
                }
            }
            // Shutting down: the handler is dropped (its children killed); the lease runs out
            // and another node (or this one, restarted) takes the job over.
            _ = stopping(shutdown) => {
                tracing::info!(job = id, "job interrupted by shutdown");
                return;
            }
        }
    };
    let now = queue.clock.now_ms();
    match outcome {
        None => {
            stats.lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                job = id,
                "lost the job's lease (another node took it over); stopped working on it"
            );
        }
        Some(Ok(())) => match queue.db.complete_job(id, &config.node, now).await {
            Ok(true) => {
                stats.completed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(job = id, kind = %job.kind, "job done");
            }
            Ok(false) => {
                stats.lost.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(job = id, "job finished after its lease was lost");
            }
            Err(e) => tracing::warn!(job = id, error = %e, "cannot mark a job done"),
        },
        Some(Err(JobError { message, retryable })) => {
            match queue
                .db
                .fail_job(id, &config.node, &message, retryable, now)
                .await
            {
                Ok(JobFailure::Retried { run_after }) => {
                    stats.retried.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = id, error = %message, retry_in_ms = run_after - now, "job failed; retrying later");
                }
                Ok(JobFailure::Failed) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = id, error = %message, "job failed");
                    media.video_failed(&job, &message).await;
                }
                Ok(JobFailure::Lost) => {
                    stats.lost.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(job = id, error = %e, "cannot record a job's failure"),
            }
        }
    }
}

/// At start-up and then every `finish_delay` (at most a minute): recordings left `recording`
/// by a node that died (silent for twice the finish delay, their source live nowhere, no
/// packaging queued) get a `finish_recording` job.
async fn recover_recordings(
    queue: JobQueue,
    config: RunnerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = Duration::from_millis(config.finish_delay_ms.clamp(1_000, 60_000) as u64);
    let silent_ms = config.finish_delay_ms.saturating_mul(2).max(1_000);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping(&mut shutdown) => return,
        }
        let now = queue.clock.now_ms();
        let stale = match queue
            .db
            .stale_recordings(now - silent_ms, now - LIVE_WITHIN_MS, 100)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for recordings left open");
                continue;
            }
        };
        for video in stale {
            tracing::info!(video = %video.uuid, "recording left open by a stopped node; packaging it");
            if let Err(e) = queue.enqueue(FINISH_RECORDING, video.id, now).await {
                tracing::warn!(video = %video.uuid, error = %e, "cannot queue a recording's packaging");
            }
        }
    }
}

/// Every [`SWEEP_EVERY`]: jobs abandoned by dead nodes fail (and their videos with them), and
/// videos whose retention ran out are deleted with their objects.
async fn sweep(
    media: Arc<Media>,
    queue: JobQueue,
    stats: Arc<JobStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping(&mut shutdown) => return,
        }
        let now = queue.clock.now_ms();
        match queue.db.fail_abandoned_jobs(now).await {
            Ok(jobs) => {
                for job in jobs {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = job.id, kind = %job.kind, "job abandoned on every attempt; failed");
                    let reason = job.error.clone().unwrap_or_default();
                    media.video_failed(&job, &reason).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot fail abandoned jobs"),
        }
        media.delete_expired(now).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_worker_looks_less_often_until_work_comes() {
        let mut poll = IdlePoll::new(Duration::from_millis(500));
        let waits: Vec<_> = (0..5).map(|_| poll.idle().as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 2000, 2000]);
        poll.busy();
        assert_eq!(poll.idle(), Duration::from_millis(500));
    }
}
