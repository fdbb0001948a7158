//! Telegram sign-in data (`ferrocast_auth::telegram`) checked against hashes computed
//! independently, by Python's `hmac` and `hashlib` as Telegram's documentation says
//! (`tests/py/sign.py`): the Login Widget's fields and a Mini App's whole `initData` (encoded by
//! Python's `urllib`) pass; an altered field, another bot's token, a stale or a future
//! `auth_date` are refused. Over the API, on both databases: the widget's data signs a new
//! account in (a placeholder address, no password), the same Telegram account signs in to it
//! again from a Mini App, a signed-in user links another Telegram account, and refusals say why.

use crate::support::{self, call, gateway_signatures, now_secs, Backend, Options, TestApp};
use ferrocast_auth::telegram::{
    verify_init_data, verify_login_widget, widget_fields, TelegramError, DEFAULT_MAX_AGE_SECS,
};
use serde_json::{json, Value};

pub(crate) const TOKEN: &str = "7012345678:AAHx-test-token_for_ferrocast";

pub(crate) fn signed(requests: Value) -> Vec<String> {
    let out = gateway_signatures(&json!({ "telegram": requests }));
    out["telegram"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(|h| h.as_str().expect("text").to_string())
        .collect()
}

#[test]
fn login_widget_and_init_data_verify_as_telegram_documents() {
    let now = now_secs();
    let auth_date = (now - 120).to_string();
    let widget = json!({
        "id": "424242",
        "first_name": "Ада 🚀",
        "last_name": "Lovelace",
        "username": "ada_l",
        "photo_url": "https://t.me/i/userpic/320/ada.jpg",
        "auth_date": auth_date,
    });
    let user = json!({"id": 424242, "first_name": "Ада 🚀", "username": "ada_l", "language_code": "en", "allows_write_to_pm": true}).to_string();
    let webapp = json!({"query_id": "AAHdF6IQAAAAAN0XohDhrOrc", "user": user, "auth_date": auth_date, "start_param": "live=ada & co"});
    let out = signed(json!([
        {"bot_token": TOKEN, "fields": widget, "webapp": false},
        {"bot_token": TOKEN, "fields": webapp, "webapp": true},
        {"bot_token": "111:another-bot", "fields": widget, "webapp": false},
    ]));

    // The widget's fields as its JavaScript callback hands them over: numbers as numbers.
    let mut as_sent = widget.clone();
    as_sent["id"] = json!(424242);
    as_sent["auth_date"] = json!(now - 120);
    as_sent["hash"] = json!(out[0]);
    let fields = widget_fields(&as_sent).expect("fields");
    let u = verify_login_widget(&fields, TOKEN, now, DEFAULT_MAX_AGE_SECS).expect("valid");
    assert_eq!(u.id, 424242);
    assert_eq!(u.first_name, "Ада 🚀");
    assert_eq!(u.username.as_deref(), Some("ada_l"));
    assert_eq!(
        u.photo_url.as_deref(),
        Some("https://t.me/i/userpic/320/ada.jpg")
    );

    // Altered, another bot's, stale, from the future.
    let mut altered = as_sent.clone();
    altered["username"] = json!("eve");
    assert_eq!(
        verify_login_widget(
            &widget_fields(&altered).expect("f"),
            TOKEN,
            now,
            DEFAULT_MAX_AGE_SECS
        ),
        Err(TelegramError::BadHash)
    );
    let mut other = as_sent.clone();
    other["hash"] = json!(out[2]);
    assert_eq!(
        verify_login_widget(
            &widget_fields(&other).expect("f"),
            TOKEN,
            now,
            DEFAULT_MAX_AGE_SECS
        ),
        Err(TelegramError::BadHash),
        "signed for another bot"
    );
    assert_eq!(
        verify_login_widget(
            &fields,
            TOKEN,
            now + DEFAULT_MAX_AGE_SECS + 1,
            DEFAULT_MAX_AGE_SECS
        ),
        Err(TelegramError::Stale(DEFAULT_MAX_AGE_SECS + 121))
    );
    assert_eq!(
        verify_login_widget(&fields, TOKEN, now - 3600, DEFAULT_MAX_AGE_SECS),
        Err(TelegramError::Future)
    );

    // The Mini App's initData, exactly as Python encoded it.
    let init_data = &out[1];
    let d = verify_init_data(init_data, TOKEN, now, DEFAULT_MAX_AGE_SECS).expect("valid");
    assert_eq!(d.user.id, 424242);
    assert_eq!(d.user.first_name, "Ада 🚀");
    assert_eq!(d.query_id.as_deref(), Some("AAHdF6IQAAAAAN0XohDhrOrc"));
    assert_eq!(d.start_param.as_deref(), Some("live=ada & co"));
    assert_eq!(
        verify_init_data(init_data, "111:another-bot", now, DEFAULT_MAX_AGE_SECS),
        Err(TelegramError::BadHash)
    );
    let tampered = init_data.replace("ada_l", "eve__");
    assert_ne!(&tampered, init_data);
    assert_eq!(
        verify_init_data(&tampered, TOKEN, now, DEFAULT_MAX_AGE_SECS),
        Err(TelegramError::BadHash)
    );
    assert!(matches!(
        verify_init_data(
            init_data,
            TOKEN,
            now + 2 * DEFAULT_MAX_AGE_SECS,
            DEFAULT_MAX_AGE_SECS
        ),
        Err(TelegramError::Stale(_))
    ));
    // The widget's hash does not sign a Mini App's data (the secrets differ).
    let widget_hash_on_webapp = format!(
        "{}&hash={}",
        init_data.rsplit_once("&hash=").expect("hash last").0,
        out[0]
    );
    assert_eq!(
        verify_init_data(&widget_hash_on_webapp, TOKEN, now, DEFAULT_MAX_AGE_SECS),
        Err(TelegramError::BadHash)
    );
}

both_backends!(sign_in_link_and_refusals_over_the_api);

async fn sign_in_link_and_refusals_over_the_api(b: Backend) {
    let mut opts = Options::default();
    opts.extra.push(("telegram_bot_token", TOKEN.to_string()));
    opts.extra
        .push(("telegram_bot_username", "ferrocast_test_bot".to_string()));
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let now = now_secs();
    let ada = json!({"id": "5550001", "first_name": "Ada", "last_name": "Lovelace", "username": "ada_l", "auth_date": (now - 30).to_string()});
    let bob = json!({"id": "5550002", "first_name": "Bob", "auth_date": (now - 30).to_string()});
    let ada_user = json!({"id": 5550001, "first_name": "Ada"}).to_string();
    let out = signed(json!([
        {"bot_token": TOKEN, "fields": ada, "webapp": false},
        {"bot_token": TOKEN, "fields": {"user": ada_user, "auth_date": (now - 30).to_string()}, "webapp": true},
        {"bot_token": TOKEN, "fields": bob, "webapp": false},
    ]));
    let with_hash = |mut v: Value, h: &str| {
        v["hash"] = json!(h);
        v
    };
    // A new account from the widget.
    let (status, body) = call(
        &app,
        "POST",
        "/api/auth/telegram",
        None,
        Some(with_hash(ada.clone(), &out[0])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token").to_string();
    assert_eq!(body["user"]["display_name"], "Ada Lovelace");
    assert_eq!(body["user"]["email"], "telegram-5550001@telegram.invalid");
    let id = body["user"]["id"].clone();
    // The same Telegram account, from a Mini App: the same account.
    let (status, body) = call(
        &app,
        "POST",
        "/api/auth/telegram/webapp",
        None,
        Some(json!({"init_data": out[1]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], id);
    // Altered data is refused, and says why.
    let (status, body) = call(&app, "POST", "/api/auth/telegram", None, Some(with_hash(json!({"id": "5550001", "first_name": "Eve", "last_name": "Lovelace", "username": "ada_l", "auth_date": (now - 30).to_string()}), &out[0]))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("TELEGRAM_REFUSED")),
        "{body}"
    );
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("altered"),
        "{body}"
    );
    // Signed in, another Telegram account is linked to the caller's…
    let (status, body) = call(
        &app,
        "POST",
        "/api/auth/telegram",
        Some(&token),
        Some(with_hash(bob.clone(), &out[2])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["message"], "Telegram is linked: you can sign in with it.",
        "no new session: {body}"
    );
    assert!(body.get("access_token").is_none(), "{body}");
    let (status, body) = call(
        &app,
        "POST",
        "/api/auth/telegram",
        None,
        Some(with_hash(bob.clone(), &out[2])),
    )
    .await;
    assert_eq!(
        (status, &body["user"]["id"]),
        (200, &id),
        "Bob's Telegram signs in to the same account: {body}"
    );
    // … but one linked elsewhere is not taken over.
    let other = support::register_user(&app, "carol@example.com", "Carol").await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/auth/telegram",
        Some(&other),
        Some(with_hash(bob.clone(), &out[2])),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("IDENTITY_TAKEN")),
        "{body}"
    );
    // An API key cannot add a way to sign in (refused before anything else is looked at).
    let (status, key) = call(
        &app,
        "POST",
        "/api/auth/api-keys",
        Some(&other),
        Some(json!({"name": "bot", "scopes": ["profile:read"], "password": "password123"})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let (status, body) = call(
        &app,
        "POST",
        "/api/auth/telegram",
        key["key"].as_str(),
        Some(with_hash(bob, &out[2])),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    app.finish().await;

    // Without a bot token, Telegram sign-in is off and says how to turn it on.
    let Some(off) = TestApp::start(b).await else {
        return;
    };
    let (status, body) = call(
        &off,
        "POST",
        "/api/auth/telegram",
        None,
        Some(json!({"id": 1, "auth_date": now, "hash": "00"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("TELEGRAM_OFF")),
        "{body}"
    );
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("FERROCAST_TELEGRAM_BOT_TOKEN"),
        "{body}"
    );
    off.finish().await;
}
