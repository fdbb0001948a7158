-- Engagement with videos (issue 19): likes, comments with one level of replies, reports, views
-- counted once per viewer per 30 minutes, and watch time from the players' heartbeats.
-- Likes and comments are counted from their rows; views and watch time are kept on the video
-- too (videos.view_count, videos.watch_ms), in the same transaction as the rows they add up.
ALTER TABLE videos ADD COLUMN view_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN watch_ms BIGINT NOT NULL DEFAULT 0;

CREATE TABLE video_likes (
    video_id BIGINT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (video_id, user_id)
);
CREATE INDEX idx_video_likes_created ON video_likes(created_at);

CREATE TABLE video_comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id BIGINT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The top-level comment this one answers (one level: a reply to a reply is stored as a
    -- reply to the top-level comment); deleting a comment deletes its replies.
    parent_id BIGINT REFERENCES video_comments(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_video_comments_video ON video_comments(video_id, id);
CREATE INDEX idx_video_comments_parent ON video_comments(parent_id, id);
CREATE INDEX idx_video_comments_user ON video_comments(user_id, created_at);
CREATE INDEX idx_video_comments_created ON video_comments(created_at);

-- What viewers report for the moderators' queue: `kind` names the table of `subject_id`
-- (`comment`); one report per reporter and subject.
CREATE TABLE reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reporter_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    kind TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','resolved','dismissed')),
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX idx_reports_once ON reports(reporter_id, kind, subject_id);
CREATE INDEX idx_reports_status ON reports(status, id);

-- Counted views. `viewer_key` is `u:<user id>` for a signed-in viewer, else `a:` and a keyed
-- hash of the client's address and User-Agent (the address itself is not stored).
-- `watched_ms` is the watch time the view's heartbeats were credited; `credited_until` the
-- wall time they have used up (it starts at `at`; see ferrocast_domain::engagement).
CREATE TABLE video_views (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id BIGINT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    viewer_key TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    at BIGINT NOT NULL,
    watched_ms BIGINT NOT NULL DEFAULT 0,
    credited_until BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idx_video_views_video ON video_views(video_id, at);
CREATE INDEX idx_video_views_at ON video_views(at);

-- Each viewer's current view of a video: a new view is counted only when there is none or it
-- began 30 minutes ago or more (one conditional upsert, so concurrent reloads count once).
CREATE TABLE video_viewers (
    video_id BIGINT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    viewer_key TEXT NOT NULL,
    view_id BIGINT NOT NULL,
    view_at BIGINT NOT NULL,
    PRIMARY KEY (video_id, viewer_key)
);
