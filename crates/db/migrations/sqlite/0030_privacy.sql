-- Your data (issue 21): a user's requests for an export of everything stored about them, and the
-- mark of an erased account. Times in ms.
--
-- An export is built by a job of the durable queue (`jobs`, kind `data_export`) into one ZIP
-- object in storage (`object_key`); `progress` is per mille. The ZIP is deleted, and the row
-- marked `expired`, once `expires_at` has passed. SQLite (postgres/0030 differs only in its id
-- column).
CREATE TABLE data_exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','running','ready','failed','expired')),
    progress BIGINT NOT NULL DEFAULT 0,
    stage TEXT,
    object_key TEXT,
    size_bytes BIGINT,
    error TEXT,
    -- The job that builds it.
    job_id BIGINT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    expires_at BIGINT
);
CREATE INDEX idx_data_exports_user ON data_exports(user_id, id);
CREATE INDEX idx_data_exports_expires ON data_exports(state, expires_at);

-- An erased account: the row stays (payments, purchases, payouts and the ledger refer to it and
-- must be kept) with every personal field replaced; `erased_at` says when. An erased account
-- cannot sign in.
ALTER TABLE users ADD COLUMN erased_at BIGINT;
