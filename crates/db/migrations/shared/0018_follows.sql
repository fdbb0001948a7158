-- Follows: a user (`follower_id`) follows a channel (the account `channel_id`). Times in ms.
-- The index on (channel_id, created_at) answers a channel's follower count, its new followers
-- over a time range and the batches a go-live notice is sent in. Portable SQL.
CREATE TABLE follows (
    follower_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (follower_id, channel_id)
);
CREATE INDEX idx_follows_channel ON follows(channel_id, created_at);
