//! Hangouts: a host's rooms, and the peers in them (who checks in, their role, the stream each
//! on-stage peer publishes).

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A hangout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HangoutRecord {
    /// Row id.
    pub id: i64,
    /// Public id (in its link).
    pub uuid: String,
    /// Its host.
    pub host_id: i64,
    /// The host's display name.
    pub host_name: String,
    /// When the host's account was suspended, if it is.
    pub host_suspended_at: Option<i64>,
    /// Its title.
    pub title: String,
    /// The speaker link's code.
    pub speaker_code: String,
    /// When it was made (ms).
    pub created_at: i64,
    /// When the host ended it (ms).
    pub ended_at: Option<i64>,
    /// The host's source it is broadcast to, while it is.
    pub broadcast_source_id: Option<i64>,
}

/// A peer in a hangout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// Public id.
    pub id: String,
    /// The hangout.
    pub hangout_id: i64,
    /// The signed-in user, if any (guests have none).
    pub user_id: Option<i64>,
    /// The name shown on their tile.
    pub name: String,
    /// `host`, `speaker` or `audience`.
    pub role: String,
    /// Hash of the peer's token.
    pub token_hash: String,
    /// The stream an on-stage peer publishes.
    pub playback_id: String,
    /// Whether they publish now.
    pub publishing: bool,
    /// When they joined (ms).
    pub joined_at: i64,
    /// When they last checked in (ms).
    pub seen_at: i64,
}

const HANGOUT_SELECT: &str = "SELECT h.id, h.uuid, h.host_id, u.display_name AS host_name, u.suspended_at AS host_suspended_at, h.title, \
     h.speaker_code, h.created_at, h.ended_at, h.broadcast_source_id FROM hangouts h JOIN users u ON u.id = h.host_id";

const PEER_SELECT: &str =
    "SELECT id, hangout_id, user_id, name, role, token_hash, playback_id, publishing, \
     joined_at, seen_at FROM hangout_peers";

macro_rules! hangout_from_row {
    ($r:expr) => {
        HangoutRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            host_id: $r.try_get("host_id")?,
            host_name: $r.try_get("host_name")?,
            host_suspended_at: $r.try_get("host_suspended_at")?,
            title: $r.try_get("title")?,
            speaker_code: $r.try_get("speaker_code")?,
            created_at: $r.try_get("created_at")?,
            ended_at: $r.try_get("ended_at")?,
            broadcast_source_id: $r.try_get("broadcast_source_id")?,
        }
    };
}

macro_rules! peer_from_row {
    ($r:expr) => {
        PeerRecord {
            id: $r.try_get("id")?,
            hangout_id: $r.try_get("hangout_id")?,
            user_id: $r.try_get("user_id")?,
            name: $r.try_get("name")?,
            role: $r.try_get("role")?,
            token_hash: $r.try_get("token_hash")?,
            playback_id: $r.try_get("playback_id")?,
            publishing: $r.try_get("publishing")?,
            joined_at: $r.try_get("joined_at")?,
            seen_at: $r.try_get("seen_at")?,
        }
    };
}

impl Db {
    /// Stores a hangout; its id.
    pub async fn create_hangout(
        &self,
        uuid: &str,
        host_id: i64,
        title: &str,
        speaker_code: &str,
        now: i64,
    ) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO hangouts (uuid, host_id, title, speaker_code, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(uuid).bind(host_id).bind(title).bind(speaker_code).bind(now)
        .fetch_one(p).await?))
    }

    /// A hangout by its public id.
    pub async fn hangout_by_uuid(&self, uuid: &str) -> Result<Option<HangoutRecord>, DbError> {
        let sql = format!("{HANGOUT_SELECT} WHERE h.uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(hangout_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A host's hangouts, newest first (at most `limit`).
    pub async fn hangouts_of(
        &self,
        host_id: i64,
        limit: i64,
    ) -> Result<Vec<HangoutRecord>, DbError> {
        let sql = format!("{HANGOUT_SELECT} WHERE h.host_id = $1 ORDER BY h.id DESC LIMIT $2");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(host_id).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(hangout_from_row!(r));
            }
            Ok(out)
        })
    }

    /// The hangouts being broadcast.
    pub async fn broadcasting_hangouts(&self) -> Result<Vec<HangoutRecord>, DbError> {
        let sql = format!(
            "{HANGOUT_SELECT} WHERE h.ended_at IS NULL AND h.broadcast_source_id IS NOT NULL ORDER BY h.id"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(hangout_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Ends a hangout (and its broadcast); whether it was open.
    pub async fn end_hangout(&self, id: i64, now: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE hangouts SET ended_at = $2, broadcast_source_id = NULL WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id).bind(now)
        .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Broadcasts a hangout to `source_id`, or stops (`None`).
    pub async fn set_hangout_broadcast(
        &self,
        id: i64,
        source_id: Option<i64>,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE hangouts SET broadcast_source_id = $2 WHERE id = $1")
            .bind(id).bind(source_id).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Adds a peer to a hangout.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_peer(
        &self,
        id: &str,
        hangout_id: i64,
        user_id: Option<i64>,
        name: &str,
        role: &str,
        token_hash: &str,
        playback_id: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO hangout_peers (id, hangout_id, user_id, name, role, token_hash, playback_id, joined_at, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(id).bind(hangout_id).bind(user_id).bind(name).bind(role).bind(token_hash).bind(playback_id).bind(now)
        .execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// A peer by id.
    pub async fn peer(&self, id: &str) -> Result<Option<PeerRecord>, DbError> {
        let sql = format!("{PEER_SELECT} WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(peer_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A hangout's peers, in the order they joined.
    pub async fn peers_of(&self, hangout_id: i64) -> Result<Vec<PeerRecord>, DbError> {
        let sql = format!("{PEER_SELECT} WHERE hangout_id = $1 ORDER BY joined_at, id");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(hangout_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(peer_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Notes that a peer checked in.
    pub async fn peer_seen(&self, id: &str, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE hangout_peers SET seen_at = $2 WHERE id = $1")
            .bind(id).bind(now).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Notes whether a peer publishes.
    pub async fn set_peer_publishing(&self, id: &str, publishing: bool) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE hangout_peers SET publishing = $2 WHERE id = $1")
            .bind(id).bind(publishing).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Removes a peer; whether they were there.
    pub async fn remove_peer(&self, id: &str) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM hangout_peers WHERE id = $1")
            .bind(id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// The peers who last checked in before `before`, or whose hangout ended.
    pub async fn gone_peers(&self, before: i64) -> Result<Vec<PeerRecord>, DbError> {
        let sql = format!(
            "{PEER_SELECT} WHERE seen_at < $1 OR hangout_id IN (SELECT id FROM hangouts WHERE ended_at IS NOT NULL)"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(before).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(peer_from_row!(r));
            }
            Ok(out)
        })
    }
}
