//! SRT ingest (listener mode): publishers call with their stream key as the stream id and
//! send an MPEG transport stream (H.264 or HEVC, AAC), which [`TsDemuxer`] turns into the FLV
//! frames every output already takes — so restream, HLS, recording and RTMP play work for an SRT
//! publisher as for an RTMP one. The SRT protocol itself (handshake, retransmission, TSBPD,
//! AES) is srt-tokio's.
//!
//! Stream ids, all naming the same key: the bare key (`sk_…`), `live/<key>`, MediaMTX's
//! `publish:live/<key>`, and SRT's access-control syntax `#!::r=live/<key>,m=publish`
//! (`m=request`, playback over SRT, is refused: viewers use HLS, FLV, RTMP or WHEP).
//!
//! Every caller is checked as an RTMP publisher is: the per-address admission first, then the
//! domain's [`PublishAuthorizer`](ferrocast_domain::media::PublishAuthorizer) within
//! [`AUTHORIZE_TIMEOUT`]; a refusal goes back in the handshake as an SRT reject code (2401
//! unauthorised, 2409 already live, 2405 bad mode, 2503 unavailable), which ffmpeg reports.
//! A publisher that sends nothing for [`IDLE_TIMEOUT`] is closed.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ferrocast_domain::media::PublishDenied;
use ferrocast_hub::{Frame, FrameKind, StreamKey};
use ferrocast_media::flv::TagType;
use ferrocast_media::ts_demux::TsDemuxer;
use futures_util::StreamExt;
use srt_tokio::access::{RejectReason, ServerRejectReason};
use srt_tokio::options::PacketSize;
use srt_tokio::{ConnectionRequest, SrtIncoming, SrtListener};
use tokio::sync::watch;

use crate::Engine;

/// How long the publish decision may take before the caller is refused.
pub const AUTHORIZE_TIMEOUT: Duration = Duration::from_secs(10);
/// A publisher silent this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// SRT publishers at most at once on this node (each is a socket task and a demuxer).
pub const MAX_PUBLISHERS: usize = 256;
/// The receive latency we offer (SRT's default): the time SRT has to recover a lost packet.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(120);

/// Settings of the SRT listener.
#[derive(Debug, Clone)]
pub struct SrtConfig {
    /// The UDP address to listen on.
    pub addr: SocketAddr,
    /// The passphrase publishers must encrypt with; `None`: unencrypted.
    pub passphrase: Option<String>,
    /// The receive latency.
    pub latency: Duration,
}

pub use crate::srt_stats::SrtStats;

/// What a caller's stream id asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamIdRequest {
    /// Publish with this stream key.
    Publish(String),
    /// Anything else (playback over SRT, an unknown mode), with what to tell the caller.
    Refused(&'static str),
}

/// Reads a caller's stream id (see the module docs for the accepted forms).
pub fn parse_stream_id(id: &str) -> StreamIdRequest {
    let id = id.trim();
    if let Some(fields) = id.strip_prefix("#!::") {
        let mut resource = None;
        let mut mode = "request";
        for field in fields.split(',') {
            match field.split_once('=') {
                Some(("r", r)) => resource = Some(r),
                Some(("m", m)) => mode = m,
                _ => {}
            }
        }
        if mode != "publish" {
            return StreamIdRequest::Refused("only publishing (m=publish) is served over SRT");
        }
        return resource.map_or(
            StreamIdRequest::Refused("the stream id names no resource (r=live/<stream key>)"),
            key_of,
        );
    }
    if id.starts_with("read:") {
        return StreamIdRequest::Refused("only publishing is served over SRT");
    }
    key_of(id.strip_prefix("publish:").unwrap_or(id))
}

fn key_of(resource: &str) -> StreamIdRequest {
    let key = resource.strip_prefix("live/").unwrap_or(resource);
    if key.is_empty() || key.len() > 256 || key.contains('/') {
        StreamIdRequest::Refused("the stream id must be the stream key")
    } else {
        StreamIdRequest::Publish(key.to_owned())
    }
}

/// The bound SRT listener, before [`serve`].
pub struct Bound {
    listener: SrtListener,
    incoming: SrtIncoming,
    /// The address it listens on (the port chosen when the configured one was 0).
    pub local_addr: SocketAddr,
}

/// Binds the SRT listener on `config.addr`.
pub async fn bind(config: &SrtConfig) -> std::io::Result<Bound> {
    let socket = tokio::net::UdpSocket::bind(config.addr).await?;
    let local_addr = socket.local_addr()?;
    let (listener, incoming) = SrtListener::builder()
        .latency(config.latency)
        // srt-tokio announces its payload size as the handshake's MSS, which libsrt reads as
        // the MTU: 1456 lets a libsrt caller (ffmpeg, OBS) send its standard 1316-byte messages.
        .set(|o| o.sender.max_payload_size = PacketSize(1456))
        .socket(socket)
        .bind(local_addr)
        .await?;
    Ok(Bound {
        listener,
        incoming,
        local_addr,
    })
}

/// Serves SRT publishers until `shutdown` turns true.
pub async fn serve(
    engine: Engine,
    bound: Bound,
    config: SrtConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let Bound {
        mut listener,
        mut incoming,
        local_addr,
    } = bound;
    let stats = engine.srt_stats.clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_PUBLISHERS));
    loop {
        let next = tokio::select! {
            r = incoming.incoming().next() => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let Some(request) = next else {
            // srt-tokio's listener task ended (it panics on some malformed key exchanges):
            // listen again on the same address, after a pause.
            tracing::error!(addr = %local_addr, "the SRT listener stopped; listening again");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let again = SrtConfig {
                addr: local_addr,
                ..config.clone()
            };
            match bind(&again).await {
                Ok(b) => {
                    listener = b.listener;
                    incoming = b.incoming;
                }
                Err(e) => {
                    tracing::error!(addr = %local_addr, error = %e, "cannot listen for SRT again");
                    break;
                }
            }
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer = %request.remote(), "SRT publish refused: node full");
            let _ = request
                .reject(RejectReason::Server(ServerRejectReason::Overload))
                .await;
            continue;
        };
        let engine = engine.clone();
        let stats = stats.clone();
        let passphrase = config.passphrase.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            publish(engine, request, passphrase, &stats, stop).await;
            drop(permit);
        });
    }
    listener.close().await;
}

/// Decides one caller and, accepted, carries its stream into the hub until it ends.
async fn publish(
    engine: Engine,
    request: ConnectionRequest,
    passphrase: Option<String>,
    stats: &SrtStats,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = request.remote();
    let refuse = |reason: ServerRejectReason, why: &str| {
        stats.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%peer, reason = %why, "SRT publish refused");
        RejectReason::Server(reason)
    };
    let stream_id = request
        .stream_id()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let key = match parse_stream_id(&stream_id) {
        StreamIdRequest::Publish(key) => key,
        StreamIdRequest::Refused(why) => {
            let r = refuse(ServerRejectReason::BadMode, why);
            let _ = request.reject(r).await;
            return;
        }
    };
    if let Err(denied) = engine.authorizer.admit_publisher(peer.ip()) {
        let r = refuse(ServerRejectReason::Overload, &denied.to_string());
        let _ = request.reject(r).await;
        return;
    }
    let authorizer = engine.authorizer.clone();
    let decision = tokio::time::timeout(AUTHORIZE_TIMEOUT, authorizer.authorize("live", &key))
        .await
        .unwrap_or(Err(PublishDenied::Unavailable));
    let grant = match decision {
        Ok(grant) => grant,
        Err(denied) => {
            let code = match denied {
                PublishDenied::Unavailable => ServerRejectReason::Down,
                _ => ServerRejectReason::Unauthorized,
            };
            let r = refuse(code, &denied.to_string());
            let _ = request.reject(r).await;
            return;
        }
    };
    let stream = StreamKey {
        playback_id: grant.playback_id.clone(),
        source_id: grant.source_id,
        relay: false,
    };
    // The stream may be on the fallback slate: then it is taken back as it is.
    let mut tracker = crate::slate::Tracker::new();
    let held = engine.slates.take(&stream.playback_id).await;
    let from_slate = held.is_some();
    let published = match held {
        Some((p, mut t)) => {
            t.begin_input();
            tracker = t;
            Ok(p)
        }
        None => {
            let published = engine.hub.publish(stream.clone());
            if published.is_ok() {
                engine.transcode.start(&stream, &grant.transcode_ladder);
            }
            published
        }
    };
    let publisher = match published {
        Ok(p) => p,
        Err(e) => {
            let r = refuse(ServerRejectReason::Conflict, &e.to_string());
            let _ = request.reject(r).await;
            return;
        }
    };
    // With a passphrase, a caller that does not encrypt is refused in the handshake (SRT's
    // "unsecure" rejection); one with another passphrase gets "bad secret".
    let key_settings = passphrase.map(|p| srt_protocol::settings::KeySettings {
        key_size: request.key_size(),
        passphrase: p.as_str().into(),
    });
    let mut socket = match request.accept(key_settings).await {
        Ok(s) => s,
        Err(e) => {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, error = %e, "SRT handshake failed");
            if from_slate {
                // A caller that failed the handshake (a wrong passphrase) does not end a stream
                // that was on the slate: it goes back there.
                let handle = tokio::runtime::Handle::current();
                let slate = crate::slate::SlateSetting::of(&grant);
                engine.slates.hold(&handle, publisher, tracker, &slate);
            }
            return;
        }
    };
    stats.publishes.fetch_add(1, Ordering::Relaxed);
    stats.publishing.fetch_add(1, Ordering::Relaxed);
    tracing::info!(%peer, playback_id = %grant.playback_id, source_id = grant.source_id, "SRT publish started");
    let mut stop = publisher.stop_signal();
    let mut demuxer = TsDemuxer::new();
    let mut clean = false;
    let reason = loop {
        let packet = tokio::select! {
            p = tokio::time::timeout(IDLE_TIMEOUT, socket.next()) => p,
            r = stop.wait_for(Option::is_some) => {
                break r.ok().and_then(|s| s.clone()).unwrap_or_else(|| "stopped".into())
            }
            _ = shutdown.wait_for(|s| *s) => break "the node is draining".to_owned(),
        };
        match packet {
            Ok(Some(Ok((_, data)))) => {
                demuxer.push(&data);
                forward(&mut demuxer, &publisher, &mut tracker);
            }
            Ok(Some(Err(e))) => break e.to_string(),
            Ok(None) => {
                clean = true;
                break "the publisher closed the connection".to_owned();
            }
            Err(_) => break format!("no data for {} s", IDLE_TIMEOUT.as_secs()),
        }
    };
    demuxer.finish();
    forward(&mut demuxer, &publisher, &mut tracker);
    let _ = socket.close_and_finish().await;
    stats.publishing.fetch_sub(1, Ordering::Relaxed);
    let ts = demuxer.stats();
    tracing::info!(
        %peer,
        playback_id = %grant.playback_id,
        %reason,
        continuity_errors = ts.continuity_errors,
        dropped_pes = ts.dropped_pes,
        "SRT publish ended"
    );
    if clean {
        drop(publisher);
    } else {
        // Lost, not closed: the stream goes on the slate until the encoder is back.
        engine.slates.hold(
            &tokio::runtime::Handle::current(),
            publisher,
            tracker,
            &crate::slate::SlateSetting::of(&grant),
        );
    }
}

/// Pushes every tag the demuxer has ready into the hub, on the stream's timeline.
fn forward(
    demuxer: &mut TsDemuxer,
    publisher: &ferrocast_hub::Publisher,
    tracker: &mut crate::slate::Tracker,
) {
    while let Some(tag) = demuxer.next_tag() {
        let kind = if tag.tag_type == TagType::VIDEO {
            FrameKind::Video
        } else {
            FrameKind::Audio
        };
        let frame = Frame::from_tag(kind, tag.timestamp_ms, tag.body);
        if let Some(frame) = tracker.admit(frame) {
            publisher.push(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_in_every_common_form_name_the_key() {
        for id in [
            "sk_abc",
            "live/sk_abc",
            "publish:live/sk_abc",
            "#!::r=live/sk_abc,m=publish",
            "#!::m=publish,r=sk_abc",
        ] {
            assert_eq!(
                parse_stream_id(id),
                StreamIdRequest::Publish("sk_abc".into()),
                "{id}"
            );
        }
        for id in [
            "",
            "#!::r=live/sk_abc",
            "#!::r=live/sk_abc,m=request",
            "read:live/x",
            "a/b/c",
            "#!::m=publish",
        ] {
            assert!(
                matches!(parse_stream_id(id), StreamIdRequest::Refused(_)),
                "{id}"
            );
        }
    }
}
