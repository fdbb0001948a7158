//! Tips and goals (migration 0024): each creator's overlay token, their funding goals and the
//! progress of each from the paid purchases (migration 0023), and the tips a creator received.

use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;

/// A creator's funding goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalRecord {
    /// Integer id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// The creator.
    pub creator_id: i64,
    /// What it is for.
    pub title: String,
    /// The amount to raise (minor units of `currency`).
    pub target_minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// Counting starts here (ms): its creation.
    pub starts_at: i64,
    /// Counting stops here (ms), if it has a deadline.
    pub deadline: Option<i64>,
    /// When the creator ended it (ms).
    pub ended_at: Option<i64>,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl GoalRecord {
    /// Whether it still counts at `now` (ms): not ended by its creator, deadline not passed.
    pub fn is_open(&self, now: i64) -> bool {
        self.ended_at.is_none() && self.deadline.is_none_or(|d| d > now)
    }

    /// The end of its window: the earliest of its deadline and when it was ended.
    pub fn closes_at(&self) -> Option<i64> {
        match (self.deadline, self.ended_at) {
            (Some(d), Some(e)) => Some(d.min(e)),
            (d, e) => d.or(e),
        }
    }
}

/// What a goal says (already checked).
#[derive(Debug, Clone)]
pub struct GoalFields<'a> {
    /// What it is for.
    pub title: &'a str,
    /// The amount to raise (minor units).
    pub target_minor: i64,
    /// ISO 4217 code.
    pub currency: &'a str,
    /// Counting stops here (ms).
    pub deadline: Option<i64>,
}

/// How far a goal has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GoalProgress {
    /// Raised so far (minor units of the goal's currency).
    pub raised_minor: i64,
    /// Paid tips and memberships counted.
    pub contributions: i64,
}

/// A paid tip as a creator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipRecord {
    /// The purchase's integer id (ids grow with time).
    pub id: i64,
    /// The purchase's public id.
    pub uuid: String,
    /// `tip`, `membership` or `ppv`.
    pub kind: String,
    /// Who paid.
    pub buyer_id: Option<i64>,
    /// The creator tipped.
    pub creator_id: i64,
    /// The source whose page it came from, if any.
    pub source_id: Option<i64>,
    /// Amount (minor units).
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The tipper's message, already moderated ("" when none).
    pub message: String,
    /// The name shown ("" when none was given).
    pub display_name: String,
    /// `paid`, `refunded` or `disputed`.
    pub status: String,
    /// When it was paid (ms).
    pub paid_at: Option<i64>,
}

const GOAL_COLUMNS: &str = "id, uuid, creator_id, title, target_minor, currency, starts_at, deadline, ended_at, created_at, updated_at";
const TIP_COLUMNS: &str = "id, uuid, kind, buyer_id, creator_id, source_id, amount_minor, currency, message, display_name, status, paid_at";

macro_rules! goal_from_row {
    ($r:expr) => {
        GoalRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            creator_id: $r.try_get("creator_id")?,
            title: $r.try_get("title")?,
            target_minor: $r.try_get("target_minor")?,
            currency: $r.try_get("currency")?,
            starts_at: $r.try_get("starts_at")?,
            deadline: $r.try_get("deadline")?,
            ended_at: $r.try_get("ended_at")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
        }
    };
}

macro_rules! tip_from_row {
    ($r:expr) => {
        TipRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            kind: $r.try_get("kind")?,
            buyer_id: $r.try_get("buyer_id")?,
            creator_id: $r.try_get("creator_id")?,
            source_id: $r.try_get("source_id")?,
            amount_minor: $r.try_get("amount_minor")?,
            currency: $r.try_get("currency")?,
            message: $r
                .try_get::<Option<String>, _>("message")?
                .unwrap_or_default(),
            display_name: $r
                .try_get::<Option<String>, _>("display_name")?
                .unwrap_or_default(),
            status: $r.try_get("status")?,
            paid_at: $r.try_get("paid_at")?,
        }
    };
}

impl Db {
    /// The creator whose overlay token hashes to `hash`.
    pub async fn overlay_token_owner(&self, hash: &str) -> Result<Option<i64>, DbError> {
        on_pool!(self, p => Ok(sqlx::query_scalar("SELECT user_id FROM overlay_tokens WHERE token_hash = $1")
            .bind(hash).fetch_optional(p).await?))
    }

    /// A creator's sealed overlay token, if they have one.
    pub async fn overlay_token_sealed(&self, user_id: i64) -> Result<Option<String>, DbError> {
        on_pool!(self, p => Ok(sqlx::query_scalar("SELECT token_sealed FROM overlay_tokens WHERE user_id = $1")
            .bind(user_id).fetch_optional(p).await?))
    }

    /// Gives a creator an overlay token, replacing any they had (`replace`), or only when they
    /// have none (`!replace`: `Ok(false)` when one was there already).
    pub async fn set_overlay_token(
        &self,
        user_id: i64,
        hash: &str,
        sealed: &str,
        now: i64,
        replace: bool,
    ) -> Result<bool, DbError> {
        let sql = if replace {
            "INSERT INTO overlay_tokens (user_id, token_hash, token_sealed, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET token_hash = excluded.token_hash, \
             token_sealed = excluded.token_sealed, created_at = excluded.created_at"
        } else {
            "INSERT INTO overlay_tokens (user_id, token_hash, token_sealed, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO NOTHING"
        };
        on_pool!(self, p => {
            let done = sqlx::query(sql).bind(user_id).bind(hash).bind(sealed).bind(now)
                .execute(p).await.map_err(map_unique)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Creates a goal unless the creator already has `max` open ones at `now`: `Ok(Err(open))`
    /// then.
    pub async fn create_goal(
        &self,
        uuid: &str,
        creator_id: i64,
        f: &GoalFields<'_>,
        now: i64,
        max: i64,
    ) -> Result<Result<GoalRecord, i64>, DbError> {
        let sql = format!(
            "INSERT INTO goals (uuid, creator_id, title, target_minor, currency, starts_at, deadline, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $6) RETURNING {GOAL_COLUMNS}"
        );
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // Serialises a creator's concurrent additions (row lock or SQLite's write lock).
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(creator_id).execute(&mut *tx).await?;
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM goals WHERE creator_id = $1 AND ended_at IS NULL \
                 AND (deadline IS NULL OR deadline > $2)",
            ).bind(creator_id).bind(now).fetch_one(&mut *tx).await?;
            if open >= max {
                tx.rollback().await?;
                return Ok(Err(open));
            }
            let r = sqlx::query(&sql)
                .bind(uuid).bind(creator_id).bind(f.title).bind(f.target_minor).bind(f.currency)
                .bind(now).bind(f.deadline)
                .fetch_one(&mut *tx).await.map_err(map_unique)?;
            let g = goal_from_row!(r);
            tx.commit().await?;
            Ok(Ok(g))
        })
    }

    /// A goal by its public id.
    pub async fn goal_by_uuid(&self, uuid: &str) -> Result<Option<GoalRecord>, DbError> {
        let sql = format!("SELECT {GOAL_COLUMNS} FROM goals WHERE uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(goal_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Changes a goal's title, target and deadline (its currency stays: what was raised is
    /// counted in it).
    pub async fn update_goal(
        &self,
        id: i64,
        title: &str,
        target_minor: i64,
        deadline: Option<i64>,
        now: i64,
    ) -> Result<Option<GoalRecord>, DbError> {
        let sql = format!(
            "UPDATE goals SET title = $2, target_minor = $3, deadline = $4, updated_at = $5 WHERE id = $1 \
             RETURNING {GOAL_COLUMNS}"
        );
        on_pool!(self, p => match sqlx::query(&sql).bind(id).bind(title).bind(target_minor).bind(deadline).bind(now)
            .fetch_optional(p).await? {
            Some(r) => Ok(Some(goal_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Ends a goal at `now` (it stops counting; it stays listed as ended). `false`: it had
    /// ended already.
    pub async fn end_goal(&self, id: i64, now: i64) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let done = sqlx::query("UPDATE goals SET ended_at = $2, updated_at = $2 WHERE id = $1 AND ended_at IS NULL")
                .bind(id).bind(now).execute(p).await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Deletes a goal.
    pub async fn delete_goal(&self, id: i64) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let done = sqlx::query("DELETE FROM goals WHERE id = $1").bind(id).execute(p).await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// A creator's goals, newest first, at most `limit`; `open_at`: only those still counting
    /// at that time (ms).
    pub async fn goals_of(
        &self,
        creator_id: i64,
        open_at: Option<i64>,
        limit: i64,
    ) -> Result<Vec<GoalRecord>, DbError> {
        let filter = if open_at.is_some() {
            " AND ended_at IS NULL AND (deadline IS NULL OR deadline > $3)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {GOAL_COLUMNS} FROM goals WHERE creator_id = $1{filter} ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql).bind(creator_id).bind(limit.clamp(0, 200));
            if let Some(t) = open_at {
                q = q.bind(t);
            }
            let rows = q.fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(goal_from_row!(r));
            }
            Ok(out)
        })
    }

    /// How far `goal` has come: what the creator's tips and memberships brought in its
    /// currency from its start until it closes — every payment the ledger credited (a
    /// membership's renewals too), gross as the buyer paid it (the gateway's side of the
    /// income), less what refunds and chargebacks of those payments took back.
    pub async fn goal_progress(&self, goal: &GoalRecord) -> Result<GoalProgress, DbError> {
        let until = goal.closes_at().unwrap_or(i64::MAX);
        on_pool!(self, p => {
            let r = sqlx::query(
                "SELECT CAST(COALESCE(SUM(-e.amount_minor), 0) AS BIGINT) AS raised, \
                 COUNT(DISTINCT CASE WHEN t.reverses_id IS NULL AND pu.status = 'paid' THEN t.id END) AS n \
                 FROM ledger_entries e \
                 JOIN ledger_transactions t ON t.id = e.transaction_id \
                 JOIN purchases pu ON pu.id = t.purchase_id \
                 LEFT JOIN ledger_transactions o ON o.id = t.reverses_id \
                 WHERE pu.creator_id = $1 AND pu.kind IN ('tip', 'membership') AND t.currency = $2 \
                 AND e.account LIKE 'gateway:%' \
                 AND COALESCE(o.created_at, t.created_at) >= $3 AND COALESCE(o.created_at, t.created_at) < $4",
            )
            .bind(goal.creator_id).bind(&goal.currency).bind(goal.starts_at).bind(until)
            .fetch_one(p).await?;
            Ok(GoalProgress { raised_minor: r.try_get("raised")?, contributions: r.try_get("n")? })
        })
    }

    /// A purchase (a tip, a membership, a pay-per-view) by its public id, as tips are read.
    pub async fn purchase_summary(&self, uuid: &str) -> Result<Option<TipRecord>, DbError> {
        let sql = format!("SELECT {TIP_COLUMNS} FROM purchases WHERE uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(tip_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A creator's tips paid at or after `since` (ms) with an id above `after_id`, oldest
    /// first, at most `limit` (what an overlay that reconnected missed).
    pub async fn tips_since(
        &self,
        creator_id: i64,
        after_id: i64,
        since: i64,
        limit: i64,
    ) -> Result<Vec<TipRecord>, DbError> {
        let sql = format!(
            "SELECT {TIP_COLUMNS} FROM purchases WHERE creator_id = $1 AND kind = 'tip' AND status = 'paid' \
             AND id > $2 AND paid_at >= $3 ORDER BY id LIMIT $4"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(creator_id).bind(after_id).bind(since).bind(limit.clamp(0, 100))
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(tip_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A creator's most recent tips that were paid (refunded and disputed ones too, marked so),
    /// newest first, at most `limit`.
    pub async fn recent_tips(
        &self,
        creator_id: i64,
        limit: i64,
    ) -> Result<Vec<TipRecord>, DbError> {
        let sql = format!(
            "SELECT {TIP_COLUMNS} FROM purchases WHERE creator_id = $1 AND kind = 'tip' \
             AND status IN ('paid', 'refunded', 'disputed') AND paid_at IS NOT NULL \
             ORDER BY paid_at DESC, id DESC LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(creator_id).bind(limit.clamp(0, 200)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(tip_from_row!(r));
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goal(deadline: Option<i64>, ended_at: Option<i64>) -> GoalRecord {
        GoalRecord {
            id: 1,
            uuid: "g".into(),
            creator_id: 1,
            title: "t".into(),
            target_minor: 100,
            currency: "USD".into(),
            starts_at: 10,
            deadline,
            ended_at,
            created_at: 10,
            updated_at: 10,
        }
    }

    #[test]
    fn a_goal_closes_at_its_deadline_or_when_ended() {
        assert!(goal(None, None).is_open(1_000));
        assert_eq!(goal(None, None).closes_at(), None);
        assert!(!goal(Some(500), None).is_open(500));
        assert!(goal(Some(500), None).is_open(499));
        assert!(!goal(None, Some(300)).is_open(200));
        assert_eq!(goal(Some(500), Some(300)).closes_at(), Some(300));
        assert_eq!(goal(Some(200), Some(300)).closes_at(), Some(200));
    }
}
