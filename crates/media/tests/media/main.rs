//! The crate's one integration-test binary (one link on 2 cores): property tests of the parsers
//! and the ffmpeg/ffprobe oracle tests of the HLS output.

// Tests may unwrap (STYLE.md rule 4 bans it outside tests only).
#![allow(clippy::unwrap_used)]

mod oracle;
mod props;
