//! What a running node is made of: the services, the engine and the adapters' own parts
//! (rate limiters, metrics, Socket.IO counters). Composition only — behaviour lives in
//! [`crate::service`] and in the adapters.

use crate::connectors::registry::Connectors;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::service::accounts::{Accounts, Keys};
use crate::service::billing::Billing;
use crate::service::chat::Chat;
use crate::service::clock::SharedClock;
use crate::service::events::Fanout;
use crate::service::hashing::HashPool;
use crate::service::identity::Identity;
use crate::service::site::Site;
use crate::service::sources::Sources;
use crate::service::streams::{Grants, Streams};
use crate::service::vault::Vault;
use ferrocast_auth::secretbox::{derive_key, SecretBox};
use ferrocast_config::Config;
use ferrocast_db::Db;
use ferrocast_domain::mail::Mailer;
use std::sync::Arc;
use std::time::Duration;

/// Everything a request handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The inside of [`AppState`].
pub struct Inner {
    /// Validated configuration.
    pub config: Config,
    /// Storage.
    pub db: Db,
    /// The time.
    pub clock: SharedClock,
    /// Secrets at rest.
    pub vault: Arc<Vault>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
    /// Accounts, sessions, the caller.
    pub accounts: Accounts,
    /// Sources and their keys.
    pub sources: Sources,
    /// Live streams, their sessions and pushes, and their owners' events.
    pub streams: Arc<Streams>,
    /// Chat: posting, rules and moderation.
    pub chat: Arc<Chat>,
    /// Orders and what payment gateways' events do.
    pub billing: Billing,
    /// Viewers' purchases from creators (tips, memberships, pay-per-view) and the ledger.
    pub purchases: crate::service::purchases::Purchases,
    /// Site settings.
    pub site: Site,
    /// Credential endpoints, per client address.
    pub auth_limiter: RateLimiter,
    /// Authenticated requests, per user.
    pub api_limiter: RateLimiter,
    /// Searches per client address.
    pub search_limiter: RateLimiter,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// The media engine (hub, HLS packagers, restream, publish authorisation).
    pub engine: ferrocast_engine::Engine,
    /// Realtime events to every node's Socket.IO clients.
    pub fanout: Arc<dyn Fanout>,
    /// Socket.IO connections open on this node.
    pub sockets: std::sync::atomic::AtomicI64,
    /// Socket.IO connections per client address, capped.
    pub socket_addresses: Arc<ferrocast_engine::addresses::AddrLimiter>,
    /// Chat connectors running on this node.
    pub connectors: Connectors,
    /// Outgoing HTTP (platform APIs, payment gateways): rustls with the Mozilla roots.
    pub http: reqwest::Client,
    /// Payment requests (orders, checkouts, verifications), per user: 10 a minute.
    pub payments_limiter: RateLimiter,
    /// Sign-in with Google and Twitch, linked identities, chat consent.
    pub identity: Identity,
    /// Signing in with Telegram.
    pub telegram: Arc<crate::service::telegram::TelegramSignIn>,
    /// The Telegram bot, when a token is set ([`crate::telegram_bot`] runs it).
    pub telegram_bot: Option<Arc<crate::service::telegram_bot::Bot>>,
    /// Pictures of live streams for link previews.
    pub thumbnails: crate::service::thumbnail::Thumbnails,
    /// Where recordings, uploads and videos are stored.
    pub storage: ferrocast_storage::Storage,
    /// The video pipeline's queue and counters.
    pub pipeline: Pipeline,
    /// Videos: views, visibility, quota, deletion, signed URLs.
    pub videos: crate::service::videos::Videos,
    /// Resumable uploads (tus).
    pub uploads: crate::service::uploads::Uploads,
    /// Likes, comments, views, watch time, trending.
    pub engagement: crate::service::engagement::Engagement,
    /// Social posts, their likes and comments.
    pub posts: crate::service::posts::Posts,
    /// Creators' radio stations.
    pub radio: Arc<crate::service::radio::Radio>,
    /// Hangouts: small WebRTC rooms.
    pub hangouts: Arc<crate::service::hangouts::Hangouts>,
    /// Notifications: in the app, by email and by Web Push.
    pub notify: Arc<crate::service::notify::Notifier>,
    /// Entitlements to gated content and playback tokens.
    pub access: Arc<crate::service::access::Access>,
    /// Membership tiers, memberships and access levels.
    pub memberships: crate::service::memberships::Memberships,
    /// Users' data: exports and account erasure.
    pub privacy: Arc<crate::service::privacy::Privacy>,
    /// The tamper-evident audit log.
    pub audit: Arc<crate::service::audit::Audit>,
    /// Reports, the moderation queue, strikes and appeals.
    pub safety: Arc<crate::service::safety::Safety>,
    /// Copyright notices (DMCA): takedowns, evidence holds, counter-notices, restores.
    pub dmca: Arc<crate::service::dmca::Dmca>,
    /// Brands and their campaigns.
    pub brands: crate::service::campaigns::Brands,
    /// Rate-limit state shared by every node through Redis (when configured).
    pub shared_limits: Option<Arc<crate::ratelimit::SharedLimits>>,
    /// Whether this node is draining, and the switches that drain it.
    pub drain: crate::service::drain::Drain,
    /// Backups to storage (automatic, and "Back up now"): set at start on a node that has a
    /// backup passphrase.
    pub backups: std::sync::OnceLock<Arc<crate::service::backup::Scheduler>>,
}

/// The video pipeline's parts a request handler or `/metrics` reaches.
#[derive(Clone)]
pub struct Pipeline {
    /// Queues video jobs (and wakes this node's workers).
    pub jobs: crate::service::jobs::JobQueue,
    /// The job runner's counters.
    pub job_stats: Arc<crate::service::jobs::JobStats>,
    /// The recording decisions' counters.
    pub recordings: Arc<crate::service::recordings::RecordingDecisions>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Puts a node together.
#[allow(clippy::too_many_arguments)]
pub fn compose(
    config: Config,
    db: Db,
    master_key: &[u8; 32],
    mailer: Arc<dyn Mailer>,
    engine: ferrocast_engine::Engine,
    grants: Grants,
    fanout: Arc<dyn Fanout>,
    clock: SharedClock,
    storage: ferrocast_storage::Storage,
    pipeline: Pipeline,
    access: Arc<crate::service::access::Access>,
    audit_signer: crate::service::audit::AuditSigner,
) -> std::io::Result<AppState> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("ferrocast/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default();
    let socket_addresses =
        ferrocast_engine::addresses::AddrLimiter::new(config.socketio_max_per_ip, 0);
    let vault = Arc::new(Vault::new(SecretBox::new(&derive_key(
        master_key,
        "secretbox-aes256gcm",
    ))));
    let metrics = Arc::new(Metrics::new());
    // Brand tiers: the plans file's `[[brand_plans]]`, or the five defaults.
    let brand_tiers = match &config.plans_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)?;
            ferrocast_domain::brand::parse_brand_plans(&text).map_err(|e| {
                std::io::Error::other(format!("{}: [[brand_plans]]: {e}", path.display()))
            })?
        }
        None => ferrocast_domain::brand::default_brand_tiers(),
    };
    // Built here, connected on first use: a Redis that is down at start-up only means limits
    // are per node until it answers (the realtime fan-out already refused to start without it).
    let shared_limits = match &config.redis_url {
        Some(url) => Some(Arc::new(
            crate::ratelimit::SharedLimits::new(url.expose(), master_key)
                .map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let audit = Arc::new(crate::service::audit::Audit::new(
        db.clone(),
        clock.clone(),
        audit_signer,
        crate::service::audit::origin_for(&config.public_url),
    ));
    let accounts = Accounts::new(
        db.clone(),
        Keys::derive(master_key),
        vault.clone(),
        mailer.clone(),
        HashPool::start()?,
        clock.clone(),
        metrics.clone(),
        config.public_url.clone(),
    );
    let streams = Streams::new(
        db.clone(),
        engine.clone(),
        vault.clone(),
        grants,
        fanout.clone(),
        clock.clone(),
        crate::service::analytics::ViewerKeys::derive(master_key),
    );
    let chat = Arc::new(Chat::new(db.clone(), fanout.clone(), clock.clone()));
    let billing = Billing::new(
        db.clone(),
        clock.clone(),
        metrics.clone(),
        mailer.clone(),
        config.payments.grace_days,
    )
    .with_audit(audit.clone());
    let purchases = crate::service::purchases::Purchases::new(
        db.clone(),
        clock.clone(),
        metrics.clone(),
        config.payments.platform_fee_bps,
        config.payments.payout_hold_days,
    )
    .with_audit(audit.clone());
    let identity = Identity::new(
        db.clone(),
        vault.clone(),
        http.clone(),
        clock.clone(),
        config.identity.clone(),
        config.public_url.clone(),
    );
    let staging = config.data_dir.join("uploads");
    let videos = crate::service::videos::Videos::new(
        db.clone(),
        storage.clone(),
        clock.clone(),
        crate::service::videos::UrlSigner::derive(master_key),
        staging.clone(),
    );
    let uploads =
        crate::service::uploads::Uploads::new(db.clone(), videos.clone(), clock.clone(), staging);
    let thumbnails =
        crate::service::thumbnail::Thumbnails::new(Duration::from_secs(config.live_thumbnail_secs));
    let engagement =
        crate::service::engagement::Engagement::new(db.clone(), clock.clone(), master_key);
    let n = &config.notify;
    let notify = crate::service::notify::Notifier::new(
        db.clone(),
        clock.clone(),
        fanout.clone(),
        mailer.clone(),
        vault.clone(),
        master_key,
        crate::service::notify::NotifyConfig {
            node: fanout.node().to_string(),
            workers: n.workers,
            retry_base_ms: n.retry_ms as i64,
            max_attempts: i64::from(n.max_attempts),
            live_window_ms: n.live_window_secs as i64 * 1000,
            push_timeout: Duration::from_millis(n.push_timeout_ms),
            vapid_subject: n.vapid_subject.clone(),
            allow_private_endpoints: n.push_allow_private_endpoints,
            digest_hour: n.digest_hour,
            public_url: config.public_url.clone(),
            lease_ms: 60_000,
            telegram: config.telegram.is_some(),
        },
    );
    let memberships = crate::service::memberships::Memberships::new(db.clone(), clock.clone());
    let safety = Arc::new(crate::service::safety::Safety::new(
        db.clone(),
        clock.clone(),
        streams.clone(),
        notify.clone(),
        fanout.clone(),
        videos.clone(),
        audit.clone(),
    ));
    let privacy = crate::service::privacy::Privacy::new(
        db.clone(),
        storage.clone(),
        videos.clone(),
        clock.clone(),
        mailer.clone(),
        crate::service::privacy::PrivacyConfig {
            node: fanout.node().to_string(),
            workers: config.job_workers.min(1),
            lease_ms: config.job_lease_ms as i64,
            export_ttl_ms: config.export_ttl_days as i64 * 86_400_000,
            work_dir: config.data_dir.join("work"),
            public_url: config.public_url.clone(),
        },
        master_key,
        audit.clone(),
        notify.clone(),
    );
    let dmca = Arc::new(crate::service::dmca::Dmca::new(
        db.clone(),
        storage.clone(),
        clock.clone(),
        mailer.clone(),
        config.public_url.clone(),
        config.dmca_restore_days,
        audit.clone(),
        safety.clone(),
    ));
    Ok(AppState(Arc::new(Inner {
        privacy,
        audit,
        dmca,
        access,
        memberships,
        safety,
        engagement,
        hangouts: Arc::new(crate::service::hangouts::Hangouts::new(
            db.clone(),
            clock.clone(),
            engine.clone(),
            format!("rtmp://127.0.0.1:{}", config.rtmp_addr.port()),
        )),
        radio: Arc::new(crate::service::radio::Radio::new(
            db.clone(),
            storage.clone(),
            clock.clone(),
            engine.clone(),
            fanout.clone(),
            config.data_dir.join("radio-staging"),
        )),
        posts: crate::service::posts::Posts::new(
            db.clone(),
            clock.clone(),
            storage.clone(),
            config.data_dir.clone(),
        ),
        notify,
        identity,
        telegram_bot: config.telegram.as_ref().map(|t| {
            let secret = ferrocast_auth::secretbox::derive_key(master_key, "telegram-webhook");
            Arc::new(crate::service::telegram_bot::Bot::new(
                t,
                data_encoding::BASE64URL_NOPAD.encode(&secret),
                format!("{}:{}", fanout.node(), uuid::Uuid::new_v4().simple()),
            ))
        }),
        telegram: Arc::new(crate::service::telegram::TelegramSignIn::new(
            db.clone(),
            clock.clone(),
            config.telegram.clone(),
        )),
        videos,
        uploads,
        auth_limiter: RateLimiter::new(config.auth_rate_limit, Duration::from_secs(60))
            .shared(shared_limits.clone(), "auth"),
        api_limiter: RateLimiter::new(config.api_rate_limit, Duration::from_secs(60))
            .shared(shared_limits.clone(), "api"),
        search_limiter: RateLimiter::new(config.search_rate_limit, Duration::from_secs(60))
            .shared(shared_limits.clone(), "search"),
        sources: Sources::new(db.clone(), vault.clone()),
        site: Site::new(db.clone(), clock.clone(), config.registration_open).cache_for(
            if config.redis_url.is_some() {
                crate::service::site::SHARED_CACHE_FOR_MS
            } else {
                crate::service::site::CACHE_FOR_MS
            },
        ),
        connectors: Connectors::new(http.clone()),
        brands: crate::service::campaigns::Brands::new(
            db.clone(),
            clock.clone(),
            mailer.clone(),
            brand_tiers,
            &config.public_url,
            master_key,
        ),
        config,
        db,
        clock,
        vault,
        mailer,
        accounts,
        streams,
        chat,
        billing,
        purchases,
        metrics,
        engine,
        fanout,
        sockets: std::sync::atomic::AtomicI64::new(0),
        socket_addresses,
        http,
        payments_limiter: RateLimiter::new(10, Duration::from_secs(60))
            .shared(shared_limits.clone(), "payments"),
        shared_limits,
        drain: crate::service::drain::Drain::new(),
        backups: std::sync::OnceLock::new(),
        thumbnails,
        storage,
        pipeline,
    })))
}
