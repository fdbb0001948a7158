//! The body of a server-streaming reply over HTTP/JSON: one JSON array whose elements arrive
//! over time (`[{…}\r\n,{…}\r\n,{…}` … `]`), which is how Google's APIs carry a streaming RPC
//! such as YouTube's `liveChatMessages.streamList` to a plain HTTP client. [`ArrayStream`] cuts
//! the bytes, as they come, into complete elements, without holding more than one element.

use crate::ParseError;

/// Largest element accepted (a page of 2 000 messages fits).
pub const MAX_ELEMENT: usize = crate::MAX_PAYLOAD;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before `[`.
    Start,
    /// Between elements: whitespace, `,` or `]`.
    Between,
    /// Inside an object: nesting depth, in a string, after a backslash in a string.
    Element {
        depth: usize,
        in_string: bool,
        escaped: bool,
    },
    /// After `]`.
    Done,
}

/// Splits a streamed JSON array of objects into its elements.
#[derive(Debug)]
pub struct ArrayStream {
    state: State,
    current: Vec<u8>,
    max_element: usize,
}

impl Default for ArrayStream {
    fn default() -> Self {
        Self::new(MAX_ELEMENT)
    }
}

impl ArrayStream {
    /// A splitter refusing elements over `max_element` bytes.
    pub fn new(max_element: usize) -> Self {
        Self {
            state: State::Start,
            current: Vec::new(),
            max_element,
        }
    }

    /// Whether the closing `]` was seen (the server ended the stream in order).
    pub fn finished(&self) -> bool {
        self.state == State::Done
    }

    /// Feeds the next bytes; returns the elements completed by them, in order. After an error
    /// the stream is unusable (the connection should be dropped).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, ParseError> {
        let mut done = Vec::new();
        for &b in bytes {
            match self.state {
                State::Start => match b {
                    b'[' => self.state = State::Between,
                    b if b.is_ascii_whitespace() => {}
                    _ => return Err(unexpected(b, "`[`")),
                },
                State::Between => match b {
                    b'{' => {
                        self.current.push(b);
                        self.state = State::Element {
                            depth: 1,
                            in_string: false,
                            escaped: false,
                        };
                    }
                    b']' => self.state = State::Done,
                    b',' => {}
                    b if b.is_ascii_whitespace() => {}
                    _ => return Err(unexpected(b, "an object, `,` or `]`")),
                },
                State::Element {
                    depth,
                    in_string,
                    escaped,
                } => {
                    if self.current.len() >= self.max_element {
                        return Err(ParseError::TooLarge(self.current.len() + 1));
                    }
                    self.current.push(b);
                    self.state = match (in_string, escaped, b) {
                        (true, true, _) => State::Element {
                            depth,
                            in_string: true,
                            escaped: false,
                        },
                        (true, false, b'\\') => State::Element {
                            depth,
                            in_string: true,
                            escaped: true,
                        },
                        (true, false, b'"') | (false, _, b'"') => State::Element {
                            depth,
                            in_string: !in_string,
                            escaped: false,
                        },
                        (false, _, b'{' | b'[') => State::Element {
                            depth: depth + 1,
                            in_string: false,
                            escaped: false,
                        },
                        (false, _, b'}' | b']') if depth == 1 => {
                            done.push(std::mem::take(&mut self.current));
                            State::Between
                        }
                        (false, _, b'}' | b']') => State::Element {
                            depth: depth - 1,
                            in_string: false,
                            escaped: false,
                        },
                        _ => self.state,
                    };
                }
                State::Done => {
                    if !b.is_ascii_whitespace() {
                        return Err(unexpected(b, "nothing after `]`"));
                    }
                }
            }
        }
        Ok(done)
    }
}

fn unexpected(b: u8, wanted: &str) -> ParseError {
    ParseError::Malformed(format!(
        "streamed array: byte {:?} where {wanted} belongs",
        char::from(b)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_all(body: &[u8], chunk: usize) -> Result<(Vec<Vec<u8>>, bool), ParseError> {
        let mut s = ArrayStream::default();
        let mut out = Vec::new();
        for c in body.chunks(chunk.max(1)) {
            out.extend(s.push(c)?);
        }
        Ok((out, s.finished()))
    }

    #[test]
    fn elements_come_out_whole_however_the_bytes_are_cut() {
        let body = br#"[{"a":"x}]\"{","n":[1,{"b":2}]}
,{"c":"]"}
]"#;
        for chunk in 1..body.len() {
            let (els, finished) = split_all(body, chunk).expect("valid");
            assert!(finished);
            assert_eq!(els.len(), 2, "chunk {chunk}");
            let first: serde_json::Value = serde_json::from_slice(&els[0]).expect("json");
            assert_eq!(first["a"], "x}]\"{");
            let second: serde_json::Value = serde_json::from_slice(&els[1]).expect("json");
            assert_eq!(second["c"], "]");
        }
    }

    #[test]
    fn an_open_stream_yields_what_is_complete() {
        let mut s = ArrayStream::default();
        assert_eq!(s.push(b"[{\"a\":1},{\"b\"").expect("ok").len(), 1);
        assert!(!s.finished());
        assert_eq!(s.push(b":2}").expect("ok"), vec![b"{\"b\":2}".to_vec()]);
    }

    #[test]
    fn hostile_bodies_are_refused() {
        assert!(ArrayStream::default().push(b"<html>").is_err());
        assert!(ArrayStream::default().push(b"[1,2]").is_err());
        assert!(ArrayStream::default().push(b"[{}] x").is_err());
        let mut small = ArrayStream::new(8);
        assert!(matches!(
            small.push(b"[{\"aaaaaaaaaaaa\":1}]"),
            Err(ParseError::TooLarge(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_elements_stay_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut s = ArrayStream::new(64);
            if let Ok(els) = s.push(&bytes) {
                let bounded = els.iter().all(|e| e.len() <= 64 && e.first() == Some(&b'{'));
                prop_assert!(bounded, "elements over the bound or not objects");
            }
        }

        #[test]
        fn json_arrays_of_objects_split_into_their_elements(
            texts in proptest::collection::vec("[a-z{}\\[\\]\"\\\\ ,]{0,12}", 0..6),
            chunk in 1usize..16,
        ) {
            let values: Vec<serde_json::Value> =
                texts.iter().map(|t| serde_json::json!({ "t": t, "n": [t] })).collect();
            let body = serde_json::to_vec(&values).expect("json");
            let (els, finished) = split_all(&body, chunk).expect("valid");
            prop_assert!(finished);
            let parsed: Vec<serde_json::Value> =
                els.iter().map(|e| serde_json::from_slice(e).expect("element")).collect();
            prop_assert_eq!(parsed, values);
        }
    }
}
