//! Your data: a user's export of everything stored about them, and the erasure of their account.
//!
//! An export is a job of the durable queue (kind [`EXPORT_JOB`], worked here with a lease and
//! heartbeats like the video jobs): it writes one ZIP with a JSON file per table holding every
//! row that refers to the user (the tables and columns come from the schema itself:
//! [`ferrocast_db::privacy`]), a manifest saying what was left out and why, and the user's media
//! (profile pictures, every object of their videos). Rows and objects stream into the ZIP as
//! they are read, through a bounded channel to a blocking writer thread, so memory stays bounded
//! whatever the account holds. The ZIP goes to storage (`exports/<uuid>.zip`), the user is told,
//! and it is deleted after [`PrivacyConfig::export_ttl_ms`].
//!
//! Erasure re-checks the password (and the second factor when it is on), deletes the user's
//! objects (videos, profile pictures, exports: only their own prefixes; a legal hold kept
//! elsewhere in storage is never touched), then applies the declared erasure of every table in
//! one transaction: content and credentials deleted, money rows kept with personal fields
//! scrubbed, the account row anonymised.

use crate::service::accounts::{Accounts, AccountsError, AuthUser, TotpCheck};
use crate::service::audit::{Actor, Audit, AuditEvent};
use crate::service::clock::SharedClock;
use crate::service::notify::{Kind, Notice, Notifier};
use crate::service::videos::Videos;
use bytes::Bytes;
use ferrocast_db::jobs::{JobFailure, JobRecord};
use ferrocast_db::privacy::{DataExportRecord, ErasureCounts, ExportTable};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::account::{self, Guarded};
use ferrocast_domain::mail::{Mail, Mailer};
use ferrocast_storage::{ObjectReader, Storage, StorageError};
use futures_util::StreamExt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

/// The job kind that builds an export.
pub const EXPORT_JOB: &str = "data_export";
/// Attempts of an export job.
pub const EXPORT_ATTEMPTS: i64 = 3;
/// What a user is told of an export that failed.
const FAILED: &str = "The export could not be built; request a new one, and tell the site's administrators if it fails again.";
/// How long a download link lasts (seconds).
pub const LINK_SECS: i64 = 900;
/// Items (rows, chunks of objects) in flight to the ZIP writer: the bound on memory.
const WRITER_QUEUE: usize = 16;
/// How often the sweep deletes expired exports.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// An idle export worker looks for due work this often at first (and at once when one is
/// requested here); see [`IdlePoll`](crate::service::jobs::IdlePoll).
const POLL_EVERY: Duration = Duration::from_secs(1);

/// Why a privacy operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Object storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The re-check of the password or code failed (or the account is locked).
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    /// No export, or none ready to download.
    #[error("{0}")]
    NoExport(&'static str),
    /// A second factor is needed and was not given, or it was wrong.
    #[error("{0}")]
    SecondFactor(&'static str),
    /// The account has nothing to confirm with.
    #[error("{0}")]
    NoCredential(&'static str),
}

/// How exports run.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// This node's id in `jobs.locked_by`.
    pub node: String,
    /// Workers building exports on this node (0: another node builds them).
    pub workers: usize,
    /// A claim's lease (ms).
    pub lease_ms: i64,
    /// How long a ready export can be downloaded (ms).
    pub export_ttl_ms: i64,
    /// Where ZIPs are written before they go to storage.
    pub work_dir: PathBuf,
    /// The site's public URL, for the mail that says an export is ready.
    pub public_url: String,
}

/// What an erasure did, for the audit record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// Rows deleted and scrubbed.
    pub rows: ErasureCounts,
    /// Videos deleted with their objects.
    pub videos: u64,
    /// Objects deleted besides the videos' (profile pictures, exports).
    pub objects: u64,
}

/// The service.
pub struct Privacy {
    db: Db,
    storage: Storage,
    videos: Videos,
    clock: SharedClock,
    mailer: Arc<dyn Mailer>,
    config: PrivacyConfig,
    wake: Notify,
    /// Signs download links (HMAC-SHA256, a key derived from the master key for this only).
    link_key: ring::hmac::Key,
    audit: Arc<Audit>,
    notify: Arc<Notifier>,
}

/// One message to the ZIP writer thread.
enum ZipItem {
    /// A new file in the archive; `stored`: no compression (media is compressed already).
    Start { name: String, stored: bool },
    /// Bytes of the current file.
    Data(Bytes),
}

impl Privacy {
    /// The service over its dependencies.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        storage: Storage,
        videos: Videos,
        clock: SharedClock,
        mailer: Arc<dyn Mailer>,
        config: PrivacyConfig,
        master_key: &[u8; 32],
        audit: Arc<Audit>,
        notify: Arc<Notifier>,
    ) -> Arc<Self> {
        let key = ferrocast_auth::secretbox::derive_key(master_key, "export-download-hmac-sha256");
        Arc::new(Self {
            db,
            storage,
            videos,
            clock,
            mailer,
            config,
            wake: Notify::new(),
            link_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            audit,
            notify,
        })
    }

    /// Records a step in the audit log (its facts only: ids, counts); a record that cannot be
    /// written is logged, the step being done.
    async fn record(&self, action: &str, actor: Actor, user_id: i64, details: serde_json::Value) {
        let event = AuditEvent {
            action,
            actor,
            subject: Some(("user", user_id.to_string())),
            details,
            personal: serde_json::Value::Null,
            personal_of: None,
        };
        if let Err(e) = self.audit.record(event).await {
            tracing::error!(action, user_id, error = %e, "cannot record a privacy step in the audit log");
        }
    }

    fn link_message(uuid: &str, exp: i64) -> String {
        format!("export:{uuid}:{exp}")
    }

    /// The query (`exp=…&sig=…`) of a download link of the export `uuid`, valid for
    /// [`LINK_SECS`] from now.
    pub fn download_query(&self, uuid: &str) -> String {
        let exp = self.clock.now_ms() / 1000 + LINK_SECS;
        let tag = ring::hmac::sign(&self.link_key, Self::link_message(uuid, exp).as_bytes());
        format!(
            "exp={exp}&sig={}",
            data_encoding::HEXLOWER.encode(tag.as_ref())
        )
    }

    /// The export `uuid` and its ZIP, for a signed download link (`exp`, `sig`).
    pub async fn download_signed(
        &self,
        uuid: &str,
        exp: i64,
        sig: &str,
    ) -> Result<(DataExportRecord, ObjectReader), PrivacyError> {
        const EXPIRED: &str = "This download link has expired or is not valid; open Settings → Your data for a new one.";
        let valid = exp >= self.clock.now_ms() / 1000
            && uuid.len() <= 64
            && data_encoding::HEXLOWER_PERMISSIVE
                .decode(sig.as_bytes())
                .ok()
                .is_some_and(|raw| {
                    ring::hmac::verify(
                        &self.link_key,
                        Self::link_message(uuid, exp).as_bytes(),
                        &raw,
                    )
                    .is_ok()
                });
        if !valid {
            return Err(PrivacyError::NoExport(EXPIRED));
        }
        let e = self
            .db
            .data_export_by_uuid(uuid)
            .await?
            .ok_or(PrivacyError::NoExport(EXPIRED))?;
        let (e, reader) = self.download(e.user_id).await?;
        if e.uuid != uuid {
            // A newer export replaced the one the link names.
            return Err(PrivacyError::NoExport(EXPIRED));
        }
        self.record(
            "privacy.export_downloaded",
            Actor::Anonymous,
            e.user_id,
            serde_json::json!({"export": e.uuid, "bytes": reader.meta.size, "by": "signed_link"}),
        )
        .await;
        Ok((e, reader))
    }

    /// Requests an export of the user's data; while one is queued or being built, that one.
    pub async fn request_export(&self, user_id: i64) -> Result<DataExportRecord, PrivacyError> {
        if let Some(e) = self.db.latest_data_export(user_id).await? {
            if e.state == "queued" || e.state == "running" {
                return Ok(e);
            }
        }
        let now = self.clock.now_ms();
        let e = self
            .db
            .create_data_export(user_id, EXPORT_JOB, EXPORT_ATTEMPTS, now)
            .await?;
        self.wake.notify_waiters();
        tracing::info!(user_id, export = %e.uuid, "data export requested");
        self.record(
            "privacy.export_requested",
            Actor::User(user_id),
            user_id,
            serde_json::json!({"export": e.uuid}),
        )
        .await;
        Ok(e)
    }

    /// The user's newest export, if any.
    pub async fn export_status(
        &self,
        user_id: i64,
    ) -> Result<Option<DataExportRecord>, PrivacyError> {
        Ok(self.db.latest_data_export(user_id).await?)
    }

    /// The user's ready export and its ZIP, streamed.
    pub async fn download(
        &self,
        user_id: i64,
    ) -> Result<(DataExportRecord, ObjectReader), PrivacyError> {
        let e = self
            .db
            .latest_data_export(user_id)
            .await?
            .ok_or(PrivacyError::NoExport(
                "You have no export; request one from Settings → Your data.",
            ))?;
        let now = self.clock.now_ms();
        let key = match (&e.state[..], &e.object_key, e.expires_at) {
            ("ready", Some(key), Some(exp)) if exp > now => key.clone(),
            ("queued" | "running", _, _) => {
                return Err(PrivacyError::NoExport(
                    "Your export is still being built; it can be downloaded once it is ready.",
                ))
            }
            ("failed", _, _) => {
                return Err(PrivacyError::NoExport(
                    "Your last export failed; request a new one.",
                ))
            }
            _ => {
                return Err(PrivacyError::NoExport(
                    "Your export has expired and was deleted; request a new one.",
                ))
            }
        };
        let reader = self.storage.open(&key, None).await?;
        Ok((e, reader))
    }

    /// [`Privacy::download`] by the user themselves (a bearer), recorded.
    pub async fn download_own(
        &self,
        user_id: i64,
    ) -> Result<(DataExportRecord, ObjectReader), PrivacyError> {
        let (e, reader) = self.download(user_id).await?;
        self.record(
            "privacy.export_downloaded",
            Actor::User(user_id),
            user_id,
            serde_json::json!({"export": e.uuid, "bytes": reader.meta.size, "by": "session"}),
        )
        .await;
        Ok((e, reader))
    }

    /// Re-checks the caller before the account is erased: the password when the account has
    /// one, and a current authenticator or recovery code when two-factor is on; an account
    /// with neither (signed in only through Google or Twitch) is refused.
    pub async fn confirm(
        &self,
        accounts: &Accounts,
        auth: &AuthUser,
        password: Option<String>,
        code: Option<String>,
    ) -> Result<(), PrivacyError> {
        let user = &auth.user;
        if user.password_hash.is_none() && !user.totp_enabled {
            return Err(PrivacyError::NoCredential(
                "This account has no password or authenticator to confirm with. Set a password first (Forgot password on the sign-in page sends a code), then delete the account.",
            ));
        }
        if user.password_hash.is_some() {
            accounts.guard_open(user, Guarded::Password).await?;
            let pw = password.unwrap_or_default();
            if pw.len() > account::MAX_PASSWORD_BYTES
                || !accounts
                    .verify_password(pw, user.password_hash.clone())
                    .await?
            {
                accounts.guard_failed(user, Guarded::Password).await?;
                return Err(AccountsError::WrongPassword.into());
            }
            accounts.guard_passed(user, Guarded::Password).await?;
        }
        if user.totp_enabled {
            accounts.guard_open(user, Guarded::SecondFactor).await?;
            let Some(code) = code.filter(|c| !c.trim().is_empty() && c.len() <= 64) else {
                return Err(PrivacyError::SecondFactor(
                    "Two-factor login is on: enter a code from your authenticator app (or a recovery code) as well.",
                ));
            };
            let ok = match accounts.check_totp(user, &code).await? {
                TotpCheck::Accepted => true,
                TotpCheck::AlreadyUsed => false,
                TotpCheck::Wrong => accounts.check_recovery_code(user, &code).await?,
            };
            if !ok {
                accounts.guard_failed(user, Guarded::SecondFactor).await?;
                return Err(PrivacyError::SecondFactor(
                    "The code is wrong or was already used; enter the current code from your authenticator app.",
                ));
            }
            accounts.guard_passed(user, Guarded::SecondFactor).await?;
        }
        Ok(())
    }

    /// Erases the account of `auth` (already confirmed with [`Privacy::confirm`]): its objects,
    /// then its rows as [`ferrocast_db::privacy::USER_REFERENCES`] declares, in one transaction.
    pub async fn erase(&self, auth: &AuthUser) -> Result<Erased, PrivacyError> {
        let user = &auth.user;
        let mut erased = Erased::default();
        // Objects first, while their keys are known: if storage fails, the account is intact and
        // the user can try again.
        for uuid in self.db.video_uuids_of_user(user.id).await? {
            if let Some(v) = self.db.video_by_uuid(&uuid).await? {
                self.videos.remove(&v).await.map_err(|e| match e {
                    crate::service::videos::VideosError::Storage(e) => PrivacyError::Storage(e),
                    crate::service::videos::VideosError::Db(e) => PrivacyError::Db(e),
                    other => PrivacyError::Db(DbError::Invalid(other.to_string())),
                })?;
                erased.videos += 1;
            }
        }
        let (n, _) = self
            .storage
            .delete_prefix(&format!("profiles/{}", user.uuid))
            .await?;
        erased.objects += n;
        // The pictures of their posts (the posts' rows go with the account's references).
        let (n, _) = self
            .storage
            .delete_prefix(&format!("posts/{}", user.uuid))
            .await?;
        erased.objects += n;
        // Their radio's tracks (the rows go with the account's references).
        let (n, _) = self
            .storage
            .delete_prefix(&format!("radio/{}", user.uuid))
            .await?;
        erased.objects += n;
        for e in self.db.data_exports_of(user.id).await? {
            if let Some(key) = &e.object_key {
                self.storage.delete(key).await?;
                erased.objects += 1;
            }
        }
        let now = self.clock.now_ms();
        erased.rows = self.db.erase_user(user.id, now).await?;
        // The audit log's personal data about the user goes; the entries (facts, hashes) stay.
        let personal = match self.audit.erase_personal(user.id).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(user_id = user.id, error = %e, "cannot erase the audit log's personal data of an erased account");
                0
            }
        };
        self.record(
            "privacy.account_erased",
            Actor::User(user.id),
            user.id,
            serde_json::json!({
                "videos": erased.videos,
                "objects": erased.objects,
                "rows_deleted": erased.rows.deleted,
                "rows_scrubbed": erased.rows.scrubbed,
                "audit_personal_erased": personal,
            }),
        )
        .await;
        tracing::info!(
            user_id = user.id,
            deleted = erased.rows.deleted,
            scrubbed = erased.rows.scrubbed,
            videos = erased.videos,
            objects = erased.objects,
            "account erased"
        );
        // The last mail to the address, which is now gone from the database.
        self.mail(Mail {
            to: user.email.clone(),
            subject: "Your ferrocast account was deleted".into(),
            body: "Your ferrocast account and its content were deleted as you asked. Records the \
                   law requires us to keep (payments, payouts and their ledger) remain, without \
                   your name, email or any other personal detail. This is the last message you \
                   will receive from us."
                .into(),
            headers: Vec::new(),
        });
        Ok(erased)
    }

    fn mail(&self, mail: Mail) {
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(mail).await {
                tracing::warn!(error = %e, "privacy mail failed");
            }
        });
    }

    /// Builds one export (the handler of an [`EXPORT_JOB`]).
    async fn run_export(&self, job: &JobRecord) -> Result<(), (String, bool)> {
        let id = job
            .payload
            .get("export_id")
            .and_then(|v| v.as_i64())
            .ok_or_else(|| ("the job names no export".to_string(), false))?;
        let db_err = |e: DbError| (format!("database: {e}"), true);
        let Some(export) = self.db.data_export(id).await.map_err(db_err)? else {
            return Ok(());
        };
        if export.state != "queued" && export.state != "running" {
            return Ok(());
        }
        let Some(user) = self.db.user_by_id(export.user_id).await.map_err(db_err)? else {
            return Ok(());
        };
        let plan = self.db.export_plan().await.map_err(db_err)?;
        let mut counts = Vec::with_capacity(plan.len());
        for t in &plan {
            counts.push(self.db.export_count(t, user.id).await.map_err(db_err)?);
        }
        let storage_err = |e: StorageError| (format!("storage: {e}"), true);
        let mut objects = self
            .storage
            .list(&format!("profiles/{}", user.uuid))
            .await
            .map_err(storage_err)?;
        for uuid in self.db.video_uuids_of_user(user.id).await.map_err(db_err)? {
            objects.extend(
                self.storage
                    .list(&format!("videos/{uuid}"))
                    .await
                    .map_err(storage_err)?,
            );
        }
        // Progress: a row counts as 1 KiB, an object as its size.
        let total_rows: i64 = counts.iter().sum();
        let total =
            (total_rows as u64 * 1024 + objects.iter().map(|(_, s)| *s).sum::<u64>()).max(1);
        let mut done = 0u64;
        let mut last_permille = -1i64;
        let progress = |done: u64| ((done.min(total) as f64 / total as f64) * 990.0) as i64;

        std::fs::create_dir_all(&self.config.work_dir)
            .map_err(|e| (format!("creating the work directory: {e}"), true))?;
        let path = self
            .config
            .work_dir
            .join(format!("export-{}.zip", export.uuid));
        let (tx, rx) = mpsc::channel::<ZipItem>(WRITER_QUEUE);
        let writer = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || write_zip(&path, rx))
        };
        let manifest = manifest(&plan, &counts, &objects, &user.uuid, self.clock.now_ms());
        let result: Result<(), (String, bool)> = async {
            let send = |m: ZipItem| {
                let tx = tx.clone();
                async move {
                    tx.send(m)
                        .await
                        .map_err(|_| ("the ZIP writer stopped".to_string(), true))
                }
            };
            send(ZipItem::Start {
                name: "manifest.json".into(),
                stored: false,
            })
            .await?;
            send(ZipItem::Data(Bytes::from(
                serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
            )))
            .await?;
            for t in &plan {
                send(ZipItem::Start {
                    name: format!("tables/{}.json", t.table),
                    stored: false,
                })
                .await?;
                send(ZipItem::Data(Bytes::from_static(b"["))).await?;
                let mut rows = self.db.export_rows(t, user.id);
                let mut first = true;
                while let Some(row) = rows.next().await {
                    let row = row.map_err(db_err)?;
                    let mut buf = Vec::with_capacity(256);
                    buf.extend_from_slice(if first { b"\n  " } else { b",\n  " });
                    first = false;
                    serde_json::to_writer(&mut buf, &row)
                        .map_err(|e| (format!("encoding a row: {e}"), false))?;
                    send(ZipItem::Data(Bytes::from(buf))).await?;
                    done += 1024;
                    let p = progress(done);
                    if p >= last_permille + 10 {
                        last_permille = p;
                        let _ = self.db.data_export_progress(id, p, "tables").await;
                    }
                }
                send(ZipItem::Data(Bytes::from_static(b"\n]\n"))).await?;
            }
            for (key, size) in &objects {
                send(ZipItem::Start {
                    name: format!("media/{key}"),
                    stored: true,
                })
                .await?;
                let mut reader = match self.storage.open(key, None).await {
                    Ok(r) => r,
                    // Deleted meanwhile (a video removed while the export ran).
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(storage_err(e)),
                };
                while let Some(chunk) = reader.body.next().await {
                    send(ZipItem::Data(chunk.map_err(storage_err)?)).await?;
                }
                done += size;
                let p = progress(done);
                if p >= last_permille + 10 {
                    last_permille = p;
                    let _ = self.db.data_export_progress(id, p, "media").await;
                }
            }
            Ok(())
        }
        .await;
        drop(tx);
        let written = writer
            .await
            .map_err(|e| (format!("the ZIP writer failed: {e}"), true))
            .and_then(|r| r.map_err(|e| (format!("writing the ZIP: {e}"), true)));
        if let Err(e) = result.and(written.map(|_| ())) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        let _ = self.db.data_export_progress(id, 995, "storing").await;
        let key = format!("exports/{}.zip", export.uuid);
        let size = self
            .storage
            .move_file(&key, &path)
            .await
            .map_err(storage_err)?;
        let now = self.clock.now_ms();
        let expires = now + self.config.export_ttl_ms;
        if !self
            .db
            .data_export_ready(id, &key, size as i64, expires, now)
            .await
            .map_err(db_err)?
        {
            // Finished by another attempt meanwhile (or the account erased): not this one's.
            let _ = self.storage.delete(&key).await;
            return Ok(());
        }
        tracing::info!(user_id = user.id, export = %export.uuid, bytes = size, "data export ready");
        self.record(
            "privacy.export_ready",
            Actor::System,
            user.id,
            serde_json::json!({"export": export.uuid, "bytes": size}),
        )
        .await;
        let days = self.config.export_ttl_ms / 86_400_000;
        let body = format!(
            "A ZIP of {} with everything stored about you and your media. It is deleted in {} day{}.",
            human_size(size),
            days,
            if days == 1 { "" } else { "s" },
        );
        let key = format!("data:{}", export.uuid);
        // In the app and by email (and push), as the user's preferences for it say.
        if let Err(e) = self
            .notify
            .notify(
                &Notice {
                    user_id: user.id,
                    kind: Kind::Data,
                    actor_id: None,
                    title: "Your data is ready to download",
                    body: &body,
                    url: "/settings#your-data",
                    dedup_key: &key,
                },
                None,
            )
            .await
        {
            tracing::warn!(user_id = user.id, error = %e, "cannot notify that an export is ready");
        }
        Ok(())
    }

    /// Deletes exports whose time ran out, and fails those whose job was failed by the job
    /// queue's sweep.
    pub async fn delete_expired(&self) {
        let now = self.clock.now_ms();
        if let Err(e) = self.db.fail_orphaned_data_exports(FAILED, now).await {
            tracing::warn!(error = %e, "cannot fail the exports of failed jobs");
        }
        let expired = match self.db.expired_data_exports(now, 100).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for expired data exports");
                return;
            }
        };
        for e in expired {
            if let Some(key) = &e.object_key {
                if let Err(err) = self.storage.delete(key).await {
                    tracing::warn!(export = %e.uuid, error = %err, "cannot delete an expired data export");
                    continue;
                }
            }
            if let Err(err) = self.db.data_export_expired(e.id).await {
                tracing::warn!(export = %e.uuid, error = %err, "cannot mark a data export expired");
            }
        }
    }
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GB", bytes as f64 / (1u64 << 30) as f64)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.0} KB", (bytes as f64 / 1024.0).max(1.0))
    }
}

/// What the export holds, and what it leaves out and why.
fn manifest(
    plan: &[ExportTable],
    counts: &[i64],
    objects: &[(String, u64)],
    user_uuid: &str,
    now: i64,
) -> serde_json::Value {
    use ferrocast_db::privacy::{Export, OMITTED_COLUMNS, USER_REFERENCES};
    let tables: Vec<_> = plan
        .iter()
        .zip(counts)
        .map(|(t, n)| {
            serde_json::json!({
                "file": format!("tables/{}.json", t.table),
                "table": t.table,
                "rows": n,
                "rows_referring_to_you_by": t.by,
            })
        })
        .collect();
    let not_exported: Vec<_> = USER_REFERENCES
        .iter()
        .filter_map(|r| match r.export {
            Export::No(why) => {
                Some(serde_json::json!({"table": r.table, "column": r.column, "why": why}))
            }
            Export::Yes => None,
        })
        .collect();
    let omitted: Vec<_> = OMITTED_COLUMNS
        .iter()
        .map(|(t, c)| serde_json::json!({"table": t, "column": c, "why": "a secret (hash or sealed key): useless outside this server"}))
        .collect();
    serde_json::json!({
        "format": "ferrocast data export 1",
        "account": user_uuid,
        "created_at": crate::service::clock::rfc3339(now),
        "tables": tables,
        "media": objects.iter().map(|(k, s)| serde_json::json!({"file": format!("media/{k}"), "bytes": s})).collect::<Vec<_>>(),
        "rows_not_exported": not_exported,
        "columns_omitted": omitted,
    })
}

/// The ZIP writer (a blocking thread): files as they come, JSON deflated, media stored.
fn write_zip(path: &Path, mut rx: mpsc::Receiver<ZipItem>) -> std::io::Result<u64> {
    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;
    let file = std::fs::File::create(path)?;
    let mut zip = zip::ZipWriter::new(file);
    let io = |e: zip::result::ZipError| std::io::Error::other(e.to_string());
    while let Some(m) = rx.blocking_recv() {
        match m {
            ZipItem::Start { name, stored } => {
                let opts = SimpleFileOptions::default()
                    .compression_method(if stored {
                        CompressionMethod::Stored
                    } else {
                        CompressionMethod::Deflated
                    })
                    .large_file(stored)
                    .unix_permissions(0o644);
                zip.start_file(name, opts).map_err(io)?;
            }
            ZipItem::Data(b) => zip.write_all(&b)?,
        }
    }
    let file = zip.finish().map_err(io)?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

/// Starts this node's export workers and the sweep of expired exports; they stop when
/// `shutdown` turns true.
pub fn spawn(privacy: Arc<Privacy>, shutdown: watch::Receiver<bool>) {
    for _ in 0..privacy.config.workers {
        tokio::spawn(worker(privacy.clone(), shutdown.clone()));
    }
    tokio::spawn(sweep(privacy, shutdown));
}

async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

async fn sweep(privacy: Arc<Privacy>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping(&mut shutdown) => return,
        }
        privacy.delete_expired().await;
    }
}

async fn worker(privacy: Arc<Privacy>, mut shutdown: watch::Receiver<bool>) {
    let node = privacy.config.node.clone();
    let lease = privacy.config.lease_ms;
    let mut poll = crate::service::jobs::IdlePoll::new(POLL_EVERY);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = privacy.clock.now_ms();
        match privacy.db.claim_job(&node, &[EXPORT_JOB], lease, now).await {
            Ok(Some(job)) => {
                work(&privacy, job, &mut shutdown).await;
                poll.busy();
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot claim an export job"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll.idle()) => {}
            _ = privacy.wake.notified() => poll.busy(),
            _ = stopping(&mut shutdown) => return,
        }
    }
}

/// Runs one claimed export job under its lease.
async fn work(privacy: &Privacy, job: JobRecord, shutdown: &mut watch::Receiver<bool>) {
    let id = job.id;
    let node = privacy.config.node.as_str();
    let lease = privacy.config.lease_ms;
    let beat = Duration::from_millis((lease / 3).max(100) as u64);
    let handler = privacy.run_export(&job);
    tokio::pin!(handler);
    let outcome = loop {
        tokio::select! {
            r = &mut handler => break Some(r),
            _ = tokio::time::sleep(beat) => {
                let now = privacy.clock.now_ms();
                match privacy.db.heartbeat_job(id, node, now + lease, now).await {
                    Ok(true) => {}
                    Ok(false) => break None,
                    Err(e) => tracing::warn!(job = id, error = %e, "cannot renew an export job's lease"),
                }
            }
            _ = stopping(shutdown) => return,
        }
    };
    let now = privacy.clock.now_ms();
    match outcome {
        None => tracing::warn!(
            job = id,
            "lost an export job's lease; stopped working on it"
        ),
        Some(Ok(())) => {
            if let Err(e) = privacy.db.complete_job(id, node, now).await {
                tracing::warn!(job = id, error = %e, "cannot mark an export job done");
            }
        }
        Some(Err((message, retryable))) => {
            match privacy
                .db
                .fail_job(id, node, &message, retryable, now)
                .await
            {
                Ok(JobFailure::Failed) => {
                    tracing::warn!(job = id, error = %message, "data export failed");
                    if let Some(export_id) = job.payload.get("export_id").and_then(|v| v.as_i64()) {
                        let _ = privacy.db.data_export_failed(export_id, FAILED, now).await;
                    }
                }
                Ok(JobFailure::Retried { .. }) => {
                    tracing::warn!(job = id, error = %message, "data export failed; retrying later")
                }
                Ok(JobFailure::Lost) => {}
                Err(e) => {
                    tracing::warn!(job = id, error = %e, "cannot record an export job's failure")
                }
            }
        }
    }
}
