//! Browser sessions in a cookie, over HTTP on both databases: a sign-in with
//! `"session": "cookie"` sets an `HttpOnly; SameSite=Lax` session cookie and a readable CSRF
//! cookie and hands out no refresh token; `/api/auth/verify` (nginx's `auth_request`) takes the
//! cookie, with `?role=` and `?plan=`; a refresh and any state-changing request that rely on the
//! cookie need its CSRF token; a new sign-in replaces the cookie and ends the session it named;
//! logging out ends the session and clears the cookies.

use crate::support::{self, call, client, plan_id, register_admin, Backend, TestApp};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};

/// The `Set-Cookie` values of a response, by cookie name.
fn set_cookies(res: &reqwest::Response) -> Vec<(String, String)> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let (name, _) = v.split_once('=')?;
            Some((name.to_string(), v.to_string()))
        })
        .collect()
}

/// The value of cookie `name` in a `Set-Cookie` line.
fn value_of(line: &str) -> String {
    line.split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// Signs in with a browser session; the session and CSRF cookies' values and the body.
async fn sign_in(app: &TestApp, email: &str, old: Option<&str>) -> (String, String, Value) {
    let mut r = client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": "password123", "session": "cookie"}));
    if let Some(old) = old {
        r = r.header(COOKIE, format!("ferrocast_session={old}"));
    }
    let res = r.send().await.expect("login");
    assert_eq!(res.status(), 200);
    let cookies = set_cookies(&res);
    let body: Value = res.json().await.expect("json");
    let session = cookies
        .iter()
        .find(|(n, _)| n == "ferrocast_session")
        .unwrap_or_else(|| panic!("a session cookie: {cookies:?}"))
        .1
        .clone();
    let csrf = cookies
        .iter()
        .find(|(n, _)| n == "ferrocast_csrf")
        .unwrap_or_else(|| panic!("a CSRF cookie: {cookies:?}"))
        .1
        .clone();
    // The session cookie: scripts cannot read it, other sites' requests do not carry it, it
    // goes to every path (nginx guards any folder), and on plain http it is not Secure.
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(session.contains(attr), "{attr} in {session}");
    }
    assert!(!session.contains("Secure"), "{session}");
    // The CSRF cookie is for the site's pages to read.
    assert!(!csrf.contains("HttpOnly"), "{csrf}");
    assert!(csrf.contains("SameSite=Lax"), "{csrf}");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for a browser: {body}"
    );
    assert_eq!(body["csrf_token"].as_str(), Some(value_of(&csrf).as_str()));
    (value_of(&session), value_of(&csrf), body)
}

/// A request with the session cookie (and the CSRF header, if given): status, body, and the
/// response's headers.
async fn with_cookie(
    app: &TestApp,
    method: &str,
    path: &str,
    session: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let c = client();
    let mut r = match method {
        "GET" => c.get(app.url(path)),
        "DELETE" => c.delete(app.url(path)),
        _ => c.post(app.url(path)),
    }
    .header(COOKIE, format!("ferrocast_session={session}; theme=dark"));
    if let Some(t) = csrf {
        r = r.header("x-csrf-token", t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, res.json().await.unwrap_or(Value::Null), headers)
}

both_backends!(cookie_sessions_csrf_and_the_auth_request_probe);

async fn cookie_sessions_csrf_and_the_auth_request_probe(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let admin = register_admin(&app, "root@example.com").await;
    support::register_user(&app, "mia@example.com", "Mia").await;
    // An unknown way of handing over the session is refused, and says which there are.
    let (status, body) = call(
        &app,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": "mia@example.com", "password": "password123", "session": "jar"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("cookie"),
        "{body}"
    );

    let (session, csrf, body) = sign_in(&app, "mia@example.com", None).await;
    assert!(session.starts_with("fcs_"), "{session}");
    let access = body["access_token"]
        .as_str()
        .expect("access token")
        .to_string();

    // nginx's probe takes the cookie: who the user is, their role and plan.
    let (status, _, h) = with_cookie(&app, "GET", "/api/auth/verify", &session, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(h["x-user-email"], "mia@example.com");
    assert_eq!(h["x-user-role"], "creator");
    assert_eq!(h["x-user-plan"], "Free");
    let (status, body, _) = with_cookie(
        &app,
        "GET",
        "/api/auth/verify?role=admin",
        &session,
        None,
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body, _) = with_cookie(
        &app,
        "GET",
        "/api/auth/verify?plan=pro",
        &session,
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("PLAN_REQUIRED")),
        "{body}"
    );
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("Your plan is Free"),
        "{body}"
    );
    let (status, body, _) = with_cookie(
        &app,
        "GET",
        "/api/auth/verify?plan=Gold",
        &session,
        None,
        None,
    )
    .await;
    assert_eq!(
        status, 422,
        "an unknown plan is the operator's mistake: {body}"
    );
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("Free, Pro, Business"),
        "{body}"
    );
    let (status, _, _) =
        with_cookie(&app, "GET", "/api/auth/verify", "fcs_forged", None, None).await;
    assert_eq!(status, 401);
    let (status, _) = call(&app, "GET", "/api/auth/verify", None, None).await;
    assert_eq!(status, 401);

    // On the Pro plan, the Pro and Free guards pass; Business does not.
    let (status, me) = call(&app, "GET", "/api/auth/me", Some(&access), None).await;
    assert_eq!(status, 200);
    let pro = plan_id(&app, "Pro").await;
    let (status, body) = call(
        &app,
        "PUT",
        &format!(
            "/api/admin/users/{}/subscription",
            me["uuid"].as_str().expect("uuid")
        ),
        Some(&admin),
        Some(json!({"plan_id": pro})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for (plan, expect) in [("Pro", 200), ("Free", 200), ("Business", 403)] {
        let (status, body, h) = with_cookie(
            &app,
            "GET",
            &format!("/api/auth/verify?plan={plan}"),
            &session,
            None,
            None,
        )
        .await;
        assert_eq!(status, expect, "{plan}: {body}");
        if status == 200 {
            assert_eq!(h["x-user-plan"], "Pro");
        }
    }

    // Reading with the cookie needs no CSRF token; changing state does.
    let (status, body, _) = with_cookie(&app, "GET", "/api/auth/me", &session, None, None).await;
    assert_eq!(
        (status, body["email"].as_str()),
        (200, Some("mia@example.com")),
        "{body}"
    );
    let key = json!({"name": "deck", "scopes": ["profile:read"], "password": "password123"});
    let (status, body, _) = with_cookie(
        &app,
        "POST",
        "/api/auth/api-keys",
        &session,
        None,
        Some(key.clone()),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("CSRF")),
        "{body}"
    );
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("X-CSRF-Token"),
        "{body}"
    );
    let (status, body, _) = with_cookie(
        &app,
        "POST",
        "/api/auth/api-keys",
        &session,
        Some("forged"),
        Some(key.clone()),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("CSRF")),
        "{body}"
    );
    let (status, body, _) = with_cookie(
        &app,
        "POST",
        "/api/auth/api-keys",
        &session,
        Some(&csrf),
        Some(key),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // A refresh through the cookie: a working access token, the cookies renewed; without the
    // CSRF token, refused.
    let (status, body, _) = with_cookie(
        &app,
        "POST",
        "/api/auth/refresh",
        &session,
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("CSRF")),
        "{body}"
    );
    let (status, body, h) = with_cookie(
        &app,
        "POST",
        "/api/auth/refresh",
        &session,
        Some(&csrf),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["csrf_token"].as_str(), Some(csrf.as_str()));
    let renewed: Vec<&str> = h
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        renewed
            .iter()
            .any(|c| c.starts_with(&format!("ferrocast_session={session};"))),
        "the same cookie, renewed (tabs share it): {renewed:?}"
    );
    let fresh = body["access_token"].as_str().expect("access").to_string();
    let (status, _) = call(&app, "GET", "/api/auth/me", Some(&fresh), None).await;
    assert_eq!(status, 200);
    // Without a cookie or a token, the refresh says what to send.
    let (status, body) = call(&app, "POST", "/api/auth/refresh", None, Some(json!({}))).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .contains("session cookie is missing"),
        "{body}"
    );

    // Signing in again from the same browser replaces the cookie: the old session ends.
    let (second, second_csrf, _) = sign_in(&app, "mia@example.com", Some(&session)).await;
    assert_ne!(second, session);
    assert_ne!(second_csrf, csrf, "the CSRF token is bound to its session");
    let (status, _, _) = with_cookie(&app, "GET", "/api/auth/verify", &session, None, None).await;
    assert_eq!(status, 401, "the replaced session ended");
    let (status, _) = call(&app, "GET", "/api/auth/me", Some(&fresh), None).await;
    assert_eq!(status, 401, "its access tokens too");
    // Another session's CSRF token does not pass with this cookie.
    let (status, _, _) = with_cookie(
        &app,
        "POST",
        "/api/auth/refresh",
        &second,
        Some(&csrf),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 403);

    // Logging out with the cookie (and its CSRF token) ends the session and clears both cookies.
    let (status, body, _) =
        with_cookie(&app, "POST", "/api/auth/logout", &second, None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("CSRF")),
        "{body}"
    );
    let (status, body, h) = with_cookie(
        &app,
        "POST",
        "/api/auth/logout",
        &second,
        Some(&second_csrf),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cleared: Vec<&str> = h
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    for name in ["ferrocast_session=;", "ferrocast_csrf=;"] {
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
            "{name} cleared: {cleared:?}"
        );
    }
    let (status, _, _) = with_cookie(&app, "GET", "/api/auth/verify", &second, None, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = with_cookie(
        &app,
        "POST",
        "/api/auth/refresh",
        &second,
        Some(&second_csrf),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 401);

    // The web app logs out with its bearer token: the browser's cookie session ends with it.
    let (third, _, body) = sign_in(&app, "mia@example.com", None).await;
    let access = body["access_token"].as_str().expect("access");
    let res = client()
        .post(app.url("/api/auth/logout"))
        .bearer_auth(access)
        .header(COOKIE, format!("ferrocast_session={third}"))
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), 200);
    let (status, _, _) = with_cookie(&app, "GET", "/api/auth/verify", &third, None, None).await;
    assert_eq!(status, 401);

    // Tokens as before for API clients: a refresh token, no cookie.
    let res = client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "mia@example.com", "password": "password123"}))
        .send()
        .await
        .expect("login");
    assert!(set_cookies(&res).is_empty());
    let body: Value = res.json().await.expect("json");
    assert!(
        body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .starts_with("fcr_"),
        "{body}"
    );
    assert!(body.get("csrf_token").is_none(), "{body}");
    app.finish().await;
}
