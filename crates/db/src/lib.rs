//! Storage for ferrocast: SQLite (embedded, the default) or PostgreSQL, chosen by the URL.
//!
//! One SQL code path: every query is written once with `$N` placeholders (SQLite accepts them)
//! and portable SQL, and [`on_pool!`] runs it on whichever pool the node has. Column types are
//! chosen to decode the same on both backends: `BIGINT` integers and Unix-millisecond times,
//! `TEXT`, `BOOLEAN`. Only the migrations differ per backend.
//!
//! SQLite runs in WAL mode with `synchronous=FULL` (a committed row survives power loss, as
//! RELIABILITY.md asks of chat, payments and usage) and a busy timeout, with foreign keys on.
#![deny(missing_docs)]

#[macro_use]
pub mod ledger;
pub mod accounts;
pub mod admin;
pub mod analytics;
pub mod audit;
pub mod backup;
#[macro_use]
pub mod billing;
pub mod campaign_work;
pub mod campaigns;
pub mod chat;
pub mod connectors;
pub mod destinations;
pub mod dmca;
pub mod engagement;
pub mod follows;
pub mod gateway_purchases;
pub mod hangouts;
pub mod identities;
pub mod jobs;
mod leases;
pub mod memberships;
pub mod migrate;
pub mod moderation;
pub mod nodes;
pub mod notifications;
pub mod payouts;
pub mod plans;
pub mod posts;
pub mod preferences;
pub mod privacy;
pub mod purchases;
pub mod radio;
pub mod safety;
pub mod schedule;
pub mod search;
pub mod site;
pub mod sources;
pub mod telegram;
pub mod tips;
pub mod uploads;
pub mod videos;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// How long a query waits for a connection, and SQLite for a lock, before giving up.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection pool on one of the two backends.
#[derive(Clone, Debug)]
pub enum Db {
    /// Embedded SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Runs the same code on whichever pool `$db` holds; `$p` is bound to the concrete pool. The body
/// is compiled once per backend, so it must be written in SQL both understand.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($p) => $body,
            $crate::Db::Postgres($p) => $body,
        }
    };
}

/// What went wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is malformed or the server cannot be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A migration failed or the schema does not match this binary.
    #[error("migration: {0}")]
    Migrate(String),
    /// A uniqueness constraint refused the write (duplicate email, token, …).
    #[error("already exists")]
    Conflict,
    /// A value the storage refuses before writing (out of range, too large); the message says
    /// which and why.
    #[error("{0}")]
    Invalid(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

impl DbError {
    /// Whether the error is a uniqueness violation.
    pub fn is_conflict(&self) -> bool {
        matches!(self, DbError::Conflict)
    }
}

/// Maps unique-constraint violations to [`DbError::Conflict`].
pub(crate) fn map_unique(e: sqlx::Error) -> DbError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return DbError::Conflict;
        }
    }
    DbError::Query(e)
}

impl Db {
    /// Connects to `url`: `postgres://…` or `postgresql://…` selects PostgreSQL, anything else
    /// (`sqlite://path`, `sqlite::memory:`) SQLite. A SQLite file and its directory are created if
    /// missing.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(|e| DbError::Connect(redact(&e.to_string(), url)))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(opts)
                .await
                .map_err(|e| DbError::Connect(redact(&e.to_string(), url)))?;
            Ok(Db::Postgres(pool))
        } else {
            let opts = sqlite_options(url)?;
            let path = opts.get_filename().to_path_buf();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if !url.contains(":memory:") {
                    let mut builder = std::fs::DirBuilder::new();
                    builder.recursive(true);
                    // The data directory holds secrets: private from the start.
                    #[cfg(unix)]
                    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                    builder.create(dir).map_err(|e| {
                        DbError::Connect(format!("cannot create directory {}: {e}", dir.display()))
                    })?;
                }
            }
            if !url.contains(":memory:") {
                private_files(&path).map_err(|e| {
                    DbError::Connect(format!(
                        "cannot make the database {} private (0600): {e}",
                        path.display()
                    ))
                })?;
            }
            // No ping before each use: an embedded database's connection cannot be lost, and
            // the ping is a round trip through the connection's worker thread for every query.
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .test_before_acquire(false)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(opts)
                .await
                .map_err(|e| DbError::Connect(e.to_string()))?;
            Ok(Db::Sqlite(pool))
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Round-trips a trivial query.
    pub async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()).map_err(DbError::from))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

/// Builds SQLite options from a URL (without touching the file system).
pub fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, DbError> {
    let opts =
        SqliteConnectOptions::from_str(url).map_err(|e| DbError::Connect(format!("{url}: {e}")))?;
    Ok(opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(ACQUIRE_TIMEOUT)
        .foreign_keys(true))
}

/// Removes a password that an error message may echo from the URL.
fn redact(message: &str, url: &str) -> String {
    match url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(cred, _)| cred.split_once(':'))
    {
        Some((_, password)) if !password.is_empty() => message.replace(password, "***"),
        _ => message.to_string(),
    }
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Creates the SQLite file 0600 if it does not exist, and makes it (and its WAL and shared
/// memory files, which SQLite creates with the database's mode) private if it does.
fn private_files(db: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false).mode(0o600);
        drop(opts.open(db)?);
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            let p = std::path::PathBuf::from(p);
            if p.exists() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}
