//! Players: RTMP (our sans-I/O client session in play mode), HTTP-FLV (streamed GET through
//! `FlvReader`) and HLS (a polling player that models playback from the live edge).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::BytesMut;
use ferrocast_media::flv::{FlvReader, TagType};
use ferrocast_rtmp::{ClientEvent, ClientSession, MediaKind, PlayEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::net::{self, Url};
use crate::sei;
use crate::video::{unix_micros, PlayerResult, VideoTracker, Window};

/// Which protocol a player speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// RTMP play.
    Rtmp,
    /// HTTP-FLV.
    HttpFlv,
    /// HLS (polling).
    Hls,
    /// Low-Latency HLS: blocking playlist reload and partial segments.
    LlHls,
}

/// Runs one player until the window ends.
pub async fn run(proto: Protocol, url: Url, window: Window, fps: usize) -> PlayerResult {
    let started = Instant::now();
    let expected = fps * (window.end - window.start).as_secs() as usize + 16;
    let mut tracker = VideoTracker::new(started, window, expected);
    let r = tokio::select! {
        r = async {
            match proto {
                Protocol::Rtmp => rtmp(&url, &mut tracker).await,
                Protocol::HttpFlv => http_flv(&url, &mut tracker).await,
                Protocol::Hls => hls(&url, &mut tracker, window).await,
                Protocol::LlHls => ll_hls(&url, &mut tracker, window).await,
            }
        } => Some(r),
        () = tokio::time::sleep_until(window.end.into()) => None,
    };
    if let Some(r) = r {
        // Ended before the window did.
        tracker.result.disconnected = true;
        tracker.result.error = Some(match r {
            Ok(()) => "stream ended".to_owned(),
            Err(e) => format!("{e:#}"),
        });
    }
    tracker.finish()
}

async fn rtmp(url: &Url, tracker: &mut VideoTracker) -> Result<()> {
    let (app, name, tc_url) = url.rtmp_parts()?;
    let mut sock = TcpStream::connect(&url.authority)
        .await
        .with_context(|| format!("connect {}", url.authority))?;
    sock.set_nodelay(true)?;
    let mut s = ClientSession::play(&app, &tc_url, &name);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(b) = s.poll_transmit() {
            sock.write_all(&b).await?;
        }
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            bail!("server closed the connection");
        }
        s.handle_input(&buf[..n])
            .map_err(|e| anyhow!("RTMP: {e}"))?;
        if let Some(ClientEvent::Error(d)) = s.poll_event() {
            bail!("play refused: {d}");
        }
        while let Some(e) = s.poll_play_event() {
            match e {
                PlayEvent::Media {
                    kind: MediaKind::Video,
                    payload,
                    ..
                } => tracker.on_video(&payload),
                PlayEvent::Playing => tracker.result.connected = true,
                PlayEvent::StreamEnded => return Ok(()),
                PlayEvent::Media { .. } => {}
            }
        }
    }
}

async fn http_flv(url: &Url, tracker: &mut VideoTracker) -> Result<()> {
    let mut resp = net::get(url).await?;
    if resp.status != 200 {
        bail!("HTTP {}", resp.status);
    }
    tracker.result.connected = true;
    let mut reader = FlvReader::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    while resp.read_into(&mut buf).await? {
        reader.push(&buf);
        buf.clear();
        while let Some(tag) = reader.next_tag().map_err(|e| anyhow!("FLV: {e}"))? {
            if tag.tag_type == TagType::VIDEO {
                tracker.on_video(&tag.body);
            }
        }
    }
    Ok(())
}

/// The largest playlist or segment we download.
const MAX_HLS_BODY: usize = 64 * 1024 * 1024;

/// A polling HLS player: reloads the media playlist every half target duration, starts three
/// segments from the live edge as hls.js does, downloads each new segment once. Playback is
/// modelled: a segment is shown at `stamp + offset` where the offset is fixed at the first
/// segment and grows when a segment arrives late (a stall); its latency sample is the offset
/// (the glass-to-glass delay a viewer would see, minus the encoder).
async fn hls(url: &Url, tracker: &mut VideoTracker, window: Window) -> Result<()> {
    let mut playlist_url = url.clone();
    let mut next_seq: Option<u64> = None;
    let mut offset_us: Option<u64> = None;
    loop {
        let body = fetch(&playlist_url).await?;
        let text = String::from_utf8_lossy(&body);
        if text.contains("#EXT-X-STREAM-INF") {
            let variant = text
                .lines()
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .ok_or_else(|| anyhow!("master playlist without variants"))?;
            playlist_url = playlist_url.join(variant)?;
            continue;
        }
        tracker.result.connected = true;
        let mut seq: u64 = 0;
        let mut target = 2.0f64;
        let mut segments = Vec::new();
        for l in text.lines() {
            if let Some(v) = l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                seq = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = l.strip_prefix("#EXT-X-TARGETDURATION:") {
                target = v.trim().parse().unwrap_or(2.0);
            } else if !l.is_empty() && !l.starts_with('#') {
                segments.push((seq, l.to_owned()));
                seq += 1;
            }
        }
        let from = *next_seq.get_or_insert_with(|| {
            let n = segments.len().saturating_sub(3);
            segments.get(n).map_or(0, |s| s.0)
        });
        for (n, uri) in segments.iter().filter(|s| s.0 >= from) {
            let data = fetch(&playlist_url.join(uri)?).await?;
            next_seq = Some(n + 1);
            let Some(stamp) = first_stamp_in_ts(&data) else {
                continue;
            };
            let now = unix_micros();
            let off = offset_us.get_or_insert(now.saturating_sub(stamp));
            if stamp + *off < now {
                // Arrived after it should have been shown: the player stalls.
                *off = now - stamp;
            }
            let lat = *off;
            tracker.on_frame(None);
            if window.contains(Instant::now()) {
                tracker
                    .result
                    .latencies_us
                    .push(u32::try_from(lat).unwrap_or(u32::MAX));
            }
        }
        tokio::time::sleep(Duration::from_secs_f64((target / 2.0).clamp(0.1, 5.0))).await;
    }
}

/// A Low-Latency HLS player (RFC 8216bis §6.2.5), as hls.js plays LL streams: it asks for the
/// next part with a blocking playlist reload (`_HLS_msn`/`_HLS_part`), downloads each part once,
/// and plays `PART-HOLD-BACK` behind the live edge. Playback is modelled as in [`hls`]: the first
/// part fixes the offset `now − stamp − part duration + hold-back`; a part that arrives after its
/// display time stalls the player and grows the offset. Each sample is the offset: the
/// glass-to-glass delay a viewer would see, minus the encoder.
async fn ll_hls(url: &Url, tracker: &mut VideoTracker, window: Window) -> Result<()> {
    let attr = |line: &str, key: &str| -> Option<String> {
        let i = line.find(&format!("{key}="))? + key.len() + 1;
        let rest = &line[i..];
        Some(match rest.strip_prefix('"') {
            Some(q) => q.split('"').next()?.to_owned(),
            None => rest.split(',').next()?.to_owned(),
        })
    };
    let hint = |text: &str| -> Option<(u64, u32)> {
        let line = text
            .lines()
            .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))?;
        let uri = attr(line, "URI")?;
        let (seg, part) = uri
            .strip_prefix("seg")?
            .strip_suffix(".ts")?
            .split_once('.')?;
        Some((seg.parse().ok()?, part.parse().ok()?))
    };
    let mut text = String::from_utf8_lossy(&fetch(url).await?).into_owned();
    // A multivariant playlist names this player's own media playlist: follow it.
    let media;
    let url = if text.contains("#EXT-X-STREAM-INF") {
        let variant = text
            .lines()
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| anyhow!("master playlist without variants"))?;
        media = url.join(variant)?;
        text = String::from_utf8_lossy(&fetch(&media).await?).into_owned();
        &media
    } else {
        url
    };
    let hold_back_us = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-SERVER-CONTROL:"))
        .and_then(|l| attr(l, "PART-HOLD-BACK"))
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| anyhow!("not a low-latency playlist (no PART-HOLD-BACK)"))?;
    let hold_back_us = (hold_back_us * 1e6) as u64;
    tracker.result.connected = true;
    let (mut msn, mut part) = hint(&text).ok_or_else(|| anyhow!("no EXT-X-PRELOAD-HINT"))?;
    let mut offset_us: Option<u64> = None;
    loop {
        let mut reload = url.clone();
        let sep = if reload.path.contains('?') { '&' } else { '?' };
        reload.path = format!("{}{sep}_HLS_msn={msn}&_HLS_part={part}", reload.path);
        let text = String::from_utf8_lossy(&fetch(&reload).await?).into_owned();
        let name = format!("seg{msn}.{part}.ts");
        let duration_us = text
            .lines()
            .find(|l| l.starts_with("#EXT-X-PART:") && l.contains(&format!("\"{name}\"")))
            .and_then(|l| attr(l, "DURATION"))
            .and_then(|d| d.parse::<f64>().ok())
            .map_or(200_000, |d| (d * 1e6) as u64);
        let data = fetch(&url.join(&name)?).await?;
        if let Some(stamp) = first_stamp_in_ts(&data) {
            let now = unix_micros();
            let off =
                offset_us.get_or_insert((now + hold_back_us).saturating_sub(stamp + duration_us));
            if stamp + *off < now {
                *off = now - stamp;
            }
            let lat = *off;
            tracker.on_frame(None);
            if window.contains(Instant::now()) {
                tracker
                    .result
                    .latencies_us
                    .push(u32::try_from(lat).unwrap_or(u32::MAX));
            }
        }
        (msn, part) = hint(&text).ok_or_else(|| anyhow!("no EXT-X-PRELOAD-HINT"))?;
    }
}

async fn fetch(url: &Url) -> Result<BytesMut> {
    let mut r = net::get(url).await?;
    if r.status != 200 {
        bail!("HTTP {} for {}", r.status, url.path);
    }
    r.read_all(MAX_HLS_BODY).await
}

/// The first stamp in an MPEG-TS segment (ISO/IEC 13818-1 §2.4.3): payloads are reassembled
/// per PID (the first 256 packets of each) and searched for our SEI.
fn first_stamp_in_ts(data: &[u8]) -> Option<u64> {
    let mut per_pid: HashMap<u16, (usize, Vec<u8>)> = HashMap::new();
    for p in data.chunks_exact(188) {
        if p[0] != 0x47 {
            return None;
        }
        let pid = u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]);
        let afc = (p[3] >> 4) & 0x3;
        let start = match afc {
            1 => 4,
            3 => 5 + usize::from(p[4]),
            _ => continue,
        };
        let Some(payload) = p.get(start..) else {
            continue;
        };
        let e = per_pid.entry(pid).or_default();
        if e.0 < 256 {
            e.0 += 1;
            e.1.extend_from_slice(payload);
        }
    }
    per_pid.values().find_map(|(_, v)| sei::find_in_stream(v))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stamp_split_across_ts_packets_is_found() {
        let mut nal = [0u8; sei::MAX_NAL_LEN];
        let n = sei::write_nal(123_456_789, &mut nal);
        let mut es = vec![0u8, 0, 0, 1];
        es.extend_from_slice(&[0xAB; 170]);
        es.extend_from_slice(&[0, 0, 1]);
        es.extend_from_slice(&nal[..n]);
        let mut ts = Vec::new();
        for (i, part) in es.chunks(184).enumerate() {
            // Interleave an audio packet (PID 0x101) between video packets (PID 0x100).
            ts.extend_from_slice(&[0x47, 0x01, 0x01, 0x10]);
            ts.extend_from_slice(&[0xCD; 184]);
            let mut p = vec![0x47, 0x01, 0x00, 0x10 | (i as u8 & 0xF)];
            p.extend_from_slice(part);
            p.resize(188, 0xFF);
            ts.extend_from_slice(&p);
        }
        assert_eq!(first_stamp_in_ts(&ts), Some(123_456_789));
        assert_eq!(first_stamp_in_ts(&[0x47; 188]), None);
    }
}
