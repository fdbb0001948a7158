//! Sign in with Google or Twitch (OpenID Connect authorization code flow with PKCE), linking
//! provider identities to accounts, and the OAuth consent that connects a platform's chat.
//!
//! A flow starts with [`Identity::start`]: a pending login (state, sealed PKCE verifier, nonce,
//! where to return) goes to the database, so the provider's callback may land on any node; it is
//! taken once, and only within [`PENDING_TTL_MS`]. The callback ([`Identity::callback`]) trades
//! the code for tokens (PKCE verifier and client secret), verifies the ID token against the
//! provider's keys ([`ferrocast_auth::oidc`]: RS256, `iss`, `aud`, `exp`, `nonce`), and
//! decides:
//! - an identity already linked signs its user in;
//! - otherwise an account with the same email is linked only if both the account's email and
//!   the provider's are verified — else the person is asked to sign in with the password and
//!   link from Settings;
//! - otherwise a new account is made, if registration is open.
//!
//! A sign-in ends in a hand-off code (single use, [`HANDOFF_TTL_MS`]) that the web app trades for
//! the usual token pair with a POST, so no token ever travels in a URL. Keys are cached for an
//! hour and fetched again once when a token names an unknown `kid` (at most every
//! [`FORCED_REFETCH_MS`]).

use super::clock::SharedClock;
use super::vault::{Sealed, Vault};
use ferrocast_auth::oidc::{
    self, AuthorizationRequest, IdClaims, IdTokenError, IdTokenExpect, Jwks, TokenResponse,
    TokenResponseError, UserInfo,
};
use ferrocast_auth::token;
use ferrocast_config::{IdentityProviders, OidcProvider};
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::identities::{
    IdentityRecord, NewIdentity, NewPendingLogin, NewProviderUser, PendingLogin, Taken,
};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::account::{self, Role};
use std::sync::Arc;
use std::time::Duration;

/// A pending login must come back within this time.
pub const PENDING_TTL_MS: i64 = 10 * 60 * 1000;
/// A hand-off code must be traded within this time.
pub const HANDOFF_TTL_MS: i64 = 60 * 1000;
/// Keys are used this long before they are fetched again.
pub const JWKS_TTL_MS: i64 = 3600 * 1000;
/// An unknown `kid` fetches the keys again at most this often.
pub const FORCED_REFETCH_MS: i64 = 30 * 1000;
/// Each call to a provider must answer within this time.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The claims asked of Twitch (OpenID Connect Core §5.5; Twitch's "Requesting claims").
const TWITCH_CLAIMS: &str = r#"{"id_token":{"email":null,"email_verified":null},"userinfo":{"email":null,"email_verified":null,"preferred_username":null}}"#;
/// Longest `return_to` path kept.
const MAX_RETURN_TO: usize = 512;

/// A sign-in provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Google (YouTube).
    Google,
    /// Twitch.
    Twitch,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 2] = [Provider::Google, Provider::Twitch];

    /// Its name in URLs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Twitch => "twitch",
        }
    }

    /// Its name for people.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Google => "Google",
            Provider::Twitch => "Twitch",
        }
    }

    /// The provider named `s`.
    pub fn parse(s: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Scopes of a sign-in.
    fn login_scope(self) -> &'static str {
        match self {
            Provider::Google => "openid email profile",
            Provider::Twitch => "openid user:read:email",
        }
    }

    /// Scopes of connecting the platform's chat.
    pub fn chat_scope(self) -> &'static str {
        match self {
            Provider::Google => "openid https://www.googleapis.com/auth/youtube.force-ssl",
            Provider::Twitch => "openid user:read:chat user:write:chat",
        }
    }
}

/// What a flow is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Sign in (or up); return to this local path.
    Login {
        /// Where the web app goes afterwards.
        return_to: String,
    },
    /// Link the identity to this signed-in user.
    Link {
        /// The user.
        user_id: i64,
    },
    /// Connect the platform's chat to this user's source.
    Connect {
        /// The user.
        user_id: i64,
        /// The source.
        source_id: i64,
    },
}

/// Why a flow stopped. Each has a stable [`code`](IdentityError::code) the web app shows in
/// words.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The node has no client for this provider.
    #[error("{0} sign-in is not configured on this server")]
    NotConfigured(&'static str),
    /// The `state` is unknown, already used, or missing.
    #[error("the sign-in state is unknown or was already used")]
    StateInvalid,
    /// The pending login expired.
    #[error("the sign-in took too long")]
    Expired,
    /// The callback reached another browser than the one that started the flow.
    #[error("the sign-in was started in another browser")]
    OtherBrowser,
    /// The person declined at the provider (or the provider said why not).
    #[error("the provider did not grant access")]
    Denied,
    /// The token endpoint refused the code (a replayed or expired code: `invalid_grant`).
    #[error("the provider refused the code ({0})")]
    CodeRefused(String),
    /// The provider could not be reached or answered nonsense.
    #[error("the provider cannot be reached: {0}")]
    Unreachable(String),
    /// The ID token did not verify.
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    /// The provider shared no email, which a new account needs.
    #[error("the provider shared no email address")]
    NoEmail,
    /// The site is in maintenance: only administrators link accounts or connect chat.
    #[error("the site is in maintenance; try again when it is back")]
    Maintenance,
    /// A new account would take an email the provider has not verified.
    #[error("the provider has not verified this email address")]
    EmailUnverified,
    /// An account has this email, but not both sides are verified.
    #[error("an account with this email exists; sign in with the password and link from Settings")]
    LinkRefused,
    /// The identity is linked to another account.
    #[error("this provider account is linked to another account")]
    IdentityTaken,
    /// Registration is closed and no account matches.
    #[error("registration is closed")]
    RegistrationClosed,
    /// Unlinking would leave the account without a way in.
    #[error("the last way to sign in cannot be removed")]
    LastWayIn,
    /// No such identity of the caller's.
    #[error("no such linked account")]
    NotFound,
    /// The hand-off code is unknown, used or expired.
    #[error("the sign-in code is not valid")]
    HandoffInvalid,
    /// A sealed value did not open (master key changed).
    #[error("{0}")]
    Internal(String),
}

impl IdentityError {
    /// The stable code, sent to the web app's login page as `oauth_error`.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::Db(_) | IdentityError::Internal(_) => "OAUTH_INTERNAL",
            IdentityError::NotConfigured(_) => "OAUTH_NOT_CONFIGURED",
            IdentityError::StateInvalid => "OAUTH_STATE_INVALID",
            IdentityError::Expired => "OAUTH_EXPIRED",
            IdentityError::OtherBrowser => "OAUTH_OTHER_BROWSER",
            IdentityError::Denied => "OAUTH_DENIED",
            IdentityError::CodeRefused(_) => "OAUTH_CODE_REFUSED",
            IdentityError::Unreachable(_) => "OAUTH_PROVIDER_UNREACHABLE",
            IdentityError::IdToken(e) => match e {
                IdTokenError::WrongAudience => "OAUTH_ID_TOKEN_AUDIENCE",
                IdTokenError::WrongIssuer => "OAUTH_ID_TOKEN_ISSUER",
                IdTokenError::Expired | IdTokenError::NotYetValid => "OAUTH_ID_TOKEN_EXPIRED",
                IdTokenError::BadSignature => "OAUTH_ID_TOKEN_SIGNATURE",
                IdTokenError::WrongNonce => "OAUTH_ID_TOKEN_NONCE",
                IdTokenError::UnknownKey => "OAUTH_ID_TOKEN_UNKNOWN_KEY",
                IdTokenError::Malformed
                | IdTokenError::UnsupportedAlgorithm
                | IdTokenError::BadClaims => "OAUTH_ID_TOKEN_INVALID",
            },
            IdentityError::NoEmail => "OAUTH_NO_EMAIL",
            IdentityError::EmailUnverified => "OAUTH_EMAIL_UNVERIFIED",
            IdentityError::Maintenance => "MAINTENANCE",
            IdentityError::LinkRefused => "OAUTH_LINK_REFUSED",
            IdentityError::IdentityTaken => "OAUTH_IDENTITY_TAKEN",
            IdentityError::RegistrationClosed => "OAUTH_REGISTRATION_CLOSED",
            IdentityError::LastWayIn => "LAST_SIGN_IN_METHOD",
            IdentityError::NotFound => "NOT_FOUND",
            IdentityError::HandoffInvalid => "OAUTH_HANDOFF_INVALID",
        }
    }
}

/// What a callback achieved.
#[derive(Debug)]
pub enum Completed {
    /// A sign-in: the web app trades `handoff` for a session at `return_to`.
    SignedIn {
        /// The single-use hand-off code.
        handoff: String,
        /// Where to go next.
        return_to: String,
    },
    /// An identity was linked to the signed-in user.
    Linked {
        /// The provider.
        provider: Provider,
    },
    /// The platform's consent for a source's chat: the tokens to seal into its connector.
    Connected {
        /// The user.
        user_id: i64,
        /// The source.
        source_id: i64,
        /// The provider's tokens.
        tokens: TokenResponse,
        /// The account's login name (Twitch's channel), when known.
        login: Option<String>,
    },
}

/// A started flow.
#[derive(Debug)]
pub struct Started {
    /// The provider's consent page.
    pub authorize_url: String,
    /// The value of the browser-binding cookie to set.
    pub binding: String,
}

/// The name of the cookie binding a flow with `p` to the browser that started it.
pub fn binding_cookie(p: Provider) -> String {
    format!("ferrocast_oauth_{}", p.as_str())
}

/// The cookie that carries a sign-in's binding on to the hand-off exchange, so that only the
/// browser that signed in can trade its code.
pub const HANDOFF_COOKIE: &str = "ferrocast_oauth_handoff";

/// What of the site's settings a callback obeys.
#[derive(Debug, Clone, Copy)]
pub struct SiteState {
    /// Registrations are open.
    pub registration_open: bool,
    /// The site is in maintenance: nobody signs up, and only administrators link or connect.
    pub maintenance: bool,
}

/// The query of a provider's callback.
#[derive(Debug, Default)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// Our state.
    pub state: Option<String>,
    /// The provider's error (`access_denied`).
    pub error: Option<String>,
}

#[derive(Default)]
struct KeyCache {
    set: Option<Arc<Jwks>>,
    fetched_at: i64,
    forced_at: Option<i64>,
}

/// The identity service.
pub struct Identity {
    db: Db,
    vault: Arc<Vault>,
    http: reqwest::Client,
    clock: SharedClock,
    providers: IdentityProviders,
    public_url: String,
    keys: [tokio::sync::Mutex<KeyCache>; 2],
}

impl Identity {
    /// The service over its dependencies.
    pub fn new(
        db: Db,
        vault: Arc<Vault>,
        http: reqwest::Client,
        clock: SharedClock,
        providers: IdentityProviders,
        public_url: String,
    ) -> Self {
        Self {
            db,
            vault,
            http,
            clock,
            providers,
            public_url,
            keys: Default::default(),
        }
    }

    /// The providers this node has a client for.
    pub fn configured(&self) -> Vec<Provider> {
        Provider::ALL
            .into_iter()
            .filter(|p| self.provider(*p).is_ok())
            .collect()
    }

    fn provider(&self, p: Provider) -> Result<&OidcProvider, IdentityError> {
        match p {
            Provider::Google => self.providers.google.as_ref(),
            Provider::Twitch => self.providers.twitch.as_ref(),
        }
        .ok_or(IdentityError::NotConfigured(p.label()))
    }

    /// The `Set-Cookie` value binding a flow with `p` to this browser: sent back only to
    /// `/api/auth` (the callbacks), on top-level navigations (`SameSite=Lax`), unreadable to
    /// scripts, for as long as the flow may take.
    pub fn binding_set_cookie(&self, p: Provider, value: &str) -> String {
        let secure = if self.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{}={value}; Path=/api/auth; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            binding_cookie(p),
            PENDING_TTL_MS / 1000
        )
    }

    /// The `Set-Cookie` value that lets this browser, and only it, trade the hand-off code of
    /// the sign-in bound by `binding` (sent only to the exchange, for as long as the code lives).
    pub fn handoff_set_cookie(&self, binding: &str) -> String {
        let secure = if self.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{HANDOFF_COOKIE}={binding}; Path=/api/auth/oauth/exchange; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            HANDOFF_TTL_MS / 1000
        )
    }

    /// The redirect URI registered at the provider.
    pub fn redirect_uri(&self, p: Provider) -> String {
        format!("{}/api/auth/{}/callback", self.public_url, p.as_str())
    }

    /// Starts a flow: stores the pending login and returns the provider's consent URL and the
    /// value of the cookie ([`binding_cookie`]) that binds the flow to this browser.
    pub async fn start(&self, p: Provider, purpose: Purpose) -> Result<Started, IdentityError> {
        let cfg = self.provider(p)?;
        let state = oidc::random_token();
        let binding = oidc::random_token();
        let nonce = oidc::random_token();
        let verifier = oidc::pkce_verifier();
        let state_hash = token::hash(&state);
        let now = self.clock.now_ms();
        let (kind, user_id, source_id, return_to, scope) = match &purpose {
            Purpose::Login { return_to } => {
                ("login", None, None, local_path(return_to), p.login_scope())
            }
            Purpose::Link { user_id } => (
                "link",
                Some(*user_id),
                None,
                "/settings".to_string(),
                p.login_scope(),
            ),
            Purpose::Connect { user_id, source_id } => (
                "connect",
                Some(*user_id),
                Some(*source_id),
                "/dashboard".to_string(),
                p.chat_scope(),
            ),
        };
        // The verifier and the nonce, sealed together (both base64url: a space separates them).
        let sealed = self.vault.seal(
            Sealed::PkceVerifier(&state_hash),
            format!("{verifier} {nonce}").as_bytes(),
        );
        self.db
            .create_pending_login(
                &NewPendingLogin {
                    state_hash: &state_hash,
                    provider: p.as_str(),
                    purpose: kind,
                    user_id,
                    source_id,
                    verifier_sealed: &sealed,
                    nonce_hash: &token::hash(&nonce),
                    binding_hash: &token::hash(&binding),
                    return_to: &return_to,
                    expires_at: now + PENDING_TTL_MS,
                },
                now,
            )
            .await?;
        let redirect_uri = self.redirect_uri(p);
        let challenge = oidc::pkce_challenge(&verifier);
        // Chat needs a refresh token (Google gives one with offline access and consent).
        let extra: &[(&str, &str)] = match (p, kind) {
            (Provider::Google, "connect") => &[("access_type", "offline"), ("prompt", "consent")],
            (Provider::Google, _) => &[("prompt", "select_account")],
            // Twitch shares the email and login only when asked for by claim (OpenID Connect
            // Core §5.5): its UserInfo answers just `sub` otherwise.
            (Provider::Twitch, _) => &[("claims", TWITCH_CLAIMS)],
        };
        let authorize_url = AuthorizationRequest {
            endpoint: &cfg.authorize_url,
            client_id: &cfg.client_id,
            redirect_uri: &redirect_uri,
            scope,
            state: &state,
            nonce: &nonce,
            code_challenge: &challenge,
            extra,
        }
        .url();
        Ok(Started {
            authorize_url,
            binding,
        })
    }

    /// Where a failed callback sends the browser: the login page, or Settings for a link,
    /// or the dashboard for a chat connection (known only when the state was valid).
    pub async fn callback(
        &self,
        p: Provider,
        params: CallbackParams,
        binding: Option<&str>,
        site: SiteState,
    ) -> Result<Completed, (IdentityError, &'static str)> {
        let state = params
            .state
            .filter(|s| !s.is_empty() && s.len() <= 128)
            .ok_or((IdentityError::StateInvalid, "/login"))?;
        let now = self.clock.now_ms();
        let login = match self
            .db
            .take_pending_login(p.as_str(), &token::hash(&state), now)
            .await
        {
            Ok(Taken::Fresh(l)) => l,
            Ok(Taken::Expired) => return Err((IdentityError::Expired, "/login")),
            Ok(Taken::Unknown) => return Err((IdentityError::StateInvalid, "/login")),
            Err(e) => return Err((e.into(), "/login")),
        };
        let back = match login.purpose.as_str() {
            "link" => "/settings",
            "connect" => "/dashboard",
            _ => "/login",
        };
        // The browser that comes back must be the one that started: otherwise someone could
        // send a victim their own callback (signing the victim in as them, or linking the
        // victim's provider account to theirs).
        if !binding
            .is_some_and(|b| b.len() <= 128 && token::ct_eq(&token::hash(b), &login.binding_hash))
        {
            return Err((IdentityError::OtherBrowser, back));
        }
        // During maintenance only administrators change anything; anyone may still sign in.
        if site.maintenance && login.purpose != "login" {
            let admin = match login.user_id {
                Some(id) => match self.db.user_by_id(id).await {
                    Ok(u) => u.is_some_and(|u| u.role == Role::Admin.as_str()),
                    Err(e) => return Err((e.into(), back)),
                },
                None => false,
            };
            if !admin {
                return Err((IdentityError::Maintenance, back));
            }
        }
        let registration_open = site.registration_open && !site.maintenance;
        self.complete(
            p,
            &state,
            login,
            params.code,
            params.error,
            registration_open,
        )
        .await
        .map_err(|e| (e, back))
    }

    async fn complete(
        &self,
        p: Provider,
        state: &str,
        login: PendingLogin,
        code: Option<String>,
        error: Option<String>,
        registration_open: bool,
    ) -> Result<Completed, IdentityError> {
        if error.is_some() {
            return Err(IdentityError::Denied);
        }
        let code = code
            .filter(|c| !c.is_empty() && c.len() <= 2048)
            .ok_or(IdentityError::Denied)?;
        let cfg = self.provider(p)?;
        let secrets = self
            .vault
            .open_text(
                Sealed::PkceVerifier(&token::hash(state)),
                &login.verifier_sealed,
            )
            .map_err(|e| IdentityError::Internal(e.to_string()))?;
        let (verifier, nonce) = secrets
            .split_once(' ')
            .filter(|(_, n)| token::ct_eq(&token::hash(n), &login.nonce_hash))
            .ok_or_else(|| {
                IdentityError::Internal("a pending login's secrets do not match".into())
            })?;
        let tokens = self.exchange_code(p, cfg, &code, verifier).await?;
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or(IdentityError::IdToken(IdTokenError::Malformed))?;
        let mut claims = self.verify(p, cfg, id_token, nonce).await?;
        if let Some(url) = &cfg.userinfo_url {
            let info = self.userinfo(url, cfg, &tokens.access_token).await?;
            // OpenID Connect Core §5.3.2: the UserInfo must be about the same account.
            if info.sub != claims.sub {
                return Err(IdentityError::IdToken(IdTokenError::BadClaims));
            }
            claims.email = info.email.or(claims.email);
            claims.email_verified = info.email_verified;
            claims.preferred_username = info.preferred_username.or(claims.preferred_username);
        }
        let now = self.clock.now_ms();
        match login.purpose.as_str() {
            "link" => {
                let user_id = login.user_id.ok_or(IdentityError::StateInvalid)?;
                self.link(p, user_id, &claims, now).await?;
                tracing::info!(user_id, provider = p.as_str(), "identity linked");
                Ok(Completed::Linked { provider: p })
            }
            "connect" => Ok(Completed::Connected {
                user_id: login.user_id.ok_or(IdentityError::StateInvalid)?,
                source_id: login.source_id.ok_or(IdentityError::StateInvalid)?,
                tokens,
                login: claims.preferred_username.clone(),
            }),
            _ => {
                let user = self.sign_in(p, &claims, registration_open, now).await?;
                let handoff = token::generate("fch_");
                self.db
                    .create_handoff(
                        &token::hash(&handoff),
                        &login.binding_hash,
                        user.id,
                        now + HANDOFF_TTL_MS,
                        now,
                    )
                    .await?;
                tracing::info!(user_id = user.id, provider = p.as_str(), "provider sign-in");
                Ok(Completed::SignedIn {
                    handoff,
                    return_to: login.return_to,
                })
            }
        }
    }

    async fn link(
        &self,
        p: Provider,
        user_id: i64,
        claims: &IdClaims,
        now: i64,
    ) -> Result<(), IdentityError> {
        match self.db.identity(p.as_str(), &claims.sub).await? {
            Some(i) if i.user_id == user_id => Ok(self
                .db
                .touch_identity(i.id, claims.email.as_deref(), claims.email_verified, now)
                .await?),
            Some(_) => Err(IdentityError::IdentityTaken),
            None => match self
                .db
                .link_identity(user_id, &new_identity(p, claims), now)
                .await
            {
                Ok(_) => Ok(()),
                Err(DbError::Conflict) => Err(IdentityError::IdentityTaken),
                Err(e) => Err(e.into()),
            },
        }
    }

    async fn sign_in(
        &self,
        p: Provider,
        claims: &IdClaims,
        registration_open: bool,
        now: i64,
    ) -> Result<UserRecord, IdentityError> {
        if let Some(i) = self.db.identity(p.as_str(), &claims.sub).await? {
            self.db
                .touch_identity(i.id, claims.email.as_deref(), claims.email_verified, now)
                .await?;
            return self
                .db
                .user_by_id(i.user_id)
                .await?
                .ok_or(IdentityError::StateInvalid);
        }
        let email = claims
            .email
            .as_deref()
            .and_then(|e| account::normalize_email(e).ok())
            .ok_or(IdentityError::NoEmail)?;
        if let Some(user) = self.db.user_by_email(&email).await? {
            // Both sides must have proven the address, or a provider account with someone
            // else's unverified email could take over their account (and vice versa).
            if !(user.email_verified && claims.email_verified) {
                return Err(IdentityError::LinkRefused);
            }
            return match self
                .db
                .link_identity(user.id, &new_identity(p, claims), now)
                .await
            {
                Ok(_) => Ok(user),
                Err(DbError::Conflict) => Err(IdentityError::IdentityTaken),
                Err(e) => Err(e.into()),
            };
        }
        // An account is only made for an address the provider has verified: otherwise a provider
        // account claiming someone's email would hold an account in their name, and keep it
        // after they recover it by email.
        if !claims.email_verified {
            return Err(IdentityError::EmailUnverified);
        }
        if !registration_open {
            return Err(IdentityError::RegistrationClosed);
        }
        let name = claims
            .name
            .as_deref()
            .or(claims.preferred_username.as_deref())
            .and_then(|n| account::normalize_display_name(n).ok())
            .or_else(|| {
                email
                    .split('@')
                    .next()
                    .and_then(|n| account::normalize_display_name(n).ok())
            })
            .unwrap_or_else(|| "Creator".to_string());
        let uuid = uuid::Uuid::new_v4().to_string();
        match self
            .db
            .create_user_with_identity(
                &NewProviderUser {
                    uuid: &uuid,
                    email: &email,
                    display_name: &name,
                    role: Role::Creator.as_str(),
                    email_verified: true,
                },
                &new_identity(p, claims),
                now,
            )
            .await
        {
            Ok(u) => {
                tracing::info!(
                    user_id = u.id,
                    provider = p.as_str(),
                    "user registered with a provider"
                );
                Ok(u)
            }
            Err(DbError::Conflict) => Err(IdentityError::LinkRefused),
            Err(e) => Err(e.into()),
        }
    }

    /// Trades a hand-off code for its user, once, in the browser that signed in (`binding`: the
    /// value of its [`HANDOFF_COOKIE`]).
    pub async fn take_handoff(
        &self,
        code: &str,
        binding: Option<&str>,
    ) -> Result<UserRecord, IdentityError> {
        let binding = binding
            .filter(|b| code.len() <= 128 && b.len() <= 128)
            .ok_or(IdentityError::HandoffInvalid)?;
        let user_id = self
            .db
            .take_handoff(
                &token::hash(code),
                &token::hash(binding),
                self.clock.now_ms(),
            )
            .await?
            .ok_or(IdentityError::HandoffInvalid)?;
        self.db
            .user_by_id(user_id)
            .await?
            .ok_or(IdentityError::HandoffInvalid)
    }

    /// A user's linked identities.
    pub async fn identities(&self, user_id: i64) -> Result<Vec<IdentityRecord>, IdentityError> {
        Ok(self.db.identities_of(user_id).await?)
    }

    /// Unlinks one of the user's identities, keeping at least one way in.
    pub async fn unlink(&self, user_id: i64, identity_id: i64) -> Result<(), IdentityError> {
        match self
            .db
            .unlink_identity(user_id, identity_id, self.clock.now_ms())
            .await?
        {
            Some(true) => Ok(()),
            Some(false) => Err(IdentityError::LastWayIn),
            None => Err(IdentityError::NotFound),
        }
    }

    async fn exchange_code(
        &self,
        p: Provider,
        cfg: &OidcProvider,
        code: &str,
        verifier: &str,
    ) -> Result<TokenResponse, IdentityError> {
        let redirect_uri = self.redirect_uri(p);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.expose().as_str()),
            ("code_verifier", verifier),
        ];
        let res = self
            .http
            .post(&cfg.token_url)
            .form(&form)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| IdentityError::Unreachable(e.without_url().to_string()))?;
        let ok = res.status().is_success();
        let body = read_bounded(res, oidc::MAX_TOKEN_RESPONSE_BYTES).await?;
        TokenResponse::parse(ok, &body).map_err(|e| match e {
            TokenResponseError::Refused(code) => {
                tracing::info!(provider = p.as_str(), error = %code, "the provider refused an authorization code");
                IdentityError::CodeRefused(code)
            }
            TokenResponseError::Malformed => {
                IdentityError::Unreachable("the token response is malformed".into())
            }
        })
    }

    async fn userinfo(
        &self,
        url: &str,
        cfg: &OidcProvider,
        access_token: &str,
    ) -> Result<UserInfo, IdentityError> {
        let res = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header("Client-Id", &cfg.client_id)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| IdentityError::Unreachable(e.without_url().to_string()))?;
        if !res.status().is_success() {
            return Err(IdentityError::Unreachable(format!(
                "userinfo answered {}",
                res.status().as_u16()
            )));
        }
        let body = read_bounded(res, oidc::MAX_TOKEN_RESPONSE_BYTES).await?;
        UserInfo::parse(&body)
            .ok_or_else(|| IdentityError::Unreachable("the userinfo response is malformed".into()))
    }

    async fn verify(
        &self,
        p: Provider,
        cfg: &OidcProvider,
        id_token: &str,
        nonce: &str,
    ) -> Result<IdClaims, IdentityError> {
        let issuers: Vec<&str> = cfg.issuers.iter().map(String::as_str).collect();
        let expect = IdTokenExpect {
            issuers: &issuers,
            client_id: &cfg.client_id,
            nonce,
            now: self.clock.now_secs(),
        };
        let keys = self.keys(p, cfg, false).await?;
        match oidc::verify_id_token(id_token, &keys, &expect) {
            Err(IdTokenError::UnknownKey) => {
                let keys = self.keys(p, cfg, true).await?;
                let r = oidc::verify_id_token(id_token, &keys, &expect);
                if let Err(e) = &r {
                    tracing::info!(
                        provider = p.as_str(),
                        reason = e.reason(),
                        "ID token refused"
                    );
                }
                Ok(r?)
            }
            Err(e) => {
                tracing::info!(
                    provider = p.as_str(),
                    reason = e.reason(),
                    "ID token refused"
                );
                Err(e.into())
            }
            Ok(c) => Ok(c),
        }
    }

    /// The provider's keys: cached for [`JWKS_TTL_MS`]; with `unknown_kid`, fetched again
    /// unless that was done less than [`FORCED_REFETCH_MS`] ago.
    async fn keys(
        &self,
        p: Provider,
        cfg: &OidcProvider,
        unknown_kid: bool,
    ) -> Result<Arc<Jwks>, IdentityError> {
        let mut cache = self.keys[p.index()].lock().await;
        let now = self.clock.now_ms();
        let fresh = cache.set.is_some() && now - cache.fetched_at < JWKS_TTL_MS;
        let may_force = cache.forced_at.is_none_or(|t| now - t >= FORCED_REFETCH_MS);
        if let Some(set) = &cache.set {
            if fresh && !(unknown_kid && may_force) {
                return Ok(set.clone());
            }
        }
        if unknown_kid {
            cache.forced_at = Some(now);
        }
        let res = self
            .http
            .get(&cfg.jwks_url)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| IdentityError::Unreachable(e.without_url().to_string()))?;
        if !res.status().is_success() {
            return Err(IdentityError::Unreachable(format!(
                "the key set answered {}",
                res.status().as_u16()
            )));
        }
        let body = read_bounded(res, oidc::MAX_JWKS_BYTES).await?;
        let set = Arc::new(
            Jwks::parse(&body)
                .map_err(|_| IdentityError::Unreachable("the key set is malformed".into()))?,
        );
        tracing::debug!(
            provider = p.as_str(),
            keys = set.keys.len(),
            "provider keys fetched"
        );
        cache.set = Some(set.clone());
        cache.fetched_at = now;
        Ok(set)
    }
}

fn new_identity<'a>(p: Provider, claims: &'a IdClaims) -> NewIdentity<'a> {
    NewIdentity {
        provider: p.as_str(),
        subject: &claims.sub,
        email: claims.email.as_deref(),
        email_verified: claims.email_verified,
    }
}

/// A local path to return to: absolute, not protocol-relative, no backslashes or controls;
/// anything else is the dashboard.
pub fn local_path(p: &str) -> String {
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && p.len() <= MAX_RETURN_TO
        && !p.contains('\\')
        && !p.chars().any(char::is_control);
    if ok {
        p.to_string()
    } else {
        "/dashboard".to_string()
    }
}

async fn read_bounded(mut res: reqwest::Response, max: usize) -> Result<Vec<u8>, IdentityError> {
    if res.content_length().is_some_and(|n| n > max as u64) {
        return Err(IdentityError::Unreachable("the answer is too large".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| IdentityError::Unreachable(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > max {
            return Err(IdentityError::Unreachable("the answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_returned_to() {
        for (given, kept) in [
            ("/dashboard", "/dashboard"),
            ("/watch/abc?x=1", "/watch/abc?x=1"),
            ("//evil.example", "/dashboard"),
            ("https://evil.example", "/dashboard"),
            ("/\\evil.example", "/dashboard"),
            ("", "/dashboard"),
            ("/a\nb", "/dashboard"),
        ] {
            assert_eq!(super::local_path(given), kept, "{given}");
        }
    }
}
