//! Connections per client address, for every listener of a node (RTMP here; HTTP and Socket.IO
//! in the server): one key for "an address", caps on what one address holds open, and a
//! refusal log that cannot be flooded.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What connections are counted under: an IPv4 address, or the /64 of an IPv6 address (one
/// host commonly holds a whole /64, so counting single IPv6 addresses would cap nothing).
/// IPv4-mapped IPv6 addresses (a dual-stack listener) count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrKey {
    /// An IPv4 client.
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 client.
    V6Prefix64(u64),
}

impl AddrKey {
    /// The key of a client address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Self::V4(a),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4),
                None => Self::V6Prefix64((u128::from(a) >> 64) as u64),
            },
        }
    }
}

impl std::fmt::Display for AddrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddrKey::V4(a) => write!(f, "{a}"),
            AddrKey::V6Prefix64(p) => {
                let s = [
                    (p >> 48) as u16,
                    (p >> 32) as u16,
                    (p >> 16) as u16,
                    *p as u16,
                ];
                write!(f, "{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

#[derive(Debug, Default)]
struct AddrCount {
    open: usize,
    pending: usize,
}

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The node holds its maximum of connections of this kind.
    NodeFull,
    /// The address holds its maximum of open connections.
    PerAddress,
    /// The address holds its maximum of connections not yet set up (handshaking).
    PerAddressPending,
}

impl Refusal {
    /// The reason, in words for the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NodeFull => "the node has its maximum of connections",
            Refusal::PerAddress => "the address has its maximum of connections",
            Refusal::PerAddressPending => {
                "the address has its maximum of connections not yet set up"
            }
        }
    }
}

/// Open and pending connections per client address. Entries exist only while the address has
/// a connection open, so the map never outgrows the node's connection cap.
#[derive(Debug)]
pub struct AddrLimiter {
    max_open: usize,
    max_pending: usize,
    counts: Mutex<HashMap<AddrKey, AddrCount>>,
}

impl AddrLimiter {
    /// Caps each address at `max_open` connections, of which `max_pending` not yet set up
    /// (0: no cap).
    pub fn new(max_open: usize, max_pending: usize) -> Arc<Self> {
        Arc::new(Self {
            max_open,
            max_pending,
            counts: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AddrKey, AddrCount>> {
        // The counts stay consistent even if a holder panicked: each update is one statement.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a new (pending) connection from `ip`, or says which cap it is over.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<AddrSlot, Refusal> {
        let key = AddrKey::of(ip);
        let mut counts = self.lock();
        let c = counts.entry(key).or_default();
        let refusal = if self.max_open > 0 && c.open >= self.max_open {
            Some(Refusal::PerAddress)
        } else if self.max_pending > 0 && c.pending >= self.max_pending {
            Some(Refusal::PerAddressPending)
        } else {
            None
        };
        if let Some(r) = refusal {
            if c.open == 0 {
                counts.remove(&key);
            }
            return Err(r);
        }
        c.open += 1;
        c.pending += 1;
        Ok(AddrSlot {
            limiter: self.clone(),
            key,
            pending: true,
        })
    }

    /// Addresses with a connection open.
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }
}

/// One connection's place in its address's counts; released on drop.
#[derive(Debug)]
pub struct AddrSlot {
    limiter: Arc<AddrLimiter>,
    key: AddrKey,
    pending: bool,
}

impl AddrSlot {
    /// The address the connection counts under.
    pub fn key(&self) -> AddrKey {
        self.key
    }

    /// The connection is set up (RTMP: past `connect`): it no longer counts as pending.
    pub fn connected(&mut self) {
        if !std::mem::replace(&mut self.pending, false) {
            return;
        }
        if let Some(c) = self.limiter.lock().get_mut(&self.key) {
            c.pending = c.pending.saturating_sub(1);
        }
    }
}

impl Drop for AddrSlot {
    fn drop(&mut self) {
        let mut counts = self.limiter.lock();
        if let Some(c) = counts.get_mut(&self.key) {
            c.open = c.open.saturating_sub(1);
            if self.pending {
                c.pending = c.pending.saturating_sub(1);
            }
            if c.open == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// Refused connections are logged at most once per this interval (with how many were not).
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Logs refused connections at most once per [`REFUSAL_LOG_INTERVAL`], saying how many were
/// refused without a line since, so a flood cannot flood the log (metrics count them all).
#[derive(Debug)]
pub struct RefusalLog {
    listener: &'static str,
    quiet_until: Option<tokio::time::Instant>,
    unlogged: u64,
}

impl RefusalLog {
    /// A log for one listener (`"RTMP"`, `"HTTP"`).
    pub fn new(listener: &'static str) -> Self {
        Self {
            listener,
            quiet_until: None,
            unlogged: 0,
        }
    }

    /// Notes one refused connection.
    pub fn refused(&mut self, peer: SocketAddr, refusal: Refusal) {
        let now = tokio::time::Instant::now();
        if self.quiet_until.is_some_and(|t| now < t) {
            self.unlogged += 1;
            return;
        }
        tracing::warn!(
            listener = self.listener,
            %peer,
            reason = refusal.as_str(),
            refused_since_last_line = self.unlogged,
            "connection refused; the next refusal is logged in a minute at the earliest"
        );
        self.unlogged = 0;
        self.quiet_until = Some(now + REFUSAL_LOG_INTERVAL);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_count_as_ipv4_or_ipv6_slash_64() {
        assert_eq!(
            AddrKey::of(ip("192.0.2.1")),
            AddrKey::of(ip("::ffff:192.0.2.1"))
        );
        assert_ne!(AddrKey::of(ip("192.0.2.1")), AddrKey::of(ip("192.0.2.2")));
        assert_eq!(
            AddrKey::of(ip("2001:db8:1:2::1")),
            AddrKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            AddrKey::of(ip("2001:db8:1:2::1")),
            AddrKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            AddrKey::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(AddrKey::of(ip("::ffff:192.0.2.1")).to_string(), "192.0.2.1");
    }

    #[test]
    fn pending_and_open_caps_per_address() {
        let l = AddrLimiter::new(4, 2);
        let a = ip("192.0.2.1");
        let mut first = l.admit(a).unwrap();
        let mut second = l.admit(a).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refusal::PerAddressPending);
        // Another address is not affected.
        let other = l.admit(ip("192.0.2.2")).unwrap();
        // Past connect, a connection no longer counts as pending.
        first.connected();
        first.connected();
        second.connected();
        let third = l.admit(a).unwrap();
        let fourth = l.admit(a).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refusal::PerAddress);
        // Closing gives the place back; the last one out removes the entry.
        drop(third);
        let fifth = l.admit(a).unwrap();
        drop((first, second, fourth, fifth, other));
        assert_eq!(l.addresses(), 0);
    }

    #[test]
    fn zero_means_no_limit() {
        let l = AddrLimiter::new(0, 0);
        let slots: Vec<_> = (0..1000)
            .map(|_| l.admit(ip("192.0.2.1")).unwrap())
            .collect();
        assert_eq!(l.addresses(), 1);
        drop(slots);
        assert_eq!(l.addresses(), 0);
    }
}
