//! A stream's public page (`GET /api/watch/{playback_id}`): its title, creator and whether it
//! is live, for the watch page and the embed. No authentication (the playback id is public).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::service::clock::rfc3339;
use crate::service::watch::{watch_info, WatchInfo};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// A stream as its public page shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WatchView {
    /// The public playback id.
    pub playback_id: String,
    /// The stream's title (its source's name when it has none).
    pub title: String,
    /// What it is about (empty: nothing said); line breaks kept.
    pub description: String,
    /// Its category's slug.
    pub category: Option<String>,
    /// Its category's name.
    pub category_name: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its language (ISO 639-1).
    pub language: Option<String>,
    /// For adults only.
    pub mature: bool,
    /// The creator's display name.
    pub creator: String,
    /// The creator's channel handle: their channel is `/c/<handle>`.
    pub creator_handle: String,
    /// The creator's avatar (root-relative), if they uploaded one.
    pub creator_avatar_url: Option<String>,
    /// Whether it is live now.
    pub live: bool,
    /// When the live session began, while live.
    pub started_at: Option<String>,
    /// The page's address, to share.
    pub url: String,
    /// An absolute URL of a picture of the stream.
    pub thumbnail_url: String,
}

impl From<WatchInfo> for WatchView {
    fn from(w: WatchInfo) -> Self {
        Self {
            playback_id: w.playback_id,
            title: w.title,
            description: w.info.description,
            category: w.info.category,
            category_name: w.info.category_name,
            tags: w.info.tags,
            language: w.info.language,
            mature: w.info.mature,
            creator: w.creator,
            creator_handle: w.creator_handle,
            creator_avatar_url: w
                .creator_avatar_key
                .as_deref()
                .map(crate::service::profiles::media_url),
            live: w.live,
            started_at: w.started_at.map(rfc3339),
            url: w.url,
            thumbnail_url: w.thumbnail_url,
        }
    }
}

/// The answer for a playback id no stream has.
pub fn stream_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "STREAM_NOT_FOUND",
        "This stream does not exist",
        "No stream has this playback id: check the link, or ask its creator for a new one.",
    )
}

/// A stream's public page: title, creator, live or not (anyone).
#[utoipa::path(get, path = "/api/watch/{playback_id}", tag = "playback",
    params(("playback_id" = String, Path, description = "The stream's public playback id")),
    responses((status = 200, body = WatchView), (status = 404, body = ErrorBody, description = "`STREAM_NOT_FOUND`")))]
pub async fn watch(
    State(state): State<AppState>,
    Path(playback_id): Path<String>,
) -> ApiResult<Json<WatchView>> {
    watch_info(
        &state.db,
        &state.streams,
        &state.config.public_url,
        &playback_id,
    )
    .await?
    .map(|w| Json(w.into()))
    .ok_or_else(stream_not_found)
}

/// A picture of a live stream (a JPEG of its latest keyframe, at most 640 pixels wide, made
/// again at most every 15 s), for link previews; anything else (not live on this node, no
/// video, busy) is sent to the app's icon.
#[utoipa::path(get, path = "/api/watch/{playback_id}/thumbnail.jpg", tag = "playback",
    params(("playback_id" = String, Path, description = "The stream's public playback id")),
    responses((status = 200, content_type = "image/jpeg", description = "The picture"),
              (status = 307, description = "No picture now: the app's icon")))]
pub async fn thumbnail(State(state): State<AppState>, Path(playback_id): Path<String>) -> Response {
    let picture = if ferrocast_domain::media::is_safe_id(&playback_id) {
        state
            .thumbnails
            .picture(&state.engine.hub, &playback_id)
            .await
    } else {
        None
    };
    match picture {
        Some(jpeg) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=15"),
                ),
                // Previews of other sites may show it.
                (
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                ),
            ],
            jpeg.to_vec(),
        )
            .into_response(),
        None => {
            let mut res =
                Redirect::temporary(crate::service::watch::FALLBACK_IMAGE).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
    }
}
