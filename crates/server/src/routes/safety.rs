//! Trust and safety over HTTP: reports (`POST /api/reports`), the caller's standing and appeals
//! (`/api/me/standing`, `POST /api/appeals`), and the moderation queue for moderators and
//! administrators (`/api/moderation/...`). The rules are [`crate::service::safety`]'s.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::service::safety::{
    AppealEntry, AppealView, Decision, QueueEntry, ReportInput, ReportView, StandingView,
};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A report.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSafetyReport {
    /// `channel`, `live_stream`, `video`, `comment` or `chat_message`.
    #[schema(example = "chat_message")]
    pub kind: String,
    /// The item: a channel's handle, a live stream's playback id, a video's id, a comment's or
    /// chat message's number.
    #[schema(example = "42")]
    pub target: String,
    /// `spam`, `harassment`, `hate`, `violence`, `sexual`, `self_harm`, `copyright` or `other`.
    #[schema(example = "harassment")]
    pub category: String,
    /// What is wrong, up to 1000 characters (required for `other`).
    #[serde(default)]
    pub details: String,
}

/// Report a channel, live stream, video, comment or chat message to the moderators. One open
/// report per reporter and item; 20 reports an hour.
#[utoipa::path(post, path = "/api/reports", tag = "safety", security(("bearer" = [])), request_body = NewSafetyReport,
    responses((status = 201, body = ReportView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn create_report(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewSafetyReport>,
) -> ApiResult<(StatusCode, Json<ReportView>)> {
    let r = state
        .safety
        .report(
            &auth.user,
            ReportInput {
                kind: &req.kind,
                target: &req.target,
                category: &req.category,
                details: &req.details,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// The caller's standing: strikes (with when each expires), whether streaming and uploads are
/// restricted, the decisions on their content, their appeals, and their reports with outcomes.
#[utoipa::path(get, path = "/api/me/standing", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = StandingView)))]
pub async fn my_standing(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<StandingView>> {
    Ok(Json(state.safety.standing_view(&auth.user).await?))
}

/// An appeal: of a strike, or of a decision on the caller's content.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAppeal {
    /// The strike appealed.
    pub strike_id: Option<i64>,
    /// The report whose decision (a removal, a warning) is appealed.
    pub report_id: Option<i64>,
    /// Why it should be overturned, 1 to 1000 characters.
    pub statement: String,
}

/// Appeal a strike or a decision on your content; each is appealed once and decided by a
/// moderator with a note.
#[utoipa::path(post, path = "/api/appeals", tag = "safety", security(("bearer" = [])), request_body = NewAppeal,
    responses((status = 201, body = AppealView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn create_appeal(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewAppeal>,
) -> ApiResult<(StatusCode, Json<AppealView>)> {
    let a = state
        .safety
        .appeal(&auth.user, req.strike_id, req.report_id, &req.statement)
        .await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// Which entries.
#[derive(Debug, Deserialize, IntoParams)]
pub struct StatusQuery {
    /// Reports: `open` (default, oldest first), `resolved`, `dismissed` or `all`; appeals:
    /// `open` (default), `upheld`, `overturned` or `all`.
    pub status: Option<String>,
    /// At most this many, 1 to 100 (default 50).
    pub limit: Option<i64>,
}

/// The moderation queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queue {
    /// Reports open now, in all.
    pub open: i64,
    /// The entries.
    pub reports: Vec<QueueEntry>,
}

/// The moderation queue (moderators and administrators): each report with the item as it is
/// now, its context (the chat around a message, a comment's thread, a video's thumbnail), how
/// many open reports it has, and the subject's earlier reports and strikes.
#[utoipa::path(get, path = "/api/moderation/reports", tag = "safety", security(("bearer" = [])), params(StatusQuery),
    responses((status = 200, body = Queue), (status = 403, body = ErrorBody)))]
pub async fn queue(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<Queue>> {
    let reports = state
        .safety
        .queue(&auth.user, q.status.as_deref(), q.limit.unwrap_or(50))
        .await?;
    let open = state.safety.open_count(&auth.user).await?;
    Ok(Json(Queue { open, reports }))
}

/// One report of the queue, with its item, context and history (moderators and administrators).
#[utoipa::path(get, path = "/api/moderation/reports/{id}", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 200, body = QueueEntry), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn queue_entry(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<QueueEntry>> {
    Ok(Json(state.safety.queue_entry(&auth.user, id).await?))
}

/// A decision on a report.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewDecision {
    /// `dismiss`, `remove` (the content goes), `warn` (removed, author warned), `strike`
    /// (removed, author struck), `suspend` or `ban` (administrators).
    #[schema(example = "remove")]
    pub outcome: String,
    /// A note for the author (and the record), up to 1000 characters.
    #[serde(default)]
    pub note: String,
}

/// The reports a decision closed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Decided {
    /// Every open report of the item, now decided.
    pub decided: Vec<ReportView>,
}

/// Decide a report — and every open report of the same item with it (moderators; suspend and
/// ban: administrators). The reporters and the author are notified.
#[utoipa::path(post, path = "/api/moderation/reports/{id}/decision", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The report's id")), request_body = NewDecision,
    responses((status = 200, body = Decided), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewDecision>,
) -> ApiResult<Json<Decided>> {
    let decided = state
        .safety
        .decide(
            &auth.user,
            id,
            Decision {
                outcome: &req.outcome,
                note: &req.note,
            },
        )
        .await?;
    Ok(Json(Decided { decided }))
}

/// Appeals.
#[derive(Debug, Serialize, ToSchema)]
pub struct Appeals {
    /// The entries.
    pub appeals: Vec<AppealEntry>,
}

/// Appeals for moderators and administrators: open ones oldest first by default.
#[utoipa::path(get, path = "/api/moderation/appeals", tag = "safety", security(("bearer" = [])), params(StatusQuery),
    responses((status = 200, body = Appeals), (status = 403, body = ErrorBody)))]
pub async fn appeals(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<Appeals>> {
    let appeals = state
        .safety
        .appeals(&auth.user, q.status.as_deref())
        .await?;
    Ok(Json(Appeals { appeals }))
}

/// A decision on an appeal.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AppealDecision {
    /// `overturn` (the strike stops counting; a removed video comes back unlisted) or `uphold`.
    #[schema(example = "overturn")]
    pub decision: String,
    /// Why, 1 to 1000 characters (the user reads it; the record keeps it).
    pub note: String,
}

/// Decide an appeal (moderators and administrators, not on their own appeal).
#[utoipa::path(post, path = "/api/moderation/appeals/{id}/decision", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The appeal's id")), request_body = AppealDecision,
    responses((status = 200, body = AppealView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide_appeal(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<AppealDecision>,
) -> ApiResult<Json<AppealView>> {
    let overturn = match req.decision.as_str() {
        "overturn" => true,
        "uphold" => false,
        _ => {
            return Err(crate::error::ApiError::validation(
                "decision: overturn or uphold",
            ))
        }
    };
    Ok(Json(
        state
            .safety
            .decide_appeal(&auth.user, id, overturn, &req.note)
            .await?,
    ))
}
