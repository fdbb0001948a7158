//! The storage contract of `ferrocast-db`, run against SQLite and PostgreSQL.
//!
//! The server sees one [`Db`](ferrocast_db::Db) whichever backend a node uses, so every backend
//! must keep the same promises: what each function's documentation says it does, down to the
//! values read back. This suite states those promises once, area by area (one module per source
//! file of the crate), and runs each on both backends. A backend that passes it is one the server
//! can use; a difference between backends fails a test here rather than in production.
//!
//! How it runs: each contract is an `async fn name(db: &Db)`, listed in its module's
//! [`both_backends!`](support::both_backends) call, which generates the tests `name::sqlite` and
//! `name::postgres`. Each test gets a fresh, migrated database — a SQLite file in a temporary
//! directory, or a new schema in the PostgreSQL at `FERROCAST_TEST_POSTGRES_URL` (default
//! `postgres://127.0.0.1:5432/test`) — which is removed afterwards, also when the test fails. When
//! PostgreSQL cannot be reached its tests pass with a `SKIPPED` notice on stderr, except under
//! `CI=true`, where they fail: CI never silently skips a backend.
//!
//! Time is an input: the crate takes `now` as a parameter everywhere, and the tests pass fixed
//! instants around [`support::NOW`] instead of sleeping, so expiry, windows and heartbeats are
//! checked exactly at their boundaries.
//!
//! ```text
//! FERROCAST_TEST_POSTGRES_URL=postgres://127.0.0.1:5432/test CI=true cargo test -p ferrocast-db
//! cargo test -p ferrocast-db --test conformance sqlite      # one backend
//! ```
//!
//! A contract a backend is known to break is kept, ignored on that backend with the reason
//! (`both_backends!(#[sqlite(ignore = "…")] name)`), so `cargo test -- --ignored` shows it failing
//! until the crate is fixed.

mod support;

mod accounts;
mod admin;
mod analytics;
mod billing;
mod chat;
mod connectors;
mod destinations;
mod identities;
mod jobs;
mod ledger;
mod migrate;
mod moderation;
mod nodes;
mod plans;
mod preferences;
mod site;
mod sources;
mod usage;
mod videos;
