//! ferrocast's pure media crate: FLV tags (with Enhanced RTMP's), H.264, HEVC and AAC
//! configuration records, an MPEG-TS muxer and demuxer, and an HLS segmenter with its playlist.
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
pub mod hevc;
pub mod hls;
pub mod ts;
pub mod ts_demux;

#[doc(hidden)]
pub mod fuzzing;

pub use error::MediaError;
pub use hls::{HlsConfig, HlsSegmenter, HlsStats, LowLatencyConfig, Part, Segment};
