//! Notifications: the caller's list and read state (`/api/notifications`), their preferences
//! (`/api/me/notification-preferences`), one-click unsubscribe from email (RFC 8058), and Web
//! Push subscriptions (`/api/push/...`). Live updates arrive as the Socket.IO `notification`
//! event in the user's room.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::service::notify::{EmailMode, Kind, NotificationView, NotifyError, Preference};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_db::notifications::PreferenceRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Notices per page by default, and at most.
pub const PAGE_LIMIT: i64 = 20;
/// The most notices a page may ask for.
pub const MAX_PAGE_LIMIT: i64 = 100;
/// Ids one read request may name.
pub const MAX_READ_IDS: usize = 500;
/// Per-channel preference rows a user may keep.
pub const MAX_CHANNEL_PREFERENCES: usize = 500;

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::Invalid(details) => ApiError::validation(details),
            NotifyError::BadToken => ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_TOKEN",
                "This unsubscribe link is not valid",
                "It may have been cut short or changed. Open the link from the email again, or choose what you receive under Settings → Notifications.",
            ),
            NotifyError::Db(e) => ApiError::internal(e),
            NotifyError::Vapid(e) => ApiError::internal(e),
        }
    }
}

/// Which page of notices.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// The `next_cursor` of the previous page; absent: the newest.
    pub cursor: Option<String>,
    /// Notices per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
}

/// A page of the caller's notices.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    /// Newest first.
    pub notifications: Vec<NotificationView>,
    /// Unread notices in all.
    pub unread: i64,
    /// Pass as `cursor` for the next (older) page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// The caller's notices, newest first, with how many are unread.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = NotificationList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_notifications(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<NotificationList>> {
    let limit = q.limit.unwrap_or(PAGE_LIMIT);
    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(ApiError::validation(format!(
            "limit: from 1 to {MAX_PAGE_LIMIT}"
        )));
    }
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::validation("cursor: pass the next_cursor of the previous page as it is")
        })?),
    };
    let page = state
        .db
        .notifications_page(auth.user.id, before, limit + 1)
        .await?;
    let more = page.len() as i64 > limit;
    let notifications: Vec<NotificationView> = page
        .iter()
        .take(limit as usize)
        .map(NotificationView::from)
        .collect();
    let next_cursor = more
        .then(|| notifications.last().map(|n| n.id.to_string()))
        .flatten();
    Ok(Json(NotificationList {
        unread: state.db.unread_notifications(auth.user.id).await?,
        notifications,
        next_cursor,
    }))
}

/// Which notices to mark read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// These (the caller's; others are ignored), at most 500.
    #[serde(default)]
    pub ids: Vec<i64>,
    /// Every notice.
    #[serde(default)]
    pub all: bool,
}

/// How many are unread now.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    /// Unread notices.
    pub unread: i64,
}

/// Marks notices read: some by id, or all.
#[utoipa::path(post, path = "/api/notifications/read", tag = "notifications", security(("bearer" = [])), request_body = ReadRequest,
    responses((status = 200, body = UnreadCount), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn mark_notifications_read(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<ReadRequest>,
) -> ApiResult<Json<UnreadCount>> {
    let now = state.clock.now_ms();
    if req.all {
        state
            .db
            .mark_all_notifications_read(auth.user.id, now)
            .await?;
    } else if req.ids.is_empty() {
        return Err(ApiError::validation(
            "send `ids` (the notices to mark read) or `\"all\": true`",
        ));
    } else if req.ids.len() > MAX_READ_IDS {
        return Err(ApiError::validation(format!(
            "ids: at most {MAX_READ_IDS} at once; send `\"all\": true` to mark everything read"
        )));
    } else {
        state
            .db
            .mark_notifications_read(auth.user.id, &req.ids, now)
            .await?;
    }
    Ok(Json(UnreadCount {
        unread: state.db.unread_notifications(auth.user.id).await?,
    }))
}

/// How notices of one kind reach the caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KindPreference {
    /// `live`, `video`, `follower` or `reply`.
    pub kind: Kind,
    /// What it is, in words (ignored when sent).
    #[serde(default)]
    pub label: String,
    /// Shown in the app.
    pub in_app: bool,
    /// `off`, `instant` or `daily`.
    pub email: EmailMode,
    /// By Web Push.
    pub push: bool,
}

/// How notices about one channel reach the caller, overriding their kind's choice.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPreference {
    /// The channel's handle.
    pub handle: String,
    /// Its name (ignored when sent).
    #[serde(default)]
    pub display_name: String,
    /// `live` or `video`.
    pub kind: Kind,
    /// Shown in the app.
    pub in_app: bool,
    /// `off`, `instant` or `daily`.
    pub email: EmailMode,
    /// By Web Push.
    pub push: bool,
}

/// Every notification preference of the caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// One per kind (all four when read; kinds left out are reset to the defaults when sent).
    pub kinds: Vec<KindPreference>,
    /// Per-channel choices (they replace the stored ones when sent).
    #[serde(default)]
    pub channels: Vec<ChannelPreference>,
    /// Browsers that receive push notices.
    #[serde(default)]
    pub push_subscriptions: i64,
}

async fn preferences_of(state: &AppState, user_id: i64) -> ApiResult<Preferences> {
    let rows = state.db.notification_preferences(user_id).await?;
    let kinds = Kind::ALL
        .into_iter()
        .map(|k| {
            let p = crate::service::notify::resolve(&rows, k, None);
            KindPreference {
                kind: k,
                label: k.label().to_string(),
                in_app: p.in_app,
                email: p.email,
                push: p.push,
            }
        })
        .collect();
    let mut channels = Vec::new();
    for r in rows.iter().filter(|r| r.channel_id != 0) {
        let (Some(kind), Some(user)) = (
            Kind::parse(&r.kind),
            state.db.user_by_id(r.channel_id).await?,
        ) else {
            continue;
        };
        let p = crate::service::notify::resolve(&rows, kind, Some(r.channel_id));
        channels.push(ChannelPreference {
            handle: user.handle,
            display_name: user.display_name,
            kind,
            in_app: p.in_app,
            email: p.email,
            push: p.push,
        });
    }
    Ok(Preferences {
        kinds,
        channels,
        push_subscriptions: state.db.push_subscription_count(user_id).await?,
    })
}

/// The caller's notification preferences: per kind, and per channel where set.
#[utoipa::path(get, path = "/api/me/notification-preferences", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody)))]
pub async fn get_notification_preferences(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<Preferences>> {
    Ok(Json(preferences_of(&state, auth.user.id).await?))
}

/// Replaces the caller's notification preferences.
#[utoipa::path(put, path = "/api/me/notification-preferences", tag = "notifications", security(("bearer" = [])), request_body = Preferences,
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "`VALIDATION_ERROR`: a kind twice, an unknown channel, too many rows")))]
pub async fn put_notification_preferences(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<Preferences>,
) -> ApiResult<Json<Preferences>> {
    if req.channels.len() > MAX_CHANNEL_PREFERENCES {
        return Err(ApiError::validation(format!(
            "channels: at most {MAX_CHANNEL_PREFERENCES}"
        )));
    }
    let mut rows: Vec<PreferenceRecord> = Vec::new();
    let row = |kind: Kind, channel_id: i64, p: Preference| PreferenceRecord {
        kind: kind.as_str().to_string(),
        channel_id,
        in_app: p.in_app,
        email: p.email.as_str().to_string(),
        push: p.push,
    };
    for k in &req.kinds {
        if rows.iter().any(|r| r.kind == k.kind.as_str()) {
            return Err(ApiError::validation(format!(
                "kinds: {} is given twice",
                k.kind.as_str()
            )));
        }
        rows.push(row(
            k.kind,
            0,
            Preference {
                in_app: k.in_app,
                email: k.email,
                push: k.push,
            },
        ));
    }
    for c in &req.channels {
        if !matches!(c.kind, Kind::Live | Kind::Video) {
            return Err(ApiError::validation(
                "channels: only `live` and `video` notices are about a channel",
            ));
        }
        let handle = c.handle.strip_prefix('@').unwrap_or(&c.handle);
        let user = if ferrocast_domain::profile::is_handle_shaped(handle) {
            state.db.user_by_handle(handle).await?
        } else {
            None
        };
        let Some(user) = user else {
            return Err(ApiError::validation(format!(
                "channels: no channel has the handle {:?}",
                c.handle
            )));
        };
        if rows
            .iter()
            .any(|r| r.kind == c.kind.as_str() && r.channel_id == user.id)
        {
            return Err(ApiError::validation(format!(
                "channels: @{} {} is given twice",
                user.handle,
                c.kind.as_str()
            )));
        }
        rows.push(row(
            c.kind,
            user.id,
            Preference {
                in_app: c.in_app,
                email: c.email,
                push: c.push,
            },
        ));
    }
    state
        .db
        .replace_notification_preferences(auth.user.id, &rows, state.clock.now_ms())
        .await?;
    Ok(Json(preferences_of(&state, auth.user.id).await?))
}

/// An unsubscribe link's token.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TokenQuery {
    /// From the email's link.
    pub token: String,
}

/// What was turned off.
#[derive(Debug, Serialize, ToSchema)]
pub struct Unsubscribed {
    /// The kind whose email is off now.
    pub kind: Kind,
    /// What it was, in words.
    pub label: String,
}

/// One-click unsubscribe (RFC 8058): turns off email of the link's kind. Mail clients POST
/// `List-Unsubscribe=One-Click` here; the web page's button posts too.
#[utoipa::path(post, path = "/api/notifications/unsubscribe", tag = "notifications", params(TokenQuery),
    responses((status = 200, body = Unsubscribed), (status = 400, body = ErrorBody, description = "`INVALID_TOKEN`: the link was altered")))]
pub async fn unsubscribe_email(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> ApiResult<Json<Unsubscribed>> {
    let kind = state.notify.unsubscribe(&q.token).await?;
    Ok(Json(Unsubscribed {
        kind,
        label: kind.label().to_string(),
    }))
}

/// The link opened in a browser: sends it to the confirmation page (a GET changes nothing, so
/// link scanners cannot unsubscribe anyone).
#[utoipa::path(get, path = "/api/notifications/unsubscribe", tag = "notifications", params(TokenQuery),
    responses((status = 303, description = "To `/unsubscribe?token=…`, which asks before turning email off")))]
pub async fn unsubscribe_email_page(Query(q): Query<TokenQuery>) -> Response {
    let query = serde_urlencoded::to_string([("token", q.token.as_str())]).unwrap_or_default();
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/unsubscribe?{query}"))],
    )
        .into_response()
}

/// The deployment's VAPID public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct VapidPublicKey {
    /// The uncompressed P-256 point, base64url: the `applicationServerKey` of
    /// `pushManager.subscribe`.
    pub public_key: String,
}

/// The key browsers subscribe to push with.
#[utoipa::path(get, path = "/api/push/vapid-public-key", tag = "notifications",
    responses((status = 200, body = VapidPublicKey)))]
pub async fn vapid_public_key(State(state): State<AppState>) -> ApiResult<Json<VapidPublicKey>> {
    let key = state.notify.vapid().await?;
    Ok(Json(VapidPublicKey {
        public_key: key.public_key().to_string(),
    }))
}

/// A browser's push keys (`PushSubscription.toJSON().keys`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushKeys {
    /// P-256 public key, base64url.
    pub p256dh: String,
    /// 16-byte authentication secret, base64url.
    pub auth: String,
}

/// A browser's push subscription (`PushSubscription.toJSON()`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushSubscriptionRequest {
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// Its keys.
    pub keys: PushKeys,
}

/// A stored subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushSubscriptionView {
    /// Its id.
    pub id: i64,
}

/// Stores this browser's push subscription for the caller.
#[utoipa::path(post, path = "/api/push/subscriptions", tag = "notifications", security(("bearer" = [])), request_body = PushSubscriptionRequest,
    responses((status = 201, body = PushSubscriptionView), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "`VALIDATION_ERROR`: the endpoint or keys are not acceptable")))]
pub async fn subscribe_push(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<PushSubscriptionRequest>,
) -> ApiResult<(StatusCode, Json<PushSubscriptionView>)> {
    let id = state
        .notify
        .subscribe(
            auth.user.id,
            &req.endpoint,
            &req.keys.p256dh,
            &req.keys.auth,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(PushSubscriptionView { id })))
}

/// Which subscription to remove.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushUnsubscribeRequest {
    /// Its endpoint.
    pub endpoint: String,
}

/// Removes one of the caller's push subscriptions (this browser stops receiving push).
#[utoipa::path(delete, path = "/api/push/subscriptions", tag = "notifications", security(("bearer" = [])), request_body = PushUnsubscribeRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unsubscribe_push(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<PushUnsubscribeRequest>,
) -> ApiResult<StatusCode> {
    if state
        .db
        .delete_push_subscription(auth.user.id, &req.endpoint)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("push subscription"))
    }
}
