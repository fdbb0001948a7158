//! The application layer: what ferrocast does, without HTTP or Socket.IO. One service per
//! concern, each holding exactly its dependencies and answering with its own error type; the
//! adapters (`routes`, `realtime`, `connectors`) translate requests into calls here and the
//! answers into responses (`crate::error` maps every service error to an API error code in one
//! place). Nothing under `service` imports axum or socketioxide (a test checks).

pub mod access;
pub mod accounts;
pub mod admin;
pub mod analytics;
pub mod audit;
pub mod backup;
pub mod billing;
pub mod campaign_work;
pub mod campaigns;
pub mod chat;
pub mod clock;
pub mod discovery;
pub mod dmca;
pub mod drain;
pub mod engagement;
pub mod events;
pub mod follows;

pub mod hangouts;
pub mod hashing;
pub mod identity;
pub mod jobs;
pub mod memberships;
pub mod nodes;
pub mod notify;
pub mod overlay;
pub mod posts;
pub mod privacy;
pub mod processing;
pub mod profiles;
pub mod purchases;
pub mod radio;
pub mod recordings;
pub mod rounds;
pub mod safety;
pub mod schedule;
pub mod search;
pub mod site;
pub mod sources;
pub mod stats;
pub mod streams;
pub mod telegram;
pub mod telegram_bot;
pub mod thumbnail;

pub mod uploads;
pub mod vault;
pub mod videos;
pub mod watch;
pub mod webpush;
