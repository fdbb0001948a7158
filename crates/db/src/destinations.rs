//! Restream destinations of a source.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A destination row (the platform stream key only sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRecord {
    /// Integer id.
    pub id: i64,
    /// Public UUID.
    pub uuid: String,
    /// The source it forwards.
    pub source_id: i64,
    /// The source's owner.
    pub user_id: i64,
    /// `youtube`, `twitch`, `facebook`, `kick` or `custom`.
    pub platform: String,
    /// `rtmp://` or `rtmps://` ingest URL.
    pub rtmp_url: String,
    /// The platform stream key, sealed.
    pub stream_key_sealed: String,
    /// Forwarded when the source is live.
    pub is_active: bool,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

const COLUMNS: &str = "id, uuid, source_id, user_id, platform, rtmp_url, stream_key_sealed, is_active, created_at, updated_at";

macro_rules! destination_from_row {
    ($r:expr) => {
        DestinationRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            source_id: $r.try_get("source_id")?,
            user_id: $r.try_get("user_id")?,
            platform: $r.try_get("platform")?,
            rtmp_url: $r.try_get("rtmp_url")?,
            stream_key_sealed: $r.try_get("stream_key_sealed")?,
            is_active: $r.try_get("is_active")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
        }
    };
}

/// A destination to insert.
#[derive(Debug, Clone)]
pub struct NewDestination<'a> {
    /// Public UUID.
    pub uuid: &'a str,
    /// The source.
    pub source_id: i64,
    /// Its owner.
    pub user_id: i64,
    /// Platform name.
    pub platform: &'a str,
    /// Ingest URL.
    pub rtmp_url: &'a str,
    /// Sealed platform key.
    pub stream_key_sealed: &'a str,
}

impl Db {
    /// Inserts a destination unless the owner already has `max` over all sources:
    /// `Ok(Err(current))` then. Serialised per user like
    /// [`Db::create_source_limited`](crate::Db::create_source_limited).
    pub async fn create_destination_limited(
        &self,
        d: &NewDestination<'_>,
        now: i64,
        max: i64,
    ) -> Result<Result<DestinationRecord, i64>, DbError> {
        let created: Result<i64, i64> = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(d.user_id).execute(&mut *tx).await?;
            let current: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM source_destinations WHERE user_id = $1")
                .bind(d.user_id).fetch_one(&mut *tx).await?;
            if current >= max {
                tx.rollback().await?;
                Err(current)
            } else {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO source_destinations (uuid, source_id, user_id, platform, rtmp_url, stream_key_sealed, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                )
                .bind(d.uuid).bind(d.source_id).bind(d.user_id).bind(d.platform).bind(d.rtmp_url)
                .bind(d.stream_key_sealed).bind(now)
                .fetch_one(&mut *tx).await.map_err(crate::map_unique)?;
                tx.commit().await?;
                Ok(id)
            }
        });
        match created {
            Err(current) => Ok(Err(current)),
            Ok(id) => Ok(Ok(self
                .destination_by_id(id)
                .await?
                .ok_or(DbError::Query(sqlx::Error::RowNotFound))?)),
        }
    }

    /// A destination by id.
    pub async fn destination_by_id(&self, id: i64) -> Result<Option<DestinationRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM source_destinations WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(destination_from_row!(r))),
            None => Ok(None),
        })
    }

    async fn destinations_where(
        &self,
        column: &str,
        value: i64,
    ) -> Result<Vec<DestinationRecord>, DbError> {
        let sql =
            format!("SELECT {COLUMNS} FROM source_destinations WHERE {column} = $1 ORDER BY id");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(value).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(destination_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A source's destinations, oldest first.
    pub async fn list_destinations(
        &self,
        source_id: i64,
    ) -> Result<Vec<DestinationRecord>, DbError> {
        self.destinations_where("source_id", source_id).await
    }

    /// All of a user's destinations, oldest first.
    pub async fn list_user_destinations(
        &self,
        user_id: i64,
    ) -> Result<Vec<DestinationRecord>, DbError> {
        self.destinations_where("user_id", user_id).await
    }

    /// How many destinations a user has over all sources.
    pub async fn count_destinations(&self, user_id: i64) -> Result<i64, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM source_destinations WHERE user_id = $1",
        ).bind(user_id).fetch_one(p).await?);
        Ok(n)
    }

    /// Turns forwarding on or off.
    pub async fn set_destination_active(
        &self,
        id: i64,
        active: bool,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE source_destinations SET is_active = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(active).bind(now).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Deletes a destination.
    pub async fn delete_destination(&self, id: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM source_destinations WHERE id = $1")
            .bind(id).execute(p).await?.rows_affected());
        Ok(n > 0)
    }
}
