//! The HTTP API against a real node, on SQLite and on PostgreSQL.

use crate::support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{client, client_from, Backend, Options, TestApp};

both_backends!(
    register_login_me_refresh_and_reuse_detection,
    logout_ends_the_session,
    email_verification_and_password_reset,
    totp_enable_and_two_step_login,
    api_keys_scoped_listed_revoked,
    auth_request_probe,
    hostile_input_gets_clear_errors,
    bad_logins_are_rate_limited_per_address,
    jwt_attack_corpus_is_refused,
    operations_endpoints,
    cors_follows_configuration,
    account_recovery_revokes_api_keys_and_codes_are_capped,
    sensitive_changes_need_the_password,
    api_rate_limit_spares_the_auth_request_probe,
    extractor_rejections_use_the_error_body,
    every_route_declares_its_access_and_keys_keep_to_their_scopes,
    admin_keys_without_the_admin_scope_act_as_anyone,
    failures_are_counted_per_account_across_addresses,
    metrics_need_the_token_or_loopback,
    event_streams_end_when_the_credential_does,
    request_ids_from_callers_are_checked,
    moderators_cannot_ban_the_owner_or_an_administrator,
    a_password_change_ends_the_other_sessions,
);

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let res = client()
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn post_auth(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let res = client()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get_auth(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let res = client()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn register(app: &TestApp, email: &str, password: &str) -> Value {
    let (status, body) = post(
        app,
        "/api/auth/register",
        json!({"email": email, "password": password, "display_name": "Test User"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(
        body["details"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
}

async fn register_login_me_refresh_and_reuse_detection(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "Ana@Example.com", "correct horse battery").await;
    assert_eq!(reg["user"]["email"], "ana@example.com");
    assert_eq!(reg["user"]["role"], "creator");
    assert_eq!(reg["token"], reg["access_token"]);
    assert_eq!(reg["expires_in"], 900);

    let (status, dup) = post(
        &app,
        "/api/auth/register",
        json!({"email": "ana@example.com", "password": "another password", "display_name": "X"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&dup, "EMAIL_TAKEN");

    let (status, bad) = post(
        &app,
        "/api/auth/login",
        json!({"email": "ana@example.com", "password": "wrong password"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&bad, "INVALID_CREDENTIALS");
    let (status, unknown) = post(
        &app,
        "/api/auth/login",
        json!({"email": "nobody@example.com", "password": "wrong password"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown, bad,
        "unknown email and wrong password look the same"
    );

    let (status, login) = post(
        &app,
        "/api/auth/login",
        json!({"email": "ANA@example.com", "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let access = login["access_token"].as_str().expect("access");
    let (status, me) = get_auth(&app, "/api/auth/me", access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "ana@example.com");
    assert_eq!(me["id"], reg["user"]["id"]);
    assert!(me.get("password_hash").is_none());

    let r1 = login["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let (status, second) = post(&app, "/api/auth/refresh", json!({"refresh_token": r1})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    assert_ne!(r1, r2, "refresh tokens rotate");
    let a2 = second["access_token"].as_str().expect("access").to_string();
    assert_eq!(get_auth(&app, "/api/auth/me", &a2).await.0, StatusCode::OK);

    // Reusing the spent token: refused, and the whole family is revoked.
    let (status, reuse) = post(&app, "/api/auth/refresh", json!({"refresh_token": r1})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&reuse, "REFRESH_TOKEN_REUSED");
    let (status, after) = post(&app, "/api/auth/refresh", json!({"refresh_token": r2})).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the successor dies with its family"
    );
    assert_error(&after, "INVALID_REFRESH_TOKEN");
    assert_eq!(
        get_auth(&app, "/api/auth/me", &a2).await.0,
        StatusCode::UNAUTHORIZED,
        "access tokens of the family stop too"
    );
    assert_eq!(
        get_auth(&app, "/api/auth/me", access).await.0,
        StatusCode::UNAUTHORIZED
    );

    // The registration session is a different family and still works.
    let reg_access = reg["access_token"].as_str().expect("access");
    assert_eq!(
        get_auth(&app, "/api/auth/me", reg_access).await.0,
        StatusCode::OK
    );
    assert_eq!(
        post(
            &app,
            "/api/auth/refresh",
            json!({"refresh_token": "fcr_unknown"})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    app.finish().await;
}

async fn logout_ends_the_session(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "leo@example.com", "password1234").await;
    let access = reg["access_token"].as_str().expect("access");
    let (status, _) = post_auth(&app, "/api/auth/logout", access, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get_auth(&app, "/api/auth/me", access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "UNAUTHENTICATED");
    assert_eq!(
        post(
            &app,
            "/api/auth/refresh",
            json!({"refresh_token": reg["refresh_token"]})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    app.finish().await;
}

async fn email_verification_and_password_reset(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "mia@example.com", "first password").await;
    assert_eq!(reg["user"]["email_verified"], false);
    let code = app
        .inbox
        .code_for("mia@example.com", "verification code")
        .await;

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = post(
        &app,
        "/api/auth/verify-email",
        json!({"email": "mia@example.com", "verification_code": wrong}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "INVALID_CODE");
    let (status, _) = post(
        &app,
        "/api/auth/verify-email",
        json!({"email": "mia@example.com", "verification_code": code}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, me) = get_auth(
        &app,
        "/api/auth/me",
        reg["access_token"].as_str().expect("a"),
    )
    .await;
    assert_eq!(me["email_verified"], true);
    // A code works once; an already verified email answers as an unknown one does (the
    // answer does not tell which emails have accounts).
    let (status, again) = post(
        &app,
        "/api/auth/verify-email",
        json!({"email": "mia@example.com", "verification_code": code}),
    )
    .await;
    let (_, unknown) = post(
        &app,
        "/api/auth/verify-email",
        json!({"email": "nobody-here@example.com", "verification_code": code}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again, unknown, "known and unknown emails answer alike");

    // Forgot-password answers the same for unknown emails and sends nothing.
    let (s1, unknown) = post(
        &app,
        "/api/auth/forgot-password",
        json!({"email": "ghost@example.com"}),
    )
    .await;
    let (s2, known) = post(
        &app,
        "/api/auth/forgot-password",
        json!({"email": "mia@example.com"}),
    )
    .await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(unknown, known);
    let reset = app
        .inbox
        .code_for("mia@example.com", "password reset code")
        .await;
    assert!(!app
        .inbox
        .all()
        .iter()
        .any(|m| m.contains("ghost@example.com")));

    let (status, body) = post(
        &app,
        "/api/auth/reset-password",
        json!({"email": "mia@example.com", "code": reset, "new_password": "short"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "VALIDATION_ERROR");
    let (status, body) = post(
        &app,
        "/api/auth/reset-password",
        json!({"email": "mia@example.com", "code": reset, "new_password": "second password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Every earlier session ended; only the new password works.
    assert_eq!(
        get_auth(
            &app,
            "/api/auth/me",
            reg["access_token"].as_str().expect("a")
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(
            &app,
            "/api/auth/login",
            json!({"email": "mia@example.com", "password": "first password"})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(
            &app,
            "/api/auth/login",
            json!({"email": "mia@example.com", "password": "second password"})
        )
        .await
        .0,
        StatusCode::OK
    );
    // The reset code cannot be replayed.
    let (status, _) = post(
        &app,
        "/api/auth/reset-password",
        json!({"email": "mia@example.com", "code": reset, "new_password": "third password"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Five wrong guesses void a code.
    post(
        &app,
        "/api/auth/forgot-password",
        json!({"email": "mia@example.com"}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let code = app
        .inbox
        .code_for("mia@example.com", "password reset code")
        .await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        post(
            &app,
            "/api/auth/reset-password",
            json!({"email": "mia@example.com", "code": wrong, "new_password": "third password"}),
        )
        .await;
    }
    let (status, _) = post(
        &app,
        "/api/auth/reset-password",
        json!({"email": "mia@example.com", "code": code, "new_password": "third password"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the right code after five wrong guesses is refused"
    );
    app.finish().await;
}

/// TOTP code computed by Debian's `oathtool` (an independent RFC 6238 implementation) for
/// `offset` seconds from now.
fn oathtool(secret: &str, offset: i64) -> String {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
        + offset;
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", "--now", &format!("@{at}"), secret])
        .output()
        .expect(
            "oathtool must be installed (scripts/test.sh installs it: apt-get install oathtool)",
        );
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string()
}

async fn totp_enable_and_two_step_login(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "zoe@example.com", "zoe password").await;
    let access = reg["access_token"].as_str().expect("a");
    let (status, setup) = post_auth(&app, "/api/auth/2fa/setup", access, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{setup}");
    let secret = setup["secret"].as_str().expect("secret").to_string();
    let uri = setup["otpauth_uri"].as_str().expect("uri");
    assert!(
        uri.starts_with("otpauth://totp/ferrocast:zoe@example.com?secret="),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")));

    let (status, body) = post_auth(
        &app,
        "/api/auth/2fa/enable",
        access,
        json!({"code": "000000", "password": "zoe password"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let now_code = oathtool(&secret, 0);
    let (status, enabled) = post_auth(
        &app,
        "/api/auth/2fa/enable",
        access,
        json!({"code": now_code, "password": "zoe password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    let recovery: Vec<String> =
        serde_json::from_value(enabled["recovery_codes"].clone()).expect("codes");
    assert_eq!(recovery.len(), 10);

    // Password alone no longer logs in.
    let (status, step1) = post(
        &app,
        "/api/auth/login",
        json!({"email": "zoe@example.com", "password": "zoe password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(step1["mfa_required"], true);
    assert!(step1.get("access_token").is_none());
    let challenge = step1["mfa_token"].as_str().expect("challenge").to_string();

    // The code used to enable is spent: not accepted twice.
    let (status, body) = post(
        &app,
        "/api/auth/login/2fa",
        json!({"mfa_token": challenge, "code": now_code}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_error(&body, "CODE_ALREADY_USED");
    // The next step's code (within the ±1 step window) works, once.
    let next_code = oathtool(&secret, 30);
    let (status, tokens) = post(
        &app,
        "/api/auth/login/2fa",
        json!({"mfa_token": challenge, "code": next_code}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        get_auth(
            &app,
            "/api/auth/me",
            tokens["access_token"].as_str().expect("a")
        )
        .await
        .1["two_factor_enabled"],
        true
    );
    let (_, step1) = post(
        &app,
        "/api/auth/login",
        json!({"email": "zoe@example.com", "password": "zoe password"}),
    )
    .await;
    let challenge2 = step1["mfa_token"].as_str().expect("challenge").to_string();
    let (status, _) = post(
        &app,
        "/api/auth/login/2fa",
        json!({"mfa_token": challenge2, "code": next_code}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a TOTP code is accepted once"
    );
    // A used challenge cannot be replayed.
    assert_eq!(
        post(
            &app,
            "/api/auth/login/2fa",
            json!({"mfa_token": challenge, "code": oathtool(&secret, 30)})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // Recovery codes: each works once, in any case and with or without dashes.
    let (status, tokens) = post(
        &app,
        "/api/auth/login/2fa",
        json!({"mfa_token": challenge2, "recovery_code": recovery[0].to_uppercase()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (_, step1) = post(
        &app,
        "/api/auth/login",
        json!({"email": "zoe@example.com", "password": "zoe password"}),
    )
    .await;
    let challenge3 = step1["mfa_token"].as_str().expect("challenge").to_string();
    assert_eq!(
        post(
            &app,
            "/api/auth/login/2fa",
            json!({"mfa_token": challenge3, "recovery_code": recovery[0]})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    // Five wrong codes void the challenge.
    for _ in 0..5 {
        post(
            &app,
            "/api/auth/login/2fa",
            json!({"mfa_token": challenge3, "code": "000000"}),
        )
        .await;
    }
    assert_eq!(
        post(
            &app,
            "/api/auth/login/2fa",
            json!({"mfa_token": challenge3, "recovery_code": recovery[1]})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // Disable needs password and a code.
    let session = tokens["access_token"].as_str().expect("a");
    let (status, _) = post_auth(
        &app,
        "/api/auth/2fa/disable",
        session,
        json!({"password": "wrong", "code": recovery[2]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = post_auth(
        &app,
        "/api/auth/2fa/disable",
        session,
        json!({"password": "zoe password", "code": recovery[2]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, plain) = post(
        &app,
        "/api/auth/login",
        json!({"email": "zoe@example.com", "password": "zoe password"}),
    )
    .await;
    assert!(plain["access_token"].is_string(), "{plain}");
    app.finish().await;
}

async fn api_keys_scoped_listed_revoked(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "kai@example.com", "kai password").await;
    let access = reg["access_token"].as_str().expect("a");

    let (status, body) = post_auth(
        &app,
        "/api/auth/api-keys",
        access,
        json!({"name": "bot", "scopes": ["admin"], "password": "kai password"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a creator cannot grant admin: {body}"
    );
    let (status, body) = post_auth(
        &app,
        "/api/auth/api-keys",
        access,
        json!({"name": "bot", "scopes": ["nope"], "password": "kai password"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, created) = post_auth(
        &app,
        "/api/auth/api-keys",
        access,
        json!({"name": "OBS plugin", "scopes": ["profile:read", "streams:read"], "password": "kai password"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().expect("key").to_string();
    assert!(key.starts_with("fck_"));
    let uuid = created["api_key"]["uuid"]
        .as_str()
        .expect("uuid")
        .to_string();
    let (_, narrow) = post_auth(
        &app,
        "/api/auth/api-keys",
        access,
        json!({"name": "narrow", "scopes": ["streams:read"], "password": "kai password"}),
    )
    .await;
    let narrow_key = narrow["key"].as_str().expect("key").to_string();

    // Listed without the secret.
    let res = client()
        .get(app.url("/api/auth/api-keys"))
        .bearer_auth(access)
        .send()
        .await
        .expect("list");
    let text = res.text().await.expect("text");
    assert!(
        !text.contains(&key) && !text.contains(&narrow_key),
        "keys are shown once"
    );
    let list: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(list["api_keys"].as_array().expect("array").len(), 2);
    assert_eq!(
        list["api_keys"][1]["scopes"],
        json!(["profile:read", "streams:read"])
    );

    // Usable as Bearer, within its scopes.
    let (status, me) = get_auth(&app, "/api/auth/me", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "kai@example.com");
    let (status, body) = get_auth(&app, "/api/auth/me", &narrow_key).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "INSUFFICIENT_SCOPE");
    // Keys cannot mint keys or end sessions.
    assert_eq!(
        post_auth(
            &app,
            "/api/auth/api-keys",
            &key,
            json!({"name": "x", "scopes": ["profile:read"], "password": "kai password"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // Stored hashed: the database never holds the key.
    let db = &app.running.as_ref().expect("running").state.db;
    let rows = ferrocast_db::on_pool!(db, p => sqlx::query_scalar::<_, String>("SELECT key_hash FROM api_keys").fetch_all(p).await.expect("rows"));
    assert!(rows.iter().all(|h| h.len() == 64 && !h.contains("fck_")));

    // Revoked keys stop working.
    let res = client()
        .delete(app.url(&format!("/api/auth/api-keys/{uuid}")))
        .bearer_auth(access)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        get_auth(&app, "/api/auth/me", &key).await.0,
        StatusCode::UNAUTHORIZED
    );
    let res = client()
        .delete(app.url(&format!("/api/auth/api-keys/{uuid}")))
        .bearer_auth(access)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.finish().await;
}

async fn auth_request_probe(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let res = client()
        .get(app.url("/api/auth/verify"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let reg = register(&app, "ivy@example.com", "ivy password").await;
    let access = reg["access_token"].as_str().expect("a");
    let res = client()
        .get(app.url("/api/auth/verify"))
        .bearer_auth(access)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-user-email"], "ivy@example.com");
    assert_eq!(res.headers()["x-user-role"], "creator");
    assert_eq!(
        res.headers()["x-user-id"],
        reg["user"]["id"].to_string().as_str()
    );
    let res = client()
        .get(app.url("/api/auth/verify?role=admin"))
        .bearer_auth(access)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client()
        .get(app.url("/api/auth/verify?role=creator"))
        .bearer_auth(access)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::OK);
    let res = client()
        .get(app.url("/api/auth/verify"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.finish().await;
}

async fn hostile_input_gets_clear_errors(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let c = client();
    let register_url = app.url("/api/auth/register");

    let res = c
        .post(&register_url)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_error(&res.json().await.expect("json"), "INVALID_JSON");

    let res = c
        .post(&register_url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(&res.json().await.expect("json"), "UNSUPPORTED_MEDIA_TYPE");
    let res = c.post(&register_url).body("{}").send().await.expect("req");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let big = format!("{{\"email\": \"{}\"}}", "a".repeat(10 * 1024 * 1024));
    let res = c
        .post(&register_url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&res.json().await.expect("json"), "PAYLOAD_TOO_LARGE");

    let long_email = format!("{}@example.com", "a".repeat(10_000));
    let (status, body) = post(
        &app,
        "/api/auth/register",
        json!({"email": long_email, "password": "password123", "display_name": "A"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "VALIDATION_ERROR");
    assert!(
        body["details"].as_str().expect("d").starts_with("email:"),
        "{body}"
    );
    assert!(
        body["details"].as_str().expect("d").len() < 300,
        "details never echo huge input"
    );

    let (status, body) = post(
        &app,
        "/api/auth/register",
        json!({"email": "x@example.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["details"].as_str().expect("d").contains("password"),
        "{body}"
    );
    let (status, _) = post(
        &app,
        "/api/auth/register",
        json!({"email": 5, "password": [], "display_name": {}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = post(&app, "/api/auth/register", json!([1, 2, 3])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // SQL metacharacters and unicode in every field are data, stored and returned verbatim —
    // but for a display name's bidi override, which would turn what follows it around.
    let nasty_name = "Robert'); DROP TABLE users;-- \u{1F600} ñ 漢字 \u{202E}";
    let nasty_email = "o'brien\"--;@example.com";
    let (status, body) = post(&app, "/api/auth/register", json!({"email": "o'brien+x%_--@example.com", "password": "' OR '1'='1' -- 漢字 \u{1F600}", "display_name": nasty_name})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["user"]["display_name"],
        "Robert'); DROP TABLE users;-- \u{1F600} ñ 漢字"
    );
    let (status, login) = post(
        &app,
        "/api/auth/login",
        json!({"email": "o'brien+x%_--@example.com", "password": "' OR '1'='1' -- 漢字 \u{1F600}"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let (status, _) = post(
        &app,
        "/api/auth/login",
        json!({"email": "' OR 1=1 --", "password": "' OR '1'='1"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(
        &app,
        "/api/auth/register",
        json!({"email": nasty_email, "password": "password123", "display_name": "A"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "quotes are not valid in an email"
    );
    // NUL and control characters are refused, not passed to the database.
    for (field, value) in [
        ("email", "a\u{0}b@example.com"),
        ("display_name", "nul\u{0}name"),
    ] {
        let mut body =
            json!({"email": "ctl@example.com", "password": "password123", "display_name": "ok"});
        body[field] = json!(value);
        let (status, res) = post(&app, "/api/auth/register", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {res}");
    }
    let (status, _) = post(
        &app,
        "/api/auth/register",
        json!({"email": "pw@example.com", "password": "nul\u{0}password", "display_name": "ok"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "passwords may hold any character; only their hash is stored"
    );
    let access = login["access_token"].as_str().expect("a");
    let (status, body) = post_auth(
        &app,
        "/api/auth/api-keys",
        access,
        json!({"name": "x\u{0}y", "scopes": ["profile:read"], "password": "' OR '1'='1' -- 漢字 \u{1F600}"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = post(
        &app,
        "/api/auth/refresh",
        json!({"refresh_token": "x".repeat(10_000)}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let res = c
        .delete(app.url("/api/auth/api-keys/..%2F..%2Fetc%2Fpasswd"))
        .bearer_auth(access)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let res = c.get(app.url("/health")).send().await.expect("health");
    assert_eq!(res.status(), StatusCode::OK, "still healthy");
    app.finish().await;
}

async fn bad_logins_are_rate_limited_per_address(b: Backend) {
    let Some(app) = TestApp::start_with(
        b,
        Options {
            auth_rate_limit: 5,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let attacker = client_from([127, 0, 0, 2]);
    let mut statuses = std::collections::BTreeMap::new();
    let mut retry_after = None;
    for i in 0..1000 {
        let res = attacker
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": format!("victim{i}@example.com"), "password": "guess"}))
            .send()
            .await
            .expect("req");
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().expect("ascii").parse::<u64>().expect("seconds"));
            let body: Value = res.json().await.expect("json");
            assert_error(&body, "RATE_LIMITED");
            *statuses.entry(429).or_insert(0) += 1;
        } else {
            *statuses.entry(res.status().as_u16()).or_insert(0) += 1;
        }
    }
    assert_eq!(statuses.get(&401), Some(&5), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&995), "{statuses:?}");
    assert!(
        retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "{retry_after:?}"
    );

    // Another address is unaffected, and the server is healthy.
    let other = client_from([127, 0, 0, 3]);
    let res = other
        .post(app.url("/api/auth/register"))
        .json(&json!({"email": "ok@example.com", "password": "password123", "display_name": "Ok"}))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = other
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "ok@example.com", "password": "password123"}))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        other
            .get(app.url("/health"))
            .send()
            .await
            .expect("h")
            .status(),
        StatusCode::OK
    );
    let metrics = other
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("m")
        .text()
        .await
        .expect("t");
    assert!(
        metrics.contains("ferrocast_rate_limited_total{class=\"auth\"} 995"),
        "{metrics}"
    );
    app.finish().await;
}

async fn jwt_attack_corpus_is_refused(b: Backend) {
    use data_encoding::BASE64URL_NOPAD as B64;
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "eve@example.com", "eve password").await;
    let good = reg["access_token"].as_str().expect("a").to_string();
    let parts: Vec<&str> = good.split('.').collect();
    let claims: Value =
        serde_json::from_slice(&B64.decode(parts[1].as_bytes()).expect("b64")).expect("json");
    let key = ferrocast_auth::secretbox::derive_key(&app.master_key(), "jwt-hs256");
    let sign = |header: &Value, claims: &Value, key: &[u8; 32]| -> String {
        let h = B64.encode(&serde_json::to_vec(header).expect("h"));
        let p = B64.encode(&serde_json::to_vec(claims).expect("p"));
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("key");
        mac.update(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", B64.encode(&mac.finalize().into_bytes()))
    };
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    // Sanity: our own signer reproduces a valid token.
    assert_eq!(
        get_auth(&app, "/api/auth/me", &sign(&hs256, &claims, &key))
            .await
            .0,
        StatusCode::OK
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("t")
        .as_secs() as i64;
    let with = |field: &str, v: Value| {
        let mut c = claims.clone();
        c[field] = v;
        c
    };
    let mut attacks: Vec<(&str, String)> = vec![
        (
            "alg none, no signature",
            format!(
                "{}.{}.",
                B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
                parts[1]
            ),
        ),
        (
            "alg none, signed",
            sign(&json!({"alg": "none"}), &claims, &key),
        ),
        (
            "alg HS512",
            sign(&json!({"alg": "HS512", "typ": "JWT"}), &claims, &key),
        ),
        (
            "alg RS256",
            sign(&json!({"alg": "RS256", "typ": "JWT"}), &claims, &key),
        ),
        ("forged with another key", sign(&hs256, &claims, &[0u8; 32])),
        (
            "role escalated",
            format!(
                "{}.{}.{}",
                parts[0],
                B64.encode(&serde_json::to_vec(&with("role", json!("admin"))).expect("j")),
                parts[2]
            ),
        ),
        ("expired", sign(&hs256, &with("exp", json!(now - 60)), &key)),
        (
            "not yet valid",
            sign(&hs256, &with("nbf", json!(now + 3600)), &key),
        ),
        (
            "string exp",
            sign(&hs256, &with("exp", json!((now + 600).to_string())), &key),
        ),
        (
            "wrong audience",
            sign(&hs256, &with("aud", json!("other")), &key),
        ),
        (
            "wrong issuer",
            sign(&hs256, &with("iss", json!("https://evil.example")), &key),
        ),
        (
            "wrong type",
            sign(&hs256, &with("typ", json!("refresh")), &key),
        ),
        (
            "unknown session",
            sign(
                &hs256,
                &with("sid", json!("00000000-0000-0000-0000-000000000000")),
                &key,
            ),
        ),
        ("other user", sign(&hs256, &with("sub", json!("999")), &key)),
        ("truncated", good[..good.len() - 5].to_string()),
        ("garbage", "not.a.jwt".to_string()),
        ("huge", "a".repeat(20_000)),
    ];
    let mut missing_exp = claims.clone();
    missing_exp.as_object_mut().expect("obj").remove("exp");
    attacks.push(("missing exp", sign(&hs256, &missing_exp, &key)));
    for (name, token) in &attacks {
        let res = client()
            .get(app.url("/api/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        let body: Value = res.json().await.expect("json");
        assert_error(&body, "UNAUTHENTICATED");
    }
    assert_eq!(
        get_auth(&app, "/api/auth/me", &good).await.0,
        StatusCode::OK,
        "the genuine token still works"
    );
    app.finish().await;
}

async fn operations_endpoints(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let c = client();
    let res = c.get(app.url("/health")).send().await.expect("h");
    assert_eq!(res.status(), StatusCode::OK);
    for (h, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(res.headers()[h], v);
    }
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .contains("frame-ancestors 'none'"));
    assert_eq!(res.headers()["x-request-id"].len(), 36);
    let res = c
        .get(app.url("/health"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("h");
    assert_eq!(
        res.headers()["x-request-id"],
        "trace-me-42",
        "a caller's request id is kept"
    );

    let res = c.get(app.url("/ready")).send().await.expect("r");
    assert_eq!(res.status(), StatusCode::OK);
    let ready: Value = res.json().await.expect("j");
    assert_eq!(
        ready["database"],
        match b {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );

    // An unknown API path (a browser path gets the web app's not-found page instead).
    let res = c.get(app.url("/api/nope")).send().await.expect("404");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_error(&res.json().await.expect("j"), "NOT_FOUND");
    let res = c.put(app.url("/api/auth/login")).send().await.expect("405");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&res.json().await.expect("j"), "METHOD_NOT_ALLOWED");

    let metrics = c.get(app.url("/metrics")).send().await.expect("m");
    assert!(metrics.headers()["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/plain"));
    let text = metrics.text().await.expect("t");
    assert!(
        text.contains(
            "ferrocast_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "ferrocast_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("ferrocast_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=\"+Inf\"} 2"), "{text}");
    assert!(!text.contains("/nope"), "raw paths never become labels");

    let spec: Value = c
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("json");
    assert_eq!(spec["openapi"], "3.1.0");
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/me",
        "/api/auth/verify",
        "/api/auth/2fa/enable",
        "/api/auth/api-keys",
        "/health",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
    let docs = c.get(app.url("/api/docs/")).send().await.expect("docs");
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "docs page");
    assert!(
        !html.contains("https://"),
        "docs load nothing from the internet"
    );
    let init = c
        .get(app.url("/api/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("init")
        .text()
        .await
        .expect("js");
    assert!(init.contains("/api/openapi.json"), "{init}");
    app.finish().await;
}

async fn cors_follows_configuration(b: Backend) {
    let opts = Options {
        extra: vec![("cors_origins", "https://app.example".into())],
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let c = client();
    let res = c
        .request(reqwest::Method::OPTIONS, app.url("/api/auth/login"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("preflight");
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("s")),
        Some("https://app.example")
    );
    let res = c
        .request(reqwest::Method::OPTIONS, app.url("/api/auth/login"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(res.headers().get("access-control-allow-origin").is_none());
    app.finish().await;
}

/// A client that never finishes its request head is disconnected, and others are served
/// meanwhile (transport behaviour; one backend is enough).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connection_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let mut slow = tokio::net::TcpStream::connect(app.addr())
        .await
        .expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    assert_eq!(
        client()
            .get(app.url("/health"))
            .send()
            .await
            .expect("h")
            .status(),
        StatusCode::OK,
        "others are served"
    );
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server closed the connection within 20 s (header timeout: 10 s)"
    );
    app.finish().await;
}

async fn account_recovery_revokes_api_keys_and_codes_are_capped(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "rex@example.com", "rex password").await;
    let access = reg["access_token"].as_str().expect("a");
    let (status, created) = post_auth(
        &app,
        "/api/auth/api-keys",
        access,
        json!({"name": "k", "scopes": ["profile:read"], "password": "rex password"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().expect("key").to_string();
    assert_eq!(get_auth(&app, "/api/auth/me", &key).await.0, StatusCode::OK);

    post(
        &app,
        "/api/auth/forgot-password",
        json!({"email": "rex@example.com"}),
    )
    .await;
    let code = app
        .inbox
        .code_for("rex@example.com", "password reset code")
        .await;
    let (status, body) = post(
        &app,
        "/api/auth/reset-password",
        json!({"email": "rex@example.com", "code": code, "new_password": "new rex password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        get_auth(&app, "/api/auth/me", &key).await.0,
        StatusCode::UNAUTHORIZED,
        "a reset revokes API keys"
    );

    // At most five reset codes per hour per account, however many addresses ask.
    for i in 0..8u8 {
        let res = client_from([127, 0, 1, i + 1])
            .post(app.url("/api/auth/forgot-password"))
            .json(&json!({"email": "rex@example.com"}))
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), StatusCode::OK, "the answer never changes");
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let sent = app
        .inbox
        .all()
        .iter()
        .filter(|m| m.contains("To: rex@example.com") && m.contains("password reset code"))
        .count();
    assert_eq!(sent, 5, "one code for the reset, four more, then the cap");
    app.finish().await;
}

async fn sensitive_changes_need_the_password(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "sam@example.com", "sam password").await;
    let access = reg["access_token"].as_str().expect("a");
    let (status, body) = post_auth(
        &app,
        "/api/auth/api-keys",
        access,
        json!({"name": "k", "scopes": ["profile:read"], "password": "not it"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_error(&body, "INVALID_PASSWORD");
    let (_, setup) = post_auth(&app, "/api/auth/2fa/setup", access, json!({})).await;
    let code = oathtool(setup["secret"].as_str().expect("secret"), 0);
    let (status, body) = post_auth(
        &app,
        "/api/auth/2fa/enable",
        access,
        json!({"code": code, "password": "not it"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_error(&body, "INVALID_PASSWORD");
    let (_, me) = get_auth(&app, "/api/auth/me", access).await;
    assert_eq!(me["two_factor_enabled"], false);
    app.finish().await;
}

async fn api_rate_limit_spares_the_auth_request_probe(b: Backend) {
    let opts = Options {
        extra: vec![("api_rate_limit", "5".into())],
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let reg = register(&app, "pia@example.com", "pia password").await;
    let access = reg["access_token"].as_str().expect("a");
    for _ in 0..20 {
        let res = client()
            .get(app.url("/api/auth/verify"))
            .bearer_auth(access)
            .send()
            .await
            .expect("req");
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "nginx asks once per proxied request"
        );
    }
    let mut codes = Vec::new();
    for _ in 0..7 {
        codes.push(get_auth(&app, "/api/auth/me", access).await.0.as_u16());
    }
    assert_eq!(
        codes,
        vec![200, 200, 200, 200, 200, 429, 429],
        "100/min/user by default; 5 here"
    );
    let res = client()
        .get(app.url("/api/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .expect("req");
    assert!(res.headers().contains_key("retry-after"));
    // Another user is unaffected.
    let other = register(&app, "quinn@example.com", "quinn password").await;
    assert_eq!(
        get_auth(
            &app,
            "/api/auth/me",
            other["access_token"].as_str().expect("a")
        )
        .await
        .0,
        StatusCode::OK
    );

    // Roles: admin passes every check, others only their own (and viewer).
    let db = &app.running.as_ref().expect("running").state.db;
    db.set_role(other["user"]["id"].as_i64().expect("id"), "admin", 0)
        .await
        .expect("role");
    for (role, want) in [
        ("viewer", 200),
        ("creator", 200),
        ("moderator", 200),
        ("admin", 200),
    ] {
        let res = client()
            .get(app.url(&format!("/api/auth/verify?role={role}")))
            .bearer_auth(other["access_token"].as_str().expect("a"))
            .send()
            .await
            .expect("req");
        assert_eq!(res.status().as_u16(), want, "admin for {role}");
    }
    for (role, want) in [
        ("viewer", 200),
        ("creator", 200),
        ("brand", 403),
        ("moderator", 403),
    ] {
        let res = client()
            .get(app.url(&format!("/api/auth/verify?role={role}")))
            .bearer_auth(access)
            .send()
            .await
            .expect("req");
        assert_eq!(res.status().as_u16(), want, "creator for {role}");
    }
    app.finish().await;
}

async fn extractor_rejections_use_the_error_body(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "una@example.com", "una password").await;
    let access = reg["access_token"].as_str().expect("a");
    let c = client();
    let res = c
        .get(app.url("/api/auth/verify?role=admin&role=viewer"))
        .bearer_auth(access)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_error(&res.json().await.expect("json"), "BAD_REQUEST");
    // A NUL or invalid UTF-8 in a path parameter never reaches the database.
    for path in [
        "/api/auth/api-keys/00000000-0000-0000-0000-00000000000%00",
        "/api/auth/api-keys/%FF%FE",
        "/api/auth/api-keys/%00",
    ] {
        let res = c
            .delete(app.url(path))
            .bearer_auth(access)
            .send()
            .await
            .expect("req");
        assert!(
            matches!(res.status().as_u16(), 400 | 404),
            "{path}: {}",
            res.status()
        );
        let body: Value = res.json().await.expect("json body");
        assert!(body["code"].is_string(), "{path}: {body}");
    }
    assert_eq!(
        c.get(app.url("/health")).send().await.expect("h").status(),
        StatusCode::OK
    );
    app.finish().await;
}

/// Behind a trusted reverse proxy the client is the address it forwards; an untrusted peer's
/// X-Forwarded-For is ignored, so it cannot dodge the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_only_from_trusted_proxies() {
    let opts = Options {
        auth_rate_limit: 5,
        extra: vec![("trusted_proxies", "127.0.0.1, 10.0.0.0/8".into())],
    };
    let Some(app) = TestApp::start_with(Backend::Sqlite, opts).await else {
        return;
    };
    let login = |from: [u8; 4], xff: &'static str| {
        let url = app.url("/api/auth/login");
        async move {
            client_from(from)
                .post(url)
                .header("x-forwarded-for", xff)
                .json(&json!({"email": "x@example.com", "password": "guess"}))
                .send()
                .await
                .expect("req")
                .status()
                .as_u16()
        }
    };
    // Via the trusted proxy: keyed by the forwarded client (through an inner 10.x proxy too).
    for _ in 0..5 {
        assert_eq!(login([127, 0, 0, 1], "203.0.113.7, 10.1.1.1").await, 401);
    }
    assert_eq!(login([127, 0, 0, 1], "203.0.113.7").await, 429);
    assert_eq!(
        login([127, 0, 0, 1], "203.0.113.8").await,
        401,
        "another client behind the proxy is unaffected"
    );
    // From an untrusted peer, forged headers change nothing.
    for i in 0..5 {
        let xff = ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5"][i];
        assert_eq!(login([127, 0, 0, 9], xff).await, 401);
    }
    assert_eq!(login([127, 0, 0, 9], "6.6.6.6").await, 429);
    app.finish().await;
}

/// Every scope a key can carry.
const SCOPES: [&str; 8] = [
    "profile:read",
    "sources:read",
    "sources:write",
    "streams:read",
    "streams:write",
    "chat:write",
    "billing:write",
    "admin",
];

/// An administrator (by role) with a login session; returns the access token.
async fn administrator(app: &TestApp, email: &str) -> String {
    let reg = register(app, email, "root password").await;
    let db = &app.running.as_ref().expect("running").state.db;
    let me = db.user_by_email(email).await.expect("q").expect("user");
    db.set_role(me.id, "admin", 0).await.expect("role");
    reg["access_token"].as_str().expect("token").to_string()
}

/// A new API key of the session's user with exactly `scopes`.
async fn key_with(app: &TestApp, session: &str, scopes: &[&str]) -> String {
    let (status, created) = post_auth(
        app,
        "/api/auth/api-keys",
        session,
        json!({"name": scopes.join(" "), "scopes": scopes, "password": "root password"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["key"].as_str().expect("key").to_string()
}

/// Walks every operation of the OpenAPI document: each declares its access, anonymous callers
/// of non-public routes get 401, and an administrator's key of each scope passes exactly the
/// routes of its scope (403 INSUFFICIENT_SCOPE elsewhere, and on session-only routes). A route
/// added without a declaration fails here.
async fn every_route_declares_its_access_and_keys_keep_to_their_scopes(b: Backend) {
    let opts = Options {
        extra: vec![("api_rate_limit", "0".into())],
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let session = administrator(&app, "root@example.com").await;
    let mut keys = Vec::new();
    for scope in SCOPES {
        keys.push((scope, key_with(&app, &session, &[scope]).await));
    }
    let spec: Value = client()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("json");
    let c = client();
    // Sends `method url` with an empty JSON body where one is expected; the status and, for a
    // refusal, the error code (the body of a successful call, e.g. the SSE stream, is not read).
    let send = |method: String, url: String, token: Option<String>| {
        let c = c.clone();
        async move {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let mut r = c.request(m.clone(), url);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            if m == reqwest::Method::POST
                || m == reqwest::Method::PUT
                || m == reqwest::Method::PATCH
            {
                r = r.json(&json!({}));
            }
            let res = r.send().await.expect("request");
            let status = res.status();
            let code = if status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED {
                let v: Value = res.json().await.unwrap_or(Value::Null);
                v["code"].as_str().unwrap_or_default().to_string()
            } else {
                String::new()
            };
            (status, code)
        }
    };
    let mut walked = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        // Path parameters get a value that names nothing.
        let mut concrete = String::new();
        let mut in_param = false;
        for ch in path.chars() {
            match ch {
                '{' => in_param = true,
                '}' => {
                    in_param = false;
                    concrete.push_str("999999");
                }
                _ if in_param => {}
                _ => concrete.push(ch),
            }
        }
        let url = app.url(&concrete);
        for (method, op) in item.as_object().expect("operations") {
            let route = format!("{} {path}", method.to_uppercase());
            let access = op["x-ferrocast-access"]
                .as_str()
                .unwrap_or_else(|| panic!("{route} declares no access"));
            walked += 1;
            if access == "stream-key" {
                // A stream key as the bearer (WHIP): without one, 401 in words; the handler
                // asks the publish authoriser, as for RTMP.
                let (status, code) = send(method.clone(), url.clone(), None).await;
                if status != StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{route}");
                    assert_eq!(code, "UNAUTHORIZED", "{route}");
                }
                continue;
            }
            if access == "public" {
                // Public: no credential asked for, and no handler that wants a caller (it
                // would get none and answer 500).
                let (status, _) = send(method.clone(), url.clone(), None).await;
                assert_ne!(status, StatusCode::UNAUTHORIZED, "{route} is public");
                assert_ne!(
                    status,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "{route} is public"
                );
                continue;
            }
            // A HEAD answer has no body to carry the code: its status is what is checked.
            let bodiless = method == "head";
            let code_or = |code: String, want: &str| {
                if bodiless {
                    want.to_string()
                } else {
                    code
                }
            };
            let (status, code) = send(method.clone(), url.clone(), None).await;
            let code = code_or(code, "UNAUTHENTICATED");
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
                "{route} without credentials"
            );
            let needed = match access {
                "session" => None,
                a => Some(
                    a.strip_prefix("scope:")
                        .unwrap_or_else(|| panic!("{route}: unknown access {a}")),
                ),
            };
            assert!(
                op["security"][0]["bearer"].is_array(),
                "{route}: the document names its credential"
            );
            for (scope, key) in &keys {
                let (status, code) = send(method.clone(), url.clone(), Some(key.clone())).await;
                if needed == Some(*scope) {
                    assert!(
                        !(status == StatusCode::FORBIDDEN && code == "INSUFFICIENT_SCOPE"),
                        "{route} with a {scope} key: refused for its scope"
                    );
                    assert_ne!(
                        status,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "{route} with a {scope} key"
                    );
                } else {
                    let code = code_or(code, "INSUFFICIENT_SCOPE");
                    assert_eq!(
                        (status, code.as_str()),
                        (StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE"),
                        "{route} with a {scope} key"
                    );
                }
            }
        }
    }
    assert!(walked >= 75, "only {walked} operations in the document");
    app.finish().await;
}

/// An administrator's key without the `admin` scope acts as any user: no admin routes, no
/// other users' objects, no admin role at the auth_request probe, no maintenance bypass; and
/// secret stream keys are shown whole only to sessions and `sources:write` keys.
async fn admin_keys_without_the_admin_scope_act_as_anyone(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let session = administrator(&app, "root@example.com").await;
    let read = key_with(&app, &session, &["sources:read"]).await;
    let write = key_with(&app, &session, &["sources:read", "sources:write"]).await;
    let admin = key_with(&app, &session, &["admin"]).await;
    let probe = key_with(&app, &session, &["profile:read"]).await;

    // The acceptance point: a sources:read key of an administrator cannot change settings.
    let (status, body) = support::call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&read),
        Some(json!({"maintenance_mode": true})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_error(&body, "INSUFFICIENT_SCOPE");
    let (status, _) = support::call(&app, "GET", "/api/admin/users", Some(&write), None).await;
    assert_eq!(
        status, 403,
        "no user list (and emails) without the admin scope"
    );
    let (status, _) = support::call(&app, "GET", "/api/admin/users", Some(&admin), None).await;
    assert_eq!(status, 200, "the admin scope opens it");

    // Another user's source: reachable to the session and an admin-scoped key only.
    let other = support::creator_with_source(&app, "other@example.com").await;
    let path = format!("/api/sources/{}", other.id);
    let rename = json!({"name": "renamed"});
    let (status, _) = support::call(&app, "PUT", &path, Some(&write), Some(rename.clone())).await;
    assert_eq!(
        status, 404,
        "a key without the admin scope sees only its own sources"
    );
    let (status, _) = support::call(&app, "PUT", &path, Some(&session), Some(rename)).await;
    assert_eq!(
        status, 200,
        "the administrator's session reaches any source"
    );

    // nginx auth_request: the admin role passes only with the admin scope.
    let verify = |token: String| {
        let url = app.url("/api/auth/verify?role=admin");
        async move {
            client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("verify")
                .status()
        }
    };
    assert_eq!(verify(probe.clone()).await, StatusCode::FORBIDDEN);
    let both = key_with(&app, &session, &["profile:read", "admin"]).await;
    assert_eq!(verify(both).await, StatusCode::OK);
    assert_eq!(verify(session.clone()).await, StatusCode::OK);

    // Maintenance: held out unless the key has the admin scope.
    let (status, _) = support::call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(json!({"maintenance_mode": true})),
    )
    .await;
    assert_eq!(status, 200);
    app.running.as_ref().expect("running").state.site.forget();
    let (status, body) = support::call(&app, "GET", "/api/sources", Some(&read), None).await;
    assert_eq!(status, 503, "{body}");
    let (status, _) = support::call(&app, "GET", "/api/admin/settings", Some(&admin), None).await;
    assert_eq!(status, 200);
    support::call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&session),
        Some(json!({"maintenance_mode": false})),
    )
    .await;
    app.running.as_ref().expect("running").state.site.forget();

    // Stream keys: whole to the session and to sources:write, masked to sources:read.
    let (status, created) = support::call(
        &app,
        "POST",
        "/api/sources",
        Some(&session),
        Some(json!({"name": "Mine"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let whole = created["source"]["stream_key"]
        .as_str()
        .expect("key")
        .to_string();
    assert!(whole.starts_with("sk_") && whole.len() > 60);
    let listed = |token: String| {
        let app = &app;
        async move {
            let (_, list) = support::call(app, "GET", "/api/sources", Some(&token), None).await;
            list["sources"][0]["stream_key"]
                .as_str()
                .expect("key")
                .to_string()
        }
    };
    assert_eq!(listed(session.clone()).await, whole);
    assert_eq!(listed(write.clone()).await, whole);
    let masked = listed(read.clone()).await;
    assert_eq!(masked, format!("sk_…{}", &whole[whole.len() - 4..]));
    let streams_key = key_with(&app, &session, &["streams:read", "streams:write"]).await;
    let (_, info) = support::call(&app, "GET", "/api/streams/info", Some(&streams_key), None).await;
    assert_eq!(info["streams"][0]["stream_key"], masked.as_str());
    let id = created["source"]["id"].as_i64().expect("id");
    let (_, live) = support::call(
        &app,
        "POST",
        &format!("/api/streams/active/{id}"),
        Some(&streams_key),
        None,
    )
    .await;
    assert_eq!(live["stream_key"], masked.as_str());
    // The forwarding list by source id needs no key in the URL.
    let (status, fwd) = support::call(
        &app,
        "GET",
        &format!("/api/sources/{id}/forwarding"),
        Some(&streams_key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{fwd}");
    assert!(fwd["destinations"].is_array());
    app.finish().await;
}

/// Wrong passwords, second factors and reset codes lock the account's credential of that kind
/// after ten failures, whatever address each came from; the owner is told by mail; a reset by
/// email lifts the lock; open two-factor challenges are capped.
async fn failures_are_counted_per_account_across_addresses(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    register(&app, "lee@example.com", "lee password").await;
    register(&app, "bystander@example.com", "bystander password").await;
    let login = |n: u8, email: &'static str, password: &'static str| {
        let url = app.url("/api/auth/login");
        async move {
            let res = client_from([127, 0, 3, n])
                .post(url)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .expect("login");
            let status = res.status();
            let retry = res.headers().get("retry-after").cloned();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, body, retry)
        }
    };
    for n in 1..=10 {
        let (status, body, _) = login(n, "lee@example.com", "not it").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}: {body}");
    }
    // The eleventh, from yet another address and with the right password, is held back.
    let (status, body, retry) = login(11, "lee@example.com", "lee password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_error(&body, "ACCOUNT_LOCKED");
    assert!(retry.is_some(), "Retry-After says when");
    // Only that account.
    let (status, _, _) = login(12, "bystander@example.com", "bystander password").await;
    assert_eq!(status, StatusCode::OK);
    // The owner was told.
    let mut told = false;
    for _ in 0..100 {
        told = app
            .inbox
            .all()
            .iter()
            .any(|m| m.contains("To: lee@example.com") && m.contains("were paused"));
        if told {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(told, "the owner is mailed: {:?}", app.inbox.all());

    // Reset codes are counted too, and a reset by email lifts every lock.
    let (status, _) = post(
        &app,
        "/api/auth/forgot-password",
        json!({"email": "lee@example.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let code = app.inbox.code_for("lee@example.com", "reset code").await;
    let (status, body) = post(
        &app,
        "/api/auth/reset-password",
        json!({"email": "lee@example.com", "code": code, "new_password": "lee new password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = login(13, "lee@example.com", "lee new password").await;
    assert_eq!(status, StatusCode::OK, "the reset lifted the lock");

    // Two-factor: at most five challenges open at once, and wrong codes lock.
    let (_, tokens, _) = login(14, "bystander@example.com", "bystander password").await;
    let access = tokens["access_token"].as_str().expect("token");
    let (_, setup) = post_auth(&app, "/api/auth/2fa/setup", access, json!({})).await;
    let secret = setup["secret"].as_str().expect("secret").to_string();
    let (status, body) = post_auth(
        &app,
        "/api/auth/2fa/enable",
        access,
        json!({"code": oathtool(&secret, 0), "password": "bystander password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut challenges = Vec::new();
    for n in 20..25 {
        let (status, step1, _) = login(n, "bystander@example.com", "bystander password").await;
        assert_eq!(status, StatusCode::OK, "{step1}");
        challenges.push(step1["mfa_token"].as_str().expect("challenge").to_string());
    }
    let (status, body, _) = login(25, "bystander@example.com", "bystander password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_error(&body, "TOO_MANY_CHALLENGES");
    // Two wrong codes per challenge (each allows five), from many addresses: ten lock.
    let mut refused = 0;
    for (i, ch) in challenges.iter().enumerate() {
        for j in 0..2u8 {
            let res = client_from([127, 0, 4, (i as u8) * 2 + j + 1])
                .post(app.url("/api/auth/login/2fa"))
                .json(&json!({"mfa_token": ch, "code": "000000"}))
                .send()
                .await
                .expect("2fa");
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            refused += 1;
        }
    }
    assert_eq!(refused, 10);
    let (status, body) = post(
        &app,
        "/api/auth/login/2fa",
        json!({"mfa_token": challenges[0], "code": oathtool(&secret, 30)}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_error(&body, "ACCOUNT_LOCKED");
    app.finish().await;
}

/// /metrics answers loopback clients only, unless a token is configured; then only the token.
async fn metrics_need_the_token_or_loopback(b: Backend) {
    let opts = Options {
        extra: vec![("trusted_proxies", "127.0.0.1".into())],
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let res = client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::OK);
    // A client a (trusted) proxy forwards from elsewhere is not loopback.
    let res = client()
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.finish().await;

    let token = "metrics-token-0123456789abcdef";
    let opts = Options {
        extra: vec![("metrics_token", token.into())],
        ..Options::default()
    };
    let Some(app) = TestApp::start_with(b, opts).await else {
        return;
    };
    let res = client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "loopback is not enough with a token"
    );
    let res = client()
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-wrong-0123456789")
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = client()
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res
        .text()
        .await
        .expect("text")
        .contains("ferrocast_http_requests_total"));
    app.finish().await;
}

/// Reads an open event stream until it ends; returns what it carried, or `None` if it was
/// still open at the deadline.
async fn read_until_end(mut res: reqwest::Response, limit: std::time::Duration) -> Option<String> {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Ok(None)) | Ok(Err(_)) => return Some(text),
            Err(_) => return None,
        }
    }
}

/// `/api/events` ends (after `event: session_ended`) once its API key is revoked or its
/// session logged out.
async fn event_streams_end_when_the_credential_does(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "sse@example.com", "root password").await;
    let session = reg["access_token"].as_str().expect("token").to_string();
    let (status, created) = post_auth(
        &app,
        "/api/auth/api-keys",
        &session,
        json!({"name": "dash", "scopes": ["streams:read"], "password": "root password"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().expect("key").to_string();
    let uuid = created["api_key"]["uuid"]
        .as_str()
        .expect("uuid")
        .to_string();
    let open = |token: String| {
        let url = app.url("/api/events");
        async move {
            let res = client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("events");
            assert_eq!(res.status(), StatusCode::OK);
            res
        }
    };
    let by_key = open(key).await;
    let by_session = open(session.clone()).await;
    // Both stay open while their credentials hold.
    let still = tokio::time::timeout(std::time::Duration::from_secs(7), async {
        let mut r = open(session.clone()).await;
        r.chunk().await
    })
    .await;
    assert!(
        still.is_err(),
        "an event stream stays open while its session holds"
    );

    let res = client()
        .delete(app.url(&format!("/api/auth/api-keys/{uuid}")))
        .bearer_auth(&session)
        .send()
        .await
        .expect("revoke");
    assert_eq!(res.status(), StatusCode::OK);
    let text = read_until_end(by_key, std::time::Duration::from_secs(30))
        .await
        .expect("the key's stream ended");
    assert!(text.contains("event: session_ended"), "{text}");

    let res = client()
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&session)
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), StatusCode::OK);
    let text = read_until_end(by_session, std::time::Duration::from_secs(30))
        .await
        .expect("the session's stream ended");
    assert!(text.contains("event: session_ended"), "{text}");
    app.finish().await;
}

/// A caller's `X-Request-Id` is kept only when it is 1 to 64 characters of `[A-Za-z0-9._-]`.
async fn request_ids_from_callers_are_checked(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let id_for = |given: String| {
        let url = app.url("/health");
        async move {
            let res = client()
                .get(url)
                .header("x-request-id", given)
                .send()
                .await
                .expect("health");
            res.headers()
                .get("x-request-id")
                .expect("an id")
                .to_str()
                .expect("text")
                .to_string()
        }
    };
    assert_eq!(id_for("trace-01.AB_cd".into()).await, "trace-01.AB_cd");
    let long = id_for("a".repeat(65)).await;
    assert_ne!(long.len(), 65, "too long: replaced");
    for bad in ["has space", "semi;colon", "new=line", "<script>"] {
        let got = id_for(bad.into()).await;
        assert_ne!(got, bad);
        assert!(
            got.len() <= 64 && got.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'),
            "{got}"
        );
    }
    app.finish().await;
}

/// A chat moderator bans viewers, never the source's owner or an administrator.
async fn moderators_cannot_ban_the_owner_or_an_administrator(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = support::creator_with_source(&app, "owner@example.com").await;
    let admin = administrator(&app, "root@example.com").await;
    let moderator = register(&app, "mod@example.com", "mod password").await;
    let moderator = moderator["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let viewer = register(&app, "viewer@example.com", "viewer password").await;
    let viewer = viewer["access_token"].as_str().expect("token").to_string();
    let uuid = |token: String| {
        let app = &app;
        async move {
            let (_, me) = get_auth(app, "/api/auth/me", &token).await;
            me["uuid"].as_str().expect("uuid").to_string()
        }
    };
    let (owner_id, admin_id, mod_id, viewer_id) = (
        uuid(src.token.clone()).await,
        uuid(admin.clone()).await,
        uuid(moderator.clone()).await,
        uuid(viewer.clone()).await,
    );
    let (status, body) = support::call(
        &app,
        "PUT",
        &format!("/api/chat/moderators/{}/{mod_id}", src.id),
        Some(&src.token),
        None,
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let ban = |target: String| {
        let app = &app;
        let moderator = moderator.clone();
        async move {
            support::call(
                app,
                "POST",
                "/api/chat/bans",
                Some(&moderator),
                Some(json!({"source_id": src.id, "user_id": target, "duration_seconds": 60})),
            )
            .await
        }
    };
    let (status, body) = ban(owner_id).await;
    assert_eq!(status, 403, "the owner: {body}");
    let (status, body) = ban(admin_id).await;
    assert_eq!(status, 403, "an administrator: {body}");
    let (status, body) = ban(viewer_id).await;
    assert_eq!(status, 201, "a viewer: {body}");
    app.finish().await;
}

/// Changing the password ends every other session of the user; the one that changed it stays.
async fn a_password_change_ends_the_other_sessions(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let reg = register(&app, "pat@example.com", "old password").await;
    let here = reg["access_token"].as_str().expect("token").to_string();
    let (status, login) = post(
        &app,
        "/api/auth/login",
        json!({"email": "pat@example.com", "password": "old password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let elsewhere = login["access_token"].as_str().expect("token").to_string();
    let elsewhere_refresh = login["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    assert_eq!(
        get_auth(&app, "/api/auth/me", &elsewhere).await.0,
        StatusCode::OK
    );

    let (status, body) = post_auth(
        &app,
        "/api/auth/change-password",
        &here,
        json!({"current_password": "old password", "new_password": "new password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        get_auth(&app, "/api/auth/me", &here).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_auth(&app, "/api/auth/me", &elsewhere).await.0,
        StatusCode::UNAUTHORIZED,
        "the other session ended"
    );
    let (status, _) = post(
        &app,
        "/api/auth/refresh",
        json!({"refresh_token": elsewhere_refresh}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "and cannot be refreshed");
    app.finish().await;
}
