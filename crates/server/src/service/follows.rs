//! Following channels. A channel is its owner's account, found by handle; suspended channels
//! cannot be followed, and nobody follows themselves.

use crate::service::clock::SharedClock;
use ferrocast_db::{accounts::UserRecord, Db, DbError};
use ferrocast_domain::profile::is_handle_shaped;

/// Why a follow or unfollow was refused.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// No (unsuspended) channel has the handle.
    #[error("no channel has this handle")]
    NotFound,
    /// A creator cannot follow their own channel.
    #[error("a channel cannot follow itself")]
    OwnChannel,
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A follow's state after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowState {
    /// The channel's account.
    pub channel: i64,
    /// Whether the caller follows it now.
    pub following: bool,
    /// Its followers now.
    pub followers: i64,
    /// Whether this call changed anything (a new follow, or an unfollow of a follow).
    pub changed: bool,
}

/// The channel with this handle (an initial `@` allowed, any case), unless suspended.
pub async fn channel(db: &Db, handle: &str) -> Result<UserRecord, FollowError> {
    let handle = handle.strip_prefix('@').unwrap_or(handle);
    if !is_handle_shaped(handle) {
        return Err(FollowError::NotFound);
    }
    db.user_by_handle(handle)
        .await?
        .filter(|u| u.suspended_at.is_none())
        .ok_or(FollowError::NotFound)
}

/// `follower` follows the channel `handle` (again: no change).
pub async fn follow(
    db: &Db,
    clock: &SharedClock,
    follower: i64,
    handle: &str,
) -> Result<FollowState, FollowError> {
    let channel = channel(db, handle).await?;
    if channel.id == follower {
        return Err(FollowError::OwnChannel);
    }
    let changed = db.follow(follower, channel.id, clock.now_ms()).await?;
    Ok(FollowState {
        channel: channel.id,
        following: true,
        followers: db.follower_count(channel.id).await?,
        changed,
    })
}

/// `follower` stops following the channel `handle` (not following: no change).
pub async fn unfollow(db: &Db, follower: i64, handle: &str) -> Result<FollowState, FollowError> {
    let channel = channel(db, handle).await?;
    let changed = db.unfollow(follower, channel.id).await?;
    Ok(FollowState {
        channel: channel.id,
        following: false,
        followers: db.follower_count(channel.id).await?,
        changed,
    })
}
