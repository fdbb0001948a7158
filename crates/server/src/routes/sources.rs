//! Stream sources, minimal for now: create and list (the full API — update, delete, rotate key,
//! destinations — arrives with restreaming). Shapes follow `seeds/neustream-architecture.md`
//! ("Sources Endpoints"), plus the public `playback_id` and ready-to-use URLs.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::routes::auth::rfc3339;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use ferrocast_auth::token;
use ferrocast_db::now_ms;
use ferrocast_db::sources::{NewSource, SourceRecord};
use ferrocast_domain::account::{Role, Scope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Sources per user until plans (with their limits) arrive.
const MAX_SOURCES: usize = 50;

/// Where to watch a source.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybackUrls {
    /// HLS playlist.
    pub hls: String,
    /// HTTP-FLV.
    pub flv: String,
    /// RTMP play.
    pub rtmp: String,
}

/// A source as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    /// Integer id.
    pub id: i64,
    /// UUID.
    pub uuid: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The secret stream key: put it in OBS, never share it.
    pub stream_key: String,
    /// Public id that viewers use.
    pub playback_id: String,
    /// Whether a publisher is live now.
    pub is_active: bool,
    /// RFC 3339.
    pub created_at: String,
    /// OBS "Server" setting.
    pub ingest_url: String,
    /// Public playback URLs.
    pub playback: PlaybackUrls,
}

/// Create-source body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSource {
    /// 1 to 100 characters.
    #[schema(example = "Gaming Stream")]
    pub name: String,
    /// Up to 1000 characters.
    pub description: Option<String>,
}

/// Create-source answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceCreated {
    /// The new source.
    pub source: SourceView,
}

/// List answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceList {
    /// Oldest first.
    pub sources: Vec<SourceView>,
}

impl AppState {
    fn source_view(&self, s: &SourceRecord) -> ApiResult<SourceView> {
        let key = self
            .keys
            .secrets
            .open(
                &format!("stream_sources.key:{}", s.uuid),
                &s.stream_key_sealed,
            )
            .map_err(ApiError::internal)?;
        let stream_key = String::from_utf8(key).map_err(ApiError::internal)?;
        let base = &self.config.public_url;
        let rtmp = self.rtmp_base_url();
        Ok(SourceView {
            id: s.id,
            uuid: s.uuid.clone(),
            name: s.name.clone(),
            description: s.description.clone(),
            stream_key,
            playback_id: s.playback_id.clone(),
            is_active: s.is_active,
            created_at: rfc3339(s.created_at),
            ingest_url: format!("{rtmp}/live"),
            playback: PlaybackUrls {
                hls: format!("{base}/hls/{}/index.m3u8", s.playback_id),
                flv: format!("{base}/live/{}.flv", s.playback_id),
                rtmp: format!("{rtmp}/play/{}", s.playback_id),
            },
        })
    }

    /// `rtmp://host:port` as users reach it: the public URL's host with the RTMP port.
    pub fn rtmp_base_url(&self) -> String {
        let host = self
            .config
            .public_url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(&self.config.public_url);
        let host = host.split('/').next().unwrap_or(host);
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        format!("rtmp://{host}:{}", self.config.rtmp_addr.port())
    }
}

/// A new stream key: `sk_` and 32 random bytes in hex.
pub fn new_stream_key() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!("sk_{}", data_encoding::HEXLOWER.encode(&bytes))
}

/// A new playback id: 16 characters of lower-case base32 (80 random bits).
pub fn new_playback_id() -> String {
    let mut bytes = [0u8; 10];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase()
}

fn check_creator(auth: &AuthUser) -> ApiResult<()> {
    if !(auth.role.satisfies(Role::Creator) || auth.role.satisfies(Role::Brand)) {
        return Err(ApiError::forbidden(
            "Only creator accounts stream; ask an administrator to change your role.",
        ));
    }
    Ok(())
}

/// Create a source with a fresh stream key and playback id.
#[utoipa::path(post, path = "/api/sources", tag = "sources", security(("bearer" = [])), request_body = CreateSource,
    responses((status = 201, body = SourceCreated), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_source(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<CreateSource>,
) -> ApiResult<(StatusCode, Json<SourceCreated>)> {
    auth.require(Scope::SourcesWrite)?;
    check_creator(&auth)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name: must be 1 to 100 characters without control characters",
        ));
    }
    let description = req
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    if let Some(d) = description {
        if d.chars().count() > 1000 || d.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ApiError::validation(
                "description: must be at most 1000 characters without control characters",
            ));
        }
    }
    if state.db.list_sources(auth.user.id).await?.len() >= MAX_SOURCES {
        return Err(ApiError::forbidden(format!(
            "You have the maximum of {MAX_SOURCES} sources; delete one first."
        )));
    }
    let uuid = uuid::Uuid::new_v4().to_string();
    let key = new_stream_key();
    let sealed = state
        .keys
        .secrets
        .seal(&format!("stream_sources.key:{uuid}"), key.as_bytes());
    let playback_id = new_playback_id();
    let rec = state
        .db
        .create_source(
            &NewSource {
                uuid: &uuid,
                user_id: auth.user.id,
                name,
                description,
                stream_key_hash: &token::hash(&key),
                stream_key_sealed: &sealed,
                playback_id: &playback_id,
            },
            now_ms(),
        )
        .await?;
    tracing::info!(user_id = auth.user.id, source = %rec.uuid, playback_id = %rec.playback_id, "source created");
    Ok((
        StatusCode::CREATED,
        Json(SourceCreated {
            source: state.source_view(&rec)?,
        }),
    ))
}

/// The caller's sources.
#[utoipa::path(get, path = "/api/sources", tag = "sources", security(("bearer" = [])),
    responses((status = 200, body = SourceList), (status = 401, body = ErrorBody)))]
pub async fn list_sources(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<SourceList>> {
    auth.require(Scope::SourcesRead)?;
    let rows = state.db.list_sources(auth.user.id).await?;
    let sources = rows
        .iter()
        .map(|s| state.source_view(s))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(SourceList { sources }))
}
