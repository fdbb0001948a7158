-- Hangouts (issue 25): a host's WebRTC room of up to 8 on stage (host and speakers, who join by
-- the speaker link's code) and an audience, each on-stage peer publishing one stream through
-- the node's SFU; optionally broadcast as a composite to one of the host's sources. Peers that
-- stop checking in are dropped.
CREATE TABLE hangouts (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    host_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    speaker_code TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at BIGINT,
    broadcast_source_id BIGINT REFERENCES stream_sources(id) ON DELETE SET NULL
);
CREATE INDEX idx_hangouts_host ON hangouts(host_id, id);

CREATE TABLE hangout_peers (
    id TEXT PRIMARY KEY,
    hangout_id BIGINT NOT NULL REFERENCES hangouts(id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    playback_id TEXT NOT NULL UNIQUE,
    publishing BOOLEAN NOT NULL DEFAULT FALSE,
    joined_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
CREATE INDEX idx_hangout_peers_room ON hangout_peers(hangout_id, joined_at);
