//! The audit log for administrators: entries (filtered, paged), signed checkpoints (listed,
//! written on demand), inclusion and consistency proofs; and the log's public key for anyone
//! who verifies a checkpoint or an exported bundle.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::service::audit::{
    Actor, AuditEntry, AuditEvent, CheckpointView, ConsistencyProof, InclusionProof,
};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use ferrocast_db::audit::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which entries.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EntriesQuery {
    /// An action (`auth.login`) or its prefix (`auth`).
    pub action: Option<String>,
    /// The acting user's internal id.
    pub actor: Option<i64>,
    /// Subject kind (`user`, `video`, `payout` …).
    pub subject_kind: Option<String>,
    /// Subject id.
    pub subject_id: Option<String>,
    /// From this time (Unix ms, inclusive).
    pub from: Option<i64>,
    /// Before this time (Unix ms).
    pub to: Option<i64>,
    /// Entries with a smaller index (the previous page's `next_before`).
    pub before: Option<i64>,
    /// 1 to 200; default 50.
    pub limit: Option<i64>,
}

/// A page of entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// `before` for the next (older) page; `null` at the end.
    pub next_before: Option<i64>,
    /// Entries in the log.
    pub size: i64,
}

fn bounded(name: &str, v: &Option<String>, max: usize) -> ApiResult<()> {
    match v {
        Some(s) if s.is_empty() || s.len() > max => Err(ApiError::validation(format!(
            "{name}: 1 to {max} characters"
        ))),
        _ => Ok(()),
    }
}

/// Audit entries, newest first, filtered (administrators).
#[utoipa::path(get, path = "/api/admin/audit/entries", tag = "audit", security(("bearer" = [])), params(EntriesQuery),
    responses((status = 200, body = EntryPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn entries(
    State(state): State<AppState>,
    Query(q): Query<EntriesQuery>,
) -> ApiResult<Json<EntryPage>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit: 1 to 200"));
    }
    bounded("action", &q.action, 64)?;
    bounded("subject_kind", &q.subject_kind, 32)?;
    bounded("subject_id", &q.subject_id, 200)?;
    let filter = AuditFilter {
        action: q.action,
        actor_user_id: q.actor,
        subject_kind: q.subject_kind,
        subject_id: q.subject_id,
        from_ms: q.from,
        to_ms: q.to,
        before_idx: q.before,
    };
    let entries = state.audit.list(&filter, limit).await?;
    let next_before = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.index))
        .flatten()
        .filter(|&i| i > 0);
    Ok(Json(EntryPage {
        entries,
        next_before,
        size: state.audit.size().await?,
    }))
}

/// One audit entry, with the exact leaf its hash covers (administrators).
#[utoipa::path(get, path = "/api/admin/audit/entries/{index}", tag = "audit", security(("bearer" = [])),
    params(("index" = i64, Path, description = "The leaf index, from 0")),
    responses((status = 200, body = AuditEntry), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn entry(
    State(state): State<AppState>,
    Path(index): Path<i64>,
) -> ApiResult<Json<AuditEntry>> {
    Ok(Json(state.audit.entry(index).await?))
}

/// Which checkpoints.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CheckpointsQuery {
    /// Checkpoints of fewer entries (paging).
    pub before: Option<i64>,
    /// 1 to 100; default 20.
    pub limit: Option<i64>,
}

/// The log's state: its size, its latest checkpoint, its key.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditStatus {
    /// Entries in the log.
    pub size: i64,
    /// The checkpoints' origin line.
    pub origin: String,
    /// The signing key (hex).
    pub public_key: String,
    /// The same, PEM (for `openssl pkeyutl -verify`).
    pub public_key_pem: String,
    /// The latest checkpoint.
    pub latest: Option<CheckpointView>,
    /// Minutes between periodic checkpoints.
    pub checkpoint_minutes: u64,
}

/// Signed checkpoints, largest first (administrators).
#[utoipa::path(get, path = "/api/admin/audit/checkpoints", tag = "audit", security(("bearer" = [])), params(CheckpointsQuery),
    responses((status = 200, body = Vec<CheckpointView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn checkpoints(
    State(state): State<AppState>,
    Query(q): Query<CheckpointsQuery>,
) -> ApiResult<Json<Vec<CheckpointView>>> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit: 1 to 100"));
    }
    Ok(Json(state.audit.checkpoints(q.before, limit).await?))
}

/// Writes a signed checkpoint now (administrators). The request is itself recorded first, so
/// the checkpoint covers it.
#[utoipa::path(post, path = "/api/admin/audit/checkpoints", tag = "audit", security(("bearer" = [])),
    responses((status = 201, body = CheckpointView), (status = 403, body = ErrorBody)))]
pub async fn create_checkpoint(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<(axum::http::StatusCode, Json<CheckpointView>)> {
    state
        .audit
        .record(AuditEvent {
            action: "audit.checkpoint_requested",
            actor: Actor::User(auth.user.id),
            subject: None,
            details: serde_json::json!({}),
            personal: serde_json::Value::Null,
            personal_of: None,
        })
        .await?;
    let c = state.audit.checkpoint().await?;
    Ok((axum::http::StatusCode::CREATED, Json(c)))
}

/// The log's size, latest checkpoint and key (administrators).
#[utoipa::path(get, path = "/api/admin/audit/status", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = AuditStatus), (status = 403, body = ErrorBody)))]
pub async fn status(State(state): State<AppState>) -> ApiResult<Json<AuditStatus>> {
    Ok(Json(AuditStatus {
        size: state.audit.size().await?,
        origin: state.audit.origin().to_string(),
        public_key: ferrocast_domain::audit::hex(&state.audit.public_key()),
        public_key_pem: state.audit.public_key_pem(),
        latest: state.audit.latest_checkpoint().await?,
        checkpoint_minutes: state.config.audit_checkpoint_minutes,
    }))
}

/// An inclusion proof's question.
#[derive(Debug, Deserialize, IntoParams)]
pub struct InclusionQuery {
    /// The leaf index.
    pub index: i64,
    /// The tree's size; default: the whole log now.
    pub tree_size: Option<i64>,
}

/// The inclusion proof (RFC 9162 §2.1.3) of an entry in a tree (administrators).
#[utoipa::path(get, path = "/api/admin/audit/proof/inclusion", tag = "audit", security(("bearer" = [])), params(InclusionQuery),
    responses((status = 200, body = InclusionProof), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn inclusion(
    State(state): State<AppState>,
    Query(q): Query<InclusionQuery>,
) -> ApiResult<Json<InclusionProof>> {
    Ok(Json(
        state.audit.inclusion_proof(q.index, q.tree_size).await?,
    ))
}

/// A consistency proof's question.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ConsistencyQuery {
    /// The older tree's size (at least 1).
    pub from: i64,
    /// The newer tree's size; default: the whole log now.
    pub to: Option<i64>,
}

/// The consistency proof (RFC 9162 §2.1.4) between two sizes of the log (administrators).
#[utoipa::path(get, path = "/api/admin/audit/proof/consistency", tag = "audit", security(("bearer" = [])), params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn consistency(
    State(state): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> ApiResult<Json<ConsistencyProof>> {
    Ok(Json(state.audit.consistency_proof(q.from, q.to).await?))
}

/// The log's public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKey {
    /// The checkpoints' origin line (the signed note's key name).
    pub origin: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// The same as PEM (SubjectPublicKeyInfo).
    pub pem: String,
}

/// The key that signs the audit log's checkpoints (anyone: verifiers need it).
#[utoipa::path(get, path = "/api/audit/public-key", tag = "audit",
    responses((status = 200, body = PublicKey)))]
pub async fn public_key(State(state): State<AppState>) -> Json<PublicKey> {
    Json(PublicKey {
        origin: state.audit.origin().to_string(),
        public_key: ferrocast_domain::audit::hex(&state.audit.public_key()),
        pem: state.audit.public_key_pem(),
    })
}
