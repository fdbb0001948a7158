//! Search over channels (handle, display name, bio), live streams (title, tags, category) and
//! public ready videos (title, tags, description): SQLite's FTS5 or PostgreSQL's own full-text
//! search, behind one [`Db::search`]. The indexes follow every write (migration 0019: triggers
//! on SQLite, generated `tsvector` columns on PostgreSQL). A query is cut into words the
//! application chooses ([`SearchTerms::parse`]): letters and digits only, each matched as a
//! prefix, so nothing a user types is ever read as the engines' query syntax.
//!
//! Handles are also matched with typos: a query shaped like a handle finds the handles whose
//! start is within one or two edits of it ("strmer" finds "streamer42"). Candidates come from
//! the handles' letter pairs near their start (`search_handle_grams`, one SQL for both
//! backends); the edit distance of each is measured here.

use crate::sources::{LiveListing, SourceRecord};
use crate::videos::VideoRecord;
use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// Characters of a query read at most; the rest is ignored.
pub const MAX_QUERY_CHARS: usize = 200;
/// Words of a query used at most.
pub const MAX_WORDS: usize = 8;
/// Characters of one word used at most.
pub const MAX_WORD_CHARS: usize = 40;
/// Handles whose letter pairs are compared at most for one query.
pub const MAX_HANDLE_CANDIDATES: i64 = 200;
/// Results skipped at most (a cursor further on is refused by the caller).
pub const MAX_OFFSET: i64 = 500;

/// A query cut into what the indexes are asked: words (lowercase letters and digits) and, when
/// the query is shaped like a handle, that handle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchTerms {
    /// Words, each matched as a prefix; all must match.
    pub words: Vec<String>,
    /// The query as a handle (`a-z`, `0-9`, `_`, 3 to 30 characters, an initial `@` dropped),
    /// for prefixes with typos.
    pub handle: Option<String>,
}

impl SearchTerms {
    /// Cuts `q` into words: runs of letters and digits, lowercase, at most [`MAX_WORDS`] of
    /// at most [`MAX_WORD_CHARS`] characters, from its first [`MAX_QUERY_CHARS`] characters.
    /// Anything else (quotes, `*`, `:`, parentheses, operators) only separates words.
    pub fn parse(q: &str) -> SearchTerms {
        let q: String = q.chars().take(MAX_QUERY_CHARS).collect();
        let mut words: Vec<String> = Vec::new();
        for w in q.split(|c: char| !c.is_alphanumeric()) {
            if w.is_empty() {
                continue;
            }
            let w: String = w
                .chars()
                .take(MAX_WORD_CHARS)
                .collect::<String>()
                .to_lowercase();
            // Lowercasing may produce marks that are not alphanumeric: keep letters and digits.
            let w: String = w.chars().filter(|c| c.is_alphanumeric()).collect();
            if !w.is_empty() && !words.contains(&w) {
                words.push(w);
            }
            if words.len() == MAX_WORDS {
                break;
            }
        }
        let h = q.trim();
        let h = h.strip_prefix('@').unwrap_or(h).to_ascii_lowercase();
        let handle = (h.len() >= 3
            && h.len() <= 30
            && h.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
        .then_some(h);
        SearchTerms { words, handle }
    }

    /// Whether there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.handle.is_none()
    }

    /// The FTS5 query: each word quoted (it holds no quote) as a prefix, all required.
    pub fn fts5(&self) -> String {
        self.words
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `to_tsquery` text: each word (letters and digits only) as a prefix, all required.
    pub fn tsquery(&self) -> String {
        self.words
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

/// The edits a handle prefix may be away from a query of `len` characters.
pub fn allowed_edits(len: usize) -> usize {
    match len {
        0..=2 => 0,
        3..=4 => 1,
        _ => 2,
    }
}

/// The fewest edits (insertions, deletions, substitutions, swaps of neighbours) that turn
/// `query` into a prefix of `handle`.
pub fn prefix_distance(query: &str, handle: &str) -> usize {
    let a: Vec<char> = query.chars().collect();
    let b: Vec<char> = handle.chars().collect();
    let (m, n) = (a.len(), b.len());
    // d[i][j]: edits turning a[..i] into b[..j] (optimal string alignment).
    let mut d = vec![vec![0usize; n + 1]; m + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=m {
        for j in 1..=n {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    (0..=n).map(|j| d[m][j]).min().unwrap_or(m)
}

/// The letter pairs of `'^' + handle`, as `search_handle_grams` holds them.
pub fn handle_grams(handle: &str) -> Vec<String> {
    let s: Vec<char> = std::iter::once('^').chain(handle.chars()).collect();
    let mut out: Vec<String> = s.windows(2).map(|w| w.iter().collect()).collect();
    out.dedup();
    out
}

/// How a channel matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelMatch {
    /// Its handle is the query, or starts with it.
    Handle,
    /// Words of its handle, name or bio.
    Text,
    /// Its handle starts with something a typo or two from the query.
    SimilarHandle,
}

/// A channel found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelHit {
    /// The account.
    pub user_id: i64,
    /// Handle.
    pub handle: String,
    /// Display name.
    pub display_name: String,
    /// Bio.
    pub bio: String,
    /// Avatar's storage key.
    pub avatar_key: Option<String>,
    /// Whether one of its sources is live.
    pub live: bool,
    /// How it matched.
    pub matched: ChannelMatch,
}

/// A public ready video found, with its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoHit {
    /// The video.
    pub video: VideoRecord,
    /// Its owner's display name.
    pub owner_name: String,
    /// Its owner's handle.
    pub owner_handle: String,
    /// Its owner's avatar's storage key.
    pub owner_avatar_key: Option<String>,
}

/// A page of one kind of result: `limit` after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultPage {
    /// Results at most.
    pub limit: i64,
    /// Results skipped (at most [`MAX_OFFSET`]).
    pub offset: i64,
}

/// What to search for, and which kinds of results (a kind left `None` is not searched).
#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    /// The query.
    pub terms: &'a SearchTerms,
    /// Channels.
    pub channels: Option<ResultPage>,
    /// Streams live now.
    pub live: Option<ResultPage>,
    /// Public ready videos.
    pub videos: Option<ResultPage>,
    /// Include streams for adults.
    pub mature: bool,
}

/// What a search found, best first; `*_more` says whether a further page has more.
#[derive(Debug, Clone, Default)]
pub struct SearchResults {
    /// Channels: handle matches, then words, then handles with typos.
    pub channels: Vec<ChannelHit>,
    /// Whether there are more channels.
    pub channels_more: bool,
    /// Streams live now (on any node), best match first.
    pub live: Vec<LiveListing>,
    /// Whether there are more live streams.
    pub live_more: bool,
    /// Public ready videos, best match first.
    pub videos: Vec<VideoHit>,
    /// Whether there are more videos.
    pub videos_more: bool,
}

const CHANNEL_COLUMNS: &str =
    "u.id, COALESCE(u.handle, '') AS handle, u.display_name, u.bio, u.avatar_key, \
    EXISTS (SELECT 1 FROM stream_sources s WHERE s.user_id = u.id AND s.is_active = TRUE) AS live";

macro_rules! channel_from_row {
    ($r:expr, $m:expr) => {
        ChannelHit {
            user_id: $r.try_get("id")?,
            handle: $r.try_get("handle")?,
            display_name: $r.try_get("display_name")?,
            bio: $r.try_get("bio")?,
            avatar_key: $r.try_get("avatar_key")?,
            live: $r.try_get("live")?,
            matched: $m,
        }
    };
}

/// `n` limited to what a query may ask.
fn window(p: ResultPage) -> (i64, i64) {
    (p.limit.clamp(1, 100), p.offset.clamp(0, MAX_OFFSET))
}

impl Db {
    /// Searches channels, live streams and videos as `req` asks.
    pub async fn search(&self, req: &SearchRequest<'_>) -> Result<SearchResults, DbError> {
        let mut out = SearchResults::default();
        if req.terms.is_empty() {
            return Ok(out);
        }
        if let Some(page) = req.channels {
            let (limit, offset) = window(page);
            let hits = self.channel_matches(req.terms, offset + limit + 1).await?;
            out.channels_more = hits.len() as i64 > offset + limit;
            out.channels = hits
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect();
        }
        if !req.terms.words.is_empty() {
            if let Some(page) = req.live {
                let (limit, offset) = window(page);
                let mut rows = self
                    .live_matches(req.terms, limit + 1, offset, req.mature)
                    .await?;
                out.live_more = rows.len() as i64 > limit;
                rows.truncate(limit as usize);
                out.live = rows;
            }
            if let Some(page) = req.videos {
                let (limit, offset) = window(page);
                let mut rows = self.video_matches(req.terms, limit + 1, offset).await?;
                out.videos_more = rows.len() as i64 > limit;
                rows.truncate(limit as usize);
                out.videos = rows;
            }
        }
        Ok(out)
    }

    /// The first `n` channels in order: the handle itself, handles starting with the query
    /// (shorter first), words of handle, name or bio (best first), then handles starting a
    /// typo or two away (fewer edits first).
    async fn channel_matches(
        &self,
        terms: &SearchTerms,
        n: i64,
    ) -> Result<Vec<ChannelHit>, DbError> {
        let mut by_handle: Vec<(usize, ChannelHit)> = Vec::new();
        if let Some(h) = &terms.handle {
            let allowed = allowed_edits(h.len());
            for hit in self.handle_candidates(h).await? {
                let d = prefix_distance(h, &hit.handle);
                if d <= allowed {
                    by_handle.push((d, hit));
                }
            }
            by_handle.sort_by(|(da, a), (db, b)| {
                (da, a.handle != *h, a.handle.len(), &a.handle).cmp(&(
                    db,
                    b.handle != *h,
                    b.handle.len(),
                    &b.handle,
                ))
            });
        }
        let mut out: Vec<ChannelHit> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (d, hit) in &by_handle {
            if *d == 0 && seen.insert(hit.user_id) {
                out.push(ChannelHit {
                    matched: ChannelMatch::Handle,
                    ..hit.clone()
                });
            }
        }
        if !terms.words.is_empty() && (out.len() as i64) < n {
            for hit in self.channel_text_matches(terms, n).await? {
                if seen.insert(hit.user_id) {
                    out.push(hit);
                }
            }
        }
        for (d, hit) in by_handle {
            if d > 0 && seen.insert(hit.user_id) {
                out.push(ChannelHit {
                    matched: ChannelMatch::SimilarHandle,
                    ..hit
                });
            }
        }
        out.truncate(usize::try_from(n).unwrap_or(0));
        Ok(out)
    }

    /// Channels (not suspended) that share letter pairs with `handle` near their handle's start,
    /// the most shared first, at most [`MAX_HANDLE_CANDIDATES`].
    async fn handle_candidates(&self, handle: &str) -> Result<Vec<ChannelHit>, DbError> {
        let grams = handle_grams(handle);
        let allowed = allowed_edits(handle.len());
        // One edit changes at most three pairs (a swap); a candidate shares the rest.
        let min_shared = (grams.len() as i64 - 3 * allowed as i64).max(1);
        let max_pos = handle.chars().count() as i64 + allowed as i64;
        let list = (0..grams.len())
            .map(|i| format!("${}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {CHANNEL_COLUMNS} FROM users u JOIN (SELECT user_id, COUNT(*) AS shared \
             FROM search_handle_grams WHERE pos <= $1 AND gram IN ({list}) GROUP BY user_id \
             HAVING COUNT(*) >= $2 ORDER BY COUNT(*) DESC, user_id LIMIT $3) c ON c.user_id = u.id \
             WHERE u.suspended_at IS NULL AND u.handle IS NOT NULL ORDER BY c.shared DESC, u.id"
        );
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql).bind(max_pos).bind(min_shared).bind(MAX_HANDLE_CANDIDATES);
            for g in &grams {
                q = q.bind(g);
            }
            let rows = q.fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(channel_from_row!(r, ChannelMatch::SimilarHandle));
            }
            Ok(out)
        })
    }

    /// Channels (not suspended) whose handle, name or bio hold every word, best first.
    async fn channel_text_matches(
        &self,
        terms: &SearchTerms,
        n: i64,
    ) -> Result<Vec<ChannelHit>, DbError> {
        let rows = match self {
            Db::Sqlite(p) => {
                let sql = format!(
                    "SELECT {CHANNEL_COLUMNS} FROM search_channels JOIN users u ON u.id = search_channels.rowid \
                     WHERE search_channels MATCH $1 AND u.suspended_at IS NULL AND u.handle IS NOT NULL \
                     ORDER BY bm25(search_channels, 10.0, 5.0, 1.0), u.id LIMIT $2"
                );
                let rows = sqlx::query(&sql)
                    .bind(terms.fts5())
                    .bind(n)
                    .fetch_all(p)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push(channel_from_row!(r, ChannelMatch::Text));
                }
                out
            }
            Db::Postgres(p) => {
                let sql = format!(
                    "SELECT {CHANNEL_COLUMNS} FROM users u, to_tsquery('simple', $1) q \
                     WHERE u.search_doc @@ q AND u.suspended_at IS NULL AND u.handle IS NOT NULL \
                     ORDER BY ts_rank(u.search_doc, q) DESC, u.id LIMIT $2"
                );
                let rows = sqlx::query(&sql)
                    .bind(terms.tsquery())
                    .bind(n)
                    .fetch_all(p)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push(channel_from_row!(r, ChannelMatch::Text));
                }
                out
            }
        };
        Ok(rows)
    }

    /// Streams live now (marked live with an open publishing session, owner not suspended)
    /// whose title, tags or category hold every word, best first.
    async fn live_matches(
        &self,
        terms: &SearchTerms,
        limit: i64,
        offset: i64,
        mature: bool,
    ) -> Result<Vec<LiveListing>, DbError> {
        let columns = crate::sources::COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let select = format!(
            "SELECT {columns}, u.display_name AS owner_name, u.handle AS owner_handle, \
             u.avatar_key AS owner_avatar_key, \
             (SELECT MAX(ss.started_at) FROM stream_sessions ss WHERE ss.source_id = s.id AND ss.ended_at IS NULL) AS live_since"
        );
        let live = "s.is_active = TRUE AND u.suspended_at IS NULL AND ($2 OR s.mature = FALSE) \
             AND EXISTS (SELECT 1 FROM stream_sessions ss WHERE ss.source_id = s.id AND ss.ended_at IS NULL)";
        macro_rules! listings {
            ($rows:expr) => {{
                let mut out = Vec::with_capacity($rows.len());
                for r in $rows {
                    out.push(LiveListing {
                        source: crate::sources::source_from_row!(r),
                        owner_name: r.try_get("owner_name")?,
                        owner_handle: r
                            .try_get::<Option<String>, _>("owner_handle")?
                            .unwrap_or_default(),
                        owner_avatar_key: r.try_get("owner_avatar_key")?,
                        live_since: r
                            .try_get::<Option<i64>, _>("live_since")?
                            .unwrap_or_default(),
                    });
                }
                out
            }};
        }
        let rows = match self {
            Db::Sqlite(p) => {
                let sql = format!(
                    "{select} FROM search_streams JOIN stream_sources s ON s.id = search_streams.rowid \
                     JOIN users u ON u.id = s.user_id WHERE search_streams MATCH $1 AND {live} \
                     ORDER BY bm25(search_streams, 10.0, 5.0, 5.0), s.id LIMIT $3 OFFSET $4"
                );
                let rows = sqlx::query(&sql)
                    .bind(terms.fts5())
                    .bind(mature)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(p)
                    .await?;
                listings!(rows)
            }
            Db::Postgres(p) => {
                let sql = format!(
                    "{select} FROM stream_sources s JOIN users u ON u.id = s.user_id, to_tsquery('simple', $1) q \
                     WHERE s.search_doc @@ q AND {live} ORDER BY ts_rank(s.search_doc, q) DESC, s.id LIMIT $3 OFFSET $4"
                );
                let rows = sqlx::query(&sql)
                    .bind(terms.tsquery())
                    .bind(mature)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(p)
                    .await?;
                listings!(rows)
            }
        };
        Ok(rows)
    }

    /// Public ready videos (owner not suspended) whose title, tags or description hold every
    /// word, best first.
    async fn video_matches(
        &self,
        terms: &SearchTerms,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<VideoHit>, DbError> {
        let columns = crate::videos::COLUMNS
            .split(", ")
            .map(|c| format!("v.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let select = format!(
            "SELECT {columns}, u.display_name AS owner_name, COALESCE(u.handle, '') AS owner_handle, \
             u.avatar_key AS owner_avatar_key"
        );
        let public = "v.visibility = 'public' AND v.status = 'ready' AND v.disabled_at IS NULL AND u.suspended_at IS NULL";
        macro_rules! hits {
            ($rows:expr) => {{
                let mut out = Vec::with_capacity($rows.len());
                for r in $rows {
                    out.push(VideoHit {
                        video: crate::videos::video_from_row!(r),
                        owner_name: r.try_get("owner_name")?,
                        owner_handle: r.try_get("owner_handle")?,
                        owner_avatar_key: r.try_get("owner_avatar_key")?,
                    });
                }
                out
            }};
        }
        let rows = match self {
            Db::Sqlite(p) => {
                let sql = format!(
                    "{select} FROM search_videos JOIN videos v ON v.id = search_videos.rowid \
                     JOIN users u ON u.id = v.user_id WHERE search_videos MATCH $1 AND {public} \
                     ORDER BY bm25(search_videos, 10.0, 5.0, 1.0), v.id DESC LIMIT $2 OFFSET $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(terms.fts5())
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(p)
                    .await?;
                hits!(rows)
            }
            Db::Postgres(p) => {
                let sql = format!(
                    "{select} FROM videos v JOIN users u ON u.id = v.user_id, to_tsquery('simple', $1) q \
                     WHERE v.search_doc @@ q AND {public} ORDER BY ts_rank(v.search_doc, q) DESC, v.id DESC \
                     LIMIT $2 OFFSET $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(terms.tsquery())
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(p)
                    .await?;
                hits!(rows)
            }
        };
        Ok(rows)
    }
}

/// Where a page of the shorts feed ends: the last short's creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortsCursor {
    /// Creation (ms).
    pub created_at: i64,
    /// Id.
    pub id: i64,
}

/// Longest video the shorts feed holds (ms; the SQL and migration 0019's index say it too).
pub const MAX_SHORT_MS: i64 = 60_000;

impl Db {
    /// The shorts feed: public, ready videos taller than wide and at most a minute long (owner
    /// not suspended), newest first, after `before`; at most `limit` (1 to 50).
    pub async fn shorts_feed(
        &self,
        before: Option<ShortsCursor>,
        limit: i64,
    ) -> Result<Vec<VideoHit>, DbError> {
        let columns = crate::videos::COLUMNS
            .split(", ")
            .map(|c| format!("v.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, u.display_name AS owner_name, COALESCE(u.handle, '') AS owner_handle, \
             u.avatar_key AS owner_avatar_key FROM videos v JOIN users u ON u.id = v.user_id \
             WHERE v.visibility = 'public' AND v.status = 'ready' AND v.disabled_at IS NULL AND u.suspended_at IS NULL \
             AND v.height > v.width AND v.duration_ms <= 60000 \
             AND (v.created_at < $1 OR (v.created_at = $1 AND v.id < $2)) \
             ORDER BY v.created_at DESC, v.id DESC LIMIT $3"
        );
        let (at, id) = before.map_or((i64::MAX, i64::MAX), |c| (c.created_at, c.id));
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(at).bind(id).bind(limit.clamp(1, 50))
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(VideoHit {
                    video: crate::videos::video_from_row!(r),
                    owner_name: r.try_get("owner_name")?,
                    owner_handle: r.try_get("owner_handle")?,
                    owner_avatar_key: r.try_get("owner_avatar_key")?,
                });
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_plain_words() {
        let t = SearchTerms::parse("  \"Retro\" NEAR(speed*  run): -x OR ");
        assert_eq!(t.words, ["retro", "near", "speed", "run", "x", "or"]);
        assert_eq!(t.handle, None);
        assert_eq!(
            t.fts5(),
            "\"retro\"* \"near\"* \"speed\"* \"run\"* \"x\"* \"or\"*"
        );
        assert_eq!(
            t.tsquery(),
            "retro:* & near:* & speed:* & run:* & x:* & or:*"
        );
        let t = SearchTerms::parse("@Streamer_42");
        assert_eq!(t.handle.as_deref(), Some("streamer_42"));
        assert_eq!(t.words, ["streamer", "42"]);
        assert!(SearchTerms::parse("\"*:()").is_empty());
        let long = "a".repeat(10_000);
        let t = SearchTerms::parse(&long);
        assert_eq!(t.words, ["a".repeat(MAX_WORD_CHARS)]);
        let many = (0..50)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(SearchTerms::parse(&many).words.len(), MAX_WORDS);
    }

    #[test]
    fn handle_prefixes_with_typos() {
        assert_eq!(prefix_distance("stream", "streamer42"), 0);
        assert_eq!(prefix_distance("stremer", "streamer42"), 1);
        assert_eq!(prefix_distance("strmer", "streamer42"), 2);
        assert!(prefix_distance("gamer", "streamer42") > 2);
        assert_eq!(handle_grams("abc"), ["^a", "ab", "bc"]);
        assert_eq!(allowed_edits(2), 0);
    }
}
