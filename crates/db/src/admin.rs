//! What administrators read: the site's figures, daily series for the charts, each user's
//! current plan, and every source with its owner. Days are UTC days, numbered from the Unix
//! epoch (`ms / DAY_MS`), computed in SQL the same way on both backends.

use crate::sources::SourceRecord;
use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// One UTC day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// The site's figures now (the seed's `stats`).
#[derive(Debug, Clone, PartialEq)]
pub struct SiteFigures {
    /// Registered users.
    pub total_users: i64,
    /// Users who signed in, refreshed a session or streamed since the UTC day began.
    pub active_users_today: i64,
    /// Publishing sessions ever.
    pub total_streams: i64,
    /// Publishing sessions not ended.
    pub active_streams: i64,
    /// Subscriptions ever.
    pub total_subscriptions: i64,
    /// Subscriptions that entitle now.
    pub active_subscriptions: i64,
    /// Milliseconds streamed since the UTC day began (all users).
    pub streamed_ms_today: i64,
}

/// A user's current subscription, as the users list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentPlan {
    /// The user.
    pub user_id: i64,
    /// The subscription's public id.
    pub subscription_uuid: String,
    /// The plan's id.
    pub plan_id: i64,
    /// The plan's name.
    pub plan_name: String,
    /// Its status.
    pub status: String,
    /// Whether it ends with its period.
    pub cancel_at_period_end: bool,
}

/// A source with its owner and counts, for administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSourceRow {
    /// The source.
    pub source: SourceRecord,
    /// The owner's public id.
    pub owner_uuid: String,
    /// The owner's email.
    pub owner_email: String,
    /// The owner's display name.
    pub owner_name: String,
    /// Its destinations.
    pub destinations_count: i64,
    /// Its chat connectors.
    pub chat_connectors_count: i64,
}

/// Daily figures over `[from_day, from_day + days)`, one entry per day (zeros included).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DailySeries {
    /// Users who registered that day.
    pub new_users: Vec<i64>,
    /// Users registered before the first day.
    pub users_before: i64,
    /// Publishing sessions started that day.
    pub streams: Vec<i64>,
    /// Milliseconds streamed within that day (sessions split at midnight UTC).
    pub streamed_ms: Vec<i64>,
    /// Succeeded payments that day, as (day index from `from_day`, currency, minor units).
    pub revenue: Vec<(usize, String, i64)>,
}

/// The milliseconds of the sessions' spans that fall within `[$1, $2)`, in portable SQL
/// (`CASE` where SQLite has `MIN(a, b)` and PostgreSQL `LEAST`).
/// A day without sessions (a `LEFT JOIN`'s empty row) adds nothing.
const OVERLAP_MS: &str = "CAST(COALESCE(SUM(CASE WHEN s.started_at IS NULL THEN 0 ELSE \
     (CASE WHEN COALESCE(s.ended_at, s.last_seen_at) < {hi} THEN COALESCE(s.ended_at, s.last_seen_at) ELSE {hi} END) \
     - (CASE WHEN s.started_at > {lo} THEN s.started_at ELSE {lo} END) END), 0) AS BIGINT)";

fn overlap(lo: &str, hi: &str) -> String {
    OVERLAP_MS.replace("{lo}", lo).replace("{hi}", hi)
}

impl Db {
    /// The site's figures at `now` (ms).
    pub async fn site_figures(&self, now: i64) -> Result<SiteFigures, DbError> {
        let day_start = now - now.rem_euclid(DAY_MS);
        let streamed = format!(
            "SELECT {} AS ms FROM stream_sessions s WHERE s.started_at < $2 AND COALESCE(s.ended_at, s.last_seen_at) > $1",
            overlap("$1", "$2")
        );
        on_pool!(self, p => {
            Ok(SiteFigures {
                total_users: sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users").fetch_one(p).await?,
                active_users_today: sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM (\
                     SELECT user_id FROM auth_sessions WHERE created_at >= $1 \
                     UNION SELECT a.user_id FROM refresh_tokens r JOIN auth_sessions a ON a.id = r.session_id WHERE r.created_at >= $1 \
                     UNION SELECT user_id FROM stream_sessions WHERE COALESCE(ended_at, last_seen_at) >= $1) AS active",
                ).bind(day_start).fetch_one(p).await?,
                total_streams: sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM stream_sessions").fetch_one(p).await?,
                active_streams: sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM stream_sessions WHERE ended_at IS NULL").fetch_one(p).await?,
                total_subscriptions: sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM user_subscriptions").fetch_one(p).await?,
                active_subscriptions: sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM user_subscriptions WHERE status IN ('trialing', 'active', 'past_due')",
                ).fetch_one(p).await?,
                streamed_ms_today: sqlx::query_scalar::<_, i64>(&streamed)
                    .bind(day_start).bind(now).fetch_one(p).await?,
            })
        })
    }

    /// Daily figures for `days` UTC days from day `from_day` (`ms / DAY_MS`); `days` is at most
    /// 366.
    pub async fn daily_series(&self, from_day: i64, days: i64) -> Result<DailySeries, DbError> {
        let days = days.clamp(1, 366);
        let (lo, hi) = (from_day * DAY_MS, (from_day + days) * DAY_MS);
        let len = days as usize;
        let index =
            |d: i64| -> Option<usize> { usize::try_from(d - from_day).ok().filter(|i| *i < len) };
        let hours = format!(
            "WITH RECURSIVE days(d) AS (SELECT CAST($1 AS BIGINT) UNION ALL SELECT d + 1 FROM days WHERE d + 1 < CAST($2 AS BIGINT)) \
             SELECT days.d AS d, {} AS ms FROM days LEFT JOIN stream_sessions s \
             ON s.started_at < (days.d + 1) * {DAY_MS} AND COALESCE(s.ended_at, s.last_seen_at) > days.d * {DAY_MS} \
             GROUP BY days.d ORDER BY days.d",
            overlap(&format!("days.d * {DAY_MS}"), &format!("(days.d + 1) * {DAY_MS}"))
        );
        let mut out = DailySeries {
            new_users: vec![0; len],
            streams: vec![0; len],
            streamed_ms: vec![0; len],
            ..DailySeries::default()
        };
        on_pool!(self, p => {
            let rows = sqlx::query(&format!(
                "SELECT created_at / {DAY_MS} AS d, COUNT(*) AS n FROM users WHERE created_at >= $1 AND created_at < $2 GROUP BY created_at / {DAY_MS}"
            )).bind(lo).bind(hi).fetch_all(p).await?;
            for r in &rows {
                if let Some(i) = index(r.try_get("d")?) {
                    out.new_users[i] = r.try_get("n")?;
                }
            }
            out.users_before = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE created_at < $1")
                .bind(lo).fetch_one(p).await?;
            let rows = sqlx::query(&format!(
                "SELECT started_at / {DAY_MS} AS d, COUNT(*) AS n FROM stream_sessions WHERE started_at >= $1 AND started_at < $2 GROUP BY started_at / {DAY_MS}"
            )).bind(lo).bind(hi).fetch_all(p).await?;
            for r in &rows {
                if let Some(i) = index(r.try_get("d")?) {
                    out.streams[i] = r.try_get("n")?;
                }
            }
            let rows = sqlx::query(&hours).bind(from_day).bind(from_day + days).fetch_all(p).await?;
            for r in &rows {
                if let Some(i) = index(r.try_get("d")?) {
                    out.streamed_ms[i] = r.try_get("ms")?;
                }
            }
            let rows = sqlx::query(&format!(
                "SELECT created_at / {DAY_MS} AS d, currency, CAST(SUM(amount_minor) AS BIGINT) AS total FROM payments \
                 WHERE status = 'succeeded' AND created_at >= $1 AND created_at < $2 \
                 GROUP BY created_at / {DAY_MS}, currency ORDER BY d, currency"
            )).bind(lo).bind(hi).fetch_all(p).await?;
            for r in &rows {
                if let Some(i) = index(r.try_get("d")?) {
                    out.revenue.push((i, r.try_get("currency")?, r.try_get("total")?));
                }
            }
            Ok(out)
        })
    }

    /// The current (entitled, newest) subscription of each of `user_ids` that has one.
    pub async fn current_plans(&self, user_ids: &[i64]) -> Result<Vec<CurrentPlan>, DbError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = user_ids.iter().take(500).copied().collect::<Vec<_>>();
        let marks = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT s.user_id, s.uuid, s.plan_id, pl.name, s.status, s.cancel_at_period_end FROM user_subscriptions s \
             JOIN subscription_plans pl ON pl.id = s.plan_id \
             WHERE s.user_id IN ({marks}) AND s.status IN ('trialing', 'active', 'past_due') ORDER BY s.id DESC"
        );
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql);
            for id in &ids {
                q = q.bind(*id);
            }
            let rows = q.fetch_all(p).await?;
            let mut out: Vec<CurrentPlan> = Vec::new();
            for r in &rows {
                let user_id: i64 = r.try_get("user_id")?;
                if out.iter().any(|c| c.user_id == user_id) {
                    continue;
                }
                out.push(CurrentPlan {
                    user_id,
                    subscription_uuid: r.try_get("uuid")?,
                    plan_id: r.try_get("plan_id")?,
                    plan_name: r.try_get("name")?,
                    status: r.try_get("status")?,
                    cancel_at_period_end: r.try_get("cancel_at_period_end")?,
                });
            }
            Ok(out)
        })
    }

    /// Every source, newest first, with its owner and counts; and how many there are.
    pub async fn admin_sources(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AdminSourceRow>, i64), DbError> {
        let sql = "SELECT s.id, s.uuid, s.user_id, s.name, s.description, s.stream_key_hash, s.stream_key_sealed, \
             s.playback_id, s.is_active, s.record, s.title, s.category, s.tags, s.language, s.mature, \
             s.created_at, s.updated_at, s.access, s.access_tier_id, s.ppv_price_minor, s.ppv_currency, s.slate_secs, s.slate_key, u.uuid AS owner_uuid, u.email, u.display_name, \
             (SELECT COUNT(*) FROM source_destinations d WHERE d.source_id = s.id) AS destinations_count, \
             (SELECT COUNT(*) FROM chat_connectors c WHERE c.source_id = s.id) AS chat_connectors_count \
             FROM stream_sources s JOIN users u ON u.id = s.user_id ORDER BY s.id DESC LIMIT $1 OFFSET $2";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(limit).bind(offset).fetch_all(p).await?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stream_sources").fetch_one(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(AdminSourceRow {
                    source: crate::sources::source_from_row!(r),
                    owner_uuid: r.try_get("owner_uuid")?,
                    owner_email: r.try_get("email")?,
                    owner_name: r.try_get("display_name")?,
                    destinations_count: r.try_get("destinations_count")?,
                    chat_connectors_count: r.try_get("chat_connectors_count")?,
                });
            }
            Ok((out, total))
        })
    }

    /// How many chat connectors a source has.
    pub async fn count_chat_connectors(&self, source_id: i64) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM chat_connectors WHERE source_id = $1",
        ).bind(source_id).fetch_one(p).await?))
    }
}
