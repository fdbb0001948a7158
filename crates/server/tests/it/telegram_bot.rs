//! The Telegram bot against a local Bot API stand-in (`support::telegram_api`), on both
//! databases: the webhook refuses calls without Telegram's secret token and answers with it;
//! long polling answers each command (`/start`, `/help`, `/live` for a creator and for a
//! viewer, `/videorama`, `/hangout` (a creator's room; others told who opens them), `/prime`, `/connect` in a group, an unknown one) once, even when an
//! update comes twice; a creator going live notifies a follower who linked Telegram and posts
//! in the creator's connected channel and group; a 429 puts sending off by its `retry_after`;
//! a chat that blocked the bot fails without retries. Then one runner across two nodes: never
//! two pollers at once, each update answered once, and the second node takes over when the
//! first stops. A node with an https public URL sets the webhook with its secret instead of
//! polling.

use crate::support::telegram_api::{Standin, BLOCKED_CHAT, CHANNEL};
use crate::support::{self, call, now_secs, Backend, Options, TestApp};
use crate::telegram::{signed, TOKEN};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &str = "webhook-secret_0123456789";
const CREATOR_TG: i64 = 5550101;
const FAN_TG: i64 = 5550202;
const GROUP: i64 = -4001;

fn options(api: &Standin) -> Options {
    let mut opts = Options::default();
    opts.extra.extend([
        ("telegram_bot_token", TOKEN.to_string()),
        ("telegram_bot_username", "ferrocast_test_bot".to_string()),
        ("telegram_api_url", api.url()),
        ("telegram_webhook_secret", SECRET.to_string()),
    ]);
    opts
}

/// Links Telegram account `tg` to the caller of `token` (or signs a new account in); the
/// caller's access token.
async fn sign_in_with_telegram(app: &TestApp, tg: i64, name: &str, token: Option<&str>) -> String {
    let fields = json!({"id": tg.to_string(), "first_name": name, "auth_date": (now_secs() - 10).to_string()});
    let hash = signed(json!([{"bot_token": TOKEN, "fields": fields, "webapp": false}]));
    let mut body = fields.clone();
    body["hash"] = json!(hash[0]);
    let (status, v) = call(app, "POST", "/api/auth/telegram", token, Some(body)).await;
    assert_eq!(status, 200, "{v}");
    match token {
        // Linked to the caller: no new session.
        Some(t) => t.to_string(),
        None => v["access_token"].as_str().expect("token").to_string(),
    }
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

fn button_urls(m: &Value) -> Vec<String> {
    m["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["url"].as_str().map(str::to_string))
        .collect()
}

/// A webhook call with `secret` (or none).
async fn webhook(app: &TestApp, secret: Option<&str>, update: &Value) -> (u16, Value) {
    let mut r = support::client()
        .post(app.url("/api/telegram/webhook"))
        .json(update);
    if let Some(s) = secret {
        r = r.header("x-telegram-bot-api-secret-token", s);
    }
    let res = r.send().await.expect("webhook");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

both_backends!(
    bot_commands_notices_and_telegrams_limits,
    one_bot_runner_across_nodes_and_the_webhook_when_public
);

async fn bot_commands_notices_and_telegrams_limits(b: Backend) {
    support::require("ffmpeg");
    let api = Standin::start(TOKEN).await;
    let Some(app) = TestApp::start_with(b, options(&api)).await else {
        return;
    };
    let creator = support::creator_with_source(&app, "host@example.com").await;
    sign_in_with_telegram(&app, CREATOR_TG, "Hosting Hannah", Some(&creator.token)).await;
    // A fan makes an account with Telegram alone, and follows the creator.
    let fan = sign_in_with_telegram(&app, FAN_TG, "Fan Fiona", None).await;
    let (_, me) = call(&app, "GET", "/api/auth/me", Some(&creator.token), None).await;
    let handle = me["handle"].as_str().expect("handle").to_string();
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/channels/{handle}/follow"),
        Some(&fan),
        None,
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {body}");

    // The webhook: not Telegram without the secret token.
    let help = {
        let mut u = Standin::message(FAN_TG, FAN_TG, "private", "/help");
        u["update_id"] = json!(1);
        u
    };
    let (status, body) = webhook(&app, None, &help).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("TELEGRAM_SECRET")),
        "{body}"
    );
    let (status, _) = webhook(&app, Some("webhook-secret_wrong000000"), &help).await;
    assert_eq!(status, 401);
    let (status, _) = webhook(&app, Some(SECRET), &help).await;
    assert_eq!(status, 200);
    let got = api.wait_for(FAN_TG, 1).await;
    assert!(text(&got[0]).contains("/videorama"), "{}", got[0]);
    assert!(
        text(&got[0]).contains("signed in as <b>Fan Fiona</b>"),
        "{}",
        got[0]
    );
    assert_eq!(got[0]["parse_mode"], "HTML");
    // Telegram delivers an update again when unsure: it is answered once.
    let (status, _) = webhook(&app, Some(SECRET), &help).await;
    assert_eq!(status, 200);

    // The creator heard of the new follower on Telegram (notices follow the push setting).
    let followed = api
        .wait_text(CREATOR_TG, "Fan Fiona followed your channel")
        .await;
    assert!(
        button_urls(&followed)[0].starts_with(&app.base),
        "{followed}"
    );

    // Long polling (this node's public URL is not https): every command's answer.
    api.push(Standin::message(CREATOR_TG, CREATOR_TG, "private", "/live"));
    let live = api.wait_text(CREATOR_TG, "Go live").await;
    let live = text(&live);
    assert!(live.contains(&format!("{}/live", app.rtmp_url())), "{live}");
    assert!(
        live.contains(&creator.key),
        "the creator's key, in a private chat: {live}"
    );
    assert!(live.contains("tg-spoiler"), "{live}");
    api.push(Standin::message(FAN_TG, FAN_TG, "private", "/live"));
    let nobody = api.wait_text(FAN_TG, "Nobody is live right now.").await;
    assert!(button_urls(&nobody)[0].ends_with("/browse"));
    assert!(
        text(&nobody).contains("make a stream source"),
        "a creator without a source: {nobody}"
    );
    api.push(Standin::message(
        FAN_TG,
        FAN_TG,
        "private",
        &format!("/videorama@ferrocast_test_bot {handle}"),
    ));
    let videos = api.wait_text(FAN_TG, "has no public videos yet").await;
    assert!(button_urls(&videos)[0].ends_with(&format!("/c/{handle}")));
    // /hangout: a creator opens a room (the speaker link in a private chat); others are told
    // who opens them.
    api.push(Standin::message(
        CREATOR_TG,
        CREATOR_TG,
        "private",
        "/hangout Late show",
    ));
    let room = api.wait_text(CREATOR_TG, "<b>Late show</b> is open").await;
    let room_url = button_urls(&room)[0].clone();
    assert!(
        room_url.starts_with(&format!("{}/hangout/", app.base)),
        "{room}"
    );
    assert!(text(&room).contains(&format!("{room_url}?code=")), "{room}");
    let id = room_url.rsplit('/').next().expect("id");
    let (status, h) = support::call(&app, "GET", &format!("/api/hangouts/{id}"), None, None).await;
    assert_eq!(
        (status, h["title"].as_str()),
        (200, Some("Late show")),
        "{h}"
    );
    api.push(Standin::message(998, 998, "private", "/hangout"));
    api.wait_text(998, "Hangouts are opened by creators").await;
    // A creator with 10 rooms open is told why no 11th opens.
    for i in 0..9 {
        let (status, _) = support::call(
            &app,
            "POST",
            "/api/hangouts",
            Some(&creator.token),
            Some(json!({ "title": format!("Room {i}") })),
        )
        .await;
        assert_eq!(status, 201);
    }
    api.push(Standin::message(
        CREATOR_TG, CREATOR_TG, "private", "/hangout",
    ));
    api.wait_text(CREATOR_TG, "No hangout opened: you have 10 hangouts open")
        .await;
    api.push(Standin::message(FAN_TG, FAN_TG, "private", "/prime"));
    let plans = api.wait_text(FAN_TG, "💎 <b>Plans</b>").await;
    let prime = text(&plans);
    for want in [
        "<b>Free</b> — free",
        "<b>Pro</b> — $9.99 a month",
        "<b>Business</b>",
        "You are on <b>Free</b>.",
    ] {
        assert!(prime.contains(want), "{want} in {prime}");
    }
    let pro = support::plan_id(&app, "Pro").await;
    assert!(
        button_urls(&plans).contains(&format!("{}/dashboard/subscription?plan={pro}", app.base)),
        "{plans}"
    );
    api.push(Standin::message(FAN_TG, FAN_TG, "private", "/dance"));
    api.wait_text(FAN_TG, "I don't know /dance. /help lists what I can do.")
        .await;
    // Another bot's command in a group is not ours; a stranger's /start is answered.
    api.push(Standin::message(
        FAN_TG,
        GROUP,
        "supergroup",
        "/live@other_bot",
    ));
    api.push(Standin::message(999, 999, "private", "/start"));
    api.wait_text(999, "Sign in with Telegram on the site")
        .await;
    // The creator connects a group, and a channel through the API; only a chat's
    // administrators may.
    api.inner
        .lock()
        .expect("lock")
        .admins
        .extend([(GROUP, CREATOR_TG), (CHANNEL.1, CREATOR_TG)]);
    api.push(Standin::message(FAN_TG, GROUP, "supergroup", "/connect"));
    api.wait_text(GROUP, "Only the group's administrators")
        .await;
    api.push(Standin::message(
        CREATOR_TG,
        GROUP,
        "supergroup",
        "/connect",
    ));
    api.wait_text(GROUP, "Connected: <b>Fan Club</b>").await;
    assert_eq!(
        api.sent_to(GROUP).len(),
        2,
        "the other bot's command got no answer"
    );
    let (status, body) = call(
        &app,
        "PUT",
        "/api/telegram/chat",
        Some(&creator.token),
        Some(json!({"chat": "@no_such_chat"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("administrator"),
        "{body}"
    );
    let (status, body) = call(
        &app,
        "PUT",
        "/api/telegram/chat",
        Some(&fan),
        Some(json!({"chat": CHANNEL.0})),
    )
    .await;
    assert_eq!(status, 403, "the fan does not run the channel: {body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("not an administrator"),
        "{body}"
    );
    let (status, body) = call(
        &app,
        "PUT",
        "/api/telegram/chat",
        Some(&creator.token),
        Some(json!({"chat": CHANNEL.0})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["title"], CHANNEL.2);
    api.wait_text(CHANNEL.1, "go-live news will be posted here")
        .await;
    let (_, status_view) = call(&app, "GET", "/api/telegram", Some(&creator.token), None).await;
    assert_eq!(
        status_view["linked_telegram_id"],
        CREATOR_TG.to_string(),
        "{status_view}"
    );
    assert_eq!(
        status_view["chat"]["chat_id"], CHANNEL.1,
        "the channel replaced the group: {status_view}"
    );
    let helps = api
        .sent_to(FAN_TG)
        .iter()
        .filter(|m| text(m).contains("Here is what I can do"))
        .count();
    assert_eq!(helps, 1, "the redelivered /help was answered once");

    // The creator goes live: the fan is told on Telegram, and the channel gets a post.
    let mut ff = support::publish(&app.rtmp_url(), &creator.key, 8, &[]);
    let notice = api.wait_text(FAN_TG, "is live</b>").await;
    assert!(
        button_urls(&notice)[0].ends_with(&format!("/watch/{}", creator.playback_id)),
        "{notice}"
    );
    let post = api.wait_text(CHANNEL.1, "is live</b>").await;
    assert!(text(&post).starts_with("🔴 <b>"), "{post}");
    api.push(Standin::message(FAN_TG, FAN_TG, "private", "/live"));
    let now_live = api.wait_text(FAN_TG, "Live now").await;
    assert!(button_urls(&now_live)[0].ends_with(&format!("/watch/{}", creator.playback_id)));
    support::stop_encoder(&mut ff);

    // A tip paid (as the gateway's verified webhook applies it): the creator and the fan are
    // told.
    let db = app.running.as_ref().expect("running").state.db.clone();
    let fan_id = db
        .identity("telegram", &FAN_TG.to_string())
        .await
        .expect("q")
        .expect("fan")
        .user_id;
    let creator_id = db
        .identity("telegram", &CREATOR_TG.to_string())
        .await
        .expect("q")
        .expect("creator")
        .user_id;
    let tip = crate::tips::purchase(
        &app,
        ferrocast_db::purchases::PurchaseKind::Tip,
        fan_id,
        creator_id,
        500,
        "USD",
        Some("great <show>"),
        None,
    )
    .await;
    crate::tips::pay(&app, &tip, "pi_telegram_tip", 500).await;
    let paid = api.wait_text(CREATOR_TG, "💰").await;
    assert_eq!(
        text(&paid),
        "💰 <b>$5.00 from Big Fan</b>: a tip\n“great &lt;show&gt;”"
    );
    assert!(button_urls(&paid)[0].ends_with("/dashboard/earnings"));
    let receipt = api.wait_text(FAN_TG, "Payment received").await;
    assert!(
        text(&receipt).contains("$5.00 to Streamer for a tip"),
        "{receipt}"
    );
    assert!(
        button_urls(&receipt)[0].ends_with(&format!("/dashboard/purchases/receipts/{}", tip.uuid))
    );

    // Telegram asks the bot to slow down: the message waits retry_after, then goes once.
    api.inner.lock().expect("lock").limit_next = Some(2);
    api.push(Standin::message(4343, 4343, "private", "/help"));
    let got = api.wait_for(4343, 1).await;
    let (limited_at, sent_at) = {
        let i = api.inner.lock().expect("lock");
        let sent = i
            .sent
            .iter()
            .find(|(_, b)| b["chat_id"].as_i64() == Some(4343))
            .expect("sent")
            .0;
        (*i.limited.last().expect("a 429"), sent)
    };
    assert!(
        sent_at.duration_since(limited_at) >= Duration::from_secs(2),
        "sent {:?} after the 429 asked for 2 s",
        sent_at.duration_since(limited_at)
    );
    assert!(text(&got[0]).contains("/prime"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(api.sent_to(4343).len(), 1, "sent once");
    // A user who blocked the bot: failed once, not tried again.
    api.push(Standin::message(
        BLOCKED_CHAT,
        BLOCKED_CHAT,
        "private",
        "/help",
    ));
    let db = &app.running.as_ref().expect("running").state.db;
    let mut failed = 0;
    for _ in 0..100 {
        failed = db.telegram_outbox_counts().await.expect("counts").failed;
        if failed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(failed, 1);
    assert_eq!(api.inner.lock().expect("lock").conflicts, 0);
    app.finish().await;
}

async fn one_bot_runner_across_nodes_and_the_webhook_when_public(b: Backend) {
    let api = Standin::start(TOKEN).await;
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut opts = options(&api);
    opts.extra.push(("secret_key", key.clone()));
    let Some(mut first) = TestApp::start_with(b, opts).await else {
        return;
    };
    let mut opts = options(&api);
    opts.extra.extend([
        ("secret_key", key.clone()),
        ("database_url", first.database_url.clone()),
        ("public_url", first.base.clone()),
    ]);
    let mut second = TestApp::start_with(b, opts).await.expect("second node");
    let held = |t: &TestApp| {
        t.running
            .as_ref()
            .and_then(|r| r.state.telegram_bot.as_ref().map(|b| b.held()))
            .unwrap_or(false)
    };
    for n in 0..5 {
        api.push(Standin::message(4242, 4242, "private", "/help"));
        api.wait_for(4242, n + 1).await;
    }
    assert_eq!(
        u8::from(held(&first)) + u8::from(held(&second)),
        1,
        "one node runs the bot"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(api.sent_to(4242).len(), 5, "each update answered once");
    // The runner stops: the other node takes over and goes on from the stored offset.
    let (runner, other) = if held(&first) {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };
    if let Some(r) = runner.running.take() {
        r.stop().await.expect("clean stop");
    }
    let started = Instant::now();
    api.push(Standin::message(4242, 4242, "private", "/prime"));
    let got = api.wait_for(4242, 6).await;
    assert!(text(&got[5]).contains("💎 <b>Plans</b>"), "{}", got[5]);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "taken over in {:?}",
        started.elapsed()
    );
    assert!(held(other));
    assert_eq!(api.sent_to(4242).len(), 6);
    assert_eq!(
        api.inner.lock().expect("lock").conflicts,
        0,
        "never two pollers at once"
    );
    other
        .running
        .take()
        .expect("running")
        .stop()
        .await
        .expect("clean stop");

    // A node whose public URL is https sets the webhook, with its secret, and does not poll.
    let hook = Standin::start(TOKEN).await;
    let mut opts = options(&hook);
    opts.extra
        .push(("public_url", "https://live.example.com".into()));
    let app = TestApp::start_with(b, opts).await.expect("node");
    for _ in 0..100 {
        if hook.inner.lock().expect("lock").webhook.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let set = hook
        .inner
        .lock()
        .expect("lock")
        .webhook
        .clone()
        .expect("the webhook was set");
    assert_eq!(set["url"], "https://live.example.com/api/telegram/webhook");
    assert_eq!(set["secret_token"], SECRET);
    assert_eq!(hook.calls("getUpdates"), 0);
    app.finish().await;
    second.finish().await;
    first.finish().await;
}
