//! Public playback of live streams, by playback id: HTTP-FLV and HLS. No authentication (the
//! playback id is public; the stream key never appears here).

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrocast_domain::media::is_safe_id;

fn not_live() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "STREAM_NOT_FOUND",
        "Stream not found",
        "No live stream has this playback id; it may have ended.",
    )
}

fn media_response(content_type: &'static str, cache: &'static str, body: Body) -> Response {
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // Players on other sites may embed public streams.
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

/// A live stream as HTTP-FLV (`/live/<playback_id>.flv`): starts at the last keyframe and
/// follows live until the publisher leaves.
#[utoipa::path(get, path = "/live/{file}", tag = "playback",
    params(("file" = String, Path, description = "`<playback_id>.flv`")),
    responses((status = 200, content_type = "video/x-flv", description = "FLV stream"), (status = 404, body = ErrorBody)))]
pub async fn flv(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let id = file
        .strip_suffix(".flv")
        .filter(|id| is_safe_id(id))
        .ok_or_else(not_live)?;
    let hub = &state.engine.hub;
    let info = hub
        .streams()
        .into_iter()
        .find(|s| s.key.playback_id == id)
        .map(|s| s.info)
        .ok_or_else(not_live)?;
    let reader = hub.subscribe(id).ok_or_else(not_live)?;
    let stream = ferrocast_engine::flv_out::stream(
        reader,
        info.has_audio || !info.has_video,
        info.has_video || !info.has_audio,
    );
    Ok(media_response(
        "video/x-flv",
        "no-store",
        Body::from_stream(stream),
    ))
}

/// The HLS media playlist of a stream.
#[utoipa::path(get, path = "/hls/{playback_id}/index.m3u8", tag = "playback",
    params(("playback_id" = String, Path, description = "The source's playback id")),
    responses((status = 200, content_type = "application/vnd.apple.mpegurl", body = String), (status = 404, body = ErrorBody)))]
pub async fn hls_playlist(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !is_safe_id(&id) {
        return Err(not_live());
    }
    let text = state.engine.hls.playlist(&id).ok_or_else(not_live)?;
    Ok(media_response(
        "application/vnd.apple.mpegurl",
        "no-cache",
        Body::from(text),
    ))
}

/// One HLS segment (`seg<N>.ts`).
#[utoipa::path(get, path = "/hls/{playback_id}/{segment}", tag = "playback",
    params(("playback_id" = String, Path, description = "The source's playback id"), ("segment" = String, Path, description = "`seg<N>.ts`")),
    responses((status = 200, content_type = "video/mp2t", description = "MPEG-TS segment"), (status = 404, body = ErrorBody)))]
pub async fn hls_segment(
    State(state): State<AppState>,
    Path((id, segment)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !is_safe_id(&id) {
        return Err(not_live());
    }
    let seq = ferrocast_media::hls::parse_segment_name(&segment).ok_or_else(not_live)?;
    let bytes = state.engine.hls.segment(&id, seq).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "SEGMENT_NOT_FOUND",
            "Segment not found",
            "It left the live window; reload the playlist.",
        )
    })?;
    Ok(media_response("video/mp2t", "public, max-age=60", Body::from(bytes)).into_response())
}
