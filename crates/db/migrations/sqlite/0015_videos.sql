-- Recordings, uploads and video on demand (issue 18). A video is what a creator keeps: a live
-- session's recording, an upload or a short. Its bytes live in object storage under its uuid;
-- size_bytes counts all of its objects, so a user's storage is one SUM. Times are ms.
CREATE TABLE videos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The public id: 16 characters of lower-case base32, like a playback id.
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The source a recording came from; a deleted source keeps its recordings.
    source_id BIGINT REFERENCES stream_sources(id) ON DELETE SET NULL,
    kind TEXT NOT NULL CHECK (kind IN ('recording','upload','short')),
    title TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    -- A JSON array of strings.
    tags TEXT NOT NULL DEFAULT '[]',
    visibility TEXT NOT NULL DEFAULT 'public' CHECK (visibility IN ('public','unlisted','private')),
    status TEXT NOT NULL CHECK (status IN ('recording','uploading','processing','ready','failed')),
    -- Why it failed, in a sentence for its owner.
    failure TEXT,
    duration_ms BIGINT,
    width BIGINT,
    height BIGINT,
    video_codec TEXT,
    audio_codec TEXT,
    size_bytes BIGINT NOT NULL DEFAULT 0,
    has_hls BOOLEAN NOT NULL DEFAULT FALSE,
    has_mp4 BOOLEAN NOT NULL DEFAULT FALSE,
    has_thumbnail BOOLEAN NOT NULL DEFAULT FALSE,
    -- Frames in the preview strip (0: none).
    strip_frames BIGINT NOT NULL DEFAULT 0,
    -- Parts of a recording: a republish within the grace window continues as a new part.
    recording_parts BIGINT NOT NULL DEFAULT 0,
    -- The publishing session (the hub's generation) that last wrote the recording.
    recording_generation BIGINT,
    -- When the live session last ended; NULL while it is live.
    live_ended_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- When retention removes it; NULL keeps it.
    expires_at BIGINT
);
CREATE INDEX idx_videos_user_created ON videos(user_id, created_at);
CREATE INDEX idx_videos_status ON videos(status);
CREATE INDEX idx_videos_expires ON videos(expires_at);
CREATE INDEX idx_videos_source ON videos(source_id);

-- A durable job queue that any node may work: a job is claimed by setting locked_by and a lease
-- (locked_until); a node that dies stops renewing the lease and another node takes the job over.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    video_id BIGINT REFERENCES videos(id) ON DELETE CASCADE,
    -- JSON.
    payload TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','running','done','failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_after BIGINT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    -- Per mille (0 to 1000).
    progress BIGINT NOT NULL DEFAULT 0,
    stage TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX idx_jobs_due ON jobs(state, run_after);
CREATE INDEX idx_jobs_video ON jobs(video_id);

-- Resumable uploads (tus 1.0): the bytes are staged on one node until complete.
CREATE TABLE uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The upload id in the tus URL.
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    video_id BIGINT REFERENCES videos(id) ON DELETE CASCADE,
    -- Upload-Length, as declared.
    length BIGINT NOT NULL,
    -- Upload-Offset: bytes received so far.
    received BIGINT NOT NULL DEFAULT 0,
    -- The Upload-Metadata pairs, a JSON object of strings.
    metadata TEXT NOT NULL DEFAULT '{}',
    -- The node that stages the bytes.
    node TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX idx_uploads_user ON uploads(user_id);
CREATE INDEX idx_uploads_expires ON uploads(expires_at);

-- What plans give for video: storage, upload size, how long recordings are kept (0: until
-- deleted) and whether sources record unless they say otherwise. Neustream's seeds updated.
ALTER TABLE subscription_plans ADD COLUMN max_storage_mb BIGINT NOT NULL DEFAULT 2048;
ALTER TABLE subscription_plans ADD COLUMN max_upload_mb BIGINT NOT NULL DEFAULT 2048;
ALTER TABLE subscription_plans ADD COLUMN recording_retention_days BIGINT NOT NULL DEFAULT 7;
ALTER TABLE subscription_plans ADD COLUMN record_by_default BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE subscription_plans SET max_storage_mb = 51200, max_upload_mb = 10240, recording_retention_days = 90
    WHERE uuid = '6b0e2d59-3f4a-4c1e-9d0a-000000000002';
UPDATE subscription_plans SET max_storage_mb = 512000, max_upload_mb = 51200, recording_retention_days = 0
    WHERE uuid = '6b0e2d59-3f4a-4c1e-9d0a-000000000003';

-- Whether a source records its live sessions; NULL follows the plan's record_by_default.
ALTER TABLE stream_sources ADD COLUMN record BOOLEAN;
