//! Backups to storage (administrators): the schedule and its retention, every backup taken
//! (automatic or asked for) with its outcome, and "Back up now".

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::service::backup::{StartRefused, LEASE_MS};
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// How many of the newest backups the page lists.
const LISTED: i64 = 50;

/// One backup, automatic or asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupRunView {
    /// Where it is stored (under `backups/` in the object storage).
    pub storage_key: String,
    /// The node that took it.
    pub node: String,
    /// `running`, `stored`, `failed`, `pruned` (removed by retention) or `interrupted` (its
    /// node stopped before it finished).
    pub state: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it finished (RFC 3339).
    pub finished_at: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Its size in bytes, once stored.
    pub size_bytes: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// When retention removed it (RFC 3339).
    pub pruned_at: Option<String>,
}

/// The backups of the deployment, as the answering node sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupsView {
    /// Whether this node has a backup passphrase (`FERROCAST_BACKUP_PASSPHRASE`): without one
    /// it can take no backup.
    pub passphrase_configured: bool,
    /// The retention of automatic backups (`FERROCAST_BACKUP_SCHEDULE`), e.g. "24 hourly, 7
    /// daily, 4 weekly"; absent: automatic backups are off on this node.
    pub schedule: Option<String>,
    /// How often an automatic backup is taken: `hour`, `day` or `week`.
    pub every: Option<String>,
    /// When the next automatic backup is due (RFC 3339).
    pub next_due_at: Option<String>,
    /// When the newest successful backup finished (RFC 3339).
    pub last_success_at: Option<String>,
    /// The backup this node is taking now.
    pub running_here: Option<String>,
    /// The newest backups first (at most 50).
    pub runs: Vec<BackupRunView>,
}

/// A backup started by "Back up now".
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupStarted {
    /// Where it will be stored; follow it in `GET /api/admin/backups`.
    pub storage_key: String,
}

fn describe(s: &ferrocast_config::BackupSchedule) -> String {
    [
        (s.hourly, "hourly"),
        (s.daily, "daily"),
        (s.weekly, "weekly"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect::<Vec<_>>()
    .join(", ")
}

/// Every backup with its outcome, the schedule and when the next one is due (administrators).
#[utoipa::path(get, path = "/api/admin/backups", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = BackupsView), (status = 403, body = ErrorBody)))]
pub async fn admin_backups(State(state): State<AppState>) -> ApiResult<Json<BackupsView>> {
    let now = state.clock.now_ms();
    let runs = state.db.backup_runs(LISTED).await?;
    let live_nodes: Vec<String> = state
        .db
        .list_nodes()
        .await?
        .into_iter()
        .map(|(n, _)| n.id)
        .collect();
    let scheduler = state.backups.get();
    let running_here = scheduler.and_then(|s| s.running());
    let schedule = state.config.backup.schedule;
    let last_start = runs.first().map(|r| r.started_at);
    let runs = runs
        .into_iter()
        .map(|r| {
            let state = if r.pruned_at.is_some() {
                "pruned"
            } else if r.finished_at.is_none() {
                // Running where its node is alive (a restarted node has a new id), or recently
                // begun by a node this one has not seen yet.
                if running_here.as_deref() == Some(r.storage_key.as_str())
                    || live_nodes.contains(&r.node)
                    || now - r.started_at < LEASE_MS
                {
                    "running"
                } else {
                    "interrupted"
                }
            } else if r.error.is_some() {
                "failed"
            } else {
                "stored"
            };
            BackupRunView {
                state: state.to_string(),
                started_at: rfc3339(r.started_at),
                finished_at: r.finished_at.map(rfc3339),
                duration_ms: r.finished_at.map(|f| (f - r.started_at).max(0)),
                size_bytes: r.size_bytes,
                error: r.error,
                pruned_at: r.pruned_at.map(rfc3339),
                storage_key: r.storage_key,
                node: r.node,
            }
        })
        .collect();
    let every = schedule.map(|s| {
        match s.interval_ms() / 3_600_000 {
            1 => "hour",
            24 => "day",
            _ => "week",
        }
        .to_string()
    });
    Ok(Json(BackupsView {
        passphrase_configured: state.config.backup.passphrase.is_some(),
        schedule: schedule.as_ref().map(describe),
        every,
        next_due_at: schedule
            .map(|s| last_start.map_or(now, |t| (t + s.interval_ms()).max(now)))
            .map(rfc3339),
        last_success_at: state.db.last_backup_success().await?.map(rfc3339),
        running_here,
        runs,
    }))
}

/// Back up now: this node takes a backup into storage in the background (database snapshot,
/// sealed keys, object manifest) and answers at once; follow it in `GET /api/admin/backups`.
/// Recorded as the administrator's action.
#[utoipa::path(post, path = "/api/admin/backups", tag = "admin", security(("bearer" = [])),
    responses((status = 202, body = BackupStarted), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "BACKUP_NO_PASSPHRASE, BACKUP_RUNNING or BACKUP_TOO_SOON")))]
pub async fn back_up_now(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<(StatusCode, Json<BackupStarted>)> {
    let Some(scheduler) = state.backups.get() else {
        return Err(ApiError::conflict(
            "BACKUP_NO_PASSPHRASE",
            "This node has no backup passphrase",
            "Every backup encrypts the keys with a passphrase: set FERROCAST_BACKUP_PASSPHRASE \
             (or FERROCAST_BACKUP_PASSPHRASE_FILE) on this node, at least 12 characters, and \
             restart it.",
        ));
    };
    let key = match scheduler.start_now(state.clock.now_ms()).await {
        Ok(Ok(key)) => key,
        Ok(Err(StartRefused::Running(key))) => {
            return Err(ApiError::conflict(
                "BACKUP_RUNNING",
                "A backup is running",
                format!("This node is taking {key} now; it is listed here when it ends."),
            ))
        }
        Ok(Err(StartRefused::TooSoon)) => {
            return Err(ApiError::conflict(
                "BACKUP_TOO_SOON",
                "A backup was just taken",
                "Backups are named by the second they start; try again in a second.",
            ))
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let details = serde_json::json!({ "storage_key": key, "node": state.fanout.node() });
    crate::routes::admin::record_action(&state, auth.user.id, "backup_started", None, details)
        .await;
    tracing::info!(admin = auth.user.uuid, key = %key, "backup asked for");
    Ok((
        StatusCode::ACCEPTED,
        Json(BackupStarted { storage_key: key }),
    ))
}
