//! Shared state of a running node and the account operations handlers build on.

use crate::error::ApiError;
use crate::extract::{AuthUser, Credential, API_KEY_PREFIX};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use ferrocast_auth::secretbox::{derive_key, SecretBox};
use ferrocast_auth::{jwt, token};
use ferrocast_config::Config;
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::{now_ms, Db};
use ferrocast_domain::account::{Role, Scope};
use ferrocast_domain::mail::Mailer;
use std::sync::Arc;
use std::time::Duration;

/// Access tokens live this long (SPEC §2.2: 15 minutes).
pub const ACCESS_TTL_SECS: i64 = 15 * 60;
/// Refresh tokens (and idle sessions) live this long.
pub const REFRESH_TTL_MS: i64 = 30 * 24 * 3600 * 1000;
/// Audience of access tokens.
pub const AUDIENCE: &str = "ferrocast-api";

/// Keys derived from the master key, one per purpose.
pub struct Keys {
    /// Signs access tokens.
    pub jwt: [u8; 32],
    /// Keys the hashes of emailed and recovery codes.
    pub codes: [u8; 32],
    /// Encrypts secrets at rest.
    pub secrets: SecretBox,
}

impl Keys {
    /// Derives every key from the master key.
    pub fn derive(master: &[u8; 32]) -> Self {
        Self {
            jwt: derive_key(master, "jwt-hs256"),
            codes: derive_key(master, "code-hmac"),
            secrets: SecretBox::new(&derive_key(master, "secretbox-aes256gcm")),
        }
    }
}

/// Everything a request handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The inside of [`AppState`].
pub struct Inner {
    /// Validated configuration.
    pub config: Config,
    /// Storage.
    pub db: Db,
    /// Derived keys.
    pub keys: Keys,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
    /// Credential endpoints, per client address.
    pub auth_limiter: RateLimiter,
    /// Authenticated requests, per user.
    pub api_limiter: RateLimiter,
    /// Request metrics.
    pub metrics: Metrics,
    /// Password hashing on a fixed pool with reused memory (a login flood cannot grow memory).
    pub hashing: crate::hashing::HashPool,
    /// The media engine (hub, HLS packagers, restream, publish authorisation).
    pub engine: ferrocast_engine::Engine,
    /// Live sessions as the server tracks them, and their owners' events.
    pub live: crate::live::Live,
    /// Realtime events to every node's Socket.IO clients.
    pub fanout: Arc<dyn crate::realtime::bus::Fanout>,
    /// Chat messages, per user.
    pub chat_limiter: RateLimiter,
    /// Socket.IO connections open on this node.
    pub sockets: std::sync::atomic::AtomicI64,
    /// Socket.IO connections per client address, capped.
    pub socket_addresses: Arc<ferrocast_engine::addresses::AddrLimiter>,
    /// Chat connectors running on this node.
    pub connectors: crate::connectors::Connectors,
    /// Outgoing HTTP (platform APIs, payment gateways): rustls with the Mozilla roots.
    pub http: reqwest::Client,
    /// Payment requests (orders, checkouts, verifications), per user: 10 a minute (SPEC).
    pub payments_limiter: RateLimiter,
    /// Site settings, cached briefly.
    pub site_cache: crate::site::SiteCache,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Tokens handed to a client after login.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// JWT access token.
    pub access_token: String,
    /// Opaque refresh token.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// Unix seconds.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

impl AppState {
    /// Builds the state.
    pub fn new(
        config: Config,
        db: Db,
        master_key: &[u8; 32],
        mailer: Arc<dyn Mailer>,
        engine: ferrocast_engine::Engine,
        grants: crate::media::Grants,
        fanout: Arc<dyn crate::realtime::bus::Fanout>,
    ) -> std::io::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("ferrocast/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let socket_addresses =
            ferrocast_engine::addresses::AddrLimiter::new(config.socketio_max_per_ip, 0);
        Ok(Self(Arc::new(Inner {
            auth_limiter: RateLimiter::new(config.auth_rate_limit, Duration::from_secs(60)),
            api_limiter: RateLimiter::new(config.api_rate_limit, Duration::from_secs(60)),
            config,
            db,
            keys: Keys::derive(master_key),
            mailer,
            metrics: Metrics::new(),
            hashing: crate::hashing::HashPool::start()?,
            engine,
            live: crate::live::Live::new(grants),
            fanout,
            chat_limiter: RateLimiter::new(
                crate::realtime::CHAT_BURST,
                crate::realtime::CHAT_PERIOD,
            ),
            sockets: std::sync::atomic::AtomicI64::new(0),
            socket_addresses,
            connectors: crate::connectors::Connectors::new(http.clone()),
            http,
            payments_limiter: RateLimiter::new(10, Duration::from_secs(60)),
            site_cache: Default::default(),
        })))
    }

    /// Charges one credential request to `ip`; 429 when over the limit.
    pub fn limit_auth(&self, ip: std::net::IpAddr) -> Result<(), ApiError> {
        self.auth_limiter
            .check(&crate::ratelimit::client_key(ip))
            .map_err(|wait| {
                self.metrics.rate_limited("auth");
                ApiError::rate_limited(wait)
            })
    }

    /// Charges one authenticated request to a user; 429 when over the limit.
    pub fn limit_api(&self, user_id: i64) -> Result<(), ApiError> {
        self.api_limiter
            .check(&user_id.to_string())
            .map_err(|wait| {
                self.metrics.rate_limited("api");
                ApiError::rate_limited(wait)
            })
    }

    /// Hashes a password on the hashing pool.
    pub async fn hash_password(&self, pw: String) -> Result<String, ApiError> {
        self.hashing.hash(pw).await
    }

    /// Verifies a password; with no stored hash, spends the same time on a dummy and fails.
    pub async fn verify_password(
        &self,
        pw: String,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        self.hashing.verify(pw, stored).await
    }

    /// Signs an access token for a session.
    pub fn access_token(&self, user: &UserRecord, session_uuid: &str) -> String {
        let now = now_secs();
        jwt::encode(
            &self.keys.jwt,
            &jwt::Claims {
                iss: self.config.public_url.clone(),
                aud: AUDIENCE.into(),
                sub: user.id.to_string(),
                typ: "access".into(),
                sid: session_uuid.into(),
                role: user.role.clone(),
                iat: now,
                nbf: now,
                exp: now + ACCESS_TTL_SECS,
                jti: uuid::Uuid::new_v4().to_string(),
            },
        )
    }

    /// Starts a session and returns its first token pair.
    pub async fn start_session(
        &self,
        user: &UserRecord,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<IssuedTokens, ApiError> {
        let now = now_ms();
        let session_uuid = uuid::Uuid::new_v4().to_string();
        let refresh = token::generate("fcr_");
        let ua = user_agent.map(|u| u.chars().take(256).collect::<String>());
        self.db
            .create_session(
                &session_uuid,
                user.id,
                &token::hash(&refresh),
                now + REFRESH_TTL_MS,
                ip.as_deref(),
                ua.as_deref(),
                now,
            )
            .await?;
        Ok(IssuedTokens {
            access_token: self.access_token(user, &session_uuid),
            refresh_token: refresh,
            expires_in: ACCESS_TTL_SECS,
        })
    }

    /// Whether the caller's credential still holds: its session not ended, its key not revoked
    /// or expired (long-lived responses check this as they go).
    pub async fn credential_valid(&self, auth: &AuthUser) -> Result<bool, ApiError> {
        let now = now_ms();
        Ok(match &auth.credential {
            Credential::Session { session_uuid } => self
                .db
                .user_for_session(auth.user.id, session_uuid, now)
                .await?
                .is_some(),
            Credential::ApiKey { key_id, .. } => {
                self.db.api_key_active(*key_id, auth.user.id, now).await?
            }
        })
    }

    /// Resolves a bearer token (access JWT or API key) to the caller.
    pub async fn authenticate(&self, bearer: &str) -> Result<AuthUser, ApiError> {
        let now = now_ms();
        if bearer.starts_with(API_KEY_PREFIX) {
            if bearer.len() > 128 {
                return Err(ApiError::unauthenticated("The API key is not valid."));
            }
            let (key, user) = self
                .db
                .api_key_with_user(&token::hash(bearer), now)
                .await?
                .ok_or_else(|| {
                    ApiError::unauthenticated("The API key is unknown, revoked or expired.")
                })?;
            self.db.touch_api_key(key.id, now).await?;
            let role = parse_role(&user.role)?;
            let scopes = key
                .scopes
                .split_whitespace()
                .filter_map(Scope::parse)
                .collect();
            return Ok(AuthUser {
                user,
                role,
                credential: Credential::ApiKey {
                    key_id: key.id,
                    scopes,
                },
            });
        }
        let expect = jwt::Expect {
            issuer: &self.config.public_url,
            audience: AUDIENCE,
            typ: "access",
            now: now / 1000,
        };
        let claims = jwt::decode(&self.keys.jwt, bearer, &expect).map_err(|e| {
            tracing::debug!(reason = %e, "access token refused");
            match e {
                jwt::TokenError::Expired => ApiError::unauthenticated(
                    "The access token has expired; get a new one from /api/auth/refresh.",
                ),
                _ => ApiError::unauthenticated("The access token is not valid."),
            }
        })?;
        let user_id: i64 = claims
            .sub
            .parse()
            .map_err(|_| ApiError::unauthenticated("The access token is not valid."))?;
        let user = self
            .db
            .user_for_session(user_id, &claims.sid, now)
            .await?
            .ok_or_else(|| ApiError::unauthenticated("The session has ended; log in again."))?;
        let role = parse_role(&user.role)?;
        Ok(AuthUser {
            user,
            role,
            credential: Credential::Session {
                session_uuid: claims.sid,
            },
        })
    }
}

fn parse_role(s: &str) -> Result<Role, ApiError> {
    Role::parse(s).ok_or_else(|| ApiError::internal(format!("unknown role {s:?} in database")))
}
