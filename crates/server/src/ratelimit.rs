//! In-process rate limiting with GCRA (the generic cell rate algorithm): `limit` requests per
//! `period` with bursts up to `limit`, one timestamp of state per key.
//!
//! The key table is bounded: when full, expired keys are purged; if it is still full, new keys
//! are refused (fail closed, with a warning) rather than memory growing without bound or the
//! limit switching off. Limits are per node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys tracked at once.
pub const MAX_KEYS: usize = 100_000;

/// A limiter for one class of requests.
pub struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    disabled: bool,
    state: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// `limit` requests per `period`; 0 disables the limiter.
    pub fn new(limit: u32, period: Duration) -> Self {
        let disabled = limit == 0;
        let interval = period / limit.max(1);
        Self {
            interval,
            tolerance: period - interval,
            disabled,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// Charges one request to `key`. `Err(seconds)` says how long to wait. Time is Tokio's, so
    /// tests can pause and advance it.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, tokio::time::Instant::now().into_std())
    }

    /// [`RateLimiter::check`] at a given instant (for tests).
    pub fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.disabled {
            return Ok(());
        }
        let mut map = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(key) && map.len() >= MAX_KEYS {
            map.retain(|_, tat| *tat > now);
            if map.len() >= MAX_KEYS {
                // Failing open would let a flood of addresses switch limiting off for everyone.
                tracing::warn!(
                    "rate limiter table full; refusing new clients until entries expire"
                );
                return Err(self.interval.as_secs().max(1));
            }
        }
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            let wait = ahead - self.tolerance;
            return Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        }
        map.insert(key.to_string(), tat + self.interval);
        Ok(())
    }
}

/// The rate-limit key of a client address: the address for IPv4, its /64 network for IPv6 (one
/// subscriber usually holds a whole /64, so per-address keys would be free to multiply).
pub fn client_key(ip: std::net::IpAddr) -> String {
    ferrocast_engine::addresses::AddrKey::of(ip).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ipv6_clients_are_keyed_by_network() {
        let a = super::client_key("2001:db8:1:2::1".parse().expect("ip"));
        let b = super::client_key("2001:db8:1:2:ffff::9".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, super::client_key("2001:db8:1:3::1".parse().expect("ip")));
        assert_eq!(
            super::client_key("::ffff:10.0.0.1".parse().expect("ip")),
            "10.0.0.1"
        );
    }

    use super::*;

    #[test]
    fn five_per_minute() {
        let l = RateLimiter::new(5, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.check_at("a", t0), Ok(()));
        }
        let wait = l.check_at("a", t0).expect_err("sixth is refused");
        assert!((1..=12).contains(&wait), "{wait}");
        assert_eq!(l.check_at("b", t0), Ok(()), "other keys unaffected");
        assert_eq!(
            l.check_at("a", t0 + Duration::from_secs(12)),
            Ok(()),
            "one slot back after 12 s"
        );
        assert!(l.check_at("a", t0 + Duration::from_secs(12)).is_err());
    }

    #[test]
    fn zero_disables() {
        let l = RateLimiter::new(0, Duration::from_secs(60));
        for _ in 0..1000 {
            assert_eq!(l.check("a"), Ok(()));
        }
    }
}
