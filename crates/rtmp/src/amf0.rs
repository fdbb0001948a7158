//! AMF0 values (Adobe "Action Message Format -- AMF 0", December 2007).
//!
//! Decoding is bounded: nesting deeper than [`MAX_DEPTH`] is an error, and no allocation is
//! sized from a length field before the input has been checked to hold that many bytes.

use bytes::BufMut;

use crate::RtmpError;

/// Deepest object/array nesting we decode; deeper input is refused, never recursed into.
pub const MAX_DEPTH: usize = 64;

/// Type markers (AMF0 spec §2.1).
pub mod marker {
    /// §2.2 number (IEEE-754 double, big-endian).
    pub const NUMBER: u8 = 0x00;
    /// §2.3 boolean.
    pub const BOOLEAN: u8 = 0x01;
    /// §2.4 string (u16 length).
    pub const STRING: u8 = 0x02;
    /// §2.5 anonymous object.
    pub const OBJECT: u8 = 0x03;
    /// §2.7 null.
    pub const NULL: u8 = 0x05;
    /// §2.8 undefined.
    pub const UNDEFINED: u8 = 0x06;
    /// §2.10 ECMA array (associative).
    pub const ECMA_ARRAY: u8 = 0x08;
    /// §2.11 object end (after an empty key).
    pub const OBJECT_END: u8 = 0x09;
    /// §2.12 strict array.
    pub const STRICT_ARRAY: u8 = 0x0A;
    /// §2.13 date.
    pub const DATE: u8 = 0x0B;
    /// §2.14 long string (u32 length).
    pub const LONG_STRING: u8 = 0x0C;
    /// §2.15 unsupported (decoded as undefined).
    pub const UNSUPPORTED: u8 = 0x0D;
}

/// One AMF0 value. Objects and ECMA arrays keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// §2.2 number.
    Number(f64),
    /// §2.3 boolean.
    Boolean(bool),
    /// §2.4 string (encoded as a long string when longer than 65 535 bytes).
    String(String),
    /// §2.5 anonymous object.
    Object(Vec<(String, Value)>),
    /// §2.7 null.
    Null,
    /// §2.8 undefined (also what §2.15 "unsupported" decodes to).
    Undefined,
    /// §2.10 ECMA array.
    EcmaArray(Vec<(String, Value)>),
    /// §2.12 strict array.
    StrictArray(Vec<Value>),
    /// §2.13 date: milliseconds since the epoch and a (reserved) time zone.
    Date {
        /// Milliseconds since 1970-01-01 UTC.
        millis: f64,
        /// Time zone offset; the spec says "reserved, should be 0".
        timezone: i16,
    },
    /// §2.14 long string.
    LongString(String),
}

impl Value {
    /// The string inside a `String` or `LongString`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The number inside a `Number`.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The first property named `key` of an `Object` or `EcmaArray`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(props) | Value::EcmaArray(props) => {
                props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// Builds an `Object` from `(key, value)` pairs.
    pub fn object<K: Into<String>>(props: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A `String` value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }
}

/// Decodes one value from the front of `input`; returns it and how many bytes it used.
pub fn decode(input: &[u8]) -> Result<(Value, usize), RtmpError> {
    let mut r = Reader { buf: input, pos: 0 };
    let v = r.value(0)?;
    Ok((v, r.pos))
}

/// Decodes values until `input` is exhausted (a command or data message body).
pub fn decode_all(input: &[u8]) -> Result<Vec<Value>, RtmpError> {
    let mut r = Reader { buf: input, pos: 0 };
    let mut out = Vec::new();
    while r.pos < input.len() {
        out.push(r.value(0)?);
    }
    Ok(out)
}

/// Appends the encoding of `value` to `out`.
pub fn encode(value: &Value, out: &mut impl BufMut) {
    match value {
        Value::Number(n) => {
            out.put_u8(marker::NUMBER);
            out.put_f64(*n);
        }
        Value::Boolean(b) => {
            out.put_u8(marker::BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Value::String(s) if s.len() > usize::from(u16::MAX) => encode_long_string(s, out),
        Value::String(s) => {
            out.put_u8(marker::STRING);
            put_short_str(s, out);
        }
        Value::Object(props) => {
            out.put_u8(marker::OBJECT);
            encode_props(props, out);
        }
        Value::Null => out.put_u8(marker::NULL),
        Value::Undefined => out.put_u8(marker::UNDEFINED),
        Value::EcmaArray(props) => {
            out.put_u8(marker::ECMA_ARRAY);
            out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
            encode_props(props, out);
        }
        Value::StrictArray(items) => {
            out.put_u8(marker::STRICT_ARRAY);
            out.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
            for v in items {
                encode(v, out);
            }
        }
        Value::Date { millis, timezone } => {
            out.put_u8(marker::DATE);
            out.put_f64(*millis);
            out.put_i16(*timezone);
        }
        Value::LongString(s) => encode_long_string(s, out),
    }
}

/// Encodes several values back to back (a command or data message body).
pub fn encode_all<'a>(values: impl IntoIterator<Item = &'a Value>, out: &mut impl BufMut) {
    for v in values {
        encode(v, out);
    }
}

fn encode_long_string(s: &str, out: &mut impl BufMut) {
    out.put_u8(marker::LONG_STRING);
    let bytes = truncate_utf8(s, u32::MAX as usize);
    out.put_u32(bytes.len() as u32);
    out.put_slice(bytes.as_bytes());
}

/// Keys and short strings carry a u16 length; longer text is cut at a char boundary.
fn put_short_str(s: &str, out: &mut impl BufMut) {
    let s = truncate_utf8(s, usize::from(u16::MAX));
    out.put_u16(s.len() as u16);
    out.put_slice(s.as_bytes());
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn encode_props(props: &[(String, Value)], out: &mut impl BufMut) {
    for (k, v) in props {
        put_short_str(k, out);
        encode(v, out);
    }
    out.put_u16(0);
    out.put_u8(marker::OBJECT_END);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RtmpError> {
        let end = self.pos.checked_add(n).ok_or(RtmpError::Amf0Truncated)?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(RtmpError::Amf0Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn u8(&mut self) -> Result<u8, RtmpError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, RtmpError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, RtmpError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, RtmpError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn str_of_len(&mut self, len: usize) -> Result<String, RtmpError> {
        // `take` checks the length against the input before anything is allocated.
        let b = self.take(len)?;
        String::from_utf8(b.to_vec()).map_err(|_| RtmpError::Amf0InvalidUtf8)
    }

    fn short_str(&mut self) -> Result<String, RtmpError> {
        let len = usize::from(self.u16()?);
        self.str_of_len(len)
    }

    fn value(&mut self, depth: usize) -> Result<Value, RtmpError> {
        if depth >= MAX_DEPTH {
            return Err(RtmpError::Amf0TooDeep(MAX_DEPTH));
        }
        let m = self.u8()?;
        Ok(match m {
            marker::NUMBER => Value::Number(self.f64()?),
            marker::BOOLEAN => Value::Boolean(self.u8()? != 0),
            marker::STRING => Value::String(self.short_str()?),
            marker::OBJECT => Value::Object(self.props(depth)?),
            marker::NULL => Value::Null,
            marker::UNDEFINED | marker::UNSUPPORTED => Value::Undefined,
            marker::ECMA_ARRAY => {
                // The count is advisory (encoders disagree); the end marker is authoritative.
                let _count = self.u32()?;
                Value::EcmaArray(self.props(depth)?)
            }
            marker::STRICT_ARRAY => {
                let count = self.u32()? as usize;
                // Every element takes at least one byte: a larger count is a lie.
                if count > self.remaining() {
                    return Err(RtmpError::Amf0Truncated);
                }
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Value::StrictArray(items)
            }
            marker::DATE => {
                let millis = self.f64()?;
                let timezone = self.u16()? as i16;
                Value::Date { millis, timezone }
            }
            marker::LONG_STRING => {
                let len = self.u32()? as usize;
                Value::LongString(self.str_of_len(len)?)
            }
            other => return Err(RtmpError::Amf0UnsupportedMarker(other)),
        })
    }

    fn props(&mut self, depth: usize) -> Result<Vec<(String, Value)>, RtmpError> {
        let mut props = Vec::new();
        loop {
            let key = self.short_str()?;
            if key.is_empty() && self.buf.get(self.pos) == Some(&marker::OBJECT_END) {
                self.pos += 1;
                return Ok(props);
            }
            let v = self.value(depth + 1)?;
            props.push((key, v));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out);
        out
    }

    #[test]
    fn known_encodings() {
        assert_eq!(enc(&Value::Number(1.0)), [0, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(enc(&Value::Boolean(true)), [1, 1]);
        assert_eq!(enc(&Value::string("ab")), [2, 0, 2, b'a', b'b']);
        assert_eq!(enc(&Value::Null), [5]);
        assert_eq!(enc(&Value::Undefined), [6]);
        assert_eq!(
            enc(&Value::object([("a", Value::Null)])),
            [3, 0, 1, b'a', 5, 0, 0, 9]
        );
        assert_eq!(
            enc(&Value::EcmaArray(vec![("a".into(), Value::Boolean(false))])),
            [8, 0, 0, 0, 1, 0, 1, b'a', 1, 0, 0, 0, 9]
        );
        assert_eq!(
            enc(&Value::StrictArray(vec![Value::Null, Value::Undefined])),
            [0x0a, 0, 0, 0, 2, 5, 6]
        );
        assert_eq!(
            enc(&Value::LongString("x".into())),
            [0x0c, 0, 0, 0, 1, b'x']
        );
        // "connect" as ffmpeg sends it.
        let (v, n) = decode(&[2, 0, 7, b'c', b'o', b'n', b'n', b'e', b'c', b't']).unwrap();
        assert_eq!((v, n), (Value::string("connect"), 10));
    }

    #[test]
    fn long_strings_switch_marker() {
        let s = "a".repeat(70_000);
        let e = enc(&Value::String(s.clone()));
        assert_eq!(e[0], marker::LONG_STRING);
        assert_eq!(decode(&e).unwrap().0, Value::LongString(s));
    }

    #[test]
    fn ecma_count_is_advisory() {
        // Count says 5, one property present, then the end marker.
        let b = [8, 0, 0, 0, 5, 0, 1, b'a', 5, 0, 0, 9];
        let (v, n) = decode(&b).unwrap();
        assert_eq!(n, b.len());
        assert_eq!(v.get("a"), Some(&Value::Null));
    }

    #[test]
    fn deep_nesting_refused_without_overflow() {
        let mut b = Vec::new();
        for _ in 0..10_000 {
            b.extend_from_slice(&[0x0a, 0, 0, 0, 1]);
        }
        b.push(5);
        assert_eq!(decode(&b), Err(RtmpError::Amf0TooDeep(MAX_DEPTH)));
        let mut o = Vec::new();
        for _ in 0..10_000 {
            o.extend_from_slice(&[3, 0, 1, b'k']);
        }
        assert_eq!(decode(&o), Err(RtmpError::Amf0TooDeep(MAX_DEPTH)));
    }

    #[test]
    fn huge_lengths_do_not_allocate() {
        assert_eq!(
            decode(&[0x0a, 0xff, 0xff, 0xff, 0xff]),
            Err(RtmpError::Amf0Truncated)
        );
        assert_eq!(
            decode(&[0x0c, 0xff, 0xff, 0xff, 0xff, b'a']),
            Err(RtmpError::Amf0Truncated)
        );
        assert_eq!(decode(&[2, 0xff, 0xff]), Err(RtmpError::Amf0Truncated));
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<f64>()
                .prop_filter("NaN != NaN", |f| !f.is_nan())
                .prop_map(Value::Number),
            any::<bool>().prop_map(Value::Boolean),
            ".{0,20}".prop_map(Value::String),
            Just(Value::Null),
            Just(Value::Undefined),
            (any::<i32>(), any::<i16>()).prop_map(|(m, timezone)| Value::Date {
                millis: f64::from(m),
                timezone
            }),
            ".{0,5}".prop_map(Value::LongString),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec((".{1,8}", inner.clone()), 0..6).prop_map(Value::Object),
                prop::collection::vec((".{1,8}", inner.clone()), 0..6).prop_map(Value::EcmaArray),
                prop::collection::vec(inner, 0..6).prop_map(Value::StrictArray),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trip(v in arb_value()) {
            let e = enc(&v);
            let (d, n) = decode(&e).unwrap();
            prop_assert_eq!(n, e.len());
            prop_assert_eq!(d, v);
        }

        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_all(&b);
        }
    }
}
