//! ferrocast's object storage: where recordings, uploads and videos live.
//!
//! One interface over two places (SPEC §2.6): the data dir by default (`DATA_DIR/objects`), or
//! any S3-compatible bucket named by `FERROCAST_STORAGE_URL=s3://bucket/prefix`. Both are
//! [`object_store`] stores; this crate adds what ferrocast needs on top of it:
//!
//! - **Keys are names, not paths** (RELIABILITY.md rule 4): relative, `/`-separated segments of
//!   `[A-Za-z0-9._-]`, no `.` or `..`, bounded length. A key that is not one is refused before
//!   any I/O, so no caller can reach outside its prefix.
//! - **Every call is bounded in time**: remote requests have a connect and a request timeout and
//!   a bounded number of retries; every call as a whole has a deadline; streams fail when the
//!   store sends nothing for a while (a slow reader does not count).
//! - **Every read is bounded in memory**: [`Storage::get`] refuses objects over a maximum;
//!   large objects are streamed ([`Storage::open`], [`Storage::download_to_file`]) and large
//!   files are uploaded in parts with a bounded number in flight ([`Storage::put_file`]).
//! - **Errors say what to check**: the store (bucket and endpoint) and, for remote stores,
//!   which setting is the likely cause.
#![deny(missing_docs)]

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, PutPayload, RetryConfig,
    WriteMultipart,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest key accepted, in bytes (S3 allows 1024 for the whole key, prefix included).
pub const MAX_KEY_LEN: usize = 512;
/// Files larger than this are uploaded in parts ([`Storage::put_file`]).
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// Size of one part of a multipart upload (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload in flight at most: bounds an upload's memory to about
/// `PARTS_IN_FLIGHT × PART_SIZE`.
pub const PARTS_IN_FLIGHT: usize = 4;
/// Default deadline of one call (and the retry window of a remote request).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Seconds a remote store may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries of one remote request (connection errors, 5xx, throttling).
const MAX_RETRIES: usize = 3;
/// Objects [`Storage::list`] returns at most.
pub const MAX_LIST: usize = 100_000;
/// Objects deleted per batch by [`Storage::delete_prefix`] (S3's DeleteObjects maximum).
const DELETE_BATCH: usize = 1000;
/// The probe object [`Storage::check`] writes, reads back and deletes.
const PROBE_KEY: &str = ".ferrocast-check";
/// Objects under this prefix are held as evidence (copyright notices): [`Storage::delete`] and
/// [`Storage::delete_prefix`] refuse them, and a prefix above them (`""`), so that deleting a
/// video or an account never reaches a hold.
pub const HOLD_PREFIX: &str = "holds/";

/// Whether deleting `key` (or every object under it as a prefix) would reach a hold.
pub fn reaches_hold(key: &str) -> bool {
    let k = key.trim_start_matches('/');
    k.is_empty() || k == HOLD_PREFIX.trim_end_matches('/') || k.starts_with(HOLD_PREFIX)
}

fn refuse_hold(key: &str) -> Result<(), StorageError> {
    if reaches_hold(key) {
        return Err(StorageError::InvalidKey {
            key: key.to_string(),
            reason: "objects under holds/ are preserved evidence and are never deleted",
        });
    }
    Ok(())
}

/// How to reach an S3-compatible store: `FERROCAST_S3_*`. `Debug` hides the secret key.
#[derive(Clone, Default)]
pub struct S3Settings {
    /// Endpoint URL (`https://s3.example.com`, `http://127.0.0.1:9000`); `None`: AWS S3 itself.
    /// A custom endpoint is addressed path-style (`endpoint/bucket/key`), which every
    /// S3-compatible server understands.
    pub endpoint: Option<String>,
    /// Region the requests are signed for (`us-east-1` for most S3-compatible servers).
    pub region: String,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// What is known of a stored object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// When it was last written.
    pub last_modified: SystemTime,
    /// The store's entity tag, if it gives one (changes whenever the object does).
    pub e_tag: Option<String>,
}

/// A byte range of an object, as HTTP `Range` requests name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteRange {
    /// `start..end` (end exclusive); an end past the object is cut to its size.
    Bounded(Range<u64>),
    /// From an offset to the end (`bytes=500-`).
    From(u64),
    /// The last N bytes (`bytes=-500`); all of a shorter object.
    Last(u64),
}

/// An object being read: what it is, which bytes come, and the bytes as they arrive.
pub struct ObjectReader {
    /// The whole object's metadata (its full size, for `Content-Range`).
    pub meta: ObjectMeta,
    /// The bytes `body` yields, within `0..meta.size`.
    pub range: Range<u64>,
    /// The bytes, in order; an item is an error when the store fails or stalls mid-way.
    pub body: BoxStream<'static, Result<Bytes, StorageError>>,
}

impl fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectReader")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// What went wrong with storage, in words that say what to check.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// `FERROCAST_STORAGE_URL` or the S3 settings are unusable.
    #[error("{0}")]
    Config(String),
    /// A key that is not a valid object name.
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No object has this key.
    #[error("object {key} not found in {store}")]
    NotFound {
        /// The key.
        key: String,
        /// The store, as [`Storage::describe`] names it.
        store: String,
    },
    /// The object is larger than the caller accepts.
    #[error("object {key} is {size} bytes, more than the {max} allowed here")]
    TooLarge {
        /// The key.
        key: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A range that starts at or past the object's end (HTTP 416).
    #[error("range starting at byte {start} is past the end of {key} ({size} bytes)")]
    RangeNotSatisfiable {
        /// The key.
        key: String,
        /// The range's first byte.
        start: u64,
        /// The object's size.
        size: u64,
    },
    /// A call that did not finish in time.
    #[error("{store}: {op} {key} timed out after {secs} s{hint}")]
    Timeout {
        /// The store.
        store: String,
        /// The operation (`put`, `get`, …).
        op: &'static str,
        /// The key or prefix.
        key: String,
        /// The deadline.
        secs: u64,
        /// What to check.
        hint: &'static str,
    },
    /// The store refused or failed the call.
    #[error("{store}: {op} {key} failed: {message}{hint}")]
    Store {
        /// The store.
        store: String,
        /// The operation.
        op: &'static str,
        /// The key or prefix.
        key: String,
        /// The store client's account of it.
        message: String,
        /// What to check.
        hint: &'static str,
    },
    /// A local file (the source of an upload or the target of a download) failed.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl StorageError {
    /// Whether this is a missing object (an HTTP 404 to pass on, not a failure of the store).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Local,
    S3,
}

/// The object store of one node: cheap to clone, shared by every task that reads or writes
/// recordings, uploads and videos.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The same store without a whole-request timeout, for streamed reads whose length depends
    /// on the reader (a viewer downloading an MP4); stalls are caught per chunk instead.
    stream_store: Arc<dyn ObjectStore>,
    /// Prepended to every key (`prefix/key`); empty for none. Already validated.
    prefix: String,
    description: Arc<str>,
    kind: Kind,
    /// The directory of a local store (keys are paths under it); `None` on S3.
    local_root: Option<PathBuf>,
    timeout: Duration,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("store", &self.description)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens the store `FERROCAST_STORAGE_URL` names: unset, `file:` or a path → the local
    /// filesystem under `DATA_DIR/objects` (or that path; created, mode 0700); `s3://bucket` or
    /// `s3://bucket/prefix` → an S3-compatible bucket reached with `s3`. Nothing is contacted
    /// here: [`Storage::check`] tries the store.
    pub fn from_url(
        url: Option<&str>,
        data_dir: &Path,
        s3: &S3Settings,
    ) -> Result<Storage, StorageError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        if let Some(u) = url.filter(|u| u.starts_with("s3://")) {
            return Self::s3(u, s3);
        }
        match Self::local_root(url, data_dir) {
            Some(root) if !root.as_os_str().is_empty() => Self::local(&root),
            _ => Err(bad_url(url.unwrap_or(""))),
        }
    }

    /// Opens the store the node's configuration names ([`Storage::from_url`] with
    /// `FERROCAST_STORAGE_URL`, the data dir and the `FERROCAST_S3_*` settings).
    pub fn from_config(config: &ferrocast_config::Config) -> Result<Storage, StorageError> {
        let st = &config.storage;
        Self::from_url(
            st.url.as_deref(),
            &config.data_dir,
            &S3Settings {
                endpoint: st.s3_endpoint.clone(),
                region: st.s3_region.clone(),
                access_key_id: st.s3_access_key_id.clone(),
                secret_access_key: st.s3_secret_access_key.as_ref().map(|s| s.expose().clone()),
            },
        )
    }

    /// Where `from_url` would keep a local store (`None` for S3), without creating it: lets
    /// `ferrocast doctor` report a directory that does not exist yet instead of making it.
    pub fn local_root(url: Option<&str>, data_dir: &Path) -> Option<PathBuf> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None | Some("file:") | Some("file://") => Some(data_dir.join("objects")),
            Some(u) if u.contains("://") && !u.starts_with("file://") => None,
            Some(u) => Some(PathBuf::from(
                u.strip_prefix("file://")
                    .or_else(|| u.strip_prefix("file:"))
                    .unwrap_or(u),
            )),
        }
    }

    /// A store on the local filesystem under `root` (created, mode 0700: it holds every
    /// creator's private videos).
    pub fn local(root: &Path) -> Result<Storage, StorageError> {
        let file_err = |source| StorageError::File {
            path: root.to_path_buf(),
            source,
        };
        create_private_dir(root).map_err(file_err)?;
        let root = std::fs::canonicalize(root).map_err(file_err)?;
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| StorageError::Config(format!("{}: {e}", root.display())))?
            .with_automatic_cleanup(true);
        let store: Arc<dyn ObjectStore> = Arc::new(store);
        Ok(Storage {
            stream_store: store.clone(),
            store,
            prefix: String::new(),
            description: format!("local storage {}", root.display()).into(),
            kind: Kind::Local,
            local_root: Some(root),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    fn s3(url: &str, s3: &S3Settings) -> Result<Storage, StorageError> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, p.trim_end_matches('/')),
            None => (rest, ""),
        };
        if !valid_bucket(bucket) {
            return Err(bad_url(url));
        }
        if !prefix.is_empty() && validate_key(prefix).is_err() {
            return Err(StorageError::Config(format!(
                "FERROCAST_STORAGE_URL's prefix {prefix:?} must be /-separated names of letters, digits, `.`, `_` and `-`"
            )));
        }
        let (Some(key_id), Some(secret)) = (
            s3.access_key_id.as_deref().filter(|s| !s.is_empty()),
            s3.secret_access_key.as_deref().filter(|s| !s.is_empty()),
        ) else {
            return Err(StorageError::Config(
                "s3:// storage needs FERROCAST_S3_ACCESS_KEY_ID and FERROCAST_S3_SECRET_ACCESS_KEY"
                    .into(),
            ));
        };
        let region = if s3.region.is_empty() {
            "us-east-1"
        } else {
            s3.region.as_str()
        };
        let endpoint = s3
            .endpoint
            .as_deref()
            .map(|e| e.trim().trim_end_matches('/'))
            .filter(|e| !e.is_empty());
        if let Some(e) = endpoint {
            let parsed = url::Url::parse(e).map_err(|err| {
                StorageError::Config(format!(
                    "FERROCAST_S3_ENDPOINT {e:?} is not a URL ({err}); use e.g. https://s3.example.com or http://127.0.0.1:9000"
                ))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(StorageError::Config(format!(
                    "FERROCAST_S3_ENDPOINT {e:?} must be an http:// or https:// URL"
                )));
            }
        }
        let build = |request_timeout: Option<Duration>| {
            let mut client = ClientOptions::new()
                .with_connect_timeout(CONNECT_TIMEOUT)
                .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")));
            client = match request_timeout {
                Some(t) => client.with_timeout(t),
                None => client.with_timeout_disabled(),
            };
            let mut b = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(region)
                .with_access_key_id(key_id)
                .with_secret_access_key(secret)
                .with_client_options(client)
                .with_retry(RetryConfig {
                    backoff: BackoffConfig {
                        init_backoff: Duration::from_millis(100),
                        max_backoff: Duration::from_secs(5),
                        base: 2.0,
                    },
                    max_retries: MAX_RETRIES,
                    retry_timeout: DEFAULT_TIMEOUT,
                });
            if let Some(e) = endpoint {
                b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
            }
            b.build()
                .map_err(|e| StorageError::Config(format!("FERROCAST_STORAGE_URL {url}: {e}")))
        };
        let store = build(Some(Duration::from_secs(30)))?;
        let stream_store = build(None)?;
        let description = match endpoint {
            Some(e) => format!("s3://{bucket}/{prefix} at {e}"),
            None => format!("s3://{bucket}/{prefix} (AWS, {region})"),
        };
        Ok(Storage {
            store: Arc::new(store),
            stream_store: Arc::new(stream_store),
            prefix: prefix.to_string(),
            description: description.into(),
            kind: Kind::S3,
            local_root: None,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same store with another deadline per call (and per stalled stream chunk).
    pub fn with_timeout(mut self, timeout: Duration) -> Storage {
        self.timeout = timeout;
        self
    }

    /// The store in words, for logs and `ferrocast doctor` (no credentials).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Whether this is an S3-compatible bucket (rather than the local filesystem).
    pub fn is_remote(&self) -> bool {
        self.kind == Kind::S3
    }

    /// Stores `data` under `key`, replacing any object there. Readers see the old object or
    /// the new one, never part of either.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let path = self.path(key)?;
        self.deadline(self.store.put(&path, PutPayload::from(data)))
            .await
            .map_err(|e| self.map_err("put", key, e))?;
        Ok(())
    }

    /// Uploads the file at `file` as `key` and returns its size. Files over
    /// [`MULTIPART_THRESHOLD`] are streamed in [`PART_SIZE`] parts, at most
    /// [`PARTS_IN_FLIGHT`] at once; a failed upload is aborted, leaving nothing behind.
    pub async fn put_file(&self, key: &str, file: &Path) -> Result<u64, StorageError> {
        let path = self.path(key)?;
        let file_err = |source| StorageError::File {
            path: file.to_path_buf(),
            source,
        };
        let mut f = tokio::fs::File::open(file).await.map_err(file_err)?;
        let len = f.metadata().await.map_err(file_err)?.len();
        if len <= MULTIPART_THRESHOLD {
            let mut buf = Vec::with_capacity(len as usize);
            (&mut f)
                .take(MULTIPART_THRESHOLD + 1)
                .read_to_end(&mut buf)
                .await
                .map_err(file_err)?;
            if buf.len() as u64 <= MULTIPART_THRESHOLD {
                let n = buf.len() as u64;
                self.put(key, Bytes::from(buf)).await?;
                return Ok(n);
            }
            // The file grew since its size was read: upload it in parts from the start.
            use tokio::io::AsyncSeekExt;
            f.seek(std::io::SeekFrom::Start(0))
                .await
                .map_err(file_err)?;
        }
        let upload = self
            .deadline(self.store.put_multipart(&path))
            .await
            .map_err(|e| self.map_err("put", key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut total = 0u64;
        let mut buf = vec![0u8; 1024 * 1024];
        let result: Result<(), StorageError> = async {
            loop {
                let n = f.read(&mut buf).await.map_err(file_err)?;
                if n == 0 {
                    // Every full part stored before `finish` (which cannot be aborted after
                    // a failed part): only the last, short part is sent by it.
                    return self
                        .deadline(writer.wait_for_capacity(0))
                        .await
                        .map_err(|e| self.map_err("put", key, e));
                }
                self.deadline(writer.wait_for_capacity(PARTS_IN_FLIGHT))
                    .await
                    .map_err(|e| self.map_err("put", key, e))?;
                writer.write(&buf[..n]);
                total += n as u64;
            }
        }
        .await;
        match result {
            Ok(()) => {
                self.deadline(writer.finish())
                    .await
                    .map_err(|e| self.map_err("put", key, e))?;
                Ok(total)
            }
            Err(e) => {
                if let Err(abort) = self.deadline(writer.abort()).await {
                    let abort = self.map_err("abort", key, abort);
                    tracing::warn!(store = %self.description, key, error = %abort,
                        "aborting a failed multipart upload failed; the bucket's lifecycle rules must remove its parts");
                }
                Err(e)
            }
        }
    }

    /// Reads the whole object, refusing one over `max` bytes before reading it.
    pub async fn get(&self, key: &str, max: u64) -> Result<Bytes, StorageError> {
        let reader = self.open_with(&self.store, key, None).await?;
        if reader.meta.size > max {
            return Err(StorageError::TooLarge {
                key: key.to_string(),
                size: reader.meta.size,
                max,
            });
        }
        self.collect(key, reader, max).await
    }

    /// Reads `range` of the object (end exclusive; an end past the object is cut to its size).
    /// The caller bounds the length: ranges over 64 MiB are refused; stream larger ones with
    /// [`Storage::open`].
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StorageError> {
        const MAX_RANGE: u64 = 64 * 1024 * 1024;
        let want = range.end.saturating_sub(range.start);
        if want > MAX_RANGE {
            return Err(StorageError::TooLarge {
                key: key.to_string(),
                size: want,
                max: MAX_RANGE,
            });
        }
        if want == 0 {
            validate_key(key)?;
            return Ok(Bytes::new());
        }
        let reader = self
            .open_with(&self.store, key, Some(ByteRange::Bounded(range)))
            .await?;
        self.collect(key, reader, want).await
    }

    /// Opens the object (or `range` of it) for streaming: for serving large MP4s and
    /// segments without holding them. The stream fails if the store sends nothing for the
    /// call deadline; a slow reader is not a stall.
    pub async fn open(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<ObjectReader, StorageError> {
        self.open_with(&self.stream_store, key, range).await
    }

    /// What is known of `key`, or `None` if there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let path = self.path(key)?;
        match self.deadline(self.store.head(&path)).await {
            Ok(m) => Ok(Some(meta(&m))),
            Err(Failure::Store(object_store::Error::NotFound { .. })) => Ok(None),
            Err(e) => Err(self.map_err("head", key, e)),
        }
    }

    /// Moves the finished file at `file` into the store as `key` and returns its size. On a
    /// local store on the same filesystem this is a rename: no byte is copied, and a reader sees
    /// the whole object or none. Elsewhere (S3, or another filesystem) the file is stored with
    /// [`Storage::put_file`] and then removed. Either way `file` is gone once this succeeds.
    pub async fn move_file(&self, key: &str, file: &Path) -> Result<u64, StorageError> {
        let path = self.path(key)?;
        if let Some(root) = &self.local_root {
            let target = path
                .parts()
                .fold(root.clone(), |dir, part| dir.join(part.as_ref()));
            let file_err = |source| StorageError::File {
                path: file.to_path_buf(),
                source,
            };
            let len = tokio::fs::metadata(file).await.map_err(file_err)?.len();
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(file_err)?;
            }
            match tokio::fs::rename(file, &target).await {
                Ok(()) => return Ok(len),
                // EXDEV: another filesystem; copy instead.
                Err(e) if e.raw_os_error() == Some(18) => {}
                Err(e) => return Err(file_err(e)),
            }
        }
        let len = self.put_file(key, file).await?;
        if let Err(e) = tokio::fs::remove_file(file).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(file = %file.display(), error = %e, "stored, but cannot remove the file");
            }
        }
        Ok(len)
    }

    /// Writes the object to the file at `file` (through `file.partial`, renamed when complete,
    /// so a reader never sees half of it) and returns its size.
    pub async fn download_to_file(&self, key: &str, file: &Path) -> Result<u64, StorageError> {
        let mut reader = self.open(key, None).await?;
        let mut partial = file.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file_err = |path: &Path, source| StorageError::File {
            path: path.to_path_buf(),
            source,
        };
        let result: Result<u64, StorageError> = async {
            let mut out = tokio::fs::File::create(&partial)
                .await
                .map_err(|e| file_err(&partial, e))?;
            let mut total = 0u64;
            while let Some(chunk) = reader.body.next().await {
                let chunk = chunk?;
                total += chunk.len() as u64;
                out.write_all(&chunk)
                    .await
                    .map_err(|e| file_err(&partial, e))?;
            }
            out.sync_all().await.map_err(|e| file_err(&partial, e))?;
            Ok(total)
        }
        .await;
        match result {
            Ok(total) => {
                tokio::fs::rename(&partial, file)
                    .await
                    .map_err(|e| file_err(file, e))?;
                Ok(total)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(e)
            }
        }
    }

    /// Copies the object `from` to `to` (server-side on S3), replacing any object at `to`.
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let (src, dst) = (self.path(from)?, self.path(to)?);
        self.deadline(self.store.copy(&src, &dst))
            .await
            .map_err(|e| self.map_err("copy", from, e))
    }

    /// Deletes the object; a missing one is not an error. Keys under [`HOLD_PREFIX`] are
    /// refused.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        refuse_hold(key)?;
        let path = self.path(key)?;
        match self.deadline(self.store.delete(&path)).await {
            Ok(()) | Err(Failure::Store(object_store::Error::NotFound { .. })) => Ok(()),
            Err(e) => Err(self.map_err("delete", key, e)),
        }
    }

    /// Deletes every object under `prefix` (a key: `videos/42` covers `videos/42/…`, not
    /// `videos/420`) and returns how many objects and bytes went. A prefix that reaches
    /// [`HOLD_PREFIX`] (the empty one included) is refused.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(u64, u64), StorageError> {
        refuse_hold(prefix)?;
        let path = self.list_path(prefix)?;
        let (mut count, mut bytes) = (0u64, 0u64);
        // In batches from a fresh listing each time (deleting while paging could skip objects);
        // S3 deletes a batch in one request.
        loop {
            let batch = self
                .deadline(
                    self.store
                        .list(path.as_ref())
                        .take(DELETE_BATCH)
                        .try_collect::<Vec<_>>(),
                )
                .await
                .map_err(|e| self.map_err("list", prefix, e))?;
            if batch.is_empty() {
                return Ok((count, bytes));
            }
            let locations = futures_util::stream::iter(
                batch
                    .iter()
                    .map(|m| Ok(m.location.clone()))
                    .collect::<Vec<_>>(),
            )
            .boxed();
            let deleted = self.store.delete_stream(locations).collect::<Vec<_>>();
            for result in self
                .deadline(async { Ok::<_, object_store::Error>(deleted.await) })
                .await
                .map_err(|e| self.map_err("delete", prefix, e))?
            {
                match result {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.map_err("delete", prefix, Failure::Store(e))),
                }
            }
            count += batch.len() as u64;
            bytes += batch.iter().map(|m| m.size).sum::<u64>();
        }
    }

    /// Every object under `prefix` (see [`Storage::delete_prefix`]) as `(key, size)`, keys
    /// relative to this store, sorted. An empty prefix lists everything. Refuses to list more
    /// than [`MAX_LIST`] objects (use [`Storage::usage`] for totals).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let path = self.list_path(prefix)?;
        let listing = self
            .store
            .list(path.as_ref())
            .take(MAX_LIST + 1)
            .try_collect::<Vec<_>>();
        let metas = self
            .deadline(listing)
            .await
            .map_err(|e| self.map_err("list", prefix, e))?;
        if metas.len() > MAX_LIST {
            return Err(StorageError::TooLarge {
                key: prefix.to_string(),
                size: metas.len() as u64,
                max: MAX_LIST as u64,
            });
        }
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut out: Vec<(String, u64)> = metas
            .into_iter()
            .filter_map(|m| {
                let full = m.location.as_ref();
                full.strip_prefix(strip.as_str())
                    .map(|k| (k.to_string(), m.size))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Bytes stored under `prefix` (a creator's or a video's usage), summed as the listing
    /// streams in.
    pub async fn usage(&self, prefix: &str) -> Result<u64, StorageError> {
        let path = self.list_path(prefix)?;
        let sum = self
            .store
            .list(path.as_ref())
            .try_fold(0u64, |total, m| async move { Ok(total + m.size) });
        self.deadline(sum)
            .await
            .map_err(|e| self.map_err("list", prefix, e))
    }

    /// Writes a probe object, reads it back, compares and deletes it: proves the store is
    /// reachable, writable and readable with these settings (`ferrocast doctor`, startup).
    pub async fn check(&self) -> Result<(), StorageError> {
        let mut body = BytesMut::with_capacity(64);
        body.extend_from_slice(b"ferrocast storage check ");
        body.extend_from_slice(
            format!(
                "{}-{:?}",
                std::process::id(),
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
            )
            .as_bytes(),
        );
        let body = body.freeze();
        self.put(PROBE_KEY, body.clone()).await?;
        let back = self.get(PROBE_KEY, 1024).await?;
        self.delete(PROBE_KEY).await?;
        if back != body {
            return Err(StorageError::Store {
                store: self.description.to_string(),
                op: "check",
                key: PROBE_KEY.into(),
                message: "the probe object read back differs from what was written".into(),
                hint: "",
            });
        }
        Ok(())
    }

    // ----------------------------------------------------------------------------------------

    /// The listing root of `prefix`: the store's own prefix when empty.
    fn list_path(&self, prefix: &str) -> Result<Option<ObjectPath>, StorageError> {
        if !prefix.is_empty() {
            return self.path(prefix).map(Some);
        }
        Ok((!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str())))
    }

    fn path(&self, key: &str) -> Result<ObjectPath, StorageError> {
        validate_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        ObjectPath::parse(&full).map_err(|_| StorageError::InvalidKey {
            key: key.to_string(),
            reason: "not a valid object path",
        })
    }

    async fn open_with(
        &self,
        store: &Arc<dyn ObjectStore>,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<ObjectReader, StorageError> {
        let path = self.path(key)?;
        let start = match &range {
            Some(ByteRange::Bounded(r)) => r.start,
            Some(ByteRange::From(s)) => *s,
            _ => 0,
        };
        let options = GetOptions {
            range: range.map(|r| match r {
                ByteRange::Bounded(r) => GetRange::Bounded(r),
                ByteRange::From(s) => GetRange::Offset(s),
                ByteRange::Last(n) => GetRange::Suffix(n),
            }),
            ..GetOptions::default()
        };
        let result = match self.deadline(store.get_opts(&path, options)).await {
            Ok(r) => r,
            Err(e) => {
                let e = self.map_err("get", key, e);
                // Backends word a range past the end differently (S3: 416; local: an invalid
                // range): one error for both, with the size the caller needs for `Content-Range`.
                if start > 0 && !e.is_not_found() {
                    if let Ok(Some(m)) = self.head(key).await {
                        if start >= m.size {
                            return Err(StorageError::RangeNotSatisfiable {
                                key: key.to_string(),
                                start,
                                size: m.size,
                            });
                        }
                    }
                }
                return Err(e);
            }
        };
        let meta = meta(&result.meta);
        let range = result.range.clone();
        let idle = self.timeout;
        let (store_name, key_owned) = (self.description.clone(), key.to_string());
        let kind = self.kind;
        let inner = result.into_stream();
        let body = futures_util::stream::unfold(
            (inner, store_name, key_owned, false),
            move |(mut inner, store_name, key, done)| async move {
                if done {
                    return None;
                }
                match tokio::time::timeout(idle, inner.next()).await {
                    Ok(None) => None,
                    Ok(Some(Ok(b))) => Some((Ok(b), (inner, store_name, key, false))),
                    Ok(Some(Err(e))) => {
                        let err = StorageError::Store {
                            store: store_name.to_string(),
                            op: "get",
                            key: key.clone(),
                            message: describe(&e),
                            hint: hint(kind, &e),
                        };
                        Some((Err(err), (inner, store_name, key, true)))
                    }
                    Err(_) => {
                        let err = StorageError::Timeout {
                            store: store_name.to_string(),
                            op: "get",
                            key: key.clone(),
                            secs: idle.as_secs(),
                            hint: " (the store stopped sending mid-object)",
                        };
                        Some((Err(err), (inner, store_name, key, true)))
                    }
                }
            },
        )
        .boxed();
        Ok(ObjectReader { meta, range, body })
    }

    async fn collect(
        &self,
        key: &str,
        mut reader: ObjectReader,
        max: u64,
    ) -> Result<Bytes, StorageError> {
        let want = reader.range.end - reader.range.start;
        let mut buf = BytesMut::with_capacity(want.min(max) as usize);
        let read = async {
            while let Some(chunk) = reader.body.next().await {
                let chunk = chunk?;
                if (buf.len() + chunk.len()) as u64 > max {
                    return Err(StorageError::TooLarge {
                        key: key.to_string(),
                        size: (buf.len() + chunk.len()) as u64,
                        max,
                    });
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(())
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(r) => r?,
            Err(_) => return Err(self.timeout_err("get", key)),
        }
        Ok(buf.freeze())
    }

    /// Runs one store call under the call deadline.
    async fn deadline<T>(
        &self,
        fut: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Failure::Store(e)),
            Err(_) => Err(Failure::Timeout),
        }
    }

    fn timeout_err(&self, op: &'static str, key: &str) -> StorageError {
        StorageError::Timeout {
            store: self.description.to_string(),
            op,
            key: key.to_string(),
            secs: self.timeout.as_secs(),
            hint: match self.kind {
                Kind::S3 => "; check that FERROCAST_S3_ENDPOINT is reachable from this node",
                Kind::Local => "; check the disk under the data dir",
            },
        }
    }

    fn map_err(&self, op: &'static str, key: &str, failure: Failure) -> StorageError {
        match failure {
            Failure::Timeout => self.timeout_err(op, key),
            Failure::Store(e @ object_store::Error::NotFound { .. })
                if !(self.kind == Kind::S3
                    && (op == "put" || describe(&e).contains("NoSuchBucket"))) =>
            {
                StorageError::NotFound {
                    key: key.to_string(),
                    store: self.description.to_string(),
                }
            }
            Failure::Store(e) => StorageError::Store {
                store: self.description.to_string(),
                op,
                key: key.to_string(),
                hint: hint(self.kind, &e),
                message: describe(&e),
            },
        }
    }
}

/// A store call's failure before it is put in words.
enum Failure {
    Store(object_store::Error),
    Timeout,
}

/// The error with its causes (`error sending request: … Connection refused`), each once.
fn describe(e: &object_store::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    // Servers put XML bodies in their errors: one line, bounded.
    let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.len() > 800 {
        let mut cut = 800;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// What to check after a store error.
fn hint(kind: Kind, e: &object_store::Error) -> &'static str {
    match (kind, e) {
        (Kind::Local, _) => "; check the permissions and free space of the storage directory",
        (
            Kind::S3,
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. },
        ) => "; check FERROCAST_S3_ACCESS_KEY_ID, FERROCAST_S3_SECRET_ACCESS_KEY and the key's permissions on the bucket",
        (Kind::S3, object_store::Error::NotFound { .. }) => {
            "; the bucket does not exist: create it or fix FERROCAST_STORAGE_URL"
        }
        (Kind::S3, _) => {
            let text = describe(e);
            if text.contains("NoSuchBucket") {
                "; the bucket does not exist: create it or fix FERROCAST_STORAGE_URL"
            } else if text.contains("SignatureDoesNotMatch")
                || text.contains("InvalidAccessKeyId")
                || text.contains("AccessDenied")
            {
                "; check FERROCAST_S3_ACCESS_KEY_ID, FERROCAST_S3_SECRET_ACCESS_KEY and FERROCAST_S3_REGION"
            } else {
                "; check FERROCAST_S3_ENDPOINT, the bucket in FERROCAST_STORAGE_URL and the credentials"
            }
        }
    }
}

fn meta(m: &object_store::ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        size: m.size,
        last_modified: SystemTime::from(m.last_modified),
        e_tag: m.e_tag.clone(),
    }
}

fn bad_url(url: &str) -> StorageError {
    // Only the scheme: a mistyped URL may carry credentials.
    let scheme = url.split(':').next().unwrap_or("");
    StorageError::Config(format!(
        "FERROCAST_STORAGE_URL must be s3://bucket/prefix or a path (got a value with scheme {scheme:?})"
    ))
}

/// S3 bucket names: 3–63 lowercase letters, digits, `.` and `-`, starting and ending with a
/// letter or digit.
fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()
            .first()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && b.as_bytes()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Checks that `key` is an object name: relative, `/`-separated segments of
/// `[A-Za-z0-9._-]`, none empty, `.` or `..`, at most [`MAX_KEY_LEN`] bytes.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let refuse = |reason| {
        Err(StorageError::InvalidKey {
            key: key.chars().take(80).collect(),
            reason,
        })
    };
    if key.is_empty() {
        return refuse("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return refuse("longer than 512 bytes");
    }
    if key.starts_with('/') {
        return refuse("absolute (starts with /)");
    }
    for seg in key.split('/') {
        if seg.is_empty() {
            return refuse("has an empty segment (// or a trailing /)");
        }
        if seg == "." || seg == ".." {
            return refuse("has a . or .. segment");
        }
        if !seg
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        {
            return refuse("segments may hold only letters, digits, `.`, `_` and `-`");
        }
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_names_not_paths() {
        for ok in [
            "a",
            "videos/42/master.m3u8",
            "u-1/v_2/seg.00001.ts",
            ".hidden",
        ] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_KEY_LEN + 1);
        for bad in [
            "",
            "/abs",
            "../x",
            "a/../b",
            "a//b",
            "a/",
            "./a",
            "a b",
            "a\\b",
            "é",
            "a\0b",
            long.as_str(),
        ] {
            assert!(
                matches!(validate_key(bad), Err(StorageError::InvalidKey { .. })),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn urls_are_checked_before_any_io() {
        let dir = std::env::temp_dir();
        let s3 = S3Settings {
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            ..S3Settings::default()
        };
        for bad in [
            "http://x/y",
            "s3://",
            "s3://B/x",
            "s3://ab",
            "s3://bucket/../x",
        ] {
            let err = Storage::from_url(Some(bad), &dir, &s3).expect_err(bad);
            assert!(matches!(err, StorageError::Config(_)), "{bad}: {err}");
        }
        let err = Storage::from_url(Some("s3://bucket"), &dir, &S3Settings::default())
            .expect_err("no keys");
        assert!(
            err.to_string().contains("FERROCAST_S3_ACCESS_KEY_ID"),
            "{err}"
        );
        let with_endpoint = S3Settings {
            endpoint: Some("ftp://x".into()),
            ..s3.clone()
        };
        let err = Storage::from_url(Some("s3://bucket/p"), &dir, &with_endpoint)
            .expect_err("ftp endpoint");
        assert!(err.to_string().contains("FERROCAST_S3_ENDPOINT"), "{err}");
        let ok = Storage::from_url(Some("s3://my-bucket/rec/v1/"), &dir, &s3).expect("s3 url");
        assert!(ok.is_remote());
        assert_eq!(ok.describe(), "s3://my-bucket/rec/v1 (AWS, us-east-1)");
    }

    #[test]
    fn settings_hide_the_secret() {
        let s = S3Settings {
            secret_access_key: Some("hunter2".into()),
            ..S3Settings::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
