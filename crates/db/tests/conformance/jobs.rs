//! The job queue: claims in order of due time and by kind, progress and completion, each job
//! to exactly one of many concurrent claimers (`SKIP LOCKED` on PostgreSQL, the single writer
//! on SQLite), a dead node's job taken over when its lease runs out (and the dead node's writes
//! then refused), retries with backoff up to `max_attempts`, and jobs that took their node
//! down on every attempt ending failed.

use ferrocast_db::jobs::{retry_backoff_ms, JobCounts, JobFailure, ABANDONED_ERROR};
use ferrocast_db::videos::NewVideo;
use ferrocast_db::Db;
use serde_json::json;
use std::collections::BTreeMap;

use crate::support::{both_backends, user, MINUTE, NOW};

both_backends!(
    jobs_are_claimed_in_order_and_completed,
    concurrent_claimers_take_each_job_once,
    an_expired_lease_passes_the_job_to_another_node,
    failures_back_off_until_max_attempts,
);
both_backends!(
    #[sqlite(
        ignore = "SQLite has no row locks: it runs one writer at a time, so a claim has nothing to skip"
    )]
    a_claim_skips_a_job_another_claimer_holds
);

const SECOND: i64 = 1_000;
const LEASE: i64 = 30 * SECOND;

async fn jobs_are_claimed_in_order_and_completed(db: &Db) {
    let u = user(db, "jobs@example.com").await;
    let v = db
        .create_video(
            &NewVideo {
                uuid: "vjobs00000000000",
                user_id: u.id,
                source_id: None,
                kind: "upload",
                title: "",
                description: "",
                tags: &[],
                visibility: "public",
                status: "processing",
                expires_at: None,
            },
            NOW,
        )
        .await
        .expect("video");
    assert_eq!(
        db.claim_job("n1", &["probe"], LEASE, NOW)
            .await
            .expect("claim"),
        None
    );
    let later = db
        .enqueue_job("probe", Some(v.id), &json!({"n": 2}), NOW + MINUTE, 5, NOW)
        .await
        .expect("later");
    let first = db
        .enqueue_job("probe", Some(v.id), &json!({"n": 1}), NOW, 5, NOW)
        .await
        .expect("first");
    let package = db
        .enqueue_job("package", None, &json!({"copy": true}), NOW - 1, 5, NOW)
        .await
        .expect("package");
    assert_eq!(
        (
            first.state.as_str(),
            first.attempts,
            first.max_attempts,
            first.payload.clone(),
            first.locked_by.clone(),
            first.progress
        ),
        ("queued", 0, 5, json!({"n": 1}), None, 0)
    );
    assert_eq!(
        db.job_counts().await.expect("counts"),
        JobCounts {
            queued: 3,
            running: 0,
            done: 0,
            failed: 0
        }
    );
    // No kinds, nothing claimed.
    assert_eq!(
        db.claim_job("n1", &[], LEASE, NOW).await.expect("claim"),
        None
    );
    // Only the kinds asked for, only what is due, oldest due first.
    // (A lease long enough that it still holds when the later job falls due.)
    let got = db
        .claim_job("n1", &["probe"], 10 * MINUTE, NOW)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(
        (
            got.id,
            got.state.as_str(),
            got.attempts,
            got.locked_by.as_deref(),
            got.locked_until,
            got.payload.clone()
        ),
        (
            first.id,
            "running",
            1,
            Some("n1"),
            Some(NOW + 10 * MINUTE),
            json!({"n": 1})
        )
    );
    assert_eq!(
        db.claim_job("n1", &["probe"], LEASE, NOW)
            .await
            .expect("claim"),
        None,
        "the other is not due"
    );
    let pkg = db
        .claim_job("n2", &["probe", "package"], 10 * MINUTE, NOW)
        .await
        .expect("claim")
        .expect("package");
    assert_eq!(pkg.id, package.id);
    let due_later = db
        .claim_job("n2", &["probe", "package"], LEASE, NOW + MINUTE)
        .await
        .expect("claim")
        .expect("due now");
    assert_eq!(due_later.id, later.id);

    // Progress (clamped), heartbeat, completion.
    assert!(db
        .job_progress(first.id, "n1", 400, Some("probing"), NOW + 1)
        .await
        .expect("progress"));
    assert!(db
        .job_progress(first.id, "n1", 5_000, Some("packaging"), NOW + 2)
        .await
        .expect("progress"));
    assert!(db
        .heartbeat_job(first.id, "n1", NOW + 2 * LEASE, NOW + 3)
        .await
        .expect("heartbeat"));
    let mid = db.job_by_id(first.id).await.expect("q").expect("job");
    assert_eq!(
        (
            mid.progress,
            mid.stage.as_deref(),
            mid.locked_until,
            mid.updated_at
        ),
        (1000, Some("packaging"), Some(NOW + 2 * LEASE), NOW + 3)
    );
    assert!(!db
        .job_progress(first.id, "n2", 1, None, NOW)
        .await
        .expect("not n2's"));
    assert!(!db
        .complete_job(first.id, "n2", NOW)
        .await
        .expect("not n2's"));
    assert!(db
        .complete_job(first.id, "n1", NOW + 4)
        .await
        .expect("complete"));
    assert!(!db
        .complete_job(first.id, "n1", NOW + 5)
        .await
        .expect("already done"));
    assert!(!db
        .heartbeat_job(first.id, "n1", NOW + LEASE, NOW + 5)
        .await
        .expect("done"));
    let done = db.job_by_id(first.id).await.expect("q").expect("job");
    assert_eq!(
        (
            done.state.as_str(),
            done.progress,
            done.finished_at,
            done.locked_until
        ),
        ("done", 1000, Some(NOW + 4), None)
    );
    // Long after, the job n2 stopped heartbeating is taken over; the done one never again.
    let reclaimed = db
        .claim_job("n3", &["probe"], LEASE, NOW + 100 * MINUTE)
        .await
        .expect("claim")
        .expect("lease ran out");
    assert_eq!((reclaimed.id, reclaimed.attempts), (later.id, 2));
    assert_eq!(
        db.claim_job("n3", &["probe"], LEASE, NOW + 100 * MINUTE)
            .await
            .expect("claim"),
        None
    );
    assert_eq!(
        db.jobs_for_video(v.id)
            .await
            .expect("q")
            .iter()
            .map(|j| j.id)
            .collect::<Vec<_>>(),
        vec![later.id, first.id]
    );
    assert_eq!(
        db.job_counts().await.expect("counts"),
        JobCounts {
            queued: 0,
            running: 2,
            done: 1,
            failed: 0
        }
    );
    assert_eq!(db.job_by_id(first.id + 1000).await.expect("q"), None);
}

async fn concurrent_claimers_take_each_job_once(db: &Db) {
    let mut ids = Vec::new();
    for i in 0..40 {
        let j = db
            .enqueue_job("probe", None, &json!({ "i": i }), NOW - i, 3, NOW)
            .await
            .expect("enqueue");
        ids.push(j.id);
    }
    let mut tasks = Vec::new();
    for n in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let node = format!("node-{n}");
            let mut mine = Vec::new();
            while let Some(job) = db
                .claim_job(&node, &["probe"], LEASE, NOW)
                .await
                .expect("claim")
            {
                assert_eq!(job.locked_by.as_deref(), Some(node.as_str()));
                assert_eq!(job.attempts, 1, "claimed once");
                assert!(
                    db.complete_job(job.id, &node, NOW + 1)
                        .await
                        .expect("complete"),
                    "held by its claimer"
                );
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut claimed: BTreeMap<i64, usize> = BTreeMap::new();
    for t in tasks {
        for id in t.await.expect("claimer") {
            *claimed.entry(id).or_default() += 1;
        }
    }
    // Every job went to exactly one claimer, and none was left behind while claimers stopped
    // (a claimer that waited on another's row lock would come back empty-handed early).
    assert_eq!(claimed.len(), 40, "every job claimed: {claimed:?}");
    assert!(
        claimed.values().all(|&n| n == 1),
        "each exactly once: {claimed:?}"
    );
    ids.sort_unstable();
    assert_eq!(claimed.keys().copied().collect::<Vec<_>>(), ids);
    assert_eq!(
        db.job_counts().await.expect("counts"),
        JobCounts {
            queued: 0,
            running: 0,
            done: 40,
            failed: 0
        }
    );
}

async fn an_expired_lease_passes_the_job_to_another_node(db: &Db) {
    let job = db
        .enqueue_job("package", None, &json!({}), NOW, 5, NOW)
        .await
        .expect("enqueue");
    let a = db
        .claim_job("node-a", &["package"], LEASE, NOW)
        .await
        .expect("claim")
        .expect("a");
    assert_eq!(a.id, job.id);
    // While the lease holds, nobody else gets it; a heartbeat extends it.
    assert_eq!(
        db.claim_job("node-b", &["package"], LEASE, NOW + LEASE - 1)
            .await
            .expect("claim"),
        None
    );
    assert!(db
        .heartbeat_job(job.id, "node-a", NOW + 2 * LEASE, NOW + LEASE - 1)
        .await
        .expect("beat"));
    assert_eq!(
        db.claim_job("node-b", &["package"], LEASE, NOW + LEASE + 1)
            .await
            .expect("claim"),
        None
    );
    // node-a dies: the lease runs out (at the instant itself it still holds) and node-b takes
    // over, as a new attempt.
    assert_eq!(
        db.claim_job("node-b", &["package"], LEASE, NOW + 2 * LEASE)
            .await
            .expect("claim"),
        None
    );
    let taken_at = NOW + 2 * LEASE + 1;
    let b = db
        .claim_job("node-b", &["package"], LEASE, taken_at)
        .await
        .expect("claim")
        .expect("reclaimed");
    assert_eq!(
        (
            b.id,
            b.attempts,
            b.locked_by.as_deref(),
            b.locked_until,
            b.progress
        ),
        (job.id, 2, Some("node-b"), Some(taken_at + LEASE), 0)
    );
    // node-a comes back: every write it tries is refused.
    assert!(!db
        .heartbeat_job(job.id, "node-a", taken_at + 10 * LEASE, taken_at)
        .await
        .expect("beat"));
    assert!(!db
        .job_progress(job.id, "node-a", 500, Some("packaging"), taken_at)
        .await
        .expect("progress"));
    assert!(!db
        .complete_job(job.id, "node-a", taken_at)
        .await
        .expect("complete"));
    assert_eq!(
        db.fail_job(job.id, "node-a", "boom", true, taken_at)
            .await
            .expect("fail"),
        JobFailure::Lost
    );
    let still = db.job_by_id(job.id).await.expect("q").expect("job");
    assert_eq!(
        (
            still.state.as_str(),
            still.locked_by.as_deref(),
            still.locked_until,
            still.error
        ),
        ("running", Some("node-b"), Some(taken_at + LEASE), None)
    );
    assert!(db
        .complete_job(job.id, "node-b", taken_at + 5)
        .await
        .expect("complete"));
}

async fn failures_back_off_until_max_attempts(db: &Db) {
    assert_eq!(retry_backoff_ms(0), 10_000);
    assert_eq!(retry_backoff_ms(1), 10_000);
    assert_eq!(retry_backoff_ms(2), 20_000);
    assert_eq!(retry_backoff_ms(3), 40_000);
    assert_eq!(retry_backoff_ms(12), 3_600_000, "capped at an hour");
    assert_eq!(retry_backoff_ms(i64::MAX), 3_600_000);

    let job = db
        .enqueue_job("probe", None, &json!({}), NOW, 3, NOW)
        .await
        .expect("enqueue");
    let mut now = NOW;
    for attempt in 1..=3_i64 {
        let got = db
            .claim_job("n1", &["probe"], LEASE, now)
            .await
            .expect("claim")
            .expect("due");
        assert_eq!((got.id, got.attempts), (job.id, attempt));
        let outcome = db
            .fail_job(job.id, "n1", &format!("failure {attempt}"), true, now + 5)
            .await
            .expect("fail");
        if attempt < 3 {
            let run_after = now + 5 + retry_backoff_ms(attempt);
            assert_eq!(outcome, JobFailure::Retried { run_after });
            let queued = db.job_by_id(job.id).await.expect("q").expect("job");
            assert_eq!(
                (
                    queued.state.as_str(),
                    queued.run_after,
                    queued.locked_by,
                    queued.error.as_deref()
                ),
                (
                    "queued",
                    run_after,
                    None,
                    Some(format!("failure {attempt}").as_str())
                )
            );
            // Not a moment before its time.
            assert_eq!(
                db.claim_job("n1", &["probe"], LEASE, run_after - 1)
                    .await
                    .expect("claim"),
                None
            );
            now = run_after;
        } else {
            assert_eq!(outcome, JobFailure::Failed, "out of attempts");
        }
    }
    let failed = db.job_by_id(job.id).await.expect("q").expect("job");
    assert_eq!(
        (
            failed.state.as_str(),
            failed.attempts,
            failed.error.as_deref(),
            failed.finished_at
        ),
        ("failed", 3, Some("failure 3"), Some(now + 5))
    );
    assert_eq!(
        db.claim_job("n1", &["probe"], LEASE, now + 100 * MINUTE)
            .await
            .expect("claim"),
        None
    );

    // A failure that retrying cannot fix (a file that is not media) fails at once.
    let hostile = db
        .enqueue_job("probe", None, &json!({}), NOW, 5, NOW)
        .await
        .expect("enqueue");
    db.claim_job("n1", &["probe"], LEASE, NOW)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(
        db.fail_job(hostile.id, "n1", "The file is not a video.", false, NOW + 1)
            .await
            .expect("fail"),
        JobFailure::Failed
    );
    assert_eq!(
        db.fail_job(hostile.id, "n1", "again", false, NOW + 2)
            .await
            .expect("fail"),
        JobFailure::Lost,
        "already failed"
    );

    // A job that took its node down on its last attempt: its lease runs out, nobody claims it,
    // and the sweep fails it with the reason.
    let bomb = db
        .enqueue_job("probe", None, &json!({}), NOW, 1, NOW)
        .await
        .expect("enqueue");
    db.claim_job("n1", &["probe"], LEASE, NOW)
        .await
        .expect("claim")
        .expect("due");
    assert!(
        db.fail_abandoned_jobs(NOW + LEASE)
            .await
            .expect("sweep")
            .is_empty(),
        "lease holds"
    );
    assert_eq!(
        db.claim_job("n2", &["probe"], LEASE, NOW + LEASE + 1)
            .await
            .expect("claim"),
        None
    );
    let swept = db
        .fail_abandoned_jobs(NOW + LEASE + 1)
        .await
        .expect("sweep");
    assert_eq!(
        swept.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![bomb.id]
    );
    assert_eq!(
        (
            swept[0].state.as_str(),
            swept[0].error.as_deref(),
            swept[0].finished_at
        ),
        ("failed", Some(ABANDONED_ERROR), Some(NOW + LEASE + 1))
    );
    assert!(db
        .fail_abandoned_jobs(NOW + LEASE + 2)
        .await
        .expect("sweep")
        .is_empty());
    assert_eq!(
        db.job_counts().await.expect("counts"),
        JobCounts {
            queued: 0,
            running: 0,
            done: 0,
            failed: 3
        }
    );
}

/// PostgreSQL: a claim in flight holds its job's row lock until it commits; another claim
/// skips that job and takes the next instead of waiting on the lock (and then finding the job
/// gone and coming back empty-handed while others are due).
async fn a_claim_skips_a_job_another_claimer_holds(db: &Db) {
    let first = db
        .enqueue_job("probe", None, &json!({}), NOW - 1, 3, NOW)
        .await
        .expect("enqueue");
    let second = db
        .enqueue_job("probe", None, &json!({}), NOW, 3, NOW)
        .await
        .expect("enqueue");
    let Db::Postgres(pool) = db else {
        panic!("this contract is PostgreSQL's");
    };
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(first.id)
        .fetch_one(&mut *tx)
        .await
        .expect("lock the oldest job");
    let got = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        db.claim_job("n2", &["probe"], LEASE, NOW),
    )
    .await
    .expect("a claim does not wait on a job another claimer holds")
    .expect("claim")
    .expect("the next job");
    assert_eq!(got.id, second.id);
    tx.rollback().await.expect("rollback");
    // Released, the oldest is claimed next.
    let next = db
        .claim_job("n3", &["probe"], LEASE, NOW)
        .await
        .expect("claim")
        .expect("released");
    assert_eq!(next.id, first.id);
}
