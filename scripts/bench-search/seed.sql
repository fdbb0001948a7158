-- A catalogue for scripts/bench-search.sh, the same SQL on SQLite and PostgreSQL: @CHANNELS@
-- creators with a handle, name and bio made of words from a 64-word list, one stream source each
-- (@LIVE@ of them live, with an open session), and @VIDEOS@ videos spread over the channels
-- (nine in ten public and ready). The search indexes fill as the rows go in, as they would in use.
CREATE TABLE bench_words (id BIGINT PRIMARY KEY, w TEXT NOT NULL);
INSERT INTO bench_words (id, w) VALUES
 (0,'speedrun'),(1,'retro'),(2,'pixel'),(3,'synth'),(4,'jazz'),(5,'chess'),(6,'cooking'),(7,'garden'),
 (8,'travel'),(9,'coding'),(10,'rust'),(11,'music'),(12,'guitar'),(13,'piano'),(14,'drums'),(15,'painting'),
 (16,'anime'),(17,'horror'),(18,'racing'),(19,'soccer'),(20,'tennis'),(21,'yoga'),(22,'fitness'),(23,'science'),
 (24,'space'),(25,'history'),(26,'physics'),(27,'math'),(28,'poetry'),(29,'books'),(30,'movies'),(31,'comedy'),
 (32,'podcast'),(33,'news'),(34,'fishing'),(35,'hiking'),(36,'camping'),(37,'baking'),(38,'coffee'),(39,'tea'),
 (40,'cats'),(41,'dogs'),(42,'birds'),(43,'ocean'),(44,'mountain'),(45,'city'),(46,'night'),(47,'morning'),
 (48,'lofi'),(49,'chill'),(50,'arcade'),(51,'strategy'),(52,'puzzle'),(53,'builder'),(54,'craft'),(55,'sewing'),
 (56,'knitting'),(57,'robots'),(58,'drones'),(59,'cars'),(60,'trains'),(61,'owl'),(62,'streamer'),(63,'studio');

INSERT INTO users (uuid, email, password_hash, display_name, role, email_verified, created_at, updated_at, handle, bio)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @CHANNELS@)
SELECT 'bench-user-' || i, 'bench' || i || '@example.com', NULL,
    (SELECT w FROM bench_words WHERE id = i % 64) || ' ' || (SELECT w FROM bench_words WHERE id = (i * 7 + 3) % 64),
    'creator', TRUE, @NOW@ - i * 1000, @NOW@ - i * 1000,
    (SELECT w FROM bench_words WHERE id = (i * 5 + 1) % 64) || (SELECT w FROM bench_words WHERE id = (i * 11 + 2) % 64) || i,
    'I stream ' || (SELECT w FROM bench_words WHERE id = (i * 13) % 64) || ' and ' ||
    (SELECT w FROM bench_words WHERE id = (i * 17 + 1) % 64) || ' with a side of ' ||
    (SELECT w FROM bench_words WHERE id = (i * 19 + 5) % 64) || '. Say hello in chat!'
FROM n;

INSERT INTO stream_sources (uuid, user_id, name, stream_key_hash, stream_key_sealed, playback_id, is_active,
    created_at, updated_at, title, category, tags, language)
SELECT 'bench-source-' || u.id, u.id, 'Main',
    'bench-key-' || u.id, 'sealed', 'benchpid' || u.id, u.id - b.first < @LIVE@, @NOW@, @NOW@,
    (SELECT w FROM bench_words WHERE id = (u.id * 3) % 64) || ' ' || (SELECT w FROM bench_words WHERE id = (u.id * 7 + 9) % 64) || ' live',
    CASE u.id % 4 WHEN 0 THEN 'gaming' WHEN 1 THEN 'music' WHEN 2 THEN 'just-chatting' ELSE 'art' END,
    '["' || (SELECT w FROM bench_words WHERE id = (u.id * 23) % 64) || '"]', 'en'
FROM users u, (SELECT MIN(id) AS first FROM users WHERE email LIKE 'bench%') b
WHERE u.email LIKE 'bench%';

-- The live ones have an open session whose heartbeat is far ahead, so no sweep closes it.
INSERT INTO stream_sessions (uuid, user_id, source_id, started_at, last_seen_at)
SELECT 'bench-session-' || s.id, s.user_id, s.id, @NOW@ - s.id * 1000, 9000000000000
FROM stream_sources s WHERE s.is_active = TRUE AND s.uuid LIKE 'bench-source-%';

INSERT INTO videos (uuid, user_id, kind, title, description, tags, visibility, status, duration_ms, width, height,
    has_hls, has_mp4, has_thumbnail, created_at, updated_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @VIDEOS@)
SELECT 'benchvideo' || i, b.first + i % @CHANNELS@,
    CASE WHEN i % 10 = 0 THEN 'short' ELSE 'upload' END,
    (SELECT w FROM bench_words WHERE id = (i * 29 + 7) % 64) || ' ' || (SELECT w FROM bench_words WHERE id = (i * 31 + 1) % 64) || ' #' || i,
    'A video about ' || (SELECT w FROM bench_words WHERE id = (i * 37) % 64) || ', ' ||
    (SELECT w FROM bench_words WHERE id = (i * 41 + 3) % 64) || ' and ' || (SELECT w FROM bench_words WHERE id = (i * 43 + 11) % 64) || '.',
    '["' || (SELECT w FROM bench_words WHERE id = (i * 47) % 64) || '"]',
    CASE WHEN i % 10 = 5 THEN 'private' ELSE 'public' END, 'ready',
    CASE WHEN i % 10 = 0 THEN 45000 ELSE 600000 END,
    CASE WHEN i % 10 = 0 THEN 1080 ELSE 1920 END, CASE WHEN i % 10 = 0 THEN 1920 ELSE 1080 END,
    TRUE, TRUE, TRUE, @NOW@ - i * 1000, @NOW@ - i * 1000
FROM n, (SELECT MIN(id) AS first FROM users WHERE email LIKE 'bench%') b;

DROP TABLE bench_words;
