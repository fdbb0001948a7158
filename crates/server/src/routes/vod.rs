//! A video's objects (`GET`/`HEAD /vod/{id}/{path}`): its HLS playlists and segments, the MP4
//! download, the poster and the preview strip, streamed from storage with HTTP ranges
//! (`Accept-Ranges`, 206 with `Content-Range`, `If-Range`, 416). Only those paths are served,
//! and the HLS, the recording's parts and the MP4 only once the video is ready. A private
//! video's objects need the signed query its [`crate::routes::videos::VideoView`] carries; a
//! members-only or pay-per-view video's (its poster aside) need the caller's playback token
//! ([`crate::service::access`]), checked with the viewer's entitlement on every request. Their
//! playlists are answered with that query appended to each URI, so a player stays signed.

use crate::error::{ApiError, ErrorBody};
use crate::extract::ClientIp;
use crate::routes::gate::refusal;
use crate::routes::videos::{video_not_found, MaybeUser};
use crate::service::access::{sign_playlist, Content, Gated, Level};
use crate::service::videos::{is_video_id, prefix};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrocast_domain::media::Rung;
use ferrocast_storage::{ByteRange, ObjectMeta};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

/// The largest playlist read (and rewritten) whole.
pub const MAX_PLAYLIST_BYTES: u64 = 4 * 1024 * 1024;

/// The signed query of a private video's objects.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Signed {
    /// Expiry (Unix seconds).
    pub exp: Option<String>,
    /// HMAC-SHA256 (hex) over `<id>:<exp>`.
    pub sig: Option<String>,
    /// A members-only or pay-per-view video's playback token (from the video's answer).
    pub token: Option<String>,
}

/// What an object is: its type and how long it may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    Playlist,
    Segment,
    Mp4,
    Picture,
}

impl Object {
    fn content_type(self) -> &'static str {
        match self {
            Object::Playlist => "application/vnd.apple.mpegurl",
            Object::Segment => "video/mp2t",
            Object::Mp4 => "video/mp4",
            Object::Picture => "image/jpeg",
        }
    }

    fn public_cache(self) -> &'static str {
        match self {
            // A playlist is final, but the owner may make the video private or delete it.
            Object::Playlist => "public, max-age=60",
            Object::Segment => "public, max-age=86400",
            Object::Mp4 | Object::Picture => "public, max-age=3600",
        }
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Which of a video's objects `path` names, and whether it needs the video ready; `None` for
/// anything else.
fn classify(path: &str) -> Option<(Object, bool)> {
    match path {
        "video.mp4" => return Some((Object::Mp4, true)),
        "thumb.jpg" | "strip.jpg" => return Some((Object::Picture, false)),
        _ => {}
    }
    let file = |f: &str| -> Option<Object> {
        if f == "index.m3u8" {
            return Some(Object::Playlist);
        }
        let (stem, ext) = f.rsplit_once('.')?;
        match ext {
            "ts" if is_name(stem) => Some(Object::Segment),
            "m3u8" if is_name(stem) => Some(Object::Playlist),
            _ => None,
        }
    };
    if let Some(f) = path.strip_prefix("hls/") {
        return file(f).map(|o| (o, true));
    }
    let rest = path.strip_prefix("rec/p")?;
    let (n, f) = rest.split_once('/')?;
    if n.is_empty() || n.len() > 6 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A rendition's objects: `rec/p<N>/<rung>/<name>`.
    let f = match f.split_once('/') {
        Some((rung, f)) if Rung::parse(rung).is_some() => f,
        Some(_) => return None,
        None => f,
    };
    file(f).map(|o| (o, true))
}

/// What a `Range` header asks for: `None` to answer the whole object (no header, several
/// ranges, another unit or a malformed one, which HTTP lets a server ignore).
fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => num(b).map(ByteRange::Last),
        (false, true) => num(a).map(ByteRange::From),
        (false, false) => {
            let (start, end) = (num(a)?, num(b)?);
            (start <= end).then(|| ByteRange::Bounded(start..end.saturating_add(1)))
        }
        (true, true) => None,
    }
}

fn etag_of(meta: &ObjectMeta) -> Option<String> {
    meta.e_tag.as_ref().map(|t| {
        let bare = t.trim().trim_start_matches("W/").trim_matches('"');
        format!("\"{bare}\"")
    })
}

/// Whether `If-Range` still names the object: a strong entity tag equal to its own, or a date
/// equal to its last modification (to the second).
fn if_range_holds(value: &str, meta: &ObjectMeta) -> bool {
    let value = value.trim();
    if value.starts_with('"') {
        return etag_of(meta).as_deref() == Some(value);
    }
    if value.starts_with("W/") {
        return false;
    }
    match httpdate::parse_http_date(value) {
        Ok(date) => httpdate::fmt_http_date(date) == httpdate::fmt_http_date(meta.last_modified),
        Err(_) => false,
    }
}

fn err(status: StatusCode, code: &str, error: &str, details: &str) -> Response {
    ApiError::new(status, code, error, details).into_response()
}

/// A video's object: HLS playlist or segment, MP4, poster or preview strip (ranges supported).
#[utoipa::path(get, path = "/vod/{id}/{*path}", tag = "playback",
    params(("id" = String, Path, description = "The video's public id"),
           ("path" = String, Path, description = "`hls/index.m3u8`, `hls/<name>.m3u8`, `hls/<name>.ts`, `rec/p<N>/<name>.ts`, `rec/p<N>/<rung>/<name>.ts`, `video.mp4`, `thumb.jpg` or `strip.jpg`"), Signed),
    responses((status = 200, description = "The object"), (status = 206, description = "Part of it (Range)"),
              (status = 403, body = ErrorBody, description = "A private video's signature is wrong or expired; a members-only or pay-per-view video's playback token is missing, expired, someone else's, or its viewer is no longer entitled"),
              (status = 404, body = ErrorBody), (status = 416, body = ErrorBody, description = "The range starts past the end"),
              (status = 451, body = ErrorBody, description = "Disabled after a copyright notice")))]
pub async fn object(
    State(state): State<AppState>,
    Path((id, path)): Path<(String, String)>,
    Query(signed): Query<Signed>,
    ClientIp(ip): ClientIp,
    MaybeUser(caller): MaybeUser,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some((kind, needs_ready)) = classify(&path) else {
        return video_not_found().into_response();
    };
    if !is_video_id(&id) {
        return video_not_found().into_response();
    }
    let video = match state.db.video_by_uuid(&id).await {
        Ok(Some(v)) => v,
        Ok(None) => return video_not_found().into_response(),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    if needs_ready && video.status != "ready" {
        return video_not_found().into_response();
    }
    // Disabled by a copyright notice: every object of it, for everyone, until restored.
    if video.disabled_at.is_some() {
        let mut res = crate::error::video_unavailable_legal().into_response();
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return res;
    }
    let private = video.visibility == "private";
    let mut query = None;
    if private {
        let (Some(exp), Some(sig)) = (signed.exp.as_deref(), signed.sig.as_deref()) else {
            return video_not_found().into_response();
        };
        let signer = state.videos.signer();
        let ok = exp.len() <= 12
            && exp
                .parse::<i64>()
                .is_ok_and(|e| signer.verify(&id, e, sig, state.videos.now_secs()));
        if !ok {
            return err(
                StatusCode::FORBIDDEN,
                "SIGNATURE_INVALID",
                "This link has expired or is not valid",
                "Reload the video's page for a fresh link.",
            );
        }
        query = Some(format!("exp={exp}&sig={sig}"));
    }
    // A members-only or pay-per-view video: everything but its poster needs a playback token
    // of a viewer entitled now (checked on every playlist and segment).
    let gated = !private && Level::of_video(&video).is_gated() && path != "thumb.jpg";
    if gated {
        let caller = caller.map(|a| a.user.id);
        let token = signed.token.as_deref();
        if let Err(r) = state
            .access
            .admit(
                Content::Video(&id),
                &Gated::video(&video),
                token,
                ip,
                caller,
            )
            .await
        {
            return refusal(r).into_response();
        }
        query = token.map(|t| format!("token={t}"));
    }
    let restricted = private || gated;
    let key = format!("{}{path}", prefix(&id));
    let storage = state.videos.storage();
    let mut res = if kind == Object::Playlist {
        playlist(storage, &key, query.as_deref(), &method).await
    } else {
        ranged(storage, &key, kind, &method, &headers).await
    };
    if res.status().is_success() {
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(kind.content_type()),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if restricted {
                "private, no-store"
            } else {
                kind.public_cache()
            }),
        );
    }
    if !restricted {
        res.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    res
}

/// A playlist, whole; for a signed request each URI line gets the signature appended.
async fn playlist(
    storage: &ferrocast_storage::Storage,
    key: &str,
    query: Option<&str>,
    method: &Method,
) -> Response {
    let bytes = match storage.get(key, MAX_PLAYLIST_BYTES).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return video_not_found().into_response(),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let body = match query {
        None => bytes.to_vec(),
        Some(q) => sign_playlist(&String::from_utf8_lossy(&bytes), q).into_bytes(),
    };
    let len = body.len();
    let mut res = if method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body))
    };
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    res
}

/// A media object with ranges.
async fn ranged(
    storage: &ferrocast_storage::Storage,
    key: &str,
    kind: Object,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    let _ = kind;
    let mut range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_range);
    // HEAD, If-Range and an empty suffix need the object's metadata first.
    let if_range = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok());
    let needs_meta = method == Method::HEAD
        || (range.is_some() && if_range.is_some())
        || matches!(range, Some(ByteRange::Last(0)));
    let meta = if needs_meta {
        match storage.head(key).await {
            Ok(Some(m)) => Some(m),
            Ok(None) => return video_not_found().into_response(),
            Err(e) => return ApiError::internal(e).into_response(),
        }
    } else {
        None
    };
    if let (Some(m), Some(v)) = (&meta, if_range) {
        if range.is_some() && !if_range_holds(v, m) {
            range = None;
        }
    }
    if let (Some(m), Some(ByteRange::Last(0))) = (&meta, &range) {
        return not_satisfiable(m.size);
    }
    if method == Method::HEAD {
        let Some(m) = meta else {
            return ApiError::internal("invariant: HEAD reads the metadata").into_response();
        };
        let span = match &range {
            None => None,
            Some(r) => match span_of(r, m.size) {
                Some(s) => Some(s),
                None => return not_satisfiable(m.size),
            },
        };
        return respond(&m, span, m.size, Body::empty());
    }
    match storage.open(key, range.clone()).await {
        Ok(reader) => {
            let span = range.as_ref().map(|_| reader.range.clone());
            let len = reader.range.end - reader.range.start;
            let body = Body::from_stream(reader.body.map(|r| r.map_err(std::io::Error::other)));
            respond(&reader.meta, span, len, body)
        }
        Err(e) if e.is_not_found() => video_not_found().into_response(),
        Err(ferrocast_storage::StorageError::RangeNotSatisfiable { size, .. }) => {
            not_satisfiable(size)
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// The bytes a range names in an object of `size` bytes; `None` if it starts past the end.
fn span_of(r: &ByteRange, size: u64) -> Option<std::ops::Range<u64>> {
    let span = match r {
        ByteRange::Bounded(b) => b.start..b.end.min(size),
        ByteRange::From(s) => *s..size,
        ByteRange::Last(n) => size.saturating_sub(*n)..size,
    };
    (span.start < size && span.start < span.end).then_some(span)
}

fn respond(
    meta: &ObjectMeta,
    span: Option<std::ops::Range<u64>>,
    len: u64,
    body: Body,
) -> Response {
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(tag) = etag_of(meta).and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert(header::ETAG, tag);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(meta.last_modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    match span {
        Some(s) => {
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = res.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(s.end - s.start));
            if let Ok(v) =
                HeaderValue::from_str(&format!("bytes {}-{}/{}", s.start, s.end - 1, meta.size))
            {
                h.insert(header::CONTENT_RANGE, v);
            }
        }
        None => {
            res.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    res
}

fn not_satisfiable(size: u64) -> Response {
    let mut res = err(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "RANGE_NOT_SATISFIABLE",
        "The range is past the end of the file",
        &format!("The file is {size} bytes; ask for a range within it."),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
        res.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_videos_objects_are_named() {
        assert_eq!(classify("video.mp4"), Some((Object::Mp4, true)));
        assert_eq!(classify("thumb.jpg"), Some((Object::Picture, false)));
        assert_eq!(classify("hls/index.m3u8"), Some((Object::Playlist, true)));
        assert_eq!(classify("hls/seg_001.ts"), Some((Object::Segment, true)));
        assert_eq!(classify("rec/p1/s000000.ts"), Some((Object::Segment, true)));
        assert_eq!(
            classify("rec/p12/index.m3u8"),
            Some((Object::Playlist, true))
        );
        assert_eq!(
            classify("rec/p2/480p/s000001.ts"),
            Some((Object::Segment, true))
        );
        assert_eq!(classify("hls/480p.m3u8"), Some((Object::Playlist, true)));
        for bad in [
            "source",
            "hls/../source",
            "rec/p/s.ts",
            "rec/px/s.ts",
            "rec/p1/../../source",
            "rec/p1/../s.ts",
            "rec/p1/999p/s.ts",
            "rec/p1/480p/a/s.ts",
            "hls/a.mp4",
            "hls/.ts",
            "",
        ] {
            assert_eq!(classify(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99"), Some(ByteRange::Bounded(0..100)));
        assert_eq!(parse_range("bytes=100-"), Some(ByteRange::From(100)));
        assert_eq!(parse_range("bytes=-100"), Some(ByteRange::Last(100)));
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        assert_eq!(parse_range("bytes=9-1"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=-"), None);
        assert_eq!(span_of(&ByteRange::Last(100), 50), Some(0..50));
        assert_eq!(span_of(&ByteRange::From(50), 50), None);
    }
}
