//! The web app end to end in Debian's Chromium (`web/e2e/run.mjs`, playwright-core): register,
//! create a source, add a destination (a local ffmpeg listening for RTMP), publish with ffmpeg
//! using the key the page shows, see the source and the destination live, the preview playing,
//! a viewer's chat message from the watch page arriving on the dashboard, and the stream
//! stopping. Screenshots of each main page at desktop and phone widths are saved to
//! target/web-shots.

use crate::support;

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
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
    opts.extra.push(("srt_addr", "127.0.0.1:0".into()));
    let app = TestApp::start_with(Backend::Sqlite, opts)
        .await
        .expect("sqlite always runs");
    let shots = shots_dir();
    let report = run(&browser, json!({ "url": app.url(""), "shots": shots })).await;
    let key = report["key"].as_str().unwrap_or_default();
    assert_eq!(
        report["srt"].as_str(),
        Some(format!("{}?streamid={key}&pkt_size=1316", app.srt_url()).as_str()),
        "the OBS card shows the SRT URL: {report}"
    );
    assert_eq!(report["slateDefault"], "120", "{report}");
    assert_eq!(report["slatePreview"], "The default slate", "{report}");
    assert_eq!(
        report["slatePicture"], "1280x720",
        "the creator's slate picture, made 16:9: {report}"
    );
    let db = &app.running.as_ref().expect("running").state.db;
    let creator = db
        .user_by_email("creator@example.com")
        .await
        .expect("q")
        .expect("user");
    let sources = db.list_sources(creator.id).await.expect("sources");
    assert_eq!(sources[0].slate_secs, 30, "the slate setting was saved");
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
        json!([
            "Users",
            "Streams started",
            "Hours streamed",
            "Revenue",
            "Live streams started",
            "Most viewers at once",
            "Unique viewers",
            "Watch hours",
            "Sign-ups",
            "Uploads"
        ]),
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

/// Runs `tool args…` and returns what it printed, or panics saying how to install it.
fn tool_output(tool: &str, args: &[&str], install: &str) -> std::process::Output {
    std::process::Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} is required ({e}): run scripts/test.sh ({install})"))
}

/// The text of the QR code in a screenshot, read by zbar (an independent decoder, as a phone's
/// authenticator app would read the screen).
fn scan_qr(png: &std::path::Path) -> String {
    let out = tool_output(
        "zbarimg",
        &[
            "--raw",
            "-q",
            "-Sdisable",
            "-Sqrcode.enable",
            &png.to_string_lossy(),
        ],
        "apt-get install zbar-tools",
    );
    assert!(
        out.status.success(),
        "zbarimg found no QR code in {}: {}",
        png.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The relative luminance (0 black … 1 white) of a CSS `rgb(r, g, b)` colour.
fn luminance(css: &str) -> f64 {
    let v: Vec<f64> = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .map(|c| c.trim().parse::<f64>().expect("a colour channel") / 255.0)
        .collect();
    assert_eq!(v.len(), 3, "{css}");
    0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]
}

/// Every page of the app (`PAGES` in `web/e2e/run.mjs`), each as the person who sees it, at
/// 1280 and 390 px with nothing wider than the viewport, and the dark theme where asked: the
/// system's dark setting really turns the pages dark. The two-factor QR code on the settings
/// page decodes (zbarimg, from the screenshots, light and dark, desktop and phone) to the
/// otpauth URI the API returned, and the code made from the scanned key turns two-factor on.
/// The icons and the manifest the pages link are served with their types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_at_both_widths_and_in_the_dark_theme_in_a_real_browser() {
    let browser = browser();
    tool_output("zbarimg", &["--version"], "apt-get install zbar-tools");
    tool_output("oathtool", &["--version"], "apt-get install oathtool");
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    support::register_user(&app, "member@example.com", "Member").await;
    let admin_token = support::register_user(&app, "admin@example.com", "Admin").await;
    let db = app.running.as_ref().expect("running").state.db.clone();
    let admin = db
        .user_by_email("admin@example.com")
        .await
        .expect("q")
        .expect("admin");
    db.set_role(admin.id, "admin", 0).await.expect("role");

    // The icons and the manifest, with the types browsers need to use them.
    let c = support::client();
    let index = c
        .get(app.url("/"))
        .send()
        .await
        .expect("index")
        .text()
        .await
        .expect("text");
    for link in [
        r#"<link rel="icon" href="/favicon.svg" type="image/svg+xml""#,
        r#"<link rel="apple-touch-icon" href="/apple-touch-icon.png""#,
        r#"<link rel="manifest" href="/manifest.webmanifest""#,
        r##"<meta name="theme-color" content="#161922" media="(prefers-color-scheme: dark)""##,
    ] {
        assert!(index.contains(link), "index.html has {link}");
    }
    let get = |path: &str| {
        let c = c.clone();
        let url = app.url(path);
        async move {
            let r = c.get(&url).send().await.expect("get");
            assert_eq!(r.status(), 200, "{url}");
            let ty = r.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .to_string();
            (ty, r.bytes().await.expect("body"))
        }
    };
    let (ty, svg) = get("/favicon.svg").await;
    assert_eq!(ty, "image/svg+xml");
    assert!(svg.starts_with(b"<svg"), "an SVG drawing");
    let (ty, manifest) = get("/manifest.webmanifest").await;
    assert_eq!(ty, "application/manifest+json");
    let manifest: Value = serde_json::from_slice(&manifest).expect("the manifest is JSON");
    let mut pngs = vec![("/apple-touch-icon.png".to_string(), "180x180".to_string())];
    for icon in manifest["icons"].as_array().expect("icons") {
        let (src, sizes) = (
            icon["src"].as_str().expect("src"),
            icon["sizes"].as_str().expect("sizes"),
        );
        if icon["type"] == "image/png" {
            pngs.push((src.to_string(), sizes.to_string()));
        }
    }
    assert!(pngs.len() >= 3, "192 and 512 px icons: {manifest}");
    for (src, sizes) in pngs {
        let (ty, png) = get(&src).await;
        assert_eq!(ty, "image/png", "{src}");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{src} is a PNG");
        // The IHDR chunk: width and height, big-endian, at bytes 16 and 20.
        let dim = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
        assert_eq!(format!("{}x{}", dim(16), dim(20)), sizes, "{src}");
    }

    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "every-page",
            "playbackId": creator.playback_id,
            "sourceName": "Main",
            "channelHandle": "streamer",
            "accounts": {
                "creator": { "email": "creator@example.com" },
                "member": { "email": "member@example.com" },
                "admin": { "email": "admin@example.com", "token": admin_token },
            },
        }),
    )
    .await;
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    let pages: Vec<&str> = report["shots"]
        .as_array()
        .expect("shots")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for page in [
        "page-landing",
        "page-login",
        "page-register",
        "page-forgot-password",
        "page-auth-complete-error",
        "page-not-found",
        "page-watch-offline",
        "page-dashboard-empty",
        "page-dashboard",
        "page-analytics-empty",
        "page-subscription",
        "page-settings",
        "page-channel",
        "page-channel-missing",
        "page-admin",
        "page-browse",
        "page-settings-notifications",
        "page-unsubscribe",
        "page-radio-studio",
        "page-radio-missing",
        "page-hangouts",
        "page-maintenance",
    ] {
        assert!(pages.contains(&page), "{page} visited: {report:#}");
    }
    assert_shots(&shots, &pages);
    assert_shots(&shots, &["page-settings-2fa", "page-settings-2fa-dark"]);
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(
        steps.last(),
        Some(&json!("two-factor on with the scanned key")),
        "{report:#}"
    );

    // The dark theme: each page shot in it is dark, and light without it.
    let themes = report["themes"].as_object().expect("themes");
    assert!(themes.len() >= 5, "{report:#}");
    for (page, t) in themes {
        let (light, dark) = (
            luminance(t["light"].as_str().expect("light")),
            luminance(t["dark"].as_str().expect("dark")),
        );
        assert!(
            light > 0.8 && dark < 0.1,
            "{page}: light {light}, dark {dark}: {t}"
        );
    }

    // The QR code: what the API returned, read back from the pixels.
    let uri = report["otpauthUri"]
        .as_str()
        .expect("the API's otpauth URI");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert_eq!(report["scanned"].as_str(), Some(uri), "{report:#}");
    for png in [
        "qr-light.png",
        "qr-dark.png",
        "page-settings-2fa-phone.png",
        "page-settings-2fa-dark-desktop.png",
    ] {
        assert_eq!(scan_qr(&shots.join(png)), uri, "{png}");
    }
    let user = db
        .user_by_email("creator@example.com")
        .await
        .expect("q")
        .expect("creator");
    assert!(user.totp_enabled, "two-factor login is on for the creator");
    // The site was taken out of maintenance again.
    let site: Value = c
        .get(app.url("/api/site"))
        .send()
        .await
        .expect("site")
        .json()
        .await
        .expect("json");
    assert_eq!(site["maintenance_mode"], false, "{site}");
    app.finish().await;
}

/// Sharing and the first visit in the browser (`sharing` in `web/e2e/run.mjs`): the app's own
/// not-found page, an unknown watch id said not to exist, a watch page's title, creator and
/// Share panel (the embed code copied), and an administrator on a 390 px phone changing a
/// role, suspending (the user is refused at login, in words) and reactivating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_not_found_and_suspension_in_a_real_browser() {
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let source = support::creator_with_source(&app, "member@example.com").await;
    let (status, _) = support::call(
        &app,
        "PUT",
        &format!("/api/sources/{}", source.id),
        Some(&source.token),
        Some(json!({"name": "Friday <night> \"show\""})),
    )
    .await;
    assert_eq!(status, 200);
    support::register_user(&app, "admin@example.com", "Admin").await;
    let db = &app.running.as_ref().expect("running").state.db;
    let admin = db
        .user_by_email("admin@example.com")
        .await
        .expect("q")
        .expect("user");
    db.set_role(admin.id, "admin", 0).await.expect("role");
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "sharing",
            "playbackId": source.playback_id,
            "title": "Friday <night> \"show\"",
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "unknown path shows the not-found page",
            "unknown watch id does not exist",
            "share panel copies the embed code",
            "role changed",
            "suspended",
            "suspended user refused at login",
            "reactivated"
        ]),
        "{report:#}"
    );
    assert_eq!(report["creator"], "Streamer");
    assert_eq!(
        report["documentTitle"],
        "Friday <night> \"show\" · Streamer"
    );
    let embed = report["copiedEmbed"].as_str().expect("copied");
    assert!(
        embed.starts_with(&format!(
            "<iframe src=\"{}\"",
            app.url(&format!("/embed/{}", source.playback_id))
        )) && embed.contains("title=\"Friday &lt;night&gt; &quot;show&quot;\""),
        "{embed}"
    );
    assert_eq!(
        report["shownLink"],
        app.url(&format!("/watch/{}", source.playback_id))
    );
    assert!(
        report["suspendedLogin"]
            .as_str()
            .is_some_and(|t| t.contains("administrators")),
        "{report}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report}"
    );
    assert_shots(
        &shots,
        &[
            "not-found",
            "watch-missing",
            "watch-share",
            "admin-user-suspended",
            "login-suspended",
            "admin-actions-phone",
        ],
    );
    let member = db
        .user_by_email("member@example.com")
        .await
        .expect("q")
        .expect("user");
    assert_eq!(
        (member.role.as_str(), member.suspended_at),
        ("moderator", None)
    );
    app.finish().await;
}

/// Only the embeddable player may be framed by other sites: its page's policy says
/// `frame-ancestors *` and it has no `X-Frame-Options`; every other page keeps
/// `frame-ancestors 'none'` and `DENY`. HLS answers, errors included, are readable from any
/// origin (players on other sites).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_embed_page_may_be_framed() {
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let c = support::client();
    let get = |path: &str| c.get(app.url(path)).send();
    let embed = get("/embed/abc123").await.expect("embed");
    assert_eq!(embed.status(), 200);
    let csp = embed.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(csp.contains("frame-ancestors *;"), "{csp}");
    assert!(embed.headers().get("x-frame-options").is_none());
    for path in ["/", "/watch/abc123", "/dashboard", "/login", "/nope"] {
        let res = get(path).await.expect("page");
        let csp = res
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(res.headers()["x-frame-options"], "DENY", "{path}");
    }
    // Nested paths under /embed/ are not pages.
    assert_eq!(get("/embed/a/b").await.expect("nested").status(), 404);
    let res = get("/hls/abc123/index.m3u8").await.expect("hls");
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    app.finish().await;
}

/// Glass-to-glass latency in Chromium (`latency` in `web/e2e/run.mjs`): ffmpeg publishes
/// testsrc2 with the wall clock burned into every frame (text, and 24 blocks with their
/// inverse for the page to read); the page reads the clock in each displayed frame and compares
/// it with its own. On the watch page, on the embed page inside an `<iframe>` of a page from
/// another origin, and with stock hls.js there; the dashboard refuses to be framed; the watch
/// page plays to the stream's end before it says so.
///
/// No latency is asserted here (timings belong to benchmarks): this checks that the
/// measurement works. The figures are printed; `FERROCAST_LATENCY_SAMPLES` (default 24 per
/// player), `FERROCAST_LATENCY_WARMUP` (seconds, default 6) and `FERROCAST_LATENCY_GOP`
/// (keyframe interval in frames at 30 fps, default 30) make it the benchmark of BENCHMARKS.md
/// ("Playback latency in the browser", `scripts/latency.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playback_latency_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    let env_num = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let samples = env_num("FERROCAST_LATENCY_SAMPLES", 24).max(20);
    let warmup = env_num("FERROCAST_LATENCY_WARMUP", 6);
    let gop = env_num("FERROCAST_LATENCY_GOP", 30).clamp(1, 300);
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "latency",
            "key": creator.key,
            "ingest": format!("{}/live", app.rtmp_url()),
            "playbackId": creator.playback_id,
            "samples": samples,
            "warmup": warmup,
            "gop": gop,
            // Three players, each: warm-up, then samples (one every 250 ms) within the
            // scenario's own limit (a minute, plus a second a sample, for a stalled player to
            // recover on a busy machine).
            "timeoutMs": 150_000 + 3 * (warmup * 1000 + 60_000 + samples * 1000),
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "measured watch",
            "measured embed",
            "measured stock",
            "dashboard refused",
            "the last frames reached the viewer"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report}"
    );
    let figures = &report["latency"];
    eprintln!("glass-to-glass latency in Chromium (ms): {figures:#}");
    for player in ["watch", "embed", "stock"] {
        let m = &figures[player];
        let n = m["n"].as_u64().expect("n");
        let (frames, bad) = (
            m["frames"].as_u64().expect("frames"),
            m["bad"].as_u64().expect("bad"),
        );
        assert!(n >= samples, "{player}: {n} samples read: {m}");
        // The clock reads cleanly from nearly every frame (its inverse row checks each read).
        assert!(
            bad * 10 <= frames,
            "{player}: {bad} of {frames} frames unreadable"
        );
        // A decoded clock is the sender's wall clock, a little behind the page's: a misread
        // would land anywhere in the 2^24 ms (4.7 h) the code spans.
        let (min, max) = (
            m["min"].as_u64().expect("min"),
            m["max"].as_u64().expect("max"),
        );
        assert!(
            min > 0 && max < 60_000,
            "{player}: decoded clocks are sane: {m}"
        );
    }
    // Our players play LL-HLS in low-latency mode.
    assert_eq!(figures["watch"]["lowLatency"], "yes", "{figures}");
    assert_eq!(figures["embed"]["lowLatency"], "yes", "{figures}");
    // The embed page played inside a frame of another origin, and links to the watch page.
    let embed = &report["embed"];
    let node = app.url("");
    assert_eq!(embed["frame"], node.trim_end_matches('/'), "{embed}");
    assert_ne!(embed["host"], embed["frame"], "{embed}");
    assert_eq!(
        embed["watchLink"],
        app.url(&format!("/watch/{}", creator.playback_id)),
        "{embed}"
    );
    assert_eq!(embed["badge"], "Live");
    assert!(
        embed["viewers"]
            .as_str()
            .is_some_and(|v| v.ends_with(" watching")),
        "{embed}"
    );
    // The dashboard did not load in the other origin's frame; the browser said why.
    let dash = &report["dashboardFrame"];
    assert_eq!(dash["app"], false, "{dash}");
    assert!(
        dash["refusals"]
            .as_array()
            .is_some_and(|r| r.iter().any(|m| m
                .as_str()
                .is_some_and(|m| m.contains("frame-ancestors 'none'")))),
        "{dash}"
    );
    // The end: the player kept playing after the page learnt the stream was offline, up to
    // the end of the playlist (EXT-X-ENDLIST), and only then gave way to the offline notice.
    let end = &report["end"];
    eprintln!("end of stream: {end}");
    assert!(
        end["why"] == "ended" || end["why"] == "endlist",
        "the player reached the end of the playlist: {end}"
    );
    let code = |k: &str| end[k].as_u64().unwrap_or_else(|| panic!("{k}: {end}"));
    let age = |newer: u64, older: u64| (newer + (1 << 24) - older) % (1 << 24);
    let (at_offline, last, stopped) =
        (code("codeAtOffline"), code("lastCode"), code("stoppedCode"));
    assert!(
        age(last, at_offline) < 60_000,
        "the last frame shown is newer than the one on screen at the offline status: {end}"
    );
    // The last frame shown is one of the stream's last: the final segment, which used to be
    // dropped, reached the viewer (what is missing is the encoder's flush at SIGINT and at
    // most one part whose audio stopped short).
    assert!(
        age(stopped, last) < 1_500,
        "the last frame shown is from the stream's last second: {end}"
    );
    assert_shots(
        &shots,
        &[
            "watch-clock",
            "embed-framed",
            "embed",
            "watch-ended",
            "embed-offline",
        ],
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

/// A creator's videos in the browser (`videos` in `web/e2e/run.mjs`): the empty library, an
/// upload of an ffmpeg-made MP4 through the file input with the stock `tus-js-client` (a reload
/// cuts it off half-way and choosing the file again continues it where it stopped; paused and
/// resumed), processing to `ready` with its progress on the page, an edit, the video page
/// playing, a seek to 5 s through the seek bar with frames advancing after it, the preview strip's
/// frame on hover, a missing video's page, the delete that frees the storage again, and the
/// creator's watch page without a past broadcasts section (an upload is not a broadcast).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_process_and_play_a_video_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let app = TestApp::start_with(
        Backend::Sqlite,
        Options {
            extra: crate::recording::fast_pipeline(),
            ..Options::default()
        },
    )
    .await
    .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    // 8 s of test pattern and tone, H.264 + AAC at a constant 14 Mb/s: three 5 MB chunks, so
    // that the upload is seen under way, cut off and resumed.
    let file = app.data_dir.join("test-pattern.mp4");
    std::fs::create_dir_all(&app.data_dir).expect("data dir");
    let made = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "8",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "30",
            "-b:v",
            "14M",
            "-minrate",
            "14M",
            "-maxrate",
            "14M",
            "-bufsize",
            "4M",
            "-x264-params",
            "nal-hrd=cbr",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-movflags",
            "+faststart",
        ])
        .arg(&file)
        .status()
        .await
        .expect("ffmpeg runs");
    assert!(made.success(), "ffmpeg made the test video");
    let size = std::fs::metadata(&file).expect("the test video").len();
    assert!(size > 10 * 1024 * 1024, "three chunks: {size} bytes");

    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "videos",
            "file": file,
            "timeoutMs": 300_000,
            "playbackId": creator.playback_id,
            "accounts": { "creator": { "email": "creator@example.com" } },
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "empty library",
            "uploading",
            "resumed after a reload",
            "paused and resumed",
            "processed",
            "edited",
            "plays and seeks",
            "preview",
            "not found",
            "deleted",
            "no past broadcasts"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    // Seen under way, with its speed; continued after the reload from past the first chunk.
    let under_way = f(&report["uploading"]["percent"]);
    assert!((30.0..100.0).contains(&under_way), "{report:#}");
    assert!(
        report["uploading"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("/s") && t.contains("left")),
        "speed and time left shown: {report:#}"
    );
    assert!(
        report["unfinished"]
            .as_str()
            .is_some_and(|t| t.contains("test-pattern.mp4")),
        "{report:#}"
    );
    let resumed = f(&report["resumedAt"]);
    assert!(
        (30.0..100.0).contains(&resumed),
        "resumed where it stopped, not from the start: {report:#}"
    );
    assert_eq!(
        report["pause"]["at"], report["pause"]["after"],
        "a paused upload stays where it is: {report:#}"
    );
    // Processing showed on the way to ready.
    let statuses: Vec<&str> = report["statuses"]
        .as_array()
        .expect("statuses")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(statuses.last(), Some(&"Ready"), "{report:#}");
    // The video's page plays from 5 s on after the seek.
    assert!((7.5..8.6).contains(&f(&report["duration"])), "{report:#}");
    let seek = &report["seek"];
    let at = f(&seek["seeked"]["t"]);
    assert!((4.6..5.6).contains(&at), "seeked to 5 s: {report:#}");
    assert!(
        f(&seek["later"]["t"]) > at + 0.5
            && f(&seek["later"]["frames"]) > f(&seek["seeked"]["frames"]),
        "frames advance after the seek: {report:#}"
    );
    // The preview: a tile of the strip (0.3 of 8 s is frame 2), the strip a JPEG.
    let preview = &report["preview"];
    assert_eq!(preview["tile"], "2,0", "{report:#}");
    assert!(
        preview["image"]
            .as_str()
            .is_some_and(|i| i.contains("/strip.jpg")),
        "{report:#}"
    );
    assert_eq!(report["strip"]["status"], 200, "{report:#}");
    assert_eq!(report["strip"]["type"], "image/jpeg", "{report:#}");
    assert!(
        report["download"]
            .as_str()
            .is_some_and(|d| d.contains("/video.mp4")),
        "{report:#}"
    );
    assert!(
        report["videoPath"]
            .as_str()
            .is_some_and(|p| p.starts_with("/v/") && p.len() > 3 && !p[3..].contains('/')),
        "{report:#}"
    );
    // The storage: nothing, then the video, then nothing again.
    assert!(
        report["storageEmpty"]
            .as_str()
            .is_some_and(|s| s.starts_with("0 B")),
        "{report:#}"
    );
    assert!(
        report["storageUsed"]
            .as_str()
            .is_some_and(|s| !s.starts_with("0 B")),
        "{report:#}"
    );
    assert_eq!(report["storageAfter"], report["storageEmpty"], "{report:#}");
    // Past broadcasts are asked for; an upload is not one, so the section is not there.
    assert_eq!(report["pastBroadcasts"]["status"], 200, "{report:#}");
    assert_eq!(report["pastBroadcasts"]["shown"], 0, "{report:#}");
    assert_shots(
        &shots,
        &[
            "library-empty",
            "library-uploading",
            "library-list",
            "video",
        ],
    );
    assert!(shots.join("video-preview-desktop.png").exists());

    // A past broadcast: ffmpeg streams 6 s; once it is a ready recording, an anonymous viewer
    // finds it on the creator's watch page and plays it.
    let (rtmp, key) = (app.rtmp_url(), creator.key.clone());
    let published =
        tokio::task::spawn_blocking(move || support::publish(&rtmp, &key, 6, &[]).wait())
            .await
            .expect("join")
            .expect("ffmpeg");
    assert!(published.success(), "ffmpeg published");
    let db = crate::recording::db(&app).await;
    let user = crate::recording::user_of(&db, creator.id).await;
    let recording =
        crate::recording::settled_video(&db, user, std::time::Duration::from_secs(90)).await;
    assert_eq!(recording.status, "ready", "{recording:#?}");
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "past-broadcasts",
            "timeoutMs": 120_000,
            "playbackId": creator.playback_id,
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!(["listed", "plays", "counted", "trending"]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    let past = &report["past"];
    assert_eq!(past["cards"], 1, "{report:#}");
    assert_eq!(past["title"], recording.title.as_str(), "{report:#}");
    assert_eq!(
        past["title_on_page"],
        recording.title.as_str(),
        "{report:#}"
    );
    assert!(
        past["duration"]
            .as_str()
            .is_some_and(|d| d.starts_with("0:0")),
        "the card shows its duration: {report:#}"
    );
    assert!(f(&past["poster"]) > 0.0, "the poster loaded: {report:#}");
    assert!(
        (5.0..7.5).contains(&f(&past["played"]["duration"])) && f(&past["played"]["t"]) > 1.0,
        "{report:#}"
    );
    assert_shots(&shots, &["watch-past-broadcasts"]);
    // The player counted one view and, as the page went, the time it played; Browse listed
    // the recording as trending.
    assert_eq!(past["views"], "1 view", "{report:#}");
    assert_eq!(
        past["trending"],
        json!({ "cards": 1, "title": recording.title, "views": "1 view" }),
        "{report:#}"
    );
    let mut analytics = Value::Null;
    for _ in 0..20 {
        let (status, a) = support::call(
            &app,
            "GET",
            &format!("/api/videos/{}/analytics", recording.uuid),
            Some(&creator.token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{a}");
        analytics = a;
        if analytics["watch_seconds"].as_f64().unwrap_or(0.0) > 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(analytics["views"], 1, "{analytics}");
    let watched = analytics["watch_seconds"].as_f64().unwrap_or(0.0);
    assert!(
        (1.0..30.0).contains(&watched),
        "the time played, credited as the page went: {analytics} ({report:#})"
    );
    app.finish().await;
}

/// Stream info and Browse in Chromium: the creator sets a title, category, language and tags in
/// the Dashboard and goes live with ffmpeg; an anonymous viewer finds the card in Browse (with a
/// picture of the stream), filters by category, opens the watch page showing the title, category
/// and tags, and sees a new title the creator saves while live without reloading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_info_and_browse_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "browse",
            "timeoutMs": 150_000,
            "accounts": { "creator": { "email": "creator@example.com" } },
            "ingest": format!("{}/live", app.rtmp_url()),
            "key": creator.key,
            "title": "Speedrunning the classics",
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "stream info set",
            "live",
            "card",
            "filtered",
            "watch",
            "title pushed"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    let b = &report["browse"];
    assert_eq!(b["cards"], 1, "{report:#}");
    assert_eq!(b["title"], "Speedrunning the classics", "{report:#}");
    assert_eq!(b["category"], "Gaming", "{report:#}");
    assert_eq!(b["badge"], 1, "the LIVE badge: {report:#}");
    assert!(
        b["viewers"]
            .as_str()
            .is_some_and(|v| v.ends_with("viewers") || v.ends_with("viewer")),
        "{report:#}"
    );
    // A frame of the 640×360 stream, not the app's 512×512 icon.
    assert_eq!(b["thumbnail"], json!([640, 360]), "{report:#}");
    assert_eq!(b["emptyUrl"], "?category=music", "{report:#}");
    assert_eq!(b["filteredUrl"], "?category=gaming", "{report:#}");
    let w = &report["watch"];
    assert_eq!(w["title"], "Speedrunning the classics", "{report:#}");
    assert_eq!(w["category"], "Gaming", "{report:#}");
    assert_eq!(w["tags"], "#speedrun#retro", "{report:#}");
    assert_eq!(
        w["description"], "Three classics back to back.\nViewers pick the order.",
        "line breaks kept: {report:#}"
    );
    assert_eq!(
        w["pushed"], "Speedrunning the classics, part two",
        "{report:#}"
    );
    assert_eq!(w["reloaded"], false, "{report:#}");
    assert_shots(
        &shots,
        &[
            "dashboard-stream-info",
            "browse",
            "browse-empty-category",
            "watch-stream-info",
        ],
    );
    // Stored as the creator saved it last.
    let (_, list) = support::call(&app, "GET", "/api/sources", Some(&creator.token), None).await;
    let s = &list["sources"][0];
    assert_eq!(s["title"], "Speedrunning the classics, part two");
    assert_eq!(s["category"], "gaming");
    assert_eq!(s["language"], "en");
    assert_eq!(s["tags"], json!(["speedrun", "retro"]));
    app.finish().await;
}

/// Profiles and channels: in Settings a creator sees a reserved handle refused as they type,
/// then sets a handle, a bio, a link, an avatar (a PNG) and a banner (a JPEG), made by ffmpeg;
/// their channel page shows them, with the pictures at the sizes the server made; the watch
/// page's creator name leads to the channel, and an unknown handle is the channel's not-found
/// page. Screenshots at 1280 and 390 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_and_channel_in_a_real_browser() {
    let browser = browser();
    require("ffmpeg");
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-profile-{}",
        ferrocast_server::service::videos::new_video_id()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let (avatar, banner) = (dir.join("me.png"), dir.join("wide.jpg"));
    for (file, source) in [
        (&avatar, "testsrc2=size=500x500:rate=1"),
        (&banner, "smptebars=size=1600x600:rate=1"),
    ] {
        let made = std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                source,
            ])
            .args(["-frames:v", "1"])
            .arg(file)
            .status()
            .expect("ffmpeg runs");
        assert!(made.success(), "ffmpeg made {}", file.display());
    }
    let shots = shots_dir();
    let bio = "Live coding every Friday.";
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "profile",
            "handle": "Ada_Streams",
            "bio": bio,
            "avatar": avatar,
            "banner": banner,
            "playbackId": creator.playback_id,
            "accounts": { "creator": { "email": "creator@example.com" } },
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "handle checked as typed",
            "pictures uploaded",
            "profile saved",
            "channel shows the profile",
            "watch page links to the channel",
            "unknown channel"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    assert!(
        report["reservedHint"]
            .as_str()
            .is_some_and(|h| h.contains("reserved")),
        "{report:#}"
    );
    let ch = &report["channel"];
    assert_eq!(ch["name"], "Streamer", "{report:#}");
    assert_eq!(ch["handle"], "@ada_streams", "{report:#}");
    assert_eq!(ch["bio"], bio, "{report:#}");
    assert_eq!(ch["link"], "https://ada.example/code", "{report:#}");
    assert_eq!(ch["avatar"], json!([256, 256]), "{report:#}");
    assert_eq!(ch["banner"], json!([1920, 480]), "{report:#}");
    let user = app
        .running
        .as_ref()
        .expect("running")
        .state
        .db
        .user_by_email("creator@example.com")
        .await
        .expect("q")
        .expect("creator");
    assert_eq!(user.handle, "ada_streams");
    assert!(user.avatar_key.is_some() && user.banner_key.is_some());
    assert_shots(
        &shots,
        &[
            "settings-profile",
            "channel",
            "channel-about",
            "channel-missing",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

/// Likes and comments in Chromium: a signed-in viewer likes a video, comments, replies to the
/// comment and sees the counts follow without a reload; a reload shows the same; deleting the
/// reply brings the count down. What the page showed is what was stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn likes_comments_and_replies_in_a_real_browser() {
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    support::register_user(&app, "viewer@example.com", "Viewer").await;
    let db = crate::recording::db(&app).await;
    let owner = crate::recording::user_of(&db, creator.id).await;
    let uuid = ferrocast_server::service::videos::new_video_id();
    db.create_video(
        &ferrocast_db::videos::NewVideo {
            uuid: &uuid,
            user_id: owner,
            source_id: Some(creator.id),
            kind: "upload",
            title: "Our first tour",
            description: "Twelve cities in ten days.",
            tags: &[],
            visibility: "public",
            status: "ready",
            expires_at: None,
        },
        ferrocast_db::now_ms(),
    )
    .await
    .expect("video");
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "engage",
            "timeoutMs": 90_000,
            "accounts": { "viewer": { "email": "viewer@example.com" } },
            "video": uuid,
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!(["liked", "commented", "replied", "persisted", "deleted"]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    let e = &report["engage"];
    assert_eq!(
        e["before"],
        json!({ "likes": "0", "comments": "0" }),
        "{report:#}"
    );
    assert_eq!(
        e["liked"],
        json!({ "likes": "1", "pressed": "true" }),
        "{report:#}"
    );
    assert_eq!(e["commented"], "1", "{report:#}");
    assert_eq!(
        e["replied"],
        json!({ "comments": "2", "replies": 1 }),
        "{report:#}"
    );
    assert_eq!(
        e["reloaded"],
        json!({
            "likes": "1",
            "pressed": "true",
            "comments": "2",
            "text": "What a great video!\nThe second half especially."
        }),
        "{report:#}"
    );
    assert_eq!(
        e["deleted"],
        json!({ "comments": "1", "replies": 0 }),
        "{report:#}"
    );
    assert_shots(&shots, &["video-comments"]);
    // Stored as the page showed it.
    let (_, v) = support::call(&app, "GET", &format!("/api/videos/{uuid}"), None, None).await;
    assert_eq!((&v["likes"], &v["comments"]), (&json!(1), &json!(1)), "{v}");
    let (_, list) = support::call(
        &app,
        "GET",
        &format!("/api/videos/{uuid}/comments"),
        None,
        None,
    )
    .await;
    assert_eq!(
        list["comments"][0]["author"]["display_name"], "Viewer",
        "{list}"
    );
    assert_eq!(list["comments"][0]["reply_count"], 0, "{list}");
    app.finish().await;
}

/// Search and schedule in the browser (`search` in `web/e2e/run.mjs`): a creator announces a
/// stream in the dashboard's editor; a viewer on a 390 px phone types the creator's handle with
/// a typo in the top bar, finds and opens the channel, and its Schedule tab shows the stream
/// and a calendar link that serves a valid iCalendar feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_schedule_in_a_real_browser() {
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let token = support::register_user(&app, "creator@example.com", "Night Owl").await;
    let (status, body) = support::call(
        &app,
        "PATCH",
        "/api/me/profile",
        Some(&token),
        Some(json!({ "handle": "streamer42", "bio": "Speedruns of forgotten platformers." })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let shots = shots_dir();
    let title = "Friday night speedruns, part 3";
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "search",
            "handle": "streamer42",
            "typo": "strmer",
            "title": title,
            "accounts": { "creator": { "email": "creator@example.com" } },
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "scheduled in the dashboard",
            "found the channel by its handle with a typo",
            "opened the channel",
            "the schedule tab shows the stream and the calendar link",
            "calendar fetched"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    let hit = report["searchHit"].as_str().expect("hit");
    assert!(
        hit.contains("Night Owl") && hit.contains("@streamer42"),
        "{hit}"
    );
    assert!(hit.contains("similar handle"), "{hit}");
    assert!(
        report["scheduleItem"]
            .as_str()
            .is_some_and(|s| s.contains(title) && s.contains("1 h 30 min") && s.contains("Gaming")),
        "{report:#}"
    );
    assert_eq!(
        report["icsHref"],
        app.url("/c/streamer42/schedule.ics").as_str()
    );
    let ics = &report["ics"];
    assert_eq!(ics["status"], 200, "{report:#}");
    assert_eq!(ics["type"], "text/calendar; charset=utf-8");
    let body = ics["body"].as_str().expect("calendar");
    assert!(
        body.starts_with("BEGIN:VCALENDAR\r\n") && body.ends_with("END:VCALENDAR\r\n"),
        "{body}"
    );
    let unfolded = body.replace("\r\n ", "");
    // The comma in the title is escaped; the start is the instant the creator typed, in UTC.
    assert!(
        unfolded.contains("SUMMARY:Friday night speedruns\\, part 3\r\n"),
        "{body}"
    );
    let starts = report["startsAt"].as_str().expect("start");
    let utc = format!(
        "DTSTART:{}{}{}T{}{}00Z\r\n",
        &starts[0..4],
        &starts[5..7],
        &starts[8..10],
        &starts[11..13],
        &starts[14..16]
    );
    assert!(unfolded.contains(&utc), "{utc} in {body}");
    assert!(unfolded.contains("TRIGGER:-PT30M\r\n"), "{body}");
    assert_shots(
        &shots,
        &["dashboard-schedule", "search-results", "channel-schedule"],
    );
    app.finish().await;
}

/// Notifications in Chromium: a creator is live with ffmpeg; a second user finds the stream in
/// Browse's live now, opens the creator's channel from the watch page, follows it and turns on
/// push (permission granted; the push service is the Node stand-in). The creator goes live again:
/// the bell shows the notice within 5 s, the email arrives at the tests' SMTP server and the push
/// at the stand-in, signed (VAPID) and decryptable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let mut opts = Options::default();
    opts.extra
        .push(("push_allow_private_endpoints", "true".into()));
    opts.extra
        .push(("vapid_subject", "mailto:ops@example.com".into()));
    let app = TestApp::start_with(Backend::Sqlite, opts)
        .await
        .expect("sqlite always runs");
    let push = crate::notifications::PushService::start().await;
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    let title = "Late night synth jam";
    let (s, _) = support::call(
        &app,
        "PATCH",
        &format!("/api/sources/{}/metadata", creator.id),
        Some(&creator.token),
        Some(json!({"title": title})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, body) = support::call(
        &app,
        "PATCH",
        "/api/me/profile",
        Some(&creator.token),
        Some(json!({"handle": "synthwave_sam"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    support::register_user(&app, "viewer@example.com", "Viewer").await;
    let subscription = push.subscription("ok").await;
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "notify",
            "timeoutMs": 150_000,
            "accounts": { "viewer": { "email": "viewer@example.com" } },
            "ingest": format!("{}/live", app.rtmp_url()),
            "key": creator.key,
            "playbackId": creator.playback_id,
            "handle": "synthwave_sam",
            "typo": "synthwve",
            "title": title,
            "push": subscription,
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "found by search",
            "found live",
            "followed",
            "push on",
            "live again",
            "bell",
            "opened"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    assert_eq!(report["permission"], "granted", "{report:#}");
    assert_eq!(
        report["serviceWorker"], true,
        "the service worker is active: {report:#}"
    );
    let after = report["bellAfterMs"].as_u64().expect("ms");
    assert!(
        after <= 5000,
        "the bell within 5 s of going live: {after} ms"
    );
    assert!(
        report["notice"]
            .as_str()
            .is_some_and(|n| n.contains("Streamer is live") && n.contains(title)),
        "{report:#}"
    );
    assert_eq!(
        report["unreadAfter"], 0,
        "opening the notice read it: {report:#}"
    );
    assert_eq!(
        report["following"],
        json!(["/c/synthwave_sam"]),
        "Browse lists the channel followed: {report:#}"
    );
    assert_shots(
        &shots,
        &[
            "settings-notifications",
            "browse-following",
            "notifications-bell",
        ],
    );

    // The email, at the tests' SMTP server.
    let mut mail = None;
    for _ in 0..100 {
        mail = app
            .inbox
            .all()
            .into_iter()
            .find(|m| m.contains("To: viewer@example.com") && m.contains("Streamer is live"));
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mail = mail.expect("the go-live email");
    assert!(
        mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{mail}"
    );

    // The push, at the stand-in: verified and decrypted there.
    let endpoint = subscription["endpoint"].as_str().expect("endpoint");
    let mut got = Vec::new();
    for _ in 0..100 {
        got = push.received_for(endpoint).await;
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["ok"], true, "{got:?}");
    assert_eq!(got[0]["payload"]["title"], "Streamer is live");
    assert_eq!(got[0]["payload"]["body"], title);
    let (_, key) = support::call(&app, "GET", "/api/push/vapid-public-key", None, None).await;
    assert_eq!(got[0]["k"], key["public_key"]);
    app.finish().await;
}

/// Creator analytics in Chromium: a broadcast with two players (HLS and HTTP-FLV, real ffmpeg)
/// ends; the creator opens the studio's Analytics tab and sees the broadcast's figures (peak 2,
/// unique 2), the viewers-over-time chart, the channel's charts and the protocol split, and
/// downloads the CSV. Screenshots at 1280 and 390 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creator_analytics_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    let mut encoder = support::publish(&app.rtmp_url(), &creator.key, 40, &["-s", "320x180"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, list) =
            support::call(&app, "GET", "/api/sources", Some(&creator.token), None).await;
        if list["sources"][0]["is_active"] == true {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never live: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let play = |url: String, agent: &str| {
        std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-nostdin",
                "-user_agent",
                agent,
                "-i",
            ])
            .arg(url)
            .args(["-map", "0", "-c", "copy", "-t", "12", "-f", "null", "-"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ffmpeg")
    };
    let mut players = [
        play(
            app.url(&format!("/hls/{}/index.m3u8", creator.playback_id)),
            "hls-viewer",
        ),
        play(
            app.url(&format!("/live/{}.flv", creator.playback_id)),
            "flv-viewer",
        ),
    ];
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    for p in &mut players {
        let _ = p.kill();
        let _ = p.wait();
    }
    support::stop_encoder(&mut encoder);
    // Both sessions stored, and sampled past their end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let (_, list) = support::call(
            &app,
            "GET",
            "/api/analytics/streams",
            Some(&creator.token),
            None,
        )
        .await;
        let b = &list["broadcasts"][0];
        if b["sessions"] == 2 && b["peak_viewers"] == 2 && b["live"] == false {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no figures: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    // A ready video of the creator's with one view counted: its row in the Videos table.
    let db = &app.running.as_ref().expect("running").state.db;
    let owner = db
        .user_by_email("creator@example.com")
        .await
        .expect("db")
        .expect("creator");
    let uuid = ferrocast_server::service::videos::new_video_id();
    db.create_video(
        &ferrocast_db::videos::NewVideo {
            uuid: &uuid,
            user_id: owner.id,
            source_id: None,
            kind: "upload",
            title: "Tour diary",
            description: "",
            tags: &[],
            visibility: "public",
            status: "ready",
            expires_at: None,
        },
        ferrocast_db::now_ms(),
    )
    .await
    .expect("video");
    let (s, body) = support::call(
        &app,
        "POST",
        &format!("/api/videos/{uuid}/view"),
        None,
        None,
    )
    .await;
    assert!(s == 200 || s == 201, "{s} {body}");
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "analytics",
            "accounts": { "creator": { "email": "creator@example.com" } },
        }),
    )
    .await;
    assert_eq!(report["steps"], json!(["analytics", "csv"]), "{report:#}");
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    let a = &report["analytics"];
    assert_eq!(a["peak"], "2", "{report:#}");
    assert_eq!(a["unique"], "2", "{report:#}");
    assert_eq!(a["rows"], 1, "{report:#}");
    assert!(
        a["watch"].as_str().is_some_and(|w| w.ends_with(" s")),
        "{report:#}"
    );
    assert!(
        a["charts"].as_u64() >= Some(4),
        "the broadcast's and the channel's: {report:#}"
    );
    assert!(a["points"].as_u64() >= Some(2), "{report:#}");
    let splits = a["splits"].to_string();
    assert!(
        splits.contains("HLS") && splits.contains("HTTP-FLV"),
        "{report:#}"
    );
    assert_eq!(a["csvName"], "broadcast-1.csv", "{report:#}");
    assert_eq!(
        a["videos"],
        json!([["Tour diary", "1"]]),
        "the video's row and its view: {report:#}"
    );
    assert!(
        a["csvHead"]
            .as_str()
            .is_some_and(|h| h.starts_with("time,viewers,peak")),
        "{report:#}"
    );
    assert_shots(&shots, &["dashboard-analytics"]);
    app.finish().await;
}

/// The Earnings page and the payout approval in Chromium: a creator with income (one tip past
/// its hold, one held) connects Stripe through the Connect stand-in's onboarding and requests
/// 50.00; an administrator approves it on Revenue and payouts (a Stripe transfer to the
/// creator's account); the creator sees it paid and opens the month's statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earnings_page_and_payout_approval() {
    use ferrocast_db::purchases::{IncomeRules, NewPurchase, PaidPayment, PurchaseKind};
    let browser = browser();
    let (gw, addr) = support::checkout::start().await;
    let app = TestApp::start_with(Backend::Sqlite, support::checkout::connect_options(addr))
        .await
        .expect("sqlite always runs");
    support::checkout::set_node(&gw, &app.base);
    support::register_user(&app, "creator@example.com", "Creator").await;
    support::register_user(&app, "admin@example.com", "Admin").await;
    support::register_user(&app, "fan@example.com", "Fan").await;
    let db = app.running.as_ref().expect("running").state.db.clone();
    let id = |email: &'static str| {
        let db = db.clone();
        async move { db.user_by_email(email).await.expect("db").expect("user").id }
    };
    let (creator, admin, fan) = (
        id("creator@example.com").await,
        id("admin@example.com").await,
        id("fan@example.com").await,
    );
    db.set_role(admin, "admin", 0).await.expect("role");
    for (payment, hold_ms) in [("pi_web_1", 0), ("pi_web_2", 7 * 86_400_000)] {
        let uuid = uuid::Uuid::new_v4().to_string();
        let p = db
            .create_purchase(
                &NewPurchase {
                    uuid: &uuid,
                    kind: PurchaseKind::Tip,
                    buyer_id: fan,
                    creator_id: creator,
                    provider: "stripe",
                    amount_minor: 10_000,
                    currency: "USD",
                    tax_minor: 0,
                    tax_country: None,
                    message: Some("love the show"),
                    display_name: Some("Fan One"),
                    tier_id: None,
                    video_id: None,
                    source_id: None,
                },
                ferrocast_db::now_ms(),
            )
            .await
            .expect("purchase");
        db.complete_purchase(
            None,
            &p,
            &PaidPayment {
                provider_payment_id: payment,
                amount_minor: 10_000,
                currency: "USD",
                subscription: None,
                period_end: None,
            },
            &IncomeRules {
                fee_bps: 1000,
                hold_ms,
                membership_period_ms: 30 * 86_400_000,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("income");
    }
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "earnings",
            "accounts": { "creator": { "email": "creator@example.com" }, "admin": { "email": "admin@example.com" } },
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!(["earnings", "connected", "requested", "approved", "paid"]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    let has = |v: &Value, s: &str| v.as_str().is_some_and(|t| t.contains(s));
    assert!(
        has(&report["before"]["available"], "90.00") && has(&report["before"]["pending"], "90.00"),
        "{report:#}"
    );
    assert!(
        has(&report["requested"]["available"], "40.00")
            && has(&report["requested"]["inFlight"], "50.00"),
        "{report:#}"
    );
    assert!(has(&report["approved"], "is paid"), "{report:#}");
    assert!(
        has(&report["after"]["paid"], "50.00")
            && has(&report["after"]["inFlight"], "0.00")
            && has(&report["after"]["available"], "40.00"),
        "{report:#}"
    );
    assert!(
        report["statementRows"].as_u64() >= Some(3),
        "income, income, payout: {report:#}"
    );
    {
        let seen = support::checkout::seen(&gw);
        assert_eq!(seen.connect.transfers.len(), 1);
        let f = &seen.connect.transfers[0].0;
        assert_eq!(
            (
                f.get("amount").map(String::as_str),
                f.get("destination").map(String::as_str)
            ),
            (Some("5000"), Some("acct_test1"))
        );
    }
    let verify = db.ledger_verify().await.expect("verify");
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
    assert_shots(&shots, &["earnings", "admin-revenue", "earnings-statement"]);
    app.finish().await;
}

/// Memberships in Chromium: the Members studio, a members-only video locked for a non-member
/// (what unlocks it, the Join picker) and played by a member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_only_video_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let creator = support::register_user(&app, "creator@example.com", "Creator").await;
    support::register_user(&app, "member@example.com", "Member").await;
    support::register_user(&app, "stranger@example.com", "Stranger").await;
    let (s, made) =
        support::call(&app, "POST", "/api/me/tiers/template", Some(&creator), None).await;
    assert_eq!(s, 201, "{made}");
    let db = &app.running.as_ref().expect("running").state.db;
    let id = |email: &'static str| async move {
        db.user_by_email(email).await.expect("db").expect("user").id
    };
    let (owner, member) = (
        id("creator@example.com").await,
        id("member@example.com").await,
    );
    let objects = crate::memberships::hls_objects(&app.data_dir.join("hls-src"));
    let v = crate::memberships::stored_video(&app, owner, &objects).await;
    let (s, body) = support::call(
        &app,
        "PUT",
        &format!("/api/videos/{}/access", v.uuid),
        Some(&creator),
        Some(json!({"level": "members", "tier_id": made["tiers"][1]["id"]})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    crate::memberships::pay(
        &app,
        ferrocast_db::purchases::PurchaseKind::Membership,
        member,
        owner,
        1500,
        made["tiers"][1]["id"].as_i64(),
        None,
        None,
        "pi_browser_member",
    )
    .await;
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "members",
            "videoId": v.uuid,
            "accounts": {
                "creator": { "email": "creator@example.com" },
                "member": { "email": "member@example.com" },
                "stranger": { "email": "stranger@example.com" },
            },
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!(["studio", "locked", "member-plays"]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    let m = &report["members"];
    assert_eq!(
        (m["tiers"].as_i64(), m["members"].as_i64()),
        (Some(4), Some(1)),
        "{report:#}"
    );
    assert_eq!(
        m["strangerVideo"], 0,
        "no player for a non-member: {report:#}"
    );
    assert!(
        m["unlock"].as_str().is_some_and(|u| u.contains("Fan")),
        "{report:#}"
    );
    assert_eq!(m["options"], 4, "{report:#}");
    assert!(m["played"].as_f64().unwrap_or(0.0) > 1.0, "{report:#}");
    assert_eq!(m["badge"], "Fan+ members", "{report:#}");
    assert_shots(&shots, &["members-studio", "video-locked", "join-dialog"]);
    app.finish().await;
}

/// Trust and safety in Chromium: a viewer reports a chat message from the watch page; a
/// moderator finds it in the queue (with the chat around it) and removes it; the message leaves
/// the viewer's chat, the viewer's bell tells the outcome and "My standing" shows it; the author
/// sees the decision with the appeal form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_decided_in_the_moderation_queue_in_a_real_browser() {
    use ferrocast_domain::account::Role;
    use ferrocast_server::service::chat::{Member, Post};
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "creator@example.com").await;
    support::register_user(&app, "viewer@example.com", "Viewer").await;
    support::register_user(&app, "troll@example.com", "Troll").await;
    support::register_user(&app, "mod@example.com", "Mona").await;
    let state = &app.running.as_ref().expect("running").state;
    let db = &state.db;
    let user = |email: &'static str| async move {
        db.user_by_email(email).await.expect("query").expect("user")
    };
    let moderator = user("mod@example.com").await;
    db.set_role(moderator.id, Role::Moderator.as_str(), 0)
        .await
        .expect("role");
    let source = db
        .source_by_playback_id(&creator.playback_id)
        .await
        .expect("query")
        .expect("source");
    let message = "cheap followers at spam.example/buy";
    let mut bad = 0;
    for (email, text) in [
        ("creator@example.com", "Welcome everyone"),
        ("viewer@example.com", "hi!"),
        ("troll@example.com", message),
        ("viewer@example.com", "please stop"),
    ] {
        let u = user(email).await;
        let posted = state
            .chat
            .post(Post::Native {
                source: &source,
                member: Member {
                    id: u.id,
                    uuid: &u.uuid,
                    name: &u.display_name,
                    role: Role::Viewer,
                },
                text,
            })
            .await
            .expect("posted");
        if text == message {
            bad = posted.id;
        }
    }
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "safety",
            "timeoutMs": 120_000,
            "viewer": "viewer@example.com",
            "moderator": "mod@example.com",
            "authorEmail": "troll@example.com",
            "author": "Troll",
            "playbackId": creator.playback_id,
            "message": message,
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "reported",
            "removed",
            "gone from chat",
            "outcome seen",
            "author sees it"
        ]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    assert!(
        report["reportedLine"]
            .as_str()
            .is_some_and(|l| l.contains("Troll") && l.contains(message)),
        "the reported line is marked in its context: {report:#}"
    );
    assert_eq!(report["contextLines"], 4, "{report:#}");
    assert!(
        report["decided"]
            .as_str()
            .is_some_and(|d| d.starts_with("Removed")),
        "{report:#}"
    );
    assert!(
        report["notice"]
            .as_str()
            .is_some_and(|n| n.contains("Your report of a chat message was reviewed")),
        "{report:#}"
    );
    assert_eq!(report["outcome"], "A moderator removed it.", "{report:#}");
    assert_eq!(report["badge"], "Removed", "{report:#}");
    let gone = db
        .chat_message_by_id(bad)
        .await
        .expect("query")
        .expect("message");
    assert!(gone.deleted_at.is_some(), "the message was removed");
    assert_shots(&shots, &["moderation-queue", "standing", "standing-author"]);
    assert!(shots.join("report-dialog-desktop.png").exists());
    app.finish().await;
}

/// Settings → Your data in Chromium: the export's progress, then its download link and the ZIP;
/// deleting the account with the password (a wrong one refused first) signs the user out, and
/// the account is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn your_data_export_and_account_deletion_in_a_real_browser() {
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let email = "leaving@example.com";
    support::register_user(&app, email, "Leaving Soon").await;
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "your-data",
            "timeoutMs": 120_000,
            "email": email,
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!([
            "progress",
            "downloaded",
            "wrong password refused",
            "deleted and signed out"
        ]),
        "{report:#}"
    );
    assert!(
        report["linkText"]
            .as_str()
            .is_some_and(|t| t.starts_with("Download ZIP (")),
        "{report:#}"
    );
    assert_eq!(report["zip"]["magic"], "PK", "{report:#}");
    assert!(
        report["zip"]["size"].as_u64().unwrap_or(0) > 500,
        "{report:#}"
    );
    assert!(report["zip"]["name"]
        .as_str()
        .is_some_and(|n| n.starts_with("ferrocast-data-") && n.ends_with(".zip")));
    assert_eq!(report["sessionAfter"], Value::Null);
    let db = &app.running.as_ref().expect("running").state.db;
    assert!(
        db.user_by_email(email).await.expect("db").is_none(),
        "the account's email is gone"
    );
    assert_shots(&shots, &["settings-your-data", "settings-delete-account"]);
    app.finish().await;
}

/// The audit log page: an administrator writes a checkpoint (its signature shown valid), filters
/// the entries to failed sign-ins and opens one, whose inclusion proof the page verifies in the
/// browser against the checkpoint's root; the server's own replay agrees afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_page_in_a_real_browser() {
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    support::register_admin(&app, "admin@example.com").await;
    let state = app.running.as_ref().expect("running").state.clone();
    // Two failed sign-ins to find.
    for password in ["wrong-one", "wrong-two"] {
        let (status, _) = support::call(
            &app,
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "admin@example.com", "password": password})),
        )
        .await;
        assert_eq!(status, 401);
    }
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({"url": app.base, "shots": shots.display().to_string(), "scenario": "audit"}),
    )
    .await;
    assert_eq!(report["pageErrors"], Value::Null, "{report:#}");
    assert_eq!(report["failedRows"], json!(2), "{report:#}");
    let inclusion = report["inclusion"].as_str().unwrap_or_default();
    assert!(
        inclusion.starts_with("✓ Inclusion proof verified")
            && inclusion.contains("the signed checkpoint's"),
        "{report:#}"
    );
    assert!(
        report["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("auth.login_failed"),
        "{report:#}"
    );
    assert_shots(&shots, &["admin-audit"]);
    // The page's checkpoint is the server's, and the whole log replays.
    let latest = state
        .audit
        .latest_checkpoint()
        .await
        .expect("q")
        .expect("a checkpoint");
    assert_eq!(
        report["checkpointSize"],
        json!(format!("{} entries", latest.tree_size))
    );
    assert!(latest.signature_valid);
    let replay = state.audit.verify().await.expect("the log verifies");
    assert!(replay.entries >= 4 && replay.checkpoints == 1, "{replay:?}");
    app.finish().await;
}

/// The nodes page in Chromium: the node answering (an origin, registered by its own heartbeat)
/// and a second node registered beside it (an edge relaying a stream), each with its role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_page_in_a_real_browser() {
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    support::register_admin(&app, "admin@example.com").await;
    let state = app.running.as_ref().expect("running").state.clone();
    // This node registers itself at start; an edge registers beside it (its heartbeat a minute
    // ahead, so that this node's sweep of silent nodes keeps it while the browser runs).
    let now = ferrocast_db::now_ms();
    state
        .db
        .node_heartbeat(
            &ferrocast_db::nodes::NodeRecord {
                id: "edge-node-1".into(),
                role: "edge".into(),
                rtmp_url: "rtmp://10.0.0.2:1935".into(),
                http_url: "http://10.0.0.2:8080".into(),
                started_at: now,
                heartbeat_at: now + 60_000,
            },
            &[ferrocast_db::nodes::NodeStream {
                playback_id: "relayedstream".into(),
                source_id: 1,
                relay: true,
                since: now,
            }],
        )
        .await
        .expect("edge registered");
    let mut registered = false;
    for _ in 0..50 {
        if state.db.list_nodes().await.expect("nodes").len() == 2 {
            registered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        registered,
        "this node registers itself within its first heartbeat"
    );
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({"url": app.base, "shots": shots.display().to_string(), "scenario": "nodes"}),
    )
    .await;
    assert_eq!(report["pageErrors"], Value::Null, "{report:#}");
    assert_eq!(report["nodes"], json!(2), "{report:#}");
    assert_eq!(report["thisNode"], json!("origin"), "{report:#}");
    assert_eq!(report["relayed"], json!("relayedstream"), "{report:#}");
    assert_eq!(
        report["pulls"],
        json!("Pulls on this node: none"),
        "{report:#}"
    );
    assert_shots(&shots, &["admin-nodes"]);
    app.finish().await;
}

/// The backups page in Chromium: a node with a passphrase and no schedule; the administrator
/// sees automatic backups off and none taken, presses "Back up now", and the page follows the
/// backup until it is stored, with its size; the stored file is a whole backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_page_in_a_real_browser() {
    let browser = browser();
    let objects = std::env::temp_dir().join(format!(
        "ferrocast-backups-page-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let app = TestApp::start_with(
        Backend::Sqlite,
        support::Options {
            extra: vec![
                ("storage_url", objects.display().to_string()),
                ("backup_passphrase", "a passphrase for the page".to_string()),
            ],
            ..support::Options::default()
        },
    )
    .await
    .expect("sqlite always runs");
    support::register_admin(&app, "admin@example.com").await;
    let state = app.running.as_ref().expect("running").state.clone();
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({"url": app.base, "shots": shots.display().to_string(), "scenario": "backups"}),
    )
    .await;
    assert_eq!(report["pageErrors"], Value::Null, "{report:#}");
    assert!(
        report["schedule"]
            .as_str()
            .is_some_and(|s| s.starts_with("Off on this node")),
        "{report:#}"
    );
    assert_eq!(report["lastBefore"], json!("Never"), "{report:#}");
    assert_eq!(report["emptyHistory"], json!(true), "{report:#}");
    assert_eq!(report["rows"], json!(1), "{report:#}");
    assert!(
        report["size"]
            .as_str()
            .is_some_and(|s| s.ends_with("KB") || s.ends_with("MB")),
        "{report:#}"
    );
    assert_eq!(report["buttonAfter"], json!("Back up now"), "{report:#}");
    assert_ne!(report["lastAfter"], json!("Never"), "{report:#}");
    let runs = state.db.backup_runs(10).await.expect("runs");
    assert_eq!(runs.len(), 1);
    assert!(runs[0].succeeded(), "{runs:?}");
    assert_eq!(report["key"], json!(runs[0].storage_key), "{report:#}");
    let stored = objects.join(&runs[0].storage_key);
    assert!(
        std::fs::metadata(&stored).is_ok_and(|m| m.len() > 0),
        "{} is stored",
        stored.display()
    );
    assert_shots(&shots, &["admin-backups"]);
    app.finish().await;
    let _ = std::fs::remove_dir_all(&objects);
}

/// Copyright notices in Chromium: a notice filed on /dmca from the video's page, the watch page
/// unavailable for legal reasons (its MP4 and HLS answer 451), the uploader's counter-notice
/// from their video's page, the operator's case with the evidence hashes and the restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmca_notice_counter_and_restore_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    support::register_user(&app, "creator@example.com", "Creator").await;
    support::register_user(&app, "admin@example.com", "Admin").await;
    let db = &app.running.as_ref().expect("running").state.db;
    let owner = db
        .user_by_email("creator@example.com")
        .await
        .expect("db")
        .expect("user")
        .id;
    let admin = db
        .user_by_email("admin@example.com")
        .await
        .expect("db")
        .expect("admin")
        .id;
    db.set_role(admin, "admin", 0).await.expect("role");
    let objects = crate::dmca::media(&app.data_dir.join("gen"));
    let v = crate::dmca::video(&app, owner, &objects).await;
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "dmca",
            "videoId": v.uuid,
            "accounts": {
                "creator": { "email": "creator@example.com" },
                "admin": { "email": "admin@example.com" },
            },
        }),
    )
    .await;
    assert_eq!(
        report["steps"],
        json!(["filed", "unavailable", "countered", "restored", "plays"]),
        "{report:#}"
    );
    assert!(
        report.get("pageErrors").is_none(),
        "no script errors: {report:#}"
    );
    let d = &report["dmca"];
    assert!(
        d["prefilled"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/v/{}", v.uuid))),
        "{report:#}"
    );
    assert_eq!(d["caseStatus"], "content_disabled", "{report:#}");
    assert_eq!(
        d["legal"], "This video is unavailable for legal reasons",
        "{report:#}"
    );
    assert_eq!(
        (d["mp4"].as_i64(), d["hls"].as_i64()),
        (Some(451), Some(451))
    );
    assert_eq!(d["countered"], "counter_noticed", "{report:#}");
    assert_eq!(d["rows"], 1, "{report:#}");
    let hashes = d["hashes"].as_array().expect("hashes");
    assert_eq!(hashes.len(), objects.len() + 1, "{report:#}");
    for (name, bytes) in &objects {
        let sha = data_encoding::HEXLOWER.encode(&<sha2::Sha256 as sha2::Digest>::digest(bytes));
        assert!(
            hashes.iter().any(|h| h == &json!(sha)),
            "{name}: {report:#}"
        );
    }
    assert_eq!(d["after"], "restored", "{report:#}");
    assert_eq!(d["legalAfter"], 0, "{report:#}");
    assert_eq!(d["mp4After"], 200, "{report:#}");
    assert_shots(
        &shots,
        &[
            "dmca-form",
            "dmca-filed",
            "dmca-case",
            "video-legal",
            "dmca-counter",
            "admin-dmca",
            "admin-dmca-case",
        ],
    );
    app.finish().await;
}

/// Adaptive bitrate in Chromium (`abr` in `web/e2e/run.mjs`): a plan with a 360p and 240p
/// ladder; a 480p stream at 2.5 Mbit/s. The studio lists the renditions; the watch page's
/// player offers the three qualities, plays the source on loopback, switches to a rendition when
/// the test throttles the network to 1.2 Mbit/s, and plays the quality the viewer picks. Once
/// the stream ends, its recording's page offers the same qualities and plays 240p when picked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_bitrate_switches_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    // Recordings packaged 4 s after the stream ends (not 30), for the past broadcast's step.
    let (app, dir) = support::node_with_ladder_and(
        &["360p", "240p"],
        "2",
        vec![("recording_finish_delay_ms", "4000".into())],
    )
    .await;
    let creator = support::creator_with_source(&app, "abr@example.com").await;
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "abr",
            "email": "abr@example.com",
            "key": creator.key,
            "ingest": format!("{}/live", app.rtmp_url()),
            "playbackId": creator.playback_id,
            "timeoutMs": 240_000,
        }),
    )
    .await;
    eprintln!("abr: {report:#}");
    assert_eq!(
        report["steps"],
        json!([
            "studio lists the renditions",
            "source on a fast network",
            "rendition on a throttled network",
            "quality picked",
            "past broadcast plays a rendition"
        ]),
        "{report:#}"
    );
    assert!(report.get("pageErrors").is_none(), "{report}");
    let studio = report["studio"].as_str().unwrap_or_default();
    assert!(
        studio.contains("854×480 source")
            && studio.contains("640×360")
            && studio.contains("428×240"),
        "{studio}"
    );
    // Auto (with what it plays, once it plays), then the qualities, highest first.
    let options = report["options"].as_array().expect("options");
    assert!(
        options[0].as_str().is_some_and(|o| o.starts_with("Auto")),
        "{report}"
    );
    assert_eq!(
        options[1..],
        [json!("480p (source)"), json!("360p"), json!("240p")],
        "{report}"
    );
    // The source first, a rendition under the throttle, then the viewer's 360p.
    let heights = report["heights"].as_array().expect("heights");
    assert_eq!(heights.first(), Some(&json!(480)), "{report}");
    assert_eq!(heights.last(), Some(&json!(360)), "{report}");
    // It kept playing on the throttled network.
    assert!(
        report["throttledAdvance"].as_f64().unwrap_or(0.0) > 1.0,
        "{report}"
    );
    assert_eq!(
        report["planLadder"], "Adaptive bitrate: viewers get 360p, 240p besides your source",
        "{report}"
    );
    // The recording kept the renditions: the video page offers them and plays 240p.
    let vod_options = report["vodOptions"].as_array().expect("vodOptions");
    assert!(
        vod_options[0]
            .as_str()
            .is_some_and(|o| o.starts_with("Auto")),
        "{report}"
    );
    assert_eq!(
        vod_options[1..],
        [json!("480p (source)"), json!("360p"), json!("240p")],
        "{report}"
    );
    assert!(
        report["vodAdvance"].as_f64().unwrap_or(0.0) > 0.5,
        "{report}"
    );
    assert_shots(&shots, &["studio-abr", "watch-abr", "video-abr"]);
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

/// WebRTC playback in Chromium (`webrtc` in `web/e2e/run.mjs`): the watch page's Real-time
/// switch plays the stream over WHEP (H.264 passed through, AAC as Opus); its video advances
/// with video and audio tracks; the glass-to-glass delay over WHEP and LL-HLS in the same run
/// (printed; figures in BENCHMARKS.md). A player that drops the answer's UDP candidate (a
/// network blocking UDP) plays over ICE-TCP. Afterwards the node has no WebRTC session left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_playback_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "whep@example.com").await;
    let shots = shots_dir();
    let samples = std::env::var("FERROCAST_LATENCY_SAMPLES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(24);
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "webrtc",
            "key": creator.key,
            "ingest": format!("{}/live", app.rtmp_url()),
            "playbackId": creator.playback_id,
            "samples": samples,
            "warmup": 4,
            "timeoutMs": 240_000,
        }),
    )
    .await;
    eprintln!("webrtc: {report:#}");
    assert_eq!(
        report["steps"],
        json!([
            "measured ll-hls",
            "plays over WebRTC",
            "measured whep",
            "plays over ICE-TCP"
        ]),
        "{report:#}"
    );
    // Without the UDP candidate, the player reached the node over TCP.
    let tcp = &report["tcp"];
    assert_eq!(tcp["protocol"], "tcp", "{report:#}");
    assert_eq!(tcp["width"], 640, "{report:#}");
    let candidates = tcp["candidates"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    assert!(
        candidates.iter().any(|c| c
            .as_str()
            .is_some_and(|c| c.contains(" tcp ") && c.contains("tcptype passive"))),
        "{report:#}"
    );
    assert!(report.get("pageErrors").is_none(), "{report}");
    assert!(report["advance"].as_f64().unwrap_or(0.0) > 1.0, "{report}");
    assert_eq!(report["tracks"]["video"], 1, "{report}");
    assert_eq!(report["tracks"]["audio"], 1, "{report}");
    assert_eq!(report["tracks"]["width"], 640, "{report}");
    let whep = &report["latency"]["whep"];
    assert!(whep["n"].as_u64().unwrap_or(0) >= samples, "{report}");
    // A decoded clock is the sender's wall clock, a little behind the page's.
    assert!(
        whep["min"].as_u64().is_some() && whep["max"].as_u64().unwrap_or(u64::MAX) < 60_000,
        "{whep}"
    );
    let metrics = support::metrics_text(&app).await;
    assert!(
        metrics.contains("ferrocast_webrtc_sessions_answered_total 3"),
        "{metrics}"
    );
    // The pages' DELETE (or the ended stream) closed every session.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let m = support::metrics_text(&app).await;
        if m.contains("ferrocast_webrtc_sessions 0\n") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "session left: {m}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_shots(&shots, &["watch-webrtc"]);
    app.finish().await;
}

/// Going live from the browser in Chromium (`whip` in `web/e2e/run.mjs`): the studio opens
/// Chromium's fake camera and microphone and publishes over WHIP; ffprobe reads H.264 and AAC
/// over RTMP play and HLS; a destination (a local ffmpeg) receives the stream; a viewer plays it
/// over WHEP; Stop broadcasting ends the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_live_from_the_browser_over_whip() {
    require("ffmpeg");
    require("ffprobe");
    let browser = browser();
    let mut opts = Options::default();
    opts.extra
        .push(("restream_allow_private_targets", "true".into()));
    opts.extra.push(("restream_allowed_ports", "any".into()));
    let app = TestApp::start_with(Backend::Sqlite, opts)
        .await
        .expect("sqlite always runs");
    let creator = support::creator_with_source(&app, "whip@example.com").await;
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "whip",
            "email": "whip@example.com",
            "playbackId": creator.playback_id,
            "rtmpPlay": format!("{}/play/{}", app.rtmp_url(), creator.playback_id),
            "timeoutMs": 240_000,
        }),
    )
    .await;
    eprintln!("whip: {report:#}");
    assert_eq!(
        report["steps"],
        json!([
            "camera preview",
            "live from the browser",
            "probed",
            "destination received",
            "viewer plays over WebRTC",
            "stopped"
        ]),
        "{report:#}"
    );
    assert!(report.get("pageErrors").is_none(), "{report}");
    for probe in ["rtmp", "hls", "destination"] {
        let streams = report[probe]["streams"]
            .as_array()
            .unwrap_or_else(|| panic!("{probe}: {report:#}"));
        let codec = |kind: &str| {
            streams
                .iter()
                .find(|s| s["codec_type"] == kind)
                .map(|s| s["codec_name"].clone())
        };
        assert_eq!(codec("video"), Some(json!("h264")), "{probe}: {report:#}");
        assert_eq!(codec("audio"), Some(json!("aac")), "{probe}: {report:#}");
    }
    assert!(
        report["viewerAdvance"].as_f64().unwrap_or(0.0) > 1.0,
        "{report}"
    );
    assert_shots(&shots, &["studio-golive"]);
    app.finish().await;
}

/// Brands and campaigns in Chromium (`campaigns` in `web/e2e/run.mjs`), end to end: a brand
/// account creates its brand from the Campaigns link, writes a campaign, publishes it and pays
/// its budget into escrow through Stripe Checkout (the stand-in); a creator finds it by words
/// and type, applies with a pitch and a rate; the brand hires them (the campaign becomes
/// Active); the creator hands in one of their videos (uploaded and processed by ffmpeg); the
/// brand watches it and asks for a revision; the creator hands in a second version with the
/// disclosure; the brand approves; the creator's balance rises by the budget less the 10 %
/// fee, escrow is empty and the ledger verifies. The creator consents to a limited licence
/// (US, CA) and the brand's embed plays in the US and says why not in France. Screenshots of
/// each page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brand_hires_a_creator_for_a_campaign_in_a_real_browser() {
    let browser = browser();
    let (gw, addr) = support::checkout::start().await;
    let app = TestApp::start_with(Backend::Sqlite, support::checkout::options(addr))
        .await
        .expect("sqlite always runs");
    support::checkout::set_node(&gw, &app.base);
    for (email, name, role) in [
        ("brand@acme.example", "Olive Owner", "brand"),
        ("cara@example.com", "Cara Creator", "creator"),
    ] {
        let (status, body) = support::call(
            &app,
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": email, "password": "password123", "display_name": name, "role": role})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    support::register_admin(&app, "admin@example.com").await;
    // Two videos of the creator's, made by ffmpeg and processed as uploads are.
    let db = app.running.as_ref().expect("running").state.db.clone();
    let cara = db
        .user_by_email("cara@example.com")
        .await
        .expect("db")
        .expect("user")
        .id;
    let dir = crate::processing::scratch();
    for (name, tone) in [
        ("Trail run, first cut", "440"),
        ("Trail run, wet rock", "660"),
    ] {
        let file = dir.join(name);
        crate::processing::make(
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=30:duration=6",
                "-f",
                "lavfi",
                "-i",
                &format!("sine=frequency={tone}:duration=6"),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-shortest",
                "-f",
                "mp4",
            ],
            &file,
        );
        let v = crate::processing::upload(&app, &db, cara, &file).await;
        let v = crate::processing::settled(&db, v.id, std::time::Duration::from_secs(120)).await;
        assert_eq!(v.status, "ready", "{v:#?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({
            "url": app.url(""),
            "shots": shots,
            "scenario": "campaigns",
            "brandEmail": "brand@acme.example",
            "creatorEmail": "cara@example.com",
            "adminEmail": "admin@example.com",
            "timeoutMs": 120_000,
        }),
    )
    .await;
    eprintln!("campaigns: {report:#}");
    assert_eq!(
        report["steps"],
        json!([
            "brand publishes a campaign",
            "brand escrows the budget",
            "creator applies",
            "brand hires the creator",
            "creator sees they are hired",
            "creator hands in a video",
            "brand asks for a revision",
            "creator hands in a revision",
            "brand approves",
            "creator consents to the rights",
            "the brand's embed follows the licence",
            "creator is paid",
            "an administrator moves the brand to a larger tier"
        ]),
        "{report:#}"
    );
    assert!(report.get("pageErrors").is_none(), "{report}");
    assert!(
        report["brandHead"]
            .as_str()
            .is_some_and(|h| h.contains("Acme Outdoors") && h.contains("Free tier")),
        "{report}"
    );
    assert_eq!(report["budget"], "$500", "{report}");
    assert!(
        report["applicant"]
            .as_str()
            .is_some_and(|a| a.contains("Cara Creator") && a.contains("$500")),
        "{report}"
    );
    assert_eq!(report["committed"], "$500 of $500 committed", "{report}");
    assert!(
        report["hired"]
            .as_str()
            .is_some_and(|h| h.contains("Hired")),
        "{report}"
    );
    assert!(
        report["escrowCheckout"]
            .as_str()
            .is_some_and(|p| p.contains("held in escrow") && p.contains("Pay 500.00 USD once")),
        "{report}"
    );
    assert_eq!(report["escrowHeld"], "$500", "{report}");
    assert!(
        report["revisionNote"]
            .as_str()
            .is_some_and(|n| n.contains("wet rock")),
        "{report}"
    );
    assert_eq!(report["embedRefused"]["status"], 403, "{report}");
    assert!(
        report["embedRefused"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("does not cover FR; it covers CA, US")),
        "{report}"
    );
    assert_eq!(report["embedStatus"], 200, "{report}");
    assert!(
        report["embedCaption"]
            .as_str()
            .is_some_and(|c| c.contains("#ad Paid partnership with Acme Outdoors")),
        "{report}"
    );
    assert_eq!(report["hotspot"]["text"], "Ridge 2 trail shoe", "{report}");
    assert_eq!(report["galleryItems"], 1, "{report}");
    assert!(
        report["hotspot"]["href"]
            .as_str()
            .is_some_and(|h| h.contains("/hotspots/") && h.contains("visitor=")),
        "the hotspot's link goes through the click tracker: {report}"
    );
    assert_eq!(report["creatorPending"], "$450.00", "{report}");
    assert!(
        report["brandTier"]
            .as_str()
            .is_some_and(|t| t.contains("Growth")),
        "{report}"
    );
    // The ledger: the creator holds the budget less the 10 % fee, escrow nothing, and it
    // verifies.
    let balances = db
        .creator_balances(cara, ferrocast_db::now_ms())
        .await
        .expect("balances");
    assert_eq!(
        balances
            .iter()
            .map(|b| (b.currency.as_str(), b.pending + b.available))
            .collect::<Vec<_>>(),
        [("USD", 45_000)],
        "{balances:?}"
    );
    let c = db
        .campaigns_of_brand(
            db.brands_of_user(
                db.user_by_email("brand@acme.example")
                    .await
                    .expect("db")
                    .expect("user")
                    .id,
            )
            .await
            .expect("brands")[0]
                .0
                .id,
        )
        .await
        .expect("campaigns");
    let escrow = db.escrow_state(c[0].id, "USD").await.expect("escrow");
    assert_eq!(
        (escrow.funded, escrow.released, escrow.held),
        (50_000, 50_000, 0)
    );
    let verified = db.ledger_verify().await.expect("verify");
    assert!(verified.problems.is_empty(), "{verified:#?}");
    assert_shots(
        &shots,
        &[
            "campaigns-discover",
            "campaign-creator",
            "campaign-brand",
            "brand-page",
            "campaign-hand-in",
            "campaign-review-queue",
            "deliverable-revise",
            "deliverable-approved",
            "campaign-earnings",
        ],
    );
    app.finish().await;
}

/// nginx (as `scripts/test.sh` installs it) in front of the node, guarding a static members'
/// folder with `auth_request` to `/api/auth/verify?plan=Pro`: in Chromium, a visitor who is not
/// signed in gets 401, a member on the Free plan 403, one on Pro the page — through the session
/// cookie the web app signed in with — and after logging out in the web app, 401 again. The web
/// app keeps no refresh token in localStorage, and renews an expired access token through the
/// cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_folder_behind_nginx_auth_request_in_a_real_browser() {
    require("nginx");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let admin = support::register_admin(&app, "admin@example.com").await;
    for (email, name) in [
        ("free@example.com", "Fern Free"),
        ("pro@example.com", "Priya Pro"),
    ] {
        support::register_user(&app, email, name).await;
    }
    let db = &app.running.as_ref().expect("running").state.db;
    let pro = db
        .user_by_email("pro@example.com")
        .await
        .expect("q")
        .expect("user");
    let pro_plan = support::plan_id(&app, "Pro").await;
    let (status, body) = support::call(
        &app,
        "PUT",
        &format!("/api/admin/users/{}/subscription", pro.uuid),
        Some(&admin),
        Some(json!({"plan_id": pro_plan})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // nginx on a port of its own: the node behind /, the members' folder behind the probe.
    let dir =
        std::env::temp_dir().join(format!("ferrocast-nginx-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("members")).expect("dir");
    std::fs::create_dir_all(dir.join("tmp")).expect("dir");
    std::fs::write(
        dir.join("members/index.html"),
        "<!doctype html><title>Members' lounge</title><h1>Members' lounge</h1><p>Pro members only.</p>",
    )
    .expect("page");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let node = app.addr();
    let d = dir.to_str().expect("utf-8");
    let conf = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\ndaemon off;\nmaster_process off;\nevents {{}}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n  \
         uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n  include /etc/nginx/mime.types;\n  \
         server {{\n    listen 127.0.0.1:{port};\n    \
         location / {{ proxy_pass http://{node}; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; }}\n    \
         location /members/ {{ auth_request /_ferrocast_pro; alias {d}/members/; }}\n    \
         location = /_ferrocast_pro {{\n      internal;\n      proxy_pass http://{node}/api/auth/verify?plan=Pro;\n      \
         proxy_pass_request_body off;\n      proxy_set_header Content-Length \"\";\n      \
         proxy_set_header Authorization $http_authorization;\n      proxy_set_header Cookie $http_cookie;\n    }}\n  }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let mut nginx = std::process::Command::new("nginx")
        .args([
            "-e",
            &format!("{d}/error.log"),
            "-p",
            d,
            "-c",
            &format!("{d}/nginx.conf"),
        ])
        .spawn()
        .expect("nginx starts");
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(format!("{base}/health")).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        up,
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({ "url": base, "shots": shots, "scenario": "members-folder" }),
    )
    .await;
    let _ = nginx.kill();
    let _ = nginx.wait();
    assert_eq!(report["anonymous"], 401, "{report}");
    assert_eq!(report["free"], 403, "{report}");
    assert_eq!(report["pro"], 200, "{report}");
    assert_eq!(report["proHeading"], "Members' lounge", "{report}");
    assert_eq!(report["afterLogout"], 401, "{report}");
    assert_eq!(report["sessionCookie"]["httpOnly"], true, "{report}");
    assert_eq!(report["sessionCookie"]["sameSite"], "Lax", "{report}");
    assert_eq!(
        report["scriptSees"], false,
        "scripts cannot read the session: {report}"
    );
    assert_eq!(
        report["storedRefresh"], false,
        "no refresh token in localStorage: {report}"
    );
    assert_eq!(
        report["renewed"], true,
        "an expired access token renews through the cookie: {report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

/// Signing in with Telegram in Chromium, and the Settings page's Telegram card: the login page
/// offers "Continue with Telegram"; Telegram's sign-in page (a local stand-in for
/// oauth.telegram.org, sending back the Login Widget's fields signed by Python's hmac with the
/// bot's token) returns to /auth/telegram, which signs a new account in with a browser
/// session; in Settings the account shows as linked, and connecting a channel by its @name is
/// checked with the Bot API (a local stand-in) and greeted there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_telegram_and_connect_a_channel_in_a_real_browser() {
    use crate::support::telegram_api::{login_standin, Standin, CHANNEL};
    let browser = browser();
    let token = crate::telegram::TOKEN;
    let now = support::now_secs();
    let fields = json!({"id": "5550301", "first_name": "Ada", "last_name": "Lovelace", "username": "ada_l", "auth_date": now.to_string()});
    let hash =
        crate::telegram::signed(json!([{"bot_token": token, "fields": fields, "webapp": false}]));
    // As Telegram sends them: numbers as numbers.
    let result = json!({"id": 5550301, "first_name": "Ada", "last_name": "Lovelace", "username": "ada_l", "auth_date": now, "hash": hash[0]});
    let bot_id = token.split_once(':').expect("token").0;
    let forged = {
        use data_encoding::BASE64;
        BASE64.encode(result.to_string().as_bytes())
    };
    let login = login_standin(bot_id, result).await;
    let api = Standin::start(token).await;
    api.inner
        .lock()
        .expect("lock")
        .admins
        .push((CHANNEL.1, 5550301));
    let mut opts = Options::default();
    opts.extra.extend([
        ("telegram_bot_token", token.to_string()),
        ("telegram_bot_username", "ferrocast_test_bot".to_string()),
        ("telegram_api_url", api.url()),
        ("telegram_oauth_url", format!("http://{login}")),
    ]);
    let app = TestApp::start_with(Backend::Sqlite, opts)
        .await
        .expect("sqlite always runs");
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({ "url": app.url(""), "shots": shots, "scenario": "telegram", "forged": forged }),
    )
    .await;
    assert_eq!(report["signedInAs"], "Ada Lovelace", "{report}");
    assert_eq!(report["sessionCookie"], true, "a browser session: {report}");
    assert!(
        report["forgedRefused"]
            .as_str()
            .unwrap_or_default()
            .contains("not started in this browser"),
        "{report}"
    );
    assert!(
        report["linked"]
            .as_str()
            .unwrap_or_default()
            .contains("@ferrocast_test_bot sends you your notices"),
        "{report}"
    );
    assert!(
        report["connected"]
            .as_str()
            .unwrap_or_default()
            .contains("Acme News is connected"),
        "{report}"
    );
    assert!(
        report["emptyError"]
            .as_str()
            .unwrap_or_default()
            .contains("Telegram sent nothing"),
        "{report}"
    );
    api.wait_text(CHANNEL.1, "Ada Lovelace's go-live news will be posted here")
        .await;
    let db = &app.running.as_ref().expect("running").state.db;
    let linked = db
        .identity("telegram", "5550301")
        .await
        .expect("q")
        .expect("linked");
    let user = db
        .user_by_id(linked.user_id)
        .await
        .expect("q")
        .expect("user");
    assert_eq!(user.email, "telegram-5550301@telegram.invalid");
    assert_shots(&shots, &["login-telegram", "settings-telegram"]);
    app.finish().await;
}

/// Social posts in Chromium: a creator writes a post with a picture (made by ffmpeg) from the
/// feed; a follower sees it in their feed, likes it and comments; the channel's Posts tab
/// shows it. The picture is served as WebP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    support::register_user(&app, "poster@example.com", "Poppy Poster").await;
    let fan = support::register_user(&app, "fan@example.com", "Fran Fan").await;
    let db = &app.running.as_ref().expect("running").state.db;
    let poster = db
        .user_by_email("poster@example.com")
        .await
        .expect("q")
        .expect("user");
    let (status, _) = support::call(
        &app,
        "POST",
        &format!("/api/channels/{}/follow", poster.handle),
        Some(&fan),
        None,
    )
    .await;
    assert!(status == 200 || status == 201);
    let dir = crate::processing::scratch();
    let picture = dir.join("stage.jpg");
    crate::processing::make(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1600x1200",
            "-frames:v",
            "1",
        ],
        &picture,
    );
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({ "url": app.url(""), "shots": shots, "scenario": "posts", "picture": picture, "handle": poster.handle }),
    )
    .await;
    assert_eq!(
        report["posted"], "New set tonight at nine!\nBring friends.",
        "{report}"
    );
    assert_eq!(report["pictureType"], "image/webp", "{report}");
    assert_eq!(report["fanSees"], "Poppy Poster", "{report}");
    assert_eq!(
        report["pictureWidth"], 1280,
        "the picture shows in the feed: {report}"
    );
    assert_eq!(report["commentsLabel"], "💬 1 comment", "{report}");
    assert_eq!(report["channelPosts"], 1, "{report}");
    assert!(report.get("pageErrors").is_none(), "{report}");
    let posts = db.posts_of_user(poster.id, None, 10).await.expect("posts");
    assert_eq!((posts.len(), posts[0].likes, posts[0].comments), (1, 1, 1));
    assert_shots(&shots, &["feed", "channel-posts"]);
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

/// Radio in Chromium: the creator uploads an MP3 (tagged) in the studio and goes on the air; a
/// listener's page shows what plays, and its audio element plays the station's HLS audio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radio_in_a_real_browser() {
    require("ffmpeg");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    support::register_user(&app, "radio@example.com", "Rae Radio").await;
    let db = &app.running.as_ref().expect("running").state.db;
    let user = db
        .user_by_email("radio@example.com")
        .await
        .expect("q")
        .expect("user");
    let dir = crate::processing::scratch();
    let track = dir.join("night_drive.mp3");
    crate::processing::make(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:duration=30",
            "-metadata",
            "title=Night Drive",
            "-metadata",
            "artist=Rae",
            "-c:a",
            "libmp3lame",
        ],
        &track,
    );
    let shots = shots_dir();
    let report = run(
        &browser,
        json!({ "url": app.url(""), "shots": shots, "scenario": "radio", "track": track, "handle": user.handle }),
    )
    .await;
    assert_eq!(report["track"], "Night Drive · Rae", "{report}");
    assert_eq!(report["nowPlaying"], "Rae – Night Drive", "{report}");
    assert!(
        report["audioTime"].as_f64().unwrap_or(0.0) > 2.0,
        "{report}"
    );
    assert_eq!(
        report["icecast"],
        format!("{}/radio/{}/live.aac", app.url(""), user.handle),
        "{report}"
    );
    assert!(report.get("pageErrors").is_none(), "{report}");
    assert_shots(&shots, &["radio", "radio-studio"]);
    let _ = std::fs::remove_dir_all(&dir);
    app.finish().await;
}

/// A hangout in Chromium with fake cameras: the host (signed in) makes a room from the
/// Hangouts page and goes on stage, a guest joins by the speaker link; each page's video of the
/// other advances and its sound is above silence (WebAudio on the received stream). The host
/// broadcasts the stage to their channel: ffprobe reads the composite over HLS (H.264 at
/// 1280×720 with AAC).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangout_in_a_real_browser() {
    require("ffprobe");
    let browser = browser();
    let app = TestApp::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let host = support::creator_with_source(&app, "host@example.com").await;
    let (_, me) = support::call(&app, "GET", "/api/auth/me", Some(&host.token), None).await;
    let host_name = me["display_name"].as_str().expect("name").to_string();
    let shots = shots_dir();
    let hls = app.url(&format!("/hls/{}/index.m3u8", host.playback_id));
    let state = app.running.as_ref().expect("running").state.clone();
    let (report, probe) = tokio::join!(
        run(
            &browser,
            json!({ "url": app.url(""), "shots": shots, "scenario": "hangout", "hostName": host_name, "holdMs": 25000, "timeoutMs": 170000 }),
        ),
        async {
            // The broadcast: the host's source goes live with the composite.
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while !state.engine.hub.is_live(&host.playback_id) {
                if std::time::Instant::now() > deadline {
                    return Value::Null;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            let out = tokio::process::Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-rw_timeout",
                    "15000000",
                    "-show_entries",
                    "stream=codec_type,codec_name,width,height",
                    "-of",
                    "json",
                    &hls,
                ])
                .output()
                .await
                .expect("ffprobe");
            serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
        }
    );
    let sees = |k: &str| {
        report[k]["advanced"].as_f64().unwrap_or(0.0) > 0.5
            && report[k]["width"].as_u64().unwrap_or(0) > 0
    };
    assert!(sees("hostSees"), "the host sees the guest: {report}");
    assert!(sees("guestSees"), "the guest sees the host: {report}");
    // Chromium's fake microphone beeps; silence is 0.
    for k in ["hostHears", "guestHears"] {
        assert!(report[k].as_f64().unwrap_or(0.0) > 0.01, "{k}: {report}");
    }
    assert_eq!(
        report["broadcastUrl"],
        format!("/watch/{}", host.playback_id),
        "{report}"
    );
    let streams = probe["streams"].as_array().cloned().unwrap_or_default();
    let video = streams.iter().find(|s| s["codec_type"] == "video");
    let audio = streams.iter().find(|s| s["codec_type"] == "audio");
    assert!(
        video
            .is_some_and(|v| v["codec_name"] == "h264" && v["width"] == 1280 && v["height"] == 720),
        "the broadcast over HLS: {probe}"
    );
    assert!(audio.is_some_and(|a| a["codec_name"] == "aac"), "{probe}");
    assert!(report.get("pageErrors").is_none(), "{report}");
    assert_shots(&shots, &["hangout", "hangouts"]);
    app.finish().await;
}
