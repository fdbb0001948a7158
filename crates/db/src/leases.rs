//! The single-row leases by which one node runs a background worker for the whole deployment
//! (the Telegram bot, the radio): a table whose row 1 holds the holder and until when.

use crate::{on_pool, Db, DbError};

impl Db {
    /// Takes or renews `table`'s lease for `holder` until `until` (free when unheld or expired
    /// at `now`); whether `holder` holds it.
    pub(crate) async fn take_row_lease(
        &self,
        table: &'static str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, DbError> {
        let sql = format!(
            "UPDATE {table} SET holder = $1, lease_until = $2 \
             WHERE id = 1 AND (holder IS NULL OR holder = $1 OR lease_until < $3)"
        );
        let n = on_pool!(self, p => sqlx::query(&sql)
            .bind(holder).bind(until).bind(now)
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Gives `table`'s lease up, if `holder` holds it, so another node may take it at once.
    pub(crate) async fn release_row_lease(
        &self,
        table: &'static str,
        holder: &str,
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {table} SET holder = NULL, lease_until = NULL WHERE id = 1 AND holder = $1"
        );
        on_pool!(self, p => sqlx::query(&sql).bind(holder).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
