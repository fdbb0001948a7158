//! What a user chose for billing (the currency prices are shown and charged in). Only the
//! choice is stored: where there is none, the caller decides from the request.

use crate::{on_pool, Db, DbError};

impl Db {
    /// The currency the user chose (`USD`, `INR`), or `None` if they have not chosen.
    pub async fn billing_currency(&self, user_id: i64) -> Result<Option<String>, DbError> {
        on_pool!(self, p => {
            Ok(sqlx::query_scalar("SELECT currency FROM billing_preferences WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(p)
                .await?)
        })
    }

    /// Records the user's currency (the caller checks it is one ferrocast sells in).
    pub async fn set_billing_currency(
        &self,
        user_id: i64,
        currency: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO billing_preferences (user_id, currency, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET currency = excluded.currency, updated_at = excluded.updated_at",
            )
            .bind(user_id).bind(currency).bind(now)
            .execute(p).await?;
            Ok(())
        })
    }
}
