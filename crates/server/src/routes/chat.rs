//! Chat over HTTP ("Chat Endpoints" of `seeds/neustream-architecture.md`): a source's recent
//! messages. Live chat itself is Socket.IO (`crate::realtime`).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::realtime::bus::ChatMessageOut;
use crate::realtime::{message_out, MAX_HISTORY};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
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
