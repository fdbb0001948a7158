//! Radio: a creator's station settings and tracks (`/api/radio`), a station's public card
//! (`/api/radio/{handle}`), and its Icecast-compatible AAC stream (`/radio/{handle}/live.aac`).
//! See [`crate::service::radio`].

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::service::radio::{NowPlaying, RadioError, TrackView, MAX_UPLOAD_BYTES};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_db::radio::StationRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Tracks encoded at the same time at most (each is an ffmpeg child); more are answered 503
/// with `Retry-After`.
static ENCODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

impl From<RadioError> for ApiError {
    fn from(e: RadioError) -> Self {
        match e {
            RadioError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "No such station or track",
                "Check the handle or the track's id: it may have been deleted.",
            ),
            RadioError::Invalid(d) => ApiError::validation(d),
            RadioError::NotAudio(d) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "AUDIO_INVALID",
                "This file cannot be played on the radio",
                d,
            ),
            RadioError::Db(e) => e.into(),
            RadioError::Storage(e) => ApiError::internal(e),
            RadioError::Media(e) => ApiError::internal(e),
        }
    }
}

/// A station as listeners see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StationView {
    /// The creator's handle.
    pub handle: String,
    /// The creator's name.
    pub display_name: String,
    /// The station's title (the creator's name with "Radio" when none is set).
    pub title: String,
    /// Whether it is on the air.
    pub on_air: bool,
    /// What it plays now.
    pub now: NowPlaying,
    /// HLS audio (root-relative).
    pub hls_url: String,
    /// The Icecast-compatible AAC stream (root-relative): for media players and radio apps.
    pub icecast_url: String,
}

/// The station's title: as set, else the creator's name with "Radio" (unless it has it).
fn station_title(s: &StationRecord) -> String {
    if !s.title.is_empty() {
        s.title.clone()
    } else if s.display_name.to_lowercase().ends_with("radio") {
        s.display_name.clone()
    } else {
        format!("{} Radio", s.display_name)
    }
}

fn station_view(s: &StationRecord) -> StationView {
    let title = station_title(s);
    StationView {
        on_air: s.enabled && s.now_since.is_some(),
        now: NowPlaying::of(s),
        hls_url: format!("/hls/{}/index.m3u8", s.playback_id),
        icecast_url: format!("/radio/{}/live.aac", s.handle),
        handle: s.handle.clone(),
        display_name: s.display_name.clone(),
        title,
    }
}

/// A creator's own station: its settings and tracks.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyStation {
    /// As listeners see it.
    pub station: StationView,
    /// The title as set (empty: the default).
    pub title: String,
    /// Whether it plays.
    pub enabled: bool,
    /// The source whose live stream takes the air (a DJ's), if any.
    pub dj_source_id: Option<i64>,
    /// The tracks in playing order.
    pub tracks: Vec<TrackView>,
}

async fn my_station(state: &AppState, user_id: i64) -> ApiResult<MyStation> {
    let s = state.radio.station(user_id).await?;
    let tracks = state.radio.tracks(user_id).await?;
    Ok(MyStation {
        station: station_view(&s),
        title: s.title.clone(),
        enabled: s.enabled,
        dj_source_id: s.dj_source_id,
        tracks: tracks.iter().map(TrackView::from).collect(),
    })
}

/// Your radio station: settings, tracks and where it plays.
#[utoipa::path(get, path = "/api/radio", tag = "radio", security(("bearer" = [])),
    responses((status = 200, body = MyStation), (status = 401, body = ErrorBody)))]
pub async fn get_my_station(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<MyStation>> {
    Ok(Json(my_station(&state, auth.user.id).await?))
}

/// A station's settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationSettings {
    /// The title listeners see (at most 100 characters; empty: "<name> Radio").
    #[serde(default)]
    pub title: String,
    /// Whether it plays.
    pub enabled: bool,
    /// One of your sources: while it is live, its audio takes the air (a DJ's set).
    #[serde(default)]
    pub dj_source_id: Option<i64>,
}

/// Change your station: its title, whether it plays, the DJ's source.
#[utoipa::path(put, path = "/api/radio", tag = "radio", security(("bearer" = [])), request_body = StationSettings,
    responses((status = 200, body = MyStation), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_my_station(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<StationSettings>,
) -> ApiResult<Json<MyStation>> {
    crate::routes::sources::creator_only(&auth, "run a radio station")?;
    state
        .radio
        .configure(auth.user.id, &req.title, req.enabled, req.dj_source_id)
        .await?;
    Ok(Json(my_station(&state, auth.user.id).await?))
}

/// The uploaded file's name.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TrackName {
    /// The file's name: the title when the file has no title tag.
    pub name: Option<String>,
}

/// Add a track at the end of your playlist: the audio file itself as the body (MP3, AAC, Ogg,
/// FLAC, WAV…; at most 100 MiB and an hour), encoded to AAC for the air.
#[utoipa::path(post, path = "/api/radio/tracks", tag = "radio", security(("bearer" = [])),
    params(TrackName),
    request_body(content = Vec<u8>, content_type = "audio/mpeg", description = "An audio file"),
    responses((status = 201, body = TrackView), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "Over 100 MiB"),
              (status = 415, body = ErrorBody, description = "`AUDIO_INVALID`: not audio that can be played"),
              (status = 422, body = ErrorBody)))]
pub async fn add_track(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<TrackName>,
    body: Body,
) -> ApiResult<(StatusCode, Json<TrackView>)> {
    crate::routes::sources::creator_only(&auth, "run a radio station")?;
    let Ok(_permit) = ENCODES.try_acquire() else {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BUSY",
            "The server is busy encoding other tracks",
            "Try again in a few seconds.",
        );
        e.retry_after = Some(5);
        return Err(e);
    };
    // Removed however the request ends (a client going away drops this future).
    let file = state.radio.stage().await.map_err(ApiError::internal)?;
    body_to_file(body, &file.0).await?;
    let name = q.name.as_deref().unwrap_or("Untitled");
    let track = state
        .radio
        .add_track(auth.user.id, &auth.user.uuid, &file.0, name)
        .await?;
    Ok((StatusCode::CREATED, Json(TrackView::from(&track))))
}

/// Writes the request body to `file`: at most [`MAX_UPLOAD_BYTES`], each piece within the
/// uploads' read timeout.
async fn body_to_file(mut body: Body, file: &std::path::Path) -> ApiResult<()> {
    use tokio::io::AsyncWriteExt;
    let mut out = tokio::fs::File::create(file)
        .await
        .map_err(ApiError::internal)?;
    let mut seen = 0usize;
    while let Some(data) = crate::routes::picture::next_piece(&mut body, "file").await? {
        seen = seen.saturating_add(data.len());
        if seen > MAX_UPLOAD_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                "The file is too large",
                "A track may be at most 100 MiB: upload a shorter or more compressed file.",
            ));
        }
        out.write_all(&data).await.map_err(ApiError::internal)?;
    }
    if seen == 0 {
        return Err(ApiError::bad_request(
            "AUDIO_MISSING",
            "No file was sent",
            "Send the audio file itself as the request body.",
        ));
    }
    out.flush().await.map_err(ApiError::internal)?;
    Ok(())
}

/// Delete a track of your playlist.
#[utoipa::path(delete, path = "/api/radio/tracks/{id}", tag = "radio", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The track")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_track(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.radio.delete_track(auth.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A playlist's order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackOrder {
    /// Every track's id, once, in the order wanted.
    pub ids: Vec<i64>,
}

/// Put your playlist in a new order.
#[utoipa::path(put, path = "/api/radio/tracks/order", tag = "radio", security(("bearer" = [])), request_body = TrackOrder,
    responses((status = 200, body = MyStation), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn order_tracks(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<TrackOrder>,
) -> ApiResult<Json<MyStation>> {
    state.radio.order(auth.user.id, &req.ids).await?;
    Ok(Json(my_station(&state, auth.user.id).await?))
}

async fn station_by_handle(state: &AppState, handle: &str) -> ApiResult<StationRecord> {
    let handle = handle.trim_start_matches('@');
    if handle.is_empty() || handle.len() > 64 {
        return Err(RadioError::NotFound.into());
    }
    let user = state
        .db
        .user_by_handle(handle)
        .await?
        .filter(|u| u.suspended_at.is_none())
        .ok_or(RadioError::NotFound)?;
    Ok(state
        .db
        .station_of(user.id)
        .await?
        .ok_or(RadioError::NotFound)?)
}

/// A creator's station: what it plays and where to listen.
#[utoipa::path(get, path = "/api/radio/{handle}", tag = "radio",
    params(("handle" = String, Path, description = "The creator's handle")),
    responses((status = 200, body = StationView), (status = 404, body = ErrorBody)))]
pub async fn get_station(
    State(state): State<AppState>,
    Path(handle): Path<String>,
) -> ApiResult<Json<StationView>> {
    let s = station_by_handle(&state, &handle).await?;
    Ok(Json(station_view(&s)))
}

/// Bytes of audio between two ICY metadata blocks, for clients that ask for titles
/// (`Icy-MetaData: 1`).
pub const ICY_METAINT: usize = 16_000;

/// A station's Icecast-compatible stream: AAC in ADTS, live, for as long as the listener
/// stays (through track changes and DJ hand-overs). A client sending `Icy-MetaData: 1` gets
/// the SHOUTcast/Icecast in-band titles (`StreamTitle='…';`) every `icy-metaint` bytes.
#[utoipa::path(get, path = "/radio/{handle}/live.aac", tag = "radio",
    params(("handle" = String, Path, description = "The creator's handle")),
    responses((status = 200, content_type = "audio/aac", description = "The stream"), (status = 404, body = ErrorBody)))]
pub async fn icecast(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(handle): Path<String>,
) -> Response {
    match icecast_response(&state, &headers, &handle).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn icecast_response(
    state: &AppState,
    headers: &HeaderMap,
    handle: &str,
) -> ApiResult<Response> {
    let s = station_by_handle(state, handle).await?;
    let off_air = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_LIVE",
            "This station is off the air",
            "Try again when the creator turns it on.",
        )
    };
    if !s.enabled || !state.engine.ensure_live(&s.playback_id).await {
        return Err(off_air());
    }
    let reader = state
        .engine
        .hub
        .subscribe(&s.playback_id)
        .ok_or_else(off_air)?;
    let meta = headers
        .get("icy-metadata")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "1");
    let titles = state.radio.titles(s.user_id, s.now_title.clone());
    let name = station_title(&s);
    let stream = futures_util::stream::unfold(
        (
            reader,
            ferrocast_engine::adts::AdtsWriter::new(),
            Icy::new(meta, titles),
        ),
        |(mut reader, mut adts, mut icy)| async move {
            loop {
                match reader.recv().await {
                    Ok(frame) => {
                        if let Some(bytes) = adts.frame(&frame) {
                            let out = icy.interleave(bytes);
                            return Some((Ok::<_, std::io::Error>(out), (reader, adts, icy)));
                        }
                    }
                    Err(_) => return None,
                }
            }
        },
    );
    let mut res = Response::new(Body::from_stream(stream));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/aac"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if let Ok(v) = HeaderValue::from_str(&name.replace(['\r', '\n'], " ")) {
        h.insert("icy-name", v);
    }
    h.insert("icy-br", HeaderValue::from_static("160"));
    if meta {
        h.insert("icy-metaint", HeaderValue::from(ICY_METAINT));
    }
    Ok(res)
}

/// Interleaves ICY metadata blocks into the audio every [`ICY_METAINT`] bytes, when asked.
struct Icy {
    on: bool,
    until_meta: usize,
    titles: tokio::sync::watch::Receiver<Option<String>>,
}

impl Icy {
    fn new(on: bool, titles: tokio::sync::watch::Receiver<Option<String>>) -> Self {
        Self {
            on,
            until_meta: ICY_METAINT,
            titles,
        }
    }

    fn interleave(&mut self, audio: bytes::Bytes) -> bytes::Bytes {
        if !self.on {
            return audio;
        }
        let mut out = bytes::BytesMut::with_capacity(audio.len() + 64);
        let mut rest = &audio[..];
        while !rest.is_empty() {
            let n = rest.len().min(self.until_meta);
            out.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            self.until_meta -= n;
            if self.until_meta == 0 {
                let title = self.titles.borrow().clone().unwrap_or_default();
                out.extend_from_slice(&icy_block(&title));
                self.until_meta = ICY_METAINT;
            }
        }
        out.freeze()
    }
}

/// One ICY metadata block: a length byte (×16) and `StreamTitle='…';` padded with zeros
/// (quotes in the title dropped; at most 255×16 bytes).
pub fn icy_block(title: &str) -> Vec<u8> {
    let clean: String = title
        .chars()
        .filter(|c| *c != '\'' && !c.is_control())
        .collect();
    let mut text = format!("StreamTitle='{clean}';").into_bytes();
    text.truncate(255 * 16);
    let blocks = text.len().div_ceil(16);
    let mut out = Vec::with_capacity(1 + blocks * 16);
    out.push(blocks as u8);
    out.extend_from_slice(&text);
    out.resize(1 + blocks * 16, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icy_blocks_are_padded_to_sixteen() {
        let b = icy_block("Band – It's");
        assert_eq!(usize::from(b[0]) * 16, b.len() - 1);
        assert!(b.starts_with(&[b[0]]));
        assert!(String::from_utf8_lossy(&b[1..]).starts_with("StreamTitle='Band – Its';"));
        assert_eq!(icy_block("")[0], 1);
    }

    #[test]
    fn metadata_comes_every_metaint_bytes() {
        let (_tx, rx) = tokio::sync::watch::channel(Some("T".to_string()));
        let mut icy = Icy::new(true, rx);
        let audio = vec![7u8; ICY_METAINT + 10];
        let out = icy.interleave(bytes::Bytes::from(audio.clone()));
        assert_eq!(&out[..ICY_METAINT], &audio[..ICY_METAINT]);
        let len = usize::from(out[ICY_METAINT]) * 16;
        assert!(
            String::from_utf8_lossy(&out[ICY_METAINT + 1..ICY_METAINT + 1 + len])
                .starts_with("StreamTitle='T';")
        );
        assert_eq!(out.len(), audio.len() + 1 + len);
    }
}
