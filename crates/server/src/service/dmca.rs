//! Copyright notices (17 U.S.C. §512): a notice against a video disables it at once and
//! preserves its evidence; the uploader may file a counter-notice, after which the video comes
//! back once the waiting period (`FERROCAST_DMCA_RESTORE_DAYS`) has passed unless the operator
//! records court action; the operator may also withdraw a notice or restore a video at once (a
//! mistaken notice).
//!
//! **Evidence.** When a notice disables a video, each of its objects (`videos/<uuid>/…`) is
//! copied to `holds/dmca/<case>/objects/…`, read back and hashed (SHA-256), and a JSON snapshot
//! of the video, its uploader and the object list is written beside them as `metadata.json` and
//! hashed too; every key, size and hash is recorded with the case. Storage refuses to delete
//! anything under `holds/` ([`ferrocast_storage::HOLD_PREFIX`]), and the case's rows have no
//! foreign key to the video or the account, so neither deleting the video nor deleting the
//! uploader's account reaches the evidence.
//!
//! **Repeat infringers.** A takedown that stands gives the uploader a strike: when court action
//! is recorded, or when the waiting period has passed with no counter-notice (the sweep). A
//! countered notice gives no strike unless court action follows; a withdrawn or restored one
//! gives none.

use crate::ratelimit::RateLimiter;
use crate::service::audit::{Actor, Audit, AuditEvent};
use crate::service::clock::SharedClock;
use crate::service::safety::Safety;
use crate::service::videos::{is_video_id, prefix};
use ferrocast_db::dmca::{CounterRecord, EvidenceRecord, NewCounter, NewNotice, NoticeRecord};
use ferrocast_db::videos::VideoRecord;
use ferrocast_db::{Db, DbError};
use ferrocast_domain::mail::{Mail, Mailer};
use ferrocast_domain::time::DAY_MS;
use ferrocast_storage::{Storage, StorageError};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest name, signature, or phone number, in characters.
pub const MAX_SHORT: usize = 200;
/// Longest postal address, in characters.
pub const MAX_ADDRESS: usize = 500;
/// Longest description of the work or of the material, in characters.
pub const MAX_TEXT: usize = 4000;
/// Most URLs in a notice.
pub const MAX_URLS: usize = 10;
/// Longest URL, in characters.
pub const MAX_URL: usize = 2000;
/// Longest operator's note, in characters.
pub const MAX_NOTE: usize = 2000;
/// Notices one address may file per hour.
pub const NOTICES_PER_HOUR: u32 = 10;
/// How often the sweep looks for restores and strikes due.
pub const SWEEP_EVERY: Duration = Duration::from_secs(300);
/// Where a case's evidence is held.
pub fn hold_prefix(case: i64) -> String {
    format!("{}dmca/{case}/", ferrocast_storage::HOLD_PREFIX)
}

/// Why a DMCA step did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DmcaError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Object storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A field is missing or not acceptable (the sentence names it and says what to do).
    #[error("{0}")]
    Invalid(String),
    /// No such case, or not this caller's to see.
    #[error("case not found")]
    NotFound,
    /// No video at the address given.
    #[error("no such video")]
    NoVideo,
    /// The case is not in a state that allows this step (the sentence says which it is in).
    #[error("{0}")]
    Conflict(String),
    /// Too many notices from this address; wait this many seconds.
    #[error("too many notices")]
    RateLimited(u64),
    /// A strike could not be issued.
    #[error("strike: {0}")]
    Strike(String),
}

/// A notice as the complainant sends it.
#[derive(Debug, Clone, Default)]
pub struct NoticeForm {
    /// Full legal name of the complainant (or of the person acting for the owner).
    pub name: String,
    /// Postal address.
    pub address: String,
    /// Telephone number.
    pub phone: String,
    /// Email address.
    pub email: String,
    /// The copyrighted work claimed to be infringed.
    pub work: String,
    /// Addresses of the infringing material on this site (`…/v/<id>`).
    pub urls: Vec<String>,
    /// "I have a good faith belief that use of the material … is not authorized …".
    pub good_faith: bool,
    /// "The information in this notification is accurate".
    pub accurate: bool,
    /// "Under penalty of perjury, I am authorized to act on behalf of the owner …".
    pub authorized: bool,
    /// Electronic signature: the signer's full name.
    pub signature: String,
}

/// A counter-notice as the uploader sends it.
#[derive(Debug, Clone, Default)]
pub struct CounterForm {
    /// Full legal name.
    pub name: String,
    /// Postal address.
    pub address: String,
    /// Telephone number.
    pub phone: String,
    /// Email address.
    pub email: String,
    /// The material removed and where it appeared before.
    pub material: String,
    /// "Under penalty of perjury, I have a good faith belief the material was removed … as a
    /// result of mistake or misidentification".
    pub mistake: bool,
    /// Consent to the jurisdiction of the Federal District Court and acceptance of service.
    pub consent: bool,
    /// Electronic signature.
    pub signature: String,
}

/// A filed notice: the case and the token that lets the complainant follow it.
#[derive(Debug, Clone)]
pub struct Filed {
    /// The case.
    pub notice: NoticeRecord,
    /// The case token (shown once; only its hash is stored).
    pub token: String,
}

/// A case with everything recorded about it.
#[derive(Debug, Clone)]
pub struct Case {
    /// The notice.
    pub notice: NoticeRecord,
    /// The counter-notice, if any.
    pub counter: Option<CounterRecord>,
    /// The preserved evidence.
    pub evidence: Vec<EvidenceRecord>,
}

/// What the operator does with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The complainant filed an action seeking a court order: the video stays disabled.
    CourtAction,
    /// The notice was withdrawn: the video comes back.
    Withdraw,
    /// Restore the video now (a mistaken notice, or the court action ended).
    Restore,
}

impl Decision {
    /// The status it leads to.
    pub fn status(self) -> &'static str {
        match self {
            Decision::CourtAction => "court_action",
            Decision::Withdraw => "withdrawn",
            Decision::Restore => "restored",
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Videos restored after their waiting period.
    pub restored: u64,
    /// Strikes issued for takedowns that stand.
    pub strikes: u64,
}

fn sha256_hex(data: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(data))
}

/// SHA-256 (hex) of a case token.
pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

fn text(field: &str, v: &str, max: usize, multiline: bool) -> Result<String, DmcaError> {
    let v = v.trim();
    let n = v.chars().count();
    if n == 0 {
        return Err(DmcaError::Invalid(format!("{field}: required")));
    }
    if n > max {
        return Err(DmcaError::Invalid(format!(
            "{field}: at most {max} characters ({n} given)"
        )));
    }
    if v.chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')))
    {
        return Err(DmcaError::Invalid(format!(
            "{field}: control characters are not allowed"
        )));
    }
    Ok(v.to_string())
}

fn phone(v: &str) -> Result<String, DmcaError> {
    let v = text("phone", v, 50, false)?;
    let digits = v.chars().filter(char::is_ascii_digit).count();
    if digits < 5
        || !v
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().x".contains(c))
    {
        return Err(DmcaError::Invalid(
            "phone: a telephone number of digits, spaces and + - ( ) . (at least 5 digits)".into(),
        ));
    }
    Ok(v)
}

fn email(v: &str) -> Result<String, DmcaError> {
    let v = text("email", v, 254, false)?;
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    };
    if !ok {
        return Err(DmcaError::Invalid(
            "email: must look like name@example.com".into(),
        ));
    }
    Ok(v)
}

/// The video id a URL on this site names: `…/v/<id>`, `…/vod/<id>/…`, or the bare id.
pub fn video_of_url(url: &str) -> Option<String> {
    let u = url.trim();
    let path = match u.find("://") {
        Some(i) => {
            let rest = &u[i + 3..];
            &rest[rest.find('/')?..]
        }
        None => u,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut parts = path.trim_start_matches('/').split('/');
    let id = match (parts.next(), parts.next()) {
        (Some("v" | "vod"), Some(id)) => id,
        (Some(id), None) => id,
        _ => return None,
    };
    is_video_id(id).then(|| id.to_string())
}

/// Checks a notice: every statutory element present, the three statements made, and the URLs
/// naming one video on this site. The checked form and the video id.
pub fn check_notice(f: &NoticeForm) -> Result<(NoticeForm, String), DmcaError> {
    let name = text("name", &f.name, MAX_SHORT, false)?;
    let address = text("address", &f.address, MAX_ADDRESS, true)?;
    let phone = phone(&f.phone)?;
    let email = email(&f.email)?;
    let work = text("work", &f.work, MAX_TEXT, true)?;
    if f.urls.is_empty() || f.urls.len() > MAX_URLS {
        return Err(DmcaError::Invalid(format!(
            "urls: give 1 to {MAX_URLS} addresses of the material on this site (a video's page, /v/<id>)"
        )));
    }
    let mut urls = Vec::with_capacity(f.urls.len());
    let mut video: Option<String> = None;
    for u in &f.urls {
        let u = text("urls", u, MAX_URL, false)?;
        let Some(id) = video_of_url(&u) else {
            return Err(DmcaError::Invalid(format!(
                "urls: {u:?} is not the address of a video here; copy the address of the video's page (…/v/<id>)"
            )));
        };
        match &video {
            Some(v) if *v != id => {
                return Err(DmcaError::Invalid(
                    "urls: name one video per notice; file a separate notice for each video".into(),
                ))
            }
            _ => video = Some(id),
        }
        if !urls.contains(&u) {
            urls.push(u);
        }
    }
    if !f.good_faith {
        return Err(DmcaError::Invalid(
            "good_faith: state that you have a good faith belief that the use is not authorized by the copyright owner, its agent, or the law".into(),
        ));
    }
    if !f.accurate {
        return Err(DmcaError::Invalid(
            "accurate: state that the information in the notice is accurate".into(),
        ));
    }
    if !f.authorized {
        return Err(DmcaError::Invalid(
            "authorized: state, under penalty of perjury, that you are the owner or authorized to act on the owner's behalf".into(),
        ));
    }
    let signature = text("signature", &f.signature, MAX_SHORT, false)?;
    let video = video.ok_or_else(|| DmcaError::Invalid("urls: required".into()))?;
    Ok((
        NoticeForm {
            name,
            address,
            phone,
            email,
            work,
            urls,
            good_faith: true,
            accurate: true,
            authorized: true,
            signature,
        },
        video,
    ))
}

/// Checks a counter-notice: every element of §512(g)(3) present and both statements made.
pub fn check_counter(f: &CounterForm) -> Result<CounterForm, DmcaError> {
    let out = CounterForm {
        name: text("name", &f.name, MAX_SHORT, false)?,
        address: text("address", &f.address, MAX_ADDRESS, true)?,
        phone: phone(&f.phone)?,
        email: email(&f.email)?,
        material: text("material", &f.material, MAX_TEXT, true)?,
        mistake: f.mistake,
        consent: f.consent,
        signature: text("signature", &f.signature, MAX_SHORT, false)?,
    };
    if !f.mistake {
        return Err(DmcaError::Invalid(
            "mistake: state, under penalty of perjury, that you have a good faith belief the material was removed or disabled as a result of mistake or misidentification".into(),
        ));
    }
    if !f.consent {
        return Err(DmcaError::Invalid(
            "consent: consent to the jurisdiction of the Federal District Court and accept service of process from the complainant".into(),
        ));
    }
    Ok(out)
}

/// The DMCA service.
pub struct Dmca {
    db: Db,
    storage: Storage,
    clock: SharedClock,
    mailer: Arc<dyn Mailer>,
    public_url: String,
    restore_days: i64,
    limiter: RateLimiter,
    audit: Arc<Audit>,
    safety: Arc<Safety>,
}

impl Dmca {
    /// The service; `restore_days` is `FERROCAST_DMCA_RESTORE_DAYS`. Every step is recorded
    /// in `audit`; strikes of the repeat-infringer policy go through `safety`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        storage: Storage,
        clock: SharedClock,
        mailer: Arc<dyn Mailer>,
        public_url: String,
        restore_days: i64,
        audit: Arc<Audit>,
        safety: Arc<Safety>,
    ) -> Self {
        Self {
            db,
            storage,
            clock,
            mailer,
            public_url: public_url.trim_end_matches('/').to_string(),
            restore_days: restore_days.max(1),
            limiter: RateLimiter::new(NOTICES_PER_HOUR, Duration::from_secs(3600)),
            audit,
            safety,
        }
    }

    /// Records a step of a case in the audit log (a failure to record is logged; the step has
    /// happened).
    async fn record(
        &self,
        action: &str,
        actor: Actor,
        case: i64,
        details: serde_json::Value,
        personal: serde_json::Value,
        personal_of: Option<i64>,
    ) {
        let e = AuditEvent {
            action,
            actor,
            subject: Some(("dmca_case", case.to_string())),
            details,
            personal,
            personal_of,
        };
        if let Err(err) = self.audit.record(e).await {
            tracing::error!(case, action, error = %err, "a copyright case's step could not be recorded in the audit log");
        }
    }

    /// The waiting period in days.
    pub fn restore_days(&self) -> i64 {
        self.restore_days
    }

    fn mail(&self, to: &str, subject: String, body: String) {
        let mailer = self.mailer.clone();
        let mail = Mail {
            to: to.to_string(),
            subject,
            body,
            headers: Vec::new(),
        };
        tokio::spawn(async move {
            if let Err(e) = mailer.send(mail).await {
                tracing::warn!(error = %e, "copyright notice mail failed");
            }
        });
    }

    async fn mail_uploader(&self, n: &NoticeRecord, subject: String, body: String) {
        let Some(uid) = n.uploader_id else { return };
        match self.db.user_by_id(uid).await {
            Ok(Some(u)) => self.mail(&u.email, subject, body),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the uploader of a copyright case"),
        }
    }

    /// Files a notice from `client` (its address, for the rate limit): checks it, disables the
    /// video at once, preserves its evidence, and tells the uploader and the complainant.
    pub async fn file_notice(&self, form: &NoticeForm, client: &str) -> Result<Filed, DmcaError> {
        self.limiter.check(client).map_err(DmcaError::RateLimited)?;
        let (f, video_id) = check_notice(form)?;
        let video = self
            .db
            .video_by_uuid(&video_id)
            .await?
            .ok_or(DmcaError::NoVideo)?;
        let mut raw = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        let token = data_encoding::BASE64URL_NOPAD.encode(&raw);
        let now = self.clock.now_ms();
        let notice = self
            .db
            .create_dmca_notice(
                &NewNotice {
                    token_hash: &token_hash(&token),
                    video_uuid: &video.uuid,
                    video_id: video.id,
                    uploader_id: video.user_id,
                    complainant_name: &f.name,
                    complainant_address: &f.address,
                    complainant_phone: &f.phone,
                    complainant_email: &f.email,
                    work: &f.work,
                    infringing_urls: &f.urls,
                    signature: &f.signature,
                },
                now,
            )
            .await?;
        tracing::info!(case = notice.id, video = %video.uuid, "copyright notice: video disabled");
        self.record(
            "dmca.notice_received",
            Actor::Anonymous,
            notice.id,
            serde_json::json!({
                "video": video.uuid, "uploader_id": video.user_id, "urls": f.urls.len(),
                "statements": ["good_faith", "accurate", "authorized"],
            }),
            serde_json::json!({
                "complainant": {"name": f.name, "address": f.address, "phone": f.phone,
                                "email": f.email, "signature": f.signature},
                "work": f.work, "urls": f.urls, "client": client,
            }),
            None,
        )
        .await;
        self.record(
            "dmca.content_disabled",
            Actor::System,
            notice.id,
            serde_json::json!({"video": video.uuid, "uploader_id": video.user_id}),
            serde_json::Value::Null,
            None,
        )
        .await;
        match self.preserve(&notice, &video).await {
            Ok(()) => {
                let evidence = self.db.dmca_evidence(notice.id).await?;
                self.record(
                    "dmca.evidence_preserved",
                    Actor::System,
                    notice.id,
                    serde_json::json!({
                        "video": video.uuid,
                        "items": evidence.iter().map(|e| serde_json::json!({
                            "key": e.hold_key, "size_bytes": e.size_bytes, "sha256": e.sha256,
                        })).collect::<Vec<_>>(),
                    }),
                    serde_json::Value::Null,
                    None,
                )
                .await;
            }
            Err(e) => {
                tracing::error!(case = notice.id, video = %video.uuid, error = %e, "copyright notice: evidence could not all be preserved");
                self.record(
                    "dmca.evidence_failed",
                    Actor::System,
                    notice.id,
                    serde_json::json!({"video": video.uuid, "error": e.to_string()}),
                    serde_json::Value::Null,
                    None,
                )
                .await;
            }
        }
        let case_url = format!("{}/dmca/case/{}?token={token}", self.public_url, notice.id);
        self.mail(
            &f.email,
            format!("Copyright notice received: case {}", notice.id),
            format!(
                "We received your notice about {} and disabled the video.\n\nFollow the case (keep this link; it is the only way in without an account):\n{case_url}\n",
                f.urls.join(", ")
            ),
        );
        self.mail_uploader(
            &notice,
            format!("Your video \"{}\" was disabled after a copyright notice", video.title),
            format!(
                "A copyright notice (case {}) named your video \"{}\" ({}/v/{}), and it is disabled.\n\nIf you believe it was removed by mistake or misidentification, you may file a counter-notice:\n{}/dmca/counter/{}\n\nA takedown that is not countered within {} days counts as a strike against your account.\n",
                notice.id, video.title, self.public_url, video.uuid, self.public_url, notice.id, self.restore_days
            ),
        )
        .await;
        Ok(Filed { notice, token })
    }

    /// Copies the video's objects and a metadata snapshot to the case's hold and records their
    /// hashes.
    pub async fn preserve(&self, n: &NoticeRecord, v: &VideoRecord) -> Result<(), DmcaError> {
        let hold = hold_prefix(n.id);
        let src_prefix = prefix(&v.uuid);
        let objects = self.storage.list(src_prefix.trim_end_matches('/')).await?;
        let now = self.clock.now_ms();
        let mut listed = Vec::with_capacity(objects.len());
        for (key, _) in objects {
            let Some(rel) = key.strip_prefix(&src_prefix) else {
                continue;
            };
            let hold_key = format!("{hold}objects/{rel}");
            self.storage.copy(&key, &hold_key).await?;
            let (size, sha) = self.hash_object(&hold_key).await?;
            self.db
                .add_dmca_evidence(
                    n.id,
                    "object",
                    Some(&key),
                    &hold_key,
                    size as i64,
                    &sha,
                    now,
                )
                .await?;
            listed.push(serde_json::json!({
                "source_key": key, "hold_key": hold_key, "size_bytes": size, "sha256": sha,
            }));
        }
        let uploader = self.db.user_by_id(v.user_id).await?;
        let card = self.db.user_card(v.user_id).await?;
        let snapshot = serde_json::json!({
            "case": n.id,
            "preserved_at": ferrocast_domain::time::rfc3339_ms(now),
            "notice": {
                "received_at": ferrocast_domain::time::rfc3339_ms(n.created_at),
                "work": n.work,
                "infringing_urls": n.infringing_urls,
            },
            "video": {
                "id": v.uuid, "row_id": v.id, "kind": v.kind, "title": v.title,
                "description": v.description, "tags": v.tags, "visibility": v.visibility,
                "status": v.status, "duration_ms": v.duration_ms, "width": v.width,
                "height": v.height, "video_codec": v.video_codec, "audio_codec": v.audio_codec,
                "size_bytes": v.size_bytes, "source_id": v.source_id, "access": v.access,
                "created_at": ferrocast_domain::time::rfc3339_ms(v.created_at),
                "updated_at": ferrocast_domain::time::rfc3339_ms(v.updated_at),
            },
            "uploader": {
                "id": v.user_id,
                "uuid": uploader.as_ref().map(|u| u.uuid.clone()),
                "email": uploader.as_ref().map(|u| u.email.clone()),
                "display_name": uploader.as_ref().map(|u| u.display_name.clone()),
                "handle": card.map(|c| c.0),
                "created_at": uploader.as_ref().map(|u| ferrocast_domain::time::rfc3339_ms(u.created_at)),
            },
            "objects": listed,
        });
        let body = serde_json::to_vec_pretty(&snapshot)
            .map_err(|e| DmcaError::Invalid(format!("metadata snapshot: {e}")))?;
        let meta_key = format!("{hold}metadata.json");
        let sha = sha256_hex(&body);
        let size = body.len() as i64;
        self.storage
            .put(&meta_key, bytes::Bytes::from(body))
            .await?;
        self.db
            .add_dmca_evidence(n.id, "metadata", None, &meta_key, size, &sha, now)
            .await?;
        Ok(())
    }

    /// Size and SHA-256 (hex) of a stored object, read as a stream.
    pub async fn hash_object(&self, key: &str) -> Result<(u64, String), DmcaError> {
        let mut reader = self.storage.open(key, None).await?;
        let mut h = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = reader.body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            h.update(&chunk);
        }
        Ok((size, data_encoding::HEXLOWER.encode(&h.finalize())))
    }

    /// A case with its counter-notice and evidence.
    pub async fn case(&self, id: i64) -> Result<Case, DmcaError> {
        let notice = self.db.dmca_notice(id).await?.ok_or(DmcaError::NotFound)?;
        Ok(Case {
            counter: self.db.dmca_counter_notice(id).await?,
            evidence: self.db.dmca_evidence(id).await?,
            notice,
        })
    }

    /// The case for its complainant, who proves it with the case token (constant-time
    /// comparison of the hashes).
    pub async fn case_for_complainant(&self, id: i64, token: &str) -> Result<Case, DmcaError> {
        if token.is_empty() || token.len() > 128 {
            return Err(DmcaError::NotFound);
        }
        let case = self.case(id).await?;
        let want = case.notice.token_hash.as_bytes();
        let got = token_hash(token);
        // Both are 64 hex digits: compared without an early exit.
        let differ = want.len() != got.len()
            || want
                .iter()
                .zip(got.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0;
        if differ {
            return Err(DmcaError::NotFound);
        }
        Ok(case)
    }

    /// The case for the uploader of its video.
    pub async fn case_for_uploader(&self, id: i64, user_id: i64) -> Result<Case, DmcaError> {
        let case = self.case(id).await?;
        if case.notice.uploader_id != Some(user_id) {
            return Err(DmcaError::NotFound);
        }
        Ok(case)
    }

    /// The cases against a user's videos.
    pub async fn cases_of_uploader(&self, user_id: i64) -> Result<Vec<NoticeRecord>, DmcaError> {
        Ok(self.db.dmca_notices_of_uploader(user_id).await?)
    }

    /// A page of cases for the operator.
    pub async fn list(
        &self,
        status: Option<&str>,
        page: i64,
        limit: i64,
    ) -> Result<(Vec<NoticeRecord>, i64), DmcaError> {
        if let Some(s) = status {
            if ![
                "received",
                "content_disabled",
                "counter_noticed",
                "restored",
                "court_action",
                "withdrawn",
            ]
            .contains(&s)
            {
                return Err(DmcaError::Invalid(
                    "status: one of received, content_disabled, counter_noticed, restored, court_action, withdrawn".into(),
                ));
            }
        }
        let limit = limit.clamp(1, 100);
        let offset = (page.max(1) - 1).saturating_mul(limit);
        Ok(self.db.dmca_notices(status, limit, offset).await?)
    }

    /// The uploader's counter-notice: the video comes back after the waiting period unless
    /// the operator records court action; the complainant gets a copy.
    pub async fn counter_notice(
        &self,
        id: i64,
        user_id: i64,
        form: &CounterForm,
    ) -> Result<Case, DmcaError> {
        let case = self.case_for_uploader(id, user_id).await?;
        let f = check_counter(form)?;
        if case.notice.status != "content_disabled" {
            return Err(DmcaError::Conflict(format!(
                "This case is {}: a counter-notice can be filed only while the video is disabled and not yet countered.",
                case.notice.status.replace('_', " ")
            )));
        }
        let now = self.clock.now_ms();
        let restore_after = now + self.restore_days * DAY_MS;
        let done = self
            .db
            .add_dmca_counter_notice(
                id,
                &NewCounter {
                    user_id,
                    name: &f.name,
                    address: &f.address,
                    phone: &f.phone,
                    email: &f.email,
                    material: &f.material,
                    signature: &f.signature,
                },
                restore_after,
                now,
            )
            .await?;
        if !done {
            return Err(DmcaError::Conflict(
                "This case changed meanwhile: reload it.".into(),
            ));
        }
        let n = &case.notice;
        self.record(
            "dmca.counter_notice",
            Actor::User(user_id),
            id,
            serde_json::json!({
                "video": n.video_uuid, "restore_after": ferrocast_domain::time::rfc3339_ms(restore_after),
                "statements": ["mistake", "consent"],
            }),
            serde_json::json!({
                "name": f.name, "address": f.address, "phone": f.phone, "email": f.email,
                "material": f.material, "signature": f.signature,
            }),
            Some(user_id),
        )
        .await;
        self.mail(
            &n.complainant_email,
            format!("Counter-notice received: case {}", n.id),
            format!(
                "The uploader filed a counter-notice in case {}. A copy follows.\n\nName: {}\nAddress: {}\nPhone: {}\nEmail: {}\nMaterial: {}\nStatement: under penalty of perjury, the subscriber has a good faith belief that the material was removed or disabled as a result of mistake or misidentification.\nConsent: the subscriber consents to the jurisdiction of the Federal District Court and will accept service of process from you.\nSignature: {}\n\nThe material will be restored on {} unless we receive notice that you have filed an action seeking a court order to restrain the subscriber.\n",
                n.id, f.name, f.address, f.phone, f.email, f.material, f.signature,
                ferrocast_domain::time::rfc3339_ms(restore_after)
            ),
        );
        self.case(id).await
    }

    /// The operator's decision on a case.
    pub async fn decide(
        &self,
        id: i64,
        decision: Decision,
        note: Option<&str>,
        by: i64,
    ) -> Result<Case, DmcaError> {
        let note = match note.map(str::trim).filter(|s| !s.is_empty()) {
            Some(n) => Some(text("note", n, MAX_NOTE, true)?),
            None => None,
        };
        let case = self.case(id).await?;
        let now = self.clock.now_ms();
        let done = self
            .db
            .resolve_dmca_notice(id, decision.status(), note.as_deref(), now)
            .await?;
        if !done {
            return Err(DmcaError::Conflict(format!(
                "This case is {}: it cannot become {}.",
                case.notice.status.replace('_', " "),
                decision.status().replace('_', " ")
            )));
        }
        tracing::info!(
            case = id,
            by,
            decision = decision.status(),
            "copyright case decided"
        );
        self.record(
            &format!("dmca.{}", decision.status()),
            Actor::User(by),
            id,
            serde_json::json!({"video": case.notice.video_uuid, "from": case.notice.status}),
            match &note {
                Some(n) => serde_json::json!({"note": n}),
                None => serde_json::Value::Null,
            },
            None,
        )
        .await;
        if decision == Decision::CourtAction {
            if let Some(n) = self.db.dmca_notice(id).await? {
                self.strike(&n).await?;
            }
        }
        let n = &case.notice;
        let (subject, line) = match decision {
            Decision::CourtAction => (
                "Court action recorded",
                "Court action was recorded: the video stays disabled.",
            ),
            Decision::Withdraw => (
                "Notice withdrawn",
                "The notice was withdrawn: the video is available again.",
            ),
            Decision::Restore => ("Video restored", "The video is available again."),
        };
        self.mail(
            &n.complainant_email,
            format!("{subject}: case {}", n.id),
            format!("Case {}: {line}\n", n.id),
        );
        self.mail_uploader(
            n,
            format!("{subject}: case {}", n.id),
            format!(
                "Case {} about your video {}/v/{}: {line}\n",
                n.id, self.public_url, n.video_uuid
            ),
        )
        .await;
        self.case(id).await
    }

    /// Restores countered videos whose waiting period has passed, and lists the takedowns
    /// that stand and have given no strike yet (court action, or no counter-notice within the
    /// waiting period), whose strikes [`Dmca::sweep`] gives.
    pub async fn sweep_restores(&self) -> Result<(u64, Vec<NoticeRecord>), DmcaError> {
        let now = self.clock.now_ms();
        let mut restored = 0;
        for n in self.db.dmca_restores_due(now, 100).await? {
            if self
                .db
                .resolve_dmca_notice(
                    n.id,
                    "restored",
                    Some(
                        "The waiting period after the counter-notice passed with no court action.",
                    ),
                    now,
                )
                .await?
            {
                restored += 1;
                tracing::info!(case = n.id, video = %n.video_uuid, "copyright notice: video restored after the waiting period");
                self.record(
                    "dmca.restored",
                    Actor::System,
                    n.id,
                    serde_json::json!({"video": n.video_uuid, "from": "counter_noticed", "reason": "waiting_period_passed"}),
                    serde_json::Value::Null,
                    None,
                )
                .await;
                let line = "The waiting period after the counter-notice passed with no notice of court action: the video is available again.";
                self.mail(
                    &n.complainant_email,
                    format!("Video restored: case {}", n.id),
                    format!("Case {}: {line}\n", n.id),
                );
                self.mail_uploader(
                    &n,
                    format!("Video restored: case {}", n.id),
                    format!("Case {}: {line}\n", n.id),
                )
                .await;
            }
        }
        let due = self
            .db
            .dmca_strikes_due(now - self.restore_days * DAY_MS, 100)
            .await?;
        Ok((restored, due))
    }
    /// One sweep: restores countered videos whose waiting period passed and gives the strikes
    /// of takedowns that stand.
    pub async fn sweep(&self) -> Result<Swept, DmcaError> {
        let (restored, due) = self.sweep_restores().await?;
        let mut out = Swept {
            restored,
            strikes: 0,
        };
        for n in due {
            match self.strike(&n).await {
                Ok(Some(_)) => out.strikes += 1,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(case = n.id, error = %e, "a copyright strike could not be given; the next sweep tries again")
                }
            }
        }
        Ok(out)
    }

    /// Gives the uploader of a takedown that stands a strike (once per case); the strike's id.
    async fn strike(&self, n: &NoticeRecord) -> Result<Option<i64>, DmcaError> {
        let Some(uploader) = n.uploader_id else {
            return Ok(None);
        };
        if !self.db.claim_dmca_strike(n.id, self.clock.now_ms()).await? {
            return Ok(None);
        }
        let why = if n.status == "court_action" {
            "court action was recorded"
        } else {
            "it was not countered in time"
        };
        let reason = format!(
            "Copyright takedown upheld (case {}): {why}. Video {}.",
            n.id, n.video_uuid
        );
        let evidence = format!("dmca:{}", n.id);
        match self
            .safety
            .issue_strike(uploader, &reason, Some(&evidence), Actor::System)
            .await
        {
            Ok(out) => {
                self.db
                    .set_dmca_strike(n.id, Some(out.strike_id), self.clock.now_ms())
                    .await?;
                self.record(
                    "dmca.strike",
                    Actor::System,
                    n.id,
                    serde_json::json!({
                        "user_id": uploader, "strike_id": out.strike_id, "active": out.active,
                        "restricted": out.restricted, "why": n.status,
                    }),
                    serde_json::Value::Null,
                    None,
                )
                .await;
                Ok(Some(out.strike_id))
            }
            Err(e) => {
                // The account is gone: no strike to give; the claim stays (strike 0), so the
                // sweep does not try again.
                if self.db.user_by_id(uploader).await?.is_none() {
                    return Ok(None);
                }
                self.db
                    .set_dmca_strike(n.id, None, self.clock.now_ms())
                    .await?;
                Err(DmcaError::Strike(e.to_string()))
            }
        }
    }
}

/// Runs the sweep every [`SWEEP_EVERY`] until `shutdown` turns true.
pub fn spawn(dmca: Arc<Dmca>, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            if *shutdown.borrow() {
                return;
            }
            match dmca.sweep().await {
                Ok(s) if s.restored > 0 || s.strikes > 0 => {
                    tracing::info!(
                        restored = s.restored,
                        strikes = s.strikes,
                        "copyright sweep"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "copyright sweep failed"),
            }
        }
    });
}
