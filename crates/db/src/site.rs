//! Site-wide settings administrators change while the site runs.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

impl Db {
    /// Every stored setting, as (key, value).
    pub async fn site_settings(&self) -> Result<Vec<(String, String)>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query("SELECT key, value FROM site_settings ORDER BY key").fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((r.try_get("key")?, r.try_get("value")?));
            }
            Ok(out)
        })
    }

    /// Stores settings in one transaction.
    pub async fn put_site_settings(
        &self,
        values: &[(&str, String)],
        by: i64,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for (k, v) in values {
                sqlx::query(
                    "INSERT INTO site_settings (key, value, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, \
                     updated_at = excluded.updated_at",
                )
                .bind(*k).bind(v).bind(by).bind(now)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}
