//! RTMP chunk stream from a hostile peer (Adobe RTMP §5.3). Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrocast_rtmp::fuzzing::fuzz_chunk_decoder(data);
});
