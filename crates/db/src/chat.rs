//! Chat messages of a source's feed: the native chat and what connectors pull from platforms.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessageRecord {
    /// Integer id; ids grow in the order messages were stored.
    pub id: i64,
    /// The source whose feed it belongs to.
    pub source_id: i64,
    /// The connector that pulled it (platform messages).
    pub connector_id: Option<i64>,
    /// `native`, `youtube` or `twitch`.
    pub platform: String,
    /// The platform's id of the message (native: a UUID).
    pub platform_message_id: String,
    /// The ferrocast user who wrote it (native chat).
    pub user_id: Option<i64>,
    /// Display name of the author.
    pub author_name: String,
    /// The author's id on the platform (native: the user's UUID).
    pub author_platform_id: String,
    /// The text.
    pub message_text: String,
    /// `message`, `system` or `action`.
    pub message_type: String,
    /// Badges and emotes, JSON.
    pub metadata: String,
    /// When a moderator deleted it (ms).
    pub deleted_at: Option<i64>,
    /// When it was stored (ms).
    pub created_at: i64,
}

const COLUMNS: &str = "id, source_id, connector_id, platform, platform_message_id, user_id, author_name, author_platform_id, message_text, message_type, metadata, deleted_at, created_at";

macro_rules! message_from_row {
    ($r:expr) => {
        ChatMessageRecord {
            id: $r.try_get("id")?,
            source_id: $r.try_get("source_id")?,
            connector_id: $r.try_get("connector_id")?,
            platform: $r.try_get("platform")?,
            platform_message_id: $r.try_get("platform_message_id")?,
            user_id: $r.try_get("user_id")?,
            author_name: $r.try_get("author_name")?,
            author_platform_id: $r.try_get("author_platform_id")?,
            message_text: $r.try_get("message_text")?,
            message_type: $r.try_get("message_type")?,
            metadata: $r.try_get("metadata")?,
            deleted_at: $r.try_get("deleted_at")?,
            created_at: $r.try_get("created_at")?,
        }
    };
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewChatMessage<'a> {
    /// The source's feed.
    pub source_id: i64,
    /// The connector that pulled it, if any.
    pub connector_id: Option<i64>,
    /// `native`, `youtube` or `twitch`.
    pub platform: &'a str,
    /// The platform's id of the message.
    pub platform_message_id: &'a str,
    /// The ferrocast author, if native.
    pub user_id: Option<i64>,
    /// Display name.
    pub author_name: &'a str,
    /// The author's platform id.
    pub author_platform_id: &'a str,
    /// The text.
    pub message_text: &'a str,
    /// `message`, `system` or `action`.
    pub message_type: &'a str,
    /// Badges and emotes, JSON.
    pub metadata: &'a str,
}

impl Db {
    /// Stores a message; `None` if this platform message is already stored (a reconnecting
    /// connector seeing it again), so nothing is ever stored or emitted twice.
    pub async fn insert_chat_message(
        &self,
        m: &NewChatMessage<'_>,
        now: i64,
    ) -> Result<Option<ChatMessageRecord>, DbError> {
        let sql = format!(
            "INSERT INTO chat_messages (source_id, connector_id, platform, platform_message_id, user_id, \
             author_name, author_platform_id, message_text, message_type, metadata, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (source_id, platform, platform_message_id) DO NOTHING RETURNING {COLUMNS}"
        );
        on_pool!(self, p => {
            let row = sqlx::query(&sql)
                .bind(m.source_id).bind(m.connector_id).bind(m.platform).bind(m.platform_message_id)
                .bind(m.user_id).bind(m.author_name).bind(m.author_platform_id).bind(m.message_text)
                .bind(m.message_type).bind(m.metadata).bind(now)
                .fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some(message_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// Hides a platform message its platform's moderators deleted; its id if it was shown.
    pub async fn hide_platform_chat_message(
        &self,
        source_id: i64,
        platform: &str,
        platform_message_id: &str,
        now: i64,
    ) -> Result<Option<i64>, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query(
                "UPDATE chat_messages SET deleted_at = $1 WHERE source_id = $2 AND platform = $3 \
                 AND platform_message_id = $4 AND deleted_at IS NULL RETURNING id",
            )
            .bind(now).bind(source_id).bind(platform).bind(platform_message_id)
            .fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some(r.try_get("id")?)),
                None => Ok(None),
            }
        })
    }

    /// The message matching `condition` (one `$1` placeholder bound to `value`).
    pub(crate) async fn chat_message_where(
        &self,
        condition: &str,
        value: i64,
    ) -> Result<Option<ChatMessageRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM chat_messages WHERE {condition}");
        on_pool!(self, p => match sqlx::query(&sql).bind(value).fetch_optional(p).await? {
            Some(r) => Ok(Some(message_from_row!(r))),
            None => Ok(None),
        })
    }

    /// The newest `limit` messages of a source's feed that are not deleted, oldest first.
    pub async fn recent_chat_messages(
        &self,
        source_id: i64,
        limit: i64,
    ) -> Result<Vec<ChatMessageRecord>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM chat_messages WHERE source_id = $1 AND deleted_at IS NULL \
             ORDER BY id DESC LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(source_id).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows.iter().rev() {
                out.push(message_from_row!(r));
            }
            Ok(out)
        })
    }
}
