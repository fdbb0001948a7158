//! Videos: what a creator keeps — live sessions' recordings, uploads and shorts. The bytes live
//! in object storage; a row says what the video is, where it stands, and how many bytes its
//! objects take (`size_bytes`, summed for the plan's storage quota).

use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;

/// A stored video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoRecord {
    /// Integer id.
    pub id: i64,
    /// Public id: 16 characters of lower-case base32.
    pub uuid: String,
    /// Owner.
    pub user_id: i64,
    /// The source a recording came from (`None` for uploads, or once the source is deleted).
    pub source_id: Option<i64>,
    /// `recording`, `upload` or `short`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// `public`, `unlisted` or `private`.
    pub visibility: String,
    /// `recording`, `uploading`, `processing`, `ready` or `failed`.
    pub status: String,
    /// Why it failed, in a sentence for its owner.
    pub failure: Option<String>,
    /// Duration (ms), once probed.
    pub duration_ms: Option<i64>,
    /// Width in pixels, once probed.
    pub width: Option<i64>,
    /// Height in pixels, once probed.
    pub height: Option<i64>,
    /// Video codec (`h264`), once probed.
    pub video_codec: Option<String>,
    /// Audio codec (`aac`), once probed.
    pub audio_codec: Option<String>,
    /// Bytes of all its stored objects.
    pub size_bytes: i64,
    /// Whether its HLS rendition is stored.
    pub has_hls: bool,
    /// Whether its MP4 download is stored.
    pub has_mp4: bool,
    /// Whether its thumbnail is stored.
    pub has_thumbnail: bool,
    /// Frames in its preview strip (0: none).
    pub strip_frames: i64,
    /// Parts of a recording (a republish continues as a new part).
    pub recording_parts: i64,
    /// The publishing session (the hub's generation) that last wrote the recording.
    pub recording_generation: Option<i64>,
    /// When the live session last ended (ms); `None` while live.
    pub live_ended_at: Option<i64>,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// When retention removes it (ms); `None` keeps it.
    pub expires_at: Option<i64>,
    /// Who may watch it: `public`, `members` or `ppv` (see [`crate::memberships`]).
    pub access: String,
    /// The lowest membership tier that may watch it (`members`); `None`: any member.
    pub access_tier_id: Option<i64>,
    /// The one-time price (`ppv`), minor units.
    pub ppv_price_minor: Option<i64>,
    /// The currency of the price (`ppv`).
    pub ppv_currency: Option<String>,
    /// When a copyright notice disabled it (ms); `None` while it may be played.
    pub disabled_at: Option<i64>,
    /// Why it is disabled (`dmca:<notice id>`).
    pub disabled_reason: Option<String>,
}

pub(crate) const COLUMNS: &str = "id, uuid, user_id, source_id, kind, title, description, tags, visibility, status, \
    failure, duration_ms, width, height, video_codec, audio_codec, size_bytes, has_hls, has_mp4, has_thumbnail, \
    strip_frames, recording_parts, recording_generation, live_ended_at, created_at, updated_at, expires_at, \
    access, access_tier_id, ppv_price_minor, ppv_currency, disabled_at, disabled_reason";

macro_rules! video_from_row {
    ($r:expr) => {{
        let tags: String = $r.try_get("tags")?;
        VideoRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            user_id: $r.try_get("user_id")?,
            source_id: $r.try_get("source_id")?,
            kind: $r.try_get("kind")?,
            title: $r.try_get("title")?,
            description: $r.try_get("description")?,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            visibility: $r.try_get("visibility")?,
            status: $r.try_get("status")?,
            failure: $r.try_get("failure")?,
            duration_ms: $r.try_get("duration_ms")?,
            width: $r.try_get("width")?,
            height: $r.try_get("height")?,
            video_codec: $r.try_get("video_codec")?,
            audio_codec: $r.try_get("audio_codec")?,
            size_bytes: $r.try_get("size_bytes")?,
            has_hls: $r.try_get("has_hls")?,
            has_mp4: $r.try_get("has_mp4")?,
            has_thumbnail: $r.try_get("has_thumbnail")?,
            strip_frames: $r.try_get("strip_frames")?,
            recording_parts: $r.try_get("recording_parts")?,
            recording_generation: $r.try_get("recording_generation")?,
            live_ended_at: $r.try_get("live_ended_at")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
            expires_at: $r.try_get("expires_at")?,
            access: $r.try_get("access")?,
            access_tier_id: $r.try_get("access_tier_id")?,
            ppv_price_minor: $r.try_get("ppv_price_minor")?,
            ppv_currency: $r.try_get("ppv_currency")?,
            disabled_at: $r.try_get("disabled_at")?,
            disabled_reason: $r.try_get("disabled_reason")?,
        }
    }};
}
pub(crate) use video_from_row;

/// A video to insert.
#[derive(Debug, Clone)]
pub struct NewVideo<'a> {
    /// Public id (16 characters of lower-case base32).
    pub uuid: &'a str,
    /// Owner.
    pub user_id: i64,
    /// The source of a recording.
    pub source_id: Option<i64>,
    /// `recording`, `upload` or `short`.
    pub kind: &'a str,
    /// Title.
    pub title: &'a str,
    /// Description.
    pub description: &'a str,
    /// Tags.
    pub tags: &'a [String],
    /// `public`, `unlisted` or `private`.
    pub visibility: &'a str,
    /// `recording`, `uploading`, `processing`, `ready` or `failed`.
    pub status: &'a str,
    /// When retention removes it; `None` keeps it.
    pub expires_at: Option<i64>,
}

/// What probing and processing learnt of a video.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VideoMedia {
    /// Duration (ms).
    pub duration_ms: Option<i64>,
    /// Width in pixels.
    pub width: Option<i64>,
    /// Height in pixels.
    pub height: Option<i64>,
    /// Video codec.
    pub video_codec: Option<String>,
    /// Audio codec.
    pub audio_codec: Option<String>,
    /// Whether its HLS rendition is stored.
    pub has_hls: bool,
    /// Whether its MP4 download is stored.
    pub has_mp4: bool,
    /// Whether its thumbnail is stored.
    pub has_thumbnail: bool,
    /// Frames in its preview strip.
    pub strip_frames: i64,
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

impl Db {
    /// Inserts a video; a duplicate `uuid` is [`DbError::Conflict`].
    pub async fn create_video(&self, v: &NewVideo<'_>, now: i64) -> Result<VideoRecord, DbError> {
        let sql = format!(
            "INSERT INTO videos (uuid, user_id, source_id, kind, title, description, tags, visibility, status, \
             expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
             RETURNING {COLUMNS}"
        );
        on_pool!(self, p => {
            let r = sqlx::query(&sql)
                .bind(v.uuid).bind(v.user_id).bind(v.source_id).bind(v.kind).bind(v.title)
                .bind(v.description).bind(tags_json(v.tags)).bind(v.visibility).bind(v.status)
                .bind(v.expires_at).bind(now)
                .fetch_one(p).await.map_err(map_unique)?;
            Ok(video_from_row!(r))
        })
    }

    /// A video by id.
    pub async fn video_by_id(&self, id: i64) -> Result<Option<VideoRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM videos WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(video_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A video by its public id.
    pub async fn video_by_uuid(&self, uuid: &str) -> Result<Option<VideoRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM videos WHERE uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(video_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A page of a user's videos, newest first, and how many they have in all. `limit` is
    /// clamped to 1..=100.
    pub async fn list_videos(
        &self,
        user_id: i64,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<VideoRecord>, i64), DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM videos WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        let (limit, offset) = (limit.clamp(1, 100), offset.max(0));
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).bind(limit).bind(offset).fetch_all(p).await?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM videos WHERE user_id = $1")
                .bind(user_id).fetch_one(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(video_from_row!(r));
            }
            Ok((out, total))
        })
    }

    /// Replaces what the owner edits: title, description, tags, visibility. `false` if there is
    /// no such video.
    pub async fn update_video_metadata(
        &self,
        id: i64,
        title: &str,
        description: &str,
        tags: &[String],
        visibility: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE videos SET title = $2, description = $3, tags = $4, visibility = $5, updated_at = $6 WHERE id = $1",
        )
        .bind(id).bind(title).bind(description).bind(tags_json(tags)).bind(visibility).bind(now)
        .execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Sets where a video stands, and why it failed (`None` clears the reason).
    pub async fn set_video_status(
        &self,
        id: i64,
        status: &str,
        failure: Option<&str>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE videos SET status = $2, failure = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id).bind(status).bind(failure).bind(now)
        .execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Records what probing and processing learnt (replacing what was known).
    pub async fn set_video_media(
        &self,
        id: i64,
        m: &VideoMedia,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE videos SET duration_ms = $2, width = $3, height = $4, video_codec = $5, audio_codec = $6, \
             has_hls = $7, has_mp4 = $8, has_thumbnail = $9, strip_frames = $10, updated_at = $11 WHERE id = $1",
        )
        .bind(id).bind(m.duration_ms).bind(m.width).bind(m.height).bind(m.video_codec.as_deref())
        .bind(m.audio_codec.as_deref()).bind(m.has_hls).bind(m.has_mp4).bind(m.has_thumbnail)
        .bind(m.strip_frames).bind(now)
        .execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Sets what kind of video it is (`recording`, `upload` or `short`).
    pub async fn set_video_kind(&self, id: i64, kind: &str, now: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE videos SET kind = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(kind).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Sets when retention removes a video (`None` keeps it).
    pub async fn set_video_expiry(
        &self,
        id: i64,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE videos SET expires_at = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(expires_at).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Adds `delta` bytes (negative when objects are removed) to a video's size, never below
    /// zero, in one statement so that concurrent writers add up; the new size, `None` if there
    /// is no such video.
    pub async fn add_video_size(
        &self,
        id: i64,
        delta: i64,
        now: i64,
    ) -> Result<Option<i64>, DbError> {
        let size: Option<i64> = on_pool!(self, p => sqlx::query_scalar(
            "UPDATE videos SET size_bytes = CASE WHEN size_bytes + $2 < 0 THEN 0 ELSE size_bytes + $2 END, \
             updated_at = $3 WHERE id = $1 RETURNING size_bytes",
        )
        .bind(id).bind(delta).bind(now).fetch_optional(p).await?);
        Ok(size)
    }

    /// Deletes a video (its jobs and uploads go with it) and returns what it was, so the caller
    /// can delete its objects; `None` if there was none.
    pub async fn delete_video(&self, id: i64) -> Result<Option<VideoRecord>, DbError> {
        let sql = format!("DELETE FROM videos WHERE id = $1 RETURNING {COLUMNS}");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(video_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Up to `limit` public, ready recordings of a source (its past broadcasts), newest first.
    pub async fn public_recordings_of_source(
        &self,
        source_id: i64,
        limit: i64,
    ) -> Result<Vec<VideoRecord>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM videos WHERE source_id = $1 AND kind = 'recording' \
             AND status = 'ready' AND visibility = 'public' AND disabled_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(source_id).bind(limit.max(0)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(video_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Up to `limit` (at most 100) public, ready videos of a user of one `kind` (`recording`,
    /// `upload` or `short`), newest first: what their channel shows.
    pub async fn public_videos_of_user(
        &self,
        user_id: i64,
        kind: &str,
        limit: i64,
    ) -> Result<Vec<VideoRecord>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM videos WHERE user_id = $1 AND kind = $2 \
             AND status = 'ready' AND visibility = 'public' AND disabled_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).bind(kind).bind(limit.clamp(0, 100)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(video_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Bytes the user's videos take in storage (what the plan's quota counts).
    pub async fn storage_used_by_user(&self, user_id: i64) -> Result<i64, DbError> {
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back so both backends decode an i64.
        let n: i64 = on_pool!(self, p => sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM videos WHERE user_id = $1",
        )
        .bind(user_id).fetch_one(p).await?);
        Ok(n)
    }

    /// Up to `limit` videos whose retention ran out at `now`, oldest expiry first.
    pub async fn expired_videos(&self, now: i64, limit: i64) -> Result<Vec<VideoRecord>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM videos WHERE expires_at IS NOT NULL AND expires_at <= $1 \
             ORDER BY expires_at, id LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(now).bind(limit.max(0)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(video_from_row!(r));
            }
            Ok(out)
        })
    }

    /// The recording a republish of `source_id` continues: the source's newest recording that
    /// is still live or whose live session ended at or after `since` (ms). The caller checks its
    /// status (a recording already packaged or failed is not continued).
    pub async fn open_recording_for_source(
        &self,
        source_id: i64,
        since: i64,
    ) -> Result<Option<VideoRecord>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM videos WHERE source_id = $1 AND kind = 'recording' \
             AND (live_ended_at IS NULL OR live_ended_at >= $2) ORDER BY id DESC LIMIT 1"
        );
        on_pool!(self, p => match sqlx::query(&sql).bind(source_id).bind(since).fetch_optional(p).await? {
            Some(r) => Ok(Some(video_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Starts a new part of a recording for the publishing session `generation`: the part count
    /// goes up by one, the recording is live again (`status = 'recording'`, no end time) and
    /// belongs to that session. Returns the new part count (the first part is 1); `None` if the
    /// video is not a recording.
    pub async fn bump_recording_part(
        &self,
        id: i64,
        generation: i64,
        now: i64,
    ) -> Result<Option<i64>, DbError> {
        let parts: Option<i64> = on_pool!(self, p => sqlx::query_scalar(
            "UPDATE videos SET recording_parts = recording_parts + 1, recording_generation = $2, \
             live_ended_at = NULL, status = 'recording', failure = NULL, updated_at = $3 \
             WHERE id = $1 AND kind = 'recording' RETURNING recording_parts",
        )
        .bind(id).bind(generation).bind(now).fetch_optional(p).await?);
        Ok(parts)
    }

    /// Marks the live session of a recording ended at `now` — only if `generation` is still the
    /// session writing it, so a session that ends after a newer one took the recording over
    /// does not end the newer one. `false` otherwise.
    pub async fn end_recording_part(
        &self,
        id: i64,
        generation: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE videos SET live_ended_at = $3, updated_at = $3 \
             WHERE id = $1 AND recording_generation = $2 AND live_ended_at IS NULL",
        )
        .bind(id).bind(generation).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Recordings left `recording` by a node that died: not written since `updated_before`
    /// (ms), their source not live on any node (no open publishing session whose heartbeat is
    /// at or after `live_since`), and no `finish_recording` job waiting or running for them.
    /// Up to `limit`, oldest first.
    pub async fn stale_recordings(
        &self,
        updated_before: i64,
        live_since: i64,
        limit: i64,
    ) -> Result<Vec<VideoRecord>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM videos v WHERE kind = 'recording' AND status = 'recording' \
             AND updated_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM stream_sessions s WHERE s.source_id = v.source_id \
                 AND s.ended_at IS NULL AND s.last_seen_at >= $2) \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.video_id = v.id \
                 AND j.kind = 'finish_recording' AND j.state IN ('queued', 'running')) \
             ORDER BY updated_at, id LIMIT $3"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(updated_before).bind(live_since).bind(limit.max(0))
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(video_from_row!(r));
            }
            Ok(out)
        })
    }
}
