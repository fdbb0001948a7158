//! Site-wide settings administrators change while the site runs: maintenance mode and
//! whether registration is open. They live in the database (every node sees the same) and each
//! node keeps a copy. A change is announced on the realtime fan-out
//! ([`super::events::RealtimeEvent::SiteChanged`]) and every node drops its copy at once; the
//! copy also expires, after two seconds on a single node, or [`SHARED_CACHE_FOR_MS`] when the
//! nodes share Redis (the bound on staleness should an announcement be lost while Redis is away).

use super::clock::SharedClock;
use super::events::{Fanout, RealtimeEvent};
use ferrocast_db::Db;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;

/// How long a node trusts its copy of the settings (ms).
pub const CACHE_FOR_MS: i64 = 2_000;
/// The same when changes reach it through Redis (ms).
pub const SHARED_CACHE_FOR_MS: i64 = 30_000;

/// A node's copy of the settings.
#[derive(Default)]
struct Cache {
    /// The copy and when it was read (ms).
    copy: Option<(i64, SiteSettings)>,
    /// Bumped by every invalidation: a read that began before one must not store what it
    /// read (it may predate the change).
    generation: u64,
}

type Cached = Arc<Mutex<Cache>>;

/// The settings as the site applies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SiteSettings {
    /// Whether the site is down for maintenance (administrators still get in).
    pub maintenance_mode: bool,
    /// What visitors are told meanwhile.
    pub maintenance_message: String,
    /// Whether anyone may register.
    pub registration_open: bool,
    /// The same, by the Neustream seed's name.
    pub new_registrations_enabled: bool,
}

/// The site settings service.
pub struct Site {
    db: Db,
    clock: SharedClock,
    /// Whether registration is open when no administrator said otherwise.
    registration_default: bool,
    /// The cached copy and when it was read (ms).
    cache: Cached,
    /// How long the copy is trusted (ms).
    cache_for_ms: i64,
}

impl Site {
    /// The service over storage; `registration_default` is the configured default.
    pub fn new(db: Db, clock: SharedClock, registration_default: bool) -> Self {
        Self {
            db,
            clock,
            registration_default,
            cache: Cached::default(),
            cache_for_ms: CACHE_FOR_MS,
        }
    }

    /// The same, trusting its copy for `ms` (changes announced on the fan-out drop it sooner).
    pub fn cache_for(mut self, ms: i64) -> Self {
        self.cache_for_ms = ms;
        self
    }

    /// Drops this node's copy whenever any node announces a change on `fanout` (and when this
    /// node fell behind the fan-out and may have missed one), until `shutdown`.
    pub fn spawn_invalidation(&self, fanout: Arc<dyn Fanout>, mut shutdown: watch::Receiver<bool>) {
        let cache = self.cache.clone();
        let mut events = fanout.subscribe();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    e = events.recv() => e,
                    _ = shutdown.wait_for(|s| *s) => return,
                };
                match event {
                    Ok(env) if env.event == RealtimeEvent::SiteChanged => forget(&cache),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => forget(&cache),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// The site's settings now.
    pub async fn settings(&self) -> SiteSettings {
        let generation = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, s)) = &cache.copy {
                if self.clock.now_ms() - at < self.cache_for_ms {
                    return s.clone();
                }
            }
            cache.generation
        };
        let mut s = SiteSettings {
            maintenance_mode: false,
            maintenance_message: String::new(),
            registration_open: self.registration_default,
            new_registrations_enabled: self.registration_default,
        };
        match self.db.site_settings().await {
            Ok(rows) => {
                for (k, v) in rows {
                    match k.as_str() {
                        "maintenance_mode" => s.maintenance_mode = v == "true",
                        "maintenance_message" => s.maintenance_message = v,
                        "registration_open" => s.registration_open = v == "true",
                        _ => {}
                    }
                }
                s.new_registrations_enabled = s.registration_open;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the site settings; using the last known");
                if let Some((_, last)) = &self.cache.lock().unwrap_or_else(|p| p.into_inner()).copy
                {
                    return last.clone();
                }
            }
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation == generation {
            cache.copy = Some((self.clock.now_ms(), s.clone()));
        }
        s
    }

    /// Drops this node's copy (after a change made here; other nodes learn of it through
    /// [`RealtimeEvent::SiteChanged`]).
    pub fn forget(&self) {
        forget(&self.cache);
    }
}

fn forget(cache: &Cached) {
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    cache.copy = None;
    cache.generation = cache.generation.wrapping_add(1);
}
