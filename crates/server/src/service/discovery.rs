//! Stream metadata and "live now": what a creator says about a stream (title, category, tags,
//! language, mature), checked by `ferrocast_domain::stream_info`, stored on the source, pushed
//! to the stream's viewers as it changes (`stream-info`), and the list of streams live now on
//! any node, by viewers (every node's counts, in the [`StatsBook`]).

use super::events::{Fanout, RealtimeEvent, StreamInfoOut};
use super::stats::StatsBook;
use ferrocast_db::sources::{Category, LiveFilter, LiveListing, SourceRecord, StreamMetadata};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::stream_info;

/// Live streams read from the database at most for one listing: "live now" is sorted by
/// viewers in memory, so a listing never reads more than this (the most recently started).
pub const MAX_LIVE_SCANNED: i64 = 2000;
/// Streams on one page at most.
pub const MAX_PAGE_LIMIT: i64 = 60;
/// Streams on a page unless asked otherwise.
pub const DEFAULT_PAGE_LIMIT: i64 = 24;

/// Why a metadata or listing request did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The database failed.
    #[error(transparent)]
    Db(DbError),
    /// A field is not acceptable (the sentence names it and says what is).
    #[error("{0}")]
    Invalid(String),
}

impl From<DbError> for DiscoveryError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Invalid(m) => DiscoveryError::Invalid(m),
            e => DiscoveryError::Db(e),
        }
    }
}

/// Changes to a stream's metadata: a field left out (`None`) stays as it is; for the
/// clearable ones, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct MetadataChanges {
    /// Empty clears it (the stream is then called by its source's name).
    pub title: Option<Option<String>>,
    /// What the stream is about; empty clears it.
    pub description: Option<Option<String>>,
    /// A category's slug.
    pub category: Option<Option<String>>,
    /// Tags (all of them).
    pub tags: Option<Vec<String>>,
    /// ISO 639-1.
    pub language: Option<Option<String>>,
    /// For adults only.
    pub mature: Option<bool>,
}

/// Checks `changes` against the rules and applies them to `current`.
pub fn apply(
    current: StreamMetadata,
    changes: MetadataChanges,
) -> Result<StreamMetadata, DiscoveryError> {
    let invalid = DiscoveryError::Invalid;
    let mut m = current;
    if let Some(t) = changes.title {
        m.title = stream_info::clean_title(t.as_deref().unwrap_or("")).map_err(invalid)?;
    }
    if let Some(d) = changes.description {
        m.description =
            stream_info::clean_description(d.as_deref().unwrap_or("")).map_err(invalid)?;
    }
    if let Some(c) = changes.category {
        m.category = match c.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(slug) if stream_info::is_category_slug(slug) => Some(slug.to_string()),
            Some(_) => {
                return Err(invalid(
                    "category: must be a category's slug such as gaming or music; GET /api/categories lists them"
                        .into(),
                ))
            }
        };
    }
    if let Some(tags) = changes.tags {
        m.tags = stream_info::clean_tags(&tags).map_err(invalid)?;
    }
    if let Some(l) = changes.language {
        m.language = stream_info::clean_language(l.as_deref().unwrap_or("")).map_err(invalid)?;
    }
    if let Some(mature) = changes.mature {
        m.mature = mature;
    }
    Ok(m)
}

/// The name of the category `slug`, from `categories`.
pub fn category_name(categories: &[Category], slug: Option<&str>) -> Option<String> {
    let slug = slug?;
    categories
        .iter()
        .find(|c| c.slug == slug)
        .map(|c| c.name.clone())
}

/// What viewers see of a source's metadata.
pub fn info_of(source: &SourceRecord, categories: &[Category]) -> StreamInfoOut {
    StreamInfoOut {
        playback_id: source.playback_id.clone(),
        title: source.display_title().to_string(),
        description: source.description.clone().unwrap_or_default(),
        category: source.category.clone(),
        category_name: category_name(categories, source.category.as_deref()),
        tags: source.tags.clone(),
        language: source.language.clone(),
        mature: source.mature,
    }
}

/// Applies `changes` to `source`'s metadata, stores it, and tells the stream's viewers on
/// every node (`stream-info`); the source as stored now.
pub async fn update_metadata(
    db: &Db,
    fanout: &dyn Fanout,
    source: &SourceRecord,
    changes: MetadataChanges,
    now_ms: i64,
) -> Result<SourceRecord, DiscoveryError> {
    let m = apply(source.metadata(), changes)?;
    if !db.set_source_metadata(source.id, &m, now_ms).await? {
        return Err(DiscoveryError::Invalid("source: it was deleted".into()));
    }
    let updated = db
        .source_by_id(source.id)
        .await?
        .ok_or_else(|| DiscoveryError::Invalid("source: it was deleted".into()))?;
    // A recording of the live session so far takes the new title and tags too.
    if let Some(v) = db
        .open_recording_for_source(updated.id, i64::MAX)
        .await?
        .filter(|v| v.status == "recording")
    {
        let title = updated.title.clone().unwrap_or_else(|| v.title.clone());
        let description = updated
            .description
            .clone()
            .unwrap_or_else(|| v.description.clone());
        db.update_video_metadata(
            v.id,
            &title,
            &description,
            &updated.tags,
            &v.visibility,
            now_ms,
        )
        .await?;
    }
    let categories = db.list_categories().await?;
    fanout.publish(RealtimeEvent::StreamInfo {
        source_id: updated.id,
        info: info_of(&updated, &categories),
    });
    tracing::info!(source = updated.id, "stream metadata changed");
    Ok(updated)
}

/// Which page of "live now" to list.
#[derive(Debug, Clone, Default)]
pub struct BrowseQuery {
    /// A category's slug.
    pub category: Option<String>,
    /// ISO 639-1.
    pub language: Option<String>,
    /// Include streams for adults.
    pub mature: bool,
    /// From 1.
    pub page: i64,
    /// 1 to [`MAX_PAGE_LIMIT`].
    pub limit: i64,
}

/// One stream live now.
#[derive(Debug, Clone)]
pub struct LiveNow {
    /// The stream.
    pub listing: LiveListing,
    /// Its viewers on every node.
    pub viewers: u64,
    /// Its category's name.
    pub category_name: Option<String>,
}

/// A page of streams live now, most viewers first.
#[derive(Debug, Clone)]
pub struct LivePage {
    /// This page's streams.
    pub streams: Vec<LiveNow>,
    /// Streams live now that match, on every page.
    pub total: i64,
}

/// Streams live now, most viewers first (then the most recently started), as `q` filters and
/// pages them. An unknown category or language is refused rather than answered with nothing,
/// so a typo is told apart from a quiet evening.
pub async fn live_now(
    db: &Db,
    stats: &StatsBook,
    q: &BrowseQuery,
) -> Result<LivePage, DiscoveryError> {
    let categories = db.list_categories().await?;
    let category = match q
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(slug) if categories.iter().any(|c| c.slug == slug) => Some(slug),
        Some(slug) => {
            return Err(DiscoveryError::Invalid(format!(
                "category: no category {:?}; GET /api/categories lists them",
                slug.chars().take(40).collect::<String>()
            )))
        }
    };
    let language = stream_info::clean_language(q.language.as_deref().unwrap_or(""))
        .map_err(DiscoveryError::Invalid)?;
    let rows = db
        .live_streams(&LiveFilter {
            category,
            language: language.as_deref(),
            mature: q.mature,
            max: MAX_LIVE_SCANNED,
        })
        .await?;
    let mut streams: Vec<LiveNow> = rows
        .into_iter()
        .map(|listing| LiveNow {
            viewers: stats.viewers(listing.source.id),
            category_name: category_name(&categories, listing.source.category.as_deref()),
            listing,
        })
        .collect();
    // Stable: equal viewers keep the database's order (the most recently started first).
    streams.sort_by_key(|s| std::cmp::Reverse(s.viewers));
    let total = streams.len() as i64;
    let limit = q.limit.clamp(1, MAX_PAGE_LIMIT);
    let skip = (q.page.max(1) - 1).saturating_mul(limit);
    let streams = streams
        .into_iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(limit as usize)
        .collect();
    Ok(LivePage { streams, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_field_by_field() {
        let current = StreamMetadata {
            title: Some("Old".into()),
            description: None,
            category: Some("music".into()),
            tags: vec!["a".into()],
            language: Some("en".into()),
            mature: false,
        };
        let m = apply(
            current.clone(),
            MetadataChanges {
                title: Some(Some("  New  ".into())),
                language: Some(None),
                ..Default::default()
            },
        )
        .expect("valid");
        assert_eq!(m.title.as_deref(), Some("New"));
        assert_eq!(m.category.as_deref(), Some("music"));
        assert_eq!(m.tags, ["a"]);
        assert_eq!(m.language, None);
        let bad = apply(
            current,
            MetadataChanges {
                category: Some(Some("Not A Slug".into())),
                ..Default::default()
            },
        );
        assert!(matches!(bad, Err(DiscoveryError::Invalid(m)) if m.starts_with("category:")));
    }
}
