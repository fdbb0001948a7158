-- The Telegram bot (issue 25). One node at a time runs it: the holder of the lease in
-- telegram_bot, which registers the webhook or long-polls getUpdates (keeping the offset here,
-- so a node that takes over goes on where the last one stopped) and sends the outbox.
CREATE TABLE telegram_bot (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    lease_until BIGINT,
    update_offset BIGINT NOT NULL DEFAULT 0
);
INSERT INTO telegram_bot (id, update_offset) VALUES (1, 0);

-- Everything the bot says, sent by the runner in order, within Telegram's limits: replies to
-- commands, notices to linked users, go-live posts to creators' chats. dedup_key makes a
-- redelivered update or a retried notice queue nothing twice.
CREATE TABLE telegram_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id BIGINT NOT NULL,
    text TEXT NOT NULL,
    -- Inline keyboard: a JSON array of rows of {text, url}.
    buttons TEXT NOT NULL DEFAULT '[]',
    dedup_key TEXT UNIQUE,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    sent_at BIGINT,
    failed_at BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_telegram_outbox_due ON telegram_outbox(next_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- A creator's Telegram channel or group, where go-live posts go.
CREATE TABLE telegram_chats (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    chat_id BIGINT NOT NULL,
    title TEXT NOT NULL,
    connected_at BIGINT NOT NULL
);
