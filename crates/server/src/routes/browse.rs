//! Discovery: the categories of streams (`GET /api/categories`) and the streams live now
//! (`GET /api/browse/live`), most viewers first. Public: anyone may browse.

use crate::error::{ApiResult, ErrorBody};
use crate::service::clock::rfc3339;
use crate::service::discovery::{self, BrowseQuery, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A category of streams.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    /// Its id in filters and in a source's `category` (`just-chatting`).
    pub slug: String,
    /// Its name.
    pub name: String,
}

/// Every category.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    /// In the order lists show them.
    pub categories: Vec<CategoryView>,
}

/// The channel a live stream belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelRef {
    /// The creator's display name.
    pub display_name: String,
    /// The channel's handle.
    pub handle: String,
    /// Avatar (root-relative), if any.
    pub avatar_url: Option<String>,
    /// The channel's page: `/c/<handle>`.
    pub channel_url: String,
}

/// A stream live now.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveStreamCard {
    /// The public playback id.
    pub playback_id: String,
    /// The watch page's absolute URL.
    pub watch_url: String,
    /// Its title (the source's name when it has none).
    pub title: String,
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
    /// People watching now (watch pages open, on every node).
    pub viewers: u64,
    /// When the live session began (RFC 3339).
    pub started_at: String,
    /// A picture of the stream now (a JPEG of its latest keyframe, made again at most every
    /// 15 s).
    pub thumbnail_url: String,
    /// Whose stream it is.
    pub channel: ChannelRef,
}

/// A page of streams live now.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveList {
    /// Most viewers first; equal counts, the most recently started first.
    pub streams: Vec<LiveStreamCard>,
    /// This page, from 1.
    pub page: i64,
    /// Streams per page.
    pub limit: i64,
    /// Streams live now that match, on every page.
    pub total: i64,
}

/// Which streams live now to list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LiveQuery {
    /// Only this category (a slug from `GET /api/categories`).
    pub category: Option<String>,
    /// Only this language (ISO 639-1, `en`).
    pub language: Option<String>,
    /// Include streams for adults (default false).
    pub mature: Option<bool>,
    /// From 1; default 1.
    pub page: Option<i64>,
    /// 1 to 60; default 24.
    pub limit: Option<i64>,
}

/// The categories of streams, in the order to show them (anyone).
#[utoipa::path(get, path = "/api/categories", tag = "playback",
    responses((status = 200, body = CategoryList)))]
pub async fn categories(State(state): State<AppState>) -> ApiResult<Json<CategoryList>> {
    let categories = state
        .db
        .list_categories()
        .await?
        .into_iter()
        .map(|c| CategoryView {
            slug: c.slug,
            name: c.name,
        })
        .collect();
    Ok(Json(CategoryList { categories }))
}

/// Streams live now on any node, most viewers first, by category and language (anyone).
/// Streams for adults are left out unless `mature=true`.
#[utoipa::path(get, path = "/api/browse/live", tag = "playback", params(LiveQuery),
    responses((status = 200, body = LiveList), (status = 422, body = ErrorBody, description = "An unknown category or language")))]
pub async fn live(
    State(state): State<AppState>,
    Query(q): Query<LiveQuery>,
) -> ApiResult<Json<LiveList>> {
    let page = q.page.unwrap_or(1).clamp(1, 10_000);
    let limit = q
        .limit
        .unwrap_or(DEFAULT_PAGE_LIMIT)
        .clamp(1, MAX_PAGE_LIMIT);
    let found = discovery::live_now(
        &state.db,
        &state.streams.stats,
        &BrowseQuery {
            category: q.category,
            language: q.language,
            mature: q.mature.unwrap_or(false),
            page,
            limit,
        },
    )
    .await?;
    let base = state.config.public_url.trim_end_matches('/');
    let streams = found
        .streams
        .into_iter()
        .map(|s| {
            let src = &s.listing.source;
            let pid = &src.playback_id;
            LiveStreamCard {
                watch_url: format!("{base}/watch/{pid}"),
                thumbnail_url: format!("{base}/api/watch/{pid}/thumbnail.jpg"),
                title: src.display_title().to_string(),
                category: src.category.clone(),
                category_name: s.category_name,
                tags: src.tags.clone(),
                language: src.language.clone(),
                mature: src.mature,
                viewers: s.viewers,
                started_at: rfc3339(s.listing.live_since),
                channel: ChannelRef {
                    display_name: s.listing.owner_name.clone(),
                    handle: s.listing.owner_handle.clone(),
                    avatar_url: s
                        .listing
                        .owner_avatar_key
                        .as_deref()
                        .map(crate::service::profiles::media_url),
                    channel_url: format!("/c/{}", s.listing.owner_handle),
                },
                playback_id: pid.clone(),
            }
        })
        .collect();
    Ok(Json(LiveList {
        streams,
        page,
        limit,
        total: found.total,
    }))
}
