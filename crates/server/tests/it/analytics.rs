//! Creator analytics against a scripted audience: real ffmpeg players over HLS, HTTP-FLV and
//! RTMP join and leave a live stream at known times; the stored figures must match what the
//! script did (peak, unique viewers, sessions, watch time within 2 %, the protocol and origin
//! split), on SQLite and PostgreSQL. Also the API's ownership and the CSV export.

use crate::support::{self, *};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One scripted viewer.
struct Viewer {
    name: &'static str,
    protocol: &'static str,
    /// Seconds after the start of the script.
    join: f64,
    leave: f64,
    /// A `Referer` the player sends (a page of the site), if any.
    page: Option<&'static str>,
}

/// HLS players leave at different points of their request cycle (a playlist reload and a
/// segment each second, in step with the stream), as real viewers do: leaving always just
/// before a request, or always just after, would bias any estimate of when a player that
/// stopped asking actually left.
const SCRIPT: &[Viewer] = &[
    Viewer {
        name: "viewer-a",
        protocol: "hls",
        join: 0.0,
        leave: 36.0,
        page: Some("watch"),
    },
    Viewer {
        name: "viewer-c",
        protocol: "http_flv",
        join: 1.0,
        leave: 31.0,
        page: None,
    },
    Viewer {
        name: "viewer-e",
        protocol: "rtmp",
        join: 2.0,
        leave: 18.0,
        page: None,
    },
    Viewer {
        name: "viewer-b",
        protocol: "hls",
        join: 3.0,
        leave: 23.33,
        page: None,
    },
    Viewer {
        name: "viewer-d",
        protocol: "http_flv",
        join: 6.0,
        leave: 27.0,
        page: Some("embed"),
    },
    // The same viewer again (same address and player): a second session, not a new viewer.
    Viewer {
        name: "viewer-b",
        protocol: "hls",
        join: 25.0,
        leave: 36.67,
        page: None,
    },
];

fn player(app: &TestApp, pid: &str, v: &Viewer) -> Child {
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-nostdin"]
        .map(String::from)
        .to_vec();
    let url = match v.protocol {
        "rtmp" => {
            args.extend(["-rtmp_flashver".into(), v.name.into()]);
            format!("{}/play/{pid}", app.rtmp_url())
        }
        proto => {
            args.extend(["-user_agent".into(), v.name.into()]);
            if let Some(page) = v.page {
                let base = app.url("");
                let base = base.trim_end_matches('/');
                args.extend([
                    "-headers".into(),
                    format!("Referer: {base}/{page}/{pid}\r\n"),
                ]);
            }
            if proto == "hls" {
                app.url(&format!("/hls/{pid}/index.m3u8"))
            } else {
                app.url(&format!("/live/{pid}.flv"))
            }
        }
    };
    args.extend(["-i".into(), url]);
    // Copy, not decode: the players cost the test machine next to nothing.
    args.extend(["-map", "0", "-c", "copy", "-f", "null", "-"].map(String::from));
    Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ffmpeg")
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, "GET", path, Some(token), None).await
}

async fn scripted_audience_gives_exact_figures(b: Backend) {
    require("ffmpeg");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let src = creator_with_source(&app, "analytics@example.com").await;
    let mut encoder = publish(&app.rtmp_url(), &src.key, 80, &["-s", "320x180"]);

    // Live, with a few HLS segments ready (asked for by no one: the sources list says live).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, list) = get(&app, "/api/sources", &src.token).await;
        if list["sources"][0]["is_active"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stream did not go live: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The script: each player spawned at its join time and killed at its leave time.
    let start = Instant::now();
    let mut events: Vec<(f64, usize, bool)> = Vec::new();
    for (i, v) in SCRIPT.iter().enumerate() {
        events.push((v.join, i, true));
        events.push((v.leave, i, false));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut running: Vec<Option<Child>> = SCRIPT.iter().map(|_| None).collect();
    let mut actual = vec![(0.0f64, 0.0f64); SCRIPT.len()];
    for (at, i, join) in events {
        let when = start + Duration::from_secs_f64(at);
        tokio::time::sleep_until(when.into()).await;
        let t = start.elapsed().as_secs_f64();
        if join {
            running[i] = Some(player(&app, &src.playback_id, &SCRIPT[i]));
            actual[i].0 = t;
        } else {
            let mut child = running[i].take().expect("running");
            assert!(
                child.try_wait().expect("wait").is_none(),
                "{} stopped before its leave time",
                SCRIPT[i].name
            );
            let _ = child.kill();
            let _ = child.wait();
            actual[i].1 = t;
        }
    }
    let expected_watch_ms: f64 = actual.iter().map(|(j, l)| (l - j) * 1000.0).sum();

    // The broadcast, once every session is stored and sampled past the last leave.
    let (status, list) = get(&app, "/api/analytics/streams", &src.token).await;
    assert_eq!(status, 200, "{list}");
    let id = list["broadcasts"][0]["id"].as_i64().expect("a broadcast");
    assert_eq!(list["broadcasts"][0]["live"], true);
    let deadline = Instant::now() + Duration::from_secs(30);
    let detail = loop {
        let (status, d) = get(&app, &format!("/api/analytics/streams/{id}"), &src.token).await;
        assert_eq!(status, 200, "{d}");
        let last_sample = d["samples"]
            .as_array()
            .and_then(|s| s.last())
            .map(|s| s["viewers"].as_i64() == Some(0) && s["at_ms"].as_i64().is_some())
            .unwrap_or(false);
        let sampled_past_the_end = d["samples"].as_array().is_some_and(|s| {
            s.iter().any(|x| x["peak"].as_i64() == Some(5))
                && s.last().is_some_and(|x| x["viewers"] == 0)
        });
        if d["broadcast"]["sessions"] == 6 && last_sample && sampled_past_the_end {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "sessions or samples did not arrive: {d}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let fig = &detail["broadcast"];
    assert_eq!(fig["peak_viewers"], 5, "{detail}");
    assert_eq!(fig["unique_viewers"], 5, "{detail}");
    assert_eq!(fig["sessions"], 6, "{detail}");
    let watch = fig["watch_ms"].as_f64().expect("watch_ms");
    let off = (watch - expected_watch_ms).abs() / expected_watch_ms;
    eprintln!(
        "watch time: {watch} ms measured, {expected_watch_ms:.0} ms scripted ({:+.2} %)",
        (watch - expected_watch_ms) / expected_watch_ms * 100.0
    );
    assert!(
        off <= 0.02,
        "watch time {watch} ms against {expected_watch_ms:.0} ms scripted ({:.2} % off): {detail}",
        off * 100.0
    );
    // Before and after the fullest moment, the samples saw fewer.
    let samples = detail["samples"].as_array().expect("samples");
    assert!(samples.iter().all(|s| s["peak"].as_i64() <= Some(5)));
    assert!(samples
        .iter()
        .any(|s| s["rtmp"] == 1 && s["http_flv"].as_i64() >= Some(1)));

    let split = |key: &str| -> Vec<(String, i64, i64)> {
        detail[key]
            .as_array()
            .expect("breakdown")
            .iter()
            .map(|r| {
                (
                    r["key"].as_str().expect("key").to_string(),
                    r["sessions"].as_i64().expect("n"),
                    r["unique_viewers"].as_i64().expect("u"),
                )
            })
            .collect()
    };
    assert_eq!(
        split("by_protocol"),
        [
            ("hls".to_string(), 3, 2),
            ("http_flv".to_string(), 2, 2),
            ("rtmp".to_string(), 1, 1)
        ]
    );
    assert_eq!(
        split("by_origin"),
        [
            ("embed".to_string(), 1, 1),
            ("external".to_string(), 4, 3),
            ("watch_page".to_string(), 1, 1)
        ]
    );
    let by_protocol_watch: f64 = detail["by_protocol"]
        .as_array()
        .expect("p")
        .iter()
        .map(|r| r["watch_ms"].as_f64().expect("ms"))
        .sum();
    assert_eq!(by_protocol_watch, watch, "the split adds up");

    // The CSV: a header and one row per sample.
    let res = client()
        .get(app.url(&format!("/api/analytics/streams/{id}.csv")))
        .bearer_auth(&src.token)
        .send()
        .await
        .expect("csv");
    assert_eq!(res.status(), 200);
    assert!(res.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .expect("type")
        .starts_with("text/csv"));
    let csv = res.text().await.expect("text");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("time,viewers,peak,rtmp,http_flv,hls,ll_hls"),
        "{csv}"
    );
    assert_eq!(lines.len(), samples.len() + 1, "{csv}");

    // Someone else's broadcast is not there; a bad id says so.
    let other = register_user(&app, "nosy@example.com", "Nosy").await;
    let (status, _) = get(&app, &format!("/api/analytics/streams/{id}"), &other).await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, "/api/analytics/streams/nope", &src.token).await;
    assert_eq!(status, 404);
    let (status, list) = get(&app, "/api/analytics/streams", &other).await;
    assert_eq!(
        (status, list["broadcasts"].as_array().map(Vec::len)),
        (200, Some(0))
    );

    // The channel's totals hold the day's figures.
    let (status, series) = get(&app, "/api/analytics/channel?step=day", &src.token).await;
    assert_eq!(status, 200, "{series}");
    let buckets = series["buckets"].as_array().expect("buckets");
    let today = buckets.last().expect("today");
    assert_eq!(
        (
            today["broadcasts"].as_i64(),
            today["peak_viewers"].as_i64(),
            today["unique_viewers"].as_i64()
        ),
        (Some(1), Some(5), Some(5)),
        "{today}"
    );
    let (status, _) = get(&app, "/api/analytics/channel?step=year", &src.token).await;
    assert_eq!(status, 422);

    let _ = encoder.kill();
    let _ = encoder.wait();
    app.finish().await;
}

both_backends!(scripted_audience_gives_exact_figures);
