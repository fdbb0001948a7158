//! The media work of video jobs, done by real `ffprobe` and `ffmpeg` child processes: packaging
//! a finished recording (`finish_recording`) and probing, packaging and transcoding an upload
//! (`process_upload`).
//!
//! Every file is hostile until probed: ffprobe's JSON is parsed with serde and bounded (at most
//! [`MAX_STREAMS`] streams, [`MAX_DURATION_MS`], dimensions within
//! [`MIN_DIMENSION`]..=[`MAX_DIMENSION`], a video or audio stream, not an image or text
//! container); a file that fails is refused with a sentence for its owner and not retried.
//! Every child runs with `-nostdin`, two threads, a time limit proportional to the duration
//! (3× plus a minute, at most six hours), its stderr bounded to its last few kilobytes, and is
//! killed when its job is dropped (the lease was lost, the node stops). Progress comes from
//! `-progress pipe:1` and goes to the job row and, as `video-progress`, to the owner.
//!
//! Work files live under `DATA_DIR/work/<job id>/` and are removed when the job ends, however
//! it ends.

use crate::service::clock::SharedClock;
use crate::service::events::{Fanout, RealtimeEvent, VideoProgress};
use ferrocast_db::jobs::JobRecord;
use ferrocast_db::videos::{VideoMedia, VideoRecord};
use ferrocast_db::Db;
use ferrocast_domain::media::Rung;
use ferrocast_storage::Storage;
use serde::Deserialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// The job that packages a recording once its live session ended for good.
pub const FINISH_RECORDING: &str = "finish_recording";
/// The job that probes and packages an uploaded file.
pub const PROCESS_UPLOAD: &str = "process_upload";

/// The object key prefix of part `part` of the video `uuid`'s recording.
pub fn part_prefix(uuid: &str, part: i64) -> String {
    format!("videos/{uuid}/rec/p{part}/")
}

/// Streams a file may have at most.
pub const MAX_STREAMS: usize = 20;
/// The longest video processed: 12 hours.
pub const MAX_DURATION_MS: i64 = 12 * 3_600_000;
/// The smallest width or height of a video.
pub const MIN_DIMENSION: i64 = 16;
/// The largest width or height of a video (8K UHD).
pub const MAX_DIMENSION: i64 = 7680;
/// The longest a vertical video may be to count as a short.
pub const SHORT_MAX_MS: i64 = 60_000;
/// Width of a frame of the preview strip.
pub const STRIP_FRAME_WIDTH: u32 = 160;
/// Columns of the preview strip.
pub const STRIP_COLUMNS: u32 = 10;
/// Frames of the preview strip at most.
pub const STRIP_MAX_FRAMES: u32 = 100;
/// The widest thumbnail.
pub const THUMB_MAX_WIDTH: u32 = 1280;
/// A part's playlist larger than this is refused.
const MAX_PLAYLIST_BYTES: u64 = 8 * 1024 * 1024;
/// ffprobe's JSON larger than this is refused.
const MAX_PROBE_BYTES: u64 = 1024 * 1024;
/// Bytes of a child's stderr kept (its end) for the failure message and the log.
const STDERR_KEEP: usize = 4096;
/// ffprobe may run this long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest any one ffmpeg run may take.
const FFMPEG_TIME_CAP: Duration = Duration::from_secs(6 * 3600);
/// Container formats (as ffprobe names them) that are pictures or text, never video.
const REFUSED_FORMATS: &[&str] = &[
    "image2",
    "png_pipe",
    "jpeg_pipe",
    "gif",
    "webp_pipe",
    "bmp_pipe",
    "tiff_pipe",
    "svg_pipe",
    "tty",
    "srt",
    "webvtt",
    "ass",
    "lrc",
    "subviewer",
    "microdvd",
    "mpl2",
    "apng",
];

/// Why a job failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// For the video's owner (`failure`) and the job row.
    pub message: String,
    /// `false` for a refused file: trying again gives the same answer.
    pub retryable: bool,
}

impl JobError {
    fn refused(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
    fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }
}

impl From<ferrocast_db::DbError> for JobError {
    fn from(e: ferrocast_db::DbError) -> Self {
        JobError::transient(format!("database: {e}"))
    }
}

impl From<ferrocast_storage::StorageError> for JobError {
    fn from(e: ferrocast_storage::StorageError) -> Self {
        JobError::transient(format!("storage: {e}"))
    }
}

fn io_error(what: &str, e: std::io::Error) -> JobError {
    JobError::transient(format!("{what}: {e}"))
}

/// What a probe found, within bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Duration (ms).
    pub duration_ms: i64,
    /// Display width of the first video stream (rotation applied).
    pub width: Option<i64>,
    /// Display height of the first video stream (rotation applied).
    pub height: Option<i64>,
    /// The first video stream's codec.
    pub video_codec: Option<String>,
    /// The first audio stream's codec.
    pub audio_codec: Option<String>,
    /// The container's `title` tag, if any (at most 200 characters).
    pub title: Option<String>,
    /// The container's `artist` tag, if any (at most 200 characters).
    pub artist: Option<String>,
}

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
    disposition: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ProbeFormat {
    format_name: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    tags: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A container tag by name (any case), trimmed, without control characters, at most 200
/// characters; `None` if absent or empty.
fn tag(tags: &std::collections::BTreeMap<String, serde_json::Value>, name: &str) -> Option<String> {
    let value = tags
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())?;
    let clean: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_string())
}

/// Checks ffprobe's JSON against the bounds; the refusal says what is wrong with the file.
pub fn validate_probe(json: &[u8]) -> Result<Probe, String> {
    let p: ProbeJson = serde_json::from_slice(json)
        .map_err(|_| "The file could not be read as a video or audio file.".to_string())?;
    if p.streams.len() > MAX_STREAMS {
        return Err(format!(
            "The file has {} streams; at most {MAX_STREAMS} are accepted.",
            p.streams.len()
        ));
    }
    let format = p
        .format
        .ok_or("The file's container could not be recognised.")?;
    let name = format.format_name.unwrap_or_default();
    if name
        .split(',')
        .any(|f| REFUSED_FORMATS.contains(&f) || f.ends_with("_pipe"))
    {
        return Err(format!(
            "The file is a picture or text ({name}), not a video: upload a video or audio file."
        ));
    }
    // Cover art is a video stream of one picture: not the video.
    let is_picture = |s: &ProbeStream| {
        s.disposition
            .as_ref()
            .and_then(|d| d.get("attached_pic"))
            .and_then(|v| v.as_i64())
            == Some(1)
    };
    let video = p
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && !is_picture(s));
    let audio = p
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"));
    if video.is_none() && audio.is_none() {
        return Err("The file has no video or audio stream.".into());
    }
    let title = tag(&format.tags, "title");
    let artist = tag(&format.tags, "artist");
    let duration_ms = format
        .duration
        .as_deref()
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(|d| (d * 1000.0).round() as i64)
        .ok_or("The file's duration cannot be read; it may be damaged or incomplete.")?;
    if duration_ms > MAX_DURATION_MS {
        return Err(format!(
            "The file lasts {} hours; at most 12 hours are accepted.",
            duration_ms / 3_600_000
        ));
    }
    let (mut width, mut height) = (None, None);
    if let Some(v) = video {
        let (w, h) = match (v.width, v.height) {
            (Some(w), Some(h)) => (w, h),
            _ => return Err("The video's picture size cannot be read.".into()),
        };
        if !(MIN_DIMENSION..=MAX_DIMENSION).contains(&w)
            || !(MIN_DIMENSION..=MAX_DIMENSION).contains(&h)
        {
            return Err(format!(
                "The video is {w}×{h}; width and height must be from {MIN_DIMENSION} to {MAX_DIMENSION} pixels."
            ));
        }
        let rotated = v.side_data_list.iter().any(|d| {
            d.get("rotation")
                .and_then(|r| r.as_f64())
                .is_some_and(|r| (r.abs() - 90.0).abs() < 1.0 || (r.abs() - 270.0).abs() < 1.0)
        });
        (width, height) = if rotated {
            (Some(h), Some(w))
        } else {
            (Some(w), Some(h))
        };
    }
    Ok(Probe {
        duration_ms,
        width,
        height,
        video_codec: video.and_then(|s| s.codec_name.clone()),
        audio_codec: audio.and_then(|s| s.codec_name.clone()),
        title,
        artist,
    })
}

/// The seconds between frames of a video's preview strip: `max(1, ceil(duration / 100))`.
pub fn strip_interval_secs(duration_ms: i64) -> i64 {
    ((duration_ms.max(0) + 99_999) / 100_000).max(1)
}

/// The frames of a video's preview strip (one every [`strip_interval_secs`], at most 100).
pub fn strip_frames(duration_ms: i64) -> i64 {
    let interval_ms = strip_interval_secs(duration_ms) * 1000;
    (duration_ms / interval_ms).clamp(1, STRIP_MAX_FRAMES as i64)
}

/// One segment of a recording's part, as its playlist lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartSegment {
    /// Its name within the part (`s000000.ts`).
    pub name: String,
    /// Seconds.
    pub duration: f64,
    /// The recorder lost segments before this one.
    pub discontinuity: bool,
}

/// The segments a part's playlist lists (with or without `EXT-X-ENDLIST`: a part cut short by
/// a crash is taken as it is). Only the recorder's own names (`sNNNNNN.ts`) are accepted.
pub fn parse_part_playlist(text: &str) -> Vec<PartSegment> {
    let mut out = Vec::new();
    let mut duration = None;
    let mut discontinuity = false;
    for line in text.lines().map(str::trim) {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = d
                .split(',')
                .next()
                .and_then(|d| d.trim().parse::<f64>().ok())
                .filter(|d| d.is_finite() && *d >= 0.0 && *d < 3600.0);
        } else if line == "#EXT-X-DISCONTINUITY" {
            discontinuity = true;
        } else if !line.is_empty() && !line.starts_with('#') {
            let ours = line.len() == 10
                && line.starts_with('s')
                && line.ends_with(".ts")
                && line[1..7].bytes().all(|b| b.is_ascii_digit());
            if let (true, Some(d)) = (ours, duration.take()) {
                out.push(PartSegment {
                    name: line.to_string(),
                    duration: d,
                    discontinuity,
                });
            }
            discontinuity = false;
        }
    }
    out
}

/// The VOD playlist of a recording: every part's segments by relative URI
/// (`../rec/pN/sNNNNNN.ts`, or a rendition's `../rec/pN/<rung>/sNNNNNN.ts`),
/// `EXT-X-DISCONTINUITY` between parts and at the recorder's gaps.
pub fn recording_playlist(parts: &[(i64, Vec<PartSegment>)], rung: Option<Rung>) -> String {
    let dir = rung.map(|r| format!("{}/", r.name())).unwrap_or_default();
    let target = parts
        .iter()
        .flat_map(|(_, s)| s.iter())
        .map(|s| s.duration.ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n"
    );
    let mut first = true;
    for (part, segments) in parts {
        for (i, s) in segments.iter().enumerate() {
            if !first && (i == 0 || s.discontinuity) {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            first = false;
            out.push_str(&format!(
                "#EXTINF:{:.3},\n../rec/p{part}/{dir}{}\n",
                s.duration, s.name
            ));
        }
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// A recording's parts by number, each with the segments its playlist lists.
pub type RecordedParts = Vec<(i64, Vec<PartSegment>)>;

/// One entry of a recording's multivariant playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VodVariant {
    /// Its media playlist beside the multivariant one (`source.m3u8`, `480p.m3u8`).
    pub uri: String,
    /// Peak bit rate (bit/s).
    pub bandwidth: u64,
    /// Picture size, when known.
    pub resolution: Option<(i64, i64)>,
}

/// The multivariant playlist of a recording with renditions (RFC 8216 §4.3.4.2), highest
/// first.
pub fn recording_multivariant(variants: &[VodVariant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        out.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={}",
            v.bandwidth.max(1)
        ));
        if let Some((w, h)) = v.resolution {
            out.push_str(&format!(",RESOLUTION={w}x{h}"));
        }
        out.push_str(&format!("\n{}\n", v.uri));
    }
    out
}

/// A rendition is offered in a recording's VOD only if it covers at least this share of the
/// source's duration in every part (its transcoder may have started late or given up).
pub const RENDITION_MIN_COVERAGE: f64 = 0.9;

/// The work directory of one job, removed when dropped.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The video media work of a node. Cheap to share.
pub struct Media {
    db: Db,
    storage: Storage,
    fanout: Arc<dyn Fanout>,
    clock: SharedClock,
    data_dir: PathBuf,
    finish_delay_ms: i64,
}

/// Reports a job's progress to its row and its owner, at most every half second per stage.
struct Progress<'a> {
    media: &'a Media,
    job_id: i64,
    node: &'a str,
    user_id: i64,
    video_uuid: String,
    last: std::sync::Mutex<(Option<Instant>, &'static str)>,
}

impl Progress<'_> {
    async fn set(&self, stage: &'static str, permille: i64) {
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.1 != stage
                || last
                    .0
                    .is_none_or(|t| t.elapsed() >= Duration::from_millis(500));
            if !due {
                return;
            }
            *last = (Some(Instant::now()), stage);
        }
        let permille = permille.clamp(0, 1000);
        let _ = self
            .media
            .db
            .job_progress(
                self.job_id,
                self.node,
                permille,
                Some(stage),
                self.media.clock.now_ms(),
            )
            .await;
        self.media.push(
            self.user_id,
            &self.video_uuid,
            "processing",
            Some(stage),
            permille,
        );
    }
}

impl Media {
    /// Media work reading and writing `storage`, with work files under `data_dir/work`.
    pub fn new(
        db: Db,
        storage: Storage,
        fanout: Arc<dyn Fanout>,
        clock: SharedClock,
        data_dir: &Path,
        finish_delay_ms: u64,
    ) -> Self {
        // Absolute, so that every child's arguments name the work files by a path that
        // `reap_orphans` recognises after a crash.
        let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let reaped = reap_orphans(&data_dir.join("work"));
        if reaped > 0 {
            tracing::warn!(
                processes = reaped,
                "killed media processes left running on the work files by this node's previous run"
            );
        }
        Self {
            db,
            storage,
            fanout,
            clock,
            data_dir,
            finish_delay_ms: finish_delay_ms.min(i64::MAX as u64) as i64,
        }
    }

    fn push(&self, user_id: i64, uuid: &str, status: &str, stage: Option<&str>, permille: i64) {
        self.fanout.publish(RealtimeEvent::VideoProgress {
            user_id,
            progress: VideoProgress {
                video_id: uuid.to_string(),
                status: status.to_string(),
                stage: stage.map(str::to_string),
                percent: (permille.clamp(0, 1000) / 10) as u8,
            },
        });
    }

    /// Runs one claimed job to its end.
    pub async fn run(&self, job: &JobRecord, node: &str) -> Result<(), JobError> {
        let Some(video_id) = job.video_id else {
            return Err(JobError::refused("The job names no video."));
        };
        let Some(video) = self.db.video_by_id(video_id).await? else {
            // Deleted meanwhile: nothing to do.
            return Ok(());
        };
        let work = WorkDir(self.data_dir.join("work").join(job.id.to_string()));
        let _ = std::fs::remove_dir_all(&work.0);
        std::fs::create_dir_all(&work.0).map_err(|e| io_error("creating the work directory", e))?;
        let progress = Progress {
            media: self,
            job_id: job.id,
            node,
            user_id: video.user_id,
            video_uuid: video.uuid.clone(),
            last: std::sync::Mutex::new((None, "")),
        };
        match job.kind.as_str() {
            FINISH_RECORDING => self.finish_recording(job, video, &work.0, &progress).await,
            PROCESS_UPLOAD => self.process_upload(video, &work.0, &progress).await,
            other => Err(JobError::refused(format!("unknown job kind {other:?}"))),
        }
    }

    /// A job failed for good: its video is marked failed with `reason` (an upload's `source`
    /// is deleted: a refused file is not kept).
    pub async fn video_failed(&self, job: &JobRecord, reason: &str) {
        let Some(video_id) = job.video_id else { return };
        let Ok(Some(video)) = self.db.video_by_id(video_id).await else {
            return;
        };
        let now = self.clock.now_ms();
        if let Err(e) = self
            .db
            .set_video_status(video.id, "failed", Some(reason), now)
            .await
        {
            tracing::warn!(video = %video.uuid, error = %e, "cannot mark a video failed");
        }
        if job.kind == PROCESS_UPLOAD {
            let key = format!("videos/{}/source", video.uuid);
            if let Err(e) = self.storage.delete(&key).await {
                tracing::warn!(video = %video.uuid, error = %e, "cannot delete a refused upload");
            }
        }
        self.sync_size(&video).await;
        self.push(video.user_id, &video.uuid, "failed", None, 1000);
    }

    /// Deletes the videos whose retention ran out, objects first.
    pub async fn delete_expired(&self, now: i64) {
        let videos = match self.db.expired_videos(now, 100).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list expired videos");
                return;
            }
        };
        for v in videos {
            match self
                .storage
                .delete_prefix(&format!("videos/{}", v.uuid))
                .await
            {
                Ok((objects, bytes)) => {
                    if let Err(e) = self.db.delete_video(v.id).await {
                        tracing::warn!(video = %v.uuid, error = %e, "cannot delete an expired video");
                    } else {
                        tracing::info!(video = %v.uuid, objects, bytes, "expired video deleted");
                    }
                }
                Err(e) => {
                    tracing::warn!(video = %v.uuid, error = %e, "cannot delete an expired video's objects")
                }
            }
        }
    }

    /// Sets the video's size to what its objects take now.
    async fn sync_size(&self, video: &VideoRecord) {
        let prefix = format!("videos/{}", video.uuid);
        let Ok(used) = self.storage.usage(&prefix).await else {
            return;
        };
        let Ok(Some(now)) = self.db.video_by_id(video.id).await else {
            return;
        };
        let delta = (used.min(i64::MAX as u64) as i64) - now.size_bytes;
        if delta != 0 {
            let _ = self
                .db
                .add_video_size(video.id, delta, self.clock.now_ms())
                .await;
        }
    }

    async fn finish_recording(
        &self,
        job: &JobRecord,
        video: VideoRecord,
        work: &Path,
        progress: &Progress<'_>,
    ) -> Result<(), JobError> {
        let now = self.clock.now_ms();
        if video.status != "recording" {
            // Packaged already (a duplicate job), or deleted and replaced: nothing to do.
            return Ok(());
        }
        match video.live_ended_at {
            // Live again (a republish continued it), unless nothing was written for a long
            // time: the node recording it died.
            None if now - video.updated_at < self.finish_delay_ms.saturating_mul(2).max(1_000) => {
                return Ok(())
            }
            // Ended again after this job was queued: the later end queued its own job.
            Some(ended) if job.run_after < ended.saturating_add(self.finish_delay_ms) => {
                return Ok(())
            }
            _ => {}
        }
        self.db
            .set_video_status(video.id, "processing", None, now)
            .await?;
        progress.set("probing", 0).await;
        let mut parts = Vec::new();
        for part in 1..=video.recording_parts.clamp(0, 10_000) {
            let key = format!("{}index.m3u8", part_prefix(&video.uuid, part));
            match self.storage.get(&key, MAX_PLAYLIST_BYTES).await {
                Ok(bytes) => {
                    let segments = parse_part_playlist(&String::from_utf8_lossy(&bytes));
                    if !segments.is_empty() {
                        parts.push((part, segments));
                    }
                }
                // A part that stored no segment before its end (or its node's death).
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let total_ms: i64 = parts
            .iter()
            .flat_map(|(_, s)| s.iter())
            .map(|s| (s.duration * 1000.0) as i64)
            .sum();
        if parts.is_empty() {
            tracing::info!(video = %video.uuid, "recording holds no segment; deleted");
            self.storage
                .delete_prefix(&format!("videos/{}", video.uuid))
                .await?;
            self.db.delete_video(video.id).await?;
            return Ok(());
        }
        // The renditions recorded beside the source (adaptive bitrate), each over every part.
        let mut renditions = Vec::new();
        for rung in Rung::ALL {
            let mut rung_parts = Vec::new();
            for (part, source) in &parts {
                let key = format!(
                    "{}{}/index.m3u8",
                    part_prefix(&video.uuid, *part),
                    rung.name()
                );
                let segments = match self.storage.get(&key, MAX_PLAYLIST_BYTES).await {
                    Ok(bytes) => parse_part_playlist(&String::from_utf8_lossy(&bytes)),
                    Err(e) if e.is_not_found() => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
                let covered: f64 = segments.iter().map(|s| s.duration).sum();
                let whole: f64 = source.iter().map(|s| s.duration).sum();
                if covered < whole * RENDITION_MIN_COVERAGE {
                    rung_parts.clear();
                    break;
                }
                rung_parts.push((*part, segments));
            }
            if !rung_parts.is_empty() {
                renditions.push((rung, rung_parts));
            }
        }
        // Each part's segments joined into one MPEG-TS file (segments of one session are one
        // continuous stream), then the parts concatenated by ffmpeg, which restarts the
        // timestamps of each.
        let count: usize = parts.iter().map(|(_, s)| s.len()).sum();
        let mut done = 0usize;
        let mut list = String::new();
        // The source's peak bit rate over a segment, for the multivariant playlist.
        let mut peak_bps = 0u64;
        for (part, segments) in &parts {
            let joined = work.join(format!("p{part}.ts"));
            let mut out = tokio::fs::File::create(&joined)
                .await
                .map_err(|e| io_error("creating a work file", e))?;
            let piece = work.join("piece.ts");
            for s in segments {
                let key = format!("{}{}", part_prefix(&video.uuid, *part), s.name);
                match self.storage.download_to_file(&key, &piece).await {
                    Ok(bytes) => {
                        if s.duration > 0.5 {
                            peak_bps = peak_bps.max((bytes as f64 * 8.0 / s.duration) as u64);
                        }
                        let mut f = tokio::fs::File::open(&piece)
                            .await
                            .map_err(|e| io_error("reading a segment", e))?;
                        tokio::io::copy(&mut f, &mut out)
                            .await
                            .map_err(|e| io_error("joining segments", e))?;
                    }
                    // Listed but gone (deleted by hand): the rest still plays.
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
                done += 1;
                progress
                    .set("packaging", (done * 500 / count.max(1)) as i64)
                    .await;
            }
            tokio::io::AsyncWriteExt::flush(&mut out)
                .await
                .map_err(|e| io_error("joining segments", e))?;
            list.push_str(&format!("file 'p{part}.ts'\n"));
        }
        let list_path = work.join("parts.txt");
        tokio::fs::write(&list_path, list)
            .await
            .map_err(|e| io_error("writing a work file", e))?;
        let mp4 = work.join("video.mp4");
        let args: Vec<String> = vec![
            "-f".into(),
            "concat".into(),
            "-safe".into(),
            "0".into(),
            "-i".into(),
            path_arg(&list_path),
            "-map".into(),
            "0:v:0?".into(),
            "-map".into(),
            "0:a:0?".into(),
            "-c".into(),
            "copy".into(),
            "-bsf:a".into(),
            "aac_adtstoasc".into(),
            "-movflags".into(),
            "+faststart".into(),
            "-threads".into(),
            "2".into(),
            path_arg(&mp4),
        ];
        ffmpeg(&args, total_ms, Some((progress, "mp4", 500, 800))).await?;
        let probe = probe_file(&mp4, Duration::from_secs(60))
            .await?
            .map_err(|reason| {
                JobError::refused(format!("The recording could not be packaged: {reason}"))
            })?;
        self.recording_playlists(&video.uuid, &parts, &renditions, &probe, peak_bps, work)
            .await?;
        let (has_thumbnail, frames) = self
            .pictures(&mp4, &probe, work, &video.uuid, progress, 800)
            .await?;
        self.storage
            .put_file(&format!("videos/{}/video.mp4", video.uuid), &mp4)
            .await?;
        let (plan, _) = self.db.user_plan(video.user_id).await?;
        let now = self.clock.now_ms();
        let media = VideoMedia {
            duration_ms: Some(probe.duration_ms),
            width: probe.width,
            height: probe.height,
            video_codec: probe.video_codec.clone(),
            audio_codec: probe.audio_codec.clone(),
            has_hls: true,
            has_mp4: true,
            has_thumbnail,
            strip_frames: frames,
        };
        self.db.set_video_media(video.id, &media, now).await?;
        self.db
            .set_video_expiry(
                video.id,
                plan.spec
                    .recording_expires_at(video.live_ended_at.unwrap_or(now)),
                now,
            )
            .await?;
        self.sync_size(&video).await;
        self.db
            .set_video_status(video.id, "ready", None, self.clock.now_ms())
            .await?;
        self.push(video.user_id, &video.uuid, "ready", None, 1000);
        tracing::info!(
            video = %video.uuid,
            duration_ms = probe.duration_ms,
            parts = parts.len(),
            renditions = renditions.len(),
            "recording ready"
        );
        Ok(())
    }

    /// Stores a recording's VOD playlists: `hls/index.m3u8` over the source's segments, or,
    /// with renditions, `hls/source.m3u8` and `hls/<rung>.m3u8` under a multivariant
    /// `hls/index.m3u8` that players switch between. A rendition whose first segment ffprobe
    /// cannot read is left out.
    async fn recording_playlists(
        &self,
        uuid: &str,
        parts: &[(i64, Vec<PartSegment>)],
        renditions: &[(Rung, RecordedParts)],
        source: &Probe,
        peak_bps: u64,
        work: &Path,
    ) -> Result<(), JobError> {
        let index = format!("videos/{uuid}/hls/index.m3u8");
        let mut variants = Vec::new();
        for (rung, rung_parts) in renditions {
            let Some((part, first)) = rung_parts.first().and_then(|(p, s)| Some((*p, s.first()?)))
            else {
                continue;
            };
            let key = format!("{}{}/{}", part_prefix(uuid, part), rung.name(), first.name);
            let piece = work.join(format!("{}.ts", rung.name()));
            if let Err(e) = self.storage.download_to_file(&key, &piece).await {
                if e.is_not_found() {
                    continue;
                }
                return Err(e.into());
            }
            let probe = match probe_file(&piece, PROBE_TIMEOUT).await? {
                Ok(p) if p.width.is_some() => p,
                Ok(_) | Err(_) => {
                    tracing::warn!(video = %uuid, rung = rung.name(), "a recorded rendition is unreadable; left out");
                    continue;
                }
            };
            let _ = tokio::fs::remove_file(&piece).await;
            self.storage
                .put(
                    &format!("videos/{uuid}/hls/{}.m3u8", rung.name()),
                    recording_playlist(rung_parts, Some(*rung)).into(),
                )
                .await?;
            variants.push(VodVariant {
                uri: format!("{}.m3u8", rung.name()),
                bandwidth: u64::from(rung.video_kbps()) * 1200 + 160_000,
                resolution: probe.width.zip(probe.height),
            });
        }
        let source_playlist = recording_playlist(parts, None);
        if variants.is_empty() {
            self.storage.put(&index, source_playlist.into()).await?;
            return Ok(());
        }
        self.storage
            .put(
                &format!("videos/{uuid}/hls/source.m3u8"),
                source_playlist.into(),
            )
            .await?;
        variants.insert(
            0,
            VodVariant {
                uri: "source.m3u8".into(),
                bandwidth: peak_bps,
                resolution: source.width.zip(source.height),
            },
        );
        self.storage
            .put(&index, recording_multivariant(&variants).into())
            .await?;
        Ok(())
    }

    async fn process_upload(
        &self,
        video: VideoRecord,
        work: &Path,
        progress: &Progress<'_>,
    ) -> Result<(), JobError> {
        if video.status == "ready" {
            return Ok(());
        }
        let now = self.clock.now_ms();
        self.db
            .set_video_status(video.id, "processing", None, now)
            .await?;
        progress.set("probing", 0).await;
        let source = work.join("source");
        let source_key = format!("videos/{}/source", video.uuid);
        match self.storage.download_to_file(&source_key, &source).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                return Err(JobError::refused(
                    "The uploaded file is missing; upload it again.",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let probe = probe_file(&source, PROBE_TIMEOUT)
            .await?
            .map_err(JobError::refused)?;
        progress.set("probing", 100).await;
        let copy = probe.video_codec.as_deref().is_none_or(|c| c == "h264")
            && probe.audio_codec.as_deref().is_none_or(|c| c == "aac");
        let hls_dir = work.join("hls");
        std::fs::create_dir_all(&hls_dir).map_err(|e| io_error("creating a work directory", e))?;
        let mut args: Vec<String> = vec![
            "-i".into(),
            path_arg(&source),
            "-map".into(),
            "0:v:0?".into(),
            "-map".into(),
            "0:a:0?".into(),
            "-sn".into(),
            "-dn".into(),
        ];
        if copy {
            args.extend(["-c".into(), "copy".into()]);
        } else {
            // Scaled so that the shorter side is at most 1080 pixels, even dimensions.
            let scale = "scale=w='trunc(iw*min(1\\,1080/min(iw\\,ih))/2)*2':h='trunc(ih*min(1\\,1080/min(iw\\,ih))/2)*2'";
            args.extend(
                [
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-crf",
                    "23",
                    "-pix_fmt",
                    "yuv420p",
                    "-vf",
                    scale,
                    "-force_key_frames",
                    "expr:gte(t,n_forced*4)",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "128k",
                    "-ac",
                    "2",
                ]
                .map(String::from),
            );
        }
        args.extend(
            [
                "-threads",
                "2",
                "-f",
                "hls",
                "-hls_time",
                "4",
                "-hls_playlist_type",
                "vod",
                "-hls_segment_filename",
            ]
            .map(String::from),
        );
        args.push(path_arg(&hls_dir.join("s%06d.ts")));
        args.push(path_arg(&hls_dir.join("index.m3u8")));
        ffmpeg(
            &args,
            probe.duration_ms,
            Some((progress, "packaging", 100, 700)),
        )
        .await?;
        let mp4 = work.join("video.mp4");
        let input = if copy {
            path_arg(&source)
        } else {
            path_arg(&hls_dir.join("index.m3u8"))
        };
        let args: Vec<String> = vec![
            "-i".into(),
            input,
            "-map".into(),
            "0:v:0?".into(),
            "-map".into(),
            "0:a:0?".into(),
            "-c".into(),
            "copy".into(),
            "-bsf:a".into(),
            "aac_adtstoasc".into(),
            "-movflags".into(),
            "+faststart".into(),
            "-threads".into(),
            "2".into(),
            path_arg(&mp4),
        ];
        ffmpeg(&args, probe.duration_ms, Some((progress, "mp4", 700, 850))).await?;
        let out = probe_file(&mp4, Duration::from_secs(60))
            .await?
            .map_err(|reason| {
                JobError::refused(format!("The video could not be packaged: {reason}"))
            })?;
        let (has_thumbnail, frames) = self
            .pictures(&mp4, &out, work, &video.uuid, progress, 850)
            .await?;
        // Store the outputs, then let go of the original.
        let mut names: Vec<PathBuf> = std::fs::read_dir(&hls_dir)
            .map_err(|e| io_error("listing the packaged files", e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        names.sort();
        for path in names {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            self.storage
                .put_file(&format!("videos/{}/hls/{name}", video.uuid), &path)
                .await?;
        }
        self.storage
            .put_file(&format!("videos/{}/video.mp4", video.uuid), &mp4)
            .await?;
        self.storage.delete(&source_key).await?;
        let vertical = matches!((out.width, out.height), (Some(w), Some(h)) if h > w);
        if vertical && out.duration_ms <= SHORT_MAX_MS && video.kind != "short" {
            self.db
                .set_video_kind(video.id, "short", self.clock.now_ms())
                .await?;
        }
        let now = self.clock.now_ms();
        let media = VideoMedia {
            duration_ms: Some(out.duration_ms),
            width: out.width,
            height: out.height,
            video_codec: out.video_codec.clone(),
            audio_codec: out.audio_codec.clone(),
            has_hls: true,
            has_mp4: true,
            has_thumbnail,
            strip_frames: frames,
        };
        self.db.set_video_media(video.id, &media, now).await?;
        self.sync_size(&video).await;
        self.db
            .set_video_status(video.id, "ready", None, self.clock.now_ms())
            .await?;
        self.push(video.user_id, &video.uuid, "ready", None, 1000);
        tracing::info!(video = %video.uuid, duration_ms = out.duration_ms, transcoded = !copy, "upload ready");
        Ok(())
    }

    /// Makes and stores `thumb.jpg` and `strip.jpg` of a video; `(has thumbnail, strip
    /// frames)`, nothing for audio.
    async fn pictures(
        &self,
        mp4: &Path,
        probe: &Probe,
        work: &Path,
        uuid: &str,
        progress: &Progress<'_>,
        from: i64,
    ) -> Result<(bool, i64), JobError> {
        if probe.width.is_none() {
            return Ok((false, 0));
        }
        progress.set("thumbnails", from).await;
        let thumb = work.join("thumb.jpg");
        let at = (probe.duration_ms / 10).min(5_000);
        let args: Vec<String> = vec![
            "-ss".into(),
            format!("{:.3}", at as f64 / 1000.0),
            "-i".into(),
            path_arg(mp4),
            "-frames:v".into(),
            "1".into(),
            "-vf".into(),
            format!("scale='min({THUMB_MAX_WIDTH},iw)':-2"),
            "-q:v".into(),
            "3".into(),
            "-threads".into(),
            "2".into(),
            path_arg(&thumb),
        ];
        ffmpeg(&args, 10_000, None).await?;
        let interval = strip_interval_secs(probe.duration_ms);
        let frames = strip_frames(probe.duration_ms);
        let rows = (frames + STRIP_COLUMNS as i64 - 1) / STRIP_COLUMNS as i64;
        let strip = work.join("strip.jpg");
        // Keyframes only, which is fast; a video with too few of them (a short clip encoded
        // with one keyframe) leaves the tile empty, so it is read again frame by frame.
        for keyframes_only in [true, false] {
            let mut args: Vec<String> = Vec::new();
            if keyframes_only {
                args.extend(["-skip_frame".into(), "nokey".into()]);
            }
            args.extend([
                "-i".into(),
                path_arg(mp4),
                "-an".into(),
                "-vf".into(),
                format!(
                    "fps=1/{interval},scale={STRIP_FRAME_WIDTH}:-2,tile={STRIP_COLUMNS}x{rows}:nb_frames={frames}"
                ),
                "-frames:v".into(),
                "1".into(),
                "-q:v".into(),
                "4".into(),
                "-threads".into(),
                "2".into(),
                path_arg(&strip),
            ]);
            ffmpeg(
                &args,
                probe.duration_ms,
                Some((progress, "thumbnails", from, 990)),
            )
            .await?;
            if tokio::fs::try_exists(&strip).await.unwrap_or(false) {
                break;
            }
        }
        if !tokio::fs::try_exists(&strip).await.unwrap_or(false) {
            tracing::warn!(
                video = uuid,
                "no preview strip could be made; the video plays without one"
            );
            self.storage
                .put_file(&format!("videos/{uuid}/thumb.jpg"), &thumb)
                .await?;
            return Ok((true, 0));
        }
        self.storage
            .put_file(&format!("videos/{uuid}/thumb.jpg"), &thumb)
            .await?;
        self.storage
            .put_file(&format!("videos/{uuid}/strip.jpg"), &strip)
            .await?;
        Ok((true, frames))
    }
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// Keeps the last [`STDERR_KEEP`] bytes of a child's stderr.
async fn stderr_tail(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut tail: VecDeque<u8> = VecDeque::with_capacity(STDERR_KEEP);
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend(&buf[..n]);
                while tail.len() > STDERR_KEEP {
                    tail.pop_front();
                }
            }
        }
    }
    String::from_utf8_lossy(tail.make_contiguous()).into_owned()
}

/// The last non-empty line of a child's stderr, for a failure message.
pub(crate) fn last_line(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no message")
        .chars()
        .take(300)
        .collect()
}

/// Kills the ffmpeg and ffprobe processes that a node stopped without warning (SIGKILL, a
/// power cut) left running on its work files: they would go on using CPU and writing into the
/// directory that the retry of their job uses. They are found in `/proc` by an argument under
/// `work_root`; on systems without `/proc` nothing is found. Returns how many were killed.
pub fn reap_orphans(work_root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let prefix = format!("{}/", work_root.display());
    let mut killed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let mut args = cmdline.split(|b| *b == 0);
        let is_media = args.next().is_some_and(|a| {
            let program = a.rsplit(|b| *b == b'/').next().unwrap_or(a);
            program == b"ffmpeg" || program == b"ffprobe"
        });
        if is_media && args.any(|a| a.starts_with(prefix.as_bytes())) {
            let done = std::process::Command::new("kill")
                .args(["-KILL", pid])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if done {
                killed += 1;
            } else {
                tracing::warn!(pid, "cannot kill a media process left on the work files");
            }
        }
    }
    killed
}

/// How a child process ended: its stdout as `read_out` consumed it, its exit status and the
/// tail of its stderr; `None` if it ran past its time limit (it is then killed).
pub(crate) type ChildEnd<T> = Option<(T, std::io::Result<std::process::ExitStatus>, String)>;

/// Runs `program` with `args` (stdin closed, stdout and stderr piped, killed if dropped) for at
/// most `limit`, handing its stdout to `read_out` while keeping the last [`STDERR_KEEP`] bytes
/// of its stderr. `Err` only when the program could not be started.
pub(crate) async fn run_child<T, F>(
    program: &str,
    args: &[String],
    limit: Duration,
    read_out: impl FnOnce(Option<tokio::process::ChildStdout>) -> F,
) -> Result<ChildEnd<T>, JobError>
where
    F: std::future::Future<Output = T>,
{
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            JobError::transient(format!("cannot run {program} (is it installed?): {e}"))
        })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let run = async {
        let err_task = tokio::spawn(async move {
            match stderr {
                Some(s) => stderr_tail(s).await,
                None => String::new(),
            }
        });
        let out = read_out(stdout).await;
        let status = child.wait().await;
        let err = err_task.await.unwrap_or_default();
        (out, status, err)
    };
    Ok(tokio::time::timeout(limit, run).await.ok())
}

/// Runs ffprobe on `file`: `Ok(Ok(probe))` within bounds, `Ok(Err(reason))` for a file that
/// is refused, `Err` when ffprobe itself could not run.
pub async fn probe_file(file: &Path, limit: Duration) -> Result<Result<Probe, String>, JobError> {
    let args = [
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]
    .map(String::from)
    .into_iter()
    .chain([path_arg(file)])
    .collect::<Vec<_>>();
    let end = run_child("ffprobe", &args, limit, |stdout| async move {
        let mut json = Vec::new();
        if let Some(out) = stdout {
            let _ = out.take(MAX_PROBE_BYTES + 1).read_to_end(&mut json).await;
        }
        json
    })
    .await?;
    let Some((json, status, err)) = end else {
        return Ok(Err(
            "Reading the file took too long; it may be damaged.".into()
        ));
    };
    if json.len() as u64 > MAX_PROBE_BYTES {
        return Ok(Err("The file describes too much to be a video.".into()));
    }
    let status = status.map_err(|e| io_error("waiting for ffprobe", e))?;
    if !status.success() {
        return Ok(Err(format!(
            "The file is not a video or audio file that can be read ({}).",
            last_line(&err)
        )));
    }
    Ok(validate_probe(&json))
}

/// Runs ffmpeg with `args` (inputs and outputs) on media of `duration_ms`: `-nostdin`, a time
/// limit of 3× the duration plus a minute (capped), killed if dropped; progress mapped onto
/// `from..to` per mille of `stage`. A failure of ffmpeg is final (the same input fails again)
/// and names ffmpeg's last line.
async fn ffmpeg(
    args: &[String],
    duration_ms: i64,
    progress: Option<(&Progress<'_>, &'static str, i64, i64)>,
) -> Result<(), JobError> {
    let limit = Duration::from_millis(duration_ms.clamp(0, i64::MAX / 4) as u64 * 3)
        .saturating_add(Duration::from_secs(60))
        .min(FFMPEG_TIME_CAP);
    let all = [
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-y",
        "-progress",
        "pipe:1",
    ]
    .map(String::from)
    .into_iter()
    .chain(args.iter().cloned())
    .collect::<Vec<_>>();
    let end = run_child("ffmpeg", &all, limit, |stdout| async move {
        let Some(out) = stdout else { return };
        let mut reader = BufReader::new(out);
        let mut line = Vec::with_capacity(128);
        loop {
            line.clear();
            match (&mut reader).take(1024).read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let Some((p, stage, from, to)) = progress else {
                continue;
            };
            let text = String::from_utf8_lossy(&line);
            if let Some(us) = text.trim().strip_prefix("out_time_us=") {
                if let (Ok(us), true) = (us.parse::<i64>(), duration_ms > 0) {
                    let done = (us / 1000).clamp(0, duration_ms);
                    p.set(stage, from + (to - from) * done / duration_ms).await;
                }
            }
        }
    })
    .await?;
    let Some(((), status, err)) = end else {
        return Err(JobError::refused(format!(
            "Processing took longer than {} minutes; the file may be damaged.",
            limit.as_secs() / 60
        )));
    };
    let status = status.map_err(|e| io_error("waiting for ffmpeg", e))?;
    if !status.success() {
        tracing::warn!(stderr = %err, "ffmpeg failed");
        return Err(JobError::refused(format!(
            "Processing the file failed ({}).",
            last_line(&err)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_playlists_parse_with_or_without_an_end() {
        let text =
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:EVENT\n\
                    #EXTINF:4.000,\ns000000.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:3.5,\ns000002.ts\n\
                    #EXTINF:2,\n../../etc/passwd\n";
        let s = parse_part_playlist(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "s000000.ts");
        assert!(!s[0].discontinuity && s[1].discontinuity);
        let vod = recording_playlist(&[(1, s.clone()), (2, s.clone())], None);
        assert!(vod.contains("../rec/p1/s000000.ts\n") && vod.contains("../rec/p2/s000002.ts\n"));
        assert_eq!(vod.matches("#EXT-X-DISCONTINUITY").count(), 3);
        assert!(vod.ends_with("#EXT-X-ENDLIST\n"));
        assert!(vod.contains("#EXT-X-TARGETDURATION:4\n"));
        assert!(!vod.contains("passwd"));
        let rendition = recording_playlist(&[(2, s)], Some(Rung::P480));
        assert!(
            rendition.contains("#EXTINF:4.000,\n../rec/p2/480p/s000000.ts\n"),
            "{rendition}"
        );
    }

    #[test]
    fn multivariant_playlists_list_each_variant_with_its_bandwidth_and_size() {
        let text = recording_multivariant(&[
            VodVariant {
                uri: "source.m3u8".into(),
                bandwidth: 3_100_000,
                resolution: Some((1280, 720)),
            },
            VodVariant {
                uri: "360p.m3u8".into(),
                bandwidth: 1_000_000,
                resolution: None,
            },
        ]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3100000,RESOLUTION=1280x720\nsource.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1000000\n360p.m3u8\n"
        );
    }

    #[test]
    fn strips_have_at_most_a_hundred_frames() {
        assert_eq!(strip_interval_secs(20_000), 1);
        assert_eq!(strip_frames(20_000), 20);
        assert_eq!(strip_interval_secs(100_000), 1);
        assert_eq!(strip_interval_secs(100_001), 2);
        assert_eq!(strip_frames(3_600_000), 100);
        assert_eq!(strip_frames(500), 1);
    }

    #[test]
    fn probes_out_of_bounds_are_refused() {
        let ok = br#"{"streams":[{"codec_type":"video","codec_name":"h264","width":640,"height":360},
            {"codec_type":"audio","codec_name":"aac"}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"20.0"}}"#;
        let p = validate_probe(ok).expect("valid");
        assert_eq!(
            (p.duration_ms, p.width, p.height),
            (20_000, Some(640), Some(360))
        );
        let big = br#"{"streams":[{"codec_type":"video","codec_name":"h264","width":8000,"height":8000}],"format":{"format_name":"mp4","duration":"1"}}"#;
        assert!(validate_probe(big)
            .expect_err("refused")
            .contains("8000×8000"));
        let png = br#"{"streams":[{"codec_type":"video","codec_name":"png","width":64,"height":64}],"format":{"format_name":"png_pipe"}}"#;
        assert!(validate_probe(png)
            .expect_err("refused")
            .contains("picture"));
        let long = br#"{"streams":[{"codec_type":"audio","codec_name":"aac"}],"format":{"format_name":"aac","duration":"50000"}}"#;
        assert!(validate_probe(long)
            .expect_err("refused")
            .contains("12 hours"));
        let none = br#"{"streams":[{"codec_type":"data"}],"format":{"format_name":"mpegts","duration":"3"}}"#;
        assert!(validate_probe(none)
            .expect_err("refused")
            .contains("no video or audio"));
        let rotated = br#"{"streams":[{"codec_type":"video","codec_name":"h264","width":1920,"height":1080,
            "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],"format":{"format_name":"mp4","duration":"5"}}"#;
        let r = validate_probe(rotated).expect("valid");
        assert_eq!((r.width, r.height), (Some(1080), Some(1920)));
    }
}
