//! A stream's public page: what the watch page, the embed and link previews in chat apps show
//! of it (its title, its creator, whether it is live). Anyone may read it by playback id.

use super::events::StreamStatus;
use super::streams::Streams;
use ferrocast_db::{Db, DbError};
use ferrocast_domain::media::is_safe_id;

/// The picture of a stream when none of its own is at hand (the app's icon); a live stream's
/// is a frame of it ([`super::thumbnail`]).
pub const FALLBACK_IMAGE: &str = "/icon-512.png";

/// A stream as its public page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchInfo {
    /// The public playback id.
    pub playback_id: String,
    /// The stream's title (the source's name when it has none).
    pub title: String,
    /// What else its creator says of it: category, tags, language, mature.
    pub info: super::events::StreamInfoOut,
    /// The creator's display name.
    pub creator: String,
    /// The creator's channel handle (`/c/<handle>`).
    pub creator_handle: String,
    /// The storage key of the creator's avatar.
    pub creator_avatar_key: Option<String>,
    /// Whether it is live now (on any node).
    pub live: bool,
    /// When the live session began (ms), while live.
    pub started_at: Option<i64>,
    /// The page's absolute URL.
    pub url: String,
    /// An absolute URL of a picture of the stream.
    pub thumbnail_url: String,
}

impl WatchInfo {
    /// One sentence for link previews: who streams it, and whether it is live.
    pub fn description(&self) -> String {
        if self.live {
            format!("{} is live now on ferrocast.", self.creator)
        } else {
            format!(
                "A stream by {}; offline now, it starts here when they go live.",
                self.creator
            )
        }
    }
}

/// The stream with `playback_id`, or `None` when there is none (or its creator's account is
/// suspended). `public_url` is the node's public origin, for absolute links.
pub async fn watch_info(
    db: &Db,
    streams: &Streams,
    public_url: &str,
    playback_id: &str,
) -> Result<Option<WatchInfo>, DbError> {
    if !is_safe_id(playback_id) {
        return Ok(None);
    }
    let Some(s) = db.public_stream(playback_id).await? else {
        return Ok(None);
    };
    if s.owner_suspended {
        return Ok(None);
    }
    // Live here, or on another node of the cluster (its open session and the source's flag).
    let here = streams.stream_status(playback_id) == StreamStatus::Live;
    let live = here || (s.source.is_active && s.live_since.is_some());
    let started_at = live
        .then(|| streams.started_at(playback_id).or(s.live_since))
        .flatten();
    let base = public_url.trim_end_matches('/');
    let categories = db.list_categories().await?;
    let info = super::discovery::info_of(&s.source, &categories);
    Ok(Some(WatchInfo {
        title: info.title.clone(),
        info,
        url: format!("{base}/watch/{playback_id}"),
        thumbnail_url: if live {
            format!("{base}/api/watch/{playback_id}/thumbnail.jpg")
        } else {
            format!("{base}{FALLBACK_IMAGE}")
        },
        playback_id: s.source.playback_id,
        creator: s.owner_name,
        creator_handle: s.owner_handle,
        creator_avatar_key: s.owner_avatar_key,
        live,
        started_at,
    }))
}
