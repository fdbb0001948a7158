-- Tips and goals (issue 20). Times in ms, amounts in minor units.
--
-- Each creator's overlay token: the secret in the addresses of their OBS browser sources
-- (`/overlay/<token>/alerts`, `/overlay/<token>/goal`). Its SHA-256 finds the creator; the
-- token itself is sealed with the master key so the dashboard can show it again. Rotating it
-- replaces the row, and every overlay open with the old one stops.
CREATE TABLE overlay_tokens (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    token_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- A creator's funding goals: a target in one currency, counted from `starts_at` (when it was
-- created) until its deadline (if any) or until the creator ends it. Progress is not stored:
-- it is the sum of the creator's paid tips and memberships in that currency in that window
-- (`purchases`), so a refund takes it back by itself.
CREATE TABLE goals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    creator_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    target_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    deadline BIGINT,
    ended_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idx_goals_creator ON goals(creator_id, created_at);
