//! Radio: each creator may run an audio channel that plays their uploaded tracks without end, as
//! HLS audio (`/hls/<playback_id>/index.m3u8`) and an Icecast-compatible AAC stream
//! (`/radio/<handle>/live.aac`), with what is playing told over Socket.IO (`now-playing`, in the
//! room `radio:<user id>`). A DJ publishing to the source the creator names takes the air while
//! live and hands back to the playlist when they stop; listeners stay connected throughout (the
//! engine's [`ferrocast_engine::radio`] does the hand-overs inside one stream).
//!
//! Uploaded tracks are probed (ffprobe: an audio stream, at most [`MAX_TRACK_MS`]) and encoded
//! once to AAC-LC at 48 kHz stereo in ADTS, stored under `radio/<user uuid>/<random>.aac`. One
//! node plays every station, by the radio lease (taken and renewed like the Telegram bot's);
//! the others serve listeners by relaying the stations' streams like any live stream.

use super::clock::SharedClock;
pub use super::events::NowPlaying;
use super::events::{Fanout, RealtimeEvent};
use ferrocast_db::radio::{StationRecord, TrackRecord};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::media::{PortFuture, RadioLibrary, RadioTrack};
use ferrocast_engine::radio::{OnAir, Station};
use ferrocast_engine::Engine;
use ferrocast_storage::{Storage, StorageError};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use utoipa::ToSchema;

/// The largest track upload (bytes).
pub const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024;
/// The longest track (ms): an hour.
pub const MAX_TRACK_MS: i64 = 3_600_000;
/// Tracks a station holds at most.
pub const MAX_TRACKS: usize = 500;
/// The largest stored track read back to play (a one-hour track at 160 kbit/s is ~72 MB).
const MAX_STORED_BYTES: u64 = 96 * 1024 * 1024;
/// How long the radio lease lasts unless renewed.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often the runner renews its lease and looks at the stations again.
const SYNC_EVERY: Duration = Duration::from_secs(5);

/// Why a radio request failed.
#[derive(Debug, thiserror::Error)]
pub enum RadioError {
    /// No such station or track.
    #[error("not found")]
    NotFound,
    /// A field is not acceptable (the sentence names it and what to do).
    #[error("{0}")]
    Invalid(String),
    /// The upload is not audio that can be played (the sentence says why).
    #[error("{0}")]
    NotAudio(String),
    /// Database failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// ffmpeg could not run.
    #[error("{0}")]
    Media(String),
}

/// A track as its owner sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrackView {
    /// Its id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its artist (may be empty).
    pub artist: String,
    /// How long it plays (ms).
    pub duration_ms: i64,
}

impl From<&TrackRecord> for TrackView {
    fn from(t: &TrackRecord) -> Self {
        Self {
            id: t.id,
            title: t.title.clone(),
            artist: t.artist.clone(),
            duration_ms: t.duration_ms,
        }
    }
}

/// The name a track is announced by.
pub fn announce(title: &str, artist: &str) -> String {
    if artist.is_empty() {
        title.to_string()
    } else {
        format!("{artist} – {title}")
    }
}

/// The radio service: tracks, settings, and (on the node holding the lease) the stations on
/// the air.
pub struct Radio {
    db: Db,
    storage: Storage,
    clock: SharedClock,
    engine: Engine,
    fanout: Arc<dyn Fanout>,
    work: PathBuf,
    holder: String,
    /// Stations on the air on this node, by creator.
    stations: Mutex<HashMap<i64, Station>>,
    /// What each station plays, as every node last heard (for the Icecast stream's titles).
    titles: Mutex<HashMap<i64, watch::Sender<Option<String>>>>,
    /// Wakes the runner after a change.
    changed: Notify,
}

impl Radio {
    /// The service; `work` is where uploads are staged while they are encoded.
    pub fn new(
        db: Db,
        storage: Storage,
        clock: SharedClock,
        engine: Engine,
        fanout: Arc<dyn Fanout>,
        work: PathBuf,
    ) -> Self {
        let holder = format!("{}:{}", fanout.node(), uuid::Uuid::new_v4().simple());
        Self {
            db,
            storage,
            clock,
            engine,
            fanout,
            work,
            holder,
            stations: Mutex::default(),
            titles: Mutex::default(),
            changed: Notify::new(),
        }
    }

    /// A creator's station, made (off the air) on first use.
    pub async fn station(&self, user_id: i64) -> Result<StationRecord, RadioError> {
        if let Some(s) = self.db.station_of(user_id).await? {
            return Ok(s);
        }
        let playback_id = format!("radio-{}", uuid::Uuid::new_v4().simple());
        Ok(self
            .db
            .ensure_station(user_id, &playback_id, self.clock.now_ms())
            .await?)
    }

    /// Changes a creator's station: its title, whether it plays, and the DJ's source (one of
    /// theirs).
    pub async fn configure(
        &self,
        user_id: i64,
        title: &str,
        enabled: bool,
        dj_source_id: Option<i64>,
    ) -> Result<StationRecord, RadioError> {
        let title = title.trim();
        if title.chars().count() > 100 || title.chars().any(char::is_control) {
            return Err(RadioError::Invalid(
                "title: at most 100 characters, on one line.".into(),
            ));
        }
        if let Some(id) = dj_source_id {
            let mine = self
                .db
                .source_by_id(id)
                .await?
                .is_some_and(|s| s.user_id == user_id);
            if !mine {
                return Err(RadioError::Invalid(
                    "dj_source_id: not one of your sources; pick one from GET /api/sources.".into(),
                ));
            }
        }
        self.station(user_id).await?;
        self.db
            .update_station(user_id, title, enabled, dj_source_id)
            .await?;
        self.changed.notify_one();
        self.station(user_id).await
    }

    /// A station's tracks in playing order.
    pub async fn tracks(&self, user_id: i64) -> Result<Vec<TrackRecord>, RadioError> {
        Ok(self.db.tracks_of(user_id).await?)
    }

    /// Adds an uploaded file (`file`, staged) at the end of a creator's playlist: probed,
    /// encoded to AAC, stored. `name` is the file's name, the title when it has no tag.
    pub async fn add_track(
        &self,
        user_id: i64,
        user_uuid: &str,
        file: &Path,
        name: &str,
    ) -> Result<TrackRecord, RadioError> {
        if self.db.tracks_of(user_id).await?.len() >= MAX_TRACKS {
            return Err(RadioError::Invalid(format!(
                "a station holds at most {MAX_TRACKS} tracks; delete some first."
            )));
        }
        let probe = super::processing::probe_file(file, Duration::from_secs(30))
            .await
            .map_err(|e| RadioError::Media(e.message))?
            .map_err(RadioError::NotAudio)?;
        if probe.audio_codec.is_none() {
            return Err(RadioError::NotAudio(
                "The file has no audio stream: upload an audio file (MP3, AAC, Ogg, FLAC, WAV…)."
                    .into(),
            ));
        }
        if probe.duration_ms > MAX_TRACK_MS {
            return Err(RadioError::NotAudio(
                "The track lasts more than an hour; upload a shorter one.".into(),
            ));
        }
        let out = Staged(file.with_extension("radio.aac"));
        let result = async {
            encode_track(file, &out.0, probe.duration_ms).await?;
            let key = format!("radio/{user_uuid}/{}.aac", uuid::Uuid::new_v4().simple());
            self.storage.put_file(&key, &out.0).await?;
            let title = probe.title.clone().unwrap_or_else(|| title_from_name(name));
            let artist = probe.artist.clone().unwrap_or_default();
            let id = self
                .db
                .add_track(
                    user_id,
                    &title,
                    &artist,
                    probe.duration_ms,
                    &key,
                    self.clock.now_ms(),
                )
                .await?;
            Ok::<_, RadioError>(id)
        }
        .await;
        drop(out);
        let id = result?;
        self.changed.notify_one();
        self.db
            .tracks_of(user_id)
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or(RadioError::NotFound)
    }

    /// Deletes one of a creator's tracks and its audio.
    pub async fn delete_track(&self, user_id: i64, id: i64) -> Result<(), RadioError> {
        let key = self
            .db
            .delete_track(user_id, id)
            .await?
            .ok_or(RadioError::NotFound)?;
        self.storage.delete(&key).await?;
        self.changed.notify_one();
        Ok(())
    }

    /// Puts a creator's tracks in the order of `ids` (all of them, each once).
    pub async fn order(&self, user_id: i64, ids: &[i64]) -> Result<(), RadioError> {
        let mut seen = ids.to_vec();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != ids.len() || !self.db.order_tracks(user_id, ids).await? {
            return Err(RadioError::Invalid(
                "ids: name every track of your station once, in the order wanted.".into(),
            ));
        }
        Ok(())
    }

    /// The station's title as the Icecast stream announces it, as it changes.
    pub fn titles(&self, user_id: i64, now: Option<String>) -> watch::Receiver<Option<String>> {
        let mut titles = self.titles.lock().unwrap_or_else(|p| p.into_inner());
        titles
            .entry(user_id)
            .or_insert_with(|| watch::channel(now).0)
            .subscribe()
    }

    /// Notes a change of what a station plays, heard from any node.
    fn heard(&self, user_id: i64, title: Option<String>) {
        let titles = self.titles.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = titles.get(&user_id) {
            t.send_replace(title);
        }
    }

    /// Brings the stations on the air here in line with the database: starts the enabled ones
    /// (with a track or a DJ), stops the others, and points each at its DJ's stream.
    async fn sync(self: &Arc<Self>) -> Result<(), DbError> {
        let wanted = self.db.stations_on_air().await?;
        let mut plan = Vec::new();
        for s in wanted {
            let has_tracks = !self.db.tracks_of(s.user_id).await?.is_empty();
            let dj = match s.dj_source_id {
                Some(id) => self.db.source_by_id(id).await?.map(|src| src.playback_id),
                None => None,
            };
            if has_tracks || dj.is_some() {
                plan.push((s, dj));
            }
        }
        let mut started = Vec::new();
        {
            let mut stations = self.stations.lock().unwrap_or_else(|p| p.into_inner());
            stations.retain(|user, st| {
                plan.iter()
                    .any(|(s, _)| s.user_id == *user && s.playback_id == st.playback_id())
            });
            for (s, dj) in plan {
                if let Some(st) = stations.get(&s.user_id) {
                    st.set_dj(dj);
                    continue;
                }
                let library: Arc<dyn RadioLibrary> = Arc::new(Library {
                    db: self.db.clone(),
                    storage: self.storage.clone(),
                });
                match Station::start(&self.engine, s.user_id, &s.playback_id, dj, library) {
                    Ok(st) => {
                        started.push((s.user_id, st.on_air()));
                        stations.insert(s.user_id, st);
                    }
                    Err(e) => {
                        tracing::warn!(user_id = s.user_id, error = %e, "cannot put a radio station on the air")
                    }
                }
            }
        }
        for (user_id, on_air) in started {
            tokio::spawn(announce_changes(self.clone(), user_id, on_air));
        }
        Ok(())
    }

    fn stop_all(&self) {
        self.stations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Tells the database, Socket.IO and every node what a station plays, as it changes.
async fn announce_changes(radio: Arc<Radio>, user_id: i64, mut on_air: watch::Receiver<OnAir>) {
    loop {
        let now = on_air.borrow_and_update().clone();
        let since = radio.clock.now_ms();
        let view = match &now {
            OnAir::Track { id, title } => NowPlaying {
                title: Some(title.clone()),
                track_id: Some(*id),
                dj: false,
                since: Some(since),
            },
            OnAir::Dj => {
                let title = match radio.db.station_of(user_id).await {
                    Ok(Some(s)) => match s.dj_source_id {
                        Some(id) => radio
                            .db
                            .source_by_id(id)
                            .await
                            .ok()
                            .flatten()
                            .and_then(|src| src.title)
                            .filter(|t| !t.trim().is_empty()),
                        None => None,
                    },
                    _ => None,
                };
                NowPlaying {
                    title: Some(title.map_or_else(|| "Live".to_string(), |t| format!("Live: {t}"))),
                    track_id: None,
                    dj: true,
                    since: Some(since),
                }
            }
            OnAir::Nothing => NowPlaying {
                title: None,
                track_id: None,
                dj: false,
                since: None,
            },
        };
        if let Err(e) = radio
            .db
            .set_now_playing(
                user_id,
                view.title.as_deref(),
                view.track_id,
                view.dj,
                view.since,
            )
            .await
        {
            tracing::warn!(user_id, error = %e, "cannot store what the radio plays");
        }
        radio
            .fanout
            .publish(RealtimeEvent::NowPlaying { user_id, now: view });
        if on_air.changed().await.is_err() {
            // The station went off the air.
            let _ = radio
                .db
                .set_now_playing(user_id, None, None, false, None)
                .await;
            radio.fanout.publish(RealtimeEvent::NowPlaying {
                user_id,
                now: NowPlaying {
                    title: None,
                    track_id: None,
                    dj: false,
                    since: None,
                },
            });
            return;
        }
    }
}

/// The stations' tracks, from the database and storage.
struct Library {
    db: Db,
    storage: Storage,
}

impl RadioLibrary for Library {
    fn next<'a>(
        &'a self,
        station: i64,
        after: Option<i64>,
    ) -> PortFuture<'a, Result<Option<RadioTrack>, String>> {
        Box::pin(async move {
            let Some(t) = self
                .db
                .next_track(station, after)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Ok(None);
            };
            let audio = self
                .storage
                .get(&t.storage_key, MAX_STORED_BYTES)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Some(RadioTrack {
                id: t.id,
                title: announce(&t.title, &t.artist),
                audio,
            }))
        })
    }
}

/// A title from a file's name: without its extension, underscores as spaces, at most 200
/// characters; "Untitled" when nothing is left.
pub fn title_from_name(name: &str) -> String {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let t: String = stem
        .chars()
        .map(|c| if c == '_' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let t = t.trim();
    if t.is_empty() {
        "Untitled".into()
    } else {
        t.to_string()
    }
}

/// Encodes `input`'s first audio stream to AAC-LC, 48 kHz stereo, 160 kbit/s, in ADTS.
async fn encode_track(input: &Path, out: &Path, duration_ms: i64) -> Result<(), RadioError> {
    let mut c = tokio::process::Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(input)
        .args(["-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1"])
        .args(["-c:a", "aac", "-b:a", "160k", "-ar", "48000", "-ac", "2"])
        .args(["-f", "adts"])
        .arg(out)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let limit =
        Duration::from_millis(u64::try_from(duration_ms).unwrap_or(0)) + Duration::from_secs(60);
    let run = async {
        let child = c
            .spawn()
            .map_err(|e| RadioError::Media(format!("cannot start ffmpeg: {e}")))?;
        child
            .wait_with_output()
            .await
            .map_err(|e| RadioError::Media(format!("ffmpeg failed: {e}")))
    };
    let output = tokio::time::timeout(limit, run).await.map_err(|_| {
        RadioError::NotAudio("Encoding the track took too long; it may be damaged.".into())
    })??;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let last = err
            .lines()
            .last()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>();
        return Err(RadioError::NotAudio(format!(
            "The audio could not be encoded ({last}); upload another file."
        )));
    }
    Ok(())
}

/// A staged file, removed when dropped (however the request that made it ends).
pub struct Staged(pub PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Where uploads are staged.
impl Radio {
    /// A fresh staging file for an upload (the folder made if missing), removed when dropped.
    pub async fn stage(&self) -> std::io::Result<Staged> {
        tokio::fs::create_dir_all(&self.work).await?;
        Ok(Staged(self.work.join(format!(
            "radio-upload-{}",
            uuid::Uuid::new_v4().simple()
        ))))
    }

    /// Removes staged files older than an hour (what a crash left behind).
    fn sweep_staging(&self) {
        let Ok(dir) = std::fs::read_dir(&self.work) else {
            return;
        };
        for entry in dir.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Runs the radio on this node while it holds the lease; every node follows what stations
/// play (for the Icecast stream's titles). Stops the stations when `shutdown` turns true.
pub fn spawn(radio: Arc<Radio>, mut shutdown: watch::Receiver<bool>) {
    let follower = radio.clone();
    let mut bus = follower.fanout.subscribe();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                e = bus.recv() => match e {
                    Ok(env) => {
                        if let RealtimeEvent::NowPlaying { user_id, now } = env.event {
                            follower.heard(user_id, now.title);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    });
    // What a crash left staged.
    radio.sweep_staging();
    tokio::spawn(async move {
        let mut holding = false;
        let mut renewed = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let now = radio.clock.now_ms();
            match radio
                .db
                .take_radio_lease(&radio.holder, now, now + LEASE_TTL.as_millis() as i64)
                .await
            {
                Ok(true) => {
                    if !holding {
                        tracing::info!("this node plays the radio stations");
                    }
                    holding = true;
                    renewed = tokio::time::Instant::now();
                    if let Err(e) = radio.sync().await {
                        tracing::warn!(error = %e, "cannot read the radio stations");
                    }
                }
                Ok(false) => {
                    if holding {
                        tracing::info!("the radio lease went to another node");
                        radio.stop_all();
                    }
                    holding = false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the radio lease");
                    // Not renewed in time, the lease may go to another node: stop playing
                    // rather than play the stations twice.
                    if holding && renewed.elapsed() + SYNC_EVERY >= LEASE_TTL {
                        tracing::warn!(
                            "the radio lease could not be renewed; stations off the air here"
                        );
                        radio.stop_all();
                        holding = false;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(SYNC_EVERY) => {}
                _ = radio.changed.notified() => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        radio.stop_all();
        if holding {
            if let Err(e) = radio.db.release_radio_lease(&radio.holder).await {
                tracing::warn!(error = %e, "cannot release the radio lease");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_from_file_names() {
        assert_eq!(title_from_name("My_Song.mp3"), "My Song");
        assert_eq!(title_from_name("no extension"), "no extension");
        assert_eq!(title_from_name(".mp3"), "Untitled");
        assert_eq!(title_from_name("a\u{7}b.ogg"), "ab");
        assert_eq!(title_from_name(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn announced_names() {
        assert_eq!(announce("Song", ""), "Song");
        assert_eq!(announce("Song", "Band"), "Band – Song");
    }
}
