//! The web app (`web/`, built into `web/dist` by `npm run build`): embedded in release builds,
//! so a node needs nothing else at run time, and read from `web/dist` in debug builds. Hashed
//! assets are cached for a year; the app's page paths get `index.html`, whose router shows the
//! page; any other path stays a 404. Only the embeddable player (`/embed/<playback_id>`) may be
//! framed by other sites.

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
    "/dashboard/subscription",
    "/settings",
    "/admin",
    "/auth/complete",
];

/// The payment gateways' origins the app's pages may use besides their own.
#[derive(Debug, Default)]
pub struct Policy<'a> {
    /// Origins scripts may load from (ePayco's Smart Checkout script).
    pub scripts: Vec<&'a str>,
    /// Origins forms may post to (Razorpay's Hosted Checkout, ePayco's checkout).
    pub forms: Vec<&'a str>,
}

/// `'self'` and each origin once.
fn sources(origins: &[&str]) -> String {
    let mut list = String::from("'self'");
    let mut seen: Vec<&str> = Vec::new();
    for o in origins {
        if !seen.contains(o) {
            seen.push(o);
            list.push(' ');
            list.push_str(o);
        }
    }
    list
}

/// What the app's pages may load: scripts from here (and the gateways' in `policy`), styles
/// from here, media from here and from hls.js's `blob:` buffers, Socket.IO and the API from
/// here; forms post here and to the payment gateways' checkouts in `policy` (origins). No site
/// may frame them (clickjacking), except the embeddable player (`framed_by_any`), which is
/// meant to be framed by any site and has nothing to click that acts for its viewer.
fn csp(policy: &Policy<'_>, framed_by_any: bool) -> String {
    format!(
        "default-src 'self'; script-src {scripts}; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
         media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors {ancestors}; \
         base-uri 'none'; form-action {forms}",
        scripts = sources(&policy.scripts),
        forms = sources(&policy.forms),
        ancestors = if framed_by_any { "*" } else { "'none'" },
    )
}

/// Marks a response that other sites may frame: the router's `X-Frame-Options: DENY` is not
/// added to it (its Content-Security-Policy says who may frame it).
#[derive(Debug, Clone, Copy)]
pub struct Frameable;

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL, if it is one that may stand
/// in a Content-Security-Policy source list.
pub fn origin(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_len];
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then(|| &url[..url.len() - rest.len() + host_len])
}

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

/// The app's file for a GET of `path`, or `None` (not an app path); `policy`: the payment
/// gateways' origins the pages may load scripts from and post forms to.
pub fn serve(method: &Method, path: &str, policy: &Policy<'_>) -> Option<Response> {
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
    let receipt = path
        .strip_prefix("/dashboard/subscription/receipts/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    let embed = path
        .strip_prefix("/embed/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    if !PAGES.contains(&path) && !watch && !receipt && !embed {
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
    let mut page = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_str(&csp(policy, embed)).unwrap_or_else(|_| {
                    HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'")
                }),
            ),
        ],
        body(index.data),
    )
        .into_response();
    if embed {
        page.extensions_mut().insert(Frameable);
    }
    Some(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_for_the_policy() {
        assert_eq!(
            origin("https://api.razorpay.com"),
            Some("https://api.razorpay.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:4000/x?y"),
            Some("http://127.0.0.1:4000")
        );
        assert_eq!(origin("https://a b"), None);
        assert_eq!(origin("javascript:alert(1)"), None);
        assert_eq!(origin("https://x;script-src *"), None);
        let policy = Policy {
            scripts: vec!["https://checkout.epayco.co"],
            forms: vec![
                "https://api.razorpay.com",
                "https://checkout.epayco.co",
                "https://api.razorpay.com",
            ],
        };
        let csp = csp(&policy, false);
        assert!(
            csp.ends_with("form-action 'self' https://api.razorpay.com https://checkout.epayco.co"),
            "{csp}"
        );
        assert!(
            csp.contains("; script-src 'self' https://checkout.epayco.co;"),
            "{csp}"
        );
        assert!(super::csp(&Policy::default(), false).contains("script-src 'self';"));
        assert!(csp.contains("; frame-ancestors 'none';"), "{csp}");
        assert!(super::csp(&Policy::default(), true).contains("; frame-ancestors *;"));
    }
}
