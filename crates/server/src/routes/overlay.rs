//! The overlays' API, for the pages OBS's browser source shows (`/overlay/<token>/alerts`,
//! `/overlay/<token>/goal`): the creator and goals behind a token, and a Server-Sent Events
//! stream of tip alerts and goal progress as they happen on any node. The token in the path is
//! the credential; a rotated one answers 404, and streams open with it end.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::goals::{self, GoalView};
use crate::service::events::RealtimeEvent;
use crate::state::AppState;
use crate::tips::{self, TipAlert};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

/// What an overlay shows before anything happens.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverlayInfo {
    /// The creator's display name.
    pub display_name: String,
    /// The creator's handle.
    pub handle: String,
    /// Their open goals, newest first.
    pub goals: Vec<GoalView>,
}

fn overlay_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "OVERLAY_NOT_FOUND",
        "No overlay has this address",
        "The token was rotated or mistyped: copy the overlay's address again from your dashboard (Tips & goals).",
    )
}

async fn owner(state: &AppState, token: &str) -> ApiResult<ferrocast_db::accounts::UserRecord> {
    tips::overlay_owner(state, token)
        .await?
        .ok_or_else(overlay_not_found)
}

/// The creator and open goals behind an overlay token.
#[utoipa::path(get, path = "/api/overlay/{token}", tag = "tips",
    params(("token" = String, Path, description = "The overlay token from the creator's dashboard")),
    responses((status = 200, body = OverlayInfo), (status = 404, body = ErrorBody, description = "`OVERLAY_NOT_FOUND`")))]
pub async fn overlay_info(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<axum::Json<OverlayInfo>> {
    let user = owner(&state, &token).await?;
    Ok(axum::Json(OverlayInfo {
        display_name: user.display_name.clone(),
        handle: user.handle.clone(),
        goals: goals::open_goals(&state, user.id).await?,
    }))
}

/// Server-Sent Events of one overlay.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum OverlayEvent {
    /// The creator's open goals, first thing (and after each reconnect).
    Goals(Vec<GoalView>),
    /// A tip was paid (or a test alert sent). `id:` is the alert's id; a client that
    /// reconnects with `Last-Event-ID` is sent the tips paid since, from the last two minutes.
    Tip(TipAlert),
    /// A goal moved (or was created, changed or ended).
    Goal(GoalView),
    /// The token was rotated: the stream ends, and this address works no more.
    Revoked(String),
}

fn sse<T: Serialize>(name: &str, data: &T) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_default())
}

fn tip_event(alert: &TipAlert) -> Event {
    sse("tip", alert).id(alert.id.clone())
}

/// Tip alerts and goal progress for the overlay as `text/event-stream`: `goals` first, then
/// `tip` and `goal` events as they happen on any node, each with a JSON `data:` line; a
/// comment every 15 s keeps proxies from closing it. Ends with `revoked` when the token is
/// rotated.
#[utoipa::path(get, path = "/api/overlay/{token}/events", tag = "tips",
    params(("token" = String, Path, description = "The overlay token"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last tip alert seen (EventSource sends it when it reconnects)")),
    responses((status = 200, content_type = "text/event-stream", body = OverlayEvent), (status = 404, body = ErrorBody, description = "`OVERLAY_NOT_FOUND`")))]
pub async fn overlay_events(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let user = owner(&state, &token).await?;
    let creator = user.id;
    // Subscribed before the snapshot is read: nothing that happens in between is lost.
    let rx = state.fanout.subscribe();
    let mut first: VecDeque<Event> = VecDeque::new();
    first.push_back(sse("goals", &goals::open_goals(&state, creator).await?));
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64);
    if let Some(last) = last {
        let after = match state.db.purchase_summary(last).await? {
            Some(p) if p.creator_id == creator => p.id,
            // A test alert or an unknown id: from the start of the window.
            _ => 0,
        };
        let since = state.clock.now_ms() - tips::REPLAY_MS;
        for t in state.db.tips_since(creator, after, since, 20).await? {
            first.push_back(tip_event(&tips::alert_of(&t)));
        }
    }
    let stream = futures_util::stream::unfold(Some((rx, first)), move |open| async move {
        let (mut rx, mut pending) = open?;
        if let Some(e) = pending.pop_front() {
            return Some((Ok(e), Some((rx, pending))));
        }
        loop {
            match rx.recv().await {
                Ok(envelope) => {
                    let event = match envelope.event {
                        RealtimeEvent::TipAlert { creator_id, alert } if creator_id == creator => {
                            tip_event(&alert)
                        }
                        RealtimeEvent::GoalProgress { creator_id, goal }
                            if creator_id == creator =>
                        {
                            sse("goal", &goal)
                        }
                        RealtimeEvent::OverlayRotated { creator_id } if creator_id == creator => {
                            let end = sse("revoked", &"the overlay token was rotated");
                            return Some((Ok(end), None));
                        }
                        _ => continue,
                    };
                    return Some((Ok(event), Some((rx, pending))));
                }
                // Missed events are gone; carry on with the next ones.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
