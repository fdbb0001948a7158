//! Schedules: a creator's upcoming streams (`/api/me/schedule`), a channel's public list
//! (`GET /api/channels/{handle}/schedule`) and its iCalendar feed (`GET /c/{handle}/schedule.ics`).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::service::clock::rfc3339;
use crate::service::discovery::category_name;
use crate::service::schedule::{self, Changes, Draft, ScheduleError};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::schedule::ScheduledStream;
use ferrocast_domain::schedule::MAX_UPCOMING;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// A scheduled stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledView {
    /// Its id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Start (RFC 3339, UTC).
    pub starts_at: String,
    /// End (RFC 3339, UTC).
    pub ends_at: String,
    /// Minutes.
    pub duration_minutes: i64,
    /// A category's slug.
    pub category: Option<String>,
    /// Its name.
    pub category_name: Option<String>,
    /// Minutes before the start a calendar reminds; `null`: no reminder.
    pub reminder_minutes: Option<i64>,
}

/// Upcoming streams, the soonest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleList {
    /// Streams that have not ended.
    pub streams: Vec<ScheduledView>,
    /// The channel's iCalendar feed (absolute URL).
    pub ics_url: String,
}

/// One scheduled stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledOne {
    /// The stream.
    pub stream: ScheduledView,
}

/// A stream to schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScheduled {
    /// 1 to 140 characters on one line.
    pub title: String,
    /// RFC 3339 with an offset (`2026-12-24T18:00:00Z`); to come, at most a year ahead.
    pub starts_at: String,
    /// 5 to 1440.
    pub duration_minutes: i64,
    /// A category's slug from `GET /api/categories`.
    pub category: Option<String>,
    /// 0 to 10080 minutes before the start; `null` or absent: no reminder.
    pub reminder_minutes: Option<i64>,
}

/// Changes to a scheduled stream; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateScheduled {
    /// 1 to 140 characters on one line.
    pub title: Option<String>,
    /// RFC 3339 with an offset; to come.
    pub starts_at: Option<String>,
    /// 5 to 1440.
    pub duration_minutes: Option<i64>,
    /// A category's slug; `null`: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// Minutes before the start; `null`: no reminder.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub reminder_minutes: Option<Option<i64>>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::Invalid(m) => ApiError::validation(m),
            ScheduleError::NotFound => ApiError::not_found("Scheduled stream"),
            ScheduleError::Full => ApiError::conflict(
                "SCHEDULE_FULL",
                "The schedule is full",
                format!("A channel announces at most {MAX_UPCOMING} upcoming streams; remove one first."),
            ),
            ScheduleError::Db(e) => ApiError::internal(e),
        }
    }
}

fn view(s: &ScheduledStream, categories: &[ferrocast_db::sources::Category]) -> ScheduledView {
    ScheduledView {
        id: s.uuid.clone(),
        title: s.title.clone(),
        starts_at: rfc3339(s.starts_at),
        ends_at: rfc3339(s.starts_at + s.duration_ms),
        duration_minutes: s.duration_ms / 60_000,
        category: s.category.clone(),
        category_name: category_name(categories, s.category.as_deref()),
        reminder_minutes: s.reminder_minutes,
    }
}

fn ics_url(state: &AppState, handle: &str) -> String {
    format!(
        "{}/c/{handle}/schedule.ics",
        state.config.public_url.trim_end_matches('/')
    )
}

async fn list_of(state: &AppState, user: &UserRecord) -> ApiResult<ScheduleList> {
    let now = state.clock.now_ms();
    let items = state
        .db
        .upcoming_streams(user.id, now, MAX_UPCOMING)
        .await?;
    let categories = state.db.list_categories().await?;
    Ok(ScheduleList {
        streams: items.iter().map(|s| view(s, &categories)).collect(),
        ics_url: ics_url(state, &user.handle),
    })
}

async fn one(state: &AppState, s: &ScheduledStream) -> ApiResult<Json<ScheduledOne>> {
    let categories = state.db.list_categories().await?;
    Ok(Json(ScheduledOne {
        stream: view(s, &categories),
    }))
}

/// The caller's upcoming streams.
#[utoipa::path(get, path = "/api/me/schedule", tag = "profiles", security(("bearer" = [])),
    responses((status = 200, body = ScheduleList), (status = 401, body = ErrorBody)))]
pub async fn my_schedule(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<ScheduleList>> {
    Ok(Json(list_of(&state, &auth.user).await?))
}

/// Announce an upcoming stream.
#[utoipa::path(post, path = "/api/me/schedule", tag = "profiles", security(("bearer" = [])), request_body = NewScheduled,
    responses((status = 201, body = ScheduledOne), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`SCHEDULE_FULL`"),
              (status = 422, body = ErrorBody, description = "`VALIDATION_ERROR`: details name the field and the rule")))]
pub async fn create_scheduled(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewScheduled>,
) -> ApiResult<(StatusCode, Json<ScheduledOne>)> {
    let s = schedule::create(
        &state.db,
        &auth.user,
        Draft {
            title: req.title,
            starts_at: req.starts_at,
            duration_minutes: req.duration_minutes,
            category: req.category,
            reminder_minutes: req.reminder_minutes,
        },
        state.clock.now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, one(&state, &s).await?))
}

/// Change an upcoming stream.
#[utoipa::path(patch, path = "/api/me/schedule/{id}", tag = "profiles", security(("bearer" = [])), request_body = UpdateScheduled,
    params(("id" = String, Path, description = "The scheduled stream's id")),
    responses((status = 200, body = ScheduledOne), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "`VALIDATION_ERROR`")))]
pub async fn update_scheduled(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateScheduled>,
) -> ApiResult<Json<ScheduledOne>> {
    let s = schedule::update(
        &state.db,
        &auth.user,
        &id,
        Changes {
            title: req.title,
            starts_at: req.starts_at,
            duration_minutes: req.duration_minutes,
            category: req.category,
            reminder_minutes: req.reminder_minutes,
        },
        state.clock.now_ms(),
    )
    .await?;
    one(&state, &s).await
}

/// Remove an upcoming stream.
#[utoipa::path(delete, path = "/api/me/schedule/{id}", tag = "profiles", security(("bearer" = [])),
    params(("id" = String, Path, description = "The scheduled stream's id")),
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_scheduled(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    schedule::delete(&state.db, &auth.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn channel_user(state: &AppState, handle: &str) -> ApiResult<UserRecord> {
    Ok(crate::service::follows::channel(&state.db, handle).await?)
}

/// A channel's upcoming streams (anyone).
#[utoipa::path(get, path = "/api/channels/{handle}/schedule", tag = "profiles",
    params(("handle" = String, Path, description = "The channel's handle (any case)")),
    responses((status = 200, body = ScheduleList), (status = 404, body = ErrorBody, description = "`CHANNEL_NOT_FOUND`")))]
pub async fn channel_schedule(
    State(state): State<AppState>,
    Path(handle): Path<String>,
) -> ApiResult<Json<ScheduleList>> {
    let user = channel_user(&state, &handle).await?;
    Ok(Json(list_of(&state, &user).await?))
}

/// A channel's upcoming streams as an iCalendar feed (RFC 5545) to subscribe to (anyone).
#[utoipa::path(get, path = "/c/{handle}/schedule.ics", tag = "profiles",
    params(("handle" = String, Path, description = "The channel's handle")),
    responses((status = 200, content_type = "text/calendar", description = "The calendar"), (status = 404, body = ErrorBody)))]
pub async fn channel_ics(
    State(state): State<AppState>,
    Path(handle): Path<String>,
) -> ApiResult<Response> {
    let user = channel_user(&state, &handle).await?;
    let body = schedule::calendar(
        &state.db,
        &user,
        &state.config.public_url,
        state.clock.now_ms(),
    )
    .await?;
    let disposition = format!("inline; filename=\"{}-schedule.ics\"", user.handle);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("inline")),
            ),
        ],
        body,
    )
        .into_response())
}
