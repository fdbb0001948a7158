//! `POST /api/auth/stream`: the seed's stream-key check ("Get Stream Key (For Legacy Single
//! Stream)"). A signed-in creator asks whether a stream key is one of theirs and whether an
//! encoder publishing with it would be let in now — the same decision the RTMP ingest makes.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use ferrocast_auth::token;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest stream key looked up (ours are 67 characters).
const MAX_KEY_LEN: usize = 256;

/// The key to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamKeyCheck {
    /// A stream key (`sk_…`).
    pub stream_key: String,
}

/// The source a stream key publishes to.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamKeySource {
    /// Integer id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// Name.
    pub name: String,
    /// Public playback id.
    pub playback_id: String,
    /// Whether a publisher is live on it now.
    pub is_active: bool,
}

/// What publishing with the key would do now.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamKeyStatus {
    /// The key is one of the caller's (always `true`; other keys answer 404).
    pub valid: bool,
    /// Whether an encoder publishing with it now would be let in (the plan's streaming time).
    pub allowed: bool,
    /// Why not, when not allowed.
    pub reason: Option<String>,
    /// Where the encoder publishes: `ingest_url` + `/` + the key.
    pub ingest_url: String,
    /// The source.
    pub source: StreamKeySource,
}

/// Check a stream key of the caller's: its source, and whether it may publish now.
#[utoipa::path(post, path = "/api/auth/stream", tag = "auth", security(("bearer" = [])), request_body = StreamKeyCheck,
    responses((status = 200, body = StreamKeyStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn stream_key(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<StreamKeyCheck>,
) -> ApiResult<Json<StreamKeyStatus>> {
    let key = req.stream_key.trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ApiError::validation(format!(
            "stream_key: 1 to {MAX_KEY_LEN} characters; copy it from your source on the dashboard"
        )));
    }
    // Someone else's key answers as an unknown one does.
    let source = state
        .db
        .source_by_key_hash(&token::hash(key))
        .await?
        .filter(|s| s.user_id == auth.user.id)
        .ok_or_else(|| ApiError::not_found("stream key among your sources"))?;
    let (plan, allowance) =
        crate::service::streams::allowance(&state.db, auth.user.id, state.clock.now_ms()).await?;
    let allowed = !allowance.exhausted();
    Ok(Json(StreamKeyStatus {
        valid: true,
        allowed,
        reason: (!allowed).then(|| crate::service::streams::exhausted_reason(&plan)),
        ingest_url: format!("{}/live", crate::routes::sources::rtmp_base_url(&state)),
        source: StreamKeySource {
            id: source.id,
            uuid: source.uuid,
            name: source.name,
            playback_id: source.playback_id,
            is_active: source.is_active,
        },
    }))
}
