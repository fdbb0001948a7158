//! Chat moderation: per-source rules, moderators, bans and timeouts, and the record of every
//! action. Each action and its record are written in one transaction.

use crate::chat::ChatMessageRecord;
use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A source's chat rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSettingsRecord {
    /// Seconds between a viewer's messages; 0: off.
    pub slow_mode_seconds: i64,
    /// JSON array of blocked words.
    pub blocked_words: String,
    /// Whether viewers may post links.
    pub links_allowed: bool,
}

impl Default for ChatSettingsRecord {
    fn default() -> Self {
        Self {
            slow_mode_seconds: 0,
            blocked_words: "[]".into(),
            links_allowed: true,
        }
    }
}

/// A ban or timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    /// Id.
    pub id: i64,
    /// The source; `None`: every source.
    pub source_id: Option<i64>,
    /// The banned user.
    pub user_id: i64,
    /// When a timeout ends (ms); `None`: until lifted.
    pub expires_at: Option<i64>,
    /// Why.
    pub reason: String,
    /// Who banned.
    pub created_by: Option<i64>,
    /// When (ms).
    pub created_at: i64,
}

/// A recorded moderation action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRecord {
    /// Id.
    pub id: i64,
    /// The source, if the action concerned one.
    pub source_id: Option<i64>,
    /// Who acted.
    pub actor_id: Option<i64>,
    /// `delete_message`, `timeout`, `ban`, `unban`, `settings`, `add_moderator`,
    /// `remove_moderator`.
    pub action: String,
    /// The user acted upon.
    pub target_user_id: Option<i64>,
    /// The message acted upon.
    pub target_message_id: Option<i64>,
    /// Details, JSON.
    pub details: String,
    /// When (ms).
    pub created_at: i64,
}

/// An action to record.
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    /// The source, if any.
    pub source_id: Option<i64>,
    /// Who acts.
    pub actor_id: i64,
    /// What (see [`ActionRecord::action`]).
    pub action: &'a str,
    /// Upon whom.
    pub target_user_id: Option<i64>,
    /// Upon which message.
    pub target_message_id: Option<i64>,
    /// Details, JSON.
    pub details: &'a str,
}

const BAN_COLUMNS: &str = "id, source_id, user_id, expires_at, reason, created_by, created_at";

macro_rules! ban_from_row {
    ($r:expr) => {
        BanRecord {
            id: $r.try_get("id")?,
            source_id: $r.try_get("source_id")?,
            user_id: $r.try_get("user_id")?,
            expires_at: $r.try_get("expires_at")?,
            reason: $r.try_get("reason")?,
            created_by: $r.try_get("created_by")?,
            created_at: $r.try_get("created_at")?,
        }
    };
}

const RECORD: &str =
    "INSERT INTO moderation_actions (source_id, actor_id, action, target_user_id, \
    target_message_id, details, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Runs `$body` (which may use `$tx`) and records `$action` in the same transaction.
macro_rules! with_record {
    ($db:expr, $action:expr, $now:expr, $tx:ident => $body:expr) => {
        on_pool!($db, p => {
            let mut $tx = p.begin().await?;
            let out = $body;
            let a: &Action<'_> = $action;
            sqlx::query(RECORD)
                .bind(a.source_id).bind(a.actor_id).bind(a.action).bind(a.target_user_id)
                .bind(a.target_message_id).bind(a.details).bind($now)
                .execute(&mut *$tx).await?;
            $tx.commit().await?;
            out
        })
    };
}

impl Db {
    /// A source's chat rules (the defaults when never set).
    pub async fn chat_settings(&self, source_id: i64) -> Result<ChatSettingsRecord, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT slow_mode_seconds, blocked_words, links_allowed FROM chat_settings WHERE source_id = $1",
            )
            .bind(source_id).fetch_optional(p).await?;
            Ok(match row {
                Some(r) => ChatSettingsRecord {
                    slow_mode_seconds: r.try_get("slow_mode_seconds")?,
                    blocked_words: r.try_get("blocked_words")?,
                    links_allowed: r.try_get("links_allowed")?,
                },
                None => ChatSettingsRecord::default(),
            })
        })
    }

    /// Replaces a source's chat rules, recording the change.
    pub async fn put_chat_settings(
        &self,
        source_id: i64,
        s: &ChatSettingsRecord,
        action: &Action<'_>,
        now: i64,
    ) -> Result<(), DbError> {
        with_record!(self, action, now, tx => {
            sqlx::query(
                "INSERT INTO chat_settings (source_id, slow_mode_seconds, blocked_words, links_allowed, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source_id) DO UPDATE SET \
                 slow_mode_seconds = excluded.slow_mode_seconds, blocked_words = excluded.blocked_words, \
                 links_allowed = excluded.links_allowed, updated_at = excluded.updated_at",
            )
            .bind(source_id).bind(s.slow_mode_seconds).bind(&s.blocked_words).bind(s.links_allowed).bind(now)
            .execute(&mut *tx).await?;
        });
        Ok(())
    }

    /// Whether `user_id` moderates the chat of `source_id`.
    pub async fn is_chat_moderator(&self, source_id: i64, user_id: i64) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM chat_moderators WHERE source_id = $1 AND user_id = $2",
            )
            .bind(source_id).bind(user_id).fetch_one(p).await?;
            Ok(n > 0)
        })
    }

    /// Makes a user a moderator of a source's chat (idempotent), recording it.
    pub async fn add_chat_moderator(
        &self,
        source_id: i64,
        user_id: i64,
        action: &Action<'_>,
        now: i64,
    ) -> Result<(), DbError> {
        with_record!(self, action, now, tx => {
            sqlx::query(
                "INSERT INTO chat_moderators (source_id, user_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (source_id, user_id) DO NOTHING",
            )
            .bind(source_id).bind(user_id).bind(now).execute(&mut *tx).await?;
        });
        Ok(())
    }

    /// Removes a moderator; whether there was one.
    pub async fn remove_chat_moderator(
        &self,
        source_id: i64,
        user_id: i64,
        action: &Action<'_>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = with_record!(self, action, now, tx => {
            sqlx::query("DELETE FROM chat_moderators WHERE source_id = $1 AND user_id = $2")
                .bind(source_id).bind(user_id).execute(&mut *tx).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// A source's moderators: (user id, user UUID, display name, since).
    pub async fn list_chat_moderators(
        &self,
        source_id: i64,
    ) -> Result<Vec<(i64, String, String, i64)>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT u.id, u.uuid, u.display_name, m.created_at FROM chat_moderators m \
                 JOIN users u ON u.id = m.user_id WHERE m.source_id = $1 ORDER BY m.created_at",
            )
            .bind(source_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((r.try_get("id")?, r.try_get("uuid")?, r.try_get("display_name")?, r.try_get("created_at")?));
            }
            Ok(out)
        })
    }

    /// Bans (or, with `expires_at`, times out) a user, recording it; returns the ban's id.
    pub async fn insert_chat_ban(
        &self,
        source_id: Option<i64>,
        user_id: i64,
        expires_at: Option<i64>,
        reason: &str,
        action: &Action<'_>,
        now: i64,
    ) -> Result<i64, DbError> {
        let id = with_record!(self, action, now, tx => {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO chat_bans (source_id, user_id, expires_at, reason, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(source_id).bind(user_id).bind(expires_at).bind(reason).bind(action.actor_id).bind(now)
            .fetch_one(&mut *tx).await?
        });
        Ok(id)
    }

    /// A ban by id.
    pub async fn chat_ban(&self, id: i64) -> Result<Option<BanRecord>, DbError> {
        let sql = format!("SELECT {BAN_COLUMNS} FROM chat_bans WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(ban_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Lifts a ban, recording it; whether it existed.
    pub async fn lift_chat_ban(
        &self,
        id: i64,
        action: &Action<'_>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = with_record!(self, action, now, tx => {
            sqlx::query("DELETE FROM chat_bans WHERE id = $1")
                .bind(id).execute(&mut *tx).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// The ban in force on `user_id` in `source_id`'s chat at `now` (its own or a global one),
    /// the one lasting longest first.
    pub async fn active_chat_ban(
        &self,
        source_id: i64,
        user_id: i64,
        now: i64,
    ) -> Result<Option<BanRecord>, DbError> {
        let sql = format!(
            "SELECT {BAN_COLUMNS} FROM chat_bans WHERE user_id = $1 AND (source_id = $2 OR source_id IS NULL) \
             AND (expires_at IS NULL OR expires_at > $3) ORDER BY expires_at IS NULL DESC, expires_at DESC LIMIT 1"
        );
        on_pool!(self, p => match sqlx::query(&sql).bind(user_id).bind(source_id).bind(now).fetch_optional(p).await? {
            Some(r) => Ok(Some(ban_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Bans in force in a source's chat (its own and global ones), newest first.
    pub async fn list_chat_bans(
        &self,
        source_id: i64,
        now: i64,
    ) -> Result<Vec<BanRecord>, DbError> {
        let sql = format!(
            "SELECT {BAN_COLUMNS} FROM chat_bans WHERE (source_id = $1 OR source_id IS NULL) \
             AND (expires_at IS NULL OR expires_at > $2) ORDER BY id DESC LIMIT 500"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(source_id).bind(now).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(ban_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A chat message by id.
    pub async fn chat_message_by_id(&self, id: i64) -> Result<Option<ChatMessageRecord>, DbError> {
        self.chat_message_where("id = $1", id).await
    }

    /// Marks a message deleted, recording it; `false` if it was already deleted.
    pub async fn delete_chat_message(
        &self,
        id: i64,
        action: &Action<'_>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = with_record!(self, action, now, tx => {
            sqlx::query("UPDATE chat_messages SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// When `user_id` last wrote in a source's chat (ms).
    pub async fn last_chat_message_at(
        &self,
        source_id: i64,
        user_id: i64,
    ) -> Result<Option<i64>, DbError> {
        on_pool!(self, p => {
            let t: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(created_at) FROM chat_messages WHERE source_id = $1 AND user_id = $2",
            )
            .bind(source_id).bind(user_id).fetch_one(p).await?;
            Ok(t)
        })
    }

    /// A source's moderation record, newest first.
    pub async fn moderation_log(
        &self,
        source_id: i64,
        limit: i64,
    ) -> Result<Vec<ActionRecord>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, source_id, actor_id, action, target_user_id, target_message_id, details, created_at \
                 FROM moderation_actions WHERE source_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(source_id).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(ActionRecord {
                    id: r.try_get("id")?,
                    source_id: r.try_get("source_id")?,
                    actor_id: r.try_get("actor_id")?,
                    action: r.try_get("action")?,
                    target_user_id: r.try_get("target_user_id")?,
                    target_message_id: r.try_get("target_message_id")?,
                    details: r.try_get("details")?,
                    created_at: r.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }
}
