//! A durable job queue in the database (video processing: probe, thumbnails, packaging), which
//! survives restarts and which any node may work.
//!
//! A node claims a job by writing its id into `locked_by` with a lease (`locked_until`) that it
//! renews while it works ([`Db::heartbeat_job`]). A node that dies stops renewing; once the
//! lease has run out another node claims the job again. Every write of a worker names its node,
//! so a node that lost its lease (it stalled, another took over) finds out at its next write
//! instead of clobbering the new owner's work. Failures are retried with exponential backoff
//! until `max_attempts`; a job whose every attempt took its node down (a hostile file) ends
//! failed rather than circling the cluster.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Integer id.
    pub id: i64,
    /// What to do (`probe`, `package`, …).
    pub kind: String,
    /// The video it works on.
    pub video_id: Option<i64>,
    /// Its parameters.
    pub payload: serde_json::Value,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Times it was claimed.
    pub attempts: i64,
    /// Claims allowed before it fails for good.
    pub max_attempts: i64,
    /// Not claimed before (ms).
    pub run_after: i64,
    /// The node working on it (or that last did).
    pub locked_by: Option<String>,
    /// When its lease runs out (ms).
    pub locked_until: Option<i64>,
    /// Progress per mille (0 to 1000).
    pub progress: i64,
    /// What it is doing now ("probing", "packaging").
    pub stage: Option<String>,
    /// The last failure's reason.
    pub error: Option<String>,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// When it was done or failed for good (ms).
    pub finished_at: Option<i64>,
}

const COLUMNS: &str =
    "id, kind, video_id, payload, state, attempts, max_attempts, run_after, locked_by, \
    locked_until, progress, stage, error, created_at, updated_at, finished_at";

macro_rules! job_from_row {
    ($r:expr) => {{
        let payload: String = $r.try_get("payload")?;
        JobRecord {
            id: $r.try_get("id")?,
            kind: $r.try_get("kind")?,
            video_id: $r.try_get("video_id")?,
            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            state: $r.try_get("state")?,
            attempts: $r.try_get("attempts")?,
            max_attempts: $r.try_get("max_attempts")?,
            run_after: $r.try_get("run_after")?,
            locked_by: $r.try_get("locked_by")?,
            locked_until: $r.try_get("locked_until")?,
            progress: $r.try_get("progress")?,
            stage: $r.try_get("stage")?,
            error: $r.try_get("error")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
            finished_at: $r.try_get("finished_at")?,
        }
    }};
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFailure {
    /// Queued again, not before this instant (ms).
    Retried {
        /// When the next attempt may start.
        run_after: i64,
    },
    /// Failed for good: not retryable, or out of attempts.
    Failed,
    /// This node no longer holds the job (its lease ran out and another node claimed it, or it
    /// finished); nothing was written.
    Lost,
}

/// How many jobs are in each state, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Waiting (due or not).
    pub queued: i64,
    /// Claimed by a node.
    pub running: i64,
    /// Finished.
    pub done: i64,
    /// Failed for good.
    pub failed: i64,
}

/// The first retry waits this long; each further one twice as long as the one before.
pub const RETRY_BASE_MS: i64 = 10_000;
/// The longest wait between attempts.
pub const RETRY_CAP_MS: i64 = 3_600_000;

/// How long to wait before the next attempt after `attempts` attempts failed: 10 s, 20 s,
/// 40 s, … up to an hour.
pub fn retry_backoff_ms(attempts: i64) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    RETRY_BASE_MS
        .saturating_mul(1_i64 << doublings)
        .min(RETRY_CAP_MS)
}

/// The reason given to a job that took its node down on every attempt.
pub const ABANDONED_ERROR: &str =
    "Processing stopped unexpectedly on every attempt; the file may be more than this server can handle.";

impl Db {
    /// Queues a job, due at `run_after` (ms), allowed `max_attempts` claims (at least 1).
    pub async fn enqueue_job(
        &self,
        kind: &str,
        video_id: Option<i64>,
        payload: &serde_json::Value,
        run_after: i64,
        max_attempts: i64,
        now: i64,
    ) -> Result<JobRecord, DbError> {
        let sql = format!(
            "INSERT INTO jobs (kind, video_id, payload, state, max_attempts, run_after, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $6) RETURNING {COLUMNS}"
        );
        let payload = payload.to_string();
        on_pool!(self, p => {
            let r = sqlx::query(&sql)
                .bind(kind).bind(video_id).bind(&payload).bind(max_attempts.max(1)).bind(run_after).bind(now)
                .fetch_one(p).await?;
            Ok(job_from_row!(r))
        })
    }

    /// Claims for `node` the oldest due job of one of `kinds`: a queued one whose `run_after`
    /// has come, or a running one whose lease ran out (its node died) with attempts left. The
    /// job becomes `running`, leased until `now + lease_ms`, with one more attempt counted.
    /// Atomic: of nodes claiming at once, each job goes to exactly one. `None` if nothing is due.
    pub async fn claim_job(
        &self,
        node: &str,
        kinds: &[&str],
        lease_ms: i64,
        now: i64,
    ) -> Result<Option<JobRecord>, DbError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let marks = (0..kinds.len())
            .map(|i| format!("${}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        // The one place the SQL differs by backend. On PostgreSQL, concurrent claimers would
        // otherwise all pick the same oldest row in the subquery and queue up on its row lock
        // (and under READ COMMITTED the losers then match nothing and return no job though
        // others are due); FOR UPDATE SKIP LOCKED makes each skip the rows another claimer has
        // locked and take the next. SQLite has no row locks and no SKIP LOCKED: it runs one
        // writing statement at a time, so the subquery and the update are atomic as they are.
        let lock = match self {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let due = "((state = 'queued' AND run_after <= $3) \
                   OR (state = 'running' AND locked_until < $3 AND attempts < max_attempts))";
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2, \
             progress = 0, stage = NULL, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE kind IN ({marks}) AND {due} \
             ORDER BY run_after, id LIMIT 1{lock}) AND {due} RETURNING {COLUMNS}"
        );
        let until = now.saturating_add(lease_ms.max(0));
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql).bind(node).bind(until).bind(now);
            for k in kinds {
                q = q.bind(*k);
            }
            match q.fetch_optional(p).await? {
                Some(r) => Ok(Some(job_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// Gives back every lease `node` holds (a node draining before it exits): its running
    /// jobs and notification deliveries go back to the queue, due now, with the attempt they
    /// were on not counted (stopping a node is not the job's failure), and its chat connectors'
    /// leases are freed, so other nodes take all of them over at once instead of waiting for
    /// the leases to run out. The number of leases given back.
    pub async fn release_node_leases(&self, node: &str, now: i64) -> Result<u64, DbError> {
        let statements = [
            "UPDATE jobs SET state = 'queued', run_after = $2, locked_by = NULL, locked_until = NULL, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = $2 \
             WHERE locked_by = $1 AND state = 'running'",
            "UPDATE notification_deliveries SET state = 'queued', run_after = $2, locked_by = NULL, \
             locked_until = NULL, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             updated_at = $2 WHERE locked_by = $1 AND state = 'running'",
        ];
        let mut released = 0;
        for sql in statements {
            released += on_pool!(self, p => sqlx::query(sql)
                .bind(node).bind(now).execute(p).await?.rows_affected());
        }
        released += on_pool!(self, p => sqlx::query(
            "UPDATE chat_connectors SET lease_node = NULL, lease_until = NULL WHERE lease_node = $1",
        )
        .bind(node).execute(p).await?.rows_affected());
        Ok(released)
    }

    /// Leases `node` holds now (running jobs, notification deliveries, chat connectors).
    pub async fn node_leases(&self, node: &str) -> Result<i64, DbError> {
        on_pool!(self, p => {
            let n: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM jobs WHERE locked_by = $1 AND state = 'running') \
                 + (SELECT COUNT(*) FROM notification_deliveries WHERE locked_by = $1 AND state = 'running') \
                 + (SELECT COUNT(*) FROM chat_connectors WHERE lease_node = $1)",
            )
            .bind(node)
            .fetch_one(p)
            .await?;
            Ok(n)
        })
    }

    /// Renews `node`'s lease on a running job until `lease_until` (ms); `false` if the node no
    /// longer holds it (then it must stop working on it).
    pub async fn heartbeat_job(
        &self,
        id: i64,
        node: &str,
        lease_until: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE jobs SET locked_until = $3, updated_at = $4 WHERE id = $1 AND locked_by = $2 AND state = 'running'",
        )
        .bind(id).bind(node).bind(lease_until).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Records a running job's progress (per mille, clamped to 0..=1000) and stage; `false` if
    /// `node` no longer holds it.
    pub async fn job_progress(
        &self,
        id: i64,
        node: &str,
        permille: i64,
        stage: Option<&str>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE jobs SET progress = $3, stage = $4, updated_at = $5 WHERE id = $1 AND locked_by = $2 AND state = 'running'",
        )
        .bind(id).bind(node).bind(permille.clamp(0, 1000)).bind(stage).bind(now)
        .execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Marks a job done; `false` if `node` no longer holds it (another node may be redoing it).
    pub async fn complete_job(&self, id: i64, node: &str, now: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE jobs SET state = 'done', progress = 1000, locked_until = NULL, finished_at = $3, updated_at = $3 \
             WHERE id = $1 AND locked_by = $2 AND state = 'running'",
        )
        .bind(id).bind(node).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Records that `node`'s attempt failed with `error`. A `retryable` failure with attempts
    /// left is queued again after [`retry_backoff_ms`]; otherwise the job fails for good.
    pub async fn fail_job(
        &self,
        id: i64,
        node: &str,
        error: &str,
        retryable: bool,
        now: i64,
    ) -> Result<JobFailure, DbError> {
        let held: Option<(i64, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT attempts, max_attempts FROM jobs WHERE id = $1 AND locked_by = $2 AND state = 'running'",
        )
        .bind(id).bind(node).fetch_optional(p).await?);
        let Some((attempts, max_attempts)) = held else {
            return Ok(JobFailure::Lost);
        };
        // `attempts = $n` makes the write conditional on what was read: if the lease was lost
        // and the job claimed again in between, nothing is written.
        if retryable && attempts < max_attempts {
            let run_after = now.saturating_add(retry_backoff_ms(attempts));
            let n = on_pool!(self, p => sqlx::query(
                "UPDATE jobs SET state = 'queued', run_after = $4, locked_by = NULL, locked_until = NULL, \
                 error = $5, stage = NULL, updated_at = $6 \
                 WHERE id = $1 AND locked_by = $2 AND state = 'running' AND attempts = $3",
            )
            .bind(id).bind(node).bind(attempts).bind(run_after).bind(error).bind(now)
            .execute(p).await?.rows_affected());
            Ok(if n > 0 {
                JobFailure::Retried { run_after }
            } else {
                JobFailure::Lost
            })
        } else {
            let n = on_pool!(self, p => sqlx::query(
                "UPDATE jobs SET state = 'failed', locked_until = NULL, error = $4, finished_at = $5, updated_at = $5 \
                 WHERE id = $1 AND locked_by = $2 AND state = 'running' AND attempts = $3",
            )
            .bind(id).bind(node).bind(attempts).bind(error).bind(now)
            .execute(p).await?.rows_affected());
            Ok(if n > 0 {
                JobFailure::Failed
            } else {
                JobFailure::Lost
            })
        }
    }

    /// Fails for good the running jobs whose lease ran out with no attempts left (each attempt
    /// ended with its node gone), with [`ABANDONED_ERROR`]; returns them so the caller can mark
    /// their videos failed.
    pub async fn fail_abandoned_jobs(&self, now: i64) -> Result<Vec<JobRecord>, DbError> {
        let sql = format!(
            "UPDATE jobs SET state = 'failed', locked_until = NULL, error = $2, finished_at = $1, updated_at = $1 \
             WHERE state = 'running' AND locked_until < $1 AND attempts >= max_attempts RETURNING {COLUMNS}"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(now).bind(ABANDONED_ERROR).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(job_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A job by id.
    pub async fn job_by_id(&self, id: i64) -> Result<Option<JobRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(job_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A video's jobs, oldest first.
    pub async fn jobs_for_video(&self, video_id: i64) -> Result<Vec<JobRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE video_id = $1 ORDER BY id");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(video_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(job_from_row!(r));
            }
            Ok(out)
        })
    }

    /// How many jobs wait for a worker (an index range of `idx_jobs_due`, however long the
    /// table of finished jobs grows).
    pub async fn queued_job_count(&self) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM jobs WHERE state = 'queued'",
        )
        .fetch_one(p).await?))
    }

    /// How many jobs are in each state.
    pub async fn job_counts(&self) -> Result<JobCounts, DbError> {
        let rows: Vec<(String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT state, COUNT(*) FROM jobs GROUP BY state",
        )
        .fetch_all(p).await?);
        let mut c = JobCounts::default();
        for (state, n) in rows {
            match state.as_str() {
                "queued" => c.queued = n,
                "running" => c.running = n,
                "done" => c.done = n,
                "failed" => c.failed = n,
                _ => {}
            }
        }
        Ok(c)
    }
}
