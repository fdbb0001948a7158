//! Your data: the export of everything stored about you, and deleting your account.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, ClientIp};
use crate::service::clock::rfc3339;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use ferrocast_db::privacy::DataExportRecord;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An export of your data.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataExportView {
    /// Its id.
    pub id: String,
    /// `queued`, `running`, `ready`, `failed` or `expired`.
    pub state: String,
    /// Per cent done (0 to 100).
    pub progress: f64,
    /// What it is doing now (`tables`, `media`, `storing`).
    pub stage: Option<String>,
    /// The ZIP's size in bytes, once ready.
    pub size_bytes: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was requested (RFC 3339).
    pub created_at: String,
    /// When it was ready or failed.
    pub finished_at: Option<String>,
    /// When the ZIP is deleted.
    pub expires_at: Option<String>,
    /// A link that downloads the ZIP without a bearer header, valid for 15 minutes (ask again
    /// for a fresh one); only while ready.
    pub download_url: Option<String>,
}

/// Your newest export, if any.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataExportStatus {
    /// `null` when you never asked for one.
    pub export: Option<DataExportView>,
}

fn view(state: &AppState, e: DataExportRecord) -> DataExportView {
    let now = state.clock.now_ms();
    let ready = e.state == "ready" && e.expires_at.is_some_and(|x| x > now);
    DataExportView {
        download_url: ready.then(|| {
            format!(
                "/api/exports/{}/download?{}",
                e.uuid,
                state.privacy.download_query(&e.uuid)
            )
        }),
        state: if e.state == "ready" && !ready {
            "expired".into()
        } else {
            e.state
        },
        id: e.uuid,
        progress: (e.progress as f64 / 10.0).clamp(0.0, 100.0),
        stage: e.stage,
        size_bytes: e.size_bytes,
        error: e.error,
        created_at: rfc3339(e.created_at),
        finished_at: e.finished_at.map(rfc3339),
        expires_at: e.expires_at.map(rfc3339),
    }
}

/// Ask for an export of all your data: a ZIP with a JSON file per table (every row that refers
/// to you) and your media, built in the background; you are emailed when it is ready. While
/// one is being built, that one is answered.
#[utoipa::path(post, path = "/api/me/export", tag = "privacy", security(("bearer" = [])),
    responses((status = 202, body = DataExportStatus), (status = 401, body = ErrorBody)))]
pub async fn request_export(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<(StatusCode, Json<DataExportStatus>)> {
    let e = state.privacy.request_export(auth.user.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DataExportStatus {
            export: Some(view(&state, e)),
        }),
    ))
}

/// Your newest export: its state, progress and, once ready, a download link.
#[utoipa::path(get, path = "/api/me/export", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = DataExportStatus), (status = 401, body = ErrorBody)))]
pub async fn export_status(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<DataExportStatus>> {
    let e = state.privacy.export_status(auth.user.id).await?;
    Ok(Json(DataExportStatus {
        export: e.map(|e| view(&state, e)),
    }))
}

fn zip_response(e: &DataExportRecord, reader: ferrocast_storage::ObjectReader) -> Response {
    let len = reader.meta.size;
    let body = Body::from_stream(reader.body.map(|r| r.map_err(std::io::Error::other)));
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    let day = rfc3339(e.created_at);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"ferrocast-data-{}.zip\"",
        &day[..10.min(day.len())]
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// Download your ready export (the ZIP).
#[utoipa::path(get, path = "/api/me/export/download", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, content_type = "application/zip", description = "The ZIP"), (status = 404, body = ErrorBody)))]
pub async fn download_export(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    let (e, reader) = state.privacy.download_own(auth.user.id).await?;
    Ok(zip_response(&e, reader))
}

/// A signed download link's parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// When the link expires (Unix seconds).
    pub exp: i64,
    /// Its signature.
    pub sig: String,
}

/// Download an export through the signed link from `GET /api/me/export` (no bearer header:
/// for a browser's download).
#[utoipa::path(get, path = "/api/exports/{id}/download", tag = "privacy",
    params(("id" = String, Path, description = "The export's id"), LinkQuery),
    responses((status = 200, content_type = "application/zip", description = "The ZIP"), (status = 404, body = ErrorBody)))]
pub async fn download_signed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LinkQuery>,
) -> ApiResult<Response> {
    if q.sig.len() > 128 {
        return Err(ApiError::validation("`sig` is at most 128 characters"));
    }
    let (e, reader) = state.privacy.download_signed(&id, q.exp, &q.sig).await?;
    Ok(zip_response(&e, reader))
}

/// What confirms deleting your account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    /// Your password (required when the account has one).
    #[serde(default)]
    pub password: Option<String>,
    /// A code from your authenticator app or a recovery code (required when two-factor login
    /// is on).
    #[serde(default)]
    pub code: Option<String>,
}

/// What deleting the account did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDeleted {
    /// What happened, in a sentence.
    pub message: String,
    /// Videos deleted with their files.
    pub videos_deleted: u64,
    /// Rows deleted.
    pub rows_deleted: u64,
    /// Rows kept (payments, purchases, payouts, the ledger) with personal fields erased.
    pub rows_scrubbed: u64,
}

/// Delete your account: your password (and a current two-factor code when it is on) confirms
/// it. Your content, sessions and keys are deleted; payments, purchases, payouts and the ledger
/// are kept as the law requires, without your personal details; the account is anonymised.
/// This cannot be undone.
#[utoipa::path(delete, path = "/api/me", tag = "privacy", security(("bearer" = [])), request_body = DeleteAccount,
    responses((status = 200, body = AccountDeleted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete_account(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ApiJson(req): ApiJson<DeleteAccount>,
) -> ApiResult<Json<AccountDeleted>> {
    crate::extract::limit_auth(&state, ip).await?;
    state
        .privacy
        .confirm(&state.accounts, &auth, req.password, req.code)
        .await?;
    let erased = state.privacy.erase(&auth).await?;
    Ok(Json(AccountDeleted {
        message: "Your account was deleted.".into(),
        videos_deleted: erased.videos,
        rows_deleted: erased.rows.deleted,
        rows_scrubbed: erased.rows.scrubbed,
    }))
}
