//! Tips and goals: the overlay token (made on first use, rotated, a rotated one refused and its
//! open overlays closed), the overlay's event stream (a test alert at once), goals (checked,
//! listed on the channel, capped, changed, ended, deleted), tips checked like chat messages
//! (limits, blocked words, links, bans), and a paid tip announced once on every node — the
//! overlay's alert, one message in the creator's chat — with the goal's progress from tips
//! and memberships.

use crate::support::{self, call, creator_with_source, register_user, Backend, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

both_backends!(
    overlay_tokens_rotate_and_close_open_overlays,
    a_test_alert_reaches_the_overlay_at_once,
    goals_are_checked_listed_changed_ended_and_deleted,
    tips_are_checked_like_chat_messages,
    a_paid_tip_is_announced_once_on_every_node_and_goals_count_tips_and_memberships,
);

/// An open `text/event-stream`, read event by event.
pub(crate) struct EventStream {
    res: reqwest::Response,
    buf: String,
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub(crate) struct Sse {
    pub event: String,
    pub data: Value,
    pub id: Option<String>,
}

impl EventStream {
    pub(crate) async fn open(app: &TestApp, path: &str, last_id: Option<&str>) -> EventStream {
        let mut req = support::client().get(app.url(path));
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.expect("event stream");
        assert_eq!(res.status(), 200, "{path}");
        assert!(res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream")));
        EventStream {
            res,
            buf: String::new(),
        }
    }

    /// The next event within `limit`; `None` when the stream ended or nothing came.
    pub(crate) async fn next(&mut self, limit: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut data, mut id) = (String::from("message"), String::new(), None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    }
                }
                if data.is_empty() {
                    // A keep-alive comment.
                    continue;
                }
                return Some(Sse {
                    event,
                    data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                    id,
                });
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// The next event named `name` within `limit` (others are skipped).
    pub(crate) async fn next_named(&mut self, name: &str, limit: Duration) -> Option<Sse> {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left).await {
                Some(e) if e.event == name => return Some(e),
                Some(_) => continue,
                None => return None,
            }
        }
        None
    }
}

/// The creator's overlay token.
async fn overlay_token(app: &TestApp, token: &str) -> String {
    let (s, body) = call(app, "GET", "/api/me/overlay", Some(token), None).await;
    assert_eq!(s, 200, "{body}");
    body["token"].as_str().expect("token").to_string()
}

async fn overlay_tokens_rotate_and_close_open_overlays(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "maker@example.com").await;
    let (s, _) = call(&app, "GET", "/api/me/overlay", None, None).await;
    assert_eq!(s, 401, "the addresses are the creator's");
    let (s, first) = call(&app, "GET", "/api/me/overlay", Some(&creator.token), None).await;
    assert_eq!(s, 200, "{first}");
    let token = first["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("ov_") && token.len() >= 40, "{token}");
    assert_eq!(
        first["alerts_url"],
        app.url(&format!("/overlay/{token}/alerts")),
        "{first}"
    );
    assert_eq!(
        first["goal_url"],
        app.url(&format!("/overlay/{token}/goal"))
    );
    assert_eq!(
        overlay_token(&app, &creator.token).await,
        token,
        "the same token until rotated"
    );
    let (s, info) = call(&app, "GET", &format!("/api/overlay/{token}"), None, None).await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["display_name"], "Streamer");
    assert_eq!(info["goals"], json!([]));
    // The overlay pages are the web app's (200, the app's index) when it is built.
    let page = support::client()
        .get(app.url(&format!("/overlay/{token}/alerts")))
        .send()
        .await
        .expect("page");
    assert!(
        page.status() == 200 || page.status() == 404,
        "{}",
        page.status()
    );
    for bad in ["ov_nope", "x", &"ov_a".repeat(40)] {
        let (s, body) = call(&app, "GET", &format!("/api/overlay/{bad}"), None, None).await;
        assert_eq!(s, 404, "{bad}: {body}");
        assert_eq!(body["code"], "OVERLAY_NOT_FOUND");
    }

    let mut open = EventStream::open(&app, &format!("/api/overlay/{token}/events"), None).await;
    let goals = open
        .next(Duration::from_secs(5))
        .await
        .expect("goals first");
    assert_eq!(goals.event, "goals");
    let (s, rotated) = call(
        &app,
        "POST",
        "/api/me/overlay/rotate",
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(s, 200, "{rotated}");
    let new = rotated["token"].as_str().expect("token");
    assert_ne!(new, token);
    let revoked = open
        .next(Duration::from_secs(5))
        .await
        .expect("the open overlay is told");
    assert_eq!(revoked.event, "revoked", "{revoked:?}");
    assert!(
        open.next(Duration::from_secs(5)).await.is_none(),
        "and the stream ends"
    );
    let (s, _) = call(&app, "GET", &format!("/api/overlay/{token}"), None, None).await;
    assert_eq!(s, 404, "the old token is refused");
    let s = support::client()
        .get(app.url(&format!("/api/overlay/{token}/events")))
        .send()
        .await
        .expect("events")
        .status();
    assert_eq!(s, 404);
    let (s, _) = call(&app, "GET", &format!("/api/overlay/{new}"), None, None).await;
    assert_eq!(s, 200);
    assert_eq!(overlay_token(&app, &creator.token).await, new);
    app.finish().await;
}

async fn a_test_alert_reaches_the_overlay_at_once(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "maker@example.com").await;
    let other = register_user(&app, "other@example.com", "Other").await;
    let token = overlay_token(&app, &creator.token).await;
    let mut overlay = EventStream::open(&app, &format!("/api/overlay/{token}/events"), None).await;
    assert_eq!(
        overlay
            .next(Duration::from_secs(5))
            .await
            .expect("goals")
            .event,
        "goals"
    );
    // Another creator's test alert is not this overlay's.
    let (s, _) = call(&app, "POST", "/api/me/overlay/test", Some(&other), None).await;
    assert_eq!(s, 200);
    let sent = Instant::now();
    let (s, alert) = call(
        &app,
        "POST",
        "/api/me/overlay/test",
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(s, 200, "{alert}");
    let got = overlay
        .next(Duration::from_secs(2))
        .await
        .expect("the alert within 2 s");
    assert!(sent.elapsed() < Duration::from_secs(2));
    assert_eq!(got.event, "tip");
    assert_eq!(got.data, alert, "only the creator's own alert");
    assert_eq!(got.id.as_deref(), alert["id"].as_str());
    assert_eq!(alert["test"], true);
    assert_eq!(alert["amount"], "$5.00");
    drop(overlay);
    app.finish().await;
}

async fn goals_are_checked_listed_changed_ended_and_deleted(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "maker@example.com").await;
    let (_, me) = call(&app, "GET", "/api/auth/me", Some(&creator.token), None).await;
    let handle = me["handle"]
        .as_str()
        .or(me["user"]["handle"].as_str())
        .expect("handle")
        .to_string();
    let token = overlay_token(&app, &creator.token).await;
    let mut overlay = EventStream::open(&app, &format!("/api/overlay/{token}/events"), None).await;
    overlay.next(Duration::from_secs(5)).await.expect("goals");

    let post = |body: Value| {
        let t = creator.token.clone();
        let app = &app;
        async move { call(app, "POST", "/api/me/goals", Some(&t), Some(body)).await }
    };
    for (body, says) in [
        (
            json!({"title": "", "target_minor": 10_000, "currency": "USD"}),
            "title",
        ),
        (
            json!({"title": "Mic", "target_minor": 50, "currency": "USD"}),
            "target_minor",
        ),
        (
            json!({"title": "Mic", "target_minor": 10_000, "currency": "EUR"}),
            "currency",
        ),
        (json!({"title": "Mic", "target_minor": 10_000}), "currency"),
        (
            json!({"title": "Mic", "target_minor": 10_000, "currency": "USD", "deadline": "2001-01-01T00:00:00Z"}),
            "deadline",
        ),
        (
            json!({"title": "Mic", "target_minor": 10_000, "currency": "USD", "deadline": "soon"}),
            "deadline",
        ),
        (
            json!({"title": "Mic", "target_minor": 10_000, "currency": "USD", "colour": "red"}),
            "colour",
        ),
    ] {
        let (s, e) = post(body.clone()).await;
        assert_eq!(s, 422, "{body}: {e}");
        assert!(e.to_string().contains(says), "{body}: {e}");
    }
    let deadline = support::now_secs() * 1000 + 30 * 86_400_000;
    let deadline = ferrocast_server::service::clock::rfc3339(deadline);
    let (s, goal) = post(json!({"title": "  New microphone ", "target_minor": 50_000, "currency": "usd", "deadline": deadline})).await;
    assert_eq!(s, 201, "{goal}");
    assert_eq!(goal["title"], "New microphone");
    assert_eq!(goal["currency"], "USD");
    assert_eq!(
        (
            goal["raised_minor"].clone(),
            goal["percent"].clone(),
            goal["open"].clone()
        ),
        (json!(0), json!(0), json!(true))
    );
    let id = goal["id"].as_str().expect("id").to_string();
    let told = overlay
        .next_named("goal", Duration::from_secs(2))
        .await
        .expect("the overlay hears of the new goal");
    assert_eq!(told.data["id"], id.as_str());

    let (s, list) = call(
        &app,
        "GET",
        &format!("/api/channels/{handle}/goals"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["goals"].as_array().map(Vec::len), Some(1));
    let (s, _) = call(&app, "GET", "/api/channels/nobody_here/goals", None, None).await;
    assert_eq!(s, 404);

    // Five open at most.
    for i in 0..4 {
        let (s, _) =
            post(json!({"title": format!("Goal {i}"), "target_minor": 1_000, "currency": "USD"}))
                .await;
        assert_eq!(s, 201);
    }
    let (s, e) = post(json!({"title": "One more", "target_minor": 1_000, "currency": "USD"})).await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["code"], "TOO_MANY_GOALS");

    // Someone else's goal is not found; changes are checked.
    let other = register_user(&app, "other@example.com", "Other").await;
    let (s, _) = call(
        &app,
        "PATCH",
        &format!("/api/me/goals/{id}"),
        Some(&other),
        Some(json!({"title": "Mine"})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, e) = call(
        &app,
        "PATCH",
        &format!("/api/me/goals/{id}"),
        Some(&creator.token),
        Some(json!({"target_minor": 0})),
    )
    .await;
    assert_eq!(s, 422, "{e}");
    let (s, changed) = call(
        &app,
        "PATCH",
        &format!("/api/me/goals/{id}"),
        Some(&creator.token),
        Some(json!({"title": "Two microphones", "target_minor": 90_000, "deadline": ""})),
    )
    .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(
        (
            changed["title"].clone(),
            changed["target_minor"].clone(),
            changed["deadline"].clone()
        ),
        (json!("Two microphones"), json!(90_000), Value::Null)
    );
    let (s, ended) = call(
        &app,
        "PATCH",
        &format!("/api/me/goals/{id}"),
        Some(&creator.token),
        Some(json!({"end": true})),
    )
    .await;
    assert_eq!(s, 200, "{ended}");
    assert_eq!(ended["open"], false);
    assert!(ended["ended_at"].is_string());
    let (s, e) = call(
        &app,
        "PATCH",
        &format!("/api/me/goals/{id}"),
        Some(&creator.token),
        Some(json!({"title": "Again"})),
    )
    .await;
    assert_eq!(s, 409, "{e}");
    let (_, list) = call(
        &app,
        "GET",
        &format!("/api/channels/{handle}/goals"),
        None,
        None,
    )
    .await;
    assert_eq!(
        list["goals"].as_array().map(Vec::len),
        Some(4),
        "the ended one left the channel"
    );
    let (_, mine) = call(&app, "GET", "/api/me/goals", Some(&creator.token), None).await;
    assert_eq!(
        mine["goals"].as_array().map(Vec::len),
        Some(5),
        "the creator sees it still"
    );
    let (s, _) =
        post(json!({"title": "Room again", "target_minor": 1_000, "currency": "USD"})).await;
    assert_eq!(s, 201, "ending one made room");
    let (s, _) = call(
        &app,
        "DELETE",
        &format!("/api/me/goals/{id}"),
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(
        &app,
        "DELETE",
        &format!("/api/me/goals/{id}"),
        Some(&creator.token),
        None,
    )
    .await;
    assert_eq!(s, 404);
    drop(overlay);
    app.finish().await;
}

async fn tips_are_checked_like_chat_messages(b: Backend) {
    use ferrocast_server::tips::check_tip;
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator = creator_with_source(&app, "maker@example.com").await;
    let viewer = register_user(&app, "fan@example.com", "Fan").await;
    let state = &app.running.as_ref().expect("running").state;
    let maker = state
        .db
        .user_by_email("maker@example.com")
        .await
        .expect("db")
        .expect("maker");
    let fan = state
        .db
        .user_by_email("fan@example.com")
        .await
        .expect("db")
        .expect("fan");
    let check = |amount: i64,
                 currency: &'static str,
                 message: Option<&'static str>,
                 name: Option<&'static str>| {
        let (fan, maker) = (fan.clone(), maker.clone());
        async move { check_tip(state, &fan, &maker, amount, currency, message, name).await }
    };
    let ok = check(500, "usd", Some("  Great\u{202e} stream\n!  "), None)
        .await
        .expect("a tip");
    assert_eq!(ok.currency, "USD");
    assert_eq!(
        ok.message.as_deref(),
        Some("Great stream !"),
        "cleaned as chat is"
    );
    assert_eq!(ok.display_name, "Fan", "their name when they give none");
    let ok = check(100, "USD", Some("   "), Some("  Anon "))
        .await
        .expect("a tip");
    assert_eq!((ok.message, ok.display_name.as_str()), (None, "Anon"));
    let refusal = |r: Result<_, ferrocast_server::error::ApiError>| {
        let e = r.expect_err("refused");
        let body = serde_json::to_value(&e.body).unwrap_or_default();
        (e.status.as_u16(), body.to_string())
    };
    let (s, e) = refusal(check(99, "USD", None, None).await);
    assert!(s == 422 && e.contains("$1.00 to $500.00"), "{s} {e}");
    let (s, e) = refusal(check(50_001, "USD", None, None).await);
    assert!(s == 422 && e.contains("amount_minor"), "{s} {e}");
    let (s, e) = refusal(check(4_999, "INR", None, None).await);
    assert!(s == 422 && e.contains("₹50.00"), "{s} {e}");
    let (s, e) = refusal(check(500, "EUR", None, None).await);
    assert!(s == 422 && e.contains("USD, INR"), "{s} {e}");
    let (s, e) = refusal(check(500, "USD", Some(&*"x".repeat(201).leak()), None).await);
    assert!(s == 422 && e.contains("200"), "{s} {e}");
    let (s, e) = refusal(check_tip(state, &maker, &maker, 500, "USD", None, None).await);
    assert!(s == 422 && e.contains("own channel"), "{s} {e}");

    // The creator's chat rules: a blocked word, no links.
    let (s, body) = call(
        &app,
        "PUT",
        &format!("/api/chat/settings/{}", creator.id),
        Some(&creator.token),
        Some(
            json!({"slow_mode_seconds": 30, "blocked_words": ["spoiler"], "links_allowed": false}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, e) = refusal(check(500, "USD", Some("the SPOILER is"), None).await);
    assert!(
        s == 422 && e.contains("message") && e.contains("does not allow"),
        "{s} {e}"
    );
    let (s, e) = refusal(check(500, "USD", None, Some("spoiler king")).await);
    assert!(s == 422 && e.contains("display_name"), "{s} {e}");
    let (s, e) = refusal(check(500, "USD", Some("see https://example.com"), None).await);
    assert!(s == 422 && e.contains("links"), "{s} {e}");
    check(500, "USD", Some("no spoilers here"), None)
        .await
        .expect("slow mode does not apply, whole words only");

    // Banned (or timed out) in the creator's chat: a tip without a message only.
    let (s, body) = call(
        &app,
        "POST",
        "/api/chat/bans",
        Some(&creator.token),
        Some(json!({"source_id": creator.id, "user_id": fan.uuid, "duration_seconds": 600})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let (s, e) = refusal(check(500, "USD", Some("hello"), None).await);
    assert!(s == 403 && e.contains("without one"), "{s} {e}");
    check(500, "USD", None, None)
        .await
        .expect("without a message");
    drop(viewer);
    app.finish().await;
}

/// The `system` messages of a source's chat.
async fn system_messages(app: &TestApp, source: i64) -> Vec<Value> {
    let (_, m) = call(
        app,
        "GET",
        &format!("/api/chat/messages/{source}"),
        None,
        None,
    )
    .await;
    m["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["message_type"] == "system")
        .cloned()
        .collect()
}

/// A channel's newest open goal, as anyone reads it.
async fn first_goal(app: &TestApp, handle: &str) -> Value {
    call(
        app,
        "GET",
        &format!("/api/channels/{handle}/goals"),
        None,
        None,
    )
    .await
    .1["goals"][0]
        .clone()
}

/// Pays `purchase` as a gateway adapter does once its webhook is verified.
pub(crate) async fn pay(
    app: &TestApp,
    purchase: &ferrocast_db::purchases::PurchaseRecord,
    payment: &str,
    amount: i64,
) {
    use ferrocast_db::billing::GatewayEvent;
    use ferrocast_db::purchases::PaidPayment;
    let state = &app.running.as_ref().expect("running").state;
    let event_id = format!("evt_{payment}");
    let event = GatewayEvent {
        provider: "stripe",
        id: &event_id,
        kind: "checkout.session.completed",
    };
    let paid = state
        .purchases
        .complete(
            Some(&event),
            purchase,
            &PaidPayment {
                provider_payment_id: payment,
                amount_minor: amount,
                currency: &purchase.currency,
                subscription: None,
                period_end: None,
            },
        )
        .await
        .expect("applied");
    assert!(paid, "{payment} credited");
}

/// A purchase as `POST /api/purchases` makes it.
pub(crate) async fn purchase(
    app: &TestApp,
    kind: ferrocast_db::purchases::PurchaseKind,
    buyer: i64,
    creator: i64,
    amount: i64,
    currency: &str,
    message: Option<&str>,
    source: Option<i64>,
) -> ferrocast_db::purchases::PurchaseRecord {
    use ferrocast_server::service::purchases::PurchaseRequest;
    let state = &app.running.as_ref().expect("running").state;
    state
        .purchases
        .create(&PurchaseRequest {
            kind,
            buyer_id: buyer,
            creator_id: creator,
            provider: "stripe",
            amount_minor: amount,
            currency,
            country: None,
            message,
            display_name: Some("Big Fan"),
            tier_id: None,
            video_id: None,
            source_id: source,
        })
        .await
        .expect("purchase")
}

/// Two nodes share a database and Redis. A tip paid on the first (its webhook handled there)
/// reaches an overlay open on the second within 2 s, and the creator's chat once (announcing
/// it again changes nothing); the goal moves with the tip and with a membership's first
/// payment and renewal, not with another currency, and a refund takes its part back; an
/// overlay that reconnects is sent the tip it missed.
async fn a_paid_tip_is_announced_once_on_every_node_and_goals_count_tips_and_memberships(
    b: Backend,
) {
    use ferrocast_db::purchases::PurchaseKind;
    let Some(redis) = crate::connectors::redis_url() else {
        return;
    };
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut opts = support::Options::default();
    opts.extra
        .extend([("redis_url", redis.clone()), ("secret_key", key.clone())]);
    let Some(first) = TestApp::start_with(b, opts).await else {
        return;
    };
    let mut opts = support::Options::default();
    opts.extra.extend([
        ("redis_url", redis),
        ("secret_key", key),
        ("database_url", first.database_url.clone()),
        ("public_url", first.base.clone()),
    ]);
    let second = TestApp::start_with(b, opts).await.expect("second node");
    let creator = creator_with_source(&first, "maker@example.com").await;
    register_user(&first, "fan@example.com", "Fan").await;
    let state = &first.running.as_ref().expect("running").state;
    let maker = state
        .db
        .user_by_email("maker@example.com")
        .await
        .expect("db")
        .expect("maker");
    let fan = state
        .db
        .user_by_email("fan@example.com")
        .await
        .expect("db")
        .expect("fan");
    let (s, goal) = call(
        &first,
        "POST",
        "/api/me/goals",
        Some(&creator.token),
        Some(json!({"title": "New microphone", "target_minor": 10_000, "currency": "USD"})),
    )
    .await;
    assert_eq!(s, 201, "{goal}");
    let token = overlay_token(&first, &creator.token).await;
    let mut overlay =
        EventStream::open(&second, &format!("/api/overlay/{token}/events"), None).await;
    let goals = overlay.next(Duration::from_secs(5)).await.expect("goals");
    assert_eq!(goals.data[0]["raised_minor"], 0, "{goals:?}");

    let tip = purchase(
        &first,
        PurchaseKind::Tip,
        fan.id,
        maker.id,
        1_500,
        "USD",
        Some("Love the stream!"),
        None,
    )
    .await;
    let paid_at = Instant::now();
    pay(&first, &tip, "pi_tip_1", 1_500).await;
    let alert = overlay
        .next_named("tip", Duration::from_secs(2))
        .await
        .expect("the other node's overlay within 2 s of the payment");
    assert!(
        paid_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        paid_at.elapsed()
    );
    assert_eq!(alert.id.as_deref(), Some(tip.uuid.as_str()));
    assert_eq!(alert.data["name"], "Big Fan");
    assert_eq!(alert.data["amount"], "$15.00");
    assert_eq!(alert.data["amount_minor"], 1_500);
    assert_eq!(alert.data["message"], "Love the stream!");
    assert_eq!(alert.data["test"], false);
    let moved = overlay
        .next_named("goal", Duration::from_secs(5))
        .await
        .expect("the goal moves");
    assert_eq!(
        (
            moved.data["raised_minor"].clone(),
            moved.data["percent"].clone(),
            moved.data["contributions"].clone()
        ),
        (json!(1_500), json!(15), json!(1))
    );

    // The creator's chat, once; a second announcement (a redelivered notice) adds nothing.
    let mut said = Vec::new();
    for _ in 0..50 {
        said = system_messages(&second, creator.id).await;
        if !said.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0]["message_text"], "tipped $15.00: Love the stream!");
    assert_eq!(said[0]["author_name"], "Big Fan");
    assert_eq!(said[0]["metadata"]["badges"], json!(["tip"]));
    assert_eq!(said[0]["metadata"]["tip"]["amount_minor"], 1_500);
    let paid = state
        .db
        .purchase_by_uuid(&tip.uuid)
        .await
        .expect("db")
        .expect("tip");
    let other = &second.running.as_ref().expect("running").state;
    ferrocast_server::tips::on_paid(other, &paid)
        .await
        .expect("again");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        system_messages(&first, creator.id).await.len(),
        1,
        "still one message"
    );

    // A membership's first payment and its renewal count; a tip in rupees does not.
    let member = purchase(
        &first,
        PurchaseKind::Membership,
        fan.id,
        maker.id,
        1_000,
        "USD",
        None,
        None,
    )
    .await;
    pay(&first, &member, "in_member_1", 1_000).await;
    let member = state
        .db
        .purchase_by_uuid(&member.uuid)
        .await
        .expect("db")
        .expect("membership");
    pay(&first, &member, "in_member_2", 1_000).await;
    let rupees = purchase(
        &first,
        PurchaseKind::Tip,
        fan.id,
        maker.id,
        50_000,
        "INR",
        None,
        None,
    )
    .await;
    pay(&first, &rupees, "pay_inr_1", 50_000).await;
    let (_, me) = call(&first, "GET", "/api/auth/me", Some(&creator.token), None).await;
    let handle = me["handle"]
        .as_str()
        .or(me["user"]["handle"].as_str())
        .expect("handle")
        .to_string();
    let g = first_goal(&second, &handle).await;
    assert_eq!(
        (g["raised_minor"].clone(), g["contributions"].clone()),
        (json!(3_500), json!(3)),
        "{g}"
    );
    let mut last = Value::Null;
    while let Some(e) = overlay.next_named("goal", Duration::from_secs(2)).await {
        last = e.data;
    }
    assert_eq!(last["raised_minor"], 3_500, "the overlay followed");

    // A refund of the tip takes it back.
    let refunded = state
        .purchases
        .reverse(
            None,
            "stripe",
            "pi_tip_1",
            &ferrocast_db::purchases::Reversal {
                chargeback: false,
                id: "re_1",
                amount_minor: None,
                running_total: false,
            },
        )
        .await
        .expect("refund");
    assert!(refunded);
    let g = first_goal(&first, &handle).await;
    assert_eq!(
        (g["raised_minor"].clone(), g["contributions"].clone()),
        (json!(2_000), json!(2)),
        "{g}"
    );

    // An overlay that reconnects (its last alert a test one) is sent what it missed — only
    // tips still paid.
    let rupees_paid = state
        .db
        .purchase_by_uuid(&rupees.uuid)
        .await
        .expect("db")
        .expect("inr");
    let mut again = EventStream::open(
        &first,
        &format!("/api/overlay/{token}/events"),
        Some("test-abc"),
    )
    .await;
    assert_eq!(
        again
            .next(Duration::from_secs(5))
            .await
            .expect("goals")
            .event,
        "goals"
    );
    let missed = again
        .next(Duration::from_secs(5))
        .await
        .expect("the missed tip");
    assert_eq!(
        (missed.event.as_str(), missed.id.as_deref()),
        ("tip", Some(rupees_paid.uuid.as_str()))
    );
    assert_eq!(missed.data["amount"], "₹500.00");
    let (_, list) = call(&first, "GET", "/api/me/tips", Some(&creator.token), None).await;
    let statuses: Vec<&str> = list["tips"]
        .as_array()
        .expect("tips")
        .iter()
        .filter_map(|t| t["status"].as_str())
        .collect();
    assert_eq!(statuses, ["paid", "refunded"], "{list}");
    drop((overlay, again));
    second.finish().await;
    first.finish().await;
}

/// Runs a scenario of `web/e2e/run.mjs` in Debian's Chromium; its report.
async fn browser_scenario(params: Value) -> Value {
    let web = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web");
    assert!(
        web.join("dist/index.html").exists() && web.join("node_modules/playwright-core").exists(),
        "the web app must be built and its test tools installed: run scripts/test.sh"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Debian's Chromium is required at {chromium}: run scripts/test.sh"
    );
    let out = tokio::process::Command::new("node")
        .arg(web.join("e2e/run.mjs"))
        .arg(params.to_string())
        .env("CHROMIUM", &chromium)
        .output()
        .await
        .expect("node runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the e2e run printed no report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success(),
        "e2e failed (screenshots in {}): {report:#}\n{}",
        params["shots"],
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// In Chromium: a viewer tips from the watch page through Stripe's stand-in (Checkout in
/// payment mode, the webhook signed by Stripe's library); the creator's overlay (OBS's browser
/// source, a transparent page) shows the alert within 2 s of the webhook being applied, the
/// creator's chat on the dashboard says it, and the goal's bar moves on the overlay and on the
/// channel. Screenshots at 1280 and 390 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tip_alerts_the_overlay_the_chat_and_the_goal_in_a_real_browser() {
    let (gateways, addr) = support::checkout::start().await;
    let app = TestApp::start_with(Backend::Sqlite, support::checkout::options(addr))
        .await
        .expect("sqlite always runs");
    support::checkout::set_node(&gateways, &app.url(""));
    let creator = creator_with_source(&app, "ada@example.com").await;
    let (s, body) = call(
        &app,
        "PATCH",
        "/api/me/profile",
        Some(&creator.token),
        Some(json!({"handle": "ada_plays", "display_name": "Ada Plays"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    register_user(&app, "fan@example.com", "Fan").await;
    let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/web-shots");
    let report = browser_scenario(json!({
        "url": app.url(""),
        "shots": shots,
        "scenario": "tips",
        "timeoutMs": 120_000,
        "accounts": { "creator": { "email": "ada@example.com" }, "viewer": { "email": "fan@example.com" } },
        "playbackId": creator.playback_id,
        "handle": "ada_plays",
    }))
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "goal and overlay addresses",
            "overlays open",
            "checkout",
            "paid",
            "overlay alert",
            "chat",
            "goal moved",
            "channel and dashboard"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    assert_eq!(
        report["transparent"],
        json!(["rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0)"]),
        "{report:#}"
    );
    assert_eq!(report["sendLabel"], "Tip $12.50");
    assert!(
        report["stripePage"]
            .as_str()
            .is_some_and(|t| t.contains("12.50 USD") && t.contains("once")),
        "{report:#}"
    );
    assert_eq!(report["goalBefore"], "0");

    // What Stripe was asked for, and what was paid.
    let (session, purchase_id) = {
        let seen = support::checkout::seen(&gateways);
        let s = seen.sessions.last().expect("a Checkout Session").clone();
        let id = s.get("client_reference_id").cloned().expect("the purchase");
        (s, id)
    };
    assert_eq!(session.get("mode").map(String::as_str), Some("payment"));
    assert_eq!(
        session
            .get("line_items[0][price_data][unit_amount]")
            .map(String::as_str),
        Some("1250")
    );
    let state = &app.running.as_ref().expect("running").state;
    let paid = state
        .db
        .purchase_by_uuid(&purchase_id)
        .await
        .expect("db")
        .expect("the purchase");
    assert_eq!((paid.kind.as_str(), paid.status.as_str()), ("tip", "paid"));
    assert_eq!(paid.message.as_deref(), Some("Loved the synth solo!"));

    // The alert: the purchase's, with its words, within 2 s of the webhook being applied.
    let alert = &report["alert"];
    assert_eq!(alert["id"], purchase_id.as_str(), "{report:#}");
    assert_eq!(alert["name"], "Ada's biggest fan");
    assert_eq!(alert["amount"], "$12.50");
    assert_eq!(alert["message"], "Loved the synth solo!");
    let shown = alert["shownAt"].as_i64().expect("shownAt");
    let paid_at = paid.paid_at.expect("paid_at");
    assert!(
        shown >= paid_at - 50 && shown - paid_at <= 2_000,
        "the overlay showed the alert {} ms after the webhook was applied",
        shown - paid_at
    );
    assert!(
        report["chat"]
            .as_str()
            .is_some_and(|t| t.contains("Ada's biggest fan")
                && t.contains("tipped $12.50: Loved the synth solo!")),
        "{report:#}"
    );
    assert_eq!(report["goalAfter"]["percent"], "25%", "{report:#}");
    for name in [
        "tip-dialog",
        "overlay-alert",
        "tip-chat",
        "overlay-goal",
        "channel-tips",
        "tips-dashboard",
    ] {
        for size in ["desktop", "phone"] {
            let f = shots.join(format!("{name}-{size}.png"));
            assert!(f.exists(), "{} saved", f.display());
        }
    }
    app.finish().await;
}
