//! ferrocast-bench: drives any RTMP server with N publishers replaying a test FLV in real time
//! and M players per stream (RTMP, HTTP-FLV or HLS), measures delivery latency from wall-clock
//! stamps embedded in the video (an H.264 SEI per access unit), time to first frame, players
//! that fall behind or drop, and the server's CPU and memory (its whole process tree, from
//! /proc). Prints a table and writes JSON; `report` merges runs into a comparison.
//!
//! The tool shares the machine with the server under test: it runs on one tokio runtime,
//! parses only video tag headers and NAL lengths, and reports its own CPU use next to the
//! server's so the split is visible.

mod net;
mod players;
mod procfs;
mod publisher;
mod report;
mod sei;
mod sinks;
mod video;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::net::{fill, Url};
use crate::players::Protocol;
use crate::video::Window;

#[derive(Parser)]
#[command(
    name = "ferrocast-bench",
    about = "Benchmark RTMP servers: fan-out, ingest, latency, CPU and memory"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one scenario against one server.
    Run(Box<RunArgs>),
    /// Merge scenario JSON files into one results document and a markdown comparison.
    Report(report::ReportArgs),
}

#[derive(Args, Clone, Debug)]
struct RunArgs {
    /// The test FLV (H.264 + AAC) every publisher replays.
    #[arg(long, default_value = "target/bench/test.flv")]
    flv: PathBuf,
    /// Publish URL template: `{i}` stream index, `{key}` and `{play}` from `--streams`
    /// (default `bench{i}` for both), e.g. `rtmp://127.0.0.1:1935/live/{key}`.
    #[arg(long)]
    publish_url: String,
    /// RTMP play URL template, e.g. `rtmp://127.0.0.1:1935/play/{play}`.
    #[arg(long)]
    play_url: Option<String>,
    /// HTTP-FLV URL template, e.g. `http://127.0.0.1:8080/live/{play}.flv`.
    #[arg(long)]
    flv_url: Option<String>,
    /// HLS playlist URL template, e.g. `http://127.0.0.1:8080/hls/{play}/index.m3u8`.
    #[arg(long)]
    hls_url: Option<String>,
    /// Which protocol the players use.
    #[arg(long, value_enum, default_value = "rtmp")]
    protocol: ProtocolArg,
    /// A file with one `publish-name play-name` pair per line, one per stream.
    #[arg(long)]
    streams: Option<PathBuf>,
    /// Number of publishers (streams).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Players per stream.
    #[arg(long, default_value_t = 1)]
    players: usize,
    /// Seconds measured after warm-up.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds of warm-up after the players start (not measured).
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Seconds between the publishers going live and the first player (fills the GOP cache).
    #[arg(long, default_value_t = 2.0)]
    player_delay: f64,
    /// Players are started over this many seconds (spreads the connection storm).
    #[arg(long, default_value_t = 1.0)]
    ramp: f64,
    /// The server's pid: its process tree is sampled once a second.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Labels stored in the JSON (the script sets them).
    #[arg(long, default_value = "server")]
    server_name: String,
    /// Scenario label.
    #[arg(long, default_value = "custom")]
    scenario: String,
    /// Write the JSON result here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Relay sinks: RTMP servers on `--sink-port`, `--sink-port`+1, … that the server under
    /// test pushes the first stream to; each counts as one player (latency = the relay hop).
    #[arg(long, default_value_t = 0)]
    sinks: usize,
    /// First sink port.
    #[arg(long, default_value_t = 19400)]
    sink_port: u16,
    /// Tokio worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ProtocolArg {
    Rtmp,
    HttpFlv,
    Hls,
    LlHls,
}

/// Percentiles of a sample, milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Dist {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

impl Dist {
    fn of_micros(mut v: Vec<u32>) -> Self {
        v.sort_unstable();
        let pick = |q: f64| -> Option<f64> {
            if v.is_empty() {
                return None;
            }
            let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
            Some(f64::from(v[i]) / 1000.0)
        };
        Self {
            count: v.len(),
            p50: pick(0.50),
            p95: pick(0.95),
            p99: pick(0.99),
            max: v.last().map(|m| f64::from(*m) / 1000.0),
        }
    }
}

/// One scenario's results: what `--json` writes and `report` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Server label.
    pub server: String,
    /// Scenario label.
    pub scenario: String,
    /// Player protocol.
    pub protocol: String,
    /// Streams.
    pub publishers: usize,
    /// Players per stream.
    pub players_per_stream: usize,
    /// Measured seconds.
    pub duration_s: f64,
    /// Warm-up seconds.
    pub warmup_s: f64,
    /// Publishers that went live.
    pub publishers_live: usize,
    /// Publishers that stopped early.
    pub publisher_errors: usize,
    /// The worst a publisher fell behind its real-time schedule, ms.
    pub publisher_max_send_lag_ms: f64,
    /// Players the server accepted.
    pub players_connected: usize,
    /// Players whose connection ended or failed before the end.
    pub players_disconnected: usize,
    /// Players whose latency grew > 2 s, whose video stalled > 2 s, or who got no video.
    pub players_behind: usize,
    /// Mean video frames per second per player in the window.
    pub player_fps_mean: Option<f64>,
    /// Delivery latency (now − embedded publish time), all players' frames in the window, ms.
    pub latency_ms: Dist,
    /// Connect start → first decodable video frame, per player, ms.
    pub ttff_ms: Dist,
    /// Server process tree CPU over the window, percent of one core.
    pub cpu_pct: Option<f64>,
    /// `cpu_pct` divided by players.
    pub cpu_pct_per_player: Option<f64>,
    /// `cpu_pct` divided by publishers.
    pub cpu_pct_per_publisher: Option<f64>,
    /// Peak RSS of the server tree in the window, MiB.
    pub rss_peak_mib: Option<f64>,
    /// Mean RSS in the window, MiB.
    pub rss_mean_mib: Option<f64>,
    /// Mean RSS per stream, MiB.
    pub rss_mib_per_stream: Option<f64>,
    /// Peak private (anonymous) memory of the server tree in the window, MiB: RSS without the
    /// executable's and libraries' pages (absent from results written before it was measured).
    #[serde(default)]
    pub anon_peak_mib: Option<f64>,
    /// The benchmark tool's own CPU over the whole run, percent of one core.
    pub tool_cpu_pct: Option<f64>,
    /// The first few distinct errors, for diagnosis.
    pub errors: Vec<String>,
    /// The command line that produced this.
    pub command: String,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Report(a) => report::run(&a),
        Cmd::Run(a) => {
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = a.threads {
                rt.worker_threads(n.max(1));
            }
            let rt = rt.enable_all().build()?;
            let r = rt.block_on(run((*a).clone()))?;
            print!("{}", report::table(std::slice::from_ref(&r)));
            if let Some(p) = &a.json {
                std::fs::write(p, serde_json::to_vec_pretty(&r)?)
                    .with_context(|| format!("write {}", p.display()))?;
            }
            Ok(())
        }
    }
}

/// Per stream: (publish name, play name).
fn stream_names(a: &RunArgs) -> Result<Vec<(String, String)>> {
    let Some(path) = &a.streams else {
        return Ok((0..a.publishers)
            .map(|i| (format!("bench{i}"), format!("bench{i}")))
            .collect());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let v: Vec<_> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split_ascii_whitespace();
            let k = f.next().unwrap_or_default().to_owned();
            let p = f.next().unwrap_or(&k).to_owned();
            (k, p)
        })
        .collect();
    if v.len() < a.publishers {
        bail!(
            "{} lists {} streams, {} publishers asked for",
            path.display(),
            v.len(),
            a.publishers
        );
    }
    Ok(v)
}

/// A /proc sample with its time.
struct Sample {
    at: Instant,
    tree: procfs::TreeSample,
}

async fn run(a: RunArgs) -> Result<ScenarioResult> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let src = publisher::Source::load(&a.flv)?;
    let names = stream_names(&a)?;
    let (proto, template) = match a.protocol {
        ProtocolArg::Rtmp => (Protocol::Rtmp, a.play_url.clone()),
        ProtocolArg::HttpFlv => (Protocol::HttpFlv, a.flv_url.clone()),
        ProtocolArg::Hls => (Protocol::Hls, a.hls_url.clone()),
        ProtocolArg::LlHls => (Protocol::LlHls, a.hls_url.clone()),
    };
    if a.players > 0 && template.is_none() {
        bail!("players need --play-url, --flv-url or --hls-url for {proto:?}");
    }
    // Sinks serve before anything publishes, so the server's first push finds them.
    let (sink_window, sink_window_rx) = tokio::sync::watch::channel(None);
    let mut sinks = Vec::new();
    for k in 0..a.sinks {
        let port = a.sink_port + k as u16;
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("sink port {port}"))?;
        sinks.push(tokio::spawn(sinks::run(l, sink_window_rx.clone(), 30)));
    }
    let ticks = procfs::clock_ticks() as f64;
    let tool_start = (Instant::now(), procfs::self_ticks());

    let total_window = Duration::from_secs_f64(a.player_delay + a.ramp + 30.0)
        + Duration::from_secs(a.warmup + a.duration);
    // Publishers stop at the window's end, fixed once players start; until then, a far bound.
    let provisional_end = Instant::now() + total_window;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(a.publishers.max(1));
    let (end_cell, _end_rx) = tokio::sync::watch::channel(provisional_end);
    let mut pubs = Vec::new();
    for (i, (key, play)) in names.iter().take(a.publishers).enumerate() {
        let url = Url::parse(&fill(&a.publish_url, i, key, play))?;
        let src = src.clone();
        let ready = ready_tx.clone();
        let end_rx = end_cell.subscribe();
        pubs.push(tokio::spawn(publisher::run(url, src, end_rx, ready)));
    }
    drop(ready_tx);
    // Wait for every publisher (or its failure) for up to 15 s.
    let mut live = 0;
    let wait_until = Instant::now() + Duration::from_secs(15);
    while live < a.publishers {
        match tokio::time::timeout_at(wait_until.into(), ready_rx.recv()).await {
            Ok(Some(())) => live += 1,
            _ => break,
        }
    }
    eprintln!(
        "[{}/{}] {live}/{} publishers live",
        a.server_name, a.scenario, a.publishers
    );
    tokio::time::sleep(Duration::from_secs_f64(a.player_delay)).await;

    let t0 = Instant::now();
    let window = Window {
        start: t0 + Duration::from_secs(a.warmup),
        end: t0 + Duration::from_secs(a.warmup + a.duration),
    };
    // Publishers outlive the window by a second so players never see the stream end inside it.
    let _ = end_cell.send(window.end + Duration::from_secs(1));

    let sampler = a.server_pid.map(|pid| {
        tokio::spawn(async move {
            let mut v = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = Instant::now();
                if now > window.end + Duration::from_millis(500) {
                    break;
                }
                if let Ok(Some(tree)) =
                    tokio::task::spawn_blocking(move || procfs::sample_tree(pid)).await
                {
                    v.push(Sample { at: now, tree });
                }
            }
            v
        })
    });

    let mut players = Vec::new();
    let n_players = a.players * a.publishers;
    let fps = 30;
    if let Some(t) = &template {
        for p in 0..n_players {
            let i = p % a.publishers;
            let (key, play) = &names[i];
            let url = Url::parse(&fill(t, i, key, play))?;
            let delay = Duration::from_secs_f64(a.ramp * p as f64 / n_players.max(1) as f64);
            players.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                players::run(proto, url, window, fps).await
            }));
        }
    }

    let _ = sink_window.send(Some(window));
    players.extend(sinks);
    let n_players = n_players + a.sinks;

    let mut results = Vec::with_capacity(players.len());
    for p in players {
        results.push(p.await?);
    }
    let mut pub_results = Vec::new();
    for p in pubs {
        pub_results.push(p.await?);
    }
    let samples = match sampler {
        Some(s) => s.await?,
        None => Vec::new(),
    };
    let tool_cpu = match (tool_start.1, procfs::self_ticks()) {
        (Some(a0), Some(a1)) => {
            Some((a1 - a0) as f64 / ticks / tool_start.0.elapsed().as_secs_f64() * 100.0)
        }
        _ => None,
    };

    // Server CPU and memory over the window.
    let in_window: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at + Duration::from_millis(100) >= window.start)
        .collect();
    let cpu_pct = match (in_window.first(), in_window.last()) {
        (Some(f), Some(l)) if l.at > f.at => Some(
            l.tree.cpu_ticks.saturating_sub(f.tree.cpu_ticks) as f64
                / ticks
                / (l.at - f.at).as_secs_f64()
                * 100.0,
        ),
        _ => None,
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let rss_peak = in_window.iter().map(|s| s.tree.rss_bytes).max().map(mib);
    let anon_peak = in_window.iter().map(|s| s.tree.anon_bytes).max().map(mib);
    let rss_mean = (!in_window.is_empty()).then(|| {
        mib(in_window.iter().map(|s| s.tree.rss_bytes).sum::<u64>() / in_window.len() as u64)
    });

    let mut errors: Vec<String> = Vec::new();
    for e in pub_results
        .iter()
        .filter_map(|r| r.error.as_ref())
        .chain(results.iter().filter_map(|r| r.error.as_ref()))
    {
        if errors.len() < 5 && !errors.contains(e) {
            errors.push(e.clone());
        }
    }
    let window_s = a.duration as f64;
    let connected = results.iter().filter(|r| r.connected).count();
    let fps_mean = (connected > 0).then(|| {
        results
            .iter()
            .filter(|r| r.connected)
            .map(|r| r.frames_in_window as f64 / window_s)
            .sum::<f64>()
            / connected as f64
    });
    let ttff: Vec<u32> = results
        .iter()
        .filter_map(|r| r.ttff)
        .map(|d| u32::try_from(d.as_micros()).unwrap_or(u32::MAX))
        .collect();
    let latency: Vec<u32> = results
        .iter_mut()
        .flat_map(|r| std::mem::take(&mut r.latencies_us))
        .collect();
    Ok(ScenarioResult {
        server: a.server_name.clone(),
        scenario: a.scenario.clone(),
        protocol: format!("{proto:?}").to_lowercase(),
        publishers: a.publishers,
        players_per_stream: a.players,
        duration_s: window_s,
        warmup_s: a.warmup as f64,
        publishers_live: pub_results.iter().filter(|r| r.publishing).count(),
        publisher_errors: pub_results.iter().filter(|r| r.error.is_some()).count(),
        publisher_max_send_lag_ms: pub_results
            .iter()
            .map(|r| r.max_send_lag.as_secs_f64() * 1000.0)
            .fold(0.0, f64::max),
        players_connected: connected,
        players_disconnected: results.iter().filter(|r| r.disconnected).count(),
        players_behind: results.iter().filter(|r| r.behind).count(),
        player_fps_mean: fps_mean,
        latency_ms: Dist::of_micros(latency),
        ttff_ms: Dist::of_micros(ttff),
        cpu_pct,
        cpu_pct_per_player: cpu_pct
            .filter(|_| n_players > 0)
            .map(|c| c / n_players as f64),
        cpu_pct_per_publisher: cpu_pct.map(|c| c / a.publishers.max(1) as f64),
        rss_peak_mib: rss_peak,
        rss_mean_mib: rss_mean,
        rss_mib_per_stream: rss_mean.map(|m| m / a.publishers.max(1) as f64),
        anon_peak_mib: anon_peak,
        tool_cpu_pct: tool_cpu,
        errors,
        command,
    })
}
