//! A user's data: where it is (every column that refers to a user, found in the schema itself),
//! what goes into their export, and what erasing their account does to each table.
//!
//! The columns that refer to users are read from the database's own description of its schema
//! (SQLite's `pragma_foreign_key_list`, PostgreSQL's `information_schema`), plus
//! [`UNLINKED_USER_COLUMNS`] for those that name a user without a foreign key. Each of them is
//! declared in [`USER_REFERENCES`]: whether rows referring to the user by it are exported, and
//! what erasure does to them (delete the rows, scrub named fields, or keep them as they are, with
//! the reason). A table added later whose column is not declared is still exported (rather too
//! much than too little) and logged; the test suite fails until it is declared.

use crate::{on_pool, Db, DbError};
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::Row;

/// Whether rows that refer to the user by a column belong in their export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// Exported.
    Yes,
    /// Not exported, for this reason.
    No(&'static str),
}

/// What erasing an account does to the rows that refer to it by a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erase {
    /// The rows are deleted (with what cascades from them).
    Delete,
    /// The rows are kept (the law asks for them: money, records) with these columns set to
    /// these SQL expressions (no personal field left).
    Scrub(&'static [(&'static str, &'static str)]),
    /// The rows are kept as they are, for this reason (nothing personal is in them once the
    /// account itself is anonymised).
    Keep(&'static str),
}

/// One column that refers to a user, and what happens to the rows that do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserReference {
    /// The table.
    pub table: &'static str,
    /// The column holding a user's id.
    pub column: &'static str,
    /// Whether the rows are exported.
    pub export: Export,
    /// What erasure does to them.
    pub erase: Erase,
}

const fn r(
    table: &'static str,
    column: &'static str,
    export: Export,
    erase: Erase,
) -> UserReference {
    UserReference {
        table,
        column,
        export,
        erase,
    }
}

use Erase::{Delete, Keep, Scrub};
use Export::{No, Yes};

const MONEY: &str = "a money record, kept as the law requires; no personal field in it";
const SECRET: &str = "a credential (hashes or sealed secrets), useless outside this server";

/// Every column of the schema that refers to a user (besides `users.id` itself), declared.
pub const USER_REFERENCES: &[UserReference] = &[
    r("auth_sessions", "user_id", Yes, Delete),
    r("one_time_codes", "user_id", No(SECRET), Delete),
    r("recovery_codes", "user_id", No(SECRET), Delete),
    r("mfa_challenges", "user_id", No(SECRET), Delete),
    r("api_keys", "user_id", Yes, Delete),
    r("stream_sources", "user_id", Yes, Delete),
    r("user_subscriptions", "user_id", Yes, Keep(MONEY)),
    r("source_destinations", "user_id", Yes, Delete),
    r("stream_sessions", "user_id", Yes, Delete),
    r("chat_connectors", "user_id", Yes, Delete),
    r("chat_messages", "user_id", Yes, Delete),
    r("chat_moderators", "user_id", Yes, Delete),
    r("chat_bans", "user_id", Yes, Delete),
    r(
        "chat_bans",
        "created_by",
        No("a ban belongs to the banned user and the channel; the moderator's id is all it holds of them"),
        Keep("the channel's moderation record; it names the erased account by id only"),
    ),
    r(
        "moderation_actions",
        "actor_id",
        Yes,
        Keep("the channel's moderation record; it names the erased account by id only"),
    ),
    r(
        "moderation_actions",
        "target_user_id",
        Yes,
        Scrub(&[("details", "'{}'")]),
    ),
    r("payment_orders", "user_id", Yes, Keep(MONEY)),
    r("payments", "user_id", Yes, Keep(MONEY)),
    r("billing_customers", "user_id", Yes, Delete),
    r("user_identities", "user_id", Yes, Delete),
    r("oauth_logins", "user_id", No(SECRET), Delete),
    r("oauth_handoffs", "user_id", No(SECRET), Delete),
    r(
        "admin_actions",
        "admin_id",
        Yes,
        Keep("the administrators' record: ids and non-personal facts"),
    ),
    r(
        "admin_actions",
        "target_user_id",
        Yes,
        Keep("the administrators' record: ids and non-personal facts"),
    ),
    r("videos", "user_id", Yes, Delete),
    r("uploads", "user_id", Yes, Delete),
    r("account_guards", "user_id", Yes, Delete),
    r("billing_preferences", "user_id", Yes, Delete),
    r("follows", "follower_id", Yes, Delete),
    r("follows", "channel_id", Yes, Delete),
    r(
        "search_handle_grams",
        "user_id",
        No("derived from the handle, which users.json holds"),
        Delete,
    ),
    r("scheduled_streams", "user_id", Yes, Delete),
    r("brand_members", "user_id", Yes, Delete),
    r(
        "brand_invites",
        "invited_by",
        No("the brand's invitation of someone else; it names the inviter by id only"),
        Keep("the brand's record: the inviter by id only"),
    ),
    r(
        "campaigns",
        "created_by",
        Yes,
        Keep("the brand's campaign: its author by id only"),
    ),
    r("campaign_applications", "creator_id", Yes, Delete),
    r(
        "campaign_fundings",
        "created_by",
        Yes,
        Keep("the brand's payment record: its payer by id only"),
    ),
    r("campaign_deliverables", "creator_id", Yes, Delete),
    r(
        "deliverable_events",
        "actor_id",
        Yes,
        Keep("the deliverable's review record: the actor by id only"),
    ),
    r("video_likes", "user_id", Yes, Delete),
    r("video_comments", "user_id", Yes, Delete),
    r("posts", "user_id", Yes, Delete),
    r("post_likes", "user_id", Yes, Delete),
    r("post_comments", "user_id", Yes, Delete),
    r("radio_stations", "user_id", Yes, Delete),
    r("radio_tracks", "user_id", Yes, Delete),
    r("hangouts", "host_id", Yes, Delete),
    r("hangout_peers", "user_id", Yes, Delete),
    r("telegram_chats", "user_id", Yes, Delete),
    r("reports", "reporter_id", Yes, Scrub(&[("reason", "''")])),
    r(
        "reports",
        "subject_user_id",
        No("another user's report about this user's content: it would say who reported them"),
        Scrub(&[("snapshot", "'{}'")]),
    ),
    r(
        "reports",
        "resolved_by",
        Yes,
        Keep("the moderators' record: the erased account by id only"),
    ),
    r("strikes", "user_id", Yes, Delete),
    r(
        "strikes",
        "issued_by",
        Yes,
        Keep("the moderators' record: the erased account by id only"),
    ),
    r(
        "strikes",
        "overturned_by",
        Yes,
        Keep("the moderators' record: the erased account by id only"),
    ),
    r("appeals", "user_id", Yes, Delete),
    r(
        "appeals",
        "decided_by",
        Yes,
        Keep("the moderators' record: the erased account by id only"),
    ),
    r(
        "audit_log",
        "actor_user_id",
        Yes,
        Keep("the tamper-evident audit log is never changed; its entries hold no personal field (those are in audit_personal)"),
    ),
    r("audit_personal", "user_id", Yes, Delete),
    r(
        "dmca_notices",
        "uploader_id",
        Yes,
        Keep("a legal hold: a copyright case and its evidence are kept for legal claims (GDPR Art. 17(3)(e)); the notice's personal fields are the complainant's"),
    ),
    r(
        "dmca_counter_notices",
        "user_id",
        Yes,
        Keep("a legal hold: a counter-notice is a sworn statement kept for legal claims (GDPR Art. 17(3)(e)), with the filer's name and address as given"),
    ),
    r(
        "video_views",
        "user_id",
        Yes,
        Keep("counted views: a view count and watch time, the erased account by id only"),
    ),
    r("notifications", "user_id", Yes, Delete),
    r(
        "notifications",
        "actor_id",
        No("another user's notice of something this user did"),
        Delete,
    ),
    r("notification_preferences", "user_id", Yes, Delete),
    r(
        "notification_preferences",
        "channel_id",
        No("another user's preference about this user's channel"),
        Delete,
    ),
    r("push_subscriptions", "user_id", Yes, Delete),
    r("notification_deliveries", "user_id", Yes, Delete),
    r(
        "purchases",
        "buyer_id",
        Yes,
        Scrub(&[("message", "NULL"), ("display_name", "NULL")]),
    ),
    r("purchases", "creator_id", Yes, Keep(MONEY)),
    r(
        "membership_tiers",
        "creator_id",
        Yes,
        Scrub(&[("name", "'Tier'"), ("perks", "'[]'"), ("active", "FALSE")]),
    ),
    r("memberships", "user_id", Yes, Keep(MONEY)),
    r("memberships", "creator_id", Yes, Keep(MONEY)),
    r("revenue_splits", "creator_id", Yes, Delete),
    r(
        "revenue_splits",
        "user_id",
        Yes,
        Keep("another creator's split: the share stays payable to the erased account's balance"),
    ),
    r("overlay_tokens", "user_id", No(SECRET), Delete),
    r("goals", "creator_id", Yes, Delete),
    r("payout_accounts", "user_id", Yes, Delete),
    r(
        "payouts",
        "user_id",
        Yes,
        Scrub(&[("stripe_account_id", "NULL"), ("reason", "NULL"), ("last_error", "NULL")]),
    ),
    r(
        "payouts",
        "decided_by",
        Yes,
        Keep("the administrators' payout decisions: the erased account by id only"),
    ),
    r("ledger_entries", "user_id", Yes, Keep(MONEY)),
    r(
        "site_settings",
        "updated_by",
        No("the site's settings; who changed one is an administrator's record"),
        Keep("the site's settings: the erased account by id only"),
    ),
    r("data_exports", "user_id", Yes, Delete),
];

/// Columns that name a user without a foreign key (the schema cannot say so).
pub const UNLINKED_USER_COLUMNS: &[(&str, &str)] = &[
    ("moderation_actions", "target_user_id"),
    ("ledger_entries", "user_id"),
    ("notification_preferences", "channel_id"),
    ("site_settings", "updated_by"),
    ("audit_log", "actor_user_id"),
    ("audit_personal", "user_id"),
    // Copyright cases outlive the video and the account (no foreign key, on purpose).
    ("dmca_notices", "uploader_id"),
    ("dmca_counter_notices", "user_id"),
];

/// Columns left out of every export: secrets and derived indexes (the reason is the same for
/// each: a hash or sealed secret is useless outside this server and a credential inside it).
pub const OMITTED_COLUMNS: &[(&str, &str)] = &[
    ("users", "password_hash"),
    ("users", "totp_secret"),
    ("users", "totp_pending_secret"),
    ("users", "totp_last_step"),
    ("api_keys", "key_hash"),
    ("stream_sources", "stream_key_hash"),
    ("stream_sources", "stream_key_sealed"),
    ("hangouts", "speaker_code"),
    ("hangout_peers", "token_hash"),
    ("source_destinations", "stream_key_sealed"),
    ("chat_connectors", "secrets_sealed"),
    ("push_subscriptions", "p256dh"),
    ("push_subscriptions", "auth"),
    ("payout_accounts", "bank_details_sealed"),
    ("auth_sessions", "cookie_hash"),
];

/// A column as the schema describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// Its declared type, upper case (`BIGINT`, `TEXT`, `BOOLEAN`, `TSVECTOR`, …).
    pub decl_type: String,
}

/// A table as the schema describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Its name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<ColumnInfo>,
}

/// What one table contributes to an export: the query and the columns it reads.
#[derive(Debug, Clone)]
pub struct ExportTable {
    /// The table.
    pub table: String,
    /// The columns by which a row refers to the user.
    pub by: Vec<String>,
    /// The columns read, with their declared types.
    pub columns: Vec<ColumnInfo>,
    sql: String,
}

/// What an erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasureCounts {
    /// Rows deleted (not counting what cascaded from them).
    pub deleted: u64,
    /// Rows kept with personal fields scrubbed.
    pub scrubbed: u64,
}

/// The account of the user erased, its `email` replaced by this (a non-identifying address that
/// can never receive mail: `.invalid` is reserved, RFC 2606).
pub fn erased_email(user_id: i64) -> String {
    format!("erased-{user_id}@erased.invalid")
}

/// The display name an erased account keeps.
pub const ERASED_NAME: &str = "Deleted user";

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A stored export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataExportRecord {
    /// Integer id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// Whose data.
    pub user_id: i64,
    /// `queued`, `running`, `ready`, `failed` or `expired`.
    pub state: String,
    /// Per mille.
    pub progress: i64,
    /// What it is doing now.
    pub stage: Option<String>,
    /// The ZIP in storage, once ready.
    pub object_key: Option<String>,
    /// The ZIP's size.
    pub size_bytes: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Requested (ms).
    pub created_at: i64,
    /// Ready or failed (ms).
    pub finished_at: Option<i64>,
    /// When the ZIP is deleted (ms).
    pub expires_at: Option<i64>,
}

const EXPORT_COLUMNS: &str = "id, uuid, user_id, state, progress, stage, object_key, size_bytes, \
    error, created_at, finished_at, expires_at";

macro_rules! export_from_row {
    ($r:expr) => {{
        DataExportRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            user_id: $r.try_get("user_id")?,
            state: $r.try_get("state")?,
            progress: $r.try_get("progress")?,
            stage: $r.try_get("stage")?,
            object_key: $r.try_get("object_key")?,
            size_bytes: $r.try_get("size_bytes")?,
            error: $r.try_get("error")?,
            created_at: $r.try_get("created_at")?,
            finished_at: $r.try_get("finished_at")?,
            expires_at: $r.try_get("expires_at")?,
        }
    }};
}

/// A row's value as JSON, decoded by the column's declared type (falling back through the
/// others: SQLite stores what it is given).
macro_rules! cell_json {
    ($row:expr, $i:expr, $ty:expr) => {{
        let ty: &str = $ty;
        let as_int = || {
            $row.try_get::<Option<i64>, _>($i)
                .map(|v| v.map(serde_json::Value::from))
        };
        let as_bool = || {
            $row.try_get::<Option<bool>, _>($i)
                .map(|v| v.map(serde_json::Value::from))
        };
        let as_float = || {
            $row.try_get::<Option<f64>, _>($i)
                .map(|v| v.map(serde_json::Value::from))
        };
        let as_text = || {
            $row.try_get::<Option<String>, _>($i)
                .map(|v| v.map(serde_json::Value::from))
        };
        let as_bytes = || {
            $row.try_get::<Option<Vec<u8>>, _>($i)
                .map(|v| v.map(|b| serde_json::Value::from(data_encoding::HEXLOWER.encode(&b))))
        };
        let first = if ty.contains("BOOL") {
            as_bool()
        } else if ty.contains("INT") {
            as_int()
        } else if ty.contains("REAL") || ty.contains("FLOA") || ty.contains("DOUB") {
            as_float()
        } else if ty.contains("BLOB") || ty.contains("BYTEA") {
            as_bytes()
        } else {
            as_text()
        };
        first
            .or_else(|_| as_text())
            .or_else(|_| as_int())
            .or_else(|_| as_float())
            .or_else(|_| as_bytes())
            .map(|v| v.unwrap_or(serde_json::Value::Null))
    }};
}

macro_rules! row_json {
    ($row:expr, $cols:expr) => {{
        let mut map = serde_json::Map::new();
        for (i, c) in $cols.iter().enumerate() {
            let v = cell_json!($row, i, c.decl_type.as_str())?;
            map.insert(c.name.clone(), v);
        }
        Ok::<_, DbError>(map)
    }};
}

impl Db {
    /// Every table of the schema with its columns (SQLite: virtual tables and their shadow
    /// tables too), sorted by name.
    pub async fn schema_tables(&self) -> Result<Vec<TableInfo>, DbError> {
        let names: Vec<String> = match self {
            Db::Sqlite(p) => sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .fetch_all(p)
            .await?,
            Db::Postgres(p) => sqlx::query_scalar(
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
            )
            .fetch_all(p)
            .await?,
        };
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let cols: Vec<(String, String)> = match self {
                Db::Sqlite(p) => sqlx::query_as(
                    "SELECT name, COALESCE(type, '') FROM pragma_table_info($1) ORDER BY cid",
                )
                .bind(&name)
                .fetch_all(p)
                .await?,
                Db::Postgres(p) => sqlx::query_as(
                    "SELECT CAST(column_name AS TEXT), CAST(udt_name AS TEXT) FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind(&name)
                .fetch_all(p)
                .await?,
            };
            out.push(TableInfo {
                name,
                columns: cols
                    .into_iter()
                    .map(|(name, t)| ColumnInfo {
                        name,
                        decl_type: t.to_ascii_uppercase(),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    /// The columns that refer to `users(id)` by a foreign key, as `(table, column)`, sorted.
    pub async fn user_foreign_keys(&self) -> Result<Vec<(String, String)>, DbError> {
        let mut out: Vec<(String, String)> = match self {
            Db::Sqlite(p) => sqlx::query_as(
                "SELECT m.name, f.\"from\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
                 WHERE m.type = 'table' AND f.\"table\" = 'users'",
            )
            .fetch_all(p)
            .await?,
            Db::Postgres(p) => sqlx::query_as(
                "SELECT CAST(src.relname AS TEXT), CAST(a.attname AS TEXT) \
                 FROM pg_constraint c \
                 JOIN pg_class src ON src.oid = c.conrelid \
                 JOIN pg_class dst ON dst.oid = c.confrelid \
                 JOIN pg_namespace n ON n.oid = src.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
                 WHERE c.contype = 'f' AND dst.relname = 'users' AND n.nspname = current_schema()",
            )
            .fetch_all(p)
            .await?,
        };
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Every column that refers to a user: the foreign keys plus [`UNLINKED_USER_COLUMNS`]
    /// present in the schema, sorted.
    pub async fn user_columns(&self) -> Result<Vec<(String, String)>, DbError> {
        let mut cols = self.user_foreign_keys().await?;
        let tables = self.schema_tables().await?;
        for (t, c) in UNLINKED_USER_COLUMNS {
            let present = tables
                .iter()
                .any(|ti| ti.name == *t && ti.columns.iter().any(|ci| ci.name == *c));
            if present {
                cols.push((t.to_string(), c.to_string()));
            }
        }
        cols.sort();
        cols.dedup();
        Ok(cols)
    }

    /// The queries of an export: the user's row of `users`, and for every table with a column
    /// that refers to users and is exported, the rows that refer to the user by any such
    /// column. Secrets ([`OMITTED_COLUMNS`]) and PostgreSQL's search vectors are left out.
    pub async fn export_plan(&self) -> Result<Vec<ExportTable>, DbError> {
        let tables = self.schema_tables().await?;
        let refs = self.user_columns().await?;
        let mut plan = Vec::new();
        for t in &tables {
            let by: Vec<String> = if t.name == "users" {
                vec!["id".to_string()]
            } else {
                refs.iter()
                    .filter(|(tab, _)| *tab == t.name)
                    .filter(|(tab, col)| {
                        match USER_REFERENCES
                            .iter()
                            .find(|r| r.table == tab && r.column == col)
                        {
                            Some(r) => r.export == Export::Yes,
                            None => {
                                tracing::warn!(table = %tab, column = %col, "a column refers to users but is not declared in ferrocast_db::privacy::USER_REFERENCES; exported");
                                true
                            }
                        }
                    })
                    .map(|(_, c)| c.clone())
                    .collect()
            };
            if by.is_empty() {
                continue;
            }
            let columns: Vec<ColumnInfo> = t
                .columns
                .iter()
                .filter(|c| !OMITTED_COLUMNS.contains(&(t.name.as_str(), c.name.as_str())))
                .filter(|c| c.decl_type != "TSVECTOR")
                .cloned()
                .collect();
            let select = columns
                .iter()
                .map(|c| quote(&c.name))
                .collect::<Vec<_>>()
                .join(", ");
            let filter = by
                .iter()
                .map(|c| format!("{} = $1", quote(c)))
                .collect::<Vec<_>>()
                .join(" OR ");
            let sql = format!(
                "SELECT {select} FROM {} WHERE {filter} ORDER BY 1",
                quote(&t.name)
            );
            plan.push(ExportTable {
                table: t.name.clone(),
                by,
                columns,
                sql,
            });
        }
        Ok(plan)
    }

    /// How many rows of `table` an export holds for `user_id` (for progress).
    pub async fn export_count(&self, table: &ExportTable, user_id: i64) -> Result<i64, DbError> {
        let filter = table
            .by
            .iter()
            .map(|c| format!("{} = $1", quote(c)))
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {filter}",
            quote(&table.table)
        );
        Ok(
            on_pool!(self, p => sqlx::query_scalar::<_, i64>(&sql).bind(user_id).fetch_one(p).await?),
        )
    }

    /// The rows of one table of an export, streamed (nothing is held beyond the current row).
    pub fn export_rows<'a>(
        &'a self,
        table: &'a ExportTable,
        user_id: i64,
    ) -> BoxStream<'a, Result<serde_json::Map<String, serde_json::Value>, DbError>> {
        let cols = &table.columns;
        on_pool!(self, p => sqlx::query(&table.sql)
            .bind(user_id)
            .fetch(p)
            .map(move |r| {
                let row = r?;
                if row.columns().len() != cols.len() {
                    return Err(DbError::Invalid(format!("{}: columns changed while exporting", table.table)));
                }
                row_json!(row, cols)
            })
            .boxed())
    }

    /// Erases a user's account in one transaction: each [`USER_REFERENCES`] entry applied to
    /// the rows that refer to them, queued notification fan-outs about their channel removed, and
    /// the `users` row anonymised (kept: money rows refer to it). Objects in storage are the
    /// caller's to delete (before, while their keys are known).
    pub async fn erase_user(&self, user_id: i64, now: i64) -> Result<ErasureCounts, DbError> {
        let present = self.user_columns().await?;
        let mut counts = ErasureCounts::default();
        let mut statements: Vec<(String, bool)> = Vec::new();
        for r in USER_REFERENCES {
            if !present.iter().any(|(t, c)| t == r.table && c == r.column) {
                continue;
            }
            match r.erase {
                Erase::Delete => statements.push((
                    format!(
                        "DELETE FROM {} WHERE {} = $1",
                        quote(r.table),
                        quote(r.column)
                    ),
                    true,
                )),
                Erase::Scrub(fields) => {
                    let set = fields
                        .iter()
                        .map(|(c, v)| format!("{} = {v}", quote(c)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    statements.push((
                        format!(
                            "UPDATE {} SET {set} WHERE {} = $1",
                            quote(r.table),
                            quote(r.column)
                        ),
                        false,
                    ));
                }
                Erase::Keep(_) => {}
            }
        }
        for (t, c) in &present {
            if !USER_REFERENCES
                .iter()
                .any(|r| r.table == t && r.column == c)
            {
                tracing::warn!(table = %t, column = %c, "a column refers to users but is not declared in ferrocast_db::privacy::USER_REFERENCES; left as it is by the erasure");
            }
        }
        // Fan-outs still queued or kept carry the channel's name in their payload.
        let fanouts: Vec<(i64, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, payload FROM jobs WHERE kind = 'notify_fanout'",
        ).fetch_all(p).await?);
        let fanout_ids: Vec<i64> = fanouts
            .into_iter()
            .filter(|(_, payload)| {
                serde_json::from_str::<serde_json::Value>(payload)
                    .ok()
                    .and_then(|v| v.get("channel").and_then(|c| c.as_i64()))
                    == Some(user_id)
            })
            .map(|(id, _)| id)
            .collect();
        let uuid = uuid::Uuid::new_v4().to_string();
        let email = erased_email(user_id);
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for (sql, deletes) in &statements {
                let n = sqlx::query(sql).bind(user_id).execute(&mut *tx).await?.rows_affected();
                if *deletes { counts.deleted += n } else { counts.scrubbed += n }
            }
            for id in &fanout_ids {
                sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id).execute(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE users SET uuid = $2, email = $3, password_hash = NULL, display_name = $4, \
                 avatar_url = NULL, role = 'viewer', email_verified = FALSE, totp_secret = NULL, \
                 totp_pending_secret = NULL, totp_enabled = FALSE, totp_last_step = NULL, \
                 handle = NULL, bio = '', links = '[]', avatar_key = NULL, banner_key = NULL, ban_reason = NULL, \
                 suspended_at = COALESCE(suspended_at, $5), erased_at = $5, updated_at = $5 \
                 WHERE id = $1",
            )
            .bind(user_id).bind(&uuid).bind(&email).bind(ERASED_NAME).bind(now)
            .execute(&mut *tx).await?;
            counts.scrubbed += 1;
            tx.commit().await?;
        });
        // SQLite's full-text indexes keep a deleted row's terms in their segments until they are
        // merged: merge them now, so the account's old name, handle and titles leave them too.
        if let Db::Sqlite(p) = self {
            let fts: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%USING fts5%'",
            )
            .fetch_all(p)
            .await?;
            for t in fts {
                let q = quote(&t);
                sqlx::query(&format!("INSERT INTO {q} ({q}) VALUES ('optimize')"))
                    .execute(p)
                    .await?;
            }
        }
        Ok(counts)
    }

    /// The public ids of the user's videos.
    pub async fn video_uuids_of_user(&self, user_id: i64) -> Result<Vec<String>, DbError> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar("SELECT uuid FROM videos WHERE user_id = $1 ORDER BY id")
            .bind(user_id).fetch_all(p).await?),
        )
    }

    /// Queues an export for `user_id` and its job, in one transaction.
    pub async fn create_data_export(
        &self,
        user_id: i64,
        job_kind: &str,
        max_attempts: i64,
        now: i64,
    ) -> Result<DataExportRecord, DbError> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let sql = format!(
            "INSERT INTO data_exports (uuid, user_id, state, created_at) VALUES ($1, $2, 'queued', $3) \
             RETURNING {EXPORT_COLUMNS}"
        );
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let r = sqlx::query(&sql).bind(&uuid).bind(user_id).bind(now).fetch_one(&mut *tx).await?;
            let rec = export_from_row!(r);
            let payload = serde_json::json!({"export_id": rec.id}).to_string();
            let job: i64 = sqlx::query_scalar(
                "INSERT INTO jobs (kind, video_id, payload, state, max_attempts, run_after, created_at, updated_at) \
                 VALUES ($1, NULL, $2, 'queued', $3, $4, $4, $4) RETURNING id",
            )
            .bind(job_kind).bind(&payload).bind(max_attempts.max(1)).bind(now)
            .fetch_one(&mut *tx).await?;
            sqlx::query("UPDATE data_exports SET job_id = $2 WHERE id = $1")
                .bind(rec.id).bind(job).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(rec)
        })
    }

    /// An export by id.
    pub async fn data_export(&self, id: i64) -> Result<Option<DataExportRecord>, DbError> {
        let sql = format!("SELECT {EXPORT_COLUMNS} FROM data_exports WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(export_from_row!(r))),
            None => Ok(None),
        })
    }

    /// An export by public id.
    pub async fn data_export_by_uuid(
        &self,
        uuid: &str,
    ) -> Result<Option<DataExportRecord>, DbError> {
        let sql = format!("SELECT {EXPORT_COLUMNS} FROM data_exports WHERE uuid = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(uuid).fetch_optional(p).await? {
            Some(r) => Ok(Some(export_from_row!(r))),
            None => Ok(None),
        })
    }

    /// The user's newest export.
    pub async fn latest_data_export(
        &self,
        user_id: i64,
    ) -> Result<Option<DataExportRecord>, DbError> {
        let sql = format!(
            "SELECT {EXPORT_COLUMNS} FROM data_exports WHERE user_id = $1 ORDER BY id DESC LIMIT 1"
        );
        on_pool!(self, p => match sqlx::query(&sql).bind(user_id).fetch_optional(p).await? {
            Some(r) => Ok(Some(export_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Every export of the user (for the erasure to delete their objects).
    pub async fn data_exports_of(&self, user_id: i64) -> Result<Vec<DataExportRecord>, DbError> {
        let sql =
            format!("SELECT {EXPORT_COLUMNS} FROM data_exports WHERE user_id = $1 ORDER BY id");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(p).await?;
            rows.iter().map(|r| Ok(export_from_row!(r))).collect()
        })
    }

    /// Records an export's progress (per mille) and stage while it runs.
    pub async fn data_export_progress(
        &self,
        id: i64,
        progress: i64,
        stage: &str,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "UPDATE data_exports SET state = 'running', progress = $2, stage = $3 WHERE id = $1 AND state IN ('queued','running')",
        ).bind(id).bind(progress.clamp(0, 1000)).bind(stage).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Marks an export ready: its ZIP `object_key` of `size` bytes, deleted at `expires_at`.
    pub async fn data_export_ready(
        &self,
        id: i64,
        object_key: &str,
        size: i64,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE data_exports SET state = 'ready', progress = 1000, stage = NULL, object_key = $2, \
             size_bytes = $3, expires_at = $4, finished_at = $5, error = NULL WHERE id = $1 AND state IN ('queued','running')",
        ).bind(id).bind(object_key).bind(size).bind(expires_at).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Marks an export failed for good, with the reason.
    pub async fn data_export_failed(&self, id: i64, error: &str, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "UPDATE data_exports SET state = 'failed', stage = NULL, error = $2, finished_at = $3 WHERE id = $1 AND state IN ('queued','running')",
        ).bind(id).bind(error).bind(now).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Ready exports whose time ran out (at most `limit`).
    pub async fn expired_data_exports(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DataExportRecord>, DbError> {
        let sql = format!(
            "SELECT {EXPORT_COLUMNS} FROM data_exports WHERE state = 'ready' AND expires_at <= $1 ORDER BY id LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(now).bind(limit).fetch_all(p).await?;
            rows.iter().map(|r| Ok(export_from_row!(r))).collect()
        })
    }

    /// Fails the exports whose job failed for good without saying so (every attempt's node
    /// stopped: the job queue's sweep failed it); how many.
    pub async fn fail_orphaned_data_exports(&self, error: &str, now: i64) -> Result<u64, DbError> {
        Ok(on_pool!(self, p => sqlx::query(
            "UPDATE data_exports SET state = 'failed', stage = NULL, error = $1, finished_at = $2 \
             WHERE state IN ('queued','running') AND job_id IN (SELECT id FROM jobs WHERE state = 'failed')",
        ).bind(error).bind(now).execute(p).await?.rows_affected()))
    }

    /// Marks an export expired (its ZIP deleted).
    pub async fn data_export_expired(&self, id: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "UPDATE data_exports SET state = 'expired', object_key = NULL WHERE id = $1",
        ).bind(id).execute(p).await?.rows_affected());
        Ok(())
    }
}
