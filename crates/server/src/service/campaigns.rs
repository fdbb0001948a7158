//! Brands and their campaigns (issue 24, SPEC §2.10): a brand's members and invitations, its
//! tier's limits, campaigns through their lifecycle with milestones, and creators'
//! applications and the brand's invitations and decisions.
//!
//! Who may do what:
//! - a user with the `brand` role (or an admin) creates a brand and becomes its owner;
//! - owners manage members, invitations and the profile; managers also write campaigns and
//!   decide on applications; viewers read;
//! - creators (the `creator` role, or an admin) apply, answer invitations and withdraw.
//!
//! Every check that involves counting (seats, active campaigns, accepted creators, the budget)
//! is made by the database in the same transaction as the write (`ferrocast_db::campaigns`).

use crate::service::clock::SharedClock;
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::campaigns::{
    ApplicationRecord, ApplicationRefusal, BrandRecord, CampaignFields, CampaignRecord,
    MemberRefusal, StatusRefusal,
};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::account::Role;
use ferrocast_domain::brand::{ApplicationStatus, BrandRole, BrandTier};
use ferrocast_domain::campaign::{CampaignStatus, CampaignType, DeliverableType};
use ferrocast_domain::currency::Currency;
use ferrocast_domain::mail::{Mail, Mailer};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// How long an invitation to join a brand stays open.
pub const INVITE_TTL_MS: i64 = 7 * 86_400_000;
/// The longest brand name.
pub const MAX_NAME: usize = 80;
/// The longest "about" and brief.
pub const MAX_TEXT: usize = 8000;
/// The longest campaign title and milestone title.
pub const MAX_TITLE: usize = 140;
/// The longest pitch.
pub const MAX_PITCH: usize = 4000;
/// The largest budget or rate (minor units): ten million in the currency.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000;
/// Milestones per campaign at most.
pub const MAX_MILESTONES: usize = 50;

/// Why a brand or campaign action did not happen; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The database failed.
    #[error(transparent)]
    Db(DbError),
    /// A field is not acceptable (the sentence names it).
    #[error("{0}")]
    Invalid(String),
    /// No such brand, campaign, application or invitation that the caller may see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may not do this (the sentence says who may).
    #[error("{0}")]
    Forbidden(String),
    /// The tier's limit is reached: what, in use, the limit.
    #[error("{0} limit reached")]
    Limit(&'static str, i64, i64),
    /// The state does not allow it (a code for clients and the sentence).
    #[error("{1}")]
    Conflict(&'static str, String),
}

impl From<DbError> for CampaignError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Invalid(m) => CampaignError::Invalid(m),
            e => CampaignError::Db(e),
        }
    }
}

type Result<T> = std::result::Result<T, CampaignError>;

/// A brand with the caller's role in it.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The brand.
    pub brand: BrandRecord,
    /// The caller's role.
    pub role: BrandRole,
}

/// A campaign as sent (create or replace).
#[derive(Debug, Clone)]
pub struct CampaignDraft {
    /// Title.
    pub title: String,
    /// Its type name.
    pub kind: String,
    /// The brief.
    pub brief: String,
    /// The deliverable's type name.
    pub deliverable: String,
    /// Budget (minor units).
    pub budget_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Applications close (ms).
    pub apply_by: Option<i64>,
    /// Deliverables due (ms).
    pub due_at: Option<i64>,
}

/// The brands service.
#[derive(Clone)]
pub struct Brands {
    pub(super) db: Db,
    pub(super) clock: SharedClock,
    mailer: Arc<dyn Mailer>,
    tiers: Arc<Vec<BrandTier>>,
    public_url: String,
    /// Derives each campaign's conversion-webhook secret.
    pub(super) conversion_key: [u8; 32],
}

fn sha256_hex(s: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(s.as_bytes()))
}

/// One line of text, trimmed, 1 to `max` characters, made safe to display.
pub(super) fn line(field: &str, raw: &str, max: usize) -> Result<String> {
    let s = ferrocast_domain::text::displayable(raw.trim());
    if s.is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(CampaignError::Invalid(format!(
            "{field}: 1 to {max} characters on one line"
        )));
    }
    Ok(s)
}

/// Text of up to `max` characters (line breaks kept), made safe to display; `min` at least.
pub(super) fn text(field: &str, raw: &str, min: usize, max: usize) -> Result<String> {
    let s = ferrocast_domain::text::displayable(raw.trim());
    let n = s.chars().count();
    if n < min || n > max || s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(CampaignError::Invalid(if min > 0 {
            format!("{field}: {min} to {max} characters")
        } else {
            format!("{field}: at most {max} characters")
        }));
    }
    Ok(s)
}

fn amount(field: &str, v: i64, min: i64) -> Result<i64> {
    if !(min..=MAX_AMOUNT_MINOR).contains(&v) {
        return Err(CampaignError::Invalid(format!(
            "{field}: a whole number of minor units (cents, paise) from {min} to {MAX_AMOUNT_MINOR}"
        )));
    }
    Ok(v)
}

/// An `https://` (or `http://`) URL of at most 300 characters.
fn website(raw: Option<&str>) -> Result<Option<String>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let ok = raw.len() <= 300
        && (raw.starts_with("https://") || raw.starts_with("http://"))
        && reqwest::Url::parse(raw).is_ok_and(|u| u.host_str().is_some());
    if !ok {
        return Err(CampaignError::Invalid(
            "website: an http:// or https:// address of at most 300 characters".into(),
        ));
    }
    Ok(Some(raw.to_string()))
}

impl Brands {
    /// The service over `db`, with the brand `tiers` (one of them the default).
    pub fn new(
        db: Db,
        clock: SharedClock,
        mailer: Arc<dyn Mailer>,
        tiers: Vec<BrandTier>,
        public_url: &str,
        master_key: &[u8; 32],
    ) -> Self {
        Self {
            db,
            clock,
            mailer,
            tiers: Arc::new(tiers),
            public_url: public_url.trim_end_matches('/').to_string(),
            conversion_key: ferrocast_auth::secretbox::derive_key(
                master_key,
                "campaign-conversion-hmac-sha256",
            ),
        }
    }

    /// The tiers.
    pub fn tiers(&self) -> &[BrandTier] {
        &self.tiers
    }

    /// The tier a brand is on: its own, or the default one if the plans file no longer has
    /// it.
    pub fn tier_of(&self, brand: &BrandRecord) -> BrandTier {
        self.tiers
            .iter()
            .find(|t| t.name == brand.tier)
            .or_else(|| self.tiers.iter().find(|t| t.is_default))
            .or(self.tiers.first())
            .cloned()
            .unwrap_or_else(|| ferrocast_domain::brand::default_brand_tiers().remove(0))
    }

    pub(super) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    // -------------------------------------------------------------------------- brands

    /// Creates a brand owned by `user`, who must have the brand role (or be an admin).
    pub async fn create(
        &self,
        user: &UserRecord,
        name: &str,
        site: Option<&str>,
        about: &str,
    ) -> Result<BrandRecord> {
        let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
        if !role.satisfies(Role::Brand) {
            return Err(CampaignError::Forbidden(
                "Only brand accounts create brands: register one (role \"brand\") or ask an administrator.".into(),
            ));
        }
        let name = line("name", name, MAX_NAME)?;
        let site = website(site)?;
        let about = text("about", about, 0, MAX_TEXT)?;
        let tier = self
            .tiers
            .iter()
            .find(|t| t.is_default)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| "Free".into());
        let uuid = crate::service::videos::new_video_id();
        Ok(self
            .db
            .create_brand(
                &uuid,
                &name,
                site.as_deref(),
                &about,
                &tier,
                user.id,
                self.now(),
            )
            .await?)
    }

    /// The brand `uuid` and `user`'s role in it, if at least `needed`; a brand the user is not
    /// a member of is not found (admins see every brand, as owners).
    pub async fn membership(
        &self,
        user: &UserRecord,
        uuid: &str,
        needed: BrandRole,
    ) -> Result<Membership> {
        let brand = self
            .db
            .brand_by_uuid(uuid)
            .await?
            .ok_or(CampaignError::NotFound("Brand"))?;
        self.membership_of(user, brand, needed).await
    }

    async fn membership_of(
        &self,
        user: &UserRecord,
        brand: BrandRecord,
        needed: BrandRole,
    ) -> Result<Membership> {
        let role = match self.db.brand_role(brand.id, user.id).await? {
            Some(r) => BrandRole::parse(&r).unwrap_or(BrandRole::Viewer),
            None if user.role == "admin" => BrandRole::Owner,
            None => return Err(CampaignError::NotFound("Brand")),
        };
        if !role.can(needed) {
            return Err(CampaignError::Forbidden(format!(
                "This needs a brand {} or more; you are a {}. An owner can change your role.",
                needed.as_str(),
                role.as_str()
            )));
        }
        Ok(Membership { brand, role })
    }

    /// Updates the brand's profile (owners).
    pub async fn update(
        &self,
        user: &UserRecord,
        uuid: &str,
        name: &str,
        site: Option<&str>,
        about: &str,
    ) -> Result<BrandRecord> {
        let m = self.membership(user, uuid, BrandRole::Owner).await?;
        let name = line("name", name, MAX_NAME)?;
        let site = website(site)?;
        let about = text("about", about, 0, MAX_TEXT)?;
        self.db
            .update_brand(m.brand.id, &name, site.as_deref(), &about, self.now())
            .await?;
        self.db
            .brand_by_id(m.brand.id)
            .await?
            .ok_or(CampaignError::NotFound("Brand"))
    }

    /// Invites `email` to the brand as `role` (owners), within the tier's seats; mails the
    /// link and returns it (for the owner to pass on when mail is not set up).
    pub async fn invite(
        &self,
        user: &UserRecord,
        uuid: &str,
        email: &str,
        role: &str,
    ) -> Result<(ferrocast_db::campaigns::InviteRecord, String)> {
        let m = self.membership(user, uuid, BrandRole::Owner).await?;
        let email = email.trim().to_lowercase();
        if email.len() > 254 || !email.contains('@') || email.contains(char::is_whitespace) {
            return Err(CampaignError::Invalid("email: an email address".into()));
        }
        let role = BrandRole::parse(role).map_err(CampaignError::Invalid)?;
        let token =
            crate::service::videos::new_video_id() + &crate::service::videos::new_video_id();
        let now = self.now();
        let tier = self.tier_of(&m.brand);
        let invite = match self
            .db
            .invite_to_brand(
                m.brand.id,
                &email,
                role.as_str(),
                &sha256_hex(&token),
                user.id,
                now,
                now + INVITE_TTL_MS,
                tier.seats,
            )
            .await
        {
            Ok(Ok(i)) => i,
            Ok(Err(used)) => {
                return Err(CampaignError::Limit(
                    "Seat",
                    used,
                    tier.seats.unwrap_or(used),
                ))
            }
            Err(DbError::Conflict) => {
                return Err(CampaignError::Conflict(
                    "ALREADY_MEMBER",
                    format!("{email} is already a member of {}.", m.brand.name),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let link = format!("{}/brands/join?token={token}", self.public_url);
        let mail = Mail {
            to: email.clone(),
            subject: format!("Join {} on ferrocast", m.brand.name),
            body: format!(
                "{} invited you to join the brand {} as a {}.\n\nSign in (or register) with this address and open:\n{link}\n\nThe link works for 7 days.\n",
                user.display_name,
                m.brand.name,
                role.as_str()
            ),
            headers: Vec::new(),
        };
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(mail).await {
                tracing::warn!(error = %e, "brand invitation mail failed");
            }
        });
        Ok((invite, link))
    }

    /// Takes up an invitation for `user` (whose email must be the invited one).
    pub async fn accept_invite(&self, user: &UserRecord, token: &str) -> Result<Membership> {
        let token = token.trim();
        if token.is_empty() || token.len() > 100 {
            return Err(CampaignError::NotFound("Invitation"));
        }
        let joined = self
            .db
            .accept_brand_invite(
                &sha256_hex(token),
                user.id,
                &user.email.to_lowercase(),
                self.now(),
            )
            .await?;
        let Some((brand_id, role)) = joined else {
            return Err(CampaignError::NotFound("Invitation"));
        };
        let brand = self
            .db
            .brand_by_id(brand_id)
            .await?
            .ok_or(CampaignError::NotFound("Brand"))?;
        Ok(Membership {
            brand,
            role: BrandRole::parse(&role).unwrap_or(BrandRole::Viewer),
        })
    }

    /// Changes a member's role or removes them (owners; anyone may remove themselves).
    pub async fn change_member(
        &self,
        user: &UserRecord,
        uuid: &str,
        member: i64,
        role: Option<&str>,
    ) -> Result<()> {
        let needed = if role.is_none() && member == user.id {
            BrandRole::Viewer
        } else {
            BrandRole::Owner
        };
        let m = self.membership(user, uuid, needed).await?;
        let role = role
            .map(|r| BrandRole::parse(r).map_err(CampaignError::Invalid))
            .transpose()?;
        match self
            .db
            .change_brand_member(m.brand.id, member, role.map(BrandRole::as_str))
            .await?
        {
            Ok(()) => Ok(()),
            Err(MemberRefusal::NotMember) => Err(CampaignError::NotFound("Member")),
            Err(MemberRefusal::LastOwner) => Err(CampaignError::Conflict(
                "LAST_OWNER",
                "A brand keeps at least one owner: make someone else an owner first.".into(),
            )),
        }
    }

    // ----------------------------------------------------------------------- campaigns

    fn fields(&self, d: &CampaignDraft, now: i64) -> Result<(String, String, FieldsOwned)> {
        let title = line("title", &d.title, MAX_TITLE)?;
        let brief = text("brief", &d.brief, 10, MAX_TEXT)?;
        let kind = CampaignType::parse(&d.kind).map_err(CampaignError::Invalid)?;
        let deliverable = DeliverableType::parse(&d.deliverable).map_err(CampaignError::Invalid)?;
        let currency = Currency::parse(&d.currency)
            .ok_or_else(|| CampaignError::Invalid("currency: USD or INR".into()))?;
        let budget = amount("budget_minor", d.budget_minor, 100)?;
        for (field, t) in [("apply_by", d.apply_by), ("due_at", d.due_at)] {
            if t.is_some_and(|t| t <= now || t > now + 2 * 365 * 86_400_000) {
                return Err(CampaignError::Invalid(format!(
                    "{field}: a time to come, within two years"
                )));
            }
        }
        if let (Some(a), Some(due)) = (d.apply_by, d.due_at) {
            if a > due {
                return Err(CampaignError::Invalid(
                    "apply_by: applications must close before the deliverables are due".into(),
                ));
            }
        }
        Ok((
            title,
            brief,
            FieldsOwned {
                kind: kind.as_str(),
                deliverable: deliverable.as_str(),
                currency: currency.code(),
                budget,
                apply_by: d.apply_by,
                due_at: d.due_at,
            },
        ))
    }

    /// Writes a new campaign in DRAFT (managers).
    pub async fn create_campaign(
        &self,
        user: &UserRecord,
        brand_uuid: &str,
        d: &CampaignDraft,
    ) -> Result<CampaignRecord> {
        let m = self
            .membership(user, brand_uuid, BrandRole::Manager)
            .await?;
        let now = self.now();
        let (title, brief, f) = self.fields(d, now)?;
        let uuid = crate::service::videos::new_video_id();
        Ok(self
            .db
            .create_campaign(&uuid, m.brand.id, &f.with(&title, &brief), user.id, now)
            .await?)
    }

    /// The campaign `uuid` and its brand.
    async fn campaign_and_brand(&self, uuid: &str) -> Result<(CampaignRecord, BrandRecord)> {
        let c = self
            .db
            .campaign_by_uuid(uuid)
            .await?
            .ok_or(CampaignError::NotFound("Campaign"))?;
        let brand = self
            .db
            .brand_by_id(c.brand_id)
            .await?
            .ok_or(CampaignError::NotFound("Campaign"))?;
        Ok((c, brand))
    }

    /// The campaign `uuid` as `user` may see it: a brand member sees every status (with
    /// their role), anyone else only a campaign that is or was open (past DRAFT).
    pub async fn campaign_for(
        &self,
        user: Option<&UserRecord>,
        uuid: &str,
    ) -> Result<(CampaignRecord, BrandRecord, Option<BrandRole>)> {
        let (c, brand) = self.campaign_and_brand(uuid).await?;
        let role = match user {
            Some(u) => match self.db.brand_role(brand.id, u.id).await? {
                Some(r) => BrandRole::parse(&r).ok(),
                None if u.role == "admin" => Some(BrandRole::Owner),
                None => None,
            },
            None => None,
        };
        if role.is_none() && c.status == CampaignStatus::Draft.as_str() {
            return Err(CampaignError::NotFound("Campaign"));
        }
        Ok((c, brand, role))
    }

    /// The campaign `uuid` if `user` is at least `needed` in its brand.
    pub async fn campaign_as(
        &self,
        user: &UserRecord,
        uuid: &str,
        needed: BrandRole,
    ) -> Result<(CampaignRecord, Membership)> {
        let (c, brand) = self.campaign_and_brand(uuid).await?;
        let m = self
            .membership_of(user, brand, needed)
            .await
            .map_err(|e| match e {
                CampaignError::NotFound(_) => CampaignError::NotFound("Campaign"),
                e => e,
            })?;
        Ok((c, m))
    }

    /// Replaces what a campaign says (managers), while it is DRAFT or PUBLISHED; the budget
    /// cannot drop below what accepted creators are owed.
    pub async fn update_campaign(
        &self,
        user: &UserRecord,
        uuid: &str,
        d: &CampaignDraft,
    ) -> Result<CampaignRecord> {
        let (c, _) = self.campaign_as(user, uuid, BrandRole::Manager).await?;
        if !matches!(c.status.as_str(), "DRAFT" | "PUBLISHED") {
            return Err(CampaignError::Conflict(
                "CAMPAIGN_LOCKED",
                format!(
                    "A {} campaign cannot be edited: its creators are working to what it said.",
                    c.status
                ),
            ));
        }
        let now = self.now();
        let (title, brief, f) = self.fields(d, now)?;
        if f.currency != c.currency && c.status != "DRAFT" {
            return Err(CampaignError::Invalid(
                "currency: a published campaign keeps its currency (creators applied with rates in it)".into(),
            ));
        }
        self.db
            .update_campaign(c.id, &f.with(&title, &brief), now)
            .await?;
        self.db
            .campaign_by_id(c.id)
            .await?
            .ok_or(CampaignError::NotFound("Campaign"))
    }

    /// Moves a campaign to `to` (managers): only along the lifecycle, within the tier's
    /// active campaigns, and back to DRAFT only while nobody is accepted.
    pub async fn set_status(
        &self,
        user: &UserRecord,
        uuid: &str,
        to: &str,
    ) -> Result<CampaignRecord> {
        let (c, m) = self.campaign_as(user, uuid, BrandRole::Manager).await?;
        let to = CampaignStatus::parse(to).map_err(CampaignError::Invalid)?;
        let from = CampaignStatus::parse(&c.status).map_err(CampaignError::Invalid)?;
        from.transition(to).map_err(|e| {
            CampaignError::Conflict("CAMPAIGN_TRANSITION", {
                let mut s = e.to_string();
                if let Some(first) = s.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                s + "."
            })
        })?;
        let tier = self.tier_of(&m.brand);
        match self
            .db
            .set_campaign_status(
                c.id,
                from.as_str(),
                to.as_str(),
                tier.active_campaigns,
                self.now(),
            )
            .await?
        {
            Ok(c) => Ok(c),
            Err(StatusRefusal::ActiveLimit(max)) => {
                Err(CampaignError::Limit("Active campaign", max, max))
            }
            Err(StatusRefusal::HasAccepted) => Err(CampaignError::Conflict(
                "CAMPAIGN_TRANSITION",
                "Creators are accepted: the campaign cannot go back to DRAFT. Cancel it instead."
                    .into(),
            )),
            Err(StatusRefusal::Moved(now)) => Err(CampaignError::Conflict(
                "CAMPAIGN_CHANGED",
                format!("The campaign changed meanwhile (it is {now}); reload it."),
            )),
        }
    }

    /// Adds a milestone (managers).
    pub async fn add_milestone(
        &self,
        user: &UserRecord,
        uuid: &str,
        title: &str,
        due_at: i64,
    ) -> Result<ferrocast_db::campaigns::MilestoneRecord> {
        let (c, _) = self.campaign_as(user, uuid, BrandRole::Manager).await?;
        if CampaignStatus::parse(&c.status).is_ok_and(CampaignStatus::is_final) {
            return Err(CampaignError::Conflict(
                "CAMPAIGN_LOCKED",
                format!("The campaign is {}: it takes no more milestones.", c.status),
            ));
        }
        let title = line("title", title, MAX_TITLE)?;
        let now = self.now();
        if due_at <= now || due_at > now + 2 * 365 * 86_400_000 {
            return Err(CampaignError::Invalid(
                "due_at: a time to come, within two years".into(),
            ));
        }
        if self.db.milestones(c.id).await?.len() >= MAX_MILESTONES {
            return Err(CampaignError::Limit(
                "Milestone",
                MAX_MILESTONES as i64,
                MAX_MILESTONES as i64,
            ));
        }
        Ok(self.db.add_milestone(c.id, &title, due_at, now).await?)
    }

    /// Ticks a milestone off or opens it again (managers).
    pub async fn set_milestone_done(
        &self,
        user: &UserRecord,
        uuid: &str,
        milestone: i64,
        done: bool,
    ) -> Result<()> {
        let (c, _) = self.campaign_as(user, uuid, BrandRole::Manager).await?;
        let at = done.then(|| self.now());
        if !self.db.set_milestone_done(c.id, milestone, at).await? {
            return Err(CampaignError::NotFound("Milestone"));
        }
        Ok(())
    }

    // -------------------------------------------------------------------- applications

    fn creator_only(user: &UserRecord) -> Result<()> {
        let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
        if !role.satisfies(Role::Creator) {
            return Err(CampaignError::Forbidden(
                "Only creator accounts apply to campaigns.".into(),
            ));
        }
        Ok(())
    }

    /// A creator applies to an open campaign with a pitch and a rate (in its currency); an
    /// invitation they had is answered so.
    pub async fn apply(
        &self,
        user: &UserRecord,
        uuid: &str,
        pitch: &str,
        rate_minor: i64,
    ) -> Result<ApplicationRecord> {
        Self::creator_only(user)?;
        let (c, _, role) = self.campaign_for(Some(user), uuid).await?;
        if role.is_some() {
            return Err(CampaignError::Forbidden(
                "Members of the brand do not apply to its own campaigns.".into(),
            ));
        }
        let pitch = text("pitch", pitch, 10, MAX_PITCH)?;
        let rate = amount("rate_minor", rate_minor, 100)?;
        let now = self.now();
        if !matches!(c.status.as_str(), "PUBLISHED" | "ACTIVE")
            || c.apply_by.is_some_and(|t| t <= now)
        {
            return Err(CampaignError::Conflict(
                "APPLICATIONS_CLOSED",
                "This campaign no longer takes applications.".into(),
            ));
        }
        if rate > c.budget_minor {
            return Err(CampaignError::Invalid(format!(
                "rate_minor: at most the campaign's budget ({} minor units of {})",
                c.budget_minor, c.currency
            )));
        }
        // An invitation is answered by applying.
        if let Some(a) = self.db.application_of(c.id, user.id).await? {
            if a.status != ApplicationStatus::Invited.as_str() {
                return Err(CampaignError::Conflict(
                    "ALREADY_APPLIED",
                    format!("You applied to this campaign already (it is {}).", a.status),
                ));
            }
            return self
                .respond_to(&a, ApplicationStatus::Applied, Some((&pitch, rate)))
                .await;
        }
        let id = crate::service::videos::new_video_id();
        match self
            .db
            .create_application(&id, c.id, user.id, &pitch, rate, false, now)
            .await
        {
            Ok(a) => Ok(a),
            Err(DbError::Conflict) => Err(CampaignError::Conflict(
                "ALREADY_APPLIED",
                "You applied to this campaign already.".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The brand invites a creator (by handle) to apply (managers).
    pub async fn invite_creator(
        &self,
        user: &UserRecord,
        uuid: &str,
        handle: &str,
    ) -> Result<ApplicationRecord> {
        let (c, _) = self.campaign_as(user, uuid, BrandRole::Manager).await?;
        if !matches!(c.status.as_str(), "PUBLISHED" | "ACTIVE") {
            return Err(CampaignError::Conflict(
                "APPLICATIONS_CLOSED",
                "Publish the campaign before inviting creators.".into(),
            ));
        }
        let creator = self
            .db
            .user_by_handle(handle.trim().trim_start_matches('@'))
            .await?
            .filter(|u| Role::parse(&u.role).is_some_and(|r| r.satisfies(Role::Creator)))
            .ok_or(CampaignError::NotFound("Creator"))?;
        let id = crate::service::videos::new_video_id();
        match self
            .db
            .create_application(&id, c.id, creator.id, "", 0, true, self.now())
            .await
        {
            Ok(a) => Ok(a),
            Err(DbError::Conflict) => Err(CampaignError::Conflict(
                "ALREADY_APPLIED",
                format!("@{} applied or was invited already.", creator.handle),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The applications of a campaign (viewers).
    pub async fn applications(
        &self,
        user: &UserRecord,
        uuid: &str,
    ) -> Result<(CampaignRecord, Vec<ApplicationRecord>)> {
        let (c, _) = self.campaign_as(user, uuid, BrandRole::Viewer).await?;
        let list = self.db.applications_of_campaign(c.id).await?;
        Ok((c, list))
    }

    /// The brand decides on an application (managers): shortlist, accept or decline.
    pub async fn decide(
        &self,
        user: &UserRecord,
        application: &str,
        to: &str,
    ) -> Result<ApplicationRecord> {
        let a = self
            .db
            .application_by_uuid(application)
            .await?
            .ok_or(CampaignError::NotFound("Application"))?;
        let c = self
            .db
            .campaign_by_id(a.campaign_id)
            .await?
            .ok_or(CampaignError::NotFound("Application"))?;
        let (_, m) = self
            .campaign_as(user, &c.uuid, BrandRole::Manager)
            .await
            .map_err(|e| match e {
                CampaignError::NotFound(_) => CampaignError::NotFound("Application"),
                e => e,
            })?;
        let to = ApplicationStatus::parse(to).map_err(CampaignError::Invalid)?;
        let from = ApplicationStatus::parse(&a.status).map_err(CampaignError::Invalid)?;
        if !from.brand_may(to) {
            return Err(CampaignError::Conflict(
                "APPLICATION_TRANSITION",
                format!(
                    "An application that is {} cannot be {} by the brand{}.",
                    from.as_str(),
                    to.as_str(),
                    if from == ApplicationStatus::Invited {
                        ": the creator has not answered the invitation yet"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let tier = self.tier_of(&m.brand);
        self.move_application(&a, &c, from, to, None, tier.creators_per_campaign)
            .await
    }

    /// The creator answers an invitation (`applied` with a pitch and rate, or `declined`) or
    /// withdraws an application.
    pub async fn respond(
        &self,
        user: &UserRecord,
        application: &str,
        to: &str,
        pitch_rate: Option<(&str, i64)>,
    ) -> Result<ApplicationRecord> {
        let a = self
            .db
            .application_by_uuid(application)
            .await?
            .filter(|a| a.creator_id == user.id)
            .ok_or(CampaignError::NotFound("Application"))?;
        let to = ApplicationStatus::parse(to).map_err(CampaignError::Invalid)?;
        let pitch_rate = match (to, pitch_rate) {
            (ApplicationStatus::Applied, Some((p, r))) => Some((
                text("pitch", p, 10, MAX_PITCH)?,
                amount("rate_minor", r, 100)?,
            )),
            (ApplicationStatus::Applied, None) => {
                return Err(CampaignError::Invalid(
                    "pitch and rate_minor: accepting an invitation is applying, with a pitch and a rate".into(),
                ))
            }
            _ => None,
        };
        self.respond_to(&a, to, pitch_rate.as_ref().map(|(p, r)| (p.as_str(), *r)))
            .await
    }

    async fn respond_to(
        &self,
        a: &ApplicationRecord,
        to: ApplicationStatus,
        pitch_rate: Option<(&str, i64)>,
    ) -> Result<ApplicationRecord> {
        let from = ApplicationStatus::parse(&a.status).map_err(CampaignError::Invalid)?;
        if !from.creator_may(to) {
            return Err(CampaignError::Conflict(
                "APPLICATION_TRANSITION",
                format!(
                    "An application that is {} cannot be {} by its creator.",
                    from.as_str(),
                    to.as_str()
                ),
            ));
        }
        let c = self
            .db
            .campaign_by_id(a.campaign_id)
            .await?
            .ok_or(CampaignError::NotFound("Application"))?;
        if let Some((_, rate)) = pitch_rate {
            if rate > c.budget_minor {
                return Err(CampaignError::Invalid(format!(
                    "rate_minor: at most the campaign's budget ({} minor units of {})",
                    c.budget_minor, c.currency
                )));
            }
        }
        self.move_application(a, &c, from, to, pitch_rate, None)
            .await
    }

    async fn move_application(
        &self,
        a: &ApplicationRecord,
        c: &CampaignRecord,
        from: ApplicationStatus,
        to: ApplicationStatus,
        pitch_rate: Option<(&str, i64)>,
        creators_max: Option<i64>,
    ) -> Result<ApplicationRecord> {
        match self
            .db
            .set_application_status(
                a.id,
                from.as_str(),
                to.as_str(),
                pitch_rate,
                creators_max,
                self.now(),
            )
            .await?
        {
            Ok(()) => self
                .db
                .application_by_uuid(&a.uuid)
                .await?
                .ok_or(CampaignError::NotFound("Application")),
            Err(ApplicationRefusal::CreatorLimit(max)) => {
                Err(CampaignError::Limit("Creators per campaign", max, max))
            }
            Err(ApplicationRefusal::OverBudget(left)) => Err(CampaignError::Conflict(
                "OVER_BUDGET",
                format!(
                    "Accepting this rate ({} minor units) would exceed the budget: {} of {} are left. Raise the budget or accept a lower rate.",
                    a.rate_minor, left.max(0), c.currency
                ),
            )),
            Err(ApplicationRefusal::Closed(status)) => Err(CampaignError::Conflict(
                "APPLICATIONS_CLOSED",
                format!("The campaign is {status}: applications cannot change now."),
            )),
            Err(ApplicationRefusal::Moved(now)) => Err(CampaignError::Conflict(
                "APPLICATION_CHANGED",
                format!("The application changed meanwhile (it is {now}); reload it."),
            )),
        }
    }
}

/// Checked campaign fields, besides the title and brief.
struct FieldsOwned {
    kind: &'static str,
    deliverable: &'static str,
    currency: &'static str,
    budget: i64,
    apply_by: Option<i64>,
    due_at: Option<i64>,
}

impl FieldsOwned {
    fn with<'a>(&'a self, title: &'a str, brief: &'a str) -> CampaignFields<'a> {
        CampaignFields {
            title,
            kind: self.kind,
            brief,
            deliverable: self.deliverable,
            budget_minor: self.budget,
            currency: self.currency,
            apply_by: self.apply_by,
            due_at: self.due_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_with_sentences() {
        assert!(line("name", "  Acme  ", 80).is_ok_and(|s| s == "Acme"));
        assert!(line("name", "", 80).is_err());
        assert!(line("name", "a\nb", 80).is_err());
        assert!(text("brief", "short", 10, 100)
            .is_err_and(|e| e.to_string() == "brief: 10 to 100 characters"));
        assert!(text("brief", "line one\nline two", 10, 100).is_ok());
        assert!(website(Some("javascript:alert(1)")).is_err());
        assert!(website(Some("https://acme.example/shop")).is_ok_and(|w| w.is_some()));
        assert!(website(Some(" ")).is_ok_and(|w| w.is_none()));
        assert!(amount("budget_minor", 99, 100).is_err());
    }
}
