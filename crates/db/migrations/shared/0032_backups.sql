-- Automatic backups (FERROCAST_BACKUP_SCHEDULE). One node at a time takes them: the holder of
-- this lease, which it renews while it lives; a lease not renewed in time can be taken by
-- another node. Each run is recorded, so that every node reports the same last success in
-- /metrics and doctor, and the admin page lists them. Portable SQL for SQLite and PostgreSQL.
CREATE TABLE backup_lease (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);

CREATE TABLE backup_runs (
    -- Where the backup is stored (`backups/ferrocast-20260101T000000Z.fcbak`).
    storage_key TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    size_bytes BIGINT,
    -- Why it failed, in a sentence; NULL while running and on success.
    error TEXT,
    -- Set when retention removed the file.
    pruned_at BIGINT
);
CREATE INDEX idx_backup_runs_started ON backup_runs(started_at);
