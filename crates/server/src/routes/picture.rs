//! A picture uploaded as a request body (profile pictures, a source's slate): read within
//! bounds and time, and converted by at most two ffmpeg children at once.

use crate::error::{ApiError, ApiResult};
use crate::service::profiles::{self, MAX_IMAGE_BYTES};
use axum::body::Body;
use axum::http::StatusCode;
use tokio::sync::Semaphore;

/// Pictures converted at the same time at most (each is an ffmpeg child); more are answered
/// 503 with `Retry-After`.
static CONVERSIONS: Semaphore = Semaphore::const_new(2);

/// Bytes of an oversized picture read (and discarded) before answering 413, so the client
/// reads the answer rather than a reset connection.
const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// The next piece of an uploaded body (`None` at its end): a client that stops sending for
/// the uploads' read timeout, or whose body breaks off, is answered with why. `what` names the
/// upload in the answer ("picture", "file").
pub(crate) async fn next_piece(body: &mut Body, what: &str) -> ApiResult<Option<bytes::Bytes>> {
    use http_body_util::BodyExt;
    loop {
        // A client that stops sending is not waited for longer than an upload's would be.
        let next = tokio::time::timeout(crate::service::uploads::READ_TIMEOUT, body.frame()).await;
        let Ok(next) = next else {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "UPLOAD_TIMEOUT",
                format!("The {what} stopped arriving"),
                format!(
                    "No bytes arrived for {} seconds; send the {what} again.",
                    crate::service::uploads::READ_TIMEOUT.as_secs()
                ),
            ));
        };
        let Some(frame) = next else { return Ok(None) };
        let Ok(frame) = frame else {
            return Err(ApiError::bad_request(
                "UPLOAD_INTERRUPTED",
                format!("The {what} did not arrive whole"),
                "Send it again.",
            ));
        };
        if let Ok(data) = frame.into_data() {
            return Ok(Some(data));
        }
    }
}

/// The request body, at most [`MAX_IMAGE_BYTES`].
async fn read_picture(mut body: Body) -> ApiResult<bytes::Bytes> {
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(data) = next_piece(&mut body, "picture").await? {
        seen = seen.saturating_add(data.len());
        if seen > MAX_IMAGE_BYTES + MAX_DRAIN_BYTES {
            break;
        }
        if seen <= MAX_IMAGE_BYTES {
            buf.extend_from_slice(&data);
        }
    }
    if seen > MAX_IMAGE_BYTES {
        return Err(profiles::ProfileError::TooLarge.into());
    }
    Ok(buf.freeze())
}

/// A picture uploaded as the request body (not empty, at most [`MAX_IMAGE_BYTES`]) with a
/// permit to convert it: at most two conversions run at once, and a third upload is told to
/// come back in a few seconds.
pub async fn picture_to_convert(
    body: Body,
) -> ApiResult<(bytes::Bytes, tokio::sync::SemaphorePermit<'static>)> {
    let bytes = read_picture(body).await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "IMAGE_MISSING",
            "No picture was sent",
            "Send the picture itself as the request body (PNG, JPEG or WebP, at most 8 MiB).",
        ));
    }
    let Ok(permit) = CONVERSIONS.try_acquire() else {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BUSY",
            "The server is busy with other pictures",
            "Try again in a few seconds.",
        );
        e.retry_after = Some(5);
        return Err(e);
    };
    Ok((bytes, permit))
}
