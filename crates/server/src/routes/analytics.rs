//! Creator analytics: the caller's broadcasts with their audience figures
//! (`GET /api/analytics/streams`), one broadcast's figures and concurrent viewers over time
//! (`GET /api/analytics/streams/{id}`, `…/{id}.csv`), the channel's totals over time
//! (`GET /api/analytics/channel`) and the site's (`GET /api/admin/analytics`, administrators).
//! How viewers are counted: `crate::service::analytics`.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::service::accounts::AuthUser;
use crate::service::analytics::SAMPLE_EVERY;
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_db::analytics::{BroadcastSummary, SeriesBucket, ViewerSampleRow, MAX_BUCKETS};
use ferrocast_domain::account::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Broadcasts per page.
const PAGE: i64 = 20;
/// Samples returned at most (a 5 s sample: about 2 days of broadcast).
const MAX_SAMPLES: i64 = 40_000;

/// A broadcast with its audience figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastFigures {
    /// The broadcast's id.
    pub id: i64,
    /// Its source, unless since deleted.
    pub source_id: Option<i64>,
    /// The stream's title now (the source's name when it has none; "Deleted source" once gone).
    pub title: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339); `null` while live.
    pub ended_at: Option<String>,
    /// Live now.
    pub live: bool,
    /// Its length so far, seconds.
    pub duration_seconds: i64,
    /// The most viewers at once (every protocol together).
    pub peak_viewers: i64,
    /// Viewers on average over the broadcast: watch time ÷ duration.
    pub average_viewers: f64,
    /// Distinct viewers (by address and player).
    pub unique_viewers: i64,
    /// Viewing sessions (a viewer who comes back twice has two).
    pub sessions: i64,
    /// Watch time of every viewer together, ms.
    pub watch_ms: i64,
    /// Chat messages during it (this site's chat and the linked platforms').
    pub chat_messages: i64,
    /// Accounts that followed the channel during it.
    pub new_followers: i64,
}

fn figures(b: &BroadcastSummary, now: i64) -> BroadcastFigures {
    let end = b.ended_at.unwrap_or(now);
    let duration_ms = (end - b.started_at).max(0);
    BroadcastFigures {
        id: b.id,
        source_id: b.source_id,
        title: b
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| b.source_name.clone())
            .unwrap_or_else(|| "Deleted source".into()),
        started_at: rfc3339(b.started_at),
        ended_at: b.ended_at.map(rfc3339),
        live: b.ended_at.is_none(),
        duration_seconds: duration_ms / 1000,
        peak_viewers: b.peak_viewers,
        average_viewers: if duration_ms > 0 {
            (b.watch_ms as f64 / duration_ms as f64 * 100.0).round() / 100.0
        } else {
            0.0
        },
        unique_viewers: b.unique_viewers,
        sessions: b.sessions,
        watch_ms: b.watch_ms,
        chat_messages: b.chat_messages,
        new_followers: b.new_followers,
    }
}

/// A page of broadcasts.
#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastList {
    /// Newest first.
    pub broadcasts: Vec<BroadcastFigures>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CursorQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The caller's broadcasts, newest first, 20 a page, with their audience figures.
#[utoipa::path(get, path = "/api/analytics/streams", tag = "analytics", security(("bearer" = [])), params(CursorQuery),
    responses((status = 200, body = BroadcastList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_broadcasts(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<CursorQuery>,
) -> ApiResult<Json<BroadcastList>> {
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::validation("cursor: pass the next_cursor of the previous page")
        })?),
    };
    let now = state.clock.now_ms();
    let rows = state
        .db
        .broadcast_summaries(auth.user.id, before, PAGE + 1, now)
        .await?;
    let more = rows.len() as i64 > PAGE;
    let broadcasts: Vec<BroadcastFigures> = rows
        .iter()
        .take(PAGE as usize)
        .map(|b| figures(b, now))
        .collect();
    Ok(Json(BroadcastList {
        next_cursor: more
            .then(|| broadcasts.last().map(|b| b.id.to_string()))
            .flatten(),
        broadcasts,
    }))
}

/// Concurrent viewers at one instant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewerSample {
    /// The instant (RFC 3339).
    pub at: String,
    /// The instant, Unix ms.
    pub at_ms: i64,
    /// Watching then.
    pub viewers: i64,
    /// The most watching at once since the previous sample.
    pub peak: i64,
    /// Watching over RTMP.
    pub rtmp: i64,
    /// Over HTTP-FLV.
    pub http_flv: i64,
    /// Over HLS.
    pub hls: i64,
    /// Over Low-Latency HLS.
    pub ll_hls: i64,
    /// On this site's watch and channel pages.
    pub watch_page: i64,
    /// In the embeddable player.
    pub embed: i64,
    /// In other players and on other sites.
    pub external: i64,
    /// People with the watch page open (chat and presence), playing or not.
    pub page_viewers: i64,
}

impl From<&ViewerSampleRow> for ViewerSample {
    fn from(s: &ViewerSampleRow) -> Self {
        Self {
            at: rfc3339(s.at),
            at_ms: s.at,
            viewers: s.viewers,
            peak: s.peak,
            rtmp: s.rtmp,
            http_flv: s.http_flv,
            hls: s.hls,
            ll_hls: s.ll_hls,
            watch_page: s.watch_page,
            embed: s.embed,
            external: s.external,
            page_viewers: s.page_viewers,
        }
    }
}

/// A broadcast's audience through one protocol or from one kind of place.
#[derive(Debug, Serialize, ToSchema)]
pub struct Breakdown {
    /// `rtmp`, `http_flv`, `hls`, `ll_hls`; or `watch_page`, `embed`, `external`.
    pub key: String,
    /// Viewing sessions.
    pub sessions: i64,
    /// Distinct viewers.
    pub unique_viewers: i64,
    /// Watch time, ms.
    pub watch_ms: i64,
    /// The most at once (by sample).
    pub peak_viewers: i64,
}

/// A broadcast's figures and its viewers over time.
#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastDetail {
    /// The figures.
    pub broadcast: BroadcastFigures,
    /// Seconds between samples.
    pub sample_every_seconds: u64,
    /// Concurrent viewers over time, oldest first.
    pub samples: Vec<ViewerSample>,
    /// By playback protocol (each that had viewers).
    pub by_protocol: Vec<Breakdown>,
    /// By where people watched (each that had viewers).
    pub by_origin: Vec<Breakdown>,
}

fn column(s: &ViewerSampleRow, key: &str) -> i64 {
    match key {
        "rtmp" => s.rtmp,
        "http_flv" => s.http_flv,
        "hls" => s.hls,
        "ll_hls" => s.ll_hls,
        "watch_page" => s.watch_page,
        "embed" => s.embed,
        "external" => s.external,
        _ => 0,
    }
}

/// One of the caller's broadcasts (`{id}`) with its viewers over time, or the same samples as
/// CSV (`{id}.csv`: one row per sample, a header row first).
#[utoipa::path(get, path = "/api/analytics/streams/{id}", tag = "analytics", security(("bearer" = [])),
    params(("id" = String, Path, description = "The broadcast's id, or `<id>.csv` for its samples as CSV")),
    responses((status = 200, body = BroadcastDetail), (status = 200, content_type = "text/csv", description = "The samples as CSV (`{id}.csv`)"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_broadcast(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (digits, csv) = match id.strip_suffix(".csv") {
        Some(d) => (d, true),
        None => (id.as_str(), false),
    };
    let not_found = || ApiError::not_found("Broadcast");
    let id: i64 = digits.parse().map_err(|_| not_found())?;
    let now = state.clock.now_ms();
    let b = state
        .db
        .broadcast_summary(id, now)
        .await?
        .filter(|b| b.user_id == auth.user.id || auth.role == Role::Admin)
        .ok_or_else(not_found)?;
    let samples = state.db.viewer_samples(id, MAX_SAMPLES).await?;
    if csv {
        return Ok(csv_response(id, &samples));
    }
    let (protocols, origins) = state.db.broadcast_breakdown(id).await?;
    let breakdown = |rows: Vec<ferrocast_db::analytics::BreakdownRow>| -> Vec<Breakdown> {
        rows.into_iter()
            .map(|r| Breakdown {
                peak_viewers: samples.iter().map(|s| column(s, &r.key)).max().unwrap_or(0),
                key: r.key,
                sessions: r.sessions,
                unique_viewers: r.unique_viewers,
                watch_ms: r.watch_ms,
            })
            .collect()
    };
    let detail = BroadcastDetail {
        broadcast: figures(&b, now),
        sample_every_seconds: SAMPLE_EVERY.as_secs(),
        by_protocol: breakdown(protocols),
        by_origin: breakdown(origins),
        samples: samples.iter().map(ViewerSample::from).collect(),
    };
    Ok(Json(detail).into_response())
}

fn csv_response(id: i64, samples: &[ViewerSampleRow]) -> Response {
    let mut out = String::from(
        "time,viewers,peak,rtmp,http_flv,hls,ll_hls,watch_page,embed,external,page_viewers\r\n",
    );
    for s in samples {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\r\n",
            rfc3339(s.at),
            s.viewers,
            s.peak,
            s.rtmp,
            s.http_flv,
            s.hls,
            s.ll_hls,
            s.watch_page,
            s.embed,
            s.external,
            s.page_viewers
        ));
    }
    let mut res = out.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"broadcast-{id}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// A span of time cut into buckets.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SeriesQuery {
    /// Start, Unix ms (default: `to` minus 30 days, at a bucket boundary).
    pub from: Option<i64>,
    /// End, Unix ms, exclusive (default: now).
    pub to: Option<i64>,
    /// `hour`, `day` (default) or `week`.
    pub step: Option<String>,
}

/// `(from, step, buckets)` of a series query; at most 400 buckets.
fn span(q: &SeriesQuery, now: i64) -> Result<(i64, i64, i64), ApiError> {
    let step = match q.step.as_deref().unwrap_or("day") {
        "hour" => 3_600_000,
        "day" => 86_400_000,
        "week" => 7 * 86_400_000,
        _ => return Err(ApiError::validation("step: hour, day or week")),
    };
    let to = q.to.unwrap_or(now);
    let from = q
        .from
        .unwrap_or_else(|| (to - 30 * 86_400_000).div_euclid(step) * step);
    if from >= to {
        return Err(ApiError::validation("from must be before to"));
    }
    let buckets = (to - from + step - 1) / step;
    if buckets > MAX_BUCKETS {
        return Err(ApiError::validation(format!(
            "at most {MAX_BUCKETS} buckets: a shorter span or a longer step"
        )));
    }
    Ok((from, step, buckets))
}

/// One bucket of a channel's totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelBucket {
    /// Its start (RFC 3339).
    pub from: String,
    /// Its start, Unix ms.
    pub from_ms: i64,
    /// Broadcasts started.
    pub broadcasts: i64,
    /// The most viewers at once in one broadcast.
    pub peak_viewers: i64,
    /// Distinct viewers.
    pub unique_viewers: i64,
    /// Watch time, ms.
    pub watch_ms: i64,
    /// Chat messages.
    pub chat_messages: i64,
    /// New followers.
    pub new_followers: i64,
}

/// A channel's totals over time.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelSeries {
    /// `hour`, `day` or `week`, in ms.
    pub step_ms: i64,
    /// Oldest first, one per step (empty ones too).
    pub buckets: Vec<ChannelBucket>,
}

/// The caller's channel totals over time: broadcasts, peak and unique viewers, watch time,
/// chat messages and new followers per hour, day or week.
#[utoipa::path(get, path = "/api/analytics/channel", tag = "analytics", security(("bearer" = [])), params(SeriesQuery),
    responses((status = 200, body = ChannelSeries), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn channel_totals(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<SeriesQuery>,
) -> ApiResult<Json<ChannelSeries>> {
    let (from, step, buckets) = span(&q, state.clock.now_ms())?;
    let rows = state
        .db
        .channel_series(auth.user.id, from, step, buckets)
        .await?;
    Ok(Json(ChannelSeries {
        step_ms: step,
        buckets: rows
            .iter()
            .map(|b: &SeriesBucket| ChannelBucket {
                from: rfc3339(b.from),
                from_ms: b.from,
                broadcasts: b.broadcasts,
                peak_viewers: b.peak_viewers,
                unique_viewers: b.unique_viewers,
                watch_ms: b.watch_ms,
                chat_messages: b.chat_messages,
                new_followers: b.new_people,
            })
            .collect(),
    }))
}

/// One bucket of the site's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteBucket {
    /// Its start (RFC 3339).
    pub from: String,
    /// Its start, Unix ms.
    pub from_ms: i64,
    /// Live broadcasts started.
    pub live_streams: i64,
    /// The most viewers at once over every broadcast together.
    pub peak_viewers: i64,
    /// Distinct viewers.
    pub unique_viewers: i64,
    /// Watch time, ms.
    pub watch_ms: i64,
    /// Accounts created.
    pub signups: i64,
    /// Videos uploaded (uploads and shorts).
    pub uploads: i64,
}

/// The site's figures over time.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteSeries {
    /// The step, ms.
    pub step_ms: i64,
    /// Oldest first, one per step.
    pub buckets: Vec<SiteBucket>,
}

/// The site's figures over time (administrators): live streams, viewers, watch time, sign-ups
/// and uploads per hour, day or week.
#[utoipa::path(get, path = "/api/admin/analytics", tag = "admin", security(("bearer" = [])), params(SeriesQuery),
    responses((status = 200, body = SiteSeries), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn site_totals(
    State(state): State<AppState>,
    Query(q): Query<SeriesQuery>,
) -> ApiResult<Json<SiteSeries>> {
    let (from, step, buckets) = span(&q, state.clock.now_ms())?;
    let rows = state.db.site_series(from, step, buckets).await?;
    Ok(Json(SiteSeries {
        step_ms: step,
        buckets: rows
            .iter()
            .map(|b| SiteBucket {
                from: rfc3339(b.from),
                from_ms: b.from,
                live_streams: b.broadcasts,
                peak_viewers: b.peak_viewers,
                unique_viewers: b.unique_viewers,
                watch_ms: b.watch_ms,
                signups: b.new_people,
                uploads: b.uploads,
            })
            .collect(),
    }))
}
