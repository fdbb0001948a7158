//! AMF0 command payloads, nested and truncated. Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrocast_rtmp::fuzzing::fuzz_amf0(data);
});
