//! Signing in with Telegram (SPEC §2.11): the Login Widget's data or a Mini App's `initData`,
//! checked with the bot's token ([`ferrocast_auth::telegram`]), names a Telegram account; it
//! signs in the ferrocast account linked to it, links it to the signed-in caller, or makes a new
//! account.
//!
//! Telegram shares no email. A new account gets the placeholder address
//! `telegram-<id>@telegram.invalid` (RFC 2606's reserved `.invalid`: no mail is sent to it) and
//! no password; its owner adds an email and a password from Settings if they want them.

use crate::service::clock::SharedClock;
use ferrocast_auth::telegram::{self, TelegramError, TelegramUser};
use ferrocast_config::TelegramBot;
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::identities::{NewIdentity, NewProviderUser};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::account::{self, Role};

/// The identity provider's name in `user_identities`.
pub const PROVIDER: &str = "telegram";
/// How old the Login Widget's `auth_date` may be (seconds): a day, as Telegram's examples check.
pub const WIDGET_MAX_AGE_SECS: i64 = telegram::DEFAULT_MAX_AGE_SECS;
/// How old a Mini App's `initData` may be (seconds): a day (it lives while the Mini App is open).
pub const WEBAPP_MAX_AGE_SECS: i64 = telegram::DEFAULT_MAX_AGE_SECS;

/// Why a Telegram sign-in did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TelegramSignInError {
    /// No bot token is set.
    #[error("signing in with Telegram is off on this server")]
    Off,
    /// Telegram's data did not check out.
    #[error(transparent)]
    Refused(#[from] TelegramError),
    /// The Telegram account is linked to another ferrocast account.
    #[error("this Telegram account is linked to another account")]
    IdentityTaken,
    /// No account is linked and registration is closed.
    #[error("registration is closed")]
    RegistrationClosed,
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Signing in with Telegram.
pub struct TelegramSignIn {
    db: Db,
    clock: SharedClock,
    bot: Option<TelegramBot>,
}

/// The placeholder email of a Telegram account's new ferrocast account.
pub fn placeholder_email(telegram_id: i64) -> String {
    format!("telegram-{telegram_id}@telegram.invalid")
}

impl TelegramSignIn {
    /// The service; `bot` `None` when no token is set.
    pub fn new(db: Db, clock: SharedClock, bot: Option<TelegramBot>) -> Self {
        Self { db, clock, bot }
    }

    /// Telegram's sign-in page for this site, when sign-in is on: it sends the person back to
    /// `<public URL>/auth/telegram#tgAuthResult=…` (the Login Widget's fields, base64 JSON).
    pub fn login_url(&self, public_url: &str) -> Option<String> {
        let bot = self.bot.as_ref()?;
        let bot_id = bot.token.expose().split_once(':')?.0.to_string();
        let origin = public_url.trim_end_matches('/');
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        Some(format!(
            "{}/auth?bot_id={bot_id}&origin={}&request_access=write&return_to={}",
            bot.oauth_url,
            enc(origin),
            enc(&format!("{origin}/auth/telegram"))
        ))
    }

    /// The bot's username, when sign-in is on.
    pub fn bot_username(&self) -> Option<&str> {
        self.bot.as_ref().and_then(|b| b.username.as_deref())
    }

    fn token(&self) -> Result<&str, TelegramSignInError> {
        Ok(self
            .bot
            .as_ref()
            .ok_or(TelegramSignInError::Off)?
            .token
            .expose()
            .as_str())
    }

    /// The account of the Login Widget's `data` (its fields as a JSON object).
    pub async fn widget(
        &self,
        data: &serde_json::Value,
        link_to: Option<&UserRecord>,
        registration_open: bool,
    ) -> Result<UserRecord, TelegramSignInError> {
        let fields = telegram::widget_fields(data)?;
        let tg = telegram::verify_login_widget(
            &fields,
            self.token()?,
            self.clock.now_secs(),
            WIDGET_MAX_AGE_SECS,
        )?;
        self.account(&tg, link_to, registration_open).await
    }

    /// The account of a Mini App's `init_data`.
    pub async fn webapp(
        &self,
        init_data: &str,
        link_to: Option<&UserRecord>,
        registration_open: bool,
    ) -> Result<UserRecord, TelegramSignInError> {
        let d = telegram::verify_init_data(
            init_data,
            self.token()?,
            self.clock.now_secs(),
            WEBAPP_MAX_AGE_SECS,
        )?;
        self.account(&d.user, link_to, registration_open).await
    }

    /// The account linked to `tg`; or `tg` linked to `link_to`; or a new account.
    async fn account(
        &self,
        tg: &TelegramUser,
        link_to: Option<&UserRecord>,
        registration_open: bool,
    ) -> Result<UserRecord, TelegramSignInError> {
        let now = self.clock.now_ms();
        let subject = tg.id.to_string();
        if let Some(i) = self.db.identity(PROVIDER, &subject).await? {
            if link_to.is_some_and(|u| u.id != i.user_id) {
                return Err(TelegramSignInError::IdentityTaken);
            }
            self.db.touch_identity(i.id, None, false, now).await?;
            return self
                .db
                .user_by_id(i.user_id)
                .await?
                .ok_or(TelegramSignInError::IdentityTaken);
        }
        let identity = NewIdentity {
            provider: PROVIDER,
            subject: &subject,
            email: None,
            email_verified: false,
        };
        if let Some(u) = link_to {
            return match self.db.link_identity(u.id, &identity, now).await {
                Ok(_) => Ok(u.clone()),
                Err(DbError::Conflict) => Err(TelegramSignInError::IdentityTaken),
                Err(e) => Err(e.into()),
            };
        }
        if !registration_open {
            return Err(TelegramSignInError::RegistrationClosed);
        }
        let full = match &tg.last_name {
            Some(last) => format!("{} {last}", tg.first_name),
            None => tg.first_name.clone(),
        };
        let name = account::normalize_display_name(&full)
            .ok()
            .or_else(|| {
                tg.username
                    .as_deref()
                    .and_then(|u| account::normalize_display_name(u).ok())
            })
            .unwrap_or_else(|| "Telegram user".to_string());
        let email = placeholder_email(tg.id);
        let uuid = uuid::Uuid::new_v4().to_string();
        match self
            .db
            .create_user_with_identity(
                &NewProviderUser {
                    uuid: &uuid,
                    email: &email,
                    display_name: &name,
                    role: Role::Creator.as_str(),
                    email_verified: false,
                },
                &identity,
                now,
            )
            .await
        {
            Ok(u) => {
                tracing::info!(user_id = u.id, "user registered with Telegram");
                Ok(u)
            }
            Err(DbError::Conflict) => Err(TelegramSignInError::IdentityTaken),
            Err(e) => Err(e.into()),
        }
    }
}
