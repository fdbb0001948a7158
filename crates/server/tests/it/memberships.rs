//! Memberships and gated content, on both databases: tiers (the default template, edits,
//! retiring a held tier), memberships made by completed purchases (the foundation's
//! `Purchases::complete`, as a gateway's webhook would), the member badge in chat, and the
//! gating acceptance — a members-only video's HLS refused (403) to non-members on its playlist
//! and segments, also with a URL copied from a member (another address, another user), played
//! by a member with ffprobe, refused again once the membership lapses past its grace period;
//! pay-per-view until refunded; a members-only live stream's HLS, LL-HLS, HTTP-FLV and RTMP play.

use crate::support;
use crate::support::s3::make_mp4;
use crate::support::{
    client, client_from, creator_with_source, publish, register_user, require, Backend, TestApp,
};
use bytes::Bytes;
use ferrocast_db::purchases::{PaidPayment, PurchaseKind, Reversal};
use ferrocast_db::videos::{NewVideo, VideoMedia, VideoRecord};
use ferrocast_server::service::purchases::PurchaseRequest;
use ferrocast_server::service::videos::new_video_id;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DAY_MS: i64 = 86_400_000;

fn state(app: &TestApp) -> &ferrocast_server::state::AppState {
    &app.running.as_ref().expect("running").state
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    state(app)
        .db
        .user_by_email(email)
        .await
        .expect("db")
        .expect("user")
        .id
}

async fn handle_of(app: &TestApp, id: i64) -> String {
    state(app)
        .db
        .user_by_id(id)
        .await
        .expect("db")
        .expect("user")
        .handle
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A purchase completed as a gateway's payment would complete it: created, then paid.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn pay(
    app: &TestApp,
    kind: PurchaseKind,
    buyer: i64,
    creator: i64,
    amount: i64,
    tier_id: Option<i64>,
    video_id: Option<i64>,
    source_id: Option<i64>,
    payment_id: &str,
) {
    let st = state(app);
    let p = st
        .purchases
        .create(&PurchaseRequest {
            kind,
            buyer_id: buyer,
            creator_id: creator,
            provider: "stripe",
            amount_minor: amount,
            currency: "USD",
            country: None,
            message: None,
            display_name: None,
            tier_id,
            video_id,
            source_id,
        })
        .await
        .expect("create purchase");
    let credited = st
        .purchases
        .complete(
            None,
            &p,
            &PaidPayment {
                provider_payment_id: payment_id,
                amount_minor: amount,
                currency: "USD",
                subscription: None,
                period_end: None,
            },
        )
        .await
        .expect("complete purchase");
    assert!(credited, "the payment is credited");
}

/// Moves a membership's period end (time passing, behind the application's back).
async fn set_period_end(app: &TestApp, user: i64, creator: i64, period_end: i64) {
    let db = &state(app).db;
    ferrocast_db::on_pool!(db, p => sqlx::query(
        "UPDATE memberships SET period_end = $1 WHERE user_id = $2 AND creator_id = $3",
    )
    .bind(period_end).bind(user).bind(creator)
    .execute(p).await.expect("move period end").rows_affected());
}

/// A real two-second HLS rendition (ffmpeg) of a generated clip: (name, bytes) per object.
pub(crate) fn hls_objects(dir: &Path) -> Vec<(String, Bytes)> {
    std::fs::create_dir_all(dir).expect("dir");
    let mp4 = dir.join("clip.mp4");
    make_mp4(&mp4, 3, "400k");
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y", "-i"])
        .arg(&mp4)
        .args([
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
        ])
        .arg(dir.join("seg%d.ts"))
        .arg(dir.join("index.m3u8"))
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut objects = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir") {
        let path = e.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if name.ends_with(".ts") || name == "index.m3u8" {
            objects.push((
                format!("hls/{name}"),
                Bytes::from(std::fs::read(&path).expect("read")),
            ));
        }
    }
    objects
}

/// A ready video with `objects` in storage, as the pipeline leaves one.
pub(crate) async fn stored_video(
    app: &TestApp,
    owner: i64,
    objects: &[(String, Bytes)],
) -> VideoRecord {
    let st = state(app);
    let uuid = new_video_id();
    let v = st
        .db
        .create_video(
            &NewVideo {
                uuid: &uuid,
                user_id: owner,
                source_id: None,
                kind: "upload",
                title: "Members' cut",
                description: "",
                tags: &[],
                visibility: "public",
                status: "ready",
                expires_at: None,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("create video");
    st.db
        .set_video_media(
            v.id,
            &VideoMedia {
                duration_ms: Some(3_000),
                width: Some(640),
                height: Some(360),
                video_codec: Some("h264".into()),
                audio_codec: Some("aac".into()),
                has_hls: true,
                has_mp4: false,
                has_thumbnail: true,
                strip_frames: 0,
            },
            ferrocast_db::now_ms(),
        )
        .await
        .expect("media");
    for (name, bytes) in objects {
        st.storage
            .put(&format!("videos/{uuid}/{name}"), bytes.clone())
            .await
            .expect("put");
    }
    st.storage
        .put(
            &format!("videos/{uuid}/thumb.jpg"),
            Bytes::from_static(b"\xff\xd8\xff poster"),
        )
        .await
        .expect("put thumb");
    st.db.video_by_id(v.id).await.expect("db").expect("video")
}

/// GET with an optional bearer from `ip`: (status, code, body text).
async fn fetch(url: &str, bearer: Option<&str>, ip: [u8; 4]) -> (u16, String, String) {
    let mut req = client_from(ip).get(url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_default();
    (status, code, text)
}

/// Reads `url` with ffprobe: the streams' codec names (fails the test if it cannot).
fn probe_codecs(url: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-show_streams",
            "-of",
            "json",
            url,
        ])
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["codec_name"].as_str().map(str::to_string))
        .collect()
}

/// Whether ffprobe can read `url` at all.
fn probe_ok(url: &str) -> bool {
    Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "5000000",
            "-show_streams",
            "-of",
            "json",
            url,
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn tiers_and_memberships(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "creator@example.com").await;
    let creator_token = src.token.clone();
    let creator = user_id(&app, "creator@example.com").await;
    let fan_token = register_user(&app, "fan@example.com", "Fan").await;
    let fan = user_id(&app, "fan@example.com").await;
    let handle = handle_of(&app, creator).await;
    use reqwest::Method as M;

    // No tiers yet: the template is offered, then applied once.
    let (s, mine) = send(&app, M::GET, "/api/me/tiers", Some(&creator_token), None).await;
    assert_eq!(s, 200, "{mine}");
    assert_eq!(mine["tiers"].as_array().map(Vec::len), Some(0));
    let prices: Vec<i64> = mine["template"]
        .as_array()
        .expect("template")
        .iter()
        .map(|t| t["price_minor"].as_i64().expect("price"))
        .collect();
    assert_eq!(prices, vec![500, 1500, 5000, 25000]);
    let (s, made) = send(
        &app,
        M::POST,
        "/api/me/tiers/template",
        Some(&creator_token),
        None,
    )
    .await;
    assert_eq!(s, 201, "{made}");
    let tiers = made["tiers"].as_array().expect("tiers").clone();
    assert_eq!(tiers.len(), 4);
    assert!(tiers
        .iter()
        .all(|t| !t["perks"].as_array().expect("perks").is_empty()));
    let (s, again) = send(
        &app,
        M::POST,
        "/api/me/tiers/template",
        Some(&creator_token),
        None,
    )
    .await;
    assert_eq!((s, again["code"].as_str()), (409, Some("TIERS_EXIST")));

    // Create, validate, edit.
    let (s, bad) = send(
        &app,
        M::POST,
        "/api/me/tiers",
        Some(&creator_token),
        Some(json!({"name": "Cheap", "price_minor": 5})),
    )
    .await;
    assert_eq!(s, 422, "{bad}");
    assert!(
        bad["details"].as_str().expect("d").contains("price_minor"),
        "{bad}"
    );
    let (s, extra) = send(
        &app,
        M::POST,
        "/api/me/tiers",
        Some(&creator_token),
        Some(json!({"name": "Crew", "price_minor": 900, "currency": "eur", "perks": ["Crew shout-out"]})),
    )
    .await;
    assert_eq!(s, 201, "{extra}");
    assert_eq!(
        (extra["currency"].as_str(), extra["rank"].as_i64()),
        (Some("EUR"), Some(5))
    );
    let id = extra["id"].as_i64().expect("id");
    let (s, edited) = send(
        &app,
        M::PUT,
        &format!("/api/me/tiers/{id}"),
        Some(&creator_token),
        Some(json!({"name": "Crew+", "price_minor": 1000, "currency": "EUR", "perks": []})),
    )
    .await;
    assert_eq!(
        (s, edited["name"].as_str(), edited["rank"].as_i64()),
        (200, Some("Crew+"), Some(5))
    );
    // Someone else cannot touch it.
    let (s, _) = send(
        &app,
        M::PUT,
        &format!("/api/me/tiers/{id}"),
        Some(&fan_token),
        Some(json!({"name": "Mine", "price_minor": 1000})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, gone) = send(
        &app,
        M::DELETE,
        &format!("/api/me/tiers/{id}"),
        Some(&creator_token),
        None,
    )
    .await;
    assert_eq!((s, gone["outcome"].as_str()), (200, Some("deleted")));

    // The public list, then a membership through a paid purchase.
    let (s, public) = send(
        &app,
        M::GET,
        &format!("/api/channels/{handle}/tiers"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(public["tiers"].as_array().map(Vec::len), Some(4));
    assert!(public["membership"].is_null());
    let fan_tier = tiers[1]["id"].as_i64().expect("id");
    pay(
        &app,
        PurchaseKind::Membership,
        fan,
        creator,
        1500,
        Some(fan_tier),
        None,
        None,
        "pi_member_1",
    )
    .await;
    let (_, public) = send(
        &app,
        M::GET,
        &format!("/api/channels/{handle}/tiers"),
        Some(&fan_token),
        None,
    )
    .await;
    assert_eq!(public["membership"]["tier"]["name"], "Fan", "{public}");
    assert_eq!(public["membership"]["status"], "active");
    let (_, mine) = send(&app, M::GET, "/api/me/memberships", Some(&fan_token), None).await;
    assert_eq!(
        mine["memberships"][0]["channel"].as_str(),
        Some(handle.as_str())
    );
    let (_, members) = send(&app, M::GET, "/api/me/members", Some(&creator_token), None).await;
    assert_eq!(members["total"], 1, "{members}");
    assert_eq!(members["members"][0]["name"], "Fan");
    assert_eq!(members["members"][0]["tier"]["price_minor"], 1500);

    // A held tier is retired, not deleted.
    let (s, retired) = send(
        &app,
        M::DELETE,
        &format!("/api/me/tiers/{fan_tier}"),
        Some(&creator_token),
        None,
    )
    .await;
    assert_eq!((s, retired["outcome"].as_str()), (200, Some("retired")));
    let (_, public) = send(
        &app,
        M::GET,
        &format!("/api/channels/{handle}/tiers"),
        None,
        None,
    )
    .await;
    assert_eq!(public["tiers"].as_array().map(Vec::len), Some(3));

    // The member badge in the creator's chat.
    let st = state(&app);
    let source = st
        .db
        .source_by_id(src.id)
        .await
        .expect("db")
        .expect("source");
    let fan_user = st.db.user_by_id(fan).await.expect("db").expect("fan");
    let out = st
        .chat
        .post(ferrocast_server::service::chat::Post::Native {
            source: &source,
            member: ferrocast_server::service::chat::Member {
                id: fan_user.id,
                uuid: &fan_user.uuid,
                name: &fan_user.display_name,
                role: ferrocast_domain::account::Role::parse(&fan_user.role).expect("role"),
            },
            text: "hello",
        })
        .await
        .expect("post");
    assert!(
        out.metadata["badges"]
            .as_array()
            .expect("badges")
            .iter()
            .any(|b| b == "member"),
        "{}",
        out.metadata
    );

    // Cancel: it runs to the end of its period.
    let (s, canceled) = send(
        &app,
        M::POST,
        &format!("/api/me/memberships/{handle}/cancel"),
        Some(&fan_token),
        None,
    )
    .await;
    assert_eq!(
        (s, canceled["status"].as_str()),
        (200, Some("canceled")),
        "{canceled}"
    );
    let (s, _) = send(
        &app,
        M::POST,
        &format!("/api/me/memberships/{handle}/cancel"),
        Some(&fan_token),
        None,
    )
    .await;
    assert_eq!(s, 404);
    app.finish().await;
}

/// The gating acceptance for video on demand.
async fn members_only_video(b: Backend) {
    require("ffmpeg");
    require("ffprobe");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let creator_token = register_user(&app, "maker@example.com", "Maker").await;
    let creator = user_id(&app, "maker@example.com").await;
    let member_token = register_user(&app, "member@example.com", "Member").await;
    let member = user_id(&app, "member@example.com").await;
    let low_token = register_user(&app, "low@example.com", "Low").await;
    let low = user_id(&app, "low@example.com").await;
    let stranger_token = register_user(&app, "stranger@example.com", "Stranger").await;
    use reqwest::Method as M;
    let (_, made) = send(
        &app,
        M::POST,
        "/api/me/tiers/template",
        Some(&creator_token),
        None,
    )
    .await;
    let tier = |i: usize| made["tiers"][i]["id"].as_i64().expect("tier");

    let objects = hls_objects(&app.data_dir.join("hls-src"));
    let v = stored_video(&app, creator, &objects).await;
    let seg_name = objects
        .iter()
        .map(|(n, _)| n.clone())
        .find(|n| n.ends_with(".ts"))
        .expect("a segment");
    // Members of the second tier ("Fan") or above.
    let (s, access) = send(
        &app,
        M::PUT,
        &format!("/api/videos/{}/access", v.uuid),
        Some(&creator_token),
        Some(json!({"level": "members", "tier_id": tier(1)})),
    )
    .await;
    assert_eq!(
        (s, access["level"].as_str()),
        (200, Some("members")),
        "{access}"
    );
    assert_eq!(access["tier"]["name"], "Fan");
    let (s, bad) = send(
        &app,
        M::PUT,
        &format!("/api/videos/{}/access", v.uuid),
        Some(&creator_token),
        Some(json!({"level": "secret"})),
    )
    .await;
    assert_eq!(s, 422, "{bad}");

    // Members: one of Fan, one of the lower Supporter tier.
    pay(
        &app,
        PurchaseKind::Membership,
        member,
        creator,
        1500,
        Some(tier(1)),
        None,
        None,
        "pi_fan",
    )
    .await;
    pay(
        &app,
        PurchaseKind::Membership,
        low,
        creator,
        500,
        Some(tier(0)),
        None,
        None,
        "pi_low",
    )
    .await;

    let playlist = app.url(&format!("/vod/{}/hls/index.m3u8", v.uuid));
    let segment = app.url(&format!("/vod/{}/{seg_name}", v.uuid));
    // Anonymous and non-members: locked, no media URLs, 403 on playlist and segments.
    for token in [
        None,
        Some(stranger_token.as_str()),
        Some(low_token.as_str()),
    ] {
        let (s, view) = send(
            &app,
            M::GET,
            &format!("/api/videos/{}", v.uuid),
            token,
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(view["access"]["entitled"], false, "{view}");
        assert!(view["playback"]["hls"].is_null(), "{view}");
        assert!(
            view["playback"]["thumbnail"].is_string(),
            "the poster stays: {view}"
        );
        assert!(
            view["access"]["unlock"]
                .as_str()
                .expect("unlock")
                .contains("Fan"),
            "{view}"
        );
        for url in [&playlist, &segment] {
            let (s, code, _) = fetch(url, token, [127, 0, 0, 1]).await;
            assert_eq!(
                (s, code.as_str()),
                (403, "PLAYBACK_TOKEN_REQUIRED"),
                "{url}"
            );
        }
    }
    // The poster is not gated.
    assert_eq!(
        fetch(
            &app.url(&format!("/vod/{}/thumb.jpg", v.uuid)),
            None,
            [127, 0, 0, 1]
        )
        .await
        .0,
        200
    );

    // The member gets a token bound to them and their address, and plays the HLS.
    let (_, view) = send(
        &app,
        M::GET,
        &format!("/api/videos/{}", v.uuid),
        Some(&member_token),
        None,
    )
    .await;
    assert_eq!(view["access"]["entitled"], true, "{view}");
    let hls = view["playback"]["hls"].as_str().expect("hls").to_string();
    assert!(hls.contains("?token="), "{hls}");
    let member_url = app.url(&hls);
    let (s, _, text) = fetch(&member_url, None, [127, 0, 0, 1]).await;
    assert_eq!(s, 200, "{text}");
    let token = hls.split_once("token=").expect("token").1;
    assert!(
        text.lines()
            .filter(|l| l.ends_with(".ts") || l.contains(".ts?"))
            .all(|l| l.ends_with(&format!("?token={token}"))),
        "every segment URI carries the token: {text}"
    );
    let codecs = probe_codecs(&member_url);
    assert!(codecs.contains(&"h264".to_string()), "{codecs:?}");
    let member_segment = format!("{segment}?token={token}");
    assert_eq!(fetch(&member_segment, None, [127, 0, 0, 1]).await.0, 200);

    // The member's URL copied: from another address, or by another signed-in user.
    for url in [&member_url, &member_segment] {
        let (s, code, _) = fetch(url, None, [127, 0, 0, 2]).await;
        assert_eq!(
            (s, code.as_str()),
            (403, "PLAYBACK_TOKEN_NOT_YOURS"),
            "{url}"
        );
        let (s, code, _) = fetch(url, Some(&stranger_token), [127, 0, 0, 1]).await;
        assert_eq!(
            (s, code.as_str()),
            (403, "PLAYBACK_TOKEN_NOT_YOURS"),
            "{url}"
        );
    }
    assert!(
        !probe_ok(&member_url.replace("127.0.0.1", "127.0.0.2")),
        "another address cannot play it"
    );

    // A renewal that failed keeps access within the grace period (7 days by default) …
    set_period_end(&app, member, creator, ferrocast_db::now_ms() - 2 * DAY_MS).await;
    assert_eq!(fetch(&member_segment, None, [127, 0, 0, 1]).await.0, 200);
    // … and past it the same token is refused on playlist and segments.
    set_period_end(&app, member, creator, ferrocast_db::now_ms() - 8 * DAY_MS).await;
    for url in [&member_url, &member_segment] {
        let (s, code, _) = fetch(url, None, [127, 0, 0, 1]).await;
        assert_eq!((s, code.as_str()), (403, "MEMBERS_ONLY"), "{url}");
    }
    assert!(!probe_ok(&member_url), "a lapsed member cannot play it");
    let (_, view) = send(
        &app,
        M::GET,
        &format!("/api/videos/{}", v.uuid),
        Some(&member_token),
        None,
    )
    .await;
    assert_eq!(view["access"]["entitled"], false);
    assert!(view["playback"]["hls"].is_null());

    // The creator always plays their own video.
    let (_, own) = send(
        &app,
        M::GET,
        &format!("/api/videos/{}", v.uuid),
        Some(&creator_token),
        None,
    )
    .await;
    let own_hls = own["playback"]["hls"].as_str().expect("owner's hls");
    assert_eq!(fetch(&app.url(own_hls), None, [127, 0, 0, 1]).await.0, 200);

    // Pay-per-view: refused to members, played by the buyer until the payment is refunded.
    let (s, ppv) = send(
        &app,
        M::PUT,
        &format!("/api/videos/{}/access", v.uuid),
        Some(&creator_token),
        Some(json!({"level": "ppv", "price_minor": 700, "currency": "usd"})),
    )
    .await;
    assert_eq!(
        (s, ppv["price_minor"].as_i64(), ppv["currency"].as_str()),
        (200, Some(700), Some("USD"))
    );
    let (_, view) = send(
        &app,
        M::GET,
        &format!("/api/videos/{}", v.uuid),
        Some(&low_token),
        None,
    )
    .await;
    assert_eq!(view["access"]["entitled"], false);
    assert!(
        view["access"]["unlock"]
            .as_str()
            .expect("unlock")
            .contains("7.00 USD"),
        "{view}"
    );
    pay(
        &app,
        PurchaseKind::Ppv,
        low,
        creator,
        700,
        None,
        Some(v.id),
        None,
        "pi_ppv",
    )
    .await;
    let (_, view) = send(
        &app,
        M::GET,
        &format!("/api/videos/{}", v.uuid),
        Some(&low_token),
        None,
    )
    .await;
    assert_eq!(view["access"]["entitled"], true, "{view}");
    let bought = app.url(view["playback"]["hls"].as_str().expect("hls"));
    assert_eq!(fetch(&bought, None, [127, 0, 0, 1]).await.0, 200);
    state(&app)
        .purchases
        .reverse(
            None,
            "stripe",
            "pi_ppv",
            &Reversal {
                chargeback: false,
                id: "re_ppv",
                amount_minor: None,
                running_total: false,
            },
        )
        .await
        .expect("refund");
    let (s, code, _) = fetch(&bought, None, [127, 0, 0, 1]).await;
    assert_eq!((s, code.as_str()), (403, "PURCHASE_REQUIRED"));
    app.finish().await;
}

/// Fetches the stream's HLS entry point until it answers 200 (the stream is packaged).
async fn wait_live(url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, _, text) = fetch(url, None, [127, 0, 0, 1]).await;
        if s == 200 {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "not live within 30 s: {s} {text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The gating of a live stream: HLS and LL-HLS, HTTP-FLV and RTMP play.
async fn members_only_stream(b: Backend) {
    require("ffmpeg");
    require("ffprobe");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "live-maker@example.com").await;
    let creator = user_id(&app, "live-maker@example.com").await;
    let member_token = register_user(&app, "live-member@example.com", "Member").await;
    let member = user_id(&app, "live-member@example.com").await;
    let stranger_token = register_user(&app, "live-stranger@example.com", "Stranger").await;
    use reqwest::Method as M;
    let (_, made) = send(
        &app,
        M::POST,
        "/api/me/tiers/template",
        Some(&src.token),
        None,
    )
    .await;
    let supporter = made["tiers"][0]["id"].as_i64().expect("tier");
    let (s, access) = send(
        &app,
        M::PUT,
        &format!("/api/sources/{}/access", src.id),
        Some(&src.token),
        Some(json!({"level": "members"})),
    )
    .await;
    assert_eq!(
        (s, access["level"].as_str()),
        (200, Some("members")),
        "{access}"
    );
    let (_, read) = send(
        &app,
        M::GET,
        &format!("/api/sources/{}/access", src.id),
        Some(&src.token),
        None,
    )
    .await;
    assert_eq!(read["level"], "members");
    pay(
        &app,
        PurchaseKind::Membership,
        member,
        creator,
        500,
        Some(supporter),
        None,
        None,
        "pi_live",
    )
    .await;

    let mut encoder = publish(&app.rtmp_url(), &src.key, 25, &[]);
    let id = &src.playback_id;
    // The creator's own access shows when the stream is packaged.
    let (_, own) = send(
        &app,
        M::GET,
        &format!("/api/watch/{id}/access"),
        Some(&src.token),
        None,
    )
    .await;
    let own_hls = app.url(own["hls"].as_str().expect("owner's hls"));
    wait_live(&own_hls).await;

    // Non-members: no URLs, and every output refused.
    for token in [None, Some(stranger_token.as_str())] {
        let (_, a) = send(
            &app,
            M::GET,
            &format!("/api/watch/{id}/access"),
            token,
            None,
        )
        .await;
        assert_eq!(a["access"]["entitled"], false, "{a}");
        assert!(
            a["hls"].is_null() && a["flv"].is_null() && a["rtmp_name"].is_null(),
            "{a}"
        );
    }
    for path in [
        format!("/hls/{id}/index.m3u8"),
        format!("/hls/{id}/seg1.ts"),
        format!("/hls/{id}/v0123456789abcdef/index.m3u8"),
        format!("/live/{id}.flv"),
    ] {
        let (s, code, _) = fetch(&app.url(&path), None, [127, 0, 0, 1]).await;
        assert_eq!(
            (s, code.as_str()),
            (403, "PLAYBACK_TOKEN_REQUIRED"),
            "{path}"
        );
    }
    let rtmp = format!("{}/play/{id}", app.rtmp_url());
    assert!(!probe_ok(&rtmp), "RTMP play without a token is refused");

    // The member: HLS through its session playlist (LL-HLS parts signed), FLV and RTMP.
    let (_, a) = send(
        &app,
        M::GET,
        &format!("/api/watch/{id}/access"),
        Some(&member_token),
        None,
    )
    .await;
    assert_eq!(a["access"]["entitled"], true, "{a}");
    let hls = app.url(a["hls"].as_str().expect("hls"));
    let multivariant = wait_live(&hls).await;
    let token = a["hls"]
        .as_str()
        .expect("hls")
        .split_once("token=")
        .expect("token")
        .1
        .to_string();
    let variant = multivariant
        .lines()
        .find(|l| l.starts_with('v'))
        .expect("variant")
        .to_string();
    assert!(
        variant.ends_with(&format!("?token={token}")),
        "{multivariant}"
    );
    let media = app.url(&format!("/hls/{id}/{variant}"));
    let (s, _, text) = fetch(&media, None, [127, 0, 0, 1]).await;
    assert_eq!(s, 200, "{text}");
    for l in text.lines() {
        if !l.starts_with('#') && !l.is_empty() {
            assert!(l.ends_with(&format!("?token={token}")), "{l}");
        }
        if l.starts_with("#EXT-X-PART:") || l.starts_with("#EXT-X-PRELOAD-HINT:") {
            assert!(l.contains(&format!("?token={token}\"")), "{l}");
        }
    }
    let first_seg = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .expect("a segment");
    let seg_url = app.url(&format!(
        "/hls/{id}/{}/{first_seg}",
        variant.split('/').next().expect("v")
    ));
    assert_eq!(fetch(&seg_url, None, [127, 0, 0, 1]).await.0, 200);
    assert_eq!(
        fetch(&seg_url, None, [127, 0, 0, 2]).await.1,
        "PLAYBACK_TOKEN_NOT_YOURS"
    );
    assert!(probe_codecs(&hls).contains(&"h264".to_string()));
    assert!(probe_codecs(&app.url(a["flv"].as_str().expect("flv"))).contains(&"h264".to_string()));
    let rtmp_name = a["rtmp_name"].as_str().expect("rtmp");
    assert!(
        probe_codecs(&format!("{}/play/{rtmp_name}", app.rtmp_url())).contains(&"h264".to_string())
    );

    // Lapsed past the grace period: the same token is refused.
    set_period_end(&app, member, creator, ferrocast_db::now_ms() - 8 * DAY_MS).await;
    let (s, code, _) = fetch(&seg_url, None, [127, 0, 0, 1]).await;
    assert_eq!((s, code.as_str()), (403, "MEMBERS_ONLY"));
    assert_eq!(fetch(&hls, None, [127, 0, 0, 1]).await.0, 403);
    assert!(!probe_ok(&format!("{}/play/{rtmp_name}", app.rtmp_url())));
    let _ = encoder.kill();
    let _ = encoder.wait();
    app.finish().await;
}

both_backends!(
    tiers_and_memberships,
    members_only_video,
    members_only_stream
);
