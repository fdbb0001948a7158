//! What the payment gateways' adapters read and change of memberships beside completing and
//! reversing payments (`crate::purchases`): a tier's price to charge, and a membership whose
//! gateway subscription ended.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A membership tier, as a checkout needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierPrice {
    /// Id.
    pub id: i64,
    /// Whose tier.
    pub creator_id: i64,
    /// Its name.
    pub name: String,
    /// Monthly price, minor units.
    pub price_minor: i64,
    /// ISO code.
    pub currency: String,
    /// Whether it can be joined.
    pub active: bool,
}

impl Db {
    /// Tier `id`.
    pub async fn membership_tier(&self, id: i64) -> Result<Option<TierPrice>, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "SELECT id, creator_id, name, price_minor, currency, active FROM membership_tiers WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(p)
            .await?;
            match r {
                Some(r) => Ok(Some(TierPrice {
                    id: r.try_get("id")?,
                    creator_id: r.try_get("creator_id")?,
                    name: r.try_get("name")?,
                    price_minor: r.try_get("price_minor")?,
                    currency: r.try_get("currency")?,
                    active: r.try_get("active")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// The gateway ended the subscription that pays the membership bought by purchase
    /// `purchase_id`: it renews no more and lasts to the end of what was paid (`canceled`). `true`
    /// if it was active.
    pub async fn cancel_membership_of(&self, purchase_id: i64, now: i64) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let changed = sqlx::query(
                "UPDATE memberships SET status = 'canceled', updated_at = $1 WHERE purchase_id = $2 AND status = 'active'",
            )
            .bind(now)
            .bind(purchase_id)
            .execute(p)
            .await?
            .rows_affected();
            Ok(changed > 0)
        })
    }
}
