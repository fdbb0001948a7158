//! YouTube chat: the Live Chat API.
//!
//! Incoming: `liveChatMessages.streamList` (`GET …/liveChat/messages/stream`), one long HTTP
//! response carrying list responses as messages arrive (a streamed JSON array), resumed from
//! the last `nextPageToken` after a drop. Where the stream endpoint is not offered (404, 405 or
//! 501 without a YouTube error reason), `liveChatMessages.list` is polled instead, waiting the
//! `pollingIntervalMillis` each page asks for. Outgoing: `liveChatMessages.insert`.
//!
//! The chat is the account's active broadcast's (`liveBroadcasts.list?broadcastStatus=active`)
//! unless the creator named one; with no live broadcast the connector waits and looks again.
//! A refused access token is renewed with the refresh token when the node has a Google OAuth
//! client (`FERROCAST_YOUTUBE_CLIENT_ID`/`_SECRET`); quota exhaustion waits an hour at a time.

use super::link::{after, halted, Backoff, Ended, Link, Secrets, CALL_TIMEOUT};
use crate::service::vault::Sealed;
use ferrocast_chat::stream::ArrayStream;
use ferrocast_chat::youtube::{self as proto, ApiError, Page};
use std::time::Duration;

/// How often to look for a live broadcast when there is none.
const BROADCAST_RECHECK: Duration = Duration::from_secs(30);
/// How long to wait after the daily quota ran out before trying again.
const QUOTA_RECHECK: Duration = Duration::from_secs(3600);
/// A streamed response silent this long is dropped and resumed.
const STREAM_IDLE: Duration = Duration::from_secs(300);
/// YouTube allows 200 characters per chat message.
const MAX_SEND_CHARS: usize = 200;
const PARTS: &str = "id,snippet,authorDetails";

/// What an attempt carries over to the next.
struct Session {
    secrets: Secrets,
    /// The chat named at connect time, if any.
    fixed_chat_id: Option<String>,
    live_chat_id: Option<String>,
    page_token: Option<String>,
    /// Whether the stream endpoint is unavailable and `list` is polled.
    polling: bool,
}

pub(crate) async fn run(link: &mut Link, secrets: &Secrets, config: &serde_json::Value) {
    let fixed_chat_id = config["live_chat_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let mut s = Session {
        secrets: secrets.clone(),
        live_chat_id: fixed_chat_id.clone(),
        fixed_chat_id,
        page_token: None,
        polling: false,
    };
    let mut backoff = Backoff::new();
    loop {
        if link.stopped() {
            return;
        }
        link.report("connecting", None).await;
        let ended = attempt(link, &mut s, &mut backoff).await;
        if !after(link, ended, &mut backoff).await {
            return;
        }
    }
}

async fn attempt(link: &mut Link, s: &mut Session, backoff: &mut Backoff) -> Ended {
    let chat_id = match &s.live_chat_id {
        Some(id) => id.clone(),
        None => match active_chat(link, s).await {
            Ok(Some(id)) => {
                s.live_chat_id = Some(id.clone());
                s.page_token = None;
                id
            }
            Ok(None) => {
                return Ended::RetryAfter(
                    "waiting",
                    "no live broadcast on the YouTube channel yet; looking again every 30 s".into(),
                    BROADCAST_RECHECK,
                )
            }
            Err(e) => return e,
        },
    };
    if s.polling {
        poll(link, s, &chat_id, backoff).await
    } else {
        stream(link, s, &chat_id, backoff).await
    }
}

/// Reads the streamed chat until it ends, fails or the connector stops.
async fn stream(link: &mut Link, s: &mut Session, chat_id: &str, backoff: &mut Backoff) -> Ended {
    let mut query = vec![
        ("liveChatId", chat_id.to_owned()),
        ("part", PARTS.to_owned()),
        ("maxResults", "2000".to_owned()),
    ];
    if let Some(t) = &s.page_token {
        query.push(("pageToken", t.clone()));
    }
    let url = format!(
        "{}/liveChat/messages/stream",
        link.state.config.platforms.youtube_api
    );
    let mut resp = match call(link, s, |http, token| {
        http.get(&url).query(&query).bearer_auth(token)
    })
    .await
    {
        Ok(r) => r,
        Err(Call::Unavailable) => {
            tracing::info!(
                connector = link.id,
                "YouTube's streamed chat is not offered here; polling instead"
            );
            s.polling = true;
            return poll(link, s, chat_id, backoff).await;
        }
        Err(Call::Ended(e)) => return ended_by(s, e),
    };
    link.report("connected", None).await;
    backoff.reset();
    let mut splitter = ArrayStream::default();
    loop {
        tokio::select! {
            _ = halted(&mut link.stop) => return Ended::Stopped,
            Some(text) = link.outgoing.recv() => send(link, s, chat_id, &text).await,
            chunk = tokio::time::timeout(STREAM_IDLE, resp.chunk()) => {
                let bytes = match chunk {
                    Err(_) => return Ended::Retry("YouTube's chat stream went silent; resuming".into()),
                    Ok(Err(e)) => return Ended::Retry(format!("YouTube's chat stream broke: {e}; resuming")),
                    Ok(Ok(None)) => return Ended::Retry("YouTube ended the chat stream; resuming".into()),
                    Ok(Ok(Some(b))) => b,
                };
                let pages = match splitter.push(&bytes) {
                    Ok(p) => p,
                    Err(e) => return Ended::Retry(format!("YouTube's chat stream is unreadable ({e}); resuming")),
                };
                for raw in pages {
                    match proto::parse_page(&raw) {
                        Ok(page) => {
                            if let Some(end) = take_page(link, s, page).await {
                                return end;
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "ignoring an unreadable YouTube chat page"),
                    }
                }
            }
        }
    }
}

/// Polls `liveChatMessages.list`, as often as YouTube asks.
async fn poll(link: &mut Link, s: &mut Session, chat_id: &str, backoff: &mut Backoff) -> Ended {
    let url = format!(
        "{}/liveChat/messages",
        link.state.config.platforms.youtube_api
    );
    let mut reported = false;
    loop {
        let mut query = vec![
            ("liveChatId", chat_id.to_owned()),
            ("part", PARTS.to_owned()),
            ("maxResults", "2000".to_owned()),
        ];
        if let Some(t) = &s.page_token {
            query.push(("pageToken", t.clone()));
        }
        let resp = match call(link, s, |http, token| {
            http.get(&url).query(&query).bearer_auth(token)
        })
        .await
        {
            Ok(r) => r,
            Err(Call::Unavailable) => {
                return Ended::Fatal("YouTube's live chat API is not available at the configured address (FERROCAST_YOUTUBE_API_URL)".into())
            }
            Err(Call::Ended(e)) => return ended_by(s, e),
        };
        let body = match tokio::time::timeout(CALL_TIMEOUT, resp.bytes()).await {
            Ok(Ok(b)) => b,
            _ => return Ended::Retry("reading YouTube's chat page failed".into()),
        };
        let page = match proto::parse_page(&body) {
            Ok(p) => p,
            Err(e) => return Ended::Retry(format!("YouTube's chat page is unreadable: {e}")),
        };
        if !reported {
            link.report("connected", None).await;
            backoff.reset();
            reported = true;
        }
        let wait = Duration::from_millis(page.polling_interval_ms);
        if let Some(end) = take_page(link, s, page).await {
            return end;
        }
        // Wait as asked, sending the creator's messages meanwhile.
        let until = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                _ = halted(&mut link.stop) => return Ended::Stopped,
                _ = tokio::time::sleep_until(until) => break,
                Some(text) = link.outgoing.recv() => send(link, s, chat_id, &text).await,
            }
        }
    }
}

/// Stores a page's messages and deletions; `Some` when the chat ended.
async fn take_page(link: &Link, s: &mut Session, page: Page) -> Option<Ended> {
    for m in &page.messages {
        link.deliver(m).await;
    }
    for id in &page.deleted {
        link.deleted("youtube", id).await;
    }
    if page.next_page_token.is_some() {
        s.page_token = page.next_page_token;
    }
    page.ended.then(|| chat_ended(s))
}

fn chat_ended(s: &mut Session) -> Ended {
    s.live_chat_id = None;
    s.fixed_chat_id = None;
    s.page_token = None;
    Ended::RetryAfter(
        "waiting",
        "the YouTube live chat has ended; waiting for the next live broadcast".into(),
        BROADCAST_RECHECK,
    )
}

/// What a refused call means for the connector.
fn ended_by(s: &mut Session, e: ApiError) -> Ended {
    match e {
        ApiError::QuotaExceeded => Ended::RetryAfter("retrying", e.describe(), QUOTA_RECHECK),
        ApiError::RateLimited => Ended::Retry(e.describe()),
        ApiError::ChatEnded => chat_ended(s),
        ApiError::Unauthorized => Ended::Fatal(e.describe()),
        ApiError::Forbidden(_) => Ended::Fatal(e.describe()),
        ApiError::Other(status, _) if status >= 500 => Ended::Retry(e.describe()),
        ApiError::Other(..) => Ended::Fatal(e.describe()),
    }
}

enum Call {
    /// The endpoint does not exist here (no YouTube error reason with the 404/405/501).
    Unavailable,
    /// YouTube refused, or could not be reached (as `Other`).
    Ended(ApiError),
}

/// Makes a call with the access token; a refused token is refreshed once (when the node can)
/// and the call repeated.
async fn call<F>(link: &Link, s: &mut Session, build: F) -> Result<reqwest::Response, Call>
where
    F: Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
{
    let mut refreshed = false;
    loop {
        let r = build(&link.http, &s.secrets.access_token)
            .timeout(Duration::from_secs(24 * 3600))
            .send();
        let resp = match tokio::time::timeout(CALL_TIMEOUT, r).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return Err(Call::Ended(ApiError::Other(
                    503,
                    format!("cannot reach YouTube: {e}"),
                )))
            }
            Err(_) => {
                return Err(Call::Ended(ApiError::Other(
                    504,
                    "YouTube did not answer in time".into(),
                )))
            }
        };
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(resp);
        }
        let body = tokio::time::timeout(CALL_TIMEOUT, resp.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let error = proto::parse_error(status, &body);
        let has_reason = serde_json::from_slice::<serde_json::Value>(&body)
            .map(|v| v["error"]["errors"][0]["reason"].is_string())
            .unwrap_or(false);
        if matches!(status, 404 | 405 | 501) && !has_reason {
            return Err(Call::Unavailable);
        }
        if error == ApiError::Unauthorized && !refreshed && refresh(link, s).await {
            refreshed = true;
            continue;
        }
        return Err(Call::Ended(error));
    }
}

/// Renews the access token with the refresh token; whether it worked.
async fn refresh(link: &Link, s: &mut Session) -> bool {
    let ep = &link.state.config.platforms;
    let (Some((client_id, client_secret)), Some(refresh_token)) =
        (&ep.youtube_client, &s.secrets.refresh_token)
    else {
        return false;
    };
    let r = link
        .http
        .post(&ep.google_token)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.expose().as_str()),
        ])
        .timeout(CALL_TIMEOUT)
        .send()
        .await;
    let token = match r {
        Ok(r) if r.status().is_success() => {
            proto::parse_token(&r.bytes().await.unwrap_or_default()).ok()
        }
        Ok(r) => {
            tracing::warn!(connector = link.id, status = %r.status(), "Google refused to refresh the YouTube token");
            None
        }
        Err(e) => {
            tracing::warn!(connector = link.id, error = %e, "cannot reach Google to refresh the YouTube token");
            None
        }
    };
    let Some(token) = token else { return false };
    s.secrets.access_token = token.access_token;
    let json = serde_json::to_vec(&s.secrets).unwrap_or_default();
    let sealed = link
        .state
        .vault
        .seal(Sealed::ConnectorTokens(link.source_id, "youtube"), &json);
    if let Err(e) = link
        .state
        .db
        .set_chat_connector_secrets(link.id, link.version, &sealed, link.state.clock.now_ms())
        .await
    {
        tracing::error!(error = %e, "cannot store a refreshed YouTube token");
    }
    tracing::info!(connector = link.id, "YouTube access token refreshed");
    true
}

/// The live chat of the account's active broadcast.
async fn active_chat(link: &Link, s: &mut Session) -> Result<Option<String>, Ended> {
    if let Some(id) = &s.fixed_chat_id {
        return Ok(Some(id.clone()));
    }
    let url = format!("{}/liveBroadcasts", link.state.config.platforms.youtube_api);
    let resp = call(link, s, |http, token| {
        http.get(&url)
            .query(&[("part", "snippet"), ("broadcastStatus", "active"), ("broadcastType", "all")])
            .bearer_auth(token)
    })
    .await
    .map_err(|e| match e {
        Call::Unavailable => Ended::Fatal("YouTube's broadcast API is not available at the configured address (FERROCAST_YOUTUBE_API_URL)".into()),
        Call::Ended(e) => ended_by(s, e),
    })?;
    let body = resp.bytes().await.unwrap_or_default();
    proto::active_live_chat_id(&body)
        .map_err(|e| Ended::Retry(format!("YouTube's broadcast list is unreadable: {e}")))
}

/// Sends the creator's message to the live chat.
async fn send(link: &mut Link, s: &mut Session, chat_id: &str, text: &str) {
    let text: String = text.chars().take(MAX_SEND_CHARS).collect();
    let url = format!(
        "{}/liveChat/messages",
        link.state.config.platforms.youtube_api
    );
    let body = proto::insert_body(chat_id, &text);
    let resp = call(link, s, |http, token| {
        http.post(&url)
            .query(&[("part", "snippet")])
            .bearer_auth(token)
            .json(&body)
    })
    .await;
    match resp {
        Ok(r) => match proto::inserted_id(&r.bytes().await.unwrap_or_default()) {
            Ok(id) => link.remember_sent(id),
            Err(e) => {
                tracing::warn!(connector = link.id, error = %e, "YouTube's reply to a sent message is unreadable")
            }
        },
        Err(Call::Ended(e)) => {
            tracing::warn!(
                connector = link.id,
                error = e.describe(),
                "sending to YouTube chat failed"
            )
        }
        Err(Call::Unavailable) => tracing::warn!(
            connector = link.id,
            "YouTube's insert endpoint is not available"
        ),
    }
}
