//! A whole server session fed hostile bytes after the handshake. Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrocast_rtmp::fuzzing::fuzz_server_session(data);
});
