//! The work of a campaign (issue 24): its escrow (`/api/campaigns/{id}/escrow`), deliverables
//! (`/api/applications/{id}/deliverables`, `/api/deliverables/{id}/…`: versions, rollback,
//! review, usage rights and consent, hotspots), the brand's embed (`/api/embed/…`), and
//! attribution (`/api/campaigns/{id}/conversions` signed by the brand, the pixel, and
//! `/api/campaigns/{id}/report`, JSON or CSV).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::gateways;
use crate::routes::videos::{video_view, VideoView};
use crate::service::accounts::AuthUser;
use crate::service::audit::{Actor, AuditEvent};
use crate::service::campaign_work::{
    rights_of, DeliverableFull, Handed, Report, Side, REPORT_CONVERSIONS,
};
use crate::service::campaigns::CampaignError;
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use ferrocast_db::billing::GatewayEvent;
use ferrocast_db::campaign_work::{
    ConversionRecord, DeliverableRecord, FundingApplied, FundingRecord, HotspotRecord, Release,
};
use ferrocast_db::campaigns::CampaignRecord;
use ferrocast_domain::attribution::Model;
use ferrocast_payments::stripe;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An optional instant in RFC 3339 (absent or empty: none), or a 422 naming `field`.
pub(crate) fn instant(field: &str, raw: Option<&str>) -> ApiResult<Option<i64>> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => ferrocast_domain::schedule::parse_instant(s)
            .map(Some)
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "{field}: RFC 3339 with an offset, e.g. 2026-12-24T18:00:00Z"
                ))
            }),
    }
}

// ------------------------------------------------------------------------------ shapes

/// A payment into escrow.
#[derive(Debug, Serialize, ToSchema)]
pub struct EscrowPaymentView {
    /// Its id.
    pub id: String,
    /// Minor units.
    pub amount_minor: i64,
    /// `created` (not paid yet) or `paid`.
    pub status: String,
    /// Refunded of it.
    pub refunded_minor: i64,
    /// The gateway.
    pub gateway: String,
    /// Started (RFC 3339).
    pub created_at: String,
    /// Paid (RFC 3339).
    pub paid_at: Option<String>,
}

/// A campaign's escrow.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignEscrowView {
    /// ISO 4217.
    pub currency: String,
    /// The budget.
    pub budget_minor: i64,
    /// Paid in.
    pub funded_minor: i64,
    /// Released to creators (fees included).
    pub released_minor: i64,
    /// Refunded to the brand.
    pub refunded_minor: i64,
    /// Held now.
    pub held_minor: i64,
    /// What the budget still lacks in escrow.
    pub due_minor: i64,
    /// The payments, oldest first.
    pub payments: Vec<EscrowPaymentView>,
}

/// How to pay into escrow.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignEscrowForm {
    /// `stripe`.
    pub gateway: String,
}

/// Where to pay.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignEscrowStarted {
    /// The payment's id.
    pub payment_id: String,
    /// The gateway's checkout page.
    pub url: String,
    /// Minor units to pay.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
}

/// A deliverable as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliverableView {
    /// Its id.
    pub id: String,
    /// The campaign's id.
    pub campaign: String,
    /// The campaign's title.
    pub campaign_title: String,
    /// Its type (`VIDEO` …).
    pub kind: String,
    /// Title.
    pub title: String,
    /// `submitted`, `revision_requested`, `approved` or `rejected`.
    pub status: String,
    /// The version under review (or approved).
    pub version: i64,
    /// The FTC disclosure.
    pub disclosure: Option<String>,
    /// The creator's handle.
    pub creator_handle: String,
    /// The creator's name.
    pub creator_name: String,
    /// Usage rights, once proposed.
    pub rights: Option<DeliverableRightsView>,
    /// Approved (RFC 3339).
    pub approved_at: Option<String>,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// The brand's embed page.
    pub embed_url: String,
}

/// Usage rights of a deliverable.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliverableRightsView {
    /// `exclusive`, `non_exclusive`, `limited` or `perpetual`.
    pub kind: String,
    /// End of the licence (RFC 3339).
    pub until: Option<String>,
    /// Where a limited licence holds.
    pub territories: Vec<String>,
    /// Proposed (RFC 3339).
    pub proposed_at: Option<String>,
    /// The creator consented (RFC 3339); the rights hold only then.
    pub consented_at: Option<String>,
    /// Whether they permit the brand's use now (anywhere for a limited licence: in one of its
    /// territories).
    pub in_force: bool,
}

/// A version of a deliverable.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliverableVersionView {
    /// 1, 2, …
    pub version: i64,
    /// Its video.
    pub video: Option<VideoView>,
    /// Text.
    pub body: String,
    /// A link.
    pub link: Option<String>,
    /// The creator's note.
    pub note: String,
    /// Handed in (RFC 3339).
    pub created_at: String,
}

/// Something that happened to a deliverable.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliverableEventView {
    /// The version.
    pub version: i64,
    /// Who.
    pub actor: Option<String>,
    /// `submitted`, `resubmitted`, `rolled_back`, `approved`, `revision_requested`,
    /// `rejected`, `rights_proposed`, `rights_consented`.
    pub action: String,
    /// The comment.
    pub comment: String,
    /// When (RFC 3339).
    pub at: String,
}

/// A product hotspot.
#[derive(Debug, Serialize, ToSchema)]
pub struct HotspotView {
    /// Its id.
    pub id: i64,
    /// From (seconds into the video).
    pub start_seconds: f64,
    /// To.
    pub end_seconds: f64,
    /// Across (per cent of the width).
    pub x: f64,
    /// Down (per cent of the height).
    pub y: f64,
    /// The product.
    pub product: String,
    /// Where it is bought (through the click-tracking link in an embed).
    pub link: String,
}

/// A deliverable with its versions and history.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliverableOne {
    /// The deliverable.
    pub deliverable: DeliverableView,
    /// Its versions, oldest first.
    pub versions: Vec<DeliverableVersionView>,
    /// What happened to it, oldest first.
    pub history: Vec<DeliverableEventView>,
    /// Its hotspots.
    pub hotspots: Vec<HotspotView>,
    /// The caller's side: `brand` or `creator`.
    pub side: String,
}

/// A campaign's deliverables.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliverableList {
    /// Oldest first.
    pub deliverables: Vec<DeliverableView>,
}

/// A deliverable to hand in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverableForm {
    /// `VIDEO`, `IMAGE`, `STORY`, `REEL`, `POST`, `ARTICLE` or `REVIEW`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Title.
    pub title: String,
    /// One of your videos (its id): needed for `VIDEO`, `REEL` and `STORY`.
    #[serde(default)]
    pub video: Option<String>,
    /// Text.
    #[serde(default)]
    pub body: String,
    /// A link.
    #[serde(default)]
    pub link: Option<String>,
    /// A note to the brand.
    #[serde(default)]
    pub note: String,
    /// The FTC disclosure (such as "#ad"), needed before approval except for `IMAGE`.
    #[serde(default)]
    pub disclosure: Option<String>,
}

/// A new version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverableVersionForm {
    /// The version you revised (the current one).
    pub version: i64,
    /// One of your videos.
    #[serde(default)]
    pub video: Option<String>,
    /// Text.
    #[serde(default)]
    pub body: String,
    /// A link.
    #[serde(default)]
    pub link: Option<String>,
    /// What changed.
    #[serde(default)]
    pub note: String,
    /// The FTC disclosure.
    #[serde(default)]
    pub disclosure: Option<String>,
}

/// A rollback.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverableRollbackForm {
    /// The current version.
    pub version: i64,
    /// The version to make current again.
    pub to: i64,
}

/// The brand's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverableReviewForm {
    /// The version reviewed (the current one).
    pub version: i64,
    /// `approve`, `revise` or `reject`.
    pub decision: String,
    /// What to change, or why (needed for `revise` and `reject`).
    #[serde(default)]
    pub comment: String,
    /// The disclosure, if the creator's needs correcting.
    #[serde(default)]
    pub disclosure: Option<String>,
}

/// Usage rights proposed by the brand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverableRightsForm {
    /// `exclusive`, `non_exclusive`, `limited` or `perpetual`.
    pub kind: String,
    /// End of the licence (RFC 3339); needed for `limited`.
    #[serde(default)]
    pub until: Option<String>,
    /// Two-letter country codes; needed for `limited` only.
    #[serde(default)]
    pub territories: Vec<String>,
}

/// A hotspot to place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HotspotForm {
    /// From (seconds).
    pub start_seconds: f64,
    /// To (seconds).
    pub end_seconds: f64,
    /// Across (per cent of the width, 0 to 100).
    pub x: f64,
    /// Down (per cent of the height).
    pub y: f64,
    /// The product.
    pub product: String,
    /// Where it is bought.
    pub link: String,
}

/// A deliverable as the brand's embed plays it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliverableEmbedView {
    /// Its id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The creator's name.
    pub creator_name: String,
    /// The disclosure shown with it.
    pub disclosure: Option<String>,
    /// The approved version's video.
    pub video: Option<VideoView>,
    /// Its text.
    pub body: String,
    /// Hotspots (their links go through the click tracker).
    pub hotspots: Vec<HotspotView>,
}

/// A conversion reported by the brand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversionForm {
    /// The brand's order id (a second report of it changes nothing).
    pub order_id: String,
    /// The visitor id the embed gave the buyer.
    pub visitor: String,
    /// Its value, minor units (negative for a refund).
    pub value_minor: i64,
    /// ISO 4217: the campaign's.
    pub currency: String,
    /// When it happened (RFC 3339).
    pub at: String,
}

/// What a conversion did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversionTaken {
    /// Whether it was new.
    pub recorded: bool,
}

/// The campaign's conversion secret and where conversions go.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversionSetup {
    /// The secret: sign each body with HMAC-SHA256 under it, sent as
    /// `X-Ferrocast-Signature: sha256=<hex>`.
    pub secret: String,
    /// Where to post conversions.
    pub webhook_url: String,
    /// The pixel: add the fields as a query, then `&sig=` the HMAC-SHA256 (hex) of the query
    /// before it.
    pub pixel_url: String,
}

/// A report query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// `first_touch`, `last_touch`, `linear` or `time_decay` (default `last_touch`).
    pub model: Option<String>,
    /// Time decay's half-life in hours (default 168).
    pub half_life_hours: Option<i64>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One line of a report.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditLine {
    /// The creator's handle, or the deliverable's id.
    pub key: String,
    /// The creator's handle.
    pub creator: String,
    /// Conversions it earned credit from.
    pub conversions: i64,
    /// Touchpoints of converting visitors.
    pub touchpoints: i64,
    /// Value credited (minor units).
    pub credited_minor: i64,
}

/// An attribution report.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttributionReport {
    /// The model.
    pub model: String,
    /// ISO 4217.
    pub currency: String,
    /// Conversions counted.
    pub conversions: i64,
    /// Their value.
    pub value_minor: i64,
    /// Value with no touchpoint in the 30 days before.
    pub unattributed_minor: i64,
    /// Views recorded.
    pub views: i64,
    /// Hotspot clicks recorded.
    pub clicks: i64,
    /// By creator.
    pub creators: Vec<CreditLine>,
    /// By deliverable.
    pub deliverables: Vec<CreditLine>,
}

/// The embed's query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EmbedQuery {
    /// The visitor id the brand's page keeps for its visitor (views are touchpoints of it).
    pub visitor: Option<String>,
    /// Where the brand uses the content (two-letter country code), for a limited licence.
    pub country: Option<String>,
}

/// A hotspot click's query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct HotspotClickQuery {
    /// The visitor id.
    pub visitor: Option<String>,
    /// Where the brand uses the content.
    pub country: Option<String>,
}

// ------------------------------------------------------------------------------ views

fn rights_view(state: &AppState, d: &DeliverableRecord) -> Option<DeliverableRightsView> {
    let rights = rights_of(d)?;
    let now = state.clock.now_ms();
    let in_force = d.rights_consented_at.is_some()
        && match &rights {
            ferrocast_domain::campaign::UsageRights::Limited { territories, .. } => territories
                .first()
                .is_some_and(|t| rights.permits(now, Some(t)).is_ok()),
            r => r.permits(now, None).is_ok(),
        };
    Some(DeliverableRightsView {
        kind: rights.kind().to_string(),
        until: rights.until_ms().map(rfc3339),
        territories: match &rights {
            ferrocast_domain::campaign::UsageRights::Limited { territories, .. } => {
                territories.clone()
            }
            _ => Vec::new(),
        },
        proposed_at: d.rights_proposed_at.map(rfc3339),
        consented_at: d.rights_consented_at.map(rfc3339),
        in_force,
    })
}

fn deliverable_view(
    state: &AppState,
    d: &DeliverableRecord,
    c: &CampaignRecord,
) -> DeliverableView {
    DeliverableView {
        id: d.uuid.clone(),
        campaign: c.uuid.clone(),
        campaign_title: c.title.clone(),
        kind: d.kind.clone(),
        title: d.title.clone(),
        status: d.status.clone(),
        version: d.current_version,
        disclosure: d.disclosure.clone(),
        creator_handle: d.creator_handle.clone(),
        creator_name: d.creator_name.clone(),
        rights: rights_view(state, d),
        approved_at: d.approved_at.map(rfc3339),
        updated_at: rfc3339(d.updated_at),
        embed_url: format!(
            "{}/embed/deliverables/{}",
            state.config.public_url.trim_end_matches('/'),
            d.uuid
        ),
    }
}

fn hotspot_view(h: &HotspotRecord) -> HotspotView {
    HotspotView {
        id: h.id,
        start_seconds: h.start_ms as f64 / 1000.0,
        end_seconds: h.end_ms as f64 / 1000.0,
        x: h.x_bp as f64 / 100.0,
        y: h.y_bp as f64 / 100.0,
        product: h.product.clone(),
        link: h.link.clone(),
    }
}

async fn campaign_uuid(state: &AppState, id: i64) -> ApiResult<String> {
    Ok(state
        .db
        .campaign_by_id(id)
        .await?
        .map(|c| c.uuid)
        .unwrap_or_default())
}

fn full_view(
    state: &AppState,
    f: &DeliverableFull,
    campaign: &CampaignRecord,
    side: Side,
    viewer: i64,
) -> DeliverableOne {
    DeliverableOne {
        deliverable: deliverable_view(state, &f.d, campaign),
        versions: f
            .versions
            .iter()
            .zip(&f.videos)
            .map(|(v, video)| DeliverableVersionView {
                version: v.version,
                video: video
                    .as_ref()
                    .map(|rec| video_view(state, rec, None, Some(viewer))),
                body: v.body.clone(),
                link: v.link.clone(),
                note: v.note.clone(),
                created_at: rfc3339(v.created_at),
            })
            .collect(),
        history: f
            .events
            .iter()
            .map(|e| DeliverableEventView {
                version: e.version,
                actor: e.actor_name.clone(),
                action: e.action.clone(),
                comment: e.comment.clone(),
                at: rfc3339(e.created_at),
            })
            .collect(),
        hotspots: f.hotspots.iter().map(hotspot_view).collect(),
        side: match side {
            Side::Brand(_) => "brand",
            Side::Creator => "creator",
        }
        .to_string(),
    }
}

/// Deliverable `uuid` with its campaign and the brand's name, for the notices after a change.
async fn for_notice(
    state: &AppState,
    uuid: &str,
) -> ApiResult<Option<(DeliverableRecord, CampaignRecord, String)>> {
    let Some(d) = state.db.deliverable_by_uuid(uuid).await? else {
        return Ok(None);
    };
    let Some(c) = state.db.campaign_by_id(d.campaign_id).await? else {
        return Ok(None);
    };
    let brand = state
        .db
        .brand_by_id(c.brand_id)
        .await?
        .map(|b| b.name)
        .unwrap_or_default();
    Ok(Some((d, c, brand)))
}

/// Tells the brand a version is ready for review.
async fn tell_brand(state: &AppState, uuid: &str) -> ApiResult<()> {
    if let Some((d, c, _)) = for_notice(state, uuid).await? {
        crate::campaign_notices::handed_in(state, &c, &d).await;
    }
    Ok(())
}

/// Tells the creator what the brand did (`what`: the new status, or `rights_proposed`).
async fn tell_creator(state: &AppState, uuid: &str, what: &str, comment: &str) -> ApiResult<()> {
    if let Some((d, _, brand)) = for_notice(state, uuid).await? {
        crate::campaign_notices::decided(state, &brand, &d, what, comment).await;
    }
    Ok(())
}

async fn deliverable_one(
    state: &AppState,
    auth: &AuthUser,
    uuid: &str,
) -> ApiResult<Json<DeliverableOne>> {
    let (d, c, side) = state.brands.deliverable_for(&auth.user, uuid).await?;
    let f = state.brands.full(d).await?;
    Ok(Json(full_view(state, &f, &c, side, auth.user.id)))
}

fn audit<'a>(
    actor: i64,
    action: &'a str,
    d: &'a DeliverableRecord,
    details: serde_json::Value,
) -> AuditEvent<'a> {
    AuditEvent::new(action, Actor::User(actor))
        .subject("campaign_deliverable", &d.uuid)
        .details(details)
}

// ------------------------------------------------------------------------------ escrow

fn escrow_view(
    c: &CampaignRecord,
    e: &ferrocast_db::campaign_work::EscrowState,
    fundings: &[FundingRecord],
) -> CampaignEscrowView {
    CampaignEscrowView {
        currency: c.currency.clone(),
        budget_minor: c.budget_minor,
        funded_minor: e.funded,
        released_minor: e.released,
        refunded_minor: e.refunded,
        held_minor: e.held,
        due_minor: (c.budget_minor - (e.funded - e.refunded)).max(0),
        payments: fundings
            .iter()
            .map(|f| EscrowPaymentView {
                id: f.uuid.clone(),
                amount_minor: f.amount_minor,
                status: f.status.clone(),
                refunded_minor: f.refunded_minor,
                gateway: f.provider.clone(),
                created_at: rfc3339(f.created_at),
                paid_at: f.paid_at.map(rfc3339),
            })
            .collect(),
    }
}

/// A campaign's escrow: the budget, what is paid in, released, refunded and held (brand
/// members).
#[utoipa::path(get, path = "/api/campaigns/{id}/escrow", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, body = CampaignEscrowView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn campaign_escrow(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignEscrowView>> {
    let (c, e, fundings) = state.brands.escrow(&auth.user, &id).await?;
    Ok(Json(escrow_view(&c, &e, &fundings)))
}

/// Pay what the budget still lacks into escrow (managers): answers the gateway's checkout page;
/// the gateway's confirmation puts the money in escrow.
#[utoipa::path(post, path = "/api/campaigns/{id}/escrow", tag = "campaigns", security(("bearer" = [])), request_body = CampaignEscrowForm,
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 201, body = CampaignEscrowStarted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`ESCROW_FUNDED` or `CAMPAIGN_CLOSED`"),
              (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn fund_campaign(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<CampaignEscrowForm>,
) -> ApiResult<(StatusCode, Json<CampaignEscrowStarted>)> {
    let (c, brand, funding) = state
        .brands
        .start_funding(&auth.user, &id, f.gateway.trim())
        .await?;
    let page = format!(
        "{}/campaigns/{}",
        state.config.public_url.trim_end_matches('/'),
        c.uuid
    );
    let product = format!("Budget of \"{}\" ({brand}), held in escrow", c.title);
    let form = stripe::escrow_checkout_form(&stripe::PurchaseCheckout {
        mode: stripe::PurchaseMode::Payment,
        unit_amount: funding.amount_minor,
        currency: &funding.currency,
        product_name: &product,
        purchase: &funding.uuid,
        customer_email: Some(&auth.user.email),
        success_url: &format!("{page}?escrow=paid"),
        cancel_url: &format!("{page}?escrow=canceled"),
    });
    let (session, url) = gateways::stripe_checkout(&state, &form).await?;
    state.brands.funding_started(&funding, &session).await?;
    state
        .audit
        .note(
            AuditEvent::new("campaign.escrow_started", Actor::User(auth.user.id))
                .subject("campaign", &c.uuid)
                .details(serde_json::json!({"payment": funding.uuid, "amount_minor": funding.amount_minor, "currency": funding.currency, "gateway": funding.provider})),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CampaignEscrowStarted {
            payment_id: funding.uuid,
            url,
            amount_minor: funding.amount_minor,
            currency: funding.currency,
        }),
    ))
}

/// Stripe's completed Checkout of a payment into escrow (from the Stripe webhook, signature
/// checked): into escrow once; `applied`.
pub async fn stripe_escrow_paid(
    state: &AppState,
    event: &GatewayEvent<'_>,
    c: &stripe::CheckoutCompleted,
    uuid: &str,
) -> ApiResult<bool> {
    if c.payment_status != "paid" {
        return Ok(false);
    }
    let payment = c.payment_intent.as_deref().unwrap_or(&c.session_id);
    let (f, applied) = match state
        .brands
        .funding_paid(Some(event), uuid, payment, c.amount_total, &c.currency)
        .await
    {
        Ok(x) => x,
        Err(CampaignError::NotFound(_)) => {
            let detail = format!("session {} names campaign payment {uuid}", c.session_id);
            let outcome = state
                .billing
                .not_applied(
                    event,
                    ferrocast_domain::billing::NotApplied::UnknownOrder,
                    &detail,
                )
                .await?;
            return Ok(outcome.applied);
        }
        Err(e) => return Err(e.into()),
    };
    let details = serde_json::json!({"payment": f.uuid, "amount_minor": f.amount_minor, "currency": f.currency, "gateway": f.provider, "event": event.id});
    match applied {
        FundingApplied::Done(tx) => {
            let c = campaign_uuid(state, f.campaign_id).await?;
            state
                .audit
                .note(
                    AuditEvent::new("campaign.escrow_paid", Actor::System)
                        .subject("campaign", &c)
                        .details(serde_json::json!({"payment": f.uuid, "amount_minor": f.amount_minor, "currency": f.currency, "ledger_transaction": tx})),
                )
                .await;
            Ok(true)
        }
        FundingApplied::Duplicate => Ok(false),
        FundingApplied::Ignored(reason) => {
            tracing::error!(
                payment = f.uuid,
                reason = reason.as_str(),
                "a campaign payment did not match what was due"
            );
            state
                .audit
                .note(
                    AuditEvent::new("campaign.escrow_refused", Actor::System)
                        .subject("campaign_payment", &f.uuid)
                        .details(details),
                )
                .await;
            Ok(false)
        }
    }
}

/// Refunds what campaign `c`'s escrow holds through the gateway, payment by payment; what
/// the gateway refuses stays in escrow (logged; `POST /api/campaigns/{id}/escrow/refund`
/// tries again).
pub async fn refund_escrow(state: &AppState, c: &CampaignRecord, actor: i64) -> ApiResult<i64> {
    let mut refunded = 0;
    for (f, amount) in state.brands.refunds_due(c).await? {
        let Some(payment) = f.provider_payment_id.as_deref() else {
            continue;
        };
        let reference = format!("campaign-refund:{}:{}", f.uuid, f.refunded_minor);
        match gateways::stripe_refund(state, payment, amount, &reference).await {
            Ok(refund) => {
                if state.brands.refunded(&f, amount, &refund).await? {
                    refunded += amount;
                    state
                        .audit
                        .note(
                            AuditEvent::new("campaign.escrow_refunded", Actor::User(actor))
                                .subject("campaign", &c.uuid)
                                .details(serde_json::json!({"payment": f.uuid, "amount_minor": amount, "currency": f.currency, "refund": refund})),
                        )
                        .await;
                }
            }
            Err(e) => {
                tracing::error!(campaign = c.uuid, payment = f.uuid, error = %e.body.details, "refunding a campaign's escrow failed");
            }
        }
    }
    Ok(refunded)
}

/// Refund what a cancelled campaign's escrow still holds (managers), after the gateway
/// refused it at the cancellation: the escrow as it stands afterwards.
#[utoipa::path(post, path = "/api/campaigns/{id}/escrow/refund", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, body = CampaignEscrowView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`NOT_CANCELLED`: only a cancelled campaign's escrow is refunded")))]
pub async fn refund_campaign_escrow(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignEscrowView>> {
    let (c, _) = state
        .brands
        .campaign_as(&auth.user, &id, ferrocast_domain::brand::BrandRole::Manager)
        .await?;
    if c.status != "CANCELLED" {
        return Err(ApiError::conflict(
            "NOT_CANCELLED",
            "Not possible now",
            format!(
                "The campaign is {}: escrow is refunded when it is cancelled, and released to creators as you approve their work.",
                c.status
            ),
        ));
    }
    refund_escrow(&state, &c, auth.user.id).await?;
    let (c, e, fundings) = state.brands.escrow(&auth.user, &id).await?;
    Ok(Json(escrow_view(&c, &e, &fundings)))
}

// ------------------------------------------------------------------------ deliverables

/// A campaign's deliverables: all of them for its brand's members, your own for a creator.
#[utoipa::path(get, path = "/api/campaigns/{id}/deliverables", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, body = DeliverableList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn campaign_deliverables(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliverableList>> {
    let (c, list) = state.brands.deliverables(&auth.user, &id).await?;
    Ok(Json(DeliverableList {
        deliverables: list
            .iter()
            .map(|d| deliverable_view(&state, d, &c))
            .collect(),
    }))
}

/// Hand in a deliverable for your accepted application (version 1, under review); the
/// campaign becomes IN_PROGRESS.
#[utoipa::path(post, path = "/api/applications/{id}/deliverables", tag = "campaigns", security(("bearer" = [])), request_body = DeliverableForm,
    params(("id" = String, Path, description = "The application's id")),
    responses((status = 201, body = DeliverableOne), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`NOT_ACCEPTED` or `CAMPAIGN_CLOSED`"), (status = 422, body = ErrorBody)))]
pub async fn submit_deliverable(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<DeliverableForm>,
) -> ApiResult<(StatusCode, Json<DeliverableOne>)> {
    let d = state
        .brands
        .submit(
            &auth.user,
            &id,
            &Handed {
                kind: f.kind,
                title: f.title,
                video: f.video,
                body: f.body,
                link: f.link,
                note: f.note,
                disclosure: f.disclosure,
            },
        )
        .await?;
    tell_brand(&state, &d.uuid).await?;
    Ok((
        StatusCode::CREATED,
        deliverable_one(&state, &auth, &d.uuid).await?,
    ))
}

/// A deliverable with its versions, history and hotspots (the brand's members and its
/// creator).
#[utoipa::path(get, path = "/api/deliverables/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The deliverable's id")),
    responses((status = 200, body = DeliverableOne), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_deliverable(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliverableOne>> {
    deliverable_one(&state, &auth, &id).await
}

/// Hand in a new version (the creator), after a revision request or while under review; it
/// goes to review again. Earlier versions are kept.
#[utoipa::path(post, path = "/api/deliverables/{id}/versions", tag = "campaigns", security(("bearer" = [])), request_body = DeliverableVersionForm,
    params(("id" = String, Path, description = "The deliverable's id")),
    responses((status = 201, body = DeliverableOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn resubmit_deliverable(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<DeliverableVersionForm>,
) -> ApiResult<(StatusCode, Json<DeliverableOne>)> {
    state
        .brands
        .resubmit(
            &auth.user,
            &id,
            f.version,
            &Handed {
                video: f.video,
                body: f.body,
                link: f.link,
                note: f.note,
                disclosure: f.disclosure,
                ..Handed::default()
            },
        )
        .await?;
    tell_brand(&state, &id).await?;
    Ok((
        StatusCode::CREATED,
        deliverable_one(&state, &auth, &id).await?,
    ))
}

/// Make an earlier version current again (the creator), while the deliverable is not
/// decided; it goes to review again.
#[utoipa::path(post, path = "/api/deliverables/{id}/rollback", tag = "campaigns", security(("bearer" = [])), request_body = DeliverableRollbackForm,
    params(("id" = String, Path, description = "The deliverable's id")),
    responses((status = 200, body = DeliverableOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn roll_back_deliverable(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<DeliverableRollbackForm>,
) -> ApiResult<Json<DeliverableOne>> {
    state
        .brands
        .roll_back(&auth.user, &id, f.version, f.to)
        .await?;
    tell_brand(&state, &id).await?;
    deliverable_one(&state, &auth, &id).await
}

/// Decide on the version under review (managers): `approve` (needs the FTC disclosure where
/// the type needs one; pays the creator's rate out of escrow less the platform's fee, once per
/// creator), `revise` with a comment, or `reject` with a comment.
#[utoipa::path(post, path = "/api/deliverables/{id}/review", tag = "campaigns", security(("bearer" = [])), request_body = DeliverableReviewForm,
    params(("id" = String, Path, description = "The deliverable's id")),
    responses((status = 200, body = DeliverableOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`ESCROW_SHORT`: fund the budget first; `DELIVERABLE_CHANGED`, `DELIVERABLE_DECIDED`"),
              (status = 422, body = ErrorBody)))]
pub async fn review_deliverable(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<DeliverableReviewForm>,
) -> ApiResult<Json<DeliverableOne>> {
    let rules = state.purchases.rules();
    let (d, paid) = state
        .brands
        .review(
            &auth.user,
            &id,
            f.version,
            f.decision.trim(),
            &f.comment,
            f.disclosure.as_deref(),
            Release {
                fee_bps: rules.fee_bps,
                hold_ms: rules.hold_ms,
            },
        )
        .await?;
    state
        .audit
        .note(audit(
            auth.user.id,
            &format!("campaign.deliverable_{}", d.status),
            &d,
            serde_json::json!({"version": f.version, "comment": f.comment, "creator": d.creator_id, "ledger_transaction": paid}),
        ))
        .await;
    tell_creator(&state, &id, &d.status, &f.comment).await?;
    deliverable_one(&state, &auth, &id).await
}

/// Propose usage rights (managers): they hold once the creator consents; a new proposal asks
/// again.
#[utoipa::path(put, path = "/api/deliverables/{id}/rights", tag = "campaigns", security(("bearer" = [])), request_body = DeliverableRightsForm,
    params(("id" = String, Path, description = "The deliverable's id")),
    responses((status = 200, body = DeliverableOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn propose_deliverable_rights(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<DeliverableRightsForm>,
) -> ApiResult<Json<DeliverableOne>> {
    let until = instant("until", f.until.as_deref())?;
    let (d, rights) = state
        .brands
        .propose_rights(&auth.user, &id, &f.kind, until, &f.territories)
        .await?;
    state
        .audit
        .note(audit(
            auth.user.id,
            "campaign.rights_proposed",
            &d,
            serde_json::json!({"kind": rights.kind(), "until": rights.until_ms().map(rfc3339), "territories": f.territories, "creator": d.creator_id}),
        ))
        .await;
    tell_creator(&state, &id, "rights_proposed", "").await?;
    deliverable_one(&state, &auth, &id).await
}

/// Consent to the proposed usage rights (the creator).
#[utoipa::path(post, path = "/api/deliverables/{id}/rights/consent", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The deliverable's id")),
    responses((status = 200, body = DeliverableOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn consent_deliverable_rights(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliverableOne>> {
    let (d, rights) = state.brands.consent_rights(&auth.user, &id).await?;
    state
        .audit
        .note(audit(
            auth.user.id,
            "campaign.rights_consented",
            &d,
            serde_json::json!({"kind": rights.kind(), "until": rights.until_ms().map(rfc3339)}),
        ))
        .await;
    deliverable_one(&state, &auth, &id).await
}

/// Place a product hotspot on an approved video deliverable (managers).
#[utoipa::path(post, path = "/api/deliverables/{id}/hotspots", tag = "campaigns", security(("bearer" = [])), request_body = HotspotForm,
    params(("id" = String, Path, description = "The deliverable's id")),
    responses((status = 201, body = DeliverableOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_deliverable_hotspot(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<HotspotForm>,
) -> ApiResult<(StatusCode, Json<DeliverableOne>)> {
    let finite = [f.start_seconds, f.end_seconds, f.x, f.y]
        .iter()
        .all(|v| v.is_finite() && v.abs() < 1e7);
    if !finite {
        return Err(ApiError::validation(
            "start_seconds, end_seconds, x, y: numbers",
        ));
    }
    state
        .brands
        .add_hotspot(
            &auth.user,
            &id,
            &HotspotRecord {
                id: 0,
                deliverable_id: 0,
                start_ms: (f.start_seconds * 1000.0).round() as i64,
                end_ms: (f.end_seconds * 1000.0).round() as i64,
                x_bp: (f.x * 100.0).round() as i64,
                y_bp: (f.y * 100.0).round() as i64,
                product: f.product,
                link: f.link,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        deliverable_one(&state, &auth, &id).await?,
    ))
}

/// Remove a hotspot (managers).
#[utoipa::path(delete, path = "/api/deliverables/{id}/hotspots/{hotspot}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The deliverable's id"), ("hotspot" = i64, Path, description = "The hotspot's id")),
    responses((status = 200, body = DeliverableOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn delete_deliverable_hotspot(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, hotspot)): Path<(String, i64)>,
) -> ApiResult<Json<DeliverableOne>> {
    state
        .brands
        .delete_hotspot(&auth.user, &id, hotspot)
        .await?;
    deliverable_one(&state, &auth, &id).await
}

// ------------------------------------------------------------------------------ embed

/// A deliverable for the brand's embed: only an approved one whose usage rights the creator
/// consented to and that permit the use now (a limited licence: in the `country` given);
/// otherwise 403 saying why. With `visitor`, the view is a touchpoint.
#[utoipa::path(get, path = "/api/embed/deliverables/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "The deliverable's id"), EmbedQuery),
    responses((status = 200, body = DeliverableEmbedView), (status = 403, body = ErrorBody, description = "Not licensed now: the details say why"),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn embed_deliverable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<EmbedQuery>,
) -> ApiResult<Json<DeliverableEmbedView>> {
    let f = state.brands.embeddable(&id, q.country.as_deref()).await?;
    if let Some(v) = q.visitor.as_deref().filter(|v| !v.is_empty()) {
        state.brands.touch(&f.d, None, v).await?;
    }
    Ok(Json(embed_view(
        &state,
        &f,
        q.visitor.as_deref(),
        q.country.as_deref(),
    )))
}

/// A deliverable as embeds show it: the approved version, its hotspots' links through the
/// click tracker (for `visitor`, in `country`).
fn embed_view(
    state: &AppState,
    f: &DeliverableFull,
    visitor: Option<&str>,
    country: Option<&str>,
) -> DeliverableEmbedView {
    let current = f
        .versions
        .iter()
        .zip(&f.videos)
        .find(|(v, _)| v.version == f.d.current_version);
    DeliverableEmbedView {
        id: f.d.uuid.clone(),
        title: f.d.title.clone(),
        creator_name: f.d.creator_name.clone(),
        disclosure: f.d.disclosure.clone(),
        video: current
            .and_then(|(_, v)| v.as_ref())
            .map(|v| video_view(state, v, None, None)),
        body: current.map(|(v, _)| v.body.clone()).unwrap_or_default(),
        hotspots: f
            .hotspots
            .iter()
            .map(|h| HotspotView {
                link: format!(
                    "/api/embed/deliverables/{}/hotspots/{}?visitor={}{}",
                    f.d.uuid,
                    h.id,
                    urlencoding(visitor.unwrap_or_default()),
                    country
                        .map(|c| format!("&country={}", urlencoding(c)))
                        .unwrap_or_default()
                ),
                ..hotspot_view(h)
            })
            .collect(),
    }
}

/// A campaign's shoppable gallery.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignGalleryView {
    /// The campaign's title.
    pub title: String,
    /// Its approved deliverables the brand may embed now, oldest first.
    pub items: Vec<DeliverableEmbedView>,
}

/// A campaign's shoppable gallery for the brand's site: its approved deliverables whose usage
/// rights permit the use now (in `country` for limited licences), with their hotspots. Opening
/// one (`GET /api/embed/deliverables/{id}?visitor=`) is the view's touchpoint.
#[utoipa::path(get, path = "/api/embed/campaigns/{id}/gallery", tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id"), EmbedQuery),
    responses((status = 200, body = CampaignGalleryView), (status = 404, body = ErrorBody)))]
pub async fn campaign_gallery(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<EmbedQuery>,
) -> ApiResult<Json<CampaignGalleryView>> {
    let (c, items) = state.brands.gallery(&id, q.country.as_deref()).await?;
    Ok(Json(CampaignGalleryView {
        title: c.title,
        items: items
            .iter()
            .map(|f| embed_view(&state, f, q.visitor.as_deref(), q.country.as_deref()))
            .collect(),
    }))
}

fn urlencoding(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|q| q.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// A click on a hotspot of an embedded deliverable: a touchpoint of `visitor`, then on to the
/// product's page (303).
#[utoipa::path(get, path = "/api/embed/deliverables/{id}/hotspots/{hotspot}", tag = "campaigns",
    params(("id" = String, Path, description = "The deliverable's id"), ("hotspot" = i64, Path, description = "The hotspot's id"), HotspotClickQuery),
    responses((status = 303, description = "To the product's page"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn click_hotspot(
    State(state): State<AppState>,
    Path((id, hotspot)): Path<(String, i64)>,
    Query(q): Query<HotspotClickQuery>,
) -> ApiResult<Response> {
    let f = state.brands.embeddable(&id, q.country.as_deref()).await?;
    let h = f
        .hotspots
        .iter()
        .find(|h| h.id == hotspot)
        .ok_or_else(|| ApiError::not_found("Hotspot"))?;
    if let Some(v) = q.visitor.as_deref().filter(|v| !v.is_empty()) {
        state.brands.touch(&f.d, Some(hotspot), v).await?;
    }
    Ok(Redirect::to(&h.link).into_response())
}

// ------------------------------------------------------------------------- attribution

/// The campaign's conversion secret, and where the brand reports conversions (managers).
#[utoipa::path(get, path = "/api/campaigns/{id}/conversion-secret", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, body = ConversionSetup), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn conversion_secret(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversionSetup>> {
    let secret = state.brands.conversion_secret(&auth.user, &id).await?;
    let base = state.config.public_url.trim_end_matches('/');
    Ok(Json(ConversionSetup {
        secret,
        webhook_url: format!("{base}/api/campaigns/{id}/conversions"),
        pixel_url: format!("{base}/api/campaigns/{id}/conversions/pixel"),
    }))
}

fn conversion_of(f: &ConversionForm) -> ApiResult<ConversionRecord> {
    let at = instant("at", Some(&f.at))?
        .ok_or_else(|| ApiError::validation("at: RFC 3339 with an offset"))?;
    Ok(ConversionRecord {
        order_id: f.order_id.clone(),
        visitor: f.visitor.clone(),
        value_minor: f.value_minor,
        currency: f.currency.trim().to_ascii_uppercase(),
        at,
    })
}

/// A conversion reported by the brand's shop: the JSON body signed with HMAC-SHA256 under the
/// campaign's conversion secret, sent as `X-Ferrocast-Signature: sha256=<hex>`. An order
/// reported again changes nothing.
#[utoipa::path(post, path = "/api/campaigns/{id}/conversions", tag = "campaigns", request_body = ConversionForm,
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, body = ConversionTaken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody, description = "The signature does not match"),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report_conversion(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ConversionTaken>> {
    if body.len() > 4096 {
        return Err(ApiError::validation("body: at most 4096 bytes"));
    }
    let signature = headers
        .get("x-ferrocast-signature")
        .and_then(|v| v.to_str().ok());
    let f: ConversionForm = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Malformed conversion",
            format!("The body is not a conversion: {e}"),
        )
    })?;
    let c = conversion_of(&f)?;
    let recorded = state.brands.conversion(&id, &body, signature, &c).await?;
    Ok(Json(ConversionTaken { recorded }))
}

/// The conversion pixel: the conversion's fields as the query (`order_id`, `visitor`,
/// `value_minor`, `currency`, `at`), then `&sig=` the HMAC-SHA256 (hex) of the query before it
/// under the campaign's conversion secret. Answers a transparent GIF.
#[utoipa::path(get, path = "/api/campaigns/{id}/conversions/pixel", tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, description = "A 1×1 transparent GIF", content_type = "image/gif"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn conversion_pixel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let query = query.unwrap_or_default();
    if query.len() > 2048 {
        return Err(ApiError::validation("query: at most 2048 bytes"));
    }
    let (signed, sig) = query.rsplit_once("&sig=").ok_or_else(|| {
        ApiError::forbidden(
            "The pixel's query ends with &sig=<HMAC-SHA256 of the query before it>.",
        )
    })?;
    let fields: std::collections::HashMap<String, String> = serde_urlencoded::from_str(signed)
        .map_err(|_| ApiError::validation("query: order_id, visitor, value_minor, currency, at"))?;
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let f = ConversionForm {
        order_id: get("order_id"),
        visitor: get("visitor"),
        value_minor: get("value_minor")
            .parse()
            .map_err(|_| ApiError::validation("value_minor: a whole number of minor units"))?,
        currency: get("currency"),
        at: get("at"),
    };
    let c = conversion_of(&f)?;
    state
        .brands
        .conversion(&id, signed.as_bytes(), Some(&format!("sha256={sig}")), &c)
        .await?;
    const GIF: &[u8] = &[
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
        0x21, 0xf9, 4, 1, 0, 0, 0, 0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b,
    ];
    Ok((
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        GIF,
    )
        .into_response())
}

fn credit_lines(v: &[crate::service::campaign_work::Credited]) -> Vec<CreditLine> {
    v.iter()
        .map(|c| CreditLine {
            key: c.key.clone(),
            creator: c.creator.clone(),
            conversions: c.conversions,
            touchpoints: c.touchpoints,
            credited_minor: c.credited_minor,
        })
        .collect()
}

fn csv_field(s: &str) -> String {
    // Spreadsheets run a cell starting with = + - @ as a formula: quote it as text.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn report_csv(r: &Report) -> String {
    let currency = &r.currency;
    let mut out =
        String::from("level,key,creator,model,conversions,touchpoints,credited_minor,currency\n");
    for (level, lines) in [("creator", &r.creators), ("deliverable", &r.deliverables)] {
        for c in lines.iter() {
            out.push_str(&format!(
                "{level},{},{},{},{},{},{},{currency}\n",
                csv_field(&c.key),
                csv_field(&c.creator),
                r.model,
                c.conversions,
                c.touchpoints,
                c.credited_minor
            ));
        }
    }
    out
}

/// The campaign's attribution report (brand members): its conversions' value credited to
/// creators and deliverables under a model, as JSON or CSV (`format=csv`).
#[utoipa::path(get, path = "/api/campaigns/{id}/report", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "The campaign's id"), ReportQuery),
    responses((status = 200, body = AttributionReport), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn campaign_report(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let model = Model::parse(
        q.model.as_deref().unwrap_or("last_touch"),
        q.half_life_hours,
    )
    .map_err(ApiError::validation)?;
    let r = state.brands.report(&auth.user, &id, model).await?;
    if r.conversions >= REPORT_CONVERSIONS {
        tracing::warn!(
            campaign = id,
            "an attribution report read only the first {REPORT_CONVERSIONS} conversions"
        );
    }
    match q.format.as_deref().unwrap_or("json") {
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"campaign-{id}-{}.csv\"", r.model),
                ),
            ],
            report_csv(&r),
        )
            .into_response()),
        "json" => Ok(Json(AttributionReport {
            model: r.model.clone(),
            currency: r.currency.clone(),
            conversions: r.conversions,
            value_minor: r.value_minor,
            unattributed_minor: r.unattributed_minor,
            views: r.views,
            clicks: r.clicks,
            creators: credit_lines(&r.creators),
            deliverables: credit_lines(&r.deliverables),
        })
        .into_response()),
        _ => Err(ApiError::validation("format: json or csv")),
    }
}
