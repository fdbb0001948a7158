//! Brands and campaigns (issue 24): `/api/brands` (a brand, its members and invitations, its
//! campaigns), `/api/campaigns` (discovery by creators, a campaign, its status, milestones,
//! applications and invitations), `/api/applications/{id}` (the brand's decision, the
//! creator's answer) and `/api/me/applications`.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::routes::campaign_work::instant;
use crate::routes::videos::MaybeUser;
use crate::service::accounts::AuthUser;
use crate::service::campaigns::{CampaignDraft, CampaignError};
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ferrocast_db::campaigns::{ApplicationRecord, BrandRecord, CampaignRecord, MilestoneRecord};
use ferrocast_domain::brand::{BrandRole, BrandTier};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> Self {
        match e {
            CampaignError::Invalid(m) => ApiError::validation(m),
            CampaignError::NotFound(what) => ApiError::not_found(what),
            CampaignError::Forbidden(m) => ApiError::forbidden(m),
            CampaignError::Limit(what, current, max) => ApiError::plan_limit(
                ferrocast_domain::plans::LimitExceeded::reached(what, current, max),
                format!("The brand's tier allows {max}. An administrator can move the brand to a larger tier."),
            ),
            CampaignError::Conflict(code, m) => ApiError::conflict(code, "Not possible now", m),
            CampaignError::Db(e) => ApiError::internal(e),
        }
    }
}

// ------------------------------------------------------------------------------ shapes

/// A brand tier's limits; `null` is unlimited.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandTierView {
    /// Its name.
    pub name: String,
    /// Members (with open invitations) at most.
    pub seats: Option<i64>,
    /// Campaigns past DRAFT and not finished, at most.
    pub active_campaigns: Option<i64>,
    /// Creators accepted per campaign, at most.
    pub creators_per_campaign: Option<i64>,
    /// Deliverables' storage (MB) at most.
    pub storage_mb: Option<i64>,
}

fn tier_view(t: &BrandTier) -> BrandTierView {
    BrandTierView {
        name: t.name.clone(),
        seats: t.seats,
        active_campaigns: t.active_campaigns,
        creators_per_campaign: t.creators_per_campaign,
        storage_mb: t.storage_mb,
    }
}

/// A brand.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandView {
    /// Its id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Website.
    pub website: Option<String>,
    /// About it.
    pub about: String,
    /// Its tier and limits.
    pub tier: BrandTierView,
    /// The caller's role (`owner`, `manager`, `viewer`); absent for others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// One brand.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandOne {
    /// The brand.
    pub brand: BrandView,
}

/// The caller's brands.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandList {
    /// By name.
    pub brands: Vec<BrandView>,
}

/// A member of a brand.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandMemberView {
    /// Their user id.
    pub user_id: i64,
    /// Email.
    pub email: String,
    /// Name.
    pub display_name: String,
    /// `owner`, `manager` or `viewer`.
    pub role: String,
    /// Since (RFC 3339).
    pub since: String,
}

/// An open invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandInviteView {
    /// Its id.
    pub id: i64,
    /// Who.
    pub email: String,
    /// The role they get.
    pub role: String,
    /// Void after (RFC 3339).
    pub expires_at: String,
}

/// A brand's team: members, invitations and seats.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandTeamView {
    /// The brand.
    pub brand: BrandView,
    /// Members, owners first.
    pub members: Vec<BrandMemberView>,
    /// Open invitations (owners see them).
    pub invites: Vec<BrandInviteView>,
    /// Seats taken (members and open invitations).
    pub seats_used: i64,
}

/// A new invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandInviteSent {
    /// The invitation.
    pub invite: BrandInviteView,
    /// The link it mailed (to pass on by hand where mail is not set up).
    pub link: String,
}

/// A brand to create, or its new profile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandForm {
    /// 1 to 80 characters.
    pub name: String,
    /// An http(s) address.
    pub website: Option<String>,
    /// At most 8000 characters.
    #[serde(default)]
    pub about: String,
}

/// Invite someone to the brand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandInviteForm {
    /// Their email.
    pub email: String,
    /// `owner`, `manager` or `viewer`.
    pub role: String,
}

/// Take up an invitation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandJoinForm {
    /// The token from the invitation's link.
    pub token: String,
}

/// A member's new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandRoleForm {
    /// `owner`, `manager` or `viewer`.
    pub role: String,
}

/// A campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    /// Its id.
    pub id: String,
    /// The brand's id.
    pub brand_id: String,
    /// The brand's name.
    pub brand_name: String,
    /// Title.
    pub title: String,
    /// `ugc`, `brand_ambassador`, `product_review`, `influencer` or `event` (any case when sent).
    #[serde(rename = "type")]
    pub kind: String,
    /// What the brand asks for.
    pub brief: String,
    /// `video`, `image`, `story`, `reel`, `post`, `article` or `review` (any case when sent).
    pub deliverable: String,
    /// Budget (minor units of `currency`).
    pub budget_minor: i64,
    /// `USD` or `INR`.
    pub currency: String,
    /// `DRAFT`, `PUBLISHED`, `ACTIVE`, `IN_PROGRESS`, `COMPLETED` or `CANCELLED`.
    pub status: String,
    /// Where it may go next.
    pub next_statuses: Vec<String>,
    /// Applications close (RFC 3339).
    pub apply_by: Option<String>,
    /// Deliverables due (RFC 3339).
    pub due_at: Option<String>,
    /// First published (RFC 3339).
    pub published_at: Option<String>,
    /// The caller's role in its brand, if a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

fn campaign_view(c: &CampaignRecord, brand: (&str, &str), role: Option<BrandRole>) -> CampaignView {
    let next = ferrocast_domain::campaign::CampaignStatus::parse(&c.status)
        .map(|s| s.next().iter().map(|n| n.as_str().to_string()).collect())
        .unwrap_or_default();
    CampaignView {
        id: c.uuid.clone(),
        brand_id: brand.0.to_string(),
        brand_name: brand.1.to_string(),
        title: c.title.clone(),
        kind: c.kind.clone(),
        brief: c.brief.clone(),
        deliverable: c.deliverable.clone(),
        budget_minor: c.budget_minor,
        currency: c.currency.clone(),
        status: c.status.clone(),
        next_statuses: if role.is_some_and(|r| r.can(BrandRole::Manager)) {
            next
        } else {
            Vec::new()
        },
        apply_by: c.apply_by.map(rfc3339),
        due_at: c.due_at.map(rfc3339),
        published_at: c.published_at.map(rfc3339),
        role: role.map(|r| r.as_str().to_string()),
    }
}

/// A milestone.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignMilestoneView {
    /// Its id.
    pub id: i64,
    /// What is due.
    pub title: String,
    /// When (RFC 3339).
    pub due_at: String,
    /// Ticked off (RFC 3339).
    pub done_at: Option<String>,
    /// The reminder went out (RFC 3339).
    pub reminded_at: Option<String>,
}

fn milestone_view(m: &MilestoneRecord) -> CampaignMilestoneView {
    CampaignMilestoneView {
        id: m.id,
        title: m.title.clone(),
        due_at: rfc3339(m.due_at),
        done_at: m.done_at.map(rfc3339),
        reminded_at: m.reminded_at.map(rfc3339),
    }
}

/// A campaign with its milestones, and the caller's application if they have one.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignOne {
    /// The campaign.
    pub campaign: CampaignView,
    /// Its milestones, the soonest first.
    pub milestones: Vec<CampaignMilestoneView>,
    /// The caller's application (creators).
    pub application: Option<CampaignApplicationView>,
}

/// Campaigns.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignList {
    /// Newest first.
    pub campaigns: Vec<CampaignView>,
}

/// A campaign to write (create, or replace while DRAFT or PUBLISHED).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignForm {
    /// 1 to 140 characters.
    pub title: String,
    /// `ugc`, `brand_ambassador`, `product_review`, `influencer` or `event` (any case when sent).
    #[serde(rename = "type")]
    pub kind: String,
    /// 10 to 8000 characters.
    pub brief: String,
    /// `video`, `image`, `story`, `reel`, `post`, `article` or `review` (any case when sent).
    pub deliverable: String,
    /// Minor units (cents, paise), at least 100.
    pub budget_minor: i64,
    /// `USD` or `INR`.
    pub currency: String,
    /// RFC 3339: applications close.
    pub apply_by: Option<String>,
    /// RFC 3339: deliverables due.
    pub due_at: Option<String>,
}

impl CampaignForm {
    fn draft(self) -> ApiResult<CampaignDraft> {
        Ok(CampaignDraft {
            apply_by: instant("apply_by", self.apply_by.as_deref())?,
            due_at: instant("due_at", self.due_at.as_deref())?,
            title: self.title,
            kind: self.kind,
            brief: self.brief,
            deliverable: self.deliverable,
            budget_minor: self.budget_minor,
            currency: self.currency,
        })
    }
}

/// A move in the lifecycle.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignStatusForm {
    /// Where to: `PUBLISHED`, `DRAFT`, `ACTIVE`, `IN_PROGRESS`, `COMPLETED`, `CANCELLED`.
    pub status: String,
}

/// A milestone to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignMilestoneForm {
    /// 1 to 140 characters.
    pub title: String,
    /// RFC 3339, to come.
    pub due_at: String,
}

/// Tick a milestone off or open it again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignMilestoneDone {
    /// Done.
    pub done: bool,
}

/// What creators search for.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DiscoverQuery {
    /// Words in the title, brief or brand name.
    pub q: Option<String>,
    /// A campaign type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A deliverable type.
    pub deliverable: Option<String>,
    /// Skip this many (paging by 24).
    pub offset: Option<i64>,
}

/// An application (or invitation).
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignApplicationView {
    /// Its id.
    pub id: String,
    /// The campaign's id.
    pub campaign_id: String,
    /// The creator's handle.
    pub creator_handle: String,
    /// The creator's name.
    pub creator_name: String,
    /// Their pitch.
    pub pitch: String,
    /// Their rate (minor units of the campaign's currency).
    pub rate_minor: i64,
    /// `invited`, `applied`, `shortlisted`, `accepted`, `declined` or `withdrawn`.
    pub status: String,
    /// The brand invited the creator.
    pub invited: bool,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

fn application_view(a: &ApplicationRecord, campaign_uuid: &str) -> CampaignApplicationView {
    CampaignApplicationView {
        id: a.uuid.clone(),
        campaign_id: campaign_uuid.to_string(),
        creator_handle: a.creator_handle.clone(),
        creator_name: a.creator_name.clone(),
        pitch: a.pitch.clone(),
        rate_minor: a.rate_minor,
        status: a.status.clone(),
        invited: a.invited,
        updated_at: rfc3339(a.updated_at),
    }
}

/// One application.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignApplicationOne {
    /// The application.
    pub application: CampaignApplicationView,
}

/// A campaign's applications.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignApplicationList {
    /// Accepted, shortlisted, applied, invited, then the rest.
    pub applications: Vec<CampaignApplicationView>,
}

/// A creator's application with its campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyCampaignApplication {
    /// The application.
    pub application: CampaignApplicationView,
    /// Its campaign.
    pub campaign: CampaignView,
}

/// The caller's applications and invitations.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyCampaignApplications {
    /// The latest change first.
    pub applications: Vec<MyCampaignApplication>,
}

/// Apply to a campaign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignApplyForm {
    /// 10 to 4000 characters: why you, and what you would make.
    pub pitch: String,
    /// Your rate in the campaign's currency (minor units), at most its budget.
    pub rate_minor: i64,
}

/// Invite a creator to apply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteCreatorForm {
    /// Their channel handle.
    pub handle: String,
}

/// The brand's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationDecisionForm {
    /// `shortlisted`, `accepted` or `declined`.
    pub status: String,
}

/// The creator's answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationAnswerForm {
    /// `applied` (an invitation taken up: with `pitch` and `rate_minor`), `declined` (an
    /// invitation turned down) or `withdrawn`.
    pub status: String,
    /// With `applied`.
    pub pitch: Option<String>,
    /// With `applied`.
    pub rate_minor: Option<i64>,
}

fn brand_view(state: &AppState, b: &BrandRecord, role: Option<BrandRole>) -> BrandView {
    BrandView {
        id: b.uuid.clone(),
        name: b.name.clone(),
        website: b.website.clone(),
        about: b.about.clone(),
        tier: tier_view(&state.brands.tier_of(b)),
        role: role.map(|r| r.as_str().to_string()),
    }
}

// ------------------------------------------------------------------------------ brands

/// Create a brand (brand accounts); the caller becomes its owner.
#[utoipa::path(post, path = "/api/brands", tag = "campaigns", security(("bearer" = [])), request_body = BrandForm,
    responses((status = 201, body = BrandOne), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Not a brand account"),
              (status = 422, body = ErrorBody)))]
pub async fn create_brand(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(f): ApiJson<BrandForm>,
) -> ApiResult<(StatusCode, Json<BrandOne>)> {
    let b = state
        .brands
        .create(&auth.user, &f.name, f.website.as_deref(), &f.about)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(BrandOne {
            brand: brand_view(&state, &b, Some(BrandRole::Owner)),
        }),
    ))
}

/// The caller's brands.
#[utoipa::path(get, path = "/api/brands", tag = "campaigns", security(("bearer" = [])),
    responses((status = 200, body = BrandList), (status = 401, body = ErrorBody)))]
pub async fn my_brands(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<BrandList>> {
    let list = state.db.brands_of_user(auth.user.id).await?;
    Ok(Json(BrandList {
        brands: list
            .iter()
            .map(|(b, r)| brand_view(&state, b, BrandRole::parse(r).ok()))
            .collect(),
    }))
}

/// A brand's team (members): members, open invitations (owners) and seats.
#[utoipa::path(get, path = "/api/brands/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The brand's id")),
    responses((status = 200, body = BrandTeamView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn brand_team(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<BrandTeamView>> {
    let m = state
        .brands
        .membership(&auth.user, &id, BrandRole::Viewer)
        .await?;
    team(&state, &m.brand, m.role).await.map(Json)
}

async fn team(state: &AppState, b: &BrandRecord, role: BrandRole) -> ApiResult<BrandTeamView> {
    let members = state.db.brand_members(b.id).await?;
    let invites = state.db.brand_invites(b.id, state.clock.now_ms()).await?;
    Ok(BrandTeamView {
        brand: brand_view(state, b, Some(role)),
        seats_used: (members.len() + invites.len()) as i64,
        members: members
            .iter()
            .map(|m| BrandMemberView {
                user_id: m.user_id,
                email: m.email.clone(),
                display_name: m.display_name.clone(),
                role: m.role.clone(),
                since: rfc3339(m.created_at),
            })
            .collect(),
        invites: if role.can(BrandRole::Owner) {
            invites
                .iter()
                .map(|i| BrandInviteView {
                    id: i.id,
                    email: i.email.clone(),
                    role: i.role.clone(),
                    expires_at: rfc3339(i.expires_at),
                })
                .collect()
        } else {
            Vec::new()
        },
    })
}

/// Change the brand's profile (owners).
#[utoipa::path(patch, path = "/api/brands/{id}", tag = "campaigns", security(("bearer" = [])), request_body = BrandForm,
    params(("id" = String, Path, description = "The brand's id")),
    responses((status = 200, body = BrandOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_brand(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<BrandForm>,
) -> ApiResult<Json<BrandOne>> {
    let b = state
        .brands
        .update(&auth.user, &id, &f.name, f.website.as_deref(), &f.about)
        .await?;
    Ok(Json(BrandOne {
        brand: brand_view(&state, &b, Some(BrandRole::Owner)),
    }))
}

/// Invite someone by email (owners), within the tier's seats; the link is mailed and returned.
#[utoipa::path(post, path = "/api/brands/{id}/invites", tag = "campaigns", security(("bearer" = [])), request_body = BrandInviteForm,
    params(("id" = String, Path, description = "The brand's id")),
    responses((status = 201, body = BrandInviteSent), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Not an owner, or `PLAN_LIMIT_REACHED`: every seat is taken"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`ALREADY_MEMBER`"),
              (status = 422, body = ErrorBody)))]
pub async fn invite_brand_member(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<BrandInviteForm>,
) -> ApiResult<(StatusCode, Json<BrandInviteSent>)> {
    let (i, link) = state
        .brands
        .invite(&auth.user, &id, &f.email, &f.role)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(BrandInviteSent {
            invite: BrandInviteView {
                id: i.id,
                email: i.email,
                role: i.role,
                expires_at: rfc3339(i.expires_at),
            },
            link,
        }),
    ))
}

/// Withdraw an invitation (owners).
#[utoipa::path(delete, path = "/api/brands/{id}/invites/{invite}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The brand's id"), ("invite" = i64, Path, description = "The invitation's id")),
    responses((status = 204, description = "Withdrawn"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn revoke_brand_invite(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, invite)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    let m = state
        .brands
        .membership(&auth.user, &id, BrandRole::Owner)
        .await?;
    if !state.db.revoke_brand_invite(m.brand.id, invite).await? {
        return Err(ApiError::not_found("Invitation"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Take up an invitation (signed in with the invited email).
#[utoipa::path(post, path = "/api/brands/join", tag = "campaigns", security(("bearer" = [])), request_body = BrandJoinForm,
    responses((status = 200, body = BrandOne), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "No open invitation with this token for the caller's email")))]
pub async fn join_brand(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(f): ApiJson<BrandJoinForm>,
) -> ApiResult<Json<BrandOne>> {
    let m = state.brands.accept_invite(&auth.user, &f.token).await?;
    Ok(Json(BrandOne {
        brand: brand_view(&state, &m.brand, Some(m.role)),
    }))
}

/// Change a member's role (owners).
#[utoipa::path(patch, path = "/api/brands/{id}/members/{user}", tag = "campaigns", security(("bearer" = [])), request_body = BrandRoleForm,
    params(("id" = String, Path, description = "The brand's id"), ("user" = i64, Path, description = "The member's user id")),
    responses((status = 204, description = "Changed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`LAST_OWNER`")))]
pub async fn change_brand_member(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, user)): Path<(String, i64)>,
    ApiJson(f): ApiJson<BrandRoleForm>,
) -> ApiResult<StatusCode> {
    state
        .brands
        .change_member(&auth.user, &id, user, Some(&f.role))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member (owners), or leave the brand (anyone, themselves).
#[utoipa::path(delete, path = "/api/brands/{id}/members/{user}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The brand's id"), ("user" = i64, Path, description = "The member's user id")),
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`LAST_OWNER`")))]
pub async fn remove_brand_member(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, user)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    state
        .brands
        .change_member(&auth.user, &id, user, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// --------------------------------------------------------------------------- campaigns

/// Write a campaign (managers); it starts in DRAFT.
#[utoipa::path(post, path = "/api/brands/{id}/campaigns", tag = "campaigns", security(("bearer" = [])), request_body = CampaignForm,
    params(("id" = String, Path, description = "The brand's id")),
    responses((status = 201, body = CampaignOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_campaign(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<CampaignForm>,
) -> ApiResult<(StatusCode, Json<CampaignOne>)> {
    let c = state
        .brands
        .create_campaign(&auth.user, &id, &f.draft()?)
        .await?;
    Ok((
        StatusCode::CREATED,
        one(&state, Some(&auth), &c.uuid).await?,
    ))
}

/// The brand's campaigns (members), newest first.
#[utoipa::path(get, path = "/api/brands/{id}/campaigns", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The brand's id")),
    responses((status = 200, body = CampaignList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn brand_campaigns(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignList>> {
    let m = state
        .brands
        .membership(&auth.user, &id, BrandRole::Viewer)
        .await?;
    let list = state.db.campaigns_of_brand(m.brand.id).await?;
    Ok(Json(CampaignList {
        campaigns: list
            .iter()
            .map(|c| campaign_view(c, (&m.brand.uuid, &m.brand.name), Some(m.role)))
            .collect(),
    }))
}

/// Campaigns open to creators (anyone): search the title, brief and brand name; filter by
/// type and deliverable; 24 a page, newest first.
#[utoipa::path(get, path = "/api/campaigns", tag = "campaigns", params(DiscoverQuery),
    responses((status = 200, body = CampaignList), (status = 422, body = ErrorBody)))]
pub async fn discover_campaigns(
    State(state): State<AppState>,
    Query(q): Query<DiscoverQuery>,
) -> ApiResult<Json<CampaignList>> {
    let kind = match q.kind.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(k) => Some(
            ferrocast_domain::campaign::CampaignType::parse(k)
                .map_err(ApiError::validation)?
                .as_str(),
        ),
        None => None,
    };
    let deliverable = match q.deliverable.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(d) => Some(
            ferrocast_domain::campaign::DeliverableType::parse(d)
                .map_err(ApiError::validation)?
                .as_str(),
        ),
        None => None,
    };
    let words =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(100).collect::<String>());
    let list = state
        .db
        .discover_campaigns(
            words.as_deref(),
            kind,
            deliverable,
            state.clock.now_ms(),
            24,
            q.offset.unwrap_or(0).clamp(0, 10_000),
        )
        .await?;
    Ok(Json(CampaignList {
        campaigns: list
            .iter()
            .map(|l| campaign_view(&l.campaign, (&l.brand_uuid, &l.brand_name), None))
            .collect(),
    }))
}

async fn one(
    state: &AppState,
    auth: Option<&AuthUser>,
    uuid: &str,
) -> ApiResult<Json<CampaignOne>> {
    let user = auth.map(|a| &a.user);
    let (c, brand, role) = state.brands.campaign_for(user, uuid).await?;
    let milestones = state.db.milestones(c.id).await?;
    let application = match user {
        Some(u) if role.is_none() => state
            .db
            .application_of(c.id, u.id)
            .await?
            .map(|a| application_view(&a, &c.uuid)),
        _ => None,
    };
    Ok(Json(CampaignOne {
        campaign: campaign_view(&c, (&brand.uuid, &brand.name), role),
        milestones: milestones.iter().map(milestone_view).collect(),
        application,
    }))
}

/// A campaign: anyone sees one that is or was open; its brand's members also see drafts.
#[utoipa::path(get, path = "/api/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, body = CampaignOne), (status = 404, body = ErrorBody)))]
pub async fn get_campaign(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignOne>> {
    one(&state, auth.as_ref(), &id).await
}

/// Replace what a campaign says (managers), while DRAFT or PUBLISHED.
#[utoipa::path(put, path = "/api/campaigns/{id}", tag = "campaigns", security(("bearer" = [])), request_body = CampaignForm,
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, body = CampaignOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`CAMPAIGN_LOCKED`"),
              (status = 422, body = ErrorBody)))]
pub async fn update_campaign(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<CampaignForm>,
) -> ApiResult<Json<CampaignOne>> {
    let c = state
        .brands
        .update_campaign(&auth.user, &id, &f.draft()?)
        .await?;
    one(&state, Some(&auth), &c.uuid).await
}

/// Move a campaign along its lifecycle (managers): DRAFT → PUBLISHED → ACTIVE → IN_PROGRESS →
/// COMPLETED, PUBLISHED → DRAFT while nobody is accepted, CANCELLED from any but the final
/// two. Publishing counts against the tier's active campaigns.
#[utoipa::path(post, path = "/api/campaigns/{id}/status", tag = "campaigns", security(("bearer" = [])), request_body = CampaignStatusForm,
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, body = CampaignOne), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Not a manager, or `PLAN_LIMIT_REACHED`"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`CAMPAIGN_TRANSITION`: the details say what the campaign can become"),
              (status = 422, body = ErrorBody)))]
pub async fn set_campaign_status(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<CampaignStatusForm>,
) -> ApiResult<Json<CampaignOne>> {
    let c = state.brands.set_status(&auth.user, &id, &f.status).await?;
    if c.status == "CANCELLED" {
        // What escrow holds goes back to the brand through the gateway.
        crate::routes::campaign_work::refund_escrow(&state, &c, auth.user.id).await?;
    }
    one(&state, Some(&auth), &c.uuid).await
}

/// Add a milestone (managers).
#[utoipa::path(post, path = "/api/campaigns/{id}/milestones", tag = "campaigns", security(("bearer" = [])), request_body = CampaignMilestoneForm,
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 201, body = CampaignOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_campaign_milestone(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<CampaignMilestoneForm>,
) -> ApiResult<(StatusCode, Json<CampaignOne>)> {
    let due = instant("due_at", Some(&f.due_at))?
        .ok_or_else(|| ApiError::validation("due_at: RFC 3339 with an offset"))?;
    state
        .brands
        .add_milestone(&auth.user, &id, &f.title, due)
        .await?;
    Ok((StatusCode::CREATED, one(&state, Some(&auth), &id).await?))
}

/// Tick a milestone off, or open it again (managers).
#[utoipa::path(patch, path = "/api/campaigns/{id}/milestones/{milestone}", tag = "campaigns", security(("bearer" = [])), request_body = CampaignMilestoneDone,
    params(("id" = String, Path, description = "The campaign's id"), ("milestone" = i64, Path, description = "The milestone's id")),
    responses((status = 200, body = CampaignOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn set_campaign_milestone(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, milestone)): Path<(String, i64)>,
    ApiJson(f): ApiJson<CampaignMilestoneDone>,
) -> ApiResult<Json<CampaignOne>> {
    state
        .brands
        .set_milestone_done(&auth.user, &id, milestone, f.done)
        .await?;
    one(&state, Some(&auth), &id).await
}

// ------------------------------------------------------------------------ applications

/// Apply to an open campaign (creators) with a pitch and a rate; answers an invitation too.
#[utoipa::path(post, path = "/api/campaigns/{id}/applications", tag = "campaigns", security(("bearer" = [])), request_body = CampaignApplyForm,
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 201, body = CampaignApplicationOne), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Not a creator account, or a member of the brand"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`APPLICATIONS_CLOSED`, `ALREADY_APPLIED`"),
              (status = 422, body = ErrorBody)))]
pub async fn apply_to_campaign(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<CampaignApplyForm>,
) -> ApiResult<(StatusCode, Json<CampaignApplicationOne>)> {
    let a = state
        .brands
        .apply(&auth.user, &id, &f.pitch, f.rate_minor)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CampaignApplicationOne {
            application: application_view(&a, &id),
        }),
    ))
}

/// A campaign's applications and invitations (members).
#[utoipa::path(get, path = "/api/campaigns/{id}/applications", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, body = CampaignApplicationList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn campaign_applications(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignApplicationList>> {
    let (c, list) = state.brands.applications(&auth.user, &id).await?;
    Ok(Json(CampaignApplicationList {
        applications: list.iter().map(|a| application_view(a, &c.uuid)).collect(),
    }))
}

/// Invite a creator to apply (managers).
#[utoipa::path(post, path = "/api/campaigns/{id}/invitations", tag = "campaigns", security(("bearer" = [])), request_body = InviteCreatorForm,
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 201, body = CampaignApplicationOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "No such campaign, or no creator with this handle"),
              (status = 409, body = ErrorBody, description = "`APPLICATIONS_CLOSED`, `ALREADY_APPLIED`")))]
pub async fn invite_creator_to_campaign(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<InviteCreatorForm>,
) -> ApiResult<(StatusCode, Json<CampaignApplicationOne>)> {
    let a = state
        .brands
        .invite_creator(&auth.user, &id, &f.handle)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CampaignApplicationOne {
            application: application_view(&a, &id),
        }),
    ))
}

/// The brand's decision on an application (managers): `shortlisted`, `accepted` (within the
/// budget and the tier's creators per campaign; a PUBLISHED campaign becomes ACTIVE) or
/// `declined`.
#[utoipa::path(post, path = "/api/applications/{id}/decision", tag = "campaigns", security(("bearer" = [])), request_body = ApplicationDecisionForm,
    params(("id" = String, Path, description = "The application's id")),
    responses((status = 200, body = CampaignApplicationOne), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Not a manager, or `PLAN_LIMIT_REACHED`"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`APPLICATION_TRANSITION`, `OVER_BUDGET`, `APPLICATIONS_CLOSED`"),
              (status = 422, body = ErrorBody)))]
pub async fn decide_application(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<ApplicationDecisionForm>,
) -> ApiResult<Json<CampaignApplicationOne>> {
    let a = state.brands.decide(&auth.user, &id, &f.status).await?;
    application_one(&state, a).await
}

/// The creator's answer: take up an invitation (`applied`, with a pitch and rate), turn it
/// down (`declined`), or withdraw an application (`withdrawn`).
#[utoipa::path(post, path = "/api/applications/{id}/answer", tag = "campaigns", security(("bearer" = [])), request_body = ApplicationAnswerForm,
    params(("id" = String, Path, description = "The application's id")),
    responses((status = 200, body = CampaignApplicationOne), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`APPLICATION_TRANSITION`"), (status = 422, body = ErrorBody)))]
pub async fn answer_application(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<ApplicationAnswerForm>,
) -> ApiResult<Json<CampaignApplicationOne>> {
    let pitch_rate = match (f.pitch.as_deref(), f.rate_minor) {
        (Some(p), Some(r)) => Some((p, r)),
        _ => None,
    };
    let a = state
        .brands
        .respond(&auth.user, &id, &f.status, pitch_rate)
        .await?;
    application_one(&state, a).await
}

async fn application_one(
    state: &AppState,
    a: ApplicationRecord,
) -> ApiResult<Json<CampaignApplicationOne>> {
    let c = state
        .db
        .campaign_by_id(a.campaign_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Application"))?;
    Ok(Json(CampaignApplicationOne {
        application: application_view(&a, &c.uuid),
    }))
}

/// The caller's applications and invitations (creators), the latest change first.
#[utoipa::path(get, path = "/api/me/applications", tag = "campaigns", security(("bearer" = [])),
    responses((status = 200, body = MyCampaignApplications), (status = 401, body = ErrorBody)))]
pub async fn my_applications(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<MyCampaignApplications>> {
    let list = state.db.applications_of_creator(auth.user.id).await?;
    let out = list
        .iter()
        .map(|(a, c, (brand_uuid, brand_name))| MyCampaignApplication {
            application: application_view(a, &c.uuid),
            campaign: campaign_view(c, (brand_uuid, brand_name), None),
        })
        .collect();
    Ok(Json(MyCampaignApplications { applications: out }))
}

// ------------------------------------------------------------------------ administrators

/// A brand as administrators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminBrandView {
    /// The brand.
    pub brand: BrandView,
    /// Members.
    pub members: i64,
    /// Campaigns PUBLISHED, ACTIVE or IN_PROGRESS.
    pub active_campaigns: i64,
}

/// Every brand, and the tiers there are.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminBrandList {
    /// By name (at most 500).
    pub brands: Vec<AdminBrandView>,
    /// The tiers a brand can be moved to.
    pub tiers: Vec<BrandTierView>,
}

/// Move a brand to a tier.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandTierForm {
    /// A tier's name (`GET /api/admin/brands` lists them).
    pub tier: String,
}

/// Every brand with its tier, members and active campaigns (administrators).
#[utoipa::path(get, path = "/api/admin/brands", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminBrandList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn admin_brands(State(state): State<AppState>) -> ApiResult<Json<AdminBrandList>> {
    let list = state.db.all_brands(500).await?;
    Ok(Json(AdminBrandList {
        brands: list
            .iter()
            .map(|(b, members, active)| AdminBrandView {
                brand: brand_view(&state, b, None),
                members: *members,
                active_campaigns: *active,
            })
            .collect(),
        tiers: state.brands.tiers().iter().map(tier_view).collect(),
    }))
}

/// Move a brand to another tier (administrators); its new limits hold at once (what it has
/// beyond them stays, and nothing more is allowed until it is back within them). Recorded as
/// the administrator's action.
#[utoipa::path(put, path = "/api/admin/brands/{id}/tier", tag = "admin", security(("bearer" = [])), request_body = BrandTierForm,
    params(("id" = String, Path, description = "The brand's id")),
    responses((status = 200, body = BrandOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_brand_tier(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<BrandTierForm>,
) -> ApiResult<Json<BrandOne>> {
    let tier = state
        .brands
        .tiers()
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(f.tier.trim()))
        .ok_or_else(|| {
            ApiError::validation(format!(
                "tier: one of {}",
                state
                    .brands
                    .tiers()
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?
        .name
        .clone();
    let b = state
        .db
        .brand_by_uuid(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("Brand"))?;
    if b.tier != tier {
        state
            .db
            .set_brand_tier(b.id, &tier, state.clock.now_ms())
            .await?;
        state
            .audit
            .admin_action(
                auth.user.id,
                "brand_tier_changed",
                None,
                serde_json::json!({"brand": b.uuid, "name": b.name, "from": b.tier, "to": tier}),
            )
            .await;
    }
    let b = state
        .db
        .brand_by_id(b.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Brand"))?;
    Ok(Json(BrandOne {
        brand: brand_view(&state, &b, None),
    }))
}
