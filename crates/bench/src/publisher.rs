//! A publisher: replays the test FLV over RTMP in real time, looping with timestamps that
//! continue, and stamps every video access unit with the wall clock (see [`crate::sei`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::{BufMut, Bytes, BytesMut};
use ferrocast_media::avc::AvcDecoderConfig;
use ferrocast_media::flv::{
    AacPacketType, AudioTagHeader, AvcPacketType, FlvReader, FlvTag, TagType, VideoTagHeader,
};
use ferrocast_rtmp::{ClientEvent, ClientSession, MediaKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::net::Url;
use crate::sei;
use crate::video::unix_micros;

/// The test file, parsed once and shared by every publisher.
#[derive(Debug)]
pub struct Source {
    /// Every tag in file order.
    pub tags: Vec<FlvTag>,
    /// How far the timestamps advance per loop.
    pub loop_ms: u32,
    /// NAL length prefix size from the AVC sequence header.
    pub length_size: usize,
}

impl Source {
    /// Reads and parses an FLV file.
    pub fn load(path: &std::path::Path) -> Result<Arc<Self>> {
        let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        let mut r = FlvReader::new();
        r.push(&data);
        let mut tags = Vec::new();
        while let Some(t) = r
            .next_tag()
            .map_err(|e| anyhow!("{}: {e}", path.display()))?
        {
            tags.push(t);
        }
        let mut length_size = 4;
        let mut video_ts = Vec::new();
        for t in &tags {
            if t.tag_type != TagType::VIDEO {
                continue;
            }
            let Ok(h) = VideoTagHeader::parse(&t.body) else {
                continue;
            };
            match h.avc_packet_type {
                Some(AvcPacketType::SEQUENCE_HEADER) => {
                    if let Ok(c) = AvcDecoderConfig::parse(&t.body[h.encoded_len()..]) {
                        length_size = usize::from(c.nal_length_size);
                    }
                }
                Some(AvcPacketType::NALU) => video_ts.push(t.timestamp_ms),
                _ => {}
            }
        }
        let (Some(&first), Some(&last)) = (video_ts.first(), video_ts.last()) else {
            bail!("{} has no AVC video", path.display());
        };
        let frame = if video_ts.len() > 1 {
            (last - first) / (video_ts.len() as u32 - 1)
        } else {
            33
        };
        Ok(Arc::new(Self {
            tags,
            loop_ms: last + frame.max(1),
            length_size,
        }))
    }
}

/// A publisher's results.
#[derive(Debug, Default, Clone)]
pub struct PublisherResult {
    /// `NetStream.Publish.Start` received.
    pub publishing: bool,
    /// Messages sent.
    pub frames_sent: u64,
    /// The furthest a send fell behind its schedule (the server did not read fast enough).
    pub max_send_lag: Duration,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// True for configuration tags that are sent once, not on every loop.
fn is_config(t: &FlvTag) -> bool {
    match t.tag_type {
        TagType::SCRIPT_DATA => true,
        TagType::VIDEO => VideoTagHeader::parse(&t.body)
            .map(|h| h.avc_packet_type != Some(AvcPacketType::NALU))
            .unwrap_or(true),
        TagType::AUDIO => AudioTagHeader::parse(&t.body)
            .map(|h| h.aac_packet_type == Some(AacPacketType::SEQUENCE_HEADER))
            .unwrap_or(true),
        _ => true,
    }
}

/// The RTMP message kind of a tag (a script tag body is the AMF0 `onMetaData` body already).
fn kind_of(t: &FlvTag) -> Option<MediaKind> {
    match t.tag_type {
        TagType::AUDIO => Some(MediaKind::Audio),
        TagType::VIDEO => Some(MediaKind::Video),
        TagType::SCRIPT_DATA => Some(MediaKind::Data),
        _ => None,
    }
}

/// The video body with our SEI NAL prepended to the access unit.
fn stamp_video(body: &Bytes, length_size: usize, out: &mut BytesMut) -> Bytes {
    let mut nal = [0u8; sei::MAX_NAL_LEN];
    let n = sei::write_nal(unix_micros(), &mut nal);
    out.reserve(body.len() + length_size + n);
    out.put_slice(&body[..5]);
    out.put_slice(&(n as u32).to_be_bytes()[4 - length_size..]);
    out.put_slice(&nal[..n]);
    out.put_slice(&body[5..]);
    out.split().freeze()
}

/// Publishes until the instant in `end` (which may move). Sends `()` on `ready` once publishing.
pub async fn run(
    url: Url,
    src: Arc<Source>,
    end: watch::Receiver<Instant>,
    ready: mpsc::Sender<()>,
) -> PublisherResult {
    let mut res = PublisherResult::default();
    if let Err(e) = publish(&url, &src, end, &ready, &mut res).await {
        res.error = Some(format!("{e:#}"));
    }
    res
}

async fn flush(s: &mut ClientSession, sock: &mut TcpStream) -> Result<()> {
    while let Some(b) = s.poll_transmit() {
        sock.write_all(&b).await?;
    }
    Ok(())
}

async fn publish(
    url: &Url,
    src: &Source,
    end: watch::Receiver<Instant>,
    ready: &mpsc::Sender<()>,
    res: &mut PublisherResult,
) -> Result<()> {
    let (app, key, tc_url) = url.rtmp_parts()?;
    let mut sock = TcpStream::connect(&url.authority)
        .await
        .with_context(|| format!("connect {}", url.authority))?;
    sock.set_nodelay(true)?;
    let mut s = ClientSession::new(&app, &tc_url, &key);
    let mut buf = vec![0u8; 16 * 1024];
    flush(&mut s, &mut sock).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.is_publishing() {
        let n = tokio::time::timeout_at(deadline.into(), sock.read(&mut buf))
            .await
            .map_err(|_| anyhow!("no NetStream.Publish.Start within 10 s"))??;
        if n == 0 {
            bail!("server closed the connection while starting to publish");
        }
        let _ = s.handle_input(&buf[..n]);
        while let Some(e) = s.poll_event() {
            if let ClientEvent::Error(d) = e {
                bail!("publish refused: {d}");
            }
        }
        flush(&mut s, &mut sock).await?;
    }
    res.publishing = true;
    let _ = ready.send(()).await;

    let start = Instant::now();
    let mut scratch = BytesMut::new();
    let mut first_loop = true;
    let mut base = 0u32;
    'outer: loop {
        for t in &src.tags {
            if !first_loop && is_config(t) {
                continue;
            }
            let Some(kind) = kind_of(t) else { continue };
            let ts = base.wrapping_add(t.timestamp_ms);
            let due = start + Duration::from_millis(u64::from(ts));
            if due >= *end.borrow() {
                break 'outer;
            }
            // Wait for the schedule while answering the server (acks, pings).
            loop {
                let now = Instant::now();
                if now >= due {
                    res.max_send_lag = res.max_send_lag.max(now - due);
                    break;
                }
                tokio::select! {
                    r = sock.read(&mut buf) => {
                        let n = r?;
                        if n == 0 {
                            bail!("server closed the connection");
                        }
                        s.handle_input(&buf[..n]).map_err(|e| anyhow!("RTMP: {e}"))?;
                        while let Some(e) = s.poll_event() {
                            if let ClientEvent::Error(d) = e {
                                bail!("server error: {d}");
                            }
                        }
                        flush(&mut s, &mut sock).await?;
                    }
                    () = tokio::time::sleep_until(due.into()) => {}
                }
            }
            let stamped;
            let payload = if kind == MediaKind::Video && !is_config(t) && t.body.len() >= 5 {
                stamped = stamp_video(&t.body, src.length_size, &mut scratch);
                &stamped
            } else {
                &t.body
            };
            s.send_media(kind, ts, payload)
                .map_err(|e| anyhow!("RTMP: {e}"))?;
            flush(&mut s, &mut sock).await?;
            res.frames_sent += 1;
        }
        first_loop = false;
        base = base.wrapping_add(src.loop_ms);
    }
    s.unpublish();
    let _ = flush(&mut s, &mut sock).await;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stamped_video_keeps_header_and_access_unit() {
        let body = Bytes::from_static(&[0x27, 1, 0, 0, 0x21, 0, 0, 0, 2, 0x41, 9]);
        let out = stamp_video(&body, 4, &mut BytesMut::new());
        assert_eq!(&out[..5], &body[..5]);
        assert_eq!(&out[out.len() - 6..], &body[5..]);
        let t = sei::find_in_avcc(&out[5..], 4).unwrap();
        assert!(unix_micros() - t < 5_000_000);
        let out = stamp_video(&body, 2, &mut BytesMut::new());
        assert!(sei::find_in_avcc(&out[5..], 2).is_some());
    }
}
