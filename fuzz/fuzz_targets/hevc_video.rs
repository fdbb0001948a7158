//! Enhanced RTMP video headers, HEVC configuration records and their Annex B conversion. Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrocast_media::fuzzing::fuzz_hevc_video(data);
});
