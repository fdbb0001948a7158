-- Failed credential attempts per account and kind ('password', 'second_factor', 'reset_code'),
-- counted across every client address: a fixed window, and a lock once too many fail in it.
-- Portable SQL, so one file serves SQLite and PostgreSQL.
CREATE TABLE account_guards (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    locked_until BIGINT,
    PRIMARY KEY (user_id, kind)
);
