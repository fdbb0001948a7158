//! Our client and server sessions driven against each other in memory.

use bytes::Bytes;

use super::*;
use crate::amf0;

/// Moves bytes both ways until neither side has anything to send.
fn pump(c: &mut ClientSession, s: &mut ServerSession) {
    for _ in 0..100 {
        let mut moved = false;
        while let Some(b) = c.poll_transmit() {
            // Split arbitrarily to exercise resumption.
            for part in b.chunks(7) {
                s.handle_input(part).unwrap();
            }
            moved = true;
        }
        while let Some(b) = s.poll_transmit() {
            c.handle_input(&b).unwrap();
            moved = true;
        }
        if !moved {
            return;
        }
    }
    panic!("sessions did not settle");
}

fn events(s: &mut ServerSession) -> Vec<ServerEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn metadata() -> Bytes {
    let mut b = Vec::new();
    amf0::encode(&Value::string("onMetaData"), &mut b);
    amf0::encode(
        &Value::EcmaArray(vec![("width".into(), Value::Number(320.0))]),
        &mut b,
    );
    Bytes::from(b)
}

fn media() -> Vec<(MediaKind, u32, Bytes)> {
    let mut v = vec![(MediaKind::Data, 0, metadata())];
    v.push((
        MediaKind::Video,
        0,
        Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 2]),
    ));
    v.push((
        MediaKind::Audio,
        0,
        Bytes::from_static(&[0xaf, 0, 0x12, 0x10]),
    ));
    for i in 1..50u32 {
        let big = Bytes::from(vec![i as u8; 10_000 + i as usize]);
        v.push((MediaKind::Video, i * 33, big));
        v.push((
            MediaKind::Audio,
            i * 23,
            Bytes::from(vec![0xaf, 1, i as u8]),
        ));
    }
    // Past the extended-timestamp threshold.
    v.push((MediaKind::Video, 0x0100_0000, Bytes::from(vec![7; 9000])));
    v
}

#[test]
fn client_publishes_to_server() {
    let mut c = ClientSession::new("live", "rtmp://localhost/live", "key?token=abc");
    let mut s = ServerSession::new();
    pump(&mut c, &mut s);
    let ev = events(&mut s);
    assert!(
        matches!(&ev[0], ServerEvent::Connected { app, tc_url, flash_ver }
        if app == "live" && tc_url.as_deref() == Some("rtmp://localhost/live") && flash_ver.is_some())
    );
    let ServerEvent::PublishRequested {
        request,
        app,
        stream_key,
        query,
    } = &ev[1]
    else {
        panic!("{ev:?}")
    };
    assert_eq!((app.as_str(), stream_key.as_str()), ("live", "key"));
    assert_eq!(query.as_deref(), Some("token=abc"));
    assert!(
        !format!("{:?}", ev[1]).contains("key"),
        "stream key leaked into Debug"
    );
    assert!(c.poll_event().is_none());
    s.accept_publish(*request).unwrap();
    pump(&mut c, &mut s);
    assert_eq!(c.poll_event(), Some(ClientEvent::Publishing));

    let sent = media();
    for (k, t, p) in &sent {
        c.send_media(*k, *t, p).unwrap();
    }
    pump(&mut c, &mut s);
    let got: Vec<_> = events(&mut s)
        .into_iter()
        .map(|e| match e {
            ServerEvent::Media {
                kind,
                timestamp,
                payload,
            } => (kind, timestamp, payload),
            e => panic!("unexpected {e:?}"),
        })
        .collect();
    assert_eq!(got, sent);

    c.unpublish();
    pump(&mut c, &mut s);
    assert_eq!(events(&mut s), vec![ServerEvent::Unpublished]);
}

#[test]
fn rejected_publish_reports_error_and_closes() {
    let mut c = ClientSession::new("live", "rtmp://localhost/live", "bad");
    let mut s = ServerSession::new();
    pump(&mut c, &mut s);
    let Some(ServerEvent::PublishRequested { request, .. }) = events(&mut s).pop() else {
        panic!()
    };
    s.reject_publish(request, "unknown stream key").unwrap();
    assert_eq!(s.poll_event(), Some(ServerEvent::Closed));
    assert!(s.is_closed());
    while let Some(b) = s.poll_transmit() {
        c.handle_input(&b).unwrap();
    }
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Error("unknown stream key".into()))
    );
    assert!(c.send_media(MediaKind::Audio, 0, &Bytes::new()).is_err());
    assert_eq!(s.handle_input(&[0]), Err(RtmpError::Closed));
    assert_eq!(s.accept_publish(request), Err(RtmpError::Closed));
}

/// A minimal player: handshake, connect, createStream, play; decodes what comes back.
struct Player {
    /// Handshake bytes (S0+S1+S2) still to skip.
    skip: usize,
    dec: ChunkDecoder,
    enc: ChunkEncoder,
}

impl Player {
    fn command(&mut self, s: &mut ServerSession, stream_id: u32, c: Command) {
        let mut out = BytesMut::new();
        self.enc
            .write(
                &mut out,
                3,
                0,
                MessageType::COMMAND_AMF0,
                stream_id,
                &c.encode(),
            )
            .unwrap();
        s.handle_input(&out).unwrap();
    }

    fn receive(&mut self, s: &mut ServerSession) -> Vec<Message> {
        let mut msgs = Vec::new();
        while let Some(b) = s.poll_transmit() {
            let n = self.skip.min(b.len());
            self.skip -= n;
            let mut input = &b[n..];
            while let Some(m) = self.dec.decode(&mut input).unwrap() {
                if let Ok(Some(ProtocolControl::SetChunkSize(n))) =
                    ProtocolControl::decode(m.type_id, &m.payload)
                {
                    self.dec.set_chunk_size(n).unwrap();
                }
                msgs.push(m);
            }
        }
        msgs
    }
}

fn statuses(msgs: &[Message]) -> Vec<String> {
    msgs.iter()
        .filter(|m| m.type_id == MessageType::COMMAND_AMF0)
        .filter_map(|m| Command::decode(&m.payload).ok())
        .filter(|c| c.name == "onStatus")
        .filter_map(|c| c.args[0].get("code")?.as_str().map(str::to_owned))
        .collect()
}

/// A bare client through the handshake, `connect` and `createStream`: the client and the
/// message stream id the server gave it.
fn connect_and_create_stream(s: &mut ServerSession) -> (Player, u32) {
    let mut hs = vec![3u8];
    hs.extend_from_slice(&[0u8; 2 * crate::handshake::HANDSHAKE_SIZE]);
    s.handle_input(&hs).unwrap();
    let mut p = Player {
        skip: 1 + 2 * crate::handshake::HANDSHAKE_SIZE,
        dec: ChunkDecoder::new(),
        enc: ChunkEncoder::new(),
    };
    let obj = Value::object([("app", Value::string("live"))]);
    p.command(s, 0, Command::new("connect", 1.0, obj, vec![]));
    p.command(s, 0, Command::new("createStream", 2.0, Value::Null, vec![]));
    let msgs = p.receive(s);
    let created = msgs
        .iter()
        .filter_map(|m| Command::decode(&m.payload).ok())
        .find(|c| c.transaction_id == 2.0)
        .unwrap();
    let sid = created.args[0].as_number().unwrap() as u32;
    (p, sid)
}

fn start_play(s: &mut ServerSession, name: &str) -> (Player, RequestId) {
    let (mut p, sid) = connect_and_create_stream(s);
    p.command(
        s,
        sid,
        Command::new("play", 3.0, Value::Null, vec![Value::string(name)]),
    );
    let ev = events(s);
    let Some(ServerEvent::PlayRequested {
        request, name: n, ..
    }) = ev.last()
    else {
        panic!("{ev:?}")
    };
    assert_eq!(n, name.split('?').next().unwrap());
    (p, *request)
}

#[test]
fn publish_media_on_the_created_stream_or_stream_zero_is_accepted() {
    let (mut p, sid, mut s) = accepted_publisher();
    for (msid, first_byte) in [(sid, 0x17), (0, 0x27), (sid + 5, 0x37)] {
        let mut out = BytesMut::new();
        p.enc
            .write(
                &mut out,
                6,
                40,
                MessageType::VIDEO,
                msid,
                &[first_byte, 1, 0, 0, 0],
            )
            .unwrap();
        s.handle_input(&out).unwrap();
    }
    let got: Vec<u8> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::Media { payload, .. } => payload.first().copied(),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [0x17, 0x27],
        "a stream that was never created is ignored"
    );
}

#[test]
fn play_session_receives_media() {
    let mut s = ServerSession::new();
    let (mut p, request) = start_play(&mut s, "cam?t=1");
    assert!(s.send_media(MediaKind::Video, 0, &Bytes::new()).is_err());
    s.accept_play(request).unwrap();
    let msgs = p.receive(&mut s);
    assert_eq!(
        statuses(&msgs),
        ["NetStream.Play.Reset", "NetStream.Play.Start"]
    );
    let sid = s.play_stream_id().unwrap();
    let sent = media();
    for (i, (k, t, pl)) in sent.iter().enumerate() {
        if i % 3 == 0 {
            let b = chunk_media(s.out_chunk_size(), sid, *k, *t, pl).unwrap();
            s.send_chunked(*k, b).unwrap();
        } else {
            s.send_media(*k, *t, pl).unwrap();
        }
    }
    s.send_stream_eof().unwrap();
    let msgs = p.receive(&mut s);
    let got: Vec<_> = msgs
        .iter()
        .filter(|m| m.stream_id == sid && m.type_id != MessageType::COMMAND_AMF0)
        .map(|m| {
            let k = match m.type_id {
                MessageType::AUDIO => MediaKind::Audio,
                MessageType::VIDEO => MediaKind::Video,
                _ => MediaKind::Data,
            };
            (k, m.timestamp, m.payload.clone())
        })
        .collect();
    assert_eq!(got, sent);
    assert_eq!(statuses(&msgs), ["NetStream.Play.UnpublishNotify"]);
}

#[test]
fn rejected_play_closes() {
    let mut s = ServerSession::new();
    let (mut p, request) = start_play(&mut s, "nope");
    assert_eq!(
        s.reject_play(RequestId(99), "x"),
        Err(RtmpError::UnknownRequest)
    );
    s.reject_play(request, "no such stream").unwrap();
    assert_eq!(s.poll_event(), Some(ServerEvent::Closed));
    assert_eq!(
        statuses(&p.receive(&mut s)),
        ["NetStream.Play.StreamNotFound"]
    );
}

#[test]
fn ping_and_acknowledgements() {
    let mut s = ServerSession::new();
    let (mut p, _) = start_play(&mut s, "x");
    p.receive(&mut s);
    let mut out = BytesMut::new();
    for c in [
        ProtocolControl::WindowAckSize(1000),
        ProtocolControl::UserControl(UserControl::PingRequest(42)),
    ] {
        let (t, pl) = c.encode();
        p.enc.write(&mut out, 2, 0, t, 0, &pl).unwrap();
    }
    // Padding the window: an unknown message type the server ignores.
    p.enc
        .write(&mut out, 8, 0, MessageType(0x30), 1, &[0u8; 1500])
        .unwrap();
    s.handle_input(&out).unwrap();
    let controls: Vec<_> = p
        .receive(&mut s)
        .iter()
        .filter_map(|m| {
            ProtocolControl::decode(m.type_id, &m.payload)
                .ok()
                .flatten()
        })
        .collect();
    assert!(controls.contains(&ProtocolControl::UserControl(UserControl::PingResponse(42))));
    assert!(controls
        .iter()
        .any(|c| matches!(c, ProtocolControl::Acknowledgement(n) if *n >= 1000)));
}

#[test]
fn commands_before_connect_are_refused() {
    let mut s = ServerSession::new();
    let mut hs = vec![3u8];
    hs.extend_from_slice(&[0u8; 2 * crate::handshake::HANDSHAKE_SIZE]);
    s.handle_input(&hs).unwrap();
    let c = Command::new("publish", 1.0, Value::Null, vec![Value::string("k")]);
    let b = crate::encode_message(128, 3, 0, MessageType::COMMAND_AMF0, 1, &c.encode()).unwrap();
    let e = s.handle_input(&b).unwrap_err();
    assert!(e.is_protocol_violation());
    assert!(s.is_closed());
}

#[test]
fn amf3_wrapped_command_is_understood() {
    let mut s = ServerSession::new();
    let mut hs = vec![3u8];
    hs.extend_from_slice(&[0u8; 2 * crate::handshake::HANDSHAKE_SIZE]);
    s.handle_input(&hs).unwrap();
    let obj = Value::object([("app", Value::string("live"))]);
    let mut payload = vec![0u8];
    payload.extend_from_slice(&Command::new("connect", 1.0, obj, vec![]).encode());
    let b = crate::encode_message(128, 3, 0, MessageType::COMMAND_AMF3, 0, &payload).unwrap();
    s.handle_input(&b).unwrap();
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Connected { .. })
    ));
}

/// Truncating a whole publish session at every offset never panics.
#[test]
fn truncated_publish_session_never_panics() {
    let mut c = ClientSession::new("live", "rtmp://localhost/live", "k");
    let mut s = ServerSession::new();
    let mut wire = Vec::new();
    // Record client→server bytes while running the real exchange.
    for _ in 0..20 {
        while let Some(b) = c.poll_transmit() {
            wire.extend_from_slice(&b);
            s.handle_input(&b).unwrap();
        }
        while let Some(e) = s.poll_event() {
            if let ServerEvent::PublishRequested { request, .. } = e {
                s.accept_publish(request).unwrap();
            }
        }
        while let Some(b) = s.poll_transmit() {
            c.handle_input(&b).unwrap();
        }
        if c.is_publishing() {
            break;
        }
    }
    for (k, t, p) in media().into_iter().take(5) {
        c.send_media(k, t, &p).unwrap();
    }
    while let Some(b) = c.poll_transmit() {
        wire.extend_from_slice(&b);
    }
    for cut in 0..wire.len() {
        let mut s = ServerSession::new();
        let _ = s.handle_input(&wire[..cut]);
        while s.poll_event().is_some() {}
    }
    // Bit flips at a stride, after the handshake.
    for i in (3073..wire.len()).step_by(97) {
        let mut w = wire.clone();
        w[i] ^= 0x5a;
        crate::fuzzing::fuzz_server_session(&w[3073..]);
        let mut s = ServerSession::new();
        let _ = s.handle_input(&w);
    }
}

fn client_events(c: &mut ClientSession) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn play_events(c: &mut ClientSession) -> Vec<PlayEvent> {
    std::iter::from_fn(|| c.poll_play_event()).collect()
}

#[test]
fn client_plays_from_server() {
    let mut c = ClientSession::play("play", "rtmp://localhost/play", "pb_123");
    let mut s = ServerSession::new();
    pump(&mut c, &mut s);
    let ev = events(&mut s);
    assert!(matches!(&ev[0], ServerEvent::Connected { app, .. } if app == "play"));
    let Some(ServerEvent::PlayRequested { request, name, .. }) = ev.last() else {
        panic!("{ev:?}")
    };
    assert_eq!(name, "pb_123");
    assert!(!c.is_playing());
    s.accept_play(*request).unwrap();
    pump(&mut c, &mut s);
    assert_eq!(play_events(&mut c), vec![PlayEvent::Playing]);
    assert!(client_events(&mut c).is_empty());
    assert!(c.is_playing());
    // A play session cannot publish.
    assert!(c.send_media(MediaKind::Video, 0, &Bytes::new()).is_err());

    let sent = media();
    for (k, t, p) in &sent {
        s.send_media(*k, *t, p).unwrap();
    }
    // The @setDataFrame wrapper some servers keep is removed.
    let wrapped = super::server::set_data_frame(&metadata());
    s.send_media(MediaKind::Data, 5, &wrapped).unwrap();
    s.send_stream_eof().unwrap();
    pump(&mut c, &mut s);
    let mut got = Vec::new();
    let mut ended = 0;
    for e in play_events(&mut c) {
        match e {
            PlayEvent::Media {
                kind,
                timestamp,
                payload,
            } => got.push((kind, timestamp, payload)),
            PlayEvent::StreamEnded => ended += 1,
            e => panic!("unexpected {e:?}"),
        }
    }
    let mut want = sent;
    want.push((MediaKind::Data, 5, metadata()));
    assert_eq!(got, want);
    // Stream EOF and NetStream.Play.UnpublishNotify both say so.
    assert!(ended >= 1);
}

#[test]
fn rejected_play_reports_error() {
    let mut c = ClientSession::play("play", "rtmp://localhost/play", "nope");
    let mut s = ServerSession::new();
    pump(&mut c, &mut s);
    let Some(ServerEvent::PlayRequested { request, .. }) = events(&mut s).pop() else {
        panic!()
    };
    s.reject_play(request, "no such stream").unwrap();
    while let Some(b) = s.poll_transmit() {
        c.handle_input(&b).unwrap();
    }
    assert_eq!(
        client_events(&mut c),
        vec![ClientEvent::Error("no such stream".into())]
    );
    assert!(!c.is_playing());
}

#[test]
fn client_splits_aggregate_messages() {
    let mut c = ClientSession::play("play", "rtmp://localhost/play", "x");
    let mut s = ServerSession::new();
    pump(&mut c, &mut s);
    let Some(ServerEvent::PlayRequested { request, .. }) = events(&mut s).pop() else {
        panic!()
    };
    s.accept_play(request).unwrap();
    pump(&mut c, &mut s);
    assert_eq!(play_events(&mut c), vec![PlayEvent::Playing]);
    assert!(client_events(&mut c).is_empty());
    let sid = s.play_stream_id().unwrap();
    // Two sub-messages at 1000 and 1033 ms, the aggregate itself stamped 5000 ms, then a
    // truncated third that is dropped.
    let agg = aggregate(
        &[(9, 1000, &[0x17, 1, 0, 0, 0]), (8, 1033, &[0xaf, 1])],
        &[9, 0, 0, 50, 0, 0],
    );
    let mut out = BytesMut::new();
    ChunkEncoder::new()
        .write(&mut out, 6, 5000, MessageType::AGGREGATE, sid, &agg)
        .unwrap();
    c.handle_input(&out).unwrap();
    assert_eq!(
        play_events(&mut c),
        vec![
            PlayEvent::Media {
                kind: MediaKind::Video,
                timestamp: 5000,
                payload: Bytes::from_static(&[0x17, 1, 0, 0, 0]),
            },
            PlayEvent::Media {
                kind: MediaKind::Audio,
                timestamp: 5033,
                payload: Bytes::from_static(&[0xaf, 1]),
            },
        ]
    );
}

/// The FLV-style tags of an aggregate message body (§7.1.6), then `tail` (a truncated part).
fn aggregate(parts: &[(u8, u32, &[u8])], tail: &[u8]) -> Vec<u8> {
    let mut agg = Vec::new();
    for (t, ts, body) in parts {
        agg.push(*t);
        agg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        agg.extend_from_slice(&ts.to_be_bytes()[1..]);
        agg.push((ts >> 24) as u8);
        agg.extend_from_slice(&[0, 0, 0]);
        agg.extend_from_slice(body);
        agg.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    }
    agg.extend_from_slice(tail);
    agg
}

/// A publisher past `publish`, accepted: the client, its message stream id, the session.
fn accepted_publisher() -> (Player, u32, ServerSession) {
    let mut s = ServerSession::new();
    let (mut p, sid) = connect_and_create_stream(&mut s);
    let publish = Command::new("publish", 3.0, Value::Null, vec![Value::string("key")]);
    p.command(&mut s, sid, publish);
    let request = events(&mut s)
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::PublishRequested { request, .. } => Some(request),
            _ => None,
        })
        .unwrap();
    s.accept_publish(request).unwrap();
    (p, sid, s)
}

#[test]
fn a_publishers_aggregate_and_amf3_data_messages_become_media() {
    let (mut p, sid, mut s) = accepted_publisher();
    let agg = aggregate(
        &[
            (9, 1000, &[0x17, 1, 0, 0, 0]),
            (8, 1033, &[0xaf, 1]),
            // A type we do not take inside an aggregate is skipped.
            (4, 1040, &[0, 6, 0, 0, 0, 1]),
        ],
        &[9, 0, 0, 50, 0, 0],
    );
    let mut out = BytesMut::new();
    p.enc
        .write(&mut out, 6, 5000, MessageType::AGGREGATE, sid, &agg)
        .unwrap();
    // `onMetaData` as AMF3 data (type 15): a format byte 0, then AMF0.
    let mut amf3 = vec![0u8];
    amf3.extend_from_slice(&metadata());
    p.enc
        .write(&mut out, 4, 5050, MessageType::DATA_AMF3, sid, &amf3)
        .unwrap();
    s.handle_input(&out).unwrap();
    let media: Vec<_> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::Media {
                kind,
                timestamp,
                payload,
            } => Some((kind, timestamp, payload)),
            _ => None,
        })
        .collect();
    assert_eq!(media.len(), 3, "{media:?}");
    assert_eq!(
        media[0],
        (
            MediaKind::Video,
            5000,
            Bytes::from_static(&[0x17, 1, 0, 0, 0])
        )
    );
    assert_eq!(
        media[1],
        (MediaKind::Audio, 5033, Bytes::from_static(&[0xaf, 1]))
    );
    assert_eq!(media[2].0, MediaKind::Data);
    assert!(
        media[2].2.starts_with(b"\x02\x00\x0aonMetaData"),
        "{:?}",
        media[2].2
    );
}

#[test]
fn an_enhanced_rtmp_clients_fourcc_list_is_answered() {
    let mut s = after_handshake();
    let list = {
        let mut v = vec![0x0a, 0, 0, 0, 3];
        for f in [&b"hvc1"[..], b"av01", b"avc1"] {
            v.extend_from_slice(&amf_str(f));
        }
        v
    };
    let object = amf_obj(false, &[("app", amf_str(b"live")), ("fourCcList", list)]);
    s.handle_input(&connect_bytes(&amf_num(1.0), &object))
        .unwrap();
    let result = sent_commands(&mut s)
        .into_iter()
        .find(|c| c.name == "_result")
        .unwrap();
    let Some(Value::StrictArray(answered)) = result.command_object.get("fourCcList") else {
        panic!("{result:?}")
    };
    let answered: Vec<_> = answered.iter().filter_map(Value::as_str).collect();
    assert_eq!(answered, ["hvc1", "av01", "avc1"]);

    // A client that lists none is answered as before.
    let mut s = after_handshake();
    let object = amf_obj(false, &[("app", amf_str(b"live"))]);
    s.handle_input(&connect_bytes(&amf_num(1.0), &object))
        .unwrap();
    let result = sent_commands(&mut s)
        .into_iter()
        .find(|c| c.name == "_result")
        .unwrap();
    assert!(result.command_object.get("fourCcList").is_none());
}

/// A server session past the handshake, waiting for `connect`.
fn after_handshake() -> ServerSession {
    let mut s = ServerSession::new();
    let mut hs = vec![3u8];
    hs.extend_from_slice(&[0u8; 2 * crate::handshake::HANDSHAKE_SIZE]);
    s.handle_input(&hs).unwrap();
    while s.poll_transmit().is_some() {}
    s
}

/// AMF0 string (marker 0x02, u16 length).
fn amf_str(s: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02];
    v.extend_from_slice(&(s.len() as u16).to_be_bytes());
    v.extend_from_slice(s);
    v
}

/// AMF0 number (marker 0x00, big-endian double).
fn amf_num(n: f64) -> Vec<u8> {
    let mut v = vec![0x00];
    v.extend_from_slice(&n.to_be_bytes());
    v
}

/// AMF0 object (marker 0x03) or, with `ecma`, ECMA array (0x08 + u32 count) of raw values.
fn amf_obj(ecma: bool, props: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut v = if ecma {
        let mut v = vec![0x08];
        v.extend_from_slice(&(props.len() as u32).to_be_bytes());
        v
    } else {
        vec![0x03]
    };
    for (k, val) in props {
        v.extend_from_slice(&(k.len() as u16).to_be_bytes());
        v.extend_from_slice(k.as_bytes());
        v.extend_from_slice(val);
    }
    v.extend_from_slice(&[0, 0, 0x09]);
    v
}

/// A `connect` command message (type 20, chunk stream 3) from raw AMF0 parts.
fn connect_bytes(txn: &[u8], object: &[u8]) -> Vec<u8> {
    let mut payload = amf_str(b"connect");
    payload.extend_from_slice(txn);
    payload.extend_from_slice(object);
    crate::encode_message(128, 3, 0, MessageType::COMMAND_AMF0, 0, &payload)
        .unwrap()
        .to_vec()
}

/// The commands the server sent, decoded at whatever chunk size it announced.
fn sent_commands(s: &mut ServerSession) -> Vec<Command> {
    let mut dec = ChunkDecoder::new();
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        let mut input = &b[..];
        while let Some(m) = dec.decode(&mut input).unwrap() {
            if let Ok(Some(ProtocolControl::SetChunkSize(n))) =
                ProtocolControl::decode(m.type_id, &m.payload)
            {
                dec.set_chunk_size(n).unwrap();
            }
            if let Ok(Some(c)) = decode_command(&m) {
                out.push(c);
            }
        }
    }
    out
}

/// What is wrong, the transaction id and command object sent, the transaction id the `_error`
/// must carry, and a word its description must contain.
type ConnectCase = (&'static str, Vec<u8>, Vec<u8>, f64, &'static str);

#[test]
fn invalid_connect_is_rejected_with_an_error_result_and_closes() {
    let live = amf_str(b"live");
    let ok_obj = |extra: Vec<(&str, Vec<u8>)>| {
        let mut props = vec![("app", live.clone())];
        props.extend(extra);
        amf_obj(false, &props)
    };
    let long_app = amf_str(&[b'a'; MAX_APP_LEN + 1]);
    let cases: Vec<ConnectCase> = vec![
        ("no app", amf_num(1.0), amf_obj(false, &[]), 1.0, "app"),
        (
            "empty app",
            amf_num(1.0),
            amf_obj(false, &[("app", amf_str(b""))]),
            1.0,
            "app",
        ),
        (
            "65-byte app",
            amf_num(1.0),
            amf_obj(false, &[("app", long_app)]),
            1.0,
            "app",
        ),
        (
            "NUL in app",
            amf_num(7.0),
            amf_obj(false, &[("app", amf_str(b"li\0ve"))]),
            7.0,
            "app",
        ),
        (
            "newline in app",
            amf_num(1.0),
            amf_obj(false, &[("app", amf_str(b"live\nx"))]),
            1.0,
            "app",
        ),
        (
            "DEL in app",
            amf_num(1.0),
            amf_obj(false, &[("app", amf_str(b"live\x7f"))]),
            1.0,
            "app",
        ),
        (
            "numeric app",
            amf_num(1.0),
            amf_obj(false, &[("app", amf_num(3.0))]),
            1.0,
            "app",
        ),
        (
            "numeric tcUrl",
            amf_num(1.0),
            ok_obj(vec![("tcUrl", amf_num(1.0))]),
            1.0,
            "tcUrl",
        ),
        (
            "null tcUrl",
            amf_num(1.0),
            ok_obj(vec![("tcUrl", vec![0x05])]),
            1.0,
            "tcUrl",
        ),
        (
            "object tcUrl",
            amf_num(1.0),
            ok_obj(vec![("tcUrl", amf_obj(false, &[]))]),
            1.0,
            "tcUrl",
        ),
        (
            "string transaction id",
            amf_str(b"1"),
            ok_obj(vec![]),
            1.0,
            "transaction id",
        ),
        (
            "null transaction id",
            vec![0x05],
            ok_obj(vec![]),
            1.0,
            "transaction id",
        ),
        (
            "NaN transaction id",
            amf_num(f64::NAN),
            ok_obj(vec![]),
            1.0,
            "transaction id",
        ),
        (
            "null command object",
            amf_num(1.0),
            vec![0x05],
            1.0,
            "command object",
        ),
        (
            "string command object",
            amf_num(1.0),
            amf_str(b"live"),
            1.0,
            "command object",
        ),
        (
            "strict array command object",
            amf_num(1.0),
            vec![0x0A, 0, 0, 0, 1, 0x02, 0, 4, b'l', b'i', b'v', b'e'],
            1.0,
            "command object",
        ),
    ];
    for (what, txn, object, answered, needle) in cases {
        let mut s = after_handshake();
        let e = s.handle_input(&connect_bytes(&txn, &object)).unwrap_err();
        assert!(
            matches!(e, RtmpError::ConnectRejected(d) if d.contains(needle)),
            "{what}: {e:?}"
        );
        assert!(e.is_protocol_violation(), "{what}");
        assert!(s.is_closed(), "{what}");
        assert!(events(&mut s).is_empty(), "{what}: no Connected event");
        let sent = sent_commands(&mut s);
        assert_eq!(sent.len(), 1, "{what}: {sent:?}");
        let c = &sent[0];
        assert_eq!(
            (c.name.as_str(), c.transaction_id),
            ("_error", answered),
            "{what}"
        );
        let info = &c.args[0];
        assert_eq!(info.get("level").and_then(Value::as_str), Some("error"));
        assert_eq!(
            info.get("code").and_then(Value::as_str),
            Some("NetConnection.Connect.Rejected"),
            "{what}"
        );
        let description = info.get("description").and_then(Value::as_str).unwrap();
        assert!(description.contains(needle), "{what}: {description}");
        assert_eq!(s.handle_input(&[0]), Err(RtmpError::Closed), "{what}");
    }
}

#[test]
fn valid_connect_edge_cases_are_accepted() {
    let app64 = "a".repeat(MAX_APP_LEN);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "64-byte app",
            amf_obj(false, &[("app", amf_str(app64.as_bytes()))]),
        ),
        ("no tcUrl", amf_obj(false, &[("app", amf_str(b"live"))])),
        (
            "ECMA array command object",
            amf_obj(
                true,
                &[
                    ("app", amf_str(b"live")),
                    ("tcUrl", amf_str(b"rtmp://h/live")),
                ],
            ),
        ),
        (
            "UTF-8 app",
            amf_obj(false, &[("app", amf_str("vivo-ñ".as_bytes()))]),
        ),
    ];
    for (what, object) in cases {
        let mut s = after_handshake();
        s.handle_input(&connect_bytes(&amf_num(1.0), &object))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            matches!(events(&mut s).first(), Some(ServerEvent::Connected { .. })),
            "{what}"
        );
        let sent = sent_commands(&mut s);
        assert_eq!(sent[0].name, "_result", "{what}");
        assert!(!s.is_closed());
    }
}

#[test]
fn set_chunk_size_below_128_closes_and_above_2_pow_24_is_clamped() {
    let scs = |size: u32| {
        let mut b = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
        b.extend_from_slice(&size.to_be_bytes());
        b
    };
    for size in [0, 1, 127] {
        let mut s = after_handshake();
        let e = s.handle_input(&scs(size)).unwrap_err();
        assert!(
            matches!(e, RtmpError::InvalidChunkSize { size: got, min: 128, .. } if got == size),
            "{e:?}"
        );
        assert!(s.is_closed());
    }
    for size in [128, 0xFF_FFFF, 0x100_0000, 0x7FFF_FFFF, 0xFFFF_FFFF] {
        let mut s = after_handshake();
        s.handle_input(&scs(size)).unwrap();
        // A connect of more than 128 bytes in one chunk: read at the new size.
        let obj = amf_obj(
            false,
            &[
                ("app", amf_str(b"live")),
                ("flashVer", amf_str(&[b'x'; 200])),
            ],
        );
        let mut payload = amf_str(b"connect");
        payload.extend_from_slice(&amf_num(1.0));
        payload.extend_from_slice(&obj);
        let msg = crate::encode_message(
            size.min(0xFF_FFFF),
            3,
            0,
            MessageType::COMMAND_AMF0,
            0,
            &payload,
        )
        .unwrap();
        s.handle_input(&msg).unwrap();
        assert!(
            matches!(events(&mut s).first(), Some(ServerEvent::Connected { .. })),
            "chunk size {size}"
        );
    }
}

#[test]
fn messages_received_counts_complete_messages_only() {
    let mut s = after_handshake();
    assert_eq!(s.messages_received(), 0);
    let connect = connect_bytes(&amf_num(1.0), &amf_obj(false, &[("app", amf_str(b"live"))]));
    // Trickled one byte at a time, the message counts once, on its last byte.
    for (i, b) in connect.iter().enumerate() {
        s.handle_input(&[*b]).unwrap();
        let want = u64::from(i + 1 == connect.len());
        assert_eq!(s.messages_received(), want, "after byte {i}");
    }
    // Three more in one read.
    let mut out = BytesMut::new();
    let mut enc = ChunkEncoder::new();
    for c in [
        ProtocolControl::WindowAckSize(1000),
        ProtocolControl::UserControl(UserControl::PingRequest(1)),
        ProtocolControl::Acknowledgement(5),
    ] {
        let (t, p) = c.encode();
        enc.write(&mut out, 2, 0, t, 0, &p).unwrap();
    }
    s.handle_input(&out).unwrap();
    assert_eq!(s.messages_received(), 4);
}
