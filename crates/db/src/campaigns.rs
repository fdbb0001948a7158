//! Brands, their members and invitations, their campaigns with milestones, and creators'
//! applications (migration 0036). The rules (lifecycles, roles, tiers) are the domain's
//! (`ferrocast_domain::{brand, campaign}`); this module stores them, and checks in one
//! transaction what must hold together (seats, active campaigns, accepted creators within the
//! budget, a brand's last owner).

use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;

/// A brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandRecord {
    /// Integer id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// Name.
    pub name: String,
    /// Its website (an `https://` URL), if given.
    pub website: Option<String>,
    /// About the brand.
    pub about: String,
    /// Its tier's name.
    pub tier: String,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A member of a brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// The user.
    pub user_id: i64,
    /// Their email.
    pub email: String,
    /// Their name.
    pub display_name: String,
    /// `owner`, `manager` or `viewer`.
    pub role: String,
    /// Since (ms).
    pub created_at: i64,
}

/// An invitation to join a brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    /// Integer id.
    pub id: i64,
    /// The brand.
    pub brand_id: i64,
    /// Who is invited (lower case).
    pub email: String,
    /// The role they get.
    pub role: String,
    /// Sent (ms).
    pub created_at: i64,
    /// Void after (ms).
    pub expires_at: i64,
}

/// A campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecord {
    /// Integer id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// The brand.
    pub brand_id: i64,
    /// Title.
    pub title: String,
    /// Its type (`UGC`, `PRODUCT_REVIEW` …).
    pub kind: String,
    /// What the brand asks for.
    pub brief: String,
    /// The kind of deliverable (`VIDEO` …).
    pub deliverable: String,
    /// The budget (minor units of `currency`).
    pub budget_minor: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// Its lifecycle status (`DRAFT` …).
    pub status: String,
    /// Applications close (ms).
    pub apply_by: Option<i64>,
    /// Deliverables are due (ms).
    pub due_at: Option<i64>,
    /// Who wrote it.
    pub created_by: Option<i64>,
    /// First published (ms).
    pub published_at: Option<i64>,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// What a campaign says (already checked).
#[derive(Debug, Clone)]
pub struct CampaignFields<'a> {
    /// Title.
    pub title: &'a str,
    /// Its type.
    pub kind: &'a str,
    /// The brief.
    pub brief: &'a str,
    /// The kind of deliverable.
    pub deliverable: &'a str,
    /// The budget (minor units).
    pub budget_minor: i64,
    /// ISO 4217.
    pub currency: &'a str,
    /// Applications close (ms).
    pub apply_by: Option<i64>,
    /// Deliverables are due (ms).
    pub due_at: Option<i64>,
}

/// A published campaign as creators find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCampaign {
    /// The campaign.
    pub campaign: CampaignRecord,
    /// Its brand's name.
    pub brand_name: String,
    /// Its brand's public id.
    pub brand_uuid: String,
}

/// A milestone of a campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestoneRecord {
    /// Integer id.
    pub id: i64,
    /// The campaign.
    pub campaign_id: i64,
    /// What is due.
    pub title: String,
    /// When (ms).
    pub due_at: i64,
    /// The reminder went out (ms).
    pub reminded_at: Option<i64>,
    /// Ticked off (ms).
    pub done_at: Option<i64>,
}

/// An application (or invitation) of a creator to a campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    /// Integer id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// The campaign.
    pub campaign_id: i64,
    /// The creator.
    pub creator_id: i64,
    /// Their pitch.
    pub pitch: String,
    /// Their rate (minor units of the campaign's currency).
    pub rate_minor: i64,
    /// `invited`, `applied`, `shortlisted`, `accepted`, `declined`, `withdrawn`.
    pub status: String,
    /// The brand invited the creator.
    pub invited: bool,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// The creator's handle.
    pub creator_handle: String,
    /// The creator's name.
    pub creator_name: String,
}

/// Why a campaign's status did not change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusRefusal {
    /// The campaign is no longer in the status the move was checked from.
    Moved(String),
    /// The brand's tier allows this many active campaigns, all in use.
    ActiveLimit(i64),
    /// Back to DRAFT, but creators are accepted.
    HasAccepted,
}

/// Why an application's status did not change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationRefusal {
    /// The application is no longer in the status the move was checked from.
    Moved(String),
    /// The campaign accepts this many creators, all taken.
    CreatorLimit(i64),
    /// The accepted rates would exceed the budget: what is left of it.
    OverBudget(i64),
    /// The campaign does not take applications in its status.
    Closed(String),
}

/// Why a member could not be removed or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberRefusal {
    /// Not a member.
    NotMember,
    /// The brand would have no owner left.
    LastOwner,
}

const BRAND: &str = "id, uuid, name, website, about, tier, created_at, updated_at";
const CAMPAIGN: &str = "c.id, c.uuid, c.brand_id, c.title, c.kind, c.brief, c.deliverable, c.budget_minor, c.currency, \
     c.status, c.apply_by, c.due_at, c.created_by, c.published_at, c.created_at, c.updated_at";
/// The same columns, unqualified (for `RETURNING`, which SQLite takes only so).
const CAMPAIGN_RETURNING: &str =
    "id, uuid, brand_id, title, kind, brief, deliverable, budget_minor, currency, \
     status, apply_by, due_at, created_by, published_at, created_at, updated_at";
const APPLICATION: &str =
    "a.id, a.uuid, a.campaign_id, a.creator_id, a.pitch, a.rate_minor, a.status, a.invited, \
     a.created_at, a.updated_at, u.handle AS creator_handle, u.display_name AS creator_name";
/// Campaigns that count against a brand's active limit.
const ACTIVE: &str = "('PUBLISHED', 'ACTIVE', 'IN_PROGRESS')";

macro_rules! brand_from_row {
    ($r:expr) => {
        BrandRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            name: $r.try_get("name")?,
            website: $r.try_get("website")?,
            about: $r.try_get("about")?,
            tier: $r.try_get("tier")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
        }
    };
}

macro_rules! campaign_from_row {
    ($r:expr) => {
        CampaignRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            brand_id: $r.try_get("brand_id")?,
            title: $r.try_get("title")?,
            kind: $r.try_get("kind")?,
            brief: $r.try_get("brief")?,
            deliverable: $r.try_get("deliverable")?,
            budget_minor: $r.try_get("budget_minor")?,
            currency: $r.try_get("currency")?,
            status: $r.try_get("status")?,
            apply_by: $r.try_get("apply_by")?,
            due_at: $r.try_get("due_at")?,
            created_by: $r.try_get("created_by")?,
            published_at: $r.try_get("published_at")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
        }
    };
}

macro_rules! application_from_row {
    ($r:expr) => {
        ApplicationRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            campaign_id: $r.try_get("campaign_id")?,
            creator_id: $r.try_get("creator_id")?,
            pitch: $r.try_get("pitch")?,
            rate_minor: $r.try_get("rate_minor")?,
            status: $r.try_get("status")?,
            invited: $r.try_get("invited")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
            creator_handle: $r.try_get("creator_handle")?,
            creator_name: $r.try_get("creator_name")?,
        }
    };
}

/// `%text%` for a `LIKE … ESCAPE '\'` on lower-cased columns, with `%`, `_` and `\` taken
/// literally.
fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Db {
    // ------------------------------------------------------------------------------ brands

    /// Creates a brand with `owner_id` as its owner.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_brand(
        &self,
        uuid: &str,
        name: &str,
        website: Option<&str>,
        about: &str,
        tier: &str,
        owner_id: i64,
        now: i64,
    ) -> Result<BrandRecord, DbError> {
        let sql = format!(
            "INSERT INTO brands (uuid, name, website, about, tier, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {BRAND}"
        );
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let r = sqlx::query(&sql).bind(uuid).bind(name).bind(website).bind(about).bind(tier).bind(now)
                .fetch_one(&mut *tx).await.map_err(map_unique)?;
            let brand = brand_from_row!(r);
            sqlx::query("INSERT INTO brand_members (brand_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
                .bind(brand.id).bind(owner_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(brand)
        })
    }

    /// A brand by its public id.
    pub async fn brand_by_uuid(&self, uuid: &str) -> Result<Option<BrandRecord>, DbError> {
        let sql = format!("SELECT {BRAND} FROM brands WHERE uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(brand_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A brand by its id.
    pub async fn brand_by_id(&self, id: i64) -> Result<Option<BrandRecord>, DbError> {
        let sql = format!("SELECT {BRAND} FROM brands WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(brand_from_row!(r))),
            None => Ok(None),
        })
    }

    /// The brands `user_id` belongs to, with their role in each, by name.
    pub async fn brands_of_user(
        &self,
        user_id: i64,
    ) -> Result<Vec<(BrandRecord, String)>, DbError> {
        let sql = "SELECT b.id, b.uuid, b.name, b.website, b.about, b.tier, b.created_at, b.updated_at, m.role \
                   FROM brand_members m JOIN brands b ON b.id = m.brand_id WHERE m.user_id = $1 ORDER BY b.name, b.id";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(user_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((brand_from_row!(r), r.try_get("role")?));
            }
            Ok(out)
        })
    }

    /// `user_id`'s role in the brand, if a member.
    pub async fn brand_role(&self, brand_id: i64, user_id: i64) -> Result<Option<String>, DbError> {
        on_pool!(self, p => Ok(sqlx::query_scalar(
            "SELECT role FROM brand_members WHERE brand_id = $1 AND user_id = $2",
        ).bind(brand_id).bind(user_id).fetch_optional(p).await?))
    }

    /// Replaces the brand's profile; `false` if there is none.
    pub async fn update_brand(
        &self,
        id: i64,
        name: &str,
        website: Option<&str>,
        about: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE brands SET name = $2, website = $3, about = $4, updated_at = $5 WHERE id = $1",
        ).bind(id).bind(name).bind(website).bind(about).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Moves the brand to another tier; `false` if there is none.
    pub async fn set_brand_tier(&self, id: i64, tier: &str, now: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("UPDATE brands SET tier = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(tier).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Brands for the administrators: by name, with their member and active campaign counts,
    /// at most `limit`.
    pub async fn all_brands(&self, limit: i64) -> Result<Vec<(BrandRecord, i64, i64)>, DbError> {
        let sql = format!(
            "SELECT b.id, b.uuid, b.name, b.website, b.about, b.tier, b.created_at, b.updated_at, \
             (SELECT COUNT(*) FROM brand_members m WHERE m.brand_id = b.id) AS members, \
             (SELECT COUNT(*) FROM campaigns c WHERE c.brand_id = b.id AND c.status IN {ACTIVE}) AS active \
             FROM brands b ORDER BY b.name, b.id LIMIT $1"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(limit.clamp(1, 1000)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((brand_from_row!(r), r.try_get("members")?, r.try_get("active")?));
            }
            Ok(out)
        })
    }

    /// The brand's members, owners first.
    pub async fn brand_members(&self, brand_id: i64) -> Result<Vec<MemberRecord>, DbError> {
        let sql = "SELECT m.user_id, u.email, u.display_name, m.role, m.created_at FROM brand_members m \
                   JOIN users u ON u.id = m.user_id WHERE m.brand_id = $1 \
                   ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'manager' THEN 1 ELSE 2 END, m.created_at, m.user_id";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(brand_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(MemberRecord {
                    user_id: r.try_get("user_id")?,
                    email: r.try_get("email")?,
                    display_name: r.try_get("display_name")?,
                    role: r.try_get("role")?,
                    created_at: r.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Invites `email` (lower case) to the brand, replacing an earlier invitation of the same
    /// address, unless members and open invitations already fill `seats`: `Ok(Err(used))`.
    /// An address that is already a member's is [`DbError::Conflict`].
    #[allow(clippy::too_many_arguments)]
    pub async fn invite_to_brand(
        &self,
        brand_id: i64,
        email: &str,
        role: &str,
        token_hash: &str,
        invited_by: i64,
        now: i64,
        expires_at: i64,
        seats: Option<i64>,
    ) -> Result<Result<InviteRecord, i64>, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // Serialises the brand's seat changes (row lock or SQLite's write lock).
            sqlx::query("UPDATE brands SET updated_at = updated_at WHERE id = $1")
                .bind(brand_id).execute(&mut *tx).await?;
            let member: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM brand_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.brand_id = $1 AND lower(u.email) = $2",
            ).bind(brand_id).bind(email).fetch_one(&mut *tx).await?;
            if member > 0 {
                return Err(DbError::Conflict);
            }
            sqlx::query("DELETE FROM brand_invites WHERE brand_id = $1 AND (email = $2 OR expires_at <= $3)")
                .bind(brand_id).bind(email).bind(now).execute(&mut *tx).await?;
            let used: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM brand_members WHERE brand_id = $1) + \
                        (SELECT COUNT(*) FROM brand_invites WHERE brand_id = $1)",
            ).bind(brand_id).fetch_one(&mut *tx).await?;
            if seats.is_some_and(|max| used >= max) {
                tx.rollback().await?;
                return Ok(Err(used));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO brand_invites (brand_id, email, role, token_hash, invited_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            ).bind(brand_id).bind(email).bind(role).bind(token_hash).bind(invited_by).bind(now).bind(expires_at)
                .fetch_one(&mut *tx).await.map_err(map_unique)?;
            tx.commit().await?;
            Ok(Ok(InviteRecord {
                id,
                brand_id,
                email: email.to_string(),
                role: role.to_string(),
                created_at: now,
                expires_at,
            }))
        })
    }

    /// The brand's open invitations, newest first.
    pub async fn brand_invites(
        &self,
        brand_id: i64,
        now: i64,
    ) -> Result<Vec<InviteRecord>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, brand_id, email, role, created_at, expires_at FROM brand_invites \
                 WHERE brand_id = $1 AND expires_at > $2 ORDER BY created_at DESC, id DESC",
            ).bind(brand_id).bind(now).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(InviteRecord {
                    id: r.try_get("id")?,
                    brand_id: r.try_get("brand_id")?,
                    email: r.try_get("email")?,
                    role: r.try_get("role")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Withdraws an invitation; `false` if the brand has no such one.
    pub async fn revoke_brand_invite(&self, brand_id: i64, id: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM brand_invites WHERE brand_id = $1 AND id = $2")
            .bind(brand_id).bind(id).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Takes up the invitation whose token hashes to `token_hash` for `user_id`, whose email
    /// (lower case) must be the invited one: the brand and the role, or `None` if there is no
    /// such open invitation for that address.
    pub async fn accept_brand_invite(
        &self,
        token_hash: &str,
        user_id: i64,
        email: &str,
        now: i64,
    ) -> Result<Option<(i64, String)>, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // A write first (SQLite's write lock; see `set_campaign_status`).
            sqlx::query("UPDATE brand_invites SET created_at = created_at WHERE token_hash = $1")
                .bind(token_hash).execute(&mut *tx).await?;
            let row = sqlx::query(
                "SELECT id, brand_id, role FROM brand_invites WHERE token_hash = $1 AND email = $2 AND expires_at > $3",
            ).bind(token_hash).bind(email).bind(now).fetch_optional(&mut *tx).await?;
            let Some(r) = row else {
                tx.rollback().await?;
                return Ok(None);
            };
            let (id, brand_id, role): (i64, i64, String) = (r.try_get("id")?, r.try_get("brand_id")?, r.try_get("role")?);
            sqlx::query("DELETE FROM brand_invites WHERE id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO brand_members (brand_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (brand_id, user_id) DO NOTHING",
            ).bind(brand_id).bind(user_id).bind(&role).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some((brand_id, role)))
        })
    }

    /// Changes a member's role (`Some`) or removes them (`None`), unless the brand would be
    /// left without an owner.
    pub async fn change_brand_member(
        &self,
        brand_id: i64,
        user_id: i64,
        role: Option<&str>,
    ) -> Result<Result<(), MemberRefusal>, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE brands SET updated_at = updated_at WHERE id = $1")
                .bind(brand_id).execute(&mut *tx).await?;
            let current: Option<String> = sqlx::query_scalar(
                "SELECT role FROM brand_members WHERE brand_id = $1 AND user_id = $2",
            ).bind(brand_id).bind(user_id).fetch_optional(&mut *tx).await?;
            let Some(current) = current else {
                tx.rollback().await?;
                return Ok(Err(MemberRefusal::NotMember));
            };
            if current == "owner" && role != Some("owner") {
                let owners: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM brand_members WHERE brand_id = $1 AND role = 'owner'",
                ).bind(brand_id).fetch_one(&mut *tx).await?;
                if owners <= 1 {
                    tx.rollback().await?;
                    return Ok(Err(MemberRefusal::LastOwner));
                }
            }
            match role {
                Some(role) => sqlx::query("UPDATE brand_members SET role = $3 WHERE brand_id = $1 AND user_id = $2")
                    .bind(brand_id).bind(user_id).bind(role).execute(&mut *tx).await?,
                None => sqlx::query("DELETE FROM brand_members WHERE brand_id = $1 AND user_id = $2")
                    .bind(brand_id).bind(user_id).execute(&mut *tx).await?,
            };
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    // --------------------------------------------------------------------------- campaigns

    /// Creates a campaign in DRAFT.
    pub async fn create_campaign(
        &self,
        uuid: &str,
        brand_id: i64,
        f: &CampaignFields<'_>,
        created_by: i64,
        now: i64,
    ) -> Result<CampaignRecord, DbError> {
        let sql = format!(
            "INSERT INTO campaigns (uuid, brand_id, title, kind, brief, deliverable, budget_minor, currency, status, \
             apply_by, due_at, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'DRAFT', $9, $10, $11, $12, $12) RETURNING {CAMPAIGN_RETURNING}"
        );
        on_pool!(self, p => {
            let r = sqlx::query(&sql)
                .bind(uuid).bind(brand_id).bind(f.title).bind(f.kind).bind(f.brief).bind(f.deliverable)
                .bind(f.budget_minor).bind(f.currency).bind(f.apply_by).bind(f.due_at).bind(created_by).bind(now)
                .fetch_one(p).await.map_err(map_unique)?;
            Ok(campaign_from_row!(r))
        })
    }

    /// A campaign by its public id.
    pub async fn campaign_by_uuid(&self, uuid: &str) -> Result<Option<CampaignRecord>, DbError> {
        let sql = format!("SELECT {CAMPAIGN} FROM campaigns c WHERE c.uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(campaign_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A campaign by its id.
    pub async fn campaign_by_id(&self, id: i64) -> Result<Option<CampaignRecord>, DbError> {
        let sql = format!("SELECT {CAMPAIGN} FROM campaigns c WHERE c.id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(campaign_from_row!(r))),
            None => Ok(None),
        })
    }

    /// The brand's campaigns, newest first.
    pub async fn campaigns_of_brand(&self, brand_id: i64) -> Result<Vec<CampaignRecord>, DbError> {
        let sql = format!(
            "SELECT {CAMPAIGN} FROM campaigns c WHERE c.brand_id = $1 ORDER BY c.created_at DESC, c.id DESC"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(brand_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(campaign_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Replaces what a campaign says; `false` if there is none.
    pub async fn update_campaign(
        &self,
        id: i64,
        f: &CampaignFields<'_>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE campaigns SET title = $2, kind = $3, brief = $4, deliverable = $5, budget_minor = $6, currency = $7, \
             apply_by = $8, due_at = $9, updated_at = $10 WHERE id = $1",
        )
        .bind(id).bind(f.title).bind(f.kind).bind(f.brief).bind(f.deliverable).bind(f.budget_minor)
        .bind(f.currency).bind(f.apply_by).bind(f.due_at).bind(now)
        .execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Moves a campaign from `from` to `to` (a move the lifecycle allows, checked by the
    /// caller), keeping to `active_max` active campaigns per brand when it leaves DRAFT and
    /// refusing a return to DRAFT once a creator is accepted.
    pub async fn set_campaign_status(
        &self,
        id: i64,
        from: &str,
        to: &str,
        active_max: Option<i64>,
        now: i64,
    ) -> Result<Result<CampaignRecord, StatusRefusal>, DbError> {
        let sql = format!(
            "UPDATE campaigns SET status = $3, updated_at = $4, \
             published_at = CASE WHEN $3 = 'PUBLISHED' AND published_at IS NULL THEN $4 ELSE published_at END \
             WHERE id = $1 AND status = $2 RETURNING {CAMPAIGN_RETURNING}"
        );
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // A write first: SQLite takes its write lock here (a transaction that read first
            // cannot take it once another connection has written: "database is locked" at once).
            sqlx::query("UPDATE campaigns SET updated_at = updated_at WHERE id = $1")
                .bind(id).execute(&mut *tx).await?;
            let brand_id: Option<i64> = sqlx::query_scalar("SELECT brand_id FROM campaigns WHERE id = $1")
                .bind(id).fetch_optional(&mut *tx).await?;
            let Some(brand_id) = brand_id else {
                tx.rollback().await?;
                return Ok(Err(StatusRefusal::Moved("gone".into())));
            };
            // Serialises the brand's campaign changes.
            sqlx::query("UPDATE brands SET updated_at = updated_at WHERE id = $1")
                .bind(brand_id).execute(&mut *tx).await?;
            if from == "DRAFT" && to == "PUBLISHED" {
                if let Some(max) = active_max {
                    let active: i64 = sqlx::query_scalar(&format!(
                        "SELECT COUNT(*) FROM campaigns WHERE brand_id = $1 AND status IN {ACTIVE}"
                    )).bind(brand_id).fetch_one(&mut *tx).await?;
                    if active >= max {
                        tx.rollback().await?;
                        return Ok(Err(StatusRefusal::ActiveLimit(max)));
                    }
                }
            }
            if to == "DRAFT" {
                let accepted: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM campaign_applications WHERE campaign_id = $1 AND status = 'accepted'",
                ).bind(id).fetch_one(&mut *tx).await?;
                if accepted > 0 {
                    tx.rollback().await?;
                    return Ok(Err(StatusRefusal::HasAccepted));
                }
            }
            let row = sqlx::query(&sql).bind(id).bind(from).bind(to).bind(now).fetch_optional(&mut *tx).await?;
            match row {
                Some(r) => {
                    let c = campaign_from_row!(r);
                    tx.commit().await?;
                    Ok(Ok(c))
                }
                None => {
                    let now_status: Option<String> = sqlx::query_scalar("SELECT status FROM campaigns WHERE id = $1")
                        .bind(id).fetch_optional(&mut *tx).await?;
                    tx.rollback().await?;
                    Ok(Err(StatusRefusal::Moved(now_status.unwrap_or_default())))
                }
            }
        })
    }

    /// Campaigns open to creators (PUBLISHED or ACTIVE, applications not closed at `now`),
    /// newest first: matching `query` in the title, brief or brand name, of `kind` and asking
    /// for `deliverable` when given.
    pub async fn discover_campaigns(
        &self,
        query: Option<&str>,
        kind: Option<&str>,
        deliverable: Option<&str>,
        now: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ListedCampaign>, DbError> {
        let sql = format!(
            "SELECT {CAMPAIGN}, b.name AS brand_name, b.uuid AS brand_uuid FROM campaigns c JOIN brands b ON b.id = c.brand_id \
             WHERE c.status IN ('PUBLISHED', 'ACTIVE') AND (c.apply_by IS NULL OR c.apply_by > $1) \
             AND ($2 IS NULL OR lower(c.title) LIKE $2 ESCAPE '\\' OR lower(c.brief) LIKE $2 ESCAPE '\\' OR lower(b.name) LIKE $2 ESCAPE '\\') \
             AND ($3 IS NULL OR c.kind = $3) AND ($4 IS NULL OR c.deliverable = $4) \
             ORDER BY c.published_at DESC, c.id DESC LIMIT $5 OFFSET $6"
        );
        let pattern = query.map(like_pattern);
        on_pool!(self, p => {
            let rows = sqlx::query(&sql)
                .bind(now).bind(pattern.as_deref()).bind(kind).bind(deliverable)
                .bind(limit.clamp(0, 100)).bind(offset.max(0))
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(ListedCampaign {
                    campaign: campaign_from_row!(r),
                    brand_name: r.try_get("brand_name")?,
                    brand_uuid: r.try_get("brand_uuid")?,
                });
            }
            Ok(out)
        })
    }

    // -------------------------------------------------------------------------- milestones

    /// Adds a milestone.
    pub async fn add_milestone(
        &self,
        campaign_id: i64,
        title: &str,
        due_at: i64,
        now: i64,
    ) -> Result<MilestoneRecord, DbError> {
        let id: i64 = on_pool!(self, p => sqlx::query_scalar(
            "INSERT INTO campaign_milestones (campaign_id, title, due_at, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        ).bind(campaign_id).bind(title).bind(due_at).bind(now).fetch_one(p).await?);
        Ok(MilestoneRecord {
            id,
            campaign_id,
            title: title.to_string(),
            due_at,
            reminded_at: None,
            done_at: None,
        })
    }

    /// A campaign's milestones, the soonest first.
    pub async fn milestones(&self, campaign_id: i64) -> Result<Vec<MilestoneRecord>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, campaign_id, title, due_at, reminded_at, done_at FROM campaign_milestones \
                 WHERE campaign_id = $1 ORDER BY due_at, id",
            ).bind(campaign_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(MilestoneRecord {
                    id: r.try_get("id")?,
                    campaign_id: r.try_get("campaign_id")?,
                    title: r.try_get("title")?,
                    due_at: r.try_get("due_at")?,
                    reminded_at: r.try_get("reminded_at")?,
                    done_at: r.try_get("done_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Ticks a milestone off (`Some(now)`) or opens it again (`None`); `false` if the
    /// campaign has no such milestone.
    pub async fn set_milestone_done(
        &self,
        campaign_id: i64,
        id: i64,
        done_at: Option<i64>,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE campaign_milestones SET done_at = $3 WHERE campaign_id = $1 AND id = $2",
        ).bind(campaign_id).bind(id).bind(done_at).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Milestones not done, due within `ahead_ms` of `now` and not yet reminded, of campaigns
    /// under way (ACTIVE or IN_PROGRESS): each is marked reminded and returned, at most
    /// `limit`, the soonest first (the reminder job sends them; a crash between costs one
    /// reminder, never two).
    pub async fn take_due_milestones(
        &self,
        now: i64,
        ahead_ms: i64,
        limit: i64,
    ) -> Result<Vec<MilestoneRecord>, DbError> {
        // One statement: marked and returned at once, so two nodes never take the same one.
        let sql =
            "UPDATE campaign_milestones SET reminded_at = $1 WHERE reminded_at IS NULL AND id IN (\
                   SELECT m.id FROM campaign_milestones m JOIN campaigns c ON c.id = m.campaign_id \
                   WHERE m.done_at IS NULL AND m.reminded_at IS NULL AND m.due_at <= $2 \
                   AND c.status IN ('ACTIVE', 'IN_PROGRESS') ORDER BY m.due_at, m.id LIMIT $3) \
                   RETURNING id, campaign_id, title, due_at, reminded_at, done_at";
        on_pool!(self, p => {
            let rows = sqlx::query(sql)
                .bind(now).bind(now.saturating_add(ahead_ms)).bind(limit.clamp(0, 500))
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(MilestoneRecord {
                    id: r.try_get("id")?,
                    campaign_id: r.try_get("campaign_id")?,
                    title: r.try_get("title")?,
                    due_at: r.try_get("due_at")?,
                    reminded_at: r.try_get("reminded_at")?,
                    done_at: r.try_get("done_at")?,
                });
            }
            out.sort_by_key(|m| (m.due_at, m.id));
            Ok(out)
        })
    }

    // ------------------------------------------------------------------------ applications

    /// A creator applies (`invited` false: status `applied`) or is invited by the brand
    /// (`invited`: status `invited`, no pitch yet). A second one for the same creator and
    /// campaign is [`DbError::Conflict`].
    #[allow(clippy::too_many_arguments)]
    pub async fn create_application(
        &self,
        uuid: &str,
        campaign_id: i64,
        creator_id: i64,
        pitch: &str,
        rate_minor: i64,
        invited: bool,
        now: i64,
    ) -> Result<ApplicationRecord, DbError> {
        let status = if invited { "invited" } else { "applied" };
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO campaign_applications (uuid, campaign_id, creator_id, pitch, rate_minor, status, invited, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            ).bind(uuid).bind(campaign_id).bind(creator_id).bind(pitch).bind(rate_minor).bind(status).bind(invited).bind(now)
                .execute(p).await.map_err(map_unique)?;
            Ok::<(), DbError>(())
        })?;
        self.application_by_uuid(uuid)
            .await?
            .ok_or_else(|| DbError::Invalid("the application vanished as it was made".into()))
    }

    /// An application by its public id.
    pub async fn application_by_uuid(
        &self,
        uuid: &str,
    ) -> Result<Option<ApplicationRecord>, DbError> {
        let sql = format!(
            "SELECT {APPLICATION} FROM campaign_applications a JOIN users u ON u.id = a.creator_id WHERE a.uuid = $1"
        );
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(application_from_row!(r))),
            None => Ok(None),
        })
    }

    /// `creator_id`'s application to (or invitation from) the campaign, if any.
    pub async fn application_of(
        &self,
        campaign_id: i64,
        creator_id: i64,
    ) -> Result<Option<ApplicationRecord>, DbError> {
        let sql = format!(
            "SELECT {APPLICATION} FROM campaign_applications a JOIN users u ON u.id = a.creator_id \
             WHERE a.campaign_id = $1 AND a.creator_id = $2"
        );
        on_pool!(self, p => match sqlx::query(&sql).bind(campaign_id).bind(creator_id).fetch_optional(p).await? {
            Some(r) => Ok(Some(application_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A campaign's applications: accepted, shortlisted, applied, invited, then the rest;
    /// oldest first within each.
    pub async fn applications_of_campaign(
        &self,
        campaign_id: i64,
    ) -> Result<Vec<ApplicationRecord>, DbError> {
        let sql = format!(
            "SELECT {APPLICATION} FROM campaign_applications a JOIN users u ON u.id = a.creator_id \
             WHERE a.campaign_id = $1 ORDER BY CASE a.status WHEN 'accepted' THEN 0 WHEN 'shortlisted' THEN 1 \
             WHEN 'applied' THEN 2 WHEN 'invited' THEN 3 ELSE 4 END, a.created_at, a.id"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(campaign_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(application_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A creator's applications and invitations with their campaigns and brands (public id,
    /// name), the latest change first.
    pub async fn applications_of_creator(
        &self,
        creator_id: i64,
    ) -> Result<Vec<(ApplicationRecord, CampaignRecord, (String, String))>, DbError> {
        let sql = format!(
            "SELECT {APPLICATION}, b.uuid AS brand_uuid, b.name AS brand_name, c.id AS c_id, c.uuid AS c_uuid, c.brand_id, c.title, c.kind, c.brief, \
             c.deliverable, c.budget_minor, c.currency, c.status AS c_status, c.apply_by, c.due_at, c.created_by, c.published_at, \
             c.created_at AS c_created_at, c.updated_at AS c_updated_at \
             FROM campaign_applications a JOIN users u ON u.id = a.creator_id JOIN campaigns c ON c.id = a.campaign_id \
             JOIN brands b ON b.id = c.brand_id WHERE a.creator_id = $1 ORDER BY a.updated_at DESC, a.id DESC LIMIT 500"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(creator_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let campaign = CampaignRecord {
                    id: r.try_get("c_id")?,
                    uuid: r.try_get("c_uuid")?,
                    brand_id: r.try_get("brand_id")?,
                    title: r.try_get("title")?,
                    kind: r.try_get("kind")?,
                    brief: r.try_get("brief")?,
                    deliverable: r.try_get("deliverable")?,
                    budget_minor: r.try_get("budget_minor")?,
                    currency: r.try_get("currency")?,
                    status: r.try_get("c_status")?,
                    apply_by: r.try_get("apply_by")?,
                    due_at: r.try_get("due_at")?,
                    created_by: r.try_get("created_by")?,
                    published_at: r.try_get("published_at")?,
                    created_at: r.try_get("c_created_at")?,
                    updated_at: r.try_get("c_updated_at")?,
                };
                let brand = (r.try_get("brand_uuid")?, r.try_get("brand_name")?);
                out.push((application_from_row!(r), campaign, brand));
            }
            Ok(out)
        })
    }

    /// Moves an application from `from` to `to` (a move its side may make, checked by the
    /// caller). Accepting keeps to `creators_max` accepted creators and to the campaign's
    /// budget (the accepted rates together), and makes a PUBLISHED campaign ACTIVE; answering
    /// an invitation with `applied` sets the pitch and rate. Only a campaign that is
    /// PUBLISHED, ACTIVE or IN_PROGRESS takes any move but a withdrawal.
    pub async fn set_application_status(
        &self,
        id: i64,
        from: &str,
        to: &str,
        pitch_rate: Option<(&str, i64)>,
        creators_max: Option<i64>,
        now: i64,
    ) -> Result<Result<(), ApplicationRefusal>, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // A write first (SQLite's write lock; see `set_campaign_status`).
            sqlx::query("UPDATE campaign_applications SET updated_at = updated_at WHERE id = $1")
                .bind(id).execute(&mut *tx).await?;
            let row = sqlx::query(
                "SELECT a.campaign_id, a.rate_minor, c.status, c.budget_minor FROM campaign_applications a \
                 JOIN campaigns c ON c.id = a.campaign_id WHERE a.id = $1",
            ).bind(id).fetch_optional(&mut *tx).await?;
            let Some(r) = row else {
                tx.rollback().await?;
                return Ok(Err(ApplicationRefusal::Moved("gone".into())));
            };
            let campaign_id: i64 = r.try_get("campaign_id")?;
            let rate: i64 = r.try_get("rate_minor")?;
            let campaign_status: String = r.try_get("status")?;
            let budget: i64 = r.try_get("budget_minor")?;
            // Serialises the campaign's decisions (row lock or SQLite's write lock).
            sqlx::query("UPDATE campaigns SET updated_at = updated_at WHERE id = $1")
                .bind(campaign_id).execute(&mut *tx).await?;
            if to != "withdrawn" && !matches!(campaign_status.as_str(), "PUBLISHED" | "ACTIVE" | "IN_PROGRESS") {
                tx.rollback().await?;
                return Ok(Err(ApplicationRefusal::Closed(campaign_status)));
            }
            if to == "accepted" {
                let (accepted, committed): (i64, i64) = {
                    let r = sqlx::query(
                        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(rate_minor), 0) AS BIGINT) AS total FROM campaign_applications \
                         WHERE campaign_id = $1 AND status = 'accepted'",
                    ).bind(campaign_id).fetch_one(&mut *tx).await?;
                    (r.try_get("n")?, r.try_get("total")?)
                };
                if creators_max.is_some_and(|max| accepted >= max) {
                    tx.rollback().await?;
                    return Ok(Err(ApplicationRefusal::CreatorLimit(creators_max.unwrap_or(0))));
                }
                if committed.saturating_add(rate) > budget {
                    tx.rollback().await?;
                    return Ok(Err(ApplicationRefusal::OverBudget(budget - committed)));
                }
            }
            let (pitch, new_rate) = match pitch_rate {
                Some((pitch, rate)) => (Some(pitch), Some(rate)),
                None => (None, None),
            };
            let n = sqlx::query(
                "UPDATE campaign_applications SET status = $3, pitch = COALESCE($4, pitch), rate_minor = COALESCE($5, rate_minor), \
                 updated_at = $6 WHERE id = $1 AND status = $2",
            ).bind(id).bind(from).bind(to).bind(pitch).bind(new_rate).bind(now).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                let current: Option<String> = sqlx::query_scalar("SELECT status FROM campaign_applications WHERE id = $1")
                    .bind(id).fetch_optional(&mut *tx).await?;
                tx.rollback().await?;
                return Ok(Err(ApplicationRefusal::Moved(current.unwrap_or_default())));
            }
            if to == "accepted" && campaign_status == "PUBLISHED" {
                sqlx::query("UPDATE campaigns SET status = 'ACTIVE', updated_at = $2 WHERE id = $1 AND status = 'PUBLISHED'")
                    .bind(campaign_id).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(Ok(()))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(super::like_pattern("Summer Glow"), "%summer glow%");
        assert_eq!(super::like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
