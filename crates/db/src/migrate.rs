//! Schema migrations, embedded in the binary, one list per backend.
//!
//! Applied in order inside one transaction per migration; on PostgreSQL an advisory lock keeps two
//! nodes starting at once from racing. Each applied migration's SHA-256 is recorded, and a
//! migration edited after it was applied is refused rather than silently skipped. A database
//! that holds migrations this binary does not know (a newer version ran against it) is refused
//! too, so an old binary never writes to a newer schema.

use crate::{now_ms, on_pool, Db, DbError};
use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

/// One migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version, strictly increasing.
    pub version: i64,
    /// Short name.
    pub name: &'static str,
    /// SQL, possibly several statements.
    pub sql: &'static str,
}

impl Migration {
    fn checksum(&self) -> String {
        HEXLOWER.encode(&Sha256::digest(self.sql.as_bytes()))
    }
}

/// Migrations for SQLite.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts",
        sql: include_str!("../migrations/sqlite/0001_accounts.sql"),
    },
    Migration {
        version: 2,
        name: "sources",
        sql: include_str!("../migrations/sqlite/0002_sources.sql"),
    },
    Migration {
        version: 3,
        name: "plans_restream",
        sql: include_str!("../migrations/sqlite/0003_plans_restream.sql"),
    },
    Migration {
        version: 4,
        name: "chat",
        sql: include_str!("../migrations/sqlite/0004_chat.sql"),
    },
    Migration {
        version: 5,
        name: "moderation",
        sql: include_str!("../migrations/sqlite/0005_moderation.sql"),
    },
    Migration {
        version: 6,
        name: "connector_lease",
        sql: include_str!("../migrations/shared/0006_connector_lease.sql"),
    },
    Migration {
        version: 7,
        name: "billing",
        sql: include_str!("../migrations/sqlite/0007_billing.sql"),
    },
    Migration {
        version: 8,
        name: "site_settings",
        sql: include_str!("../migrations/shared/0008_site_settings.sql"),
    },
    Migration {
        version: 9,
        name: "webhook_outcomes",
        sql: include_str!("../migrations/shared/0009_webhook_outcomes.sql"),
    },
    Migration {
        version: 10,
        name: "account_guards",
        sql: include_str!("../migrations/shared/0010_account_guards.sql"),
    },
    Migration {
        version: 11,
        name: "identities",
        sql: include_str!("../migrations/sqlite/0011_identities.sql"),
    },
    Migration {
        version: 12,
        name: "billing_preferences",
        sql: include_str!("../migrations/shared/0012_billing_preferences.sql"),
    },
    Migration {
        version: 13,
        name: "admin_actions",
        sql: include_str!("../migrations/sqlite/0013_admin_actions.sql"),
    },
    Migration {
        version: 14,
        name: "suspension",
        sql: include_str!("../migrations/shared/0014_suspension.sql"),
    },
    Migration {
        version: 15,
        name: "videos",
        sql: include_str!("../migrations/sqlite/0015_videos.sql"),
    },
    Migration {
        version: 16,
        name: "profiles",
        sql: include_str!("../migrations/shared/0016_profiles.sql"),
    },
    Migration {
        version: 17,
        name: "stream_metadata",
        sql: include_str!("../migrations/shared/0017_stream_metadata.sql"),
    },
    Migration {
        version: 18,
        name: "follows",
        sql: include_str!("../migrations/shared/0018_follows.sql"),
    },
    Migration {
        version: 19,
        name: "search_schedule",
        sql: include_str!("../migrations/sqlite/0019_search_schedule.sql"),
    },
    Migration {
        version: 20,
        name: "engagement",
        sql: include_str!("../migrations/sqlite/0020_engagement.sql"),
    },
    Migration {
        version: 21,
        name: "notifications",
        sql: include_str!("../migrations/sqlite/0021_notifications.sql"),
    },
    Migration {
        version: 22,
        name: "analytics",
        sql: include_str!("../migrations/shared/0022_analytics.sql"),
    },
    Migration {
        version: 23,
        name: "monetisation",
        sql: include_str!("../migrations/sqlite/0023_monetisation.sql"),
    },
    Migration {
        version: 24,
        name: "tips",
        sql: include_str!("../migrations/sqlite/0024_tips.sql"),
    },
    Migration {
        version: 25,
        name: "access",
        sql: include_str!("../migrations/shared/0025_access.sql"),
    },
    Migration {
        version: 26,
        name: "payouts",
        sql: include_str!("../migrations/sqlite/0026_payouts.sql"),
    },
    Migration {
        version: 27,
        name: "audit",
        sql: include_str!("../migrations/shared/0027_audit.sql"),
    },
    Migration {
        version: 28,
        name: "safety",
        sql: include_str!("../migrations/sqlite/0028_safety.sql"),
    },
    Migration {
        version: 29,
        name: "dmca",
        sql: include_str!("../migrations/sqlite/0029_dmca.sql"),
    },
    Migration {
        version: 30,
        name: "privacy",
        sql: include_str!("../migrations/sqlite/0030_privacy.sql"),
    },
    Migration {
        version: 31,
        name: "nodes",
        sql: include_str!("../migrations/shared/0031_nodes.sql"),
    },
    Migration {
        version: 32,
        name: "backups",
        sql: include_str!("../migrations/shared/0032_backups.sql"),
    },
    Migration {
        version: 33,
        name: "slate",
        sql: include_str!("../migrations/shared/0033_slate.sql"),
    },
    Migration {
        version: 34,
        name: "transcode",
        sql: include_str!("../migrations/shared/0034_transcode.sql"),
    },
    Migration {
        version: 35,
        name: "slate_picture",
        sql: include_str!("../migrations/shared/0035_slate_picture.sql"),
    },
    Migration {
        version: 36,
        name: "brands_campaigns",
        sql: include_str!("../migrations/sqlite/0036_brands_campaigns.sql"),
    },
    Migration {
        version: 37,
        name: "campaign_work",
        sql: include_str!("../migrations/sqlite/0037_campaign_work.sql"),
    },
    Migration {
        version: 38,
        name: "cookie_sessions",
        sql: include_str!("../migrations/shared/0038_cookie_sessions.sql"),
    },
    Migration {
        version: 39,
        name: "telegram_bot",
        sql: include_str!("../migrations/sqlite/0039_telegram_bot.sql"),
    },
    Migration {
        version: 40,
        name: "posts",
        sql: include_str!("../migrations/sqlite/0040_posts.sql"),
    },
    Migration {
        version: 41,
        name: "radio",
        sql: include_str!("../migrations/sqlite/0041_radio.sql"),
    },
    Migration {
        version: 42,
        name: "hangouts",
        sql: include_str!("../migrations/sqlite/0042_hangouts.sql"),
    },
];

/// Migrations for PostgreSQL.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts",
        sql: include_str!("../migrations/postgres/0001_accounts.sql"),
    },
    Migration {
        version: 2,
        name: "sources",
        sql: include_str!("../migrations/postgres/0002_sources.sql"),
    },
    Migration {
        version: 3,
        name: "plans_restream",
        sql: include_str!("../migrations/postgres/0003_plans_restream.sql"),
    },
    Migration {
        version: 4,
        name: "chat",
        sql: include_str!("../migrations/postgres/0004_chat.sql"),
    },
    Migration {
        version: 5,
        name: "moderation",
        sql: include_str!("../migrations/postgres/0005_moderation.sql"),
    },
    Migration {
        version: 6,
        name: "connector_lease",
        sql: include_str!("../migrations/shared/0006_connector_lease.sql"),
    },
    Migration {
        version: 7,
        name: "billing",
        sql: include_str!("../migrations/postgres/0007_billing.sql"),
    },
    Migration {
        version: 8,
        name: "site_settings",
        sql: include_str!("../migrations/shared/0008_site_settings.sql"),
    },
    Migration {
        version: 9,
        name: "webhook_outcomes",
        sql: include_str!("../migrations/shared/0009_webhook_outcomes.sql"),
    },
    Migration {
        version: 10,
        name: "account_guards",
        sql: include_str!("../migrations/shared/0010_account_guards.sql"),
    },
    Migration {
        version: 11,
        name: "identities",
        sql: include_str!("../migrations/postgres/0011_identities.sql"),
    },
    Migration {
        version: 12,
        name: "billing_preferences",
        sql: include_str!("../migrations/shared/0012_billing_preferences.sql"),
    },
    Migration {
        version: 13,
        name: "admin_actions",
        sql: include_str!("../migrations/postgres/0013_admin_actions.sql"),
    },
    Migration {
        version: 14,
        name: "suspension",
        sql: include_str!("../migrations/shared/0014_suspension.sql"),
    },
    Migration {
        version: 15,
        name: "videos",
        sql: include_str!("../migrations/postgres/0015_videos.sql"),
    },
    Migration {
        version: 16,
        name: "profiles",
        sql: include_str!("../migrations/shared/0016_profiles.sql"),
    },
    Migration {
        version: 17,
        name: "stream_metadata",
        sql: include_str!("../migrations/shared/0017_stream_metadata.sql"),
    },
    Migration {
        version: 18,
        name: "follows",
        sql: include_str!("../migrations/shared/0018_follows.sql"),
    },
    Migration {
        version: 19,
        name: "search_schedule",
        sql: include_str!("../migrations/postgres/0019_search_schedule.sql"),
    },
    Migration {
        version: 20,
        name: "engagement",
        sql: include_str!("../migrations/postgres/0020_engagement.sql"),
    },
    Migration {
        version: 21,
        name: "notifications",
        sql: include_str!("../migrations/postgres/0021_notifications.sql"),
    },
    Migration {
        version: 22,
        name: "analytics",
        sql: include_str!("../migrations/shared/0022_analytics.sql"),
    },
    Migration {
        version: 23,
        name: "monetisation",
        sql: include_str!("../migrations/postgres/0023_monetisation.sql"),
    },
    Migration {
        version: 24,
        name: "tips",
        sql: include_str!("../migrations/postgres/0024_tips.sql"),
    },
    Migration {
        version: 25,
        name: "access",
        sql: include_str!("../migrations/shared/0025_access.sql"),
    },
    Migration {
        version: 26,
        name: "payouts",
        sql: include_str!("../migrations/postgres/0026_payouts.sql"),
    },
    Migration {
        version: 27,
        name: "audit",
        sql: include_str!("../migrations/shared/0027_audit.sql"),
    },
    Migration {
        version: 28,
        name: "safety",
        sql: include_str!("../migrations/postgres/0028_safety.sql"),
    },
    Migration {
        version: 29,
        name: "dmca",
        sql: include_str!("../migrations/postgres/0029_dmca.sql"),
    },
    Migration {
        version: 30,
        name: "privacy",
        sql: include_str!("../migrations/postgres/0030_privacy.sql"),
    },
    Migration {
        version: 31,
        name: "nodes",
        sql: include_str!("../migrations/shared/0031_nodes.sql"),
    },
    Migration {
        version: 32,
        name: "backups",
        sql: include_str!("../migrations/shared/0032_backups.sql"),
    },
    Migration {
        version: 33,
        name: "slate",
        sql: include_str!("../migrations/shared/0033_slate.sql"),
    },
    Migration {
        version: 34,
        name: "transcode",
        sql: include_str!("../migrations/shared/0034_transcode.sql"),
    },
    Migration {
        version: 35,
        name: "slate_picture",
        sql: include_str!("../migrations/shared/0035_slate_picture.sql"),
    },
    Migration {
        version: 36,
        name: "brands_campaigns",
        sql: include_str!("../migrations/postgres/0036_brands_campaigns.sql"),
    },
    Migration {
        version: 37,
        name: "campaign_work",
        sql: include_str!("../migrations/postgres/0037_campaign_work.sql"),
    },
    Migration {
        version: 38,
        name: "cookie_sessions",
        sql: include_str!("../migrations/shared/0038_cookie_sessions.sql"),
    },
    Migration {
        version: 39,
        name: "telegram_bot",
        sql: include_str!("../migrations/postgres/0039_telegram_bot.sql"),
    },
    Migration {
        version: 40,
        name: "posts",
        sql: include_str!("../migrations/postgres/0040_posts.sql"),
    },
    Migration {
        version: 41,
        name: "radio",
        sql: include_str!("../migrations/postgres/0041_radio.sql"),
    },
    Migration {
        version: 42,
        name: "hangouts",
        sql: include_str!("../migrations/postgres/0042_hangouts.sql"),
    },
];

/// Serialises migrations across nodes for the length of a transaction (PostgreSQL only).
const LOCK: &str = "SELECT pg_advisory_xact_lock(7461836151)";

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// Where the schema stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    /// Versions applied and known to this binary.
    pub applied: Vec<i64>,
    /// Versions this binary would apply.
    pub pending: Vec<(i64, &'static str)>,
    /// Versions in the database this binary does not know.
    pub unknown: Vec<i64>,
    /// Versions whose SQL changed after they were applied.
    pub modified: Vec<i64>,
}

impl Status {
    /// Whether the schema is exactly what this binary expects.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty() && self.modified.is_empty()
    }
}

impl Db {
    fn migrations(&self) -> &'static [Migration] {
        match self {
            Db::Sqlite(_) => SQLITE,
            Db::Postgres(_) => POSTGRES,
        }
    }

    async fn applied_rows(&self) -> Result<Vec<(i64, String)>, DbError> {
        let exists: bool = on_pool!(self, p => {
            let sql = match self {
                Db::Sqlite(_) => "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                Db::Postgres(_) => "SELECT to_regclass('schema_migrations') IS NOT NULL",
            };
            sqlx::query_scalar(sql).fetch_one(p).await?
        });
        if !exists {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, String)> = on_pool!(self, p => {
            sqlx::query_as("SELECT version, checksum FROM schema_migrations ORDER BY version").fetch_all(p).await?
        });
        Ok(rows)
    }

    /// Compares the database with this binary's migrations, without changing anything.
    pub async fn migration_status(&self) -> Result<Status, DbError> {
        let rows = self.applied_rows().await?;
        let known = self.migrations();
        let mut status = Status::default();
        for (version, checksum) in &rows {
            match known.iter().find(|m| m.version == *version) {
                Some(m) if m.checksum() == *checksum => status.applied.push(*version),
                Some(_) => status.modified.push(*version),
                None => status.unknown.push(*version),
            }
        }
        for m in known {
            if !rows.iter().any(|(v, _)| *v == m.version) {
                status.pending.push((m.version, m.name));
            }
        }
        Ok(status)
    }

    /// Applies every pending migration and returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>, DbError> {
        // Under the same advisory lock as the migrations: two PostgreSQL nodes starting at once
        // would otherwise race on CREATE TABLE IF NOT EXISTS (a pg_type unique violation).
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            if matches!(self, Db::Postgres(_)) {
                sqlx::query(LOCK).execute(&mut *tx).await?;
            }
            sqlx::query(CREATE_TABLE).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        let status = self.migration_status().await?;
        if !status.unknown.is_empty() {
            return Err(DbError::Migrate(format!(
                "the database has migrations {:?} that this binary does not know; it was used by a newer ferrocast — upgrade this binary",
                status.unknown
            )));
        }
        if !status.modified.is_empty() {
            return Err(DbError::Migrate(format!(
                "migrations {:?} were changed after they were applied; restore them or the database",
                status.modified
            )));
        }
        let mut applied = Vec::new();
        for (version, _) in status.pending {
            let m = self
                .migrations()
                .iter()
                .find(|m| m.version == version)
                .expect("invariant: pending versions come from the known list");
            let checksum = m.checksum();
            let now = now_ms();
            let fail =
                |e: sqlx::Error| DbError::Migrate(format!("{:04}_{}: {e}", m.version, m.name));
            on_pool!(self, p => {
                let mut tx = p.begin().await.map_err(fail)?;
                if matches!(self, Db::Postgres(_)) {
                    sqlx::query(LOCK).execute(&mut *tx).await.map_err(fail)?;
                }
                let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(m.version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(fail)?;
                if done.is_none() {
                    sqlx::raw_sql(m.sql).execute(&mut *tx).await.map_err(fail)?;
                    sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
                        .bind(m.version)
                        .bind(m.name)
                        .bind(&checksum)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(fail)?;
                    applied.push(m.version);
                }
                tx.commit().await.map_err(fail)?;
            });
            tracing::info!(version = m.version, name = m.name, "migration applied");
        }
        Ok(applied)
    }
}
