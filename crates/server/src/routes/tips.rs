//! Tips and goals over HTTP: what a channel takes tips in (`GET /api/channels/{handle}/tipping`)
//! and its open goals (`GET /api/channels/{handle}/goals`); for the creator, the tips received,
//! the goals (create, change, end, delete), and the overlay addresses for OBS with their token
//! (rotate it, send a test alert). A tip itself is bought through `POST /api/purchases`
//! (kind `tip`), which checks it with [`crate::tips::check_tip`].

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::goals::{self, GoalInput, GoalView};
use crate::routes::sources::Done;
use crate::service::clock::rfc3339;
use crate::state::AppState;
use crate::tips::{self, TipAlert};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::tips::GoalRecord;
use ferrocast_domain::currency::Currency;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The tips one currency takes.
#[derive(Debug, Serialize, ToSchema)]
pub struct TipCurrency {
    /// ISO 4217 code.
    #[schema(example = "USD")]
    pub currency: String,
    /// The smallest tip, in minor units.
    #[schema(example = 100)]
    pub min_minor: i64,
    /// The largest tip, in minor units.
    #[schema(example = 50000)]
    pub max_minor: i64,
    /// Amounts a tip dialog offers at once, in minor units (within the limits).
    pub suggested_minor: Vec<i64>,
}

/// A gateway a tip can be paid through.
#[derive(Debug, Serialize, ToSchema)]
pub struct TipGateway {
    /// `stripe`, `razorpay` or `epayco` (the `gateway` of `POST /api/purchases`).
    pub id: String,
    /// Its name, for a button.
    pub name: String,
    /// The currencies it takes.
    pub currencies: Vec<String>,
}

/// What a channel takes tips in.
#[derive(Debug, Serialize, ToSchema)]
pub struct TipOptions {
    /// The channel's handle.
    pub handle: String,
    /// The creator's display name.
    pub display_name: String,
    /// Whether a tip can be paid on this server now (a gateway is configured).
    pub accepts: bool,
    /// The currency to offer first: the browser's (`Accept-Language`: INR for Indian
    /// languages and `en-IN`), if tips are taken in it.
    pub currency: String,
    /// The currencies with their limits.
    pub currencies: Vec<TipCurrency>,
    /// The gateways tips are paid through.
    pub gateways: Vec<TipGateway>,
    /// Longest message, in characters.
    pub max_message_chars: usize,
    /// Longest name to show, in characters.
    pub max_name_chars: usize,
}

/// A channel's open goals.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoalList {
    /// Newest first.
    pub goals: Vec<GoalView>,
}

/// A tip the creator received.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedTip {
    /// The purchase's id.
    pub id: String,
    /// The name shown.
    pub name: String,
    /// Amount, in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The amount as people read it.
    pub amount: String,
    /// The message ("" when none).
    pub message: String,
    /// `paid`, `refunded` or `disputed`.
    pub status: String,
    /// When it was paid (RFC 3339).
    pub paid_at: String,
}

/// The tips a creator received.
#[derive(Debug, Serialize, ToSchema)]
pub struct TipList {
    /// Newest first, at most 50.
    pub tips: Vec<ReceivedTip>,
}

/// The overlay addresses for OBS's browser source.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverlayView {
    /// The secret in the addresses; anyone with it sees the overlays (rotate it if it leaks).
    pub token: String,
    /// Tip alerts (absolute URL).
    pub alerts_url: String,
    /// The newest open goal's bar (absolute URL; `?goal=<id>` shows another).
    pub goal_url: String,
}

/// Amounts a dialog offers: round amounts within the limits.
fn suggestions(min: i64, max: i64) -> Vec<i64> {
    let mut out: Vec<i64> = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
        .iter()
        .map(|k| k * min)
        .filter(|a| *a <= max)
        .collect();
    // Four at most, spread out: the smallest, then the round ones above.
    if out.len() > 4 {
        out = vec![out[0], out[2], out[3], out[5]];
    }
    out
}

async fn channel(state: &AppState, handle: &str) -> ApiResult<UserRecord> {
    Ok(crate::service::follows::channel(&state.db, handle).await?)
}

/// What a channel takes tips in: currencies with their limits, the gateways, and the currency
/// to offer first (anyone).
#[utoipa::path(get, path = "/api/channels/{handle}/tipping", tag = "tips",
    params(("handle" = String, Path, description = "The channel's handle (any case)"),
        ("Accept-Language" = Option<String>, Header, description = "Decides the currency offered first")),
    responses((status = 200, body = TipOptions), (status = 404, body = ErrorBody, description = "`CHANNEL_NOT_FOUND`")))]
pub async fn tip_options(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<TipOptions>> {
    let user = channel(&state, &handle).await?;
    let p = &state.config.payments;
    let taken = tips::currencies(&state);
    let mut gateways = Vec::new();
    let mut gateway = |id: &str, name: &str, takes: &[&str]| {
        let currencies: Vec<String> = taken
            .iter()
            .filter(|c| takes.contains(&c.as_str()))
            .cloned()
            .collect();
        if !currencies.is_empty() {
            gateways.push(TipGateway {
                id: id.into(),
                name: name.into(),
                currencies,
            });
        }
    };
    let every: Vec<&str> = taken.iter().map(String::as_str).collect();
    if p.stripe.is_some() {
        gateway("stripe", "Stripe", &every);
    }
    if p.razorpay.is_some() {
        gateway("razorpay", "Razorpay", &every);
    }
    if p.epayco.as_ref().is_some_and(|k| k.checkout.is_some()) {
        gateway(
            "epayco",
            "ePayco",
            crate::routes::payments::epayco::CURRENCIES,
        );
    }
    let hint = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let hinted = ferrocast_domain::currency::from_accept_language(hint);
    let currency = if taken.iter().any(|c| c == hinted.code()) {
        hinted.code().to_string()
    } else if taken.iter().any(|c| c == Currency::Usd.code()) {
        Currency::Usd.code().to_string()
    } else {
        taken.first().cloned().unwrap_or_default()
    };
    Ok(Json(TipOptions {
        handle: user.handle.clone(),
        display_name: user.display_name.clone(),
        accepts: !gateways.is_empty(),
        currency,
        currencies: state
            .config
            .tips
            .0
            .iter()
            .map(|l| TipCurrency {
                currency: l.currency.clone(),
                min_minor: l.min_minor,
                max_minor: l.max_minor,
                suggested_minor: suggestions(l.min_minor, l.max_minor),
            })
            .collect(),
        gateways,
        max_message_chars: tips::MAX_MESSAGE_CHARS,
        max_name_chars: tips::MAX_NAME_CHARS,
    }))
}

/// A channel's open goals with their progress (anyone).
#[utoipa::path(get, path = "/api/channels/{handle}/goals", tag = "tips",
    params(("handle" = String, Path, description = "The channel's handle (any case)")),
    responses((status = 200, body = GoalList), (status = 404, body = ErrorBody, description = "`CHANNEL_NOT_FOUND`")))]
pub async fn channel_goals(
    State(state): State<AppState>,
    Path(handle): Path<String>,
) -> ApiResult<Json<GoalList>> {
    let user = channel(&state, &handle).await?;
    Ok(Json(GoalList {
        goals: goals::open_goals(&state, user.id).await?,
    }))
}

/// The tips you received, newest first (refunded and disputed ones marked).
#[utoipa::path(get, path = "/api/me/tips", tag = "tips", security(("bearer" = [])),
    responses((status = 200, body = TipList), (status = 401, body = ErrorBody)))]
pub async fn my_tips(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<TipList>> {
    let tips = state
        .db
        .recent_tips(auth.user.id, 50)
        .await?
        .into_iter()
        .map(|t| {
            let alert = tips::alert_of(&t);
            ReceivedTip {
                id: t.uuid,
                name: alert.name,
                amount_minor: t.amount_minor,
                currency: t.currency,
                amount: alert.amount,
                message: t.message,
                status: t.status,
                paid_at: alert.paid_at,
            }
        })
        .collect();
    Ok(Json(TipList { tips }))
}

fn overlay_view(state: &AppState, token: String) -> OverlayView {
    let base = state.config.public_url.trim_end_matches('/');
    OverlayView {
        alerts_url: format!("{base}/overlay/{token}/alerts"),
        goal_url: format!("{base}/overlay/{token}/goal"),
        token,
    }
}

/// Your overlay addresses for OBS's browser source (the token is made on first use).
#[utoipa::path(get, path = "/api/me/overlay", tag = "tips", security(("bearer" = [])),
    responses((status = 200, body = OverlayView), (status = 401, body = ErrorBody)))]
pub async fn my_overlay(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<OverlayView>> {
    let token = tips::overlay_token(&state, auth.user.id).await?;
    Ok(Json(overlay_view(&state, token)))
}

/// A new overlay token: the old addresses stop working at once, and overlays open with them
/// close (paste the new ones into OBS).
#[utoipa::path(post, path = "/api/me/overlay/rotate", tag = "tips", security(("bearer" = [])),
    responses((status = 200, body = OverlayView), (status = 401, body = ErrorBody)))]
pub async fn rotate_overlay(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<OverlayView>> {
    let token = tips::rotate_overlay_token(&state, auth.user.id).await?;
    Ok(Json(overlay_view(&state, token)))
}

/// A test alert on your open overlays (no money moves, nothing is posted in chat).
#[utoipa::path(post, path = "/api/me/overlay/test", tag = "tips", security(("bearer" = [])),
    responses((status = 200, body = TipAlert), (status = 401, body = ErrorBody)))]
pub async fn test_overlay(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<TipAlert>> {
    Ok(Json(tips::test_alert(&state, &auth.user)))
}

/// Your goals, open and past, newest first (at most 50).
#[utoipa::path(get, path = "/api/me/goals", tag = "tips", security(("bearer" = [])),
    responses((status = 200, body = GoalList), (status = 401, body = ErrorBody)))]
pub async fn my_goals(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<GoalList>> {
    let mut out = Vec::new();
    for g in state.db.goals_of(auth.user.id, None, 50).await? {
        out.push(goals::view(&state, &g).await?);
    }
    Ok(Json(GoalList { goals: out }))
}

/// A funding goal: its progress is what your tips and memberships pay in its currency from now
/// until its deadline (or until you end it). Five open goals at most.
#[utoipa::path(post, path = "/api/me/goals", tag = "tips", security(("bearer" = [])), request_body = GoalInput,
    responses((status = 201, body = GoalView), (status = 409, body = ErrorBody, description = "`TOO_MANY_GOALS`"), (status = 422, body = ErrorBody)))]
pub async fn create_goal(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<GoalInput>,
) -> ApiResult<(StatusCode, Json<GoalView>)> {
    let goal = goals::create(&state, auth.user.id, &req).await?;
    state
        .fanout
        .publish(crate::service::events::RealtimeEvent::GoalProgress {
            creator_id: auth.user.id,
            goal: goal.clone(),
        });
    Ok((StatusCode::CREATED, Json(goal)))
}

/// Changes to a goal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalChange {
    /// What it is for: 1 to 80 characters.
    pub title: Option<String>,
    /// The amount to raise, in minor units.
    pub target_minor: Option<i64>,
    /// When it stops counting (RFC 3339); `""` removes the deadline.
    pub deadline: Option<String>,
    /// `true` ends it now (it stops counting and leaves the channel).
    #[serde(default)]
    pub end: bool,
}

async fn own_goal(state: &AppState, auth: &AuthUser, id: &str) -> ApiResult<GoalRecord> {
    let goal = if id.len() <= 64 {
        state.db.goal_by_uuid(id).await?
    } else {
        None
    };
    goal.filter(|g| g.creator_id == auth.user.id)
        .ok_or_else(|| ApiError::not_found("goal"))
}

/// Change a goal's title, target or deadline, or end it.
#[utoipa::path(patch, path = "/api/me/goals/{id}", tag = "tips", security(("bearer" = [])), request_body = GoalChange,
    params(("id" = String, Path, description = "The goal's id")),
    responses((status = 200, body = GoalView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_goal(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GoalChange>,
) -> ApiResult<Json<GoalView>> {
    let goal = own_goal(&state, &auth, &id).await?;
    let now = state.clock.now_ms();
    if req.end {
        if req.title.is_some() || req.target_minor.is_some() || req.deadline.is_some() {
            return Err(ApiError::validation(
                "end: ending a goal changes nothing else; send the changes separately",
            ));
        }
        state.db.end_goal(goal.id, now).await?;
    } else {
        if !goal.is_open(now) {
            return Err(ApiError::conflict(
                "GOAL_CLOSED",
                "This goal has ended",
                "An ended goal stays as it was; create a new one.",
            ));
        }
        let input = GoalInput {
            title: req.title.unwrap_or_else(|| goal.title.clone()),
            target_minor: req.target_minor.unwrap_or(goal.target_minor),
            currency: Some(goal.currency.clone()),
            deadline: match req.deadline {
                Some(d) => Some(d),
                None => goal.deadline.map(rfc3339),
            },
        };
        let (title, target, deadline) = goals::check(&state, &input, &goal.currency)?;
        state
            .db
            .update_goal(goal.id, &title, target, deadline, now)
            .await?;
    }
    let goal = state
        .db
        .goal_by_uuid(&goal.uuid)
        .await?
        .ok_or_else(|| ApiError::not_found("goal"))?;
    let view = goals::view(&state, &goal).await?;
    state
        .fanout
        .publish(crate::service::events::RealtimeEvent::GoalProgress {
            creator_id: auth.user.id,
            goal: view.clone(),
        });
    Ok(Json(view))
}

/// Delete a goal (what was raised stays with you: only the goal goes).
#[utoipa::path(delete, path = "/api/me/goals/{id}", tag = "tips", security(("bearer" = [])),
    params(("id" = String, Path, description = "The goal's id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
pub async fn delete_goal(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Done>> {
    let goal = own_goal(&state, &auth, &id).await?;
    state.db.delete_goal(goal.id).await?;
    Ok(Json(Done {
        message: "Goal deleted.".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::suggestions;

    #[test]
    fn suggested_amounts_stay_within_the_limits() {
        assert_eq!(suggestions(100, 50_000), vec![100, 500, 1_000, 5_000]);
        assert_eq!(
            suggestions(5_000, 2_500_000),
            vec![5_000, 25_000, 50_000, 250_000]
        );
        assert_eq!(suggestions(100, 300), vec![100, 200]);
    }
}
