//! The caller's live events as Server-Sent Events: stream status, stream ended (with the
//! reason), usage warnings and restream destination states — what the dashboard shows live.
//! (Socket.IO carries the same events to the owner's own sockets; this needs nothing but HTTP.)

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::service::events::Event;
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{KeepAlive, Sse};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often an open event stream checks that its session or API key still holds.
pub const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// Events for the caller, as `text/event-stream`: each has `event: <type>` and a JSON `data:`
/// line (the [`Event`] object). A comment is sent every 15 s to keep proxies from closing it.
/// The stream ends, after an `event: session_ended`, once its session ends or its API key is
/// revoked or expires (checked every few seconds).
#[utoipa::path(get, path = "/api/events", tag = "streams", security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", body = Event), (status = 401, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<axum::response::sse::Event, Infallible>>>>
{
    let user_id = auth.user.id;
    let rx = state.fanout.subscribe();
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recheck.reset();
    let stream = futures_util::stream::unfold(
        Some((rx, recheck, state, auth)),
        move |open| async move {
            let (mut rx, mut recheck, state, auth) = open?;
            loop {
                tokio::select! {
                    received = rx.recv() => match received {
                        Ok(envelope) => {
                            let Some((owner, event)) = envelope.event.owner_event() else {
                                continue;
                            };
                            if owner != user_id {
                                continue;
                            }
                            let name = match &event {
                                Event::StreamStatus { .. } => "stream_status",
                                Event::StreamEnded { .. } => "stream_ended",
                                Event::UsageWarning { .. } => "usage_warning",
                                Event::DestinationStatus { .. } => "destination_status",
                            };
                            let data = serde_json::to_string(&event).unwrap_or_default();
                            let sse = axum::response::sse::Event::default().event(name).data(data);
                            return Some((Ok(sse), Some((rx, recheck, state, auth))));
                        }
                        // Missed events are gone; carry on with the next ones.
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    },
                    _ = recheck.tick() => {
                        // A database hiccup keeps the stream; a revoked credential ends it.
                        if let Ok(false) = state.accounts.credential_valid(&auth).await {
                            let sse = axum::response::sse::Event::default()
                                .event("session_ended")
                                .data(r#"{"reason":"the session ended or the API key was revoked"}"#);
                            return Some((Ok(sse), None));
                        }
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
