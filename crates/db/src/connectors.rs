//! Chat connectors: a source's link to a platform's chat (YouTube, Twitch), with its tokens
//! sealed by the caller and the state the connector last reported.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A stored connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorRecord {
    /// Id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// The source whose feed it fills.
    pub source_id: i64,
    /// The source's owner.
    pub user_id: i64,
    /// `youtube` or `twitch`.
    pub platform: String,
    /// What may be shown (channel, when connected), JSON.
    pub config: String,
    /// Tokens, sealed by the server.
    pub secrets_sealed: String,
    /// Whether it should run.
    pub is_active: bool,
    /// `idle`, `connecting`, `connected`, `retrying` or `failed`.
    pub state: String,
    /// The last error, in words for the creator.
    pub last_error: Option<String>,
    /// When created (ms).
    pub created_at: i64,
    /// When last changed (ms).
    pub updated_at: i64,
    /// Grows each time the creator connects again (a runner of an older one stops).
    pub generation: i64,
}

/// What asking for a connector's lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// This runner holds it until the time asked for.
    Held,
    /// Another runner holds it.
    Busy,
    /// The connector is gone, inactive, or of a newer generation: this runner should stop.
    Gone,
}

const COLUMNS: &str = "id, uuid, source_id, user_id, platform, config, secrets_sealed, is_active, state, last_error, created_at, updated_at, generation";

macro_rules! connector_from_row {
    ($r:expr) => {
        ConnectorRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            source_id: $r.try_get("source_id")?,
            user_id: $r.try_get("user_id")?,
            platform: $r.try_get("platform")?,
            config: $r.try_get("config")?,
            secrets_sealed: $r.try_get("secrets_sealed")?,
            is_active: $r.try_get("is_active")?,
            state: $r.try_get("state")?,
            last_error: $r.try_get("last_error")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
            generation: $r.try_get("generation")?,
        }
    };
}

/// A connector to create, or to replace (one per source and platform).
#[derive(Debug, Clone)]
pub struct NewConnector<'a> {
    /// The source.
    pub source_id: i64,
    /// Its owner.
    pub user_id: i64,
    /// `youtube` or `twitch`.
    pub platform: &'a str,
    /// Shown configuration, JSON.
    pub config: &'a str,
    /// Sealed tokens.
    pub secrets_sealed: &'a str,
}

impl Db {
    /// Creates the source's connector for the platform, or replaces the one there (new tokens
    /// and configuration, active again, errors cleared).
    pub async fn upsert_chat_connector(
        &self,
        c: &NewConnector<'_>,
        uuid: &str,
        now: i64,
    ) -> Result<ConnectorRecord, DbError> {
        let sql = format!(
            "INSERT INTO chat_connectors (uuid, source_id, user_id, platform, config, secrets_sealed, \
             is_active, state, last_error, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'connecting', NULL, $8, $8) \
             ON CONFLICT (source_id, platform) DO UPDATE SET config = excluded.config, \
             secrets_sealed = excluded.secrets_sealed, is_active = excluded.is_active, \
             state = 'connecting', last_error = NULL, lease_node = NULL, lease_until = NULL, \
             generation = chat_connectors.generation + 1, updated_at = excluded.updated_at \
             RETURNING {COLUMNS}"
        );
        on_pool!(self, p => {
            let r = sqlx::query(&sql)
                .bind(uuid).bind(c.source_id).bind(c.user_id).bind(c.platform).bind(c.config)
                .bind(c.secrets_sealed).bind(true).bind(now)
                .fetch_one(p).await?;
            Ok(connector_from_row!(r))
        })
    }

    async fn connectors_where(
        &self,
        condition: &str,
        value: Option<i64>,
    ) -> Result<Vec<ConnectorRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM chat_connectors WHERE {condition} ORDER BY id");
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql);
            if let Some(v) = value {
                q = q.bind(v);
            }
            let rows = q.fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(connector_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A source's connectors.
    pub async fn chat_connectors_for_source(
        &self,
        source_id: i64,
    ) -> Result<Vec<ConnectorRecord>, DbError> {
        self.connectors_where("source_id = $1", Some(source_id))
            .await
    }

    /// Every connector that should run.
    pub async fn active_chat_connectors(&self) -> Result<Vec<ConnectorRecord>, DbError> {
        self.connectors_where("is_active = TRUE", None).await
    }

    /// One connector.
    pub async fn chat_connector_by_id(&self, id: i64) -> Result<Option<ConnectorRecord>, DbError> {
        Ok(self.connectors_where("id = $1", Some(id)).await?.pop())
    }

    /// Removes a connector; whether it existed. Its messages stay in the feed.
    pub async fn delete_chat_connector(&self, id: i64) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query("DELETE FROM chat_connectors WHERE id = $1").bind(id).execute(p).await?;
            Ok(r.rows_affected() > 0)
        })
    }

    /// Records what a runner of `generation` reports (`failed` also stops it from starting
    /// again until the creator reconnects); a runner of an older generation changes nothing.
    pub async fn set_chat_connector_state(
        &self,
        id: i64,
        generation: i64,
        state: &str,
        last_error: Option<&str>,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query(
                "UPDATE chat_connectors SET state = $1, last_error = $2, is_active = $3, updated_at = $4 \
                 WHERE id = $5 AND generation = $6",
            )
            .bind(state).bind(last_error).bind(state != "failed").bind(now).bind(id).bind(generation)
            .execute(p).await?;
            Ok(())
        })
    }

    /// Takes or renews the lease that lets runner `holder` run generation `generation` of the
    /// connector until `until`.
    pub async fn lease_chat_connector(
        &self,
        id: i64,
        generation: i64,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<Lease, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "UPDATE chat_connectors SET lease_node = $1, lease_until = $2 WHERE id = $3 AND generation = $5 \
                 AND is_active = TRUE AND (lease_node IS NULL OR lease_node = $1 OR lease_until < $4)",
            )
            .bind(holder).bind(until).bind(id).bind(now).bind(generation)
            .execute(p).await?;
            if r.rows_affected() == 1 {
                return Ok(Lease::Held);
            }
            let row = sqlx::query("SELECT is_active, generation FROM chat_connectors WHERE id = $1")
                .bind(id).fetch_optional(p).await?;
            Ok(match row {
                Some(r) if r.try_get::<bool, _>("is_active")? && r.try_get::<i64, _>("generation")? == generation => Lease::Busy,
                _ => Lease::Gone,
            })
        })
    }

    /// Gives the lease up (a runner stopping), so another may take it at once.
    pub async fn release_chat_connector(&self, id: i64, node: &str) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query(
                "UPDATE chat_connectors SET lease_node = NULL, lease_until = NULL \
                 WHERE id = $1 AND lease_node = $2",
            )
            .bind(id).bind(node)
            .execute(p).await?;
            Ok(())
        })
    }

    /// Stores tokens a runner of `generation` renewed (not over newer ones the creator gave).
    pub async fn set_chat_connector_secrets(
        &self,
        id: i64,
        generation: i64,
        secrets_sealed: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query("UPDATE chat_connectors SET secrets_sealed = $1, updated_at = $2 WHERE id = $3 AND generation = $4")
                .bind(secrets_sealed).bind(now).bind(id).bind(generation)
                .execute(p).await?;
            Ok(())
        })
    }
}
