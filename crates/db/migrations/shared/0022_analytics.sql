-- Creator analytics of live broadcasts (issue 19). Portable SQL, one file for both databases.
--
-- One row per viewer session that ended: a player's connection (RTMP, HTTP-FLV) or a run of
-- HLS requests under one session id. `viewer_key` is a keyed hash of the viewer's address and
-- user agent (no address is stored); `origin` is coarse: watch_page, embed or external.
CREATE TABLE viewer_sessions (
    stream_session_id BIGINT NOT NULL REFERENCES stream_sessions(id) ON DELETE CASCADE,
    protocol TEXT NOT NULL,
    origin TEXT NOT NULL,
    viewer_key TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL
);
CREATE INDEX idx_viewer_sessions_stream ON viewer_sessions(stream_session_id, started_at);
CREATE INDEX idx_viewer_sessions_started ON viewer_sessions(started_at);
-- Concurrent viewers of a broadcast every 5 s: at the instant `at` (by protocol and origin),
-- the most at once since the previous sample (`peak`), and the people with its watch page open.
CREATE TABLE viewer_samples (
    stream_session_id BIGINT NOT NULL REFERENCES stream_sessions(id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    viewers BIGINT NOT NULL,
    peak BIGINT NOT NULL,
    rtmp BIGINT NOT NULL,
    http_flv BIGINT NOT NULL,
    hls BIGINT NOT NULL,
    ll_hls BIGINT NOT NULL,
    watch_page BIGINT NOT NULL,
    embed BIGINT NOT NULL,
    external BIGINT NOT NULL,
    page_viewers BIGINT NOT NULL,
    PRIMARY KEY (stream_session_id, at)
);
CREATE INDEX idx_viewer_samples_at ON viewer_samples(at);
-- A broadcast's chat messages are counted by time.
CREATE INDEX idx_chat_messages_source_created ON chat_messages(source_id, created_at);
