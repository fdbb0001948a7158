//! Social posts: a creator's text and pictures on their channel, shown in their followers'
//! home feed, with likes and comments.
//!
//! Pictures go through the profile pictures' pipeline ([`super::profiles::render`]: the
//! format forced from the magic bytes, 40 megapixels at most, 15 s) and are stored as WebP,
//! fitted within 1280×1280, under `posts/<user uuid>/<upload ms><random>.webp`; a post names up to
//! [`MAX_IMAGES`] of its author's; one not posted within [`UNPOSTED_TTL`] is swept. The text
//! follows the comments' rules
//! ([`ferrocast_domain::engagement::clean_comment`]). Comments reuse the engagement and
//! moderation pieces: the channel's bans, its chat rules (blocked words, links, slow mode) for
//! everyone but its moderators, per-user rate limits; the author, the channel's moderators and
//! staff delete them.

use super::clock::SharedClock;
use super::engagement::{Actor, Engagement, EngagementError};
use super::profiles::{self, ImageKind, ProfileError};
use crate::ratelimit::RateLimiter;
use ferrocast_db::posts::{PostCommentRecord, PostRecord};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::chat::ChatRefusal;
use ferrocast_domain::engagement::clean_comment;
use ferrocast_storage::{Storage, StorageError};
use std::path::PathBuf;
use std::time::Duration;

/// Pictures a post holds at most.
pub const MAX_IMAGES: usize = 4;
/// Posts a page holds at most.
pub const MAX_PAGE: i64 = 50;
/// Comments shown with a post at most.
pub const MAX_COMMENTS: i64 = 200;
/// Posts a user may make in a burst, and how fast the burst refills.
const POST_BURST: u32 = 10;
const POST_PERIOD: Duration = Duration::from_secs(600);
/// Comments a user may make in a burst.
const COMMENT_BURST: u32 = 5;
const COMMENT_PERIOD: Duration = Duration::from_secs(30);

/// Why a post, a like or a comment did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// No such post.
    #[error("post not found")]
    NotFound,
    /// No such comment.
    #[error("comment not found")]
    CommentNotFound,
    /// A field is not acceptable (the sentence names it).
    #[error("{0}")]
    Invalid(String),
    /// Refused by a ban or the channel's rules.
    #[error("{0}")]
    Refused(#[from] ChatRefusal),
    /// Over a rate limit.
    #[error("{0}")]
    TooFast(String, u64),
    /// Not this caller's to do.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The picture could not be used.
    #[error(transparent)]
    Image(#[from] ProfileError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Object storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The posts service.
pub struct Posts {
    db: Db,
    clock: SharedClock,
    storage: Storage,
    data_dir: PathBuf,
    posts_per_user: RateLimiter,
    comments_per_user: RateLimiter,
}

/// Whether `key` names a post's picture (`posts/<uuid>/<random>.webp`), so the media route
/// serves nothing else.
pub fn is_post_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("posts/") else {
        return false;
    };
    let Some((uuid, file)) = rest.split_once('/') else {
        return false;
    };
    let Some(random) = file.strip_suffix(".webp") else {
        return false;
    };
    uuid.len() == 36
        && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && (8..=32).contains(&random.len())
        && random
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// When a post's picture was uploaded (ms), from its key's first 13 digits; `None` for a key
/// without them (made before uploads were timed).
pub fn uploaded_at(key: &str) -> Option<i64> {
    let file = key.rsplit('/').next()?;
    let digits = file.get(..13)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// How long an uploaded picture waits to be posted before it is swept.
pub const UNPOSTED_TTL: Duration = Duration::from_secs(24 * 3600);

/// The storage keys a post's JSON lists.
pub fn images_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl Posts {
    /// The service.
    pub fn new(db: Db, clock: SharedClock, storage: Storage, data_dir: PathBuf) -> Self {
        Self {
            db,
            clock,
            storage,
            data_dir,
            posts_per_user: RateLimiter::new(POST_BURST, POST_PERIOD),
            comments_per_user: RateLimiter::new(COMMENT_BURST, COMMENT_PERIOD),
        }
    }

    /// Deletes the pictures uploaded before `now` − [`UNPOSTED_TTL`] that no post shows
    /// (uploaded, then never posted); how many.
    pub async fn sweep_unposted_at(&self, now: i64) -> Result<usize, PostError> {
        let before = now - UNPOSTED_TTL.as_millis() as i64;
        let mut swept = 0;
        for (key, _) in self.storage.list("posts").await? {
            let stale = is_post_key(&key) && uploaded_at(&key).is_some_and(|at| at < before);
            if stale && !self.db.post_image_in_use(&key).await? {
                self.storage.delete(&key).await?;
                swept += 1;
            }
        }
        Ok(swept)
    }

    /// [`Posts::sweep_unposted_at`] now.
    pub async fn sweep_unposted(&self) -> Result<usize, PostError> {
        self.sweep_unposted_at(self.clock.now_ms()).await
    }

    /// Makes a post's picture from an uploaded one; its storage key.
    pub async fn add_image(&self, author_uuid: &str, body: &[u8]) -> Result<String, PostError> {
        let webp = profiles::render(&self.data_dir, body, ImageKind::Post).await?;
        // The upload's time leads the name, so that one never posted can be swept.
        let key = format!(
            "posts/{author_uuid}/{:013}{}.webp",
            self.clock.now_ms().max(0),
            super::videos::new_video_id()
        );
        self.storage.put(&key, webp).await?;
        Ok(key)
    }

    /// Posts on the author's channel: text (the comments' rules; may be empty with pictures)
    /// and up to [`MAX_IMAGES`] of the author's uploaded pictures.
    pub async fn create(
        &self,
        author: &ferrocast_db::accounts::UserRecord,
        body: &str,
        images: &[String],
    ) -> Result<PostRecord, PostError> {
        let text = match clean_comment(body) {
            Ok(t) => t,
            Err(ChatRefusal::Empty) if !images.is_empty() => String::new(),
            Err(ChatRefusal::Empty) => {
                return Err(PostError::Invalid(
                    "body: write something, or add a picture".into(),
                ))
            }
            Err(e) => return Err(PostError::Invalid(format!("body: {e}"))),
        };
        if images.len() > MAX_IMAGES {
            return Err(PostError::Invalid(format!(
                "images: at most {MAX_IMAGES} pictures a post"
            )));
        }
        let own = format!("posts/{}/", author.uuid);
        for (i, key) in images.iter().enumerate() {
            if images[..i].contains(key) {
                return Err(PostError::Invalid(
                    "images: the same picture is named twice".into(),
                ));
            }
            if self.db.post_image_in_use(key).await? {
                return Err(PostError::Invalid(
                    "images: a picture belongs to another post; upload it again for this one"
                        .into(),
                ));
            }
            if !is_post_key(key) || !key.starts_with(&own) {
                return Err(PostError::Invalid(
                    "images: each must be a picture you uploaded with POST /api/posts/images"
                        .into(),
                ));
            }
            if let Err(e) = self.storage.get(key, 8 * 1024 * 1024).await {
                if e.is_not_found() {
                    return Err(PostError::Invalid(
                        "images: a picture is gone; upload it again".into(),
                    ));
                }
                return Err(e.into());
            }
        }
        self.posts_per_user
            .check(&author.id.to_string())
            .map_err(|s| {
                PostError::TooFast(
                    format!("You are posting too fast: wait {s} s, then post again."),
                    s,
                )
            })?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let json = serde_json::to_string(images).unwrap_or_else(|_| "[]".into());
        let id = self
            .db
            .create_post(&uuid, author.id, &text, &json, self.clock.now_ms())
            .await?;
        self.db.post_by_id(id).await?.ok_or(PostError::NotFound)
    }

    /// A post by its public id.
    pub async fn get(&self, uuid: &str) -> Result<PostRecord, PostError> {
        if uuid.len() > 64 {
            return Err(PostError::NotFound);
        }
        self.db.post_by_uuid(uuid).await?.ok_or(PostError::NotFound)
    }

    /// Deletes a post and its pictures: its author, the channel's moderators, or staff.
    pub async fn delete(
        &self,
        engagement: &Engagement,
        uuid: &str,
        actor: Actor,
    ) -> Result<PostRecord, PostError> {
        let post = self.get(uuid).await?;
        if post.user_id != actor.id && !engagement.moderates(actor, post.user_id).await? {
            return Err(PostError::Forbidden(
                "Only its author and the channel's moderators may delete a post.",
            ));
        }
        self.db.delete_post(post.id).await?;
        for key in images_of(&post.images) {
            if let Err(e) = self.storage.delete(&key).await {
                tracing::warn!(%key, error = %e, "a deleted post's picture stays in storage");
            }
        }
        Ok(post)
    }

    /// Likes or unlikes a post; its likes after.
    pub async fn like(&self, uuid: &str, user_id: i64, liked: bool) -> Result<i64, PostError> {
        let post = self.get(uuid).await?;
        Ok(self
            .db
            .set_post_like(post.id, user_id, liked, self.clock.now_ms())
            .await?)
    }

    /// A post's comments, oldest first.
    pub async fn comments(&self, uuid: &str) -> Result<Vec<PostCommentRecord>, PostError> {
        let post = self.get(uuid).await?;
        Ok(self.db.post_comments(post.id, MAX_COMMENTS).await?)
    }

    /// Comments on a post: the channel's bans, then (for anyone but its moderators) its rules,
    /// then the rate limit.
    pub async fn comment(
        &self,
        engagement: &Engagement,
        uuid: &str,
        author: Actor,
        body: &str,
    ) -> Result<PostCommentRecord, PostError> {
        let post = self.get(uuid).await?;
        let text = clean_comment(body)?;
        let now = self.clock.now_ms();
        engagement
            .admit_comment(post.user_id, author, &text, now, || {
                self.db
                    .last_post_comment_on_channel(post.user_id, author.id)
            })
            .await
            .map_err(|e| match e {
                EngagementError::Refused(r) => PostError::Refused(r),
                EngagementError::Db(e) => PostError::Db(e),
                other => PostError::Invalid(other.to_string()),
            })?;
        self.comments_per_user
            .check(&author.id.to_string())
            .map_err(|s| {
                PostError::TooFast(
                    format!("You are commenting too fast: wait {s} s, then post again."),
                    s,
                )
            })?;
        Ok(self
            .db
            .add_post_comment(post.id, author.id, &text, now)
            .await?)
    }

    /// Deletes a comment on a post: its author, the channel's moderators, or staff. The
    /// comment and whether a moderator (not its author) deleted it.
    pub async fn delete_comment(
        &self,
        engagement: &Engagement,
        id: i64,
        actor: Actor,
    ) -> Result<(PostCommentRecord, PostRecord, bool), PostError> {
        let c = self
            .db
            .post_comment_by_id(id)
            .await?
            .ok_or(PostError::CommentNotFound)?;
        let post = self
            .db
            .post_by_id(c.post_id)
            .await?
            .ok_or(PostError::CommentNotFound)?;
        let by_moderator = c.user_id != actor.id;
        if by_moderator && !engagement.moderates(actor, post.user_id).await? {
            return Err(PostError::Forbidden(
                "Only its author, the post's creator and the channel's moderators may delete a comment.",
            ));
        }
        self.db.delete_post_comment(c.id).await?;
        Ok((c, post, by_moderator))
    }
}
