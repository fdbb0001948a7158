//! The media engine: owns the RTMP, SRT and WebRTC sockets and wires the pure protocol crates (`rtmp`, `media`)
//! to the hub's fan-out, and pushes live streams to their restream destinations ([`restream`]).
//! Publishing is authorised through the domain's [`PublishAuthorizer`] port — the engine never
//! touches the database.
//!
//! Outputs are addressed by the public playback id, never by the stream key:
//! `rtmp://HOST:1935/play/<playback_id>`, HTTP-FLV ([`flv_out`]) and HLS ([`hls`]).
//!
//! Modules depend on each other without cycles: [`rtmp_server`] runs on an [`Engine`], so the
//! `Engine` names only what does not name it back (the listener's counters live in their own
//! module, re-exported as [`rtmp_server::RtmpStats`]); what the listener and [`restream`] both
//! send through is in `io`. Adaptive-bitrate renditions ([`transcode`]) live in a hub of their
//! own, packaged by their own HLS registry.
#![deny(missing_docs)]

pub mod addresses;
pub mod adts;
pub mod flv_out;
pub mod hls;
mod io;
pub mod mix;
pub mod radio;
pub mod record;
pub mod relay;
pub mod restream;
pub mod rtmp_server;
mod rtmp_stats;
pub mod slate;
pub mod srt;
mod srt_stats;
pub mod transcode;
pub mod viewers;
pub mod webrtc;

use ferrocast_domain::media::{OriginLocator, PublishAuthorizer, RecordingStore};
use ferrocast_hub::Hub;
use std::sync::Arc;

/// The engine's shared parts.
#[derive(Clone)]
pub struct Engine {
    /// Live streams and their readers.
    pub hub: Hub,
    /// HLS packagers.
    pub hls: hls::HlsRegistry,
    /// Decides who may publish.
    pub authorizer: Arc<dyn PublishAuthorizer>,
    /// Restream pushes of live streams.
    pub restream: restream::Restreamer,
    /// Counters of the RTMP listener (connections open, refused, timed out).
    pub rtmp_stats: Arc<rtmp_stats::RtmpStats>,
    /// Counters of the SRT listener.
    pub srt_stats: Arc<srt_stats::SrtStats>,
    /// Streams kept on the fallback slate while their encoder is away.
    pub slates: slate::Slates,
    /// Adaptive-bitrate renditions of live streams (admits nothing until given a budget with
    /// [`transcode::Transcoder::set_budget`]).
    pub transcode: transcode::Transcoder,
    /// Records live streams, when the engine was started [`with_recording`](Engine::with_recording).
    pub recorder: Option<record::Recorder>,
    /// Viewer sessions of every protocol, for analytics.
    pub viewers: viewers::ViewerTracker,
    /// WebRTC playback (WHEP), once the server has bound its UDP socket
    /// ([`webrtc::WebRtc::bind`]).
    pub webrtc: Option<webrtc::WebRtc>,
    /// Pulls of streams other nodes hold, when the engine was started
    /// [`with_relays`](Engine::with_relays).
    pub relays: Option<relay::Relays>,
}

impl Engine {
    /// An engine with default settings; starts the HLS follower (needs a Tokio runtime).
    pub fn start(
        authorizer: Arc<dyn PublishAuthorizer>,
        restream: restream::RestreamConfig,
    ) -> Engine {
        let hub = Hub::default();
        // Held in memory while someone watches over HLS, so kept as short as players allow:
        // four segments in the playlist (RFC 8216bis §6.2.2 wants at least three target
        // durations; hls.js starts three segments from the live edge) and one more for a player
        // that fetched the playlist just before it changed (BENCHMARKS.md, "Ingest and fan-out
        // cost": 6 + 2 held ~1.1 MiB more per watched stream at 3 Mbit/s).
        let config = ferrocast_media::hls::HlsConfig {
            window: 4,
            retain_extra: 1,
            low_latency: Some(ferrocast_media::hls::LowLatencyConfig::default()),
            ..Default::default()
        };
        let hls = hls::HlsRegistry::new(config, hub.clone());
        hls.spawn();
        let transcode = transcode::Transcoder::new(hub.clone(), config);
        let viewers = viewers::ViewerTracker::new();
        viewers.spawn();
        Engine {
            viewers,
            restream: restream::Restreamer::new(hub.clone(), restream),
            hub,
            hls,
            authorizer,
            rtmp_stats: Arc::default(),
            srt_stats: Arc::default(),
            slates: slate::Slates::default(),
            transcode,
            recorder: None,
            relays: None,
            webrtc: None,
        }
    }

    /// This engine, also recording the live streams `store` chooses from now on (see
    /// [`record`]). Call once, right after [`Engine::start`] (needs a Tokio runtime).
    pub fn with_recording(
        mut self,
        store: Arc<dyn RecordingStore>,
        config: record::RecordConfig,
    ) -> Engine {
        let recorder = record::Recorder::new(self.hub.clone(), store, config);
        recorder.spawn();
        recorder.spawn_renditions(self.transcode.hub.clone());
        self.recorder = Some(recorder);
        self
    }

    /// This engine, also relaying streams that other nodes hold when a viewer asks for one
    /// (see [`relay`]). Call once, right after [`Engine::start`].
    pub fn with_relays(
        mut self,
        locator: Arc<dyn OriginLocator>,
        config: relay::RelayConfig,
    ) -> Engine {
        self.relays = Some(relay::Relays::new(
            self.hub.clone(),
            self.hls.clone(),
            self.viewers.clone(),
            locator,
            config,
        ));
        self
    }

    /// Whether `playback_id` is live here, pulling it from the node that holds it first if this
    /// engine relays (waits up to [`relay::START_TIMEOUT`] for the pull to start).
    pub async fn ensure_live(&self, playback_id: &str) -> bool {
        if self.hub.is_live(playback_id) {
            return true;
        }
        match &self.relays {
            Some(r) => r.ensure(playback_id).await,
            None => false,
        }
    }
}
