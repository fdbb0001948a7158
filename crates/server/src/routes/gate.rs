//! What the routes of gated content share: the access a video or stream shows its caller
//! (level, lowest tier or price, whether the caller may watch, what unlocks it), the playback
//! token handed with a video's media URLs, and the 403 of a refused playlist or segment. The
//! rules are in [`crate::service::access`].

use crate::error::{ApiError, ApiResult};
use crate::service::access::{Content, Gated, Level, Refusal};
use crate::state::AppState;
use axum::http::StatusCode;
use ferrocast_db::memberships::TierRecord;
use serde::Serialize;
use std::net::IpAddr;
use utoipa::ToSchema;

/// The refusal of a gated playlist or segment: 403 with what unlocks it.
pub fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::Db(e) => e.into(),
        Refusal::NoToken => ApiError::new(
            StatusCode::FORBIDDEN,
            "PLAYBACK_TOKEN_REQUIRED",
            "This video is for members or buyers",
            "Open it from its page while signed in: the player gets a playback token there.",
        ),
        Refusal::Expired => ApiError::new(
            StatusCode::FORBIDDEN,
            "PLAYBACK_TOKEN_EXPIRED",
            "The playback token expired",
            "Reload the page for a fresh one.",
        ),
        Refusal::NotYours => ApiError::new(
            StatusCode::FORBIDDEN,
            "PLAYBACK_TOKEN_NOT_YOURS",
            "This playback link was issued to someone else",
            "Playback links work only for the viewer and the network they were issued to: open the page yourself.",
        ),
        Refusal::MembersOnly => ApiError::new(
            StatusCode::FORBIDDEN,
            "MEMBERS_ONLY",
            "This is for the channel's members",
            "Join the channel (at the tier it names) to watch; a membership that lapsed ends access after its grace period.",
        ),
        Refusal::PurchaseRequired => ApiError::new(
            StatusCode::FORBIDDEN,
            "PURCHASE_REQUIRED",
            "This is pay-per-view",
            "Buy it on its page to watch.",
        ),
    }
}

/// A membership tier.
#[derive(Debug, Serialize, ToSchema)]
pub struct TierView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Monthly price, minor units (500 = 5.00).
    pub price_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// What members of it get.
    pub perks: Vec<String>,
    /// Higher ranks include the lower ones.
    pub rank: i64,
    /// Whether viewers may join it (a retired tier keeps its members).
    pub active: bool,
}

impl From<TierRecord> for TierView {
    fn from(t: TierRecord) -> Self {
        Self {
            id: t.id,
            name: t.name,
            price_minor: t.price_minor,
            currency: t.currency,
            perks: t.perks,
            rank: t.rank,
            active: t.active,
        }
    }
}

/// Who may watch a video or a stream, and whether the caller may.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContentAccess {
    /// `public`, `members` or `ppv`.
    pub level: String,
    /// `members`: the lowest tier that may watch (none: any member).
    pub tier: Option<TierView>,
    /// `ppv`: the price, minor units.
    pub price_minor: Option<i64>,
    /// `ppv`: ISO 4217.
    pub currency: Option<String>,
    /// Whether the caller may watch it.
    pub entitled: bool,
    /// When they may not: what unlocks it, in a sentence.
    pub unlock: Option<String>,
}

fn money(minor: i64, currency: &str) -> String {
    format!("{}.{:02} {currency}", minor / 100, minor % 100)
}

/// The access of a video in a list: its level and price, whether the caller may watch as far
/// as a list tells (its owner may; others learn on the video's own answer).
pub fn access_brief(level: &Level, owner: bool) -> ContentAccess {
    let (price_minor, currency) = match level {
        Level::Ppv {
            price_minor,
            currency,
        } => (Some(*price_minor), Some(currency.clone())),
        _ => (None, None),
    };
    ContentAccess {
        level: level.name().into(),
        tier: None,
        price_minor,
        currency,
        entitled: owner || !level.is_gated(),
        unlock: None,
    }
}

/// The access view of `level`; `entitled` as decided.
pub async fn content_access(
    state: &AppState,
    level: &Level,
    entitled: bool,
    signed_in: bool,
) -> ApiResult<ContentAccess> {
    let (tier, price_minor, currency) = match level {
        Level::Public => (None, None, None),
        Level::Members { min_tier } => {
            let tier = match min_tier {
                Some(id) => state.db.tier(*id).await?.map(TierView::from),
                None => None,
            };
            (tier, None, None)
        }
        Level::Ppv {
            price_minor,
            currency,
        } => (None, Some(*price_minor), Some(currency.clone())),
    };
    let unlock = (!entitled).then(|| {
        let what = match (level, &tier) {
            (
                Level::Ppv {
                    price_minor,
                    currency,
                },
                _,
            ) => {
                format!("Buy it for {} to watch.", money(*price_minor, currency))
            }
            (_, Some(t)) => format!(
                "Join the channel at the {} tier ({} a month) or above to watch.",
                t.name,
                money(t.price_minor, &t.currency)
            ),
            _ => "Join the channel as a member to watch.".to_string(),
        };
        if signed_in {
            what
        } else {
            let mut c = what.chars();
            let first = c
                .next()
                .map(|f| f.to_lowercase().to_string())
                .unwrap_or_default();
            format!("Sign in, then {first}{}", c.as_str())
        }
    });
    Ok(ContentAccess {
        level: level.name().into(),
        tier,
        price_minor,
        currency,
        entitled,
        unlock,
    })
}

/// A video's access for the caller, and the playback token for its media URLs when it is
/// gated and the caller may watch it (a private video is signed for its owner instead).
pub async fn video_grant(
    state: &AppState,
    v: &ferrocast_db::videos::VideoRecord,
    viewer: Option<i64>,
    ip: IpAddr,
) -> ApiResult<(ContentAccess, Option<String>)> {
    let g = Gated::video(v);
    let entitled = match viewer {
        Some(u) => state.access.entitled(u, &g).await?,
        None => !g.level.is_gated(),
    };
    let access = content_access(state, &g.level, entitled, viewer.is_some()).await?;
    let token = match viewer {
        Some(user) if entitled && g.level.is_gated() && v.visibility != "private" => {
            Some(state.access.issue(Content::Video(&v.uuid), user, ip))
        }
        _ => None,
    };
    Ok((access, token))
}
