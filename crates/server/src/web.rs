//! The web app (`web/`, built into `web/dist` by `npm run build`): embedded in release builds,
//! so a node needs nothing else at run time, and read from `web/dist` in debug builds. Hashed
//! assets are cached for a year; the app's page paths get `index.html`, whose router shows the
//! page; any other path stays a 404.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../web/dist/"]
#[allow_missing = true]
struct Assets;

/// The app's pages (the routes of `web/src/main.tsx`).
const PAGES: &[&str] = &[
    "/",
    "/login",
    "/register",
    "/forgot-password",
    "/dashboard",
    "/settings",
    "/admin",
    "/auth/complete",
];

/// What the app's pages may load: scripts and styles from here, media from here and from
/// hls.js's `blob:` buffers, Socket.IO and the API from here.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
    media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A file's bytes as a body: embedded files are served without copying them.
fn body(data: std::borrow::Cow<'static, [u8]>) -> Body {
    match data {
        std::borrow::Cow::Borrowed(b) => Body::from(axum::body::Bytes::from_static(b)),
        std::borrow::Cow::Owned(v) => Body::from(v),
    }
}

/// The app's file for a GET of `path`, or `None` (not an app path).
pub fn serve(method: &Method, path: &str) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let file = path.trim_start_matches('/');
    if let Some(asset) = (!file.is_empty()).then(|| Assets::get(file)).flatten() {
        let cache = if file.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return Some(
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(content_type(file)),
                    ),
                    (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
                ],
                body(asset.data),
            )
                .into_response(),
        );
    }
    let watch = path
        .strip_prefix("/watch/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    if !PAGES.contains(&path) && !watch {
        return None;
    }
    let Some(index) = Assets::get("index.html") else {
        return Some(
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "The web app is not built into this node: run `npm ci && npm run build` in web/, then build ferrocast again.\n",
            )
                .into_response(),
        );
    };
    Some(
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CSP),
                ),
            ],
            body(index.data),
        )
            .into_response(),
    )
}
