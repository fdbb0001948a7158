-- Creator payouts (issue 20); SQLite (postgres/0026 differs only in its id column). Times in Unix ms, money
-- in integer minor units with an ISO currency. Balances themselves are the ledger's (0023): a
-- payout row says what was asked and decided, and names the ledger transactions that moved the
-- money (creator → payouts in flight on request; in flight → paid when paid; the request's
-- reversal on rejection).
--
-- How a creator is paid: a Stripe Connect Express account (onboarded from the dashboard; its
-- flags follow GET /v1/accounts and account.updated), else a bank transfer made by the operator
-- to the bank details the creator gave (sealed with the master key, like other secrets).
CREATE TABLE payout_accounts (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    stripe_account_id TEXT UNIQUE,
    details_submitted BOOLEAN NOT NULL DEFAULT FALSE,
    charges_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    payouts_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    bank_holder TEXT,
    bank_details_sealed TEXT,
    updated_at BIGINT NOT NULL
);
-- One payout request. status: requested (money in flight, waiting for an administrator) →
-- approved (bank transfer to make; in the CSV export) → paid; or requested → paid (a Stripe
-- transfer made at approval); or requested/approved → rejected (the request reversed, the
-- money back in the creator's available balance).
CREATE TABLE payouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'paid', 'rejected')),
    method TEXT CHECK (method IN ('stripe', 'bank')),
    request_tx BIGINT,
    settle_tx BIGINT,
    reversal_tx BIGINT,
    stripe_account_id TEXT,
    transfer_id TEXT,
    bank_reference TEXT,
    reason TEXT,
    last_error TEXT,
    decided_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    requested_at BIGINT NOT NULL,
    decided_at BIGINT,
    exported_at BIGINT,
    paid_at BIGINT
);
CREATE INDEX idx_payouts_user ON payouts(user_id, requested_at);
CREATE INDEX idx_payouts_status ON payouts(status, requested_at);
