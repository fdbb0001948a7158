//! Administration: users, every subscription, the figures of `GET /api/admin/stats` (users,
//! paying subscriptions, revenue per currency), and the site's settings (maintenance mode,
//! registration), which `GET /api/site` shows to everyone.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::service::clock::rfc3339;
use crate::service::site::SiteSettings;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use ferrocast_db::admin::DAY_MS;
use ferrocast_db::billing::ManualOutcome;
use ferrocast_domain::plans::format_money;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Records an administrator's action in the audit log (`admin.<action>`) and in the
/// administrators' actions list; a record that cannot be written is logged (the action is done,
/// and it is the operator's to see).
pub async fn record_action(
    state: &AppState,
    admin: i64,
    action: &str,
    target: Option<i64>,
    details: serde_json::Value,
) {
    state
        .audit
        .admin_action(admin, action, target, details.clone())
        .await;
    if let Err(e) = state
        .db
        .record_admin_action(
            admin,
            action,
            target,
            &details.to_string(),
            state.clock.now_ms(),
        )
        .await
    {
        tracing::error!(error = %e, action, "cannot record an administrator's action");
    }
}

/// A page.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// From 1; default 1.
    pub page: Option<i64>,
    /// 1 to 100; default 20.
    pub per_page: Option<i64>,
}

/// A subscription as administrators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSubscription {
    /// Public id.
    pub id: String,
    /// The subscriber.
    pub email: String,
    /// The plan.
    pub plan: String,
    /// `trialing`, `active`, `past_due` or `canceled`.
    pub status: String,
    /// `monthly` or `yearly`.
    pub billing_cycle: String,
    /// The gateway, if paid through one.
    pub provider: Option<String>,
    /// End of the current period.
    pub current_period_end: String,
    /// Whether it ends with the period.
    pub cancel_at_period_end: bool,
}

/// A page of subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionPage {
    /// Newest first.
    pub subscriptions: Vec<AdminSubscription>,
    /// All of them.
    pub total: i64,
    /// This page.
    pub page: i64,
    /// Per page.
    pub per_page: i64,
}

/// Every subscription, newest first (administrators).
#[utoipa::path(get, path = "/api/admin/subscriptions", tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = SubscriptionPage), (status = 403, body = ErrorBody)))]
pub async fn subscriptions(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<SubscriptionPage>> {
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(20);
    if page < 1 || !(1..=100).contains(&per_page) {
        return Err(ApiError::validation("page: from 1; per_page: 1 to 100"));
    }
    let (rows, total) = state
        .db
        .list_subscriptions(per_page, (page - 1).saturating_mul(per_page))
        .await?;
    let subscriptions = rows
        .into_iter()
        .map(|r| AdminSubscription {
            id: r.uuid,
            email: r.email,
            plan: r.plan,
            status: r.status,
            billing_cycle: r.billing_cycle,
            provider: r.provider,
            current_period_end: rfc3339(r.current_period_end),
            cancel_at_period_end: r.cancel_at_period_end,
        })
        .collect();
    Ok(Json(SubscriptionPage {
        subscriptions,
        total,
        page,
        per_page,
    }))
}

/// Money received in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revenue {
    /// ISO code.
    pub currency: String,
    /// Minor units.
    pub amount_minor: i64,
    /// As money (`9.99`).
    pub amount: String,
    /// How many payments.
    pub payments: i64,
}

/// Revenue over two spans.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueStats {
    /// The last 30 days.
    pub last_30_days: Vec<Revenue>,
    /// Since the start.
    pub all_time: Vec<Revenue>,
}

/// The site's figures in the Neustream seed's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedStats {
    /// Registered users.
    pub total_users: i64,
    /// Users who signed in, refreshed a session or streamed since midnight UTC.
    pub active_users_today: i64,
    /// Publishing sessions ever.
    pub total_streams: i64,
    /// Publishing sessions not ended (all nodes).
    pub active_streams: i64,
    /// Subscriptions ever.
    pub total_subscriptions: i64,
    /// Subscriptions that entitle now (trialing, active, past due).
    pub active_subscriptions: i64,
    /// Revenue of the last 30 days in `monthly_revenue_currency`, in major units (other
    /// currencies are in `revenue.last_30_days`).
    pub monthly_revenue: f64,
    /// The currency of `monthly_revenue` (`USD`).
    pub monthly_revenue_currency: String,
    /// Hours streamed since midnight UTC, all users together.
    pub streaming_hours_today: f64,
}

/// The site's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// The seed's figures.
    pub stats: SeedStats,
    /// Registered users.
    pub users: i64,
    /// Subscriptions that entitle (trialing, active, past due).
    pub paying_subscriptions: i64,
    /// Revenue per currency.
    pub revenue: RevenueStats,
}

fn revenue(rows: Vec<(String, i64, i64)>) -> Vec<Revenue> {
    rows.into_iter()
        .map(|(currency, minor, n)| Revenue {
            currency,
            amount: format_money(minor),
            amount_minor: minor,
            payments: n,
        })
        .collect()
}

/// The currency of the seed's single `monthly_revenue` figure.
const REVENUE_CURRENCY: &str = "USD";

/// Users, paying subscriptions and revenue (administrators): the seed's `stats`, and beside
/// them ferrocast's figures (revenue per currency).
#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Stats), (status = 403, body = ErrorBody)))]
pub async fn stats(State(state): State<AppState>) -> ApiResult<Json<Stats>> {
    let now = state.clock.now_ms();
    let f = state.db.site_figures(now).await?;
    let last_30_days = state.db.revenue(now - 30 * DAY_MS).await?;
    let usd_minor = last_30_days
        .iter()
        .find(|(c, _, _)| c == REVENUE_CURRENCY)
        .map_or(0, |(_, minor, _)| *minor);
    Ok(Json(Stats {
        stats: SeedStats {
            total_users: f.total_users,
            active_users_today: f.active_users_today,
            total_streams: f.total_streams,
            active_streams: f.active_streams,
            total_subscriptions: f.total_subscriptions,
            active_subscriptions: f.active_subscriptions,
            monthly_revenue: usd_minor as f64 / 100.0,
            monthly_revenue_currency: REVENUE_CURRENCY.into(),
            streaming_hours_today: crate::routes::sources::hours(f.streamed_ms_today),
        },
        users: f.total_users,
        paying_subscriptions: f.active_subscriptions,
        revenue: RevenueStats {
            last_30_days: revenue(last_30_days),
            all_time: revenue(state.db.revenue(0).await?),
        },
    }))
}

/// The site's state, for every visitor (the web app shows the maintenance page from it).
#[utoipa::path(get, path = "/api/site", tag = "admin",
    responses((status = 200, body = SiteSettings)))]
pub async fn site(State(state): State<AppState>) -> Json<SiteSettings> {
    Json(state.site.settings().await)
}

/// The site's settings (administrators).
#[utoipa::path(get, path = "/api/admin/settings", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = SiteSettings), (status = 403, body = ErrorBody)))]
pub async fn get_settings(State(state): State<AppState>) -> ApiResult<Json<SiteSettings>> {
    Ok(Json(state.site.settings().await))
}

/// Settings to change; those left out keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    /// Hold the site closed to everyone but administrators.
    pub maintenance_mode: Option<bool>,
    /// What visitors are told meanwhile (at most 500 characters).
    pub maintenance_message: Option<String>,
    /// Whether anyone may register.
    pub registration_open: Option<bool>,
    /// The seed's name for `registration_open` (give one of the two, or both alike).
    pub new_registrations_enabled: Option<bool>,
}

/// Change the site's settings (administrators); every node applies them at once.
#[utoipa::path(put, path = "/api/admin/settings", tag = "admin", security(("bearer" = [])), request_body = SettingsChange,
    responses((status = 200, body = SiteSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(c): ApiJson<SettingsChange>,
) -> ApiResult<Json<SiteSettings>> {
    let mut values: Vec<(&str, String)> = Vec::new();
    if let Some(m) = c.maintenance_mode {
        values.push(("maintenance_mode", m.to_string()));
    }
    if let Some(text) = c.maintenance_message {
        let text = text.trim().to_string();
        if text.chars().count() > 500 || text.chars().any(|ch| ch.is_control() && ch != '\n') {
            return Err(ApiError::validation(
                "maintenance_message: at most 500 characters, no control characters",
            ));
        }
        values.push(("maintenance_message", text));
    }
    let registration = match (c.registration_open, c.new_registrations_enabled) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::validation(
                "registration_open and new_registrations_enabled name one setting: give one, or both alike",
            ))
        }
        (a, b) => a.or(b),
    };
    if let Some(r) = registration {
        values.push(("registration_open", r.to_string()));
    }
    state
        .db
        .put_site_settings(&values, auth.user.id, state.clock.now_ms())
        .await?;
    state.site.forget();
    // Every other node drops its copy too.
    state
        .fanout
        .publish(crate::service::events::RealtimeEvent::SiteChanged);
    let details = serde_json::Value::Object(
        values
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
            .collect(),
    );
    record_action(&state, auth.user.id, "settings_changed", None, details).await;
    tracing::info!(admin = auth.user.uuid, changes = ?values, "site settings changed");
    Ok(Json(state.site.settings().await))
}

/// A user's current plan, as the users list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserSubscription {
    /// The plan's name (the default plan's when there is no subscription).
    pub plan_name: String,
    /// `trialing`, `active` or `past_due`; `active` on the default plan.
    pub status: String,
    /// The plan's id.
    pub plan_id: i64,
    /// The subscription's public id; `None` on the default plan (nothing to cancel).
    pub id: Option<String>,
    /// Whether it ends with its period.
    pub cancel_at_period_end: bool,
}

/// A user as administrators see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUser {
    /// Integer id (as the seed gives it).
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: String,
    /// Whether the email is confirmed.
    pub email_verified: bool,
    /// Whether two-factor login is on.
    pub two_factor: bool,
    /// When they registered.
    pub created_at: String,
    /// Their current plan.
    pub subscription: UserSubscription,
    /// Whether an administrator suspended the account.
    pub suspended: bool,
    /// When it was suspended.
    pub suspended_at: Option<String>,
}

/// Where a page is, in the seed's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    /// This page, from 1.
    pub page: i64,
    /// Per page.
    pub limit: i64,
    /// All that match.
    pub total: i64,
    /// How many pages (at least 1).
    pub total_pages: i64,
}

impl Pagination {
    fn new(page: i64, limit: i64, total: i64) -> Self {
        Self {
            page,
            limit,
            total,
            total_pages: ((total + limit - 1) / limit).max(1),
        }
    }
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// Newest first.
    pub users: Vec<AdminUser>,
    /// The seed's page description.
    pub pagination: Pagination,
    /// All that match.
    pub total: i64,
    /// This page.
    pub page: i64,
    /// Per page.
    pub per_page: i64,
}

/// Users search.
#[derive(Debug, Deserialize, IntoParams)]
pub struct UserQuery {
    /// From 1; default 1.
    pub page: Option<i64>,
    /// 1 to 100; default 20 (the seed's name for `per_page`).
    pub limit: Option<i64>,
    /// 1 to 100; default 20.
    pub per_page: Option<i64>,
    /// Part of an email or display name.
    pub q: Option<String>,
}

/// A page's number and size from `page` and `limit` (or `per_page`).
fn page_of(page: Option<i64>, limit: Option<i64>, per_page: Option<i64>) -> ApiResult<(i64, i64)> {
    let page = page.unwrap_or(1);
    let limit = limit.or(per_page).unwrap_or(20);
    if page < 1 || !(1..=100).contains(&limit) {
        return Err(ApiError::validation(
            "page: from 1; limit (or per_page): 1 to 100",
        ));
    }
    Ok((page, limit))
}

/// Users, newest first, optionally searched, each with their current plan (administrators).
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = [])), params(UserQuery),
    responses((status = 200, body = UserPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn users(
    State(state): State<AppState>,
    Query(q): Query<UserQuery>,
) -> ApiResult<Json<UserPage>> {
    let (page, per_page) = page_of(q.page, q.limit, q.per_page)?;
    let search =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(100).collect::<String>());
    let (rows, total) = state
        .db
        .list_users(
            search.as_deref(),
            per_page,
            (page - 1).saturating_mul(per_page),
        )
        .await?;
    let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
    let plans = state.db.current_plans(&ids).await?;
    let default_plan = state.db.default_plan().await?;
    let users = rows
        .into_iter()
        .map(|u| {
            let subscription = match plans.iter().find(|c| c.user_id == u.id) {
                Some(c) => UserSubscription {
                    plan_name: c.plan_name.clone(),
                    status: c.status.clone(),
                    plan_id: c.plan_id,
                    id: Some(c.subscription_uuid.clone()),
                    cancel_at_period_end: c.cancel_at_period_end,
                },
                None => UserSubscription {
                    plan_name: default_plan.spec.name.clone(),
                    status: "active".into(),
                    plan_id: default_plan.id,
                    id: None,
                    cancel_at_period_end: false,
                },
            };
            AdminUser {
                id: u.id,
                uuid: u.uuid,
                email: u.email,
                display_name: u.display_name,
                role: u.role,
                email_verified: u.email_verified,
                two_factor: u.totp_enabled,
                created_at: rfc3339(u.created_at),
                subscription,
                suspended: u.suspended_at.is_some(),
                suspended_at: u.suspended_at.map(rfc3339),
            }
        })
        .collect();
    Ok(Json(UserPage {
        users,
        pagination: Pagination::new(page, per_page, total),
        total,
        page,
        per_page,
    }))
}

/// Owner of a source, for administrators.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceOwner {
    /// Public id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
}

/// A source as administrators see it (the seed's source without its stream key).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSource {
    /// Integer id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Public playback id.
    pub playback_id: String,
    /// Whether a publisher is live on it.
    pub is_active: bool,
    /// Its destinations.
    pub destinations_count: i64,
    /// Its chat connectors.
    pub chat_connectors_count: i64,
    /// Creation time.
    pub created_at: String,
    /// Whose it is.
    pub owner: SourceOwner,
}

/// A page of sources.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSourcePage {
    /// Newest first.
    pub sources: Vec<AdminSource>,
    /// The page.
    pub pagination: Pagination,
}

/// A page of sources.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SourcesQuery {
    /// From 1; default 1.
    pub page: Option<i64>,
    /// 1 to 100; default 20.
    pub limit: Option<i64>,
}

/// Every source on the site, newest first, with its owner (administrators). Stream keys are
/// not shown: they are their owners' secrets.
#[utoipa::path(get, path = "/api/admin/sources", tag = "admin", security(("bearer" = [])), params(SourcesQuery),
    responses((status = 200, body = AdminSourcePage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sources(
    State(state): State<AppState>,
    Query(q): Query<SourcesQuery>,
) -> ApiResult<Json<AdminSourcePage>> {
    let (page, limit) = page_of(q.page, q.limit, None)?;
    let (rows, total) = state
        .db
        .admin_sources(limit, (page - 1).saturating_mul(limit))
        .await?;
    let sources = rows
        .into_iter()
        .map(|r| AdminSource {
            id: r.source.id,
            uuid: r.source.uuid,
            name: r.source.name,
            description: r.source.description,
            playback_id: r.source.playback_id,
            is_active: r.source.is_active,
            destinations_count: r.destinations_count,
            chat_connectors_count: r.chat_connectors_count,
            created_at: rfc3339(r.source.created_at),
            owner: SourceOwner {
                id: r.owner_uuid,
                email: r.owner_email,
                display_name: r.owner_name,
            },
        })
        .collect();
    Ok(Json(AdminSourcePage {
        sources,
        pagination: Pagination::new(page, limit, total),
    }))
}

/// Which days the charts cover.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SeriesQuery {
    /// How many days up to and including today (UTC): 7 to 365; default 30.
    pub days: Option<i64>,
}

/// Money received on each day in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueSeries {
    /// ISO code.
    pub currency: String,
    /// Minor units per day, one per entry of `days`.
    pub amount_minor: Vec<i64>,
}

/// The site's figures per UTC day, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyStats {
    /// The days (`YYYY-MM-DD`, UTC), the last one today.
    pub days: Vec<String>,
    /// Registered users at the end of each day.
    pub users: Vec<i64>,
    /// Users who registered that day.
    pub new_users: Vec<i64>,
    /// Streams started that day.
    pub streams: Vec<i64>,
    /// Hours streamed within that day, all users together.
    pub streaming_hours: Vec<f64>,
    /// Revenue per day, per currency.
    pub revenue: Vec<RevenueSeries>,
}

/// Users, streams, streaming hours and revenue per day over the last `days` days (administrators).
#[utoipa::path(get, path = "/api/admin/stats/daily", tag = "admin", security(("bearer" = [])), params(SeriesQuery),
    responses((status = 200, body = DailyStats), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn daily(
    State(state): State<AppState>,
    Query(q): Query<SeriesQuery>,
) -> ApiResult<Json<DailyStats>> {
    let days = q.days.unwrap_or(30);
    if !(7..=365).contains(&days) {
        return Err(ApiError::validation("days: 7 to 365"));
    }
    let today = state.clock.now_ms().div_euclid(DAY_MS);
    let from = today - days + 1;
    let s = state.db.daily_series(from, days).await?;
    let mut users = Vec::with_capacity(s.new_users.len());
    let mut total = s.users_before;
    for n in &s.new_users {
        total += n;
        users.push(total);
    }
    let mut revenue: Vec<RevenueSeries> = Vec::new();
    for (i, currency, minor) in s.revenue {
        let series = match revenue.iter_mut().position(|r| r.currency == currency) {
            Some(at) => &mut revenue[at],
            None => {
                revenue.push(RevenueSeries {
                    currency,
                    amount_minor: vec![0; days as usize],
                });
                let last = revenue.len() - 1;
                &mut revenue[last]
            }
        };
        if let Some(slot) = series.amount_minor.get_mut(i) {
            *slot += minor;
        }
    }
    Ok(Json(DailyStats {
        days: (from..=today)
            .map(|d| rfc3339(d * DAY_MS).chars().take(10).collect())
            .collect(),
        users,
        new_users: s.new_users,
        streams: s.streams,
        streaming_hours: s
            .streamed_ms
            .iter()
            .map(|ms| crate::routes::sources::hours(*ms))
            .collect(),
        revenue,
    }))
}

/// A plan to put a user on by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    /// The plan (see `/api/subscriptions/plans`).
    pub plan_id: i64,
    /// `monthly` or `yearly`; default `monthly`. The subscription runs one cycle from now.
    pub billing_cycle: Option<String>,
}

/// A user's plan after an administrator's change.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanChanged {
    /// The user's public id.
    pub user_id: String,
    /// Their current plan now.
    pub subscription: UserSubscription,
}

async fn user_subscription(state: &AppState, user_id: i64) -> ApiResult<UserSubscription> {
    Ok(match state.db.current_plans(&[user_id]).await?.pop() {
        Some(c) => UserSubscription {
            plan_name: c.plan_name,
            status: c.status,
            plan_id: c.plan_id,
            id: Some(c.subscription_uuid),
            cancel_at_period_end: c.cancel_at_period_end,
        },
        None => {
            let plan = state.db.default_plan().await?;
            UserSubscription {
                plan_name: plan.spec.name,
                status: "active".into(),
                plan_id: plan.id,
                id: None,
                cancel_at_period_end: false,
            }
        }
    })
}

async fn target_user(
    state: &AppState,
    uuid: &str,
) -> ApiResult<ferrocast_db::accounts::UserRecord> {
    if uuid.len() > 64 {
        return Err(ApiError::not_found("user"));
    }
    state
        .db
        .user_by_uuid(uuid)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

/// Put a user on a plan by hand (administrators): a new subscription for one cycle from now
/// that replaces their others; no money moves. Recorded as the administrator's action.
#[utoipa::path(put, path = "/api/admin/users/{user_id}/subscription", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The user's public id")), request_body = PlanChange,
    responses((status = 200, body = PlanChanged), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_plan(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<PlanChange>,
) -> ApiResult<Json<PlanChanged>> {
    let user = target_user(&state, &user_id).await?;
    let outcome = state
        .billing
        .admin_change_plan(
            auth.user.id,
            user.id,
            req.plan_id,
            req.billing_cycle.as_deref().unwrap_or("monthly"),
        )
        .await?;
    if let ManualOutcome::Done {
        ended_at_gateway,
        subscription,
    } = outcome
    {
        state
            .audit
            .admin_action(
                auth.user.id,
                "subscription_plan_changed",
                Some(user.id),
                serde_json::json!({"plan_id": req.plan_id, "subscription": subscription}),
            )
            .await;
        crate::gateways::cancel_replaced(&state, ended_at_gateway);
    }
    Ok(Json(PlanChanged {
        user_id: user.uuid,
        subscription: user_subscription(&state, user.id).await?,
    }))
}

/// End a user's current subscription now (administrators); they are on the default plan
/// after it. No money moves (refunds are made at the gateway). Recorded as the
/// administrator's action.
#[utoipa::path(delete, path = "/api/admin/users/{user_id}/subscription", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The user's public id")),
    responses((status = 200, body = PlanChanged), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_subscription(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<PlanChanged>> {
    let user = target_user(&state, &user_id).await?;
    match state.billing.admin_cancel(auth.user.id, user.id).await? {
        ManualOutcome::Done {
            ended_at_gateway,
            subscription,
        } => {
            state
                .audit
                .admin_action(
                    auth.user.id,
                    "subscription_canceled",
                    Some(user.id),
                    serde_json::json!({"subscription": subscription}),
                )
                .await;
            crate::gateways::cancel_replaced(&state, ended_at_gateway)
        }
        ManualOutcome::NothingToCancel => {
            return Err(ApiError::conflict(
                "NO_SUBSCRIPTION",
                "Nothing to cancel",
                "The user is on the default plan, without a subscription.",
            ))
        }
    }
    Ok(Json(PlanChanged {
        user_id: user.uuid,
        subscription: user_subscription(&state, user.id).await?,
    }))
}

/// A user as administrators see them, with their current plan.
async fn admin_user(
    state: &AppState,
    u: ferrocast_db::accounts::UserRecord,
) -> ApiResult<AdminUser> {
    let subscription = user_subscription(state, u.id).await?;
    Ok(AdminUser {
        id: u.id,
        uuid: u.uuid,
        email: u.email,
        display_name: u.display_name,
        role: u.role,
        email_verified: u.email_verified,
        two_factor: u.totp_enabled,
        created_at: rfc3339(u.created_at),
        subscription,
        suspended: u.suspended_at.is_some(),
        suspended_at: u.suspended_at.map(rfc3339),
    })
}

/// A role to give a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// `viewer`, `creator`, `brand`, `moderator` or `admin`.
    pub role: String,
}

/// Give a user another role (administrators; not to themselves). Takes effect on their next
/// request. Recorded as the administrator's action.
#[utoipa::path(put, path = "/api/admin/users/{user_id}/role", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The user's public id")), request_body = RoleChange,
    responses((status = 200, body = AdminUser), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`OWN_ACCOUNT`: your own role"), (status = 422, body = ErrorBody)))]
pub async fn change_role(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<RoleChange>,
) -> ApiResult<Json<AdminUser>> {
    let role = ferrocast_domain::account::Role::parse(req.role.trim()).ok_or_else(|| {
        ApiError::validation("role: must be viewer, creator, brand, moderator or admin")
    })?;
    let user = target_user(&state, &user_id).await?;
    let before = user.role.clone();
    let user = crate::service::admin::change_role(
        &state.db,
        auth.user.id,
        &user,
        role,
        state.clock.now_ms(),
    )
    .await?;
    if before != user.role {
        state
            .audit
            .admin_action(
                auth.user.id,
                "role_changed",
                Some(user.id),
                serde_json::json!({"from": before, "to": user.role}),
            )
            .await;
    }
    Ok(Json(admin_user(&state, user).await?))
}

/// Suspend a user (administrators; not themselves): they cannot log in, their sessions end,
/// their API keys and stream keys are refused, and their live streams stop. Recorded as the
/// administrator's action.
#[utoipa::path(post, path = "/api/admin/users/{user_id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The user's public id")),
    responses((status = 200, body = AdminUser), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`OWN_ACCOUNT`: your own account")))]
pub async fn suspend_user(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<AdminUser>> {
    let user = target_user(&state, &user_id).await?;
    let user = crate::service::admin::suspend(
        &state.db,
        &state.streams,
        auth.user.id,
        &user,
        state.clock.now_ms(),
    )
    .await?;
    state
        .audit
        .admin_action(
            auth.user.id,
            "user_suspended",
            Some(user.id),
            serde_json::json!({}),
        )
        .await;
    Ok(Json(admin_user(&state, user).await?))
}

/// Reactivate a suspended user (administrators): they may log in and stream again. Recorded
/// as the administrator's action.
#[utoipa::path(post, path = "/api/admin/users/{user_id}/reactivate", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The user's public id")),
    responses((status = 200, body = AdminUser), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`OWN_ACCOUNT`: your own account")))]
pub async fn reactivate_user(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<AdminUser>> {
    let user = target_user(&state, &user_id).await?;
    let user =
        crate::service::admin::reactivate(&state.db, auth.user.id, &user, state.clock.now_ms())
            .await?;
    state
        .audit
        .admin_action(
            auth.user.id,
            "user_reactivated",
            Some(user.id),
            serde_json::json!({}),
        )
        .await;
    Ok(Json(admin_user(&state, user).await?))
}

/// An administrator's action, for the record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminAction {
    /// Id.
    pub id: i64,
    /// Who did it (their email; `None` once deleted).
    pub admin: Option<String>,
    /// `subscription_plan_changed`, `subscription_canceled`, `settings_changed`,
    /// `stream_stopped`, `role_changed`, `user_suspended` or `user_reactivated`.
    pub action: String,
    /// To whom (their email), if to someone.
    pub target: Option<String>,
    /// What else it carried.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// When.
    pub created_at: String,
}

/// Administrators' actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminActions {
    /// The last 100, newest first.
    pub actions: Vec<AdminAction>,
}

/// What administrators did, newest first (administrators).
#[utoipa::path(get, path = "/api/admin/actions", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminActions), (status = 403, body = ErrorBody)))]
pub async fn actions(State(state): State<AppState>) -> ApiResult<Json<AdminActions>> {
    let rows = state.db.admin_actions(100).await?;
    Ok(Json(AdminActions {
        actions: rows
            .into_iter()
            .map(|r| AdminAction {
                id: r.id,
                admin: r.admin_email,
                action: r.action,
                target: r.target_email,
                details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
                created_at: rfc3339(r.created_at),
            })
            .collect(),
    }))
}
