-- Sign-in with Google and Twitch (OpenID Connect). Times are Unix milliseconds.

-- A provider account linked to a user: (provider, subject) names it for good, whatever its
-- email becomes. A user may link several; the last way in (a password or an identity) cannot
-- be unlinked.
CREATE TABLE user_identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT,
    UNIQUE (provider, subject)
);
CREATE INDEX idx_user_identities_user ON user_identities(user_id);

-- A sign-in (or link, or chat connection) waiting for the provider's callback, on whichever node
-- it lands: the state's hash, the sealed PKCE verifier, the nonce's hash, where to return, and
-- the hash of the cookie that binds it to the browser that started it.
-- Taken once (used_at), valid until expires_at; rows an hour past expiry are deleted.
CREATE TABLE oauth_logins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state_hash TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL,
    purpose TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    source_id BIGINT,
    verifier_sealed TEXT NOT NULL,
    nonce_hash TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX idx_oauth_logins_expiry ON oauth_logins(expires_at);

-- The short-lived, single-use code the web app trades for a session after a provider sign-in,
-- so tokens never travel in a URL; only the browser holding the cookie whose hash is
-- binding_hash can trade it (a code alone cannot sign someone else's browser in).
CREATE TABLE oauth_handoffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash TEXT NOT NULL UNIQUE,
    binding_hash TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX idx_oauth_handoffs_expiry ON oauth_handoffs(expires_at);
