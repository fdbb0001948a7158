//! The Telegram bot's state: the runner's lease and the `getUpdates` offset, the outbox of what
//! it says, and the chats creators connect for go-live posts.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Row id (the order they are sent in).
    pub id: i64,
    /// The chat (a user's id for a private chat, a group's or channel's id).
    pub chat_id: i64,
    /// The text (HTML parse mode).
    pub text: String,
    /// The inline keyboard as JSON: rows of `{text, url}`.
    pub buttons: String,
    /// Attempts made so far.
    pub attempts: i64,
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewOutboxMessage<'a> {
    /// The chat.
    pub chat_id: i64,
    /// The text.
    pub text: &'a str,
    /// The inline keyboard as JSON.
    pub buttons: &'a str,
    /// What makes it unique (a second message with the same key is not queued).
    pub dedup_key: Option<&'a str>,
}

/// A creator's connected chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedChat {
    /// The chat's id.
    pub chat_id: i64,
    /// Its title.
    pub title: String,
    /// When it was connected (ms).
    pub connected_at: i64,
}

/// What happened to one message, in the outbox's numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting.
    pub queued: i64,
    /// Sent.
    pub sent: i64,
    /// Failed for good.
    pub failed: i64,
}

impl Db {
    /// Takes or renews the bot runner's lease for `holder` until `until`; whether it holds it.
    pub async fn take_telegram_lease(
        &self,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, DbError> {
        self.take_row_lease("telegram_bot", holder, now, until)
            .await
    }

    /// Gives the lease up (a runner stopping), so another node may take it at once.
    pub async fn release_telegram_lease(&self, holder: &str) -> Result<(), DbError> {
        self.release_row_lease("telegram_bot", holder).await
    }

    /// The next `getUpdates` offset.
    pub async fn telegram_offset(&self) -> Result<i64, DbError> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar::<_, i64>("SELECT update_offset FROM telegram_bot WHERE id = 1")
            .fetch_one(p).await?),
        )
    }

    /// Moves the offset on to `offset`, only by `holder` while it holds the lease (a runner
    /// that lost it cannot move the offset back).
    pub async fn set_telegram_offset(&self, holder: &str, offset: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE telegram_bot SET update_offset = $2 WHERE id = 1 AND holder = $1 AND update_offset < $2",
        )
        .bind(holder).bind(offset)
        .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Queues a message; false when one with the same dedup key is already queued or sent.
    pub async fn queue_telegram(
        &self,
        m: &NewOutboxMessage<'_>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "INSERT INTO telegram_outbox (chat_id, text, buttons, dedup_key, next_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(m.chat_id).bind(m.text).bind(m.buttons).bind(m.dedup_key).bind(now)
        .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Messages due to be sent, oldest first.
    pub async fn due_telegram(&self, now: i64, limit: i64) -> Result<Vec<OutboxMessage>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, chat_id, text, buttons, attempts FROM telegram_outbox \
                 WHERE sent_at IS NULL AND failed_at IS NULL AND next_at <= $1 ORDER BY id LIMIT $2",
            )
            .bind(now).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(OutboxMessage {
                    id: r.try_get("id")?,
                    chat_id: r.try_get("chat_id")?,
                    text: r.try_get("text")?,
                    buttons: r.try_get("buttons")?,
                    attempts: r.try_get("attempts")?,
                });
            }
            Ok(out)
        })
    }

    /// Deletes messages sent or failed before `before` (their dedup keys with them).
    pub async fn prune_telegram_outbox(&self, before: i64) -> Result<u64, DbError> {
        Ok(on_pool!(self, p => sqlx::query(
            "DELETE FROM telegram_outbox WHERE (sent_at IS NOT NULL AND sent_at < $1) OR (failed_at IS NOT NULL AND failed_at < $1)",
        )
        .bind(before).execute(p).await?.rows_affected()))
    }

    /// Marks a message sent; its text is not kept (it may hold a stream key).
    pub async fn telegram_sent(&self, id: i64, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE telegram_outbox SET sent_at = $2, attempts = attempts + 1, error = NULL, text = '', buttons = '[]' WHERE id = $1")
            .bind(id).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Puts a message off until `next_at`, noting why; `counts` whether the attempt counts
    /// (Telegram's 429 asks to wait, which is not a failure).
    pub async fn telegram_retry(
        &self,
        id: i64,
        next_at: i64,
        error: &str,
        counts: bool,
    ) -> Result<(), DbError> {
        let add = i64::from(counts);
        on_pool!(self, p => sqlx::query("UPDATE telegram_outbox SET next_at = $2, error = $3, attempts = attempts + $4 WHERE id = $1")
            .bind(id).bind(next_at).bind(error).bind(add).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Fails a message for good (its text is not kept).
    pub async fn telegram_failed(&self, id: i64, error: &str, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE telegram_outbox SET failed_at = $2, error = $3, attempts = attempts + 1, text = '', buttons = '[]' WHERE id = $1")
            .bind(id).bind(now).bind(error).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The outbox's numbers.
    pub async fn telegram_outbox_counts(&self) -> Result<OutboxCounts, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "SELECT \
                 COALESCE(SUM(CASE WHEN sent_at IS NULL AND failed_at IS NULL THEN 1 ELSE 0 END), 0) AS queued, \
                 COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS sent, \
                 COALESCE(SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS failed \
                 FROM telegram_outbox",
            )
            .fetch_one(p).await?;
            Ok(OutboxCounts {
                queued: r.try_get::<i64, _>("queued")?,
                sent: r.try_get::<i64, _>("sent")?,
                failed: r.try_get::<i64, _>("failed")?,
            })
        })
    }

    /// The Telegram user id linked to an account (its `telegram` identity), if any.
    pub async fn telegram_id_of(&self, user_id: i64) -> Result<Option<i64>, DbError> {
        let subject = on_pool!(self, p => sqlx::query_scalar::<_, String>(
            "SELECT subject FROM user_identities WHERE user_id = $1 AND provider = 'telegram'",
        )
        .bind(user_id).fetch_optional(p).await?);
        Ok(subject.and_then(|s| s.parse().ok()))
    }

    /// Connects a creator's chat (replacing the one before).
    pub async fn connect_telegram_chat(
        &self,
        user_id: i64,
        chat_id: i64,
        title: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO telegram_chats (user_id, chat_id, title, connected_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET chat_id = excluded.chat_id, title = excluded.title, connected_at = excluded.connected_at",
        )
        .bind(user_id).bind(chat_id).bind(title).bind(now)
        .execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A creator's connected chat.
    pub async fn telegram_chat_of(&self, user_id: i64) -> Result<Option<ConnectedChat>, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query("SELECT chat_id, title, connected_at FROM telegram_chats WHERE user_id = $1")
                .bind(user_id).fetch_optional(p).await?;
            match r {
                Some(r) => Ok(Some(ConnectedChat {
                    chat_id: r.try_get("chat_id")?,
                    title: r.try_get("title")?,
                    connected_at: r.try_get("connected_at")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// Disconnects a creator's chat; whether one was connected.
    pub async fn disconnect_telegram_chat(&self, user_id: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM telegram_chats WHERE user_id = $1")
            .bind(user_id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }
}
