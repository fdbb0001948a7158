-- What a user chose for billing: the currency prices are shown and charged in ('USD' or 'INR').
-- No row: the user has not chosen, and the request's hints (Accept-Language) decide.
-- Portable SQL, so one file serves SQLite and PostgreSQL.
CREATE TABLE billing_preferences (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    currency TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
