-- The audit log: an append-only sequence of entries, each the leaf of an RFC 9162 Merkle tree
-- and chained to the one before by its hash (the README's "The audit log" gives the leaf's
-- exact bytes). Rows are never updated or deleted by the application; `ferrocast audit verify`
-- recomputes every hash from these columns.
CREATE TABLE audit_log (
    -- The leaf's index, from 0, without gaps.
    idx BIGINT PRIMARY KEY,
    -- Unix milliseconds.
    created_at BIGINT NOT NULL,
    -- Dotted action: auth.login, admin.settings_changed, payment.succeeded …
    action TEXT NOT NULL,
    -- user:42, system or anonymous.
    actor TEXT NOT NULL,
    -- The acting user, for filtering (not a foreign key: entries outlive accounts).
    actor_user_id BIGINT,
    -- What the action was about (user/42, video/<uuid> …), if anything.
    subject_kind TEXT,
    subject_id TEXT,
    -- Non-personal facts, canonical JSON.
    details TEXT NOT NULL,
    -- SHA-256(salt || canonical personal JSON), hex; NULL when the entry has no personal data.
    personal_commitment TEXT,
    -- The previous leaf's hash (hex; 64 zeros for the first) and this leaf's.
    prev_hash TEXT NOT NULL,
    leaf_hash TEXT NOT NULL
);
CREATE INDEX idx_audit_log_created ON audit_log(created_at);
CREATE INDEX idx_audit_log_action ON audit_log(action);
CREATE INDEX idx_audit_log_actor ON audit_log(actor_user_id);
CREATE INDEX idx_audit_log_subject ON audit_log(subject_kind, subject_id);

-- The log's head: one row, locked by every append so that entries are numbered one at a time.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, size, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The personal data of entries (emails, addresses, free text), apart from the hashed leaves:
-- erasing a user's rows here leaves the tree intact (the leaf keeps only the commitment).
CREATE TABLE audit_personal (
    idx BIGINT PRIMARY KEY REFERENCES audit_log(idx),
    -- The user the data is about (not a foreign key: erasure happens as the account goes).
    user_id BIGINT,
    -- Canonical JSON.
    personal TEXT NOT NULL,
    -- 16 random bytes, hex.
    salt TEXT NOT NULL
);
CREATE INDEX idx_audit_personal_user ON audit_personal(user_id);

-- Signed checkpoints: the tree's size and hash at a time, signed with the audit key.
CREATE TABLE audit_checkpoints (
    tree_size BIGINT PRIMARY KEY,
    root_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- The signed body (C2SP tlog-checkpoint) and its Ed25519 signature, base64.
    body TEXT NOT NULL,
    signature TEXT NOT NULL,
    -- The signing key's public half, hex (the key may be rotated).
    public_key TEXT NOT NULL
);
CREATE INDEX idx_audit_checkpoints_created ON audit_checkpoints(created_at);
