//! Prometheus metrics in the text exposition format (version 0.0.4), kept in-process.
//!
//! Labels are bounded by construction: the route is axum's matched path template (never the raw
//! URL), or `unmatched`; methods outside the standard set are folded into `other`; gateways and
//! the reasons an event is not applied are `&'static str`s from closed sets.

use ferrocast_domain::billing::NotApplied;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Upper bounds of the latency histogram, in seconds.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Data {
    requests: BTreeMap<(&'static str, String, u16), u64>,
    latency: BTreeMap<(&'static str, String), Histogram>,
    rate_limited: BTreeMap<&'static str, u64>,
    webhook_ignored: BTreeMap<(&'static str, &'static str), u64>,
    webhook_deferred: BTreeMap<&'static str, u64>,
    purchases_paid: BTreeMap<&'static str, u64>,
    purchases_reversed: BTreeMap<&'static str, u64>,
    payment_mismatches: BTreeMap<(&'static str, &'static str), u64>,
    /// Unix seconds of the newest successful backup (any node's); 0: never.
    backup_last_success: f64,
    backup_failures: u64,
}

/// The node's metrics.
pub struct Metrics {
    data: Mutex<Data>,
    start_time: f64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn method_label(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        let start_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Self {
            data: Mutex::new(Data::default()),
            start_time,
        }
    }

    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        let secs = elapsed.as_secs_f64();
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        *d.requests
            .entry((method, route.to_string(), status))
            .or_default() += 1;
        let h = d.latency.entry((method, route.to_string())).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Counts a refused request of a rate-limit class.
    pub fn rate_limited(&self, class: &'static str) {
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        *d.rate_limited.entry(class).or_default() += 1;
    }

    /// Counts a gateway event recorded as not applied (once per event, not per delivery).
    pub fn webhook_ignored(&self, gateway: &'static str, reason: NotApplied) {
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        *d.webhook_ignored
            .entry((gateway, reason.as_str()))
            .or_default() += 1;
        if reason.is_mismatch() {
            *d.payment_mismatches
                .entry((gateway, reason.as_str()))
                .or_default() += 1;
        }
    }

    /// Counts a gateway event answered 503 to be delivered again (per delivery).
    pub fn webhook_deferred(&self, gateway: &'static str) {
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        *d.webhook_deferred.entry(gateway).or_default() += 1;
    }

    /// Counts a creator's purchase payment credited (`kind`: tip, membership, ppv).
    pub fn purchase_paid(&self, kind: &str) {
        let kind = match kind {
            "tip" => "tip",
            "membership" => "membership",
            "ppv" => "ppv",
            _ => "other",
        };
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        *d.purchases_paid.entry(kind).or_default() += 1;
    }

    /// Counts a purchase payment taken back (`kind`: refund or chargeback).
    pub fn purchase_reversed(&self, kind: &'static str) {
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        *d.purchases_reversed.entry(kind).or_default() += 1;
    }

    /// Renders every metric.
    /// The newest successful backup finished at `unix_ms` (kept if newer than the one known).
    pub fn backup_succeeded_at(&self, unix_ms: i64) {
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        d.backup_last_success = d.backup_last_success.max(unix_ms as f64 / 1000.0);
    }

    /// An automatic backup this node took failed.
    pub fn backup_failed(&self) {
        self.data
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .backup_failures += 1;
    }

    pub fn render(&self) -> String {
        let d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP ferrocast_build_info Version of the running binary."
        );
        let _ = writeln!(out, "# TYPE ferrocast_build_info gauge");
        let _ = writeln!(
            out,
            "ferrocast_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(
            out,
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch."
        );
        let _ = writeln!(out, "# TYPE process_start_time_seconds gauge");
        let _ = writeln!(out, "process_start_time_seconds {}", self.start_time);
        let _ = writeln!(out, "# HELP ferrocast_http_requests_total HTTP requests by method, route template and status.");
        let _ = writeln!(out, "# TYPE ferrocast_http_requests_total counter");
        for ((m, r, s), n) in &d.requests {
            let _ = writeln!(
                out,
                "ferrocast_http_requests_total{{method=\"{m}\",route=\"{}\",status=\"{s}\"}} {n}",
                escape(r)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ferrocast_http_request_duration_seconds Time from request to response head."
        );
        let _ = writeln!(
            out,
            "# TYPE ferrocast_http_request_duration_seconds histogram"
        );
        for ((m, r), h) in &d.latency {
            let r = escape(r);
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "ferrocast_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{le}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(out, "ferrocast_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(
                out,
                "ferrocast_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "ferrocast_http_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP ferrocast_rate_limited_total Requests refused by a rate limit, by class."
        );
        let _ = writeln!(out, "# TYPE ferrocast_rate_limited_total counter");
        for (class, n) in &d.rate_limited {
            let _ = writeln!(out, "ferrocast_rate_limited_total{{class=\"{class}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP ferrocast_webhook_events_ignored_total Genuine payment gateway events acknowledged and recorded without being applied, by gateway and reason (each event once).");
        let _ = writeln!(out, "# TYPE ferrocast_webhook_events_ignored_total counter");
        for ((gateway, reason), n) in &d.webhook_ignored {
            let _ = writeln!(
                out,
                "ferrocast_webhook_events_ignored_total{{gateway=\"{gateway}\",reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP ferrocast_webhook_events_deferred_total Payment gateway deliveries answered 503 to be delivered again (the event overtook the one creating its object), by gateway.");
        let _ = writeln!(
            out,
            "# TYPE ferrocast_webhook_events_deferred_total counter"
        );
        for (gateway, n) in &d.webhook_deferred {
            let _ = writeln!(
                out,
                "ferrocast_webhook_events_deferred_total{{gateway=\"{gateway}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP ferrocast_purchases_paid_total Viewers' payments to creators credited to the ledger, by kind (tip, membership, ppv).");
        let _ = writeln!(out, "# TYPE ferrocast_purchases_paid_total counter");
        for (kind, n) in &d.purchases_paid {
            let _ = writeln!(out, "ferrocast_purchases_paid_total{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP ferrocast_purchases_reversed_total Creators' income taken back by a refund or a chargeback, by kind.");
        let _ = writeln!(out, "# TYPE ferrocast_purchases_reversed_total counter");
        for (kind, n) in &d.purchases_reversed {
            let _ = writeln!(
                out,
                "ferrocast_purchases_reversed_total{{kind=\"{kind}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP ferrocast_payment_mismatches_total Payments whose amount or currency differs from their order: taken by the gateway, nothing granted; a person has to look.");
        let _ = writeln!(out, "# TYPE ferrocast_payment_mismatches_total counter");
        for ((gateway, reason), n) in &d.payment_mismatches {
            let _ = writeln!(
                out,
                "ferrocast_payment_mismatches_total{{gateway=\"{gateway}\",reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP ferrocast_backup_last_success_timestamp_seconds When the newest successful backup finished (any node's automatic backup), Unix seconds; 0: never.");
        let _ = writeln!(
            out,
            "# TYPE ferrocast_backup_last_success_timestamp_seconds gauge"
        );
        let _ = writeln!(
            out,
            "ferrocast_backup_last_success_timestamp_seconds {}",
            d.backup_last_success
        );
        let _ = writeln!(
            out,
            "# HELP ferrocast_backup_failures_total Automatic backups this node took that failed."
        );
        let _ = writeln!(out, "# TYPE ferrocast_backup_failures_total counter");
        let _ = writeln!(out, "ferrocast_backup_failures_total {}", d.backup_failures);
        out
    }
}
