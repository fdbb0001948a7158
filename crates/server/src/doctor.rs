//! `ferrocast doctor`: the operator's pre-flight checks, printed as a pass/fail table.
//!
//! Checks never change anything: a missing SQLite file or master key is reported as "will be
//! created", not created.

use ferrocast_config::{Config, ConfigError, DatabaseKind, Origin};
use ferrocast_db::Db;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but worth the operator's attention.
    Warn,
    /// Will not work; doctor exits non-zero.
    Fail,
    /// Not run because an earlier check failed.
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found, and on failure what to do.
    pub detail: String,
}

fn check(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
    }
}

/// Runs every check.
pub async fn run(config: Result<Config, ConfigError>) -> Vec<Check> {
    let mut out = Vec::new();
    let config = match config {
        Ok(c) => {
            let from: Vec<String> = c
                .origins
                .iter()
                .filter(|(_, o)| **o != Origin::Default)
                .map(|(k, o)| format!("{k} from {o}"))
                .collect();
            let detail = if from.is_empty() {
                "all defaults".to_string()
            } else {
                from.join(", ")
            };
            out.push(check("configuration", Status::Pass, detail));
            c
        }
        Err(e) => {
            out.push(check("configuration", Status::Fail, e.to_string()));
            for name in [
                "data directory",
                "master key",
                "database",
                "migrations",
                "http port",
                "rtmp port",
                "mail",
                "storage",
                "ffmpeg",
                "redis",
                "disk space",
                "backup age",
                "node role",
                "node secret",
                "node registry",
            ] {
                out.push(check(name, Status::Skip, "configuration is invalid"));
            }
            return out;
        }
    };

    out.push(data_dir(&config));
    out.extend(data_dir_private(&config));
    out.push(master_key(&config));
    let (db_check, db) = database(&config).await;
    out.push(db_check);
    out.push(migrations(db.as_ref()).await);
    out.push(backup_age(&config, db.as_ref(), ferrocast_db::now_ms()).await);
    out.extend(node_checks(&config, db.as_ref()).await);
    if let Some(db) = db {
        db.close().await;
    }
    out.push(port("http port", "FERROCAST_HTTP_ADDR", config.http_addr));
    out.push(port("rtmp port", "FERROCAST_RTMP_ADDR", config.rtmp_addr));
    out.push(match &config.smtp_url {
        Some(_) => match crate::mailer(&config) {
            Ok(m) => check(
                "mail",
                Status::Pass,
                format!("{} (not contacted)", m.describe()),
            ),
            Err(e) => check("mail", Status::Fail, e.to_string()),
        },
        None => check(
            "mail",
            Status::Warn,
            "no FERROCAST_SMTP_URL: verification and reset codes are written to the log",
        ),
    });
    out.push(storage(&config).await);
    out.push(ffmpeg().await);
    out.push(redis(&config).await);
    out.push(disk_space(&config));
    out
}

/// Redis, when configured: connected to and answering PING within 5 seconds. Without it a
/// node works alone (realtime events stay on the node), which is fine for one node only.
async fn redis(c: &Config) -> Check {
    let Some(url) = &c.redis_url else {
        return check(
            "redis",
            Status::Pass,
            "not configured (FERROCAST_REDIS_URL): fine for one node; several nodes need it",
        );
    };
    let client = match redis::Client::open(url.expose().as_str()) {
        Ok(c) => c,
        Err(e) => {
            return check(
                "redis",
                Status::Fail,
                format!("FERROCAST_REDIS_URL is not a Redis URL: {e}"),
            )
        }
    };
    let at = client.get_connection_info().addr.to_string();
    let ping = async {
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| format!("PING refused: {e}"))
    };
    match tokio::time::timeout(Duration::from_secs(5), ping).await {
        Ok(Ok(_)) => check("redis", Status::Pass, format!("{at} answers PING")),
        Ok(Err(e)) => check(
            "redis",
            Status::Fail,
            format!("{at}: {e}; check FERROCAST_REDIS_URL and that Redis runs"),
        ),
        Err(_) => check(
            "redis",
            Status::Fail,
            format!("{at}: no answer within 5 s; check FERROCAST_REDIS_URL and the network"),
        ),
    }
}

/// Below this much free space where the data directory lives, doctor fails.
pub const DISK_FAIL_BYTES: u64 = 1 << 30;
/// Below this much (or 10% of the filesystem), doctor warns.
pub const DISK_WARN_BYTES: u64 = 5 << 30;

/// Free space of the filesystem that holds the data directory (SQLite, HLS segments, local
/// objects, recordings being written).
fn disk_space(c: &Config) -> Check {
    let Some(space) = crate::resources::filesystem_space(&c.data_dir) else {
        return check(
            "disk space",
            Status::Warn,
            format!("cannot measure the filesystem of {}", c.data_dir.display()),
        );
    };
    disk_space_status(&c.data_dir, space)
}

fn disk_space_status(dir: &std::path::Path, space: crate::resources::Space) -> Check {
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let share = if space.size > 0 {
        space.free as f64 / space.size as f64
    } else {
        0.0
    };
    let detail = format!(
        "{:.1} GiB free of {:.1} GiB ({:.0}%) where {} is",
        gib(space.free),
        gib(space.size),
        share * 100.0,
        dir.display()
    );
    if space.free < DISK_FAIL_BYTES {
        check(
            "disk space",
            Status::Fail,
            format!(
                "{detail}: less than 1 GiB; free space before the database and recordings fail"
            ),
        )
    } else if space.free < DISK_WARN_BYTES || share < 0.10 {
        check(
            "disk space",
            Status::Warn,
            format!("{detail}: low; recordings and HLS segments need room"),
        )
    } else {
        check("disk space", Status::Pass, detail)
    }
}

/// The newest successful backup (any node's automatic one) against the schedule: within two
/// intervals passes, within four warns, older (or none while scheduled) fails.
pub async fn backup_age(c: &Config, db: Option<&Db>, now_ms: i64) -> Check {
    const NAME: &str = "backup age";
    let Some(schedule) = c.backup.schedule else {
        return check(
            NAME,
            Status::Warn,
            "no automatic backups (FERROCAST_BACKUP_SCHEDULE unset); take them with `ferrocast backup FILE`",
        );
    };
    let Some(db) = db else {
        return check(NAME, Status::Skip, "no database");
    };
    let (last, runs) = match (db.last_backup_success().await, db.backup_runs(1).await) {
        (Ok(l), Ok(r)) => (l, r),
        (Err(e), _) | (_, Err(e)) => {
            return check(
                NAME,
                Status::Fail,
                format!("cannot read the backup runs: {e}"),
            )
        }
    };
    let interval = schedule.interval_ms();
    let failed = runs
        .first()
        .and_then(|r| {
            r.error
                .as_ref()
                .map(|e| format!("; the latest attempt failed: {e}"))
        })
        .unwrap_or_default();
    let Some(last) = last else {
        return check(
            NAME,
            Status::Fail,
            format!("no backup has succeeded yet (a node takes the first within a minute of starting){failed}"),
        );
    };
    let age = (now_ms - last).max(0);
    let hours = age as f64 / 3_600_000.0;
    let status = if age <= 2 * interval {
        Status::Pass
    } else if age <= 4 * interval {
        Status::Warn
    } else {
        Status::Fail
    };
    check(
        NAME,
        status,
        format!(
            "newest backup {hours:.1} h old (one every {} h){failed}",
            interval / 3_600_000
        ),
    )
}

/// Origin and edge: the role (an edge needs the database its origins use), the node secret, the
/// address other nodes pull from, and the nodes registered now.
async fn node_checks(c: &Config, db: Option<&Db>) -> Vec<Check> {
    use ferrocast_config::NodeRole;
    let shared_db = c.database_kind() == ferrocast_config::DatabaseKind::Postgres;
    let mut out = Vec::new();
    out.push(match (c.nodes.role, shared_db) {
        (NodeRole::Origin, _) => check(
            "node role",
            Status::Pass,
            "origin: takes publishes, relays streams other nodes hold",
        ),
        (NodeRole::Edge, true) => check(
            "node role",
            Status::Pass,
            "edge: takes no publishes, relays streams its origins hold",
        ),
        (NodeRole::Edge, false) => check(
            "node role",
            Status::Warn,
            "edge with a SQLite database: an edge finds streams in the database its origins share, so only nodes on this machine using the same file can serve it; set FERROCAST_DATABASE_URL to their PostgreSQL",
        ),
    });
    out.push(match (&c.nodes.secret, &c.secret_key) {
        (Some(_), _) => check(
            "node secret",
            Status::Pass,
            "from FERROCAST_NODE_SECRET (must be the same on every node)",
        ),
        (None, Some(_)) => check(
            "node secret",
            Status::Pass,
            "derived from FERROCAST_SECRET_KEY (every node must have the same)",
        ),
        (None, None) if shared_db => check(
            "node secret",
            Status::Warn,
            format!(
                "derived from the master key in {}: every node must have the same file, or set FERROCAST_SECRET_KEY (or FERROCAST_NODE_SECRET) on all of them",
                c.master_key_path().display()
            ),
        ),
        (None, None) => check(
            "node secret",
            Status::Pass,
            "derived from the master key (one node)",
        ),
    });
    let advertised = c
        .nodes
        .rtmp_url
        .clone()
        .unwrap_or_else(|| format!("rtmp://{}", c.rtmp_addr));
    let ip = c.rtmp_addr.ip();
    out.push(match db {
        _ if !shared_db => check(
            "node registry",
            Status::Skip,
            "SQLite: one node; nodes register in a shared PostgreSQL database",
        ),
        None => check("node registry", Status::Skip, "the database is unreachable"),
        Some(db) => match db.list_nodes().await {
            Ok(nodes) => {
                let now = ferrocast_db::now_ms();
                let fresh = nodes
                    .iter()
                    .filter(|(n, _)| {
                        now - n.heartbeat_at
                            <= crate::service::nodes::STALE_AFTER.as_millis() as i64
                    })
                    .count();
                let unreachable = c.nodes.rtmp_url.is_none() && (ip.is_unspecified() || ip.is_loopback());
                if unreachable {
                    check(
                        "node registry",
                        Status::Warn,
                        format!("this node would tell the others to pull from {advertised}, which they cannot reach; set FERROCAST_NODE_RTMP_URL ({fresh} node(s) up now)"),
                    )
                } else {
                    check(
                        "node registry",
                        Status::Pass,
                        format!("{fresh} node(s) up now; others pull from this node at {advertised}"),
                    )
                }
            }
            Err(e) => check("node registry", Status::Warn, format!("cannot read the node registry (migrations pending?): {e}")),
        },
    });
    out
}

/// Object storage: an S3 bucket is written, read back and cleaned (a probe object); a local
/// store that exists already is probed the same way, one that does not is only reported.
async fn storage(c: &Config) -> Check {
    use ferrocast_storage::Storage;
    if let Some(root) = Storage::local_root(c.storage.url.as_deref(), &c.data_dir) {
        if !root.exists() {
            return check(
                "storage",
                Status::Pass,
                format!("{} will be created on first use", root.display()),
            );
        }
    }
    let store = match Storage::from_config(c) {
        Ok(s) => s.with_timeout(Duration::from_secs(15)),
        Err(e) => return check("storage", Status::Fail, e.to_string()),
    };
    match store.check().await {
        Ok(()) => check(
            "storage",
            Status::Pass,
            format!(
                "{}: written, read back and deleted a probe object",
                store.describe()
            ),
        ),
        Err(e) => check("storage", Status::Fail, e.to_string()),
    }
}

/// The data directory must be private (0700) and the SQLite files in it 0600: they hold the
/// master key, password hashes and sealed secrets. `serve` sets both; this reports drift.
fn data_dir_private(c: &Config) -> Option<Check> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = &c.data_dir;
        let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
        let mut open: Vec<String> = Vec::new();
        if mode & 0o077 != 0 {
            open.push(format!("{} is {mode:o}", dir.display()));
        }
        let mut files: Vec<std::path::PathBuf> = [
            "ferrocast.db",
            "ferrocast.db-wal",
            "ferrocast.db-shm",
            "master.key",
            "audit.key",
        ]
        .iter()
        .map(|n| dir.join(n))
        .collect();
        // The master key and a SQLite database may live outside the data directory.
        files.push(c.master_key_path());
        files.push(c.audit_key_path());
        if c.database_kind() == DatabaseKind::Sqlite {
            if let Ok(o) = ferrocast_db::sqlite_options(c.database_url.expose()) {
                let db = o.get_filename().to_path_buf();
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = db.clone().into_os_string();
                    p.push(suffix);
                    files.push(p.into());
                }
            }
        }
        files.sort();
        files.dedup();
        for p in files {
            if let Ok(m) = std::fs::metadata(&p) {
                let mode = m.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    open.push(format!("{} is {mode:o}", p.display()));
                }
            }
        }
        Some(if open.is_empty() {
            check(
                "data permissions",
                Status::Pass,
                "the data directory is 0700 and its database and key files 0600",
            )
        } else {
            check(
                "data permissions",
                Status::Fail,
                format!(
                    "others can read the node's secrets: {}; run `chmod 700 {}` and `chmod 600` on those files (serve does it at start)",
                    open.join(", "),
                    dir.display()
                ),
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = c;
        None
    }
}

fn data_dir(c: &Config) -> Check {
    let dir = &c.data_dir;
    if dir.is_dir() {
        let probe = dir.join(format!(".doctor-{}", std::process::id()));
        match std::fs::write(&probe, b"x") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
                check(
                    "data directory",
                    Status::Pass,
                    format!("{} is writable", dir.display()),
                )
            }
            Err(e) => check(
                "data directory",
                Status::Fail,
                format!("{} is not writable: {e}", dir.display()),
            ),
        }
    } else if dir.exists() {
        check(
            "data directory",
            Status::Fail,
            format!("{} exists but is not a directory", dir.display()),
        )
    } else {
        // Find the nearest existing ancestor and check that it is writable.
        let mut parent = dir.parent();
        while let Some(p) = parent {
            if p.as_os_str().is_empty() || p.exists() {
                break;
            }
            parent = p.parent();
        }
        let base = parent
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        match std::fs::metadata(base) {
            Ok(m) if !m.permissions().readonly() => check(
                "data directory",
                Status::Pass,
                format!("{} will be created on first start", dir.display()),
            ),
            _ => check(
                "data directory",
                Status::Fail,
                format!(
                    "{} does not exist and {} is not writable",
                    dir.display(),
                    base.display()
                ),
            ),
        }
    }
}

fn master_key(c: &Config) -> Check {
    if c.secret_key.is_some() {
        return check("master key", Status::Pass, "from FERROCAST_SECRET_KEY");
    }
    let path = c.master_key_path();
    match crate::read_key_file(&path) {
        Ok(Some(_)) => check(
            "master key",
            Status::Pass,
            format!("{} (back it up)", path.display()),
        ),
        Ok(None) => check(
            "master key",
            Status::Pass,
            format!("will be generated into {} on first start", path.display()),
        ),
        Err(e) => check("master key", Status::Fail, format!("{e:#}")),
    }
}

async fn database(c: &Config) -> (Check, Option<Db>) {
    let url = c.database_url.expose();
    if c.database_kind() == DatabaseKind::Sqlite {
        let opts = match ferrocast_db::sqlite_options(url) {
            Ok(o) => o,
            Err(e) => return (check("database", Status::Fail, e.to_string()), None),
        };
        let path = opts.get_filename().to_path_buf();
        if !url.contains(":memory:") && !path.exists() {
            return (
                check(
                    "database",
                    Status::Pass,
                    format!("SQLite {} will be created on first start", path.display()),
                ),
                None,
            );
        }
    }
    match tokio::time::timeout(Duration::from_secs(8), Db::connect(url)).await {
        Ok(Ok(db)) => match db.ping().await {
            Ok(()) => (
                check(
                    "database",
                    Status::Pass,
                    format!("{} reachable", db.backend()),
                ),
                Some(db),
            ),
            Err(e) => (check("database", Status::Fail, e.to_string()), None),
        },
        Ok(Err(e)) => (
            check(
                "database",
                Status::Fail,
                format!("{e}; check FERROCAST_DATABASE_URL"),
            ),
            None,
        ),
        Err(_) => (
            check(
                "database",
                Status::Fail,
                "no answer within 8 s; check FERROCAST_DATABASE_URL and the network",
            ),
            None,
        ),
    }
}

async fn migrations(db: Option<&Db>) -> Check {
    let Some(db) = db else {
        return check("migrations", Status::Skip, "no database to inspect (yet)");
    };
    match db.migration_status().await {
        Ok(s) if !s.unknown.is_empty() => check(
            "migrations",
            Status::Fail,
            format!("database has migrations {:?} unknown to this binary: a newer ferrocast used it; upgrade", s.unknown),
        ),
        Ok(s) if !s.modified.is_empty() => check("migrations", Status::Fail, format!("migrations {:?} changed after being applied", s.modified)),
        Ok(s) if !s.pending.is_empty() => check(
            "migrations",
            Status::Warn,
            format!("{} pending; applied by `ferrocast migrate` or at the next start", s.pending.len()),
        ),
        Ok(s) => check("migrations", Status::Pass, format!("{} applied, schema current", s.applied.len())),
        Err(e) => check("migrations", Status::Fail, e.to_string()),
    }
}

fn port(name: &'static str, env: &str, addr: SocketAddr) -> Check {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => check(name, Status::Pass, format!("{addr} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => check(
            name,
            Status::Fail,
            format!(
                "{addr} is in use (is ferrocast already running?); stop that process or set {env}"
            ),
        ),
        Err(e) => check(
            name,
            Status::Fail,
            format!("cannot listen on {addr}: {e}; set {env}"),
        ),
    }
}

async fn ffmpeg() -> Check {
    let run = tokio::process::Command::new("ffmpeg")
        .arg("-hide_banner")
        .arg("-version")
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(Ok(out)) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            // "ffmpeg version 7.1 Copyright (c) …": the program and its version, whole words.
            let first = text
                .lines()
                .next()
                .unwrap_or("ffmpeg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ");
            check("ffmpeg", Status::Pass, first)
        }
        Ok(Ok(out)) => check(
            "ffmpeg",
            Status::Fail,
            format!("`ffmpeg -version` exited with {}", out.status),
        ),
        Ok(Err(_)) => check(
            "ffmpeg",
            Status::Fail,
            "not found on PATH; install it (Debian: apt-get install ffmpeg)",
        ),
        Err(_) => check(
            "ffmpeg",
            Status::Fail,
            "`ffmpeg -version` did not finish within 10 s",
        ),
    }
}

/// Renders the table.
pub fn render(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = String::new();
    let _ = writeln!(out, "{:<width$}  STATUS  DETAIL", "CHECK");
    for c in checks {
        let _ = writeln!(
            out,
            "{:<width$}  {:<6}  {}",
            c.name,
            c.status.label(),
            c.detail.replace('\n', " ")
        );
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let (passed, warned, failed, skipped) = (
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skip),
    );
    let skipped = if skipped > 0 {
        format!(", {skipped} skipped")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\n{}",
        if failed == 0 {
            format!("ready: {passed} checks passed, {warned} warnings{skipped}")
        } else {
            format!(
                "NOT READY: {failed} checks failed, {passed} passed, {warned} warnings{skipped}"
            )
        }
    );
    out
}

/// Whether any check failed.
pub fn failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_space_fails_under_a_gibibyte_and_warns_when_low() {
        use crate::resources::Space;
        let dir = std::path::Path::new("/var/lib/ferrocast");
        let gib = 1u64 << 30;
        let at = |free: u64, size: u64| disk_space_status(dir, Space { free, size });
        let c = at(gib / 2, 100 * gib);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("0.5 GiB free of 100.0 GiB"), "{c:?}");
        assert_eq!(at(3 * gib, 20 * gib).status, Status::Warn);
        // 8 GiB free but only 4% of the disk: warn.
        assert_eq!(at(8 * gib, 200 * gib).status, Status::Warn);
        let c = at(50 * gib, 100 * gib);
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(
            c.detail.contains("(50%) where /var/lib/ferrocast is"),
            "{c:?}"
        );
    }

    #[test]
    fn the_summary_counts_skipped_checks_apart_from_passed_ones() {
        let checks = [
            check("config", Status::Pass, "ok"),
            check("database", Status::Fail, "cannot connect"),
            check("migrations", Status::Skip, "needs the database"),
            check("ffmpeg", Status::Warn, "old"),
        ];
        let table = render(&checks);
        assert!(
            table.ends_with("NOT READY: 1 checks failed, 1 passed, 1 warnings, 1 skipped\n"),
            "{table}"
        );
        let table = render(&checks[..1]);
        assert!(
            table.ends_with("ready: 1 checks passed, 0 warnings\n"),
            "{table}"
        );
        let table = render(&[checks[0].clone(), checks[2].clone()]);
        assert!(
            table.ends_with("ready: 1 checks passed, 0 warnings, 1 skipped\n"),
            "{table}"
        );
    }
}
