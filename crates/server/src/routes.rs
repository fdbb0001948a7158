//! HTTP handlers, one module per area. Each handler carries its OpenAPI annotation and is
//! registered through [`crate::app::api_router`], so the router and the spec come from one list.

pub mod admin;
pub mod analytics;
pub mod audit;
pub mod auth;
pub mod browse;
pub mod chat;
pub mod connectors;
pub mod dmca;
pub mod earnings;
pub mod engagement;
pub mod events;
pub mod gate;
pub mod health;
pub mod memberships;
pub mod nodes;
pub mod notifications;
pub mod overlay;
pub mod payments;
pub mod payouts;
pub mod playback;
pub mod privacy;
pub mod profiles;
pub mod purchases;
pub mod safety;
pub mod schedule;
pub mod search;
pub mod shorts;
pub mod sources;
pub mod streams;
pub mod subscriptions;
pub mod tips;
pub mod uploads;
pub mod videos;
pub mod vod;
pub mod watch;
