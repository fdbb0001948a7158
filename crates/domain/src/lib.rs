//! The domain: who may do what, which input is acceptable, and the small interfaces (ports)
//! that adapters implement. Nothing here opens a socket or a database.
#![deny(missing_docs)]

pub mod account;
pub mod attribution;
pub mod audit;
pub mod billing;
pub mod brand;
pub mod campaign;
pub mod chat;
pub mod currency;
pub mod destination;
pub mod engagement;
pub mod ledger;
pub mod mail;
pub mod media;
pub mod merkle;
pub mod plans;
pub mod profile;
pub mod safety;
pub mod schedule;
pub mod stream_info;
pub mod text;
pub mod time;
