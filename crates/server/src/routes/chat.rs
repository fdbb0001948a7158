//! Chat over HTTP ("Chat Endpoints" of the Neustream API): a source's recent
//! messages and moderation — rules, deleting messages, bans and timeouts, moderators, and the
//! record of every action. Live chat itself is Socket.IO (`crate::realtime`).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::realtime::MAX_HISTORY;
use crate::routes::sources::Done;
use crate::service::chat::message_out;
use crate::service::clock::rfc3339;
use crate::service::events::{ChatMessageOut, RealtimeEvent};
use crate::service::sources::parse_id;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ferrocast_db::moderation::{Action, BanRecord, ChatSettingsRecord};
use ferrocast_db::sources::SourceRecord;
use ferrocast_domain::account::{Role, Scope};
use ferrocast_domain::chat::{ChatRules, MAX_TIMEOUT_SECONDS};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// How many messages.
#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// 1 to 200; default 50.
    pub limit: Option<i64>,
}

/// A source's messages, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    /// The newest messages that are not deleted, oldest first.
    pub messages: Vec<ChatMessageOut>,
}

/// A source's recent chat (public, like the chat room itself): what a page shows before live
/// messages arrive over Socket.IO.
#[utoipa::path(get, path = "/api/chat/messages/{source_id}", tag = "chat",
    params(("source_id" = i64, Path, description = "Source id"), HistoryQuery),
    responses((status = 200, body = MessageList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn messages(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<MessageList>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_HISTORY).contains(&limit) {
        return Err(ApiError::validation(format!(
            "limit: must be 1 to {MAX_HISTORY}"
        )));
    }
    let source = match source_id.parse::<i64>() {
        Ok(id) => state.db.source_by_id(id).await?,
        Err(_) => None,
    }
    .ok_or_else(|| ApiError::not_found("source"))?;
    let messages = state
        .db
        .recent_chat_messages(source.id, limit)
        .await?
        .iter()
        .map(message_out)
        .collect();
    Ok(Json(MessageList { messages }))
}

/// The source named by `raw` if the caller moderates its chat.
async fn moderated_source(state: &AppState, auth: &AuthUser, raw: &str) -> ApiResult<SourceRecord> {
    chat_source(state, auth, raw, false).await
}

/// The source named by `raw`, if the caller moderates its chat (`owner_only`: owns it, or is
/// an administrator).
async fn chat_source(
    state: &AppState,
    auth: &AuthUser,
    raw: &str,
    owner_only: bool,
) -> ApiResult<SourceRecord> {
    let source = state
        .db
        .source_by_id(parse_id(raw, "source")?)
        .await?
        .ok_or_else(|| ApiError::not_found("source"))?;
    let allowed = if owner_only {
        source.user_id == auth.user.id || auth.is_admin()
    } else {
        state
            .chat
            .can_moderate(auth.user.id, auth.role, &source)
            .await?
    };
    if !allowed {
        return Err(ApiError::forbidden(if owner_only {
            "Only the source's owner chooses its chat moderators."
        } else {
            "Only the source's owner and its chat moderators can do this."
        }));
    }
    Ok(source)
}

/// A source's chat rules.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    /// Seconds a viewer waits between messages (0: off; at most 3600).
    pub slow_mode_seconds: i64,
    /// Words or phrases a message may not contain (at most 200, each 1–50 characters; case is
    /// ignored, whole words only).
    pub blocked_words: Vec<String>,
    /// Whether viewers may post links.
    pub links_allowed: bool,
}

/// The rules of a source's chat (its moderators).
#[utoipa::path(get, path = "/api/chat/settings/{source_id}", tag = "chat", operation_id = "get_chat_settings", security(("bearer" = [])),
    params(("source_id" = i64, Path, description = "Source id")),
    responses((status = 200, body = ChatSettings), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(source_id): Path<String>,
) -> ApiResult<Json<ChatSettings>> {
    let source = moderated_source(&state, &auth, &source_id).await?;
    let rules = state.chat.rules(source.id).await?;
    Ok(Json(ChatSettings {
        slow_mode_seconds: rules.slow_mode_seconds,
        blocked_words: rules.blocked_words,
        links_allowed: rules.links_allowed,
    }))
}

/// Set slow mode, blocked words and the links filter of a source's chat (its moderators).
#[utoipa::path(put, path = "/api/chat/settings/{source_id}", tag = "chat", operation_id = "put_chat_settings", security(("bearer" = [])), request_body = ChatSettings,
    params(("source_id" = i64, Path, description = "Source id")),
    responses((status = 200, body = ChatSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(source_id): Path<String>,
    ApiJson(req): ApiJson<ChatSettings>,
) -> ApiResult<Json<ChatSettings>> {
    let source = moderated_source(&state, &auth, &source_id).await?;
    let rules = ChatRules::new(req.slow_mode_seconds, &req.blocked_words, req.links_allowed)
        .map_err(ApiError::validation)?;
    let out = ChatSettings {
        slow_mode_seconds: rules.slow_mode_seconds,
        blocked_words: rules.blocked_words,
        links_allowed: rules.links_allowed,
    };
    let record = ChatSettingsRecord {
        slow_mode_seconds: out.slow_mode_seconds,
        blocked_words: serde_json::to_string(&out.blocked_words).map_err(ApiError::internal)?,
        links_allowed: out.links_allowed,
    };
    let details = serde_json::to_string(&out).map_err(ApiError::internal)?;
    let action = Action {
        source_id: Some(source.id),
        actor_id: auth.user.id,
        action: "settings",
        target_user_id: None,
        target_message_id: None,
        details: &details,
    };
    state
        .db
        .put_chat_settings(source.id, &record, &action, state.clock.now_ms())
        .await?;
    Ok(Json(out))
}

/// Delete a chat message (the source's moderators): hidden from history, and clients are told
/// (`message-deleted`).
#[utoipa::path(delete, path = "/api/chat/messages/{source_id}/{id}", tag = "chat", security(("bearer" = [])),
    params(("source_id" = i64, Path, description = "Source id"), ("id" = i64, Path, description = "Message id")),
    responses((status = 200, body = Done), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_message(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((source_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Done>> {
    let source = moderated_source(&state, &auth, &source_id).await?;
    let message = state
        .db
        .chat_message_by_id(parse_id(&id, "message")?)
        .await?
        .filter(|m| m.source_id == source.id)
        .ok_or_else(|| ApiError::not_found("message"))?;
    let action = Action {
        source_id: Some(message.source_id),
        actor_id: auth.user.id,
        action: "delete_message",
        target_user_id: message.user_id,
        target_message_id: Some(message.id),
        details: "{}",
    };
    if state
        .db
        .delete_chat_message(message.id, &action, state.clock.now_ms())
        .await?
    {
        state.fanout.publish(RealtimeEvent::MessageDeleted {
            source_id: message.source_id,
            id: message.id,
        });
    }
    Ok(Json(Done {
        message: "Message deleted.".into(),
    }))
}

/// A ban or timeout to impose.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBan {
    /// The source's chat; leave out (administrators only) to ban from every chat.
    pub source_id: Option<i64>,
    /// The user's UUID (`author_id` of their messages)…
    pub user_id: Option<String>,
    /// …or one of their messages.
    pub message_id: Option<i64>,
    /// A timeout of this many seconds (1 to 14 days); leave out to ban until lifted.
    pub duration_seconds: Option<i64>,
    /// Why (shown to moderators), at most 200 characters.
    #[serde(default)]
    pub reason: String,
}

/// A ban or timeout in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct BanView {
    /// Ban id (to lift it).
    pub id: i64,
    /// The source; `null`: every chat.
    pub source_id: Option<i64>,
    /// The user's UUID.
    pub user_id: String,
    /// Their display name.
    pub display_name: String,
    /// When a timeout ends (RFC 3339); `null`: until lifted.
    pub expires_at: Option<String>,
    /// Why.
    pub reason: String,
    /// Since (RFC 3339).
    pub created_at: String,
}

/// Bans in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct BanList {
    /// Newest first.
    pub bans: Vec<BanView>,
}

async fn ban_view(state: &AppState, b: &BanRecord) -> ApiResult<BanView> {
    let user = state.db.user_by_id(b.user_id).await?;
    Ok(BanView {
        id: b.id,
        source_id: b.source_id,
        user_id: user.as_ref().map(|u| u.uuid.clone()).unwrap_or_default(),
        display_name: user.map(|u| u.display_name).unwrap_or_default(),
        expires_at: b.expires_at.map(rfc3339),
        reason: b.reason.clone(),
        created_at: rfc3339(b.created_at),
    })
}

/// Ban a user from a chat, or time them out (the source's moderators; every chat:
/// administrators). Their messages are refused until it ends; clients are told
/// (`user-banned`).
#[utoipa::path(post, path = "/api/chat/bans", tag = "chat", security(("bearer" = [])), request_body = NewBan,
    responses((status = 201, body = BanView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn ban(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewBan>,
) -> ApiResult<(StatusCode, Json<BanView>)> {
    let (target, source_hint) = match (&req.user_id, req.message_id) {
        (Some(uuid), None) if uuid.len() <= 64 => (state.db.user_by_uuid(uuid).await?, None),
        (None, Some(id)) => match state.db.chat_message_by_id(id).await? {
            Some(m) => (
                match m.user_id {
                    Some(u) => state.db.user_by_id(u).await?,
                    None => None,
                },
                Some(m.source_id),
            ),
            None => return Err(ApiError::not_found("message")),
        },
        _ => {
            return Err(ApiError::validation(
                "name the user: user_id (their UUID) or message_id (one of their messages)",
            ))
        }
    };
    let target = target.ok_or_else(|| ApiError::not_found("user"))?;
    let source_id = match (req.source_id, source_hint) {
        (Some(s), Some(h)) if s != h => {
            return Err(ApiError::validation(
                "message_id: that message is in another source's chat",
            ))
        }
        (s, _) => s,
    };
    let source = match source_id {
        Some(id) => Some(moderated_source(&state, &auth, &id.to_string()).await?),
        None => {
            auth.require(Scope::Admin)?;
            None
        }
    };
    let source_id = source.as_ref().map(|s| s.id);
    if target.id == auth.user.id {
        return Err(ApiError::validation("you cannot ban yourself"));
    }
    // A chat's owner is never banned from it, administrators never from any, and site
    // moderators only by administrators.
    if source.as_ref().is_some_and(|s| s.user_id == target.id) {
        return Err(ApiError::forbidden(
            "The source's owner cannot be banned or timed out in their own chat.",
        ));
    }
    match Role::parse(&target.role) {
        Some(Role::Admin) => {
            return Err(ApiError::forbidden(
                "Administrators cannot be banned or timed out.",
            ))
        }
        Some(Role::Moderator) if !auth.is_admin() => {
            return Err(ApiError::forbidden(
                "Only administrators can ban or time out site moderators.",
            ))
        }
        _ => {}
    }
    if let Some(d) = req.duration_seconds {
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&d) {
            return Err(ApiError::validation(format!(
                "duration_seconds: 1 to {MAX_TIMEOUT_SECONDS} (longer: leave it out to ban)"
            )));
        }
    }
    let reason = req.reason.trim();
    if reason.chars().count() > 200 {
        return Err(ApiError::validation("reason: at most 200 characters"));
    }
    let now = state.clock.now_ms();
    let expires_at = req.duration_seconds.map(|d| now + d * 1000);
    let details = serde_json::json!({ "duration_seconds": req.duration_seconds, "reason": reason })
        .to_string();
    let action = Action {
        source_id,
        actor_id: auth.user.id,
        action: if expires_at.is_some() {
            "timeout"
        } else {
            "ban"
        },
        target_user_id: Some(target.id),
        target_message_id: req.message_id,
        details: &details,
    };
    let id = state
        .db
        .insert_chat_ban(source_id, target.id, expires_at, reason, &action, now)
        .await?;
    state.fanout.publish(RealtimeEvent::UserBanned {
        source_id,
        user_id: target.uuid.clone(),
        until: expires_at.map(rfc3339),
    });
    let ban = state
        .db
        .chat_ban(id)
        .await?
        .ok_or_else(|| ApiError::not_found("ban"))?;
    Ok((StatusCode::CREATED, Json(ban_view(&state, &ban).await?)))
}

/// Bans and timeouts in force in a source's chat, global ones included (its moderators).
#[utoipa::path(get, path = "/api/chat/bans/{source_id}", tag = "chat", security(("bearer" = [])),
    params(("source_id" = i64, Path, description = "Source id")),
    responses((status = 200, body = BanList), (status = 403, body = ErrorBody)))]
pub async fn list_bans(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(source_id): Path<String>,
) -> ApiResult<Json<BanList>> {
    let source = moderated_source(&state, &auth, &source_id).await?;
    let mut bans = Vec::new();
    for b in state
        .db
        .list_chat_bans(source.id, state.clock.now_ms())
        .await?
    {
        bans.push(ban_view(&state, &b).await?);
    }
    Ok(Json(BanList { bans }))
}

/// Lift a ban or timeout listed in a source's chat (its moderators; a ban from every chat:
/// administrators, through any source).
#[utoipa::path(delete, path = "/api/chat/bans/{source_id}/{id}", tag = "chat", security(("bearer" = [])),
    params(("source_id" = i64, Path, description = "Source id"), ("id" = i64, Path, description = "Ban id")),
    responses((status = 200, body = Done), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unban(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((source_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Done>> {
    let source = moderated_source(&state, &auth, &source_id).await?;
    let ban = state
        .db
        .chat_ban(parse_id(&id, "ban")?)
        .await?
        .filter(|b| b.source_id.is_none_or(|s| s == source.id))
        .ok_or_else(|| ApiError::not_found("ban"))?;
    if ban.source_id.is_none() {
        auth.require(Scope::Admin)?;
    }
    let action = Action {
        source_id: ban.source_id,
        actor_id: auth.user.id,
        action: "unban",
        target_user_id: Some(ban.user_id),
        target_message_id: None,
        details: "{}",
    };
    state
        .db
        .lift_chat_ban(ban.id, &action, state.clock.now_ms())
        .await?;
    Ok(Json(Done {
        message: "Ban lifted.".into(),
    }))
}

/// A chat moderator.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModeratorView {
    /// User UUID.
    pub user_id: String,
    /// Display name.
    pub display_name: String,
    /// Since (RFC 3339).
    pub since: String,
}

/// A source's chat moderators.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModeratorList {
    /// Oldest first.
    pub moderators: Vec<ModeratorView>,
}

/// Who moderates a source's chat (its moderators).
#[utoipa::path(get, path = "/api/chat/moderators/{source_id}", tag = "chat", security(("bearer" = [])),
    params(("source_id" = i64, Path, description = "Source id")),
    responses((status = 200, body = ModeratorList), (status = 403, body = ErrorBody)))]
pub async fn list_moderators(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(source_id): Path<String>,
) -> ApiResult<Json<ModeratorList>> {
    let source = moderated_source(&state, &auth, &source_id).await?;
    let moderators = state
        .db
        .list_chat_moderators(source.id)
        .await?
        .into_iter()
        .map(|(_, uuid, name, since)| ModeratorView {
            user_id: uuid,
            display_name: name,
            since: rfc3339(since),
        })
        .collect();
    Ok(Json(ModeratorList { moderators }))
}

async fn moderator_change(
    state: &AppState,
    auth: &AuthUser,
    source_id: &str,
    user_id: &str,
    add: bool,
) -> ApiResult<Json<Done>> {
    let source = chat_source(state, auth, source_id, true).await?;
    let user = match user_id.len() {
        1..=64 => state.db.user_by_uuid(user_id).await?,
        _ => None,
    }
    .ok_or_else(|| ApiError::not_found("user"))?;
    let action = Action {
        source_id: Some(source.id),
        actor_id: auth.user.id,
        action: if add {
            "add_moderator"
        } else {
            "remove_moderator"
        },
        target_user_id: Some(user.id),
        target_message_id: None,
        details: "{}",
    };
    let now = state.clock.now_ms();
    if add {
        state
            .db
            .add_chat_moderator(source.id, user.id, &action, now)
            .await?;
    } else if !state
        .db
        .remove_chat_moderator(source.id, user.id, &action, now)
        .await?
    {
        return Err(ApiError::not_found("moderator"));
    }
    Ok(Json(Done {
        message: if add {
            format!("{} now moderates this chat.", user.display_name)
        } else {
            format!("{} no longer moderates this chat.", user.display_name)
        },
    }))
}

/// Make a user a moderator of a source's chat (its owner).
#[utoipa::path(put, path = "/api/chat/moderators/{source_id}/{user_id}", tag = "chat", security(("bearer" = [])),
    params(("source_id" = i64, Path, description = "Source id"), ("user_id" = String, Path, description = "User UUID")),
    responses((status = 200, body = Done), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_moderator(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((source_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Done>> {
    moderator_change(&state, &auth, &source_id, &user_id, true).await
}

/// Remove a moderator of a source's chat (its owner).
#[utoipa::path(delete, path = "/api/chat/moderators/{source_id}/{user_id}", tag = "chat", security(("bearer" = [])),
    params(("source_id" = i64, Path, description = "Source id"), ("user_id" = String, Path, description = "User UUID")),
    responses((status = 200, body = Done), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_moderator(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((source_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Done>> {
    moderator_change(&state, &auth, &source_id, &user_id, false).await
}

/// A recorded moderation action.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionView {
    /// `delete_message`, `timeout`, `ban`, `unban`, `settings`, `add_moderator`,
    /// `remove_moderator`.
    pub action: String,
    /// Who acted (user id).
    pub actor_id: Option<i64>,
    /// Upon whom (user id).
    pub target_user_id: Option<i64>,
    /// Upon which message.
    pub target_message_id: Option<i64>,
    /// What else it carried.
    pub details: serde_json::Value,
    /// When (RFC 3339).
    pub created_at: String,
}

/// The record.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionList {
    /// Newest first, at most 200.
    pub actions: Vec<ActionView>,
}

/// Every moderation action in a source's chat, newest first (its moderators).
#[utoipa::path(get, path = "/api/chat/moderation/{source_id}", tag = "chat", security(("bearer" = [])),
    params(("source_id" = i64, Path, description = "Source id")),
    responses((status = 200, body = ActionList), (status = 403, body = ErrorBody)))]
pub async fn moderation_log(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(source_id): Path<String>,
) -> ApiResult<Json<ActionList>> {
    let source = moderated_source(&state, &auth, &source_id).await?;
    let actions = state
        .db
        .moderation_log(source.id, 200)
        .await?
        .into_iter()
        .map(|a| ActionView {
            action: a.action,
            actor_id: a.actor_id,
            target_user_id: a.target_user_id,
            target_message_id: a.target_message_id,
            details: serde_json::from_str(&a.details).unwrap_or_default(),
            created_at: rfc3339(a.created_at),
        })
        .collect();
    Ok(Json(ActionList { actions }))
}
