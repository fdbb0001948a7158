//! Engagement with videos over HTTP: likes, comments with one level of replies, reports, view
//! counting and the player's heartbeats, a video's analytics for its owner, and trending. The
//! rules are in [`crate::service::engagement`].

use crate::error::{video_not_found, ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, ClientIp};
use crate::routes::videos::{video_view, MaybeUser, VideoView};
use crate::service::clock::rfc3339;
use crate::service::engagement::{Actor, EngagementError, Viewer, MAX_TRENDING};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use ferrocast_db::engagement::CommentRecord;
use ferrocast_domain::chat::ChatRefusal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<EngagementError> for ApiError {
    fn from(e: EngagementError) -> Self {
        match e {
            EngagementError::VideoNotFound => video_not_found(),
            EngagementError::CommentNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "COMMENT_NOT_FOUND",
                "This comment does not exist",
                "It may have been deleted: reload the comments.",
            ),
            EngagementError::TooFast(details, secs) => {
                let mut e = ApiError::rate_limited(secs);
                e.body.details = details;
                e
            }
            EngagementError::Refused(ChatRefusal::SlowMode(secs)) => {
                let mut e = ApiError::rate_limited(secs.max(1) as u64);
                e.body.details = format!(
                    "This channel's slow mode is on: wait {secs} s before commenting again."
                );
                e
            }
            EngagementError::Refused(r @ ChatRefusal::Banned(_)) => ApiError::new(
                StatusCode::FORBIDDEN,
                "BANNED",
                "You cannot comment on this channel",
                format!("{r}: the channel's moderators keep you from its chat and comments."),
            ),
            EngagementError::Refused(r) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "COMMENT_REFUSED",
                "This comment cannot be posted",
                format!("body: {r}; change it and post again."),
            ),
            EngagementError::Invalid(details) => ApiError::validation(details),
            EngagementError::Forbidden(details) => ApiError::forbidden(details),
            EngagementError::NoView => ApiError::new(
                StatusCode::CONFLICT,
                "NO_VIEW",
                "There is no view to add watch time to",
                "Send POST /api/videos/{id}/view when playback starts, then the heartbeats.",
            ),
            EngagementError::Db(e) => ApiError::internal(e),
        }
    }
}

fn actor(a: &AuthUser) -> Actor {
    Actor {
        id: a.user.id,
        role: a.role,
    }
}

/// A like's state after the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct LikeResult {
    /// Whether the caller likes the video.
    pub liked: bool,
    /// The video's likes.
    pub likes: i64,
}

/// Who wrote a comment.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentAuthor {
    /// Display name.
    pub display_name: String,
    /// The author's channel handle.
    pub handle: Option<String>,
    /// Avatar (root-relative), if any.
    pub avatar_url: Option<String>,
}

/// A reply to a comment.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyView {
    /// Id.
    pub id: i64,
    /// The top-level comment it answers.
    pub parent_id: Option<i64>,
    /// The text (plain; line breaks kept).
    pub body: String,
    /// RFC 3339.
    pub created_at: String,
    /// Who wrote it.
    pub author: CommentAuthor,
    /// Whether the caller wrote it.
    pub mine: bool,
    /// Whether the caller may delete it (its author, the creator, the channel's moderators).
    pub can_delete: bool,
}

/// A comment with its replies.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentView {
    /// Id.
    pub id: i64,
    /// The top-level comment it answers (a reply), or none.
    pub parent_id: Option<i64>,
    /// The text (plain; line breaks kept).
    pub body: String,
    /// RFC 3339.
    pub created_at: String,
    /// Who wrote it.
    pub author: CommentAuthor,
    /// Whether the caller wrote it.
    pub mine: bool,
    /// Whether the caller may delete it.
    pub can_delete: bool,
    /// Its first 50 replies, oldest first.
    pub replies: Vec<ReplyView>,
    /// Its replies in all.
    pub reply_count: i64,
}

/// A page of a video's comments.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentList {
    /// Top-level comments, newest first, with their replies.
    pub comments: Vec<CommentView>,
    /// Pass as `cursor` for the next page; none at the end.
    pub next_cursor: Option<String>,
    /// Comments on the video in all, replies included.
    pub total: i64,
}

/// Which comments.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CommentQuery {
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 50; default 20.
    pub limit: Option<i64>,
}

/// A new comment or reply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// 1 to 2000 characters; up to 20 lines.
    pub body: String,
    /// The comment this answers (a reply to a reply answers its top-level comment).
    pub parent_id: Option<i64>,
}

/// A report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// What is wrong with it, 1 to 500 characters.
    pub reason: String,
}

/// A report's receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportResult {
    /// Always true: the report is with the moderators (a second report of the same comment by
    /// the same user is the first one).
    pub reported: bool,
}

/// What a view request did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewResult {
    /// Whether it counted as a new view (once per viewer per 30 minutes).
    pub counted: bool,
    /// The video's views.
    pub views: i64,
    /// The view the player's heartbeats add watch time to.
    pub view_id: i64,
}

/// A player's heartbeat, every 15 s while playing.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Heartbeat {
    /// The view from `POST /api/videos/{id}/view` (else the viewer's current one).
    pub view_id: Option<i64>,
    /// Where the player is (seconds).
    pub position_s: Option<f64>,
    /// Seconds played since the previous heartbeat, 0 to 600.
    pub watched_s: f64,
}

/// What a heartbeat was credited.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeartbeatResult {
    /// Seconds added to the view's watch time (at most the wall time that passed).
    pub credited_seconds: f64,
    /// The view's watch time now.
    pub watched_seconds: f64,
}

/// A video's figures, for its owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoAnalyticsView {
    /// The video's public id.
    pub id: String,
    /// Views (once per viewer per 30 minutes).
    pub views: i64,
    /// Watch time in all (seconds).
    pub watch_seconds: f64,
    /// Watch time per view (seconds).
    pub average_view_seconds: f64,
    /// Likes.
    pub likes: i64,
    /// Comments, replies included.
    pub comments: i64,
}

/// Trending videos.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrendingList {
    /// Highest time-decayed engagement first, each with its counts and creator.
    pub videos: Vec<VideoView>,
}

/// How many trending videos.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TrendingQuery {
    /// 1 to 50; default 12.
    pub limit: Option<i64>,
}

fn author(c: &CommentRecord) -> CommentAuthor {
    CommentAuthor {
        display_name: c.author_name.clone(),
        handle: c.author_handle.clone(),
        avatar_url: c
            .author_avatar_key
            .as_deref()
            .map(crate::service::profiles::media_url),
    }
}

fn reply_view(c: &CommentRecord, me: Option<i64>, moderator: bool) -> ReplyView {
    let mine = me == Some(c.user_id);
    ReplyView {
        id: c.id,
        parent_id: c.parent_id,
        body: c.body.clone(),
        created_at: rfc3339(c.created_at),
        author: author(c),
        mine,
        can_delete: mine || moderator,
    }
}

fn comment_view(
    c: &CommentRecord,
    replies: Vec<ReplyView>,
    reply_count: i64,
    me: Option<i64>,
    moderator: bool,
) -> CommentView {
    let r = reply_view(c, me, moderator);
    CommentView {
        id: r.id,
        parent_id: r.parent_id,
        body: r.body,
        created_at: r.created_at,
        author: r.author,
        mine: r.mine,
        can_delete: r.can_delete,
        replies,
        reply_count,
    }
}

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| &s[..s.len().min(512)])
        .unwrap_or("")
}

/// Like a video.
#[utoipa::path(post, path = "/api/videos/{id}/like", tag = "videos", security(("bearer" = [])),
    params(("id" = String, Path, description = "The video's public id")),
    responses((status = 200, body = LikeResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn like(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LikeResult>> {
    let likes = state.engagement.set_like(&id, auth.user.id, true).await?;
    Ok(Json(LikeResult { liked: true, likes }))
}

/// Take a like back.
#[utoipa::path(delete, path = "/api/videos/{id}/like", tag = "videos", security(("bearer" = [])),
    params(("id" = String, Path, description = "The video's public id")),
    responses((status = 200, body = LikeResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlike(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LikeResult>> {
    let likes = state.engagement.set_like(&id, auth.user.id, false).await?;
    Ok(Json(LikeResult {
        liked: false,
        likes,
    }))
}

/// A video's comments: top-level ones newest first, each with its first replies (anyone who
/// may see the video).
#[utoipa::path(get, path = "/api/videos/{id}/comments", tag = "videos",
    params(("id" = String, Path, description = "The video's public id"), CommentQuery),
    responses((status = 200, body = CommentList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn comments(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    Path(id): Path<String>,
    Query(q): Query<CommentQuery>,
) -> ApiResult<Json<CommentList>> {
    let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::validation("cursor: pass the next_cursor of the previous page")
        })?),
        None => None,
    };
    let who = auth.as_ref().map(actor);
    let me = who.map(|a| a.id);
    let page = state
        .engagement
        .comments(&id, who, cursor, q.limit.unwrap_or(20))
        .await?;
    let comments = page
        .threads
        .iter()
        .map(|t| {
            comment_view(
                &t.comment,
                t.replies
                    .iter()
                    .map(|r| reply_view(r, me, page.moderator))
                    .collect(),
                t.reply_count,
                me,
                page.moderator,
            )
        })
        .collect();
    Ok(Json(CommentList {
        comments,
        next_cursor: page.next.map(|c| c.to_string()),
        total: page.total,
    }))
}

/// Comment on a video, or reply to a comment. Moderated with the channel's chat rules (bans,
/// blocked words, links, slow mode); at most 5 comments per 30 s per user (429 with
/// `Retry-After`).
#[utoipa::path(post, path = "/api/videos/{id}/comments", tag = "videos", security(("bearer" = [])), request_body = NewComment,
    params(("id" = String, Path, description = "The video's public id")),
    responses((status = 201, body = CommentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "Banned from the channel's chat"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn post_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NewComment>,
) -> ApiResult<(StatusCode, Json<CommentView>)> {
    let posted = state
        .engagement
        .comment(&id, actor(&auth), &req.body, req.parent_id)
        .await?;
    // Reply notifications: `posted.replied_to` is the author of the comment answered (tell
    // them unless they answered themselves).
    Ok((
        StatusCode::CREATED,
        Json(comment_view(
            &posted.comment,
            Vec::new(),
            0,
            Some(auth.user.id),
            false,
        )),
    ))
}

/// Delete a comment and its replies: its author, the video's creator, the channel's chat
/// moderators and staff (recorded in the moderation log when not the author).
#[utoipa::path(delete, path = "/api/comments/{id}", tag = "videos", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The comment's id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.engagement.delete_comment(id, actor(&auth)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Report a comment to the moderators.
#[utoipa::path(post, path = "/api/comments/{id}/report", tag = "videos", security(("bearer" = [])), request_body = NewReport,
    params(("id" = i64, Path, description = "The comment's id")),
    responses((status = 202, body = ReportResult), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn report_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewReport>,
) -> ApiResult<(StatusCode, Json<ReportResult>)> {
    state
        .engagement
        .report_comment(id, auth.user.id, &req.reason)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(ReportResult { reported: true })))
}

/// Count a view (the player, when it loads): once per viewer per 30 minutes. A viewer is the
/// signed-in user, else the client's address with its User-Agent — reloading, another tab or
/// cleared cookies are the same viewer.
#[utoipa::path(post, path = "/api/videos/{id}/view", tag = "videos",
    params(("id" = String, Path, description = "The video's public id")),
    responses((status = 200, body = ViewResult), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn view(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<ViewResult>> {
    let addr = crate::ratelimit::client_key(ip);
    let viewer = match &auth {
        Some(a) => Viewer::User(a.user.id),
        None => Viewer::Anonymous {
            addr: &addr,
            user_agent: user_agent(&headers),
        },
    };
    let (out, views) = state.engagement.view(&id, viewer, &addr).await?;
    Ok(Json(ViewResult {
        counted: out.counted,
        views,
        view_id: out.view_id,
    }))
}

/// A player's heartbeat while playing (every 15 s): adds the seconds played to the view's
/// watch time, never more than the wall time since the view began.
#[utoipa::path(post, path = "/api/videos/{id}/heartbeat", tag = "videos", request_body = Heartbeat,
    params(("id" = String, Path, description = "The video's public id")),
    responses((status = 200, body = HeartbeatResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "No view yet"), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Heartbeat>,
) -> ApiResult<Json<HeartbeatResult>> {
    let addr = crate::ratelimit::client_key(ip);
    let viewer = match &auth {
        Some(a) => Viewer::User(a.user.id),
        None => Viewer::Anonymous {
            addr: &addr,
            user_agent: user_agent(&headers),
        },
    };
    let _ = req.position_s;
    let (credited, total) = state
        .engagement
        .heartbeat(&id, viewer, &addr, req.view_id, req.watched_s)
        .await?;
    Ok(Json(HeartbeatResult {
        credited_seconds: credited as f64 / 1000.0,
        watched_seconds: total as f64 / 1000.0,
    }))
}

/// A video's views, watch time and average view duration (its owner).
#[utoipa::path(get, path = "/api/videos/{id}/analytics", tag = "videos", security(("bearer" = [])),
    params(("id" = String, Path, description = "The video's public id")),
    responses((status = 200, body = VideoAnalyticsView), (status = 404, body = ErrorBody)))]
pub async fn analytics(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<VideoAnalyticsView>> {
    let (v, a, c) = state.engagement.analytics(&id, auth.user.id).await?;
    Ok(Json(VideoAnalyticsView {
        id: v.uuid,
        views: a.views,
        watch_seconds: a.watch_ms as f64 / 1000.0,
        average_view_seconds: a.avg_view_ms as f64 / 1000.0,
        likes: c.likes,
        comments: c.comments,
    }))
}

/// Trending videos: public videos by engagement (views, likes, comments, watch time) over the
/// last week, each hour's counting half as much per day of age (anyone).
#[utoipa::path(get, path = "/api/browse/trending", tag = "playback", params(TrendingQuery),
    responses((status = 200, body = TrendingList)))]
pub async fn trending(
    State(state): State<AppState>,
    Query(q): Query<TrendingQuery>,
) -> ApiResult<Json<TrendingList>> {
    let limit = q.limit.unwrap_or(12).clamp(1, MAX_TRENDING as i64) as usize;
    let found = state.engagement.trending(limit).await?;
    let mut videos = Vec::with_capacity(found.len());
    for t in found {
        let mut view = video_view(&state, &t.video, None, None);
        let (counts, _) = state.engagement.counts(&t.video, None).await?;
        view.views = Some(counts.views);
        view.likes = Some(counts.likes);
        view.comments = Some(counts.comments);
        view.creator = crate::routes::auth::creator_of(&state, t.video.user_id).await?;
        videos.push(view);
    }
    Ok(Json(TrendingList { videos }))
}
