//! The audit log's rows: appends numbered one at a time under the `audit_head` row's lock, the
//! personal data kept apart (and erasable), and the signed checkpoints. The hashing is the
//! caller's (`ferrocast_domain::audit`): this module stores what it is given and hands rows back
//! exactly as stored, so a verifier can recompute every hash from them.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// An entry to append (everything but its index, its previous hash and its own hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// Unix ms.
    pub created_at: i64,
    /// Dotted action.
    pub action: String,
    /// `user:42`, `system` or `anonymous`.
    pub actor: String,
    /// The acting user.
    pub actor_user_id: Option<i64>,
    /// (kind, id).
    pub subject: Option<(String, String)>,
    /// Canonical JSON.
    pub details: String,
    /// The personal data, if any.
    pub personal: Option<NewPersonal>,
}

/// Personal data of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPersonal {
    /// The user it is about.
    pub user_id: Option<i64>,
    /// Canonical JSON.
    pub personal: String,
    /// Hex salt.
    pub salt: String,
    /// Hex commitment, `SHA-256(salt || personal)`.
    pub commitment: String,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Leaf index.
    pub idx: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Dotted action.
    pub action: String,
    /// `user:42`, `system` or `anonymous`.
    pub actor: String,
    /// The acting user.
    pub actor_user_id: Option<i64>,
    /// Subject kind.
    pub subject_kind: Option<String>,
    /// Subject id.
    pub subject_id: Option<String>,
    /// Canonical JSON, as stored.
    pub details: String,
    /// Hex commitment to the personal data.
    pub personal_commitment: Option<String>,
    /// Previous leaf hash, hex.
    pub prev_hash: String,
    /// This leaf's hash, hex.
    pub leaf_hash: String,
    /// The personal data (canonical JSON) unless erased or absent.
    pub personal: Option<String>,
    /// Its salt (hex).
    pub salt: Option<String>,
    /// The user it is about.
    pub personal_user_id: Option<i64>,
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Actions equal to this, or starting with it followed by `.` (`auth` matches `auth.login`).
    pub action: Option<String>,
    /// The acting user.
    pub actor_user_id: Option<i64>,
    /// Subject kind.
    pub subject_kind: Option<String>,
    /// Subject id.
    pub subject_id: Option<String>,
    /// From this time (ms, inclusive).
    pub from_ms: Option<i64>,
    /// Before this time (ms, exclusive).
    pub to_ms: Option<i64>,
    /// Entries with a smaller index only (paging backwards).
    pub before_idx: Option<i64>,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    /// Leaves covered.
    pub tree_size: i64,
    /// Root hash, hex.
    pub root_hash: String,
    /// Unix ms.
    pub created_at: i64,
    /// The signed body.
    pub body: String,
    /// Ed25519 signature, base64.
    pub signature: String,
    /// The signing public key, hex.
    pub public_key: String,
}

const COLUMNS: &str = "l.idx, l.created_at, l.action, l.actor, l.actor_user_id, l.subject_kind, \
    l.subject_id, l.details, l.personal_commitment, l.prev_hash, l.leaf_hash, p.personal, p.salt, \
    p.user_id AS personal_user_id";

macro_rules! audit_row {
    ($r:expr) => {
        AuditRow {
            idx: $r.try_get("idx")?,
            created_at: $r.try_get("created_at")?,
            action: $r.try_get("action")?,
            actor: $r.try_get("actor")?,
            actor_user_id: $r.try_get("actor_user_id")?,
            subject_kind: $r.try_get("subject_kind")?,
            subject_id: $r.try_get("subject_id")?,
            details: $r.try_get("details")?,
            personal_commitment: $r.try_get("personal_commitment")?,
            prev_hash: $r.try_get("prev_hash")?,
            leaf_hash: $r.try_get("leaf_hash")?,
            personal: $r.try_get("personal")?,
            salt: $r.try_get("salt")?,
            personal_user_id: $r.try_get("personal_user_id")?,
        }
    };
}

macro_rules! checkpoint_row {
    ($r:expr) => {
        CheckpointRow {
            tree_size: $r.try_get("tree_size")?,
            root_hash: $r.try_get("root_hash")?,
            created_at: $r.try_get("created_at")?,
            body: $r.try_get("body")?,
            signature: $r.try_get("signature")?,
            public_key: $r.try_get("public_key")?,
        }
    };
}

const CHECKPOINT_COLUMNS: &str = "tree_size, root_hash, created_at, body, signature, public_key";

impl Db {
    /// Appends an entry: takes the next index and the previous leaf's hash under the head row's
    /// lock, asks `leaf_hash(index, prev_hash)` for the new leaf's hash, writes the row (and its
    /// personal data) and moves the head, all in one transaction. Returns the index.
    pub async fn audit_append(
        &self,
        e: &NewAuditEntry,
        leaf_hash: impl Fn(i64, &str) -> String,
    ) -> Result<i64, DbError> {
        let (kind, id) = match &e.subject {
            Some((k, i)) => (Some(k.as_str()), Some(i.as_str())),
            None => (None, None),
        };
        let commitment = e.personal.as_ref().map(|p| p.commitment.as_str());
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let head = sqlx::query("UPDATE audit_head SET size = size + 1 WHERE id = 1 RETURNING size, last_hash")
                .fetch_one(&mut *tx)
                .await?;
            let size: i64 = head.try_get("size")?;
            let prev: String = head.try_get("last_hash")?;
            let idx = size - 1;
            let hash = leaf_hash(idx, &prev);
            sqlx::query(
                "INSERT INTO audit_log (idx, created_at, action, actor, actor_user_id, subject_kind, subject_id, \
                 details, personal_commitment, prev_hash, leaf_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(idx).bind(e.created_at).bind(&e.action).bind(&e.actor).bind(e.actor_user_id)
            .bind(kind).bind(id).bind(&e.details).bind(commitment).bind(&prev).bind(&hash)
            .execute(&mut *tx)
            .await?;
            if let Some(personal) = &e.personal {
                sqlx::query("INSERT INTO audit_personal (idx, user_id, personal, salt) VALUES ($1, $2, $3, $4)")
                    .bind(idx).bind(personal.user_id).bind(&personal.personal).bind(&personal.salt)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1")
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(idx)
        })
    }

    /// The log's size and last leaf hash, as the head row says.
    pub async fn audit_head(&self) -> Result<(i64, String), DbError> {
        on_pool!(self, p => {
            let r = sqlx::query("SELECT size, last_hash FROM audit_head WHERE id = 1").fetch_one(p).await?;
            Ok((r.try_get("size")?, r.try_get("last_hash")?))
        })
    }

    /// Erases the personal data about `user_id` (the leaves keep their commitments). Returns
    /// the rows erased.
    pub async fn audit_erase_personal(&self, user_id: i64) -> Result<u64, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query("DELETE FROM audit_personal WHERE user_id = $1").bind(user_id).execute(p).await?;
            Ok(r.rows_affected())
        })
    }

    /// Entries matching `f`, newest first, at most `limit` (1 to 500).
    pub async fn audit_list(&self, f: &AuditFilter, limit: i64) -> Result<Vec<AuditRow>, DbError> {
        let limit = limit.clamp(1, 500);
        let prefix = f.action.as_ref().map(|a| {
            let escaped = a
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("{escaped}.%")
        });
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log l LEFT JOIN audit_personal p ON p.idx = l.idx WHERE \
             ($1 IS NULL OR l.action = $1 OR l.action LIKE $2 ESCAPE '\\') \
             AND ($3 IS NULL OR l.actor_user_id = $3) \
             AND ($4 IS NULL OR l.subject_kind = $4) \
             AND ($5 IS NULL OR l.subject_id = $5) \
             AND ($6 IS NULL OR l.created_at >= $6) \
             AND ($7 IS NULL OR l.created_at < $7) \
             AND ($8 IS NULL OR l.idx < $8) \
             ORDER BY l.idx DESC LIMIT $9"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql)
                .bind(f.action.as_deref()).bind(prefix.as_deref()).bind(f.actor_user_id)
                .bind(f.subject_kind.as_deref()).bind(f.subject_id.as_deref())
                .bind(f.from_ms).bind(f.to_ms).bind(f.before_idx).bind(limit)
                .fetch_all(p).await?;
            rows.iter().map(|r| Ok(audit_row!(r))).collect()
        })
    }

    /// Entries with `from <= idx < to`, in index order, as stored (gaps and all: a verifier
    /// looks for them).
    pub async fn audit_range(&self, from: i64, to: i64) -> Result<Vec<AuditRow>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log l LEFT JOIN audit_personal p ON p.idx = l.idx \
             WHERE l.idx >= $1 AND l.idx < $2 ORDER BY l.idx"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(from).bind(to).fetch_all(p).await?;
            rows.iter().map(|r| Ok(audit_row!(r))).collect()
        })
    }

    /// One entry.
    pub async fn audit_entry(&self, idx: i64) -> Result<Option<AuditRow>, DbError> {
        Ok(self.audit_range(idx, idx.saturating_add(1)).await?.pop())
    }

    /// The stored leaf hashes of the first `size` entries, in index order.
    pub async fn audit_leaf_hashes(&self, size: i64) -> Result<Vec<String>, DbError> {
        on_pool!(self, p => {
            Ok(sqlx::query_scalar::<_, String>("SELECT leaf_hash FROM audit_log WHERE idx < $1 ORDER BY idx")
                .bind(size)
                .fetch_all(p)
                .await?)
        })
    }

    /// The first index at or after `ms`, or the log's size if none.
    pub async fn audit_index_at(&self, ms: i64) -> Result<i64, DbError> {
        on_pool!(self, p => {
            let i: Option<i64> = sqlx::query_scalar("SELECT MIN(idx) FROM audit_log WHERE created_at >= $1")
                .bind(ms)
                .fetch_one(p)
                .await?;
            match i {
                Some(i) => Ok(i),
                None => Ok(self.audit_head().await?.0),
            }
        })
    }

    /// Stores a checkpoint; `false` if one for that size exists already.
    pub async fn audit_insert_checkpoint(&self, c: &CheckpointRow) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "INSERT INTO audit_checkpoints (tree_size, root_hash, created_at, body, signature, public_key) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tree_size) DO NOTHING",
            )
            .bind(c.tree_size).bind(&c.root_hash).bind(c.created_at).bind(&c.body).bind(&c.signature).bind(&c.public_key)
            .execute(p)
            .await?;
            Ok(r.rows_affected() == 1)
        })
    }

    /// Checkpoints, newest (largest) first, at most `limit` (1 to 500), below `before_size`.
    pub async fn audit_checkpoints(
        &self,
        before_size: Option<i64>,
        limit: i64,
    ) -> Result<Vec<CheckpointRow>, DbError> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE ($1 IS NULL OR tree_size < $1) \
             ORDER BY tree_size DESC LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(before_size).bind(limit.clamp(1, 500)).fetch_all(p).await?;
            rows.iter().map(|r| Ok(checkpoint_row!(r))).collect()
        })
    }

    /// Every checkpoint, smallest first.
    pub async fn audit_all_checkpoints(&self) -> Result<Vec<CheckpointRow>, DbError> {
        let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY tree_size");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).fetch_all(p).await?;
            rows.iter().map(|r| Ok(checkpoint_row!(r))).collect()
        })
    }

    /// The checkpoint of `size` leaves.
    pub async fn audit_checkpoint(&self, size: i64) -> Result<Option<CheckpointRow>, DbError> {
        let sql =
            format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE tree_size = $1");
        on_pool!(self, p => {
            match sqlx::query(&sql).bind(size).fetch_optional(p).await? {
                Some(r) => Ok(Some(checkpoint_row!(r))),
                None => Ok(None),
            }
        })
    }
}
