//! Engagement with videos: likes, comments and their moderation, reports, views counted once
//! per viewer per [`VIEW_WINDOW_MS`], watch time credited from the players' heartbeats, a
//! video's analytics for its owner, and trending.
//!
//! Comments are moderated with the chat's tools, applied to the video's channel (its owner's
//! sources together): a ban or timeout in the chat of any of them (or everywhere) keeps a user
//! from commenting; the blocked words of all of them, the strictest slow mode and "no links" if
//! any source forbids links apply to viewers; the owner, the sources' chat moderators and staff
//! are exempt from the rules, and may delete any comment (a deletion by someone other than the
//! author is recorded with the chat's moderation actions). On top of that a user writes at most
//! [`COMMENT_BURST`] comments per [`COMMENT_PERIOD`], and a video takes at most
//! [`VIDEO_COMMENT_BURST`] per [`VIDEO_COMMENT_PERIOD`] from everyone (a flood).

use super::clock::SharedClock;
use super::videos::{is_video_id, may_see};
use crate::ratelimit::RateLimiter;
use ferrocast_db::engagement::{
    CommentDeletion, CommentRecord, NewReport, VideoAnalytics, VideoCounts, ViewOutcome,
};
use ferrocast_db::videos::VideoRecord;
use ferrocast_db::{Db, DbError};
use ferrocast_domain::account::Role;
use ferrocast_domain::chat::{ChatRefusal, ChatRules};
use ferrocast_domain::engagement::{
    clean_comment, clean_reason, decay, heartbeat_credit, Engagement as Figures,
    MAX_HEARTBEAT_SECONDS, TRENDING_WINDOW_MS, VIEW_WINDOW_MS,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::time::Duration;

/// Comments a user may write in a burst ([`COMMENT_PERIOD`] refills it).
pub const COMMENT_BURST: u32 = 5;
/// The period over which [`COMMENT_BURST`] comments are allowed.
pub const COMMENT_PERIOD: Duration = Duration::from_secs(30);
/// Comments one video takes from everyone in a burst ([`VIDEO_COMMENT_PERIOD`] refills it).
pub const VIDEO_COMMENT_BURST: u32 = 30;
/// The period over which [`VIDEO_COMMENT_BURST`] comments are allowed on one video.
pub const VIDEO_COMMENT_PERIOD: Duration = Duration::from_secs(60);
/// View requests one client address may make in a burst, over ten minutes.
pub const VIEW_BURST: u32 = 120;
/// Heartbeats one client address may send in a burst, over a minute (a player beats every
/// 15 s).
pub const HEARTBEAT_BURST: u32 = 60;
/// Reports a user may make in a burst, over an hour.
pub const REPORT_BURST: u32 = 20;
/// Top-level comments on a page at most.
pub const MAX_COMMENT_PAGE: i64 = 50;
/// Replies shown under a top-level comment at most.
pub const REPLIES_SHOWN: i64 = 50;
/// Trending videos listed at most.
pub const MAX_TRENDING: usize = 50;

/// Why an engagement request did not happen. The texts are what the caller is told.
#[derive(Debug, thiserror::Error)]
pub enum EngagementError {
    /// No such video for this caller.
    #[error("video not found")]
    VideoNotFound,
    /// No such comment (or its video is not visible to this caller).
    #[error("comment not found")]
    CommentNotFound,
    /// Over a rate limit: wait this many seconds. The text says which.
    #[error("{0}")]
    TooFast(String, u64),
    /// Refused by a ban or the channel's rules.
    #[error("{0}")]
    Refused(#[from] ChatRefusal),
    /// A field is not acceptable (the sentence names it).
    #[error("{0}")]
    Invalid(String),
    /// Not this caller's to do.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A heartbeat without a view.
    #[error("no view to credit")]
    NoView,
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Who is acting.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    /// User id.
    pub id: i64,
    /// Role.
    pub role: Role,
}

/// Who a viewer is for counting: a signed-in user, or a client address and its User-Agent.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// Signed in.
    User(i64),
    /// Anonymous: the client's rate-limit key (an IPv4 address or an IPv6 /64) and its
    /// User-Agent.
    Anonymous {
        /// The address key.
        addr: &'a str,
        /// The User-Agent header (empty when absent).
        user_agent: &'a str,
    },
}

/// A top-level comment with its first replies.
#[derive(Debug, Clone)]
pub struct Thread {
    /// The comment.
    pub comment: CommentRecord,
    /// Its first [`REPLIES_SHOWN`] replies, oldest first.
    pub replies: Vec<CommentRecord>,
    /// Its replies in all.
    pub reply_count: i64,
}

/// A page of a video's comments.
#[derive(Debug, Clone)]
pub struct CommentPage {
    /// Newest first.
    pub threads: Vec<Thread>,
    /// The cursor of the next page, if there may be one.
    pub next: Option<i64>,
    /// Comments on the video in all, replies included.
    pub total: i64,
    /// Whether the caller may delete any comment here (owner, moderator, staff).
    pub moderator: bool,
}

/// What a new comment did.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The comment as stored (a reply's `parent_id` is its top-level comment).
    pub comment: CommentRecord,
    /// The video.
    pub video: VideoRecord,
    /// For a reply: the author of the comment answered (who a "reply" notification is for,
    /// unless it is the replier).
    pub replied_to: Option<i64>,
}

/// A trending video.
#[derive(Debug, Clone)]
pub struct Trend {
    /// The video.
    pub video: VideoRecord,
    /// Its decayed engagement score now.
    pub score: f64,
}

/// The engagement service.
pub struct Engagement {
    db: Db,
    clock: SharedClock,
    viewer_key: [u8; 32],
    comments_per_user: RateLimiter,
    comments_per_video: RateLimiter,
    views_per_addr: RateLimiter,
    beats_per_addr: RateLimiter,
    reports_per_user: RateLimiter,
}

impl Engagement {
    /// The service; `master_key` keys the hash of anonymous viewers.
    pub fn new(db: Db, clock: SharedClock, master_key: &[u8; 32]) -> Self {
        Self {
            db,
            clock,
            viewer_key: ferrocast_auth::secretbox::derive_key(master_key, "viewer-key-hmac-sha256"),
            comments_per_user: RateLimiter::new(COMMENT_BURST, COMMENT_PERIOD),
            comments_per_video: RateLimiter::new(VIDEO_COMMENT_BURST, VIDEO_COMMENT_PERIOD),
            views_per_addr: RateLimiter::new(VIEW_BURST, Duration::from_secs(600)),
            beats_per_addr: RateLimiter::new(HEARTBEAT_BURST, Duration::from_secs(60)),
            reports_per_user: RateLimiter::new(REPORT_BURST, Duration::from_secs(3600)),
        }
    }

    /// The video `uuid` if `viewer` may see it.
    pub async fn video(
        &self,
        uuid: &str,
        viewer: Option<i64>,
    ) -> Result<VideoRecord, EngagementError> {
        if !is_video_id(uuid) {
            return Err(EngagementError::VideoNotFound);
        }
        match self.db.video_by_uuid(uuid).await? {
            Some(v) if may_see(&v, viewer) => Ok(v),
            _ => Err(EngagementError::VideoNotFound),
        }
    }

    /// A video's counts, and whether `viewer` likes it.
    pub async fn counts(
        &self,
        video: &VideoRecord,
        viewer: Option<i64>,
    ) -> Result<(VideoCounts, bool), EngagementError> {
        let counts = self.db.video_counts(video.id).await?;
        let liked = match viewer {
            Some(u) => self.db.likes_video(video.id, u).await?,
            None => false,
        };
        Ok((counts, liked))
    }

    /// Likes (`true`) or unlikes a video; the video's likes after.
    pub async fn set_like(
        &self,
        uuid: &str,
        user: i64,
        like: bool,
    ) -> Result<i64, EngagementError> {
        let v = self.video(uuid, Some(user)).await?;
        let (_, likes) = if like {
            self.db.like_video(v.id, user, self.clock.now_ms()).await?
        } else {
            self.db.unlike_video(v.id, user).await?
        };
        Ok(likes)
    }

    /// Whether `actor` moderates the comments of `owner_id`'s channel: the owner, staff, and the
    /// chat moderators of any of the owner's sources.
    pub async fn moderates(&self, actor: Actor, owner_id: i64) -> Result<bool, DbError> {
        Ok(actor.id == owner_id
            || actor.role.is_staff()
            || self.db.is_channel_moderator(owner_id, actor.id).await?)
    }

    /// The chat rules of a channel: all its sources' rules together, the strictest of each.
    pub async fn channel_rules(&self, owner_id: i64) -> Result<ChatRules, DbError> {
        let mut rules = ChatRules {
            slow_mode_seconds: 0,
            blocked_words: Vec::new(),
            links_allowed: true,
        };
        for s in self.db.channel_chat_settings(owner_id).await? {
            rules.slow_mode_seconds = rules.slow_mode_seconds.max(s.slow_mode_seconds);
            rules.links_allowed &= s.links_allowed;
            let words: Vec<String> = serde_json::from_str(&s.blocked_words).unwrap_or_default();
            for w in words {
                if !rules.blocked_words.contains(&w) {
                    rules.blocked_words.push(w);
                }
            }
        }
        Ok(rules)
    }

    /// Whether `author` may comment `text` on `owner_id`'s channel now: not banned from it
    /// (its owner and administrators never are), and — for anyone but its moderators — within
    /// its chat rules (blocked words, links, slow mode, for which `last` finds the author's last
    /// comment there). Video comments and posts' comments both ask this.
    pub async fn admit_comment<F, Fut>(
        &self,
        owner_id: i64,
        author: Actor,
        text: &str,
        now: i64,
        last: F,
    ) -> Result<(), EngagementError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<i64>, DbError>>,
    {
        if owner_id != author.id && author.role != Role::Admin {
            if let Some(until) = self.db.active_channel_ban(owner_id, author.id, now).await? {
                return Err(ChatRefusal::Banned(until).into());
            }
        }
        if !self.moderates(author, owner_id).await? {
            let rules = self.channel_rules(owner_id).await?;
            let last = if rules.slow_mode_seconds > 0 {
                last().await?
            } else {
                None
            };
            rules.check(text, last, now)?;
        }
        Ok(())
    }

    /// A page of a video's comments: top-level ones older than `cursor`, newest first, each
    /// with its first replies.
    pub async fn comments(
        &self,
        uuid: &str,
        viewer: Option<Actor>,
        cursor: Option<i64>,
        limit: i64,
    ) -> Result<CommentPage, EngagementError> {
        let v = self.video(uuid, viewer.map(|a| a.id)).await?;
        let limit = limit.clamp(1, MAX_COMMENT_PAGE);
        let top = self.db.top_comments(v.id, cursor, limit).await?;
        let ids: Vec<i64> = top.iter().map(|c| c.id).collect();
        let (replies, counts) = self.db.replies_of(&ids, REPLIES_SHOWN).await?;
        let counts: HashMap<i64, i64> = counts.into_iter().collect();
        let mut by_parent: HashMap<i64, Vec<CommentRecord>> = HashMap::new();
        for r in replies {
            if let Some(p) = r.parent_id {
                by_parent.entry(p).or_default().push(r);
            }
        }
        let next = (top.len() as i64 == limit)
            .then(|| top.last().map(|c| c.id))
            .flatten();
        let threads = top
            .into_iter()
            .map(|c| Thread {
                replies: by_parent.remove(&c.id).unwrap_or_default(),
                reply_count: counts.get(&c.id).copied().unwrap_or(0),
                comment: c,
            })
            .collect();
        let moderator = match viewer {
            Some(a) => self.moderates(a, v.user_id).await?,
            None => false,
        };
        let total = self.db.video_counts(v.id).await?.comments;
        Ok(CommentPage {
            threads,
            next,
            total,
            moderator,
        })
    }

    /// Posts a comment on a video, or a reply to one of its comments (a reply to a reply
    /// answers the top-level comment): rate limits, the channel's bans, then (for viewers) its
    /// rules.
    pub async fn comment(
        &self,
        uuid: &str,
        author: Actor,
        body: &str,
        parent_id: Option<i64>,
    ) -> Result<Posted, EngagementError> {
        let v = self.video(uuid, Some(author.id)).await?;
        let text = clean_comment(body)?;
        let parent = match parent_id {
            Some(id) => {
                let p = self
                    .db
                    .comment_by_id(id)
                    .await?
                    .filter(|p| p.video_id == v.id)
                    .ok_or_else(|| {
                        EngagementError::Invalid(
                            "parent_id: no such comment on this video (it may have been deleted)"
                                .into(),
                        )
                    })?;
                Some(match p.parent_id {
                    Some(top) => self
                        .db
                        .comment_by_id(top)
                        .await?
                        .ok_or(EngagementError::CommentNotFound)?,
                    None => p,
                })
            }
            None => None,
        };
        let now = self.clock.now_ms();
        self.admit_comment(v.user_id, author, &text, now, || {
            self.db.last_comment_on_channel(v.user_id, author.id)
        })
        .await?;
        self.comments_per_user
            .check(&author.id.to_string())
            .map_err(|s| {
                EngagementError::TooFast(
                    format!("You are commenting too fast: wait {s} s, then post again."),
                    s,
                )
            })?;
        self.comments_per_video.check(&v.id.to_string()).map_err(|s| {
            EngagementError::TooFast(
                format!("This video is taking too many comments at once: wait {s} s, then post again."),
                s,
            )
        })?;
        let comment = self
            .db
            .add_comment(v.id, author.id, parent.as_ref().map(|p| p.id), &text, now)
            .await?;
        Ok(Posted {
            replied_to: parent.map(|p| p.user_id),
            comment,
            video: v,
        })
    }

    /// Deletes a comment (and its replies): its author, or whoever moderates the channel (a
    /// moderator's deletion is recorded). How many comments went.
    pub async fn delete_comment(&self, id: i64, actor: Actor) -> Result<i64, EngagementError> {
        let c = self
            .db
            .comment_by_id(id)
            .await?
            .ok_or(EngagementError::CommentNotFound)?;
        let v = self
            .db
            .video_by_id(c.video_id)
            .await?
            .filter(|v| may_see(v, Some(actor.id)))
            .ok_or(EngagementError::CommentNotFound)?;
        let details;
        let moderation = if c.user_id == actor.id {
            None
        } else if self.moderates(actor, v.user_id).await? {
            details = serde_json::json!({
                "video": v.uuid,
                "comment_id": c.id,
                "text": c.body.chars().take(200).collect::<String>(),
            })
            .to_string();
            Some(CommentDeletion {
                source_id: v.source_id,
                actor_id: actor.id,
                details: &details,
            })
        } else {
            return Err(EngagementError::Forbidden(
                "Only its author, the video's creator and the channel's moderators may delete a comment.",
            ));
        };
        Ok(self
            .db
            .delete_comment(&c, moderation.as_ref(), self.clock.now_ms())
            .await?)
    }

    /// Reports a comment for the moderators; `false` if this user reported it already.
    pub async fn report_comment(
        &self,
        id: i64,
        reporter: i64,
        reason: &str,
    ) -> Result<bool, EngagementError> {
        let reason = clean_reason(reason).map_err(EngagementError::Invalid)?;
        let c = self
            .db
            .comment_by_id(id)
            .await?
            .ok_or(EngagementError::CommentNotFound)?;
        self.db
            .video_by_id(c.video_id)
            .await?
            .filter(|v| may_see(v, Some(reporter)))
            .ok_or(EngagementError::CommentNotFound)?;
        self.reports_per_user
            .check(&reporter.to_string())
            .map_err(|s| {
                EngagementError::TooFast(format!("You have sent many reports: wait {s} s."), s)
            })?;
        Ok(self
            .db
            .add_report(
                &NewReport {
                    reporter_id: reporter,
                    kind: "comment",
                    subject_id: c.id,
                    reason: &reason,
                },
                self.clock.now_ms(),
            )
            .await?)
    }

    /// The key a viewer is counted under: `u:<id>`, or `a:` and an HMAC of the address key and
    /// User-Agent (so the address is not stored, and a new anonymous id or cleared cookies do
    /// not make a new viewer).
    pub fn viewer_key(&self, viewer: Viewer<'_>) -> String {
        match viewer {
            Viewer::User(id) => format!("u:{id}"),
            Viewer::Anonymous { addr, user_agent } => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.viewer_key)
                    .expect("invariant: HMAC accepts any key length");
                mac.update(addr.as_bytes());
                mac.update(b"\n");
                mac.update(user_agent.as_bytes());
                let digest = mac.finalize().into_bytes();
                format!("a:{}", data_encoding::HEXLOWER.encode(&digest[..16]))
            }
        }
    }

    /// Counts a view of a video, at most once per viewer per [`VIEW_WINDOW_MS`]; what happened
    /// and the video's views. `addr` is the client's rate-limit key.
    pub async fn view(
        &self,
        uuid: &str,
        viewer: Viewer<'_>,
        addr: &str,
    ) -> Result<(ViewOutcome, i64), EngagementError> {
        self.views_per_addr.check(addr).map_err(|s| {
            EngagementError::TooFast(format!("Too many views from this address: wait {s} s."), s)
        })?;
        let user = match viewer {
            Viewer::User(id) => Some(id),
            Viewer::Anonymous { .. } => None,
        };
        let v = self.video(uuid, user).await?;
        let key = self.viewer_key(viewer);
        let out = self
            .db
            .record_view(v.id, &key, user, self.clock.now_ms(), VIEW_WINDOW_MS)
            .await?;
        let views = self.db.video_counts(v.id).await?.views;
        Ok((out, views))
    }

    /// Credits a player's heartbeat: `watched_s` seconds played since its previous beat, never
    /// more than the wall time the view has not used up yet ([`heartbeat_credit`]). The view is
    /// `view_id` if it is this viewer's, else the viewer's current view. (credited ms, the
    /// view's watch time ms).
    pub async fn heartbeat(
        &self,
        uuid: &str,
        viewer: Viewer<'_>,
        addr: &str,
        view_id: Option<i64>,
        watched_s: f64,
    ) -> Result<(i64, i64), EngagementError> {
        if !watched_s.is_finite() || !(0.0..=MAX_HEARTBEAT_SECONDS).contains(&watched_s) {
            return Err(EngagementError::Invalid(format!(
                "watched_s: seconds played since the previous heartbeat, 0 to {MAX_HEARTBEAT_SECONDS}"
            )));
        }
        self.beats_per_addr.check(addr).map_err(|s| {
            EngagementError::TooFast(format!("Heartbeats are sent too often: wait {s} s."), s)
        })?;
        let user = match viewer {
            Viewer::User(id) => Some(id),
            Viewer::Anonymous { .. } => None,
        };
        let v = self.video(uuid, user).await?;
        let key = self.viewer_key(viewer);
        let claimed_ms = (watched_s * 1000.0).round() as i64;
        let id = match view_id {
            Some(id) => Some(id),
            None => self.db.current_view(v.id, &key).await?,
        }
        .ok_or(EngagementError::NoView)?;
        // Compare-and-set: a beat racing another computes again from what that one credited.
        for _ in 0..5 {
            let view = self
                .db
                .view_by_id(id)
                .await?
                .filter(|w| w.video_id == v.id && w.viewer_key == key)
                .ok_or(EngagementError::NoView)?;
            let now = self.clock.now_ms();
            let (credit, until) = heartbeat_credit(claimed_ms, view.credited_until, now);
            if credit == 0 {
                return Ok((0, view.watched_ms));
            }
            if self.db.credit_watch(&view, credit, until, now).await? {
                return Ok((credit, view.watched_ms + credit));
            }
        }
        Err(EngagementError::TooFast(
            "Heartbeats for this view arrive too fast; send one every 15 s.".into(),
            1,
        ))
    }

    /// A video's views, watch time and average view duration, for its owner.
    pub async fn analytics(
        &self,
        uuid: &str,
        owner: i64,
    ) -> Result<(VideoRecord, VideoAnalytics, VideoCounts), EngagementError> {
        let v = self.video(uuid, Some(owner)).await?;
        if v.user_id != owner {
            return Err(EngagementError::VideoNotFound);
        }
        let a = self.db.video_analytics(v.id).await?;
        let c = self.db.video_counts(v.id).await?;
        Ok((v, a, c))
    }

    /// Public, ready videos by engagement over the last [`TRENDING_WINDOW_MS`], each hour's
    /// weighed by its age (half as much per half-life), highest first; up to `limit`.
    pub async fn trending(&self, limit: usize) -> Result<Vec<Trend>, EngagementError> {
        let now = self.clock.now_ms();
        let rows = self.db.hourly_engagement(now - TRENDING_WINDOW_MS).await?;
        let mut scores: HashMap<i64, f64> = HashMap::new();
        for r in rows {
            let figures = Figures {
                views: r.views,
                likes: r.likes,
                comments: r.comments,
                watch_ms: r.watch_ms,
            };
            // The middle of the hour stands for the hour.
            let at = r.hour * 3_600_000 + 1_800_000;
            *scores.entry(r.video_id).or_default() += figures.score() * decay(at.min(now), now);
        }
        let mut ranked: Vec<(i64, f64)> = scores.into_iter().filter(|(_, s)| *s > 0.0).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
        let mut out = Vec::new();
        for (id, score) in ranked {
            if out.len() >= limit.min(MAX_TRENDING) {
                break;
            }
            if let Some(video) = self.db.video_by_id(id).await? {
                if video.visibility == "public" && video.status == "ready" {
                    out.push(Trend { video, score });
                }
            }
        }
        Ok(out)
    }
}
