//! Memberships as creators and viewers manage them: a creator's tiers (name, monthly price in
//! minor units, perks, rank), who is a member of whom, and what a viewer is entitled to watch —
//! a video's or a stream's access level (`public`, `members` with a lowest tier, `ppv` with a
//! price) against the viewer's membership and paid purchases. Memberships are created and
//! extended by paid purchases (`crate::purchases`); here they are read and canceled.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A creator's membership tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierRecord {
    /// Integer id.
    pub id: i64,
    /// The creator it belongs to.
    pub creator_id: i64,
    /// Its name ("Supporter").
    pub name: String,
    /// Monthly price, minor units.
    pub price_minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// What members of it get.
    pub perks: Vec<String>,
    /// Its place among the creator's tiers: a higher rank includes the lower ones.
    pub rank: i64,
    /// Whether new members may join it (a retired tier keeps its members).
    pub active: bool,
    /// Creation (ms).
    pub created_at: i64,
}

const TIER_COLUMNS: &str =
    "id, creator_id, name, price_minor, currency, perks, rank, active, created_at";

macro_rules! tier_from_row {
    ($r:expr) => {{
        let perks: String = $r.try_get("perks")?;
        TierRecord {
            id: $r.try_get("id")?,
            creator_id: $r.try_get("creator_id")?,
            name: $r.try_get("name")?,
            price_minor: $r.try_get("price_minor")?,
            currency: $r.try_get("currency")?,
            perks: serde_json::from_str(&perks).unwrap_or_default(),
            rank: $r.try_get("rank")?,
            active: $r.try_get("active")?,
            created_at: $r.try_get("created_at")?,
        }
    }};
}

/// A tier to create or the new values of one.
#[derive(Debug, Clone)]
pub struct TierFields<'a> {
    /// Name.
    pub name: &'a str,
    /// Monthly price, minor units.
    pub price_minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: &'a str,
    /// Perks.
    pub perks: &'a [String],
    /// Rank among the creator's tiers.
    pub rank: i64,
    /// Whether new members may join.
    pub active: bool,
}

/// A membership with its tier and the other party's public names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRow {
    /// Integer id.
    pub id: i64,
    /// The member.
    pub user_id: i64,
    /// The creator.
    pub creator_id: i64,
    /// The tier (`None` once the tier is gone).
    pub tier_id: Option<i64>,
    /// The tier's name, if it still exists.
    pub tier_name: Option<String>,
    /// The tier's rank, if it still exists.
    pub tier_rank: Option<i64>,
    /// The tier's monthly price (minor units), if it still exists.
    pub tier_price_minor: Option<i64>,
    /// The tier's currency, if it still exists.
    pub tier_currency: Option<String>,
    /// `active`, `canceled` (runs to the end of its period) or `ended`.
    pub status: String,
    /// The gateway that bills it.
    pub provider: Option<String>,
    /// When the paid period ends (ms).
    pub period_end: i64,
    /// Joined (ms).
    pub created_at: i64,
    /// The other party's display name (the creator in a member's list, the member in a
    /// creator's).
    pub other_name: String,
    /// The other party's channel handle, if they chose one.
    pub other_handle: Option<String>,
    /// The other party's avatar object key, if any.
    pub other_avatar_key: Option<String>,
}

const MEMBERSHIP_SELECT: &str =
    "SELECT m.id, m.user_id, m.creator_id, m.tier_id, m.status, m.provider, m.period_end, \
    m.created_at, t.name AS tier_name, t.rank AS tier_rank, t.price_minor AS tier_price_minor, \
    t.currency AS tier_currency, u.display_name AS other_name, u.handle AS other_handle, \
    u.avatar_key AS other_avatar_key \
    FROM memberships m LEFT JOIN membership_tiers t ON t.id = m.tier_id";

macro_rules! membership_from_row {
    ($r:expr) => {
        MembershipRow {
            id: $r.try_get("id")?,
            user_id: $r.try_get("user_id")?,
            creator_id: $r.try_get("creator_id")?,
            tier_id: $r.try_get("tier_id")?,
            tier_name: $r.try_get("tier_name")?,
            tier_rank: $r.try_get("tier_rank")?,
            tier_price_minor: $r.try_get("tier_price_minor")?,
            tier_currency: $r.try_get("tier_currency")?,
            status: $r.try_get("status")?,
            provider: $r.try_get("provider")?,
            period_end: $r.try_get("period_end")?,
            created_at: $r.try_get("created_at")?,
            other_name: $r.try_get("other_name")?,
            other_handle: $r.try_get("other_handle")?,
            other_avatar_key: $r.try_get("other_avatar_key")?,
        }
    };
}

/// A viewer's standing with one creator, for access decisions: the membership's status, the
/// end of its period and its tier's rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// `active`, `canceled` or `ended`.
    pub active: bool,
    /// `canceled`: runs to the end of its period without renewing.
    pub canceled: bool,
    /// When the paid period ends (ms).
    pub period_end: i64,
    /// The tier's rank (`None` once the tier is gone: counted as the lowest).
    pub rank: Option<i64>,
}

/// What a removal of a tier did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierRemoval {
    /// No membership referred to it: deleted.
    Deleted,
    /// Members hold it: retired (no one may join it; its members keep it).
    Retired,
    /// No such tier of this creator.
    NotFound,
}

/// The access level columns of a video or a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessColumns<'a> {
    /// `public`, `members` or `ppv`.
    pub access: &'a str,
    /// The lowest tier (`members`).
    pub tier_id: Option<i64>,
    /// The price (`ppv`), minor units.
    pub price_minor: Option<i64>,
    /// The currency (`ppv`).
    pub currency: Option<&'a str>,
}

impl Db {
    /// Creates a tier of `creator`.
    pub async fn create_tier(
        &self,
        creator: i64,
        f: &TierFields<'_>,
        now: i64,
    ) -> Result<TierRecord, DbError> {
        let perks = serde_json::to_string(f.perks).unwrap_or_else(|_| "[]".into());
        let sql = format!(
            "INSERT INTO membership_tiers (creator_id, name, price_minor, currency, perks, rank, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {TIER_COLUMNS}"
        );
        on_pool!(self, p => {
            let r = sqlx::query(&sql)
                .bind(creator).bind(f.name).bind(f.price_minor).bind(f.currency).bind(&perks)
                .bind(f.rank).bind(f.active).bind(now)
                .fetch_one(p).await?;
            Ok(tier_from_row!(r))
        })
    }

    /// Replaces the fields of `creator`'s tier `id`; the tier as stored now, `None` if they
    /// have no such tier.
    pub async fn update_tier(
        &self,
        creator: i64,
        id: i64,
        f: &TierFields<'_>,
    ) -> Result<Option<TierRecord>, DbError> {
        let perks = serde_json::to_string(f.perks).unwrap_or_else(|_| "[]".into());
        let sql = format!(
            "UPDATE membership_tiers SET name = $1, price_minor = $2, currency = $3, perks = $4, rank = $5, active = $6 \
             WHERE id = $7 AND creator_id = $8 RETURNING {TIER_COLUMNS}"
        );
        on_pool!(self, p => {
            match sqlx::query(&sql)
                .bind(f.name).bind(f.price_minor).bind(f.currency).bind(&perks).bind(f.rank)
                .bind(f.active).bind(id).bind(creator)
                .fetch_optional(p).await? {
                Some(r) => Ok(Some(tier_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// Removes `creator`'s tier `id`: deleted if no membership refers to it, retired otherwise.
    pub async fn remove_tier(&self, creator: i64, id: i64) -> Result<TierRemoval, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let mine: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM membership_tiers WHERE id = $1 AND creator_id = $2",
            ).bind(id).bind(creator).fetch_optional(&mut *tx).await?;
            if mine.is_none() {
                return Ok(TierRemoval::NotFound);
            }
            let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE tier_id = $1")
                .bind(id).fetch_one(&mut *tx).await?;
            let bought: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM purchases WHERE tier_id = $1")
                .bind(id).fetch_one(&mut *tx).await?;
            let out = if held > 0 || bought > 0 {
                sqlx::query("UPDATE membership_tiers SET active = FALSE WHERE id = $1")
                    .bind(id).execute(&mut *tx).await?;
                TierRemoval::Retired
            } else {
                sqlx::query("DELETE FROM membership_tiers WHERE id = $1")
                    .bind(id).execute(&mut *tx).await?;
                TierRemoval::Deleted
            };
            tx.commit().await?;
            Ok(out)
        })
    }

    /// `creator`'s tiers by rank (then id); retired ones only with `with_retired`.
    pub async fn tiers_of(
        &self,
        creator: i64,
        with_retired: bool,
    ) -> Result<Vec<TierRecord>, DbError> {
        let filter = if with_retired {
            ""
        } else {
            " AND active = TRUE"
        };
        let sql = format!(
            "SELECT {TIER_COLUMNS} FROM membership_tiers WHERE creator_id = $1{filter} ORDER BY rank, id"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(creator).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(tier_from_row!(r));
            }
            Ok(out)
        })
    }

    /// The tier `id`, whoever's it is.
    pub async fn tier(&self, id: i64) -> Result<Option<TierRecord>, DbError> {
        let sql = format!("SELECT {TIER_COLUMNS} FROM membership_tiers WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(tier_from_row!(r))),
            None => Ok(None),
        })
    }

    /// How many tiers `creator` has, retired ones included.
    pub async fn tier_count(&self, creator: i64) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM membership_tiers WHERE creator_id = $1",
        ).bind(creator).fetch_one(p).await?))
    }

    /// The memberships `user` holds (any status), newest first, with each creator's names.
    pub async fn memberships_of_user(&self, user: i64) -> Result<Vec<MembershipRow>, DbError> {
        let sql = format!(
            "{MEMBERSHIP_SELECT} JOIN users u ON u.id = m.creator_id WHERE m.user_id = $1 ORDER BY m.created_at DESC, m.id DESC"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(membership_from_row!(r));
            }
            Ok(out)
        })
    }

    /// `creator`'s members (memberships whose period ends after `since`, any status), newest
    /// first, at most `limit` from `offset`, with each member's names; and how many there are.
    pub async fn members_of_creator(
        &self,
        creator: i64,
        since: i64,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<MembershipRow>, i64), DbError> {
        let sql = format!(
            "{MEMBERSHIP_SELECT} JOIN users u ON u.id = m.user_id WHERE m.creator_id = $1 AND m.status <> 'ended' \
             AND m.period_end > $2 ORDER BY m.created_at DESC, m.id DESC LIMIT $3 OFFSET $4"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(creator).bind(since).bind(limit).bind(offset).fetch_all(p).await?;
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM memberships WHERE creator_id = $1 AND status <> 'ended' AND period_end > $2",
            ).bind(creator).bind(since).fetch_one(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(membership_from_row!(r));
            }
            Ok((out, total))
        })
    }

    /// `user`'s standing with `creator`, if they ever were a member.
    pub async fn standing(&self, user: i64, creator: i64) -> Result<Option<Standing>, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT m.status, m.period_end, t.rank FROM memberships m \
                 LEFT JOIN membership_tiers t ON t.id = m.tier_id WHERE m.user_id = $1 AND m.creator_id = $2",
            ).bind(user).bind(creator).fetch_optional(p).await?;
            match row {
                Some(r) => {
                    let status: String = r.try_get("status")?;
                    Ok(Some(Standing {
                        active: status == "active",
                        canceled: status == "canceled",
                        period_end: r.try_get("period_end")?,
                        rank: r.try_get("rank")?,
                    }))
                }
                None => Ok(None),
            }
        })
    }

    /// Marks `user`'s active membership of `creator` canceled (it runs to the end of its
    /// period); `true` if it was active.
    pub async fn cancel_membership(
        &self,
        user: i64,
        creator: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        let done = on_pool!(self, p => sqlx::query(
            "UPDATE memberships SET status = 'canceled', updated_at = $3 \
             WHERE user_id = $1 AND creator_id = $2 AND status = 'active'",
        ).bind(user).bind(creator).bind(now).execute(p).await?.rows_affected());
        Ok(done == 1)
    }

    /// The gateway subscription of `user`'s membership of `creator`, if it is billed by one:
    /// (provider, subscription id).
    pub async fn membership_subscription(
        &self,
        user: i64,
        creator: i64,
    ) -> Result<Option<(String, String)>, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT provider, provider_subscription_id FROM memberships WHERE user_id = $1 AND creator_id = $2",
            ).bind(user).bind(creator).fetch_optional(p).await?;
            match row {
                Some(r) => {
                    let provider: Option<String> = r.try_get("provider")?;
                    let sub: Option<String> = r.try_get("provider_subscription_id")?;
                    Ok(provider.zip(sub))
                }
                None => Ok(None),
            }
        })
    }

    /// Whether `user` holds a paid, unrefunded pay-per-view purchase of the video `video_id`.
    pub async fn bought_video(&self, user: i64, video_id: i64) -> Result<bool, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM purchases WHERE buyer_id = $1 AND video_id = $2 AND kind = 'ppv' AND status = 'paid'",
        ).bind(user).bind(video_id).fetch_one(p).await?);
        Ok(n > 0)
    }

    /// Whether `user` holds a paid, unrefunded pay-per-view purchase of the stream (source)
    /// `source_id` (a purchase of one of its recordings names the source too, and does not count).
    pub async fn bought_stream(&self, user: i64, source_id: i64) -> Result<bool, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM purchases WHERE buyer_id = $1 AND source_id = $2 AND video_id IS NULL AND kind = 'ppv' AND status = 'paid'",
        ).bind(user).bind(source_id).fetch_one(p).await?);
        Ok(n > 0)
    }

    /// Sets a video's access level columns.
    pub async fn set_video_access(
        &self,
        video_id: i64,
        a: &AccessColumns<'_>,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "UPDATE videos SET access = $1, access_tier_id = $2, ppv_price_minor = $3, ppv_currency = $4, updated_at = $5 WHERE id = $6",
        ).bind(a.access).bind(a.tier_id).bind(a.price_minor).bind(a.currency).bind(now).bind(video_id)
        .execute(p).await?.rows_affected());
        Ok(())
    }

    /// Sets a source's access level columns.
    pub async fn set_source_access(
        &self,
        source_id: i64,
        a: &AccessColumns<'_>,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "UPDATE stream_sources SET access = $1, access_tier_id = $2, ppv_price_minor = $3, ppv_currency = $4, updated_at = $5 WHERE id = $6",
        ).bind(a.access).bind(a.tier_id).bind(a.price_minor).bind(a.currency).bind(now).bind(source_id)
        .execute(p).await?.rows_affected());
        Ok(())
    }
}
