-- An account an administrator suspended: when (ms), NULL while active. A suspended account
-- cannot log in, its sessions and API keys are refused, and its stream keys cannot publish;
-- reactivating clears it. Portable SQL, so one file serves SQLite and PostgreSQL.
ALTER TABLE users ADD COLUMN suspended_at BIGINT;
