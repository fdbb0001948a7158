//! Provider identities (sign in with Google / Twitch), pending provider logins, and the
//! single-use codes the web app trades for a session after one.

use crate::accounts::UserRecord;
use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;

/// A provider account linked to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// Row id.
    pub id: i64,
    /// The user.
    pub user_id: i64,
    /// `google` or `twitch`.
    pub provider: String,
    /// The provider's stable account id (`sub`).
    pub subject: String,
    /// The email the provider gave at the last sign-in.
    pub email: Option<String>,
    /// Whether the provider said it verified that email.
    pub email_verified: bool,
    /// When linked (ms).
    pub created_at: i64,
    /// Last sign-in with it (ms).
    pub last_login_at: Option<i64>,
}

const IDENTITY_COLUMNS: &str =
    "id, user_id, provider, subject, email, email_verified, created_at, last_login_at";

macro_rules! identity_from_row {
    ($r:expr) => {
        IdentityRecord {
            id: $r.try_get("id")?,
            user_id: $r.try_get("user_id")?,
            provider: $r.try_get("provider")?,
            subject: $r.try_get("subject")?,
            email: $r.try_get("email")?,
            email_verified: $r.try_get("email_verified")?,
            created_at: $r.try_get("created_at")?,
            last_login_at: $r.try_get("last_login_at")?,
        }
    };
}

/// An identity to link.
#[derive(Debug, Clone)]
pub struct NewIdentity<'a> {
    /// `google` or `twitch`.
    pub provider: &'a str,
    /// The provider's `sub`.
    pub subject: &'a str,
    /// Email from the provider.
    pub email: Option<&'a str>,
    /// Whether the provider verified it.
    pub email_verified: bool,
}

/// A user without a password, created by a provider sign-in.
#[derive(Debug, Clone)]
pub struct NewProviderUser<'a> {
    /// Public UUID.
    pub uuid: &'a str,
    /// Normalised email.
    pub email: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Role name.
    pub role: &'a str,
    /// Whether the provider verified the email.
    pub email_verified: bool,
}

/// A provider login waiting for its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// Row id.
    pub id: i64,
    /// `google` or `twitch`.
    pub provider: String,
    /// `login`, `link` or `connect`.
    pub purpose: String,
    /// Who asked (link, connect).
    pub user_id: Option<i64>,
    /// Which source (connect).
    pub source_id: Option<i64>,
    /// The PKCE verifier, sealed.
    pub verifier_sealed: String,
    /// SHA-256 of the nonce.
    pub nonce_hash: String,
    /// SHA-256 of the browser-binding cookie.
    pub binding_hash: String,
    /// Local path to return to.
    pub return_to: String,
    /// Expiry (ms).
    pub expires_at: i64,
}

/// A pending login to store.
#[derive(Debug, Clone)]
pub struct NewPendingLogin<'a> {
    /// SHA-256 of the state.
    pub state_hash: &'a str,
    /// `google` or `twitch`.
    pub provider: &'a str,
    /// `login`, `link` or `connect`.
    pub purpose: &'a str,
    /// Who asked (link, connect).
    pub user_id: Option<i64>,
    /// Which source (connect).
    pub source_id: Option<i64>,
    /// The PKCE verifier, sealed.
    pub verifier_sealed: &'a str,
    /// SHA-256 of the nonce.
    pub nonce_hash: &'a str,
    /// SHA-256 of the browser-binding cookie.
    pub binding_hash: &'a str,
    /// Local path to return to.
    pub return_to: &'a str,
    /// Expiry (ms).
    pub expires_at: i64,
}

/// What taking a pending login found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// It was there, unused and unexpired: now spent.
    Fresh(PendingLogin),
    /// It was there but past its expiry (now spent).
    Expired,
    /// Unknown, or already taken.
    Unknown,
}

/// Pending logins this long past their expiry are deleted.
pub const PENDING_KEPT_MS: i64 = 3600 * 1000;

impl Db {
    /// The identity `(provider, subject)`, if linked.
    pub async fn identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<IdentityRecord>, DbError> {
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM user_identities WHERE provider = $1 AND subject = $2"
        );
        on_pool!(self, p => {
            let row = sqlx::query(&sql).bind(provider).bind(subject).fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some(identity_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// A user's identities, oldest first.
    pub async fn identities_of(&self, user_id: i64) -> Result<Vec<IdentityRecord>, DbError> {
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM user_identities WHERE user_id = $1 ORDER BY id"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(identity_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Links an identity to a user; [`DbError::Conflict`] if it is linked already (to anyone).
    pub async fn link_identity(
        &self,
        user_id: i64,
        id: &NewIdentity<'_>,
        now: i64,
    ) -> Result<IdentityRecord, DbError> {
        on_pool!(self, p => {
            sqlx::query("INSERT INTO user_identities (user_id, provider, subject, email, email_verified, created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
                .bind(user_id).bind(id.provider).bind(id.subject).bind(id.email).bind(id.email_verified).bind(now)
                .execute(p).await.map_err(map_unique)?;
        });
        self.identity(id.provider, id.subject)
            .await?
            .ok_or(DbError::Query(sqlx::Error::RowNotFound))
    }

    /// Records a sign-in with an identity, with the email the provider gives now.
    pub async fn touch_identity(
        &self,
        identity_id: i64,
        email: Option<&str>,
        email_verified: bool,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE user_identities SET email = $2, email_verified = $3, last_login_at = $4 WHERE id = $1")
            .bind(identity_id).bind(email).bind(email_verified).bind(now).execute(p).await.map(|_| ()).map_err(DbError::from))
    }

    /// Creates a user without a password and links the identity, at once;
    /// [`DbError::Conflict`] if the email is taken or the identity linked meanwhile.
    pub async fn create_user_with_identity(
        &self,
        u: &NewProviderUser<'_>,
        id: &NewIdentity<'_>,
        now: i64,
    ) -> Result<UserRecord, DbError> {
        let mut attempt = 0;
        let user_id: i64 = loop {
            let handle = self.free_handle(u.display_name, u.email).await?;
            let made: Result<i64, DbError> = on_pool!(self, p => async {
                let mut tx = p.begin().await?;
                let written: Result<i64, DbError> = async {
                    let user_id: i64 = sqlx::query_scalar(
                        "INSERT INTO users (uuid, email, password_hash, display_name, role, email_verified, created_at, updated_at, handle) \
                         VALUES ($1, $2, NULL, $3, $4, $5, $6, $6, $7) RETURNING id",
                    )
                    .bind(u.uuid).bind(u.email).bind(u.display_name).bind(u.role).bind(u.email_verified).bind(now).bind(&handle)
                    .fetch_one(&mut *tx).await.map_err(map_unique)?;
                    sqlx::query("INSERT INTO user_identities (user_id, provider, subject, email, email_verified, created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
                        .bind(user_id).bind(id.provider).bind(id.subject).bind(id.email).bind(id.email_verified).bind(now)
                        .execute(&mut *tx).await.map_err(map_unique)?;
                    Ok(user_id)
                }
                .await;
                match written {
                    Ok(user_id) => {
                        tx.commit().await?;
                        Ok::<i64, DbError>(user_id)
                    }
                    // Rolled back here, not when dropped: the write lock goes before the caller
                    // (or the retry below) writes again.
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                }
            }.await);
            match made {
                Ok(id) => break id,
                // Another account took the handle meanwhile: choose again.
                Err(DbError::Conflict) if attempt < 4 => {
                    if !self.handle_taken(&handle).await? {
                        return Err(DbError::Conflict);
                    }
                    attempt += 1;
                }
                // SQLite refused the write lock at once ("database is locked": another
                // connection's transaction was still being given up): nothing was written, so
                // try again.
                Err(DbError::Query(sqlx::Error::Database(e)))
                    if attempt < 4 && e.message().contains("database is locked") =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        self.user_by_id(user_id)
            .await?
            .ok_or(DbError::Query(sqlx::Error::RowNotFound))
    }

    /// Unlinks one of a user's identities unless it is their last way in (no password and no
    /// other identity). `Ok(None)`: no such identity of theirs; `Ok(Some(false))`: refused.
    /// Serialised per user (the user row is written first), so two unlinks at once cannot both
    /// leave the account without a way in.
    pub async fn unlink_identity(
        &self,
        user_id: i64,
        identity_id: i64,
        now: i64,
    ) -> Result<Option<bool>, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let touched = sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1")
                .bind(user_id).bind(now).execute(&mut *tx).await?.rows_affected();
            if touched == 0 {
                return Ok(None);
            }
            let mine: Option<i64> = sqlx::query_scalar("SELECT id FROM user_identities WHERE id = $1 AND user_id = $2")
                .bind(identity_id).bind(user_id).fetch_optional(&mut *tx).await?;
            if mine.is_none() {
                return Ok(None);
            }
            let has_password: bool = sqlx::query_scalar("SELECT password_hash IS NOT NULL FROM users WHERE id = $1")
                .bind(user_id).fetch_one(&mut *tx).await?;
            let others: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_identities WHERE user_id = $1 AND id <> $2")
                .bind(user_id).bind(identity_id).fetch_one(&mut *tx).await?;
            if !has_password && others == 0 {
                return Ok(Some(false));
            }
            sqlx::query("DELETE FROM user_identities WHERE id = $1").bind(identity_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(true))
        })
    }

    /// Unlinks every provider account of `user_id` (an account recovered by email keeps only
    /// its new password); how many.
    pub async fn unlink_all_identities(&self, user_id: i64) -> Result<u64, DbError> {
        on_pool!(self, p => Ok(sqlx::query("DELETE FROM user_identities WHERE user_id = $1")
            .bind(user_id).execute(p).await?.rows_affected()))
    }

    /// Stores a pending login, first deleting those long past their expiry.
    pub async fn create_pending_login(
        &self,
        l: &NewPendingLogin<'_>,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query("DELETE FROM oauth_logins WHERE expires_at < $1")
                .bind(now - PENDING_KEPT_MS).execute(p).await?;
            sqlx::query("INSERT INTO oauth_logins (state_hash, provider, purpose, user_id, source_id, verifier_sealed, nonce_hash, binding_hash, return_to, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                .bind(l.state_hash).bind(l.provider).bind(l.purpose).bind(l.user_id).bind(l.source_id)
                .bind(l.verifier_sealed).bind(l.nonce_hash).bind(l.binding_hash).bind(l.return_to).bind(now).bind(l.expires_at)
                .execute(p).await.map_err(map_unique)?;
        });
        Ok(())
    }

    /// Takes the pending login of `state_hash` for `provider`, once: the first caller gets it,
    /// every later one (on any node) [`Taken::Unknown`].
    pub async fn take_pending_login(
        &self,
        provider: &str,
        state_hash: &str,
        now: i64,
    ) -> Result<Taken, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query(
                "UPDATE oauth_logins SET used_at = $3 WHERE state_hash = $1 AND provider = $2 AND used_at IS NULL \
                 RETURNING id, provider, purpose, user_id, source_id, verifier_sealed, nonce_hash, binding_hash, return_to, expires_at",
            )
            .bind(state_hash).bind(provider).bind(now).fetch_optional(p).await?;
            let Some(r) = row else { return Ok(Taken::Unknown) };
            let l = PendingLogin {
                id: r.try_get("id")?,
                provider: r.try_get("provider")?,
                purpose: r.try_get("purpose")?,
                user_id: r.try_get("user_id")?,
                source_id: r.try_get("source_id")?,
                verifier_sealed: r.try_get("verifier_sealed")?,
                nonce_hash: r.try_get("nonce_hash")?,
                binding_hash: r.try_get("binding_hash")?,
                return_to: r.try_get("return_to")?,
                expires_at: r.try_get("expires_at")?,
            };
            Ok(if l.expires_at <= now { Taken::Expired } else { Taken::Fresh(l) })
        })
    }

    /// Stores a hand-off code for `user_id`, tradable only with the browser cookie whose hash
    /// is `binding_hash`; first deletes spent and expired ones.
    pub async fn create_handoff(
        &self,
        code_hash: &str,
        binding_hash: &str,
        user_id: i64,
        expires_at: i64,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query("DELETE FROM oauth_handoffs WHERE expires_at < $1 OR used_at IS NOT NULL")
                .bind(now).execute(p).await?;
            sqlx::query("INSERT INTO oauth_handoffs (code_hash, binding_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(code_hash).bind(binding_hash).bind(user_id).bind(now).bind(expires_at)
                .execute(p).await.map_err(map_unique)?;
        });
        Ok(())
    }

    /// Spends a hand-off code presented with the browser cookie whose hash is `binding_hash`:
    /// its user, once, if it has not expired.
    pub async fn take_handoff(
        &self,
        code_hash: &str,
        binding_hash: &str,
        now: i64,
    ) -> Result<Option<i64>, DbError> {
        on_pool!(self, p => sqlx::query_scalar(
            "UPDATE oauth_handoffs SET used_at = $2 WHERE code_hash = $1 AND binding_hash = $3 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
        )
        .bind(code_hash).bind(now).bind(binding_hash).fetch_optional(p).await.map_err(DbError::from))
    }
}
