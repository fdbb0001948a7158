//! Plans, subscriptions and streaming usage.

use crate::{on_pool, Db, DbError};
use ferrocast_domain::plans::PlanSpec;
use sqlx::Row;

/// A stored plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRecord {
    /// Integer id.
    pub id: i64,
    /// Public UUID.
    pub uuid: String,
    /// Name, prices, limits, features.
    pub spec: PlanSpec,
    /// Offered to new customers.
    pub is_active: bool,
    /// Position in lists.
    pub sort_order: i64,
}

const PLAN_COLUMNS: &str = "id, uuid, name, description, price_monthly_cents, price_yearly_cents, \
    price_monthly_inr_paise, price_yearly_inr_paise, max_sources, max_destinations, \
    max_streaming_minutes_monthly, features, is_default, is_active, sort_order, max_storage_mb, \
    max_upload_mb, recording_retention_days, record_by_default, transcode_ladder";

macro_rules! plan_from_row {
    ($r:expr) => {{
        let features: String = $r.try_get("features")?;
        let ladder: String = $r.try_get("transcode_ladder")?;
        PlanRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            spec: PlanSpec {
                name: $r.try_get("name")?,
                description: $r.try_get("description")?,
                price_monthly_cents: $r.try_get("price_monthly_cents")?,
                price_yearly_cents: $r.try_get("price_yearly_cents")?,
                price_monthly_inr_paise: $r.try_get("price_monthly_inr_paise")?,
                price_yearly_inr_paise: $r.try_get("price_yearly_inr_paise")?,
                max_sources: $r.try_get("max_sources")?,
                max_destinations: $r.try_get("max_destinations")?,
                max_streaming_minutes_monthly: $r.try_get("max_streaming_minutes_monthly")?,
                features: serde_json::from_str(&features).unwrap_or_default(),
                is_default: $r.try_get("is_default")?,
                max_storage_mb: $r.try_get("max_storage_mb")?,
                max_upload_mb: $r.try_get("max_upload_mb")?,
                recording_retention_days: $r.try_get("recording_retention_days")?,
                record_by_default: $r.try_get("record_by_default")?,
                // Written by `sync_plans` from a parsed ladder; an unknown name is skipped.
                transcode_ladder: ladder
                    .split(',')
                    .filter_map(ferrocast_domain::media::Rung::parse)
                    .collect(),
            },
            is_active: $r.try_get("is_active")?,
            sort_order: $r.try_get("sort_order")?,
        }
    }};
}

/// A ladder as stored: rung names, comma-separated.
fn ladder_text(ladder: &[ferrocast_domain::media::Rung]) -> String {
    ladder
        .iter()
        .map(|r| r.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// A user's subscription row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// Integer id.
    pub id: i64,
    /// Public UUID.
    pub uuid: String,
    /// The subscriber.
    pub user_id: i64,
    /// The plan.
    pub plan_id: i64,
    /// `trialing`, `active`, `past_due` or `canceled`.
    pub status: String,
    /// `monthly` or `yearly`.
    pub billing_cycle: String,
    /// Period start (ms).
    pub current_period_start: i64,
    /// Period end (ms).
    pub current_period_end: i64,
    /// Ends at the period's end.
    pub cancel_at_period_end: bool,
}

/// A live session's heartbeat: its counters at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTouch {
    /// The session (`stream_sessions.id`).
    pub id: i64,
    /// When (Unix ms).
    pub now: i64,
    /// Bytes received so far.
    pub bytes_in: i64,
    /// Frames received so far.
    pub frames_in: i64,
}

/// One publishing session's span, for usage arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSpan {
    /// Start (ms).
    pub started_at: i64,
    /// End (ms): the end if closed, else the last heartbeat.
    pub until: i64,
}

impl Db {
    /// Plans offered now (active), in display order.
    pub async fn list_plans(&self) -> Result<Vec<PlanRecord>, DbError> {
        let sql = format!(
            "SELECT {PLAN_COLUMNS} FROM subscription_plans WHERE is_active = TRUE ORDER BY sort_order, id"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(plan_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A plan by id, active or not.
    pub async fn plan_by_id(&self, id: i64) -> Result<Option<PlanRecord>, DbError> {
        let sql = format!("SELECT {PLAN_COLUMNS} FROM subscription_plans WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(plan_from_row!(r))),
            None => Ok(None),
        })
    }

    /// The plan of users without a subscription.
    pub async fn default_plan(&self) -> Result<PlanRecord, DbError> {
        let sql = format!(
            "SELECT {PLAN_COLUMNS} FROM subscription_plans WHERE is_default = TRUE ORDER BY id LIMIT 1"
        );
        on_pool!(self, p => {
            let r = sqlx::query(&sql).fetch_one(p).await?;
            Ok(plan_from_row!(r))
        })
    }

    /// Makes the stored plans match `specs` (a plans file): updates plans of the same name,
    /// inserts new ones, and retires (deactivates) the rest, which existing subscribers keep.
    /// One transaction.
    pub async fn sync_plans(&self, specs: &[PlanSpec], now: i64) -> Result<(), DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE subscription_plans SET is_active = FALSE, is_default = FALSE, updated_at = $1")
                .bind(now).execute(&mut *tx).await?;
            for (i, s) in specs.iter().enumerate() {
                let features = serde_json::to_string(&s.features).unwrap_or_else(|_| "[]".into());
                let ladder = ladder_text(&s.transcode_ladder);
                let updated = sqlx::query(
                    "UPDATE subscription_plans SET description = $2, price_monthly_cents = $3, price_yearly_cents = $4, \
                     price_monthly_inr_paise = $5, price_yearly_inr_paise = $6, max_sources = $7, max_destinations = $8, \
                     max_streaming_minutes_monthly = $9, features = $10, is_default = $11, is_active = TRUE, \
                     sort_order = $12, updated_at = $13, max_storage_mb = $14, max_upload_mb = $15, \
                     recording_retention_days = $16, record_by_default = $17, transcode_ladder = $18 WHERE name = $1",
                )
                .bind(&s.name).bind(&s.description).bind(s.price_monthly_cents).bind(s.price_yearly_cents)
                .bind(s.price_monthly_inr_paise).bind(s.price_yearly_inr_paise).bind(s.max_sources)
                .bind(s.max_destinations).bind(s.max_streaming_minutes_monthly).bind(&features)
                .bind(s.is_default).bind(i as i64 + 1).bind(now).bind(s.max_storage_mb)
                .bind(s.max_upload_mb).bind(s.recording_retention_days).bind(s.record_by_default)
                .bind(&ladder).execute(&mut *tx).await?.rows_affected();
                if updated == 0 {
                    sqlx::query(
                        "INSERT INTO subscription_plans (uuid, name, description, price_monthly_cents, price_yearly_cents, \
                         price_monthly_inr_paise, price_yearly_inr_paise, max_sources, max_destinations, \
                         max_streaming_minutes_monthly, features, is_default, is_active, sort_order, created_at, updated_at, \
                         max_storage_mb, max_upload_mb, recording_retention_days, record_by_default, transcode_ladder) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, TRUE, $13, $14, $14, $15, $16, $17, $18, $19)",
                    )
                    .bind(uuid::Uuid::new_v4().to_string()).bind(&s.name).bind(&s.description)
                    .bind(s.price_monthly_cents).bind(s.price_yearly_cents).bind(s.price_monthly_inr_paise)
                    .bind(s.price_yearly_inr_paise).bind(s.max_sources).bind(s.max_destinations)
                    .bind(s.max_streaming_minutes_monthly).bind(&features).bind(s.is_default)
                    .bind(i as i64 + 1).bind(now).bind(s.max_storage_mb).bind(s.max_upload_mb)
                    .bind(s.recording_retention_days).bind(s.record_by_default).bind(&ladder)
                    .execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The user's current subscription (trialing, active or past_due — still entitled), newest
    /// first; `None` means the default plan.
    pub async fn current_subscription(
        &self,
        user_id: i64,
    ) -> Result<Option<SubscriptionRecord>, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "SELECT id, uuid, user_id, plan_id, status, billing_cycle, current_period_start, current_period_end, \
                 cancel_at_period_end FROM user_subscriptions \
                 WHERE user_id = $1 AND status IN ('trialing', 'active', 'past_due') ORDER BY id DESC LIMIT 1",
            )
            .bind(user_id).fetch_optional(p).await?;
            match r {
                Some(r) => Ok(Some(SubscriptionRecord {
                    id: r.try_get("id")?,
                    uuid: r.try_get("uuid")?,
                    user_id: r.try_get("user_id")?,
                    plan_id: r.try_get("plan_id")?,
                    status: r.try_get("status")?,
                    billing_cycle: r.try_get("billing_cycle")?,
                    current_period_start: r.try_get("current_period_start")?,
                    current_period_end: r.try_get("current_period_end")?,
                    cancel_at_period_end: r.try_get("cancel_at_period_end")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// The plan that governs a user now and their subscription row, if any.
    pub async fn user_plan(
        &self,
        user_id: i64,
    ) -> Result<(PlanRecord, Option<SubscriptionRecord>), DbError> {
        if let Some(sub) = self.current_subscription(user_id).await? {
            if let Some(plan) = self.plan_by_id(sub.plan_id).await? {
                return Ok((plan, Some(sub)));
            }
        }
        Ok((self.default_plan().await?, None))
    }

    /// Records that a publishing session started; returns its id.
    pub async fn open_stream_session(
        &self,
        uuid: &str,
        user_id: i64,
        source_id: i64,
        now: i64,
    ) -> Result<i64, DbError> {
        let id: i64 = on_pool!(self, p => sqlx::query_scalar(
            "INSERT INTO stream_sessions (uuid, user_id, source_id, started_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(uuid).bind(user_id).bind(source_id).bind(now)
        .fetch_one(p).await?);
        Ok(id)
    }

    /// Advances a live session's heartbeat and counters; `false` if the session is already
    /// closed (as stale, after this node stalled).
    pub async fn touch_stream_session(
        &self,
        id: i64,
        now: i64,
        bytes_in: i64,
        frames_in: i64,
    ) -> Result<bool, DbError> {
        let touch = SessionTouch {
            id,
            now,
            bytes_in,
            frames_in,
        };
        Ok(self.touch_stream_sessions(&[touch]).await?.first() == Some(&true))
    }

    /// Advances several live sessions' heartbeats and counters in one transaction (one commit:
    /// SQLite syncs its log once for all of them); for each, in order, `false` if it is already
    /// closed.
    pub async fn touch_stream_sessions(
        &self,
        touches: &[SessionTouch],
    ) -> Result<Vec<bool>, DbError> {
        // Rows are updated in id order, so that two rounds (two nodes' writers after a stall)
        // take their row locks in the same order and cannot wait for each other.
        let mut order: Vec<usize> = (0..touches.len()).collect();
        order.sort_by_key(|&i| touches[i].id);
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let mut live = vec![false; touches.len()];
            for i in order {
                let t = &touches[i];
                let n = sqlx::query(
                    "UPDATE stream_sessions SET last_seen_at = $2, bytes_in = $3, frames_in = $4 WHERE id = $1 AND ended_at IS NULL",
                )
                .bind(t.id).bind(t.now).bind(t.bytes_in).bind(t.frames_in)
                .execute(&mut *tx).await?.rows_affected();
                live[i] = n > 0;
            }
            tx.commit().await?;
            Ok(live)
        })
    }

    /// Closes a session.
    pub async fn close_stream_session(
        &self,
        id: i64,
        now: i64,
        reason: &str,
        bytes_in: i64,
        frames_in: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "UPDATE stream_sessions SET ended_at = $2, last_seen_at = $2, end_reason = $3, bytes_in = $4, frames_in = $5 \
             WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id).bind(now).bind(reason).bind(bytes_in).bind(frames_in)
        .execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes sessions whose heartbeat stopped before `stale_before` (their node crashed) at
    /// their last heartbeat. Returns how many.
    pub async fn close_stale_stream_sessions(&self, stale_before: i64) -> Result<u64, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE stream_sessions SET ended_at = last_seen_at, end_reason = 'server stopped unexpectedly' \
             WHERE ended_at IS NULL AND last_seen_at < $1",
        )
        .bind(stale_before).execute(p).await?.rows_affected());
        Ok(n)
    }

    /// The spans of a user's sessions that overlap `[from, to)`.
    pub async fn stream_spans(
        &self,
        user_id: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<SessionSpan>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT started_at, COALESCE(ended_at, last_seen_at) AS until FROM stream_sessions \
                 WHERE user_id = $1 AND started_at < $3 AND COALESCE(ended_at, last_seen_at) > $2",
            )
            .bind(user_id).bind(from).bind(to).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(SessionSpan { started_at: r.try_get("started_at")?, until: r.try_get("until")? });
            }
            Ok(out)
        })
    }

    /// Milliseconds a user streamed within `[from, to)`.
    pub async fn streamed_ms(&self, user_id: i64, from: i64, to: i64) -> Result<i64, DbError> {
        let spans = self.stream_spans(user_id, from, to).await?;
        Ok(spans
            .iter()
            .map(|s| ferrocast_domain::plans::overlap_ms(s.started_at, s.until, from, to))
            .sum())
    }
}
