//! Resumable uploads (tus 1.0): how much of a declared length has arrived, on which node the
//! bytes are staged, and when an abandoned upload expires.
//!
//! The offset only moves by [`Db::advance_upload`], which succeeds only from the offset the
//! writer read: of two requests appending at the same offset at once, exactly one is recorded,
//! and the other is told to ask for the offset again (tus answers it 409 Conflict).

use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;
use std::collections::BTreeMap;

/// The most bytes of `Upload-Metadata` stored with an upload, as JSON.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;

/// A stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// Integer id.
    pub id: i64,
    /// The upload id in the tus URL.
    pub uuid: String,
    /// Who uploads.
    pub user_id: i64,
    /// The video it becomes.
    pub video_id: Option<i64>,
    /// `Upload-Length`: bytes declared.
    pub length: i64,
    /// `Upload-Offset`: bytes received.
    pub received: i64,
    /// The `Upload-Metadata` pairs (values decoded).
    pub metadata: BTreeMap<String, String>,
    /// The node that stages the bytes.
    pub node: String,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// When an unfinished upload is given up (ms).
    pub expires_at: i64,
    /// When the last byte arrived (ms).
    pub completed_at: Option<i64>,
}

impl UploadRecord {
    /// Whether every declared byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.received >= self.length
    }
}

const COLUMNS: &str = "id, uuid, user_id, video_id, length, received, metadata, node, created_at, \
    updated_at, expires_at, completed_at";

macro_rules! upload_from_row {
    ($r:expr) => {{
        let metadata: String = $r.try_get("metadata")?;
        UploadRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            user_id: $r.try_get("user_id")?,
            video_id: $r.try_get("video_id")?,
            length: $r.try_get("length")?,
            received: $r.try_get("received")?,
            metadata: serde_json::from_str(&metadata).unwrap_or_default(),
            node: $r.try_get("node")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
            expires_at: $r.try_get("expires_at")?,
            completed_at: $r.try_get("completed_at")?,
        }
    }};
}

/// An upload to insert.
#[derive(Debug, Clone)]
pub struct NewUpload<'a> {
    /// The upload id in the tus URL.
    pub uuid: &'a str,
    /// Who uploads.
    pub user_id: i64,
    /// The video it becomes.
    pub video_id: Option<i64>,
    /// `Upload-Length`.
    pub length: i64,
    /// The `Upload-Metadata` pairs; at most [`MAX_METADATA_BYTES`] as JSON.
    pub metadata: &'a BTreeMap<String, String>,
    /// The node that stages the bytes.
    pub node: &'a str,
    /// When an unfinished upload is given up (ms).
    pub expires_at: i64,
}

impl Db {
    /// Records a new upload at offset 0. A negative length or metadata over
    /// [`MAX_METADATA_BYTES`] is [`DbError::Invalid`]; a duplicate uuid [`DbError::Conflict`].
    pub async fn create_upload(
        &self,
        u: &NewUpload<'_>,
        now: i64,
    ) -> Result<UploadRecord, DbError> {
        if u.length < 0 {
            return Err(DbError::Invalid(format!(
                "an upload's length cannot be negative ({})",
                u.length
            )));
        }
        let metadata = serde_json::to_string(u.metadata).unwrap_or_else(|_| "{}".into());
        if metadata.len() > MAX_METADATA_BYTES {
            return Err(DbError::Invalid(format!(
                "upload metadata is {} bytes; at most {MAX_METADATA_BYTES} are kept",
                metadata.len()
            )));
        }
        let sql = format!(
            "INSERT INTO uploads (uuid, user_id, video_id, length, received, metadata, node, created_at, updated_at, \
             expires_at) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $7, $8) RETURNING {COLUMNS}"
        );
        on_pool!(self, p => {
            let r = sqlx::query(&sql)
                .bind(u.uuid).bind(u.user_id).bind(u.video_id).bind(u.length).bind(&metadata)
                .bind(u.node).bind(now).bind(u.expires_at)
                .fetch_one(p).await.map_err(map_unique)?;
            Ok(upload_from_row!(r))
        })
    }

    /// An upload by its tus id.
    pub async fn upload_by_uuid(&self, uuid: &str) -> Result<Option<UploadRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM uploads WHERE uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(upload_from_row!(r))),
            None => Ok(None),
        })
    }

    /// An upload by its tus id, only if `user_id` owns it (someone else's is `None`, as if it
    /// did not exist).
    pub async fn upload_of_user(
        &self,
        uuid: &str,
        user_id: i64,
    ) -> Result<Option<UploadRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM uploads WHERE uuid = $1 AND user_id = $2");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).bind(user_id).fetch_optional(p).await? {
            Some(r) => Ok(Some(upload_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Moves an unfinished upload's offset from `from` to `to` (within its length) and its
    /// expiry to `expires_at`, only if the offset is still `from`: `false` if another write got
    /// there first (or the upload is gone, complete, or `to` is out of range).
    pub async fn advance_upload(
        &self,
        uuid: &str,
        from: i64,
        to: i64,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        if to < from {
            return Ok(false);
        }
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE uploads SET received = $3, expires_at = $4, updated_at = $5 \
             WHERE uuid = $1 AND received = $2 AND $3 <= length AND completed_at IS NULL",
        )
        .bind(uuid).bind(from).bind(to).bind(expires_at).bind(now)
        .execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Marks an upload whose every byte arrived complete, linked to `video_id`; `false` if it is
    /// missing, short of its length, or already complete.
    pub async fn complete_upload(
        &self,
        uuid: &str,
        video_id: Option<i64>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE uploads SET completed_at = $3, video_id = COALESCE($2, video_id), updated_at = $3 \
             WHERE uuid = $1 AND received = length AND completed_at IS NULL",
        )
        .bind(uuid).bind(video_id).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Deletes an upload (tus termination, or expiry); returns what it was, so the caller can
    /// remove its staged bytes.
    pub async fn delete_upload(&self, uuid: &str) -> Result<Option<UploadRecord>, DbError> {
        let sql = format!("DELETE FROM uploads WHERE uuid = $1 RETURNING {COLUMNS}");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(upload_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Up to `limit` unfinished uploads given up at `now`, oldest expiry first.
    pub async fn expired_uploads(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<UploadRecord>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM uploads WHERE completed_at IS NULL AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(now).bind(limit.max(0)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(upload_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Bytes the user's unfinished uploads have declared: storage they will take, which a quota
    /// check counts so that parallel uploads cannot together overshoot it.
    pub async fn pending_upload_bytes(&self, user_id: i64) -> Result<i64, DbError> {
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back so both backends decode an i64.
        let n: i64 = on_pool!(self, p => sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(length), 0) AS BIGINT) FROM uploads WHERE user_id = $1 AND completed_at IS NULL",
        )
        .bind(user_id).fetch_one(p).await?);
        Ok(n)
    }
}
