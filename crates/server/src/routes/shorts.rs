//! The shorts feed (`GET /api/browse/shorts`): public, ready videos taller than wide and at most
//! a minute long, newest first, paged with a cursor. Public.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::browse::ChannelRef;
use crate::routes::search::VideoResult;
use crate::routes::videos::video_view;
use crate::service::profiles::media_url;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use ferrocast_db::search::ShortsCursor;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Shorts on a page unless asked otherwise.
const DEFAULT_LIMIT: i64 = 10;

/// A page of the shorts feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShortsPage {
    /// Newest first.
    pub shorts: Vec<VideoResult>,
    /// The `cursor` of the next page, if there may be more.
    pub next_cursor: Option<String>,
}

/// Which page of the shorts feed.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ShortsQuery {
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 50; default 10.
    pub limit: Option<i64>,
}

fn parse_cursor(c: &str) -> Option<ShortsCursor> {
    let (at, id) = c.split_once('.')?;
    Some(ShortsCursor {
        created_at: at.parse().ok()?,
        id: id.parse().ok()?,
    })
}

/// Shorts: public vertical videos of a minute or less, newest first (anyone).
#[utoipa::path(get, path = "/api/browse/shorts", tag = "playback", params(ShortsQuery),
    responses((status = 200, body = ShortsPage), (status = 422, body = ErrorBody, description = "A cursor that is not a `next_cursor`")))]
pub async fn shorts(
    State(state): State<AppState>,
    Query(q): Query<ShortsQuery>,
) -> ApiResult<Json<ShortsPage>> {
    let before = match q.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(parse_cursor(c).ok_or_else(|| {
            ApiError::validation("cursor: must be the next_cursor of a previous page")
        })?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 50);
    let rows = state.db.shorts_feed(before, limit).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| {
            rows.last()
                .map(|h| format!("{}.{}", h.video.created_at, h.video.id))
        })
        .flatten();
    let shorts = rows
        .iter()
        .map(|h| VideoResult {
            video: video_view(&state, &h.video, None, None),
            channel: ChannelRef {
                display_name: h.owner_name.clone(),
                handle: h.owner_handle.clone(),
                avatar_url: h.owner_avatar_key.as_deref().map(media_url),
                channel_url: format!("/c/{}", h.owner_handle),
            },
        })
        .collect();
    Ok(Json(ShortsPage {
        shorts,
        next_cursor,
    }))
}
