-- What administrators did, for the record: a subscription's plan changed or canceled by hand,
-- the site's settings changed, a live stream stopped. Kept when the administrator or the
-- user is deleted (the ids stay, unlinked).
CREATE TABLE admin_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    -- subscription_plan_changed, subscription_canceled, settings_changed, stream_stopped
    action TEXT NOT NULL,
    target_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    -- What else the action carried, JSON.
    details TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_admin_actions_created ON admin_actions(created_at);
