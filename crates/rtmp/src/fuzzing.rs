//! Fuzz target bodies (wired up under `fuzz/`); each must never panic on any input.

use crate::{amf0, ChunkDecoder, ProtocolControl, ServerSession};

/// Decodes chunks with the default limits, applying Set Chunk Size and Abort as a session
/// would, until the input is used up or refused.
pub fn fuzz_chunk_decoder(data: &[u8]) {
    let mut d = ChunkDecoder::new();
    // Feed in two pieces to exercise resumption.
    let (a, b) = data.split_at(data.len() / 2);
    for mut part in [a, b] {
        loop {
            match d.decode(&mut part) {
                Ok(Some(m)) => match ProtocolControl::decode(m.type_id, &m.payload) {
                    Ok(Some(ProtocolControl::SetChunkSize(s))) if d.set_chunk_size(s).is_err() => {
                        return
                    }
                    Ok(Some(ProtocolControl::Abort(c))) => d.abort(c),
                    _ => {}
                },
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// Decodes AMF0 values, and re-encodes whatever decoded.
pub fn fuzz_amf0(data: &[u8]) {
    if let Ok(values) = amf0::decode_all(data) {
        let mut out = Vec::new();
        amf0::encode_all(&values, &mut out);
    }
    let _ = crate::Command::decode(data);
}

/// Feeds a server session the input after a valid handshake prefix.
pub fn fuzz_server_session(data: &[u8]) {
    let mut s = ServerSession::new();
    let mut hs = vec![crate::handshake::RTMP_VERSION];
    hs.extend_from_slice(&[0u8; 2 * crate::handshake::HANDSHAKE_SIZE]);
    if s.handle_input(&hs).is_err() {
        return;
    }
    let _ = s.handle_input(data);
    while s.poll_transmit().is_some() {}
    while s.poll_event().is_some() {}
}
