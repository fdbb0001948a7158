-- Notifications (issue 19): what a user is told in the app, and how it reaches them elsewhere.
-- `dedup_key` makes each notice idempotent (a fan-out that is retried inserts nothing twice);
-- the go-live window (one `live` notice per channel and follower within it) is checked on insert.
-- Times are ms.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('live','video','follower','reply')),
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL,
    actor_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    read_at BIGINT,
    -- Listed in the app; a notice the user wants only by email or push is kept for its deliveries.
    in_app BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX idx_notifications_user ON notifications(user_id, id);
CREATE INDEX idx_notifications_recent ON notifications(user_id, kind, actor_id, created_at);

-- Per kind, and optionally per channel (channel_id 0: every channel); a missing row is the
-- default (in the app, email at once, push).
CREATE TABLE notification_preferences (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('live','video','follower','reply')),
    channel_id BIGINT NOT NULL DEFAULT 0,
    in_app BOOLEAN NOT NULL,
    email TEXT NOT NULL CHECK (email IN ('off','instant','daily')),
    push BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind, channel_id)
);

-- Web Push subscriptions (W3C Push API): the push service's endpoint and the browser's keys.
CREATE TABLE push_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_success_at BIGINT
);
CREATE INDEX idx_push_subscriptions_user ON push_subscriptions(user_id);

-- The durable outbox: one row per notice and way out (a push subscription, an email, a digest
-- line), retried with backoff until sent, failed for good, or dropped (the subscription is gone).
CREATE TABLE notification_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel TEXT NOT NULL CHECK (channel IN ('push','email','digest')),
    target BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','running','sent','failed','dropped')),
    attempts BIGINT NOT NULL DEFAULT 0,
    run_after BIGINT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (notification_id, channel, target)
);
CREATE INDEX idx_notification_deliveries_due ON notification_deliveries(state, run_after);
CREATE INDEX idx_notification_deliveries_user ON notification_deliveries(user_id, channel, state);

-- The deployment's VAPID key (RFC 8292), made on first start: its PKCS#8 sealed by the vault.
CREATE TABLE vapid_keys (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    private_sealed TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
