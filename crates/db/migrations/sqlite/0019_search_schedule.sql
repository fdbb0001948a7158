-- Search (issue 19): full-text indexes over channels (handle, display name, bio), streams
-- (title, tags, category) and public ready videos (title, tags, description), kept in step with
-- their tables by triggers, so every write that changes what is searched changes the index in
-- the same transaction. SQLite's FTS5 here; PostgreSQL has tsvector columns and GIN indexes
-- instead (its own 0019). Each index's rowid is its row's id.
CREATE VIRTUAL TABLE search_channels USING fts5(handle, name, bio);
CREATE VIRTUAL TABLE search_streams USING fts5(title, tags, category);
CREATE VIRTUAL TABLE search_videos USING fts5(title, tags, description);

CREATE TRIGGER search_channels_insert AFTER INSERT ON users BEGIN
    INSERT INTO search_channels (rowid, handle, name, bio)
        VALUES (NEW.id, COALESCE(NEW.handle, ''), NEW.display_name, NEW.bio);
END;
CREATE TRIGGER search_channels_update AFTER UPDATE OF handle, display_name, bio ON users BEGIN
    DELETE FROM search_channels WHERE rowid = OLD.id;
    INSERT INTO search_channels (rowid, handle, name, bio)
        VALUES (NEW.id, COALESCE(NEW.handle, ''), NEW.display_name, NEW.bio);
END;
CREATE TRIGGER search_channels_delete AFTER DELETE ON users BEGIN
    DELETE FROM search_channels WHERE rowid = OLD.id;
END;
INSERT INTO search_channels (rowid, handle, name, bio)
    SELECT id, COALESCE(handle, ''), display_name, bio FROM users;

-- A category is searched by the words of its slug (`food-drink`: food, drink).
CREATE TRIGGER search_streams_insert AFTER INSERT ON stream_sources BEGIN
    INSERT INTO search_streams (rowid, title, tags, category)
        VALUES (NEW.id, COALESCE(NEW.title, NEW.name), NEW.tags, REPLACE(COALESCE(NEW.category, ''), '-', ' '));
END;
CREATE TRIGGER search_streams_update AFTER UPDATE OF name, title, tags, category ON stream_sources BEGIN
    DELETE FROM search_streams WHERE rowid = OLD.id;
    INSERT INTO search_streams (rowid, title, tags, category)
        VALUES (NEW.id, COALESCE(NEW.title, NEW.name), NEW.tags, REPLACE(COALESCE(NEW.category, ''), '-', ' '));
END;
CREATE TRIGGER search_streams_delete AFTER DELETE ON stream_sources BEGIN
    DELETE FROM search_streams WHERE rowid = OLD.id;
END;
INSERT INTO search_streams (rowid, title, tags, category)
    SELECT id, COALESCE(title, name), tags, REPLACE(COALESCE(category, ''), '-', ' ') FROM stream_sources;

-- Only what anyone may watch is indexed: public and ready.
CREATE TRIGGER search_videos_insert AFTER INSERT ON videos
    WHEN NEW.visibility = 'public' AND NEW.status = 'ready' BEGIN
    INSERT INTO search_videos (rowid, title, tags, description)
        VALUES (NEW.id, NEW.title, NEW.tags, NEW.description);
END;
CREATE TRIGGER search_videos_update AFTER UPDATE OF title, tags, description, visibility, status ON videos BEGIN
    DELETE FROM search_videos WHERE rowid = OLD.id;
    INSERT INTO search_videos (rowid, title, tags, description)
        SELECT NEW.id, NEW.title, NEW.tags, NEW.description
        WHERE NEW.visibility = 'public' AND NEW.status = 'ready';
END;
CREATE TRIGGER search_videos_delete AFTER DELETE ON videos BEGIN
    DELETE FROM search_videos WHERE rowid = OLD.id;
END;
INSERT INTO search_videos (rowid, title, tags, description)
    SELECT id, title, tags, description FROM videos WHERE visibility = 'public' AND status = 'ready';

-- Handles by their letter pairs, for prefixes with typos ("strmer" finds "streamer42"): the
-- pairs of '^' || handle with their position. Candidates share pairs near the start; the
-- application measures the edit distance of each.
CREATE TABLE search_positions (n BIGINT PRIMARY KEY);
INSERT INTO search_positions (n) VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10),
    (11), (12), (13), (14), (15), (16), (17), (18), (19), (20), (21), (22), (23), (24), (25),
    (26), (27), (28), (29), (30), (31), (32);
CREATE TABLE search_handle_grams (
    gram TEXT NOT NULL,
    pos BIGINT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (gram, pos, user_id)
);
CREATE INDEX idx_search_handle_grams_user ON search_handle_grams(user_id);
CREATE TRIGGER search_handle_grams_insert AFTER INSERT ON users WHEN NEW.handle IS NOT NULL BEGIN
    INSERT INTO search_handle_grams (gram, pos, user_id)
        SELECT substr('^' || NEW.handle, n, 2), n, NEW.id FROM search_positions WHERE n <= length(NEW.handle);
END;
CREATE TRIGGER search_handle_grams_update AFTER UPDATE OF handle ON users BEGIN
    DELETE FROM search_handle_grams WHERE user_id = OLD.id;
    INSERT INTO search_handle_grams (gram, pos, user_id)
        SELECT substr('^' || NEW.handle, n, 2), n, NEW.id FROM search_positions
        WHERE NEW.handle IS NOT NULL AND n <= length(NEW.handle);
END;
INSERT INTO search_handle_grams (gram, pos, user_id)
    SELECT substr('^' || u.handle, p.n, 2), p.n, u.id FROM users u JOIN search_positions p
    ON p.n <= length(u.handle) WHERE u.handle IS NOT NULL;

-- The shorts feed: public, ready videos taller than wide and at most a minute long, newest first.
CREATE INDEX idx_videos_shorts ON videos(created_at, id)
    WHERE visibility = 'public' AND status = 'ready' AND height > width AND duration_ms <= 60000;

-- A creator's schedule: upcoming streams with a title, a start and a duration (ms), a
-- category, and how many minutes before the start a calendar reminds (NULL: no reminder).
CREATE TABLE scheduled_streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    category TEXT REFERENCES categories(slug) ON DELETE SET NULL,
    reminder_minutes BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idx_scheduled_streams_user_start ON scheduled_streams(user_id, starts_at);
