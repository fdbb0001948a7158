-- Site-wide settings administrators change while the site runs (maintenance mode, whether
-- registration is open), one row per key; a key without a row keeps the configured default.
-- Portable SQL, so one file serves SQLite and PostgreSQL.
CREATE TABLE site_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_by BIGINT,
    updated_at BIGINT NOT NULL
);
