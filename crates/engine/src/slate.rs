//! The fallback slate: when an encoder drops without unpublishing (a crash, a lost
//! connection), its stream stays live for a grace period on a slate — a still picture with
//! silence, encoded by a supervised ffmpeg to the stream's own picture size, frame rate and
//! audio format — so destinations, players, HLS and the recording carry on without a break. The
//! encoder's return (a publish with the same key) takes the stream back at its first keyframe:
//! the hub stream, its readers and the destinations' connections are the same ones throughout.
//!
//! Timestamps stay continuous across the hand-overs: each input (encoder, slate, encoder
//! again) is placed after the last frame that went out plus the wall time since, by
//! [`Tracker`]. A clean unpublish (OBS's Stop Streaming), a stop the server asked for (key
//! rotation, End stream, a suspension) and a draining node end the stream at once, as before.
//!
//! The slate covers H.264 streams (with AAC or no audio); another codec ends the stream at once
//! (a codec switch mid-stream would break more players than a short break does).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_hub::{Frame, FrameKind, Publisher};
use ferrocast_media::aac::AudioSpecificConfig;
use ferrocast_media::avc::AvcDecoderConfig;
use ferrocast_media::flv::{FlvReader, TagType, VideoCodec, VideoTag};
use tokio::io::AsyncReadExt;
use tokio::sync::{oneshot, watch};

/// What a stream's slate is: how long it lasts and what it shows.
#[derive(Debug, Clone, Default)]
pub struct SlateSetting {
    /// How long the stream stays on the slate; zero: no slate.
    pub grace: Duration,
    /// The creator's picture (a JPEG, PNG or WebP), fitted into the stream's picture on the
    /// slate's colour; `None`: the colour with "Be right back".
    pub picture: Option<Bytes>,
}

impl SlateSetting {
    /// The slate a publish grant gives its stream.
    pub fn of(grant: &ferrocast_domain::media::PublishGrant) -> Self {
        Self {
            grace: Duration::from_secs(u64::from(grant.slate_secs)),
            picture: grant.slate_picture.clone(),
        }
    }
}

/// The longest grace period a source may set (seconds).
pub const MAX_GRACE_SECS: u32 = 600;
/// The slate's colour (the web app's dark indigo).
pub const SLATE_COLOR: &str = "0x1e1b4b";

/// Keeps a stream's output timeline continuous across inputs, remembers its codec
/// configuration (for the slate's encoding), and holds a new input back until its first
/// keyframe.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    last_out: Option<(u32, Instant)>,
    offset: Option<u32>,
    rebase: bool,
    waiting_keyframe: bool,
    video_config: Option<Bytes>,
    audio_config: Option<Bytes>,
    /// The shortest step between video frames seen (ms), for the slate's frame rate.
    frame_ms: Option<u32>,
    last_video_in: Option<u32>,
}

impl Tracker {
    /// A tracker for a stream's first input.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new input takes over: its timestamps are placed after the last frame out plus the
    /// time since, and (when the stream has video) nothing but configuration goes out until
    /// its first keyframe.
    pub fn begin_input(&mut self) {
        self.rebase = true;
        self.offset = None;
        self.waiting_keyframe = self.video_config.is_some();
        self.last_video_in = None;
    }

    /// Retimes `frame` onto the output timeline; `None` if it is held back (a new input's
    /// frames before its first keyframe).
    pub fn admit(&mut self, mut frame: Frame) -> Option<Frame> {
        if frame.sequence_header {
            match frame.kind {
                FrameKind::Video => self.video_config = Some(frame.data.clone()),
                FrameKind::Audio => self.audio_config = Some(frame.data.clone()),
                FrameKind::Data => {}
            }
        } else if self.waiting_keyframe && frame.kind != FrameKind::Data {
            if !(frame.kind == FrameKind::Video && frame.keyframe) {
                return None;
            }
            self.waiting_keyframe = false;
        }
        if frame.kind == FrameKind::Video && !frame.sequence_header {
            if let Some(prev) = self.last_video_in {
                let step = frame.timestamp.wrapping_sub(prev);
                if (5..=200).contains(&step) {
                    self.frame_ms = Some(self.frame_ms.map_or(step, |f| f.min(step)));
                }
            }
            self.last_video_in = Some(frame.timestamp);
        }
        let offset = *self.offset.get_or_insert_with(|| match self.last_out {
            Some((last, at)) if self.rebase => {
                let elapsed = u32::try_from(at.elapsed().as_millis()).unwrap_or(u32::MAX);
                last.wrapping_add(elapsed.max(1))
                    .wrapping_sub(frame.timestamp)
            }
            _ => 0,
        });
        frame.timestamp = frame.timestamp.wrapping_add(offset);
        let newer = self
            .last_out
            .is_none_or(|(last, _)| frame.timestamp.wrapping_sub(last) < u32::MAX / 2);
        if newer {
            self.last_out = Some((frame.timestamp, Instant::now()));
        }
        Some(frame)
    }

    /// What the slate must match, when the stream is one it can stand in for (H.264 video,
    /// with AAC or no audio).
    fn slate_params(&self) -> Option<SlateParams> {
        let video = self.video_config.as_ref()?;
        let tag = VideoTag::parse(video).ok()?;
        if tag.codec != VideoCodec::Avc {
            return None;
        }
        let sps = AvcDecoderConfig::parse(tag.payload(video))
            .ok()?
            .parse_sps()
            .ok()?;
        let audio = match &self.audio_config {
            Some(a) if a.first().map(|b| b >> 4) == Some(10) => {
                let asc = AudioSpecificConfig::parse(a.get(2..)?).ok()?;
                Some((
                    asc.sampling_frequency,
                    asc.channel_configuration.clamp(1, 2),
                ))
            }
            Some(_) => return None,
            None => None,
        };
        let fps = self
            .frame_ms
            .map_or(30, |ms| (1000 + ms / 2) / ms)
            .clamp(1, 60);
        Some(SlateParams {
            width: sps.width,
            height: sps.height,
            fps,
            audio,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlateParams {
    width: u32,
    height: u32,
    fps: u32,
    /// Sample rate and channels.
    audio: Option<(u32, u8)>,
}

/// A stream kept on the slate: its publisher and tracker come back when it is taken.
struct Holding {
    take: oneshot::Sender<oneshot::Sender<(Publisher, Tracker)>>,
}

/// The streams on a slate now, by playback id.
#[derive(Clone, Default)]
pub struct Slates {
    held: Arc<Mutex<HashMap<String, Holding>>>,
    /// True once the node drains: no new slates, and held streams end.
    draining: Arc<Mutex<Option<watch::Receiver<bool>>>>,
}

impl Slates {
    /// Ends every slate, and starts none, once `draining` turns true.
    pub fn stop_on(&self, draining: watch::Receiver<bool>) {
        *self.draining.lock().unwrap_or_else(|p| p.into_inner()) = Some(draining);
    }

    fn draining(&self) -> Option<watch::Receiver<bool>> {
        self.draining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The encoder of `publisher`'s stream dropped without unpublishing: keeps the stream on
    /// `slate` for its grace period on `runtime`, or ends it at once (grace 0, a stop the
    /// server asked for, a draining node, a stream the slate cannot match).
    pub fn hold(
        &self,
        runtime: &tokio::runtime::Handle,
        publisher: Publisher,
        tracker: Tracker,
        slate: &SlateSetting,
    ) {
        let grace = slate.grace;
        let picture = slate.picture.clone();
        let playback_id = publisher.key().playback_id.clone();
        let draining = self.draining();
        let stopped = publisher.stop_signal().borrow().is_some()
            || draining.as_ref().is_some_and(|d| *d.borrow());
        let params = tracker.slate_params();
        let Some(params) = params.filter(|_| !grace.is_zero() && !stopped) else {
            if !grace.is_zero() && !stopped {
                tracing::info!(%playback_id, "no slate: the stream is not H.264 with AAC");
            }
            return;
        };
        let (take_tx, take_rx) = oneshot::channel();
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(playback_id.clone(), Holding { take: take_tx });
        let held = self.held.clone();
        tracing::info!(%playback_id, grace_secs = grace.as_secs(), "encoder dropped: the stream continues on the slate");
        runtime.spawn(async move {
            let outcome = run_slate(
                publisher, tracker, params, picture, grace, take_rx, draining,
            )
            .await;
            let mut map = held.lock().unwrap_or_else(|p| p.into_inner());
            // The entry is this slate's unless it was taken (then it is gone already).
            if outcome == SlateEnd::Expired {
                map.remove(&playback_id);
                tracing::info!(%playback_id, "the slate's grace period ended: stream offline");
            }
        });
    }

    /// A publisher returned for `playback_id`: the held stream (its publisher and tracker, the
    /// slate stopped), if it is on a slate.
    pub async fn take(&self, playback_id: &str) -> Option<(Publisher, Tracker)> {
        let holding = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(playback_id)?;
        let (tx, rx) = oneshot::channel();
        holding.take.send(tx).ok()?;
        let back = rx.await.ok();
        if back.is_some() {
            tracing::info!(%playback_id, "encoder back: the slate hands the stream over");
        }
        back
    }
}

#[derive(Debug, PartialEq, Eq)]
enum SlateEnd {
    Taken,
    Expired,
}

/// Feeds the slate into the stream until it is taken (the publisher goes back to the taker),
/// the grace period ends, the server stops the stream or the node drains.
async fn run_slate(
    publisher: Publisher,
    mut tracker: Tracker,
    params: SlateParams,
    mut picture: Option<Bytes>,
    grace: Duration,
    mut take: oneshot::Receiver<oneshot::Sender<(Publisher, Tracker)>>,
    draining: Option<watch::Receiver<bool>>,
) -> SlateEnd {
    let playback_id = publisher.key().playback_id.clone();
    let deadline = tokio::time::Instant::now() + grace;
    let mut stop = publisher.stop_signal();
    let mut draining = draining.unwrap_or_else(|| watch::channel(false).1);
    tracker.begin_input();
    let mut attempt = 0u32;
    let mut caption = true;
    loop {
        let mut child = match slate_command(&params, caption, picture.is_some()).spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(%playback_id, error = %e, "cannot start ffmpeg for the slate");
                return SlateEnd::Expired;
            }
        };
        // The picture goes in on standard input, which then closes: ffmpeg holds its one
        // frame for as long as the slate runs.
        if let (Some(picture), Some(mut stdin)) = (picture.clone(), child.stdin.take()) {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let _ = stdin.write_all(&picture).await;
            });
        }
        let Some(mut stdout) = child.stdout.take() else {
            return SlateEnd::Expired;
        };
        let mut reader = FlvReader::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut produced = false;
        let end = loop {
            tokio::select! {
                r = stdout.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => {
                        reader.push(&buf[..n]);
                        while let Ok(Some(tag)) = reader.next_tag() {
                            let kind = match tag.tag_type {
                                TagType::VIDEO => FrameKind::Video,
                                TagType::AUDIO => FrameKind::Audio,
                                _ => continue,
                            };
                            let frame = Frame::from_tag(kind, tag.timestamp_ms, tag.body);
                            produced = true;
                            if let Some(frame) = tracker.admit(frame) {
                                publisher.push(frame);
                            }
                        }
                    }
                },
                reply = &mut take => {
                    break Some(reply.ok());
                }
                _ = tokio::time::sleep_until(deadline) => break Some(None),
                _ = stop.wait_for(Option::is_some) => break Some(None),
                _ = draining.wait_for(|d| *d) => break Some(None),
            }
        };
        let _ = child.kill().await;
        match end {
            Some(Some(reply)) => {
                let _ = reply.send((publisher, tracker));
                return SlateEnd::Taken;
            }
            Some(None) => return SlateEnd::Expired,
            None => {
                // ffmpeg ended by itself: start it again, a few times, with a pause; without
                // the caption if it never produced a frame (no font for drawtext), and without
                // the creator's picture if that never made a frame either (it could not be
                // read): the default slate.
                if !produced && picture.take().is_none() {
                    caption = false;
                }
                attempt += 1;
                if attempt > 3 {
                    tracing::warn!(%playback_id, "the slate's ffmpeg keeps failing: stream offline");
                    return SlateEnd::Expired;
                }
                tracing::warn!(%playback_id, attempt, "the slate's ffmpeg ended; restarting it");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                tracker.begin_input();
            }
        }
    }
}

/// ffmpeg making the slate: the colour, with the creator's picture (read from standard input)
/// fitted into the middle when `picture`, else "Be right back" when `caption` (in the system's
/// sans-serif font); and silence; in real time, as FLV on stdout, with a keyframe every
/// second.
fn slate_command(p: &SlateParams, caption: bool, picture: bool) -> tokio::process::Command {
    let (w, h) = (p.width.max(16) & !1, p.height.max(16) & !1);
    let mut c = tokio::process::Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(["-re", "-f", "lavfi", "-i"])
        .arg(format!("color=c={SLATE_COLOR}:s={w}x{h}:r={}", p.fps));
    if let Some((rate, channels)) = p.audio {
        c.args(["-f", "lavfi", "-i"]).arg(format!(
            "anullsrc=r={rate}:cl={}",
            if channels == 1 { "mono" } else { "stereo" }
        ));
    }
    let video = if picture {
        // Input 1 or 2: one picture, by its own magic (PNG, JPEG or WebP), nothing but the
        // pipe. overlay repeats its last frame once the picture's input has ended.
        c.args([
            "-protocol_whitelist",
            "pipe",
            "-f",
            "image2pipe",
            "-i",
            "pipe:0",
        ]);
        let input = if p.audio.is_some() { 2 } else { 1 };
        format!(
            "[{input}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,setsar=1[pic];\
             [0:v][pic]overlay=x=(W-w)/2:y=(H-h)/2:eof_action=repeat,format=yuv420p[v]"
        )
    } else if caption {
        "[0:v]drawtext=text='Be right back':fontcolor=white:fontsize=h/14:x=(w-text_w)/2:y=(h-text_h)/2[v]".into()
    } else {
        "[0:v]null[v]".into()
    };
    c.arg("-filter_complex").arg(video).args(["-map", "[v]"]);
    if p.audio.is_some() {
        c.args(["-map", "1:a"]);
    }
    c.args([
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
    ])
    .args(["-pix_fmt", "yuv420p", "-g"])
    .arg(p.fps.to_string());
    if p.audio.is_some() {
        c.args(["-c:a", "aac", "-b:a", "64k"]);
    }
    c.args(["-f", "flv", "pipe:1"])
        .stdin(if picture {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    c
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frame(kind: FrameKind, ts: u32, data: &'static [u8]) -> Frame {
        Frame::from_tag(kind, ts, Bytes::from_static(data))
    }

    #[test]
    fn a_new_input_continues_the_timeline_from_its_first_keyframe() {
        let mut t = Tracker::new();
        assert_eq!(
            t.admit(frame(FrameKind::Video, 0, &[0x17, 0, 0, 0, 0]))
                .unwrap()
                .timestamp,
            0
        );
        assert_eq!(
            t.admit(frame(FrameKind::Video, 5000, &[0x17, 1, 0, 0, 0]))
                .unwrap()
                .timestamp,
            5000
        );
        assert_eq!(
            t.admit(frame(FrameKind::Video, 5033, &[0x27, 1, 0, 0, 0]))
                .unwrap()
                .timestamp,
            5033
        );
        t.begin_input();
        // The new input starts at 0: its configuration passes, its frames wait for a keyframe.
        assert!(t
            .admit(frame(FrameKind::Video, 0, &[0x17, 0, 0, 0, 0]))
            .is_some());
        assert!(t.admit(frame(FrameKind::Audio, 10, &[0xAF, 1])).is_none());
        assert!(t
            .admit(frame(FrameKind::Video, 20, &[0x27, 1, 0, 0, 0]))
            .is_none());
        let key = t
            .admit(frame(FrameKind::Video, 40, &[0x17, 1, 0, 0, 0]))
            .unwrap();
        assert!(key.timestamp > 5033, "{}", key.timestamp);
        let next = t
            .admit(frame(FrameKind::Video, 73, &[0x27, 1, 0, 0, 0]))
            .unwrap();
        assert_eq!(next.timestamp - key.timestamp, 33);
        assert_eq!(t.frame_ms, Some(33));
    }
}
