//! Fresh databases for each test, on either backend, and the helpers most tests share.

use ferrocast_db::accounts::{NewUser, UserRecord};
use ferrocast_db::sources::{NewSource, SourceRecord};
use ferrocast_db::Db;

/// A fixed instant (2027-01-15T08:00:00Z) that every test counts from; no test reads the clock.
pub const NOW: i64 = 1_800_000_000_000;
/// One minute, in the crate's unit of time.
pub const MINUTE: i64 = 60_000;
/// One hour.
pub const HOUR: i64 = 60 * MINUTE;
/// One day.
pub const DAY: i64 = 24 * HOUR;

const DEFAULT_POSTGRES: &str = "postgres://127.0.0.1:5432/test";

/// Generates, for each `async fn name(db: &Db)` listed, a module `name` holding two tokio tests,
/// `sqlite` and `postgres`, that run it on a fresh migrated database of that backend (so
/// `cargo test sqlite` or `cargo test postgres` picks one backend, and `cargo test name` one
/// contract on both).
///
/// Each test runs as a task of its own so that a failing test's database is still removed: its
/// panic is resumed after the clean-up. `both_backends!(inline: name)` runs on the test's own
/// task instead, for a test whose future the compiler cannot prove `Send` (see `migrate.rs`);
/// its database is then removed only when it passes.
///
/// `both_backends!(#[sqlite(ignore = "why")] name)` (or `#[postgres(…)]`) puts an attribute on
/// one backend's test only: a contract one backend is known to break stays in the suite, ignored
/// there with the reason, until the crate is fixed.
macro_rules! both_backends {
    (inline: $($test:ident),+ $(,)?) => {$(
        $crate::support::both_backends!(@tests inline, $test, [], []);
    )+};
    (#[sqlite($attr:meta)] $test:ident) => {
        $crate::support::both_backends!(@tests spawned, $test, [$attr], []);
    };
    (#[postgres($attr:meta)] $test:ident) => {
        $crate::support::both_backends!(@tests spawned, $test, [], [$attr]);
    };
    (@tests $how:ident, $test:ident, [$($sqlite:meta)?], [$($postgres:meta)?]) => {
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$sqlite])?
            async fn sqlite() {
                $crate::support::both_backends!(@$how "sqlite", super::$test);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$postgres])?
            async fn postgres() {
                $crate::support::both_backends!(@$how "postgres", super::$test);
            }
        }
    };
    (@spawned $backend:literal, $test:path) => {
        let Some((db, leftover)) = $crate::support::database($backend).await else {
            return;
        };
        let task = {
            let db = db.clone();
            tokio::spawn(async move { $test(&db).await })
        };
        $crate::support::finish(db, leftover, task.await).await;
    };
    (@inline $backend:literal, $test:path) => {
        let Some((db, leftover)) = $crate::support::database($backend).await else {
            return;
        };
        $test(&db).await;
        $crate::support::remove(db, leftover).await;
    };
    ($($test:ident),+ $(,)?) => {$(
        $crate::support::both_backends!(@tests spawned, $test, [], []);
    )+};
}
pub(crate) use both_backends;

/// What a test database leaves behind.
pub enum Leftover {
    /// The temporary directory of a SQLite file.
    Dir(std::path::PathBuf),
    /// A PostgreSQL schema.
    Schema(String),
}

fn postgres_url() -> String {
    std::env::var("FERROCAST_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.into())
}

/// A migrated database on `backend`, and what to remove afterwards; `None` (with a notice) when
/// PostgreSQL is unreachable, which fails the test instead under `CI=true`.
pub async fn database(backend: &str) -> Option<(Db, Leftover)> {
    if backend == "sqlite" {
        let dir = std::env::temp_dir().join(format!(
            "ferrocast-db-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.display()))
            .await
            .expect("sqlite");
        db.migrate().await.expect("migrate");
        return Some((db, Leftover::Dir(dir)));
    }
    let base = postgres_url();
    let admin = match sqlx::PgPool::connect(&base).await {
        Ok(p) => p,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL at {base} is required under CI=true: {e}"
            );
            eprintln!("SKIPPED: PostgreSQL at {base} is unreachable ({e})");
            return None;
        }
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("schema");
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let db = Db::connect(&format!("{base}{sep}options=-c%20search_path%3D{schema}"))
        .await
        .expect("postgres");
    db.migrate().await.expect("migrate");
    Some((db, Leftover::Schema(schema)))
}

/// Closes the database and removes its file or schema.
pub async fn remove(db: Db, leftover: Leftover) {
    db.close().await;
    match leftover {
        Leftover::Dir(dir) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Leftover::Schema(schema) => {
            if let Ok(p) = sqlx::PgPool::connect(&postgres_url()).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&p)
                    .await;
                p.close().await;
            }
        }
    }
}

/// Removes the database a test ran on, then fails as the test did, if it did.
pub async fn finish(db: Db, leftover: Leftover, outcome: Result<(), tokio::task::JoinError>) {
    remove(db, leftover).await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task: {e}"),
        }
    }
}

/// A fresh UUID string.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A verified creator with this email, created at [`NOW`].
pub async fn user(db: &Db, email: &str) -> UserRecord {
    db.create_user(
        &NewUser {
            uuid: &uuid(),
            email,
            password_hash: "$argon2id$test",
            display_name: email.split('@').next().unwrap_or(email),
            role: "creator",
            email_verified: true,
        },
        NOW,
    )
    .await
    .expect("create user")
}

/// A source of `user_id` named `name`, its key hash and playback id derived from the name
/// (unique per test database), created at [`NOW`] with no plan limit in the way.
pub async fn source(db: &Db, user_id: i64, name: &str) -> SourceRecord {
    db.create_source_limited(
        &NewSource {
            uuid: &uuid(),
            user_id,
            name,
            description: None,
            stream_key_hash: &format!("hash-{name}"),
            stream_key_sealed: &format!("sealed-{name}"),
            playback_id: &format!("play-{name}"),
        },
        NOW,
        i64::MAX,
    )
    .await
    .expect("create source")
    .expect("under the limit")
}

/// A publishing session of `source` (a source of `user_id`) opened at [`NOW`]; its id.
pub async fn live_session(db: &Db, user_id: i64, source: &SourceRecord) -> i64 {
    db.open_stream_session(&uuid(), user_id, source.id, NOW)
        .await
        .expect("open a stream session")
}
