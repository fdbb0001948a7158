//! A creator's schedule: upcoming streams with a title, a start, a duration, a category and a
//! reminder (migration 0019).

use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;

/// A scheduled stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledStream {
    /// Integer id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// The creator.
    pub user_id: i64,
    /// Title.
    pub title: String,
    /// Start (ms).
    pub starts_at: i64,
    /// Duration (ms).
    pub duration_ms: i64,
    /// A category's slug.
    pub category: Option<String>,
    /// Minutes before the start a calendar reminds; `None`: no reminder.
    pub reminder_minutes: Option<i64>,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// What a scheduled stream says (already checked).
#[derive(Debug, Clone)]
pub struct ScheduleFields<'a> {
    /// Title.
    pub title: &'a str,
    /// Start (ms).
    pub starts_at: i64,
    /// Duration (ms).
    pub duration_ms: i64,
    /// A category's slug (it must exist).
    pub category: Option<&'a str>,
    /// Minutes before the start a calendar reminds.
    pub reminder_minutes: Option<i64>,
}

const COLUMNS: &str = "id, uuid, user_id, title, starts_at, duration_ms, category, reminder_minutes, created_at, updated_at";

macro_rules! scheduled_from_row {
    ($r:expr) => {
        ScheduledStream {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            user_id: $r.try_get("user_id")?,
            title: $r.try_get("title")?,
            starts_at: $r.try_get("starts_at")?,
            duration_ms: $r.try_get("duration_ms")?,
            category: $r.try_get("category")?,
            reminder_minutes: $r.try_get("reminder_minutes")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
        }
    };
}

impl Db {
    /// Schedules a stream unless the creator already has `max` that have not ended by `now`:
    /// `Ok(Err(current))` then. A category that does not exist is [`DbError::Invalid`].
    pub async fn create_scheduled_stream(
        &self,
        uuid: &str,
        user_id: i64,
        f: &ScheduleFields<'_>,
        now: i64,
        max: i64,
    ) -> Result<Result<ScheduledStream, i64>, DbError> {
        self.check_category(f.category).await?;
        let sql = format!(
            "INSERT INTO scheduled_streams (uuid, user_id, title, starts_at, duration_ms, category, reminder_minutes, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {COLUMNS}"
        );
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // Serialises a creator's concurrent additions (row lock or SQLite's write lock).
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(user_id).execute(&mut *tx).await?;
            let current: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM scheduled_streams WHERE user_id = $1 AND starts_at + duration_ms > $2",
            ).bind(user_id).bind(now).fetch_one(&mut *tx).await?;
            if current >= max {
                tx.rollback().await?;
                return Ok(Err(current));
            }
            let r = sqlx::query(&sql)
                .bind(uuid).bind(user_id).bind(f.title).bind(f.starts_at).bind(f.duration_ms)
                .bind(f.category).bind(f.reminder_minutes).bind(now)
                .fetch_one(&mut *tx).await.map_err(map_unique)?;
            let s = scheduled_from_row!(r);
            tx.commit().await?;
            Ok(Ok(s))
        })
    }

    async fn check_category(&self, slug: Option<&str>) -> Result<(), DbError> {
        if let Some(slug) = slug {
            if !self.category_exists(slug).await? {
                return Err(DbError::Invalid(format!(
                    "category: no category {slug:?}; GET /api/categories lists them"
                )));
            }
        }
        Ok(())
    }

    /// A scheduled stream by its public id.
    pub async fn scheduled_stream_by_uuid(
        &self,
        uuid: &str,
    ) -> Result<Option<ScheduledStream>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM scheduled_streams WHERE uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(scheduled_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A creator's streams that have not ended by `now` (ms), the soonest first, at most `limit`.
    pub async fn upcoming_streams(
        &self,
        user_id: i64,
        now: i64,
        limit: i64,
    ) -> Result<Vec<ScheduledStream>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM scheduled_streams WHERE user_id = $1 AND starts_at + duration_ms > $2 \
             ORDER BY starts_at, id LIMIT $3"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).bind(now).bind(limit.clamp(0, 500)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(scheduled_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Replaces what a scheduled stream says; `false` if there is none.
    pub async fn update_scheduled_stream(
        &self,
        id: i64,
        f: &ScheduleFields<'_>,
        now: i64,
    ) -> Result<bool, DbError> {
        self.check_category(f.category).await?;
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE scheduled_streams SET title = $2, starts_at = $3, duration_ms = $4, category = $5, \
             reminder_minutes = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(id).bind(f.title).bind(f.starts_at).bind(f.duration_ms).bind(f.category)
        .bind(f.reminder_minutes).bind(now)
        .execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Removes a scheduled stream; `false` if there was none.
    pub async fn delete_scheduled_stream(&self, id: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM scheduled_streams WHERE id = $1")
            .bind(id).execute(p).await?.rows_affected());
        Ok(n > 0)
    }
}
