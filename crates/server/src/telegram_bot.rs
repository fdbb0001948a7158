//! The Telegram bot: PNPtv's menu. Commands (`/start`, `/help`, `/live`, `/hangout`,
//! `/videorama`, `/prime`, `/connect`, `/disconnect`) answered with text and link buttons; go-live and other
//! notices ([`crate::service::notify`]) and payment notices (tips, memberships, pay-per-view:
//! to the creator and to the buyer) to users who linked Telegram; go-live posts to the chat a
//! creator connects.
//!
//! **One runner across nodes.** The node holding the bot's lease (`telegram_bot`, taken and
//! renewed as the chat connectors' leases are: renewed every [`RENEW_EVERY`], free for another
//! node after [`LEASE_TTL`]) runs it. With an https public URL it registers the webhook
//! (`POST /api/telegram/webhook`, checked with the secret token given to `setWebhook`); without
//! one (a node behind NAT, a test) it long-polls `getUpdates`, keeping the offset in the
//! database so a node that takes over goes on where the last one stopped. Telegram allows one
//! poller per bot; the lease makes sure there is one.
//!
//! **Everything the bot says goes through the outbox** (`telegram_outbox`), which only the
//! runner sends, oldest first, at most [`SENDS_PER_SEC`] a second: a webhook answered by any
//! node, a notice queued by any node's worker, all leave from one place, inside Telegram's
//! per-bot limits. A 429 puts the message off by its `retry_after` and pauses sending as long;
//! a refusal (a chat that does not exist, a user who blocked the bot) fails it for good; other
//! failures are tried again with backoff, [`MAX_ATTEMPTS`] times. Each update's answer is
//! queued under the update's id, so an update delivered twice is answered once.

use crate::service::jobs::IdlePoll;
use crate::service::telegram_bot::{html, parse_update, Bot, ChatKind, Command, Reply};
use crate::state::AppState;
use ferrocast_db::telegram::NewOutboxMessage;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long the runner's lease lasts unless renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often the runner renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often a node without the lease looks whether it is free.
pub const LOOK_EVERY: Duration = Duration::from_secs(5);
/// How long one `getUpdates` waits for updates.
pub const POLL_WAIT: Duration = Duration::from_secs(25);
/// Messages sent a second at most (Telegram allows about 30 per bot).
pub const SENDS_PER_SEC: u64 = 25;
/// Attempts of a message that keeps failing (not counting 429s) before it is dropped.
pub const MAX_ATTEMPTS: i64 = 8;
/// How long sent and failed messages stay in the outbox (their dedup keys answer an update
/// Telegram delivers again); their text is blanked once sent.
pub const OUTBOX_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;
/// How often the runner prunes the outbox.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Updates taken per `getUpdates`.
const POLL_LIMIT: i64 = 50;
/// Live streams and videos listed in one answer.
const LISTED: usize = 5;

/// The bot's commands, for `/help` and `setMyCommands`.
pub const COMMANDS: &[(&str, &str)] = &[
    ("live", "Go live (creators), or see who is live"),
    ("hangout", "Open a video room (creators): /hangout <title>"),
    ("videorama", "A channel's videos: /videorama <handle>"),
    ("prime", "Plans and prices"),
    ("connect", "In your group: post your go-live news here"),
    ("help", "What I can do"),
];

/// Starts the runner's lease loop and the payment notices, when a bot token is set.
pub fn spawn(state: AppState, shutdown: watch::Receiver<bool>) {
    let Some(bot) = state.telegram_bot.clone() else {
        return;
    };
    spawn_payment_notices(state.clone(), shutdown.clone());
    tokio::spawn(lease_loop(state, bot, shutdown));
}

/// Tells the creator and the buyer of each purchase paid on this node (a tip, a membership,
/// pay-per-view), if they linked Telegram. Subscribes before returning, so no payment applied
/// after the call is missed.
fn spawn_payment_notices(state: AppState, mut shutdown: watch::Receiver<bool>) {
    use tokio::sync::broadcast::error::RecvError;
    let mut paid = state.purchases.subscribe();
    tokio::spawn(async move {
        loop {
            let notice = tokio::select! {
                n = paid.recv() => n,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match notice {
                Ok(n) => {
                    if let Err(e) = payment_notices(&state, &n).await {
                        tracing::warn!(purchase = n.purchase.uuid, error = %e, "cannot queue a payment's Telegram notices");
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "payments were not told on Telegram (too many at once)"
                    )
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

async fn payment_notices(
    state: &AppState,
    n: &crate::service::purchases::PaidNotice,
) -> Result<(), ferrocast_db::DbError> {
    let p = &n.purchase;
    let site = state.config.public_url.trim_end_matches('/').to_string();
    let amount = crate::tips::money(p.amount_minor, &p.currency);
    let buyer = state.db.user_by_id(p.buyer_id).await?;
    let creator = state.db.user_by_id(p.creator_id).await?;
    let buyer_name = p
        .display_name
        .clone()
        .or_else(|| buyer.as_ref().map(|u| u.display_name.clone()))
        .unwrap_or_else(|| "Someone".into());
    let creator_name = creator
        .as_ref()
        .map(|u| u.display_name.clone())
        .unwrap_or_default();
    let what = match p.kind.as_str() {
        "tip" => "a tip".to_string(),
        "membership" if n.renewal => "a membership renewal".to_string(),
        "membership" => "a new membership".to_string(),
        "ppv" => match p.video_id {
            Some(v) => match state.db.video_by_id(v).await? {
                Some(v) => format!("“{}”", v.title),
                None => "a video".to_string(),
            },
            None => "a live stream".to_string(),
        },
        other => other.to_string(),
    };
    if let Some(tg) = state.db.telegram_id_of(p.creator_id).await? {
        let mut text = format!(
            "💰 <b>{} from {}</b>: {}",
            html(&amount),
            html(&buyer_name),
            html(&what)
        );
        if let Some(m) = p.message.as_deref().filter(|m| !m.is_empty()) {
            text.push_str(&format!("\n“{}”", html(m)));
        }
        say(
            state,
            tg,
            &text,
            &json!([[button(
                "Your earnings",
                format!("{site}/dashboard/earnings")
            )]]),
            Some(&format!("paid:{}:{}:creator", p.uuid, n.transaction_id)),
        )
        .await?;
    }
    if let Some(tg) = state.db.telegram_id_of(p.buyer_id).await? {
        say(
            state,
            tg,
            &format!(
                "✅ <b>Payment received</b>: {} to {} for {}. Thank you!",
                html(&amount),
                html(&creator_name),
                html(&what)
            ),
            &json!([[button(
                "Receipt",
                format!("{site}/dashboard/purchases/receipts/{}", p.uuid)
            )]]),
            Some(&format!("paid:{}:{}:buyer", p.uuid, n.transaction_id)),
        )
        .await?;
    }
    Ok(())
}

async fn lease_loop(state: AppState, bot: Arc<Bot>, mut shutdown: watch::Receiver<bool>) {
    let mut workers: Option<(watch::Sender<bool>, Vec<tokio::task::JoinHandle<()>>)> = None;
    loop {
        let now = state.clock.now_ms();
        let held = match state
            .db
            .take_telegram_lease(&bot.holder, now, now + LEASE_TTL.as_millis() as i64)
            .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the Telegram bot's lease");
                false
            }
        };
        bot.set_held(held);
        match (held, workers.is_some()) {
            (true, false) => {
                tracing::info!(holder = %bot.holder, "this node runs the Telegram bot");
                let (stop, stopped) = watch::channel(false);
                let tasks = vec![
                    tokio::spawn(receive(state.clone(), bot.clone(), stopped.clone())),
                    tokio::spawn(send(state.clone(), bot.clone(), stopped)),
                ];
                workers = Some((stop, tasks));
            }
            (false, true) => {
                tracing::info!("the Telegram bot's lease went to another node");
                stop(workers.take()).await;
            }
            _ => {}
        }
        let wait = if held { RENEW_EVERY } else { LOOK_EVERY };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            // The workers end before the lease is given up, so the next runner never polls
            // beside this one.
            stop(workers.take()).await;
            bot.set_held(false);
            if let Err(e) = state.db.release_telegram_lease(&bot.holder).await {
                tracing::warn!(error = %e, "cannot release the Telegram bot's lease");
            }
            return;
        }
    }
}

async fn stop(workers: Option<(watch::Sender<bool>, Vec<tokio::task::JoinHandle<()>>)>) {
    if let Some((stop, tasks)) = workers {
        let _ = stop.send(true);
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Registers the webhook (an https public URL), or long-polls `getUpdates`.
async fn receive(state: AppState, bot: Arc<Bot>, mut stopped: watch::Receiver<bool>) {
    let commands: Vec<Value> = COMMANDS
        .iter()
        .map(|(c, d)| json!({"command": c, "description": d}))
        .collect();
    let _ = bot
        .call(
            "setMyCommands",
            &json!({ "commands": commands }),
            Duration::ZERO,
        )
        .await;
    let public = state.config.public_url.trim_end_matches('/').to_string();
    if public.starts_with("https://") {
        let url = format!("{public}/api/telegram/webhook");
        let body = json!({
            "url": url,
            "secret_token": bot.secret(),
            "allowed_updates": ["message", "channel_post"],
        });
        let mut wait = Duration::from_secs(2);
        loop {
            match bot.call("setWebhook", &body, Duration::ZERO).await {
                Reply::Ok(_) => {
                    tracing::info!(%url, "Telegram webhook set");
                    return;
                }
                Reply::RetryAfter(s) => wait = Duration::from_secs(s),
                Reply::Refused(e) => {
                    tracing::error!(error = %e, "Telegram refused the webhook; check FERROCAST_PUBLIC_URL (Telegram needs https on port 443, 80, 88 or 8443)");
                    return;
                }
                Reply::Failed(e) => tracing::warn!(error = %e, "cannot set the Telegram webhook"),
            }
            if pause(&mut stopped, wait).await {
                return;
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
    }
    // No public https URL: long polling, after removing any webhook (Telegram refuses
    // getUpdates while one is set).
    let _ = bot
        .call(
            "deleteWebhook",
            &json!({"drop_pending_updates": false}),
            Duration::ZERO,
        )
        .await;
    let mut backoff = Duration::from_secs(1);
    loop {
        if *stopped.borrow() {
            return;
        }
        let offset = match state.db.telegram_offset().await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Telegram offset");
                if pause(&mut stopped, backoff).await {
                    return;
                }
                continue;
            }
        };
        let body = json!({
            "offset": offset,
            "limit": POLL_LIMIT,
            "timeout": POLL_WAIT.as_secs(),
            "allowed_updates": ["message", "channel_post"],
        });
        let reply = tokio::select! {
            r = bot.call("getUpdates", &body, POLL_WAIT) => r,
            _ = stopped.changed() => return,
        };
        let updates = match reply {
            Reply::Ok(Value::Array(updates)) => updates,
            Reply::RetryAfter(s) => {
                if pause(&mut stopped, Duration::from_secs(s)).await {
                    return;
                }
                continue;
            }
            other => {
                tracing::warn!(answer = ?other, "getUpdates failed");
                if pause(&mut stopped, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        let mut next = offset;
        for u in &updates {
            if let Some(id) = u.get("update_id").and_then(Value::as_i64) {
                next = next.max(id.saturating_add(1));
            }
            if let Err(e) = handle_update(&state, u).await {
                tracing::warn!(error = %e, "a Telegram update could not be handled");
            }
        }
        if next > offset {
            if let Err(e) = state.db.set_telegram_offset(&bot.holder, next).await {
                tracing::warn!(error = %e, "cannot store the Telegram offset");
            }
        }
    }
}

/// Waits `d` unless stopped first; whether it was stopped.
async fn pause(stopped: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stopped.borrow(),
        _ = stopped.changed() => true,
    }
}

/// Sends the outbox.
async fn send(state: AppState, bot: Arc<Bot>, mut stopped: watch::Receiver<bool>) {
    let mut idle = IdlePoll::new(Duration::from_millis(250));
    let gap = Duration::from_millis(1000 / SENDS_PER_SEC);
    let mut pruned: Option<std::time::Instant> = None;
    loop {
        if *stopped.borrow() {
            return;
        }
        if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned = Some(std::time::Instant::now());
            let before = state.clock.now_ms() - OUTBOX_KEPT_MS;
            if let Err(e) = state.db.prune_telegram_outbox(before).await {
                tracing::warn!(error = %e, "cannot prune the Telegram outbox");
            }
        }
        let now = state.clock.now_ms();
        let due = match state.db.due_telegram(now, 20).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Telegram outbox");
                Vec::new()
            }
        };
        if due.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(idle.idle()) => {}
                _ = bot.wake.notified() => idle.busy(),
                _ = stopped.changed() => return,
            }
            continue;
        }
        idle.busy();
        for m in due {
            let buttons: Value = serde_json::from_str(&m.buttons).unwrap_or(json!([]));
            let reply = bot.send_message(m.chat_id, &m.text, &buttons).await;
            let now = state.clock.now_ms();
            let stored = match &reply {
                Reply::Ok(_) => state.db.telegram_sent(m.id, now).await,
                Reply::RetryAfter(s) => {
                    tracing::info!(retry_after = s, "Telegram asks to slow down; sending waits");
                    state
                        .db
                        .telegram_retry(
                            m.id,
                            now + *s as i64 * 1000,
                            &format!("429: retry after {s} s"),
                            false,
                        )
                        .await
                }
                Reply::Refused(e) => state.db.telegram_failed(m.id, e, now).await,
                Reply::Failed(e) if m.attempts + 1 >= MAX_ATTEMPTS => {
                    state.db.telegram_failed(m.id, e, now).await
                }
                Reply::Failed(e) => {
                    let wait = crate::service::notify::backoff(2_000, m.attempts + 1);
                    state.db.telegram_retry(m.id, now + wait, e, true).await
                }
            };
            if let Err(e) = stored {
                tracing::warn!(error = %e, "cannot record a Telegram message's outcome");
            }
            if let Reply::RetryAfter(s) = reply {
                // Nothing else leaves before Telegram's wait is over.
                if pause(&mut stopped, Duration::from_secs(s)).await {
                    return;
                }
                break;
            }
            if pause(&mut stopped, gap).await {
                return;
            }
        }
    }
}

/// Queues a message, and wakes this node's sender.
pub async fn say(
    state: &AppState,
    chat_id: i64,
    text: &str,
    buttons: &Value,
    dedup_key: Option<&str>,
) -> Result<bool, ferrocast_db::DbError> {
    let queued = state
        .db
        .queue_telegram(
            &NewOutboxMessage {
                chat_id,
                text,
                buttons: &buttons.to_string(),
                dedup_key,
            },
            state.clock.now_ms(),
        )
        .await?;
    if queued {
        if let Some(bot) = &state.telegram_bot {
            bot.wake.notify_one();
        }
    }
    Ok(queued)
}

/// A link button.
fn button(text: &str, url: String) -> Value {
    json!({"text": text, "url": url})
}

/// Answers one update (from the webhook or `getUpdates`): its command's reply is queued under
/// the update's id.
pub async fn handle_update(state: &AppState, update: &Value) -> Result<(), String> {
    let Some(bot) = &state.telegram_bot else {
        return Ok(());
    };
    let Some((_, Some(cmd))) = parse_update(update, bot.username.as_deref()) else {
        return Ok(());
    };
    let Some((text, buttons)) = answer(state, &cmd).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    say(
        state,
        cmd.chat_id,
        &text,
        &buttons,
        Some(&format!("update:{}", cmd.update_id)),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// The account linked to a Telegram user.
async fn linked(
    state: &AppState,
    telegram_id: Option<i64>,
) -> Result<Option<ferrocast_db::accounts::UserRecord>, ferrocast_db::DbError> {
    let Some(id) = telegram_id else {
        return Ok(None);
    };
    match state
        .db
        .identity(crate::service::telegram::PROVIDER, &id.to_string())
        .await?
    {
        Some(i) => state.db.user_by_id(i.user_id).await,
        None => Ok(None),
    }
}

/// Who is live now, with a button to each stream.
async fn live_now(state: &AppState, site: &str) -> (String, Value) {
    let page = crate::service::discovery::live_now(
        &state.db,
        &state.streams.stats,
        &crate::service::discovery::BrowseQuery {
            limit: LISTED as i64,
            page: 1,
            ..Default::default()
        },
    )
    .await;
    let streams = page.map(|p| p.streams).unwrap_or_default();
    if streams.is_empty() {
        return (
            "Nobody is live right now.".to_string(),
            json!([[button("Browse channels", format!("{site}/browse"))]]),
        );
    }
    let mut text = String::from("🔴 <b>Live now</b>\n");
    let mut rows = Vec::new();
    for s in streams.iter().take(LISTED) {
        let title = s.listing.source.title.clone().unwrap_or_default();
        text.push_str(&format!(
            "\n• <b>{}</b> — {}",
            html(&s.listing.owner_name),
            html(&title)
        ));
        rows.push(json!([button(
            &format!("Watch {}", s.listing.owner_name),
            format!("{site}/watch/{}", s.listing.source.playback_id)
        )]));
    }
    (text, Value::Array(rows))
}

/// What the bot answers to `cmd`: text and buttons, or nothing (another bot's command or an
/// unknown one in a group).
async fn answer(
    state: &AppState,
    cmd: &Command,
) -> Result<Option<(String, Value)>, ferrocast_db::DbError> {
    let site = state.config.public_url.trim_end_matches('/').to_string();
    let user = linked(state, cmd.from).await?;
    let link_first = || {
        (
            "Link your account first: sign in with Telegram on the site, then ask again."
                .to_string(),
            json!([[button("Sign in with Telegram", format!("{site}/login"))]]),
        )
    };
    let reply = match cmd.name.as_str() {
        "start" | "help" => {
            let mut text = String::from("<b>Here is what I can do</b>\n");
            for (c, d) in COMMANDS {
                text.push_str(&format!("\n/{c} — {}", html(d)));
            }
            let buttons = match &user {
                Some(u) => {
                    text.push_str(&format!(
                        "\n\nYou are signed in as <b>{}</b>.",
                        html(&u.display_name)
                    ));
                    json!([[button("Open the site", format!("{site}/dashboard"))]])
                }
                None => {
                    text.push_str("\n\nSign in with Telegram on the site to link your account: then I can tell you when channels you follow go live, and about your payments.");
                    json!([[button("Sign in with Telegram", format!("{site}/login"))]])
                }
            };
            (text, buttons)
        }
        "live" => {
            let creator = user
                .as_ref()
                .filter(|u| u.role == "creator" || u.role == "admin");
            let source = match creator {
                Some(u) => state.db.list_sources(u.id).await?.into_iter().next(),
                None => None,
            };
            match source {
                Some(_) if cmd.chat != ChatKind::Private => (
                    "Send /live to me in a private chat: a stream key is not for groups."
                        .to_string(),
                    json!([]),
                ),
                Some(s) => {
                    let key = state.sources.stream_key(&s).unwrap_or_default();
                    let rtmp = crate::routes::sources::rtmp_base_url(state);
                    (
                        format!(
                            "<b>Go live</b>\n\nIn OBS, Settings → Stream → Custom:\nServer: <code>{}/live</code>\nStream key of “{}”: <tg-spoiler><code>{}</code></tg-spoiler>\n\nKeep the key to yourself: anyone with it can stream as you. Or go live from the browser, with your camera.",
                            html(&rtmp),
                            html(&s.name),
                            html(&key)
                        ),
                        json!([[button("Open the dashboard", format!("{site}/dashboard"))]]),
                    )
                }
                None => {
                    let mut reply = live_now(state, &site).await;
                    if creator.is_some() {
                        reply.0.push_str("\n\nTo go live yourself, make a stream source on the dashboard, then send /live again.");
                    }
                    reply
                }
            }
        }
        "hangout" => {
            let creator = user
                .as_ref()
                .filter(|u| u.role == "creator" || u.role == "admin");
            match creator {
                None => (
                    "Hangouts are opened by creators: ask one for a link, or sign in on the site with a creator's account and send /hangout again.".to_string(),
                    json!([[button("Open the site", format!("{site}/hangouts"))]]),
                ),
                Some(u) => {
                    let title = cmd
                        .argument
                        .clone()
                        .filter(|t| !t.trim().is_empty())
                        .unwrap_or_else(|| format!("{}'s hangout", u.display_name));
                    let title: String = title.chars().take(100).collect();
                    use crate::service::hangouts::{room_link, speaker_link, HangoutError};
                    match state.hangouts.create(u.id, &title).await {
                    // Too many open rooms, say: the creator is told why.
                    Err(HangoutError::Invalid(why)) => (
                        format!("No hangout opened: {}", html(&why)),
                        json!([[button("Your hangouts", format!("{site}/hangouts"))]]),
                    ),
                    Err(HangoutError::Db(e)) => return Err(e),
                    Err(e) => return Err(ferrocast_db::DbError::Invalid(e.to_string())),
                    Ok(h) => {
                    let room = format!("{site}{}", room_link(&h));
                    let speakers = format!("{site}{}", speaker_link(&h));
                    if cmd.chat == ChatKind::Private {
                        (
                            format!(
                                "🎥 <b>{}</b> is open.\n\nOn stage (up to 8): send your guests the speaker link\n<code>{}</code>\n\nEveryone else watches by the room link\n<code>{}</code>",
                                html(&title),
                                html(&speakers),
                                html(&room)
                            ),
                            json!([[button("Open the room", room)]]),
                        )
                    } else {
                        (
                            format!(
                                "🎥 <b>{}</b> — {} opened a hangout: join to watch. (Speakers get their link from {}: it is on the site's Hangouts page, never posted in a group.)",
                                html(&title),
                                html(&u.display_name),
                                html(&u.display_name)
                            ),
                            json!([[button("Join the hangout", room)]]),
                        )
                    }
                    }
                    }
                }
            }
        }
        "videorama" => {
            // The handle is the first word.
            let channel = match cmd
                .argument
                .as_deref()
                .and_then(|a| a.split_whitespace().next())
            {
                Some(h) => state.db.user_by_handle(h.trim_start_matches('@')).await?,
                None => user.clone(),
            };
            match channel {
                None if cmd.argument.is_some() => (
                    format!(
                        "No channel is called {}. Send /videorama followed by a channel's handle, as in its address (/c/<handle>).",
                        html(cmd.argument.as_deref().unwrap_or(""))
                    ),
                    json!([]),
                ),
                None => (
                    "Send /videorama followed by a channel's handle, as in its address (/c/<handle>).".to_string(),
                    json!([[button("Browse channels", format!("{site}/browse"))]]),
                ),
                Some(c) => {
                    let mut videos = state.db.public_videos_of_user(c.id, "upload", LISTED as i64).await?;
                    videos.extend(state.db.public_videos_of_user(c.id, "recording", LISTED as i64).await?);
                    videos.sort_by_key(|v| std::cmp::Reverse(v.created_at));
                    videos.truncate(LISTED);
                    let channel_button = button(&format!("{}'s channel", c.display_name), format!("{site}/c/{}", c.handle));
                    if videos.is_empty() {
                        (
                            format!("🎬 {} has no public videos yet.", html(&c.display_name)),
                            json!([[channel_button]]),
                        )
                    } else {
                        let mut text = format!("🎬 <b>{}'s videos</b>\n", html(&c.display_name));
                        let mut rows = Vec::new();
                        for (i, v) in videos.iter().enumerate() {
                            let length = v
                                .duration_ms
                                .map(|ms| format!(" ({}:{:02})", ms / 60_000, (ms / 1000) % 60))
                                .unwrap_or_default();
                            text.push_str(&format!("\n{}. {}{length}", i + 1, html(&v.title)));
                            rows.push(json!([button(&format!("▶ {}", v.title.chars().take(40).collect::<String>()), format!("{site}/v/{}", v.uuid))]));
                        }
                        rows.push(json!([channel_button]));
                        (text, Value::Array(rows))
                    }
                }
            }
        }
        "prime" => {
            let plans = state.db.list_plans().await?;
            let mut text = String::from("💎 <b>Plans</b>\n");
            let mut rows = Vec::new();
            for p in &plans {
                let s = &p.spec;
                let price = if s.price_monthly_cents == 0 {
                    "free".to_string()
                } else {
                    format!(
                        "${}.{:02} a month",
                        s.price_monthly_cents / 100,
                        s.price_monthly_cents % 100
                    )
                };
                text.push_str(&format!(
                    "\n• <b>{}</b> — {price}: {} sources, {} destinations, {} hours of streaming a month",
                    html(&s.name),
                    s.max_sources,
                    s.max_destinations,
                    s.max_streaming_minutes_monthly / 60
                ));
                if s.price_monthly_cents > 0 {
                    rows.push(json!([button(
                        &format!("Choose {}", s.name),
                        format!("{site}/dashboard/subscription?plan={}", p.id)
                    )]));
                }
            }
            if let Some(u) = &user {
                let (plan, _) = state.db.user_plan(u.id).await?;
                text.push_str(&format!("\n\nYou are on <b>{}</b>.", html(&plan.spec.name)));
            }
            (text, Value::Array(rows))
        }
        "connect" | "disconnect" => {
            if cmd.chat == ChatKind::Private {
                (
                    "Add me to your group, then send /connect there: your go-live news will be posted in it. For a channel, connect it in Settings on the site.".to_string(),
                    json!([[button("Open Settings", format!("{site}/settings"))]]),
                )
            } else {
                let runs_it = match (cmd.from, state.telegram_bot.as_ref()) {
                    (Some(from), Some(bot)) => {
                        let member = bot
                            .call(
                                "getChatMember",
                                &json!({"chat_id": cmd.chat_id, "user_id": from}),
                                Duration::ZERO,
                            )
                            .await;
                        matches!(&member, Reply::Ok(m) if matches!(m["status"].as_str(), Some("creator" | "administrator")))
                    }
                    _ => false,
                };
                match &user {
                    None => link_first(),
                    Some(_) if !runs_it => (
                        "Only the group's administrators can connect it or disconnect it."
                            .to_string(),
                        json!([]),
                    ),
                    Some(u) if u.role != "creator" && u.role != "admin" => (
                        "Only creators post go-live news to a group.".to_string(),
                        json!([]),
                    ),
                    Some(u) if cmd.name == "connect" => {
                        state
                            .db
                            .connect_telegram_chat(
                                u.id,
                                cmd.chat_id,
                                &cmd.chat_title,
                                state.clock.now_ms(),
                            )
                            .await?;
                        (
                            format!(
                                "Connected: <b>{}</b> gets {}'s go-live news. Send /disconnect to stop.",
                                html(&cmd.chat_title),
                                html(&u.display_name)
                            ),
                            json!([]),
                        )
                    }
                    Some(u) => {
                        let here = state.db.telegram_chat_of(u.id).await?;
                        if here.is_some_and(|c| c.chat_id == cmd.chat_id) {
                            state.db.disconnect_telegram_chat(u.id).await?;
                            (
                                "Disconnected: no more go-live news here.".to_string(),
                                json!([]),
                            )
                        } else {
                            (
                                "This chat is not connected to your channel.".to_string(),
                                json!([]),
                            )
                        }
                    }
                }
            }
        }
        _ if cmd.chat == ChatKind::Private => (
            format!(
                "I don't know /{}. /help lists what I can do.",
                html(&cmd.name)
            ),
            json!([]),
        ),
        // Groups carry other bots' commands: stay quiet.
        _ => return Ok(None),
    };
    Ok(Some(reply))
}
