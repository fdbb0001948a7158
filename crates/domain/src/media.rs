//! The media engine's seams: how it asks whether a stream key may publish. The engine never
//! touches the database; the server implements this port.

use std::future::Future;
use std::pin::Pin;

/// What an accepted publisher may publish to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishGrant {
    /// The source's id in storage.
    pub source_id: i64,
    /// Its owner.
    pub user_id: i64,
    /// Its public playback id: outputs are addressed by this, never by the stream key.
    pub playback_id: String,
}

/// Why a publisher is refused. The description goes to the encoder in the RTMP status and to
/// the log; it never contains the stream key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishDenied {
    /// The application name is not `live`.
    #[error("unknown application {0:?}: publish to rtmp://HOST/live/<stream key>")]
    UnknownApp(String),
    /// No source has this stream key (or it was rotated or deleted).
    #[error("unknown stream key: copy it again from the dashboard")]
    UnknownKey,
    /// The key is known but may not publish now (plan limit, suspended account, …).
    #[error("{0}")]
    NotAllowed(String),
    /// The decision could not be made (database unreachable); the encoder should retry.
    #[error("temporarily unavailable, try again")]
    Unavailable,
}

/// Decides whether a publish request is allowed. Object-safe so the binary can plug in the
/// server's implementation.
pub trait PublishAuthorizer: Send + Sync + 'static {
    /// Resolves `stream_key` (already stripped of any `?query`) published to `app`.
    fn authorize<'a>(
        &'a self,
        app: &'a str,
        stream_key: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<PublishGrant, PublishDenied>> + Send + 'a>>;
}

/// Whether a public identifier (playback id, app name) is safe to use in URLs and file names:
/// 1 to 64 characters of `a-z`, `A-Z`, `0-9`, `_`, `-` (RELIABILITY.md rule 4: names are not
/// paths).
pub fn is_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    #[test]
    fn safe_ids() {
        assert!(super::is_safe_id("abc_DEF-123"));
        for bad in ["", "../x", "a/b", "a b", "a%2f", "ü", &"a".repeat(65)] {
            assert!(!super::is_safe_id(bad), "{bad}");
        }
    }
}
