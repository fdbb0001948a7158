//! Revenue and payouts for administrators: the platform's fees and the money held for creators
//! (from the ledger), paid purchases by kind, the payout queue (approve: Stripe transfer or bank
//! transfer; reject; mark a bank transfer paid), the CSV export for bank transfers, tax rates
//! per country; and Stripe Connect's webhook (`account.updated`). Every decision is recorded as
//! the administrator's action.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::payouts;
use crate::routes::earnings::{csv_download, csv_field, payout_view, MoneyAmount, PayoutView};
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use ferrocast_domain::ledger::account;
use ferrocast_domain::plans::format_money;
use ferrocast_payments::{stripe, stripe_connect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn money(amount_minor: i64, currency: &str) -> MoneyAmount {
    MoneyAmount {
        amount_minor,
        amount: format_money(amount_minor),
        currency: currency.to_owned(),
    }
}

/// Paid purchases of one kind in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct KindRevenue {
    /// `tip`, `membership` or `ppv`.
    pub kind: String,
    /// What buyers paid, tax included.
    pub gross: MoneyAmount,
    /// Tax included in it.
    pub tax: MoneyAmount,
    /// Purchases.
    pub count: i64,
    /// Refunded or disputed since.
    pub reversed: i64,
}

/// The ledger's totals in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerTotals {
    /// ISO code.
    pub currency: String,
    /// The platform's fees.
    pub platform_fees: String,
    /// Tax collected, all countries.
    pub tax: String,
    /// Owed to creators (held and available).
    pub creators: String,
    /// Payouts requested, not yet paid.
    pub payouts_in_flight: String,
    /// Paid out to creators.
    pub payouts_paid: String,
}

/// Revenue and payouts.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueReport {
    /// Per currency, from the ledger.
    pub ledger: Vec<LedgerTotals>,
    /// Paid purchases by kind and currency.
    pub by_kind: Vec<KindRevenue>,
    /// Payouts waiting for a decision or a bank transfer.
    pub queued_payouts: i64,
    /// Whether payouts can be made through Stripe Connect.
    pub stripe_connect: bool,
    /// The smallest payout, minor units.
    pub payout_minimum_minor: i64,
    /// Days income is held.
    pub hold_days: i64,
}

/// The platform's fees, tax, money held for creators and payouts, per currency, and paid
/// purchases by kind (administrators).
#[utoipa::path(get, path = "/api/admin/revenue", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = RevenueReport), (status = 403, body = ErrorBody)))]
pub async fn admin_revenue(State(state): State<AppState>) -> ApiResult<Json<RevenueReport>> {
    let mut per: std::collections::BTreeMap<String, [i64; 5]> = std::collections::BTreeMap::new();
    for (acct, currency, balance) in state.db.ledger_account_totals().await? {
        let slot = if acct == account::PLATFORM_FEES {
            0
        } else if acct.starts_with("tax:") {
            1
        } else if acct.starts_with("creator:") {
            2
        } else if acct == account::PAYOUTS_IN_FLIGHT {
            3
        } else if acct == account::PAYOUTS_PAID {
            4
        } else {
            continue;
        };
        per.entry(currency).or_default()[slot] += balance;
    }
    let ledger = per
        .into_iter()
        .map(|(currency, v)| LedgerTotals {
            currency,
            platform_fees: format_money(v[0]),
            tax: format_money(v[1]),
            creators: format_money(v[2]),
            payouts_in_flight: format_money(v[3]),
            payouts_paid: format_money(v[4]),
        })
        .collect();
    let by_kind = state
        .db
        .purchase_totals()
        .await?
        .into_iter()
        .map(|t| KindRevenue {
            gross: money(t.gross_minor, &t.currency),
            tax: money(t.tax_minor, &t.currency),
            kind: t.kind,
            count: t.count,
            reversed: t.reversed,
        })
        .collect();
    let queued = state
        .db
        .admin_payouts(&["requested", "approved"], 1000)
        .await?
        .len() as i64;
    Ok(Json(RevenueReport {
        ledger,
        by_kind,
        queued_payouts: queued,
        stripe_connect: payouts::stripe_enabled(&state),
        payout_minimum_minor: state.config.payments.payout_minimum,
        hold_days: state.config.payments.payout_hold_days,
    }))
}

/// A payout in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminPayout {
    /// The payout.
    #[serde(flatten)]
    pub payout: PayoutView,
    /// The creator's email.
    pub email: String,
    /// Their display name.
    pub display_name: String,
    /// How approval pays it now: `stripe` (a transfer to their onboarded account) or `bank`
    /// (their bank details; in the CSV export), or `none` (no way to pay them yet).
    pub pays_by: String,
    /// The last failed attempt to pay it.
    pub last_error: Option<String>,
    /// When first exported for a bank transfer.
    pub exported_at: Option<String>,
}

/// Payouts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminPayoutList {
    /// Waiting ones first (oldest first), then the decided (newest first).
    pub payouts: Vec<AdminPayout>,
}

/// Which payouts.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PayoutFilter {
    /// `requested`, `approved`, `paid`, `rejected` or `open` (requested and approved); default all.
    pub status: Option<String>,
}

fn statuses(s: Option<&str>) -> ApiResult<Vec<&'static str>> {
    Ok(match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Vec::new(),
        Some("open") => vec!["requested", "approved"],
        Some("requested") => vec!["requested"],
        Some("approved") => vec!["approved"],
        Some("paid") => vec!["paid"],
        Some("rejected") => vec!["rejected"],
        Some(_) => {
            return Err(ApiError::validation(
                "status: requested, approved, paid, rejected or open",
            ))
        }
    })
}

/// The payout queue (administrators).
#[utoipa::path(get, path = "/api/admin/payouts", tag = "admin", security(("bearer" = [])), params(PayoutFilter),
    responses((status = 200, body = AdminPayoutList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn admin_payouts(
    State(state): State<AppState>,
    Query(f): Query<PayoutFilter>,
) -> ApiResult<Json<AdminPayoutList>> {
    let rows = state
        .db
        .admin_payouts(&statuses(f.status.as_deref())?, 200)
        .await?;
    let stripe = payouts::stripe_enabled(&state);
    Ok(Json(AdminPayoutList {
        payouts: rows
            .into_iter()
            .map(|r| AdminPayout {
                pays_by: if r.payout.method.as_deref() == Some("stripe")
                    || (stripe && r.account.stripe_ready())
                {
                    "stripe".into()
                } else if r.payout.method.as_deref() == Some("bank")
                    || r.account.bank_details_sealed.is_some()
                {
                    "bank".into()
                } else {
                    "none".into()
                },
                payout: payout_view(&r.payout),
                last_error: r.payout.last_error.clone(),
                exported_at: r.payout.exported_at.map(rfc3339),
                email: r.email,
                display_name: r.display_name,
            })
            .collect(),
    }))
}

/// Approve a requested payout (administrators): paid at once through a Stripe transfer to the
/// creator's onboarded connected account where Stripe is configured, else queued for a bank
/// transfer (the CSV export), to be marked paid. Recorded as the administrator's action.
#[utoipa::path(post, path = "/api/admin/payouts/{id}/approve", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The payout's id")),
    responses((status = 200, body = PayoutView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`PAYOUT_STATE` or `NO_PAYOUT_METHOD`"), (status = 502, body = ErrorBody, description = "Stripe refused the transfer; approving again retries it")))]
pub async fn approve_payout(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PayoutView>> {
    Ok(Json(payout_view(
        &payouts::approve(&state, auth.user.id, &id).await?,
    )))
}

/// Why a payout is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// What the creator is told (1 to 300 characters).
    pub reason: String,
}

/// Reject a payout not yet paid (administrators): its money is available to the creator again
/// (the request is reversed in the ledger). Recorded as the administrator's action.
#[utoipa::path(post, path = "/api/admin/payouts/{id}/reject", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The payout's id")), request_body = Rejection,
    responses((status = 200, body = PayoutView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reject_payout(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<Rejection>,
) -> ApiResult<Json<PayoutView>> {
    Ok(Json(payout_view(
        &payouts::reject(&state, auth.user.id, &id, &r.reason).await?,
    )))
}

/// A bank transfer made.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaidByBank {
    /// The bank transfer's reference, for the record (optional).
    pub reference: Option<String>,
}

/// Mark a payout approved for bank transfer as paid (administrators), once the transfer is
/// made. Recorded as the administrator's action.
#[utoipa::path(post, path = "/api/admin/payouts/{id}/paid", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The payout's id")), request_body = PaidByBank,
    responses((status = 200, body = PayoutView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn mark_payout_paid(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PaidByBank>,
) -> ApiResult<Json<PayoutView>> {
    Ok(Json(payout_view(
        &payouts::mark_paid(&state, auth.user.id, &id, b.reference.as_deref()).await?,
    )))
}

/// The payouts approved for bank transfer and not yet paid, as CSV for the bank (payout id,
/// creator, email, account holder, bank details, amount, currency, requested and approved
/// dates). Recorded as the administrator's action.
#[utoipa::path(get, path = "/api/admin/payouts/export.csv", tag = "admin", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", description = "One row per payout to transfer"), (status = 403, body = ErrorBody)))]
pub async fn export_payouts(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    let rows = state.db.admin_payouts(&["approved"], 1000).await?;
    let mut out = String::from("payout_id,creator,email,account_holder,bank_details,amount,currency,requested_at,approved_at\n");
    let mut ids = Vec::with_capacity(rows.len());
    for r in &rows {
        let details = payouts::open_bank(&state, &r.account).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            r.payout.uuid,
            csv_field(&r.display_name),
            csv_field(&r.email),
            csv_field(r.account.bank_holder.as_deref().unwrap_or("")),
            csv_field(&details.replace(['\n', '\r'], " ")),
            format_money(r.payout.amount_minor),
            r.payout.currency,
            rfc3339(r.payout.requested_at),
            r.payout.decided_at.map(rfc3339).unwrap_or_default(),
        ));
        ids.push(r.payout.uuid.clone());
    }
    let now = state.clock.now_ms();
    state.db.mark_payouts_exported(&ids, now).await?;
    crate::routes::admin::record_action(
        &state,
        auth.user.id,
        "payouts_exported",
        None,
        serde_json::json!({"payouts": ids.len()}),
    )
    .await;
    let day = rfc3339(now);
    Ok(csv_download(&format!("payouts-{}.csv", &day[..10]), out))
}

/// A country's tax rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxRateView {
    /// ISO 3166 alpha-2 (`DE`).
    pub country: String,
    /// Percent, two decimals (`"19.00"`).
    pub percent: String,
    /// Basis points (`1900`).
    pub rate_bps: i64,
    /// What receipts call it (`VAT`).
    pub label: String,
    /// Last change.
    pub updated_at: String,
}

/// Tax rates.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxRates {
    /// By country.
    pub rates: Vec<TaxRateView>,
}

async fn rates(state: &AppState) -> ApiResult<TaxRates> {
    Ok(TaxRates {
        rates: state
            .db
            .tax_rates()
            .await?
            .into_iter()
            .map(|t| TaxRateView {
                percent: crate::splits::bps_to_percent(t.rate_bps),
                country: t.country,
                rate_bps: t.rate_bps,
                label: t.label,
                updated_at: rfc3339(t.updated_at),
            })
            .collect(),
    })
}

/// Tax rates per country (administrators): the tax included in prices paid from each country.
#[utoipa::path(get, path = "/api/admin/tax-rates", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = TaxRates), (status = 403, body = ErrorBody)))]
pub async fn list_tax_rates(State(state): State<AppState>) -> ApiResult<Json<TaxRates>> {
    Ok(Json(rates(&state).await?))
}

/// A tax rate to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRateChange {
    /// Percent, at most two decimals, 0 to 100 (`"19"`, `"7.5"`).
    pub percent: String,
    /// What receipts call it (1 to 40 characters; default `Tax`).
    pub label: Option<String>,
}

fn country(code: &str) -> ApiResult<String> {
    let c = code.trim().to_ascii_uppercase();
    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(ApiError::validation(
            "country: an ISO 3166 two-letter code such as DE",
        ))
    }
}

/// Set a country's tax rate (administrators); purchases from then on include it. Recorded as
/// the administrator's action.
#[utoipa::path(put, path = "/api/admin/tax-rates/{country}", tag = "admin", security(("bearer" = [])),
    params(("country" = String, Path, description = "ISO 3166 alpha-2")), request_body = TaxRateChange,
    responses((status = 200, body = TaxRates), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_tax_rate(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(code): Path<String>,
    ApiJson(c): ApiJson<TaxRateChange>,
) -> ApiResult<Json<TaxRates>> {
    let code = country(&code)?;
    let bps = crate::splits::percent_to_bps(&c.percent).ok_or_else(|| {
        ApiError::validation("percent: 0 to 100, at most two decimals (\"19\", \"7.5\")")
    })?;
    let label = c
        .label
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("Tax");
    if label.chars().count() > 40 || label.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "label: 1 to 40 characters, no control characters",
        ));
    }
    state
        .db
        .put_tax_rate(&code, bps, label, state.clock.now_ms())
        .await?;
    crate::routes::admin::record_action(&state, auth.user.id, "tax_rate_set", None, serde_json::json!({"country": code, "percent": crate::splits::bps_to_percent(bps), "label": label})).await;
    Ok(Json(rates(&state).await?))
}

/// Remove a country's tax rate (administrators). Recorded as the administrator's action.
#[utoipa::path(delete, path = "/api/admin/tax-rates/{country}", tag = "admin", security(("bearer" = [])),
    params(("country" = String, Path, description = "ISO 3166 alpha-2")),
    responses((status = 200, body = TaxRates), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_tax_rate(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(code): Path<String>,
) -> ApiResult<Json<TaxRates>> {
    let code = country(&code)?;
    if !state.db.delete_tax_rate(&code).await? {
        return Err(ApiError::not_found("tax rate"));
    }
    crate::routes::admin::record_action(
        &state,
        auth.user.id,
        "tax_rate_removed",
        None,
        serde_json::json!({"country": code}),
    )
    .await;
    Ok(Json(rates(&state).await?))
}

/// What the Connect webhook answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectReceived {
    /// Always true.
    pub received: bool,
    /// Whether it updated a creator's account.
    pub applied: bool,
}

/// Stripe Connect's webhook: `account.updated` for creators' connected accounts, checked with
/// `Stripe-Signature` under FERROCAST_STRIPE_CONNECT_WEBHOOK_SECRET. Other events are
/// acknowledged.
#[utoipa::path(post, path = "/api/payments/stripe/connect/webhook", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "Stripe's event, as sent"),
    responses((status = 200, body = ConnectReceived), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn stripe_connect_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ConnectReceived>> {
    let Some(secret) = state.config.payments.stripe_connect_webhook_secret.as_ref() else {
        return Err(crate::gateways::disabled(
            "Stripe Connect",
            "FERROCAST_STRIPE_CONNECT_WEBHOOK_SECRET",
        ));
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    stripe::verify(
        header,
        &body,
        secret.expose(),
        state.clock.now_secs(),
        stripe::TOLERANCE_SECS,
    )
    .map_err(|e| {
        tracing::warn!(error = %e, "refused a Stripe Connect event with a bad signature");
        ApiError::bad_request(
            "BAD_SIGNATURE",
            "The request's signature is not valid",
            e.to_string(),
        )
    })?;
    let bad = |e: ferrocast_payments::ParseError| {
        ApiError::bad_request("BAD_EVENT", "The event is not readable", e.to_string())
    };
    let e = stripe::parse_event(&body).map_err(bad)?;
    if e.kind != "account.updated" {
        return Ok(Json(ConnectReceived {
            received: true,
            applied: false,
        }));
    }
    let a = stripe_connect::account_updated(&e).map_err(bad)?;
    // Events may come out of order: the account's state is read from Stripe where possible,
    // so an older event cannot undo a newer state.
    let applied = match state.config.payments.stripe.as_ref() {
        Some(_) => match state.db.payout_account_by_stripe(&a.id).await? {
            Some(user) => payouts::refresh_account(&state, user)
                .await
                .map(|_| true)
                .or_else(|_| {
                    // Stripe unreachable now: the event's own state is applied.
                    Ok::<_, ApiError>(false)
                })?,
            None => false,
        },
        None => false,
    };
    let applied = if applied {
        true
    } else {
        payouts::apply_account(&state, &a).await?
    };
    Ok(Json(ConnectReceived {
        received: true,
        applied,
    }))
}
