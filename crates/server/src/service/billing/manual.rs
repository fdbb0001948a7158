//! An administrator's change to a user's subscription: another plan, or an end. No money
//! moves; the change is decided by the domain's provider-neutral transition and recorded as the
//! administrator's action (`ferrocast_db::billing::manual`).

use super::{Billing, BillingError};
use ferrocast_db::billing::{ManualAction, ManualOutcome};
use ferrocast_domain::billing::Cycle;

impl Billing {
    /// Puts `user_id` on `plan_id` for one `billing_cycle` from now, as `admin_id`'s action.
    pub async fn admin_change_plan(
        &self,
        admin_id: i64,
        user_id: i64,
        plan_id: i64,
        billing_cycle: &str,
    ) -> Result<ManualOutcome, BillingError> {
        let cycle = Cycle::parse(billing_cycle).ok_or_else(|| {
            BillingError::Invalid("billing_cycle: must be `monthly` or `yearly`".into())
        })?;
        let plan = self
            .db
            .plan_by_id(plan_id)
            .await?
            .filter(|p| p.is_active)
            .ok_or(BillingError::NotFound("plan"))?;
        if plan.spec.is_default {
            return Err(BillingError::Invalid(format!(
                "plan_id: {} is the default plan, which needs no subscription; cancel the user's subscription instead",
                plan.spec.name
            )));
        }
        let details = serde_json::json!({
            "plan_id": plan.id,
            "plan": plan.spec.name,
            "billing_cycle": cycle.as_str(),
        })
        .to_string();
        let outcome = self
            .db
            .manual_subscription_change(
                user_id,
                ManualAction::ChangePlan {
                    plan_id: plan.id,
                    cycle,
                },
                admin_id,
                &details,
                self.clock.now_ms(),
            )
            .await?;
        tracing::info!(admin_id, user_id, plan = %plan.spec.name, cycle = cycle.as_str(), "subscription plan changed by an administrator");
        Ok(outcome)
    }

    /// Ends `user_id`'s current subscription now, as `admin_id`'s action.
    pub async fn admin_cancel(
        &self,
        admin_id: i64,
        user_id: i64,
    ) -> Result<ManualOutcome, BillingError> {
        let outcome = self
            .db
            .manual_subscription_change(
                user_id,
                ManualAction::Cancel,
                admin_id,
                "{}",
                self.clock.now_ms(),
            )
            .await?;
        if matches!(outcome, ManualOutcome::Done { .. }) {
            tracing::info!(
                admin_id,
                user_id,
                "subscription canceled by an administrator"
            );
        }
        Ok(outcome)
    }
}
