//! Payout I/O (adapter layer, like `crate::gateways`): paying creators: Stripe Connect onboarding (an Express account per creator, its state from
//! Stripe), bank details for bank transfers (sealed), payout requests above the minimum, and
//! the administrator's decisions: approval pays through a Stripe transfer to the creator's
//! connected account where Stripe is configured and the account is onboarded, else queues the
//! payout for a bank transfer (CSV export, then marked paid); rejection reverses the request.
//! Every decision is recorded as the administrator's action.

use crate::error::ApiError;
use crate::routes::admin::record_action;
use crate::service::vault::Sealed;
use crate::state::AppState;
use ferrocast_db::payouts::{PayoutAccount, PayoutRecord, PayoutStep, RequestOutcome};
use ferrocast_domain::plans::format_money;
use ferrocast_payments::stripe::error_message;
use ferrocast_payments::stripe_connect::{self, Account, TransferRequest};
use reqwest::StatusCode;
use std::time::Duration;

/// A Stripe call that takes longer fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest bank account holder name.
pub const MAX_HOLDER: usize = 140;
/// Longest bank details text.
pub const MAX_BANK_DETAILS: usize = 500;
/// Longest reason or bank reference an administrator gives.
pub const MAX_NOTE: usize = 300;

/// 502 for a Stripe call that failed, in words.
fn stripe_failed(what: &str, why: String) -> ApiError {
    tracing::warn!(error = %why, "Stripe Connect call failed: {what}");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "GATEWAY_ERROR",
        format!("Stripe could not {what}"),
        format!("{why}. Try again in a moment."),
    )
}

/// Whether this node can pay through Stripe Connect (Stripe's keys are set).
pub fn stripe_enabled(state: &AppState) -> bool {
    state.config.payments.stripe.is_some()
}

/// Sends a Stripe request; the reply body or Stripe's words for a refusal.
async fn stripe_call(req: reqwest::RequestBuilder) -> Result<Vec<u8>, String> {
    let resp = req
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("cannot reach Stripe: {e}"))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading Stripe's reply failed: {e}"))?;
    if status.is_success() {
        Ok(body.to_vec())
    } else {
        Err(format!("{status}: {}", error_message(&body)))
    }
}

/// The onboarding URL for `user`'s connected account (created first if they have none).
pub async fn onboarding_link(
    state: &AppState,
    user: &ferrocast_db::accounts::UserRecord,
) -> Result<(String, i64), ApiError> {
    let keys = crate::gateways::stripe_keys(state)?;
    let now = state.clock.now_ms();
    let existing = state
        .db
        .payout_account(user.id)
        .await?
        .and_then(|a| a.stripe_account_id);
    let account_id = match existing {
        Some(a) => a,
        None => {
            let body = stripe_call(
                state
                    .http
                    .post(format!("{}/v1/accounts", keys.api_base))
                    .bearer_auth(keys.secret_key.expose())
                    .form(&stripe_connect::account_form(
                        Some(&user.email),
                        None,
                        &user.uuid,
                    )),
            )
            .await
            .map_err(|e| stripe_failed("create your connected account", e))?;
            let a = stripe_connect::account_reply(&body)
                .map_err(|e| stripe_failed("create your connected account", e.to_string()))?;
            state.db.set_stripe_account(user.id, &a.id, now).await?;
            state
                .db
                .set_stripe_account_state(
                    &a.id,
                    a.details_submitted,
                    a.charges_enabled,
                    a.payouts_enabled,
                    now,
                )
                .await?;
            tracing::info!(
                user = user.uuid,
                account = a.id,
                "Stripe connected account created"
            );
            a.id
        }
    };
    let base = state.config.public_url.trim_end_matches('/');
    let body = stripe_call(
        state
            .http
            .post(format!("{}/v1/account_links", keys.api_base))
            .bearer_auth(keys.secret_key.expose())
            .form(&stripe_connect::account_link_form(
                &account_id,
                &format!("{base}/dashboard/earnings?connect=refresh"),
                &format!("{base}/dashboard/earnings?connect=return"),
            )),
    )
    .await
    .map_err(|e| stripe_failed("start onboarding", e))?;
    stripe_connect::account_link_reply(&body)
        .map_err(|e| stripe_failed("start onboarding", e.to_string()))
}

/// Reads `user_id`'s connected account from Stripe and stores its state; the account now.
pub async fn refresh_account(
    state: &AppState,
    user_id: i64,
) -> Result<Option<PayoutAccount>, ApiError> {
    let Some(account) = state.db.payout_account(user_id).await? else {
        return Ok(None);
    };
    let Some(id) = account.stripe_account_id.clone() else {
        return Ok(Some(account));
    };
    let keys = crate::gateways::stripe_keys(state)?;
    if !stripe_connect::is_account_id(&id) {
        return Ok(Some(account));
    }
    let body = stripe_call(
        state
            .http
            .get(format!("{}/v1/accounts/{id}", keys.api_base))
            .bearer_auth(keys.secret_key.expose()),
    )
    .await
    .map_err(|e| stripe_failed("read your connected account", e))?;
    let a = stripe_connect::account_reply(&body)
        .map_err(|e| stripe_failed("read your connected account", e.to_string()))?;
    apply_account(state, &a).await?;
    Ok(state.db.payout_account(user_id).await?)
}

/// Stores a connected account's state from Stripe; whether the account is known here.
pub async fn apply_account(state: &AppState, a: &Account) -> Result<bool, ApiError> {
    let known = state
        .db
        .set_stripe_account_state(
            &a.id,
            a.details_submitted,
            a.charges_enabled,
            a.payouts_enabled,
            state.clock.now_ms(),
        )
        .await?;
    if known {
        tracing::info!(
            account = a.id,
            ready = a.ready(),
            "Stripe connected account updated"
        );
    }
    Ok(known)
}

/// Seals and stores `user_id`'s bank details (or removes them when both are empty).
pub async fn set_bank(
    state: &AppState,
    user_id: i64,
    holder: &str,
    details: &str,
) -> Result<(), ApiError> {
    let holder = holder.trim();
    let details = details.trim();
    if holder.chars().count() > MAX_HOLDER || details.chars().count() > MAX_BANK_DETAILS {
        return Err(ApiError::validation(format!(
            "holder: at most {MAX_HOLDER} characters; details: at most {MAX_BANK_DETAILS} characters"
        )));
    }
    if holder.chars().any(char::is_control) || details.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(ApiError::validation(
            "holder and details: no control characters",
        ));
    }
    let now = state.clock.now_ms();
    let audited = |removed: bool| {
        state.audit.note(
            crate::service::audit::AuditEvent::new(
                "payout.bank_details_changed",
                crate::service::audit::Actor::User(user_id),
            )
            .subject("user", user_id)
            .details(serde_json::json!({"removed": removed})),
        )
    };
    if holder.is_empty() && details.is_empty() {
        state.db.set_bank_details(user_id, None, None, now).await?;
        audited(true).await;
        return Ok(());
    }
    if holder.is_empty() || details.is_empty() {
        return Err(ApiError::validation(
            "holder and details: give both (the account holder's name, and the IBAN or account and routing numbers), or neither to remove them",
        ));
    }
    let sealed = state
        .vault
        .seal(Sealed::PayoutBank(user_id), details.as_bytes());
    state
        .db
        .set_bank_details(user_id, Some(holder), Some(&sealed), now)
        .await?;
    audited(false).await;
    Ok(())
}

/// `user_id`'s bank details, opened (for the operator's export and the creator's own view).
pub fn open_bank(state: &AppState, account: &PayoutAccount) -> Option<String> {
    let sealed = account.bank_details_sealed.as_deref()?;
    match state
        .vault
        .open_text(Sealed::PayoutBank(account.user_id), sealed)
    {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(error = %e, user = account.user_id, "a creator's bank details do not open");
            None
        }
    }
}

/// The last four characters of bank details (what the creator's page shows).
pub fn masked(details: &str) -> String {
    let tail: String = details
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<Vec<_>>()
        .iter()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("•••• {tail}")
}

/// Requests a payout for `user_id` (at least the minimum, at most what is available; they need
/// a way to be paid first).
pub async fn request(
    state: &AppState,
    user_id: i64,
    amount: i64,
    currency: &str,
) -> Result<PayoutRecord, ApiError> {
    let currency = currency.trim().to_ascii_uppercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::validation(
            "currency: an ISO 4217 code such as USD",
        ));
    }
    let minimum = state.config.payments.payout_minimum;
    if amount < minimum {
        return Err(ApiError::validation(format!(
            "amount_minor: the smallest payout is {} {currency}",
            format_money(minimum)
        )));
    }
    if amount > 1_000_000_000_000 {
        return Err(ApiError::validation("amount_minor: too large"));
    }
    let account = state.db.payout_account(user_id).await?.unwrap_or_default();
    let stripe_ready = stripe_enabled(state) && account.stripe_ready();
    if !stripe_ready && account.bank_details_sealed.is_none() {
        return Err(ApiError::conflict(
            "NO_PAYOUT_METHOD",
            "Add a way to be paid first",
            if stripe_enabled(state) {
                "Connect a Stripe account from your earnings page, or give your bank details."
            } else {
                "Give your bank details on your earnings page."
            },
        ));
    }
    let uuid = uuid::Uuid::new_v4().to_string();
    match state.db.request_payout(user_id, &uuid, amount, &currency, state.clock.now_ms()).await? {
        RequestOutcome::Requested(p) => {
            tracing::info!(user = user_id, payout = p.uuid, amount, currency, "payout requested");
            state
                .audit
                .note(
                    crate::service::audit::AuditEvent::new(
                        "payout.requested",
                        crate::service::audit::Actor::User(user_id),
                    )
                    .subject("payout", &p.uuid)
                    .details(serde_json::json!({"amount_minor": amount, "currency": currency})),
                )
                .await;
            Ok(p)
        }
        RequestOutcome::Insufficient(available) => Err(ApiError::conflict(
            "INSUFFICIENT_BALANCE",
            "Not that much is available",
            format!(
                "{} {currency} is available now; income becomes available {} days after it is earned.",
                format_money(available),
                state.config.payments.payout_hold_days
            ),
        )),
    }
}

fn step(outcome: PayoutStep) -> Result<PayoutRecord, ApiError> {
    match outcome {
        PayoutStep::Done(p) => Ok(p),
        PayoutStep::Missing => Err(ApiError::not_found("payout")),
        PayoutStep::WrongState(s) => Err(ApiError::conflict(
            "PAYOUT_STATE",
            format!("The payout is {s}"),
            "Reload the payout queue: someone else may have decided it.",
        )),
    }
}

/// Approves a payout: a Stripe transfer to the creator's connected account where Stripe is
/// configured and the account onboarded (the payout is paid when Stripe accepts it), else
/// queued for a bank transfer. Retrying after a failure sends the same idempotency key.
pub async fn approve(state: &AppState, admin: i64, uuid: &str) -> Result<PayoutRecord, ApiError> {
    let payout = state
        .db
        .payout_by_uuid(uuid)
        .await?
        .ok_or_else(|| ApiError::not_found("payout"))?;
    let now = state.clock.now_ms();
    if payout.status != "requested" {
        return step(PayoutStep::WrongState(payout.status));
    }
    let account = state
        .db
        .payout_account(payout.user_id)
        .await?
        .unwrap_or_default();
    // A transfer already started goes to the account it started with.
    let stripe_account = payout.stripe_account_id.clone().or_else(|| {
        account
            .stripe_ready()
            .then(|| account.stripe_account_id.clone())
            .flatten()
    });
    let keys = state.config.payments.stripe.as_ref();
    let (Some(keys), Some(destination)) = (keys, stripe_account) else {
        if account.bank_details_sealed.is_none() {
            return Err(ApiError::conflict(
                "NO_PAYOUT_METHOD",
                "The creator has no way to be paid",
                "They need an onboarded Stripe account or bank details; reject the payout or ask them to add one.",
            ));
        }
        let p = step(state.db.approve_payout_for_bank(uuid, admin, now).await?)?;
        record_action(state, admin, "payout_approved", Some(p.user_id), serde_json::json!({"payout": p.uuid, "amount": format_money(p.amount_minor), "currency": p.currency, "method": "bank"})).await;
        return Ok(p);
    };
    let p = step(
        state
            .db
            .start_payout_transfer(uuid, admin, &destination, now)
            .await?,
    )?;
    let destination = p.stripe_account_id.clone().unwrap_or(destination);
    let group = format!("payout_{}", p.uuid);
    let form = stripe_connect::transfer_form(&TransferRequest {
        amount: p.amount_minor,
        currency: &p.currency,
        destination: &destination,
        transfer_group: &group,
        description: "ferrocast creator payout",
        payout: &p.uuid,
    });
    let sent = stripe_call(
        state
            .http
            .post(format!("{}/v1/transfers", keys.api_base))
            .bearer_auth(keys.secret_key.expose())
            .header(
                "Idempotency-Key",
                stripe_connect::transfer_idempotency_key(&p.uuid),
            )
            .form(&form),
    )
    .await
    .and_then(|body| stripe_connect::transfer_reply(&body).map_err(|e| e.to_string()));
    let transfer = match sent {
        Ok(t)
            if t.amount == p.amount_minor
                && t.currency == p.currency
                && t.destination == destination =>
        {
            t
        }
        Ok(t) => {
            let why = format!(
                "Stripe answered transfer {} of {} {} to {}, not this payout",
                t.id, t.amount, t.currency, t.destination
            );
            state.db.set_payout_error(uuid, &why).await?;
            return Err(stripe_failed("make the transfer", why));
        }
        Err(why) => {
            state.db.set_payout_error(uuid, &why).await?;
            return Err(stripe_failed("make the transfer", why));
        }
    };
    let p = step(
        state
            .db
            .payout_paid(uuid, admin, Some(&transfer.id), None, state.clock.now_ms())
            .await?,
    )?;
    tracing::info!(
        payout = p.uuid,
        transfer = transfer.id,
        "payout paid through Stripe"
    );
    record_action(state, admin, "payout_approved", Some(p.user_id), serde_json::json!({"payout": p.uuid, "amount": format_money(p.amount_minor), "currency": p.currency, "method": "stripe", "transfer": transfer.id})).await;
    Ok(p)
}

/// Rejects a payout not yet paid, with why: the money is available to the creator again.
pub async fn reject(
    state: &AppState,
    admin: i64,
    uuid: &str,
    reason: &str,
) -> Result<PayoutRecord, ApiError> {
    let reason = reason.trim();
    if reason.is_empty()
        || reason.chars().count() > MAX_NOTE
        || reason.chars().any(char::is_control)
    {
        return Err(ApiError::validation(format!(
            "reason: 1 to {MAX_NOTE} characters (the creator reads it), no control characters"
        )));
    }
    let p = step(
        state
            .db
            .reject_payout(uuid, admin, reason, state.clock.now_ms())
            .await?,
    )?;
    record_action(state, admin, "payout_rejected", Some(p.user_id), serde_json::json!({"payout": p.uuid, "amount": format_money(p.amount_minor), "currency": p.currency, "reason": reason})).await;
    Ok(p)
}

/// Marks a payout approved for bank transfer paid, with the transfer's reference.
pub async fn mark_paid(
    state: &AppState,
    admin: i64,
    uuid: &str,
    reference: Option<&str>,
) -> Result<PayoutRecord, ApiError> {
    let reference = reference.map(str::trim).filter(|r| !r.is_empty());
    if reference.is_some_and(|r| r.chars().count() > MAX_NOTE || r.chars().any(char::is_control)) {
        return Err(ApiError::validation(format!(
            "reference: at most {MAX_NOTE} characters, no control characters"
        )));
    }
    let p = step(
        state
            .db
            .payout_paid(uuid, admin, None, reference, state.clock.now_ms())
            .await?,
    )?;
    record_action(state, admin, "payout_marked_paid", Some(p.user_id), serde_json::json!({"payout": p.uuid, "amount": format_money(p.amount_minor), "currency": p.currency, "reference": reference})).await;
    Ok(p)
}
