//! ferrocast's configuration: one typed tree built from layers.
//!
//! Precedence, lowest first: built-in defaults, the optional `ferrocast.toml`, the `FERROCAST_*`
//! environment, then command-line flags. Every setting has one name used in all three places:
//! the environment variable `FERROCAST_HTTP_ADDR` is the key `http_addr` in the file and
//! `--set http_addr=…` on the command line. Secrets may also be read from a file named by
//! `<NAME>_FILE` (`FERROCAST_SECRET_KEY_FILE=/run/secrets/key`), so they stay out of `ps` and
//! shell history.
//!
//! Validation reports every problem at once, not the first one found.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

mod backup;
pub use backup::{BackupSchedule, BackupSettings};
pub mod ops;
pub use ops::{IpList, OpsSettings};
mod nodes;
pub use nodes::{NodeRole, NodeSettings};

/// Prefix of every environment variable ferrocast reads.
pub const ENV_PREFIX: &str = "FERROCAST_";
/// The configuration file read from the working directory when no other is named.
pub const DEFAULT_CONFIG_FILE: &str = "ferrocast.toml";

/// One documented setting. [`SETTINGS`] is the single list the loader, the README table and
/// `ferrocast doctor` are built from.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Key in `ferrocast.toml`; the environment name is `FERROCAST_` + the key in capitals.
    pub key: &'static str,
    /// Default as shown to users (`None`: unset unless configured).
    pub default: Option<&'static str>,
    /// Whether the value is secret: never printed, and also readable from `<NAME>_FILE`.
    pub secret: bool,
    /// One line of help.
    pub help: &'static str,
}

/// Every setting ferrocast understands.
pub const SETTINGS: &[Setting] = &[
    Setting { key: "data_dir", default: Some("./data"), secret: false, help: "SQLite file, segments, recordings and the generated master key" },
    Setting { key: "http_addr", default: Some("127.0.0.1:8080"), secret: false, help: "API, web app, HLS, HTTP-FLV, Socket.IO, health and metrics" },
    Setting { key: "rtmp_addr", default: Some("127.0.0.1:1935"), secret: false, help: "RTMP ingest and playback" },
    Setting { key: "rtmp_workers", default: None, secret: false, help: "Threads that own RTMP connections; default: one fewer than the CPU cores, at least one" },
    Setting { key: "rtmp_max_connections_per_ip", default: Some("32"), secret: false, help: "RTMP connections at most from one client address (an IPv4 address or an IPv6 /64); more are closed at once; 0: no limit" },
    Setting { key: "rtmp_max_pending_per_ip", default: Some("8"), secret: false, help: "RTMP connections not yet past `connect` (handshaking) at most from one client address; 0: no limit" },
    Setting { key: "rtmp_idle_timeout_secs", default: Some("10"), secret: false, help: "Seconds a publisher or an undecided RTMP connection may go without completing a message before it is closed (players may stay silent)" },
    Setting { key: "rtmp_coalesce_ms", default: Some("5"), secret: false, help: "Milliseconds an idle RTMP worker that has just read from its connections more than once waits before it sleeps in the kernel, so that what arrives meanwhile is handled in one wake-up (fewer wake-ups and system calls with many publishers, at most this much added delay); 0 to 20, 0: off" },
    Setting { key: "rtmp_write_timeout_secs", default: Some("10"), secret: false, help: "Seconds an RTMP peer (a player) may accept no data before it is dropped" },
    Setting { key: "srt_addr", default: None, secret: false, help: "SRT ingest listener (UDP, listener mode), e.g. 127.0.0.1:9000; the caller's stream id is the stream key; unset: no SRT" },
    Setting { key: "srt_passphrase", default: None, secret: true, help: "Passphrase SRT publishers must encrypt with (10 to 79 characters); unset: SRT is unencrypted" },
    Setting { key: "webrtc_addr", default: None, secret: false, help: "UDP address of WebRTC playback (WHEP) and ingest (WHIP), one port for every session, e.g. 0.0.0.0:8189; default: an ephemeral port on the HTTP address's IP" },
    Setting { key: "webrtc_candidate", default: None, secret: false, help: "The IP:port players and browsers are told to send WebRTC to (behind NAT or a container's port mapping); default: the bound address" },
    Setting { key: "transcode_cpus", default: None, secret: false, help: "CPU cores this node may spend transcoding adaptive-bitrate ladders, e.g. 6 or 2.5; a stream whose ladder does not fit plays at its source bitrate only; default: half the cores; 0: no transcoding" },
    Setting { key: "database_url", default: None, secret: true, help: "`sqlite://PATH` or `postgres://…`; default: SQLite at DATA_DIR/ferrocast.db" },
    Setting { key: "redis_url", default: None, secret: true, help: "Redis for cross-node realtime events (optional)" },
    Setting { key: "public_url", default: None, secret: false, help: "Base URL users reach this node at; default: http://HTTP_ADDR" },
    Setting { key: "secret_key", default: None, secret: true, help: "Master key, 64 hex characters; default: generated into DATA_DIR/master.key on first run" },
    Setting { key: "log_format", default: Some("human"), secret: false, help: "`human` or `json`" },
    Setting { key: "log_level", default: Some("info"), secret: false, help: "tracing filter, e.g. `info` or `ferrocast=debug,info`" },
    Setting { key: "cors_origins", default: Some(""), secret: false, help: "Comma-separated origins allowed to call the API from a browser; empty: same origin only" },
    Setting { key: "smtp_url", default: None, secret: true, help: "`smtp://user:pass@host:587` (STARTTLS), `smtps://…:465` (TLS) or `smtp+plain://…` (tests only); unset: mail is written to the log" },
    Setting { key: "mail_from", default: Some("ferrocast <noreply@localhost>"), secret: false, help: "Sender of account mail" },
    Setting { key: "auth_rate_limit", default: Some("5"), secret: false, help: "Credential requests (login, register, codes) per minute per client address" },
    Setting { key: "api_rate_limit", default: Some("100"), secret: false, help: "Authenticated API requests per minute per user" },
    Setting { key: "search_rate_limit", default: Some("120"), secret: false, help: "Search requests (GET /api/search) per minute per client address; 0: no limit" },
    Setting { key: "max_body_bytes", default: Some("1048576"), secret: false, help: "Largest request body accepted by JSON endpoints" },
    Setting { key: "trusted_proxies", default: Some(""), secret: false, help: "Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed; empty: none" },
    Setting { key: "registration_open", default: Some("true"), secret: false, help: "Whether anyone may register; admins can still create users" },
    Setting { key: "metrics_token", default: None, secret: true, help: "Bearer token Prometheus sends to /metrics; unset: /metrics answers loopback clients only" },
    Setting { key: "http_max_connections_per_ip", default: Some("64"), secret: false, help: "Open HTTP connections per client address (IPv4, or IPv6 /64); 0: no cap" },
    Setting { key: "socketio_max_per_ip", default: Some("16"), secret: false, help: "Open Socket.IO connections per client address (IPv4, or IPv6 /64); 0: no cap" },
    Setting { key: "restream_allowed_ports", default: Some("1935,443,80"), secret: false, help: "Comma-separated ports restream destinations may use; `any` allows every port" },
    Setting { key: "plans_file", default: None, secret: false, help: "TOML file of plans (names, prices, limits, features) replacing the default Free/Pro/Business; see README" },
    Setting { key: "restream_allow_private_targets", default: Some("false"), secret: false, help: "Allow restream destinations on loopback, private and link-local addresses (SSRF guard off); for tests and private networks" },
    Setting { key: "twitch_api_url", default: Some("https://api.twitch.tv/helix"), secret: false, help: "Twitch Helix API base (chat connectors: subscriptions, users, sending)" },
    Setting { key: "twitch_auth_url", default: Some("https://id.twitch.tv/oauth2"), secret: false, help: "Twitch OAuth base: token validation, and /authorize, /token, /keys, /userinfo for sign-in and connecting chat" },
    Setting { key: "twitch_eventsub_url", default: Some("wss://eventsub.wss.twitch.tv/ws"), secret: false, help: "Twitch EventSub WebSocket (incoming chat)" },
    Setting { key: "youtube_api_url", default: Some("https://youtube.googleapis.com/youtube/v3"), secret: false, help: "YouTube Data API base (live chat streaming, polling, sending)" },
    Setting { key: "google_token_url", default: Some("https://oauth2.googleapis.com/token"), secret: false, help: "Google OAuth token endpoint (sign-in, connecting YouTube chat, refreshing YouTube access tokens)" },
    Setting { key: "google_client_id", default: None, secret: false, help: "Google OAuth client id: enables \"Continue with Google\" and connecting YouTube chat from the dashboard; register the redirect URI PUBLIC_URL/api/auth/google/callback" },
    Setting { key: "google_client_secret", default: None, secret: true, help: "Google OAuth client secret, with GOOGLE_CLIENT_ID" },
    Setting { key: "google_auth_url", default: Some("https://accounts.google.com/o/oauth2/v2/auth"), secret: false, help: "Google's OpenID authorization endpoint (the consent page)" },
    Setting { key: "google_jwks_url", default: Some("https://www.googleapis.com/oauth2/v3/certs"), secret: false, help: "Google's JSON Web Key Set, which signs ID tokens" },
    Setting { key: "google_issuer", default: Some("https://accounts.google.com"), secret: false, help: "The `iss` Google's ID tokens must carry (the scheme-less form of the default is accepted too)" },
    Setting { key: "twitch_client_id", default: None, secret: false, help: "Twitch application client id: enables \"Continue with Twitch\" and connecting Twitch chat from the dashboard; register the redirect URI PUBLIC_URL/api/auth/twitch/callback" },
    Setting { key: "twitch_client_secret", default: None, secret: true, help: "Twitch application client secret, with TWITCH_CLIENT_ID" },
    Setting { key: "twitch_issuer", default: Some("https://id.twitch.tv/oauth2"), secret: false, help: "The `iss` Twitch's ID tokens must carry (its authorize, token, keys and userinfo endpoints are under TWITCH_AUTH_URL)" },
    Setting { key: "youtube_client_id", default: None, secret: false, help: "Google OAuth client id, needed to refresh YouTube tokens pasted into the API (without it a connector stops when its access token expires); default: GOOGLE_CLIENT_ID" },
    Setting { key: "youtube_client_secret", default: None, secret: true, help: "Google OAuth client secret, with YOUTUBE_CLIENT_ID" },
    Setting { key: "telegram_bot_token", default: None, secret: true, help: "The Telegram bot's token from @BotFather (`<bot id>:<secret>`); turns on signing in with Telegram (the Login Widget and Mini Apps)" },
    Setting { key: "telegram_bot_username", default: None, secret: false, help: "The bot's username (without `@`), which the Login Widget on the login page names" },
    Setting { key: "telegram_api_url", default: Some("https://api.telegram.org"), secret: false, help: "Telegram Bot API base URL" },
    Setting { key: "telegram_oauth_url", default: Some("https://oauth.telegram.org"), secret: false, help: "Telegram's sign-in page base URL (the login page's \"Continue with Telegram\" goes there)" },
    Setting { key: "telegram_webhook_secret", default: None, secret: true, help: "What Telegram sends in X-Telegram-Bot-Api-Secret-Token with each webhook call (1-256 of A-Z a-z 0-9 _ -); default: derived from the master key" },
    Setting { key: "stripe_secret_key", default: None, secret: true, help: "Stripe secret API key (`sk_…`); with the webhook secret, enables Stripe Checkout" },
    Setting { key: "stripe_webhook_secret", default: None, secret: true, help: "Signing secret (`whsec_…`) of the Stripe webhook endpoint /api/payments/stripe/webhook" },
    Setting { key: "stripe_api_base", default: Some("https://api.stripe.com"), secret: false, help: "Stripe API base URL" },
    Setting { key: "razorpay_key_id", default: None, secret: false, help: "Razorpay key id (`rzp_…`); with the key secret and webhook secret, enables Razorpay" },
    Setting { key: "razorpay_key_secret", default: None, secret: true, help: "Razorpay key secret (API calls and payment signatures)" },
    Setting { key: "razorpay_webhook_secret", default: None, secret: true, help: "Secret of the Razorpay webhook endpoint /api/payments/webhook" },
    Setting { key: "razorpay_api_base", default: Some("https://api.razorpay.com"), secret: false, help: "Razorpay API base URL" },
    Setting { key: "epayco_customer_id", default: None, secret: false, help: "ePayco customer id (P_CUST_ID_CLIENTE); with P_KEY, enables ePayco confirmations" },
    Setting { key: "epayco_p_key", default: None, secret: true, help: "ePayco P_KEY, which signs confirmations" },
    Setting { key: "epayco_api_base", default: Some("https://secure.epayco.co"), secret: false, help: "ePayco base URL whose /validation/v1/reference/{ref} confirms a payment's state" },
    Setting { key: "epayco_public_key", default: None, secret: false, help: "ePayco PUBLIC_KEY (Apify); with the private key and the confirmation keys above, the billing page offers ePayco Smart Checkout" },
    Setting { key: "epayco_private_key", default: None, secret: true, help: "ePayco PRIVATE_KEY, with PUBLIC_KEY the Basic credentials of Apify's login" },
    Setting { key: "epayco_apify_url", default: Some("https://apify.epayco.co"), secret: false, help: "ePayco Apify base URL (POST /login, POST /payment/session/create)" },
    Setting { key: "epayco_checkout_js", default: Some("https://checkout.epayco.co/checkout-v2.js"), secret: false, help: "ePayco's Smart Checkout script, which the billing page loads (its origin is allowed by the page's Content-Security-Policy)" },
    Setting { key: "epayco_test", default: Some("false"), secret: false, help: "`true`: Smart Checkout sessions are ePayco test transactions (sandbox keys)" },
    Setting { key: "payment_grace_days", default: Some("7"), secret: false, help: "Days a subscription whose renewal failed keeps its plan (past_due) before it is canceled" },
    Setting { key: "platform_fee_percent", default: Some("10"), secret: false, help: "The platform's fee on creators' income (tips, memberships, pay-per-view), in percent of what is paid after tax; 0 to 100, two decimals at most" },
    Setting { key: "payout_hold_days", default: Some("7"), secret: false, help: "Days a creator's income is held (pending) before a payout may take it, leaving room for refunds and chargebacks; 0 to 180" },
    Setting { key: "restream_ca_file", default: None, secret: false, help: "PEM file of extra certificate authorities trusted for RTMPS destinations (besides the Mozilla roots)" },
    Setting { key: "storage_url", default: None, secret: false, help: "Where recordings, uploads and videos are stored: `s3://bucket/prefix` (an S3-compatible bucket) or a directory; default: DATA_DIR/objects" },
    Setting { key: "s3_endpoint", default: None, secret: false, help: "S3-compatible endpoint URL (`https://…`, or `http://…` on a private network); unset: AWS S3" },
    Setting { key: "s3_region", default: Some("us-east-1"), secret: false, help: "Region S3 requests are signed for" },
    Setting { key: "s3_access_key_id", default: None, secret: false, help: "S3 access key id (needed with an s3:// STORAGE_URL)" },
    Setting { key: "s3_secret_access_key", default: None, secret: true, help: "S3 secret access key (needed with an s3:// STORAGE_URL)" },
    Setting { key: "job_workers", default: Some("1"), secret: false, help: "Video processing jobs (packaging recordings, transcoding uploads) this node runs at once; 0: none (another node processes)" },
    Setting { key: "job_lease_ms", default: Some("60000"), secret: false, help: "Milliseconds a node holds a job between heartbeats before another node may take it over" },
    Setting { key: "export_ttl_days", default: Some("7"), secret: false, help: "Days a user's data export (the ZIP from Settings → Your data) can be downloaded before it is deleted, 1 to 90" },
    Setting { key: "live_thumbnail_secs", default: Some("60"), secret: false, help: "Seconds between the pictures of a live stream someone looks at (browse cards, link previews): one keyframe decoded each time, 5 to 3600; none for a stream no one asked for in 10 minutes" },
    Setting { key: "vapid_subject", default: None, secret: false, help: "Contact sent to Web Push services with every push (RFC 8292 `sub`): `mailto:you@example.com` or an https URL; default: mailto: and MAIL_FROM's address" },
    Setting { key: "notify_workers", default: Some("2"), secret: false, help: "Notification deliveries (push, email) this node sends at once, and whether it expands go-live fan-outs; 0: none (another node sends)" },
    Setting { key: "notify_retry_ms", default: Some("30000"), secret: false, help: "Milliseconds before a failed push or email is tried again; each further retry waits twice as long, up to an hour" },
    Setting { key: "notify_max_attempts", default: Some("6"), secret: false, help: "Attempts at a push or email before it is given up" },
    Setting { key: "notify_live_window_secs", default: Some("600"), secret: false, help: "A follower is told at most once in this many seconds that a channel went live (a reconnecting encoder does not notify twice)" },
    Setting { key: "notify_digest_hour", default: Some("8"), secret: false, help: "Hour of the day (UTC, 0-23) daily notification digests are emailed" },
    Setting { key: "push_timeout_ms", default: Some("10000"), secret: false, help: "Milliseconds a Web Push service has to accept a message before the attempt counts as failed" },
    Setting { key: "push_allow_private_endpoints", default: Some("false"), secret: false, help: "Accept push endpoints over plain http and on loopback or private addresses (tests, private networks); off, only public https push services are reached" },
    Setting { key: "recording_finish_delay_ms", default: Some("30000"), secret: false, help: "Milliseconds after a live stream ends before its recording is packaged; a republish within it continues the same recording" },
    Setting { key: "tip_min", default: Some("USD:100,INR:5000"), secret: false, help: "Smallest tip per currency, in minor units (`USD:100` is $1.00); the currencies listed are those tips are taken in" },
    Setting { key: "tip_max", default: Some("USD:50000,INR:2500000"), secret: false, help: "Largest tip per currency, in minor units (`USD:50000` is $500.00); every currency of TIP_MIN needs one" },
    Setting { key: "payout_minimum", default: Some("1000"), secret: false, help: "Smallest payout a creator may request, in minor units of its currency (1000: 10.00 USD, 10.00 INR)" },
    Setting { key: "dmca_restore_days", default: Some("14"), secret: false, help: "Days after an uploader's counter-notice before a video disabled by a copyright notice is restored, unless the operator records court action; the same number of days without a counter-notice upholds the takedown (a strike); 1 to 90" },
    Setting { key: "stripe_connect_webhook_secret", default: None, secret: true, help: "Signing secret (`whsec_…`) of the Stripe Connect webhook endpoint /api/payments/stripe/connect/webhook (account.updated for creators' connected accounts); unset: onboarding state is read from Stripe when the creator returns" },
    Setting { key: "audit_key", default: None, secret: true, help: "Ed25519 key that signs the audit log's checkpoints, as its 32-byte seed in 64 hex characters; default: generated into DATA_DIR/audit.key on first run" },
    Setting { key: "audit_checkpoint_minutes", default: Some("60"), secret: false, help: "Minutes between the audit log's signed checkpoints (one is written only when the log grew); 1 to 10080" },
    Setting { key: "backup_schedule", default: None, secret: false, help: "Automatic backups into storage under backups/, and how many of each age are kept: `hourly=24,daily=7,weekly=4` (any of the three); unset: none (needs BACKUP_PASSPHRASE)" },
    Setting { key: "backup_passphrase", default: None, secret: true, help: "Passphrase that encrypts the master and audit keys inside backups (environment or _FILE only, never ferrocast.toml); `backup`/`restore` read standard input when unset" },
    Setting { key: "drain_secs", default: Some("30"), secret: false, help: "Seconds a node takes at most after SIGTERM to drain: /ready answers 503, publishers are closed so encoders reconnect elsewhere, new viewers are refused, running jobs finish or give their lease back, leases are released; 1 to 3600" },
    Setting { key: "ingest_allow", default: Some(""), secret: false, help: "Comma-separated addresses or CIDRs (IPv4 or IPv6) allowed to publish; empty: every address not denied" },
    Setting { key: "ingest_deny", default: Some(""), secret: false, help: "Comma-separated addresses or CIDRs refused publishing (deny wins over allow)" },
    Setting { key: "admin_allow", default: Some(""), secret: false, help: "Comma-separated addresses or CIDRs allowed to call /api/admin/* (behind FERROCAST_TRUSTED_PROXIES: the forwarded client); empty: every address not denied" },
    Setting { key: "admin_deny", default: Some(""), secret: false, help: "Comma-separated addresses or CIDRs refused the admin API /api/admin/* (deny wins over allow)" },
    Setting { key: "node_role", default: Some("origin"), secret: false, help: "`origin` takes publishes from encoders; `edge` takes none and only relays live streams other nodes hold to its own viewers (every node relays a stream it does not hold)" },
    Setting { key: "node_secret", default: None, secret: true, help: "Secret nodes authenticate their pulls of each other's live streams with, at least 32 characters, the same on every node; default: derived from the master key" },
    Setting { key: "node_rtmp_url", default: None, secret: false, help: "How other nodes reach this node over RTMP, `rtmp://host:port`; default: rtmp://RTMP_ADDR" },
    Setting { key: "node_http_url", default: None, secret: false, help: "How other nodes (and the admin nodes page) reach this node over HTTP; default: http://HTTP_ADDR" },
    Setting { key: "node_pull_linger_secs", default: Some("5"), secret: false, help: "Seconds a relayed stream's pull from its origin lasts after the last viewer on this node left; 1 to 3600" },
];

/// A value that must not be printed. `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }
    /// The secret itself; call sites are easy to audit with grep.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a value came from, for `ferrocast doctor` and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The configuration file at this path.
    File(PathBuf),
    /// An environment variable (the name).
    Env(String),
    /// A file named by a `*_FILE` variable or key.
    SecretFile(PathBuf),
    /// A command-line flag.
    Flag,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Env(name) => write!(f, "${name}"),
            Origin::SecretFile(p) => write!(f, "file {}", p.display()),
            Origin::Flag => f.write_str("flag"),
        }
    }
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Which database the node uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded SQLite (the default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The validated configuration of one node.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// RTMP listen address.
    pub rtmp_addr: SocketAddr,
    /// SRT ingest listen address (UDP); `None`: no SRT listener.
    pub srt_addr: Option<SocketAddr>,
    /// Passphrase SRT publishers must encrypt with.
    pub srt_passphrase: Option<Secret<String>>,
    /// WebRTC UDP address; `None`: an ephemeral port on the HTTP address's IP.
    pub webrtc_addr: Option<SocketAddr>,
    /// The address in WebRTC ICE candidates; `None`: the bound one.
    pub webrtc_candidate: Option<SocketAddr>,
    /// CPU cores (thousandths) this node may spend transcoding ladders; `None`: half the cores.
    pub transcode_millicores: Option<u32>,
    /// Database URL, with the SQLite default already filled in.
    pub database_url: Secret<String>,
    /// Optional Redis URL.
    pub redis_url: Option<Secret<String>>,
    /// Public base URL, without a trailing slash.
    pub public_url: String,
    /// Configured master key (64 hex characters), or `None` to use the generated key file.
    pub secret_key: Option<Secret<String>>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter directive.
    pub log_level: String,
    /// Origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// SMTP URL; `None` means the log mailer.
    pub smtp_url: Option<Secret<String>>,
    /// Sender address of account mail.
    pub mail_from: String,
    /// Credential requests per minute per client address (0 disables the limit).
    pub auth_rate_limit: u32,
    /// Authenticated requests per minute per user (0 disables the limit).
    pub api_rate_limit: u32,
    /// Searches per minute per client address (0 disables the limit).
    pub search_rate_limit: u32,
    /// Largest JSON body in bytes.
    pub max_body_bytes: usize,
    /// Whether self-registration is open.
    pub registration_open: bool,
    /// Bearer token for `/metrics`; `None`: loopback clients only.
    pub metrics_token: Option<Secret<String>>,
    /// Open HTTP connections per client address (0: no cap).
    pub http_max_connections_per_ip: usize,
    /// Open Socket.IO connections per client address (0: no cap).
    pub socketio_max_per_ip: usize,
    /// Ports restream destinations may use; empty (`any`): every port.
    pub restream_allowed_ports: Vec<u16>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Plans file replacing the default plans.
    pub plans_file: Option<PathBuf>,
    /// RTMP worker threads; `None`: one fewer than the CPU cores, at least one.
    pub rtmp_workers: Option<usize>,
    /// RTMP connections at most per client address (IPv4 address or IPv6 /64); 0: no limit.
    pub rtmp_max_connections_per_ip: usize,
    /// RTMP connections not yet past `connect` at most per client address; 0: no limit.
    pub rtmp_max_pending_per_ip: usize,
    /// Seconds a publisher or undecided RTMP connection may complete no message.
    pub rtmp_idle_timeout_secs: u64,
    /// Seconds an RTMP peer may accept no data of a write.
    pub rtmp_write_timeout_secs: u64,
    /// How long an idle RTMP worker gathers input before it sleeps (ms, 0: off).
    pub rtmp_coalesce_ms: u64,
    /// Whether restream destinations may be private addresses.
    pub restream_allow_private_targets: bool,
    /// Extra CA certificates (PEM) for RTMPS destinations.
    pub restream_ca_file: Option<PathBuf>,
    /// Where the chat connectors reach Twitch and YouTube.
    pub platforms: PlatformEndpoints,
    /// Payment gateways; a gateway without keys is disabled.
    pub payments: PaymentGateways,
    /// Sign-in providers (and the OAuth clients that connect chat); one without keys is off.
    pub identity: IdentityProviders,
    /// The Telegram bot (sign-in with Telegram), if its token is set.
    pub telegram: Option<TelegramBot>,
    /// Where recordings, uploads and videos are stored.
    pub storage: StorageSettings,
    /// Video processing jobs this node runs at once (0: none).
    pub job_workers: usize,
    /// Milliseconds a job's lease lasts (renewed by heartbeats a third as often).
    pub job_lease_ms: u64,
    /// Milliseconds after a live stream ends before its recording is packaged.
    pub recording_finish_delay_ms: u64,
    /// Seconds between the pictures made of each live stream.
    pub live_thumbnail_secs: u64,
    /// Days a data export can be downloaded before it is deleted.
    pub export_ttl_days: u64,
    /// Days between a counter-notice and the restore of a video disabled by a copyright notice.
    pub dmca_restore_days: i64,
    /// The audit log's signing key (a 64-hex-digit seed), or `None` for DATA_DIR/audit.key.
    pub audit_key: Option<Secret<String>>,
    /// Minutes between the audit log's checkpoints.
    pub audit_checkpoint_minutes: u64,
    /// Notifications: delivery, retries, Web Push.
    pub notify: NotifySettings,
    /// The smallest and largest tip per currency.
    pub tips: TipLimits,
    /// Backups: schedule and passphrase.
    pub backup: BackupSettings,
    /// Draining and the ingest and admin address lists.
    pub ops: OpsSettings,
    /// Origin and edge: this node's role, the node secret, how other nodes reach it.
    pub nodes: NodeSettings,
    /// Where each setting's value came from.
    pub origins: BTreeMap<&'static str, Origin>,
}

/// Notifications: `FERROCAST_NOTIFY_*`, `FERROCAST_PUSH_*` and `FERROCAST_VAPID_SUBJECT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// The VAPID `sub` claim: `mailto:…` or `https://…`.
    pub vapid_subject: String,
    /// Delivery workers on this node (0: none).
    pub workers: usize,
    /// The first retry's wait (ms).
    pub retry_ms: u64,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
    /// One go-live notice per channel and follower within this many seconds.
    pub live_window_secs: u64,
    /// The hour (UTC) digests go out.
    pub digest_hour: u32,
    /// How long a push service has to answer (ms).
    pub push_timeout_ms: u64,
    /// Whether http and private push endpoints are accepted.
    pub push_allow_private_endpoints: bool,
}

/// Object storage: `FERROCAST_STORAGE_URL` and the `FERROCAST_S3_*` settings. The storage crate
/// opens the store from these; here they are only checked for shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// `s3://bucket/prefix`, a directory or `file:DIR`; `None`: `DATA_DIR/objects`.
    pub url: Option<String>,
    /// S3-compatible endpoint, without a trailing slash; `None`: AWS S3.
    pub s3_endpoint: Option<String>,
    /// Region requests are signed for.
    pub s3_region: String,
    /// Access key id.
    pub s3_access_key_id: Option<String>,
    /// Secret access key.
    pub s3_secret_access_key: Option<Secret<String>>,
}

/// Base URLs of the platforms whose chat connectors talk to (configurable so tests and
/// proxies can stand in), and the OAuth client used to refresh YouTube tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformEndpoints {
    /// Twitch Helix, without a trailing slash.
    pub twitch_api: String,
    /// Twitch OAuth, without a trailing slash.
    pub twitch_auth: String,
    /// Twitch EventSub WebSocket URL.
    pub twitch_eventsub: String,
    /// YouTube Data API v3, without a trailing slash.
    pub youtube_api: String,
    /// Google's OAuth token endpoint.
    pub google_token: String,
    /// Google OAuth client id and secret, if refreshing is configured.
    pub youtube_client: Option<(String, Secret<String>)>,
}

/// One OpenID Connect provider's client and endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// Our client id.
    pub client_id: String,
    /// Our client secret.
    pub client_secret: Secret<String>,
    /// Authorization endpoint (the consent page).
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// JSON Web Key Set.
    pub jwks_url: String,
    /// UserInfo endpoint, when sign-in reads the email there (Twitch).
    pub userinfo_url: Option<String>,
    /// Accepted `iss` values.
    pub issuers: Vec<String>,
}

/// The sign-in providers this node offers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentityProviders {
    /// Google, if configured.
    pub google: Option<OidcProvider>,
    /// Twitch, if configured.
    pub twitch: Option<OidcProvider>,
}

/// The Telegram bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramBot {
    /// Its token (`<bot id>:<secret>`): signs the Login Widget's and Mini Apps' data.
    pub token: Secret<String>,
    /// Its username, without `@`.
    pub username: Option<String>,
    /// The Bot API's base URL.
    pub api_url: String,
    /// Telegram's sign-in page base URL (`https://oauth.telegram.org`).
    pub oauth_url: String,
    /// The webhook's secret token, if set (else one derived from the master key).
    pub webhook_secret: Option<Secret<String>>,
}

/// Stripe's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeKeys {
    /// Secret API key.
    pub secret_key: Secret<String>,
    /// Webhook signing secret.
    pub webhook_secret: Secret<String>,
    /// API base, without a trailing slash.
    pub api_base: String,
}

/// Razorpay's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RazorpayKeys {
    /// Key id (public: Checkout needs it).
    pub key_id: String,
    /// Key secret.
    pub key_secret: Secret<String>,
    /// Webhook secret.
    pub webhook_secret: Secret<String>,
    /// API base, without a trailing slash.
    pub api_base: String,
}

/// ePayco's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpaycoKeys {
    /// P_CUST_ID_CLIENTE.
    pub customer_id: String,
    /// P_KEY.
    pub p_key: Secret<String>,
    /// Base URL of the validation API, without a trailing slash.
    pub api_base: String,
    /// Smart Checkout, if its keys are set too: payments can start from the billing page.
    pub checkout: Option<EpaycoCheckout>,
}

/// ePayco Smart Checkout: Apify's credentials and the script the page loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpaycoCheckout {
    /// PUBLIC_KEY.
    pub public_key: String,
    /// PRIVATE_KEY.
    pub private_key: Secret<String>,
    /// Apify's base URL, without a trailing slash.
    pub apify_url: String,
    /// The checkout script's URL.
    pub script_url: String,
    /// Test transactions.
    pub test: bool,
}

/// The payment gateways this node may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentGateways {
    /// Stripe, if configured.
    pub stripe: Option<StripeKeys>,
    /// Razorpay, if configured.
    pub razorpay: Option<RazorpayKeys>,
    /// ePayco, if configured.
    pub epayco: Option<EpaycoKeys>,
    /// Days a subscription whose renewal failed keeps its plan.
    pub grace_days: i64,
    /// The platform's fee on creators' income, in basis points (1000 = 10 %).
    pub platform_fee_bps: i64,
    /// Days creators' income is held before it may be paid out.
    pub payout_hold_days: i64,
    /// Smallest payout a creator may request, in minor units.
    pub payout_minimum: i64,
    /// Signing secret of the Stripe Connect webhook endpoint, if set.
    pub stripe_connect_webhook_secret: Option<Secret<String>>,
}

/// A percentage with at most two decimals ("10", "7.5", "12.25") in basis points, 0 to 10000.
fn percent_bps(s: &str) -> Option<i64> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || whole.len() > 3 || frac.len() > 2 {
        return None;
    }
    if !whole
        .bytes()
        .chain(frac.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let f: i64 = format!("{frac:0<2}").parse().ok()?;
    let bps = w * 100 + f;
    (0..=10_000).contains(&bps).then_some(bps)
}

impl Config {
    /// The database backend the URL selects.
    pub fn database_kind(&self) -> DatabaseKind {
        database_kind(self.database_url.expose())
    }
    /// Path of the generated master key file.
    pub fn master_key_path(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }
    /// Path of the generated audit signing key file.
    pub fn audit_key_path(&self) -> PathBuf {
        self.data_dir.join("audit.key")
    }
    /// Loads defaults → file → environment → flags and validates the result.
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let layered = Layered::collect(sources)?;
        layered.validate()
    }
}

/// The environment variable of a setting (`http_addr` → `FERROCAST_HTTP_ADDR`).
fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

fn database_kind(url: &str) -> DatabaseKind {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        DatabaseKind::Postgres
    } else {
        DatabaseKind::Sqlite
    }
}

/// The inputs of [`Config::load`]. Tests build this directly instead of touching the process
/// environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Explicit configuration file (`--config`); an explicit file must exist.
    pub config_file: Option<PathBuf>,
    /// Directory searched for `ferrocast.toml` when no file is named.
    pub working_dir: Option<PathBuf>,
    /// Environment variables (usually `std::env::vars()`).
    pub env: BTreeMap<String, String>,
    /// Flag values by setting key.
    pub flags: BTreeMap<String, String>,
}

impl Sources {
    /// Sources from the real process: its environment and working directory.
    pub fn from_process(config_file: Option<PathBuf>, flags: BTreeMap<String, String>) -> Self {
        let env = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        let config_file =
            config_file.or_else(|| std::env::var_os("FERROCAST_CONFIG").map(PathBuf::from));
        Self {
            config_file,
            working_dir: std::env::current_dir().ok(),
            env,
            flags,
        }
    }
}

/// Everything wrong with a configuration, reported together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read or parsed.
    #[error("configuration file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// One or more settings are invalid.
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

struct Layered {
    values: BTreeMap<&'static str, (String, Origin)>,
}

fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

fn toml_to_string(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(toml_to_string).collect();
            parts.map(|p| p.join(","))
        }
        _ => None,
    }
}

impl Layered {
    fn collect(sources: &Sources) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<&'static str, (String, Origin)> = BTreeMap::new();
        let mut problems = Vec::new();
        for s in SETTINGS {
            if let Some(d) = s.default {
                values.insert(s.key, (d.to_string(), Origin::Default));
            }
        }

        // File.
        let file = match &sources.config_file {
            Some(p) => Some((p.clone(), true)),
            None => sources
                .working_dir
                .as_ref()
                .map(|d| (d.join(DEFAULT_CONFIG_FILE), false)),
        };
        if let Some((path, explicit)) = file {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let table: toml::Table =
                        text.parse()
                            .map_err(|e: toml::de::Error| ConfigError::File {
                                path: path.clone(),
                                message: e.to_string(),
                            })?;
                    for (k, v) in &table {
                        let (key, from_file) = match k.strip_suffix("_file") {
                            Some(base) if setting(base).is_some_and(|s| s.secret) => (base, true),
                            _ => (k.as_str(), false),
                        };
                        let Some(s) = setting(key) else {
                            problems.push(format!("{}: unknown key `{k}`", path.display()));
                            continue;
                        };
                        let Some(text) = toml_to_string(v) else {
                            problems.push(format!(
                                "{}: `{k}` must be a string, number, boolean or list",
                                path.display()
                            ));
                            continue;
                        };
                        if from_file {
                            match read_secret_file(Path::new(&text)) {
                                Ok(secret) => {
                                    values.insert(
                                        s.key,
                                        (secret, Origin::SecretFile(PathBuf::from(&text))),
                                    );
                                }
                                Err(e) => problems.push(format!("{}: `{k}`: {e}", path.display())),
                            }
                        } else {
                            values.insert(s.key, (text, Origin::File(path.clone())));
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
                Err(e) => {
                    return Err(ConfigError::File {
                        path,
                        message: e.to_string(),
                    });
                }
            }
        }

        // Environment.
        for (name, value) in &sources.env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let lower = rest.to_ascii_lowercase();
            if lower == "config" {
                continue;
            }
            let (key, from_file) = match lower.strip_suffix("_file") {
                Some(base) if setting(base).is_some_and(|s| s.secret) => (base.to_string(), true),
                _ => (lower, false),
            };
            let Some(s) = setting(&key) else {
                problems.push(format!("unknown environment variable {name}"));
                continue;
            };
            if from_file {
                match read_secret_file(Path::new(value)) {
                    Ok(secret) => {
                        values.insert(s.key, (secret, Origin::SecretFile(PathBuf::from(value))));
                    }
                    Err(e) => problems.push(format!("{name}: {e}")),
                }
            } else {
                values.insert(s.key, (value.clone(), Origin::Env(name.clone())));
            }
        }

        // Flags.
        for (key, value) in &sources.flags {
            match setting(key) {
                Some(s) => {
                    values.insert(s.key, (value.clone(), Origin::Flag));
                }
                None => problems.push(format!("unknown setting `{key}` given as a flag")),
            }
        }

        if problems.is_empty() {
            Ok(Self { values })
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Each gateway is on when all of its keys are set, off when none are; some but not all
    /// is a problem naming the missing ones.
    fn payment_gateways(&self, problems: &mut Vec<String>) -> PaymentGateways {
        let mut group = |keys: &[&'static str]| -> Option<Vec<String>> {
            let values: Vec<Option<&str>> = keys.iter().map(|k| self.get(k)).collect();
            if values.iter().all(Option::is_none) {
                return None;
            }
            let missing: Vec<String> = keys
                .iter()
                .zip(&values)
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| env_name(k))
                .collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "{} go together; missing: {}",
                    keys.iter()
                        .map(|k| env_name(k))
                        .collect::<Vec<_>>()
                        .join(", "),
                    missing.join(", ")
                ));
                return None;
            }
            Some(
                values
                    .into_iter()
                    .map(|v| v.unwrap_or_default().to_owned())
                    .collect(),
            )
        };
        let stripe_keys = group(&["stripe_secret_key", "stripe_webhook_secret"]);
        let razorpay_keys = group(&[
            "razorpay_key_id",
            "razorpay_key_secret",
            "razorpay_webhook_secret",
        ]);
        let epayco_keys = group(&["epayco_customer_id", "epayco_p_key"]);
        let epayco_checkout_keys = group(&["epayco_public_key", "epayco_private_key"]);
        let mut base = |key: &'static str, default: &str| {
            let v = self.get(key).unwrap_or(default);
            if !(v.starts_with("https://") || v.starts_with("http://")) {
                problems.push(format!(
                    "{} must start with https:// or http://",
                    env_name(key)
                ));
            }
            v.trim_end_matches('/').to_owned()
        };
        let stripe_base = base("stripe_api_base", "https://api.stripe.com");
        let razorpay_base = base("razorpay_api_base", "https://api.razorpay.com");
        let epayco_base = base("epayco_api_base", "https://secure.epayco.co");
        let apify_url = base("epayco_apify_url", "https://apify.epayco.co");
        let checkout_js = base(
            "epayco_checkout_js",
            "https://checkout.epayco.co/checkout-v2.js",
        );
        let epayco_test = match self.get("epayco_test").unwrap_or("false") {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                problems.push(format!("{} must be true or false", env_name("epayco_test")));
                false
            }
        };
        if epayco_checkout_keys.is_some() && epayco_keys.is_none() {
            problems.push(format!(
                "{} and {} need {} and {}: without them ePayco's confirmations cannot be verified",
                env_name("epayco_public_key"),
                env_name("epayco_private_key"),
                env_name("epayco_customer_id"),
                env_name("epayco_p_key"),
            ));
        }
        let epayco_checkout = epayco_checkout_keys.map(|v| {
            let mut v = v.into_iter();
            EpaycoCheckout {
                public_key: v.next().unwrap_or_default(),
                private_key: Secret::new(v.next().unwrap_or_default()),
                apify_url,
                script_url: checkout_js,
                test: epayco_test,
            }
        });
        let grace_days = match self.get("payment_grace_days").unwrap_or("7").parse::<i64>() {
            Ok(d @ 0..=90) => d,
            _ => {
                problems.push(format!(
                    "{} must be a number of days from 0 to 90",
                    env_name("payment_grace_days")
                ));
                7
            }
        };
        let platform_fee_bps = match percent_bps(self.get("platform_fee_percent").unwrap_or("10")) {
            Some(b) => b,
            None => {
                problems.push(format!(
                    "{} must be a percentage from 0 to 100 with at most two decimals (e.g. 10 or 7.5)",
                    env_name("platform_fee_percent")
                ));
                1000
            }
        };
        let payout_hold_days = match self.get("payout_hold_days").unwrap_or("7").parse::<i64>() {
            Ok(d @ 0..=180) => d,
            _ => {
                problems.push(format!(
                    "{} must be a number of days from 0 to 180",
                    env_name("payout_hold_days")
                ));
                7
            }
        };
        let payout_minimum = match self.get("payout_minimum").unwrap_or("1000").parse::<i64>() {
            Ok(m @ 1..=100_000_000) => m,
            _ => {
                problems.push(format!(
                    "{} must be a whole number of minor units from 1 to 100000000",
                    env_name("payout_minimum")
                ));
                1000
            }
        };
        let stripe_connect_webhook_secret = self
            .get("stripe_connect_webhook_secret")
            .map(|s| Secret::new(s.to_owned()));
        let secret = |v: &mut std::vec::IntoIter<String>| Secret::new(v.next().unwrap_or_default());
        PaymentGateways {
            stripe: stripe_keys.map(|v| {
                let mut v = v.into_iter();
                StripeKeys {
                    secret_key: secret(&mut v),
                    webhook_secret: secret(&mut v),
                    api_base: stripe_base,
                }
            }),
            razorpay: razorpay_keys.map(|v| {
                let mut v = v.into_iter();
                RazorpayKeys {
                    key_id: v.next().unwrap_or_default(),
                    key_secret: secret(&mut v),
                    webhook_secret: secret(&mut v),
                    api_base: razorpay_base,
                }
            }),
            epayco: epayco_keys.map(|v| {
                let mut v = v.into_iter();
                EpaycoKeys {
                    customer_id: v.next().unwrap_or_default(),
                    p_key: secret(&mut v),
                    api_base: epayco_base,
                    checkout: epayco_checkout,
                }
            }),
            grace_days,
            platform_fee_bps,
            payout_hold_days,
            payout_minimum,
            stripe_connect_webhook_secret,
        }
    }

    fn validate(self) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();

        fn parse<T: std::str::FromStr>(
            l: &Layered,
            key: &str,
            problems: &mut Vec<String>,
            what: &str,
            fallback: T,
        ) -> T {
            match l.get(key) {
                None => fallback,
                Some(v) => v.parse().unwrap_or_else(|_| {
                    problems.push(format!(
                        "{} ({}) = {:?} is not {what}",
                        format_args!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
                        l.values
                            .get(key)
                            .map(|(_, o)| o.to_string())
                            .unwrap_or_default(),
                        v
                    ));
                    fallback
                }),
            }
        }

        let fallback_addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        let data_dir = PathBuf::from(self.get("data_dir").unwrap_or("./data"));
        let http_addr = parse(
            &self,
            "http_addr",
            &mut problems,
            "a socket address such as 127.0.0.1:8080",
            fallback_addr,
        );
        let rtmp_addr = parse(
            &self,
            "rtmp_addr",
            &mut problems,
            "a socket address such as 127.0.0.1:1935",
            fallback_addr,
        );
        let srt_addr = self.get("srt_addr").map(|_| {
            parse(
                &self,
                "srt_addr",
                &mut problems,
                "a socket address such as 127.0.0.1:9000",
                fallback_addr,
            )
        });
        let srt_passphrase = self.get("srt_passphrase").map(str::to_owned);
        if let Some(p) = &srt_passphrase {
            if !(10..=79).contains(&p.chars().count()) {
                problems.push(format!(
                    "{} must be 10 to 79 characters long (SRT's limits), not {}",
                    env_name("srt_passphrase"),
                    p.chars().count()
                ));
            }
        }
        let webrtc_addr = self.get("webrtc_addr").map(|_| {
            parse(
                &self,
                "webrtc_addr",
                &mut problems,
                "a socket address such as 0.0.0.0:8189",
                fallback_addr,
            )
        });
        let webrtc_candidate = self.get("webrtc_candidate").map(|_| {
            parse(
                &self,
                "webrtc_candidate",
                &mut problems,
                "an IP and port such as 203.0.113.7:8189",
                fallback_addr,
            )
        });
        let transcode_millicores = self.get("transcode_cpus").and_then(|v| {
            match v.trim().parse::<f64>() {
                Ok(c) if (0.0..=4096.0).contains(&c) => Some((c * 1000.0).round() as u32),
                _ => {
                    problems.push(format!(
                        "{} must be a number of CPU cores from 0 to 4096, such as 2 or 2.5, not {v:?}",
                        env_name("transcode_cpus")
                    ));
                    None
                }
            }
        });
        if http_addr == rtmp_addr && http_addr.port() != 0 {
            problems.push(format!(
                "{} and {} must differ",
                env_name("http_addr"),
                env_name("rtmp_addr")
            ));
        }

        let database_url = match self.get("database_url") {
            Some(url) => {
                let ok = url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://");
                if !ok {
                    problems.push(format!(
                        "{} must start with sqlite:// or postgres:// (got a URL with scheme {:?})",
                        env_name("database_url"),
                        url.split(':').next().unwrap_or("")
                    ));
                }
                url.to_string()
            }
            None => format!("sqlite://{}", data_dir.join("ferrocast.db").display()),
        };

        let redis_url = self.get("redis_url").map(|u| {
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                problems.push(format!(
                    "{} must start with redis:// or rediss://",
                    env_name("redis_url")
                ));
            }
            Secret::new(u.to_string())
        });

        let public_url = match self.get("public_url") {
            Some(u) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    problems.push(format!(
                        "{} must start with http:// or https://",
                        env_name("public_url")
                    ));
                }
                u.trim_end_matches('/').to_string()
            }
            None => format!("http://{http_addr}"),
        };

        let secret_key = self.get("secret_key").map(|k| {
            if let Err(e) = validate_secret_key(k) {
                problems.push(format!("{}: {e}", env_name("secret_key")));
            }
            Secret::new(k.to_string())
        });

        let log_format = match self.get("log_format").unwrap_or("human") {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => {
                problems.push(format!(
                    "{} must be `human` or `json`, not {other:?}",
                    env_name("log_format")
                ));
                LogFormat::Human
            }
        };
        let log_level = self.get("log_level").unwrap_or("info").to_string();

        let cors_origins: Vec<String> = self
            .get("cors_origins")
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        for o in &cors_origins {
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                problems.push(format!(
                    "{}: {o:?} is not an origin like https://example.com",
                    env_name("cors_origins")
                ));
            }
        }

        let smtp_url = self.get("smtp_url").map(|u| {
            if !(u.starts_with("smtp://")
                || u.starts_with("smtps://")
                || u.starts_with("smtp+plain://"))
            {
                problems.push(format!(
                    "{} must start with smtp://, smtps:// or smtp+plain://",
                    env_name("smtp_url")
                ));
            }
            Secret::new(u.to_string())
        });
        let mail_from = self
            .get("mail_from")
            .unwrap_or("ferrocast <noreply@localhost>")
            .to_string();
        let auth_rate_limit = parse(
            &self,
            "auth_rate_limit",
            &mut problems,
            "a whole number",
            5u32,
        );
        let api_rate_limit = parse(
            &self,
            "api_rate_limit",
            &mut problems,
            "a whole number",
            100u32,
        );
        let search_rate_limit = parse(
            &self,
            "search_rate_limit",
            &mut problems,
            "a whole number",
            120u32,
        );
        let max_body_bytes = parse(
            &self,
            "max_body_bytes",
            &mut problems,
            "a number of bytes",
            1_048_576usize,
        );
        if max_body_bytes < 1024 {
            problems.push(format!(
                "{} must be at least 1024",
                env_name("max_body_bytes")
            ));
        }
        let registration_open = parse(
            &self,
            "registration_open",
            &mut problems,
            "`true` or `false`",
            true,
        );
        let metrics_token = self
            .get("metrics_token")
            .filter(|t| !t.is_empty())
            .map(|t| {
                if t.len() < 16 {
                    problems.push(format!(
                        "{} must be at least 16 characters; generate one with `openssl rand -hex 32`",
                        env_name("metrics_token")
                    ));
                }
                Secret::new(t.to_string())
            });
        let http_max_connections_per_ip = parse(
            &self,
            "http_max_connections_per_ip",
            &mut problems,
            "a whole number",
            64usize,
        );
        let socketio_max_per_ip = parse(
            &self,
            "socketio_max_per_ip",
            &mut problems,
            "a whole number",
            16usize,
        );
        let mut restream_allowed_ports = Vec::new();
        let ports = self.get("restream_allowed_ports").unwrap_or("1935,443,80");
        for item in ports
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("any"))
        {
            match item.parse::<u16>() {
                Ok(p) if p > 0 => restream_allowed_ports.push(p),
                _ => problems.push(format!(
                    "{} has {item:?}, which is not a port (1 to 65535)",
                    env_name("restream_allowed_ports")
                )),
            }
        }
        let mut trusted_proxies = Vec::new();
        for item in self
            .get("trusted_proxies")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match item.parse::<IpNet>() {
                Ok(net) => trusted_proxies.push(net),
                Err(()) => problems.push(format!(
                    "{}: {item:?} is not an address or CIDR such as 10.0.0.0/8",
                    env_name("trusted_proxies")
                )),
            }
        }

        let restream_allow_private_targets = parse(
            &self,
            "restream_allow_private_targets",
            &mut problems,
            "`true` or `false`",
            false,
        );
        let rtmp_workers = match self.get("rtmp_workers").filter(|s| !s.is_empty()) {
            None => None,
            Some(v) => match v.parse::<usize>() {
                Ok(n @ 1..=1024) => Some(n),
                _ => {
                    problems.push(format!(
                        "{}: {v:?} is not a number of threads from 1 to 1024",
                        env_name("rtmp_workers")
                    ));
                    None
                }
            },
        };
        let job_workers = parse(
            &self,
            "job_workers",
            &mut problems,
            "a whole number of workers",
            1usize,
        )
        .min(64);
        let job_lease_ms = parse(
            &self,
            "job_lease_ms",
            &mut problems,
            "a whole number of milliseconds",
            60_000u64,
        )
        .clamp(1_000, 3_600_000);
        let vapid_subject = match self
            .get("vapid_subject")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(v) if v.starts_with("mailto:") || v.starts_with("https://") => v.to_string(),
            Some(v) => {
                problems.push(format!(
                    "{}: {v:?} is not a contact; use mailto:you@example.com or an https:// URL",
                    env_name("vapid_subject")
                ));
                String::new()
            }
            None => {
                let from = mail_from.as_str();
                let address = match (from.rfind('<'), from.rfind('>')) {
                    (Some(a), Some(b)) if a < b => &from[a + 1..b],
                    _ => from.trim(),
                };
                format!("mailto:{address}")
            }
        };
        let notify = NotifySettings {
            vapid_subject,
            workers: parse(
                &self,
                "notify_workers",
                &mut problems,
                "a whole number of workers",
                2usize,
            )
            .min(64),
            retry_ms: parse(
                &self,
                "notify_retry_ms",
                &mut problems,
                "a whole number of milliseconds",
                30_000u64,
            )
            .clamp(10, 3_600_000),
            max_attempts: parse(
                &self,
                "notify_max_attempts",
                &mut problems,
                "a whole number of attempts",
                6u32,
            )
            .clamp(1, 50),
            live_window_secs: parse(
                &self,
                "notify_live_window_secs",
                &mut problems,
                "a whole number of seconds",
                600u64,
            )
            .min(86_400),
            digest_hour: match parse(
                &self,
                "notify_digest_hour",
                &mut problems,
                "an hour from 0 to 23",
                8u32,
            ) {
                h @ 0..=23 => h,
                h => {
                    problems.push(format!(
                        "{}: {h} is not an hour from 0 to 23",
                        env_name("notify_digest_hour")
                    ));
                    8
                }
            },
            push_timeout_ms: parse(
                &self,
                "push_timeout_ms",
                &mut problems,
                "a whole number of milliseconds",
                10_000u64,
            )
            .clamp(100, 120_000),
            push_allow_private_endpoints: parse(
                &self,
                "push_allow_private_endpoints",
                &mut problems,
                "`true` or `false`",
                false,
            ),
        };
        let recording_finish_delay_ms = parse(
            &self,
            "recording_finish_delay_ms",
            &mut problems,
            "a whole number of milliseconds",
            30_000u64,
        )
        .min(3_600_000);
        let export_ttl_days = parse(
            &self,
            "export_ttl_days",
            &mut problems,
            "a whole number of days",
            7u64,
        )
        .clamp(1, 90);
        let live_thumbnail_secs = parse(
            &self,
            "live_thumbnail_secs",
            &mut problems,
            "a whole number of seconds",
            60u64,
        )
        .clamp(5, 3_600);
        let dmca_restore_days = parse(
            &self,
            "dmca_restore_days",
            &mut problems,
            "a whole number of days",
            14i64,
        )
        .clamp(1, 90);
        let audit_key = self.get("audit_key").map(|k| {
            if let Err(e) = validate_secret_key(k) {
                problems.push(format!("{}: {e}", env_name("audit_key")));
            }
            Secret::new(k.to_string())
        });
        let audit_checkpoint_minutes = parse(
            &self,
            "audit_checkpoint_minutes",
            &mut problems,
            "a whole number of minutes",
            60u64,
        )
        .clamp(1, 10_080);
        let rtmp_max_connections_per_ip = parse(
            &self,
            "rtmp_max_connections_per_ip",
            &mut problems,
            "a whole number of connections (0: no limit)",
            32usize,
        );
        let rtmp_max_pending_per_ip = parse(
            &self,
            "rtmp_max_pending_per_ip",
            &mut problems,
            "a whole number of connections (0: no limit)",
            8usize,
        );
        let mut seconds = |key: &'static str| {
            let v = parse(
                &self,
                key,
                &mut problems,
                "a whole number of seconds",
                10u64,
            );
            if !(1..=3600).contains(&v) {
                problems.push(format!("{} must be from 1 to 3600 seconds", env_name(key)));
            }
            v
        };
        let rtmp_idle_timeout_secs = seconds("rtmp_idle_timeout_secs");
        let rtmp_write_timeout_secs = seconds("rtmp_write_timeout_secs");
        let rtmp_coalesce_ms = match self.get("rtmp_coalesce_ms").filter(|s| !s.is_empty()) {
            None => 5,
            Some(v) => match v.parse::<u64>() {
                Ok(n @ 0..=20) => n,
                _ => {
                    problems.push(format!(
                        "{}: {v:?} is not a number of milliseconds from 0 to 20",
                        env_name("rtmp_coalesce_ms")
                    ));
                    5
                }
            },
        };
        let plans_file = self
            .get("plans_file")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let restream_ca_file = self
            .get("restream_ca_file")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);

        let mut endpoint = |key: &'static str, default: &str, schemes: &[&str]| {
            let v = self.get(key).filter(|s| !s.is_empty()).unwrap_or(default);
            if !schemes.iter().any(|s| v.starts_with(s)) {
                problems.push(format!(
                    "{} must start with {}",
                    env_name(key),
                    schemes.join(" or ")
                ));
            }
            v.trim_end_matches('/').to_string()
        };
        let web = &["https://", "http://"];
        let telegram_api = endpoint("telegram_api_url", "https://api.telegram.org", web);
        let telegram_oauth = endpoint("telegram_oauth_url", "https://oauth.telegram.org", web);
        let twitch_api = endpoint("twitch_api_url", "https://api.twitch.tv/helix", web);
        let twitch_auth = endpoint("twitch_auth_url", "https://id.twitch.tv/oauth2", web);
        let twitch_eventsub = endpoint(
            "twitch_eventsub_url",
            "wss://eventsub.wss.twitch.tv/ws",
            &["wss://", "ws://"],
        );
        let youtube_api = endpoint(
            "youtube_api_url",
            "https://youtube.googleapis.com/youtube/v3",
            web,
        );
        let google_token = endpoint(
            "google_token_url",
            "https://oauth2.googleapis.com/token",
            web,
        );
        let google_auth = endpoint(
            "google_auth_url",
            "https://accounts.google.com/o/oauth2/v2/auth",
            web,
        );
        let google_jwks = endpoint(
            "google_jwks_url",
            "https://www.googleapis.com/oauth2/v3/certs",
            web,
        );
        let google_issuer = self
            .get("google_issuer")
            .unwrap_or("https://accounts.google.com")
            .to_string();
        let twitch_issuer = self
            .get("twitch_issuer")
            .unwrap_or("https://id.twitch.tv/oauth2")
            .to_string();
        let telegram = match self
            .get("telegram_bot_token")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(token) => {
                let shaped = token.split_once(':').is_some_and(|(id, secret)| {
                    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && secret.len() >= 20
                });
                if !shaped {
                    problems.push(format!(
                        "{} is not a bot token: @BotFather gives it as <bot id>:<secret>",
                        env_name("telegram_bot_token")
                    ));
                }
                Some(TelegramBot {
                    token: Secret::new(token.to_string()),
                    username: self
                        .get("telegram_bot_username")
                        .map(|u| u.trim().trim_start_matches('@').to_string())
                        .filter(|u| !u.is_empty()),
                    api_url: telegram_api,
                    oauth_url: telegram_oauth,
                    webhook_secret: match self
                        .get("telegram_webhook_secret")
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                    {
                        Some(v)
                            if v.len() <= 256
                                && v.bytes().all(|b| {
                                    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
                                }) =>
                        {
                            Some(Secret::new(v.to_string()))
                        }
                        Some(_) => {
                            problems.push(format!(
                                "{} must be 1 to 256 of A-Z, a-z, 0-9, _ and - (Telegram's rule)",
                                env_name("telegram_webhook_secret")
                            ));
                            None
                        }
                        None => None,
                    },
                })
            }
            None => None,
        };
        let mut pair = |id_key: &'static str, secret_key: &'static str| match (
            self.get(id_key).filter(|s| !s.is_empty()),
            self.get(secret_key).filter(|s| !s.is_empty()),
        ) {
            (Some(id), Some(secret)) => Some((id.to_string(), Secret::new(secret.to_string()))),
            (None, None) => None,
            _ => {
                problems.push(format!(
                    "{} and {} go together: set both or neither",
                    env_name(id_key),
                    env_name(secret_key)
                ));
                None
            }
        };
        let google_client = pair("google_client_id", "google_client_secret");
        let twitch_client = pair("twitch_client_id", "twitch_client_secret");
        // A YouTube token is refreshed with the client that issued it: the Google sign-in
        // client issues the tokens of chat connected from the dashboard.
        let youtube_client =
            pair("youtube_client_id", "youtube_client_secret").or_else(|| google_client.clone());
        let identity = IdentityProviders {
            google: google_client.map(|(client_id, client_secret)| OidcProvider {
                client_id,
                client_secret,
                authorize_url: google_auth,
                token_url: google_token.clone(),
                jwks_url: google_jwks,
                userinfo_url: None,
                issuers: if google_issuer == "https://accounts.google.com" {
                    vec![google_issuer.clone(), "accounts.google.com".into()]
                } else {
                    vec![google_issuer.clone()]
                },
            }),
            twitch: twitch_client.map(|(client_id, client_secret)| OidcProvider {
                client_id,
                client_secret,
                authorize_url: format!("{twitch_auth}/authorize"),
                token_url: format!("{twitch_auth}/token"),
                jwks_url: format!("{twitch_auth}/keys"),
                userinfo_url: Some(format!("{twitch_auth}/userinfo")),
                issuers: vec![twitch_issuer.clone()],
            }),
        };
        let payments = self.payment_gateways(&mut problems);
        let tips = self.tip_limits(&mut problems);
        let storage = self.storage(&mut problems);
        let backup = self.backup(&mut problems);
        let ops = ops::load(&self, &mut problems);
        let nodes = self.nodes(&mut problems);
        let platforms = PlatformEndpoints {
            twitch_api,
            twitch_auth,
            twitch_eventsub,
            youtube_api,
            google_token,
            youtube_client,
        };

        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        let origins = self
            .values
            .iter()
            .map(|(k, (_, o))| (*k, o.clone()))
            .collect();
        Ok(Config {
            data_dir,
            http_addr,
            rtmp_addr,
            srt_addr,
            srt_passphrase: srt_passphrase.map(Secret::new),
            transcode_millicores,
            webrtc_addr,
            webrtc_candidate,
            database_url: Secret::new(database_url),
            redis_url,
            public_url,
            secret_key,
            log_format,
            log_level,
            cors_origins,
            smtp_url,
            mail_from,
            auth_rate_limit,
            api_rate_limit,
            search_rate_limit,
            max_body_bytes,
            registration_open,
            metrics_token,
            http_max_connections_per_ip,
            socketio_max_per_ip,
            restream_allowed_ports,
            trusted_proxies,
            plans_file,
            rtmp_workers,
            rtmp_max_connections_per_ip,
            rtmp_max_pending_per_ip,
            rtmp_idle_timeout_secs,
            rtmp_write_timeout_secs,
            rtmp_coalesce_ms,
            restream_allow_private_targets,
            restream_ca_file,
            platforms,
            payments,
            identity,
            telegram,
            storage,
            job_workers,
            job_lease_ms,
            recording_finish_delay_ms,
            live_thumbnail_secs,
            export_ttl_days,
            dmca_restore_days,
            audit_key,
            audit_checkpoint_minutes,
            notify,
            tips,
            backup,
            ops,
            nodes,
            origins,
        })
    }

    /// `FERROCAST_TIP_MIN` and `FERROCAST_TIP_MAX`: `CODE:minor` pairs, the same currencies in
    /// both, each minimum at least 1 and at most its maximum.
    fn tip_limits(&self, problems: &mut Vec<String>) -> TipLimits {
        let read = |key: &str, default: &str, problems: &mut Vec<String>| {
            let mut out: Vec<(String, i64)> = Vec::new();
            for item in self.get(key).unwrap_or(default).split(',') {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                let parsed = item.split_once(':').and_then(|(c, v)| {
                    let c = c.trim().to_ascii_uppercase();
                    let v = v.trim().parse::<i64>().ok()?;
                    (c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) && v > 0)
                        .then_some((c, v))
                });
                match parsed {
                    Some((c, v)) if !out.iter().any(|(o, _)| *o == c) => out.push((c, v)),
                    _ => problems.push(format!(
                        "{}: {item:?} is not CODE:amount (a currency once, a positive amount in minor units), e.g. USD:100",
                        env_name(key)
                    )),
                }
            }
            out
        };
        let min = read("tip_min", "USD:100,INR:5000", problems);
        let max = read("tip_max", "USD:50000,INR:2500000", problems);
        let mut limits = Vec::new();
        for (currency, lo) in min {
            match max.iter().find(|(c, _)| *c == currency) {
                Some((_, hi)) if *hi >= lo => limits.push(TipLimit {
                    currency,
                    min_minor: lo,
                    max_minor: *hi,
                }),
                Some(_) => problems.push(format!(
                    "{} for {currency} is below {}",
                    env_name("tip_max"),
                    env_name("tip_min")
                )),
                None => problems.push(format!(
                    "{} has no {currency}, which {} lists",
                    env_name("tip_max"),
                    env_name("tip_min")
                )),
            }
        }
        TipLimits(limits)
    }

    /// `FERROCAST_STORAGE_URL` must be `s3://…` or a path; an s3:// URL needs both keys.
    fn storage(&self, problems: &mut Vec<String>) -> StorageSettings {
        let url = self
            .get("storage_url")
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let s3_endpoint = self
            .get("s3_endpoint")
            .map(|e| e.trim().trim_end_matches('/'))
            .filter(|e| !e.is_empty());
        if let Some(u) = url {
            let scheme_ok = u.starts_with("s3://") || u.starts_with("file:") || !u.contains("://");
            if !scheme_ok || u == "s3://" {
                problems.push(format!(
                    "{} must be s3://bucket/prefix or a path",
                    env_name("storage_url")
                ));
            }
        }
        if let Some(e) = s3_endpoint {
            if !(e.starts_with("https://") || e.starts_with("http://")) {
                problems.push(format!(
                    "{} must start with https:// or http://",
                    env_name("s3_endpoint")
                ));
            }
        }
        let s3_access_key_id = self.get("s3_access_key_id").map(str::to_string);
        let s3_secret_access_key = self
            .get("s3_secret_access_key")
            .map(|s| Secret::new(s.to_string()));
        if url.is_some_and(|u| u.starts_with("s3://"))
            && (s3_access_key_id.is_none() || s3_secret_access_key.is_none())
        {
            problems.push(format!(
                "an s3:// {} needs {} and {}",
                env_name("storage_url"),
                env_name("s3_access_key_id"),
                env_name("s3_secret_access_key")
            ));
        }
        StorageSettings {
            url: url.map(str::to_string),
            s3_endpoint: s3_endpoint.map(str::to_string),
            s3_region: self.get("s3_region").unwrap_or("us-east-1").to_string(),
            s3_access_key_id,
            s3_secret_access_key,
        }
    }
}

/// The tips one currency takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipLimit {
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// The smallest tip, in minor units.
    pub min_minor: i64,
    /// The largest tip, in minor units.
    pub max_minor: i64,
}

/// The currencies tips are taken in, with their limits (`FERROCAST_TIP_MIN`, `FERROCAST_TIP_MAX`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TipLimits(pub Vec<TipLimit>);

impl TipLimits {
    /// The limits of `currency` (any case), if tips are taken in it.
    pub fn of(&self, currency: &str) -> Option<&TipLimit> {
        self.0
            .iter()
            .find(|l| l.currency.eq_ignore_ascii_case(currency))
    }
}

/// An address block such as `10.0.0.0/8` or `::1/128` (a bare address is a full-length block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies in the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a.parse::<IpAddr>().map_err(|_| ())?,
                Some(p.parse::<u8>().map_err(|_| ())?),
            ),
            None => (s.parse::<IpAddr>().map_err(|_| ())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(());
        }
        Ok(IpNet { addr, prefix })
    }
}

/// Placeholders seen in example configs; a master key equal to one of them is refused.
const PLACEHOLDERS: &[&str] = &["changeme", "change-me", "secret", "your-secret-key", "xxx"];

/// Checks that a configured master key is 32 random-looking bytes in hex.
pub fn validate_secret_key(key: &str) -> Result<[u8; 32], String> {
    let lower = key.to_ascii_lowercase();
    if PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return Err("is a placeholder; generate one with `openssl rand -hex 32`".into());
    }
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(
            "must be 64 hex characters (32 bytes); generate one with `openssl rand -hex 32`".into(),
        );
    }
    let mut out = [0u8; 32];
    for (i, chunk) in key.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).map_err(|_| "not hex".to_string())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| "not hex".to_string())?;
    }
    if out.iter().all(|b| *b == out[0]) {
        return Err(
            "is a repeated byte, not a random key; generate one with `openssl rand -hex 32`".into(),
        );
    }
    Ok(out)
}

fn read_secret_file(path: &Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > 64 * 1024 {
        return Err(format!(
            "{} is larger than 64 KiB; is it the right file?",
            path.display()
        ));
    }
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(env: &[(&str, &str)], flags: &[(&str, &str)]) -> Sources {
        Sources {
            config_file: None,
            working_dir: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            flags: flags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn defaults_are_the_spec_defaults() {
        let c = Config::load(&sources(&[], &[])).expect("defaults load");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.rtmp_addr.to_string(), "127.0.0.1:1935");
        assert_eq!(c.database_url.expose(), "sqlite://./data/ferrocast.db");
        assert_eq!(c.database_kind(), DatabaseKind::Sqlite);
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(c.secret_key.is_none());
        assert_eq!(c.auth_rate_limit, 5);
        assert_eq!(c.api_rate_limit, 100);
        assert_eq!(c.rtmp_workers, None);
        assert_eq!(c.rtmp_max_connections_per_ip, 32);
        assert_eq!(c.rtmp_max_pending_per_ip, 8);
        assert_eq!(c.rtmp_idle_timeout_secs, 10);
        assert_eq!(c.rtmp_write_timeout_secs, 10);
        assert_eq!(c.rtmp_coalesce_ms, 5);
    }

    #[test]
    fn sign_in_providers_are_on_with_their_client_and_use_the_real_endpoints() {
        let c = Config::load(&sources(&[], &[])).expect("defaults load");
        assert_eq!(c.identity, IdentityProviders::default());
        let c = Config::load(&sources(
            &[
                ("FERROCAST_GOOGLE_CLIENT_ID", "g.apps"),
                ("FERROCAST_GOOGLE_CLIENT_SECRET", "gs"),
                ("FERROCAST_TWITCH_CLIENT_ID", "t"),
                ("FERROCAST_TWITCH_CLIENT_SECRET", "ts"),
            ],
            &[],
        ))
        .expect("loads");
        let g = c.identity.google.as_ref().expect("google on");
        assert_eq!(
            g.authorize_url,
            "https://accounts.google.com/o/oauth2/v2/auth"
        );
        assert_eq!(g.token_url, "https://oauth2.googleapis.com/token");
        assert_eq!(g.jwks_url, "https://www.googleapis.com/oauth2/v3/certs");
        assert_eq!(
            g.issuers,
            ["https://accounts.google.com", "accounts.google.com"]
        );
        let t = c.identity.twitch.as_ref().expect("twitch on");
        assert_eq!(t.authorize_url, "https://id.twitch.tv/oauth2/authorize");
        assert_eq!(t.token_url, "https://id.twitch.tv/oauth2/token");
        assert_eq!(t.jwks_url, "https://id.twitch.tv/oauth2/keys");
        assert_eq!(
            t.userinfo_url.as_deref(),
            Some("https://id.twitch.tv/oauth2/userinfo")
        );
        assert_eq!(t.issuers, ["https://id.twitch.tv/oauth2"]);
        // The sign-in client refreshes YouTube tokens unless another is set.
        assert_eq!(
            c.platforms
                .youtube_client
                .as_ref()
                .map(|(id, _)| id.as_str()),
            Some("g.apps")
        );
        assert!(!format!("{c:?}").contains("gs\""));
        let e = Config::load(&sources(&[("FERROCAST_TWITCH_CLIENT_ID", "t")], &[]))
            .expect_err("a client id alone is a problem");
        assert!(
            e.to_string().contains("FERROCAST_TWITCH_CLIENT_SECRET"),
            "{e}"
        );
    }

    #[test]
    fn payment_gateways_are_on_with_all_their_keys_and_off_without_any() {
        let c = Config::load(&sources(&[], &[])).expect("defaults load");
        assert!(
            c.payments.stripe.is_none()
                && c.payments.razorpay.is_none()
                && c.payments.epayco.is_none()
        );
        assert_eq!(c.payments.grace_days, 7);
        assert_eq!(c.payments.platform_fee_bps, 1000);
        assert_eq!(c.payments.payout_hold_days, 7);
        assert_eq!(percent_bps("7.5"), Some(750));
        assert_eq!(percent_bps("100"), Some(10_000));
        assert_eq!(percent_bps("100.01"), None);
        assert_eq!(percent_bps("-1"), None);
        assert_eq!(percent_bps("1.234"), None);
        let c = Config::load(&sources(
            &[
                ("FERROCAST_STRIPE_SECRET_KEY", "sk_test_1"),
                ("FERROCAST_STRIPE_WEBHOOK_SECRET", "whsec_1"),
                ("FERROCAST_STRIPE_API_BASE", "http://127.0.0.1:9/"),
                ("FERROCAST_EPAYCO_CUSTOMER_ID", "123"),
                ("FERROCAST_EPAYCO_P_KEY", "k"),
            ],
            &[],
        ))
        .expect("loads");
        let stripe = c.payments.stripe.expect("stripe on");
        assert_eq!(stripe.api_base, "http://127.0.0.1:9");
        assert_eq!(stripe.webhook_secret.expose(), "whsec_1");
        assert!(c.payments.epayco.is_some() && c.payments.razorpay.is_none());
        let err = Config::load(&sources(&[("FERROCAST_RAZORPAY_KEY_ID", "rzp_1")], &[]))
            .expect_err("incomplete");
        let text = err.to_string();
        assert!(
            text.contains("FERROCAST_RAZORPAY_KEY_SECRET")
                && text.contains("FERROCAST_RAZORPAY_WEBHOOK_SECRET"),
            "{text}"
        );
    }

    #[test]
    fn tip_limits_per_currency() {
        let c = Config::load(&sources(&[], &[])).expect("defaults load");
        let usd = c.tips.of("usd").expect("USD by default");
        assert_eq!((usd.min_minor, usd.max_minor), (100, 50_000));
        assert_eq!(c.tips.of("INR").map(|l| l.min_minor), Some(5_000));
        assert!(c.tips.of("EUR").is_none());
        let c = Config::load(&sources(
            &[
                ("FERROCAST_TIP_MIN", "eur:200"),
                ("FERROCAST_TIP_MAX", "EUR:1000, USD:5"),
            ],
            &[],
        ))
        .expect("loads");
        assert_eq!(c.tips.0.len(), 1, "only TIP_MIN's currencies");
        assert_eq!(c.tips.of("EUR").map(|l| l.max_minor), Some(1_000));
        for (min, max, says) in [
            ("USD:500", "USD:100", "below"),
            ("USD:100,INR:1", "USD:200", "has no INR"),
            ("USD:-1", "USD:200", "not CODE:amount"),
            ("USD:1,USD:2", "USD:200", "not CODE:amount"),
            ("dollars", "USD:200", "not CODE:amount"),
        ] {
            let e = Config::load(&sources(
                &[("FERROCAST_TIP_MIN", min), ("FERROCAST_TIP_MAX", max)],
                &[],
            ))
            .expect_err(min);
            assert!(e.to_string().contains(says), "{min} {max}: {e}");
        }
    }

    #[test]
    fn epayco_smart_checkout_needs_its_keys_and_the_confirmation_keys() {
        let confirmations = [
            ("FERROCAST_EPAYCO_CUSTOMER_ID", "123"),
            ("FERROCAST_EPAYCO_P_KEY", "k"),
        ];
        let c = Config::load(&sources(&confirmations, &[])).expect("loads");
        let keys = c.payments.epayco.expect("confirmations on");
        assert!(
            keys.checkout.is_none(),
            "no Smart Checkout without its keys"
        );

        let mut env = confirmations.to_vec();
        env.extend([
            ("FERROCAST_EPAYCO_PUBLIC_KEY", "pub"),
            ("FERROCAST_EPAYCO_PRIVATE_KEY", "priv"),
        ]);
        let c = Config::load(&sources(&env, &[])).expect("loads");
        let checkout = c.payments.epayco.and_then(|k| k.checkout).expect("on");
        assert_eq!(
            (
                checkout.apify_url.as_str(),
                checkout.script_url.as_str(),
                checkout.test
            ),
            (
                "https://apify.epayco.co",
                "https://checkout.epayco.co/checkout-v2.js",
                false
            )
        );
        assert_eq!(checkout.private_key.expose(), "priv");
        assert!(!format!("{checkout:?}").contains("\"priv\""));

        // Smart Checkout without the confirmation keys, half its keys, a bad flag: all said.
        let err = Config::load(&sources(
            &[
                ("FERROCAST_EPAYCO_PUBLIC_KEY", "pub"),
                ("FERROCAST_EPAYCO_PRIVATE_KEY", "priv"),
                ("FERROCAST_EPAYCO_TEST", "yes"),
                ("FERROCAST_EPAYCO_CHECKOUT_JS", "checkout.js"),
            ],
            &[],
        ))
        .expect_err("incomplete");
        let text = err.to_string();
        for needle in [
            "need FERROCAST_EPAYCO_CUSTOMER_ID and FERROCAST_EPAYCO_P_KEY",
            "FERROCAST_EPAYCO_TEST must be true or false",
            "FERROCAST_EPAYCO_CHECKOUT_JS must start with https://",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        let mut half = confirmations.to_vec();
        half.push(("FERROCAST_EPAYCO_PUBLIC_KEY", "pub"));
        let text = Config::load(&sources(&half, &[]))
            .expect_err("half")
            .to_string();
        assert!(
            text.contains("missing: FERROCAST_EPAYCO_PRIVATE_KEY"),
            "{text}"
        );
    }

    #[test]
    fn rtmp_workers_are_bounded() {
        let c = Config::load(&sources(&[("FERROCAST_RTMP_WORKERS", "3")], &[])).expect("loads");
        assert_eq!(c.rtmp_workers, Some(3));
        for bad in ["0", "many", "5000"] {
            let err = Config::load(&sources(&[("FERROCAST_RTMP_WORKERS", bad)], &[]))
                .expect_err("refused");
            assert!(err.to_string().contains("FERROCAST_RTMP_WORKERS"), "{err}");
        }
    }

    #[test]
    fn rtmp_coalescing_is_bounded() {
        let c = Config::load(&sources(&[("FERROCAST_RTMP_COALESCE_MS", "0")], &[])).expect("loads");
        assert_eq!(c.rtmp_coalesce_ms, 0);
        for bad in ["21", "-1", "soon"] {
            let err = Config::load(&sources(&[("FERROCAST_RTMP_COALESCE_MS", bad)], &[]))
                .expect_err("refused");
            assert!(
                err.to_string().contains("FERROCAST_RTMP_COALESCE_MS"),
                "{err}"
            );
        }
    }

    #[test]
    fn rtmp_caps_and_timeouts() {
        let c = Config::load(&sources(
            &[
                ("FERROCAST_RTMP_MAX_CONNECTIONS_PER_IP", "0"),
                ("FERROCAST_RTMP_MAX_PENDING_PER_IP", "2"),
                ("FERROCAST_RTMP_IDLE_TIMEOUT_SECS", "3"),
            ],
            &[("rtmp_write_timeout_secs", "60")],
        ))
        .expect("loads");
        assert_eq!(
            (
                c.rtmp_max_connections_per_ip,
                c.rtmp_max_pending_per_ip,
                c.rtmp_idle_timeout_secs,
                c.rtmp_write_timeout_secs
            ),
            (0, 2, 3, 60)
        );
        let err = Config::load(&sources(
            &[
                ("FERROCAST_RTMP_MAX_CONNECTIONS_PER_IP", "-1"),
                ("FERROCAST_RTMP_MAX_PENDING_PER_IP", "few"),
                ("FERROCAST_RTMP_IDLE_TIMEOUT_SECS", "0"),
                ("FERROCAST_RTMP_WRITE_TIMEOUT_SECS", "86400"),
            ],
            &[],
        ))
        .expect_err("refused");
        let text = err.to_string();
        for name in [
            "FERROCAST_RTMP_MAX_CONNECTIONS_PER_IP",
            "FERROCAST_RTMP_MAX_PENDING_PER_IP",
            "FERROCAST_RTMP_IDLE_TIMEOUT_SECS",
            "FERROCAST_RTMP_WRITE_TIMEOUT_SECS",
        ] {
            assert!(text.contains(name), "{name} not reported: {text}");
        }
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = std::env::temp_dir().join(format!("ferrocast-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        std::fs::write(
            dir.join(DEFAULT_CONFIG_FILE),
            "http_addr = \"127.0.0.1:9000\"\nrtmp_addr = \"127.0.0.1:9001\"\ndata_dir = \"/tmp/a\"\ncors_origins = [\"https://a.example\", \"https://b.example\"]\n",
        )
        .expect("write");
        let mut s = sources(
            &[
                ("FERROCAST_RTMP_ADDR", "127.0.0.1:9002"),
                ("FERROCAST_DATA_DIR", "/tmp/b"),
            ],
            &[("data_dir", "/tmp/c")],
        );
        s.working_dir = Some(dir.clone());
        let c = Config::load(&s).expect("loads");
        assert_eq!(c.http_addr.port(), 9000);
        assert_eq!(c.rtmp_addr.port(), 9002);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/c"));
        assert_eq!(
            c.cors_origins,
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(
            c.origins["http_addr"],
            Origin::File(dir.join(DEFAULT_CONFIG_FILE))
        );
        assert_eq!(
            c.origins["rtmp_addr"],
            Origin::Env("FERROCAST_RTMP_ADDR".into())
        );
        assert_eq!(c.origins["data_dir"], Origin::Flag);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn every_problem_is_reported() {
        let err = Config::load(&sources(
            &[
                ("FERROCAST_HTTP_ADDR", "nope"),
                ("FERROCAST_SECRET_KEY", "changeme"),
                ("FERROCAST_BOGUS", "1"),
            ],
            &[],
        ))
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("FERROCAST_BOGUS"), "{text}");
        let err = Config::load(&sources(
            &[
                ("FERROCAST_HTTP_ADDR", "nope"),
                ("FERROCAST_SECRET_KEY", "changeme"),
                ("FERROCAST_DATABASE_URL", "mysql://x"),
            ],
            &[],
        ))
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("FERROCAST_HTTP_ADDR"), "{text}");
        assert!(text.contains("placeholder"), "{text}");
        assert!(text.contains("FERROCAST_DATABASE_URL"), "{text}");
    }

    #[test]
    fn secrets_from_files_and_redacted() {
        let path = std::env::temp_dir().join(format!("ferrocast-secret-{}", std::process::id()));
        let key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        std::fs::write(&path, format!("{key}\n")).expect("write");
        let c = Config::load(&sources(
            &[("FERROCAST_SECRET_KEY_FILE", path.to_str().expect("utf8"))],
            &[],
        ))
        .expect("loads");
        assert_eq!(
            c.secret_key.as_ref().map(|s| s.expose().as_str()),
            Some(key)
        );
        assert!(!format!("{c:?}").contains(key));
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn storage_defaults_to_the_data_dir_and_s3_needs_its_keys() {
        let c = Config::load(&sources(&[], &[])).expect("defaults load");
        assert_eq!(
            c.storage,
            StorageSettings {
                url: None,
                s3_endpoint: None,
                s3_region: "us-east-1".into(),
                s3_access_key_id: None,
                s3_secret_access_key: None,
            }
        );
        let c = Config::load(&sources(
            &[
                ("FERROCAST_STORAGE_URL", "s3://videos/node-a"),
                ("FERROCAST_S3_ENDPOINT", "http://127.0.0.1:9000/"),
                ("FERROCAST_S3_REGION", "eu-west-1"),
                ("FERROCAST_S3_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                ("FERROCAST_S3_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ],
            &[],
        ))
        .expect("s3 loads");
        assert_eq!(c.storage.url.as_deref(), Some("s3://videos/node-a"));
        assert_eq!(
            c.storage.s3_endpoint.as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(c.storage.s3_region, "eu-west-1");
        assert_eq!(c.storage.s3_access_key_id.as_deref(), Some("AKIDEXAMPLE"));
        assert_eq!(
            c.storage
                .s3_secret_access_key
                .as_ref()
                .map(|s| s.expose().as_str()),
            Some("wJalrXUtnFEMI")
        );
        assert!(
            !format!("{c:?}").contains("wJalrXUtnFEMI"),
            "the secret is redacted"
        );
        let c = Config::load(&sources(&[("FERROCAST_STORAGE_URL", "/srv/videos")], &[]))
            .expect("a path loads");
        assert_eq!(c.storage.url.as_deref(), Some("/srv/videos"));

        let err = Config::load(&sources(
            &[
                ("FERROCAST_STORAGE_URL", "s3://videos"),
                ("FERROCAST_S3_ENDPOINT", "ftp://x"),
            ],
            &[],
        ))
        .expect_err("keys missing, bad endpoint")
        .to_string();
        assert!(err.contains("FERROCAST_S3_ACCESS_KEY_ID"), "{err}");
        assert!(
            err.contains("FERROCAST_S3_ENDPOINT must start with"),
            "{err}"
        );
        let err = Config::load(&sources(&[("FERROCAST_STORAGE_URL", "gs://videos")], &[]))
            .expect_err("unknown scheme")
            .to_string();
        assert!(
            err.contains("FERROCAST_STORAGE_URL must be s3://bucket/prefix or a path"),
            "{err}"
        );
    }

    #[test]
    fn readme_documents_every_setting() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .expect("README.md");
        for s in SETTINGS {
            let env = format!("`{ENV_PREFIX}{}`", s.key.to_ascii_uppercase());
            assert!(
                readme.contains(&env),
                "README.md's configuration table lacks {env}"
            );
        }
    }

    #[test]
    fn ip_nets() {
        let net: IpNet = "10.0.0.0/8".parse().expect("cidr");
        assert!(net.contains("10.1.2.3".parse().expect("ip")));
        assert!(!net.contains("11.0.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.0.0.1".parse().expect("mapped")));
        let one: IpNet = "127.0.0.1".parse().expect("ip");
        assert!(
            one.contains("127.0.0.1".parse().expect("ip"))
                && !one.contains("127.0.0.2".parse().expect("ip"))
        );
        let v6: IpNet = "2001:db8::/32".parse().expect("v6");
        assert!(v6.contains("2001:db8:1::1".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err() && "x".parse::<IpNet>().is_err());
        let all: IpNet = "0.0.0.0/0".parse().expect("all");
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
    }

    #[test]
    fn postgres_url_selects_postgres() {
        let c = Config::load(&sources(
            &[("FERROCAST_DATABASE_URL", "postgres://127.0.0.1/test")],
            &[],
        ))
        .expect("loads");
        assert_eq!(c.database_kind(), DatabaseKind::Postgres);
    }
}
