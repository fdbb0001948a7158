//! The SRT listener's counters: their own module, so that [`crate::Engine`] can hold them
//! without naming [`crate::srt`], which runs on an `Engine`.

use std::sync::atomic::AtomicU64;

/// Counters of the SRT listener, for `/metrics`.
#[derive(Debug, Default)]
pub struct SrtStats {
    /// Publishers accepted.
    pub publishes: AtomicU64,
    /// Callers refused (bad key, busy, over a limit, bad stream id).
    pub refused: AtomicU64,
    /// Publishers connected now.
    pub publishing: AtomicU64,
}
