//! The web app (`web/`, built into `web/dist` by `npm run build`): embedded in release builds,
//! so a node needs nothing else at run time, and read from `web/dist` in debug builds. Hashed
//! assets are cached for a year; the app's page paths get `index.html`, whose router shows the
//! page. Watch pages carry their stream's Open Graph and Twitter card tags (chat apps read them
//! to preview a link; they run no script). Other browser paths get `index.html` answered 404,
//! so the app shows its own not-found page.
//! Only the embeddable player (`/embed/<playback_id>`) may be
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
    "/library",
    "/browse",
    "/search",
    "/shorts",
    "/dashboard/tips",
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
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
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

/// What a page's preview shows in chat apps and social sites (Open Graph and Twitter card).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMeta {
    /// The page's title (also its `<title>`).
    pub title: String,
    /// One or two sentences about it.
    pub description: String,
    /// The page's absolute URL.
    pub url: String,
    /// An absolute URL of a picture of it.
    pub image: String,
}

/// `text` safe inside an HTML attribute value in double quotes and inside an element.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The `<title>` and preview tags of `meta`, escaped.
fn meta_tags(meta: &PageMeta) -> String {
    let (title, description, url, image) = (
        escape_html(&meta.title),
        escape_html(&meta.description),
        escape_html(&meta.url),
        escape_html(&meta.image),
    );
    format!(
        "<title>{title}</title>\n    \
         <meta name=\"description\" content=\"{description}\" />\n    \
         <meta property=\"og:type\" content=\"video.other\" />\n    \
         <meta property=\"og:site_name\" content=\"ferrocast\" />\n    \
         <meta property=\"og:title\" content=\"{title}\" />\n    \
         <meta property=\"og:description\" content=\"{description}\" />\n    \
         <meta property=\"og:url\" content=\"{url}\" />\n    \
         <meta property=\"og:image\" content=\"{image}\" />\n    \
         <meta name=\"twitter:card\" content=\"summary_large_image\" />\n    \
         <meta name=\"twitter:title\" content=\"{title}\" />\n    \
         <meta name=\"twitter:description\" content=\"{description}\" />\n    \
         <meta name=\"twitter:image\" content=\"{image}\" />"
    )
}

/// `index.html` with `meta`'s tags in place of its `<title>` (and its generic description).
fn with_meta(index: &str, meta: &PageMeta) -> String {
    let tags = meta_tags(meta);
    let mut html = index.to_string();
    // The app's generic description would contradict the page's.
    if let Some(start) = html.find("<meta name=\"description\"") {
        if let Some(len) = html[start..].find('>') {
            html.replace_range(start..start + len + 1, "");
        }
    }
    match (html.find("<title>"), html.find("</title>")) {
        (Some(start), Some(end)) if end > start => {
            html.replace_range(start..end + "</title>".len(), &tags);
        }
        _ => match html.find("</head>") {
            Some(at) => html.insert_str(at, &tags),
            None => html.insert_str(0, &tags),
        },
    }
    html
}

/// The playback id of a watch page's path (`/watch/<id>`), if it is one.
pub fn watch_id(path: &str) -> Option<&str> {
    path.strip_prefix("/watch/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Whether `path` may be the app's (a page or one of its files), rather than a path of the API,
/// of playback, of Socket.IO or of operations, which keep their JSON answers.
pub fn is_app_path(path: &str) -> bool {
    const NOT_APP: &[&str] = &[
        "/api/",
        "/hls/",
        "/live/",
        "/vod/",
        "/media/",
        "/socket.io",
        "/metrics",
        "/health",
        "/ready",
    ];
    let exact = ["/api", "/hls", "/live", "/vod", "/media"];
    !NOT_APP.iter().any(|p| path.starts_with(p)) && !exact.contains(&path)
}

/// Whether a GET of `path` that no route answers is a browser's page visit, to be answered
/// with the app's own not-found page: an app path that is not one of its (hashed) files.
pub fn is_page_path(path: &str) -> bool {
    is_app_path(path) && !path.starts_with("/assets/")
}

/// `index.html` answered with `status` (and `meta`'s preview tags when given): the router
/// shows the page, or its not-found page for 404.
pub fn page(
    status: StatusCode,
    meta: Option<&PageMeta>,
    policy: &Policy<'_>,
    framed_by_any: bool,
) -> Response {
    let Some(index) = Assets::get("index.html") else {
        return not_built();
    };
    let body = match meta {
        Some(meta) => Body::from(with_meta(&String::from_utf8_lossy(&index.data), meta)),
        None => body(index.data),
    };
    (status, html_headers(policy, framed_by_any), body).into_response()
}

fn not_built() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "The web app is not built into this node: run `npm ci && npm run build` in web/, then build ferrocast again.\n",
    )
        .into_response()
}

fn html_headers(
    policy: &Policy<'_>,
    framed_by_any: bool,
) -> [(header::HeaderName, HeaderValue); 3] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp(policy, framed_by_any)).unwrap_or_else(|_| {
                HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'")
            }),
        ),
    ]
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
    let watch = watch_id(path).is_some();
    let receipt = path
        .strip_prefix("/dashboard/subscription/receipts/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    let embed = path
        .strip_prefix("/embed/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    let video = path
        .strip_prefix("/v/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    let channel = path
        .strip_prefix("/c/")
        .is_some_and(|h| !h.is_empty() && !h.contains('/'));
    // OBS's browser source: `/overlay/<token>/alerts` and `/overlay/<token>/goal`.
    let overlay = path.strip_prefix("/overlay/").is_some_and(|rest| {
        rest.split_once('/').is_some_and(|(token, kind)| {
            !token.is_empty() && !token.contains('/') && matches!(kind, "alerts" | "goal")
        })
    });
    if !PAGES.contains(&path) && !watch && !receipt && !embed && !video && !channel && !overlay {
        return None;
    }
    let mut page = page(StatusCode::OK, None, policy, embed);
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

    #[test]
    fn preview_tags_are_escaped_and_replace_the_title() {
        let index = "<html><head><meta charset=\"UTF-8\" />\n<meta name=\"description\" content=\"generic\" />\n<title>ferrocast</title></head><body></body></html>";
        let meta = PageMeta {
            title: "<script>alert(\"x\")</script> & more".into(),
            description: "By O'Neil".into(),
            url: "https://tv.example/watch/abc".into(),
            image: "https://tv.example/icon-512.png".into(),
        };
        let html = with_meta(index, &meta);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("generic"), "{html}");
        assert_eq!(html.matches("<title>").count(), 1, "{html}");
        assert!(html.contains(
            "<meta property=\"og:title\" content=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more\" />"
        ));
        assert!(html.contains("content=\"By O&#39;Neil\""));
        assert!(html.contains("<meta name=\"twitter:card\" content=\"summary_large_image\" />"));
        assert!(html.contains(
            "<meta property=\"og:image\" content=\"https://tv.example/icon-512.png\" />"
        ));
        assert!(html.find("og:title") < html.find("</head>"));
    }

    #[test]
    fn page_paths() {
        assert!(is_page_path("/no/such/page"));
        assert!(is_page_path("/watch/abc"));
        assert!(is_app_path("/assets/x.js"));
        for p in [
            "/api/x",
            "/api",
            "/hls/a/index.m3u8",
            "/live/a.flv",
            "/socket.io/",
            "/metrics",
            "/health",
            "/ready",
            "/assets/x.js",
        ] {
            assert!(!is_page_path(p), "{p}");
        }
        assert_eq!(watch_id("/watch/abc"), Some("abc"));
        assert_eq!(watch_id("/watch/"), None);
        assert_eq!(watch_id("/watch/a/b"), None);
    }
}
