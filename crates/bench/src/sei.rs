//! The wall-clock stamp the publishers embed in every video access unit: an H.264 SEI NAL unit
//! (ITU-T H.264 §7.3.2.3) carrying one `user_data_unregistered` message (payload type 5,
//! Annex D.1.7): a fixed 16-byte UUID, then the Unix time in microseconds as 8 big-endian
//! bytes. The NAL is written with emulation prevention (§7.4.1) so that servers converting
//! AVCC to Annex B (HLS) keep it intact.

/// Our UUID (random, no zero bytes so it never needs escaping).
pub const UUID: [u8; 16] = [
    0xfe, 0x7c, 0xa5, 0x71, 0xb3, 0x4e, 0x42, 0x9d, 0x8a, 0x16, 0x5b, 0xe2, 0x33, 0xc9, 0x1f, 0x6d,
];

/// NAL unit type of an SEI (§7.4.1, Table 7-1).
const NAL_SEI: u8 = 6;
/// `user_data_unregistered` (Annex D.1).
const PAYLOAD_UNREGISTERED: u8 = 5;
/// UUID + timestamp.
const PAYLOAD_LEN: u8 = 24;
/// The longest SEI NAL we write: header, type, size, UUID, 8 bytes that may gain up to 4
/// emulation prevention bytes, the RBSP trailing bits.
pub const MAX_NAL_LEN: usize = 3 + 16 + 8 + 4 + 1;

/// Writes the SEI NAL unit (without a length prefix) for `unix_micros` into `out`; returns its
/// length.
pub fn write_nal(unix_micros: u64, out: &mut [u8; MAX_NAL_LEN]) -> usize {
    out[0] = NAL_SEI; // forbidden_zero_bit 0, nal_ref_idc 0, type 6
    out[1] = PAYLOAD_UNREGISTERED;
    out[2] = PAYLOAD_LEN;
    out[3..19].copy_from_slice(&UUID);
    let mut n = 19;
    // The UUID ends in a non-zero byte, so the zero run starts fresh here.
    let mut zeros = 0;
    for b in unix_micros.to_be_bytes() {
        if zeros >= 2 && b <= 3 {
            out[n] = 3;
            n += 1;
            zeros = 0;
        }
        out[n] = b;
        n += 1;
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    // rbsp_trailing_bits; 0x80 after zeros is never a start-code emulation.
    out[n] = 0x80;
    n + 1
}

/// The timestamp in an SEI NAL unit (with its header byte) if it is ours.
pub fn read_nal(nal: &[u8]) -> Option<u64> {
    if nal.len() < 19 + 8
        || nal[0] & 0x1F != NAL_SEI
        || nal[1] != PAYLOAD_UNREGISTERED
        || nal[2] != PAYLOAD_LEN
        || nal[3..19] != UUID
    {
        return None;
    }
    read_escaped_u64(&nal[19..])
}

/// Reads 8 bytes from an escaped RBSP, dropping emulation prevention bytes.
fn read_escaped_u64(mut data: &[u8]) -> Option<u64> {
    let mut v = [0u8; 8];
    let mut zeros = 0;
    let mut i = 0;
    while i < 8 {
        let (&b, rest) = data.split_first()?;
        data = rest;
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        v[i] = b;
        i += 1;
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    Some(u64::from_be_bytes(v))
}

/// Finds our stamp in an AVCC access unit (NAL units with `length_size`-byte big-endian length
/// prefixes). Only NAL headers are looked at until an SEI turns up; publishers put it first.
pub fn find_in_avcc(mut au: &[u8], length_size: usize) -> Option<u64> {
    if !(1..=4).contains(&length_size) {
        return None;
    }
    while au.len() > length_size {
        let len = au[..length_size]
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        let nal = au.get(length_size..length_size + len)?;
        if let Some(t) = read_nal(nal) {
            return Some(t);
        }
        au = &au[length_size + len..];
    }
    None
}

/// Finds our stamp anywhere in a byte stream (an Annex B elementary stream reassembled from
/// MPEG-TS payloads): the UUID preceded by the SEI header bytes.
pub fn find_in_stream(data: &[u8]) -> Option<u64> {
    let pat = [PAYLOAD_UNREGISTERED, PAYLOAD_LEN, UUID[0], UUID[1], UUID[2]];
    let mut from = 0;
    while let Some(pos) = data[from..].windows(pat.len()).position(|w| w == pat) {
        let start = from + pos;
        if start >= 1 {
            if let Some(t) = read_nal(&data[start - 1..]) {
                return Some(t);
            }
        }
        from = start + 1;
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn avcc(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&(n.len() as u32).to_be_bytes());
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn round_trip_including_values_that_need_escaping() {
        for t in [
            0u64,
            1,
            3,
            0x0000_0300_0001_0002,
            1_764_000_000_123_456,
            u64::MAX,
        ] {
            let mut buf = [0u8; MAX_NAL_LEN];
            let n = write_nal(t, &mut buf);
            let nal = &buf[..n];
            // No start code emulation inside the NAL.
            assert!(
                !nal.windows(3)
                    .any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 3 && w[2] != 3),
                "{t:#x}: {nal:02x?}"
            );
            assert_eq!(read_nal(nal), Some(t));
            let au = avcc(&[nal, &[0x65, 1, 2, 3]]);
            assert_eq!(find_in_avcc(&au, 4), Some(t));
            let mut annexb = vec![0, 0, 0, 1, 9, 0xf0, 0, 0, 1];
            annexb.extend_from_slice(nal);
            assert_eq!(find_in_stream(&annexb), Some(t));
        }
    }

    #[test]
    fn absent_or_foreign_sei_is_none() {
        let au = avcc(&[&[0x06, 5, 24, 1, 2, 3], &[0x65, 0, 0]]);
        assert_eq!(find_in_avcc(&au, 4), None);
        // A length prefix running past the end.
        assert_eq!(find_in_avcc(&[0, 0, 0, 9, 6], 4), None);
        assert_eq!(find_in_avcc(&[], 4), None);
        assert_eq!(find_in_stream(&[0; 64]), None);
        // Our NAL after another one with a 2-byte length size.
        let mut buf = [0u8; MAX_NAL_LEN];
        let n = write_nal(42, &mut buf);
        let mut au = vec![0, 2, 9, 0xf0, 0, n as u8];
        au.extend_from_slice(&buf[..n]);
        assert_eq!(find_in_avcc(&au, 2), Some(42));
    }
}
