//! Profiles and channels: the owner's edits (`PATCH /api/me/profile`, avatar and banner
//! uploads), the public channel (`GET /api/channels/{handle}`) and its pictures
//! (`GET /media/profiles/...`).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::routes::auth::{avatar_url, link_views, LinkView, UserView};
use crate::routes::videos::{video_view, VideoView};
use crate::service::clock::rfc3339;
use crate::service::events::StreamStatus;
use crate::service::profiles::{self, media_url, Edit, ImageKind, MAX_IMAGE_BYTES};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_domain::profile::{is_handle_shaped, ProfileLink};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::ToSchema;

/// Videos of each kind a channel lists at most.
pub const CHANNEL_LIST_LIMIT: i64 = 24;
/// Pictures converted at the same time at most (each is an ffmpeg child); more are answered
/// 503 with `Retry-After`.
static CONVERSIONS: Semaphore = Semaphore::const_new(2);

/// What the owner changes on their profile; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// 1 to 100 characters.
    pub display_name: Option<String>,
    /// 3 to 30 of `a-z`, `0-9`, `_` (stored lowercase; an initial `@` is dropped); unique, and
    /// not one of the site's reserved words.
    pub handle: Option<String>,
    /// At most 1000 characters; line breaks are kept.
    pub bio: Option<String>,
    /// At most 5; replaces all of them.
    pub links: Option<Vec<LinkView>>,
}

/// Edit the caller's profile: display name, handle, bio, links.
#[utoipa::path(patch, path = "/api/me/profile", tag = "profiles", security(("bearer" = [])), request_body = ProfileUpdate,
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`HANDLE_TAKEN`: another channel has the handle"),
              (status = 422, body = ErrorBody, description = "`VALIDATION_ERROR`: details name the field and the rule")))]
pub async fn update_profile(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<ProfileUpdate>,
) -> ApiResult<Json<UserView>> {
    let edit = Edit {
        display_name: req.display_name,
        handle: req.handle,
        bio: req.bio,
        links: req.links.map(|l| {
            l.into_iter()
                .map(|l| ProfileLink {
                    label: l.label,
                    url: l.url,
                })
                .collect()
        }),
    };
    let user = profiles::edit(&state.db, &auth.user, edit, state.clock.now_ms()).await?;
    Ok(Json((&user).into()))
}

/// Bytes of an oversized picture read (and discarded) before answering 413, so the client
/// reads the answer rather than a reset connection.
const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// The request body, at most [`MAX_IMAGE_BYTES`].
async fn read_picture(mut body: Body) -> ApiResult<bytes::Bytes> {
    use http_body_util::BodyExt;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    loop {
        // A client that stops sending is not waited for longer than an upload's would be.
        let next = tokio::time::timeout(crate::service::uploads::READ_TIMEOUT, body.frame()).await;
        let Ok(next) = next else {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "UPLOAD_TIMEOUT",
                "The picture stopped arriving",
                format!(
                    "No bytes arrived for {} seconds; send the picture again.",
                    crate::service::uploads::READ_TIMEOUT.as_secs()
                ),
            ));
        };
        let Some(frame) = next else { break };
        let Ok(frame) = frame else {
            return Err(ApiError::bad_request(
                "UPLOAD_INTERRUPTED",
                "The picture did not arrive whole",
                "Send it again.",
            ));
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > MAX_IMAGE_BYTES + MAX_DRAIN_BYTES {
            break;
        }
        if seen <= MAX_IMAGE_BYTES {
            buf.extend_from_slice(&data);
        }
    }
    if seen > MAX_IMAGE_BYTES {
        return Err(profiles::ProfileError::TooLarge.into());
    }
    Ok(buf.freeze())
}

async fn upload(
    state: &AppState,
    auth: &AuthUser,
    body: Body,
    kind: ImageKind,
) -> ApiResult<Json<UserView>> {
    let bytes = read_picture(body).await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "IMAGE_MISSING",
            "No picture was sent",
            "Send the picture itself as the request body (PNG, JPEG or WebP, at most 8 MiB).",
        ));
    }
    let Ok(_permit) = CONVERSIONS.try_acquire() else {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BUSY",
            "The server is busy with other pictures",
            "Try again in a few seconds.",
        );
        e.retry_after = Some(5);
        return Err(e);
    };
    let user = profiles::set_image(
        &state.db,
        &state.storage,
        &state.config.data_dir,
        &auth.user,
        kind,
        &bytes,
        state.clock.now_ms(),
    )
    .await?;
    Ok(Json((&user).into()))
}

/// Upload the caller's avatar: the picture itself as the body (PNG, JPEG or WebP, at most
/// 8 MiB), made into a 256×256 JPEG (centre-cropped). The previous avatar is deleted.
#[utoipa::path(post, path = "/api/me/avatar", tag = "profiles", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png", description = "A PNG, JPEG or WebP picture"),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "Over 8 MiB"),
              (status = 415, body = ErrorBody, description = "`IMAGE_INVALID`: not a picture that can be read"),
              (status = 503, body = ErrorBody, description = "Busy: try again")))]
pub async fn upload_avatar(
    State(state): State<AppState>,
    auth: AuthUser,
    body: Body,
) -> ApiResult<Json<UserView>> {
    upload(&state, &auth, body, ImageKind::Avatar).await
}

/// Remove the caller's avatar.
#[utoipa::path(delete, path = "/api/me/avatar", tag = "profiles", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn delete_avatar(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<UserView>> {
    let user = profiles::remove_image(
        &state.db,
        &state.storage,
        &auth.user,
        ImageKind::Avatar,
        state.clock.now_ms(),
    )
    .await?;
    Ok(Json((&user).into()))
}

/// Upload the caller's channel banner: the picture itself as the body (PNG, JPEG or WebP, at
/// most 8 MiB), made into a 1920×480 JPEG (centre-cropped). The previous banner is deleted.
#[utoipa::path(post, path = "/api/me/banner", tag = "profiles", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png", description = "A PNG, JPEG or WebP picture"),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "Over 8 MiB"),
              (status = 415, body = ErrorBody, description = "`IMAGE_INVALID`: not a picture that can be read"),
              (status = 503, body = ErrorBody, description = "Busy: try again")))]
pub async fn upload_banner(
    State(state): State<AppState>,
    auth: AuthUser,
    body: Body,
) -> ApiResult<Json<UserView>> {
    upload(&state, &auth, body, ImageKind::Banner).await
}

/// Remove the caller's channel banner.
#[utoipa::path(delete, path = "/api/me/banner", tag = "profiles", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn delete_banner(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<UserView>> {
    let user = profiles::remove_image(
        &state.db,
        &state.storage,
        &auth.user,
        ImageKind::Banner,
        state.clock.now_ms(),
    )
    .await?;
    Ok(Json((&user).into()))
}

/// The answer for a handle no channel has.
pub fn channel_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "CHANNEL_NOT_FOUND",
        "This channel does not exist",
        "No channel has this handle: check the spelling, or ask its creator for the link.",
    )
}

/// A profile picture (avatar or banner), by its storage key. Each upload has a new key, so it
/// may be cached for a year.
#[utoipa::path(get, path = "/media/profiles/{user}/{file}", tag = "profiles",
    params(("user" = String, Path, description = "The owner's UUID"), ("file" = String, Path, description = "`avatar-<id>.jpg` or `banner-<id>.jpg`")),
    responses((status = 200, content_type = "image/jpeg", description = "The picture"), (status = 404, body = ErrorBody)))]
pub async fn profile_media(
    State(state): State<AppState>,
    Path((user, file)): Path<(String, String)>,
) -> Response {
    let key = format!("profiles/{user}/{file}");
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "This picture does not exist",
            "It was replaced or removed; reload the page.",
        )
        .into_response()
    };
    if !profiles::is_profile_key(&key) {
        return missing();
    }
    match state.storage.get(&key, 4 * 1024 * 1024).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
                (
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) if e.is_not_found() => missing(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// A live stream of a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelLive {
    /// The stream's public playback id.
    pub playback_id: String,
    /// Its title (the source's name when it has none).
    pub title: String,
    /// Its watch page (root-relative): `/watch/<playback_id>`.
    pub watch_url: String,
    /// Viewers now, as this node counts them.
    pub viewers: u64,
    /// When the live session began (RFC 3339).
    pub started_at: Option<String>,
    /// A picture of the stream (root-relative).
    pub thumbnail_url: String,
}

/// A channel as its public page shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    /// The handle: the page is `/c/<handle>`.
    pub handle: String,
    /// Display name.
    pub display_name: String,
    /// Avatar (root-relative), if any.
    pub avatar_url: Option<String>,
    /// Banner (root-relative), if any.
    pub banner_url: Option<String>,
    /// Bio.
    pub bio: String,
    /// Links.
    pub links: Vec<LinkView>,
    /// When the account was made (RFC 3339).
    pub created_at: String,
    /// The channel's page (root-relative).
    pub url: String,
    /// Its streams live now.
    pub live: Vec<ChannelLive>,
    /// Public ready recordings, newest first (at most 24).
    pub past_broadcasts: Vec<VideoView>,
    /// Public ready uploads, newest first (at most 24).
    pub videos: Vec<VideoView>,
    /// Public ready shorts, newest first (at most 24).
    pub shorts: Vec<VideoView>,
}

/// A channel: its profile, its live streams, past broadcasts, videos and shorts (anyone).
#[utoipa::path(get, path = "/api/channels/{handle}", tag = "profiles",
    params(("handle" = String, Path, description = "The channel's handle (any case)")),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody, description = "`CHANNEL_NOT_FOUND`")))]
pub async fn get_channel(
    State(state): State<AppState>,
    Path(handle): Path<String>,
) -> ApiResult<Json<ChannelView>> {
    let handle = handle.strip_prefix('@').unwrap_or(&handle);
    if !is_handle_shaped(handle) {
        return Err(channel_not_found());
    }
    let user = state
        .db
        .user_by_handle(handle)
        .await?
        .filter(|u| u.suspended_at.is_none())
        .ok_or_else(channel_not_found)?;
    let mut live = Vec::new();
    for s in state.db.list_sources(user.id).await? {
        let here = state.streams.stream_status(&s.playback_id) == StreamStatus::Live;
        if !(here || s.is_active) {
            continue;
        }
        let Some(w) =
            crate::service::watch::watch_info(&state.db, &state.streams, "", &s.playback_id)
                .await?
        else {
            continue;
        };
        if !w.live {
            continue;
        }
        live.push(ChannelLive {
            watch_url: format!("/watch/{}", s.playback_id),
            thumbnail_url: w.thumbnail_url,
            viewers: state.streams.stats.viewers(s.id),
            started_at: w.started_at.map(rfc3339),
            title: w.title,
            playback_id: s.playback_id,
        });
    }
    let mut lists = Vec::with_capacity(3);
    for kind in ["recording", "upload", "short"] {
        let rows = state
            .db
            .public_videos_of_user(user.id, kind, CHANNEL_LIST_LIMIT)
            .await?;
        lists.push(
            rows.iter()
                .map(|v| video_view(&state, v, None, None))
                .collect::<Vec<_>>(),
        );
    }
    let shorts = lists.pop().unwrap_or_default();
    let videos = lists.pop().unwrap_or_default();
    let past_broadcasts = lists.pop().unwrap_or_default();
    Ok(Json(ChannelView {
        url: format!("/c/{}", user.handle),
        avatar_url: avatar_url(&user),
        banner_url: user.banner_key.as_deref().map(media_url),
        links: link_views(&user.links),
        created_at: rfc3339(user.created_at),
        handle: user.handle,
        display_name: user.display_name,
        bio: user.bio,
        live,
        past_broadcasts,
        videos,
        shorts,
    }))
}
