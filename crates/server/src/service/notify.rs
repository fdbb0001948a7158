//! Notifications: what a user is told when a channel they follow goes live or publishes a
//! video, when someone follows them, or when someone replies to their comment — in the app
//! (stored, with read state, and pushed to their sockets), by email (at once or in a daily
//! digest, with a one-click unsubscribe, RFC 8058) and by Web Push ([`super::webpush`]).
//!
//! Nothing here runs on the go-live path: going live only queues one fan-out job (a row in the
//! durable job queue, [`ferrocast_db::jobs`]) from a task that follows this node's realtime
//! events. A fan-out job expands the channel's followers in batches of [`FANOUT_BATCH`], each
//! batch queuing the next; each follower's notice is idempotent by its dedup key, so a batch
//! that is retried after a crash repeats nothing. Push and email go through the outbox
//! (`notification_deliveries`), worked by [`NotifyConfig::workers`] workers per node with a
//! lease, retried with exponential backoff and failed for good after
//! [`NotifyConfig::max_attempts`]; a push service answering 404 or 410 removes the subscription.
//!
//! Deduplication rules: one notice per dedup key (`live:<source>:<user>:<start>`,
//! `video:<video>:<user>`, `follower:<channel>:<follower>`, `reply:<comment>:<user>`), and at
//! most one `live` notice per channel and follower within [`NotifyConfig::live_window_ms`]
//! (an encoder that reconnects, or a creator who restarts a stream, does not notify twice).

use crate::service::clock::SharedClock;
pub use crate::service::events::NotificationView;
use crate::service::events::{Fanout, RealtimeEvent, StreamStatus};
use crate::service::jobs::IdlePoll;
use crate::service::vault::{Sealed, Vault};
use crate::service::webpush::{self, VapidKey};
use data_encoding::BASE64URL_NOPAD;
use ferrocast_db::jobs::JobFailure;
use ferrocast_db::notifications::{
    DeliveryRecord, NewNotification, NotificationRecord, PreferenceRecord,
};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::mail::{Mail, Mailer};
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify, OnceCell};
use utoipa::ToSchema;

/// The job kind of a fan-out to a channel's followers.
pub const FANOUT_JOB: &str = "notify_fanout";
/// Followers handled by one fan-out job; the job queues the next batch.
pub const FANOUT_BATCH: i64 = 500;
/// Attempts of a fan-out job.
pub const FANOUT_ATTEMPTS: i64 = 5;
/// Push subscriptions a user may have (browsers and devices); the oldest goes beyond it.
pub const MAX_SUBSCRIPTIONS: i64 = 20;
/// Longest push endpoint accepted.
pub const MAX_ENDPOINT: usize = 2048;
/// The longest wait between two attempts of a delivery.
pub const RETRY_CAP_MS: i64 = 3_600_000;
/// How often an idle worker looks for due work at first (it is also woken when work is queued
/// here); see [`IdlePoll`].
pub const POLL_EVERY: Duration = Duration::from_millis(500);

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A followed channel went live.
    Live,
    /// A followed channel published a video.
    Video,
    /// Someone followed the user's channel.
    Follower,
    /// Someone replied to the user's comment.
    Reply,
    /// Trust and safety: a report's outcome, a removal, a warning, a strike, a restriction,
    /// an appeal's decision.
    Moderation,
    /// The user's data export is ready to download.
    Data,
    /// The user's brand campaigns: a milestone is due, a deliverable is handed in or
    /// reviewed, usage rights are proposed.
    Campaign,
}

impl Kind {
    /// Every kind, in the order settings show them.
    pub const ALL: [Kind; 7] = [
        Kind::Live,
        Kind::Video,
        Kind::Follower,
        Kind::Reply,
        Kind::Moderation,
        Kind::Data,
        Kind::Campaign,
    ];

    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Live => "live",
            Kind::Video => "video",
            Kind::Follower => "follower",
            Kind::Reply => "reply",
            Kind::Moderation => "moderation",
            Kind::Data => "data",
            Kind::Campaign => "campaign",
        }
    }

    /// From its stored name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Words for settings and mail.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Live => "a channel you follow goes live",
            Kind::Video => "a channel you follow publishes a video",
            Kind::Follower => "someone follows your channel",
            Kind::Reply => "someone replies to your comment",
            Kind::Moderation => "moderators decide on your reports, content, strikes or appeals",
            Kind::Data => "the export of your data is ready to download",
            Kind::Campaign => {
                "your campaigns: milestones due, deliverables handed in or reviewed, usage rights"
            }
        }
    }

    /// What a user gets when they have not chosen.
    pub fn default_preference(self) -> Preference {
        Preference {
            in_app: true,
            email: match self {
                Kind::Live | Kind::Reply | Kind::Moderation | Kind::Data | Kind::Campaign => {
                    EmailMode::Instant
                }
                Kind::Video | Kind::Follower => EmailMode::Daily,
            },
            push: true,
        }
    }
}

/// How email of one kind is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmailMode {
    /// No email.
    Off,
    /// One email per notice, at once.
    Instant,
    /// Gathered into one email a day.
    Daily,
}

impl EmailMode {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailMode::Off => "off",
            EmailMode::Instant => "instant",
            EmailMode::Daily => "daily",
        }
    }

    fn parse(s: &str) -> EmailMode {
        match s {
            "instant" => EmailMode::Instant,
            "daily" => EmailMode::Daily,
            _ => EmailMode::Off,
        }
    }
}

use crate::service::telegram_bot::html as telegram_html;

/// How notices of one kind reach a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Preference {
    /// Shown in the app (the bell) and pushed to open pages.
    pub in_app: bool,
    /// `off`, `instant` or `daily` (a digest).
    pub email: EmailMode,
    /// Sent by Web Push to the browsers that allowed it.
    pub push: bool,
}

impl Preference {
    fn any(&self) -> bool {
        self.in_app || self.push || self.email != EmailMode::Off
    }
}

/// The preference for notices of `kind` from `channel` among a user's stored rows: the
/// channel's own row, else the kind's row for every channel, else the default.
pub fn resolve(rows: &[PreferenceRecord], kind: Kind, channel: Option<i64>) -> Preference {
    let row = channel
        .and_then(|c| {
            rows.iter()
                .find(|r| r.kind == kind.as_str() && r.channel_id == c && c != 0)
        })
        .or_else(|| {
            rows.iter()
                .find(|r| r.kind == kind.as_str() && r.channel_id == 0)
        });
    match row {
        Some(r) => Preference {
            in_app: r.in_app,
            email: EmailMode::parse(&r.email),
            push: r.push,
        },
        None => kind.default_preference(),
    }
}

impl From<&NotificationRecord> for NotificationView {
    fn from(n: &NotificationRecord) -> Self {
        NotificationView {
            id: n.id,
            kind: n.kind.clone(),
            title: n.title.clone(),
            body: n.body.clone(),
            url: n.url.clone(),
            created_at: crate::service::clock::rfc3339(n.created_at),
            read: n.read_at.is_some(),
        }
    }
}

/// How notifications are sent (from `FERROCAST_NOTIFY_*`, `FERROCAST_PUSH_*`,
/// `FERROCAST_VAPID_SUBJECT`).
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// This node's id (job and delivery leases).
    pub node: String,
    /// Whether the Telegram bot runs: notices then also go to linked Telegram accounts.
    pub telegram: bool,
    /// Delivery workers on this node (0: none; another node sends).
    pub workers: usize,
    /// The first retry's wait (ms); each further one twice as long, up to an hour.
    pub retry_base_ms: i64,
    /// Attempts of a delivery before it fails for good.
    pub max_attempts: i64,
    /// At most one go-live notice per channel and follower within this (ms).
    pub live_window_ms: i64,
    /// A push service must answer within this.
    pub push_timeout: Duration,
    /// The VAPID `sub` claim: `mailto:` or `https:` contact of the operator.
    pub vapid_subject: String,
    /// Push endpoints may be plain http and private addresses (tests, private networks).
    pub allow_private_endpoints: bool,
    /// The hour (UTC) daily digests go out.
    pub digest_hour: u32,
    /// The site's base URL, for links in mail and push.
    pub public_url: String,
    /// The lease on a fan-out job or a delivery (ms).
    pub lease_ms: i64,
}

/// Why a notification request was refused.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A request's value is unacceptable; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The unsubscribe link was altered or is not one of ours.
    #[error("this unsubscribe link is not valid")]
    BadToken,
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The VAPID key could not be made or opened.
    #[error("push is unavailable: {0}")]
    Vapid(String),
}

/// Sends notifications. Cheap to share (`Arc`).
pub struct Notifier {
    db: Db,
    clock: SharedClock,
    fanout: Arc<dyn Fanout>,
    mailer: Arc<dyn Mailer>,
    vault: Arc<Vault>,
    http: reqwest::Client,
    config: NotifyConfig,
    unsubscribe_key: ring::hmac::Key,
    vapid: OnceCell<VapidKey>,
    rng: SystemRandom,
    wake: Notify,
}

/// The payload a fan-out job carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Fanout2 {
    kind: Kind,
    channel: i64,
    /// Unique per event (the live session, the video): the followers' dedup keys start with it.
    key: String,
    title: String,
    body: String,
    url: String,
    /// The last follower id handled.
    after: i64,
}

/// A notice to one user.
pub struct Notice<'a> {
    /// Whom it is for.
    pub user_id: i64,
    /// What it is about.
    pub kind: Kind,
    /// The channel it is about (for per-channel preferences) and who caused it.
    pub actor_id: Option<i64>,
    /// One line.
    pub title: &'a str,
    /// A sentence or empty.
    pub body: &'a str,
    /// Where it leads.
    pub url: &'a str,
    /// What makes it unique.
    pub dedup_key: &'a str,
}

impl Notifier {
    /// A notifier; `master_key` derives the unsubscribe links' key.
    pub fn new(
        db: Db,
        clock: SharedClock,
        fanout: Arc<dyn Fanout>,
        mailer: Arc<dyn Mailer>,
        vault: Arc<Vault>,
        master_key: &[u8; 32],
        config: NotifyConfig,
    ) -> Arc<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.push_timeout)
            .timeout(config.push_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ferrocast/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let key = ferrocast_auth::secretbox::derive_key(master_key, "notify-unsubscribe");
        Arc::new(Self {
            db,
            clock,
            fanout,
            mailer,
            vault,
            http,
            unsubscribe_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            config,
            vapid: OnceCell::new(),
            rng: SystemRandom::new(),
            wake: Notify::new(),
        })
    }

    /// The settings it runs with.
    pub fn config(&self) -> &NotifyConfig {
        &self.config
    }

    /// The deployment's VAPID key: loaded from the database, or made, sealed and stored on the
    /// first start (of nodes starting at once, the first to store it wins and all use it).
    pub async fn vapid(&self) -> Result<&VapidKey, NotifyError> {
        self.vapid
            .get_or_try_init(|| async {
                if self.db.vapid_key().await?.is_none() {
                    let pkcs8 = VapidKey::generate(&self.rng)
                        .map_err(|e| NotifyError::Vapid(e.to_string()))?;
                    let pair = VapidKey::from_pkcs8(&pkcs8, &self.rng)
                        .map_err(|e| NotifyError::Vapid(e.to_string()))?;
                    let sealed = self.vault.seal(Sealed::VapidKey, &pkcs8);
                    self.db
                        .insert_vapid_key(&sealed, pair.public_key(), self.clock.now_ms())
                        .await?;
                }
                let (sealed, _) = self
                    .db
                    .vapid_key()
                    .await?
                    .ok_or_else(|| NotifyError::Vapid("the key was not stored".into()))?;
                let pkcs8 = self
                    .vault
                    .open(Sealed::VapidKey, &sealed)
                    .map_err(|e| NotifyError::Vapid(e.to_string()))?;
                VapidKey::from_pkcs8(&pkcs8, &self.rng)
                    .map_err(|e| NotifyError::Vapid(e.to_string()))
            })
            .await
    }

    /// A channel went live: queues the fan-out to its followers (one row; nothing else here).
    pub async fn channel_live(
        &self,
        channel: i64,
        source_id: i64,
        started_ms: i64,
    ) -> Result<(), NotifyError> {
        let Some(user) = self.db.user_by_id(channel).await? else {
            return Ok(());
        };
        let source = self.db.source_by_id(source_id).await?;
        let (title, url) = match &source {
            Some(s) => (
                s.title.clone().unwrap_or_default(),
                format!("/watch/{}", s.playback_id),
            ),
            None => (String::new(), format!("/c/{}", user.handle)),
        };
        if self.config.telegram {
            if let Some(chat) = self.db.telegram_chat_of(channel).await? {
                let mut text = format!("🔴 <b>{} is live</b>", telegram_html(&user.display_name));
                if !title.is_empty() {
                    text.push_str(&format!("\n{}", telegram_html(&title)));
                }
                let link = format!("{}{url}", self.config.public_url.trim_end_matches('/'));
                self.db
                    .queue_telegram(
                        &ferrocast_db::telegram::NewOutboxMessage {
                            chat_id: chat.chat_id,
                            text: &text,
                            buttons: &serde_json::json!([[{"text": "Watch", "url": link}]])
                                .to_string(),
                            dedup_key: Some(&format!("live:{source_id}:{started_ms}:chat")),
                        },
                        self.clock.now_ms(),
                    )
                    .await?;
            }
        }
        self.queue_fanout(Fanout2 {
            kind: Kind::Live,
            channel,
            key: format!("live:{source_id}:{started_ms}"),
            title: format!("{} is live", user.display_name),
            body: title,
            url,
            after: 0,
        })
        .await
    }

    /// A channel published a public video: queues the fan-out to its followers.
    pub async fn video_published(&self, video_uuid: &str) -> Result<(), NotifyError> {
        let Some(video) = self.db.video_by_uuid(video_uuid).await? else {
            return Ok(());
        };
        if video.visibility != "public" {
            return Ok(());
        }
        let Some(user) = self.db.user_by_id(video.user_id).await? else {
            return Ok(());
        };
        self.queue_fanout(Fanout2 {
            kind: Kind::Video,
            channel: user.id,
            key: format!("video:{}", video.uuid),
            title: format!("{} published a video", user.display_name),
            body: video.title.clone(),
            url: format!("/v/{}", video.uuid),
            after: 0,
        })
        .await
    }

    /// `follower` followed `channel` for the first time: the channel's owner is told.
    pub async fn new_follower(&self, channel: i64, follower: i64) -> Result<(), NotifyError> {
        let Some(f) = self.db.user_by_id(follower).await? else {
            return Ok(());
        };
        let title = format!("{} followed your channel", f.display_name);
        let url = format!("/c/{}", f.handle);
        let key = format!("follower:{channel}:{follower}");
        self.notify(
            &Notice {
                user_id: channel,
                kind: Kind::Follower,
                actor_id: Some(follower),
                title: &title,
                body: "",
                url: &url,
                dedup_key: &key,
            },
            None,
        )
        .await?;
        Ok(())
    }

    /// `replier` replied (comment `reply_id`) to a comment of `author` on the video `video_uuid`.
    pub async fn comment_reply(
        &self,
        author: i64,
        replier: i64,
        reply_id: i64,
        video_uuid: &str,
        excerpt: &str,
    ) -> Result<(), NotifyError> {
        if author == replier {
            return Ok(());
        }
        let Some(r) = self.db.user_by_id(replier).await? else {
            return Ok(());
        };
        let title = format!("{} replied to your comment", r.display_name);
        let body: String = excerpt.chars().take(200).collect();
        let url = format!("/v/{video_uuid}");
        let key = format!("reply:{reply_id}:{author}");
        self.notify(
            &Notice {
                user_id: author,
                kind: Kind::Reply,
                actor_id: Some(replier),
                title: &title,
                body: &body,
                url: &url,
                dedup_key: &key,
            },
            None,
        )
        .await?;
        Ok(())
    }

    async fn queue_fanout(&self, job: Fanout2) -> Result<(), NotifyError> {
        let payload =
            serde_json::to_value(&job).map_err(|e| NotifyError::Invalid(e.to_string()))?;
        let now = self.clock.now_ms();
        self.db
            .enqueue_job(FANOUT_JOB, None, &payload, now, FANOUT_ATTEMPTS, now)
            .await?;
        self.wake.notify_waiters();
        Ok(())
    }

    /// Stores a notice for one user as their preferences say, tells their open pages, and
    /// queues its push and email; `None` when it was a duplicate or the user wants none.
    pub async fn notify(
        &self,
        n: &Notice<'_>,
        quiet_since: Option<i64>,
    ) -> Result<Option<NotificationRecord>, NotifyError> {
        let rows = self.db.notification_preferences(n.user_id).await?;
        let channel = match n.kind {
            Kind::Live | Kind::Video => n.actor_id,
            Kind::Follower | Kind::Reply | Kind::Moderation | Kind::Data | Kind::Campaign => None,
        };
        let pref = resolve(&rows, n.kind, channel);
        if !pref.any() {
            return Ok(None);
        }
        let now = self.clock.now_ms();
        let inserted = self
            .db
            .insert_notification(
                &NewNotification {
                    user_id: n.user_id,
                    kind: n.kind.as_str(),
                    title: n.title,
                    body: n.body,
                    url: n.url,
                    actor_id: n.actor_id,
                    dedup_key: n.dedup_key,
                    created_at: now,
                    in_app: pref.in_app,
                },
                quiet_since,
            )
            .await?;
        let fresh = inserted.is_some();
        let record = match inserted {
            Some(r) => {
                if pref.in_app {
                    self.fanout.publish(RealtimeEvent::Notification {
                        user_id: n.user_id,
                        notification: NotificationView::from(&r),
                    });
                }
                r
            }
            // A retried fan-out finds the notice stored: its deliveries are queued again below
            // (a no-op for those already queued), so a crash between the two loses nothing.
            None => match self.db.notification_by_dedup_key(n.dedup_key).await? {
                Some(r) if r.created_at >= now - self.config.lease_ms * FANOUT_ATTEMPTS => r,
                _ => return Ok(None),
            },
        };
        let mut queued = false;
        match pref.email {
            EmailMode::Off => {}
            EmailMode::Instant => {
                queued |= self
                    .db
                    .enqueue_delivery(record.id, n.user_id, "email", 0, now, now)
                    .await?;
            }
            EmailMode::Daily => {
                let at = next_digest(now, self.config.digest_hour);
                queued |= self
                    .db
                    .enqueue_delivery(record.id, n.user_id, "digest", 0, at, now)
                    .await?;
            }
        }
        if pref.push && self.config.telegram {
            // Telegram follows the push setting: a message from the bot to a user who linked
            // Telegram (sent by the bot's runner, crate::telegram_bot).
            self.queue_telegram_notice(&record, n).await?;
        }
        if pref.push {
            for sub in self.db.push_subscriptions_of(n.user_id).await? {
                queued |= self
                    .db
                    .enqueue_delivery(record.id, n.user_id, "push", sub.id, now, now)
                    .await?;
            }
        }
        if queued {
            self.wake.notify_waiters();
        }
        Ok(fresh.then_some(record))
    }

    /// Queues a notice as a Telegram message to the user's linked Telegram account, if any.
    async fn queue_telegram_notice(
        &self,
        record: &NotificationRecord,
        n: &Notice<'_>,
    ) -> Result<(), NotifyError> {
        let Some(tg) = self.db.telegram_id_of(n.user_id).await? else {
            return Ok(());
        };
        let mut text = format!("<b>{}</b>", telegram_html(n.title));
        if !n.body.is_empty() {
            text.push_str(&format!("\n{}", telegram_html(n.body)));
        }
        let url = format!("{}{}", self.config.public_url.trim_end_matches('/'), n.url);
        let label = match n.kind {
            Kind::Live => "Watch",
            _ => "Open",
        };
        let buttons = serde_json::json!([[{"text": label, "url": url}]]).to_string();
        self.db
            .queue_telegram(
                &ferrocast_db::telegram::NewOutboxMessage {
                    chat_id: tg,
                    text: &text,
                    buttons: &buttons,
                    dedup_key: Some(&format!("notice:{}", record.id)),
                },
                self.clock.now_ms(),
            )
            .await?;
        Ok(())
    }

    /// Runs one fan-out job: one batch of followers, queuing the next batch if there may be more.
    async fn run_fanout(&self, payload: &serde_json::Value) -> Result<(), String> {
        let job: Fanout2 = serde_json::from_value(payload.clone())
            .map_err(|e| format!("a fan-out job's payload does not parse: {e}"))?;
        let followers = self
            .db
            .followers_after(job.channel, job.after, FANOUT_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        let quiet_since = match job.kind {
            Kind::Live => Some(self.clock.now_ms() - self.config.live_window_ms),
            _ => None,
        };
        for user in &followers {
            let key = format!("{}:{user}", job.key);
            let notice = Notice {
                user_id: *user,
                kind: job.kind,
                actor_id: Some(job.channel),
                title: &job.title,
                body: &job.body,
                url: &job.url,
                dedup_key: &key,
            };
            if let Err(e) = self.notify(&notice, quiet_since).await {
                return Err(e.to_string());
            }
        }
        if followers.len() as i64 == FANOUT_BATCH {
            let mut next = job.clone();
            next.after = *followers.last().unwrap_or(&job.after);
            self.queue_fanout(next).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The token of an unsubscribe link: the user, the kind, and an HMAC of both.
    pub fn unsubscribe_token(&self, user_id: i64, kind: Kind) -> String {
        let msg = format!("{user_id}.{}", kind.as_str());
        let tag = ring::hmac::sign(&self.unsubscribe_key, msg.as_bytes());
        format!("{msg}.{}", BASE64URL_NOPAD.encode(&tag.as_ref()[..16]))
    }

    /// Checks an unsubscribe token: the user and kind it was made for.
    pub fn check_unsubscribe_token(&self, token: &str) -> Result<(i64, Kind), NotifyError> {
        let mut parts = token.splitn(3, '.');
        let (Some(user), Some(kind), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NotifyError::BadToken);
        };
        let tag = BASE64URL_NOPAD
            .decode(tag.as_bytes())
            .map_err(|_| NotifyError::BadToken)?;
        let full = ring::hmac::sign(&self.unsubscribe_key, format!("{user}.{kind}").as_bytes());
        #[allow(deprecated)]
        let same = tag.len() == 16
            && ring::constant_time::verify_slices_are_equal(&full.as_ref()[..16], &tag).is_ok();
        if !same {
            return Err(NotifyError::BadToken);
        }
        let user: i64 = user.parse().map_err(|_| NotifyError::BadToken)?;
        let kind = Kind::parse(kind).ok_or(NotifyError::BadToken)?;
        Ok((user, kind))
    }

    /// Turns off email of the token's kind for its user (RFC 8058 one-click unsubscribe).
    pub async fn unsubscribe(&self, token: &str) -> Result<Kind, NotifyError> {
        let (user, kind) = self.check_unsubscribe_token(token)?;
        self.db
            .set_email_preference(user, kind.as_str(), "off", self.clock.now_ms())
            .await?;
        Ok(kind)
    }

    /// Stores a browser's push subscription for the user after checking it.
    pub async fn subscribe(
        &self,
        user_id: i64,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<i64, NotifyError> {
        check_endpoint(endpoint, self.config.allow_private_endpoints)?;
        webpush::check_keys(p256dh, auth).map_err(|e| NotifyError::Invalid(e.to_string()))?;
        let id = self
            .db
            .upsert_push_subscription(user_id, endpoint, p256dh, auth, self.clock.now_ms())
            .await?;
        // Beyond the cap the oldest go (a browser that was reset leaves its old one behind).
        let subs = self.db.push_subscriptions_of(user_id).await?;
        let over = subs.len() as i64 - MAX_SUBSCRIPTIONS;
        for s in subs
            .iter()
            .filter(|s| s.id != id)
            .take(over.max(0) as usize)
        {
            self.db.delete_push_subscription_by_id(s.id).await?;
        }
        Ok(id)
    }

    async fn deliver(&self, d: &DeliveryRecord) -> Outcome {
        match d.channel.as_str() {
            "push" => self.deliver_push(d).await,
            "email" => self.deliver_email(d).await,
            other => Outcome::Failed(format!("unknown delivery channel {other}")),
        }
    }

    async fn deliver_push(&self, d: &DeliveryRecord) -> Outcome {
        let sub = match self.db.push_subscription_by_id(d.target).await {
            Ok(Some(s)) => s,
            Ok(None) => return Outcome::Dropped("the subscription was removed".into()),
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let n = match self.db.notification_by_id(d.notification_id).await {
            Ok(Some(n)) => n,
            Ok(None) => return Outcome::Dropped("the notification was deleted".into()),
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let vapid = match self.vapid().await {
            Ok(v) => v,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let (ua_public, auth) = match webpush::check_keys(&sub.p256dh, &sub.auth) {
            Ok(k) => k,
            Err(e) => return Outcome::Dropped(e.to_string()),
        };
        let payload = serde_json::json!({
            "id": n.id,
            "kind": n.kind,
            "title": n.title,
            "body": n.body,
            "url": format!("{}{}", self.config.public_url.trim_end_matches('/'), n.url),
            "tag": format!("{}-{}", n.kind, n.actor_id.unwrap_or(0)),
        })
        .to_string();
        let body = match webpush::encrypt(&self.rng, payload.as_bytes(), &ua_public, &auth) {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let exp = self.clock.now_ms() / 1000 + webpush::VAPID_TTL_SECS;
        let authorization =
            match vapid.authorization(&self.rng, &sub.endpoint, &self.config.vapid_subject, exp) {
                Ok(a) => a,
                Err(e) => return Outcome::Dropped(format!("endpoint: {e}")),
            };
        let urgency = if n.kind == "live" { "high" } else { "normal" };
        let sent = self
            .http
            .post(&sub.endpoint)
            .header("TTL", "86400")
            .header("Urgency", urgency)
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", authorization)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                let _ = self
                    .db
                    .push_subscription_succeeded(sub.id, self.clock.now_ms())
                    .await;
                Outcome::Sent
            }
            // RFC 8030 §7.3: the subscription expired or was removed.
            Ok(r) if r.status().as_u16() == 404 || r.status().as_u16() == 410 => {
                if let Err(e) = self.db.delete_push_subscription_by_id(sub.id).await {
                    return Outcome::Retry(e.to_string());
                }
                Outcome::Dropped(format!(
                    "the push service answered {}; subscription removed",
                    r.status()
                ))
            }
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                Outcome::Retry(format!("the push service answered {}", r.status()))
            }
            Ok(r) => Outcome::Failed(format!(
                "the push service refused the message: {}",
                r.status()
            )),
            Err(e) if e.is_timeout() => {
                Outcome::Retry("the push service did not answer in time".into())
            }
            Err(e) => Outcome::Retry(format!("cannot reach the push service: {e}")),
        }
    }

    async fn mail_parts(
        &self,
        user_id: i64,
        kind: Kind,
    ) -> Option<(String, Vec<(String, String)>, String)> {
        let user = self.db.user_by_id(user_id).await.ok()??;
        let base = self.config.public_url.trim_end_matches('/');
        let token = self.unsubscribe_token(user_id, kind);
        let one_click = format!("{base}/api/notifications/unsubscribe?token={token}");
        let page = format!("{base}/unsubscribe?token={token}");
        let headers = vec![
            ("List-Unsubscribe".to_string(), format!("<{one_click}>")),
            (
                "List-Unsubscribe-Post".to_string(),
                "List-Unsubscribe=One-Click".to_string(),
            ),
        ];
        Some((user.email, headers, page))
    }

    async fn deliver_email(&self, d: &DeliveryRecord) -> Outcome {
        let n = match self.db.notification_by_id(d.notification_id).await {
            Ok(Some(n)) => n,
            Ok(None) => return Outcome::Dropped("the notification was deleted".into()),
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let kind = Kind::parse(&n.kind).unwrap_or(Kind::Live);
        let Some((to, headers, page)) = self.mail_parts(d.user_id, kind).await else {
            return Outcome::Dropped("the account is gone".into());
        };
        let base = self.config.public_url.trim_end_matches('/');
        let mut body = format!("{}\n", n.title);
        if !n.body.is_empty() {
            body.push_str(&format!("\n{}\n", n.body));
        }
        body.push_str(&format!(
            "\nOpen: {base}{}\n\n--\nYou get this email because {}. Stop these emails: {page}\nChoose what you are told: {base}/settings/notifications\n",
            n.url,
            kind.label()
        ));
        self.send_mail(Mail {
            to,
            subject: n.title.clone(),
            body,
            headers,
        })
        .await
    }

    /// Sends one user's due digest lines as one mail and records each line's outcome.
    async fn deliver_digest(&self, lines: &[DeliveryRecord]) {
        let Some(first) = lines.first() else {
            return;
        };
        let mut notices = Vec::new();
        for l in lines {
            match self.db.notification_by_id(l.notification_id).await {
                Ok(Some(n)) => notices.push(n),
                Ok(None) => {}
                Err(e) => {
                    return self
                        .finish_lines(lines, Outcome::Retry(e.to_string()))
                        .await;
                }
            }
        }
        notices.sort_by_key(|n| n.id);
        let base = self.config.public_url.trim_end_matches('/');
        let kind = notices
            .first()
            .and_then(|n| Kind::parse(&n.kind))
            .unwrap_or(Kind::Video);
        let Some((to, headers, page)) = self.mail_parts(first.user_id, kind).await else {
            return self
                .finish_lines(lines, Outcome::Dropped("the account is gone".into()))
                .await;
        };
        let mut body = format!("Your day on ferrocast: {} notifications\n\n", notices.len());
        for n in &notices {
            body.push_str(&format!("- {}", n.title));
            if !n.body.is_empty() {
                body.push_str(&format!(": {}", n.body));
            }
            body.push_str(&format!("\n  {base}{}\n", n.url));
        }
        body.push_str(&format!(
            "\n--\nStop these emails: {page}\nChoose what you are told: {base}/settings/notifications\n"
        ));
        let subject = format!("Your daily digest: {} notifications", notices.len());
        let outcome = self
            .send_mail(Mail {
                to,
                subject,
                body,
                headers,
            })
            .await;
        self.finish_lines(lines, outcome).await
    }

    /// Records the same outcome for every line of a digest.
    async fn finish_lines(&self, lines: &[DeliveryRecord], outcome: Outcome) {
        for l in lines {
            self.record(l, &outcome).await;
        }
    }

    async fn send_mail(&self, mail: Mail) -> Outcome {
        match self.mailer.send(mail).await {
            Ok(()) => Outcome::Sent,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    /// Writes what became of an attempt.
    async fn record(&self, d: &DeliveryRecord, outcome: &Outcome) {
        let now = self.clock.now_ms();
        let node = &self.config.node;
        let r = match outcome {
            Outcome::Sent => {
                self.db
                    .finish_delivery(d.id, node, "sent", None, None, now)
                    .await
            }
            Outcome::Dropped(why) => {
                self.db
                    .finish_delivery(d.id, node, "dropped", Some(why), None, now)
                    .await
            }
            Outcome::Failed(why) => {
                tracing::warn!(delivery = d.id, channel = %d.channel, error = %why, "notification not delivered");
                self.db
                    .finish_delivery(d.id, node, "failed", Some(why), None, now)
                    .await
            }
            Outcome::Retry(why) if d.attempts < self.config.max_attempts => {
                let at = now.saturating_add(backoff(self.config.retry_base_ms, d.attempts));
                tracing::info!(delivery = d.id, channel = %d.channel, error = %why, retry_in_ms = at - now, "notification delivery failed; retrying later");
                self.db
                    .finish_delivery(d.id, node, "queued", Some(why), Some(at), now)
                    .await
            }
            Outcome::Retry(why) => {
                tracing::warn!(delivery = d.id, channel = %d.channel, error = %why, attempts = d.attempts, "notification delivery failed on every attempt; giving up");
                self.db
                    .finish_delivery(d.id, node, "failed", Some(why), None, now)
                    .await
            }
        };
        if let Err(e) = r {
            tracing::warn!(delivery = d.id, error = %e, "cannot record a delivery's outcome");
        }
    }
}

/// What became of one attempt at a delivery.
#[derive(Debug)]
enum Outcome {
    Sent,
    /// Nothing to deliver to any more (the subscription is gone).
    Dropped(String),
    /// Refused for good.
    Failed(String),
    /// Try again later (until the attempts run out).
    Retry(String),
}

/// The wait before the next attempt after `attempts` failed: `base`, twice that, … up to an hour.
pub fn backoff(base_ms: i64, attempts: i64) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    base_ms
        .max(1)
        .saturating_mul(1_i64 << doublings)
        .min(RETRY_CAP_MS)
}

/// The next `hour`:00 UTC after `now` (ms).
pub fn next_digest(now: i64, hour: u32) -> i64 {
    const DAY: i64 = 86_400_000;
    let today = now - now.rem_euclid(DAY) + i64::from(hour.min(23)) * 3_600_000;
    if today > now {
        today
    } else {
        today + DAY
    }
}

/// Checks a push endpoint: an https URL (or, where allowed, http) of at most [`MAX_ENDPOINT`]
/// characters whose host is not a loopback, private or link-local address unless allowed
/// (the server posts to it: it must not reach the deployment's own network).
pub fn check_endpoint(endpoint: &str, allow_private: bool) -> Result<(), NotifyError> {
    if endpoint.len() > MAX_ENDPOINT {
        return Err(NotifyError::Invalid(format!(
            "endpoint: at most {MAX_ENDPOINT} characters"
        )));
    }
    let url = reqwest::Url::parse(endpoint).map_err(|_| {
        NotifyError::Invalid("endpoint: not a URL; send the PushSubscription's endpoint".into())
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => {
            return Err(NotifyError::Invalid(
                "endpoint: push services are reached over https".into(),
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(NotifyError::Invalid(
            "endpoint: credentials in the URL are not accepted".into(),
        ));
    }
    if allow_private {
        return Ok(());
    }
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let private = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_private()
                || ip.is_loopback()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => host == "localhost" || host.ends_with(".localhost") || !host.contains('.'),
    };
    if private {
        return Err(NotifyError::Invalid(
            "endpoint: a push service on a private or local address is not accepted".into(),
        ));
    }
    Ok(())
}

/// Starts this node's notification work: the follower of its realtime events (go-live, a video
/// ready), the fan-out workers and the delivery workers. All stop with `shutdown`.
pub fn spawn(notifier: Arc<Notifier>, shutdown: watch::Receiver<bool>) {
    tokio::spawn(follow_events(notifier.clone(), shutdown.clone()));
    if notifier.config.workers == 0 {
        return;
    }
    tokio::spawn(fanout_worker(notifier.clone(), shutdown.clone()));
    for _ in 0..notifier.config.workers {
        tokio::spawn(delivery_worker(notifier.clone(), shutdown.clone()));
    }
}

/// Events this node published: a stream of its own went live, a video it processed is ready.
/// (Each node sees every node's events; only the publishing node acts on them, once.)
async fn follow_events(n: Arc<Notifier>, mut shutdown: watch::Receiver<bool>) {
    let mut bus = n.fanout.subscribe();
    let me = n.fanout.node().to_string();
    loop {
        let env = tokio::select! {
            r = bus.recv() => match r {
                Ok(env) => env,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "notifications fell behind the realtime events; some may not be sent");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = shutdown.wait_for(|s| *s) => return,
        };
        if env.node != me {
            continue;
        }
        let r = match env.event {
            RealtimeEvent::StreamStatus {
                user_id,
                source_id,
                status: StreamStatus::Live,
            } => n.channel_live(user_id, source_id, n.clock.now_ms()).await,
            RealtimeEvent::VideoProgress { progress, .. } if progress.status == "ready" => {
                n.video_published(&progress.video_id).await
            }
            _ => continue,
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "cannot queue notifications");
        }
    }
}

async fn idle(n: &Notifier, poll: &mut IdlePoll, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(poll.idle()) => false,
        _ = n.wake.notified() => {
            poll.busy();
            false
        }
        _ = shutdown.wait_for(|s| *s) => true,
    }
}

async fn fanout_worker(n: Arc<Notifier>, mut shutdown: watch::Receiver<bool>) {
    let node = n.config.node.clone();
    let mut poll = IdlePoll::new(POLL_EVERY);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = n.clock.now_ms();
        match n
            .db
            .claim_job(&node, &[FANOUT_JOB], n.config.lease_ms, now)
            .await
        {
            Ok(Some(job)) => {
                let outcome = n.run_fanout(&job.payload).await;
                let now = n.clock.now_ms();
                let r = match outcome {
                    Ok(()) => n.db.complete_job(job.id, &node, now).await.map(|_| ()),
                    Err(e) => {
                        tracing::warn!(job = job.id, error = %e, "notification fan-out failed");
                        n.db.fail_job(job.id, &node, &e, true, now).await.map(|f| {
                            if f == JobFailure::Failed {
                                tracing::warn!(
                                    job = job.id,
                                    "notification fan-out failed for good"
                                );
                            }
                        })
                    }
                };
                if let Err(e) = r {
                    tracing::warn!(job = job.id, error = %e, "cannot record a fan-out's outcome");
                }
                poll.busy();
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot claim a notification fan-out"),
        }
        if idle(&n, &mut poll, &mut shutdown).await {
            return;
        }
    }
}

async fn delivery_worker(n: Arc<Notifier>, mut shutdown: watch::Receiver<bool>) {
    let node = n.config.node.clone();
    let mut poll = IdlePoll::new(POLL_EVERY);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = n.clock.now_ms();
        match n
            .db
            .claim_delivery(&node, &["push", "email"], n.config.lease_ms, now)
            .await
        {
            Ok(Some(d)) => {
                let outcome = tokio::select! {
                    o = n.deliver(&d) => o,
                    _ = shutdown.wait_for(|s| *s) => return,
                };
                n.record(&d, &outcome).await;
                poll.busy();
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot claim a notification delivery"),
        }
        match n.db.claim_digest(&node, n.config.lease_ms, now).await {
            Ok(lines) if !lines.is_empty() => {
                tokio::select! {
                    _ = n.deliver_digest(&lines) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                poll.busy();
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot claim a notification digest"),
        }
        if idle(&n, &mut poll, &mut shutdown).await {
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!(backoff(1000, 1), 1000);
        assert_eq!(backoff(1000, 2), 2000);
        assert_eq!(backoff(1000, 4), 8000);
        assert_eq!(backoff(1000, 40), RETRY_CAP_MS);
    }

    #[test]
    fn digest_goes_out_at_the_next_hour() {
        let day = 86_400_000;
        assert_eq!(next_digest(0, 8), 8 * 3_600_000);
        assert_eq!(next_digest(8 * 3_600_000, 8), day + 8 * 3_600_000);
        assert_eq!(next_digest(9 * 3_600_000, 8), day + 8 * 3_600_000);
    }

    #[test]
    fn preferences_resolve_channel_then_kind_then_default() {
        let row = |kind: &str, channel_id, email: &str, push| PreferenceRecord {
            kind: kind.into(),
            channel_id,
            in_app: true,
            email: email.into(),
            push,
        };
        let rows = vec![
            row("live", 0, "off", true),
            row("live", 7, "instant", false),
        ];
        assert_eq!(
            resolve(&rows, Kind::Live, Some(7)).email,
            EmailMode::Instant
        );
        assert!(!resolve(&rows, Kind::Live, Some(7)).push);
        assert_eq!(resolve(&rows, Kind::Live, Some(8)).email, EmailMode::Off);
        assert_eq!(
            resolve(&rows, Kind::Video, Some(7)),
            Kind::Video.default_preference()
        );
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(check_endpoint("https://fcm.googleapis.com/fcm/send/abc", false).is_ok());
        assert!(check_endpoint("http://push.example.com/x", false).is_err());
        assert!(check_endpoint("https://127.0.0.1/x", false).is_err());
        assert!(check_endpoint("https://10.1.2.3/x", false).is_err());
        assert!(check_endpoint("https://localhost/x", false).is_err());
        assert!(check_endpoint("https://[::1]/x", false).is_err());
        assert!(check_endpoint("https://u:p@push.example.com/x", false).is_err());
        assert!(check_endpoint("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_endpoint(&format!("https://a.example/{}", "x".repeat(3000)), false).is_err());
    }
}
