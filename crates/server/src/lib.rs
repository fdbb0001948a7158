//! The ferrocast server: wires configuration, storage, mail, the media engine, the services
//! ([`service`]) and their adapters (HTTP [`routes`], Socket.IO [`realtime`], chat
//! [`connectors`]) into a running node. The binary only parses the command line and calls in
//! here. ARCHITECTURE.md at the repository root draws the layers.

pub mod access;
pub mod app;
pub mod campaign_notices;
pub mod connectors;
pub mod doctor;
pub mod drain;
pub mod error;
pub mod extract;
pub mod gateways;
pub mod goals;
pub mod healthcheck;
pub mod http_server;
pub mod ip_lists;
pub mod mail;
pub mod metrics;
pub mod payouts;
pub mod ratelimit;
pub mod realtime;
pub mod resources;
pub mod routes;
pub mod service;
pub mod site;
pub mod splits;
pub mod state;
pub mod telegram_bot;
pub mod tips;
pub mod web;

use anyhow::Context;
use ferrocast_config::{Config, LogFormat};
use ferrocast_db::Db;
use ferrocast_domain::mail::Mailer;
use state::AppState;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber: human lines or JSON, filtered by `log_level`;
/// colours only when standard error is a terminal (not in files, pipes or journald). Each HTTP
/// request is logged at `debug` (`FERROCAST_LOG_LEVEL=info,tower_http=debug` shows them).
pub fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Where the master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `FERROCAST_SECRET_KEY`.
    Configured,
    /// The key file in the data directory.
    File,
    /// Generated now into the key file.
    Generated,
}

/// Loads the master key: the configured one, else `DATA_DIR/master.key`, else a new random key
/// written there (mode 0600, never overwriting an existing file).
pub fn master_key(config: &Config) -> anyhow::Result<([u8; 32], KeySource)> {
    if let Some(k) = &config.secret_key {
        let key = ferrocast_config::validate_secret_key(k.expose())
            .map_err(|e| anyhow::anyhow!("FERROCAST_SECRET_KEY {e}"))?;
        return Ok((key, KeySource::Configured));
    }
    let path = config.master_key_path();
    if let Some(key) = read_key_file(&path)? {
        return Ok((key, KeySource::File));
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    let hex = data_encoding::HEXLOWER.encode(&key);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(&path) {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(format!("{hex}\n").as_bytes())
                .and_then(|_| f.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok((key, KeySource::Generated))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let key = read_key_file(&path)?
                .ok_or_else(|| anyhow::anyhow!("{} vanished while starting", path.display()))?;
            Ok((key, KeySource::File))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Reads and checks a key file; `None` if it does not exist.
pub fn read_key_file(path: &Path) -> anyhow::Result<Option<[u8; 32]>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = ferrocast_config::validate_secret_key(text.trim())
                .map_err(|e| anyhow::anyhow!("the master key file {} {e}", path.display()))?;
            Ok(Some(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => {
            Err(e).with_context(|| format!("cannot read the master key file {}", path.display()))
        }
    }
}

/// The audit log's signing key: `FERROCAST_AUDIT_KEY`, else `DATA_DIR/audit.key`, else (with
/// `create`) a new random key written there (mode 0600, never overwriting an existing file).
/// `None` when there is none and `create` is false.
pub fn audit_signer(
    config: &Config,
    create: bool,
) -> anyhow::Result<Option<service::audit::AuditSigner>> {
    if let Some(k) = &config.audit_key {
        let seed = ferrocast_config::validate_secret_key(k.expose())
            .map_err(|e| anyhow::anyhow!("FERROCAST_AUDIT_KEY {e}"))?;
        return Ok(Some(service::audit::AuditSigner::from_seed(&seed)));
    }
    let path = config.audit_key_path();
    let read = |path: &Path| -> anyhow::Result<Option<[u8; 32]>> {
        match std::fs::read_to_string(path) {
            Ok(text) => ferrocast_config::validate_secret_key(text.trim())
                .map(Some)
                .map_err(|e| anyhow::anyhow!("the audit key file {} {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                Err(e).with_context(|| format!("cannot read the audit key file {}", path.display()))
            }
        }
    };
    if let Some(seed) = read(&path)? {
        return Ok(Some(service::audit::AuditSigner::from_seed(&seed)));
    }
    if !create {
        return Ok(None);
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(&path) {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(format!("{}\n", data_encoding::HEXLOWER.encode(&seed)).as_bytes())
                .and_then(|_| f.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::warn!(path = %path.display(), "generated a new audit signing key; back it up beside the master key");
            Ok(Some(service::audit::AuditSigner::from_seed(&seed)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let seed = read(&path)?
                .ok_or_else(|| anyhow::anyhow!("{} vanished while starting", path.display()))?;
            Ok(Some(service::audit::AuditSigner::from_seed(&seed)))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The keys a backup carries: the master key and the audit key as this node has them (the
/// configured ones, else the files in the data directory). Never creates a key: a node that has
/// none has nothing to back up yet.
pub fn backup_keys(config: &Config) -> anyhow::Result<service::backup::Keys> {
    let master = match &config.secret_key {
        Some(k) => ferrocast_config::validate_secret_key(k.expose())
            .map_err(|e| anyhow::anyhow!("FERROCAST_SECRET_KEY {e}"))?,
        None => read_key_file(&config.master_key_path())?.with_context(|| {
            format!(
                "no master key: neither FERROCAST_SECRET_KEY nor {} (is this the node's data directory?)",
                config.master_key_path().display()
            )
        })?,
    };
    let audit = match &config.audit_key {
        Some(k) => Some(
            ferrocast_config::validate_secret_key(k.expose())
                .map_err(|e| anyhow::anyhow!("FERROCAST_AUDIT_KEY {e}"))?,
        ),
        None => match std::fs::read_to_string(config.audit_key_path()) {
            Ok(text) => Some(
                ferrocast_config::validate_secret_key(text.trim()).map_err(|e| {
                    anyhow::anyhow!(
                        "the audit key file {} {e}",
                        config.audit_key_path().display()
                    )
                })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read {}", config.audit_key_path().display()))
            }
        },
    };
    Ok(service::backup::Keys { master, audit })
}

/// The configured mailer.
pub fn mailer(config: &Config) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match &config.smtp_url {
        None => Arc::new(mail::LogMailer),
        Some(url) => Arc::new(
            mail::SmtpMailer::new(url.expose(), &config.mail_from).map_err(anyhow::Error::msg)?,
        ),
    })
}

/// Connects to the database and applies pending migrations.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(config.database_url.expose()).await?;
    let applied = db.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(?applied, backend = db.backend(), "database migrated");
    }
    // Accounts made before profiles existed get their channel handle (see migration 0016).
    let handles = db.backfill_handles().await?;
    if handles > 0 {
        tracing::info!(
            accounts = handles,
            "channel handles given to existing accounts"
        );
    }
    Ok(db)
}

/// The audit log for the command line (`ferrocast audit checkpoint|export`): the database and
/// the service with this node's key (created if there is none yet). The origin is the public
/// URL's, as the running node's.
pub async fn open_audit(config: &Config) -> anyhow::Result<(Db, service::audit::Audit)> {
    private_data_dir(config)?;
    let signer =
        audit_signer(config, true)?.context("the audit key was neither configured nor created")?;
    let db = open_database(config).await?;
    let audit = service::audit::Audit::new(
        db.clone(),
        service::clock::system(),
        signer,
        service::audit::origin_for(&config.public_url),
    );
    Ok((db, audit))
}

/// The audit log for a command-line action on `db`.
fn cli_audit(config: &Config, db: &Db) -> anyhow::Result<service::audit::Audit> {
    let signer =
        audit_signer(config, true)?.context("the audit key was neither configured nor created")?;
    Ok(service::audit::Audit::new(
        db.clone(),
        service::clock::system(),
        signer,
        service::audit::origin_for(&config.public_url),
    ))
}

/// Loads a plans file into storage (see README, "Plans").
pub async fn load_plans(db: &Db, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the plans file {} (FERROCAST_PLANS_FILE)",
            path.display()
        )
    })?;
    let plans = ferrocast_domain::plans::parse_plans_file(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    db.sync_plans(&plans, ferrocast_db::now_ms()).await?;
    tracing::info!(path = %path.display(), plans = plans.len(), "plans loaded");
    Ok(())
}

/// The restream settings from the configuration.
pub fn restream_config(
    config: &Config,
) -> anyhow::Result<ferrocast_engine::restream::RestreamConfig> {
    let extra = match &config.restream_ca_file {
        Some(path) => Some(std::fs::read(path).with_context(|| {
            format!(
                "cannot read {} (FERROCAST_RESTREAM_CA_FILE)",
                path.display()
            )
        })?),
        None => None,
    };
    let tls = ferrocast_engine::restream::tls_config(extra.as_deref())
        .map_err(|e| anyhow::anyhow!("FERROCAST_RESTREAM_CA_FILE: {e}"))?;
    Ok(ferrocast_engine::restream::RestreamConfig {
        allow_private_targets: config.restream_allow_private_targets,
        allowed_ports: config.restream_allowed_ports.clone(),
        ..ferrocast_engine::restream::RestreamConfig::new(tls)
    })
}

/// This node as the node registry shows it to the others: its role and the URLs they reach it
/// at (`FERROCAST_NODE_RTMP_URL`/`_HTTP_URL`, else the addresses bound).
fn node_identity(config: &Config, id: &str, now_ms: i64) -> service::nodes::NodeIdentity {
    let rtmp_url = config
        .nodes
        .rtmp_url
        .clone()
        .unwrap_or_else(|| format!("rtmp://{}", config.rtmp_addr));
    let http_url = config
        .nodes
        .http_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.http_addr));
    if config.nodes.rtmp_url.is_none() && config.rtmp_addr.ip().is_unspecified() {
        tracing::warn!(
            "FERROCAST_NODE_RTMP_URL is not set and RTMP listens on every address ({}): other nodes cannot pull this node's streams; set it to the address they reach this node at",
            config.rtmp_addr
        );
    }
    service::nodes::NodeIdentity {
        id: id.to_string(),
        role: config.nodes.role,
        rtmp_url,
        http_url,
        started_at: now_ms,
    }
}

/// The RTMP listener's settings from the configuration.
pub fn rtmp_config(config: &Config) -> ferrocast_engine::rtmp_server::RtmpConfig {
    use ferrocast_engine::rtmp_server::{default_workers, RtmpConfig};
    RtmpConfig {
        workers: config.rtmp_workers.unwrap_or_else(default_workers),
        max_connections_per_ip: config.rtmp_max_connections_per_ip,
        max_pending_per_ip: config.rtmp_max_pending_per_ip,
        idle_timeout: std::time::Duration::from_secs(config.rtmp_idle_timeout_secs),
        write_timeout: std::time::Duration::from_secs(config.rtmp_write_timeout_secs),
        coalesce: std::time::Duration::from_millis(config.rtmp_coalesce_ms),
    }
}

/// A node listening for HTTP.
pub struct Running {
    /// The bound HTTP address (useful with port 0).
    pub http_addr: SocketAddr,
    /// The bound RTMP address.
    pub rtmp_addr: SocketAddr,
    /// The bound SRT address, when SRT is on.
    pub srt_addr: Option<SocketAddr>,
    /// Shared state, for tests and the CLI.
    pub state: AppState,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// This node in the node registry (removed on stop).
    nodes: Arc<service::nodes::Nodes>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish (up to 10 s), closes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.state.drain.begin();
        self.state.connectors.stop_all().await;
        let _ = self.shutdown.send(true);
        self.task.await??;
        self.nodes.leave().await;
        self.state.db.close().await;
        Ok(())
    }

    /// Drains the node and stops it, within `bound` (SIGTERM; `FERROCAST_DRAIN_SECS`):
    /// `/ready` answers 503 at once; the RTMP listener closes with its connections, so encoders
    /// reconnect (through the balancer) to another node; new HTTP viewers are refused; workers
    /// claim no more jobs and the running ones may finish; then the node stops, gives back the
    /// leases it still holds (jobs, notification deliveries, chat connectors) so other nodes
    /// take them over at once, and closes the database. What is left at the deadline is cut.
    pub async fn drain(mut self, bound: std::time::Duration) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        use std::time::Duration;
        let deadline = tokio::time::Instant::now() + bound;
        let state = self.state.clone();
        state.drain.begin();
        // A fifth of the bound (at least 1 s) is kept for stopping and giving leases back.
        let reserve = (bound / 5).max(Duration::from_secs(1)).min(bound);
        let settled = tokio::time::timeout(bound - reserve, async {
            loop {
                // Relays end with their viewers, radio stations when the node stops; only
                // encoders' streams are waited for.
                let live = state
                    .engine
                    .hub
                    .streams()
                    .iter()
                    .filter(|s| s.key.is_encoders())
                    .count();
                let running = state.pipeline.job_stats.running.load(Relaxed);
                // Ended streams' sessions are closed by their monitors a moment later.
                let unfinished = state.streams.unfinished_sessions();
                if live == 0 && running == 0 && unfinished == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        if settled.is_err() {
            tracing::warn!(
                streams = state.engine.hub.streams().len(),
                jobs = state.pipeline.job_stats.running.load(Relaxed),
                "drain: streams or jobs still running at the deadline; stopping them"
            );
        }
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        let _ = tokio::time::timeout(left(), state.connectors.stop_all()).await;
        let _ = self.shutdown.send(true);
        let served = match tokio::time::timeout(left(), &mut self.task).await {
            Ok(joined) => joined.map_err(anyhow::Error::from).and_then(|r| Ok(r?)),
            Err(_) => {
                tracing::warn!("drain: HTTP connections still open at the deadline; closing them");
                self.task.abort();
                Ok(())
            }
        };
        // Giving the leases back is quick, and worth a moment past the deadline: without it
        // other nodes wait for them to run out.
        let node = state.fanout.node().to_string();
        let give_back = left().max(Duration::from_secs(2));
        match tokio::time::timeout(
            give_back,
            state.db.release_node_leases(&node, ferrocast_db::now_ms()),
        )
        .await
        {
            Ok(Ok(n)) => tracing::info!(leases = n, "drain: leases given back"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "drain: cannot give leases back; they run out by themselves")
            }
            Err(_) => {
                tracing::warn!("drain: giving leases back timed out; they run out by themselves")
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.nodes.leave()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), state.db.close()).await;
        tracing::info!("drained; exiting");
        served
    }

    /// Waits until the server stops by itself (it only does on an I/O error).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        (&mut self.task).await??;
        Ok(())
    }
}

/// The fan-out of realtime events: through Redis when `FERROCAST_REDIS_URL` is set (every node
/// sharing it sees every event), else within this process.
async fn realtime_fanout(
    config: &Config,
    master_key: &[u8; 32],
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Arc<dyn service::events::Fanout>> {
    let node = uuid::Uuid::new_v4().simple().to_string();
    Ok(match &config.redis_url {
        Some(url) => {
            let fanout = service::events::RedisFanout::connect(
                url.expose(),
                service::events::channel(master_key),
                node,
                shutdown,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e} (FERROCAST_REDIS_URL)"))?;
            tracing::info!("realtime events shared through Redis");
            Arc::new(fanout)
        }
        None => Arc::new(service::events::InProcess::new(node)),
    })
}

/// Creates the data directory if needed and makes it private (0700): it holds the master key,
/// the database and recordings. Files in it are created 0600.
pub fn private_data_dir(config: &Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| {
                format!(
                    "cannot make the data directory {} private (chmod 0700)",
                    config.data_dir.display()
                )
            })?;
    }
    Ok(())
}

/// Starts a node: master key, database, migrations, HTTP.
pub async fn start(mut config: Config) -> anyhow::Result<Running> {
    private_data_dir(&config)?;
    let (key, source) = master_key(&config)?;
    match source {
        KeySource::Generated => tracing::warn!(
            path = %config.master_key_path().display(),
            "generated a new master key; back it up — without it, encrypted secrets and sessions cannot be recovered"
        ),
        KeySource::File => {
            tracing::info!(path = %config.master_key_path().display(), "master key loaded")
        }
        KeySource::Configured => tracing::info!("master key from configuration"),
    }
    let audit_signer =
        audit_signer(&config, true)?.context("the audit key was neither configured nor created")?;
    let db = open_database(&config).await?;
    let mailer = mailer(&config)?;
    tracing::info!(mailer = %mailer.describe(), backend = db.backend(), data_dir = %config.data_dir.display(), "storage ready");
    let listener = TcpListener::bind(config.http_addr).await.with_context(|| {
        format!(
            "cannot listen on {} (FERROCAST_HTTP_ADDR); is another server using it?",
            config.http_addr
        )
    })?;
    let http_addr = listener.local_addr()?;
    // Port 0 asks the system for a port: links handed out (players, the default public URL)
    // use the one bound.
    let public_url_set = config
        .origins
        .get("public_url")
        .is_some_and(|o| *o != ferrocast_config::Origin::Default);
    if !public_url_set {
        config.public_url = format!("http://{http_addr}");
    }
    config.http_addr = http_addr;
    let rtmp_listener = TcpListener::bind(config.rtmp_addr).await.with_context(|| {
        format!(
            "cannot listen on {} (FERROCAST_RTMP_ADDR); is another server using it?",
            config.rtmp_addr
        )
    })?;
    let rtmp_addr = rtmp_listener.local_addr()?;
    // Port 0 asks the system for a port: what users are told (ingest URLs) is the one bound.
    config.rtmp_addr = rtmp_addr;
    let srt = match config.srt_addr {
        Some(addr) => {
            let srt_config = ferrocast_engine::srt::SrtConfig {
                addr,
                passphrase: config.srt_passphrase.as_ref().map(|p| p.expose().clone()),
                latency: ferrocast_engine::srt::DEFAULT_LATENCY,
            };
            let bound = ferrocast_engine::srt::bind(&srt_config)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen for SRT on {addr} (FERROCAST_SRT_ADDR, UDP); is another \
                         server using it?"
                    )
                })?;
            config.srt_addr = Some(bound.local_addr);
            Some((bound, srt_config))
        }
        None => None,
    };
    let srt_addr = config.srt_addr;
    // Sources left marked live by a node that stopped (sessions without a recent heartbeat) are
    // offline; those live on other nodes sharing the database keep their mark. This node's own
    // sessions from before a crash go stale and are swept within two sweeps (service::streams::spawn).
    db.reset_orphaned_sources(
        ferrocast_db::now_ms() - service::streams::STALE_AFTER.as_millis() as i64,
    )
    .await?;
    if let Some(path) = &config.plans_file {
        load_plans(&db, path).await?;
    }
    let restream = restream_config(&config)?;
    let clock = service::clock::system();
    let grants = service::streams::Grants::default();
    let storage = ferrocast_storage::Storage::from_config(&config).map_err(|e| {
        anyhow::anyhow!(
            "cannot open the object storage (FERROCAST_STORAGE_URL, FERROCAST_S3_*): {e}"
        )
    })?;
    let jobs = service::jobs::JobQueue::new(db.clone(), clock.clone());
    let recordings = Arc::new(service::recordings::Recordings::new(
        db.clone(),
        storage.clone(),
        jobs.clone(),
        clock.clone(),
        config.recording_finish_delay_ms,
    ));
    let pipeline = state::Pipeline {
        jobs: jobs.clone(),
        job_stats: Arc::default(),
        recordings: recordings.decisions(),
    };
    let access = Arc::new(service::access::Access::new(
        db.clone(),
        clock.clone(),
        &key,
        config.payments.grace_days,
    ));
    let pull_key = service::nodes::pull_key(
        config.nodes.secret.as_ref().map(|s| s.expose().as_str()),
        &key,
    );
    let engine = ferrocast_engine::Engine::start(
        Arc::new(service::nodes::NodeAuthorizer::new(
            Arc::new(
                service::streams::SourceAuthorizer::new(db.clone(), grants.clone(), clock.clone())
                    .with_access(access.clone())
                    .with_ingest_list(config.ops.ingest.clone())
                    .with_storage(storage.clone()),
            ),
            pull_key,
            config.nodes.role,
            clock.clone(),
        )),
        restream,
    )
    .with_recording(
        recordings,
        ferrocast_engine::record::RecordConfig::default(),
    );
    // WebRTC (WHEP): one UDP socket for every session.
    let webrtc_addr = config
        .webrtc_addr
        .unwrap_or_else(|| std::net::SocketAddr::new(config.http_addr.ip(), 0));
    let mut engine = engine;
    engine.webrtc = Some(
        ferrocast_engine::webrtc::WebRtc::bind(
            webrtc_addr,
            config.webrtc_candidate,
            engine.hub.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind the WebRTC UDP socket on {webrtc_addr}: {e}"))?,
    );
    // Adaptive bitrate: half the cores unless the operator says otherwise.
    engine
        .transcode
        .set_budget(config.transcode_millicores.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
            cores * 500
        }));
    let rtmp = rtmp_config(&config);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let fanout = realtime_fanout(&config, &key, rx.clone()).await?;
    let nodes = Arc::new(service::nodes::Nodes::new(
        db.clone(),
        node_identity(&config, fanout.node(), ferrocast_db::now_ms()),
        pull_key,
        clock.clone(),
    ));
    let engine = engine.with_relays(
        nodes.clone(),
        ferrocast_engine::relay::RelayConfig {
            linger: std::time::Duration::from_secs(config.nodes.pull_linger_secs),
        },
    );
    let state = state::compose(
        config,
        db,
        &key,
        mailer,
        engine.clone(),
        grants,
        fanout.clone(),
        clock.clone(),
        storage.clone(),
        pipeline.clone(),
        access,
        audit_signer,
    )
    .context("starting the password hashing threads")?;
    service::audit::spawn_checkpoints(
        state.audit.clone(),
        std::time::Duration::from_secs(state.config.audit_checkpoint_minutes * 60),
        rx.clone(),
    );
    // A node with a passphrase can take backups when an administrator asks; with a schedule,
    // it also takes them automatically (one node at a time, by the lease).
    if let Some(passphrase) = state.config.backup.passphrase.clone() {
        let scheduler = Arc::new(service::backup::Scheduler {
            db: state.db.clone(),
            storage: storage.clone(),
            schedule: state.config.backup.schedule,
            passphrase,
            keys: backup_keys(&state.config)?,
            scratch: state.config.data_dir.join("tmp"),
            node: fanout.node().to_string(),
            metrics: state.metrics.clone(),
            running: std::sync::Mutex::new(None),
        });
        let _ = state.backups.set(scheduler.clone());
        if scheduler.schedule.is_some() {
            service::backup::spawn(scheduler, rx.clone());
        }
    }
    service::jobs::spawn(
        Arc::new(service::processing::Media::new(
            state.db.clone(),
            storage,
            fanout.clone(),
            clock,
            &state.config.data_dir,
            state.config.recording_finish_delay_ms,
        )),
        jobs,
        service::jobs::RunnerConfig {
            node: fanout.node().to_string(),
            workers: state.config.job_workers,
            lease_ms: state.config.job_lease_ms as i64,
            finish_delay_ms: state.config.recording_finish_delay_ms as i64,
            claims: state.drain.claims_stopped(),
        },
        pipeline.job_stats,
        rx.clone(),
    );
    service::streams::spawn(state.streams.clone());
    service::nodes::spawn(nodes.clone(), state.engine.hub.clone(), rx.clone());
    // The VAPID key is made (or loaded) before the first request can ask for it.
    state.notify.vapid().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot prepare Web Push: {e}. If the key cannot be opened, this node's master key \
                 is not the other nodes': every node of one deployment must run with the same \
                 FERROCAST_SECRET_KEY (or the same DATA_DIR/master.key)"
        )
    })?;
    // Their workers stop claiming when the node drains (which every stop begins with).
    service::notify::spawn(state.notify.clone(), state.drain.claims_stopped());
    service::privacy::spawn(state.privacy.clone(), state.drain.claims_stopped());
    state.site.spawn_invalidation(fanout.clone(), rx.clone());
    service::dmca::spawn(state.dmca.clone(), rx.clone());
    tips::spawn(state.clone(), rx.clone());
    let socket_io = realtime::start(state.clone(), rx.clone());
    connectors::start(&state, rx.clone()).await;
    gateways::spawn_period_job(state.clone(), rx.clone());
    campaign_notices::spawn_milestone_reminders(state.clone(), rx.clone());
    telegram_bot::spawn(state.clone(), rx.clone());
    service::radio::spawn(state.radio.clone(), state.drain.claims_stopped());
    service::hangouts::spawn(state.hangouts.clone(), state.drain.claims_stopped());
    service::uploads::spawn_sweep(state.uploads.clone(), rx.clone());
    // Post pictures uploaded and never posted, hourly.
    {
        let state = state.clone();
        let mut stop = rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                match state.posts.sweep_unposted().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pictures = n, "swept post pictures never posted"),
                    Err(e) => tracing::warn!(error = %e, "cannot sweep post pictures"),
                }
            }
        });
    }
    service::thumbnail::spawn_refresher(
        ThumbnailsOf(state.clone()),
        state.engine.hub.clone(),
        rx.clone(),
    );
    let app = app::router(state.clone()).layer(socket_io);
    // A draining node ends the streams on the fallback slate and starts no new slate.
    engine.slates.stop_on(state.drain.ingest_stopped());
    // RTMP stops (with its connections) as soon as the node drains, before the rest.
    tokio::spawn(ferrocast_engine::rtmp_server::serve(
        engine,
        rtmp_listener,
        rtmp,
        state.drain.ingest_stopped(),
    ));
    let per_address = http_server::PerAddress {
        max: state.config.http_max_connections_per_ip,
        trusted_proxies: state.config.trusted_proxies.clone(),
    };
    let task = tokio::spawn(http_server::serve(listener, app, per_address, rx));
    if let Some((bound, srt_config)) = srt {
        tracing::info!(url = %format!("srt://{}", bound.local_addr), "SRT listening");
        tokio::spawn(ferrocast_engine::srt::serve(
            state.engine.clone(),
            bound,
            srt_config,
            state.drain.ingest_stopped(),
        ));
    }
    tracing::info!(url = %format!("rtmp://{rtmp_addr}"), "RTMP listening");
    tracing::info!(url = %format!("http://{http_addr}"), "ferrocast listening");
    Ok(Running {
        http_addr,
        rtmp_addr,
        srt_addr,
        state,
        shutdown: tx,
        task,
        nodes,
    })
}

/// Runs a node until `shutdown` completes or the server fails.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut running = start(config).await?;
    tokio::select! {
        r = running.wait() => r,
        _ = shutdown => {
            let bound = std::time::Duration::from_secs(running.state.config.ops.drain_secs);
            tracing::info!(within = ?bound, "shutting down: draining");
            running.drain(bound).await
        }
    }
}

/// Gives the existing account `email` the role `role` (the `ferrocast user set-role` command);
/// the role it had before. Errors say what to do: an unknown email names `user create`.
pub async fn set_user_role(
    config: &Config,
    email: &str,
    role: ferrocast_domain::account::Role,
) -> anyhow::Result<(ferrocast_db::accounts::UserRecord, String)> {
    let email =
        ferrocast_domain::account::normalize_email(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = open_database(config).await?;
    let result = async {
        let Some(user) = db.user_by_email(&email).await? else {
            anyhow::bail!(
                "no user has the email {email}; create one with `ferrocast user create --email {email} --role {role}`"
            );
        };
        if user.role != role.as_str() {
            db.set_role(user.id, role.as_str(), ferrocast_db::now_ms())
                .await?;
            cli_audit(config, &db)?
                .record(
                    service::audit::AuditEvent::new(
                        "cli.role_changed",
                        service::audit::Actor::System,
                    )
                    .subject("user", user.id)
                    .details(serde_json::json!({"from": user.role, "to": role.as_str()})),
                )
                .await?;
        }
        let before = user.role.clone();
        let after = db.user_by_id(user.id).await?.unwrap_or(user);
        Ok((after, before))
    }
    .await;
    db.close().await;
    result
}

/// Creates a user from the command line (an operator bootstrapping an admin, for one).
pub async fn create_user(
    config: &Config,
    email: &str,
    display_name: &str,
    password: &str,
    role: ferrocast_domain::account::Role,
) -> anyhow::Result<ferrocast_db::accounts::UserRecord> {
    use ferrocast_domain::account;
    let email = account::normalize_email(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let display_name =
        account::normalize_display_name(display_name).map_err(|e| anyhow::anyhow!("{e}"))?;
    account::validate_password("password", password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = open_database(config).await?;
    let pw = password.to_string();
    let hash = tokio::task::spawn_blocking(move || ferrocast_auth::password::hash(&pw)).await?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let new = ferrocast_db::accounts::NewUser {
        uuid: &uuid,
        email: &email,
        password_hash: &hash,
        display_name: &display_name,
        role: role.as_str(),
        email_verified: true,
    };
    let result = db.create_user(&new, ferrocast_db::now_ms()).await;
    if let Ok(u) = &result {
        let recorded = match cli_audit(config, &db) {
            Ok(audit) => audit
                .record(
                    service::audit::AuditEvent::new(
                        "cli.user_created",
                        service::audit::Actor::System,
                    )
                    .subject("user", u.id)
                    .details(serde_json::json!({"role": u.role}))
                    .personal(Some(u.id), serde_json::json!({"email": u.email})),
                )
                .await
                .map(|_| ())
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            db.close().await;
            return Err(e.context("the user was created, but the audit log could not record it"));
        }
    }
    db.close().await;
    match result {
        Ok(u) => Ok(u),
        Err(ferrocast_db::DbError::Conflict) => {
            anyhow::bail!("a user with the email {email} already exists")
        }
        Err(e) => Err(e.into()),
    }
}

/// The node's live-stream pictures, held through its state (for their refresher).
struct ThumbnailsOf(AppState);

impl std::ops::Deref for ThumbnailsOf {
    type Target = service::thumbnail::Thumbnails;

    fn deref(&self) -> &Self::Target {
        &self.0.thumbnails
    }
}
