//! Copyright notices (DMCA): the public notice form, the complainant's case view (with the
//! case token), the uploader's cases and counter-notice, and the operator's list, case page
//! (with the evidence and its hashes) and decisions. The rules are in
//! [`crate::service::dmca`].

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, ClientIp};
use crate::service::clock::rfc3339;
use crate::service::dmca::{Case, CounterForm, Decision, NoticeForm};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ferrocast_db::dmca::NoticeRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A notice of claimed infringement (17 U.S.C. §512(c)(3)).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeRequest {
    /// Full legal name of the copyright owner or of the person authorised to act for them
    /// (1 to 200 characters).
    pub name: String,
    /// Postal address (up to 500 characters).
    pub address: String,
    /// Telephone number.
    pub phone: String,
    /// Email address.
    pub email: String,
    /// The copyrighted work claimed to be infringed (up to 4000 characters).
    pub work: String,
    /// Addresses of the material on this site: one video's page (`…/v/<id>`); 1 to 10.
    pub urls: Vec<String>,
    /// "I have a good faith belief that use of the material in the manner complained of is not
    /// authorized by the copyright owner, its agent, or the law." Must be true.
    pub good_faith: bool,
    /// "The information in this notification is accurate." Must be true.
    pub accurate: bool,
    /// "Under penalty of perjury, I am the owner, or authorized to act on behalf of the owner,
    /// of an exclusive right that is allegedly infringed." Must be true.
    pub authorized: bool,
    /// Electronic signature: your full name as typed (1 to 200 characters).
    pub signature: String,
}

/// A filed notice.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeFiled {
    /// The case number.
    pub case_id: i64,
    /// The case token: the complainant's only way to follow the case (shown once, and mailed).
    pub token: String,
    /// Where the complainant follows the case (root-relative).
    pub case_url: String,
    /// The case as it stands (`content_disabled`).
    pub case: CaseView,
}

/// A counter-notification (17 U.S.C. §512(g)(3)).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterRequest {
    /// Full legal name (1 to 200 characters).
    pub name: String,
    /// Postal address (up to 500 characters).
    pub address: String,
    /// Telephone number.
    pub phone: String,
    /// Email address.
    pub email: String,
    /// The material that was removed and where it appeared (up to 4000 characters).
    pub material: String,
    /// "Under penalty of perjury, I have a good faith belief that the material was removed or
    /// disabled as a result of mistake or misidentification." Must be true.
    pub mistake: bool,
    /// "I consent to the jurisdiction of the Federal District Court for my address (or, outside
    /// the United States, any judicial district in which the service provider may be found),
    /// and I will accept service of process from the complainant." Must be true.
    pub consent: bool,
    /// Electronic signature: your full name as typed.
    pub signature: String,
}

/// The operator's decision on a case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `court_action` (the complainant filed an action: the video stays disabled and the
    /// uploader gets a strike), `withdraw` (the notice was withdrawn: the video comes back) or
    /// `restore` (restore now: a mistaken notice, or the court action ended).
    pub action: String,
    /// A note for the record (up to 2000 characters).
    pub note: Option<String>,
}

/// The complainant's side of a case.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplainantView {
    /// Name.
    pub name: String,
    /// Postal address (the complainant and the operator only).
    pub address: Option<String>,
    /// Telephone (the complainant and the operator only).
    pub phone: Option<String>,
    /// Email.
    pub email: String,
    /// Electronic signature.
    pub signature: String,
    /// The three statements were made (good faith, accuracy, authority under penalty of perjury).
    pub statements_made: bool,
}

/// A counter-notice as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct CounterView {
    /// Name.
    pub name: String,
    /// Postal address.
    pub address: String,
    /// Telephone.
    pub phone: String,
    /// Email.
    pub email: String,
    /// The material removed and where it appeared.
    pub material: String,
    /// The statement of mistake under penalty of perjury was made.
    pub mistake: bool,
    /// Consent to jurisdiction was given.
    pub consent: bool,
    /// Electronic signature.
    pub signature: String,
    /// RFC 3339.
    pub filed_at: String,
}

/// One piece of preserved evidence.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceView {
    /// `object` (a copy of one of the video's objects) or `metadata` (the JSON snapshot).
    pub kind: String,
    /// The video object it copies.
    pub source_key: Option<String>,
    /// Where it is held in storage (under `holds/`, which no deletion touches).
    pub hold_key: String,
    /// Bytes.
    pub size_bytes: i64,
    /// SHA-256 of the held bytes (hex).
    pub sha256: String,
    /// RFC 3339.
    pub preserved_at: String,
}

/// A copyright case.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    /// The case number.
    pub id: i64,
    /// `content_disabled`, `counter_noticed`, `restored`, `court_action` or `withdrawn`.
    pub status: String,
    /// The video's public id.
    pub video_id: String,
    /// The video's page (root-relative).
    pub video_url: String,
    /// The copyrighted work.
    pub work: String,
    /// Where the material is.
    pub infringing_urls: Vec<String>,
    /// Who sent the notice.
    pub complainant: ComplainantView,
    /// RFC 3339.
    pub received_at: String,
    /// When the video was disabled.
    pub disabled_at: Option<String>,
    /// When the counter-notice came.
    pub counter_noticed_at: Option<String>,
    /// When the video comes back unless court action is recorded.
    pub restore_after: Option<String>,
    /// When the case was restored, withdrawn or taken to court.
    pub resolved_at: Option<String>,
    /// The operator's note.
    pub resolution_note: Option<String>,
    /// The counter-notice (sent to the complainant as the law requires).
    pub counter: Option<CounterView>,
    /// The preserved evidence (the operator only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Vec<EvidenceView>>,
    /// The uploader's user id (the operator only; kept after the account is deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploader_id: Option<i64>,
    /// The strike the takedown gave (the operator and the uploader).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strike_id: Option<i64>,
    /// Whether the caller may file a counter-notice now (the uploader).
    pub can_counter: bool,
}

/// Who looks at a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    Complainant,
    Uploader,
    Operator,
}

fn case_view(c: &Case, who: Viewer) -> CaseView {
    let n = &c.notice;
    let full = who != Viewer::Uploader;
    CaseView {
        id: n.id,
        status: n.status.clone(),
        video_id: n.video_uuid.clone(),
        video_url: format!("/v/{}", n.video_uuid),
        work: n.work.clone(),
        infringing_urls: n.infringing_urls.clone(),
        complainant: ComplainantView {
            name: n.complainant_name.clone(),
            address: full.then(|| n.complainant_address.clone()),
            phone: full.then(|| n.complainant_phone.clone()),
            email: n.complainant_email.clone(),
            signature: n.signature.clone(),
            statements_made: n.good_faith && n.accurate && n.authorized,
        },
        received_at: rfc3339(n.created_at),
        disabled_at: n.disabled_at.map(rfc3339),
        counter_noticed_at: n.counter_noticed_at.map(rfc3339),
        restore_after: n.restore_after.map(rfc3339),
        resolved_at: n.resolved_at.map(rfc3339),
        resolution_note: n.resolution_note.clone(),
        counter: c.counter.as_ref().map(|k| CounterView {
            name: k.name.clone(),
            address: k.address.clone(),
            phone: k.phone.clone(),
            email: k.email.clone(),
            material: k.material.clone(),
            mistake: k.mistake,
            consent: k.consent,
            signature: k.signature.clone(),
            filed_at: rfc3339(k.created_at),
        }),
        evidence: (who == Viewer::Operator).then(|| {
            c.evidence
                .iter()
                .map(|e| EvidenceView {
                    kind: e.kind.clone(),
                    source_key: e.source_key.clone(),
                    hold_key: e.hold_key.clone(),
                    size_bytes: e.size_bytes,
                    sha256: e.sha256.clone(),
                    preserved_at: rfc3339(e.created_at),
                })
                .collect()
        }),
        uploader_id: if who == Viewer::Operator {
            n.uploader_id
        } else {
            None
        },
        strike_id: if who == Viewer::Complainant {
            None
        } else {
            n.strike_id
        },
        can_counter: who == Viewer::Uploader && n.status == "content_disabled",
    }
}

/// A case in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseBrief {
    /// The case number.
    pub id: i64,
    /// Its status.
    pub status: String,
    /// The video's public id.
    pub video_id: String,
    /// The copyrighted work (first 200 characters).
    pub work: String,
    /// Who sent the notice.
    pub complainant_name: String,
    /// RFC 3339.
    pub received_at: String,
    /// When the video comes back unless court action is recorded.
    pub restore_after: Option<String>,
}

fn brief(n: &NoticeRecord) -> CaseBrief {
    CaseBrief {
        id: n.id,
        status: n.status.clone(),
        video_id: n.video_uuid.clone(),
        work: n.work.chars().take(200).collect(),
        complainant_name: n.complainant_name.clone(),
        received_at: rfc3339(n.created_at),
        restore_after: n.restore_after.map(rfc3339),
    }
}

/// A list of cases.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    /// Newest first.
    pub cases: Vec<CaseBrief>,
    /// How many match.
    pub total: i64,
    /// Days between a counter-notice and the restore (`FERROCAST_DMCA_RESTORE_DAYS`).
    pub restore_days: i64,
}

/// The complainant's case token.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TokenQuery {
    /// The case token from the filing's answer or email.
    pub token: Option<String>,
}

/// A page of cases.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CaseQuery {
    /// Only this status.
    pub status: Option<String>,
    /// From 1; default 1.
    pub page: Option<i64>,
    /// 1 to 100; default 50.
    pub limit: Option<i64>,
}

/// File a copyright notice against a video on this site (no account needed). The video is
/// disabled at once (its media answer 451) and its evidence preserved; the answer carries the
/// case number and the token to follow it. Rate-limited per address.
#[utoipa::path(post, path = "/api/dmca/notices", tag = "dmca", request_body = NoticeRequest,
    responses((status = 201, body = NoticeFiled), (status = 422, body = ErrorBody, description = "A statutory element is missing or not acceptable (the details name the field)"),
              (status = 429, body = ErrorBody)))]
pub async fn file_notice(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<NoticeRequest>,
) -> ApiResult<(StatusCode, Json<NoticeFiled>)> {
    let form = NoticeForm {
        name: req.name,
        address: req.address,
        phone: req.phone,
        email: req.email,
        work: req.work,
        urls: req.urls,
        good_faith: req.good_faith,
        accurate: req.accurate,
        authorized: req.authorized,
        signature: req.signature,
    };
    let filed = state
        .dmca
        .file_notice(&form, &crate::ratelimit::client_key(ip))
        .await?;
    let case = state.dmca.case(filed.notice.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(NoticeFiled {
            case_id: filed.notice.id,
            case_url: format!("/dmca/case/{}?token={}", filed.notice.id, filed.token),
            token: filed.token,
            case: case_view(&case, Viewer::Complainant),
        }),
    ))
}

/// A case as its complainant sees it, with the case token (the counter-notice included, as
/// the law requires it be sent to them).
#[utoipa::path(get, path = "/api/dmca/notices/{id}", tag = "dmca",
    params(("id" = i64, Path, description = "The case number"), TokenQuery),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody, description = "No such case, or the token is wrong")))]
pub async fn complainant_case(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<TokenQuery>,
) -> ApiResult<Json<CaseView>> {
    let case = state
        .dmca
        .case_for_complainant(id, q.token.as_deref().unwrap_or(""))
        .await?;
    Ok(Json(case_view(&case, Viewer::Complainant)))
}

/// The copyright cases against the caller's videos, newest first.
#[utoipa::path(get, path = "/api/dmca/mine", tag = "dmca", security(("bearer" = [])),
    responses((status = 200, body = CaseList), (status = 401, body = ErrorBody)))]
pub async fn my_cases(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<CaseList>> {
    let rows = state.dmca.cases_of_uploader(auth.user.id).await?;
    Ok(Json(CaseList {
        total: rows.len() as i64,
        cases: rows.iter().map(brief).collect(),
        restore_days: state.dmca.restore_days(),
    }))
}

/// A case against one of the caller's videos.
#[utoipa::path(get, path = "/api/dmca/cases/{id}", tag = "dmca", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The case number")),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody)))]
pub async fn uploader_case(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<CaseView>> {
    let case = state.dmca.case_for_uploader(id, auth.user.id).await?;
    Ok(Json(case_view(&case, Viewer::Uploader)))
}

/// File a counter-notice against a case about the caller's video: a copy goes to the
/// complainant, and the video comes back after `FERROCAST_DMCA_RESTORE_DAYS` days unless the
/// operator records court action.
#[utoipa::path(post, path = "/api/dmca/cases/{id}/counter", tag = "dmca", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The case number")), request_body = CounterRequest,
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`CASE_STATE`: countered already, or no longer disabled"),
              (status = 422, body = ErrorBody)))]
pub async fn counter_notice(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<CounterRequest>,
) -> ApiResult<Json<CaseView>> {
    let form = CounterForm {
        name: req.name,
        address: req.address,
        phone: req.phone,
        email: req.email,
        material: req.material,
        mistake: req.mistake,
        consent: req.consent,
        signature: req.signature,
    };
    let case = state.dmca.counter_notice(id, auth.user.id, &form).await?;
    Ok(Json(case_view(&case, Viewer::Uploader)))
}

/// Every copyright case, newest first (administrators).
#[utoipa::path(get, path = "/api/admin/dmca", tag = "dmca", security(("bearer" = [])), params(CaseQuery),
    responses((status = 200, body = CaseList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn admin_cases(
    State(state): State<AppState>,
    Query(q): Query<CaseQuery>,
) -> ApiResult<Json<CaseList>> {
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let (rows, total) = state
        .dmca
        .list(status, q.page.unwrap_or(1), q.limit.unwrap_or(50))
        .await?;
    Ok(Json(CaseList {
        cases: rows.iter().map(brief).collect(),
        total,
        restore_days: state.dmca.restore_days(),
    }))
}

/// A case with its evidence and their SHA-256 hashes (administrators).
#[utoipa::path(get, path = "/api/admin/dmca/{id}", tag = "dmca", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The case number")),
    responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn admin_case(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Json<CaseView>> {
    let case = state.dmca.case(id).await?;
    Ok(Json(case_view(&case, Viewer::Operator)))
}

/// Decide a case (administrators): record court action, record the notice's withdrawal, or
/// restore the video now.
#[utoipa::path(post, path = "/api/admin/dmca/{id}/decision", tag = "dmca", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The case number")), request_body = DecisionRequest,
    responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`CASE_STATE`: the case's status does not lead there"),
              (status = 422, body = ErrorBody)))]
pub async fn admin_decide(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<DecisionRequest>,
) -> ApiResult<Json<CaseView>> {
    let decision = match req.action.as_str() {
        "court_action" => Decision::CourtAction,
        "withdraw" => Decision::Withdraw,
        "restore" => Decision::Restore,
        _ => {
            return Err(crate::error::ApiError::validation(
                "action: one of court_action, withdraw, restore",
            ))
        }
    };
    let case = state
        .dmca
        .decide(id, decision, req.note.as_deref(), auth.user.id)
        .await?;
    Ok(Json(case_view(&case, Viewer::Operator)))
}
