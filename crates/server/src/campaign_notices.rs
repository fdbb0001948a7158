//! What brands and creators are told about their campaigns (notification kind `campaign`, in
//! the app, by email and by push as their preferences say): milestones due within a day (a
//! job each minute, on whichever node takes them first), deliverables handed in (to the
//! brand's owners and managers), reviews and usage rights proposed (to the creator).

use crate::service::clock::rfc3339;
use crate::service::notify::{Kind, Notice};
use crate::state::AppState;
use ferrocast_db::campaign_work::DeliverableRecord;
use ferrocast_db::campaigns::CampaignRecord;
use std::time::Duration;
use tokio::sync::watch;

/// How often due milestones are looked for.
pub const REMINDER_EVERY: Duration = Duration::from_secs(60);
/// How long before a milestone is due its reminder goes out (ms): a day.
pub const REMIND_AHEAD_MS: i64 = 86_400_000;

/// Tells each of `users` the same thing; failures are logged, not returned (the action they
/// are about has happened).
async fn tell(state: &AppState, users: &[i64], title: &str, body: &str, url: &str, key: &str) {
    for &user_id in users {
        // Dedup keys are unique across all users' notices.
        let key = format!("campaign:{key}:user:{user_id}");
        let n = Notice {
            user_id,
            kind: Kind::Campaign,
            actor_id: None,
            title,
            body,
            url,
            dedup_key: &key,
        };
        if let Err(e) = state.notify.notify(&n, None).await {
            tracing::warn!(user_id, error = %e, "cannot send a campaign notice");
        }
    }
}

/// The brand's owners and managers (those who act on its campaigns).
async fn deciders(state: &AppState, brand_id: i64) -> Vec<i64> {
    match state.db.brand_members(brand_id).await {
        Ok(m) => m
            .into_iter()
            .filter(|m| m.role == "owner" || m.role == "manager")
            .map(|m| m.user_id)
            .collect(),
        Err(e) => {
            tracing::warn!(brand_id, error = %e, "cannot read a brand's members");
            Vec::new()
        }
    }
}

/// A creator handed in a version of `d`: the brand's deciders hear of it.
pub async fn handed_in(state: &AppState, c: &CampaignRecord, d: &DeliverableRecord) {
    let users = deciders(state, c.brand_id).await;
    let title = format!("{} handed in “{}”", d.creator_name, d.title);
    let body = format!(
        "Version {} for “{}” is ready for your review.",
        d.current_version, c.title
    );
    let url = format!("/deliverables/{}", d.uuid);
    let key = format!("deliverable:{}:v{}:in", d.uuid, d.current_version);
    tell(state, &users, &title, &body, &url, &key).await;
}

/// The brand decided on `d` (or proposed usage rights: `decision` `rights_proposed`): its
/// creator hears of it.
pub async fn decided(
    state: &AppState,
    brand: &str,
    d: &DeliverableRecord,
    decision: &str,
    comment: &str,
) {
    let what = match decision {
        "approved" => "approved",
        "revision_requested" => "asked for changes to",
        "rejected" => "rejected",
        _ => "proposes usage rights for",
    };
    let title = format!("{brand} {what} “{}”", d.title);
    let body = match decision {
        "approved" => {
            "Your rate is on its way to your balance, less the platform's fee.".to_string()
        }
        "rights_proposed" => {
            "Read them and consent if you agree: the brand's embed plays only then.".to_string()
        }
        _ => comment.chars().take(300).collect(),
    };
    let url = format!("/deliverables/{}", d.uuid);
    let key = format!(
        "deliverable:{}:v{}:{decision}:{}",
        d.uuid, d.current_version, d.updated_at
    );
    tell(state, &[d.creator_id], &title, &body, &url, &key).await;
}

/// Sends the reminders of milestones due within a day; how many milestones were taken.
pub async fn remind_milestones(state: &AppState) -> usize {
    let now = state.clock.now_ms();
    let due = match state
        .db
        .take_due_milestones(now, REMIND_AHEAD_MS, 100)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for due milestones");
            return 0;
        }
    };
    for m in &due {
        let Ok(Some(c)) = state.db.campaign_by_id(m.campaign_id).await else {
            continue;
        };
        let mut users = deciders(state, c.brand_id).await;
        if let Ok(apps) = state.db.applications_of_campaign(c.id).await {
            users.extend(
                apps.iter()
                    .filter(|a| a.status == "accepted")
                    .map(|a| a.creator_id),
            );
        }
        users.sort_unstable();
        users.dedup();
        let title = format!("Due soon: {}", m.title);
        let body = format!("A milestone of “{}” is due {}.", c.title, rfc3339(m.due_at));
        let url = format!("/campaigns/{}", c.uuid);
        let key = format!("milestone:{}", m.id);
        tell(state, &users, &title, &body, &url, &key).await;
    }
    due.len()
}

/// Runs [`remind_milestones`] each minute until shutdown.
pub fn spawn_milestone_reminders(state: AppState, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            remind_milestones(&state).await;
            tokio::select! {
                _ = tokio::time::sleep(REMINDER_EVERY) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    });
}
