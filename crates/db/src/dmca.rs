//! Copyright notices (DMCA): notices against videos, the uploaders' counter-notices, and the
//! evidence preserved for each case. Nothing here has a foreign key to users or videos, so a
//! case outlives the video and the account it is about.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// Statuses in which a notice keeps its video disabled.
pub const ACTIVE: [&str; 4] = [
    "received",
    "content_disabled",
    "counter_noticed",
    "court_action",
];

/// A stored notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRecord {
    /// The case id.
    pub id: i64,
    /// SHA-256 (hex) of the complainant's case token.
    pub token_hash: String,
    /// `received`, `content_disabled`, `counter_noticed`, `restored`, `court_action`, `withdrawn`.
    pub status: String,
    /// The video's public id.
    pub video_uuid: String,
    /// The video's row id when the notice came.
    pub video_id: Option<i64>,
    /// The uploader when the notice came.
    pub uploader_id: Option<i64>,
    /// Complainant's name.
    pub complainant_name: String,
    /// Complainant's postal address.
    pub complainant_address: String,
    /// Complainant's telephone number.
    pub complainant_phone: String,
    /// Complainant's email address.
    pub complainant_email: String,
    /// The copyrighted work.
    pub work: String,
    /// Where the material is.
    pub infringing_urls: Vec<String>,
    /// The good-faith statement was made.
    pub good_faith: bool,
    /// The accuracy statement was made.
    pub accurate: bool,
    /// The authority statement was made (under penalty of perjury).
    pub authorized: bool,
    /// The electronic signature.
    pub signature: String,
    /// Received (ms).
    pub created_at: i64,
    /// When the video was disabled (ms).
    pub disabled_at: Option<i64>,
    /// When the counter-notice came (ms).
    pub counter_noticed_at: Option<i64>,
    /// When the sweep restores the video (ms).
    pub restore_after: Option<i64>,
    /// When it was restored, withdrawn or taken to court (ms).
    pub resolved_at: Option<i64>,
    /// The operator's note.
    pub resolution_note: Option<String>,
    /// The strike the takedown gave the uploader.
    pub strike_id: Option<i64>,
    /// Last change (ms).
    pub updated_at: i64,
}

const NOTICE_COLUMNS: &str = "id, token_hash, status, video_uuid, video_id, uploader_id, complainant_name, \
    complainant_address, complainant_phone, complainant_email, work, infringing_urls, good_faith, accurate, \
    authorized, signature, created_at, disabled_at, counter_noticed_at, restore_after, resolved_at, \
    resolution_note, strike_id, updated_at";

macro_rules! notice_from_row {
    ($r:expr) => {{
        let urls: String = $r.try_get("infringing_urls")?;
        NoticeRecord {
            id: $r.try_get("id")?,
            token_hash: $r.try_get("token_hash")?,
            status: $r.try_get("status")?,
            video_uuid: $r.try_get("video_uuid")?,
            video_id: $r.try_get("video_id")?,
            uploader_id: $r.try_get("uploader_id")?,
            complainant_name: $r.try_get("complainant_name")?,
            complainant_address: $r.try_get("complainant_address")?,
            complainant_phone: $r.try_get("complainant_phone")?,
            complainant_email: $r.try_get("complainant_email")?,
            work: $r.try_get("work")?,
            infringing_urls: serde_json::from_str(&urls).unwrap_or_default(),
            good_faith: $r.try_get("good_faith")?,
            accurate: $r.try_get("accurate")?,
            authorized: $r.try_get("authorized")?,
            signature: $r.try_get("signature")?,
            created_at: $r.try_get("created_at")?,
            disabled_at: $r.try_get("disabled_at")?,
            counter_noticed_at: $r.try_get("counter_noticed_at")?,
            restore_after: $r.try_get("restore_after")?,
            resolved_at: $r.try_get("resolved_at")?,
            resolution_note: $r.try_get("resolution_note")?,
            strike_id: $r.try_get("strike_id")?,
            updated_at: $r.try_get("updated_at")?,
        }
    }};
}

/// A notice to store.
#[derive(Debug, Clone)]
pub struct NewNotice<'a> {
    /// SHA-256 (hex) of the case token.
    pub token_hash: &'a str,
    /// The video's public id.
    pub video_uuid: &'a str,
    /// The video's row id.
    pub video_id: i64,
    /// The uploader.
    pub uploader_id: i64,
    /// Complainant's name.
    pub complainant_name: &'a str,
    /// Complainant's postal address.
    pub complainant_address: &'a str,
    /// Complainant's telephone number.
    pub complainant_phone: &'a str,
    /// Complainant's email address.
    pub complainant_email: &'a str,
    /// The copyrighted work.
    pub work: &'a str,
    /// Where the material is.
    pub infringing_urls: &'a [String],
    /// The signature.
    pub signature: &'a str,
}

/// A stored counter-notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRecord {
    /// Id.
    pub id: i64,
    /// The notice it answers.
    pub notice_id: i64,
    /// Who filed it.
    pub user_id: i64,
    /// Subscriber's name.
    pub name: String,
    /// Subscriber's address.
    pub address: String,
    /// Subscriber's telephone number.
    pub phone: String,
    /// Subscriber's email.
    pub email: String,
    /// The material removed and where it appeared.
    pub material: String,
    /// The mistake statement was made (under penalty of perjury).
    pub mistake: bool,
    /// Consent to jurisdiction was given.
    pub consent: bool,
    /// The signature.
    pub signature: String,
    /// Filed (ms).
    pub created_at: i64,
}

/// A counter-notice to store.
#[derive(Debug, Clone)]
pub struct NewCounter<'a> {
    /// Who files it.
    pub user_id: i64,
    /// Subscriber's name.
    pub name: &'a str,
    /// Subscriber's address.
    pub address: &'a str,
    /// Subscriber's telephone number.
    pub phone: &'a str,
    /// Subscriber's email.
    pub email: &'a str,
    /// The material removed and where it appeared.
    pub material: &'a str,
    /// The signature.
    pub signature: &'a str,
}

/// One preserved piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRecord {
    /// Id.
    pub id: i64,
    /// The case.
    pub notice_id: i64,
    /// `object` or `metadata`.
    pub kind: String,
    /// The video object it copies (`object`).
    pub source_key: Option<String>,
    /// Where it is held.
    pub hold_key: String,
    /// Bytes.
    pub size_bytes: i64,
    /// SHA-256 (hex) of the held bytes.
    pub sha256: String,
    /// Preserved (ms).
    pub created_at: i64,
}

/// The statuses `to` may follow, for [`Db::resolve_dmca_notice`].
fn sources_of(to: &str) -> &'static [&'static str] {
    match to {
        // The waiting period passed, or the operator restored the video (a mistaken notice,
        // or after court action ended for the uploader).
        "restored" => &["content_disabled", "counter_noticed", "court_action"],
        "court_action" => &["content_disabled", "counter_noticed"],
        "withdrawn" => &["content_disabled", "counter_noticed"],
        _ => &[],
    }
}

impl Db {
    /// Stores a notice and disables its video in one transaction (the video keeps the reason of
    /// the first notice that disabled it).
    pub async fn create_dmca_notice(
        &self,
        n: &NewNotice<'_>,
        now: i64,
    ) -> Result<NoticeRecord, DbError> {
        let urls = serde_json::to_string(n.infringing_urls).unwrap_or_else(|_| "[]".into());
        let insert = format!(
            "INSERT INTO dmca_notices (token_hash, status, video_uuid, video_id, uploader_id, complainant_name, \
             complainant_address, complainant_phone, complainant_email, work, infringing_urls, good_faith, accurate, \
             authorized, signature, created_at, disabled_at, updated_at) \
             VALUES ($1, 'content_disabled', $2, $3, $4, $5, $6, $7, $8, $9, $10, TRUE, TRUE, TRUE, $11, $12, $12, $12) \
             RETURNING {NOTICE_COLUMNS}"
        );
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let r = sqlx::query(&insert)
                .bind(n.token_hash).bind(n.video_uuid).bind(n.video_id).bind(n.uploader_id)
                .bind(n.complainant_name).bind(n.complainant_address).bind(n.complainant_phone)
                .bind(n.complainant_email).bind(n.work).bind(&urls).bind(n.signature).bind(now)
                .fetch_one(&mut *tx).await?;
            let notice = notice_from_row!(r);
            sqlx::query(
                "UPDATE videos SET disabled_at = COALESCE(disabled_at, $1), \
                 disabled_reason = COALESCE(disabled_reason, $2) WHERE uuid = $3",
            )
            .bind(now).bind(format!("dmca:{}", notice.id)).bind(n.video_uuid)
            .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(notice)
        })
    }

    /// A notice by its case id.
    pub async fn dmca_notice(&self, id: i64) -> Result<Option<NoticeRecord>, DbError> {
        let sql = format!("SELECT {NOTICE_COLUMNS} FROM dmca_notices WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(notice_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A page of notices, newest first, of one status or all, and how many there are.
    pub async fn dmca_notices(
        &self,
        status: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<NoticeRecord>, i64), DbError> {
        let filter = if status.is_some() {
            "WHERE status = $1"
        } else {
            "WHERE $1 = ''"
        };
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM dmca_notices {filter} ORDER BY id DESC LIMIT $2 OFFSET $3"
        );
        let count = format!("SELECT COUNT(*) FROM dmca_notices {filter}");
        let s = status.unwrap_or("");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(s).bind(limit.clamp(1, 100)).bind(offset.max(0))
                .fetch_all(p).await?;
            let total: i64 = sqlx::query_scalar(&count).bind(s).fetch_one(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(notice_from_row!(r));
            }
            Ok((out, total))
        })
    }

    /// The notices against a user's videos, newest first (at most 100).
    pub async fn dmca_notices_of_uploader(
        &self,
        user_id: i64,
    ) -> Result<Vec<NoticeRecord>, DbError> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM dmca_notices WHERE uploader_id = $1 ORDER BY id DESC LIMIT 100"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(notice_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Records the uploader's counter-notice and when the video comes back, if the notice is
    /// `content_disabled`; `false` (nothing written) otherwise.
    pub async fn add_dmca_counter_notice(
        &self,
        notice_id: i64,
        c: &NewCounter<'_>,
        restore_after: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE dmca_notices SET status = 'counter_noticed', counter_noticed_at = $1, restore_after = $2, \
                 updated_at = $1 WHERE id = $3 AND status = 'content_disabled'",
            )
            .bind(now).bind(restore_after).bind(notice_id)
            .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO dmca_counter_notices (notice_id, user_id, name, address, phone, email, material, \
                 mistake, consent, signature, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, TRUE, $8, $9)",
            )
            .bind(notice_id).bind(c.user_id).bind(c.name).bind(c.address).bind(c.phone).bind(c.email)
            .bind(c.material).bind(c.signature).bind(now)
            .execute(&mut *tx).await.map_err(crate::map_unique)?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The counter-notice of a notice.
    pub async fn dmca_counter_notice(
        &self,
        notice_id: i64,
    ) -> Result<Option<CounterRecord>, DbError> {
        on_pool!(self, p => {
            let Some(r) = sqlx::query(
                "SELECT id, notice_id, user_id, name, address, phone, email, material, mistake, consent, \
                 signature, created_at FROM dmca_counter_notices WHERE notice_id = $1",
            )
            .bind(notice_id).fetch_optional(p).await? else {
                return Ok(None);
            };
            Ok(Some(CounterRecord {
                id: r.try_get("id")?,
                notice_id: r.try_get("notice_id")?,
                user_id: r.try_get("user_id")?,
                name: r.try_get("name")?,
                address: r.try_get("address")?,
                phone: r.try_get("phone")?,
                email: r.try_get("email")?,
                material: r.try_get("material")?,
                mistake: r.try_get("mistake")?,
                consent: r.try_get("consent")?,
                signature: r.try_get("signature")?,
                created_at: r.try_get("created_at")?,
            }))
        })
    }

    /// Records one piece of preserved evidence.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_dmca_evidence(
        &self,
        notice_id: i64,
        kind: &str,
        source_key: Option<&str>,
        hold_key: &str,
        size_bytes: i64,
        sha256: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO dmca_evidence (notice_id, kind, source_key, hold_key, size_bytes, sha256, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(notice_id).bind(kind).bind(source_key).bind(hold_key).bind(size_bytes).bind(sha256).bind(now)
            .execute(p).await.map_err(crate::map_unique)?;
            Ok(())
        })
    }

    /// The evidence of a case, in the order it was preserved.
    pub async fn dmca_evidence(&self, notice_id: i64) -> Result<Vec<EvidenceRecord>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, notice_id, kind, source_key, hold_key, size_bytes, sha256, created_at \
                 FROM dmca_evidence WHERE notice_id = $1 ORDER BY id",
            )
            .bind(notice_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(EvidenceRecord {
                    id: r.try_get("id")?,
                    notice_id: r.try_get("notice_id")?,
                    kind: r.try_get("kind")?,
                    source_key: r.try_get("source_key")?,
                    hold_key: r.try_get("hold_key")?,
                    size_bytes: r.try_get("size_bytes")?,
                    sha256: r.try_get("sha256")?,
                    created_at: r.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Moves a notice to `to` (`restored`, `court_action` or `withdrawn`) from a status that
    /// may lead there, with the operator's note; a restored or withdrawn notice's video is
    /// enabled again unless another notice still holds it. `false` if the notice was not in a
    /// status that leads to `to`.
    pub async fn resolve_dmca_notice(
        &self,
        id: i64,
        to: &str,
        note: Option<&str>,
        now: i64,
    ) -> Result<bool, DbError> {
        let from = sources_of(to);
        if from.is_empty() {
            return Err(DbError::Invalid(format!("a notice cannot move to {to}")));
        }
        let list = from
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(",");
        let update = format!(
            "UPDATE dmca_notices SET status = $1, resolved_at = $2, updated_at = $2, \
             resolution_note = COALESCE($3, resolution_note) WHERE id = $4 AND status IN ({list}) \
             RETURNING video_uuid"
        );
        let active = ACTIVE
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(",");
        let enable = format!(
            "UPDATE videos SET disabled_at = NULL, disabled_reason = NULL WHERE uuid = $1 AND NOT EXISTS \
             (SELECT 1 FROM dmca_notices WHERE video_uuid = $1 AND status IN ({active}))"
        );
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let Some(uuid) = sqlx::query_scalar::<_, String>(&update)
                .bind(to).bind(now).bind(note).bind(id)
                .fetch_optional(&mut *tx).await? else {
                return Ok(false);
            };
            if to == "restored" || to == "withdrawn" {
                sqlx::query(&enable).bind(&uuid).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Up to `limit` countered notices whose waiting period has passed at `now`.
    pub async fn dmca_restores_due(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<NoticeRecord>, DbError> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM dmca_notices WHERE status = 'counter_noticed' AND restore_after <= $1 \
             ORDER BY restore_after, id LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(now).bind(limit.max(0)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(notice_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Up to `limit` takedowns that stand and have given no strike yet: court action recorded,
    /// or disabled at or before `uncountered_before` with no counter-notice.
    pub async fn dmca_strikes_due(
        &self,
        uncountered_before: i64,
        limit: i64,
    ) -> Result<Vec<NoticeRecord>, DbError> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM dmca_notices WHERE strike_id IS NULL AND uploader_id IS NOT NULL \
             AND (status = 'court_action' OR (status = 'content_disabled' AND disabled_at <= $1)) \
             ORDER BY id LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(uncountered_before).bind(limit.max(0)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(notice_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Claims the strike of a takedown for this caller (marks it 0, being given), so that two
    /// nodes' sweeps never give two; `false` if it was claimed or given already.
    pub async fn claim_dmca_strike(&self, id: i64, now: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE dmca_notices SET strike_id = 0, updated_at = $1 WHERE id = $2 AND strike_id IS NULL",
        )
        .bind(now).bind(id).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Records the strike a claimed takedown gave (`Some`), or releases the claim (`None`: the
    /// strike could not be given, the next sweep tries again).
    pub async fn set_dmca_strike(
        &self,
        id: i64,
        strike_id: Option<i64>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE dmca_notices SET strike_id = $1, updated_at = $2 WHERE id = $3 AND strike_id = 0",
        )
        .bind(strike_id).bind(now).bind(id).execute(p).await?.rows_affected());
        Ok(n > 0)
    }
}
