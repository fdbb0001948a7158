-- What a creator says about a stream (issue 19): a title (NULL: the source's name), a category
-- from the list below, tags (a JSON array of strings), a language (ISO 639-1) and whether it
-- is for adults. The list of categories is data, so an operator may add to it; a source keeps
-- no category whose row is gone. Portable SQL, so one file serves SQLite and PostgreSQL.
CREATE TABLE categories (
    slug TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sort BIGINT NOT NULL
);
INSERT INTO categories (slug, name, sort) VALUES
    ('just-chatting', 'Just Chatting', 10),
    ('music', 'Music', 20),
    ('gaming', 'Gaming', 30),
    ('art', 'Art', 40),
    ('education', 'Education', 50),
    ('science-technology', 'Science & Technology', 60),
    ('sports', 'Sports', 70),
    ('talk-shows-podcasts', 'Talk Shows & Podcasts', 80),
    ('travel-outdoors', 'Travel & Outdoors', 90),
    ('food-drink', 'Food & Drink', 100),
    ('fitness', 'Fitness', 110),
    ('other', 'Other', 1000);
ALTER TABLE stream_sources ADD COLUMN title TEXT;
ALTER TABLE stream_sources ADD COLUMN category TEXT REFERENCES categories(slug) ON DELETE SET NULL;
ALTER TABLE stream_sources ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE stream_sources ADD COLUMN language TEXT;
ALTER TABLE stream_sources ADD COLUMN mature BOOLEAN NOT NULL DEFAULT FALSE;
-- "Live now" reads the sources marked live.
CREATE INDEX idx_stream_sources_active ON stream_sources(is_active);
