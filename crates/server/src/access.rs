//! Who may call a route. Each route declares its [`Access`] once, where it is registered
//! ([`crate::app::api_router`]); the declaration is enforced before any of the handler's
//! extractors run, and it is written into the OpenAPI document (the operation's bearer scopes
//! and the `x-ferrocast-access` extension) so a test can walk every operation with credentials
//! of each scope. A handler that asks for the caller ([`AuthUser`]) on a route that declared no
//! credential gets a 500, never an unchecked caller.

use crate::error::ApiError;
use crate::extract::{authenticate_parts, AuthUser};
use crate::state::AppState;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use ferrocast_domain::account::Scope;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa_axum::router::UtoipaMethodRouter;

/// The OpenAPI extension naming each operation's access: `public`, `session` or
/// `scope:<scope>`.
pub const ACCESS_EXTENSION: &str = "x-ferrocast-access";

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone. The handler needs no caller, or proves its caller otherwise (a gateway's
    /// webhook signature).
    Public,
    /// A login session; API keys are refused (managing keys and second factors, logging out).
    Session,
    /// A login session, or an API key granted this scope. Counted against the per-user API
    /// rate limit.
    Scope(Scope),
    /// As [`Access::Scope`], without the per-user rate limit: nginx's `auth_request` probe runs
    /// once per proxied request.
    Probe(Scope),
    /// A source's stream key as the bearer token (WHIP publishing), checked by the handler
    /// through the publish authoriser, as an RTMP publish is: 401 without a known key.
    StreamKey,
}

impl Access {
    /// The value of [`ACCESS_EXTENSION`].
    pub fn describe(self) -> String {
        match self {
            Access::Public => "public".into(),
            Access::StreamKey => "stream-key".into(),
            Access::Session => "session".into(),
            Access::Scope(s) | Access::Probe(s) => format!("scope:{}", s.as_str()),
        }
    }

    /// Refuses a caller whose credential does not meet this access (403 `INSUFFICIENT_SCOPE`,
    /// or `FORBIDDEN` when the role can never hold the scope).
    pub fn check(self, auth: &AuthUser) -> Result<(), ApiError> {
        match self {
            Access::Public | Access::StreamKey => Ok(()),
            Access::Session => Ok(auth.require_session().map(|_| ())?),
            Access::Scope(s) | Access::Probe(s) => Ok(auth.require(s)?),
        }
    }
}

/// Declares `access` for every operation of `route` (one `routes!(…)` group): enforced before
/// the handler, and recorded in the OpenAPI document.
pub fn declare(
    access: Access,
    (schemas, mut paths, method_router): UtoipaMethodRouter<AppState>,
) -> UtoipaMethodRouter<AppState> {
    for item in paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            op.security = match access {
                Access::Public => None,
                Access::StreamKey => Some(vec![SecurityRequirement::new(
                    "stream_key",
                    Vec::<String>::new(),
                )]),
                Access::Session => Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]),
                Access::Scope(s) | Access::Probe(s) => {
                    Some(vec![SecurityRequirement::new("bearer", [s.as_str()])])
                }
            };
            let ext = ExtensionsBuilder::new()
                .add(ACCESS_EXTENSION, access.describe())
                .build();
            match &mut op.extensions {
                Some(existing) => existing.merge(ext),
                None => op.extensions = Some(ext),
            }
        }
    }
    let method_router = method_router.route_layer(middleware::from_fn(move |req, next| {
        enforce(access, req, next)
    }));
    (schemas, paths, method_router)
}

/// Authenticates the caller of a non-public route, checks its credential against the route's
/// access, charges the rate limit and hands the caller to the handler's extractors.
async fn enforce(access: Access, req: Request, next: Next) -> Response {
    if matches!(access, Access::Public | Access::StreamKey) {
        return next.run(req).await;
    }
    let Some(state) = req.extensions().get::<AppState>().cloned() else {
        return ApiError::internal("invariant: the application state is in every request")
            .into_response();
    };
    let (mut parts, body) = req.into_parts();
    let auth = match authenticate_parts(&parts, &state).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = access.check(&auth) {
        return e.into_response();
    }
    if matches!(access, Access::Scope(_) | Access::Session) {
        if let Err(e) = crate::extract::limit_api(&state, auth.user.id).await {
            return e.into_response();
        }
    }
    parts.extensions.insert(auth);
    next.run(Request::from_parts(parts, body)).await
}
