//! CPU and memory of a process tree from /proc (proc(5)): `utime`+`stime` of every process
//! whose parent chain leads to the root pid, and the sums of their `VmRSS` and `RssAnon`.

use std::collections::HashMap;
use std::fs;

/// The fields of `/proc/PID/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Parent pid (field 4).
    pub ppid: u32,
    /// User plus system time in clock ticks (fields 14 and 15).
    pub cpu_ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may contain
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(s: &str) -> Option<Stat> {
    let rest = &s[s.rfind(')')? + 1..];
    // rest starts at field 3 (state).
    let mut f = rest.split_ascii_whitespace();
    let ppid = f.nth(1)?.parse().ok()?; // field 4
    let utime: u64 = f.nth(9)?.parse().ok()?; // field 14
    let stime: u64 = f.next()?.parse().ok()?; // field 15
    Some(Stat {
        ppid,
        cpu_ticks: utime + stime,
    })
}

/// `VmRSS` from `/proc/PID/status`, in bytes.
pub fn parse_status_rss(s: &str) -> Option<u64> {
    parse_status_kb(s, "VmRSS:")
}

/// `RssAnon` from `/proc/PID/status`, in bytes: the process's private memory, without the
/// pages of its executable and libraries (shared with every process that maps them, and
/// dropped and read back by the kernel as it needs).
pub fn parse_status_anon(s: &str) -> Option<u64> {
    parse_status_kb(s, "RssAnon:")
}

/// A `kB` field of `/proc/PID/status`, in bytes.
fn parse_status_kb(s: &str, field: &str) -> Option<u64> {
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line
        .trim_start_matches(field)
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we target).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// One sample of a process tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeSample {
    /// Summed CPU ticks of the live processes in the tree.
    pub cpu_ticks: u64,
    /// Summed resident memory in bytes.
    pub rss_bytes: u64,
    /// Summed private (anonymous) resident memory in bytes.
    pub anon_bytes: u64,
    /// Processes in the tree.
    pub processes: usize,
}

/// The pids in the tree rooted at `root`, given every (pid, ppid).
pub fn tree_pids(root: u32, parents: &[(u32, u32)]) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(pid, ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c.iter().copied().filter(|p| *p != root));
        }
        i += 1;
        if out.len() > 100_000 {
            break;
        }
    }
    out
}

/// Samples the tree rooted at `root`; `None` if the root is gone.
pub fn sample_tree(root: u32) -> Option<TreeSample> {
    let mut stats = HashMap::new();
    let mut parents = Vec::new();
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(st) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(parse_stat)
        else {
            continue;
        };
        parents.push((pid, st.ppid));
        stats.insert(pid, st);
    }
    stats.get(&root)?;
    let mut s = TreeSample::default();
    for pid in tree_pids(root, &parents) {
        let Some(st) = stats.get(&pid) else { continue };
        s.cpu_ticks += st.cpu_ticks;
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        s.rss_bytes += parse_status_rss(&status).unwrap_or(0);
        s.anon_bytes += parse_status_anon(&status).unwrap_or(0);
        s.processes += 1;
    }
    Some(s)
}

/// CPU ticks of this process (the benchmark tool itself).
pub fn self_ticks() -> Option<u64> {
    parse_stat(&fs::read_to_string("/proc/self/stat").ok()?).map(|s| s.cpu_ticks)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_command_name() {
        let line = "4242 (nginx: worker (x) ) S 4241 4241 4241 0 -1 4194624 1200 0 0 0 \
                    1234 567 8 9 20 0 1 0 100 200000000 3000 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                ppid: 4241,
                cpu_ticks: 1801
            })
        );
        assert_eq!(parse_stat("12 (x) S"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_rss() {
        let s = "Name:\tnode\nVmPeak:\t  9999 kB\nVmRSS:\t   51200 kB\nRssAnon:\t   20480 kB\nRssFile:\t   30720 kB\nThreads:\t7\n";
        assert_eq!(parse_status_rss(s), Some(51200 * 1024));
        assert_eq!(parse_status_anon(s), Some(20480 * 1024));
        assert_eq!(parse_status_rss("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn tree_walks_grandchildren_only() {
        let parents = [(1, 0), (10, 1), (11, 10), (12, 11), (20, 1), (13, 10)];
        let mut t = tree_pids(10, &parents);
        t.sort_unstable();
        assert_eq!(t, vec![10, 11, 12, 13]);
        assert_eq!(tree_pids(99, &parents), vec![99]);
    }

    #[test]
    fn samples_this_process() {
        let s = sample_tree(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0 && s.processes >= 1);
        assert!(self_ticks().is_some());
    }
}
