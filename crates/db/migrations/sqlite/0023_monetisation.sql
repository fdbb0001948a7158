-- Creator monetisation (issue 20): purchases from viewers (tips, memberships, pay-per-view),
-- membership tiers and memberships, and the double-entry ledger every money movement goes
-- through. Times in ms; money in minor units of `currency` (ISO 4217), never floats.

-- A viewer's purchase from a creator, through a gateway. One row per checkout; a membership's
-- renewals are further ledger transactions of the same purchase (one per gateway payment).
CREATE TABLE purchases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('tip','membership','ppv')),
    buyer_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    creator_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    -- The gateway's checkout session or order id.
    provider_ref TEXT,
    -- The gateway's id of the first payment (Stripe payment intent or invoice, Razorpay pay_…).
    provider_payment_id TEXT,
    -- The subscription a gateway bills (memberships through Stripe).
    provider_subscription_id TEXT,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    -- Tax included in the amount, at the rate of `tax_country` when the purchase was made.
    tax_minor BIGINT NOT NULL DEFAULT 0,
    tax_country TEXT,
    status TEXT NOT NULL DEFAULT 'created'
        CHECK (status IN ('created','paid','refunded','disputed','failed')),
    message TEXT,
    display_name TEXT,
    tier_id BIGINT,
    video_id BIGINT,
    source_id BIGINT,
    refused_reason TEXT,
    created_at BIGINT NOT NULL,
    paid_at BIGINT
);
CREATE INDEX idx_purchases_creator ON purchases(creator_id, status, paid_at);
CREATE INDEX idx_purchases_buyer ON purchases(buyer_id, id);
CREATE INDEX idx_purchases_ref ON purchases(provider, provider_ref);
CREATE INDEX idx_purchases_subscription ON purchases(provider, provider_subscription_id);

CREATE TABLE membership_tiers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    creator_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    price_minor BIGINT NOT NULL CHECK (price_minor > 0),
    currency TEXT NOT NULL,
    -- A JSON array of strings.
    perks TEXT NOT NULL DEFAULT '[]',
    -- Higher ranks include lower ones ("at least tier N" compares ranks).
    rank BIGINT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_membership_tiers_creator ON membership_tiers(creator_id, rank);

-- A viewer's membership of a creator's channel: entitled while `period_end` (+ the grace
-- period for a renewal that failed) is ahead.
CREATE TABLE memberships (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    creator_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tier_id BIGINT NOT NULL REFERENCES membership_tiers(id),
    status TEXT NOT NULL CHECK (status IN ('active','canceled','ended')),
    provider TEXT NOT NULL,
    provider_subscription_id TEXT,
    purchase_id BIGINT REFERENCES purchases(id),
    period_end BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (user_id, creator_id)
);
CREATE INDEX idx_memberships_creator ON memberships(creator_id, status);

-- The ledger. A transaction's entries sum to zero per currency; an account's balance is what it
-- holds (money from outside enters through a `gateway:*` account, which goes negative). Rows
-- are never updated or deleted: a correction is a reversal (`reverses_id`). `reference` makes
-- posting idempotent (a gateway payment, a refund, a payout step is posted once). `digest`
-- is the SHA-256 of the transaction's canonical form, entries included.
CREATE TABLE ledger_transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    currency TEXT NOT NULL,
    memo TEXT NOT NULL DEFAULT '',
    purchase_id BIGINT REFERENCES purchases(id),
    payout_id BIGINT,
    reverses_id BIGINT REFERENCES ledger_transactions(id),
    digest TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_ledger_transactions_purchase ON ledger_transactions(purchase_id);
CREATE INDEX idx_ledger_transactions_reverses ON ledger_transactions(reverses_id);
CREATE TABLE ledger_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id BIGINT NOT NULL REFERENCES ledger_transactions(id),
    account TEXT NOT NULL,
    -- The person an account belongs to (creator and payout accounts), for their statements.
    user_id BIGINT,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- When the amount may be paid out (income is held; everything else is at once).
    available_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_ledger_entries_transaction ON ledger_entries(transaction_id);
CREATE INDEX idx_ledger_entries_account ON ledger_entries(account, currency);
CREATE INDEX idx_ledger_entries_user ON ledger_entries(user_id, created_at);
-- Running balances, kept in the transaction that posts the entries; `ferrocast ledger verify`
-- recomputes them from the entries.
CREATE TABLE ledger_balances (
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    balance_minor BIGINT NOT NULL,
    PRIMARY KEY (account, currency)
);

-- Collaborator splits: the shares (basis points, summing to 10000 per target) in which a
-- channel's, a video's or a live stream's income is divided after tax and the platform fee.
CREATE TABLE revenue_splits (
    scope TEXT NOT NULL CHECK (scope IN ('channel','video','source')),
    target_id BIGINT NOT NULL,
    creator_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id),
    bps BIGINT NOT NULL CHECK (bps > 0 AND bps <= 10000),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, target_id, user_id)
);

-- Tax rates the operator sets per country (ISO 3166 alpha-2), included in the prices paid.
CREATE TABLE tax_rates (
    country TEXT PRIMARY KEY,
    rate_bps BIGINT NOT NULL CHECK (rate_bps >= 0 AND rate_bps <= 10000),
    label TEXT NOT NULL DEFAULT 'Tax',
    updated_at BIGINT NOT NULL
);
