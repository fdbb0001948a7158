//! Sign in with Google and Twitch against local OpenID Connect stand-ins
//! (`support::oidc`): sign up, sign out, link, sign in with either, unlink (never the last way
//! in), the verified-email rule, two-factor still asked, closed registration; and every refusal
//! with its code: wrong state, expired login, replayed code, ID tokens with the wrong audience,
//! issuer, expiry, signature or nonce, an unknown key after the key set was fetched again (and
//! a rotated key accepted after one fetch). The node's logs, captured at trace level, never
//! hold a token, a code or a state.

use crate::support::oidc::{self, Account, Fault, Standin};
use crate::support::{self, call, Backend, Options, TestApp};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, OnceLock};

/// Everything the node logs, at trace level, from the first test that asks.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "ferrocast_server=trace,ferrocast_auth=trace,ferrocast_db=trace,tower_http=trace",
            ))
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Writer(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Writer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn account(sub: &str, email: &str, verified: bool, name: &str) -> Account {
    Account {
        sub: sub.into(),
        email: Some(email.into()),
        email_verified: verified,
        name: name.into(),
        login: name.to_ascii_lowercase(),
    }
}

async fn app_with(
    b: Backend,
    standins: &[&Standin],
    extra: Vec<(&'static str, String)>,
) -> Option<TestApp> {
    let mut opts = Options::default();
    for s in standins {
        opts.extra.extend(s.settings());
    }
    opts.extra.extend(extra);
    TestApp::start_with(b, opts).await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn location(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), 302, "a redirect");
    res.headers()["location"]
        .to_str()
        .expect("location")
        .to_string()
}

/// The `name=value` of the browser-binding cookie a response sets.
fn binding(res: &reqwest::Response) -> String {
    let v = res.headers()["set-cookie"].to_str().expect("cookie");
    assert!(
        v.contains("HttpOnly") && v.contains("SameSite=Lax") && v.contains("Path=/api/auth"),
        "{v}"
    );
    v.split(';').next().expect("pair").to_string()
}

/// Where the node sends the browser (holding `cookie`) after the provider's callback at `back`.
async fn follow_callback_with(back: &str, cookie: Option<&str>) -> String {
    let mut req = no_redirects().get(back);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    location(&req.send().await.expect("callback"))
}

/// The callback from a browser without the flow's cookie (a forged or sent-on one).
async fn follow_callback(back: &str) -> String {
    follow_callback_with(back, None).await
}

/// Starts a sign-in as a browser does: the consent URL and the binding cookie.
async fn start_login(app: &TestApp, provider: &str) -> (String, String) {
    let res = no_redirects()
        .get(app.url(&format!("/api/auth/{provider}")))
        .send()
        .await
        .expect("start");
    (location(&res), binding(&res))
}

/// The `oauth_error` a redirect carries, if any.
fn oauth_error(to: &str) -> Option<String> {
    to.split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("oauth_error="))
        .map(String::from)
}

/// Signs in with the stand-in through the node's routes: start, consent, callback, exchange.
/// `Ok` is the exchange's answer (tokens or the two-factor challenge), `Err` the error code.
async fn sign_in(app: &TestApp, s: &Standin) -> Result<Value, String> {
    let (authorize, cookie) = start_login(app, s.provider.name).await;
    assert!(authorize.starts_with(&s.base()), "{authorize}");
    let back = s.approve(&authorize).await;
    assert!(back.starts_with(&app.url(&format!("/api/auth/{}/callback", s.provider.name))));
    let res = no_redirects()
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("callback");
    let to = location(&res);
    if let Some(e) = oauth_error(&to) {
        return Err(e);
    }
    // The browser that signed in gets the cookie that lets it, and only it, trade the code.
    let handoff = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("ferrocast_oauth_handoff="))
        .expect("the hand-off cookie")
        .to_string();
    assert!(
        handoff.contains("HttpOnly") && handoff.contains("Path=/api/auth/oauth/exchange"),
        "{handoff}"
    );
    let handoff = handoff.split(';').next().expect("pair").to_string();
    assert!(
        to.starts_with("/auth/complete?return_to=%2Fdashboard#code=fch_"),
        "{to}"
    );
    assert!(
        !to.split('#').next().expect("path").contains("fch_"),
        "the code is only in the fragment"
    );
    let code = to.split_once("#code=").expect("code").1;
    let exchange = |cookie: Option<String>| async move {
        let mut req = no_redirects()
            .post(app.url("/api/auth/oauth/exchange"))
            .json(&json!({"code": code}));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let res = req.send().await.expect("exchange");
        let status = res.status().as_u16();
        (status, res.json::<Value>().await.expect("json"))
    };
    // Another browser (a code sent on to someone else) cannot trade it, and does not spend it.
    let (status, e) = exchange(None).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (401, Some("OAUTH_HANDOFF_INVALID")),
        "{e}"
    );
    let (status, e) = exchange(Some("ferrocast_oauth_handoff=someone-elses".to_string())).await;
    assert_eq!(status, 401, "{e}");
    let (status, body) = exchange(Some(handoff.clone())).await;
    assert_eq!(status, 200, "{body}");
    if body["access_token"].is_string() {
        // A sign-in through a provider is in the audit log like a password one.
        let audit = &app.running.as_ref().expect("running").state.audit;
        let filter = ferrocast_db::audit::AuditFilter {
            action: Some("auth.login".into()),
            ..Default::default()
        };
        let logins = audit.list(&filter, 100).await.expect("audit");
        assert!(
            logins.iter().any(|e| e.details["method"] == "provider"),
            "{logins:?}"
        );
    }
    // The code works once.
    let (again, e) = exchange(Some(handoff)).await;
    assert_eq!(
        (again, e["code"].as_str()),
        (401, Some("OAUTH_HANDOFF_INVALID"))
    );
    Ok(body)
}

fn token(v: &Value) -> String {
    v["access_token"].as_str().expect("tokens").to_string()
}

async fn link(app: &TestApp, s: &Standin, token: &str) -> String {
    let res = no_redirects()
        .post(app.url(&format!("/api/auth/link/{}", s.provider.name)))
        .bearer_auth(token)
        .send()
        .await
        .expect("link");
    assert_eq!(res.status(), 200);
    let cookie = binding(&res);
    let body: Value = res.json().await.expect("json");
    let back = s
        .approve(body["authorize_url"].as_str().expect("url"))
        .await;
    follow_callback_with(&back, Some(&cookie)).await
}

async fn identities(app: &TestApp, token: &str) -> Value {
    let (status, body) = call(app, "GET", "/api/auth/identities", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn assert_no_secrets(logs: &Arc<Mutex<Vec<u8>>>, standins: &[&Standin], more: &[String]) {
    let text = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(
        text.contains("provider sign-in"),
        "the capture works: {}",
        &text[..text.len().min(2000)]
    );
    let mut secrets: Vec<String> = more.to_vec();
    for s in standins {
        secrets.extend(s.provider.log.lock().expect("log").secrets.iter().cloned());
    }
    assert!(!secrets.is_empty());
    for secret in secrets {
        // ID tokens: their signature part alone would be enough to spot.
        let needle = secret.rsplit('.').next().expect("part");
        assert!(
            !text.contains(needle),
            "a secret reached the logs: {secret}"
        );
    }
    assert!(!text.contains(oidc::CLIENT_SECRET));
}

async fn sign_up_sign_out_link_and_sign_in_with_either(b: Backend) {
    let logs = captured_logs();
    let google = oidc::start(
        "google",
        account("g-100", "Creator@Example.com", true, "Casey Creator"),
    )
    .await;
    let twitch = oidc::start(
        "twitch",
        account("t-200", "casey@twitch.example", true, "CaseyTV"),
    )
    .await;
    let Some(app) = app_with(b, &[&google, &twitch], vec![]).await else {
        return;
    };

    let (_, providers) = call(&app, "GET", "/api/auth/providers", None, None).await;
    assert_eq!(
        providers["providers"],
        json!([
            {"id": "google", "name": "Google", "login_url": "/api/auth/google"},
            {"id": "twitch", "name": "Twitch", "login_url": "/api/auth/twitch"},
        ])
    );

    // Sign up with Google: a new account with Google's verified email and name, no password.
    let first = sign_in(&app, &google).await.expect("signed up");
    let t1 = token(&first);
    assert_eq!(first["user"]["email"], "creator@example.com");
    assert_eq!(first["user"]["display_name"], "Casey Creator");
    assert_eq!(first["user"]["email_verified"], true);
    assert_eq!(first["user"]["role"], "creator");
    let user_id = first["user"]["id"].as_i64().expect("id");
    assert_eq!(
        google.provider.log.lock().expect("log").scopes[0],
        "openid email profile"
    );
    let ids = identities(&app, &t1).await;
    assert_eq!(ids["has_password"], false);
    assert_eq!(ids["identities"][0]["provider"], "google");
    // Sign out: the session ends.
    assert_eq!(
        call(&app, "POST", "/api/auth/logout", Some(&t1), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&app, "GET", "/api/auth/me", Some(&t1), None).await.0,
        401
    );

    // Google again: the same account (the key set is cached: one fetch so far).
    let again = sign_in(&app, &google).await.expect("signed in");
    assert_eq!(again["user"]["id"].as_i64(), Some(user_id));
    assert_eq!(google.provider.jwks_fetches(), 1);
    let t2 = token(&again);

    // Link Twitch from Settings; then Twitch signs in to the same account.
    let to = link(&app, &twitch, &t2).await;
    assert_eq!(to, "/settings?linked=twitch");
    assert_eq!(
        twitch.provider.log.lock().expect("log").scopes[0],
        "openid user:read:email"
    );
    let tw = sign_in(&app, &twitch).await.expect("twitch signs in");
    assert_eq!(tw["user"]["id"].as_i64(), Some(user_id));
    assert_eq!(
        identities(&app, &t2).await["identities"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // Google rotates its key: one more fetch of the key set, and the sign-in works.
    google.provider.rotate();
    let rotated = sign_in(&app, &google).await.expect("rotated key accepted");
    assert_eq!(rotated["user"]["id"].as_i64(), Some(user_id));
    assert_eq!(google.provider.jwks_fetches(), 2);

    // The Twitch account is linked to this user: nobody else can link it.
    let other = support::register_user(&app, "other@example.com", "Other").await;
    assert_eq!(
        oauth_error(&link(&app, &twitch, &other).await).as_deref(),
        Some("OAUTH_IDENTITY_TAKEN")
    );

    // Unlink Twitch; Google is then the only way in and stays.
    let ids = identities(&app, &t2).await;
    let id_of = |p: &str| {
        ids["identities"]
            .as_array()
            .expect("list")
            .iter()
            .find(|i| i["provider"] == p)
            .expect("there")["id"]
            .as_i64()
            .expect("id")
    };
    let (tw_id, g_id) = (id_of("twitch"), id_of("google"));
    assert_eq!(
        call(
            &app,
            "DELETE",
            &format!("/api/auth/identities/{tw_id}"),
            Some(&t2),
            None
        )
        .await
        .0,
        200
    );
    let (status, e) = call(
        &app,
        "DELETE",
        &format!("/api/auth/identities/{g_id}"),
        Some(&t2),
        None,
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("LAST_SIGN_IN_METHOD")),
        "{e}"
    );
    // Someone else cannot unlink it either.
    assert_eq!(
        call(
            &app,
            "DELETE",
            &format!("/api/auth/identities/{g_id}"),
            Some(&other),
            None
        )
        .await
        .0,
        404
    );
    // After unlinking, Twitch makes a new account of its own (its email is free).
    let fresh = sign_in(&app, &twitch).await.expect("a new account");
    assert_ne!(fresh["user"]["id"].as_i64(), Some(user_id));
    assert_eq!(fresh["user"]["email"], "casey@twitch.example");

    // "Forgot your password?" gives the Google-only account a password, and (account recovery)
    // unlinks its provider accounts.
    let (s, _) = call(
        &app,
        "POST",
        "/api/auth/forgot-password",
        None,
        Some(json!({"email": "creator@example.com"})),
    )
    .await;
    assert_eq!(s, 200);
    let code = app
        .inbox
        .code_for("creator@example.com", "password reset code")
        .await;
    let (s, e) = call(
        &app,
        "POST",
        "/api/auth/reset-password",
        None,
        Some(
            json!({"email": "creator@example.com", "code": code, "new_password": "a new password"}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{e}");
    let (s, login) = call(
        &app,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": "creator@example.com", "password": "a new password"})),
    )
    .await;
    assert_eq!(s, 200, "{login}");
    let t3 = token(&login);
    assert_eq!(identities(&app, &t3).await["has_password"], true);
    assert_eq!(identities(&app, &t3).await["identities"], json!([]));
    assert_eq!(
        call(
            &app,
            "DELETE",
            &format!("/api/auth/identities/{g_id}"),
            Some(&t3),
            None
        )
        .await
        .0,
        404
    );

    assert_no_secrets(&logs, &[&google, &twitch], &[t1, t2, t3]);
    app.finish().await;
}

async fn emails_link_only_when_both_sides_are_verified(b: Backend) {
    let google = oidc::start("google", account("g-1", "pat@example.com", true, "Pat")).await;
    let twitch = oidc::start("twitch", account("t-1", "pat@example.com", false, "Pat")).await;
    let Some(app) = app_with(b, &[&google, &twitch], vec![]).await else {
        return;
    };
    // A password account whose email is not verified yet: neither provider may take it over.
    let pw = support::register_user(&app, "pat@example.com", "Pat").await;
    assert_eq!(
        sign_in(&app, &google).await.err().as_deref(),
        Some("OAUTH_LINK_REFUSED")
    );
    // The owner verifies the email: Google (verified too) is linked and signs in to it...
    let code = app
        .inbox
        .code_for("pat@example.com", "verification code")
        .await;
    let (s, _) = call(
        &app,
        "POST",
        "/api/auth/verify-email",
        None,
        Some(json!({"email": "pat@example.com", "verification_code": code})),
    )
    .await;
    assert_eq!(s, 200);
    let me = call(&app, "GET", "/api/auth/me", Some(&pw), None).await.1;
    let g = sign_in(&app, &google)
        .await
        .expect("linked by verified email");
    assert_eq!(g["user"]["id"], me["id"]);
    // ...but Twitch, whose email is unverified, is not: sign in with the password and link.
    assert_eq!(
        sign_in(&app, &twitch).await.err().as_deref(),
        Some("OAUTH_LINK_REFUSED")
    );
    assert_eq!(link(&app, &twitch, &pw).await, "/settings?linked=twitch");
    assert_eq!(
        sign_in(&app, &twitch).await.expect("linked")["user"]["id"],
        me["id"]
    );

    // Two-factor on: a provider sign-in still asks for the second factor.
    let (_, setup) = call(&app, "POST", "/api/auth/2fa/setup", Some(&pw), None).await;
    let secret = data_encoding::BASE32_NOPAD
        .decode(setup["secret"].as_str().expect("secret").as_bytes())
        .expect("base32");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("t")
            .as_secs() as i64
    };
    let code =
        ferrocast_auth::totp::code_at(ferrocast_auth::totp::Algorithm::Sha1, &secret, now(), 6);
    let (s, e) = call(
        &app,
        "POST",
        "/api/auth/2fa/enable",
        Some(&pw),
        Some(json!({"code": code, "password": "password123"})),
    )
    .await;
    assert_eq!(s, 200, "{e}");
    let challenge = sign_in(&app, &google).await.expect("challenge");
    assert_eq!(challenge["mfa_required"], true);
    assert!(challenge.get("access_token").is_none());
    // The next 30-second step's code (the enabling one is spent).
    let code = ferrocast_auth::totp::code_at(
        ferrocast_auth::totp::Algorithm::Sha1,
        &secret,
        now() + 30,
        6,
    );
    let (s, done) = call(
        &app,
        "POST",
        "/api/auth/login/2fa",
        None,
        Some(json!({"mfa_token": challenge["mfa_token"], "code": code})),
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["user"]["id"], me["id"]);

    // A provider account whose email is unverified and matches nobody gets no account: it could
    // be claiming someone else's address.
    twitch
        .provider
        .set_account(account("t-2", "nobody-yet@example.com", false, "Nobody"));
    assert_eq!(
        sign_in(&app, &twitch).await.err().as_deref(),
        Some("OAUTH_EMAIL_UNVERIFIED")
    );
    assert!(app
        .running
        .as_ref()
        .expect("running")
        .state
        .db
        .user_by_email("nobody-yet@example.com")
        .await
        .expect("q")
        .is_none());

    app.finish().await;

    // Registration closed: a provider account that matches nobody gets no account.
    let Some(closed) = app_with(b, &[&google], vec![("registration_open", "false".into())]).await
    else {
        return;
    };
    assert_eq!(
        sign_in(&closed, &google).await.err().as_deref(),
        Some("OAUTH_REGISTRATION_CLOSED")
    );
    closed.finish().await;
}

async fn every_refusal_has_its_reason(b: Backend) {
    let logs = captured_logs();
    let google = oidc::start("google", account("g-9", "r@example.com", true, "R")).await;
    let Some(app) = app_with(b, &[&google], vec![]).await else {
        return;
    };
    let c = no_redirects();

    // Not configured: Twitch.
    let to = location(
        &c.get(app.url("/api/auth/twitch"))
            .send()
            .await
            .expect("start"),
    );
    assert_eq!(oauth_error(&to).as_deref(), Some("OAUTH_NOT_CONFIGURED"));
    // A wrong or missing state.
    for q in ["code=x&state=forged", "code=x"] {
        let to = follow_callback(&app.url(&format!("/api/auth/google/callback?{q}"))).await;
        assert_eq!(
            oauth_error(&to).as_deref(),
            Some("OAUTH_STATE_INVALID"),
            "{q}"
        );
        assert!(to.starts_with("/login?"));
    }
    // The person cancels at the provider.
    let (authorize, cookie) = start_login(&app, "google").await;
    let deny = format!("{}&deny=1", authorize.split_once('?').expect("q").1);
    let res = c
        .post(format!("{}/approve", google.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(deny)
        .send()
        .await
        .expect("deny");
    assert_eq!(
        oauth_error(&follow_callback_with(&location(&res), Some(&cookie)).await).as_deref(),
        Some("OAUTH_DENIED")
    );

    // A callback that reaches another browser than the one that started (someone sending
    // their own callback to a victim): without the flow's cookie, or with another flow's.
    let (authorize, _) = start_login(&app, "google").await;
    let back = google.approve(&authorize).await;
    assert_eq!(
        oauth_error(&follow_callback(&back).await).as_deref(),
        Some("OAUTH_OTHER_BROWSER")
    );
    let (authorize, _) = start_login(&app, "google").await;
    let (_, other_cookie) = start_login(&app, "google").await;
    let back = google.approve(&authorize).await;
    assert_eq!(
        oauth_error(&follow_callback_with(&back, Some(&other_cookie)).await).as_deref(),
        Some("OAUTH_OTHER_BROWSER")
    );

    // A good sign-in, whose callback URL is then replayed: the state is spent.
    let (authorize, cookie) = start_login(&app, "google").await;
    let back = google.approve(&authorize).await;
    assert!(oauth_error(&follow_callback_with(&back, Some(&cookie)).await).is_none());
    assert_eq!(
        oauth_error(&follow_callback_with(&back, Some(&cookie)).await).as_deref(),
        Some("OAUTH_STATE_INVALID")
    );
    // The same code with a fresh state (a stolen code): the provider refuses it.
    let code = back
        .split("code=")
        .nth(1)
        .expect("code")
        .split('&')
        .next()
        .expect("code")
        .to_string();
    let (fresh, cookie) = start_login(&app, "google").await;
    let state = fresh
        .split("state=")
        .nth(1)
        .expect("state")
        .split('&')
        .next()
        .expect("state");
    let replay = app.url(&format!(
        "/api/auth/google/callback?code={code}&state={state}"
    ));
    assert_eq!(
        oauth_error(&follow_callback_with(&replay, Some(&cookie)).await).as_deref(),
        Some("OAUTH_CODE_REFUSED")
    );
    assert_eq!(
        google.provider.log.lock().expect("log").refused,
        ["code already used"]
    );

    // An expired login.
    let (authorize, cookie) = start_login(&app, "google").await;
    let back = google.approve(&authorize).await;
    let db = &app.running.as_ref().expect("running").state.db;
    match db {
        ferrocast_db::Db::Sqlite(p) => {
            sqlx::query("UPDATE oauth_logins SET expires_at = 1 WHERE used_at IS NULL")
                .execute(p)
                .await
                .expect("expire");
        }
        ferrocast_db::Db::Postgres(p) => {
            sqlx::query("UPDATE oauth_logins SET expires_at = 1 WHERE used_at IS NULL")
                .execute(p)
                .await
                .expect("expire");
        }
    }
    assert_eq!(
        oauth_error(&follow_callback_with(&back, Some(&cookie)).await).as_deref(),
        Some("OAUTH_EXPIRED")
    );

    // ID tokens wrong in one way each.
    for (fault, code) in [
        (Fault::Audience, "OAUTH_ID_TOKEN_AUDIENCE"),
        (Fault::Issuer, "OAUTH_ID_TOKEN_ISSUER"),
        (Fault::Expired, "OAUTH_ID_TOKEN_EXPIRED"),
        (Fault::Signature, "OAUTH_ID_TOKEN_SIGNATURE"),
        (Fault::Nonce, "OAUTH_ID_TOKEN_NONCE"),
    ] {
        google.provider.fault(fault);
        assert_eq!(
            sign_in(&app, &google).await.err().as_deref(),
            Some(code),
            "{fault:?}"
        );
    }
    // A key the set does not hold: the set is fetched again once, then refused; a second
    // unknown key right after does not fetch again (rate-limited).
    let before = google.provider.jwks_fetches();
    google.provider.fault(Fault::UnknownKey);
    assert_eq!(
        sign_in(&app, &google).await.err().as_deref(),
        Some("OAUTH_ID_TOKEN_UNKNOWN_KEY")
    );
    assert_eq!(google.provider.jwks_fetches(), before + 1);
    google.provider.fault(Fault::UnknownKey);
    assert_eq!(
        sign_in(&app, &google).await.err().as_deref(),
        Some("OAUTH_ID_TOKEN_UNKNOWN_KEY")
    );
    assert_eq!(google.provider.jwks_fetches(), before + 1);
    // Nothing got an account out of it but the one good sign-in.
    assert!(db
        .user_by_email("r@example.com")
        .await
        .expect("q")
        .is_some());
    // A hand-off code nobody issued.
    let (s, e) = call(
        &app,
        "POST",
        "/api/auth/oauth/exchange",
        None,
        Some(json!({"code": "fch_forged"})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (401, Some("OAUTH_HANDOFF_INVALID"))
    );

    // During maintenance an existing account may sign in with a provider; nobody signs up, and
    // a link a non-administrator started before is refused when it comes back.
    let r_session = token(&sign_in(&app, &google).await.expect("r signs in"));
    let res = no_redirects()
        .post(app.url("/api/auth/link/google"))
        .bearer_auth(&r_session)
        .send()
        .await
        .expect("link");
    assert_eq!(res.status(), 200);
    let link_cookie = binding(&res);
    let started: Value = res.json().await.expect("json");
    let admin = support::register_user(&app, "admin@example.com", "Admin").await;
    let admin_user = db
        .user_by_email("admin@example.com")
        .await
        .expect("q")
        .expect("admin");
    db.set_role(admin_user.id, "admin", 0).await.expect("role");
    let (s, e) = call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(json!({"maintenance_mode": true})),
    )
    .await;
    assert_eq!(s, 200, "{e}");
    // The site settings are cached for two seconds.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let back = google
        .approve(started["authorize_url"].as_str().expect("url"))
        .await;
    let to = follow_callback_with(&back, Some(&link_cookie)).await;
    assert_eq!(oauth_error(&to).as_deref(), Some("MAINTENANCE"), "{to}");
    assert!(to.starts_with("/settings?"), "{to}");
    assert!(
        sign_in(&app, &google).await.is_ok(),
        "the existing account signs in"
    );
    google
        .provider
        .set_account(account("g-new", "new@example.com", true, "New"));
    assert_eq!(
        sign_in(&app, &google).await.err().as_deref(),
        Some("OAUTH_REGISTRATION_CLOSED")
    );

    assert_no_secrets(&logs, &[&google], &[]);
    app.finish().await;
}

both_backends!(
    sign_up_sign_out_link_and_sign_in_with_either,
    emails_link_only_when_both_sides_are_verified,
    every_refusal_has_its_reason,
);
