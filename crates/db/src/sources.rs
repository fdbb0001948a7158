//! Stream sources: a creator's stream configurations.

use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;

/// A source row (the stream key only sealed and hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Integer id.
    pub id: i64,
    /// Public UUID.
    pub uuid: String,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// SHA-256 of the stream key (what publish authorisation looks up).
    pub stream_key_hash: String,
    /// The stream key, sealed with the server's secret box.
    pub stream_key_sealed: String,
    /// Public playback id.
    pub playback_id: String,
    /// Whether a publisher is live on it.
    pub is_active: bool,
    /// Whether its live sessions are recorded; `None` follows the plan's `record_by_default`.
    pub record: Option<bool>,
    /// What the stream is called; `None`: the source's name.
    pub title: Option<String>,
    /// Its category's slug.
    pub category: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its language (ISO 639-1).
    pub language: Option<String>,
    /// For adults only.
    pub mature: bool,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// Who may watch it: `public`, `members` or `ppv` (see [`crate::memberships`]).
    pub access: String,
    /// The lowest membership tier that may watch it (`members`); `None`: any member.
    pub access_tier_id: Option<i64>,
    /// The one-time price (`ppv`), minor units.
    pub ppv_price_minor: Option<i64>,
    /// The currency of the price (`ppv`).
    pub ppv_currency: Option<String>,
    /// Seconds the stream stays on the fallback slate when its encoder drops; 0: off.
    pub slate_secs: i64,
    /// Storage key of the creator's picture for the slate (a 1280×720 JPEG); `None`: the
    /// default slate.
    pub slate_key: Option<String>,
}

pub(crate) const COLUMNS: &str = "id, uuid, user_id, name, description, stream_key_hash, stream_key_sealed, playback_id, is_active, record, title, category, tags, language, mature, created_at, updated_at, access, access_tier_id, ppv_price_minor, ppv_currency, slate_secs, slate_key";

macro_rules! source_from_row {
    ($r:expr) => {
        SourceRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            user_id: $r.try_get("user_id")?,
            name: $r.try_get("name")?,
            description: $r.try_get("description")?,
            stream_key_hash: $r.try_get("stream_key_hash")?,
            stream_key_sealed: $r.try_get("stream_key_sealed")?,
            playback_id: $r.try_get("playback_id")?,
            is_active: $r.try_get("is_active")?,
            record: $r.try_get("record")?,
            title: $r.try_get("title")?,
            category: $r.try_get("category")?,
            tags: serde_json::from_str(&$r.try_get::<String, _>("tags")?).unwrap_or_default(),
            language: $r.try_get("language")?,
            mature: $r.try_get("mature")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
            access: $r.try_get("access")?,
            access_tier_id: $r.try_get("access_tier_id")?,
            ppv_price_minor: $r.try_get("ppv_price_minor")?,
            ppv_currency: $r.try_get("ppv_currency")?,
            slate_secs: $r.try_get("slate_secs")?,
            slate_key: $r.try_get("slate_key")?,
        }
    };
}
pub(crate) use source_from_row;

/// What a stream's public page shows: the source, its owner's display name, and when its open
/// publishing session began (any node's), if one is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicStream {
    /// The source.
    pub source: SourceRecord,
    /// The owner's display name.
    pub owner_name: String,
    /// The owner's channel handle.
    pub owner_handle: String,
    /// The storage key of the owner's avatar.
    pub owner_avatar_key: Option<String>,
    /// Whether the owner's account is suspended.
    pub owner_suspended: bool,
    /// Start (ms) of the source's open publishing session.
    pub live_since: Option<i64>,
}

/// What a creator says about a stream: its title, category, tags, language, and whether it
/// is for adults (checked by `ferrocast_domain::stream_info` before it gets here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamMetadata {
    /// `None`: the source's name.
    pub title: Option<String>,
    /// What the stream is about (the source's description).
    pub description: Option<String>,
    /// A category's slug.
    pub category: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// ISO 639-1.
    pub language: Option<String>,
    /// For adults only.
    pub mature: bool,
}

impl SourceRecord {
    /// The stream's metadata as stored.
    pub fn metadata(&self) -> StreamMetadata {
        StreamMetadata {
            title: self.title.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            tags: self.tags.clone(),
            language: self.language.clone(),
            mature: self.mature,
        }
    }

    /// What the stream is called: its title, or else the source's name.
    pub fn display_title(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.name)
    }
}

/// A category of streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Stable id in URLs (`just-chatting`).
    pub slug: String,
    /// Name shown.
    pub name: String,
    /// Position in lists (ascending).
    pub sort: i64,
}

/// A stream live now, as "live now" lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveListing {
    /// The source.
    pub source: SourceRecord,
    /// The owner's display name.
    pub owner_name: String,
    /// The owner's handle (empty until handles are backfilled at start).
    pub owner_handle: String,
    /// The owner's uploaded avatar, if any.
    pub owner_avatar_key: Option<String>,
    /// Start (ms) of its open publishing session.
    pub live_since: i64,
}

/// Which live streams to list.
#[derive(Debug, Clone, Default)]
pub struct LiveFilter<'a> {
    /// Only this category.
    pub category: Option<&'a str>,
    /// Only this language.
    pub language: Option<&'a str>,
    /// Include streams for adults.
    pub mature: bool,
    /// Rows read at most.
    pub max: i64,
}

/// A source to insert.
#[derive(Debug, Clone)]
pub struct NewSource<'a> {
    /// Public UUID.
    pub uuid: &'a str,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: &'a str,
    /// Description.
    pub description: Option<&'a str>,
    /// SHA-256 of the stream key.
    pub stream_key_hash: &'a str,
    /// Sealed stream key.
    pub stream_key_sealed: &'a str,
    /// Public playback id.
    pub playback_id: &'a str,
}

impl Db {
    /// Inserts a source unless the owner already has `max`: `Ok(Err(current))` then. The count
    /// and the insert run in one transaction that first writes the owner's row, which serialises
    /// concurrent creations by the same user on both backends (a row lock on PostgreSQL, the
    /// write lock on SQLite), so parallel requests cannot overshoot the plan.
    pub async fn create_source_limited(
        &self,
        s: &NewSource<'_>,
        now: i64,
        max: i64,
    ) -> Result<Result<SourceRecord, i64>, DbError> {
        let created = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(s.user_id).execute(&mut *tx).await?;
            let current: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stream_sources WHERE user_id = $1")
                .bind(s.user_id).fetch_one(&mut *tx).await?;
            if current >= max {
                tx.rollback().await?;
                Err(current)
            } else {
                sqlx::query(
                    "INSERT INTO stream_sources (uuid, user_id, name, description, stream_key_hash, stream_key_sealed, playback_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(s.uuid).bind(s.user_id).bind(s.name).bind(s.description).bind(s.stream_key_hash)
                .bind(s.stream_key_sealed).bind(s.playback_id).bind(now)
                .execute(&mut *tx).await.map_err(map_unique)?;
                tx.commit().await?;
                Ok(())
            }
        });
        match created {
            Err(current) => Ok(Err(current)),
            Ok(()) => {
                let sql = format!("SELECT {COLUMNS} FROM stream_sources WHERE uuid = $1");
                on_pool!(self, p => {
                    let r = sqlx::query(&sql).bind(s.uuid).fetch_one(p).await?;
                    Ok(Ok(source_from_row!(r)))
                })
            }
        }
    }

    /// A user's sources, oldest first.
    pub async fn list_sources(&self, user_id: i64) -> Result<Vec<SourceRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM stream_sources WHERE user_id = $1 ORDER BY id");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(source_from_row!(r));
            }
            Ok(out)
        })
    }

    /// The source whose stream key has this hash.
    pub async fn source_by_key_hash(&self, hash: &str) -> Result<Option<SourceRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM stream_sources WHERE stream_key_hash = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(hash).fetch_optional(p).await? {
            Some(r) => Ok(Some(source_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A source by id.
    pub async fn source_by_id(&self, id: i64) -> Result<Option<SourceRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM stream_sources WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(source_from_row!(r))),
            None => Ok(None),
        })
    }

    /// The source with this playback id.
    pub async fn source_by_playback_id(
        &self,
        playback_id: &str,
    ) -> Result<Option<SourceRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM stream_sources WHERE playback_id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(playback_id).fetch_optional(p).await? {
            Some(r) => Ok(Some(source_from_row!(r))),
            None => Ok(None),
        })
    }

    /// The stream with this playback id as its public page shows it.
    pub async fn public_stream(&self, playback_id: &str) -> Result<Option<PublicStream>, DbError> {
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, u.display_name AS owner_name, u.suspended_at AS owner_suspended_at, \
             COALESCE(u.handle, '') AS owner_handle, u.avatar_key AS owner_avatar_key, \
             (SELECT MAX(ss.started_at) FROM stream_sessions ss WHERE ss.source_id = s.id AND ss.ended_at IS NULL) AS live_since \
             FROM stream_sources s JOIN users u ON u.id = s.user_id WHERE s.playback_id = $1"
        );
        on_pool!(self, p => match sqlx::query(&sql).bind(playback_id).fetch_optional(p).await? {
            Some(r) => Ok(Some(PublicStream {
                source: source_from_row!(r),
                owner_name: r.try_get("owner_name")?,
                owner_handle: r.try_get("owner_handle")?,
                owner_avatar_key: r.try_get("owner_avatar_key")?,
                owner_suspended: r.try_get::<Option<i64>, _>("owner_suspended_at")?.is_some(),
                live_since: r.try_get("live_since")?,
            })),
            None => Ok(None),
        })
    }

    /// How many sources a user has.
    pub async fn count_sources(&self, user_id: i64) -> Result<i64, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM stream_sources WHERE user_id = $1")
            .bind(user_id).fetch_one(p).await?);
        Ok(n)
    }

    /// Renames or re-describes a source.
    pub async fn update_source(
        &self,
        id: i64,
        name: &str,
        description: Option<&str>,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE stream_sources SET name = $2, description = $3, updated_at = $4 WHERE id = $1")
            .bind(id).bind(name).bind(description).bind(now).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Replaces a source's stream metadata; `false` if there is no such source. A category
    /// that does not exist is refused as [`DbError::Invalid`].
    pub async fn set_source_metadata(
        &self,
        id: i64,
        m: &StreamMetadata,
        now: i64,
    ) -> Result<bool, DbError> {
        if let Some(slug) = &m.category {
            if !self.category_exists(slug).await? {
                return Err(DbError::Invalid(format!(
                    "category: no category {slug:?}; GET /api/categories lists them"
                )));
            }
        }
        let tags = serde_json::to_string(&m.tags).unwrap_or_else(|_| "[]".into());
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE stream_sources SET title = $2, category = $3, tags = $4, language = $5, mature = $6, updated_at = $7, description = $8 WHERE id = $1",
        )
        .bind(id).bind(m.title.as_deref()).bind(m.category.as_deref()).bind(&tags).bind(m.language.as_deref()).bind(m.mature).bind(now).bind(m.description.as_deref())
        .execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Every category, in their order.
    pub async fn list_categories(&self) -> Result<Vec<Category>, DbError> {
        let rows: Vec<(String, String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT slug, name, sort FROM categories ORDER BY sort, name",
        ).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .map(|(slug, name, sort)| Category { slug, name, sort })
            .collect())
    }

    /// Whether a category with this slug exists.
    pub async fn category_exists(&self, slug: &str) -> Result<bool, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM categories WHERE slug = $1")
            .bind(slug).fetch_one(p).await?);
        Ok(n > 0)
    }

    /// Streams live now on any node (marked live, with an open publishing session) whose owner
    /// is not suspended, as `filter` narrows them; the most recently started first, at most
    /// `filter.max`.
    pub async fn live_streams(&self, filter: &LiveFilter<'_>) -> Result<Vec<LiveListing>, DbError> {
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, u.display_name AS owner_name, u.handle AS owner_handle, \
             u.avatar_key AS owner_avatar_key, \
             (SELECT MAX(ss.started_at) FROM stream_sessions ss WHERE ss.source_id = s.id AND ss.ended_at IS NULL) AS live_since \
             FROM stream_sources s JOIN users u ON u.id = s.user_id \
             WHERE s.is_active = TRUE AND u.suspended_at IS NULL \
             AND ($1 IS NULL OR s.category = $1) AND ($2 IS NULL OR s.language = $2) \
             AND ($3 OR s.mature = FALSE) \
             AND EXISTS (SELECT 1 FROM stream_sessions ss WHERE ss.source_id = s.id AND ss.ended_at IS NULL) \
             ORDER BY live_since DESC, s.id DESC LIMIT $4"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql)
                .bind(filter.category).bind(filter.language).bind(filter.mature).bind(filter.max.max(0))
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(LiveListing {
                    source: source_from_row!(r),
                    owner_name: r.try_get("owner_name")?,
                    owner_handle: r.try_get::<Option<String>, _>("owner_handle")?.unwrap_or_default(),
                    owner_avatar_key: r.try_get("owner_avatar_key")?,
                    live_since: r.try_get::<Option<i64>, _>("live_since")?.unwrap_or_default(),
                });
            }
            Ok(out)
        })
    }

    /// Replaces a source's stream key (the old one stops working at once).
    pub async fn rotate_source_key(
        &self,
        id: i64,
        hash: &str,
        sealed: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE stream_sources SET stream_key_hash = $2, stream_key_sealed = $3, updated_at = $4 WHERE id = $1")
            .bind(id).bind(hash).bind(sealed).bind(now).execute(p).await.map(|_| ()).map_err(map_unique))?;
        Ok(())
    }

    /// Deletes a source and its destinations.
    pub async fn delete_source(&self, id: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM stream_sources WHERE id = $1")
            .bind(id).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Sets whether a source records its live sessions (`None`: as the owner's plan says).
    pub async fn set_source_record(
        &self,
        id: i64,
        record: Option<bool>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE stream_sources SET record = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(record).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Sets how long a source's stream stays on the fallback slate (seconds; 0: off).
    pub async fn set_source_slate(&self, id: i64, secs: i64, now: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE stream_sources SET slate_secs = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(secs).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Sets or clears a source's slate picture (its storage key); returns the key it replaced.
    /// `Ok(None)` also when the source does not exist (check it first).
    pub async fn set_source_slate_picture(
        &self,
        id: i64,
        key: Option<&str>,
        now: i64,
    ) -> Result<Option<String>, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let old: Option<Option<String>> =
                sqlx::query_scalar("SELECT slate_key FROM stream_sources WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            sqlx::query("UPDATE stream_sources SET slate_key = $2, updated_at = $3 WHERE id = $1")
                .bind(id).bind(key).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(old.flatten())
        })
    }

    /// Marks a source live or not.
    pub async fn set_source_active(&self, id: i64, active: bool, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE stream_sources SET is_active = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(active).bind(now).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Marks offline the sources marked live that have no open stream session with a heartbeat
    /// since `fresh_after` (ms): their node stopped. Sources live on another node keep their
    /// mark, so a node starting or sweeping never clobbers its peers. Returns how many.
    pub async fn reset_orphaned_sources(&self, fresh_after: i64) -> Result<u64, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE stream_sources SET is_active = FALSE WHERE is_active = TRUE AND NOT EXISTS \
             (SELECT 1 FROM stream_sessions s WHERE s.source_id = stream_sources.id \
             AND s.ended_at IS NULL AND s.last_seen_at >= $1)",
        )
        .bind(fresh_after).execute(p).await?.rows_affected());
        Ok(n)
    }
}
