//! Follows: who follows which channel. A channel is its owner's account.

use crate::{on_pool, Db, DbError};

impl Db {
    /// `follower` follows `channel`; `true` when this is new (following again is a no-op).
    pub async fn follow(&self, follower: i64, channel: i64, now: i64) -> Result<bool, DbError> {
        let done = on_pool!(self, p => sqlx::query(
            "INSERT INTO follows (follower_id, channel_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (follower_id, channel_id) DO NOTHING",
        )
        .bind(follower).bind(channel).bind(now)
        .execute(p).await?.rows_affected());
        Ok(done == 1)
    }

    /// `follower` stops following `channel`; `true` when they were following.
    pub async fn unfollow(&self, follower: i64, channel: i64) -> Result<bool, DbError> {
        let done = on_pool!(self, p => sqlx::query(
            "DELETE FROM follows WHERE follower_id = $1 AND channel_id = $2",
        )
        .bind(follower).bind(channel)
        .execute(p).await?.rows_affected());
        Ok(done == 1)
    }

    /// Whether `follower` follows `channel`.
    pub async fn is_following(&self, follower: i64, channel: i64) -> Result<bool, DbError> {
        let row: Option<i64> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT follower_id FROM follows WHERE follower_id = $1 AND channel_id = $2",
        )
        .bind(follower).bind(channel)
        .fetch_optional(p).await?);
        Ok(row.is_some())
    }

    /// How many follow `channel`.
    pub async fn follower_count(&self, channel: i64) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM follows WHERE channel_id = $1",
        )
        .bind(channel)
        .fetch_one(p).await?))
    }

    /// The followers of `channel` with an id above `after`, ascending, at most `limit`: the
    /// batches a notice to every follower goes out in.
    pub async fn followers_after(
        &self,
        channel: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<i64>, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT follower_id FROM follows WHERE channel_id = $1 AND follower_id > $2 \
             ORDER BY follower_id LIMIT $3",
        )
        .bind(channel).bind(after).bind(limit)
        .fetch_all(p).await?))
    }

    /// Followers `channel` gained in `[from, to)` (ms) who still follow it.
    pub async fn new_followers_between(
        &self,
        channel: i64,
        from: i64,
        to: i64,
    ) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM follows WHERE channel_id = $1 AND created_at >= $2 AND created_at < $3",
        )
        .bind(channel).bind(from).bind(to)
        .fetch_one(p).await?))
    }

    /// The channels `follower` follows (their account ids), most recently followed first, at
    /// most `limit`.
    pub async fn followed_channels(&self, follower: i64, limit: i64) -> Result<Vec<i64>, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT channel_id FROM follows WHERE follower_id = $1 \
             ORDER BY created_at DESC, channel_id DESC LIMIT $2",
        )
        .bind(follower).bind(limit)
        .fetch_all(p).await?))
    }
}
