//! Settings for running several nodes side by side: how long a node drains on SIGTERM, and the
//! address lists that say who may publish (ingest) and who may reach the admin API.

use crate::{env_name, IpNet, Layered};
use std::net::IpAddr;

/// Longest drain a node may be configured with (seconds): a supervisor that waits longer than
/// this before SIGKILL is rare, and a node that never exits blocks upgrades.
pub const MAX_DRAIN_SECS: u64 = 3600;

/// `FERROCAST_DRAIN_SECS`, `FERROCAST_INGEST_ALLOW`/`_DENY`, `FERROCAST_ADMIN_ALLOW`/`_DENY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsSettings {
    /// Seconds a node takes at most, after SIGTERM, to stop taking publishes and viewers, let
    /// running jobs finish, release its leases and exit.
    pub drain_secs: u64,
    /// Who may publish (RTMP and every other ingest).
    pub ingest: IpList,
    /// Who may call `/api/admin/*`.
    pub admin: IpList,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self {
            drain_secs: 30,
            ingest: IpList::default(),
            admin: IpList::default(),
        }
    }
}

/// An allow list and a deny list of address blocks. An address is permitted when it is in no
/// deny block and, if the allow list is not empty, in one of its blocks: deny wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpList {
    /// Blocks allowed; empty: every address not denied.
    pub allow: Vec<IpNet>,
    /// Blocks refused.
    pub deny: Vec<IpNet>,
}

impl IpList {
    /// Whether the list lets `ip` in (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn permits(&self, ip: IpAddr) -> bool {
        if self.deny.iter().any(|n| n.contains(ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(ip))
    }

    /// Whether the list restricts anything.
    pub fn is_open(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// Comma-separated addresses or CIDR blocks (`10.0.0.0/8, 2001:db8::/32, 192.0.2.7`).
pub(crate) fn ip_nets(l: &Layered, key: &str, problems: &mut Vec<String>) -> Vec<IpNet> {
    let mut out = Vec::new();
    for item in l
        .get(key)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match item.parse::<IpNet>() {
            Ok(net) => out.push(net),
            Err(()) => problems.push(format!(
                "{}: {item:?} is not an address or CIDR such as 10.0.0.0/8 or 2001:db8::/32",
                env_name(key)
            )),
        }
    }
    out
}

/// Reads the settings of this module, adding what is wrong to `problems`.
pub(crate) fn load(l: &Layered, problems: &mut Vec<String>) -> OpsSettings {
    let drain_secs = match l.get("drain_secs") {
        None => 30,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=MAX_DRAIN_SECS).contains(&n) => n,
            _ => {
                problems.push(format!(
                    "{} = {v:?} is not a whole number of seconds from 1 to {MAX_DRAIN_SECS}",
                    env_name("drain_secs")
                ));
                30
            }
        },
    };
    OpsSettings {
        drain_secs,
        ingest: IpList {
            allow: ip_nets(l, "ingest_allow", problems),
            deny: ip_nets(l, "ingest_deny", problems),
        },
        admin: IpList {
            allow: ip_nets(l, "admin_allow", problems),
            deny: ip_nets(l, "admin_deny", problems),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(allow: &[&str], deny: &[&str]) -> IpList {
        let p = |v: &[&str]| v.iter().map(|s| s.parse().expect("net")).collect();
        IpList {
            allow: p(allow),
            deny: p(deny),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_empty_list_lets_everyone_in() {
        let l = IpList::default();
        assert!(l.is_open());
        assert!(l.permits(ip("203.0.113.9")) && l.permits(ip("2001:db8::1")));
    }

    #[test]
    fn allow_lists_admit_only_their_blocks_and_deny_wins() {
        let l = list(&["10.0.0.0/8", "2001:db8::/32"], &["10.9.0.0/16"]);
        assert!(l.permits(ip("10.1.2.3")));
        assert!(!l.permits(ip("10.9.1.1")), "deny wins over allow");
        assert!(!l.permits(ip("192.0.2.1")), "outside the allow list");
        assert!(l.permits(ip("2001:db8:5::1")));
        assert!(!l.permits(ip("2001:db9::1")));
        assert!(
            l.permits(ip("::ffff:10.1.2.3")),
            "IPv4-mapped IPv6 is the IPv4 address"
        );
    }

    #[test]
    fn deny_only_refuses_its_blocks() {
        let l = list(&[], &["192.0.2.7", "2001:db8:bad::/48"]);
        assert!(!l.permits(ip("192.0.2.7")));
        assert!(l.permits(ip("192.0.2.8")));
        assert!(!l.permits(ip("2001:db8:bad:1::5")));
        assert!(l.permits(ip("2001:db8:beef::5")));
    }
}
