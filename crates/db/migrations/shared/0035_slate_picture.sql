-- The fallback slate's picture (issue 23): the storage key of the creator's own slate for a
-- source (a 1280×720 JPEG); NULL: the default slate. Portable SQL.
ALTER TABLE stream_sources ADD COLUMN slate_key TEXT;
