//! Administration: users, every subscription, the figures of `GET /api/admin/stats` (users,
//! paying subscriptions, revenue per currency), and the site's settings (maintenance mode,
//! registration), which `GET /api/site` shows to everyone.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::service::clock::rfc3339;
use crate::service::site::SiteSettings;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use ferrocast_domain::plans::format_money;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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

/// The site's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
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

/// Users, paying subscriptions and revenue (administrators).
#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Stats), (status = 403, body = ErrorBody)))]
pub async fn stats(State(state): State<AppState>) -> ApiResult<Json<Stats>> {
    let now = state.clock.now_ms();
    Ok(Json(Stats {
        users: state.db.count_users().await?,
        paying_subscriptions: state.db.count_entitled_subscriptions().await?,
        revenue: RevenueStats {
            last_30_days: revenue(state.db.revenue(now - 30 * 86_400_000).await?),
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
}

/// Change the site's settings (administrators); every node applies them within two seconds.
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
    if let Some(r) = c.registration_open {
        values.push(("registration_open", r.to_string()));
    }
    state
        .db
        .put_site_settings(&values, auth.user.id, state.clock.now_ms())
        .await?;
    state.site.forget();
    tracing::info!(admin = auth.user.uuid, changes = ?values, "site settings changed");
    Ok(Json(state.site.settings().await))
}

/// A user as administrators see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUser {
    /// Public id.
    pub id: String,
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
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// Newest first.
    pub users: Vec<AdminUser>,
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
    /// 1 to 100; default 20.
    pub per_page: Option<i64>,
    /// Part of an email or display name.
    pub q: Option<String>,
}

/// Users, newest first, optionally searched (administrators).
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = [])), params(UserQuery),
    responses((status = 200, body = UserPage), (status = 403, body = ErrorBody)))]
pub async fn users(
    State(state): State<AppState>,
    Query(q): Query<UserQuery>,
) -> ApiResult<Json<UserPage>> {
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(20);
    if page < 1 || !(1..=100).contains(&per_page) {
        return Err(ApiError::validation("page: from 1; per_page: 1 to 100"));
    }
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
    let users = rows
        .into_iter()
        .map(|u| AdminUser {
            id: u.uuid,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            email_verified: u.email_verified,
            two_factor: u.totp_enabled,
            created_at: rfc3339(u.created_at),
        })
        .collect();
    Ok(Json(UserPage {
        users,
        total,
        page,
        per_page,
    }))
}
