//! Plans, the caller's subscription and limit checks ("Subscriptions Endpoints" of
//! the Neustream API). Prices are stored in integer minor units; Neustream's
//! decimal fields are derived from them for display, next to the exact `*_minor` ones.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use ferrocast_db::plans::PlanRecord;
use ferrocast_domain::plans::{self, month_bounds};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A plan as offered.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// Integer id.
    pub id: i64,
    /// UUID.
    pub uuid: String,
    /// Name.
    pub name: String,
    /// One line.
    pub description: String,
    /// USD per month (display; exact value in `price_monthly_minor`).
    pub price_monthly: f64,
    /// USD per year.
    pub price_yearly: f64,
    /// INR per month.
    pub price_monthly_inr: f64,
    /// INR per year.
    pub price_yearly_inr: f64,
    /// US cents per month.
    pub price_monthly_minor: i64,
    /// US cents per year.
    pub price_yearly_minor: i64,
    /// Paise per month.
    pub price_monthly_inr_minor: i64,
    /// Paise per year.
    pub price_yearly_inr_minor: i64,
    /// Sources allowed.
    pub max_sources: i64,
    /// Destinations allowed over all sources.
    pub max_destinations: i64,
    /// Streaming hours per month.
    pub max_streaming_hours_monthly: f64,
    /// Streaming minutes per month (exact).
    pub max_streaming_minutes_monthly: i64,
    /// Feature flags.
    pub features: Vec<String>,
    /// The plan of users without a subscription.
    pub is_default: bool,
    /// The adaptive-bitrate renditions its streams get besides the source (`["720p", "480p"]`);
    /// empty: the source only.
    pub transcode_ladder: Vec<String>,
}

fn major(minor: i64) -> f64 {
    minor as f64 / 100.0
}

/// The plan as responses show it.
pub fn plan_view(p: &PlanRecord) -> PlanView {
    let s = &p.spec;
    PlanView {
        id: p.id,
        uuid: p.uuid.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        price_monthly: major(s.price_monthly_cents),
        price_yearly: major(s.price_yearly_cents),
        price_monthly_inr: major(s.price_monthly_inr_paise),
        price_yearly_inr: major(s.price_yearly_inr_paise),
        price_monthly_minor: s.price_monthly_cents,
        price_yearly_minor: s.price_yearly_cents,
        price_monthly_inr_minor: s.price_monthly_inr_paise,
        price_yearly_inr_minor: s.price_yearly_inr_paise,
        max_sources: s.max_sources,
        max_destinations: s.max_destinations,
        max_streaming_hours_monthly: s.max_streaming_minutes_monthly as f64 / 60.0,
        max_streaming_minutes_monthly: s.max_streaming_minutes_monthly,
        features: s.features.clone(),
        is_default: s.is_default,
        transcode_ladder: s
            .transcode_ladder
            .iter()
            .map(|r| r.name().to_string())
            .collect(),
    }
}

/// Plans on offer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanList {
    /// In display order.
    pub plans: Vec<PlanView>,
}

/// The caller's subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// Subscription id; `null` on the default plan, which needs no subscription.
    pub id: Option<i64>,
    /// The plan.
    pub plan: PlanView,
    /// `active`, `trialing`, `past_due` or `canceled`.
    pub status: String,
    /// `monthly` or `yearly`.
    pub billing_cycle: String,
    /// RFC 3339 (the calendar month on the default plan).
    pub current_period_start: String,
    /// RFC 3339.
    pub current_period_end: String,
    /// Ends at the period's end.
    pub cancel_at_period_end: bool,
}

/// What the caller uses of the plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    /// Sources.
    pub sources_used: i64,
    /// Destinations over all sources.
    pub destinations_used: i64,
    /// Hours streamed this month.
    pub streaming_hours_used: f64,
    /// Minutes streamed this month.
    pub streaming_minutes_used: i64,
    /// Seconds streamed this month.
    pub streaming_seconds_used: i64,
}

/// The caller's subscription and usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct MySubscription {
    /// Subscription.
    pub subscription: SubscriptionView,
    /// Usage.
    pub usage: UsageView,
}

/// Check-limits body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckLimits {
    /// `create_source`, `add_destination` or `stream`.
    #[schema(example = "create_source")]
    pub operation: String,
}

/// The limit an operation is checked against.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitView {
    /// The plan's maximum.
    pub max: i64,
    /// In use.
    pub current: i64,
    /// Left.
    pub remaining: i64,
    /// Unit: `sources`, `destinations` or `minutes`.
    pub unit: String,
    /// The seed's names for `create_source`: the plan's maximum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sources: Option<i64>,
    /// Sources in use (`create_source`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_sources: Option<i64>,
    /// Sources left (`create_source`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources_remaining: Option<i64>,
    /// The plan's maximum of destinations (`add_destination`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_destinations: Option<i64>,
    /// Destinations in use (`add_destination`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_destinations: Option<i64>,
    /// Destinations left (`add_destination`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destinations_remaining: Option<i64>,
    /// The plan's streaming minutes a month (`stream`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_streaming_minutes: Option<i64>,
    /// Minutes streamed this month (`stream`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_streaming_minutes: Option<i64>,
    /// Minutes left this month (`stream`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streaming_minutes_remaining: Option<i64>,
}

/// Whether an operation fits the plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitCheck {
    /// Whether it is allowed now.
    pub allowed: bool,
    /// The limit concerned.
    pub limits: LimitView,
    /// Where to upgrade when not allowed.
    pub upgrade_url: Option<String>,
}

/// Plans on offer (no login needed).
#[utoipa::path(get, path = "/api/subscriptions/plans", tag = "subscriptions",
    responses((status = 200, body = PlanList)))]
pub async fn list_plans(State(state): State<AppState>) -> ApiResult<Json<PlanList>> {
    let plans = state.db.list_plans().await?.iter().map(plan_view).collect();
    Ok(Json(PlanList { plans }))
}

/// The caller's plan, subscription and usage. Users without a subscription are on the default
/// plan, counted by calendar month (UTC).
#[utoipa::path(get, path = "/api/subscriptions/my-subscription", tag = "subscriptions", security(("bearer" = [])),
    responses((status = 200, body = MySubscription), (status = 401, body = ErrorBody)))]
pub async fn my_subscription(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<MySubscription>> {
    let now = state.clock.now_ms();
    let (plan, sub) = state.db.user_plan(auth.user.id).await?;
    let (_, allowance) = crate::service::streams::allowance(&state.db, auth.user.id, now).await?;
    let (month_start, month_end, _) = month_bounds(now);
    let subscription = match sub {
        Some(s) => SubscriptionView {
            id: Some(s.id),
            plan: plan_view(&plan),
            status: s.status,
            billing_cycle: s.billing_cycle,
            current_period_start: rfc3339(s.current_period_start),
            current_period_end: rfc3339(s.current_period_end),
            cancel_at_period_end: s.cancel_at_period_end,
        },
        None => SubscriptionView {
            id: None,
            plan: plan_view(&plan),
            status: "active".into(),
            billing_cycle: "monthly".into(),
            current_period_start: rfc3339(month_start),
            current_period_end: rfc3339(month_end),
            cancel_at_period_end: false,
        },
    };
    Ok(Json(MySubscription {
        subscription,
        usage: UsageView {
            sources_used: state.db.count_sources(auth.user.id).await?,
            destinations_used: state.db.count_destinations(auth.user.id).await?,
            streaming_hours_used: crate::routes::sources::hours(allowance.used_ms),
            streaming_minutes_used: allowance.used_ms / 60_000,
            streaming_seconds_used: allowance.used_ms / 1000,
        },
    }))
}

/// Whether an operation fits the caller's plan now.
#[utoipa::path(post, path = "/api/subscriptions/check-limits", tag = "subscriptions", security(("bearer" = [])), request_body = CheckLimits,
    responses((status = 200, body = LimitCheck), (status = 422, body = ErrorBody)))]
pub async fn check_limits(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<CheckLimits>,
) -> ApiResult<Json<LimitCheck>> {
    let (plan, allowance) =
        crate::service::streams::allowance(&state.db, auth.user.id, state.clock.now_ms()).await?;
    let (current, max, unit) = match req.operation.as_str() {
        "create_source" => (
            state.db.count_sources(auth.user.id).await?,
            plan.spec.max_sources,
            "sources",
        ),
        "add_destination" => (
            state.db.count_destinations(auth.user.id).await?,
            plan.spec.max_destinations,
            "destinations",
        ),
        "stream" => (
            allowance.used_ms / 60_000,
            plan.spec.max_streaming_minutes_monthly,
            "minutes",
        ),
        _ => {
            return Err(ApiError::validation(
                "operation: one of create_source, add_destination, stream",
            ))
        }
    };
    let allowed = if unit == "minutes" {
        !allowance.exhausted()
    } else {
        plans::check_one_more(unit, current, max).is_ok()
    };
    let remaining = (max - current).max(0);
    let named = |u: &str| (unit == u).then_some((max, current, remaining));
    let (sources, destinations, minutes) =
        (named("sources"), named("destinations"), named("minutes"));
    Ok(Json(LimitCheck {
        allowed,
        limits: LimitView {
            max,
            current,
            remaining,
            unit: unit.into(),
            max_sources: sources.map(|t| t.0),
            current_sources: sources.map(|t| t.1),
            sources_remaining: sources.map(|t| t.2),
            max_destinations: destinations.map(|t| t.0),
            current_destinations: destinations.map(|t| t.1),
            destinations_remaining: destinations.map(|t| t.2),
            max_streaming_minutes: minutes.map(|t| t.0),
            current_streaming_minutes: minutes.map(|t| t.1),
            streaming_minutes_remaining: minutes.map(|t| t.2),
        },
        upgrade_url: (!allowed).then(|| plans::UPGRADE_URL.to_string()),
    }))
}
