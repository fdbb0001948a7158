//! ferrocast's pure media crate: FLV tags, H.264 and AAC configuration records, an MPEG-TS
//! muxer and an HLS segmenter with its playlist.
//!
//! No I/O, no async runtime, no database: bytes and timestamps in, bytes and playlists out.
//! Every parser here reads untrusted input from the network, so every length and count is
//! checked against the input before use, nothing allocates on an untrusted size, and nothing
//! panics (each parser has a fuzz body in [`fuzzing`] and a proptest).
//!
//! Media stays in [`bytes::Bytes`]: FLV tags are sliced from the reader's buffer, finished
//! segments are frozen once and handed out as cheap clones.
#![deny(missing_docs)]

mod bits;
mod error;

pub mod aac;
pub mod avc;
pub mod flv;
pub mod hls;
pub mod ts;

#[doc(hidden)]
pub mod fuzzing;

pub use error::MediaError;
pub use hls::{HlsConfig, HlsSegmenter, HlsStats, LowLatencyConfig, Part, Segment};
