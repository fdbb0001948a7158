//! A local OpenID Connect provider standing in for Google or Twitch, speaking the documented
//! endpoints: `/authorize` (a consent page with an Approve button, for the browser; a POST to
//! `/approve` grants), `/token` (authorization code grant: each code works once, the PKCE S256
//! verifier, client credentials and redirect URI are checked; `invalid_grant` otherwise, as
//! RFC 6749 §5.2 says), `/keys` (the JWKS; fetches are counted) and `/userinfo` (bearer access
//! token). ID tokens are RS256 with keys generated in the test; knobs make the next ID token
//! wrong in one way (audience, issuer, expiry, signature, nonce, unknown key) or rotate the key.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use data_encoding::BASE64URL_NOPAD;
use ferrocast_auth::testing::RsaTestKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

pub const CLIENT_SECRET: &str = "standin-secret";

/// Generating RSA keys takes a moment: every stand-in of a test process shares these.
fn test_keys() -> &'static [RsaTestKey; 3] {
    static K: OnceLock<[RsaTestKey; 3]> = OnceLock::new();
    K.get_or_init(|| {
        [
            RsaTestKey::generate("key-1"),
            RsaTestKey::generate("key-2"),
            RsaTestKey::generate("rogue"),
        ]
    })
}

/// The account the stand-in signs in as.
#[derive(Clone, Debug)]
pub struct Account {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: String,
    pub login: String,
}

/// What the next ID token gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Audience,
    Issuer,
    Expired,
    Signature,
    Nonce,
    UnknownKey,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: String,
    scope: String,
    /// The `claims` request parameter (OpenID Connect Core §5.5), if any.
    claims: Option<Value>,
    account: Account,
    used: bool,
}

#[derive(Default)]
pub struct Log {
    /// JWKS fetches.
    pub jwks_fetches: usize,
    /// Token requests refused, with the OAuth error.
    pub refused: Vec<String>,
    /// Every access, refresh and ID token and code handed out (to search logs for).
    pub secrets: Vec<String>,
    /// Scopes asked for at `/authorize`.
    pub scopes: Vec<String>,
    /// Extra authorize parameters seen (`access_type`, `prompt`).
    pub extras: Vec<(String, String)>,
}

pub struct Provider {
    pub name: &'static str,
    pub issuer: Mutex<String>,
    pub client_id: String,
    pub account: Mutex<Account>,
    pub fault: Mutex<Fault>,
    /// Index into the key list of the signing key (rotation moves it on).
    pub key: Mutex<usize>,
    /// Twitch sends `scope` as an array and offers userinfo; Google a string.
    twitch: bool,
    /// Seconds added to the stand-in's clock (tests that move the node's clock move this too).
    pub clock_offset: Mutex<i64>,
    /// The access token to hand out (a platform stand-in's token), instead of a random one.
    pub access_token: Mutex<Option<String>>,
    /// The access token a refresh hands out (a platform stand-in's next token), instead of a
    /// random one.
    pub refreshed_token: Mutex<Option<String>>,
    grants: Mutex<HashMap<String, Grant>>,
    /// Refresh tokens handed out, with their scope.
    refresh_tokens: Mutex<HashMap<String, String>>,
    /// Access tokens: their account, and the claims asked of UserInfo.
    tokens: Mutex<HashMap<String, (Account, Option<Value>)>>,
    pub log: Mutex<Log>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().expect("lock")
}

impl Provider {
    pub fn set_account(&self, a: Account) {
        *lock(&self.account) = a;
    }
    pub fn fault(&self, f: Fault) {
        *lock(&self.fault) = f;
    }
    /// Signs with the next key from now on (published in the JWKS).
    pub fn rotate(&self) {
        *lock(&self.key) = 1;
    }
    pub fn jwks_fetches(&self) -> usize {
        lock(&self.log).jwks_fetches
    }
}

pub struct Standin {
    pub provider: Arc<Provider>,
    pub addr: SocketAddr,
}

impl Standin {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The node's settings pointing at this stand-in.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let base = self.base();
        if self.provider.twitch {
            vec![
                ("twitch_client_id", self.provider.client_id.clone()),
                ("twitch_client_secret", CLIENT_SECRET.into()),
                ("twitch_auth_url", base.clone()),
                ("twitch_issuer", base),
            ]
        } else {
            vec![
                ("google_client_id", self.provider.client_id.clone()),
                ("google_client_secret", CLIENT_SECRET.into()),
                ("google_auth_url", format!("{base}/authorize")),
                ("google_token_url", format!("{base}/token")),
                ("google_jwks_url", format!("{base}/keys")),
                ("google_issuer", base),
            ]
        }
    }

    /// Grants the authorization request at `authorize_url` (what the consent page's Approve
    /// button does) and returns where the provider sends the browser back.
    pub async fn approve(&self, authorize_url: &str) -> String {
        let query = authorize_url.split_once('?').expect("a query").1;
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .post(format!("{}/approve", self.base()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(query.to_string())
            .send()
            .await
            .expect("approve");
        assert_eq!(res.status(), 302, "the stand-in approves");
        res.headers()["location"]
            .to_str()
            .expect("location")
            .to_string()
    }
}

pub async fn start(name: &'static str, account: Account) -> Standin {
    start_with_client(name, account, &format!("{name}-client-id")).await
}

/// A stand-in whose client id is `client_id` (a platform stand-in's).
pub async fn start_with_client(name: &'static str, account: Account, client_id: &str) -> Standin {
    let twitch = name == "twitch";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let provider = Arc::new(Provider {
        name,
        issuer: Mutex::new(format!("http://{addr}")),
        client_id: client_id.to_string(),
        account: Mutex::new(account),
        fault: Mutex::new(Fault::None),
        key: Mutex::new(0),
        twitch,
        clock_offset: Mutex::new(0),
        access_token: Mutex::default(),
        refreshed_token: Mutex::default(),
        grants: Mutex::default(),
        refresh_tokens: Mutex::default(),
        tokens: Mutex::default(),
        log: Mutex::default(),
    });
    let _ = test_keys();
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/approve", post(approve))
        .route("/token", post(token))
        .route("/keys", get(keys))
        .route("/userinfo", get(userinfo))
        .route("/validate", get(validate))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Standin { provider, addr }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The consent page: who signs in, what is asked, Approve / Cancel.
async fn authorize(
    State(p): State<Arc<Provider>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let account = lock(&p.account).clone();
    let hidden: String = q
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape(k),
                escape(v)
            )
        })
        .collect();
    let title = if p.twitch { "Twitch" } else { "Google" };
    Html(format!(
        r#"<!doctype html><html><head><meta name="viewport" content="width=device-width"><title>{title} consent</title></head>
<body style="font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem">
<h1>{title} (local stand-in)</h1>
<p>Sign in to ferrocast as <strong>{}</strong> ({})?</p>
<p>It asks for: <code>{}</code></p>
<form method="post" action="/approve">{hidden}<button type="submit">Approve</button></form>
<form method="post" action="/approve">{hidden}<input type="hidden" name="deny" value="1"><button type="submit">Cancel</button></form>
</body></html>"#,
        escape(&account.name),
        escape(account.email.as_deref().unwrap_or("no email")),
        escape(q.get("scope").map(String::as_str).unwrap_or("")),
    ))
    .into_response()
}

async fn approve(State(p): State<Arc<Provider>>, body: String) -> Response {
    let q = super::form_decode(&body);
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let redirect_uri = get("redirect_uri");
    let state = get("state");
    assert_eq!(get("response_type"), "code");
    assert_eq!(
        get("code_challenge_method"),
        "S256",
        "PKCE S256 is asked for"
    );
    assert_eq!(get("client_id"), p.client_id);
    {
        let mut log = lock(&p.log);
        log.scopes.push(get("scope"));
        for k in ["access_type", "prompt"] {
            if let Some(v) = q.get(k) {
                log.extras.push((k.to_string(), v.clone()));
            }
        }
    }
    let enc = ferrocast_auth::oidc::percent_encode;
    if q.contains_key("deny") {
        let to = format!("{redirect_uri}?error=access_denied&state={}", enc(&state));
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    lock(&p.log).secrets.push(code.clone());
    lock(&p.grants).insert(
        code.clone(),
        Grant {
            client_id: get("client_id"),
            redirect_uri: redirect_uri.clone(),
            challenge: get("code_challenge"),
            nonce: get("nonce"),
            scope: get("scope"),
            claims: q
                .get("claims")
                .map(|c| serde_json::from_str(c).expect("claims is JSON")),
            account: lock(&p.account).clone(),
            used: false,
        },
    );
    let to = format!(
        "{redirect_uri}?code={}&state={}&scope={}",
        enc(&code),
        enc(&state),
        enc(&get("scope"))
    );
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

fn invalid_grant(p: &Provider, why: &str) -> Response {
    lock(&p.log).refused.push(why.to_string());
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_grant", "error_description": why})),
    )
        .into_response()
}

async fn token(State(p): State<Arc<Provider>>, body: String) -> Response {
    let f = super::form_decode(&body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    if get("grant_type") == "refresh_token" {
        return refresh(
            &p,
            &get("client_id"),
            &get("client_secret"),
            &get("refresh_token"),
        );
    }
    if get("grant_type") != "authorization_code" {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    if get("client_id") != p.client_id || get("client_secret") != CLIENT_SECRET {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let (account, nonce, scope, asked) = {
        let mut grants = lock(&p.grants);
        let Some(g) = grants.get_mut(&get("code")) else {
            return invalid_grant(&p, "unknown code");
        };
        if g.used {
            return invalid_grant(&p, "code already used");
        }
        g.used = true;
        if g.redirect_uri != get("redirect_uri") || g.client_id != get("client_id") {
            return invalid_grant(&p, "redirect_uri mismatch");
        }
        let challenge = BASE64URL_NOPAD.encode(&Sha256::digest(get("code_verifier").as_bytes()));
        if challenge != g.challenge {
            return invalid_grant(&p, "PKCE verification failed");
        }
        (
            g.account.clone(),
            g.nonce.clone(),
            g.scope.clone(),
            g.claims.clone(),
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
        + *lock(&p.clock_offset);
    let fault = std::mem::replace(&mut *lock(&p.fault), Fault::None);
    let mut claims = json!({
        "iss": *lock(&p.issuer), "aud": p.client_id, "azp": p.client_id, "sub": account.sub,
        "iat": now, "exp": now + 3600, "nonce": nonce,
    });
    if let Some(e) = &account.email {
        claims["email"] = json!(e);
        claims["email_verified"] = json!(account.email_verified);
    }
    if p.twitch {
        claims["preferred_username"] = json!(account.login);
    } else {
        claims["name"] = json!(account.name);
    }
    let keys = test_keys();
    let mut key = keys[*lock(&p.key)].clone();
    match fault {
        Fault::None => {}
        Fault::Audience => {
            claims["aud"] = json!("someone-elses-client");
            claims["azp"] = json!("someone-elses-client");
        }
        Fault::Issuer => claims["iss"] = json!("https://evil.example"),
        Fault::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        Fault::Signature => key = RsaTestKey::with_kid(&keys[2], &key.kid),
        Fault::Nonce => claims["nonce"] = json!("another-sign-ins-nonce"),
        Fault::UnknownKey => key = keys[2].clone(),
    }
    let id_token = key.sign_jwt(&claims);
    let access = lock(&p.access_token)
        .clone()
        .unwrap_or_else(|| format!("at-{}", uuid::Uuid::new_v4().simple()));
    let refresh = format!("rt-{}", uuid::Uuid::new_v4().simple());
    lock(&p.tokens).insert(access.clone(), (account, asked));
    lock(&p.refresh_tokens).insert(refresh.clone(), scope.clone());
    lock(&p.log)
        .secrets
        .extend([access.clone(), refresh.clone(), id_token.clone()]);
    let scope: Value = if p.twitch {
        json!(scope.split_whitespace().collect::<Vec<_>>())
    } else {
        json!(scope)
    };
    Json(json!({"access_token": access, "expires_in": 3599, "id_token": id_token, "refresh_token": refresh, "scope": scope, "token_type": "Bearer"})).into_response()
}

/// The refresh grant (RFC 6749 §6): a new access token for a refresh token this stand-in
/// issued, with the same scope; no ID token.
fn refresh(p: &Provider, client_id: &str, secret: &str, token: &str) -> Response {
    if client_id != p.client_id || secret != CLIENT_SECRET {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some(scope) = lock(&p.refresh_tokens).get(token).cloned() else {
        return invalid_grant(p, "unknown refresh token");
    };
    let access = lock(&p.refreshed_token)
        .clone()
        .unwrap_or_else(|| format!("at-{}", uuid::Uuid::new_v4().simple()));
    lock(&p.log).secrets.push(access.clone());
    let scope: Value = if p.twitch {
        json!(scope.split_whitespace().collect::<Vec<_>>())
    } else {
        json!(scope)
    };
    Json(
        json!({"access_token": access, "expires_in": 3599, "scope": scope, "token_type": "Bearer"}),
    )
    .into_response()
}

async fn keys(State(p): State<Arc<Provider>>) -> Json<Value> {
    lock(&p.log).jwks_fetches += 1;
    let k = test_keys();
    // The current key, and the next one once rotated; never the rogue key.
    let published: Vec<Value> = if *lock(&p.key) == 0 {
        vec![k[0].jwk()]
    } else {
        vec![k[0].jwk(), k[1].jwk()]
    };
    Json(json!({ "keys": published }))
}

async fn userinfo(State(p): State<Arc<Provider>>, h: HeaderMap) -> Response {
    let token = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let Some((a, asked)) = lock(&p.tokens).get(&token).cloned() else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_token"})),
        )
            .into_response();
    };
    // Twitch's default UserInfo claims; the others only when the `claims` parameter asked.
    let mut body = json!({"aud": p.client_id, "iss": *lock(&p.issuer), "sub": a.sub});
    let wants = |c: &str| {
        asked
            .as_ref()
            .is_some_and(|v| v["userinfo"].get(c).is_some())
    };
    if wants("email") {
        body["email"] = json!(a.email);
    }
    if wants("email_verified") {
        body["email_verified"] = json!(a.email_verified);
    }
    if wants("preferred_username") {
        body["preferred_username"] = json!(a.login);
    }
    Json(body).into_response()
}

/// Twitch's token validation (`GET /oauth2/validate`, `Authorization: OAuth <token>`), which
/// the chat connector calls: the account's login and id (its `sub`), our client, the scopes.
async fn validate(State(p): State<Arc<Provider>>, h: HeaderMap) -> Response {
    let token = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("OAuth "))
        .unwrap_or_default()
        .to_string();
    let Some((a, _)) = lock(&p.tokens).get(&token).cloned() else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": 401, "message": "invalid access token"})),
        )
            .into_response();
    };
    Json(json!({"client_id": p.client_id, "login": a.login, "scopes": ["user:read:chat", "user:write:chat"], "user_id": a.sub, "expires_in": 14_000})).into_response()
}
