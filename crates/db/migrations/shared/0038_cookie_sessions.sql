-- Browser sessions in a cookie (issue 25): a session started with `"session": "cookie"` keeps
-- the hash of its cookie's token here. The cookie is not rotated on refresh (tabs share it);
-- a new login replaces it, logout revokes the session. Portable SQL.
ALTER TABLE auth_sessions ADD COLUMN cookie_hash TEXT;
CREATE UNIQUE INDEX idx_auth_sessions_cookie ON auth_sessions(cookie_hash);
