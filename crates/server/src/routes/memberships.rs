//! Memberships over HTTP: a creator's tiers (`/api/me/tiers`, the public
//! `/api/channels/{handle}/tiers`), the memberships a viewer holds and cancels
//! (`/api/me/memberships`), a creator's members (`/api/me/members`), the access levels of videos
//! and streams (`/api/videos/{id}/access`, `/api/sources/{id}/access`), and a live stream's
//! playback addresses for the caller (`/api/watch/{playback_id}/access`). Joining and buying go
//! through `POST /api/purchases`. The rules are in [`crate::service::memberships`] and
//! [`crate::service::access`].

use crate::error::{video_not_found, ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, ClientIp};
use crate::routes::gate::{content_access, ContentAccess, TierView};
use crate::routes::videos::MaybeUser;
use crate::service::access::{Content, Level};
use crate::service::clock::rfc3339;
use crate::service::memberships::{AccessInput, MembershipsError, TierInput};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ferrocast_db::memberships::{MembershipRow, TierRemoval};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<MembershipsError> for ApiError {
    fn from(e: MembershipsError) -> Self {
        match e {
            MembershipsError::Db(e) => e.into(),
            MembershipsError::Invalid(d) => ApiError::validation(d),
            MembershipsError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Not found",
                "No such tier or membership of yours: reload the list.",
            ),
            MembershipsError::TooManyTiers => ApiError::conflict(
                "TOO_MANY_TIERS",
                "You have as many tiers as a channel may have",
                format!(
                    "A channel has at most {} tiers: remove one first.",
                    crate::service::memberships::MAX_TIERS
                ),
            ),
            MembershipsError::HasTiers => ApiError::conflict(
                "TIERS_EXIST",
                "Your channel already has tiers",
                "The default template is offered to channels without tiers; edit yours instead.",
            ),
        }
    }
}

/// A tier as the creator sets it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierBody {
    /// 1 to 40 characters.
    pub name: String,
    /// Monthly price in minor units, 100 to 1 000 000.
    pub price_minor: i64,
    /// ISO 4217; default USD.
    pub currency: Option<String>,
    /// Up to 10 perks of up to 120 characters.
    #[serde(default)]
    pub perks: Vec<String>,
    /// Its rank (higher includes lower); default: above the highest (new), unchanged (edit).
    pub rank: Option<i64>,
    /// Whether viewers may join; default true.
    pub active: Option<bool>,
}

impl From<TierBody> for TierInput {
    fn from(b: TierBody) -> Self {
        Self {
            name: b.name,
            price_minor: b.price_minor,
            currency: b.currency.unwrap_or_else(|| "USD".into()),
            perks: b.perks,
            rank: b.rank,
            active: b.active.unwrap_or(true),
        }
    }
}

/// A template tier (not stored).
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateTier {
    /// Name.
    pub name: String,
    /// Monthly price, minor units.
    pub price_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Perks.
    pub perks: Vec<String>,
}

/// The caller's tiers.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyTiers {
    /// By rank, retired ones too.
    pub tiers: Vec<TierView>,
    /// The default template ($5/$15/$50/$250), offered while there are no tiers
    /// (`POST /api/me/tiers/template` creates it).
    pub template: Vec<TemplateTier>,
}

/// What removing a tier did.
#[derive(Debug, Serialize, ToSchema)]
pub struct TierRemoved {
    /// `deleted` (nobody ever held it) or `retired` (its members keep it; nobody may join).
    pub outcome: String,
}

/// A membership as its member sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    /// The channel's handle.
    pub channel: Option<String>,
    /// The channel's name.
    pub channel_name: String,
    /// The channel's avatar (root-relative).
    pub channel_avatar_url: Option<String>,
    /// The tier, if it still exists.
    pub tier: Option<MembershipTier>,
    /// `active`, `canceled` (ends with its period, not renewed) or `ended`.
    pub status: String,
    /// The gateway billing it.
    pub provider: Option<String>,
    /// End of the paid period (RFC 3339).
    pub period_end: String,
    /// Joined (RFC 3339).
    pub since: String,
}

/// A membership's tier.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipTier {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Rank.
    pub rank: i64,
    /// Monthly price, minor units.
    pub price_minor: i64,
    /// ISO 4217.
    pub currency: String,
}

fn membership_tier(m: &MembershipRow) -> Option<MembershipTier> {
    Some(MembershipTier {
        id: m.tier_id?,
        name: m.tier_name.clone()?,
        rank: m.tier_rank?,
        price_minor: m.tier_price_minor?,
        currency: m.tier_currency.clone()?,
    })
}

fn membership_view(m: MembershipRow) -> MembershipView {
    MembershipView {
        tier: membership_tier(&m),
        channel: m.other_handle,
        channel_name: m.other_name,
        channel_avatar_url: m
            .other_avatar_key
            .as_deref()
            .map(crate::service::profiles::media_url),
        status: m.status,
        provider: m.provider,
        period_end: rfc3339(m.period_end),
        since: rfc3339(m.created_at),
    }
}

/// The caller's memberships.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyMemberships {
    /// Newest first.
    pub memberships: Vec<MembershipView>,
}

/// A member as their creator sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// Display name.
    pub name: String,
    /// Channel handle, if they chose one.
    pub handle: Option<String>,
    /// Avatar (root-relative).
    pub avatar_url: Option<String>,
    /// Their tier, if it still exists.
    pub tier: Option<MembershipTier>,
    /// `active` or `canceled`.
    pub status: String,
    /// End of the paid period (RFC 3339).
    pub period_end: String,
    /// Joined (RFC 3339).
    pub since: String,
}

/// A page of the caller's members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyMembers {
    /// Newest first.
    pub members: Vec<MemberView>,
    /// Current members in all.
    pub total: i64,
    /// This page, from 1.
    pub page: i64,
}

/// A page.
#[derive(Debug, Deserialize, IntoParams)]
pub struct MembersQuery {
    /// From 1; default 1.
    pub page: Option<i64>,
    /// 1 to 100; default 50.
    pub limit: Option<i64>,
}

/// A channel's tiers, for its Join button.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelTiers {
    /// Tiers viewers may join, by rank.
    pub tiers: Vec<TierView>,
    /// The caller's membership of the channel, if signed in and a member.
    pub membership: Option<MembershipView>,
}

fn tier_body_input(b: TierBody) -> TierInput {
    b.into()
}

/// The caller's tiers, and the default template while they have none.
#[utoipa::path(get, path = "/api/me/tiers", tag = "memberships", security(("bearer" = [])),
    responses((status = 200, body = MyTiers), (status = 401, body = ErrorBody)))]
pub async fn my_tiers(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<MyTiers>> {
    let tiers = state.memberships.tiers(auth.user.id).await?;
    let template = if tiers.is_empty() {
        crate::service::memberships::default_template()
            .into_iter()
            .map(|t| TemplateTier {
                name: t.name,
                price_minor: t.price_minor,
                currency: t.currency,
                perks: t.perks,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Json(MyTiers {
        tiers: tiers.into_iter().map(TierView::from).collect(),
        template,
    }))
}

/// Create a tier.
#[utoipa::path(post, path = "/api/me/tiers", tag = "memberships", security(("bearer" = [])), request_body = TierBody,
    responses((status = 201, body = TierView), (status = 409, body = ErrorBody, description = "`TOO_MANY_TIERS`"), (status = 422, body = ErrorBody)))]
pub async fn create_tier(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<TierBody>,
) -> ApiResult<(StatusCode, Json<TierView>)> {
    let t = state
        .memberships
        .create_tier(auth.user.id, tier_body_input(body))
        .await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// Create the default tiers (MHC's $5 / $15 / $50 / $250 with their perks) on a channel that has
/// none.
#[utoipa::path(post, path = "/api/me/tiers/template", tag = "memberships", security(("bearer" = [])),
    responses((status = 201, body = MyTiers), (status = 409, body = ErrorBody, description = "`TIERS_EXIST`")))]
pub async fn apply_template(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<(StatusCode, Json<MyTiers>)> {
    let tiers = state.memberships.apply_template(auth.user.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(MyTiers {
            tiers: tiers.into_iter().map(TierView::from).collect(),
            template: Vec::new(),
        }),
    ))
}

/// Change a tier (its members renew at the new price).
#[utoipa::path(put, path = "/api/me/tiers/{id}", tag = "memberships", security(("bearer" = [])), request_body = TierBody,
    params(("id" = i64, Path, description = "Tier id")),
    responses((status = 200, body = TierView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_tier(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<TierBody>,
) -> ApiResult<Json<TierView>> {
    let t = state
        .memberships
        .update_tier(auth.user.id, id, tier_body_input(body))
        .await?;
    Ok(Json(t.into()))
}

/// Remove a tier: deleted if nobody ever held it, retired (closed to new members) otherwise.
#[utoipa::path(delete, path = "/api/me/tiers/{id}", tag = "memberships", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Tier id")),
    responses((status = 200, body = TierRemoved), (status = 404, body = ErrorBody)))]
pub async fn delete_tier(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<TierRemoved>> {
    let outcome = match state.memberships.remove_tier(auth.user.id, id).await? {
        TierRemoval::Deleted => "deleted",
        _ => "retired",
    };
    Ok(Json(TierRemoved {
        outcome: outcome.into(),
    }))
}

/// A channel's tiers viewers may join, with the caller's membership (anyone).
#[utoipa::path(get, path = "/api/channels/{handle}/tiers", tag = "memberships",
    params(("handle" = String, Path, description = "The channel's handle")),
    responses((status = 200, body = ChannelTiers), (status = 404, body = ErrorBody)))]
pub async fn channel_tiers(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    Path(handle): Path<String>,
) -> ApiResult<Json<ChannelTiers>> {
    let channel = crate::service::follows::channel(&state.db, &handle).await?;
    let tiers = state.memberships.open_tiers(channel.id).await?;
    let membership = match auth {
        Some(a) => state
            .memberships
            .mine(a.user.id)
            .await?
            .into_iter()
            .find(|m| m.creator_id == channel.id && m.status != "ended")
            .map(membership_view),
        None => None,
    };
    Ok(Json(ChannelTiers {
        tiers: tiers.into_iter().map(TierView::from).collect(),
        membership,
    }))
}

/// The caller's memberships.
#[utoipa::path(get, path = "/api/me/memberships", tag = "memberships", security(("bearer" = [])),
    responses((status = 200, body = MyMemberships), (status = 401, body = ErrorBody)))]
pub async fn my_memberships(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<MyMemberships>> {
    let rows = state.memberships.mine(auth.user.id).await?;
    Ok(Json(MyMemberships {
        memberships: rows.into_iter().map(membership_view).collect(),
    }))
}

/// Cancel the caller's membership of a channel: not renewed (Stripe told to stop billing it),
/// it ends with the paid period.
#[utoipa::path(post, path = "/api/me/memberships/{handle}/cancel", tag = "memberships", security(("bearer" = [])),
    params(("handle" = String, Path, description = "The channel's handle")),
    responses((status = 200, body = MembershipView), (status = 404, body = ErrorBody, description = "No active membership of that channel"), (status = 502, body = ErrorBody, description = "Stripe, which bills the membership, could not stop it; nothing changed")))]
pub async fn cancel_membership(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(handle): Path<String>,
) -> ApiResult<Json<MembershipView>> {
    let channel = crate::service::follows::channel(&state.db, &handle).await?;
    // A membership Stripe bills is stopped there first (it ends with the paid period, no more
    // invoices); if Stripe cannot be reached nothing changes here and the member can retry.
    let billed = state
        .db
        .purchases_by_buyer(auth.user.id, 1000)
        .await?
        .into_iter()
        .find(|p| {
            p.kind == "membership"
                && p.creator_id == channel.id
                && p.provider == "stripe"
                && p.paid_at.is_some()
        })
        .and_then(|p| p.provider_subscription_id);
    let active = state
        .memberships
        .mine(auth.user.id)
        .await?
        .into_iter()
        .any(|m| m.creator_id == channel.id && m.status == "active");
    if let (Some(sub), true) = (billed, active) {
        crate::gateways::stripe_cancel_at_period_end(&state, &sub, true).await?;
    }
    state.memberships.cancel(auth.user.id, channel.id).await?;
    let m = state
        .memberships
        .mine(auth.user.id)
        .await?
        .into_iter()
        .find(|m| m.creator_id == channel.id)
        .ok_or(MembershipsError::NotFound)?;
    Ok(Json(membership_view(m)))
}

/// The caller's current members, newest first.
#[utoipa::path(get, path = "/api/me/members", tag = "memberships", security(("bearer" = [])), params(MembersQuery),
    responses((status = 200, body = MyMembers), (status = 401, body = ErrorBody)))]
pub async fn my_members(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<MembersQuery>,
) -> ApiResult<Json<MyMembers>> {
    let page = q.page.unwrap_or(1).max(1);
    let (rows, total) = state
        .memberships
        .members(
            auth.user.id,
            page,
            q.limit.unwrap_or(50),
            state.config.payments.grace_days,
        )
        .await?;
    Ok(Json(MyMembers {
        members: rows
            .into_iter()
            .map(|m| MemberView {
                tier: membership_tier(&m),
                name: m.other_name,
                handle: m.other_handle,
                avatar_url: m
                    .other_avatar_key
                    .as_deref()
                    .map(crate::service::profiles::media_url),
                status: m.status,
                period_end: rfc3339(m.period_end),
                since: rfc3339(m.created_at),
            })
            .collect(),
        total,
        page,
    }))
}

/// An access level to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessBody {
    /// `public`, `members` or `ppv`.
    pub level: String,
    /// `members`: the lowest tier that may watch (one of the caller's); none: any member.
    pub tier_id: Option<i64>,
    /// `ppv`: the price in minor units, 100 to 1 000 000.
    pub price_minor: Option<i64>,
    /// `ppv`: ISO 4217; default USD.
    pub currency: Option<String>,
}

impl From<AccessBody> for AccessInput {
    fn from(b: AccessBody) -> Self {
        Self {
            level: b.level,
            tier_id: b.tier_id,
            price_minor: b.price_minor,
            currency: b.currency,
        }
    }
}

/// Set who may watch a video (owner): everyone who may see it, members (of at least a
/// tier), or buyers of a one-time purchase.
#[utoipa::path(put, path = "/api/videos/{id}/access", tag = "memberships", security(("bearer" = [])), request_body = AccessBody,
    params(("id" = String, Path, description = "The video's public id")),
    responses((status = 200, body = ContentAccess), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_video_access(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AccessBody>,
) -> ApiResult<Json<ContentAccess>> {
    let v = state
        .videos
        .owned(&id, auth.user.id)
        .await
        .map_err(|_| video_not_found())?;
    state
        .memberships
        .set_video_access(auth.user.id, v.id, &body.into())
        .await?;
    let v = state
        .db
        .video_by_id(v.id)
        .await?
        .ok_or_else(video_not_found)?;
    Ok(Json(
        content_access(&state, &Level::of_video(&v), true, true).await?,
    ))
}

/// Who may watch a stream (owner).
#[utoipa::path(get, path = "/api/sources/{id}/access", tag = "memberships", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source id")),
    responses((status = 200, body = ContentAccess), (status = 404, body = ErrorBody)))]
pub async fn get_source_access(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ContentAccess>> {
    let src = state.sources.own(&auth, &id).await?;
    Ok(Json(
        content_access(&state, &Level::of_source(&src), true, true).await?,
    ))
}

/// Set who may watch a stream (owner): everyone, members (of at least a tier), or buyers of
/// a one-time purchase (a pay-per-view event). HLS, LL-HLS, HTTP-FLV and RTMP play follow
/// within seconds on every node.
#[utoipa::path(put, path = "/api/sources/{id}/access", tag = "memberships", security(("bearer" = [])), request_body = AccessBody,
    params(("id" = String, Path, description = "Source id")),
    responses((status = 200, body = ContentAccess), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_source_access(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AccessBody>,
) -> ApiResult<Json<ContentAccess>> {
    let src = state.sources.own(&auth, &id).await?;
    state
        .memberships
        .set_source_access(auth.user.id, src.id, &body.into())
        .await?;
    state.access.forget_stream(&src.playback_id);
    let src = state
        .db
        .source_by_id(src.id)
        .await?
        .ok_or_else(crate::routes::watch::stream_not_found)?;
    Ok(Json(
        content_access(&state, &Level::of_source(&src), true, true).await?,
    ))
}

/// Where the caller plays a live stream, and whether they may.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveAccess {
    /// Who may watch it.
    pub access: ContentAccess,
    /// The stream's source id (what a pay-per-view purchase names).
    pub source_id: i64,
    /// HLS (LL-HLS) entry point (root-relative), when the caller may watch; a gated stream's
    /// carries the caller's playback token.
    pub hls: Option<String>,
    /// HTTP-FLV (root-relative), likewise.
    pub flv: Option<String>,
    /// What follows `rtmp://HOST/play/`, likewise.
    pub rtmp_name: Option<String>,
}

/// A live stream's playback addresses for the caller (anyone; a gated stream's only to
/// its creator, members or buyers, with a token bound to them and their address).
#[utoipa::path(get, path = "/api/watch/{playback_id}/access", tag = "playback",
    params(("playback_id" = String, Path, description = "The stream's public playback id")),
    responses((status = 200, body = LiveAccess), (status = 404, body = ErrorBody)))]
pub async fn live_access(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    ClientIp(ip): ClientIp,
    Path(playback_id): Path<String>,
) -> ApiResult<Json<LiveAccess>> {
    if !ferrocast_domain::media::is_safe_id(&playback_id) {
        return Err(crate::routes::watch::stream_not_found());
    }
    let g = state
        .access
        .stream_gate(&playback_id)
        .await?
        .ok_or_else(crate::routes::watch::stream_not_found)?;
    let viewer = auth.map(|a| a.user.id);
    let entitled = match viewer {
        Some(u) => state.access.entitled(u, &g).await?,
        None => !g.level.is_gated(),
    };
    let access = content_access(&state, &g.level, entitled, viewer.is_some()).await?;
    let id = &playback_id;
    let (hls, flv, rtmp_name) = if !g.level.is_gated() {
        (
            Some(format!("/hls/{id}/index.m3u8")),
            Some(format!("/live/{id}.flv")),
            Some(id.clone()),
        )
    } else if let (true, Some(u)) = (entitled, viewer) {
        let t = state.access.issue(Content::Stream(id), u, ip);
        (
            Some(format!("/hls/{id}/index.m3u8?token={t}")),
            Some(format!("/live/{id}.flv?token={t}")),
            Some(format!("{id}?token={t}")),
        )
    } else {
        (None, None, None)
    };
    Ok(Json(LiveAccess {
        access,
        source_id: g.source_id.unwrap_or_default(),
        hls,
        flv,
        rtmp_name,
    }))
}
