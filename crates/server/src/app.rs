//! The HTTP application: routes, the OpenAPI document built from the same list, and the
//! middleware every request passes through.

use crate::error::ApiError;
use crate::extract::too_large;
use crate::routes::{
    admin, auth, chat, connectors, events, health, payments, playback, sources, streams,
    subscriptions,
};
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::Level;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// Longest time a request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(OpenApi)]
#[openapi(
    info(title = "ferrocast API", description = "Live streaming and creator platform. Errors are `{\"error\",\"details\",\"code\"}`."),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Accounts, sessions, two-factor, API keys"), (name = "sources", description = "Stream sources: stream keys and playback ids"), (name = "streams", description = "Live state, destinations' pushes, usage, events; administrators' view"), (name = "subscriptions", description = "Plans, subscription and limits"), (name = "chat", description = "Chat history; live chat is Socket.IO at /socket.io/"), (name = "playback", description = "Public playback by playback id: HLS and HTTP-FLV"), (name = "operations", description = "Health and metrics"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from /api/auth/login, or an API key (fck_…)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every API route with its OpenAPI annotation: the router and the spec come from this list.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::login_2fa))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::verify_email))
        .routes(routes!(auth::resend_verification))
        .routes(routes!(auth::forgot_password))
        .routes(routes!(auth::reset_password))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::totp_setup))
        .routes(routes!(auth::totp_enable))
        .routes(routes!(auth::totp_disable))
        .routes(routes!(auth::create_api_key, auth::list_api_keys))
        .routes(routes!(auth::revoke_api_key))
        .routes(routes!(auth::verify))
        .routes(routes!(sources::create_source, sources::list_sources))
        .routes(routes!(sources::update_source, sources::delete_source))
        .routes(routes!(sources::rotate_key))
        .routes(routes!(
            sources::list_destinations,
            sources::add_destination
        ))
        .routes(routes!(
            sources::update_destination,
            sources::delete_destination
        ))
        .routes(routes!(streams::info))
        .routes(routes!(streams::forwarding))
        .routes(routes!(streams::go_live, streams::end))
        .routes(routes!(streams::active))
        .routes(routes!(subscriptions::list_plans))
        .routes(routes!(subscriptions::my_subscription))
        .routes(routes!(subscriptions::check_limits))
        .routes(routes!(events::events))
        .routes(routes!(chat::messages))
        .routes(routes!(chat::delete_message))
        .routes(routes!(chat::get_settings, chat::put_settings))
        .routes(routes!(chat::ban))
        .routes(routes!(chat::list_bans))
        .routes(routes!(chat::unban))
        .routes(routes!(chat::list_moderators))
        .routes(routes!(chat::add_moderator, chat::remove_moderator))
        .routes(routes!(chat::moderation_log))
        .routes(routes!(connectors::list, connectors::remove))
        .routes(routes!(connectors::create))
        .routes(routes!(payments::razorpay_create_order))
        .routes(routes!(payments::razorpay_verify))
        .routes(routes!(payments::razorpay_webhook))
        .routes(routes!(payments::stripe_checkout))
        .routes(routes!(payments::stripe_portal))
        .routes(routes!(payments::stripe_webhook))
        .routes(routes!(payments::epayco_create_order))
        .routes(routes!(payments::epayco_confirmation))
        .routes(routes!(payments::history))
        .routes(routes!(payments::cancel))
        .routes(routes!(payments::resume))
        .routes(routes!(payments::receipt))
        .routes(routes!(admin::subscriptions))
        .routes(routes!(admin::stats))
        .routes(routes!(admin::site))
        .routes(routes!(admin::get_settings, admin::put_settings))
        .routes(routes!(admin::users))
        .routes(routes!(connectors::twitch_connect))
        .routes(routes!(connectors::youtube_connect))
        .routes(routes!(playback::flv))
        .routes(routes!(playback::hls_playlist))
        .routes(routes!(playback::hls_segment))
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The complete application with middleware.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api_router().split_for_parts();
    let cfg = &state.config;

    let mut app = api
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", doc))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            cfg.max_body_bytes,
            refuse_oversized,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::site::maintenance_gate,
        ))
        .layer(middleware::from_fn(map_plain_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));

    if !cfg.cors_origins.is_empty() {
        let origins = if cfg.cors_origins.iter().any(|o| o == "*") {
            AllowOrigin::from(Any)
        } else {
            AllowOrigin::list(
                cfg.cors_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        };
        app = app.layer(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
                .max_age(Duration::from_secs(600)),
        );
    }

    let hsts = cfg.public_url.starts_with("https://");
    let request_id = HeaderName::from_static("x-request-id");
    app = app
        .layer(security_header("x-content-type-options", "nosniff"))
        .layer(security_header("x-frame-options", "DENY"))
        .layer(security_header("referrer-policy", "no-referrer"))
        .layer(security_header("cross-origin-opener-policy", "same-origin"))
        .layer(security_header("permissions-policy", "camera=(), microphone=(), geolocation=()"))
        .layer(security_header(
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ))
        .layer(security_header("cache-control", "no-store"));
    if hsts {
        app = app.layer(security_header(
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ));
    }
    app.layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| ApiError::internal("handler panicked").into_response()))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Millis)).make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %loggable_path(req.uri().path()), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// The request path as logged: a segment that is a stream key (`sk_…`, e.g.
/// `/api/streams/forwarding/{stream_key}`) is replaced, because logs must never hold secrets.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains("/sk_") {
        return std::borrow::Cow::Borrowed(path);
    }
    let redacted: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if seg.starts_with("sk_") {
                "sk_[redacted]"
            } else {
                seg
            }
        })
        .collect();
    std::borrow::Cow::Owned(redacted.join("/"))
}

fn security_header(name: &'static str, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

async fn not_found(req: Request) -> Response {
    let path = req.uri().path();
    let api = [
        "/api/",
        "/hls/",
        "/live/",
        "/socket.io",
        "/metrics",
        "/health",
    ]
    .iter()
    .any(|p| path.starts_with(p));
    if !api {
        if let Some(page) = crate::web::serve(req.method(), path) {
            return page;
        }
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "Not found",
        format!(
            "No route for {} {}; the API is described at /api/docs.",
            req.method(),
            truncate_path(req.uri().path())
        ),
    )
    .into_response()
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "Method not allowed",
        format!(
            "{} is not supported on {}.",
            req.method(),
            truncate_path(req.uri().path())
        ),
    )
}

fn truncate_path(p: &str) -> String {
    p.chars().take(100).collect()
}

/// Gives every error response our body: those layers produce without one (timeout, oversized
/// body) and the plain-text rejections of axum's extractors.
async fn map_plain_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || res.status().is_success() {
        return res;
    }
    match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large().into_response(),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            "The request took too long",
            "Try again; if it keeps happening, tell the operator.",
        )
        .into_response(),
        status if status.is_client_error() => {
            // Rejections of axum's own extractors (path and query parameters) are plain text;
            // give them our body, keeping their (bounded) explanation as the details.
            let text = match axum::body::to_bytes(res.into_body(), 4096).await {
                Ok(b) => String::from_utf8_lossy(&b)
                    .chars()
                    .take(200)
                    .collect::<String>(),
                Err(_) => String::new(),
            };
            let (code, error) = match status {
                StatusCode::BAD_REQUEST => ("BAD_REQUEST", "The request is not valid"),
                StatusCode::NOT_FOUND => ("NOT_FOUND", "Not found"),
                StatusCode::UNPROCESSABLE_ENTITY => ("VALIDATION_ERROR", "Validation failed"),
                _ => ("REQUEST_ERROR", "The request cannot be served"),
            };
            let details = if text.trim().is_empty() {
                "Check the request against /api/docs.".to_string()
            } else {
                text
            };
            ApiError::new(status, code, error, details).into_response()
        }
        _ => res,
    }
}

/// Bytes of an oversized body read and discarded before answering 413.
const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;
/// Time spent draining an oversized body at most.
const MAX_DRAIN_TIME: Duration = Duration::from_secs(2);

/// Answers 413 to a body whose declared length is over the limit — after reading (and
/// discarding) a bounded part of it, as nginx's lingering close does: closing a socket with
/// unread data makes the kernel send a reset, which can destroy the 413 before the client
/// reads it.
async fn refuse_oversized(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_none_or(|n| n <= limit as u64) {
        return next.run(req).await;
    }
    use http_body_util::BodyExt;
    let mut body = req.into_body();
    let deadline = tokio::time::Instant::now() + MAX_DRAIN_TIME;
    let mut drained = 0usize;
    while drained <= MAX_DRAIN_BYTES {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => drained += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
    too_large().into_response()
}

/// Records metrics for every request, labelled by route template.
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let res = next.run(req).await;
    let route = route.unwrap_or_else(|| {
        if res.status() == StatusCode::NOT_FOUND {
            "unmatched".into()
        } else {
            "other".into()
        }
    });
    state
        .metrics
        .observe(&method, &route, res.status().as_u16(), start.elapsed());
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn stream_keys_never_reach_the_log() {
        let key = format!("sk_{}", "ab".repeat(32));
        let path = format!("/api/streams/forwarding/{key}");
        let logged = super::loggable_path(&path);
        assert_eq!(logged, "/api/streams/forwarding/sk_[redacted]");
        assert_eq!(super::loggable_path("/api/sources/1"), "/api/sources/1");
    }
}
