-- Plans as data (SPEC 2.5). Prices are integer minor units (cents, paise); streaming time is
-- counted in minutes. The default plan is the plan of every user without a subscription.
CREATE TABLE subscription_plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    price_monthly_cents BIGINT NOT NULL DEFAULT 0,
    price_yearly_cents BIGINT NOT NULL DEFAULT 0,
    price_monthly_inr_paise BIGINT NOT NULL DEFAULT 0,
    price_yearly_inr_paise BIGINT NOT NULL DEFAULT 0,
    max_sources BIGINT NOT NULL,
    max_destinations BIGINT NOT NULL,
    max_streaming_minutes_monthly BIGINT NOT NULL,
    features TEXT NOT NULL DEFAULT '[]',
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    sort_order BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO subscription_plans (uuid, name, description, price_monthly_cents, price_yearly_cents,
    price_monthly_inr_paise, price_yearly_inr_paise, max_sources, max_destinations,
    max_streaming_minutes_monthly, features, is_default, sort_order, created_at, updated_at)
VALUES
    ('6b0e2d59-3f4a-4c1e-9d0a-000000000001', 'Free', 'Get started with streaming', 0, 0, 0, 0, 1, 3, 3000, '[]', TRUE, 1, 0, 0),
    ('6b0e2d59-3f4a-4c1e-9d0a-000000000002', 'Pro', 'For regular streamers', 999, 9999, 79900, 799900, 3, 10, 12000, '["priority_support","analytics"]', FALSE, 2, 0, 0),
    ('6b0e2d59-3f4a-4c1e-9d0a-000000000003', 'Business', 'For professional streamers', 2999, 29999, 249900, 2499900, 10, 9999, 60000, '["priority_support","analytics","custom_branding"]', FALSE, 3, 0, 0);

CREATE TABLE user_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    plan_id BIGINT NOT NULL REFERENCES subscription_plans(id),
    status TEXT NOT NULL CHECK (status IN ('trialing','active','past_due','canceled')),
    billing_cycle TEXT NOT NULL CHECK (billing_cycle IN ('monthly','yearly')),
    current_period_start BIGINT NOT NULL,
    current_period_end BIGINT NOT NULL,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idx_user_subscriptions_user ON user_subscriptions(user_id);

-- Where a source is forwarded. The owner is kept beside the source so that plan limits count
-- a user's destinations in one indexed query. The platform stream key is sealed (AES-256-GCM).
CREATE TABLE source_destinations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    source_id BIGINT NOT NULL REFERENCES stream_sources(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    rtmp_url TEXT NOT NULL,
    stream_key_sealed TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idx_source_destinations_source ON source_destinations(source_id);
CREATE INDEX idx_source_destinations_user ON source_destinations(user_id);

-- One row per publishing session: the seed's usage_tracking. last_seen_at advances while live
-- (a heartbeat), so after a crash the session is closed at its last heartbeat and no more than
-- one heartbeat of usage is lost. Deleting a source keeps its usage (source_id becomes NULL).
CREATE TABLE stream_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source_id BIGINT REFERENCES stream_sources(id) ON DELETE SET NULL,
    started_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ended_at BIGINT,
    end_reason TEXT,
    bytes_in BIGINT NOT NULL DEFAULT 0,
    frames_in BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX idx_stream_sessions_user_started ON stream_sessions(user_id, started_at);
CREATE INDEX idx_stream_sessions_open ON stream_sessions(ended_at);
