//! The web app end to end in Debian's Chromium (`web/e2e/run.mjs`, playwright-core): register,
//! create a source, add a destination (a local ffmpeg listening for RTMP), publish with ffmpeg
//! using the key the page shows, see the source and the destination live, the preview playing,
//! a viewer's chat message from the watch page arriving on the dashboard, and the stream
//! stopping. Screenshots of each main page at desktop and phone widths are saved to
//! target/web-shots.

use crate::support;

use serde_json::{json, Value};
use std::path::PathBuf;
use support::{require, Backend, Options, TestApp};

fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

/// The built web app and Debian's Chromium, which every browser test needs.
struct Browser {
    web: PathBuf,
    chromium: String,
}

/// Checks that the web app is built with its test tools and that Chromium is there.
fn browser() -> Browser {
    let web = web_dir();
    assert!(
        web.join("dist/index.html").exists() && web.join("node_modules/playwright-core").exists(),
        "the web app must be built and its test tools installed: run scripts/test.sh (npm ci and npm run build in web/)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Debian's Chromium is required at {chromium}: run scripts/test.sh (apt-get install chromium)"
    );
    Browser { web, chromium }
}

/// Where the scenarios save their screenshots.
fn shots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/web-shots")
}

/// Each page was saved at both widths.
fn assert_shots(shots: &std::path::Path, pages: &[&str]) {
    for page in pages {
        for size in ["desktop", "phone"] {
            let f = shots.join(format!("{page}-{size}.png"));
            assert!(f.exists(), "{} saved", f.display());
        }
    }
}

/// Runs a scenario of `web/e2e/run.mjs`; its report, or a panic with what it saw.
async fn run(browser: &Browser, params: Value) -> Value {
    let out = tokio::process::Command::new("node")
        .arg(browser.web.join("e2e/run.mjs"))
        .arg(params.to_string())
        .env("CHROMIUM", &browser.chromium)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creator_and_viewer_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let mut opts = Options::default();
    opts.extra
        .push(("restream_allow_private_targets", "true".into()));
    // Test destinations listen on whatever port the kernel gives them.
    opts.extra.push(("restream_allowed_ports", "any".into()));
    let app = TestApp::start_with(Backend::Sqlite, opts)
        .await
        .expect("sqlite always runs");
    let shots = shots_dir();
    let report = run(&browser, json!({ "url": app.url(""), "shots": shots })).await;
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        steps,
        [
            "registered",
            "source",
            "destination",
            "live",
            "destination live",
            "preview plays",
            "chat",
            "timed out",
            "stopped",
            "api key"
        ]
    );
    let (t1, t2) = (
        report["preview"]["t1"].as_f64().expect("t1"),
        report["preview"]["t2"].as_f64().expect("t2"),
    );
    assert!(
        t2 > t1 + 1.0,
        "the preview's currentTime advances: {t1} → {t2}"
    );
    assert!(report["key"].as_str().is_some_and(|k| k.starts_with("sk_")));
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report}"
    );
    assert_shots(
        &shots,
        &[
            "landing",
            "register",
            "dashboard-empty",
            "dashboard-live",
            "login",
            "settings",
            "forgot-password",
        ],
    );
    assert!(shots.join("watch-phone.png").exists() && shots.join("watch-desktop.png").exists());

    // The creator is made an administrator and puts the site in maintenance.
    let db = &app.running.as_ref().expect("running").state.db;
    let creator = db
        .user_by_email("creator@example.com")
        .await
        .expect("q")
        .expect("user");
    db.set_role(creator.id, "admin", 0).await.expect("role");
    let report = run(
        &browser,
        json!({ "url": app.url(""), "shots": shots, "scenario": "maintenance" }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "maintenance on",
            "others see the maintenance page",
            "the administrator does not",
            "maintenance off"
        ]),
        "{report:#}"
    );
    app.finish().await;
}

/// Self-service billing in the browser (`billing` in `web/e2e/run.mjs`), against local stand-ins
/// for Stripe Checkout, Razorpay Hosted Checkout and ePayco Smart Checkout
/// (`support::checkout`): the free plan's refusal links to the subscription page; prices in INR
/// once chosen; an upgrade through each gateway raises the limits; cancel at period end and
/// resume; history and a receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_in_a_real_browser() {
    let browser = browser();
    let (gateways, addr) = support::checkout::start().await;
    let app = TestApp::start_with(Backend::Sqlite, support::checkout::options(addr))
        .await
        .expect("sqlite always runs");
    support::checkout::set_node(&gateways, &app.url(""));
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({ "url": app.url(""), "shots": shots, "scenario": "billing" }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "limit links to the plans",
            "prices in INR",
            "razorpay upgrade",
            "the refused action succeeds",
            "stripe upgrade",
            "stripe portal",
            "canceled at period end",
            "resumed",
            "receipt",
            "settings",
            "epayco upgrade",
            "epayco limits rise"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report}"
    );
    assert_eq!(report["usdPrice"], "$9.99", "{report:#}");
    assert_eq!(report["inrPrice"], "₹799", "{report:#}");
    assert_eq!(report["hintedPrice"], "₹799", "en-IN: {report:#}");
    assert!(
        report["razorpayPage"]
            .as_str()
            .is_some_and(|t| t.contains("Pay 799.00 INR") && t.contains("payer@example.com")),
        "{report:#}"
    );
    assert!(
        report["stripePage"]
            .as_str()
            .is_some_and(|t| t.contains("24999.00 INR every year")),
        "{report:#}"
    );
    let payments: Vec<&str> = report["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(payments.len(), 2, "{payments:?}");
    assert!(
        payments[0].contains("Business") && payments[0].contains("₹24,999"),
        "{payments:?}"
    );
    assert!(
        payments[1].contains("Pro") && payments[1].contains("₹799"),
        "{payments:?}"
    );
    assert_eq!(report["receipt"]["plan"], "Business", "{report:#}");
    assert_eq!(report["receipt"]["amount"], "24999.00 INR");
    assert_eq!(report["receipt"]["gateway"], "Stripe");
    assert_eq!(report["receipt"]["reference"], "in_test_2");
    assert_eq!(report["settingsCurrency"], "INR");
    assert_eq!(report["businessButtons"], 0, "{report:#}");
    assert_eq!(report["noticeAfterReturn"], 0, "the outcome is said once");
    // ePayco: not offered in rupees (and the page says why); in dollars, through the stand-in's
    // script and hosted page, back with the reference, the plan granted by the confirmation.
    assert_eq!(report["epaycoInInr"], 0, "{report:#}");
    assert!(
        report["epaycoNote"]
            .as_str()
            .is_some_and(|t| t.contains("ePayco takes USD only")),
        "{report:#}"
    );
    assert!(
        report["epaycoPage"]
            .as_str()
            .is_some_and(|t| t.contains("ferrocast Pro, monthly")
                && t.contains("Pay 9.99 USD")
                && t.contains("lucia@example.com")),
        "{report:#}"
    );
    assert!(
        report["epaycoNotice"]
            .as_str()
            .is_some_and(|t| t.contains("Payment received") && t.contains("ePayco reference")),
        "{report:#}"
    );
    assert!(report.get("cspViolations").is_none(), "{report:#}");

    // What the gateways saw: a rupee order at Razorpay, a rupee Checkout at Stripe, and the
    // Stripe subscription set to end and then to renew again.
    {
        let seen = support::checkout::seen(&gateways);
        let order = seen.orders.first().expect("a Razorpay order");
        assert_eq!(
            (order["amount"].clone(), order["currency"].clone()),
            (json!(79_900), json!("INR"))
        );
        let session = seen.sessions.first().expect("a Checkout Session");
        assert_eq!(session["line_items[0][price_data][currency]"], "inr");
        assert_eq!(
            session["line_items[0][price_data][recurring][interval]"],
            "year"
        );
        assert_eq!(
            seen.updated,
            [
                ("sub_test_2".to_string(), "true".to_string()),
                ("sub_test_2".to_string(), "false".to_string())
            ]
        );
        assert!(seen.canceled.is_empty(), "{:?}", seen.canceled);
        assert_eq!(
            seen.portals,
            [("cus_test_2".to_string(), app.url("/dashboard/subscription"))]
        );
        // The page opened ePayco's session in the redirecting mode, not as a test transaction.
        assert_eq!(
            seen.epayco_opened,
            [("sess_test_1".to_string(), "false".to_string())]
        );
        assert_eq!(
            seen.epayco_sessions[0]["billing"]["email"],
            "lucia@example.com"
        );
        assert!(
            seen.paid.iter().any(|(g, _)| g == "epayco"),
            "{:?}",
            seen.paid
        );
    }
    assert_shots(
        &shots,
        &[
            "subscription-free",
            "subscription",
            "subscription-ending",
            "receipt",
            "subscription-epayco",
        ],
    );
    app.finish().await;
}

/// A creator ends their own live stream from the dashboard (ffmpeg publishing) and the page
/// says it ended and why; an administrator reads the daily charts and puts a user on Pro.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creator_ends_stream_and_admin_changes_a_plan_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    support::register_user(&app, "admin@example.com", "Admin").await;
    support::register_user(&app, "member@example.com", "Member").await;
    let db = app.running.as_ref().expect("running").state.db.clone();
    let admin = db
        .user_by_email("admin@example.com")
        .await
        .expect("q")
        .expect("admin");
    db.set_role(admin.id, "admin", 0).await.expect("role");
    // Some history for the charts: a stream on each of the last days.
    let now = app.running.as_ref().expect("running").state.clock.now_ms();
    for day in 1..6_i64 {
        let start = now - day * 86_400_000;
        let id = db
            .open_stream_session(
                &format!("past-{day}"),
                creator_user(&db).await,
                creator.id,
                start,
            )
            .await
            .expect("open");
        db.close_stream_session(id, start + day * 600_000, "done", 0, 0)
            .await
            .expect("close");
    }
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "seed",
            "key": creator.key,
            "ingest": format!("{}/live", app.rtmp_url()),
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "live",
            "the creator ended the stream and was told why",
            "charts",
            "the administrator put a user on Pro"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report}"
    );
    assert_eq!(
        report["charts"],
        json!(["Users", "Streams started", "Hours streamed", "Revenue"]),
        "{report}"
    );
    // Five past days with a stream each, and today's, in the 30-day chart.
    let label = report["streamsChart"].as_str().expect("label");
    assert!(label.ends_with("1, 1, 1, 1, 1, 1"), "{label}");
    // What the server holds: the session ended with the creator's reason, the member on Pro,
    // and the administrator's action recorded.
    let member = db
        .user_by_email("member@example.com")
        .await
        .expect("q")
        .expect("member");
    let (plan, sub) = db.user_plan(member.id).await.expect("plan");
    assert_eq!((plan.spec.name.as_str(), sub.is_some()), ("Pro", true));
    let actions = db.admin_actions(10).await.expect("actions");
    assert_eq!(
        (
            actions[0].action.as_str(),
            actions[0].target_email.as_deref()
        ),
        ("subscription_plan_changed", Some("member@example.com"))
    );
    assert_shots(
        &shots,
        &[
            "dashboard-end-stream",
            "dashboard-stream-ended",
            "admin-charts",
            "admin-plan-changed",
        ],
    );
    app.finish().await;
}

async fn creator_user(db: &ferrocast_db::Db) -> i64 {
    db.user_by_email("creator@example.com")
        .await
        .expect("q")
        .expect("creator")
        .id
}

/// Sign in with Google and Twitch in Chromium through the local OpenID stand-ins' consent
/// pages (`support::oidc`): sign up with Google, link Twitch in Settings, sign out, sign in
/// with either into the same account; a forged callback is refused in words on the login page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_google_and_twitch_in_a_real_browser() {
    use support::oidc::{self, Account};
    let browser = browser();
    let person = |sub: &str, email: &str, name: &str| Account {
        sub: sub.into(),
        email: Some(email.into()),
        email_verified: true,
        name: name.into(),
        login: name.to_ascii_lowercase(),
    };
    let google = oidc::start("google", person("g-42", "sam@example.com", "Sam Streamer")).await;
    let twitch = oidc::start("twitch", person("t-42", "sam@twitch.example", "SamTV")).await;
    let mut opts = Options::default();
    opts.extra.extend(google.settings());
    opts.extra.extend(twitch.settings());
    let app = TestApp::start_with(Backend::Sqlite, opts)
        .await
        .expect("sqlite always runs");
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({ "url": app.url(""), "shots": shots, "scenario": "oauth" }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "signed up with google",
            "linked twitch",
            "signed in with twitch",
            "signed in with google",
            "refused with a reason"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report}"
    );
    assert_eq!(report["twitchUser"], report["googleUser"], "one account");
    let db = &app.running.as_ref().expect("running").state.db;
    let user = db
        .user_by_email("sam@example.com")
        .await
        .expect("q")
        .expect("the Google sign-up made the account");
    assert_eq!(report["googleUser"].as_i64(), Some(user.id));
    assert!(user.password_hash.is_none());
    let linked: Vec<String> = db
        .identities_of(user.id)
        .await
        .expect("q")
        .into_iter()
        .map(|i| i.provider)
        .collect();
    assert_eq!(linked, ["google", "twitch"]);
    assert_shots(
        &shots,
        &[
            "register-providers",
            "google-consent",
            "settings-sign-in-methods",
            "login-providers",
            "login-oauth-error",
        ],
    );
    app.finish().await;
}

/// "Connect YouTube / Twitch chat" on the dashboard in Chromium, through the OpenID stand-ins'
/// consent pages in front of the chat stand-ins of `connectors`: both connect, messages from
/// both arrive in the merged chat, the chat rules are saved, YouTube is disconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_youtube_and_twitch_chat_in_a_real_browser() {
    let browser = browser();
    let standins = crate::connectors::chat_standins().await;
    let app = TestApp::start_with(Backend::Sqlite, standins.options)
        .await
        .expect("sqlite always runs");
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({ "url": app.url(""), "shots": shots, "scenario": "chat-oauth" }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "twitch connected",
            "youtube connected",
            "messages from both",
            "rules saved",
            "moderator added",
            "youtube disconnected"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report}"
    );
    assert_shots(&shots, &["twitch-consent", "dashboard-platform-chat"]);
    let _ = (
        standins.twitch,
        standins.youtube,
        standins.google,
        standins.twitch_id,
    );
    app.finish().await;
}

/// The creator's studio in Chromium (`studio` in `web/e2e/run.mjs`) while ffmpeg streams a
/// constant-bitrate test stream: waiting for the encoder, then live; the stats move and the
/// bitrate the studio shows is within 10 % of what the encoder sent; two viewers in other
/// browsers are counted as exactly two (the studio itself is not a viewer); a destination on a
/// closed port shows its error in words on a 390 px screen; preview, health and chat side by
/// side at 1280×860 without scrolling and stacked on a phone; a 4 s keyframe interval is warned
/// about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_while_streaming_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let mut opts = Options::default();
    opts.extra
        .push(("restream_allow_private_targets", "true".into()));
    opts.extra.push(("restream_allowed_ports", "any".into()));
    let app = TestApp::start_with(Backend::Sqlite, opts)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    // A destination nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let res = support::client()
        .post(app.url(&format!("/api/sources/{}/destinations", creator.id)))
        .bearer_auth(&creator.token)
        .json(&json!({"platform": "custom", "rtmp_url": format!("rtmp://127.0.0.1:{port}/live"), "stream_key": "k1"}))
        .send()
        .await
        .expect("add destination");
    assert_eq!(res.status(), 201);
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "studio",
            "key": creator.key,
            "playbackId": creator.playback_id,
            "ingest": format!("{}/live", app.rtmp_url()),
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "waiting for the encoder",
            "live",
            "viewers",
            "stats move",
            "layout",
            "destination error",
            "keyframe warning"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report}"
    );
    assert!(
        report["waitingUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("rtmp://")),
        "{report:#}"
    );
    // Exactly the two others: the creator's studio (in the stream room, playing the preview)
    // is not a viewer.
    assert_eq!(report["viewers"], "2", "{report:#}");
    // The bitrate read off the studio against the encoder's own count of bytes sent.
    let studio = report["bitrate"]["studio"]
        .as_f64()
        .expect("studio bitrate");
    let encoder = report["bitrate"]["encoder"]
        .as_f64()
        .expect("encoder bitrate");
    eprintln!(
        "studio bitrate {studio:.0} kbps (readings {}), encoder {encoder:.0} kbps",
        report["bitrate"]["readings"]
    );
    assert!(
        encoder > 1000.0 && (studio - encoder).abs() <= encoder * 0.10,
        "studio {studio:.0} kbps, encoder {encoder:.0} kbps: {report:#}"
    );
    assert!(
        report["points"].as_u64().is_some_and(|p| p >= 8),
        "{report:#}"
    );
    let fps: f64 = report["fpsShown"]
        .as_str()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("fps shown");
    // 30 fps sent (a loaded machine may fall behind real time for a while).
    assert!((15.0..=35.0).contains(&fps), "{report:#}");
    assert_eq!(report["keyframe"], "1.0 s", "{report:#}");
    assert_eq!(report["keyframeWarnings"], 0, "{report:#}");
    assert!(
        report["rotateAsk"]
            .as_str()
            .is_some_and(|t| t.contains("cuts the live stream")),
        "{report:#}"
    );
    assert_eq!(report["stillLive"], "Live", "declined: {report:#}");
    // Side by side and all in the 1280×860 window at once; stacked on a phone.
    let l = &report["layout"]["desktop"];
    let (preview, health, chat) = (&l["studio-preview"], &l["studio-health"], &l["studio-chat"]);
    let f = |v: &Value, k: &str| v[k].as_f64().expect("a number");
    for b in [preview, health, chat] {
        assert!(
            f(b, "top") >= 0.0 && f(b, "bottom") <= 860.0 && f(b, "right") <= 1280.0,
            "in the window without scrolling: {report:#}"
        );
    }
    assert!(
        f(preview, "right") <= f(health, "left") && f(health, "right") <= f(chat, "left"),
        "side by side: {report:#}"
    );
    let p = &report["layout"]["phone"];
    assert!(
        f(&p["studio-health"], "top") >= f(&p["studio-preview"], "bottom")
            && f(&p["studio-chat"], "top") >= f(&p["studio-health"], "bottom"),
        "stacked on a phone: {report:#}"
    );
    // The failing destination: its error in words, on the phone's screen.
    let d = &report["destination"];
    assert!(
        ["retrying", "failed"].contains(&d["state"].as_str().unwrap_or("")),
        "{report:#}"
    );
    let error = d["error"].as_str().unwrap_or("");
    assert!(
        error.contains("127.0.0.1") && error.len() > 30,
        "the error in words: {report:#}"
    );
    assert!(
        f(&d["box"], "x") >= 0.0 && f(&d["box"], "x") + f(&d["box"], "width") <= 390.0,
        "{report:#}"
    );
    assert_eq!(report["retryProblems"], 0, "{report:#}");
    assert!(
        report["keyframeWarning"]
            .as_str()
            .is_some_and(|t| t.contains("4.0 s apart") && t.contains("Keyframe Interval")),
        "{report:#}"
    );
    assert_shots(
        &shots,
        &["studio-waiting", "studio-live", "studio-keyframe-warning"],
    );
    assert!(shots.join("studio-destination-error-phone.png").exists());
    app.finish().await;
}
