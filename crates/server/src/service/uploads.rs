//! Resumable uploads (tus 1.0: core, creation, termination, checksum): an upload's bytes are
//! staged in `<data_dir>/uploads/<id>` on the node that receives them, its offset recorded in
//! the database only for bytes that are on disk (synced), and once the last byte arrives the
//! file moves into storage as `videos/<id>/source`, the video goes `processing` and a
//! `process_upload` job is queued. The upload's id is its video's public id.
//!
//! Limits: the declared length within the plan's `max_upload_mb` and, with what is stored and
//! what other unfinished uploads declared, within the plan's storage quota; one request's body
//! at most [`MAX_PATCH_BYTES`], read with a [`READ_TIMEOUT`] between two chunks. An upload not
//! touched for [`EXPIRES_AFTER_MS`] is swept with its video ([`Uploads::sweep`]).

use crate::service::clock::SharedClock;
use crate::service::videos::{new_video_id, prefix, Videos, VideosError};
use bytes::Bytes;
use ferrocast_db::uploads::{NewUpload, UploadRecord};
use ferrocast_db::videos::NewVideo;
use ferrocast_db::{Db, DbError};
use ferrocast_storage::StorageError;
use futures_util::{Stream, StreamExt};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// The tus version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The tus extensions supported.
pub const TUS_EXTENSIONS: &str = "creation,termination,checksum";
/// The checksum algorithms supported.
pub const TUS_CHECKSUMS: &str = "sha1";
/// Bytes one PATCH request may carry at most.
pub const MAX_PATCH_BYTES: u64 = 256 * 1024 * 1024;
/// Bytes of a PATCH body gathered before they are written to the staging file.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Longest wait for the next chunk of a PATCH body.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// An upload not touched for this long (ms) is given up.
pub const EXPIRES_AFTER_MS: i64 = 24 * 3600 * 1000;
/// How often the sweep of expired uploads runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// The largest `Upload-Metadata` header read.
pub const MAX_METADATA_HEADER: usize = 4096;
/// The metadata keys kept (others are ignored).
pub const METADATA_KEYS: [&str; 4] = ["filename", "filetype", "title", "kind"];
/// Longest kept metadata value, in characters.
pub const MAX_METADATA_VALUE: usize = 500;

/// Why an upload operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UploadsError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Object storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The staging file failed.
    #[error("staging file: {0}")]
    Io(#[from] std::io::Error),
    /// Removing the video failed.
    #[error(transparent)]
    Videos(#[from] VideosError),
    /// No such upload for this caller.
    #[error("upload not found")]
    NotFound,
    /// The upload would exceed a limit (the sentence says which; HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// The request's offset is not the upload's (HTTP 409).
    #[error("the upload is at offset {0}")]
    Conflict(i64),
    /// A header is missing or malformed (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The body's checksum does not match `Upload-Checksum` (tus: 460).
    #[error("the checksum of the body does not match Upload-Checksum")]
    ChecksumMismatch,
    /// The body stopped arriving (dropped or timed out); what arrived before is kept.
    #[error("{0}")]
    Interrupted(String),
    /// Strikes restrict the account: uploads are refused (HTTP 403; the reason says why).
    #[error("{0}")]
    Restricted(String),
}

/// Parses `Upload-Metadata` (`key base64,key base64,key`): the keys of [`METADATA_KEYS`] with
/// their decoded values; anything malformed is [`UploadsError::Invalid`].
pub fn parse_metadata(header: &str) -> Result<BTreeMap<String, String>, UploadsError> {
    if header.len() > MAX_METADATA_HEADER {
        return Err(UploadsError::Invalid(format!(
            "Upload-Metadata is longer than {MAX_METADATA_HEADER} bytes"
        )));
    }
    let mut out = BTreeMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = match pair.split_once(' ') {
            Some((k, v)) => (k, v.trim()),
            None => (pair, ""),
        };
        if key.is_empty()
            || key.len() > 64
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(UploadsError::Invalid(
                "Upload-Metadata: keys are ASCII letters, digits, '-', '_' or '.'".into(),
            ));
        }
        let raw = data_encoding::BASE64
            .decode(value.as_bytes())
            .map_err(|_| {
                UploadsError::Invalid(format!("Upload-Metadata: the value of {key} is not base64"))
            })?;
        let text = String::from_utf8(raw).map_err(|_| {
            UploadsError::Invalid(format!("Upload-Metadata: the value of {key} is not UTF-8"))
        })?;
        if !METADATA_KEYS.contains(&key) {
            continue;
        }
        if text.chars().count() > MAX_METADATA_VALUE || text.chars().any(char::is_control) {
            return Err(UploadsError::Invalid(format!(
                "Upload-Metadata: {key} must be at most {MAX_METADATA_VALUE} characters without control characters"
            )));
        }
        out.insert(key.to_string(), text);
    }
    if let Some(kind) = out.get("kind") {
        if kind != "upload" && kind != "short" {
            return Err(UploadsError::Invalid(
                "Upload-Metadata: kind is `upload` or `short`".into(),
            ));
        }
    }
    Ok(out)
}

/// Parses `Upload-Checksum` (`sha1 <base64>`): the expected SHA-1 digest.
pub fn parse_checksum(header: &str) -> Result<[u8; 20], UploadsError> {
    let (algo, value) = header
        .trim()
        .split_once(' ')
        .ok_or_else(|| UploadsError::Invalid("Upload-Checksum is `sha1 <base64>`".into()))?;
    if !algo.eq_ignore_ascii_case("sha1") {
        return Err(UploadsError::Invalid(format!(
            "Upload-Checksum: {algo} is not supported; use sha1"
        )));
    }
    data_encoding::BASE64
        .decode(value.trim().as_bytes())
        .ok()
        .and_then(|d| <[u8; 20]>::try_from(d.as_slice()).ok())
        .ok_or_else(|| UploadsError::Invalid("Upload-Checksum: not a base64 SHA-1 digest".into()))
}

/// The title of a new upload's video: the `title` given, else the file's name without its
/// extension, else "Untitled upload"; at most 200 characters.
pub fn title_of(metadata: &BTreeMap<String, String>) -> String {
    let given = metadata
        .get("title")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let from_file = || {
        metadata.get("filename").and_then(|f| {
            let name = f.rsplit(['/', '\\']).next().unwrap_or(f);
            let stem = match name.rsplit_once('.') {
                Some((s, _)) if !s.is_empty() => s,
                _ => name,
            };
            let stem = stem.trim();
            (!stem.is_empty()).then(|| stem.to_string())
        })
    };
    let t = given
        .or_else(from_file)
        .unwrap_or_else(|| "Untitled upload".into());
    t.chars()
        .take(crate::service::videos::MAX_TITLE_CHARS)
        .collect()
}

/// The uploads service.
#[derive(Clone)]
pub struct Uploads {
    db: Db,
    videos: Videos,
    clock: SharedClock,
    staging: PathBuf,
    node: String,
}

impl Uploads {
    /// The service staging bytes in `staging` (`<data_dir>/uploads`, created when needed).
    pub fn new(db: Db, videos: Videos, clock: SharedClock, staging: PathBuf) -> Self {
        let node = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty() && h.len() <= 100)
            .unwrap_or_else(|| "local".into());
        Self {
            db,
            videos,
            clock,
            staging,
            node,
        }
    }

    fn staged(&self, uuid: &str) -> PathBuf {
        self.staging.join(uuid)
    }

    /// The largest upload `user_id`'s plan allows (bytes); without a user, the largest any
    /// active plan allows.
    pub async fn max_size(&self, user_id: Option<i64>) -> Result<i64, UploadsError> {
        Ok(match user_id {
            Some(u) => self.db.user_plan(u).await?.0.spec.max_upload_bytes(),
            None => self
                .db
                .list_plans()
                .await?
                .iter()
                .map(|p| p.spec.max_upload_bytes())
                .max()
                .unwrap_or(0),
        })
    }

    /// Creates an upload of `length` bytes and its video (`uploading`), refusing one over the
    /// plan's upload size or storage quota.
    pub async fn create(
        &self,
        user_id: i64,
        length: i64,
        metadata: BTreeMap<String, String>,
    ) -> Result<UploadRecord, UploadsError> {
        if length < 0 {
            return Err(UploadsError::Invalid(
                "Upload-Length must be a non-negative integer".into(),
            ));
        }
        if let Some(reason) = self.db.restriction_of(user_id, self.clock.now_ms()).await? {
            return Err(UploadsError::Restricted(reason));
        }
        let (plan, _) = self.db.user_plan(user_id).await?;
        let max = plan.spec.max_upload_bytes();
        if length > max {
            return Err(UploadsError::TooLarge(format!(
                "The file is {} MB; the {} plan accepts uploads of up to {} MB.",
                mb(length),
                plan.spec.name,
                plan.spec.max_upload_mb
            )));
        }
        let used = self.db.storage_used_by_user(user_id).await?;
        let pending = self.db.pending_upload_bytes(user_id).await?;
        let quota = plan.spec.max_storage_bytes();
        if used.saturating_add(pending).saturating_add(length) > quota {
            return Err(UploadsError::TooLarge(format!(
                "This upload needs {} MB of storage; {} MB of your {} MB are used or reserved by unfinished uploads. Delete videos or upgrade your plan.",
                mb(length),
                mb(used.saturating_add(pending)),
                plan.spec.max_storage_mb
            )));
        }
        tokio::fs::create_dir_all(&self.staging).await?;
        let now = self.clock.now_ms();
        let uuid = new_video_id();
        let kind = if metadata.get("kind").map(String::as_str) == Some("short") {
            "short"
        } else {
            "upload"
        };
        let title = title_of(&metadata);
        let video = self
            .db
            .create_video(
                &NewVideo {
                    uuid: &uuid,
                    user_id,
                    source_id: None,
                    kind,
                    title: &title,
                    description: "",
                    tags: &[],
                    visibility: "private",
                    status: "uploading",
                    expires_at: None,
                },
                now,
            )
            .await?;
        let created = async {
            let mut opts = tokio::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            opts.mode(0o600);
            opts.open(self.staged(&uuid)).await?;
            let rec = self
                .db
                .create_upload(
                    &NewUpload {
                        uuid: &uuid,
                        user_id,
                        video_id: Some(video.id),
                        length,
                        metadata: &metadata,
                        node: &self.node,
                        expires_at: now + EXPIRES_AFTER_MS,
                    },
                    now,
                )
                .await?;
            Ok::<_, UploadsError>(rec)
        }
        .await;
        match created {
            Ok(rec) => {
                if length == 0 {
                    self.finish(&rec).await?;
                }
                Ok(rec)
            }
            Err(e) => {
                let _ = self.videos.remove(&video).await;
                Err(e)
            }
        }
    }

    /// The caller's upload `uuid`; an upload whose every byte arrived but which did not finish
    /// (storage failed) is finished now.
    pub async fn status(&self, uuid: &str, user_id: i64) -> Result<UploadRecord, UploadsError> {
        let rec = self.owned(uuid, user_id).await?;
        if rec.is_complete() && rec.completed_at.is_none() {
            self.finish(&rec).await?;
        }
        Ok(rec)
    }

    async fn owned(&self, uuid: &str, user_id: i64) -> Result<UploadRecord, UploadsError> {
        if !crate::service::videos::is_video_id(uuid) {
            return Err(UploadsError::NotFound);
        }
        self.db
            .upload_of_user(uuid, user_id)
            .await?
            .ok_or(UploadsError::NotFound)
    }

    /// Appends a PATCH body at `offset`; the new offset. Bytes are written to the staging
    /// file, synced, and only then counted. A body that stops arriving keeps what arrived
    /// (without a checksum: with one, nothing of it); a checksum mismatch keeps nothing.
    pub async fn append<S, E>(
        &self,
        uuid: &str,
        user_id: i64,
        offset: i64,
        checksum: Option<[u8; 20]>,
        body: S,
    ) -> Result<i64, UploadsError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let rec = self.owned(uuid, user_id).await?;
        if rec.received != offset {
            return Err(UploadsError::Conflict(rec.received));
        }
        if rec.completed_at.is_some() || rec.is_complete() {
            // Every byte is here; an empty PATCH at the end finishes an upload left unfinished.
            if rec.completed_at.is_none() {
                self.finish(&rec).await?;
            }
            return Ok(rec.received);
        }
        let room = ((rec.length - offset) as u64).min(MAX_PATCH_BYTES);
        let path = self.staged(uuid);
        let mut file = match tokio::fs::OpenOptions::new().write(true).open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && offset == 0 => {
                tokio::fs::create_dir_all(&self.staging).await?;
                let mut opts = tokio::fs::OpenOptions::new();
                opts.write(true).create(true);
                #[cfg(unix)]
                opts.mode(0o600);
                opts.open(&path).await?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(UploadsError::Invalid(
                    "this upload's bytes are not on this server any more; start the upload again"
                        .into(),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        // Bytes past the recorded offset (a request cut before they were counted) are dropped.
        file.set_len(offset as u64).await?;
        file.seek(std::io::SeekFrom::Start(offset as u64)).await?;
        // The body arrives in pieces of a few KiB; each write to a tokio file is a trip to the
        // blocking pool, so they are gathered into writes of a MiB.
        let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut hasher = checksum.map(|_| Sha1::new());
        let mut written: u64 = 0;
        let mut body = body;
        let mut interrupted: Option<String> = None;
        let mut too_large = false;
        loop {
            match tokio::time::timeout(READ_TIMEOUT, body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    if written + chunk.len() as u64 > room {
                        too_large = true;
                        break;
                    }
                    file.write_all(&chunk).await?;
                    if let Some(h) = hasher.as_mut() {
                        h.update(&chunk);
                    }
                    written += chunk.len() as u64;
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    interrupted = Some(format!("the request body broke off: {e}"));
                    break;
                }
                Err(_) => {
                    interrupted = Some(format!(
                        "no bytes arrived for {} seconds",
                        READ_TIMEOUT.as_secs()
                    ));
                    break;
                }
            }
        }
        let keep = if too_large {
            0
        } else if let (Some(h), Some(want)) = (hasher, checksum) {
            if interrupted.is_some() || h.finalize().as_slice() != want {
                0
            } else {
                written
            }
        } else {
            written
        };
        file.flush().await?;
        let file = file.into_inner();
        file.set_len(offset as u64 + keep).await?;
        file.sync_all().await?;
        drop(file);
        if too_large {
            return Err(UploadsError::TooLarge(format!(
                "A request may carry at most {} bytes, and no more than the {} bytes left of the declared Upload-Length.",
                MAX_PATCH_BYTES,
                rec.length - offset
            )));
        }
        let to = offset + keep as i64;
        if keep > 0 {
            let now = self.clock.now_ms();
            if !self
                .db
                .advance_upload(uuid, offset, to, now + EXPIRES_AFTER_MS, now)
                .await?
            {
                let current = self
                    .db
                    .upload_by_uuid(uuid)
                    .await?
                    .map_or(offset, |r| r.received);
                return Err(UploadsError::Conflict(current));
            }
        }
        if let Some(why) = interrupted {
            return Err(UploadsError::Interrupted(why));
        }
        if checksum.is_some() && keep != written {
            return Err(UploadsError::ChecksumMismatch);
        }
        if to == rec.length {
            let rec = self.owned(uuid, user_id).await?;
            self.finish(&rec).await?;
        }
        Ok(to)
    }

    /// Moves a complete upload into storage and queues its processing: `source` stored, the
    /// video's size counted, the upload marked complete, the video `processing`, a
    /// `process_upload` job queued, the staging file removed. Safe to repeat: only the call
    /// that marks the upload complete counts the size and queues the job.
    pub async fn finish(&self, rec: &UploadRecord) -> Result<(), UploadsError> {
        let Some(video_id) = rec.video_id else {
            return Err(UploadsError::NotFound);
        };
        let path = self.staged(&rec.uuid);
        let key = format!("{}source", prefix(&rec.uuid));
        let storage = self.videos.storage();
        let size = match storage.move_file(&key, &path).await {
            Ok(n) => n,
            // Moved by an earlier attempt that stopped before the database said so.
            Err(e) if !tokio::fs::try_exists(&path).await.unwrap_or(true) => {
                match storage.head(&key).await? {
                    Some(meta) if meta.size == rec.length as u64 => meta.size,
                    _ => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        let now = self.clock.now_ms();
        if self.db.complete_upload(&rec.uuid, None, now).await? {
            self.db.add_video_size(video_id, size as i64, now).await?;
            self.db
                .set_video_status(video_id, "processing", None, now)
                .await?;
            self.db
                .enqueue_job(
                    crate::service::jobs::PROCESS_UPLOAD,
                    Some(video_id),
                    &serde_json::json!({ "upload": rec.uuid }),
                    now,
                    crate::service::jobs::MAX_ATTEMPTS,
                    now,
                )
                .await?;
            tracing::info!(video = %rec.uuid, bytes = size, "upload complete; processing queued");
        }
        Ok(())
    }

    /// Terminates the caller's upload: its staged bytes, its row and its video go.
    pub async fn terminate(&self, uuid: &str, user_id: i64) -> Result<(), UploadsError> {
        let rec = self.owned(uuid, user_id).await?;
        self.discard(&rec).await
    }

    async fn discard(&self, rec: &UploadRecord) -> Result<(), UploadsError> {
        self.db.delete_upload(&rec.uuid).await?;
        if let Some(video) = match rec.video_id {
            Some(id) => self.db.video_by_id(id).await?,
            None => None,
        } {
            self.videos.remove(&video).await?;
        }
        match tokio::fs::remove_file(self.staged(&rec.uuid)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes uploads not touched within [`EXPIRES_AFTER_MS`] with their videos and staged
    /// bytes; how many went.
    pub async fn sweep(&self) -> Result<usize, UploadsError> {
        self.sweep_at(self.clock.now_ms()).await
    }

    /// [`Uploads::sweep`] as of `now` (ms).
    pub async fn sweep_at(&self, now: i64) -> Result<usize, UploadsError> {
        let mut n = 0;
        loop {
            let batch = self.db.expired_uploads(now, 100).await?;
            if batch.is_empty() {
                return Ok(n);
            }
            for rec in &batch {
                self.discard(rec).await?;
                n += 1;
            }
        }
    }
}

/// Runs [`Uploads::sweep`] every [`SWEEP_EVERY`] until `shutdown`.
pub fn spawn_sweep(uploads: Uploads, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            match uploads.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(uploads = n, "expired uploads removed"),
                Err(e) => tracing::warn!(error = %e, "the sweep of expired uploads failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    });
}

fn mb(bytes: i64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_parsed_and_bounded() {
        let m = parse_metadata("filename bXkudmlkZW8ubXA0,title SGVsbG8=,flag,other eA==")
            .expect("parsed");
        assert_eq!(m.get("filename").map(String::as_str), Some("my.video.mp4"));
        assert_eq!(m.get("title").map(String::as_str), Some("Hello"));
        assert_eq!(m.len(), 2, "unknown keys are dropped: {m:?}");
        assert!(parse_metadata("title !!!").is_err());
        assert!(
            parse_metadata("kind bG9uZw==").is_err(),
            "kind is upload or short"
        );
        assert!(parse_metadata(&"a".repeat(5000)).is_err());
        assert_eq!(title_of(&m), "Hello");
        let mut f = BTreeMap::new();
        f.insert("filename".to_string(), "C:\\x\\holiday.mp4".to_string());
        assert_eq!(title_of(&f), "holiday");
        assert_eq!(title_of(&BTreeMap::new()), "Untitled upload");
    }

    #[test]
    fn checksum_header() {
        let d = parse_checksum("sha1 qvTGHdzF6KLavt4PO0gs2a6pQ00=").expect("sha1");
        assert_eq!(d[0], 0xaa);
        assert!(parse_checksum("md5 qvTGHdzF6KLavt4PO0gs2a6pQ00=").is_err());
        assert!(parse_checksum("sha1 AAAA").is_err());
    }
}
