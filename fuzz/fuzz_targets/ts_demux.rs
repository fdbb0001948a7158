//! The MPEG-TS demuxer (SRT ingest) and the FLV tags it makes. Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrocast_media::fuzzing::fuzz_ts_demux(data);
});
