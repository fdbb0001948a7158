//! Stream sources and their restream destinations. Shapes follow
//! the Neustream API ("Sources Endpoints"), plus the public `playback_id`,
//! ready-to-use URLs, key rotation and per-destination live state. Plan limits answer 403 with
//! Neustream's `current`, `max` and `upgrade_url`.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::service::clock::rfc3339;
use crate::service::sources::parse_id;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ferrocast_auth::token;
use ferrocast_db::destinations::{DestinationRecord, NewDestination};
use ferrocast_db::plans::PlanRecord;
use ferrocast_db::sources::{NewSource, SourceRecord};
use ferrocast_domain::account::Role;
use ferrocast_domain::{destination, plans};
use ferrocast_engine::restream::{self, DestinationStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// The secret stream key: put it in OBS, never share it. Shown whole on create and rotate
    /// and to a login session or a `sources:write` key; masked (`sk_…abcd`) otherwise.
    pub stream_key: String,
    /// Public id that viewers use.
    pub playback_id: String,
    /// Whether a publisher is live now.
    pub is_active: bool,
    /// Destinations configured.
    pub destinations_count: i64,
    /// How many chat connectors (YouTube, Twitch) it has.
    pub chat_connectors_count: i64,
    /// RFC 3339.
    pub created_at: String,
    /// OBS "Server" setting.
    pub ingest_url: String,
    /// Seconds the stream stays live on the fallback slate when the encoder drops; 0: off.
    pub slate_secs: i64,
    /// The creator's picture the slate shows (root-relative URL of a 1280×720 JPEG); `null`:
    /// the default slate ("Be right back" on the site's colour).
    pub slate_picture_url: Option<String>,
    /// The SRT listener, `srt://HOST:PORT`, when this node takes SRT: publish to
    /// `srt://HOST:PORT?streamid=<stream key>`; `null`: no SRT here.
    pub srt_url: Option<String>,
    /// Public playback URLs.
    pub playback: PlaybackUrls,
    /// The live stream's adaptive-bitrate ladder (the plan's `transcode_ladder`): its
    /// renditions, or why it is not transcoded; `null` when not live or the plan has none.
    pub adaptive_bitrate: Option<AdaptiveBitrate>,
    /// What the stream is called; `null`: its name.
    pub title: Option<String>,
    /// Its category's slug (`GET /api/categories`).
    pub category: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its language (ISO 639-1).
    pub language: Option<String>,
    /// For adults only: left out of "live now" unless asked for.
    pub mature: bool,
}

/// A live stream's adaptive-bitrate ladder.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdaptiveBitrate {
    /// The plan's ladder, highest first (`["720p", "480p"]`).
    pub ladder: Vec<String>,
    /// `starting` (waiting for the source's video), `running`, `refused` (see `message`;
    /// viewers get the source only) or `ended`.
    pub state: String,
    /// Why it is not transcoded, or which rungs were skipped, in words.
    pub message: Option<String>,
    /// The renditions being transcoded besides the source.
    pub renditions: Vec<RenditionInfo>,
    /// The source's picture width (passed through as the encoder sends it), once known.
    pub source_width: Option<u32>,
    /// The source's picture height, once known.
    pub source_height: Option<u32>,
}

/// A rendition being transcoded.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenditionInfo {
    /// The rung (`720p`).
    pub name: String,
    /// Picture width, once it is out.
    pub width: Option<u32>,
    /// Picture height, once it is out.
    pub height: Option<u32>,
    /// Target video bitrate (kbit/s).
    pub video_kbps: u32,
    /// Times its transcoder was restarted.
    pub restarts: u32,
}

fn adaptive_bitrate(state: &AppState, playback_id: &str) -> Option<AdaptiveBitrate> {
    use ferrocast_engine::transcode::LadderState;
    let v = state.engine.transcode.view(playback_id)?;
    Some(AdaptiveBitrate {
        ladder: v.ladder.iter().map(|r| r.to_string()).collect(),
        state: match v.state {
            LadderState::Starting => "starting",
            LadderState::Running => "running",
            LadderState::Refused => "refused",
            LadderState::Ended => "ended",
        }
        .into(),
        message: v.message,
        source_width: v.source.map(|s| s.0),
        source_height: v.source.map(|s| s.1),
        renditions: v
            .renditions
            .into_iter()
            .map(|r| RenditionInfo {
                name: r.name.into(),
                width: r.width,
                height: r.height,
                video_kbps: r.video_kbps,
                restarts: r.restarts,
            })
            .collect(),
    })
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

/// What is left of the plan after an operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitsLeft {
    /// Sources that can still be created.
    pub sources_remaining: i64,
    /// Destinations that can still be added.
    pub destinations_remaining: i64,
    /// Streaming hours left this month.
    pub streaming_hours_remaining: f64,
}

/// Create-source answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceCreated {
    /// The new source.
    pub source: SourceView,
    /// What the plan still allows.
    pub limits: LimitsLeft,
}

/// One source.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceOne {
    /// The source.
    pub source: SourceView,
}

/// A confirmation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    /// What happened.
    pub message: String,
}

/// Update-source body: fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSource {
    /// 1 to 100 characters.
    pub name: Option<String>,
    /// Up to 1000 characters; empty clears it.
    pub description: Option<String>,
    /// Seconds (0 to 600) the stream stays live on the fallback slate when the encoder drops
    /// without ending the stream; 0 turns the slate off.
    pub slate_secs: Option<u32>,
}

/// Stream-metadata body: fields left out stay as they are; `null` (or an empty string) clears
/// title, category and language.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMetadata {
    /// Up to 140 characters on one line; empty or `null`: the source's name.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "Speedrunning the classics")]
    pub title: Option<Option<String>>,
    /// Up to 1000 characters, line breaks kept; empty or `null`: none. The same as the
    /// source's description, and carried into the recording.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "Any% runs of three classics, with viewer picks")]
    pub description: Option<Option<String>>,
    /// A category's slug from `GET /api/categories`; `null`: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "gaming")]
    pub category: Option<Option<String>>,
    /// Up to 10 tags of up to 25 characters (all of them: this replaces the list).
    pub tags: Option<Vec<String>>,
    /// A two-letter ISO 639-1 code (`en`, `es`); `null`: unsaid.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "en")]
    pub language: Option<Option<String>>,
    /// For adults only.
    pub mature: Option<bool>,
}

/// A field that is present (even as `null`) is `Some`; a missing one stays `None` by
/// `#[serde(default)]`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The live state of a destination's push.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushStatus {
    /// `connecting`, `live`, `retrying` or `failed`.
    pub state: String,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Bytes sent in this live session.
    pub bytes_out: u64,
    /// Frames sent in this live session.
    pub frames_out: u64,
    /// Successful (re)connections in this live session.
    pub connects: u64,
    /// Times it was retried on request (`POST /api/sources/destinations/{id}/retry`) in this
    /// live session.
    pub retries_asked: u64,
    /// RFC 3339 time of the last state change.
    pub since: String,
}

/// A destination as its owner sees it: the platform key masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationView {
    /// Integer id.
    pub id: i64,
    /// UUID.
    pub uuid: String,
    /// The source it forwards.
    pub source_id: i64,
    /// `youtube`, `twitch`, `facebook`, `kick` or `custom`.
    pub platform: String,
    /// Ingest URL.
    pub rtmp_url: String,
    /// The platform key, masked (`****abcd`).
    pub stream_key: String,
    /// Forwarded when the source is live.
    pub is_active: bool,
    /// RFC 3339.
    pub created_at: String,
    /// The push's state while the source is live, else `null`.
    pub status: Option<PushStatus>,
}

/// Destinations of a source.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationList {
    /// Oldest first.
    pub destinations: Vec<DestinationView>,
}

/// One destination.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationOne {
    /// The destination.
    pub destination: DestinationView,
}

/// Add-destination body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDestination {
    /// `youtube`, `twitch`, `facebook`, `kick` or `custom`.
    #[schema(example = "youtube")]
    pub platform: String,
    /// `rtmp://` or `rtmps://` URL; optional for platforms with a known ingest.
    #[schema(example = "rtmp://a.rtmp.youtube.com/live2")]
    pub rtmp_url: Option<String>,
    /// The key the platform gave you.
    pub stream_key: String,
    /// Forward it (default true).
    pub is_active: Option<bool>,
}

/// Update-destination body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDestination {
    /// Turn forwarding on or off; takes effect at once while live.
    pub is_active: bool,
}

/// List answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceList {
    /// Oldest first.
    pub sources: Vec<SourceView>,
}

fn source_view(
    state: &AppState,
    s: &SourceRecord,
    destinations_count: i64,
    chat_connectors_count: i64,
    reveal: bool,
) -> ApiResult<SourceView> {
    let stream_key = shown_key(state, s, reveal)?;
    let base = &state.config.public_url;
    let rtmp = rtmp_base_url(state);
    Ok(SourceView {
        id: s.id,
        uuid: s.uuid.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        stream_key,
        playback_id: s.playback_id.clone(),
        is_active: s.is_active,
        destinations_count,
        chat_connectors_count,
        created_at: rfc3339(s.created_at),
        ingest_url: format!("{rtmp}/live"),
        srt_url: srt_base_url(state),
        slate_secs: s.slate_secs,
        slate_picture_url: s
            .slate_key
            .as_deref()
            .map(crate::service::profiles::media_url),
        playback: PlaybackUrls {
            hls: format!("{base}/hls/{}/index.m3u8", s.playback_id),
            flv: format!("{base}/live/{}.flv", s.playback_id),
            rtmp: format!("{rtmp}/play/{}", s.playback_id),
        },
        adaptive_bitrate: adaptive_bitrate(state, &s.playback_id),
        title: s.title.clone(),
        category: s.category.clone(),
        tags: s.tags.clone(),
        language: s.language.clone(),
        mature: s.mature,
    })
}

/// `rtmp://host:port` as users reach it: the public URL's host with the RTMP port.
pub fn rtmp_base_url(state: &AppState) -> String {
    format!(
        "rtmp://{}:{}",
        public_host(state),
        state.config.rtmp_addr.port()
    )
}

/// `srt://HOST:PORT` of this node's SRT listener, when it has one (the host as in
/// [`rtmp_base_url`]).
pub fn srt_base_url(state: &AppState) -> Option<String> {
    let port = state.config.srt_addr?.port();
    Some(format!("srt://{}:{port}", public_host(state)))
}

/// The host of the public URL, without scheme, path or port.
fn public_host(state: &AppState) -> &str {
    let host = state
        .config
        .public_url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(&state.config.public_url);
    let host = host.split('/').next().unwrap_or(host);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    host
}

/// A new stream key: `sk_` and 32 random bytes in hex.
pub fn new_stream_key() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!("sk_{}", data_encoding::HEXLOWER.encode(&bytes))
}

/// A stream key as shown to a credential that may not read it: `sk_…` and its last four
/// characters, enough to tell keys apart.
pub fn mask_stream_key(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk_…{tail}")
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
    creator_only(auth, "stream")
}

/// Refuses an account that is not a creator's (nor a brand's): `what` is what only creators do
/// ("stream", "run a radio station").
pub(crate) fn creator_only(auth: &AuthUser, what: &str) -> ApiResult<()> {
    if !(auth.role.satisfies(Role::Creator) || auth.role.satisfies(Role::Brand)) {
        return Err(ApiError::forbidden(format!(
            "Only creator accounts {what}; ask an administrator to change your role."
        )));
    }
    Ok(())
}

fn clean_name(name: &str) -> ApiResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name: must be 1 to 100 characters without control characters",
        ));
    }
    Ok(name)
}

fn clean_description(d: Option<&str>) -> ApiResult<Option<&str>> {
    let d = d.map(str::trim).filter(|d| !d.is_empty());
    if let Some(d) = d {
        if d.chars().count() > 1000 || d.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ApiError::validation(
                "description: must be at most 1000 characters without control characters",
            ));
        }
    }
    Ok(d)
}

/// What the user's plan still allows.
pub async fn limits_left(state: &AppState, user_id: i64) -> ApiResult<LimitsLeft> {
    let (plan, allowance) =
        crate::service::streams::allowance(&state.db, user_id, state.clock.now_ms()).await?;
    let sources = state.db.count_sources(user_id).await?;
    let destinations = state.db.count_destinations(user_id).await?;
    Ok(LimitsLeft {
        sources_remaining: (plan.spec.max_sources - sources).max(0),
        destinations_remaining: (plan.spec.max_destinations - destinations).max(0),
        streaming_hours_remaining: hours(allowance.remaining_ms()),
    })
}

/// The stream key as the caller may see it: whole when `reveal`, else masked.
pub fn shown_key(state: &AppState, s: &SourceRecord, reveal: bool) -> ApiResult<String> {
    let key = state.sources.stream_key(s)?;
    Ok(if reveal { key } else { mask_stream_key(&key) })
}

/// A destination as responses show it, with the live push state when there is one.
pub fn destination_view(
    state: &AppState,
    d: &DestinationRecord,
    live: &[DestinationStatus],
) -> DestinationView {
    let masked = state
        .streams
        .open_destination_key(d)
        .map(|k| destination::mask_key(&k))
        .unwrap_or_else(|_| "****".into());
    DestinationView {
        id: d.id,
        uuid: d.uuid.clone(),
        source_id: d.source_id,
        platform: d.platform.clone(),
        rtmp_url: d.rtmp_url.clone(),
        stream_key: masked,
        is_active: d.is_active,
        created_at: rfc3339(d.created_at),
        status: live.iter().find(|s| s.id == d.id).map(|s| PushStatus {
            state: s.state.as_str().to_string(),
            last_error: s.last_error.clone(),
            bytes_out: s.bytes_out,
            frames_out: s.frames_out,
            connects: s.connects,
            retries_asked: s.retries_asked,
            since: rfc3339(s.since_ms),
        }),
    }
}

/// A source as stored now, answered as [`SourceOne`].
async fn source_one(state: &AppState, id: i64, reveal: bool) -> ApiResult<Json<SourceOne>> {
    let rec = state
        .db
        .source_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("source"))?;
    let n = state.db.list_destinations(id).await?.len() as i64;
    let chats = state.db.count_chat_connectors(id).await?;
    Ok(Json(SourceOne {
        source: source_view(state, &rec, n, chats, reveal)?,
    }))
}

/// The 403 for one more `what` ("Source") over the plan's `max`; `remedy` is the verb for
/// freeing one ("delete").
fn limit_error(plan: &PlanRecord, what: &str, max: i64, current: i64, remedy: &str) -> ApiError {
    ApiError::plan_limit(
        plans::LimitExceeded::reached(what, current, max),
        format!(
            "The {} plan allows {max} {}(s); upgrade or {remedy} one.",
            plan.spec.name,
            what.to_lowercase()
        ),
    )
}

/// Milliseconds as hours, to two decimals.
pub fn hours(ms: i64) -> f64 {
    (ms as f64 / 36_000.0).round() / 100.0
}

/// Create a source with a fresh stream key and playback id.
#[utoipa::path(post, path = "/api/sources", tag = "sources", security(("bearer" = [])), request_body = CreateSource,
    responses((status = 201, body = SourceCreated), (status = 403, body = ErrorBody, description = "Not a creator, or the plan's source limit"), (status = 422, body = ErrorBody)))]
pub async fn create_source(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<CreateSource>,
) -> ApiResult<(StatusCode, Json<SourceCreated>)> {
    check_creator(&auth)?;
    let name = clean_name(&req.name)?;
    let description = clean_description(req.description.as_deref())?;
    let (plan, _) = state.db.user_plan(auth.user.id).await?;
    let over_limit =
        |current| limit_error(&plan, "Source", plan.spec.max_sources, current, "delete");
    let uuid = uuid::Uuid::new_v4().to_string();
    let key = new_stream_key();
    let sealed = state.sources.seal_stream_key(&uuid, &key);
    let playback_id = new_playback_id();
    let rec = state
        .db
        .create_source_limited(
            &NewSource {
                uuid: &uuid,
                user_id: auth.user.id,
                name,
                description,
                stream_key_hash: &token::hash(&key),
                stream_key_sealed: &sealed,
                playback_id: &playback_id,
            },
            state.clock.now_ms(),
            plan.spec.max_sources,
        )
        .await?
        .map_err(over_limit)?;
    tracing::info!(user_id = auth.user.id, source = %rec.uuid, playback_id = %rec.playback_id, "source created");
    Ok((
        StatusCode::CREATED,
        Json(SourceCreated {
            source: source_view(&state, &rec, 0, 0, true)?,
            limits: limits_left(&state, auth.user.id).await?,
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
    let rows = state.db.list_sources(auth.user.id).await?;
    let dests = state.db.list_user_destinations(auth.user.id).await?;
    let reveal = auth.may_see_stream_keys();
    let mut sources = Vec::with_capacity(rows.len());
    for s in &rows {
        let n = dests.iter().filter(|d| d.source_id == s.id).count() as i64;
        let chats = state.db.count_chat_connectors(s.id).await?;
        sources.push(source_view(&state, s, n, chats, reveal)?);
    }
    Ok(Json(SourceList { sources }))
}

/// Rename or re-describe a source, or set its fallback slate's grace period.
#[utoipa::path(put, path = "/api/sources/{id}", tag = "sources", security(("bearer" = [])), request_body = UpdateSource,
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, body = SourceOne), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_source(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateSource>,
) -> ApiResult<Json<SourceOne>> {
    let src = state.sources.own(&auth, &id).await?;
    let name = match &req.name {
        Some(n) => clean_name(n)?.to_string(),
        None => src.name.clone(),
    };
    let description = match &req.description {
        Some(d) => clean_description(Some(d))?.map(str::to_string),
        None => src.description.clone(),
    };
    if let Some(secs) = req.slate_secs {
        if secs > ferrocast_engine::slate::MAX_GRACE_SECS {
            return Err(ApiError::validation(format!(
                "slate_secs: at most {} seconds (0 turns the slate off)",
                ferrocast_engine::slate::MAX_GRACE_SECS
            )));
        }
    }
    let now = state.clock.now_ms();
    state
        .db
        .update_source(src.id, &name, description.as_deref(), now)
        .await?;
    if let Some(secs) = req.slate_secs {
        state
            .db
            .set_source_slate(src.id, i64::from(secs), now)
            .await?;
    }
    source_one(&state, src.id, auth.may_see_stream_keys()).await
}

/// Set what viewers are told about the stream: its title, category, tags, language and
/// whether it is for adults; before or while it is live (viewers on its watch page see the
/// change at once, pushed as `stream-info`). A live session's recording takes them.
#[utoipa::path(patch, path = "/api/sources/{id}/metadata", tag = "sources", security(("bearer" = [])), request_body = UpdateMetadata,
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, body = SourceOne), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "A field is not acceptable; `details` says which and why")))]
pub async fn update_metadata(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateMetadata>,
) -> ApiResult<Json<SourceOne>> {
    let src = state.sources.own(&auth, &id).await?;
    let changes = crate::service::discovery::MetadataChanges {
        title: req.title,
        description: req.description,
        category: req.category,
        tags: req.tags,
        language: req.language,
        mature: req.mature,
    };
    crate::service::discovery::update_metadata(
        &state.db,
        state.fanout.as_ref(),
        &src,
        changes,
        state.clock.now_ms(),
    )
    .await?;
    source_one(&state, src.id, auth.may_see_stream_keys()).await
}

/// Give the source's fallback slate the creator's own picture: the picture itself as the body
/// (PNG, JPEG or WebP, at most 8 MiB), made into a 1280×720 JPEG (centre-cropped). When the
/// encoder drops, the stream shows it, fitted into the stream's picture, with silence. It
/// applies from the next time the encoder connects. The previous picture is deleted.
#[utoipa::path(put, path = "/api/sources/{id}/slate", tag = "sources", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Source id")),
    request_body(content = Vec<u8>, content_type = "image/png", description = "A PNG, JPEG or WebP picture"),
    responses((status = 200, body = SourceOne), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "Over 8 MiB"),
              (status = 415, body = ErrorBody, description = "`IMAGE_INVALID`: not a picture that can be read"),
              (status = 503, body = ErrorBody, description = "Busy: try again")))]
pub async fn upload_slate_picture(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> ApiResult<Json<SourceOne>> {
    let src = state.sources.own(&auth, &id).await?;
    let owner = state
        .db
        .user_by_id(src.user_id)
        .await?
        .ok_or_else(|| ApiError::internal("the source's owner vanished"))?;
    let (bytes, _permit) = crate::routes::picture::picture_to_convert(body).await?;
    crate::service::profiles::set_slate_picture(
        &state.db,
        &state.storage,
        &state.config.data_dir,
        &owner.uuid,
        src.id,
        &bytes,
        state.clock.now_ms(),
    )
    .await?;
    tracing::info!(user_id = auth.user.id, source = %src.uuid, "slate picture set");
    source_one(&state, src.id, auth.may_see_stream_keys()).await
}

/// Go back to the default slate ("Be right back" on the site's colour) for this source.
#[utoipa::path(delete, path = "/api/sources/{id}/slate", tag = "sources", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, body = SourceOne), (status = 404, body = ErrorBody)))]
pub async fn delete_slate_picture(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<SourceOne>> {
    let src = state.sources.own(&auth, &id).await?;
    crate::service::profiles::remove_slate_picture(
        &state.db,
        &state.storage,
        src.id,
        state.clock.now_ms(),
    )
    .await?;
    source_one(&state, src.id, auth.may_see_stream_keys()).await
}

/// Delete a source, its destinations and its key (a live stream on it is ended first). Usage
/// already recorded stays counted.
#[utoipa::path(delete, path = "/api/sources/{id}", tag = "sources", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
pub async fn delete_source(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Done>> {
    let src = state.sources.own(&auth, &id).await?;
    state
        .streams
        .stop_stream(&src.playback_id, "the source was deleted");
    state.db.delete_source(src.id).await?;
    if let Some(key) = &src.slate_key {
        if let Err(e) = state.storage.delete(key).await {
            tracing::warn!(%key, error = %e, "cannot delete a deleted source's slate picture");
        }
    }
    tracing::info!(user_id = auth.user.id, source = %src.uuid, "source deleted");
    Ok(Json(Done {
        message: "Source deleted.".into(),
    }))
}

/// Replace the source's stream key. The old key stops working at once, and a stream live on it
/// is ended (whoever holds the old key is cut off); reconnect the encoder with the new key.
#[utoipa::path(post, path = "/api/sources/{id}/rotate-key", tag = "sources", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, body = SourceOne), (status = 404, body = ErrorBody)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<SourceOne>> {
    let src = state.sources.own(&auth, &id).await?;
    let key = new_stream_key();
    let sealed = state.sources.seal_stream_key(&src.uuid, &key);
    state
        .db
        .rotate_source_key(src.id, &token::hash(&key), &sealed, state.clock.now_ms())
        .await?;
    state
        .streams
        .stop_stream(&src.playback_id, "the stream key was rotated");
    tracing::info!(user_id = auth.user.id, source = %src.uuid, "stream key rotated");
    state
        .audit
        .note(
            crate::service::audit::AuditEvent::new(
                "source.stream_key_rotated",
                crate::service::audit::Actor::User(auth.user.id),
            )
            .subject("source", &src.uuid)
            .details(serde_json::json!({"owner": src.user_id})),
        )
        .await;
    source_one(&state, src.id, true).await
}

/// A source's destinations, with each push's live state.
#[utoipa::path(get, path = "/api/sources/{id}/destinations", tag = "sources", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 200, body = DestinationList), (status = 404, body = ErrorBody)))]
pub async fn list_destinations(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<DestinationList>> {
    let src = state.sources.own(&auth, &id).await?;
    let live = state.engine.restream.status(&src.playback_id);
    let destinations = state
        .db
        .list_destinations(src.id)
        .await?
        .iter()
        .map(|d| destination_view(&state, d, &live))
        .collect();
    Ok(Json(DestinationList { destinations }))
}

/// Checks a destination URL: scheme, shape, the platform's TLS requirement, the port (one of
/// `FERROCAST_RESTREAM_ALLOWED_PORTS`) and what the host resolves to (SSRF guard; loopback,
/// private and link-local targets need `FERROCAST_RESTREAM_ALLOW_PRIVATE_TARGETS=true`). A host
/// that does not resolve and one that resolves to a refused address get the same answer, so
/// the check cannot be used to map the operator's network.
async fn check_destination_url(
    state: &AppState,
    platform: &destination::Platform,
    url: &str,
) -> ApiResult<()> {
    let parsed = restream::parse_target_url(url)
        .map_err(|e| ApiError::validation(format!("rtmp_url: {e}")))?;
    if platform.requires_tls && !parsed.tls {
        return Err(ApiError::validation(format!(
            "rtmp_url: {} accepts RTMPS only; use an rtmps:// URL",
            platform.name
        )));
    }
    let ports = &state.config.restream_allowed_ports;
    if !ports.is_empty() && !ports.contains(&parsed.port) {
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        return Err(ApiError::validation(format!(
            "rtmp_url: port {} is not allowed; destinations use port {} (the site's \
             administrators can allow more)",
            parsed.port,
            list.join(", ")
        )));
    }
    if state.config.restream_allow_private_targets {
        return Ok(());
    }
    let host = parsed.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<std::net::IpAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let lookup = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                tokio::net::lookup_host((host, parsed.port)),
            )
            .await;
            match lookup {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                _ => Vec::new(),
            }
        }
    };
    if addrs.is_empty() || addrs.iter().any(|ip| !restream::is_public_ip(*ip)) {
        return Err(ApiError::validation(format!(
            "rtmp_url: {host:?} is not a public address ferrocast may restream to; check the host \
             name (this server does not restream to private or local addresses)"
        )));
    }
    Ok(())
}

/// Add a restream destination. If the source is live, forwarding to it starts at once.
#[utoipa::path(post, path = "/api/sources/{id}/destinations", tag = "sources", security(("bearer" = [])), request_body = AddDestination,
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 201, body = DestinationOne), (status = 403, body = ErrorBody, description = "The plan's destination limit"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "Bad platform, URL (scheme, private address) or key")))]
pub async fn add_destination(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AddDestination>,
) -> ApiResult<(StatusCode, Json<DestinationOne>)> {
    let src = state.sources.own(&auth, &id).await?;
    let platform = destination::platform(req.platform.trim()).ok_or_else(|| {
        ApiError::validation("platform: one of youtube, twitch, facebook, kick, custom")
    })?;
    let url = match req
        .rtmp_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(u) => u.to_string(),
        None => platform
            .default_url
            .ok_or_else(|| {
                ApiError::validation(format!("rtmp_url: required for {}", platform.name))
            })?
            .to_string(),
    };
    let (plan, _) = state.db.user_plan(src.user_id).await?;
    let over_limit = |current| {
        limit_error(
            &plan,
            "Destination",
            plan.spec.max_destinations,
            current,
            "remove",
        )
    };
    // Refuse early when already at the limit (no DNS lookup for nothing); the insert below
    // checks again atomically.
    let current = state.db.count_destinations(src.user_id).await?;
    if current >= plan.spec.max_destinations {
        return Err(over_limit(current));
    }
    check_destination_url(&state, platform, &url).await?;
    destination::validate_stream_key(&req.stream_key).map_err(ApiError::validation)?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let sealed = state.sources.seal_destination_key(&uuid, &req.stream_key);
    let mut rec = state
        .db
        .create_destination_limited(
            &NewDestination {
                uuid: &uuid,
                source_id: src.id,
                user_id: src.user_id,
                platform: platform.name,
                rtmp_url: &url,
                stream_key_sealed: &sealed,
            },
            state.clock.now_ms(),
            plan.spec.max_destinations,
        )
        .await?
        .map_err(over_limit)?;
    if req.is_active == Some(false) {
        state
            .db
            .set_destination_active(rec.id, false, state.clock.now_ms())
            .await?;
        rec.is_active = false;
    }
    tracing::info!(
        user_id = auth.user.id,
        source_id = src.id,
        destination = rec.id,
        platform = platform.name,
        "destination added"
    );
    state.streams.refresh_restream(src.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(DestinationOne {
            destination: destination_view(&state, &rec, &[]),
        }),
    ))
}

async fn own_destination(
    state: &AppState,
    auth: &AuthUser,
    raw_id: &str,
) -> ApiResult<DestinationRecord> {
    let id = parse_id(raw_id, "destination")?;
    match state.db.destination_by_id(id).await? {
        Some(d) if d.user_id == auth.user.id || auth.is_admin() => Ok(d),
        _ => Err(ApiError::not_found("destination")),
    }
}

/// Turn forwarding to a destination on or off; while live it takes effect at once, without
/// touching the other destinations.
#[utoipa::path(patch, path = "/api/sources/destinations/{id}", tag = "sources", security(("bearer" = [])), request_body = UpdateDestination,
    params(("id" = i64, Path, description = "Destination id")),
    responses((status = 200, body = DestinationOne), (status = 404, body = ErrorBody)))]
pub async fn update_destination(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateDestination>,
) -> ApiResult<Json<DestinationOne>> {
    let mut d = own_destination(&state, &auth, &id).await?;
    state
        .db
        .set_destination_active(d.id, req.is_active, state.clock.now_ms())
        .await?;
    d.is_active = req.is_active;
    state.streams.refresh_restream(d.source_id).await?;
    Ok(Json(DestinationOne {
        destination: destination_view(&state, &d, &[]),
    }))
}

/// Retry a destination now: while the source is live, a destination that is waiting to retry
/// or that gave up (`failed`) connects again at once, its failed attempts counted from zero;
/// one connecting or live is left alone. The owner or an administrator may do it.
#[utoipa::path(post, path = "/api/sources/destinations/{id}/retry", tag = "sources", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Destination id")),
    responses((status = 200, body = RetriedDestination), (status = 404, body = ErrorBody),
        (status = 409, description = "The source is not live, or the destination is off", body = ErrorBody)))]
pub async fn retry_destination(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<RetriedDestination>> {
    use crate::service::streams::Retry;
    let d = own_destination(&state, &auth, &id).await?;
    if !d.is_active {
        return Err(ApiError::conflict(
            crate::error::codes::CONFLICT,
            "Destination is off",
            "turn the destination on; it connects while the source is live",
        ));
    }
    let Some(source) = state.db.source_by_id(d.source_id).await? else {
        return Err(ApiError::not_found("destination"));
    };
    let outcome = state.streams.retry_destination(&source, d.id);
    match outcome {
        Retry::NotLive => {
            return Err(ApiError::conflict(
                crate::error::codes::CONFLICT,
                "Not live",
                "destinations connect while the source is live; start streaming to it first",
            ))
        }
        Retry::NotForwarded => {
            return Err(ApiError::conflict(
                crate::error::codes::CONFLICT,
                "Not forwarded",
                "your plan forwards fewer destinations than this source has; upgrade, or turn another one off",
            ))
        }
        _ => {}
    }
    tracing::info!(
        by = auth.user.id,
        destination = d.id,
        ?outcome,
        "destination retry asked"
    );
    if d.user_id != auth.user.id {
        let details_value = serde_json::json!({"destination_id": d.id, "source_id": d.source_id});
        state
            .audit
            .admin_action(
                auth.user.id,
                "destination_retried",
                Some(d.user_id),
                details_value.clone(),
            )
            .await;
        let details = details_value.to_string();
        if let Err(e) = state
            .db
            .record_admin_action(
                auth.user.id,
                "destination_retried",
                Some(d.user_id),
                &details,
                state.clock.now_ms(),
            )
            .await
        {
            tracing::error!(error = %e, action = "destination_retried", "cannot record an administrator's action");
        }
    }
    let live = state.engine.restream.status(&source.playback_id);
    let (outcome, was) = match outcome {
        Retry::Now(s) => ("now", Some(s.as_str().to_string())),
        Retry::Underway(s) => ("underway", Some(s.as_str().to_string())),
        Retry::Asked | Retry::NotForwarded | Retry::NotLive => ("asked", None),
    };
    Ok(Json(RetriedDestination {
        outcome: outcome.into(),
        was,
        destination: destination_view(&state, &d, &live),
    }))
}

/// What asking a destination to retry did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetriedDestination {
    /// `now`: it was waiting to retry or had given up, and connects again now; `underway`: it
    /// is connecting or live already, left alone; `asked`: the stream is live on another node,
    /// which was asked to retry it.
    pub outcome: String,
    /// Its state before (`retrying`, `failed`, `connecting`, `live`), when known here.
    pub was: Option<String>,
    /// The destination, with its push's state now.
    pub destination: DestinationView,
}

/// Remove a destination; while live, its push stops at once and the others continue.
#[utoipa::path(delete, path = "/api/sources/destinations/{id}", tag = "sources", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Destination id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
pub async fn delete_destination(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Done>> {
    let d = own_destination(&state, &auth, &id).await?;
    state.db.delete_destination(d.id).await?;
    state.streams.refresh_restream(d.source_id).await?;
    tracing::info!(
        user_id = auth.user.id,
        destination = d.id,
        "destination removed"
    );
    Ok(Json(Done {
        message: "Destination removed.".into(),
    }))
}
