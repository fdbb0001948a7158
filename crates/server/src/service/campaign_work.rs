//! The work of a campaign (issue 24, SPEC §2.10): the brand's escrow, creators' deliverables
//! under review with their versions, usage rights with the creator's consent, product hotspots,
//! and attribution of the brand's conversions to the touchpoints before them.
//!
//! - **Escrow.** A manager pays the budget (what is not yet in escrow) through a gateway; the
//!   gateway's confirmation puts it in the ledger's `escrow:campaign:<id>`. Approving a
//!   creator's deliverable releases their accepted rate, less the platform's fee, to their
//!   balance (once per creator and campaign; refused while escrow holds less). Cancelling the
//!   campaign refunds what escrow still holds through the gateway.
//! - **Deliverables.** An accepted creator hands in a deliverable of a type (a video of theirs
//!   for `VIDEO`, `REEL` and `STORY`; text, a link or a video for the rest). The brand approves,
//!   asks for a revision (with a comment) or rejects; the creator hands in new versions, all
//!   kept, and may roll back to an earlier one while it is not decided. Approval needs the FTC
//!   disclosure where the type needs one.
//! - **Rights.** The brand proposes usage rights; they hold once the creator consents. The
//!   brand's embed of a deliverable plays only while they permit it (403 with the reason).
//! - **Attribution.** The embed's views and hotspot clicks are touchpoints of an opaque visitor
//!   id; the brand reports conversions for that id (a webhook signed with the campaign's
//!   secret, or a pixel with the same signature), and reports credit them under the four
//!   models of [`ferrocast_domain::attribution`].

use super::campaigns::{line, text, Brands, CampaignError};
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::billing::GatewayEvent;
use ferrocast_db::campaign_work::{
    ConversionRecord, Decision, DeliverableRecord, DeliverableRefusal, EscrowState, FundingApplied,
    FundingRecord, HotspotRecord, Release, VersionFields, VersionRecord,
};
use ferrocast_db::campaigns::CampaignRecord;
use ferrocast_domain::attribution::{self, Model};
use ferrocast_domain::brand::BrandRole;
use ferrocast_domain::campaign::{disclosure, DeliverableType, UsageRights};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type Result<T> = std::result::Result<T, CampaignError>;

/// The longest deliverable body (a post, an article).
pub const MAX_BODY: usize = 20_000;
/// The longest review comment or note.
pub const MAX_COMMENT: usize = 4000;
/// Hotspots per deliverable at most.
pub const MAX_HOTSPOTS: usize = 50;
/// The longest visitor id and order id.
pub const MAX_ID: usize = 64;
/// Conversions a report reads at most.
pub const REPORT_CONVERSIONS: i64 = 100_000;
/// How far from now a conversion's time may be (ms): a day ahead, a year back.
const CONVERSION_AHEAD_MS: i64 = 86_400_000;
const CONVERSION_BACK_MS: i64 = 365 * 86_400_000;

/// Who is looking at a deliverable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A member of the campaign's brand, with their role.
    Brand(BrandRole),
    /// The creator who handed it in.
    Creator,
}

/// What is handed in with a deliverable or a version of it.
#[derive(Debug, Clone, Default)]
pub struct Handed {
    /// Its type name (a new deliverable only).
    pub kind: String,
    /// Title (a new deliverable only).
    pub title: String,
    /// A video of the creator's: its public id.
    pub video: Option<String>,
    /// Text.
    pub body: String,
    /// A link.
    pub link: Option<String>,
    /// A note to the brand.
    pub note: String,
    /// The FTC disclosure.
    pub disclosure: Option<String>,
}

/// A deliverable with what is needed to show it.
#[derive(Debug, Clone)]
pub struct DeliverableFull {
    /// The deliverable.
    pub d: DeliverableRecord,
    /// Its versions, oldest first.
    pub versions: Vec<VersionRecord>,
    /// The public ids of the versions' videos (by version; `None` where there is none).
    pub videos: Vec<Option<ferrocast_db::videos::VideoRecord>>,
    /// What happened to it.
    pub events: Vec<ferrocast_db::campaign_work::DeliverableEvent>,
    /// Its hotspots.
    pub hotspots: Vec<HotspotRecord>,
}

/// One line of an attribution report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credited {
    /// The creator's handle, or the deliverable's public id.
    pub key: String,
    /// The creator's handle (for a deliverable's line too).
    pub creator: String,
    /// Conversions that credited it anything.
    pub conversions: i64,
    /// Touchpoints of converting visitors.
    pub touchpoints: i64,
    /// Value credited (minor units).
    pub credited_minor: i64,
}

/// An attribution report of a campaign.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The model's name.
    pub model: String,
    /// The campaign's currency (ISO 4217).
    pub currency: String,
    /// Conversions counted.
    pub conversions: i64,
    /// Their value together.
    pub value_minor: i64,
    /// Credited to no touchpoint (no eligible one).
    pub unattributed_minor: i64,
    /// By creator, most credited first.
    pub creators: Vec<Credited>,
    /// By deliverable, most credited first.
    pub deliverables: Vec<Credited>,
    /// Views and hotspot clicks recorded.
    pub views: i64,
    /// Hotspot clicks recorded.
    pub clicks: i64,
}

/// Whether the type is a video-first one (handed in as a video).
fn needs_video(kind: DeliverableType) -> bool {
    matches!(
        kind,
        DeliverableType::Video | DeliverableType::Reel | DeliverableType::Story
    )
}

/// An opaque id (visitor, order): 1 to 64 of `A-Z a-z 0-9 - _ . :`.
pub fn opaque_id(field: &str, raw: &str) -> Result<String> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_ID
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(CampaignError::Invalid(format!(
            "{field}: 1 to {MAX_ID} letters, digits, '-', '_', '.' or ':'"
        )))
    }
}

fn link(field: &str, raw: Option<&str>) -> Result<Option<String>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let ok = raw.len() <= 500
        && (raw.starts_with("https://") || raw.starts_with("http://"))
        && reqwest::Url::parse(raw).is_ok_and(|u| u.host_str().is_some());
    if ok {
        Ok(Some(raw.to_string()))
    } else {
        Err(CampaignError::Invalid(format!(
            "{field}: an http:// or https:// address of at most 500 characters"
        )))
    }
}

fn moved(r: DeliverableRefusal) -> CampaignError {
    match r {
        DeliverableRefusal::Moved(status, version) => CampaignError::Conflict(
            "DELIVERABLE_CHANGED",
            format!("The deliverable changed meanwhile (it is {status} at version {version}); reload it."),
        ),
        DeliverableRefusal::NoVersion => CampaignError::Invalid("version: no such version".into()),
        DeliverableRefusal::Unfunded(held) => CampaignError::Conflict(
            "ESCROW_SHORT",
            format!("Escrow holds {held} minor units, less than this creator's rate: fund the campaign's budget before approving."),
        ),
    }
}

/// The usage rights a deliverable records, if any were proposed.
pub fn rights_of(d: &DeliverableRecord) -> Option<UsageRights> {
    let kind = d.rights_kind.as_deref()?;
    let territories: Vec<String> = d
        .rights_territories
        .as_deref()
        .map(|t| {
            t.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some(match kind {
        "exclusive" => UsageRights::Exclusive {
            until_ms: d.rights_until,
        },
        "non_exclusive" => UsageRights::NonExclusive {
            until_ms: d.rights_until,
        },
        "limited" => UsageRights::Limited {
            until_ms: d.rights_until.unwrap_or(0),
            territories,
        },
        _ => UsageRights::Perpetual,
    })
}

impl Brands {
    // ------------------------------------------------------------------------------ escrow

    /// A campaign's escrow and its payments (brand members).
    pub async fn escrow(
        &self,
        user: &UserRecord,
        uuid: &str,
    ) -> Result<(CampaignRecord, EscrowState, Vec<FundingRecord>)> {
        let (c, _) = self.campaign_as(user, uuid, BrandRole::Viewer).await?;
        let state = self.db.escrow_state(c.id, &c.currency).await?;
        let fundings = self.db.fundings_of_campaign(c.id).await?;
        Ok((c, state, fundings))
    }

    /// Starts a payment of what the budget still lacks into escrow (managers), through
    /// `gateway`; the caller sends the manager to the gateway.
    pub async fn start_funding(
        &self,
        user: &UserRecord,
        uuid: &str,
        gateway: &str,
    ) -> Result<(CampaignRecord, String, FundingRecord)> {
        let (c, m) = self.campaign_as(user, uuid, BrandRole::Manager).await?;
        if gateway != "stripe" {
            return Err(CampaignError::Invalid(
                "gateway: campaign budgets are paid through stripe".into(),
            ));
        }
        if matches!(c.status.as_str(), "COMPLETED" | "CANCELLED") {
            return Err(CampaignError::Conflict(
                "CAMPAIGN_CLOSED",
                format!(
                    "The campaign is {}: nothing more goes into escrow.",
                    c.status
                ),
            ));
        }
        let e = self.db.escrow_state(c.id, &c.currency).await?;
        let due = c.budget_minor - (e.funded - e.refunded);
        if due <= 0 {
            return Err(CampaignError::Conflict(
                "ESCROW_FUNDED",
                "The whole budget is in escrow already.".into(),
            ));
        }
        let f = self
            .db
            .create_funding(
                &uuid::Uuid::new_v4().to_string(),
                c.id,
                due,
                &c.currency,
                gateway,
                user.id,
                self.now(),
            )
            .await?;
        Ok((c, m.brand.name, f))
    }

    /// Notes the gateway's checkout session of a funding.
    pub async fn funding_started(&self, f: &FundingRecord, provider_ref: &str) -> Result<()> {
        Ok(self.db.set_funding_ref(f.id, provider_ref).await?)
    }

    /// The gateway confirms funding `uuid` paid: into escrow, once.
    pub async fn funding_paid(
        &self,
        event: Option<&GatewayEvent<'_>>,
        uuid: &str,
        payment_id: &str,
        paid_minor: i64,
        currency: &str,
    ) -> Result<(FundingRecord, FundingApplied)> {
        let f = self
            .db
            .funding_by_uuid(uuid)
            .await?
            .ok_or(CampaignError::NotFound("Campaign payment"))?;
        let applied = self
            .db
            .complete_funding(event, &f, payment_id, paid_minor, currency, self.now())
            .await?;
        Ok((f, applied))
    }

    /// What to refund of campaign `c`'s escrow, payment by payment (newest first): (payment,
    /// amount), together what escrow holds.
    pub async fn refunds_due(&self, c: &CampaignRecord) -> Result<Vec<(FundingRecord, i64)>> {
        let e = self.db.escrow_state(c.id, &c.currency).await?;
        let mut left = e.held;
        let mut out = Vec::new();
        for f in self.db.fundings_of_campaign(c.id).await?.into_iter().rev() {
            if left <= 0 {
                break;
            }
            if f.status != "paid" || f.provider_payment_id.is_none() {
                continue;
            }
            let take = (f.amount_minor - f.refunded_minor).min(left);
            if take > 0 {
                left -= take;
                out.push((f, take));
            }
        }
        Ok(out)
    }

    /// Records refund `refund_id` of `amount` of payment `f`, made through its gateway.
    pub async fn refunded(&self, f: &FundingRecord, amount: i64, refund_id: &str) -> Result<bool> {
        Ok(self
            .db
            .refund_funding(f.id, amount, refund_id, self.now())
            .await?)
    }

    // ------------------------------------------------------------------------ deliverables

    /// Hands in a deliverable for accepted application `application` (its creator).
    pub async fn submit(
        &self,
        user: &UserRecord,
        application: &str,
        h: &Handed,
    ) -> Result<DeliverableRecord> {
        let a = self
            .db
            .application_by_uuid(application)
            .await?
            .filter(|a| a.creator_id == user.id)
            .ok_or(CampaignError::NotFound("Application"))?;
        if a.status != "accepted" {
            return Err(CampaignError::Conflict(
                "NOT_ACCEPTED",
                format!(
                    "Only an accepted application takes deliverables; this one is {}.",
                    a.status
                ),
            ));
        }
        let c = self
            .db
            .campaign_by_id(a.campaign_id)
            .await?
            .ok_or(CampaignError::NotFound("Application"))?;
        if !matches!(c.status.as_str(), "ACTIVE" | "IN_PROGRESS") {
            return Err(CampaignError::Conflict(
                "CAMPAIGN_CLOSED",
                format!("The campaign is {}: it takes no deliverables.", c.status),
            ));
        }
        let kind = DeliverableType::parse(&h.kind).map_err(CampaignError::Invalid)?;
        let title = line("title", &h.title, super::campaigns::MAX_TITLE)?;
        let (fields, disclosure) = self.handed(user, kind, h).await?;
        let id = uuid::Uuid::new_v4().to_string();
        self.db
            .create_deliverable(
                &id,
                a.id,
                c.id,
                user.id,
                kind.as_str(),
                &title,
                disclosure.as_deref(),
                &fields.as_fields(),
                self.now(),
            )
            .await?;
        self.db
            .deliverable_by_uuid(&id)
            .await?
            .ok_or(CampaignError::NotFound("Deliverable"))
    }

    /// Checks what is handed in for a deliverable of `kind`.
    async fn handed(
        &self,
        user: &UserRecord,
        kind: DeliverableType,
        h: &Handed,
    ) -> Result<(OwnedFields, Option<String>)> {
        let video = match h.video.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => {
                let rec = self
                    .db
                    .video_by_uuid(v)
                    .await?
                    .filter(|r| r.user_id == user.id)
                    .ok_or_else(|| {
                        CampaignError::Invalid(
                            "video: not one of your videos; upload it first, then hand it in"
                                .into(),
                        )
                    })?;
                if rec.status != "ready" {
                    return Err(CampaignError::Invalid(format!(
                        "video: \"{}\" is {}; hand it in once it is ready",
                        rec.title, rec.status
                    )));
                }
                Some(rec.id)
            }
            None => None,
        };
        let body = text("body", &h.body, 0, MAX_BODY)?;
        let link = link("link", h.link.as_deref())?;
        let note = text("note", &h.note, 0, MAX_COMMENT)?;
        if needs_video(kind) && video.is_none() {
            return Err(CampaignError::Invalid(format!(
                "video: a {} deliverable is one of your videos; upload it, then choose it",
                kind.as_str()
            )));
        }
        if video.is_none() && body.is_empty() && link.is_none() {
            return Err(CampaignError::Invalid(
                "body: hand in a video, text or a link".into(),
            ));
        }
        let disclosure = match h.disclosure.as_deref().filter(|d| !d.trim().is_empty()) {
            Some(d) => disclosure(kind, Some(d)).map_err(CampaignError::Invalid)?,
            None => None,
        };
        Ok((
            OwnedFields {
                video,
                body,
                link,
                note,
            },
            disclosure,
        ))
    }

    /// Deliverable `uuid` as `user` sees it: the brand's members and its creator.
    pub async fn deliverable_for(
        &self,
        user: &UserRecord,
        uuid: &str,
    ) -> Result<(DeliverableRecord, CampaignRecord, Side)> {
        let d = self
            .db
            .deliverable_by_uuid(uuid)
            .await?
            .ok_or(CampaignError::NotFound("Deliverable"))?;
        let c = self
            .db
            .campaign_by_id(d.campaign_id)
            .await?
            .ok_or(CampaignError::NotFound("Deliverable"))?;
        if d.creator_id == user.id {
            return Ok((d, c, Side::Creator));
        }
        let (_, m) = self
            .campaign_as(user, &c.uuid, BrandRole::Viewer)
            .await
            .map_err(|_| CampaignError::NotFound("Deliverable"))?;
        Ok((d, c, Side::Brand(m.role)))
    }

    /// A deliverable with its versions, their videos, its history and hotspots.
    pub async fn full(&self, d: DeliverableRecord) -> Result<DeliverableFull> {
        let versions = self.db.deliverable_versions(d.id).await?;
        let mut videos = Vec::with_capacity(versions.len());
        for v in &versions {
            videos.push(match v.video_id {
                Some(id) => self.db.video_by_id(id).await?,
                None => None,
            });
        }
        let events = self.db.deliverable_events(d.id).await?;
        let hotspots = self.db.hotspots_of(d.id).await?;
        Ok(DeliverableFull {
            d,
            versions,
            videos,
            events,
            hotspots,
        })
    }

    /// A campaign's deliverables: all of them for its brand, the caller's own for a creator.
    pub async fn deliverables(
        &self,
        user: &UserRecord,
        uuid: &str,
    ) -> Result<(CampaignRecord, Vec<DeliverableRecord>)> {
        let (c, _, role) = self.campaign_for(Some(user), uuid).await?;
        let only = if role.is_some() { None } else { Some(user.id) };
        let list = self.db.deliverables_of_campaign(c.id, only).await?;
        Ok((c, list))
    }

    /// The creator hands in a new version (after a revision request, or while under review),
    /// seen at `version`.
    pub async fn resubmit(
        &self,
        user: &UserRecord,
        uuid: &str,
        version: i64,
        h: &Handed,
    ) -> Result<DeliverableRecord> {
        let (d, _, side) = self.deliverable_for(user, uuid).await?;
        if side != Side::Creator {
            return Err(CampaignError::Forbidden(
                "Only the creator who handed it in hands in new versions.".into(),
            ));
        }
        if !matches!(d.status.as_str(), "submitted" | "revision_requested") {
            return Err(CampaignError::Conflict(
                "DELIVERABLE_DECIDED",
                format!("The deliverable is {}: it takes no new versions.", d.status),
            ));
        }
        let kind = DeliverableType::parse(&d.kind).map_err(CampaignError::Invalid)?;
        let (fields, disclosure) = self.handed(user, kind, h).await?;
        self.db
            .add_deliverable_version(
                d.id,
                &d.status,
                version,
                disclosure.as_deref(),
                &fields.as_fields(),
                user.id,
                self.now(),
            )
            .await?
            .map_err(moved)?;
        self.reload(&d).await
    }

    /// The creator makes earlier version `to` current again (seen at `version`).
    pub async fn roll_back(
        &self,
        user: &UserRecord,
        uuid: &str,
        version: i64,
        to: i64,
    ) -> Result<DeliverableRecord> {
        let (d, _, side) = self.deliverable_for(user, uuid).await?;
        if side != Side::Creator {
            return Err(CampaignError::Forbidden(
                "Only the creator who handed it in rolls it back.".into(),
            ));
        }
        if !matches!(d.status.as_str(), "submitted" | "revision_requested") {
            return Err(CampaignError::Conflict(
                "DELIVERABLE_DECIDED",
                format!("The deliverable is {}: its version stays.", d.status),
            ));
        }
        if to == version {
            return Err(CampaignError::Invalid(format!(
                "to: version {to} is the current one already"
            )));
        }
        self.db
            .roll_back_deliverable(d.id, &d.status, version, to, user.id, self.now())
            .await?
            .map_err(moved)?;
        self.reload(&d).await
    }

    async fn reload(&self, d: &DeliverableRecord) -> Result<DeliverableRecord> {
        self.db
            .deliverable_by_uuid(&d.uuid)
            .await?
            .ok_or(CampaignError::NotFound("Deliverable"))
    }

    /// The brand decides on the version under review (managers), seen at `version`; the
    /// ledger transaction that paid the creator, if this approval paid them.
    #[allow(clippy::too_many_arguments)]
    pub async fn review(
        &self,
        user: &UserRecord,
        uuid: &str,
        version: i64,
        decision: &str,
        comment: &str,
        disclosure_text: Option<&str>,
        release: Release,
    ) -> Result<(DeliverableRecord, Option<i64>)> {
        let (d, c, side) = self.deliverable_for(user, uuid).await?;
        match side {
            Side::Brand(role) if role.can(BrandRole::Manager) => {}
            Side::Brand(role) => {
                return Err(CampaignError::Forbidden(format!(
                    "Reviewing needs a brand manager or more; you are a {}.",
                    role.as_str()
                )))
            }
            Side::Creator => {
                return Err(CampaignError::Forbidden(
                    "The brand reviews deliverables, not their creator.".into(),
                ))
            }
        }
        let decision = match decision {
            "approve" => Decision::Approve,
            "revise" => Decision::Revise,
            "reject" => Decision::Reject,
            _ => {
                return Err(CampaignError::Invalid(
                    "decision: approve, revise or reject".into(),
                ))
            }
        };
        let comment = text("comment", comment, 0, MAX_COMMENT)?;
        if decision != Decision::Approve && comment.is_empty() {
            return Err(CampaignError::Invalid(
                "comment: say what to change (a revision) or why (a rejection)".into(),
            ));
        }
        if d.status != "submitted" {
            return Err(CampaignError::Conflict(
                "DELIVERABLE_DECIDED",
                format!(
                    "The deliverable is {}: only one under review is decided.",
                    d.status
                ),
            ));
        }
        if c.status == "CANCELLED" || c.status == "COMPLETED" {
            return Err(CampaignError::Conflict(
                "CAMPAIGN_CLOSED",
                format!("The campaign is {}.", c.status),
            ));
        }
        let kind = DeliverableType::parse(&d.kind).map_err(CampaignError::Invalid)?;
        let given = disclosure_text.filter(|t| !t.trim().is_empty());
        let disclosure = if decision == Decision::Approve {
            disclosure(kind, given.or(d.disclosure.as_deref())).map_err(CampaignError::Invalid)?
        } else {
            None
        };
        let paid = self
            .db
            .review_deliverable(
                d.id,
                version,
                decision,
                &comment,
                disclosure.as_deref().filter(|_| given.is_some()),
                release,
                user.id,
                self.now(),
            )
            .await?
            .map_err(moved)?;
        Ok((self.reload(&d).await?, paid))
    }

    /// The brand proposes usage rights (managers); the creator's consent is asked again.
    pub async fn propose_rights(
        &self,
        user: &UserRecord,
        uuid: &str,
        kind: &str,
        until_ms: Option<i64>,
        territories: &[String],
    ) -> Result<(DeliverableRecord, UsageRights)> {
        let (d, _, side) = self.deliverable_for(user, uuid).await?;
        if !matches!(side, Side::Brand(r) if r.can(BrandRole::Manager)) {
            return Err(CampaignError::Forbidden(
                "Usage rights are proposed by a brand manager or owner.".into(),
            ));
        }
        let rights = UsageRights::from_parts(kind, until_ms, territories, self.now())
            .map_err(CampaignError::Invalid)?;
        let list = match &rights {
            UsageRights::Limited { territories, .. } => Some(territories.join(",")),
            _ => None,
        };
        self.db
            .propose_rights(
                d.id,
                rights.kind(),
                rights.until_ms(),
                list.as_deref(),
                d.current_version,
                user.id,
                self.now(),
            )
            .await?;
        Ok((self.reload(&d).await?, rights))
    }

    /// The creator consents to the proposed rights.
    pub async fn consent_rights(
        &self,
        user: &UserRecord,
        uuid: &str,
    ) -> Result<(DeliverableRecord, UsageRights)> {
        let (d, _, side) = self.deliverable_for(user, uuid).await?;
        if side != Side::Creator {
            return Err(CampaignError::Forbidden(
                "Only the deliverable's creator consents to its usage rights.".into(),
            ));
        }
        let (Some(rights), Some(proposed)) = (rights_of(&d), d.rights_proposed_at) else {
            return Err(CampaignError::Conflict(
                "NO_RIGHTS_PROPOSED",
                "The brand has not proposed usage rights yet.".into(),
            ));
        };
        if d.rights_consented_at.is_some() {
            return Err(CampaignError::Conflict(
                "RIGHTS_CONSENTED",
                "You consented to these rights already.".into(),
            ));
        }
        if !self
            .db
            .consent_rights(d.id, proposed, d.current_version, user.id, self.now())
            .await?
        {
            return Err(CampaignError::Conflict(
                "DELIVERABLE_CHANGED",
                "The brand changed the proposed rights meanwhile; reload them.".into(),
            ));
        }
        Ok((self.reload(&d).await?, rights))
    }

    /// Deliverable `uuid` for the brand's embed: approved, with rights the creator consented
    /// to that permit the use now in `territory`; otherwise `Forbidden` with the reason.
    pub async fn embeddable(&self, uuid: &str, territory: Option<&str>) -> Result<DeliverableFull> {
        let d = self
            .db
            .deliverable_by_uuid(uuid)
            .await?
            .ok_or(CampaignError::NotFound("Deliverable"))?;
        if d.status != "approved" {
            return Err(CampaignError::Forbidden(
                "This content is not approved by the brand, so it cannot be embedded.".into(),
            ));
        }
        let rights = match (rights_of(&d), d.rights_consented_at) {
            (Some(r), Some(_)) => r,
            _ => {
                return Err(CampaignError::Forbidden(
                    "The creator has not granted the brand usage rights to this content, so it cannot be embedded.".into(),
                ))
            }
        };
        if let Err(why) = rights.permits(self.now(), territory) {
            let mut s = why.to_string();
            if let Some(first) = s.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            return Err(CampaignError::Forbidden(s + "."));
        }
        self.full(d).await
    }

    /// Campaign `uuid`'s shoppable gallery: its approved deliverables that the brand may embed
    /// now in `territory` (the others are left out), oldest first.
    pub async fn gallery(
        &self,
        uuid: &str,
        territory: Option<&str>,
    ) -> Result<(CampaignRecord, Vec<DeliverableFull>)> {
        let c = self
            .db
            .campaign_by_uuid(uuid)
            .await?
            .filter(|c| c.status != "DRAFT")
            .ok_or(CampaignError::NotFound("Campaign"))?;
        let mut out = Vec::new();
        for d in self.db.deliverables_of_campaign(c.id, None).await? {
            if d.status != "approved" {
                continue;
            }
            match self.embeddable(&d.uuid, territory).await {
                Ok(f) => out.push(f),
                Err(CampaignError::Forbidden(_) | CampaignError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((c, out))
    }

    // ---------------------------------------------------------------------------- hotspots

    /// Adds a product hotspot to an approved video deliverable (managers).
    pub async fn add_hotspot(
        &self,
        user: &UserRecord,
        uuid: &str,
        h: &HotspotRecord,
    ) -> Result<HotspotRecord> {
        let (d, _, side) = self.deliverable_for(user, uuid).await?;
        if !matches!(side, Side::Brand(r) if r.can(BrandRole::Manager)) {
            return Err(CampaignError::Forbidden(
                "Hotspots are placed by a brand manager or owner.".into(),
            ));
        }
        if d.status != "approved" {
            return Err(CampaignError::Conflict(
                "NOT_APPROVED",
                "Hotspots go on approved deliverables.".into(),
            ));
        }
        if !(0..=10_000).contains(&h.x_bp) || !(0..=10_000).contains(&h.y_bp) {
            return Err(CampaignError::Invalid(
                "x, y: positions from 0 to 100 (per cent of the picture)".into(),
            ));
        }
        if h.start_ms < 0 || h.end_ms <= h.start_ms {
            return Err(CampaignError::Invalid(
                "end: after the start, which is at 0 s or later".into(),
            ));
        }
        let product = line("product", &h.product, super::campaigns::MAX_TITLE)?;
        let to = link("link", Some(&h.link))?
            .ok_or_else(|| CampaignError::Invalid("link: where the product is bought".into()))?;
        if self.db.hotspots_of(d.id).await?.len() >= MAX_HOTSPOTS {
            return Err(CampaignError::Invalid(format!(
                "hotspots: at most {MAX_HOTSPOTS} per deliverable"
            )));
        }
        let mut rec = HotspotRecord {
            deliverable_id: d.id,
            product,
            link: to,
            ..h.clone()
        };
        rec.id = self.db.add_hotspot(&rec, self.now()).await?;
        Ok(rec)
    }

    /// Removes a hotspot (managers).
    pub async fn delete_hotspot(&self, user: &UserRecord, uuid: &str, id: i64) -> Result<()> {
        let (d, _, side) = self.deliverable_for(user, uuid).await?;
        if !matches!(side, Side::Brand(r) if r.can(BrandRole::Manager)) {
            return Err(CampaignError::Forbidden(
                "Hotspots are removed by a brand manager or owner.".into(),
            ));
        }
        if !self.db.delete_hotspot(d.id, id).await? {
            return Err(CampaignError::NotFound("Hotspot"));
        }
        Ok(())
    }

    // ------------------------------------------------------------------------- attribution

    /// A view of an embeddable deliverable, or a click on one of its hotspots (`hotspot`), by
    /// `visitor`; the hotspot's link for a click.
    pub async fn touch(
        &self,
        d: &DeliverableRecord,
        hotspot: Option<i64>,
        visitor: &str,
    ) -> Result<Option<String>> {
        let visitor = opaque_id("visitor", visitor)?;
        let link = match hotspot {
            Some(id) => Some(
                self.db
                    .hotspot(id)
                    .await?
                    .filter(|h| h.deliverable_id == d.id)
                    .ok_or(CampaignError::NotFound("Hotspot"))?
                    .link,
            ),
            None => None,
        };
        let kind = if hotspot.is_some() { "click" } else { "view" };
        self.db
            .add_touchpoint(d.campaign_id, d.id, hotspot, &visitor, kind, self.now())
            .await?;
        Ok(link)
    }

    /// Campaign `uuid`'s conversion secret (brand members): what signs its conversions.
    pub async fn conversion_secret(&self, user: &UserRecord, uuid: &str) -> Result<String> {
        let (c, _) = self.campaign_as(user, uuid, BrandRole::Manager).await?;
        Ok(self.secret_of(&c.uuid))
    }

    fn secret_of(&self, campaign: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.conversion_key)
            .expect("invariant: HMAC accepts any key length");
        mac.update(campaign.as_bytes());
        format!(
            "fccs_{}",
            data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
        )
    }

    /// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `payload` under campaign
    /// `campaign`'s secret.
    fn signed(&self, campaign: &str, payload: &[u8], signature: &str) -> bool {
        let Some(hex) = signature.trim().strip_prefix("sha256=") else {
            return false;
        };
        let Ok(given) = data_encoding::HEXLOWER_PERMISSIVE.decode(hex.as_bytes()) else {
            return false;
        };
        let secret = self.secret_of(campaign);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
            .expect("invariant: HMAC accepts any key length");
        mac.update(payload);
        mac.verify_slice(&given).is_ok()
    }

    /// A conversion reported for campaign `uuid`, its `payload` signed with the campaign's
    /// secret; `true` if new (an order reported again changes nothing).
    pub async fn conversion(
        &self,
        uuid: &str,
        payload: &[u8],
        signature: Option<&str>,
        c: &ConversionRecord,
    ) -> Result<bool> {
        let campaign = self
            .db
            .campaign_by_uuid(uuid)
            .await?
            .ok_or(CampaignError::NotFound("Campaign"))?;
        if !signature.is_some_and(|s| self.signed(&campaign.uuid, payload, s)) {
            return Err(CampaignError::Forbidden(
                "The signature does not match: sign the exact body with HMAC-SHA256 under the campaign's conversion secret and send it as X-Ferrocast-Signature: sha256=<hex>.".into(),
            ));
        }
        let order_id = opaque_id("order_id", &c.order_id)?;
        let visitor = opaque_id("visitor", &c.visitor)?;
        if !c.currency.eq_ignore_ascii_case(&campaign.currency) {
            return Err(CampaignError::Invalid(format!(
                "currency: the campaign is in {}",
                campaign.currency
            )));
        }
        if c.value_minor.abs() > super::campaigns::MAX_AMOUNT_MINOR {
            return Err(CampaignError::Invalid(
                "value_minor: at most ten million in the currency".into(),
            ));
        }
        let now = self.now();
        if c.at > now + CONVERSION_AHEAD_MS || c.at < now - CONVERSION_BACK_MS {
            return Err(CampaignError::Invalid(
                "at: within the last year, and not in the future".into(),
            ));
        }
        Ok(self
            .db
            .add_conversion(
                campaign.id,
                &ConversionRecord {
                    order_id,
                    visitor,
                    value_minor: c.value_minor,
                    currency: campaign.currency.clone(),
                    at: c.at,
                },
                now,
            )
            .await?)
    }

    /// Campaign `uuid`'s attribution report under `model` (brand members).
    pub async fn report(&self, user: &UserRecord, uuid: &str, model: Model) -> Result<Report> {
        let (c, _) = self.campaign_as(user, uuid, BrandRole::Viewer).await?;
        let (conversions, touches) = self.db.attribution_data(c.id, REPORT_CONVERSIONS).await?;
        let (views, clicks) = self.db.touchpoint_counts(c.id).await?;
        let mut report = Report {
            model: model.as_str().to_string(),
            currency: c.currency.clone(),
            views,
            clicks,
            ..Report::default()
        };
        let mut creators: std::collections::BTreeMap<String, Credited> = Default::default();
        let mut deliverables: std::collections::BTreeMap<String, Credited> = Default::default();
        for conv in &conversions {
            report.conversions += 1;
            report.value_minor += conv.value_minor;
            // The visitor's touchpoints (sorted by visitor, then time) that count for it.
            let start = touches.partition_point(|t| t.visitor < conv.visitor);
            let mine: Vec<_> = touches[start..]
                .iter()
                .take_while(|t| t.visitor == conv.visitor)
                .filter(|t| attribution::eligible(t.at, conv.at))
                .collect();
            if mine.is_empty() {
                report.unattributed_minor += conv.value_minor;
                continue;
            }
            let times: Vec<i64> = mine.iter().map(|t| t.at).collect();
            let credits = attribution::credit(model, &times, conv.at, conv.value_minor);
            let mut seen_c = std::collections::BTreeSet::new();
            let mut seen_d = std::collections::BTreeSet::new();
            for (t, credit) in mine.iter().zip(credits) {
                let cr = creators
                    .entry(t.creator_handle.clone())
                    .or_insert_with(|| Credited {
                        key: t.creator_handle.clone(),
                        creator: t.creator_handle.clone(),
                        ..Credited::default()
                    });
                cr.credited_minor += credit;
                cr.touchpoints += 1;
                if credit != 0 && seen_c.insert(t.creator_handle.clone()) {
                    cr.conversions += 1;
                }
                let dl = deliverables
                    .entry(t.deliverable.clone())
                    .or_insert_with(|| Credited {
                        key: t.deliverable.clone(),
                        creator: t.creator_handle.clone(),
                        ..Credited::default()
                    });
                dl.credited_minor += credit;
                dl.touchpoints += 1;
                if credit != 0 && seen_d.insert(t.deliverable.clone()) {
                    dl.conversions += 1;
                }
            }
        }
        let order = |v: std::collections::BTreeMap<String, Credited>| {
            let mut v: Vec<Credited> = v.into_values().collect();
            v.sort_by(|a, b| {
                b.credited_minor
                    .cmp(&a.credited_minor)
                    .then(a.key.cmp(&b.key))
            });
            v
        };
        report.creators = order(creators);
        report.deliverables = order(deliverables);
        Ok(report)
    }
}

/// A version's checked fields, owned.
struct OwnedFields {
    video: Option<i64>,
    body: String,
    link: Option<String>,
    note: String,
}

impl OwnedFields {
    fn as_fields(&self) -> VersionFields<'_> {
        VersionFields {
            video_id: self.video,
            body: &self.body,
            link: self.link.as_deref(),
            note: &self.note,
        }
    }
}
