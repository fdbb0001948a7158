//! Social posts: a creator's text and pictures, their likes and comments, a channel's posts and
//! a follower's home feed (newest first, paged by id).

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A post with its author's card and its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRecord {
    /// Row id (the feed's cursor).
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// The author.
    pub user_id: i64,
    /// The text (may be empty when there are pictures).
    pub body: String,
    /// The pictures' storage keys, as JSON.
    pub images: String,
    /// When (ms).
    pub created_at: i64,
    /// The author's handle.
    pub handle: String,
    /// The author's display name.
    pub display_name: String,
    /// The author's avatar key.
    pub avatar_key: Option<String>,
    /// Likes.
    pub likes: i64,
    /// Comments.
    pub comments: i64,
}

/// A comment on a post, with its author's card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostCommentRecord {
    /// Row id.
    pub id: i64,
    /// The post.
    pub post_id: i64,
    /// The author.
    pub user_id: i64,
    /// The text.
    pub body: String,
    /// When (ms).
    pub created_at: i64,
    /// The author's handle.
    pub handle: String,
    /// The author's display name.
    pub display_name: String,
    /// The author's avatar key.
    pub avatar_key: Option<String>,
}

const POST_SELECT: &str = "SELECT p.id, p.uuid, p.user_id, p.body, p.images, p.created_at, \
     COALESCE(u.handle, '') AS handle, u.display_name, u.avatar_key, \
     (SELECT COUNT(*) FROM post_likes l WHERE l.post_id = p.id) AS likes, \
     (SELECT COUNT(*) FROM post_comments c WHERE c.post_id = p.id) AS comments \
     FROM posts p JOIN users u ON u.id = p.user_id";

macro_rules! post_from_row {
    ($r:expr) => {
        PostRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            user_id: $r.try_get("user_id")?,
            body: $r.try_get("body")?,
            images: $r.try_get("images")?,
            created_at: $r.try_get("created_at")?,
            handle: $r.try_get("handle")?,
            display_name: $r.try_get("display_name")?,
            avatar_key: $r.try_get("avatar_key")?,
            likes: $r.try_get("likes")?,
            comments: $r.try_get("comments")?,
        }
    };
}

macro_rules! comment_from_row {
    ($r:expr) => {
        PostCommentRecord {
            id: $r.try_get("id")?,
            post_id: $r.try_get("post_id")?,
            user_id: $r.try_get("user_id")?,
            body: $r.try_get("body")?,
            created_at: $r.try_get("created_at")?,
            handle: $r.try_get("handle")?,
            display_name: $r.try_get("display_name")?,
            avatar_key: $r.try_get("avatar_key")?,
        }
    };
}

impl Db {
    /// Stores a post; its id.
    pub async fn create_post(
        &self,
        uuid: &str,
        user_id: i64,
        body: &str,
        images: &str,
        now: i64,
    ) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO posts (uuid, user_id, body, images, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(uuid).bind(user_id).bind(body).bind(images).bind(now)
        .fetch_one(p).await?))
    }

    /// A post by its public id.
    pub async fn post_by_uuid(&self, uuid: &str) -> Result<Option<PostRecord>, DbError> {
        let sql = format!("{POST_SELECT} WHERE p.uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(post_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A post by its row id.
    pub async fn post_by_id(&self, id: i64) -> Result<Option<PostRecord>, DbError> {
        let sql = format!("{POST_SELECT} WHERE p.id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(post_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A channel's posts older than `before` (all when `None`), newest first.
    pub async fn posts_of_user(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PostRecord>, DbError> {
        let sql =
            format!("{POST_SELECT} WHERE p.user_id = $1 AND p.id < $2 ORDER BY p.id DESC LIMIT $3");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).bind(before.unwrap_or(i64::MAX)).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(post_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A user's home feed: the posts of the channels they follow and their own, older than
    /// `before`, newest first.
    pub async fn home_feed(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PostRecord>, DbError> {
        let sql = format!(
            "{POST_SELECT} WHERE p.id < $2 AND (p.user_id = $1 OR p.user_id IN \
             (SELECT channel_id FROM follows WHERE follower_id = $1)) ORDER BY p.id DESC LIMIT $3"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).bind(before.unwrap_or(i64::MAX)).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(post_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Whether a post already shows the picture `key`.
    pub async fn post_image_in_use(&self, key: &str) -> Result<bool, DbError> {
        let pattern = format!("%\"{key}\"%");
        let n = on_pool!(self, p => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM posts WHERE images LIKE $1")
            .bind(pattern).fetch_one(p).await?);
        Ok(n > 0)
    }

    /// Deletes a post (its likes and comments go with it).
    pub async fn delete_post(&self, id: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM posts WHERE id = $1")
            .bind(id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Likes or unlikes a post; the likes after.
    pub async fn set_post_like(
        &self,
        post_id: i64,
        user_id: i64,
        liked: bool,
        now: i64,
    ) -> Result<i64, DbError> {
        on_pool!(self, p => {
            if liked {
                sqlx::query("INSERT INTO post_likes (post_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (post_id, user_id) DO NOTHING")
                    .bind(post_id).bind(user_id).bind(now).execute(p).await?;
            } else {
                sqlx::query("DELETE FROM post_likes WHERE post_id = $1 AND user_id = $2")
                    .bind(post_id).bind(user_id).execute(p).await?;
            }
            Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM post_likes WHERE post_id = $1")
                .bind(post_id).fetch_one(p).await?)
        })
    }

    /// Which of `post_ids` `user_id` likes (one query over the ids' range).
    pub async fn liked_posts(&self, user_id: i64, post_ids: &[i64]) -> Result<Vec<i64>, DbError> {
        let (Some(lo), Some(hi)) = (post_ids.iter().min(), post_ids.iter().max()) else {
            return Ok(Vec::new());
        };
        let liked: Vec<i64> = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "SELECT post_id FROM post_likes WHERE user_id = $1 AND post_id >= $2 AND post_id <= $3",
        )
        .bind(user_id).bind(lo).bind(hi).fetch_all(p).await?);
        Ok(liked
            .into_iter()
            .filter(|id| post_ids.contains(id))
            .collect())
    }

    /// Adds a comment to a post.
    pub async fn add_post_comment(
        &self,
        post_id: i64,
        user_id: i64,
        body: &str,
        now: i64,
    ) -> Result<PostCommentRecord, DbError> {
        let id = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO post_comments (post_id, user_id, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(post_id).bind(user_id).bind(body).bind(now)
        .fetch_one(p).await?);
        self.post_comment_by_id(id)
            .await?
            .ok_or_else(|| DbError::Invalid("the comment just stored is gone".into()))
    }

    /// A comment on a post.
    pub async fn post_comment_by_id(&self, id: i64) -> Result<Option<PostCommentRecord>, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "SELECT c.id, c.post_id, c.user_id, c.body, c.created_at, COALESCE(u.handle, '') AS handle, u.display_name, u.avatar_key \
                 FROM post_comments c JOIN users u ON u.id = c.user_id WHERE c.id = $1",
            )
            .bind(id).fetch_optional(p).await?;
            match r {
                Some(r) => Ok(Some(comment_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// A post's comments, oldest first, at most `limit`.
    pub async fn post_comments(
        &self,
        post_id: i64,
        limit: i64,
    ) -> Result<Vec<PostCommentRecord>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT c.id, c.post_id, c.user_id, c.body, c.created_at, COALESCE(u.handle, '') AS handle, u.display_name, u.avatar_key \
                 FROM post_comments c JOIN users u ON u.id = c.user_id WHERE c.post_id = $1 ORDER BY c.id LIMIT $2",
            )
            .bind(post_id).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(comment_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Deletes a comment on a post.
    pub async fn delete_post_comment(&self, id: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM post_comments WHERE id = $1")
            .bind(id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// When `user_id` last commented on a post of `owner_id`'s (slow mode).
    pub async fn last_post_comment_on_channel(
        &self,
        owner_id: i64,
        user_id: i64,
    ) -> Result<Option<i64>, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MAX(c.created_at) FROM post_comments c JOIN posts p ON p.id = c.post_id WHERE p.user_id = $1 AND c.user_id = $2",
        )
        .bind(owner_id).bind(user_id).fetch_one(p).await?))
    }
}
