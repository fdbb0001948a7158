//! What an administrator does to a user's subscription by hand: put them on a plan, or end the
//! subscription they have. No money moves. Each change is decided by the same provider-neutral
//! [`transition`] as a gateway's events ([`GatewayFact::Granted`], [`GatewayFact::Ended`]),
//! applied in one transaction with the user's billing work serialised, and recorded in
//! `admin_actions` in that transaction.

use super::ENTITLED;
use crate::{on_pool, Db, DbError};
use ferrocast_domain::billing::{
    transition, Cycle, GatewayFact, SubscriptionState, SubscriptionStatus, Transition,
};
use sqlx::Row;

/// What the administrator asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualAction {
    /// Put the user on this plan for one cycle from now (replacing their other subscriptions).
    ChangePlan {
        /// The plan.
        plan_id: i64,
        /// The cycle.
        cycle: Cycle,
    },
    /// End the user's current subscription now.
    Cancel,
}

/// What a manual change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualOutcome {
    /// Applied: the subscription concerned (public id), and the gateway-billed subscriptions
    /// ended by it, as (gateway, gateway id), to cancel at their gateway too.
    Done {
        /// The new or ended subscription.
        subscription: String,
        /// Gateway-billed subscriptions it ended.
        ended_at_gateway: Vec<(String, String)>,
    },
    /// The user has no current subscription to cancel (the default plan).
    NothingToCancel,
}

impl Db {
    /// Applies an administrator's change to `user_id`'s subscription and records it as
    /// `admin_id`'s action, with `details` (JSON) for the record.
    pub async fn manual_subscription_change(
        &self,
        user_id: i64,
        action: ManualAction,
        admin_id: i64,
        details: &str,
        now: i64,
    ) -> Result<ManualOutcome, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            lock_user!(tx, user_id);
            let (outcome, name) = match action {
                ManualAction::ChangePlan { plan_id, cycle } => {
                    let Transition::Apply { to, ends_others } =
                        transition(None, None, &GatewayFact::Granted { cycle }, now, 0)
                    else {
                        return Err(DbError::Query(sqlx::Error::Protocol(
                            "invariant: a grant always applies".into(),
                        )));
                    };
                    let uuid = uuid::Uuid::new_v4().to_string();
                    let id: i64 = sqlx::query(
                        "INSERT INTO user_subscriptions (uuid, user_id, plan_id, status, billing_cycle, current_period_start, \
                         current_period_end, cancel_at_period_end, grace_until, provider, provider_subscription_id, last_event_at, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10, $11, $11) RETURNING id",
                    )
                    .bind(&uuid).bind(user_id).bind(plan_id).bind(to.status.as_str()).bind(to.cycle.as_str())
                    .bind(to.period_start).bind(to.period_end).bind(to.cancel_at_period_end).bind(to.grace_until)
                    .bind(to.last_event_at).bind(now)
                    .fetch_one(&mut *tx).await?
                    .try_get("id")?;
                    let ended = if ends_others {
                        replace_others!(tx, user_id, id, now)
                    } else {
                        Vec::new()
                    };
                    (ManualOutcome::Done { subscription: uuid, ended_at_gateway: ended }, "subscription_plan_changed")
                }
                ManualAction::Cancel => {
                    let found = sqlx::query(&format!(
                        "SELECT id, uuid, provider, provider_subscription_id FROM user_subscriptions \
                         WHERE user_id = $1 AND status IN {ENTITLED} ORDER BY id DESC LIMIT 1"
                    ))
                    .bind(user_id)
                    .fetch_optional(&mut *tx).await?;
                    let Some(r) = found else {
                        tx.rollback().await?;
                        return Ok(ManualOutcome::NothingToCancel);
                    };
                    let id: i64 = r.try_get("id")?;
                    let uuid: String = r.try_get("uuid")?;
                    let provider: Option<String> = r.try_get("provider")?;
                    let gateway_id: Option<String> = r.try_get("provider_subscription_id")?;
                    let current: SubscriptionState = subscription_state!(tx, id);
                    let mut ended = Vec::new();
                    if let Transition::Apply { to, .. } =
                        transition(Some(&current), None, &GatewayFact::Ended, now, 0)
                    {
                        // A subscription Stripe bills is canceled there too (retried until done).
                        let at_gateway = provider.as_deref() == Some("stripe");
                        sqlx::query(
                            "UPDATE user_subscriptions SET status = $1, cancel_at_period_end = $2, grace_until = $3, \
                             cancel_at_gateway = $4, updated_at = $5 WHERE id = $6",
                        )
                        .bind(to.status.as_str()).bind(to.cancel_at_period_end).bind(to.grace_until)
                        .bind(at_gateway).bind(now).bind(id)
                        .execute(&mut *tx).await?;
                        if let (true, Some(p), Some(g)) = (at_gateway, provider, gateway_id) {
                            ended.push((p, g));
                        }
                    }
                    (ManualOutcome::Done { subscription: uuid, ended_at_gateway: ended }, "subscription_canceled")
                }
            };
            sqlx::query(
                "INSERT INTO admin_actions (admin_id, action, target_user_id, details, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(admin_id).bind(name).bind(user_id).bind(details).bind(now)
            .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// Records an administrator's action outside billing (settings changed, a stream stopped).
    pub async fn record_admin_action(
        &self,
        admin_id: i64,
        action: &str,
        target_user_id: Option<i64>,
        details: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO admin_actions (admin_id, action, target_user_id, details, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(admin_id).bind(action).bind(target_user_id).bind(details).bind(now)
        .execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Administrators' actions, newest first: (admin email, action, target email, details,
    /// time).
    pub async fn admin_actions(&self, limit: i64) -> Result<Vec<AdminActionRow>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT a.id, admin.email AS admin_email, a.action, target.email AS target_email, a.details, a.created_at \
                 FROM admin_actions a LEFT JOIN users admin ON admin.id = a.admin_id \
                 LEFT JOIN users target ON target.id = a.target_user_id ORDER BY a.id DESC LIMIT $1",
            )
            .bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(AdminActionRow {
                    id: r.try_get("id")?,
                    admin_email: r.try_get("admin_email")?,
                    action: r.try_get("action")?,
                    target_email: r.try_get("target_email")?,
                    details: r.try_get("details")?,
                    created_at: r.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }
}

/// An administrator's action, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminActionRow {
    /// Id.
    pub id: i64,
    /// Who (if still a user).
    pub admin_email: Option<String>,
    /// What.
    pub action: String,
    /// To whom (if anyone, and still a user).
    pub target_email: Option<String>,
    /// Details, JSON.
    pub details: String,
    /// When (ms).
    pub created_at: i64,
}
