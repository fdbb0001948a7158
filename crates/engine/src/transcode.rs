//! Adaptive bitrate: the renditions of a plan's ladder (`720p`, `480p` …), each transcoded from
//! the live stream by a supervised ffmpeg, beside the source, which stays a passthrough
//! rendition.
//!
//! A rendition is a stream of its own in the transcoder's hub (not the engine's: it has no
//! session, restream, recording or node registration; it lives and ends with its source), and
//! is packaged for HLS and LL-HLS by the transcoder's own [`HlsRegistry`], on demand, like any
//! stream. The multivariant playlist lists the source and each running rendition.
//!
//! Each rung's ffmpeg reads the source as FLV on its stdin (timestamps kept, `-copyts`), scales
//! to the rung's height (never up: rungs at or above the source's height are skipped), encodes
//! H.264 with keyframes where the source has them — so every rendition's segments line up with
//! the source's and a player switches at any segment — copies the AAC audio, and writes FLV on
//! its stdout into the rendition. An ffmpeg that exits while the stream is live is restarted
//! with a growing pause (at most [`MAX_BACKOFF`]); one that keeps failing gives its rung up; all
//! are killed when the stream ends.
//!
//! Admission is bounded by a CPU budget per node ([`Transcoder::set_budget`],
//! `FERROCAST_TRANSCODE_CPUS`): a ladder is admitted whole, at its rungs' estimated cost
//! ([`Rung::estimated_cores`]), or refused with a message the creator sees — the stream then
//! plays at its source bitrate only.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ferrocast_domain::media::Rung;
use ferrocast_hub::{Frame, FrameKind, Hub, ReadEnd, Reader, StreamKey};
use ferrocast_media::avc::AvcDecoderConfig;
use ferrocast_media::flv::{write_tag, FlvReader, TagType, VideoCodec, VideoTag};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::hls::HlsRegistry;

/// The longest pause before restarting a rung's ffmpeg.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A rung whose ffmpeg failed this many times in a row without producing media is given up.
const MAX_FRUITLESS: u32 = 5;
/// How long the transcoder waits for the source's video configuration.
const CONFIG_TIMEOUT: Duration = Duration::from_secs(30);
/// AAC audio is copied; a rendition's bandwidth counts this much for it (bit/s).
const AUDIO_BPS: u64 = 160_000;

/// Where a stream's ladder stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LadderState {
    /// Admitted; waiting for the source's video to choose the rungs.
    Starting,
    /// Renditions are being transcoded.
    Running,
    /// Not transcoded (over the node's CPU budget, a codec ffmpeg cannot read, a source no
    /// bigger than the ladder's rungs): the message says why; viewers get the source.
    Refused,
    /// The stream ended.
    Ended,
}

/// A rendition being transcoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionView {
    /// The rung (`720p`).
    pub name: &'static str,
    /// Picture size, once its first frame is out.
    pub width: Option<u32>,
    /// Picture height, once its first frame is out.
    pub height: Option<u32>,
    /// Target video bitrate (kbit/s).
    pub video_kbps: u32,
    /// Times its ffmpeg was restarted.
    pub restarts: u32,
}

/// A stream's adaptive-bitrate ladder as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LadderView {
    /// The plan's ladder.
    pub ladder: Vec<&'static str>,
    /// Where it stands.
    pub state: LadderState,
    /// Why it is not transcoded, or which rungs were skipped, in words.
    pub message: Option<String>,
    /// The renditions transcoded (besides the source).
    pub renditions: Vec<RenditionView>,
    /// The source's picture size, once known.
    pub source: Option<(u32, u32)>,
}

/// A variant of a stream's multivariant playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The rung.
    pub rung: Rung,
    /// Picture size.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Peak bandwidth (bit/s), audio included.
    pub bandwidth: u64,
}

struct Ladder {
    generation: u64,
    ladder: Vec<Rung>,
    state: LadderState,
    message: Option<String>,
    renditions: Vec<RenditionView>,
    source: Option<(u32, u32)>,
    /// Millicores reserved now.
    reserved: u32,
}

#[derive(Default)]
struct State {
    budget: u32,
    used: u32,
    streams: HashMap<String, Ladder>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct TranscodeStats {
    /// Ladders admitted.
    pub admitted: AtomicU64,
    /// Ladders refused for the CPU budget.
    pub refused: AtomicU64,
    /// ffmpeg restarts.
    pub restarts: AtomicU64,
}

/// The transcoder of every stream's ladder, its renditions' hub and their HLS packagers.
#[derive(Clone)]
pub struct Transcoder {
    /// The renditions, as streams named [`rendition_id`].
    pub hub: Hub,
    /// HLS and LL-HLS of the renditions.
    pub hls: HlsRegistry,
    /// Counters.
    pub stats: Arc<TranscodeStats>,
    source: Hub,
    state: Arc<Mutex<State>>,
}

/// A rendition's stream id in the transcoder's hub (`<playback_id>_720p`).
pub fn rendition_id(playback_id: &str, rung: Rung) -> String {
    format!("{playback_id}_{}", rung.name())
}

/// The source's playback id and the rung of a rendition's stream id; `None` for any other id.
pub fn rendition_of(id: &str) -> Option<(&str, Rung)> {
    let (playback_id, rung) = id.rsplit_once('_')?;
    Some((playback_id, Rung::parse(rung)?))
}

fn cores(millicores: u32) -> String {
    let c = f64::from(millicores) / 1000.0;
    format!("{c:.1}")
}

impl Transcoder {
    /// A transcoder of `source`'s streams, packaging with `hls` settings; it admits nothing
    /// until given a budget. Starts the renditions' HLS follower (needs a Tokio runtime).
    pub fn new(source: Hub, hls: ferrocast_media::hls::HlsConfig) -> Self {
        let hub = Hub::default();
        let registry = HlsRegistry::new(hls, hub.clone());
        registry.spawn();
        Self {
            hub,
            hls: registry,
            stats: Arc::default(),
            source,
            state: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the CPU this node may spend transcoding (thousandths of a core).
    pub fn set_budget(&self, millicores: u32) {
        self.lock().budget = millicores;
    }

    /// The budget and what running ladders hold of it (thousandths of a core).
    pub fn budget(&self) -> (u32, u32) {
        let s = self.lock();
        (s.budget, s.used)
    }

    /// A stream was published with `ladder`: admits it within the budget and starts its
    /// renditions, or records why not. Call once per publishing session (not when an encoder
    /// takes its stream back from the slate: the renditions carry on).
    pub fn start(&self, key: &StreamKey, ladder: &[Rung]) {
        let Some(reader) = self.source.subscribe(&key.playback_id) else {
            return;
        };
        let generation = reader.generation();
        let playback_id = key.playback_id.clone();
        let cost: u32 = ladder
            .iter()
            .map(|r| (r.estimated_cores() * 1000.0).round() as u32)
            .sum();
        let mut s = self.lock();
        // Ladders of sessions that are over are forgotten (their reservations went back when
        // their renditions ended).
        let source = &self.source;
        s.streams.retain(|id, l| {
            l.reserved > 0 || source.session(id).map(|(g, _)| g) == Some(l.generation)
        });
        if ladder.is_empty() {
            s.streams.remove(&playback_id);
            return;
        }
        let admitted = s.used.saturating_add(cost) <= s.budget;
        let message = (!admitted).then(|| {
            let names: Vec<&str> = ladder.iter().map(|r| r.name()).collect();
            if s.budget == 0 {
                "Adaptive bitrate is off on this server (FERROCAST_TRANSCODE_CPUS=0): viewers get the source quality only.".to_string()
            } else {
                format!(
                    "Adaptive bitrate is unavailable for this stream: the server's transcoding budget ({} CPU, {} in use) has no room for {} (about {} CPU). Viewers get the source quality only; it is tried again when you next go live.",
                    cores(s.budget),
                    cores(s.used),
                    names.join(" + "),
                    cores(cost)
                )
            }
        });
        if admitted {
            s.used += cost;
            self.stats.admitted.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%playback_id, cost_millicores = cost, used = s.used, budget = s.budget, "adaptive bitrate refused: over the transcoding budget");
        }
        s.streams.insert(
            playback_id.clone(),
            Ladder {
                generation,
                ladder: ladder.to_vec(),
                state: if admitted {
                    LadderState::Starting
                } else {
                    LadderState::Refused
                },
                message,
                renditions: Vec::new(),
                source: None,
                reserved: if admitted { cost } else { 0 },
            },
        );
        drop(s);
        if admitted {
            let t = self.clone();
            let key = key.clone();
            tokio::spawn(async move { t.run(key, generation, reader).await });
        }
    }

    /// The ladder of the stream `playback_id`, if it has one.
    pub fn view(&self, playback_id: &str) -> Option<LadderView> {
        let generation = self.source.session(playback_id).map(|(g, _)| g);
        let s = self.lock();
        let l = s
            .streams
            .get(playback_id)
            .filter(|l| Some(l.generation) == generation)?;
        Some(LadderView {
            ladder: l.ladder.iter().map(|r| r.name()).collect(),
            state: l.state.clone(),
            message: l.message.clone(),
            renditions: l.renditions.clone(),
            source: l.source,
        })
    }

    /// The renditions of `playback_id` that players can switch to now (producing, with a known
    /// picture size), highest first.
    pub fn variants(&self, playback_id: &str) -> Vec<Variant> {
        let s = self.lock();
        let Some(l) = s.streams.get(playback_id) else {
            return Vec::new();
        };
        l.renditions
            .iter()
            .filter_map(|r| {
                let rung = Rung::parse(r.name)?;
                if !self.hub.is_live(&rendition_id(playback_id, rung)) {
                    return None;
                }
                Some(Variant {
                    rung,
                    width: r.width?,
                    height: r.height?,
                    bandwidth: u64::from(r.video_kbps) * 1200 + AUDIO_BPS,
                })
            })
            .collect()
    }

    fn update(&self, playback_id: &str, generation: u64, f: impl FnOnce(&mut Ladder, &mut u32)) {
        let mut s = self.lock();
        let State { used, streams, .. } = &mut *s;
        if let Some(l) = streams
            .get_mut(playback_id)
            .filter(|l| l.generation == generation)
        {
            f(l, used);
        }
    }

    /// Gives back what `ladder` reserved beyond `keep` millicores.
    fn release_to(l: &mut Ladder, used: &mut u32, keep: u32) {
        let back = l.reserved.saturating_sub(keep);
        l.reserved -= back;
        *used = used.saturating_sub(back);
    }

    /// One stream's ladder, from the source's video configuration to the stream's end.
    async fn run(self, key: StreamKey, generation: u64, mut reader: Reader) {
        let playback_id = key.playback_id.clone();
        let source = tokio::time::timeout(CONFIG_TIMEOUT, source_video(&mut reader)).await;
        drop(reader);
        let refuse = |message: String| {
            tracing::info!(%playback_id, "adaptive bitrate not transcoded: {message}");
            self.update(&playback_id, generation, |l, used| {
                l.state = LadderState::Refused;
                l.message = Some(message);
                Self::release_to(l, used, 0);
            });
        };
        let (width, height) = match source {
            Ok(SourceVideo::Avc { width, height }) => {
                self.update(&playback_id, generation, |l, _| {
                    l.source = Some((width, height));
                });
                (width, height)
            }
            Ok(SourceVideo::Other(codec)) => {
                return refuse(format!(
                    "Adaptive bitrate needs H.264 video; this stream is {codec}. Viewers get the source quality only."
                ))
            }
            Ok(SourceVideo::Ended) => {
                self.update(&playback_id, generation, |l, used| {
                    l.state = LadderState::Ended;
                    Self::release_to(l, used, 0);
                });
                return;
            }
            Err(_) => {
                return refuse(
                    "The stream sent no H.264 video configuration within 30 seconds.".into(),
                )
            }
        };
        let mut rungs = Vec::new();
        let mut skipped = Vec::new();
        let mut keep = 0u32;
        {
            let s = self.lock();
            if let Some(l) = s.streams.get(&playback_id) {
                for r in &l.ladder {
                    if r.height() < height {
                        rungs.push(*r);
                        keep += (r.estimated_cores() * 1000.0).round() as u32;
                    } else {
                        skipped.push(r.name());
                    }
                }
            }
        }
        if rungs.is_empty() {
            return refuse(format!(
                "The source ({width}×{height}) is no larger than the ladder's rungs ({}): viewers get the source quality, which is all there is.",
                skipped.join(", ")
            ));
        }
        self.update(&playback_id, generation, |l, used| {
            l.state = LadderState::Running;
            l.message = (!skipped.is_empty()).then(|| {
                format!(
                    "{} skipped: the source is {width}×{height} and nothing is scaled up.",
                    skipped.join(", ")
                )
            });
            l.renditions = rungs
                .iter()
                .map(|r| RenditionView {
                    name: r.name(),
                    width: None,
                    height: None,
                    video_kbps: r.video_kbps(),
                    restarts: 0,
                })
                .collect();
            Self::release_to(l, used, keep);
        });
        tracing::info!(%playback_id, rungs = ?rungs.iter().map(|r| r.name()).collect::<Vec<_>>(), "adaptive bitrate: transcoding");
        let tasks: Vec<_> = rungs
            .into_iter()
            .map(|rung| {
                let t = self.clone();
                let key = key.clone();
                tokio::spawn(async move { t.run_rung(key, generation, rung).await })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
        self.update(&playback_id, generation, |l, used| {
            l.state = LadderState::Ended;
            Self::release_to(l, used, 0);
        });
    }

    /// One rung: its ffmpeg, restarted while the stream is live; its rendition in the hub.
    async fn run_rung(self, key: StreamKey, generation: u64, rung: Rung) {
        let playback_id = key.playback_id.clone();
        let rendition = StreamKey {
            playback_id: rendition_id(&playback_id, rung),
            source_id: key.source_id,
            relay: false,
        };
        // A previous session's rendition may take a moment to end (its ffmpeg flushing).
        let mut tries = 0;
        let publisher = loop {
            match self.hub.publish(rendition.clone()) {
                Ok(p) => break p,
                Err(e) if tries >= 50 => {
                    tracing::warn!(%playback_id, rung = rung.name(), error = %e, "rendition not started");
                    return;
                }
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let mut tracker = crate::slate::Tracker::new();
        let mut fruitless = 0u32;
        let mut pause = Duration::from_millis(500);
        loop {
            let Some(reader) = self
                .source
                .subscribe(&playback_id)
                .filter(|r| r.generation() == generation)
            else {
                return;
            };
            let started = Instant::now();
            let outcome = run_ffmpeg(reader, rung, &publisher, &mut tracker, |w, h| {
                self.update(&playback_id, generation, |l, _| {
                    if let Some(r) = l.renditions.iter_mut().find(|r| r.name == rung.name()) {
                        (r.width, r.height) = (Some(w), Some(h));
                    }
                });
            })
            .await;
            match outcome {
                FfmpegEnd::SourceEnded => return,
                FfmpegEnd::Exited { produced, error } => {
                    if produced && started.elapsed() > Duration::from_secs(30) {
                        fruitless = 0;
                        pause = Duration::from_millis(500);
                    } else {
                        fruitless += 1;
                    }
                    if fruitless >= MAX_FRUITLESS {
                        tracing::warn!(%playback_id, rung = rung.name(), %error, "rendition given up: its ffmpeg keeps failing");
                        self.update(&playback_id, generation, |l, _| {
                            l.renditions.retain(|r| r.name != rung.name());
                            l.message = Some(format!(
                                "{} stopped: its transcoder kept failing ({error}).",
                                rung.name()
                            ));
                        });
                        return;
                    }
                    tracing::warn!(%playback_id, rung = rung.name(), %error, pause_ms = pause.as_millis() as u64, "rendition's ffmpeg ended; restarting it");
                    self.stats.restarts.fetch_add(1, Ordering::Relaxed);
                    self.update(&playback_id, generation, |l, _| {
                        if let Some(r) = l.renditions.iter_mut().find(|r| r.name == rung.name()) {
                            r.restarts += 1;
                        }
                    });
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_BACKOFF);
                    tracker.begin_input();
                }
            }
        }
    }
}

enum SourceVideo {
    Avc { width: u32, height: u32 },
    Other(String),
    Ended,
}

/// Reads the source until its video configuration: the H.264 picture size, or the codec.
async fn source_video(reader: &mut Reader) -> SourceVideo {
    loop {
        let frame = match reader.recv().await {
            Ok(f) => f,
            Err(_) => return SourceVideo::Ended,
        };
        if frame.kind != FrameKind::Video || !frame.sequence_header {
            continue;
        }
        let Ok(tag) = VideoTag::parse(&frame.data) else {
            continue;
        };
        if tag.codec != VideoCodec::Avc {
            return SourceVideo::Other(tag.codec.name().to_uppercase());
        }
        match AvcDecoderConfig::parse(tag.payload(&frame.data)).and_then(|c| c.parse_sps()) {
            Ok(sps) => {
                return SourceVideo::Avc {
                    width: sps.width,
                    height: sps.height,
                }
            }
            Err(e) => return SourceVideo::Other(format!("H.264 with an unreadable SPS ({e})")),
        }
    }
}

enum FfmpegEnd {
    SourceEnded,
    Exited { produced: bool, error: String },
}

/// ffmpeg transcoding one rung: FLV in on stdin, FLV out on stdout.
fn rung_command(rung: Rung) -> tokio::process::Command {
    let kbps = rung.video_kbps();
    let mut c = tokio::process::Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(["-analyzeduration", "1000000", "-copyts"])
        .args(["-f", "flv", "-i", "pipe:0"])
        .args(["-map", "0:v:0", "-map", "0:a:0?"])
        .arg("-vf")
        .arg(format!("scale=-2:{}", rung.height()))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
        ])
        .args(["-pix_fmt", "yuv420p", "-force_key_frames", "source"])
        .args(["-x264-params", "scenecut=0"])
        .arg("-b:v")
        .arg(format!("{kbps}k"))
        .arg("-maxrate")
        .arg(format!("{}k", kbps * 6 / 5))
        .arg("-bufsize")
        .arg(format!("{}k", kbps * 2))
        .args(["-c:a", "copy"])
        .args(["-f", "flv", "-flvflags", "no_duration_filesize", "pipe:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Runs one ffmpeg for `rung` until the source ends or ffmpeg exits; what it makes goes into
/// `publisher` through `tracker` (continuous across restarts). `sized` hears the rendition's
/// picture size.
async fn run_ffmpeg(
    mut reader: Reader,
    rung: Rung,
    publisher: &ferrocast_hub::Publisher,
    tracker: &mut crate::slate::Tracker,
    sized: impl Fn(u32, u32),
) -> FfmpegEnd {
    let mut child = match rung_command(rung).spawn() {
        Ok(c) => c,
        Err(e) => {
            return FfmpegEnd::Exited {
                produced: false,
                error: format!("cannot start ffmpeg: {e}"),
            }
        }
    };
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return FfmpegEnd::Exited {
            produced: false,
            error: "ffmpeg's pipes are missing".into(),
        };
    };
    // The source, as FLV with its own timestamps, into ffmpeg.
    let feeder = tokio::spawn(async move {
        let mut out = BytesMut::with_capacity(64 * 1024);
        ferrocast_media::flv::write_file_header(
            ferrocast_media::flv::FlvHeader {
                has_audio: true,
                has_video: true,
            },
            &mut out,
        );
        loop {
            if !out.is_empty() {
                if stdin.write_all(&out).await.is_err() {
                    return false;
                }
                out.clear();
            }
            let frame = match reader.recv().await {
                Ok(f) => f,
                Err(ReadEnd::Ended) => return true,
                Err(ReadEnd::TooSlow) => return false,
            };
            let tag = match frame.kind {
                FrameKind::Audio => TagType::AUDIO,
                FrameKind::Video => TagType::VIDEO,
                FrameKind::Data => continue,
            };
            let _ = write_tag(tag, frame.timestamp, &frame.data, &mut out);
        }
    });
    // ffmpeg's complaints, the last few lines of them, for the log.
    let errors = tokio::spawn(async move {
        let mut text = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut text).await;
        String::from_utf8_lossy(&text)
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .join(" / ")
    });
    let mut flv = FlvReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut produced = false;
    let mut sized_once = false;
    loop {
        match stdout.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                flv.push(&buf[..n]);
                loop {
                    let tag = match flv.next_tag() {
                        Ok(Some(t)) => t,
                        Ok(None) => break,
                        Err(_) => {
                            let _ = child.kill().await;
                            break;
                        }
                    };
                    let kind = match tag.tag_type {
                        TagType::VIDEO => FrameKind::Video,
                        TagType::AUDIO => FrameKind::Audio,
                        _ => continue,
                    };
                    let frame = Frame::from_tag(kind, tag.timestamp_ms, tag.body);
                    if !sized_once && frame.kind == FrameKind::Video && frame.sequence_header {
                        if let Some((w, h)) = avc_size(&frame.data) {
                            sized(w, h);
                            sized_once = true;
                        }
                    }
                    produced |= !frame.sequence_header;
                    if let Some(frame) = tracker.admit(frame) {
                        publisher.push(frame);
                    }
                }
            }
        }
    }
    let _ = child.kill().await;
    // The feeder notices a dead ffmpeg at its next write; a source that sends nothing more
    // for a while is not waited for.
    let mut feeder = feeder;
    let source_ended = match tokio::time::timeout(Duration::from_secs(5), &mut feeder).await {
        Ok(r) => matches!(r, Ok(true)),
        Err(_) => {
            feeder.abort();
            false
        }
    };
    let error = tokio::time::timeout(Duration::from_secs(1), errors)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    if source_ended {
        FfmpegEnd::SourceEnded
    } else {
        FfmpegEnd::Exited {
            produced,
            error: if error.is_empty() {
                "ffmpeg ended".into()
            } else {
                error
            },
        }
    }
}

/// The picture size of an H.264 sequence header.
fn avc_size(data: &[u8]) -> Option<(u32, u32)> {
    let tag = VideoTag::parse(data).ok()?;
    let sps = AvcDecoderConfig::parse(tag.payload(data))
        .ok()?
        .parse_sps()
        .ok()?;
    Some((sps.width, sps.height))
}
