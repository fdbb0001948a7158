-- The fallback slate (issue 23): how long, in seconds, a source's stream stays live on a slate
-- when its encoder drops without unpublishing; 0 turns the slate off. Portable SQL.
ALTER TABLE stream_sources ADD COLUMN slate_secs BIGINT NOT NULL DEFAULT 120;
