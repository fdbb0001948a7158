//! Tips: a viewer pays a creator an amount within the operator's limits
//! (`FERROCAST_TIP_MIN`/`FERROCAST_TIP_MAX`) with an optional message, moderated as the
//! creator's chat moderates (bans, blocked words, links); checkout itself is the generic
//! purchase (`POST /api/purchases`, kind `tip`). Once the gateway says it is paid, the tip is
//! announced: an alert for the creator's overlays (`/overlay/<token>/alerts`, through
//! [`RealtimeEvent::TipAlert`] on every node) and a `system` message in their chat, once per
//! purchase, and their open goals move.
//!
//! The overlay token is the secret in the overlays' addresses: one per creator, sealed at rest
//! (the dashboard shows it again), found by its SHA-256, and rotatable, which closes every
//! overlay open with the old one.

use crate::error::ApiError;
use crate::service::events::RealtimeEvent;
use crate::service::vault::Sealed;
use crate::state::AppState;
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::purchases::PurchaseRecord;
use ferrocast_db::tips::TipRecord;
use ferrocast_domain::chat::{ChatRefusal, ChatRules};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// Longest tip message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 200;
/// Longest name a tipper may show, in characters.
pub const MAX_NAME_CHARS: usize = 50;
/// Sources of a creator whose chat a tip is announced in at most (the source it was sent
/// from only, when it was sent from a watch page).
pub const MAX_CHATS: usize = 20;
/// What an overlay that reconnects is shown again: tips paid at most this long ago.
pub const REPLAY_MS: i64 = 120_000;
/// The prefix of overlay tokens.
pub const TOKEN_PREFIX: &str = "ov_";

pub use crate::service::overlay::TipAlert;

/// The currencies tips are taken in.
pub fn currencies(state: &AppState) -> Vec<String> {
    state
        .config
        .tips
        .0
        .iter()
        .map(|l| l.currency.clone())
        .collect()
}

/// An amount as people read it: `$5.00`, `₹500.00`, else `12.50 EUR`.
pub fn money(minor: i64, currency: &str) -> String {
    let decimal = ferrocast_domain::plans::format_money(minor);
    match currency.to_ascii_uppercase().as_str() {
        "USD" => format!("${decimal}"),
        "INR" => format!("₹{decimal}"),
        "EUR" => format!("€{decimal}"),
        "GBP" => format!("£{decimal}"),
        other => format!("{decimal} {other}"),
    }
}

/// A tip ready for checkout: what the purchase records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTip {
    /// The creator tipped.
    pub creator_id: i64,
    /// The amount, in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// The message, cleaned and moderated (`None`: none).
    pub message: Option<String>,
    /// The name shown with it.
    pub display_name: String,
}

/// The chat rules of all of a creator's sources together: every blocked word of any, links
/// only where all allow them.
async fn creator_rules(
    state: &AppState,
    creator_id: i64,
) -> Result<(ChatRules, Vec<i64>), ApiError> {
    let sources = state.db.list_sources(creator_id).await?;
    let mut rules = ChatRules {
        slow_mode_seconds: 0,
        blocked_words: Vec::new(),
        links_allowed: true,
    };
    let mut ids = Vec::with_capacity(sources.len());
    for s in &sources {
        let r = state.chat.rules(s.id).await?;
        for w in r.blocked_words {
            if !rules.blocked_words.contains(&w) {
                rules.blocked_words.push(w);
            }
        }
        rules.links_allowed &= r.links_allowed;
        ids.push(s.id);
    }
    Ok((rules, ids))
}

/// Whether `user_id` is banned or timed out in any of the chats `sources` (or in every chat).
async fn banned(state: &AppState, user_id: i64, sources: &[i64]) -> Result<bool, ApiError> {
    let now = state.clock.now_ms();
    for &s in sources {
        if state.db.active_chat_ban(s, user_id, now).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Checks a tip from `buyer` to `creator` before its checkout: the currency and amount within
/// the operator's limits, and the message and name moderated like the creator's chat — a
/// viewer banned or timed out there may tip without a message only, and a message or name
/// with a word the creator's chat blocks (or a link, where links are off) is refused. The
/// message is cleaned as chat messages are (invisible and control characters removed).
pub async fn check_tip(
    state: &AppState,
    buyer: &UserRecord,
    creator: &UserRecord,
    amount_minor: i64,
    currency: &str,
    message: Option<&str>,
    display_name: Option<&str>,
) -> Result<CheckedTip, ApiError> {
    if buyer.id == creator.id {
        return Err(ApiError::validation(
            "channel: you cannot tip your own channel",
        ));
    }
    let currency = currency.trim().to_ascii_uppercase();
    let limits = state.config.tips.of(&currency).ok_or_else(|| {
        ApiError::validation(format!(
            "currency: tips are taken in {}",
            currencies(state).join(", ")
        ))
    })?;
    if amount_minor < limits.min_minor || amount_minor > limits.max_minor {
        return Err(ApiError::validation(format!(
            "amount_minor: a tip in {currency} is {} to {} ({} to {} in minor units)",
            money(limits.min_minor, &currency),
            money(limits.max_minor, &currency),
            limits.min_minor,
            limits.max_minor
        )));
    }
    let (rules, sources) = creator_rules(state, creator.id).await?;
    let message = match message.map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => {
            let m = ferrocast_domain::chat::clean_text(m)
                .map_err(|e| ApiError::validation(format!("message: {e}")))?;
            if m.chars().count() > MAX_MESSAGE_CHARS {
                return Err(ApiError::validation(format!(
                    "message: at most {MAX_MESSAGE_CHARS} characters"
                )));
            }
            if banned(state, buyer.id, &sources).await? {
                return Err(ApiError::forbidden(
                    "You are banned or timed out in this creator's chat, so a tip cannot carry a message. Send it without one.",
                ));
            }
            moderate(&rules, &m, "message")?;
            Some(m)
        }
    };
    let display_name = match display_name.map(str::trim).filter(|n| !n.is_empty()) {
        None => buyer.display_name.clone(),
        Some(n) => {
            let n = ferrocast_domain::text::displayable(n);
            let n = n.trim();
            if n.is_empty() || n.chars().count() > MAX_NAME_CHARS {
                return Err(ApiError::validation(format!(
                    "display_name: 1 to {MAX_NAME_CHARS} characters, or leave it out to show your name"
                )));
            }
            moderate(&rules, n, "display_name")?;
            n.to_string()
        }
    };
    Ok(CheckedTip {
        creator_id: creator.id,
        amount_minor,
        currency,
        message,
        display_name,
    })
}

/// `text` (a tip's `field`) against the creator's chat rules.
fn moderate(rules: &ChatRules, text: &str, field: &str) -> Result<(), ApiError> {
    match rules.check(text, None, 0) {
        Ok(()) => Ok(()),
        Err(ChatRefusal::Blocked) => Err(ApiError::validation(format!(
            "{field}: it contains a word this creator's chat does not allow; change it or leave it out"
        ))),
        Err(ChatRefusal::Links) => Err(ApiError::validation(format!(
            "{field}: links are not allowed in this creator's chat; take the link out"
        ))),
        Err(e) => Err(ApiError::validation(format!("{field}: {e}"))),
    }
}

/// The alert a paid tip makes.
pub fn alert_of(tip: &TipRecord) -> TipAlert {
    TipAlert {
        id: tip.uuid.clone(),
        name: if tip.display_name.is_empty() {
            "Someone".into()
        } else {
            tip.display_name.clone()
        },
        amount_minor: tip.amount_minor,
        currency: tip.currency.clone(),
        amount: money(tip.amount_minor, &tip.currency),
        message: tip.message.clone(),
        paid_at: crate::service::clock::rfc3339(tip.paid_at.unwrap_or_default()),
        test: false,
    }
}

/// A purchase as tips are read.
fn tip_of(p: &PurchaseRecord) -> TipRecord {
    TipRecord {
        id: p.id,
        uuid: p.uuid.clone(),
        kind: p.kind.clone(),
        buyer_id: Some(p.buyer_id),
        creator_id: p.creator_id,
        source_id: p.source_id,
        amount_minor: p.amount_minor,
        currency: p.currency.clone(),
        message: p.message.clone().unwrap_or_default(),
        display_name: p.display_name.clone().unwrap_or_default(),
        status: p.status.clone(),
        paid_at: p.paid_at,
    }
}

/// A purchase was paid (a membership renewed): a tip is announced (overlays, the creator's
/// chat), and the creator's open goals in its currency move. Announcing twice is harmless:
/// the chat message is keyed by the purchase, and overlays drop an alert they showed.
pub async fn on_paid(state: &AppState, purchase: &PurchaseRecord) -> Result<(), ApiError> {
    if purchase.status != "paid" {
        return Ok(());
    }
    if purchase.kind == "tip" {
        announce_tip(state, &tip_of(purchase)).await?;
    }
    if purchase.kind == "tip" || purchase.kind == "membership" {
        crate::goals::announce(state, purchase.creator_id, &purchase.currency).await?;
    }
    Ok(())
}

/// Announces each purchase paid on this node ([`on_paid`]) until `shutdown` turns true. It
/// subscribes before returning, so no payment applied after the call is missed.
pub fn spawn(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut paid = state.purchases.subscribe();
    tokio::spawn(async move {
        loop {
            let notice = tokio::select! {
                n = paid.recv() => n,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match notice {
                Ok(n) => {
                    if let Err(e) = on_paid(&state, &n.purchase).await {
                        tracing::warn!(purchase = n.purchase.uuid, error = ?e.body, "announcing a paid purchase failed");
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "paid purchases were not announced (too many at once)"
                    )
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// The alert to every overlay, the message to the creator's chat.
async fn announce_tip(state: &AppState, tip: &TipRecord) -> Result<(), ApiError> {
    let mut alert = alert_of(tip);
    // A tipper banned since they wrote it: the tip is announced, without their words.
    let (_, sources) = creator_rules(state, tip.creator_id).await?;
    if let Some(buyer) = tip.buyer_id {
        if !alert.message.is_empty() && banned(state, buyer, &sources).await? {
            alert.message.clear();
        }
    }
    state.fanout.publish(RealtimeEvent::TipAlert {
        creator_id: tip.creator_id,
        alert: alert.clone(),
    });
    let chats: Vec<i64> = match tip.source_id.filter(|s| sources.contains(s)) {
        Some(s) => vec![s],
        None => sources.into_iter().take(MAX_CHATS).collect(),
    };
    // Shown as "<name> tipped $5.00: <message>", the name as the author (with a Tip badge).
    let text = if alert.message.is_empty() {
        format!("tipped {}", alert.amount)
    } else {
        format!("tipped {}: {}", alert.amount, alert.message)
    };
    let meta = json!({
        "badges": ["tip"],
        "emotes": [],
        "tip": { "id": alert.id, "name": alert.name, "amount_minor": alert.amount_minor, "currency": alert.currency, "amount": alert.amount },
    });
    for source_id in chats {
        match state
            .chat
            .post_system(
                source_id,
                &format!("tip:{}", tip.uuid),
                &alert.name,
                &text,
                meta.clone(),
            )
            .await
        {
            Ok(_) | Err(crate::service::chat::PostError::Duplicate) => {}
            Err(e) => {
                tracing::warn!(error = %e, source_id, "the tip could not be announced in chat")
            }
        }
    }
    Ok(())
}

/// A test alert for the creator's overlays (nothing paid, nothing in chat).
pub fn test_alert(state: &AppState, creator: &UserRecord) -> TipAlert {
    let alert = TipAlert {
        id: format!("test-{}", uuid::Uuid::new_v4().simple()),
        name: "Test alert".into(),
        amount_minor: 500,
        currency: "USD".into(),
        amount: money(500, "USD"),
        message: format!("This is how tips to {} will look.", creator.display_name),
        paid_at: crate::service::clock::rfc3339(state.clock.now_ms()),
        test: true,
    };
    state.fanout.publish(RealtimeEvent::TipAlert {
        creator_id: creator.id,
        alert: alert.clone(),
    });
    alert
}

/// SHA-256 of an overlay token, hex: what is stored to find its creator.
pub fn token_hash(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        data_encoding::BASE32_NOPAD
            .encode(&bytes)
            .to_ascii_lowercase()
    )
}

/// A creator's overlay token, made on first use.
pub async fn overlay_token(state: &AppState, user_id: i64) -> Result<String, ApiError> {
    if let Some(sealed) = state.db.overlay_token_sealed(user_id).await? {
        return state
            .vault
            .open_text(Sealed::OverlayToken(user_id), &sealed)
            .map_err(ApiError::internal);
    }
    let token = new_token();
    let sealed = state
        .vault
        .seal(Sealed::OverlayToken(user_id), token.as_bytes());
    if state
        .db
        .set_overlay_token(
            user_id,
            &token_hash(&token),
            &sealed,
            state.clock.now_ms(),
            false,
        )
        .await?
    {
        return Ok(token);
    }
    // Made at the same moment by another request: that one stands.
    let sealed = state
        .db
        .overlay_token_sealed(user_id)
        .await?
        .ok_or_else(|| ApiError::internal("overlay token vanished"))?;
    state
        .vault
        .open_text(Sealed::OverlayToken(user_id), &sealed)
        .map_err(ApiError::internal)
}

/// A new overlay token for the creator; overlays open with the old one close on every node.
pub async fn rotate_overlay_token(state: &AppState, user_id: i64) -> Result<String, ApiError> {
    let token = new_token();
    let sealed = state
        .vault
        .seal(Sealed::OverlayToken(user_id), token.as_bytes());
    state
        .db
        .set_overlay_token(
            user_id,
            &token_hash(&token),
            &sealed,
            state.clock.now_ms(),
            true,
        )
        .await?;
    state.fanout.publish(RealtimeEvent::OverlayRotated {
        creator_id: user_id,
    });
    Ok(token)
}

/// The creator an overlay token belongs to, unless the account is suspended.
pub async fn overlay_owner(state: &AppState, token: &str) -> Result<Option<UserRecord>, ApiError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 64 {
        return Ok(None);
    }
    let Some(id) = state.db.overlay_token_owner(&token_hash(token)).await? else {
        return Ok(None);
    };
    Ok(state
        .db
        .user_by_id(id)
        .await?
        .filter(|u| u.suspended_at.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_as_people_read_them() {
        assert_eq!(money(500, "USD"), "$5.00");
        assert_eq!(money(50_000, "inr"), "₹500.00");
        assert_eq!(money(1_250, "COP"), "12.50 COP");
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == 3 + 39, "{a}");
        assert_eq!(token_hash(&a).len(), 64);
    }
}
