//! Viewers paying creators. `POST /api/purchases` starts a tip, a membership or a pay-per-view
//! purchase through a gateway and answers where the buyer goes to pay:
//!
//! - Stripe: a Checkout Session, `mode=payment` for a tip or a pay-per-view, `mode=subscription`
//!   (monthly) for a membership; the purchase's id travels as `client_reference_id` and as
//!   `metadata.purchase` on the session, its PaymentIntent or its subscription, so the
//!   webhook's completion, renewals (`invoice.paid`), cancellations, refunds and disputes all
//!   name it.
//! - Razorpay: an order (a membership buys one month per order), paid on Razorpay's hosted
//!   Checkout, whose signed callback and `payment.captured` webhook complete it.
//! - ePayco: a Smart Checkout session whose signed confirmation completes it.
//!
//! Nothing is granted here: the gateway's confirmation does, through
//! [`crate::service::purchases::Purchases::complete`] (`routes::payments::*`), once per payment.
//! `GET /api/purchases/{id}` tells the buyer what became of a purchase.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, ClientIp};
use crate::gateways::{self, razorpay_keys, stripe_keys};
use crate::routes::payments::razorpay::{FormField, HostedCheckout};
use crate::service::purchases::PurchaseRequest;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use ferrocast_db::purchases::{PurchaseKind, PurchaseRecord};
use ferrocast_domain::plans::format_money;
use ferrocast_payments::{epayco, stripe, Currency};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The smallest tip, in minor units (1.00).
pub const TIP_MIN_MINOR: i64 = 100;
/// The largest tip, in minor units (10 000.00).
pub const TIP_MAX_MINOR: i64 = 1_000_000;
/// Longest tip message, in characters.
pub const MESSAGE_MAX_CHARS: usize = 300;
/// Longest name a tip is shown under, in characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 50;

/// A purchase to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartPurchase {
    /// `tip`, `membership` or `ppv`.
    #[schema(example = "tip")]
    pub kind: String,
    /// The creator's channel handle (with or without `@`).
    pub channel: String,
    /// `stripe`, `razorpay` or `epayco`.
    pub gateway: String,
    /// A tip's amount in minor units (cents, paise); memberships and pay-per-view take their
    /// price.
    #[serde(default)]
    pub amount_minor: Option<i64>,
    /// A tip's currency, `USD` or `INR` (default: the gateway's: Razorpay INR, others USD).
    #[serde(default)]
    pub currency: Option<String>,
    /// A tip's message, shown with its alert.
    #[serde(default)]
    pub message: Option<String>,
    /// The name a tip is shown under (default: the buyer's display name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// A membership's tier (`GET /api/channels/{handle}/tiers`).
    #[serde(default)]
    pub tier_id: Option<i64>,
    /// The video bought (pay-per-view) or tipped on: its public id.
    #[serde(default)]
    pub video: Option<String>,
    /// The buyer's country (ISO 3166 alpha-2), for the tax rate the operator set for it.
    #[serde(default)]
    pub country: Option<String>,
    /// The live stream bought (pay-per-view): its source id (`GET /api/watch/{playback_id}/access`).
    #[serde(default)]
    pub source_id: Option<i64>,
}

/// ePayco Smart Checkout's session for a purchase.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpaycoSession {
    /// `sessionId` for `ePayco.checkout.configure({sessionId, type: "standard", test})`.
    pub session_id: String,
    /// ePayco's checkout script.
    pub script_url: String,
    /// Whether it is a test transaction.
    pub test: bool,
}

/// Where to pay for a purchase.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseStarted {
    /// The purchase's id.
    pub purchase_id: String,
    /// The page to open: Stripe's Checkout, or this site's payment page (`/pay/{id}`), which
    /// posts `razorpay` or opens `epayco`.
    pub url: String,
    /// `stripe`, `razorpay` or `epayco`.
    pub gateway: String,
    /// Minor units to pay (tax included).
    pub amount_minor: i64,
    /// ISO code.
    pub currency: String,
    /// Tax included in the amount.
    pub tax_minor: i64,
    /// Razorpay's hosted Checkout: post these fields from the buyer's browser.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub razorpay: Option<HostedCheckout>,
    /// ePayco's Smart Checkout session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epayco: Option<EpaycoSession>,
}

/// What was checked of a purchase before it is created.
struct Checked {
    kind: PurchaseKind,
    creator: ferrocast_db::accounts::UserRecord,
    amount: i64,
    currency: String,
    message: Option<String>,
    display_name: Option<String>,
    tier: Option<(i64, String)>,
    video: Option<(i64, Option<i64>, String)>,
    /// A pay-per-view stream: its source id and name.
    stream: Option<(i64, String)>,
}

/// `text` trimmed, `None` when empty; refused over `max` characters or with control
/// characters.
fn bounded(field: &str, text: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > max {
        return Err(ApiError::validation(format!(
            "{field}: at most {max} characters"
        )));
    }
    if t.chars().any(|c| c.is_control()) {
        return Err(ApiError::validation(format!(
            "{field}: remove line breaks and control characters"
        )));
    }
    Ok(Some(t.to_string()))
}

/// The currencies each gateway charges creators' purchases in.
fn gateway_takes(gateway: &str, currency: Currency) -> bool {
    match gateway {
        "epayco" => currency == Currency::Usd,
        _ => true,
    }
}

/// Checks what is bought: the channel, the kind, the amount or price, the tier or video.
async fn check(state: &AppState, auth: &AuthUser, b: &StartPurchase) -> ApiResult<Checked> {
    let kind = PurchaseKind::parse(&b.kind)
        .ok_or_else(|| ApiError::validation("kind: must be `tip`, `membership` or `ppv`"))?;
    let creator = crate::service::follows::channel(&state.db, &b.channel)
        .await
        .map_err(|_| ApiError::not_found("channel"))?;
    if creator.id == auth.user.id {
        return Err(ApiError::validation(
            "channel: you cannot pay your own channel",
        ));
    }
    let default_currency = if b.gateway == "razorpay" {
        "INR"
    } else {
        "USD"
    };
    let video = match b.video.as_deref() {
        Some(id) => {
            let v = state
                .db
                .video_by_uuid(id)
                .await?
                .filter(|v| v.user_id == creator.id)
                .ok_or_else(|| ApiError::not_found("video"))?;
            Some((v.id, v.source_id, v.title))
        }
        None => None,
    };
    let mut checked = Checked {
        kind,
        amount: 0,
        currency: String::new(),
        message: None,
        display_name: None,
        tier: None,
        video,
        stream: None,
        creator,
    };
    match kind {
        PurchaseKind::Tip => {
            let amount = b
                .amount_minor
                .ok_or_else(|| ApiError::validation("amount_minor: how much to tip, in cents"))?;
            if !(TIP_MIN_MINOR..=TIP_MAX_MINOR).contains(&amount) {
                return Err(ApiError::validation(format!(
                    "amount_minor: a tip is from {} to {}",
                    format_money(TIP_MIN_MINOR),
                    format_money(TIP_MAX_MINOR)
                )));
            }
            let currency = Currency::parse(b.currency.as_deref().unwrap_or(default_currency))
                .ok_or_else(|| ApiError::validation("currency: must be `USD` or `INR`"))?;
            checked.amount = amount;
            checked.currency = currency.code().to_string();
            checked.message = bounded("message", b.message.as_deref(), MESSAGE_MAX_CHARS)?;
            checked.display_name = bounded(
                "display_name",
                b.display_name.as_deref(),
                DISPLAY_NAME_MAX_CHARS,
            )?
            .or_else(|| Some(auth.user.display_name.clone()));
        }
        PurchaseKind::Membership => {
            if b.amount_minor.is_some() || b.message.is_some() {
                return Err(ApiError::validation(
                    "amount_minor, message: a membership costs its tier's price; leave them out",
                ));
            }
            let tier_id = b
                .tier_id
                .ok_or_else(|| ApiError::validation("tier_id: which tier to join"))?;
            let tier = state
                .db
                .membership_tier(tier_id)
                .await?
                .filter(|t| t.creator_id == checked.creator.id && t.active)
                .ok_or_else(|| ApiError::not_found("tier"))?;
            checked.amount = tier.price_minor;
            checked.currency = tier.currency.to_ascii_uppercase();
            checked.tier = Some((tier.id, tier.name));
        }
        PurchaseKind::Ppv => {
            // The price is the video's or the stream's access level (service::access).
            if b.amount_minor.is_some() || b.message.is_some() {
                return Err(ApiError::validation(
                    "amount_minor, message: pay-per-view costs its set price; leave them out",
                ));
            }
            let level = match (&b.video, b.source_id) {
                (Some(id), None) => {
                    let v = state
                        .db
                        .video_by_uuid(id)
                        .await?
                        .filter(|v| v.user_id == checked.creator.id)
                        .ok_or_else(|| ApiError::not_found("video"))?;
                    crate::service::access::Level::of_video(&v)
                }
                (None, Some(sid)) => {
                    let s = state
                        .db
                        .source_by_id(sid)
                        .await?
                        .filter(|s| s.user_id == checked.creator.id)
                        .ok_or_else(|| ApiError::not_found("stream"))?;
                    checked.stream = Some((s.id, s.title.clone().unwrap_or(s.name.clone())));
                    crate::service::access::Level::of_source(&s)
                }
                _ => {
                    return Err(ApiError::validation(
                        "video, source_id: name exactly one of the video or the stream bought",
                    ))
                }
            };
            let crate::service::access::Level::Ppv {
                price_minor,
                currency,
            } = level
            else {
                return Err(ApiError::validation(
                    "video, source_id: this is not sold pay-per-view",
                ));
            };
            checked.amount = price_minor;
            checked.currency = currency.to_ascii_uppercase();
        }
    }
    let currency = Currency::parse(&checked.currency)
        .ok_or_else(|| ApiError::validation("currency: must be `USD` or `INR`"))?;
    if !gateway_takes(&b.gateway, currency) {
        return Err(ApiError::validation(format!(
            "gateway: {} does not take {}; choose another way to pay",
            b.gateway,
            currency.code()
        )));
    }
    Ok(checked)
}

/// Start paying a creator: a tip, a membership (monthly) or a pay-per-view video, through
/// Stripe, Razorpay or ePayco. Open `url`; the purchase is paid once the gateway confirms it.
#[utoipa::path(post, path = "/api/purchases", tag = "purchases", security(("bearer" = [])), request_body = StartPurchase,
    responses((status = 200, body = PurchaseStarted), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    auth: AuthUser,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<StartPurchase>,
) -> ApiResult<Json<PurchaseStarted>> {
    // The gateway first: one that is off says so before anything is checked.
    match b.gateway.as_str() {
        "stripe" => {
            stripe_keys(&state)?;
        }
        "razorpay" => {
            razorpay_keys(&state)?;
        }
        "epayco" => {
            epayco_checkout(&state)?;
        }
        _ => {
            return Err(ApiError::validation(
                "gateway: must be `stripe`, `razorpay` or `epayco`",
            ))
        }
    }
    if let Err(wait) = state
        .payments_limiter
        .check_shared(&auth.user.id.to_string())
        .await
    {
        state.metrics.rate_limited("payments");
        return Err(ApiError::rate_limited(wait));
    }
    let c = check(&state, &auth, &b).await?;
    let purchase = state
        .purchases
        .create(&PurchaseRequest {
            kind: c.kind,
            buyer_id: auth.user.id,
            creator_id: c.creator.id,
            provider: &b.gateway,
            amount_minor: c.amount,
            currency: &c.currency,
            country: b.country.as_deref(),
            message: c.message.as_deref(),
            display_name: c.display_name.as_deref(),
            tier_id: c.tier.as_ref().map(|t| t.0),
            video_id: c.video.as_ref().map(|v| v.0),
            source_id: c
                .video
                .as_ref()
                .and_then(|v| v.1)
                .or(c.stream.as_ref().map(|s| s.0)),
        })
        .await?;
    let creator = &c.creator.display_name;
    let product = match (c.kind, &c.tier, &c.video) {
        (PurchaseKind::Tip, _, _) => format!("Tip for {creator}"),
        (PurchaseKind::Membership, Some((_, tier)), _) => {
            format!("{tier} membership of {creator}, monthly")
        }
        (PurchaseKind::Ppv, _, Some((_, _, title))) => format!("{title} ({creator})"),
        _ => match &c.stream {
            Some((_, title)) => format!("{title} ({creator}), live"),
            None => format!("Purchase from {creator}"),
        },
    };
    let base = state.config.public_url.clone();
    let page = format!("{base}/pay/{}", purchase.uuid);
    let mut started = PurchaseStarted {
        purchase_id: purchase.uuid.clone(),
        url: page.clone(),
        gateway: b.gateway.clone(),
        amount_minor: purchase.amount_minor,
        currency: purchase.currency.clone(),
        tax_minor: purchase.tax_minor,
        razorpay: None,
        epayco: None,
    };
    match b.gateway.as_str() {
        "stripe" => {
            let form = stripe::purchase_checkout_form(&stripe::PurchaseCheckout {
                mode: if c.kind == PurchaseKind::Membership {
                    stripe::PurchaseMode::Subscription { interval: "month" }
                } else {
                    stripe::PurchaseMode::Payment
                },
                unit_amount: purchase.amount_minor,
                currency: &purchase.currency,
                product_name: &product,
                purchase: &purchase.uuid,
                customer_email: Some(&auth.user.email),
                success_url: &format!("{page}?checkout=success"),
                cancel_url: &format!("{page}?checkout=canceled"),
            });
            let (session, url) = gateways::stripe_checkout(&state, &form).await?;
            state.db.set_purchase_ref(purchase.id, &session).await?;
            started.url = url;
        }
        "razorpay" => {
            let keys = razorpay_keys(&state)?.clone();
            let notes = serde_json::json!({ "purchase": purchase.uuid, "kind": purchase.kind });
            let order = gateways::razorpay_order(
                &state,
                purchase.amount_minor,
                &purchase.currency,
                &purchase.uuid,
                notes,
            )
            .await?;
            state.db.set_purchase_ref(purchase.id, &order.id).await?;
            started.razorpay = Some(razorpay_form(
                &keys, &base, &purchase, &order.id, creator, &product, &auth.user,
            ));
        }
        _ => {
            let checkout = epayco_checkout(&state)?;
            let amount = format_money(purchase.amount_minor);
            let ip = ip.to_string();
            let request = epayco::SessionRequest {
                name: creator,
                description: &product,
                invoice: &purchase.uuid,
                amount: &amount,
                currency: &purchase.currency,
                response_url: &page,
                confirmation_url: &format!("{base}/api/payments/epayco/confirmation"),
                ip: &ip,
                buyer_email: &auth.user.email,
                buyer_name: &auth.user.display_name,
                test: checkout.test,
            };
            let session = gateways::epayco_session(&state, &checkout, &request).await?;
            state.db.set_purchase_ref(purchase.id, &session).await?;
            started.epayco = Some(EpaycoSession {
                session_id: session,
                script_url: checkout.script_url.clone(),
                test: checkout.test,
            });
        }
    }
    Ok(Json(started))
}

/// Razorpay's hosted Checkout for a purchase's order: the fields the buyer's browser posts.
fn razorpay_form(
    keys: &ferrocast_config::RazorpayKeys,
    base: &str,
    purchase: &PurchaseRecord,
    order_id: &str,
    creator: &str,
    product: &str,
    buyer: &ferrocast_db::accounts::UserRecord,
) -> HostedCheckout {
    let field = |name: &str, value: String| FormField {
        name: name.into(),
        value,
    };
    HostedCheckout {
        url: format!("{}/v1/checkout/embedded", keys.api_base),
        fields: vec![
            field("key_id", keys.key_id.clone()),
            field("order_id", order_id.to_string()),
            field("amount", purchase.amount_minor.to_string()),
            field("currency", purchase.currency.clone()),
            field("name", creator.to_string()),
            field("description", product.to_string()),
            field("prefill[name]", buyer.display_name.clone()),
            field("prefill[email]", buyer.email.clone()),
            field(
                "callback_url",
                format!("{base}/api/payments/razorpay/callback"),
            ),
            field(
                "cancel_url",
                format!("{base}/pay/{}?checkout=canceled", purchase.uuid),
            ),
        ],
    }
}

fn epayco_checkout(state: &AppState) -> ApiResult<ferrocast_config::EpaycoCheckout> {
    state
        .config
        .payments
        .epayco
        .as_ref()
        .and_then(|k| k.checkout.clone())
        .ok_or_else(|| {
            gateways::disabled(
                "ePayco",
                "FERROCAST_EPAYCO_CUSTOMER_ID, FERROCAST_EPAYCO_P_KEY, FERROCAST_EPAYCO_PUBLIC_KEY and FERROCAST_EPAYCO_PRIVATE_KEY",
            )
        })
}

/// A purchase as its buyer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseView {
    /// Its id.
    pub id: String,
    /// `tip`, `membership` or `ppv`.
    pub kind: String,
    /// `created` (not paid yet), `paid`, `refunded`, `disputed` or `failed`; `refused` when the
    /// gateway reported a payment that does not match it (nothing was granted).
    pub status: String,
    /// The gateway.
    pub gateway: String,
    /// Minor units.
    pub amount_minor: i64,
    /// The amount in words of money (`5.00`).
    pub amount: String,
    /// ISO code.
    pub currency: String,
    /// Tax included.
    pub tax_minor: i64,
    /// A tip's message.
    pub message: Option<String>,
    /// For the buyer, in words.
    pub summary: String,
    /// While it is not paid: Razorpay's hosted Checkout to post, to pay it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub razorpay: Option<HostedCheckout>,
    /// While it is not paid: ePayco's Smart Checkout session, to pay it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epayco: Option<EpaycoSession>,
}

fn view(p: PurchaseRecord) -> PurchaseView {
    let status = if p.refused_reason.is_some() && p.status == "created" {
        "refused".to_string()
    } else {
        p.status.clone()
    };
    let what = match p.kind.as_str() {
        "tip" => "Your tip",
        "membership" => "Your membership",
        _ => "Your purchase",
    };
    let summary = match status.as_str() {
        "paid" => format!("{what} is paid — thank you."),
        "created" => format!("{what} is waiting for the gateway's confirmation; this page updates when it arrives."),
        "refunded" => format!("{what} was refunded."),
        "disputed" => format!("{what} was disputed with your bank, so it was taken back."),
        "refused" => format!("The gateway reported a payment that does not match {}; nothing was granted and the operator was told.", what.to_lowercase()),
        _ => format!("{what} did not go through; nothing was charged."),
    };
    PurchaseView {
        id: p.uuid,
        kind: p.kind,
        status,
        gateway: p.provider,
        amount: format_money(p.amount_minor),
        amount_minor: p.amount_minor,
        currency: p.currency,
        tax_minor: p.tax_minor,
        message: p.message,
        summary,
        razorpay: None,
        epayco: None,
    }
}

/// One of your purchases: what became of it (the page a gateway sends you back to reads it).
#[utoipa::path(get, path = "/api/purchases/{id}", tag = "purchases", security(("bearer" = [])),
    params(("id" = String, Path, description = "The purchase's id")),
    responses((status = 200, body = PurchaseView), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PurchaseView>> {
    let p = state
        .db
        .purchase_by_uuid(&id)
        .await?
        .filter(|p| p.buyer_id == auth.user.id)
        .ok_or_else(|| ApiError::not_found("purchase"))?;
    let unpaid = p.status == "created" && p.refused_reason.is_none();
    let (gateway_ref, provider) = (p.provider_ref.clone(), p.provider.clone());
    let mut v = view(p.clone());
    match (unpaid, gateway_ref, provider.as_str()) {
        (true, Some(order), "razorpay") => {
            if let Some(keys) = state.config.payments.razorpay.as_ref() {
                let what = match p.kind.as_str() {
                    "tip" => "Tip",
                    "membership" => "Membership",
                    _ => "Purchase",
                };
                v.razorpay = Some(razorpay_form(
                    keys,
                    &state.config.public_url,
                    &p,
                    &order,
                    "ferrocast",
                    what,
                    &auth.user,
                ));
            }
        }
        (true, Some(session), "epayco") => {
            if let Ok(checkout) = epayco_checkout(&state) {
                v.epayco = Some(EpaycoSession {
                    session_id: session,
                    script_url: checkout.script_url,
                    test: checkout.test,
                });
            }
        }
        _ => {}
    }
    Ok(Json(v))
}
