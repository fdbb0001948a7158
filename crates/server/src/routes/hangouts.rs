//! Hangouts over HTTP: a host's rooms (`/api/hangouts`), joining by link, publishing a
//! peer's camera (WHIP-style, with the peer's token in `X-Peer-Token`), checking in, leaving,
//! broadcasting and ending. Peers play each other with `POST /whep/<playback_id>`. See
//! [`crate::service::hangouts`].

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::routes::videos::MaybeUser;
use crate::service::hangouts::{HangoutError, Joined, Joiner, RoomView};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_db::hangouts::{HangoutRecord, PeerRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<HangoutError> for ApiError {
    fn from(e: HangoutError) -> Self {
        match e {
            HangoutError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "HANGOUT_NOT_FOUND",
                "No such hangout",
                "Check the link: the host may have given you another.",
            ),
            HangoutError::Ended => ApiError::new(
                StatusCode::GONE,
                "HANGOUT_ENDED",
                "This hangout has ended",
                "Ask the host for a new link.",
            ),
            HangoutError::Full(d) => ApiError::conflict("HANGOUT_FULL", "This hangout is full", d),
            HangoutError::Forbidden(d) => ApiError::forbidden(d),
            HangoutError::Invalid(d) => ApiError::validation(d),
            HangoutError::BadToken => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "PEER_TOKEN",
                "This peer's token is not valid",
                "Join the hangout again.",
            ),
            HangoutError::BadOffer(d) => {
                ApiError::bad_request("BAD_OFFER", "Your camera could not be connected", d)
            }
            HangoutError::Unavailable(d) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "WEBRTC_UNAVAILABLE",
                "Video rooms are not available on this server now",
                d,
            ),
            HangoutError::Busy(d) => ApiError::conflict("BUSY", "Not now", d),
            HangoutError::Db(e) => e.into(),
        }
    }
}

/// A hangout as its host lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HangoutView {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The room's link (root-relative): the audience joins by it, the host too.
    pub link: String,
    /// The speaker link (root-relative): whoever has it joins on stage.
    pub speaker_link: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// Whether it has ended.
    pub ended: bool,
    /// Whether it is broadcast now.
    pub broadcasting: bool,
}

fn hangout_view(h: &HangoutRecord) -> HangoutView {
    HangoutView {
        id: h.uuid.clone(),
        title: h.title.clone(),
        link: crate::service::hangouts::room_link(h),
        speaker_link: crate::service::hangouts::speaker_link(h),
        created_at: crate::service::clock::rfc3339(h.created_at),
        ended: h.ended_at.is_some(),
        broadcasting: h.broadcast_source_id.is_some(),
    }
}

/// A new hangout.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHangout {
    /// Its title (1 to 100 characters).
    pub title: String,
}

/// Make a hangout: a room for up to 8 on stage, joined by link.
#[utoipa::path(post, path = "/api/hangouts", tag = "hangouts", security(("bearer" = [])), request_body = NewHangout,
    responses((status = 201, body = HangoutView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_hangout(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewHangout>,
) -> ApiResult<(StatusCode, Json<HangoutView>)> {
    crate::routes::sources::creator_only(&auth, "open hangouts")?;
    let h = state.hangouts.create(auth.user.id, &req.title).await?;
    Ok((StatusCode::CREATED, Json(hangout_view(&h))))
}

/// Your hangouts.
#[derive(Debug, Serialize, ToSchema)]
pub struct HangoutList {
    /// Newest first.
    pub hangouts: Vec<HangoutView>,
}

/// Your hangouts, newest first.
#[utoipa::path(get, path = "/api/hangouts", tag = "hangouts", security(("bearer" = [])),
    responses((status = 200, body = HangoutList), (status = 401, body = ErrorBody)))]
pub async fn my_hangouts(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<HangoutList>> {
    let list = state.hangouts.of_host(auth.user.id).await?;
    Ok(Json(HangoutList {
        hangouts: list.iter().map(hangout_view).collect(),
    }))
}

/// The peer checking in.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PeerQuery {
    /// Your peer id (from joining); with `X-Peer-Token`, this checks you in.
    pub peer: Option<String>,
}

fn peer_token(headers: &HeaderMap) -> &str {
    headers
        .get("x-peer-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A hangout: who is in it and on stage. A peer checks in by calling this every few seconds
/// with `?peer=` and `X-Peer-Token` (one silent for 20 s is dropped).
#[utoipa::path(get, path = "/api/hangouts/{id}", tag = "hangouts",
    params(("id" = String, Path, description = "The hangout"), PeerQuery),
    responses((status = 200, body = RoomView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_hangout(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PeerQuery>,
) -> ApiResult<Json<RoomView>> {
    let h = state.hangouts.get(&id).await?;
    let peer = match &q.peer {
        // An ended room says so to its peers (whose rows went with it).
        Some(_) if h.ended_at.is_some() => None,
        Some(p) => {
            let p = state.hangouts.peer(&h, p, peer_token(&headers)).await?;
            state.hangouts.seen(&p).await?;
            Some(p)
        }
        None => None,
    };
    Ok(Json(
        state
            .hangouts
            .view(&h, auth.map(|a| a.user.id), peer.as_ref())
            .await?,
    ))
}

/// Joining a hangout.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinHangout {
    /// The speaker link's code: on stage with it, in the audience without.
    #[serde(default)]
    pub code: Option<String>,
    /// The name others see, for guests (signed-in people show their own).
    #[serde(default)]
    pub name: Option<String>,
}

/// Join a hangout: the host and the speaker link's holders on stage, anyone else in the
/// audience. Keep the token: it publishes, checks in and leaves.
#[utoipa::path(post, path = "/api/hangouts/{id}/join", tag = "hangouts", request_body = JoinHangout,
    params(("id" = String, Path, description = "The hangout")),
    responses((status = 201, body = Joined), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`HANGOUT_FULL`"),
              (status = 410, body = ErrorBody, description = "`HANGOUT_ENDED`"), (status = 422, body = ErrorBody)))]
pub async fn join_hangout(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<JoinHangout>,
) -> ApiResult<(StatusCode, Json<Joined>)> {
    let joined = state
        .hangouts
        .join(
            &id,
            Joiner {
                user: auth
                    .as_ref()
                    .map(|a| (a.user.id, a.user.display_name.as_str())),
                code: req.code.as_deref(),
                name: req.name.as_deref(),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(joined)))
}

async fn peer_of(
    state: &AppState,
    id: &str,
    peer: &str,
    headers: &HeaderMap,
) -> ApiResult<(HangoutRecord, PeerRecord)> {
    let h = state.hangouts.get(id).await?;
    let p = state.hangouts.peer(&h, peer, peer_token(headers)).await?;
    Ok((h, p))
}

/// Put a peer's camera and microphone on stage: the browser's SDP offer (`application/sdp`, a
/// sendonly H.264 video section and an Opus audio one) in, the SDP answer out; the peer's
/// token in `X-Peer-Token`. Others play it at `/whep/<playback_id>`.
#[utoipa::path(post, path = "/api/hangouts/{id}/peers/{peer}/publish", tag = "hangouts",
    params(("id" = String, Path, description = "The hangout"), ("peer" = String, Path, description = "Your peer id")),
    request_body(content = String, content_type = "application/sdp", description = "The browser's SDP offer"),
    responses((status = 201, content_type = "application/sdp", body = String, description = "The SDP answer"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "The audience does not publish"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 410, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn publish_peer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, peer)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let answer = async {
        let offer = crate::routes::whep::offer_of(&headers, &body)?;
        let (h, p) = peer_of(&state, &id, &peer, &headers).await?;
        let (_, answer) = state.hangouts.publish(&h, &p, offer).await?;
        Ok::<_, ApiError>(crate::routes::whep::created(
            answer,
            &format!("/api/hangouts/{id}/peers/{peer}"),
        ))
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

/// Leave a hangout (the peer's token in `X-Peer-Token`): your stream ends.
#[utoipa::path(delete, path = "/api/hangouts/{id}/peers/{peer}", tag = "hangouts",
    params(("id" = String, Path, description = "The hangout"), ("peer" = String, Path, description = "Your peer id")),
    responses((status = 204, description = "Left"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn leave_hangout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, peer)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (_, p) = peer_of(&state, &id, &peer, &headers).await?;
    state.hangouts.leave(&p).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Broadcasting a hangout.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastHangout {
    /// Broadcast (`true`) or stop (`false`).
    pub on: bool,
    /// One of your sources to broadcast to; your first one when absent.
    #[serde(default)]
    pub source_id: Option<i64>,
}

/// Broadcast the stage as a live stream on one of your sources (a grid of the cameras with the
/// sounds mixed): it plays over HLS, restreams and records like any live stream.
#[utoipa::path(post, path = "/api/hangouts/{id}/broadcast", tag = "hangouts", security(("bearer" = [])), request_body = BroadcastHangout,
    params(("id" = String, Path, description = "The hangout")),
    responses((status = 200, body = RoomView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The source is live from another encoder"),
              (status = 410, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn broadcast_hangout(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<BroadcastHangout>,
) -> ApiResult<Json<RoomView>> {
    let h = state.hangouts.get(&id).await?;
    if h.host_id != auth.user.id {
        return Err(HangoutError::Forbidden("only the host broadcasts the hangout").into());
    }
    let to = if req.on {
        let sources = state.db.list_sources(auth.user.id).await?;
        let source = match req.source_id {
            Some(sid) => sources.into_iter().find(|s| s.id == sid),
            None => sources.into_iter().next(),
        }
        .ok_or_else(|| {
            ApiError::validation(
                "source_id: none of your sources; make one on the dashboard (Streams) first.",
            )
        })?;
        if h.broadcast_source_id != Some(source.id) && state.engine.hub.is_live(&source.playback_id)
        {
            return Err(HangoutError::Busy(format!(
                "“{}” is live from another encoder: stop it, or pick another source.",
                source.name
            ))
            .into());
        }
        let key = state
            .sources
            .stream_key(&source)
            .map_err(ApiError::internal)?;
        Some((source.id, key))
    } else {
        None
    };
    let to = to.as_ref().map(|(id, key)| (*id, key.as_str()));
    state.hangouts.broadcast(&h, auth.user.id, to).await?;
    let h = state.hangouts.get(&id).await?;
    Ok(Json(
        state.hangouts.view(&h, Some(auth.user.id), None).await?,
    ))
}

/// End a hangout (the host): everyone's streams and the broadcast end.
#[utoipa::path(delete, path = "/api/hangouts/{id}", tag = "hangouts", security(("bearer" = [])),
    params(("id" = String, Path, description = "The hangout")),
    responses((status = 204, description = "Ended"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn end_hangout(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let h = state.hangouts.get(&id).await?;
    state.hangouts.end(&h, auth.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
