//! The server's side of the media engine: publish authorisation against stored sources and the
//! owner's plan (see [`crate::live`] for what happens once a stream is live).

use ferrocast_auth::token;
use ferrocast_db::{now_ms, Db};
use ferrocast_domain::media::{PublishAuthorizer, PublishDenied, PublishGrant};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The RTMP application publishers use: `rtmp://HOST:1935/live/<stream key>`.
pub const PUBLISH_APP: &str = "live";
/// Longest stream key looked up (ours are 67 characters).
const MAX_KEY_LEN: usize = 256;

/// Authorises publishers by their source's stream key. The key is looked up by its SHA-256, so
/// no secret is compared byte by byte and timing reveals nothing about it.
pub struct SourceAuthorizer {
    db: Db,
    grants: Grants,
}

/// The key hash each source was last granted a publish with, so that the live-session follower
/// can end a stream whose key was rotated between its authorisation and its start.
pub type Grants = Arc<Mutex<HashMap<i64, String>>>;

impl SourceAuthorizer {
    /// An authoriser over `db`, recording its grants in `grants`.
    pub fn new(db: Db, grants: Grants) -> Self {
        Self { db, grants }
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
                Ok(Ok(Some(source))) => {
                    match crate::live::allowance(&self.db, source.user_id, now_ms()).await {
                        Ok((plan, a)) if a.exhausted() => Err(PublishDenied::NotAllowed(
                            crate::live::exhausted_reason(&plan),
                        )),
                        Ok(_) => {
                            self.grants
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(source.id, source.stream_key_hash.clone());
                            Ok(PublishGrant {
                                source_id: source.id,
                                user_id: source.user_id,
                                playback_id: source.playback_id,
                            })
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "publish authorisation: database error");
                            Err(PublishDenied::Unavailable)
                        }
                    }
                }
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
