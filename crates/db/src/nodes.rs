//! The node registry: the nodes of a deployment with their heartbeats and advertised URLs, and
//! the live streams each holds, so that a node asked for a stream it does not hold finds the one
//! to pull it from.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A node as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Its id (fresh per process).
    pub id: String,
    /// `origin` or `edge`.
    pub role: String,
    /// `rtmp://host:port` other nodes reach it at.
    pub rtmp_url: String,
    /// `http(s)://host:port` other nodes reach it at.
    pub http_url: String,
    /// When it started (ms).
    pub started_at: i64,
    /// Its last heartbeat (ms).
    pub heartbeat_at: i64,
}

/// A live stream a node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStream {
    /// The stream's playback id.
    pub playback_id: String,
    /// Its source.
    pub source_id: i64,
    /// Relayed from another node (not published here).
    pub relay: bool,
    /// Since when the node holds it (ms).
    pub since: i64,
}

/// Where a live stream is published: the node, and the stream's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOrigin {
    /// The node the encoder publishes to.
    pub node: NodeRecord,
    /// The stream's source.
    pub source_id: i64,
}

/// Streams listed per node at most (a registry row per stream; more are not advertised).
pub const MAX_STREAMS_PER_NODE: usize = 10_000;

const NODE_COLUMNS: &str = "id, role, rtmp_url, http_url, started_at, heartbeat_at";

macro_rules! node_from_row {
    ($r:expr) => {
        NodeRecord {
            id: $r.try_get("id")?,
            role: $r.try_get("role")?,
            rtmp_url: $r.try_get("rtmp_url")?,
            http_url: $r.try_get("http_url")?,
            started_at: $r.try_get("started_at")?,
            heartbeat_at: $r.try_get("heartbeat_at")?,
        }
    };
}

impl Db {
    /// Registers `node` or renews its heartbeat (and URLs, role) to `node.heartbeat_at`, and
    /// replaces the list of live streams it holds with `streams`, in one transaction.
    pub async fn node_heartbeat(
        &self,
        node: &NodeRecord,
        streams: &[NodeStream],
    ) -> Result<(), DbError> {
        if streams.len() > MAX_STREAMS_PER_NODE {
            return Err(DbError::Invalid(format!(
                "a node lists at most {MAX_STREAMS_PER_NODE} live streams, not {}",
                streams.len()
            )));
        }
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO nodes (id, role, rtmp_url, http_url, started_at, heartbeat_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET role = excluded.role, rtmp_url = excluded.rtmp_url, \
                 http_url = excluded.http_url, heartbeat_at = excluded.heartbeat_at",
            )
            .bind(&node.id).bind(&node.role).bind(&node.rtmp_url).bind(&node.http_url)
            .bind(node.started_at).bind(node.heartbeat_at)
            .execute(&mut *tx).await?;
            sqlx::query("DELETE FROM node_streams WHERE node_id = $1")
                .bind(&node.id).execute(&mut *tx).await?;
            for s in streams {
                sqlx::query(
                    "INSERT INTO node_streams (node_id, playback_id, source_id, relay, since) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&node.id).bind(&s.playback_id).bind(s.source_id).bind(s.relay).bind(s.since)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Renews the heartbeat of a registered node whose streams have not changed since it last
    /// wrote them. Returns false when the node is not registered (expired meanwhile by another
    /// node, which removed its streams too): the caller writes it whole again.
    pub async fn node_touch(&self, id: &str, heartbeat_at: i64) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query("UPDATE nodes SET heartbeat_at = $2 WHERE id = $1")
                .bind(id).bind(heartbeat_at).execute(p).await?;
            Ok(r.rows_affected() == 1)
        })
    }

    /// Removes a node and its streams (a node stopping cleanly). Returns whether it was there.
    pub async fn remove_node(&self, id: &str) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM node_streams WHERE node_id = $1")
                .bind(id).execute(&mut *tx).await?;
            let r = sqlx::query("DELETE FROM nodes WHERE id = $1")
                .bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(r.rows_affected() == 1)
        })
    }

    /// Removes the nodes whose last heartbeat is older than `before` (ms), with their streams
    /// (nodes that crashed or lost the database). Returns how many nodes.
    pub async fn expire_nodes(&self, before: i64) -> Result<u64, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "DELETE FROM node_streams WHERE node_id IN \
                 (SELECT id FROM nodes WHERE heartbeat_at < $1)",
            )
            .bind(before).execute(&mut *tx).await?;
            // Rows of a node that has no registration (removed meanwhile) go too.
            sqlx::query("DELETE FROM node_streams WHERE node_id NOT IN (SELECT id FROM nodes)")
                .execute(&mut *tx).await?;
            let r = sqlx::query("DELETE FROM nodes WHERE heartbeat_at < $1")
                .bind(before).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(r.rows_affected())
        })
    }

    /// The node that publishes the live stream `playback_id` (holds it, not as a relay), other
    /// than `except`, among nodes whose heartbeat is at or after `fresh_after` (ms); the most
    /// recent holder if several claim it.
    pub async fn stream_origin(
        &self,
        playback_id: &str,
        except: &str,
        fresh_after: i64,
    ) -> Result<Option<StreamOrigin>, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT n.id, n.role, n.rtmp_url, n.http_url, n.started_at, n.heartbeat_at, s.source_id \
                 FROM node_streams s JOIN nodes n ON n.id = s.node_id \
                 WHERE s.playback_id = $1 AND s.relay = FALSE AND n.id <> $2 AND n.heartbeat_at >= $3 \
                 ORDER BY s.since DESC, n.id LIMIT 1",
            )
            .bind(playback_id).bind(except).bind(fresh_after)
            .fetch_optional(p).await?;
            Ok(match row {
                Some(r) => Some(StreamOrigin {
                    source_id: r.try_get("source_id")?,
                    node: node_from_row!(r),
                }),
                None => None,
            })
        })
    }

    /// Every registered node, oldest first, with the streams it holds.
    pub async fn list_nodes(&self) -> Result<Vec<(NodeRecord, Vec<NodeStream>)>, DbError> {
        let nodes_sql = format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY started_at, id");
        on_pool!(self, p => {
            let rows = sqlx::query(&nodes_sql).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((node_from_row!(r), Vec::new()));
            }
            let streams = sqlx::query(
                "SELECT node_id, playback_id, source_id, relay, since FROM node_streams \
                 ORDER BY node_id, playback_id",
            )
            .fetch_all(p).await?;
            for r in &streams {
                let node_id: String = r.try_get("node_id")?;
                if let Some((_, list)) = out.iter_mut().find(|(n, _)| n.id == node_id) {
                    list.push(NodeStream {
                        playback_id: r.try_get("playback_id")?,
                        source_id: r.try_get("source_id")?,
                        relay: r.try_get("relay")?,
                        since: r.try_get("since")?,
                    });
                }
            }
            Ok(out)
        })
    }
}
