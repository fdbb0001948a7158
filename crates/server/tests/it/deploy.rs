//! The deployment files under `deploy/` checked by the tools that will read them: the systemd
//! unit by `systemd-analyze verify`, the nginx example by `nginx -t`, the alert rules by
//! `promtool` (their own tests), the compose file by `docker compose config` (or the Python
//! `docker-compose`), and every metric the alert rules and the Grafana dashboard use exposed by
//! a live node. scripts/test.sh installs the tools. Each validator is also shown a broken copy,
//! so that a validator that accepts anything would fail these tests.

use crate::support;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{metrics_text, Backend, TestApp};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy(file: &str) -> PathBuf {
    repo().join("deploy").join(file)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ferrocast-deploy-{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Runs `program` or fails saying how to install it.
fn run(program: &str, args: &[&str], cwd: Option<&Path>) -> Output {
    let mut c = Command::new(program);
    c.args(args);
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    c.output().unwrap_or_else(|e| {
        panic!("{program} is required ({e}): run scripts/test.sh, which installs it")
    })
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `systemd-analyze verify` reports unknown or malformed directives on stderr but still exits 0,
/// so the unit passes only with a clean exit and nothing said.
fn systemd_verify(unit: &Path) -> Result<(), String> {
    let o = run(
        "systemd-analyze",
        &["verify", unit.to_str().expect("utf-8 path")],
        None,
    );
    if o.status.success() && o.stderr.is_empty() {
        Ok(())
    } else {
        Err(text(&o))
    }
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = read(&deploy("ferrocast.service"));
    assert!(
        unit.contains("ExecStart=/usr/local/bin/ferrocast serve"),
        "{unit}"
    );
    for hardening in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
        "StateDirectoryMode=0700",
        "SystemCallFilter=@system-service",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.contains(hardening), "missing {hardening:?}");
    }
    // verify checks that ExecStart names an executable: this machine's ferrocast is wherever it
    // was built, so the copy points at an executable that exists (this test binary).
    let dir = temp_dir("systemd");
    let exe = std::env::current_exe().expect("current exe");
    let here = unit.replace("/usr/local/bin/ferrocast", exe.to_str().expect("utf-8"));
    let path = dir.join("ferrocast.service");
    std::fs::write(&path, &here).expect("write unit");
    systemd_verify(&path)
        .unwrap_or_else(|e| panic!("systemd-analyze verify refused the unit:\n{e}"));

    // The same check refuses a unit with a mistake in it.
    std::fs::write(&path, here.replace("KillMode=mixed", "KillMode=gently")).expect("write");
    let err = systemd_verify(&path).expect_err("a bad KillMode is reported");
    assert!(
        err.contains("KillMode") || err.contains("kill mode"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `nginx -t` on deploy/nginx.conf with the one-host upstreams of deploy/nginx-upstreams.conf,
/// inside a main configuration of the test's own, with a certificate made for the test (the
/// example's certificate and cache paths pointed into a temporary directory).
fn nginx_t(site: &str) -> Result<(), String> {
    nginx_t_with(site, &read(&deploy("nginx-upstreams.conf")))
}

fn nginx_t_with(site: &str, upstreams: &str) -> Result<(), String> {
    let dir = temp_dir("nginx");
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).expect("tls dir");
    std::fs::create_dir_all(dir.join("cache")).expect("cache dir");
    let o = run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=live.example.com",
            "-keyout",
            tls.join("privkey.pem").to_str().expect("utf-8"),
            "-out",
            tls.join("fullchain.pem").to_str().expect("utf-8"),
        ],
        None,
    );
    assert!(o.status.success(), "openssl: {}", text(&o));
    let d = dir.to_str().expect("utf-8");
    let site = site
        .replace("/etc/nginx/tls/", &format!("{d}/tls/"))
        .replace("/var/cache/nginx/", &format!("{d}/cache/"));
    std::fs::write(dir.join("site.conf"), site).expect("site");
    std::fs::write(dir.join("upstreams.conf"), upstreams).expect("upstreams");
    let main = format!(
        "pid {d}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n  access_log off;\n  \
         client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n  \
         uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n  include {d}/upstreams.conf;\n  include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).expect("main");
    let o = run(
        "nginx",
        &[
            "-t",
            "-e",
            "stderr",
            "-p",
            d,
            "-c",
            &format!("{d}/nginx.conf"),
        ],
        None,
    );
    let _ = std::fs::remove_dir_all(&dir);
    if o.status.success() {
        Ok(())
    } else {
        Err(text(&o))
    }
}

#[test]
fn the_nginx_example_passes_nginx_t() {
    let site = read(&deploy("nginx.conf"));
    // What the example is for: TLS, WebSocket for Socket.IO, HLS caching, auth_request.
    for needle in [
        "listen 443 ssl",
        "proxy_set_header Upgrade $http_upgrade;",
        "location /socket.io/",
        "proxy_cache ferrocast_hls;",
        "location /hls/",
        "auth_request /_ferrocast_auth;",
        "/api/auth/verify",
        "location /live/",
    ] {
        assert!(site.contains(needle), "deploy/nginx.conf lacks {needle:?}");
    }
    nginx_t(&site).unwrap_or_else(|e| panic!("nginx -t refused deploy/nginx.conf:\n{e}"));
    // nginx -t refuses a broken copy (an upstream nobody defined).
    let err = nginx_t(&site.replace("http://ferrocast_playback;", "http://ferrocast_nowhere;"))
        .expect_err("an unknown upstream is refused");
    assert!(err.contains("ferrocast_nowhere"), "{err}");
    // The compose file's upstreams, with its service names (resolved by Docker's DNS only)
    // given loopback addresses here.
    let compose = read(&deploy("compose/nginx-upstreams.conf"))
        .replace("origin:8080", "127.0.0.1:8080")
        .replace("edge:8080", "127.0.0.2:8080");
    nginx_t_with(&site, &compose)
        .unwrap_or_else(|e| panic!("nginx -t refused the compose upstreams:\n{e}"));
    // The compose file's upstreams define the same names as the one-host file.
    let names = |s: &str| -> BTreeSet<String> {
        s.lines()
            .filter_map(|l| l.trim().strip_prefix("upstream "))
            .map(|l| l.trim_end_matches('{').trim().to_string())
            .collect()
    };
    assert_eq!(
        names(&read(&deploy("nginx-upstreams.conf"))),
        names(&read(&deploy("compose/nginx-upstreams.conf")))
    );
}

/// Alert names of alerts.yml, and of those the ones alerts.test.yml expects to fire at least once.
fn alerts_and_tested(rules: &str, tests: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let alerts = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(|s| s.trim().to_string())
        .collect();
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    let mut fired = BTreeSet::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(name) = l.strip_prefix("alertname: ") {
            if lines.get(i + 1) == Some(&"exp_alerts:") {
                fired.insert(name.trim().to_string());
            }
        }
    }
    (alerts, fired)
}

#[test]
fn every_alert_rule_passes_its_promtool_test() {
    let dir = deploy("prometheus");
    let o = run("promtool", &["check", "rules", "alerts.yml"], Some(&dir));
    assert!(o.status.success(), "promtool check rules:\n{}", text(&o));
    let o = run(
        "promtool",
        &["test", "rules", "alerts.test.yml"],
        Some(&dir),
    );
    assert!(o.status.success(), "promtool test rules:\n{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("SUCCESS"),
        "{}",
        text(&o)
    );

    // Every alert has a test in which it fires (besides the quiet cases).
    let rules = read(&dir.join("alerts.yml"));
    let (alerts, fired) = alerts_and_tested(&rules, &read(&dir.join("alerts.test.yml")));
    assert!(alerts.len() >= 15, "{alerts:?}");
    let untested: Vec<_> = alerts.difference(&fired).collect();
    assert!(
        untested.is_empty(),
        "alerts never shown firing in alerts.test.yml: {untested:?}"
    );
    for topic in [
        "FerrocastIngest",
        "FerrocastRestream",
        "FerrocastPaymentWebhooks",
        "FerrocastJobBacklog",
        "FerrocastBackupTooOld",
        "FerrocastDisk",
        "FerrocastMemory",
    ] {
        assert!(
            alerts.iter().any(|a| a.starts_with(topic)),
            "no {topic} alert"
        );
    }

    // The tests notice a changed rule: the job backlog threshold raised past the tests' queue.
    let tmp = temp_dir("promtool");
    std::fs::write(
        tmp.join("alerts.yml"),
        rules.replace(
            "max(ferrocast_jobs_queued) > 20",
            "max(ferrocast_jobs_queued) > 30",
        ),
    )
    .expect("rules");
    std::fs::copy(dir.join("alerts.test.yml"), tmp.join("alerts.test.yml")).expect("tests");
    let o = run(
        "promtool",
        &["test", "rules", "alerts.test.yml"],
        Some(&tmp),
    );
    assert!(
        !o.status.success(),
        "a changed threshold must fail:\n{}",
        text(&o)
    );
    assert!(text(&o).contains("FerrocastJobBacklog"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `docker compose config` when the Compose plugin is installed, else the Python
/// `docker-compose config` (Debian's package); which one ran is printed.
fn compose_config(dir: &Path, file: &str) -> Output {
    let plugin = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if plugin {
        eprintln!("compose validator: docker compose (the Compose plugin)");
        run("docker", &["compose", "-f", file, "config"], Some(dir))
    } else {
        eprintln!("compose validator: docker-compose (Python)");
        run("docker-compose", &["-f", file, "config"], Some(dir))
    }
}

#[test]
fn the_compose_file_passes_compose_config() {
    // In a copy of deploy/, with the secrets and certificate that make-secrets.sh writes.
    let dir = temp_dir("compose");
    let o = run(
        "cp",
        &[
            "-r",
            repo().join("deploy").to_str().expect("utf-8"),
            dir.to_str().expect("utf-8"),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let d = dir.join("deploy");
    let _ = std::fs::remove_dir_all(d.join("secrets"));
    let _ = std::fs::remove_dir_all(d.join("tls"));
    let o = run("sh", &["make-secrets.sh"], Some(&d));
    assert!(o.status.success(), "make-secrets.sh: {}", text(&o));
    for s in [
        "master_key",
        "audit_key",
        "database_url",
        "postgres_password",
        "s3_secret_key",
        "metrics_token",
        "backup_passphrase",
    ] {
        let v = read(&d.join("secrets").join(s));
        assert!(v.len() >= 32, "secrets/{s} is {v:?}");
    }
    let key = read(&d.join("secrets/master_key"));
    assert!(ferrocast_config::validate_secret_key(&key).is_ok(), "{key}");
    assert!(d.join("tls/fullchain.pem").exists());
    // Run again: nothing is replaced.
    let o = run("sh", &["make-secrets.sh"], Some(&d));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(read(&d.join("secrets/master_key")), key);

    let o = compose_config(&d, "docker-compose.yml");
    assert!(
        o.status.success(),
        "compose config refused the file:\n{}",
        text(&o)
    );
    let resolved = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "FERROCAST_NODE_ROLE: origin",
        "FERROCAST_NODE_ROLE: edge",
        "FERROCAST_REDIS_URL: redis://redis:6379",
        "FERROCAST_STORAGE_URL: s3://ferrocast",
        "image: nginx",
        "image: minio/minio",
        "image: postgres",
        "mc mb --ignore-existing local/ferrocast",
    ] {
        assert!(resolved.contains(needle), "{needle:?} not in:\n{resolved}");
    }

    // A misspelt option is refused.
    let broken = read(&d.join("docker-compose.yml"))
        .replace("stop_grace_period: 45s", "stop_grace_periods: 45s");
    std::fs::write(d.join("broken.yml"), broken).expect("broken");
    let o = compose_config(&d, "broken.yml");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("stop_grace_periods"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The metric names a PromQL expression uses (ours, and the process start time).
fn metric_names(expr: &str, out: &mut BTreeSet<String>) {
    let mut word = String::new();
    let mut quoted = false;
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
            continue;
        }
        if word.starts_with("ferrocast_") || word == "process_start_time_seconds" {
            out.insert(std::mem::take(&mut word));
        }
        word.clear();
    }
}

/// Every metric of the alert rules and the dashboard.
fn used_metrics() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in read(&deploy("prometheus/alerts.yml")).lines() {
        // `expr:` lines and the continuation lines of multi-line expressions; annotations only
        // name metrics in prose.
        let t = line.trim();
        if t.starts_with("summary:") || t.starts_with("description:") {
            continue;
        }
        metric_names(t.strip_prefix("expr:").unwrap_or(t), &mut names);
    }
    let dash: serde_json::Value =
        serde_json::from_str(&read(&deploy("grafana-dashboard.json"))).expect("dashboard JSON");
    fn walk(v: &serde_json::Value, names: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "definition", serde_json::Value::String(s)) => {
                            metric_names(s, names)
                        }
                        _ => walk(v, names),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, names)),
            _ => {}
        }
    }
    walk(&dash, &mut names);
    names
}

both_backends!(
    every_metric_the_alerts_and_dashboard_use_is_exposed,
    ingest_metrics_count_publishes_and_refusals_by_reason
);

/// Each metric named in deploy/prometheus/alerts.yml and deploy/grafana-dashboard.json is in a
/// live node's /metrics (its `# TYPE` line; a histogram's `_bucket` series by its family).
async fn every_metric_the_alerts_and_dashboard_use_is_exposed(b: Backend) {
    let used = used_metrics();
    // The names the files must use, whatever else they use.
    for must in [
        "ferrocast_ingest_failures_total",
        "ferrocast_restream_pushes",
        "ferrocast_webhook_events_deferred_total",
        "ferrocast_jobs_queued",
        "ferrocast_backup_last_success_timestamp_seconds",
        "ferrocast_data_dir_free_bytes",
        "ferrocast_process_resident_memory_bytes",
        "ferrocast_edge_pulls",
        "ferrocast_draining",
        "ferrocast_rate_limit_backend_errors_total",
    ] {
        assert!(
            used.contains(must),
            "{must} is used by neither file: {used:?}"
        );
    }
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let text = metrics_text(&app).await;
    let exposed: BTreeSet<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    let family = |name: &str| -> bool {
        exposed.iter().any(|(n, kind)| {
            *n == name
                || (*kind == "histogram"
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| name.strip_suffix(s) == Some(n)))
        })
    };
    let missing: Vec<&String> = used.iter().filter(|n| !family(n)).collect();
    assert!(
        missing.is_empty(),
        "used by the alert rules or the dashboard but not in /metrics: {missing:?}"
    );
    // The resource gauges carry values, not just their TYPE lines.
    for gauge in [
        "ferrocast_process_resident_memory_bytes",
        "ferrocast_data_dir_free_bytes",
        "ferrocast_data_dir_size_bytes",
        "ferrocast_jobs_queued",
    ] {
        let v: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(gauge)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {gauge} sample"))
            .parse()
            .expect("number");
        assert!(v >= 0.0, "{gauge} {v}");
        if gauge != "ferrocast_jobs_queued" {
            assert!(v > 0.0, "{gauge} {v}");
        }
    }
    app.finish().await;
}

#[test]
fn metric_names_are_read_from_promql() {
    let mut n = BTreeSet::new();
    metric_names(
        r#"sum by (instance) (rate(ferrocast_ingest_failures_total{reason="ferrocast_not_a_metric"}[5m])) / ferrocast_x:y and time() - process_start_time_seconds"#,
        &mut n,
    );
    let n: Vec<_> = n.into_iter().collect();
    assert_eq!(
        n,
        [
            "ferrocast_ingest_failures_total",
            "ferrocast_x:y",
            "process_start_time_seconds"
        ]
    );
}

/// `ferrocast_ingest_publishes_total` and `ferrocast_ingest_failures_total{reason}` (the alerts'
/// ingest series) count real ffmpeg publishes: one with an unknown key, one with a good key, and
/// a second encoder on the key that is already live.
async fn ingest_metrics_count_publishes_and_refusals_by_reason(b: Backend) {
    support::require("ffmpeg");
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
            .parse()
            .expect("number")
    };
    let unknown = "ferrocast_ingest_failures_total{reason=\"unknown_key\"}";
    let busy = "ferrocast_ingest_failures_total{reason=\"busy\"}";
    let started = "ferrocast_ingest_publishes_total";
    let before = metrics_text(&app).await;
    for s in [unknown, busy, started] {
        assert_eq!(value(&before, s), 0.0, "{s}");
    }
    // Every reason is exposed before it happens, so that rules find their series.
    for r in ["not_allowed", "unavailable"] {
        let series = format!("ferrocast_ingest_failures_total{{reason=\"{r}\"}}");
        assert_eq!(value(&before, &series), 0.0);
    }
    let wait_for = |series: &'static str, want: f64| {
        let app = &app;
        async move {
            for _ in 0..150 {
                let text = metrics_text(app).await;
                if value(&text, series) >= want {
                    return text;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!(
                "{series} did not reach {want}:\n{}",
                metrics_text(app).await
            );
        }
    };

    let mut wrong = support::publish(&app.rtmp_url(), "sk_not_a_key_of_anyone", 3, &["-an"]);
    wait_for(unknown, 1.0).await;
    let _ = wrong.kill();
    let _ = wrong.wait();

    let source = support::creator_with_source(&app, "ingest-metrics@example.com").await;
    let mut good = support::publish(&app.rtmp_url(), &source.key, 20, &["-an"]);
    let text = wait_for(started, 1.0).await;
    assert_eq!(value(&text, unknown), 1.0);
    let mut second = support::publish(&app.rtmp_url(), &source.key, 3, &["-an"]);
    let text = wait_for(busy, 1.0).await;
    assert_eq!(
        value(&text, started),
        1.0,
        "the refused encoder did not start a session"
    );
    for c in [&mut second, &mut good] {
        let _ = c.kill();
        let _ = c.wait();
    }
    app.finish().await;
}
