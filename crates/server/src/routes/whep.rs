//! WebRTC playback (WHEP, RFC 9725) of live streams, by playback id: `POST /whep/<playback_id>`
//! with the player's SDP offer answers `201 Created` with the SDP answer and the session's URL
//! (`Location`), which `DELETE` ends. The media side is `ferrocast_engine::webrtc`. No
//! authentication (the playback id is public); a members-only or pay-per-view stream takes the
//! playback token its watch page hands an entitled viewer (`?token=…`), as HLS does.

use crate::error::{ApiError, ErrorBody};
use crate::extract::ClientIp;
use crate::routes::gate::refusal;
use crate::routes::playback::Grant;
use crate::routes::videos::MaybeUser;
use crate::service::access::Content;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrocast_domain::media::is_safe_id;
use ferrocast_engine::webrtc::{WhepError, MAX_OFFER_BYTES};

/// Players on other sites may play public streams: the answer, its `Location` and errors are
/// readable from any origin.
pub(crate) fn open(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn error(e: WhepError) -> ApiError {
    match e {
        WhepError::NotLive => ApiError::new(
            StatusCode::NOT_FOUND,
            "STREAM_NOT_FOUND",
            "Stream not found",
            "No live stream has this playback id; it may have ended.",
        ),
        WhepError::Codec(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNSUPPORTED_CODEC",
            "This stream cannot be played over WebRTC",
            e.to_string(),
        ),
        WhepError::BadOffer(_) | WhepError::NoVideo => ApiError::bad_request(
            "BAD_OFFER",
            "The SDP offer cannot be answered",
            e.to_string(),
        ),
        WhepError::Full => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TOO_MANY_VIEWERS",
            "Too many WebRTC viewers",
            e.to_string(),
        ),
    }
}

/// The SDP offer of a WHEP or WHIP request: `application/sdp`, bounded, UTF-8.
pub(crate) fn offer_of<'a>(headers: &HeaderMap, body: &'a Bytes) -> Result<&'a str, ApiError> {
    let sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/sdp"));
    if !sdp {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Send the SDP offer as application/sdp",
            "WHIP and WHEP (RFC 9725): POST the offer with Content-Type: application/sdp.",
        ));
    }
    if body.len() > MAX_OFFER_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "OFFER_TOO_LARGE",
            "The SDP offer is too large",
            format!("At most {MAX_OFFER_BYTES} bytes."),
        ));
    }
    std::str::from_utf8(body).map_err(|_| {
        ApiError::bad_request(
            "BAD_OFFER",
            "The SDP offer cannot be answered",
            "Not UTF-8.",
        )
    })
}

/// `201 Created` with the SDP answer and the session's URL.
pub(crate) fn created(answer: String, location: &str) -> Response {
    let mut res = (StatusCode::CREATED, answer).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    res
}

/// Starts a WebRTC playback session: the player's SDP offer (`application/sdp`, a recvonly
/// H.264 video section and optionally an Opus audio one) in, the SDP answer out. ICE-lite on the
/// node's WebRTC UDP socket; no trickle ICE.
#[utoipa::path(post, path = "/whep/{playback_id}", tag = "playback",
    params(("playback_id" = String, Path, description = "The source's playback id"), Grant),
    request_body(content = String, content_type = "application/sdp", description = "The player's SDP offer"),
    responses((status = 201, content_type = "application/sdp", body = String, description = "The SDP answer; `Location` is the session's URL"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody, description = "A gated stream without an entitled viewer's token"),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "The stream is not H.264"), (status = 503, body = ErrorBody)))]
pub async fn whep_offer(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybeUser(caller): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(grant): Query<Grant>,
    body: Bytes,
) -> Response {
    let answer = async {
        if !is_safe_id(&id) {
            return Err(error(WhepError::NotLive));
        }
        let offer = offer_of(&headers, &body)?;
        // Gated streams: the entitled viewer's playback token, as for HLS.
        if let Some(g) = state.access.stream_gate(&id).await? {
            if g.level.is_gated() {
                state
                    .access
                    .admit(
                        Content::Stream(&id),
                        &g,
                        grant.token.as_deref(),
                        ip,
                        caller.map(|a| a.user.id),
                    )
                    .await
                    .map_err(refusal)?;
            }
        }
        let webrtc = state.engine.webrtc.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "WEBRTC_OFF",
                "WebRTC is off on this server",
                "Play the stream over HLS.",
            )
        })?;
        // A stream another node holds is pulled here first (relayed).
        state.engine.ensure_live(&id).await;
        let (session, answer) = webrtc.play(&id, offer).map_err(error)?;
        Ok::<_, ApiError>(created(answer, &format!("/whep/{id}/{session}")))
    };
    open(answer.await.unwrap_or_else(IntoResponse::into_response))
}

/// Ends a WebRTC playback session (the player leaves).
#[utoipa::path(delete, path = "/whep/{playback_id}/{session}", tag = "playback",
    params(("playback_id" = String, Path, description = "The source's playback id"), ("session" = u64, Path, description = "From the offer's `Location`")),
    responses((status = 200, description = "Ended"), (status = 404, body = ErrorBody)))]
pub async fn whep_end(
    State(state): State<AppState>,
    Path((id, session)): Path<(String, u64)>,
) -> Response {
    let ended = state
        .engine
        .webrtc
        .as_ref()
        .is_some_and(|w| w.stop(&id, session));
    open(if ended {
        StatusCode::OK.into_response()
    } else {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "SESSION_NOT_FOUND",
            "No such WebRTC session",
            "It has ended already.",
        )
        .into_response()
    })
}

/// CORS preflight of a WHEP request from a player on another site.
#[utoipa::path(options, path = "/whep/{playback_id}", tag = "playback",
    params(("playback_id" = String, Path, description = "The source's playback id")),
    responses((status = 204, description = "POST with Content-Type: application/sdp is allowed from any origin")))]
pub async fn whep_preflight() -> Response {
    let mut res = open(StatusCode::NO_CONTENT.into_response());
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Authorization"),
    );
    res
}

// ------------------------------------------------------------------------------------ WHIP

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Whom a stream key publishes as, or why not (the same decision as an RTMP publish).
async fn grant_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<ferrocast_domain::media::PublishGrant, ApiError> {
    use ferrocast_domain::media::PublishDenied;
    let key = bearer(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "The stream key is missing",
            "Send it as the bearer token: Authorization: Bearer <stream key>.",
        )
    })?;
    let decision = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        state.engine.authorizer.authorize("live", key),
    )
    .await
    .unwrap_or(Err(PublishDenied::Unavailable));
    decision.map_err(|denied| match denied {
        PublishDenied::UnknownKey | PublishDenied::UnknownApp(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNKNOWN_STREAM_KEY",
            "Unknown stream key",
            "Copy it again from the dashboard; it may have been rotated.",
        ),
        PublishDenied::NotAllowed(reason) => ApiError::new(
            StatusCode::FORBIDDEN,
            "PUBLISH_REFUSED",
            "This stream key may not publish now",
            reason,
        ),
        other => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "Publishing cannot be decided right now",
            other.to_string(),
        ),
    })
}

/// Publishes from a browser (WHIP, RFC 9725): the stream key as the bearer token, the
/// browser's SDP offer (`application/sdp`: a sendonly H.264 video section and an Opus audio one)
/// in, the SDP answer out. The stream enters the hub as an RTMP publish does: HLS, restream,
/// recording and adaptive bitrate work unchanged; its Opus is transcoded to AAC.
#[utoipa::path(post, path = "/api/whip", tag = "streams",
    request_body(content = String, content_type = "application/sdp", description = "The browser's SDP offer"),
    responses((status = 201, content_type = "application/sdp", body = String, description = "The SDP answer; `Location` is the session's URL, which DELETE ends"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "No or an unknown stream key"),
              (status = 403, body = ErrorBody, description = "The key may not publish now (plan limit, suspension)"),
              (status = 409, body = ErrorBody, description = "The stream is live from another encoder"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn whip_offer(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let offer = offer_of(&headers, &body)?;
        let grant = grant_of(&state, &headers).await?;
        let webrtc = state.engine.webrtc.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "WEBRTC_OFF",
                "WebRTC is off on this server",
                "Publish over RTMP or SRT.",
            )
        })?;
        use ferrocast_engine::webrtc::WhipError;
        let (session, answer) = webrtc
            .ingest(&grant, offer, &state.engine.transcode)
            .map_err(|e| match e {
                WhipError::AlreadyLive => ApiError::new(
                    StatusCode::CONFLICT,
                    "ALREADY_LIVE",
                    "This stream is already live",
                    "Stop the other encoder first, or end the stream from the dashboard.",
                ),
                WhipError::Full => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "TOO_MANY_SESSIONS",
                    "This server has too many WebRTC sessions",
                    e.to_string(),
                ),
                WhipError::BadOffer(_) | WhipError::NoH264 => ApiError::bad_request(
                    "BAD_OFFER",
                    "The SDP offer cannot be answered",
                    e.to_string(),
                ),
            })?;
        Ok::<_, ApiError>(created(answer, &format!("/api/whip/{session}")))
    };
    open(answer.await.unwrap_or_else(IntoResponse::into_response))
}

/// Ends a browser's publish (the stream ends, as when OBS stops).
#[utoipa::path(delete, path = "/api/whip/{session}", tag = "streams",
    params(("session" = u64, Path, description = "From the offer's `Location`")),
    responses((status = 200, description = "Ended"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn whip_end(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(session): Path<u64>,
) -> Response {
    let answer = async {
        let grant = grant_of(&state, &headers).await?;
        let ended = state
            .engine
            .webrtc
            .as_ref()
            .is_some_and(|w| w.stop(&grant.playback_id, session));
        if ended {
            Ok(StatusCode::OK.into_response())
        } else {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "SESSION_NOT_FOUND",
                "No such WebRTC session",
                "It has ended already.",
            ))
        }
    };
    open(answer.await.unwrap_or_else(IntoResponse::into_response))
}
