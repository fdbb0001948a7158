//! Videos: the owner's library (list, edit, delete), a video's page data for anyone who may see
//! it, and a stream's past broadcasts. The bytes are served by [`crate::routes::vod`]; uploads
//! arrive through tus ([`crate::routes::uploads`]).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, ClientIp};
use crate::service::clock::rfc3339;
use crate::service::videos::{
    self, strip_frame_height, strip_interval_secs, Changes, Progress, Usage, STRIP_COLUMNS,
    STRIP_FRAME_WIDTH,
};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ferrocast_db::videos::VideoRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Processing progress of a video.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoProgress {
    /// What processing does now: `queued`, `probing`, `packaging`, `mp4`, `thumbnails`.
    pub stage: String,
    /// 0 to 100.
    pub percent: i64,
}

/// A video's preview strip: frames of `width`×`height` pixels every `interval_seconds`,
/// tiled in rows of `columns`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewStrip {
    /// The JPEG (root-relative).
    pub url: String,
    /// Frames in it.
    pub frames: i64,
    /// Seconds between two frames.
    pub interval_seconds: i64,
    /// Frames per row.
    pub columns: i64,
    /// Width of one frame (pixels).
    pub width: i64,
    /// Height of one frame (pixels).
    pub height: i64,
}

/// Where a ready video is played from: root-relative URLs (a private video's carry a
/// signature valid for about six hours).
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoPlayback {
    /// HLS playlist.
    pub hls: Option<String>,
    /// MP4 download.
    pub mp4: Option<String>,
    /// Poster picture (JPEG).
    pub thumbnail: Option<String>,
    /// Preview strip for the seek bar.
    pub strip: Option<PreviewStrip>,
}

/// A video.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoView {
    /// Public id.
    pub id: String,
    /// `recording`, `upload` or `short`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// `public`, `unlisted` or `private`.
    pub visibility: String,
    /// `recording`, `uploading`, `processing`, `ready` or `failed`.
    pub status: String,
    /// Why it failed, for its owner.
    pub failure: Option<String>,
    /// Duration, once known.
    pub duration_seconds: Option<f64>,
    /// Width in pixels, once known.
    pub width: Option<i64>,
    /// Height in pixels, once known.
    pub height: Option<i64>,
    /// Bytes stored.
    pub size_bytes: i64,
    /// RFC 3339.
    pub created_at: String,
    /// The source a recording came from (its owner only).
    pub source_id: Option<i64>,
    /// While processing.
    pub progress: Option<VideoProgress>,
    /// Once ready.
    pub playback: Option<VideoPlayback>,
    /// The video's page (root-relative): `/v/<id>`.
    pub watch_url: String,
    /// Who made it (a single video's answer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<crate::routes::auth::CreatorView>,
    /// Views, once per viewer per 30 minutes (a single video's answer, and trending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub views: Option<i64>,
    /// Likes (a single video's answer, and trending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likes: Option<i64>,
    /// Comments, replies included (a single video's answer, and trending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comments: Option<i64>,
    /// Whether the caller likes it (a single video's answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liked: Option<bool>,
    /// Who may watch it and whether the caller may (members-only and pay-per-view videos
    /// carry playback URLs only for those who may; its poster is always shown).
    pub access: crate::routes::gate::ContentAccess,
    /// Set while a copyright notice keeps it disabled (only its owner sees such a video; it
    /// has no playback URLs, and its media answer 451).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<VideoDisabled>,
}

/// Why a video is disabled.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoDisabled {
    /// RFC 3339.
    pub since: String,
    /// The copyright case that disabled it (its owner may file a counter-notice at
    /// `/dmca/counter/<case>`).
    pub case_id: Option<i64>,
}

/// Where a page is.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoPagination {
    /// This page, from 1.
    pub page: i64,
    /// Per page.
    pub limit: i64,
    /// Videos in all.
    pub total: i64,
    /// How many pages (at least 1).
    pub pages: i64,
}

/// Storage the caller's videos take, against the plan's quota.
#[derive(Debug, Serialize, ToSchema)]
pub struct StorageUsage {
    /// Bytes stored.
    pub used_bytes: i64,
    /// The plan's quota in bytes.
    pub quota_bytes: i64,
}

impl From<Usage> for StorageUsage {
    fn from(u: Usage) -> Self {
        Self {
            used_bytes: u.used_bytes,
            quota_bytes: u.quota_bytes,
        }
    }
}

/// A page of the caller's videos.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoList {
    /// Newest first.
    pub videos: Vec<VideoView>,
    /// Where this page is.
    pub pagination: VideoPagination,
    /// Storage used and allowed.
    pub storage: StorageUsage,
}

/// A stream's past broadcasts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PastBroadcasts {
    /// Public ready recordings, newest first, at most 50.
    pub videos: Vec<VideoView>,
}

/// What the owner changes; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVideo {
    /// 1 to 200 characters.
    pub title: Option<String>,
    /// Up to 5000 characters.
    pub description: Option<String>,
    /// Up to 20 tags of up to 40 characters.
    pub tags: Option<Vec<String>>,
    /// `public`, `unlisted` or `private`.
    pub visibility: Option<String>,
}

/// A page of videos.
#[derive(Debug, Deserialize, IntoParams)]
pub struct VideoPageQuery {
    /// From 1; default 1.
    pub page: Option<i64>,
    /// 1 to 100; default 20.
    pub limit: Option<i64>,
}

pub use crate::extract::MaybeUser;

pub use crate::error::video_not_found;

/// A video as `viewer` (`None`: anonymous) sees it. Playback URLs of a private video are
/// signed.
pub fn video_view(
    state: &AppState,
    v: &VideoRecord,
    progress: Option<Progress>,
    viewer: Option<i64>,
) -> VideoView {
    let ready = v.status == "ready" && v.disabled_at.is_none();
    let signed = (v.visibility == "private").then(|| {
        state
            .videos
            .signer()
            .query(&v.uuid, state.videos.now_secs())
    });
    let url = |path: &str| match &signed {
        Some(q) => format!("/vod/{}/{path}?{q}", v.uuid),
        None => format!("/vod/{}/{path}", v.uuid),
    };
    // A gated video's media URLs carry a viewer's playback token: added by
    // [`gate_video`] for a caller who may watch.
    let level = crate::service::access::Level::of_video(v);
    let open = !level.is_gated() || signed.is_some();
    let playback = ready.then(|| VideoPlayback {
        hls: (open && v.has_hls).then(|| url("hls/index.m3u8")),
        mp4: (open && v.has_mp4).then(|| url("video.mp4")),
        thumbnail: v.has_thumbnail.then(|| url("thumb.jpg")),
        strip: (open && v.strip_frames > 0).then(|| strip_of(v, url("strip.jpg"))),
    });
    VideoView {
        id: v.uuid.clone(),
        kind: v.kind.clone(),
        title: v.title.clone(),
        description: v.description.clone(),
        tags: v.tags.clone(),
        visibility: v.visibility.clone(),
        status: v.status.clone(),
        failure: v.failure.clone(),
        duration_seconds: v.duration_ms.map(|ms| ms as f64 / 1000.0),
        width: v.width,
        height: v.height,
        size_bytes: v.size_bytes,
        created_at: rfc3339(v.created_at),
        source_id: if viewer == Some(v.user_id) {
            v.source_id
        } else {
            None
        },
        progress: progress.map(|p| VideoProgress {
            stage: p.stage,
            percent: p.percent,
        }),
        playback,
        watch_url: format!("/v/{}", v.uuid),
        creator: None,
        views: None,
        likes: None,
        comments: None,
        liked: None,
        access: crate::routes::gate::access_brief(&level, viewer == Some(v.user_id)),
        disabled: v.disabled_at.map(|at| VideoDisabled {
            since: rfc3339(at),
            case_id: v
                .disabled_reason
                .as_deref()
                .and_then(|r| r.strip_prefix("dmca:"))
                .and_then(|id| id.parse().ok()),
        }),
    }
}

/// A video's access for the caller, and for a gated video they may watch its media URLs with
/// their playback token.
pub async fn gate_video(
    state: &AppState,
    view: &mut VideoView,
    v: &VideoRecord,
    viewer: Option<i64>,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let (access, token) = crate::routes::gate::video_grant(state, v, viewer, ip).await?;
    view.access = access;
    if let (Some(token), Some(p)) = (token, view.playback.as_mut()) {
        let url = |path: &str| format!("/vod/{}/{path}?token={token}", v.uuid);
        p.hls = v.has_hls.then(|| url("hls/index.m3u8"));
        p.mp4 = v.has_mp4.then(|| url("video.mp4"));
        if v.strip_frames > 0 {
            p.strip = Some(strip_of(v, url("strip.jpg")));
        }
    }
    Ok(())
}

/// A video's preview strip at `url`.
pub fn strip_of(v: &VideoRecord, url: String) -> PreviewStrip {
    PreviewStrip {
        url,
        frames: v.strip_frames,
        interval_seconds: strip_interval_secs(v.duration_ms),
        columns: STRIP_COLUMNS,
        width: STRIP_FRAME_WIDTH,
        height: strip_frame_height(v.width, v.height),
    }
}

/// The caller's videos, newest first, with their storage usage against the plan's quota.
#[utoipa::path(get, path = "/api/videos", tag = "videos", security(("bearer" = [])), params(VideoPageQuery),
    responses((status = 200, body = VideoList), (status = 401, body = ErrorBody)))]
pub async fn list_videos(
    State(state): State<AppState>,
    auth: AuthUser,
    ClientIp(ip): ClientIp,
    Query(q): Query<VideoPageQuery>,
) -> ApiResult<Json<VideoList>> {
    let page = q.page.unwrap_or(1).max(1);
    let limit = q.limit.unwrap_or(20).clamp(1, videos::MAX_PAGE_LIMIT);
    let (rows, total, usage) = state.videos.list(auth.user.id, page, limit).await?;
    let me = Some(auth.user.id);
    let mut views = Vec::with_capacity(rows.len());
    for (v, p) in rows {
        let mut view = video_view(&state, &v, p, me);
        gate_video(&state, &mut view, &v, me, ip).await?;
        views.push(view);
    }
    Ok(Json(VideoList {
        videos: views,
        pagination: VideoPagination {
            page,
            limit,
            total,
            pages: ((total + limit - 1) / limit).max(1),
        },
        storage: usage.into(),
    }))
}

/// A video: anyone for a public or unlisted ready video; its owner always (private ones only
/// to the owner).
#[utoipa::path(get, path = "/api/videos/{id}", tag = "videos",
    params(("id" = String, Path, description = "The video's public id")),
    responses((status = 200, body = VideoView), (status = 401, body = ErrorBody, description = "A credential was sent and is not valid"), (status = 404, body = ErrorBody),
              (status = 451, body = ErrorBody, description = "Disabled after a copyright notice (its owner still sees it)")))]
pub async fn get_video(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Json<VideoView>> {
    let viewer = auth.map(|a| a.user.id);
    let v = state.videos.visible(&id, viewer).await?;
    let p = state.videos.progress(&v).await?;
    let mut view = video_view(&state, &v, p, viewer);
    gate_video(&state, &mut view, &v, viewer, ip).await?;
    view.creator = crate::routes::auth::creator_of(&state, v.user_id).await?;
    let (counts, liked) = state.engagement.counts(&v, viewer).await?;
    view.views = Some(counts.views);
    view.likes = Some(counts.likes);
    view.comments = Some(counts.comments);
    view.liked = Some(liked);
    Ok(Json(view))
}

/// Edit a video's title, description, tags or visibility (owner).
#[utoipa::path(patch, path = "/api/videos/{id}", tag = "videos", security(("bearer" = [])), request_body = UpdateVideo,
    params(("id" = String, Path, description = "The video's public id")),
    responses((status = 200, body = VideoView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_video(
    State(state): State<AppState>,
    auth: AuthUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateVideo>,
) -> ApiResult<Json<VideoView>> {
    let v = state
        .videos
        .update(
            &id,
            auth.user.id,
            Changes {
                title: req.title,
                description: req.description,
                tags: req.tags,
                visibility: req.visibility,
            },
        )
        .await?;
    let p = state.videos.progress(&v).await?;
    let mut view = video_view(&state, &v, p, Some(auth.user.id));
    gate_video(&state, &mut view, &v, Some(auth.user.id), ip).await?;
    Ok(Json(view))
}

/// Delete a video with all its stored objects and jobs, freeing its storage (owner).
#[utoipa::path(delete, path = "/api/videos/{id}", tag = "videos", security(("bearer" = [])),
    params(("id" = String, Path, description = "The video's public id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_video(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.videos.delete(&id, auth.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A stream's past broadcasts: its public ready recordings, newest first, at most 50 (anyone).
#[utoipa::path(get, path = "/api/watch/{playback_id}/videos", tag = "playback",
    params(("playback_id" = String, Path, description = "The stream's public playback id")),
    responses((status = 200, body = PastBroadcasts), (status = 404, body = ErrorBody)))]
pub async fn past_broadcasts(
    State(state): State<AppState>,
    Path(playback_id): Path<String>,
) -> ApiResult<Json<PastBroadcasts>> {
    if playback_id.len() > 64 {
        return Err(crate::routes::watch::stream_not_found());
    }
    let rows = state
        .videos
        .past_broadcasts(&playback_id)
        .await?
        .ok_or_else(crate::routes::watch::stream_not_found)?;
    Ok(Json(PastBroadcasts {
        videos: rows
            .iter()
            .map(|v| video_view(&state, v, None, None))
            .collect(),
    }))
}
