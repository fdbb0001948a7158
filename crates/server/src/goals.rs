//! Funding goals: a creator's target in one currency, with an optional deadline; progress is
//! what their tips and memberships paid in that currency since the goal started (refunds and
//! chargebacks take it back, since only paid purchases count). Shown on the channel page and
//! on the overlay `/overlay/<token>/goal`; every paid purchase moves the creator's open goals
//! live ([`RealtimeEvent::GoalProgress`]).

use crate::error::ApiError;
use crate::service::clock::rfc3339;
use crate::service::events::RealtimeEvent;
use crate::state::AppState;
use ferrocast_db::tips::{GoalFields, GoalRecord};
use serde::Deserialize;
use utoipa::ToSchema;

/// Open goals a creator may have at once.
pub const MAX_OPEN_GOALS: i64 = 5;
/// Longest goal title, in characters.
pub const MAX_TITLE_CHARS: usize = 80;
/// The furthest deadline: a year ahead.
pub const MAX_DEADLINE_MS: i64 = 366 * 86_400_000;
/// The largest target, in minor units (ten million in a two-decimal currency).
pub const MAX_TARGET_MINOR: i64 = 1_000_000_000;

pub use crate::service::overlay::GoalView;

/// Whole percent of `target` that `raised` is, 0 to 100.
pub fn percent(raised: i64, target: i64) -> u8 {
    if target <= 0 || raised >= target {
        return 100;
    }
    if raised <= 0 {
        return 0;
    }
    // i128: raised × 100 cannot overflow.
    (i128::from(raised) * 100 / i128::from(target)) as u8
}

/// A goal with its progress now.
pub async fn view(state: &AppState, g: &GoalRecord) -> Result<GoalView, ApiError> {
    let p = state.db.goal_progress(g).await?;
    Ok(GoalView {
        id: g.uuid.clone(),
        title: g.title.clone(),
        target_minor: g.target_minor,
        raised_minor: p.raised_minor,
        currency: g.currency.clone(),
        contributions: p.contributions,
        percent: percent(p.raised_minor, g.target_minor),
        starts_at: rfc3339(g.starts_at),
        deadline: g.deadline.map(rfc3339),
        ended_at: g.ended_at.map(rfc3339),
        open: g.is_open(state.clock.now_ms()),
    })
}

/// A creator's open goals with their progress, newest first.
pub async fn open_goals(state: &AppState, creator_id: i64) -> Result<Vec<GoalView>, ApiError> {
    let now = state.clock.now_ms();
    let mut out = Vec::new();
    for g in state
        .db
        .goals_of(creator_id, Some(now), MAX_OPEN_GOALS)
        .await?
    {
        out.push(view(state, &g).await?);
    }
    Ok(out)
}

/// Tells the creator's overlays and sockets where each of their open goals in `currency`
/// stands (after a purchase was paid or reversed).
pub async fn announce(state: &AppState, creator_id: i64, currency: &str) -> Result<(), ApiError> {
    for goal in open_goals(state, creator_id).await? {
        if goal.currency.eq_ignore_ascii_case(currency) {
            state
                .fanout
                .publish(RealtimeEvent::GoalProgress { creator_id, goal });
        }
    }
    Ok(())
}

/// What a creator asks a goal to be.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalInput {
    /// What it is for: 1 to 80 characters.
    #[schema(example = "New microphone")]
    pub title: String,
    /// The amount to raise, in minor units (cents): at least the smallest tip in its currency.
    #[schema(example = 50000)]
    pub target_minor: i64,
    /// A currency tips are taken in (`USD`, `INR`); fixed once the goal exists.
    #[schema(example = "USD")]
    pub currency: Option<String>,
    /// When it stops counting (RFC 3339), within a year; leave out for none.
    pub deadline: Option<String>,
}

/// `input` checked: its title, target and deadline (ms), for a goal in `currency`.
pub fn check(
    state: &AppState,
    input: &GoalInput,
    currency: &str,
) -> Result<(String, i64, Option<i64>), ApiError> {
    let title = ferrocast_domain::text::displayable(input.title.trim());
    let title = title.trim();
    let n = title.chars().count();
    if n == 0 || n > MAX_TITLE_CHARS {
        return Err(ApiError::validation(format!(
            "title: 1 to {MAX_TITLE_CHARS} characters"
        )));
    }
    let limits = state.config.tips.of(currency).ok_or_else(|| {
        ApiError::validation(format!(
            "currency: goals count tips, which are taken in {}",
            state
                .config
                .tips
                .0
                .iter()
                .map(|l| l.currency.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if input.target_minor < limits.min_minor || input.target_minor > MAX_TARGET_MINOR {
        return Err(ApiError::validation(format!(
            "target_minor: {} to {MAX_TARGET_MINOR} (minor units of {currency})",
            limits.min_minor
        )));
    }
    let now = state.clock.now_ms();
    let deadline = match input.deadline.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => {
            let t = ferrocast_domain::schedule::parse_instant(d).ok_or_else(|| {
                ApiError::validation(
                    "deadline: a date and time in RFC 3339, e.g. 2026-12-31T20:00:00Z",
                )
            })?;
            if t <= now || t > now + MAX_DEADLINE_MS {
                return Err(ApiError::validation(
                    "deadline: in the future, and within a year",
                ));
            }
            Some(t)
        }
    };
    Ok((title.to_string(), input.target_minor, deadline))
}

/// Creates a goal for `creator_id`.
pub async fn create(
    state: &AppState,
    creator_id: i64,
    input: &GoalInput,
) -> Result<GoalView, ApiError> {
    let currency = input
        .currency
        .as_deref()
        .map(|c| c.trim().to_ascii_uppercase())
        .ok_or_else(|| {
            ApiError::validation("currency: USD, INR or another currency tips are taken in")
        })?;
    let (title, target, deadline) = check(state, input, &currency)?;
    let fields = GoalFields {
        title: &title,
        target_minor: target,
        currency: &currency,
        deadline,
    };
    let uuid = uuid::Uuid::new_v4().to_string();
    match state
        .db
        .create_goal(
            &uuid,
            creator_id,
            &fields,
            state.clock.now_ms(),
            MAX_OPEN_GOALS,
        )
        .await?
    {
        Ok(g) => view(state, &g).await,
        Err(open) => Err(ApiError::conflict(
            "TOO_MANY_GOALS",
            format!("You have {open} open goals, the most at once"),
            "End or delete one first.",
        )),
    }
}
