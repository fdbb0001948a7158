//! Search (`GET /api/search`): channels, streams live now and public videos by words of their
//! names, titles, tags, bios and descriptions; handles also with a typo or two. Public.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ClientIp;
use crate::ratelimit::client_key;
use crate::routes::browse::{ChannelRef, LiveStreamCard};
use crate::routes::videos::{video_view, VideoView};
use crate::service::clock::rfc3339;
use crate::service::profiles::media_url;
use crate::service::search::{self, SearchError, SearchKind, SearchQuery};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use ferrocast_db::search::ChannelMatch;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Characters of a bio a result shows at most.
const BIO_CHARS: usize = 200;

/// A channel found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelResult {
    /// The channel's handle.
    pub handle: String,
    /// The creator's display name.
    pub display_name: String,
    /// Avatar (root-relative), if any.
    pub avatar_url: Option<String>,
    /// The start of the bio (at most 200 characters).
    pub bio: String,
    /// The channel's page: `/c/<handle>`.
    pub url: String,
    /// Whether the channel is live now.
    pub live: bool,
    /// How it matched: `handle` (the handle starts with the query), `text` (words of its handle,
    /// name or bio) or `similar_handle` (the handle starts a typo or two from the query).
    pub matched: String,
}

/// A public video found.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoResult {
    /// The video.
    pub video: VideoView,
    /// Whose it is.
    pub channel: ChannelRef,
}

/// What a search found, best first in each kind.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// The words searched for (letters and digits, lowercase; each matches as a prefix).
    pub words: Vec<String>,
    /// Channels.
    pub channels: Vec<ChannelResult>,
    /// Streams live now.
    pub live: Vec<LiveStreamCard>,
    /// Public videos.
    pub videos: Vec<VideoResult>,
    /// With one `type`, the `cursor` of the next page, if there are more.
    pub next_cursor: Option<String>,
}

/// What to search for.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchParams {
    /// The words (only letters and digits count; the first 200 characters are read). A
    /// handle (`@name` or `name`) also finds handles starting a typo or two away.
    pub q: Option<String>,
    /// `all` (default: the first few of each kind), `channels`, `live` or `videos`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Results of each kind: 1 to 50; default 6 for `all`, 20 otherwise.
    pub limit: Option<i64>,
    /// The previous answer's `next_cursor` (one `type` only).
    pub cursor: Option<String>,
    /// Include streams for adults (default false).
    pub mature: Option<bool>,
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Invalid(m) => ApiError::validation(m),
            SearchError::Db(e) => ApiError::internal(e),
        }
    }
}

fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", s[..i].trim_end()),
        None => s.to_string(),
    }
}

/// Search channels, streams live now and public videos (anyone). Any text is a valid query:
/// what is not a letter or digit only separates words.
#[utoipa::path(get, path = "/api/search", tag = "playback", params(SearchParams),
    responses((status = 200, body = SearchResponse), (status = 422, body = ErrorBody, description = "An unknown `type` or a stale `cursor`"),
              (status = 429, body = ErrorBody, description = "More than `FERROCAST_SEARCH_RATE_LIMIT` searches a minute from one address")))]
pub async fn search(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<SearchResponse>> {
    if let Err(wait) = state.search_limiter.check_shared(&client_key(ip)).await {
        return Err(ApiError::rate_limited(wait));
    }
    let kind = SearchKind::parse(p.kind.as_deref().unwrap_or(""))?;
    let found = search::search(
        &state.db,
        &state.streams.stats,
        &SearchQuery {
            q: p.q.unwrap_or_default(),
            kind,
            limit: p.limit,
            cursor: p.cursor,
            mature: p.mature.unwrap_or(false),
        },
    )
    .await?;
    let base = state.config.public_url.trim_end_matches('/');
    let r = found.results;
    let channels = r
        .channels
        .into_iter()
        .map(|c| ChannelResult {
            url: format!("/c/{}", c.handle),
            avatar_url: c.avatar_key.as_deref().map(media_url),
            bio: clip(&c.bio, BIO_CHARS),
            live: c.live,
            matched: match c.matched {
                ChannelMatch::Handle => "handle",
                ChannelMatch::Text => "text",
                ChannelMatch::SimilarHandle => "similar_handle",
            }
            .into(),
            handle: c.handle,
            display_name: c.display_name,
        })
        .collect();
    let live = r
        .live
        .into_iter()
        .zip(found.viewers)
        .zip(found.category_names)
        .map(|((l, viewers), category_name)| {
            let src = &l.source;
            let pid = &src.playback_id;
            LiveStreamCard {
                watch_url: format!("{base}/watch/{pid}"),
                thumbnail_url: format!("{base}/api/watch/{pid}/thumbnail.jpg"),
                title: src.display_title().to_string(),
                category: src.category.clone(),
                category_name,
                tags: src.tags.clone(),
                language: src.language.clone(),
                mature: src.mature,
                viewers,
                started_at: rfc3339(l.live_since),
                channel: ChannelRef {
                    display_name: l.owner_name.clone(),
                    handle: l.owner_handle.clone(),
                    avatar_url: l.owner_avatar_key.as_deref().map(media_url),
                    channel_url: format!("/c/{}", l.owner_handle),
                },
                playback_id: pid.clone(),
            }
        })
        .collect();
    let videos = r
        .videos
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
    Ok(Json(SearchResponse {
        words: found.terms.words,
        channels,
        live,
        videos,
        next_cursor: found.next_cursor,
    }))
}
