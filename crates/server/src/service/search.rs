//! Search (`GET /api/search`): channels, streams live now and public videos matching a query,
//! from the database's full-text indexes ([`Db::search`]); handles also match with a typo or
//! two. One kind pages on with a cursor; `all` gives the first few of each.

use super::discovery::category_name;
use super::stats::StatsBook;
use ferrocast_db::search::{ResultPage, SearchRequest, SearchResults, SearchTerms, MAX_OFFSET};
use ferrocast_db::{Db, DbError};

/// Results of one kind on a page unless asked otherwise.
pub const DEFAULT_LIMIT: i64 = 20;
/// Results of each kind when all kinds are asked for, unless asked otherwise.
pub const DEFAULT_ALL_LIMIT: i64 = 6;
/// Results of one kind on a page at most.
pub const MAX_LIMIT: i64 = 50;

/// Which results to search for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    /// A few of each kind.
    All,
    /// Channels.
    Channels,
    /// Streams live now.
    Live,
    /// Public videos.
    Videos,
}

impl SearchKind {
    /// Reads `all`, `channels`, `live` or `videos` (empty: `all`).
    pub fn parse(s: &str) -> Result<SearchKind, SearchError> {
        match s.trim() {
            "" | "all" => Ok(SearchKind::All),
            "channels" => Ok(SearchKind::Channels),
            "live" => Ok(SearchKind::Live),
            "videos" => Ok(SearchKind::Videos),
            _ => Err(SearchError::Invalid(
                "type: must be all, channels, live or videos".into(),
            )),
        }
    }
}

/// Why a search did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A parameter is not acceptable (the sentence names it and says what is).
    #[error("{0}")]
    Invalid(String),
}

/// A search as asked.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// What was typed.
    pub q: String,
    /// Which kinds.
    pub kind: SearchKind,
    /// Results of each kind; `None`: the default.
    pub limit: Option<i64>,
    /// Where the previous page of one kind ended.
    pub cursor: Option<String>,
    /// Include streams for adults.
    pub mature: bool,
}

/// What a search found.
#[derive(Debug, Clone)]
pub struct Found {
    /// The words searched for.
    pub terms: SearchTerms,
    /// The results.
    pub results: SearchResults,
    /// Viewers of each live stream found, by source id.
    pub viewers: Vec<u64>,
    /// The category name of each live stream found.
    pub category_names: Vec<Option<String>>,
    /// The cursor of the next page (one kind only), if there are more.
    pub next_cursor: Option<String>,
}

/// Reads a cursor: the results already shown.
fn offset_of(cursor: Option<&str>) -> Result<i64, SearchError> {
    match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=MAX_OFFSET).contains(n))
            .ok_or_else(|| {
                SearchError::Invalid(format!(
                    "cursor: must be the next_cursor of a previous answer (search results go {MAX_OFFSET} deep)"
                ))
            }),
    }
}

/// Runs a search.
pub async fn search(db: &Db, stats: &StatsBook, q: &SearchQuery) -> Result<Found, SearchError> {
    let terms = SearchTerms::parse(&q.q);
    let offset = offset_of(q.cursor.as_deref())?;
    if offset > 0 && q.kind == SearchKind::All {
        return Err(SearchError::Invalid(
            "cursor: pages go on for one kind at a time; ask again with type=channels, live or videos"
                .into(),
        ));
    }
    let default = if q.kind == SearchKind::All {
        DEFAULT_ALL_LIMIT
    } else {
        DEFAULT_LIMIT
    };
    let page = ResultPage {
        limit: q.limit.unwrap_or(default).clamp(1, MAX_LIMIT),
        offset,
    };
    let want = |k: SearchKind| (q.kind == SearchKind::All || q.kind == k).then_some(page);
    let results = db
        .search(&SearchRequest {
            terms: &terms,
            channels: want(SearchKind::Channels),
            live: want(SearchKind::Live),
            videos: want(SearchKind::Videos),
            mature: q.mature,
        })
        .await?;
    let more = match q.kind {
        SearchKind::All => false,
        SearchKind::Channels => results.channels_more,
        SearchKind::Live => results.live_more,
        SearchKind::Videos => results.videos_more,
    };
    let shown = match q.kind {
        SearchKind::All => 0,
        SearchKind::Channels => results.channels.len(),
        SearchKind::Live => results.live.len(),
        SearchKind::Videos => results.videos.len(),
    } as i64;
    let next = offset + shown;
    let next_cursor = (more && next <= MAX_OFFSET).then(|| next.to_string());
    let categories = if results.live.is_empty() {
        Vec::new()
    } else {
        db.list_categories().await?
    };
    let viewers = results
        .live
        .iter()
        .map(|l| stats.viewers(l.source.id))
        .collect();
    let category_names = results
        .live
        .iter()
        .map(|l| category_name(&categories, l.source.category.as_deref()))
        .collect();
    Ok(Found {
        terms,
        results,
        viewers,
        category_names,
        next_cursor,
    })
}
