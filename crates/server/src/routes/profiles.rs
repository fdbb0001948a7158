//! Profiles and channels: the owner's edits (`PATCH /api/me/profile`, avatar and banner
//! uploads), the public channel (`GET /api/channels/{handle}`) and its pictures
//! (`GET /media/profiles/...`).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::routes::auth::{avatar_url, link_views, LinkView, UserView};
use crate::routes::videos::{video_view, MaybeUser, VideoView};
use crate::service::clock::rfc3339;
use crate::service::events::StreamStatus;
use crate::service::follows;
use crate::service::profiles::{self, media_url, Edit, ImageKind};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_domain::profile::ProfileLink;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Videos of each kind a channel lists at most.
pub const CHANNEL_LIST_LIMIT: i64 = 24;
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

async fn upload(
    state: &AppState,
    auth: &AuthUser,
    body: Body,
    kind: ImageKind,
) -> ApiResult<Json<UserView>> {
    let (bytes, _permit) = crate::routes::picture::picture_to_convert(body).await?;
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
    remove(&state, &auth, ImageKind::Avatar).await
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
    remove(&state, &auth, ImageKind::Banner).await
}

/// Removes the caller's picture of `kind` (and its object).
async fn remove(state: &AppState, auth: &AuthUser, kind: ImageKind) -> ApiResult<Json<UserView>> {
    let user = profiles::remove_image(
        &state.db,
        &state.storage,
        &auth.user,
        kind,
        state.clock.now_ms(),
    )
    .await?;
    Ok(Json((&user).into()))
}

/// The answer for a handle no channel has.
pub use crate::error::channel_not_found;

/// A profile picture (avatar, banner, or a source's slate picture), by its storage key. Each upload has a new key, so it
/// may be cached for a year.
#[utoipa::path(get, path = "/media/profiles/{user}/{file}", tag = "profiles",
    params(("user" = String, Path, description = "The owner's UUID"), ("file" = String, Path, description = "`avatar-<id>.jpg`, `banner-<id>.jpg` or `slate-<id>.jpg`")),
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
    stored_picture(&state, &key, "image/jpeg", missing).await
}

/// A stored picture as an immutable, cacheable answer of `content_type`; `missing` when it
/// is not stored.
pub async fn stored_picture(
    state: &AppState,
    key: &str,
    content_type: &'static str,
    missing: impl FnOnce() -> Response,
) -> Response {
    match state.storage.get(key, 4 * 1024 * 1024).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
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
    /// How many follow the channel.
    pub followers: i64,
    /// Whether the caller follows it (`false` when anonymous).
    pub following: bool,
}

/// A channel: its profile, its live streams, past broadcasts, videos and shorts (anyone).
#[utoipa::path(get, path = "/api/channels/{handle}", tag = "profiles",
    params(("handle" = String, Path, description = "The channel's handle (any case)")),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody, description = "`CHANNEL_NOT_FOUND`")))]
pub async fn get_channel(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path(handle): Path<String>,
) -> ApiResult<Json<ChannelView>> {
    let user = follows::channel(&state.db, &handle).await?;
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
    let followers = state.db.follower_count(user.id).await?;
    let following = match viewer.0 {
        Some(v) => state.db.is_following(v.user.id, user.id).await?,
        None => false,
    };
    Ok(Json(ChannelView {
        followers,
        following,
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

/// A follow as it stands after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowView {
    /// Whether the caller follows the channel now.
    pub following: bool,
    /// The channel's followers now.
    pub followers: i64,
}

/// Follow a channel (following it again changes nothing).
#[utoipa::path(post, path = "/api/channels/{handle}/follow", tag = "profiles", security(("bearer" = [])),
    params(("handle" = String, Path, description = "The channel's handle (any case)")),
    responses((status = 200, body = FollowView), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "`CHANNEL_NOT_FOUND`"),
              (status = 422, body = ErrorBody, description = "`OWN_CHANNEL`: a creator cannot follow their own channel")))]
pub async fn follow_channel(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(handle): Path<String>,
) -> ApiResult<Json<FollowView>> {
    let s = follows::follow(&state.db, &state.clock, auth.user.id, &handle).await?;
    if s.changed {
        // The follow stands whatever becomes of the notice.
        if let Err(e) = state.notify.new_follower(s.channel, auth.user.id).await {
            tracing::warn!(error = %e, "cannot notify a channel of its new follower");
        }
    }
    Ok(Json(FollowView {
        following: s.following,
        followers: s.followers,
    }))
}

/// Stop following a channel (not following it changes nothing).
#[utoipa::path(delete, path = "/api/channels/{handle}/follow", tag = "profiles", security(("bearer" = [])),
    params(("handle" = String, Path, description = "The channel's handle (any case)")),
    responses((status = 200, body = FollowView), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "`CHANNEL_NOT_FOUND`")))]
pub async fn unfollow_channel(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(handle): Path<String>,
) -> ApiResult<Json<FollowView>> {
    let s = follows::unfollow(&state.db, auth.user.id, &handle).await?;
    Ok(Json(FollowView {
        following: s.following,
        followers: s.followers,
    }))
}

/// A channel the caller follows.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowedChannel {
    /// The handle.
    pub handle: String,
    /// Display name.
    pub display_name: String,
    /// Avatar (root-relative), if any.
    pub avatar_url: Option<String>,
    /// The channel's page (root-relative).
    pub url: String,
    /// Whether one of its streams is live now.
    pub live: bool,
}

/// Channels the caller follows, most recently followed first (at most 200).
#[utoipa::path(get, path = "/api/me/following", tag = "profiles", security(("bearer" = [])),
    responses((status = 200, body = [FollowedChannel]), (status = 401, body = ErrorBody)))]
pub async fn following(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<Vec<FollowedChannel>>> {
    let mut out = Vec::new();
    for id in state.db.followed_channels(auth.user.id, 200).await? {
        let Some(user) = state.db.user_by_id(id).await? else {
            continue;
        };
        if user.suspended_at.is_some() {
            continue;
        }
        let live = state
            .db
            .list_sources(user.id)
            .await?
            .iter()
            .any(|s| state.streams.stream_status(&s.playback_id) == StreamStatus::Live);
        out.push(FollowedChannel {
            url: format!("/c/{}", user.handle),
            avatar_url: avatar_url(&user),
            handle: user.handle,
            display_name: user.display_name,
            live,
        });
    }
    Ok(Json(out))
}
