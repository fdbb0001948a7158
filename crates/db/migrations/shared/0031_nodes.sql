-- The node registry: which nodes of a deployment are up (a heartbeat every few seconds), how
-- the others reach them, and which live streams each holds (published there by an encoder, or
-- relayed from the node that holds it). A node whose heartbeat stops is expired by the others;
-- a node that stops cleanly removes its rows.
CREATE TABLE nodes (
    -- A fresh id per process.
    id TEXT PRIMARY KEY,
    -- `origin` or `edge`.
    role TEXT NOT NULL,
    -- How other nodes reach it: rtmp://host:port and http(s)://host:port.
    rtmp_url TEXT NOT NULL,
    http_url TEXT NOT NULL,
    -- Unix milliseconds.
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
CREATE INDEX idx_nodes_heartbeat ON nodes(heartbeat_at);

CREATE TABLE node_streams (
    node_id TEXT NOT NULL,
    playback_id TEXT NOT NULL,
    source_id BIGINT NOT NULL,
    -- TRUE: relayed from another node; FALSE: published here (this node is its origin).
    relay BOOLEAN NOT NULL,
    -- Unix milliseconds.
    since BIGINT NOT NULL,
    PRIMARY KEY (node_id, playback_id)
);
CREATE INDEX idx_node_streams_playback ON node_streams(playback_id);
