//! The media engine's seams: how it asks whether a stream key may publish, and where it records
//! live streams. The engine never touches the database or the object store; the server
//! implements these ports.

use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

/// The future a port method returns: boxed, so the ports stay object-safe.
pub type PortFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an accepted publisher may publish to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishGrant {
    /// The source's id in storage.
    pub source_id: i64,
    /// Its owner.
    pub user_id: i64,
    /// Its public playback id: outputs are addressed by this, never by the stream key.
    pub playback_id: String,
    /// How long (seconds) the stream stays on the fallback slate when its encoder drops
    /// without unpublishing; 0: it ends at once.
    pub slate_secs: u32,
    /// The creator's picture for the slate (a JPEG), shown in place of the default; `None`:
    /// the default slate.
    pub slate_picture: Option<bytes::Bytes>,
    /// The adaptive-bitrate renditions to transcode beside the source (the plan's ladder);
    /// empty: the source only.
    pub transcode_ladder: Vec<Rung>,
}

/// A rung of an adaptive-bitrate ladder: a picture height with its video bitrate. Rungs at or
/// above the source's height are skipped (nothing is scaled up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rung {
    /// 1920×1080 (16:9), 4500 kbit/s.
    P1080,
    /// 1280×720, 2500 kbit/s.
    P720,
    /// 854×480, 1200 kbit/s.
    P480,
    /// 640×360, 700 kbit/s.
    P360,
    /// 426×240, 400 kbit/s.
    P240,
}

impl Rung {
    /// Every rung, highest first.
    pub const ALL: [Rung; 5] = [Rung::P1080, Rung::P720, Rung::P480, Rung::P360, Rung::P240];

    /// Its name in plans files, URLs and the API (`720p`).
    pub fn name(self) -> &'static str {
        match self {
            Rung::P1080 => "1080p",
            Rung::P720 => "720p",
            Rung::P480 => "480p",
            Rung::P360 => "360p",
            Rung::P240 => "240p",
        }
    }

    /// The rung named `name` (`720p`).
    pub fn parse(name: &str) -> Option<Rung> {
        Rung::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Picture height (the width follows the source's aspect ratio).
    pub fn height(self) -> u32 {
        match self {
            Rung::P1080 => 1080,
            Rung::P720 => 720,
            Rung::P480 => 480,
            Rung::P360 => 360,
            Rung::P240 => 240,
        }
    }

    /// Target video bitrate (kbit/s).
    pub fn video_kbps(self) -> u32 {
        match self {
            Rung::P1080 => 4500,
            Rung::P720 => 2500,
            Rung::P480 => 1200,
            Rung::P360 => 700,
            Rung::P240 => 400,
        }
    }

    /// Estimated CPU (cores) to transcode the rung at 30 frames per second with x264's
    /// `veryfast` preset: decoding the source (up to 1080p, 0.2 core) plus encoding, which grows
    /// with the rung's pixels (0.7 core at 720p). Deliberately above what synthetic test content
    /// measured (BENCHMARKS.md, "Transcoding": 0.40 core for 720p from 1080p, 0.23 for 240p):
    /// camera footage costs x264 more.
    pub fn estimated_cores(self) -> f64 {
        let h = f64::from(self.height());
        0.2 + 0.7 * h * h / (720.0 * 720.0)
    }
}

/// Parses a ladder (`["720p", "480p", "360p"]`): known rungs, each once, highest first in the
/// result.
pub fn parse_ladder<S: AsRef<str>>(names: &[S]) -> Result<Vec<Rung>, String> {
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let n = n.as_ref();
        let rung = Rung::parse(n).ok_or_else(|| {
            let known: Vec<&str> = Rung::ALL.iter().map(|r| r.name()).collect();
            format!("unknown rung {n:?} (use {})", known.join(", "))
        })?;
        if out.contains(&rung) {
            return Err(format!("rung {n:?} appears twice"));
        }
        out.push(rung);
    }
    out.sort();
    Ok(out)
}

/// Why a publisher is refused. The description goes to the encoder in the RTMP status and to
/// the log; it never contains the stream key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishDenied {
    /// The application name is not `live`.
    #[error("unknown application {0:?}: publish to rtmp://HOST/live/<stream key>")]
    UnknownApp(String),
    /// No source has this stream key (or it was rotated or deleted).
    #[error("unknown stream key: copy it again from the dashboard")]
    UnknownKey,
    /// The key is known but may not publish now (plan limit, suspended account, …).
    #[error("{0}")]
    NotAllowed(String),
    /// The decision could not be made (database unreachable); the encoder should retry.
    #[error("temporarily unavailable, try again")]
    Unavailable,
}

impl PublishDenied {
    /// The refusal's reason as a metric label (`ferrocast_ingest_failures_total{reason}`):
    /// `unknown_key`, `not_allowed` or `unavailable`.
    pub fn reason(&self) -> &'static str {
        match self {
            PublishDenied::UnknownApp(_) | PublishDenied::UnknownKey => "unknown_key",
            PublishDenied::NotAllowed(_) => "not_allowed",
            PublishDenied::Unavailable => "unavailable",
        }
    }
}

/// Decides whether a publish request is allowed. Object-safe so the binary can plug in the
/// server's implementation.
pub trait PublishAuthorizer: Send + Sync + 'static {
    /// Resolves `stream_key` (already stripped of any `?query`) published to `app`.
    fn authorize<'a>(
        &'a self,
        app: &'a str,
        stream_key: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<PublishGrant, PublishDenied>> + Send + 'a>>;

    /// Whether a player at `peer` may play the live stream `playback_id` with the `query` it
    /// sent after the name (`token=…`); `Err` says why not, for the player's status message.
    /// Every stream may be played unless an implementation gates it.
    fn authorize_play<'a>(
        &'a self,
        playback_id: &'a str,
        query: Option<&'a str>,
        peer: std::net::IpAddr,
    ) -> PortFuture<'a, Result<(), String>> {
        let _ = (playback_id, query, peer);
        Box::pin(async { Ok(()) })
    }

    /// Whether an encoder at `peer` may publish at all (the operator's address lists), asked
    /// before its stream key is looked at. Every address may unless an implementation says no.
    fn admit_publisher(&self, peer: std::net::IpAddr) -> Result<(), PublishDenied> {
        let _ = peer;
        Ok(())
    }
    /// Whether a play request for `playback_id` with `query` comes from another node of this
    /// deployment pulling the stream to relay it (a valid node credential in the query). Such a
    /// play skips the viewer gating (the pulling node gated its own viewers) and is not a
    /// viewer. Nothing is a node pull unless an implementation says so.
    fn node_pull(&self, playback_id: &str, query: Option<&str>) -> bool {
        let _ = (playback_id, query);
        false
    }
}

/// Where a live stream is published (its origin node), as [`OriginLocator::locate`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginLocation {
    /// The origin node's id.
    pub node_id: String,
    /// Its RTMP base URL, `rtmp://host:port`.
    pub rtmp_url: String,
    /// The stream's source id in storage.
    pub source_id: i64,
    /// What to append to the play name after `?` so the origin accepts the pull (a node
    /// credential); never logged.
    pub credential: String,
}

/// Finds the node that holds a live stream, for a node that does not (the engine then pulls it
/// from there and relays it). Object-safe; the server implements it over its node registry.
pub trait OriginLocator: Send + Sync + 'static {
    /// The origin of the live stream `playback_id`: `Ok(None)` if no other node holds it,
    /// `Err(description)` if the registry could not be read.
    fn locate<'a>(
        &'a self,
        playback_id: &'a str,
    ) -> PortFuture<'a, Result<Option<OriginLocation>, String>>;
}

/// A publishing session the engine could record: asked of [`RecordingStore::begin`] when the
/// stream goes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSession {
    /// The source's id in storage.
    pub source_id: i64,
    /// Its public playback id.
    pub playback_id: String,
    /// The hub's publishing session (the `generation` of the stream's lifecycle events): a
    /// republish is a new generation, and a new call.
    pub generation: u64,
    /// When the stream went live (Unix ms).
    pub started_at_ms: i64,
}

/// Where one part of a recording is written: the server's answer to
/// [`RecordingStore::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingTarget {
    /// The recording's id in storage (a republish may continue the same recording).
    pub recording_id: i64,
    /// The object key prefix of this part, ending in `/` (e.g. `videos/<uuid>/rec/p3/`): the
    /// engine writes `<prefix>s000000.ts`, `<prefix>s000001.ts`, … and `<prefix>index.m3u8`.
    pub prefix: String,
    /// The part number within the recording (one per publishing session).
    pub part: u32,
}

/// What one part of a recording holds when it ends, for [`RecordingStore::end`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Segments stored.
    pub segments: u64,
    /// Their total duration (ms).
    pub duration_ms: u64,
    /// Their total size (bytes).
    pub bytes: u64,
    /// Segments lost (the store failed or fell too far behind); each gap is marked in the
    /// playlist with `EXT-X-DISCONTINUITY`.
    pub gaps: u64,
    /// The publisher ended the stream and the final playlist (with `EXT-X-ENDLIST`) was
    /// stored. False when the recorder lost the stream or could not store the end.
    pub clean: bool,
}

/// Where live streams are recorded: the server decides which sessions to record (plan, source
/// setting) and stores the objects. Object-safe so the binary can plug in the server's
/// implementation; every method is called with a timeout by the engine.
pub trait RecordingStore: Send + Sync + 'static {
    /// A stream went live: `Ok(Some(target))` to record this session into `target`,
    /// `Ok(None)` not to record it, `Err(description)` if the decision could not be made (the
    /// session is then not recorded).
    fn begin<'a>(
        &'a self,
        session: &'a RecordingSession,
    ) -> PortFuture<'a, Result<Option<RecordingTarget>, String>>;

    /// Stores one object under `key` (a segment or the playlist), replacing any previous one.
    /// The replacement must be atomic: a reader sees the old object or the new one, never a
    /// mix (a crash while the playlist is rewritten must leave a playable playlist).
    fn write<'a>(&'a self, key: String, bytes: Bytes) -> PortFuture<'a, Result<(), String>>;

    /// A segment of `target` was stored and listed in its playlist (for storage accounting).
    fn segment_stored<'a>(
        &'a self,
        target: &'a RecordingTarget,
        bytes: u64,
        duration_ms: u64,
    ) -> PortFuture<'a, ()>;

    /// The part ended; its final playlist is stored if `summary.clean`.
    fn end<'a>(
        &'a self,
        target: &'a RecordingTarget,
        summary: RecordingSummary,
    ) -> PortFuture<'a, ()>;
}

/// A track a radio station plays: its id, what listeners are told, and its audio (AAC in ADTS,
/// as the server stores it).
#[derive(Debug, Clone)]
pub struct RadioTrack {
    /// The track's id.
    pub id: i64,
    /// "Artist – Title", or the title.
    pub title: String,
    /// The audio.
    pub audio: Bytes,
}

/// Where a radio station's tracks come from: the server's playlist and storage. Object-safe so
/// the binary can plug in the server's implementation.
pub trait RadioLibrary: Send + Sync + 'static {
    /// The track to play after `after` (the first when `None`), going round the playlist;
    /// `Ok(None)` when the station has no track; `Err(description)` when it cannot be read now.
    fn next<'a>(
        &'a self,
        station: i64,
        after: Option<i64>,
    ) -> PortFuture<'a, Result<Option<RadioTrack>, String>>;
}

/// Whether a public identifier (playback id, app name) is safe to use in URLs and file names:
/// 1 to 64 characters of `a-z`, `A-Z`, `0-9`, `_`, `-` (RELIABILITY.md rule 4: names are not
/// paths).
pub fn is_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    #[test]
    fn ladders_parse_highest_first_and_refuse_unknown_or_repeated_rungs() {
        use super::{parse_ladder, Rung};
        assert_eq!(
            parse_ladder(&["360p", "720p", "480p"]),
            Ok(vec![Rung::P720, Rung::P480, Rung::P360])
        );
        assert_eq!(parse_ladder::<&str>(&[]), Ok(vec![]));
        assert!(parse_ladder(&["4k"]).is_err_and(|e| e.contains("unknown rung \"4k\"")));
        assert!(parse_ladder(&["720p", "720p"]).is_err_and(|e| e.contains("twice")));
        for r in Rung::ALL {
            assert_eq!(Rung::parse(r.name()), Some(r));
        }
        assert!(Rung::P1080.estimated_cores() > Rung::P720.estimated_cores());
        assert!((Rung::P720.estimated_cores() - 0.9).abs() < 1e-9);
        assert!((Rung::P240.estimated_cores() - 0.278).abs() < 0.001);
    }

    #[test]
    fn safe_ids() {
        assert!(super::is_safe_id("abc_DEF-123"));
        for bad in ["", "../x", "a/b", "a b", "a%2f", "ü", &"a".repeat(65)] {
            assert!(!super::is_safe_id(bad), "{bad}");
        }
    }
}
