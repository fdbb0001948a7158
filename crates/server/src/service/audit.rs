//! The audit log: every security- and money-relevant action appended as a leaf of an RFC 9162
//! Merkle tree, chained to the previous leaf by its hash, with the personal data kept apart
//! (committed to by a salted hash, erasable per user); signed checkpoints of the tree (Ed25519,
//! C2SP `tlog-checkpoint` text); inclusion and consistency proofs; and the verification that
//! replays the whole log (`ferrocast audit verify`).
//!
//! The formats are `ferrocast_domain::audit`'s, the tree `ferrocast_domain::merkle`'s.

use super::clock::SharedClock;
use ferrocast_db::audit::{AuditFilter, AuditRow, CheckpointRow, NewAuditEntry, NewPersonal};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::audit::{
    self as format, canonical_json, hex, normalize, parse_hash, Checkpoint, Leaf, ZERO_HASH_HEX,
};
use ferrocast_domain::merkle::{self, Hash};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user (an administrator, a moderator, the user themselves).
    User(i64),
    /// The node itself (jobs, webhooks, sweeps).
    System,
    /// Someone not signed in (a failed login, a public form).
    Anonymous,
}

impl Actor {
    /// `user:42`, `system` or `anonymous`, as the leaf carries it.
    pub fn label(&self) -> String {
        match self {
            Actor::User(id) => format!("user:{id}"),
            Actor::System => "system".into(),
            Actor::Anonymous => "anonymous".into(),
        }
    }

    /// The user, if a user.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Actor::User(id) => Some(*id),
            _ => None,
        }
    }
}

/// One action to record.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// Dotted, e.g. `auth.login`, `report.resolved`, `dmca.notice_received`.
    pub action: &'a str,
    /// Who did it.
    pub actor: Actor,
    /// What it was about: `("user", "42")`, `("video", uuid)`, `("report", "7")`.
    pub subject: Option<(&'a str, String)>,
    /// Non-personal facts (ids, outcome, reason codes, amounts).
    pub details: Value,
    /// Personal data (emails, addresses, names, users' free text), stored apart from the hashed
    /// leaf and erasable; `Value::Null` when none.
    pub personal: Value,
    /// The user the personal data is about (for erasure).
    pub personal_of: Option<i64>,
}

impl<'a> AuditEvent<'a> {
    /// An event without subject, details or personal data.
    pub fn new(action: &'a str, actor: Actor) -> Self {
        Self {
            action,
            actor,
            subject: None,
            details: Value::Object(Default::default()),
            personal: Value::Null,
            personal_of: None,
        }
    }

    /// What it was about.
    pub fn subject(mut self, kind: &'a str, id: impl ToString) -> Self {
        self.subject = Some((kind, id.to_string()));
        self
    }

    /// Its non-personal facts.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Its personal data, about user `of` when known.
    pub fn personal(mut self, of: Option<i64>, personal: Value) -> Self {
        self.personal = personal;
        self.personal_of = of;
        self
    }
}

/// What went wrong with the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The event or the request is not acceptable; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// No such entry or checkpoint.
    #[error("{0}")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Largest canonical details or personal data of one entry, bytes.
pub const MAX_FIELD_BYTES: usize = 16 * 1024;
/// Longest subject kind and id.
const MAX_SUBJECT_KIND: usize = 32;
const MAX_SUBJECT_ID: usize = 200;

/// The Ed25519 key that signs checkpoints.
pub struct AuditSigner {
    pair: Ed25519KeyPair,
}

impl AuditSigner {
    /// The key of a 32-byte seed (what `DATA_DIR/audit.key` holds as 64 hex digits).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        // A 32-byte seed is always a valid Ed25519 private key.
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).unwrap_or_else(|_| unreachable!());
        Self { pair }
    }

    /// The public key (32 bytes).
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// Whether `signature` (64 bytes) is `public_key`'s Ed25519 signature of `message`.
pub fn signature_valid(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

/// An entry as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Leaf index, from 0.
    pub index: i64,
    /// Unix ms.
    pub time: i64,
    /// Dotted action.
    pub action: String,
    /// `user:42`, `system` or `anonymous`.
    pub actor: String,
    /// Subject kind.
    pub subject_kind: Option<String>,
    /// Subject id.
    pub subject_id: Option<String>,
    /// Non-personal facts.
    #[schema(value_type = Object)]
    pub details: Value,
    /// The personal data; `null` when there was none or it was erased.
    #[schema(value_type = Object)]
    pub personal: Value,
    /// Whether the entry had personal data that has since been erased.
    pub personal_erased: bool,
    /// Commitment to the personal data (hex).
    pub personal_commitment: Option<String>,
    /// Previous leaf hash (hex).
    pub prev_hash: String,
    /// This leaf's hash (hex): `SHA-256(0x00 || leaf)`.
    pub leaf_hash: String,
    /// The leaf's exact bytes (canonical JSON) that the hash covers.
    pub leaf: String,
}

/// A signed checkpoint as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckpointView {
    /// Leaves covered.
    pub tree_size: i64,
    /// Root hash (hex).
    pub root_hash: String,
    /// Unix ms.
    pub time: i64,
    /// The signed body (C2SP tlog-checkpoint).
    pub body: String,
    /// Ed25519 signature of the body (base64).
    pub signature: String,
    /// The signing key (hex).
    pub public_key: String,
    /// The C2SP signed note: body, blank line, signature line.
    pub note: String,
    /// Whether the signature verifies with the stored key and that key is this node's.
    pub signature_valid: bool,
}

/// An inclusion proof.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InclusionProof {
    /// The leaf.
    pub leaf_index: i64,
    /// The tree it is proven in.
    pub tree_size: i64,
    /// The leaf's hash (hex).
    pub leaf_hash: String,
    /// The tree's hash (hex).
    pub root_hash: String,
    /// `PATH(leaf_index, D[tree_size])`, hex, bottom up.
    pub path: Vec<String>,
}

/// A consistency proof.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsistencyProof {
    /// The older tree's size.
    pub from_size: i64,
    /// The newer tree's size.
    pub to_size: i64,
    /// The older tree's hash (hex).
    pub from_root: String,
    /// The newer tree's hash (hex).
    pub to_root: String,
    /// `PROOF(from_size, D[to_size])`, hex.
    pub path: Vec<String>,
}

/// What a verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries replayed.
    pub entries: u64,
    /// Checkpoints checked (root, signature, consistency with the one before).
    pub checkpoints: u64,
    /// Personal data checked against its commitment.
    pub personal: u64,
}

/// The first thing that did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct VerifyFailure {
    /// The first bad entry, when an entry is to blame.
    pub index: Option<i64>,
    /// What is wrong.
    pub message: String,
}

fn fail(index: Option<i64>, message: impl Into<String>) -> VerifyFailure {
    VerifyFailure {
        index,
        message: message.into(),
    }
}

/// The audit log service.
pub struct Audit {
    db: Db,
    clock: SharedClock,
    signer: AuditSigner,
    origin: String,
    /// One checkpoint written at a time on this node.
    checkpointing: tokio::sync::Mutex<()>,
}

/// The checkpoint origin for a public URL: its host (and port) followed by `/audit`.
pub fn origin_for(public_url: &str) -> String {
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    if host.is_empty() {
        "ferrocast/audit".into()
    } else {
        format!("{host}/audit")
    }
}

fn to_hashes(hexes: &[String]) -> Result<Vec<Hash>, AuditError> {
    hexes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            parse_hash(h).ok_or_else(|| {
                AuditError::Invalid(format!(
                    "the stored hash of entry {i} is not a hash; run `ferrocast audit verify`"
                ))
            })
        })
        .collect()
}

fn leaf_of(row: &AuditRow, details: &Value) -> Result<Vec<u8>, String> {
    let subject = match (&row.subject_kind, &row.subject_id) {
        (Some(k), Some(i)) => Some((k.as_str(), i.as_str())),
        (None, None) => None,
        _ => return Err("its subject has a kind without an id or an id without a kind".into()),
    };
    let index = u64::try_from(row.idx).map_err(|_| "its index is negative".to_string())?;
    Ok(Leaf {
        index,
        time_ms: row.created_at,
        action: &row.action,
        actor: &row.actor,
        subject,
        details,
        personal: row.personal_commitment.as_deref(),
        prev: &row.prev_hash,
    }
    .encode())
}

impl Audit {
    /// The service; `origin` names the log in its checkpoints (see [`origin_for`]).
    pub fn new(db: Db, clock: SharedClock, signer: AuditSigner, origin: String) -> Self {
        Self {
            db,
            clock,
            signer,
            origin,
            checkpointing: tokio::sync::Mutex::new(()),
        }
    }

    /// The checkpoints' origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The signing key's public half.
    pub fn public_key(&self) -> [u8; 32] {
        self.signer.public_key()
    }

    /// The public key as PEM (SubjectPublicKeyInfo), for `openssl pkeyutl -verify`.
    pub fn public_key_pem(&self) -> String {
        format::ed25519_public_pem(&self.public_key())
    }

    /// Appends an entry; returns its leaf index.
    pub async fn record(&self, e: AuditEvent<'_>) -> Result<u64, AuditError> {
        if !format::valid_action(e.action) {
            return Err(AuditError::Invalid(format!(
                "audit action {:?} must be 3 to 64 characters of a-z, 0-9, _ and ., starting with a letter",
                e.action
            )));
        }
        let subject = match e.subject {
            Some((kind, id)) => {
                if kind.is_empty()
                    || kind.len() > MAX_SUBJECT_KIND
                    || id.is_empty()
                    || id.len() > MAX_SUBJECT_ID
                {
                    return Err(AuditError::Invalid(format!(
                        "an audit subject needs a kind of 1 to {MAX_SUBJECT_KIND} bytes and an id of 1 to {MAX_SUBJECT_ID}"
                    )));
                }
                Some((kind.to_string(), id))
            }
            None => None,
        };
        let details = match normalize(e.details) {
            Value::Null => Value::Object(Default::default()),
            v => v,
        };
        let details_text = canonical_json(&details);
        if details_text.len() > MAX_FIELD_BYTES {
            return Err(AuditError::Invalid(format!(
                "audit details are {} bytes; at most {MAX_FIELD_BYTES}",
                details_text.len()
            )));
        }
        let personal = match normalize(e.personal) {
            Value::Null => None,
            v => {
                let text = canonical_json(&v);
                if text.len() > MAX_FIELD_BYTES {
                    return Err(AuditError::Invalid(format!(
                        "audit personal data is {} bytes; at most {MAX_FIELD_BYTES}",
                        text.len()
                    )));
                }
                let mut salt = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
                Some(NewPersonal {
                    user_id: e.personal_of,
                    commitment: format::personal_commitment(&salt, &v),
                    personal: text,
                    salt: hex(&salt),
                })
            }
        };
        let entry = NewAuditEntry {
            created_at: self.clock.now_ms(),
            action: e.action.to_string(),
            actor: e.actor.label(),
            actor_user_id: e.actor.user_id(),
            subject,
            details: details_text,
            personal,
        };
        let idx = self
            .db
            .audit_append(&entry, |idx, prev| {
                let leaf = Leaf {
                    index: idx as u64,
                    time_ms: entry.created_at,
                    action: &entry.action,
                    actor: &entry.actor,
                    subject: entry
                        .subject
                        .as_ref()
                        .map(|(k, i)| (k.as_str(), i.as_str())),
                    details: &details,
                    personal: entry.personal.as_ref().map(|p| p.commitment.as_str()),
                    prev,
                };
                hex(&leaf.hash())
            })
            .await?;
        Ok(idx as u64)
    }

    /// Records an entry; a failure is logged (at error level) rather than returned, for the
    /// actions that must go on even when the log cannot be written.
    pub async fn note(&self, e: AuditEvent<'_>) {
        let action = e.action.to_string();
        if let Err(err) = self.record(e).await {
            tracing::error!(action, error = %err, "cannot write to the audit log");
        }
    }

    /// Erases the personal data about `user_id` from every entry (the leaves, and so the tree
    /// and its checkpoints, stay valid). Returns the entries erased.
    pub async fn erase_personal(&self, user_id: i64) -> Result<u64, AuditError> {
        Ok(self.db.audit_erase_personal(user_id).await?)
    }

    fn entry_view(row: AuditRow) -> AuditEntry {
        let details: Value = serde_json::from_str(&row.details).unwrap_or(Value::Null);
        let leaf = leaf_of(&row, &details)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let personal = row
            .personal
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or(Value::Null);
        AuditEntry {
            index: row.idx,
            time: row.created_at,
            action: row.action,
            actor: row.actor,
            subject_kind: row.subject_kind,
            subject_id: row.subject_id,
            details,
            personal_erased: row.personal_commitment.is_some() && row.personal.is_none(),
            personal,
            personal_commitment: row.personal_commitment,
            prev_hash: row.prev_hash,
            leaf_hash: row.leaf_hash,
            leaf,
        }
    }

    /// Entries matching `filter`, newest first.
    pub async fn list(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, AuditError> {
        let rows = self.db.audit_list(filter, limit).await?;
        Ok(rows.into_iter().map(Self::entry_view).collect())
    }

    /// One entry.
    pub async fn entry(&self, index: i64) -> Result<AuditEntry, AuditError> {
        match self.db.audit_entry(index).await? {
            Some(row) => Ok(Self::entry_view(row)),
            None => Err(AuditError::NotFound(format!(
                "the audit log has no entry {index}"
            ))),
        }
    }

    /// The log's size now.
    pub async fn size(&self) -> Result<i64, AuditError> {
        Ok(self.db.audit_head().await?.0)
    }

    async fn leaves(&self, size: i64) -> Result<Vec<Hash>, AuditError> {
        let hashes = self.db.audit_leaf_hashes(size).await?;
        if hashes.len() as i64 != size {
            return Err(AuditError::Invalid(format!(
                "the audit log holds {} of the first {size} entries; run `ferrocast audit verify`",
                hashes.len()
            )));
        }
        to_hashes(&hashes)
    }

    async fn tree_size_or_now(&self, tree_size: Option<i64>) -> Result<i64, AuditError> {
        let size = self.size().await?;
        match tree_size {
            None => Ok(size),
            Some(t) if t < 0 || t > size => Err(AuditError::Invalid(format!(
                "tree size {t} is outside the log, which has {size} entries"
            ))),
            Some(t) => Ok(t),
        }
    }

    /// The proof that entry `index` is in the tree of `tree_size` entries (default: the whole
    /// log now).
    pub async fn inclusion_proof(
        &self,
        index: i64,
        tree_size: Option<i64>,
    ) -> Result<InclusionProof, AuditError> {
        let size = self.tree_size_or_now(tree_size).await?;
        if index < 0 || index >= size {
            return Err(AuditError::Invalid(format!(
                "entry {index} is not in a tree of {size} entries; the index must be below the tree size"
            )));
        }
        let leaves = self.leaves(size).await?;
        let path = merkle::inclusion_proof(&leaves, index as usize).unwrap_or_default();
        Ok(InclusionProof {
            leaf_index: index,
            tree_size: size,
            leaf_hash: hex(&leaves[index as usize]),
            root_hash: hex(&merkle::root(&leaves)),
            path: path.iter().map(|h| hex(h)).collect(),
        })
    }

    /// The proof that the tree of `from` entries is a prefix of the tree of `to` entries
    /// (default: the whole log now).
    pub async fn consistency_proof(
        &self,
        from: i64,
        to: Option<i64>,
    ) -> Result<ConsistencyProof, AuditError> {
        let to = self.tree_size_or_now(to).await?;
        if from < 1 || from > to {
            return Err(AuditError::Invalid(format!(
                "a consistency proof needs 1 <= from <= to; got from {from}, to {to}"
            )));
        }
        let leaves = self.leaves(to).await?;
        let path = merkle::consistency_proof(&leaves, from as usize).unwrap_or_default();
        Ok(ConsistencyProof {
            from_size: from,
            to_size: to,
            from_root: hex(&merkle::root(&leaves[..from as usize])),
            to_root: hex(&merkle::root(&leaves)),
            path: path.iter().map(|h| hex(h)).collect(),
        })
    }

    fn checkpoint_view(&self, c: CheckpointRow) -> CheckpointView {
        let public = format::base64_decode(&c.signature)
            .zip(parse_hash(&c.public_key))
            .filter(|(sig, pk)| {
                *pk == self.public_key() && signature_valid(pk, c.body.as_bytes(), sig)
            });
        let valid = public.is_some();
        let note = match (
            format::base64_decode(&c.signature),
            parse_hash(&c.public_key),
        ) {
            (Some(sig), Some(pk)) => format::signed_note(&c.body, &self.origin, &pk, &sig),
            _ => c.body.clone(),
        };
        CheckpointView {
            tree_size: c.tree_size,
            root_hash: c.root_hash,
            time: c.created_at,
            body: c.body,
            signature: c.signature,
            public_key: c.public_key,
            note,
            signature_valid: valid,
        }
    }

    /// Checkpoints, largest first.
    pub async fn checkpoints(
        &self,
        before_size: Option<i64>,
        limit: i64,
    ) -> Result<Vec<CheckpointView>, AuditError> {
        let rows = self.db.audit_checkpoints(before_size, limit).await?;
        Ok(rows.into_iter().map(|c| self.checkpoint_view(c)).collect())
    }

    /// The latest checkpoint, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<CheckpointView>, AuditError> {
        Ok(self.checkpoints(None, 1).await?.pop())
    }

    /// Signs and stores a checkpoint of the log as it is now; when the latest checkpoint
    /// already covers every entry, that one is returned.
    pub async fn checkpoint(&self) -> Result<CheckpointView, AuditError> {
        let _one = self.checkpointing.lock().await;
        let size = self.size().await?;
        if let Some(existing) = self.db.audit_checkpoint(size).await? {
            return Ok(self.checkpoint_view(existing));
        }
        let leaves = self.leaves(size).await?;
        let root = merkle::root(&leaves);
        let now = self.clock.now_ms();
        let body = Checkpoint {
            origin: self.origin.clone(),
            tree_size: size as u64,
            root,
            timestamp_ms: now,
        }
        .body();
        let signature = self.signer.sign(body.as_bytes());
        let row = CheckpointRow {
            tree_size: size,
            root_hash: hex(&root),
            created_at: now,
            body,
            signature: format::base64_encode(&signature),
            public_key: hex(&self.public_key()),
        };
        if !self.db.audit_insert_checkpoint(&row).await? {
            // Another node wrote this size first: theirs stands.
            if let Some(theirs) = self.db.audit_checkpoint(size).await? {
                return Ok(self.checkpoint_view(theirs));
            }
        }
        Ok(self.checkpoint_view(row))
    }

    /// Writes a checkpoint when the log grew since the latest one (the periodic task).
    pub async fn checkpoint_if_grown(&self) -> Result<Option<CheckpointView>, AuditError> {
        let size = self.size().await?;
        let latest = self.db.audit_checkpoints(None, 1).await?;
        if size == 0 || latest.first().is_some_and(|c| c.tree_size >= size) {
            return Ok(None);
        }
        Ok(Some(self.checkpoint().await?))
    }

    /// Replays the whole log (see [`verify`]) trusting this node's key.
    pub async fn verify(&self) -> Result<VerifyReport, VerifyFailure> {
        verify(&self.db, Some(&self.public_key())).await
    }
}

/// The verifier shipped in every export bundle (standard library only).
pub const VERIFY_PY: &str = include_str!("audit_verify.py");

/// At most this many entries in one export.
pub const MAX_EXPORT: i64 = 100_000;

/// The README of an export bundle.
fn bundle_readme(origin: &str, from: i64, to: i64, size: i64) -> String {
    format!(
        "ferrocast audit bundle\n\
         ======================\n\n\
         Entries {from} to {last} of the audit log {origin}, with their inclusion proofs in the\n\
         signed checkpoint of {size} entries.\n\n\
         Files\n\
         - entries.json     the entries (no personal data: each carries only the salted commitment\n\
         \x20                  to it) and each one's inclusion proof (RFC 9162 audit path, hex)\n\
         - checkpoint.txt   the checkpoint body that was signed (C2SP tlog-checkpoint: origin, tree\n\
         \x20                  size, base64 root hash, `timestamp <Unix ms>`)\n\
         - checkpoint.sig   its Ed25519 signature, 64 raw bytes\n\
         - checkpoint.note  the same as a C2SP signed note\n\
         - public_key.pem   the log's Ed25519 public key (compare it with the operator's published key)\n\
         - verify.py        a verifier needing only Python 3's standard library\n\n\
         Verify\n\
         1. python3 verify.py\n\
         \x20  checks the signature, rebuilds every leaf from its fields (canonical JSON:\n\
         \x20  json.dumps(leaf, sort_keys=True, separators=(\",\", \":\"), ensure_ascii=False)), hashes it\n\
         \x20  (SHA-256 of 0x00 || leaf), checks the chain of previous hashes and each inclusion proof\n\
         \x20  against the checkpoint's root.\n\
         2. Independently of verify.py, the signature with OpenSSL 3:\n\
         \x20  openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in checkpoint.txt -sigfile checkpoint.sig\n\
         \x20  prints \"Signature Verified Successfully\".\n\n\
         A leaf is the canonical JSON of {{\"action\", \"actor\", \"details\", \"index\", \"personal\",\n\
         \"prev\", \"subject\", \"time\", \"v\": 1}} where personal is the commitment (or null) and subject\n\
         is {{\"id\", \"kind\"}} (or null).\n",
        last = to - 1
    )
}

/// One file of a bundle.
pub struct BundleFile {
    /// Its name.
    pub name: &'static str,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Audit {
    /// An export bundle of the entries with `from <= index < to`: the entries, their inclusion
    /// proofs in the latest checkpoint (one is written first when the log grew past it), the
    /// signed checkpoint, the public key and a standalone verifier. Refused when the range is
    /// empty or larger than [`MAX_EXPORT`].
    pub async fn export(&self, from: i64, to: i64) -> Result<Vec<BundleFile>, AuditError> {
        let checkpoint = self.checkpoint().await?;
        let size = checkpoint.tree_size;
        let to = to.min(size);
        if from < 0 || from >= to {
            return Err(AuditError::Invalid(format!(
                "no entries to export between {from} and {to} (the checkpoint covers {size})"
            )));
        }
        if to - from > MAX_EXPORT {
            return Err(AuditError::Invalid(format!(
                "{} entries asked; one bundle holds at most {MAX_EXPORT}: export smaller ranges",
                to - from
            )));
        }
        let leaves = self.leaves(size).await?;
        let root = merkle::root(&leaves);
        if hex(&root) != checkpoint.root_hash {
            return Err(AuditError::Invalid(
                "the stored entries do not give the checkpoint's root; run `ferrocast audit verify`".into(),
            ));
        }
        let rows = self.db.audit_range(from, to).await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let i = row.idx as usize;
            let path = merkle::inclusion_proof(&leaves, i).unwrap_or_default();
            let mut v = serde_json::to_value(Self::entry_view(row)).unwrap_or(Value::Null);
            if let Value::Object(o) = &mut v {
                o.remove("personal");
                o.remove("personal_erased");
                o.insert(
                    "inclusion_path".into(),
                    Value::Array(path.iter().map(|h| Value::String(hex(h))).collect()),
                );
            }
            entries.push(v);
        }
        let entries_json = serde_json::json!({
            "origin": self.origin,
            "tree_size": size,
            "root_hash": checkpoint.root_hash,
            "entries": entries,
        });
        let signature = format::base64_decode(&checkpoint.signature).unwrap_or_default();
        Ok(vec![
            BundleFile {
                name: "README.txt",
                bytes: bundle_readme(&self.origin, from, to, size).into_bytes(),
            },
            BundleFile {
                name: "entries.json",
                bytes: serde_json::to_vec_pretty(&entries_json).unwrap_or_default(),
            },
            BundleFile {
                name: "checkpoint.txt",
                bytes: checkpoint.body.clone().into_bytes(),
            },
            BundleFile {
                name: "checkpoint.sig",
                bytes: signature,
            },
            BundleFile {
                name: "checkpoint.note",
                bytes: checkpoint.note.clone().into_bytes(),
            },
            BundleFile {
                name: "public_key.pem",
                bytes: self.public_key_pem().into_bytes(),
            },
            BundleFile {
                name: "verify.py",
                bytes: VERIFY_PY.as_bytes().to_vec(),
            },
        ])
    }

    /// The index range `[from, to)` of two bounds (an index, or a time: the first entry at or
    /// after it).
    pub async fn resolve_range(
        &self,
        from: format::Bound,
        to: Option<format::Bound>,
    ) -> Result<(i64, i64), AuditError> {
        let at = |b: format::Bound| async move {
            match b {
                format::Bound::Index(i) => Ok::<i64, AuditError>(i),
                format::Bound::Time(ms) => Ok(self.db.audit_index_at(ms).await?),
            }
        };
        let from = at(from).await?;
        let to = match to {
            Some(format::Bound::Index(i)) => i.saturating_add(1),
            Some(b) => at(b).await?,
            None => self.size().await?,
        };
        Ok((from, to))
    }
}

/// A POSIX ustar archive of `files` under the directory `dir` (what `tar xf` and Python's
/// `tarfile` read).
pub fn tar(dir: &str, files: &[BundleFile], mtime_secs: i64) -> Vec<u8> {
    fn header(name: &str, size: usize, mode: &str, kind: u8, mtime: i64) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len().min(100)].copy_from_slice(&name.as_bytes()[..name.len().min(100)]);
        let mut put = |at: usize, len: usize, text: &str| {
            h[at..at + text.len().min(len)]
                .copy_from_slice(&text.as_bytes()[..text.len().min(len)]);
        };
        put(100, 8, mode);
        put(108, 8, "0000000");
        put(116, 8, "0000000");
        put(124, 12, &format!("{size:011o}"));
        put(136, 12, &format!("{:011o}", mtime.max(0)));
        put(148, 8, "        ");
        put(257, 6, "ustar");
        put(263, 2, "00");
        h[156] = kind;
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let sum = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(sum.as_bytes());
        h
    }
    let mut out = Vec::new();
    out.extend_from_slice(&header(&format!("{dir}/"), 0, "0000755", b'5', mtime_secs));
    for f in files {
        let mode = if f.name.ends_with(".py") {
            "0000755"
        } else {
            "0000644"
        };
        out.extend_from_slice(&header(
            &format!("{dir}/{}", f.name),
            f.bytes.len(),
            mode,
            b'0',
            mtime_secs,
        ));
        out.extend_from_slice(&f.bytes);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

const BATCH: i64 = 1000;

/// Replays the log from its rows: recomputes every leaf from its columns and checks it against
/// the stored hash, the chain (each entry's previous hash), the indexes (from 0, without gaps
/// or extras, as many as the head says), each personal datum against its commitment; then, for
/// every checkpoint, the root recomputed from the replayed leaves, the signature (by `trusted`,
/// when given, else by the key stored with it) and a consistency proof from the checkpoint
/// before. Stops at the first problem, naming the entry when one is to blame.
pub async fn verify(db: &Db, trusted: Option<&[u8; 32]>) -> Result<VerifyReport, VerifyFailure> {
    let dberr = |e: DbError| fail(None, format!("cannot read the audit log: {e}"));
    let (size, last_hash) = db.audit_head().await.map_err(dberr)?;
    let mut leaves: Vec<Hash> = Vec::with_capacity(size.max(0) as usize);
    let mut prev = ZERO_HASH_HEX.to_string();
    let mut personal = 0u64;
    let mut next: i64 = 0;
    while next < size {
        let rows = db
            .audit_range(next, next.saturating_add(BATCH).min(size))
            .await
            .map_err(dberr)?;
        if rows.is_empty() {
            return Err(fail(
                Some(next),
                format!("entry {next} is missing (the log's head says it has {size} entries)"),
            ));
        }
        for row in rows {
            if row.idx != next {
                return Err(fail(
                    Some(next),
                    format!(
                        "entry {next} is missing: the next entry stored is {}",
                        row.idx
                    ),
                ));
            }
            let i = row.idx;
            let bad = |what: String| fail(Some(i), format!("entry {i} ({}): {what}", row.action));
            let details: Value = serde_json::from_str(&row.details)
                .map_err(|_| bad("its details are not JSON".into()))?;
            if canonical_json(&details) != row.details {
                return Err(bad("its details are not in canonical form (edited?)".into()));
            }
            let actor_ok = match row.actor.strip_prefix("user:") {
                Some(id) => {
                    id.parse::<i64>().ok() == row.actor_user_id && row.actor_user_id.is_some()
                }
                None => {
                    (row.actor == "system" || row.actor == "anonymous")
                        && row.actor_user_id.is_none()
                }
            };
            if !actor_ok {
                return Err(bad(format!(
                    "its actor {:?} does not match its actor id",
                    row.actor
                )));
            }
            if row.prev_hash != prev {
                return Err(bad("the chain is broken: its previous hash is not the hash of the entry before (an entry edited, deleted or moved)".into()));
            }
            let leaf = leaf_of(&row, &details).map_err(bad)?;
            let hash = merkle::leaf_hash(&leaf);
            if hex(&hash) != row.leaf_hash {
                return Err(bad("its data does not match its leaf hash (edited?)".into()));
            }
            if let (Some(p), Some(salt)) = (&row.personal, &row.salt) {
                let value: Value = serde_json::from_str(p)
                    .map_err(|_| bad("its personal data is not JSON".into()))?;
                let salt = (salt.len() == 32)
                    .then(|| {
                        (0..16)
                            .map(|k| u8::from_str_radix(&salt[2 * k..2 * k + 2], 16).ok())
                            .collect::<Option<Vec<u8>>>()
                    })
                    .flatten()
                    .ok_or_else(|| bad("its personal data's salt is not 16 bytes of hex".into()))?;
                if row.personal_commitment.as_deref()
                    != Some(format::personal_commitment(&salt, &value).as_str())
                {
                    return Err(bad(
                        "its personal data does not match the commitment in its leaf (edited?)"
                            .into(),
                    ));
                }
                personal += 1;
            }
            prev = row.leaf_hash.clone();
            leaves.push(hash);
            next += 1;
        }
    }
    let extra = db.audit_range(size, i64::MAX).await.map_err(dberr)?;
    if let Some(row) = extra.first() {
        return Err(fail(Some(row.idx), format!("entry {} is beyond the log's head ({size} entries): added behind the application's back", row.idx)));
    }
    if size > 0 && last_hash != prev {
        return Err(fail(
            Some(size - 1),
            format!("the log's head does not end at entry {}'s hash", size - 1),
        ));
    }
    let checkpoints = db.audit_all_checkpoints().await.map_err(dberr)?;
    let mut before: Option<(u64, Hash)> = None;
    for c in &checkpoints {
        let n = c.tree_size;
        let cfail = |what: &str| fail(None, format!("checkpoint of {n} entries: {what}"));
        if n < 0 || n > size {
            return Err(cfail(&format!(
                "it covers more entries than the log has ({size})"
            )));
        }
        let parsed =
            Checkpoint::parse(&c.body).ok_or_else(|| cfail("its body is not a checkpoint"))?;
        if parsed.tree_size != n as u64 {
            return Err(cfail("its body names another size"));
        }
        let root = merkle::root(&leaves[..n as usize]);
        if parsed.root != root || c.root_hash != hex(&root) {
            return Err(cfail(
                "the replayed entries do not give its root hash (entries before it were changed)",
            ));
        }
        let public = parse_hash(&c.public_key)
            .ok_or_else(|| cfail("its public key is not 32 bytes of hex"))?;
        if let Some(t) = trusted {
            if &public != t {
                return Err(cfail(
                    "it was signed by a key that is not this node's audit key",
                ));
            }
        }
        let sig = format::base64_decode(&c.signature)
            .ok_or_else(|| cfail("its signature is not base64"))?;
        if !signature_valid(&public, c.body.as_bytes(), &sig) {
            return Err(cfail("its signature does not verify"));
        }
        if let Some((m, old_root)) = before {
            let proof =
                merkle::consistency_proof(&leaves[..n as usize], m as usize).unwrap_or_default();
            if !merkle::verify_consistency(m, n as u64, &old_root, &parsed.root, &proof) {
                return Err(cfail(&format!(
                    "it is not consistent with the checkpoint of {m} entries"
                )));
            }
        }
        before = Some((n as u64, parsed.root));
    }
    Ok(VerifyReport {
        entries: leaves.len() as u64,
        checkpoints: checkpoints.len() as u64,
        personal,
    })
}

/// Writes a checkpoint every `every` when the log grew, until shutdown. The first comes one
/// period after the start (a restarting node does not sign at once).
pub fn spawn_checkpoints(
    audit: std::sync::Arc<Audit>,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            match audit.checkpoint_if_grown().await {
                Ok(Some(c)) => {
                    tracing::info!(tree_size = c.tree_size, root = %c.root_hash, "audit checkpoint signed")
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot write the audit checkpoint"),
            }
        }
    });
}
