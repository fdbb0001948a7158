-- Stream sources: one stream configuration each, with its own secret stream key and a public
-- playback id. The key is stored sealed (AES-256-GCM, so the owner can see it again) and as a
-- SHA-256 hash (for lookup at publish time without comparing secrets).
CREATE TABLE stream_sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    stream_key_hash TEXT NOT NULL UNIQUE,
    stream_key_sealed TEXT NOT NULL,
    playback_id TEXT NOT NULL UNIQUE,
    is_active BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idx_stream_sources_user ON stream_sources(user_id);
