//! Videos as their owners and viewers reach them: who may see which, what their owner may
//! change, how much of the plan's storage they take, their deletion with every stored object,
//! and the signed addresses of a private video's objects.
//!
//! A video's objects live under `videos/<uuid>/` in [`Storage`] (the layout is in
//! `vod-contract`: `hls/`, `rec/p<N>/`, `source`, `video.mp4`, `thumb.jpg`, `strip.jpg`). A
//! private video's object URLs carry `?exp=<unix seconds>&sig=<hex>`, an HMAC-SHA256 over
//! `"<uuid>:<exp>"` with a key derived from the master key, so that a player can fetch its
//! segments without a bearer token and a leaked URL stops working within hours.

use crate::service::clock::SharedClock;
use ferrocast_db::jobs::JobRecord;
use ferrocast_db::videos::VideoRecord;
use ferrocast_db::{Db, DbError};
use ferrocast_storage::{Storage, StorageError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::PathBuf;

/// How long a signed URL of a private video stays valid at least (seconds); it is rounded up
/// to the next hour so that URLs handed out within one hour are the same (players and caches
/// see one address).
pub const SIGNED_URL_SECS: i64 = 6 * 3600;
/// The most videos a page of the owner's list holds.
pub const MAX_PAGE_LIMIT: i64 = 100;
/// Past broadcasts listed on a watch page at most.
pub const MAX_PAST_BROADCASTS: i64 = 50;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
/// Most tags.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 40;
/// Width of one frame of the preview strip (pixels).
pub const STRIP_FRAME_WIDTH: i64 = 160;
/// Frames per row of the preview strip.
pub const STRIP_COLUMNS: i64 = 10;

/// Why a video operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum VideosError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Object storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// No such video for this caller (or it is not theirs to see).
    #[error("video not found")]
    NotFound,
    /// A field the owner sent is not acceptable (the sentence names it).
    #[error("{0}")]
    Invalid(String),
    /// A copyright notice disabled the video (HTTP 451 for everyone but its owner).
    #[error("video disabled by a copyright notice")]
    Disabled,
}

/// The video visibility levels.
pub const VISIBILITIES: [&str; 3] = ["public", "unlisted", "private"];

/// Bytes a user's videos take and what the plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes stored.
    pub used_bytes: i64,
    /// The plan's storage quota in bytes.
    pub quota_bytes: i64,
}

/// What the owner changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// 1 to [`MAX_TITLE_CHARS`] characters.
    pub title: Option<String>,
    /// Up to [`MAX_DESCRIPTION_CHARS`] characters.
    pub description: Option<String>,
    /// Up to [`MAX_TAGS`] tags of up to [`MAX_TAG_CHARS`] characters.
    pub tags: Option<Vec<String>>,
    /// One of [`VISIBILITIES`].
    pub visibility: Option<String>,
}

/// Processing progress of a video, from its latest job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// What the job is doing ("probing", "packaging", …); "queued" before it starts.
    pub stage: String,
    /// 0 to 100.
    pub percent: i64,
}

/// Signs and checks the query of a private video's object URLs.
#[derive(Clone)]
pub struct UrlSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner")
    }
}

impl UrlSigner {
    /// A signer with the key derived from the master key for this purpose only.
    pub fn derive(master_key: &[u8; 32]) -> Self {
        Self {
            key: ferrocast_auth::secretbox::derive_key(master_key, "video-url-hmac-sha256"),
        }
    }

    fn mac(&self, uuid: &str, exp: i64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("invariant: HMAC accepts any key length");
        mac.update(uuid.as_bytes());
        mac.update(b":");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    /// The hex signature of `uuid` valid until `exp` (Unix seconds).
    pub fn sign(&self, uuid: &str, exp: i64) -> String {
        data_encoding::HEXLOWER.encode(&self.mac(uuid, exp).finalize().into_bytes())
    }

    /// The query (`exp=…&sig=…`) for a URL of `uuid` handed out at `now_secs`.
    pub fn query(&self, uuid: &str, now_secs: i64) -> String {
        let exp = (now_secs + SIGNED_URL_SECS).div_euclid(3600) * 3600 + 3600;
        format!("exp={exp}&sig={}", self.sign(uuid, exp))
    }

    /// Whether `sig` signs `uuid` until `exp` and `exp` has not passed at `now_secs`
    /// (constant-time comparison).
    pub fn verify(&self, uuid: &str, exp: i64, sig: &str, now_secs: i64) -> bool {
        if exp < now_secs {
            return false;
        }
        let Ok(raw) = data_encoding::HEXLOWER_PERMISSIVE.decode(sig.as_bytes()) else {
            return false;
        };
        self.mac(uuid, exp).verify_slice(&raw).is_ok()
    }
}

/// The object key prefix of a video: `videos/<uuid>/`.
pub fn prefix(uuid: &str) -> String {
    format!("videos/{uuid}/")
}

/// Whether `uuid` may be a video's public id (ours are 16 characters of lower-case base32;
/// lower-case letters, digits and `-`, at most 64, are let through), so that nothing else
/// reaches the database or the store as part of a key.
pub fn is_video_id(uuid: &str) -> bool {
    (1..=64).contains(&uuid.len())
        && uuid
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A new video id: 16 characters of lower-case base32 (80 random bits).
pub fn new_video_id() -> String {
    let mut bytes = [0u8; 10];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase()
}

/// Whether a viewer (`None`: anonymous) may see `v`: its owner always; others a public or
/// unlisted video once it is ready.
pub fn may_see(v: &VideoRecord, viewer: Option<i64>) -> bool {
    viewer == Some(v.user_id)
        || (v.status == "ready" && (v.visibility == "public" || v.visibility == "unlisted"))
}

/// Checks and normalises the owner's changes against the stored video; the new
/// (title, description, tags, visibility).
pub fn apply_changes(
    v: &VideoRecord,
    c: Changes,
) -> Result<(String, String, Vec<String>, String), VideosError> {
    let title = match c.title {
        Some(t) => {
            let t = t.trim().to_string();
            let n = t.chars().count();
            if n == 0 || n > MAX_TITLE_CHARS || t.chars().any(char::is_control) {
                return Err(VideosError::Invalid(format!(
                    "title: must be 1 to {MAX_TITLE_CHARS} characters without control characters"
                )));
            }
            t
        }
        None => v.title.clone(),
    };
    let description = match c.description {
        Some(d) => {
            let d = d.trim().to_string();
            if d.chars().count() > MAX_DESCRIPTION_CHARS
                || d.chars()
                    .any(|ch| ch.is_control() && ch != '\n' && ch != '\t')
            {
                return Err(VideosError::Invalid(format!(
                    "description: must be at most {MAX_DESCRIPTION_CHARS} characters without control characters"
                )));
            }
            d
        }
        None => v.description.clone(),
    };
    let tags = match c.tags {
        Some(tags) => {
            if tags.len() > MAX_TAGS {
                return Err(VideosError::Invalid(format!(
                    "tags: at most {MAX_TAGS} tags ({} given)",
                    tags.len()
                )));
            }
            let mut out: Vec<String> = Vec::with_capacity(tags.len());
            for t in tags {
                let t = t.trim().to_string();
                let n = t.chars().count();
                if n == 0 || n > MAX_TAG_CHARS || t.chars().any(char::is_control) {
                    return Err(VideosError::Invalid(format!(
                        "tags: each tag must be 1 to {MAX_TAG_CHARS} characters without control characters"
                    )));
                }
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            out
        }
        None => v.tags.clone(),
    };
    let visibility = match c.visibility {
        Some(vis) if VISIBILITIES.contains(&vis.as_str()) => vis,
        Some(_) => {
            return Err(VideosError::Invalid(
                "visibility: must be public, unlisted or private".into(),
            ))
        }
        None => v.visibility.clone(),
    };
    Ok((title, description, tags, visibility))
}

/// Progress of a video being processed, from its latest unfinished job; `None` when no job is
/// queued or running.
pub fn progress_of(jobs: &[JobRecord]) -> Option<Progress> {
    let job = jobs
        .iter()
        .filter(|j| j.state == "queued" || j.state == "running")
        .max_by_key(|j| j.id)?;
    Some(Progress {
        stage: job.stage.clone().unwrap_or_else(|| {
            if job.state == "queued" {
                "queued"
            } else {
                "starting"
            }
            .into()
        }),
        percent: (job.progress.clamp(0, 1000) / 10),
    })
}

/// Seconds between two frames of a video's preview strip: one frame per hundredth of the
/// duration, at least a second apart (rounded up).
pub fn strip_interval_secs(duration_ms: Option<i64>) -> i64 {
    let ms = duration_ms.unwrap_or(0).max(0);
    // ceil(ms / 100 / 1000)
    ((ms + 99_999) / 100_000).max(1)
}

/// Height of a preview strip frame for a `width`×`height` video: [`STRIP_FRAME_WIDTH`] wide,
/// the aspect kept, rounded to an even number (as ffmpeg's `scale=160:-2`).
pub fn strip_frame_height(width: Option<i64>, height: Option<i64>) -> i64 {
    match (width, height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => {
            let exact = STRIP_FRAME_WIDTH * h;
            // Nearest multiple of two of exact / w.
            let halves = (exact + w) / (2 * w);
            (halves * 2).max(2)
        }
        _ => 90,
    }
}

/// The videos service.
#[derive(Clone)]
pub struct Videos {
    db: Db,
    storage: Storage,
    clock: SharedClock,
    signer: UrlSigner,
    staging: PathBuf,
}

impl Videos {
    /// The service over `db` and `storage`; `staging` is the directory of unfinished uploads'
    /// bytes (`<data_dir>/uploads`), removed with a video deleted mid-upload.
    pub fn new(
        db: Db,
        storage: Storage,
        clock: SharedClock,
        signer: UrlSigner,
        staging: PathBuf,
    ) -> Self {
        Self {
            db,
            storage,
            clock,
            signer,
            staging,
        }
    }

    /// The URL signer.
    pub fn signer(&self) -> &UrlSigner {
        &self.signer
    }

    /// The object store.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// A page (from 1) of the owner's videos with each one's progress, how many they have,
    /// and their storage usage.
    pub async fn list(
        &self,
        user_id: i64,
        page: i64,
        limit: i64,
    ) -> Result<(Vec<(VideoRecord, Option<Progress>)>, i64, Usage), VideosError> {
        let limit = limit.clamp(1, MAX_PAGE_LIMIT);
        let page = page.max(1);
        let offset = (page - 1).saturating_mul(limit);
        let (rows, total) = self.db.list_videos(user_id, limit, offset).await?;
        let mut out = Vec::with_capacity(rows.len());
        for v in rows {
            let p = self.progress(&v).await?;
            out.push((v, p));
        }
        Ok((out, total, self.usage(user_id).await?))
    }

    /// Progress of `v` when it is being processed.
    pub async fn progress(&self, v: &VideoRecord) -> Result<Option<Progress>, VideosError> {
        if v.status != "processing" && v.status != "recording" {
            return Ok(None);
        }
        Ok(progress_of(&self.db.jobs_for_video(v.id).await?))
    }

    /// What the user's videos take and what the plan allows.
    pub async fn usage(&self, user_id: i64) -> Result<Usage, VideosError> {
        let used_bytes = self.db.storage_used_by_user(user_id).await?;
        let (plan, _) = self.db.user_plan(user_id).await?;
        Ok(Usage {
            used_bytes,
            quota_bytes: plan.spec.max_storage_bytes(),
        })
    }

    /// The video `uuid` if `viewer` may see it ([`may_see`]); [`VideosError::NotFound`]
    /// otherwise, as if it did not exist.
    pub async fn visible(
        &self,
        uuid: &str,
        viewer: Option<i64>,
    ) -> Result<VideoRecord, VideosError> {
        if !is_video_id(uuid) {
            return Err(VideosError::NotFound);
        }
        match self.db.video_by_uuid(uuid).await? {
            Some(v) if v.disabled_at.is_some() && viewer != Some(v.user_id) => {
                if may_see(&v, None) {
                    Err(VideosError::Disabled)
                } else {
                    Err(VideosError::NotFound)
                }
            }
            Some(v) if may_see(&v, viewer) => Ok(v),
            _ => Err(VideosError::NotFound),
        }
    }

    /// The video `uuid` if `owner` owns it.
    pub async fn owned(&self, uuid: &str, owner: i64) -> Result<VideoRecord, VideosError> {
        if !is_video_id(uuid) {
            return Err(VideosError::NotFound);
        }
        match self.db.video_by_uuid(uuid).await? {
            Some(v) if v.user_id == owner => Ok(v),
            _ => Err(VideosError::NotFound),
        }
    }

    /// Applies the owner's changes; the video as stored now.
    pub async fn update(
        &self,
        uuid: &str,
        owner: i64,
        changes: Changes,
    ) -> Result<VideoRecord, VideosError> {
        let v = self.owned(uuid, owner).await?;
        let (title, description, tags, visibility) = apply_changes(&v, changes)?;
        self.db
            .update_video_metadata(
                v.id,
                &title,
                &description,
                &tags,
                &visibility,
                self.clock.now_ms(),
            )
            .await?;
        self.db
            .video_by_id(v.id)
            .await?
            .ok_or(VideosError::NotFound)
    }

    /// Deletes the owner's video: its row (its jobs and upload go with it), every stored
    /// object, and the bytes of an unfinished upload. The row goes first, so that nothing
    /// serves or processes the video while its objects are removed; a store failure then
    /// leaves objects that no row counts, which is logged.
    pub async fn delete(&self, uuid: &str, owner: i64) -> Result<(), VideosError> {
        let v = self.owned(uuid, owner).await?;
        self.remove(&v).await
    }

    /// Deletes a video whoever owns it (retention, an expired upload).
    pub async fn remove(&self, v: &VideoRecord) -> Result<(), VideosError> {
        self.db.delete_video(v.id).await?;
        let staged = self.staging.join(&v.uuid);
        match tokio::fs::remove_file(&staged).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %staged.display(), error = %e, "cannot remove a deleted video's staged upload")
            }
        }
        match self
            .storage
            .delete_prefix(&format!("videos/{}", v.uuid))
            .await
        {
            Ok((objects, bytes)) => {
                tracing::info!(video = %v.uuid, objects, bytes, "video deleted");
                Ok(())
            }
            Err(e) => {
                tracing::error!(video = %v.uuid, error = %e, "a deleted video's objects could not all be removed");
                Err(e.into())
            }
        }
    }

    /// Up to [`MAX_PAST_BROADCASTS`] public ready recordings of the source with this playback
    /// id, newest first; `None` if no source has it.
    pub async fn past_broadcasts(
        &self,
        playback_id: &str,
    ) -> Result<Option<Vec<VideoRecord>>, VideosError> {
        let Some(source) = self.db.source_by_playback_id(playback_id).await? else {
            return Ok(None);
        };
        Ok(Some(
            self.db
                .public_recordings_of_source(source.id, MAX_PAST_BROADCASTS)
                .await?,
        ))
    }

    /// Current time in Unix seconds (for signing).
    pub fn now_secs(&self) -> i64 {
        self.clock.now_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_expire_and_bind_the_video() {
        let s = UrlSigner::derive(&[7; 32]);
        let q = s.query("abcdefghijklmnop", 1_000_000);
        let (exp, sig) = q
            .strip_prefix("exp=")
            .and_then(|r| r.split_once("&sig="))
            .expect("query");
        let exp: i64 = exp.parse().expect("exp");
        assert!((1_000_000 + SIGNED_URL_SECS..=1_000_000 + SIGNED_URL_SECS + 3600).contains(&exp));
        assert!(s.verify("abcdefghijklmnop", exp, sig, 1_000_000));
        assert!(!s.verify("abcdefghijklmnoq", exp, sig, 1_000_000));
        assert!(!s.verify("abcdefghijklmnop", exp + 1, sig, 1_000_000));
        assert!(!s.verify("abcdefghijklmnop", exp, sig, exp + 1));
        assert!(!s.verify("abcdefghijklmnop", exp, "zz", 1_000_000));
        let other = UrlSigner::derive(&[8; 32]);
        assert!(!other.verify("abcdefghijklmnop", exp, sig, 1_000_000));
    }

    #[test]
    fn strip_geometry() {
        assert_eq!(strip_interval_secs(Some(5_000)), 1);
        assert_eq!(strip_interval_secs(Some(100_000)), 1);
        assert_eq!(strip_interval_secs(Some(100_001)), 2);
        assert_eq!(strip_interval_secs(Some(3_600_000)), 36);
        assert_eq!(strip_frame_height(Some(1280), Some(720)), 90);
        assert_eq!(strip_frame_height(Some(640), Some(480)), 120);
        assert_eq!(strip_frame_height(Some(1080), Some(1920)), 284);
    }

    #[test]
    fn ids() {
        assert!(is_video_id(&new_video_id()));
        assert!(!is_video_id("ABCDEFGHIJKLMNOP"));
        assert!(!is_video_id(""));
        assert!(!is_video_id("../../etc/passwd"));
    }
}
