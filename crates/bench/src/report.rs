//! The human table and the `report` subcommand (merge scenario files, compare servers).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::ScenarioResult;

/// `ferrocast-bench report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Scenario JSON files written by `run --json`.
    files: Vec<PathBuf>,
    /// Write every result as one JSON array here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the markdown comparison here (stdout otherwise).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// The server compared against the others.
    #[arg(long, default_value = "ferrocast")]
    subject: String,
}

pub fn run(a: &ReportArgs) -> Result<()> {
    let mut all = Vec::new();
    for f in &a.files {
        let text = std::fs::read(f).with_context(|| format!("read {}", f.display()))?;
        let r: ScenarioResult =
            serde_json::from_slice(&text).with_context(|| format!("parse {}", f.display()))?;
        all.push(r);
    }
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_vec_pretty(&all)?)?;
    }
    let md = markdown(&all, &a.subject);
    match &a.markdown {
        Some(p) => std::fs::write(p, md)?,
        None => print!("{md}"),
    }
    Ok(())
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |x| format!("{x:.digits$}"))
}

/// The per-server table (also what `run` prints).
pub fn table(rs: &[ScenarioResult]) -> String {
    let mut s = String::new();
    s.push_str("| server | scenario | pubs | players | CPU % | CPU %/player | CPU %/pub | RSS peak MiB | RSS MiB/stream | private peak MiB | lat p50 | p95 | p99 | max ms | TTFF p50 | p95 | max ms | fps | behind | dropped | tool CPU % |\n");
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rs {
        let players = r.players_per_stream * r.publishers;
        let _ = writeln!(
            s,
            "| {} | {} | {}/{} | {}/{} {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.server,
            r.scenario,
            r.publishers_live,
            r.publishers,
            r.players_connected,
            players,
            r.protocol,
            f(r.cpu_pct, 1),
            f(r.cpu_pct_per_player, 3),
            f(r.cpu_pct_per_publisher, 2),
            f(r.rss_peak_mib, 1),
            f(r.rss_mib_per_stream, 2),
            f(r.anon_peak_mib, 1),
            f(r.latency_ms.p50, 1),
            f(r.latency_ms.p95, 1),
            f(r.latency_ms.p99, 1),
            f(r.latency_ms.max, 1),
            f(r.ttff_ms.p50, 1),
            f(r.ttff_ms.p95, 1),
            f(r.ttff_ms.max, 1),
            f(r.player_fps_mean, 1),
            r.players_behind,
            r.players_disconnected,
            f(r.tool_cpu_pct, 0),
        );
    }
    for r in rs.iter().filter(|r| !r.errors.is_empty()) {
        let _ = writeln!(
            s,
            "\n{} / {}: errors: {}",
            r.server,
            r.scenario,
            r.errors.join("; ")
        );
    }
    s
}

/// subject ÷ best peer for a lower-is-better metric, as "0.42× (best peer: nginx 1.23)".
fn ratio(
    rows: &[&ScenarioResult],
    subject: &str,
    metric: impl Fn(&ScenarioResult) -> Option<f64>,
) -> String {
    let Some(me) = rows
        .iter()
        .find(|r| r.server == subject)
        .and_then(|r| metric(r))
    else {
        return "–".to_owned();
    };
    let best = rows
        .iter()
        .filter(|r| r.server != subject)
        .filter_map(|r| metric(r).map(|v| (v, r.server.as_str())))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((v, name)) if v > 0.0 => format!("{:.2}× (best peer: {name} {v:.3})", me / v),
        Some((_, name)) => format!("– (best peer {name} is 0)"),
        None => "– (no peer)".to_owned(),
    }
}

/// Markdown: a table per scenario, then the subject's ratio to the best peer.
pub fn markdown(all: &[ScenarioResult], subject: &str) -> String {
    let mut scenarios: Vec<&str> = Vec::new();
    for r in all {
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
    }
    let mut s = String::new();
    for sc in scenarios {
        let rows: Vec<&ScenarioResult> = all.iter().filter(|r| r.scenario == sc).collect();
        let _ = writeln!(s, "### {sc}\n");
        let owned: Vec<ScenarioResult> = rows.iter().map(|r| (*r).clone()).collect();
        s.push_str(&table(&owned));
        // Only servers that kept every player count in a comparison.
        let healthy: Vec<&ScenarioResult> = rows
            .iter()
            .copied()
            .filter(|r| r.publishers_live == r.publishers && r.publisher_errors == 0)
            .collect();
        let _ = writeln!(
            s,
            "\n{subject} ÷ best peer (lower is better for all): CPU/player {} · CPU/publisher {} · RSS/stream {} · latency p99 {} · TTFF p95 {}\n",
            ratio(&healthy, subject, |r| r.cpu_pct_per_player),
            ratio(&healthy, subject, |r| r.cpu_pct_per_publisher),
            ratio(&healthy, subject, |r| r.rss_mib_per_stream),
            ratio(&healthy, subject, |r| r.latency_ms.p99),
            ratio(&healthy, subject, |r| r.ttff_ms.p95),
        );
    }
    s
}
