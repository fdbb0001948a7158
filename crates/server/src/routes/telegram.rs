//! The Telegram bot over HTTP: the webhook Telegram calls (checked with the secret token given
//! to `setWebhook`), and a creator's connected channel or group for go-live posts.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::service::clock::rfc3339;
use crate::service::telegram_bot::{html, Reply};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use ferrocast_domain::account::Role;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use utoipa::ToSchema;

/// The header Telegram sends the webhook's secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

fn bot_off() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "TELEGRAM_OFF",
        "The Telegram bot is off on this server",
        "The operator turns it on with FERROCAST_TELEGRAM_BOT_TOKEN.",
    )
}

/// Telegram's webhook: an update, answered by queuing the bot's reply. Refused (401) without
/// the secret token `setWebhook` was given, in `X-Telegram-Bot-Api-Secret-Token`.
#[utoipa::path(post, path = "/api/telegram/webhook", tag = "telegram",
    request_body(content = Object, description = "A Telegram Update"),
    responses((status = 200, description = "Taken"), (status = 401, body = ErrorBody, description = "`TELEGRAM_SECRET`: the secret token is missing or wrong"),
              (status = 404, body = ErrorBody, description = "`TELEGRAM_OFF`")))]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(update): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let bot = state.telegram_bot.as_ref().ok_or_else(bot_off)?;
    let presented = headers
        .get(SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !bot.secret_matches(presented) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "TELEGRAM_SECRET",
            "This is not Telegram calling",
            "Telegram sends the secret token given to setWebhook in X-Telegram-Bot-Api-Secret-Token; the node sets the webhook itself when its public URL is https.",
        ));
    }
    // A bad update is logged, not refused: Telegram would deliver it again and again.
    if let Err(e) = crate::telegram_bot::handle_update(&state, &update).await {
        tracing::warn!(error = %e, "a Telegram update could not be handled");
    }
    Ok(Json(json!({})))
}

/// The bot as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramView {
    /// Whether the bot runs on this server.
    pub enabled: bool,
    /// The bot's username, without `@`.
    pub username: Option<String>,
    /// The Telegram account linked to the caller's (its id), if any.
    pub linked_telegram_id: Option<String>,
    /// The caller's connected channel or group.
    pub chat: Option<TelegramChatView>,
}

/// A creator's connected channel or group.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramChatView {
    /// Its id.
    pub chat_id: i64,
    /// Its title.
    pub title: String,
    /// RFC 3339.
    pub connected_at: String,
}

/// What the bot is, and what of it the caller uses.
#[utoipa::path(get, path = "/api/telegram", tag = "telegram", security(("bearer" = [])),
    responses((status = 200, body = TelegramView), (status = 401, body = ErrorBody)))]
pub async fn telegram_status(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<TelegramView>> {
    let linked = state
        .db
        .telegram_id_of(auth.user.id)
        .await?
        .map(|id| id.to_string());
    let chat = state
        .db
        .telegram_chat_of(auth.user.id)
        .await?
        .map(|c| TelegramChatView {
            chat_id: c.chat_id,
            title: c.title,
            connected_at: rfc3339(c.connected_at),
        });
    Ok(Json(TelegramView {
        enabled: state.telegram_bot.is_some(),
        username: state.telegram_bot.as_ref().and_then(|b| b.username.clone()),
        linked_telegram_id: linked,
        chat,
    }))
}

/// A channel or group to connect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectChat {
    /// The channel's or group's public username (`@name`) or its numeric id (`-100…`).
    pub chat: String,
}

/// Connect a Telegram channel or group: the bot (an administrator there) posts the creator's
/// go-live news in it. The bot checks the chat with Telegram and posts a first message.
#[utoipa::path(put, path = "/api/telegram/chat", tag = "telegram", security(("bearer" = [])), request_body = ConnectChat,
    responses((status = 200, body = TelegramChatView), (status = 404, body = ErrorBody, description = "`TELEGRAM_OFF`"),
              (status = 422, body = ErrorBody, description = "Telegram does not know the chat, or the bot is not in it"),
              (status = 502, body = ErrorBody)))]
pub async fn connect_chat(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<ConnectChat>,
) -> ApiResult<Json<TelegramChatView>> {
    let bot = state.telegram_bot.as_ref().ok_or_else(bot_off)?;
    if !matches!(auth.role, Role::Creator | Role::Admin) {
        return Err(ApiError::forbidden(
            "Only creators post their go-live news to a Telegram channel.",
        ));
    }
    let Some(telegram_id) = state.db.telegram_id_of(auth.user.id).await? else {
        return Err(ApiError::validation(
            "chat: link your Telegram account first (Settings → Telegram): the bot checks that you run the channel",
        ));
    };
    let raw = req.chat.trim();
    let chat: Value = if let Ok(id) = raw.parse::<i64>() {
        json!(id)
    } else {
        let name = raw
            .trim_start_matches("https://t.me/")
            .trim_start_matches('@');
        if name.len() < 4
            || name.len() > 32
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ApiError::validation(
                "chat: give the channel's or group's @username, or its numeric id (-100…)",
            ));
        }
        json!(format!("@{name}"))
    };
    let found = match bot
        .call("getChat", &json!({ "chat_id": chat }), Duration::ZERO)
        .await
    {
        Reply::Ok(v) => v,
        Reply::Refused(e) => {
            return Err(ApiError::validation(format!(
                "chat: Telegram answered {e}. Add @{} to the channel or group as an administrator, then try again",
                bot.username.as_deref().unwrap_or("the bot")
            )))
        }
        Reply::RetryAfter(_) | Reply::Failed(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "TELEGRAM_UNREACHABLE",
                "Telegram did not answer",
                "Try again in a minute.",
            ))
        }
    };
    let (Some(id), Some(kind)) = (found["id"].as_i64(), found["type"].as_str()) else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "TELEGRAM_UNREACHABLE",
            "Telegram's answer was not a chat",
            "Try again in a minute.",
        ));
    };
    if kind == "private" {
        return Err(ApiError::validation(
            "chat: that is a person, not a channel or group; your own notices come to you once you sign in with Telegram",
        ));
    }
    // Only someone who runs the chat may have the bot post there.
    let member = bot
        .call(
            "getChatMember",
            &json!({"chat_id": id, "user_id": telegram_id}),
            Duration::ZERO,
        )
        .await;
    let runs_it = matches!(&member, Reply::Ok(m) if matches!(m["status"].as_str(), Some("creator" | "administrator")));
    if !runs_it {
        return Err(ApiError::forbidden(
            "Your Telegram account is not an administrator of that channel or group; an administrator connects it.",
        ));
    }
    let title: String = found["title"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(128)
        .collect();
    let now = state.clock.now_ms();
    state
        .db
        .connect_telegram_chat(auth.user.id, id, &title, now)
        .await?;
    crate::telegram_bot::say(
        &state,
        id,
        &format!(
            "Connected: {}'s go-live news will be posted here.",
            html(&auth.user.display_name)
        ),
        &json!([]),
        Some(&format!("connected:{id}:{}", auth.user.id)),
    )
    .await?;
    Ok(Json(TelegramChatView {
        chat_id: id,
        title,
        connected_at: rfc3339(now),
    }))
}

/// Disconnect the caller's Telegram channel or group.
#[utoipa::path(delete, path = "/api/telegram/chat", tag = "telegram", security(("bearer" = [])),
    responses((status = 204, description = "Disconnected"), (status = 404, body = ErrorBody)))]
pub async fn disconnect_chat(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<StatusCode> {
    if state.db.disconnect_telegram_chat(auth.user.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("telegram chat"))
    }
}
