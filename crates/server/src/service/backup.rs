//! Backups: `ferrocast backup`, `ferrocast restore`, and the automatic backups a node takes on
//! a schedule (`FERROCAST_BACKUP_SCHEDULE`).
//!
//! A backup is one file of lines:
//!
//! ```text
//! FERROCAST-BACKUP 1
//! {"header": {created_at, ferrocast, backend, schema_version, tables: [...], keys: {...}}}
//! {"table": "users"}
//! [1, "a@example.com", ...]            one line per row, values typed (see ferrocast_db::backup)
//! ...
//! {"object": {"key": ..., "size": ..., "sha256": ...}}   the manifest of stored objects
//! {"end": {"rows": N, "objects": M}}
//! SHA256 <hex of every byte above>
//! ```
//!
//! The database rows come from one consistent snapshot ([`Db::snapshot`]). The master key and
//! the audit signing key are sealed with a key derived from the operator's passphrase
//! (Argon2id, RFC 9106, then AES-256-GCM); everything else is readable by whoever holds the
//! file (it is written 0600). The stored objects themselves (recordings, videos) are not in the
//! file: they live in the object store, which has its own durability; the manifest lets a
//! restore say which are missing or different.
//!
//! A restore reads the whole file once before it touches anything: a wrong last line (damaged or
//! truncated), a line that does not parse, a count that does not add up or a wrong passphrase
//! each stop it with nothing written. Only then does it migrate the empty target, load the rows
//! in one transaction, and verify them (row counts, the ledger, the audit log).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ferrocast_db::backup::{LoadReport, Snapshot, SnapshotSink, Table, Value};
use ferrocast_db::{Db, DbError};
use ferrocast_storage::Storage;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The first line of every backup.
pub const MAGIC: &str = "FERROCAST-BACKUP 1";
/// The longest line a reader accepts (one row); a longer one is damage, not data.
pub const MAX_LINE: usize = 64 * 1024 * 1024;
/// Where automatic backups are stored.
pub const PREFIX: &str = "backups/";
/// Automatic backups' file extension.
pub const EXTENSION: &str = ".fcbak";
/// Argon2id cost: 64 MiB, 3 passes (RFC 9106 §4's second recommended option).
const ARGON_M_KIB: u32 = 65_536;
const ARGON_T: u32 = 3;
const ARGON_P: u32 = 1;
const KEYS_AAD: &[u8] = b"ferrocast-backup-keys-1";

/// What went wrong, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The file is not a whole, undamaged backup.
    #[error("the backup file is damaged or incomplete: {0}; nothing was restored")]
    Damaged(String),
    /// The passphrase does not open the keys.
    #[error(
        "wrong passphrase: the keys in the backup cannot be opened with it; nothing was restored"
    )]
    Passphrase,
    /// The target is not fit for a restore.
    #[error("{0}")]
    Target(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// The object store failed.
    #[error("object storage: {0}")]
    Storage(String),
}

/// The node's secrets a backup carries.
#[derive(Clone)]
pub struct Keys {
    /// The master key (sealed secrets, sessions).
    pub master: [u8; 32],
    /// The audit log's signing key seed, if the node has one.
    pub audit: Option<[u8; 32]>,
}

/// Reports progress (the command line draws bars on standard error).
pub trait Progress: Send {
    /// A new stage of `total` units (rows, objects); 0: unknown.
    fn stage(&mut self, name: &str, total: u64);
    /// `n` more units done.
    fn advance(&mut self, n: u64);
    /// The stage is over.
    fn done(&mut self);
}

/// Progress nobody watches (automatic backups).
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn done(&mut self) {}
}

/// One stored object in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// Its key.
    pub key: String,
    /// Its size.
    pub size: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SealedKeys {
    kdf: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
    nonce: String,
    sealed: String,
}

/// The header line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    /// When the snapshot was taken (ms).
    pub created_at: i64,
    /// The version of ferrocast that wrote it.
    pub ferrocast: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The newest migration of the source.
    pub schema_version: i64,
    /// Tables, parents first, with their row counts.
    pub tables: Vec<Table>,
    keys: SealedKeys,
}

/// What a finished backup holds.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    /// Tables copied.
    pub tables: usize,
    /// Rows copied.
    pub rows: u64,
    /// Objects in the manifest.
    pub objects: u64,
    /// Their total size.
    pub object_bytes: u64,
    /// The file's size.
    pub size: u64,
    /// The SHA-256 on its last line.
    pub sha256: String,
}

fn derive(passphrase: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<[u8; 32], BackupError> {
    let params = argon2::Params::new(m, t, p, Some(32))
        .map_err(|e| BackupError::Damaged(format!("key derivation parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| BackupError::Io(format!("key derivation failed: {e}")))?;
    Ok(out)
}

async fn seal_keys(keys: &Keys, passphrase: &str) -> Result<SealedKeys, BackupError> {
    let plain = json!({
        "master_key": data_encoding::HEXLOWER.encode(&keys.master),
        "audit_key": keys.audit.map(|k| data_encoding::HEXLOWER.encode(&k)),
    })
    .to_string();
    let passphrase = passphrase.to_string();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let key = derive(&passphrase, &salt, ARGON_M_KIB, ARGON_T, ARGON_P)?;
        let cipher = Aes256Gcm::new_from_slice(&key)
            .map_err(|_| BackupError::Io("invariant: a 32-byte key".into()))?;
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: KEYS_AAD,
                },
            )
            .map_err(|_| BackupError::Io("cannot seal the keys".into()))?;
        let b64 = |b: &[u8]| data_encoding::BASE64.encode(b);
        Ok(SealedKeys {
            kdf: "argon2id".into(),
            m_kib: ARGON_M_KIB,
            t: ARGON_T,
            p: ARGON_P,
            salt: b64(&salt),
            nonce: b64(&nonce),
            sealed: b64(&sealed),
        })
    })
    .await
    .map_err(|e| BackupError::Io(format!("key sealing stopped: {e}")))?
}

async fn open_keys(sealed: &SealedKeys, passphrase: &str) -> Result<Keys, BackupError> {
    let sealed = sealed.clone();
    let passphrase = passphrase.to_string();
    tokio::task::spawn_blocking(move || {
        if sealed.kdf != "argon2id" {
            return Err(BackupError::Damaged(format!(
                "unknown key derivation {:?}",
                sealed.kdf
            )));
        }
        // Bounded so a crafted header cannot make the reader allocate gigabytes.
        if sealed.m_kib > 1 << 20 || sealed.t > 20 || sealed.p > 16 {
            return Err(BackupError::Damaged(
                "key derivation cost out of range".into(),
            ));
        }
        let b64 = |s: &str| {
            data_encoding::BASE64
                .decode(s.as_bytes())
                .map_err(|_| BackupError::Damaged("the sealed keys are not base64".into()))
        };
        let salt = b64(&sealed.salt)?;
        let nonce = b64(&sealed.nonce)?;
        let data = b64(&sealed.sealed)?;
        if nonce.len() != 12 {
            return Err(BackupError::Damaged(
                "the keys' nonce is not 12 bytes".into(),
            ));
        }
        let key = derive(&passphrase, &salt, sealed.m_kib, sealed.t, sealed.p)?;
        let cipher = Aes256Gcm::new_from_slice(&key)
            .map_err(|_| BackupError::Io("invariant: a 32-byte key".into()))?;
        let plain = cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &data,
                    aad: KEYS_AAD,
                },
            )
            .map_err(|_| BackupError::Passphrase)?;
        let v: serde_json::Value = serde_json::from_slice(&plain)
            .map_err(|_| BackupError::Damaged("the keys do not parse".into()))?;
        let hex = |s: &str| -> Result<[u8; 32], BackupError> {
            let b = data_encoding::HEXLOWER
                .decode(s.as_bytes())
                .map_err(|_| BackupError::Damaged("a key is not hex".into()))?;
            b.try_into()
                .map_err(|_| BackupError::Damaged("a key is not 32 bytes".into()))
        };
        let master = hex(v["master_key"]
            .as_str()
            .ok_or_else(|| BackupError::Damaged("no master key".into()))?)?;
        let audit = match v["audit_key"].as_str() {
            Some(s) => Some(hex(s)?),
            None => None,
        };
        Ok(Keys { master, audit })
    })
    .await
    .map_err(|e| BackupError::Io(format!("key opening stopped: {e}")))?
}

/// Writes lines and hashes every byte written.
struct HashingWriter {
    out: BufWriter<std::fs::File>,
    hash: Sha256,
    bytes: u64,
}

impl HashingWriter {
    fn line(&mut self, text: &str) -> std::io::Result<()> {
        self.hash.update(text.as_bytes());
        self.hash.update(b"\n");
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.bytes += text.len() as u64 + 1;
        Ok(())
    }
}

struct FileSink<'a> {
    w: &'a mut HashingWriter,
    keys: SealedKeys,
    created_at: i64,
    rows: u64,
    progress: &'a mut dyn Progress,
}

impl SnapshotSink for FileSink<'_> {
    fn begin(&mut self, snapshot: &Snapshot) -> Result<(), String> {
        let header = Header {
            created_at: self.created_at,
            ferrocast: env!("CARGO_PKG_VERSION").to_string(),
            backend: snapshot.backend.clone(),
            schema_version: snapshot.schema_version,
            tables: snapshot.tables.clone(),
            keys: self.keys.clone(),
        };
        let line = json!({ "header": header }).to_string();
        self.w.line(&line).map_err(|e| e.to_string())?;
        self.progress.stage(
            "database",
            snapshot.tables.iter().map(|t| t.rows).sum::<u64>(),
        );
        Ok(())
    }

    fn table(&mut self, table: &Table) -> Result<(), String> {
        self.w
            .line(&json!({ "table": table.name }).to_string())
            .map_err(|e| e.to_string())
    }

    fn row(&mut self, values: &[Value]) -> Result<(), String> {
        let arr = serde_json::Value::Array(values.iter().map(Value::to_json).collect());
        self.w.line(&arr.to_string()).map_err(|e| e.to_string())?;
        self.rows += 1;
        if self.rows % 256 == 0 {
            self.progress.advance(256);
        }
        Ok(())
    }
}

/// Hashes one stored object as it streams.
async fn hash_object(storage: &Storage, key: &str) -> Result<(u64, String), BackupError> {
    let reader = storage
        .open(key, None)
        .await
        .map_err(|e| BackupError::Storage(e.to_string()))?;
    let mut body = reader.body;
    let mut hash = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BackupError::Storage(e.to_string()))?;
        size += chunk.len() as u64;
        hash.update(&chunk);
    }
    Ok((size, data_encoding::HEXLOWER.encode(&hash.finalize())))
}

/// Every stored object except the backups themselves, with its hash.
async fn manifest(
    storage: &Storage,
    progress: &mut dyn Progress,
) -> Result<Vec<ObjectEntry>, BackupError> {
    let listed = storage
        .list("")
        .await
        .map_err(|e| BackupError::Storage(e.to_string()))?;
    let listed: Vec<(String, u64)> = listed
        .into_iter()
        .filter(|(k, _)| !k.starts_with(PREFIX))
        .collect();
    progress.stage("objects", listed.len() as u64);
    let mut out = Vec::with_capacity(listed.len());
    for (key, _) in listed {
        match hash_object(storage, &key).await {
            Ok((size, sha256)) => out.push(ObjectEntry { key, size, sha256 }),
            // Deleted between the listing and the read (a pruned recording): not in the backup.
            Err(BackupError::Storage(e)) if e.contains("not found") || e.contains("no such") => {}
            Err(e) => return Err(e),
        }
        progress.advance(1);
    }
    progress.done();
    Ok(out)
}

/// Writes a backup of `db` (and the manifest of `storage`) to `out`: to `out.partial` first,
/// renamed into place once complete and synced, so `out` is never half a backup.
pub async fn write_backup(
    db: &Db,
    storage: Option<&Storage>,
    keys: &Keys,
    passphrase: &str,
    out: &Path,
    now_ms: i64,
    progress: &mut dyn Progress,
) -> Result<BackupSummary, BackupError> {
    let sealed = seal_keys(keys, passphrase).await?;
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let io = |what: &str, e: std::io::Error| BackupError::Io(format!("{what}: {e}"));
    let file = {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(&partial)
            .map_err(|e| io(&format!("cannot create {}", partial.display()), e))?
    };
    let mut w = HashingWriter {
        out: BufWriter::with_capacity(1 << 20, file),
        hash: Sha256::new(),
        bytes: 0,
    };
    let result = async {
        w.line(MAGIC).map_err(|e| io("writing", e))?;
        let mut sink = FileSink {
            w: &mut w,
            keys: sealed,
            created_at: now_ms,
            rows: 0,
            progress: &mut *progress,
        };
        let snap = db.snapshot(&mut sink).await.map_err(|e| match e {
            DbError::Invalid(m) => BackupError::Io(format!("writing {}: {m}", partial.display())),
            e => BackupError::Db(e),
        })?;
        let rows = sink.rows;
        progress.done();
        let objects = match storage {
            Some(s) => manifest(s, &mut *progress).await?,
            None => Vec::new(),
        };
        for o in &objects {
            w.line(&json!({ "object": o }).to_string())
                .map_err(|e| io("writing", e))?;
        }
        w.line(&json!({"end": {"rows": rows, "objects": objects.len()}}).to_string())
            .map_err(|e| io("writing", e))?;
        let digest = data_encoding::HEXLOWER.encode(&w.hash.clone().finalize());
        let trailer = format!("SHA256 {digest}\n");
        w.out
            .write_all(trailer.as_bytes())
            .map_err(|e| io("writing", e))?;
        w.bytes += trailer.len() as u64;
        w.out.flush().map_err(|e| io("writing", e))?;
        w.out.get_ref().sync_all().map_err(|e| io("syncing", e))?;
        Ok::<_, BackupError>(BackupSummary {
            tables: snap.tables.len(),
            rows,
            objects: objects.len() as u64,
            object_bytes: objects.iter().map(|o| o.size).sum(),
            size: w.bytes,
            sha256: digest,
        })
    }
    .await;
    match result {
        Ok(summary) => {
            std::fs::rename(&partial, out).map_err(|e| {
                io(
                    &format!("cannot move {} to {}", partial.display(), out.display()),
                    e,
                )
            })?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes, without its newline; `None` at the end.
fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> Result<Option<bool>, BackupError> {
    buf.clear();
    let n = r
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', buf)
        .map_err(|e| BackupError::Io(format!("reading the backup: {e}")))?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_LINE {
        return Err(BackupError::Damaged(format!(
            "a line is longer than {} MiB",
            MAX_LINE >> 20
        )));
    }
    let complete = buf.last() == Some(&b'\n');
    if complete {
        buf.pop();
    }
    Ok(Some(complete))
}

/// One record after the header.
enum Record {
    Table(String),
    Row(Vec<Value>),
    Object(ObjectEntry),
    End { rows: u64, objects: u64 },
}

fn parse_record(line: &[u8], n: u64) -> Result<Record, BackupError> {
    let bad = |what: String| BackupError::Damaged(format!("line {n}: {what}"));
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| bad(format!("not JSON ({e})")))?;
    match v {
        serde_json::Value::Array(items) => Ok(Record::Row(
            items
                .iter()
                .map(Value::from_json)
                .collect::<Result<_, _>>()
                .map_err(bad)?,
        )),
        serde_json::Value::Object(o) => {
            if let Some(t) = o.get("table").and_then(|t| t.as_str()) {
                Ok(Record::Table(t.to_string()))
            } else if let Some(obj) = o.get("object") {
                Ok(Record::Object(
                    serde_json::from_value(obj.clone()).map_err(|e| bad(e.to_string()))?,
                ))
            } else if let Some(end) = o.get("end") {
                Ok(Record::End {
                    rows: end["rows"]
                        .as_u64()
                        .ok_or_else(|| bad("end without rows".into()))?,
                    objects: end["objects"]
                        .as_u64()
                        .ok_or_else(|| bad("end without objects".into()))?,
                })
            } else {
                Err(bad("unknown record".into()))
            }
        }
        _ => Err(bad("unknown record".into())),
    }
}

/// A backup file read through once and found whole.
pub struct Verified {
    /// The file.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// Its keys, opened with the passphrase.
    pub keys: Keys,
    /// Its manifest of stored objects.
    pub objects: Vec<ObjectEntry>,
    /// Rows it holds.
    pub rows: u64,
}

/// Reads the whole file, checking its last line's SHA-256, every line's form and every count,
/// then opens the keys with `passphrase`. Touches nothing else.
pub async fn verify_file(
    path: &Path,
    passphrase: &str,
    progress: &mut dyn Progress,
) -> Result<Verified, BackupError> {
    let file = std::fs::File::open(path)
        .map_err(|e| BackupError::Io(format!("cannot open {}: {e}", path.display())))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    progress.stage("checking", size);
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut hash = Sha256::new();
    let mut n = 0u64;
    let mut header: Option<Header> = None;
    let mut table_rows: Option<(usize, u64)> = None;
    let mut rows = 0u64;
    let mut objects = Vec::new();
    let mut ended: Option<(u64, u64)> = None;
    let mut next_table = 0usize;
    let mut trailer: Option<String> = None;
    while let Some(complete) = read_line(&mut r, &mut buf)? {
        n += 1;
        progress.advance(buf.len() as u64 + 1);
        if !complete {
            return Err(BackupError::Damaged(format!(
                "line {n} is cut off (the file is truncated)"
            )));
        }
        if trailer.is_some() {
            return Err(BackupError::Damaged(
                "there is data after the checksum line".into(),
            ));
        }
        if let Some(sum) = buf.strip_prefix(b"SHA256 ") {
            trailer = Some(String::from_utf8_lossy(sum).to_string());
            continue;
        }
        hash.update(&buf);
        hash.update(b"\n");
        if n == 1 {
            if buf != MAGIC.as_bytes() {
                return Err(BackupError::Damaged(
                    "it does not start with FERROCAST-BACKUP 1 (not a ferrocast backup?)".into(),
                ));
            }
            continue;
        }
        if n == 2 {
            let v: serde_json::Value = serde_json::from_slice(&buf)
                .map_err(|e| BackupError::Damaged(format!("the header does not parse ({e})")))?;
            let h: Header = serde_json::from_value(v["header"].clone())
                .map_err(|e| BackupError::Damaged(format!("the header does not parse ({e})")))?;
            header = Some(h);
            continue;
        }
        let h = header
            .as_ref()
            .ok_or_else(|| BackupError::Damaged("no header".into()))?;
        if ended.is_some() {
            return Err(BackupError::Damaged(format!(
                "line {n}: a record after the end"
            )));
        }
        match parse_record(&buf, n)? {
            Record::Table(name) => {
                if let Some((i, got)) = table_rows {
                    if got != h.tables[i].rows {
                        return Err(BackupError::Damaged(format!(
                            "table {} holds {got} rows, its header says {}",
                            h.tables[i].name, h.tables[i].rows
                        )));
                    }
                }
                if h.tables.get(next_table).map(|t| &t.name) != Some(&name) {
                    return Err(BackupError::Damaged(format!(
                        "line {n}: table {name} out of order"
                    )));
                }
                table_rows = Some((next_table, 0));
                next_table += 1;
            }
            Record::Row(values) => {
                let (i, got) = table_rows.as_mut().ok_or_else(|| {
                    BackupError::Damaged(format!("line {n}: a row before any table"))
                })?;
                if values.len() != h.tables[*i].columns.len() {
                    return Err(BackupError::Damaged(format!(
                        "line {n}: a row of {} with {} values for {} columns",
                        h.tables[*i].name,
                        values.len(),
                        h.tables[*i].columns.len()
                    )));
                }
                *got += 1;
                rows += 1;
            }
            Record::Object(o) => objects.push(o),
            Record::End {
                rows: r,
                objects: o,
            } => ended = Some((r, o)),
        }
    }
    progress.done();
    let Some(sum) = trailer else {
        return Err(BackupError::Damaged(
            "the checksum line is missing (the file is truncated)".into(),
        ));
    };
    let digest = data_encoding::HEXLOWER.encode(&hash.finalize());
    if sum.trim() != digest {
        return Err(BackupError::Damaged(
            "its SHA-256 does not match the checksum line (the file was changed or damaged)".into(),
        ));
    }
    let header = header.ok_or_else(|| BackupError::Damaged("no header".into()))?;
    if let Some((i, got)) = table_rows {
        if got != header.tables[i].rows {
            return Err(BackupError::Damaged(format!(
                "table {} holds {got} rows, its header says {}",
                header.tables[i].name, header.tables[i].rows
            )));
        }
    }
    if next_table != header.tables.len() {
        return Err(BackupError::Damaged(format!(
            "{} of {} tables present",
            next_table,
            header.tables.len()
        )));
    }
    match ended {
        Some((r, o)) if r == rows && o == objects.len() as u64 => {}
        Some(_) => {
            return Err(BackupError::Damaged(
                "the end record's counts do not match".into(),
            ))
        }
        None => return Err(BackupError::Damaged("the end record is missing".into())),
    }
    let keys = open_keys(&header.keys, passphrase).await?;
    Ok(Verified {
        path: path.to_path_buf(),
        header,
        keys,
        objects,
        rows,
    })
}

/// The newest migration this binary knows for `db`'s backend.
pub fn known_schema_version(db: &Db) -> i64 {
    let list = match db {
        Db::Sqlite(_) => ferrocast_db::migrate::SQLITE,
        Db::Postgres(_) => ferrocast_db::migrate::POSTGRES,
    };
    list.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Checks that `db` may receive the backup: empty, and this binary's schema the backup's.
pub async fn check_target(db: &Db, verified: &Verified) -> Result<(), BackupError> {
    let known = known_schema_version(db);
    if verified.header.schema_version != known {
        return Err(BackupError::Target(format!(
            "the backup's schema is version {} and this ferrocast's is {known}: restore it with \
             the ferrocast version that made it ({}), then upgrade",
            verified.header.schema_version, verified.header.ferrocast
        )));
    }
    if let Some(why) = db.restore_target_in_use().await? {
        return Err(BackupError::Target(format!(
            "the target database is not empty ({why}); restore only into a new, empty database \
             (create one, point FERROCAST_DATABASE_URL at it and run restore again)"
        )));
    }
    Ok(())
}

/// What a restore did and found.
#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    /// The load.
    pub load: LoadReport,
    /// Rows loaded.
    pub rows: u64,
    /// Tables whose count after the load differs from the backup's: (table, backup, now).
    pub count_mismatches: Vec<(String, u64, u64)>,
}

/// Migrates `db` (checked with [`check_target`]) and loads the backup's rows in one transaction.
pub async fn load(
    db: &Db,
    verified: &Verified,
    progress: &mut dyn Progress,
) -> Result<RestoreReport, BackupError> {
    db.migrate().await?;
    let file = std::fs::File::open(&verified.path)
        .map_err(|e| BackupError::Io(format!("cannot open {}: {e}", verified.path.display())))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut loader = db.begin_load(&verified.header.tables).await?;
    progress.stage("restoring", verified.rows);
    let mut n = 0u64;
    let mut rows = 0u64;
    while let Some(_complete) = read_line(&mut r, &mut buf)? {
        n += 1;
        if n <= 2 || buf.starts_with(b"SHA256 ") {
            continue;
        }
        match parse_record(&buf, n)? {
            Record::Table(name) => {
                let t = verified
                    .header
                    .tables
                    .iter()
                    .find(|t| t.name == name)
                    .ok_or_else(|| BackupError::Damaged(format!("unknown table {name}")))?;
                loader.table(t).await?;
            }
            Record::Row(values) => {
                loader.row(values).await?;
                rows += 1;
                if rows % 256 == 0 {
                    progress.advance(256);
                }
            }
            Record::Object(_) | Record::End { .. } => {}
        }
    }
    let report = loader.finish().await?;
    progress.done();
    let count_mismatches = verified
        .header
        .tables
        .iter()
        .filter_map(|t| {
            let now = report.rows.get(&t.name).copied().unwrap_or(0);
            (now != t.rows).then(|| (t.name.clone(), t.rows, now))
        })
        .collect();
    Ok(RestoreReport {
        load: report,
        rows,
        count_mismatches,
    })
}

/// What the object store holds of the manifest.
#[derive(Debug, Clone, Default)]
pub struct ObjectCheck {
    /// Present with the same size and hash.
    pub same: u64,
    /// Absent.
    pub missing: Vec<String>,
    /// Present but different.
    pub different: Vec<String>,
}

/// Compares the object store with the backup's manifest.
pub async fn check_objects(
    storage: &Storage,
    objects: &[ObjectEntry],
    progress: &mut dyn Progress,
) -> Result<ObjectCheck, BackupError> {
    let mut out = ObjectCheck::default();
    progress.stage("objects", objects.len() as u64);
    for o in objects {
        let meta = storage
            .head(&o.key)
            .await
            .map_err(|e| BackupError::Storage(e.to_string()))?;
        match meta {
            None => out.missing.push(o.key.clone()),
            Some(m) if m.size != o.size => out.different.push(o.key.clone()),
            Some(_) => {
                let (size, sha) = hash_object(storage, &o.key).await?;
                if size == o.size && sha == o.sha256 {
                    out.same += 1;
                } else {
                    out.different.push(o.key.clone());
                }
            }
        }
        progress.advance(1);
    }
    progress.done();
    Ok(out)
}

/// Whether a key file at `path` is absent (`false`) or holds `key` (`true`); another key there
/// is an error, because the restored database needs the backup's.
pub fn check_key(path: &Path, key: &[u8; 32], what: &str) -> Result<bool, BackupError> {
    let hex = data_encoding::HEXLOWER.encode(key);
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim() == hex => Ok(true),
        Ok(_) => Err(BackupError::Target(format!(
            "{} already holds a different {what}; move it away (the restored database needs \
             the backup's) and run restore again",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(BackupError::Io(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes a key file (0600, hex) unless it holds the key already; whether it wrote one.
pub fn install_key(path: &Path, key: &[u8; 32], what: &str) -> Result<bool, BackupError> {
    let hex = data_encoding::HEXLOWER.encode(key);
    if check_key(path, key, what)? {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .map_err(|e| BackupError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| BackupError::Io(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(format!("{hex}\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| BackupError::Io(format!("cannot write {}: {e}", path.display())))?;
    Ok(true)
}

// ---- Automatic backups ----

/// `backups/ferrocast-20260101T120000Z.fcbak` for a time.
pub fn storage_key(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000);
    let (y, m, d) = ferrocast_domain::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{PREFIX}ferrocast-{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z{EXTENSION}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// The time in an automatic backup's key, if it is one.
pub fn key_time(key: &str) -> Option<i64> {
    let t = key
        .strip_prefix(PREFIX)?
        .strip_prefix("ferrocast-")?
        .strip_suffix(EXTENSION)?;
    let b = t.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let days = ferrocast_domain::time::days_from_civil(y, m as u32, d as u32);
    Some(((days * 86_400) + hh * 3600 + mm * 60 + ss) * 1000)
}

/// Which stored backups retention removes: each rule keeps the newest backup of each of its
/// last N periods (hours, UTC days, Monday-to-Sunday weeks); a backup no rule keeps goes. The
/// newest backup always stays.
pub fn to_prune(
    schedule: &ferrocast_config::BackupSchedule,
    backups: &[(String, i64)],
) -> Vec<String> {
    let mut sorted: Vec<&(String, i64)> = backups.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let mut keep: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    if let Some(newest) = sorted.first() {
        keep.insert(&newest.0);
    }
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    type Bucket = fn(i64) -> i64;
    let rules: [(u32, Bucket); 3] = [
        (schedule.hourly, |t| t.div_euclid(HOUR)),
        (schedule.daily, |t| t.div_euclid(DAY)),
        // The Unix epoch was a Thursday: shifting by three days starts weeks on Monday.
        (schedule.weekly, |t| (t.div_euclid(DAY) + 3).div_euclid(7)),
    ];
    for (n, bucket) in rules.iter() {
        let mut seen = std::collections::BTreeSet::new();
        for (key, t) in &sorted {
            if seen.len() as u32 >= *n {
                break;
            }
            if seen.insert(bucket(*t)) {
                keep.insert(key);
            }
        }
    }
    sorted
        .iter()
        .filter(|(k, _)| !keep.contains(k.as_str()))
        .map(|(k, _)| k.clone())
        .collect()
}

/// What the automatic backups, and an administrator's "Back up now", need. Built on every node
/// that has a passphrase; the schedule runs only where one is configured.
pub struct Scheduler {
    /// The database.
    pub db: Db,
    /// Where backups go.
    pub storage: Storage,
    /// The schedule; `None`: backups are taken only when an administrator asks.
    pub schedule: Option<ferrocast_config::BackupSchedule>,
    /// The passphrase.
    pub passphrase: ferrocast_config::Secret<String>,
    /// The keys to seal into each backup.
    pub keys: Keys,
    /// Scratch space for the file before it is stored.
    pub scratch: PathBuf,
    /// This node's id (the lease holder).
    pub node: String,
    /// Where outcomes are counted.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The backup this node is taking now, if any (one at a time per node).
    pub running: std::sync::Mutex<Option<String>>,
}

/// How long a node holds the lease between renewals; another node takes over once it ran out.
pub const LEASE_MS: i64 = 180_000;
/// How often a node looks whether a backup is due.
const TICK: std::time::Duration = std::time::Duration::from_secs(30);

/// Why "Back up now" did not start one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRefused {
    /// This node is taking one now (its storage key).
    Running(String),
    /// A backup with this second's name exists already (one was just taken).
    TooSoon,
}

/// Marks this node's backup as running until dropped.
struct Claim<'a>(&'a Scheduler);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.unmark();
    }
}

impl Scheduler {
    /// The backup this node is taking now.
    pub fn running(&self) -> Option<String> {
        self.running.lock().ok().and_then(|r| r.clone())
    }

    /// Marks `key` as this node's running backup, unless one is running.
    fn mark(&self, key: &str) -> Result<(), StartRefused> {
        let mut r = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = r.as_ref() {
            return Err(StartRefused::Running(k.clone()));
        }
        *r = Some(key.to_string());
        Ok(())
    }

    fn unmark(&self) {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn claim(&self, key: &str) -> Result<Claim<'_>, StartRefused> {
        self.mark(key)?;
        Ok(Claim(self))
    }

    /// One look: publishes the last success to the metrics, and when this node holds the lease
    /// and a backup is due, takes it and prunes old ones. Returns whether it took one.
    pub async fn tick(&self, now: i64) -> Result<bool, BackupError> {
        if let Some(t) = self.db.last_backup_success().await? {
            self.metrics.backup_succeeded_at(t);
        }
        let Some(schedule) = self.schedule else {
            return Ok(false);
        };
        if !self
            .db
            .take_backup_lease(&self.node, now, now + LEASE_MS)
            .await?
        {
            return Ok(false);
        }
        let runs = self.db.backup_runs(1).await?;
        let last_start = runs.first().map(|r| r.started_at);
        let due = last_start.is_none_or(|t| now - t >= schedule.interval_ms());
        if !due {
            return Ok(false);
        }
        let key = storage_key(now);
        // An administrator's backup running on this node: this one waits for the next look.
        let Ok(claim) = self.claim(&key) else {
            return Ok(false);
        };
        // The lease is renewed while the backup runs, however long the database: a node that
        // dies mid-way stops renewing, and another takes over once it runs out.
        let take = self.run(&key, now);
        tokio::pin!(take);
        let outcome = loop {
            tokio::select! {
                r = &mut take => break r,
                _ = tokio::time::sleep(std::time::Duration::from_millis(LEASE_MS as u64 / 3)) => {
                    let t = ferrocast_db::now_ms();
                    let _ = self.db.take_backup_lease(&self.node, t, t + LEASE_MS).await;
                }
            }
        };
        drop(claim);
        let finished = ferrocast_db::now_ms();
        let _ = self
            .db
            .take_backup_lease(&self.node, finished, finished + LEASE_MS)
            .await;
        outcome.map(|_| true)
    }

    /// "Back up now": starts a backup on this node in the background and returns its storage
    /// key at once; its progress is in `backup_runs`. It takes no lease (a scheduled backup on
    /// another node at the same time is harmless), and counts as the schedule's latest.
    pub async fn start_now(
        self: &std::sync::Arc<Self>,
        now: i64,
    ) -> Result<Result<String, StartRefused>, BackupError> {
        let key = storage_key(now);
        if let Err(refused) = self.mark(&key) {
            return Ok(Err(refused));
        }
        if let Err(e) = self.db.backup_run_started(&key, &self.node, now).await {
            self.unmark();
            return match e {
                DbError::Conflict => Ok(Err(StartRefused::TooSoon)),
                e => Err(e.into()),
            };
        }
        let me = self.clone();
        let k = key.clone();
        tokio::spawn(async move {
            // Released when the backup ends, however it ends.
            let _claim = Claim(&me);
            if let Err(e) = me.finish_run(&k, now).await {
                tracing::warn!(key = %k, error = %e, "backup requested by an administrator");
            }
        });
        Ok(Ok(key))
    }

    /// Takes the backup `key` (recorded as started), stores it, records the outcome, and
    /// prunes by the schedule.
    async fn run(&self, key: &str, now: i64) -> Result<u64, BackupError> {
        self.db.backup_run_started(key, &self.node, now).await?;
        self.finish_run(key, now).await
    }

    async fn finish_run(&self, key: &str, now: i64) -> Result<u64, BackupError> {
        let outcome = self.take(key, now).await;
        let finished = ferrocast_db::now_ms();
        match outcome {
            Ok(size) => {
                self.db
                    .backup_run_finished(key, finished, Ok(size as i64))
                    .await?;
                self.metrics.backup_succeeded_at(finished);
                tracing::info!(key = %key, size, "backup stored");
                if let Some(schedule) = self.schedule {
                    self.prune(&schedule, finished).await?;
                }
                Ok(size)
            }
            Err(e) => {
                self.metrics.backup_failed();
                tracing::error!(key = %key, error = %e, "backup failed");
                self.db
                    .backup_run_finished(key, finished, Err(&e.to_string()))
                    .await?;
                Err(e)
            }
        }
    }

    async fn take(&self, key: &str, now: i64) -> Result<u64, BackupError> {
        std::fs::create_dir_all(&self.scratch).map_err(|e| {
            BackupError::Io(format!("cannot create {}: {e}", self.scratch.display()))
        })?;
        let file = self.scratch.join(format!(
            "backup-{}{EXTENSION}",
            uuid::Uuid::new_v4().simple()
        ));
        let result = write_backup(
            &self.db,
            Some(&self.storage),
            &self.keys,
            self.passphrase.expose(),
            &file,
            now,
            &mut Quiet,
        )
        .await;
        let stored = match result {
            Ok(_) => self
                .storage
                .move_file(key, &file)
                .await
                .map_err(|e| BackupError::Storage(e.to_string())),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&file);
        stored
    }

    async fn prune(
        &self,
        schedule: &ferrocast_config::BackupSchedule,
        now: i64,
    ) -> Result<(), BackupError> {
        let listed = self
            .storage
            .list(PREFIX.trim_end_matches('/'))
            .await
            .map_err(|e| BackupError::Storage(e.to_string()))?;
        let stored: Vec<(String, i64)> = listed
            .into_iter()
            .filter_map(|(k, _)| key_time(&k).map(|t| (k, t)))
            .collect();
        for key in to_prune(schedule, &stored) {
            self.storage
                .delete(&key)
                .await
                .map_err(|e| BackupError::Storage(e.to_string()))?;
            self.db.backup_run_pruned(&key, now).await?;
            tracing::info!(key = %key, "old backup removed by retention");
        }
        Ok(())
    }
}

/// Runs the automatic backups until shutdown; the lease is given up on the way out.
pub fn spawn(
    scheduler: std::sync::Arc<Scheduler>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = scheduler.tick(ferrocast_db::now_ms()).await {
                tracing::warn!(error = %e, "automatic backups");
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        let _ = scheduler.db.release_backup_lease(&scheduler.node).await;
    });
}

// ---- The commands ----

/// `ferrocast backup FILE`: a backup of the configured node's database, its keys
/// (`crate::backup_keys`) and object manifest. The schema is not changed (no migration runs).
pub async fn run_backup(
    config: &ferrocast_config::Config,
    keys: &Keys,
    out: &Path,
    passphrase: &str,
    progress: &mut dyn Progress,
) -> anyhow::Result<BackupSummary> {
    use anyhow::Context;
    if passphrase.chars().count() < 12 {
        anyhow::bail!("the passphrase must be at least 12 characters");
    }
    let db = Db::connect(config.database_url.expose()).await?;
    let storage = Storage::from_config(config)
        .map_err(|e| anyhow::anyhow!("cannot open the object storage: {e}"))?;
    let result = write_backup(
        &db,
        Some(&storage),
        keys,
        passphrase,
        out,
        ferrocast_db::now_ms(),
        progress,
    )
    .await;
    db.close().await;
    result.with_context(|| format!("the backup to {} failed", out.display()))
}

/// What `ferrocast restore` did.
#[derive(Debug, Clone)]
pub struct RestoreOutcome {
    /// The backup's header: where it came from.
    pub source_backend: String,
    /// When it was taken (ms).
    pub created_at: i64,
    /// The load.
    pub report: RestoreReport,
    /// Key files written.
    pub keys_written: Vec<PathBuf>,
    /// Ledger: transactions, entries and problems found.
    pub ledger: (u64, u64, Vec<String>),
    /// Audit log: entries verified, or why it does not verify.
    pub audit: Result<u64, String>,
    /// The object store against the manifest.
    pub objects: ObjectCheck,
}

/// `ferrocast restore FILE`: checks the whole file and the passphrase, then the target (an
/// empty database, no different key files), loads, installs the keys, verifies, and compares
/// the object store with the manifest. Any failure before the load leaves everything as it was.
pub async fn run_restore(
    config: &ferrocast_config::Config,
    file: &Path,
    passphrase: &str,
    progress: &mut dyn Progress,
) -> anyhow::Result<RestoreOutcome> {
    let verified = verify_file(file, passphrase, progress).await?;
    let keys = &verified.keys;
    // Keys: a configured one must be the backup's; a key file must be absent or the same.
    if let Some(k) = &config.secret_key {
        let configured = ferrocast_config::validate_secret_key(k.expose())
            .map_err(|e| anyhow::anyhow!("FERROCAST_SECRET_KEY {e}"))?;
        if configured != keys.master {
            anyhow::bail!(
                "FERROCAST_SECRET_KEY is not the backup's master key: unset it (the backup's is \
                 then written to {}) or set it to the backup's; nothing was restored",
                config.master_key_path().display()
            );
        }
    } else {
        check_key(&config.master_key_path(), &keys.master, "master key")?;
    }
    if let Some(audit) = &keys.audit {
        if let Some(k) = &config.audit_key {
            let configured = ferrocast_config::validate_secret_key(k.expose())
                .map_err(|e| anyhow::anyhow!("FERROCAST_AUDIT_KEY {e}"))?;
            if configured != *audit {
                anyhow::bail!(
                    "FERROCAST_AUDIT_KEY is not the backup's audit key: unset it or set it to the \
                     backup's; nothing was restored"
                );
            }
        } else {
            check_key(&config.audit_key_path(), audit, "audit key")?;
        }
    }
    let db = Db::connect(config.database_url.expose()).await?;
    let result = async {
        check_target(&db, &verified).await?;
        let report = load(&db, &verified, progress).await?;
        if let Some((t, want, got)) = report.count_mismatches.first() {
            anyhow::bail!("after the load {t} holds {got} rows, the backup {want}");
        }
        let mut keys_written = Vec::new();
        if config.secret_key.is_none()
            && install_key(&config.master_key_path(), &keys.master, "master key")?
        {
            keys_written.push(config.master_key_path());
        }
        if let (Some(audit), None) = (&keys.audit, &config.audit_key) {
            if install_key(&config.audit_key_path(), audit, "audit key")? {
                keys_written.push(config.audit_key_path());
            }
        }
        let ledger = db.ledger_verify().await?;
        let trusted = keys
            .audit
            .map(|seed| crate::service::audit::AuditSigner::from_seed(&seed).public_key());
        let audit = crate::service::audit::verify(&db, trusted.as_ref())
            .await
            .map(|r| r.entries)
            .map_err(|f| f.to_string());
        let storage = Storage::from_config(config)
            .map_err(|e| anyhow::anyhow!("cannot open the object storage: {e}"))?;
        let objects = check_objects(&storage, &verified.objects, progress).await?;
        Ok(RestoreOutcome {
            source_backend: verified.header.backend.clone(),
            created_at: verified.header.created_at,
            report,
            keys_written,
            ledger: (
                ledger.transactions as u64,
                ledger.entries as u64,
                ledger.problems.iter().map(|p| p.to_string()).collect(),
            ),
            audit,
            objects,
        })
    }
    .await;
    db.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocast_config::BackupSchedule;

    #[test]
    fn keys_name_their_time_and_read_back() {
        let t = 1_767_225_600_000 + 3_723_000; // 2026-01-01T01:02:03Z
        let k = storage_key(t);
        assert_eq!(k, "backups/ferrocast-20260101T010203Z.fcbak");
        assert_eq!(key_time(&k), Some(t));
        assert_eq!(key_time("backups/other.fcbak"), None);
        assert_eq!(key_time("backups/ferrocast-20261301T010203Z.fcbak"), None);
    }

    #[test]
    fn retention_keeps_the_newest_of_each_period() {
        let hour = 3_600_000i64;
        let start = 1_767_225_600_000i64; // a Thursday, 00:00 UTC
                                          // One backup an hour for 30 days.
        let all: Vec<(String, i64)> = (0..30 * 24)
            .map(|h| (storage_key(start + h * hour), start + h * hour))
            .collect();
        let s = BackupSchedule::parse("hourly=24,daily=7,weekly=4").expect("valid");
        let pruned = to_prune(&s, &all);
        let kept: Vec<i64> = all
            .iter()
            .filter(|(k, _)| !pruned.contains(k))
            .map(|(_, t)| *t)
            .collect();
        let newest = start + (30 * 24 - 1) * hour;
        // 24 hourly, plus the 6 earlier days' last backups, plus earlier weeks' last ones.
        assert!(kept.contains(&newest));
        for h in 0..24 {
            assert!(kept.contains(&(newest - h * hour)), "hour {h}");
        }
        for d in 1..7 {
            let end_of_day = start + (30 - d) * 24 * hour - hour;
            assert!(kept.contains(&end_of_day), "day {d}");
        }
        assert!(kept.len() <= 24 + 7 + 4, "{} kept", kept.len());
        assert!(kept.len() >= 24 + 6, "{} kept", kept.len());
        // Nothing older than four weeks' buckets survives.
        assert!(!kept.contains(&start));
        // A single backup is never pruned.
        assert!(to_prune(&s, &all[..1]).is_empty());
    }
}
