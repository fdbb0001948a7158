//! Chat connectors over HTTP (Neustream's "Chat Endpoints"): list a source's connectors, connect
//! YouTube or Twitch (or the generic create), remove one. Tokens are sealed before they are
//! stored and never returned; what a connector is doing is in `state` and `last_error`.

use crate::connectors::Secrets;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::routes::sources::Done;
use crate::service::clock::rfc3339;
use crate::service::events::RealtimeEvent;
use crate::service::sources::parse_id;
use crate::service::vault::Sealed;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use ferrocast_db::connectors::{ConnectorRecord, NewConnector};
use ferrocast_db::sources::SourceRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A connector as its owner sees it (never its tokens).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorView {
    /// Id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// The source.
    pub source_id: i64,
    /// `youtube` or `twitch`.
    pub platform: String,
    /// Whether it runs (false once it `failed`, until connected again).
    pub is_active: bool,
    /// `connecting`, `connected`, `waiting` (no live broadcast or chat yet), `retrying` or
    /// `failed`.
    pub state: String,
    /// What went wrong last, in words (a spent quota, a revoked token…).
    pub last_error: Option<String>,
    /// Channel and chat it reads, and when it was connected.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// When created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl From<ConnectorRecord> for ConnectorView {
    fn from(r: ConnectorRecord) -> Self {
        Self {
            id: r.id,
            uuid: r.uuid,
            source_id: r.source_id,
            platform: r.platform,
            is_active: r.is_active,
            state: r.state,
            last_error: r.last_error,
            config: serde_json::from_str(&r.config).unwrap_or_default(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// A source's connectors.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorList {
    /// Oldest first.
    pub connectors: Vec<ConnectorView>,
}

/// The source named by `id` if the caller owns it (or is an administrator).
async fn owned_source(state: &AppState, auth: &AuthUser, id: i64) -> ApiResult<SourceRecord> {
    let source = state
        .db
        .source_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("source"))?;
    if source.user_id != auth.user.id && !auth.is_admin() {
        return Err(ApiError::not_found("source"));
    }
    Ok(source)
}

/// The chat connectors of a source (its owner).
/// (The path's one parameter is a source id here and a connector id for `DELETE`, as in
/// Neustream's API.)
#[utoipa::path(get, path = "/api/chat/connectors/{id}", tag = "chat", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, body = ConnectorList), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(source_id): Path<String>,
) -> ApiResult<Json<ConnectorList>> {
    let source = owned_source(&state, &auth, parse_id(&source_id, "source")?).await?;
    let connectors = state
        .db
        .chat_connectors_for_source(source.id)
        .await?
        .into_iter()
        .map(ConnectorView::from)
        .collect();
    Ok(Json(ConnectorList { connectors }))
}

/// Connect a source to Twitch chat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwitchConnect {
    /// The source.
    pub source_id: i64,
    /// The channel's login name (`mychannel` of twitch.tv/mychannel).
    pub channel: String,
    /// A user access token with the `user:read:chat` scope (and `user:write:chat` to send).
    pub oauth_token: String,
}

/// Connect a source to YouTube live chat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YoutubeConnect {
    /// The source.
    pub source_id: i64,
    /// The YouTube channel (shown to the creator).
    #[serde(default)]
    pub channel_id: Option<String>,
    /// An OAuth access token with the `youtube` (or `youtube.readonly`) scope.
    pub oauth_token: String,
    /// A refresh token, so the connector renews the access token itself (needs the node's
    /// Google OAuth client).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// A particular live chat; leave out to follow the channel's active broadcast.
    #[serde(default)]
    pub live_chat_id: Option<String>,
}

/// The generic create (`POST /api/chat/connectors`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConnectorRequest {
    /// The source.
    pub source_id: i64,
    /// `youtube` or `twitch`.
    pub platform: String,
    /// The platform's fields, as in the platform's connect request.
    pub config: ConnectorConfig,
}

/// The platform's fields of a generic create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// Twitch: the channel's login name.
    #[serde(default)]
    pub channel: Option<String>,
    /// YouTube: the channel.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// YouTube: a particular live chat.
    #[serde(default)]
    pub live_chat_id: Option<String>,
    /// The platform's OAuth access token.
    pub oauth_token: String,
    /// YouTube: a refresh token.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Accepted for compatibility with older clients and ignored (platform APIs act as the
    /// token's account).
    #[serde(default)]
    pub bot_username: Option<String>,
}

/// A field the platform identifies a channel or chat by: 1–128 printable ASCII characters.
fn identifier(value: &str, field: &str) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() || v.len() > 128 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::validation(format!(
            "{field}: must be 1 to 128 visible ASCII characters"
        )));
    }
    Ok(v.to_owned())
}

fn token(value: &str, field: &str) -> ApiResult<String> {
    let v = value.trim().trim_start_matches("oauth:");
    if v.is_empty() || v.len() > 4096 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::validation(format!(
            "{field}: must be the platform's token, 1 to 4096 visible ASCII characters"
        )));
    }
    Ok(v.to_owned())
}

/// Stores (or replaces) the source's connector for the platform and starts it.
async fn connect(
    state: &AppState,
    auth: &AuthUser,
    source_id: i64,
    platform: &str,
    config: serde_json::Value,
    secrets: Secrets,
) -> ApiResult<(StatusCode, Json<ConnectorView>)> {
    let source = owned_source(state, auth, source_id).await?;
    let record = store(state, &source, platform, config, secrets).await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// Seals the tokens, stores (or replaces) the connector and tells every node to start it.
async fn store(
    state: &AppState,
    source: &SourceRecord,
    platform: &str,
    config: serde_json::Value,
    secrets: Secrets,
) -> ApiResult<ConnectorRecord> {
    let json = serde_json::to_vec(&secrets).map_err(ApiError::internal)?;
    let sealed = state
        .vault
        .seal(Sealed::ConnectorTokens(source.id, platform), &json);
    let config = config.to_string();
    let record = state
        .db
        .upsert_chat_connector(
            &NewConnector {
                source_id: source.id,
                user_id: source.user_id,
                platform,
                config: &config,
                secrets_sealed: &sealed,
            },
            &uuid::Uuid::new_v4().to_string(),
            state.clock.now_ms(),
        )
        .await?;
    // Every node (this one included) starts its runner; the one that takes the lease runs it.
    state.fanout.publish(RealtimeEvent::ConnectorChanged {
        connector_id: record.id,
    });
    Ok(record)
}

/// The end of "Connect YouTube / Twitch chat" from the dashboard: the provider's consent came
/// back with tokens for the source's owner; they are sealed into the source's connector, which
/// starts. The browser returns to the dashboard, told what happened (`chat_connected=` or
/// `chat_error=`).
pub(crate) async fn connected(
    state: &AppState,
    provider: crate::service::identity::Provider,
    user_id: i64,
    source_id: i64,
    tokens: ferrocast_auth::oidc::TokenResponse,
    login: Option<String>,
) -> axum::response::Response {
    use crate::service::identity::Provider;
    let platform = match provider {
        Provider::Google => "youtube",
        Provider::Twitch => "twitch",
    };
    let back = |query: String| {
        (
            StatusCode::FOUND,
            [(axum::http::header::LOCATION, format!("/dashboard?{query}"))],
        )
            .into_response()
    };
    let source = match state.db.source_by_id(source_id).await {
        Ok(Some(s)) if s.user_id == user_id => s,
        Ok(_) => return back("chat_error=SOURCE_GONE".into()),
        Err(e) => {
            tracing::error!(error = %e, "cannot load a source for a chat connection");
            return back("chat_error=OAUTH_INTERNAL".into());
        }
    };
    let connected_at = rfc3339(state.clock.now_ms());
    let config = match provider {
        Provider::Twitch => {
            let Some(channel) = login.map(|l| l.to_ascii_lowercase()) else {
                return back("chat_error=OAUTH_NO_CHANNEL".into());
            };
            serde_json::json!({"channel": channel, "channel_name": channel, "connected_at": connected_at, "via": "oauth"})
        }
        Provider::Google => serde_json::json!({
            "channel_id": null, "channel_name": null, "live_chat_id": null,
            "connected_at": connected_at, "via": "oauth",
        }),
    };
    let secrets = Secrets {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
    };
    match store(state, &source, platform, config, secrets).await {
        Ok(_) => {
            tracing::info!(
                source_id,
                platform,
                "chat connected through the platform's consent"
            );
            back(format!("chat_connected={platform}&source={source_id}"))
        }
        Err(e) => back(format!("chat_error={}", e.body.code)),
    }
}

fn twitch_parts(channel: &str, oauth_token: &str) -> ApiResult<(serde_json::Value, Secrets)> {
    let channel = identifier(channel, "channel")?.to_ascii_lowercase();
    let config = serde_json::json!({
        "channel": channel,
        "channel_name": channel,
        "connected_at": rfc3339(ferrocast_db::now_ms()),
    });
    Ok((
        config,
        Secrets {
            access_token: token(oauth_token, "oauth_token")?,
            refresh_token: None,
        },
    ))
}

fn youtube_parts(
    channel_id: Option<&str>,
    live_chat_id: Option<&str>,
    oauth_token: &str,
    refresh_token: Option<&str>,
) -> ApiResult<(serde_json::Value, Secrets)> {
    let channel_id = channel_id
        .map(|c| identifier(c, "channel_id"))
        .transpose()?;
    let live_chat_id = live_chat_id
        .map(|c| identifier(c, "live_chat_id"))
        .transpose()?;
    let config = serde_json::json!({
        "channel_id": channel_id,
        "channel_name": channel_id,
        "live_chat_id": live_chat_id,
        "connected_at": rfc3339(ferrocast_db::now_ms()),
    });
    Ok((
        config,
        Secrets {
            access_token: token(oauth_token, "oauth_token")?,
            refresh_token: refresh_token
                .map(|t| token(t, "refresh_token"))
                .transpose()?,
        },
    ))
}

/// Connect Twitch chat to a source (its owner): messages from the channel join the source's
/// feed, and the creator's messages go to the channel. Connecting again replaces the tokens.
#[utoipa::path(post, path = "/api/chat/twitch/connect", tag = "chat", security(("bearer" = [])), request_body = TwitchConnect,
    responses((status = 201, body = ConnectorView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn twitch_connect(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<TwitchConnect>,
) -> ApiResult<(StatusCode, Json<ConnectorView>)> {
    let (config, secrets) = twitch_parts(&req.channel, &req.oauth_token)?;
    connect(&state, &auth, req.source_id, "twitch", config, secrets).await
}

/// Connect YouTube live chat to a source (its owner): the chat of the channel's live broadcast
/// (or the named chat) joins the source's feed, and the creator's messages go to it.
#[utoipa::path(post, path = "/api/chat/youtube/connect", tag = "chat", security(("bearer" = [])), request_body = YoutubeConnect,
    responses((status = 201, body = ConnectorView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn youtube_connect(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<YoutubeConnect>,
) -> ApiResult<(StatusCode, Json<ConnectorView>)> {
    let (config, secrets) = youtube_parts(
        req.channel_id.as_deref(),
        req.live_chat_id.as_deref(),
        &req.oauth_token,
        req.refresh_token.as_deref(),
    )?;
    connect(&state, &auth, req.source_id, "youtube", config, secrets).await
}

/// Create a chat connector (the generic form of the two connect routes).
#[utoipa::path(post, path = "/api/chat/connectors", tag = "chat", security(("bearer" = [])), request_body = NewConnectorRequest,
    responses((status = 201, body = ConnectorView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewConnectorRequest>,
) -> ApiResult<(StatusCode, Json<ConnectorView>)> {
    let c = &req.config;
    let (platform, (config, secrets)) = match req.platform.as_str() {
        "twitch" => {
            let channel = c
                .channel
                .as_deref()
                .ok_or_else(|| ApiError::validation("config.channel: required for Twitch"))?;
            ("twitch", twitch_parts(channel, &c.oauth_token)?)
        }
        "youtube" => (
            "youtube",
            youtube_parts(
                c.channel_id.as_deref(),
                c.live_chat_id.as_deref(),
                &c.oauth_token,
                c.refresh_token.as_deref(),
            )?,
        ),
        _ => {
            return Err(ApiError::validation(
                "platform: must be `youtube` or `twitch`",
            ))
        }
    };
    connect(&state, &auth, req.source_id, platform, config, secrets).await
}

/// Connect a source's chat through the platform's consent page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatConsentRequest {
    /// The source.
    pub source_id: i64,
    /// `youtube` or `twitch`.
    pub platform: String,
}

/// Where to send the browser to connect a platform's chat.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatConsent {
    /// The platform's consent page; it sends the browser back to the dashboard.
    pub authorize_url: String,
}

/// Start connecting YouTube or Twitch chat to a source (its owner) through the platform's
/// consent page — YouTube asks for `youtube.force-ssl` (with offline access, so the connector
/// renews its token), Twitch for `user:read:chat user:write:chat`. The platform sends the
/// browser back to `/dashboard?chat_connected=…` (or `?chat_error=CODE`), with the tokens
/// sealed into the source's connector, which starts. Needs the node's Google or Twitch client
/// (`FERROCAST_GOOGLE_CLIENT_ID`, `FERROCAST_TWITCH_CLIENT_ID`).
#[utoipa::path(post, path = "/api/chat/connectors/oauth", tag = "chat", security(("bearer" = [])), request_body = ChatConsentRequest,
    responses((status = 200, body = ChatConsent), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn consent(
    State(state): State<AppState>,
    crate::extract::ClientIp(ip): crate::extract::ClientIp,
    auth: AuthUser,
    ApiJson(req): ApiJson<ChatConsentRequest>,
) -> ApiResult<axum::response::Response> {
    // Each start stores a pending login: counted as a credential request.
    crate::extract::limit_auth(&state, ip).await?;
    use crate::service::identity::{Provider, Purpose};
    let provider = match req.platform.as_str() {
        "youtube" => Provider::Google,
        "twitch" => Provider::Twitch,
        _ => {
            return Err(ApiError::validation(
                "platform: must be `youtube` or `twitch`",
            ))
        }
    };
    let source = owned_source(&state, &auth, req.source_id).await?;
    let started = state
        .identity
        .start(
            provider,
            Purpose::Connect {
                user_id: source.user_id,
                source_id: source.id,
            },
        )
        .await?;
    // The flow is bound to this browser by a cookie its callback must bring back.
    let cookie = state
        .identity
        .binding_set_cookie(provider, &started.binding);
    Ok((
        [(axum::http::header::SET_COOKIE, cookie)],
        Json(ChatConsent {
            authorize_url: started.authorize_url,
        }),
    )
        .into_response())
}

/// Remove a chat connector (its source's owner): it stops at once; its messages stay.
#[utoipa::path(delete, path = "/api/chat/connectors/{id}", tag = "chat", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Connector id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Done>> {
    let connector = state
        .db
        .chat_connector_by_id(parse_id(&id, "connector")?)
        .await?
        .ok_or_else(|| ApiError::not_found("connector"))?;
    owned_source(&state, &auth, connector.source_id)
        .await
        .map_err(|_| ApiError::not_found("connector"))?;
    state.db.delete_chat_connector(connector.id).await?;
    state.fanout.publish(RealtimeEvent::ConnectorChanged {
        connector_id: connector.id,
    });
    Ok(Json(Done {
        message: format!("The {} chat connector was removed.", connector.platform),
    }))
}
