-- Billing (SPEC 2.5): what a user is buying (orders), what was paid or refused (payments, once
-- per gateway payment id), every gateway event taken (webhook_events, by the gateway's event
-- id: a replay changes nothing), and each user's customer record at a gateway. Money is
-- integer minor units with its ISO currency.
CREATE TABLE payment_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    plan_id BIGINT NOT NULL REFERENCES subscription_plans(id),
    billing_cycle TEXT NOT NULL CHECK (billing_cycle IN ('monthly','yearly')),
    provider TEXT NOT NULL CHECK (provider IN ('stripe','razorpay','epayco')),
    -- The gateway's id of the order or checkout session, once it has one.
    provider_ref TEXT,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'created' CHECK (status IN ('created','paid','failed')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (provider, provider_ref)
);
CREATE INDEX idx_payment_orders_user ON payment_orders(user_id);

CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    order_id BIGINT REFERENCES payment_orders(id) ON DELETE SET NULL,
    subscription_id BIGINT REFERENCES user_subscriptions(id) ON DELETE SET NULL,
    plan_id BIGINT REFERENCES subscription_plans(id),
    provider TEXT NOT NULL,
    -- Razorpay: pay_…; Stripe: the invoice (in_…); ePayco: x_ref_payco.
    provider_payment_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('succeeded','failed')),
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (provider, provider_payment_id)
);
CREATE INDEX idx_payments_user ON payments(user_id, id);

CREATE TABLE webhook_events (
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (provider, event_id)
);

CREATE TABLE billing_customers (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, provider),
    UNIQUE (provider, customer_id)
);

-- A subscription paid through a gateway: which, and its id there (Stripe: sub_…; Razorpay and
-- ePayco, which charge once per period: the order that started it). The gateway time of the
-- newest event applied, so an older event delivered late changes nothing; the end of a
-- past-due subscription's grace.
ALTER TABLE user_subscriptions ADD COLUMN provider TEXT;
ALTER TABLE user_subscriptions ADD COLUMN provider_subscription_id TEXT;
ALTER TABLE user_subscriptions ADD COLUMN last_event_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_subscriptions ADD COLUMN grace_until BIGINT;
-- A subscription another one replaced, still to be canceled at its gateway (retried until done).
ALTER TABLE user_subscriptions ADD COLUMN cancel_at_gateway BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX idx_user_subscriptions_provider ON user_subscriptions(provider, provider_subscription_id);
CREATE INDEX idx_user_subscriptions_status ON user_subscriptions(status, current_period_end);
