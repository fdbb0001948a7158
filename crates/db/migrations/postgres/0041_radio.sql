-- Radio (issue 25): a creator's audio channel plays a playlist of uploaded tracks without end,
-- as HLS audio and an Icecast-compatible AAC stream, and a DJ publishing to one of the
-- creator's sources takes over while live. Tracks are AAC (ADTS) objects in the storage layer
-- (radio/<user uuid>/<random>.aac). One node plays every station, by the radio lease.
CREATE TABLE radio_stations (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    playback_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    dj_source_id BIGINT REFERENCES stream_sources(id) ON DELETE SET NULL,
    now_title TEXT,
    now_track_id BIGINT,
    now_dj BOOLEAN NOT NULL DEFAULT FALSE,
    now_since BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE radio_tracks (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    artist TEXT NOT NULL DEFAULT '',
    duration_ms BIGINT NOT NULL,
    storage_key TEXT NOT NULL,
    position BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_radio_tracks_user ON radio_tracks(user_id, position);

CREATE TABLE radio_runner (
    id BIGINT PRIMARY KEY,
    holder TEXT,
    lease_until BIGINT
);
INSERT INTO radio_runner (id) VALUES (1);
