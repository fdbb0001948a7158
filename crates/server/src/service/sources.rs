//! Sources: who may reach a source, and its sealed keys (the stream key, and the platform
//! keys of its restream destinations).

use super::accounts::AuthUser;
use super::vault::{Sealed, Vault};
use ferrocast_db::sources::SourceRecord;
use ferrocast_db::{Db, DbError};
use std::sync::Arc;

/// Why a source operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// No such object for this caller (what it is: "source", "destination").
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A sealed key does not open (the master key changed?).
    #[error("{0}")]
    Internal(String),
}

/// Parses an id from a path; anything else is simply not found.
pub fn parse_id(raw: &str, what: &'static str) -> Result<i64, SourcesError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(SourcesError::NotFound(what))
}

/// The sources service.
pub struct Sources {
    db: Db,
    vault: Arc<Vault>,
}

impl Sources {
    /// The service over storage and the vault.
    pub fn new(db: Db, vault: Arc<Vault>) -> Self {
        Self { db, vault }
    }

    /// The caller's source `raw_id`; not found for anyone else's (administrators reach any).
    pub async fn own(&self, auth: &AuthUser, raw_id: &str) -> Result<SourceRecord, SourcesError> {
        let id = parse_id(raw_id, "source")?;
        match self.db.source_by_id(id).await? {
            Some(s) if s.user_id == auth.user.id || auth.is_admin() => Ok(s),
            _ => Err(SourcesError::NotFound("source")),
        }
    }

    /// Opens a source's sealed stream key.
    pub fn stream_key(&self, s: &SourceRecord) -> Result<String, SourcesError> {
        self.vault
            .open_text(Sealed::StreamKey(&s.uuid), &s.stream_key_sealed)
            .map_err(|e| SourcesError::Internal(e.to_string()))
    }

    /// Seals a stream key for the source `uuid`.
    pub fn seal_stream_key(&self, uuid: &str, key: &str) -> String {
        self.vault.seal(Sealed::StreamKey(uuid), key.as_bytes())
    }

    /// Seals a platform key for the destination `uuid`.
    pub fn seal_destination_key(&self, uuid: &str, key: &str) -> String {
        self.vault
            .seal(Sealed::DestinationKey(uuid), key.as_bytes())
    }
}
