//! In-process rate limiting with GCRA (the generic cell rate algorithm): `limit` requests per
//! `period` with bursts up to `limit`, one timestamp of state per key.
//!
//! The key table is bounded: when full, expired keys are purged; if it is still full, new keys
//! are refused (fail closed, with a warning) rather than memory growing without bound or the
//! limit switching off.
//!
//! With Redis configured ([`SharedLimits`]), a limiter made [`RateLimiter::shared`] keeps its
//! state in Redis instead, so every node of a deployment charges one budget: the same GCRA in
//! one Lua script (atomic, one round trip, Redis's clock so nodes' clocks need not agree). When
//! Redis does not answer in time the node falls back to its own table for that request, counts
//! it (`ferrocast_rate_limit_backend_errors_total`) and logs once per outage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most keys tracked at once.
pub const MAX_KEYS: usize = 100_000;

/// A limiter for one class of requests.
pub struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    disabled: bool,
    state: Mutex<HashMap<String, Instant>>,
    /// Redis and this limiter's class, when limits are shared across nodes.
    shared: Option<(Arc<SharedLimits>, &'static str)>,
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
            shared: None,
        }
    }

    /// Keeps this limiter's state in `shared` (when given) under `class` (`auth`, `api`, …: a
    /// fixed word, part of the Redis key), so every node charges one budget.
    pub fn shared(mut self, shared: Option<Arc<SharedLimits>>, class: &'static str) -> Self {
        self.shared = shared.map(|s| (s, class));
        self
    }

    /// Charges one request to `key` through Redis when this limiter is shared (falling back to
    /// [`RateLimiter::check`] when Redis fails), else [`RateLimiter::check`].
    pub async fn check_shared(&self, key: &str) -> Result<(), u64> {
        if self.disabled {
            return Ok(());
        }
        let Some((shared, class)) = &self.shared else {
            return self.check(key);
        };
        let interval_us = self.interval.as_micros().max(1) as u64;
        let tolerance_us = self.tolerance.as_micros() as u64;
        match shared.charge(class, key, interval_us, tolerance_us).await {
            Ok(None) => Ok(()),
            Ok(Some(wait_us)) => Err(wait_us.div_ceil(1_000_000).max(1)),
            Err(()) => self.check(key),
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

/// How long one Redis check may take before the node decides alone.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, requests decide locally for this long before Redis is tried again (so an
/// outage costs one timeout per interval, not one per request).
pub const REDIS_RETRY_AFTER: Duration = Duration::from_secs(2);

/// GCRA over one key, in Redis (Lua, so it is atomic): `KEYS[1]` holds the theoretical arrival
/// time in microseconds of Redis's clock; `ARGV[1]` is the emission interval, `ARGV[2]` the
/// burst tolerance (both µs). Returns 0 when the request is admitted (and stores the new arrival
/// time with an expiry), else the microseconds to wait. Microseconds since 1970 fit a Lua
/// double exactly (< 2^53).
const GCRA_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local ahead = tat - now
if ahead > tolerance then return ahead - tolerance end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1)
return 0
";

/// Rate-limit state shared by the nodes of a deployment, in Redis.
pub struct SharedLimits {
    client: redis::Client,
    /// `ferrocast:ratelimit:<deployment tag>:`; the class and key follow.
    prefix: String,
    conn: tokio::sync::Mutex<Option<(redis::aio::MultiplexedConnection, String)>>,
    /// Until when (Tokio's clock) Redis is not tried again after a failure.
    retry_at: Mutex<Option<tokio::time::Instant>>,
    /// Whether the last attempt failed (so an outage is logged once).
    down: AtomicBool,
    errors: AtomicU64,
}

impl SharedLimits {
    /// Limits in the Redis at `url`, namespaced by the deployment's master key (as the realtime
    /// channel is), so deployments or test runs sharing a Redis never share budgets. Nothing is
    /// connected until the first check.
    pub fn new(url: &str, master_key: &[u8; 32]) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        let tag = ferrocast_auth::secretbox::derive_key(master_key, "ratelimit-keys");
        Ok(Self {
            client,
            prefix: format!(
                "ferrocast:ratelimit:{}:",
                data_encoding::HEXLOWER.encode(&tag[..8])
            ),
            conn: tokio::sync::Mutex::new(None),
            retry_at: Mutex::new(None),
            down: AtomicBool::new(false),
            errors: AtomicU64::new(0),
        })
    }

    /// Checks that fell back to the local limiter because Redis failed.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Runs the GCRA for `class`/`key`: `Ok(None)` admitted, `Ok(Some(µs))` refused, `Err(())`
    /// Redis failed (counted and logged here; the caller decides locally).
    async fn charge(
        &self,
        class: &str,
        key: &str,
        interval_us: u64,
        tolerance_us: u64,
    ) -> Result<Option<u64>, ()> {
        if let Some(at) = *self.retry_at.lock().unwrap_or_else(|p| p.into_inner()) {
            if tokio::time::Instant::now() < at {
                self.errors.fetch_add(1, Ordering::Relaxed);
                return Err(());
            }
        }
        let redis_key = format!("{}{class}:{key}", self.prefix);
        let attempt = tokio::time::timeout(
            REDIS_TIMEOUT,
            self.run(&redis_key, interval_us, tolerance_us),
        )
        .await;
        let error = match attempt {
            Ok(Ok(wait)) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again; rate limits are shared across nodes");
                }
                *self.retry_at.lock().unwrap_or_else(|p| p.into_inner()) = None;
                return Ok((wait > 0).then_some(wait as u64));
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {REDIS_TIMEOUT:?}"),
        };
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.conn.lock().await = None;
        *self.retry_at.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(tokio::time::Instant::now() + REDIS_RETRY_AFTER);
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %error, "Redis unreachable for rate limits; each node limits on its own until it answers");
        }
        Err(())
    }

    async fn run(
        &self,
        redis_key: &str,
        interval_us: u64,
        tolerance_us: u64,
    ) -> redis::RedisResult<i64> {
        let (mut conn, sha) = {
            let mut slot = self.conn.lock().await;
            match slot.as_ref() {
                Some(c) => c.clone(),
                None => {
                    let mut c = self.client.get_multiplexed_async_connection().await?;
                    let sha: String = redis::cmd("SCRIPT")
                        .arg("LOAD")
                        .arg(GCRA_LUA)
                        .query_async(&mut c)
                        .await?;
                    *slot = Some((c.clone(), sha.clone()));
                    (c, sha)
                }
            }
        };
        let by_sha = redis::cmd("EVALSHA")
            .arg(&sha)
            .arg(1)
            .arg(redis_key)
            .arg(interval_us)
            .arg(tolerance_us)
            .query_async::<i64>(&mut conn)
            .await;
        match by_sha {
            // Redis restarted (or its script cache was flushed): send the script itself.
            Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                redis::cmd("EVAL")
                    .arg(GCRA_LUA)
                    .arg(1)
                    .arg(redis_key)
                    .arg(interval_us)
                    .arg(tolerance_us)
                    .query_async::<i64>(&mut conn)
                    .await
            }
            other => other,
        }
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

    /// Redis refusing connections: every check is decided by the node's own limiter (the
    /// budget still holds), each is counted, and Redis is not dialled again on every request.
    #[tokio::test]
    async fn an_unreachable_redis_falls_back_to_the_local_limiter() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let shared = Arc::new(
            SharedLimits::new(&format!("redis://127.0.0.1:{port}"), &[7u8; 32]).expect("url"),
        );
        let l = RateLimiter::new(5, Duration::from_secs(60)).shared(Some(shared.clone()), "auth");
        for _ in 0..5 {
            assert_eq!(l.check_shared("a").await, Ok(()));
        }
        assert!(l.check_shared("a").await.is_err(), "the local budget holds");
        assert_eq!(shared.errors(), 6, "every fallback is counted");
        assert!(
            shared.retry_at.lock().expect("lock").is_some(),
            "Redis rests before the next try"
        );
    }

    #[test]
    fn zero_disables() {
        let l = RateLimiter::new(0, Duration::from_secs(60));
        for _ in 0..1000 {
            assert_eq!(l.check("a"), Ok(()));
        }
    }
}
