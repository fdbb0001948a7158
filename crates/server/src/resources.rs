//! The node's own resources, for `/metrics` and `doctor`: the process's resident memory and the
//! space of the filesystem that holds the data directory.

use std::fmt::Write;
use std::path::Path;

/// Resident memory of this process in bytes: `VmRSS` of `/proc/self/status` (Linux); `None`
/// where there is no such file.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
}

/// Space of a filesystem, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Available to the node (an unprivileged process: blocks reserved for root excluded).
    pub free: u64,
    /// The filesystem's size.
    pub size: u64,
}

/// Space of the filesystem that holds `path`, or its nearest existing ancestor (a data
/// directory not created yet lives where its parent does).
pub fn filesystem_space(path: &Path) -> Option<Space> {
    let mut p = Some(path);
    while let Some(dir) = p {
        if !dir.as_os_str().is_empty() && dir.exists() {
            return statvfs(dir);
        }
        p = dir.parent();
    }
    statvfs(Path::new("."))
}

#[cfg(unix)]
fn statvfs(path: &Path) -> Option<Space> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(Space {
        free: s.f_bavail.saturating_mul(s.f_frsize),
        size: s.f_blocks.saturating_mul(s.f_frsize),
    })
}

#[cfg(not(unix))]
fn statvfs(_: &Path) -> Option<Space> {
    None
}

/// `ferrocast_process_resident_memory_bytes`, `ferrocast_data_dir_free_bytes` and
/// `ferrocast_data_dir_size_bytes` in the Prometheus text format (a series is left out where
/// the platform cannot tell).
pub fn render(data_dir: &Path) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: Option<u64>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        if let Some(v) = value {
            let _ = writeln!(out, "{name} {v}");
        }
    };
    gauge(
        "ferrocast_process_resident_memory_bytes",
        "Resident memory of the ferrocast process.",
        resident_memory_bytes(),
    );
    let space = filesystem_space(data_dir);
    gauge(
        "ferrocast_data_dir_free_bytes",
        "Bytes available to ferrocast on the filesystem holding the data directory.",
        space.map(|s| s.free),
    );
    gauge(
        "ferrocast_data_dir_size_bytes",
        "Size in bytes of the filesystem holding the data directory.",
        space.map(|s| s.size),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tferrocast\nVmPeak:\t  200000 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss(status), Some(12345 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\t12 MB\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\tlots kB\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_and_its_filesystem_are_measured() {
        let rss = resident_memory_bytes().expect("VmRSS on Linux");
        assert!(rss > 0);
        let dir = std::env::temp_dir();
        let s = filesystem_space(&dir).expect("statvfs");
        assert!(s.size > 0 && s.free <= s.size, "{s:?}");
        // A directory that does not exist yet is measured where it would be created.
        let missing = dir.join("ferrocast-no-such-dir/below");
        assert_eq!(filesystem_space(&missing).map(|s| s.size), Some(s.size));
    }
}
