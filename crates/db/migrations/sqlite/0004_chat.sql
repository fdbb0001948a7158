-- Chat (SPEC 2.4): the native chat and the platform chats a source's connectors pull, in one
-- feed. A platform message is stored once: (source, platform, platform message id) is unique,
-- so a connector that reconnects and sees a message again cannot duplicate it.
CREATE TABLE chat_connectors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    source_id BIGINT NOT NULL REFERENCES stream_sources(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    platform TEXT NOT NULL CHECK (platform IN ('youtube','twitch')),
    -- What may be shown (channel name, when connected), JSON.
    config TEXT NOT NULL DEFAULT '{}',
    -- Tokens, sealed (AES-256-GCM) JSON.
    secrets_sealed TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    -- `idle`, `connecting`, `connected`, `retrying` or `failed`, and the last error in words.
    state TEXT NOT NULL DEFAULT 'idle',
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (source_id, platform)
);
CREATE INDEX idx_chat_connectors_user ON chat_connectors(user_id);

CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id BIGINT NOT NULL REFERENCES stream_sources(id) ON DELETE CASCADE,
    connector_id BIGINT REFERENCES chat_connectors(id) ON DELETE SET NULL,
    -- `native`, `youtube` or `twitch`.
    platform TEXT NOT NULL,
    -- The platform's id of the message (native: a UUID).
    platform_message_id TEXT NOT NULL,
    -- The ferrocast user who wrote it (native chat), else NULL.
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    author_name TEXT NOT NULL,
    -- The author's id on the platform (native: the user's UUID).
    author_platform_id TEXT NOT NULL DEFAULT '',
    message_text TEXT NOT NULL,
    -- `message`, `system` or `action`.
    message_type TEXT NOT NULL DEFAULT 'message',
    -- Badges and emotes, JSON.
    metadata TEXT NOT NULL DEFAULT '{}',
    deleted_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (source_id, platform, platform_message_id)
);
CREATE INDEX idx_chat_messages_source ON chat_messages(source_id, id);
