//! Creator payouts, collaborator splits, tax rates, and the figures the earnings and revenue
//! pages read from the ledger (issue 20).
//!
//! A payout moves money through the ledger in steps, each posted once by its reference and in
//! the same database transaction as the payout's change of state:
//! - request (`payout:{uuid}:request`): the creator's available balance → `payouts:in_flight`,
//!   after checking, with the creator's work serialised, that it is available;
//! - paid (`payout:{uuid}:paid`): `payouts:in_flight` → `payouts:paid`, when the Stripe transfer
//!   was made or the administrator marks the bank transfer done;
//! - rejected (`payout:{uuid}:rejected`): the request reversed, the money available again.

use crate::ledger::{NewTransaction, Posting};
use crate::{on_pool, Db, DbError};
use ferrocast_domain::ledger::{account, Split};
use sqlx::Row;

/// How a creator is paid, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PayoutAccount {
    /// The creator.
    pub user_id: i64,
    /// Their Stripe Connect account (`acct_…`), once created.
    pub stripe_account_id: Option<String>,
    /// Stripe onboarding submitted.
    pub details_submitted: bool,
    /// The account can take charges.
    pub charges_enabled: bool,
    /// Stripe can pay out to the creator's bank.
    pub payouts_enabled: bool,
    /// The bank account holder's name, for bank transfers.
    pub bank_holder: Option<String>,
    /// The bank details (IBAN, account and routing numbers…), sealed with the master key.
    pub bank_details_sealed: Option<String>,
    /// Last change (ms).
    pub updated_at: i64,
}

impl PayoutAccount {
    /// Whether Stripe transfers to it may be made.
    pub fn stripe_ready(&self) -> bool {
        self.stripe_account_id.is_some() && self.details_submitted && self.payouts_enabled
    }
}

/// A payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRecord {
    /// Internal id (the ledger's `payout_id`).
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// The creator.
    pub user_id: i64,
    /// Minor units.
    pub amount_minor: i64,
    /// ISO code.
    pub currency: String,
    /// `requested`, `approved`, `paid` or `rejected`.
    pub status: String,
    /// `stripe` or `bank`, once decided.
    pub method: Option<String>,
    /// The request's ledger transaction.
    pub request_tx: Option<i64>,
    /// The payment's ledger transaction.
    pub settle_tx: Option<i64>,
    /// The rejection's ledger transaction.
    pub reversal_tx: Option<i64>,
    /// The connected account paid.
    pub stripe_account_id: Option<String>,
    /// Stripe's transfer (`tr_…`).
    pub transfer_id: Option<String>,
    /// The bank transfer's reference the administrator gave.
    pub bank_reference: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// The last failed attempt to pay it.
    pub last_error: Option<String>,
    /// The administrator who decided.
    pub decided_by: Option<i64>,
    /// When requested (ms).
    pub requested_at: i64,
    /// When approved or rejected.
    pub decided_at: Option<i64>,
    /// When first exported for a bank transfer.
    pub exported_at: Option<i64>,
    /// When paid.
    pub paid_at: Option<i64>,
}

const PAYOUT_COLUMNS: &str = "id, uuid, user_id, amount_minor, currency, status, method, request_tx, settle_tx, reversal_tx, \
     stripe_account_id, transfer_id, bank_reference, reason, last_error, decided_by, requested_at, decided_at, exported_at, paid_at";

macro_rules! payout_from_row {
    ($r:expr) => {
        PayoutRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            user_id: $r.try_get("user_id")?,
            amount_minor: $r.try_get("amount_minor")?,
            currency: $r.try_get("currency")?,
            status: $r.try_get("status")?,
            method: $r.try_get("method")?,
            request_tx: $r.try_get("request_tx")?,
            settle_tx: $r.try_get("settle_tx")?,
            reversal_tx: $r.try_get("reversal_tx")?,
            stripe_account_id: $r.try_get("stripe_account_id")?,
            transfer_id: $r.try_get("transfer_id")?,
            bank_reference: $r.try_get("bank_reference")?,
            reason: $r.try_get("reason")?,
            last_error: $r.try_get("last_error")?,
            decided_by: $r.try_get("decided_by")?,
            requested_at: $r.try_get("requested_at")?,
            decided_at: $r.try_get("decided_at")?,
            exported_at: $r.try_get("exported_at")?,
            paid_at: $r.try_get("paid_at")?,
        }
    };
}

/// A payout with its creator, for administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPayoutRow {
    /// The payout.
    pub payout: PayoutRecord,
    /// The creator's email.
    pub email: String,
    /// Their display name.
    pub display_name: String,
    /// How they are paid.
    pub account: PayoutAccount,
}

/// What a payout request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Requested: the money is in flight.
    Requested(PayoutRecord),
    /// Less is available than asked (this much is).
    Insufficient(i64),
}

/// What a step of a payout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutStep {
    /// Done (or done before: the same step again changes nothing); the payout now.
    Done(PayoutRecord),
    /// The payout is in another state (given) and cannot take this step.
    WrongState(String),
    /// No such payout.
    Missing,
}

/// A creator's income over a span, per purchase kind and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomeByKind {
    /// `tip`, `membership`, `ppv`, or the ledger's kind for other income (`refund`…).
    pub kind: String,
    /// ISO code.
    pub currency: String,
    /// Net to the creator (after tax, fee and splits; refunds negative), minor units.
    pub amount_minor: i64,
    /// Entries.
    pub count: i64,
}

/// One movement on a creator's balance, for the earnings page and statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomeLine {
    /// The entry's id.
    pub entry_id: i64,
    /// When posted (ms).
    pub created_at: i64,
    /// When it may be paid out (ms).
    pub available_at: i64,
    /// The ledger transaction's kind (`income`, `refund`, `chargeback`, `payout_request`…).
    pub kind: String,
    /// The purchase's kind, if it came from one.
    pub purchase_kind: Option<String>,
    /// The purchase's public id.
    pub purchase_uuid: Option<String>,
    /// Who paid (the name they gave).
    pub from_name: Option<String>,
    /// The ledger reference.
    pub reference: String,
    /// The ledger line.
    pub memo: String,
    /// Signed minor units to the creator.
    pub amount_minor: i64,
    /// ISO code.
    pub currency: String,
}

/// Paid purchases per kind and currency, for administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseTotals {
    /// `tip`, `membership` or `ppv`.
    pub kind: String,
    /// ISO code.
    pub currency: String,
    /// What buyers paid (tax included) for purchases now paid, minor units.
    pub gross_minor: i64,
    /// Tax included in it.
    pub tax_minor: i64,
    /// How many.
    pub count: i64,
    /// Refunded or disputed since (not in the gross).
    pub reversed: i64,
}

/// A tax rate the operator set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxRate {
    /// ISO 3166 alpha-2, upper case.
    pub country: String,
    /// Basis points (2000 = 20 %).
    pub rate_bps: i64,
    /// What receipts call it (`VAT`, `GST`…).
    pub label: String,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A stored split share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRow {
    /// `channel`, `video` or `source`.
    pub scope: String,
    /// The channel's owner, the video's or the source's id.
    pub target_id: i64,
    /// Who receives the share.
    pub user_id: i64,
    /// Basis points.
    pub bps: i64,
}

/// The ledger reference of a payout step.
pub fn payout_reference(uuid: &str, step: &str) -> String {
    format!("payout:{uuid}:{step}")
}

/// Serialises money work for one creator (their requests see each other's postings).
macro_rules! lock_creator {
    ($tx:expr, $user:expr) => {
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind($user)
            .execute(&mut *$tx)
            .await?;
    };
}

macro_rules! payout_in {
    ($tx:expr, $uuid:expr) => {{
        let sql = format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE uuid = $1");
        match sqlx::query(&sql)
            .bind($uuid)
            .fetch_optional(&mut *$tx)
            .await?
        {
            Some(r) => Some(payout_from_row!(r)),
            None => None,
        }
    }};
}

macro_rules! account_from_row {
    ($r:expr) => {
        PayoutAccount {
            user_id: $r.try_get("user_id")?,
            stripe_account_id: $r.try_get("stripe_account_id")?,
            details_submitted: $r.try_get("details_submitted")?,
            charges_enabled: $r.try_get("charges_enabled")?,
            payouts_enabled: $r.try_get("payouts_enabled")?,
            bank_holder: $r.try_get("bank_holder")?,
            bank_details_sealed: $r.try_get("bank_details_sealed")?,
            updated_at: $r.try_get("updated_at")?,
        }
    };
}

const ACCOUNT_COLUMNS: &str = "user_id, stripe_account_id, details_submitted, charges_enabled, payouts_enabled, bank_holder, bank_details_sealed, updated_at";

impl Db {
    /// How `user_id` is paid, if they set it up.
    pub async fn payout_account(&self, user_id: i64) -> Result<Option<PayoutAccount>, DbError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM payout_accounts WHERE user_id = $1");
        on_pool!(self, p => {
            Ok(match sqlx::query(&sql).bind(user_id).fetch_optional(p).await? {
                Some(r) => Some(account_from_row!(r)),
                None => None,
            })
        })
    }

    /// The creator whose connected account is `account_id`, if any.
    pub async fn payout_account_by_stripe(&self, account_id: &str) -> Result<Option<i64>, DbError> {
        on_pool!(self, p => {
            Ok(sqlx::query_scalar::<_, i64>("SELECT user_id FROM payout_accounts WHERE stripe_account_id = $1")
                .bind(account_id)
                .fetch_optional(p).await?)
        })
    }

    /// Records `user_id`'s Stripe connected account (onboarding not done yet).
    pub async fn set_stripe_account(
        &self,
        user_id: i64,
        account_id: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO payout_accounts (user_id, stripe_account_id, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET stripe_account_id = excluded.stripe_account_id, \
                 details_submitted = FALSE, charges_enabled = FALSE, payouts_enabled = FALSE, updated_at = excluded.updated_at",
            )
            .bind(user_id).bind(account_id).bind(now)
            .execute(p).await.map_err(crate::map_unique)?;
            Ok(())
        })
    }

    /// Updates a connected account's state (from Stripe); whether the account is known here.
    pub async fn set_stripe_account_state(
        &self,
        account_id: &str,
        details_submitted: bool,
        charges_enabled: bool,
        payouts_enabled: bool,
        now: i64,
    ) -> Result<bool, DbError> {
        on_pool!(self, p => {
            Ok(sqlx::query(
                "UPDATE payout_accounts SET details_submitted = $2, charges_enabled = $3, payouts_enabled = $4, updated_at = $5 \
                 WHERE stripe_account_id = $1",
            )
            .bind(account_id).bind(details_submitted).bind(charges_enabled).bind(payouts_enabled).bind(now)
            .execute(p).await?.rows_affected() > 0)
        })
    }

    /// Sets (or, with `None`, removes) `user_id`'s bank details for bank transfers.
    pub async fn set_bank_details(
        &self,
        user_id: i64,
        holder: Option<&str>,
        sealed: Option<&str>,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO payout_accounts (user_id, bank_holder, bank_details_sealed, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id) DO UPDATE SET bank_holder = excluded.bank_holder, \
                 bank_details_sealed = excluded.bank_details_sealed, updated_at = excluded.updated_at",
            )
            .bind(user_id).bind(holder).bind(sealed).bind(now)
            .execute(p).await?;
            Ok(())
        })
    }

    /// Requests a payout of `amount` `currency` for `user_id`: with the creator's money work
    /// serialised, checks it is available and posts it in flight, in one transaction.
    pub async fn request_payout(
        &self,
        user_id: i64,
        uuid: &str,
        amount: i64,
        currency: &str,
        now: i64,
    ) -> Result<RequestOutcome, DbError> {
        if amount <= 0 {
            return Err(DbError::Invalid("a payout is more than zero".into()));
        }
        let creator = account::creator(user_id);
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            lock_creator!(tx, user_id);
            // Debits count whatever their time: `now` was read before the lock, so a request
            // committed a moment later (its debit stamped after our `now`) still reduces what
            // this one may take. A held income's reversal counts at once too, which only ever
            // refuses more, never pays out twice.
            let available: i64 = sqlx::query_scalar::<_, i64>(
                "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM ledger_entries \
                 WHERE account = $1 AND currency = $2 AND (available_at <= $3 OR amount_minor < 0)",
            )
            .bind(&creator).bind(currency).bind(now)
            .fetch_one(&mut *tx).await?;
            if available < amount {
                tx.rollback().await?;
                return Ok(RequestOutcome::Insufficient(available.max(0)));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO payouts (uuid, user_id, amount_minor, currency, status, requested_at) \
                 VALUES ($1, $2, $3, $4, 'requested', $5) RETURNING id",
            )
            .bind(uuid).bind(user_id).bind(amount).bind(currency).bind(now)
            .fetch_one(&mut *tx).await?;
            let t = NewTransaction {
                reference: payout_reference(uuid, "request"),
                kind: "payout_request".into(),
                currency: currency.to_owned(),
                memo: "Payout requested".into(),
                purchase_id: None,
                payout_id: Some(id),
                reverses_id: None,
                postings: vec![
                    Posting { account: creator.clone(), user_id: Some(user_id), amount_minor: -amount, available_at: now },
                    Posting { account: account::PAYOUTS_IN_FLIGHT.into(), user_id: Some(user_id), amount_minor: amount, available_at: now },
                ],
            };
            let posted = post_in!(tx, &t, now)?;
            sqlx::query("UPDATE payouts SET request_tx = $2 WHERE id = $1")
                .bind(id).bind(posted.id())
                .execute(&mut *tx).await?;
            let record = payout_in!(tx, uuid);
            tx.commit().await?;
            record.map(RequestOutcome::Requested).ok_or_else(|| DbError::Invalid("the payout vanished".into()))
        })
    }

    /// A payout by its public id.
    pub async fn payout_by_uuid(&self, uuid: &str) -> Result<Option<PayoutRecord>, DbError> {
        on_pool!(self, p => {
            let mut conn = p.acquire().await?;
            Ok(payout_in!(conn, uuid))
        })
    }

    /// `user_id`'s payouts, newest first.
    pub async fn payouts_of_user(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<PayoutRecord>, DbError> {
        let sql = format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).bind(limit.clamp(1, 500)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(payout_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Payouts for administrators, oldest first within `statuses` (all when empty), at most
    /// `limit`, each with its creator and how they are paid.
    pub async fn admin_payouts(
        &self,
        statuses: &[&str],
        limit: i64,
    ) -> Result<Vec<AdminPayoutRow>, DbError> {
        let cols: String = PAYOUT_COLUMNS
            .split(", ")
            .map(|c| format!("p.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let filter = if statuses.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = (0..statuses.len()).map(|i| format!("${}", i + 2)).collect();
            format!("WHERE p.status IN ({})", list.join(", "))
        };
        let sql = format!(
            "SELECT {cols}, u.email, u.display_name, a.stripe_account_id AS a_stripe, \
               COALESCE(a.details_submitted, FALSE) AS a_submitted, COALESCE(a.charges_enabled, FALSE) AS a_charges, \
               COALESCE(a.payouts_enabled, FALSE) AS a_payouts, a.bank_holder AS a_holder, a.bank_details_sealed AS a_bank, \
               COALESCE(a.updated_at, 0) AS a_updated \
             FROM payouts p JOIN users u ON u.id = p.user_id LEFT JOIN payout_accounts a ON a.user_id = p.user_id \
             {filter} ORDER BY CASE WHEN p.status IN ('requested', 'approved') THEN 0 ELSE 1 END, \
             CASE WHEN p.status IN ('requested', 'approved') THEN p.id ELSE -p.id END LIMIT $1"
        );
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql).bind(limit.clamp(1, 1000));
            for s in statuses {
                q = q.bind(*s);
            }
            let rows = q.fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let payout = payout_from_row!(r);
                out.push(AdminPayoutRow {
                    account: PayoutAccount {
                        user_id: payout.user_id,
                        stripe_account_id: r.try_get("a_stripe")?,
                        details_submitted: r.try_get("a_submitted")?,
                        charges_enabled: r.try_get("a_charges")?,
                        payouts_enabled: r.try_get("a_payouts")?,
                        bank_holder: r.try_get("a_holder")?,
                        bank_details_sealed: r.try_get("a_bank")?,
                        updated_at: r.try_get("a_updated")?,
                    },
                    payout,
                    email: r.try_get("email")?,
                    display_name: r.try_get("display_name")?,
                });
            }
            Ok(out)
        })
    }

    /// Approves a requested payout for a bank transfer (it is then in the CSV export).
    pub async fn approve_payout_for_bank(
        &self,
        uuid: &str,
        admin: i64,
        now: i64,
    ) -> Result<PayoutStep, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let changed = sqlx::query(
                "UPDATE payouts SET status = 'approved', method = 'bank', decided_by = $2, decided_at = $3, last_error = NULL \
                 WHERE uuid = $1 AND status = 'requested'",
            )
            .bind(uuid).bind(admin).bind(now)
            .execute(&mut *tx).await?.rows_affected();
            let record = payout_in!(tx, uuid);
            tx.commit().await?;
            Ok(match record {
                None => PayoutStep::Missing,
                Some(r) if changed > 0 || (r.status == "approved" && r.method.as_deref() == Some("bank")) => PayoutStep::Done(r),
                Some(r) => PayoutStep::WrongState(r.status),
            })
        })
    }

    /// Notes that a Stripe transfer to `stripe_account` is being made for a requested payout
    /// (before the call, so a retried approval pays the same account with the same key).
    pub async fn start_payout_transfer(
        &self,
        uuid: &str,
        admin: i64,
        stripe_account: &str,
        now: i64,
    ) -> Result<PayoutStep, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE payouts SET method = 'stripe', stripe_account_id = COALESCE(stripe_account_id, $2), decided_by = $3, decided_at = $4 \
                 WHERE uuid = $1 AND status = 'requested'",
            )
            .bind(uuid).bind(stripe_account).bind(admin).bind(now)
            .execute(&mut *tx).await?;
            let record = payout_in!(tx, uuid);
            tx.commit().await?;
            Ok(match record {
                None => PayoutStep::Missing,
                Some(r) if r.status == "requested" => PayoutStep::Done(r),
                Some(r) => PayoutStep::WrongState(r.status),
            })
        })
    }

    /// Records a failed attempt to pay a payout.
    pub async fn set_payout_error(&self, uuid: &str, error: &str) -> Result<(), DbError> {
        let error: String = error.chars().take(500).collect();
        on_pool!(self, p => {
            sqlx::query("UPDATE payouts SET last_error = $2 WHERE uuid = $1")
                .bind(uuid).bind(error)
                .execute(p).await?;
            Ok(())
        })
    }

    /// Marks a payout paid (a Stripe `transfer`, or a bank transfer with `bank_reference`) and
    /// posts its money from in flight to paid, in one transaction; again changes nothing.
    pub async fn payout_paid(
        &self,
        uuid: &str,
        admin: i64,
        transfer: Option<&str>,
        bank_reference: Option<&str>,
        now: i64,
    ) -> Result<PayoutStep, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // A write first: SQLite takes its write lock now (a read first would have to
            // upgrade, and fail under concurrent writers); PostgreSQL locks the payout's row.
            sqlx::query("UPDATE payouts SET uuid = uuid WHERE uuid = $1")
                .bind(uuid)
                .execute(&mut *tx)
                .await?;
            let Some(r) = payout_in!(tx, uuid) else {
                tx.rollback().await?;
                return Ok(PayoutStep::Missing);
            };
            lock_creator!(tx, r.user_id);
            if r.status == "paid" {
                tx.commit().await?;
                return Ok(PayoutStep::Done(r));
            }
            let allowed = match transfer {
                Some(_) => r.status == "requested",
                None => r.status == "approved",
            };
            if !allowed {
                tx.rollback().await?;
                return Ok(PayoutStep::WrongState(r.status));
            }
            let memo = match (transfer, bank_reference) {
                (Some(t), _) => format!("Payout paid by Stripe transfer {t}"),
                (None, Some(b)) => format!("Payout paid by bank transfer {b}"),
                (None, None) => "Payout paid by bank transfer".to_owned(),
            };
            let t = NewTransaction {
                reference: payout_reference(uuid, "paid"),
                kind: "payout_paid".into(),
                currency: r.currency.clone(),
                memo,
                purchase_id: None,
                payout_id: Some(r.id),
                reverses_id: None,
                postings: vec![
                    Posting { account: account::PAYOUTS_IN_FLIGHT.into(), user_id: Some(r.user_id), amount_minor: -r.amount_minor, available_at: now },
                    Posting { account: account::PAYOUTS_PAID.into(), user_id: Some(r.user_id), amount_minor: r.amount_minor, available_at: now },
                ],
            };
            let posted = post_in!(tx, &t, now)?;
            sqlx::query(
                "UPDATE payouts SET status = 'paid', settle_tx = $2, transfer_id = $3, bank_reference = $4, paid_at = $5, \
                 method = COALESCE(method, $6), decided_by = COALESCE(decided_by, $7), decided_at = COALESCE(decided_at, $5), last_error = NULL \
                 WHERE uuid = $1",
            )
            .bind(uuid).bind(posted.id()).bind(transfer).bind(bank_reference).bind(now)
            .bind(if transfer.is_some() { "stripe" } else { "bank" }).bind(admin)
            .execute(&mut *tx).await?;
            let r = payout_in!(tx, uuid);
            tx.commit().await?;
            Ok(r.map(PayoutStep::Done).unwrap_or(PayoutStep::Missing))
        })
    }

    /// Rejects a payout not yet paid: its request reversed (the money available again), in one
    /// transaction; again changes nothing.
    pub async fn reject_payout(
        &self,
        uuid: &str,
        admin: i64,
        reason: &str,
        now: i64,
    ) -> Result<PayoutStep, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // A write first: SQLite takes its write lock now (a read first would have to
            // upgrade, and fail under concurrent writers); PostgreSQL locks the payout's row.
            sqlx::query("UPDATE payouts SET uuid = uuid WHERE uuid = $1")
                .bind(uuid)
                .execute(&mut *tx)
                .await?;
            let Some(r) = payout_in!(tx, uuid) else {
                tx.rollback().await?;
                return Ok(PayoutStep::Missing);
            };
            lock_creator!(tx, r.user_id);
            if r.status == "rejected" {
                tx.commit().await?;
                return Ok(PayoutStep::Done(r));
            }
            if !(r.status == "requested" || r.status == "approved") {
                tx.rollback().await?;
                return Ok(PayoutStep::WrongState(r.status));
            }
            let Some(request_tx) = r.request_tx else {
                tx.rollback().await?;
                return Err(DbError::Invalid(format!("payout {uuid} has no request transaction")));
            };
            let reversal = reversal_of!(
                tx,
                request_tx,
                None,
                payout_reference(uuid, "rejected"),
                "payout_rejected".to_owned(),
                format!("Payout rejected: {reason}")
            )?;
            let reversal_id = match reversal {
                Some(t) => Some(post_in!(tx, &t, now)?.id()),
                None => None,
            };
            sqlx::query(
                "UPDATE payouts SET status = 'rejected', reversal_tx = $2, reason = $3, decided_by = $4, decided_at = $5 WHERE uuid = $1",
            )
            .bind(uuid).bind(reversal_id).bind(reason).bind(admin).bind(now)
            .execute(&mut *tx).await?;
            let r = payout_in!(tx, uuid);
            tx.commit().await?;
            Ok(r.map(PayoutStep::Done).unwrap_or(PayoutStep::Missing))
        })
    }

    /// Notes that these payouts were exported for bank transfer (the first export's time stays).
    pub async fn mark_payouts_exported(&self, uuids: &[String], now: i64) -> Result<(), DbError> {
        on_pool!(self, p => {
            for u in uuids {
                sqlx::query("UPDATE payouts SET exported_at = COALESCE(exported_at, $2) WHERE uuid = $1")
                    .bind(u).bind(now)
                    .execute(p).await?;
            }
            Ok(())
        })
    }

    /// The creator's balance in each currency from the entries posted before `before` (ms).
    pub async fn creator_balance_before(
        &self,
        user_id: i64,
        before: i64,
    ) -> Result<Vec<(String, i64)>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT currency, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM ledger_entries \
                 WHERE account = $1 AND created_at < $2 GROUP BY currency ORDER BY currency",
            )
            .bind(account::creator(user_id)).bind(before)
            .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((r.try_get("currency")?, r.try_get("total")?));
            }
            Ok(out)
        })
    }

    /// Movements on the creator's balance posted in `[from, to)` (ms): oldest first, at most
    /// `limit` (newest first when `newest_first`).
    pub async fn creator_lines(
        &self,
        user_id: i64,
        from: i64,
        to: i64,
        limit: i64,
        newest_first: bool,
    ) -> Result<Vec<IncomeLine>, DbError> {
        let order = if newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT e.id, e.created_at, e.available_at, e.amount_minor, e.currency, t.kind, t.reference, t.memo, \
               pu.kind AS purchase_kind, pu.uuid AS purchase_uuid, pu.display_name AS from_name \
             FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
             LEFT JOIN purchases pu ON pu.id = t.purchase_id \
             WHERE e.account = $1 AND e.created_at >= $2 AND e.created_at < $3 ORDER BY e.id {order} LIMIT $4"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql)
                .bind(account::creator(user_id)).bind(from).bind(to).bind(limit.clamp(1, 100_000))
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(IncomeLine {
                    entry_id: r.try_get("id")?,
                    created_at: r.try_get("created_at")?,
                    available_at: r.try_get("available_at")?,
                    kind: r.try_get("kind")?,
                    purchase_kind: r.try_get("purchase_kind")?,
                    purchase_uuid: r.try_get("purchase_uuid")?,
                    from_name: r.try_get("from_name")?,
                    reference: r.try_get("reference")?,
                    memo: r.try_get("memo")?,
                    amount_minor: r.try_get("amount_minor")?,
                    currency: r.try_get("currency")?,
                });
            }
            Ok(out)
        })
    }

    /// The creator's income since `since` (ms) per purchase kind and currency (payout steps
    /// left out).
    pub async fn income_by_kind(
        &self,
        user_id: i64,
        since: i64,
    ) -> Result<Vec<IncomeByKind>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT CASE WHEN t.kind = 'income' THEN COALESCE(pu.kind, t.kind) ELSE t.kind END AS kind, e.currency, CAST(SUM(e.amount_minor) AS BIGINT) AS amount, COUNT(*) AS n \
                 FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
                 LEFT JOIN purchases pu ON pu.id = t.purchase_id \
                 WHERE e.account = $1 AND e.created_at >= $2 AND t.payout_id IS NULL \
                 GROUP BY CASE WHEN t.kind = 'income' THEN COALESCE(pu.kind, t.kind) ELSE t.kind END, e.currency ORDER BY 1, 2",
            )
            .bind(account::creator(user_id)).bind(since)
            .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(IncomeByKind {
                    kind: r.try_get("kind")?,
                    currency: r.try_get("currency")?,
                    amount_minor: r.try_get("amount")?,
                    count: r.try_get("n")?,
                });
            }
            Ok(out)
        })
    }

    /// When the creator's first ledger entry was posted (ms), if any.
    pub async fn first_creator_entry(&self, user_id: i64) -> Result<Option<i64>, DbError> {
        on_pool!(self, p => {
            Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(created_at) FROM ledger_entries WHERE account = $1")
                .bind(account::creator(user_id))
                .fetch_one(p).await?)
        })
    }

    /// Paid (and since reversed) purchases per kind and currency.
    pub async fn purchase_totals(&self) -> Result<Vec<PurchaseTotals>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT kind, currency, \
                   CAST(COALESCE(SUM(CASE WHEN status = 'paid' THEN amount_minor ELSE 0 END), 0) AS BIGINT) AS gross, \
                   CAST(COALESCE(SUM(CASE WHEN status = 'paid' THEN tax_minor ELSE 0 END), 0) AS BIGINT) AS tax, \
                   CAST(COALESCE(SUM(CASE WHEN status = 'paid' THEN 1 ELSE 0 END), 0) AS BIGINT) AS n, \
                   CAST(COALESCE(SUM(CASE WHEN status IN ('refunded', 'disputed') THEN 1 ELSE 0 END), 0) AS BIGINT) AS reversed \
                 FROM purchases WHERE paid_at IS NOT NULL GROUP BY kind, currency ORDER BY kind, currency",
            )
            .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(PurchaseTotals {
                    kind: r.try_get("kind")?,
                    currency: r.try_get("currency")?,
                    gross_minor: r.try_get("gross")?,
                    tax_minor: r.try_get("tax")?,
                    count: r.try_get("n")?,
                    reversed: r.try_get("reversed")?,
                });
            }
            Ok(out)
        })
    }

    /// Every tax rate, by country.
    pub async fn tax_rates(&self) -> Result<Vec<TaxRate>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query("SELECT country, rate_bps, label, updated_at FROM tax_rates ORDER BY country")
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(TaxRate {
                    country: r.try_get("country")?,
                    rate_bps: r.try_get("rate_bps")?,
                    label: r.try_get("label")?,
                    updated_at: r.try_get("updated_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Sets a country's tax rate.
    pub async fn put_tax_rate(
        &self,
        country: &str,
        rate_bps: i64,
        label: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO tax_rates (country, rate_bps, label, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (country) DO UPDATE SET rate_bps = excluded.rate_bps, label = excluded.label, updated_at = excluded.updated_at",
            )
            .bind(country).bind(rate_bps).bind(label).bind(now)
            .execute(p).await?;
            Ok(())
        })
    }

    /// Removes a country's tax rate; whether there was one.
    pub async fn delete_tax_rate(&self, country: &str) -> Result<bool, DbError> {
        on_pool!(self, p => {
            Ok(sqlx::query("DELETE FROM tax_rates WHERE country = $1").bind(country).execute(p).await?.rows_affected() > 0)
        })
    }

    /// Every split share `creator_id` set, by scope and target.
    pub async fn splits_of_creator(&self, creator_id: i64) -> Result<Vec<SplitRow>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT scope, target_id, user_id, bps FROM revenue_splits WHERE creator_id = $1 \
                 ORDER BY scope, target_id, CASE WHEN user_id = $1 THEN 0 ELSE 1 END, created_at, user_id",
            )
            .bind(creator_id)
            .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(SplitRow {
                    scope: r.try_get("scope")?,
                    target_id: r.try_get("target_id")?,
                    user_id: r.try_get("user_id")?,
                    bps: r.try_get("bps")?,
                });
            }
            Ok(out)
        })
    }

    /// Replaces the split of (`scope`, `target_id`) of `creator_id` (checked by the caller);
    /// empty: the income is the creator's alone again.
    pub async fn set_splits(
        &self,
        creator_id: i64,
        scope: &str,
        target_id: i64,
        shares: &[Split],
        now: i64,
    ) -> Result<(), DbError> {
        if !shares.is_empty() {
            ferrocast_domain::ledger::validate_splits(shares).map_err(DbError::Invalid)?;
        }
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM revenue_splits WHERE scope = $1 AND target_id = $2 AND creator_id = $3")
                .bind(scope).bind(target_id).bind(creator_id)
                .execute(&mut *tx).await?;
            for s in shares {
                sqlx::query(
                    "INSERT INTO revenue_splits (scope, target_id, creator_id, user_id, bps, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(scope).bind(target_id).bind(creator_id).bind(s.user_id).bind(s.bps).bind(now)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}
