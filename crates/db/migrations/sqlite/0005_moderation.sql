-- Chat moderation (SPEC 2.4): per-source rules, moderators, bans and timeouts (a timeout is a
-- ban that expires), and a record of every moderation action.
CREATE TABLE chat_settings (
    source_id BIGINT PRIMARY KEY REFERENCES stream_sources(id) ON DELETE CASCADE,
    -- Seconds a viewer must wait between messages; 0: off.
    slow_mode_seconds BIGINT NOT NULL DEFAULT 0,
    -- JSON array of words or phrases a message may not contain (case-insensitive).
    blocked_words TEXT NOT NULL DEFAULT '[]',
    -- Whether viewers may post links (the owner and moderators always may).
    links_allowed BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at BIGINT NOT NULL
);

CREATE TABLE chat_moderators (
    source_id BIGINT NOT NULL REFERENCES stream_sources(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (source_id, user_id)
);

CREATE TABLE chat_bans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL: every source (an administrator's ban).
    source_id BIGINT REFERENCES stream_sources(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- NULL: until lifted; else a timeout ending then (ms).
    expires_at BIGINT,
    reason TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_chat_bans_user ON chat_bans(user_id);

CREATE TABLE moderation_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id BIGINT REFERENCES stream_sources(id) ON DELETE CASCADE,
    actor_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    -- delete_message, timeout, ban, unban, settings, add_moderator, remove_moderator
    action TEXT NOT NULL,
    target_user_id BIGINT,
    target_message_id BIGINT,
    -- What else the action carried, JSON.
    details TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_moderation_actions_source ON moderation_actions(source_id, id);

-- Slow mode asks when a user last wrote in a source's chat.
CREATE INDEX idx_chat_messages_author ON chat_messages(source_id, user_id, created_at);
