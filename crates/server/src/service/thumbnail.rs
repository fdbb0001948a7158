//! A still picture of each live stream, for the browse cards and link previews (`og:image`):
//! ffmpeg decodes the first frame of the stream as the hub hands it to a new viewer (its last
//! keyframe, after the sequence headers) and writes a JPEG at most 640 pixels wide — one frame
//! decoded, never a transcoder per stream. Pictures follow demand: a stream's first picture is
//! made when someone asks for it (a browse card, a link preview), and a background task renews it
//! each `FERROCAST_LIVE_THUMBNAIL_SECS` (60 s by default), one stream at a time, for as long as it
//! was asked for within [`WANTED_FOR`]. A stream no one looks at costs no decoding (with 50
//! streams live and no one browsing, renewing every picture kept an ffmpeg running all the time:
//! BENCHMARKS.md, "Ingest and fan-out cost"). Bounded, since anyone may ask: two
//! pictures are made at a time (a further asker gets the last picture, or none — not a queue),
//! each within 5 s and 2 MiB; a republished stream's old picture is never shown. Without ffmpeg
//! there is no picture.

use ferrocast_hub::Hub;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};

/// A JPEG, shared between the askers.
pub type Jpeg = Arc<[u8]>;

/// Pictures made at the same time at most.
const AT_ONCE: usize = 2;
/// Longest a picture may take.
const TIME_LIMIT: Duration = Duration::from_secs(5);
/// Largest picture kept.
const MAX_BYTES: u64 = 2 * 1024 * 1024;
/// Streams whose pictures are kept at most.
const MAX_KEPT: usize = 1024;
/// A picture is renewed in the background while it was asked for within this long.
pub const WANTED_FOR: Duration = Duration::from_secs(10 * 60);

struct Kept {
    at: Instant,
    generation: u64,
    jpeg: Jpeg,
}

/// Pictures of live streams, refreshed in the background and kept in memory.
pub struct Thumbnails {
    permits: Semaphore,
    kept: Mutex<HashMap<String, Kept>>,
    /// When each stream's picture was last asked for (at most [`MAX_KEPT`] streams).
    asked: Mutex<HashMap<String, Instant>>,
    every: Duration,
}

impl Default for Thumbnails {
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

impl Thumbnails {
    /// Pictures renewed every `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            permits: Semaphore::new(AT_ONCE),
            kept: Mutex::new(HashMap::new()),
            asked: Mutex::new(HashMap::new()),
            every,
        }
    }

    /// How long a picture is served before a new one is made (what HTTP caches may keep it).
    pub fn every(&self) -> Duration {
        self.every
    }

    /// A JPEG of the live stream `playback_id` on this node, or `None`: not live here, no
    /// video, ffmpeg missing or failing, too slow, or no picture yet while two are being made.
    pub async fn picture(&self, hub: &Hub, playback_id: &str) -> Option<Jpeg> {
        // A stream that ended has no picture, even a recent one.
        if !hub.info(playback_id)?.has_video {
            return None;
        }
        let (generation, _) = hub.session(playback_id)?;
        {
            let mut asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
            if asked.len() < MAX_KEPT || asked.contains_key(playback_id) {
                asked.insert(playback_id.to_string(), Instant::now());
            }
        }
        let last = self
            .lock()
            .get(playback_id)
            .filter(|k| k.generation == generation)
            .map(|k| (k.at, k.jpeg.clone()));
        // The background task renews pictures on time; the grace covers its round.
        if let Some((at, jpeg)) = &last {
            if at.elapsed() < self.every + self.every / 2 {
                return Some(jpeg.clone());
            }
        }
        let made = match self.permits.try_acquire() {
            Ok(_permit) => self.make(hub, playback_id, generation).await,
            Err(_) => None,
        };
        made.or(last.map(|(_, jpeg)| jpeg))
    }

    /// The picture kept of `playback_id` and its age, without making one.
    pub fn last(&self, playback_id: &str) -> Option<(Duration, Jpeg)> {
        self.lock()
            .get(playback_id)
            .map(|k| (k.at.elapsed(), k.jpeg.clone()))
    }

    /// Renews the picture of every live stream asked for within [`WANTED_FOR`] whose picture
    /// is missing or as old as the interval, one at a time, and forgets the pictures (and asks)
    /// of streams that ended. Returns how many pictures it made.
    pub async fn refresh(&self, hub: &Hub) -> usize {
        let mut live = hub.streams();
        {
            let ids: std::collections::HashSet<&str> =
                live.iter().map(|s| s.key.playback_id.as_str()).collect();
            self.lock().retain(|id, _| ids.contains(id.as_str()));
            let mut asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
            asked.retain(|id, at| at.elapsed() < WANTED_FOR && ids.contains(id.as_str()));
            live.retain(|s| asked.contains_key(&s.key.playback_id));
        }
        let mut made = 0;
        // A relay's picture is made where it is published.
        for stream in live.iter().filter(|s| s.info.has_video && !s.key.relay) {
            let id = &stream.key.playback_id;
            let Some((generation, _)) = hub.session(id) else {
                continue;
            };
            let due = self
                .lock()
                .get(id)
                .is_none_or(|k| k.generation != generation || k.at.elapsed() >= self.every);
            if !due {
                continue;
            }
            let Ok(_permit) = self.permits.acquire().await else {
                break;
            };
            if self.make(hub, id, generation).await.is_some() {
                made += 1;
            }
        }
        made
    }

    async fn make(&self, hub: &Hub, playback_id: &str, generation: u64) -> Option<Jpeg> {
        let reader = hub.subscribe(playback_id)?;
        let jpeg = tokio::time::timeout(TIME_LIMIT, decode_first_frame(reader))
            .await
            .ok()
            .flatten()?;
        let mut kept = self.lock();
        if kept.len() < MAX_KEPT || kept.contains_key(playback_id) {
            kept.insert(
                playback_id.to_string(),
                Kept {
                    at: Instant::now(),
                    generation,
                    jpeg: jpeg.clone(),
                },
            );
        }
        Some(jpeg)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Kept>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps the pictures of the live streams on `hub` fresh until shutdown.
pub fn spawn_refresher(
    thumbnails: impl std::ops::Deref<Target = Thumbnails> + Send + 'static,
    hub: Hub,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let round = (thumbnails.every() / 6).clamp(Duration::from_secs(1), Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(round) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            thumbnails.refresh(&hub).await;
        }
    });
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
        // Announcing video at least; ffmpeg leaves out any audio the stream has (`-an`).
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
