//! The one error type of the HTTP API and its body:
//! `{"error": "...", "details": "...", "code": "ERROR_CODE"}` with a correct status.
//!
//! Policy: `error` is a short sentence for people, `details` says what to do or which field is
//! wrong, `code` is stable for programs. Internal failures are logged with their cause and
//! answered with a generic 500 — causes never leave the server.

use crate::service::accounts::AccountsError;
use crate::service::billing::BillingError;
use crate::service::hashing::HashError;
use crate::service::identity::IdentityError;
use crate::service::sources::SourcesError;
use crate::service::streams::StreamsError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrocast_domain::account::Guarded;
use serde::Serialize;
use utoipa::ToSchema;

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    #[schema(example = "Validation failed")]
    pub error: String,
    /// What to do about it, or which field is wrong.
    #[schema(example = "email: must look like name@example.com")]
    pub details: String,
    /// Stable machine-readable code.
    #[schema(example = "VALIDATION_ERROR")]
    pub code: String,
    /// Plan-limit refusals only (403 `PLAN_LIMIT_REACHED`): Neustream's extra fields.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Box<PlanLimitFields>>,
}

/// What a plan-limit refusal adds to the error body (the Neustream API,
/// `planValidation`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanLimitFields {
    /// How many are in use.
    pub current: i64,
    /// The plan's maximum.
    pub max: i64,
    /// Where to upgrade.
    pub upgrade_url: String,
}

/// An API error: status, body, and for 429 the seconds to wait.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Body.
    pub body: ErrorBody,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
    /// Add `WWW-Authenticate: Bearer` (401 on protected routes).
    pub challenge: bool,
}

impl ApiError {
    /// Any status with a code, a sentence and details.
    pub fn new(
        status: StatusCode,
        code: &str,
        error: impl Into<String>,
        details: impl Into<String>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.into(),
                details: details.into(),
                code: code.into(),
                limit: None,
            },
            retry_after: None,
            challenge: false,
        }
    }
    /// 400.
    pub fn bad_request(code: &str, error: impl Into<String>, details: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, error, details)
    }
    /// 401 for a missing or invalid credential.
    pub fn unauthenticated(details: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHENTICATED,
            "Authentication required",
            details,
        );
        e.challenge = true;
        e
    }
    /// 401 for wrong credentials at login.
    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid email or password",
            "Check the email and password and try again.",
        )
    }
    /// 403: the credential (an API key without the scope, or a key where a session is needed)
    /// may not do this, though its user might.
    pub fn insufficient_scope(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            codes::INSUFFICIENT_SCOPE,
            "This credential may not do this",
            details,
        )
    }
    /// 403: the caller may not do this.
    pub fn forbidden(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            "You do not have permission to do this",
            details,
        )
    }
    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("{what} not found"),
            format!(
                "No {} with that id exists, or it is not yours.",
                what.to_lowercase()
            ),
        )
    }
    /// 409.
    pub fn conflict(code: &str, error: impl Into<String>, details: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, error, details)
    }
    /// 403 for a plan limit, with Neustream's `current`, `max` and `upgrade_url`.
    pub fn plan_limit(
        e: ferrocast_domain::plans::LimitExceeded,
        details: impl Into<String>,
    ) -> Self {
        let mut err = Self::new(
            StatusCode::FORBIDDEN,
            "PLAN_LIMIT_REACHED",
            e.error,
            details,
        );
        err.body.limit = Some(Box::new(PlanLimitFields {
            current: e.current,
            max: e.max,
            upgrade_url: ferrocast_domain::plans::UPGRADE_URL.into(),
        }));
        err
    }
    /// 422 for input that parsed but is not acceptable.
    pub fn validation(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::VALIDATION_ERROR,
            "Validation failed",
            details,
        )
    }
    /// 429.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
            "Too many requests",
            format!("Slow down: try again in {retry_after} seconds."),
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }
    /// 500: logs the cause, returns nothing of it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_ERROR,
            "Something went wrong on our side",
            "The error was logged; try again, and tell the operator if it persists.",
        )
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        let code = e.code();
        match e {
            IdentityError::Db(e) => ApiError::internal(e),
            IdentityError::Internal(cause) => ApiError::internal(cause),
            IdentityError::NotConfigured(provider) => ApiError::new(
                StatusCode::NOT_FOUND,
                code,
                format!("{provider} is not configured on this server"),
                "Sign in with your email and password; to use it, the operator sets its OAuth client (see the README).",
            ),
            IdentityError::LastWayIn => ApiError::conflict(
                code,
                "This is your only way to sign in",
                "Set a password (Forgot password sends a code to your email) or link another account first.",
            ),
            IdentityError::NotFound => ApiError::not_found("Linked account"),
            IdentityError::HandoffInvalid => ApiError::new(
                StatusCode::UNAUTHORIZED,
                code,
                "The sign-in code is not valid",
                "It was already used or is older than a minute; sign in again.",
            ),
            other => ApiError::bad_request(code, other.to_string(), "Start the sign-in again."),
        }
    }
}

impl From<crate::service::admin::AdminError> for ApiError {
    fn from(e: crate::service::admin::AdminError) -> Self {
        use crate::service::admin::AdminError;
        match e {
            AdminError::Db(e) => ApiError::internal(e),
            AdminError::OwnAccount(details) => {
                ApiError::conflict("OWN_ACCOUNT", "Not on your own account", details)
            }
        }
    }
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Db(e) => ApiError::internal(e),
            AccountsError::Unauthenticated(details) => ApiError::unauthenticated(details),
            AccountsError::Locked { kind, wait_ms } => account_locked(kind, wait_ms),
            AccountsError::WrongPassword => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_PASSWORD",
                "The password is wrong",
                "Enter your current password to confirm this change.",
            ),
            AccountsError::Suspended => ApiError::new(
                StatusCode::FORBIDDEN,
                "ACCOUNT_SUSPENDED",
                "This account is suspended",
                "An administrator suspended this account; contact the site's administrators to have it reactivated.",
            ),
            AccountsError::Forbidden(details) => ApiError::forbidden(details),
            AccountsError::InsufficientScope(details) => ApiError::insufficient_scope(details),
            AccountsError::Hashing(e) => e.into(),
            AccountsError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "BUSY",
                    "The server is busy checking passwords",
                    "Try again in a few seconds.",
                );
                e.retry_after = Some(5);
                e
            }
            HashError::Stopped(cause) => ApiError::internal(cause),
        }
    }
}

/// 429 while an account's `kind` of credential is locked.
fn account_locked(kind: Guarded, wait_ms: i64) -> ApiError {
    let minutes = (wait_ms + 59_999) / 60_000;
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "ACCOUNT_LOCKED",
        "Too many failed attempts for this account",
        format!(
            "After repeated wrong {} this account is locked for {minutes} more minute(s); \
             its owner was told by email. Try again later, or reset the password by email.",
            kind.describe()
        ),
    );
    e.retry_after = Some((wait_ms / 1000).max(1) as u64);
    e
}

impl From<SourcesError> for ApiError {
    fn from(e: SourcesError) -> Self {
        match e {
            SourcesError::Db(e) => ApiError::internal(e),
            SourcesError::NotFound(what) => ApiError::not_found(what),
            SourcesError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<StreamsError> for ApiError {
    fn from(e: StreamsError) -> Self {
        match e {
            StreamsError::Db(e) => ApiError::internal(e),
        }
    }
}

impl From<BillingError> for ApiError {
    fn from(e: BillingError) -> Self {
        match e {
            BillingError::Db(e) => ApiError::internal(e),
            BillingError::Invalid(details) => ApiError::validation(details),
            BillingError::NotFound(what) => ApiError::not_found(what),
            // The gateway delivers it again.
            BillingError::NotYetKnown => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "NOT_YET_KNOWN",
                    "This event concerns a payment not known yet",
                    "Deliver it again later; it is applied once the earlier event has arrived.",
                );
                e.retry_after = Some(5);
                e
            }
        }
    }
}

impl From<crate::service::purchases::PurchaseError> for ApiError {
    fn from(e: crate::service::purchases::PurchaseError) -> Self {
        use crate::service::purchases::PurchaseError;
        match e {
            PurchaseError::Db(e) => ApiError::internal(e),
            PurchaseError::Invalid(details) => ApiError::validation(details),
            PurchaseError::NotFound(what) => ApiError::not_found(what),
            PurchaseError::NotYetKnown => BillingError::NotYetKnown.into(),
        }
    }
}

/// The answer for a video the caller may not see, or that does not exist.
pub fn video_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "VIDEO_NOT_FOUND",
        "This video does not exist",
        "No video has this id, or it is private: check the link, or ask its creator.",
    )
}

impl From<crate::service::videos::VideosError> for ApiError {
    fn from(e: crate::service::videos::VideosError) -> Self {
        use crate::service::videos::VideosError;
        match e {
            VideosError::NotFound => video_not_found(),
            VideosError::Disabled => video_unavailable_legal(),
            VideosError::Invalid(details) => ApiError::validation(details),
            VideosError::Db(e) => ApiError::internal(e),
            VideosError::Storage(e) => ApiError::internal(e),
        }
    }
}

impl From<crate::service::privacy::PrivacyError> for ApiError {
    fn from(e: crate::service::privacy::PrivacyError) -> Self {
        use crate::service::privacy::PrivacyError;
        match e {
            PrivacyError::Db(e) => ApiError::internal(e),
            PrivacyError::Storage(e) => ApiError::internal(e),
            PrivacyError::Accounts(e) => e.into(),
            PrivacyError::NoExport(details) => ApiError::new(
                StatusCode::NOT_FOUND,
                "NO_EXPORT",
                "No export to download",
                details,
            ),
            PrivacyError::SecondFactor(details) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "SECOND_FACTOR_REQUIRED",
                "A current two-factor code is needed",
                details,
            ),
            PrivacyError::NoCredential(details) => ApiError::new(
                StatusCode::FORBIDDEN,
                "NO_CREDENTIAL",
                "Nothing to confirm the deletion with",
                details,
            ),
        }
    }
}

/// A video disabled by a copyright notice (HTTP 451).
pub fn video_unavailable_legal() -> ApiError {
    ApiError::new(
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        "UNAVAILABLE_FOR_LEGAL_REASONS",
        "This video is unavailable for legal reasons",
        "It was disabled after a copyright notice. Its uploader may file a counter-notice; see /dmca.",
    )
}

impl From<crate::service::dmca::DmcaError> for ApiError {
    fn from(e: crate::service::dmca::DmcaError) -> Self {
        use crate::service::dmca::DmcaError;
        match e {
            DmcaError::Invalid(details) => ApiError::validation(details),
            DmcaError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "CASE_NOT_FOUND",
                "No such copyright case",
                "Check the case number and the link's token (it is in the email sent when the notice was filed).",
            ),
            DmcaError::NoVideo => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "VIDEO_NOT_FOUND",
                "No video at that address",
                "urls: copy the address of the video's page on this site (…/v/<id>); the video may have been deleted already.",
            ),
            DmcaError::Conflict(details) => {
                ApiError::conflict("CASE_STATE", "This step does not fit the case now", details)
            }
            DmcaError::RateLimited(wait) => ApiError::rate_limited(wait),
            DmcaError::Db(e) => ApiError::internal(e),
            DmcaError::Storage(e) => ApiError::internal(e),
            DmcaError::Strike(e) => ApiError::internal(e),
        }
    }
}

impl From<crate::service::discovery::DiscoveryError> for ApiError {
    fn from(e: crate::service::discovery::DiscoveryError) -> Self {
        use crate::service::discovery::DiscoveryError;
        match e {
            DiscoveryError::Invalid(details) => ApiError::validation(details),
            DiscoveryError::Db(e) => ApiError::internal(e),
        }
    }
}

impl From<crate::service::profiles::ProfileError> for ApiError {
    fn from(e: crate::service::profiles::ProfileError) -> Self {
        use crate::service::profiles::{ProfileError, MAX_IMAGE_BYTES};
        match e {
            ProfileError::Invalid(e) => ApiError::validation(e.to_string()),
            ProfileError::HandleTaken(h) => ApiError::conflict(
                "HANDLE_TAKEN",
                "This handle is taken",
                format!("Another channel is @{h}; choose another handle (add a word or a number)."),
            ),
            ProfileError::TooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "The picture is too large",
                format!(
                    "Send a picture of at most {} MiB (PNG, JPEG or WebP).",
                    MAX_IMAGE_BYTES / (1024 * 1024)
                ),
            ),
            ProfileError::Image(details) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "IMAGE_INVALID",
                "This picture cannot be used",
                details,
            ),
            ProfileError::Db(e) => ApiError::internal(e),
            ProfileError::Storage(e) => ApiError::internal(e),
            ProfileError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<crate::service::audit::AuditError> for ApiError {
    fn from(e: crate::service::audit::AuditError) -> Self {
        use crate::service::audit::AuditError;
        match e {
            AuditError::Invalid(details) => ApiError::validation(details),
            AuditError::NotFound(details) => ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                "Audit entry not found",
                details,
            ),
            AuditError::Db(e) => ApiError::internal(e),
        }
    }
}

impl From<ferrocast_db::DbError> for ApiError {
    fn from(e: ferrocast_db::DbError) -> Self {
        ApiError::internal(e)
    }
}

impl From<ferrocast_domain::account::FieldError> for ApiError {
    fn from(e: ferrocast_domain::account::FieldError) -> Self {
        ApiError::validation(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.challenge {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The machine-readable codes, shared by HTTP error bodies and Socket.IO acknowledgements.
pub mod codes {
    use crate::service::chat::PostError;
    use ferrocast_domain::chat::ChatRefusal;

    /// No valid credential.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The credential lacks a scope.
    pub const INSUFFICIENT_SCOPE: &str = "INSUFFICIENT_SCOPE";
    /// Not allowed for this caller.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// No such object.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// Invalid input.
    pub const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
    /// Too many requests; wait.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// A duplicate of something stored.
    pub const CONFLICT: &str = "CONFLICT";
    /// Our side failed.
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";

    /// The code of a refused chat message.
    pub fn of_post(e: &PostError) -> &'static str {
        match e {
            PostError::TooFast(_) | PostError::Refused(ChatRefusal::SlowMode(_)) => RATE_LIMITED,
            PostError::Refused(ChatRefusal::Banned(_)) => FORBIDDEN,
            PostError::Refused(_) => VALIDATION_ERROR,
            PostError::Duplicate => CONFLICT,
            PostError::Unavailable(_) | PostError::NotStored => INTERNAL_ERROR,
        }
    }
}

impl From<crate::service::follows::FollowError> for ApiError {
    fn from(e: crate::service::follows::FollowError) -> Self {
        use crate::service::follows::FollowError;
        match e {
            FollowError::NotFound => channel_not_found(),
            FollowError::OwnChannel => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "OWN_CHANNEL",
                "You cannot follow your own channel",
                "Following is for other people's channels: your own streams and videos are in your dashboard.",
            ),
            FollowError::Db(e) => ApiError::internal(e),
        }
    }
}

/// `404 CHANNEL_NOT_FOUND`: no (unsuspended) channel has the handle.
pub fn channel_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "CHANNEL_NOT_FOUND",
        "This channel does not exist",
        "No channel has this handle: check the spelling, or ask its creator for the link.",
    )
}

impl From<crate::service::safety::SafetyError> for ApiError {
    fn from(e: crate::service::safety::SafetyError) -> Self {
        use crate::service::safety::SafetyError;
        match e {
            SafetyError::Db(e) => ApiError::internal(e),
            SafetyError::Invalid(details) => ApiError::validation(details),
            SafetyError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                format!("This {what} does not exist"),
                format!("No {what} with that id exists, or you may not see it; check the link."),
            ),
            SafetyError::Forbidden(details) => ApiError::forbidden(details),
            SafetyError::Conflict(details) => {
                ApiError::conflict("ALREADY_DONE", "This was done already", details)
            }
            SafetyError::TooFast(details, secs) => {
                let mut e = ApiError::rate_limited(secs);
                e.body.details = details;
                e
            }
            SafetyError::Admin(e) => ApiError::from(e),
        }
    }
}
