//! Liveness, readiness and metrics for operators and orchestrators.

use crate::error::{ApiError, ErrorBody};
use crate::extract::ClientIp;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Binary version.
    pub version: String,
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// The node can serve requests: not draining, the database answering, its schema current.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = Ready), (status = 503, body = ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let unavailable = |details: String| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            "Not ready",
            details,
        )
    };
    if state.drain.is_draining() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "DRAINING",
            "Not ready",
            "draining: this node is shutting down; send new clients to another node.",
        ));
    }
    let ping = tokio::time::timeout(std::time::Duration::from_secs(3), state.db.ping()).await;
    match ping {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            return Err(unavailable("The database does not answer.".into()));
        }
        Err(_) => {
            return Err(unavailable(
                "The database did not answer within 3 seconds.".into(),
            ))
        }
    }
    let status = state.db.migration_status().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: cannot read the schema version");
        unavailable("Cannot read the schema version.".into())
    })?;
    if !status.is_current() {
        return Err(unavailable(
            "The database schema is not current; run `ferrocast migrate`.".into(),
        ));
    }
    Ok(Json(Ready {
        status: "ready".into(),
        database: state.db.backend().into(),
    }))
}

/// Prometheus metrics, text exposition format 0.0.4. With `FERROCAST_METRICS_TOKEN` set, only
/// `Authorization: Bearer <that token>` is answered; without it, only loopback clients (the
/// client as `FERROCAST_TRUSTED_PROXIES` resolve it, so a proxy on the same host does not open
/// it to the world).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])),
    responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Response {
    match &state.config.metrics_token {
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match given {
                Some(g) if ferrocast_auth::token::ct_eq(g, token.expose()) => {}
                Some(_) => {
                    return ApiError::unauthenticated("The metrics token is not valid.")
                        .into_response()
                }
                None => {
                    return ApiError::unauthenticated(
                        "Send Authorization: Bearer <FERROCAST_METRICS_TOKEN>.",
                    )
                    .into_response()
                }
            }
        }
        None if ip.is_loopback() || ip.to_canonical().is_loopback() => {}
        None => {
            return ApiError::forbidden(
                "Metrics answer loopback clients only; set FERROCAST_METRICS_TOKEN to scrape from elsewhere.",
            )
            .into_response()
        }
    }
    let mut text = state.metrics.render();
    text.push_str(&stream_metrics(&state.engine.hub));
    text.push_str(&restream_metrics(&state.engine));
    text.push_str(&realtime_metrics(&state));
    text.push_str(&node_metrics(&state));
    text.push_str(&rtmp_metrics(&state.engine.rtmp_stats));
    text.push_str(&srt_metrics(&state.engine.srt_stats));
    text.push_str(&transcode_metrics(&state.engine.transcode));
    if let Some(w) = &state.engine.webrtc {
        text.push_str(&webrtc_metrics(&w.stats));
    }
    text.push_str(&video_metrics(&state));
    text.push_str(&crate::resources::render(&state.config.data_dir));
    text.push_str(&job_queue_metrics(&state).await);
    text.push_str(&edge_metrics(&state.engine));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Video jobs waiting in the deployment's queue (read from the database, so every node
/// reports the same number: alert on `max`). Left out when the database does not answer within
/// 2 seconds, so that a slow database does not hold the scrape.
async fn job_queue_metrics(state: &AppState) -> String {
    let mut out = String::from(
        "# HELP ferrocast_jobs_queued Video jobs waiting for a worker, on every node of the deployment.\n\
         # TYPE ferrocast_jobs_queued gauge\n",
    );
    match tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.db.queued_job_count(),
    )
    .await
    {
        Ok(Ok(n)) => out.push_str(&format!("ferrocast_jobs_queued {n}\n")),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: cannot count queued jobs"),
        Err(_) => tracing::warn!("metrics: counting queued jobs took over 2 seconds"),
    }
    out
}

/// Whether the node drains, and rate-limit checks Redis failed (decided on this node alone).
fn node_metrics(state: &AppState) -> String {
    format!(
        "# HELP ferrocast_draining 1 while this node drains before it stops (SIGTERM), else 0.\n\
         # TYPE ferrocast_draining gauge\n\
         ferrocast_draining {}\n\
         # HELP ferrocast_rate_limit_backend_errors_total Rate-limit checks that fell back to this node's own limiter because Redis failed or was slow.\n\
         # TYPE ferrocast_rate_limit_backend_errors_total counter\n\
         ferrocast_rate_limit_backend_errors_total {}\n",
        u8::from(state.drain.is_draining()),
        state.shared_limits.as_ref().map_or(0, |s| s.errors())
    )
}

/// Socket.IO connections and realtime events other nodes missed.
fn realtime_metrics(state: &AppState) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    format!(
        "# HELP ferrocast_socketio_connections Socket.IO connections open on this node.\n\
         # TYPE ferrocast_socketio_connections gauge\n\
         ferrocast_socketio_connections {}\n\
         # HELP ferrocast_realtime_remote_dropped_total Realtime events not handed to other nodes (Redis away or too slow).\n\
         # TYPE ferrocast_realtime_remote_dropped_total counter\n\
         ferrocast_realtime_remote_dropped_total {}\n",
        state.sockets.load(Relaxed),
        state.fanout.dropped()
    )
}

/// The RTMP listener: connections open, refused at accept (by which cap) and closed by a
/// timeout (by which one). Labels are fixed words.
/// The recorder's and the job runner's counters.
fn video_metrics(state: &AppState) -> String {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::new();
    let mut series = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    if let Some(recorder) = &state.engine.recorder {
        let s = recorder.stats();
        series(
            "ferrocast_recordings_active",
            "gauge",
            "Live sessions being recorded on this node.",
            s.active.load(Relaxed),
        );
        series(
            "ferrocast_recording_segments_total",
            "counter",
            "Recorded segments stored.",
            s.segments.load(Relaxed),
        );
        series(
            "ferrocast_recording_bytes_total",
            "counter",
            "Bytes of recorded segments stored.",
            s.bytes.load(Relaxed),
        );
        series(
            "ferrocast_recording_write_failures_total",
            "counter",
            "Failed writes of recorded segments and playlists (each failed retry counts).",
            s.write_failures.load(Relaxed),
        );
        series(
            "ferrocast_recording_gaps_total",
            "counter",
            "Recorded segments lost (queue full or store failing).",
            s.gaps.load(Relaxed),
        );
        series(
            "ferrocast_recording_resyncs_total",
            "counter",
            "Times the recorder fell behind a stream and caught up again.",
            s.resyncs.load(Relaxed),
        );
    }
    let d = &state.pipeline.recordings;
    series(
        "ferrocast_recordings_started_total",
        "counter",
        "Live sessions recorded as a new recording.",
        d.started.load(Relaxed),
    );
    series(
        "ferrocast_recordings_continued_total",
        "counter",
        "Live sessions recorded as the next part of a recording (a republish).",
        d.continued.load(Relaxed),
    );
    series(
        "ferrocast_recordings_over_quota_total",
        "counter",
        "Live sessions not recorded because the owner's storage quota was used up.",
        d.over_quota.load(Relaxed),
    );
    series(
        "ferrocast_recording_decision_errors_total",
        "counter",
        "Live sessions not recorded because the decision could not be made.",
        d.errors.load(Relaxed),
    );
    let j = &state.pipeline.job_stats;
    series(
        "ferrocast_jobs_running",
        "gauge",
        "Video jobs running on this node.",
        j.running.load(Relaxed),
    );
    series(
        "ferrocast_jobs_completed_total",
        "counter",
        "Video jobs this node completed.",
        j.completed.load(Relaxed),
    );
    series(
        "ferrocast_jobs_retried_total",
        "counter",
        "Video job attempts that failed and were queued again.",
        j.retried.load(Relaxed),
    );
    series(
        "ferrocast_jobs_failed_total",
        "counter",
        "Video jobs that failed for good.",
        j.failed.load(Relaxed),
    );
    series(
        "ferrocast_jobs_lost_total",
        "counter",
        "Video jobs whose lease this node lost while working them.",
        j.lost.load(Relaxed),
    );
    out
}

fn srt_metrics(stats: &ferrocast_engine::srt::SrtStats) -> String {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::new();
    for (name, kind, help, value) in [
        ("ferrocast_srt_publishers", "gauge", "SRT publishers connected to this node.", &stats.publishing),
        ("ferrocast_srt_publishes_total", "counter", "SRT publishes accepted on this node.", &stats.publishes),
        ("ferrocast_srt_refused_total", "counter", "SRT callers refused (bad stream id or key, already live, over a limit, no encryption where required).", &stats.refused),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
            value.load(Relaxed)
        );
    }
    out
}

fn webrtc_metrics(s: &ferrocast_engine::webrtc::WebRtcStats) -> String {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::new();
    for (name, kind, help, value) in [
        (
            "ferrocast_webrtc_sessions",
            "gauge",
            "WebRTC sessions open on this node: WHEP players and WHIP publishers.",
            &s.sessions,
        ),
        (
            "ferrocast_webrtc_sessions_answered_total",
            "counter",
            "WHEP offers answered.",
            &s.answered,
        ),
        (
            "ferrocast_webrtc_sessions_connected_total",
            "counter",
            "WebRTC sessions (WHEP and WHIP) whose ICE and DTLS came up.",
            &s.connected,
        ),
        (
            "ferrocast_webrtc_publishes_total",
            "counter",
            "Browser publishes (WHIP) accepted.",
            &s.ingests,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
            value.load(Relaxed)
        );
    }
    out
}

fn transcode_metrics(t: &ferrocast_engine::transcode::Transcoder) -> String {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::new();
    let (budget, used) = t.budget();
    for (name, help, value) in [
        (
            "ferrocast_transcode_budget_cores",
            "CPU cores this node may spend transcoding adaptive-bitrate ladders.",
            budget,
        ),
        (
            "ferrocast_transcode_reserved_cores",
            "CPU cores the running ladders hold of the budget (estimated).",
            used,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
            f64::from(value) / 1000.0
        );
    }
    let s = &t.stats;
    for (name, help, value) in [
        ("ferrocast_transcode_ladders_total", "Ladders admitted for transcoding.", &s.admitted),
        ("ferrocast_transcode_refused_total", "Ladders refused for the transcoding budget (their streams play at the source bitrate).", &s.refused),
        ("ferrocast_transcode_restarts_total", "Rendition ffmpeg processes restarted after ending while their stream was live.", &s.restarts),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            value.load(Relaxed)
        );
    }
    out
}

fn rtmp_metrics(stats: &ferrocast_engine::rtmp_server::RtmpStats) -> String {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP ferrocast_rtmp_connections RTMP connections open on this node.\n\
         # TYPE ferrocast_rtmp_connections gauge\n\
         ferrocast_rtmp_connections {}",
        stats.open.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP ferrocast_rtmp_connections_refused_total RTMP connections closed at accept, by the cap they were over.\n\
         # TYPE ferrocast_rtmp_connections_refused_total counter"
    );
    for (reason, n) in [
        ("per_address", &stats.refused_per_address),
        ("per_address_pending", &stats.refused_per_address_pending),
        ("node", &stats.refused_node_full),
    ] {
        let _ = writeln!(
            out,
            "ferrocast_rtmp_connections_refused_total{{reason=\"{reason}\"}} {}",
            n.load(Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP ferrocast_ingest_publishes_total RTMP publishes accepted (live sessions started) on this node.\n\
         # TYPE ferrocast_ingest_publishes_total counter\n\
         ferrocast_ingest_publishes_total {}",
        stats.publishes.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP ferrocast_ingest_failures_total RTMP publishes refused, by reason: unknown_key (no such stream key), not_allowed (the key may not publish now), unavailable (the key could not be checked), busy (already live from another encoder).\n\
         # TYPE ferrocast_ingest_failures_total counter"
    );
    for (reason, n) in stats.publishes_refused() {
        let _ = writeln!(
            out,
            "ferrocast_ingest_failures_total{{reason=\"{reason}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP ferrocast_rtmp_timeouts_total RTMP connections closed by a timeout: handshake (not connected in time), idle (no complete message), write (the peer accepted no data).\n\
         # TYPE ferrocast_rtmp_timeouts_total counter"
    );
    for (kind, n) in [
        ("handshake", &stats.handshake_timeouts),
        ("idle", &stats.idle_timeouts),
        ("write", &stats.write_timeouts),
    ] {
        let _ = writeln!(
            out,
            "ferrocast_rtmp_timeouts_total{{kind=\"{kind}\"}} {}",
            n.load(Relaxed)
        );
    }
    out
}

/// Per-stream metrics, labelled by playback id (public, one per live stream; never the key).
/// Rates (bitrate, fps) are `rate()` of the counters.
fn stream_metrics(hub: &ferrocast_hub::Hub) -> String {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    type Get = fn(&ferrocast_hub::StreamStats) -> u64;
    let streams = hub.streams();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP ferrocast_live_streams Streams with a publisher now."
    );
    let _ = writeln!(out, "# TYPE ferrocast_live_streams gauge");
    let _ = writeln!(out, "ferrocast_live_streams {}", streams.len());
    let series: [(&str, &str, &str, Get); 6] = [
        (
            "ferrocast_stream_bytes_in_total",
            "counter",
            "Bytes received from the publisher (rate = bitrate).",
            |s| s.bytes_in.load(Relaxed),
        ),
        (
            "ferrocast_stream_frames_in_total",
            "counter",
            "Frames received from the publisher.",
            |s| s.frames_in.load(Relaxed),
        ),
        (
            "ferrocast_stream_video_frames_in_total",
            "counter",
            "Video frames received (rate = fps).",
            |s| s.video_frames_in.load(Relaxed),
        ),
        (
            "ferrocast_stream_dropped_frames_total",
            "counter",
            "Frames readers skipped after falling behind.",
            |s| s.dropped.load(Relaxed),
        ),
        (
            "ferrocast_stream_readers_disconnected_total",
            "counter",
            "Readers disconnected for staying behind.",
            |s| s.readers_dropped.load(Relaxed),
        ),
        (
            "ferrocast_stream_readers",
            "gauge",
            "Readers attached now (players, HLS packager).",
            |s| s.readers.load(Relaxed),
        ),
    ];
    for (name, kind, help, get) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in &streams {
            let _ = writeln!(
                out,
                "{name}{{playback_id=\"{}\"}} {}",
                s.key.playback_id,
                get(&s.stats)
            );
        }
    }
    out
}

/// Restream pushes: how many are in each state, and per destination (labelled by playback id and
/// destination id — never a key or URL) bytes and frames sent in the current live session.
fn restream_metrics(engine: &ferrocast_engine::Engine) -> String {
    use ferrocast_engine::restream::PushState;
    use std::fmt::Write;
    let mut out = String::new();
    let mut pushes = Vec::new();
    for s in engine.hub.streams() {
        for d in engine.restream.status(&s.key.playback_id) {
            pushes.push((s.key.playback_id.clone(), d));
        }
    }
    let _ = writeln!(
        out,
        "# HELP ferrocast_restream_pushes Restream pushes by state."
    );
    let _ = writeln!(out, "# TYPE ferrocast_restream_pushes gauge");
    for state in [
        PushState::Connecting,
        PushState::Live,
        PushState::Retrying,
        PushState::Failed,
    ] {
        let n = pushes.iter().filter(|(_, d)| d.state == state).count();
        let _ = writeln!(
            out,
            "ferrocast_restream_pushes{{state=\"{}\"}} {n}",
            state.as_str()
        );
    }
    type Get = fn(&ferrocast_engine::restream::DestinationStatus) -> u64;
    let series: [(&str, &str, Get); 3] = [
        (
            "ferrocast_restream_bytes_out_total",
            "Bytes sent to a destination in this live session.",
            |d| d.bytes_out,
        ),
        (
            "ferrocast_restream_frames_out_total",
            "Frames sent to a destination in this live session.",
            |d| d.frames_out,
        ),
        (
            "ferrocast_restream_connects_total",
            "Successful (re)connections to a destination in this live session.",
            |d| d.connects,
        ),
    ];
    for (name, help, get) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (pid, d) in &pushes {
            let _ = writeln!(
                out,
                "{name}{{playback_id=\"{pid}\",destination_id=\"{}\"}} {}",
                d.id,
                get(d)
            );
        }
    }
    out
}

/// Pulls of streams other nodes hold (origin and edge).
fn edge_metrics(engine: &ferrocast_engine::Engine) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let (running, started, failures) = engine.relays.as_ref().map_or((0, 0, 0), |r| {
        let s = r.stats();
        (
            s.running.load(Relaxed),
            s.started.load(Relaxed),
            s.failures.load(Relaxed),
        )
    });
    format!(
        "# HELP ferrocast_edge_pulls Live streams this node is pulling from the node that holds them, to relay to its own viewers.\n\
         # TYPE ferrocast_edge_pulls gauge\n\
         ferrocast_edge_pulls {running}\n\
         # HELP ferrocast_edge_pulls_started_total Pulls of another node's live stream that started relaying.\n\
         # TYPE ferrocast_edge_pulls_started_total counter\n\
         ferrocast_edge_pulls_started_total {started}\n\
         # HELP ferrocast_edge_pull_failures_total Pulls that failed: registry unreadable, origin unreachable or refusing, stream lost.\n\
         # TYPE ferrocast_edge_pull_failures_total counter\n\
         ferrocast_edge_pull_failures_total {failures}\n"
    )
}
