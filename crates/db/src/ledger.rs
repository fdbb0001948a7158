//! The double-entry ledger every money movement is posted to (issue 20).
//!
//! A transaction is a set of entries summing to zero in its currency
//! ([`ferrocast_domain::ledger`] explains the sign convention and names the accounts). Entries
//! are never updated or deleted; a correction is a reversal transaction (`reverses_id`), whole
//! or proportional. Each transaction has a unique `reference` (the gateway payment, refund,
//! dispute or payout step it records), so posting the same thing twice posts it once; and a
//! `digest`, the SHA-256 of its canonical form with its entries, so an entry edited behind the
//! application's back is found. Running balances (`ledger_balances`) are kept in the same
//! database transaction; [`Db::ledger_verify`] recomputes everything from the entries.

use crate::{on_pool, Db, DbError};
use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeMap;

/// One entry to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// The account ([`ferrocast_domain::ledger::account`]).
    pub account: String,
    /// Whose account it is (creator and payout accounts), for their balances and statements.
    pub user_id: Option<i64>,
    /// Signed minor units: added to the account.
    pub amount_minor: i64,
    /// When it may be paid out (ms): later than now for held income.
    pub available_at: i64,
}

/// A transaction to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransaction {
    /// Unique: what it records (`pay:stripe:pi_…`, `refund:stripe:re_…`, `payout:…:request`).
    pub reference: String,
    /// `income`, `plan`, `refund`, `chargeback`, `payout_request`, `payout_paid`,
    /// `payout_rejected`, …
    pub kind: String,
    /// ISO 4217, upper case.
    pub currency: String,
    /// A line for statements.
    pub memo: String,
    /// The purchase it concerns.
    pub purchase_id: Option<i64>,
    /// The payout it concerns.
    pub payout_id: Option<i64>,
    /// The transaction it reverses (in whole or in part).
    pub reverses_id: Option<i64>,
    /// Its entries (zero amounts are left out).
    pub postings: Vec<Posting>,
}

/// What posting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Posted now, with this id.
    New(i64),
    /// Its reference was posted before (this id); nothing changed.
    Duplicate(i64),
}

impl Posted {
    /// The transaction's id either way.
    pub fn id(self) -> i64 {
        match self {
            Posted::New(id) | Posted::Duplicate(id) => id,
        }
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Id.
    pub id: i64,
    /// Its transaction.
    pub transaction_id: i64,
    /// The account.
    pub account: String,
    /// Whose.
    pub user_id: Option<i64>,
    /// Signed minor units.
    pub amount_minor: i64,
    /// ISO code.
    pub currency: String,
    /// When it may be paid out (ms).
    pub available_at: i64,
    /// When posted (ms).
    pub created_at: i64,
}

/// A stored transaction with its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTransaction {
    /// Id.
    pub id: i64,
    /// Its unique reference.
    pub reference: String,
    /// Its kind.
    pub kind: String,
    /// ISO code.
    pub currency: String,
    /// Its line.
    pub memo: String,
    /// The purchase.
    pub purchase_id: Option<i64>,
    /// The payout.
    pub payout_id: Option<i64>,
    /// What it reverses.
    pub reverses_id: Option<i64>,
    /// When (ms).
    pub created_at: i64,
    /// Its entries, in order.
    pub entries: Vec<Entry>,
}

/// A creator's money in one currency (minor units).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreatorBalance {
    /// ISO code.
    pub currency: String,
    /// Earned, still in its hold period.
    pub pending: i64,
    /// Earned and past its hold: what a payout may take.
    pub available: i64,
    /// Payouts requested and not yet paid.
    pub in_flight: i64,
    /// Paid out, all time.
    pub paid: i64,
}

/// What [`Db::ledger_verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerReport {
    /// Transactions read.
    pub transactions: i64,
    /// Entries read.
    pub entries: i64,
    /// Accounts (per currency) whose balance was checked.
    pub accounts: i64,
    /// Each difference found, first first; empty when the ledger holds.
    pub problems: Vec<String>,
}

/// Longest account name or reference accepted.
const MAX_NAME: usize = 200;

/// The canonical form a transaction's digest is taken over.
fn digest_of(
    reference: &str,
    kind: &str,
    currency: &str,
    memo: &str,
    links: [Option<i64>; 3],
    created_at: i64,
    entries: &[(String, Option<i64>, i64, i64)],
) -> String {
    let mut h = Sha256::new();
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    h.update(
        format!(
            "{reference}\n{kind}\n{currency}\n{}\n{}\n{}\n{}\n{created_at}\n",
            memo.len(),
            opt(links[0]),
            opt(links[1]),
            opt(links[2])
        )
        .as_bytes(),
    );
    h.update(memo.as_bytes());
    for (account, user, amount, available_at) in entries {
        h.update(format!("\n{account}|{}|{amount}|{available_at}", opt(*user)).as_bytes());
    }
    HEXLOWER.encode(&h.finalize())
}

/// Checks a transaction before it is posted; its postings without zero amounts, in order.
pub(crate) fn checked(t: &NewTransaction) -> Result<Vec<&Posting>, DbError> {
    let invalid = |m: String| Err(DbError::Invalid(m));
    if t.reference.is_empty() || t.reference.len() > MAX_NAME {
        return invalid("ledger: a transaction's reference is 1 to 200 characters".into());
    }
    if t.currency.len() != 3 || !t.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return invalid(format!(
            "ledger: currency {:?} is not an ISO 4217 code",
            t.currency
        ));
    }
    let postings: Vec<&Posting> = t.postings.iter().filter(|p| p.amount_minor != 0).collect();
    if postings.is_empty() {
        return invalid(format!(
            "ledger: transaction {} has no entries",
            t.reference
        ));
    }
    let mut sum: i128 = 0;
    for p in &postings {
        if p.account.is_empty() || p.account.len() > MAX_NAME {
            return invalid("ledger: an account name is 1 to 200 characters".into());
        }
        sum += i128::from(p.amount_minor);
    }
    if sum != 0 {
        return invalid(format!(
            "ledger: transaction {}'s entries sum to {sum}, not 0",
            t.reference
        ));
    }
    Ok(postings)
}

/// Posts `$t` (a [`NewTransaction`]) inside the open transaction `$tx` at `$now`; evaluates to
/// `Result<Posted, DbError>`. Balances are updated in account order, so concurrent postings
/// lock them in one order.
macro_rules! post_in {
    ($tx:expr, $t:expr, $now:expr) => {
        async {
            let t: &$crate::ledger::NewTransaction = $t;
            let now: i64 = $now;
            let postings = $crate::ledger::checked(t)?;
            let entries: Vec<(String, Option<i64>, i64, i64)> = postings
                .iter()
                .map(|p| (p.account.clone(), p.user_id, p.amount_minor, p.available_at))
                .collect();
            let digest = $crate::ledger::digest_for(t, now, &entries);
            let inserted = sqlx::query(
                "INSERT INTO ledger_transactions (reference, kind, currency, memo, purchase_id, payout_id, reverses_id, digest, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (reference) DO NOTHING RETURNING id",
            )
            .bind(&t.reference).bind(&t.kind).bind(&t.currency).bind(&t.memo)
            .bind(t.purchase_id).bind(t.payout_id).bind(t.reverses_id).bind(&digest).bind(now)
            .fetch_optional(&mut *$tx).await?;
            let id: i64 = match inserted {
                Some(r) => sqlx::Row::try_get(&r, "id")?,
                None => {
                    let id: i64 = sqlx::query_scalar("SELECT id FROM ledger_transactions WHERE reference = $1")
                        .bind(&t.reference)
                        .fetch_one(&mut *$tx).await?;
                    return Ok::<_, $crate::DbError>($crate::ledger::Posted::Duplicate(id));
                }
            };
            for p in &postings {
                sqlx::query(
                    "INSERT INTO ledger_entries (transaction_id, account, user_id, amount_minor, currency, available_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id).bind(&p.account).bind(p.user_id).bind(p.amount_minor).bind(&t.currency)
                .bind(p.available_at).bind(now)
                .execute(&mut *$tx).await?;
            }
            let mut by_account: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
            for p in &postings {
                *by_account.entry(p.account.as_str()).or_default() += p.amount_minor;
            }
            for (account, amount) in by_account {
                sqlx::query(
                    "INSERT INTO ledger_balances (account, currency, balance_minor) VALUES ($1, $2, $3) \
                     ON CONFLICT (account, currency) DO UPDATE SET balance_minor = ledger_balances.balance_minor + excluded.balance_minor",
                )
                .bind(account).bind(&t.currency).bind(amount)
                .execute(&mut *$tx).await?;
            }
            Ok($crate::ledger::Posted::New(id))
        }
        .await
    };
}

/// The digest of a transaction about to be posted at `now`.
pub(crate) fn digest_for(
    t: &NewTransaction,
    now: i64,
    entries: &[(String, Option<i64>, i64, i64)],
) -> String {
    digest_of(
        &t.reference,
        &t.kind,
        &t.currency,
        &t.memo,
        [t.purchase_id, t.payout_id, t.reverses_id],
        now,
        entries,
    )
}

/// Builds the reversal of transaction `$original` (id) inside `$tx`: its entries negated (in
/// full, or scaled to `$part` of what it collected, less what earlier reversals took),
/// each keeping its `available_at`. Evaluates to `Result<Option<NewTransaction>, DbError>`:
/// `None` when nothing is left to reverse.
macro_rules! reversal_of {
    ($tx:expr, $original:expr, $part:expr, $reference:expr, $kind:expr, $memo:expr) => {
        async {
            let original: i64 = $original;
            let part: Option<i64> = $part;
            let head = sqlx::query("SELECT currency, purchase_id, payout_id FROM ledger_transactions WHERE id = $1")
                .bind(original)
                .fetch_one(&mut *$tx).await?;
            let currency: String = sqlx::Row::try_get(&head, "currency")?;
            let purchase_id: Option<i64> = sqlx::Row::try_get(&head, "purchase_id")?;
            let payout_id: Option<i64> = sqlx::Row::try_get(&head, "payout_id")?;
            let rows = sqlx::query(
                "SELECT account, user_id, amount_minor, available_at FROM ledger_entries WHERE transaction_id = $1 ORDER BY id",
            )
            .bind(original)
            .fetch_all(&mut *$tx).await?;
            let mut entries = Vec::with_capacity(rows.len());
            for r in &rows {
                entries.push((
                    sqlx::Row::try_get::<String, _>(r, "account")?,
                    sqlx::Row::try_get::<Option<i64>, _>(r, "user_id")?,
                    sqlx::Row::try_get::<i64, _>(r, "amount_minor")?,
                    sqlx::Row::try_get::<i64, _>(r, "available_at")?,
                ));
            }
            let total: i64 = entries.iter().map(|e| e.2).filter(|a| *a > 0).sum();
            // What earlier reversals of it took back (the positive side of their negation).
            let taken: i64 = sqlx::query_scalar::<_, i64>(
                "SELECT CAST(COALESCE(SUM(e.amount_minor), 0) AS BIGINT) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
                 WHERE t.reverses_id = $1 AND e.amount_minor < 0",
            )
            .bind(original)
            .fetch_one(&mut *$tx).await?
            .abs();
            let left = total - taken;
            let part = part.unwrap_or(left).min(left);
            if part <= 0 {
                return Ok::<_, $crate::DbError>(None);
            }
            let amounts: Vec<i64> = entries.iter().map(|e| e.2).collect();
            let scaled = ferrocast_domain::ledger::proportional(&amounts, part, total);
            let postings = entries
                .iter()
                .zip(scaled)
                .map(|(e, a)| $crate::ledger::Posting {
                    account: e.0.clone(),
                    user_id: e.1,
                    amount_minor: -a,
                    available_at: e.3,
                })
                .collect();
            Ok(Some($crate::ledger::NewTransaction {
                reference: $reference,
                kind: $kind,
                currency,
                memo: $memo,
                purchase_id,
                payout_id,
                reverses_id: Some(original),
                postings,
            }))
        }
        .await
    };
}

macro_rules! entry_from_row {
    ($r:expr) => {
        Entry {
            id: $r.try_get("id")?,
            transaction_id: $r.try_get("transaction_id")?,
            account: $r.try_get("account")?,
            user_id: $r.try_get("user_id")?,
            amount_minor: $r.try_get("amount_minor")?,
            currency: $r.try_get("currency")?,
            available_at: $r.try_get("available_at")?,
            created_at: $r.try_get("created_at")?,
        }
    };
}

/// Transactions read per batch while verifying.
const VERIFY_BATCH: i64 = 5_000;

impl Db {
    /// Posts a transaction (idempotent by its reference).
    pub async fn post_transaction(&self, t: &NewTransaction, now: i64) -> Result<Posted, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let posted = post_in!(tx, t, now)?;
            tx.commit().await?;
            Ok(posted)
        })
    }

    /// Reverses transaction `original` (in full, or `part` of what it collected), posted under
    /// `reference`; `None` when nothing is left to reverse.
    pub async fn reverse_transaction(
        &self,
        original: i64,
        part: Option<i64>,
        reference: &str,
        kind: &str,
        memo: &str,
        now: i64,
    ) -> Result<Option<Posted>, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let done: Option<i64> = sqlx::query_scalar("SELECT id FROM ledger_transactions WHERE reference = $1")
                .bind(reference)
                .fetch_optional(&mut *tx).await?;
            if let Some(id) = done {
                tx.commit().await?;
                return Ok(Some(Posted::Duplicate(id)));
            }
            let Some(t) = reversal_of!(tx, original, part, reference.to_owned(), kind.to_owned(), memo.to_owned())? else {
                tx.commit().await?;
                return Ok(None);
            };
            let posted = post_in!(tx, &t, now)?;
            tx.commit().await?;
            Ok(Some(posted))
        })
    }

    /// A transaction by its reference, with its entries.
    pub async fn ledger_transaction(
        &self,
        reference: &str,
    ) -> Result<Option<LedgerTransaction>, DbError> {
        on_pool!(self, p => {
            let Some(r) = sqlx::query(
                "SELECT id, reference, kind, currency, memo, purchase_id, payout_id, reverses_id, created_at \
                 FROM ledger_transactions WHERE reference = $1",
            )
            .bind(reference)
            .fetch_optional(p).await? else {
                return Ok(None);
            };
            let id: i64 = r.try_get("id")?;
            let rows = sqlx::query(
                "SELECT id, transaction_id, account, user_id, amount_minor, currency, available_at, created_at \
                 FROM ledger_entries WHERE transaction_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(p).await?;
            let mut entries = Vec::with_capacity(rows.len());
            for e in &rows {
                entries.push(entry_from_row!(e));
            }
            Ok(Some(LedgerTransaction {
                id,
                reference: r.try_get("reference")?,
                kind: r.try_get("kind")?,
                currency: r.try_get("currency")?,
                memo: r.try_get("memo")?,
                purchase_id: r.try_get("purchase_id")?,
                payout_id: r.try_get("payout_id")?,
                reverses_id: r.try_get("reverses_id")?,
                created_at: r.try_get("created_at")?,
                entries,
            }))
        })
    }

    /// `user_id`'s money per currency at `now`: pending (held income), available, in flight
    /// (payouts requested) and paid out.
    pub async fn creator_balances(
        &self,
        user_id: i64,
        now: i64,
    ) -> Result<Vec<CreatorBalance>, DbError> {
        let creator = ferrocast_domain::ledger::account::creator(user_id);
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT currency, \
                   CAST(COALESCE(SUM(CASE WHEN account = $1 AND available_at > $3 THEN amount_minor ELSE 0 END), 0) AS BIGINT) AS pending, \
                   CAST(COALESCE(SUM(CASE WHEN account = $1 AND available_at <= $3 THEN amount_minor ELSE 0 END), 0) AS BIGINT) AS available, \
                   CAST(COALESCE(SUM(CASE WHEN account = $4 THEN amount_minor ELSE 0 END), 0) AS BIGINT) AS in_flight, \
                   CAST(COALESCE(SUM(CASE WHEN account = $5 THEN amount_minor ELSE 0 END), 0) AS BIGINT) AS paid \
                 FROM ledger_entries WHERE user_id = $2 AND account IN ($1, $4, $5) GROUP BY currency ORDER BY currency",
            )
            .bind(&creator).bind(user_id).bind(now)
            .bind(ferrocast_domain::ledger::account::PAYOUTS_IN_FLIGHT)
            .bind(ferrocast_domain::ledger::account::PAYOUTS_PAID)
            .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(CreatorBalance {
                    currency: r.try_get("currency")?,
                    pending: r.try_get("pending")?,
                    available: r.try_get("available")?,
                    in_flight: r.try_get("in_flight")?,
                    paid: r.try_get("paid")?,
                });
            }
            Ok(out)
        })
    }

    /// Every account's running balance, as (account, currency, minor units), by account.
    pub async fn ledger_account_totals(&self) -> Result<Vec<(String, String, i64)>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query("SELECT account, currency, balance_minor FROM ledger_balances ORDER BY account, currency")
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((r.try_get("account")?, r.try_get("currency")?, r.try_get("balance_minor")?));
            }
            Ok(out)
        })
    }

    /// Recomputes the ledger from its entries: every transaction's digest (nothing edited) and
    /// sum (zero, one currency), every reversal's original, and every running balance against
    /// the sum of its entries. Reads in batches; the report lists each difference found.
    pub async fn ledger_verify(&self) -> Result<LedgerReport, DbError> {
        let mut report = LedgerReport::default();
        let mut sums: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut after = 0i64;
        loop {
            let batch: Vec<(LedgerTransaction, String)> = on_pool!(self, p => {
                let heads = sqlx::query(
                    "SELECT id, reference, kind, currency, memo, purchase_id, payout_id, reverses_id, digest, created_at \
                     FROM ledger_transactions WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after).bind(VERIFY_BATCH)
                .fetch_all(p).await?;
                let Some(last) = heads.last() else { break };
                let last_id: i64 = last.try_get("id")?;
                let rows = sqlx::query(
                    "SELECT id, transaction_id, account, user_id, amount_minor, currency, available_at, created_at \
                     FROM ledger_entries WHERE transaction_id > $1 AND transaction_id <= $2 ORDER BY transaction_id, id",
                )
                .bind(after).bind(last_id)
                .fetch_all(p).await?;
                let mut by_txn: BTreeMap<i64, Vec<Entry>> = BTreeMap::new();
                for r in &rows {
                    let e = entry_from_row!(r);
                    by_txn.entry(e.transaction_id).or_default().push(e);
                }
                let mut out = Vec::with_capacity(heads.len());
                for h in &heads {
                    let id: i64 = h.try_get("id")?;
                    out.push((LedgerTransaction {
                        id,
                        reference: h.try_get("reference")?,
                        kind: h.try_get("kind")?,
                        currency: h.try_get("currency")?,
                        memo: h.try_get("memo")?,
                        purchase_id: h.try_get("purchase_id")?,
                        payout_id: h.try_get("payout_id")?,
                        reverses_id: h.try_get("reverses_id")?,
                        created_at: h.try_get("created_at")?,
                        entries: by_txn.remove(&id).unwrap_or_default(),
                    }, h.try_get::<String, _>("digest")?));
                }
                // Entries whose transaction is not in the table at all.
                if let Some((orphan, _)) = by_txn.into_iter().next() {
                    report.problems.push(format!("entries name transaction {orphan}, which does not exist"));
                }
                out
            });
            for (t, digest) in &batch {
                report.transactions += 1;
                report.entries += t.entries.len() as i64;
                let name = format!("transaction {} ({})", t.id, t.reference);
                let entries: Vec<(String, Option<i64>, i64, i64)> = t
                    .entries
                    .iter()
                    .map(|e| (e.account.clone(), e.user_id, e.amount_minor, e.available_at))
                    .collect();
                let expected = digest_of(
                    &t.reference,
                    &t.kind,
                    &t.currency,
                    &t.memo,
                    [t.purchase_id, t.payout_id, t.reverses_id],
                    t.created_at,
                    &entries,
                );
                if &expected != digest {
                    let first = t.entries.first().map(|e| e.id).unwrap_or_default();
                    report.problems.push(format!(
                        "{name}: its digest does not match its entries (entries {first}…{}): an entry or the transaction was changed after posting",
                        t.entries.last().map(|e| e.id).unwrap_or_default()
                    ));
                }
                let mut sum: i128 = 0;
                for e in &t.entries {
                    sum += i128::from(e.amount_minor);
                    if e.currency != t.currency {
                        report.problems.push(format!(
                            "{name}: entry {} is in {}, the transaction in {}",
                            e.id, e.currency, t.currency
                        ));
                    }
                    *sums
                        .entry((e.account.clone(), e.currency.clone()))
                        .or_default() += e.amount_minor;
                }
                if sum != 0 {
                    report
                        .problems
                        .push(format!("{name}: its entries sum to {sum}, not 0"));
                }
                if t.entries.is_empty() {
                    report.problems.push(format!("{name}: it has no entries"));
                }
            }
            match batch.last() {
                Some((t, _)) => after = t.id,
                None => break,
            }
        }
        let reversals: Vec<(i64, i64)> = on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT r.id, r.reverses_id FROM ledger_transactions r LEFT JOIN ledger_transactions o ON o.id = r.reverses_id \
                 WHERE r.reverses_id IS NOT NULL AND o.id IS NULL ORDER BY r.id",
            )
            .fetch_all(p).await?;
            let mut out = Vec::new();
            for r in &rows {
                out.push((r.try_get("id")?, r.try_get("reverses_id")?));
            }
            out
        });
        for (id, original) in reversals {
            report.problems.push(format!(
                "transaction {id} reverses transaction {original}, which does not exist"
            ));
        }
        let recorded = self.ledger_account_totals().await?;
        let mut recorded_map: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (a, c, b) in recorded {
            recorded_map.insert((a, c), b);
        }
        let keys: std::collections::BTreeSet<(String, String)> =
            sums.keys().chain(recorded_map.keys()).cloned().collect();
        for key in keys {
            report.accounts += 1;
            let from_entries = sums.get(&key).copied().unwrap_or(0);
            let kept = recorded_map.get(&key).copied();
            if kept != Some(from_entries) && !(kept.is_none() && from_entries == 0) {
                report.problems.push(format!(
                    "account {} {}: balance {} recorded, {from_entries} from its entries",
                    key.0,
                    key.1,
                    kept.map(|k| k.to_string())
                        .unwrap_or_else(|| "(none)".into())
                ));
            }
        }
        Ok(report)
    }
}
