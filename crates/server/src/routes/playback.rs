//! Public playback of live streams, by playback id: HTTP-FLV and HLS. No authentication (the
//! playback id is public; the stream key never appears here).
//!
//! Every player is a viewer session for analytics (`ferrocast_engine::viewers`): an HTTP-FLV
//! response is one; an HLS player is one through the session id its stream's multivariant
//! playlist hands it (`/hls/<playback_id>/index.m3u8` → `v<sid>/index.m3u8`, under which its
//! segments and parts are fetched).
//!
//! A members-only or pay-per-view stream ([`crate::service::access`]) plays only with the
//! playback token its watch page hands an entitled viewer (`?token=…`), checked with the
//! viewer's entitlement on every playlist, segment and part request and at the start of an
//! HTTP-FLV response; its playlists carry the token on every URI.

use crate::error::{ApiError, ErrorBody};
use crate::extract::ClientIp;
use crate::routes::gate::refusal;
use crate::routes::videos::MaybeUser;
use crate::service::access::{sign_playlist, Content};
use crate::service::analytics::viewer_identity;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrocast_domain::media::is_safe_id;
use ferrocast_engine::viewers::{Origin, Protocol, ViewerGuard, ViewerTracker};
use futures_util::StreamExt;

fn not_live() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "STREAM_NOT_FOUND",
        "Stream not found",
        "No live stream has this playback id; it may have ended.",
    )
}

fn media_response(content_type: &'static str, cache: &'static str, body: Body) -> Response {
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    open_to_any_site(res)
}

/// Players on other sites may play public streams: media and errors alike are readable from any
/// origin (a player there tells "not live" or "too far ahead" from a network failure).
fn open_to_any_site(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

/// The answer, or the error, readable from any origin. Errors are never cached (a CDN in front
/// must not keep a "not live" past the stream's start).
fn public(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(|e| {
        let mut res = e.into_response();
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        open_to_any_site(res)
    })
}

/// Cache lifetimes of HLS answers, for a CDN in front (and players). A segment or part name,
/// and a blocking reload's `_HLS_msn`/`_HLS_part`, is reused only by a new broadcast after the
/// stream's packager was evicted, [`ferrocast_engine::hls::KEEP_AFTER_OFFLINE`] (60 s) after
/// its end: answers are cached as immutable for no longer than that. A live playlist changes
/// every part: one second. A gated stream's answers (its token in the URL) are private.
mod cache {
    /// A media playlist reloaded without `_HLS_msn`.
    pub const PLAYLIST: &str = "public, max-age=1";
    /// A blocking reload's answer: the playlist once it holds `_HLS_msn`/`_HLS_part`, the same
    /// for every later request of those.
    pub const BLOCKING_PLAYLIST: &str = "public, max-age=60";
    /// A segment or part.
    pub const MEDIA: &str = "public, max-age=60, immutable";
    /// The same for a gated stream.
    pub const PRIVATE_PLAYLIST: &str = "private, max-age=1";
    pub const PRIVATE_BLOCKING_PLAYLIST: &str = "private, max-age=60";
    pub const PRIVATE_MEDIA: &str = "private, max-age=60, immutable";
}

/// The playback token of a gated stream's request.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct Grant {
    /// A members-only or pay-per-view stream's playback token (from
    /// `GET /api/watch/{playback_id}/access`).
    pub token: Option<String>,
}

/// Admits a request for the stream `id`: `None` for a public stream (or an unknown one, which
/// the engine answers), the query to sign its playlists with for a gated stream and an
/// entitled viewer's token; 403 otherwise.
async fn admit(
    state: &AppState,
    id: &str,
    grant: &Grant,
    ip: std::net::IpAddr,
    caller: Option<i64>,
) -> Result<Option<String>, ApiError> {
    if !is_safe_id(id) {
        return Ok(None);
    }
    let Some(g) = state.access.stream_gate(id).await? else {
        return Ok(None);
    };
    if !g.level.is_gated() {
        return Ok(None);
    }
    let token = grant.token.as_deref();
    state
        .access
        .admit(Content::Stream(id), &g, token, ip, caller)
        .await
        .map_err(refusal)?;
    Ok(token.map(|t| format!("token={t}")))
}

/// A live stream as HTTP-FLV (`/live/<playback_id>.flv`): starts at the last keyframe and
/// follows live until the publisher leaves.
#[utoipa::path(get, path = "/live/{file}", tag = "playback",
    params(("file" = String, Path, description = "`<playback_id>.flv`"), Grant),
    responses((status = 200, content_type = "video/x-flv", description = "FLV stream"), (status = 403, body = ErrorBody, description = "A gated stream without an entitled viewer's token"), (status = 404, body = ErrorBody)))]
pub async fn flv(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybeUser(caller): MaybeUser,
    Query(grant): Query<Grant>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let id = file.strip_suffix(".flv").unwrap_or("");
    if let Err(e) = admit(&state, id, &grant, ip, caller.map(|a| a.user.id)).await {
        return public(Err(e));
    }
    // A stream another node holds is pulled here first (relayed).
    if is_safe_id(id) {
        state.engine.ensure_live(id).await;
    }
    public(flv_stream(&state, &file, &Who::of(&headers, ip)))
}

/// Who a request comes from, for analytics.
struct Who {
    /// `None`: the creator's own studio preview, not counted.
    origin: Option<Origin>,
    viewer: String,
}

impl Who {
    fn of(headers: &HeaderMap, ip: std::net::IpAddr) -> Self {
        let h = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        Self {
            origin: Origin::from_referer(h(header::REFERER), h(header::HOST)),
            viewer: viewer_identity(ip, h(header::USER_AGENT)),
        }
    }
}

fn flv_stream(state: &AppState, file: &str, who: &Who) -> Result<Response, ApiError> {
    let id = file
        .strip_suffix(".flv")
        .filter(|id| is_safe_id(id))
        .ok_or_else(not_live)?;
    let hub = &state.engine.hub;
    let info = hub.info(id).ok_or_else(not_live)?;
    let reader = hub.subscribe(id).ok_or_else(not_live)?;
    let viewers = &state.engine.viewers;
    let guard = match who.origin {
        Some(origin) => viewers.connection(
            id,
            reader.generation(),
            Protocol::HttpFlv,
            origin,
            who.viewer.clone(),
        ),
        None => ViewerGuard::none(viewers),
    };
    // The session lasts as long as the response body: it ends when the player goes away.
    let stream = ferrocast_engine::flv_out::stream(reader, info.has_audio, info.has_video).map(
        move |chunk| {
            let _session = &guard;
            chunk
        },
    );
    Ok(media_response(
        "video/x-flv",
        "no-store",
        Body::from_stream(stream),
    ))
}

/// Blocking playlist reload (LL-HLS, RFC 8216bis §6.2.5.2).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct BlockingReload {
    /// Answer once the playlist holds this media sequence number.
    #[serde(rename = "_HLS_msn")]
    pub msn: Option<u64>,
    /// … and this partial segment of it (needs `_HLS_msn`).
    #[serde(rename = "_HLS_part")]
    pub part: Option<u32>,
    /// Playlist delta updates are not offered; accepted and ignored.
    #[serde(rename = "_HLS_skip")]
    pub skip: Option<String>,
}

fn blocking_error(e: ferrocast_engine::hls::BlockingError) -> ApiError {
    use ferrocast_engine::hls::BlockingError;
    match e {
        BlockingError::NotFound => not_live(),
        BlockingError::TooFarAhead => ApiError::bad_request(
            "TOO_FAR_AHEAD",
            "The requested segment is too far ahead of the live edge",
            "Reload the playlist without _HLS_msn to find the live edge.",
        ),
        BlockingError::TimedOut => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_YET_AVAILABLE",
            "The requested segment did not appear in time",
            "The stream may have stalled; reload the playlist.",
        ),
    }
}

/// A stream's HLS entry point: a multivariant playlist (RFC 8216bis §4.4.6) whose one variant is
/// this player's own media playlist, `v<session>/index.m3u8` — so that each player is counted
/// once, with its watch time, however it fetches. With `_HLS_msn` (a player that kept this URL
/// as a media playlist) it answers the media playlist itself.
#[utoipa::path(get, path = "/hls/{playback_id}/index.m3u8", tag = "playback",
    params(("playback_id" = String, Path, description = "The source's playback id"), BlockingReload, Grant),
    responses((status = 200, content_type = "application/vnd.apple.mpegurl", body = String), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "A gated stream without an entitled viewer's token"),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn hls_playlist(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybeUser(caller): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<BlockingReload>,
    Query(grant): Query<Grant>,
) -> Response {
    let sign = match admit(&state, &id, &grant, ip, caller.map(|a| a.user.id)).await {
        Ok(s) => s,
        Err(e) => return public(Err(e)),
    };
    if q.msn.is_some() || q.part.is_some() {
        return public(playlist(&state, &id, q, sign.as_deref()).await);
    }
    public(multivariant(&state, &id, &Who::of(&headers, ip), sign.as_deref()).await)
}

async fn multivariant(
    state: &AppState,
    id: &str,
    who: &Who,
    sign: Option<&str>,
) -> Result<Response, ApiError> {
    if !is_safe_id(id) {
        return Err(not_live());
    }
    // Waits for the first segment, as the media playlist does: a stream that is not live (or
    // ends before a segment) is a 404 here already. The viewer arrived before the wait.
    let arrived = ferrocast_engine::viewers::unix_ms();
    // A stream another node holds is pulled here first (relayed).
    state.engine.ensure_live(id).await;
    state.engine.hls.playlist(id).await.ok_or_else(not_live)?;
    let sid = ViewerTracker::sid_from(rand::random());
    note_hls(state, id, &sid, false, who, arrived);
    // The variant's bandwidth: the stream's incoming bitrate with a margin (RFC 8216bis
    // §4.4.6.2 requires one; players use it only to choose among variants, and there is one).
    let bandwidth = state
        .engine
        .hub
        .session(id)
        .and_then(|_| {
            let source = state.streams.owner(id)?.1;
            let now = state.clock.now_ms();
            state
                .streams
                .stats
                .history(source, now)
                .last()
                .map(|s| s.bitrate_kbps)
        })
        .filter(|k| *k > 0)
        .map_or(2_500_000, |kbps| kbps * 1_100);
    let query = sign.map(|q| format!("?{q}")).unwrap_or_default();
    // CODECS (§4.4.6.2 SHOULD) lets a player pick a decoder before the first segment: what
    // tells an HEVC stream from an H.264 one.
    let codecs = state
        .engine
        .hls
        .codecs(id)
        .map(|c| format!(",CODECS=\"{c}\""))
        .unwrap_or_default();
    let ladder = state.engine.transcode.view(id);
    let resolution = ladder
        .as_ref()
        .and_then(|l| l.source)
        .map(|(w, h)| format!(",RESOLUTION={w}x{h}"))
        .unwrap_or_default();
    let mut text = format!(
        "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH={bandwidth}{resolution}{codecs}\nv{sid}/index.m3u8{query}\n"
    );
    // The adaptive-bitrate renditions (issue 23): each that has a first segment, waited for
    // together (at most one keyframe interval, from the renditions' GOP caches).
    let transcode = &state.engine.transcode;
    let ready =
        futures_util::future::join_all(transcode.variants(id).into_iter().map(|v| async move {
            let rid = ferrocast_engine::transcode::rendition_id(id, v.rung);
            let ok = tokio::time::timeout(
                std::time::Duration::from_secs(3),
                transcode.hls.playlist(&rid),
            )
            .await
            .ok()
            .flatten()
            .is_some();
            ok.then(|| (v, transcode.hls.codecs(&rid)))
        }))
        .await;
    for (v, codecs) in ready.into_iter().flatten() {
        let codecs = codecs
            .map(|c| format!(",CODECS=\"{c}\""))
            .unwrap_or_default();
        text.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},RESOLUTION={}x{}{codecs}\nv{sid}/{}/index.m3u8{query}\n",
            v.bandwidth,
            v.width,
            v.height,
            v.rung.name()
        ));
    }
    Ok(media_response(
        "application/vnd.apple.mpegurl",
        "no-store",
        Body::from(text),
    ))
}

/// Notes a request of an HLS viewer session.
fn note_hls(state: &AppState, id: &str, sid: &str, low_latency: bool, who: &Who, at_ms: i64) {
    if let Some(origin) = who.origin {
        let generation = state.engine.hub.session(id).map(|(g, _)| g);
        state.engine.viewers.hls_request(
            id,
            sid,
            generation,
            low_latency,
            origin,
            &who.viewer,
            at_ms,
        );
    }
}

/// The session id of a `v<sid>` path segment.
fn session_id(segment: &str) -> Result<&str, ApiError> {
    segment
        .strip_prefix('v')
        .filter(|s| ferrocast_engine::viewers::is_sid(s))
        .ok_or_else(not_live)
}

/// One player's HLS media playlist (what [`hls_playlist`] hands it): Low-Latency HLS with
/// partial segments, preload hints, and blocking reload with `_HLS_msn` / `_HLS_part`.
#[utoipa::path(get, path = "/hls/{playback_id}/{session}/index.m3u8", tag = "playback",
    params(("playback_id" = String, Path, description = "The source's playback id"),
           ("session" = String, Path, description = "`v<session id>`, from the multivariant playlist"), BlockingReload, Grant),
    responses((status = 200, content_type = "application/vnd.apple.mpegurl", body = String), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "A gated stream without an entitled viewer's token"),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn hls_session_playlist(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybeUser(caller): MaybeUser,
    headers: HeaderMap,
    Path((id, session)): Path<(String, String)>,
    Query(q): Query<BlockingReload>,
    Query(grant): Query<Grant>,
) -> Response {
    let answer = async {
        let sign = admit(&state, &id, &grant, ip, caller.map(|a| a.user.id)).await?;
        let sid = session_id(&session)?;
        if is_safe_id(&id) {
            note_hls(
                &state,
                &id,
                sid,
                q.msn.is_some(),
                &Who::of(&headers, ip),
                ferrocast_engine::viewers::unix_ms(),
            );
        }
        playlist(&state, &id, q, sign.as_deref()).await
    };
    public(answer.await)
}

/// One player's HLS segment (`seg<N>.ts`) or partial segment (`seg<N>.<P>.ts`).
#[utoipa::path(get, path = "/hls/{playback_id}/{session}/{segment}", tag = "playback",
    params(("playback_id" = String, Path, description = "The source's playback id"),
           ("session" = String, Path, description = "`v<session id>`, from the multivariant playlist"),
           ("segment" = String, Path, description = "`seg<N>.ts` or `seg<N>.<P>.ts`"), Grant),
    responses((status = 200, content_type = "video/mp2t", description = "MPEG-TS"),
              (status = 403, body = ErrorBody, description = "A gated stream without an entitled viewer's token"), (status = 404, body = ErrorBody)))]
pub async fn hls_session_segment(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybeUser(caller): MaybeUser,
    headers: HeaderMap,
    Path((id, session, segment)): Path<(String, String, String)>,
    Query(grant): Query<Grant>,
) -> Response {
    let answer = async {
        let gated = admit(&state, &id, &grant, ip, caller.map(|a| a.user.id))
            .await?
            .is_some();
        let sid = session_id(&session)?;
        if is_safe_id(&id) {
            let part = ferrocast_media::hls::parse_part_name(&segment).is_some();
            note_hls(
                &state,
                &id,
                sid,
                part,
                &Who::of(&headers, ip),
                ferrocast_engine::viewers::unix_ms(),
            );
        }
        media_segment(&state, &id, &segment, gated).await
    };
    public(answer.await)
}

/// One player's media playlist (`index.m3u8`), segment or part of an adaptive-bitrate
/// rendition (`720p` …), as the multivariant playlist lists them.
#[utoipa::path(get, path = "/hls/{playback_id}/{session}/{rendition}/{file}", tag = "playback",
    params(("playback_id" = String, Path, description = "The source's playback id"),
           ("session" = String, Path, description = "`v<session id>`, from the multivariant playlist"),
           ("rendition" = String, Path, description = "A rung of the stream's ladder: `1080p`, `720p`, `480p`, `360p` or `240p`"),
           ("file" = String, Path, description = "`index.m3u8`, `seg<N>.ts` or `seg<N>.<P>.ts`"), BlockingReload, Grant),
    responses((status = 200, content_type = "application/vnd.apple.mpegurl", body = String, description = "The rendition's media playlist, or MPEG-TS for a segment or part"),
              (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "A gated stream without an entitled viewer's token"),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[allow(clippy::too_many_arguments)]
pub async fn hls_rendition(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybeUser(caller): MaybeUser,
    headers: HeaderMap,
    Path((id, session, rendition, file)): Path<(String, String, String, String)>,
    Query(q): Query<BlockingReload>,
    Query(grant): Query<Grant>,
) -> Response {
    let answer = async {
        let sign = admit(&state, &id, &grant, ip, caller.map(|a| a.user.id)).await?;
        let sid = session_id(&session)?;
        let rung = ferrocast_domain::media::Rung::parse(&rendition).ok_or_else(not_live)?;
        if !is_safe_id(&id) {
            return Err(not_live());
        }
        // The rendition's requests count for the player's one session on the stream.
        let part = file != "index.m3u8" && ferrocast_media::hls::parse_part_name(&file).is_some();
        note_hls(
            &state,
            &id,
            sid,
            q.msn.is_some() || part,
            &Who::of(&headers, ip),
            ferrocast_engine::viewers::unix_ms(),
        );
        let rid = ferrocast_engine::transcode::rendition_id(&id, rung);
        let hls = &state.engine.transcode.hls;
        if file == "index.m3u8" {
            media_playlist(hls, &rid, q, sign.as_deref()).await
        } else {
            segment_of(hls, &rid, &file, sign.is_some()).await
        }
    };
    public(answer.await)
}

async fn playlist(
    state: &AppState,
    id: &str,
    q: BlockingReload,
    sign: Option<&str>,
) -> Result<Response, ApiError> {
    if !is_safe_id(id) {
        return Err(not_live());
    }
    // A player that kept its playlist URL across the end of a relay's pull.
    state.engine.ensure_live(id).await;
    media_playlist(&state.engine.hls, id, q, sign).await
}

/// A media playlist of `hls`'s stream `id` (a source, or a rendition in the transcoder's).
async fn media_playlist(
    hls: &ferrocast_engine::hls::HlsRegistry,
    id: &str,
    q: BlockingReload,
    sign: Option<&str>,
) -> Result<Response, ApiError> {
    let caching = match (q.msn.is_some(), sign.is_some()) {
        (false, false) => cache::PLAYLIST,
        (true, false) => cache::BLOCKING_PLAYLIST,
        (false, true) => cache::PRIVATE_PLAYLIST,
        (true, true) => cache::PRIVATE_BLOCKING_PLAYLIST,
    };
    let text = match (q.msn, q.part) {
        (None, None) => hls.playlist(id).await.ok_or_else(not_live)?,
        (Some(msn), part) => hls
            .blocking_playlist(id, msn, part)
            .await
            .map_err(blocking_error)?,
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "BAD_REQUEST",
                "_HLS_part needs _HLS_msn",
                "RFC 8216bis §6.2.5.2.",
            ))
        }
    };
    let text = match sign {
        Some(query) => sign_playlist(&text, query),
        None => text,
    };
    Ok(media_response(
        "application/vnd.apple.mpegurl",
        caching,
        Body::from(text),
    ))
}

/// One HLS segment (`seg<N>.ts`) or partial segment (`seg<N>.<P>.ts`; a hinted part that is
/// not cut yet is answered when it is).
#[utoipa::path(get, path = "/hls/{playback_id}/{segment}", tag = "playback",
    params(("playback_id" = String, Path, description = "The source's playback id"), ("segment" = String, Path, description = "`seg<N>.ts` or `seg<N>.<P>.ts`"), Grant),
    responses((status = 200, content_type = "video/mp2t", description = "MPEG-TS"),
              (status = 403, body = ErrorBody, description = "A gated stream without an entitled viewer's token"), (status = 404, body = ErrorBody)))]
pub async fn hls_segment(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybeUser(caller): MaybeUser,
    Path((id, segment)): Path<(String, String)>,
    Query(grant): Query<Grant>,
) -> Response {
    let gated = match admit(&state, &id, &grant, ip, caller.map(|a| a.user.id)).await {
        Ok(sign) => sign.is_some(),
        Err(e) => return public(Err(e)),
    };
    public(media_segment(&state, &id, &segment, gated).await)
}

async fn media_segment(
    state: &AppState,
    id: &str,
    segment: &str,
    gated: bool,
) -> Result<Response, ApiError> {
    if !is_safe_id(id) {
        return Err(not_live());
    }
    segment_of(&state.engine.hls, id, segment, gated).await
}

/// One segment or part of `hls`'s stream `id` (a source, or a rendition in the transcoder's).
async fn segment_of(
    hls: &ferrocast_engine::hls::HlsRegistry,
    id: &str,
    segment: &str,
    gated: bool,
) -> Result<Response, ApiError> {
    let gone = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "SEGMENT_NOT_FOUND",
            "Segment not found",
            "It left the live window; reload the playlist.",
        )
    };
    let bytes = if let Some(seq) = ferrocast_media::hls::parse_segment_name(segment) {
        hls.segment(id, seq).ok_or_else(gone)?
    } else if let Some((seq, part)) = ferrocast_media::hls::parse_part_name(segment) {
        hls.part(id, seq, part).await.ok_or_else(gone)?
    } else {
        return Err(gone());
    };
    Ok(media_response(
        "video/mp2t",
        if gated {
            cache::PRIVATE_MEDIA
        } else {
            cache::MEDIA
        },
        Body::from(bytes),
    ))
}
