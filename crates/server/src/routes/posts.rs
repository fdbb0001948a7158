//! Social posts over HTTP: pictures uploaded, posts made and deleted, a channel's posts, the
//! home feed, likes and comments, and the posts' pictures served.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, MaybeUser};
use crate::service::audit::{Actor as AuditActor, AuditEvent};
use crate::service::clock::rfc3339;
use crate::service::engagement::Actor;
use crate::service::posts::{images_of, is_post_key, PostError, MAX_PAGE};
use crate::service::profiles::media_url;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_db::posts::{PostCommentRecord, PostRecord};
use ferrocast_domain::chat::ChatRefusal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

impl From<PostError> for ApiError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "POST_NOT_FOUND",
                "This post does not exist",
                "It may have been deleted: reload the feed.",
            ),
            PostError::CommentNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "COMMENT_NOT_FOUND",
                "This comment does not exist",
                "It may have been deleted: reload the comments.",
            ),
            PostError::Invalid(d) => ApiError::validation(d),
            PostError::Refused(ChatRefusal::SlowMode(secs)) => {
                let mut e = ApiError::rate_limited(secs.max(1) as u64);
                e.body.details = format!(
                    "This channel's slow mode is on: wait {secs} s before commenting again."
                );
                e
            }
            PostError::Refused(r @ ChatRefusal::Banned(_)) => ApiError::new(
                StatusCode::FORBIDDEN,
                "BANNED",
                "You cannot comment on this channel",
                format!("{r}: the channel's moderators keep you from its chat and comments."),
            ),
            PostError::Refused(r) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "COMMENT_REFUSED",
                "This comment cannot be posted",
                format!("body: {r}; change it and post again."),
            ),
            PostError::TooFast(details, secs) => {
                let mut e = ApiError::rate_limited(secs);
                e.body.details = details;
                e
            }
            PostError::Forbidden(d) => ApiError::forbidden(d),
            PostError::Image(e) => e.into(),
            PostError::Db(e) => ApiError::internal(e),
            PostError::Storage(e) => ApiError::internal(e),
        }
    }
}

fn actor(a: &AuthUser) -> Actor {
    Actor {
        id: a.user.id,
        role: a.role,
    }
}

/// Who wrote a post or a comment.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostAuthor {
    /// The channel's handle.
    pub handle: String,
    /// Display name.
    pub display_name: String,
    /// Avatar (root-relative), if any.
    pub avatar_url: Option<String>,
    /// The channel's page: `/c/<handle>`.
    pub channel_url: String,
}

fn author(handle: &str, display_name: &str, avatar_key: Option<&str>) -> PostAuthor {
    PostAuthor {
        channel_url: format!("/c/{handle}"),
        handle: handle.to_string(),
        display_name: display_name.to_string(),
        avatar_url: avatar_key.map(media_url),
    }
}

/// A post.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostView {
    /// Public id.
    pub uuid: String,
    /// Who posted it.
    pub author: PostAuthor,
    /// The text (may be empty when there are pictures).
    pub body: String,
    /// Its pictures (root-relative WebP URLs).
    pub images: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Likes.
    pub likes: i64,
    /// Comments.
    pub comments: i64,
    /// Whether the caller likes it.
    pub liked: bool,
    /// Whether the caller may delete it (its author, the channel's moderators, staff).
    pub can_delete: bool,
}

/// A page of posts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostPage {
    /// The posts.
    pub posts: Vec<PostView>,
    /// `?before=` for the next page, if there may be one.
    pub next: Option<i64>,
}

/// Where the next page starts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// The `next` of the page before.
    pub before: Option<i64>,
    /// 1 to 50 (default 20).
    pub limit: Option<i64>,
}

async fn views(
    state: &AppState,
    posts: Vec<PostRecord>,
    viewer: Option<&AuthUser>,
) -> ApiResult<Vec<PostView>> {
    let ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
    let liked = match viewer {
        Some(v) => state.db.liked_posts(v.user.id, &ids).await?,
        None => Vec::new(),
    };
    // Whether the viewer moderates each channel, asked once per channel on the page.
    let mut moderates: std::collections::HashMap<i64, bool> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(posts.len());
    for p in posts {
        let can_delete = match viewer {
            Some(v) if v.user.id == p.user_id => true,
            Some(v) => match moderates.get(&p.user_id) {
                Some(m) => *m,
                None => {
                    let m = state.engagement.moderates(actor(v), p.user_id).await?;
                    moderates.insert(p.user_id, m);
                    m
                }
            },
            None => false,
        };
        out.push(PostView {
            author: author(&p.handle, &p.display_name, p.avatar_key.as_deref()),
            body: p.body.clone(),
            images: images_of(&p.images).iter().map(|k| media_url(k)).collect(),
            created_at: rfc3339(p.created_at),
            likes: p.likes,
            comments: p.comments,
            liked: liked.contains(&p.id),
            can_delete,
            uuid: p.uuid,
        });
    }
    Ok(out)
}

async fn page(
    state: &AppState,
    posts: Vec<PostRecord>,
    limit: i64,
    viewer: Option<&AuthUser>,
) -> ApiResult<Json<PostPage>> {
    let next = (posts.len() as i64 == limit)
        .then(|| posts.last().map(|p| p.id))
        .flatten();
    Ok(Json(PostPage {
        posts: views(state, posts, viewer).await?,
        next,
    }))
}

/// A picture uploaded for a post.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostImage {
    /// Name it in the post's `images`.
    pub key: String,
    /// Where it is shown (root-relative).
    pub url: String,
}

/// Upload a picture for a post: the picture itself as the body (PNG, JPEG or WebP, at most
/// 8 MiB), made into a WebP fitted within 1280×1280. Name its `key` in `POST /api/posts`.
#[utoipa::path(post, path = "/api/posts/images", tag = "posts", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png", description = "A PNG, JPEG or WebP picture"),
    responses((status = 201, body = PostImage), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "Over 8 MiB"),
              (status = 415, body = ErrorBody, description = "`IMAGE_INVALID`: not a picture that can be read"),
              (status = 503, body = ErrorBody, description = "Busy: try again")))]
pub async fn upload_post_image(
    State(state): State<AppState>,
    auth: AuthUser,
    body: Body,
) -> ApiResult<(StatusCode, Json<PostImage>)> {
    let (bytes, _permit) = crate::routes::picture::picture_to_convert(body).await?;
    let key = state.posts.add_image(&auth.user.uuid, &bytes).await?;
    Ok((
        StatusCode::CREATED,
        Json(PostImage {
            url: media_url(&key),
            key,
        }),
    ))
}

/// A new post.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// The text: up to the comments' length, line breaks kept; may be empty with pictures.
    #[serde(default)]
    pub body: String,
    /// Up to 4 keys from `POST /api/posts/images`.
    #[serde(default)]
    pub images: Vec<String>,
}

/// Post on your channel: text and pictures, shown on the channel and in your followers' home
/// feed.
#[utoipa::path(post, path = "/api/posts", tag = "posts", security(("bearer" = [])), request_body = NewPost,
    responses((status = 201, body = PostView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn create_post(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewPost>,
) -> ApiResult<(StatusCode, Json<PostView>)> {
    let post = state
        .posts
        .create(&auth.user, &req.body, &req.images)
        .await?;
    let mut v = views(&state, vec![post], Some(&auth)).await?;
    let view = v
        .pop()
        .ok_or_else(|| ApiError::internal("invariant: one post in, one view out"))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A post.
#[utoipa::path(get, path = "/api/posts/{uuid}", tag = "posts",
    params(("uuid" = String, Path, description = "The post's id")),
    responses((status = 200, body = PostView), (status = 404, body = ErrorBody)))]
pub async fn get_post(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(uuid): Path<String>,
) -> ApiResult<Json<PostView>> {
    let post = state.posts.get(&uuid).await?;
    let mut v = views(&state, vec![post], viewer.as_ref()).await?;
    v.pop()
        .map(Json)
        .ok_or_else(|| ApiError::internal("invariant: one post in, one view out"))
}

/// Delete a post and its pictures: its author, or the channel's moderators (recorded in the
/// audit log).
#[utoipa::path(delete, path = "/api/posts/{uuid}", tag = "posts", security(("bearer" = [])),
    params(("uuid" = String, Path, description = "The post's id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_post(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(uuid): Path<String>,
) -> ApiResult<StatusCode> {
    let post = state
        .posts
        .delete(&state.engagement, &uuid, actor(&auth))
        .await?;
    if post.user_id != auth.user.id {
        state
            .audit
            .note(
                AuditEvent::new("moderation.post_deleted", AuditActor::User(auth.user.id))
                    .subject("post", &post.uuid)
                    .details(serde_json::json!({
                        "author": post.user_id,
                        "text": post.body.chars().take(200).collect::<String>(),
                    })),
            )
            .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A like's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostLikes {
    /// Likes now.
    pub likes: i64,
    /// Whether the caller likes it now.
    pub liked: bool,
}

/// Like a post.
#[utoipa::path(put, path = "/api/posts/{uuid}/like", tag = "posts", security(("bearer" = [])),
    params(("uuid" = String, Path, description = "The post's id")),
    responses((status = 200, body = PostLikes), (status = 404, body = ErrorBody)))]
pub async fn like_post(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(uuid): Path<String>,
) -> ApiResult<Json<PostLikes>> {
    let likes = state.posts.like(&uuid, auth.user.id, true).await?;
    Ok(Json(PostLikes { likes, liked: true }))
}

/// Take back a like.
#[utoipa::path(delete, path = "/api/posts/{uuid}/like", tag = "posts", security(("bearer" = [])),
    params(("uuid" = String, Path, description = "The post's id")),
    responses((status = 200, body = PostLikes), (status = 404, body = ErrorBody)))]
pub async fn unlike_post(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(uuid): Path<String>,
) -> ApiResult<Json<PostLikes>> {
    let likes = state.posts.like(&uuid, auth.user.id, false).await?;
    Ok(Json(PostLikes {
        likes,
        liked: false,
    }))
}

/// A comment on a post.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostCommentView {
    /// Id (to delete it).
    pub id: i64,
    /// Who wrote it.
    pub author: PostAuthor,
    /// The text.
    pub body: String,
    /// RFC 3339.
    pub created_at: String,
    /// Whether the caller may delete it.
    pub can_delete: bool,
}

/// A post's comments.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostComments {
    /// Oldest first (at most 200).
    pub comments: Vec<PostCommentView>,
}

fn comment_view(c: PostCommentRecord, can_delete: bool) -> PostCommentView {
    PostCommentView {
        id: c.id,
        author: author(&c.handle, &c.display_name, c.avatar_key.as_deref()),
        body: c.body,
        created_at: rfc3339(c.created_at),
        can_delete,
    }
}

/// A post's comments, oldest first.
#[utoipa::path(get, path = "/api/posts/{uuid}/comments", tag = "posts",
    params(("uuid" = String, Path, description = "The post's id")),
    responses((status = 200, body = PostComments), (status = 404, body = ErrorBody)))]
pub async fn post_comments(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(uuid): Path<String>,
) -> ApiResult<Json<PostComments>> {
    let post = state.posts.get(&uuid).await?;
    let moderator = match &viewer {
        Some(v) => state.engagement.moderates(actor(v), post.user_id).await?,
        None => false,
    };
    let comments = state.posts.comments(&uuid).await?;
    Ok(Json(PostComments {
        comments: comments
            .into_iter()
            .map(|c| {
                let mine = viewer.as_ref().is_some_and(|v| v.user.id == c.user_id);
                comment_view(c, mine || moderator)
            })
            .collect(),
    }))
}

/// A new comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPostComment {
    /// The text.
    pub body: String,
}

/// Comment on a post (the channel's bans and chat rules apply).
#[utoipa::path(post, path = "/api/posts/{uuid}/comments", tag = "posts", security(("bearer" = [])),
    params(("uuid" = String, Path, description = "The post's id")), request_body = NewPostComment,
    responses((status = 201, body = PostCommentView), (status = 403, body = ErrorBody, description = "`BANNED`"),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "`COMMENT_REFUSED`: the channel's rules"),
              (status = 429, body = ErrorBody)))]
pub async fn comment_on_post(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(uuid): Path<String>,
    ApiJson(req): ApiJson<NewPostComment>,
) -> ApiResult<(StatusCode, Json<PostCommentView>)> {
    let c = state
        .posts
        .comment(&state.engagement, &uuid, actor(&auth), &req.body)
        .await?;
    Ok((StatusCode::CREATED, Json(comment_view(c, true))))
}

/// Delete a comment on a post: its author, the post's creator or the channel's moderators
/// (recorded in the audit log).
#[utoipa::path(delete, path = "/api/posts/comments/{id}", tag = "posts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The comment's id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_post_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let (c, post, by_moderator) = state
        .posts
        .delete_comment(&state.engagement, id, actor(&auth))
        .await?;
    if by_moderator {
        state
            .audit
            .note(
                AuditEvent::new(
                    "moderation.post_comment_deleted",
                    AuditActor::User(auth.user.id),
                )
                .subject("post", &post.uuid)
                .details(serde_json::json!({
                    "comment_id": c.id,
                    "author": c.user_id,
                    "text": c.body.chars().take(200).collect::<String>(),
                })),
            )
            .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A channel's posts, newest first.
#[utoipa::path(get, path = "/api/channels/{handle}/posts", tag = "posts",
    params(("handle" = String, Path, description = "The channel's handle"), PageQuery),
    responses((status = 200, body = PostPage), (status = 404, body = ErrorBody)))]
pub async fn channel_posts(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(handle): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<PostPage>> {
    let owner = state
        .db
        .user_by_handle(handle.trim_start_matches('@'))
        .await?
        .ok_or_else(|| ApiError::not_found("channel"))?;
    let limit = q.limit.unwrap_or(20).clamp(1, MAX_PAGE);
    let posts = state.db.posts_of_user(owner.id, q.before, limit).await?;
    page(&state, posts, limit, viewer.as_ref()).await
}

/// Your home feed: the posts of the channels you follow and your own, newest first.
#[utoipa::path(get, path = "/api/feed", tag = "posts", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = PostPage), (status = 401, body = ErrorBody)))]
pub async fn home_feed(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<PostPage>> {
    let limit = q.limit.unwrap_or(20).clamp(1, MAX_PAGE);
    let posts = state.db.home_feed(auth.user.id, q.before, limit).await?;
    page(&state, posts, limit, Some(&auth)).await
}

/// A post's picture (WebP; immutable: a new picture has a new address).
#[utoipa::path(get, path = "/media/posts/{user}/{file}", tag = "posts",
    params(("user" = String, Path, description = "The author's public id"), ("file" = String, Path, description = "The picture's file")),
    responses((status = 200, description = "The WebP picture", content_type = "image/webp"), (status = 404, body = ErrorBody)))]
pub async fn post_media(
    State(state): State<AppState>,
    Path((user, file)): Path<(String, String)>,
) -> Response {
    let key = format!("posts/{user}/{file}");
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "This picture does not exist",
            "Its post may have been deleted; reload the page.",
        )
        .into_response()
    };
    if !is_post_key(&key) {
        return missing();
    }
    crate::routes::profiles::stored_picture(&state, &key, "image/webp", missing).await
}
