//! A still picture of a live stream, for link previews (`og:image`): ffmpeg decodes the first
//! frame of the stream as the hub hands it to a new viewer (its last keyframe, after the
//! sequence headers) and writes a JPEG at most 640 pixels wide. Bounded, since anyone may ask:
//! two pictures are made at a time (a third asker gets none, not a queue), each within 5 s and
//! 2 MiB, and each stream's picture is kept for 15 s. Without ffmpeg there is no picture.

use ferrocast_hub::Hub;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// A JPEG, shared between the askers.
pub type Jpeg = Arc<[u8]>;

/// How long a stream's picture is kept.
pub const FRESH_FOR: Duration = Duration::from_secs(15);
/// Pictures made at the same time at most.
const AT_ONCE: usize = 2;
/// Longest a picture may take.
const TIME_LIMIT: Duration = Duration::from_secs(5);
/// Largest picture kept.
const MAX_BYTES: u64 = 2 * 1024 * 1024;
/// Streams whose pictures are kept at most.
const MAX_KEPT: usize = 256;

/// Pictures of live streams, made on demand and kept briefly.
pub struct Thumbnails {
    permits: Semaphore,
    kept: Mutex<HashMap<String, (Instant, Jpeg)>>,
}

impl Default for Thumbnails {
    fn default() -> Self {
        Self {
            permits: Semaphore::new(AT_ONCE),
            kept: Mutex::new(HashMap::new()),
        }
    }
}

impl Thumbnails {
    /// A JPEG of the live stream `playback_id` on this node, or `None`: not live here, no
    /// video, ffmpeg missing or failing, too slow, or two pictures already being made.
    pub async fn picture(&self, hub: &Hub, playback_id: &str) -> Option<Jpeg> {
        // A stream that ended has no picture, even a recent one.
        if !hub.info(playback_id)?.has_video {
            return None;
        }
        if let Some((at, jpeg)) = self.lock().get(playback_id) {
            if at.elapsed() < FRESH_FOR {
                return Some(jpeg.clone());
            }
        }
        let _permit = self.permits.try_acquire().ok()?;
        let reader = hub.subscribe(playback_id)?;
        let jpeg = tokio::time::timeout(TIME_LIMIT, decode_first_frame(reader))
            .await
            .ok()
            .flatten()?;
        let mut kept = self.lock();
        kept.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
        if kept.len() < MAX_KEPT {
            kept.insert(playback_id.to_string(), (Instant::now(), jpeg.clone()));
        }
        Some(jpeg)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Jpeg)>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Feeds the stream (video only) to ffmpeg as FLV and reads the JPEG of its first frame.
async fn decode_first_frame(reader: ferrocast_hub::Reader) -> Option<Jpeg> {
    use futures_util::StreamExt;
    let mut child = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "flv",
            "-i",
            "pipe:0",
            "-an",
            "-frames:v",
            "1",
            "-vf",
            "scale='min(640,iw)':-2",
            "-q:v",
            "5",
            "-f",
            "image2",
            "-c:v",
            "mjpeg",
            "pipe:1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| tracing::debug!(error = %e, "no ffmpeg for stream pictures"))
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let stdout = child.stdout.take()?;
    let feed = tokio::spawn(async move {
        let flv = ferrocast_engine::flv_out::stream(reader, false, true);
        tokio::pin!(flv);
        while let Some(Ok(chunk)) = flv.next().await {
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let mut jpeg = Vec::new();
    let read = stdout.take(MAX_BYTES + 1).read_to_end(&mut jpeg).await;
    feed.abort();
    let status = child.wait().await.ok()?;
    let whole = read.is_ok() && (jpeg.len() as u64) <= MAX_BYTES;
    (status.success() && whole && jpeg.starts_with(&[0xFF, 0xD8])).then(|| Jpeg::from(jpeg))
}
