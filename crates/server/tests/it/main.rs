//! The server's integration tests, in one binary (one link instead of one per file): each module
//! drives a real node over real sockets (see `support`).

#[macro_use]
mod support;

mod admin;
mod analytics;
mod api;
mod architecture;
mod audit;
mod backup;
mod billing;
mod campaign_work;
mod campaigns;
mod channels;
mod connectors;
mod cookie_sessions;
mod deploy;
mod discovery;
mod dmca;
mod engagement;
mod hangouts;
mod ledger;
mod media;
mod memberships;
mod notifications;
mod oauth;
mod openapi;
mod payments;
mod payouts;
mod posts;
mod privacy;
mod processing;
mod purchases;
mod radio;
mod realtime;
mod recording;
mod restream;
mod rtmp_hostile;
mod safety;
mod schedule;
mod search;
mod seed;
mod services;
mod shared;
mod sharing;
mod studio;
mod telegram;
mod telegram_bot;
mod tips;
mod uploads;
mod videos;
mod web;
