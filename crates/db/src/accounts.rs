//! Users, sessions (refresh-token families), one-time codes, recovery codes, login challenges and
//! API keys.

use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Integer id.
    pub id: i64,
    /// Public UUID.
    pub uuid: String,
    /// Normalised email.
    pub email: String,
    /// argon2id PHC string; `None` for accounts without a password (OAuth, later).
    pub password_hash: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Role name.
    pub role: String,
    /// Whether the email was confirmed with a code.
    pub email_verified: bool,
    /// Sealed TOTP secret, when two-factor is enabled.
    pub totp_secret: Option<String>,
    /// Sealed TOTP secret awaiting confirmation.
    pub totp_pending_secret: Option<String>,
    /// Whether two-factor login is on.
    pub totp_enabled: bool,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// When an administrator suspended the account (ms); `None` while it is active.
    pub suspended_at: Option<i64>,
    /// The channel's handle (lowercase, unique); empty only for an account made before
    /// profiles existed, until [`Db::backfill_handles`] runs at start.
    pub handle: String,
    /// Bio (plain text).
    pub bio: String,
    /// Links, a JSON array of `{label, url}` as stored.
    pub links: String,
    /// Storage key of the avatar (a 256×256 JPEG).
    pub avatar_key: Option<String>,
    /// Storage key of the banner (a 1920×480 JPEG).
    pub banner_key: Option<String>,
}

const USER_COLUMNS: &str = "u.id, u.uuid, u.email, u.password_hash, u.display_name, u.avatar_url, u.role, \
     u.email_verified, u.totp_secret, u.totp_pending_secret, u.totp_enabled, u.created_at, u.updated_at, u.suspended_at, \
     COALESCE(u.handle, '') AS handle, u.bio, u.links, u.avatar_key, u.banner_key";

macro_rules! user_from_row {
    ($r:expr) => {
        UserRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            email: $r.try_get("email")?,
            password_hash: $r.try_get("password_hash")?,
            display_name: $r.try_get("display_name")?,
            avatar_url: $r.try_get("avatar_url")?,
            role: $r.try_get("role")?,
            email_verified: $r.try_get("email_verified")?,
            totp_secret: $r.try_get("totp_secret")?,
            totp_pending_secret: $r.try_get("totp_pending_secret")?,
            totp_enabled: $r.try_get("totp_enabled")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
            suspended_at: $r.try_get("suspended_at")?,
            handle: $r.try_get("handle")?,
            bio: $r.try_get("bio")?,
            links: $r.try_get("links")?,
            avatar_key: $r.try_get("avatar_key")?,
            banner_key: $r.try_get("banner_key")?,
        }
    };
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Public UUID.
    pub uuid: &'a str,
    /// Normalised email.
    pub email: &'a str,
    /// argon2id hash.
    pub password_hash: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Role name.
    pub role: &'a str,
    /// Whether the email counts as verified (true for users an operator creates).
    pub email_verified: bool,
}

/// What a profile edit changes; `None` leaves a field as it is. Values are already validated.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges<'a> {
    /// Display name.
    pub display_name: Option<&'a str>,
    /// Handle (lowercase).
    pub handle: Option<&'a str>,
    /// Bio.
    pub bio: Option<&'a str>,
    /// Links as JSON.
    pub links: Option<&'a str>,
}

/// Outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current; it is now spent and the new one stored.
    Rotated {
        /// Session (family) id.
        session_id: i64,
        /// Session UUID, carried in access tokens as `sid`.
        session_uuid: String,
        /// Owner.
        user_id: i64,
    },
    /// The token had already been spent: the whole family is now revoked (RFC 9700 §4.14.2).
    Reused,
    /// Unknown, expired, or its family already revoked.
    Invalid,
}

/// An active one-time code awaiting use.
#[derive(Debug, Clone)]
pub struct CodeRecord {
    /// Row id.
    pub id: i64,
    /// Keyed hash of the code.
    pub code_hash: String,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// A login challenge (password accepted, second factor pending).
#[derive(Debug, Clone)]
pub struct ChallengeRecord {
    /// Row id.
    pub id: i64,
    /// Who is logging in.
    pub user_id: i64,
    /// Expiry (ms).
    pub expires_at: i64,
    /// When it was completed.
    pub used_at: Option<i64>,
    /// Failed codes so far.
    pub attempts: i64,
}

/// An API key row (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Integer id.
    pub id: i64,
    /// Public UUID.
    pub uuid: String,
    /// Owner.
    pub user_id: i64,
    /// Owner's label.
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last use (ms), updated at most once a minute.
    pub last_used_at: Option<i64>,
    /// Optional expiry (ms).
    pub expires_at: Option<i64>,
    /// Revocation time (ms).
    pub revoked_at: Option<i64>,
}

const KEY_COLUMNS: &str = "k.id, k.uuid, k.user_id, k.name, k.prefix, k.scopes, k.created_at, k.last_used_at, k.expires_at, k.revoked_at";

macro_rules! key_from_row {
    ($r:expr) => {
        ApiKeyRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            user_id: $r.try_get("user_id")?,
            name: $r.try_get("name")?,
            prefix: $r.try_get("prefix")?,
            scopes: $r.try_get("scopes")?,
            created_at: $r.try_get("created_at")?,
            last_used_at: $r.try_get("last_used_at")?,
            expires_at: $r.try_get("expires_at")?,
            revoked_at: $r.try_get("revoked_at")?,
        }
    };
}

impl Db {
    // ---- users -------------------------------------------------------------------------------

    /// Inserts a user with a handle derived from its display name or email (numbered until
    /// free); [`DbError::Conflict`] if the email is taken.
    pub async fn create_user(&self, u: &NewUser<'_>, now: i64) -> Result<UserRecord, DbError> {
        let mut attempt = 0;
        let id: i64 = loop {
            let handle = self.free_handle(u.display_name, u.email).await?;
            let inserted: Result<i64, DbError> = on_pool!(self, p => sqlx::query_scalar(
                "INSERT INTO users (uuid, email, password_hash, display_name, role, email_verified, created_at, updated_at, handle) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
            )
            .bind(u.uuid)
            .bind(u.email)
            .bind(u.password_hash)
            .bind(u.display_name)
            .bind(u.role)
            .bind(u.email_verified)
            .bind(now)
            .bind(&handle)
            .fetch_one(p)
            .await
            .map_err(map_unique));
            match inserted {
                Ok(id) => break id,
                // Another account took the handle meanwhile: choose again.
                Err(DbError::Conflict) if attempt < 4 => {
                    if !self.handle_taken(&handle).await? {
                        return Err(DbError::Conflict);
                    }
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        self.user_by_id(id)
            .await?
            .ok_or(DbError::Query(sqlx::Error::RowNotFound))
    }

    // ---- profiles ----------------------------------------------------------------------------

    /// Whether an account has `handle` (lowercase).
    pub async fn handle_taken(&self, handle: &str) -> Result<bool, DbError> {
        let n: i64 = on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE handle = $1")
            .bind(handle).fetch_one(p).await?);
        Ok(n > 0)
    }

    /// The first free, unreserved handle for a new account named `display_name` with `email`:
    /// the derived base, then the base numbered from 2.
    pub async fn free_handle(&self, display_name: &str, email: &str) -> Result<String, DbError> {
        use ferrocast_domain::profile::{handle_base, handle_candidate, is_reserved};
        let base = handle_base(display_name, email);
        // Every handle that starts like the base (LIKE's `_` escaped: handles contain it).
        let pattern = format!("{}%", base.replace('_', "\\_"));
        let taken: Vec<String> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT handle FROM users WHERE handle LIKE $1 ESCAPE '\\'",
        )
        .bind(&pattern)
        .fetch_all(p)
        .await?);
        let taken: std::collections::HashSet<String> = taken.into_iter().collect();
        let mut n = 1;
        loop {
            let c = handle_candidate(&base, n);
            if !is_reserved(&c) && !taken.contains(&c) && !self.handle_taken(&c).await? {
                return Ok(c);
            }
            n += 1;
        }
    }

    /// Gives every account without a handle (made before profiles existed) one derived from
    /// its display name or email, oldest first. How many were given.
    pub async fn backfill_handles(&self) -> Result<u64, DbError> {
        let rows: Vec<(i64, String, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, display_name, email FROM users WHERE handle IS NULL AND erased_at IS NULL ORDER BY id",
        )
        .fetch_all(p)
        .await?);
        let mut done = 0;
        for (id, name, email) in rows {
            for _ in 0..5 {
                let handle = self.free_handle(&name, &email).await?;
                let r = on_pool!(self, p => sqlx::query("UPDATE users SET handle = $2 WHERE id = $1 AND handle IS NULL")
                    .bind(id).bind(&handle).execute(p).await.map(|_| ()).map_err(map_unique));
                match r {
                    Ok(_) => {
                        done += 1;
                        break;
                    }
                    // Another node gave the handle meanwhile: choose again.
                    Err(DbError::Conflict) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(done)
    }

    /// Finds a user by handle, whatever its case.
    pub async fn user_by_handle(&self, handle: &str) -> Result<Option<UserRecord>, DbError> {
        let lower = handle.to_ascii_lowercase();
        self.user_where("u.handle = $1", UserKey::Text(&lower))
            .await
    }

    /// A user's handle, display name and avatar key, for showing who made something.
    pub async fn user_card(
        &self,
        user_id: i64,
    ) -> Result<Option<(String, String, Option<String>)>, DbError> {
        let row: Option<(String, String, Option<String>)> = on_pool!(self, p => sqlx::query_as(
            "SELECT COALESCE(handle, ''), display_name, avatar_key FROM users WHERE id = $1",
        )
        .bind(user_id)
        .fetch_optional(p)
        .await?);
        Ok(row)
    }

    /// Changes what the owner edits of a profile: each field given replaces the stored one
    /// (`links` as its JSON). [`DbError::Conflict`] if the handle is another account's.
    pub async fn set_profile(
        &self,
        user_id: i64,
        p: &ProfileChanges<'_>,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE users SET display_name = COALESCE($2, display_name), handle = COALESCE($3, handle), \
             bio = COALESCE($4, bio), links = COALESCE($5, links), updated_at = $6 WHERE id = $1",
        )
        .bind(user_id)
        .bind(p.display_name)
        .bind(p.handle)
        .bind(p.bio)
        .bind(p.links)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(map_unique))?;
        Ok(())
    }

    /// Replaces the avatar's (`banner == false`) or banner's storage key; returns the key it
    /// replaced, for the caller to delete.
    pub async fn set_profile_image(
        &self,
        user_id: i64,
        banner: bool,
        key: Option<&str>,
        now: i64,
    ) -> Result<Option<String>, DbError> {
        let column = if banner { "banner_key" } else { "avatar_key" };
        let select = format!("SELECT {column} FROM users WHERE id = $1");
        let update = format!("UPDATE users SET {column} = $2, updated_at = $3 WHERE id = $1");
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // The row is written first: two uploads at once are serialised, and the second
            // reads (and so deletes) what the first stored.
            sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1").bind(user_id).bind(now).execute(&mut *tx).await?;
            let old: Option<Option<String>> = sqlx::query_scalar(&select).bind(user_id).fetch_optional(&mut *tx).await?;
            sqlx::query(&update).bind(user_id).bind(key).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(old.flatten())
        })
    }

    async fn user_where(
        &self,
        clause: &str,
        bind: UserKey<'_>,
    ) -> Result<Option<UserRecord>, DbError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE {clause}");
        on_pool!(self, p => {
            let q = sqlx::query(&sql);
            let q = match bind {
                UserKey::Id(id) => q.bind(id),
                UserKey::Text(t) => q.bind(t),
            };
            match q.fetch_optional(p).await? {
                Some(r) => Ok(Some(user_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// Finds a user by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, DbError> {
        self.user_where("u.id = $1", UserKey::Id(id)).await
    }

    /// Finds a user by normalised email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, DbError> {
        self.user_where("u.email = $1", UserKey::Text(email)).await
    }

    /// Finds a user by UUID.
    pub async fn user_by_uuid(&self, uuid: &str) -> Result<Option<UserRecord>, DbError> {
        self.user_where("u.uuid = $1", UserKey::Text(uuid)).await
    }

    /// Loads the user behind an access token, if its session is still valid.
    pub async fn user_for_session(
        &self,
        user_id: i64,
        session_uuid: &str,
        now: i64,
    ) -> Result<Option<UserRecord>, DbError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u JOIN auth_sessions s ON s.user_id = u.id \
             WHERE u.id = $1 AND s.uuid = $2 AND s.revoked_at IS NULL AND s.expires_at > $3"
        );
        on_pool!(self, p => {
            match sqlx::query(&sql).bind(user_id).bind(session_uuid).bind(now).fetch_optional(p).await? {
                Some(r) => Ok(Some(user_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// Marks the email verified.
    pub async fn set_email_verified(&self, user_id: i64, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE users SET email_verified = TRUE, updated_at = $2 WHERE id = $1")
            .bind(user_id).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Replaces the password hash.
    pub async fn set_password_hash(
        &self,
        user_id: i64,
        hash: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id).bind(hash).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Changes the role.
    pub async fn set_role(&self, user_id: i64, role: &str, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id).bind(role).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Suspends the account at `at` (ms), or reactivates it with `None`. Whether it changed
    /// (suspending a suspended account, or reactivating an active one, changes nothing).
    pub async fn set_suspended(
        &self,
        user_id: i64,
        at: Option<i64>,
        now: i64,
    ) -> Result<bool, DbError> {
        let sql = if at.is_some() {
            "UPDATE users SET suspended_at = $2, updated_at = $3 WHERE id = $1 AND suspended_at IS NULL"
        } else {
            "UPDATE users SET suspended_at = $2, updated_at = $3 WHERE id = $1 AND suspended_at IS NOT NULL"
        };
        let n = on_pool!(self, p => sqlx::query(sql)
            .bind(user_id).bind(at).bind(now).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Stores a sealed TOTP secret awaiting confirmation.
    pub async fn set_totp_pending(
        &self,
        user_id: i64,
        sealed: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE users SET totp_pending_secret = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id).bind(sealed).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Turns two-factor on: the pending secret becomes the secret, `step` is recorded as used, and
    /// the recovery codes replace any earlier ones — all in one transaction.
    pub async fn enable_totp(
        &self,
        user_id: i64,
        sealed: &str,
        step: i64,
        recovery_hashes: &[String],
        now: i64,
    ) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let done = sqlx::query(
                "UPDATE users SET totp_secret = $2, totp_pending_secret = NULL, totp_enabled = TRUE, totp_last_step = $3, updated_at = $4 \
                 WHERE id = $1 AND totp_enabled = FALSE",
            )
            .bind(user_id).bind(sealed).bind(step).bind(now)
            .execute(&mut *tx).await?.rows_affected() == 1;
            if !done {
                return Ok(false);
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            for h in recovery_hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)")
                    .bind(user_id).bind(h).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Turns two-factor off and deletes the recovery codes.
    pub async fn disable_totp(&self, user_id: i64, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_enabled = FALSE, totp_last_step = NULL, updated_at = $2 WHERE id = $1")
                .bind(user_id).bind(now).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records that a TOTP time step was used. Returns false if that step (or a later one) was
    /// already used, so the same code is never accepted twice — atomic under concurrency.
    pub async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_enabled = TRUE AND (totp_last_step IS NULL OR totp_last_step < $2)",
        ).bind(user_id).bind(step).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Users, newest first, a page at a time; with `search`, only those whose email or display
    /// name contains it (case-insensitive). Also how many match.
    pub async fn list_users(
        &self,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<UserRecord>, i64), DbError> {
        let pattern = search.map(|s| {
            let escaped = s
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let filter = "($1 IS NULL OR LOWER(u.email) LIKE $1 ESCAPE '\\' OR LOWER(u.display_name) LIKE $1 ESCAPE '\\')";
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE {filter} ORDER BY u.id DESC LIMIT $2 OFFSET $3"
        );
        let count = format!("SELECT COUNT(*) AS n FROM users u WHERE {filter}");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(&pattern).bind(limit).bind(offset).fetch_all(p).await?;
            let total: i64 = sqlx::query(&count).bind(&pattern).fetch_one(p).await?.try_get("n")?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(user_from_row!(r));
            }
            Ok((out, total))
        })
    }

    /// Administrators' email addresses (at most `limit`, oldest accounts first): whom the node
    /// tells of what needs a person, such as a payment that does not match its order.
    pub async fn admin_emails(&self, limit: i64) -> Result<Vec<String>, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT email FROM users WHERE role = 'admin' ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    /// Number of users.
    pub async fn count_users(&self) -> Result<i64, DbError> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await?),
        )
    }

    // ---- sessions and refresh tokens ----------------------------------------------------------

    /// Starts a session (refresh-token family) with its first refresh token. Returns the session id.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_session(
        &self,
        uuid: &str,
        user_id: i64,
        refresh_hash: &str,
        refresh_expires_at: i64,
        ip: Option<&str>,
        user_agent: Option<&str>,
        now: i64,
    ) -> Result<i64, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO auth_sessions (uuid, user_id, created_at, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(uuid).bind(user_id).bind(now).bind(refresh_expires_at).bind(ip).bind(user_agent)
            .fetch_one(&mut *tx).await?;
            sqlx::query("INSERT INTO refresh_tokens (session_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(id).bind(refresh_hash).bind(now).bind(refresh_expires_at)
                .execute(&mut *tx).await.map_err(map_unique)?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Spends a refresh token and stores its successor, or detects reuse and revokes the family.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: i64,
        now: i64,
    ) -> Result<Rotation, DbError> {
        let found = on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT t.id, t.session_id, t.used_at, t.expires_at, s.uuid, s.user_id, s.revoked_at \
                 FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id WHERE t.token_hash = $1",
            ).bind(old_hash).fetch_optional(p).await?;
            match row {
                None => None,
                Some(r) => Some((
                    r.try_get::<i64, _>("id")?,
                    r.try_get::<i64, _>("session_id")?,
                    r.try_get::<Option<i64>, _>("used_at")?,
                    r.try_get::<i64, _>("expires_at")?,
                    r.try_get::<String, _>("uuid")?,
                    r.try_get::<i64, _>("user_id")?,
                    r.try_get::<Option<i64>, _>("revoked_at")?,
                )),
            }
        });
        let Some((token_id, session_id, used_at, expires_at, session_uuid, user_id, revoked_at)) =
            found
        else {
            return Ok(Rotation::Invalid);
        };
        if revoked_at.is_some() {
            return Ok(Rotation::Invalid);
        }
        if used_at.is_some() {
            self.revoke_session(session_id, "refresh_token_reuse", now)
                .await?;
            return Ok(Rotation::Reused);
        }
        if expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        let rotated = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
                .bind(token_id).bind(now).execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                sqlx::query("INSERT INTO refresh_tokens (session_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(session_id).bind(new_hash).bind(now).bind(new_expires_at)
                    .execute(&mut *tx).await.map_err(map_unique)?;
                sqlx::query("UPDATE auth_sessions SET expires_at = $2 WHERE id = $1")
                    .bind(session_id).bind(new_expires_at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            n == 1
        });
        if !rotated {
            // Another request spent it between our read and write: that is reuse too.
            self.revoke_session(session_id, "refresh_token_reuse", now)
                .await?;
            return Ok(Rotation::Reused);
        }
        Ok(Rotation::Rotated {
            session_id,
            session_uuid,
            user_id,
        })
    }

    /// Gives a session its browser cookie (the hash of the cookie's token).
    pub async fn set_session_cookie(
        &self,
        session_uuid: &str,
        cookie_hash: &str,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE auth_sessions SET cookie_hash = $2 WHERE uuid = $1")
            .bind(session_uuid).bind(cookie_hash).execute(p).await.map(|r| r.rows_affected()).map_err(map_unique))?;
        Ok(())
    }

    /// The live session a browser cookie names: its id, UUID and user.
    pub async fn session_by_cookie(
        &self,
        cookie_hash: &str,
        now: i64,
    ) -> Result<Option<(i64, String, i64)>, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query("SELECT id, uuid, user_id FROM auth_sessions WHERE cookie_hash = $1 AND revoked_at IS NULL AND expires_at > $2")
                .bind(cookie_hash).bind(now).fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some((r.try_get("id")?, r.try_get("uuid")?, r.try_get("user_id")?))),
                None => Ok(None),
            }
        })
    }

    /// Moves a live session's end to `expires_at` (a cookie session's sliding expiry).
    pub async fn extend_session(&self, session_id: i64, expires_at: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE auth_sessions SET expires_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(session_id).bind(expires_at).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Revokes one session; its refresh and access tokens stop working.
    pub async fn revoke_session(
        &self,
        session_id: i64,
        reason: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE auth_sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(session_id).bind(now).bind(reason).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Revokes a session by UUID, only if it belongs to `user_id`.
    pub async fn revoke_session_by_uuid(
        &self,
        user_id: i64,
        uuid: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE auth_sessions SET revoked_at = $3, revoked_reason = $4 WHERE uuid = $1 AND user_id = $2 AND revoked_at IS NULL")
            .bind(uuid).bind(user_id).bind(now).bind(reason).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Revokes every session of a user (password reset or change), except `keep` if given.
    pub async fn revoke_all_sessions(
        &self,
        user_id: i64,
        keep: Option<&str>,
        reason: &str,
        now: i64,
    ) -> Result<u64, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE auth_sessions SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL AND uuid <> COALESCE($4, '')",
        ).bind(user_id).bind(now).bind(reason).bind(keep).execute(p).await?.rows_affected());
        Ok(n)
    }

    /// Why a session was revoked (`None` if active or unknown). For tests and audits.
    pub async fn session_revoked_reason(&self, uuid: &str) -> Result<Option<String>, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, Option<String>>("SELECT revoked_reason FROM auth_sessions WHERE uuid = $1")
            .bind(uuid).fetch_optional(p).await?).flatten())
    }

    // ---- one-time codes ------------------------------------------------------------------------

    /// Stores a new code for `purpose`, voiding earlier unused ones.
    pub async fn create_code(
        &self,
        user_id: i64,
        purpose: &str,
        code_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE one_time_codes SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
                .bind(user_id).bind(purpose).bind(now).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO one_time_codes (user_id, purpose, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(user_id).bind(purpose).bind(code_hash).bind(now).bind(expires_at).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The newest unused, unexpired code for `purpose`.
    pub async fn active_code(
        &self,
        user_id: i64,
        purpose: &str,
        now: i64,
    ) -> Result<Option<CodeRecord>, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT id, code_hash, attempts FROM one_time_codes WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
                 ORDER BY id DESC LIMIT 1",
            ).bind(user_id).bind(purpose).bind(now).fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some(CodeRecord { id: r.try_get("id")?, code_hash: r.try_get("code_hash")?, attempts: r.try_get("attempts")? })),
                None => Ok(None),
            }
        })
    }

    /// Spends a code; false if it was spent concurrently.
    pub async fn use_code(&self, id: i64, now: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE one_time_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id).bind(now).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Takes one of a code's `max` guesses, atomically: false when none are left (or the code
    /// was spent), so parallel guesses cannot exceed the limit.
    pub async fn take_code_attempt(&self, id: i64, max: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = $1 AND attempts < $2 AND used_at IS NULL")
            .bind(id).bind(max).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Codes issued to a user for `purpose` since `since` (ms), to cap how often new ones are sent.
    pub async fn count_codes_since(
        &self,
        user_id: i64,
        purpose: &str,
        since: i64,
    ) -> Result<i64, DbError> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM one_time_codes WHERE user_id = $1 AND purpose = $2 AND created_at > $3")
            .bind(user_id).bind(purpose).bind(since).fetch_one(p).await?),
        )
    }

    // ---- recovery codes -----------------------------------------------------------------------

    /// Unused recovery codes (id, hash).
    pub async fn unused_recovery_codes(&self, user_id: i64) -> Result<Vec<(i64, String)>, DbError> {
        Ok(
            on_pool!(self, p => sqlx::query_as("SELECT id, code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL ORDER BY id")
            .bind(user_id).fetch_all(p).await?),
        )
    }

    /// Spends a recovery code; false if already spent.
    pub async fn use_recovery_code(&self, id: i64, now: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE recovery_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id).bind(now).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    // ---- login challenges ----------------------------------------------------------------------

    /// Stores a second-step login challenge.
    pub async fn create_challenge(
        &self,
        user_id: i64,
        token_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("INSERT INTO mfa_challenges (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(user_id).bind(token_hash).bind(now).bind(expires_at).execute(p).await.map(|r| r.rows_affected()).map_err(map_unique))?;
        Ok(())
    }

    /// Finds a challenge by token hash.
    pub async fn challenge_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<ChallengeRecord>, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query("SELECT id, user_id, expires_at, used_at, attempts FROM mfa_challenges WHERE token_hash = $1")
                .bind(token_hash).fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some(ChallengeRecord {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    expires_at: r.try_get("expires_at")?,
                    used_at: r.try_get("used_at")?,
                    attempts: r.try_get("attempts")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// Takes one of a challenge's `max` attempts, atomically; false when none are left.
    pub async fn take_challenge_attempt(&self, id: i64, max: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE mfa_challenges SET attempts = attempts + 1 WHERE id = $1 AND attempts < $2 AND used_at IS NULL")
            .bind(id).bind(max).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Completes a challenge; false if completed concurrently.
    pub async fn use_challenge(&self, id: i64, now: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE mfa_challenges SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id).bind(now).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Open (unused, unexpired) login challenges of a user.
    pub async fn count_open_challenges(&self, user_id: i64, now: i64) -> Result<i64, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query("SELECT COUNT(*) AS n FROM mfa_challenges WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2")
                .bind(user_id).bind(now).fetch_one(p).await?;
            Ok(r.try_get::<i64, _>("n")?)
        })
    }

    // ---- failed attempts per account -----------------------------------------------------------

    /// Until when the account's `kind` of credential is locked, if it is now.
    pub async fn account_locked_until(
        &self,
        user_id: i64,
        kind: &str,
        now: i64,
    ) -> Result<Option<i64>, DbError> {
        on_pool!(self, p => {
            let r = sqlx::query("SELECT locked_until FROM account_guards WHERE user_id = $1 AND kind = $2 AND locked_until > $3")
                .bind(user_id).bind(kind).bind(now).fetch_optional(p).await?;
            match r {
                Some(r) => Ok(r.try_get::<Option<i64>, _>("locked_until")?),
                None => Ok(None),
            }
        })
    }

    /// Counts one failed attempt of `kind` in a window of `window_ms`; the `max`-th failure in a
    /// window locks the kind for `lock_ms`. Returns the end of the lock when this failure
    /// started one (so its owner is told once per lock).
    pub async fn record_account_failure(
        &self,
        user_id: i64,
        kind: &str,
        now: i64,
        window_ms: i64,
        max: i64,
        lock_ms: i64,
    ) -> Result<Option<i64>, DbError> {
        let failures: i64 = on_pool!(self, p => {
            let r = sqlx::query(
                "INSERT INTO account_guards (user_id, kind, window_start, failures, locked_until) VALUES ($1, $2, $3, 1, NULL)
                 ON CONFLICT (user_id, kind) DO UPDATE SET
                   failures = CASE WHEN account_guards.window_start <= $4 THEN 1 ELSE account_guards.failures + 1 END,
                   window_start = CASE WHEN account_guards.window_start <= $4 THEN $3 ELSE account_guards.window_start END
                 RETURNING failures",
            )
            .bind(user_id).bind(kind).bind(now).bind(now - window_ms)
            .fetch_one(p).await?;
            r.try_get::<i64, _>("failures")?
        });
        if failures < max {
            return Ok(None);
        }
        let until = now + lock_ms;
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE account_guards SET locked_until = $3, failures = 0, window_start = $4
             WHERE user_id = $1 AND kind = $2 AND (locked_until IS NULL OR locked_until <= $4)",
        )
        .bind(user_id).bind(kind).bind(until).bind(now)
        .execute(p).await?.rows_affected());
        Ok((n == 1).then_some(until))
    }

    /// Lifts every lock and forgets every failure of a user (after a password reset by email).
    pub async fn unlock_account(&self, user_id: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("DELETE FROM account_guards WHERE user_id = $1")
            .bind(user_id).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Forgets failed attempts of `kind` after a success.
    pub async fn clear_account_failures(
        &self,
        user_id: i64,
        kind: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("DELETE FROM account_guards WHERE user_id = $1 AND kind = $2 AND (locked_until IS NULL OR locked_until <= $3)")
            .bind(user_id).bind(kind).bind(now).execute(p).await?.rows_affected());
        Ok(())
    }

    // ---- API keys ------------------------------------------------------------------------------

    /// Stores a new API key (its hash).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_api_key(
        &self,
        uuid: &str,
        user_id: i64,
        name: &str,
        prefix: &str,
        key_hash: &str,
        scopes: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<ApiKeyRecord, DbError> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO api_keys (uuid, user_id, name, prefix, key_hash, scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        ).bind(uuid).bind(user_id).bind(name).bind(prefix).bind(key_hash).bind(scopes).bind(now).bind(expires_at)
        .execute(p).await.map(|r| r.rows_affected()).map_err(map_unique))?;
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.uuid = $1");
        on_pool!(self, p => {
            let r = sqlx::query(&sql).bind(uuid).fetch_one(p).await?;
            Ok(key_from_row!(r))
        })
    }

    /// A user's API keys, newest first, revoked ones included.
    pub async fn list_api_keys(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, DbError> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.user_id = $1 ORDER BY k.id DESC");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(key_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Revokes one of a user's keys; false if there is no such active key.
    pub async fn revoke_api_key(
        &self,
        user_id: i64,
        uuid: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE uuid = $1 AND user_id = $2 AND revoked_at IS NULL")
            .bind(uuid).bind(user_id).bind(now).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Whether key `id` of `user_id` is still active (not revoked, not expired).
    pub async fn api_key_active(&self, id: i64, user_id: i64, now: i64) -> Result<bool, DbError> {
        let n: i64 = on_pool!(self, p => {
            let r = sqlx::query("SELECT COUNT(*) AS n FROM api_keys WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)")
                .bind(id).bind(user_id).bind(now).fetch_one(p).await?;
            r.try_get::<i64, _>("n")?
        });
        Ok(n == 1)
    }

    /// The active key with this hash and its owner.
    pub async fn api_key_with_user(
        &self,
        key_hash: &str,
        now: i64,
    ) -> Result<Option<(ApiKeyRecord, UserRecord)>, DbError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)"
        );
        let key = on_pool!(self, p => match sqlx::query(&sql).bind(key_hash).bind(now).fetch_optional(p).await? {
            Some(r) => Some(key_from_row!(r)),
            None => None,
        });
        let Some(key) = key else { return Ok(None) };
        Ok(self.user_by_id(key.user_id).await?.map(|user| (key, user)))
    }

    /// Revokes every active key of a user (account recovery). Returns how many.
    pub async fn revoke_all_api_keys(&self, user_id: i64, now: i64) -> Result<u64, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id).bind(now).execute(p).await?.rows_affected());
        Ok(n)
    }

    /// Records a key's use, at most once a minute per key to spare the database.
    pub async fn touch_api_key(&self, id: i64, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2 - 60000)")
            .bind(id).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}

enum UserKey<'a> {
    Id(i64),
    Text(&'a str),
}
