//! Live state of a creator's streams, stopping them, and the administrators' view of everything
//! live. Shapes follow the Neustream API ("Stream Endpoints"); destination keys
//! are masked and destinations carry their push state.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::routes::sources::{destination_view, hours, rtmp_base_url, shown_key, DestinationView};
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use ferrocast_auth::token;
use ferrocast_db::sources::SourceRecord;
use ferrocast_domain::plans::{day_bounds, month_bounds};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

/// Streaming time used and allowed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    /// Hours streamed today (UTC).
    pub hours_streamed_today: f64,
    /// Hours streamed this month (UTC).
    pub hours_streamed_month: f64,
    /// The plan's monthly hours.
    pub hours_limit: f64,
    /// Minutes streamed this month.
    pub minutes_streamed_month: i64,
    /// The plan's monthly minutes.
    pub minutes_limit: i64,
    /// The month counted, `YYYY-MM`.
    pub month: String,
}

/// A source with its live state and destinations.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamView {
    /// Source id.
    pub id: i64,
    /// Source UUID.
    pub uuid: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The secret stream key (masked, `sk_…abcd`, unless the caller is a login session or a
    /// `sources:write` key).
    pub stream_key: String,
    /// Public playback id.
    pub playback_id: String,
    /// Whether a publisher is live.
    pub is_active: bool,
    /// `offline`, `starting` (publisher connected, no keyframe yet) or `live`.
    pub status: String,
    /// RFC 3339 start of the live session, when live.
    pub started_at: Option<String>,
    /// Destinations with their push state.
    pub destinations: Vec<DestinationView>,
    /// The owner's streaming time (the same for every source of a user).
    pub usage: Usage,
}

/// The caller's streams.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamsInfo {
    /// One per source.
    pub streams: Vec<StreamView>,
}

/// A destination as the forwarding endpoint lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Forwarding {
    /// Destinations that are forwarded (active ones).
    pub destinations: Vec<DestinationView>,
}

/// Connection details for going live.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoLive {
    /// `offline` until the encoder connects, then `starting` and `live`.
    pub status: String,
    /// The stream key to put in the encoder (masked, `sk_…abcd`, unless the caller is a login
    /// session or a `sources:write` key).
    pub stream_key: String,
    /// The encoder's server URL.
    pub rtmp_url: String,
    /// HLS preview, by public playback id.
    pub preview_url: String,
}

/// The answer to ending a stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ended {
    /// `offline`.
    pub status: String,
    /// Whole minutes the session lasted (0 if it was not live).
    pub duration_minutes: i64,
}

/// A live stream, for administrators.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveStream {
    /// Source id.
    pub source_id: i64,
    /// Source UUID.
    pub uuid: String,
    /// Source name.
    pub name: String,
    /// Owner id.
    pub user_id: i64,
    /// Public playback id.
    pub playback_id: String,
    /// `starting` or `live`.
    pub status: String,
    /// Seconds since publishing started.
    pub uptime_seconds: u64,
    /// Bytes received from the encoder.
    pub bytes_in: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Players and other readers attached.
    pub readers: u64,
    /// Destinations with their push state.
    pub destinations: Vec<DestinationView>,
}

/// A source's recent stream health, for the dashboard's charts.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamStatsHistory {
    /// The source.
    pub source_id: i64,
    /// Whether a publisher is live.
    pub is_active: bool,
    /// One sample a second over the last five minutes of the live session, oldest first
    /// (empty when offline). The same samples arrive live as the `stream-stats` Socket.IO
    /// event on the owner's sockets.
    pub samples: Vec<crate::service::stats::StreamSample>,
}

/// Everything live on this node.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveStreams {
    /// Live streams.
    pub streams: Vec<ActiveStream>,
}

async fn usage(state: &AppState, user_id: i64) -> ApiResult<Usage> {
    let now = state.clock.now_ms();
    let (plan, allowance) = crate::service::streams::allowance(&state.db, user_id, now).await?;
    let (day_from, _) = day_bounds(now);
    let today = state.db.streamed_ms(user_id, day_from, now + 1).await?;
    let (_, _, month) = month_bounds(now);
    Ok(Usage {
        hours_streamed_today: hours(today),
        hours_streamed_month: hours(allowance.used_ms),
        hours_limit: hours(allowance.limit_ms),
        minutes_streamed_month: allowance.used_ms / 60_000,
        minutes_limit: plan.spec.max_streaming_minutes_monthly,
        month,
    })
}

async fn destination_views(
    state: &AppState,
    s: &SourceRecord,
    active_only: bool,
) -> ApiResult<Vec<DestinationView>> {
    let live = state.engine.restream.status(&s.playback_id);
    Ok(state
        .db
        .list_destinations(s.id)
        .await?
        .iter()
        .filter(|d| d.is_active || !active_only)
        .map(|d| destination_view(state, d, &live))
        .collect())
}

/// The caller's sources with live state, destinations (and their pushes) and usage.
#[utoipa::path(get, path = "/api/streams/info", tag = "streams", security(("bearer" = [])),
    responses((status = 200, body = StreamsInfo), (status = 401, body = ErrorBody)))]
pub async fn info(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<StreamsInfo>> {
    let usage = usage(&state, auth.user.id).await?;
    let reveal = auth.may_see_stream_keys();
    let mut streams = Vec::new();
    for s in state.db.list_sources(auth.user.id).await? {
        let key = shown_key(&state, &s, reveal)?;
        streams.push(StreamView {
            id: s.id,
            uuid: s.uuid.clone(),
            name: s.name.clone(),
            description: s.description.clone(),
            stream_key: key,
            playback_id: s.playback_id.clone(),
            is_active: state.engine.hub.is_live(&s.playback_id),
            status: state.streams.stream_status(&s.playback_id).as_str().into(),
            started_at: state.streams.started_at(&s.playback_id).map(rfc3339),
            destinations: destination_views(&state, &s, false).await?,
            usage: usage.clone(),
        });
    }
    Ok(Json(StreamsInfo { streams }))
}

/// The destinations a stream key is forwarded to (the caller's own keys only). Kept for the
/// Neustream clients; `GET /api/sources/{id}/forwarding` does the same without the key in the URL.
#[utoipa::path(get, path = "/api/streams/forwarding/{stream_key}", tag = "streams", security(("bearer" = [])),
    params(("stream_key" = String, Path, description = "One of your sources' stream keys")),
    responses((status = 200, body = Forwarding), (status = 404, body = ErrorBody)))]
pub async fn forwarding(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(stream_key): Path<String>,
) -> ApiResult<Json<Forwarding>> {
    if stream_key.len() > 256 {
        return Err(ApiError::not_found("stream key"));
    }
    let source = match state
        .db
        .source_by_key_hash(&token::hash(&stream_key))
        .await?
    {
        Some(s) if s.user_id == auth.user.id => s,
        _ => return Err(ApiError::not_found("stream key")),
    };
    Ok(Json(Forwarding {
        destinations: destination_views(&state, &source, true).await?,
    }))
}

/// The destinations a source is forwarded to (the caller's own sources; administrators any).
/// Takes the source id, so no secret travels in a URL (prefer it to the stream-key form).
#[utoipa::path(get, path = "/api/sources/{id}/forwarding", tag = "streams", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, body = Forwarding), (status = 404, body = ErrorBody)))]
pub async fn forwarding_by_source(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Forwarding>> {
    let source = state.sources.own(&auth, &id).await?;
    Ok(Json(Forwarding {
        destinations: destination_views(&state, &source, true).await?,
    }))
}

/// What to put in the encoder to go live on a source, and its current status (a source goes
/// live when the encoder connects; nothing needs to be switched on first).
#[utoipa::path(post, path = "/api/streams/active/{source_id}", tag = "streams", security(("bearer" = [])),
    params(("source_id" = i64, Path, description = "Source id")),
    responses((status = 200, body = GoLive), (status = 404, body = ErrorBody)))]
pub async fn go_live(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(source_id): Path<String>,
) -> ApiResult<Json<GoLive>> {
    let s = state.sources.own(&auth, &source_id).await?;
    Ok(Json(GoLive {
        status: state.streams.stream_status(&s.playback_id).as_str().into(),
        stream_key: shown_key(&state, &s, auth.may_see_stream_keys())?,
        rtmp_url: format!("{}/live", rtmp_base_url(&state)),
        preview_url: format!(
            "{}/hls/{}/index.m3u8",
            state.config.public_url, s.playback_id
        ),
    }))
}

/// End the live stream on a source: the encoder is disconnected with the reason, restream
/// pushes stop, usage is recorded. The owner or an administrator may do it.
#[utoipa::path(delete, path = "/api/streams/active/{source_id}", tag = "streams", security(("bearer" = [])),
    params(("source_id" = i64, Path, description = "Source id")),
    responses((status = 200, body = Ended), (status = 404, body = ErrorBody)))]
pub async fn end(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(source_id): Path<String>,
) -> ApiResult<Json<Ended>> {
    let s = state.sources.own(&auth, &source_id).await?;
    let started = state.streams.started_at(&s.playback_id);
    let reason = if s.user_id == auth.user.id {
        "ended from the dashboard"
    } else {
        "stopped by an administrator"
    };
    if state.streams.stop_stream(&s.playback_id, reason) {
        tracing::info!(by = auth.user.id, source_id = s.id, %reason, "stream stopped");
        if s.user_id != auth.user.id {
            let details_value = serde_json::json!({"source_id": s.id, "source": s.name});
            state
                .audit
                .admin_action(
                    auth.user.id,
                    "stream_stopped",
                    Some(s.user_id),
                    details_value.clone(),
                )
                .await;
            let details = details_value.to_string();
            if let Err(e) = state
                .db
                .record_admin_action(
                    auth.user.id,
                    "stream_stopped",
                    Some(s.user_id),
                    &details,
                    state.clock.now_ms(),
                )
                .await
            {
                // The action is done; a record that cannot be written is the operator's to see.
                tracing::error!(error = %e, action = "stream_stopped", "cannot record an administrator's action");
            }
        }
        // The encoder's connection closes within moments; answer once it has.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while state.engine.hub.is_live(&s.playback_id) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(Json(Ended {
        status: "offline".into(),
        duration_minutes: started
            .map(|t| (state.clock.now_ms() - t).max(0) / 60_000)
            .unwrap_or(0),
    }))
}

/// The recent health of a source's live stream (the caller's own sources; administrators any):
/// viewers, duration, incoming bitrate and frame rate, keyframe interval, frames skipped and
/// gaps, one sample a second over the last five minutes.
#[utoipa::path(get, path = "/api/sources/{id}/stats", tag = "streams", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, body = StreamStatsHistory), (status = 404, body = ErrorBody)))]
pub async fn stream_stats(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<StreamStatsHistory>> {
    let s = state.sources.own(&auth, &id).await?;
    let samples = if s.is_active {
        state.streams.stats.history(s.id, state.clock.now_ms())
    } else {
        Vec::new()
    };
    Ok(Json(StreamStatsHistory {
        source_id: s.id,
        is_active: s.is_active,
        samples,
    }))
}

/// Every live stream on this node with its destinations' state (administrators).
#[utoipa::path(get, path = "/api/streams/active", tag = "streams", security(("bearer" = [])),
    responses((status = 200, body = ActiveStreams), (status = 403, body = ErrorBody)))]
pub async fn active(State(state): State<AppState>) -> ApiResult<Json<ActiveStreams>> {
    let mut streams = Vec::new();
    for live in state.engine.hub.streams() {
        let Some(s) = state.db.source_by_id(live.key.source_id).await? else {
            continue;
        };
        use std::sync::atomic::Ordering::Relaxed;
        streams.push(ActiveStream {
            source_id: s.id,
            uuid: s.uuid.clone(),
            name: s.name.clone(),
            user_id: s.user_id,
            playback_id: s.playback_id.clone(),
            status: if live.info.has_video || live.info.has_audio {
                "live"
            } else {
                "starting"
            }
            .into(),
            uptime_seconds: live.uptime.as_secs(),
            bytes_in: live.stats.bytes_in.load(Relaxed),
            frames_in: live.stats.frames_in.load(Relaxed),
            readers: live.stats.readers.load(Relaxed),
            destinations: destination_views(&state, &s, false).await?,
        });
    }
    streams.sort_by_key(|s| s.source_id);
    Ok(Json(ActiveStreams { streams }))
}
