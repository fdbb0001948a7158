//! HTTP-FLV output: a reader's frames as an FLV byte stream (FLV spec v10.1 Annex E).
//!
//! Each tag goes out as three chunks — an 11-byte header, the shared frame body, the 4-byte
//! `PreviousTagSize` — so the body is never copied per viewer.

use bytes::{BufMut, Bytes, BytesMut};
use ferrocast_hub::{Frame, FrameKind, ReadEnd, Reader};
use ferrocast_media::flv::{write_file_header, FlvHeader, TagType};
use ferrocast_rtmp::amf0;
use std::collections::VecDeque;

/// The FLV file header and `PreviousTagSize0` (the media crate's writer).
pub fn file_header(has_audio: bool, has_video: bool) -> Bytes {
    let mut b = BytesMut::with_capacity(13);
    write_file_header(
        FlvHeader {
            has_audio,
            has_video,
        },
        &mut b,
    );
    b.freeze()
}

/// A tag's 11-byte header and 4-byte `PreviousTagSize` (FLV spec v10.1 Annex E.4.1), from one
/// allocation; the body goes between them without being copied.
fn tag_frame(tag_type: TagType, timestamp: u32, len: usize) -> (Bytes, Bytes) {
    let mut b = BytesMut::with_capacity(15);
    b.put_u8(tag_type.0);
    b.put_uint(len as u64, 3);
    b.put_uint(u64::from(timestamp & 0x00ff_ffff), 3);
    b.put_u8((timestamp >> 24) as u8);
    b.put_uint(0, 3);
    b.put_u32((11 + len) as u32);
    let trailer = b.split_off(11);
    (b.freeze(), trailer.freeze())
}

/// Frames an FLV response may hold back while it learns which tracks the stream has (its
/// metadata and configurations come before its first media frame).
const MAX_HELD: usize = 8;

/// Turns a reader into the chunks of an FLV stream. Timestamps are rebased so the stream starts
/// at 0, as players expect. The stream ends when the publisher leaves or the reader is dropped
/// for staying behind.
///
/// The file header announces at least the tracks given (`has_audio`, `has_video`: those known
/// when the reader subscribed), and any other the stream shows before its first media frame:
/// named in its `onMetaData` (`audiocodecid`, `videocodecid`, as encoders write them for the
/// tracks they send), or by a configuration or frame of its own. A reader that subscribes
/// before the encoder's first frames has the header wait for them: a header announcing audio
/// that never comes makes ffmpeg analyse 90 s of the stream before it plays, and flv.js wait
/// for it. A stream with no metadata whose audio starts only after its first video frame is
/// announced as video: players then play its picture, which is better than waiting for ever.
pub fn stream(
    reader: Reader,
    has_audio: bool,
    has_video: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    struct State {
        reader: Reader,
        pending: VecDeque<Bytes>,
        base: Option<u32>,
        header_sent: bool,
        has_audio: bool,
        has_video: bool,
    }
    impl State {
        /// Queues one frame's tag: its header, the shared body, its trailer.
        fn queue(&mut self, frame: Frame) {
            let tag_type = match frame.kind {
                FrameKind::Audio => TagType::AUDIO,
                FrameKind::Video => TagType::VIDEO,
                FrameKind::Data => TagType::SCRIPT_DATA,
            };
            // Configuration and metadata are timeless; media is rebased to the first sample.
            let ts = if frame.sequence_header || frame.kind == FrameKind::Data {
                0
            } else {
                let base = *self.base.get_or_insert(frame.timestamp);
                frame.timestamp.wrapping_sub(base)
            };
            let (header, trailer) = tag_frame(tag_type, ts, frame.data.len());
            self.pending.extend([header, frame.data, trailer]);
        }

        /// Holds frames back until the first media frame (or [`MAX_HELD`] of them), then queues
        /// the file header announcing the tracks seen, and the frames. False if the stream
        /// ended before any frame.
        async fn start(&mut self) -> bool {
            let mut held = Vec::new();
            while held.len() < MAX_HELD {
                // A stream that ends while held back still gets what it sent.
                let Ok(frame) = self.reader.recv().await else {
                    if held.is_empty() {
                        return false;
                    }
                    break;
                };
                match frame.kind {
                    FrameKind::Audio => self.has_audio = true,
                    FrameKind::Video => self.has_video = true,
                    FrameKind::Data => {
                        let (audio, video) = announced_tracks(&frame.data);
                        self.has_audio |= audio;
                        self.has_video |= video;
                    }
                }
                let media = frame.kind != FrameKind::Data && !frame.sequence_header;
                held.push(frame);
                if media {
                    break;
                }
            }
            // Nothing told the tracks apart (metadata without codec ids, and nothing else so
            // far): announce both.
            let none = !self.has_audio && !self.has_video;
            self.pending
                .push_back(file_header(self.has_audio || none, self.has_video || none));
            for frame in held {
                self.queue(frame);
            }
            true
        }
    }
    let state = State {
        reader,
        pending: VecDeque::new(),
        base: None,
        header_sent: false,
        has_audio,
        has_video,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if !st.header_sent {
            st.header_sent = true;
            if !st.start().await {
                return None;
            }
        }
        if st.pending.is_empty() {
            match st.reader.recv().await {
                Ok(frame) => st.queue(frame),
                // The publisher left, or this viewer stayed behind: the response ends.
                Err(ReadEnd::Ended | ReadEnd::TooSlow) => return None,
            }
        }
        let chunk = st.pending.pop_front()?;
        Some((Ok(chunk), st))
    })
}

/// The tracks an `onMetaData` body names: `(audiocodecid, videocodecid)` present. Anything
/// else (another data message, a body that is not AMF0) names none.
fn announced_tracks(body: &[u8]) -> (bool, bool) {
    let Ok((name, used)) = amf0::decode(body) else {
        return (false, false);
    };
    if name.as_str() != Some("onMetaData") {
        return (false, false);
    }
    match body.get(used..).map(amf0::decode) {
        Some(Ok((props, _))) => (
            props.get("audiocodecid").is_some(),
            props.get("videocodecid").is_some(),
        ),
        _ => (false, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocast_hub::{Hub, StreamKey};
    use ferrocast_rtmp::amf0::Value;
    use futures_util::StreamExt;

    fn tag(kind: FrameKind, ts: u32, body: &'static [u8]) -> Frame {
        Frame::from_tag(kind, ts, Bytes::from_static(body))
    }
    fn video_config() -> Frame {
        tag(FrameKind::Video, 0, &[0x17, 0, 0, 0, 0])
    }
    fn keyframe() -> Frame {
        tag(FrameKind::Video, 0, &[0x17, 1, 0, 0, 0, 9])
    }
    fn audio_config() -> Frame {
        tag(FrameKind::Audio, 0, &[0xaf, 0, 0x12, 0x10])
    }
    /// `onMetaData` naming these codec ids (as ffmpeg and OBS write it).
    fn metadata(ids: &[&str]) -> Frame {
        let props = ids
            .iter()
            .map(|k| (k.to_string(), Value::Number(7.0)))
            .chain([("width".to_string(), Value::Number(320.0))])
            .collect();
        let mut body = BytesMut::new();
        amf0::encode_all(
            &[Value::string("onMetaData"), Value::EcmaArray(props)],
            &mut body,
        );
        Frame::from_tag(FrameKind::Data, 0, body.freeze())
    }

    /// Stream "a" published on `hub`, and a reader of it that came before any frame.
    fn early_reader(hub: &Hub) -> (ferrocast_hub::Publisher, Reader) {
        let key = StreamKey {
            playback_id: "a".into(),
            source_id: 1,
            relay: false,
        };
        let publisher = hub.publish(key).expect("publish");
        (publisher, hub.subscribe("a").expect("live"))
    }

    /// The FLV header's flags byte (audio 0x04, video 0x01) of a response to a reader that
    /// subscribed before anything was published, given `known` tracks, once `frames` are pushed.
    async fn flags_after(known: (bool, bool), frames: Vec<Frame>) -> u8 {
        let (publisher, reader) = early_reader(&Hub::default());
        let out = stream(reader, known.0, known.1);
        tokio::pin!(out);
        for f in frames {
            publisher.push(f);
        }
        let header = out.next().await.expect("a header").expect("bytes");
        assert_eq!(&header[..3], b"FLV");
        header[4]
    }

    #[tokio::test]
    async fn the_header_announces_the_tracks_of_a_stream_read_from_its_start() {
        let none = (false, false);
        // Video only: no audio flag, which would have ffmpeg analyse 90 s before playing.
        let video_only = vec![metadata(&["videocodecid"]), video_config(), keyframe()];
        assert_eq!(flags_after(none, video_only).await, 0x01);
        let both = vec![
            metadata(&["videocodecid", "audiocodecid"]),
            video_config(),
            audio_config(),
            keyframe(),
        ];
        assert_eq!(flags_after(none, both).await, 0x05);
        // Audio that starts after the first video frame: the metadata names it.
        let late_audio = vec![
            metadata(&["videocodecid", "audiocodecid"]),
            video_config(),
            keyframe(),
        ];
        assert_eq!(flags_after(none, late_audio).await, 0x05);
        // Without metadata, the configurations and frames decide.
        assert_eq!(
            flags_after(none, vec![video_config(), keyframe()]).await,
            0x01
        );
        let audio_only = vec![audio_config(), tag(FrameKind::Audio, 0, &[0xaf, 1, 7])];
        assert_eq!(flags_after(none, audio_only).await, 0x04);
        // What the caller knew is announced too.
        assert_eq!(
            flags_after((true, false), vec![video_config(), keyframe()]).await,
            0x05
        );
        // Metadata naming nothing, for longer than a header waits: both, as a guess.
        assert_eq!(flags_after(none, vec![metadata(&[]); MAX_HELD]).await, 0x05);
    }

    /// Every tag of `out` until it ends or `n` tags were read, and the header.
    async fn tags(
        out: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>>,
        n: usize,
    ) -> (Option<FlvHeader>, Vec<(u32, u8)>) {
        tokio::pin!(out);
        let mut flv = ferrocast_media::flv::FlvReader::new();
        let mut seen = Vec::new();
        while seen.len() < n {
            let Some(chunk) = out.next().await else { break };
            flv.push(&chunk.expect("bytes"));
            while let Some(t) = flv.next_tag().expect("a valid FLV stream") {
                seen.push((t.timestamp_ms, t.body[1]));
            }
        }
        (flv.header(), seen)
    }

    #[tokio::test]
    async fn held_frames_follow_the_header_in_order() {
        let (publisher, reader) = early_reader(&Hub::default());
        let out = stream(reader, false, false);
        publisher.push(video_config());
        publisher.push(tag(FrameKind::Video, 40, &[0x17, 1, 0, 0, 0, 9]));
        publisher.push(tag(FrameKind::Video, 73, &[0x27, 1, 0, 0, 0, 8]));
        let (header, seen) = tags(out, 3).await;
        assert_eq!(
            header.map(|h| (h.has_audio, h.has_video)),
            Some((false, true))
        );
        // The configuration is timeless; media is rebased to the first sample.
        assert_eq!(seen, [(0, 0), (0, 1), (33, 1)]);
    }

    #[tokio::test]
    async fn a_stream_that_ends_while_held_back_still_sends_what_it_had() {
        let hub = Hub::default();
        let (publisher, reader) = early_reader(&hub);
        let out = stream(reader, false, false);
        publisher.push(video_config());
        drop(publisher);
        let (header, seen) = tags(out, usize::MAX).await;
        assert_eq!(header.map(|h| h.has_video), Some(true));
        assert_eq!(seen, [(0, 0)]);
        // Ended before any frame: an empty body.
        let (publisher, reader) = early_reader(&hub);
        let out = stream(reader, false, false);
        drop(publisher);
        tokio::pin!(out);
        assert!(out.next().await.is_none());
    }
}
