//! Hangouts: small WebRTC rooms through the node's SFU. A host makes a room and shares two
//! links: the speaker link (with its code) puts people on stage, the plain link in the
//! audience. Each on-stage peer publishes one stream (WHIP, into the hub under its own random
//! playback id, like a browser going live, but belonging to no source); everyone plays each
//! on-stage peer's stream (WHEP). At most [`MAX_STAGE`] are on stage and [`MAX_AUDIENCE`] in
//! the audience; more are told to watch the broadcast.
//!
//! Peers check in every few seconds (`GET /api/hangouts/{id}?peer=`); one silent for
//! [`PEER_TTL`] is dropped and its stream ended. The host may broadcast the room to one of
//! their sources: a composite of the stage ([`ferrocast_engine::mix`]) published over RTMP to
//! that source, so it plays over HLS, restreams and records like any live stream. The node
//! that started the broadcast runs it, following the stage as it changes.

use super::clock::SharedClock;
use ferrocast_auth::token;
use ferrocast_db::hangouts::{HangoutRecord, PeerRecord};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::media::PublishGrant;
use ferrocast_engine::mix::Mix;
use ferrocast_engine::Engine;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use utoipa::ToSchema;

/// On stage at most (host and speakers).
pub const MAX_STAGE: usize = 8;
/// In the audience at most (each plays every stage stream over WebRTC).
pub const MAX_AUDIENCE: usize = 24;
/// Hangouts a host may have open at once.
pub const MAX_OPEN: usize = 10;
/// A peer that has not checked in for this long is dropped.
pub const PEER_TTL: Duration = Duration::from_secs(20);
/// How often the sweeper and the broadcasts look at the rooms.
const SWEEP_EVERY: Duration = Duration::from_secs(2);

/// Why a hangout request failed.
#[derive(Debug, thiserror::Error)]
pub enum HangoutError {
    /// No such hangout or peer.
    #[error("not found")]
    NotFound,
    /// The host ended it.
    #[error("this hangout has ended")]
    Ended,
    /// The stage or the audience is full (the sentence says what to do).
    #[error("{0}")]
    Full(String),
    /// Not this caller's to do.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A field is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The peer's token is wrong.
    #[error("this peer's token is not valid")]
    BadToken,
    /// The browser's offer cannot be answered (the sentence says why).
    #[error("{0}")]
    BadOffer(String),
    /// WebRTC is off, or the node has too many sessions.
    #[error("{0}")]
    Unavailable(String),
    /// The stream is still live from an earlier publish, or the source from another encoder.
    #[error("{0}")]
    Busy(String),
    /// Database failure.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A peer as the room shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeerView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `host`, `speaker` or `audience`.
    pub role: String,
    /// The stream it publishes (play it at `/whep/<playback_id>`); `None` for the audience.
    pub playback_id: Option<String>,
    /// Whether it publishes now.
    pub publishing: bool,
}

/// A hangout as its peers see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoomView {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The host's name.
    pub host_name: String,
    /// Whether the host ended it.
    pub ended: bool,
    /// Whether it is broadcast now, and where it is watched (root-relative).
    pub broadcast_url: Option<String>,
    /// Who is in it.
    pub peers: Vec<PeerView>,
    /// The caller's role: `host` (the owner, signed in), or that of the peer named.
    pub your_role: Option<String>,
    /// The speaker link (the host only).
    pub speaker_link: Option<String>,
}

/// A peer that joined: what it needs to publish and check in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Joined {
    /// The peer's id.
    pub peer_id: String,
    /// Its token: send it as `X-Peer-Token` to publish, check in and leave.
    pub token: String,
    /// Its role.
    pub role: String,
    /// The room.
    pub room: RoomView,
}

/// Who asks to join.
pub struct Joiner<'a> {
    /// The signed-in user and their name, if any.
    pub user: Option<(i64, &'a str)>,
    /// The speaker link's code, if given.
    pub code: Option<&'a str>,
    /// A guest's name.
    pub name: Option<&'a str>,
}

/// The hangouts service.
pub struct Hangouts {
    db: Db,
    clock: SharedClock,
    engine: Engine,
    /// `rtmp://127.0.0.1:PORT`: the node's RTMP listener, which the broadcasts read from and
    /// publish to.
    rtmp_local: String,
    /// Broadcasts this node runs, by hangout id: the mix and the stage it shows.
    mixes: Mutex<HashMap<i64, Mix>>,
}

/// A room's link (root-relative): the audience joins by it, the host too.
pub fn room_link(h: &HangoutRecord) -> String {
    format!("/hangout/{}", h.uuid)
}

/// A room's speaker link (root-relative): whoever has it joins on stage.
pub fn speaker_link(h: &HangoutRecord) -> String {
    format!("{}?code={}", room_link(h), h.speaker_code)
}

impl Hangouts {
    /// The service.
    pub fn new(db: Db, clock: SharedClock, engine: Engine, rtmp_local: String) -> Self {
        Self {
            db,
            clock,
            engine,
            rtmp_local,
            mixes: Mutex::default(),
        }
    }

    /// Makes a hangout hosted by `host_id`.
    pub async fn create(&self, host_id: i64, title: &str) -> Result<HangoutRecord, HangoutError> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 100 || title.chars().any(char::is_control) {
            return Err(HangoutError::Invalid(
                "title: 1 to 100 characters, on one line.".into(),
            ));
        }
        let open = self
            .db
            .hangouts_of(host_id, 50)
            .await?
            .iter()
            .filter(|h| h.ended_at.is_none())
            .count();
        if open >= MAX_OPEN {
            return Err(HangoutError::Invalid(format!(
                "you have {MAX_OPEN} hangouts open: end one (Hangouts → Open → End hangout) first."
            )));
        }
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        let code = token::generate("");
        self.db
            .create_hangout(&uuid, host_id, title, &code, self.clock.now_ms())
            .await?;
        self.db
            .hangout_by_uuid(&uuid)
            .await?
            .ok_or(HangoutError::NotFound)
    }

    /// A host's hangouts, newest first.
    pub async fn of_host(&self, host_id: i64) -> Result<Vec<HangoutRecord>, HangoutError> {
        Ok(self.db.hangouts_of(host_id, 50).await?)
    }

    /// A hangout by its public id.
    pub async fn get(&self, uuid: &str) -> Result<HangoutRecord, HangoutError> {
        if uuid.len() > 64 {
            return Err(HangoutError::NotFound);
        }
        self.db
            .hangout_by_uuid(uuid)
            .await?
            .filter(|h| h.host_suspended_at.is_none())
            .ok_or(HangoutError::NotFound)
    }

    /// The room as `viewer` (a signed-in user) or `peer` sees it.
    pub async fn view(
        &self,
        h: &HangoutRecord,
        viewer: Option<i64>,
        peer: Option<&PeerRecord>,
    ) -> Result<RoomView, HangoutError> {
        let peers = self.db.peers_of(h.id).await?;
        // The host, signed in, or the peer they joined as.
        let is_host = viewer == Some(h.host_id)
            || peer.is_some_and(|p| p.role == "host" && p.user_id == Some(h.host_id));
        let broadcast_url = match h.broadcast_source_id {
            Some(id) => self
                .db
                .source_by_id(id)
                .await?
                .map(|s| format!("/watch/{}", s.playback_id)),
            None => None,
        };
        Ok(RoomView {
            id: h.uuid.clone(),
            title: h.title.clone(),
            host_name: h.host_name.clone(),
            ended: h.ended_at.is_some(),
            broadcast_url,
            peers: peers
                .iter()
                .map(|p| PeerView {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    role: p.role.clone(),
                    playback_id: (p.role != "audience").then(|| p.playback_id.clone()),
                    publishing: p.publishing,
                })
                .collect(),
            your_role: peer
                .map(|p| p.role.clone())
                .or_else(|| is_host.then(|| "host".to_string())),
            speaker_link: is_host.then(|| speaker_link(h)),
        })
    }

    /// Joins a hangout: the host as `host`, the speaker link's holders as `speaker`, anyone
    /// else in the audience.
    pub async fn join(&self, uuid: &str, who: Joiner<'_>) -> Result<Joined, HangoutError> {
        let h = self.get(uuid).await?;
        if h.ended_at.is_some() {
            return Err(HangoutError::Ended);
        }
        let role = if who.user.is_some_and(|(id, _)| id == h.host_id) {
            "host"
        } else if who
            .code
            .is_some_and(|c| c.len() <= 128 && token::ct_eq(c, &h.speaker_code))
        {
            "speaker"
        } else {
            "audience"
        };
        let name = match (who.user, who.name) {
            (Some((_, name)), _) => name.to_string(),
            (None, Some(n)) => {
                let n = n.trim();
                if n.is_empty() || n.chars().count() > 40 || n.chars().any(char::is_control) {
                    return Err(HangoutError::Invalid(
                        "name: the name others see, 1 to 40 characters.".into(),
                    ));
                }
                n.to_string()
            }
            (None, None) => {
                return Err(HangoutError::Invalid(
                    "name: sign in, or give the name others see.".into(),
                ))
            }
        };
        let peers = self.db.peers_of(h.id).await?;
        let on_stage = peers.iter().filter(|p| p.role != "audience").count();
        if role != "audience" && on_stage >= MAX_STAGE {
            return Err(HangoutError::Full(format!(
                "The stage is full ({MAX_STAGE} people): join without the speaker link to watch, or ask the host to make room."
            )));
        }
        if role == "audience" && peers.len() - on_stage >= MAX_AUDIENCE {
            return Err(HangoutError::Full(
                "The room's audience is full: watch the broadcast when the host starts one.".into(),
            ));
        }
        let peer_id = uuid::Uuid::new_v4().simple().to_string();
        let secret = token::generate("hp_");
        let playback_id = format!("hg-{}", uuid::Uuid::new_v4().simple());
        self.db
            .add_peer(
                &peer_id,
                h.id,
                who.user.map(|(id, _)| id),
                &name,
                role,
                &token::hash(&secret),
                &playback_id,
                self.clock.now_ms(),
            )
            .await?;
        let me = self
            .db
            .peer(&peer_id)
            .await?
            .ok_or(HangoutError::NotFound)?;
        let room = self.view(&h, who.user.map(|(id, _)| id), Some(&me)).await?;
        Ok(Joined {
            peer_id,
            token: secret,
            role: role.to_string(),
            room,
        })
    }

    /// The peer `peer_id` of hangout `h`, if `secret` is its token.
    pub async fn peer(
        &self,
        h: &HangoutRecord,
        peer_id: &str,
        secret: &str,
    ) -> Result<PeerRecord, HangoutError> {
        let p = self
            .db
            .peer(peer_id)
            .await?
            .filter(|p| p.hangout_id == h.id)
            .ok_or(HangoutError::NotFound)?;
        if secret.len() > 128 || !token::ct_eq(&token::hash(secret), &p.token_hash) {
            return Err(HangoutError::BadToken);
        }
        Ok(p)
    }

    /// Notes that a peer checked in.
    pub async fn seen(&self, p: &PeerRecord) -> Result<(), HangoutError> {
        Ok(self.db.peer_seen(&p.id, self.clock.now_ms()).await?)
    }

    /// Publishes an on-stage peer's camera and microphone: the browser's SDP offer in, the
    /// answer and the session's id out.
    pub async fn publish(
        &self,
        h: &HangoutRecord,
        p: &PeerRecord,
        offer: &str,
    ) -> Result<(u64, String), HangoutError> {
        if h.ended_at.is_some() {
            return Err(HangoutError::Ended);
        }
        if p.role == "audience" {
            return Err(HangoutError::Forbidden(
                "the audience watches: join with the speaker link to be on stage",
            ));
        }
        let webrtc = self
            .engine
            .webrtc
            .as_ref()
            .ok_or_else(|| HangoutError::Unavailable("WebRTC is off on this server".into()))?;
        // A publish again (a reconnect) replaces the last one.
        self.engine
            .hub
            .stop(&p.playback_id, "the peer published again");
        let grant = PublishGrant {
            source_id: 0,
            user_id: p.user_id.unwrap_or(0),
            playback_id: p.playback_id.clone(),
            slate_secs: 0,
            slate_picture: None,
            transcode_ladder: Vec::new(),
        };
        let mut last = None;
        // The stopped stream takes a moment to leave the hub.
        for _ in 0..20 {
            match webrtc.ingest(&grant, offer, &self.engine.transcode) {
                Ok(answer) => {
                    self.db.set_peer_publishing(&p.id, true).await?;
                    return Ok(answer);
                }
                Err(ferrocast_engine::webrtc::WhipError::AlreadyLive) => {
                    last = Some("the stream is still live".to_string());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e @ ferrocast_engine::webrtc::WhipError::Full) => {
                    return Err(HangoutError::Unavailable(e.to_string()))
                }
                Err(e) => return Err(HangoutError::BadOffer(e.to_string())),
            }
        }
        Err(HangoutError::Busy(format!(
            "{}: try again in a moment",
            last.unwrap_or_default()
        )))
    }

    /// A peer leaves: its stream ends.
    pub async fn leave(&self, p: &PeerRecord) -> Result<(), HangoutError> {
        self.engine.hub.stop(&p.playback_id, "left the hangout");
        self.db.remove_peer(&p.id).await?;
        Ok(())
    }

    /// The host ends the hangout: everyone's streams end, and its broadcast.
    pub async fn end(&self, h: &HangoutRecord, host_id: i64) -> Result<(), HangoutError> {
        if h.host_id != host_id {
            return Err(HangoutError::Forbidden("only the host ends the hangout"));
        }
        self.db.end_hangout(h.id, self.clock.now_ms()).await?;
        self.mixes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&h.id);
        for p in self.db.peers_of(h.id).await? {
            self.leave(&p).await?;
        }
        Ok(())
    }

    /// The host broadcasts the stage to their source `source_id`, whose stream key is `key`
    /// (published over this node's RTMP listener), or stops (`None`).
    pub async fn broadcast(
        &self,
        h: &HangoutRecord,
        host_id: i64,
        to: Option<(i64, &str)>,
    ) -> Result<(), HangoutError> {
        if h.host_id != host_id {
            return Err(HangoutError::Forbidden(
                "only the host broadcasts the hangout",
            ));
        }
        if h.ended_at.is_some() {
            return Err(HangoutError::Ended);
        }
        match to {
            Some((source_id, key)) => {
                let output = format!("{}/live/{key}", self.rtmp_local);
                self.db.set_hangout_broadcast(h.id, Some(source_id)).await?;
                let inputs = self.stage_inputs(h.id).await?;
                let mut mixes = self.mixes.lock().unwrap_or_else(|p| p.into_inner());
                mixes.insert(h.id, Mix::start(inputs, output));
            }
            None => {
                self.db.set_hangout_broadcast(h.id, None).await?;
                self.mixes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&h.id);
            }
        }
        Ok(())
    }

    /// The RTMP URLs of the stage's streams, in the order they joined.
    async fn stage_inputs(&self, hangout_id: i64) -> Result<Vec<String>, DbError> {
        Ok(self
            .db
            .peers_of(hangout_id)
            .await?
            .into_iter()
            // Live here, or (with relays) published on another node: the RTMP play relays it.
            .filter(|p| {
                p.role != "audience"
                    && p.publishing
                    && (self.engine.hub.is_live(&p.playback_id) || self.engine.relays.is_some())
            })
            .take(ferrocast_engine::mix::MAX_INPUTS)
            .map(|p| format!("{}/play/{}", self.rtmp_local, p.playback_id))
            .collect())
    }

    /// Drops peers gone silent and ended rooms' peers; keeps each broadcast's layout in step
    /// with its stage.
    async fn sweep(&self) -> Result<(), DbError> {
        let before = self.clock.now_ms() - PEER_TTL.as_millis() as i64;
        for p in self.db.gone_peers(before).await? {
            self.engine.hub.stop(&p.playback_id, "left the hangout");
            self.db.remove_peer(&p.id).await?;
        }
        let ids: Vec<i64> = self
            .mixes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        let live: Vec<i64> = self
            .db
            .broadcasting_hangouts()
            .await?
            .into_iter()
            .map(|h| h.id)
            .collect();
        for id in ids {
            if !live.contains(&id) {
                self.mixes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                continue;
            }
            let inputs = self.stage_inputs(id).await?;
            if let Some(m) = self
                .mixes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&id)
            {
                m.set_inputs(inputs);
            }
        }
        Ok(())
    }

    /// Broadcasts this node runs (for tests and metrics).
    pub fn broadcasts_here(&self) -> usize {
        self.mixes.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Runs the sweeper until `shutdown` turns true; then stops this node's broadcasts.
pub fn spawn(hangouts: Arc<Hangouts>, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
            if let Err(e) = hangouts.sweep().await {
                tracing::warn!(error = %e, "cannot sweep the hangouts");
            }
        }
        hangouts
            .mixes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    });
}
