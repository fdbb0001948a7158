//! The media engine: owns the RTMP sockets and wires the pure protocol crates (`rtmp`, `media`)
//! to the hub's fan-out, and pushes live streams to their restream destinations ([`restream`]). Publishing is authorised through the domain's
//! [`PublishAuthorizer`] port — the engine never touches the database.
//!
//! Outputs are addressed by the public playback id, never by the stream key:
//! `rtmp://HOST:1935/play/<playback_id>`, HTTP-FLV ([`flv_out`]) and HLS ([`hls`]).
#![deny(missing_docs)]

pub mod addresses;
pub mod flv_out;
pub mod hls;
pub mod restream;
pub mod rtmp_server;

use ferrocast_domain::media::PublishAuthorizer;
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
    pub rtmp_stats: Arc<rtmp_server::RtmpStats>,
}

impl Engine {
    /// An engine with default settings; starts the HLS follower (needs a Tokio runtime).
    pub fn start(
        authorizer: Arc<dyn PublishAuthorizer>,
        restream: restream::RestreamConfig,
    ) -> Engine {
        let hub = Hub::default();
        let config = ferrocast_media::hls::HlsConfig {
            low_latency: Some(ferrocast_media::hls::LowLatencyConfig::default()),
            ..Default::default()
        };
        let hls = hls::HlsRegistry::new(config, hub.clone());
        hls.spawn();
        Engine {
            restream: restream::Restreamer::new(hub.clone(), restream),
            hub,
            hls,
            authorizer,
            rtmp_stats: Arc::default(),
        }
    }
}
