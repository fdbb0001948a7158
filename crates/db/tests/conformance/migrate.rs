//! Migrations: a fresh database is current, and migrating again applies nothing.

use ferrocast_db::migrate::{POSTGRES, SQLITE};
use ferrocast_db::Db;

use crate::support::both_backends;

// Inline: `Db::migrate`'s future is not provably `Send` (it runs `sqlx::raw_sql(..).execute(&mut
// *tx)`, sqlx issues #3150 and #3613), so it cannot run in the spawned task the other tests use —
// nor in any `tokio::spawn`ed task of the server.
both_backends!(inline: migrating_twice_applies_nothing);

async fn migrating_twice_applies_nothing(db: &Db) {
    // The suite's database was migrated once already.
    let known = match db {
        Db::Sqlite(_) => SQLITE,
        Db::Postgres(_) => POSTGRES,
    };
    // Both backends know the same versions, so a database can move between them by version.
    let versions = |list: &[ferrocast_db::migrate::Migration]| {
        list.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>()
    };
    assert_eq!(versions(SQLITE), versions(POSTGRES));
    let status = db.migration_status().await.expect("status");
    assert!(status.is_current(), "{status:?}");
    assert_eq!(
        status.applied,
        known.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    assert_eq!(db.migrate().await.expect("again"), Vec::<i64>::new());
    assert_eq!(db.migrate().await.expect("and again"), Vec::<i64>::new());
    assert!(db.migration_status().await.expect("status").is_current());
    db.ping().await.expect("ping");
    assert_eq!(
        db.backend(),
        match db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    );
}
