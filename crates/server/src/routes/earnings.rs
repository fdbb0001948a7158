//! A creator's earnings: balances from the ledger (pending during the hold, available, in
//! flight, paid), recent income and income by kind, payouts (requests, Stripe Connect
//! onboarding, bank details), monthly statements (JSON for the printable page, and CSV),
//! collaborator splits, and a buyer's receipt for a purchase (with the tax it included).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::service::clock::rfc3339;
use crate::state::AppState;
use crate::{payouts, splits};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_db::payouts::{IncomeLine, PayoutRecord};
use ferrocast_domain::plans::format_money;
use ferrocast_domain::time::{civil_from_days, days_from_civil};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const DAY_MS: i64 = 86_400_000;

/// MoneyAmount in one currency, as minor units and as text.
#[derive(Debug, Serialize, ToSchema)]
pub struct MoneyAmount {
    /// Minor units.
    pub amount_minor: i64,
    /// As money (`9.99`).
    pub amount: String,
    /// ISO code.
    pub currency: String,
}

fn money(amount_minor: i64, currency: &str) -> MoneyAmount {
    MoneyAmount {
        amount_minor,
        amount: format_money(amount_minor),
        currency: currency.to_owned(),
    }
}

/// A creator's balance in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceView {
    /// ISO code.
    pub currency: String,
    /// Earned and still held (minor units).
    pub pending_minor: i64,
    /// Past the hold: what a payout may take.
    pub available_minor: i64,
    /// Payouts requested, not yet paid.
    pub in_flight_minor: i64,
    /// Paid out, all time.
    pub paid_minor: i64,
    /// The same as text.
    pub pending: String,
    /// Available as text.
    pub available: String,
    /// In flight as text.
    pub in_flight: String,
    /// Paid as text.
    pub paid: String,
}

/// One movement on the balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncomeView {
    /// When.
    pub at: String,
    /// When it can be paid out.
    pub available_at: String,
    /// `tip`, `membership`, `ppv`, `refund`, `chargeback`, `payout_request`, `payout_rejected`…
    pub kind: String,
    /// Who paid (the name they gave), for purchases.
    pub from: Option<String>,
    /// The ledger's line.
    pub memo: String,
    /// Signed.
    pub amount: MoneyAmount,
}

fn income_view(l: &IncomeLine) -> IncomeView {
    IncomeView {
        at: rfc3339(l.created_at),
        available_at: rfc3339(l.available_at),
        kind: match (&l.purchase_kind, l.kind.as_str()) {
            (Some(k), "income") => k.clone(),
            _ => l.kind.clone(),
        },
        from: l.from_name.clone(),
        memo: l.memo.clone(),
        amount: money(l.amount_minor, &l.currency),
    }
}

/// Income of one kind over the last 30 days.
#[derive(Debug, Serialize, ToSchema)]
pub struct KindTotal {
    /// `tip`, `membership`, `ppv`, `refund`, `chargeback`…
    pub kind: String,
    /// How many.
    pub count: i64,
    /// Net to the creator.
    pub amount: MoneyAmount,
}

/// A payout as its creator sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutView {
    /// Public id.
    pub id: String,
    /// How much.
    pub amount: MoneyAmount,
    /// `requested`, `approved` (a bank transfer is being made), `paid` or `rejected`.
    pub status: String,
    /// `stripe` or `bank`, once decided.
    pub method: Option<String>,
    /// Stripe's transfer id, or the bank transfer's reference.
    pub reference: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// When requested.
    pub requested_at: String,
    /// When paid.
    pub paid_at: Option<String>,
}

/// A payout for the API.
pub fn payout_view(p: &PayoutRecord) -> PayoutView {
    PayoutView {
        id: p.uuid.clone(),
        amount: money(p.amount_minor, &p.currency),
        status: p.status.clone(),
        method: p.method.clone(),
        reference: p.transfer_id.clone().or_else(|| p.bank_reference.clone()),
        reason: p.reason.clone(),
        requested_at: rfc3339(p.requested_at),
        paid_at: p.paid_at.map(rfc3339),
    }
}

/// How a creator is paid.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutMethod {
    /// Whether this site pays through Stripe Connect.
    pub stripe_available: bool,
    /// Their connected account (`acct_…`), once created.
    pub stripe_account: Option<String>,
    /// Onboarding submitted and payouts enabled: transfers go there.
    pub stripe_ready: bool,
    /// Onboarding submitted.
    pub stripe_details_submitted: bool,
    /// The bank account holder, if bank details are set.
    pub bank_holder: Option<String>,
    /// The bank details' last characters (`•••• 6789`).
    pub bank_masked: Option<String>,
}

async fn method(state: &AppState, user_id: i64) -> ApiResult<PayoutMethod> {
    let a = state.db.payout_account(user_id).await?.unwrap_or_default();
    Ok(PayoutMethod {
        stripe_available: payouts::stripe_enabled(state),
        stripe_ready: a.stripe_ready(),
        stripe_details_submitted: a.details_submitted,
        stripe_account: a.stripe_account_id.clone(),
        bank_holder: a.bank_holder.clone(),
        bank_masked: payouts::open_bank(state, &a).map(|d| payouts::masked(&d)),
    })
}

/// A creator's earnings.
#[derive(Debug, Serialize, ToSchema)]
pub struct Earnings {
    /// Per currency.
    pub balances: Vec<BalanceView>,
    /// Days income is held before it can be paid out.
    pub hold_days: i64,
    /// The smallest payout, in minor units of any currency.
    pub payout_minimum_minor: i64,
    /// Income over the last 30 days by kind, per currency.
    pub last_30_days: Vec<KindTotal>,
    /// The latest movements, newest first.
    pub recent: Vec<IncomeView>,
    /// Payouts, newest first.
    pub payouts: Vec<PayoutView>,
    /// How they are paid.
    pub method: PayoutMethod,
    /// Months with statements (`YYYY-MM`), newest first.
    pub statement_months: Vec<String>,
}

fn month_of(ms: i64) -> (i64, u32) {
    let (y, m, _) = civil_from_days(ms.div_euclid(DAY_MS));
    (y, m)
}

fn month_start(y: i64, m: u32) -> i64 {
    days_from_civil(y, m, 1) * DAY_MS
}

fn next_month(y: i64, m: u32) -> (i64, u32) {
    if m == 12 {
        (y + 1, 1)
    } else {
        (y, m + 1)
    }
}

/// Your earnings: balances, income, payouts, how you are paid and your statements' months.
#[utoipa::path(get, path = "/api/me/earnings", tag = "earnings", security(("bearer" = [])),
    responses((status = 200, body = Earnings)))]
pub async fn my_earnings(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<Earnings>> {
    let now = state.clock.now_ms();
    let uid = auth.user.id;
    let balances = state
        .db
        .creator_balances(uid, now)
        .await?
        .into_iter()
        .map(|b| BalanceView {
            pending: format_money(b.pending),
            available: format_money(b.available),
            in_flight: format_money(b.in_flight),
            paid: format_money(b.paid),
            currency: b.currency,
            pending_minor: b.pending,
            available_minor: b.available,
            in_flight_minor: b.in_flight,
            paid_minor: b.paid,
        })
        .collect();
    let last_30_days = state
        .db
        .income_by_kind(uid, now - 30 * DAY_MS)
        .await?
        .into_iter()
        .map(|k| KindTotal {
            amount: money(k.amount_minor, &k.currency),
            kind: k.kind,
            count: k.count,
        })
        .collect();
    let recent = state
        .db
        .creator_lines(uid, 0, i64::MAX, 20, true)
        .await?
        .iter()
        .map(income_view)
        .collect();
    let payouts = state
        .db
        .payouts_of_user(uid, 50)
        .await?
        .iter()
        .map(payout_view)
        .collect();
    let mut statement_months = Vec::new();
    if let Some(first) = state.db.first_creator_entry(uid).await? {
        let (mut y, mut m) = month_of(first);
        let last = month_of(now);
        while (y, m) <= last && statement_months.len() < 240 {
            statement_months.push(format!("{y:04}-{m:02}"));
            (y, m) = next_month(y, m);
        }
        statement_months.reverse();
    }
    Ok(Json(Earnings {
        balances,
        hold_days: state.config.payments.payout_hold_days,
        payout_minimum_minor: state.config.payments.payout_minimum,
        last_30_days,
        recent,
        payouts,
        method: method(&state, uid).await?,
        statement_months,
    }))
}

/// Your payouts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutList {
    /// Newest first.
    pub payouts: Vec<PayoutView>,
}

/// Your payouts.
#[utoipa::path(get, path = "/api/me/payouts", tag = "earnings", security(("bearer" = [])),
    responses((status = 200, body = PayoutList)))]
pub async fn my_payouts(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<PayoutList>> {
    Ok(Json(PayoutList {
        payouts: state
            .db
            .payouts_of_user(auth.user.id, 200)
            .await?
            .iter()
            .map(payout_view)
            .collect(),
    }))
}

/// A payout to request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// Minor units: at least the minimum, at most what is available.
    pub amount_minor: i64,
    /// ISO code of one of your balances.
    pub currency: String,
}

/// Request a payout of available money: it is set aside (in flight) until an administrator
/// approves it (paid through Stripe or by bank transfer) or rejects it (available again).
#[utoipa::path(post, path = "/api/me/payouts", tag = "earnings", security(("bearer" = [])), request_body = PayoutRequest,
    responses((status = 201, body = PayoutView), (status = 409, body = ErrorBody, description = "`INSUFFICIENT_BALANCE` or `NO_PAYOUT_METHOD`"), (status = 422, body = ErrorBody)))]
pub async fn request_payout(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(r): ApiJson<PayoutRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<PayoutView>)> {
    let p = payouts::request(&state, auth.user.id, r.amount_minor, &r.currency).await?;
    Ok((axum::http::StatusCode::CREATED, Json(payout_view(&p))))
}

/// Where to finish Stripe's onboarding.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectLink {
    /// Stripe's onboarding page (single use, expires in minutes).
    pub url: String,
    /// When it expires.
    pub expires_at: String,
}

/// Connect a Stripe account for payouts: creates your Express account the first time, and
/// answers Stripe's onboarding page; you come back to your earnings page.
#[utoipa::path(post, path = "/api/me/payouts/connect", tag = "earnings", security(("bearer" = [])),
    responses((status = 200, body = ConnectLink), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn connect_stripe(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<ConnectLink>> {
    let (url, expires) = payouts::onboarding_link(&state, &auth.user).await?;
    Ok(Json(ConnectLink {
        url,
        expires_at: rfc3339(expires.saturating_mul(1000)),
    }))
}

/// Read your connected account's state from Stripe (after onboarding).
#[utoipa::path(post, path = "/api/me/payouts/connect/refresh", tag = "earnings", security(("bearer" = [])),
    responses((status = 200, body = PayoutMethod), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn refresh_stripe_connect(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<PayoutMethod>> {
    payouts::refresh_account(&state, auth.user.id).await?;
    Ok(Json(method(&state, auth.user.id).await?))
}

/// Bank details for bank transfers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankDetails {
    /// The account holder's name (empty, with empty details: remove).
    pub holder: String,
    /// IBAN and BIC, or account and routing numbers, as your bank needs them (at most 500
    /// characters; sealed at rest, shown only to administrators exporting payouts).
    pub details: String,
}

/// Set your bank details (used when payouts are made by bank transfer).
#[utoipa::path(put, path = "/api/me/payouts/bank", tag = "earnings", security(("bearer" = [])), request_body = BankDetails,
    responses((status = 200, body = PayoutMethod), (status = 422, body = ErrorBody)))]
pub async fn set_bank_details(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(b): ApiJson<BankDetails>,
) -> ApiResult<Json<PayoutMethod>> {
    payouts::set_bank(&state, auth.user.id, &b.holder, &b.details).await?;
    Ok(Json(method(&state, auth.user.id).await?))
}

/// A statement's figures in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementTotals {
    /// ISO code.
    pub currency: String,
    /// Balance at the start of the month (held and available together).
    pub opening: String,
    /// Income in the month (net of tax, fee and splits).
    pub income: String,
    /// Refunds and chargebacks.
    pub reversals: String,
    /// Payouts requested (less those rejected).
    pub payouts: String,
    /// Balance at the end of the month.
    pub closing: String,
}

/// One line of a statement.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementLineView {
    /// The movement.
    #[serde(flatten)]
    pub line: IncomeView,
    /// The balance after it, in its currency.
    pub balance: String,
}

/// A month's statement.
#[derive(Debug, Serialize, ToSchema)]
pub struct Statement {
    /// `YYYY-MM`.
    pub month: String,
    /// First instant (inclusive).
    pub from: String,
    /// Last instant (exclusive).
    pub to: String,
    /// Who.
    pub creator: String,
    /// The site.
    pub issuer: String,
    /// Per currency.
    pub totals: Vec<StatementTotals>,
    /// Every movement, oldest first.
    pub lines: Vec<StatementLineView>,
}

/// The most lines one statement holds.
const STATEMENT_LINES: i64 = 50_000;

async fn statement(
    state: &AppState,
    user: &ferrocast_db::accounts::UserRecord,
    month: &str,
) -> ApiResult<Statement> {
    let bad = || ApiError::validation("month: YYYY-MM, such as 2026-03");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad());
    }
    let from = month_start(y, m);
    let (ny, nm) = next_month(y, m);
    let to = month_start(ny, nm);
    let opening = state.db.creator_balance_before(user.id, from).await?;
    let lines = state
        .db
        .creator_lines(user.id, from, to, STATEMENT_LINES, false)
        .await?;
    let mut running: std::collections::BTreeMap<String, i64> = opening.iter().cloned().collect();
    let mut totals: std::collections::BTreeMap<String, [i64; 3]> =
        std::collections::BTreeMap::new();
    let mut views = Vec::with_capacity(lines.len());
    for l in &lines {
        let bal = running.entry(l.currency.clone()).or_default();
        *bal += l.amount_minor;
        let t = totals.entry(l.currency.clone()).or_default();
        match l.kind.as_str() {
            "income" => t[0] += l.amount_minor,
            "payout_request" | "payout_rejected" => t[2] += l.amount_minor,
            _ => t[1] += l.amount_minor,
        }
        views.push(StatementLineView {
            balance: format_money(*bal),
            line: income_view(l),
        });
    }
    let currencies: std::collections::BTreeSet<String> = running.keys().cloned().collect();
    let totals = currencies
        .into_iter()
        .map(|c| {
            let open = opening.iter().find(|(k, _)| *k == c).map_or(0, |(_, v)| *v);
            let t = totals.get(&c).copied().unwrap_or_default();
            StatementTotals {
                opening: format_money(open),
                income: format_money(t[0]),
                reversals: format_money(t[1]),
                payouts: format_money(-t[2]),
                closing: format_money(running.get(&c).copied().unwrap_or(open)),
                currency: c,
            }
        })
        .collect();
    Ok(Statement {
        month: format!("{y:04}-{m:02}"),
        from: rfc3339(from),
        to: rfc3339(to),
        creator: format!("{} (@{}) <{}>", user.display_name, user.handle, user.email),
        issuer: state.config.public_url.clone(),
        totals,
        lines: views,
    })
}

/// A CSV field, quoted when it needs to be; a field a spreadsheet would run as a formula is
/// prefixed with `'`.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A CSV download.
pub fn csv_download(name: &str, body: String) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// Your statement for a month (`YYYY-MM`), or as CSV (`YYYY-MM.csv`): the opening balance,
/// every movement with the balance after it, and the closing balance, per currency.
#[utoipa::path(get, path = "/api/me/statements/{month}", tag = "earnings", security(("bearer" = [])),
    params(("month" = String, Path, description = "`YYYY-MM`, or `YYYY-MM.csv` for CSV")),
    responses((status = 200, body = Statement), (status = 200, content_type = "text/csv", description = "The statement as CSV"), (status = 422, body = ErrorBody)))]
pub async fn my_statement(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(month): Path<String>,
) -> ApiResult<Response> {
    let (month, csv) = match month.strip_suffix(".csv") {
        Some(m) => (m.to_owned(), true),
        None => (month, false),
    };
    let s = statement(&state, &auth.user, &month).await?;
    if !csv {
        return Ok(Json(s).into_response());
    }
    let mut out = String::from("date,kind,from,description,amount,currency,balance\n");
    for t in &s.totals {
        out.push_str(&format!(
            "{},opening balance,,,,{},{}\n",
            &s.from[..10],
            t.currency,
            t.opening
        ));
    }
    for l in &s.lines {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            &l.line.at[..10],
            csv_field(&l.line.kind),
            csv_field(l.line.from.as_deref().unwrap_or("")),
            csv_field(&l.line.memo),
            l.line.amount.amount,
            l.line.amount.currency,
            l.balance
        ));
    }
    for t in &s.totals {
        out.push_str(&format!(
            "{},closing balance,,,,{},{}\n",
            &s.to[..10],
            t.currency,
            t.closing
        ));
    }
    Ok(csv_download(&format!("statement-{}.csv", s.month), out))
}

/// One share of a split.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShareView {
    /// The collaborator's channel handle.
    pub handle: String,
    /// Their display name (in answers).
    #[serde(default, skip_deserializing)]
    pub display_name: String,
    /// Percent, at most two decimals (`"33.34"`); the shares sum to 100.
    pub percent: String,
}

/// A split.
#[derive(Debug, Serialize, ToSchema)]
pub struct SplitView {
    /// `channel`, `video` or `source`.
    pub scope: String,
    /// `channel`, the video's id or the source's id.
    pub target: String,
    /// The channel's, video's or stream's name.
    pub name: String,
    /// The shares, yours first.
    pub shares: Vec<ShareView>,
}

/// Your splits.
#[derive(Debug, Serialize, ToSchema)]
pub struct SplitList {
    /// By scope and target.
    pub splits: Vec<SplitView>,
}

async fn split_list(
    state: &AppState,
    owner: &ferrocast_db::accounts::UserRecord,
) -> ApiResult<SplitList> {
    let rows = state.db.splits_of_creator(owner.id).await?;
    let mut splits: Vec<SplitView> = Vec::new();
    let mut last: Option<(String, i64)> = None;
    let mut skip = false;
    for r in rows {
        let key = (r.scope.clone(), r.target_id);
        if last.as_ref() != Some(&key) {
            last = Some(key);
            match splits::describe(state, owner, &r.scope, r.target_id).await? {
                // The video or source is gone: its split no longer applies to anything.
                None => skip = true,
                Some(t) => {
                    skip = false;
                    splits.push(SplitView {
                        scope: r.scope.clone(),
                        target: t.public,
                        name: t.name,
                        shares: Vec::new(),
                    });
                }
            }
        }
        if skip {
            continue;
        }
        let (handle, display_name) = state
            .db
            .user_by_id(r.user_id)
            .await?
            .map(|u| (u.handle, u.display_name))
            .unwrap_or_default();
        if let Some(s) = splits.last_mut() {
            s.shares.push(ShareView {
                handle,
                display_name,
                percent: splits::bps_to_percent(r.bps),
            });
        }
    }
    Ok(SplitList { splits })
}

/// Your collaborator splits.
#[utoipa::path(get, path = "/api/me/splits", tag = "earnings", security(("bearer" = [])),
    responses((status = 200, body = SplitList)))]
pub async fn my_splits(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<SplitList>> {
    Ok(Json(split_list(&state, &auth.user).await?))
}

/// A split to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitChange {
    /// `channel`, `video` or `source` (a live stream).
    pub scope: String,
    /// The video's id or the source's id (not for `channel`).
    pub target: Option<String>,
    /// 1 to 20 shares summing to 100 %; empty: the income is yours alone again.
    pub shares: Vec<ShareView>,
}

/// Set how the income of your channel, a video or a live stream is divided between
/// collaborators (after tax and the platform's fee); it applies to income from now on.
#[utoipa::path(put, path = "/api/me/splits", tag = "earnings", security(("bearer" = [])), request_body = SplitChange,
    responses((status = 200, body = SplitList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_split(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(c): ApiJson<SplitChange>,
) -> ApiResult<Json<SplitList>> {
    let target = splits::target(&state, &auth.user, c.scope.trim(), c.target.as_deref()).await?;
    let given: Vec<(String, String)> = c
        .shares
        .into_iter()
        .map(|s| (s.handle, s.percent))
        .collect();
    let shares = if given.is_empty() {
        Vec::new()
    } else {
        splits::shares(&state, &given).await?
    };
    state
        .db
        .set_splits(
            auth.user.id,
            target.scope,
            target.id,
            &shares,
            state.clock.now_ms(),
        )
        .await?;
    tracing::info!(
        user = auth.user.uuid,
        scope = target.scope,
        target = target.public,
        shares = shares.len(),
        "split set"
    );
    Ok(Json(split_list(&state, &auth.user).await?))
}

/// A purchase's receipt, for its buyer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseReceipt {
    /// The purchase's id (the receipt number).
    pub id: String,
    /// `tip`, `membership` or `ppv`.
    pub kind: String,
    /// What was bought, in words.
    pub description: String,
    /// `paid`, `refunded` or `disputed`.
    pub status: String,
    /// What was paid, tax included.
    pub amount: MoneyAmount,
    /// The tax included.
    pub tax: MoneyAmount,
    /// What the tax is called (`VAT`), if any was charged.
    pub tax_label: Option<String>,
    /// The country whose rate applied.
    pub tax_country: Option<String>,
    /// The amount before tax.
    pub net: MoneyAmount,
    /// The gateway.
    pub provider: String,
    /// The gateway's payment reference.
    pub reference: Option<String>,
    /// When paid.
    pub paid_at: Option<String>,
    /// Who paid.
    pub billed_to: String,
    /// The creator paid.
    pub creator: String,
    /// The site.
    pub seller: String,
}

/// One of your purchases (a tip, membership or pay-per-view) as a receipt, with the tax it
/// included.
#[utoipa::path(get, path = "/api/me/purchases/{id}/receipt", tag = "earnings", security(("bearer" = [])),
    params(("id" = String, Path, description = "The purchase's id")),
    responses((status = 200, body = PurchaseReceipt), (status = 404, body = ErrorBody)))]
pub async fn purchase_receipt(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PurchaseReceipt>> {
    if id.len() > 64 {
        return Err(ApiError::not_found("receipt"));
    }
    let p = state
        .db
        .purchase_by_uuid(&id)
        .await?
        .filter(|p| p.buyer_id == auth.user.id && p.paid_at.is_some())
        .ok_or_else(|| ApiError::not_found("receipt"))?;
    let creator = state.db.user_by_id(p.creator_id).await?;
    let creator_name = creator
        .as_ref()
        .map(|c| format!("{} (@{})", c.display_name, c.handle))
        .unwrap_or_else(|| "a former creator".into());
    let tax_label = match (&p.tax_country, p.tax_minor) {
        (Some(c), t) if t > 0 => Some(
            state
                .db
                .tax_rate(c)
                .await?
                .map(|(_, label)| label)
                .unwrap_or_else(|| "Tax".into()),
        ),
        _ => None,
    };
    let description = match p.kind.as_str() {
        "tip" => format!("Tip to {creator_name}"),
        "membership" => format!("Membership of {creator_name}'s channel"),
        "ppv" => format!("Pay-per-view from {creator_name}"),
        k => format!("{k} from {creator_name}"),
    };
    Ok(Json(PurchaseReceipt {
        id: p.uuid.clone(),
        kind: p.kind.clone(),
        description,
        status: p.status.clone(),
        amount: money(p.amount_minor, &p.currency),
        tax: money(p.tax_minor, &p.currency),
        net: money(p.amount_minor - p.tax_minor, &p.currency),
        tax_label,
        tax_country: p.tax_country.clone(),
        provider: p.provider.clone(),
        reference: p.provider_payment_id.clone(),
        paid_at: p.paid_at.map(rfc3339),
        billed_to: format!("{} <{}>", auth.user.display_name, auth.user.email),
        creator: creator_name,
        seller: state.config.public_url.clone(),
    }))
}
