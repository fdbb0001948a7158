-- Public profiles and channels. `handle` is the channel's address (`/c/<handle>`): 3 to 30 of
-- a-z, 0-9 and _, stored lowercase, unique. Accounts made before this migration get theirs
-- derived from their display name when the server starts (the derivation is the application's,
-- one rule for both backends), so it is NULL only until then. `bio` is plain text, `links` a
-- JSON array of {label, url}; `avatar_key` and `banner_key` name objects in the storage layer.
-- Portable SQL, so one file serves SQLite and PostgreSQL.
ALTER TABLE users ADD COLUMN handle TEXT;
ALTER TABLE users ADD COLUMN bio TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN links TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN avatar_key TEXT;
ALTER TABLE users ADD COLUMN banner_key TEXT;
CREATE UNIQUE INDEX idx_users_handle ON users(handle);
