//! Site-wide settings administrators change while the site runs: maintenance mode and
//! whether registration is open. They live in the database (every node sees the same) and each
//! node trusts its copy for two seconds.

use super::clock::SharedClock;
use ferrocast_db::Db;
use serde::Serialize;
use std::sync::Mutex;
use utoipa::ToSchema;

/// How long a node trusts its copy of the settings (ms).
const CACHE_FOR_MS: i64 = 2_000;

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
    cache: Mutex<Option<(i64, SiteSettings)>>,
}

impl Site {
    /// The service over storage; `registration_default` is the configured default.
    pub fn new(db: Db, clock: SharedClock, registration_default: bool) -> Self {
        Self {
            db,
            clock,
            registration_default,
            cache: Mutex::new(None),
        }
    }

    /// The site's settings now.
    pub async fn settings(&self) -> SiteSettings {
        if let Some((at, s)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if self.clock.now_ms() - at < CACHE_FOR_MS {
                return s.clone();
            }
        }
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
                if let Some((_, last)) = self
                    .cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                {
                    return last.clone();
                }
            }
        }
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((self.clock.now_ms(), s.clone()));
        s
    }

    /// Drops this node's copy (after a change made here).
    pub fn forget(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
