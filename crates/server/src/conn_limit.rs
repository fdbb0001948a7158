//! Open HTTP and Socket.IO connections per client address ([`AddrKey`], as the RTMP listener
//! counts them), capped: one host must not fill the node. Entries are removed when their last
//! connection closes, so the table holds only open connections.

pub use ferrocast_engine::rtmp_server::AddrKey;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

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
