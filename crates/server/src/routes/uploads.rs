//! tus 1.0 at `/api/uploads` (core, creation, termination, checksum): the HTTP side of
//! [`crate::service::uploads`]. Every answer carries `Tus-Resumable: 1.0.0`; errors are the
//! API's JSON body with the status tus asks for (409 wrong offset, 412 no `Tus-Resumable`,
//! 413 too large, 460 checksum mismatch).

use crate::error::{ApiError, ErrorBody};
use crate::extract::AuthUser;
use crate::routes::videos::MaybeUser;
use crate::service::uploads::{
    parse_checksum, parse_metadata, UploadsError, TUS_CHECKSUMS, TUS_EXTENSIONS, TUS_VERSION,
};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");

fn tus(mut res: Response) -> Response {
    res.headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    res
}

fn tus_error(e: ApiError) -> Response {
    tus(e.into_response())
}

/// The 412 for a request that does not speak tus 1.0.0; `None` for one that does.
fn refuse_version(headers: &HeaderMap) -> Option<Response> {
    match headers.get(&TUS_RESUMABLE).and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => None,
        other => {
            let mut res = tus_error(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "TUS_VERSION_UNSUPPORTED",
                "This server speaks tus 1.0.0",
                match other {
                    None => "Send the header Tus-Resumable: 1.0.0.".to_string(),
                    Some(v) => format!("Tus-Resumable {v:?} is not supported; use 1.0.0."),
                },
            ));
            res.headers_mut()
                .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
            Some(res)
        }
    }
}

fn header_i64(headers: &HeaderMap, name: &HeaderName) -> Result<Option<i64>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_HEADER",
                    format!("{name} is not valid"),
                    format!("{name} must be a non-negative integer."),
                )
            }),
    }
}

/// The API error of an upload error.
pub fn upload_error(e: UploadsError) -> ApiError {
    match e {
        UploadsError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "UPLOAD_NOT_FOUND",
            "Upload not found",
            "No upload with that id exists, or it is not yours; start a new upload.",
        ),
        UploadsError::TooLarge(why) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "UPLOAD_TOO_LARGE",
            "The upload is too large",
            why,
        ),
        UploadsError::Conflict(at) => ApiError::conflict(
            "UPLOAD_OFFSET_MISMATCH",
            "Upload-Offset does not match the upload",
            format!("The upload is at offset {at}; send a HEAD request and continue from there."),
        ),
        UploadsError::Invalid(why) => {
            ApiError::bad_request("INVALID_UPLOAD", "The upload request is not valid", why)
        }
        UploadsError::ChecksumMismatch => ApiError::new(
            StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
            "CHECKSUM_MISMATCH",
            "The checksum does not match",
            "The body's SHA-1 is not the one in Upload-Checksum; nothing of it was kept. Send it again.",
        ),
        UploadsError::Interrupted(why) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "UPLOAD_INTERRUPTED",
            "The upload request was interrupted",
            format!("{why}; what arrived before was kept: send a HEAD request and continue."),
        ),
        UploadsError::Restricted(why) => ApiError::new(
            StatusCode::FORBIDDEN,
            "ACCOUNT_RESTRICTED",
            "Uploads are refused to this account",
            crate::service::safety::sentence(&why),
        ),
        UploadsError::Videos(e) => ApiError::from(e),
        UploadsError::Db(e) => ApiError::internal(e),
        UploadsError::Storage(e) => ApiError::internal(e),
        UploadsError::Io(e) => ApiError::internal(format!("upload staging: {e}")),
    }
}

/// What this server's tus supports (tus discovery). `Tus-Max-Size` is the caller's plan's
/// upload limit, or the largest of any plan without a credential.
#[utoipa::path(options, path = "/api/uploads", tag = "videos",
    responses((status = 204, description = "Tus-Version, Tus-Extension, Tus-Max-Size and Tus-Checksum-Algorithm headers")))]
pub async fn tus_options(State(state): State<AppState>, MaybeUser(auth): MaybeUser) -> Response {
    let max = match state.uploads.max_size(auth.map(|a| a.user.id)).await {
        Ok(m) => m,
        Err(e) => return tus_error(upload_error(e)),
    };
    let mut res = tus(StatusCode::NO_CONTENT.into_response());
    let h = res.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static(TUS_EXTENSIONS));
    h.insert(
        "tus-checksum-algorithm",
        HeaderValue::from_static(TUS_CHECKSUMS),
    );
    h.insert("tus-max-size", HeaderValue::from(max));
    res
}

/// Create an upload (tus creation): `Upload-Length` bytes, `Upload-Metadata` with `filename`,
/// `title` and `kind` (`upload` or `short`). Creates the video (`uploading`); answers its
/// address in `Location` and the video's id in `X-Video-Id`.
#[utoipa::path(post, path = "/api/uploads", tag = "videos", security(("bearer" = [])),
    params(("Tus-Resumable" = String, Header, description = "1.0.0"), ("Upload-Length" = i64, Header, description = "Bytes of the file"),
           ("Upload-Metadata" = Option<String>, Header, description = "`key base64` pairs: filename, title, kind")),
    responses((status = 201, description = "Created: Location /api/uploads/{id}, X-Video-Id"), (status = 400, body = ErrorBody),
              (status = 412, body = ErrorBody, description = "No Tus-Resumable: 1.0.0"),
              (status = 413, body = ErrorBody, description = "Over the plan's upload size or storage quota")))]
pub async fn create_upload(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
) -> Response {
    if let Some(res) = refuse_version(&headers) {
        return res;
    }
    let length = match header_i64(&headers, &UPLOAD_LENGTH) {
        Ok(Some(n)) => n,
        Ok(None) => {
            return tus_error(ApiError::bad_request(
                "INVALID_HEADER",
                "Upload-Length is required",
                "Send the file's size in Upload-Length (deferred lengths are not supported).",
            ))
        }
        Err(e) => return tus_error(e),
    };
    let metadata = match headers.get("upload-metadata") {
        None => Default::default(),
        Some(v) => match v
            .to_str()
            .map_err(|_| UploadsError::Invalid("Upload-Metadata is not ASCII".into()))
            .and_then(parse_metadata)
        {
            Ok(m) => m,
            Err(e) => return tus_error(upload_error(e)),
        },
    };
    match state.uploads.create(auth.user.id, length, metadata).await {
        Ok(rec) => {
            let mut res = tus(StatusCode::CREATED.into_response());
            let h = res.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("/api/uploads/{}", rec.uuid)) {
                h.insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&rec.uuid) {
                h.insert("x-video-id", v);
            }
            res
        }
        Err(e) => tus_error(upload_error(e)),
    }
}

/// Where an upload stands (tus core): `Upload-Offset` and `Upload-Length`.
#[utoipa::path(head, path = "/api/uploads/{upload_id}", tag = "videos", security(("bearer" = [])),
    params(("upload_id" = String, Path, description = "The upload's id (its video's id)")),
    responses((status = 200, description = "Upload-Offset, Upload-Length"), (status = 404, description = "No such upload of yours"),
              (status = 412, description = "No Tus-Resumable: 1.0.0")))]
pub async fn upload_status(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(res) = refuse_version(&headers) {
        return res;
    }
    match state.uploads.status(&id, auth.user.id).await {
        Ok(rec) => {
            let mut res = tus(StatusCode::OK.into_response());
            let h = res.headers_mut();
            h.insert(UPLOAD_OFFSET, HeaderValue::from(rec.received));
            h.insert(UPLOAD_LENGTH, HeaderValue::from(rec.length));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => tus_error(upload_error(e)),
    }
}

/// Append bytes at `Upload-Offset` (tus core, with an optional `Upload-Checksum: sha1 …`).
/// Answers the new `Upload-Offset`; the last byte queues the video's processing.
#[utoipa::path(patch, path = "/api/uploads/{upload_id}", tag = "videos", security(("bearer" = [])),
    params(("upload_id" = String, Path, description = "The upload's id (its video's id)"), ("Upload-Offset" = i64, Header, description = "Where these bytes go"),
           ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64>` of the body")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "Upload-Offset: the new offset"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Upload-Offset is not the upload's"),
              (status = 412, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 460, body = ErrorBody, description = "Checksum mismatch")))]
pub async fn append_upload(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(res) = refuse_version(&headers) {
        return res;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.eq_ignore_ascii_case("application/offset+octet-stream") {
        return tus_error(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_CONTENT_TYPE",
            "The body must be application/offset+octet-stream",
            "Send Content-Type: application/offset+octet-stream with the bytes.",
        ));
    }
    let offset = match header_i64(&headers, &UPLOAD_OFFSET) {
        Ok(Some(n)) => n,
        Ok(None) => {
            return tus_error(ApiError::bad_request(
                "INVALID_HEADER",
                "Upload-Offset is required",
                "Send where these bytes go in Upload-Offset (a HEAD request tells it).",
            ))
        }
        Err(e) => return tus_error(e),
    };
    let checksum = match headers.get("upload-checksum").map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => match parse_checksum(v) {
            Ok(d) => Some(d),
            Err(e) => return tus_error(upload_error(e)),
        },
        Some(Err(_)) => {
            return tus_error(upload_error(UploadsError::Invalid(
                "Upload-Checksum is not ASCII".into(),
            )))
        }
    };
    match state
        .uploads
        .append(&id, auth.user.id, offset, checksum, body.into_data_stream())
        .await
    {
        Ok(to) => {
            let mut res = tus(StatusCode::NO_CONTENT.into_response());
            res.headers_mut()
                .insert(UPLOAD_OFFSET, HeaderValue::from(to));
            res
        }
        Err(e) => tus_error(upload_error(e)),
    }
}

/// Give up an upload (tus termination): its bytes, the upload and its video are removed.
#[utoipa::path(delete, path = "/api/uploads/{upload_id}", tag = "videos", security(("bearer" = [])),
    params(("upload_id" = String, Path, description = "The upload's id (its video's id)")),
    responses((status = 204, description = "Terminated"), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn terminate_upload(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(res) = refuse_version(&headers) {
        return res;
    }
    match state.uploads.terminate(&id, auth.user.id).await {
        Ok(()) => tus(StatusCode::NO_CONTENT.into_response()),
        Err(e) => tus_error(upload_error(e)),
    }
}
