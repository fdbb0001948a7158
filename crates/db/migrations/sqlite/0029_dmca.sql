-- Copyright notices (DMCA), SQLite (postgres/0029 differs only in its id columns).
-- A notice of claimed infringement (17 U.S.C. §512(c)(3)) against one video. Nothing here
-- references users or videos with a foreign key: a case, its counter-notice and its evidence
-- outlive the video and its uploader's account (the uploader's id and the video's public id are
-- kept as they were). status: received → content_disabled (at once) → counter_noticed →
-- restored (the waiting period passed, or the operator restored it) | court_action (the
-- complainant went to court: the video stays disabled); content_disabled → withdrawn (the
-- notice was withdrawn: the video comes back) | restored (a mistaken notice, by the operator).
-- Times are Unix ms.
CREATE TABLE dmca_notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- SHA-256 (hex) of the complainant's case token; the token itself is only sent to them.
    token_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received','content_disabled','counter_noticed','restored','court_action','withdrawn')),
    video_uuid TEXT NOT NULL,
    video_id BIGINT,
    uploader_id BIGINT,
    -- The complaining party or the person authorised to act for them.
    complainant_name TEXT NOT NULL,
    complainant_address TEXT NOT NULL,
    complainant_phone TEXT NOT NULL,
    complainant_email TEXT NOT NULL,
    -- §512(c)(3)(A)(ii): the copyrighted work claimed to be infringed.
    work TEXT NOT NULL,
    -- §512(c)(3)(A)(iii): where the material is (a JSON array of URLs).
    infringing_urls TEXT NOT NULL,
    -- §512(c)(3)(A)(v), (vi): good faith; accuracy, and authority under penalty of perjury.
    good_faith BOOLEAN NOT NULL,
    accurate BOOLEAN NOT NULL,
    authorized BOOLEAN NOT NULL,
    -- §512(c)(3)(A)(i): the electronic signature (the signer's full name as typed).
    signature TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT,
    counter_noticed_at BIGINT,
    -- When the sweep restores a countered video (counter-notice + the waiting period).
    restore_after BIGINT,
    resolved_at BIGINT,
    -- The operator's note on court action, a withdrawal or a restore.
    resolution_note TEXT,
    -- The strike the takedown gave the uploader (repeat-infringer policy), once given.
    strike_id BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idx_dmca_notices_video ON dmca_notices(video_uuid);
CREATE INDEX idx_dmca_notices_status ON dmca_notices(status, restore_after);
CREATE INDEX idx_dmca_notices_uploader ON dmca_notices(uploader_id);

-- The uploader's counter-notification (§512(g)(3)), one per notice.
CREATE TABLE dmca_counter_notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notice_id BIGINT NOT NULL UNIQUE REFERENCES dmca_notices(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    phone TEXT NOT NULL,
    email TEXT NOT NULL,
    -- §512(g)(3)(B): the material removed and where it appeared.
    material TEXT NOT NULL,
    -- §512(g)(3)(C): good-faith belief of mistake or misidentification, under penalty of perjury.
    mistake BOOLEAN NOT NULL,
    -- §512(g)(3)(D): consent to the jurisdiction of the Federal District Court and to service.
    consent BOOLEAN NOT NULL,
    signature TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The evidence preserved when a notice disables a video: each object copied under
-- holds/dmca/<notice>/ (which no deletion path may touch) and a metadata snapshot, each with its
-- SHA-256 (hex) and size as written.
CREATE TABLE dmca_evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notice_id BIGINT NOT NULL REFERENCES dmca_notices(id) ON DELETE CASCADE,
    -- 'object' (a copy of one of the video's objects) or 'metadata' (the JSON snapshot).
    kind TEXT NOT NULL CHECK (kind IN ('object','metadata')),
    source_key TEXT,
    hold_key TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (notice_id, hold_key)
);

-- A video disabled by a notice: its media answer 451 and it leaves listings until restored.
ALTER TABLE videos ADD COLUMN disabled_at BIGINT;
ALTER TABLE videos ADD COLUMN disabled_reason TEXT;
