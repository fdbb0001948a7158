//! Engagement with videos: likes, comments (one level of replies), reports, views counted once
//! per viewer per window, watch time credited from heartbeats, and the figures built on them
//! (a video's analytics, the engagement trending weighs). Counters that are kept
//! (`videos.view_count`, `videos.watch_ms`) change in the transaction that adds their rows.

use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;

/// A comment with what is shown of its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    /// Id.
    pub id: i64,
    /// The video.
    pub video_id: i64,
    /// The author.
    pub user_id: i64,
    /// The top-level comment it replies to.
    pub parent_id: Option<i64>,
    /// The text.
    pub body: String,
    /// When (ms).
    pub created_at: i64,
    /// The author's display name.
    pub author_name: String,
    /// The author's handle.
    pub author_handle: Option<String>,
    /// The author's avatar object key.
    pub author_avatar_key: Option<String>,
}

const COMMENT_SELECT: &str =
    "SELECT c.id, c.video_id, c.user_id, c.parent_id, c.body, c.created_at, \
    u.display_name AS author_name, u.handle AS author_handle, u.avatar_key AS author_avatar_key \
    FROM video_comments c JOIN users u ON u.id = c.user_id";

macro_rules! comment_from_row {
    ($r:expr) => {
        CommentRecord {
            id: $r.try_get("id")?,
            video_id: $r.try_get("video_id")?,
            user_id: $r.try_get("user_id")?,
            parent_id: $r.try_get("parent_id")?,
            body: $r.try_get("body")?,
            created_at: $r.try_get("created_at")?,
            author_name: $r.try_get("author_name")?,
            author_handle: $r.try_get("author_handle")?,
            author_avatar_key: $r.try_get("author_avatar_key")?,
        }
    };
}

/// A video's engagement counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoCounts {
    /// Views counted.
    pub views: i64,
    /// Likes.
    pub likes: i64,
    /// Comments, replies included.
    pub comments: i64,
    /// Watch time credited (ms).
    pub watch_ms: i64,
}

/// What a view request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewOutcome {
    /// Whether it counted as a new view.
    pub counted: bool,
    /// The viewer's current view (the new one, or the one within the window).
    pub view_id: i64,
}

/// A stored view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewRecord {
    /// Id.
    pub id: i64,
    /// The video.
    pub video_id: i64,
    /// Who viewed (see the migration).
    pub viewer_key: String,
    /// When it was counted (ms).
    pub at: i64,
    /// Watch time credited to it (ms).
    pub watched_ms: i64,
    /// The wall time its heartbeats have used up (ms).
    pub credited_until: i64,
}

/// A video's figures: views, watch time and the average view's duration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoAnalytics {
    /// Views counted.
    pub views: i64,
    /// Watch time credited (ms).
    pub watch_ms: i64,
    /// Watch time per view (ms; 0 without views).
    pub avg_view_ms: i64,
}

/// One video's figures within a time range (views that began in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerVideoAnalytics {
    /// The video.
    pub video_id: i64,
    /// Its public id.
    pub uuid: String,
    /// Its title.
    pub title: String,
    /// The figures.
    pub analytics: VideoAnalytics,
}

/// Engagement of one video in one hour (what trending adds up).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourlyEngagement {
    /// The video.
    pub video_id: i64,
    /// The hour (ms since the epoch / 3 600 000).
    pub hour: i64,
    /// Views counted.
    pub views: i64,
    /// Likes given.
    pub likes: i64,
    /// Comments written.
    pub comments: i64,
    /// Watch time credited to views that began in this hour (ms).
    pub watch_ms: i64,
}

/// A report to store.
#[derive(Debug, Clone, Copy)]
pub struct NewReport<'a> {
    /// Who reports.
    pub reporter_id: i64,
    /// What kind of thing (`comment`).
    pub kind: &'a str,
    /// Its id.
    pub subject_id: i64,
    /// Why.
    pub reason: &'a str,
}

/// A moderator's deletion of a comment, recorded in `moderation_actions`.
#[derive(Debug, Clone, Copy)]
pub struct CommentDeletion<'a> {
    /// The source the video was recorded from, if any.
    pub source_id: Option<i64>,
    /// Who deleted.
    pub actor_id: i64,
    /// Details, JSON.
    pub details: &'a str,
}

fn in_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// Likes a video; whether the like is new, and the video's likes.
    pub async fn like_video(
        &self,
        video_id: i64,
        user_id: i64,
        now: i64,
    ) -> Result<(bool, i64), DbError> {
        on_pool!(self, p => {
            let n = sqlx::query(
                "INSERT INTO video_likes (video_id, user_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (video_id, user_id) DO NOTHING",
            )
            .bind(video_id).bind(user_id).bind(now).execute(p).await?.rows_affected();
            let likes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM video_likes WHERE video_id = $1")
                .bind(video_id).fetch_one(p).await?;
            Ok((n > 0, likes))
        })
    }

    /// Takes a like back; whether there was one, and the video's likes.
    pub async fn unlike_video(&self, video_id: i64, user_id: i64) -> Result<(bool, i64), DbError> {
        on_pool!(self, p => {
            let n = sqlx::query("DELETE FROM video_likes WHERE video_id = $1 AND user_id = $2")
                .bind(video_id).bind(user_id).execute(p).await?.rows_affected();
            let likes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM video_likes WHERE video_id = $1")
                .bind(video_id).fetch_one(p).await?;
            Ok((n > 0, likes))
        })
    }

    /// Whether `user_id` likes the video.
    pub async fn likes_video(&self, video_id: i64, user_id: i64) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM video_likes WHERE video_id = $1 AND user_id = $2",
            )
            .bind(video_id).bind(user_id).fetch_one(p).await?;
            Ok(n > 0)
        })
    }

    /// A video's views, likes, comments and watch time.
    pub async fn video_counts(&self, video_id: i64) -> Result<VideoCounts, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "SELECT v.view_count, v.watch_ms, \
                 (SELECT COUNT(*) FROM video_likes l WHERE l.video_id = v.id) AS likes, \
                 (SELECT COUNT(*) FROM video_comments c WHERE c.video_id = v.id) AS comments \
                 FROM videos v WHERE v.id = $1",
            )
            .bind(video_id).fetch_optional(p).await?;
            Ok(match r {
                Some(r) => VideoCounts {
                    views: r.try_get("view_count")?,
                    likes: r.try_get("likes")?,
                    comments: r.try_get("comments")?,
                    watch_ms: r.try_get("watch_ms")?,
                },
                None => VideoCounts::default(),
            })
        })
    }

    /// Stores a comment (`parent_id`: the top-level comment it replies to, already resolved).
    pub async fn add_comment(
        &self,
        video_id: i64,
        user_id: i64,
        parent_id: Option<i64>,
        body: &str,
        now: i64,
    ) -> Result<CommentRecord, DbError> {
        let id: i64 = on_pool!(self, p => sqlx::query_scalar(
            "INSERT INTO video_comments (video_id, user_id, parent_id, body, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(video_id).bind(user_id).bind(parent_id).bind(body).bind(now)
        .fetch_one(p).await?);
        self.comment_by_id(id)
            .await?
            .ok_or_else(|| DbError::Invalid("the comment vanished as it was stored".into()))
    }

    /// A comment by id.
    pub async fn comment_by_id(&self, id: i64) -> Result<Option<CommentRecord>, DbError> {
        let sql = format!("{COMMENT_SELECT} WHERE c.id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(comment_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Up to `limit` top-level comments of a video older than comment `before` (all when
    /// `None`), newest first.
    pub async fn top_comments(
        &self,
        video_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<CommentRecord>, DbError> {
        let sql = format!(
            "{COMMENT_SELECT} WHERE c.video_id = $1 AND c.parent_id IS NULL AND c.id < $2 \
             ORDER BY c.id DESC LIMIT $3"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(video_id).bind(before.unwrap_or(i64::MAX))
                .bind(limit.clamp(1, 100)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(comment_from_row!(r));
            }
            Ok(out)
        })
    }

    /// The first `per_parent` replies (oldest first) of each of `parents`, and how many replies
    /// each has in all.
    pub async fn replies_of(
        &self,
        parents: &[i64],
        per_parent: i64,
    ) -> Result<(Vec<CommentRecord>, Vec<(i64, i64)>), DbError> {
        if parents.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let list = in_list(2, parents.len());
        let sql = format!(
            "SELECT * FROM (SELECT c.id, c.video_id, c.user_id, c.parent_id, c.body, c.created_at, \
             u.display_name AS author_name, u.handle AS author_handle, u.avatar_key AS author_avatar_key, \
             ROW_NUMBER() OVER (PARTITION BY c.parent_id ORDER BY c.id) AS n \
             FROM video_comments c JOIN users u ON u.id = c.user_id WHERE c.parent_id IN ({list})) r \
             WHERE r.n <= $1 ORDER BY r.id"
        );
        let count_sql = format!(
            "SELECT parent_id, COUNT(*) AS n FROM video_comments WHERE parent_id IN ({}) GROUP BY parent_id",
            in_list(1, parents.len())
        );
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql).bind(per_parent.max(0));
            for id in parents {
                q = q.bind(*id);
            }
            let rows = q.fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(comment_from_row!(r));
            }
            let mut q = sqlx::query(&count_sql);
            for id in parents {
                q = q.bind(*id);
            }
            let mut counts = Vec::new();
            for r in q.fetch_all(p).await? {
                counts.push((r.try_get::<i64, _>("parent_id")?, r.try_get::<i64, _>("n")?));
            }
            Ok((out, counts))
        })
    }

    /// Deletes a comment and its replies; how many comments went. A deletion by someone other
    /// than the author is recorded in `moderation_actions` (action `delete_comment`) in the same
    /// transaction.
    pub async fn delete_comment(
        &self,
        comment: &CommentRecord,
        moderation: Option<&CommentDeletion<'_>>,
        now: i64,
    ) -> Result<i64, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // Replies first, explicitly (not left to the cascade), so that they are counted;
            // writing first also keeps SQLite from upgrading a read transaction.
            let replies = sqlx::query("DELETE FROM video_comments WHERE parent_id = $1")
                .bind(comment.id).execute(&mut *tx).await?.rows_affected() as i64;
            let n = sqlx::query("DELETE FROM video_comments WHERE id = $1")
                .bind(comment.id).execute(&mut *tx).await?.rows_affected() as i64;
            if n == 0 {
                return Ok(0);
            }
            if let Some(m) = moderation {
                sqlx::query(
                    "INSERT INTO moderation_actions (source_id, actor_id, action, target_user_id, \
                     target_message_id, details, created_at) VALUES ($1, $2, 'delete_comment', $3, NULL, $4, $5)",
                )
                .bind(m.source_id).bind(m.actor_id).bind(comment.user_id).bind(m.details).bind(now)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(n + replies)
        })
    }

    /// When `user_id` last commented on any video of `owner_id` (the channel's slow mode).
    pub async fn last_comment_on_channel(
        &self,
        owner_id: i64,
        user_id: i64,
    ) -> Result<Option<i64>, DbError> {
        on_pool!(self, p => {
            let at: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(c.created_at) FROM video_comments c JOIN videos v ON v.id = c.video_id \
                 WHERE v.user_id = $1 AND c.user_id = $2",
            )
            .bind(owner_id).bind(user_id).fetch_one(p).await?;
            Ok(at)
        })
    }

    /// The chat rules set on the sources of `owner_id`'s channel (sources that never set any
    /// are left out: the defaults restrict nothing).
    pub async fn channel_chat_settings(
        &self,
        owner_id: i64,
    ) -> Result<Vec<crate::moderation::ChatSettingsRecord>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT cs.slow_mode_seconds, cs.blocked_words, cs.links_allowed FROM chat_settings cs \
                 JOIN stream_sources s ON s.id = cs.source_id WHERE s.user_id = $1",
            )
            .bind(owner_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(crate::moderation::ChatSettingsRecord {
                    slow_mode_seconds: r.try_get("slow_mode_seconds")?,
                    blocked_words: r.try_get("blocked_words")?,
                    links_allowed: r.try_get("links_allowed")?,
                });
            }
            Ok(out)
        })
    }

    /// A ban or timeout of `user_id` in force at `now` in the chat of any source of `owner_id`,
    /// or everywhere: `Some(expires_at)` (`Some(None)`: until lifted), `None` if there is none.
    pub async fn active_channel_ban(
        &self,
        owner_id: i64,
        user_id: i64,
        now: i64,
    ) -> Result<Option<Option<i64>>, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT expires_at FROM chat_bans WHERE user_id = $1 \
                 AND (source_id IS NULL OR source_id IN (SELECT id FROM stream_sources WHERE user_id = $2)) \
                 AND (expires_at IS NULL OR expires_at > $3) \
                 ORDER BY expires_at IS NULL DESC, expires_at DESC LIMIT 1",
            )
            .bind(user_id).bind(owner_id).bind(now).fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some(r.try_get::<Option<i64>, _>("expires_at")?)),
                None => Ok(None),
            }
        })
    }

    /// Whether `user_id` moderates the chat of any source of `owner_id`.
    pub async fn is_channel_moderator(&self, owner_id: i64, user_id: i64) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM chat_moderators m JOIN stream_sources s ON s.id = m.source_id \
                 WHERE s.user_id = $1 AND m.user_id = $2",
            )
            .bind(owner_id).bind(user_id).fetch_one(p).await?;
            Ok(n > 0)
        })
    }

    /// Stores a report; `false` if this reporter reported this subject already.
    pub async fn add_report(&self, r: &NewReport<'_>, now: i64) -> Result<bool, DbError> {
        let res = on_pool!(self, p => sqlx::query(
            "INSERT INTO reports (reporter_id, kind, subject_id, reason, status, created_at, subject_user_id) \
             VALUES ($1, $2, $3, $4, 'open', $5, \
             CASE WHEN $2 = 'comment' THEN (SELECT c.user_id FROM video_comments c WHERE c.id = $3) END)",
        )
        .bind(r.reporter_id).bind(r.kind).bind(r.subject_id).bind(r.reason).bind(now)
        .execute(p).await.map(|r| r.rows_affected()).map_err(map_unique));
        match res {
            Ok(_) => Ok(true),
            Err(DbError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Open reports of a kind about a subject: (reporter, reason), oldest first.
    pub async fn open_reports(
        &self,
        kind: &str,
        subject_id: i64,
    ) -> Result<Vec<(Option<i64>, String)>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT reporter_id, reason FROM reports WHERE kind = $1 AND subject_id = $2 \
                 AND status = 'open' ORDER BY id",
            )
            .bind(kind).bind(subject_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((r.try_get("reporter_id")?, r.try_get("reason")?));
            }
            Ok(out)
        })
    }

    /// Counts a view of a video by `viewer_key` at `now` unless that viewer's current view
    /// began less than `window_ms` ago. Concurrent requests of one viewer count once: the
    /// viewer's row is claimed by one conditional upsert.
    pub async fn record_view(
        &self,
        video_id: i64,
        viewer_key: &str,
        user_id: Option<i64>,
        now: i64,
        window_ms: i64,
    ) -> Result<ViewOutcome, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let claimed = sqlx::query(
                "INSERT INTO video_viewers (video_id, viewer_key, view_id, view_at) VALUES ($1, $2, 0, $3) \
                 ON CONFLICT (video_id, viewer_key) DO UPDATE SET view_id = 0, view_at = excluded.view_at \
                 WHERE video_viewers.view_at <= $4 RETURNING view_at",
            )
            .bind(video_id).bind(viewer_key).bind(now).bind(now - window_ms)
            .fetch_optional(&mut *tx).await?;
            if claimed.is_none() {
                let view_id: i64 = sqlx::query_scalar(
                    "SELECT view_id FROM video_viewers WHERE video_id = $1 AND viewer_key = $2",
                )
                .bind(video_id).bind(viewer_key).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                return Ok(ViewOutcome { counted: false, view_id });
            }
            let view_id: i64 = sqlx::query_scalar(
                "INSERT INTO video_views (video_id, viewer_key, user_id, at, watched_ms, credited_until, updated_at) \
                 VALUES ($1, $2, $3, $4, 0, $4, $4) RETURNING id",
            )
            .bind(video_id).bind(viewer_key).bind(user_id).bind(now).fetch_one(&mut *tx).await?;
            sqlx::query("UPDATE video_viewers SET view_id = $3 WHERE video_id = $1 AND viewer_key = $2")
                .bind(video_id).bind(viewer_key).bind(view_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE videos SET view_count = view_count + 1 WHERE id = $1")
                .bind(video_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(ViewOutcome { counted: true, view_id })
        })
    }

    /// A view by id.
    pub async fn view_by_id(&self, id: i64) -> Result<Option<ViewRecord>, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT id, video_id, viewer_key, at, watched_ms, credited_until FROM video_views WHERE id = $1",
            )
            .bind(id).fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some(ViewRecord {
                    id: r.try_get("id")?,
                    video_id: r.try_get("video_id")?,
                    viewer_key: r.try_get("viewer_key")?,
                    at: r.try_get("at")?,
                    watched_ms: r.try_get("watched_ms")?,
                    credited_until: r.try_get("credited_until")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// The current view of `viewer_key` of a video, if any.
    pub async fn current_view(
        &self,
        video_id: i64,
        viewer_key: &str,
    ) -> Result<Option<i64>, DbError> {
        on_pool!(self, p => {
            let id: Option<i64> = sqlx::query_scalar(
                "SELECT view_id FROM video_viewers WHERE video_id = $1 AND viewer_key = $2 AND view_id > 0",
            )
            .bind(video_id).bind(viewer_key).fetch_optional(p).await?;
            Ok(id)
        })
    }

    /// Adds `credit_ms` of watch time to a view and moves its `credited_until` on to `until` —
    /// only if `credited_until` is still what the caller computed the credit from (`view`);
    /// `false` if another heartbeat came first (compute again). The video's total goes up in
    /// the same transaction.
    pub async fn credit_watch(
        &self,
        view: &ViewRecord,
        credit_ms: i64,
        until: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE video_views SET watched_ms = watched_ms + $3, credited_until = $4, updated_at = $5 \
                 WHERE id = $1 AND credited_until = $2",
            )
            .bind(view.id).bind(view.credited_until).bind(credit_ms).bind(until).bind(now)
            .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query("UPDATE videos SET watch_ms = watch_ms + $2 WHERE id = $1")
                .bind(view.video_id).bind(credit_ms).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// A video's views, watch time and average view duration, all time.
    pub async fn video_analytics(&self, video_id: i64) -> Result<VideoAnalytics, DbError> {
        let c = self.video_counts(video_id).await?;
        Ok(analytics(c.views, c.watch_ms))
    }

    /// The figures of each of `owner_id`'s videos with views that began in `[from, to)` (ms),
    /// most viewed first.
    pub async fn owner_video_analytics(
        &self,
        owner_id: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<OwnerVideoAnalytics>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT v.id, v.uuid, v.title, COUNT(w.id) AS views, \
                 CAST(COALESCE(SUM(w.watched_ms), 0) AS BIGINT) AS watch_ms \
                 FROM videos v JOIN video_views w ON w.video_id = v.id \
                 WHERE v.user_id = $1 AND w.at >= $2 AND w.at < $3 \
                 GROUP BY v.id, v.uuid, v.title ORDER BY views DESC, v.id",
            )
            .bind(owner_id).bind(from).bind(to).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(OwnerVideoAnalytics {
                    video_id: r.try_get("id")?,
                    uuid: r.try_get("uuid")?,
                    title: r.try_get("title")?,
                    analytics: analytics(r.try_get("views")?, r.try_get("watch_ms")?),
                });
            }
            Ok(out)
        })
    }

    /// Engagement with public, ready videos since `since` (ms), per video and hour.
    pub async fn hourly_engagement(&self, since: i64) -> Result<Vec<HourlyEngagement>, DbError> {
        const PUBLIC: &str =
            "video_id IN (SELECT id FROM videos WHERE visibility = 'public' AND status = 'ready' AND disabled_at IS NULL)";
        let views = format!(
            "SELECT video_id, at / 3600000 AS h, COUNT(*) AS n, CAST(COALESCE(SUM(watched_ms), 0) AS BIGINT) AS w \
             FROM video_views WHERE at >= $1 AND {PUBLIC} GROUP BY video_id, at / 3600000"
        );
        let likes = format!(
            "SELECT video_id, created_at / 3600000 AS h, COUNT(*) AS n FROM video_likes \
             WHERE created_at >= $1 AND {PUBLIC} GROUP BY video_id, created_at / 3600000"
        );
        let comments = format!(
            "SELECT video_id, created_at / 3600000 AS h, COUNT(*) AS n FROM video_comments \
             WHERE created_at >= $1 AND {PUBLIC} GROUP BY video_id, created_at / 3600000"
        );
        let mut by: std::collections::BTreeMap<(i64, i64), HourlyEngagement> = Default::default();
        on_pool!(self, p => {
            for r in sqlx::query(&views).bind(since).fetch_all(p).await? {
                let key: (i64, i64) = (r.try_get("video_id")?, r.try_get("h")?);
                let e = by.entry(key).or_default();
                e.views += r.try_get::<i64, _>("n")?;
                e.watch_ms += r.try_get::<i64, _>("w")?;
            }
            for r in sqlx::query(&likes).bind(since).fetch_all(p).await? {
                let key: (i64, i64) = (r.try_get("video_id")?, r.try_get("h")?);
                by.entry(key).or_default().likes += r.try_get::<i64, _>("n")?;
            }
            for r in sqlx::query(&comments).bind(since).fetch_all(p).await? {
                let key: (i64, i64) = (r.try_get("video_id")?, r.try_get("h")?);
                by.entry(key).or_default().comments += r.try_get::<i64, _>("n")?;
            }
        });
        Ok(by
            .into_iter()
            .map(|((video_id, hour), e)| HourlyEngagement {
                video_id,
                hour,
                ..e
            })
            .collect())
    }
}

fn analytics(views: i64, watch_ms: i64) -> VideoAnalytics {
    VideoAnalytics {
        views,
        watch_ms,
        avg_view_ms: if views > 0 { watch_ms / views } else { 0 },
    }
}
