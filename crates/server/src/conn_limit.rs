//! Open connections per client address, capped: one host must not fill the node. An address is
//! an IPv4 address or the /64 of an IPv6 address (one host commonly holds a whole /64);
//! IPv4-mapped IPv6 counts as its IPv4 address. Entries are removed when their last connection
//! closes, so the table holds only open connections.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

/// What connections are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrKey {
    /// An IPv4 client.
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 client.
    V6Net(u64),
}

impl AddrKey {
    /// The key of a client address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Self::V4(a),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4),
                None => Self::V6Net((u128::from(a) >> 64) as u64),
            },
        }
    }
}

/// Open connections per address, at most `max` each (0: no cap).
pub struct AddressCounts {
    max: usize,
    open: Mutex<HashMap<AddrKey, usize>>,
}

/// One counted connection; dropping it uncounts it.
pub struct AddressSlot {
    counts: Arc<AddressCounts>,
    key: AddrKey,
}

impl AddressCounts {
    /// A table capping each address at `max` (0: no cap, still counted).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a connection from `ip`, or `None` when the address has its maximum open.
    pub fn try_open(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = AddrKey::of(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_default();
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            counts: self.clone(),
            key,
        })
    }

    /// Connections open from `ip`'s address now.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&AddrKey::of(ip)).copied().unwrap_or(0)
    }

    /// Addresses with a connection open.
    pub fn addresses(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn caps_per_address_and_forgets_closed_ones() {
        let t = AddressCounts::new(2);
        let a = t.try_open(ip("192.0.2.1")).expect("first");
        let b = t
            .try_open(ip("::ffff:192.0.2.1"))
            .expect("mapped counts as v4");
        assert!(t.try_open(ip("192.0.2.1")).is_none(), "third refused");
        assert!(
            t.try_open(ip("192.0.2.2")).is_some(),
            "another address is not"
        );
        // One IPv6 host's /64 is one address.
        let c = t.try_open(ip("2001:db8:1:2::1")).expect("v6");
        let d = t.try_open(ip("2001:db8:1:2:ffff::9")).expect("same /64");
        assert!(t.try_open(ip("2001:db8:1:2::77")).is_none());
        assert!(t.try_open(ip("2001:db8:1:3::1")).is_some(), "another /64");
        drop((a, c, d));
        assert_eq!(t.open_from(ip("192.0.2.1")), 1);
        drop(b);
        assert_eq!(t.addresses(), 0, "closed connections leave nothing behind");
    }

    #[test]
    fn zero_counts_without_capping() {
        let t = AddressCounts::new(0);
        let slots: Vec<_> = (0..100)
            .filter_map(|_| t.try_open(ip("10.0.0.1")))
            .collect();
        assert_eq!(slots.len(), 100);
        assert_eq!(t.open_from(ip("10.0.0.1")), 100);
    }
}
