//! Radio stations: a hub stream of audio that never ends while the station is on. It plays the
//! station's tracks one after another, going round the playlist ([`RadioLibrary`]), and while a
//! DJ's stream is live it carries the DJ's audio instead, handing back to the playlist when the
//! DJ leaves. Listeners (HLS, the Icecast-compatible stream, HTTP-FLV) read one stream
//! throughout: the hand-overs happen inside it, with the timeline kept continuous by the
//! slate's [`Tracker`], so no listener's connection drops.
//!
//! Each track is paced in real time by an ffmpeg that copies its AAC (stored as ADTS) into FLV;
//! a track that cannot be read is skipped. The station's stream belongs to no source
//! (`source_id` 0): it has no session, usage, recording or restream of its own.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use ferrocast_domain::media::{RadioLibrary, RadioTrack};
use ferrocast_hub::{Frame, FrameKind, HubError, Publisher, ReadEnd, StreamKey};
use ferrocast_media::flv::{FlvReader, TagType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::slate::Tracker;
use crate::Engine;

/// How often a playing station looks whether its DJ went live.
pub const DJ_POLL: Duration = Duration::from_secs(1);
/// How long a station waits for its library before trying again.
const LIBRARY_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before asking again when there is nothing to play or the library failed.
const IDLE_RETRY: Duration = Duration::from_secs(2);

/// What a station plays now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnAir {
    /// A track of the playlist.
    Track {
        /// Its id.
        id: i64,
        /// What listeners are told.
        title: String,
    },
    /// The DJ's live stream.
    Dj,
    /// Nothing (no track to play).
    Nothing,
}

/// A station on the air; dropping it takes the station off the air.
pub struct Station {
    dj: watch::Sender<Option<String>>,
    on_air: watch::Receiver<OnAir>,
    stop: watch::Sender<bool>,
    playback_id: String,
}

impl Station {
    /// Puts station `station` on the air as the hub stream `playback_id`, playing `library`'s
    /// tracks, with `dj` (a playback id) taking over while it is live. Fails when the stream is
    /// already published.
    pub fn start(
        engine: &Engine,
        station: i64,
        playback_id: &str,
        dj: Option<String>,
        library: Arc<dyn RadioLibrary>,
    ) -> Result<Station, HubError> {
        let publisher = engine.hub.publish(StreamKey {
            playback_id: playback_id.to_string(),
            source_id: 0,
            relay: false,
        })?;
        let (dj_tx, dj_rx) = watch::channel(dj);
        let (on_air_tx, on_air) = watch::channel(OnAir::Nothing);
        let (stop, stop_rx) = watch::channel(false);
        let dj_live = watch_dj(engine.clone(), dj_rx.clone(), stop_rx.clone());
        let run = Run {
            engine: engine.clone(),
            station,
            publisher,
            library,
            dj: dj_rx,
            dj_live,
            on_air: on_air_tx,
            stop: stop_rx,
            tracker: Tracker::new(),
        };
        tokio::spawn(run.run());
        Ok(Station {
            dj: dj_tx,
            on_air,
            stop,
            playback_id: playback_id.to_string(),
        })
    }

    /// Changes the DJ's stream (`None`: no DJ).
    pub fn set_dj(&self, dj: Option<String>) {
        self.dj.send_if_modified(|d| {
            let changed = *d != dj;
            *d = dj;
            changed
        });
    }

    /// What the station plays, as it changes.
    pub fn on_air(&self) -> watch::Receiver<OnAir> {
        self.on_air.clone()
    }

    /// The station's stream.
    pub fn playback_id(&self) -> &str {
        &self.playback_id
    }
}

impl Drop for Station {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// How a track or the DJ's turn ended.
enum Turn {
    /// It played out (or could not be played): on to the next.
    Done,
    /// The DJ went live: hand over.
    Dj,
    /// The station is off the air.
    Stop,
}

/// Whether the DJ's stream is live, looked at every [`DJ_POLL`] (and at once when the DJ
/// changes) by a task of its own, so that pulling the stream from another node never holds up
/// the audio.
fn watch_dj(
    engine: Engine,
    mut dj: watch::Receiver<Option<String>>,
    mut stop: watch::Receiver<bool>,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DJ_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopped = tokio::select! {
                _ = tick.tick() => false,
                r = dj.changed() => r.is_err(),
                _ = async { let _ = stop.wait_for(|s| *s).await; } => true,
            };
            if stopped || tx.is_closed() {
                return;
            }
            let current = dj.borrow().clone();
            let live = match current {
                Some(d) => engine.ensure_live(&d).await,
                None => false,
            };
            tx.send_if_modified(|l| std::mem::replace(l, live) != live);
        }
    });
    rx
}

struct Run {
    engine: Engine,
    station: i64,
    publisher: Publisher,
    library: Arc<dyn RadioLibrary>,
    dj: watch::Receiver<Option<String>>,
    dj_live: watch::Receiver<bool>,
    on_air: watch::Sender<OnAir>,
    stop: watch::Receiver<bool>,
    tracker: Tracker,
}

impl Run {
    async fn run(mut self) {
        let playback_id = self.publisher.key().playback_id.clone();
        tracing::info!(%playback_id, station = self.station, "radio station on the air");
        let mut after = None;
        loop {
            if self.stopped() {
                break;
            }
            if let Some(reader) = self.dj_reader() {
                self.on_air.send_replace(OnAir::Dj);
                tracing::info!(%playback_id, "the DJ takes the air");
                if let Turn::Stop = self.forward_dj(reader).await {
                    break;
                }
                tracing::info!(%playback_id, "the DJ left; back to the playlist");
                continue;
            }
            let next =
                tokio::time::timeout(LIBRARY_TIMEOUT, self.library.next(self.station, after)).await;
            let turn = match next {
                Ok(Ok(Some(track))) => {
                    after = Some(track.id);
                    self.on_air.send_replace(OnAir::Track {
                        id: track.id,
                        title: track.title.clone(),
                    });
                    self.play(track).await
                }
                Ok(Ok(None)) => {
                    self.on_air.send_replace(OnAir::Nothing);
                    self.idle().await
                }
                Ok(Err(e)) => {
                    tracing::warn!(%playback_id, error = %e, "the radio's library cannot be read");
                    self.idle().await
                }
                Err(_) => {
                    tracing::warn!(%playback_id, "the radio's library did not answer in time");
                    self.idle().await
                }
            };
            if let Turn::Stop = turn {
                break;
            }
        }
        tracing::info!(%playback_id, "radio station off the air");
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow() || self.publisher.stop_signal().borrow().is_some()
    }

    /// The DJ's stream, when one is set and live (pulled here already by [`watch_dj`]).
    fn dj_reader(&self) -> Option<ferrocast_hub::Reader> {
        if !*self.dj_live.borrow() {
            return None;
        }
        let dj = self.dj.borrow().clone()?;
        self.engine.hub.subscribe(&dj)
    }

    /// Waits a moment (or for the station to stop, or its DJ to change).
    async fn idle(&mut self) -> Turn {
        let mut hub_stop = self.publisher.stop_signal();
        tokio::select! {
            _ = tokio::time::sleep(IDLE_RETRY) => Turn::Done,
            _ = self.dj.changed() => Turn::Done,
            _ = self.dj_live.changed() => Turn::Done,
            _ = self.stop.wait_for(|s| *s) => Turn::Stop,
            _ = hub_stop.wait_for(Option::is_some) => Turn::Stop,
        }
    }

    /// Plays one track in real time, until it ends, the DJ goes live or the station stops.
    async fn play(&mut self, track: RadioTrack) -> Turn {
        let playback_id = self.publisher.key().playback_id.clone();
        let mut child = match track_command().spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(%playback_id, error = %e, "cannot start ffmpeg for the radio");
                return self.idle().await;
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            let audio = track.audio.clone();
            tokio::spawn(async move {
                let _ = stdin.write_all(&audio).await;
            });
        }
        let Some(mut stdout) = child.stdout.take() else {
            return Turn::Done;
        };
        self.tracker.begin_input();
        let mut reader = FlvReader::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut hub_stop = self.publisher.stop_signal();
        let mut stop = self.stop.clone();
        let mut produced = false;
        let turn = loop {
            tokio::select! {
                r = stdout.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break Turn::Done,
                    Ok(n) => {
                        reader.push(&buf[..n]);
                        loop {
                            match reader.next_tag() {
                                Ok(Some(tag)) if tag.tag_type == TagType::AUDIO => {
                                    let frame = Frame::from_tag(FrameKind::Audio, tag.timestamp_ms, tag.body);
                                    produced = true;
                                    if let Some(frame) = self.tracker.admit(frame) {
                                        self.publisher.push(frame);
                                    }
                                }
                                Ok(Some(_)) => {}
                                Ok(None) => break,
                                Err(_) => break,
                            }
                        }
                    }
                },
                _ = self.dj_live.wait_for(|l| *l) => break Turn::Dj,
                _ = stop.wait_for(|s| *s) => break Turn::Stop,
                _ = hub_stop.wait_for(Option::is_some) => break Turn::Stop,
            }
        };
        let _ = child.kill().await;
        if !produced && matches!(turn, Turn::Done) {
            tracing::warn!(%playback_id, track = track.id, "a radio track could not be played; skipped");
            // A playlist of unplayable tracks must not spin.
            return self.idle().await;
        }
        turn
    }

    /// Carries the DJ's audio until their stream ends or the station stops.
    async fn forward_dj(&mut self, mut dj: ferrocast_hub::Reader) -> Turn {
        self.tracker.begin_input();
        let mut hub_stop = self.publisher.stop_signal();
        loop {
            tokio::select! {
                r = dj.recv() => match r {
                    Ok(frame) if frame.kind == FrameKind::Audio => {
                        if let Some(frame) = self.tracker.admit(frame) {
                            self.publisher.push(frame);
                        }
                    }
                    Ok(_) => {}
                    Err(ReadEnd::Ended) | Err(ReadEnd::TooSlow) => return Turn::Done,
                },
                // Another DJ source, or none: back to the playlist (or to the new DJ).
                _ = self.dj.changed() => return Turn::Done,
                _ = self.stop.wait_for(|s| *s) => return Turn::Stop,
                _ = hub_stop.wait_for(Option::is_some) => return Turn::Stop,
            }
        }
    }
}

/// ffmpeg copying a stored track (AAC in ADTS, on standard input) into FLV on standard output,
/// in real time, each packet written as it is made.
fn track_command() -> tokio::process::Command {
    let mut c = tokio::process::Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(["-re", "-f", "aac", "-i", "pipe:0"])
        .args(["-map", "0:a:0", "-c:a", "copy", "-flush_packets", "1"])
        .args(["-f", "flv", "pipe:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    c
}
