//! The `ferrocast` command: parses the command line and hands over to `ferrocast-server`.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ferrocast_config::{Config, Sources, SETTINGS};
use ferrocast_domain::account::Role;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "ferrocast", version, about = "Self-hosted live streaming and creator platform", after_help = settings_help())]
struct Cli {
    #[command(flatten)]
    global: GlobalFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GlobalFlags {
    /// Configuration file (default: ./ferrocast.toml if present; also $FERROCAST_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Data directory (FERROCAST_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<String>,
    /// HTTP listen address (FERROCAST_HTTP_ADDR).
    #[arg(long, global = true, value_name = "ADDR")]
    http_addr: Option<String>,
    /// RTMP listen address (FERROCAST_RTMP_ADDR).
    #[arg(long, global = true, value_name = "ADDR")]
    rtmp_addr: Option<String>,
    /// Database URL (FERROCAST_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Log format: human or json (FERROCAST_LOG_FORMAT).
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Any setting, as KEY=VALUE with the key as in ferrocast.toml; repeatable.
    #[arg(long = "set", short = 's', global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node: HTTP (API, web app, HLS, HTTP-FLV, Socket.IO) and RTMP ingest and playback.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Check configuration, database, migrations, ports, ffmpeg and object storage; exit non-zero on failure.
    Doctor,
    /// Ask this node's /ready (for container health checks); exit non-zero unless it answers 200.
    Healthcheck,
    /// The ledger of creators' money (tips, memberships, pay-per-view, refunds, payouts).
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// The tamper-evident audit log (RFC 9162 Merkle tree, signed checkpoints).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write a backup of the running node to FILE: one consistent snapshot of the database, the
    /// master and audit keys sealed with a passphrase (FERROCAST_BACKUP_PASSPHRASE, else the
    /// first line of standard input), and the SHA-256 of every stored object.
    Backup {
        /// The backup file to write (0600; replaced only once complete).
        file: PathBuf,
    },
    /// Restore a backup into an empty database (SQLite or PostgreSQL, whichever
    /// FERROCAST_DATABASE_URL names, whatever the backup came from), install its keys into the
    /// data directory, verify, and compare the object store with the backup's manifest.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Replay the whole log: recompute every leaf from its row, check the hash chain and the
    /// indexes, each personal datum against its commitment, each checkpoint's root and signature
    /// and its consistency with the checkpoint before; exit non-zero naming the first bad entry.
    Verify,
    /// Sign a checkpoint of the log as it is now and print it (a C2SP signed note).
    Checkpoint,
    /// Write a self-verifying bundle (a tar archive): the entries in the range, their inclusion
    /// proofs in the latest checkpoint, the signed checkpoint, the public key and verify.py.
    Export {
        /// The first entry: its index, or a time (`2026-05-01` or `2026-05-01T12:00:00Z`: the
        /// first entry at or after it).
        #[arg(long)]
        from: String,
        /// The last entry: its index (included), or a time (entries before it); default: the end.
        #[arg(long)]
        to: Option<String>,
        /// The archive to write (`.tar`).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every transaction and balance from the ledger's entries; exit non-zero, naming
    /// each difference, when anything does not add up (an entry edited behind the application's
    /// back, a transaction that does not balance, a balance that is not the sum of its entries).
    Verify,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (email verified). Without a password option, one is generated and printed.
    Create {
        /// Email address; used to log in.
        #[arg(long)]
        email: String,
        /// Display name (default: the part of the email before @).
        #[arg(long)]
        display_name: Option<String>,
        /// Role: viewer, creator, brand, moderator or admin.
        #[arg(long, default_value = "creator", conflicts_with = "admin")]
        role: String,
        /// Make the user an administrator (same as --role admin).
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give an existing user another role (e.g. make them an administrator).
    SetRole {
        /// The user's email address.
        email: String,
        /// viewer, creator, brand, moderator or admin.
        role: String,
    },
}

fn settings_help() -> String {
    let mut s = String::from(
        "Settings (ferrocast.toml key / FERROCAST_ environment variable / --set KEY=VALUE):\n",
    );
    for setting in SETTINGS {
        s.push_str(&format!("  {:<18} {}\n", setting.key, setting.help));
    }
    s
}

impl GlobalFlags {
    fn sources(&self) -> anyhow::Result<Sources> {
        let mut flags = BTreeMap::new();
        for (key, value) in [
            ("data_dir", &self.data_dir),
            ("http_addr", &self.http_addr),
            ("rtmp_addr", &self.rtmp_addr),
            ("database_url", &self.database_url),
            ("log_format", &self.log_format),
        ] {
            if let Some(v) = value {
                flags.insert(key.to_string(), v.clone());
            }
        }
        for kv in &self.set {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
            flags.insert(k.trim().to_string(), v.to_string());
        }
        Ok(Sources::from_process(self.config.clone(), flags))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let sources = cli.global.sources()?;
    let loaded = Config::load(&sources);
    if let Command::Doctor = cli.command {
        let checks = ferrocast_server::doctor::run(loaded).await;
        print!("{}", ferrocast_server::doctor::render(&checks));
        return Ok(if ferrocast_server::doctor::failed(&checks) {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    if let Command::Healthcheck = cli.command {
        return Ok(match ferrocast_server::healthcheck::probe(&loaded?).await {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(line) => {
                eprintln!("unhealthy: {line}");
                ExitCode::FAILURE
            }
        });
    }
    let config = loaded?;
    ferrocast_server::init_tracing(&config);
    match cli.command {
        Command::Serve => {
            let shutdown = shutdown_signal();
            ferrocast_server::serve(config, shutdown).await?;
        }
        Command::Migrate => {
            let db = ferrocast_db_connect(&config).await?;
            println!("database schema is current ({})", db);
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    display_name,
                    role,
                    admin,
                    password_stdin,
                },
        } => {
            let role = if admin {
                Role::Admin
            } else {
                Role::parse(&role).with_context(|| {
                    format!("--role {role:?}: expected viewer, creator, brand, moderator or admin")
                })?
            };
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                (line.trim_end_matches(['\n', '\r']).to_string(), false)
            } else {
                let mut bytes = [0u8; 15];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
                (data_encoding::BASE64URL_NOPAD.encode(&bytes), true)
            };
            let name = display_name
                .unwrap_or_else(|| email.split('@').next().unwrap_or("user").to_string());
            let user =
                ferrocast_server::create_user(&config, &email, &name, &password, role).await?;
            println!(
                "created {} user {} (id {}, uuid {})",
                user.role, user.email, user.id, user.uuid
            );
            if generated {
                println!("password: {password}");
                println!("(shown once; change it after logging in)");
            }
        }
        Command::User {
            command: UserCommand::SetRole { email, role },
        } => {
            let role = Role::parse(role.trim()).with_context(|| {
                format!("role {role:?}: expected viewer, creator, brand, moderator or admin")
            })?;
            let (user, before) = ferrocast_server::set_user_role(&config, &email, role).await?;
            if before == user.role {
                println!("{} is already {} (nothing changed)", user.email, user.role);
            } else {
                println!(
                    "{} is now {} (was {}); it applies to their next request",
                    user.email, user.role, before
                );
            }
        }
        Command::Ledger {
            command: LedgerCommand::Verify,
        } => return ledger_verify(&config).await,
        Command::Audit { command } => return audit(&config, command).await,
        Command::Backup { file } => return backup(&config, &file).await,
        Command::Restore { file } => return restore(&config, &file).await,
        // Handled above, before an invalid configuration would stop us.
        Command::Doctor | Command::Healthcheck => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferrocast ledger verify`: the report on standard output; failure when it found anything.
async fn ledger_verify(config: &Config) -> anyhow::Result<ExitCode> {
    let db = ferrocast_server::open_database(config).await?;
    let report = db.ledger_verify().await;
    db.close().await;
    let report = report.context("reading the ledger failed")?;
    println!(
        "ledger: {} transactions, {} entries, {} account balances checked",
        report.transactions, report.entries, report.accounts
    );
    if report.problems.is_empty() {
        println!("ledger verified: every transaction balances and every balance is the sum of its entries");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &report.problems {
        println!("DIFFERENCE: {p}");
    }
    eprintln!(
        "error: the ledger does not verify ({} difference{}); see above",
        report.problems.len(),
        if report.problems.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::FAILURE)
}

/// `ferrocast audit …`.
async fn audit(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    use ferrocast_domain::audit::parse_bound;
    match command {
        AuditCommand::Verify => {
            let trusted = ferrocast_server::audit_signer(config, false)?.map(|s| s.public_key());
            let db = ferrocast_server::open_database(config).await?;
            let result = ferrocast_server::service::audit::verify(&db, trusted.as_ref()).await;
            db.close().await;
            match result {
                Ok(r) => {
                    println!(
                        "audit log verified: {} entries, {} checkpoints, {} personal records checked",
                        r.entries, r.checkpoints, r.personal
                    );
                    if trusted.is_none() && r.checkpoints > 0 {
                        println!("note: no audit key here (FERROCAST_AUDIT_KEY or DATA_DIR/audit.key): signatures were checked against the keys stored with the checkpoints");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(f) => {
                    match f.index {
                        Some(i) => println!("FIRST BAD ENTRY: {i}"),
                        None => println!("BAD CHECKPOINT"),
                    }
                    eprintln!("error: the audit log does not verify: {f}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Checkpoint => {
            let (db, audit) = ferrocast_server::open_audit(config).await?;
            let c = audit.checkpoint().await;
            db.close().await;
            let c = c.context("cannot write the checkpoint")?;
            print!("{}", c.note);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { from, to, out } => {
            let from_b = parse_bound(&from).with_context(|| {
                format!("--from {from:?}: expected an entry index or a time (2026-05-01, 2026-05-01T12:00:00Z)")
            })?;
            let to_b = match &to {
                Some(t) => Some(parse_bound(t).with_context(|| {
                    format!("--to {t:?}: expected an entry index or a time (2026-05-01, 2026-05-01T12:00:00Z)")
                })?),
                None => None,
            };
            let (db, audit) = ferrocast_server::open_audit(config).await?;
            let result = async {
                let (start, end) = audit.resolve_range(from_b, to_b).await?;
                audit
                    .record(ferrocast_server::service::audit::AuditEvent {
                        action: "audit.exported",
                        actor: ferrocast_server::service::audit::Actor::System,
                        subject: None,
                        details: serde_json::json!({"from": start, "to_exclusive": end}),
                        personal: serde_json::Value::Null,
                        personal_of: None,
                    })
                    .await?;
                let files = audit.export(start, end).await?;
                Ok::<_, ferrocast_server::service::audit::AuditError>((start, end, files))
            }
            .await;
            db.close().await;
            let (start, end, files) = result.context("cannot export the audit log")?;
            let stem = out
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                })
                .unwrap_or("audit-bundle")
                .to_string();
            let bytes = ferrocast_server::service::audit::tar(
                &stem,
                &files,
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64),
            );
            std::fs::write(&out, bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "wrote {} (entries {start} to {}): unpack it (tar xf) and run python3 {stem}/verify.py",
                out.display(),
                end - 1
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The backup passphrase: FERROCAST_BACKUP_PASSPHRASE (or its _FILE), else the first line of
/// standard input.
fn backup_passphrase(config: &Config) -> anyhow::Result<String> {
    if let Some(p) = &config.backup.passphrase {
        return Ok(p.expose().clone());
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("backup passphrase: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the passphrase from standard input")?;
    let p = line.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        anyhow::bail!(
            "no passphrase: set FERROCAST_BACKUP_PASSPHRASE or give it on standard input"
        );
    }
    Ok(p)
}

/// A progress bar on standard error: redrawn in place on a terminal, a line per stage
/// otherwise (logs, CI).
struct Bar {
    name: String,
    total: u64,
    done: u64,
    tty: bool,
    drawn: std::time::Instant,
}

impl Bar {
    fn new() -> Self {
        Self {
            name: String::new(),
            total: 0,
            done: 0,
            tty: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            drawn: std::time::Instant::now(),
        }
    }

    fn draw(&mut self) {
        let width = 30u64;
        let done = self.done.min(self.total);
        let filled = (done * width).checked_div(self.total).unwrap_or(0) as usize;
        let pct = (done * 100).checked_div(self.total).unwrap_or(100);
        eprint!(
            "\r{:<10} [{}{}] {:>3}% {}/{}",
            self.name,
            "#".repeat(filled),
            "-".repeat(width as usize - filled),
            pct,
            self.done.min(self.total),
            self.total
        );
        self.drawn = std::time::Instant::now();
    }
}

impl ferrocast_server::service::backup::Progress for Bar {
    fn stage(&mut self, name: &str, total: u64) {
        self.name = name.to_string();
        self.total = total;
        self.done = 0;
        if self.tty {
            self.draw();
        }
    }
    fn advance(&mut self, n: u64) {
        self.done += n;
        if self.tty && self.drawn.elapsed() >= std::time::Duration::from_millis(100) {
            self.draw();
        }
    }
    fn done(&mut self) {
        self.done = self.total;
        if self.tty {
            self.draw();
            eprintln!();
        } else {
            eprintln!("{}: {} of {} done", self.name, self.total, self.total);
        }
    }
}

/// `ferrocast backup FILE`.
async fn backup(config: &Config, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let passphrase = backup_passphrase(config)?;
    let keys = ferrocast_server::backup_keys(config)?;
    let s = ferrocast_server::service::backup::run_backup(
        config,
        &keys,
        file,
        &passphrase,
        &mut Bar::new(),
    )
    .await?;
    println!(
        "wrote {}: {} tables, {} rows, {} stored objects ({} bytes) in the manifest; {} bytes, sha256 {}",
        file.display(),
        s.tables,
        s.rows,
        s.objects,
        s.object_bytes,
        s.size,
        s.sha256
    );
    println!(
        "keep the passphrase apart from the file: without it the keys inside cannot be opened"
    );
    Ok(ExitCode::SUCCESS)
}

/// `ferrocast restore FILE`.
async fn restore(config: &Config, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let passphrase = backup_passphrase(config)?;
    let o =
        ferrocast_server::service::backup::run_restore(config, file, &passphrase, &mut Bar::new())
            .await?;
    let tables = o.report.load.rows.len();
    println!(
        "restored {} rows into {} tables from a {} backup taken at {}",
        o.report.rows,
        tables,
        o.source_backend,
        ferrocast_domain::time::rfc3339_ms(o.created_at)
    );
    println!("row counts: every table holds what the backup holds");
    for k in &o.keys_written {
        println!("key written: {}", k.display());
    }
    let mut ok = true;
    if o.ledger.2.is_empty() {
        println!(
            "ledger verified: {} transactions, {} entries",
            o.ledger.0, o.ledger.1
        );
    } else {
        ok = false;
        for p in &o.ledger.2 {
            println!("LEDGER DIFFERENCE: {p}");
        }
    }
    match &o.audit {
        Ok(n) => println!("audit log verified: {n} entries"),
        Err(e) => {
            ok = false;
            println!("AUDIT LOG DOES NOT VERIFY: {e}");
        }
    }
    let objects = &o.objects;
    println!(
        "stored objects: {} as in the backup, {} missing, {} different",
        objects.same,
        objects.missing.len(),
        objects.different.len()
    );
    for k in objects.missing.iter().take(20) {
        println!("MISSING OBJECT: {k}");
    }
    for k in objects.different.iter().take(20) {
        println!("DIFFERENT OBJECT: {k}");
    }
    if !objects.missing.is_empty() || !objects.different.is_empty() {
        println!("warning: point FERROCAST_STORAGE_URL at the store the backup's node used (or copy its objects) so that recordings and videos play");
    }
    if !ok {
        eprintln!("error: the database was restored but does not verify; see above");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn ferrocast_db_connect(config: &Config) -> anyhow::Result<String> {
    let db = ferrocast_server::open_database(config).await?;
    let backend = db.backend().to_string();
    db.close().await;
    Ok(backend)
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so a signal that arrives while the node is starting is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
    }
}
