-- Trust and safety (issue 21): reports of any content, the moderators' decisions on them,
-- strikes (each counting for 90 days unless overturned; three in force restrict the account),
-- appeals and their decisions, and bans. SQLite (postgres/0028 differs only in id columns).
-- Times in Unix ms.

-- Reports (0020 made them for comments) now cover a channel (`channel`: subject_id is the
-- user), a live stream (`live_stream`: the source), a video (`video`), a comment (`comment`) and
-- a chat message (`chat_message`). `snapshot` keeps what the item said when it was reported
-- (JSON), so the queue can show it after its author deleted it. A reporter has at most one open
-- report per item; a decided report can be followed by a new one.
ALTER TABLE reports ADD COLUMN category TEXT NOT NULL DEFAULT 'other';
ALTER TABLE reports ADD COLUMN subject_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE reports ADD COLUMN snapshot TEXT NOT NULL DEFAULT '{}';
-- What the moderator did: dismiss, remove, warn, strike, suspend, ban (NULL while open).
ALTER TABLE reports ADD COLUMN outcome TEXT;
ALTER TABLE reports ADD COLUMN resolution_note TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN resolved_by BIGINT REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE reports ADD COLUMN resolved_at BIGINT;
UPDATE reports SET subject_user_id = (SELECT c.user_id FROM video_comments c WHERE c.id = reports.subject_id)
    WHERE kind = 'comment';
DROP INDEX idx_reports_once;
CREATE UNIQUE INDEX idx_reports_open_once ON reports(reporter_id, kind, subject_id) WHERE status = 'open';
CREATE INDEX idx_reports_item ON reports(kind, subject_id, id);
CREATE INDEX idx_reports_subject_user ON reports(subject_user_id, id);
CREATE INDEX idx_reports_reporter ON reports(reporter_id, id);

-- A strike counts from issued_at until expires_at (issued_at + 90 days) unless overturned on
-- appeal. `issued_by` NULL: the system (e.g. the repeat-infringer policy). `evidence` names
-- what it rests on (`report:7`, `dmca:12`).
CREATE TABLE strikes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    evidence TEXT,
    issued_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    overturned_at BIGINT,
    overturned_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    overturn_note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_strikes_user ON strikes(user_id, expires_at);

-- An appeal of a strike, or of a removal (the report whose outcome removed the user's content).
-- Decided once: upheld (stays) or overturned (the strike stops counting), with a note.
CREATE TABLE appeals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    strike_id BIGINT REFERENCES strikes(id) ON DELETE CASCADE,
    report_id BIGINT REFERENCES reports(id) ON DELETE CASCADE,
    statement TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'upheld', 'overturned')),
    decided_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    decided_at BIGINT,
    decision_note TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    CHECK ((strike_id IS NULL) <> (report_id IS NULL))
);
CREATE UNIQUE INDEX idx_appeals_strike_once ON appeals(strike_id) WHERE strike_id IS NOT NULL;
CREATE UNIQUE INDEX idx_appeals_report_once ON appeals(report_id, user_id) WHERE report_id IS NOT NULL;
CREATE INDEX idx_appeals_status ON appeals(status, id);
CREATE INDEX idx_appeals_user ON appeals(user_id, id);

-- A ban: an administrator's suspension (suspended_at, 0014) marked final, with its reason.
ALTER TABLE users ADD COLUMN banned_at BIGINT;
ALTER TABLE users ADD COLUMN ban_reason TEXT;

-- Notification kinds are the application's to check (ferrocast_server's notify::Kind), so that
-- a new kind (here `moderation`) needs no table rebuild: the kind CHECKs of 0021 go. SQLite
-- cannot drop a CHECK, so the tables are rebuilt with their rows (deliveries first, as they
-- reference notifications; dropping notifications with them in place would cascade).
CREATE TABLE notification_deliveries_copy AS SELECT * FROM notification_deliveries;
DROP TABLE notification_deliveries;
CREATE TABLE notifications_copy AS SELECT * FROM notifications;
DROP TABLE notifications;
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL,
    actor_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    read_at BIGINT,
    in_app BOOLEAN NOT NULL DEFAULT TRUE
);
INSERT INTO notifications (id, user_id, kind, title, body, url, actor_id, dedup_key, created_at, read_at, in_app)
    SELECT id, user_id, kind, title, body, url, actor_id, dedup_key, created_at, read_at, in_app FROM notifications_copy;
DROP TABLE notifications_copy;
CREATE INDEX idx_notifications_user ON notifications(user_id, id);
CREATE INDEX idx_notifications_recent ON notifications(user_id, kind, actor_id, created_at);
CREATE TABLE notification_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel TEXT NOT NULL CHECK (channel IN ('push','email','digest')),
    target BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','running','sent','failed','dropped')),
    attempts BIGINT NOT NULL DEFAULT 0,
    run_after BIGINT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (notification_id, channel, target)
);
INSERT INTO notification_deliveries (id, notification_id, user_id, channel, target, state, attempts, run_after,
        locked_by, locked_until, error, created_at, updated_at)
    SELECT id, notification_id, user_id, channel, target, state, attempts, run_after,
        locked_by, locked_until, error, created_at, updated_at FROM notification_deliveries_copy;
DROP TABLE notification_deliveries_copy;
CREATE INDEX idx_notification_deliveries_due ON notification_deliveries(state, run_after);
CREATE INDEX idx_notification_deliveries_user ON notification_deliveries(user_id, channel, state);
CREATE TABLE notification_preferences_copy AS SELECT * FROM notification_preferences;
DROP TABLE notification_preferences;
CREATE TABLE notification_preferences (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    channel_id BIGINT NOT NULL DEFAULT 0,
    in_app BOOLEAN NOT NULL,
    email TEXT NOT NULL CHECK (email IN ('off','instant','daily')),
    push BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind, channel_id)
);
INSERT INTO notification_preferences (user_id, kind, channel_id, in_app, email, push, updated_at)
    SELECT user_id, kind, channel_id, in_app, email, push, updated_at FROM notification_preferences_copy;
DROP TABLE notification_preferences_copy;
