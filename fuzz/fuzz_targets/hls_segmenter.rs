//! The HLS segmenter fed arbitrary tags. Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrocast_media::fuzzing::fuzz_hls(data);
});
