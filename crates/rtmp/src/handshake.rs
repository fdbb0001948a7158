//! The RTMP handshake (Adobe RTMP spec §5.2), server and client side, sans-I/O.
//!
//! The spec describes only the "simple" handshake: C1/S1 are time + zero + random, C2/S2 echo
//! the peer's packet. Flash Player, OBS (librtmp) and ffmpeg instead send a C1 that carries an
//! HMAC-SHA256 digest (the undocumented "complex" handshake); ffmpeg, when playing, verifies
//! that S1/S2 answer it the same way. The server here validates C1's digest at both known
//! offset schemes with the Genuine FP key and answers with digests when one matches, and with
//! the simple echo otherwise.
//!
//! Feed bytes with `handle_input`, which returns how many it consumed; drain `poll_transmit`.
//! Once `is_done`, the unconsumed rest of the input belongs to the chunk stream.

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::RtmpError;

/// RTMP protocol version carried in C0/S0 (§5.2.2).
pub const RTMP_VERSION: u8 = 3;
/// Size of C1/S1/C2/S2 (§5.2.3).
pub const HANDSHAKE_SIZE: usize = 1536;
const DIGEST_LEN: usize = 32;

/// "Genuine Adobe Flash Player 001" followed by 32 key bytes; the first 30 bytes sign C1.
const GENUINE_FP_KEY: [u8; 62] = *b"Genuine Adobe Flash Player 001\
\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
/// "Genuine Adobe Flash Media Server 001" followed by the same 32 key bytes; the first 36
/// bytes sign S1, all 68 derive the S2 key.
const GENUINE_FMS_KEY: [u8; 68] = *b"Genuine Adobe Flash Media Server 001\
\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
const FP_KEY_OPEN_PART: usize = 30;
const FMS_KEY_OPEN_PART: usize = 36;
/// Version we claim in S1 bytes 4..8 when answering a digest C1 (what FMS 3.x sends).
const SERVER_VERSION: [u8; 4] = [4, 5, 0, 1];

/// Which handshake the server answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeKind {
    /// Echo handshake of the spec (§5.2).
    Simple,
    /// Digest handshake, with the C1 digest found by the given offset scheme (0 or 1).
    Digest {
        /// 0: offset from bytes 8..12 (+12); 1: offset from bytes 772..776 (+776).
        scheme: u8,
    },
}

/// HMAC-SHA256 of `parts` concatenated, keyed by `key`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .expect("invariant: HMAC accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Where the digest sits in a 1536-byte C1/S1 for an offset scheme.
pub fn digest_offset(packet: &[u8; HANDSHAKE_SIZE], scheme: u8) -> usize {
    let base = if scheme == 0 { 8 } else { 772 };
    let sum: usize = packet[base..base + 4].iter().map(|b| usize::from(*b)).sum();
    sum % 728 + base + 4
}

/// HMAC over the packet without its 32 digest bytes at `pos`.
fn packet_digest(packet: &[u8; HANDSHAKE_SIZE], pos: usize, key: &[u8]) -> [u8; DIGEST_LEN] {
    hmac_sha256(key, &[&packet[..pos], &packet[pos + DIGEST_LEN..]])
}

/// Writes the digest into `packet` for `scheme`, signed with `key`.
pub fn imprint_digest(packet: &mut [u8; HANDSHAKE_SIZE], scheme: u8, key: &[u8]) -> usize {
    let pos = digest_offset(packet, scheme);
    let d = packet_digest(packet, pos, key);
    packet[pos..pos + DIGEST_LEN].copy_from_slice(&d);
    pos
}

/// Finds a valid client digest in C1 (schemes 0 then 1) signed with the Genuine FP key.
pub fn find_client_digest(c1: &[u8; HANDSHAKE_SIZE]) -> Option<(u8, usize)> {
    [0u8, 1].into_iter().find_map(|scheme| {
        let pos = digest_offset(c1, scheme);
        let d = packet_digest(c1, pos, &GENUINE_FP_KEY[..FP_KEY_OPEN_PART]);
        (d[..] == c1[pos..pos + DIGEST_LEN]).then_some((scheme, pos))
    })
}

/// Signs a C1 as Flash Player/ffmpeg do (for tests and digest-speaking clients).
pub fn sign_client_c1(c1: &mut [u8; HANDSHAKE_SIZE], scheme: u8) {
    imprint_digest(c1, scheme, &GENUINE_FP_KEY[..FP_KEY_OPEN_PART]);
}

/// Checks an S2 against the C1 digest it answers (what ffmpeg verifies as a player).
pub fn verify_server_s2(s2: &[u8; HANDSHAKE_SIZE], c1_digest: &[u8]) -> bool {
    let key = hmac_sha256(&GENUINE_FMS_KEY, &[c1_digest]);
    let sig = hmac_sha256(&key, &[&s2[..HANDSHAKE_SIZE - DIGEST_LEN]]);
    sig[..] == s2[HANDSHAKE_SIZE - DIGEST_LEN..]
}

/// Checks an S1's digest (either scheme) signed with the FMS key.
pub fn verify_server_s1(s1: &[u8; HANDSHAKE_SIZE]) -> bool {
    [0u8, 1].into_iter().any(|scheme| {
        let pos = digest_offset(s1, scheme);
        packet_digest(s1, pos, &GENUINE_FMS_KEY[..FMS_KEY_OPEN_PART])[..]
            == s1[pos..pos + DIGEST_LEN]
    })
}

/// Non-cryptographic filler for the random parts (the spec asks for "random", not secret).
fn fill_random(buf: &mut [u8], seed: &[u8]) {
    let mut state = Sha256::digest(seed);
    for chunk in buf.chunks_mut(DIGEST_LEN) {
        chunk.copy_from_slice(&state[..chunk.len()]);
        state = Sha256::digest(state);
    }
}

fn copy_packet(src: &[u8]) -> [u8; HANDSHAKE_SIZE] {
    let mut p = [0u8; HANDSHAKE_SIZE];
    p.copy_from_slice(&src[..HANDSHAKE_SIZE]);
    p
}

/// Accumulates up to `want` bytes into `buf`; returns how many of `data` it used.
fn fill(buf: &mut Vec<u8>, want: usize, data: &[u8]) -> usize {
    let n = want.saturating_sub(buf.len()).min(data.len());
    buf.extend_from_slice(&data[..n]);
    n
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    /// Waiting for C0 + C1.
    C0C1,
    /// S0/S1/S2 queued; waiting for C2.
    C2,
    Done,
}

/// Server side of the handshake: C0+C1 in, S0+S1+S2 out, C2 in.
#[derive(Debug)]
pub struct ServerHandshake {
    state: ServerState,
    buf: Vec<u8>,
    out: Option<Bytes>,
    kind: HandshakeKind,
}

impl Default for ServerHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerHandshake {
    /// A handshake waiting for C0.
    pub fn new() -> Self {
        Self {
            state: ServerState::C0C1,
            buf: Vec::new(),
            out: None,
            kind: HandshakeKind::Simple,
        }
    }

    /// Consumes handshake bytes from the front of `data`; returns how many were used.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<usize, RtmpError> {
        let mut used = 0;
        if self.state == ServerState::C0C1 {
            used += fill(&mut self.buf, 1 + HANDSHAKE_SIZE, data);
            if let Some(&v) = self.buf.first() {
                if v != RTMP_VERSION {
                    return Err(RtmpError::UnsupportedVersion(v));
                }
            }
            if self.buf.len() < 1 + HANDSHAKE_SIZE {
                return Ok(used);
            }
            let c1 = copy_packet(&self.buf[1..]);
            self.out = Some(self.respond(&c1));
            self.buf.clear();
            self.state = ServerState::C2;
        }
        if self.state == ServerState::C2 {
            // C2's content is not checked: clients disagree on what they put there.
            used += fill(&mut self.buf, HANDSHAKE_SIZE, &data[used..]);
            if self.buf.len() == HANDSHAKE_SIZE {
                self.buf = Vec::new();
                self.state = ServerState::Done;
            }
        }
        Ok(used)
    }

    fn respond(&mut self, c1: &[u8; HANDSHAKE_SIZE]) -> Bytes {
        let mut out = BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE);
        out.put_u8(RTMP_VERSION);
        let mut s1 = [0u8; HANDSHAKE_SIZE];
        fill_random(&mut s1[8..], c1);
        // A C1 with a zero version field is a simple-handshake client (§5.2.3).
        let digest = if c1[4..8] == [0, 0, 0, 0] {
            None
        } else {
            find_client_digest(c1)
        };
        match digest {
            Some((scheme, pos)) => {
                self.kind = HandshakeKind::Digest { scheme };
                s1[4..8].copy_from_slice(&SERVER_VERSION);
                imprint_digest(&mut s1, scheme, &GENUINE_FMS_KEY[..FMS_KEY_OPEN_PART]);
                let mut s2 = [0u8; HANDSHAKE_SIZE];
                fill_random(&mut s2, &s1);
                let key = hmac_sha256(&GENUINE_FMS_KEY, &[&c1[pos..pos + DIGEST_LEN]]);
                let sig = hmac_sha256(&key, &[&s2[..HANDSHAKE_SIZE - DIGEST_LEN]]);
                s2[HANDSHAKE_SIZE - DIGEST_LEN..].copy_from_slice(&sig);
                out.put_slice(&s1);
                out.put_slice(&s2);
            }
            None => {
                self.kind = HandshakeKind::Simple;
                out.put_slice(&s1);
                // S2 echoes C1 (§5.2.4).
                out.put_slice(c1);
            }
        }
        out.freeze()
    }

    /// Bytes to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.take()
    }

    /// True once C2 has been read.
    pub fn is_done(&self) -> bool {
        self.state == ServerState::Done
    }

    /// Which handshake was answered (meaningful once S1 has been produced).
    pub fn kind(&self) -> HandshakeKind {
        self.kind
    }
}

/// Client side of the simple handshake: C0+C1 out, S0+S1+S2 in, C2 (echo of S1) out.
///
/// Every server we target (ffmpeg `-listen`, nginx-rtmp, YouTube, Twitch, our own) accepts
/// the simple form from a publisher.
#[derive(Debug)]
pub struct ClientHandshake {
    buf: Vec<u8>,
    out: Option<Bytes>,
    done: bool,
}

impl ClientHandshake {
    /// Starts the handshake; C0+C1 are ready in `poll_transmit`. `seed` varies the random part.
    pub fn new(seed: &[u8]) -> Self {
        let mut out = BytesMut::with_capacity(1 + HANDSHAKE_SIZE);
        out.put_u8(RTMP_VERSION);
        let mut c1 = [0u8; HANDSHAKE_SIZE];
        fill_random(&mut c1[8..], seed);
        out.put_slice(&c1);
        Self {
            buf: Vec::new(),
            out: Some(out.freeze()),
            done: false,
        }
    }

    /// Consumes handshake bytes from the front of `data`; returns how many were used.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<usize, RtmpError> {
        if self.done {
            return Ok(0);
        }
        let used = fill(&mut self.buf, 1 + 2 * HANDSHAKE_SIZE, data);
        if let Some(&v) = self.buf.first() {
            if v != RTMP_VERSION {
                return Err(RtmpError::UnsupportedVersion(v));
            }
        }
        if self.buf.len() == 1 + 2 * HANDSHAKE_SIZE {
            // C2 echoes S1 (§5.2.4); S2 is not checked.
            self.out = Some(Bytes::copy_from_slice(&self.buf[1..1 + HANDSHAKE_SIZE]));
            self.buf = Vec::new();
            self.done = true;
        }
        Ok(used)
    }

    /// Bytes to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.take()
    }

    /// True once S2 has been read and C2 queued.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn c1_with_version() -> [u8; HANDSHAKE_SIZE] {
        let mut c1 = [0u8; HANDSHAKE_SIZE];
        fill_random(&mut c1[8..], b"test");
        c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
        c1
    }

    fn run_server(c1: &[u8; HANDSHAKE_SIZE]) -> (ServerHandshake, Bytes) {
        let mut hs = ServerHandshake::new();
        let mut input = vec![RTMP_VERSION];
        input.extend_from_slice(c1);
        assert_eq!(hs.handle_input(&input).unwrap(), input.len());
        let out = hs.poll_transmit().unwrap();
        assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
        assert!(!hs.is_done());
        (hs, out)
    }

    #[test]
    fn digest_handshake_both_schemes() {
        for scheme in [0u8, 1] {
            let mut c1 = c1_with_version();
            sign_client_c1(&mut c1, scheme);
            let pos = digest_offset(&c1, scheme);
            let (mut hs, out) = run_server(&c1);
            assert_eq!(hs.kind(), HandshakeKind::Digest { scheme });
            let s1 = copy_packet(&out[1..]);
            let s2 = copy_packet(&out[1 + HANDSHAKE_SIZE..]);
            assert!(verify_server_s1(&s1));
            assert!(verify_server_s2(&s2, &c1[pos..pos + DIGEST_LEN]));
            // C2 followed by the first chunk bytes: only C2 is consumed.
            let mut rest = vec![0u8; HANDSHAKE_SIZE];
            rest.extend_from_slice(&[0x03, 0xAA]);
            assert_eq!(hs.handle_input(&rest).unwrap(), HANDSHAKE_SIZE);
            assert!(hs.is_done());
        }
    }

    #[test]
    fn unsigned_c1_falls_back_to_echo() {
        let c1 = c1_with_version();
        let (hs, out) = run_server(&c1);
        assert_eq!(hs.kind(), HandshakeKind::Simple);
        assert_eq!(&out[1 + HANDSHAKE_SIZE..], &c1[..]);
    }

    #[test]
    fn byte_at_a_time_and_bad_version() {
        let mut c1 = c1_with_version();
        sign_client_c1(&mut c1, 1);
        let mut hs = ServerHandshake::new();
        let mut input = vec![RTMP_VERSION];
        input.extend_from_slice(&c1);
        input.extend_from_slice(&[0u8; HANDSHAKE_SIZE]);
        for b in input.chunks(1) {
            assert_eq!(hs.handle_input(b).unwrap(), 1);
        }
        assert!(hs.is_done());
        assert_eq!(
            ServerHandshake::new().handle_input(&[6]),
            Err(RtmpError::UnsupportedVersion(6))
        );
    }

    #[test]
    fn client_and_server_agree() {
        let mut c = ClientHandshake::new(b"seed");
        let mut s = ServerHandshake::new();
        let c0c1 = c.poll_transmit().unwrap();
        s.handle_input(&c0c1).unwrap();
        let s012 = s.poll_transmit().unwrap();
        assert_eq!(c.handle_input(&s012).unwrap(), s012.len());
        assert!(c.is_done());
        let c2 = c.poll_transmit().unwrap();
        assert_eq!(&c2[..], &s012[1..1 + HANDSHAKE_SIZE]);
        s.handle_input(&c2).unwrap();
        assert!(s.is_done());
    }
}
