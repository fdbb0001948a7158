//! The server's side of the media engine: publish authorisation against stored sources, and
//! lifecycle bookkeeping (a source is marked active while live).

use ferrocast_auth::token;
use ferrocast_db::{now_ms, Db};
use ferrocast_domain::media::{PublishAuthorizer, PublishDenied, PublishGrant};
use ferrocast_hub::{Hub, StreamEvent};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The RTMP application publishers use: `rtmp://HOST:1935/live/<stream key>`.
pub const PUBLISH_APP: &str = "live";
/// Longest stream key looked up (ours are 67 characters).
const MAX_KEY_LEN: usize = 256;

/// Authorises publishers by their source's stream key. The key is looked up by its SHA-256, so
/// no secret is compared byte by byte and timing reveals nothing about it.
pub struct SourceAuthorizer {
    db: Db,
}

impl SourceAuthorizer {
    /// An authoriser over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

impl PublishAuthorizer for SourceAuthorizer {
    fn authorize<'a>(
        &'a self,
        app: &'a str,
        stream_key: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<PublishGrant, PublishDenied>> + Send + 'a>> {
        Box::pin(async move {
            if app != PUBLISH_APP {
                return Err(PublishDenied::UnknownApp(app.chars().take(64).collect()));
            }
            if stream_key.is_empty() || stream_key.len() > MAX_KEY_LEN {
                return Err(PublishDenied::UnknownKey);
            }
            let lookup = tokio::time::timeout(
                Duration::from_secs(5),
                self.db.source_by_key_hash(&token::hash(stream_key)),
            )
            .await;
            match lookup {
                Ok(Ok(Some(source))) => Ok(PublishGrant {
                    source_id: source.id,
                    user_id: source.user_id,
                    playback_id: source.playback_id,
                }),
                Ok(Ok(None)) => Err(PublishDenied::UnknownKey),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "publish authorisation: database error");
                    Err(PublishDenied::Unavailable)
                }
                Err(_) => {
                    tracing::error!("publish authorisation: database did not answer within 5 s");
                    Err(PublishDenied::Unavailable)
                }
            }
        })
    }
}

/// Follows lifecycle events: marks sources active while live. Ends when the hub is dropped.
pub fn spawn_lifecycle(hub: &Hub, db: Db) -> tokio::task::JoinHandle<()> {
    let mut events = hub.events();
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "lifecycle follower fell behind");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let (source_id, active) = match &event {
                StreamEvent::Starting { key, .. } => (key.source_id, true),
                StreamEvent::Offline { key, .. } => (key.source_id, false),
                StreamEvent::Live { .. } => continue,
            };
            if let Err(e) = db.set_source_active(source_id, active, now_ms()).await {
                tracing::warn!(error = %e, source_id, "cannot record stream state");
            }
        }
    })
}
