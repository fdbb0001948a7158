//! Twitch chat: EventSub over WebSocket in, Helix `POST /chat/messages` out.
//!
//! One attempt: validate the token (which also names the application and the account), look
//! up the channel's user id, open the EventSub WebSocket, wait for `session_welcome`, subscribe
//! to `channel.chat.message` with that session within Twitch's 10 s, then read. Silence longer
//! than the session's keepalive timeout (plus a little grace) means the connection is dead;
//! `session_reconnect` moves to the new URL without subscribing again; a revoked subscription
//! stops the connector until the creator reconnects.

use super::link::{after, halted, Backoff, Ended, Link, Secrets, CALL_TIMEOUT, REMEMBERED};
use ferrocast_chat::twitch::{self as proto, EventSubMessage, SendOutcome, TokenOwner};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest EventSub message accepted (they are a few KiB).
const MAX_MESSAGE: usize = 256 * 1024;
/// Extra silence tolerated past the keepalive timeout before reconnecting.
const GRACE: Duration = Duration::from_secs(3);
/// How often a running connector validates its token again (Twitch asks for hourly).
const REVALIDATE: Duration = Duration::from_secs(3600);
/// Twitch allows 500 characters per chat message.
const MAX_SEND_CHARS: usize = 500;

pub(crate) async fn run(link: &mut Link, secrets: &Secrets, config: &serde_json::Value) {
    let channel = config["channel"].as_str().unwrap_or_default().to_owned();
    let mut backoff = Backoff::new();
    let mut deliveries = VecDeque::new();
    loop {
        if link.stopped() {
            return;
        }
        link.report("connecting", None).await;
        let ended = attempt(link, secrets, &channel, &mut backoff, &mut deliveries).await;
        if !after(link, ended, &mut backoff).await {
            return;
        }
    }
}

/// Who is who on Twitch for this connector.
struct Ids {
    owner: TokenOwner,
    broadcaster_id: String,
}

async fn attempt(
    link: &mut Link,
    secrets: &Secrets,
    channel: &str,
    backoff: &mut Backoff,
    deliveries: &mut VecDeque<String>,
) -> Ended {
    let ep = link.state.config.platforms.clone();
    let ids = match identify(link, secrets, channel).await {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let tls = match ferrocast_engine::restream::tls_config(None) {
        Ok(t) => t,
        Err(e) => return Ended::Fatal(e),
    };
    let (mut ws, keepalive, session_id) = match open(&ep.twitch_eventsub, &tls).await {
        Ok(x) => x,
        Err(e) => return Ended::Retry(e),
    };
    // Subscribe within Twitch's 10 s of the welcome.
    let body = proto::chat_subscription(&ids.broadcaster_id, &ids.owner.user_id, &session_id);
    let reply = link
        .http
        .post(format!("{}/eventsub/subscriptions", ep.twitch_api))
        .bearer_auth(&secrets.access_token)
        .header("Client-Id", &ids.owner.client_id)
        .json(&body)
        .timeout(CALL_TIMEOUT)
        .send()
        .await;
    match reply {
        Ok(r) if r.status().is_success() || r.status().as_u16() == 409 => {}
        Ok(r) => {
            let status = r.status().as_u16();
            let why = proto::helix_error(&r.bytes().await.unwrap_or_default());
            let message = format!("Twitch refused the chat subscription ({status}): {why}");
            return if matches!(status, 400 | 401 | 403) {
                Ended::Fatal(format!("{message}; reconnect Twitch chat with a token that has the user:read:chat scope"))
            } else {
                Ended::Retry(message)
            };
        }
        Err(e) => return Ended::Retry(format!("cannot reach Twitch: {e}")),
    }
    link.report("connected", None).await;
    backoff.reset();
    let mut keepalive = keepalive;
    let mut revalidate =
        tokio::time::interval_at(tokio::time::Instant::now() + REVALIDATE, REVALIDATE);
    loop {
        let silence = Duration::from_secs(keepalive) + GRACE;
        tokio::select! {
            _ = halted(&mut link.stop) => {
                let _ = ws.close(None).await;
                return Ended::Stopped;
            }
            Some(text) = link.outgoing.recv() => send(link, secrets, &ids, &text).await,
            _ = revalidate.tick() => {
                if let Err(Ended::Fatal(why)) = validate(link, secrets).await {
                    let _ = ws.close(None).await;
                    return Ended::Fatal(why);
                }
            }
            next = tokio::time::timeout(silence, ws.next()) => {
                let frame = match next {
                    Err(_) => return Ended::Retry(format!("no keepalive from Twitch for {} s", silence.as_secs())),
                    Ok(None) => return Ended::Retry("Twitch closed the chat connection".into()),
                    Ok(Some(Err(e))) => return Ended::Retry(format!("the Twitch chat connection failed: {e}")),
                    Ok(Some(Ok(f))) => f,
                };
                let text = match frame {
                    Message::Text(t) => t,
                    Message::Close(_) => return Ended::Retry("Twitch closed the chat connection".into()),
                    _ => continue,
                };
                match proto::parse_eventsub(text.as_bytes()) {
                    Ok(EventSubMessage::Chat { delivery_id, message }) => {
                        if deliveries.contains(&delivery_id) {
                            continue;
                        }
                        if deliveries.len() >= REMEMBERED {
                            deliveries.pop_front();
                        }
                        deliveries.push_back(delivery_id);
                        link.deliver(&message).await;
                    }
                    Ok(EventSubMessage::Reconnect { url }) => match open(&url, &tls).await {
                        // Subscriptions move with the session; the old socket closes.
                        Ok((new_ws, k, _)) => {
                            let _ = ws.close(None).await;
                            ws = new_ws;
                            keepalive = k;
                        }
                        Err(e) => return Ended::Retry(format!("moving to Twitch's new chat server failed: {e}")),
                    },
                    Ok(EventSubMessage::Revoked { status, .. }) => {
                        return Ended::Fatal(format!("Twitch ended the chat subscription ({status}); reconnect Twitch chat"));
                    }
                    Ok(EventSubMessage::Welcome { .. } | EventSubMessage::Keepalive | EventSubMessage::Other(_)) => {}
                    Err(e) => tracing::debug!(error = %e, "ignoring an unreadable EventSub message"),
                }
            }
        }
    }
}

/// Asks Twitch whom the token belongs to (Twitch requires this at start and hourly).
async fn validate(link: &Link, secrets: &Secrets) -> Result<TokenOwner, Ended> {
    let ep = &link.state.config.platforms;
    let r = link
        .http
        .get(format!("{}/validate", ep.twitch_auth))
        .header("Authorization", format!("OAuth {}", secrets.access_token))
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .map_err(|e| Ended::Retry(format!("cannot reach Twitch: {e}")))?;
    if r.status().as_u16() == 401 {
        return Err(Ended::Fatal(
            "Twitch says the token is invalid or expired; reconnect Twitch chat".into(),
        ));
    }
    if !r.status().is_success() {
        return Err(Ended::Retry(format!(
            "Twitch token validation answered {}",
            r.status()
        )));
    }
    proto::parse_validate(&r.bytes().await.unwrap_or_default())
        .map_err(|e| Ended::Retry(format!("Twitch token validation: {e}")))
}

/// Validates the token and finds the channel's user id.
async fn identify(link: &Link, secrets: &Secrets, channel: &str) -> Result<Ids, Ended> {
    let ep = &link.state.config.platforms;
    let owner = validate(link, secrets).await?;
    let r = link
        .http
        .get(format!("{}/users", ep.twitch_api))
        .query(&[("login", channel)])
        .bearer_auth(&secrets.access_token)
        .header("Client-Id", &owner.client_id)
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .map_err(|e| Ended::Retry(format!("cannot reach Twitch: {e}")))?;
    if !r.status().is_success() {
        let status = r.status();
        let why = proto::helix_error(&r.bytes().await.unwrap_or_default());
        return Err(Ended::Retry(format!(
            "Twitch user lookup answered {status}: {why}"
        )));
    }
    let broadcaster_id = proto::parse_user_id(&r.bytes().await.unwrap_or_default())
        .map_err(|e| Ended::Retry(format!("Twitch user lookup: {e}")))?
        .ok_or_else(|| Ended::Fatal(format!("Twitch has no channel named {channel:?}")))?;
    Ok(Ids {
        owner,
        broadcaster_id,
    })
}

/// Connects to an EventSub URL and waits for its welcome: (socket, keepalive seconds, session).
async fn open(url: &str, tls: &Arc<rustls::ClientConfig>) -> Result<(Socket, u64, String), String> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        url,
        Some(config),
        true,
        Some(tokio_tungstenite::Connector::Rustls(tls.clone())),
    );
    let (mut ws, _) = tokio::time::timeout(CALL_TIMEOUT, connect)
        .await
        .map_err(|_| "connecting to Twitch EventSub timed out".to_string())?
        .map_err(|e| format!("cannot connect to Twitch EventSub: {e}"))?;
    let welcome = async {
        while let Some(frame) = ws.next().await {
            if let Message::Text(t) = frame.map_err(|e| e.to_string())? {
                if let Ok(EventSubMessage::Welcome {
                    session_id,
                    keepalive_timeout_seconds,
                }) = proto::parse_eventsub(t.as_bytes())
                {
                    return Ok((keepalive_timeout_seconds, session_id));
                }
            }
        }
        Err("closed before its welcome".to_string())
    };
    let (keepalive, session) = tokio::time::timeout(Duration::from_secs(10), welcome)
        .await
        .map_err(|_| "Twitch EventSub sent no welcome within 10 s".to_string())?
        .map_err(|e| format!("Twitch EventSub: {e}"))?;
    Ok((ws, keepalive, session))
}

/// Sends the creator's message to the channel.
async fn send(link: &mut Link, secrets: &Secrets, ids: &Ids, text: &str) {
    let text: String = text.chars().take(MAX_SEND_CHARS).collect();
    let ep = &link.state.config.platforms;
    let r = link
        .http
        .post(format!("{}/chat/messages", ep.twitch_api))
        .bearer_auth(&secrets.access_token)
        .header("Client-Id", &ids.owner.client_id)
        .json(&proto::SendMessage {
            broadcaster_id: &ids.broadcaster_id,
            sender_id: &ids.owner.user_id,
            message: &text,
        })
        .timeout(CALL_TIMEOUT)
        .send()
        .await;
    let outcome = match r {
        Ok(r) if r.status().is_success() => {
            proto::parse_send_reply(&r.bytes().await.unwrap_or_default()).map_err(|e| e.to_string())
        }
        Ok(r) => {
            let status = r.status();
            Err(format!(
                "{status}: {}",
                proto::helix_error(&r.bytes().await.unwrap_or_default())
            ))
        }
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(SendOutcome::Sent(id)) => link.remember_sent(id),
        Ok(SendOutcome::Dropped(why)) => {
            tracing::warn!(
                connector = link.id,
                why,
                "Twitch dropped the creator's message"
            )
        }
        Err(e) => tracing::warn!(
            connector = link.id,
            error = e,
            "sending to Twitch chat failed"
        ),
    }
}
